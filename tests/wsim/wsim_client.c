/*
 * wsim_client.c: one simulated client: libchubby's session core
 * (libchubby/csess.c, the real one: its actions drive connects,
 * WHERE_IS_MASTER, SESSION_START, KeepAlives, reissues and failures), a
 * cache, and a client model calling the API at random.
 *
 * The shell around csess re-implements what libchubby/client_loop.c does
 * with its actions and replies (the acks a KeepAlive carries, dropping an
 * invalidated path before acknowledging it, keeping a GET_CONTENTS answer
 * only when cacheable and csess_cache_usable(), re-sending a request with
 * the same rid on REISSUE_PENDING after NOT_MASTER, BAD_EPOCH or a new
 * connection, rid_floor).  The cache is libchubby's own (ccache.c, split
 * out of the threaded client as a pure core), kept as client_loop.c and
 * client.c keep it: filled from cacheable answers while the lease holds by
 * the clock, emptied on CACHE_DISABLE and CACHE_FLUSH, a path dropped on an
 * invalidation and on the client's own write, a copy of an older instance
 * dropped when OPEN finds a newer one.  Beside it the model caches a name's
 * absence (Chubby §2.9), which libchubby does not yet.  Two application
 * threads keep a call out each.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "mp.h"
#include "ns/ns.h"
#include "wsim_int.h"
#include "xmalloc.h"

#define W_NFILES 3
#define W_NLOCKS 2

static uint64_t
w_cnow(const struct w_client *c)
{
	return w_clocal(c, c->w->now);
}

static void w_act(struct world *w, struct w_client *c, const struct csess_action *a);
static void w_call_send(struct world *w, struct w_client *c, struct w_call *k, uint64_t cid);

static void
w_feed(struct world *w, struct w_client *c, struct csess_event *ev)
{
	struct csess_actions acts;

	ev->now = w_cnow(c);
	w->steps++;
	if (csess_step(c->cs, ev, &acts) != CHUBBY_OK) {
		w_fail(w, "c%u: csess_step refused event %d", c->id, (int)ev->type);
		return;
	}
	for (size_t i = 0; i < acts.n && !w->failed; i++)
		w_act(w, c, &acts.v[i]);
	/* After every step, what may go goes (client_loop.c's cl_after). */
	for (int i = 0; i < W_THREADS && !w->failed; i++)
		if (c->call[i].active && c->call[i].sent_conn == 0 && c->cur_conn != 0 &&
		    csess_accepts_requests(c->cs))
			w_call_send(w, c, &c->call[i], c->cur_conn);
}

/* The world's connection the core calls CID, or SIZE_MAX. */
static size_t
w_conn_of(const struct world *w, const struct w_client *c, uint64_t cid)
{
	for (size_t i = w->nconns; i-- > 0;)
		if (w->conns[i].client == c->id && w->conns[i].cid == cid && w->conns[i].open)
			return i;
	return SIZE_MAX;
}

static void
w_send(struct world *w, struct w_client *c, uint64_t cid, struct w_req *rq)
{
	size_t conn = w_conn_of(w, c, cid);
	struct w_req *copy;

	if (conn == SIZE_MAX)
		return; /* gone: the core hears DISCONNECTED */
	copy = xmemdup(rq, sizeof *rq);
	w_send_req(w, conn, copy);
}

/* ---- the cache: libchubby's (ccache.c), kept as client_loop.c keeps it -- */

static void
w_cache_clear(struct w_client *c)
{
	ccache_clear(&c->cache);
	memset(c->absent, 0, sizeof c->absent);
}

static void
w_cache_drop(struct w_client *c, const char *path)
{
	ccache_drop(&c->cache, path, strlen(path));
	for (size_t i = 0; i < sizeof c->absent / sizeof c->absent[0]; i++)
		if (strcmp(c->absent[i], path) == 0)
			c->absent[i][0] = '\0';
}

/* PATH's cached copy for node INSTANCE (ccache_get): its value and content
 * generation; false when the cache cannot answer. */
static bool
w_cache_get(struct w_client *c, const char *path, uint64_t instance, char *val, size_t vlen,
    uint64_t *gen)
{
	struct chubby_stat st;
	void *data = NULL;
	size_t len = 0;

	if (ccache_get(&c->cache, path, instance, &data, &len, &st) != CHUBBY_OK)
		return false;
	snprintf(val, vlen, "%.*s", (int)len, (const char *)data);
	free(data);
	*gen = st.content_gen;
	return true;
}

/* Whether the cache says PATH has no node. */
static bool
w_cache_absent(struct w_client *c, const char *path)
{
	if (c->cache.disabled)
		return false;
	for (size_t i = 0; i < sizeof c->absent / sizeof c->absent[0]; i++)
		if (strcmp(c->absent[i], path) == 0)
			return true;
	return false;
}

static void
w_cache_put_absent(struct w_client *c, const char *path)
{
	size_t i;

	w_cache_drop(c, path);
	if (c->cache.disabled)
		return;
	for (i = 0; i < sizeof c->absent / sizeof c->absent[0] && c->absent[i][0] != '\0'; i++)
		;
	if (i == sizeof c->absent / sizeof c->absent[0])
		i = 0; /* full: the oldest name goes */
	snprintf(c->absent[i], sizeof c->absent[i], "%s", path);
}

