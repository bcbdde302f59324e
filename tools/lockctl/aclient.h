/*
 * aclient.h: a small synchronous client for lockctl's admin commands: one
 * connection to one replica (or to the master, found by asking the
 * replicas WHERE_IS_MASTER), requests answered in turn, each within a deadline.
 * Namespace operations with sessions go through libchubby instead.
 */
#ifndef LOCKCTL_ACLIENT_H
#define LOCKCTL_ACLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "cellspec.h"
#include "wire.h"

struct aclient;

/* Connects to ADDR (host:port) with SPEC's TLS files. */
int aclient_open(const struct cellspec *spec, const char *addr, unsigned timeout_ms,
    struct aclient **out, char *err, size_t errlen);
/* Connects to the master, found by asking the replicas hedged, in
 * parallel (locate.h): hung or unreachable replicas cost one hedge each. */
int aclient_open_master(const struct cellspec *spec, unsigned timeout_ms, struct aclient **out,
    char *err, size_t errlen);
void aclient_close(struct aclient *ac);
const char *aclient_addr(const struct aclient *ac);

/* Sends OP with ARGS (packed msgpack bytes, or NULL for nil) and waits for
 * its RES.  On CHUBBY_OK, *RES holds the reply (free with wire_msg_free);
 * its status field is the server's answer. */
int aclient_call(struct aclient *ac, uint32_t op, const void *args, size_t argslen,
    struct wire_msg *res, char *err, size_t errlen);

/* Sends N requests of OP, at most WINDOW in flight, and waits for all
 * answers; counts how many succeeded, and returns the first failed
 * answer's status (with its message in ERR) if any failed.  LAT_MS, if not NULL, receives each
 * request's latency in milliseconds (N entries). */
int aclient_pipeline(struct aclient *ac, uint32_t op, unsigned n, unsigned window,
    unsigned *ok, double *lat_ms, char *err, size_t errlen);

#endif
