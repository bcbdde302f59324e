/* replica.c: the Paxos shell: clock ticks, store, peer links and the applied state. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "mp.h"
#include "ns/ns.h"
#include "paxos/paxos.h"
#include "peer/peer.h"
#include "replica.h"
#include "session/session.h"
#include "store/store.h"
#include "xmalloc.h"

/* The core wants time to pass in small steps: a tick is cheap when idle. */
#define REPLICA_TICK_MS 10
/* Digests of recent slots kept for the consistency check (Paxos Made Live §5.3). */
#define REPLICA_DIGEST_RING 4096

enum cmd_type {
	CMD_NOOP = 1,  /* a barrier: proves the log moves (replica_sync) */
	CMD_CHECK = 2, /* [at_slot, digest, ns_digest]: every replica compares its digests at at_slot */
	CMD_NS = 3,    /* [ns command bytes]: one namespace command (server/ns) */
	CMD_MEMBER = 4, /* [id, client, peer, status]: replica ID now lives at these addresses */
};

/* A member's addresses as the log last set them (replicated state). */
struct member_addr {
	unsigned id; /* 0: slot unused */
	char client[CONFIG_ADDR_MAX];
	char peer[CONFIG_ADDR_MAX];
	char status[CONFIG_ADDR_MAX];
};

struct pending {
	uint64_t seq;
	uint64_t t0; /* monotonic ms when proposed: commit latency */
	replica_done_fn done;
	void *arg;
	struct pending *next;
};

struct replica {
	struct chubbyd *d;
	struct paxos *px;
	struct store *st;
	struct peer_net *net;
	struct event *tick_ev;
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
	char wr_err[512];        /* under wr_mu */
	bool wr_busy;            /* loop only: a group handed over, not yet completed */
	uint64_t wr_token;       /* loop only: the last token of the group in flight */
	struct paxos_actions acts;
	int stepping; /* inside replica_step: nested steps append to acts */

	enum paxos_role role;
	paxos_ballot epoch;
	unsigned master;

	/* The applied state: the namespace, and a digest chain over the log. */
	struct ns *ns;
	struct member_addr moved[CONFIG_MAX_REPLICAS]; /* replicas moved through the log */
	struct cell_replica self_at_start; /* our addresses as our config file gave them */
	uint64_t applied;    /* last slot applied */
	uint64_t digest;     /* FNV-1a chain over every applied command */
	uint64_t ncommands;  /* commands applied */
	uint64_t last_stamp; /* the latest master time stamped into an entry */
	uint64_t ring_slot[REPLICA_DIGEST_RING];
	uint64_t ring_digest[REPLICA_DIGEST_RING];
	/* ns_digest() at the slots a consistency check may name (every
	 * checksum_interval): the state itself, not just the commands. */
	uint64_t check_slot, check_ns_digest;
	uint64_t checks_passed; /* consistency checks that compared both digests and agreed */
	int diverged;
	int replaced_logged;
	uint64_t last_check_slot;
	uint64_t last_progress_ms; /* monotonic time the applied index last moved */

	uint64_t commit_hist[REPLICA_COMMIT_NBUCKETS + 1];
	uint64_t commit_sum_ms, commit_count;

	/* Commands this replica proposed as master, by sequence number. */
	uint64_t next_seq;
	struct pending *pending;
};

static void replica_step(struct replica *r, struct paxos_event *ev);

/* --- the applied state ---------------------------------------------------- */

#define REPLICA_DIGEST_INIT 1469598103934665603ull

