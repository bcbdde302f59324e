/*
 * test_session_mgr.c: the master's session layer (server/session/session.c)
 * over the real namespace, with tests/fuzz/fuzz_rpc_stubs.c standing in for
 * the replica (a cell of several replicas: proposals wait in the log until
 * the test applies them), the RPC layer and the clocks.  Counts the log
 * entries a contended lock hand-off costs, and checks waiter order, mode
 * changes, timeouts, handles that go, leases, KeepAlive deadlines and
 * many sessions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "harness.h"
#include "log.h"
#include "ns/ns.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "session/session.h"
#include "tests/fuzz/fuzz_rpc.h"

#define LOCK "/ls/local/lk"
#define MAXREQ 4096

static struct cell_config *cfg;
static struct chubbyd d;
static uint64_t next_id = 1;
static int status_of[MAXREQ]; /* by request id: -1 not answered */

static void
on_reply(uint64_t id, int status, const void *result, size_t len)
{
	(void)result;
	(void)len;
	if (id < MAXREQ)
		status_of[id] = status;
}

static void
discard(int level, const char *line, void *arg)
{
	(void)level;
	(void)line;
	(void)arg;
}

static void
setup(void)
{
	if (cfg == NULL) {
		log_set_sink(discard, NULL);
		cfg = config_new();
		cfg->max_sessions = 100000;
		cfg->nreplicas = 1;
		cfg->replicas[0].id = 1;
	}
	fz_clock_reset();
	fz_reply_hook = on_reply;
	memset(status_of, 0xff, sizeof status_of);
	memset(&d, 0, sizeof d);
	d.cfg = cfg;
	d.id = 1;
	d.replica = fz_replica_new(&d);
	fz_replica_set_async(d.replica, true);
	d.sessions = session_new(&d);
	session_tick(d.sessions); /* takes over */
}

static void
teardown(void)
{
	fz_replica_free(d.replica);
	d.replica = NULL;
	session_free(d.sessions);
	CU_ASSERT_EQUAL(fz_outstanding(), 0);
	fz_sequencers_clear();
	fz_reply_hook = NULL;
}

static void
pump(void)
{
	fz_replica_pump(d.replica, SIZE_MAX);
}

static void
got(int status, const struct ns_result *res, void *arg)
{
	uint64_t *out = arg;
	CU_ASSERT_EQUAL_FATAL(status, CHUBBY_OK);
	if (out != NULL)
		*out = res->session != 0 ? res->session : res->handle;
}

static uint64_t
start_session(void)
{
	uint8_t *cmd;
	size_t len;
	uint64_t id = 0;

	CU_ASSERT_EQUAL_FATAL(ns_encode_session_start(clock_real_ms(), "alice", &cmd, &len),
	    CHUBBY_OK);
	session_write(d.sessions, SESSION_WRITE_PLAIN, NULL, cmd, len, got, &id);
	free(cmd);
	pump();
	return id;
}

static uint64_t
open_lock(uint64_t s)
{
	uint8_t *cmd;
	size_t len;
	uint64_t h = 0;

	CU_ASSERT_EQUAL_FATAL(ns_encode_open(clock_real_ms(), s, LOCK,
				  NS_O_READ | NS_O_WRITE | NS_O_CREATE, 0, 0, NULL, 0, NULL,
				  &cmd, &len),
	    CHUBBY_OK);
	session_write(d.sessions, SESSION_WRITE_PLAIN, NULL, cmd, len, got, NULL);
	free(cmd);
	pump();
	/* The handle is the session's newest. */
	uint64_t ids[64];
	size_t n = ns_session_handles(replica_ns(d.replica), s, ids, 64);
	CU_ASSERT_FATAL(n > 0);
	h = ids[n - 1];
	return h;
}

static void
handle_op(uint64_t s, uint64_t h, bool close)
{
	uint8_t *cmd;
	size_t len;

	int rc = close ? ns_encode_close(clock_real_ms(), s, h, &cmd, &len)
		       : ns_encode_release(clock_real_ms(), s, h, &cmd, &len);

	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	session_write(d.sessions, SESSION_WRITE_PLAIN, NULL, cmd, len, got, NULL);
	free(cmd);
}

