/*
 * wsim.c: the whole-cell simulator's world (after tests/sim, FoundationDB's
 * simulation and TigerBeetle's VOPR): one seed drives randomness, the
 * virtual clock, the network (peer messages lost, duplicated, reordered,
 * partitioned; client connections in order, broken whole), the disks
 * (unsynced writes lost on a crash, slow syncs), crashes, restarts, wiped
 * stores, paused processes, and the run: a fault phase, then healing and
 * liveness.  Nothing here reads a clock or draws randomness of its own.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "ns/ns.h"
#include "simknob.h"
#include "wsim_int.h"
#include "xmalloc.h"

/* The knob the sim's objects of the pure modules read (common/simknob.h). */
unsigned chubby_sim_knobs;

/* ---- trace and failure ------------------------------------------------ */

void
w_trace(struct world *w, const char *fmt, ...)
{
	char *line = w->trace[w->ntrace++ % W_TRACE];
	va_list ap;

	va_start(ap, fmt);
	simtrace_format(line, sizeof w->trace[0], w->now, fmt, ap);
	va_end(ap);
	w->res.hash = (w->res.hash ^ w->steps) * 0x100000001b3ULL;
	for (const char *p = line; *p != '\0'; p++)
		w->res.hash = (w->res.hash ^ (uint8_t)*p) * 0x100000001b3ULL;
	if (w->o.verbose)
		fprintf(stderr, "%s\n", line);
}

void
w_fail(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->failed)
		return;
	w->failed = true;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof w->why, fmt, ap);
	va_end(ap);
	w_trace(w, "VIOLATION: %s", w->why);
}

/* ---- clocks ----------------------------------------------------------- */

uint64_t
w_rlocal(const struct w_replica *r, uint64_t t)
{
	return r->clock_base + (uint64_t)((int64_t)t + ((int64_t)t * r->drift_ppm) / 1000000);
}

uint64_t
w_clocal(const struct w_client *c, uint64_t t)
{
	return c->clock_base + (uint64_t)((int64_t)t + ((int64_t)t * c->drift_ppm) / 1000000);
}

/* ---- the event heap (tests/simlib) ------------------------------------ */

void
w_push(struct world *w, struct w_ev *ev)
{
	simheap_push(&w->heap, ev);
}

static void
w_ev_free(struct w_ev *e)
{
	paxos_msg_free(&e->msg);
	paxos_buf_free(&e->data);
	free(e->req);
	if (e->rep != NULL)
		free(e->rep->result);
	free(e->rep);
}

/* ---- client connections ----------------------------------------------- */

size_t
w_conn_open(struct world *w, unsigned client, unsigned replica, uint64_t cid)
{
	struct w_conn *c;
	struct w_ev ev;

	if (w->nconns == w->capconns) {
		w->capconns = w->capconns == 0 ? 64 : w->capconns * 2;
		w->conns = xrealloc(w->conns, w->capconns * sizeof *w->conns);
	}
	c = &w->conns[w->nconns];
	memset(c, 0, sizeof *c);
	c->open = true;
	c->client = client;
	c->replica = replica;
	c->cid = cid;
	memset(&ev, 0, sizeof ev);
	ev.type = W_EV_CONNECT;
	ev.at = w->now + 1 + w_below(&w->rng, w->max_delay);
	ev.to = client;
	ev.conn = w->nconns;
	w_push(w, &ev);
	return w->nconns++;
}

void
w_conn_break(struct world *w, size_t conn, bool tell_client)
{
	struct w_conn *c = &w->conns[conn];
	struct w_ev ev;

	if (c->broken)
		return;
	c->broken = true;
	if (!c->open || !tell_client)
		return;
	memset(&ev, 0, sizeof ev);
	ev.type = W_EV_DROP;
	ev.at = w->now + 1 + w_below(&w->rng, w->max_delay);
	ev.to = c->client;
	ev.conn = conn;
	w_push(w, &ev);
}

/* In order on one connection: a message never overtakes an earlier one. */
static uint64_t
w_fifo_at(struct world *w, uint64_t *last, unsigned extra)
{
	uint64_t at = w->now + 1 + w_below(&w->rng, w->max_delay) + extra;

	if (at < *last)
		at = *last;
	*last = at;
	return at;
}

