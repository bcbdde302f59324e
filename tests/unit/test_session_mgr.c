/*
 * test_session_mgr.c: the master's session layer (server/session/session.c)
 * driven directly, as a pure state machine: virtual time passed into every
 * call, and a fake environment (struct session_env) over the real
 * namespace - a cell whose proposals wait in the log until the test applies
 * them (or, for a one-replica cell, apply at once), whose mastership the
 * test sets, and whose requests are tokens whose replies the test records.
 * No link-time stand-ins.  Counts the log entries a contended lock hand-off
 * costs, and checks waiter order, mode changes, timeouts, handles that go,
 * leases, KeepAlive deadlines, many sessions, and cache invalidation (FIFO
 * gates, lease lapses).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "harness.h"
#include "ns/ns.h"
#include "seqtoken.h"
#include "session/mhandle.h"
#include "session/session.h"
#include "xmalloc.h"

#define LOCK "/ls/local/lk"
#define MAXREQ 4096

static struct cell_config *cfg;
static uint64_t next_id = 1;
static int status_of[MAXREQ]; /* by request id: -1 not answered */

static uint64_t inval_of[MAXREQ]; /* by request id: a KeepAlive's last invalidation id */
static uint64_t lease_of[MAXREQ]; /* by request id: a KeepAlive's lease_ms */
static uint32_t events_of[MAXREQ]; /* by request id: the events a KeepAlive carried */
/* By request id: the ids of the first EVIDS events a KeepAlive carried (0:
 * none given). */
#define EVIDS 8
static uint64_t evid_of[MAXREQ][EVIDS];

/* --- the fake environment ------------------------------------------------- */

/* Virtual time: starts far from 0, moves only when the test says. */
static struct session_now now;

static void
clock_advance(uint64_t ms)
{
	now.mono_ms += ms;
	now.real_ms += ms;
}

struct entry {
	uint8_t *cmd;
	size_t len;
	session_done_fn done;
	void *arg;
	struct entry *next;
};

/* The cell: a log applied to a real namespace, as replica.c applies it:
 * the session layer hears of each command, then its proposer. */
static struct {
	struct ns *ns;
	bool master; /* master with its lease */
	uint64_t epoch;
	bool async;  /* proposals wait for pump() (a cell of several replicas) */
	int fail_next; /* refuse the next proposal at once with this status (0: none) */
	size_t proposals, max_proposals; /* refused with E_OVERLOAD past the cap (0: none) */
	bool stepping;
	struct entry *head, *tail;
	size_t queued;
} cell;

static struct session_mgr *sm;
static size_t outstanding; /* requests handed to the layer, not yet answered */

/* A request token: what the layer hands back to reply. */
struct req {
	uint64_t id;
};

static void
pump_n(size_t n)
{
	if (cell.stepping)
		return;
	cell.stepping = true;
	while (cell.head != NULL && n > 0) {
		struct entry *e = cell.head;
		struct ns_result res;
		int rc;

		if ((cell.head = e->next) == NULL)
			cell.tail = NULL;
		cell.queued--;
		if (n != SIZE_MAX)
			n--;
		ns_result_init(&res);
		rc = ns_apply(cell.ns, e->cmd, e->len, &res);
		session_applied(sm, now, e->cmd, e->len, &res);
		e->done(rc, &res, e->arg);
		ns_result_free(&res);
		free(e->cmd);
		free(e);
	}
	cell.stepping = false;
}

static void
pump(void)
{
	pump_n(SIZE_MAX);
}

static int
env_submit(void *arg, const uint8_t *cmd, size_t len, session_done_fn done, void *done_arg)
{
	struct entry *e;

	(void)arg;
	if (!cell.master)
		return CHUBBY_E_NOT_MASTER;
	if (cell.fail_next != 0) {
		int rc = cell.fail_next;
		cell.fail_next = 0;
		return rc;
	}
	/* A cap on proposals turns a proposing loop into a failure to see
	 * instead of a test that never ends. */
	if (cell.max_proposals != 0 && ++cell.proposals > cell.max_proposals)
		return CHUBBY_E_OVERLOAD;
	e = xcalloc(1, sizeof *e);
	e->cmd = xmemdup(cmd, len);
	e->len = len;
	e->done = done;
	e->arg = done_arg;
	if (cell.tail != NULL)
		cell.tail->next = e;
	else
		cell.head = e;
	cell.tail = e;
	cell.queued++;
	if (!cell.async)
		pump(); /* a one-replica cell chooses at once (not while applying) */
	return CHUBBY_OK;
}

static void
env_reply(void *arg, void *token, int status, const char *msg, const void *result, size_t len)
{
	struct req *q = token;
	uint64_t id = q->id;
	msgpack_unpacked u;
	size_t off = 0;

	(void)arg;
	(void)msg;
	free(q);
	CU_ASSERT_FATAL(outstanding > 0);
	outstanding--;
	status_of[id] = status;
	inval_of[id] = 0;
	lease_of[id] = 0;
	events_of[id] = 0;
	memset(evid_of[id], 0, sizeof evid_of[id]);
	msgpack_unpacked_init(&u);
	if (result != NULL &&
	    msgpack_unpack_next(&u, result, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP) {
		const msgpack_object_map *m = &u.data.via.map;
		for (uint32_t i = 0; i < m->size; i++) {
			const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
			if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 8 &&
			    memcmp(k->via.str.ptr, "lease_ms", 8) == 0 &&
			    v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				lease_of[id] = v->via.u64;
			if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 6 &&
			    memcmp(k->via.str.ptr, "events", 6) == 0 && v->type == MSGPACK_OBJECT_ARRAY) {
				events_of[id] = v->via.array.size;
				for (uint32_t j = 0; j < v->via.array.size && j < EVIDS; j++) {
					const msgpack_object_map *e = &v->via.array.ptr[j].via.map;
					for (uint32_t f = 0; f < e->size; f++)
						if (e->ptr[f].key.via.str.size == 2 &&
						    memcmp(e->ptr[f].key.via.str.ptr, "id", 2) == 0)
							evid_of[id][j] = e->ptr[f].val.via.u64;
				}
			}
			if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != 10 ||
			    memcmp(k->via.str.ptr, "invalidate", 10) != 0 ||
			    v->type != MSGPACK_OBJECT_ARRAY)
				continue;
			for (uint32_t j = 0; j < v->via.array.size; j++) {
				const msgpack_object_map *e = &v->via.array.ptr[j].via.map;
				for (uint32_t f = 0; f < e->size; f++)
					if (e->ptr[f].key.via.str.size == 2 &&
					    memcmp(e->ptr[f].key.via.str.ptr, "id", 2) == 0)
						inval_of[id] = e->ptr[f].val.via.u64;
			}
		}
	}
	msgpack_unpacked_destroy(&u);
}

static bool
env_mastership(void *arg, uint64_t *epoch)
{
	(void)arg;
	*epoch = cell.epoch;
	return cell.master;
}

static const struct ns *
env_ns(void *arg)
{
	(void)arg;
	return cell.ns;
}

static int
env_sign(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen)
{
	(void)arg;
	return seqtoken_encode(NULL, 0, t, tok, toklen);
}

static const struct session_env env = {
    .submit = env_submit,
    .reply = env_reply,
    .mastership = env_mastership,
    .ns = env_ns,
    .sign = env_sign,
    .log = NULL,
};

static bool init_acls; /* the next setup() is a daemon's: INIT_ACLS on */
static uint64_t lease_max; /* the next setup()'s session_lease_max (0: no stretching) */
static int init_fail;   /* and its first proposal is refused with this */

static void
setup(void)
{
	if (cfg == NULL) {
		cfg = config_new();
		cfg->max_sessions = 100000;
		cfg->nreplicas = 1;
		cfg->replicas[0].id = 1;
	}
	struct ns_config nc = {
	    .cell = cfg->cell,
	    .superuser = cfg->superuser,
	    .acl_dir = cfg->acl_dir,
	    .max_contents = (size_t)cfg->max_contents,
	    .lock_delay_default_ms = cfg->lock_delay_ms,
	    .lock_delay_max_ms = cfg->lock_delay_max_ms,
	    .lock_delay_given = true,
	    .max_sessions = cfg->max_sessions,
	    .max_handles = cfg->max_handles_per_session,
	};
	struct session_config sc = {.lease_ms = cfg->session_lease_ms, .cell = cfg->cell,
	    .init_acls = init_acls, .root_acl = {"", "w", "c"}, .acl_admins = "alice\n",
	    .lease_max_ms = lease_max, .overload_queue = 10};

	now.mono_ms = 1000000;
	now.real_ms = 1700000000000ull;
	memset(status_of, 0xff, sizeof status_of);
	memset(&cell, 0, sizeof cell);
	cell.ns = ns_new(&nc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cell.ns);
	cell.master = true;
	cell.epoch = 1;
	cell.async = true;
	cell.fail_next = init_fail;
	sm = session_new(&sc, &env);
	session_tick(sm, now); /* takes over */
}

