/*
 * test_svc.c: the request layer (server/svc) driven directly, as chubbyd's
 * client port, the simulator and the fuzzer drive it: decoded requests and
 * virtual time in, answers as structs out through a fake environment, over
 * the real session layer and namespace (a one-replica cell: proposals apply
 * within their submit).  Checks that copies of writes are answered from
 * their records without a new proposal, that refusals carry what their
 * result must say (epoch, master, content_gen), and that every request is
 * answered exactly once, within its call or later.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "harness.h"
#include "mp.h"
#include "ns/ns.h"
#include "seqtoken.h"
#include "session/mhandle.h"
#include "session/session.h"
#include "svc/svc.h"
#include "xmalloc.h"

#define FILE_PATH "/ls/local/f"

static struct cell_config *cfg;
static struct session_now now;
static struct ns *ns;
static bool master;
static uint64_t epoch_now = 1;
static size_t submits;
static struct session_mgr *sm;
static struct svc *svc;
static size_t outstanding; /* requests kept, not yet answered */
static bool records_on = true; /* svc_config.lock_records of the next setup */

/* A request token: on the stack within its call; a heap copy once kept. */
struct req {
	uint64_t id;
	bool kept, answered;
};

/* The last answer. */
static struct {
	uint64_t id;
	int status;
	bool deferred;
	size_t nevents; /* a KeepAlive's events */
	struct {
		uint64_t type, handle, gen;
	} ev[16]; /* the first of them */
	struct svc_result r;
	struct ns_stat stat;
	char contents[64];
	char msg[256];
	struct svc_claimed claimed; /* a CLAIM's first handle (path: claimed_path) */
	char claimed_path[64];
} last;

/* --- the fake environment --------------------------------------------------- */

static int
env_submit(void *arg, const uint8_t *cmd, size_t len, session_done_fn done, void *done_arg)
{
	struct ns_result res;
	int rc;

	(void)arg;
	if (!master)
		return CHUBBY_E_NOT_MASTER;
	submits++;
	ns_result_init(&res);
	rc = ns_apply(ns, cmd, len, &res);
	session_applied(sm, now, cmd, len, &res);
	done(rc, &res, done_arg);
	ns_result_free(&res);
	return CHUBBY_OK;
}

static void
sess_reply(void *arg, void *token, int status, const char *msg, const void *result, size_t len)
{
	struct req *q = token;

	msgpack_unpacked u;
	const msgpack_object *evs;

	(void)arg;
	(void)msg;
	CU_ASSERT_FATAL(q->kept);
	CU_ASSERT_FATAL(outstanding > 0);
	outstanding--;
	memset(&last, 0, sizeof last);
	last.id = q->id;
	last.status = status;
	last.deferred = true;
	last.r.kind = SVC_RES_RAW;
	msgpack_unpacked_init(&u);
	if (result != NULL &&
	    msgpack_unpack_next(&u, result, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    (evs = mp_map_get(&u.data, "events")) != NULL && evs->type == MSGPACK_OBJECT_ARRAY) {
		last.nevents = evs->via.array.size;
		for (size_t i = 0; i < last.nevents && i < 16; i++) {
			const msgpack_object *e = &evs->via.array.ptr[i], *v;

			if ((v = mp_map_get(e, "type")) != NULL)
				last.ev[i].type = v->via.u64;
			if ((v = mp_map_get(e, "handle")) != NULL)
				last.ev[i].handle = v->via.u64;
			if ((v = mp_map_get(e, "gen")) != NULL)
				last.ev[i].gen = v->via.u64;
		}
	}
	msgpack_unpacked_destroy(&u);
	free(q);
}

static bool
env_mastership(void *arg, uint64_t *epoch)
{
	(void)arg;
	*epoch = epoch_now;
	return master;
}

static const struct ns *
env_ns(void *arg)
{
	(void)arg;
	return ns;
}

static int
env_sign(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen)
{
	(void)arg;
	return seqtoken_encode(NULL, 0, t, tok, toklen);
}

static void *
svc_defer(void *arg, void *token)
{
	struct req *q = token, *k;

	(void)arg;
	CU_ASSERT_FATAL(!q->kept && !q->answered);
	k = xmemdup(q, sizeof *q);
	k->kept = true;
	q->kept = true;
	outstanding++;
	return k;
}

static void
svc_reply(void *arg, void *token, bool deferred, int status, const char *msg,
    const struct svc_result *r)
{
	struct req *q = token;

	(void)arg;
	/* A kept token is answered later; the call's own only within it. */
	CU_ASSERT_FATAL(q->kept == deferred);
	CU_ASSERT_FATAL(!q->answered);
	memset(&last, 0, sizeof last);
	last.id = q->id;
	last.status = status;
	last.deferred = deferred;
	last.r = *r;
	snprintf(last.msg, sizeof last.msg, "%s", msg != NULL ? msg : "");
	if (r->stat != NULL)
		last.stat = *r->stat;
	if (r->kind == SVC_RES_HANDLES && r->nhandles > 0) {
		last.claimed = r->handles[0];
		snprintf(last.claimed_path, sizeof last.claimed_path, "%s", r->handles[0].path);
		last.claimed.path = last.claimed_path;
	}
	last.r.handles = NULL; /* the layer's, valid for the reply only */
	if (r->contents != NULL && r->contents_len < sizeof last.contents)
		memcpy(last.contents, r->contents, r->contents_len);
	if (deferred) {
		CU_ASSERT_FATAL(outstanding > 0);
		outstanding--;
		free(q);
	} else {
		q->answered = true;
	}
}

static uint64_t next_id = 1;
#define CLAIM_WINDOW_MS 60000
/* The read-only (mirrored) subtrees the next setup() gives the layer. */
static const char *const *readonly;
static size_t nreadonly;

/* Serves OP with A for "alice"; true if it was answered by the time the
 * call returned (within it, or through a kept token at once). */
static bool
call_as(const char *principal, enum svc_op op, const struct svc_args *a)
{
	struct req q = {.id = next_id++};

	svc_call(svc, now, &q, principal, op, a);
	CU_ASSERT(q.answered || q.kept);
	return last.id == q.id;
}

static bool
call(enum svc_op op, const struct svc_args *a)
{
	return call_as("alice", op, a);
}

static void
setup(void)
{
	if (cfg == NULL)
		cfg = config_new();
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
	    .proxy_claim_window_ms = CLAIM_WINDOW_MS};
	struct session_env senv = {.submit = env_submit, .reply = sess_reply,
	    .mastership = env_mastership, .ns = env_ns, .sign = env_sign};
	struct svc_config vc = {.cell = cfg->cell,
	    .superuser = cfg->superuser, .max_contents = cfg->max_contents, .page_bytes = 4096,
	    .lock_records = records_on, .readonly = readonly, .nreadonly = nreadonly,
	    .handles_in_memory = true, .max_handles = cfg->max_handles_per_session,
	    .proxies = "px1, px2"};
	struct svc_env venv = {.defer = svc_defer, .reply = svc_reply};

	now.mono_ms = 1000000;
	now.real_ms = 1700000000000ull;
	ns = ns_new(&nc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	master = true;
	epoch_now = 1;
	submits = 0;
	outstanding = 0;
	sm = session_new(&sc, &senv);
	svc = svc_new(&vc, &venv, sm);
	session_tick(sm, now);
}

static void
teardown(void)
{
	master = false;
	session_free(sm);
	svc_free(svc);
	ns_free(ns);
	CU_ASSERT_EQUAL(outstanding, 0);
}

/* A session of "alice" with NONCE; its id. */
static uint64_t
start(uint64_t nonce)
{
	struct svc_args a = {.rid = nonce};

	CU_ASSERT_FATAL(call(SVC_SESSION_START, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_SESSION);
	CU_ASSERT_EQUAL(last.r.epoch, epoch_now);
	CU_ASSERT_EQUAL(last.r.lease_ms, cfg->session_lease_ms);
	return last.r.session;
}

/* --- tests -------------------------------------------------------------------- */

static void
test_copies_from_the_record(void)
{
	struct svc_args a;
	uint64_t s, h, gen;
	size_t before;

	setup();
	s = start(7);
	CU_ASSERT(last.deferred); /* proposed: answered through the kept token */
	before = submits;
	CU_ASSERT_EQUAL(start(7), s);
	CU_ASSERT(!last.deferred);
	CU_ASSERT_EQUAL(submits, before);

	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.rid = 1;
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_OPEN);
	CU_ASSERT(last.r.created);
	h = last.r.handle;
	before = submits;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.handle, h);
	CU_ASSERT(!last.deferred);
	CU_ASSERT_EQUAL(submits, before);

	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	a.rid = 2;
	a.contents = (const uint8_t *)"x";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_STAT);
	gen = last.stat.content_gen;
	before = submits;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.stat.content_gen, gen);
	CU_ASSERT_EQUAL(submits, before);

	/* A floor above the rid: refused, nothing proposed. */
	a.rid = 3;
	a.rid_floor = 5;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(submits, before);

	/* A cached read of it. */
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	a.cache = true;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_CONTENTS);
	CU_ASSERT(last.r.cacheable);
	CU_ASSERT_STRING_EQUAL(last.contents, "x");
	CU_ASSERT_EQUAL(last.stat.content_gen, gen);
	teardown();
}

