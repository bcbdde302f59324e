/*
 * wsim_check.c: the whole-cell simulator's invariants, checked after every
 * step (docs/TESTING.md "The whole-cell simulator"):
 *  - locks: no two clients in good standing (by their own session core:
 *    SAFE with the local lease unexpired now) hold one lock in conflicting
 *    modes, and the serving master's namespace shows every lock such a
 *    client holds as held by it (a session in good standing never loses a
 *    lock);
 *  - reads, cached ones included, are linearizable per file: never a value
 *    nobody wrote, never one older than the newest write acknowledged
 *    before the read began (content generations order the writes);
 *  - each request applies at most once: a written value applies at one
 *    content generation on every replica;
 *  - a sequencer checks as current while its holder, in good standing
 *    throughout, holds the lock;
 *  - every event a handle asked for arrives, in order, once (or is lost
 *    with a master, which the client is told of);
 *  - replicas' digests agree at equal applied index;
 *  - after healing: ephemeral nodes of ended sessions are gone (and the
 *    liveness bound in wsim.c: every pending call completes).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include <msgpack.h>

#include "mp.h"
#include "ns/ns.h"
#include "ns/ns_int.h"
#include "wsim_int.h"
#include "session/mhandle.h"
#include "session/session.h"
#include "xmalloc.h"

/* ---- digests ---------------------------------------------------------- */

void
w_check_digest(struct world *w, struct w_replica *r)
{
	uint64_t i = cell_applied_index(r->cell), d = cell_digest(r->cell);

	if (i >= w->ndigest) {
		size_t cap = w->ndigest == 0 ? 256 : w->ndigest;
		while (cap <= i)
			cap *= 2;
		w->digest_at = xrealloc(w->digest_at, cap * sizeof *w->digest_at);
		memset(w->digest_at + w->ndigest, 0, (cap - w->ndigest) * sizeof *w->digest_at);
		w->ndigest = cap;
	}
	if (w->digest_at[i] == 0)
		w->digest_at[i] = d;
	else if (w->digest_at[i] != d)
		w_fail(w, "replica %u: digest %" PRIx64 " at applied %" PRIu64 " differs from %" PRIx64,
		    r->id, d, i, w->digest_at[i]);
}

/* ---- the register history --------------------------------------------- */

static void w_note_events(struct world *w, struct w_replica *r, const struct cell_applied *a);
static void w_note_existence(struct world *w, struct w_replica *r);
static void w_note_locks(struct world *w, struct w_replica *r, const struct cell_applied *a);

static int
w_file_index(const char *path)
{
	size_t n = strlen(path);

	if (n < 2 || path[n - 2] != 'f' || path[n - 1] < '0' || path[n - 1] > '3')
		return -1;
	return path[n - 1] - '0';
}

/* The write a value names ("{W<index>}", anywhere in VAL: a command's
 * other bytes may hold "{W" too), or NULL. */
static struct w_write *
w_write_of(struct world *w, const char *val, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++) {
		size_t j = i + 2, idx = 0;

		if (val[i] != '{' || val[i + 1] != 'W')
			continue;
		for (; j < len && val[j] >= '0' && val[j] <= '9' && j < i + 12; j++)
			idx = idx * 10 + (size_t)(val[j] - '0');
		if (j > i + 2 && j < len && val[j] == '}' && idx < w->nwrites)
			return &w->writes[idx];
	}
	return NULL;
}

uint64_t
w_write_new(struct world *w, const char *path, char *val, size_t vlen)
{
	struct w_write *x;

	if (w->nwrites == w->capwrites) {
		w->capwrites = w->capwrites == 0 ? 256 : w->capwrites * 2;
		w->writes = xrealloc(w->writes, w->capwrites * sizeof *w->writes);
	}
	x = &w->writes[w->nwrites];
	memset(x, 0, sizeof *x);
	snprintf(val, vlen, "{W%zu}", w->nwrites);
	snprintf(x->val, sizeof x->val, "%s", val);
	snprintf(x->path, sizeof x->path, "%s", path);
	return w->nwrites++;
}

/* The applied state's news, from every replica. */
void
w_note_applied(struct world *w, struct w_replica *r, const struct cell_applied *a)
{
	struct w_write *x;

	w_note_events(w, r, a);
	if (a->type != CELL_CMD_NS || a->status != CHUBBY_OK || a->res == NULL ||
	    (x = w_write_of(w, (const char *)a->ns_cmd, a->ns_len)) == NULL)
		return;
	if (x->gen == 0)
		x->gen = a->res->stat.content_gen;
	else if (x->gen != a->res->stat.content_gen)
		w_fail(w, "r%u applied write %s of %s at content_gen %" PRIu64
		    ", but it applied at %" PRIu64 " before: a request took effect twice",
		    r->id, x->val, x->path, a->res->stat.content_gen, x->gen);
}

