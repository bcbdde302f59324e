/* pxcore.c: chubby-proxy's client sessions, handles, cache and invalidation relay (pxcore.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pxcore.h"
#include "xmalloc.h"

/* ---- a chained hash table of 64-bit keys (links embedded in the items) ---- */

static uint64_t
px_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t
px_strhash(uint64_t h, const char *s)
{
	/* FNV-1a, continued from H. */
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
tab_grow(struct px_tab *t)
{
	size_t nb = t->nb == 0 ? 64 : t->nb * 2;
	struct px_link **b = xcalloc(nb, sizeof *b);

	for (size_t i = 0; i < t->nb; i++) {
		struct px_link *l = t->b[i], *next;
		for (; l != NULL; l = next) {
			next = l->next;
			size_t j = px_mix(l->key) & (nb - 1);
			l->next = b[j];
			b[j] = l;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void
tab_put(struct px_tab *t, struct px_link *l, uint64_t key)
{
	if (t->n >= t->nb)
		tab_grow(t);
	size_t j = px_mix(key) & (t->nb - 1);
	l->key = key;
	l->next = t->b[j];
	t->b[j] = l;
	t->n++;
}

static struct px_link *
tab_first(const struct px_tab *t, uint64_t key)
{
	if (t->nb == 0)
		return NULL;
	for (struct px_link *l = t->b[px_mix(key) & (t->nb - 1)]; l != NULL; l = l->next)
		if (l->key == key)
			return l;
	return NULL;
}

static struct px_link *
tab_next(struct px_link *l, uint64_t key)
{
	for (l = l->next; l != NULL; l = l->next)
		if (l->key == key)
			return l;
	return NULL;
}

static void
tab_del(struct px_tab *t, struct px_link *l)
{
	struct px_link **pp = &t->b[px_mix(l->key) & (t->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			t->n--;
			return;
		}
	}
}

#define PX_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- small arrays ---- */

static void
ptr_del(void **a, size_t *n, const void *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (a[i] == p) {
			a[i] = a[--*n];
			return;
		}
	}
}

static bool
ptr_has(void *const *a, size_t n, const void *p)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == p)
			return true;
	return false;
}

static void
ptr_add(void ***a, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 4 : *cap * 2;
		*a = xreallocarray(*a, *cap, sizeof **a);
	}
	(*a)[(*n)++] = p;
}

/* ---- the core ---- */

void
px_init(struct pxcore *px, uint64_t session_lease_ms, uint32_t incarnation)
{
	memset(px, 0, sizeof *px);
	px->session_lease_ms = session_lease_ms;
	/* The lower half of the 20 bits: px_epoch_raise climbs from there. */
	px->incarnation = (incarnation & 0x7ffff) != 0 ? incarnation & 0x7ffff : 1;
}

uint64_t
px_epoch(const struct pxcore *px)
{
	/* docs/PROXY.md "Epochs": a master epoch above 2^44 would not fit;
	 * masters count epochs one by one from 1. */
	return px->master_epoch << 20 | px->incarnation;
}

static struct px_centry *
cache_find(struct pxcore *px, const struct px_up *up, const char *path)
{
	uint64_t key = px_strhash(px_mix((uint64_t)(uintptr_t)up), path);

	for (struct px_link *l = tab_first(&px->cache, key); l != NULL; l = tab_next(l, key)) {
		struct px_centry *e = PX_CONTAINER(l, struct px_centry, link);
		if (e->up == up && strcmp(e->path, path) == 0)
			return e;
	}
	return NULL;
}

static struct px_centry *
cache_get(struct pxcore *px, struct px_up *up, const char *path)
{
	struct px_centry *e = cache_find(px, up, path);

	if (e != NULL)
		return e;
	e = xcalloc(1, sizeof *e);
	e->up = up;
	e->path = xstrdup(path);
	e->gen = ++px->gen_seq;
	tab_put(&px->cache, &e->link, px_strhash(px_mix((uint64_t)(uintptr_t)up), path));
	px->ncache++;
	return e;
}