static void
teardown(void)
{
	/* As chubbyd exits: the replica first (what is pending fails, and no
	 * longer master, nothing more is proposed), then the session layer. */
	cell.master = false;
	while (cell.head != NULL) {
		struct entry *e = cell.head;
		cell.head = e->next;
		e->done(CHUBBY_E_UNAVAILABLE, NULL, e->arg);
		free(e->cmd);
		free(e);
	}
	cell.tail = NULL;
	cell.queued = 0;
	session_free(sm);
	sm = NULL;
	ns_free(cell.ns);
	cell.ns = NULL;
	CU_ASSERT_EQUAL(outstanding, 0);
}

/* A request token for the layer to answer; ID its key in status_of. */
static void *
request(uint64_t *id)
{
	struct req *q = xcalloc(1, sizeof *q);

	q->id = *id = next_id++ % MAXREQ;
	status_of[q->id] = -1;
	outstanding++;
	return q;
}

/* --- helpers ---------------------------------------------------------------- */

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

	CU_ASSERT_EQUAL_FATAL(ns_encode_session_start(now.real_ms, "alice", &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, got, &id);
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

	CU_ASSERT_EQUAL_FATAL(ns_encode_open(now.real_ms, s, LOCK,
				  NS_O_READ | NS_O_WRITE | NS_O_CREATE, 0, 0, NULL, 0, NULL,
				  &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, got, NULL);
	free(cmd);
	pump();
	/* The handle is the session's newest (it may hold more than any
	 * fixed buffer: the page test opens hundreds). */
	size_t n = ns_session_handles(cell.ns, s, NULL, 0);
	CU_ASSERT_FATAL(n > 0);
	uint64_t *ids = xcalloc(n, sizeof *ids);
	ns_session_handles(cell.ns, s, ids, n);
	h = ids[n - 1];
	free(ids);
	return h;
}

static void
handle_op(uint64_t s, uint64_t h, bool close)
{
	uint8_t *cmd;
	size_t len;

	int rc = close ? ns_encode_close(now.real_ms, s, h, &cmd, &len)
		       : ns_encode_release(now.real_ms, s, h, &cmd, &len);

	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, got, NULL);
	free(cmd);
}

/* A RELEASE of H as the service writes it (server/svc/svc.c): a FREE write
 * of the lock's node. */
static void
got_rc(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	*(int *)arg = status;
}

static void
release_op(uint64_t s, uint64_t h, int *rc)
{
	uint8_t *cmd;
	size_t len;

	*rc = -1;
	CU_ASSERT_EQUAL_FATAL(ns_encode_release(now.real_ms, s, h, &cmd, &len), CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_FREE, LOCK, cmd, len, got_rc, rc);
	free(cmd);
}

/* The same inside a request id, as a client's RELEASE comes. */
static void
release_req(uint64_t s, uint64_t h, uint64_t rid, int *rc)
{
	uint8_t *cmd, *req;
	size_t len, rlen;

	*rc = -1;
	CU_ASSERT_EQUAL_FATAL(ns_encode_release(now.real_ms, s, h, &cmd, &len), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(ns_encode_req(now.real_ms, s, rid, 0, cmd, len, &req, &rlen),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_FREE, LOCK, req, rlen, got_rc, rc);
	free(req);
	free(cmd);
}

/* An ACQUIRE request; returns its id. */
static uint64_t
acquire(uint64_t s, uint64_t h, int mode, uint64_t timeout_ms, bool wait)
{
	uint64_t id;
	void *q = request(&id);

	session_acquire(sm, now, s, h, mode, 0, 0, timeout_ms, wait, q);
	return id;
}

/* A KeepAlive with acknowledgements; returns its id. */
static uint64_t
keepalive_acks(uint64_t s, uint64_t hold_ms, const uint64_t *acks, size_t nacks)
{
	uint64_t id;
	void *q = request(&id);

	session_keepalive(sm, now, s, hold_ms, acks, nacks, NULL, q);
	return id;
}

/* A held KeepAlive of a client that acknowledges events up to EV_ACK;
 * returns its id. */
static uint64_t
keepalive_ev(uint64_t s, uint64_t hold_ms, uint64_t ev_ack)
{
	uint64_t id;
	void *q = request(&id);

	session_keepalive(sm, now, s, hold_ms, NULL, 0, &ev_ack, q);
	return id;
}

/* A held KeepAlive; returns its id. */
static uint64_t
keepalive(uint64_t s, uint64_t hold_ms)
{
	return keepalive_acks(s, hold_ms, NULL, 0);
}

/* What a gated write's callback saw, and in which order it came. */
struct wres {
	int status; /* -1: not yet */
	int order;
};
static int worder;

static void
wdone(int status, const struct ns_result *res, void *arg)
{
	struct wres *w = arg;
	(void)res;
	w->status = status;
	w->order = ++worder;
}

/* SET_CONTENTS of LOCK through HANDLE of S, gated as a NODE write. */
static void
set_contents(uint64_t s, uint64_t h, const char *val, struct wres *w)
{
	uint8_t *cmd;
	size_t len;

	w->status = -1;
	w->order = 0;
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now.real_ms, s, h, val, strlen(val), false,
				  0, &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_NODE, LOCK, cmd, len, wdone, w);
	free(cmd);
}

/* Issue 14 item 2: a second write to a node waits behind the first one's
 * invalidations.  A cacher holds its ack; W1 waits for it; W2 must not be
 * proposed before it either (it found no cachers: W1 took them). */
