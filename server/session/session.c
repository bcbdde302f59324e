/* session.c: the master's sessions: leases, KeepAlives, expiry, events,
 * cache invalidation, the fail-over hold and ACQUIREs that wait.  Pure:
 * time comes in with each call, everything else through sm->env. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "mp.h"
#include "ns/ns.h"
#include "ns/ns_stamp.h"
#include "seqtoken.h"
#include "lease_ctl.h"
#include "session/mhandle.h"
#include "session/session.h"
#include "session/sm_index.h"
#include "simknob.h"
#include "xmalloc.h"

/* The cache table's buckets (path -> sessions caching it). */
#define SM_BUCKETS 1024
/* A held KeepAlive is answered this long before the lease it protects
 * ends, so the reply has time to arrive (docs/PROTOCOL.md). */
#define SM_HOLD_MARGIN_MS 1000
/* Gates are re-examined this often (a cacher's lease may have ended), and
 * an expiry the replica refused, or a timeout that found its ACQUIRE still
 * in flight, is tried again this much later. */
#define SM_SCAN_MS 50
/* A lock whose first waiter is held back by a lock-delay is looked at again
 * this often: a lock-delay ends without any command being applied. */
#define SM_WAITER_SCAN_MS 100
/* The most events kept for a session once a reply has carried them, until
 * its client acknowledges them (docs/SESSIONS.md "Events until
 * acknowledged"): past it the
 * oldest are forgotten, delivered at most once, as to a client that sends
 * no ev_ack.  Only a client that loses this many in replies, or never
 * acknowledges, reaches it; it keeps a dead client's memory bounded. */
#define SM_EV_KEEP_MAX 1024

/* What a deadline in the heap belongs to. */
enum { SM_DUE_SESSION = 1, SM_DUE_WAITER, SM_DUE_ORPHAN };

#define SM_CONTAINER(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct sev {
	/* Its id, from the master's counter (sm->last_ev), given when it is
	 * queued for its session (0: not yet): rising in each session's
	 * queue, and across a lease lapsed and regained in one epoch. */
	uint64_t id;
	bool sent;     /* a reply carried it; kept until the client acks it */
	uint32_t type; /* NS_EV_* bit */
	uint64_t handle;
	char *path;
	bool has_gen; /* CONTENTS_MODIFIED: the content generation it made */
	uint64_t gen;
};

/* An event kept while this replica is not serving (sm->parked). */
struct pev {
	uint64_t session;
	struct sev ev;
};

struct sinv {
	uint64_t id; /* the gate's */
	char *path;
	bool sent;
	bool counted; /* in its gate's nwait: the lease had not ended */
};

struct msess {
	struct sm_hnode hn; /* in sm->sess, by id */
	/* In sm->due: the held KeepAlive's deadline if one is held, else the
	 * lease's end (not while ending). */
	struct sm_due due;
	uint64_t id;
	char *principal;
	uint64_t lease_end; /* monotonic ms */
	bool checked_in;    /* sent a KeepAlive in this epoch */
	bool holding;       /* counted in nhold: holds writes after a fail-over */
	bool ending;        /* its SESSION_END is proposed */
	void *ka;           /* the held KeepAlive (the shell's request) */
	uint64_t ka_arrived, ka_deadline;
	size_t nwaiters;    /* its ACQUIREs waiting */
	/* Its events in id order: those sent and not acknowledged first, then
	 * those not yet sent. */
	struct sev *ev;
	size_t nev, evcap;
	bool ev_acking; /* its latest KeepAlive carried ev_ack */
	struct sinv *inv;
	size_t ninv, invcap;
};

struct cacher {
	char *path;
	uint64_t session;
	struct cacher *next;
};

/*
 * A node that writes in flight concern (docs/SESSIONS.md "Cache
 * invalidation"): how many gates name it, from their arrival until their
 * write is applied or fails (no session may start caching it meanwhile),
 * and how many handles on it the CLOSEs and SESSION_ENDs in flight close
 * (so that a close can tell whether it may be the one that reaps an
 * ephemeral node).  Kept while either count is not zero.
 */
struct gpath {
	struct sm_hnode hn; /* in sm->gpaths, by path */
	char *path;
	size_t ngates;
	size_t nrecords; /* of those gates, lock records (SESSION_WRITE_RECORD) */
	size_t nclosing;
	uint64_t pass; /* the sm_gates_advance pass that found an unproposed gate on it */
};

/* Handles a write closes on one node. */
struct gclose {
	struct gpath *gp;
	size_t n;
	size_t nhandles; /* the node's handles when the write came */
};

/*
 * A write waiting for the invalidations of the nodes it changes.  Gates
 * that share a node go in arrival order: one neither sends invalidations
 * nor is proposed while an earlier one naming any of its nodes is not yet
 * proposed (docs/PROTOCOL.md "Cache invalidation").
 */
struct gate {
	struct session_mgr *sm;
	uint64_t id;
	struct gpath **paths;  /* the nodes whose cachers it invalidates */
	size_t npaths;
	struct gclose *closes; /* CLOSE, SESSION_END: the handles it closes */
	size_t ncloses;
	uint64_t exempt;       /* an ending session, whose acks are not waited for */
	bool expiry;           /* the layer's own (sm_expire): no request waits for it */
	bool record;           /* a lock record's write (counted in its path's nrecords) */
	uint8_t *cmd;
	size_t len;
	session_done_fn done;
	void *arg;
	bool sent_invals;
	bool proposed; /* from then on the env's submit owns the callback */
	size_t nwait;  /* invalidations not acknowledged, leases not ended */
	struct gate *next;
};

/*
 * The ACQUIREs for one lock, in arrival order (docs/SESSIONS.md "ACQUIRE
 * that waits").  Keyed by the node's path as the waiters' handles name it;
 * waiters whose handle was already gone when they came share the queue
 * of "" and are failed at its first kick.  A queue is freed by the kick
 * that finds it empty.
 */
struct lockq {
	struct sm_hnode hn; /* in sm->locks, by path */
	char *path;
	struct waiter *head, *tail;
	bool dirty;          /* on sm->dirty: to be kicked */
	bool delayed;        /* its first waiter waits for a lock-delay to end */
	struct lockq *dnext; /* on sm->dirty */
};

struct waiter {
	struct session_mgr *sm;
	struct sm_due due; /* its timeout, if it has one */
	struct lockq *lq;  /* NULL once unlinked (answered) */
	uint64_t session, handle;
	uint64_t rid, rid_floor; /* the request's id (0: none): every proposal carries it */
	int mode;
	bool wait;         /* false: TRY_ACQUIRE */
	bool in_flight;    /* its ACQUIRE is proposed */
	bool orphan;       /* answered already; freed when the proposal returns */
	void *q;           /* the shell's request */
	/* A handle kept in memory (mpath NULL: the namespace's): proposals
	 * wrap the ACQUIRE in MEM with these. */
	char *mpath;
	uint64_t minstance;
	uint32_t mflags;
	bool mpoisoned;
	struct waiter *prev, *next; /* in lq */
};

/*
 * An ended proxy session kept in the namespace for its clients' handles
 * (docs/SESSIONS.md "Proxies"): its claim window ends at DUE, counted by
 * this master from the end or from its take-over; then the master
 * proposes its end (ENDING until the outcome is known).
 */
struct morphan {
	struct sm_due due;
	uint64_t id;
	bool ending;
	struct morphan *next;
};

struct session_mgr;
struct sm_expiry {
	struct session_mgr *sm;
	uint64_t id;
};

struct session_mgr {
	struct session_env env;
	uint64_t claim_window_ms;  /* proxy_claim_window */
	struct morphan *orphans;
	uint64_t lease_ms;     /* the base lease (session_lease) */
	struct lease_ctl lctl; /* the lease under load */
	bool cap_inflight;     /* a LEASE_CAP proposed, its outcome not yet known */
	uint64_t cap_pending;  /* its value */
	/* A LEASE_CAP lowering whose outcome was lost: it may still apply, so
	 * no lease longer than it is granted until a later one applies (0:
	 * no such limit). */
	uint64_t cap_limit;
	uint64_t long_until;   /* the latest lease end this master granted (monotonic) */
	char *cell;
	bool init_acls;
	char *root_acl[3];
	char *acl_admins;
	bool init_inflight; /* INIT_ACLS proposed, its outcome not yet known */
	/* The time of the latest event given: completions, which carry none,
	 * happen within the shell's handling of such an event. */
	struct session_now now;
	bool active;
	uint64_t epoch;
	struct sm_htab sess;   /* struct msess by id */
	struct sm_heap due;    /* held KeepAlives, leases, waiters' timeouts */
	size_t nhold;          /* sessions holding writes after a fail-over */
	size_t nka;            /* held KeepAlives */
	struct cacher *cache[SM_BUCKETS];
	struct gate *gates;    /* in arrival order */
	size_t ngates;
	size_t nexpiry_gates;  /* of those, expiries (gate.expiry) */
	struct sm_htab gpaths; /* struct gpath by path */
	uint64_t pass;         /* sm_gates_advance's passes */
	bool advancing, advance_again;
	struct sm_htab locks;  /* struct lockq by path */
	struct mh_table *mh;   /* handles in memory (session/mhandle.h) */
	size_t nwaiters;
	struct lockq *dirty;   /* queues to kick */
	bool kicking;
	uint64_t next_inval;
	uint64_t last_scan, last_waiter_scan;
	/* A RELEASE just proposed (sm_release_proposed): while its lock's
	 * queue is kicked, the lock counts as freed by it. */
	const char *rel_path;
	uint64_t rel_session, rel_handle;
	struct ns_stamp_clock stamps; /* this master's command stamps */
	/* Sessions whose expiry this replica proposed and has no outcome of
	 * yet.  Kept across a step-down: a lease lapsed and regained in one
	 * epoch leaves the proposal in the log, where it may still apply, and
	 * the rebuilt table must not take such a session back. */
	uint64_t *ending_ids;
	size_t nending, capending;
	/* Events not yet sent when the lease lapsed, then those of commands
	 * applied while not serving, in order, while this replica's epoch is
	 * still SM->EPOCH (PARKING): a lease regained in that epoch sends them,
	 * as its clients see no new epoch and so no MASTER_FAILOVER tells them
	 * to re-read.  A new epoch drops them: its clients are told. */
	bool parking;
	struct pev *parked;
	size_t nparked, capparked;
	/* The last event id given: never reset, so a client's dedupe (which
	 * restarts at each new epoch) sees ids rise within an epoch even over
	 * a lease lapsed and regained. */
	uint64_t last_ev;
	struct session_stats st;
};

static void sm_gates_advance(struct session_mgr *sm);
static void sm_kick_dirty(struct session_mgr *sm);
static struct lockq *sm_lockq_find(const struct session_mgr *sm, const char *path);
static void sm_lockq_dirty(struct session_mgr *sm, struct lockq *lq);
static uint64_t sm_lease_floor(const struct session_mgr *sm);
static bool sm_init_blocks(const struct session_mgr *sm);

static uint64_t
sm_hash_path(const char *s)
{
	return ns_fnv1a(NS_FNV_INIT, s, strlen(s));
}

static size_t
sm_hash_str(const char *s)
{
	return (size_t)(sm_hash_path(s) % SM_BUCKETS);
}

static const struct ns *
sm_ns(const struct session_mgr *sm)
{
	return sm->env.ns(sm->env.arg);
}

static void
sm_reply(struct session_mgr *sm, void *req, int status, const char *msg, const void *result,
    size_t len)
{
	sm->env.reply(sm->env.arg, req, status, msg, result, len);
}

static int
sm_submit(struct session_mgr *sm, const uint8_t *cmd, size_t len, session_done_fn done,
    void *arg)
{
	return sm->env.submit(sm->env.arg, cmd, len, done, arg);
}

/* Log lines are built here without stdio (a pure core): strings and
 * decimal numbers appended to a bounded buffer, cut if too long. */
static void
sm_cat(char *buf, size_t n, const char *str)
{
	size_t used = strlen(buf), k = strlen(str);

	if (used + 1 >= n)
		return;
	if (k > n - 1 - used)
		k = n - 1 - used;
	memcpy(buf + used, str, k);
	buf[used + k] = '\0';
}

static void
sm_cat_u64(char *buf, size_t n, uint64_t v)
{
	char d[21];
	size_t i = sizeof d - 1;

	d[i] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	sm_cat(buf, n, d + i);
}

/* MSG (of N bytes) becomes A, V, B. */
static void
sm_msg(char *msg, size_t n, const char *a, uint64_t v, const char *b)
{
	if (n == 0)
		return;
	msg[0] = '\0';
	sm_cat(msg, n, a);
	sm_cat_u64(msg, n, v);
	sm_cat(msg, n, b);
}

static void
sm_log(struct session_mgr *sm, int level, const char *line)
{
	if (sm->env.log != NULL)
		sm->env.log(sm->env.arg, level, line);
}

static uint64_t sm_stamp(struct session_mgr *sm);

/* --- the session table ----------------------------------------------------- */

static struct msess *
sm_find(const struct session_mgr *sm, uint64_t id)
{
	uint64_t h = sm_hash_u64(id);

	for (struct sm_hnode *n = sm_htab_chain(&sm->sess, h); n != NULL; n = n->next) {
		struct msess *s = SM_CONTAINER(n, struct msess, hn);
		if (n->hash == h && s->id == id)
			return s;
	}
	return NULL;
}