void
w_write_acked(struct world *w, const char *val, uint64_t gen)
{
	struct w_write *x = w_write_of(w, val, strlen(val));
	int f;
	size_t n;

	if (x == NULL || (f = w_file_index(x->path)) < 0)
		return;
	if (x->gen != gen) {
		w_fail(w, "write %s acknowledged at content_gen %" PRIu64 " but applied at %" PRIu64,
		    val, gen, x->gen);
		return;
	}
	x->acked_at = w->now;
	n = w->nacks[f];
	if (n == w->capacks[f]) {
		w->capacks[f] = n == 0 ? 64 : n * 2;
		w->acks[f] = xrealloc(w->acks[f], w->capacks[f] * sizeof *w->acks[f]);
	}
	w->acks[f][n].at = w->now;
	w->acks[f][n].maxgen = n > 0 && w->acks[f][n - 1].maxgen > gen ? w->acks[f][n - 1].maxgen :
	    gen;
	w->nacks[f]++;
}

/* The highest generation of file F acknowledged strictly before T. */
static uint64_t
w_acked_before(const struct world *w, int f, uint64_t t)
{
	size_t lo = 0, hi = w->nacks[f];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->acks[f][mid].at < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? 0 : w->acks[f][lo - 1].maxgen;
}

void
w_read_done(struct world *w, struct w_client *c, const char *path, const char *val, uint64_t gen,
    uint64_t t_begin, bool cached)
{
	int f = w_file_index(path);
	struct w_write *x;
	uint64_t newest;

	if (f < 0)
		return;
	if (val[0] == '\0') {
		if (gen != 0)
			w_fail(w, "c%u read %s empty at content_gen %" PRIu64, c->id, path, gen);
	} else if ((x = w_write_of(w, val, strlen(val))) == NULL || strcmp(x->path, path) != 0) {
		w_fail(w, "c%u read %s = \"%s\": a value never written there", c->id, path, val);
		return;
	} else if (x->gen != gen) {
		w_fail(w, "c%u read %s = %s at content_gen %" PRIu64 ", but that write applied at %"
		    PRIu64, c->id, path, val, gen, x->gen);
		return;
	}
	newest = w_acked_before(w, f, t_begin);
	if (gen < newest)
		w_fail(w, "c%u %s read of %s returned content_gen %" PRIu64 " (\"%s\"), but content_gen "
		    "%" PRIu64 " was acknowledged before the read began at %" PRIu64 ": a stale read",
		    c->id, cached ? "a cached" : "an uncached", path, gen, val, newest, t_begin);
}

/* ---- locks and sequencers --------------------------------------------- */

void
w_check_seq(struct world *w, struct w_client *c, const struct w_handle *h, int status,
    uint64_t lapses0)
{
	if (status == CHUBBY_E_STALE_SEQUENCER && h->held != 0 && w_client_good(w, c) &&
	    c->lapses == lapses0)
		w_fail(w, "c%u: its sequencer for %s (gen %" PRIu64 ") checked stale while it held the "
		    "lock in good standing", c->id, h->path, h->lock_gen);
}

/* The lock's slot in w->lost (l0..l3). */
static int
w_lock_index(const char *path)
{
	size_t n = strlen(path);

	if (n < 2 || path[n - 2] != 'l' || path[n - 1] < '0' || path[n - 1] > '3')
		return -1;
	return path[n - 1] - '0';
}

static void
w_note_lost(struct world *w, const struct w_client *c, const struct w_handle *h)
{
	int l = w_lock_index(h->path);

	if (l < 0)
		return;
	w->lost[l].client = c->id;
	w->lost[l].at = w->now;
}

/* C (back in good standing, or releasing PATH; NULL: every lock) did not
 * fail holding it: a grant after is no lock-delay matter. */
void
w_forget_lost(struct world *w, const struct w_client *c, const char *path)
{
	for (int l = 0; l < 4; l++)
		if (w->lost[l].client == c->id && (path == NULL || w_lock_index(path) == l))
			w->lost[l].client = 0;
}

/*
 * Lock-delay (Chubby §2.4): a lock whose exclusive holder failed (its
 * session expired holding it) is granted to nobody for the lock-delay after
 * the expiry, which comes after the holder's own lease ended.  So no other
 * client may learn of a grant within half the lock-delay (the other half
 * covers drift and scan periods) of the moment its holder fell out of good
 * standing still holding it.
 */