static void
test_gates_fifo(void)
{
	struct wres w1, w2;
	uint64_t c, wr, h, ka, inval;

	setup();
	c = start_session();
	wr = start_session();
	h = open_lock(wr);
	CU_ASSERT_TRUE(session_cache_note(sm, c, LOCK));
	ka = keepalive(c, 5000);
	set_contents(wr, h, "one", &w1);
	CU_ASSERT_NOT_EQUAL(status_of[ka], -1); /* the invalidation went out at once */
	inval = inval_of[ka];
	CU_ASSERT_NOT_EQUAL(inval, 0);
	CU_ASSERT_EQUAL(cell.queued, 0);
	set_contents(wr, h, "two", &w2);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(cell.queued, 0); /* behind W1 */
	CU_ASSERT_FALSE(session_cache_note(sm, c, LOCK));
	keepalive_acks(c, 5000, &inval, 1);
	session_tick(sm, now);
	pump();
	CU_ASSERT_EQUAL(w1.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(w1.order, 1);
	CU_ASSERT_EQUAL(w2.order, 2);
	teardown();
}

/* Issue 14 item 4: the master's lease lapses while a write waits for a
 * cacher's ack, and comes back in the same epoch.  The write fails; its
 * retry must invalidate the cacher again and wait, not find the cacher
 * forgotten and commit at once. */
static void
test_lapse_keeps_cachers(void)
{
	struct wres w1, w2;
	uint64_t c, wr, h, ka, inval[2];

	setup();
	c = start_session();
	wr = start_session();
	h = open_lock(wr);
	CU_ASSERT_TRUE(session_cache_note(sm, c, LOCK));
	ka = keepalive(c, 5000);
	set_contents(wr, h, "one", &w1);
	inval[0] = inval_of[ka];
	CU_ASSERT_EQUAL(cell.queued, 0);
	cell.master = false; /* the lease lapses */
	session_tick(sm, now); /* steps down */
	CU_ASSERT_EQUAL(w1.status, CHUBBY_E_NOT_MASTER);
	cell.master = true; /* and comes back */
	session_tick(sm, now); /* master again, same epoch */
	keepalive(wr, 0);
	ka = keepalive(c, 5000); /* both check in: no fail-over hold */
	set_contents(wr, h, "one", &w2);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(cell.queued, 0);
	CU_ASSERT_EQUAL(w2.status, -1);
	inval[1] = inval_of[ka]; /* invalidated again */
	CU_ASSERT_NOT_EQUAL(status_of[ka], -1);
	CU_ASSERT_NOT_EQUAL(inval[1], 0);
	keepalive_acks(c, 5000, inval, 2);
	session_tick(sm, now);
	pump();
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	teardown();
}

/* Opens PATH in S with FLAGS and event mask EVENTS (created if missing, as
 * a gated CREATE); the handle, the session's newest. */
static uint64_t
open_node(uint64_t s, const char *path, uint32_t flags, uint32_t events)
{
	uint8_t *cmd;
	size_t len;
	uint64_t ids[64];
	size_t n;

	CU_ASSERT_EQUAL_FATAL(ns_encode_open(now.real_ms, s, path, flags | NS_O_CREATE, 0, events,
				  "v", 1, NULL, &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_CREATE, path, cmd, len, got, NULL);
	free(cmd);
	pump();
	n = ns_session_handles(cell.ns, s, ids, 64);
	CU_ASSERT_FATAL(n > 0);
	return ids[n - 1];
}

/* A handle of S on LOCK that asks for CONTENTS_MODIFIED events. */
static uint64_t
open_watch(uint64_t s)
{
	return open_node(s, LOCK, NS_O_READ | NS_O_WRITE, NS_EV_CONTENTS_MODIFIED);
}

/* A watcher session (returned) with a handle on LOCK asking for
 * CONTENTS_MODIFIED, and a writer *WR with handle *HW on it; one write
 * applied (its event queued for the watcher). */
static uint64_t
watch_setup(uint64_t *wr, uint64_t *hw)
{
	struct wres w1;
	uint64_t watcher;

	setup();
	watcher = start_session();
	*wr = start_session();
	(void)open_watch(watcher);
	*hw = open_lock(*wr);
	set_contents(*wr, *hw, "one", &w1);
	pump();
	CU_ASSERT_EQUAL(w1.status, CHUBBY_OK);
	return watcher;
}

/*
 * The master's lease lapses and comes back in the same epoch (found by the
 * whole-cell simulator's event check, tests/wsim/regress-seeds): the
 * clients see no new epoch, so no MASTER_FAILOVER tells them to re-read.
 * An event queued before the lapse and one of a command applied during it
 * must both reach the watcher with its next KeepAlive.
 */
static void
test_lapse_keeps_events(void)
{
	struct wres w2;
	uint64_t wr, hw, ka, watcher = watch_setup(&wr, &hw); /* one event queued */

	set_contents(wr, hw, "two", &w2); /* proposed while master... */
	CU_ASSERT_EQUAL(cell.queued, 1);
	cell.master = false; /* the lease lapses */
	session_tick(sm, now);
	pump(); /* ...applied while not */
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	cell.master = true; /* and comes back, same epoch */
	session_tick(sm, now);
	ka = keepalive(watcher, 5000);
	CU_ASSERT_EQUAL(status_of[ka], CHUBBY_OK); /* answered at once, with both */
	CU_ASSERT_EQUAL(events_of[ka], 2);
	teardown();
}

/*
 * The handles kept in memory stand for the epoch whose master made them
 * (session_mhandles_epoch): the term served, still after a step-down while
 * the lease may come back in it, also once the replica has heard of a newer
 * master; the first command it then applies drops them, and their events
 * with them.  The whole-cell simulator asks it before each application
 * (tests/wsim/regress-seeds: it had taken such a table for the new
 * epoch's and wanted events nobody owed).
 */
static void
test_mhandles_epoch(void)
{
	struct wres w2;
	uint64_t wr, hw, ka, e, watcher = watch_setup(&wr, &hw);
	struct mh_table *t = session_mhandles(sm);
	struct ns_result st;
	struct mhandle *h;

	e = cell.epoch;
	CU_ASSERT_EQUAL(session_mhandles_epoch(sm), e);
	/* A handle in memory watching LOCK, as svc's OPEN makes one. */
	ns_result_init(&st);
	CU_ASSERT_EQUAL_FATAL(ns_path_stat(cell.ns, LOCK, 0, &st), CHUBBY_OK);
	h = mh_add(t, watcher, MH_ID_BIT | 1, LOCK, st.stat.instance, NS_O_READ);
	ns_result_free(&st);
	mh_set_events(t, h, NS_EV_CONTENTS_MODIFIED);
	set_contents(wr, hw, "two", &w2); /* proposed in epoch E... */
	cell.master = false;
	session_tick(sm, now); /* steps down: kept for a lease regained in E */
	CU_ASSERT_EQUAL(session_mhandles_epoch(sm), e);
	CU_ASSERT_EQUAL(mh_total(t), 1);
	cell.epoch++; /* a newer master is heard of */
	CU_ASSERT_EQUAL(session_epoch(sm), e + 1);
	CU_ASSERT_EQUAL(session_mhandles_epoch(sm), e); /* still E's, until... */
	pump(); /* ...a command applies: E's hope is over */
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(mh_total(t), 0);
	CU_ASSERT_EQUAL(session_mhandles_epoch(sm), 0);
	/* Serving in the new epoch: its own (empty) table, and no event of
	 * the old one for the watcher (MASTER_FAILOVER tells it to re-read). */
	cell.master = true;
	session_tick(sm, now);
	CU_ASSERT_EQUAL(session_mhandles_epoch(sm), e + 1);
	ka = keepalive(watcher, 0);
	CU_ASSERT_EQUAL(status_of[ka], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka], 0);
	teardown();
}

/* After a new epoch the clients are told MASTER_FAILOVER and re-read: the
 * old term's events are not kept. */
static void
test_new_epoch_drops_events(void)
{
	uint64_t wr, hw, ka, watcher = watch_setup(&wr, &hw);

	cell.master = false;
	session_tick(sm, now);
	cell.master = true;
	cell.epoch++; /* another term */
	session_tick(sm, now);
	ka = keepalive(watcher, 0);
	CU_ASSERT_EQUAL(status_of[ka], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka], 0);
	teardown();
}

/*
 * Events are kept until acknowledged (issue 16): a KeepAlive reply that
 * carried events is lost (the client never acks them), so the next
 * KeepAlive carries the same events again with the same ids, before newer
 * ones; once acknowledged they never come again, and a KeepAlive that acks
 * everything is held (the kept events do not make it answer at once).  A
 * client that sends no ack is answered as before: each event once.
 */
static void
test_events_until_acked(void)
{
	struct wres w2, w3;
	uint64_t wr, hw, ka1, ka2, ka3, ka4, ka5, x, y, watcher = watch_setup(&wr, &hw);

	ka1 = keepalive_ev(watcher, 5000, 0);
	CU_ASSERT_EQUAL(status_of[ka1], CHUBBY_OK); /* at once, with the event */
	CU_ASSERT_EQUAL(events_of[ka1], 1);
	x = evid_of[ka1][0];
	CU_ASSERT(x > 0);
	/* The reply is lost: the client acks nothing and asks again. */
	ka2 = keepalive_ev(watcher, 5000, 0);
	CU_ASSERT_EQUAL(status_of[ka2], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka2], 1);
	CU_ASSERT_EQUAL(evid_of[ka2][0], x);
	/* Lost again, and a newer event comes: the old one first, then it. */
	set_contents(wr, hw, "two", &w2);
	pump();
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	ka3 = keepalive_ev(watcher, 5000, 0);
	CU_ASSERT_EQUAL(status_of[ka3], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka3], 2);
	CU_ASSERT_EQUAL(evid_of[ka3][0], x);
	y = evid_of[ka3][1];
	CU_ASSERT(y > x);
	/* Acknowledged: held, and never sent again. */
	ka4 = keepalive_ev(watcher, 5000, y);
	CU_ASSERT_EQUAL(status_of[ka4], -1);
	ka5 = keepalive_ev(watcher, 5000, y); /* answers ka4 at once */
	CU_ASSERT_EQUAL(status_of[ka4], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka4], 0);
	CU_ASSERT_EQUAL(status_of[ka5], -1);
	/* A new event answers the held one; its id is above the acked. */
	set_contents(wr, hw, "three", &w3);
	pump();
	CU_ASSERT_EQUAL(status_of[ka5], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka5], 1);
	CU_ASSERT(evid_of[ka5][0] > y);
	teardown();
}