/* Puts S's next deadline in the heap: the held KeepAlive's answer, else
 * the end of its lease; none while its end is proposed. */
static void
sm_sched(struct session_mgr *sm, struct msess *s)
{
	if (s->ka != NULL)
		sm_heap_set(&sm->due, &s->due, s->ka_deadline);
	else if (!s->ending)
		sm_heap_set(&sm->due, &s->due, s->lease_end);
	else
		sm_heap_del(&sm->due, &s->due);
}

static void
sm_unhold(struct session_mgr *sm, struct msess *s)
{
	if (s->holding) {
		s->holding = false;
		sm->nhold--;
	}
}

static struct msess *
sm_add(struct session_mgr *sm, uint64_t id, const char *principal, uint64_t now)
{
	struct msess *s = sm_find(sm, id);

	if (s != NULL)
		return s;
	s = xcalloc(1, sizeof *s);
	sm_due_init(&s->due, SM_DUE_SESSION);
	s->id = id;
	s->principal = xstrdup(principal != NULL ? principal : "");
	/* A session new to this table (a new one, or every one when a master
	 * takes over) may hold a lease as long as any master may have
	 * granted: the recorded cap (Chubby §2.9: the new master assumes the
	 * longest lease the old one may have used). */
	s->lease_end = now + sm_lease_floor(sm);
	if (s->lease_end > sm->long_until)
		sm->long_until = s->lease_end;
	sm_htab_add(&sm->sess, &s->hn, sm_hash_u64(id));
	sm_sched(sm, s);
	return s;
}

static void
sm_clear_events(struct msess *s)
{
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].path);
	s->nev = 0;
}

/* Drops S's first N events. */
static void
sm_ev_drop(struct msess *s, size_t n)
{
	if (n == 0)
		return; /* S->ev may be NULL: memmove must not see it */
	for (size_t i = 0; i < n; i++)
		free(s->ev[i].path);
	memmove(s->ev, s->ev + n, (s->nev - n) * sizeof *s->ev);
	s->nev -= n;
}

/* A reply carried S's first NSENT events.  A client that acknowledges
 * events has them kept until it does (to the bound); one that sends no
 * ev_ack has them forgotten now, as before event ids (the rest, which only
 * the simulator's broken knob leaves unsent, go too: lost on purpose). */
static void
sm_ev_sent(struct msess *s, size_t nsent)
{
	if (!s->ev_acking) {
		sm_clear_events(s);
		return;
	}
	for (size_t i = nsent; i < s->nev; i++)
		free(s->ev[i].path);
	s->nev = nsent;
	for (size_t i = 0; i < s->nev; i++)
		s->ev[i].sent = true;
	if (s->nev > SM_EV_KEEP_MAX)
		sm_ev_drop(s, s->nev - SM_EV_KEEP_MAX);
}

/* The client of S has processed every event up to id ACK: those go.  The
 * rest, if a reply carried them, it never got (it sends one KeepAlive at
 * a time, after the previous reply or after losing its connection): they
 * go again, now. */
static void
sm_ev_ack(struct msess *s, uint64_t ack)
{
	size_t n = 0;

	while (n < s->nev && s->ev[n].id <= ack)
		n++;
	sm_ev_drop(s, n);
	for (size_t i = 0; i < s->nev; i++)
		s->ev[i].sent = false;
}

static void sm_gate_uncount(struct session_mgr *sm, struct sinv *v);

/* Unlinks S from every index and frees it; its held KeepAlive, if any,
 * is the caller's to answer first. */
static void
sm_sess_free(struct session_mgr *sm, struct msess *s)
{
	sm_htab_del(&sm->sess, &s->hn);
	sm_heap_del(&sm->due, &s->due);
	sm_unhold(sm, s);
	if (s->ka != NULL)
		sm->nka--;
	sm_clear_events(s);
	free(s->ev);
	for (size_t i = 0; i < s->ninv; i++) {
		sm_gate_uncount(sm, &s->inv[i]);
		free(s->inv[i].path);
	}
	free(s->inv);
	free(s->principal);
	free(s);
}

/* --- leases under load ------------------------------------------------ */

/* The longest lease a master may have granted: the base, or the cap the
 * replicated state records (every session's lease counts as that long
 * when a master takes over). */
static uint64_t
sm_lease_floor(const struct session_mgr *sm)
{
	const struct ns *ns = sm_ns(sm);
	uint64_t cap = ns != NULL ? ns_lease_cap(ns) : 0;

	return cap > sm->lease_ms ? cap : sm->lease_ms;
}

/* The lease to grant now: what the load asks, within the recorded cap,
 * within a lowering of it in flight or of unknown outcome. */
static uint64_t
sm_lease_grant(const struct session_mgr *sm)
{
	uint64_t g = sm->lctl.lease_ms, cap = sm_lease_floor(sm);

	if (g > cap)
		g = cap;
	if (sm->cap_inflight && sm->cap_pending < g)
		g = sm->cap_pending;
	if (sm->cap_limit != 0 && sm->cap_limit < g)
		g = sm->cap_limit;
	return g < sm->lease_ms ? sm->lease_ms : g;
}

/* Extends S's lease to NOW + LEASE, never shortening it: the client keeps
 * the latest end it was given, so the master's must stay at least that. */
static void
sm_lease_extend(struct session_mgr *sm, struct msess *s, uint64_t now, uint64_t lease)
{
	if (now + lease > s->lease_end)
		s->lease_end = now + lease;
	if (s->lease_end > sm->long_until)
		sm->long_until = s->lease_end;
}

/* Answers the held KeepAlive of S with its events and invalidations, and
 * extends the lease from now. */
static void
sm_ka_reply(struct session_mgr *sm, struct msess *s)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t now = sm->now.mono_ms, lease = sm_lease_grant(sm);
	size_t i, nev;

	if (s->ka == NULL)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	mp_pack_kv_uint(&pk, "epoch", sm->epoch);
	mp_pack_kv_uint(&pk, "lease_ms", lease);
	mp_pack_kv_uint(&pk, "held_ms", now - s->ka_arrived);
	/* Every event kept, in id order: those a lost reply carried before
	 * newer ones.  SIM_KNOB: broken on purpose in the simulator only
	 * (events lost). */
	nev = SIM_KNOB(SIM_KNOB_EVENTS_TRUNCATED) && s->nev > 1 ? 1 : s->nev;
	mp_pack_str(&pk, "events");
	msgpack_pack_array(&pk, nev);
	for (i = 0; i < nev; i++) {
		unsigned type = 0;
		/* NS_EV_* bits to protocol event numbers: bit k is type k+1. */
		while ((1u << type) != s->ev[i].type && type < 31)
			type++;
		/* "gen" is optional (docs/PROTOCOL.md): clients that do not
		 * know it skip it. */
		msgpack_pack_map(&pk, s->ev[i].has_gen ? 5 : 4);
		mp_pack_kv_uint(&pk, "id", s->ev[i].id);
		mp_pack_kv_uint(&pk, "type", type + 1);
		mp_pack_kv_uint(&pk, "handle", s->ev[i].handle);
		mp_pack_kv_str(&pk, "path", s->ev[i].path);
		if (s->ev[i].has_gen)
			mp_pack_kv_uint(&pk, "gen", s->ev[i].gen);
	}
	mp_pack_str(&pk, "invalidate");
	msgpack_pack_array(&pk, s->ninv);
	for (i = 0; i < s->ninv; i++) {
		msgpack_pack_map(&pk, 2);
		mp_pack_kv_uint(&pk, "id", s->inv[i].id);
		mp_pack_kv_str(&pk, "path", s->inv[i].path);
		s->inv[i].sent = true;
	}
	sm_reply(sm, s->ka, CHUBBY_OK, NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	s->ka = NULL;
	sm->nka--;
	sm_ev_sent(s, nev);
	/* The lease runs from the reply: the client counts its own from when
	 * it sent the request, which is earlier, so ours ends later. */
	sm_lease_extend(sm, s, now, lease);
	sm_sched(sm, s);
	sm->st.keepalives++;
}

uint64_t
session_claim_window_ms(const struct session_mgr *sm)
{
	return sm->claim_window_ms;
}

uint64_t
session_restarted(struct session_mgr *sm, struct session_now now, uint64_t session)
{
	struct msess *s;
	uint64_t lease;

	sm->now = now;
	lease = sm_lease_grant(sm);
	if ((s = sm_find(sm, session)) == NULL || s->ending)
		return lease;
	sm_lease_extend(sm, s, now.mono_ms, lease);
	sm_sched(sm, s);
	return lease;
}

static bool
sm_has_unsent(const struct msess *s)
{
	/* Events sent and not acknowledged do not count: a KeepAlive that
	 * finds only those waits as usual (session_keepalive re-sends them
	 * when it does not acknowledge them). */
	for (size_t i = 0; i < s->nev; i++)
		if (!s->ev[i].sent)
			return true;
	for (size_t i = 0; i < s->ninv; i++)
		if (!s->inv[i].sent)
			return true;
	return false;
}

static void sm_fail_waiter(struct session_mgr *sm, struct waiter *w, int status, const char *msg);
static void sm_lockq_free_all(struct session_mgr *sm);
static void sm_fail_waiters(struct session_mgr *sm, uint64_t session, uint64_t handle, int status,
    const char *why);

/* Forgets session ID (ended or expired through the log). */
static void
sm_remove(struct session_mgr *sm, uint64_t id, int status, const char *why)
{
	struct msess *s = sm_find(sm, id);

	/* Session end closes everything, handles in memory too. */
	mh_drop_session(sm->mh, id);
	if (s == NULL)
		return;
	if (s->ka != NULL)
		sm_reply(sm, s->ka, status, why, NULL, 0);
	/* Its waiters are found through every queue, but only when it has
	 * any: a session end costs nothing extra in the common case. */
	if (s->nwaiters > 0)
		sm_fail_waiters(sm, id, 0, status, why);
	sm_sess_free(sm, s);
}

/* --- taking over and stepping down -------------------------------------- */

static void
sm_cache_clear(struct session_mgr *sm)
{
	for (size_t b = 0; b < SM_BUCKETS; b++) {
		while (sm->cache[b] != NULL) {
			struct cacher *c = sm->cache[b];
			sm->cache[b] = c->next;
			free(c->path);
			free(c);
		}
	}
}

/* Records that SESSION caches PATH (once). */
static void
sm_cache_add(struct session_mgr *sm, uint64_t session, const char *path)
{
	size_t b = sm_hash_str(path);
	struct cacher *c;

	for (c = sm->cache[b]; c != NULL; c = c->next)
		if (c->session == session && strcmp(c->path, path) == 0)
			return;
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->session = session;
	c->next = sm->cache[b];
	sm->cache[b] = c;
}

static void sm_gate_free(struct session_mgr *sm, struct gate *g);

/* Keeps SESSION's event EV (its path is ours after). */
static void
sm_park(struct session_mgr *sm, uint64_t session, struct sev ev)
{
	if (sm->nparked == sm->capparked) {
		sm->capparked = sm->capparked ? 2 * sm->capparked : 16;
		sm->parked = xreallocarray(sm->parked, sm->capparked, sizeof *sm->parked);
	}
	sm->parked[sm->nparked].session = session;
	sm->parked[sm->nparked].ev = ev;
	sm->nparked++;
}

/* An applied event as the layer keeps it (the path copied). */
static struct sev
sm_sev(const struct ns_event *e)
{
	struct sev ev = {.type = e->type, .handle = e->handle, .path = xstrdup(e->path),
	    .has_gen = e->has_gen, .gen = e->gen};

	return ev;
}

static void
sm_parked_clear(struct session_mgr *sm)
{
	for (size_t i = 0; i < sm->nparked; i++)
		free(sm->parked[i].ev.path);
	sm->nparked = 0;
	sm->parking = false;
}

/* Queues S's event EV (its path is S's after), numbered if it is not yet
 * (one kept over a lease lapse keeps its id). */
static void
sm_queue_event(struct session_mgr *sm, struct msess *s, struct sev ev)
{
	if (ev.id == 0)
		ev.id = ++sm->last_ev;
	ev.sent = false;
	if (s->nev == s->evcap) {
		s->evcap = s->evcap ? 2 * s->evcap : 8;
		s->ev = xreallocarray(s->ev, s->evcap, sizeof *s->ev);
	}
	s->ev[s->nev++] = ev;
	if (s->ka != NULL)
		sm_ka_reply(sm, s);
}

static void sm_write_close(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, uint64_t client, const uint8_t *cmd, size_t len, session_done_fn done,
    void *arg, bool expiry);

/* --- proxies' orphaned sessions (docs/SESSIONS.md "Proxies") ------------ */

static void
sm_orphan_add(struct session_mgr *sm, uint64_t id)
{
	struct morphan *o;

	for (o = sm->orphans; o != NULL; o = o->next)
		if (o->id == id)
			return;
	o = xcalloc(1, sizeof *o);
	sm_due_init(&o->due, SM_DUE_ORPHAN);
	o->id = id;
	o->next = sm->orphans;
	sm->orphans = o;
	sm_heap_set(&sm->due, &o->due, sm->now.mono_ms + sm->claim_window_ms);
}