void
w_check_grant(struct world *w, struct w_client *c, const struct w_handle *h)
{
	int l = w_lock_index(h->path);
	uint64_t half = w->cp.ns.lock_delay_default_ms / 2;

	if (l < 0 || w->lost[l].client == 0 || w->lost[l].client == c->id)
		return;
	if (w->now < w->lost[l].at + half)
		w_fail(w, "c%u granted %s (mode %d) %" PRIu64 " ms after c%u fell out of good standing "
		    "holding it exclusively: the lock-delay (%" PRIu64 " ms) was not honoured", c->id,
		    h->path, h->held, w->now - w->lost[l].at, w->lost[l].client,
		    w->cp.ns.lock_delay_default_ms);
}

/* A RELEASE of an exclusive hold (RQ carries its sequencer) was acknowledged. */
void
w_note_released(struct world *w, const struct w_req *rq)
{
	int l = w_lock_index(rq->path);

	if (l < 0 || rq->mode != NS_LOCK_EXCLUSIVE)
		return;
	w->released[l].valid = true;
	w->released[l].gen = rq->seq_gen;
	w->released[l].instance = rq->seq_instance;
	w->released[l].at = w->now;
}

/* Fills RQ's sequencer with the last released one of PATH; false if none. */
bool
w_released_seq(struct world *w, const char *path, struct w_req *rq)
{
	int l = w_lock_index(path);

	if (l < 0 || !w->released[l].valid)
		return false;
	rq->mode = NS_LOCK_EXCLUSIVE;
	rq->seq_gen = w->released[l].gen;
	rq->seq_instance = w->released[l].instance;
	return true;
}

/*
 * A sequencer checks as current only while its lock is held at its
 * generation: an exclusive one whose RELEASE was acknowledged before the
 * check began is stale (a later holder has a higher lock_gen).
 */
void
w_check_foreign_seq(struct world *w, struct w_client *c, const struct w_req *rq, int status,
    uint64_t t_begin)
{
	int l = w_lock_index(rq->path);

	(void)t_begin;
	if (status != CHUBBY_OK || l < 0)
		return;
	w_fail(w, "c%u: the sequencer of %s at lock_gen %" PRIu64 ", released (acknowledged) before "
	    "the check began at %" PRIu64 ", checked as current", c->id, rq->path, rq->seq_gen,
	    t_begin);
}

static void
w_check_locks(struct world *w)
{
	unsigned m = w_serving_master(w);
	const struct ns *ns = m != 0 ? cell_ns(w->r[m - 1].cell) : NULL;

	for (unsigned a = 0; a < w->m; a++) {
		struct w_client *ca = &w->c[a];
		bool good = w_client_good(w, ca);

		if (ca->was_good && !good) {
			ca->lapses++;
			for (int i = 0; i < W_MAX_H; i++)
				if (ca->h[i].used && ca->h[i].held == NS_LOCK_EXCLUSIVE)
					w_note_lost(w, ca, &ca->h[i]);
		}
		if (!ca->was_good && good)
			w_forget_lost(w, ca, NULL); /* it did not fail after all */
		ca->was_good = good;
		if (!good)
			continue;
		for (int i = 0; i < W_MAX_H; i++) {
			const struct w_handle *ha = &ca->h[i];
			int held = 0;

			if (!ha->used || ha->held == 0)
				continue;
			if (ns != NULL && (ns_handle_path(ns, csess_session_id(ca->cs), ha->id, &held) ==
						  NULL || held != ha->held)) {
				w_fail(w, "c%u in good standing holds %s (mode %d), but the master r%u says "
				    "its handle %" PRIu64 " of session %" PRIu64 " holds mode %d",
				    ca->id, ha->path, ha->held, m, ha->id, csess_session_id(ca->cs), held);
				return;
			}
			for (unsigned b = a + 1; b < w->m; b++) {
				struct w_client *cb = &w->c[b];
				if (!w_client_good(w, cb))
					continue;
				for (int j = 0; j < W_MAX_H; j++) {
					const struct w_handle *hb = &cb->h[j];
					if (!hb->used || hb->held == 0 || strcmp(ha->path, hb->path) != 0)
						continue;
					if (ha->held == NS_LOCK_EXCLUSIVE || hb->held == NS_LOCK_EXCLUSIVE) {
						w_fail(w, "c%u (mode %d, gen %" PRIu64 ") and c%u (mode %d, gen %"
						    PRIu64 ") both hold %s in good standing", ca->id, ha->held,
						    ha->lock_gen, cb->id, hb->held, hb->lock_gen, ha->path);
						return;
					}
				}
			}
		}
	}
}

void
w_check(struct world *w)
{
	if (w->failed)
		return;
	w_check_locks(w);
}

/* ---- after healing ---------------------------------------------------- */