static void
cache_drop_data(struct px_centry *e)
{
	free(e->data);
	e->data = NULL;
	e->len = 0;
}

/* Frees E if nothing refers to it any more. */
static void
cache_gc(struct pxcore *px, struct px_centry *e)
{
	if (e->data != NULL || e->nclients > 0 || e->pending > 0 || e->reading > 0)
		return;
	tab_del(&px->cache, &e->link);
	px->ncache--;
	free(e->clients);
	free(e->path);
	free(e);
}

static void
cache_unlink_client(struct px_centry *e, struct px_client *c)
{
	ptr_del((void **)e->clients, &e->nclients, c);
	ptr_del((void **)c->cached, &c->ncached, e);
}

/* Forgets everything cached of E (an epoch or upstream session gone):
 * its clients no longer count as caching it, a read in flight may not
 * keep its answer (the generation moved), and E goes if nothing else
 * refers to it. */
static void
cache_flush_entry(struct pxcore *px, struct px_centry *e)
{
	while (e->nclients > 0)
		cache_unlink_client(e, e->clients[0]);
	cache_drop_data(e);
	e->gen = ++px->gen_seq;
	cache_gc(px, e);
}

static void
wake(struct pxcore *px, struct px_client *c)
{
	if (c->ka == NULL || c->woken)
		return;
	c->woken = true;
	ptr_add((void ***)&px->wakes, &px->nwakes, &px->capwakes, c);
}

static void
up_queue_ack(struct px_up *up, uint64_t id)
{
	if (up->nacks == up->capacks) {
		up->capacks = up->capacks == 0 ? 8 : up->capacks * 2;
		up->acks = xreallocarray(up->acks, up->capacks, sizeof *up->acks);
	}
	up->acks[up->nacks++] = id;
}

