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
#include "session/session.h"
#include "svc/svc.h"
#include "xmalloc.h"

#define FILE_PATH "/ls/local/f"

static struct cell_config *cfg;
static struct session_now now;
static struct ns *ns;
static bool master;
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
	struct svc_result r;
	struct ns_stat stat;
	char contents[64];
	char msg[256];
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
	    (evs = mp_map_get(&u.data, "events")) != NULL && evs->type == MSGPACK_OBJECT_ARRAY)
		last.nevents = evs->via.array.size;
	msgpack_unpacked_destroy(&u);
	free(q);
}

static bool
env_mastership(void *arg, uint64_t *epoch)
{
	(void)arg;
	*epoch = 1;
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
/* The read-only (mirrored) subtrees the next setup() gives the layer. */
static const char *const *readonly;
static size_t nreadonly;

/* Serves OP with A for "alice"; true if it was answered by the time the
 * call returned (within it, or through a kept token at once). */
static bool
call(enum svc_op op, const struct svc_args *a)
{
	struct req q = {.id = next_id++};

	svc_call(svc, now, &q, "alice", op, a);
	CU_ASSERT(q.answered || q.kept);
	return last.id == q.id;
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
	struct session_config sc = {.lease_ms = cfg->session_lease_ms, .cell = cfg->cell};
	struct session_env senv = {.submit = env_submit, .reply = sess_reply,
	    .mastership = env_mastership, .ns = env_ns, .sign = env_sign};
	struct svc_config vc = {.cell = cfg->cell,
	    .superuser = cfg->superuser, .max_contents = cfg->max_contents, .page_bytes = 4096,
	    .lock_records = records_on, .readonly = readonly, .nreadonly = nreadonly};
	struct svc_env venv = {.defer = svc_defer, .reply = svc_reply};

	now.mono_ms = 1000000;
	now.real_ms = 1700000000000ull;
	ns = ns_new(&nc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	master = true;
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
	CU_ASSERT_EQUAL(last.r.epoch, 1);
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
	teardown();
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a copy of a write is answered from its record, not proposed again",
		test_copies_from_the_record},
	    {"refusals carry what their result says", test_refusals_say_more},
	    {"KEEPALIVE passes ev_ack on", test_keepalive_ev_ack},
	    {"a lock record is cleared on release, unless lock_records is off", test_lock_records},
	    {"a release that clears a record invalidates its cachers first",
		test_record_release_invalidates},
	    {"a mirrored subtree is read-only but to the mirror", test_mirrored_subtree_is_read_only},
	    {NULL, NULL},
	};

	harness_suite("svc", NULL, NULL, tests);
}