void
w_note_eph(struct world *w, const char *path, uint64_t session)
{
	if (w->neph >= sizeof w->eph / sizeof w->eph[0])
		return;
	snprintf(w->eph[w->neph].path, sizeof w->eph[0].path, "%s", path);
	w->eph[w->neph].session = session;
	w->neph++;
}

void
w_check_final(struct world *w)
{
	unsigned m = w_serving_master(w);
	const struct ns *ns;

	if (m == 0)
		return;
	ns = cell_ns(w->r[m - 1].cell);
	for (size_t i = 0; i < w->neph && !w->failed; i++) {
		int rc;
		if (ns_session_principal(ns, w->eph[i].session) != NULL)
			continue;
		rc = ns_check_access(ns, "c1", w->eph[i].path, NS_ACL_READ);
		if (rc != CHUBBY_E_NOT_FOUND)
			w_fail(w, "ephemeral %s of ended session %" PRIu64 " is still there (%s)",
			    w->eph[i].path, w->eph[i].session, chubby_strerror(rc));
	}
}

/* ---- events (Chubby §2.5) ----------------------------------------------
 *
 * Every event the applied state raises for a handle of a client's current
 * session is recorded once, at the command's first application anywhere
 * (events are a function of the replicated state, so every replica raises
 * the same).  The client must receive them in that order, each once.  One
 * may be missing only if the client was told MASTER_FAILOVER since: a reply
 * lost with a broken connection loses none (the master keeps them until the
 * client acknowledges them, issue 16), but events live in the master's
 * memory, so a new master cannot send
 * the old one's (docs/PROTOCOL.md "Sessions"), and the notice tells the
 * application to re-read.  So an event of a command proposed in an epoch
 * older than one the client was told of is excused.  By the end of the liveness phase every event of
 * every handle still open is delivered or so excused.
 */

static struct w_evs *
w_evs_find(struct world *w, uint64_t session, uint64_t handle)
{
	for (size_t i = w->nevs; i-- > 0;)
		if (w->evs[i].session == session && w->evs[i].handle == handle)
			return &w->evs[i];
	return NULL;
}

static void
w_event_raised(struct world *w, const struct ns_event *e, uint64_t epoch)
{
	struct w_evs *s = NULL;
	unsigned client = 0;

	for (unsigned i = 0; i < w->m; i++)
		if (w->c[i].cs != NULL && csess_session_id(w->c[i].cs) == e->session)
			client = i + 1;
	if (client == 0)
		return; /* a session no client has now: nobody to check */
	if ((s = w_evs_find(w, e->session, e->handle)) == NULL) {
		if (w->nevs == w->capevs) {
			w->capevs = w->capevs == 0 ? 32 : w->capevs * 2;
			w->evs = xrealloc(w->evs, w->capevs * sizeof *w->evs);
		}
		s = &w->evs[w->nevs++];
		memset(s, 0, sizeof *s);
		s->session = e->session;
		s->handle = e->handle;
		s->client = client;
	}
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 16 : s->cap * 2;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	memset(&s->v[s->n], 0, sizeof s->v[s->n]);
	s->v[s->n].type = e->type;
	s->v[s->n].at = w->now;
	s->v[s->n].epoch = epoch;
	s->n++;
	if (w->o.verbose)
		w_trace(w, "event %#x raised for c%u handle %" PRIu64 " (#%zu)", e->type, client,
		    e->handle, s->n);
}

/*
 * Handles kept in memory get their events from the master's session
 * layer, not from the namespace's handles: the namespace notes each event
 * by node (struct ns_node_event) and the checker gives them to the
 * handles in memory its clients hold (or have an OPEN out for), at the
 * first application by a master.  When the master made (or re-created)
 * a handle is its own choice, so the checker asks it: a handle in the
 * master's table (by id, or by the OPEN's rid while its answer is on the
 * way) when the command applies must get the event, in order; one not in
 * it (an OPEN not yet served, a handle not yet re-created since a
 * fail-over) gets none, and MASTER_FAILOVER tells its client to re-read
 * (docs/SESSIONS.md "Handles in memory").
 */