void
w_send_req(struct world *w, size_t conn, struct w_req *rq)
{
	struct w_conn *c = &w->conns[conn];
	struct w_ev ev;

	if (c->broken || w->ccut[c->client - 1][c->replica - 1] ||
	    w_chance(&w->rng, w->conn_break_pm, 1000)) {
		free(rq);
		w_conn_break(w, conn, true);
		return;
	}
	memset(&ev, 0, sizeof ev);
	ev.type = W_EV_REQ;
	ev.at = w_fifo_at(w, &c->last_c2r, 0);
	ev.to = c->replica;
	ev.conn = conn;
	ev.req = rq;
	w_push(w, &ev);
}

void
w_send_rep(struct world *w, size_t conn, struct w_rep *rep)
{
	struct w_conn *c = &w->conns[conn];
	struct w_ev ev;

	if (c->broken || !c->open || w->ccut[c->client - 1][c->replica - 1] ||
	    w_chance(&w->rng, w->conn_break_pm, 1000)) {
		w_rep_lost(w, &w->c[c->client - 1], rep);
		free(rep->result);
		free(rep);
		w_conn_break(w, conn, true);
		return;
	}
	memset(&ev, 0, sizeof ev);
	ev.type = W_EV_REP;
	ev.at = w_fifo_at(w, &c->last_r2c,
	    c->client == w->slow_client ? (unsigned)w_below(&w->rng, w->slow_ms + 1) : 0);
	ev.to = c->client;
	ev.conn = conn;
	ev.rep = rep;
	w_push(w, &ev);
}

/* ---- delivery --------------------------------------------------------- */

static struct w_held **
w_held_of(struct world *w, const struct w_ev *e, uint64_t *until)
{
	switch (e->type) {
	case W_EV_PEER:
	case W_EV_SYNC:
	case W_EV_SNAP:
	case W_EV_REQ:
		*until = w->r[e->to - 1].paused_until;
		return &w->r[e->to - 1].held;
	default:
		*until = w->c[e->to - 1].paused_until;
		return &w->c[e->to - 1].held;
	}
}

/* Whether E's receiver is stopped (or still has older events held): then
 * E waits, in order, for it to run again. */
static bool
w_deferred(struct world *w, struct w_ev *e)
{
	uint64_t until;
	struct w_held **hp = w_held_of(w, e, &until), *h;

	if (until <= w->now && (*hp == NULL || (*hp)->n == 0))
		return false;
	if (*hp == NULL)
		*hp = xcalloc(1, sizeof **hp);
	h = *hp;
	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 32 : h->cap * 2;
		h->v = xrealloc(h->v, h->cap * sizeof *h->v);
	}
	h->v[h->n++] = *e;
	return true;
}

static void w_deliver(struct world *w, struct w_ev *e);

/* A process runs again: what reached it meanwhile, in its order. */
static void
w_drain(struct world *w, struct w_held *h)
{
	size_t i;

	if (h == NULL || h->n == 0)
		return;
	for (i = 0; i < h->n && !w->failed; i++) {
		w_deliver(w, &h->v[i]);
		w_ev_free(&h->v[i]);
		w_check(w);
	}
	for (; i < h->n; i++)
		w_ev_free(&h->v[i]);
	h->n = 0;
}

static void
w_held_free(struct w_held *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		w_ev_free(&h->v[i]);
	free(h->v);
	free(h);
}