static void
sm_orphans_clear(struct session_mgr *sm)
{
	while (sm->orphans != NULL) {
		struct morphan *o = sm->orphans;
		sm->orphans = o->next;
		sm_heap_del(&sm->due, &o->due);
		free(o);
	}
}

/* Forgets the orphans the namespace no longer keeps (claimed, or ended). */
static void
sm_orphans_sweep(struct session_mgr *sm)
{
	const struct ns *ns = sm_ns(sm);

	for (struct morphan **op = &sm->orphans; *op != NULL;) {
		struct morphan *o = *op;
		if (ns != NULL && ns_session_orphaned(ns, o->id)) {
			op = &o->next;
			continue;
		}
		*op = o->next;
		sm_heap_del(&sm->due, &o->due);
		free(o);
	}
}

static void
sm_orphan_end_done(int status, const struct ns_result *res, void *arg)
{
	struct sm_expiry *x = arg;
	struct session_mgr *sm = x->sm;

	(void)res;
	if (status == CHUBBY_OK) {
		sm->st.orphans_released++; /* (the sweep on its apply forgot it) */
	} else {
		/* Not applied: tried again a scan later, while the namespace
		 * still keeps it orphaned and this master keeps it. */
		for (struct morphan *o = sm->orphans; o != NULL; o = o->next)
			if (o->id == x->id && o->ending) {
				o->ending = false;
				sm_heap_set(&sm->due, &o->due, sm->now.mono_ms + SM_SCAN_MS);
			}
		sm_orphans_sweep(sm);
	}
	free(x);
}

/* The claim window of O ended with no claim: its clients' handles end as
 * a CLIENT_END with expired would end them (lock-delay, tombstones), in
 * the orphan's SESSION_END by the master.  O may be freed within. */
static void
sm_orphan_end(struct session_mgr *sm, struct morphan *o)
{
	struct sm_expiry *x;
	uint8_t *cmd = NULL;
	size_t len = 0;
	char line[160];

	o->ending = true;
	sm_heap_del(&sm->due, &o->due);
	sm_msg(line, sizeof line, "session ", o->id,
	    ": its proxy's claim window ended with no claim; releasing its clients' handles");
	sm_log(sm, SESSION_LOG_INFO, line);
	if (ns_encode_session_end(sm_stamp(sm), 0, o->id, NS_END_EXPIRED, &cmd, &len) !=
	    CHUBBY_OK)
		return;
	x = xcalloc(1, sizeof *x);
	x->sm = sm;
	x->id = o->id;
	/* The layer's own end, as an expiry: no request waits for it. */
	sm_write_close(sm, sm->now, o->id, 0, 0, cmd, len, sm_orphan_end_done, x, true);
	free(cmd);
}

static void
sm_step_down(struct session_mgr *sm)
{
	const char *why = "this replica is no longer the master; retry at the new master";

	/* Handles in memory are this term's: a later master re-creates them
	 * from the clients' calls, checked against the state it applied.
	 * They are kept while this replica may regain its lease in this
	 * epoch (sm->parking), where clients see no fail-over: their events
	 * are parked with the rest (session_applied). */

	for (size_t b = 0; b < sm->sess.nb; b++) {
		while (sm->sess.b[b] != NULL) {
			struct msess *s = SM_CONTAINER(sm->sess.b[b], struct msess, hn);
			if (s->ka != NULL)
				sm_reply(sm, s->ka, CHUBBY_E_NOT_MASTER, why, NULL, 0);
			/* An invalidation not acknowledged took its session out of
			 * the cache table: it goes back, or a lease regained in this
			 * epoch (which keeps the table) would let the write's retry
			 * find no cacher and commit while the client still serves
			 * the old value (issue 14). */
			for (size_t i = 0; i < s->ninv; i++)
				sm_cache_add(sm, s->id, s->inv[i].path);
			/* Its events not yet sent, and those sent and not
			 * acknowledged, are kept with their ids for a lease
			 * regained in this epoch (sm->parked). */
			for (size_t i = 0; i < s->nev; i++) {
				sm_park(sm, s->id, s->ev[i]);
				s->ev[i].path = NULL;
			}
			s->nev = 0;
			sm_sess_free(sm, s);
		}
	}
	/* A waiter's ACQUIRE may be proposed and still be chosen. */
	sm_fail_waiters(sm, 0, 0, CHUBBY_E_NOT_MASTER,
	    "this replica is no longer the master; the ACQUIRE may or may not have been granted: "
	    "re-send it with the same rid at the new master");
	sm_lockq_free_all(sm);
	/* Writes not yet proposed fail; proposed ones are the replica's and
	 * fail through it. */
	for (struct gate **gp = &sm->gates; *gp != NULL;) {
		struct gate *g = *gp;
		if (g->proposed) {
			gp = &g->next;
			continue;
		}
		*gp = g->next;
		sm->ngates--;
		sm->nexpiry_gates -= g->expiry;
		g->done(CHUBBY_E_NOT_MASTER, NULL, g->arg);
		sm_gate_free(sm, g);
	}
	sm_orphans_clear(sm);
	sm->active = false;
	sm->parking = true;
	sm_log(sm, SESSION_LOG_INFO, "sessions: stepped down");
}

static void
sm_init_acls_done(int status, const struct ns_result *res, void *arg)
{
	struct session_mgr *sm = arg;
	char line[300];

	sm->init_inflight = false;
	if (status == CHUBBY_OK)
		sm_log(sm, SESSION_LOG_INFO, "sessions: a new cell: its ACLs are set (INIT_ACLS)");
	else if (status == CHUBBY_E_EXISTS)
		return; /* a copy: the first one set them */
	else if (res != NULL) {
		/* Refused by the namespace (a config it cannot take): writes stay
		 * refused, as the cell cannot be protected. */
		sm_msg(line, sizeof line, "sessions: INIT_ACLS refused with status ", (uint64_t)status,
		    ": ");
		sm_cat(line, sizeof line, res->msg);
		sm_cat(line, sizeof line, "; this new cell refuses writes until its config is fixed");
		sm_log(sm, SESSION_LOG_WARN, line);
	} else {
		sm_msg(line, sizeof line, "sessions: INIT_ACLS not proposed (status ",
		    (uint64_t)status, "); it is proposed again before the next write");
		sm_log(sm, SESSION_LOG_WARN, line);
	}
}

/* A new cell's first command (docs/NAMESPACE.md "Protected by default"):
 * proposed before any write this master proposes, so no client's OPEN can
 * come before the ACLs that protect it.  A copy chosen twice (a fail-over
 * in between) is refused the second time and changes nothing. */
static void
sm_propose_init_acls(struct session_mgr *sm)
{
	const char *acl[3] = {sm->root_acl[0], sm->root_acl[1], sm->root_acl[2]};
	uint8_t *cmd = NULL;
	size_t len = 0;

	if (ns_encode_init_acls(sm_stamp(sm), acl, sm->acl_admins, &cmd, &len) != CHUBBY_OK)
		return;
	sm->init_inflight = true;
	session_write(sm, sm->now, SESSION_WRITE_PLAIN, NULL, cmd, len, sm_init_acls_done, sm);
	free(cmd);
}

/* A LEASE_CAP's outcome.  Applied: the namespace holds its value now, and
 * a lowering of unknown outcome before it is settled (it came first in
 * the log, or never will).  Refused or unknown: a lowering may still apply
 * later, so grants stay within it (cap_limit). */
static void
sm_lease_cap_done(int status, const struct ns_result *res, void *arg)
{
	struct session_mgr *sm = arg;
	char line[160];

	sm->cap_inflight = false;
	if (status == CHUBBY_OK) {
		sm->cap_limit = 0;
		sm_msg(line, sizeof line, "sessions: session leases may now last up to ",
		    sm->cap_pending, " ms (LEASE_CAP)");
		sm_log(sm, SESSION_LOG_INFO, line);
		return;
	}
	(void)res;
	if (sm->cap_pending < sm_lease_floor(sm) &&
	    (sm->cap_limit == 0 || sm->cap_pending < sm->cap_limit))
		sm->cap_limit = sm->cap_pending;
}

static void
sm_propose_lease_cap(struct session_mgr *sm, uint64_t cap)
{
	uint8_t *cmd = NULL;
	size_t len = 0;

	if (ns_encode_lease_cap(sm_stamp(sm), cap, &cmd, &len) != CHUBBY_OK)
		return;
	sm->cap_inflight = true;
	sm->cap_pending = cap;
	session_write(sm, sm->now, SESSION_WRITE_PLAIN, NULL, cmd, len, sm_lease_cap_done, sm);
	free(cmd);
}

/*
 * Moves the recorded cap towards the lease the load asks for.  Up: before
 * any longer lease is granted (grants stay within the applied cap).  Down:
 * only once no lease this master granted outlasts what the load asks (its
 * latest grant's end, from now), and by a second at least, so the log sees
 * a handful of these an hour, not one a second.
 */
static void
sm_lease_cap_adjust(struct session_mgr *sm, uint64_t now)
{
	const struct ns *ns = sm_ns(sm);
	uint64_t want = sm->lctl.lease_ms, cap, out;

	if (ns == NULL || sm->cap_inflight || sm_init_blocks(sm))
		return;
	cap = ns_lease_cap(ns);
	if (want > sm->lease_ms && want > cap) {
		sm_propose_lease_cap(sm, want);
		return;
	}
	if (cap == 0)
		return;
	/* Only once every longer lease this master granted has run out, and
	 * then straight to what the load asks: one LEASE_CAP per fall, not
	 * one a second while the longest grant drains (seen in a KeepAlive
	 * storm run: 9049, 8044, 7039 ms, ...). */
	out = sm->long_until > now ? sm->long_until - now : 0;
	if (out > want)
		return;
	if (want <= sm->lease_ms)
		sm_propose_lease_cap(sm, 0); /* back to the base lease: no cap */
	else if (want + 1000 <= cap)
		sm_propose_lease_cap(sm, want);
}

void
session_load(struct session_mgr *sm, struct session_now now, uint64_t queue, unsigned cpu_pct,
    uint64_t loop_lag_ms, uint64_t starts)
{
	struct lease_load load = {.queue = queue, .sessions = sm->sess.n, .cpu = cpu_pct,
	    .lag_ms = loop_lag_ms, .starts = starts};

	sm->now = now;
	if (!sm->active)
		return;
	(void)lease_ctl_update(&sm->lctl, now.mono_ms, &load);
	sm_lease_cap_adjust(sm, now.mono_ms);
}

void
session_lease_info(const struct session_mgr *sm, struct session_lease_info *out)
{
	const struct ns *ns = sm->env.ns(sm->env.arg);

	out->granted_ms = sm_lease_grant(sm);
	out->wanted_ms = sm->lctl.lease_ms;
	out->cap_ms = ns != NULL ? ns_lease_cap(ns) : 0;
	out->load_pct = sm->lctl.load_pct;
	out->signal = lease_sig_name(sm->lctl.signal);
	out->driver = lease_sig_name(sm->lctl.rise_signal);
	out->starts_per_s = sm->lctl.starts_rate;
}

/* Whether a write must wait for a new cell's INIT_ACLS: true while the
 * cell is new and no INIT_ACLS is in flight ahead of it in the log (its
 * proposal was refused, or the namespace refused it).  Such a write is
 * refused (E_UNAVAILABLE): proposed now, it could make the cell "not new"
 * and leave its ACL files open for good. */
static bool
sm_init_blocks(const struct session_mgr *sm)
{
	return sm->init_acls && !sm->init_inflight && ns_is_new(sm_ns(sm));
}

/* Where ID is in sm->ending_ids (sm->nending: not there). */
static size_t
sm_ending_find(const struct session_mgr *sm, uint64_t id)
{
	size_t i;

	for (i = 0; i < sm->nending && sm->ending_ids[i] != id; i++)
		;
	return i;
}

static void
sm_ending_add(struct session_mgr *sm, uint64_t id)
{
	if (sm_ending_find(sm, id) < sm->nending)
		return;
	if (sm->nending == sm->capending) {
		sm->capending = sm->capending == 0 ? 16 : sm->capending * 2;
		sm->ending_ids = xreallocarray(sm->ending_ids, sm->capending,
		    sizeof *sm->ending_ids);
	}
	sm->ending_ids[sm->nending++] = id;
}

static void
sm_ending_del(struct session_mgr *sm, uint64_t id)
{
	size_t i = sm_ending_find(sm, id);

	if (i < sm->nending)
		sm->ending_ids[i] = sm->ending_ids[--sm->nending];
}

/* A new master's view (Chubby §2.9): every session in the state gets a
 * full lease from now, as long as the old master could have granted, and
 * is held to the fail-over rules until it sends a KeepAlive. */