/* The bound (docs/SESSIONS.md "Events until acknowledged"): at most 1024
 * events are kept for a session once a reply carried them; past it the
 * oldest are forgotten, the newest 1024 come again in order. */
static void
test_events_kept_bounded(void)
{
	struct wres w;
	uint64_t wr, hw, ka1, ka2, first, watcher = watch_setup(&wr, &hw); /* 1 event */
	char val[16];

	for (int i = 0; i < 1099; i++) { /* 1100 in all, none sent yet */
		snprintf(val, sizeof val, "v%d", i);
		set_contents(wr, hw, val, &w);
		pump();
		CU_ASSERT_EQUAL_FATAL(w.status, CHUBBY_OK);
	}
	ka1 = keepalive_ev(watcher, 5000, 0); /* every one goes out */
	CU_ASSERT_EQUAL(events_of[ka1], 1100);
	first = evid_of[ka1][0];
	ka2 = keepalive_ev(watcher, 5000, 0); /* lost: the newest 1024 again */
	CU_ASSERT_EQUAL(status_of[ka2], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka2], 1024);
	CU_ASSERT_EQUAL(evid_of[ka2][0], first + 76);
	CU_ASSERT_EQUAL(evid_of[ka2][1], first + 77);
	teardown();
}

/* A client that sends no ev_ack (before event ids): each event once, as
 * before, and a KeepAlive with nothing new is held. */
static void
test_events_old_client(void)
{
	uint64_t wr, hw, ka1, ka2, watcher = watch_setup(&wr, &hw);

	ka1 = keepalive(watcher, 5000);
	CU_ASSERT_EQUAL(status_of[ka1], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka1], 1);
	ka2 = keepalive(watcher, 5000);
	CU_ASSERT_EQUAL(status_of[ka2], -1);
	clock_advance(5000);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[ka2], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka2], 0);
	teardown();
}

/* A lease lapsed and regained in one epoch: an event sent but not
 * acknowledged before the lapse comes again after it with its id, and
 * ids go on rising (the client's dedupe counts on it). */
static void
test_lapse_keeps_unacked_events(void)
{
	struct wres w2;
	uint64_t wr, hw, ka1, ka2, ka3, x, watcher = watch_setup(&wr, &hw);

	ka1 = keepalive_ev(watcher, 5000, 0);
	CU_ASSERT_EQUAL(events_of[ka1], 1);
	x = evid_of[ka1][0];
	cell.master = false; /* the lease lapses */
	session_tick(sm, now);
	cell.master = true; /* and comes back, same epoch */
	session_tick(sm, now);
	ka2 = keepalive_ev(watcher, 5000, 0);
	CU_ASSERT_EQUAL(status_of[ka2], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka2], 1);
	CU_ASSERT_EQUAL(evid_of[ka2][0], x);
	(void)keepalive(wr, 0); /* the writer checks in: no fail-over hold */
	set_contents(wr, hw, "two", &w2);
	pump();
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	ka3 = keepalive_ev(watcher, 5000, x);
	CU_ASSERT_EQUAL(status_of[ka3], CHUBBY_OK);
	CU_ASSERT_EQUAL(events_of[ka3], 1);
	CU_ASSERT(evid_of[ka3][0] > x);
	teardown();
}

/* Opens PATH in S as an ephemeral file (created if missing); the handle. */
static uint64_t
open_eph(uint64_t s, const char *path)
{
	return open_node(s, path, NS_O_READ | NS_O_WRITE | NS_O_EPHEMERAL, 0);
}

/* CLOSE of H in S (H 0: the end of S) through the session layer. */
static void
close_write(uint64_t s, uint64_t h, struct wres *w)
{
	uint8_t *cmd;
	size_t len;

	w->status = -1;
	w->order = 0;
	int rc = h != 0 ? ns_encode_close(now.real_ms, s, h, &cmd, &len) :
	    ns_encode_session_end(now.real_ms, s, s, NS_END_CLOSED, &cmd, &len);

	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	session_write_close(sm, now, s, h, cmd, len, wdone, w);
	free(cmd);
}

/* A SESSION_END that reaps two ephemeral files cached by two sessions is
 * one gate on both paths: proposed once both acknowledged.  The ending
 * session's own invalidation is not waited for. */
static void
test_end_gates_many_paths(void)
{
	struct wres w;
	uint64_t e, c1, c2, ka1, ka2, inval;
	size_t nodes;

	setup();
	e = start_session();
	c1 = start_session();
	c2 = start_session();
	open_eph(e, "/ls/local/e1");
	open_eph(e, "/ls/local/e2");
	CU_ASSERT_TRUE(session_cache_note(sm, c1, "/ls/local/e1"));
	CU_ASSERT_TRUE(session_cache_note(sm, c2, "/ls/local/e2"));
	CU_ASSERT_TRUE(session_cache_note(sm, e, "/ls/local/e2"));
	ka1 = keepalive(c1, 5000);
	ka2 = keepalive(c2, 5000);
	nodes = ns_node_count(cell.ns);
	close_write(e, 0, &w);
	CU_ASSERT_NOT_EQUAL(status_of[ka1], -1);
	CU_ASSERT_NOT_EQUAL(status_of[ka2], -1);
	CU_ASSERT_EQUAL(cell.queued, 0);
	CU_ASSERT_FALSE(session_cache_note(sm, c1, "/ls/local/e2"));
	inval = inval_of[ka1];
	CU_ASSERT_EQUAL(inval, inval_of[ka2]); /* one gate */
	keepalive_acks(c1, 5000, &inval, 1);
	CU_ASSERT_EQUAL(cell.queued, 0);
	keepalive_acks(c2, 5000, &inval, 1);
	CU_ASSERT_EQUAL(cell.queued, 1);
	pump();
	CU_ASSERT_EQUAL(w.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_node_count(cell.ns), nodes - 2); /* both reaped */
	CU_ASSERT_TRUE(session_cache_note(sm, c1, "/ls/local/e2"));
	teardown();
}

/* Two sessions have an ephemeral file open; a third caches it.  The first
 * CLOSE cannot reap it and goes at once; the second, arriving while the
 * first is in flight, may be the one that reaps it: it waits for the
 * cacher.  An OPEN with CREATE of a file that exists goes at once. */
static void
test_close_that_may_reap(void)
{
	struct wres w1, w2;
	uint64_t a, b, c, ha, hb, ka, inval;
	uint8_t *cmd;
	size_t len;

	setup();
	a = start_session();
	b = start_session();
	c = start_session();
	ha = open_eph(a, "/ls/local/e3");
	hb = open_eph(b, "/ls/local/e3");
	CU_ASSERT_TRUE(session_cache_note(sm, c, "/ls/local/e3"));
	ka = keepalive(c, 5000);
	close_write(a, ha, &w1);
	CU_ASSERT_EQUAL(cell.queued, 1); /* not a reaper */
	CU_ASSERT_EQUAL(status_of[ka], -1);
	close_write(b, hb, &w2);
	CU_ASSERT_EQUAL(cell.queued, 1); /* may reap: waits for c */
	inval = inval_of[ka];
	CU_ASSERT_NOT_EQUAL(inval, 0);
	pump();
	CU_ASSERT_EQUAL(w1.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(w2.status, -1);
	keepalive_acks(c, 5000, &inval, 1);
	pump();
	CU_ASSERT_EQUAL(w2.status, CHUBBY_OK);
	/* Gone: an OPEN with CREATE of it is gated (no cacher: at once), one of
	 * a file that exists is not a gate at all. */
	open_eph(a, "/ls/local/e3");
	CU_ASSERT_TRUE(session_cache_note(sm, c, "/ls/local/e3"));
	CU_ASSERT_EQUAL_FATAL(ns_encode_open(now.real_ms, b, "/ls/local/e3",
				  NS_O_READ | NS_O_CREATE, 0, 0, NULL, 0, NULL, &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_CREATE, "/ls/local/e3", cmd, len, wdone, &w1);
	free(cmd);
	CU_ASSERT_EQUAL(cell.queued, 1);
	pump();
	CU_ASSERT_TRUE(session_cache_note(sm, c, "/ls/local/e3"));
	teardown();
}

/* A session expires with an ephemeral file another session caches: its
 * end waits for the cacher's ack, then reaps the file. */
static void
test_expiry_waits_for_cachers(void)
{
	uint64_t e, c, ka, inval;
	size_t nodes;
	struct session_stats st;

	setup();
	e = start_session();
	c = start_session();
	open_eph(e, "/ls/local/e4");
	CU_ASSERT_TRUE(session_cache_note(sm, c, "/ls/local/e4"));
	nodes = ns_node_count(cell.ns);
	clock_advance(cfg->session_lease_ms - 1000);
	keepalive(c, 0); /* c stays; e sends nothing */
	clock_advance(1000);
	session_tick(sm, now);
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.expired, 1);
	CU_ASSERT_EQUAL(st.gated_writes, 1);
	CU_ASSERT_EQUAL(cell.queued, 0);
	ka = keepalive(c, 5000); /* answered at once: it has an invalidation */
	CU_ASSERT_NOT_EQUAL(status_of[ka], -1);
	inval = inval_of[ka];
	CU_ASSERT_NOT_EQUAL(inval, 0);
	CU_ASSERT_EQUAL(cell.queued, 0);
	keepalive_acks(c, 5000, &inval, 1);
	CU_ASSERT_EQUAL(cell.queued, 1);
	pump();
	CU_ASSERT_EQUAL(ns_node_count(cell.ns), nodes - 1);
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.sessions, 1);
	CU_ASSERT_EQUAL(st.gated_writes, 0);
	teardown();
}