static void
w_cache_put(struct w_client *c, const char *path, uint64_t instance, uint64_t gen,
    const char *val)
{
	struct chubby_stat st;

	memset(&st, 0, sizeof st);
	st.instance = instance;
	st.content_gen = gen;
	w_cache_drop(c, path);
	(void)ccache_put(&c->cache, path, val, strlen(val), &st);
}

/* ---- sessions --------------------------------------------------------- */

static void
w_session_new(struct world *w, struct w_client *c)
{
	struct csess_config cfg = w->ccfg;
	struct csess_event ev = {.type = CSESS_EV_START, .config = &cfg};

	if (c->cs != NULL)
		w_forget_session(w, csess_session_id(c->cs));
	/* The old core's connections go with it, as a closed libchubby
	 * client's do: the new core numbers its own from 1 again, and a
	 * connection of the old one still open under the same number would
	 * take the new one's requests (a client then sat "locating" forever:
	 * seeds 3088404219 and 24457073010263). */
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i].client == c->id)
			w->conns[i].open = false;
	csess_free(c->cs);
	c->cs = csess_new();
	cfg.seed = w_rand(&w->rng);
	/* A client on a slow link is configured for it, as an application on
	 * one would be: its connect and request timeouts outlast a round trip
	 * of its link (50-450 ms more each way).  With the cell's 500 ms it
	 * could never finish a WHERE_IS_MASTER once its session had expired,
	 * and sat locating for good (seeds 3088404219, 24457073010263).  So
	 * does its slack, the round trip it allows a held KeepAlive beyond
	 * the hold: with 300 ms the reply of every hold came too late, the
	 * link dropped, and an ACQUIRE waiting at the master went again and
	 * again, its timeout started over by every copy: seed 204. */
	if (c->id == w->slow_client) {
		uint64_t rtt = 2 * ((uint64_t)w->slow_ms + w->max_delay + 1);
		if (cfg.connect_timeout_ms < 500 + rtt)
			cfg.connect_timeout_ms = 500 + rtt;
		if (cfg.request_timeout_ms < 500 + rtt)
			cfg.request_timeout_ms = 500 + rtt;
		if (cfg.slack_ms < 300 + rtt)
			cfg.slack_ms = 300 + rtt;
	}
	c->gen++;
	c->nonce = w_rand(&w->rng) | 1;
	c->cur_conn = 0;
	c->nacks = 0;
	c->acks_epoch = 0;
	cevids_reset(&c->evids);
	c->cache.disabled = false;
	c->restart_at = 0;
	w_cache_clear(c);
	memset(c->h, 0, sizeof c->h);
	w_trace(w, "c%u starts session #%u", c->id, c->gen);
	w_feed(w, c, &ev);
}

void
w_client_init(struct world *w, struct w_client *c, unsigned id)
{
	memset(c, 0, sizeof *c);
	c->id = id;
	c->w = w;
	snprintf(c->principal, sizeof c->principal, "c%u", id);
	c->drift_ppm = (int64_t)w_below(&w->rng, 40001) - 20000;
	c->clock_base = 5000000 + w_below(&w->rng, 1000000);
	c->next_wire = 1;
	c->next_app = w->now + w_below(&w->rng, 500);
	w_session_new(w, c);
}

void
w_client_free(struct w_client *c)
{
	ccache_clear(&c->cache);
	csess_free(c->cs);
	c->cs = NULL;
}

bool
w_client_good(const struct world *w, const struct w_client *c)
{
	(void)w;
	/* Computed here rather than with csess_cache_usable(), which a broken
	 * variant changes. */
	return c->cs != NULL && csess_state(c->cs) == CSESS_SAFE &&
	    w_cnow(c) < csess_lease_end(c->cs);
}

/* Whether C has an application call out. */
bool
w_client_calls(const struct w_client *c)
{
	for (int i = 0; i < W_THREADS; i++)
		if (c->call[i].active)
			return true;
	return false;
}

bool
w_client_idle(const struct w_client *c)
{
	return !w_client_calls(c) && c->cs != NULL && csess_state(c->cs) == CSESS_SAFE;
}

/* ---- application calls ------------------------------------------------ */

/* As libchubby's cl_rid_floor: the oldest request id still unanswered
 * (MINE at most).  Every id below it was answered and is never sent again,
 * so the cell may forget its outcome; a call of the other thread still out
 * keeps the floor at its id, or its re-send would find its outcome
 * forgotten (E_INVALID) though its first copy may have applied. */
static uint64_t
w_rid_floor(const struct w_client *c, uint64_t mine)
{
	uint64_t floor = mine;

	for (int t = 0; t < W_THREADS; t++)
		if (c->call[t].active && c->call[t].rq.rid != 0 && c->call[t].rq.rid < floor)
			floor = c->call[t].rq.rid;
	return floor;
}

static void
w_call_send(struct world *w, struct w_client *c, struct w_call *k, uint64_t cid)
{
	k->rq.session = csess_session_id(c->cs);
	k->rq.epoch = csess_epoch(c->cs);
	k->rq.wire_id = c->next_wire++;
	k->rq.rid_floor = w_rid_floor(c, k->rq.rid);
	k->sent_conn = cid;
	if (w->o.verbose)
		w_trace(w, "c%u sends op %d %s rid %" PRIu64 " on conn %" PRIu64 " (session %" PRIu64
		    " epoch %" PRIu64 ")", c->id, (int)k->rq.op, k->rq.path, k->rq.rid, cid,
		    k->rq.session, k->rq.epoch);
	w_send(w, c, cid, &k->rq);
}

