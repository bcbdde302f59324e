/* test_session.c: the client session state machine (libchubby/csess.c), driven with a fake clock. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "csess.h"
#include "harness.h"

#define NREPL 5

static const char *const addrs[NREPL] = {"r0:7000", "r1:7000", "r2:7000", "r3:7000", "r4:7000"};

/* Addresses of recent connections, by id modulo this. */
#define FX_CONNS 256

/* A fake shell: the core, its config and the last step's actions. */
struct fx {
	struct csess *s;
	struct csess_config cfg;
	struct csess_actions a;
	uint64_t now;
	uint64_t conn; /* the core's current connection (csess_conn), else the latest */
	char conn_addr[CSESS_ADDR_MAX];
	char conn_addrs[FX_CONNS][CSESS_ADDR_MAX]; /* every CONNECT's, by id */
	uint64_t last_connect;                     /* the latest CONNECT's id */
	uint64_t conn_last;                        /* fx_step: f->conn as the step left it */
	uint64_t ka_sent; /* from the latest SEND_KEEPALIVE */
	uint64_t ka_hold;
	uint64_t start_sent;
};

static int
fx_step(struct fx *f, const struct csess_event *ev)
{
	size_t i;
	int rc;
	uint64_t before = f->s != NULL ? csess_conn(f->s) : 0;

	f->conn_last = before;

	rc = csess_step(f->s, ev, &f->a);
	for (i = 0; i < f->a.n; i++) {
		const struct csess_action *x = &f->a.v[i];

		if (x->type == CSESS_ACT_CONNECT) {
			f->conn = x->conn;
			f->conn_last = x->conn;
			f->last_connect = x->conn;
			snprintf(f->conn_addr, sizeof f->conn_addr, "%s", x->addr);
			snprintf(f->conn_addrs[x->conn % FX_CONNS], CSESS_ADDR_MAX, "%s", x->addr);
		} else if (x->type == CSESS_ACT_SEND_KEEPALIVE) {
			f->ka_sent = x->sent_at;
			f->ka_hold = x->hold_ms;
		} else if (x->type == CSESS_ACT_SEND_SESSION_START) {
			f->start_sent = x->sent_at;
		}
	}
	/* With hedged probes an earlier connection may become current, even
	 * in the step that dialled a later one.  A test may aim f->conn at a
	 * stale connection on purpose: only what this step did counts. */
	if (f->s != NULL && csess_conn(f->s) != 0 &&
	    (csess_conn(f->s) != before || csess_conn(f->s) != f->conn_last)) {
		f->conn = csess_conn(f->s);
		snprintf(f->conn_addr, sizeof f->conn_addr, "%s", f->conn_addrs[f->conn % FX_CONNS]);
	}
	return rc;
}

static void
fx_ev(struct fx *f, enum csess_event_type t)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = t;
	ev.now = f->now;
	ev.conn = f->conn;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_tick(struct fx *f, uint64_t now)
{
	f->now = now;
	fx_ev(f, CSESS_EV_TICK);
}

static void
fx_where(struct fx *f, const char *addr)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_WHERE_IS_MASTER_REPLY;
	ev.now = f->now;
	ev.conn = f->conn;
	ev.addr = addr;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_not_master(struct fx *f, const char *addr)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_REPLY_NOT_MASTER;
	ev.now = f->now;
	ev.conn = f->conn;
	ev.addr = addr;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_started(struct fx *f, uint64_t epoch, uint64_t lease)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_SESSION_STARTED;
	ev.now = f->now;
	ev.conn = f->conn;
	ev.session_id = 77;
	ev.epoch = epoch;
	ev.lease_ms = lease;
	ev.sent_at = f->start_sent;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_ka_reply(struct fx *f, uint64_t sent_at, uint64_t epoch, uint64_t lease)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_KEEPALIVE_REPLY;
	ev.now = f->now;
	ev.conn = f->conn;
	ev.epoch = epoch;
	ev.lease_ms = lease;
	ev.sent_at = sent_at;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_bad_epoch(struct fx *f, uint64_t epoch, bool ka)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_REPLY_BAD_EPOCH;
	ev.now = f->now;
	ev.conn = f->conn;
	ev.epoch = epoch;
	ev.is_keepalive = ka;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static size_t
fx_count(const struct fx *f, enum csess_action_type t)
{
	size_t i, n = 0;

	for (i = 0; i < f->a.n; i++)
		n += f->a.v[i].type == t;
	return n;
}

static const struct csess_action *
fx_find(const struct fx *f, enum csess_action_type t)
{
	size_t i;

	for (i = 0; i < f->a.n; i++)
		if (f->a.v[i].type == t)
			return &f->a.v[i];
	return NULL;
}

/* Like fx_find, for reading a field: never NULL (a missing action fails
 * the test and reads as zeroes). */
static const struct csess_action *
fx_get(const struct fx *f, enum csess_action_type t)
{
	static const struct csess_action none;
	const struct csess_action *a = fx_find(f, t);

	if (a == NULL) {
		CU_FAIL("expected action missing");
		return &none;
	}
	return a;
}

/* Index of the first NOTIFY N in the last actions, or -1. */
static int
fx_notified(const struct fx *f, enum csess_notify n)
{
	size_t i;

	for (i = 0; i < f->a.n; i++)
		if (f->a.v[i].type == CSESS_ACT_NOTIFY && f->a.v[i].notify == n)
			return (int)i;
	return -1;
}

static int
fx_index(const struct fx *f, enum csess_action_type t)
{
	size_t i;

	for (i = 0; i < f->a.n; i++)
		if (f->a.v[i].type == t)
			return (int)i;
	return -1;
}

static uint64_t
f_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* d before jitter in backoff round R with the default config. */
static uint64_t
f_backoff_cap(unsigned r)
{
	return 20ULL << r;
}

/* START with the defaults, but probe_hedge_ms = HEDGE. */
static void
fx_init_hedge(struct fx *f, uint64_t hedge)
{
	struct csess_event ev;

	memset(f, 0, sizeof *f);
	csess_config_defaults(&f->cfg);
	f->cfg.probe_hedge_ms = hedge;
	f->cfg.replicas = addrs;
	f->cfg.nreplicas = NREPL;
	f->cfg.seed = harness_seed();
	f->now = 1000;
	f->s = csess_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->s);
	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_START;
	ev.now = f->now;
	ev.config = &f->cfg;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

static void
fx_init(struct fx *f)
{
	struct csess_config d;

	csess_config_defaults(&d);
	fx_init_hedge(f, d.probe_hedge_ms);
}

static void
fx_fini(struct fx *f)
{
	csess_free(f->s);
}

/* START, r0 is master: SAFE with session 77 at EPOCH, lease 12 s. */
static void
fx_establish(struct fx *f, uint64_t epoch)
{
	fx_init(f);
	CU_ASSERT_STRING_EQUAL(f->conn_addr, addrs[0]);
	f->now += 5;
	fx_ev(f, CSESS_EV_CONNECTED);
	fx_where(f, addrs[0]);
	CU_ASSERT_EQUAL(csess_state(f->s), CSESS_STARTING);
	f->now += 5;
	fx_started(f, epoch, 12000);
	CU_ASSERT_EQUAL(csess_state(f->s), CSESS_SAFE);
	CU_ASSERT_EQUAL(fx_count(f, CSESS_ACT_SEND_KEEPALIVE), 1);
}

/* ---- master location ---- */

static void
test_start_asks_first_replica(void)
{
	struct fx f;

	fx_init(&f);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_LOCATING);
	CU_ASSERT_EQUAL(f.a.n, 1);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[0]);
	fx_ev(&f, CSESS_EV_CONNECTED);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_SEND_WHERE_IS_MASTER));
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_WHERE_IS_MASTER)->conn, f.conn);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_ASKING);
	fx_fini(&f);
}

static void
test_follow_hint(void)
{
	struct fx f;
	uint64_t c0;

	fx_init(&f);
	c0 = f.conn;
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[2]);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_DISCONNECT)->conn, c0);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[2]);
	CU_ASSERT_NOT_EQUAL(f.conn, c0);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_CONNECTING);
	/* Connected to the named master: start the session there at once. */
	fx_ev(&f, CSESS_EV_CONNECTED);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_SEND_SESSION_START));
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_STARTING);
	/* It lost mastership meanwhile and names r3: follow again. */
	fx_not_master(&f, addrs[3]);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_DISCONNECT));
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[3]);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_started(&f, 9, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[3]);
	CU_ASSERT_EQUAL(csess_epoch(f.s), 9);
	CU_ASSERT_EQUAL(csess_session_id(f.s), 77);
	fx_fini(&f);
}