static void
sm_take_over(struct session_mgr *sm, uint64_t epoch)
{
	const struct ns *ns = sm_ns(sm);
	uint64_t now = sm->now.mono_ms;
	size_t n = ns_session_count(ns);
	char line[160];

	if (epoch != sm->epoch || !sm->parking) {
		/* Clients flush their caches when they learn of the new epoch;
		 * the same epoch again (a lease regained) keeps what they cache,
		 * and the handles kept in memory. */
		sm_cache_clear(sm);
		mh_clear(sm->mh);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t id = ns_session_id(ns, i);
		if (ns_session_orphaned(ns, id)) {
			/* No lease: a claim window, from this take-over. */
			sm_orphan_add(sm, id);
			continue;
		}
		struct msess *s = sm_add(sm, id, ns_session_principal(ns, id), now);
		s->checked_in = false;
		if (epoch == sm->epoch && sm_ending_find(sm, id) < sm->nending) {
			/* Its expiry is still in the log: it ends, it does not
			 * come back, and it holds no write back. */
			s->ending = true;
			sm_sched(sm, s);
			continue;
		}
		if (!s->holding) {
			s->holding = true;
			sm->nhold++;
		}
	}
	/* The same epoch again: its clients see no fail-over, so the events
	 * kept since the lapse go out now, in order (to sessions still here). */
	for (size_t i = 0; i < sm->nparked && epoch == sm->epoch && sm->parking; i++) {
		struct pev *p = &sm->parked[i];
		struct msess *s = sm_find(sm, p->session);
		if (s != NULL && !s->ending) {
			sm_queue_event(sm, s, p->ev);
			p->ev.path = NULL;
		}
	}
	sm_parked_clear(sm);
	sm->active = true;
	sm->epoch = epoch;
	/* The term's stamps count from the wall clock as it reads now. */
	(void)sm_stamp(sm);
	sm_msg(line, sizeof line, "sessions: master in epoch ", epoch, " with ");
	sm_cat_u64(line, sizeof line, n);
	sm_cat(line, sizeof line, " sessions; each has ");
	sm_cat_u64(line, sizeof line, sm_lease_floor(sm));
	sm_cat(line, sizeof line, " ms to send a KeepAlive");
	sm_log(sm, SESSION_LOG_INFO, line);	/* An INIT_ACLS of an earlier term is the replica's to fail; a new
	 * one goes first (a duplicate is harmless). */
	sm->init_inflight = false;
}

bool
session_serving(struct session_mgr *sm, struct session_now now)
{
	uint64_t epoch = 0;

	sm->now = now;
	if (!sm->env.mastership(sm->env.arg, &epoch)) {
		if (sm->active)
			sm_step_down(sm);
		return false;
	}
	if (sm->active && sm->epoch != epoch)
		sm_step_down(sm);
	if (!sm->active)
		sm_take_over(sm, epoch);
	/* A new cell: INIT_ACLS before anything else (again, if the last
	 * proposal of it was refused). */
	if (sm_init_blocks(sm))
		sm_propose_init_acls(sm);
	return true;
}

bool
session_idle(const struct session_mgr *sm)
{
	return sm->active && sm->sess.n == 0 && sm->due.n == 0 && sm->gates == NULL &&
	    sm->nwaiters == 0 && sm->dirty == NULL && !sm->init_inflight && !sm->cap_inflight &&
	    !sm_init_blocks(sm);
}

const struct ns *
session_ns(const struct session_mgr *sm)
{
	return sm_ns(sm);
}

struct mh_table *
session_mhandles(struct session_mgr *sm)
{
	return sm->mh;
}

uint64_t
session_mhandles_epoch(const struct session_mgr *sm)
{
	/* Serving in sm->epoch, or stepped down from it and parking (its
	 * handles kept for a lease regained in it); neither once a later
	 * epoch's command has dropped them (sm_parked_clear). */
	return sm->active || sm->parking ? sm->epoch : 0;
}

uint64_t
session_epoch(const struct session_mgr *sm)
{
	uint64_t epoch = 0;

	(void)sm->env.mastership(sm->env.arg, &epoch);
	return epoch;
}

struct session_now
session_last_now(const struct session_mgr *sm)
{
	return sm->now;
}

/* The stamp for a command proposed at the time of the latest event. */
static uint64_t
sm_stamp(struct session_mgr *sm)
{
	uint64_t epoch = 0;

	(void)sm->env.mastership(sm->env.arg, &epoch);
	return ns_stamp_now(&sm->stamps, epoch, ns_last_stamp(sm_ns(sm)), sm->now.real_ms,
	    sm->now.mono_ms);
}

uint64_t
session_stamp(struct session_mgr *sm, struct session_now now)
{
	sm->now = now;
	return sm_stamp(sm);
}

/* --- checks -------------------------------------------------------------- */

int
session_check(struct session_mgr *sm, struct session_now now, uint64_t session, uint64_t epoch,
    const char *principal, char *msg, size_t msglen)
{
	struct msess *s;

	if (!session_serving(sm, now))
		return CHUBBY_E_NOT_MASTER;
	if (epoch != sm->epoch) {
		sm_msg(msg, msglen, "request for epoch ", epoch, "; the master's epoch is ");
		sm_cat_u64(msg, msglen, sm->epoch);
		return CHUBBY_E_BAD_EPOCH;
	}
	if ((s = sm_find(sm, session)) == NULL || s->ending) {
		sm_msg(msg, msglen, "session ", session, " does not exist (expired or ended)");
		return CHUBBY_E_SESSION_EXPIRED;
	}
	if (principal == NULL || strcmp(principal, s->principal) != 0) {
		sm_msg(msg, msglen, "session ", session, " belongs to another principal");
		return CHUBBY_E_PERMISSION;
	}
	return CHUBBY_OK;
}

/* --- KeepAlives ------------------------------------------------------------ */

static void
sm_ack(struct session_mgr *sm, struct msess *s, const uint64_t *acks, size_t nacks)
{
	size_t i, j, k = 0;
	bool any = false;

	for (i = 0; i < s->ninv; i++) {
		bool acked = false;
		for (j = 0; j < nacks && !acked; j++)
			acked = acks[j] == s->inv[i].id;
		if (acked) {
			sm_gate_uncount(sm, &s->inv[i]);
			free(s->inv[i].path);
			any = true;
		} else {
			s->inv[k++] = s->inv[i];
		}
	}
	s->ninv = k;
	if (any)
		sm_gates_advance(sm);
}

void
session_keepalive(struct session_mgr *sm, struct session_now at, uint64_t session,
    uint64_t hold_ms, const uint64_t *acks, size_t nacks, const uint64_t *ev_ack, void *q)
{
	struct msess *s = sm_find(sm, session);
	uint64_t now = at.mono_ms, left, hold;
	bool was_checked_in;

	sm->now = at;
	if (s == NULL) {
		sm_reply(sm, q, CHUBBY_E_SESSION_EXPIRED, "session expired", NULL, 0);
		return;
	}
	was_checked_in = s->checked_in;
	s->checked_in = true;
	sm_unhold(sm, s);
	/* A client that sends no ev_ack (before event ids) has its events
	 * forgotten once sent, as before. */
	s->ev_acking = ev_ack != NULL;
	if (ev_ack != NULL)
		sm_ev_ack(s, *ev_ack);
	if (s->ka != NULL)
		sm_ka_reply(sm, s); /* a newer KeepAlive answers the older at once */
	/* What that answer carried the client will not read: it has moved on
	 * to this request (after a lost connection); this one carries it. */
	if (ev_ack != NULL)
		for (size_t i = 0; i < s->nev; i++)
			s->ev[i].sent = false;
	sm_ack(sm, s, acks, nacks);
	if (!was_checked_in && sm->nhold == 0)
		sm_gates_advance(sm);
	left = s->lease_end > now ? s->lease_end - now : 0;
	hold = left > SM_HOLD_MARGIN_MS ? left - SM_HOLD_MARGIN_MS : 0;
	if (hold_ms < hold)
		hold = hold_ms;
	s->ka = q;
	sm->nka++;
	s->ka_arrived = now;
	s->ka_deadline = now + hold;
	if (hold == 0 || sm_has_unsent(s))
		sm_ka_reply(sm, s);
	else
		sm_sched(sm, s);
}

/* --- writes, invalidations, the fail-over hold ------------------------- */

/*
 * While a new master waits for sessions to come back (Chubby §2.9): the
 * sessions not checked in whose lease has not ended, counted (nhold) as
 * they check in, end or run out of lease, so that the question costs
 * nothing with 100 000 sessions.  Likewise a gate counts (nwait) the
 * invalidations it still waits for.
 */
static void
sm_gate_uncount(struct session_mgr *sm, struct sinv *v)
{
	if (!v->counted)
		return;
	v->counted = false;
	for (struct gate *g = sm->gates; g != NULL; g = g->next)
		if (g->id == v->id) {
			g->nwait--;
			return;
		}
}

/* S's lease ended with no KeepAlive held: its client no longer trusts its
 * cache nor counts as coming back. */
static void
sm_lease_over(struct session_mgr *sm, struct msess *s)
{
	sm_unhold(sm, s);
	for (size_t i = 0; i < s->ninv; i++)
		sm_gate_uncount(sm, &s->inv[i]);
}

/* --- the nodes gates name ------------------------------------------------ */

static struct gpath *
sm_gpath_find(const struct session_mgr *sm, const char *path)
{
	uint64_t h = sm_hash_path(path);

	for (struct sm_hnode *n = sm_htab_chain(&sm->gpaths, h); n != NULL; n = n->next) {
		struct gpath *gp = SM_CONTAINER(n, struct gpath, hn);
		if (n->hash == h && strcmp(gp->path, path) == 0)
			return gp;
	}
	return NULL;
}

static struct gpath *
sm_gpath_get(struct session_mgr *sm, const char *path)
{
	struct gpath *gp = sm_gpath_find(sm, path);

	if (gp != NULL)
		return gp;
	gp = xcalloc(1, sizeof *gp);
	gp->path = xstrdup(path);
	sm_htab_add(&sm->gpaths, &gp->hn, sm_hash_path(path));
	return gp;
}

/* Frees GP once no write in flight concerns it. */
static void
sm_gpath_put(struct session_mgr *sm, struct gpath *gp)
{
	if (gp->ngates > 0 || gp->nclosing > 0)
		return;
	sm_htab_del(&sm->gpaths, &gp->hn);
	free(gp->path);
	free(gp);
}

static struct gate *
sm_gate_new(struct session_mgr *sm, const uint8_t *cmd, size_t len, session_done_fn done,
    void *arg)
{
	struct gate *g = xcalloc(1, sizeof *g);

	g->sm = sm;
	g->id = ++sm->next_inval;
	g->cmd = xmemdup(cmd, len);
	g->len = len;
	g->done = done;
	g->arg = arg;
	return g;
}

/* G invalidates the cachers of PATH (named once). */
static void
sm_gate_add_path(struct session_mgr *sm, struct gate *g, const char *path)
{
	struct gpath *gp = sm_gpath_get(sm, path);

	for (size_t i = 0; i < g->npaths; i++)
		if (g->paths[i] == gp)
			return;
	g->paths = xreallocarray(g->paths, g->npaths + 1, sizeof *g->paths);
	g->paths[g->npaths++] = gp;
	gp->ngates++;
}

/* Releases what G holds in the node table and frees it; G is out of the
 * gate list. */
static void
sm_gate_free(struct session_mgr *sm, struct gate *g)
{
	size_t i, k;

	for (i = 0; i < g->ncloses; i++)
		g->closes[i].gp->nclosing -= g->closes[i].n;
	for (i = 0; i < g->npaths; i++) {
		g->paths[i]->ngates--;
		g->paths[i]->nrecords -= g->record;
		sm_gpath_put(sm, g->paths[i]);
	}
	/* A node among the paths is freed above already if nothing else
	 * holds it: put only the others. */
	for (i = 0; i < g->ncloses; i++) {
		for (k = 0; k < g->npaths && g->paths[k] != g->closes[i].gp; k++)
			;
		if (k == g->npaths)
			sm_gpath_put(sm, g->closes[i].gp);
	}
	free(g->paths);
	free(g->closes);
	free(g->cmd);
	free(g);
}

/* --- sending invalidations, proposing in order ----------------------------- */

static void
sm_send_invals(struct session_mgr *sm, struct gate *g)
{
	uint64_t now = sm->now.mono_ms;

	for (size_t i = 0; i < g->npaths; i++) {
		const char *path = g->paths[i]->path;
		struct cacher **cp = &sm->cache[sm_hash_str(path)];

		while (*cp != NULL) {
			struct cacher *c = *cp;
			struct msess *s;
			if (strcmp(c->path, path) != 0) {
				cp = &c->next;
				continue;
			}
			*cp = c->next;
			if ((s = sm_find(sm, c->session)) != NULL) {
				if (s->ninv == s->invcap) {
					s->invcap = s->invcap ? 2 * s->invcap : 4;
					s->inv = xreallocarray(s->inv, s->invcap, sizeof *s->inv);
				}
				s->inv[s->ninv].id = g->id;
				s->inv[s->ninv].path = xstrdup(path);
				s->inv[s->ninv].sent = false;
				/* A session whose lease ended is not waited for, nor one
				 * that is ending by this very write. */
				s->inv[s->ninv].counted = s->lease_end > now && s->id != g->exempt;
				g->nwait += s->inv[s->ninv].counted;
				s->ninv++;
				sm->st.invalidations++;
				if (s->ka != NULL)
					sm_ka_reply(sm, s);
			}
			free(c->path);
			free(c);
		}
	}
	g->sent_invals = true;
}