static void
relay_free(struct pxcore *px, struct px_relay *r, bool ack)
{
	struct px_relay **pp;

	for (pp = &px->relays; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (ack)
		up_queue_ack(r->up, r->up_id);
	r->entry->pending--;
	cache_gc(px, r->entry);
	free(r->wait);
	free(r);
}

/* C no longer holds up relay R (it acked, or it ended). */
static void
relay_done_for(struct pxcore *px, struct px_relay *r, struct px_client *c)
{
	ptr_del((void **)r->wait, &r->nwait, c);
	if (r->nwait == 0)
		relay_free(px, r, true);
}

static void
client_drop_inv(struct px_client *c, size_t i)
{
	free(c->inv[i].path);
	c->inv[i] = c->inv[--c->ninv];
}

static void
client_drop_events(struct px_client *c)
{
	for (size_t i = 0; i < c->nev; i++)
		free(c->ev[i].path);
	c->nev = 0;
}

bool
px_epoch_raise(struct pxcore *px, uint64_t seen)
{
	if (seen < px_epoch(px) || seen >> 20 != px->master_epoch || (seen & 0xfffff) == 0xfffff)
		return false;
	px->incarnation = (uint32_t)(seen & 0xfffff) + 1;
	return true;
}

bool
px_set_master_epoch(struct pxcore *px, uint64_t epoch)
{
	if (epoch == px->master_epoch)
		return false;
	px->master_epoch = epoch;
	/* A new master knows nobody caches anything (docs/PROTOCOL.md "Cache
	 * invalidation"): drop the relays without acking, the cache, and the
	 * clients' events and invalidations; the clients flush on the new
	 * epoch. */
	while (px->relays != NULL)
		relay_free(px, px->relays, false);
	for (size_t i = 0; i < px->cache.nb; i++) {
		struct px_link *l = px->cache.b[i], *next;
		for (; l != NULL; l = next) {
			struct px_centry *e = PX_CONTAINER(l, struct px_centry, link);
			next = l->next;
			cache_flush_entry(px, e);
		}
	}
	for (size_t i = 0; i < px->clients.nb; i++) {
		for (struct px_link *l = px->clients.b[i]; l != NULL; l = l->next) {
			struct px_client *c = PX_CONTAINER(l, struct px_client, link);
			client_drop_events(c);
			while (c->ninv > 0)
				client_drop_inv(c, 0);
		}
	}
	for (struct px_up *up = px->ups; up != NULL; up = up->next) {
		up->nacks = 0;
		up->ev_ack = 0;
	}
	return true;
}

struct px_up *
px_up_get(struct pxcore *px, const char *principal, bool create)
{
	struct px_up *up;

	for (up = px->ups; up != NULL; up = up->next)
		if (strcmp(up->principal, principal) == 0)
			return up;
	if (!create)
		return NULL;
	up = xcalloc(1, sizeof *up);
	up->principal = xstrdup(principal);
	up->state = PX_UP_NONE;
	up->next_rid = 1;
	up->next = px->ups;
	px->ups = up;
	px->nups++;
	return up;
}

static uint64_t offer(const struct pxcore *px, int64_t up_end, int64_t now);

void
px_up_renewed(struct pxcore *px, struct px_up *up, uint64_t session, int64_t lease_end,
    int64_t now)
{
	bool back = up->state != PX_UP_OK;

	up->session = session;
	up->lease_end = lease_end;
	if (lease_end <= now) {
		/* An answer read late (the proxy was stopped or starved while
		 * it was in flight): its lease, counted from the send, has
		 * ended.  Still cut off; the next KeepAlive's answer decides. */
		if (up->state == PX_UP_OK)
			up->state = PX_UP_JEOPARDY;
		return;
	}
	up->state = PX_UP_OK;
	if (!back)
		return;
	for (size_t i = 0; i < px->clients.nb; i++) {
		for (struct px_link *l = px->clients.b[i]; l != NULL; l = l->next) {
			struct px_client *c = PX_CONTAINER(l, struct px_client, link);
			/* A client still to be claimed gets nothing yet. */
			if (c->up != up || c->reclaim)
				continue;
			int64_t g = (int64_t)offer(px, lease_end, now);
			if (c->lease_end < now + g)
				c->lease_end = now + g;
			/* Held KeepAlives waited for this: answer them. */
			if (c->ka != NULL && !c->woken) {
				c->woken = true;
				ptr_add((void ***)&px->wakes, &px->nwakes, &px->capwakes, c);
			}
		}
	}
}

void
px_up_jeopardy(struct pxcore *px, struct px_up *up)
{
	(void)px;
	if (up->state == PX_UP_OK)
		up->state = PX_UP_JEOPARDY;
}

void
px_up_lost(struct pxcore *px, struct px_up *up, uint64_t **ids, size_t *n)
{
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	/* The master forgot what this session caches and what it was told:
	 * its relays go without an ack (the master dropped them), and its
	 * cache entries with them, as on a new master epoch. */
	for (struct px_relay *r = px->relays, *next; r != NULL; r = next) {
		next = r->next;
		if (r->up == up)
			relay_free(px, r, false);
	}
	for (size_t i = 0; i < px->cache.nb; i++) {
		struct px_link *l = px->cache.b[i], *next;
		for (; l != NULL; l = next) {
			struct px_centry *e = PX_CONTAINER(l, struct px_centry, link);
			next = l->next;
			if (e->up != up)
				continue;
			cache_flush_entry(px, e);
		}
	}
	/* Its clients' handles are orphaned at the master for the claim
	 * window, not gone: each is held (no lease extended, none expired)
	 * until claimed onto the principal's next upstream session. */
	for (size_t i = 0; i < px->clients.nb; i++) {
		for (struct px_link *l = px->clients.b[i]; l != NULL; l = l->next) {
			struct px_client *c = PX_CONTAINER(l, struct px_client, link);
			if (c->up != up || c->lost)
				continue;
			c->reclaim = true;
			client_drop_events(c);
			while (c->ninv > 0)
				client_drop_inv(c, 0);
			if (*n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				*ids = xreallocarray(*ids, cap, sizeof **ids);
			}
			(*ids)[(*n)++] = c->id;
		}
	}
	up->session = 0;
	up->state = PX_UP_NONE;
	up->lease_end = 0;
	up->nacks = 0;
	up->ev_ack = 0;
}

bool
px_client_claimed(struct pxcore *px, struct px_client *c, bool ok)
{
	if (!c->reclaim)
		return false;
	c->reclaim = false;
	if (!ok) {
		c->lost = true; /* released at the master: px_next_expired ends it */
		return false;
	}
	if (c->ending)
		return true; /* its handles are here again: end them */
	/* A held KeepAlive waited for this: answer it with the lease now
	 * granted. */
	if (c->ka != NULL && !c->woken) {
		c->woken = true;
		ptr_add((void ***)&px->wakes, &px->nwakes, &px->capwakes, c);
	}
	return false;
}

void
px_up_refused(struct pxcore *px, struct px_up *up, uint64_t **ids, size_t *n)
{
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	for (size_t i = 0; i < px->clients.nb; i++) {
		for (struct px_link *l = px->clients.b[i]; l != NULL; l = l->next) {
			struct px_client *c = PX_CONTAINER(l, struct px_client, link);
			if (c->up != up || !c->reclaim)
				continue;
			c->reclaim = false;
			c->lost = true;
			if (*n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				*ids = xreallocarray(*ids, cap, sizeof **ids);
			}
			(*ids)[(*n)++] = c->id;
		}
	}
}

bool
px_client_end_wait(struct pxcore *px, struct px_client *c)
{
	(void)px;
	if (!c->reclaim)
		return false;
	c->ending = true;
	return true;
}

void
px_up_take_acks(struct px_up *up, uint64_t **out, size_t *n)
{
	*n = up->nacks;
	*out = NULL;
	if (up->nacks == 0)
		return;
	*out = xmemdup(up->acks, up->nacks * sizeof *up->acks);
	up->nacks = 0;
}

struct px_client *
px_client_get(struct pxcore *px, uint64_t id)
{
	struct px_link *l = tab_first(&px->clients, id);

	return l == NULL ? NULL : PX_CONTAINER(l, struct px_client, link);
}

struct px_client *
px_client_by_nonce(struct pxcore *px, const char *principal, uint64_t nonce)
{
	uint64_t key = px_strhash(nonce, principal);

	if (nonce == 0)
		return NULL;
	for (struct px_link *l = tab_first(&px->by_nonce, key); l != NULL; l = tab_next(l, key)) {
		struct px_client *c = PX_CONTAINER(l, struct px_client, nlink);
		if (c->nonce == nonce && strcmp(c->up->principal, principal) == 0)
			return c;
	}
	return NULL;
}

struct px_client *
px_client_new(struct pxcore *px, struct px_up *up, uint64_t id, uint64_t nonce)
{
	struct px_client *c = xcalloc(1, sizeof *c);

	c->id = id;
	c->nonce = nonce;
	c->up = up;
	tab_put(&px->clients, &c->link, id);
	if (nonce != 0)
		tab_put(&px->by_nonce, &c->nlink, px_strhash(nonce, up->principal));
	px->nclients++;
	return c;
}

void
px_set_lease(struct pxcore *px, uint64_t lease_ms, uint64_t slack_ms)
{
	px->session_lease_ms = lease_ms;
	px->lease_slack_ms = slack_ms;
}

/* A second for the messages between client, proxy and master. */
#define PX_SLACK_MARGIN_MS 1000

uint64_t
px_lease_slack(uint64_t claim_window_ms, uint64_t grace_ms)
{
	/* The window is counted by the master's clock and the grace period by
	 * the client's; the proxy's may run 0.1% fast or slow against either. */
	uint64_t window = claim_window_ms - claim_window_ms / 1000;
	uint64_t need = grace_ms + grace_ms / 1000 + PX_SLACK_MARGIN_MS;

	return window > need ? window - need : 0;
}

/* The lease C may be granted from an upstream lease ending at UP_END, at
 * NOW: 0 if that lease has ended. */
static uint64_t
offer(const struct pxcore *px, int64_t up_end, int64_t now)
{
	int64_t left = up_end - now;
	uint64_t bound;

	if (left <= 0)
		return 0;
	/* A client's lease never outlives its locks.  They are the upstream
	 * session's until its lease ends at the master (never before UP_END,
	 * counted from the send with drift), then orphaned, held, for the
	 * claim window; the slack ends early enough in that window for the
	 * client to claim them elsewhere within its grace period. */
	bound = (uint64_t)left + px->lease_slack_ms;
	return bound < px->session_lease_ms ? bound : px->session_lease_ms;
}

uint64_t
px_client_offer(const struct pxcore *px, const struct px_client *c, int64_t now)
{
	if (c->up->state != PX_UP_OK || c->reclaim)
		return 0;
	return offer(px, c->up->lease_end, now);
}

uint64_t
px_client_grant(struct pxcore *px, struct px_client *c, int64_t now)
{
	uint64_t g = px_client_offer(px, c, now);

	if (g > 0 && c->lease_end < now + (int64_t)g)
		c->lease_end = now + (int64_t)g;
	return g;
}

bool
px_client_has_news(const struct px_client *c)
{
	return c->nev > 0 || c->ninv > 0;
}

static struct px_relay *
relay_find(struct pxcore *px, uint64_t id)
{
	for (struct px_relay *r = px->relays; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

bool
px_client_keepalive(struct pxcore *px, struct px_client *c, uint64_t ev_ack,
    const uint64_t *acks, size_t nacks)
{
	size_t k = 0;

	for (size_t i = 0; i < c->nev; i++) {
		if (c->ev[i].id <= ev_ack)
			free(c->ev[i].path);
		else
			c->ev[k++] = c->ev[i];
	}
	c->nev = k;
	for (size_t i = 0; i < nacks; i++) {
		for (size_t j = 0; j < c->ninv; j++) {
			if (c->inv[j].id != acks[i])
				continue;
			client_drop_inv(c, j);
			struct px_relay *r = relay_find(px, acks[i]);
			if (r != NULL)
				relay_done_for(px, r, c);
			break;
		}
	}
	return px_client_has_news(c);
}

void
px_client_end(struct pxcore *px, struct px_client *c)
{
	struct px_relay *r, *next;

	while (c->handles != NULL)
		px_handle_del(px, c->handles->id);
	while (c->ncached > 0) {
		struct px_centry *e = c->cached[0];
		cache_unlink_client(e, c);
		cache_gc(px, e);
	}
	/* Relays waiting for it go on without it: the master waits for a
	 * session's ack "or its lease has ended", and so does the proxy. */
	for (r = px->relays; r != NULL; r = next) {
		next = r->next;
		if (ptr_has((void *const *)r->wait, r->nwait, c))
			relay_done_for(px, r, c);
	}
	if (c->woken)
		ptr_del((void **)px->wakes, &px->nwakes, c);
	tab_del(&px->clients, &c->link);
	if (c->nonce != 0)
		tab_del(&px->by_nonce, &c->nlink);
	px->nclients--;
	client_drop_events(c);
	while (c->ninv > 0)
		client_drop_inv(c, 0);
	free(c->ev);
	free(c->inv);
	free(c->cached);
	free(c->rids);
	free(c);
}

struct px_client *
px_next_expired(struct pxcore *px, int64_t now)
{
	for (size_t i = 0; i < px->clients.nb; i++) {
		for (struct px_link *l = px->clients.b[i]; l != NULL; l = l->next) {
			struct px_client *c = PX_CONTAINER(l, struct px_client, link);
			/* While the proxy is cut off from the master its clients'
			 * leases do not run out here: they are in jeopardy at their
			 * end and get a fresh lease when the master is back, as a
			 * new master gives every session (Chubby §2.9). */
			if (c->lost ||
			    (!c->reclaim && c->up->state == PX_UP_OK && c->lease_end <= now))
				return c;
		}
	}
	return NULL;
}

size_t
px_take_wakes(struct pxcore *px, struct px_client ***out)
{
	size_t n = px->nwakes;

	for (size_t i = 0; i < n; i++)
		px->wakes[i]->woken = false;
	*out = px->wakes;
	px->nwakes = 0;
	return n;
}

uint64_t
px_client_rid(struct px_client *c, uint64_t crid, uint64_t floor)
{
	size_t k = 0;

	if (crid == 0)
		return 0;
	for (size_t i = 0; i < c->nrids; i++)
		if (c->rids[i].crid >= floor)
			c->rids[k++] = c->rids[i];
	c->nrids = k;
	for (size_t i = 0; i < c->nrids; i++)
		if (c->rids[i].crid == crid)
			return c->rids[i].urid;
	if (c->nrids == PX_MAX_RIDS) {
		/* The oldest is forgotten, as the master forgets past 1024. */
		memmove(c->rids, c->rids + 1, (PX_MAX_RIDS - 1) * sizeof *c->rids);
		c->nrids--;
	}
	if (c->nrids == c->caprids) {
		/* Grown as used: most clients keep a few writes in flight. */
		c->caprids = c->caprids == 0 ? 4 : c->caprids * 2;
		c->rids = xreallocarray(c->rids, c->caprids, sizeof *c->rids);
	}
	c->rids[c->nrids].crid = crid;
	c->rids[c->nrids].urid = c->up->next_rid++;
	return c->rids[c->nrids++].urid;
}

void
px_handle_add(struct pxcore *px, struct px_client *c, uint64_t id, const char *path,
    uint32_t flags)
{
	struct px_handle *h = px_handle_get(px, id);

	if (h != NULL)
		return; /* a re-sent OPEN answered with the first outcome */
	h = xcalloc(1, sizeof *h);
	h->id = id;
	h->client = c;
	h->path = xstrdup(path);
	h->flags = flags;
	h->next = c->handles;
	if (c->handles != NULL)
		c->handles->prev = h;
	c->handles = h;
	c->nhandles++;
	tab_put(&px->handles, &h->link, id);
}

struct px_handle *
px_handle_get(struct pxcore *px, uint64_t id)
{
	struct px_link *l = tab_first(&px->handles, id);

	return l == NULL ? NULL : PX_CONTAINER(l, struct px_handle, link);
}

void
px_handle_del(struct pxcore *px, uint64_t id)
{
	struct px_handle *h = px_handle_get(px, id);

	if (h == NULL)
		return;
	tab_del(&px->handles, &h->link);
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		h->client->handles = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	h->client->nhandles--;
	free(h->path);
	free(h);
}

void
px_route_event(struct pxcore *px, struct px_up *up, uint64_t up_id, uint32_t type,
    uint64_t handle, const char *path, uint64_t gen, bool has_gen)
{
	struct px_handle *h = px_handle_get(px, handle);
	struct px_client *c;

	if (up_id > up->ev_ack)
		up->ev_ack = up_id;
	if (h == NULL || h->client->up != up)
		return;
	c = h->client;
	if (c->nev == PX_MAX_EVENTS) {
		free(c->ev[0].path);
		memmove(c->ev, c->ev + 1, (c->nev - 1) * sizeof *c->ev);
		c->nev--;
	}
	if (c->nev == c->capev) {
		c->capev = c->capev == 0 ? 4 : c->capev * 2;
		c->ev = xreallocarray(c->ev, c->capev, sizeof *c->ev);
	}
	c->ev[c->nev].id = ++px->ev_seq;
	c->ev[c->nev].type = type;
	c->ev[c->nev].handle = handle;
	c->ev[c->nev].path = xstrdup(path != NULL ? path : "");
	c->ev[c->nev].gen = gen;
	c->ev[c->nev].has_gen = has_gen;
	c->nev++;
	wake(px, c);
}

void
px_route_inval(struct pxcore *px, struct px_up *up, uint64_t up_id, const char *path)
{
	struct px_centry *e = cache_get(px, up, path);
	struct px_relay *r;

	px->st.relays++;
	cache_drop_data(e);
	e->gen = ++px->gen_seq;
	if (e->nclients == 0) {
		/* Nobody here caches it: the master may go on at once. */
		up_queue_ack(up, up_id);
		cache_gc(px, e);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->id = ++px->relay_seq;
	r->up_id = up_id;
	r->up = up;
	r->entry = e;
	e->pending++;
	/* The entry's cachers move to the relay: once they acked, the master
	 * forgets them for this node and so does the proxy. */
	r->wait = xcalloc(e->nclients, sizeof *r->wait);
	while (e->nclients > 0) {
		struct px_client *c = e->clients[0];
		r->wait[r->nwait++] = c;
		cache_unlink_client(e, c);
		if (c->ninv == c->capinv) {
			c->capinv = c->capinv == 0 ? 4 : c->capinv * 2;
			c->inv = xreallocarray(c->inv, c->capinv, sizeof *c->inv);
		}
		c->inv[c->ninv].id = r->id;
		c->inv[c->ninv].path = xstrdup(path);
		c->ninv++;
		wake(px, c);
	}
	r->next = px->relays;
	px->relays = r;
}

static void
cache_add_client(struct px_centry *e, struct px_client *c)
{
	if (ptr_has((void *const *)e->clients, e->nclients, c))
		return;
	ptr_add((void ***)&e->clients, &e->nclients, &e->capclients, c);
	ptr_add((void ***)&c->cached, &c->ncached, &c->capcached, e);
}

const uint8_t *
px_cache_lookup(struct pxcore *px, struct px_client *c, const char *path, size_t *len)
{
	struct px_centry *e = cache_find(px, c->up, path);

	if (e == NULL || e->data == NULL || e->pending > 0 || c->up->state != PX_UP_OK) {
		px->st.misses++;
		return NULL;
	}
	px->st.hits++;
	cache_add_client(e, c);
	*len = e->len;
	return e->data;
}

uint64_t
px_read_begin(struct pxcore *px, struct px_client *c, const char *path)
{
	struct px_centry *e = cache_get(px, c->up, path);

	e->reading++;
	return e->gen;
}

bool
px_read_done(struct pxcore *px, struct px_up *up, struct px_client *c, const char *path,
    uint64_t token, bool up_cacheable, const uint8_t *data, size_t len)
{
	struct px_centry *e = cache_find(px, up, path);
	bool ok;

	if (e == NULL)
		return false; /* flushed meanwhile: a new epoch */
	if (e->reading > 0)
		e->reading--;
	ok = c != NULL && c->up == up && up_cacheable && data != NULL && e->gen == token &&
	    e->pending == 0;
	if (ok) {
		cache_add_client(e, c);
		cache_drop_data(e);
		e->data = xmemdup(data, len);
		e->len = len;
	}
	cache_gc(px, e);
	return ok;
}

void
px_free(struct pxcore *px)
{
	struct px_up *up, *next;

	for (size_t i = 0; i < px->clients.nb; i++) {
		while (px->clients.b[i] != NULL)
			px_client_end(px, PX_CONTAINER(px->clients.b[i], struct px_client, link));
	}
	while (px->relays != NULL)
		relay_free(px, px->relays, false);
	for (size_t i = 0; i < px->cache.nb; i++) {
		while (px->cache.b[i] != NULL) {
			struct px_centry *e = PX_CONTAINER(px->cache.b[i], struct px_centry, link);
			cache_drop_data(e);
			e->reading = 0;
			cache_gc(px, e);
		}
	}
	for (up = px->ups; up != NULL; up = next) {
		next = up->next;
		free(up->principal);
		free(up->acks);
		free(up);
	}
	free(px->clients.b);
	free(px->by_nonce.b);
	free(px->handles.b);
	free(px->cache.b);
	free(px->wakes);
	memset(px, 0, sizeof *px);
}
