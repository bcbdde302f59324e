/*
 * test_mirror_plan.c: what a mirror writes to make its copy equal the
 * source (server/mirror/mirror_plan.c): nothing when they agree; deletes
 * children before parents and creates parents before children; a node
 * that changed kind is deleted and made again; `to` and its ancestors are
 * made when missing; and applying the plan to the copy, as a simple
 * model of the namespace, always yields the source (randomised trees,
 * CHUBBY_TEST_SEED).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mirror/mirror_plan.h"

#define TO "/ls/dst/g"

static struct mirror_entry
E(const char *rel, const char *data) /* data NULL: a directory */
{
	struct mirror_entry e = {.rel = (char *)(uintptr_t)rel, .is_dir = data == NULL,
	    .data = (void *)(uintptr_t)data, .len = data != NULL ? strlen(data) : 0};
	return e;
}

static void
expect(const struct mirror_op *ops, size_t n, size_t i, enum mirror_op_kind kind, const char *path)
{
	CU_ASSERT_FATAL(i < n);
	CU_ASSERT_EQUAL(ops[i].kind, kind);
	if (strcmp(ops[i].path, path) != 0)
		fprintf(stderr, "\n  op %zu: expected %s, got %s\n", i, path, ops[i].path);
	CU_ASSERT_STRING_EQUAL(ops[i].path, path);
}

static void
test_nothing_when_equal(void)
{
	struct mirror_entry s[] = {E("", NULL), E("a", "1"), E("d", NULL), E("d/x", "")};
	struct mirror_entry l[] = {E("d/x", ""), E("a", "1"), E("", NULL), E("d", NULL)};
	struct mirror_op *ops;
	size_t n = mirror_plan(TO, s, 4, l, 4, &ops);

	CU_ASSERT_EQUAL(n, 0);
	mirror_ops_free(ops, n);
}

static void
test_order(void)
{
	/* Source: a changed, b new, d/ gone, e/ new with a child, f a file
	 * that was a directory, g a directory that was a file. */
	struct mirror_entry s[] = {E("", NULL), E("a", "2"), E("b", "new"), E("e/y", "1"),
	    E("e", NULL), E("f", "file"), E("g", NULL), E("g/z", "z"), E("a-b", "same")};
	struct mirror_entry l[] = {E("", NULL), E("a", "1"), E("d", NULL), E("d/x", "x"),
	    E("d/x2", NULL), E("d/x2/deep", "q"), E("f", NULL), E("f/old", "o"), E("g", "was file"),
	    E("a-b", "same")};
	struct mirror_op *ops;
	size_t n = mirror_plan(TO, s, 9, l, 10, &ops), i = 0;

	/* Deletes, deepest first. */
	expect(ops, n, i++, MIRROR_DELETE, TO "/g");
	expect(ops, n, i++, MIRROR_DELETE, TO "/f/old");
	expect(ops, n, i++, MIRROR_DELETE, TO "/f");
	expect(ops, n, i++, MIRROR_DELETE, TO "/d/x2/deep");
	expect(ops, n, i++, MIRROR_DELETE, TO "/d/x2");
	expect(ops, n, i++, MIRROR_DELETE, TO "/d/x");
	expect(ops, n, i++, MIRROR_DELETE, TO "/d");
	/* Then creates and updates, parents first; a-b is unchanged. */
	expect(ops, n, i++, MIRROR_WRITE, TO "/a");
	CU_ASSERT_EQUAL(ops[i - 1].len, 1);
	CU_ASSERT_NSTRING_EQUAL(ops[i - 1].data, "2", 1);
	expect(ops, n, i++, MIRROR_WRITE, TO "/b");
	expect(ops, n, i++, MIRROR_MKDIR, TO "/e");
	expect(ops, n, i++, MIRROR_WRITE, TO "/e/y");
	expect(ops, n, i++, MIRROR_WRITE, TO "/f");
	expect(ops, n, i++, MIRROR_MKDIR, TO "/g");
	expect(ops, n, i++, MIRROR_WRITE, TO "/g/z");
	CU_ASSERT_EQUAL(n, i);
	mirror_ops_free(ops, n);
}