static void
w_mem_note(struct world *w, const struct w_replica *r, size_t ne, unsigned client,
    uint64_t session, uint64_t handle, uint32_t type, uint64_t epoch)
{
	struct w_evs *s = w_evs_find(w, session, handle);

	if (s == NULL) {
		if (w->nevs == w->capevs) {
			w->capevs = w->capevs == 0 ? 32 : w->capevs * 2;
			w->evs = xrealloc(w->evs, w->capevs * sizeof *w->evs);
		}
		s = &w->evs[w->nevs++];
		memset(s, 0, sizeof *s);
		s->session = session;
		s->handle = handle;
		s->client = client;
	}
	/* Once per command (slot, position) and node event: another
	 * replica holding it too applies the same. */
	if (r->ev_slot < s->mslot || (r->ev_slot == s->mslot && r->ev_pos < s->mpos) ||
	    (r->ev_slot == s->mslot && r->ev_pos == s->mpos && ne < s->mne))
		return;
	s->mslot = r->ev_slot;
	s->mpos = r->ev_pos;
	s->mne = ne + 1;
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 16 : s->cap * 2;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	memset(&s->v[s->n], 0, sizeof s->v[s->n]);
	s->v[s->n].type = type;
	s->v[s->n].at = w->now;
	s->v[s->n].epoch = epoch;
	s->n++;
	if (w->o.verbose)
		w_trace(w, "event %#x raised for c%u handle %" PRIu64 " in memory (#%zu)", type, client,
		    handle, s->n);
}

static void
w_mem_events(struct world *w, struct w_replica *r, size_t ne, const struct ns_node_event *e,
    uint64_t epoch)
{
	const struct mh_table *t = session_mhandles(r->sm);

	for (unsigned i = 0; i < w->m; i++) {
		struct w_client *c = &w->c[i];
		uint64_t session;

		if (c->cs == NULL || (session = csess_session_id(c->cs)) == 0)
			continue;
		for (int j = 0; j < W_MAX_H; j++) {
			const struct w_handle *h = &c->h[j];
			const struct mhandle *mh = NULL;

			if (!(h->mask & e->type) || strcmp(h->path, e->node) != 0)
				continue;
			if (h->used && (h->id & (1ULL << 63)))
				mh = mh_find(t, session, h->id);
			else if (!h->used)
				for (int k = 0; k < W_THREADS && mh == NULL; k++)
					if (c->call[k].active && c->call[k].rq.op == W_OP_OPEN &&
					    c->call[k].hslot == j && c->call[k].rq.rid != 0)
						mh = mh_find_rid(t, session, c->call[k].rq.rid);
			if (mh == NULL || mh->poisoned || mh->instance != e->instance ||
			    (e->handle != 0 && (e->session != session || e->handle != mh->id)))
				continue;
			w_mem_note(w, r, ne, i + 1, session, mh->id, e->type, epoch);
		}
	}
}

/* ---- existence (Chubby §2.9 caches file absence) --------------------------
 *
 * The presence files come and go (ephemeral, shared names).  Each instance
 * is recorded as made and deleted at the first application anywhere of the
 * command that did it.  A read of absence (an OPEN without CREATE answered
 * NOT_FOUND, from the master or from the cache) over [B, E] is stale if an
 * instance whose making was acknowledged to a client before B was not
 * deleted by E: the node existed throughout the read.
 */

static int
w_pres_index(const char *path)
{
	size_t n = strlen(path);

	if (n < 3 || path[n - 3] != '/' || path[n - 2] != 'p' || path[n - 1] < '0' ||
	    path[n - 1] >= '0' + W_NPRES)
		return -1;
	return path[n - 1] - '0';
}

/* After a command's first application at R: what changed. */
static void
w_note_existence(struct world *w, struct w_replica *r)
{
	for (int p = 0; p < W_NPRES; p++) {
		char path[W_PATH];
		const struct ns_node *n;
		uint64_t inst;
		size_t k = w->nexist[p];

		snprintf(path, sizeof path, "/ls/" W_CELL "/p%d", p);
		n = ns_node_find(cell_ns(r->cell), path, strlen(path), NULL);
		inst = n != NULL ? n->instance : 0;
		if (k > 0 && w->exist[p][k - 1].deleted_at == 0) {
			if (w->exist[p][k - 1].instance == inst)
				continue;
			w->exist[p][k - 1].deleted_at = w->now;
		}
		if (inst == 0)
			continue;
		if (k == w->capexist[p]) {
			w->capexist[p] = k == 0 ? 16 : 2 * k;
			w->exist[p] = xrealloc(w->exist[p], w->capexist[p] * sizeof *w->exist[p]);
		}
		memset(&w->exist[p][k], 0, sizeof w->exist[p][k]);
		w->exist[p][k].instance = inst;
		w->exist[p][k].created_at = w->now;
		w->nexist[p]++;
	}
}

/* A client learnt its OPEN made PATH's INSTANCE. */
void
w_exist_acked(struct world *w, const char *path, uint64_t instance)
{
	int p = w_pres_index(path);

	if (p < 0)
		return;
	for (size_t k = w->nexist[p]; k-- > 0;)
		if (w->exist[p][k].instance == instance) {
			if (w->exist[p][k].acked_at == 0)
				w->exist[p][k].acked_at = w->now;
			return;
		}
	w_fail(w, "an OPEN made %s instance %" PRIu64 ", which never applied", path, instance);
}

