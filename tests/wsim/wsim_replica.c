/*
 * wsim_replica.c: one simulated replica (the Paxos core, the applied state,
 * the namespace and the master's session layer, wired as server/replica.c
 * and server/session_shell.c wire them) and its request layer.
 *
 * The request layer re-implements, for the calls the simulator models,
 * what server/rpc/rpc_ns.c does around the session layer: check_session
 * (session_check and the NOT_MASTER / BAD_EPOCH answers), req_id_check
 * (a copy of a write answered from ns_request_outcome), write_prepare
 * (NS_CMD_REQ wrapping with rid / rid_floor), submit / submit_close
 * (session_write with the same write kinds, session_write_close),
 * rpc_op_session_start (the nonce, ns_session_started, session_restarted),
 * rpc_op_keepalive, rpc_op_get_contents (session_cache_note),
 * rpc_op_set_contents (expected_gen), acquire (session_acquire) and
 * rpc_op_check_sequencer; and rpc_not_master.  It takes its arguments as
 * structs rather than msgpack maps.  A later step shares that logic
 * between rpc_ns.c and the simulator instead of repeating it.
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
#include "wsim_int.h"
#include "xmalloc.h"

/* A request the layer holds: what its answer needs. */
struct w_tok {
	struct w_replica *r;
	size_t conn;
	uint64_t wire_id;
	enum w_op op;
	uint64_t session, handle;
	char path[W_PATH]; /* OPEN: the name (for a cached absence) */
};

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

/* ---- the request layer (rpc_ns.c's handlers) ---------------------------- */

/* What a write's answer needs once applied (rpc_ns.c's struct wctx). */
static struct w_tok *
w_tok_new(struct w_replica *r, size_t conn, const struct w_req *rq)
{
	struct w_tok *t = xcalloc(1, sizeof *t);

	t->r = r;
	t->conn = conn;
	t->wire_id = rq->wire_id;
	t->op = rq->op;
	t->session = rq->session;
	t->handle = rq->handle;
	snprintf(t->path, sizeof t->path, "%s", rq->path);
	return t;
}

static void
w_reply_now(struct w_replica *r, size_t conn, const struct w_req *rq, int status,
    struct w_rep *fields)
{
	w_reply_tok(w_tok_new(r, conn, rq), status, NULL, 0, fields);
}

/* The usual end of a write (done_nil). */
static void
done_nil(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	w_reply_tok(arg, status, NULL, 0, NULL);
}

static void
done_stat(int status, const struct ns_result *res, void *arg)
{
	struct w_rep f;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	memset(&f, 0, sizeof f);
	f.content_gen = res->stat.content_gen;
	f.instance = res->stat.instance;
	w_reply_tok(arg, status, NULL, 0, &f);
}

static void
done_open(int status, const struct ns_result *res, void *arg)
{
	struct w_rep f;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	memset(&f, 0, sizeof f);
	f.handle = res->handle;
	f.created = res->created;
	f.instance = res->stat.instance;
	f.content_gen = res->stat.content_gen;
	w_reply_tok(arg, status, NULL, 0, &f);
}

/*
 * Existence caching (Chubby §2.9 caches "file absence"), which the
 * simulator models ahead of the protocol (no rpc_ns.c counterpart yet): an
 * OPEN without CREATE asked with `cache` that finds no node records its
 * session as a cacher of the name, as GET_CONTENTS does for contents, so
 * that a CREATE of the name (a gated write) invalidates it first.  Not
 * cacheable while a write of the name is under way.
 */
static void
done_open_absent(int status, const struct ns_result *res, void *arg)
{
	struct w_tok *t = arg;
	struct w_rep f;

	if (status != CHUBBY_E_NOT_FOUND) {
		done_open(status, res, arg);
		return;
	}
	memset(&f, 0, sizeof f);
	f.cacheable = session_cache_note(t->r->sm, t->session, t->path);
	w_reply_tok(t, status, NULL, 0, &f);
}

/* A copy of an ACQUIRE that was granted (done_grant). */
static void
done_grant(int status, const struct ns_result *res, void *arg)
{
	struct w_tok *t = arg;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	(void)res;
	if (status != CHUBBY_OK) {
		done_nil(status, res, arg);
		return;
	}
	rc = session_pack_grant(t->r->sm, t->session, t->handle, &out, &outlen);
	w_reply_tok(t, rc, out, outlen, NULL);
	free(out);
}

static void
done_session_start(int status, const struct ns_result *res, void *arg)
{
	struct w_tok *t = arg;
	struct w_replica *r = t->r;
	struct w_rep f;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	session_restarted(r->sm, w_now(r), res->session);
	memset(&f, 0, sizeof f);
	f.session = res->session;
	f.epoch = r->epoch;
	f.lease_ms = r->w->ccfg.lease_ms;
	w_reply_tok(t, CHUBBY_OK, NULL, 0, &f);
}