/* The namespace with the cell config's limits. */
static struct ns *
replica_ns_new(const struct chubbyd *d, char *err, size_t errlen)
{
	const struct cell_config *c = d->cfg;
	struct ns_config nc = {
	    .cell = c->cell,
	    .superuser = c->superuser,
	    .acl_dir = c->acl_dir,
	    .max_contents = (size_t)c->max_contents,
	    .lock_delay_default_ms = c->lock_delay_ms,
	    .lock_delay_max_ms = c->lock_delay_max_ms,
	    .lock_delay_given = true, /* lock_delay = 0 in the config means none */
	    .max_sessions = c->max_sessions,
	    .max_handles = c->max_handles_per_session,
	};
	struct ns *ns = ns_new(&nc);

	if (ns == NULL)
		snprintf(err, errlen, "the namespace settings are unusable (cell \"%s\", acl_dir \"%s\")",
		    c->cell, c->acl_dir);
	return ns;
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Proposal-to-applied time of the commands this replica proposed as
 * master, in the buckets of REPLICA_COMMIT_BUCKETS (ms). */
static void
replica_observe_commit(struct replica *r, uint64_t ms)
{
	static const uint64_t le[REPLICA_COMMIT_NBUCKETS] = {REPLICA_COMMIT_BUCKETS};
	unsigned i;

	for (i = 0; i < REPLICA_COMMIT_NBUCKETS && ms > le[i]; i++)
		;
	r->commit_hist[i]++; /* i == NBUCKETS: above the last bucket (+Inf) */
	r->commit_sum_ms += ms;
	r->commit_count++;
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
			replica_observe_commit(r, clock_mono_ms() - p->t0);
			p->done(status, res, p->arg);
			free(p);
			return;
		}
	}
}

static void
replica_apply_check(struct replica *r, const msgpack_object *o, uint32_t n, unsigned master)
{
	uint64_t at, want, want_ns, idx;

	if (n < 7 || o[5].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o[6].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return;
	at = o[5].via.u64;
	want = o[6].via.u64;
	idx = at % REPLICA_DIGEST_RING;
	if (r->ring_slot[idx] == at && r->ring_digest[idx] != want) {
		/* Paxos Made Live §5.3: a replica whose state differs from the
		 * master's must not serve: its data is wrong. */
		log_error("CONSISTENCY CHECK FAILED at slot %" PRIu64 ": our log digest %016" PRIx64
			  ", master %u says %016" PRIx64 "; this replica stops serving",
		    at, r->ring_digest[idx], master, want);
		r->diverged = 1;
		return;
	}
	if (n >= 8 && o[7].type == MSGPACK_OBJECT_POSITIVE_INTEGER && r->check_slot == at) {
		want_ns = o[7].via.u64;
		if (r->check_ns_digest != want_ns) {
			log_error("CONSISTENCY CHECK FAILED at slot %" PRIu64 ": our namespace digest "
				  "%016" PRIx64 ", master %u says %016" PRIx64
				  "; this replica stops serving",
			    at, r->check_ns_digest, master, want_ns);
			r->diverged = 1;
			return;
		}
		r->checks_passed++;
		log_debug("consistency check at slot %" PRIu64 ": log and namespace agree", at);
	}
}

/* Points replica ID of the running config at ADDRS: peers dial the new
 * peer address from their next attempt, WHERE_IS_MASTER names the new
 * client address.  Every replica applies the same entries, so all agree. */
static void
replica_move_member(struct replica *r, const struct member_addr *m)
{
	struct cell_config *c = r->d->cfg;
	struct member_addr *slot = NULL;

	for (unsigned i = 0; i < c->nreplicas; i++) {
		struct cell_replica *cr = &c->replicas[i];
		if (cr->id != m->id)
			continue;
		if (strcmp(cr->peer_addr, m->peer) != 0 || strcmp(cr->client_addr, m->client) != 0)
			log_info("member %u moves: client %s -> %s, peer %s -> %s", m->id,
			    cr->client_addr, m->client, cr->peer_addr, m->peer);
		snprintf(cr->client_addr, sizeof cr->client_addr, "%s", m->client);
		snprintf(cr->peer_addr, sizeof cr->peer_addr, "%s", m->peer);
		snprintf(cr->status_addr, sizeof cr->status_addr, "%s", m->status);
	}
	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS && slot == NULL; i++)
		if (r->moved[i].id == m->id || r->moved[i].id == 0)
			slot = &r->moved[i];
	if (slot != NULL)
		*slot = *m;
}

