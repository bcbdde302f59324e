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
 *
 * A pure core (docs/STYLE.md "Pure cores", tests/check-pure.sh): it reads
 * no clock and calls no replica or RPC function by name.  Time comes in
 * with every call; proposals, replies, mastership, the namespace and log
 * lines go through the struct session_env the shell registers.
 */
#ifndef CHUBBY_SESSION_H
#define CHUBBY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ns;
struct ns_result;
struct seqtoken;
struct session_mgr;
struct mh_table;

/* The time of an event, given to every entry point (the layer reads no
 * clock): monotonic ms for leases, holds and timeouts, and wall-clock ms
 * for the stamps of the commands it proposes. */
struct session_now {
	uint64_t mono_ms;
	uint64_t real_ms;
};

/* Called once for a proposed command: with the applied result, or with an
 * error when the outcome can no longer be learned here (E_NOT_MASTER).  RES
 * is NULL on error, valid for the call only. */
typedef void (*session_done_fn)(int status, const struct ns_result *res, void *arg);

enum { SESSION_LOG_WARN = 1, SESSION_LOG_INFO = 2 };

/*
 * What the layer needs from the daemon, registered at creation; the layer
 * calls nothing by name, so the daemon (server/session_shell.c), a unit
 * test or a simulator can each give their own.  Requests are opaque tokens
 * (void *REQ) the layer takes over and hands back, exactly once, to reply.
 * A completion (a DONE) comes while the shell handles an event it has told
 * the layer of, or will tell it of (an applied command, a tick), and the
 * layer takes its time to be that of the latest event it was given.
 */
struct session_env {
	void *arg;
	/* Proposes CMD (LEN bytes, copied): CHUBBY_OK and DONE later (perhaps
	 * within the call, in a one-replica cell), or an error at once
	 * (E_NOT_MASTER, E_OVERLOAD, ...) and DONE never. */
	int (*submit)(void *arg, const uint8_t *cmd, size_t len, session_done_fn done,
	    void *done_arg);
	/* Answers the request REQ with STATUS and RESULT (one packed msgpack
	 * value, or NULL for nil); REQ is the shell's again after. */
	void (*reply)(void *arg, void *req, int status, const char *msg, const void *result,
	    size_t len);
	/* Whether this replica is master holding its lease; *EPOCH the epoch it
	 * knows (0: none yet). */
	bool (*mastership)(void *arg, uint64_t *epoch);
	/* The applied namespace (NULL before there is one). */
	const struct ns *(*ns)(void *arg);
	/* Encodes sequencer T, signed with the cell's key if it has one
	 * (seqtoken_encode): *TOK malloc'd.  CHUBBY_OK or an error. */
	int (*sign)(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen);
	/* A line for the daemon's log (SESSION_LOG_*); may be NULL. */
	void (*log)(void *arg, int level, const char *line);
};

/* What the layer needs of the cell's config (copied). */
struct session_config {
	uint64_t lease_ms; /* a session's lease (when not overloaded) */
	/* Leases under load (docs/SESSIONS.md, common/lease_ctl.h): the
	 * longest lease (<= lease_ms: never stretched) and the thresholds of
	 * the load signals (0: that signal is off). */
	uint64_t lease_max_ms;
	uint64_t overload_queue;          /* requests waiting at the master */
	uint64_t overload_keepalive_rate; /* KeepAlives/s the sessions would send at lease_ms */
	unsigned overload_cpu;            /* % of one core */
	uint64_t overload_loop_lag_ms;    /* the event loop this late */
	uint64_t overload_session_starts; /* SESSION_STARTs received per second */
	const char *cell;  /* the cell's name, for sequencers */
	/* Whether a master that finds the cell new (ns_is_new) proposes
	 * INIT_ACLS first, with these root ACL names (NULL: "") and ACL
	 * administrators (principals, one a line; NULL: none). */
	bool init_acls;
	const char *root_acl[3];
	const char *acl_admins;
	/* How long an ended proxy session's tagged handles wait for a CLAIM
	 * (docs/SESSIONS.md "Proxies"), counted by the master from the end,
	 * or from its take-over (0: 60 s). */
	uint64_t proxy_claim_window_ms;
};