static void
w_call_start(struct world *w, struct w_client *c, struct w_call *k)
{
	bool writes = k->rq.op != W_OP_GET && k->rq.op != W_OP_CHECKSEQ;

	k->active = true;
	k->t_begin = w->now;
	k->sent_conn = 0;
	/* Once: every re-send carries the same id (libchubby's cl_send_req). */
	k->rq.rid = writes ? ++c->last_rid : 0;
	k->lapses0 = c->lapses;
	if (k->hslot >= 0)
		c->h[k->hslot].busy = true;
	/* The other thread's next call comes a little later. */
	c->next_app = w->now + 1 + w_below(&w->rng, 60);
	w->res.calls++;
	if (csess_accepts_requests(c->cs) && c->cur_conn != 0)
		w_call_send(w, c, k, c->cur_conn);
}

static void
w_call_done(struct world *w, struct w_client *c, struct w_call *k, int status,
    const struct w_rep *rep)
{
	struct w_handle *h = k->hslot >= 0 ? &c->h[k->hslot] : NULL;

	k->active = false;
	if (h != NULL)
		h->busy = false;
	c->calls_done++;
	c->next_app = w->now + w_below(&w->rng, 60);
	if (w->o.verbose)
		w_trace(w, "c%u call op %d done: %s", c->id, (int)k->rq.op, chubby_strerror(status));
	/* The model sends only well-formed calls, each re-send with its first
	 * copy's rid: E_INVALID here can only be a copy whose rid the cell
	 * forgot (below the session's rid_floor), answered as if it had been
	 * answered before, though its first copy may have applied (an ACQUIRE
	 * granted that its caller never learns of). */
	if (status == CHUBBY_E_INVALID) {
		w_fail(w, "c%u call op %d (rid %" PRIu64 ") answered %s: a re-send whose rid the "
		    "cell had forgotten (the client's rid_floor passed a call still out)", c->id,
		    (int)k->rq.op, k->rq.rid, chubby_strerror(status));
		return;
	}
	switch (k->rq.op) {
	case W_OP_OPEN:
		if (k->lookup && status == CHUBBY_E_NOT_FOUND) {
			/* An existence read: absent.  Kept if the master said it
			 * may be (it records us as a cacher of the name). */
			w->res.reads++;
			w_absent_read(w, c, k->rq.path, k->t_begin, false);
			if (rep != NULL && rep->cacheable && csess_cache_usable(c->cs, w_cnow(c)))
				w_cache_put_absent(c, k->rq.path);
		}
		if (status != CHUBBY_OK && h != NULL)
			memset(h, 0, sizeof *h);
		if (status == CHUBBY_OK && h != NULL) {
			h->used = true;
			h->id = rep->handle;
			h->instance = rep->instance;
			h->epoch = k->rq.epoch;
			if (h->kind == W_K_EPH && rep->created)
				w_note_eph(w, h->path, k->rq.session);
			if (h->kind == W_K_PRES && rep->created)
				w_exist_acked(w, h->path, rep->instance);
			if (k->lookup)
				w_cache_drop(c, h->path); /* it exists after all */
			/* As chubby_open does: a node this OPEN made is new, one it
			 * found may be a later instance than the copy held. */
			if (rep->created)
				w_cache_drop(c, h->path);
			else
				ccache_drop_older(&c->cache, h->path, h->instance);
		}
		break;
	case W_OP_CLOSE:
		if (h != NULL)
			memset(h, 0, sizeof *h);
		break;
	case W_OP_GET:
		if (status != CHUBBY_OK || h == NULL)
			break;
		w->res.reads++;
		if (h->kind == W_K_FILE || h->kind == W_K_READ)
			w_read_done(w, c, h->path, rep->val, rep->content_gen, k->t_begin, false);
		if (h->kind == W_K_READ) {
			w->res.mem_reads++;
			if (k->rq.epoch != h->epoch)
				w->res.mem_reopened_reads++;
		}
		/* client_loop.c keeps an answer only if cacheable and usable
		 * now; ccache_put keeps nothing while the cache is disabled. */
		if (rep->cacheable && csess_cache_usable(c->cs, w_cnow(c)))
			w_cache_put(c, h->path, rep->instance, rep->content_gen, rep->val);
		break;
	case W_OP_SET:
		if (status == CHUBBY_OK)
			w_write_acked(w, k->rq.val, rep->content_gen);
		if (status == CHUBBY_OK && h != NULL && (h->id & (1ULL << 63))) {
			w->res.mem_writes++;
			if (k->rq.epoch != h->epoch)
				w->res.mem_reopened_ops++;
		}
		break;
	case W_OP_CHECKSEQ:
		if (k->foreign)
			w_check_foreign_seq(w, c, &k->rq, status, k->t_begin);
		else if (h != NULL)
			w_check_seq(w, c, h, status, k->lapses0);
		break;
	case W_OP_RELEASE:
		if (status == CHUBBY_OK)
			w_note_released(w, &k->rq);
		break;
	case W_OP_ACQUIRE:
		if (status == CHUBBY_OK && h != NULL && rep != NULL && rep->result != NULL) {
			msgpack_unpacked u;
			uint64_t gen = 0;

			msgpack_unpacked_init(&u);
			if (msgpack_unpack_next(&u, (const char *)rep->result, rep->rlen, NULL) ==
				MSGPACK_UNPACK_SUCCESS)
				(void)mp_get_uint(&u.data, "lock_gen", MP_OPTIONAL, &gen, NULL, 0);
			msgpack_unpacked_destroy(&u);
			h->held = k->rq.mode;
			h->lock_gen = gen;
			w->res.grants++;
			if (h->id & (1ULL << 63)) {
				w->res.mem_grants++;
				if (k->rq.epoch != h->epoch)
					w->res.mem_reopened_ops++;
			}
			w_check_grant(w, c, h);
			w_trace(w, "c%u holds %s mode %d gen %" PRIu64, c->id, h->path, h->held, gen);
		}
		break;
	default:
		break;
	}
}

