/* replica.c: the Paxos shell: clock ticks, store writer thread, peer links, wired to the applied state (server/cell). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <msgpack.h>

#include <chubby/chubby.h>

#include "bgsnap.h"
#include "cell/cell.h"
#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "mp.h"
#include "ns/ns.h"
#include "paxos/paxos.h"
#include "peer/peer.h"
#include "replica.h"
#include "store/store.h"
#include "xmalloc.h"

/*
 * The replica's one timer is armed for the Paxos core's next deadline
 * (paxos_next_deadline: heartbeats, elections, resends, the lease's end),
 * so an idle replica wakes for what is due and not for a clock: each wake
 * is most of what an idle cell costs (BENCHMARKS.md "Idle cost").  It also
 * fires at least this long after the last time it fired (replica.h):
 * REPLICA_TICK_MS while master, for the session layer (KeepAlive holds,
 * lease ends, gates: server/session), which runs on this tick and reports
 * no deadline of its own, unless it says it is idle (no session at all:
 * what makes it busy begins with a command through the log, which re-arms
 * this timer); REPLICA_IDLE_WAKE_MS otherwise, for what has no deadline
 * either (the replaced warning, the load sample once a second) and for the
 * loop-lag gauge, which measures how late this timer fires
 * (replica_watch_lag).
 */
/* An idle master commits a no-op this often (replica_maybe_noop). */
#define REPLICA_IDLE_NOOP_MS 5000
/* The applied state keeps members in its own types (it cannot include
 * cellconfig.h); they must hold what the config holds. */
_Static_assert(CELL_ADDR_MAX == CONFIG_ADDR_MAX, "member address sizes differ");
_Static_assert(CELL_MAX_MEMBERS == CONFIG_MAX_REPLICAS, "member counts differ");
_Static_assert(CELL_MAX_MEMBER_ID == CONFIG_MAX_REPLICA_ID, "member ids differ");

struct pending {
	uint64_t seq;
	uint64_t t0_us; /* when proposed (clock_mono_us): commit latency */
	replica_done_fn done;
	void *arg;
	struct pending *next;
};

struct replica {
	struct chubbyd *d;
	struct replica_observer obs; /* the master's session layer, registered by main */
	struct paxos *px;
	struct store *st;
	struct peer_net *net;
	struct event *tick_ev;     /* one-shot, re-armed by replica_arm */
	uint64_t tick_at_ms;       /* the deadline it is armed for (0: not armed) */
	uint64_t tick_due_us;      /* the same on CLOCK_MONOTONIC, in us (lateness) */
	uint64_t last_tick_ms;     /* when it last fired */
	bool tick_now;             /* fire at once (role changed: the session layer) */
	void (*lag_fn)(void *arg, uint64_t late_us);
	void *lag_arg;
	struct bgsnap *check_bg;  /* the namespace hashed for a CHECK, in a child */
	uint64_t check_bg_slot;
	struct bgsnap *snap_bg;   /* a snapshot being serialised in a child */
	uint64_t snap_bg_index;   /* the slot it covers */
	uint64_t snap_bg_started; /* clock_mono_ms() at the fork */
	/* End of the loop turn: propose what the turn queued (FLUSH), then
	 * write every PERSIST of the turn in one synced batch (group commit). */
	struct event *turn_ev;
	bool turn_armed;
	bool want_flush; /* PROPOSEs queued since the last FLUSH */
	struct paxos_persist *group; /* PERSISTs not yet written, in order */
	size_t ngroup, capgroup;
	bool store_failed;
	/*
	 * The store writer thread: the synced write of a group runs there, so
	 * the loop goes on reading requests and acks and sending heartbeats
	 * while it lasts, and the next group forms meanwhile.  One group is in
	 * flight at a time, so groups land in the order they were made.  From
	 * the moment the writer starts, only it touches the store (until it is
	 * joined); the hand-over and the completion go through wr_mu.
	 */
	bool wr_started;
	pthread_t wr_thread;
	pthread_mutex_t wr_mu;
	pthread_cond_t wr_cv;
	int wr_pipe[2];          /* the writer writes a byte here when a group is synced */
	struct event *wr_ev;     /* the loop's end of it */
	struct paxos_persist *wr_job; /* under wr_mu: the group handed over */
	size_t wr_njob;
	bool wr_has_job, wr_done, wr_stop; /* under wr_mu */
	int wr_rc;               /* under wr_mu: the result of the finished group */
	uint64_t wr_sync_us;     /* under wr_mu: how long its synced write took */
	char wr_err[512];        /* under wr_mu */
	bool wr_busy;            /* loop only: a group handed over, not yet completed */
	uint64_t wr_token;       /* loop only: the last token of the group in flight */
	struct paxos_actions acts;
	int stepping; /* inside replica_step: nested steps append to acts */

	enum paxos_role role;
	paxos_ballot epoch;
	unsigned master;
	/* The epoch whose own NOOP entry this replica applied as master: it
	 * serves only then, once the applied state knows its epoch (see
	 * replica_role). */
	paxos_ballot barrier_epoch;

	/* The applied state: the namespace, the digest chain, CHECK and
	 * MEMBER entries, snapshots (server/cell). */
	struct cell *cell;
	struct cell_replica self_at_start; /* our addresses as our config file gave them */
	/* The chosen configuration as replica_note_conf last saw it (no
	 * voters: not yet known), to tell who left it. */
	struct paxos_conf seen_conf;
	int replaced_logged;
	uint64_t last_check_slot; /* the last slot this replica proposed a CHECK for */
	uint64_t last_progress_ms; /* monotonic time the applied index last moved */

	/* Proposal to applied at this master, as a histogram and per second
	 * for the status page's chart; and the store's synced writes, timed
	 * by the writer thread and folded in here on the loop. */
	struct lat_hist commit_lat;
	struct lat_ring commit_ring;
	struct lat_hist fsync_lat;

	/* Commands this replica proposed as master, by sequence number. */
	uint64_t next_seq;
	struct pending *pending;
};

static void replica_step(struct replica *r, struct paxos_event *ev);
/* One command to propose: its type and body (server/cell writes the envelope). */
struct replica_cmd {
	enum cell_cmd_type type;
	const uint8_t *body; /* CELL_CMD_NS: the namespace command */
	size_t len;
	uint64_t check[3];   /* CELL_CMD_CHECK: at, digest, ns_digest */
	unsigned id;         /* CELL_CMD_MEMBER: the member and its addresses */
	const char *client, *peer, *status;
};
static int replica_propose(struct replica *r, const struct replica_cmd *c, uint64_t seq);

/* --- the applied state ---------------------------------------------------- */

/* The applied state's settings from the cell config. */
static void
replica_cell_params(const struct chubbyd *d, struct cell_params *cc)
{
	const struct cell_config *c = d->cfg;

	memset(cc, 0, sizeof *cc);
	cc->ns.cell = c->cell;
	cc->ns.superuser = c->superuser;
	cc->ns.acl_dir = c->acl_dir;
	cc->ns.max_contents = (size_t)c->max_contents;
	cc->ns.lock_delay_default_ms = c->lock_delay_ms;
	cc->ns.lock_delay_max_ms = c->lock_delay_max_ms;
	cc->ns.lock_delay_given = true; /* lock_delay = 0 in the config means none */
	cc->ns.max_sessions = c->max_sessions;
	cc->ns.max_handles = c->max_handles_per_session;
	cc->checksum_interval = c->checksum_interval;
}

/* Proposal-to-applied time of a command this replica proposed as master. */
static void
replica_observe_commit(struct replica *r, uint64_t t0_us)
{
	uint64_t now = clock_mono_us(), us = now > t0_us ? now - t0_us : 0;

	lat_hist_observe(&r->commit_lat, us);
	lat_ring_note(&r->commit_ring, now / 1000, us);
}

/* Answers the client whose command this was, if this replica proposed it
 * in its current epoch. */