static bool
replica_member_fields(const msgpack_object *o, struct member_addr *m)
{
	const msgpack_object *a[3];

	if (o[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || o[0].via.u64 == 0 ||
	    o[0].via.u64 > CONFIG_MAX_REPLICA_ID)
		return false;
	memset(m, 0, sizeof *m);
	m->id = (unsigned)o[0].via.u64;
	a[0] = &o[1];
	a[1] = &o[2];
	a[2] = &o[3];
	for (int i = 0; i < 3; i++)
		if (a[i]->type != MSGPACK_OBJECT_STR || a[i]->via.str.size == 0 ||
		    a[i]->via.str.size >= CONFIG_ADDR_MAX)
			return false;
	memcpy(m->client, o[1].via.str.ptr, o[1].via.str.size);
	memcpy(m->peer, o[2].via.str.ptr, o[2].via.str.size);
	memcpy(m->status, o[3].via.str.ptr, o[3].via.str.size);
	return true;
}

static void
replica_apply_member(struct replica *r, const msgpack_object *o, uint32_t n, uint64_t slot)
{
	struct member_addr m;

	if (n != 9 || !replica_member_fields(&o[5], &m)) {
		log_warn("slot %" PRIu64 ": malformed member change skipped", slot);
		return;
	}
	replica_move_member(r, &m);
}

/* A command: [type, stamp_ms, proposer, epoch, seq, body...]. */
static void
replica_apply_cmd(struct replica *r, uint64_t slot, const uint8_t *cmd, size_t len)
{
	msgpack_unpacked u;
	size_t off = 0;
	uint64_t f[5] = {0};
	const msgpack_object *o;
	uint32_t n;

	r->digest = fnv1a(r->digest, cmd, len);
	r->ncommands++;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)cmd, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 5) {
		/* Every replica skips it alike: the digest still covers it. */
		log_warn("slot %" PRIu64 ": undecodable command of %zu bytes skipped", slot, len);
		msgpack_unpacked_destroy(&u);
		return;
	}
	o = u.data.via.array.ptr;
	n = u.data.via.array.size;
	for (int i = 0; i < 5; i++)
		if (o[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			f[i] = o[i].via.u64;
	if (f[1] > r->last_stamp)
		r->last_stamp = f[1];
	switch (f[0]) {
	case CMD_CHECK:
		replica_apply_check(r, o, n, (unsigned)f[2]);
		replica_answer(r, f[2], f[3], f[4], CHUBBY_OK, NULL);
		break;
	case CMD_NS:
		if (n == 6 && o[5].type == MSGPACK_OBJECT_BIN) {
			struct ns_result res;
			const uint8_t *nc = (const uint8_t *)o[5].via.bin.ptr;
			size_t nlen = o[5].via.bin.size;
			int rc;

			ns_result_init(&res);
			rc = ns_apply(r->ns, nc, nlen, &res);
			/* The master's session layer learns what changed (sessions
			 * started or ended, events, locks that may be free now). */
			session_applied(r->d->sessions, nc, nlen, &res);
			replica_answer(r, f[2], f[3], f[4], rc, &res);
			ns_result_free(&res);
		} else {
			log_warn("slot %" PRIu64 ": namespace command without its body skipped", slot);
			replica_answer(r, f[2], f[3], f[4], CHUBBY_E_INTERNAL, NULL);
		}
		break;
	case CMD_MEMBER:
		replica_apply_member(r, o, n, slot);
		replica_answer(r, f[2], f[3], f[4], CHUBBY_OK, NULL);
		break;
	default: /* CMD_NOOP, and types from newer versions (ignored alike everywhere) */
		replica_answer(r, f[2], f[3], f[4], CHUBBY_OK, NULL);
		break;
	}
	msgpack_unpacked_destroy(&u);
}

static void
replica_apply_slot(struct replica *r, uint64_t slot, const struct paxos_buf *batch)
{
	size_t off = 0, len;
	const uint8_t *cmd;
	unsigned every = r->d->cfg->checksum_interval;

	if (slot <= r->applied)
		return; /* covered by the snapshot installed at start */
	while (paxos_batch_next(batch, &off, &cmd, &len))
		replica_apply_cmd(r, slot, cmd, len);
	r->applied = slot;
	r->last_progress_ms = clock_mono_ms();
	r->ring_slot[slot % REPLICA_DIGEST_RING] = slot;
	r->ring_digest[slot % REPLICA_DIGEST_RING] = r->digest;
	if (every != 0 && slot % every == 0) {
		r->check_slot = slot;
		r->check_ns_digest = ns_digest(r->ns);
	}
}

/* The members moved through the log, as [[id, client, peer, status]...]. */
static void
replica_pack_moved(const struct replica *r, msgpack_packer *pk)
{
	unsigned n = 0;

	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS; i++)
		n += r->moved[i].id != 0;
	msgpack_pack_array(pk, n);
	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS; i++) {
		if (r->moved[i].id == 0)
			continue;
		msgpack_pack_array(pk, 4);
		msgpack_pack_uint64(pk, r->moved[i].id);
		mp_pack_str(pk, r->moved[i].client);
		mp_pack_str(pk, r->moved[i].peer);
		mp_pack_str(pk, r->moved[i].status);
	}
}