static void
w_deliver(struct world *w, struct w_ev *e)
{
	struct w_conn *c = e->type >= W_EV_CONNECT ? &w->conns[e->conn] : NULL;
	struct w_replica *r;

	switch (e->type) {
	case W_EV_PEER:
	case W_EV_SYNC:
	case W_EV_SNAP:
		w_replica_deliver(w, e);
		break;
	case W_EV_CONNECT:
		r = &w->r[c->replica - 1];
		if (!c->open)
			break;
		if (!r->up || w->ccut[c->client - 1][c->replica - 1]) {
			c->broken = true;
			w_client_connected(w, &w->c[c->client - 1], e->conn, false);
			break;
		}
		c->incarnation = r->incarnation;
		w_client_connected(w, &w->c[c->client - 1], e->conn, true);
		break;
	case W_EV_REQ:
		r = &w->r[c->replica - 1];
		if (c->broken || !r->up || r->incarnation != c->incarnation)
			break;
		if (w->ccut[c->client - 1][c->replica - 1]) {
			w_conn_break(w, e->conn, true);
			break;
		}
		w_replica_request(w, r, e->conn, e->req);
		break;
	case W_EV_REP:
		if (c->broken || !c->open) {
			w_rep_lost(w, &w->c[c->client - 1], e->rep);
			break;
		}
		w_client_reply(w, &w->c[c->client - 1], e->conn, e->rep);
		break;
	case W_EV_DROP:
		if (c->open)
			w_client_dropped(w, &w->c[c->client - 1], e->conn);
		break;
	}
}

/* ---- faults ----------------------------------------------------------- */

static unsigned
w_count_up(const struct world *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->n; i++)
		n += w->r[i].up;
	return n;
}

static void
w_heal(struct world *w)
{
	memset(w->cut, 0, sizeof w->cut);
	memset(w->ccut, 0, sizeof w->ccut);
	w_trace(w, "network healed");
}

static void
w_wipe(struct world *w, struct w_replica *r)
{
	/* Only while every other replica votes: losing a second store before
	 * the first caught up could lose what was chosen. */
	for (unsigned i = 0; i < w->n; i++)
		if (w->r[i].lost || (w->r[i].up && !paxos_is_voter(w->r[i].p)) ||
		    (!w->r[i].up && w->r[i].st.nonvoter))
			return;
	w_replica_crash(w, r);
	w_trace(w, "r%u store wiped", r->id);
	w->res.wipes++;
	w_replica_store_wipe(&r->st);
	r->lost = true;
}

