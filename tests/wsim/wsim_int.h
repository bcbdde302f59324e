/*
 * wsim_int.h: the whole-cell simulator's world, shared by its parts:
 * wsim.c (randomness, events, network, faults, the run), wsim_replica.c
 * (a replica and its request layer), wsim_client.c (a client) and
 * wsim_check.c (the invariants).
 */
#ifndef CHUBBY_WSIM_INT_H
#define CHUBBY_WSIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccache.h"
#include "cevids.h"
#include "cell/cell.h"
#include "csess.h"
#include "paxos.h"
#include "session/session.h"
#include "simlib.h"
#include "wsim.h"

#define W_MAX_R 7
#define W_MAX_C 8
#define W_TRACE 64
#define W_TICK_MS 10
#define W_PATH 48
#define W_VAL 40
#define W_MAX_H 6    /* handles a client keeps open */
#define W_MAX_ACKS 64
#define W_CELL "sim"

/* ---- randomness: tests/simlib's generator, shared with tests/sim -------- */

static inline uint64_t
w_rand(struct simrng *r)
{
	return simrng_next(r);
}

static inline uint64_t
w_below(struct simrng *r, uint64_t n)
{
	return simrng_below(r, n);
}

static inline bool
w_chance(struct simrng *r, uint64_t num, uint64_t den)
{
	return simrng_chance(r, num, den);
}

/* ---- the client protocol, as structs (the sim's wire) ----------------- */

enum w_op {
	W_OP_WHERE = 1, W_OP_START, W_OP_KEEPALIVE, W_OP_END, W_OP_OPEN, W_OP_CLOSE,
	W_OP_GET, W_OP_SET, W_OP_ACQUIRE, W_OP_RELEASE, W_OP_CHECKSEQ,
};

struct w_req {
	enum w_op op;
	uint64_t wire_id;
	uint64_t session, epoch, rid, rid_floor, handle, nonce;
	char path[W_PATH];
	uint32_t flags;
	uint32_t events; /* OPEN: the handle's event mask (NS_EV_*) */
	bool cache;
	uint64_t hold_ms;
	uint64_t acks[W_MAX_ACKS];
	size_t nacks;
	uint64_t ev_ack; /* KEEPALIVE: the highest event id processed (always sent) */
	int mode;
	uint64_t timeout_ms;
	bool have_expected;
	uint64_t expected_gen;
	char val[W_VAL];
	/* CHECKSEQ: the sequencer's fields (the sim signs nothing). */
	uint64_t seq_gen, seq_instance;
	/* OPEN: ask for a handle kept in the master's memory.  A call on one
	 * (REOPEN): the node instance it opened, with PATH and FLAGS, for a
	 * master that must re-create it (docs/SESSIONS.md "Handles in memory"). */
	bool mem, reopen;
	uint64_t reopen_instance;
};

struct w_rep {
	uint64_t wire_id;
	int status;
	/* A packed msgpack result from the session layer (KeepAlive, grant). */
	uint8_t *result;
	size_t rlen;
	/* Results the request layer fills in as fields. */
	unsigned master; /* NOT_MASTER / WHERE: the master's id, 0 none */
	uint64_t epoch, session, lease_ms, handle, instance, content_gen;
	bool created, cacheable;
	char val[W_VAL];
};

/* ---- events ----------------------------------------------------------- */

enum w_ev_type {
	W_EV_PEER = 1, /* a Paxos message to replica TO */
	W_EV_SYNC,     /* replica TO's write TOKEN reached the disk */
	W_EV_SNAP,     /* replica TO's snapshot of INDEX is taken */
	W_EV_CONNECT,  /* connection CONN opens (or fails) at the client */
	W_EV_REQ,      /* a request on CONN reaches its replica */
	W_EV_REP,      /* a reply on CONN reaches its client */
	W_EV_DROP,     /* connection CONN breaks: the client hears of it */
};

struct w_ev {
	uint64_t at, seq;
	enum w_ev_type type;
	unsigned to;
	unsigned incarnation;
	size_t conn;
	uint64_t index;
	struct paxos_msg msg;
	struct paxos_buf data;
	struct w_req *req;
	struct w_rep *rep;
};

/* Events that reached a stopped process, delivered in their order when it
 * runs again (before anything newer). */
struct w_held {
	struct w_ev *v;
	size_t n, cap;
};

