/*
 * rpc.h: the client port.  Accepts connections, runs the HELLO exchange,
 * and dispatches requests through one table (rpc_ops[] in rpc.c) to their
 * handlers.  Envelope-level garbage closes the connection with an error;
 * a request with bad arguments gets an error reply and the connection stays.
 */
#ifndef CHUBBY_RPC_H
#define CHUBBY_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct chubbyd;
struct rpc;
struct rpc_client;

struct rpc *rpc_new(struct chubbyd *d);
/* Listens on HOSTPORT ("127.0.0.11:7100", "[::1]:7100"). */
int rpc_listen(struct rpc *r, const char *hostport, char *err, size_t errlen);
void rpc_free(struct rpc *r);

size_t rpc_client_count(const struct rpc *r);

/* Closes, with an error frame that says why, every client connection whose
 * certificate the current CRL revokes (after a reload); returns how many. */
size_t rpc_close_revoked(struct rpc *r);

/* Counters for /metrics. */
struct rpc_stats {
	size_t connections;
	uint64_t accepted, refused, requests, bytes_in, bytes_out;
	uint64_t session_starts; /* SESSION_STARTs received */
};
void rpc_stats(const struct rpc *r, struct rpc_stats *out);
/* Requests by op and status, latency by op (status/reqstats.h). */
struct reqstats;
const struct reqstats *rpc_reqstats(const struct rpc *r);

struct rpc_req;

/*
 * A request handler: reads ARGS (a map or NULL), packs its result value
 * into PK (exactly one value) and returns CHUBBY_OK; or returns an error
 * status with a message in MSG and packs nothing; or, for a request that
 * completes later (a write waiting for the log), calls rpc_req_defer() and
 * returns RPC_DEFERRED.
 */
#define RPC_DEFERRED (-1)
typedef int (*rpc_handler)(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);

/* Keeps REQ past its handler; answer it later with rpc_req_reply.  If the
 * client goes away first, the reply is dropped (and REQ freed) then. */
struct rpc_req *rpc_req_defer(struct rpc_req *req);
/* Answers a deferred request with STATUS and RESULT (one packed msgpack
 * value, or NULL for nil; with an error status, the map that says more);
 * frees REQ. */
void rpc_req_reply(struct rpc_req *req, int status, const char *msg, const void *result,
    size_t len);
/*
 * The audit trail (rpc/audit.h): a line is written when REQ is answered
 * if ALWAYS was given once (ACL changes, admin commands) or if it is
 * refused E_PERMISSION (every denial).  PATH (the node it names) and
 * EXTRA (" key=value..." from audit_kv) are copied; NULL keeps what was
 * given before.  Call it before rpc_req_defer.
 */
void rpc_req_audit(struct rpc_req *req, bool always, const char *path, const char *extra);
struct rpc_client *rpc_req_client(const struct rpc_req *req);
/* The principal of the request's client certificate; NULL once the
 * client is gone. */
const char *rpc_req_principal(const struct rpc_req *req);
/* Whether the client presented a replica certificate of this cell. */
bool rpc_req_replica(const struct rpc_req *req);
struct chubbyd *rpc_req_daemon(const struct rpc_req *req);

/* E_NOT_MASTER with a message naming the master if known and, when PK is
 * not NULL, the map {master, address, epoch} packed into it. */
int rpc_not_master(struct chubbyd *d, msgpack_packer *pk, char *msg, size_t msglen);

struct chubbyd *rpc_client_daemon(const struct rpc_client *c);

#endif