/* An ACQUIRE request; returns its id. */
static uint64_t
acquire(uint64_t s, uint64_t h, int mode, uint64_t timeout_ms, bool wait)
{
	struct rpc_req req;

	memset(&req, 0, sizeof req);
	req.d = &d;
	req.id = next_id++ % MAXREQ;
	status_of[req.id] = -1;
	session_acquire(d.sessions, s, h, mode, 0, 0, timeout_ms, wait, rpc_req_defer(&req));
	return req.id;
}

/* A held KeepAlive; returns its id. */
static uint64_t
keepalive(uint64_t s, uint64_t hold_ms)
{
	struct rpc_req req;

	memset(&req, 0, sizeof req);
	req.d = &d;
	req.id = next_id++ % MAXREQ;
	status_of[req.id] = -1;
	session_keepalive(d.sessions, s, hold_ms, NULL, 0, rpc_req_defer(&req));
	return req.id;
}

#define NW 16

/* One holder, NW exclusive waiters: each hand-off proposes one ACQUIRE
 * (it proposed one per waiter), and the lock goes in arrival order. */
static void
test_handoff_one_acquire(void)
{
	uint64_t s[NW + 1], h[NW + 1], q[NW + 1];

	setup();
	for (int i = 0; i <= NW; i++) {
		s[i] = start_session();
		h[i] = open_lock(s[i]);
	}
	q[0] = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true);
	pump();
	CU_ASSERT_EQUAL(status_of[q[0]], CHUBBY_OK);
	for (int i = 1; i <= NW; i++)
		q[i] = acquire(s[i], h[i], NS_LOCK_EXCLUSIVE, 0, true);
	/* The first waiter's ACQUIRE goes at once (it raises CONFLICTING_LOCK
	 * at the holder); the others wait without proposing. */
	CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 1);
	pump();
	CU_ASSERT_EQUAL(status_of[q[1]], -1);
	for (int i = 0; i < NW; i++) {
		handle_op(s[i], h[i], false); /* RELEASE */
		CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 1);
		fz_replica_pump(d.replica, 1);
		/* Applied: one ACQUIRE for the next waiter, none for the rest. */
		CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 1);
		pump();
		CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 0);
		CU_ASSERT_EQUAL(status_of[q[i + 1]], CHUBBY_OK);
		for (int k = i + 2; k <= NW; k++)
			CU_ASSERT_EQUAL(status_of[q[k]], -1);
	}
	struct session_stats st;
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.waiters, 0);
	CU_ASSERT_EQUAL(st.sessions, NW + 1);
	teardown();
}

/* Waiters S S X S behind an exclusive holder: the two readers go together,
 * the writer after them, the last reader after the writer. */
static void
test_shared_run(void)
{
	uint64_t s[5], h[5], q[5];
	const int mode[5] = {NS_LOCK_EXCLUSIVE, NS_LOCK_SHARED, NS_LOCK_SHARED, NS_LOCK_EXCLUSIVE,
	    NS_LOCK_SHARED};

	setup();
	for (int i = 0; i < 5; i++) {
		s[i] = start_session();
		h[i] = open_lock(s[i]);
	}
	q[0] = acquire(s[0], h[0], mode[0], 0, true);
	pump();
	for (int i = 1; i < 5; i++)
		q[i] = acquire(s[i], h[i], mode[i], 0, true);
	pump(); /* the first waiter's refused probe */
	CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 0);
	handle_op(s[0], h[0], false);
	fz_replica_pump(d.replica, 1);
	CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 2); /* both readers */
	pump();
	CU_ASSERT_EQUAL(status_of[q[1]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[2]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[3]], -1);
	CU_ASSERT_EQUAL(status_of[q[4]], -1); /* behind the writer: no starving it */
	handle_op(s[1], h[1], false);
	pump();
	CU_ASSERT_EQUAL(status_of[q[3]], -1);
	handle_op(s[2], h[2], false);
	fz_replica_pump(d.replica, 1);
	CU_ASSERT_EQUAL(fz_replica_queued(d.replica), 1);
	pump();
	CU_ASSERT_EQUAL(status_of[q[3]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[4]], -1);
	handle_op(s[3], h[3], false);
	pump();
	CU_ASSERT_EQUAL(status_of[q[4]], CHUBBY_OK);
	teardown();
}

