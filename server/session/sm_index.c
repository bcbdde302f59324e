/* sm_index.c: the session layer's growing hash table and deadline heap
 * (sm_index.h). */
#include "config.h"

#include <stdlib.h>

#include "session/sm_index.h"
#include "xmalloc.h"

/* --- hash table ------------------------------------------------------------ */

#define SM_HTAB_MIN 64

uint64_t
sm_hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	v *= 0xc4ceb9fe1a85ec53ull;
	v ^= v >> 33;
	return v;
}

void
sm_htab_init(struct sm_htab *t)
{
	t->b = NULL;
	t->nb = t->n = 0;
}

void
sm_htab_free(struct sm_htab *t)
{
	free(t->b);
	sm_htab_init(t);
}

static void
sm_htab_resize(struct sm_htab *t, size_t nb)
{
	struct sm_hnode **b = xcalloc(nb, sizeof *b);

	for (size_t i = 0; i < t->nb; i++) {
		while (t->b[i] != NULL) {
			struct sm_hnode *n = t->b[i];
			t->b[i] = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void
sm_htab_add(struct sm_htab *t, struct sm_hnode *node, uint64_t hash)
{
	size_t i;

	/* Load factor at most 1: chains stay a node or two long.  Doubling
	 * costs O(n) now and then, O(1) per add on average. */
	if (t->n >= t->nb)
		sm_htab_resize(t, t->nb ? 2 * t->nb : SM_HTAB_MIN);
	node->hash = hash;
	i = hash & (t->nb - 1);
	node->next = t->b[i];
	t->b[i] = node;
	t->n++;
}

void
sm_htab_del(struct sm_htab *t, struct sm_hnode *node)
{
	struct sm_hnode **p;

	if (t->nb == 0)
		return;
	for (p = &t->b[node->hash & (t->nb - 1)]; *p != NULL; p = &(*p)->next)
		if (*p == node) {
			*p = node->next;
			node->next = NULL;
			t->n--;
			return;
		}
}

struct sm_hnode *
sm_htab_chain(const struct sm_htab *t, uint64_t hash)
{
	return t->nb ? t->b[hash & (t->nb - 1)] : NULL;
}

/* --- deadline heap --------------------------------------------------------- */

void
sm_due_init(struct sm_due *d, int kind)
{
	d->at = 0;
	d->idx = SM_DUE_NONE;
	d->kind = kind;
}

void
sm_heap_init(struct sm_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
}

void
sm_heap_free(struct sm_heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->idx = SM_DUE_NONE;
	free(h->v);
	sm_heap_init(h);
}

static void
sm_heap_put(struct sm_heap *h, size_t i, struct sm_due *d)
{
	h->v[i] = d;
	d->idx = i;
}

static void
sm_heap_up(struct sm_heap *h, size_t i)
{
	struct sm_due *d = h->v[i];

	while (i > 0 && h->v[(i - 1) / 2]->at > d->at) {
		sm_heap_put(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	sm_heap_put(h, i, d);
}

static void
sm_heap_down(struct sm_heap *h, size_t i)
{
	struct sm_due *d = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
			c++;
		if (h->v[c]->at >= d->at)
			break;
		sm_heap_put(h, i, h->v[c]);
		i = c;
	}
	sm_heap_put(h, i, d);
}

void
sm_heap_set(struct sm_heap *h, struct sm_due *d, uint64_t at)
{
	if (d->idx == SM_DUE_NONE) {
		if (h->n == h->cap) {
			h->cap = h->cap ? 2 * h->cap : 64;
			h->v = xreallocarray(h->v, h->cap, sizeof *h->v);
		}
		d->at = at;
		h->v[h->n] = d;
		d->idx = h->n++;
		sm_heap_up(h, d->idx);
		return;
	}
	if (at < d->at) {
		d->at = at;
		sm_heap_up(h, d->idx);
	} else if (at > d->at) {
		d->at = at;
		sm_heap_down(h, d->idx);
	}
}

void
sm_heap_del(struct sm_heap *h, struct sm_due *d)
{
	size_t i = d->idx;
	struct sm_due *last;

	if (i == SM_DUE_NONE)
		return;
	d->idx = SM_DUE_NONE;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	/* The last entry fills the hole and moves whichever way it must. */
	sm_heap_put(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->at > last->at)
		sm_heap_up(h, i);
	else
		sm_heap_down(h, i);
}

struct sm_due *
sm_heap_top(const struct sm_heap *h)
{
	return h->n ? h->v[0] : NULL;
}
