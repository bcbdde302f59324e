/*
 * pxcore.h: the state of chubby-proxy (Chubby §3.1, docs/PROXY.md), as a
 * pure core: the client sessions the proxy holds for its clients (lease,
 * held KeepAlive, events with ids until ev_ack covers them, invalidations
 * until acked), the handles they own, the read cache keyed by (principal,
 * path) with the client sessions caching each entry, and the invalidation
 * relay between the master and those sessions.
 *
 * Pure (tests/check-pure.sh): no I/O, clock, randomness or threads.  The
 * shell (server/proxy/proxy.c) gives it the time in milliseconds, the ids
 * it drew, and what the master said; it answers what to send.
 *
 * Ownership: strings passed in are copied; pointers returned point into the
 * core and are valid until the next call that changes it.
 */
#ifndef CHUBBY_PXCORE_H
#define CHUBBY_PXCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per client session: events kept after a reply until ev_ack covers them
 * (docs/PROTOCOL.md "Event ids and ev_ack"), and request ids remembered. */
#define PX_MAX_EVENTS 1024
#define PX_MAX_RIDS 1024

struct px_link { /* private: a chained hash table's link */
	struct px_link *next;
	uint64_t key;
};

struct px_tab { /* private */
	struct px_link **b;
	size_t nb, n;
};

struct px_event {
	uint64_t id; /* the proxy's own event id, rising */
	uint32_t type;
	uint64_t handle;
	char *path;
	uint64_t gen;
	bool has_gen;
};

/* An invalidation sent to a client: the relay's id (the one the client
 * acks) and the path. */
struct px_cinval {
	uint64_t id;
	char *path;
};

struct px_rid {
	uint64_t crid, urid;
};

enum px_up_state {
	PX_UP_NONE,     /* no upstream session yet (being started) */
	PX_UP_OK,       /* the upstream session's lease holds */
	PX_UP_JEOPARDY, /* the proxy lost the master: hold clients */
};

/* One upstream session: the proxy's session at the master for a principal. */
struct px_up {
	struct px_up *next;
	char *principal;
	uint64_t session; /* the master's session id (0: none yet) */
	int64_t lease_end; /* ms, proxy clock */
	enum px_up_state state;
	uint64_t *acks; /* invalidation ids to ack upstream in the next KEEPALIVE */
	size_t nacks, capacks;
	uint64_t ev_ack; /* highest upstream event id routed */
	uint64_t next_rid; /* upstream request ids of this session */
	void *user; /* the shell's */
};

struct px_centry;

struct px_client {
	struct px_link link;  /* by id (private) */
	struct px_link nlink; /* by nonce (private) */
	uint64_t id;
	uint64_t nonce;
	struct px_up *up;
	int64_t lease_end; /* ms, proxy clock */
	void *ka;          /* the shell's held KEEPALIVE, or NULL */
	bool woken;        /* private: on the wake list */
	bool lost;         /* its handles are gone at the master: end it */
	bool reclaim;      /* its upstream session expired: to be claimed */
	bool ending;       /* SESSION_END came while it waited for its claim */
	struct px_event *ev;
	size_t nev, capev;
	struct px_cinval *inv;
	size_t ninv, capinv;
	struct px_centry **cached; /* entries this client caches */
	size_t ncached, capcached;
	struct px_handle *handles; /* its handles (list) */
	size_t nhandles;
	struct px_rid *rids;
	size_t nrids, caprids;
};

struct px_handle {
	struct px_link link; /* private */
	struct px_handle *prev, *next; /* in the client's list */
	uint64_t id;
	struct px_client *client;
	char *path;
	uint32_t flags;
};

struct px_centry {
	struct px_link link; /* private */
	struct px_up *up;
	char *path;
	uint8_t *data; /* the shell's copy of a GET_CONTENTS result, or NULL */
	size_t len;
	uint64_t gen;    /* bumped by every invalidation of the entry */
	unsigned pending; /* relays in flight for this entry */
	unsigned reading; /* forwarded reads not answered yet */
	struct px_client **clients;
	size_t nclients, capclients;
};

struct px_relay {
	struct px_relay *next;
	uint64_t id;    /* the id the clients ack */
	uint64_t up_id; /* the master's invalidation id */
	struct px_up *up;
	struct px_centry *entry;
	struct px_client **wait; /* who has not acked yet */
	size_t nwait;
};

struct px_stats {
	uint64_t hits, misses, relays, expired;
};

struct pxcore {
	/* The lease granted a client now: session_lease, stretched under load
	 * by the shell's rule (common/lease_ctl.h; px_set_lease). */
	uint64_t session_lease_ms;
	/* How far a client's lease may reach past the end of its upstream
	 * session's lease (px_lease_slack; 0: not at all). */
	uint64_t lease_slack_ms;
	uint64_t master_epoch;
	uint32_t incarnation; /* random per process start, not 0 */
	uint64_t ev_seq, relay_seq, gen_seq;
	struct px_tab clients, by_nonce, handles, cache;
	size_t nclients, ncache;
	struct px_up *ups;
	size_t nups;
	struct px_relay *relays;
	struct px_client **wakes;
	size_t nwakes, capwakes;
	struct px_stats st;
};

