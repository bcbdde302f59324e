/*
 * sm_index.h: the two indexes the master's session layer keeps so that its
 * work grows with what happens, not with how many sessions there are
 * (docs/SESSIONS.md "Scale"):
 *
 *   sm_htab  an intrusive chained hash table that doubles as it fills, so
 *            a lookup stays O(1) from ten sessions to a million;
 *   sm_heap  a binary min-heap of deadlines, each entry knowing its place
 *            in the heap, so a deadline is set, moved or dropped in
 *            O(log n) and the periodic scan looks only at what is due.
 *
 * Both are intrusive: the nodes live inside the caller's structs, which
 * they do not own.  Pure code (no clocks, no I/O), tested by
 * tests/unit/test_sm_index.c.
 */
#ifndef CHUBBY_SM_INDEX_H
#define CHUBBY_SM_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct sm_hnode {
	struct sm_hnode *next;
	uint64_t hash; /* the caller's, kept to skip other keys and to rehash */
};

struct sm_htab {
	struct sm_hnode **b;
	size_t nb; /* a power of two, or 0 before the first add */
	size_t n;
};

void sm_htab_init(struct sm_htab *t);
/* Frees the bucket array, not the nodes. */
void sm_htab_free(struct sm_htab *t);
void sm_htab_add(struct sm_htab *t, struct sm_hnode *node, uint64_t hash);
void sm_htab_del(struct sm_htab *t, struct sm_hnode *node);
/* The chain HASH falls in: walk it with ->next, skipping other hashes and
 * keys. */
struct sm_hnode *sm_htab_chain(const struct sm_htab *t, uint64_t hash);

/* Mixes an id into a hash (ids are small consecutive numbers). */
uint64_t sm_hash_u64(uint64_t v);

#define SM_DUE_NONE ((size_t)-1)

struct sm_due {
	uint64_t at;  /* monotonic ms */
	size_t idx;   /* its place in the heap, or SM_DUE_NONE */
	int kind;     /* the caller's: which struct this is inside */
};

struct sm_heap {
	struct sm_due **v;
	size_t n, cap;
};

void sm_due_init(struct sm_due *d, int kind);
void sm_heap_init(struct sm_heap *h);
void sm_heap_free(struct sm_heap *h);
/* Sets D's deadline to AT, adding D if it is not in the heap. */
void sm_heap_set(struct sm_heap *h, struct sm_due *d, uint64_t at);
/* Removes D if it is in the heap. */
void sm_heap_del(struct sm_heap *h, struct sm_due *d);
/* The earliest deadline, or NULL. */
struct sm_due *sm_heap_top(const struct sm_heap *h);

#endif