/* With lock_records (the default), a SET_CONTENTS with lock_record is the
 * namespace's lock record, cleared when the lock is released; with it off
 * (a rolling upgrade from a version without lock records) the same
 * request is a plain write, which every replica version knows. */
static void
record_round(bool on, const char *want_after)
{
	struct svc_args a;
	uint64_t s, h;

	records_on = on;
	setup();
	s = start(9);
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	a.contents = (const uint8_t *)"me";
	a.contents_len = 2;
	a.have_contents = true;
	a.lock_record = true;
	/* Not holding the lock: the namespace refuses a record, not a plain write. */
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, on ? CHUBBY_E_NOT_HELD : CHUBBY_OK);
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	a.contents = (const uint8_t *)"me";
	a.contents_len = 2;
	a.have_contents = true;
	a.lock_record = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(last.contents, want_after);
	teardown();
	records_on = true;
}

static void
test_lock_records(void)
{
	record_round(true, "");
	record_round(false, "me");
}

/* The clear is a content change: a session caching the record is
 * invalidated before the RELEASE that clears it is proposed, and may not
 * cache the file again meanwhile (docs/PROTOCOL.md "Cache invalidation").
 * The cacher B never acknowledges: the RELEASE goes once B's lease ends
 * (A's, begun later, still runs). */
static void
test_record_release_invalidates(void)
{
	uint64_t lease;
	struct svc_args a;
	uint64_t sa, sb, ha, hb;
	size_t before;
	struct req q;

	setup();
	lease = cfg->session_lease_ms;
	sb = start(21);
	now.mono_ms += lease / 2;
	now.real_ms += lease / 2;
	sa = start(22);
	memset(&a, 0, sizeof a);
	a.session = sa;
	a.epoch = 1;
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	ha = last.r.handle;
	a.session = sb;
	a.flags = NS_O_READ;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hb = last.r.handle;
	memset(&a, 0, sizeof a);
	a.session = sa;
	a.epoch = 1;
	a.handle = ha;
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	a.contents = (const uint8_t *)"me";
	a.contents_len = 2;
	a.have_contents = true;
	a.lock_record = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	memset(&a, 0, sizeof a);
	a.session = sb;
	a.epoch = 1;
	a.handle = hb;
	a.cache = true;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT(last.r.cacheable);
	CU_ASSERT_STRING_EQUAL(last.contents, "me");
	/* A's RELEASE waits for B's acknowledgement: not proposed, not answered. */
	before = submits;
	memset(&a, 0, sizeof a);
	a.session = sa;
	a.epoch = 1;
	a.handle = ha;
	q.id = next_id++;
	q.kept = q.answered = false;
	svc_call(svc, now, &q, "alice", SVC_RELEASE, &a);
	CU_ASSERT_TRUE(q.kept);
	CU_ASSERT_EQUAL(submits, before);
	/* Meanwhile B reads the record, uncached. */
	memset(&a, 0, sizeof a);
	a.session = sb;
	a.epoch = 1;
	a.handle = hb;
	a.cache = true;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_FALSE(last.r.cacheable);
	/* B's lease ends: the RELEASE goes, and clears the record. */
	now.mono_ms += lease / 2 + lease / 4;
	now.real_ms += lease / 2 + lease / 4;
	session_tick(sm, now);
	CU_ASSERT(submits > before);
	CU_ASSERT_EQUAL(outstanding, 0);
	memset(&a, 0, sizeof a);
	a.session = sa;
	a.epoch = 1;
	a.handle = ha;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(last.contents, "");
	teardown();
}

/* KEEPALIVE passes the client's ev_ack to the session layer: events a
 * lost reply carried come again until acknowledged (issue 16). */
static void
test_keepalive_ev_ack(void)
{
	struct svc_args a;
	uint64_t w, r, hr, hw;

	setup();
	w = start(1);
	r = start(2);
	memset(&a, 0, sizeof a);
	a.session = w;
	a.epoch = 1;
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	a.events = NS_EV_CONTENTS_MODIFIED;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hw = last.r.handle;
	a.session = r;
	a.events = 0;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hr = last.r.handle;
	(void)hw;
	memset(&a, 0, sizeof a);
	a.session = r;
	a.epoch = 1;
	a.handle = hr;
	a.contents = (const uint8_t *)"y";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);

	memset(&a, 0, sizeof a);
	a.session = w;
	a.epoch = 1;
	a.hold_ms = 5000;
	a.have_ev_ack = true;
	a.ev_ack = 0;
	CU_ASSERT_FATAL(call(SVC_KEEPALIVE, &a)); /* at once, with the event */
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.nevents, 1);
	/* That reply is lost: the next one carries the event again. */
	CU_ASSERT(call(SVC_KEEPALIVE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.nevents, 1);
	teardown();
}