static void
replica_answer(struct replica *r, uint64_t proposer, uint64_t epoch, uint64_t seq, int status,
    const struct ns_result *res)
{
	if (proposer != r->d->id || epoch != r->epoch)
		return;
	for (struct pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->seq == seq) {
			struct pending *p = *pp;
			*pp = p->next;
			replica_observe_commit(r, p->t0_us);
			p->done(status, res, p->arg);
			free(p);
			return;
		}
	}
}

/* Points replica M->id of the running config at M's addresses: peers dial
 * the new peer address from their next attempt, WHERE_IS_MASTER names the
 * new client address.  Every replica applies the same entries, so all agree. */
static void
replica_move_member(struct replica *r, const struct cell_member *m)
{
	struct cell_config *c = r->d->cfg;

	/* A new id: the address book grows (lockctl members add proposes the
	 * MEMBER entry before the configuration change), and the peer layer
	 * dials it.  The entries are never dropped: the core sends nothing to
	 * a replica that is not a member, and a slot in the table is cheap. */
	if (config_replica(c, m->id) == NULL) {
		struct cell_replica *cr;

		if (c->nreplicas >= CONFIG_MAX_REPLICAS) {
			log_error("member %u at %s: the address book is full (%d replicas); not "
				  "dialled",
			    m->id, m->peer, CONFIG_MAX_REPLICAS);
			return;
		}
		cr = &c->replicas[c->nreplicas++];
		memset(cr, 0, sizeof *cr);
		cr->id = m->id;
		snprintf(cr->client_addr, sizeof cr->client_addr, "%s", m->client);
		snprintf(cr->peer_addr, sizeof cr->peer_addr, "%s", m->peer);
		snprintf(cr->status_addr, sizeof cr->status_addr, "%s", m->status);
		log_info("member %u enters the address book: client %s, peer %s, status %s", m->id,
		    m->client, m->peer, m->status);
		if (r->net != NULL)
			peer_net_add(r->net, cr);
		return;
	}

	for (unsigned i = 0; i < c->nreplicas; i++) {
		struct cell_replica *cr = &c->replicas[i];
		if (cr->id != m->id)
			continue;
		if (strcmp(cr->peer_addr, m->peer) != 0 || strcmp(cr->client_addr, m->client) != 0)
			log_info("member %u moves: client %s -> %s, peer %s -> %s", m->id,
			    cr->client_addr, m->client, cr->peer_addr, m->peer);
		/* The config's peer_listen was the old machine's: links from
		 * there must not pass for the member any more. */
		if (strcmp(cr->peer_addr, m->peer) != 0)
			cr->peer_listen[0] = '\0';
		snprintf(cr->client_addr, sizeof cr->client_addr, "%s", m->client);
		snprintf(cr->peer_addr, sizeof cr->peer_addr, "%s", m->peer);
		snprintf(cr->status_addr, sizeof cr->status_addr, "%s", m->status);
		/* A removed member added again (its addresses first). */
		if (cr->removed) {
			cr->removed = false;
			log_info("member %u re-enters the address book", m->id);
			if (r->net != NULL)
				peer_net_add(r->net, cr);
		}
	}
}

static bool
replica_conf_has(const struct paxos_conf *c, unsigned id)
{
	return paxos_conf_has_voter(c, id) || paxos_conf_has_learner(c, id);
}

/*
 * After the core's actions: a member that left the chosen configuration
 * (lockctl members remove) leaves the address book too, as etcd's member
 * remove does: no longer dialled, its peer links refused, MEMBERS lists it
 * as removed until this process restarts (the config file is the
 * operator's).  A removed member keeps a valid certificate and, never told
 * that its removal was chosen (it is out of the audience), keeps dialling
 * and campaigning.  This replica itself removed: it says so; the core
 * already neither votes nor campaigns outside the configuration.
 */
static void
replica_note_conf(struct replica *r)
{
	const struct paxos_conf *now = paxos_conf(r->px);
	struct cell_config *c = r->d->cfg;

	if (now->nvoters == 0)
		return;
	for (unsigned i = 0; r->seen_conf.nvoters > 0 && i < c->nreplicas; i++) {
		struct cell_replica *cr = &c->replicas[i];
		bool was = replica_conf_has(&r->seen_conf, cr->id), is = replica_conf_has(now, cr->id);

		if (was && !is && !cr->removed) {
			cr->removed = true;
			if (cr->id == r->d->id) {
				log_warn("this replica (%u) was removed from the cell's configuration: it no "
					 "longer votes nor campaigns; stop it, and take its line out of "
					 "the config files",
				    cr->id);
			} else {
				log_info("member %u left the configuration: out of the address book (no "
					 "longer dialled, its peer links refused) until a restart",
				    cr->id);
				if (r->net != NULL)
					peer_net_drop(r->net, cr->id);
			}
		} else if (is && cr->removed) {
			/* Added again with the same addresses (no MEMBER entry). */
			cr->removed = false;
			log_info("member %u is in the configuration again", cr->id);
			if (r->net != NULL && cr->id != r->d->id)
				peer_net_add(r->net, cr);
		}
	}
	r->seen_conf = *now;
}

/* The applied state's observer: what an applied entry means here. */
static void
replica_on_applied(void *arg, const struct cell_applied *a)
{
	struct replica *r = arg;

	/* The master's session layer learns what changed (sessions started or
	 * ended, events, locks that may be free now). */
	if (a->type == CELL_CMD_NS && a->res != NULL && r->obs.on_applied != NULL)
		r->obs.on_applied(r->obs.arg, a->ns_cmd, a->ns_len, a->res);
	if (a->type == CELL_CMD_MEMBER && a->member != NULL)
		replica_move_member(r, a->member);
	if (a->type == CELL_CMD_NOOP && r->role == PAXOS_MASTER && a->hdr.proposer == r->d->id &&
	    a->hdr.epoch == r->epoch)
		r->barrier_epoch = r->epoch;
	replica_answer(r, a->hdr.proposer, a->hdr.epoch, a->hdr.seq, a->status, a->res);
}

static void
replica_on_state_replaced(void *arg)
{
	struct replica *r = arg;
	const struct cell_member *m;

	/* Members moved through the log (a backup restored into a new cell
	 * has none: its members are the new config's). */
	for (unsigned i = 0; (m = cell_moved(r->cell, i)) != NULL; i++)
		replica_move_member(r, m);
	/* A new state: the session layer rebuilds from it if it is master. */
	if (r->obs.on_state_replaced != NULL)
		r->obs.on_state_replaced(r->obs.arg);
}

/* What a consistency check found: in cell_apply, or when our namespace
 * digest came after the CHECK (cell_check_digest_set). */
static void
replica_check_outcome(int outcome, const char *why)
{
	/* Paxos Made Live §5.3: a replica whose state differs from the
	 * master's must not serve: its data is wrong (the cell marks itself
	 * diverged). */
	if (outcome == CELL_DIVERGED)
		log_error("CONSISTENCY CHECK FAILED %s; this replica stops serving", why);
	else if (outcome == CELL_CHECK_PASSED)
		log_debug("consistency check %s", why);
}

static void replica_check_hash(struct replica *r, uint64_t slot);

static void
replica_apply_slot(struct replica *r, uint64_t slot, const struct paxos_buf *batch)
{
	size_t off = 0, len;
	const uint8_t *cmd;
	char why[256];

	if (slot <= cell_applied_index(r->cell))
		return; /* covered by the snapshot installed at start */
	while (paxos_batch_next(batch, &off, &cmd, &len)) {
		int outcome;

		why[0] = '\0';
		switch ((outcome = cell_apply(r->cell, slot, cmd, len, why, sizeof why))) {
		case CELL_SKIPPED:
			log_warn("slot %" PRIu64 ": %s", slot, why);
			break;
		case CELL_DIVERGED:
		case CELL_CHECK_PASSED:
			replica_check_outcome(outcome, why);
			break;
		default:
			break;
		}
	}
	cell_end_slot(r->cell, slot);
	if (cell_check_pending(r->cell) == slot)
		replica_check_hash(r, slot);
	r->last_progress_ms = clock_mono_ms();
}