void
w_absent_read(struct world *w, struct w_client *c, const char *path, uint64_t t_begin,
    bool cached)
{
	int p = w_pres_index(path);

	if (p < 0)
		return;
	for (size_t k = 0; k < w->nexist[p]; k++) {
		const struct w_exist *x = &w->exist[p][k];
		if (x->acked_at != 0 && x->acked_at < t_begin &&
		    (x->deleted_at == 0 || x->deleted_at > w->now)) {
			w_fail(w, "c%u %s read of %s's existence said absent (%" PRIu64 "-%" PRIu64
			    "), but instance %" PRIu64 " was made (acknowledged at %" PRIu64
			    ") and not deleted%s: a stale read", c->id, cached ? "a cached" : "an uncached",
			    path, t_begin, w->now, x->instance, x->acked_at,
			    x->deleted_at == 0 ? "" : " by the read's end");
			return;
		}
	}
}

/* ---- lock-delay, as the applied state sees it ------------------------------
 *
 * Chubby §2.4: when a lock's holder fails (its session expires), nobody may
 * take the lock for the lock-delay, counted from the failure (the expiry's
 * stamp: when the master proposed it), not from when the log got it
 * chosen.  Here from the applied state, at each command's first
 * application: a holder's session that ends without its client having
 * closed it expired; a new holder within half the lock-delay of the
 * expiry's proposal, in the same master's term, is a violation (the other
 * half covers drift; across terms the namespace's stamps come from another
 * master's wall clock, which the simulator draws up to 100 s apart, so a
 * fail-over in between is left to the client-side check).
 */

void
w_note_closed(struct world *w, uint64_t session)
{
	w->closed[w->nclosed++ % (sizeof w->closed / sizeof w->closed[0])] = session;
}

static bool
w_was_closed(const struct world *w, uint64_t session)
{
	for (size_t i = 0; i < sizeof w->closed / sizeof w->closed[0]; i++)
		if (w->closed[i] == session)
			return true;
	return false;
}

static bool
w_in(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* When (global ms) A's command was proposed: its stamp is its proposer's
 * wall clock then (real_base + its drifting local clock), inverted. */
static uint64_t
w_proposed_at(const struct world *w, const struct cell_applied *a)
{
	const struct w_replica *p;
	int64_t local;

	if (a->hdr.proposer < 1 || a->hdr.proposer > w->n)
		return w->now;
	p = &w->r[a->hdr.proposer - 1];
	local = (int64_t)(a->hdr.stamp_ms - p->real_base - p->clock_base);
	if (local < 0)
		return w->now;
	return (uint64_t)(local * 1000000 / (1000000 + p->drift_ppm));
}

/* The stamp namespace command A carries (its second element; 0 if none):
 * when its master decided it, by that master's term clock.  A lock-delay
 * counts from the SESSION_END's (docs/NAMESPACE.md "Lock-delay"), which an
 * expiry waiting at its invalidation gate may carry seconds before it is
 * proposed; an ACQUIRE is held to it by its own. */
static uint64_t
w_cmd_stamp(const struct cell_applied *a)
{
	msgpack_unpacked u;
	uint64_t stamp = 0;

	if (a->ns_cmd == NULL)
		return 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)a->ns_cmd, a->ns_len, NULL) ==
		MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 2 &&
	    u.data.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		stamp = u.data.via.array.ptr[1].via.u64;
	msgpack_unpacked_destroy(&u);
	return stamp;
}