static void
test_refusals_say_more(void)
{
	struct svc_args a;
	struct seqtoken t;
	uint64_t s, h, gen;

	setup();
	s = start(0);
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	gen = last.stat.content_gen;

	/* Another epoch: BAD_EPOCH with ours. */
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 9;
	a.handle = h;
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_EPOCH);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_EPOCH);
	CU_ASSERT_EQUAL(last.r.epoch, 1);

	/* Compare-and-set against an old generation: the current one. */
	a.epoch = 1;
	a.contents = (const uint8_t *)"y";
	a.contents_len = 1;
	a.have_contents = true;
	a.have_expected = true;
	a.expected_gen = gen + 5;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_CONTENT_GEN);
	CU_ASSERT_EQUAL(last.r.content_gen, gen);

	/* A lock mode that is neither. */
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	a.mode = 3;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_INVALID);

	/* A granted ACQUIRE goes through the session layer, kept. */
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT(last.deferred);

	/* A sequencer of another cell. */
	memset(&t, 0, sizeof t);
	strcpy(t.cell, "elsewhere");
	strcpy(t.path, FILE_PATH);
	t.mode = NS_LOCK_EXCLUSIVE;
	t.lock_gen = 1;
	memset(&a, 0, sizeof a);
	a.seq = &t;
	CU_ASSERT_FATAL(call(SVC_CHECK_SEQUENCER, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_SEQUENCER);

	/* SESSIONS: the superuser's alone. */
	memset(&a, 0, sizeof a);
	CU_ASSERT_FATAL(call(SVC_SESSIONS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);

	/* No longer master: the caller is told to name the master. */
	master = false;
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = h;
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_NOT_MASTER);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_NOT_MASTER);
	CU_ASSERT_FATAL(call(SVC_SESSION_START, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_NOT_MASTER);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_NOT_MASTER);
	teardown();
}

/* A mirrored subtree (issue 21 item 5): only the mirror (a caller marked
 * mirror_writer, a replica of the cell) may open it for writing or
 * creating, write, delete or lock there; others get E_PERMISSION naming
 * the subtree, and reads and paths beside it are untouched. */