static void
w_fault_step(struct world *w)
{
	unsigned id = 1 + (unsigned)w_below(&w->rng, w->n);
	unsigned cl = 1 + (unsigned)w_below(&w->rng, w->m);
	struct w_replica *r = &w->r[id - 1];
	struct w_client *c = &w->c[cl - 1];
	unsigned m;

	if (w_chance(&w->rng, 1, 5000 * w->calm) && r->up && w_count_up(w) > w->n / 2 + 1)
		w_replica_crash(w, r);
	if (w_chance(&w->rng, 1, 1000 * w->calm) && !r->up)
		w_replica_start(w, r);
	if (w_chance(&w->rng, 1, 20000 * w->calm) && r->up)
		w_wipe(w, r);
	if (w_chance(&w->rng, 1, 6000 * w->calm)) {
		uint32_t mask = (uint32_t)w_below(&w->rng, 1u << w->n);

		for (unsigned a = 0; a < w->n; a++)
			for (unsigned b = 0; b < w->n; b++)
				if (((mask >> a) & 1) != ((mask >> b) & 1))
					w->cut[a][b] = true;
		w_trace(w, "partition: %#x | rest", mask);
		w->res.partitions++;
	}
	if (w_chance(&w->rng, 1, 8000 * w->calm) && (m = w_serving_master(w)) != 0) {
		/* The master cut from its peers, not from its clients. */
		for (unsigned b = 0; b < w->n; b++)
			w->cut[m - 1][b] = w->cut[b][m - 1] = b != m - 1;
		w_trace(w, "r%u (master) cut from its peers", m);
		w->res.partitions++;
	}
	if (w->blip_until != 0 && w->now >= w->blip_until) {
		w->blip_until = 0;
		w_heal(w);
	}
	if (w_chance(&w->rng, 1, 8000 * w->calm) && w->blip_until == 0 &&
	    (m = w_serving_master(w)) != 0) {
		/* A blip (the nemesis's): the master cut from its peers for about
		 * its lease, so that its lease lapses and often comes back in its
		 * epoch, before anyone else campaigns. */
		for (unsigned b = 0; b < w->n; b++)
			w->cut[m - 1][b] = w->cut[b][m - 1] = b != m - 1;
		w->blip_until = w->now + w->pcfg.lease_ms - 100 + w_below(&w->rng, 300);
		w_trace(w, "r%u (master) blips until %" PRIu64, m, w->blip_until);
		w->res.partitions++;
	}
	if (w_chance(&w->rng, 1, 4000 * w->calm)) {
		w->ccut[cl - 1][id - 1] = true;
		w_trace(w, "cut c%u-r%u", cl, id);
	}
	if (w_chance(&w->rng, 1, 3000 * w->calm))
		w_heal(w);
	if (w_chance(&w->rng, 1, 8000 * w->calm) && (m = w_serving_master(w)) != 0 &&
	    w->r[m - 1].paused_until <= w->now) {
		/* A stopped master (GC, swap, SIGSTOP): past its lease. */
		w->r[m - 1].paused_until = w->now + 200 + w_below(&w->rng, 3000);
		w_trace(w, "r%u (master) paused until %" PRIu64, m, w->r[m - 1].paused_until);
		w->res.pauses++;
	}
	if (w_chance(&w->rng, 1, 6000 * w->calm)) {
		/* A stopped client: past its lease (3 s) or its grace period
		 * too (up to 12 s).  Half the time the victim is an exclusive
		 * lock holder if there is one: what lock-delay is for. */
		unsigned k = (unsigned)w_below(&w->rng, 2 * w->m);

		for (unsigned i = 0; k < w->m && i < w->m; i++) {
			struct w_client *x = &w->c[(k + i) % w->m];
			for (int j = 0; j < W_MAX_H; j++)
				if (x->h[j].used && x->h[j].held == NS_LOCK_EXCLUSIVE)
					c = x;
		}
		if (c->paused_until <= w->now) {
			c->paused_until = w->now + 1000 + w_below(&w->rng, 11000);
			c->run_app_first = w_chance(&w->rng, 1, 2);
			w_trace(w, "c%u paused until %" PRIu64, c->id, c->paused_until);
			w->res.pauses++;
		}
	}
	if (w_chance(&w->rng, 1, 1500 * w->calm) && c->paused_until <= w->now) {
		/* A stutter (a short GC pause) well within the lease: the
		 * client misses invalidations while writers go on, and its
		 * application reads its cache first when it runs again. */
		c->paused_until = w->now + 100 + w_below(&w->rng, 900);
		c->run_app_first = true;
		w_trace(w, "c%u stutters until %" PRIu64, c->id, c->paused_until);
		w->res.pauses++;
	}
	if (w_chance(&w->rng, 1, 10000 * w->calm))
		w->sync_max = w->sync_max > 4 ? 4 : 300; /* slow disks, and back */
}

/* ---- the run ---------------------------------------------------------- */

/* One virtual millisecond: clients, due events, replica ticks, faults. */
static void
w_ms(struct world *w)
{
	struct w_ev e;

	for (unsigned i = 0; i < w->m && !w->failed; i++) {
		w_client_step(w, &w->c[i]);
		w_check(w);
		if (w->c[i].paused_until <= w->now)
			w_drain(w, w->c[i].held);
	}
	for (unsigned i = 0; i < w->n && !w->failed; i++)
		if (w->r[i].paused_until <= w->now)
			w_drain(w, w->r[i].held);
	while (simheap_next_at(&w->heap) <= w->now && !w->failed) {
		simheap_pop(&w->heap, &e);
		if (w_deferred(w, &e))
			continue;
		w_deliver(w, &e);
		w_ev_free(&e);
		w_check(w);
	}
	for (unsigned i = 0; i < w->n && !w->failed; i++) {
		struct w_replica *r = &w->r[i];

		if (!r->up || r->paused_until > w->now || w->now < r->next_tick)
			continue;
		r->next_tick = w->now + W_TICK_MS;
		w_replica_tick(w, r);
		w_check(w);
	}
	if (!w->failed && !w->healing)
		w_fault_step(w);
	w->now++;
}

