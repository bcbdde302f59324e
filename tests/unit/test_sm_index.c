/* test_sm_index.c: the session layer's growing hash table and deadline heap
 * (server/session/sm_index.c), against brute force. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "session/sm_index.h"

static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct item {
	struct sm_hnode hn;
	struct sm_due due;
	uint64_t key;
	int in_tab;
};

#define N 5000

static struct item *
tab_find(struct sm_htab *t, uint64_t key)
{
	uint64_t h = sm_hash_u64(key);

	for (struct sm_hnode *n = sm_htab_chain(t, h); n != NULL; n = n->next) {
		struct item *it = (struct item *)(void *)n; /* hn is first */
		if (n->hash == h && it->key == key)
			return it;
	}
	return NULL;
}

static void
test_htab(void)
{
	struct item *v = calloc(N, sizeof *v);
	struct sm_htab t;
	size_t n = 0;

	sm_htab_init(&t);
	CU_ASSERT_PTR_NULL(tab_find(&t, 1));
	for (size_t i = 0; i < N; i++)
		v[i].key = i * 7 + 1;
	for (int round = 0; round < 20000; round++) {
		struct item *it = &v[rnd() % N];
		if (it->in_tab) {
			sm_htab_del(&t, &it->hn);
			it->in_tab = 0;
			n--;
		} else {
			sm_htab_add(&t, &it->hn, sm_hash_u64(it->key));
			it->in_tab = 1;
			n++;
		}
		CU_ASSERT_EQUAL(t.n, n);
	}
	/* It grew with what it holds, load factor at most one. */
	CU_ASSERT(t.nb >= t.n);
	for (size_t i = 0; i < N; i++)
		CU_ASSERT_EQUAL(tab_find(&t, v[i].key) == &v[i], v[i].in_tab);
	CU_ASSERT_PTR_NULL(tab_find(&t, 0));
	sm_htab_free(&t);
	free(v);
}

/* Every entry's place is right and the heap property holds. */
static int
heap_ok(const struct sm_heap *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i]->idx != i)
			return 0;
		if (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at)
			return 0;
	}
	return 1;
}

static void
test_heap(void)
{
	struct item *v = calloc(N, sizeof *v);
	struct sm_heap h;
	size_t in = 0;

	sm_heap_init(&h);
	CU_ASSERT_PTR_NULL(sm_heap_top(&h));
	for (size_t i = 0; i < N; i++)
		sm_due_init(&v[i].due, 1);
	for (int round = 0; round < 40000; round++) {
		struct item *it = &v[rnd() % N];
		switch (rnd() % 3) {
		case 0:
		case 1: /* set or move */
			in += it->due.idx == SM_DUE_NONE;
			sm_heap_set(&h, &it->due, rnd() % 100000);
			break;
		default:
			in -= it->due.idx != SM_DUE_NONE;
			sm_heap_del(&h, &it->due);
			CU_ASSERT_EQUAL(it->due.idx, SM_DUE_NONE);
			break;
		}
		CU_ASSERT_EQUAL(h.n, in);
		if (round % 1000 == 0)
			CU_ASSERT(heap_ok(&h));
	}
	CU_ASSERT(heap_ok(&h));
	/* Popping yields the deadlines in order, and the minimum each time. */
	uint64_t last = 0;
	while (sm_heap_top(&h) != NULL) {
		struct sm_due *d = sm_heap_top(&h);
		uint64_t min = UINT64_MAX;
		for (size_t i = 0; i < N; i++)
			if (v[i].due.idx != SM_DUE_NONE && v[i].due.at < min)
				min = v[i].due.at;
		CU_ASSERT_EQUAL(d->at, min);
		CU_ASSERT(d->at >= last);
		last = d->at;
		sm_heap_del(&h, d);
		if (h.n % 500 == 0)
			CU_ASSERT(heap_ok(&h));
	}
	sm_heap_set(&h, &v[0].due, 5);
	sm_heap_free(&h);
	CU_ASSERT_EQUAL(v[0].due.idx, SM_DUE_NONE);
	free(v);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"hash table grows and finds what it holds", test_htab},
	    {"deadline heap: set, move, delete, pop in order", test_heap},
	    {NULL, NULL},
	};

	rng = harness_seed() | 1;
	harness_suite("sm_index", NULL, NULL, tests);
}