/* Snapshot bytes: [applied, digest, ncommands, last_stamp, namespace, moved] as
 * msgpack, the namespace as ns_snapshot()'s bytes.  The namespace lives in
 * memory; at start the replica installs its latest snapshot and replays
 * the log after it (paxos: durable.applied 0). */
static void
replica_take_snapshot(struct replica *r, uint64_t index)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct paxos_event ev = {.type = PAXOS_EV_SNAPSHOT_TAKEN};
	uint8_t *nsb = NULL;
	size_t nslen = 0;

	if (ns_snapshot(r->ns, &nsb, &nslen) != CHUBBY_OK) {
		log_error("cannot serialise the namespace for a snapshot at slot %" PRIu64, index);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 6);
	msgpack_pack_uint64(&pk, r->applied);
	msgpack_pack_uint64(&pk, r->digest);
	msgpack_pack_uint64(&pk, r->ncommands);
	msgpack_pack_uint64(&pk, r->last_stamp);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	replica_pack_moved(r, &pk);
	free(nsb);
	ev.index = index;
	ev.data = sb.data;
	ev.len = sb.size;
	log_info("snapshot at slot %" PRIu64 ": %zu bytes, %zu nodes, %zu sessions", index, sb.size,
	    ns_node_count(r->ns), ns_session_count(r->ns));
	replica_step(r, &ev);
	msgpack_sbuffer_destroy(&sb);
}