struct session_mgr *session_new(const struct session_config *cfg, const struct session_env *env);
void session_free(struct session_mgr *sm);

/* From the replica (the shell registers them as its observers): every
 * loop tick, every applied namespace command (on every replica; ignored
 * unless master), and a state replaced by a snapshot. */
void session_tick(struct session_mgr *sm, struct session_now now);
void session_applied(struct session_mgr *sm, struct session_now now, const uint8_t *cmd,
    size_t len, const struct ns_result *res);
void session_state_replaced(struct session_mgr *sm);

/*
 * Whether this replica may serve session requests now: master with its
 * lease.  Takes over (rebuilds the table) on the first call in a new
 * epoch, and steps down (fails what waits) once mastership is gone.
 */
bool session_serving(struct session_mgr *sm, struct session_now now);

/*
 * True when serving and nothing is timed: no session (so no lease end and
 * no held KeepAlive), no gate, no lock waiter, no queue to kick, no
 * INIT_ACLS or LEASE_CAP to propose or waiting on.  The shell may then tick
 * the layer rarely (chubbyd: every 250 ms instead of every 20 ms, an idle
 * master's cost).  What makes it busy again begins with a command through
 * the log (a session is created there), which wakes the shell anyway.
 */
bool session_idle(const struct session_mgr *sm);

/* For the request layer above (server/svc): the namespace the layer
 * serves from (its environment's; NULL before there is one), the epoch
 * this replica knows (0: none yet), and the time of the latest event the
 * layer was given, for work done in a completion (session_done_fn). */
const struct ns *session_ns(const struct session_mgr *sm);
uint64_t session_epoch(const struct session_mgr *sm);
/* The handles kept in this master's memory (session/mhandle.h): kept
 * over a step-down while the lease may come back in the same epoch,
 * dropped once a command of a later epoch applies (or a snapshot is
 * installed); a session's dropped when the session ends. */
struct mh_table *session_mhandles(struct session_mgr *sm);
/* The epoch whose master made (or re-created) those handles: the one
 * this replica last served in, while it keeps them; 0 once a later
 * epoch's command has dropped them, or before it ever served.  It may be older than session_epoch() for a while: a replica that
 * stepped down learns of a newer master before it applies a command of
 * its epoch, and only that application drops the table (the whole-cell
 * simulator asks, to know whose events the table stands for). */
uint64_t session_mhandles_epoch(const struct session_mgr *sm);
struct session_now session_last_now(const struct session_mgr *sm);

/* The stamp for a namespace command proposed now: wall-clock time read at
 * the start of this master's term, advanced by the monotonic clock since,
 * so that a wall-clock step neither pins nor shortens a lock-delay
 * (server/ns/ns_stamp.h). */
uint64_t session_stamp(struct session_mgr *sm, struct session_now now);

/*
 * Checks a session-scoped request: master (E_NOT_MASTER), epoch
 * (E_BAD_EPOCH), session known here (E_SESSION_EXPIRED), principal
 * (E_PERMISSION).  CHUBBY_OK or the code, with a message in MSG.
 */
int session_check(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t epoch, const char *principal, char *msg, size_t msglen);

/* SESSION_START answered (first or re-sent, docs/PROTOCOL.md "Request ids
 * and retries"): the client counts a full lease from the answer, as after
 * a KeepAlive, so the master's runs from now too.  Returns the lease
 * granted, for the answer. */
uint64_t session_restarted(struct session_mgr *sm, struct session_now now, uint64_t session);
/* How long a proxy session's clients' handles are kept after it ends
 * (proxy_claim_window): told to proxies, which must not let a client's
 * lease outlive them (docs/PROXY.md "Leases under load"). */