static void replica_step(struct replica *r, struct paxos_event *ev);

/* The child serialised the state at r->snap_bg_index: the core takes it
 * (it may have applied more meanwhile; a snapshot of an applied slot is
 * all it needs). */
static void
replica_snapshot_done(int status, uint8_t *data, size_t len, const char *why, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_SNAPSHOT_TAKEN};

	r->snap_bg = NULL;
	if (status != CHUBBY_OK) {
		/* The core asks again at the next slot applied. */
		log_error("snapshot at slot %" PRIu64 " failed: %s", r->snap_bg_index, why);
		return;
	}
	ev.index = r->snap_bg_index;
	ev.data = data;
	ev.len = len;
	log_info("snapshot at slot %" PRIu64 ": %zu bytes, serialised off the loop in %" PRIu64
		 " ms", r->snap_bg_index, len, clock_mono_ms() - r->snap_bg_started);
	replica_step(r, &ev);
	free(data);
}

static void
replica_check_hashed(int status, uint8_t *data, size_t len, const char *why, void *arg)
{
	struct replica *r = arg;
	char reason[256] = "";

	r->check_bg = NULL;
	if (status == CHUBBY_OK && len == 8)
		replica_check_outcome(cell_check_digest_set(r->cell, r->check_bg_slot,
					     bgsnap_u64(data), reason, sizeof reason),
		    reason);
	else
		log_warn("the namespace digest for the check at slot %" PRIu64 " failed: %s; that "
			 "check compares the log digest only", r->check_bg_slot,
		    why != NULL ? why : "wrong length");
	free(data);
}

/* The namespace digest a CHECK at SLOT names (Paxos Made Live §5.3), hashed
 * in a child from the state as of SLOT: a walk of the whole namespace,
 * which the loop must not spend (it took 200-400 ms at 99,000 nodes with
 * five replicas on two cores).  A hash still under way for an earlier
 * check is dropped: its check is past. */
static void
replica_check_hash(struct replica *r, uint64_t slot)
{
	char err[256];

	bgsnap_cancel(r->check_bg);
	r->check_bg_slot = slot;
	r->check_bg = bgsnap_start(r->d->base, r->cell, bgsnap_work_digest, replica_check_hashed, r,
	    err, sizeof err);
	if (r->check_bg == NULL) {
		log_warn("the namespace digest for the check at slot %" PRIu64 " in the event loop: %s",
		    slot, err);
		replica_check_outcome(cell_check_digest_set(r->cell, slot,
					     ns_digest(cell_ns(r->cell)), err, sizeof err),
		    err);
	}
}

/* The namespace lives in memory; at start the replica installs its latest
 * snapshot and replays the log after it (paxos: durable.applied 0).  The
 * snapshot is serialised in a child (server/bgsnap.h) so that the loop
 * goes on sending heartbeats and applying; in the loop only if no child
 * can be started. */
static void
replica_take_snapshot(struct replica *r, uint64_t index)
{
	struct paxos_event ev = {.type = PAXOS_EV_SNAPSHOT_TAKEN};
	uint8_t *snap = NULL;
	size_t len = 0;
	char err[256];

	if (r->snap_bg != NULL)
		return; /* one at a time: the core asks again until one is taken */
	r->snap_bg_index = index;
	r->snap_bg_started = clock_mono_ms();
	r->snap_bg = bgsnap_start(r->d->base, r->cell, bgsnap_work_snapshot, replica_snapshot_done,
	    r, err, sizeof err);
	if (r->snap_bg != NULL) {
		log_debug("snapshot at slot %" PRIu64 " (%zu nodes, %zu sessions) under way in a "
			  "child", index, ns_node_count(cell_ns(r->cell)),
		    ns_session_count(cell_ns(r->cell)));
		return;
	}
	log_warn("snapshot at slot %" PRIu64 " in the event loop: %s", index, err);
	if (cell_snapshot(r->cell, CELL_SNAP_REPLICA, &snap, &len) != CHUBBY_OK) {
		log_error("cannot serialise the namespace for a snapshot at slot %" PRIu64, index);
		return;
	}
	ev.index = index;
	ev.data = snap;
	ev.len = len;
	log_info("snapshot at slot %" PRIu64 ": %zu bytes, %zu nodes, %zu sessions", index, len,
	    ns_node_count(cell_ns(r->cell)), ns_session_count(cell_ns(r->cell)));
	replica_step(r, &ev);
	free(snap);
}

static void
replica_install_snapshot(struct replica *r, uint64_t index, const struct paxos_buf *snap)
{
	char why[512];

	/* A snapshot or a check hash of ours under way is older than this
	 * state: drop them. */
	bgsnap_cancel(r->snap_bg);
	r->snap_bg = NULL;
	bgsnap_cancel(r->check_bg);
	r->check_bg = NULL;
	/* The state refuses a bad snapshot and marks itself diverged. */
	if (cell_restore(r->cell, index, snap->data, snap->len, why, sizeof why) != CHUBBY_OK) {
		log_error("snapshot for slot %" PRIu64 " refused: %s; this replica stops serving",
		    index, why);
		return;
	}
	if (why[0] != '\0')
		log_warn("%s", why);
	log_info("installed a snapshot covering slots up to %" PRIu64 " (%zu nodes, %zu sessions)",
	    index, ns_node_count(cell_ns(r->cell)), ns_session_count(cell_ns(r->cell)));
}

/* --- actions ---------------------------------------------------------------- */

static void
replica_fail_pending(struct replica *r, int status)
{
	while (r->pending != NULL) {
		struct pending *p = r->pending;
		r->pending = p->next;
		p->done(status, NULL, p->arg);
		free(p);
	}
}

static void
replica_role(struct replica *r, enum paxos_role role, paxos_ballot epoch, unsigned master)
{
	if (role != r->role || epoch != r->epoch || master != r->master)
		log_info("role %s, epoch %" PRIu64 ", master %u", paxos_role_name(role), epoch,
		    master);
	bool new_term = role == PAXOS_MASTER && (r->role != PAXOS_MASTER || epoch != r->epoch);

	if (r->role == PAXOS_MASTER && (role != PAXOS_MASTER || epoch != r->epoch))
		replica_fail_pending(r, CHUBBY_E_NOT_MASTER);
	if (role != r->role || epoch != r->epoch)
		r->tick_now = true; /* the session layer takes over or steps down */
	r->role = role;
	r->epoch = epoch;
	r->master = master;
	if (new_term) {
		/*
		 * The core's own no-op (an empty batch) proves the term to
		 * Paxos, not to the applied state, which sees no entry of ours.
		 * A NOOP entry of this epoch does: applied before we serve, it
		 * makes void any command of a deposed master that a later master
		 * might still get chosen after it (server/cell, docs/FORMAT.md).
		 */
		struct replica_cmd c = {.type = CELL_CMD_NOOP};

		r->barrier_epoch = 0;
		(void)replica_propose(r, &c, 0);
	}
}

static void
replica_arm_turn(struct replica *r)
{
	if (r->turn_armed || r->turn_ev == NULL)
		return;
	r->turn_armed = true;
	/* Runs after the callbacks already due in this pass of the loop. */
	event_active(r->turn_ev, EV_TIMEOUT, 0);
}

static void replica_store_failed(struct replica *r, const char *err);

/* Writes the held PERSISTs in one synced batch; returns the last token
 * written (0: none held), or -1 after a store failure (the loop stops). */
static int64_t
replica_write_group(struct replica *r)
{
	const struct paxos_persist **ws;
	char err[512];
	uint64_t token;
	int rc;

	if (r->ngroup == 0)
		return 0;
	ws = xmalloc(r->ngroup * sizeof *ws);
	for (size_t i = 0; i < r->ngroup; i++)
		ws[i] = &r->group[i];
	rc = store_persist_group(r->st, ws, r->ngroup, err, sizeof err);
	if (rc == CHUBBY_OK)
		lat_hist_observe(&r->fsync_lat, store_last_sync_us(r->st));
	free(ws);
	token = r->group[r->ngroup - 1].token;
	for (size_t i = 0; i < r->ngroup; i++)
		paxos_persist_free(&r->group[i]);
	r->ngroup = 0;
	if (rc != CHUBBY_OK) {
		replica_store_failed(r, err);
		return -1;
	}
	return (int64_t)token;
}

