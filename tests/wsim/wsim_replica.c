/*
 * wsim_replica.c: one simulated replica (the Paxos core, the applied state,
 * the namespace, the master's session layer and the request layer, wired
 * as server/replica.c, server/session_shell.c and server/rpc/rpc_ns.c wire
 * them).  The request layer is chubbyd's own (server/svc): the client
 * model's requests go to it as structs, and its answers come back as the
 * fields the model reads, where chubbyd encodes them as msgpack.
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
#include "seqtoken.h"
#include "simknob.h"
#include "svc/svc.h"
#include "wsim_int.h"
#include "xmalloc.h"

/* A request the layers hold: where its answer goes. */
struct w_tok {
	struct w_replica *r;
	size_t conn;
	uint64_t wire_id;
	enum w_op op;
};

static struct svc *w_replica_svc_new(struct w_replica *r);

static struct session_now
w_now(const struct w_replica *r)
{
	uint64_t mono = w_rlocal(r, r->w->now);
	struct session_now n = {.mono_ms = mono, .real_ms = r->real_base + mono};

	return n;
}

bool
w_replica_serving(const struct w_replica *r, uint64_t now)
{
	return r->up && !cell_diverged(r->cell) && r->barrier_epoch == r->epoch && r->epoch != 0 &&
	    paxos_is_master_with_lease(r->p, w_rlocal(r, now));
}

unsigned
w_serving_master(const struct world *w)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w_replica_serving(&w->r[i], w->now))
			return i + 1;
	return 0;
}

/* ---- the store (a disk that loses unsynced writes, as tests/sim's) ---- */

static void
w_store_upsert(struct w_store *st, const struct paxos_entry *e)
{
	size_t lo = 0, hi = st->nentries, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (st->entries[mid].slot < e->slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->nentries && st->entries[lo].slot == e->slot) {
		paxos_entry_free(&st->entries[lo]);
		paxos_entry_copy(&st->entries[lo], e);
		return;
	}
	if (st->nentries == st->capentries) {
		st->capentries = st->capentries == 0 ? 64 : st->capentries * 2;
		st->entries = xrealloc(st->entries, st->capentries * sizeof *st->entries);
	}
	memmove(st->entries + lo + 1, st->entries + lo, (st->nentries - lo) * sizeof *st->entries);
	st->nentries++;
	paxos_entry_copy(&st->entries[lo], e);
}

static void
w_store_drop_pending(struct w_store *st)
{
	for (size_t i = 0; i < st->npending; i++)
		paxos_persist_free(&st->pending[i]);
	st->npending = 0;
}

void
w_replica_store_wipe(struct w_store *st)
{
	w_store_drop_pending(st);
	for (size_t i = 0; i < st->nentries; i++)
		paxos_entry_free(&st->entries[i]);
	st->nentries = 0;
	paxos_buf_free(&st->snap);
	st->promised = 0;
	st->chosen_upto = 0;
	st->nonvoter = false;
	st->snap_index = 0;
}

void
w_replica_store_free(struct w_store *st)
{
	w_replica_store_wipe(st);
	free(st->entries);
	free(st->pending);
}

static void
w_store_sync(struct world *w, struct w_replica *r, uint64_t token)
{
	struct w_store *st = &r->st;
	struct paxos_persist *p;
	size_t i, j;

	if (st->npending == 0 || st->pending[0].token != token) {
		w_fail(w, "replica %u: sync of token %" PRIu64 " out of order", r->id, token);
		return;
	}
	p = &st->pending[0];
	if (p->set_promised)
		st->promised = p->promised;
	if (p->set_nonvoter) {
		st->nonvoter = p->nonvoter;
		if (p->nonvoter)
			r->lost = false;
	}
	if (p->set_snapshot) {
		paxos_buf_free(&st->snap);
		paxos_buf_copy(&st->snap, &p->snap);
		st->snap_index = p->snap_index;
	}
	if (p->truncate_upto > 0) {
		for (i = 0; i < st->nentries && st->entries[i].slot <= p->truncate_upto; i++)
			paxos_entry_free(&st->entries[i]);
		for (j = 0; i < st->nentries; i++, j++)
			st->entries[j] = st->entries[i];
		st->nentries = j;
	}
	for (i = 0; i < p->nentries; i++)
		w_store_upsert(st, &p->entries[i]);
	if (p->chosen_upto > st->chosen_upto)
		st->chosen_upto = p->chosen_upto;
	paxos_persist_free(p);
	memmove(st->pending, st->pending + 1, (st->npending - 1) * sizeof *st->pending);
	st->npending--;
}