static bool
w_all_done(struct world *w, char *why, size_t len)
{
	snprintf(why, len, "no master serving");
	if (w_serving_master(w) == 0)
		return false;
	snprintf(why, len, "a call or session pending");
	for (unsigned i = 0; i < w->m; i++)
		if (!w_client_idle(&w->c[i]))
			return false;
	snprintf(why, len, "a replica not voting");
	for (unsigned i = 0; i < w->n; i++)
		if (!paxos_is_voter(w->r[i].p))
			return false;
	/* Every session but the clients' current ones has ended (expired or
	 * closed), so that the final check sees what ending them reaped. */
	snprintf(why, len, "an old session not ended");
	if (ns_session_count(cell_ns(w->r[w_serving_master(w) - 1].cell)) != w->m)
		return false;
	/* Every event of an open handle delivered (or lost with a master). */
	return !w_events_pending(w, why, len);
}

static void
w_liveness(struct world *w)
{
	uint64_t end;
	char why[256];

	w->healing = true;
	w_trace(w, "liveness phase: faults stop, the network heals, all restart");
	w_heal(w);
	w->drop_pct = w->dup_pct = 0;
	w->conn_break_pm = 0;
	w->sync_max = 4;
	/* Pauses run out by themselves (within seconds): ending them early
	 * would let what waits for them be overtaken. */
	for (unsigned i = 0; i < w->n; i++)
		if (!w->r[i].up)
			w_replica_start(w, &w->r[i]);
	end = w->now + w->o.live_ms;
	while (w->now < end && !w->failed) {
		w_ms(w);
		if (w_all_done(w, why, sizeof why)) {
			w_check_final(w);
			return;
		}
	}
	if (!w->failed) {
		char line[256];
		size_t n = 0;

		line[0] = '\0';
		for (unsigned i = 0; i < w->m; i++)
			n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0,
			    " c%u:%s%s", i + 1, csess_state_name(csess_state(w->c[i].cs)),
			    w_client_calls(&w->c[i]) ? "+call" : "");
		w_fail(w, "liveness: not every pending call completed within %" PRIu64
		    " ms after healing (%s; master %u;%s)", w->o.live_ms, why, w_serving_master(w),
		    line);
	}
}

static void
w_init(struct world *w, const struct wsim_opts *o)
{
	struct paxos_config *c = &w->pcfg;
	struct csess_config *cc = &w->ccfg;

	memset(w, 0, sizeof *w);
	w->o = *o;
	w->n = o->replicas;
	w->m = o->clients;
	simrng_seed(&w->rng, o->seed);
	simheap_init(&w->heap, sizeof(struct w_ev));
	/* Each seed its own fault density: some runs storm, some give the
	 * cell long calm stretches between faults (where leases, expiries and
	 * lock-delays play out undisturbed). */
	w->calm = 1u << w_below(&w->rng, 4);
	/* Half the seeds have a client on a slow link (50-450 ms more). */
	if (w_chance(&w->rng, 1, 2)) {
		w->slow_client = 1 + (unsigned)w_below(&w->rng, o->clients);
		w->slow_ms = 50 + (unsigned)w_below(&w->rng, 400);
	}
	paxos_config_defaults(c);
	c->nmembers = w->n;
	for (unsigned i = 0; i < w->n; i++)
		c->members[i] = i + 1;
	/* Short timings (tests/sim's), so that many fail-overs fit in a run. */
	c->lease_ms = 1000;
	c->drift_ppm = 50000;
	c->margin_ms = 10;
	c->heartbeat_ms = 150;
	c->election_min_ms = 0;
	c->election_max_ms = 300;
	c->after_lease_max_ms = 150;
	c->batch_max_count = 8;
	c->pipeline_max = 6;
	c->queue_max = 256;
	c->snapshot_every = 60;
	c->log_keep = 20;
	c->catchup_max = 16;
	c->propose_on_flush = false;
	c->snapshot_chunk = 512;
	w->cp.ns.cell = W_CELL;
	w->cp.ns.lock_delay_default_ms = 1000;
	w->cp.ns.lock_delay_max_ms = 5000;
	w->cp.ns.lock_delay_given = true;
	w->cp.checksum_interval = 0;
	csess_config_defaults(cc);
	for (unsigned i = 0; i < w->n; i++) {
		snprintf(w->addrbuf[i], sizeof w->addrbuf[i], "r%u", i + 1);
		w->addrs[i] = w->addrbuf[i];
	}
	cc->replicas = w->addrs;
	cc->nreplicas = w->n;
	cc->lease_ms = 3000;
	cc->grace_ms = 5000;
	cc->drift_ppm = 50000;
	cc->margin_ms = 50;
	cc->guard_ms = 800;
	cc->slack_ms = 300;
	cc->connect_timeout_ms = 500;
	cc->request_timeout_ms = 500;
	cc->backoff_min_ms = 20;
	cc->backoff_max_ms = 1000;
	cc->backoff_fast_max_ms = 150;
	cc->backoff_fast_window_ms = 3000;
	cc->dead_hint_ms = 500;
	w->drop_pct = 3;
	w->dup_pct = 2;
	w->max_delay = 20;
	w->conn_break_pm = 1;
	w->sync_max = 4;
	for (unsigned i = 0; i < w->n; i++) {
		w->r[i].id = i + 1;
		w->r[i].w = w;
		w->r[i].drift_ppm = (int64_t)w_below(&w->rng, 40001) - 20000;
		w->r[i].clock_base = 1000000 + w_below(&w->rng, 1000000);
		w->r[i].real_base = 1700000000000ull + w_below(&w->rng, 100000);
	}
	for (unsigned i = 0; i < w->n; i++)
		w_replica_start(w, &w->r[i]);
	for (unsigned i = 0; i < w->m; i++)
		w_client_init(w, &w->c[i], i + 1);
}