/* The writer thread: takes one group at a time and writes it synced. */
static void *
replica_writer_main(void *arg)
{
	struct replica *r = arg;
	const struct paxos_persist **ws = NULL;
	size_t capws = 0, n;
	char err[512];
	int rc;

	pthread_mutex_lock(&r->wr_mu);
	for (;;) {
		while (!r->wr_has_job && !r->wr_stop)
			pthread_cond_wait(&r->wr_cv, &r->wr_mu);
		if (!r->wr_has_job)
			break; /* stopping, nothing handed over */
		n = r->wr_njob;
		if (n > capws) {
			capws = n;
			ws = xrealloc(ws, capws * sizeof *ws);
		}
		for (size_t i = 0; i < n; i++)
			ws[i] = &r->wr_job[i];
		pthread_mutex_unlock(&r->wr_mu);
		/* The loop touches neither the job nor the store until wr_done. */
		err[0] = '\0';
		rc = store_persist_group(r->st, ws, n, err, sizeof err);
		pthread_mutex_lock(&r->wr_mu);
		r->wr_rc = rc;
		/* The loop folds it into its histogram (replica_written_cb):
		 * the histogram itself is the loop's alone. */
		r->wr_sync_us = store_last_sync_us(r->st);
		snprintf(r->wr_err, sizeof r->wr_err, "%s", err);
		r->wr_has_job = false;
		r->wr_done = true;
		pthread_mutex_unlock(&r->wr_mu);
		{
			char b = 1;
			ssize_t wn;
			do
				wn = write(r->wr_pipe[1], &b, 1);
			while (wn < 0 && errno == EINTR);
		}
		pthread_mutex_lock(&r->wr_mu);
	}
	pthread_mutex_unlock(&r->wr_mu);
	free(ws);
	return NULL;
}

/* Hands the held PERSISTs to the writer (which must be idle). */
static void
replica_hand_group(struct replica *r)
{
	r->wr_token = r->group[r->ngroup - 1].token;
	r->wr_busy = true;
	pthread_mutex_lock(&r->wr_mu);
	r->wr_job = r->group;
	r->wr_njob = r->ngroup;
	r->wr_has_job = true;
	pthread_cond_signal(&r->wr_cv);
	pthread_mutex_unlock(&r->wr_mu);
	/* The array is the writer's now; the next PERSISTs start a new one. */
	r->group = NULL;
	r->ngroup = r->capgroup = 0;
}

static void
replica_store_failed(struct replica *r, const char *err)
{
	/* A replica that cannot keep its promises must not make more. */
	log_error("store: %s; stopping", err);
	r->store_failed = true;
	if (r->turn_ev != NULL)
		event_del(r->turn_ev);
	event_base_loopexit(r->d->base, NULL);
}

/*
 * The end of a loop turn.  The commands proposed during the turn go into
 * as few slots as the pipeline allows (FLUSH); then every PERSIST held so
 * far goes to the writer thread as one synced batch, unless a batch is in
 * flight there: then they wait for it, and more join them (group commit).
 * When the batch is synced, replica_written feeds one PERSISTED for its
 * last token, which releases whatever waited for any of them (PERSISTs
 * complete in order, so the core counts them all done).  Nothing the core
 * sent in the meantime depended on them: it holds such messages back
 * until PERSISTED.
 *
 * Before the writer starts (START, in replica_new) the batch is written
 * here, synced, and what its PERSISTED releases is written at once.
 */
static void
replica_turn(struct replica *r)
{
	struct paxos_event ev;
	int64_t token;

	r->turn_armed = false;
	if (r->store_failed)
		return;
	if (r->wr_started) {
		if (r->want_flush) {
			r->want_flush = false;
			memset(&ev, 0, sizeof ev);
			ev.type = PAXOS_EV_FLUSH;
			replica_step(r, &ev);
		}
		if (r->ngroup > 0 && !r->wr_busy)
			replica_hand_group(r);
		return;
	}
	for (int rounds = 0; rounds < 64; rounds++) {
		if (r->want_flush) {
			r->want_flush = false;
			memset(&ev, 0, sizeof ev);
			ev.type = PAXOS_EV_FLUSH;
			replica_step(r, &ev);
		}
		if ((token = replica_write_group(r)) <= 0)
			return;
		memset(&ev, 0, sizeof ev);
		ev.type = PAXOS_EV_PERSISTED;
		ev.token = (uint64_t)token;
		replica_step(r, &ev);
	}
	/* Still more: leave it to the next turn, after the loop's I/O. */
	if (r->ngroup > 0 || r->want_flush)
		replica_arm_turn(r);
}

/* The writer synced a group (or failed to): release what waited for it. */
static void
replica_written_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev;
	struct paxos_persist *job;
	size_t njob;
	uint64_t sync_us;
	char buf[64], err[512];
	bool done;
	int rc;

	(void)what;
	/* One read empties the pipe: one byte per synced group, one group in
	 * flight.  A byte that lands after it fires the (level-triggered)
	 * event again, so no second read to see EAGAIN. */
	ssize_t got = read(fd, buf, sizeof buf);

	(void)got;
	pthread_mutex_lock(&r->wr_mu);
	done = r->wr_done;
	r->wr_done = false;
	rc = r->wr_rc;
	sync_us = r->wr_sync_us;
	snprintf(err, sizeof err, "%s", r->wr_err);
	job = r->wr_job;
	njob = r->wr_njob;
	if (done) {
		r->wr_job = NULL;
		r->wr_njob = 0;
	}
	pthread_mutex_unlock(&r->wr_mu);
	if (!done)
		return;
	for (size_t i = 0; i < njob; i++)
		paxos_persist_free(&job[i]);
	free(job);
	r->wr_busy = false;
	if (r->store_failed)
		return;
	if (rc != CHUBBY_OK) {
		replica_store_failed(r, err);
		return;
	}
	lat_hist_observe(&r->fsync_lat, sync_us);
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_PERSISTED;
	ev.token = r->wr_token;
	replica_step(r, &ev);
	/* What waited for this batch goes at once: it formed during the sync. */
	replica_turn(r);
}

static void
replica_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	replica_turn(arg);
}

/* Carries out the queued actions in order.  A PERSIST is held for the end
 * of the loop turn (replica_turn), where all held are handed to the writer
 * thread as one synced write once it is free; the core releases no message
 * that depends on it before its PERSISTED, so SENDs go out at once. */
static void
replica_run_actions(struct replica *r)
{
	for (size_t i = 0; i < r->acts.n; i++) {
		struct paxos_action *a = &r->acts.v[i];

		switch (a->type) {
		case PAXOS_ACT_SEND:
			peer_send(r->net, &a->msg);
			break;
		case PAXOS_ACT_PERSIST:
			if (r->ngroup == r->capgroup) {
				r->capgroup = r->capgroup == 0 ? 16 : r->capgroup * 2;
				r->group = xrealloc(r->group, r->capgroup * sizeof *r->group);
			}
			/* Taken over: paxos_actions_clear() frees nothing of it. */
			r->group[r->ngroup++] = a->persist;
			memset(&a->persist, 0, sizeof a->persist);
			replica_arm_turn(r);
			break;
		case PAXOS_ACT_APPLY: {
			/* A copy of the value's handle: what an applied entry sets
			 * off may step the core (a membership change proposed when
			 * its MEMBER entry applies), whose new actions can move
			 * acts.v; the bytes stay where they are until the clear. */
			struct paxos_buf v = a->value;
			replica_apply_slot(r, a->index, &v);
			break;
		}
		case PAXOS_ACT_ROLE:
			replica_role(r, a->role, a->epoch, a->master);
			break;
		case PAXOS_ACT_TAKE_SNAPSHOT:
			/* The core asks again at each slot it applies while a take
			 * is pending, and actions before this one (an APPLY whose
			 * effects propose, a SEND) can make it apply more: if it
			 * has, a later TAKE_SNAPSHOT in this list asks for the newer
			 * slot.  Take that one only: each serialises the whole
			 * namespace in the loop (about 40 ms at 100,000 nodes). */
			if (a->index < paxos_applied_index(r->px))
				break;
			replica_take_snapshot(r, a->index);
			break;
		case PAXOS_ACT_INSTALL_SNAPSHOT: {
			struct paxos_buf v = a->value; /* as for APPLY */
			replica_install_snapshot(r, a->index, &v);
			break;
		}
		}
	}
	paxos_actions_clear(&r->acts);
	replica_note_conf(r);
}