uint64_t session_claim_window_ms(const struct session_mgr *sm);

/*
 * The master's load, given about once a second (the shell measures it):
 * requests waiting (QUEUE), the CPU the daemon used since the last call
 * (CPU_PCT, % of one core), how late its event loop runs (LOOP_LAG_MS) and
 * how many SESSION_STARTs it has received so far (STARTS, a counter: the
 * rule takes its rate).  The lease granted from then on follows
 * common/lease_ctl.h's rule, within the cap recorded in the replicated
 * state: a longer lease is granted only once a LEASE_CAP command allowing
 * it has applied, so a new master knows how long a lease may be out.
 */
void session_load(struct session_mgr *sm, struct session_now now, uint64_t queue,
    unsigned cpu_pct, uint64_t loop_lag_ms, uint64_t starts);

/* What the lease rule says now: the lease granted, the one wanted, the cap
 * recorded in the replicated state, the load (% of the thresholds), the
 * largest signal now and the one that set the lease wanted (lease_sig_name:
 * "none", "queue", "keepalive", "cpu", "loop_lag", "session_starts"), and
 * the SESSION_START rate measured (/s). */
struct session_lease_info {
	uint64_t granted_ms, wanted_ms, cap_ms;
	unsigned load_pct;
	const char *signal, *driver;
	uint64_t starts_per_s;
};
void session_lease_info(const struct session_mgr *sm, struct session_lease_info *out);

/* KEEPALIVE: takes over the request REQ and answers it when due.  ACKS
 * (NACKS) are the invalidations acknowledged; EV_ACK the highest event id
 * the client has processed, or NULL for a client that sends none. */
void session_keepalive(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t hold_ms, const uint64_t *acks, size_t nacks, const uint64_t *ev_ack, void *req);