static void
test_no_hint_tries_next(void)
{
	struct fx f;

	/* One probe at a time, to see each wait alone (the hedged walk is
	 * tested below). */
	fx_init_hedge(&f, 0);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, NULL);
	/* A live replica that knows no master: the cell is electing one.
	 * Pause (short, jittered), then ask the next replica, rather than
	 * asking them all at once. */
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_DISCONNECT));
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 0);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_IDLE);
	CU_ASSERT(csess_next_deadline(f.s, f.now) - f.now <= f.cfg.backoff_min_ms);
	fx_tick(&f, csess_next_deadline(f.s, f.now));
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[1]);
	/* A replica that cannot be reached: the next one at once. */
	fx_ev(&f, CSESS_EV_CONNECT_FAILED);
	CU_ASSERT_PTR_NULL(fx_find(&f, CSESS_ACT_DISCONNECT)); /* already gone */
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[2]);
	/* A connect that never answers is abandoned on the core's schedule. */
	f.now += f.cfg.connect_timeout_ms - 1;
	fx_ev(&f, CSESS_EV_TICK);
	CU_ASSERT_EQUAL(f.a.n, 0);
	f.now += 1;
	fx_ev(&f, CSESS_EV_TICK);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_DISCONNECT));
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[3]);
	/* So is a WHERE_IS_MASTER that is never answered. */
	fx_ev(&f, CSESS_EV_CONNECTED);
	f.now += f.cfg.request_timeout_ms;
	fx_ev(&f, CSESS_EV_TICK);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[4]);
	fx_fini(&f);
}

/* Every replica unreachable, pass after pass. */
static uint64_t
fx_fail_pass(struct fx *f)
{
	int i;

	for (i = 0; i < NREPL; i++) {
		f->now += 3;
		fx_ev(f, CSESS_EV_CONNECT_FAILED);
	}
	/* A whole pass failed: no new CONNECT, a bounded pause. */
	CU_ASSERT_EQUAL(fx_count(f, CSESS_ACT_CONNECT), 0);
	CU_ASSERT_EQUAL(csess_link(f->s), CSESS_LINK_IDLE);
	return csess_next_deadline(f->s, f->now) - f->now;
}

static void
test_all_down_backoff(void)
{
	struct fx f;
	uint64_t max_fast = 0, max_slow = 0, d, t0;
	int round;

	fx_init(&f);
	t0 = f.now;
	/* The fast window: doubling from backoff_min_ms, capped at
	 * backoff_fast_max_ms. */
	for (round = 0; f.now - t0 < f.cfg.backoff_fast_window_ms - 400; round++) {
		CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[0]);
		d = fx_fail_pass(&f);
		CU_ASSERT_EQUAL(csess_state(f.s), CSESS_LOCATING);
		CU_ASSERT(d >= f.cfg.backoff_min_ms / 2);
		CU_ASSERT(d <= f.cfg.backoff_fast_max_ms);
		if (round == 0)
			CU_ASSERT(d <= f.cfg.backoff_min_ms);
		if (round >= 6)
			CU_ASSERT(d >= f.cfg.backoff_fast_max_ms / 2);
		max_fast = d > max_fast ? d : max_fast;
		fx_tick(&f, f.now + d - 1);
		CU_ASSERT_EQUAL(f.a.n, 0);
		fx_tick(&f, f.now + 1);
		CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 1);
	}
	CU_ASSERT(round > 30);
	/* After the window the cap doubles per pass up to backoff_max_ms.  The
	 * first passes of this loop may still fall in the window (how many
	 * depends on the jitter, so on the seed): count the passes after it. */
	int after = 0;
	for (round = 0; round < 16; round++) {
		bool slow = f.now - t0 >= f.cfg.backoff_fast_window_ms;
		d = fx_fail_pass(&f);
		CU_ASSERT(d <= f.cfg.backoff_max_ms);
		if (slow && max_slow == 0)
			CU_ASSERT(d <= 2 * f.cfg.backoff_fast_max_ms);
		/* 150 ms doubled per slow pass reaches the 5 s cap at the 7th. */
		if (after >= 8)
			CU_ASSERT(d >= f.cfg.backoff_max_ms / 2);
		after += slow;
		max_slow = d > max_slow ? d : max_slow;
		fx_tick(&f, f.now + d);
		CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 1);
	}
	CU_ASSERT(max_fast <= f.cfg.backoff_fast_max_ms);
	CU_ASSERT(max_slow <= f.cfg.backoff_max_ms);
	/* And it still finds a master when one comes back. */
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, f.conn_addr);
	fx_started(&f, 2, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	fx_fini(&f);
}

/*
 * kill -9 of the master of a SAFE session: the link breaks, the old master
 * refuses connections, and the other replicas keep naming it until they
 * hear of its successor.  The client must not follow those hints, must
 * keep its pauses short while the election runs (so it notices the new
 * master within a fraction of a second), and must start its search on the
 * fast schedule even though backoff rounds were spent long ago.
 */
static void
test_failover_search_fast(void)
{
	struct fx f;
	uint64_t t_kill, t_elected, d, connects = 0;

	fx_establish(&f, 3);
	f.now += 5000;
	fx_ka_reply(&f, f.ka_sent, 3, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	t_kill = f.now;
	fx_ev(&f, CSESS_EV_DISCONNECTED);
	/* The master we knew first (most breaks are transient)... */
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[0]);
	fx_ev(&f, CSESS_EV_CONNECT_FAILED);
	/* ...then the list, at once. */
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 1);
	CU_ASSERT_STRING_NOT_EQUAL(f.conn_addr, addrs[0]);
	t_elected = t_kill + 1200;
	while (f.now < t_elected) {
		CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_CONNECTING);
		CU_ASSERT_STRING_NOT_EQUAL(f.conn_addr, addrs[0]); /* the dead hint is not followed */
		connects++;
		f.now += 2;
		fx_ev(&f, CSESS_EV_CONNECTED);
		f.now += 1;
		fx_where(&f, addrs[0]); /* stale: names the dead master */
		CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 0);
		CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_IDLE);
		d = csess_next_deadline(f.s, f.now) - f.now;
		CU_ASSERT(d >= f.cfg.backoff_min_ms / 2 && d <= f.cfg.backoff_fast_max_ms);
		fx_tick(&f, f.now + d);
	}
	/* One connection per pause, not one per replica. */
	CU_ASSERT(connects <= 16);
	/* r3 was elected: the next replica asked names it. */
	for (int i = 0; i < 10 && csess_link(f.s) == CSESS_LINK_IDLE; i++)
		fx_tick(&f, csess_next_deadline(f.s, f.now));
	/* Within one fast pause of the election, plus the 3 ms the loop's
	 * last round spent before its pause began. */
	CU_ASSERT(f.now - t_elected <= f.cfg.backoff_fast_max_ms + 3);
	fx_ev(&f, CSESS_EV_CONNECTED);
	if (strcmp(f.conn_addr, addrs[3]) != 0) {
		fx_where(&f, addrs[3]);
		CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[3]);
		fx_ev(&f, CSESS_EV_CONNECTED);
	} else {
		fx_where(&f, addrs[3]);
	}
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
	fx_bad_epoch(&f, 4, true);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_MASTER_FAILOVER) >= 0); /* still SAFE */
	f.now += 2;
	fx_ka_reply(&f, f.ka_sent, 4, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT(csess_accepts_requests(f.s));
	CU_ASSERT(f.now - t_kill < 1200 + f.cfg.backoff_fast_max_ms + 20);
	fx_fini(&f);
}

/* A dead address is avoided only for dead_hint_ms: a master that comes back
 * (or a hint that was right after all) is followed again later. */
static void
test_dead_hint_expires(void)
{
	struct fx f;

	fx_init(&f);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[2]);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[2]);
	fx_ev(&f, CSESS_EV_CONNECT_FAILED); /* r2 is down */
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[1]);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[2]);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 0); /* not followed: pause */
	f.now += f.cfg.dead_hint_ms;
	fx_tick(&f, f.now);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[2]);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[2]); /* followed again */
	/* NOT_MASTER naming a dead address is not followed either. */
	fx_ev(&f, CSESS_EV_CONNECT_FAILED);
	fx_ev(&f, CSESS_EV_CONNECTED);
	if (csess_link(f.s) == CSESS_LINK_ASKING) {
		fx_where(&f, f.conn_addr);
		fx_ev(&f, CSESS_EV_CONNECTED);
	}
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_STARTING);
	fx_not_master(&f, addrs[2]);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CONNECT), 0);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_IDLE);
	fx_fini(&f);
}

/* Many clients that lost the same master: their pauses are spread over
 * [d/2, d] by their seeds, not lined up (no stampede on the new master). */