/* ---- driving the core (replica.c's replica_step / run_actions) --------- */

static void w_run_actions(struct world *w, struct w_replica *r);

static int
w_step(struct world *w, struct w_replica *r, struct paxos_event *ev)
{
	int rc;

	ev->now = w_rlocal(r, w->now);
	w->steps++;
	rc = paxos_step(r->p, ev, &r->acts);
	if (!r->stepping) {
		r->stepping = true;
		w_run_actions(w, r);
		r->stepping = false;
	}
	return rc;
}

static void
w_fail_pending(struct w_replica *r, int status)
{
	while (r->pending != NULL) {
		struct w_pending *p = r->pending;
		r->pending = p->next;
		p->done(status, NULL, p->arg);
		free(p);
	}
}

/* The applied state's observer (replica.c's replica_on_applied). */
static void
w_on_applied(void *arg, const struct cell_applied *a)
{
	struct w_replica *r = arg;
	struct world *w = r->w;

	w_note_applied(w, r, a);
	if (a->type == CELL_CMD_NOOP && r->role == PAXOS_MASTER && a->hdr.proposer == r->id &&
	    a->hdr.epoch == r->epoch)
		r->barrier_epoch = r->epoch;
	if (a->hdr.epoch < r->max_epoch_applied && a->type == CELL_CMD_NS)
		w_trace(w, "r%u applies slot %" PRIu64 " proposed in epoch %" PRIx64 " after epoch %"
		    PRIx64 " (%s)", r->id, a->slot, a->hdr.epoch, r->max_epoch_applied,
		    chubby_strerror(a->status));
	if (a->hdr.epoch > r->max_epoch_applied)
		r->max_epoch_applied = a->hdr.epoch;
	if (a->type == CELL_CMD_NS && a->res != NULL)
		session_applied(r->sm, w_now(r), a->ns_cmd, a->ns_len, a->res);
	if (a->hdr.proposer != r->id || a->hdr.epoch != r->epoch)
		return;
	for (struct w_pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->seq == a->hdr.seq) {
			struct w_pending *p = *pp;
			*pp = p->next;
			p->done(a->status, a->res, p->arg);
			free(p);
			return;
		}
}

static void
w_on_state_replaced(void *arg)
{
	struct w_replica *r = arg;

	session_state_replaced(r->sm);
}

static void
w_apply(struct world *w, struct w_replica *r, uint64_t slot, const struct paxos_buf *batch)
{
	size_t off = 0, len;
	const uint8_t *cmd;
	char why[256];

	if (slot <= cell_applied_index(r->cell))
		return;
	while (paxos_batch_next(batch, &off, &cmd, &len) && !w->failed) {
		why[0] = '\0';
		if (cell_apply(r->cell, slot, cmd, len, why, sizeof why) == CELL_DIVERGED)
			w_fail(w, "replica %u: consistency check failed: %s", r->id, why);
	}
	cell_end_slot(r->cell, slot);
	r->last_progress = w_rlocal(r, w->now);
	w_check_digest(w, r);
}

static int w_propose(struct w_replica *r, uint8_t type, const uint8_t *cmd, size_t len,
    uint64_t seq);

/* replica.c's replica_role: a new term proposes a NOOP entry of its epoch,
 * and the replica serves once that applied. */