/* A read the cache answers, as libchubby's chubby_get_contents does when
 * the lease holds by the clock now (csess_cache_usable): it begins and
 * ends at once.  False when the cache cannot answer. */
static bool
w_cached_read(struct world *w, struct w_client *c, const struct w_handle *h)
{
	char val[W_VAL];
	uint64_t gen;

	if (!csess_cache_usable(c->cs, w_cnow(c)) ||
	    !w_cache_get(c, h->path, h->instance, val, sizeof val, &gen))
		return false;
	w->res.calls++;
	w->res.cached_reads++;
	if (h->kind == W_K_FILE || h->kind == W_K_READ)
		w_read_done(w, c, h->path, val, gen, w->now, true);
	return true;
}

/* The next call the model makes. */
static void
w_app(struct world *w, struct w_client *c, struct w_call *k)
{
	int free_slot = -1, used[W_MAX_H], nused = 0;
	struct w_handle *h;
	uint64_t x;

	if (k->active || w->healing || csess_state(c->cs) >= CSESS_EXPIRED)
		return;
	for (int i = 0; i < W_MAX_H; i++) {
		if (c->h[i].used && !c->h[i].busy)
			used[nused++] = i;
		else if (free_slot < 0 && c->h[i].path[0] == '\0')
			free_slot = i;
	}
	memset(k, 0, sizeof *k);
	k->hslot = -1;
	if (w_chance(&w->rng, 1, 400)) {
		struct csess_event ev = {.type = CSESS_EV_APP_CLOSE};

		w_trace(w, "c%u closes its session", c->id);
		w_note_closed(w, csess_session_id(c->cs));
		/* Closing frees its locks at once (no lock-delay): not a failure. */
		for (int i = 0; i < W_MAX_H; i++)
			c->h[i].held = 0;
		w_forget_lost(w, c, NULL);
		w_feed(w, c, &ev);
		return;
	}
	if (free_slot >= 0 && w_chance(&w->rng, 1, 8)) {
		/* Does a presence file exist?  An OPEN without CREATE, which
		 * libchubby's cache could answer "no" without a round trip
		 * (Chubby §2.9 caches absence; the simulator models it ahead of
		 * the protocol). */
		char path[W_PATH];

		snprintf(path, sizeof path, "/ls/" W_CELL "/p%u", (unsigned)w_below(&w->rng, W_NPRES));
		for (int i = 0; i < W_MAX_H; i++)
			if (c->h[i].path[0] != '\0' && strcmp(c->h[i].path, path) == 0)
				return; /* one handle per name */
		k->rq.cache = w_chance(&w->rng, 2, 3);
		if (k->rq.cache && csess_cache_usable(c->cs, w_cnow(c)) && w_cache_absent(c, path)) {
			w->res.calls++;
			w->res.reads++;
			w->res.cached_reads++;
			w_absent_read(w, c, path, w->now, true);
			c->next_app = w->now + w_below(&w->rng, 60);
			return;
		}
		h = &c->h[free_slot];
		k->hslot = free_slot;
		k->lookup = true;
		k->rq.op = W_OP_OPEN;
		h->kind = W_K_PRES;
		snprintf(h->path, sizeof h->path, "%s", path);
		snprintf(k->rq.path, sizeof k->rq.path, "%s", path);
		k->rq.flags = NS_O_READ | NS_O_WRITE;
		h->mask = (uint32_t)w_below(&w->rng, 2) * NS_EV_CONTENTS_MODIFIED;
		k->rq.events = h->mask;
		w_call_start(w, c, k);
		return;
	}
	if (free_slot >= 0 && (nused == 0 || w_chance(&w->rng, 1, 6))) {
		h = &c->h[free_slot];
		k->hslot = free_slot;
		k->rq.op = W_OP_OPEN;
		x = w_below(&w->rng, 13);
		/* Each handle asks for a random set of the events its node can
		 * raise (Chubby §2.5); the checker holds the master to them. */
		if (x < 5) {
			h->kind = W_K_FILE;
			snprintf(h->path, sizeof h->path, "/ls/" W_CELL "/f%u",
			    (unsigned)w_below(&w->rng, W_NFILES));
			k->rq.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
			h->mask = (uint32_t)w_below(&w->rng, 2) * NS_EV_CONTENTS_MODIFIED;
			if (w_chance(&w->rng, 1, 3)) {
				/* A reader, as lockctl cat: a handle the master keeps
				 * in memory, re-created by a new master on first use. */
				h->kind = W_K_READ;
				k->rq.flags = NS_O_READ;
				k->rq.mem = true;
				h->mask = 0;
			} else {
				/* A writer, as lockctl put (or one watching its
				 * contents): kept in memory too if the file exists
				 * (else the open creates it, through the log), its
				 * event mask with it. */
				k->rq.mem = true;
			}
		} else if (x < 8) {
			h->kind = W_K_LOCK;
			snprintf(h->path, sizeof h->path, "/ls/" W_CELL "/l%u",
			    (unsigned)w_below(&w->rng, W_NLOCKS));
			k->rq.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE;
			/* LOCK_ACQUIRED and CONFLICTING_LOCK are adjacent bits. */
			h->mask = (uint32_t)w_below(&w->rng, 4) * NS_EV_LOCK_ACQUIRED;
			/* As lockctl lock: a handle in memory (with its events)
			 * whose grant makes the holder replicated. */
			k->rq.mem = true;
		} else if (x < 10) {
			h->kind = W_K_EPH;
			snprintf(h->path, sizeof h->path, "/ls/" W_CELL "/e%u-%u-%u", c->id, c->gen,
			    (unsigned)free_slot);
			k->rq.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE | NS_O_EPHEMERAL |
			    (w_chance(&w->rng, 1, 2) ? NS_O_EXCL : 0);
			h->mask = (uint32_t)w_below(&w->rng, 2) * NS_EV_CONTENTS_MODIFIED;
		} else if (x < 11) {
			/* A watcher of the cell's directory: children come and go
			 * (ephemeral files) and change (every write). */
			h->kind = W_K_DIR;
			snprintf(h->path, sizeof h->path, "/ls/" W_CELL);
			k->rq.flags = NS_O_READ;
			h->mask = (1 + (uint32_t)w_below(&w->rng, 7)) * NS_EV_CHILD_ADDED;
			k->rq.mem = true; /* its mask kept in memory */
		} else {
			/* A presence file: made by whoever opens it first, gone
			 * when its last handle closes (what others' existence
			 * reads, and the cache of them, must follow). */
			h->kind = W_K_PRES;
			snprintf(h->path, sizeof h->path, "/ls/" W_CELL "/p%u",
			    (unsigned)w_below(&w->rng, W_NPRES));
			k->rq.flags = NS_O_READ | NS_O_WRITE | NS_O_CREATE | NS_O_EPHEMERAL |
			    (w_chance(&w->rng, 1, 2) ? NS_O_EXCL : 0);
			h->mask = (uint32_t)w_below(&w->rng, 2) * NS_EV_CONTENTS_MODIFIED;
		}
		k->rq.events = h->mask;
		h->oflags = k->rq.flags;
		for (int i = 0; i < W_MAX_H; i++)
			if (i != free_slot && c->h[i].path[0] != '\0' &&
			    strcmp(c->h[i].path, h->path) == 0) {
				memset(h, 0, sizeof *h); /* one handle per name */
				return;
			}
		memcpy(k->rq.path, h->path, sizeof k->rq.path); /* both W_PATH */
		/* Our own cached absence of a name we may make goes now (as
		 * libchubby drops a copy of a node its OPEN made). */
		if (h->kind == W_K_PRES)
			w_cache_drop(c, h->path);
		w_call_start(w, c, k);
		return;
	}
	if (nused == 0)
		return;
	k->hslot = used[w_below(&w->rng, (uint64_t)nused)];
	h = &c->h[k->hslot];
	k->rq.handle = h->id;
	memcpy(k->rq.path, h->path, sizeof k->rq.path); /* both W_PATH */
	if (h->id & (1ULL << 63)) {
		/* As libchubby does for a handle kept in memory. */
		k->rq.reopen = true;
		k->rq.flags = h->oflags;
		k->rq.reopen_instance = h->instance;
		k->rq.events = h->mask;
	}
	x = w_below(&w->rng, 100);
	if (h->kind == W_K_LOCK) {
		if (h->held != 0 && x < 40) {
			k->rq.op = W_OP_RELEASE;
			/* The sequencer it lets go of, for the check of a released one. */
			k->rq.mode = h->held;
			k->rq.seq_gen = h->lock_gen;
			k->rq.seq_instance = h->instance;
			/* Not held from the moment it asks to let go. */
			h->held = 0;
			w_forget_lost(w, c, h->path);
		} else if (h->held != 0 && x < 80) {
			k->rq.op = W_OP_CHECKSEQ;
			k->rq.mode = h->held;
			k->rq.seq_gen = h->lock_gen;
			k->rq.seq_instance = h->instance;
		} else if (h->held == 0 && x < 20 && w_released_seq(w, h->path, &k->rq)) {
			/* A fencing check of a sequencer released before now. */
			k->rq.op = W_OP_CHECKSEQ;
			k->foreign = true;
		} else if (h->held == 0 && x < 90) {
			k->rq.op = W_OP_ACQUIRE;
			k->rq.mode = w_chance(&w->rng, 1, 2) ? NS_LOCK_SHARED : NS_LOCK_EXCLUSIVE;
			k->rq.timeout_ms = 200 + w_below(&w->rng, 10000);
		} else {
			if (h->held != 0)
				return;
			k->rq.op = W_OP_CLOSE;
		}
	} else if (x < 8) {
		k->rq.op = W_OP_CLOSE;
		h->held = 0;
	} else if (h->kind == W_K_DIR) {
		return; /* it only watches */
	} else if (h->kind == W_K_PRES && x < 30) {
		k->rq.op = W_OP_CLOSE; /* presence comes and goes */
	} else if (h->kind == W_K_FILE && x < 40) {
		k->rq.op = W_OP_SET;
		(void)w_write_new(w, h->path, k->rq.val, sizeof k->rq.val);
		if (w_chance(&w->rng, 1, 3)) {
			char val[W_VAL];
			uint64_t gen;

			k->rq.have_expected = true;
			k->rq.expected_gen = w_cache_get(c, h->path, h->instance, val, sizeof val, &gen) ?
			    gen : w_below(&w->rng, 4);
		}
		/* Our own next read must not see the old copy (libchubby drops
		 * it at once rather than wait for the invalidation). */
		w_cache_drop(c, h->path);
		w->res.writes++;
	} else {
		k->rq.op = W_OP_GET;
		k->rq.cache = w_chance(&w->rng, 2, 3);
		if (k->rq.cache && w_cached_read(w, c, h)) {
			k->active = false;
			c->next_app = w->now + w_below(&w->rng, 60);
			return;
		}
	}
	w_call_start(w, c, k);
}