static void
w_free(struct world *w)
{
	struct w_ev e;

	for (unsigned i = 0; i < w->m; i++) {
		w_client_free(&w->c[i]);
		w_held_free(w->c[i].held);
	}
	for (unsigned i = 0; i < w->n; i++)
		w_held_free(w->r[i].held);
	for (unsigned i = 0; i < w->n; i++) {
		w_replica_free(&w->r[i]);
		w_replica_store_free(&w->r[i].st);
	}
	while (w->heap.n > 0) {
		simheap_pop(&w->heap, &e);
		w_ev_free(&e);
	}
	simheap_free(&w->heap);
	free(w->conns);
	free(w->digest_at);
	free(w->writes);
	w_events_free(w);
	for (int f = 0; f < 4; f++)
		free(w->acks[f]);
}

static void
w_report(struct world *w)
{
	char args[256];
	unsigned first = w->ntrace > W_TRACE ? w->ntrace - W_TRACE : 0;

	wsim_opts_format(&w->o, args, sizeof args);
	fprintf(stderr, "WSIM FAILURE seed=%" PRIu64 " step=%" PRIu64 " t=%" PRIu64 "ms: %s\n"
	    "  replay: tests/wsim/chubby-wsim %s --verbose\n"
	    "  regress: %s   (add this line to tests/wsim/regress-seeds)\n  trace tail:\n",
	    w->o.seed, w->steps, w->now, w->why, args, args);
	for (unsigned i = first; i < w->ntrace; i++)
		fprintf(stderr, "    %s\n", w->trace[i % W_TRACE]);
}

int
wsim_run(const struct wsim_opts *o, struct wsim_result *res)
{
	struct world *w;
	int rc;

	if (res != NULL)
		memset(res, 0, sizeof *res);
	if (o->replicas < 3 || o->replicas > W_MAX_R || o->clients < 1 || o->clients > W_MAX_C) {
		if (res != NULL) {
			res->failed = true;
			snprintf(res->why, sizeof res->why, "--replicas must be 3-%d, --clients 1-%d",
			    W_MAX_R, W_MAX_C);
		}
		return -1;
	}
	chubby_sim_knobs = o->broken;
	w = xcalloc(1, sizeof *w);
	w_init(w, o);
	while (!w->failed && w->steps < o->steps)
		w_ms(w);
	if (!w->failed)
		w_liveness(w);
	w->res.failed = w->failed;
	snprintf(w->res.why, sizeof w->res.why, "%s", w->why);
	w->res.steps = w->steps;
	for (unsigned i = 0; i < w->n; i++)
		if (w->r[i].cell != NULL)
			w->res.hash = (w->res.hash ^ cell_digest(w->r[i].cell)) * 0x100000001b3ULL;
	w->res.now_ms = w->now;
	if (w->failed && !o->quiet)
		w_report(w);
	if (res != NULL)
		*res = w->res;
	rc = w->failed ? 1 : 0;
	w_free(w);
	free(w);
	chubby_sim_knobs = 0;
	return rc;
}

