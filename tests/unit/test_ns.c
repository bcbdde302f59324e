/* test_ns.c: the namespace state machine: nodes, locks, sequencers, ACLs, events, snapshots. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "ns/ns.h"

#define ROOT "/ls/t"

static struct ns *ns;
static struct ns_result r;
static uint64_t now = 1000;

static struct ns *
mk(void)
{
	struct ns_config c;

	memset(&c, 0, sizeof c);
	c.cell = "t";
	c.superuser = "root";
	c.max_contents = 64;
	c.lock_delay_default_ms = 5000;
	c.lock_delay_max_ms = 20000;
	c.max_nodes = 200;
	c.max_sessions = 20;
	c.max_handles = 30;
	return ns_new(&c);
}

/* Every test starts from a fresh namespace (suites share no state). */
static void
fresh(void)
{
	ns_result_free(&r);
	ns_free(ns);
	ns = mk();
	now = 1000;
}

static int
teardown(void)
{
	ns_result_free(&r);
	ns_free(ns);
	ns = NULL;
	return 0;
}

/* Applies an encoded command (consumes BUF). */
static int
ap(int enc_rc, uint8_t *buf, size_t len)
{
	int rc;

	CU_ASSERT_EQUAL_FATAL(enc_rc, CHUBBY_OK);
	rc = ns_apply(ns, buf, len, &r);
	free(buf);
	return rc;
}

#define AP(call) (rc_ = (call), ap(rc_, b_, l_))
#define DECL uint8_t *b_ = NULL; size_t l_ = 0; int rc_ = 0; (void)rc_

static uint64_t
sess(const char *principal)
{
	DECL;

	CU_ASSERT_EQUAL_FATAL(AP(ns_encode_session_start(now, principal, &b_, &l_)), CHUBBY_OK);
	return r.session;
}

static int
end(uint64_t s, int reason)
{
	DECL;

	return AP(ns_encode_session_end(now, 0, s, reason, &b_, &l_));
}

/* Opens PATH; returns the handle, or 0 with the status in r.status. */
static uint64_t
opn(uint64_t s, const char *path, uint32_t flags, uint32_t mask)
{
	DECL;

	if (AP(ns_encode_open(now, s, path, flags, UINT64_MAX, mask, NULL, 0, NULL, &b_, &l_)) !=
	    CHUBBY_OK)
		return 0;
	return r.handle;
}

static uint64_t
opn_full(uint64_t s, const char *path, uint32_t flags, uint64_t delay, const char *contents,
    const char *const *acl)
{
	DECL;

	if (AP(ns_encode_open(now, s, path, flags, delay, 0, contents,
	    contents != NULL ? strlen(contents) : 0, acl, &b_, &l_)) != CHUBBY_OK)
		return 0;
	return r.handle;
}

static int
cls(uint64_t s, uint64_t h)
{
	DECL;

	return AP(ns_encode_close(now, s, h, &b_, &l_));
}

static int
put(uint64_t s, uint64_t h, const char *v)
{
	DECL;

	return AP(ns_encode_set_contents(now, s, h, v, strlen(v), false, 0, &b_, &l_));
}

static int
put_if(uint64_t s, uint64_t h, const char *v, uint64_t gen)
{
	DECL;

	return AP(ns_encode_set_contents(now, s, h, v, strlen(v), true, gen, &b_, &l_));
}

static int
del(uint64_t s, uint64_t h)
{
	DECL;

	return AP(ns_encode_delete(now, s, h, &b_, &l_));
}

static int
acq(uint64_t s, uint64_t h, int mode)
{
	DECL;

	return AP(ns_encode_acquire(now, s, h, mode, &b_, &l_));
}

static int
rel(uint64_t s, uint64_t h)
{
	DECL;

	return AP(ns_encode_release(now, s, h, &b_, &l_));
}

static int
setacl(uint64_t s, uint64_t h, const char *rd, const char *wr, const char *ch)
{
	const char *acl[3] = { rd, wr, ch };
	DECL;

	return AP(ns_encode_set_acl(now, s, h, acl, &b_, &l_));
}

static int
poison(uint64_t s, uint64_t h)
{
	DECL;

	return AP(ns_encode_poison(now, s, h, &b_, &l_));
}

/* Contents of the node under handle H as a string (static buffer). */
static const char *
cat(uint64_t s, uint64_t h)
{
	static char buf[256];
	struct ns_result q;

	ns_result_init(&q);
	if (ns_get_contents_and_stat(ns, s, h, &q) != CHUBBY_OK) {
		ns_result_free(&q);
		return NULL;
	}
	if (q.contents_len > 0) /* empty contents may come as NULL */
		memcpy(buf, q.contents, q.contents_len);
	buf[q.contents_len] = '\0';
	ns_result_free(&q);
	return buf;
}

static struct ns_stat
stat_of(uint64_t s, uint64_t h)
{
	struct ns_result q;
	struct ns_stat st;

	ns_result_init(&q);
	CU_ASSERT_EQUAL(ns_get_stat(ns, s, h, &q), CHUBBY_OK);
	st = q.stat;
	ns_result_free(&q);
	return st;
}

/* Number of events in r of TYPE for HANDLE. */
static size_t
nev(uint64_t handle, uint32_t type)
{
	size_t i, n = 0;

	for (i = 0; i < r.nevents; i++)
		if (r.events[i].handle == handle && r.events[i].type == type)
			n++;
	return n;
}

static int
exists(const char *path)
{
	return ns_check_access(ns, "root", path, NS_ACL_READ) == CHUBBY_OK;
}

#define RW (NS_O_READ | NS_O_WRITE)
#define CR (NS_O_READ | NS_O_WRITE | NS_O_CREATE)

/* --- nodes, contents, sessions, handles --- */