/* INCARNATION: random per process start; its low 19 bits are used (not
 * 0). */
void px_init(struct pxcore *px, uint64_t session_lease_ms, uint32_t incarnation);
void px_free(struct pxcore *px);

/* The epoch the clients see: changes when the master's does, and differs
 * between two proxy processes, so that moving to another proxy looks to a
 * client like a master fail-over (docs/PROXY.md). */
uint64_t px_epoch(const struct pxcore *px);
/* A client came from another proxy believing in epoch SEEN (a claim).
 * libchubby takes only a higher epoch than its own as news, so this
 * proxy's must be above SEEN: if SEEN is of the same master epoch, the
 * incarnation becomes SEEN's plus one (every client of this proxy then
 * sees a new epoch, as after a fail-over).  Returns true if the epoch
 * changed.  False when nothing can be done yet: SEEN is of a newer master
 * than the proxy knows (its upstream learns it soon), or the incarnation
 * space is used up. */
bool px_epoch_raise(struct pxcore *px, uint64_t seen);
/* The master's epoch, from any upstream answer.  A new one flushes the
 * cache, drops the relays (the new master has no record of who caches
 * what) and the events not delivered (clients are told MASTER_FAILOVER by
 * the epoch change).  Returns true if it changed. */
bool px_set_master_epoch(struct pxcore *px, uint64_t epoch);

/* Upstream sessions, one per principal. */
struct px_up *px_up_get(struct pxcore *px, const char *principal, bool create);
/* The upstream session answered a KEEPALIVE / SESSION_START: lease until
 * LEASE_END.  From jeopardy back to OK, the principal's clients get a full
 * lease from NOW, as a new master gives every session (Chubby §2.9). */
void px_up_renewed(struct pxcore *px, struct px_up *up, uint64_t session, int64_t lease_end,
    int64_t now);
/* The proxy lost the master (or the upstream lease ran out): stop serving
 * cached reads and stop extending the leases of these clients. */
void px_up_jeopardy(struct pxcore *px, struct px_up *up);
/* The master expired the upstream session (E_SESSION_EXPIRED).  Its
 * clients' handles are orphaned there for the claim window, not gone: the
 * clients are marked reclaim (held as in jeopardy: no lease granted, none
 * expired) and their ids returned in *IDS (*N; the caller frees *IDS) for
 * the shell to CLAIM each onto the principal's next upstream session.  The
 * session's cache entries, relays, and its clients' undelivered events and
 * invalidations are dropped: the master forgot them (the shell raises the
 * epoch so the clients flush, as after a fail-over). */
void px_up_lost(struct pxcore *px, struct px_up *up, uint64_t **ids, size_t *n);
/* The CLAIM of C after px_up_lost was answered: OK, C keeps its handles
 * and may be granted leases again (a held KeepAlive is woken); else its
 * handles are gone and it is marked lost (px_next_expired returns it and
 * the shell ends it with px_client_end, sending nothing upstream).
 * Returns true if C was ending (px_client_end_wait) and the claim
 * succeeded: the shell now ends it at the cell (CLIENT_END expired=false,
 * which closes the handles just claimed) and here. */
bool px_client_claimed(struct pxcore *px, struct px_client *c, bool ok);
/* UP's new upstream SESSION_START (after px_up_lost) was refused (the
 * principal is no longer an allowed proxy, the cell is full, ...): no
 * claim can be made for its clients waiting for one, so they are marked
 * lost at once, not held until their grace period ends.  Their handles
 * stay orphaned at the master until the claim window closes, which ends
 * them as an expiry (lock-delay applies).  Their ids in *IDS (*N; the
 * caller frees *IDS). */
void px_up_refused(struct pxcore *px, struct px_up *up, uint64_t **ids, size_t *n);
/* Takes the invalidation ids to ack in the upstream KEEPALIVE: *OUT and
 * *N; the caller frees *OUT. */
void px_up_take_acks(struct px_up *up, uint64_t **out, size_t *n);

/* Client sessions. */
struct px_client *px_client_get(struct pxcore *px, uint64_t id);
/* The live session PRINCIPAL started with NONCE (> 0), or NULL. */
struct px_client *px_client_by_nonce(struct pxcore *px, const char *principal, uint64_t nonce);
/* A new client session ID (drawn by the shell: > 0, 63 bits, not in use)
 * on UP; its lease is granted by px_client_grant. */
struct px_client *px_client_new(struct pxcore *px, struct px_up *up, uint64_t id, uint64_t nonce);
/* Leases under load (docs/PROXY.md "Leases under load").  The lease to
 * grant clients from now on (LEASE_MS: session_lease, or what the rule asks
 * under load) and how far past the end of the upstream lease a client's
 * may reach (SLACK_MS, from px_lease_slack). */