static void
replica_install_snapshot(struct replica *r, uint64_t index, const struct paxos_buf *snap)
{
	msgpack_unpacked u;
	size_t off = 0;
	char err[256];
	const msgpack_object *o;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)snap->data, snap->len, &off) !=
		MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_ARRAY ||
	    (u.data.via.array.size != 5 && u.data.via.array.size != 6) ||
	    u.data.via.array.ptr[4].type != MSGPACK_OBJECT_BIN) {
		/* Every replica made it alike; a bad one means a bug or a damaged
		 * store, and serving from a wrong state is worse than stopping. */
		log_error("snapshot for slot %" PRIu64 " is malformed; this replica stops serving",
		    index);
		r->diverged = 1;
		msgpack_unpacked_destroy(&u);
		return;
	}
	o = u.data.via.array.ptr;
	if (ns_restore(r->ns, (const uint8_t *)o[4].via.bin.ptr, o[4].via.bin.size, err,
		sizeof err) != CHUBBY_OK) {
		log_error("snapshot for slot %" PRIu64 ": namespace refused: %s; this replica stops "
			  "serving",
		    index, err);
		r->diverged = 1;
		msgpack_unpacked_destroy(&u);
		return;
	}
	r->digest = o[1].via.u64;
	r->ncommands = o[2].via.u64;
	r->last_stamp = o[3].via.u64;
	/* Members moved through the log (a backup restored into a new cell
	 * has none: its members are the new config's). */
	if (u.data.via.array.size == 6 && o[5].type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o[5].via.array.size; i++) {
			const msgpack_object *e = &o[5].via.array.ptr[i];
			struct member_addr m;
			if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 4 &&
			    replica_member_fields(e->via.array.ptr, &m))
				replica_move_member(r, &m);
		}
	}
	if (o[0].via.u64 != index)
		log_warn("snapshot for slot %" PRIu64 " says applied %" PRIu64, index, o[0].via.u64);
	r->applied = index;
	log_info("installed a snapshot covering slots up to %" PRIu64 " (%zu nodes, %zu sessions)",
	    index, ns_node_count(r->ns), ns_session_count(r->ns));
	msgpack_unpacked_destroy(&u);
	/* A new state: the session layer rebuilds from it if it is master. */
	session_state_replaced(r->d->sessions);
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
	if (r->role == PAXOS_MASTER && (role != PAXOS_MASTER || epoch != r->epoch))
		replica_fail_pending(r, CHUBBY_E_NOT_MASTER);
	r->role = role;
	r->epoch = epoch;
	r->master = master;
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
		case PAXOS_ACT_APPLY:
			replica_apply_slot(r, a->index, &a->value);
			break;
		case PAXOS_ACT_ROLE:
			replica_role(r, a->role, a->epoch, a->master);
			break;
		case PAXOS_ACT_TAKE_SNAPSHOT:
			replica_take_snapshot(r, a->index);
			break;
		case PAXOS_ACT_INSTALL_SNAPSHOT:
			replica_install_snapshot(r, a->index, &a->value);
			break;
		}
	}
	paxos_actions_clear(&r->acts);
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
}

/* Proposes one command [type, stamp, us, epoch, seq, extra... | body] as
 * master: EXTRA unsigned fields, or BODY as one bin field. */
static int
replica_propose_raw(struct replica *r, uint64_t type, uint64_t seq, const uint64_t *extra,
    unsigned nextra, const uint8_t *body, size_t bodylen, const void *raw, size_t rawlen,
    unsigned nraw);

static int
replica_propose(struct replica *r, uint64_t type, uint64_t seq, const uint64_t *extra,
    unsigned nextra, const uint8_t *body, size_t bodylen)
{
	return replica_propose_raw(r, type, seq, extra, nextra, body, bodylen, NULL, 0, 0);
}

/* The same, with NRAW more elements already packed in RAW at the end. */
static int
replica_propose_raw(struct replica *r, uint64_t type, uint64_t seq, const uint64_t *extra,
    unsigned nextra, const uint8_t *body, size_t bodylen, const void *raw, size_t rawlen,
    unsigned nraw)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct paxos_event ev = {.type = PAXOS_EV_PROPOSE};
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 5 + nextra + (body != NULL) + nraw);
	msgpack_pack_uint64(&pk, type);
	/* The master's clock, stamped into the entry: replicas never read
	 * their own clock while applying. */
	msgpack_pack_uint64(&pk, clock_real_ms());
	msgpack_pack_uint64(&pk, r->d->id);
	msgpack_pack_uint64(&pk, r->epoch);
	msgpack_pack_uint64(&pk, seq);
	for (unsigned i = 0; i < nextra; i++)
		msgpack_pack_uint64(&pk, extra[i]);
	if (body != NULL) {
		msgpack_pack_bin(&pk, bodylen);
		msgpack_pack_bin_body(&pk, body, bodylen);
	}
	if (rawlen > 0)
		msgpack_sbuffer_write(&sb, raw, rawlen);
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
	}
	return rc;
}

/* An idle master commits a no-op once a lease period: a replica rejoining
 * after losing its data votes again only once it has seen an instance
 * complete (Paxos Made Live §5.1), and an idle cell would otherwise never
 * give it one. */
static void
replica_maybe_noop(struct replica *r)
{
	uint64_t now = clock_mono_ms();

	if (now - r->last_progress_ms < r->d->cfg->master_lease_ms || !replica_is_master(r))
		return;
	r->last_progress_ms = now;
	replica_propose(r, CMD_NOOP, 0, NULL, 0, NULL, 0);
}