/* A client's connection to a replica (TCP: in order, lost only whole). */
struct w_conn {
	bool open;            /* the client uses it (a close still delivers what it sent) */
	bool broken;          /* the network lost it: nothing more arrives either way */
	unsigned client;      /* 1-based */
	unsigned replica;     /* 1-based */
	unsigned incarnation; /* the replica's at connect */
	uint64_t cid;         /* the client core's name for it */
	uint64_t last_c2r, last_r2c; /* FIFO: nothing overtakes */
};

/* ---- a replica -------------------------------------------------------- */

struct w_store {
	paxos_ballot promised;
	bool nonvoter;
	uint64_t snap_index;
	struct paxos_buf snap;
	struct paxos_entry *entries;
	size_t nentries, capentries;
	struct paxos_persist *pending;
	size_t npending, cappending;
	uint64_t chosen_upto;
	uint64_t last_done;
};

struct w_pending {
	uint64_t seq;
	session_done_fn done;
	void *arg;
	struct w_pending *next;
};

struct w_replica {
	unsigned id;
	struct world *w;
	struct paxos *p;
	struct cell *cell;
	struct session_mgr *sm;
	struct svc *svc; /* the request layer (server/svc) */
	struct paxos_actions acts;
	bool stepping;
	bool up, lost;
	unsigned incarnation;
	int64_t drift_ppm;
	uint64_t clock_base, real_base;
	uint64_t next_tick;
	uint64_t paused_until; /* global ms: a stopped process (0: running) */
	struct w_held *held;   /* what reached it while stopped, in order */
	struct w_store st;
	enum paxos_role role;
	uint64_t epoch;
	unsigned master;
	uint64_t next_seq;
	struct w_pending *pending;
	uint64_t last_progress;
	uint64_t max_epoch_applied; /* the highest proposer epoch applied (trace) */
	uint64_t barrier_epoch;     /* replica.c's: our own NOOP of this epoch applied */
	/* The command last applied in incarnation EV_INC: (slot, position in
	 * the slot's batch), for the event history (wsim_check.c). */
	unsigned ev_inc;
	uint64_t ev_slot, ev_pos;
};

/* ---- a client --------------------------------------------------------- */

struct w_handle {
	bool used;
	uint64_t id;
	char path[W_PATH];
	uint64_t instance;
	int kind;     /* W_K_* */
	int held;     /* lock mode this client believes it holds (0 none) */
	uint64_t lock_gen;
	uint32_t mask; /* the events it asked for */
	uint32_t oflags; /* its OPEN's flags (what a memory handle's calls carry) */
	uint64_t epoch; /* the epoch of its OPEN's answer */
	bool busy;     /* a call on it is out (one at a time per handle) */
};

/* W_K_READ: a read-only handle of a file, kept in the master's memory. */
enum { W_K_FILE = 1, W_K_EPH, W_K_LOCK, W_K_DIR, W_K_PRES, W_K_READ };

#define W_NPRES 2 /* presence files p0, p1: ephemeral, shared names */


/* An application call a client has out: one per application thread
 * (W_THREADS), at most one per handle, as libchubby allows many. */
#define W_THREADS 2
struct w_call {
	bool active;
	struct w_req rq;
	uint64_t sent_conn;  /* the core's conn it went out on (0: queued) */
	uint64_t t_begin;    /* global ms */
	int hslot;           /* the handle it concerns (-1: none) */
	uint64_t lapses0;    /* the client's lapses when it began */
	bool foreign;        /* CHECKSEQ of a sequencer released before it began */
	bool lookup;         /* OPEN without CREATE of a presence file (existence read) */
};

struct w_client {
	unsigned id;
	struct world *w;
	char principal[16];
	struct csess *cs;
	unsigned gen;        /* sessions this client started */
	uint64_t nonce;
	int64_t drift_ppm;
	uint64_t clock_base;
	uint64_t paused_until;
	struct w_held *held;
	bool run_app_first;  /* after a pause: the application runs before the timer */
	uint64_t restart_at; /* after EXPIRED/CLOSED: start a new session then */
	uint64_t next_wire;
	uint64_t last_rid;
	uint64_t cur_conn;
	uint64_t ka_wire, ka_sent_at, start_sent_at, where_wire, start_wire;
	size_t ka_nacks;
	uint64_t acks[W_MAX_ACKS];
	size_t nacks;
	uint64_t acks_epoch;
	struct cevids evids; /* the events delivered (libchubby's, the real one) */
	/* libchubby's cache (libchubby/ccache.c, the real one), and the
	 * names it knows have no node (the model's: libchubby caches no
	 * absence). */
	struct ccache cache;
	char absent[4][W_PATH];
	struct w_handle h[W_MAX_H];
	struct w_call call[W_THREADS];
	uint64_t next_app;   /* global ms of its next call */
	bool was_good;       /* in good standing at the last check */
	uint64_t lapses;     /* times it was seen out of good standing */
	uint64_t calls_done;
};