static void
test_mirrored_subtree_is_read_only(void)
{
	static const char *const ro[] = {"/ls/local/m"};
	struct svc_args a;
	uint64_t s, hw, hr;

	readonly = ro;
	nreadonly = 1;
	setup();
	readonly = NULL;
	nreadonly = 0;
	s = start(0);
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.lock_delay_ms = UINT64_MAX;
	/* The mirror makes the copy. */
	a.mirror_writer = true;
	a.path = "/ls/local/m";
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE | NS_O_DIR;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	a.path = "/ls/local/m/f";
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hw = last.r.handle;
	/* A client: reads yes, writes no. */
	a.mirror_writer = false;
	a.flags = NS_O_READ;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hr = last.r.handle;
	a.flags = NS_O_READ | NS_O_WRITE;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(last.msg, "read-only mirror"));
	CU_ASSERT_PTR_NOT_NULL(strstr(last.msg, "/ls/local/m)"));
	a.path = "/ls/local/m/new";
	a.flags = NS_O_READ | NS_O_CREATE;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	a.path = "/ls/local/m";
	a.flags = NS_O_WRITE | NS_O_CREATE | NS_O_DIR;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	/* A sibling whose name merely starts the same is not mirrored. */
	a.path = "/ls/local/mx";
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	/* A write handle already open (the mirror's) does not let a
	 * client's call through: the check is by the node's path. */
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = hw;
	a.contents = (const uint8_t *)"x";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_FATAL(call(SVC_DELETE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	/* The mirror itself may. */
	a.mirror_writer = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	/* And reads through the client's handle see it. */
	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = 1;
	a.handle = hr;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(last.contents, "x");
	/* A write handle kept in memory, re-created at this master from
	 * what the call carries (as after a fail-over), is no way around
	 * it: the check goes by the node the handle names. */
	{
		uint64_t inst = last.stat.instance;

		memset(&a, 0, sizeof a);
		a.session = s;
		a.epoch = 1;
		a.handle = (1ull << 63) | (1ull << 32) | 77; /* a memory handle's id */
		a.have_reopen = true;
		a.path = "/ls/local/m/f";
		a.instance = inst;
		a.flags = NS_O_READ | NS_O_WRITE;
		a.contents = (const uint8_t *)"y";
		a.contents_len = 1;
		a.have_contents = true;
		CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
		CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
		CU_ASSERT_PTR_NOT_NULL(strstr(last.msg, "read-only mirror"));
		CU_ASSERT_FATAL(call(SVC_DELETE, &a));
		CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	}
	teardown();
}

/* A handle call's arguments in session S at epoch EPOCH. */
static struct svc_args
on_handle(uint64_t s, uint64_t epoch, uint64_t h)
{
	struct svc_args a;

	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = epoch;
	a.handle = h;
	return a;
}

/* A read-only OPEN of PATH asking for a handle in memory: its answer. */
static void
open_mem(uint64_t s, uint64_t epoch, const char *path)
{
	struct svc_args a = on_handle(s, epoch, 0);

	a.path = path;
	a.flags = NS_O_READ;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
}

/*
 * Chubby §2.9: a handle lives in the master's memory.  An OPEN that
 * creates nothing, and its CLOSE, write nothing to the log; reads through
 * the handle are answered from the applied namespace; a new master that
 * does not know the handle re-creates it from what the client's call
 * carries, checked against the replicated state.
 */
static void
test_memory_handles(void)
{
	struct svc_args a;
	uint64_t s, h, hm, inst;
	size_t before;

	setup();
	s = start(0);
	/* The file, made through the log as today. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	a.contents = (const uint8_t *)"x";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	inst = last.stat.instance;
	a = on_handle(s, 1, h);
	CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);

	/* Open, read, stat, close: no proposal. */
	before = submits;
	open_mem(s, 1, FILE_PATH);
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_OPEN);
	CU_ASSERT(!last.r.created);
	CU_ASSERT_EQUAL(last.stat.instance, inst);
	hm = last.r.handle;
	a = on_handle(s, 1, hm);
	a.cache = true;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(last.contents, "x");
	CU_ASSERT(last.r.cacheable);
	a = on_handle(s, 1, hm);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.stat.instance, inst);
	CU_ASSERT_FATAL(call(SVC_READDIR, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_NOT_DIR);
	a.rid = 10;
	CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(submits, before);
	/* Closed: gone. */
	a = on_handle(s, 1, hm);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_HANDLE);

	/* A re-sent OPEN (the same rid: its answer was lost) gets the same
	 * handle, not a second one left open until the session ends. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	a.rid = 11;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.handle, hm);
	CU_ASSERT_EQUAL(last.stat.instance, inst);
	CU_ASSERT_EQUAL(mh_count(session_mhandles(sm), s), 1);
	a = on_handle(s, 1, hm);
	CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(mh_count(session_mhandles(sm), s), 0);

	/* A missing node: NOT_FOUND, as through the log. */
	open_mem(s, 1, "/ls/local/nothing");
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_NOT_FOUND);
	CU_ASSERT_EQUAL(submits, before);
	/* An event mask is kept with the handle in memory
	 * (test_memory_handle_events); a lock-delay of its own goes through
	 * the log (the namespace applies it when the session expires). */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ;
	a.events = 1;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT(mh_is_mem_id(last.r.handle));
	CU_ASSERT_EQUAL(submits, before);
	a.events = 0;
	a.lock_delay_ms = 0;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT(!mh_is_mem_id(last.r.handle));
	CU_ASSERT_EQUAL(submits, before + 1);

	/* An ephemeral node: an open holds it (it is reaped when its last
	 * handle closes), so the open goes through the log. */
	a = on_handle(s, 1, 0);
	a.path = "/ls/local/eph";
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE | NS_O_EPHEMERAL;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	before = submits;
	open_mem(s, 1, "/ls/local/eph");
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT(!mh_is_mem_id(last.r.handle));
	CU_ASSERT_EQUAL(submits, before + 1);

	/* A new master (epoch 2) does not know the handle; the call that
	 * carries its re-creation is served, and the handle lives again. */
	open_mem(s, 1, FILE_PATH);
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	epoch_now = 2;
	a = on_handle(s, 2, hm);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_HANDLE);
	a.have_reopen = true;
	a.path = FILE_PATH;
	a.flags = NS_O_READ;
	a.instance = inst + 1; /* not the node there now */
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_HANDLE);
	a.instance = inst;
	a.cache = true;
	CU_ASSERT_FATAL(call(SVC_GET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(last.contents, "x");
	a = on_handle(s, 2, hm);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	/* A new master's ids are not the old one's. */
	open_mem(s, 2, FILE_PATH);
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_NOT_EQUAL(last.r.handle, hm);
	/* Another session cannot re-create it. */
	a = on_handle(start(0), 2, hm);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_EQUAL(submits, before + 2); /* the ephemeral node's open, the session */
	teardown();
}


/* Session S's events so far (a KeepAlive answered at once, acknowledging
 * none: every kept event comes again); how many. */
static size_t
events_of(uint64_t s)
{
	struct svc_args a;

	memset(&a, 0, sizeof a);
	a.session = s;
	a.epoch = epoch_now;
	a.hold_ms = 5000; /* answered at once: it has events */
	a.have_ev_ack = true;
	a.ev_ack = 0;
	CU_ASSERT_FATAL(call(SVC_KEEPALIVE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	return last.nevents;
}

/* Protocol event numbers: bit k of a mask is type k+1. */
#define EVT(bit) ((uint64_t)__builtin_ctz(bit) + 1)

/*
 * Issue 19 item 2: an OPEN with an event mask writes nothing to the log;
 * its handle, kept in memory, gets the events of applied commands as a
 * handle of the log's with the same mask does, in the same order, the
 * content generation included (and CONFLICTING_LOCK while it holds the
 * lock, as a log holder does).
 */
static void
test_memory_handle_events(void)
{
	const uint32_t mask = NS_EV_CONTENTS_MODIFIED | NS_EV_LOCK_ACQUIRED |
	    NS_EV_CONFLICTING_LOCK | NS_EV_HANDLE_INVALID;
	struct svc_args a;
	uint64_t s, w, h, hl, hm, hd, gen;
	size_t before, n;

	setup();
	w = start(0);
	s = start(0);
	a = on_handle(w, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	gen = last.stat.content_gen;
	/* A log handle of S with the mask (no "mem"), then one in memory. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.events = mask;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hl = last.r.handle;
	before = submits;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	CU_ASSERT(mh_is_mem_id(hm));
	CU_ASSERT_EQUAL(submits, before); /* no log write */
	/* Its directory, watched for children, in memory too. */
	a = on_handle(s, 1, 0);
	a.path = "/ls/local";
	a.flags = NS_O_READ;
	a.lock_delay_ms = UINT64_MAX;
	a.events = NS_EV_CHILD_MODIFIED | NS_EV_CHILD_REMOVED;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hd = last.r.handle;
	CU_ASSERT(mh_is_mem_id(hd));
	CU_ASSERT_EQUAL(submits, before);
	/* The content event needs the read intent, as through the log. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.events = NS_EV_CONTENTS_MODIFIED;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(submits, before);

	/* W writes: both file handles hear of it with the new generation,
	 * the log's first (id order), and the directory's handle. */
	a = on_handle(w, 1, h);
	a.contents = (const uint8_t *)"y";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	n = events_of(s);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(last.ev[0].handle, hl);
	CU_ASSERT_EQUAL(last.ev[0].type, EVT(NS_EV_CONTENTS_MODIFIED));
	CU_ASSERT_EQUAL(last.ev[0].gen, gen + 1);
	CU_ASSERT_EQUAL(last.ev[1].handle, hm);
	CU_ASSERT_EQUAL(last.ev[1].type, EVT(NS_EV_CONTENTS_MODIFIED));
	CU_ASSERT_EQUAL(last.ev[1].gen, gen + 1);
	CU_ASSERT_EQUAL(last.ev[2].handle, hd);
	CU_ASSERT_EQUAL(last.ev[2].type, EVT(NS_EV_CHILD_MODIFIED));
	CU_ASSERT_EQUAL(last.ev[2].gen, gen + 1);

	/* S locks through the memory handle: LOCK_ACQUIRED to both. */
	a = on_handle(s, 1, hm);
	a.rid = 40;
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	n = events_of(s);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(last.ev[3].handle, hl);
	CU_ASSERT_EQUAL(last.ev[3].type, EVT(NS_EV_LOCK_ACQUIRED));
	CU_ASSERT_EQUAL(last.ev[4].handle, hm);
	CU_ASSERT_EQUAL(last.ev[4].type, EVT(NS_EV_LOCK_ACQUIRED));
	/* W wants it: the holder (the memory handle) hears of it. */
	a = on_handle(w, 1, h);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BUSY);
	n = events_of(s);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	CU_ASSERT_EQUAL(last.ev[5].handle, hm);
	CU_ASSERT_EQUAL(last.ev[5].type, EVT(NS_EV_CONFLICTING_LOCK));
	/* W deletes it: HANDLE_INVALID to both, CHILD_REMOVED to the
	 * directory's. */
	a = on_handle(w, 1, h);
	CU_ASSERT_FATAL(call(SVC_DELETE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	n = events_of(s);
	CU_ASSERT_EQUAL_FATAL(n, 9);
	CU_ASSERT_EQUAL(last.ev[6].handle, hl);
	CU_ASSERT_EQUAL(last.ev[6].type, EVT(NS_EV_HANDLE_INVALID));
	CU_ASSERT_EQUAL(last.ev[7].handle, hm);
	CU_ASSERT_EQUAL(last.ev[7].type, EVT(NS_EV_HANDLE_INVALID));
	CU_ASSERT_EQUAL(last.ev[8].handle, hd);
	CU_ASSERT_EQUAL(last.ev[8].type, EVT(NS_EV_CHILD_REMOVED));
	teardown();
}


/* A call on handle HM (in memory, opened at epoch 1) of session S that
 * carries its re-creation, as libchubby's calls on one do. */
static struct svc_args
on_mem(uint64_t s, uint64_t epoch, uint64_t hm, uint64_t inst, uint32_t flags)
{
	struct svc_args a = on_handle(s, epoch, hm);

	a.have_reopen = true;
	a.path = FILE_PATH;
	a.flags = flags;
	a.instance = inst;
	return a;
}

/*
 * Issue 19 item 2: only opens that create a node or hold an ephemeral
 * one go through the log.  An open with the write intent of an existing
 * node is kept in memory; a write through it is one log entry that names
 * the node (MEM); an ACQUIRE makes the handle replicated in its own entry
 * and the RELEASE that leaves it holding nothing drops it, so its CLOSE
 * costs nothing.
 */
static void
test_memory_handle_writes_and_locks(void)
{
	const uint32_t rwc = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	struct svc_args a;
	uint64_t s, s2, h, h2, hm, inst, gen;
	size_t before, nh;
	int held = 0;

	setup();
	s = start(0);
	s2 = start(0);
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = rwc;
	a.lock_delay_ms = UINT64_MAX;
	a.contents = (const uint8_t *)"x";
	a.contents_len = 1;
	a.have_contents = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	inst = last.stat.instance;
	gen = last.stat.content_gen;
	a = on_handle(s2, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h2 = last.r.handle;
	nh = ns_handle_count(ns);

	/* lockctl put's OPEN (create, with contents) of a file that exists:
	 * it creates nothing, so no log write. */
	before = submits;
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = rwc;
	a.lock_delay_ms = UINT64_MAX;
	a.contents = (const uint8_t *)"y";
	a.contents_len = 1;
	a.have_contents = true;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT(!last.r.created);
	hm = last.r.handle;
	CU_ASSERT_FATAL(mh_is_mem_id(hm));
	CU_ASSERT_EQUAL(submits, before);

	/* SET_CONTENTS: one log write, and no replicated handle left. */
	a = on_handle(s, 1, hm);
	a.rid = 20;
	a.contents = (const uint8_t *)"z";
	a.contents_len = 1;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.stat.content_gen, gen + 1);
	CU_ASSERT_EQUAL(submits, before + 1);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);
	/* Compare-and-set that loses: the current generation in the answer. */
	a = on_handle(s, 1, hm);
	a.rid = 21;
	a.contents = (const uint8_t *)"w";
	a.contents_len = 1;
	a.have_expected = true;
	a.expected_gen = gen;
	CU_ASSERT_FATAL(call(SVC_SET_CONTENTS, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_CONTENT_GEN);
	CU_ASSERT_EQUAL(last.r.content_gen, gen + 1);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);
	/* SET_ACL: one log write, with the change-ACL check at apply. */
	before = submits;
	a = on_handle(s, 1, hm);
	a.rid = 27;
	a.have_acl = true;
	a.acl[0] = a.acl[1] = a.acl[2] = "";
	CU_ASSERT_FATAL(call(SVC_SET_ACL, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.stat.acl_gen, 1);
	CU_ASSERT_EQUAL(submits, before + 1);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);

	/* A lock cycle: two log writes; the holder is replicated meanwhile. */
	before = submits;
	a = on_handle(s, 1, hm);
	a.rid = 22;
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(submits, before + 1);
	CU_ASSERT_EQUAL(ns_locks_held(ns), 1);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh + 1);
	a = on_handle(s2, 1, h2);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BUSY);
	before = submits;
	a = on_handle(s, 1, hm);
	CU_ASSERT_FATAL(call(SVC_GET_SEQUENCER, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	a.rid = 23;
	CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(submits, before + 1);
	CU_ASSERT_EQUAL(ns_locks_held(ns), 0);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);
	a = on_handle(s, 1, hm);
	CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_NOT_HELD);

	/* A blocking ACQUIRE waits at the master for a holder of the log's,
	 * and is granted when it releases. */
	a = on_handle(s2, 1, h2);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	{
		struct req q = {.id = next_id++};

		a = on_handle(s, 1, hm);
		a.rid = 30;
		a.mode = NS_LOCK_EXCLUSIVE;
		svc_call(svc, now, &q, "alice", SVC_ACQUIRE, &a);
		CU_ASSERT(q.kept && last.id != q.id); /* waiting */
		a = on_handle(s2, 1, h2);
		CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
		CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
		/* The release applied; the waiter's ACQUIRE went out, won and
		 * was answered (before the RELEASE's own answer). */
		CU_ASSERT_EQUAL(outstanding, 0);
		CU_ASSERT_EQUAL(ns_locks_held(ns), 1);
		CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, s, hm, &held));
		CU_ASSERT_EQUAL(held, NS_LOCK_EXCLUSIVE);
	}
	a = on_handle(s, 1, hm);
	a.rid = 31;
	CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);

	/* A CLOSE of a handle in memory that waits for its lock ends the
	 * wait (as a log handle's CLOSE does): no grant to a closed handle. */
	a = on_handle(s2, 1, h2);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_TRY_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	{
		struct req q = {.id = next_id++};

		a = on_handle(s, 1, hm);
		a.rid = 32;
		a.mode = NS_LOCK_EXCLUSIVE;
		svc_call(svc, now, &q, "alice", SVC_ACQUIRE, &a);
		CU_ASSERT(q.kept && last.id != q.id); /* waiting */
		a = on_handle(s, 1, hm);
		CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
		CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
		CU_ASSERT_EQUAL(outstanding, 0); /* the waiter was answered */
		a = on_handle(s2, 1, h2);
		CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
		CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
		CU_ASSERT_EQUAL(ns_locks_held(ns), 0);
		CU_ASSERT_EQUAL(ns_handle_count(ns), nh);
	}
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;

	/* DELETE through a handle in memory; the log's handles see it gone. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	CU_ASSERT_FATAL(mh_is_mem_id(hm));
	before = submits;
	a = on_handle(s, 1, hm);
	a.rid = 26;
	CU_ASSERT_FATAL(call(SVC_DELETE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(submits, before + 1);
	a = on_handle(s, 1, h);
	CU_ASSERT_FATAL(call(SVC_GET_STAT, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_BAD_HANDLE);
	/* Absent now: an OPEN that creates goes through the log. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = rwc;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT(last.r.created);
	CU_ASSERT(!mh_is_mem_id(last.r.handle));
	CU_ASSERT_EQUAL(submits, before + 2);
	inst = last.stat.instance;
	nh = ns_handle_count(ns); /* that OPEN's handle */

	/* Held across a fail-over: the new master finds the holder in the
	 * namespace and releases it; the CLOSE after costs nothing. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	CU_ASSERT_FATAL(mh_is_mem_id(hm));
	a = on_handle(s, 1, hm);
	a.rid = 24;
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	epoch_now = 2;
	a = on_mem(s, 2, hm, inst, NS_O_READ | NS_O_WRITE);
	a.rid = 25;
	CU_ASSERT_FATAL(call(SVC_RELEASE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_locks_held(ns), 0);
	before = submits;
	a = on_mem(s, 2, hm, inst, NS_O_READ | NS_O_WRITE);
	CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(submits, before);

	/* A CLOSE of a handle that still holds its lock goes through the
	 * log: the lock is freed. */
	open_mem(s, 2, FILE_PATH);
	a = on_handle(s, 2, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	a = on_handle(s, 2, hm);
	a.mode = NS_LOCK_SHARED;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_locks_held(ns), 1);
	a = on_handle(s, 2, hm);
	CU_ASSERT_FATAL(call(SVC_CLOSE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_locks_held(ns), 0);
	CU_ASSERT_EQUAL(ns_handle_count(ns), nh);

	teardown();
}