/* The master proposes a consistency check after each checksum_interval
 * slots: the log digest and the namespace digest at the last multiple. */
static void
replica_maybe_check(struct replica *r)
{
	unsigned every = r->d->cfg->checksum_interval;
	uint64_t at, extra[3];

	if (every == 0 || !replica_is_master(r))
		return;
	at = r->applied - r->applied % every;
	if (at == 0 || at <= r->last_check_slot || r->check_slot != at)
		return;
	r->last_check_slot = at;
	extra[0] = at;
	extra[1] = r->ring_digest[at % REPLICA_DIGEST_RING];
	extra[2] = r->check_ns_digest;
	replica_propose(r, CMD_CHECK, 0, extra, 3, NULL, 0);
}

static void
replica_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_TICK};

	(void)fd;
	(void)what;
	replica_step(r, &ev);
	replica_maybe_check(r);
	replica_maybe_noop(r);
	session_tick(r->d->sessions);
	if (!r->replaced_logged && replica_replaced(r) && r->applied == paxos_chosen_index(r->px)) {
		/* Our id was moved to another machine through the log: the peers
		 * refuse our links now (peer_source_ok); say so loudly. */
		r->replaced_logged = 1;
		log_error("REPLACED: the log moved replica %u to peer address %s (we are %s); this "
			  "process is no longer a member: stop it",
		    r->d->id, r->d->self->peer_addr, r->self_at_start.peer_addr);
	}
}

static void
replica_deliver(const struct paxos_msg *m, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_RECEIVE, .msg = m};

	replica_step(r, &ev);
}

/* --- proposals ---------------------------------------------------------------- */

/* Queues a waiter for command SEQ and proposes it. */
static int
replica_submit_cmd_raw(struct replica *r, uint64_t type, const uint8_t *body, size_t len,
    const void *raw, size_t rawlen, unsigned nraw, replica_done_fn done, void *arg);

static int
replica_submit_cmd(struct replica *r, uint64_t type, const uint8_t *body, size_t len,
    replica_done_fn done, void *arg)
{
	return replica_submit_cmd_raw(r, type, body, len, NULL, 0, 0, done, arg);
}

static int
replica_submit_cmd_raw(struct replica *r, uint64_t type, const uint8_t *body, size_t len,
    const void *raw, size_t rawlen, unsigned nraw, replica_done_fn done, void *arg)
{
	struct pending *p;
	int rc;

	if (r->diverged)
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	p = xcalloc(1, sizeof *p);
	p->seq = ++r->next_seq;
	p->t0 = clock_mono_ms();
	p->done = done;
	p->arg = arg;
	/* Queue the waiter first: the command may apply within this step (a
	 * one-replica cell chooses at once). */
	p->next = r->pending;
	r->pending = p;
	rc = replica_propose_raw(r, type, p->seq, NULL, 0, body, len, raw, rawlen, nraw);
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
	return replica_submit_cmd(r, CMD_NOOP, NULL, 0, done, arg);
}

int
replica_submit(struct replica *r, const uint8_t *cmd, size_t len, replica_done_fn done, void *arg)
{
	return replica_submit_cmd(r, CMD_NS, cmd, len, done, arg);
}

const struct ns *
replica_ns(const struct replica *r)
{
	return r->ns;
}

int
replica_move(struct replica *r, unsigned id, const char *client, const char *peer,
    const char *status, replica_done_fn done, void *arg)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_uint64(&pk, id);
	mp_pack_str(&pk, client);
	mp_pack_str(&pk, peer);
	mp_pack_str(&pk, status);
	rc = replica_submit_cmd_raw(r, CMD_MEMBER, NULL, 0, sb.data, sb.size, 4, done, arg);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

bool
replica_replaced(const struct replica *r)
{
	const struct cell_replica *now = r->d->self;

	return strcmp(now->peer_addr, r->self_at_start.peer_addr) != 0 ||
	    strcmp(now->client_addr, r->self_at_start.client_addr) != 0;
}