/*
 * An expiry proposed just before the lease lapsed is still in the log when
 * the lease comes back in the same epoch (found by the whole-cell
 * simulator, tests/wsim/regress-seeds): the rebuilt table must not take
 * that session's requests, or a KeepAlive tells its client the session
 * and its locks are fine just before the expiry applies and frees them.
 */
static void
test_expiry_in_flight_over_lapse(void)
{
	uint64_t e, h, q;
	char msg[256];

	setup();
	e = start_session();
	h = open_lock(e);
	q = acquire(e, h, NS_LOCK_EXCLUSIVE, 0, true);
	pump();
	CU_ASSERT_EQUAL(status_of[q], CHUBBY_OK);
	clock_advance(cfg->session_lease_ms + 10);
	session_tick(sm, now); /* the lease is over: its expiry is proposed */
	CU_ASSERT_EQUAL(cell.queued, 1);
	cell.master = false; /* the master's lease lapses */
	session_tick(sm, now);
	cell.master = true; /* and comes back, same epoch */
	session_tick(sm, now);
	CU_ASSERT_EQUAL(session_check(sm, now, e, cell.epoch, "alice", msg, sizeof msg),
	    CHUBBY_E_SESSION_EXPIRED);
	pump(); /* the expiry applies */
	CU_ASSERT_EQUAL(ns_locks_held(cell.ns), 0);
	CU_ASSERT_EQUAL(session_check(sm, now, e, cell.epoch, "alice", msg, sizeof msg),
	    CHUBBY_E_SESSION_EXPIRED);
	teardown();
}

/* SET_CONTENTS of LOCK through H of S as a lock record, as svc submits
 * one (docs/NAMESPACE.md "Lock records"). */
static void
set_record(uint64_t s, uint64_t h, const char *val, struct wres *w)
{
	uint8_t *cmd;
	size_t len;

	w->status = -1;
	w->order = 0;
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents_flags(now.real_ms, s, h, val, strlen(val),
				  false, 0, NS_SC_LOCK_RECORD, &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_RECORD, LOCK, cmd, len, wdone, w);
	free(cmd);
}

/*
 * A lock record, then a CLOSE of its handle (or the holder's SESSION_END)
 * proposed before the record applied.  The clear the close makes is a
 * content change like any other: a session that asks to cache the node
 * between the two entries must be refused, or invalidated before the
 * clear applies (docs/PROTOCOL.md "Cache invalidation"), else it keeps
 * the dead leader's record as current for good.
 */
static void
record_freed_in_flight(bool end)
{
	struct wres wr, wc;
	struct ns_result res;
	uint64_t a, b, h, hb, q, ka;
	bool cached;

	setup();
	a = start_session();
	b = start_session();
	h = open_lock(a);
	hb = open_lock(b);
	q = acquire(a, h, NS_LOCK_EXCLUSIVE, 0, false);
	pump();
	CU_ASSERT_EQUAL_FATAL(status_of[q], CHUBBY_OK);
	set_record(a, h, "me", &wr);
	CU_ASSERT_EQUAL_FATAL(cell.queued, 1); /* no cacher: proposed at once */
	close_write(a, end ? 0 : h, &wc);
	pump_n(1); /* the record applies; the close is still to come */
	CU_ASSERT_EQUAL_FATAL(wr.status, CHUBBY_OK);
	cached = session_cache_note(sm, b, LOCK);
	ka = keepalive(b, 5000);
	pump();
	session_tick(sm, now);
	pump();
	CU_ASSERT_EQUAL_FATAL(wc.status, CHUBBY_OK);
	ns_result_init(&res);
	CU_ASSERT_EQUAL(ns_get_contents_and_stat(cell.ns, b, hb, &res), CHUBBY_OK);
	CU_ASSERT_EQUAL(res.contents_len, 0); /* the record is cleared */
	ns_result_free(&res);
	/* B either never cached the record, or was told to drop it. */
	if (cached) {
		CU_ASSERT_NOT_EQUAL(status_of[ka], -1);
		CU_ASSERT_NOT_EQUAL(inval_of[ka], 0);
	}
	CU_ASSERT_FALSE(cached);
	teardown();
}

static void
test_record_freed_in_flight(void)
{
	record_freed_in_flight(false);
	record_freed_in_flight(true);
}

/*
 * C, holding LOCK, writes a lock record that waits for E, which caches
 * LOCK; then E's client ends E.  The end goes behind that write (a close
 * of a handle on LOCK may clear a record the write makes), and no write
 * waits for an ending session: both are proposed at once, in order, with
 * no acknowledgement from E and no time passing.
 */
static void
test_end_behind_write_not_waited(void)
{
	struct wres w, we;
	uint64_t e, c, hc, q, ka;

	setup();
	e = start_session();
	c = start_session();
	open_lock(e);
	hc = open_lock(c);
	q = acquire(c, hc, NS_LOCK_EXCLUSIVE, 0, false);
	pump();
	CU_ASSERT_EQUAL_FATAL(status_of[q], CHUBBY_OK);
	CU_ASSERT_TRUE(session_cache_note(sm, e, LOCK));
	set_record(c, hc, "me", &w);
	CU_ASSERT_EQUAL(cell.queued, 0); /* waits for E */
	ka = keepalive(c, 5000);
	close_write(e, 0, &we);
	CU_ASSERT_EQUAL(cell.queued, 2);
	pump();
	CU_ASSERT_EQUAL(w.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(we.status, CHUBBY_OK);
	CU_ASSERT_TRUE(w.order < we.order);
	CU_ASSERT_EQUAL(status_of[ka], -1); /* C was owed nothing */
	teardown();
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
	CU_ASSERT_EQUAL(cell.queued, 1);
	pump();
	CU_ASSERT_EQUAL(status_of[q[1]], -1);
	for (int i = 0; i < NW; i++) {
		handle_op(s[i], h[i], false); /* RELEASE */
		CU_ASSERT_EQUAL(cell.queued, 1);
		pump_n(1);
		/* Applied: one ACQUIRE for the next waiter, none for the rest. */
		CU_ASSERT_EQUAL(cell.queued, 1);
		pump();
		CU_ASSERT_EQUAL(cell.queued, 0);
		CU_ASSERT_EQUAL(status_of[q[i + 1]], CHUBBY_OK);
		for (int k = i + 2; k <= NW; k++)
			CU_ASSERT_EQUAL(status_of[q[k]], -1);
	}
	struct session_stats st;
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.waiters, 0);
	CU_ASSERT_EQUAL(st.sessions, NW + 1);
	teardown();
}

/*
 * The hand-off does not wait for the holder's RELEASE to apply: the next
 * waiter's ACQUIRE is proposed right behind it, so the log orders it after
 * the RELEASE and both commit in one round (BENCHMARKS.md "Where
 * lock-contended's tail comes from": two rounds in series per hand-off
 * were its floor).  A holder that re-acquires at once goes behind the
 * older waiters; an ACQUIRE whose RELEASE was refused is refused too and
 * its waiter waits on.
 */
