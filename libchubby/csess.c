/*
 * csess.c: the client session state machine: master location, session
 * start, KeepAlives, the conservative local lease, jeopardy, the grace
 * period and fail-over (Chubby §2.8, §2.9).  Pure: events in, actions out.
 *
 * Two things move independently and are kept apart here:
 *  - the session (state): does the local lease hold (SAFE), has it run out
 *    while the grace period runs (JEOPARDY), or is it lost (EXPIRED)?
 *  - the link: which connection is open and what it waits for.
 * The session's deadlines (lease end, grace end) come from the lease; the
 * link's (connect, request, KeepAlive, backoff) are the library's own, so
 * no wait ever depends on TCP's retransmission backoff.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "csess.h"
#include "simknob.h"

/* Leases beyond a day are treated as a day: keeps the arithmetic far from
 * overflow whatever a (buggy) master sends. */
#define CSESS_LEASE_CAP (24ULL * 3600 * 1000)
/* Addresses remembered as unreachable (dead_hint_ms). */
#define CSESS_DEAD_MAX 4

struct csess {
	bool started;
	struct csess_config cfg;
	char (*replicas)[CSESS_ADDR_MAX];
	uint64_t now; /* latest event time: a clock that steps back is clamped */
	uint64_t rng;

	enum csess_state state;

	/* Session. */
	uint64_t session_id;
	uint64_t epoch;
	uint64_t granted_ms;   /* last lease granted, for the KeepAlive schedule */
	uint64_t lease_end;    /* local, conservative; 0: none */
	uint64_t lease_sent;   /* send time of the request whose reply set lease_end */
	uint64_t grace_end;    /* JEOPARDY only */
	bool failover_pending; /* epoch changed in jeopardy: tell the app once SAFE */
	bool need_reissue;     /* requests may have been lost with a connection */
	char master[CSESS_ADDR_MAX];

	/* Link. */
	enum csess_link link;
	uint64_t conn;      /* current connection id; 0: none */
	uint64_t next_conn; /* ids are never reused */
	bool conn_open;     /* conn needs a DISCONNECT to go away */
	bool conn_master;   /* conn's peer is believed to be master */
	char conn_addr[CSESS_ADDR_MAX];
	uint64_t link_deadline; /* bounds the link's current wait */
	uint64_t hedge_at;      /* when to ask the next candidate too; 0: never */
	bool ping_out;          /* a liveness WHERE_IS_MASTER outstanding on the UP link */
	uint64_t ping_deadline;
	bool ka_out;            /* one KeepAlive outstanding on conn */
	uint64_t ka_sent;
	uint64_t start_sent;

	/* Master location (docs/CLIENT.md "Finding the master"). */
	char hint[CSESS_ADDR_MAX]; /* where to try next; "" if nowhere */
	size_t next_idx;           /* next replica of the list to ask */
	size_t pass_tried;         /* replicas of the list asked in this pass */
	unsigned hops;             /* hints followed in this pass */
	unsigned backoff_round;    /* passes that failed in a row */
	unsigned slow_round;       /* of those, after the fast window ended */
	uint64_t search_start;     /* when this search began (link lost, or START) */
	struct {
		char addr[CSESS_ADDR_MAX];
		uint64_t at; /* when a connection to it failed; 0: free */
	} dead[CSESS_DEAD_MAX];
	unsigned dead_next;
	/* Hedged probes (docs/CLIENT.md "Finding the master"): connections
	 * that were current while looking for the master, kept open when the
	 * next candidate was asked too.  The first to find the master wins
	 * and the rest are dropped. */
	struct csess_probe {
		uint64_t conn; /* 0: free slot */
		bool master;   /* dialled as the master (a hint, or the last one) */
		bool asking;   /* connected, WHERE_IS_MASTER outstanding */
		uint64_t deadline;
		char addr[CSESS_ADDR_MAX];
	} probes[CSESS_PROBES_MAX];

	/* Output of the current step. */
	struct csess_actions *out;
	bool overflow;
};

static const char *const csess_state_names[] = {
	"new", "locating", "connecting", "starting", "safe", "jeopardy", "expired", "closed",
};

void
csess_config_defaults(struct csess_config *c)
{
	memset(c, 0, sizeof *c);
	c->lease_ms = 12000;
	c->grace_ms = 45000;
	c->drift_ppm = 1000;
	c->margin_ms = 100;
	c->guard_ms = 4000;
	c->slack_ms = 1000;
	c->connect_timeout_ms = 2000;
	c->request_timeout_ms = 2000;
	c->backoff_min_ms = 20;
	c->backoff_max_ms = 5000;
	c->backoff_fast_max_ms = 150;
	c->backoff_fast_window_ms = 10000;
	c->dead_hint_ms = 2000;
	c->probe_hedge_ms = 20;
	c->stall_ms = 250;
	c->ping_timeout_ms = 500;
	c->seed = 1;
}

struct csess *
csess_new(void)
{
	struct csess *s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->state = CSESS_NEW;
	s->next_conn = 1;
	return s;
}

void
csess_free(struct csess *s)
{
	if (s == NULL)
		return;
	free(s->replicas);
	free(s);
}