static void
test_missing_root(void)
{
	struct mirror_entry s[] = {E("", NULL), E("a", "1")};
	struct mirror_op *ops;
	size_t n;

	/* to = /ls/dst/x/y/g: x and x/y are made first (not /ls/dst). */
	n = mirror_plan("/ls/dst/x/y/g", s, 2, NULL, 0, &ops);
	CU_ASSERT_EQUAL(n, 4);
	expect(ops, n, 0, MIRROR_MKDIR, "/ls/dst/x");
	expect(ops, n, 1, MIRROR_MKDIR, "/ls/dst/x/y");
	expect(ops, n, 2, MIRROR_MKDIR, "/ls/dst/x/y/g");
	expect(ops, n, 3, MIRROR_WRITE, "/ls/dst/x/y/g/a");
	mirror_ops_free(ops, n);
	/* The source has nothing: an empty `to`. */
	n = mirror_plan(TO, NULL, 0, NULL, 0, &ops);
	CU_ASSERT_EQUAL(n, 1);
	expect(ops, n, 0, MIRROR_MKDIR, TO);
	mirror_ops_free(ops, n);
	/* The source went: the copy is emptied, `to` kept. */
	{
		struct mirror_entry l[] = {E("", NULL), E("a", "1")};
		n = mirror_plan(TO, NULL, 0, l, 2, &ops);
		CU_ASSERT_EQUAL(n, 1);
		expect(ops, n, 0, MIRROR_DELETE, TO "/a");
		mirror_ops_free(ops, n);
	}
}

/* --- applying a plan to a model of the copy ------------------------------------ */

#define MAXN 64
struct model {
	char rel[MAXN][32];
	char data[MAXN][8];
	bool is_dir[MAXN], used[MAXN];
};

static int
model_find(const struct model *m, const char *rel)
{
	for (int i = 0; i < MAXN; i++)
		if (m->used[i] && strcmp(m->rel[i], rel) == 0)
			return i;
	return -1;
}

/* The parent of REL exists (the root's is outside the model). */
static bool
model_parent_ok(const struct model *m, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char parent[32];
	int p;

	if (rel[0] == '\0')
		return true;
	if (slash == NULL)
		snprintf(parent, sizeof parent, "%s", "");
	else
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - rel), rel);
	p = model_find(m, parent);
	return p >= 0 && m->is_dir[p];
}

static bool
model_has_children(const struct model *m, const char *rel)
{
	size_t n = strlen(rel);

	for (int i = 0; i < MAXN; i++)
		if (m->used[i] && rel[0] == '\0' ? m->used[i] && m->rel[i][0] != '\0'
		                                 : m->used[i] && strncmp(m->rel[i], rel, n) == 0 &&
		                                       m->rel[i][n] == '/')
			return true;
	return false;
}

/* Applies OPS as the namespace would, refusing what it would refuse. */
static void
model_apply(struct model *m, const struct mirror_op *ops, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const char *rel = ops[k].path + strlen(TO);
		int i;

		if (*rel == '/')
			rel++;
		i = model_find(m, rel);
		switch (ops[k].kind) {
		case MIRROR_DELETE:
			CU_ASSERT_FATAL(i >= 0);
			CU_ASSERT_FATAL(!model_has_children(m, rel));
			m->used[i] = false;
			break;
		case MIRROR_MKDIR:
		case MIRROR_WRITE:
			if (i >= 0) {
				/* an existing node keeps its kind: only contents change */
				CU_ASSERT_FATAL(m->is_dir[i] == (ops[k].kind == MIRROR_MKDIR));
			} else {
				CU_ASSERT_FATAL(model_parent_ok(m, rel));
				for (i = 0; m->used[i]; i++)
					;
				m->used[i] = true;
				snprintf(m->rel[i], sizeof m->rel[i], "%s", rel);
				m->is_dir[i] = ops[k].kind == MIRROR_MKDIR;
			}
			memset(m->data[i], 0, sizeof m->data[i]);
			if (ops[k].len > 0) /* no data may come as NULL */
				memcpy(m->data[i], ops[k].data, ops[k].len);
			break;
		}
	}
}