static void
test_handoff_behind_release(void)
{
	uint64_t s[3], h[3], q[3], q0;
	int rel = -1;

	setup();
	for (int i = 0; i < 3; i++) {
		s[i] = start_session();
		h[i] = open_lock(s[i]);
	}
	q[0] = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true);
	pump();
	CU_ASSERT_EQUAL_FATAL(status_of[q[0]], CHUBBY_OK);
	q[1] = acquire(s[1], h[1], NS_LOCK_EXCLUSIVE, 0, true);
	q[2] = acquire(s[2], h[2], NS_LOCK_EXCLUSIVE, 0, true);
	pump(); /* the first waiter's refused probe */
	CU_ASSERT_EQUAL(cell.queued, 0);
	release_op(s[0], h[0], &rel);
	/* The RELEASE and, behind it, the first waiter's ACQUIRE. */
	CU_ASSERT_EQUAL(cell.queued, 2);
	q0 = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true); /* at once again */
	CU_ASSERT_EQUAL(cell.queued, 2);
	pump_n(2);
	CU_ASSERT_EQUAL(status_of[q[1]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[2]], -1);
	CU_ASSERT_EQUAL(status_of[q0], -1);
	pump();
	CU_ASSERT_EQUAL(cell.queued, 0);
	/* S[2], older than S[0]'s new ACQUIRE, is next; a RELEASE with a
	 * request id hands off the same way. */
	release_req(s[1], h[1], 1, &rel);
	CU_ASSERT_EQUAL(cell.queued, 2);
	pump();
	CU_ASSERT_EQUAL(rel, CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[2]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q0], -1);
	/* A RELEASE by a handle that does not hold the lock frees nothing: the
	 * waiter's ACQUIRE is not proposed on its account. */
	release_op(s[1], h[1], &rel);
	CU_ASSERT_EQUAL(cell.queued, 1);
	pump();
	CU_ASSERT_NOT_EQUAL(rel, CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q0], -1);
	release_op(s[2], h[2], &rel);
	CU_ASSERT_EQUAL(cell.queued, 2);
	pump();
	CU_ASSERT_EQUAL(rel, CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q0], CHUBBY_OK);
	teardown();
}

/*
 * The look-ahead counts a RELEASE as freeing the lock for one pass over the
 * queue only.  In a one-replica cell the ACQUIRE proposed behind it applies
 * within that pass; if the RELEASE freed nothing (here a copy of a request
 * already answered, which the log answers from its record without
 * applying), that ACQUIRE is refused and its waiter waits on.  It used to
 * be proposed again and again with the RELEASE still counted, for ever
 * (fuzz_rpc's timeout in CI, 2026-12-06).
 */
static void
test_handoff_release_refused_sync(void)
{
	uint64_t s[2], h[2], q0, q1;
	int rel = -1;

	setup();
	cell.async = false; /* a one-replica cell: a proposal applies at once */
	for (int i = 0; i < 2; i++) {
		s[i] = start_session();
		h[i] = open_lock(s[i]);
	}
	q0 = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true);
	CU_ASSERT_EQUAL_FATAL(status_of[q0], CHUBBY_OK);
	release_req(s[0], h[0], 1, &rel);
	CU_ASSERT_EQUAL_FATAL(rel, CHUBBY_OK);
	q0 = acquire(s[0], h[0], NS_LOCK_EXCLUSIVE, 0, true);
	CU_ASSERT_EQUAL_FATAL(status_of[q0], CHUBBY_OK);
	q1 = acquire(s[1], h[1], NS_LOCK_EXCLUSIVE, 0, true);
	CU_ASSERT_EQUAL(status_of[q1], -1);
	cell.proposals = 0;
	cell.max_proposals = 100;
	release_req(s[0], h[0], 1, &rel); /* a copy of rid 1: answered, not applied */
	CU_ASSERT_EQUAL(rel, CHUBBY_OK);
	/* The copy, and at most one ACQUIRE behind it, refused. */
	CU_ASSERT(cell.proposals <= 2);
	CU_ASSERT_EQUAL(status_of[q1], -1);
	cell.max_proposals = 0;
	release_req(s[0], h[0], 2, &rel);
	CU_ASSERT_EQUAL(rel, CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q1], CHUBBY_OK);
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
	CU_ASSERT_EQUAL(cell.queued, 0);
	handle_op(s[0], h[0], false);
	pump_n(1);
	CU_ASSERT_EQUAL(cell.queued, 2); /* both readers */
	pump();
	CU_ASSERT_EQUAL(status_of[q[1]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[2]], CHUBBY_OK);
	CU_ASSERT_EQUAL(status_of[q[3]], -1);
	CU_ASSERT_EQUAL(status_of[q[4]], -1); /* behind the writer: no starving it */
	handle_op(s[1], h[1], false);
	pump();
	CU_ASSERT_EQUAL(status_of[q[3]], -1);
	handle_op(s[2], h[2], false);
	pump_n(1);
	CU_ASSERT_EQUAL(cell.queued, 1);
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
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[qmode], CHUBBY_E_BUSY);
	clock_advance(400);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[qt], -1);
	clock_advance(200);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[qt], CHUBBY_E_TIMEOUT);
	handle_op(s[2], h[2], true); /* CLOSE the waiting handle */
	pump();
	CU_ASSERT_NOT_EQUAL(status_of[qc], -1);
	CU_ASSERT_NOT_EQUAL(status_of[qc], CHUBBY_OK);
	struct session_stats st;
	session_stats(sm, &st);
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
	cell.async = false; /* a one-replica cell */
	for (int i = 0; i < NS; i++)
		s[i] = start_session();
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.sessions, NS);
	/* Half hold a KeepAlive for 2 s; the rest send none. */
	for (int i = 0; i < NS / 2; i++)
		q[i] = keepalive(s[i], 2000);
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.held_keepalives, NS / 2);
	clock_advance(1999);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[q[0] % MAXREQ], -1);
	clock_advance(1);
	session_tick(sm, now);
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.held_keepalives, 0);
	CU_ASSERT_EQUAL(st.keepalives, NS / 2);
	/* Their leases run 12 s from the answer; the others' from the start. */
	clock_advance(cfg->session_lease_ms - 2000);
	session_tick(sm, now);
	pump();
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.expired, NS / 2);
	CU_ASSERT_EQUAL(st.sessions, NS / 2);
	clock_advance(2000);
	session_tick(sm, now);
	pump();
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.sessions, 0);
	teardown();
	free(s);
	free(q);
}

/* The layer reads no clock: time is what the caller passes.  A held
 * KeepAlive waits through any number of ticks at one instant and is
 * answered when the time given reaches its hold; command stamps count on
 * the monotonic time given, whatever the wall-clock time given does within
 * a term (server/ns/ns_stamp.h). */
static void
test_time_is_the_callers(void)
{
	uint64_t s, q, stamp0;

	setup();
	s = start_session();
	q = keepalive(s, 2000);
	for (int i = 0; i < 1000; i++)
		session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[q], -1);
	clock_advance(1999);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[q], -1);
	clock_advance(1);
	session_tick(sm, now);
	CU_ASSERT_EQUAL(status_of[q], CHUBBY_OK);

	stamp0 = session_stamp(sm, now);
	clock_advance(250);
	now.real_ms += 3600 * 1000; /* the wall clock steps an hour ahead */
	CU_ASSERT_EQUAL(session_stamp(sm, now), stamp0 + 250);
	clock_advance(250);
	now.real_ms -= 2 * 3600 * 1000; /* and two hours back */
	CU_ASSERT_EQUAL(session_stamp(sm, now), stamp0 + 500);
	teardown();
}

static int plain_status = -1;

static void
plain_done(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	(void)arg;
	plain_status = status;
}

static bool
node_exists(const char *path)
{
	return ns_check_access(cell.ns, "", path, NS_ACL_READ) != CHUBBY_E_NOT_FOUND;
}

/*
 * A new cell's INIT_ACLS (issue 18) goes into the log ahead of every
 * write, even when its first proposal is refused at once (E_OVERLOAD): a
 * write is refused (E_UNAVAILABLE) rather than proposed before it, and
 * the next event proposes INIT_ACLS again.  Otherwise a client's OPEN
 * could make the cell "not new" and leave its ACL files open for good.
 */