/* Microseconds on CLOCK_MONOTONIC: how late the timer fired is how long
 * the loop was held or not scheduled, and a suspend is neither. */
static uint64_t
replica_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Arms the timer for the earliest of the core's deadline and the periodic
 * floor above; called after every event fed to the core, as any may move
 * the deadline (a heartbeat pushes a follower's election back, an ack
 * extends the master's lease).  The floor counts from the last firing, not
 * from now, or a busy master's events would push the session layer's tick
 * back forever.  A deadline the last tick did not clear (docs/PAXOS.md
 * "Deadlines") waits a millisecond rather than spin.
 */
static void
replica_arm(struct replica *r)
{
	uint64_t now = clock_mono_ms(), due = paxos_next_deadline(r->px), floor, us;
	struct timeval tv;
	bool busy;

	if (r->tick_ev == NULL)
		return;
	busy = r->role == PAXOS_MASTER && (r->obs.idle == NULL || !r->obs.idle(r->obs.arg));
	floor = r->last_tick_ms + (busy ? REPLICA_TICK_MS : REPLICA_IDLE_WAKE_MS);
	if (due > floor)
		due = floor;
	if (due <= r->last_tick_ms)
		due = r->last_tick_ms + 1;
	if (r->tick_now || due < now)
		due = now;
	if (due == r->tick_at_ms && evtimer_pending(r->tick_ev, NULL))
		return;
	/* Never early: armed now (>= now ms), it fires at or after ms DUE. */
	us = (due - now) * 1000u;
	tv.tv_sec = (time_t)(us / 1000000u);
	tv.tv_usec = (suseconds_t)(us % 1000000u);
	r->tick_at_ms = due;
	r->tick_due_us = replica_mono_us() + us;
	evtimer_add(r->tick_ev, &tv);
}

static void
replica_step(struct replica *r, struct paxos_event *ev)
{
	int rc;

	ev->now = clock_mono_ms();
	rc = paxos_step(r->px, ev, &r->acts);
	if (rc != CHUBBY_OK && ev->type != PAXOS_EV_PROPOSE)
		log_warn("paxos: event %d: %s", (int)ev->type, chubby_strerror(rc));
	if (r->stepping)
		return; /* the outer replica_run_actions picks the new actions up */
	r->stepping = 1;
	replica_run_actions(r);
	r->stepping = 0;
	replica_arm(r);
}

/* Proposes C as master, numbered SEQ (0: nobody waits for it). */
static int
replica_propose(struct replica *r, const struct replica_cmd *c, uint64_t seq)
{
	msgpack_sbuffer sb;
	struct paxos_event ev = {.type = PAXOS_EV_PROPOSE};
	/* The master's clock, stamped into the entry: replicas never read
	 * their own clock while applying. */
	struct cell_hdr h = {
	    .stamp_ms = clock_real_ms(), .proposer = r->d->id, .epoch = r->epoch, .seq = seq};
	int rc;

	msgpack_sbuffer_init(&sb);
	switch (c->type) {
	case CELL_CMD_NS:
		cell_cmd_ns(&sb, &h, c->body, c->len);
		break;
	case CELL_CMD_CHECK:
		cell_cmd_check(&sb, &h, c->check[0], c->check[1], c->check[2]);
		break;
	case CELL_CMD_MEMBER:
		cell_cmd_member(&sb, &h, c->id, c->client, c->peer, c->status);
		break;
	case CELL_CMD_NOOP:
		cell_cmd_noop(&sb, &h);
		break;
	}
	ev.data = sb.data;
	ev.len = sb.size;
	ev.now = clock_mono_ms();
	rc = paxos_step(r->px, &ev, &r->acts);
	msgpack_sbuffer_destroy(&sb);
	if (rc == CHUBBY_OK) {
		/* Proposed at the end of the turn, with the turn's other commands. */
		r->want_flush = true;
		replica_arm_turn(r);
	}
	if (!r->stepping) {
		r->stepping = 1;
		replica_run_actions(r);
		r->stepping = 0;
		replica_arm(r);
	}
	return rc;
}

/* An idle master commits a no-op every REPLICA_IDLE_NOOP_MS: a replica
 * rejoining after losing its data votes again only once it has seen an
 * instance complete (Paxos Made Live §5.1), and an idle cell would
 * otherwise never give it one.  Not once a master lease, as before: that
 * was five fsyncs every 600 ms in a cell doing nothing, for a rejoin that
 * now waits at most 5 s longer in a cell with no traffic at all. */
static void
replica_maybe_noop(struct replica *r)
{
	uint64_t now = clock_mono_ms();
	struct replica_cmd c = {.type = CELL_CMD_NOOP};

	if (now - r->last_progress_ms < REPLICA_IDLE_NOOP_MS || !replica_is_master(r))
		return;
	r->last_progress_ms = now;
	replica_propose(r, &c, 0);
}

/* The master proposes a consistency check after each checksum_interval
 * slots: the log digest and the namespace digest at the last multiple. */
static void
replica_maybe_check(struct replica *r)
{
	unsigned every = r->d->cfg->checksum_interval;
	uint64_t applied = cell_applied_index(r->cell), at, ns_digest, digest;
	struct replica_cmd c = {.type = CELL_CMD_CHECK};

	if (every == 0 || !replica_is_master(r))
		return;
	at = applied - applied % every;
	if (at == 0 || at <= r->last_check_slot || cell_check_slot(r->cell, &ns_digest) != at)
		return;
	/* The ring holds the last CELL_DIGEST_RING slots: a check proposed
	 * later than that names nothing anyone can compare. */
	if (!cell_ring_digest(r->cell, at, &digest))
		return;
	r->last_check_slot = at;
	c.check[0] = at;
	c.check[1] = digest;
	c.check[2] = ns_digest;
	replica_propose(r, &c, 0);
}

static void
replica_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_TICK};
	uint64_t fired = replica_mono_us();

	(void)fd;
	(void)what;
	r->tick_at_ms = 0;
	r->last_tick_ms = clock_mono_ms();
	if (r->lag_fn != NULL)
		r->lag_fn(r->lag_arg, fired > r->tick_due_us ? fired - r->tick_due_us : 0);
	replica_step(r, &ev);
	/* Work the tick left due at once (docs/PAXOS.md "Deadlines"): the
	 * core acts on it at a second tick, not a millisecond later. */
	if (paxos_next_deadline(r->px) <= r->last_tick_ms) {
		memset(&ev, 0, sizeof ev);
		ev.type = PAXOS_EV_TICK;
		replica_step(r, &ev);
	}
	replica_maybe_check(r);
	replica_maybe_noop(r);
	if (r->obs.on_tick != NULL)
		r->obs.on_tick(r->obs.arg);
	if (!r->replaced_logged && replica_replaced(r) &&
	    cell_applied_index(r->cell) == paxos_chosen_index(r->px)) {
		/* Our id was moved to another machine through the log: the peers
		 * refuse our links now (peer_source_ok); say so loudly. */
		r->replaced_logged = 1;
		log_error("REPLACED: the log moved replica %u to peer address %s (we are %s); this "
			  "process is no longer a member: stop it",
		    r->d->id, r->d->self->peer_addr, r->self_at_start.peer_addr);
	}
	/* The session layer saw any role change of this tick just now. */
	r->tick_now = false;
	replica_arm(r);
}