/* check_session: NOT_MASTER with the hint, BAD_EPOCH with ours. */
static int
w_check_session(struct w_replica *r, const struct w_req *rq, const char *principal)
{
	char msg[256];

	return session_check(r->sm, w_now(r), rq->session, rq->epoch, principal, msg, sizeof msg);
}

/* req_id_check: a copy of a write that succeeded is answered from the
 * recorded outcome; 1 when answered. */
static int
w_req_id_check(struct w_replica *r, size_t conn, const struct w_req *rq, session_done_fn done)
{
	struct ns_result res;
	int rc;

	if (rq->rid == 0 || SIM_KNOB(SIM_KNOB_NO_DEDUPE))
		return 0;
	ns_result_init(&res);
	rc = ns_request_outcome(cell_ns(r->cell), rq->session, rq->rid, &res);
	if (rc == CHUBBY_OK) {
		done(CHUBBY_OK, &res, w_tok_new(r, conn, rq));
		ns_result_free(&res);
		return 1;
	}
	ns_result_free(&res);
	if (rc == CHUBBY_E_INVALID) {
		w_reply_now(r, conn, rq, CHUBBY_E_INVALID, NULL);
		return 1;
	}
	return 0;
}

/* write_prepare + submit / submit_close. */
static void
w_submit(struct w_replica *r, size_t conn, const struct w_req *rq, int kind, const char *path,
    uint8_t *cmd, size_t len, int rc, session_done_fn done, bool close)
{
	uint8_t *wrapped = NULL;
	size_t wlen = 0;
	struct w_tok *t;

	if (rc == CHUBBY_OK && rq->rid != 0) {
		rc = ns_encode_req(session_stamp(r->sm, w_now(r)), rq->session, rq->rid,
		    rq->rid_floor, cmd, len, &wrapped, &wlen);
		free(cmd);
		cmd = wrapped;
		len = wlen;
	}
	if (rc != CHUBBY_OK) {
		free(cmd);
		w_reply_now(r, conn, rq, rc, NULL);
		return;
	}
	t = w_tok_new(r, conn, rq);
	if (close)
		session_write_close(r->sm, w_now(r), rq->session, rq->handle, cmd, len, done, t);
	else
		session_write(r->sm, w_now(r), (enum session_write_kind)kind, path, cmd, len, done, t);
	free(cmd);
}

static void
w_op_start(struct w_replica *r, size_t conn, const struct w_req *rq, const char *principal)
{
	uint8_t *cmd = NULL, *wrapped = NULL;
	size_t len = 0, wlen = 0;
	uint64_t known, stamp;
	int rc;

	if (!session_serving(r->sm, w_now(r))) {
		w_reply_now(r, conn, rq, CHUBBY_E_NOT_MASTER, NULL);
		return;
	}
	known = ns_session_started(cell_ns(r->cell), principal, rq->nonce);
	if (known != 0) {
		struct ns_result res;

		ns_result_init(&res);
		res.session = known;
		done_session_start(CHUBBY_OK, &res, w_tok_new(r, conn, rq));
		return;
	}
	stamp = session_stamp(r->sm, w_now(r));
	rc = ns_encode_session_start(stamp, principal, &cmd, &len);
	if (rc == CHUBBY_OK && rq->nonce != 0) {
		rc = ns_encode_req(stamp, 0, rq->nonce, 0, cmd, len, &wrapped, &wlen);
		free(cmd);
		cmd = wrapped;
		len = wlen;
	}
	if (rc != CHUBBY_OK) {
		free(cmd);
		w_reply_now(r, conn, rq, rc, NULL);
		return;
	}
	session_write(r->sm, w_now(r), SESSION_WRITE_PLAIN, NULL, cmd, len, done_session_start,
	    w_tok_new(r, conn, rq));
	free(cmd);
}

static void
w_op_get(struct w_replica *r, size_t conn, const struct w_req *rq)
{
	struct ns_result res;
	struct w_rep f;
	int rc;

	ns_result_init(&res);
	rc = ns_get_contents_and_stat(cell_ns(r->cell), rq->session, rq->handle, &res);
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		w_reply_now(r, conn, rq, rc, NULL);
		return;
	}
	memset(&f, 0, sizeof f);
	if (rq->cache)
		f.cacheable = session_cache_note(r->sm, rq->session,
		    ns_handle_path(cell_ns(r->cell), rq->session, rq->handle, NULL));
	f.content_gen = res.stat.content_gen;
	f.instance = res.stat.instance;
	snprintf(f.val, sizeof f.val, "%.*s", (int)res.contents_len, (const char *)res.contents);
	ns_result_free(&res);
	w_reply_now(r, conn, rq, CHUBBY_OK, &f);
}