static void
test_init_acls_first(void)
{
	uint8_t *cmd = NULL;
	size_t len = 0;

	init_acls = true;
	init_fail = CHUBBY_E_OVERLOAD;
	setup();
	init_acls = false;
	init_fail = 0;
	CU_ASSERT_EQUAL(cell.queued, 0); /* INIT_ACLS refused at once */
	CU_ASSERT_EQUAL(ns_encode_session_start(session_stamp(sm, now), "bob", &cmd, &len),
	    CHUBBY_OK);
	session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, plain_done, NULL);
	CU_ASSERT_EQUAL(plain_status, CHUBBY_E_UNAVAILABLE);
	CU_ASSERT_EQUAL(cell.queued, 0);
	/* The next event (a tick, a request's check) proposes it again. */
	session_tick(sm, now);
	CU_ASSERT_EQUAL(cell.queued, 1);
	plain_status = -1;
	session_write(sm, now, SESSION_WRITE_PLAIN, NULL, cmd, len, plain_done, NULL);
	CU_ASSERT_EQUAL(cell.queued, 2); /* behind INIT_ACLS in the log */
	pump();
	CU_ASSERT_EQUAL(plain_status, CHUBBY_OK);
	CU_ASSERT_FALSE(ns_is_new(cell.ns));
	CU_ASSERT_TRUE(node_exists("/ls/local/acl/" NS_ACL_ADMINS));
	/* Applied once: later events propose nothing more. */
	session_tick(sm, now);
	CU_ASSERT_EQUAL(cell.queued, 0);
	free(cmd);
	teardown();
}

/* The unit tests' layer (init_acls off) never proposes INIT_ACLS. */
static void
test_init_acls_off(void)
{
	setup();
	session_tick(sm, now);
	CU_ASSERT_EQUAL(cell.queued, 0);
	CU_ASSERT_TRUE(ns_is_new(cell.ns));
	teardown();
}

/* --- admin pages ------------------------------------------------------------ */

/* One page of SESSIONS (LOCKS if LOCKS) after AFTER: appends the listed
 * ids (sessions, or the holding handles) to IDS, their handle and lock
 * counts (sessions only) to NH and NL, and returns the cursor. */
static uint64_t
admin_page(bool locks, uint64_t after, size_t limit, size_t max_bytes, uint64_t *ids,
    size_t *nids, size_t *nh, size_t *nl, size_t *page_len, size_t *page_bytes)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	size_t off = 0;
	uint64_t next;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	next = locks ? session_pack_locks(sm, after, limit, max_bytes, &pk)
		     : session_pack_sessions(sm, now, after, limit, max_bytes, &pk);
	*page_bytes = sb.size;
	msgpack_unpacked_init(&u);
	CU_ASSERT_EQUAL_FATAL(msgpack_unpack_next(&u, sb.data, sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	CU_ASSERT_EQUAL(off, sb.size);
	CU_ASSERT_EQUAL_FATAL(u.data.type, MSGPACK_OBJECT_ARRAY);
	*page_len = u.data.via.array.size;
	for (uint32_t i = 0; i < u.data.via.array.size; i++) {
		const msgpack_object_map *e = &u.data.via.array.ptr[i].via.map;
		for (uint32_t f = 0; f < e->size; f++) {
			const msgpack_object *k = &e->ptr[f].key, *v = &e->ptr[f].val;
			const char *key = k->via.str.ptr;
			size_t kl = k->via.str.size;
			if (kl == (locks ? 6u : 7u) && memcmp(key, locks ? "handle" : "session", kl) == 0)
				ids[*nids] = v->via.u64;
			else if (!locks && kl == 7 && memcmp(key, "handles", 7) == 0)
				nh[*nids] = (size_t)v->via.u64;
			else if (!locks && kl == 5 && memcmp(key, "locks", 5) == 0)
				nl[*nids] = v->via.array.size;
		}
		(*nids)++;
	}
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	return next;
}

/* Issue 17 item 4: SESSIONS and LOCKS answer a page at a time.  Paging
 * lists every session once, in id order, with its handles and locks
 * (found in one walk, grouped right across sessions); pages keep to their
 * entry and byte limits; LOCKS skips handles that hold nothing, a bounded
 * number per page, and still lists every holder. */
static void
test_admin_pages(void)
{
	enum { NS = 2500 };
	uint64_t *s = xcalloc(NS, sizeof *s), *ids = xcalloc(NS + 1, sizeof *ids);
	size_t *nh = xcalloc(NS + 1, sizeof *nh), *nl = xcalloc(NS + 1, sizeof *nl);
	size_t nids, len, bytes, pages, holders = 0, maxlen;
	uint64_t after, q;

	setup();
	cell.async = false;
	for (int i = 0; i < NS; i++)
		s[i] = start_session();
	/* Every 5th session opens the lock and holds it shared; every 10th
	 * opens it a second time and does not; session 7 holds nothing but
	 * opens it 3 times; every other session has no handle. */
	for (int i = 0; i < NS; i++) {
		if (i % 5 == 0) {
			uint64_t h = open_lock(s[i]);
			q = acquire(s[i], h, NS_LOCK_SHARED, 0, false);
			CU_ASSERT_EQUAL(status_of[q], CHUBBY_OK);
			holders++;
		}
		if (i % 10 == 0 || i == 7)
			open_lock(s[i]);
		if (i == 7) {
			open_lock(s[i]);
			open_lock(s[i]);
		}
	}

	/* Default pages: SESSION_PAGE_MAX each, all of them, in order. */
	nids = 0;
	pages = 0;
	after = 0;
	do {
		after = admin_page(false, after, 0, 1 << 20, ids, &nids, nh, nl, &len, &bytes);
		CU_ASSERT(len <= SESSION_PAGE_MAX);
		pages++;
	} while (after != 0 && pages < 100);
	CU_ASSERT_EQUAL(pages, (NS + SESSION_PAGE_MAX - 1) / SESSION_PAGE_MAX);
	CU_ASSERT_EQUAL_FATAL(nids, NS);
	for (int i = 0; i < NS; i++) {
		CU_ASSERT_EQUAL(ids[i], s[i]);
		CU_ASSERT_EQUAL(nh[i], (size_t)(i % 10 == 0 ? 2 : i % 5 == 0 ? 1 : i == 7 ? 3 : 0));
		CU_ASSERT_EQUAL(nl[i], (size_t)(i % 5 == 0 ? 1 : 0));
	}

	/* Small pages by count, then by bytes: still all of them once. */
	nids = 0;
	pages = 0;
	after = 0;
	maxlen = 0;
	do {
		after = admin_page(false, after, 7, 300, ids, &nids, nh, nl, &len, &bytes);
		CU_ASSERT(len >= 1 && len <= 7);
		CU_ASSERT(bytes <= 300 + 8);
		maxlen = len > maxlen ? len : maxlen;
		pages++;
	} while (after != 0 && pages < 10 * NS);
	CU_ASSERT_EQUAL_FATAL(nids, NS);
	CU_ASSERT(maxlen < 7); /* the bytes bound the pages, not the count */
	for (int i = 0; i < NS; i++)
		CU_ASSERT_EQUAL(ids[i], s[i]);
	/* One entry even when it alone is over the bytes: never stuck. */
	nids = 0;
	CU_ASSERT_EQUAL(admin_page(false, 0, 0, 1, ids, &nids, nh, nl, &len, &bytes), s[0]);
	CU_ASSERT_EQUAL(len, 1);
	/* Past the last session: empty, done. */
	nids = 0;
	CU_ASSERT_EQUAL(admin_page(false, s[NS - 1], 0, 1 << 20, ids, &nids, nh, nl, &len, &bytes),
	    0);
	CU_ASSERT_EQUAL(len, 0);

	/* LOCKS, 10 at a time: every holder once, in handle order.  After
	 * the last holder come 300 handles that hold nothing: pages that
	 * scan SESSION_PAGE_SCAN * 10 handles come back short, even empty,
	 * with a cursor to go on from. */
	for (int i = 0; i < 300; i++)
		open_lock(s[1]);
	nids = 0;
	pages = 0;
	after = 0;
	size_t empty = 0;
	do {
		after = admin_page(true, after, 10, 1 << 20, ids, &nids, nh, nl, &len, &bytes);
		CU_ASSERT(len <= 10);
		empty += len == 0 && after != 0;
		pages++;
	} while (after != 0 && pages < 10 * NS);
	CU_ASSERT_EQUAL(nids, holders);
	for (size_t i = 1; i < nids; i++)
		CU_ASSERT(ids[i] > ids[i - 1]);
	CU_ASSERT(pages >= holders / 10);
	/* With 1 a page, 64 handles scanned at most: 300 idle ones take at
	 * least 4 empty pages. */
	nids = 0;
	pages = 0;
	after = ids[holders - 1];
	empty = 0;
	do {
		after = admin_page(true, after, 1, 1 << 20, ids, &nids, nh, nl, &len, &bytes);
		empty += len == 0 && after != 0;
		pages++;
	} while (after != 0 && pages < 10 * NS);
	CU_ASSERT_EQUAL(nids, 0);
	CU_ASSERT(empty >= 300 / SESSION_PAGE_SCAN);

	teardown();
	free(s);
	free(ids);
	free(nh);
	free(nl);
}

/* --- leases under load (issue 21 item 3) ---------------------------------- */

/* A master under load grants longer leases only once the cap allowing them
 * has applied, and a new master counts every session's lease as that long:
 * a session that the old master gave 36 s, silent after, is still there
 * 35 s into the new master's term (on the old code: expired after 12 s,
 * freeing locks its client still believed held). */
static void
test_lease_stretch_survives_failover(void)
{
	struct session_stats st;
	uint64_t s, q;

	lease_max = 60000;
	setup();
	s = start_session();
	/* Three times the queue threshold: 36 s wanted. */
	session_load(sm, now, 30, 0, 0, 0);
	CU_ASSERT_EQUAL(cell.queued, 1); /* the LEASE_CAP, not yet applied */
	q = keepalive(s, 0);
	CU_ASSERT_EQUAL(status_of[q], CHUBBY_OK);
	CU_ASSERT_EQUAL(lease_of[q], cfg->session_lease_ms);
	pump();
	CU_ASSERT_EQUAL(ns_lease_cap(cell.ns), 36000);
	q = keepalive(s, 0);
	CU_ASSERT_EQUAL(status_of[q], CHUBBY_OK);
	CU_ASSERT_EQUAL(lease_of[q], 36000);

	/* The master dies silently; a new one takes over (same log). */
	session_free(sm);
	cell.epoch = 2;
	{
		struct session_config sc = {.lease_ms = cfg->session_lease_ms, .cell = cfg->cell,
		    .lease_max_ms = lease_max, .overload_queue = 10};
		sm = session_new(&sc, &env);
	}
	session_tick(sm, now);
	clock_advance(35000);
	session_tick(sm, now);
	pump();
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.expired, 0);
	CU_ASSERT_EQUAL(st.sessions, 1);
	clock_advance(1001);
	session_tick(sm, now);
	pump();
	session_stats(sm, &st);
	CU_ASSERT_EQUAL(st.expired, 1);
	lease_max = 0;
	teardown();
}