static void
w_note_locks(struct world *w, struct w_replica *r, const struct cell_applied *a)
{
	uint64_t epoch = a->hdr.epoch;
	const struct ns *ns = cell_ns(r->cell);
	uint64_t half = w->cp.ns.lock_delay_default_ms / 2;

	for (int l = 0; l < 2; l++) {
		char path[W_PATH];
		const struct ns_node *n;
		uint64_t cur[W_MAX_C * W_MAX_H];
		size_t ncur = 0, i;

		snprintf(path, sizeof path, "/ls/" W_CELL "/l%d", l);
		n = ns_node_find(ns, path, strlen(path), NULL);
		for (i = 0; n != NULL && i < n->nhandles && ncur < W_MAX_C * W_MAX_H; i++)
			if (n->handles[i]->held != NS_LOCK_NONE)
				cur[ncur++] = n->handles[i]->session;
		for (i = 0; i < w->lk[l].nholders; i++) {
			uint64_t s = w->lk[l].holders[i];
			if (!w_in(cur, ncur, s) && ns_session_find(ns, s) == NULL && !w_was_closed(w, s)) {
				w->lk[l].expired_at = w_proposed_at(w, a);
				w->lk[l].expired_stamp = w_cmd_stamp(a);
				w->lk[l].expired_epoch = epoch;
				w->lk[l].expired_session = s;
			}
		}
		/* Counted, as the namespace counts it, between the stamps of
		 * the SESSION_END and of the command that grants, both of
		 * this master's term (its clock: one wall-clock reading
		 * advanced by the monotonic one); the clients' check above
		 * holds those stamps to real time. */
		for (i = 0; i < ncur; i++) {
			uint64_t stamp = w_cmd_stamp(a);

			if (w_in(w->lk[l].holders, w->lk[l].nholders, cur[i]) ||
			    w->lk[l].expired_at == 0 || epoch != w->lk[l].expired_epoch ||
			    stamp >= w->lk[l].expired_stamp + half)
				continue;
			w_fail(w, "%s granted to session %" PRIu64 " by a command stamped %" PRId64
			    " ms after the expiry of its holder's session %" PRIu64 " (same term; "
			    "proposed %" PRIu64 " ms ago): the lock-delay (%" PRIu64
			    " ms) was not honoured", path, cur[i],
			    (int64_t)(stamp - w->lk[l].expired_stamp), w->lk[l].expired_session,
			    w->now - w->lk[l].expired_at, w->cp.ns.lock_delay_default_ms);
			return;
		}
		memcpy(w->lk[l].holders, cur, ncur * sizeof cur[0]);
		w->lk[l].nholders = ncur;
	}
}

/* The applied state's events, once per command (see above). */
static void
w_note_events(struct world *w, struct w_replica *r, const struct cell_applied *a)
{
	if (r->ev_inc != r->incarnation || a->slot != r->ev_slot) {
		r->ev_inc = r->incarnation;
		r->ev_slot = a->slot;
		r->ev_pos = 0;
	} else {
		r->ev_pos++;
	}
	/* The handles in memory are a master's: their events go by the
	 * first application at a replica that holds the handle in the
	 * command's epoch (a master, or one that stepped down and may regain
	 * its lease in the epoch: a command of a later epoch ends that hope,
	 * and its parked events).  Its table must be of that epoch: one that
	 * stepped down keeps the old term's handles until this application
	 * drops them, and that master's are not the new one's, which knows a
	 * handle only from the client's first call on it (seed 48 of
	 * tests/wsim/regress-seeds). */
	if (a->res != NULL && a->hdr.epoch == session_epoch(r->sm) &&
	    a->hdr.epoch == session_mhandles_epoch(r->sm))
		for (size_t i = 0; i < a->res->nnode_events; i++)
			w_mem_events(w, r, i, &a->res->node_events[i], a->hdr.epoch);
	/* Slots start at 1: (0, 0) is below every command. */
	if (r->ev_slot < w->ev_slot || (r->ev_slot == w->ev_slot && r->ev_pos <= w->ev_pos))
		return; /* another replica applied it first */
	w->ev_slot = r->ev_slot;
	w->ev_pos = r->ev_pos;
	w_note_existence(w, r);
	w_note_locks(w, r, a);
	if (a->res == NULL)
		return;
	for (size_t i = 0; i < a->res->nevents; i++)
		w_event_raised(w, &a->res->events[i], a->hdr.epoch);
}

void
w_event_delivered(struct world *w, struct w_client *c, uint64_t handle, uint32_t type,
    uint64_t epoch)
{
	uint64_t session = csess_session_id(c->cs);
	struct w_evs *s = w_evs_find(w, session, handle);
	size_t j;

	if (s == NULL) {
		w_fail(w, "c%u received event %#x for handle %" PRIu64 " of session %" PRIu64
		    ", which the applied state never raised", c->id, type, handle, session);
		return;
	}
	/* The first of TYPE proposed in EPOCH, the epoch of the master that
	 * sent it: a master queues only events of its own epoch's commands
	 * (every older one applies before it serves), and one of an older
	 * epoch is lost with its master (excused by the notice that comes). */
	for (j = s->next; j < s->n && (s->v[j].type != type || s->v[j].epoch != epoch); j++)
		;
	if (j == s->n) {
		w_fail(w, "c%u received event %#x for handle %" PRIu64 " of session %" PRIu64
		    " from epoch %" PRIu64 " again or out of order (%zu of %zu delivered)", c->id, type,
		    handle, session, epoch, s->next, s->n);
		return;
	}
	if (w->o.verbose)
		w_trace(w, "c%u receives event %#x for handle %" PRIu64 " (#%zu, next #%zu)", c->id,
		    type, handle, j + 1, s->next + 1);
	for (; s->next < j; s->next++)
		s->v[s->next].skipped = true;
	s->next = j + 1;
	if (handle & (1ULL << 63)) {
		w->res.mem_events++;
		for (int h = 0; h < W_MAX_H; h++)
			if (c->h[h].used && c->h[h].id == handle && c->h[h].epoch != epoch)
				w->res.mem_reopened_events++;
	}
}