static void
test_backoff_jitter_spreads(void)
{
	uint64_t lo[4], hi[4], seed;
	unsigned k, r, distinct = 0;
	uint64_t first[64];

	for (r = 0; r < 4; r++) {
		lo[r] = UINT64_MAX;
		hi[r] = 0;
	}
	for (k = 0; k < 64; k++) {
		struct fx f;
		struct csess_event ev;

		memset(&f, 0, sizeof f);
		csess_config_defaults(&f.cfg);
		f.cfg.replicas = addrs;
		f.cfg.nreplicas = NREPL;
		seed = harness_seed() * 7919 + k;
		f.cfg.seed = seed;
		f.now = 1000;
		f.s = csess_new();
		CU_ASSERT_PTR_NOT_NULL_FATAL(f.s);
		memset(&ev, 0, sizeof ev);
		ev.type = CSESS_EV_START;
		ev.now = f.now;
		ev.config = &f.cfg;
		CU_ASSERT_EQUAL(fx_step(&f, &ev), CHUBBY_OK);
		for (r = 0; r < 4; r++) {
			uint64_t d = fx_fail_pass(&f);

			if (r == 0)
				first[k] = d;
			lo[r] = d < lo[r] ? d : lo[r];
			hi[r] = d > hi[r] ? d : hi[r];
			fx_tick(&f, f.now + d);
		}
		csess_free(f.s);
	}
	for (r = 0; r < 4; r++) {
		uint64_t dmax = f_min_u64(f_backoff_cap(r), 150);

		CU_ASSERT(lo[r] >= dmax / 2);
		CU_ASSERT(hi[r] <= dmax);
		CU_ASSERT(hi[r] - lo[r] >= dmax / 4); /* spread, not one value */
	}
	for (k = 0; k < 64; k++) {
		unsigned j;

		for (j = 0; j < k && first[j] != first[k]; j++)
			;
		distinct += j == k;
	}
	CU_ASSERT(distinct >= 5);
}

static void
test_hint_loop_bounded(void)
{
	struct fx f;
	int i;

	/* Two replicas naming each other forever: the client falls back to
	 * the list and then backs off instead of spinning. */
	fx_init(&f);
	for (i = 0; i < 40 && csess_link(f.s) != CSESS_LINK_IDLE; i++) {
		fx_ev(&f, CSESS_EV_CONNECTED);
		if (csess_link(f.s) == CSESS_LINK_ASKING)
			fx_where(&f, strcmp(f.conn_addr, addrs[1]) == 0 ? addrs[2] : addrs[1]);
		else
			fx_not_master(&f, strcmp(f.conn_addr, addrs[1]) == 0 ? addrs[2] : addrs[1]);
	}
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_IDLE);
	CU_ASSERT(i < 40);
	fx_fini(&f);
}

/* ---- session, lease and KeepAlives ---- */


/* ---- hedged probing (docs/CLIENT.md "Finding the master") ---- */

/* The id of the latest CONNECT to ADDR, or 0. */
static uint64_t
fx_conn_to(const struct fx *f, const char *addr)
{
	uint64_t id;

	for (id = f->last_connect; id > 0 && f->last_connect - id < FX_CONNS; id--)
		if (strcmp(f->conn_addrs[id % FX_CONNS], addr) == 0)
			return id;
	return 0;
}

static void
fx_ev_on(struct fx *f, enum csess_event_type t, uint64_t conn, const char *addr)
{
	struct csess_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = t;
	ev.now = f->now;
	ev.conn = conn;
	ev.addr = addr;
	CU_ASSERT_EQUAL(fx_step(f, &ev), CHUBBY_OK);
}

/* True if the last step disconnected CONN. */
static bool
fx_dropped(const struct fx *f, uint64_t conn)
{
	size_t i;

	for (i = 0; i < f->a.n; i++)
		if (f->a.v[i].type == CSESS_ACT_DISCONNECT && f->a.v[i].conn == conn)
			return true;
	return false;
}

/* Runs the clock to T in 1 ms ticks (as a shell would, never past the
 * core's deadline), counting CONNECTs. */
static unsigned
fx_run_to(struct fx *f, uint64_t t)
{
	unsigned n = 0;

	while (f->now < t) {
		uint64_t next = csess_next_deadline(f->s, f->now);

		fx_tick(f, next < t && next > f->now ? next : (next <= f->now ? f->now + 1 : t));
		n += (unsigned)fx_count(f, CSESS_ACT_CONNECT);
	}
	return n;
}

/*
 * r0 and r1 hang (SIGSTOP: TCP accepts, TLS never answers), r2 is master.
 * Today's serial walk would spend two connect timeouts (4 s) before asking
 * r2; hedged, r1 is asked after one hedge and r2 after two, and r2's answer
 * wins at once: the hung probes are cancelled.
 */
static void
test_hedge_past_hung(void)
{
	struct fx f;
	uint64_t t0, c0, c1, c2;

	fx_init(&f);
	t0 = f.now;
	c0 = fx_conn_to(&f, addrs[0]);
	CU_ASSERT_NOT_EQUAL_FATAL(c0, 0);
	fx_run_to(&f, t0 + f.cfg.probe_hedge_ms - 1);
	CU_ASSERT_EQUAL(fx_conn_to(&f, addrs[1]), 0); /* not before the hedge */
	fx_run_to(&f, t0 + f.cfg.probe_hedge_ms);
	c1 = fx_conn_to(&f, addrs[1]);
	CU_ASSERT_NOT_EQUAL_FATAL(c1, 0);
	CU_ASSERT(!fx_dropped(&f, c0)); /* kept: it may still answer */
	CU_ASSERT_EQUAL(csess_probes(f.s), 2);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_LOCATING);
	/* r0's TCP connect went through, its TLS hangs: nothing changes. */
	fx_run_to(&f, t0 + 2 * f.cfg.probe_hedge_ms);
	c2 = fx_conn_to(&f, addrs[2]);
	CU_ASSERT_NOT_EQUAL_FATAL(c2, 0);
	CU_ASSERT_EQUAL(csess_probes(f.s), 3);
	f.now += 2;
	fx_ev_on(&f, CSESS_EV_CONNECTED, c2, NULL);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_WHERE_IS_MASTER)->conn, c2);
	f.now += 1;
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c2, addrs[2]);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_SESSION_START)->conn, c2);
	CU_ASSERT(fx_dropped(&f, c0));
	CU_ASSERT(fx_dropped(&f, c1));
	CU_ASSERT_EQUAL(csess_probes(f.s), 1);
	CU_ASSERT_EQUAL(csess_conn(f.s), c2);
	fx_started(&f, 4, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[2]);
	CU_ASSERT(f.now - t0 < 100);
	/* Late events from the cancelled probes change nothing. */
	fx_ev_on(&f, CSESS_EV_CONNECTED, c0, NULL);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c1, addrs[1]);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_conn(f.s), c2);
	fx_fini(&f);
}

/* A slow probe's answer counts as much as the current one's: r0 answers
 * after r1 was asked, naming r3; r3 is dialled at once, and r3's answer
 * cancels r1. */
static void
test_hedge_slow_probe_answers(void)
{
	struct fx f;
	uint64_t t0, c0, c1, c3;

	fx_init(&f);
	t0 = f.now;
	c0 = fx_conn_to(&f, addrs[0]);
	fx_run_to(&f, t0 + f.cfg.probe_hedge_ms);
	c1 = fx_conn_to(&f, addrs[1]);
	CU_ASSERT_NOT_EQUAL_FATAL(c1, 0);
	f.now += 5;
	fx_ev_on(&f, CSESS_EV_CONNECTED, c0, NULL);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_WHERE_IS_MASTER)->conn, c0);
	/* A probe that knows no master is just dropped: r1's probe goes on. */
	fx_ev_on(&f, CSESS_EV_CONNECTED, c1, NULL);
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c1, NULL);
	CU_ASSERT(fx_dropped(&f, c1) || csess_probes(f.s) == 2);
	f.now += 1;
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c0, addrs[3]);
	c3 = fx_conn_to(&f, addrs[3]);
	CU_ASSERT_NOT_EQUAL_FATAL(c3, 0);
	CU_ASSERT(fx_dropped(&f, c0));
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_CONNECTING);
	fx_ev_on(&f, CSESS_EV_CONNECTED, c3, NULL);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_SESSION_START)->conn, c3);
	CU_ASSERT_EQUAL(csess_probes(f.s), 1);
	fx_started(&f, 5, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[3]);
	fx_fini(&f);
}

/* Every replica hangs: all are asked within one round (nreplicas - 1
 * hedges) and one probe timeout later all are given up; the pass then
 * pauses as before.  The cost is one probe timeout, not one per replica. */
static void
test_hedge_all_hung_one_timeout(void)
{
	struct fx f;
	uint64_t t0;
	unsigned connects;
	int i;

	fx_init(&f);
	t0 = f.now;
	connects = 1 + fx_run_to(&f, t0 + (NREPL - 1) * f.cfg.probe_hedge_ms);
	CU_ASSERT_EQUAL(connects, NREPL);
	CU_ASSERT_EQUAL(csess_probes(f.s), NREPL);
	for (i = 0; i < NREPL; i++)
		CU_ASSERT_NOT_EQUAL(fx_conn_to(&f, addrs[i]), 0);
	connects = fx_run_to(&f, t0 + (NREPL - 1) * f.cfg.probe_hedge_ms + f.cfg.connect_timeout_ms);
	CU_ASSERT_EQUAL(csess_probes(f.s), 0 + (connects > 0));
	/* All given up by then, the next pass at most one pause later. */
	CU_ASSERT(connects <= 1);
	fx_fini(&f);
}