static uint64_t rng;

/* xorshift64*, seeded from CHUBBY_TEST_SEED (harness_seed). */
static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

/* A random tree of up to 12 nodes over names a, b, c, 3 levels deep. */
static size_t
random_tree(struct mirror_entry *v, char (*names)[32], char (*datas)[8])
{
	static const char *const parts[] = {"a", "b", "c"};
	size_t n = 0;

	snprintf(names[n], 32, "%s", "");
	v[n] = (struct mirror_entry){.rel = names[n], .is_dir = true};
	n++;
	for (int k = 0; k < 12; k++) {
		/* Pick a directory already there and add a child. */
		size_t p = (size_t)rnd() % n;
		char rel[32];

		if (!v[p].is_dir)
			continue;
		snprintf(rel, sizeof rel, "%s%s%s", v[p].rel, v[p].rel[0] ? "/" : "",
		    parts[rnd() % 3]);
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(v[j].rel, rel) == 0;
		if (dup || strlen(rel) > 20)
			continue;
		snprintf(names[n], 32, "%s", rel);
		v[n].rel = names[n];
		v[n].is_dir = rnd() % 2;
		snprintf(datas[n], 8, "%u", (unsigned)(rnd() % 3));
		v[n].data = v[n].is_dir ? NULL : datas[n];
		v[n].len = v[n].is_dir ? 0 : strlen(datas[n]);
		n++;
	}
	return n;
}

static void
test_random_trees_converge(void)
{
	rng = harness_seed() | 1;
	for (int round = 0; round < 2000; round++) {
		struct mirror_entry s[16], l[16];
		char sn[16][32], sd[16][8], ln[16][32], ld[16][8];
		size_t ns = random_tree(s, sn, sd), nl = random_tree(l, ln, ld), n;
		struct mirror_op *ops;
		struct model m;

		memset(&m, 0, sizeof m);
		for (size_t i = 0; i < nl; i++) {
			m.used[i] = true;
			snprintf(m.rel[i], 32, "%s", l[i].rel);
			m.is_dir[i] = l[i].is_dir;
			if (!l[i].is_dir)
				memcpy(m.data[i], l[i].data, l[i].len);
		}
		n = mirror_plan(TO, s, ns, l, nl, &ops);
		model_apply(&m, ops, n);
		mirror_ops_free(ops, n);
		/* The model now holds exactly the source. */
		size_t count = 0;
		for (int i = 0; i < MAXN; i++)
			count += m.used[i];
		CU_ASSERT_EQUAL_FATAL(count, ns);
		for (size_t i = 0; i < ns; i++) {
			int j = model_find(&m, s[i].rel);
			CU_ASSERT_FATAL(j >= 0);
			CU_ASSERT_EQUAL_FATAL(m.is_dir[j], s[i].is_dir);
			if (!s[i].is_dir)
				CU_ASSERT_NSTRING_EQUAL_FATAL(m.data[j], s[i].data, s[i].len + 1);
		}
	}
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"nothing to write when the trees agree", test_nothing_when_equal},
	    {"deletes deepest first, creates parents first, kinds change", test_order},
	    {"a missing `to` and its ancestors are made", test_missing_root},
	    {"random trees: the plan turns the copy into the source", test_random_trees_converge},
	    {NULL, NULL},
	};

	harness_suite("mirror_plan", NULL, NULL, tests);
}