/* ---- the core's actions (client_loop.c's cl_act) ---------------------- */

static void
w_act(struct world *w, struct w_client *c, const struct csess_action *a)
{
	struct w_req rq;
	size_t conn;

	memset(&rq, 0, sizeof rq);
	switch (a->type) {
	case CSESS_ACT_CONNECT:
		w_conn_open(w, c->id, (unsigned)strtoul(a->addr + 1, NULL, 10), a->conn);
		break;
	case CSESS_ACT_DISCONNECT:
		if ((conn = w_conn_of(w, c, a->conn)) != SIZE_MAX)
			w->conns[conn].open = false;
		if (c->cur_conn == a->conn)
			c->cur_conn = 0;
		for (int i = 0; i < W_THREADS; i++)
			if (c->call[i].sent_conn == a->conn)
				c->call[i].sent_conn = 0;
		break;
	case CSESS_ACT_SEND_WHERE_IS_MASTER:
		rq.op = W_OP_WHERE;
		rq.wire_id = c->next_wire++;
		c->where_wire = rq.wire_id;
		w_send(w, c, a->conn, &rq);
		break;
	case CSESS_ACT_SEND_SESSION_START:
		rq.op = W_OP_START;
		rq.wire_id = c->next_wire++;
		rq.nonce = c->nonce;
		c->start_sent_at = a->sent_at;
		c->start_wire = rq.wire_id;
		w_send(w, c, a->conn, &rq);
		break;
	case CSESS_ACT_SEND_KEEPALIVE:
		if (a->epoch != c->acks_epoch) {
			/* A new master knows nothing of the old one's invalidations. */
			c->nacks = 0;
			c->acks_epoch = a->epoch;
		}
		rq.op = W_OP_KEEPALIVE;
		rq.wire_id = c->next_wire++;
		rq.session = a->session_id;
		rq.epoch = a->epoch;
		rq.hold_ms = a->hold_ms;
		memcpy(rq.acks, c->acks, c->nacks * sizeof c->acks[0]);
		rq.nacks = c->nacks;
		/* As libchubby: the events processed, so the master keeps the
		 * rest until they arrive (issue 16). */
		rq.ev_ack = cevids_ack(&c->evids, a->epoch);
		c->ka_nacks = c->nacks;
		c->ka_sent_at = a->sent_at;
		c->ka_wire = rq.wire_id;
		c->cur_conn = a->conn;
		w_send(w, c, a->conn, &rq);
		break;
	case CSESS_ACT_SEND_SESSION_END:
		rq.op = W_OP_END;
		rq.wire_id = c->next_wire++;
		rq.session = a->session_id;
		rq.epoch = a->epoch;
		rq.rid = ++c->last_rid;
		rq.rid_floor = w_rid_floor(c, rq.rid);
		w_send(w, c, a->conn, &rq);
		break;
	case CSESS_ACT_NOTIFY:
		w_trace(w, "c%u notified %d (%s)", c->id, (int)a->notify,
		    csess_state_name(csess_state(c->cs)));
		if (a->notify == CSESS_NOTIFY_MASTER_FAILOVER)
			w_note_failover(w, c);
		break;
	case CSESS_ACT_CACHE_DISABLE:
		w_cache_clear(c);
		c->cache.disabled = true;
		break;
	case CSESS_ACT_CACHE_FLUSH:
		w_cache_clear(c);
		c->cache.disabled = false;
		break;
	case CSESS_ACT_FAIL_PENDING:
		for (int i = 0; i < W_THREADS; i++)
			if (c->call[i].active)
				w_call_done(w, c, &c->call[i], a->status, NULL);
		break;
	case CSESS_ACT_REISSUE_PENDING:
		c->cur_conn = a->conn;
		for (int i = 0; i < W_THREADS; i++)
			if (c->call[i].active && c->call[i].sent_conn != a->conn)
				w_call_send(w, c, &c->call[i], a->conn);
		break;
	}
}