/*
 * The network lost a reply to client C (its connection broke): the events
 * it carried are counted (res.events_lost), and excused by nothing: the
 * master keeps them until the client acknowledges them (docs/PROTOCOL.md
 * "Event ids and ev_ack"), so they must come again.
 */
void
w_rep_lost(struct world *w, struct w_client *c, const struct w_rep *rep)
{
	const msgpack_object *evs = NULL;
	msgpack_unpacked u;

	if (rep->result == NULL || c->cs == NULL)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)rep->result, rep->rlen, NULL) ==
		MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP &&
	    mp_get_array(&u.data, "events", MP_OPTIONAL, &evs, NULL, 0) == CHUBBY_OK && evs != NULL)
		w->res.events_lost += evs->via.array.size;
	msgpack_unpacked_destroy(&u);
}

/* C was told MASTER_FAILOVER: the events of commands proposed in older
 * epochs than the one it knows now may be lost with their master's memory
 * (or never have been queued: a command applied while its master's
 * session layer was not serving). */
void
w_note_failover(struct world *w, struct w_client *c)
{
	uint64_t session = csess_session_id(c->cs), epoch = csess_epoch(c->cs);

	for (size_t i = 0; i < w->nevs; i++) {
		struct w_evs *s = &w->evs[i];
		if (s->session != session)
			continue;
		for (size_t k = 0; k < s->n; k++)
			if (s->v[k].epoch < epoch)
				s->v[k].excused = true;
	}
}

/* SESSION is no client's any more: its events go unchecked. */
void
w_forget_session(struct world *w, uint64_t session)
{
	size_t i, j;

	for (i = j = 0; i < w->nevs; i++) {
		if (w->evs[i].session == session) {
			free(w->evs[i].v);
			continue;
		}
		w->evs[j++] = w->evs[i];
	}
	w->nevs = j;
}

/* Of S's events of TYPE and EPOCH not excused by a notice: how many are
 * not delivered (*MISSING), and of those how many were passed over by a
 * later delivery (*SKIPPED). */
static void
w_evs_missing(const struct w_evs *s, uint32_t type, uint64_t epoch, size_t *missing,
    size_t *skipped)
{
	*missing = *skipped = 0;
	for (size_t k = 0; k < s->n; k++) {
		const struct w_evx *x = &s->v[k];
		if (x->excused || x->type != type || x->epoch != epoch ||
		    (k < s->next && !x->skipped))
			continue;
		(*missing)++;
		*skipped += x->skipped;
	}
}

/* Whether an open handle of a client in good standing misses an event
 * (lost: a later one of its type and epoch was delivered: a fail; not yet
 * delivered: true, with what in WHY). */
bool
w_events_pending(struct world *w, char *why, size_t len)
{
	for (size_t i = 0; i < w->nevs && !w->failed; i++) {
		struct w_evs *s = &w->evs[i];
		struct w_client *c = &w->c[s->client - 1];
		bool open = false;

		if (c->cs == NULL || csess_session_id(c->cs) != s->session || !w_client_good(w, c))
			continue;
		for (int h = 0; h < W_MAX_H; h++)
			open |= c->h[h].used && c->h[h].id == s->handle;
		if (!open)
			continue;
		for (size_t k = 0; k < s->n; k++) {
			const struct w_evx *x = &s->v[k];
			size_t missing, skipped;

			if (x->excused || (k < s->next && !x->skipped))
				continue;
			w_evs_missing(s, x->type, x->epoch, &missing, &skipped);
			if (missing == 0)
				continue;
			if (skipped > 0) {
				w_fail(w, "c%u in good standing lost event %#x (raised at %" PRIu64
				    ") of handle %" PRIu64 " of session %" PRIu64 ": a later one was "
				    "delivered and no MASTER_FAILOVER came",
				    c->id, x->type, x->at, s->handle, s->session);
				return false;
			}
			snprintf(why, len, "c%u handle %" PRIu64 " waits for event %#x raised at %"
			    PRIu64, c->id, s->handle, x->type, x->at);
			return true;
		}
	}
	return false;
}

void
w_events_free(struct world *w)
{
	for (int p = 0; p < W_NPRES; p++)
		free(w->exist[p]);
	for (size_t i = 0; i < w->nevs; i++)
		free(w->evs[i].v);
	free(w->evs);
}