static void
w_role(struct world *w, struct w_replica *r, const struct paxos_action *a)
{
	bool new_term = a->role == PAXOS_MASTER && (r->role != PAXOS_MASTER || a->epoch != r->epoch);

	if (a->role != r->role || a->epoch != r->epoch || a->master != r->master)
		w_trace(w, "r%u role %s epoch %" PRIx64 " master %u", r->id,
		    paxos_role_name(a->role), a->epoch, a->master);
	if (r->role == PAXOS_MASTER && (a->role != PAXOS_MASTER || a->epoch != r->epoch))
		w_fail_pending(r, CHUBBY_E_NOT_MASTER);
	r->role = a->role;
	r->epoch = a->epoch;
	r->master = a->master;
	if (new_term) {
		r->barrier_epoch = 0;
		(void)w_propose(r, CELL_CMD_NOOP, NULL, 0, 0);
	}
}

static void
w_send_peer(struct world *w, struct w_replica *r, const struct paxos_msg *m)
{
	unsigned copies = 1;
	struct w_ev ev;

	if (m->to < 1 || m->to > w->n || w->cut[r->id - 1][m->to - 1] ||
	    w_chance(&w->rng, w->drop_pct, 100))
		return;
	if (w_chance(&w->rng, w->dup_pct, 100))
		copies = 2;
	for (unsigned i = 0; i < copies; i++) {
		memset(&ev, 0, sizeof ev);
		ev.type = W_EV_PEER;
		ev.at = w->now + 1 + w_below(&w->rng, w->max_delay);
		ev.to = m->to;
		paxos_msg_copy(&ev.msg, m);
		w_push(w, &ev);
	}
}

static void
w_run_actions(struct world *w, struct w_replica *r)
{
	size_t i;

	for (i = 0; i < r->acts.n && r->up; i++) {
		struct paxos_action a = r->acts.v[i]; /* acts.v may move under us */
		struct w_ev ev;
		uint8_t *snap = NULL;
		size_t snaplen = 0;
		char why[512];

		switch (a.type) {
		case PAXOS_ACT_SEND:
			w_send_peer(w, r, &a.msg);
			break;
		case PAXOS_ACT_PERSIST:
			if (r->st.npending == r->st.cappending) {
				r->st.cappending = r->st.cappending == 0 ? 16 : r->st.cappending * 2;
				r->st.pending = xrealloc(r->st.pending,
				    r->st.cappending * sizeof *r->st.pending);
			}
			r->st.pending[r->st.npending++] = a.persist;
			memset(&r->acts.v[i].persist, 0, sizeof r->acts.v[i].persist);
			memset(&ev, 0, sizeof ev);
			ev.type = W_EV_SYNC;
			ev.at = w->now + w_below(&w->rng, w->sync_max + 1);
			if (ev.at < r->st.last_done)
				ev.at = r->st.last_done;
			r->st.last_done = ev.at;
			ev.to = r->id;
			ev.incarnation = r->incarnation;
			ev.index = a.persist.token;
			w_push(w, &ev);
			break;
		case PAXOS_ACT_APPLY:
			w_apply(w, r, a.index, &a.value);
			break;
		case PAXOS_ACT_ROLE:
			w_role(w, r, &a);
			break;
		case PAXOS_ACT_TAKE_SNAPSHOT:
			if (cell_snapshot(r->cell, CELL_SNAP_REPLICA, &snap, &snaplen) != CHUBBY_OK) {
				w_fail(w, "replica %u: cell_snapshot failed", r->id);
				break;
			}
			memset(&ev, 0, sizeof ev);
			ev.type = W_EV_SNAP;
			ev.at = w->now + 1 + w_below(&w->rng, 20);
			ev.to = r->id;
			ev.incarnation = r->incarnation;
			ev.index = a.index;
			paxos_buf_set(&ev.data, snap, snaplen);
			free(snap);
			w_push(w, &ev);
			break;
		case PAXOS_ACT_INSTALL_SNAPSHOT:
			why[0] = '\0';
			if (cell_restore(r->cell, a.index, a.value.data, a.value.len, why,
				sizeof why) != CHUBBY_OK) {
				w_fail(w, "replica %u: snapshot of %" PRIu64 " refused: %s", r->id,
				    a.index, why);
				break;
			}
			w_trace(w, "r%u installed snapshot %" PRIu64, r->id, a.index);
			w_check_digest(w, r);
			break;
		}
	}
	paxos_actions_clear(&r->acts);
}