static void
replica_deliver(const struct paxos_msg *m, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_RECEIVE, .msg = m};

	replica_step(r, &ev);
}

/* --- proposals ---------------------------------------------------------------- */

/* Queues a waiter for command C and proposes it. */
static int
replica_submit_cmd(struct replica *r, const struct replica_cmd *c, replica_done_fn done,
    void *arg)
{
	struct pending *p;
	int rc;

	if (cell_diverged(r->cell))
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	p = xcalloc(1, sizeof *p);
	p->seq = ++r->next_seq;
	p->t0_us = clock_mono_us();
	p->done = done;
	p->arg = arg;
	/* Queue the waiter first: the command may apply within this step (a
	 * one-replica cell chooses at once). */
	p->next = r->pending;
	r->pending = p;
	rc = replica_propose(r, c, p->seq);
	if (rc != CHUBBY_OK) {
		for (struct pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				free(p);
				break;
			}
	}
	return rc;
}

int
replica_sync(struct replica *r, replica_done_fn done, void *arg)
{
	struct replica_cmd c = {.type = CELL_CMD_NOOP};

	return replica_submit_cmd(r, &c, done, arg);
}

int
replica_submit(struct replica *r, const uint8_t *cmd, size_t len, replica_done_fn done, void *arg)
{
	struct replica_cmd c = {.type = CELL_CMD_NS, .body = cmd, .len = len};

	return replica_submit_cmd(r, &c, done, arg);
}

size_t
replica_pending(const struct replica *r)
{
	size_t n = 0;

	for (const struct pending *p = r->pending; p != NULL; p = p->next)
		n++;
	return n;
}

const struct ns *
replica_ns(const struct replica *r)
{
	return cell_ns(r->cell);
}

int
replica_move(struct replica *r, unsigned id, const char *client, const char *peer,
    const char *status, replica_done_fn done, void *arg)
{
	struct replica_cmd c = {.type = CELL_CMD_MEMBER,
	    .id = id,
	    .client = client,
	    .peer = peer,
	    .status = status};

	return replica_submit_cmd(r, &c, done, arg);
}

int
replica_members(struct replica *r, int op, unsigned id)
{
	struct paxos_event ev = {.type = PAXOS_EV_MEMBERS, .index = id, .token = (uint64_t)op};
	int rc;

	if (cell_diverged(r->cell))
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	ev.now = clock_mono_ms();
	rc = paxos_step(r->px, &ev, &r->acts);
	if (!r->stepping) {
		r->stepping = 1;
		replica_run_actions(r);
		r->stepping = 0;
	}
	return rc;
}

bool
replica_member_role(const struct replica *r, unsigned id, bool *voter, uint64_t *lag)
{
	const struct paxos_conf *c = paxos_conf(r->px);
	uint64_t chosen, heard;

	*lag = 0;
	if (paxos_conf_has_voter(c, id))
		*voter = true;
	else if (paxos_conf_has_learner(c, id))
		*voter = false;
	else
		return false;
	if (id != r->d->id && paxos_peer_progress(r->px, id, &chosen, &heard))
		*lag = paxos_chosen_index(r->px) > chosen ? paxos_chosen_index(r->px) - chosen : 0;
	else if (id != r->d->id)
		*lag = UINT64_MAX; /* not heard from in this term, or we are not master */
	return true;
}

bool
replica_conf_changing(const struct replica *r)
{
	return paxos_conf_changing(r->px);
}

bool
replica_replaced(const struct replica *r)
{
	const struct cell_replica *now = r->d->self;

	return strcmp(now->peer_addr, r->self_at_start.peer_addr) != 0 ||
	    strcmp(now->client_addr, r->self_at_start.client_addr) != 0;
}

struct peer_net *
replica_peer_net(struct replica *r)
{
	return r->net;
}

bool
replica_is_master(const struct replica *r)
{
	return !cell_diverged(r->cell) && !replica_replaced(r) && r->barrier_epoch == r->epoch &&
	    r->epoch != 0 && paxos_is_master_with_lease(r->px, clock_mono_ms());
}

unsigned
replica_master(const struct replica *r)
{
	/* Naming ourselves without the lease would send clients in a circle. */
	if (r->master == r->d->id && !replica_is_master(r))
		return 0;
	return r->master;
}

uint64_t
replica_epoch(const struct replica *r)
{
	return r->epoch;
}

/* The role to report.  "master" only while the lease holds: a master cut
 * off from its majority keeps trying to renew (the core stays in Phase 2)
 * but must not look like one. */
static const char *
replica_role_name(const struct replica *r)
{
	if (cell_diverged(r->cell))
		return "diverged";
	if (replica_replaced(r))
		return "replaced";
	if (r->d->self->removed)
		return "removed";
	if (!paxos_is_voter(r->px))
		return "nonvoter";
	if (replica_is_master(r))
		return "master";
	if (paxos_role(r->px) == PAXOS_MASTER)
		return "master-unleased";
	return paxos_role_name(paxos_role(r->px));
}

void
replica_info(const struct replica *r, struct replica_info *out)
{
	uint64_t now = clock_mono_ms(), lease = paxos_lease_expiry(r->px);
	struct peer_stats ps;

	memset(out, 0, sizeof *out);
	out->diverged = cell_diverged(r->cell);
	out->voter = paxos_is_voter(r->px);
	out->role = replica_role_name(r);
	out->epoch = r->epoch;
	out->promised = paxos_promised(r->px);
	out->master = r->master;
	out->committed = paxos_chosen_index(r->px);
	out->applied = cell_applied_index(r->cell);
	out->lease_ms = lease > now ? lease - now : 0;
	out->digest = cell_digest(r->cell);
	out->links_up = peer_links_up(r->net);
	out->links_total = r->d->cfg->nreplicas > 0 ? r->d->cfg->nreplicas - 1 : 0;
	peer_stats(r->net, &ps);
	out->peer_sent = ps.sent;
	out->peer_dropped = ps.dropped;
	out->peer_received = ps.received;
	out->peer_bad = ps.bad;
	out->peer_bytes_out = ps.bytes_out;
	out->peer_bytes_in = ps.bytes_in;
	out->proposals = r->next_seq;
	out->commit = r->commit_lat;
	out->fsync = r->fsync_lat;
}

size_t
replica_commit_recent(const struct replica *r, struct lat_point *out)
{
	return lat_ring_read(&r->commit_ring, clock_mono_ms(), out);
}

bool
replica_peer_progress(const struct replica *r, unsigned id, uint64_t *chosen, uint64_t *ago_ms)
{
	uint64_t heard, now = clock_mono_ms();

	if (!paxos_peer_progress(r->px, id, chosen, &heard))
		return false;
	*ago_ms = now > heard ? now - heard : 0;
	return true;
}

int
replica_handoff(struct replica *r, unsigned id, unsigned *target)
{
	struct paxos_event ev = {.type = PAXOS_EV_HANDOFF, .index = id};
	int rc;

	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	ev.now = clock_mono_ms();
	rc = paxos_step(r->px, &ev, &r->acts);
	if (rc == CHUBBY_OK) {
		*target = paxos_handoff_target(r->px);
		log_info("handing mastership to replica %u: no new proposals until it has "
			 "caught up, then no lease renewals", *target);
	}
	if (!r->stepping) {
		r->stepping = 1;
		replica_run_actions(r);
		r->stepping = 0;
		replica_arm(r);
	}
	return rc;
}