/*
 * The master of a SAFE session freezes (SIGSTOP).  Its KeepAlive goes
 * unanswered; the client tries it first (most breaks are transient) but
 * asks the list one hedge later.  r1 still names the frozen master (an
 * election is running): that is not followed again while a probe to it is
 * in flight; the next replica is asked.  When r2 names the new master r3,
 * the session moves there.  No connect timeout is waited for.
 */
static void
test_hedge_frozen_master(void)
{
	struct fx f;
	uint64_t t_lost, c0, c1, c2, c3;

	fx_establish(&f, 3); /* r0 master */
	fx_tick(&f, csess_next_deadline(f.s, f.now)); /* the KeepAlive is overdue */
	CU_ASSERT_NOT_EQUAL(csess_link(f.s), CSESS_LINK_UP);
	t_lost = f.now;
	c0 = f.last_connect;
	CU_ASSERT_STRING_EQUAL(f.conn_addrs[c0 % FX_CONNS], addrs[0]);
	fx_run_to(&f, t_lost + f.cfg.probe_hedge_ms);
	c1 = fx_conn_to(&f, addrs[1]);
	CU_ASSERT_FATAL(c1 > c0);
	fx_ev_on(&f, CSESS_EV_CONNECTED, c1, NULL);
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c1, addrs[0]);
	CU_ASSERT_EQUAL(fx_conn_to(&f, addrs[0]), c0); /* no second connection to r0 */
	c2 = fx_conn_to(&f, addrs[2]);
	CU_ASSERT_FATAL(c2 > c1);
	fx_ev_on(&f, CSESS_EV_CONNECTED, c2, NULL);
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, c2, addrs[3]);
	c3 = fx_conn_to(&f, addrs[3]);
	CU_ASSERT_FATAL(c3 > c2);
	fx_ev_on(&f, CSESS_EV_CONNECTED, c3, NULL);
	/* At the new master: the KeepAlive resumes there, r0 is cancelled. */
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_KEEPALIVE)->conn, c3);
	CU_ASSERT(fx_dropped(&f, c0));
	CU_ASSERT_EQUAL(csess_probes(f.s), 1);
	fx_ka_reply(&f, f.ka_sent, 4, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[3]);
	CU_ASSERT(f.now - t_lost < f.cfg.connect_timeout_ms / 10);
	fx_fini(&f);
}


/* ---- a master that hangs under a waiting request ---- */

/*
 * The master of a SAFE session freezes while a write waits at it.  Its
 * KeepAlive is held (seconds may pass before it is overdue), so the shell
 * reports the stalled request; the core asks the master WHERE_IS_MASTER on
 * the link and, with no answer within ping_timeout_ms, suspects the link:
 * it looks for the master again (the old one first, then the list, hedged)
 * long before the KeepAlive would have said so.
 */
static void
test_stall_ping_suspects_frozen_master(void)
{
	struct fx f;
	uint64_t c_master, t_stall, ka_due;

	fx_establish(&f, 3);
	c_master = f.conn;
	ka_due = csess_next_deadline(f.s, f.now);
	CU_ASSERT(ka_due - f.now > 2000); /* the KeepAlive is held for seconds */
	f.now += f.cfg.stall_ms;
	fx_ev(&f, CSESS_EV_REQUEST_STALLED);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_WHERE_IS_MASTER)->conn, c_master);
	t_stall = f.now;
	/* A second report while the check is out sends nothing more. */
	fx_ev(&f, CSESS_EV_REQUEST_STALLED);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT(csess_next_deadline(f.s, f.now) <= t_stall + f.cfg.ping_timeout_ms);
	fx_tick(&f, t_stall + f.cfg.ping_timeout_ms - 1);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_UP);
	fx_tick(&f, t_stall + f.cfg.ping_timeout_ms);
	CU_ASSERT(fx_dropped(&f, c_master));
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[0]); /* the old master first */
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE); /* the lease still holds */
	/* One hedge later the list is asked too; r1 names the new master r2. */
	fx_run_to(&f, f.now + f.cfg.probe_hedge_ms);
	CU_ASSERT_NOT_EQUAL_FATAL(fx_conn_to(&f, addrs[1]), 0);
	fx_ev_on(&f, CSESS_EV_CONNECTED, fx_conn_to(&f, addrs[1]), NULL);
	fx_ev_on(&f, CSESS_EV_WHERE_IS_MASTER_REPLY, fx_conn_to(&f, addrs[1]), addrs[2]);
	fx_ev_on(&f, CSESS_EV_CONNECTED, fx_conn_to(&f, addrs[2]), NULL);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_KEEPALIVE)->conn, fx_conn_to(&f, addrs[2]));
	fx_ka_reply(&f, f.ka_sent, 4, 12000);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_REISSUE_PENDING)); /* the write goes again */
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[2]);
	CU_ASSERT(f.now - t_stall < 1000);
	fx_fini(&f);
}

/* A master that answers the check is alive: the link stays, and a master
 * that answers naming another is left for that one. */
static void
test_stall_ping_answered(void)
{
	struct fx f;
	uint64_t c_master;

	fx_establish(&f, 3);
	c_master = f.conn;
	fx_ev(&f, CSESS_EV_REQUEST_STALLED);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_SEND_WHERE_IS_MASTER));
	f.now += 3;
	fx_where(&f, addrs[0]);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_tick(&f, f.now + f.cfg.ping_timeout_ms * 2);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_UP);
	CU_ASSERT_EQUAL(f.conn, c_master);
	/* Checked again on the next report. */
	fx_ev(&f, CSESS_EV_REQUEST_STALLED);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_SEND_WHERE_IS_MASTER));
	fx_where(&f, addrs[4]);
	CU_ASSERT(fx_dropped(&f, c_master));
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[4]);
	/* Not UP: a report changes nothing. */
	fx_ev(&f, CSESS_EV_REQUEST_STALLED);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_fini(&f);
}

static void
test_session_start_safe(void)
{
	struct fx f;
	const struct csess_action *ka;
	uint64_t end;

	fx_establish(&f, 3);
	/* Lease counted from when SESSION_START was sent, less drift and margin. */
	end = f.start_sent + 12000 - 12000 * f.cfg.drift_ppm / 1000000 - f.cfg.margin_ms;
	CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
	CU_ASSERT(csess_lease_end(f.s) <= f.start_sent + 12000);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[0]);
	ka = fx_get(&f, CSESS_ACT_SEND_KEEPALIVE);
	CU_ASSERT_EQUAL(ka->epoch, 3);
	CU_ASSERT_EQUAL(ka->session_id, 77);
	CU_ASSERT_EQUAL(ka->sent_at, f.now);
	CU_ASSERT_EQUAL(ka->hold_ms, end - f.cfg.guard_ms - f.cfg.slack_ms - f.now);
	CU_ASSERT(csess_keepalive_outstanding(f.s));
	CU_ASSERT(csess_accepts_requests(f.s));
	CU_ASSERT_EQUAL(csess_next_deadline(f.s, f.now), end - f.cfg.guard_ms);
	fx_fini(&f);
}

static void
test_keepalive_cycle(void)
{
	struct fx f;
	int i;

	fx_establish(&f, 3);
	for (i = 0; i < 100; i++) {
		uint64_t sent = f.ka_sent, end;

		/* The master holds the KeepAlive as long as it was asked to. */
		fx_tick(&f, sent + f.ka_hold / 2);
		CU_ASSERT_EQUAL(f.a.n, 0);
		f.now = sent + f.ka_hold;
		fx_ka_reply(&f, sent, 3, 12000);
		CU_ASSERT_EQUAL(f.a.n, 1);
		CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
		CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
		end = sent + 12000 - 12 - f.cfg.margin_ms;
		CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
		CU_ASSERT(f.ka_hold > 0);
	}
	/* 100 cycles span many leases: the holds of two cycles add up to
	 * about lease - guard - slack (docs/CLIENT.md "KeepAlives"). */
	CU_ASSERT(f.now > 50ULL * 6000);
	fx_fini(&f);
}

static void
test_lease_from_send_time(void)
{
	struct fx f;
	uint64_t sent, end;

	fx_establish(&f, 3);
	sent = f.ka_sent;
	/* A reply that took 5 s to come back still counts from the send. */
	f.now = sent + 5000;
	fx_ka_reply(&f, sent, 3, 12000);
	CU_ASSERT(csess_lease_end(f.s) <= sent + 12000);
	CU_ASSERT_EQUAL(csess_lease_end(f.s), sent + 12000 - 12 - f.cfg.margin_ms);
	/* A lease shorter than the margin gives nothing, and a reply never
	 * shortens the lease already held. */
	end = csess_lease_end(f.s);
	f.now += 10;
	fx_ka_reply(&f, f.ka_sent, 3, 50);
	CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
	fx_fini(&f);
}