/* ---- events from the world -------------------------------------------- */

void
w_client_connected(struct world *w, struct w_client *c, size_t conn, bool ok)
{
	struct csess_event ev = {.type = ok ? CSESS_EV_CONNECTED : CSESS_EV_CONNECT_FAILED,
	    .conn = w->conns[conn].cid, .why = CHUBBY_E_UNAVAILABLE};

	if (!ok)
		w->conns[conn].open = false;
	w_feed(w, c, &ev);
}

void
w_client_dropped(struct world *w, struct w_client *c, size_t conn)
{
	struct csess_event ev = {.type = CSESS_EV_DISCONNECTED, .conn = w->conns[conn].cid,
	    .why = CHUBBY_E_UNAVAILABLE};

	w->conns[conn].open = false;
	for (int i = 0; i < W_THREADS; i++)
		if (c->call[i].sent_conn == ev.conn)
			c->call[i].sent_conn = 0;
	w_feed(w, c, &ev);
}

static void
w_feed_not_master(struct world *w, struct w_client *c, uint64_t cid, const struct w_rep *rep)
{
	char addr[16];
	struct csess_event ev = {.type = CSESS_EV_REPLY_NOT_MASTER, .conn = cid,
	    .epoch = rep->epoch};

	if (rep->master != 0) {
		snprintf(addr, sizeof addr, "r%u", rep->master);
		ev.addr = addr;
	}
	w_feed(w, c, &ev);
}