/* As the load falls, the lease falls back to the base and the recorded
 * cap with it, but the cap never drops below a lease still out. */
static void
test_lease_cap_falls_after_grants(void)
{
	struct session_lease_info li;
	uint64_t s, q, granted_at, granted;

	lease_max = 60000;
	setup();
	cell.async = false;
	s = start_session();
	session_load(sm, now, 100, 0, 0, 0); /* ten times the threshold: the max */
	q = keepalive(s, 0);
	granted = lease_of[q];
	granted_at = now.mono_ms;
	CU_ASSERT_EQUAL(granted, 60000);
	for (int i = 0; i < 200; i++) {
		clock_advance(1000);
		session_tick(sm, now);
		session_load(sm, now, 0, 0, 0, 0);
		/* The session's KeepAlive every 10 s keeps it alive, at the
		 * lease granted then. */
		if (i % 10 == 9) {
			q = keepalive(s, 0);
			CU_ASSERT_EQUAL_FATAL(status_of[q], CHUBBY_OK);
			if (now.mono_ms + lease_of[q] > granted_at + granted) {
				granted_at = now.mono_ms;
				granted = lease_of[q];
			}
		}
		uint64_t out = granted_at + granted > now.mono_ms ? granted_at + granted - now.mono_ms
		                                                  : 0;
		uint64_t cap = ns_lease_cap(cell.ns);
		CU_ASSERT_FATAL((cap > cfg->session_lease_ms ? cap : cfg->session_lease_ms) >= out);
	}
	session_lease_info(sm, &li);
	CU_ASSERT_EQUAL(li.wanted_ms, cfg->session_lease_ms);
	CU_ASSERT_EQUAL(li.granted_ms, cfg->session_lease_ms);
	CU_ASSERT_EQUAL(ns_lease_cap(cell.ns), 0);
	lease_max = 0;
	teardown();
}


/*
 * Issue 19 item 5: chubbyd's master ticks its session layer every 20 ms
 * only while the layer has something timed (a session's lease or held
 * KeepAlive, a gate, a waiter, a queue to kick, INIT_ACLS to propose) or is
 * not yet serving; an idle master otherwise sleeps until the Paxos core's
 * next deadline.  Anything that makes the layer busy starts with a command
 * through the log (a session is created there), which wakes the replica.
 */
static void
test_idle(void)
{
	uint64_t c;
	int i;

	setup();
	CU_ASSERT_TRUE(session_idle(sm));
	c = start_session();
	CU_ASSERT_NOT_EQUAL(c, 0);
	CU_ASSERT_FALSE(session_idle(sm));
	/* The session's lease runs out: its end goes through the log. */
	for (i = 0; i < 10 && !session_idle(sm); i++) {
		clock_advance(cfg->session_lease_ms + 1000);
		session_tick(sm, now);
		pump();
	}
	CU_ASSERT_TRUE(session_idle(sm));
	/* Not serving: the next tick may have to take over. */
	cell.master = false;
	session_tick(sm, now);
	CU_ASSERT_FALSE(session_idle(sm));
	cell.master = true;
	session_tick(sm, now);
	CU_ASSERT_TRUE(session_idle(sm));
	teardown();
}


void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a contended hand-off proposes one ACQUIRE, in arrival order",
		test_handoff_one_acquire},
	    {"a hand-off's ACQUIRE goes right behind the holder's RELEASE",
		test_handoff_behind_release},
	    {"a refused RELEASE's look-ahead in a one-replica cell proposes once",
		test_handoff_release_refused_sync},
	    {"readers go together, a writer is not starved", test_shared_run},
	    {"timeouts, closed handles, TRY_ACQUIRE, mode changes", test_waiter_endings},
	    {"20000 sessions: KeepAlive holds and lease ends", test_many_sessions},
	    {"writes to one node wait in order behind their invalidations", test_gates_fifo},
	    {"a lease lapsed and regained in one epoch keeps the cachers",
		test_lapse_keeps_cachers},
	    {"a lease lapsed and regained in one epoch keeps the events", test_lapse_keeps_events},
	    {"a new epoch does not keep the old term's events", test_new_epoch_drops_events},
	    {"handles in memory stand for the epoch that made them", test_mhandles_epoch},
	    {"events come again, same ids, until acknowledged", test_events_until_acked},
	    {"a client that sends no ev_ack gets each event once", test_events_old_client},
	    {"at most 1024 events are kept once sent", test_events_kept_bounded},
	    {"an event not acknowledged outlives a lease lapse in one epoch",
		test_lapse_keeps_unacked_events},
	    {"a SESSION_END reaping two cached files waits for both cachers",
		test_end_gates_many_paths},
	    {"only a CLOSE that may reap an ephemeral file waits for its cachers",
		test_close_that_may_reap},
	    {"an expiry that reaps a cached file waits for the cacher",
		test_expiry_waits_for_cachers},
	    {"the layer's time is the caller's", test_time_is_the_callers},
	    {"a new cell's INIT_ACLS goes first, even after a refused proposal",
		test_init_acls_first},
	    {"without init_acls, nothing is proposed", test_init_acls_off},
	    {"an expiry in flight over a lease lapse is not undone", test_expiry_in_flight_over_lapse},
	    {"a record freed by a close proposed before it applied invalidates first",
		test_record_freed_in_flight},
	    {"an end behind a write that waits for the ending session waits for nothing",
		test_end_behind_write_not_waited},
	    {"SESSIONS and LOCKS a page at a time", test_admin_pages},
	    {"a stretched lease outlives a fail-over (LEASE_CAP first)",
		test_lease_stretch_survives_failover},
	    {"the lease cap falls only below the leases out", test_lease_cap_falls_after_grants},
	    {"idle only with nothing timed, and serving", test_idle},
	    {NULL, NULL},
	};

	harness_suite("session_mgr", NULL, NULL, tests);
}