/* ---- the session layer's environment (session_shell.c's) ---------------- */

static int
w_propose(struct w_replica *r, uint8_t type, const uint8_t *cmd, size_t len, uint64_t seq)
{
	struct world *w = r->w;
	struct cell_hdr h = {.stamp_ms = w_now(r).real_ms, .proposer = r->id, .epoch = r->epoch,
	    .seq = seq};
	struct paxos_event ev = {.type = PAXOS_EV_PROPOSE};
	msgpack_sbuffer sb;
	int rc;

	msgpack_sbuffer_init(&sb);
	if (type == CELL_CMD_NS)
		cell_cmd_ns(&sb, &h, cmd, len);
	else
		cell_cmd_noop(&sb, &h);
	ev.data = sb.data;
	ev.len = sb.size;
	rc = w_step(w, r, &ev);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
env_submit(void *arg, const uint8_t *cmd, size_t len, session_done_fn done, void *done_arg)
{
	struct w_replica *r = arg;
	struct w_pending *p;
	int rc;

	if (!r->up || cell_diverged(r->cell))
		return CHUBBY_E_NOT_MASTER;
	if (!w_replica_serving(r, r->w->now))
		return CHUBBY_E_NOT_MASTER;
	p = xcalloc(1, sizeof *p);
	p->seq = ++r->next_seq;
	p->done = done;
	p->arg = done_arg;
	p->next = r->pending;
	r->pending = p;
	rc = w_propose(r, CELL_CMD_NS, cmd, len, p->seq);
	if (rc != CHUBBY_OK) {
		for (struct w_pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				free(p);
				break;
			}
	}
	return rc;
}

/* The master to name in NOT_MASTER (rpc_not_master): never ourselves
 * without the lease. */
static unsigned
w_hint(const struct w_replica *r)
{
	if (r->master == r->id)
		return 0;
	return r->master;
}

static void
w_reply_tok(struct w_tok *t, int status, const void *result, size_t len, struct w_rep *fields)
{
	struct w_replica *r = t->r;
	struct w_rep *rep = xcalloc(1, sizeof *rep);

	if (fields != NULL)
		*rep = *fields;
	rep->wire_id = t->wire_id;
	rep->status = status;
	if (result != NULL && len > 0) {
		rep->result = xmemdup(result, len);
		rep->rlen = len;
	}
	if (status == CHUBBY_E_NOT_MASTER && fields == NULL) {
		rep->master = w_hint(r);
		rep->epoch = r->epoch;
	}
	if (status == CHUBBY_E_BAD_EPOCH && fields == NULL)
		rep->epoch = r->epoch;
	if (r->up)
		w_send_rep(r->w, t->conn, rep);
	else
		free(rep);
	free(t);
}

static void
env_reply(void *arg, void *req, int status, const char *msg, const void *result, size_t len)
{
	(void)arg;
	(void)msg;
	w_reply_tok(req, status, result, len, NULL);
}

static bool
env_mastership(void *arg, uint64_t *epoch)
{
	struct w_replica *r = arg;

	*epoch = r->epoch;
	/* Broken on purpose: mastership believed, lease or not, so that the
	 * layer answers reads (and the KeepAlives that keep a client reading
	 * there) from a state a new master may have moved past. */
	if (SIM_KNOB(SIM_KNOB_READ_NO_LEASE))
		return r->up && !cell_diverged(r->cell) && r->role == PAXOS_MASTER;
	return w_replica_serving(r, r->w->now);
}

static const struct ns *
env_ns(void *arg)
{
	struct w_replica *r = arg;

	return cell_ns(r->cell);
}

static int
env_sign(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen)
{
	(void)arg;
	return seqtoken_encode(NULL, 0, t, tok, toklen);
}

static void
env_log(void *arg, int level, const char *line)
{
	struct w_replica *r = arg;

	(void)level;
	if (r->w->o.verbose)
		w_trace(r->w, "r%u %s", r->id, line);
}

/* ---- start, crash, tick ------------------------------------------------- */

void
w_replica_start(struct world *w, struct w_replica *r)
{
	struct paxos_config pc = w->pcfg;
	struct paxos_durable d;
	struct paxos_event ev;
	struct session_config scfg = {.lease_ms = w->ccfg.lease_ms, .cell = W_CELL};
	struct session_env env = {
	    .arg = r,
	    .submit = env_submit,
	    .reply = env_reply,
	    .mastership = env_mastership,
	    .ns = env_ns,
	    .sign = env_sign,
	    .log = env_log,
	};
	struct cell_observer obs = {w_on_applied, w_on_state_replaced, r};

	pc.id = r->id;
	pc.seed = w_rand(&w->rng);
	r->w = w;
	r->p = paxos_new(&pc);
	r->cell = cell_new(&w->cp);
	if (r->p == NULL || r->cell == NULL) {
		w_fail(w, "paxos_new or cell_new refused the configuration");
		return;
	}
	r->sm = session_new(&scfg, &env);
	r->svc = w_replica_svc_new(r);
	cell_observe(r->cell, &obs);
	paxos_actions_init(&r->acts);
	r->up = true;
	r->incarnation++;
	r->role = PAXOS_FOLLOWER;
	r->epoch = 0;
	r->master = 0;
	r->paused_until = 0;
	r->st.last_done = 0;
	r->last_progress = w_rlocal(r, w->now);
	r->max_epoch_applied = 0;
	r->barrier_epoch = 0;
	memset(&d, 0, sizeof d);
	d.promised = r->st.promised;
	d.nonvoter = r->st.nonvoter;
	d.snap_index = r->st.snap_index;
	d.snap = r->st.snap;
	d.chosen = r->st.chosen_upto;
	d.nentries = r->st.nentries;
	d.entries = r->st.entries;
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_START;
	ev.durable = &d;
	ev.state_lost = r->lost;
	r->next_tick = w->now + w_below(&w->rng, W_TICK_MS);
	w_trace(w, "r%u starts%s", r->id, r->lost ? " with its store lost" : "");
	w_step(w, r, &ev);
}

void
w_replica_free(struct w_replica *r)
{
	if (r->p == NULL)
		return;
	r->up = false;
	/* The replica's waiters first, then the session layer (replica.c's
	 * order): answers go nowhere, the process is gone. */
	w_fail_pending(r, CHUBBY_E_NOT_MASTER);
	session_free(r->sm);
	r->sm = NULL;
	/* Last: what the two above fail is answered through it. */
	svc_free(r->svc);
	r->svc = NULL;
	paxos_free(r->p);
	r->p = NULL;
	cell_free(r->cell);
	r->cell = NULL;
	paxos_actions_free(&r->acts);
}

void
w_replica_crash(struct world *w, struct w_replica *r)
{
	if (!r->up)
		return;
	w_trace(w, "r%u crashes (%zu unsynced writes lost)", r->id, r->st.npending);
	w->res.crashes++;
	w_replica_free(r);
	w_store_drop_pending(&r->st);
	/* Its client connections break. */
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i].open && w->conns[i].replica == r->id)
			w_conn_break(w, i, true);
}