static void
sm_gate_done(int status, const struct ns_result *res, void *arg)
{
	struct gate *g = arg;
	struct session_mgr *sm = g->sm;

	for (struct gate **gp = &sm->gates; *gp != NULL; gp = &(*gp)->next)
		if (*gp == g) {
			*gp = g->next;
			sm->ngates--;
			sm->nexpiry_gates -= g->expiry;
			break;
		}
	g->done(status, res, g->arg);
	sm_gate_free(sm, g);
}

static void
sm_gate_propose(struct session_mgr *sm, struct gate *g)
{
	int rc;

	g->proposed = true;
	rc = sm_submit(sm, g->cmd, g->len, sm_gate_done, g);
	if (rc != CHUBBY_OK)
		sm_gate_done(rc, NULL, g);
}

/* Whether an earlier gate not yet proposed names one of G's nodes: one
 * walk of the list marks them (gpath.pass), so the check costs each gate
 * its own paths, not a comparison with every gate ahead. */
static bool
sm_gate_blocked(const struct gate *g, uint64_t pass)
{
	/* SIM_KNOB: broken on purpose in the simulator only (gates in no order). */
	if (SIM_KNOB(SIM_KNOB_GATES_UNORDERED))
		return false;
	for (size_t i = 0; i < g->npaths; i++)
		if (g->paths[i]->pass == pass)
			return true;
	return false;
}

static void
sm_gates_advance(struct session_mgr *sm)
{
	struct gate *g, *next;

	/* Not re-entered: a proposal applied at once (a one-replica cell)
	 * may answer requests that come back here; the walk runs again. */
	if (sm->advancing) {
		sm->advance_again = true;
		return;
	}
	if (sm->gates == NULL || !sm->active)
		return;
	if (sm->nhold > 0)
		return;
	sm->advancing = true;
	do {
		uint64_t pass = ++sm->pass;

		sm->advance_again = false;
		for (g = sm->gates; g != NULL; g = next) {
			next = g->next;
			if (g->proposed)
				continue;
			if (!sm_gate_blocked(g, pass)) {
				if (!g->sent_invals)
					sm_send_invals(sm, g);
				if (g->nwait == 0) {
					sm_gate_propose(sm, g);
					continue;
				}
			}
			for (size_t i = 0; i < g->npaths; i++)
				g->paths[i]->pass = pass;
		}
	} while (sm->advance_again && sm->active && sm->nhold == 0);
	sm->advancing = false;
}

/* Puts G at the end of the gate list and lets it go if it may. */
static void
sm_gate_queue(struct session_mgr *sm, struct gate *g)
{
	struct gate **tail;

	for (tail = &sm->gates; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = g;
	sm->ngates++;
	sm->nexpiry_gates += g->expiry;
	sm_gates_advance(sm);
}

/* Whether node PATH exists in the applied state. */
static bool
sm_node_exists(const struct session_mgr *sm, const char *path)
{
	int rc = ns_check_access(sm_ns(sm), "", path, NS_ACL_READ);

	return rc == CHUBBY_OK || rc == CHUBBY_E_PERMISSION;
}

/* Whether CMD is a RELEASE, bare or inside a request id (NS_CMD_REQ) and
 * a handle in memory (NS_CMD_MEM), as the service proposes one; its
 * session and handle if so. */
static bool
sm_peek_release(const uint8_t *cmd, size_t len, int depth, uint64_t *session, uint64_t *handle)
{
	msgpack_unpacked u;
	size_t off = 0;
	bool ok = false;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)cmd, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 4 &&
	    u.data.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		const msgpack_object *o = u.data.via.array.ptr;
		uint32_t n = u.data.via.array.size;
		uint64_t type = o[0].via.u64;
		/* Where the inner command is: REQ [.., rid, floor, inner],
		 * MEM [.., handle, path, instance, flags, poisoned, inner]. */
		uint32_t in = type == NS_CMD_REQ ? 5 : type == NS_CMD_MEM ? 8 : 0;

		if (type == NS_CMD_RELEASE && o[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
			*session = o[2].via.u64;
			*handle = o[3].via.u64;
			ok = true;
		} else if (in != 0 && depth < 2 && n == in + 1 && o[in].type == MSGPACK_OBJECT_BIN)
			ok = sm_peek_release((const uint8_t *)o[in].via.bin.ptr, o[in].via.bin.size,
			    depth + 1, session, handle);
	}
	msgpack_unpacked_destroy(&u);
	return ok;
}

/* CMD, a RELEASE of a lock on PATH, was just proposed: the lock's first
 * waiters get their ACQUIREs proposed now, right behind it, rather than
 * once it has applied.  The log applies them in that order, so they find
 * the lock freed; a hand-off costs one commit round instead of two in
 * series (BENCHMARKS.md "Where lock-contended's tail comes from").  If
 * the RELEASE frees nothing after all, they are refused and wait on, as
 * after a race lost. */
static void
sm_release_proposed(struct session_mgr *sm, const char *path, const uint8_t *cmd, size_t len)
{
	uint64_t session, handle;
	struct lockq *lq;

	if (sm->kicking || !sm->active || (lq = sm_lockq_find(sm, path)) == NULL ||
	    lq->head == NULL)
		return;
	if (!sm_peek_release(cmd, len, 0, &session, &handle))
		return;
	sm->rel_path = path;
	sm->rel_session = session;
	sm->rel_handle = handle;
	sm_lockq_dirty(sm, lq);
	sm_kick_dirty(sm);
	sm->rel_path = NULL;
}

void
session_write(struct session_mgr *sm, struct session_now now, enum session_write_kind kind,
    const char *path, const uint8_t *cmd, size_t len, session_done_fn done, void *arg)
{
	struct gpath *gp;
	struct gate *g;
	bool frees = false;
	int rc;

	sm->now = now;
	if (sm_init_blocks(sm)) {
		done(CHUBBY_E_UNAVAILABLE, NULL, arg);
		return;
	}
	/* OPEN with CREATE of a node that exists, with no write of it in
	 * flight, cannot create it: every write that ends a node is a gate
	 * naming it. */
	if (kind == SESSION_WRITE_CREATE && path != NULL && sm_node_exists(sm, path) &&
	    ((gp = sm_gpath_find(sm, path)) == NULL || gp->ngates == 0))
		kind = SESSION_WRITE_PLAIN;
	/* SIM_KNOB: broken on purpose in the simulator only (existence ungated). */
	if (kind == SESSION_WRITE_CREATE && SIM_KNOB(SIM_KNOB_UNGATED_EXISTENCE))
		kind = SESSION_WRITE_PLAIN;
	/* A RELEASE that clears no record now may still clear one a write in
	 * flight is about to make: it goes in order behind it. */
	if (kind == SESSION_WRITE_FREE) {
		kind = path != NULL && (gp = sm_gpath_find(sm, path)) != NULL && gp->ngates > 0 ?
		    SESSION_WRITE_NODE : SESSION_WRITE_PLAIN;
		frees = kind == SESSION_WRITE_PLAIN;
	}
	/* SIM_KNOB: broken on purpose in the simulator only (no gate). */
	if (kind == SESSION_WRITE_PLAIN || path == NULL || SIM_KNOB(SIM_KNOB_WRITE_NO_GATE)) {
		rc = sm_submit(sm, cmd, len, done, arg);
		if (rc != CHUBBY_OK)
			done(rc, NULL, arg);
		else if (frees && path != NULL)
			sm_release_proposed(sm, path, cmd, len);
		return;
	}
	g = sm_gate_new(sm, cmd, len, done, arg);
	sm_gate_add_path(sm, g, path);
	if (kind == SESSION_WRITE_RECORD) {
		g->record = true;
		g->paths[0]->nrecords++;
	}
	sm_gate_queue(sm, g);
}

/* Counts, in G, the handle ID of SESSION if its node is an ephemeral
 * file. */
static void
sm_gate_note_close(struct session_mgr *sm, struct gate *g, uint64_t session, uint64_t id)
{
	const struct ns *ns = sm_ns(sm);
	struct gpath *gp;
	bool eph = false;
	size_t nh = 0, i;

	if (!ns_handle_node(ns, session, id, &eph, &nh) || !eph)
		return;
	gp = sm_gpath_get(sm, ns_handle_path(ns, session, id, NULL));
	for (i = 0; i < g->ncloses && g->closes[i].gp != gp; i++)
		;
	if (i == g->ncloses) {
		g->closes = xreallocarray(g->closes, g->ncloses + 1, sizeof *g->closes);
		g->closes[i].gp = gp;
		g->closes[i].n = 0;
		g->closes[i].nhandles = nh;
		g->ncloses++;
	}
	g->closes[i].n++;
}

/* Gates G on the node of handle ID of SESSION if closing it clears a lock
 * record (docs/NAMESPACE.md "Lock records"): now, or after a record's
 * write of the node in flight, not applied yet.  Without the latter, a
 * session could cache the record between its entry and the close's, and
 * keep it after the close cleared it.  Only behind a record's write: an
 * expiry behind any write of the node would keep its locks while that
 * write waits for cachers.  Behind one that waits for acknowledgements
 * this waits too, but not for those an ending session owed when its end
 * came (sm_gate_note_end). */
static void
sm_gate_note_record(struct session_mgr *sm, struct gate *g, uint64_t session, uint64_t id)
{
	const struct ns *ns = sm_ns(sm);
	const struct gpath *gp;
	const char *path;
	bool eph;
	size_t nh;

	if ((path = ns_handle_path(ns, session, id, NULL)) == NULL ||
	    !ns_handle_node(ns, session, id, &eph, &nh))
		return;
	if (ns_handle_frees_record(ns, session, id) ||
	    ((gp = sm_gpath_find(sm, path)) != NULL && gp->nrecords > 0))
		sm_gate_add_path(sm, g, path);
}

/* SESSION's end is on its way in G: no write waits any longer for the
 * acknowledgements SESSION owes, nor does G for those it is sent.  Its
 * client has given up the session and its cache (an expired one has no
 * lease left to trust it by), and a write that waited for it could hold
 * back that very end, gated behind the write on a node of the session
 * until the lease ran out.  (An invalidation a write still held back
 * sends it later is waited for as any: until the end applies or the
 * lease ends.) */
static void
sm_gate_note_end(struct session_mgr *sm, struct gate *g, uint64_t session)
{
	struct msess *s = sm_find(sm, session);

	g->exempt = session;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ninv; i++)
		sm_gate_uncount(sm, &s->inv[i]);
}

void
session_write_close(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, const uint8_t *cmd, size_t len, session_done_fn done, void *arg)
{
	sm_write_close(sm, now, session, handle, 0, cmd, len, done, arg, false);
}

void
session_write_client_end(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t client, const uint8_t *cmd, size_t len, session_done_fn done, void *arg)
{
	sm_write_close(sm, now, session, 0, client, cmd, len, done, arg, false);
}

/* As session_write_close, or for CLIENT's handles of SESSION (CLIENT_END);
 * EXPIRY: the layer's own (sm_expire), which no request waits for. */
static void
sm_write_close(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, uint64_t client, const uint8_t *cmd, size_t len, session_done_fn done,
    void *arg, bool expiry)
{
	struct gate *g;
	size_t i, n;

	sm->now = now;
	/* SIM_KNOB: broken on purpose in the simulator only (a reap ungated). */
	if (SIM_KNOB(SIM_KNOB_UNGATED_EXISTENCE)) {
		session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, done, arg);
		return;
	}
	g = sm_gate_new(sm, cmd, len, done, arg);
	g->expiry = expiry;
	if (handle != 0) {
		sm_gate_note_close(sm, g, session, handle);
		sm_gate_note_record(sm, g, session, handle);
	} else if (client != 0) {
		/* A proxy's client's handles (CLIENT_END): its session lives on
		 * and acknowledges as any other. */
		uint64_t *ids;

		n = ns_client_handles(sm_ns(sm), session, client, NULL, 0);
		ids = xcalloc(n + 1, sizeof *ids);
		n = ns_client_handles(sm_ns(sm), session, client, ids, n);
		for (i = 0; i < n; i++) {
			sm_gate_note_close(sm, g, session, ids[i]);
			sm_gate_note_record(sm, g, session, ids[i]);
		}
		free(ids);
	} else {
		uint64_t *ids;

		n = ns_session_handles(sm_ns(sm), session, NULL, 0);
		ids = xcalloc(n + 1, sizeof *ids);
		n = ns_session_handles(sm_ns(sm), session, ids, n);
		for (i = 0; i < n; i++) {
			sm_gate_note_close(sm, g, session, ids[i]);
			sm_gate_note_record(sm, g, session, ids[i]);
		}
		free(ids);
		sm_gate_note_end(sm, g, session);
	}
	/*
	 * It may reap a node if the node's other handles are all being closed
	 * by writes in flight (nclosing).  Over-counting only gates a write
	 * that reaps nothing; an OPEN in flight adds a handle and does the
	 * same.  Then its closes count for the writes that come after.
	 */
	for (i = 0; i < g->ncloses; i++) {
		struct gclose *c = &g->closes[i];
		if (c->nhandles <= c->n + c->gp->nclosing)
			sm_gate_add_path(sm, g, c->gp->path);
		c->gp->nclosing += c->n;
	}
	if (g->ncloses == 0 && g->npaths == 0) {
		/* No ephemeral file, no lock record: a plain write. */
		sm_gate_free(sm, g);
		session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, done, arg);
	} else if (g->npaths == 0) {
		/* Reaps nothing: proposed at once, but counted while in flight. */
		sm_gate_propose(sm, g);
	} else {
		sm_gate_queue(sm, g);
	}
	/* Writes that waited for the ending session may go now. */
	if (handle == 0)
		sm_gates_advance(sm);
}