/* max_handles counts handles in memory with those in the log; the
 * session's end drops them. */
static void
test_memory_handle_limit(void)
{
	struct svc_args a;
	uint64_t s, h;
	size_t i, max;

	setup();
	max = cfg->max_handles_per_session;
	s = start(0);
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a)); /* one in the log */
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	for (i = 1; i < max - 1; i++) {
		open_mem(s, 1, FILE_PATH);
		CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	}
	/* The last one with a request id. */
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ;
	a.lock_delay_ms = UINT64_MAX;
	a.mem = true;
	a.rid = 30;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	h = last.r.handle;
	open_mem(s, 1, FILE_PATH);
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_LIMIT);
	/* At the limit, a copy of that OPEN still gets its handle. */
	CU_ASSERT_FATAL(call(SVC_OPEN, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.handle, h);
	/* Session end closes everything, handles in memory too. */
	CU_ASSERT_EQUAL(mh_count(session_mhandles(sm), s), max - 1);
	a = on_handle(s, 1, 0);
	a.rid = 20;
	CU_ASSERT_FATAL(call(SVC_SESSION_END, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(mh_count(session_mhandles(sm), s), 0);
	teardown();
}

/* A handle in memory the namespace holds too (a lock holder) counts once
 * against max_handles. */
static void
test_memory_handle_limit_holder(void)
{
	struct svc_args a;
	uint64_t s, hm;
	size_t i, max, opened = 0;

	setup();
	max = cfg->max_handles_per_session;
	s = start(0);
	a = on_handle(s, 1, 0);
	a.path = FILE_PATH;
	a.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
	a.lock_delay_ms = UINT64_MAX;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a)); /* one in the log */
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	a.mem = true;
	CU_ASSERT_FATAL(call(SVC_OPEN, &a)); /* one in memory, that locks */
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	hm = last.r.handle;
	CU_ASSERT_FATAL(mh_is_mem_id(hm));
	a = on_handle(s, 1, hm);
	a.mode = NS_LOCK_EXCLUSIVE;
	CU_ASSERT_FATAL(call(SVC_ACQUIRE, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_session_handles(ns, s, NULL, 0), 2);
	for (i = 0; i < max; i++) {
		open_mem(s, 1, FILE_PATH);
		if (last.status != CHUBBY_OK)
			break;
		opened++;
	}
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_LIMIT);
	CU_ASSERT_EQUAL(opened, max - 2);
	teardown();
}