/* Timeouts, a handle closed while waiting, a TRY_ACQUIRE, a mode change. */
static void
test_waiter_endings(void)
{
	uint64_t s[4], h[4], q0, qt, qc, qtry, qmode;

	setup();
	for (int i = 0; i < 4; i++) {
		s[i] = start_session();
		h[i] = open_lock(s[i]);
	}
	q0 = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true);
	pump();
	CU_ASSERT_EQUAL(status_of[q0], CHUBBY_OK);
	qt = acquire(s[1], h[1], NS_LOCK_EXCLUSIVE, 500, true);
	qc = acquire(s[2], h[2], NS_LOCK_EXCLUSIVE, 0, true);
	pump();
	qtry = acquire(s[3], h[3], NS_LOCK_EXCLUSIVE, 0, false);
	pump();
	CU_ASSERT_EQUAL(status_of[qtry], CHUBBY_E_BUSY);
	/* The holder asks again in the other mode: refused at once. */
	qmode = acquire(s[0], h[0], NS_LOCK_SHARED, 0, true);
	pump();
	session_tick(d.sessions);
	CU_ASSERT_EQUAL(status_of[qmode], CHUBBY_E_BUSY);
	fz_clock_advance(400);
	session_tick(d.sessions);
	CU_ASSERT_EQUAL(status_of[qt], -1);
	fz_clock_advance(200);
	session_tick(d.sessions);
	CU_ASSERT_EQUAL(status_of[qt], CHUBBY_E_TIMEOUT);
	handle_op(s[2], h[2], true); /* CLOSE the waiting handle */
	pump();
	CU_ASSERT_NOT_EQUAL(status_of[qc], -1);
	CU_ASSERT_NOT_EQUAL(status_of[qc], CHUBBY_OK);
	struct session_stats st;
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.waiters, 0);
	teardown();
}

/* Many sessions: KeepAlives answered at their hold, sessions without one
 * expire at their lease's end, and only those. */
static void
test_many_sessions(void)
{
	enum { NS = 20000 };
	uint64_t *s = calloc(NS, sizeof *s), *q = calloc(NS / 2, sizeof *q);
	struct session_stats st;

	setup();
	fz_replica_set_async(d.replica, false); /* a one-replica cell */
	for (int i = 0; i < NS; i++)
		s[i] = start_session();
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.sessions, NS);
	/* Half hold a KeepAlive for 2 s; the rest send none. */
	for (int i = 0; i < NS / 2; i++)
		q[i] = keepalive(s[i], 2000);
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.held_keepalives, NS / 2);
	fz_clock_advance(1999);
	session_tick(d.sessions);
	CU_ASSERT_EQUAL(status_of[q[0] % MAXREQ], -1);
	fz_clock_advance(1);
	session_tick(d.sessions);
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.held_keepalives, 0);
	CU_ASSERT_EQUAL(st.keepalives, NS / 2);
	/* Their leases run 12 s from the answer; the others' from the start. */
	fz_clock_advance(cfg->session_lease_ms - 2000);
	session_tick(d.sessions);
	pump();
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.expired, NS / 2);
	CU_ASSERT_EQUAL(st.sessions, NS / 2);
	fz_clock_advance(2000);
	session_tick(d.sessions);
	pump();
	session_stats(d.sessions, &st);
	CU_ASSERT_EQUAL(st.sessions, 0);
	teardown();
	free(s);
	free(q);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a contended hand-off proposes one ACQUIRE, in arrival order",
		test_handoff_one_acquire},
	    {"readers go together, a writer is not starved", test_shared_run},
	    {"timeouts, closed handles, TRY_ACQUIRE, mode changes", test_waiter_endings},
	    {"20000 sessions: KeepAlive holds and lease ends", test_many_sessions},
	    {NULL, NULL},
	};

	harness_suite("session_mgr", NULL, NULL, tests);
}