static void
test_suspect_before_lease_end(void)
{
	struct fx f;
	uint64_t end, dl, c0;

	fx_establish(&f, 3);
	end = csess_lease_end(f.s);
	dl = csess_next_deadline(f.s, f.now);
	CU_ASSERT(dl < end);
	CU_ASSERT_EQUAL(dl, end - f.cfg.guard_ms);
	c0 = f.conn;
	fx_tick(&f, dl - 1);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_tick(&f, dl);
	/* Dropped on its own deadline, back to the master it knew. */
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_DISCONNECT)->conn, c0);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[0]);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT(!csess_keepalive_outstanding(f.s));
	CU_ASSERT(!csess_accepts_requests(f.s));
	/* Master unreachable: ask the rest of the cell, still within the lease;
	 * r1 says it is master now. */
	fx_ev(&f, CSESS_EV_CONNECT_FAILED);
	CU_ASSERT_STRING_EQUAL(f.conn_addr, addrs[1]);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_CONNECTING);
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[1]);
	CU_ASSERT(f.now < end);
	/* Reconnected in time: a KeepAlive, and what was lost is resent. */
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
	f.now += 3;
	fx_ka_reply(&f, f.ka_sent, 3, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_REISSUE_PENDING));
	CU_ASSERT_EQUAL(fx_notified(&f, CSESS_NOTIFY_JEOPARDY), -1);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[1]);
	fx_fini(&f);
}

/* From SAFE, the master vanishes: every connect fails until the lease ends. */
static void
fx_into_jeopardy(struct fx *f)
{
	uint64_t end = csess_lease_end(f->s);

	while (csess_state(f->s) == CSESS_SAFE) {
		uint64_t dl = csess_next_deadline(f->s, f->now);

		CU_ASSERT_FATAL(dl <= end);
		if (csess_link(f->s) == CSESS_LINK_CONNECTING && dl > f->now + 1) {
			f->now += 1;
			fx_ev(f, CSESS_EV_CONNECT_FAILED);
		} else {
			fx_tick(f, dl);
		}
	}
}

static void
test_jeopardy(void)
{
	struct fx f;
	uint64_t end;

	fx_establish(&f, 3);
	end = csess_lease_end(f.s);
	fx_into_jeopardy(&f);
	CU_ASSERT_EQUAL(f.now, end);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_JEOPARDY);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_JEOPARDY) >= 0);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_CACHE_DISABLE));
	CU_ASSERT_EQUAL(csess_grace_end(f.s), end + f.cfg.grace_ms);
	CU_ASSERT(!csess_accepts_requests(f.s));
	fx_fini(&f);
}

static void
test_saved_by_new_master(void)
{
	struct fx f;
	const struct csess_action *ka;
	int safe, fo, flush, re;

	fx_establish(&f, 3);
	fx_into_jeopardy(&f);
	/* Well inside the grace period; the tick lets the core act on the
	 * waits that ran out meanwhile (a connection still pending from before
	 * the jump, to r4 itself with some seeds, is abandoned there). */
	fx_tick(&f, f.now + 20000);
	/* Keep looking; r4 names r3 as the new master.  (conn_addr keeps the
	 * last address tried: r4's, also while backing off after a failed
	 * pass, so the link must be connecting too.) */
	while (strcmp(f.conn_addr, addrs[4]) != 0 || csess_link(f.s) != CSESS_LINK_CONNECTING) {
		f.now += 1;
		fx_ev(&f, CSESS_EV_CONNECT_FAILED);
		if (csess_link(f.s) == CSESS_LINK_IDLE)
			fx_tick(&f, csess_next_deadline(f.s, f.now));
	}
	fx_ev(&f, CSESS_EV_CONNECTED);
	fx_where(&f, addrs[3]);
	fx_ev(&f, CSESS_EV_CONNECTED);
	ka = fx_get(&f, CSESS_ACT_SEND_KEEPALIVE);
	CU_ASSERT_EQUAL(ka->hold_ms, 0); /* in jeopardy: answer now */
	CU_ASSERT_EQUAL(ka->epoch, 3);
	/* Chubby §2.9: the first KeepAlive is refused for its old epoch. */
	f.now += 2;
	fx_bad_epoch(&f, 4, true);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 0); /* not yet: still in jeopardy */
	ka = fx_get(&f, CSESS_ACT_SEND_KEEPALIVE);
	CU_ASSERT_EQUAL(ka->epoch, 4);
	CU_ASSERT_EQUAL(csess_epoch(f.s), 4);
	/* The next succeeds. */
	f.now += 2;
	fx_ka_reply(&f, f.ka_sent, 4, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	safe = fx_notified(&f, CSESS_NOTIFY_SAFE);
	fo = fx_notified(&f, CSESS_NOTIFY_MASTER_FAILOVER);
	flush = fx_index(&f, CSESS_ACT_CACHE_FLUSH);
	re = fx_index(&f, CSESS_ACT_REISSUE_PENDING);
	CU_ASSERT(safe >= 0 && fo > safe && flush > fo && re > flush);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_REISSUE_PENDING)->epoch, 4);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_REISSUE_PENDING)->conn, f.conn);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 2);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
	CU_ASSERT_EQUAL(csess_grace_end(f.s), 0);
	CU_ASSERT_STRING_EQUAL(csess_master_addr(f.s), addrs[3]);
	CU_ASSERT(csess_accepts_requests(f.s));
	fx_fini(&f);
}

static void
test_saved_same_epoch(void)
{
	struct fx f;

	/* A KeepAlive reply that itself carries a new epoch also counts. */
	fx_establish(&f, 3);
	fx_into_jeopardy(&f);
	while (csess_link(f.s) != CSESS_LINK_CONNECTING)
		fx_tick(&f, csess_next_deadline(f.s, f.now));
	fx_ev(&f, CSESS_EV_CONNECTED);
	if (csess_link(f.s) == CSESS_LINK_ASKING) {
		fx_where(&f, f.conn_addr);
	}
	CU_ASSERT_EQUAL_FATAL(csess_link(f.s), CSESS_LINK_UP);
	f.now += 1;
	fx_ka_reply(&f, f.ka_sent, 5, 12000);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_SAFE) >= 0);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_MASTER_FAILOVER) >= 0);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_CACHE_FLUSH));
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_REISSUE_PENDING));
	fx_fini(&f);
}

static void
test_late_reply_stays_jeopardy(void)
{
	struct fx f;

	/* In jeopardy, a reply whose lease is already over by the time it
	 * comes does not make the session safe; the next KeepAlive goes out
	 * at once, asking for no hold. */
	fx_establish(&f, 3);
	fx_into_jeopardy(&f);
	while (csess_link(f.s) != CSESS_LINK_CONNECTING)
		fx_tick(&f, csess_next_deadline(f.s, f.now));
	fx_ev(&f, CSESS_EV_CONNECTED);
	if (csess_link(f.s) == CSESS_LINK_ASKING)
		fx_where(&f, f.conn_addr);
	CU_ASSERT_EQUAL_FATAL(csess_link(f.s), CSESS_LINK_UP);
	f.now += 1;
	fx_ka_reply(&f, f.ka_sent, 3, 50);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_JEOPARDY);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 0);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
	CU_ASSERT_EQUAL(f.ka_hold, 0);
	f.now += 1;
	fx_ka_reply(&f, f.ka_sent, 3, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_SAFE) >= 0);
	CU_ASSERT_EQUAL(fx_notified(&f, CSESS_NOTIFY_MASTER_FAILOVER), -1);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_CACHE_FLUSH));
	fx_fini(&f);
}

static void
test_grace_runs_out(void)
{
	struct fx f;
	uint64_t grace;

	fx_establish(&f, 3);
	fx_into_jeopardy(&f);
	grace = csess_grace_end(f.s);
	while (csess_state(f.s) == CSESS_JEOPARDY) {
		uint64_t dl = csess_next_deadline(f.s, f.now);

		CU_ASSERT_FATAL(dl <= grace);
		fx_tick(&f, dl);
		if (csess_link(f.s) == CSESS_LINK_CONNECTING) {
			f.now += 1;
			if (f.now < grace)
				fx_ev(&f, CSESS_EV_CONNECT_FAILED);
		}
	}
	CU_ASSERT_EQUAL(f.now, grace);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_EXPIRED);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_EXPIRED) >= 0);
	CU_ASSERT_EQUAL_FATAL(fx_count(&f, CSESS_ACT_FAIL_PENDING), 1);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_FAIL_PENDING)->status, CHUBBY_E_SESSION_EXPIRED);
	/* Terminal: nothing revives it. */
	CU_ASSERT_EQUAL(csess_next_deadline(f.s, f.now), CSESS_NEVER);
	f.now += 5;
	fx_ka_reply(&f, f.ka_sent, 3, 12000);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_ev(&f, CSESS_EV_APP_CLOSE);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_EXPIRED);
	fx_fini(&f);
}