bool
session_cache_note(struct session_mgr *sm, uint64_t session, const char *path)
{
	const struct gpath *gp = sm_gpath_find(sm, path);

	if (gp != NULL && gp->ngates > 0)
		return false;
	sm_cache_add(sm, session, path);
	return true;
}

/* --- locks that wait ------------------------------------------------------ */

int
session_pack_grant(struct session_mgr *sm, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *outlen)
{
	struct ns_result res;
	struct seqtoken t;
	uint8_t *tok = NULL;
	size_t toklen = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	ns_result_init(&res);
	rc = ns_get_sequencer(sm_ns(sm), session, handle, &res);
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		return rc;
	}
	memset(&t, 0, sizeof t);
	t.cell[0] = t.path[0] = '\0';
	sm_cat(t.cell, sizeof t.cell, sm->cell);
	sm_cat(t.path, sizeof t.path, res.seq.path);
	t.mode = res.seq.mode;
	t.lock_gen = res.seq.lock_gen;
	t.instance = res.seq.instance;
	rc = sm->env.sign(sm->env.arg, &t, &tok, &toklen);
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		return rc;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	mp_pack_kv_uint(&pk, "lock_gen", t.lock_gen);
	mp_pack_kv_bin(&pk, "sequencer", tok, toklen);
	mp_pack_kv_str(&pk, "path", t.path);
	mp_pack_kv_uint(&pk, "mode", (uint64_t)t.mode);
	mp_pack_kv_uint(&pk, "instance", t.instance);
	mp_pack_kv_uint(&pk, "session", session);
	free(tok);
	ns_result_free(&res);
	*out = (uint8_t *)sb.data; /* msgpack_sbuffer's buffer is malloc'd */
	*outlen = sb.size;
	return CHUBBY_OK;
}

/*
 * Waiters live in one FIFO queue per lock, so a lock change looks only at
 * that lock's queue.  A queue is walked in arrival order: an ACQUIRE is
 * proposed for the first waiter if the lock looks free; a run of shared
 * waiters is proposed together; anything behind a proposed (in flight)
 * exclusive waiter, or behind a waiter that must wait, waits too.  So a
 * hand-off costs one ACQUIRE, and a writer is not starved by a stream of
 * readers.  Waiters behind are still checked for a handle gone or a mode
 * the namespace would refuse, so that they hear of it at once.
 */

static struct lockq *
sm_lockq_find(const struct session_mgr *sm, const char *path)
{
	uint64_t h = sm_hash_path(path);

	for (struct sm_hnode *n = sm_htab_chain(&sm->locks, h); n != NULL; n = n->next) {
		struct lockq *lq = SM_CONTAINER(n, struct lockq, hn);
		if (n->hash == h && strcmp(lq->path, path) == 0)
			return lq;
	}
	return NULL;
}

static struct lockq *
sm_lockq_get(struct session_mgr *sm, const char *path)
{
	struct lockq *lq = sm_lockq_find(sm, path);

	if (lq != NULL)
		return lq;
	lq = xcalloc(1, sizeof *lq);
	lq->path = xstrdup(path);
	sm_htab_add(&sm->locks, &lq->hn, sm_hash_path(path));
	return lq;
}

/* LQ is looked at by the next kick (and freed there if empty). */
static void
sm_lockq_dirty(struct session_mgr *sm, struct lockq *lq)
{
	if (lq->dirty)
		return;
	lq->dirty = true;
	lq->dnext = sm->dirty;
	sm->dirty = lq;
}

/* Calls FN on every queue; FN may not free queues. */
static void
sm_lockq_each(struct session_mgr *sm, void (*fn)(struct session_mgr *, struct lockq *))
{
	for (size_t b = 0; b < sm->locks.nb; b++)
		for (struct sm_hnode *n = sm->locks.b[b]; n != NULL; n = n->next)
			fn(sm, SM_CONTAINER(n, struct lockq, hn));
}

static void
sm_lockq_dirty_if_delayed(struct session_mgr *sm, struct lockq *lq)
{
	if (lq->delayed)
		sm_lockq_dirty(sm, lq);
}

static void
waiter_free(struct waiter *w)
{
	free(w->mpath);
	free(w);
}

