/*
 * tls.h: TLS contexts for the transport (tp.h) and the rules that turn a
 * verified certificate into a chubby identity.  The profile (EC P-256,
 * TLS 1.3 only, the cell CA as the only trust anchor, the kind of a
 * certificate in its OU) is described in docs/TLS.md.
 *
 * Nothing here includes OpenSSL headers: the server and libchubby see only
 * these declarations.  Like the rest of common/, it never aborts or prints;
 * failures come back as a chubby status with a message naming the file.
 */
#ifndef CHUBBY_TLS_H
#define CHUBBY_TLS_H

#include <stddef.h>

#include "tp.h"

/* The OU values that say what a certificate is for. */
#define TLS_OU_CA "chubby-ca"
#define TLS_OU_REPLICA "chubby-replica"
#define TLS_OU_CLIENT "chubby-client"
/* A replica certificate's CN is this prefix and the id in decimal. */
#define TLS_REPLICA_PREFIX "replica-"
/* Replica ids run from 1 to this, as in chubby.conf (cellconfig.h). */
#define TLS_MAX_REPLICA_ID 255

enum tls_role {
	TLS_ROLE_SERVER, /* accepts connections, demands a client certificate */
	TLS_ROLE_CLIENT, /* dials out; replicas dialing peers use this too */
};

struct tls_config {
	const char *ca_file;   /* PEM: the cell CA, the only trust anchor */
	const char *cert_file; /* PEM: our certificate (a chain may follow it) */
	const char *key_file;  /* PEM: its private key, unencrypted */
	enum tls_role role;
	/* PEM: CRLs signed by the cell CA; NULL or "": no revocation check.
	 * With one, the peer's certificate must not be on it, and neither may
	 * our own. */
	const char *crl_file;
	/* Server role for chubby-proxy: our certificate may be a client
	 * certificate (its principal is the proxy's) if it also carries the
	 * serverAuth usage (chubby-certs proxy). */
	int proxy;
};

struct tls_ctx;

/*
 * Loads the files named in CFG into a new context in *OUT.  A client-role
 * context may have neither cert_file nor key_file (it then presents no
 * certificate, which every chubby server refuses: useful to tests only).
 * Returns CHUBBY_OK; CHUBBY_E_IO if a file cannot be read,
 * CHUBBY_E_TLS if one holds no usable certificate or key, or the key does
 * not match the certificate; CHUBBY_E_INVALID for a bad CFG;
 * CHUBBY_E_NOMEM.  On failure ERR holds a message such as
 * "tls: cannot load certificate /x/y.crt: No such file or directory".
 */
int tls_ctx_load(struct tls_ctx **out, const struct tls_config *cfg, char *err, size_t errlen);

/* The same, for callers that want only the message: NULL on failure. */
struct tls_ctx *tls_ctx_new(const struct tls_config *cfg, char *err, size_t errlen);

void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Loads CFG (same role as CTX) afresh and, if that works, puts it in CTX's
 * place: new connections made with CTX use the new certificate, key, CA and
 * CRL, while connections made before keep the files they were made with
 * (tp_peer_revoked finds those whose peer the new CRL revokes).  On
 * failure CTX is unchanged and ERR says why, as for tls_ctx_load.
 */
int tls_ctx_reload(struct tls_ctx *ctx, const struct tls_config *cfg, char *err, size_t errlen);

/* 1 if CTX checks peers against a CRL. */
int tls_ctx_has_crl(const struct tls_ctx *ctx);

enum tls_role tls_ctx_role(const struct tls_ctx *ctx);

/* The cell named by the CA certificate's O ("" if it has none); peers must
 * carry the same O. */
const char *tls_ctx_cell(const struct tls_ctx *ctx);

/*
 * Classifies CERT (an OpenSSL X509 *) by the chubby profile and fills OUT.
 * CELL, if not NULL and not empty, is the O the certificate must carry.
 * The caller has verified the signature: this looks at names and usages
 * only.  Returns CHUBBY_OK or CHUBBY_E_AUTH with a reason in ERR.
 */
struct x509_st;
int tls_cert_identity(struct x509_st *cert, const char *cell, struct tp_identity *out,
    char *err, size_t errlen);

/* 1 if NAME may be a client principal: 1..64 characters from [A-Za-z0-9._@-],
 * not starting with '.' or '-'.  0 otherwise. */
int tls_principal_valid(const char *name);

/* 1 if NAME may be a cell name: 1..64 characters from [A-Za-z0-9._-], not
 * starting with '.' or '-'.  0 otherwise. */
int tls_cell_valid(const char *name);

/* Parses "replica-N" (canonical decimal, 1..TLS_MAX_REPLICA_ID) into *ID.
 * Returns 0, or -1 if NAME is not such a name. */
int tls_replica_id_parse(const char *name, int *id);

#endif