void px_set_lease(struct pxcore *px, uint64_t lease_ms, uint64_t slack_ms);
/* The slack a cell allows: when an upstream session ends, the master keeps
 * its clients' handles (locks held) orphaned for CLAIM_WINDOW_MS, so a
 * client lease that ends within that window, early enough that the client
 * still has its grace period (GRACE_MS) left to claim them from another
 * proxy, never outlives its locks: the window less the grace period, less
 * 0.1% drift on each and a second's margin (0 if nothing is left). */
uint64_t px_lease_slack(uint64_t claim_window_ms, uint64_t grace_ms);
/* The lease px_client_grant would grant C at NOW, granting nothing:
 * min(session_lease, what is left of the upstream lease + the slack), or 0
 * if none may be granted (the upstream is not OK, or C waits for a claim). */
uint64_t px_client_offer(const struct pxcore *px, const struct px_client *c, int64_t now);
/* Extends C's lease from NOW by px_client_offer (a lease is never
 * shortened); returns the lease granted in ms, or 0 if none may be
 * granted: the shell then holds the KEEPALIVE. */
uint64_t px_client_grant(struct pxcore *px, struct px_client *c, int64_t now);
/* A client KEEPALIVE: EV_ACK drops the events it covers, ACKS the
 * invalidations acknowledged (relays whose last client acked queue their
 * upstream ack).  Returns true if the reply must leave at once (events or
 * invalidations to deliver). */
bool px_client_keepalive(struct pxcore *px, struct px_client *c, uint64_t ev_ack,
    const uint64_t *acks, size_t nacks);
bool px_client_has_news(const struct px_client *c);
/* A SESSION_END of C.  False: end C now (CLIENT_END expired=false, then
 * px_client_end).  True: C waits for its claim (px_up_lost) and is kept,
 * marked ending: its handles are orphaned at the master, so a CLIENT_END
 * now would close nothing, and the claim would then bring them back to a
 * session that no longer exists; px_client_claimed says what to do. */
bool px_client_end_wait(struct pxcore *px, struct px_client *c);
/* Ends C (SESSION_END, or its lease ran out): forgets its handles, takes it
 * out of every cache entry and relay (a relay it held up may complete).
 * Frees C. */
void px_client_end(struct pxcore *px, struct px_client *c);
/* A client whose lease has ended at NOW while its upstream is OK (and it
 * is not waiting for a claim), or marked lost; NULL if none.  The shell sends CLIENT_END
 * expired=true, then px_client_end. */
struct px_client *px_next_expired(struct pxcore *px, int64_t now);
/* Clients with a held KEEPALIVE that now have news; the shell answers
 * them.  Returns the count and the array (valid until the next call). */
size_t px_take_wakes(struct pxcore *px, struct px_client ***out);
/* A client request id CRID: the upstream rid to send it with.  A re-sent
 * CRID gets the rid of its first sending, so the master answers it with
 * the first outcome; FLOOR forgets those below it.  0 for CRID 0 (no
 * de-duplication asked). */
uint64_t px_client_rid(struct px_client *c, uint64_t crid, uint64_t floor);

/* Handles, owned by client sessions. */
void px_handle_add(struct pxcore *px, struct px_client *c, uint64_t id, const char *path,
    uint32_t flags);
struct px_handle *px_handle_get(struct pxcore *px, uint64_t id);
void px_handle_del(struct pxcore *px, uint64_t id);

/* An event of the upstream session UP about HANDLE: queued for the client
 * that owns it (dropped if none does).  UP_ID is the master's event id,
 * acked upstream (ev_ack) at once: the proxy keeps it from here. */
void px_route_event(struct pxcore *px, struct px_up *up, uint64_t up_id, uint32_t type,
    uint64_t handle, const char *path, uint64_t gen, bool has_gen);
/* An upstream invalidation {UP_ID, PATH} of UP: drops the cached entry,
 * sends it to every client session of the principal caching PATH, and acks
 * it upstream when they all acked or ended (at once if none). */
void px_route_inval(struct pxcore *px, struct px_up *up, uint64_t up_id, const char *path);

/* The read cache.  A GET_CONTENTS with cache:true of PATH by C: the cached
 * result if there is one that may be served (no invalidation pending,
 * upstream OK), C then counted as caching it; else NULL (forward it). */
const uint8_t *px_cache_lookup(struct pxcore *px, struct px_client *c, const char *path,
    size_t *len);
/* Before forwarding a read of PATH for C: a token for px_read_done. */
uint64_t px_read_begin(struct pxcore *px, struct px_client *c, const char *path);
/* The forwarded read's answer (UP_CACHEABLE: the master's `cacheable`;
 * DATA/LEN the result to keep).  Returns whether the client may cache it:
 * only if the master said so and no invalidation of PATH came or is
 * pending since px_read_begin; then C counts as caching it and the result
 * is kept for the next readers.  DATA NULL: the read failed.  C NULL: the
 * client ended meanwhile (nothing is cached).  UP is C's upstream session
 * at px_read_begin. */
bool px_read_done(struct pxcore *px, struct px_up *up, struct px_client *c, const char *path,
    uint64_t token, bool up_cacheable, const uint8_t *data, size_t len);

#endif