static void
test_master_says_expired(void)
{
	struct fx f;

	fx_establish(&f, 3);
	f.now += 100;
	fx_ev(&f, CSESS_EV_REPLY_SESSION_EXPIRED);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_EXPIRED);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_EXPIRED) >= 0);
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_DISCONNECT));
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_FAIL_PENDING)->status, CHUBBY_E_SESSION_EXPIRED);
	fx_tick(&f, f.now + 100000);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_fini(&f);
}

static void
test_stale_reply_ignored(void)
{
	struct fx f;
	uint64_t first, end;

	fx_establish(&f, 3);
	first = f.ka_sent;
	f.now += 4000;
	fx_ka_reply(&f, first, 3, 12000);
	end = csess_lease_end(f.s);
	/* A duplicate of that reply, or one to an even older KeepAlive, with a
	 * bigger lease: moves nothing, sends nothing. */
	f.now += 10;
	fx_ka_reply(&f, first - 1, 3, 60000);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
	/* A reply from the future is bogus. */
	fx_ka_reply(&f, f.now + 1, 3, 60000);
	CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
	/* Events from a dropped connection are ignored too. */
	f.conn -= 1;
	fx_ka_reply(&f, f.ka_sent, 3, 60000);
	fx_ev(&f, CSESS_EV_DISCONNECTED);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_lease_end(f.s), end);
	CU_ASSERT_EQUAL(csess_link(f.s), CSESS_LINK_UP);
	fx_fini(&f);
}

static void
test_bad_epoch_once(void)
{
	struct fx f;

	fx_establish(&f, 3);
	f.now += 10;
	/* An ordinary request refused: new epoch, one notify, a flush, and
	 * the pending requests go again with it. */
	fx_bad_epoch(&f, 6, false);
	CU_ASSERT_EQUAL(csess_epoch(f.s), 6);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 1);
	CU_ASSERT(fx_notified(&f, CSESS_NOTIFY_MASTER_FAILOVER) >= 0);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_CACHE_FLUSH), 1);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_REISSUE_PENDING)->epoch, 6);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 0); /* one still outstanding */
	/* The same news again, or older news: nothing. */
	fx_bad_epoch(&f, 6, false);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_bad_epoch(&f, 5, true);
	CU_ASSERT_EQUAL(f.a.n, 0);
	/* Now the KeepAlive is refused: resent with the new epoch, no notify. */
	fx_bad_epoch(&f, 7, true);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 1);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_KEEPALIVE)->epoch, 7);
	f.now += 10;
	fx_ka_reply(&f, f.ka_sent, 7, 12000);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_NOTIFY), 0);
	CU_ASSERT_EQUAL(fx_count(&f, CSESS_ACT_SEND_KEEPALIVE), 1);
	/* A reply that carries an older epoch is from a deposed master. */
	f.now += 10;
	fx_ka_reply(&f, f.ka_sent, 6, 12000);
	CU_ASSERT_EQUAL(f.a.n, 0);
	fx_fini(&f);
}

static void
test_app_close(void)
{
	struct fx f;

	fx_establish(&f, 3);
	fx_ev(&f, CSESS_EV_APP_CLOSE);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_CLOSED);
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_SEND_SESSION_END)->session_id, 77);
	CU_ASSERT(fx_index(&f, CSESS_ACT_SEND_SESSION_END) < fx_index(&f, CSESS_ACT_DISCONNECT));
	CU_ASSERT_EQUAL(fx_get(&f, CSESS_ACT_FAIL_PENDING)->status, CHUBBY_E_CANCELLED);
	CU_ASSERT_EQUAL(csess_next_deadline(f.s, f.now), CSESS_NEVER);
	fx_tick(&f, f.now + 100000);
	CU_ASSERT_EQUAL(f.a.n, 0);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_CLOSED);
	fx_fini(&f);

	/* Closing before any session exists. */
	fx_init(&f);
	fx_ev(&f, CSESS_EV_APP_CLOSE);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_CLOSED);
	CU_ASSERT_PTR_NULL(fx_find(&f, CSESS_ACT_SEND_SESSION_END));
	CU_ASSERT_PTR_NOT_NULL(fx_find(&f, CSESS_ACT_DISCONNECT));
	fx_fini(&f);
}

/* ---- is the cache usable now? (csess_cache_usable) ---- */

/* The local lease as the clock reads it at the moment of a read, not as
 * the state flag says: a thread that runs after a stop (SIGSTOP, swap, CPU
 * starvation) before the loop thread has fed the TICK must not read past
 * the lease (issue 14 item 3). */
static void
test_cache_usable_clock(void)
{
	struct fx f;
	uint64_t end, sent, end2;

	/* No session yet. */
	fx_init(&f);
	CU_ASSERT(!csess_cache_usable(f.s, f.now));
	fx_fini(&f);

	fx_establish(&f, 3);
	end = csess_lease_end(f.s);
	/* The local lease end already has the drift and the margin taken off
	 * (from the send time of SESSION_START). */
	CU_ASSERT(f.cfg.drift_ppm > 0 && f.cfg.margin_ms > 0);
	CU_ASSERT_EQUAL(end, f.start_sent + 12000 - 12000 * f.cfg.drift_ppm / 1000000 -
	    f.cfg.margin_ms);
	CU_ASSERT(csess_cache_usable(f.s, f.now));
	CU_ASSERT(csess_cache_usable(f.s, end - 1));
	/* At and after the lease end it is not, though no TICK was fed and
	 * the state still says SAFE. */
	CU_ASSERT(!csess_cache_usable(f.s, end));
	CU_ASSERT(!csess_cache_usable(f.s, end + 1));
	CU_ASSERT(!csess_cache_usable(f.s, end + 3600000));
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	/* A KeepAlive reply extends it, from the KeepAlive's send time. */
	sent = f.ka_sent;
	f.now = sent + 3000;
	fx_ka_reply(&f, sent, 3, 12000);
	end2 = csess_lease_end(f.s);
	CU_ASSERT_EQUAL(end2, sent + 12000 - 12000 * f.cfg.drift_ppm / 1000000 - f.cfg.margin_ms);
	CU_ASSERT(end2 > end);
	CU_ASSERT(csess_cache_usable(f.s, end));
	CU_ASSERT(csess_cache_usable(f.s, end2 - 1));
	CU_ASSERT(!csess_cache_usable(f.s, end2));
	/* A reply to an older KeepAlive with a longer lease moves nothing. */
	f.now += 10;
	fx_ka_reply(&f, sent - 1, 3, 60000);
	CU_ASSERT(!csess_cache_usable(f.s, end2));
	fx_fini(&f);
}

static void
test_cache_usable_states(void)
{
	struct fx f;
	uint64_t end;

	/* Jeopardy: not usable, at any time. */
	fx_establish(&f, 3);
	end = csess_lease_end(f.s);
	fx_into_jeopardy(&f);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_JEOPARDY);
	CU_ASSERT(!csess_cache_usable(f.s, f.now));
	CU_ASSERT(!csess_cache_usable(f.s, end - 1));
	/* A reply whose lease is already over leaves it in jeopardy. */
	while (csess_link(f.s) != CSESS_LINK_CONNECTING)
		fx_tick(&f, csess_next_deadline(f.s, f.now));
	fx_ev(&f, CSESS_EV_CONNECTED);
	if (csess_link(f.s) == CSESS_LINK_ASKING)
		fx_where(&f, f.conn_addr);
	CU_ASSERT_EQUAL_FATAL(csess_link(f.s), CSESS_LINK_UP);
	f.now += 1;
	fx_ka_reply(&f, f.ka_sent, 3, 50);
	CU_ASSERT(!csess_cache_usable(f.s, f.now));
	/* Saved within the grace period: usable again until the new end. */
	f.now += 1;
	fx_ka_reply(&f, f.ka_sent, 3, 12000);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_SAFE);
	CU_ASSERT(csess_cache_usable(f.s, f.now));
	CU_ASSERT(!csess_cache_usable(f.s, csess_lease_end(f.s)));
	fx_fini(&f);

	/* Expired, closed: never. */
	fx_establish(&f, 3);
	f.now += 100;
	fx_ev(&f, CSESS_EV_REPLY_SESSION_EXPIRED);
	CU_ASSERT_EQUAL(csess_state(f.s), CSESS_EXPIRED);
	CU_ASSERT(!csess_cache_usable(f.s, f.now));
	fx_fini(&f);
	fx_establish(&f, 3);
	f.now += 100;
	fx_ev(&f, CSESS_EV_APP_CLOSE);
	CU_ASSERT(!csess_cache_usable(f.s, f.now));
	fx_fini(&f);
}