bool
replica_is_master(const struct replica *r)
{
	return !r->diverged && !replica_replaced(r) &&
	    paxos_is_master_with_lease(r->px, clock_mono_ms());
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
	if (r->diverged)
		return "diverged";
	if (replica_replaced(r))
		return "replaced";
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
	out->diverged = r->diverged;
	out->voter = paxos_is_voter(r->px);
	out->role = replica_role_name(r);
	out->epoch = r->epoch;
	out->promised = paxos_promised(r->px);
	out->master = r->master;
	out->committed = paxos_chosen_index(r->px);
	out->applied = r->applied;
	out->lease_ms = lease > now ? lease - now : 0;
	out->digest = r->digest;
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
	memcpy(out->commit_hist, r->commit_hist, sizeof out->commit_hist);
	out->commit_sum_ms = r->commit_sum_ms;
	out->commit_count = r->commit_count;
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
	}
	return rc;
}

unsigned
replica_status_pack(const struct replica *r, msgpack_packer *pk)
{
	uint64_t now = clock_mono_ms(), lease = paxos_lease_expiry(r->px);
	const char *role = replica_role_name(r);

	if (pk == NULL)
		return 11;
	mp_pack_kv_str(pk, "role", role);
	mp_pack_kv_uint(pk, "epoch", r->epoch);
	/* The ballot this replica promised: rises only with real elections
	 * (a pre-vote raises nothing), so operators and tests can see a
	 * replica's ballots stay put. */
	mp_pack_kv_uint(pk, "promised", paxos_promised(r->px));
	mp_pack_kv_uint(pk, "master", r->master);
	mp_pack_kv_uint(pk, "committed", paxos_chosen_index(r->px));
	mp_pack_kv_uint(pk, "applied", r->applied);
	mp_pack_kv_uint(pk, "lease_ms", lease > now ? lease - now : 0);
	mp_pack_kv_bool(pk, "voter", paxos_is_voter(r->px));
	mp_pack_kv_uint(pk, "digest", r->digest);
	/* The applied namespace hashed now, not carried: "digest" chains the
	 * commands applied, and a replica that installed a snapshot took the
	 * chain's value from it, so equal chains alone cannot show that its
	 * state is equal.  Costs a walk of the namespace per STATUS. */
	mp_pack_kv_uint(pk, "state_digest", ns_digest(r->ns));
	mp_pack_kv_uint(pk, "checks", r->checks_passed);
	return 11;
}

/* --- set-up ------------------------------------------------------------------ */

static void
replica_paxos_config(const struct chubbyd *d, struct paxos_config *pc)
{
	const struct cell_config *c = d->cfg;

	paxos_config_defaults(pc);
	pc->id = d->id;
	pc->nmembers = c->nreplicas;
	for (unsigned i = 0; i < c->nreplicas; i++)
		pc->members[i] = c->replicas[i].id;
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
replica_open_store(struct replica *r, bool init, struct paxos_durable *dur, bool *state_lost,
    char *err, size_t errlen)
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
		if ((rc = store_init(r->st, d->cfg->cell, d->id, voter, err, errlen)) != CHUBBY_OK)
			return rc;
		*state_lost = !voter;
		if (*state_lost)
			log_warn("the store in %s is empty: rejoining as a non-voting member until "
				 "caught up (start a brand-new cell's replicas with --init)",
			    d->data_dir);
		else
			log_info("initialized a new store in %s", d->data_dir);
		rc = store_load_paxos(r->st, dur, err, errlen);
	}
	return rc;
}