unsigned
replica_status_pack(const struct replica *r, msgpack_packer *pk, bool state_digest)
{
	uint64_t now = clock_mono_ms(), lease = paxos_lease_expiry(r->px);
	const char *role = replica_role_name(r);

	if (pk == NULL)
		return state_digest ? 11 : 10;
	mp_pack_kv_str(pk, "role", role);
	mp_pack_kv_uint(pk, "epoch", r->epoch);
	/* The ballot this replica promised: rises only with real elections
	 * (a pre-vote raises nothing), so operators and tests can see a
	 * replica's ballots stay put. */
	mp_pack_kv_uint(pk, "promised", paxos_promised(r->px));
	mp_pack_kv_uint(pk, "master", r->master);
	mp_pack_kv_uint(pk, "committed", paxos_chosen_index(r->px));
	mp_pack_kv_uint(pk, "applied", cell_applied_index(r->cell));
	mp_pack_kv_uint(pk, "lease_ms", lease > now ? lease - now : 0);
	mp_pack_kv_bool(pk, "voter", paxos_is_voter(r->px));
	mp_pack_kv_uint(pk, "digest", cell_digest(r->cell));
	/* The applied namespace hashed now, not carried: "digest" chains the
	 * commands applied, and a replica that installed a snapshot took the
	 * chain's value from it, so equal chains alone cannot show that its
	 * state is equal.  Only when asked: it walks the whole namespace in
	 * the event loop (350-450 ms at 100,000 nodes with five replicas on
	 * two cores), and STATUS is what monitoring polls. */
	if (state_digest)
		mp_pack_kv_uint(pk, "state_digest", ns_digest(cell_ns(r->cell)));
	mp_pack_kv_uint(pk, "checks", cell_checks_passed(r->cell));
	return state_digest ? 11 : 10;
}

/* --- set-up ------------------------------------------------------------------ */

/* Slot 1's voters, as pc->members wants them: the store's record of them
 * (FIRST, no voters: none) or else the config file's replica lines, which
 * are the founders' own at a cell's first start and stay right for a store
 * from before the record (docs/PAXOS.md "Membership"). */
static void
replica_paxos_config(const struct chubbyd *d, const struct paxos_conf *first, bool join,
    struct paxos_config *pc)
{
	const struct cell_config *c = d->cfg;

	paxos_config_defaults(pc);
	pc->id = d->id;
	if (first->nvoters > 0) {
		pc->nmembers = first->nvoters;
		memcpy(pc->members, first->voters, first->nvoters * sizeof *first->voters);
	} else {
		pc->nmembers = c->nreplicas;
		for (unsigned i = 0; i < c->nreplicas; i++)
			pc->members[i] = c->replicas[i].id;
	}
	pc->join = join;
	pc->lease_ms = c->master_lease_ms;
	pc->drift_ppm = c->clock_drift_ppm;
	pc->margin_ms = c->clock_margin_ms;
	pc->heartbeat_ms = c->heartbeat_interval_ms;
	/* A follower that never had a lease granted waits the election timeout
	 * (and up to as much again); after a lease, which already measured the
	 * master's silence, only a random [0, election_timeout] that spreads
	 * the candidates. */
	pc->election_min_ms = c->election_timeout_ms;
	pc->election_max_ms = 2 * c->election_timeout_ms;
	pc->after_lease_max_ms = c->election_timeout_ms;
	pc->batch_max_count = c->batch_max;
	pc->pipeline_max = c->pipeline_max;
	pc->propose_on_flush = true; /* replica_turn feeds FLUSH */
	pc->batch_max_bytes = (size_t)(c->max_frame / 2);
	/* Peer frames may be twice max_frame: a chunk and its envelope fit. */
	pc->snapshot_chunk = (size_t)c->max_frame;
	pc->snapshot_every = c->snapshot_interval;
	pc->log_keep = c->log_keep;
	/* Different per replica and per start: duelling candidates back off apart. */
	pc->seed = clock_real_ms() * 1000003u + d->id;
}

/* A store that fails its checksums cannot be trusted for anything, least
 * of all for the promises it holds: move it aside (for a post-mortem) and
 * start empty, which makes this replica rejoin without a vote and fetch
 * the state from its peers (Paxos Made Live §5.1, "disk corruption"). */
static int
replica_set_aside(struct replica *r, const char *why, char *err, size_t errlen)
{
	char *aside;

	if (r->st != NULL) {
		store_close(r->st);
		r->st = NULL;
	}
	xasprintf(&aside, "%s.corrupt-%llu", r->d->data_dir, (unsigned long long)clock_real_ms());
	log_error("STORE CORRUPT: %s; moving %s to %s and rejoining as a non-voting member",
	    why, r->d->data_dir, aside);
	if (rename(r->d->data_dir, aside) != 0) {
		snprintf(err, errlen, "store corrupt (%s) and cannot move it aside to %s", why, aside);
		free(aside);
		return CHUBBY_E_CORRUPT;
	}
	free(aside);
	if (mkdir(r->d->data_dir, 0700) != 0) {
		snprintf(err, errlen, "cannot recreate %s", r->d->data_dir);
		return CHUBBY_E_IO;
	}
	/* Our flock went with the old directory: take it on the new one. */
	if (chubbyd_lock_data_dir(r->d, err, errlen) != 0)
		return CHUBBY_E_IO;
	return store_open(r->d->data_dir, &r->st, err, errlen);
}

/* Opens the store and loads what Paxos needs; sets *STATE_LOST when this
 * replica must not vote until it has caught up. */
static int
replica_open_store(struct replica *r, bool init, bool join, struct paxos_durable *dur,
    bool *state_lost, bool *joiner, char *err, size_t errlen)
{
	struct chubbyd *d = r->d;
	struct store_identity ident;
	int rc, set_aside = 0;

	*state_lost = false;
	rc = store_open(d->data_dir, &r->st, err, errlen);
	if (rc == CHUBBY_E_CORRUPT) {
		if ((rc = replica_set_aside(r, err, err, errlen)) != CHUBBY_OK)
			return rc;
		set_aside = 1;
	} else if (rc != CHUBBY_OK) {
		return rc;
	}
	store_identity(r->st, &ident);
	*joiner = false;
	/* --join, like --init, only matters for an empty directory: from its
	 * first start on, the store says how this replica started. */
	if (ident.initialized) {
		if ((rc = store_check_identity(r->st, d->cfg->cell, d->id, err, errlen)) != CHUBBY_OK)
			return rc;
		rc = store_verify(r->st, err, errlen);
		if (rc == CHUBBY_OK)
			rc = store_load_paxos(r->st, dur, err, errlen);
		if (rc == CHUBBY_E_CORRUPT && !set_aside) {
			store_paxos_durable_free(dur);
			if ((rc = replica_set_aside(r, err, err, errlen)) != CHUBBY_OK)
				return rc;
			set_aside = 1;
			store_identity(r->st, &ident);
		} else if (rc != CHUBBY_OK) {
			return rc;
		}
	}
	if (!ident.initialized) {
		/* An empty store: a new cell's member if the operator says so
		 * (--init); otherwise this replica lost its data and must not vote
		 * until it has caught up (Paxos Made Live §5.1).  The non-voter
		 * flag is synced with the identity, in one batch. */
		bool voter = init && !set_aside;
		if (join && !set_aside)
			rc = store_init_joiner(r->st, d->cfg->cell, d->id, err, errlen);
		else
			rc = store_init(r->st, d->cfg->cell, d->id, voter, err, errlen);
		if (rc != CHUBBY_OK)
			return rc;
		*state_lost = !voter;
		if (join && !set_aside)
			log_info("initialized a new store in %s: joining the cell as a learner; the "
				 "master adds it (lockctl members add)",
			    d->data_dir);
		else if (*state_lost)
			log_warn("the store in %s is empty: rejoining as a non-voting member until "
				 "caught up (start a brand-new cell's replicas with --init, a new "
				 "member with --join)",
			    d->data_dir);
		else
			log_info("initialized a new store in %s", d->data_dir);
		rc = store_load_paxos(r->st, dur, err, errlen);
		store_identity(r->st, &ident);
	}
	if (rc != CHUBBY_OK)
		return rc;
	*joiner = ident.joiner;
	if (ident.founder && !*state_lost && dur->snap_conf.nvoters == 0) {
		/* A founder keeps its first voters: from now on the config file's
		 * replica lines are only the address book (they may grow). */
		struct paxos_conf first;
		const struct cell_config *c = d->cfg;

		memset(&first, 0, sizeof first);
		first.nvoters = c->nreplicas;
		for (unsigned i = 0; i < c->nreplicas; i++)
			first.voters[i] = c->replicas[i].id;
		rc = store_set_first_conf(r->st, &first, err, errlen);
		if (rc == CHUBBY_OK)
			dur->snap_conf = first;
		else if (rc == CHUBBY_E_EXISTS)
			rc = CHUBBY_OK; /* a snapshot from before the record: as before */
	}
	return rc;
}