/* ---- the event history (the delivery check) ----------------------------- */

/* One event the applied state raised for a handle. */
struct w_evx {
	uint32_t type;   /* NS_EV_* */
	uint64_t at;     /* global ms it first applied anywhere */
	uint64_t epoch;  /* the epoch its command was proposed in */
	bool skipped;    /* a later one of the handle was delivered before it */
	bool excused;    /* the client was told MASTER_FAILOVER of a later epoch */
};

/* The events of one handle of a client's session, in the order applied. */
struct w_evs {
	uint64_t session, handle;
	unsigned client;
	struct w_evx *v;
	size_t n, cap;
	size_t next; /* the first not delivered (nor skipped) */
	/* A handle in memory: the last (slot, position, node event + 1)
	 * recorded, so that each is recorded once (wsim_check.c). */
	uint64_t mslot, mpos;
	size_t mne;
};

/* ---- the history for the register check ------------------------------- */

struct w_write {
	char val[W_VAL];
	char path[W_PATH];
	uint64_t checksum;
	uint64_t gen;      /* content_gen it applied at (0: not yet known) */
	uint64_t acked_at; /* global ms its client learnt it applied (0: not) */
};

/* ---- the world -------------------------------------------------------- */

struct world {
	struct wsim_opts o;
	struct simrng rng;
	uint64_t now, steps;
	bool failed;
	char why[512];
	bool healing;
	struct paxos_config pcfg;
	struct cell_params cp;
	struct csess_config ccfg;
	const char *addrs[W_MAX_R];
	char addrbuf[W_MAX_R][16];
	unsigned n, m;
	struct w_replica r[W_MAX_R];
	struct w_client c[W_MAX_C];

	struct simheap heap; /* of struct w_ev */
	bool cut[W_MAX_R][W_MAX_R];
	bool ccut[W_MAX_C][W_MAX_R];
	unsigned drop_pct, dup_pct, max_delay, conn_break_pm;
	unsigned sync_max;
	unsigned calm; /* fault rates divided by this (1, 2, 4, 8) */
	/* A client on a slow link (0: none): what replicas send it takes up
	 * to SLOW_MS more, so it is slow to hear of (and acknowledge)
	 * invalidations while it reads its cache. */
	unsigned slow_client;
	unsigned slow_ms;
	uint64_t blip_until; /* a blip's cut heals then (0: none) */

	struct w_conn *conns;
	size_t nconns, capconns;

	/* The invariants' memory. */
	uint64_t *digest_at;
	size_t ndigest;
	struct w_write *writes;
	size_t nwrites, capwrites;
	/* Per file: (time acknowledged, highest gen acknowledged by then). */
	struct w_ack {
		uint64_t at, maxgen;
	} *acks[4];
	size_t nacks[4], capacks[4];
	/* Ephemeral nodes made, and by which session. */
	struct {
		char path[W_PATH];
		uint64_t session;
	} eph[256];
	size_t neph;

	/* Per lock: the last exclusive holder seen to fall out of good
	 * standing while it held it, and when (the lock-delay check). */
	struct {
		char path[W_PATH];
		unsigned client;
		uint64_t at;
	} lost[4];

	/* Per lock, as the applied state has it (first application of each
	 * command): the sessions holding it, and the last time a holder's
	 * session ended without its client closing it (an expiry), in which
	 * term, and which session (the lock-delay check). */
	struct {
		uint64_t holders[W_MAX_C * W_MAX_H];
		size_t nholders;
		uint64_t expired_at, expired_epoch, expired_session;
		uint64_t expired_stamp; /* the SESSION_END's namespace stamp */
	} lk[4];
	uint64_t closed[64]; /* sessions their clients closed (a ring) */
	unsigned nclosed;

	/* Per lock: the last exclusive sequencer whose RELEASE was
	 * acknowledged, and when (it must check stale from then on). */
	struct {
		bool valid;
		uint64_t gen, instance, at;
	} released[4];