/* How a write touches cached data (docs/PROTOCOL.md "Cache invalidation"). */
enum session_write_kind {
	SESSION_WRITE_PLAIN = 0, /* no cached data changes: proposed at once */
	SESSION_WRITE_NODE,      /* contents, ACL or existence of PATH change */
	SESSION_WRITE_CREATE,    /* OPEN with CREATE: PATH may come to exist */
	SESSION_WRITE_FREE,      /* RELEASE of a lock on PATH that clears no lock record
				    now: a NODE write only while a write of PATH is in
				    flight (it may be a record), else PLAIN */
	SESSION_WRITE_RECORD,    /* SET_CONTENTS of a lock record on PATH: a NODE write,
				    and a CLOSE or SESSION_END of a handle on PATH that
				    comes while it is in flight goes behind it (the close
				    may clear the record) */
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
void session_write(struct session_mgr *sm, struct session_now now, enum session_write_kind kind,
    const char *path, const uint8_t *cmd, size_t len, session_done_fn done, void *arg);

/*
 * Proposes CMD, a CLOSE of HANDLE of SESSION or (HANDLE 0) the end of
 * SESSION: a write that may reap ephemeral nodes or clear lock records.
 * Gated as a NODE write on every ephemeral file it may be the one to reap
 * (its other handles are all being closed by writes in flight), on every
 * node whose lock record a closing handle's lock frees, and on every node
 * of a closing handle that a write in flight names (it may be a record);
 * an ending session's own acks are not waited for.  Otherwise proposed
 * at once.  DONE as above.
 */
void session_write_close(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, const uint8_t *cmd, size_t len, session_done_fn done, void *arg);

/* As session_write_close for CMD, a CLIENT_END of proxy session SESSION
 * that closes the handles tagged CLIENT (docs/PROTOCOL.md "Proxies"). */
void session_write_client_end(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t client, const uint8_t *cmd, size_t len, session_done_fn done, void *arg);

/* GET_CONTENTS with cache: records that SESSION caches PATH; false (do not
 * cache) while a write of PATH is under way. */
bool session_cache_note(struct session_mgr *sm, uint64_t session, const char *path);

/*
 * ACQUIRE that waits: takes over REQ and answers it when the lock is granted
 * (packing {lock_gen, sequencer}), when TIMEOUT_MS (0: none) passes
 * (E_TIMEOUT), or with the error that ends the wait.  RID (0: none) and
 * RID_FLOOR are the request's id: each proposal carries them
 * (docs/NAMESPACE.md "Request ids").
 */
void session_acquire(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, int mode, uint64_t rid, uint64_t rid_floor, uint64_t timeout_ms, bool wait,
    void *req);

/* A handle the master keeps in memory (docs/SESSIONS.md "Handles in
 * memory"): what the namespace needs to make it (ns_encode_mem). */
struct session_mem_open {
	const char *path;
	uint64_t instance;
	uint32_t flags; /* NS_O_READ, NS_O_WRITE */
	bool poisoned;
};

/* session_acquire on such a handle (MO copied): each proposal is an
 * ACQUIRE wrapped in MEM, so that the grant makes the holder replicated in
 * the same log entry. */
/* A handle in memory was closed: its waiter (if any) is answered
 * E_BAD_HANDLE, as a log handle's is when its CLOSE applies. */
void session_handle_closed(struct session_mgr *sm, uint64_t session, uint64_t handle);

void session_acquire_mem(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, int mode, uint64_t rid, uint64_t rid_floor, uint64_t timeout_ms, bool wait,
    void *req, const struct session_mem_open *mo);

/* Packs {lock_gen, sequencer: bin} for a granted lock of HANDLE into a
 * new buffer (*OUT, malloc'd); CHUBBY_OK or the namespace's error. */
int session_pack_grant(struct session_mgr *sm, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *outlen);

/*
 * Admin: SESSIONS and LOCKS, a page at a time (docs/PROTOCOL.md
 * "Administration"), so that a listing of any size fits in frames and
 * costs the loop a bounded piece of work per request.  Packs into PK an
 * array of at most LIMIT entries (0 or more than SESSION_PAGE_MAX:
 * SESSION_PAGE_MAX) taking about MAX_BYTES at most (always one entry if
 * there is one), and returns the cursor to pass as AFTER for the next
 * page, or 0 when the listing is done.
 *
 * SESSIONS lists the sessions with ids above AFTER, in id order: {session,
 * principal, lease_ms, checked_in, handles, locks: [{path, mode}]}.  LOCKS
 * lists the held locks of handles with ids above AFTER, in handle id order:
 * {path, mode, session, handle, waiters}; it looks at no more than
 * LIMIT * SESSION_PAGE_SCAN handles, so a page may be short, even empty,
 * and still have a cursor.
 */
#define SESSION_PAGE_MAX 1000
#define SESSION_PAGE_SCAN 64
struct msgpack_packer;
uint64_t session_pack_sessions(struct session_mgr *sm, struct session_now now, uint64_t after,
    size_t limit, size_t max_bytes, struct msgpack_packer *pk);
uint64_t session_pack_locks(struct session_mgr *sm, uint64_t after, size_t limit,
    size_t max_bytes, struct msgpack_packer *pk);

/* For /metrics and STATUS. */
struct session_stats {
	size_t sessions;     /* in the master's table (0 elsewhere) */
	size_t held_keepalives;
	size_t waiters;      /* ACQUIREs waiting */
	size_t gated_writes; /* writes waiting for invalidations or the fail-over hold */
	size_t gated_expiries; /* of those, expiries: no client request waits for them */
	size_t mem_handles;  /* handles kept in memory (session/mhandle.h) */
	size_t orphans;      /* ended proxy sessions in their claim window */
	uint64_t orphans_released; /* claim windows that ended without a claim */
	uint64_t keepalives; /* answered since start */
	uint64_t expired;    /* sessions this replica expired as master */
	uint64_t invalidations;
};
void session_stats(const struct session_mgr *sm, struct session_stats *out);

#endif