void
w_replica_tick(struct world *w, struct w_replica *r)
{
	struct paxos_event ev = {.type = PAXOS_EV_TICK};
	uint64_t now;

	w_step(w, r, &ev);
	if (!r->up || w->failed)
		return;
	now = w_rlocal(r, w->now);
	/* An idle master commits a no-op once a lease period (replica.c's
	 * replica_maybe_noop): a replica that lost its store votes again only
	 * after it sees an instance complete. */
	if (now - r->last_progress >= w->pcfg.lease_ms && w_replica_serving(r, w->now)) {
		r->last_progress = now;
		(void)w_propose(r, CELL_CMD_NOOP, NULL, 0, 0);
	}
	session_tick(r->sm, w_now(r));
}

void
w_replica_deliver(struct world *w, struct w_ev *e)
{
	struct w_replica *r = &w->r[e->to - 1];
	struct paxos_event ev;

	memset(&ev, 0, sizeof ev);
	switch (e->type) {
	case W_EV_PEER:
		if (!r->up || w->cut[e->msg.from - 1][e->to - 1])
			return;
		ev.type = PAXOS_EV_RECEIVE;
		ev.msg = &e->msg;
		w_step(w, r, &ev);
		return;
	case W_EV_SYNC:
		if (!r->up || e->incarnation != r->incarnation)
			return;
		w_store_sync(w, r, e->index);
		if (w->failed)
			return;
		ev.type = PAXOS_EV_PERSISTED;
		ev.token = e->index;
		w_step(w, r, &ev);
		return;
	case W_EV_SNAP:
		if (!r->up || e->incarnation != r->incarnation)
			return;
		ev.type = PAXOS_EV_SNAPSHOT_TAKEN;
		ev.index = e->index;
		ev.data = e->data.data;
		ev.len = e->data.len;
		w_step(w, r, &ev);
		return;
	default:
		return;
	}
}