static void
test_bad_input(void)
{
	struct csess *s;
	struct csess_config c;
	struct csess_event ev;
	struct csess_actions a;
	const char *const bad[] = {"r0:1", ""};

	s = csess_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_TICK;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID); /* before START */
	csess_config_defaults(&c);
	ev.type = CSESS_EV_START;
	ev.config = &c;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID); /* no replicas */
	c.replicas = bad;
	c.nreplicas = 2;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID); /* empty address */
	c.nreplicas = 1;
	c.backoff_min_ms = 0;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID);
	c.backoff_min_ms = 100;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_OK);
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID); /* twice */
	ev.type = (enum csess_event_type)99;
	CU_ASSERT_EQUAL(csess_step(s, &ev, &a), CHUBBY_E_INVALID);
	CU_ASSERT_STRING_EQUAL(csess_state_name(CSESS_JEOPARDY), "jeopardy");
	CU_ASSERT_STRING_EQUAL(csess_action_name(CSESS_ACT_REISSUE_PENDING), "REISSUE_PENDING");
	csess_free(s);
	csess_free(NULL);
}

/* ---- a seeded storm ---- */

static uint64_t storm_rng;

static uint64_t
rnd(uint64_t n)
{
	uint64_t z = (storm_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return n == 0 ? 0 : z % n;
}

#define QMAX 64

/* The fake cell: answers the core's requests after random delays. */
struct storm {
	struct fx f;
	bool up[NREPL];
	int master; /* -1: none */
	uint64_t epoch;
	bool calm;  /* no faults: the session must recover */
	struct pend {
		uint64_t at;
		struct csess_event ev;
		char addr[CSESS_ADDR_MAX];
	} q[QMAX];
	size_t nq;
	/* What the shell knows, for the invariants. */
	bool ka_out;
	uint64_t ka_conn, ka_epoch, ka_hold;
	uint64_t max_grant; /* max sent_at + granted fed so far */
	enum csess_state prev;
	unsigned safe_seen;
};

static int
storm_idx(const char *addr)
{
	int i;

	for (i = 0; i < NREPL; i++)
		if (strcmp(addrs[i], addr) == 0)
			return i;
	return -1;
}

static void
storm_post(struct storm *w, uint64_t delay, const struct csess_event *ev, const char *addr)
{
	struct pend *p;

	if (w->nq == QMAX)
		return; /* lost: the core copes with loss */
	p = &w->q[w->nq++];
	p->at = w->f.now + delay;
	p->ev = *ev;
	p->addr[0] = '\0';
	if (addr != NULL)
		snprintf(p->addr, sizeof p->addr, "%s", addr);
}

static uint64_t
storm_delay(struct storm *w)
{
	if (!w->calm && rnd(20) == 0)
		return 1000 + rnd(4000); /* a slow one */
	return 1 + rnd(200);
}

/* A reply is lost (never comes) now and then, outside calm periods. */
static bool
storm_lost(struct storm *w)
{
	return !w->calm && rnd(25) == 0;
}

static void
storm_hint(struct storm *w, struct csess_event *ev, const char **addr)
{
	*addr = NULL;
	if (w->master >= 0 && (w->calm || rnd(4) != 0))
		*addr = addrs[w->master];
	else if (!w->calm && rnd(3) == 0)
		*addr = addrs[rnd(NREPL)]; /* a wrong hint */
	ev->epoch = w->epoch;
}

static void
storm_act(struct storm *w, const struct csess_action *a)
{
	struct csess_event ev;
	const char *addr = NULL;
	int idx;

	memset(&ev, 0, sizeof ev);
	ev.conn = a->conn;
	switch (a->type) {
	case CSESS_ACT_CONNECT:
		idx = storm_idx(a->addr);
		CU_ASSERT_FATAL(idx >= 0);
		if (storm_lost(w))
			return; /* hangs */
		ev.type = w->up[idx] ? CSESS_EV_CONNECTED : CSESS_EV_CONNECT_FAILED;
		storm_post(w, storm_delay(w), &ev, NULL);
		break;
	case CSESS_ACT_DISCONNECT:
		if (a->conn == w->ka_conn)
			w->ka_out = false;
		break;
	case CSESS_ACT_SEND_WHERE_IS_MASTER:
		if (storm_lost(w))
			return;
		ev.type = CSESS_EV_WHERE_IS_MASTER_REPLY;
		storm_hint(w, &ev, &addr);
		storm_post(w, storm_delay(w), &ev, addr);
		break;
	case CSESS_ACT_SEND_SESSION_START:
		if (storm_lost(w))
			return;
		if (storm_idx(w->f.conn_addrs[a->conn % FX_CONNS]) == w->master) {
			ev.type = CSESS_EV_SESSION_STARTED;
			ev.session_id = 1 + rnd(1000);
			ev.epoch = w->epoch;
			ev.lease_ms = 2000 + rnd(11000);
			ev.sent_at = a->sent_at;
		} else {
			ev.type = CSESS_EV_REPLY_NOT_MASTER;
			storm_hint(w, &ev, &addr);
		}
		storm_post(w, storm_delay(w), &ev, addr);
		break;
	case CSESS_ACT_SEND_KEEPALIVE:
		CU_ASSERT(!w->ka_out); /* at most one outstanding */
		w->ka_out = true;
		w->ka_conn = a->conn;
		w->ka_epoch = a->epoch;
		w->ka_hold = a->hold_ms;
		if (storm_lost(w))
			return;
		if (storm_idx(w->f.conn_addrs[a->conn % FX_CONNS]) != w->master) {
			ev.type = CSESS_EV_REPLY_NOT_MASTER;
			storm_hint(w, &ev, &addr);
		} else if (a->epoch < w->epoch) {
			ev.type = CSESS_EV_REPLY_BAD_EPOCH;
			ev.epoch = w->epoch;
			ev.is_keepalive = true;
		} else if (!w->calm && rnd(400) == 0) {
			ev.type = CSESS_EV_REPLY_SESSION_EXPIRED;
		} else {
			ev.type = CSESS_EV_KEEPALIVE_REPLY;
			ev.epoch = w->epoch;
			ev.lease_ms = 2000 + rnd(11000);
			ev.sent_at = a->sent_at;
			storm_post(w, a->hold_ms > 0 ? rnd(a->hold_ms) + 1 : 1 + rnd(100), &ev, NULL);
			return;
		}
		storm_post(w, storm_delay(w), &ev, addr);
		break;
	default:
		break;
	}
}

static bool
storm_edge_ok(enum csess_state from, enum csess_state to)
{
	if (from == to)
		return true;
	switch (from) {
	case CSESS_NEW:
		return false;
	case CSESS_LOCATING:
	case CSESS_CONNECTING:
	case CSESS_STARTING:
		/* Before a session: among themselves, to SAFE only from
		 * STARTING, or CLOSED. */
		return to == CSESS_LOCATING || to == CSESS_CONNECTING || to == CSESS_STARTING ||
		    to == CSESS_CLOSED || (from == CSESS_STARTING && (to == CSESS_SAFE || to == CSESS_JEOPARDY));
	case CSESS_SAFE:
		return to == CSESS_JEOPARDY || to == CSESS_EXPIRED || to == CSESS_CLOSED;
	case CSESS_JEOPARDY:
		return to == CSESS_SAFE || to == CSESS_EXPIRED || to == CSESS_CLOSED;
	case CSESS_EXPIRED:
	case CSESS_CLOSED:
		return false;
	}
	return false;
}

/* Feeds one event to the core, runs the fake cell on its actions and
 * checks the invariants. */
static bool
storm_feed(struct storm *w, struct csess_event *ev)
{
	struct fx *f = &w->f;
	enum csess_state st;
	uint64_t le;
	size_t i;
	int rc;

	ev->now = f->now;
	if (ev->conn == w->ka_conn && ev->conn == f->conn) {
		if (ev->type == CSESS_EV_KEEPALIVE_REPLY && ev->sent_at + ev->lease_ms > w->max_grant)
			w->max_grant = ev->sent_at + ev->lease_ms;
		if (ev->type == CSESS_EV_KEEPALIVE_REPLY ||
		    (ev->type == CSESS_EV_REPLY_BAD_EPOCH && ev->is_keepalive &&
		        csess_state(f->s) != CSESS_EXPIRED) ||
		    ev->type == CSESS_EV_DISCONNECTED)
			w->ka_out = false;
	}
	if (ev->type == CSESS_EV_SESSION_STARTED && ev->conn == f->conn &&
	    ev->sent_at + ev->lease_ms > w->max_grant)
		w->max_grant = ev->sent_at + ev->lease_ms;
	rc = fx_step(f, ev);
	CU_ASSERT_EQUAL(rc, CHUBBY_OK);
	if (rc != CHUBBY_OK)
		return false;
	for (i = 0; i < f->a.n; i++)
		storm_act(w, &f->a.v[i]);
	st = csess_state(f->s);
	le = csess_lease_end(f->s);
	if (!storm_edge_ok(w->prev, st)) {
		fprintf(stderr, "bad edge %s -> %s\n", csess_state_name(w->prev), csess_state_name(st));
		CU_FAIL("state edge not allowed");
		return false;
	}
	w->prev = st;
	if (st == CSESS_SAFE) {
		w->safe_seen++;
		CU_ASSERT(f->now < le);
	}
	/* The cache is usable exactly while SAFE within the local lease, and
	 * never at the end of anything the master granted. */
	CU_ASSERT(csess_cache_usable(f->s, f->now) == (st == CSESS_SAFE && f->now < le));
	CU_ASSERT(!csess_cache_usable(f->s, le));
	CU_ASSERT(!csess_cache_usable(f->s, w->max_grant));
	CU_ASSERT(le <= w->max_grant);
	CU_ASSERT(csess_next_deadline(f->s, f->now) >= f->now);
	CU_ASSERT(csess_keepalive_outstanding(f->s) == (csess_link(f->s) == CSESS_LINK_UP));
	return le <= w->max_grant && !(st == CSESS_SAFE && f->now >= le);
}

static void
storm_fault(struct storm *w)
{
	struct csess_event ev;
	int i;

	switch (rnd(6)) {
	case 0: /* fail-over: a new master with a new epoch, or none for a while */
		w->master = rnd(4) == 0 ? -1 : (int)rnd(NREPL);
		w->epoch++;
		break;
	case 1: /* a replica goes down or comes back */
		i = (int)rnd(NREPL);
		w->up[i] = !w->up[i];
		break;
	case 2: /* the current connection breaks */
		if (w->f.conn != 0) {
			memset(&ev, 0, sizeof ev);
			ev.type = CSESS_EV_DISCONNECTED;
			ev.conn = w->f.conn;
			storm_post(w, 0, &ev, NULL);
		}
		break;
	case 3: /* the application's request waits (the shell says so) */
		memset(&ev, 0, sizeof ev);
		ev.type = CSESS_EV_REQUEST_STALLED;
		storm_post(w, 0, &ev, NULL);
		break;
	default: /* quiet */
		break;
	}
}

/* One run: a storm of faults, then calm; returns false on a violation. */
static bool
storm_run(uint64_t seed, uint64_t storm_ms, uint64_t calm_ms)
{
	struct storm *w;
	struct csess_event ev;
	uint64_t end, next_fault;
	bool ok = true;
	size_t i, best;
	int k;

	w = calloc(1, sizeof *w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	storm_rng = seed;
	for (k = 0; k < NREPL; k++)
		w->up[k] = true;
	w->master = (int)rnd(NREPL);
	w->epoch = 1 + rnd(10);
	csess_config_defaults(&w->f.cfg);
	w->f.cfg.replicas = addrs;
	w->f.cfg.nreplicas = NREPL;
	w->f.cfg.seed = seed;
	w->f.cfg.grace_ms = 5000 + rnd(40000);
	w->f.now = 1;
	w->f.s = csess_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->f.s);
	memset(&ev, 0, sizeof ev);
	ev.type = CSESS_EV_START;
	ev.config = &w->f.cfg;
	w->prev = CSESS_LOCATING;
	ok = storm_feed(w, &ev);
	end = w->f.now + storm_ms + calm_ms;
	next_fault = w->f.now + rnd(3000);
	while (ok && w->f.now < end) {
		uint64_t dl = csess_next_deadline(w->f.s, w->f.now);
		uint64_t t = dl;

		if (!w->calm && w->f.now >= storm_ms) {
			/* Calm: every replica up, one master, no loss. */
			w->calm = true;
			for (k = 0; k < NREPL; k++)
				w->up[k] = true;
			if (w->master < 0) {
				w->master = (int)rnd(NREPL);
				w->epoch++;
			}
		}
		best = w->nq;
		for (i = 0; i < w->nq; i++)
			if (w->q[i].at <= t && (best == w->nq || w->q[i].at < w->q[best].at))
				best = i;
		if (best < w->nq)
			t = w->q[best].at;
		if (!w->calm && next_fault <= t) {
			w->f.now = next_fault > w->f.now ? next_fault : w->f.now;
			storm_fault(w);
			next_fault = w->f.now + rnd(3000);
			continue;
		}
		if (t == CSESS_NEVER)
			break;
		if (t > w->f.now)
			w->f.now = t;
		if (best < w->nq) {
			/* storm_feed may post new events: take this one out first. */
			struct pend p = w->q[best];

			w->q[best] = w->q[--w->nq];
			ev = p.ev;
			ev.addr = p.addr[0] != '\0' ? p.addr : NULL;
			ok = storm_feed(w, &ev);
		} else {
			memset(&ev, 0, sizeof ev);
			ev.type = CSESS_EV_TICK;
			ok = storm_feed(w, &ev);
		}
		if (csess_state(w->f.s) == CSESS_EXPIRED && w->nq == 0)
			break;
	}
	if (ok && csess_state(w->f.s) != CSESS_EXPIRED) {
		/* An application that ignored every event still has a session
		 * after the calm: liveness. */
		CU_ASSERT_EQUAL(csess_state(w->f.s), CSESS_SAFE);
		CU_ASSERT_EQUAL(csess_link(w->f.s), CSESS_LINK_UP);
		CU_ASSERT_EQUAL(csess_epoch(w->f.s), w->epoch);
		ok = csess_state(w->f.s) == CSESS_SAFE;
	}
	if (!ok)
		fprintf(stderr, "storm failed: seed %llu at %llu ms (state %s)\n",
		    (unsigned long long)seed, (unsigned long long)w->f.now,
		    csess_state_name(csess_state(w->f.s)));
	csess_free(w->f.s);
	free(w);
	return ok;
}

static void
test_storm(void)
{
	uint64_t base = harness_seed();
	unsigned i, failed = 0;

	for (i = 0; i < 300 && failed < 3; i++)
		failed += !storm_run(base * 1000003 + i, 120000, 60000);
	CU_ASSERT_EQUAL(failed, 0);
}

void
harness_register(void)
{
	static const struct harness_test location[] = {
	    {"START asks the first replica", test_start_asks_first_replica},
	    {"not master: follows the hint", test_follow_hint},
	    {"no hint: tries the next replica", test_no_hint_tries_next},
	    {"all down: bounded jittered backoff", test_all_down_backoff},
	    {"fail-over: short pauses, dead master's hints skipped", test_failover_search_fast},
	    {"dead hints are skipped only for a while", test_dead_hint_expires},
	    {"backoff jitter spreads clients", test_backoff_jitter_spreads},
	    {"hint loops are bounded", test_hint_loop_bounded},
	    {"hedged: past hung replicas in one round", test_hedge_past_hung},
	    {"hedged: a slow probe's answer is followed", test_hedge_slow_probe_answers},
	    {"hedged: all hung cost one probe timeout", test_hedge_all_hung_one_timeout},
	    {"hedged: a frozen master is not waited for", test_hedge_frozen_master},
	    {"stalled request: a frozen master is suspected at once", test_stall_ping_suspects_frozen_master},
	    {"stalled request: a master that answers keeps the link", test_stall_ping_answered},
	    {NULL, NULL},
	};
	static const struct harness_test session[] = {
	    {"session start: SAFE, lease from send time", test_session_start_safe},
	    {"KeepAlive cycle over many leases", test_keepalive_cycle},
	    {"lease counted from send time with drift", test_lease_from_send_time},
	    {"no reply: link dropped before the lease ends", test_suspect_before_lease_end},
	    {"lease runs out: jeopardy", test_jeopardy},
	    {"new master within grace: safe again", test_saved_by_new_master},
	    {"reply with a new epoch ends jeopardy", test_saved_same_epoch},
	    {"a reply too late to help", test_late_reply_stays_jeopardy},
	    {"grace runs out: expired, terminal", test_grace_runs_out},
	    {"master says expired", test_master_says_expired},
	    {"stale replies ignored", test_stale_reply_ignored},
	    {"BAD_EPOCH: fail-over noticed once", test_bad_epoch_once},
	    {"APP_CLOSE", test_app_close},
	    {"bad input", test_bad_input},
	    {"cache usable: by the clock, not the state flag", test_cache_usable_clock},
	    {"cache usable: never in jeopardy, expired or closed", test_cache_usable_states},
	    {NULL, NULL},
	};
	static const struct harness_test storm[] = {
	    {"seeded storm keeps the invariants", test_storm},
	    {NULL, NULL},
	};
	harness_suite("csess location", NULL, NULL, location);
	harness_suite("csess session", NULL, NULL, session);
	harness_suite("csess storm", NULL, NULL, storm);
}