static void
test_create_open_close(void)
{
	uint64_t s = sess("alice"), h, h2;
	struct ns_stat st;

	CU_ASSERT_NOT_EQUAL(s, 0);
	CU_ASSERT_EQUAL(opn(s, ROOT "/f", RW, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_NOT_FOUND);
	h = opn(s, ROOT "/f", CR, 0);
	CU_ASSERT_NOT_EQUAL(h, 0);
	CU_ASSERT_TRUE(r.created);
	CU_ASSERT_EQUAL(put(s, h, "hello"), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "hello");
	h2 = opn(s, ROOT "/f", NS_O_READ, 0);
	CU_ASSERT_NOT_EQUAL(h2, 0);
	CU_ASSERT_FALSE(r.created);
	CU_ASSERT_NOT_EQUAL(h2, h);
	CU_ASSERT_STRING_EQUAL(cat(s, h2), "hello");
	st = stat_of(s, h2);
	CU_ASSERT_EQUAL(st.content_gen, 1);
	CU_ASSERT_EQUAL(st.length, 5);
	CU_ASSERT_EQUAL(st.checksum, ns_fnv1a(NS_FNV_INIT, "hello", 5));
	CU_ASSERT_FALSE(st.is_dir);
	CU_ASSERT_EQUAL(cls(s, h), CHUBBY_OK);
	CU_ASSERT_EQUAL(cls(s, h), CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_STRING_EQUAL(cat(s, h2), "hello");
	/* A read-only handle cannot write. */
	CU_ASSERT_EQUAL(put(s, h2, "x"), CHUBBY_E_PERMISSION);
	/* Exclusive create of an existing node. */
	CU_ASSERT_EQUAL(opn(s, ROOT "/f", CR | NS_O_EXCL, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_EXISTS);
}

static void
test_initial_contents_and_stamps(void)
{
	uint64_t s = sess("alice"), h;
	struct ns_stat st;

	now = 5000;
	h = opn_full(s, ROOT "/f", CR, UINT64_MAX, "init", NULL);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "init");
	st = stat_of(s, h);
	CU_ASSERT_EQUAL(st.content_gen, 0);
	CU_ASSERT_EQUAL(st.created_ms, 5000);
	now = 7000;
	CU_ASSERT_EQUAL(put(s, h, "x"), CHUBBY_OK);
	st = stat_of(s, h);
	CU_ASSERT_EQUAL(st.modified_ms, 7000);
	CU_ASSERT_EQUAL(st.created_ms, 5000);
	/* A stamp going back is clamped: time never runs backwards. */
	now = 6000;
	CU_ASSERT_EQUAL(put(s, h, "y"), CHUBBY_OK);
	CU_ASSERT_EQUAL(stat_of(s, h).modified_ms, 7000);
	CU_ASSERT_EQUAL(ns_last_stamp(ns), 7000);
}

static void
test_dirs_readdir(void)
{
	uint64_t s = sess("alice"), d, h;
	struct ns_result q;

	d = opn(s, ROOT "/d", CR | NS_O_DIR, 0);
	CU_ASSERT_NOT_EQUAL(d, 0);
	CU_ASSERT_TRUE(stat_of(s, d).is_dir);
	CU_ASSERT_NOT_EQUAL(opn(s, ROOT "/d/b", CR, 0), 0);
	CU_ASSERT_NOT_EQUAL(opn(s, ROOT "/d/a", CR | NS_O_DIR, 0), 0);
	CU_ASSERT_NOT_EQUAL(opn(s, ROOT "/d/a/deep", CR, 0), 0);
	CU_ASSERT_NOT_EQUAL(opn(s, ROOT "/d-x", CR, 0), 0);
	CU_ASSERT_NOT_EQUAL(opn(s, ROOT "/d/c", CR, 0), 0);
	ns_result_init(&q);
	CU_ASSERT_EQUAL(ns_readdir(ns, s, d, &q), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(q.nnames, 3);
	CU_ASSERT_STRING_EQUAL(q.names[0], "a");
	CU_ASSERT_STRING_EQUAL(q.names[1], "b");
	CU_ASSERT_STRING_EQUAL(q.names[2], "c");
	/* The root lists d and d-x. */
	h = opn(s, ROOT, NS_O_READ, 0);
	CU_ASSERT_EQUAL(ns_readdir(ns, s, h, &q), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(q.nnames, 2);
	CU_ASSERT_STRING_EQUAL(q.names[0], "d");
	CU_ASSERT_STRING_EQUAL(q.names[1], "d-x");
	/* Not a directory. */
	h = opn(s, ROOT "/d/b", NS_O_READ, 0);
	CU_ASSERT_EQUAL(ns_readdir(ns, s, h, &q), CHUBBY_E_NOT_DIR);
	/* A file is no parent. */
	CU_ASSERT_EQUAL(opn(s, ROOT "/d/b/x", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_NOT_DIR);
	CU_ASSERT_EQUAL(opn(s, ROOT "/nope/x", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_NOT_FOUND);
	/* Directories have no contents. */
	CU_ASSERT_EQUAL(put(s, d, "x"), CHUBBY_E_IS_DIR);
	CU_ASSERT_EQUAL(ns_get_contents_and_stat(ns, s, d, &q), CHUBBY_E_IS_DIR);
	ns_result_free(&q);
}

static void
test_delete(void)
{
	uint64_t s = sess("alice"), d, f, f2;

	d = opn(s, ROOT "/d", CR | NS_O_DIR, 0);
	f = opn(s, ROOT "/d/f", CR, 0);
	CU_ASSERT_EQUAL(del(s, d), CHUBBY_E_NOT_EMPTY);
	CU_ASSERT_TRUE(exists(ROOT "/d/f"));
	f2 = opn(s, ROOT "/d/f", NS_O_READ, 0);
	CU_ASSERT_EQUAL(del(s, f2), CHUBBY_E_PERMISSION); /* read-only handle */
	CU_ASSERT_EQUAL(del(s, f), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/d/f"));
	/* Handles on a deleted node are invalid but may be closed. */
	CU_ASSERT_EQUAL(put(s, f, "x"), CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_EQUAL(cat(s, f2), NULL);
	CU_ASSERT_EQUAL(cls(s, f2), CHUBBY_OK);
	CU_ASSERT_EQUAL(del(s, d), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/d"));
	/* The root stays. */
	d = opn(s, ROOT, RW, 0);
	CU_ASSERT_EQUAL(del(s, d), CHUBBY_E_PERMISSION);
}

static void
test_instance_numbers(void)
{
	uint64_t s = sess("alice"), h, h2;
	uint64_t i1, i2;

	h = opn(s, ROOT "/f", CR, 0);
	i1 = stat_of(s, h).instance;
	CU_ASSERT_EQUAL(del(s, h), CHUBBY_OK);
	h2 = opn(s, ROOT "/f", CR, 0);
	i2 = stat_of(s, h2).instance;
	CU_ASSERT_NOT_EQUAL(i1, i2);
	CU_ASSERT_TRUE(i2 > i1);
	/* The old handle does not see the new node. */
	CU_ASSERT_EQUAL(put(s, h, "x"), CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_EQUAL(stat_of(s, h2).content_gen, 0);
}

static void
test_contents_cap(void)
{
	char big[66];
	uint64_t s = sess("alice"), h;

	memset(big, 'x', 65);
	big[65] = '\0';
	h = opn(s, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(put(s, h, big), CHUBBY_E_TOO_LARGE);
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, 0);
	big[64] = '\0';
	CU_ASSERT_EQUAL(put(s, h, big), CHUBBY_OK);
	big[64] = 'x';
	CU_ASSERT_EQUAL(opn_full(s, ROOT "/g", CR, UINT64_MAX, big, NULL), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_TOO_LARGE);
	CU_ASSERT_FALSE(exists(ROOT "/g"));
}

static void
test_compare_and_set(void)
{
	uint64_t s = sess("alice"), h;

	h = opn(s, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(put_if(s, h, "a", 0), CHUBBY_OK);
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, 1);
	CU_ASSERT_EQUAL(put_if(s, h, "b", 0), CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "a");
	CU_ASSERT_EQUAL(put_if(s, h, "b", 1), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "b");
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, 2);
}

static void
test_bad_names(void)
{
	static const char *const bad[] = {
		"", "/", "/ls", "/ls/", "/ls/u/x", "/ls/tt", "/ls/t/", "/ls/t//a", "/ls/t/a/",
		"/ls/t/.", "/ls/t/..", "/ls/t/a/../b", "ls/t/a", "/ls/t/./a", NULL
	};
	char deep[400];
	uint64_t s = sess("alice");
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_EQUAL(opn(s, bad[i], CR, 0), 0);
		CU_ASSERT_EQUAL(r.status, CHUBBY_E_BAD_NAME);
		CU_ASSERT_NOT_EQUAL(r.msg[0], '\0');
	}
	/* Too deep: 33 components. */
	strcpy(deep, ROOT);
	for (i = 0; i < 33; i++)
		strcat(deep, "/a");
	CU_ASSERT_EQUAL(opn(s, deep, CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_BAD_NAME);
	CU_ASSERT_EQUAL(ns_node_count(ns), 1);
	/* A NUL inside a name. */
	{
		DECL;
		uint8_t *p;

		CU_ASSERT_EQUAL(ns_encode_open(now, s, ROOT "/abc", CR, UINT64_MAX, 0, NULL, 0,
		    NULL, &b_, &l_), CHUBBY_OK);
		p = memchr(b_, 'b', l_);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		*p = '\0';
		CU_ASSERT_EQUAL(ns_apply(ns, b_, l_, &r), CHUBBY_E_BAD_NAME);
		free(b_);
	}
}

static void
test_sessions(void)
{
	uint64_t s1 = sess("alice"), s2 = sess("bob"), h;
	DECL;

	CU_ASSERT_NOT_EQUAL(s1, s2);
	CU_ASSERT_EQUAL(ns_session_count(ns), 2);
	CU_ASSERT_STRING_EQUAL(ns_session_principal(ns, s2), "bob");
	/* Handles belong to their session. */
	h = opn(s1, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(put(s2, h, "x"), CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_EQUAL(cls(s2, h), CHUBBY_E_BAD_HANDLE);
	/* Unknown session. */
	CU_ASSERT_EQUAL(opn(999, ROOT "/g", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_BAD_SESSION);
	/* A session may end itself but not another. */
	CU_ASSERT_EQUAL(AP(ns_encode_session_end(now, s2, s1, NS_END_CLOSED, &b_, &l_)),
	    CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(AP(ns_encode_session_end(now, s1, s1, NS_END_CLOSED, &b_, &l_)),
	    CHUBBY_OK);
	CU_ASSERT_PTR_NULL(ns_session_principal(ns, s1));
	CU_ASSERT_EQUAL(end(s1, NS_END_CLOSED), CHUBBY_E_BAD_SESSION);
	CU_ASSERT_EQUAL(end(s2, 7), CHUBBY_E_INVALID);
	/* Bad principals. */
	CU_ASSERT_EQUAL(AP(ns_encode_session_start(now, "", &b_, &l_)), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(AP(ns_encode_session_start(now, "a\nb", &b_, &l_)), CHUBBY_E_INVALID);
}

static void
test_limits(void)
{
	uint64_t s = sess("alice");
	char path[64];
	int i, ok = 0;

	/* 30 handles per session. */
	for (i = 0; i < 31; i++)
		if (opn(s, ROOT, NS_O_READ, 0) != 0)
			ok++;
	CU_ASSERT_EQUAL(ok, 30);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_LIMIT);
	for (i = 0; i < 19; i++)
		sess("x");
	CU_ASSERT_EQUAL(ns_session_count(ns), 20);
	{
		DECL;

		CU_ASSERT_EQUAL(AP(ns_encode_session_start(now, "y", &b_, &l_)), CHUBBY_E_LIMIT);
	}
	/* 200 nodes: the root and 199 more, across sessions. */
	for (i = 0, ok = 0; i < 210; i++) {
		uint64_t h, s2 = ns_session_id(ns, 1 + (size_t)i / 25);

		snprintf(path, sizeof path, ROOT "/n%d", i);
		if ((h = opn(s2, path, CR, 0)) != 0) {
			ok++;
			cls(s2, h);
		}
	}
	CU_ASSERT_EQUAL(ok, 199);
	CU_ASSERT_EQUAL(ns_node_count(ns), 200);
}

/* --- locks, lock-delay, sequencers --- */

static void
test_exclusive_lock(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb;
	struct ns_stat st;

	ha = opn(a, ROOT "/l", CR, 0);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 1);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_SHARED), CHUBBY_E_BUSY);
	/* Re-acquiring what one holds is a no-op (the master may re-propose). */
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 1);
	st = stat_of(a, ha);
	CU_ASSERT_EQUAL(st.lock_mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_EQUAL(st.lock_holders, 1);
	CU_ASSERT_EQUAL(rel(b, hb), CHUBBY_E_NOT_HELD);
	/* Release frees at once. */
	CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 2);
	/* Close releases too. */
	CU_ASSERT_EQUAL(cls(b, hb), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 3);
	/* A read-only handle may not lock (Chubby §2.4). */
	hb = opn(b, ROOT "/l", NS_O_READ, 0);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_SHARED), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(acq(a, ha, 3), CHUBBY_E_INVALID);
}

static void
test_shared_locks(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), c = sess("carol"), ha, hb, hc;

	ha = opn(a, ROOT "/l", CR, 0);
	hb = opn(b, ROOT "/l", RW, 0);
	hc = opn(c, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_SHARED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_SHARED), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 1); /* joining sharers keep the generation */
	CU_ASSERT_EQUAL(stat_of(a, ha).lock_holders, 2);
	/* Exclusive blocked by shared. */
	CU_ASSERT_EQUAL(acq(c, hc, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(c, hc, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(rel(b, hb), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(c, hc, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 2);
	/* Shared blocked by exclusive. */
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_SHARED), CHUBBY_E_BUSY);
	/* A holder cannot switch mode without releasing. */
	CU_ASSERT_EQUAL(acq(c, hc, NS_LOCK_SHARED), CHUBBY_E_BUSY);
}

static void
test_lock_delay_expired(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb;

	ha = opn_full(a, ROOT "/l", CR, 3000, NULL, NULL);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	now = 10000;
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(r.delay_until_ms, 13000);
	now = 12999;
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_SHARED), CHUBBY_E_LOCK_DELAY);
	now = 13000;
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 2);
}

static void
test_lock_delay_default_and_cap(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb, ha2;

	/* Default 5 s from the config. */
	ha = opn(a, ROOT "/l", CR, 0);
	/* Asking for 10 min gets the cap, 20 s. */
	ha2 = opn_full(a, ROOT "/m", CR, 600000, NULL, NULL);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(a, ha2, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	now = 2000;
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(r.delay_until_ms, 7000);
	hb = opn(b, ROOT "/m", RW, 0);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(r.delay_until_ms, 22000);
}

static void
test_lock_delay_cap_60s(void)
{
	struct ns_config c;
	struct ns *n2;
	struct ns_result q;
	uint8_t *b;
	size_t l;
	uint64_t h;

	memset(&c, 0, sizeof c);
	c.cell = "t";
	c.lock_delay_max_ms = 3600000; /* asks for an hour: gets a minute */
	n2 = ns_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(n2);
	ns_result_init(&q);
	ns_encode_session_start(1, "a", &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_session_start(1, "b", &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_open(1, 1, ROOT "/l", CR, 3600000, 0, NULL, 0, NULL, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	h = q.handle;
	ns_encode_acquire(1, 1, h, NS_LOCK_EXCLUSIVE, &b, &l);
	CU_ASSERT_EQUAL(ns_apply(n2, b, l, &q), CHUBBY_OK);
	free(b);
	ns_encode_session_end(100, 0, 1, NS_END_EXPIRED, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_open(100, 2, ROOT "/l", RW, UINT64_MAX, 0, NULL, 0, NULL, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	h = q.handle;
	ns_encode_acquire(100, 2, h, NS_LOCK_EXCLUSIVE, &b, &l);
	CU_ASSERT_EQUAL(ns_apply(n2, b, l, &q), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(q.delay_until_ms, 60100);
	free(b);
	ns_result_free(&q);
	ns_free(n2);
}

/* A config that says lock_delay = 0 means no lock-delay, not "the default". */
static void
test_lock_delay_zero_from_config(void)
{
	struct ns_config c;
	struct ns *n2;
	struct ns_result q;
	uint8_t *b;
	size_t l;
	uint64_t h;

	memset(&c, 0, sizeof c);
	c.cell = "t";
	c.lock_delay_given = true; /* default 0, cap 0 */
	n2 = ns_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(n2);
	ns_result_init(&q);
	ns_encode_session_start(1, "a", &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_session_start(1, "b", &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_open(1, 1, ROOT "/l", CR, UINT64_MAX, 0, NULL, 0, NULL, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	h = q.handle;
	ns_encode_acquire(1, 1, h, NS_LOCK_EXCLUSIVE, &b, &l);
	CU_ASSERT_EQUAL(ns_apply(n2, b, l, &q), CHUBBY_OK);
	free(b);
	ns_encode_session_end(100, 0, 1, NS_END_EXPIRED, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	ns_encode_open(100, 2, ROOT "/l", RW, UINT64_MAX, 0, NULL, 0, NULL, &b, &l);
	ns_apply(n2, b, l, &q);
	free(b);
	h = q.handle;
	ns_encode_acquire(100, 2, h, NS_LOCK_EXCLUSIVE, &b, &l);
	CU_ASSERT_EQUAL(ns_apply(n2, b, l, &q), CHUBBY_OK);
	free(b);
	ns_result_free(&q);
	ns_free(n2);
}

static void
test_session_closed_frees_at_once(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb;

	ha = opn(a, ROOT "/l", CR, 0);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(end(a, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
}

/* --- lock records (docs/NAMESPACE.md "Lock records") --- */

/* A leader's record: written under the exclusive lock H holds, cleared by
 * the cell when that lock is freed. */
static int
put_record(uint64_t s, uint64_t h, const char *v)
{
	DECL;

	return AP(ns_encode_set_contents_flags(now, s, h, v, strlen(v), false, 0,
	    NS_SC_LOCK_RECORD, &b_, &l_));
}

/* The generation the CONTENTS_MODIFIED event of handle H in r names, or 0. */
static uint64_t
ev_gen(uint64_t h)
{
	for (size_t i = 0; i < r.nevents; i++)
		if (r.events[i].handle == h && r.events[i].type == NS_EV_CONTENTS_MODIFIED &&
		    r.events[i].has_gen)
			return r.events[i].gen;
	return 0;
}

/* HOW: 0 RELEASE, 1 CLOSE, 2 SESSION_END closed, 3 SESSION_END expired.
 * The leader a writes its record into /svc/leader under the lock; b
 * watches the file and its directory.  Freeing a's lock empties the file:
 * a write like any other (generation, modified stamp, events). */
static void
record_cleared_by(int how)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb, hd;
	struct ns_stat st;

	(void)opn(a, ROOT "/svc", CR | NS_O_DIR, 0);
	ha = opn(a, ROOT "/svc/leader", CR, 0);
	hb = opn(b, ROOT "/svc/leader", NS_O_READ, NS_EV_CONTENTS_MODIFIED);
	hd = opn(b, ROOT "/svc", NS_O_READ, NS_EV_CHILD_MODIFIED);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(a, ha, "alice\nlock_generation 1\n"), CHUBBY_OK);
	CU_ASSERT_EQUAL(ev_gen(hb), 1);
	CU_ASSERT_TRUE(ns_handle_frees_record(ns, a, ha));
	CU_ASSERT_FALSE(ns_handle_frees_record(ns, b, hb)); /* holds no lock */
	CU_ASSERT_FALSE(ns_handle_frees_record(ns, b, ha)); /* not b's handle */
	now += 10;
	switch (how) {
	case 0:
		CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
		break;
	case 1:
		CU_ASSERT_EQUAL(cls(a, ha), CHUBBY_OK);
		break;
	default:
		CU_ASSERT_EQUAL(end(a, how == 2 ? NS_END_CLOSED : NS_END_EXPIRED), CHUBBY_OK);
		break;
	}
	CU_ASSERT_STRING_EQUAL(cat(b, hb), "");
	st = stat_of(b, hb);
	CU_ASSERT_EQUAL(st.content_gen, 2);
	CU_ASSERT_EQUAL(st.length, 0);
	CU_ASSERT_EQUAL(st.checksum, ns_fnv1a(NS_FNV_INIT, "", 0));
	CU_ASSERT_EQUAL(st.modified_ms, now);
	CU_ASSERT_EQUAL(st.lock_mode, NS_LOCK_NONE);
	CU_ASSERT_EQUAL(ev_gen(hb), 2);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_MODIFIED), 1);
	if (how == 0) {
		/* The mark went with the record: the next holder's lock frees
		 * nothing it did not write. */
		CU_ASSERT_FALSE(ns_handle_frees_record(ns, a, ha));
		CU_ASSERT_EQUAL(put(a, ha, "plain"), CHUBBY_OK);
		CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
		CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
		CU_ASSERT_STRING_EQUAL(cat(b, hb), "plain");
	}
}

static void
test_record_cleared_on_release(void)
{
	record_cleared_by(0);
}

static void
test_record_cleared_on_close(void)
{
	record_cleared_by(1);
}

static void
test_record_cleared_on_session_end(void)
{
	record_cleared_by(2);
	fresh();
	record_cleared_by(3);
}

/* Only the record written under the lock being freed is cleared: a plain
 * write since (by anyone) takes its place and stays; a record needs the
 * exclusive lock; shared locks never clear anything. */
static void
test_record_rules(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb, ha2;
	struct ns_stat st;

	ha = opn(a, ROOT "/l", CR, 0);
	hb = opn(b, ROOT "/l", RW, 0);
	/* Without the lock, or with it shared: refused, nothing changes. */
	CU_ASSERT_EQUAL(put_record(a, ha, "a"), CHUBBY_E_NOT_HELD);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_SHARED), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(a, ha, "a"), CHUBBY_E_NOT_HELD);
	CU_ASSERT_EQUAL(stat_of(a, ha).content_gen, 0);
	CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
	/* Another handle than the holder's, even of the same session. */
	ha2 = opn(a, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(a, ha2, "a"), CHUBBY_E_NOT_HELD);
	/* A plain write after the record, by someone else: kept. */
	CU_ASSERT_EQUAL(put_record(a, ha, "a"), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(b, hb, "b's"), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_handle_frees_record(ns, a, ha));
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(b, hb), "b's");
	st = stat_of(b, hb);
	CU_ASSERT_EQUAL(st.content_gen, 2);
	/* A record of a lock generation that is over clears nothing later. */
	now += 60000; /* past the lock-delay */
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(b, hb, "b"), CHUBBY_OK);
	CU_ASSERT_EQUAL(rel(b, hb), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(b, hb), "");
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(b, hb, "plain"), CHUBBY_OK);
	CU_ASSERT_EQUAL(rel(b, hb), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(b, hb), "plain");
	/* Deleting the node while its record is held ends both. */
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(b, hb, "b"), CHUBBY_OK);
	CU_ASSERT_EQUAL(del(b, hb), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_handle_frees_record(ns, b, hb));
	CU_ASSERT_EQUAL(cls(b, hb), CHUBBY_OK);
}

/* The flag is a fourth field only when set: a plain write encodes as it
 * always did; a fourth field of 0 or unknown bits is refused. */
static void
test_record_encoding(void)
{
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	uint64_t a = sess("alice"), h;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	CU_ASSERT_EQUAL(ns_encode_set_contents(5, 1, 2, "x", 1, false, 0, &b1, &l1), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_encode_set_contents_flags(5, 1, 2, "x", 1, false, 0, 0, &b2, &l2),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(l1, l2);
	CU_ASSERT_EQUAL(memcmp(b1, b2, l1), 0);
	free(b1);
	free(b2);
	CU_ASSERT_EQUAL(ns_encode_set_contents_flags(5, 1, 2, "x", 1, false, 0, 0x80, &b1, &l1),
	    CHUBBY_E_INVALID);
	h = opn(a, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(acq(a, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	for (uint64_t flags = 0; flags <= 2; flags += 2) {
		uint64_t d = ns_digest(ns);

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 7);
		msgpack_pack_uint64(&pk, NS_CMD_SET_CONTENTS);
		msgpack_pack_uint64(&pk, now);
		msgpack_pack_uint64(&pk, a);
		msgpack_pack_uint64(&pk, h);
		msgpack_pack_bin(&pk, 1);
		msgpack_pack_bin_body(&pk, "x", 1);
		msgpack_pack_nil(&pk);
		msgpack_pack_uint64(&pk, flags);
		CU_ASSERT_NOT_EQUAL(ns_apply(ns, (const uint8_t *)sb.data, sb.size, &r), CHUBBY_OK);
		CU_ASSERT_EQUAL(ns_digest(ns), d);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* The mark is replicated state: in the snapshot (a thirteenth node element,
 * only while there is a record), so a replica restored from one clears the
 * record as the others do. */
static void
test_record_snapshot(void)
{
	struct ns *n2 = mk();
	struct ns_result r2;
	uint64_t a = sess("alice"), h, d0;
	uint8_t *snap, *snap0, *cmd;
	size_t sl, sl0, cl;
	char err[256];

	h = opn(a, ROOT "/l", CR, 0);
	CU_ASSERT_EQUAL(acq(a, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(a, h, "rec"), CHUBBY_OK);
	d0 = ns_digest(ns);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap0, &sl0), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_record(a, h, "rec"), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	/* Same contents, one more generation, and the mark. */
	CU_ASSERT_NOT_EQUAL(ns_digest(ns), d0);
	CU_ASSERT(sl > sl0);
	if (ns_restore(n2, snap, sl, err, sizeof err) != CHUBBY_OK)
		{ fprintf(stderr, "restore: %s\n", err); CU_FAIL_FATAL("restore refused"); }
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	CU_ASSERT_TRUE(ns_handle_frees_record(n2, a, h));
	ns_result_init(&r2);
	CU_ASSERT_EQUAL(ns_encode_release(now, a, h, &cmd, &cl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_apply(ns, cmd, cl, &r), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_apply(n2, cmd, cl, &r2), CHUBBY_OK);
	free(cmd);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	CU_ASSERT_STRING_EQUAL(cat(a, h), "");
	/* Cleared, the mark is gone from the snapshot: twelve elements again. */
	free(snap);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_handle_frees_record(n2, a, h));
	ns_result_free(&r2);
	free(snap);
	free(snap0);
	ns_free(n2);
}

static void
test_sequencers(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb, hf;
	struct ns_result q;
	struct ns_sequencer seq;
	DECL;

	ns_result_init(&q);
	ha = opn(a, ROOT "/l", CR, 0);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL(ns_get_sequencer(ns, a, ha, &q), CHUBBY_E_NOT_HELD);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_get_sequencer(ns, a, ha, &q), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(q.seq.path, ROOT "/l");
	CU_ASSERT_EQUAL(q.seq.mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_EQUAL(q.seq.lock_gen, 1);
	seq = q.seq;
	seq.path = strdup(q.seq.path);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, seq.mode, seq.lock_gen, seq.instance),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, NS_LOCK_SHARED, seq.lock_gen,
	    seq.instance), CHUBBY_E_STALE_SEQUENCER);
	/* A server's handle bound to the sequencer (SetSequencer). */
	hf = opn(b, ROOT "/data", CR, 0);
	CU_ASSERT_EQUAL(AP(ns_encode_set_sequencer(now, b, hf, &seq, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(b, hf, "v1"), CHUBBY_OK);
	/* Release: stale everywhere. */
	CU_ASSERT_EQUAL(rel(a, ha), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, seq.mode, seq.lock_gen, seq.instance),
	    CHUBBY_E_STALE_SEQUENCER);
	CU_ASSERT_EQUAL(put(b, hf, "v2"), CHUBBY_E_STALE_SEQUENCER);
	CU_ASSERT_EQUAL(AP(ns_encode_set_sequencer(now, b, hf, &seq, &b_, &l_)),
	    CHUBBY_E_STALE_SEQUENCER);
	/* Re-acquire by another: a new generation; the old one stays stale. */
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, 2);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, seq.mode, seq.lock_gen, seq.instance),
	    CHUBBY_E_STALE_SEQUENCER);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, seq.mode, 2, seq.instance), CHUBBY_OK);
	/* Clearing the sequencer lets the handle work again. */
	CU_ASSERT_EQUAL(AP(ns_encode_set_sequencer(now, b, hf, NULL, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(b, hf, "v3"), CHUBBY_OK);
	/* A re-created node has a new instance: old sequencers stay stale. */
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, seq.path, seq.mode, 2, seq.instance + 1),
	    CHUBBY_E_STALE_SEQUENCER);
	CU_ASSERT_EQUAL(ns_check_sequencer(ns, ROOT "/none", 2, 2, 1), CHUBBY_E_STALE_SEQUENCER);
	free(seq.path);
	ns_result_free(&q);
}

static void
test_lock_generation_increments(void)
{
	uint64_t a = sess("alice"), h;
	uint64_t i;

	h = opn(a, ROOT "/l", CR, 0);
	for (i = 1; i <= 5; i++) {
		CU_ASSERT_EQUAL(acq(a, h, i % 2 ? NS_LOCK_EXCLUSIVE : NS_LOCK_SHARED), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.lock_gen, i);
		CU_ASSERT_EQUAL(rel(a, h), CHUBBY_OK);
		CU_ASSERT_EQUAL(stat_of(a, h).lock_gen, i);
	}
}

/* --- ephemeral nodes --- */

static void
test_ephemeral_file(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb;

	ha = opn(a, ROOT "/e", CR | NS_O_EPHEMERAL, 0);
	CU_ASSERT_TRUE(stat_of(a, ha).ephemeral);
	hb = opn(b, ROOT "/e", NS_O_READ, 0);
	/* A's session ends; B still has it open: it stays. */
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_TRUE(exists(ROOT "/e"));
	/* B closes the last handle: gone. */
	CU_ASSERT_EQUAL(cls(b, hb), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/e"));
	/* A permanent file stays when its openers go. */
	ha = opn(b, ROOT "/p", CR, 0);
	CU_ASSERT_EQUAL(end(b, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_TRUE(exists(ROOT "/p"));
}

static void
test_ephemeral_dir(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), hd, hf, hp;

	hd = opn(a, ROOT "/ed", CR | NS_O_DIR | NS_O_EPHEMERAL, 0);
	hf = opn(a, ROOT "/ed/f", CR | NS_O_EPHEMERAL, 0);
	hp = opn(b, ROOT "/ed/p", CR, 0);
	(void)hf;
	CU_ASSERT_EQUAL(cls(a, hd), CHUBBY_OK);
	CU_ASSERT_TRUE(exists(ROOT "/ed")); /* not empty */
	CU_ASSERT_EQUAL(end(a, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/ed/f"));
	CU_ASSERT_TRUE(exists(ROOT "/ed")); /* p is permanent */
	CU_ASSERT_EQUAL(del(b, hp), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/ed")); /* now empty and unopened */
}

/* --- ACLs --- */

/* Writes the ACL file NAME listing BODY, as the superuser. */
static void
mkacl(uint64_t su, const char *name, const char *body)
{
	char path[128];
	uint64_t h;

	if (!exists(ROOT "/acl"))
		cls(su, opn(su, ROOT "/acl", CR | NS_O_DIR, 0));
	snprintf(path, sizeof path, ROOT "/acl/%s", name);
	h = opn(su, path, CR, 0);
	CU_ASSERT_EQUAL(put(su, h, body), CHUBBY_OK);
	cls(su, h);
}

static int
init_acls(uint64_t issuer, const char *rd, const char *wr, const char *ch, const char *admins)
{
	const char *acl[3] = { rd, wr, ch };
	uint8_t *b = NULL;
	size_t l = 0;
	int rc;

	CU_ASSERT_EQUAL_FATAL(ns_encode_init_acls(now, acl, admins, &b, &l), CHUBBY_OK);
	if (issuer != 0) { /* another issuer: [13, stamp (now: 0xcd 2 bytes), issuer, ...] */
		CU_ASSERT_EQUAL_FATAL(b[2], 0xcd);
		CU_ASSERT_EQUAL_FATAL(b[5], 0x00);
		b[5] = (uint8_t)issuer;
	}
	rc = ns_apply(ns, b, l, &r);
	free(b);
	return rc;
}

/* INIT_ACLS: a new cell's protected ACL directory and root ACLs (issue 18). */
static void
test_acl_init(void)
{
	uint64_t su, alice, bob, h, d;
	struct ns_stat st;
	uint8_t *snap = NULL;
	size_t sl = 0;
	char err[256], msg[256];
	struct ns *n2 = mk();

	CU_ASSERT_TRUE(ns_is_new(ns));
	su = sess("root");
	alice = sess("alice");
	bob = sess("bob");
	CU_ASSERT_TRUE(ns_is_new(ns)); /* sessions make no node */
	/* Only the master (issuer 0) may. */
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(init_acls(su, "", "", "", "alice\n"), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(init_acls(0, "readers", "writers", NS_ACL_ADMINS, "alice\n"), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_is_new(ns));
	h = opn(su, ROOT, NS_O_READ, 0);
	st = stat_of(su, h);
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_READ], "readers");
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_WRITE], "writers");
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_CHANGE], NS_ACL_ADMINS);
	CU_ASSERT_EQUAL(st.acl_gen, 1);
	h = opn(su, ROOT "/acl", NS_O_READ, 0);
	st = stat_of(su, h);
	CU_ASSERT_TRUE(st.is_dir);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_STRING_EQUAL(st.acl[i], NS_ACL_ADMINS);
	h = opn(su, ROOT "/acl/" NS_ACL_ADMINS, NS_O_READ, 0);
	CU_ASSERT_STRING_EQUAL(cat(su, h), "alice\n");
	st = stat_of(su, h);
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_WRITE], NS_ACL_ADMINS); /* inherited */
	CU_ASSERT_TRUE(exists(ROOT "/acl/readers"));
	CU_ASSERT_TRUE(exists(ROOT "/acl/writers"));
	/* The ACL files: an administrator may write and re-ACL them, nobody else. */
	CU_ASSERT_NOT_EQUAL(h = opn(alice, ROOT "/acl/readers", NS_O_READ | NS_O_WRITE, 0), 0);
	CU_ASSERT_EQUAL(put(alice, h, "bob\n"), CHUBBY_OK);
	CU_ASSERT_EQUAL(setacl(alice, h, NULL, NULL, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(opn(bob, ROOT "/acl/readers", NS_O_WRITE, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(opn(bob, ROOT "/acl/mine", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	/* bob may read the root now (readers lists him), not write it. */
	CU_ASSERT_NOT_EQUAL(opn(bob, ROOT, NS_O_READ, 0), 0);
	CU_ASSERT_EQUAL(opn(bob, ROOT "/x", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	/* A second copy (a fail-over in between) changes nothing. */
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(init_acls(0, "", "", "", ""), CHUBBY_E_EXISTS);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* Names an OPEN or SET_ACL may give: "" or a file that exists. */
	CU_ASSERT_EQUAL(ns_acl_file_check(ns, "", msg, sizeof msg), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_acl_file_check(ns, "readers", msg, sizeof msg), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_acl_file_check(ns, "nosuch", msg, sizeof msg), CHUBBY_E_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, ROOT "/acl/nosuch"));
	CU_ASSERT_EQUAL(ns_acl_file_check(ns, "a/b", msg, sizeof msg), CHUBBY_E_BAD_NAME);
	/* The state is ordinary nodes: it snapshots and restores. */
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	CU_ASSERT_FALSE(ns_is_new(n2));
	free(snap);
	ns_free(n2);
}

/* An existing cell (a node was ever made) keeps its ACLs: INIT_ACLS is
 * refused and changes nothing, and so are bad names. */
static void
test_acl_init_existing(void)
{
	uint64_t su = sess("root"), d;

	CU_ASSERT_EQUAL(init_acls(0, "a/b", "", "", ""), CHUBBY_E_BAD_NAME);
	CU_ASSERT_TRUE(ns_is_new(ns));
	cls(su, opn(su, ROOT "/x", CR, 0));
	CU_ASSERT_EQUAL(del(su, opn(su, ROOT "/x", CR, 0)), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_is_new(ns)); /* made and deleted: not new */
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(init_acls(0, "r", "w", "c", "alice\n"), CHUBBY_E_EXISTS);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_FALSE(exists(ROOT "/acl"));
}

static void
test_acl_superuser_and_denial(void)
{
	const char *const locked[3] = { "readers", "writers", "admins" };
	uint64_t su = sess("root"), a = sess("alice"), m = sess("mallory"), h, hm, ha;
	uint64_t d0;

	mkacl(su, "readers", "alice\nmallory\n");
	mkacl(su, "writers", "# writers\n  alice \r\n\n");
	mkacl(su, "admins", "carol");
	h = opn_full(su, ROOT "/f", CR, UINT64_MAX, "secret", locked);
	CU_ASSERT_NOT_EQUAL(h, 0);
	/* The superuser passes every ACL, even one naming nobody it knows. */
	CU_ASSERT_EQUAL(setacl(su, h, NULL, NULL, "nosuchacl"), CHUBBY_OK);
	CU_ASSERT_EQUAL(setacl(su, h, NULL, NULL, "admins"), CHUBBY_OK);
	/* mallory may read, not write. */
	hm = opn(m, ROOT "/f", NS_O_READ, 0);
	CU_ASSERT_NOT_EQUAL(hm, 0);
	CU_ASSERT_STRING_EQUAL(cat(m, hm), "secret");
	d0 = ns_digest(ns);
	CU_ASSERT_EQUAL(opn(m, ROOT "/f", RW, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(setacl(m, hm, "", "", ""), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_digest(ns), d0); /* denied: nothing changed */
	/* alice may write (her line has blanks and a CR around it). */
	ha = opn(a, ROOT "/f", RW, 0);
	CU_ASSERT_NOT_EQUAL(ha, 0);
	CU_ASSERT_EQUAL(put(a, ha, "new"), CHUBBY_OK);
	CU_ASSERT_EQUAL(setacl(a, ha, "", "", ""), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_check_access(ns, "carol", ROOT "/f", NS_ACL_CHANGE), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_check_access(ns, "carol", ROOT "/f", NS_ACL_READ), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_check_access(ns, "#", ROOT "/f", NS_ACL_WRITE), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_check_access(ns, "root", ROOT "/f", NS_ACL_CHANGE), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_check_access(ns, "root", ROOT "/zz", NS_ACL_CHANGE), CHUBBY_E_NOT_FOUND);
	/* A missing ACL file admits nobody but the superuser. */
	CU_ASSERT_EQUAL(setacl(su, h, "gone", NULL, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_check_access(ns, "alice", ROOT "/f", NS_ACL_READ), CHUBBY_E_PERMISSION);
	/* Bad ACL names. */
	CU_ASSERT_EQUAL(setacl(su, h, "a/b", NULL, NULL), CHUBBY_E_BAD_NAME);
	CU_ASSERT_EQUAL(setacl(su, h, "..", NULL, NULL), CHUBBY_E_BAD_NAME);
	CU_ASSERT_EQUAL(stat_of(su, h).acl_gen, 3);
}

static void
test_acl_inheritance_and_create(void)
{
	const char *const dacl[3] = { "", "writers", "writers" };
	uint64_t su = sess("root"), a = sess("alice"), m = sess("mallory"), d, h;
	struct ns_stat st;

	mkacl(su, "writers", "alice\n");
	d = opn_full(su, ROOT "/d", CR | NS_O_DIR, UINT64_MAX, NULL, dacl);
	CU_ASSERT_NOT_EQUAL(d, 0);
	/* Creating needs write permission on the parent. */
	CU_ASSERT_EQUAL(opn(m, ROOT "/d/x", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_FALSE(exists(ROOT "/d/x"));
	h = opn(a, ROOT "/d/x", CR, 0);
	CU_ASSERT_NOT_EQUAL(h, 0);
	st = stat_of(a, h);
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_READ], "");
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_WRITE], "writers");
	CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_CHANGE], "writers");
	/* Names given one by one: a NULL one inherits that one of the parent's
	 * (not "open to all"). */
	{
		const char *const only_read[3] = { "readers", NULL, NULL };
		uint64_t hy;
		mkacl(su, "readers", "alice\n");
		hy = opn_full(su, ROOT "/d/z", CR, UINT64_MAX, NULL, only_read);
		CU_ASSERT_NOT_EQUAL_FATAL(hy, 0);
		st = stat_of(su, hy);
		CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_READ], "readers");
		CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_WRITE], "writers");
		CU_ASSERT_STRING_EQUAL(st.acl[NS_ACL_CHANGE], "writers");
		CU_ASSERT_EQUAL(opn(m, ROOT "/d/z", NS_O_WRITE, 0), 0);
		CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	}
	/* mallory can read (empty ACL: everyone) but not write. */
	CU_ASSERT_NOT_EQUAL(opn(m, ROOT "/d/x", NS_O_READ, 0), 0);
	CU_ASSERT_EQUAL(opn(m, ROOT "/d/x", NS_O_WRITE, 0), 0);
	/* A creator whose intents the new node's own ACLs deny gets nothing. */
	{
		const char *const only_su[3] = { "nobody", "", "" };

		CU_ASSERT_EQUAL(opn_full(a, ROOT "/d/y", CR, UINT64_MAX, NULL, only_su), 0);
		CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
		CU_ASSERT_FALSE(exists(ROOT "/d/y"));
	}
}

/* --- poison, events --- */

static void
test_poison(void)
{
	uint64_t a = sess("alice"), h, h2;

	h = opn(a, ROOT "/f", CR, NS_EV_CONTENTS_MODIFIED);
	h2 = opn(a, ROOT "/f", RW, NS_EV_CONTENTS_MODIFIED);
	CU_ASSERT_EQUAL(acq(a, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(poison(a, h), CHUBBY_OK);
	CU_ASSERT_EQUAL(put(a, h, "x"), CHUBBY_E_CANCELLED);
	CU_ASSERT_EQUAL(cat(a, h), NULL);
	CU_ASSERT_EQUAL(rel(a, h), CHUBBY_E_CANCELLED);
	/* Poisoned handles get no events. */
	CU_ASSERT_EQUAL(put(a, h2, "y"), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(h, NS_EV_CONTENTS_MODIFIED), 0);
	CU_ASSERT_EQUAL(nev(h2, NS_EV_CONTENTS_MODIFIED), 1);
	/* Closing still works, and frees the lock. */
	CU_ASSERT_EQUAL(cls(a, h), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(a, h2, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
}

/* CONTENTS_MODIFIED (and the directory's CHILD_MODIFIED) names the content
 * generation the write made, to every watcher; no other event carries one. */
static void
test_event_generation(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), hd, hf, hx;

	hd = opn(a, ROOT "/d", CR | NS_O_DIR, NS_EV_CHILD_ADDED | NS_EV_CHILD_MODIFIED);
	hf = opn(a, ROOT "/d/f", CR, NS_EV_CONTENTS_MODIFIED);
	CU_ASSERT_EQUAL(r.nevents, 1);
	CU_ASSERT_FALSE(r.events[0].has_gen); /* CHILD_ADDED */
	hx = opn(b, ROOT "/d/f", RW, NS_EV_CONTENTS_MODIFIED);
	for (uint64_t gen = 1; gen <= 3; gen++) {
		CU_ASSERT_EQUAL(put(b, hx, "v"), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.nevents, 3);
		for (size_t i = 0; i < r.nevents; i++) {
			const struct ns_event *e = &r.events[i];
			if (e->type == NS_EV_CONTENTS_MODIFIED) {
				CU_ASSERT(e->handle == hf || e->handle == hx);
				CU_ASSERT_TRUE(e->has_gen);
				CU_ASSERT_EQUAL(e->gen, gen);
			} else {
				/* The directory's CHILD_MODIFIED names it too. */
				CU_ASSERT_EQUAL(e->type, NS_EV_CHILD_MODIFIED);
				CU_ASSERT_EQUAL(e->handle, hd);
				CU_ASSERT_TRUE(e->has_gen);
				CU_ASSERT_EQUAL(e->gen, gen);
			}
		}
		CU_ASSERT_EQUAL(r.stat.content_gen, gen);
	}
	/* An ACL change is a CHILD_MODIFIED without a generation. */
	CU_ASSERT_EQUAL(setacl(a, hf, "", NULL, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_MODIFIED), 1);
	CU_ASSERT_FALSE(r.events[0].has_gen);
	/* A compare-and-set that loses makes no event. */
	CU_ASSERT_EQUAL(put_if(a, hf, "w", 1), CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_EQUAL(r.nevents, 0);
	CU_ASSERT_EQUAL(put_if(a, hf, "w", 3), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hx, NS_EV_CONTENTS_MODIFIED), 1);
	for (size_t i = 0; i < r.nevents; i++)
		if (r.events[i].type == NS_EV_CONTENTS_MODIFIED)
			CU_ASSERT_EQUAL(r.events[i].gen, 4);
}

static void
test_events(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), hd, hf, hq, hx, hb;

	/* Events about contents and children need the read intent; lock
	 * events only the write intent. */
	CU_ASSERT_EQUAL(opn(b, ROOT, NS_O_WRITE, NS_EV_CHILD_ADDED), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(opn(b, ROOT, NS_O_WRITE, NS_EV_CONTENTS_MODIFIED), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_PERMISSION);
	CU_ASSERT_NOT_EQUAL(opn(b, ROOT, NS_O_WRITE, NS_EV_LOCK_ACQUIRED | NS_EV_CONFLICTING_LOCK),
	    0);
	hd = opn(a, ROOT "/d", CR | NS_O_DIR,
	    NS_EV_CHILD_ADDED | NS_EV_CHILD_REMOVED | NS_EV_CHILD_MODIFIED);
	hq = opn(b, ROOT "/d", NS_O_READ, 0); /* asks for nothing */
	hf = opn(a, ROOT "/d/f", CR, NS_EV_ALL);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_ADDED), 1);
	CU_ASSERT_EQUAL(r.nevents, 1);
	CU_ASSERT_EQUAL(r.events[0].session, a);
	CU_ASSERT_STRING_EQUAL(r.events[0].path, ROOT "/d/f");
	/* Opening an existing node adds nothing. */
	hx = opn(b, ROOT "/d/f", RW, NS_EV_CONTENTS_MODIFIED | NS_EV_LOCK_ACQUIRED |
	    NS_EV_HANDLE_INVALID);
	CU_ASSERT_EQUAL(r.nevents, 0);
	CU_ASSERT_EQUAL(put(a, hf, "x"), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hf, NS_EV_CONTENTS_MODIFIED), 1);
	CU_ASSERT_EQUAL(nev(hx, NS_EV_CONTENTS_MODIFIED), 1);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_MODIFIED), 1);
	CU_ASSERT_EQUAL(r.nevents, 3);
	CU_ASSERT_EQUAL(setacl(a, hf, "", NULL, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_MODIFIED), 1);
	CU_ASSERT_EQUAL(r.nevents, 1);
	/* Lock acquired to handles on the node; conflict to the holder. */
	CU_ASSERT_EQUAL(acq(b, hx, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hf, NS_EV_LOCK_ACQUIRED), 1);
	CU_ASSERT_EQUAL(nev(hx, NS_EV_LOCK_ACQUIRED), 1);
	CU_ASSERT_EQUAL(acq(a, hf, NS_LOCK_SHARED), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(r.nevents, 0); /* hx did not ask for conflicts */
	CU_ASSERT_EQUAL(rel(b, hx), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(a, hf, NS_LOCK_SHARED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hx, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(nev(hf, NS_EV_CONFLICTING_LOCK), 1);
	CU_ASSERT_EQUAL(r.nevents, 1);
	/* Delete: handle invalid to the node's handles, child removed to the parent's. */
	CU_ASSERT_EQUAL(del(a, hf), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hf, NS_EV_HANDLE_INVALID), 1);
	CU_ASSERT_EQUAL(nev(hx, NS_EV_HANDLE_INVALID), 1);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_REMOVED), 1);
	CU_ASSERT_EQUAL(nev(hq, NS_EV_CHILD_REMOVED), 0);
	CU_ASSERT_EQUAL(r.nevents, 3);
	/* Ephemeral removal at session end tells the parent. */
	hb = opn(b, ROOT "/d/e", CR | NS_O_EPHEMERAL, 0);
	(void)hb;
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_ADDED), 1);
	CU_ASSERT_EQUAL(end(b, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_REMOVED), 1);
	CU_ASSERT_EQUAL(r.nevents, 1);
	/* Bad event bits. */
	CU_ASSERT_EQUAL(opn(a, ROOT "/d", NS_O_READ, 0x100), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_INVALID);
}

/* --- malformed commands --- */

static void
test_malformed_commands(void)
{
	static const uint8_t junk[][8] = {
		{ 0xc0 }, { 0x90 }, { 0x93, 1, 1 }, { 0x93, 0x63, 1, 0 }, { 0x94, 4, 1, 1, 0xa1 },
		{ 0xdd, 0xff, 0xff, 0xff, 0xff }, { 0x94, 1, 1, 0, 5 }, { 0x95, 2, 1, 0, 1, 0xc3 },
	};
	uint64_t s = sess("alice"), h, d0;
	uint8_t *b, buf[600];
	size_t l, i, cut;

	h = opn(s, ROOT "/f", CR, 0);
	(void)h;
	d0 = ns_digest(ns);
	CU_ASSERT_NOT_EQUAL(ns_apply(ns, NULL, 0, &r), CHUBBY_OK);
	for (i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		CU_ASSERT_NOT_EQUAL(ns_apply(ns, junk[i], sizeof junk[i], &r), CHUBBY_OK);
		CU_ASSERT_NOT_EQUAL(r.msg[0], '\0');
	}
	/* Every truncation of a good command, and trailing bytes. */
	ns_encode_open(now, s, ROOT "/g", CR, 100, 0, "abc", 3, NULL, &b, &l);
	for (cut = 0; cut < l; cut++)
		CU_ASSERT_NOT_EQUAL(ns_apply(ns, b, cut, &r), CHUBBY_OK);
	memcpy(buf, b, l);
	buf[l] = 0xc0;
	CU_ASSERT_EQUAL(ns_apply(ns, buf, l + 1, &r), CHUBBY_E_MALFORMED);
	free(b);
	CU_ASSERT_EQUAL(ns_digest(ns), d0);
}

/* --- determinism, snapshots --- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* (session, handle) pairs recent OPENs returned, for commands to aim at. */
static uint64_t known[64][2];
static size_t nknown;
static uint64_t ksess[32]; /* live sessions, as the commands' results told */
static size_t nksess;
static uint64_t cur_s;     /* the session random_cmd used (SESSION_END: the one ended) */
static uint64_t cur_h;
static int cur_type;

static void
learn(const struct ns_result *res)
{
	size_t i, j;

	if (res->status != CHUBBY_OK)
		return;
	if (cur_type == NS_CMD_OPEN && nknown < 64) {
		known[nknown][0] = cur_s;
		known[nknown][1] = res->handle;
		nknown++;
	} else if (cur_type == NS_CMD_OPEN)
		known[rng() % 64][0] = cur_s, known[rng_state % 64][1] = res->handle;
	if (cur_type == NS_CMD_SESSION_START && nksess < 32)
		ksess[nksess++] = res->session;
	if (cur_type == NS_CMD_CLOSE) {
		for (i = j = 0; i < nknown; i++)
			if (known[i][0] != cur_s || known[i][1] != cur_h) {
				known[j][0] = known[i][0];
				known[j++][1] = known[i][1];
			}
		nknown = j;
	}
	if (cur_type == NS_CMD_SESSION_END) {
		for (i = j = 0; i < nksess; i++)
			if (ksess[i] != cur_s)
				ksess[j++] = ksess[i];
		nksess = j;
		for (i = j = 0; i < nknown; i++)
			if (known[i][0] != cur_s) {
				known[j][0] = known[i][0];
				known[j++][1] = known[i][1];
			}
		nknown = j;
	}
}

static void wrap(uint64_t s, uint64_t rid, uint64_t floor, uint8_t *in, size_t inlen,
    uint8_t **out, size_t *outlen);

/* A random command over a small name space: sessions 1..8, handles mostly ones that exist. */
static void
random_cmd(uint64_t t, uint8_t **b, size_t *l)
{
	static const char *const names[] = {
		ROOT "/a", ROOT "/b", ROOT "/a/x", ROOT "/a/y", ROOT "/b/z", ROOT "/acl",
		ROOT "/acl/w", ROOT "/a/x/q", ROOT "/c",
	};
	static const char *const who[] = { "root", "alice", "bob", "w" };
	const char *acl[3] = { NULL, NULL, NULL };
	uint64_t s = nksess > 0 && rng() % 8 ? ksess[rng() % nksess] : 1 + rng() % 30;
	uint64_t h = 1 + rng() % 200;
	char v[8];
	struct ns_sequencer seq;

	if (nknown > 0 && rng() % 5 != 0) {
		size_t k = (size_t)(rng() % nknown);

		s = known[k][0];
		h = known[k][1];
	}
	cur_s = s;
	cur_h = h;

	switch (rng() % 13) {
	case 0:
		ns_encode_session_start(t, who[rng() % 4], b, l);
		break;
	case 1:
		if (rng() % 3 != 0) {
			ns_encode_session_start(t, who[rng() % 4], b, l);
			break;
		}
		ns_encode_session_end(t, rng() % 2 ? 0 : s, s, 1 + (int)(rng() % 2), b, l);
		break;
	case 2:
	case 3:
	case 4:
		if (rng() % 4 == 0) {
			acl[0] = rng() % 2 ? "" : "w";
			acl[1] = rng() % 2 ? "" : "w";
			acl[2] = "";
		}
		ns_encode_open(t, s, names[rng() % 9],
		    (uint32_t)(rng() % 64) | (rng() % 4 ? NS_O_CREATE : 0),
		    rng() % 2 ? UINT64_MAX : rng() % 30000, (uint32_t)(rng() % 256), NULL, 0,
		    acl[0] != NULL ? acl : NULL, b, l);
		break;
	case 5:
		ns_encode_close(t, s, h, b, l);
		break;
	case 6:
		snprintf(v, sizeof v, "%s", who[rng() % 4]);
		{
			bool cas = rng() % 3 == 0;
			uint64_t gen = rng() % 3;
			/* Some are lock records (cleared when the lock goes). */
			uint32_t fl = rng() % 3 == 0 ? NS_SC_LOCK_RECORD : 0;

			ns_encode_set_contents_flags(t, s, h, v, strlen(v), cas, gen, fl, b, l);
		}
		break;
	case 7:
		acl[rng() % 3] = rng() % 2 ? "" : "w";
		ns_encode_set_acl(t, s, h, acl, b, l);
		break;
	case 8:
		ns_encode_delete(t, s, h, b, l);
		break;
	case 9:
	case 10:
		ns_encode_acquire(t, s, h, 1 + (int)(rng() % 2), b, l);
		break;
	case 11:
		ns_encode_release(t, s, h, b, l);
		break;
	default:
		if (rng() % 4 == 0) {
			ns_encode_poison(t, s, h, b, l);
			break;
		}
		seq.path = (char *)(uintptr_t)names[rng() % 9];
		seq.mode = 1 + (int)(rng() % 2);
		seq.lock_gen = rng() % 3;
		seq.instance = rng() % 10;
		ns_encode_set_sequencer(t, s, h, rng() % 3 ? &seq : NULL, b, l);
		break;
	}
	/* A fifth as requests with ids, close enough that copies recur. */
	if (rng() % 5 == 0) {
		static uint64_t next_rid;
		uint64_t back = rng() % 4, rid = ++next_rid > back ? next_rid - back : 1;

		wrap(rng() % 16 ? s : 1 + rng() % 30, rid, rid > 8 && rng() % 2 ? rid - 8 : 1, *b,
		    *l, b, l);
	}
}

/* How many kinds of refusal (status codes 1..99) HIST counted. */
static int
refusal_kinds(const int hist[100])
{
	int k = 0;

	for (int i = 1; i < 100; i++)
		k += hist[i] > 0;
	return k;
}

static void
test_determinism_random(void)
{
	struct ns *n2 = mk(), *n3 = mk();
	struct ns_result r2;
	uint8_t *b, *snap;
	size_t l, sl;
	uint64_t t = 0, d;
	static const char *const who4[] = { "root", "alice", "bob", "w" };
	int i, rc, ok = 0, fails = 0, hist[100] = { 0 };
	char err[256];

	rng_state = harness_seed() | 1;
	nknown = 0;
	ns_result_init(&r2);
	nksess = 0;
	for (i = 0; i < 4; i++)
		ksess[nksess++] = 1 + (uint64_t)i;
	for (i = 0; i < 4; i++) {
		ns_encode_session_start(0, who4[i], &b, &l);
		ns_apply(ns, b, l, &r);
		ns_apply(n2, b, l, &r2);
		free(b);
	}
	/* 4000 commands, and past them (up to 12000) until more than 300
	 * succeeded and a dozen kinds of refusal were seen: about one seed
	 * in 75 draws a run whose tree stays small, with fewer successes or
	 * kinds of refusal in its first 4000. */
	for (i = 0; i < 4000 || (i < 12000 && (ok <= 300 || refusal_kinds(hist) < 12)); i++) {
		t += rng() % 700;
		random_cmd(t, &b, &l);
		d = ns_digest(ns);
		rc = ns_apply(ns, b, l, &r);
		CU_ASSERT_EQUAL(ns_apply(n2, b, l, &r2), rc);
		CU_ASSERT_EQUAL(r.nevents, r2.nevents);
		/* fixarray, then the type as a fixint; a request's inner command
		 * follows its 43-byte header (wrap). */
		cur_type = b[1] == NS_CMD_REQ ? b[44] : b[1];
		learn(&r);
		if (getenv("NS_TRACE") != NULL)
			fprintf(stderr, "\n%d: type %u s=%llu rc=%d %s", i, b[1],
			    (unsigned long long)cur_s, rc, r.msg);
		free(b);
		if (rc >= 0 && rc < 100)
			hist[rc]++;
		if (rc == CHUBBY_OK)
			ok++;
		else if (ns_digest(ns) != d)
			fails++; /* a refused command changed something */
		if (ns_digest(ns) != ns_digest(n2)) {
			CU_FAIL("digests differ");
			break;
		}
		/* Every so often: snapshot into a third replica and compare. */
		if (i % 200 == 199) {
			ns_snapshot(ns, &snap, &sl);
			CU_ASSERT_EQUAL(ns_restore(n3, snap, sl, err, sizeof err), CHUBBY_OK);
			CU_ASSERT_EQUAL(ns_digest(n3), ns_digest(ns));
			free(snap);
		}
	}
	CU_ASSERT_EQUAL(fails, 0);
	fprintf(stderr, " [%d of %d commands succeeded, %zu nodes at the end] ", ok, i,
	    ns_node_count(ns));
	CU_ASSERT_TRUE(refusal_kinds(hist) >= 12); /* many different refusals were exercised */
	CU_ASSERT_TRUE(ok > 300); /* the generator is not degenerate (requests with ids
				   * below their floor are refused) */
	ns_result_free(&r2);
	ns_free(n2);
	ns_free(n3);
}

static void rich_state(void);
static int put_if_req(uint64_t s, uint64_t h, const char *v, uint64_t gen, uint64_t rid,
    uint64_t floor);
static int ap_req(uint64_t s, uint64_t rid, uint64_t floor, int enc_rc, uint8_t *in,
    size_t inlen);
#define REQ(s, rid, floor, call) (rc_ = (call), ap_req((s), (rid), (floor), rc_, b_, l_))

/* Damaged commands (random bytes, bit flips, cuts of good ones) never
 * crash, and when refused change nothing. */
static void
test_damaged_commands(void)
{
	uint8_t *b, buf[512];
	size_t l, i, j, n;
	uint64_t d;
	int rc, changed = 0;

	rich_state();
	rng_state = harness_seed() | 1;
	nknown = nksess = 0;
	for (i = 0; i < 3000; i++) {
		random_cmd(now + i, &b, &l);
		n = l < sizeof buf ? l : sizeof buf;
		memcpy(buf, b, n);
		free(b);
		switch (i % 3) {
		case 0:
			buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1:
			n = rng() % n;
			break;
		default:
			n = 1 + rng() % sizeof buf;
			for (j = 0; j < n; j++)
				buf[j] = (uint8_t)rng();
			break;
		}
		d = ns_digest(ns);
		rc = ns_apply(ns, buf, n, &r);
		if (rc != CHUBBY_OK && ns_digest(ns) != d)
			changed++;
	}
	CU_ASSERT_EQUAL(changed, 0);
}

/* Builds a state with a bit of everything in it. */
static void
rich_state(void)
{
	uint64_t su = sess("root"), a = sess("alice"), b = sess("bob"), h, hb;
	DECL;

	mkacl(su, "w", "alice\n");
	h = opn(a, ROOT "/l", CR, NS_EV_ALL);
	hb = opn(b, ROOT "/l", RW, NS_EV_CONFLICTING_LOCK);
	acq(a, h, NS_LOCK_SHARED);
	acq(b, hb, NS_LOCK_SHARED);
	put(a, h, "contents");
	/* Request records, with and without a stat, in a session that stays. */
	CU_ASSERT_EQUAL(put_if_req(b, hb, "b", 1, 7, 5), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(b, 8, 5, ns_encode_poison(now, b, opn(b, ROOT "/l", RW, 0), &b_, &l_)),
	    CHUBBY_OK);
	opn(a, ROOT "/d", CR | NS_O_DIR | NS_O_EPHEMERAL, 0);
	opn(b, ROOT "/d/e", CR | NS_O_EPHEMERAL, 0);
	h = opn(b, ROOT "/gone", CR, 0);
	del(b, h);
	h = opn(b, ROOT "/s", CR, 0);
	{
		struct ns_sequencer seq = { (char *)(uintptr_t)(ROOT "/l"), NS_LOCK_SHARED, 1,
			stat_of(b, hb).instance };

		CU_ASSERT_EQUAL(AP(ns_encode_set_sequencer(now, b, h, &seq, &b_, &l_)), CHUBBY_OK);
	}
	poison(b, opn(b, ROOT "/s", NS_O_READ, 0));
	h = opn(a, ROOT "/dl", CR, 0);
	acq(a, h, NS_LOCK_EXCLUSIVE);
	sess("carol");
	now = 4000;
	end(a, NS_END_EXPIRED);
}

static void
test_snapshot_restore(void)
{
	struct ns *n2 = mk();
	struct ns_result r2;
	uint8_t *snap, *snap2, *b;
	size_t sl, sl2, l;
	char err[256];
	int i, rc;

	rich_state();
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_NOT_EQUAL(ns_digest(ns), ns_digest(n2));
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	CU_ASSERT_EQUAL(ns_node_count(n2), ns_node_count(ns));
	CU_ASSERT_EQUAL(ns_last_stamp(n2), ns_last_stamp(ns));
	ns_snapshot(n2, &snap2, &sl2);
	CU_ASSERT_EQUAL(sl, sl2);
	CU_ASSERT_EQUAL(memcmp(snap, snap2, sl), 0);
	free(snap2);
	/* The same commands then behave the same on both. */
	rng_state = harness_seed() | 1;
	ns_result_init(&r2);
	for (i = 0; i < 500; i++) {
		random_cmd(now + (uint64_t)i * 50, &b, &l);
		rc = ns_apply(ns, b, l, &r);
		CU_ASSERT_EQUAL(ns_apply(n2, b, l, &r2), rc);
		free(b);
		CU_ASSERT_EQUAL(ns_digest(ns), ns_digest(n2));
	}
	ns_result_free(&r2);
	ns_free(n2);
	free(snap);
}

static void
test_restore_garbage(void)
{
	struct ns *n2 = mk();
	uint8_t *snap, *junk;
	size_t sl, cut, i, j;
	uint64_t d2;
	char err[256];

	rich_state();
	ns_snapshot(ns, &snap, &sl);
	d2 = ns_digest(n2);
	/* Every truncation is refused and leaves the target as it was. */
	for (cut = 0; cut < sl; cut++)
		CU_ASSERT_EQUAL(ns_restore(n2, snap, cut, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_EQUAL(ns_digest(n2), d2);
	CU_ASSERT_NOT_EQUAL(err[0], '\0');
	/* Random bytes, and random single-byte damage to a real snapshot. */
	rng_state = harness_seed() | 1;
	junk = malloc(sl);
	for (i = 0; i < 2000; i++) {
		size_t n = 1 + rng() % sl;

		for (j = 0; j < n; j++)
			junk[j] = (uint8_t)rng();
		if (i % 2 == 0)
			junk[0] = 0x99;
		CU_ASSERT_NOT_EQUAL(ns_restore(n2, junk, n, err, sizeof err), CHUBBY_OK);
		memcpy(junk, snap, sl);
		junk[rng() % sl] = (uint8_t)rng();
		if (ns_restore(n2, junk, sl, err, sizeof err) == CHUBBY_OK) {
			/* Damage that still makes sense must give a consistent state. */
			uint8_t *again;
			size_t al;

			ns_snapshot(n2, &again, &al);
			CU_ASSERT_EQUAL(ns_restore(n2, again, al, err, sizeof err), CHUBBY_OK);
			free(again);
		}
	}
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	free(junk);
	free(snap);
	ns_free(n2);
}

/* Handles and locks are replicated: a new master (restored from a
 * snapshot) serves the same session and handle ids. */
static void
test_handles_survive_failover(void)
{
	struct ns *old;
	uint64_t a = sess("alice"), b = sess("bob"), ha, hb;
	uint8_t *snap;
	size_t sl;
	char err[128];

	ha = opn(a, ROOT "/f", CR, NS_EV_CONTENTS_MODIFIED);
	hb = opn(b, ROOT "/f", RW, NS_EV_CONTENTS_MODIFIED);
	CU_ASSERT_EQUAL(acq(a, ha, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	ns_snapshot(ns, &snap, &sl);
	old = ns;
	ns = mk();
	CU_ASSERT_EQUAL(ns_restore(ns, snap, sl, err, sizeof err), CHUBBY_OK);
	free(snap);
	ns_free(old);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	CU_ASSERT_EQUAL(put(a, ha, "after"), CHUBBY_OK);
	CU_ASSERT_EQUAL(nev(hb, NS_EV_CONTENTS_MODIFIED), 1);
	CU_ASSERT_STRING_EQUAL(cat(b, hb), "after");
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
}

/* A snapshot of another cell's namespace is refused. */
static void
test_restore_other_cell(void)
{
	struct ns_config c;
	struct ns *other;
	uint8_t *snap;
	size_t sl;
	char err[128];

	memset(&c, 0, sizeof c);
	c.cell = "u";
	other = ns_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	ns_snapshot(other, &snap, &sl);
	CU_ASSERT_EQUAL(ns_restore(ns, snap, sl, err, sizeof err), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "snapshot refused"));
	free(snap);
	ns_free(other);
}

/* An ending session's own handles get no events; others do. */
static void
test_session_end_events(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), hd, hb;

	hd = opn(a, ROOT "/d", CR | NS_O_DIR, NS_EV_CHILD_REMOVED);
	hb = opn(b, ROOT "/d", NS_O_READ, NS_EV_CHILD_REMOVED);
	opn(a, ROOT "/d/e", CR | NS_O_EPHEMERAL, 0);
	CU_ASSERT_EQUAL(end(a, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/d/e"));
	CU_ASSERT_EQUAL(nev(hd, NS_EV_CHILD_REMOVED), 0);
	CU_ASSERT_EQUAL(nev(hb, NS_EV_CHILD_REMOVED), 1);
	CU_ASSERT_EQUAL(r.nevents, 1);
}

static void
test_encode_args(void)
{
	uint8_t *b;
	size_t l;
	const char *acl[3] = { "a", NULL, "" };

	CU_ASSERT_EQUAL(ns_encode_session_start(1, NULL, &b, &l), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_encode_open(1, 1, NULL, 0, 0, 0, NULL, 0, NULL, &b, &l),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_encode_open(1, 1, ROOT, 0, 0, 0, NULL, 3, NULL, &b, &l),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_encode_set_acl(1, 1, 1, NULL, &b, &l), CHUBBY_E_INVALID);
	/* An OPEN's ACL names are all three or none: NULL packs "". */
	CU_ASSERT_EQUAL(ns_encode_open(1, 1, ROOT "/x", CR, 0, 0, NULL, 0, acl, &b, &l),
	    CHUBBY_OK);
	free(b);
}

static void
test_config(void)
{
	struct ns_config c;

	memset(&c, 0, sizeof c);
	CU_ASSERT_PTR_NULL(ns_new(&c));
	c.cell = "a/b";
	CU_ASSERT_PTR_NULL(ns_new(&c));
	c.cell = "..";
	CU_ASSERT_PTR_NULL(ns_new(&c));
	c.cell = "ok";
	c.acl_dir = "/ls/other/acl";
	CU_ASSERT_PTR_NULL(ns_new(&c));
	c.acl_dir = "/ls/ok/acl";
	ns_free(ns_new(&c));
}

/* Each test runs on a fresh namespace. */
/* --- request ids: exactly-once writes (docs/NAMESPACE.md "Request ids") --- */

/* Records kept per session (docs/NAMESPACE.md): the oldest goes beyond. */
#define REQ_CAP 1024

/* msgpack by hand, so that these tests state the encoding they expect. */
static size_t
mp_u64(uint8_t *p, uint64_t v)
{
	int i;

	p[0] = 0xcf;
	for (i = 0; i < 8; i++)
		p[1 + i] = (uint8_t)(v >> (56 - 8 * i));
	return 9;
}

/*
 * Wraps command IN (consumed) as [12, stamp, session, rid, rid_floor,
 * bin inner]: SESSION's request RID; every rid below FLOOR was answered.
 */
static void
wrap(uint64_t s, uint64_t rid, uint64_t floor, uint8_t *in, size_t inlen, uint8_t **out,
    size_t *outlen)
{
	uint8_t *p = malloc(1 + 1 + 9 * 4 + 5 + inlen);
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p[n++] = 0x96;
	p[n++] = 12;
	n += mp_u64(p + n, now);
	n += mp_u64(p + n, s);
	n += mp_u64(p + n, rid);
	n += mp_u64(p + n, floor);
	p[n++] = 0xc6;
	p[n++] = (uint8_t)(inlen >> 24);
	p[n++] = (uint8_t)(inlen >> 16);
	p[n++] = (uint8_t)(inlen >> 8);
	p[n++] = (uint8_t)inlen;
	memcpy(p + n, in, inlen);
	n += inlen;
	free(in);
	*out = p;
	*outlen = n;
}

/* Applies command IN (consumed) as SESSION's request RID with FLOOR. */
static int
ap_req(uint64_t s, uint64_t rid, uint64_t floor, int enc_rc, uint8_t *in, size_t inlen)
{
	uint8_t *w;
	size_t wl;

	CU_ASSERT_EQUAL_FATAL(enc_rc, CHUBBY_OK);
	wrap(s, rid, floor, in, inlen, &w, &wl);
	return ap(CHUBBY_OK, w, wl);
}

static int
put_if_req(uint64_t s, uint64_t h, const char *v, uint64_t gen, uint64_t rid, uint64_t floor)
{
	DECL;

	return REQ(s, rid, floor, ns_encode_set_contents(now, s, h, v, strlen(v), true, gen, &b_,
	    &l_));
}

static void
test_req_duplicate_returns_first_outcome(void)
{
	uint64_t s = sess("alice"), h, hx, d;
	struct ns_stat st;
	uint64_t gen;
	DECL;

	h = opn(s, ROOT "/f", CR, 0);
	/* A compare-and-set that succeeded, re-sent (after a fail-over, say):
	 * the first outcome, nothing applied twice. */
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 1, 1), CHUBBY_OK);
	st = r.stat;
	CU_ASSERT_EQUAL(st.content_gen, 1);
	d = ns_digest(ns);
	now += 100; /* a retry at a new master has a later stamp */
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, 1);
	CU_ASSERT_EQUAL(r.stat.modified_ms, st.modified_ms);
	CU_ASSERT_EQUAL(r.stat.checksum, st.checksum);
	CU_ASSERT_EQUAL(r.stat.instance, st.instance);
	CU_ASSERT_EQUAL(r.nevents, 0);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, 1);

	/* OPEN CREATE|EXCL: the same handle, created, not E_EXISTS. */
	CU_ASSERT_EQUAL(REQ(s, 2, 1, ns_encode_open(now, s, ROOT "/x", CR | NS_O_EXCL, UINT64_MAX,
	    0, NULL, 0, NULL, &b_, &l_)), CHUBBY_OK);
	hx = r.handle;
	CU_ASSERT_TRUE(r.created);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(REQ(s, 2, 1, ns_encode_open(now, s, ROOT "/x", CR | NS_O_EXCL, UINT64_MAX,
	    0, NULL, 0, NULL, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.handle, hx);
	CU_ASSERT_TRUE(r.created);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(ns_session_handles(ns, s, NULL, 0), 2);

	/* ACQUIRE then RELEASE, each re-sent: the grant, then OK (not
	 * E_NOT_HELD); a later grant is not released by the old RELEASE. */
	CU_ASSERT_EQUAL(REQ(s, 3, 1, ns_encode_acquire(now, s, hx, NS_LOCK_EXCLUSIVE, &b_, &l_)),
	    CHUBBY_OK);
	gen = r.lock_gen;
	CU_ASSERT_EQUAL(REQ(s, 4, 1, ns_encode_release(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(s, 5, 1, ns_encode_acquire(now, s, hx, NS_LOCK_EXCLUSIVE, &b_, &l_)),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, gen + 1);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(REQ(s, 4, 1, ns_encode_release(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(stat_of(s, hx).lock_mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_EQUAL(REQ(s, 3, 1, ns_encode_acquire(now, s, hx, NS_LOCK_EXCLUSIVE, &b_, &l_)),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(r.lock_gen, gen);

	/* DELETE and CLOSE re-sent: OK, not E_BAD_HANDLE. */
	CU_ASSERT_EQUAL(REQ(s, 6, 1, ns_encode_release(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(s, 7, 1, ns_encode_delete(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(s, 7, 1, ns_encode_delete(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(s, 8, 1, ns_encode_close(now, s, hx, &b_, &l_)), CHUBBY_OK);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(REQ(s, 8, 1, ns_encode_close(now, s, hx, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(ns), d);

	/* Without a rid nothing changes: a re-sent compare-and-set is a new one. */
	CU_ASSERT_EQUAL(put_if(s, h, "b", 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_if(s, h, "b", 1), CHUBBY_E_GEN_MISMATCH);
}

static void
test_req_failed_not_recorded(void)
{
	uint64_t s = sess("alice"), h, d;

	h = opn(s, ROOT "/f", CR, 0);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 7, 1, 1), CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* A refused write changed nothing: its retry is a first attempt. */
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, 1);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "a");
}

static void
test_req_floor_forgets(void)
{
	uint64_t s = sess("alice"), h, d;

	h = opn(s, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_if_req(s, h, "b", 1, 2, 1), CHUBBY_OK);
	/* The client has its answers to 1 and 2: the floor moves past them. */
	CU_ASSERT_EQUAL(put_if_req(s, h, "c", 2, 3, 3), CHUBBY_OK);
	d = ns_digest(ns);
	/* A late copy of request 1 is refused, never applied again. */
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 1, 1), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_STRING_EQUAL(cat(s, h), "c");
	/* 3 is still known. */
	CU_ASSERT_EQUAL(put_if_req(s, h, "c", 2, 3, 3), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, 3);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* Forgetting is itself replicated state. */
	{
		struct ns *n2 = mk();
		uint64_t s2, h2;

		ns_free(ns);
		ns = n2;
		s2 = sess("alice");
		h2 = opn(s2, ROOT "/f", CR, 0);
		CU_ASSERT_EQUAL(put_if_req(s2, h2, "a", 0, 1, 1), CHUBBY_OK);
		CU_ASSERT_EQUAL(put_if_req(s2, h2, "b", 1, 2, 1), CHUBBY_OK);
		CU_ASSERT_EQUAL(put_if_req(s2, h2, "c", 2, 3, 1), CHUBBY_OK);
		CU_ASSERT_NOT_EQUAL(ns_digest(ns), d);
	}
	/* Nonsense ids are refused. */
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(put_if_req(1, 2, "x", 3, 0, 0), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(put_if_req(1, 2, "x", 3, 9, 10), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
}

static void
test_req_cap(void)
{
	uint64_t s = sess("alice"), h, i, d;
	DECL;

	h = opn(s, ROOT "/f", CR, 0);
	/* A client that never moves its floor: the oldest record goes, and
	 * its rid is refused from then on rather than applied again. */
	for (i = 1; i <= REQ_CAP + 1; i++)
		CU_ASSERT_EQUAL_FATAL(put_if_req(s, h, "v", i - 1, i, 1), CHUBBY_OK);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(put_if_req(s, h, "v", 0, 1, 1), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(put_if_req(s, h, "v", 1, 2, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, 2);
	CU_ASSERT_EQUAL(put_if_req(s, h, "v", REQ_CAP, REQ_CAP + 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, REQ_CAP + 1);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(stat_of(s, h).content_gen, REQ_CAP + 1);
	/* A second session has records of its own. */
	{
		uint64_t s2 = sess("bob"), h2 = opn(s2, ROOT "/f", CR, 0);

		CU_ASSERT_EQUAL(REQ(s2, 2, 1, ns_encode_set_contents(now, s2, h2, "w", 1, false, 0,
		    &b_, &l_)), CHUBBY_OK);
		CU_ASSERT_EQUAL(put_if_req(s, h, "v", 1, 2, 1), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.stat.content_gen, 2);
	}
}

static void
test_req_snapshot_keeps_records(void)
{
	struct ns *n2 = mk(), *n3;
	uint64_t s = sess("alice"), h, d;
	uint8_t *snap;
	size_t sl;
	char err[256];

	h = opn(s, ROOT "/f", CR, 0);
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 5, 3), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	free(snap);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	/* On the restored state (a new master's) the retry is answered too. */
	n3 = ns;
	ns = n2;
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 5, 3), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, 1);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	CU_ASSERT_EQUAL(put_if_req(s, h, "a", 0, 2, 2), CHUBBY_E_INVALID); /* below the floor */
	ns = n3;
	ns_free(n2);
	/* The records are in the digest: without them the state differs. */
	{
		struct ns *plain = mk();
		struct ns *keep = ns;

		ns = plain;
		s = sess("alice");
		h = opn(s, ROOT "/f", CR, 0);
		CU_ASSERT_EQUAL(put_if(s, h, "a", 0), CHUBBY_OK);
		CU_ASSERT_NOT_EQUAL(ns_digest(plain), ns_digest(keep));
		ns = keep;
		ns_free(plain);
	}
}

static void
test_req_refused_shapes(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), h, d;
	uint8_t *w;
	size_t wl;
	DECL;

	h = opn(a, ROOT "/f", CR, 0);
	d = ns_digest(ns);
	/* The inner command must be the wrapper's session's. */
	CU_ASSERT_EQUAL(REQ(b, 1, 1, ns_encode_set_contents(now, a, h, "x", 1, false, 0, &b_, &l_)),
	    CHUBBY_E_INVALID);
	/* SESSION_START has no session to record it under. */
	CU_ASSERT_EQUAL(REQ(a, 1, 1, ns_encode_session_start(now, "alice", &b_, &l_)),
	    CHUBBY_E_INVALID);
	/* No wrapper in a wrapper. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_close(now, a, h, &b_, &l_), CHUBBY_OK);
	wrap(a, 1, 1, b_, l_, &w, &wl);
	CU_ASSERT_EQUAL(REQ(a, 2, 1, (b_ = w, l_ = wl, CHUBBY_OK)), CHUBBY_E_INVALID);
	/* No such session. */
	CU_ASSERT_EQUAL(put_if_req(99, h, "x", 0, 1, 1), CHUBBY_E_BAD_SESSION);
	/* Garbage inside. */
	b_ = malloc(1);
	b_[0] = 0xc1;
	CU_ASSERT_EQUAL(ap_req(a, 1, 1, CHUBBY_OK, b_, 1), CHUBBY_E_MALFORMED);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* SESSION_END as a request: the session's records go with it. */
	CU_ASSERT_EQUAL(REQ(b, 1, 1, ns_encode_session_end(now, b, b, NS_END_CLOSED, &b_, &l_)),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_session_principal(ns, b), NULL);
	CU_ASSERT_EQUAL(REQ(b, 1, 1, ns_encode_session_end(now, b, b, NS_END_CLOSED, &b_, &l_)),
	    CHUBBY_E_BAD_SESSION);
}

/* A version 1 snapshot (before request ids) still loads, with no records. */
static void
test_req_snapshot_v1_loads(void)
{
	/* ["chubby-ns", 1, 2, 2, 3, 1000, [root, /ls/t/f "a"], [[1, "alice"]],
	 *  [handle 1 of session 1 on /ls/t/f, flags 3]] */
	static const uint8_t v1[] = {
		0x99, 0xa9, 0x63, 0x68, 0x75, 0x62, 0x62, 0x79, 0x2d, 0x6e, 0x73, 0x01, 0x02, 0x02,
		0x03, 0xcd, 0x03, 0xe8, 0x92, 0x9c, 0xa5, 0x2f, 0x6c, 0x73, 0x2f, 0x74, 0x01, 0xc3,
		0xc2, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0xa0, 0xa0, 0xa0, 0xc4, 0x00, 0x00, 0x9c,
		0xa7, 0x2f, 0x6c, 0x73, 0x2f, 0x74, 0x2f, 0x66, 0x02, 0xc2, 0xc2, 0x01, 0x00, 0x00,
		0xcd, 0x03, 0xe8, 0xcd, 0x03, 0xe8, 0x93, 0xa0, 0xa0, 0xa0, 0xc4, 0x01, 0x61, 0x00,
		0x91, 0x92, 0x01, 0xa5, 0x61, 0x6c, 0x69, 0x63, 0x65, 0x91, 0x9b, 0x01, 0x01, 0xa7,
		0x2f, 0x6c, 0x73, 0x2f, 0x74, 0x2f, 0x66, 0xc3, 0x02, 0x03, 0xcd, 0x13, 0x88, 0x00,
		0xc2, 0x00, 0xc0,
	};
	struct ns *n2 = mk();
	uint8_t *snap;
	size_t sl;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(ns_restore(ns, v1, sizeof v1, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(cat(1, 1), "a");
	CU_ASSERT_EQUAL(put_if_req(1, 1, "b", 1, 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(put_if_req(1, 1, "b", 1, 1, 1), CHUBBY_OK);
	CU_ASSERT_EQUAL(stat_of(1, 1).content_gen, 2);
	/* Written back as the current version, records and all. */
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(snap[11], 0x02);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	free(snap);
	ns_free(n2);
}

/* SESSION_START has no session yet: its request id is a nonce the client
 * draws, kept by the session it started (REQ with session 0). */
static void
test_req_session_start_nonce(void)
{
	struct ns *n2 = mk();
	uint64_t s, d;
	uint8_t *snap;
	size_t sl;
	char err[256];
	DECL;

	CU_ASSERT_EQUAL(REQ(0, 77, 0, ns_encode_session_start(now, "alice", &b_, &l_)), CHUBBY_OK);
	s = r.session;
	CU_ASSERT_NOT_EQUAL(s, 0);
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(REQ(0, 77, 0, ns_encode_session_start(now, "alice", &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.session, s);
	CU_ASSERT_EQUAL(ns_session_count(ns), 1);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* Another principal's start with the same nonce is its own. */
	CU_ASSERT_EQUAL(REQ(0, 77, 0, ns_encode_session_start(now, "bob", &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_NOT_EQUAL(r.session, s);
	CU_ASSERT_EQUAL(ns_session_count(ns), 2);
	/* Kept in the snapshot: a new master answers the re-send too. */
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	free(snap);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	ns_free(ns);
	ns = n2;
	d = ns_digest(ns);
	CU_ASSERT_EQUAL(REQ(0, 77, 0, ns_encode_session_start(now, "alice", &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.session, s);
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	/* Only SESSION_START goes without a session. */
	CU_ASSERT_EQUAL(REQ(0, 78, 0, ns_encode_close(now, 0, 1, &b_, &l_)), CHUBBY_E_INVALID);
	/* Once the session ended, a late copy starts a new one (the first is
	 * gone either way). */
	CU_ASSERT_EQUAL(end(s, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_EQUAL(REQ(0, 77, 0, ns_encode_session_start(now, "alice", &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_NOT_EQUAL(r.session, s);
}

#define FRESH(fn)                                                                  \
	static void w_##fn(void)                                                   \
	{                                                                          \
		fresh();                                                           \
		fn();                                                              \
	}
FRESH(test_create_open_close)
FRESH(test_initial_contents_and_stamps)
FRESH(test_dirs_readdir)
FRESH(test_delete)
FRESH(test_instance_numbers)
FRESH(test_contents_cap)
FRESH(test_compare_and_set)
FRESH(test_bad_names)
FRESH(test_sessions)
FRESH(test_limits)
FRESH(test_config)
FRESH(test_handles_survive_failover)
FRESH(test_restore_other_cell)
FRESH(test_session_end_events)
FRESH(test_encode_args)
FRESH(test_damaged_commands)
FRESH(test_exclusive_lock)
FRESH(test_shared_locks)
FRESH(test_lock_delay_expired)
FRESH(test_lock_delay_default_and_cap)
FRESH(test_lock_delay_cap_60s)
FRESH(test_lock_delay_zero_from_config)
FRESH(test_session_closed_frees_at_once)
FRESH(test_sequencers)
FRESH(test_record_cleared_on_release)
FRESH(test_record_cleared_on_close)
FRESH(test_record_cleared_on_session_end)
FRESH(test_record_rules)
FRESH(test_record_encoding)
FRESH(test_record_snapshot)
FRESH(test_lock_generation_increments)
FRESH(test_ephemeral_file)
FRESH(test_ephemeral_dir)
FRESH(test_acl_superuser_and_denial)
FRESH(test_acl_init)
FRESH(test_acl_init_existing)
FRESH(test_acl_inheritance_and_create)
FRESH(test_poison)
FRESH(test_events)
FRESH(test_event_generation)
FRESH(test_malformed_commands)
FRESH(test_determinism_random)
FRESH(test_snapshot_restore)
FRESH(test_restore_garbage)
FRESH(test_req_duplicate_returns_first_outcome)
FRESH(test_req_failed_not_recorded)
FRESH(test_req_floor_forgets)
FRESH(test_req_cap)
FRESH(test_req_snapshot_keeps_records)
FRESH(test_req_refused_shapes)
FRESH(test_req_snapshot_v1_loads)
FRESH(test_req_session_start_nonce)

/* LEASE_CAP (issue 21 item 3): the master's own command only; its value
 * survives a snapshot; a cell that never recorded one snapshots as before
 * (nine elements), so its digests do not change. */
static void
test_lease_cap(void)
{
	struct ns *n2 = mk();
	uint8_t *snap, *snap0;
	size_t sl, sl0;
	char err[256];
	uint64_t s;
	DECL;

	s = sess("alice");
	CU_ASSERT_EQUAL(ns_lease_cap(ns), 0);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap0, &sl0), CHUBBY_OK);
	CU_ASSERT_EQUAL(snap0[0], 0x99); /* fixarray of 9 */
	/* A session's command of the kind is refused. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint64(&pk, NS_CMD_LEASE_CAP);
		msgpack_pack_uint64(&pk, now);
		msgpack_pack_uint64(&pk, s);
		msgpack_pack_uint64(&pk, 30000);
		CU_ASSERT_EQUAL(ns_apply(ns, (const uint8_t *)sb.data, sb.size, &r),
		    CHUBBY_E_PERMISSION);
		msgpack_sbuffer_destroy(&sb);
		CU_ASSERT_EQUAL(ns_lease_cap(ns), 0);
	}
	CU_ASSERT_EQUAL(AP(ns_encode_lease_cap(now, 30000, &b_, &l_)), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_lease_cap(ns), 30000);
	CU_ASSERT_EQUAL(AP(ns_encode_lease_cap(now, 25ull * 3600 * 1000, &b_, &l_)),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ns_lease_cap(ns), 30000);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(snap[0], 0x9a); /* fixarray of 10 */
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_lease_cap(n2), 30000);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	/* Back to none: the snapshot is the nine elements again. */
	CU_ASSERT_EQUAL(AP(ns_encode_lease_cap(now, 0, &b_, &l_)), CHUBBY_OK);
	free(snap);
	CU_ASSERT_EQUAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(snap[0], 0x99);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_lease_cap(n2), 0);
	free(snap);
	free(snap0);
	ns_free(n2);
}
FRESH(test_lease_cap)

/* --- handles kept in the master's memory (docs/NAMESPACE.md "Commands on a
 * handle in memory") --- */

/* An id of the kind the master hands out for a handle it keeps in memory. */
#define MEM_ID(n) ((UINT64_C(1) << 63) | (UINT64_C(7) << 32) | (n))

/* [15, stamp, session, handle, path, instance, flags, poisoned, inner|nil],
 * packed by hand so that this test needs nothing but the wire format. */
static int
mem_ap(uint64_t s, uint64_t id, const char *path, uint64_t inst, uint32_t flags,
    uint8_t *inner, size_t ilen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_uint64(&pk, 15);
	msgpack_pack_uint64(&pk, now);
	msgpack_pack_uint64(&pk, s);
	msgpack_pack_uint64(&pk, id);
	msgpack_pack_str(&pk, strlen(path));
	msgpack_pack_str_body(&pk, path, strlen(path));
	msgpack_pack_uint64(&pk, inst);
	msgpack_pack_uint64(&pk, flags);
	msgpack_pack_false(&pk);
	if (inner != NULL) {
		msgpack_pack_bin(&pk, ilen);
		msgpack_pack_bin_body(&pk, inner, ilen);
	} else {
		msgpack_pack_nil(&pk);
	}
	free(inner);
	rc = ns_apply(ns, (const uint8_t *)sb.data, sb.size, &r);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
test_mem_handle_writes(void)
{
	uint64_t s = sess("alice"), h0, hw, inst, gen, id = MEM_ID(1);
	uint8_t *b = NULL;
	size_t l = 0;
	struct ns_stat st;

	h0 = opn_full(s, ROOT "/f", CR, UINT64_MAX, "v0", NULL);
	CU_ASSERT_NOT_EQUAL_FATAL(h0, 0);
	st = stat_of(s, h0);
	inst = st.instance;
	gen = st.content_gen;
	hw = opn(s, ROOT "/f", NS_O_READ, NS_EV_CONTENTS_MODIFIED);
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);

	/* SET_CONTENTS through a handle only the master knew: applied by name,
	 * with the same stat and events as through a replicated handle, and
	 * nothing left behind. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, id, "v1", 2, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, b, l), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.stat.content_gen, gen + 1);
	CU_ASSERT_EQUAL(nev(hw, NS_EV_CONTENTS_MODIFIED), 1);
	CU_ASSERT_STRING_EQUAL(cat(s, h0), "v1");
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);

	/* Compare-and-set: the generation is checked at apply. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, id, "v2", 2, true, gen, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, b, l), CHUBBY_E_GEN_MISMATCH);
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);
	CU_ASSERT_STRING_EQUAL(cat(s, h0), "v1");

	/* Without the write intent the namespace refuses, as for its own. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, id, "v3", 2, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, NS_O_READ, b, l), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);

	/* Another instance of the name (or none): the handle's node is gone. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, id, "v3", 2, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst + 1, RW, b, l), CHUBBY_E_BAD_HANDLE);
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s + 100, id, "v3", 2, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s + 100, id, ROOT "/f", inst, RW, b, l), CHUBBY_E_BAD_SESSION);

	/* The wrapped command must be this session's, on this handle. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, h0, "v3", 2, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, b, l), CHUBBY_E_INVALID);
	CU_ASSERT_STRING_EQUAL(cat(s, h0), "v1");

	/* Materialised (no command inside): a replicated handle under the
	 * master's id, that locks, releases and closes as any other. */
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, NULL, 0), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_handle_count(ns), 3);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, NULL, 0), CHUBBY_OK); /* a copy */
	CU_ASSERT_EQUAL(ns_handle_count(ns), 3);
	CU_ASSERT_EQUAL(acq(s, id, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(rel(s, id), CHUBBY_OK);
	CU_ASSERT_EQUAL(cls(s, id), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);

	/* DELETE through it. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_delete(now, s, id, &b, &l), CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, id, ROOT "/f", inst, RW, b, l), CHUBBY_OK);
	CU_ASSERT_FALSE(exists(ROOT "/f"));
	CU_ASSERT_EQUAL(ns_handle_count(ns), 2);
}
FRESH(test_mem_handle_writes)

/* A holder through a handle in memory is replicated: its session's expiry
 * frees the lock with the default lock-delay, and a snapshot keeps it. */
static void
test_mem_handle_lock_holder(void)
{
	uint64_t a = sess("alice"), b = sess("bob"), h0, hb, inst, id = MEM_ID(4);
	uint8_t *in = NULL, *snap = NULL;
	size_t il = 0, sl = 0;
	struct ns *n2 = mk();
	char err[128];

	h0 = opn(a, ROOT "/l", CR, 0);
	inst = stat_of(a, h0).instance;
	CU_ASSERT_EQUAL(cls(a, h0), CHUBBY_OK);
	hb = opn(b, ROOT "/l", RW, 0);
	CU_ASSERT_EQUAL_FATAL(ns_encode_acquire(now, a, id, NS_LOCK_EXCLUSIVE, &in, &il), CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(a, id, ROOT "/l", inst, RW, in, il), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_BUSY);
	/* A snapshot (a new master's state) holds the holder, by its id. */
	CU_ASSERT_EQUAL_FATAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_restore(n2, snap, sl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(n2, a, id, NULL));
	free(snap);
	ns_free(n2);
	now = 10000;
	CU_ASSERT_EQUAL(end(a, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_EQUAL(r.delay_until_ms, 15000); /* the config's default, 5 s */
	now = 15000;
	CU_ASSERT_EQUAL(acq(b, hb, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
}
FRESH(test_mem_handle_lock_holder)

/* An ephemeral node is held by its handles: none is made or dropped by name. */
static void
test_mem_handle_not_ephemeral(void)
{
	uint64_t s = sess("alice"), h0, inst;
	uint8_t *b = NULL;
	size_t l = 0;

	h0 = opn(s, ROOT "/e", CR | NS_O_EPHEMERAL, 0);
	CU_ASSERT_NOT_EQUAL_FATAL(h0, 0);
	inst = stat_of(s, h0).instance;
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, MEM_ID(2), "x", 1, false, 0, &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mem_ap(s, MEM_ID(2), ROOT "/e", inst, RW, b, l), CHUBBY_E_INVALID);
	CU_ASSERT_TRUE(exists(ROOT "/e"));
}
FRESH(test_mem_handle_not_ephemeral)

/* A copy of a request through a memory handle answers as the first did. */
static void
test_mem_handle_request_copy(void)
{
	uint64_t s = sess("alice"), h0, inst, gen, id = MEM_ID(3);
	uint8_t *in = NULL, *b = NULL, *req = NULL;
	size_t il = 0, l = 0, rl = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	h0 = opn_full(s, ROOT "/g", CR, UINT64_MAX, "v0", NULL);
	inst = stat_of(s, h0).instance;
	gen = stat_of(s, h0).content_gen;
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(now, s, id, "v1", 2, false, 0, &in, &il),
	    CHUBBY_OK);
	/* The MEM command, as mem_ap packs it, inside a request id. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_uint64(&pk, 15);
	msgpack_pack_uint64(&pk, now);
	msgpack_pack_uint64(&pk, s);
	msgpack_pack_uint64(&pk, id);
	msgpack_pack_str(&pk, strlen(ROOT "/g"));
	msgpack_pack_str_body(&pk, ROOT "/g", strlen(ROOT "/g"));
	msgpack_pack_uint64(&pk, inst);
	msgpack_pack_uint64(&pk, RW);
	msgpack_pack_false(&pk);
	msgpack_pack_bin(&pk, il);
	msgpack_pack_bin_body(&pk, in, il);
	free(in);
	CU_ASSERT_EQUAL_FATAL(ns_encode_req(now, s, 5, 1, (const uint8_t *)sb.data, sb.size, &req,
	    &rl), CHUBBY_OK);
	msgpack_sbuffer_destroy(&sb);
	for (int i = 0; i < 2; i++) {
		b = malloc(rl);
		memcpy(b, req, rl);
		l = rl;
		CU_ASSERT_EQUAL(ap(CHUBBY_OK, b, l), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.stat.content_gen, gen + 1); /* the copy: the first's stat */
	}
	free(req);
	CU_ASSERT_EQUAL(stat_of(s, h0).content_gen, gen + 1);
}
FRESH(test_mem_handle_request_copy)

/* --- proxies (docs/NAMESPACE.md "Proxies") --- */

static uint64_t
psess(const char *principal)
{
	DECL;

	CU_ASSERT_EQUAL_FATAL(AP(ns_encode_session_start_proxy(now, principal, true, &b_, &l_)),
	    CHUBBY_OK);
	return r.session;
}

/* Opens PATH tagged CLIENT; the handle, or 0 with the status in r. */
static uint64_t
topn(uint64_t s, const char *path, uint32_t flags, uint64_t client)
{
	DECL;

	if (AP(ns_encode_open_client(now, s, path, flags, UINT64_MAX, 0, NULL, 0, NULL, client,
	    &b_, &l_)) != CHUBBY_OK)
		return 0;
	return r.handle;
}

static int
client_end(uint64_t s, uint64_t client, bool expired)
{
	DECL;

	return AP(ns_encode_client_end(now, s, client, expired, &b_, &l_));
}

static int
claim(uint64_t s, uint64_t client)
{
	DECL;

	return AP(ns_encode_claim(now, s, client, &b_, &l_));
}

/* Restores ns's snapshot into a new namespace: equal digests. */
static struct ns *
snap_copy(void)
{
	struct ns *n2 = mk();
	uint8_t *snap;
	size_t sl;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(ns_snapshot(ns, &snap, &sl), CHUBBY_OK);
	if (ns_restore(n2, snap, sl, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "restore: %s\n", err);
		CU_FAIL_FATAL("restore refused");
	}
	free(snap);
	CU_ASSERT_EQUAL(ns_digest(n2), ns_digest(ns));
	return n2;
}

/* The new fields leave the old commands' bytes alone when unused. */
static void
test_proxy_encodings_unchanged(void)
{
	const char *acl[3] = { "a", NULL, "" };
	uint8_t *a, *b;
	size_t al, bl;

	CU_ASSERT_EQUAL(ns_encode_session_start(7, "alice", &a, &al), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_encode_session_start_proxy(7, "alice", false, &b, &bl), CHUBBY_OK);
	CU_ASSERT(al == bl && memcmp(a, b, al) == 0);
	free(a);
	free(b);
	CU_ASSERT_EQUAL(ns_encode_open(7, 3, ROOT "/x", CR, 10, 1, "c", 1, acl, &a, &al), CHUBBY_OK);
	CU_ASSERT_EQUAL(ns_encode_open_client(7, 3, ROOT "/x", CR, 10, 1, "c", 1, acl, 0, &b, &bl),
	    CHUBBY_OK);
	CU_ASSERT(al == bl && memcmp(a, b, al) == 0);
	free(a);
	free(b);
	/* A proxy session's start is one field longer. */
	CU_ASSERT_EQUAL(ns_encode_session_start_proxy(7, "alice", true, &b, &bl), CHUBBY_OK);
	CU_ASSERT_EQUAL(b[0], 0x95);
	free(b);
}
FRESH(test_proxy_encodings_unchanged)

/* A proxy session and its client tags: replicated, in the snapshot; a tag
 * only on a proxy session. */
static void
test_proxy_session_and_tags(void)
{
	uint64_t p = psess("alice"), d = sess("alice"), h, h2;
	struct ns_handle_info hi;
	struct ns *n2;

	CU_ASSERT_TRUE(ns_session_is_proxy(ns, p));
	CU_ASSERT_FALSE(ns_session_is_proxy(ns, d));
	CU_ASSERT_STRING_EQUAL(ns_session_principal(ns, p), "alice");
	CU_ASSERT_EQUAL(topn(d, ROOT "/f", CR, 9), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_INVALID);
	h = topn(p, ROOT "/f", CR, 9);
	CU_ASSERT_NOT_EQUAL_FATAL(h, 0);
	h2 = opn(p, ROOT "/f", NS_O_READ, 0);
	CU_ASSERT_EQUAL(ns_handle_info(ns, p, h, &hi), CHUBBY_OK);
	CU_ASSERT_EQUAL(hi.client, 9);
	CU_ASSERT_EQUAL(ns_client_handles(ns, p, 9, NULL, 0), 1);
	n2 = snap_copy();
	CU_ASSERT_TRUE(ns_session_is_proxy(n2, p));
	CU_ASSERT_EQUAL(ns_handle_info(n2, p, h, &hi), CHUBBY_OK);
	CU_ASSERT_EQUAL(hi.client, 9);
	CU_ASSERT_EQUAL(ns_handle_info(n2, p, h2, &hi), CHUBBY_OK);
	CU_ASSERT_EQUAL(hi.client, 0);
	ns_free(n2);
}
FRESH(test_proxy_session_and_tags)

/* CLIENT_END closes the client's handles only, as SESSION_END would:
 * expired keeps its lock-delay, an ephemeral file goes; the client is a
 * tombstone after, in the snapshot too. */
static void
test_proxy_client_end(void)
{
	uint64_t p = psess("alice"), other = sess("bob"), h, he, hk, hb;
	struct ns_stat st;
	struct ns *n2;

	h = topn(p, ROOT "/l", CR, 5);
	CU_ASSERT_EQUAL(acq(p, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	he = topn(p, ROOT "/e", CR | NS_O_EPHEMERAL, 5);
	CU_ASSERT_NOT_EQUAL(he, 0);
	hk = topn(p, ROOT "/k", CR, 6); /* another client of the same proxy */
	CU_ASSERT_EQUAL(acq(p, hk, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	hb = opn(other, ROOT "/l", CR, 0);
	CU_ASSERT_EQUAL(client_end(other, 5, true), CHUBBY_E_INVALID); /* not a proxy session */
	CU_ASSERT_EQUAL(client_end(p, 5, true), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 2);
	CU_ASSERT_FALSE(exists(ROOT "/e"));
	CU_ASSERT_PTR_NULL(ns_handle_path(ns, p, h, NULL));
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, p, hk, NULL));
	st = stat_of(other, hb);
	CU_ASSERT_EQUAL(st.lock_mode, NS_LOCK_NONE);
	CU_ASSERT_EQUAL(st.lock_delay_until_ms, now + 5000);
	CU_ASSERT_EQUAL(acq(other, hb, NS_LOCK_EXCLUSIVE), CHUBBY_E_LOCK_DELAY);
	CU_ASSERT_TRUE(ns_client_ended(ns, 5));
	CU_ASSERT_EQUAL(claim(p, 5), CHUBBY_E_SESSION_EXPIRED);
	CU_ASSERT_EQUAL(topn(p, ROOT "/l", CR, 5), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_SESSION_EXPIRED);
	/* Not expired: the lock frees at once. */
	CU_ASSERT_EQUAL(client_end(p, 6, false), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 1);
	n2 = snap_copy();
	CU_ASSERT_TRUE(ns_client_ended(n2, 5));
	CU_ASSERT_TRUE(ns_client_ended(n2, 6));
	ns_free(n2);
}
FRESH(test_proxy_client_end)

/* A proxy session that ends keeps its clients' handles (orphaned); a
 * CLAIM by a proxy session of the same principal moves them, lock and
 * all; the orphan goes once empty.  Another principal's claim moves
 * nothing. */
static void
test_proxy_orphan_and_claim(void)
{
	uint64_t p1 = psess("alice"), h, hu, p2, pb, lg;
	struct ns *n2;
	size_t nev0;

	h = topn(p1, ROOT "/l", CR | NS_O_EPHEMERAL, 77);
	CU_ASSERT_EQUAL(acq(p1, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	lg = stat_of(p1, h).lock_gen;
	hu = opn(p1, ROOT "/u", CR, 0); /* untagged: closes with the session */
	CU_ASSERT_EQUAL(acq(p1, hu, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(end(p1, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_TRUE(ns_session_orphaned(ns, p1));
	CU_ASSERT_PTR_NULL(ns_handle_path(ns, p1, hu, NULL));
	CU_ASSERT_TRUE(exists(ROOT "/l"));
	CU_ASSERT_EQUAL(ns_locks_held(ns), 1);
	/* An orphan is no live session: no commands, no end but the master's. */
	CU_ASSERT_EQUAL(opn(p1, ROOT "/z", CR, 0), 0);
	CU_ASSERT_EQUAL(r.status, CHUBBY_E_BAD_SESSION);
	CU_ASSERT_EQUAL(rel(p1, h), CHUBBY_E_BAD_SESSION);
	n2 = snap_copy();
	CU_ASSERT_TRUE(ns_session_orphaned(n2, p1));
	ns_free(n2);
	/* Another principal's proxy session finds nothing to claim. */
	pb = psess("bob");
	CU_ASSERT_EQUAL(claim(pb, 77), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 0);
	CU_ASSERT_TRUE(ns_session_orphaned(ns, p1));
	/* Alice's new proxy session takes it, same handle id, same lock. */
	p2 = psess("alice");
	nev0 = r.nevents;
	CU_ASSERT_EQUAL(claim(p2, 77), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 1);
	CU_ASSERT_EQUAL(r.nevents, nev0);
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, p2, h, NULL));
	CU_ASSERT_EQUAL(stat_of(p2, h).lock_gen, lg);
	CU_ASSERT_EQUAL(stat_of(p2, h).lock_mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_FALSE(ns_session_orphaned(ns, p1));
	CU_ASSERT_PTR_NULL(ns_session_principal(ns, p1)); /* gone */
	CU_ASSERT_EQUAL(rel(p2, h), CHUBBY_OK);
	/* A claim again: nothing more to move, not an error. */
	CU_ASSERT_EQUAL(claim(p2, 77), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 0);
	n2 = snap_copy();
	ns_free(n2);
}
FRESH(test_proxy_orphan_and_claim)

/* The claim window's end: the master ends the orphan; its clients'
 * handles close as expired (lock-delay), tombstoned. */
static void
test_proxy_orphan_end(void)
{
	uint64_t p1 = psess("alice"), h, b = sess("bob"), hb;

	h = topn(p1, ROOT "/l", CR, 31);
	CU_ASSERT_EQUAL(acq(p1, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	hb = opn(b, ROOT "/l", CR, 0);
	CU_ASSERT_EQUAL(end(p1, NS_END_CLOSED), CHUBBY_OK);
	CU_ASSERT_TRUE(ns_session_orphaned(ns, p1));
	CU_ASSERT_EQUAL(stat_of(b, hb).lock_mode, NS_LOCK_EXCLUSIVE);
	now += 100;
	CU_ASSERT_EQUAL(end(p1, NS_END_EXPIRED), CHUBBY_OK);
	CU_ASSERT_PTR_NULL(ns_session_principal(ns, p1));
	CU_ASSERT_EQUAL(stat_of(b, hb).lock_mode, NS_LOCK_NONE);
	CU_ASSERT_EQUAL(stat_of(b, hb).lock_delay_until_ms, now + 5000);
	CU_ASSERT_TRUE(ns_client_ended(ns, 31));
	CU_ASSERT_EQUAL(claim(psess("alice"), 31), CHUBBY_E_SESSION_EXPIRED);
}
FRESH(test_proxy_orphan_end)

/* A client that moved to another proxy while its old proxy still lives:
 * the old proxy's stale record of it runs out and it sends CLIENT_END.
 * That closes nothing (the handles moved) and must not tombstone the
 * client, which lives on at its new proxy: its next tagged OPEN and a
 * later claim still work.  A client with no handle at the master has
 * nothing a tombstone would protect. */
static void
test_proxy_client_end_after_claim(void)
{
	uint64_t pa = psess("alice"), pb = psess("alice"), h;

	h = topn(pa, ROOT "/l", CR, 12);
	CU_ASSERT_EQUAL(acq(pa, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	CU_ASSERT_EQUAL(claim(pb, 12), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 1);
	CU_ASSERT_EQUAL(client_end(pa, 12, true), CHUBBY_OK);
	CU_ASSERT_EQUAL(r.closed, 0);
	CU_ASSERT_FALSE(ns_client_ended(ns, 12));
	CU_ASSERT_EQUAL(stat_of(pb, h).lock_mode, NS_LOCK_EXCLUSIVE);
	CU_ASSERT_NOT_EQUAL(topn(pb, ROOT "/m", CR, 12), 0);
	CU_ASSERT_EQUAL(claim(pb, 12), CHUBBY_OK);
	/* No handle anywhere: no tombstone either. */
	CU_ASSERT_EQUAL(client_end(pa, 13, true), CHUBBY_OK);
	CU_ASSERT_FALSE(ns_client_ended(ns, 13));
}
FRESH(test_proxy_client_end_after_claim)

/* Tombstones are bounded: the oldest is forgotten. */
static void
test_proxy_tombstones_bounded(void)
{
	uint64_t p = psess("alice");
	struct ns *n2;

	for (uint64_t c = 1; c <= NS_MAX_TOMBSTONES + 2; c++) {
		CU_ASSERT_NOT_EQUAL_FATAL(topn(p, ROOT "/t", CR, c), 0);
		CU_ASSERT_EQUAL_FATAL(client_end(p, c, false), CHUBBY_OK);
	}
	CU_ASSERT_FALSE(ns_client_ended(ns, 1));
	CU_ASSERT_FALSE(ns_client_ended(ns, 2));
	CU_ASSERT_TRUE(ns_client_ended(ns, 3));
	CU_ASSERT_TRUE(ns_client_ended(ns, NS_MAX_TOMBSTONES + 2));
	n2 = snap_copy();
	CU_ASSERT_FALSE(ns_client_ended(n2, 2));
	CU_ASSERT_TRUE(ns_client_ended(n2, 3));
	ns_free(n2);
}
FRESH(test_proxy_tombstones_bounded)

/* CLIENT_END and CLAIM with request ids: a copy answers the first count,
 * changes nothing, and the records survive a snapshot. */
static void
test_proxy_request_copies(void)
{
	uint64_t p = psess("alice"), p2, h;
	uint8_t *in = NULL, *req = NULL, *b;
	size_t il = 0, rl = 0;
	struct ns *n2;
	uint64_t d;

	h = topn(p, ROOT "/l", CR, 3);
	CU_ASSERT_EQUAL(acq(p, h, NS_LOCK_EXCLUSIVE), CHUBBY_OK);
	topn(p, ROOT "/m", CR, 4);
	CU_ASSERT_EQUAL_FATAL(ns_encode_client_end(now, p, 4, false, &in, &il), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(ns_encode_req(now, p, 9, 1, in, il, &req, &rl), CHUBBY_OK);
	free(in);
	for (int i = 0; i < 2; i++) {
		b = malloc(rl);
		memcpy(b, req, rl);
		CU_ASSERT_EQUAL(ap(CHUBBY_OK, b, rl), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.closed, 1);
		if (i == 0)
			d = ns_digest(ns);
	}
	CU_ASSERT_EQUAL(ns_digest(ns), d);
	free(req);
	CU_ASSERT_EQUAL(end(p, NS_END_EXPIRED), CHUBBY_OK);
	p2 = psess("alice");
	CU_ASSERT_EQUAL_FATAL(ns_encode_claim(now, p2, 3, &in, &il), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(ns_encode_req(now, p2, 5, 1, in, il, &req, &rl), CHUBBY_OK);
	free(in);
	for (int i = 0; i < 2; i++) {
		b = malloc(rl);
		memcpy(b, req, rl);
		CU_ASSERT_EQUAL(ap(CHUBBY_OK, b, rl), CHUBBY_OK);
		CU_ASSERT_EQUAL(r.closed, 1); /* the copy: the first's count */
	}
	free(req);
	CU_ASSERT_PTR_NOT_NULL(ns_handle_path(ns, p2, h, NULL));
	n2 = snap_copy();
	{
		struct ns_result o;

		ns_result_init(&o);
		CU_ASSERT_EQUAL(ns_request_outcome(n2, p2, 5, &o), CHUBBY_OK);
		CU_ASSERT_EQUAL(o.closed, 1);
		ns_result_free(&o);
	}
	ns_free(n2);
}
FRESH(test_proxy_request_copies)

void
harness_register(void)
{
	static const struct harness_test nodes[] = {
		{ "create_open_close", w_test_create_open_close },
		{ "initial_contents_and_stamps", w_test_initial_contents_and_stamps },
		{ "dirs_readdir", w_test_dirs_readdir },
		{ "delete", w_test_delete },
		{ "instance_numbers", w_test_instance_numbers },
		{ "contents_cap", w_test_contents_cap },
		{ "compare_and_set", w_test_compare_and_set },
		{ "bad_names", w_test_bad_names },
		{ "sessions", w_test_sessions },
		{ "limits", w_test_limits },
		{ "config", w_test_config },
		{ NULL, NULL },
	};
	static const struct harness_test locks[] = {
		{ "exclusive", w_test_exclusive_lock },
		{ "shared", w_test_shared_locks },
		{ "lock_delay_expired", w_test_lock_delay_expired },
		{ "lock_delay_zero_from_config", w_test_lock_delay_zero_from_config },
		{ "lock_delay_default_and_cap", w_test_lock_delay_default_and_cap },
		{ "lock_delay_cap_60s", w_test_lock_delay_cap_60s },
		{ "session_closed_frees_at_once", w_test_session_closed_frees_at_once },
		{ "sequencers", w_test_sequencers },
		{ "record_cleared_on_release", w_test_record_cleared_on_release },
		{ "record_cleared_on_close", w_test_record_cleared_on_close },
		{ "record_cleared_on_session_end", w_test_record_cleared_on_session_end },
		{ "record_rules", w_test_record_rules },
		{ "record_encoding", w_test_record_encoding },
		{ "record_snapshot", w_test_record_snapshot },
		{ "lock_generation", w_test_lock_generation_increments },
		{ NULL, NULL },
	};
	static const struct harness_test eph[] = {
		{ "ephemeral_file", w_test_ephemeral_file },
		{ "ephemeral_dir", w_test_ephemeral_dir },
		{ NULL, NULL },
	};
	static const struct harness_test acls[] = {
		{ "superuser_and_denial", w_test_acl_superuser_and_denial },
		{ "inheritance_and_create", w_test_acl_inheritance_and_create },
		{ "init", w_test_acl_init },
		{ "init_existing", w_test_acl_init_existing },
		{ NULL, NULL },
	};
	static const struct harness_test events[] = {
		{ "poison", w_test_poison },
		{ "events", w_test_events },
		{ "event_generation", w_test_event_generation },
		{ "malformed_commands", w_test_malformed_commands },
		{ "session_end_events", w_test_session_end_events },
		{ "encode_args", w_test_encode_args },
		{ "damaged_commands", w_test_damaged_commands },
		{ NULL, NULL },
	};
	static const struct harness_test repl[] = {
		{ "determinism_random", w_test_determinism_random },
		{ "snapshot_restore", w_test_snapshot_restore },
		{ "restore_garbage", w_test_restore_garbage },
		{ "handles_survive_failover", w_test_handles_survive_failover },
		{ "restore_other_cell", w_test_restore_other_cell },
		{ NULL, NULL },
	};

	static const struct harness_test reqs[] = {
		{ "duplicate_returns_first_outcome", w_test_req_duplicate_returns_first_outcome },
		{ "failed_not_recorded", w_test_req_failed_not_recorded },
		{ "floor_forgets", w_test_req_floor_forgets },
		{ "cap", w_test_req_cap },
		{ "snapshot_keeps_records", w_test_req_snapshot_keeps_records },
		{ "refused_shapes", w_test_req_refused_shapes },
		{ "snapshot_v1_loads", w_test_req_snapshot_v1_loads },
		{ "session_start_nonce", w_test_req_session_start_nonce },
		{ "lease_cap", w_test_lease_cap },
		{ NULL, NULL },
	};
	static const struct harness_test proxies[] = {
		{ "encodings unchanged when unused", w_test_proxy_encodings_unchanged },
		{ "proxy session and client tags", w_test_proxy_session_and_tags },
		{ "client_end", w_test_proxy_client_end },
		{ "orphan and claim", w_test_proxy_orphan_and_claim },
		{ "client_end after a claim elsewhere", w_test_proxy_client_end_after_claim },
		{ "orphan end", w_test_proxy_orphan_end },
		{ "tombstones bounded", w_test_proxy_tombstones_bounded },
		{ "request copies", w_test_proxy_request_copies },
		{ NULL, NULL },
	};
	static const struct harness_test mem[] = {
		{ "writes_by_name", w_test_mem_handle_writes },
		{ "not_ephemeral", w_test_mem_handle_not_ephemeral },
		{ "request_copy", w_test_mem_handle_request_copy },
		{ "lock_holder", w_test_mem_handle_lock_holder },
		{ NULL, NULL },
	};

	harness_suite("ns_nodes", NULL, teardown, nodes);
	harness_suite("ns_locks", NULL, teardown, locks);
	harness_suite("ns_ephemeral", NULL, teardown, eph);
	harness_suite("ns_acl", NULL, teardown, acls);
	harness_suite("ns_events", NULL, teardown, events);
	harness_suite("ns_replication", NULL, teardown, repl);
	harness_suite("ns_requests", NULL, teardown, reqs);
	harness_suite("ns_mem_handles", NULL, teardown, mem);
	harness_suite("ns_proxies", NULL, teardown, proxies);
}