/* --- proxies (docs/PROTOCOL.md "Proxies") ---------------------------------------- */

/* Applies CMD (consumed) to the namespace directly, as its superuser's. */
static uint64_t
direct_apply(int rc, uint8_t *cmd, size_t len)
{
	struct ns_result res;
	uint64_t out;

	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	ns_result_init(&res);
	rc = ns_apply(ns, cmd, len, &res);
	session_applied(sm, now, cmd, len, &res);
	free(cmd);
	if (rc != CHUBBY_OK)
		fprintf(stderr, "direct: %s\n", res.msg);
	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	out = res.session != 0 ? res.session : res.handle;
	ns_result_free(&res);
	return out;
}

/* (The encoder runs first: B and L are read after it.) */
#define direct(enc, b, l) (rc_ = (enc), direct_apply(rc_, (b), (l)))

/* /ls/local/secret, readable only by the principals of the ACL file
 * "readers" (BODY). */
static void
make_secret(const char *body)
{
	const char *acl[3] = {"readers", "readers", "readers"};
	uint8_t *b = NULL;
	size_t l = 0;
	uint64_t su, h;
	int rc_;

	su = direct(ns_encode_session_start(now.real_ms, cfg->superuser, &b, &l), b, l);
	h = direct(ns_encode_open(now.real_ms, su, "/ls/local/acl", NS_O_CREATE | NS_O_DIR |
	    NS_O_READ, UINT64_MAX, 0, NULL, 0, NULL, &b, &l), b, l);
	h = direct(ns_encode_open(now.real_ms, su, "/ls/local/acl/readers", NS_O_CREATE |
	    NS_O_WRITE, UINT64_MAX, 0, body, strlen(body), NULL, &b, &l), b, l);
	h = direct(ns_encode_open(now.real_ms, su, "/ls/local/secret", NS_O_CREATE | NS_O_WRITE,
	    UINT64_MAX, 0, "s", 1, acl, &b, &l), b, l);
	(void)h;
}