static void
w_on_keepalive(struct world *w, struct w_client *c, uint64_t cid, const struct w_rep *rep)
{
	struct csess_event ev = {.type = CSESS_EV_KEEPALIVE_REPLY, .conn = cid};
	size_t nacked = c->ka_nacks;
	msgpack_unpacked u;
	const msgpack_object *evs = NULL, *inv = NULL;

	c->ka_nacks = 0;
	msgpack_unpacked_init(&u);
	if (rep->result == NULL ||
	    msgpack_unpack_next(&u, (const char *)rep->result, rep->rlen, NULL) !=
		MSGPACK_UNPACK_SUCCESS ||
	    mp_get_uint(&u.data, "epoch", MP_REQUIRED, &ev.epoch, NULL, 0) != 0 ||
	    mp_get_uint(&u.data, "lease_ms", MP_REQUIRED, &ev.lease_ms, NULL, 0) != 0 ||
	    mp_get_array(&u.data, "events", MP_OPTIONAL, &evs, NULL, 0) != 0 ||
	    mp_get_array(&u.data, "invalidate", MP_OPTIONAL, &inv, NULL, 0) != 0) {
		msgpack_unpacked_destroy(&u);
		w_fail(w, "c%u: a malformed KeepAlive reply", c->id);
		return;
	}
	if (nacked > c->nacks)
		nacked = c->nacks;
	if (nacked > 0) {
		memmove(c->acks, c->acks + nacked, (c->nacks - nacked) * sizeof c->acks[0]);
		c->nacks -= nacked;
	}
	/* Chubby 2.9: drop the cached copies first, then acknowledge them in
	 * the next KeepAlive, which the core sends during the step below. */
	if (inv != NULL) {
		for (uint32_t i = 0; i < inv->via.array.size; i++) {
			const msgpack_object *o = &inv->via.array.ptr[i];
			struct mp_str path = {NULL, 0};
			uint64_t id = 0;
			char p[W_PATH];

			if (mp_get_uint(o, "id", MP_REQUIRED, &id, NULL, 0) != CHUBBY_OK)
				continue;
			if (mp_get_str(o, "path", MP_OPTIONAL, &path, NULL, 0) == CHUBBY_OK &&
			    path.ptr != NULL) {
				snprintf(p, sizeof p, "%.*s", (int)path.len, path.ptr);
				w_cache_drop(c, p);
			} else
				w_cache_clear(c);
			if (c->nacks < W_MAX_ACKS)
				c->acks[c->nacks++] = id;
		}
		c->acks_epoch = ev.epoch;
		ev.nevents += inv->via.array.size;
	}
	if (evs != NULL) {
		/* Events first, as the application would see them: the step
		 * below may tell it MASTER_FAILOVER, which covers those lost.
		 * A master sends only events of commands proposed in its own
		 * epoch (it applies every older one before it serves), so the
		 * reply's epoch tells which of equal events came. */
		for (uint32_t i = 0; i < evs->via.array.size && !w->failed; i++) {
			uint64_t type = 0, handle = 0, id = 0;
			bool has_id;

			has_id = mp_get_uint(&evs->via.array.ptr[i], "id", MP_REQUIRED, &id, NULL,
				     0) == CHUBBY_OK;
			if (mp_get_uint(&evs->via.array.ptr[i], "type", MP_REQUIRED, &type, NULL, 0) !=
				CHUBBY_OK ||
			    mp_get_uint(&evs->via.array.ptr[i], "handle", MP_REQUIRED, &handle, NULL,
				0) != CHUBBY_OK ||
			    type < 1 || type > 7) {
				w_fail(w, "c%u: a malformed event in a KeepAlive reply", c->id);
				break;
			}
			/* A copy sent again after a lost reply: delivered already. */
			if (!cevids_accept(&c->evids, ev.epoch, has_id, id))
				continue;
			/* Protocol type k is the mask bit 1 << (k - 1). */
			w_event_delivered(w, c, handle, 1u << (type - 1), ev.epoch);
		}
		ev.nevents += evs->via.array.size;
	}
	msgpack_unpacked_destroy(&u);
	ev.sent_at = c->ka_sent_at;
	w_feed(w, c, &ev);
}