void
w_replica_request(struct world *w, struct w_replica *r, size_t conn, struct w_req *rq)
{
	const char *principal = w->c[w->conns[conn].client - 1].principal;
	const struct ns *ns = cell_ns(r->cell);
	uint64_t stamp;
	uint8_t *cmd = NULL;
	size_t len = 0;
	const char *p;
	char path[W_PATH];
	int rc;

	w->steps++;
	if (rq->op == W_OP_WHERE) {
		struct w_rep f;

		memset(&f, 0, sizeof f);
		f.master = w_replica_serving(r, w->now) ? r->id : w_hint(r);
		f.epoch = r->epoch;
		w_reply_now(r, conn, rq, CHUBBY_OK, &f);
		return;
	}
	if (rq->op == W_OP_START) {
		w_op_start(r, conn, rq, principal);
		return;
	}
	if (rq->op == W_OP_CHECKSEQ) {
		if (!session_serving(r->sm, w_now(r))) {
			w_reply_now(r, conn, rq, CHUBBY_E_NOT_MASTER, NULL);
			return;
		}
		rc = ns_check_sequencer(ns, rq->path, rq->mode, rq->seq_gen, rq->seq_instance);
		w_reply_now(r, conn, rq, rc, NULL);
		return;
	}
	if ((rc = w_check_session(r, rq, principal)) != CHUBBY_OK) {
		w_reply_now(r, conn, rq, rc, NULL);
		return;
	}
	stamp = session_stamp(r->sm, w_now(r));
	switch (rq->op) {
	case W_OP_KEEPALIVE:
		session_keepalive(r->sm, w_now(r), rq->session, rq->hold_ms, rq->acks, rq->nacks,
		    w_tok_new(r, conn, rq));
		return;
	case W_OP_END:
		if (w_req_id_check(r, conn, rq, done_nil))
			return;
		rc = ns_encode_session_end(stamp, rq->session, rq->session, NS_END_CLOSED, &cmd,
		    &len);
		w_submit(r, conn, rq, 0, NULL, cmd, len, rc, done_nil, true);
		return;
	case W_OP_OPEN:
		if (w_req_id_check(r, conn, rq, done_open))
			return;
		rc = ns_encode_open(stamp, rq->session, rq->path, rq->flags, UINT64_MAX, rq->events,
		    NULL, 0, NULL, &cmd, &len);
		w_submit(r, conn, rq,
		    (rq->flags & NS_O_CREATE) ? SESSION_WRITE_CREATE : SESSION_WRITE_PLAIN, rq->path,
		    cmd, len, rc, rq->cache && !(rq->flags & NS_O_CREATE) ? done_open_absent : done_open,
		    false);
		return;
	case W_OP_CLOSE:
		if (w_req_id_check(r, conn, rq, done_nil))
			return;
		rc = ns_encode_close(stamp, rq->session, rq->handle, &cmd, &len);
		w_submit(r, conn, rq, 0, NULL, cmd, len, rc, done_nil, true);
		return;
	case W_OP_GET:
		w_op_get(r, conn, rq);
		return;
	case W_OP_SET:
		if (w_req_id_check(r, conn, rq, done_stat))
			return;
		if ((p = ns_handle_path(ns, rq->session, rq->handle, NULL)) == NULL) {
			w_reply_now(r, conn, rq, CHUBBY_E_BAD_HANDLE, NULL);
			return;
		}
		snprintf(path, sizeof path, "%s", p);
		rc = ns_encode_set_contents(stamp, rq->session, rq->handle, rq->val, strlen(rq->val),
		    rq->have_expected, rq->expected_gen, &cmd, &len);
		w_submit(r, conn, rq, SESSION_WRITE_NODE, path, cmd, len, rc, done_stat, false);
		return;
	case W_OP_ACQUIRE:
		if (w_req_id_check(r, conn, rq, done_grant))
			return;
		session_acquire(r->sm, w_now(r), rq->session, rq->handle, rq->mode, rq->rid,
		    rq->rid_floor, rq->timeout_ms, true, w_tok_new(r, conn, rq));
		return;
	case W_OP_RELEASE:
		if (w_req_id_check(r, conn, rq, done_nil))
			return;
		rc = ns_encode_release(stamp, rq->session, rq->handle, &cmd, &len);
		w_submit(r, conn, rq, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_nil, false);
		return;
	default:
		w_reply_now(r, conn, rq, CHUBBY_E_INVALID, NULL);
		return;
	}
}