static void
sm_waiter_unlink(struct session_mgr *sm, struct waiter *w)
{
	struct lockq *lq = w->lq;
	struct msess *s;

	if (lq == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		lq->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		lq->tail = w->prev;
	w->prev = w->next = NULL;
	w->lq = NULL;
	sm_heap_del(&sm->due, &w->due);
	sm->nwaiters--;
	if ((s = sm_find(sm, w->session)) != NULL && s->nwaiters > 0)
		s->nwaiters--;
	/* Those behind it may go now; an empty queue is freed by the kick. */
	sm_lockq_dirty(sm, lq);
}

/* Answers W's request with STATUS and unlinks it; frees it unless its
 * proposal is still out (then its callback frees it). */
static void
sm_fail_waiter(struct session_mgr *sm, struct waiter *w, int status, const char *msg)
{
	sm_waiter_unlink(sm, w);
	if (w->q != NULL)
		sm_reply(sm, w->q, status, msg, NULL, 0);
	w->q = NULL;
	if (w->in_flight)
		w->orphan = true;
	else
		waiter_free(w);
}

/* Fails the waiters of SESSION (0: all), and of its HANDLE only if HANDLE
 * is not 0, with STATUS.  Walks every queue: for a session end that had
 * waiters, a handle closed while it waited, and at step-down. */
static void
sm_fail_waiters(struct session_mgr *sm, uint64_t session, uint64_t handle, int status,
    const char *why)
{
	for (size_t b = 0; b < sm->locks.nb; b++)
		for (struct sm_hnode *n = sm->locks.b[b]; n != NULL; n = n->next) {
			struct lockq *lq = SM_CONTAINER(n, struct lockq, hn);
			struct waiter *w, *next;
			for (w = lq->head; w != NULL; w = next) {
				next = w->next;
				if ((session == 0 || w->session == session) &&
				    (handle == 0 || w->handle == handle))
					sm_fail_waiter(sm, w, status, why);
			}
		}
}

void
session_handle_closed(struct session_mgr *sm, uint64_t session, uint64_t handle)
{
	sm_fail_waiters(sm, session, handle, CHUBBY_E_BAD_HANDLE,
	    "the handle was closed while it waited for the lock");
	sm_kick_dirty(sm);
}

static void
sm_reply_delay(struct session_mgr *sm, void *q, const struct ns_result *res)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_pack_kv_uint(&pk, "delay_until_ms", res->delay_until_ms);
	sm_reply(sm, q, CHUBBY_E_LOCK_DELAY, res->msg[0] ? res->msg : NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void
sm_acquire_done(int status, const struct ns_result *res, void *arg)
{
	struct waiter *w = arg;
	struct session_mgr *sm = w->sm;
	uint8_t *out = NULL;
	size_t outlen = 0;

	w->in_flight = false;
	if (w->orphan) {
		waiter_free(w);
		return;
	}
	if (status == CHUBBY_OK) {
		int rc = session_pack_grant(sm, w->session, w->handle, &out, &outlen);
		sm_waiter_unlink(sm, w);
		if (rc == CHUBBY_OK)
			sm_reply(sm, w->q, CHUBBY_OK, NULL, out, outlen);
		else
			sm_reply(sm, w->q, rc, "lock granted but its sequencer cannot be made", NULL,
			    0);
		free(out);
		waiter_free(w);
	} else if (w->wait && (status == CHUBBY_E_BUSY || status == CHUBBY_E_LOCK_DELAY)) {
		/* Refused (the first waiter's probe, or a race lost): wait on. */
		sm_lockq_dirty(sm, w->lq);
	} else {
		sm_waiter_unlink(sm, w);
		if (status == CHUBBY_E_LOCK_DELAY && res != NULL)
			sm_reply_delay(sm, w->q, res);
		else
			sm_reply(sm, w->q, status, res != NULL && res->msg[0] ? res->msg : NULL, NULL,
			    0);
		waiter_free(w);
	}
	sm_kick_dirty(sm);
}

static void
sm_propose_acquire(struct session_mgr *sm, struct waiter *w)
{
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	rc = ns_encode_acquire(sm_stamp(sm), w->session, w->handle, w->mode, &cmd, &len);
	if (rc == CHUBBY_OK && w->mpath != NULL) {
		/* A handle in memory: the grant makes it replicated. */
		uint8_t *mem = NULL;
		size_t mlen = 0;

		rc = ns_encode_mem(sm_stamp(sm), w->session, w->handle, w->mpath, w->minstance,
		    w->mflags, w->mpoisoned, cmd, len, &mem, &mlen);
		free(cmd);
		cmd = mem;
		len = mlen;
	}
	if (rc == CHUBBY_OK && w->rid != 0) {
		/* Proposed as often as it is refused, under one id: only the
		 * grant is recorded, and a copy of it answers with the grant. */
		uint8_t *req = NULL;
		size_t rlen = 0;

		rc = ns_encode_req(sm_stamp(sm), w->session, w->rid, w->rid_floor, cmd, len, &req,
		    &rlen);
		free(cmd);
		cmd = req;
		len = rlen;
	}
	if (rc != CHUBBY_OK) {
		sm_acquire_done(rc, NULL, w);
		return;
	}
	w->in_flight = true;
	rc = sm_submit(sm, cmd, len, sm_acquire_done, w);
	free(cmd);
	if (rc != CHUBBY_OK) {
		w->wait = false; /* no point waiting at a replica that cannot propose */
		sm_acquire_done(rc, NULL, w);
	}
}

/* The mode LQ's lock is held in as ST has it, unless a RELEASE just
 * proposed (sm->rel_*) frees it: its handle holds it exclusive, or is its
 * last shared holder.  An ACQUIRE proposed now goes behind that RELEASE in
 * the log, so it applies to the lock as freed. */
static int
sm_lock_mode_after_release(const struct session_mgr *sm, const struct lockq *lq,
    const struct ns_stat *st)
{
	int rheld = NS_LOCK_NONE;

	if (sm->rel_path == NULL || st->lock_mode == NS_LOCK_NONE ||
	    strcmp(sm->rel_path, lq->path) != 0 ||
	    ns_handle_path(sm_ns(sm), sm->rel_session, sm->rel_handle, &rheld) == NULL)
		return st->lock_mode;
	if (rheld == NS_LOCK_EXCLUSIVE || (rheld == NS_LOCK_SHARED && st->lock_holders == 1))
		return NS_LOCK_NONE;
	return st->lock_mode;
}

/* One pass over LQ in arrival order (see above).  A proposal may apply
 * and answer its waiter within sm_propose_acquire (a one-replica cell);
 * only that waiter, so the next one is taken first. */
static void
sm_lockq_kick(struct session_mgr *sm, struct lockq *lq)
{
	const struct ns *ns = sm_ns(sm);
	uint64_t now_real = sm_stamp(sm); /* lock-delays are in stamp time */
	struct ns_result res;
	struct waiter *w, *next;
	bool blocked = false, shared_ahead = false;

	lq->delayed = false;
	ns_result_init(&res);
	for (w = lq->head; w != NULL; w = next) {
		int held = 0, mode = w->mode, lock_mode;
		bool free_now;

		next = w->next;
		if (w->in_flight) {
			if (mode == NS_LOCK_EXCLUSIVE)
				blocked = true;
			else
				shared_ahead = true;
			continue;
		}
		if (ns_handle_path(ns, w->session, w->handle, &held) == NULL && w->mpath != NULL) {
			/* A handle in memory, not made in the namespace yet (or
			 * dropped again): its node by name. */
			held = NS_LOCK_NONE;
			if (ns_path_stat(ns, w->mpath, w->minstance, &res) != CHUBBY_OK) {
				sm_fail_waiter(sm, w, res.status, res.msg);
				continue;
			}
		} else if (ns_handle_path(ns, w->session, w->handle, &held) == NULL ||
		    ns_get_stat(ns, w->session, w->handle, &res) != CHUBBY_OK) {
			/* The handle or its node went: tell the waiter why. */
			sm_fail_waiter(sm, w, res.status != CHUBBY_OK ? res.status : CHUBBY_E_BAD_HANDLE,
			    res.msg[0] ? res.msg : "the handle is gone");
			continue;
		}
		lock_mode = sm_lock_mode_after_release(sm, lq, &res.stat);
		if (held != NS_LOCK_NONE && held != mode) {
			/* It would wait for itself: the namespace refuses a change of
			 * mode; say so now rather than at the timeout. */
			sm_fail_waiter(sm, w, CHUBBY_E_BUSY,
			    "the handle holds the lock in the other mode; release it first");
			continue;
		}
		if (blocked)
			continue;
		/* Free as the applied state has it, less what is proposed ahead:
		 * an exclusive ACQUIRE in flight blocks everything (above); a
		 * shared one blocks an exclusive waiter only. */
		if (held != 0)
			free_now = true;
		else if (mode == NS_LOCK_EXCLUSIVE)
			free_now = !shared_ahead && lock_mode == NS_LOCK_NONE;
		else
			free_now = lock_mode != NS_LOCK_EXCLUSIVE;
		if ((free_now && res.stat.lock_delay_until_ms <= now_real) || !w->wait) {
			sm_propose_acquire(sm, w);
			if (mode == NS_LOCK_EXCLUSIVE)
				blocked = true;
			else
				shared_ahead = true;
			continue;
		}
		if (free_now)
			lq->delayed = true; /* looked at again every SM_WAITER_SCAN_MS */
		blocked = true;
	}
	ns_result_free(&res);
}

/* Kicks every dirty queue, freeing those found empty.  Not re-entered: a
 * queue made dirty during a kick (a proposal that applied at once) is
 * kicked by the same loop. */
static void
sm_kick_dirty(struct session_mgr *sm)
{
	struct lockq *lq;

	if (sm->kicking || !sm->active)
		return;
	sm->kicking = true;
	while ((lq = sm->dirty) != NULL) {
		sm->dirty = lq->dnext;
		lq->dnext = NULL;
		lq->dirty = false;
		if (lq->head != NULL)
			sm_lockq_kick(sm, lq);
		/* A RELEASE just proposed counts as freeing its lock for one
		 * pass only: an ACQUIRE that applied within it (a one-replica
		 * cell) and was refused, as the RELEASE freed nothing, makes the
		 * queue dirty again, and the next pass must see the lock held
		 * or it would propose that ACQUIRE for ever. */
		if (sm->rel_path != NULL && strcmp(sm->rel_path, lq->path) == 0)
			sm->rel_path = NULL;
		if (lq->head == NULL && !lq->dirty) {
			sm_htab_del(&sm->locks, &lq->hn);
			free(lq->path);
			free(lq);
		}
	}
	sm->kicking = false;
}

/* At step-down, with every waiter failed: the queues go. */
static void
sm_lockq_free_all(struct session_mgr *sm)
{
	for (size_t b = 0; b < sm->locks.nb; b++)
		while (sm->locks.b[b] != NULL) {
			struct lockq *lq = SM_CONTAINER(sm->locks.b[b], struct lockq, hn);
			sm_htab_del(&sm->locks, &lq->hn);
			free(lq->path);
			free(lq);
		}
	sm->dirty = NULL;
}

void
session_acquire(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, int mode, uint64_t rid, uint64_t rid_floor, uint64_t timeout_ms, bool wait,
    void *q)
{
	session_acquire_mem(sm, now, session, handle, mode, rid, rid_floor, timeout_ms, wait, q,
	    NULL);
}

void
session_acquire_mem(struct session_mgr *sm, struct session_now now, uint64_t session,
    uint64_t handle, int mode, uint64_t rid, uint64_t rid_floor, uint64_t timeout_ms, bool wait,
    void *q, const struct session_mem_open *mo)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	const char *path = mo != NULL ? mo->path : ns_handle_path(sm_ns(sm), session, handle, NULL);
	struct lockq *lq = sm_lockq_get(sm, path != NULL ? path : "");
	bool queued_before = lq->head != NULL;
	struct msess *s = sm_find(sm, session);

	sm->now = now;
	w->sm = sm;
	sm_due_init(&w->due, SM_DUE_WAITER);
	w->session = session;
	w->handle = handle;
	w->mode = mode;
	w->rid = rid;
	w->rid_floor = rid_floor;
	w->wait = wait;
	w->q = q;
	w->lq = lq;
	if (mo != NULL) {
		w->mpath = xstrdup(mo->path);
		w->minstance = mo->instance;
		w->mflags = mo->flags;
		w->mpoisoned = mo->poisoned;
	}
	w->prev = lq->tail;
	if (lq->tail != NULL)
		lq->tail->next = w;
	else
		lq->head = w;
	lq->tail = w;
	sm->nwaiters++;
	if (s != NULL)
		s->nwaiters++;
	if (wait && timeout_ms > 0)
		sm_heap_set(&sm->due, &w->due, now.mono_ms + timeout_ms);
	/* A TRY_ACQUIRE, or the first waiter for its lock, is proposed at once:
	 * granted if free, else refused (and waiting) with conflicting-lock
	 * events to the holders, as Chubby tells holders that others want the
	 * lock.  Later waiters for a lock wait their turn. */
	if (!wait || !queued_before)
		sm_propose_acquire(sm, w);
	else
		sm_lockq_dirty(sm, lq);
	sm_kick_dirty(sm);
}

/* --- from the replica ----------------------------------------------------- */


static void
sm_expire_done(int status, const struct ns_result *res, void *arg)
{
	struct sm_expiry *x = arg;
	struct msess *s;
	char line[160];

	sm_ending_del(x->sm, x->id); /* its outcome is known now */
	if (status != CHUBBY_OK && res != NULL) {
		sm_msg(line, sizeof line, "session ", x->id, ": its expiry was refused: ");
		sm_cat(line, sizeof line, chubby_strerror(status));
		sm_log(x->sm, SESSION_LOG_WARN, line);
	}
	else if (status != CHUBBY_OK && (s = sm_find(x->sm, x->id)) != NULL && s->ending) {
		/* Not proposed (or its fate unknown here): tried again a scan
		 * later, while this replica still knows the session. */
		s->ending = false;
		sm_heap_set(&x->sm->due, &s->due, x->sm->now.mono_ms + SM_SCAN_MS);
	}
	free(x);
}

/* Proposes S's end, behind the invalidation of every ephemeral node it may
 * reap.  In a one-replica cell it may apply, and S be freed, before
 * sm_write_close returns: S is not touched after. */
static void
sm_expire(struct session_mgr *sm, struct msess *s, uint64_t now)
{
	struct sm_expiry *x;
	uint8_t *cmd = NULL;
	size_t len = 0;
	char line[200];

	(void)now;
	s->ending = true;
	sm_sched(sm, s); /* out of the heap: nothing more is due */
	sm->st.expired++;
	sm_msg(line, sizeof line, "session ", s->id, " (");
	sm_cat(line, sizeof line, s->principal);
	sm_cat(line, sizeof line, "): lease ended without a KeepAlive; expiring it");
	sm_log(sm, SESSION_LOG_INFO, line);
	if (ns_encode_session_end(sm_stamp(sm), 0, s->id, NS_END_EXPIRED, &cmd, &len) !=
	    CHUBBY_OK)
		return;
	/* Its end is applied like any write; session_applied forgets it. */
	x = xcalloc(1, sizeof *x);
	x->sm = sm;
	x->id = s->id;
	sm_ending_add(sm, s->id);
	sm_write_close(sm, sm->now, s->id, 0, 0, cmd, len, sm_expire_done, x, true);
	free(cmd);
}

/* Handles what is due, earliest first: O(log n) for each, nothing for the
 * sessions whose time has not come.  Each step moves or drops the top, and
 * the top is read again after it (a step may free sessions). */
static void
sm_scan(struct session_mgr *sm, uint64_t now)
{
	struct sm_due *d;

	while ((d = sm_heap_top(&sm->due)) != NULL && d->at <= now) {
		if (d->kind == SM_DUE_WAITER) {
			struct waiter *w = SM_CONTAINER(d, struct waiter, due);
			if (w->in_flight) /* its answer decides; looked at again later */
				sm_heap_set(&sm->due, d, now + SM_SCAN_MS);
			else
				sm_fail_waiter(sm, w, CHUBBY_E_TIMEOUT,
				    "the lock was not granted in time");
			continue;
		}
		if (d->kind == SM_DUE_ORPHAN) {
			sm_orphan_end(sm, SM_CONTAINER(d, struct morphan, due));
			continue;
		}
		struct msess *s = SM_CONTAINER(d, struct msess, due);
		if (s->ka != NULL && now >= s->ka_deadline) {
			sm_ka_reply(sm, s);
		} else if (s->ka == NULL && !s->ending && now >= s->lease_end) {
			sm_lease_over(sm, s);
			sm_expire(sm, s, now);
		} else {
			sm_sched(sm, s);
		}
	}
}

void
session_tick(struct session_mgr *sm, struct session_now at)
{
	uint64_t now = at.mono_ms;

	if (!session_serving(sm, at))
		return;
	sm_scan(sm, now);
	if (now - sm->last_scan >= SM_SCAN_MS) {
		sm->last_scan = now;
		sm_gates_advance(sm);
	}
	if (sm->nwaiters > 0 && now - sm->last_waiter_scan >= SM_WAITER_SCAN_MS) {
		sm->last_waiter_scan = now;
		sm_lockq_each(sm, sm_lockq_dirty_if_delayed);
	}
	sm_kick_dirty(sm);
}

/* The first fields of a namespace command ([type, stamp, session, arg0,
 * ...]): its type, its session, and its first argument (a handle, or for
 * SESSION_END the session that ends).  For a request with an id
 * (NS_CMD_REQ) these are its inner command's: one level, as the namespace
 * refuses a REQ inside a REQ (DEPTH 1 gives nothing). */
static void
sm_peek_at(const uint8_t *cmd, size_t len, int depth, uint64_t *type, uint64_t *session,
    uint64_t *arg0)
{
	msgpack_unpacked u;
	size_t off = 0;

	*type = *session = *arg0 = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)cmd, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 4) {
		const msgpack_object *o = u.data.via.array.ptr;
		if (o[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*type = o[0].via.u64;
		if (o[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*session = o[2].via.u64;
		if (o[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*arg0 = o[3].via.u64;
		if (*type == NS_CMD_REQ) {
			*type = *session = *arg0 = 0;
			if (depth == 0 && u.data.via.array.size == 6 &&
			    o[5].type == MSGPACK_OBJECT_BIN)
				sm_peek_at((const uint8_t *)o[5].via.bin.ptr, o[5].via.bin.size, 1,
				    type, session, arg0);
		}
	}
	msgpack_unpacked_destroy(&u);
}

static void
sm_peek(const uint8_t *cmd, size_t len, uint64_t *type, uint64_t *session, uint64_t *arg0)
{
	sm_peek_at(cmd, len, 0, type, session, arg0);
}

/* Which lock queues an applied command may have unblocked: the lock an
 * ACQUIRE or RELEASE names; none for commands that change no lock or
 * handle; every queue for the rest (CLOSE, DELETE, SESSION_END, ACLs,
 * poison: rarer, and they may end handles that waiters need). */
static void
sm_dirty_after(struct session_mgr *sm, uint64_t type, uint64_t session, uint64_t handle)
{
	const char *path;
	struct lockq *lq;

	switch (type) {
	case NS_CMD_SESSION_START:
	case NS_CMD_OPEN:
	case NS_CMD_SET_CONTENTS:
	case NS_CMD_SET_SEQUENCER:
		return;
	case NS_CMD_ACQUIRE:
	case NS_CMD_RELEASE:
		path = ns_handle_path(sm_ns(sm), session, handle, NULL);
		if (path != NULL && (lq = sm_lockq_find(sm, path)) != NULL)
			sm_lockq_dirty(sm, lq);
		return;
	default:
		sm_lockq_each(sm, sm_lockq_dirty);
		return;
	}
}

/* Node event E's for handle H kept in memory, if H asked for it and still
 * has E's node open. */
static bool
sm_mem_wants(const struct mhandle *h, const struct ns_node_event *e)
{
	return (h->events & e->type) && !h->poisoned && h->instance == e->instance &&
	    strcmp(h->path, e->node) == 0;
}

/* Gives the handles kept in memory their events of RES's node events from
 * *K up to those before RES's event UPTO (SIZE_MAX: all): where id order
 * puts them among the namespace's handles' (struct ns_node_event).  To the
 * sessions' queues while serving, parked while not (session_applied). */
static void
sm_mem_events(struct session_mgr *sm, const struct ns_result *res, size_t upto, size_t *k)
{
	for (; *k < res->nnode_events && res->node_events[*k].at <= upto; (*k)++) {
		const struct ns_node_event *e = &res->node_events[*k];
		struct mhandle *one, *const *hs;
		size_t n;

		if (e->handle != 0) {
			/* A CONFLICTING_LOCK for a holder the namespace knows
			 * only as one. */
			one = mh_find(sm->mh, e->session, e->handle);
			hs = &one;
			n = one != NULL ? 1 : 0;
		} else {
			hs = mh_watchers(sm->mh, e->node, &n);
		}
		for (size_t i = 0; i < n; i++) {
			struct sev ev = {.type = e->type, .handle = hs[i]->id,
			    .has_gen = e->has_gen, .gen = e->gen};
			struct msess *s;

			if (!sm_mem_wants(hs[i], e))
				continue;
			if (!sm->active) {
				ev.path = xstrdup(e->path);
				sm_park(sm, hs[i]->session, ev);
			} else if ((s = sm_find(sm, hs[i]->session)) != NULL) {
				ev.path = xstrdup(e->path);
				sm_queue_event(sm, s, ev);
			}
		}
	}
}

void
session_applied(struct session_mgr *sm, struct session_now at, const uint8_t *cmd, size_t len,
    const struct ns_result *res)
{
	uint64_t type, session, arg0, now, epoch = 0;
	size_t k = 0;

	if (sm == NULL)
		return;
	if (!sm->active) {
		/* Not serving: its events are kept while the epoch is still
		 * the one this replica served in (sm->parked), those of its
		 * handles in memory too. */
		if (!sm->parking)
			return;
		(void)sm->env.mastership(sm->env.arg, &epoch);
		if (epoch != sm->epoch) {
			sm_parked_clear(sm);
			mh_clear(sm->mh);
			return;
		}
		sm_peek(cmd, len, &type, &session, &arg0);
		if (res->status == CHUBBY_OK && type == NS_CMD_SESSION_END)
			mh_drop_session(sm->mh, arg0);
		for (size_t i = 0; i < res->nevents; i++) {
			sm_mem_events(sm, res, i, &k);
			sm_park(sm, res->events[i].session, sm_sev(&res->events[i]));
		}
		sm_mem_events(sm, res, SIZE_MAX, &k);
		return;
	}
	sm->now = at;
	now = at.mono_ms;
	sm_peek(cmd, len, &type, &session, &arg0);
	if (res->status == CHUBBY_OK && type == NS_CMD_SESSION_START)
		sm_add(sm, res->session, ns_session_principal(sm_ns(sm), res->session), now)
		    ->checked_in = true;
	else if (res->status == CHUBBY_OK && type == NS_CMD_SESSION_END) {
		sm_remove(sm, arg0, CHUBBY_E_SESSION_EXPIRED, "the session has ended");
		/* A proxy session's clients' handles outlive it: a claim
		 * window opens (or, an orphan's end, closes). */
		if (ns_session_orphaned(sm_ns(sm), arg0))
			sm_orphan_add(sm, arg0);
		else
			sm_orphans_sweep(sm);
	} else if (res->status == CHUBBY_OK && type == NS_CMD_CLAIM)
		sm_orphans_sweep(sm);
	for (size_t i = 0; i < res->nevents; i++) {
		const struct ns_event *e = &res->events[i];
		struct msess *s = sm_find(sm, e->session);
		sm_mem_events(sm, res, i, &k);
		if (s != NULL)
			sm_queue_event(sm, s, sm_sev(e));
	}
	sm_mem_events(sm, res, SIZE_MAX, &k);
	/* A lock freed or a handle ended: the waiters it concerns go now,
	 * not at the next tick (a hand-off waits for no timer). */
	if (sm->nwaiters > 0) {
		sm_dirty_after(sm, type, session, arg0);
		sm_kick_dirty(sm);
	}
}

void
session_state_replaced(struct session_mgr *sm)
{
	/* Only a replica that is not master installs a snapshot; if it was
	 * master, its table is stale now. */
	if (sm != NULL && sm->active)
		sm_step_down(sm);
	/* The handles in memory were checked against the state replaced. */
	if (sm != NULL)
		mh_clear(sm->mh);
}

/* --- admin ---------------------------------------------------------------- */

/*
 * SESSIONS and LOCKS answer a page at a time (docs/PROTOCOL.md
 * "Administration"): an admin listing over 100,000 sessions must neither
 * outgrow a frame nor hold the loop, which also sends Paxos heartbeats,
 * for the time it takes to pack them all.  Entries go one at a time into a
 * scratch buffer; one that would take the page past MAX_BYTES is taken
 * back and starts the next page (the first entry always goes: a page is
 * never empty while there is something to list).
 */
struct sm_page {
	msgpack_sbuffer buf;
	msgpack_packer pk;
	size_t n, mark, max_bytes;
};

static void
sm_page_init(struct sm_page *pg, size_t max_bytes)
{
	msgpack_sbuffer_init(&pg->buf);
	msgpack_packer_init(&pg->pk, &pg->buf, msgpack_sbuffer_write);
	pg->n = pg->mark = 0;
	pg->max_bytes = max_bytes;
}

/* Before packing an entry into PG->pk. */
static void
sm_page_entry(struct sm_page *pg)
{
	pg->mark = pg->buf.size;
}

/* After packing it: keeps it if it fits, else takes it back (false). */
static bool
sm_page_fits(struct sm_page *pg)
{
	if (pg->n > 0 && pg->buf.size > pg->max_bytes) {
		pg->buf.size = pg->mark;
		return false;
	}
	pg->n++;
	return true;
}

/* Packs the page's entries into PK as one array, and frees PG. */
static void
sm_page_finish(struct sm_page *pg, msgpack_packer *pk)
{
	msgpack_pack_array(pk, pg->n);
	if (pg->buf.size > 0)
		pk->callback(pk->data, pg->buf.data, pg->buf.size);
	msgpack_sbuffer_destroy(&pg->buf);
}

/* A held lock of a session on the page, for grouping by session. */
struct sm_held {
	uint64_t session, handle;
	const char *path;
	int mode;
};

static int
sm_held_cmp(const void *a, const void *b)
{
	const struct sm_held *x = a, *y = b;

	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

uint64_t
session_pack_sessions(struct session_mgr *sm, struct session_now at, uint64_t after, size_t limit,
    size_t max_bytes, msgpack_packer *pk)
{
	const struct ns *ns = sm_ns(sm);
	size_t n = ns_session_count(ns), first = ns_session_pos_after(ns, after), last, i, k = 0;
	size_t nheld = 0, heldcap = 0, nhandles = ns_handle_count(ns), *nh;
	struct sm_held *held = NULL;
	uint64_t lo, hi, next = 0, now = at.mono_ms;
	struct sm_page pg;

	sm->now = at;
	if (limit == 0 || limit > SESSION_PAGE_MAX)
		limit = SESSION_PAGE_MAX;
	last = n - first > limit ? first + limit : n;
	if (first >= last) {
		msgpack_pack_array(pk, 0);
		return 0;
	}
	/* The page's sessions are those with ids in [LO, HI]: one walk over
	 * the handles finds their handles and locks (asking the namespace
	 * session by session would walk the handles once per session). */
	lo = ns_session_id(ns, first);
	hi = ns_session_id(ns, last - 1);
	nh = xcalloc(last - first, sizeof *nh);
	for (i = 0; i < nhandles; i++) {
		uint64_t session, id;
		const char *path;
		int mode;

		id = ns_handle_at(ns, i, &session, &path, &mode);
		if (session < lo || session > hi)
			continue;
		size_t pos = ns_session_pos_after(ns, session - 1);
		if (pos >= last || ns_session_id(ns, pos) != session)
			continue; /* not a live session's: none such */
		/* A handle kept in memory that holds a lock is in both tables:
		 * it counts once, with the memory handles below. */
		if (!mh_is_mem_id(id) || mh_find(sm->mh, session, id) == NULL)
			nh[pos - first]++;
		if (mode == 0 || path == NULL)
			continue;
		if (nheld == heldcap) {
			heldcap = heldcap ? 2 * heldcap : 16;
			held = xreallocarray(held, heldcap, sizeof *held);
		}
		held[nheld++] = (struct sm_held){session, id, path, mode};
	}
	if (nheld > 0) /* qsort's array must not be NULL, even empty (UBSan) */
		qsort(held, nheld, sizeof *held, sm_held_cmp);

	sm_page_init(&pg, max_bytes);
	for (i = first; i < last; i++) {
		uint64_t id = ns_session_id(ns, i);
		struct msess *s = sm_find(sm, id);
		size_t k0, nlocks;

		while (k < nheld && held[k].session < id)
			k++;
		for (k0 = k, nlocks = 0; k < nheld && held[k].session == id; k++)
			nlocks++;
		sm_page_entry(&pg);
		msgpack_pack_map(&pg.pk, 6);
		mp_pack_kv_uint(&pg.pk, "session", id);
		mp_pack_kv_str(&pg.pk, "principal", ns_session_principal(ns, id));
		mp_pack_kv_uint(&pg.pk, "lease_ms",
		    s != NULL && s->lease_end > now ? s->lease_end - now : 0);
		mp_pack_kv_bool(&pg.pk, "checked_in", s != NULL && s->checked_in);
		mp_pack_kv_uint(&pg.pk, "handles", nh[i - first] + mh_count(sm->mh, id));
		mp_pack_str(&pg.pk, "locks");
		msgpack_pack_array(&pg.pk, nlocks);
		for (size_t j = k0; j < k0 + nlocks; j++) {
			msgpack_pack_map(&pg.pk, 2);
			mp_pack_kv_str(&pg.pk, "path", held[j].path);
			mp_pack_kv_uint(&pg.pk, "mode", (uint64_t)held[j].mode);
		}
		if (!sm_page_fits(&pg))
			break;
		next = id;
	}
	/* More to list: the cursor is the last session listed. */
	if (i == n)
		next = 0;
	sm_page_finish(&pg, pk);
	free(held);
	free(nh);
	return next;
}

uint64_t
session_pack_locks(struct session_mgr *sm, uint64_t after, size_t limit, size_t max_bytes,
    msgpack_packer *pk)
{
	const struct ns *ns = sm_ns(sm);
	size_t n = ns_handle_count(ns), i, scan;
	uint64_t next = after;
	struct sm_page pg;

	if (limit == 0 || limit > SESSION_PAGE_MAX)
		limit = SESSION_PAGE_MAX;
	/* Handles that hold no lock are skipped, but only so many per page:
	 * a page may come back short, or empty, with a cursor to go on from. */
	scan = limit * SESSION_PAGE_SCAN;
	sm_page_init(&pg, max_bytes);
	for (i = ns_handle_pos_after(ns, after); i < n && pg.n < limit && scan > 0; i++, scan--) {
		uint64_t session, id;
		const char *path;
		const struct lockq *lq;
		size_t waiters = 0;
		int mode;

		id = ns_handle_at(ns, i, &session, &path, &mode);
		if (mode != 0 && path != NULL) {
			lq = sm_lockq_find(sm, path);
			for (const struct waiter *w = lq != NULL ? lq->head : NULL; w != NULL;
			     w = w->next)
				waiters++;
			sm_page_entry(&pg);
			msgpack_pack_map(&pg.pk, 5);
			mp_pack_kv_str(&pg.pk, "path", path);
			mp_pack_kv_uint(&pg.pk, "mode", (uint64_t)mode);
			mp_pack_kv_uint(&pg.pk, "session", session);
			mp_pack_kv_uint(&pg.pk, "handle", id);
			mp_pack_kv_uint(&pg.pk, "waiters", waiters);
			if (!sm_page_fits(&pg))
				break;
		}
		next = id;
	}
	if (i == n)
		next = 0;
	sm_page_finish(&pg, pk);
	return next;
}

void
session_stats(const struct session_mgr *sm, struct session_stats *out)
{
	/* Counted as they change: /metrics costs nothing with many sessions. */
	*out = sm->st;
	out->sessions = sm->sess.n;
	out->held_keepalives = sm->nka;
	out->waiters = sm->nwaiters;
	out->gated_writes = sm->ngates;
	out->gated_expiries = sm->nexpiry_gates;
	out->mem_handles = mh_total(sm->mh);
	out->orphans = 0;
	for (const struct morphan *o = sm->orphans; o != NULL; o = o->next)
		out->orphans++;
}

/* --- set-up ---------------------------------------------------------------- */

struct session_mgr *
session_new(const struct session_config *cfg, const struct session_env *env)
{
	struct session_mgr *sm = xcalloc(1, sizeof *sm);

	sm->env = *env;
	sm->lease_ms = cfg->lease_ms;
	lease_ctl_init(&sm->lctl, &(struct lease_ctl_config){
	    .base_ms = cfg->lease_ms,
	    .max_ms = cfg->lease_max_ms,
	    .queue_high = cfg->overload_queue,
	    .keepalive_high = cfg->overload_keepalive_rate,
	    .cpu_high = cfg->overload_cpu,
	    .lag_high_ms = cfg->overload_loop_lag_ms,
	    .starts_high = cfg->overload_session_starts,
	});
	sm->cell = xstrdup(cfg->cell != NULL ? cfg->cell : "");
	sm->init_acls = cfg->init_acls;
	for (int i = 0; i < 3; i++)
		sm->root_acl[i] = xstrdup(cfg->root_acl[i] != NULL ? cfg->root_acl[i] : "");
	sm->acl_admins = xstrdup(cfg->acl_admins != NULL ? cfg->acl_admins : "");
	sm_htab_init(&sm->sess);
	sm_htab_init(&sm->gpaths);
	sm_htab_init(&sm->locks);
	sm_heap_init(&sm->due);
	sm->mh = mh_new();
	sm->claim_window_ms = cfg->proxy_claim_window_ms != 0 ? cfg->proxy_claim_window_ms : 60000;
	return sm;
}

void
session_free(struct session_mgr *sm)
{
	if (sm == NULL)
		return;
	if (sm->active)
		sm_step_down(sm);
	sm_parked_clear(sm);
	free(sm->parked);
	sm_cache_clear(sm);
	/* Proposed gates belong to the replica, freed before us: their nodes
	 * went with them. */
	sm_htab_free(&sm->gpaths);
	sm_htab_free(&sm->sess);
	sm_htab_free(&sm->locks);
	sm_heap_free(&sm->due);
	free(sm->ending_ids);
	free(sm->cell);
	for (int i = 0; i < 3; i++)
		free(sm->root_acl[i]);
	free(sm->acl_admins);
	mh_free(sm->mh);
	free(sm);
}