	/* Events raised for the clients' handles (first application of each
	 * command: (slot, position in its batch) past this mark). */
	struct w_evs *evs;
	size_t nevs, capevs;
	uint64_t ev_slot, ev_pos;

	/* Per presence file: each instance of it, in order (the existence
	 * check): when it was made and deleted (first application anywhere)
	 * and when a client first learnt it made it (0: not yet). */
	struct w_exist {
		uint64_t instance, created_at, deleted_at, acked_at;
	} *exist[W_NPRES];
	size_t nexist[W_NPRES], capexist[W_NPRES];

	struct wsim_result res;
	char trace[W_TRACE][200];
	unsigned ntrace;
};

/* wsim.c */
void w_trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void w_fail(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void w_push(struct world *w, struct w_ev *ev);
uint64_t w_rlocal(const struct w_replica *r, uint64_t t);
uint64_t w_clocal(const struct w_client *c, uint64_t t);
void w_send_rep(struct world *w, size_t conn, struct w_rep *rep);
void w_send_req(struct world *w, size_t conn, struct w_req *rq);
size_t w_conn_open(struct world *w, unsigned client, unsigned replica, uint64_t cid);
void w_conn_break(struct world *w, size_t conn, bool tell_client);

/* wsim_replica.c */
void w_replica_start(struct world *w, struct w_replica *r);
void w_replica_crash(struct world *w, struct w_replica *r);
void w_replica_free(struct w_replica *r);
void w_replica_store_free(struct w_store *st);
void w_replica_store_wipe(struct w_store *st);
void w_replica_tick(struct world *w, struct w_replica *r);
void w_replica_deliver(struct world *w, struct w_ev *e);
void w_replica_request(struct world *w, struct w_replica *r, size_t conn, struct w_req *rq);
bool w_replica_serving(const struct w_replica *r, uint64_t now);
unsigned w_serving_master(const struct world *w);

/* wsim_client.c */
void w_client_init(struct world *w, struct w_client *c, unsigned id);
void w_client_free(struct w_client *c);
void w_client_connected(struct world *w, struct w_client *c, size_t conn, bool ok);
void w_client_dropped(struct world *w, struct w_client *c, size_t conn);
void w_client_reply(struct world *w, struct w_client *c, size_t conn, struct w_rep *rep);
void w_client_step(struct world *w, struct w_client *c);
bool w_client_idle(const struct w_client *c);
bool w_client_good(const struct world *w, const struct w_client *c);

/* wsim_check.c */
void w_check(struct world *w);
void w_check_digest(struct world *w, struct w_replica *r);
void w_note_applied(struct world *w, struct w_replica *r, const struct cell_applied *a);
void w_event_delivered(struct world *w, struct w_client *c, uint64_t handle, uint32_t type,
    uint64_t epoch);
void w_note_failover(struct world *w, struct w_client *c);
void w_rep_lost(struct world *w, struct w_client *c, const struct w_rep *rep);
void w_forget_session(struct world *w, uint64_t session);
bool w_events_pending(struct world *w, char *why, size_t len);
void w_events_free(struct world *w);
void w_exist_acked(struct world *w, const char *path, uint64_t instance);
void w_absent_read(struct world *w, struct w_client *c, const char *path, uint64_t t_begin,
    bool cached);
uint64_t w_write_new(struct world *w, const char *path, char *val, size_t vlen);
void w_write_acked(struct world *w, const char *val, uint64_t gen);
void w_read_done(struct world *w, struct w_client *c, const char *path, const char *val,
    uint64_t gen, uint64_t t_begin, bool cached);
void w_note_eph(struct world *w, const char *path, uint64_t session);
void w_check_final(struct world *w);
void w_forget_lost(struct world *w, const struct w_client *c, const char *path);
void w_note_closed(struct world *w, uint64_t session);
void w_note_released(struct world *w, const struct w_req *rq);
bool w_released_seq(struct world *w, const char *path, struct w_req *rq);
void w_check_foreign_seq(struct world *w, struct w_client *c, const struct w_req *rq, int status,
    uint64_t t_begin);
void w_check_grant(struct world *w, struct w_client *c, const struct w_handle *h);
void w_check_seq(struct world *w, struct w_client *c, const struct w_handle *h, int status,
    uint64_t lapses0);
bool w_client_calls(const struct w_client *c);

#endif