/* ---- the request layer (server/svc, shared with chubbyd) ----------------- */

/* A request's token, kept as it is: it answers once, through w_reply_tok. */
static void *
svc_env_defer(void *arg, void *req)
{
	(void)arg;
	return req;
}

/* The request layer's answers as the fields the client model reads (what
 * rpc_ns.c would encode); errors carry only what w_reply_tok adds. */
static void
svc_env_reply(void *arg, void *req, bool deferred, int status, const char *msg,
    const struct svc_result *res)
{
	struct w_rep f;

	(void)arg;
	(void)deferred;
	(void)msg;
	if (status == CHUBBY_E_NOT_FOUND && res->kind == SVC_RES_ABSENT) {
		memset(&f, 0, sizeof f);
		f.cacheable = res->cacheable;
		w_reply_tok(req, status, NULL, 0, &f);
		return;
	}
	if (status != CHUBBY_OK) {
		w_reply_tok(req, status, NULL, 0, NULL);
		return;
	}
	memset(&f, 0, sizeof f);
	switch (res->kind) {
	case SVC_RES_RAW:
		w_reply_tok(req, status, res->raw, res->rawlen, NULL);
		return;
	case SVC_RES_SESSION:
		f.session = res->session;
		f.epoch = res->epoch;
		f.lease_ms = res->lease_ms;
		break;
	case SVC_RES_OPEN:
		f.handle = res->handle;
		f.created = res->created;
		f.instance = res->stat->instance;
		f.content_gen = res->stat->content_gen;
		break;
	case SVC_RES_STAT:
		f.instance = res->stat->instance;
		f.content_gen = res->stat->content_gen;
		break;
	case SVC_RES_CONTENTS:
		f.cacheable = res->cacheable;
		f.instance = res->stat->instance;
		f.content_gen = res->stat->content_gen;
		snprintf(f.val, sizeof f.val, "%.*s", (int)res->contents_len,
		    (const char *)res->contents);
		break;
	default:
		w_reply_tok(req, status, NULL, 0, NULL);
		return;
	}
	w_reply_tok(req, status, NULL, 0, &f);
}

static struct svc *
w_replica_svc_new(struct w_replica *r)
{
	struct svc_config cfg = {.cell = W_CELL, .superuser = "",
	    .page_bytes = 64 * 1024, .lock_records = true, .handles_in_memory = true};
	struct svc_env env = {.arg = r, .defer = svc_env_defer, .reply = svc_env_reply};

	return svc_new(&cfg, &env, r->sm);
}