/* A proxy session for PRINCIPAL, started by the proxy connection AS. */
static uint64_t
pstart(const char *as, const char *principal)
{
	struct svc_args a = {.rid = next_id * 7919, .principal = principal};

	CU_ASSERT_FATAL(call_as(as, SVC_SESSION_START, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	return last.r.session;
}

static int
popen_as(const char *as, uint64_t s, const char *path, uint32_t flags, uint64_t client,
    uint64_t *h)
{
	struct svc_args a = {.session = s, .epoch = epoch_now, .path = path, .flags = flags,
	    .lock_delay_ms = UINT64_MAX, .client = client, .mem = true};

	CU_ASSERT_FATAL(call_as(as, SVC_OPEN, &a));
	if (h != NULL)
		*h = last.r.handle;
	return last.status;
}

/* SESSION_START for another principal only from a proxy; a proxy
 * session only from a proxy; ACLs checked against the client's principal;
 * the client tag only on a proxy session, always in the log. */
static void
test_proxy_sessions(void)
{
	struct svc_args a;
	struct ns_handle_info hi;
	uint64_t sa, sb, own, h;

	setup();
	make_secret("bob\n");
	/* A client that is no proxy may not speak for another. */
	memset(&a, 0, sizeof a);
	a.principal = "bob";
	CU_ASSERT_FATAL(call_as("alice", SVC_SESSION_START, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(last.msg, "proxies"));
	sa = pstart("px1", "alice");
	sb = pstart("px2", "bob");
	CU_ASSERT_TRUE(ns_session_is_proxy(ns, sa));
	CU_ASSERT_STRING_EQUAL(ns_session_principal(ns, sa), "alice");
	/* Checked as alice, who is not a reader: refused, though px1 asks. */
	CU_ASSERT_EQUAL(popen_as("px1", sa, "/ls/local/secret", NS_O_READ, 0, NULL),
	    CHUBBY_E_PERMISSION);
	/* As bob, through either proxy. */
	CU_ASSERT_EQUAL(popen_as("px1", sb, "/ls/local/secret", NS_O_READ, 0, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(popen_as("px2", sb, "/ls/local/secret", NS_O_READ, 12, &h), CHUBBY_OK);
	/* Tagged: in the log though mem was asked for. */
	CU_ASSERT_FALSE(mh_is_mem_id(h));
	CU_ASSERT_EQUAL(ns_handle_info(ns, sb, h, &hi), CHUBBY_OK);
	CU_ASSERT_EQUAL(hi.client, 12);
	/* A proxy session from a connection that is no proxy: refused, even
	 * from its own principal. */
	CU_ASSERT_EQUAL(popen_as("bob", sb, "/ls/local/secret", NS_O_READ, 0, NULL),
	    CHUBBY_E_PERMISSION);
	memset(&a, 0, sizeof a);
	a.session = sb;
	a.epoch = epoch_now;
	CU_ASSERT_FATAL(call_as("bob", SVC_KEEPALIVE, &a));
	CU_ASSERT_EQUAL(last.status, CHUBBY_E_PERMISSION);
	/* A tag on a session that is not a proxy session. */
	memset(&a, 0, sizeof a);
	CU_ASSERT_FATAL(call_as("px1", SVC_SESSION_START, &a));
	own = last.r.session;
	CU_ASSERT_FALSE(ns_session_is_proxy(ns, own));
	CU_ASSERT_EQUAL(popen_as("px1", own, "/ls/local/f", NS_O_READ | NS_O_CREATE, 5, NULL),
	    CHUBBY_E_INVALID);
	teardown();
}


/* Moves the clocks on by MS, a tick every 100 ms, as chubbyd's loop. */
static void
advance(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100) {
		now.mono_ms += 100;
		now.real_ms += 100;
		session_tick(sm, now);
	}
}

static int
try_lock(const char *as, uint64_t s, uint64_t h)
{
	struct svc_args a = {.session = s, .epoch = epoch_now, .handle = h,
	    .mode = NS_LOCK_EXCLUSIVE};

	CU_ASSERT_FATAL(call_as(as, SVC_TRY_ACQUIRE, &a));
	return last.status;
}

static int
client_end(const char *as, uint64_t s, uint64_t client, bool expired)
{
	struct svc_args a = {.session = s, .epoch = epoch_now, .client = client,
	    .expired = expired};

	CU_ASSERT_FATAL(call_as(as, SVC_CLIENT_END, &a));
	return last.status;
}

static int
claim(const char *as, uint64_t s, uint64_t client)
{
	struct svc_args a = {.session = s, .epoch = epoch_now, .client = client};

	CU_ASSERT_FATAL(call_as(as, SVC_CLAIM, &a));
	return last.status;
}

/* A direct session of PRINCIPAL. */
static uint64_t
dstart(const char *principal)
{
	struct svc_args a = {.rid = next_id * 7919};

	CU_ASSERT_FATAL(call_as(principal, SVC_SESSION_START, &a));
	CU_ASSERT_EQUAL_FATAL(last.status, CHUBBY_OK);
	return last.r.session;
}

static uint64_t
lock_gen_of(const char *path)
{
	struct ns_result res;
	uint64_t g;

	ns_result_init(&res);
	CU_ASSERT_EQUAL_FATAL(ns_path_stat(ns, path, 0, &res), CHUBBY_OK);
	g = res.stat.lock_gen;
	ns_result_free(&res);
	return g;
}

static bool
node_exists(const char *path)
{
	struct ns_result res;
	int rc;

	ns_result_init(&res);
	rc = ns_path_stat(ns, path, 0, &res);
	ns_result_free(&res);
	return rc == CHUBBY_OK;
}

/* CLIENT_END: the client's handles end at once, locks with their
 * lock-delay when expired; only a proxy may; the client is over after. */
static void
test_proxy_client_end(void)
{
	uint64_t sa, sb, h, he, hk, hb;

	setup();
	sa = pstart("px1", "alice");
	CU_ASSERT_EQUAL(popen_as("px1", sa, "/ls/local/l", NS_O_WRITE | NS_O_CREATE, 5, &h),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("px1", sa, h), CHUBBY_OK);
	CU_ASSERT_EQUAL(popen_as("px1", sa, "/ls/local/e", NS_O_WRITE | NS_O_CREATE |
	    NS_O_EPHEMERAL, 5, &he), CHUBBY_OK);
	CU_ASSERT_EQUAL(popen_as("px1", sa, "/ls/local/k", NS_O_WRITE | NS_O_CREATE, 6, &hk),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("px1", sa, hk), CHUBBY_OK);
	sb = dstart("bob");
	CU_ASSERT_EQUAL(popen_as("bob", sb, "/ls/local/l", NS_O_WRITE, 0, &hb), CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("bob", sb, hb), CHUBBY_E_BUSY);
	/* Not from a connection that is no proxy, not on a direct session. */
	CU_ASSERT_EQUAL(client_end("alice", sa, 5, true), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(client_end("px1", dstart("px1"), 5, true), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(client_end("px2", sa, 5, true), CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_CLOSED);
	CU_ASSERT_EQUAL(last.r.closed, 2);
	CU_ASSERT_FALSE(node_exists("/ls/local/e"));
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, sa, hk, NULL));
	/* Expired: the lock-delay holds bob off, then lets him in. */
	CU_ASSERT_EQUAL(try_lock("bob", sb, hb), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(claim("px1", sa, 5), CHUBBY_E_SESSION_EXPIRED);
	/* Not expired: free at once. */
	CU_ASSERT_EQUAL(client_end("px1", sa, 6, false), CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.closed, 1);
	CU_ASSERT_PTR_NULL(ns_handle_path(ns, sa, hk, NULL));
	teardown();
}

/* The claim window (docs/SESSIONS.md "Proxies"): a proxy session that
 * expires leaves its clients' handles, locks held, for a claim; a claim
 * by another proxy session of the principal keeps the lock as it was; one
 * of another principal moves nothing; what is not claimed is released
 * when the window ends, with lock-delay and a tombstone; a new master
 * counts the window again from its take-over. */
static void
test_proxy_claim_window(void)
{
	uint64_t s1, s2, sx, sb, h, h2, hb, gen;
	size_t i;

	setup();
	s1 = pstart("px1", "alice");
	CU_ASSERT_EQUAL(popen_as("px1", s1, "/ls/local/l", NS_O_WRITE | NS_O_CREATE, 77, &h),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("px1", s1, h), CHUBBY_OK);
	gen = lock_gen_of("/ls/local/l");
	CU_ASSERT_EQUAL(popen_as("px1", s1, "/ls/local/m", NS_O_WRITE | NS_O_CREATE, 78, &h2),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("px1", s1, h2), CHUBBY_OK);
	CU_ASSERT_EQUAL(popen_as("px1", s1, "/ls/local/e", NS_O_WRITE | NS_O_CREATE |
	    NS_O_EPHEMERAL, 78, NULL), CHUBBY_OK);
	/* The proxy dies: its session's lease runs out. */
	advance(2 * cfg->session_lease_ms);
	CU_ASSERT_TRUE_FATAL(ns_session_orphaned(ns, s1));
	CU_ASSERT_EQUAL(lock_gen_of("/ls/local/l"), gen);
	CU_ASSERT_TRUE(node_exists("/ls/local/e"));
	/* Its session is gone for everyone. */
	CU_ASSERT_EQUAL(try_lock("px1", s1, h), CHUBBY_E_SESSION_EXPIRED);
	/* Another principal's proxy session claims nothing. */
	sx = pstart("px2", "mallory");
	CU_ASSERT_EQUAL(claim("px2", sx, 77), CHUBBY_OK);
	CU_ASSERT_EQUAL(last.r.kind, SVC_RES_HANDLES);
	CU_ASSERT_EQUAL(last.r.nhandles, 0);
	/* Alice's client, now at px2, claims its handle: same id, its lock
	 * held all along (same generation: nobody took it between). */
	s2 = pstart("px2", "alice");
	CU_ASSERT_EQUAL(claim("px2", s2, 77), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(last.r.nhandles, 1);
	CU_ASSERT_EQUAL(last.claimed.handle, h);
	CU_ASSERT_STRING_EQUAL(last.claimed.path, "/ls/local/l");
	CU_ASSERT_EQUAL(last.claimed.lock_mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_EQUAL(last.claimed.flags, NS_O_WRITE | NS_O_CREATE);
	CU_ASSERT_FALSE(last.claimed.poisoned);
	CU_ASSERT_EQUAL(lock_gen_of("/ls/local/l"), gen);
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, s2, h, NULL));
	sb = dstart("bob");
	CU_ASSERT_EQUAL(popen_as("bob", sb, "/ls/local/l", NS_O_WRITE, 0, &hb), CHUBBY_OK);
	CU_ASSERT_EQUAL(try_lock("bob", sb, hb), CHUBBY_E_BUSY);
	CU_ASSERT_TRUE(ns_session_orphaned(ns, s1)); /* 78 is still unclaimed */
	{
		struct session_stats st;

		session_stats(sm, &st);
		CU_ASSERT_EQUAL(st.orphans, 1);
		CU_ASSERT_EQUAL(st.orphans_released, 0);
	}
	/* A new master: the window counts again from its take-over. */
	master = false;
	session_tick(sm, now);
	master = true;
	epoch_now = 2;
	session_tick(sm, now);
	for (i = 0; i < (CLAIM_WINDOW_MS - 2000) / 1000; i++) {
		struct svc_args a = {.session = s2, .epoch = epoch_now};

		advance(1000);
		/* Keep s2 alive (its KeepAlive answered at once: events
		 * pending, or held and answered later: either is fine). */
		if (i % 4 == 0)
			call_as("px2", SVC_KEEPALIVE, &a);
	}
	CU_ASSERT_TRUE(ns_session_orphaned(ns, s1));
	CU_ASSERT_TRUE(node_exists("/ls/local/e"));
	advance(3000);
	/* The window ended: 78's handles end as expired. */
	CU_ASSERT_FALSE(ns_session_orphaned(ns, s1));
	CU_ASSERT_PTR_NULL(ns_session_principal(ns, s1));
	CU_ASSERT_FALSE(node_exists("/ls/local/e"));
	CU_ASSERT_TRUE(ns_client_ended(ns, 78));
	CU_ASSERT_EQUAL(claim("px2", s2, 78), CHUBBY_E_SESSION_EXPIRED);
	{
		struct session_stats st;

		session_stats(sm, &st);
		CU_ASSERT_EQUAL(st.orphans, 0);
		CU_ASSERT_EQUAL(st.orphans_released, 1);
	}
	{
		struct ns_result res;

		ns_result_init(&res);
		CU_ASSERT_EQUAL(ns_path_stat(ns, "/ls/local/m", 0, &res), CHUBBY_OK);
		CU_ASSERT_EQUAL(res.stat.lock_mode, NS_LOCK_NONE);
		CU_ASSERT(res.stat.lock_delay_until_ms > 0);
		ns_result_free(&res);
	}
	/* The claimed one is alice's at px2 still. */
	CU_ASSERT_EQUAL(lock_gen_of("/ls/local/l"), gen);
	master = false;
	session_tick(sm, now);
	teardown();
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a copy of a write is answered from its record, not proposed again",
		test_copies_from_the_record},
	    {"refusals carry what their result says", test_refusals_say_more},
	    {"handles in memory: open, read and close write nothing to the log",
		test_memory_handles},
	    {"handles in memory count against max_handles", test_memory_handle_limit},
	    {"handles in memory: writes and locks through them", test_memory_handle_writes_and_locks},
	    {"a lock holder in memory counts once against max_handles",
		test_memory_handle_limit_holder},
	    {"handles in memory: an event mask, and the events", test_memory_handle_events},
	    {"KEEPALIVE passes ev_ack on", test_keepalive_ev_ack},
	    {"a lock record is cleared on release, unless lock_records is off", test_lock_records},
	    {"a release that clears a record invalidates its cachers first",
		test_record_release_invalidates},
	    {"a mirrored subtree is read-only but to the mirror", test_mirrored_subtree_is_read_only},
	    {"proxy sessions: who may start and use them, ACLs as the client",
		test_proxy_sessions},
	    {"CLIENT_END: a proxy's client's handles end", test_proxy_client_end},
	    {"the claim window: claim, release, a new master", test_proxy_claim_window},
	    {NULL, NULL},
	};

	harness_suite("svc", NULL, NULL, tests);
}
