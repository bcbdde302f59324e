/*
 * session.h: the master's side of sessions (Chubby §2.8, §2.9): session
 * leases and the KeepAlives that extend them, expiry, events on their way
 * to clients, cache invalidation before a write, the hold on writes after a
 * fail-over, and ACQUIRE calls that wait for a lock.
 *
 * This is master memory, never replicated: the replicated part of a
 * session (its id, principal, handles, locks) lives in the namespace.  A
 * new master rebuilds this table from the namespace and gives every
 * session a full lease from its take-over.  Everything here runs on the
 * daemon's event loop thread.  Protocol: docs/PROTOCOL.md "Sessions".
 */
#ifndef CHUBBY_SESSION_H
#define CHUBBY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica.h"

struct chubbyd;
struct ns_result;
struct rpc_req;
struct session_mgr;

struct session_mgr *session_new(struct chubbyd *d);
void session_free(struct session_mgr *sm);

/* From the replica: every loop tick, every applied namespace command (on
 * every replica; ignored unless master), and a state replaced by a
 * snapshot. */
void session_tick(struct session_mgr *sm);
void session_applied(struct session_mgr *sm, const uint8_t *cmd, size_t len,
    const struct ns_result *res);
void session_state_replaced(struct session_mgr *sm);

/*
 * Whether this replica may serve session requests now: master with its
 * lease.  Takes over (rebuilds the table) on the first call in a new
 * epoch, and steps down (fails what waits) once mastership is gone.
 */
bool session_serving(struct session_mgr *sm);

/* The stamp for a namespace command proposed now: wall-clock time read at
 * the start of this master's term, advanced by the monotonic clock since,
 * so that a wall-clock step neither pins nor shortens a lock-delay
 * (server/ns/ns_stamp.h). */
uint64_t session_stamp(struct session_mgr *sm);

/*
 * Checks a session-scoped request: master (E_NOT_MASTER), epoch
 * (E_BAD_EPOCH), session known here (E_SESSION_EXPIRED), principal
 * (E_PERMISSION).  CHUBBY_OK or the code, with a message in MSG.
 */
int session_check(struct session_mgr *sm, uint64_t session, uint64_t epoch,
    const char *principal, char *msg, size_t msglen);

/* SESSION_START answered (first or re-sent, docs/PROTOCOL.md "Request ids
 * and retries"): the client counts a full lease from the answer, as after
 * a KeepAlive, so the master's runs from now too. */
void session_restarted(struct session_mgr *sm, uint64_t session);

/* KEEPALIVE: takes over the deferred request Q and answers it when due. */
void session_keepalive(struct session_mgr *sm, uint64_t session, uint64_t hold_ms,
    const uint64_t *acks, size_t nacks, struct rpc_req *q);

/* How a write touches cached data (docs/PROTOCOL.md "Cache invalidation"). */
enum session_write_kind {
	SESSION_WRITE_PLAIN = 0, /* no cached data changes: proposed at once */
	SESSION_WRITE_NODE,      /* contents, ACL or existence of PATH change */
	SESSION_WRITE_CREATE,    /* OPEN with CREATE: PATH may come to exist */
};

/*
 * Proposes namespace command CMD (copied).  A NODE write (and a CREATE
 * unless PATH exists with no write of it in flight) first waits for the
 * fail-over hold, for every earlier such write naming PATH to be proposed
 * (writes to one node go in order), and for every session caching PATH to
 * acknowledge an invalidation (or lose its lease).  DONE is called exactly
 * once: with the applied result, or with an error (E_NOT_MASTER,
 * E_OVERLOAD, ...).
 */
void session_write(struct session_mgr *sm, enum session_write_kind kind, const char *path,
    const uint8_t *cmd, size_t len, replica_done_fn done, void *arg);

/*
 * Proposes CMD, a CLOSE of HANDLE of SESSION or (HANDLE 0) the end of
 * SESSION: a write that may reap ephemeral nodes.  Gated as a NODE write
 * on every ephemeral file it may be the one to reap (its other handles
 * are all being closed by writes in flight); an ending session's own acks
 * are not waited for.  Otherwise proposed at once.  DONE as above.
 */
void session_write_close(struct session_mgr *sm, uint64_t session, uint64_t handle,
    const uint8_t *cmd, size_t len, replica_done_fn done, void *arg);

/* GET_CONTENTS with cache: records that SESSION caches PATH; false (do not
 * cache) while a write of PATH is under way. */
bool session_cache_note(struct session_mgr *sm, uint64_t session, const char *path);

/*
 * ACQUIRE that waits: takes over Q and answers it when the lock is granted
 * (packing {lock_gen, sequencer}), when TIMEOUT_MS (0: none) passes
 * (E_TIMEOUT), or with the error that ends the wait.  RID (0: none) and
 * RID_FLOOR are the request's id: each proposal carries them
 * (docs/NAMESPACE.md "Request ids").
 */
void session_acquire(struct session_mgr *sm, uint64_t session, uint64_t handle, int mode,
    uint64_t rid, uint64_t rid_floor, uint64_t timeout_ms, bool wait, struct rpc_req *q);

/* Packs {lock_gen, sequencer: bin} for a granted lock of HANDLE into a
 * new buffer (*OUT, malloc'd); CHUBBY_OK or the namespace's error. */
int session_pack_grant(struct session_mgr *sm, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *outlen);

/* Admin: SESSIONS and LOCKS results, packed into PK. */
struct msgpack_packer;
void session_pack_sessions(struct session_mgr *sm, struct msgpack_packer *pk);
void session_pack_locks(struct session_mgr *sm, struct msgpack_packer *pk);

/* For /metrics and STATUS. */
struct session_stats {
	size_t sessions;     /* in the master's table (0 elsewhere) */
	size_t held_keepalives;
	size_t waiters;      /* ACQUIREs waiting */
	size_t gated_writes; /* writes waiting for invalidations or the fail-over hold */
	uint64_t keepalives; /* answered since start */
	uint64_t expired;    /* sessions this replica expired as master */
	uint64_t invalidations;
};
void session_stats(const struct session_mgr *sm, struct session_stats *out);

#endif