struct replica *
replica_new(struct chubbyd *d, bool init, bool join, char *err, size_t errlen)
{
	struct replica *r = xcalloc(1, sizeof *r);
	struct paxos_config pc;
	struct paxos_durable dur;
	struct paxos_event ev = {.type = PAXOS_EV_START};
	struct cell_params cc;
	struct cell_observer obs = {replica_on_applied, replica_on_state_replaced, r};
	bool state_lost = false, joiner = false;

	r->d = d;
	r->wr_pipe[0] = r->wr_pipe[1] = -1;
	r->self_at_start = *d->self;
	paxos_actions_init(&r->acts);
	memset(&dur, 0, sizeof dur);
	if (replica_open_store(r, init, join, &dur, &state_lost, &joiner, err, errlen) !=
	    CHUBBY_OK)
		goto fail;
	replica_paxos_config(d, &dur.snap_conf, joiner, &pc);
	r->px = paxos_new(&pc);
	if (r->px == NULL) {
		snprintf(err, errlen, "the replication settings are inconsistent");
		goto fail;
	}
	r->net = peer_net_new(d, replica_deliver, r, err, errlen);
	if (r->net == NULL)
		goto fail;
	replica_cell_params(d, &cc);
	/* The CHECK's namespace digest is hashed in a child (replica_check_hash). */
	cc.check_digest_deferred = true;
	if ((r->cell = cell_new(&cc)) == NULL) {
		snprintf(err, errlen,
		    "the namespace settings are unusable (cell \"%s\", acl_dir \"%s\")",
		    d->cfg->cell, d->cfg->acl_dir);
		goto fail;
	}
	cell_observe(r->cell, &obs);
	r->last_progress_ms = clock_mono_ms();
	/* The namespace is rebuilt from the latest snapshot and the log after
	 * it: the state machine keeps no durable state of its own. */
	dur.applied = 0;
	ev.durable = &dur;
	ev.state_lost = state_lost;
	replica_step(r, &ev);
	store_paxos_durable_free(&dur);
	/* Whatever START persists (the non-voter flag) is synced before we go on. */
	replica_turn(r);
	if (r->store_failed || r->ngroup > 0) {
		snprintf(err, errlen, "cannot write the store at start");
		goto fail;
	}
	/* From here on the writer thread alone touches the store. */
	pthread_mutex_init(&r->wr_mu, NULL);
	pthread_cond_init(&r->wr_cv, NULL);
	if (pipe(r->wr_pipe) != 0 || fcntl(r->wr_pipe[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(r->wr_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(r->wr_pipe[1], F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot make the store writer's pipe: %s", strerror(errno));
		goto fail;
	}
	r->wr_ev = event_new(d->base, r->wr_pipe[0], EV_READ | EV_PERSIST, replica_written_cb, r);
	event_add(r->wr_ev, NULL);
	if (pthread_create(&r->wr_thread, NULL, replica_writer_main, r) != 0) {
		snprintf(err, errlen, "cannot start the store writer thread");
		goto fail;
	}
	r->wr_started = true;
	r->turn_ev = event_new(d->base, -1, 0, replica_turn_cb, r);
	r->tick_ev = evtimer_new(d->base, replica_tick_cb, r);
	r->last_tick_ms = clock_mono_ms();
	replica_arm(r);
	log_info("replica started: applied %" PRIu64 ", promised %" PRIu64 "%s",
	    cell_applied_index(r->cell),
	    paxos_promised(r->px), paxos_is_voter(r->px) ? "" : ", not voting yet");
	return r;
fail:
	store_paxos_durable_free(&dur);
	replica_free(r);
	return NULL;
}

void
replica_observe(struct replica *r, const struct replica_observer *obs)
{
	r->obs = *obs;
}

void
replica_watch_lag(struct replica *r, void (*fn)(void *arg, uint64_t late_us), void *arg)
{
	r->lag_fn = fn;
	r->lag_arg = arg;
}

void
replica_free(struct replica *r)
{
	if (r == NULL)
		return;
	replica_fail_pending(r, CHUBBY_E_UNAVAILABLE);
	bgsnap_cancel(r->snap_bg);
	bgsnap_cancel(r->check_bg);
	if (r->tick_ev != NULL)
		event_free(r->tick_ev);
	r->tick_ev = NULL; /* replica_arm arms nothing from here on */
	if (r->turn_ev != NULL)
		event_free(r->turn_ev);
	if (r->wr_started) {
		/* A group in flight finishes its write (no PERSISTED follows: the
		 * loop has stopped); nothing else is handed over. */
		pthread_mutex_lock(&r->wr_mu);
		r->wr_stop = true;
		pthread_cond_signal(&r->wr_cv);
		pthread_mutex_unlock(&r->wr_mu);
		pthread_join(r->wr_thread, NULL);
		for (size_t i = 0; i < r->wr_njob; i++)
			paxos_persist_free(&r->wr_job[i]);
		free(r->wr_job);
		pthread_cond_destroy(&r->wr_cv);
		pthread_mutex_destroy(&r->wr_mu);
	}
	if (r->wr_ev != NULL)
		event_free(r->wr_ev);
	for (int i = 0; i < 2; i++)
		if (r->wr_pipe[i] >= 0)
			close(r->wr_pipe[i]);
	/* Held writes are dropped like a crash would drop them: nothing that
	 * depended on them has left. */
	for (size_t i = 0; i < r->ngroup; i++)
		paxos_persist_free(&r->group[i]);
	free(r->group);
	peer_net_free(r->net);
	paxos_free(r->px);
	cell_free(r->cell);
	paxos_actions_free(&r->acts);
	if (r->st != NULL)
		store_close(r->st);
	free(r);
}

/* --- backup and restore ------------------------------------------------------ */

int
replica_backup(struct replica *r, uint8_t **out, size_t *len, uint64_t *index)
{
	int rc;

	if (cell_diverged(r->cell))
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	/* The loop is single-threaded: nothing applies between here and the
	 * end of the packing, so the state is the one at the applied index. */
	if ((rc = cell_snapshot(r->cell, CELL_SNAP_BACKUP, out, len)) != CHUBBY_OK)
		return rc;
	*index = cell_applied_index(r->cell);
	log_info("backup at slot %" PRIu64 ": %zu bytes, %zu nodes, %zu sessions", *index, *len,
	    ns_node_count(cell_ns(r->cell)), ns_session_count(cell_ns(r->cell)));
	return CHUBBY_OK;
}

int
replica_backup_start(struct replica *r, bgsnap_work_fn work, bgsnap_done_fn done, void *arg,
    struct bgsnap **out, uint64_t *index, char *err, size_t errlen)
{
	if (cell_diverged(r->cell))
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	if ((*index = cell_applied_index(r->cell)) == 0)
		return CHUBBY_E_UNAVAILABLE;
	/* The child sees the state as of the fork: the applied index now. */
	if ((*out = bgsnap_start(r->d->base, r->cell, work, done, arg, err, errlen)) == NULL)
		return CHUBBY_E_INTERNAL;
	log_info("backup at slot %" PRIu64 " (%zu nodes, %zu sessions) under way in a child",
	    *index, ns_node_count(cell_ns(r->cell)), ns_session_count(cell_ns(r->cell)));
	return CHUBBY_OK;
}

int
replica_check_snapshot(const struct chubbyd *d, const uint8_t *snap, size_t len, uint64_t index,
    char *err, size_t errlen)
{
	struct cell_params cc;

	replica_cell_params(d, &cc);
	return cell_check_backup(&cc, snap, len, index, err, errlen);
}