struct replica *
replica_new(struct chubbyd *d, bool init, char *err, size_t errlen)
{
	struct replica *r = xcalloc(1, sizeof *r);
	struct paxos_config pc;
	struct paxos_durable dur;
	struct paxos_event ev = {.type = PAXOS_EV_START};
	struct timeval tv = {0, REPLICA_TICK_MS * 1000};
	bool state_lost = false;

	r->d = d;
	r->wr_pipe[0] = r->wr_pipe[1] = -1;
	r->self_at_start = *d->self;
	paxos_actions_init(&r->acts);
	memset(&dur, 0, sizeof dur);
	if (replica_open_store(r, init, &dur, &state_lost, err, errlen) != CHUBBY_OK)
		goto fail;
	replica_paxos_config(d, &pc);
	r->px = paxos_new(&pc);
	if (r->px == NULL) {
		snprintf(err, errlen, "the replication settings are inconsistent");
		goto fail;
	}
	r->net = peer_net_new(d, replica_deliver, r, err, errlen);
	if (r->net == NULL)
		goto fail;
	if ((r->ns = replica_ns_new(d, err, errlen)) == NULL)
		goto fail;
	r->digest = REPLICA_DIGEST_INIT;
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
	r->tick_ev = event_new(d->base, -1, EV_PERSIST, replica_tick_cb, r);
	event_add(r->tick_ev, &tv);
	log_info("replica started: applied %" PRIu64 ", promised %" PRIu64 "%s", r->applied,
	    paxos_promised(r->px), paxos_is_voter(r->px) ? "" : ", not voting yet");
	return r;
fail:
	store_paxos_durable_free(&dur);
	replica_free(r);
	return NULL;
}

void
replica_free(struct replica *r)
{
	if (r == NULL)
		return;
	replica_fail_pending(r, CHUBBY_E_UNAVAILABLE);
	if (r->tick_ev != NULL)
		event_free(r->tick_ev);
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
	ns_free(r->ns);
	paxos_actions_free(&r->acts);
	if (r->st != NULL)
		store_close(r->st);
	free(r);
}

/* --- backup and restore ------------------------------------------------------ */

int
replica_backup(struct replica *r, uint8_t **out, size_t *len, uint64_t *index)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t *nsb = NULL;
	size_t nslen = 0;
	int rc;

	if (r->diverged)
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	/* The loop is single-threaded: nothing applies between here and the
	 * end of the packing, so the state is the one at r->applied. */
	if ((rc = ns_snapshot(r->ns, &nsb, &nslen)) != CHUBBY_OK)
		return rc;
	/* The format of replica_take_snapshot(), so a restore installs it as is. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint64(&pk, r->applied);
	msgpack_pack_uint64(&pk, r->digest);
	msgpack_pack_uint64(&pk, r->ncommands);
	msgpack_pack_uint64(&pk, r->last_stamp);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	free(nsb);
	*len = sb.size;
	*index = r->applied;
	*out = (uint8_t *)msgpack_sbuffer_release(&sb);
	log_info("backup at slot %" PRIu64 ": %zu bytes, %zu nodes, %zu sessions", *index, *len,
	    ns_node_count(r->ns), ns_session_count(r->ns));
	return CHUBBY_OK;
}

int
replica_check_snapshot(const struct chubbyd *d, const uint8_t *snap, size_t len, uint64_t index,
    char *err, size_t errlen)
{
	msgpack_unpacked u;
	size_t off = 0;
	const msgpack_object *o;
	struct ns *ns;
	char nerr[256];
	int rc = CHUBBY_E_CORRUPT;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)snap, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size != 5) {
		snprintf(err, errlen, "the state is not a replica snapshot");
		goto out;
	}
	o = u.data.via.array.ptr;
	for (int i = 0; i < 4; i++)
		if (o[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			snprintf(err, errlen, "the state's field %d is not a number", i);
			goto out;
		}
	if (o[4].type != MSGPACK_OBJECT_BIN) {
		snprintf(err, errlen, "the state holds no namespace");
		goto out;
	}
	if (o[0].via.u64 != index || index == 0) {
		snprintf(err, errlen, "the state covers slot %" PRIu64 " but the header says %" PRIu64,
		    o[0].via.u64, index);
		goto out;
	}
	if ((ns = replica_ns_new(d, err, errlen)) == NULL) {
		rc = CHUBBY_E_CONFIG;
		goto out;
	}
	rc = ns_restore(ns, (const uint8_t *)o[4].via.bin.ptr, o[4].via.bin.size, nerr, sizeof nerr);
	if (rc != CHUBBY_OK)
		snprintf(err, errlen, "the namespace does not load: %s", nerr);
	ns_free(ns);
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}