/* The client model's request as the request layer's call. */
static enum svc_op
w_svc_args(const struct w_req *rq, struct svc_args *a, struct seqtoken *seq)
{
	memset(a, 0, sizeof *a);
	a->session = rq->session;
	a->epoch = rq->epoch;
	a->handle = rq->handle;
	a->rid = rq->rid;
	a->rid_floor = rq->rid_floor;
	if (rq->reopen) {
		a->have_reopen = true;
		a->path = rq->path;
		a->flags = rq->flags;
		a->instance = rq->reopen_instance;
		a->events = rq->events; /* the mask, as libchubby's reopen carries it */
	}
	switch (rq->op) {
	case W_OP_START:
		a->rid = rq->nonce;
		return SVC_SESSION_START;
	case W_OP_KEEPALIVE:
		a->hold_ms = rq->hold_ms;
		a->acks = rq->acks;
		a->nacks = rq->nacks;
		a->have_ev_ack = true;
		a->ev_ack = rq->ev_ack;
		return SVC_KEEPALIVE;
	case W_OP_END:
		return SVC_SESSION_END;
	case W_OP_OPEN:
		a->path = rq->path;
		a->flags = rq->flags;
		a->lock_delay_ms = UINT64_MAX;
		a->events = rq->events;
		a->mem = rq->mem;
		a->cache = rq->cache; /* without CREATE: caches the node's absence */
		return SVC_OPEN;
	case W_OP_CLOSE:
		return SVC_CLOSE;
	case W_OP_GET:
		a->cache = rq->cache;
		return SVC_GET_CONTENTS;
	case W_OP_SET:
		a->contents = (const uint8_t *)rq->val;
		a->contents_len = strlen(rq->val);
		a->have_contents = true;
		a->have_expected = rq->have_expected;
		a->expected_gen = rq->expected_gen;
		return SVC_SET_CONTENTS;
	case W_OP_ACQUIRE:
		a->mode = (uint64_t)rq->mode;
		a->timeout_ms = rq->timeout_ms;
		return SVC_ACQUIRE;
	case W_OP_RELEASE:
		return SVC_RELEASE;
	case W_OP_CHECKSEQ:
		memset(seq, 0, sizeof *seq);
		snprintf(seq->cell, sizeof seq->cell, "%s", W_CELL);
		snprintf(seq->path, sizeof seq->path, "%s", rq->path);
		seq->mode = rq->mode;
		seq->lock_gen = rq->seq_gen;
		seq->instance = rq->seq_instance;
		a->seq = seq;
		return SVC_CHECK_SEQUENCER;
	default:
		return (enum svc_op)0;
	}
}

/* What an answer needs: where it goes. */
static struct w_tok *
w_tok_new(struct w_replica *r, size_t conn, const struct w_req *rq)
{
	struct w_tok *t = xcalloc(1, sizeof *t);

	t->r = r;
	t->conn = conn;
	t->wire_id = rq->wire_id;
	t->op = rq->op;
	return t;
}

void
w_replica_request(struct world *w, struct w_replica *r, size_t conn, struct w_req *rq)
{
	const char *principal = w->c[w->conns[conn].client - 1].principal;
	struct svc_args a;
	struct seqtoken seq;
	enum svc_op op;

	w->steps++;
	if (rq->op == W_OP_WHERE) {
		/* rpc.c's WHERE_IS_MASTER, not a call of the request layer. */
		struct w_rep f;

		memset(&f, 0, sizeof f);
		f.master = w_replica_serving(r, w->now) ? r->id : w_hint(r);
		f.epoch = r->epoch;
		w_reply_tok(w_tok_new(r, conn, rq), CHUBBY_OK, NULL, 0, &f);
		return;
	}
	if ((op = w_svc_args(rq, &a, &seq)) == 0) {
		w_reply_tok(w_tok_new(r, conn, rq), CHUBBY_E_INVALID, NULL, 0, NULL);
		return;
	}
	svc_call(r->svc, w_now(r), w_tok_new(r, conn, rq), principal, op, &a);
}
