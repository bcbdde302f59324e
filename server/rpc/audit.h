/*
 * audit.h: the audit trail (docs/OPERATIONS.md "Audit trail").  One line a
 * decision, at the replica that made it (the master, for every call that
 * changes or reads the namespace), written whatever log_level says:
 *
 *   audit op=SET_ACL principal=bob client=127.0.0.1:5123 path=/ls/local/x
 *         outcome=E_PERMISSION acl="readers,writers,-" message="..."
 *
 * key=value pairs separated by one space; a value is bare when it is made
 * only of [A-Za-z0-9._/:@+-] and not empty, else in double quotes with \"
 * \\ and \xNN (control bytes) escaped.  The keys op, principal and outcome
 * are always there; client, path and the rest when known.  A request a
 * proxy makes for its client (a proxy session) names the client as
 * principal and the proxy as proxy=.
 */
#ifndef CHUBBY_AUDIT_H
#define CHUBBY_AUDIT_H

#include <stddef.h>

/* Appends " KEY=VALUE" (VALUE quoted as above) to the NUL-terminated BUF
 * of SIZE bytes; cut short, never overrun, if it does not fit. */
void audit_kv(char *buf, size_t size, const char *key, const char *value);

/* Writes one audit line: OP (a protocol op name, or e.g. "RELOAD" for a
 * command outside the protocol), who asked (PRINCIPAL, CLIENT: NULL if
 * unknown), the node (PATH, NULL if none), the outcome STATUS (a
 * chubby_status), then EXTRA (" key=value..." from audit_kv, or NULL) and
 * MESSAGE (the error's text, for a refusal; NULL if none).  An admin
 * command added later (a reload) calls this once with its outcome. */
void audit_log(const char *op, const char *principal, const char *client, const char *path,
    int status, const char *extra, const char *message);

#endif