/* ---- options ---------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned knob;
} w_broken[] = {
    {"cache-no-clock", SIM_KNOB_CACHE_NO_CLOCK},
    {"no-dedupe", SIM_KNOB_NO_DEDUPE},
    {"write-no-gate", SIM_KNOB_WRITE_NO_GATE},
    {"read-no-lease", SIM_KNOB_READ_NO_LEASE},
    {"seq-no-gen", SIM_KNOB_SEQ_NO_GEN},
    {"events-truncated", SIM_KNOB_EVENTS_TRUNCATED},
    {"ungated-existence", SIM_KNOB_UNGATED_EXISTENCE},
    {"no-lock-delay", SIM_KNOB_NO_LOCK_DELAY},
    {"gates-unordered", SIM_KNOB_GATES_UNORDERED},
};

const char *
wsim_broken_name(unsigned i, unsigned *knob)
{
	if (i >= sizeof w_broken / sizeof w_broken[0])
		return NULL;
	if (knob != NULL)
		*knob = w_broken[i].knob;
	return w_broken[i].name;
}

unsigned
wsim_broken_knob(const char *name)
{
	for (size_t i = 0; i < sizeof w_broken / sizeof w_broken[0]; i++)
		if (strcmp(name, w_broken[i].name) == 0)
			return w_broken[i].knob;
	return 0;
}

void
wsim_opts_defaults(struct wsim_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->replicas = 5;
	o->clients = 4;
	o->steps = 200000;
	o->live_ms = 60000;
}

void
wsim_opts_format(const struct wsim_opts *o, char *buf, size_t len)
{
	const char *b = NULL;

	for (size_t i = 0; i < sizeof w_broken / sizeof w_broken[0]; i++)
		if (w_broken[i].knob == o->broken)
			b = w_broken[i].name;
	snprintf(buf, len, "--seed %" PRIu64 " --replicas %u --clients %u --steps %" PRIu64
	    " --live-ms %" PRIu64 "%s%s", o->seed, o->replicas, o->clients, o->steps, o->live_ms,
	    b != NULL ? " --broken " : "", b != NULL ? b : "");
}

static int
w_num(const char *v, uint64_t *out)
{
	char *end;

	if (v == NULL || *v == '\0')
		return -1;
	*out = strtoull(v, &end, 10);
	return *end == '\0' ? 0 : -1;
}

int
wsim_opts_set(struct wsim_opts *o, const char *name, const char *value)
{
	uint64_t v = 0;

	if (strcmp(name, "--verbose") == 0) {
		o->verbose = true;
		return 1;
	}
	if (strcmp(name, "--broken") == 0) {
		if (value == NULL || (o->broken = wsim_broken_knob(value)) == 0)
			return -1;
		return 2;
	}
	if (w_num(value, &v) != 0)
		return -1;
	if (strcmp(name, "--seed") == 0)
		o->seed = v;
	else if (strcmp(name, "--replicas") == 0)
		o->replicas = (unsigned)v;
	else if (strcmp(name, "--clients") == 0)
		o->clients = (unsigned)v;
	else if (strcmp(name, "--steps") == 0)
		o->steps = v;
	else if (strcmp(name, "--live-ms") == 0)
		o->live_ms = v;
	else
		return -1;
	return 2;
}

int
wsim_opts_parse_line(struct wsim_opts *o, const char *line)
{
	char buf[512], *tok[32], *save = NULL, *hash;
	int n = 0, i, rc;
	bool seed = false;

	snprintf(buf, sizeof buf, "%s", line);
	if ((hash = strchr(buf, '#')) != NULL)
		*hash = '\0';
	for (char *t = strtok_r(buf, " \t\r\n", &save); t != NULL && n < 32;
	     t = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = t;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i += rc) {
		rc = wsim_opts_set(o, tok[i], i + 1 < n ? tok[i + 1] : NULL);
		if (rc < 0)
			return -1;
		if (strcmp(tok[i], "--seed") == 0)
			seed = true;
	}
	return seed ? 1 : -1;
}