void
w_client_reply(struct world *w, struct w_client *c, size_t conn, struct w_rep *rep)
{
	uint64_t cid = w->conns[conn].cid;
	struct w_call *k = NULL;
	struct csess_event ev = {.conn = cid};

	w->steps++;
	for (int i = 0; i < W_THREADS; i++)
		if (c->call[i].active && c->call[i].sent_conn == cid &&
		    c->call[i].rq.wire_id == rep->wire_id)
			k = &c->call[i];
	if (k != NULL) {
		if (rep->status == CHUBBY_E_NOT_MASTER || rep->status == CHUBBY_E_BAD_EPOCH) {
			/* Not done: it goes again on REISSUE_PENDING. */
			k->sent_conn = 0;
			if (rep->status == CHUBBY_E_NOT_MASTER) {
				w_feed_not_master(w, c, cid, rep);
			} else {
				ev.type = CSESS_EV_REPLY_BAD_EPOCH;
				ev.epoch = rep->epoch;
				w_feed(w, c, &ev);
			}
			return;
		}
		w_call_done(w, c, k, rep->status, rep);
		if (rep->status == CHUBBY_E_SESSION_EXPIRED) {
			ev.type = CSESS_EV_REPLY_SESSION_EXPIRED;
			w_feed(w, c, &ev);
		}
		return;
	}
	/* The core's own requests, by their wire ids (one of each out). */
	if (rep->wire_id == c->ka_wire && rep->status == CHUBBY_OK) {
		w_on_keepalive(w, c, cid, rep);
		return;
	}
	if (rep->wire_id == c->start_wire && rep->status == CHUBBY_OK) {
		ev.type = CSESS_EV_SESSION_STARTED;
		ev.session_id = rep->session;
		ev.epoch = rep->epoch;
		ev.lease_ms = rep->lease_ms;
		ev.sent_at = c->start_sent_at;
		w_feed(w, c, &ev);
		return;
	}
	if (rep->wire_id == c->where_wire && rep->status == CHUBBY_OK) {
		char addr[16];

		ev.type = CSESS_EV_WHERE_IS_MASTER_REPLY;
		ev.epoch = rep->epoch;
		if (rep->master != 0) {
			snprintf(addr, sizeof addr, "r%u", rep->master);
			ev.addr = addr;
		}
		w_feed(w, c, &ev);
		return;
	}
	if (rep->wire_id != c->ka_wire && rep->wire_id != c->start_wire &&
	    rep->wire_id != c->where_wire)
		return; /* SESSION_END's answer, or a stale one: nothing waits for it */
	switch (rep->status) {
	case CHUBBY_E_NOT_MASTER:
		w_feed_not_master(w, c, cid, rep);
		return;
	case CHUBBY_E_BAD_EPOCH:
		ev.type = CSESS_EV_REPLY_BAD_EPOCH;
		ev.epoch = rep->epoch;
		ev.is_keepalive = rep->wire_id == c->ka_wire;
		w_feed(w, c, &ev);
		return;
	case CHUBBY_E_SESSION_EXPIRED:
		ev.type = CSESS_EV_REPLY_SESSION_EXPIRED;
		w_feed(w, c, &ev);
		return;
	default:
		/* A refusal of the core's request: drop the link (cl_core_refused). */
		ev.type = CSESS_EV_DISCONNECTED;
		ev.why = rep->status;
		w->conns[conn].open = false;
		w_feed(w, c, &ev);
		return;
	}
}

/* ---- time ------------------------------------------------------------- */

void
w_client_step(struct world *w, struct w_client *c)
{
	struct csess_event ev = {.type = CSESS_EV_TICK};
	enum csess_state st;

	if (c->paused_until > w->now)
		return;
	if (c->run_app_first) {
		/* The application's thread runs first after a stop, before the
		 * timer that would end the lease. */
		c->run_app_first = false;
		for (int i = 0; i < W_MAX_H; i++)
			if (c->h[i].used && (c->h[i].kind == W_K_FILE || c->h[i].kind == W_K_READ) &&
			    w_cached_read(w, c, &c->h[i]) && w->o.verbose)
				w_trace(w, "c%u resumes and reads %s from its cache", c->id, c->h[i].path);
	}
	if (csess_next_deadline(c->cs, w_cnow(c)) <= w_cnow(c))
		w_feed(w, c, &ev);
	if (w->failed)
		return;
	st = csess_state(c->cs);
	if (st == CSESS_EXPIRED || st == CSESS_CLOSED) {
		for (int i = 0; i < W_THREADS; i++)
			if (c->call[i].active)
				w_call_done(w, c, &c->call[i], CHUBBY_E_SESSION_EXPIRED, NULL);
		if (c->restart_at == 0) {
			if (st == CSESS_EXPIRED)
				w->res.expiries++;
			c->restart_at = w->now + w_below(&w->rng, 500);
			w_trace(w, "c%u session %" PRIu64 " %s", c->id, csess_session_id(c->cs),
			    csess_state_name(st));
		} else if (w->now >= c->restart_at) {
			w_session_new(w, c);
		}
		return;
	}
	/* The application's threads: the next free one makes the next call. */
	for (int i = 0; i < W_THREADS && c->next_app <= w->now && !w->failed; i++)
		if (!c->call[i].active) {
			w_app(w, c, &c->call[i]);
			break;
		}
}
