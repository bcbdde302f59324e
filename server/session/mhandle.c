/* mhandle.c: handles kept in the master's memory (see mhandle.h).  A
 * sorted array by (session, id): a lookup is a binary search, a session's
 * handles are one run (counted and dropped together).  Those that asked
 * for events are in a second array too, by (path, session, id), so that
 * an applied command's events find them by node in O(log n). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "session/mhandle.h"
#include "xmalloc.h"

struct mh_table {
	struct mhandle **v;
	size_t n, cap;
	uint32_t next; /* the counter of the ids handed out */
	struct mhandle **w; /* those with events, by (path, session, id) */
	size_t nw, capw;
};

struct mh_table *
mh_new(void)
{
	return xcalloc(1, sizeof(struct mh_table));
}

static void
mh_one_free(struct mhandle *h)
{
	free(h->path);
	free(h);
}

void
mh_clear(struct mh_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		mh_one_free(t->v[i]);
	t->n = 0;
	t->nw = 0;
}

void
mh_free(struct mh_table *t)
{
	if (t == NULL)
		return;
	mh_clear(t);
	free(t->v);
	free(t->w);
	free(t);
}

static int
mh_cmp(uint64_t s1, uint64_t i1, uint64_t s2, uint64_t i2)
{
	if (s1 != s2)
		return s1 < s2 ? -1 : 1;
	if (i1 != i2)
		return i1 < i2 ? -1 : 1;
	return 0;
}

/* The position of the first entry not below (SESSION, ID). */
static size_t
mh_lower(const struct mh_table *t, uint64_t session, uint64_t id)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mh_cmp(t->v[mid]->session, t->v[mid]->id, session, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The watcher index's order: by path, then (session, id). */
static int
mh_wcmp(const struct mhandle *h, const char *path, uint64_t session, uint64_t id)
{
	int c = strcmp(h->path, path);

	return c != 0 ? c : mh_cmp(h->session, h->id, session, id);
}

/* The position in T->w of the first entry not below (PATH, SESSION, ID). */
static size_t
mh_wlower(const struct mh_table *t, const char *path, uint64_t session, uint64_t id)
{
	size_t lo = 0, hi = t->nw;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mh_wcmp(t->w[mid], path, session, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Takes H out of the watcher index, if it is there. */
static void
mh_unwatch(struct mh_table *t, const struct mhandle *h)
{
	size_t i;

	if (h->events == 0)
		return;
	i = mh_wlower(t, h->path, h->session, h->id);
	if (i < t->nw && t->w[i] == h) {
		memmove(&t->w[i], &t->w[i + 1], (t->nw - i - 1) * sizeof *t->w);
		t->nw--;
	}
}

void
mh_set_events(struct mh_table *t, struct mhandle *h, uint32_t mask)
{
	size_t i;

	mh_unwatch(t, h);
	h->events = mask;
	if (mask == 0)
		return;
	i = mh_wlower(t, h->path, h->session, h->id);
	if (t->nw == t->capw) {
		t->capw = t->capw != 0 ? 2 * t->capw : 16;
		t->w = xrealloc(t->w, t->capw * sizeof *t->w);
	}
	memmove(&t->w[i + 1], &t->w[i], (t->nw - i) * sizeof *t->w);
	t->w[i] = h;
	t->nw++;
}

struct mhandle *const *
mh_watchers(const struct mh_table *t, const char *path, size_t *n)
{
	size_t i = mh_wlower(t, path, 0, 0), j = i;

	while (j < t->nw && strcmp(t->w[j]->path, path) == 0)
		j++;
	*n = j - i;
	return t->w != NULL ? &t->w[i] : NULL;
}

struct mhandle *
mh_find(const struct mh_table *t, uint64_t session, uint64_t id)
{
	size_t i = mh_lower(t, session, id);

	return i < t->n && t->v[i]->session == session && t->v[i]->id == id ? t->v[i] : NULL;
}

struct mhandle *
mh_find_rid(const struct mh_table *t, uint64_t session, uint64_t rid)
{
	/* A session's handles are few (max_handles), and this runs only for
	 * an OPEN with a request id. */
	for (size_t i = mh_lower(t, session, 0); rid != 0 && i < t->n && t->v[i]->session == session;
	     i++)
		if (t->v[i]->rid == rid)
			return t->v[i];
	return NULL;
}

uint64_t
mh_next_id(struct mh_table *t, uint64_t epoch, uint64_t session)
{
	uint64_t id;

	/* A re-created handle of an earlier epoch may have wrapped onto
	 * this one's run: skipped (2^32 ids per epoch make it moot). */
	do
		id = MH_ID_BIT | ((epoch & 0x7fffffffULL) << 32) | (uint64_t)t->next++;
	while (mh_find(t, session, id) != NULL);
	return id;
}

struct mhandle *
mh_add(struct mh_table *t, uint64_t session, uint64_t id, const char *path, uint64_t instance,
    uint32_t flags)
{
	size_t i = mh_lower(t, session, id);
	struct mhandle *h = xcalloc(1, sizeof *h);

	h->session = session;
	h->id = id;
	h->path = xstrdup(path);
	h->instance = instance;
	h->flags = flags;
	if (t->n == t->cap) {
		t->cap = t->cap != 0 ? 2 * t->cap : 16;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
	t->v[i] = h;
	t->n++;
	return h;
}

bool
mh_remove(struct mh_table *t, uint64_t session, uint64_t id)
{
	size_t i = mh_lower(t, session, id);

	if (i >= t->n || t->v[i]->session != session || t->v[i]->id != id)
		return false;
	mh_unwatch(t, t->v[i]);
	mh_one_free(t->v[i]);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
	t->n--;
	return true;
}

void
mh_drop_session(struct mh_table *t, uint64_t session)
{
	size_t i = mh_lower(t, session, 0), j = i;

	while (j < t->n && t->v[j]->session == session) {
		mh_unwatch(t, t->v[j]);
		mh_one_free(t->v[j++]);
	}
	if (j == i)
		return; /* none (t->v may be NULL: memmove must not see it) */
	memmove(&t->v[i], &t->v[j], (t->n - j) * sizeof *t->v);
	t->n -= j - i;
}

size_t
mh_count(const struct mh_table *t, uint64_t session)
{
	return mh_lower(t, session + 1, 0) - mh_lower(t, session, 0);
}

size_t
mh_total(const struct mh_table *t)
{
	return t->n;
}