/* splitmix64: small, seedable, good enough for jitter. */
static uint64_t
csess_random(struct csess *s)
{
	uint64_t z;

	z = (s->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct csess_action *
csess_push(struct csess *s, enum csess_action_type type)
{
	struct csess_action *a;

	if (s->out->n == CSESS_ACTIONS_MAX) {
		s->overflow = true;
		return NULL;
	}
	a = &s->out->v[s->out->n++];
	memset(a, 0, sizeof *a);
	a->type = type;
	return a;
}

static void
csess_notify(struct csess *s, enum csess_notify n)
{
	struct csess_action *a;

	if ((a = csess_push(s, CSESS_ACT_NOTIFY)) != NULL)
		a->notify = n;
}

static void
csess_fail_pending(struct csess *s, int status)
{
	struct csess_action *a;

	if ((a = csess_push(s, CSESS_ACT_FAIL_PENDING)) != NULL)
		a->status = status;
}

static void
csess_copy_addr(char *dst, const char *src)
{
	size_t len = strlen(src);

	memcpy(dst, src, len + 1);
}

/* True if ADDR can be used as a replica address. */
static bool
csess_addr_ok(const char *addr)
{
	size_t len;

	if (addr == NULL)
		return false;
	len = strlen(addr);
	return len > 0 && len < CSESS_ADDR_MAX;
}

static bool
csess_has_session(const struct csess *s)
{
	return s->state == CSESS_SAFE || s->state == CSESS_JEOPARDY;
}

static bool
csess_terminal(const struct csess *s)
{
	return s->state == CSESS_EXPIRED || s->state == CSESS_CLOSED;
}

/* Before a session exists the state mirrors the link. */
static void
csess_sync_state(struct csess *s)
{
	if (csess_has_session(s) || csess_terminal(s) || s->state == CSESS_NEW)
		return;
	if (s->link == CSESS_LINK_STARTING)
		s->state = CSESS_STARTING;
	else if (s->link == CSESS_LINK_CONNECTING && s->conn_master)
		s->state = CSESS_CONNECTING;
	else
		s->state = CSESS_LOCATING;
}

/* Drops the current connection, if any: whatever was outstanding on it is
 * lost, so requests must be resent on the next one. */
static void
csess_drop(struct csess *s)
{
	struct csess_action *a;

	if (s->conn_open && (a = csess_push(s, CSESS_ACT_DISCONNECT)) != NULL)
		a->conn = s->conn;
	if (s->link == CSESS_LINK_UP) {
		/* A working link is lost: a new search for the master begins,
		 * with the fast schedule (csess_backoff). */
		s->need_reissue = true;
		s->search_start = s->now;
	}
	s->conn_open = false;
	s->conn = 0;
	s->conn_addr[0] = '\0';
	s->conn_master = false;
	s->ka_out = false;
	s->link = CSESS_LINK_IDLE;
	s->link_deadline = 0;
	s->hedge_at = 0;
	s->ping_out = false;
}

static void
csess_probe_disconnect(struct csess *s, struct csess_probe *p)
{
	struct csess_action *a;

	if ((a = csess_push(s, CSESS_ACT_DISCONNECT)) != NULL)
		a->conn = p->conn;
	p->conn = 0;
}

/* Cancels every probe but the current connection (a master was found,
 * or the session ends). */
static void
csess_drop_probes(struct csess *s)
{
	unsigned i;

	for (i = 0; i < CSESS_PROBES_MAX; i++)
		if (s->probes[i].conn != 0)
			csess_probe_disconnect(s, &s->probes[i]);
}

static struct csess_probe *
csess_probe_find(struct csess *s, uint64_t conn)
{
	unsigned i;

	for (i = 0; conn != 0 && i < CSESS_PROBES_MAX; i++)
		if (s->probes[i].conn == conn)
			return &s->probes[i];
	return NULL;
}

/* True if a connection to ADDR is already open, current or probe: another
 * would learn nothing more. */
static bool
csess_probing(const struct csess *s, const char *addr)
{
	unsigned i;

	if (s->conn_open && strcmp(s->conn_addr, addr) == 0)
		return true;
	for (i = 0; i < CSESS_PROBES_MAX; i++)
		if (s->probes[i].conn != 0 && strcmp(s->probes[i].addr, addr) == 0)
			return true;
	return false;
}

static void
csess_connect(struct csess *s, const char *addr, bool master)
{
	struct csess_action *a;

	s->conn = s->next_conn++;
	s->conn_open = true;
	s->conn_master = master;
	csess_copy_addr(s->conn_addr, addr);
	s->link = CSESS_LINK_CONNECTING;
	s->link_deadline = s->now + s->cfg.connect_timeout_ms;
	s->hedge_at = s->cfg.probe_hedge_ms != 0 ? s->now + s->cfg.probe_hedge_ms : 0;
	if ((a = csess_push(s, CSESS_ACT_CONNECT)) != NULL) {
		a->conn = s->conn;
		csess_copy_addr(a->addr, addr);
	}
}

/*
 * Jittered exponential pause after a pass over the cell found no master:
 * uniform in [d/2, d] with d = min(cap, min << round).  A fail-over takes
 * about a master lease plus an election (a second or so with the cell's
 * defaults), so for the first backoff_fast_window_ms of a search the cap is
 * backoff_fast_max_ms: the client notices the new master within a fraction
 * of a second.  After the window the cap doubles per pass from there up to
 * backoff_max_ms, so a cell that stays without a master is not polled hard
 * by every client for long.  The jitter (from the per-client seed) spreads
 * the passes of many clients over the pause instead of lining them up.
 */
static uint64_t
csess_backoff(struct csess *s)
{
	uint64_t d = s->cfg.backoff_min_ms, cap = s->cfg.backoff_max_ms;
	uint64_t fast = s->cfg.backoff_fast_max_ms;
	unsigned i;

	if (fast != 0 && fast < cap) {
		if (s->now - s->search_start < s->cfg.backoff_fast_window_ms) {
			cap = fast;
		} else {
			for (i = 0; i < s->slow_round && fast < cap; i++)
				fast *= 2;
			if (fast < cap)
				cap = fast;
			if (s->slow_round < 64)
				s->slow_round++;
		}
	}
	for (i = 0; i < s->backoff_round && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	if (s->backoff_round < 64)
		s->backoff_round++;
	return d - d / 2 + csess_random(s) % (d / 2 + 1);
}

/* A connection to ADDR, where we went because it was (or was named) master,
 * could not be made: hints naming it are not followed
 * for dead_hint_ms (the replicas that still name a dead master would
 * otherwise send every pass there first, and on a real network a host that
 * is gone costs a whole connect_timeout_ms each time). */
static void
csess_mark_dead(struct csess *s, const char *addr)
{
	unsigned i;

	if (!csess_addr_ok(addr) || s->cfg.dead_hint_ms == 0)
		return;
	for (i = 0; i < CSESS_DEAD_MAX; i++)
		if (s->dead[i].at != 0 && strcmp(s->dead[i].addr, addr) == 0)
			break;
	if (i == CSESS_DEAD_MAX) {
		i = s->dead_next;
		s->dead_next = (s->dead_next + 1) % CSESS_DEAD_MAX;
	}
	csess_copy_addr(s->dead[i].addr, addr);
	s->dead[i].at = s->now;
}

static bool
csess_is_dead(const struct csess *s, const char *addr, uint64_t epoch)
{
	unsigned i;

	/* A hint from a newer epoch than ours is news, not a stale view. */
	if (s->epoch != 0 && epoch > s->epoch)
		return false;
	for (i = 0; i < CSESS_DEAD_MAX; i++)
		if (s->dead[i].at != 0 && s->now - s->dead[i].at < s->cfg.dead_hint_ms &&
		    strcmp(s->dead[i].addr, addr) == 0)
			return true;
	return false;
}

/*
 * The next step in finding the master (Chubby §2.1: a replica that is not
 * master names the one that is).  A hint is followed first, at most
 * nreplicas + 1 per pass so that replicas naming each other cannot hold the
 * client in a loop; then the list is asked in turn; after a whole pass,
 * back off.  A replica that answers but knows no master also ends the pass
 * (csess_pause): the cell is electing one, the other replicas know no more,
 * and asking them all at once would only multiply the connections every
 * client makes while it waits.
 */
static void
csess_locate(struct csess *s)
{
	const char *addr;

	if (s->hint[0] != '\0' && s->hops <= s->cfg.nreplicas) {
		char hint[CSESS_ADDR_MAX];

		csess_copy_addr(hint, s->hint);
		s->hint[0] = '\0';
		s->hops++;
		csess_connect(s, hint, true);
	} else if (s->pass_tried < s->cfg.nreplicas) {
		s->hint[0] = '\0';
		/* A master we just failed to reach is passed over too (it
		 * counts as asked): it would cost a connect, or on a real
		 * network a whole connect_timeout_ms, for nothing. */
		do {
			addr = s->replicas[s->next_idx];
			s->next_idx = (s->next_idx + 1) % s->cfg.nreplicas;
			s->pass_tried++;
		} while (s->pass_tried < s->cfg.nreplicas &&
		    (csess_is_dead(s, addr, 0) || csess_probing(s, addr)));
		if (csess_is_dead(s, addr, 0) || csess_probing(s, addr)) {
			s->link = CSESS_LINK_IDLE;
			s->link_deadline = s->now + csess_backoff(s);
		} else {
			csess_connect(s, addr, false);
		}
	} else {
		s->hint[0] = '\0';
		s->link = CSESS_LINK_IDLE;
		s->link_deadline = s->now + csess_backoff(s);
	}
	csess_sync_state(s);
}

/* A live replica knows no master: pause, then ask the next one. */
static void
csess_pause(struct csess *s)
{
	csess_drop(s);
	s->hint[0] = '\0';
	s->pass_tried = s->cfg.nreplicas;
	csess_locate(s);
}

/* A new pass over the cell (after a backoff, or when a working link broke). */
static void
csess_new_pass(struct csess *s)
{
	s->pass_tried = 0;
	s->hops = 0;
}

/* Drops the link and looks for the master again, trying the one we knew
 * first: most breaks are transient and the master is still there. */
static void
csess_relocate(struct csess *s, const char *hint)
{
	csess_drop(s);
	if (csess_addr_ok(hint))
		csess_copy_addr(s->hint, hint);
	csess_locate(s);
}

/*
 * Hedged probing (docs/CLIENT.md "Finding the master"): the current
 * connection has not found the master within probe_hedge_ms.  It may be
 * to a replica that is hung (SIGSTOP, swapping) or black-holed, which
 * would hold it for a whole connect_timeout_ms: keep it as a probe and ask
 * the next candidate as well.  Every candidate of a pass is then in flight
 * within nreplicas hedges, and one probe timeout bounds the pass however
 * many replicas are hung (the "hedged request" of Dean and Barroso, The
 * Tail at Scale, 2013).  A healthy cell answers well within the hedge, so
 * this costs no extra connection there.
 */
static void
csess_hedge(struct csess *s)
{
	struct csess_probe *p = NULL;
	unsigned i;

	s->hedge_at = 0;
	if ((s->hint[0] == '\0' || s->hops > s->cfg.nreplicas) && s->pass_tried >= s->cfg.nreplicas)
		return; /* nobody left to ask in this pass */
	for (i = 0; i < CSESS_PROBES_MAX && p == NULL; i++)
		if (s->probes[i].conn == 0)
			p = &s->probes[i];
	if (p == NULL)
		return;
	p->conn = s->conn;
	p->master = s->conn_master;
	p->asking = s->link == CSESS_LINK_ASKING;
	p->deadline = s->link_deadline;
	csess_copy_addr(p->addr, s->conn_addr);
	/* Moved aside, not dropped: no DISCONNECT. */
	s->conn_open = false;
	s->conn = 0;
	s->conn_addr[0] = '\0';
	s->conn_master = false;
	s->link = CSESS_LINK_IDLE;
	s->link_deadline = 0;
	csess_locate(s);
}

/* Probe P found something: it becomes the current connection, replacing
 * the one there (never a link with a session on it: the probes are all
 * cancelled once a master answers). */
static void
csess_promote(struct csess *s, struct csess_probe *p)
{
	csess_drop(s);
	s->conn = p->conn;
	s->conn_open = true;
	s->conn_master = p->master;
	csess_copy_addr(s->conn_addr, p->addr);
	s->link = p->asking ? CSESS_LINK_ASKING : CSESS_LINK_CONNECTING;
	s->link_deadline = p->deadline;
	p->conn = 0;
	csess_sync_state(s);
}

/* Probes whose wait is over are dropped, as the current connection's
 * would be (a master that could not be reached is remembered as dead). */
static void
csess_expire_probes(struct csess *s)
{
	unsigned i;

	for (i = 0; i < CSESS_PROBES_MAX; i++) {
		struct csess_probe *p = &s->probes[i];

		if (p->conn == 0 || s->now < p->deadline)
			continue;
		if (p->master && !p->asking)
			csess_mark_dead(s, p->addr);
		csess_probe_disconnect(s, p);
	}
}

/*
 * Local lease end, counted conservatively (Chubby §2.8): from when the
 * request that earned it was SENT, not when the reply came, shrunk by the
 * worst clock drift and a margin.  The master's lease can only be longer.
 */
static uint64_t
csess_lease_from(const struct csess *s, uint64_t sent_at, uint64_t granted)
{
	uint64_t off;

	if (granted > CSESS_LEASE_CAP)
		granted = CSESS_LEASE_CAP;
	off = granted - granted * s->cfg.drift_ppm / 1000000;
	off = off > s->cfg.margin_ms ? off - s->cfg.margin_ms : 0;
	return sent_at + off;
}

/* The guard: lease left when an unanswered KeepAlive makes the link
 * suspect.  A third of the granted lease at most, so short leases keep a
 * sensible hold. */
static uint64_t
csess_guard(const struct csess *s)
{
	uint64_t g = s->cfg.guard_ms;

	if (g > s->granted_ms / 3)
		g = s->granted_ms / 3;
	return g;
}

/*
 * Keeps exactly one KeepAlive outstanding (Chubby §2.8: the master holds it
 * until the lease is nearly over).  The client tells the master how long it
 * may hold it: until the guard before the local lease end, less a round
 * trip.  If it is not answered by then the link is suspect, leaving the
 * guard to reconnect or find another master before the lease runs out.  In
 * jeopardy there is nothing to wait for: hold 0.
 */
static void
csess_send_keepalive(struct csess *s)
{
	struct csess_action *a;
	uint64_t hold = 0, until;

	if (s->state == CSESS_SAFE) {
		until = s->lease_end > csess_guard(s) ? s->lease_end - csess_guard(s) : 0;
		if (until > s->now + s->cfg.slack_ms)
			hold = until - s->now - s->cfg.slack_ms;
	}
	s->ka_out = true;
	s->ka_sent = s->now;
	s->link = CSESS_LINK_UP;
	s->link_deadline = s->now + hold + s->cfg.slack_ms;
	if ((a = csess_push(s, CSESS_ACT_SEND_KEEPALIVE)) != NULL) {
		a->conn = s->conn;
		a->session_id = s->session_id;
		a->epoch = s->epoch;
		a->sent_at = s->now;
		a->hold_ms = hold;
	}
}

/* Connected to the replica believed to be master: start the session, or
 * resume KeepAlives for the one we have. */
static void
csess_at_master(struct csess *s)
{
	struct csess_action *a;

	/* This one answers as the master: the other probes are cancelled. */
	csess_drop_probes(s);
	s->hedge_at = 0;
	s->conn_master = true;
	if (csess_has_session(s)) {
		csess_send_keepalive(s);
		return;
	}
	s->link = CSESS_LINK_STARTING;
	s->start_sent = s->now;
	s->link_deadline = s->now + s->cfg.request_timeout_ms;
	if ((a = csess_push(s, CSESS_ACT_SEND_SESSION_START)) != NULL) {
		a->conn = s->conn;
		a->sent_at = s->now;
	}
	csess_sync_state(s);
}

/* A master answered on this link: location is over for now. */
static void
csess_found_master(struct csess *s)
{
	unsigned i;

	csess_copy_addr(s->master, s->conn_addr);
	csess_new_pass(s);
	s->backoff_round = 0;
	s->slow_round = 0;
	for (i = 0; i < CSESS_DEAD_MAX; i++)
		s->dead[i].at = 0;
}

/* The session is lost (Chubby §2.8): handles are invalid, waiting requests
 * fail, and nothing more happens. */
static void
csess_expire(struct csess *s)
{
	csess_drop_probes(s);
	csess_drop(s);
	s->state = CSESS_EXPIRED;
	s->grace_end = 0;
	csess_notify(s, CSESS_NOTIFY_EXPIRED);
	csess_push(s, CSESS_ACT_CACHE_FLUSH);
	csess_fail_pending(s, CHUBBY_E_SESSION_EXPIRED);
}

static void
csess_reissue(struct csess *s)
{
	struct csess_action *a;

	s->need_reissue = false;
	if ((a = csess_push(s, CSESS_ACT_REISSUE_PENDING)) != NULL) {
		a->conn = s->conn;
		a->epoch = s->epoch;
	}
}

static void csess_link_timeout(struct csess *s);

/* Deadlines that have passed, in the order they matter: the lease, the
 * grace period, then the probes' and the link's own waits, then the
 * hedge. */
static void
csess_advance(struct csess *s)
{
	if (s->state == CSESS_SAFE && s->now >= s->lease_end) {
		/* Chubby §2.8: the client is no longer sure the master still
		 * holds the session; it empties and disables its cache and
		 * tells the application, then waits out the grace period. */
		s->state = CSESS_JEOPARDY;
		s->grace_end = s->lease_end + s->cfg.grace_ms;
		csess_notify(s, CSESS_NOTIFY_JEOPARDY);
		csess_push(s, CSESS_ACT_CACHE_DISABLE);
	}
	if (s->state == CSESS_JEOPARDY && s->now >= s->grace_end) {
		csess_expire(s);
		return;
	}
	if (csess_terminal(s))
		return;
	csess_expire_probes(s);
	if (s->ping_out && s->link == CSESS_LINK_UP && s->now >= s->ping_deadline) {
		/* The master does not answer even a WHERE_IS_MASTER while a
		 * request waits at it: hung or cut off.  Suspect the link now
		 * rather than when the held KeepAlive runs out (seconds). */
		csess_new_pass(s);
		csess_relocate(s, s->master);
	}
	if (s->link_deadline != 0 && s->now >= s->link_deadline)
		csess_link_timeout(s);
	if (s->hedge_at != 0 && s->now >= s->hedge_at &&
	    (s->link == CSESS_LINK_CONNECTING || s->link == CSESS_LINK_ASKING))
		csess_hedge(s);
}

/* The link's own wait is over (csess_advance). */
static void
csess_link_timeout(struct csess *s)
{
	switch (s->link) {
	case CSESS_LINK_IDLE:
		/* The backoff is over: a new pass over the cell. */
		csess_new_pass(s);
		csess_locate(s);
		break;
	case CSESS_LINK_CONNECTING:
		if (s->conn_master)
			csess_mark_dead(s, s->conn_addr);
		csess_drop(s);
		csess_locate(s);
		break;
	case CSESS_LINK_ASKING:
	case CSESS_LINK_STARTING:
		csess_drop(s);
		csess_locate(s);
		break;
	case CSESS_LINK_UP:
		/* The KeepAlive is overdue on our own schedule, not TCP's: go
		 * back to the master we knew, then the rest of the cell. */
		csess_new_pass(s);
		csess_relocate(s, s->master);
		break;
	}
}

static int
csess_start(struct csess *s, const struct csess_config *c)
{
	size_t i;

	if (c == NULL || c->replicas == NULL || c->nreplicas == 0 || c->nreplicas > 64)
		return CHUBBY_E_INVALID;
	for (i = 0; i < c->nreplicas; i++)
		if (!csess_addr_ok(c->replicas[i]))
			return CHUBBY_E_INVALID;
	if (c->lease_ms == 0 || c->lease_ms > CSESS_LEASE_CAP || c->grace_ms > CSESS_LEASE_CAP ||
	    c->drift_ppm >= 100000 || c->margin_ms >= c->lease_ms || c->guard_ms >= c->lease_ms ||
	    c->slack_ms == 0 || c->slack_ms > CSESS_LEASE_CAP || c->connect_timeout_ms == 0 ||
	    c->connect_timeout_ms > CSESS_LEASE_CAP || c->request_timeout_ms == 0 ||
	    c->request_timeout_ms > CSESS_LEASE_CAP || c->backoff_min_ms == 0 ||
	    c->backoff_max_ms < c->backoff_min_ms || c->backoff_max_ms > CSESS_LEASE_CAP ||
	    (c->backoff_fast_max_ms != 0 && c->backoff_fast_max_ms < c->backoff_min_ms) ||
	    c->backoff_fast_max_ms > CSESS_LEASE_CAP || c->backoff_fast_window_ms > CSESS_LEASE_CAP ||
	    c->dead_hint_ms > CSESS_LEASE_CAP || c->probe_hedge_ms > CSESS_LEASE_CAP ||
	    c->stall_ms > CSESS_LEASE_CAP || c->ping_timeout_ms > CSESS_LEASE_CAP ||
	    (c->stall_ms != 0 && c->ping_timeout_ms == 0))
		return CHUBBY_E_INVALID;
	if ((s->replicas = calloc(c->nreplicas, sizeof *s->replicas)) == NULL)
		return CHUBBY_E_NOMEM;
	for (i = 0; i < c->nreplicas; i++)
		csess_copy_addr(s->replicas[i], c->replicas[i]);
	s->cfg = *c;
	s->cfg.replicas = NULL; /* borrowed: not to be used after START */
	s->rng = c->seed;
	s->started = true;
	s->granted_ms = c->lease_ms;
	s->search_start = s->now;
	s->state = CSESS_LOCATING;
	csess_locate(s);
	return CHUBBY_OK;
}

static void
csess_on_session_started(struct csess *s, const struct csess_event *ev)
{
	uint64_t end;

	if (s->link != CSESS_LINK_STARTING || ev->sent_at != s->start_sent || ev->session_id == 0)
		return;
	end = csess_lease_from(s, ev->sent_at, ev->lease_ms);
	csess_found_master(s);
	s->session_id = ev->session_id;
	s->epoch = ev->epoch;
	s->granted_ms = ev->lease_ms > CSESS_LEASE_CAP ? CSESS_LEASE_CAP : ev->lease_ms;
	s->lease_end = end;
	s->lease_sent = ev->sent_at;
	s->need_reissue = false;
	s->state = CSESS_SAFE;
	/* A lease already over by the time it arrived: jeopardy from the
	 * start, and the KeepAlive below asks for no hold. */
	csess_advance(s);
	if (!csess_terminal(s))
		csess_send_keepalive(s);
}

/*
 * Epoch news from the master we are talking to.  Chubby §2.9: a new master
 * picks a new epoch and refuses older ones; the client learns it, flushes
 * its cache (invalidations may have been lost with the old master) and
 * tells the application once.  In jeopardy this waits for SAFE.
 */
static void
csess_new_epoch(struct csess *s, uint64_t epoch)
{
	s->epoch = epoch;
	s->need_reissue = true;
	if (s->state != CSESS_SAFE) {
		s->failover_pending = true;
		return;
	}
	s->failover_pending = false;
	csess_notify(s, CSESS_NOTIFY_MASTER_FAILOVER);
	csess_push(s, CSESS_ACT_CACHE_FLUSH);
}

static void
csess_on_keepalive_reply(struct csess *s, const struct csess_event *ev)
{
	uint64_t end;
	bool was_jeopardy = s->state == CSESS_JEOPARDY;

	if (s->link != CSESS_LINK_UP || ev->epoch < s->epoch)
		return;
	/* Never let a reply to an older request than the one that set the
	 * lease move it (Chubby §2.8, counted from send time). */
	if (ev->sent_at < s->lease_sent || ev->sent_at > s->now)
		return;
	end = csess_lease_from(s, ev->sent_at, ev->lease_ms);
	csess_found_master(s);
	if (end > s->lease_end) {
		s->lease_end = end;
		s->lease_sent = ev->sent_at;
		s->granted_ms = ev->lease_ms > CSESS_LEASE_CAP ? CSESS_LEASE_CAP : ev->lease_ms;
	}
	if (ev->epoch > s->epoch)
		csess_new_epoch(s, ev->epoch);
	if (was_jeopardy && s->lease_end > s->now) {
		/* Saved within the grace period (Chubby §2.8). */
		s->state = CSESS_SAFE;
		s->grace_end = 0;
		csess_notify(s, CSESS_NOTIFY_SAFE);
		if (s->failover_pending) {
			s->failover_pending = false;
			csess_notify(s, CSESS_NOTIFY_MASTER_FAILOVER);
		}
		/* Empty, and trusted again from here on. */
		csess_push(s, CSESS_ACT_CACHE_FLUSH);
	}
	if (s->state == CSESS_SAFE && s->need_reissue)
		csess_reissue(s);
	/* Only the answer to the outstanding one frees the slot; the next
	 * goes out at once (Chubby §2.8). */
	if (s->ka_out && ev->sent_at == s->ka_sent)
		csess_send_keepalive(s);
}

static void
csess_on_bad_epoch(struct csess *s, const struct csess_event *ev)
{
	if (!csess_has_session(s) || s->link != CSESS_LINK_UP || ev->epoch <= s->epoch)
		return;
	/* Refused by a live master: it is the one to talk to. */
	csess_found_master(s);
	csess_new_epoch(s, ev->epoch);
	if (s->state == CSESS_SAFE && s->need_reissue)
		csess_reissue(s);
	if (ev->is_keepalive || !s->ka_out)
		csess_send_keepalive(s);
}

/* The master answered the liveness check (csess_on_stalled): alive.  If it
 * no longer says it is master, look again (its refusals would say so too,
 * but the requests waiting there may be held rather than refused). */
static void
csess_on_ping_reply(struct csess *s, const struct csess_event *ev)
{
	s->ping_out = false;
	if (csess_addr_ok(ev->addr) && strcmp(ev->addr, s->conn_addr) == 0)
		return;
	csess_new_pass(s);
	csess_relocate(s, csess_addr_ok(ev->addr) && !csess_is_dead(s, ev->addr, ev->epoch) ? ev->addr
	                                                                                      : NULL);
}

/* A request has waited stall_ms at the master: is the master still there?
 * WHERE_IS_MASTER is answered by the master's loop at once, without the
 * disk or a Paxos round, so a slow write does not make it late. */
static void
csess_on_stalled(struct csess *s)
{
	struct csess_action *a;

	if (s->cfg.stall_ms == 0 || s->link != CSESS_LINK_UP || s->ping_out)
		return;
	s->ping_out = true;
	s->ping_deadline = s->now + s->cfg.ping_timeout_ms;
	if ((a = csess_push(s, CSESS_ACT_SEND_WHERE_IS_MASTER)) != NULL)
		a->conn = s->conn;
}

static void
csess_on_where_is_master(struct csess *s, const struct csess_event *ev)
{
	const char *hint = ev->addr;

	if (s->link == CSESS_LINK_UP && s->ping_out) {
		csess_on_ping_reply(s, ev);
		return;
	}
	if (s->link != CSESS_LINK_ASKING)
		return;
	if (csess_addr_ok(hint) && strcmp(hint, s->conn_addr) == 0) {
		csess_at_master(s);
		return;
	}
	/* Another replica is master, or none is known: go there, or ask the
	 * next one.  A master we just failed to reach is taken for "none
	 * known": the replica has not heard of its successor yet. */
	if (!csess_addr_ok(hint) || csess_is_dead(s, hint, ev->epoch)) {
		csess_pause(s);
	} else if (csess_probing(s, hint)) {
		/* Already asked there (a probe in flight, perhaps to a master
		 * that hangs): ask the next replica rather than open another. */
		csess_drop(s);
		csess_locate(s);
	} else {
		csess_relocate(s, hint);
	}
}

/* An event from a probe (csess_hedge): what the current connection would
 * do, except that a probe that learns nothing is dropped without
 * disturbing the current connection or the other probes. */
static void
csess_on_probe_event(struct csess *s, struct csess_probe *p, const struct csess_event *ev)
{
	struct csess_action *a;
	const char *hint = ev->addr;

	switch (ev->type) {
	case CSESS_EV_CONNECTED:
		if (p->asking)
			break;
		if (p->master) {
			csess_promote(s, p);
			csess_at_master(s);
			break;
		}
		p->asking = true;
		p->deadline = s->now + s->cfg.request_timeout_ms;
		if ((a = csess_push(s, CSESS_ACT_SEND_WHERE_IS_MASTER)) != NULL)
			a->conn = p->conn;
		break;
	case CSESS_EV_CONNECT_FAILED:
	case CSESS_EV_DISCONNECTED:
		if (ev->type == CSESS_EV_CONNECT_FAILED && p->master)
			csess_mark_dead(s, p->addr);
		p->conn = 0; /* already gone: no DISCONNECT */
		break;
	case CSESS_EV_WHERE_IS_MASTER_REPLY:
		if (!p->asking)
			break;
		if (csess_addr_ok(hint) && strcmp(hint, p->addr) == 0) {
			csess_promote(s, p);
			csess_at_master(s);
		} else if (csess_addr_ok(hint) && !csess_is_dead(s, hint, ev->epoch) &&
		    !csess_probing(s, hint) && s->hops <= s->cfg.nreplicas) {
			/* Followed at once, like the current connection's. */
			csess_promote(s, p);
			csess_relocate(s, hint);
		} else {
			csess_probe_disconnect(s, p);
		}
		break;
	default:
		break; /* only WHERE_IS_MASTER goes on a probe */
	}
}

static void
csess_on_not_master(struct csess *s, const struct csess_event *ev)
{
	const char *hint = ev->addr;

	if (!csess_addr_ok(hint) || strcmp(hint, s->conn_addr) == 0 || csess_is_dead(s, hint, ev->epoch))
		csess_pause(s);
	else
		csess_relocate(s, hint);
}

static bool
csess_is_conn_event(enum csess_event_type t)
{
	return t >= CSESS_EV_CONNECTED && t <= CSESS_EV_WHERE_IS_MASTER_REPLY;
}

static void
csess_dispatch(struct csess *s, const struct csess_event *ev)
{
	struct csess_action *a;
	struct csess_probe *p;

	if (csess_is_conn_event(ev->type) && (p = csess_probe_find(s, ev->conn)) != NULL) {
		csess_on_probe_event(s, p, ev);
		return;
	}
	if (csess_is_conn_event(ev->type) && (ev->conn == 0 || ev->conn != s->conn))
		return; /* from a connection we dropped: stale */
	switch (ev->type) {
	case CSESS_EV_START:
	case CSESS_EV_TICK:
		break;
	case CSESS_EV_CONNECTED:
		if (s->link != CSESS_LINK_CONNECTING)
			break;
		if (s->conn_master) {
			csess_at_master(s);
		} else {
			s->link = CSESS_LINK_ASKING;
			s->link_deadline = s->now + s->cfg.request_timeout_ms;
			if ((a = csess_push(s, CSESS_ACT_SEND_WHERE_IS_MASTER)) != NULL)
				a->conn = s->conn;
			csess_sync_state(s);
		}
		break;
	case CSESS_EV_CONNECT_FAILED:
	case CSESS_EV_DISCONNECTED:
		if (ev->type == CSESS_EV_CONNECT_FAILED && s->conn_master)
			csess_mark_dead(s, s->conn_addr);
		s->conn_open = false; /* already gone: no DISCONNECT */
		if (s->link == CSESS_LINK_UP)
			csess_new_pass(s);
		csess_relocate(s, s->link == CSESS_LINK_UP ? s->master : NULL);
		break;
	case CSESS_EV_SESSION_STARTED:
		csess_on_session_started(s, ev);
		break;
	case CSESS_EV_KEEPALIVE_REPLY:
		csess_on_keepalive_reply(s, ev);
		break;
	case CSESS_EV_REPLY_NOT_MASTER:
		csess_on_not_master(s, ev);
		break;
	case CSESS_EV_REPLY_BAD_EPOCH:
		csess_on_bad_epoch(s, ev);
		break;
	case CSESS_EV_REPLY_SESSION_EXPIRED:
		/* The master says the session is gone: believe it at once. */
		if (csess_has_session(s) && s->link == CSESS_LINK_UP)
			csess_expire(s);
		break;
	case CSESS_EV_WHERE_IS_MASTER_REPLY:
		csess_on_where_is_master(s, ev);
		break;
	case CSESS_EV_REQUEST_STALLED:
		csess_on_stalled(s);
		break;
	case CSESS_EV_APP_CLOSE:
		/* Best effort: tell the master so it frees the session now
		 * rather than at lease end; nothing waits for the answer. */
		if (csess_has_session(s) && s->link == CSESS_LINK_UP &&
		    (a = csess_push(s, CSESS_ACT_SEND_SESSION_END)) != NULL) {
			a->conn = s->conn;
			a->session_id = s->session_id;
			a->epoch = s->epoch;
		}
		csess_drop_probes(s);
		csess_drop(s);
		s->state = CSESS_CLOSED;
		s->grace_end = 0;
		csess_fail_pending(s, CHUBBY_E_CANCELLED);
		break;
	}
}

int
csess_step(struct csess *s, const struct csess_event *ev, struct csess_actions *out)
{
	int rc = CHUBBY_OK;

	if (out == NULL)
		return CHUBBY_E_INVALID;
	out->n = 0;
	if (s == NULL || ev == NULL || ev->type < CSESS_EV_START || ev->type > CSESS_EV_REQUEST_STALLED)
		return CHUBBY_E_INVALID;
	if ((ev->type == CSESS_EV_START) == s->started)
		return CHUBBY_E_INVALID;
	s->out = out;
	s->overflow = false;
	if (ev->now > s->now)
		s->now = ev->now;
	if (ev->type == CSESS_EV_START) {
		rc = csess_start(s, ev->config);
	} else if (!csess_terminal(s)) {
		csess_advance(s);
		if (!csess_terminal(s))
			csess_dispatch(s, ev);
	}
	s->out = NULL;
	if (rc == CHUBBY_OK && s->overflow)
		rc = CHUBBY_E_INTERNAL;
	return rc;
}

uint64_t
csess_next_deadline(const struct csess *s, uint64_t now)
{
	uint64_t d = CSESS_NEVER;

	if (!s->started || csess_terminal(s))
		return CSESS_NEVER;
	if (s->state == CSESS_SAFE)
		d = s->lease_end;
	else if (s->state == CSESS_JEOPARDY)
		d = s->grace_end;
	if (s->link_deadline != 0 && s->link_deadline < d)
		d = s->link_deadline;
	if (s->hedge_at != 0 && s->hedge_at < d)
		d = s->hedge_at;
	if (s->ping_out && s->ping_deadline < d)
		d = s->ping_deadline;
	for (unsigned i = 0; i < CSESS_PROBES_MAX; i++)
		if (s->probes[i].conn != 0 && s->probes[i].deadline < d)
			d = s->probes[i].deadline;
	return d < now ? now : d;
}

enum csess_state
csess_state(const struct csess *s)
{
	return s->state;
}

enum csess_link
csess_link(const struct csess *s)
{
	return s->link;
}

uint64_t
csess_session_id(const struct csess *s)
{
	return s->session_id;
}

uint64_t
csess_epoch(const struct csess *s)
{
	return s->epoch;
}

uint64_t
csess_conn(const struct csess *s)
{
	return s->conn_open ? s->conn : 0;
}

size_t
csess_probes(const struct csess *s)
{
	size_t n = s->conn_open ? 1 : 0;

	for (unsigned i = 0; i < CSESS_PROBES_MAX; i++)
		n += s->probes[i].conn != 0;
	return n;
}

const char *
csess_master_addr(const struct csess *s)
{
	return s->master[0] != '\0' ? s->master : NULL;
}

uint64_t
csess_lease_end(const struct csess *s)
{
	return s->lease_end;
}

uint64_t
csess_grace_end(const struct csess *s)
{
	return s->grace_end;
}

bool
csess_keepalive_outstanding(const struct csess *s)
{
	return s->ka_out;
}

bool
csess_cache_usable(const struct csess *s, uint64_t now)
{
	/* Broken on purpose in the simulator only: trust the state alone. */
	if (SIM_KNOB(SIM_KNOB_CACHE_NO_CLOCK))
		return s->state == CSESS_SAFE;
	return s->state == CSESS_SAFE && now < s->lease_end;
}

bool
csess_accepts_requests(const struct csess *s)
{
	return s->state == CSESS_SAFE && s->link == CSESS_LINK_UP;
}

const char *
csess_state_name(enum csess_state st)
{
	if ((size_t)st >= sizeof csess_state_names / sizeof csess_state_names[0])
		return "unknown";
	return csess_state_names[st];
}

const char *
csess_action_name(enum csess_action_type t)
{
	switch (t) {
	case CSESS_ACT_CONNECT:
		return "CONNECT";
	case CSESS_ACT_DISCONNECT:
		return "DISCONNECT";
	case CSESS_ACT_SEND_WHERE_IS_MASTER:
		return "SEND_WHERE_IS_MASTER";
	case CSESS_ACT_SEND_SESSION_START:
		return "SEND_SESSION_START";
	case CSESS_ACT_SEND_KEEPALIVE:
		return "SEND_KEEPALIVE";
	case CSESS_ACT_SEND_SESSION_END:
		return "SEND_SESSION_END";
	case CSESS_ACT_NOTIFY:
		return "NOTIFY";
	case CSESS_ACT_CACHE_DISABLE:
		return "CACHE_DISABLE";
	case CSESS_ACT_CACHE_FLUSH:
		return "CACHE_FLUSH";
	case CSESS_ACT_FAIL_PENDING:
		return "FAIL_PENDING";
	case CSESS_ACT_REISSUE_PENDING:
		return "REISSUE_PENDING";
	}
	return "unknown";
}
