/* replica.c: the Paxos shell: clock ticks, store, peer links and the applied state. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "mp.h"
#include "paxos/paxos.h"
#include "peer/peer.h"
#include "replica.h"
#include "store/store.h"
#include "xmalloc.h"

/* The core wants time to pass in small steps: a tick is cheap when idle. */
#define REPLICA_TICK_MS 10
/* Digests of recent slots kept for the consistency check (Paxos Made Live §5.3). */
#define REPLICA_DIGEST_RING 4096

enum cmd_type {
	CMD_NOOP = 1,  /* a barrier: proves the log moves (replica_sync) */
	CMD_CHECK = 2, /* [at_slot, digest]: every replica compares its digest at at_slot */
};

struct pending {
	uint64_t seq;
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
	struct paxos_actions acts;
	int stepping; /* inside replica_step: nested steps append to acts */

	enum paxos_role role;
	paxos_ballot epoch;
	unsigned master;

	/* The applied state (until the namespace arrives, a digest of the log). */
	uint64_t applied;    /* last slot applied */
	uint64_t digest;     /* FNV-1a chain over every applied command */
	uint64_t ncommands;  /* commands applied */
	uint64_t last_stamp; /* the latest master time stamped into an entry */
	uint64_t ring_slot[REPLICA_DIGEST_RING];
	uint64_t ring_digest[REPLICA_DIGEST_RING];
	int diverged;
	uint64_t last_check_slot;
	uint64_t last_progress_ms; /* monotonic time the applied index last moved */

	/* Commands this replica proposed as master, by sequence number. */
	uint64_t next_seq;
	struct pending *pending;
};

static void replica_step(struct replica *r, struct paxos_event *ev);

/* --- the applied state ---------------------------------------------------- */

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

/* A command: [type, stamp_ms, proposer, epoch, seq, body...]. */
static void
replica_apply_cmd(struct replica *r, uint64_t slot, const uint8_t *cmd, size_t len)
{
	msgpack_unpacked u;
	size_t off = 0;
	uint64_t f[5] = {0};

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
	for (int i = 0; i < 5; i++)
		if (u.data.via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			f[i] = u.data.via.array.ptr[i].via.u64;
	if (f[1] > r->last_stamp)
		r->last_stamp = f[1];
	if (f[0] == CMD_CHECK && u.data.via.array.size >= 7) {
		const msgpack_object *o = u.data.via.array.ptr;
		uint64_t at = o[5].via.u64, want = o[6].via.u64, idx = at % REPLICA_DIGEST_RING;
		if (r->ring_slot[idx] == at && r->ring_digest[idx] != want) {
			/* Paxos Made Live §5.3: a replica whose state differs from the
			 * master's must not serve: its data is wrong. */
			log_error("CONSISTENCY CHECK FAILED at slot %" PRIu64 ": our digest %016" PRIx64
				  ", master %u says %016" PRIx64 "; this replica stops serving",
			    at, r->ring_digest[idx], (unsigned)f[2], want);
			r->diverged = 1;
		} else if (r->ring_slot[idx] == at) {
			log_debug("consistency check at slot %" PRIu64 ": ok", at);
		}
	}
	/* Answer the client if we proposed it in this epoch. */
	if (f[2] == r->d->id && f[3] == r->epoch) {
		for (struct pending **pp = &r->pending; *pp != NULL; pp = &(*pp)->next) {
			if ((*pp)->seq == f[4]) {
				struct pending *p = *pp;
				*pp = p->next;
				p->done(CHUBBY_OK, NULL, 0, p->arg);
				free(p);
				break;
			}
		}
	}
	msgpack_unpacked_destroy(&u);
}

static void
replica_save_applied(struct replica *r)
{
	struct store_batch *b = store_batch_new();
	uint8_t v[24];
	char err[256];

	for (int i = 0; i < 8; i++) {
		v[i] = (uint8_t)(r->digest >> (8 * i));
		v[8 + i] = (uint8_t)(r->ncommands >> (8 * i));
		v[16 + i] = (uint8_t)(r->last_stamp >> (8 * i));
	}
	store_sm_put(b, "digest", 6, v, sizeof v);
	/* Not synced: a crash replays the log from the last applied index the
	 * store holds, and the log itself is synced. */
	if (store_sm_commit(r->st, b, r->applied, false, err, sizeof err) != CHUBBY_OK)
		log_error("store: cannot record applied state: %s", err);
	store_batch_free(b);
}

static void
replica_load_applied(struct replica *r)
{
	void *v = NULL;
	size_t vlen = 0;
	char err[256];

	r->applied = store_sm_applied(r->st);
	if (store_sm_get(r->st, "digest", 6, &v, &vlen, err, sizeof err) == CHUBBY_OK &&
	    vlen == 24) {
		const uint8_t *b = v;
		for (int i = 0; i < 8; i++) {
			r->digest |= (uint64_t)b[i] << (8 * i);
			r->ncommands |= (uint64_t)b[8 + i] << (8 * i);
			r->last_stamp |= (uint64_t)b[16 + i] << (8 * i);
		}
	} else {
		r->digest = 1469598103934665603ull;
	}
	free(v);
}

static void
replica_apply_slot(struct replica *r, uint64_t slot, const struct paxos_buf *batch)
{
	size_t off = 0, len;
	const uint8_t *cmd;

	if (slot <= r->applied)
		return; /* already in the stored state (replayed after a restart) */
	while (paxos_batch_next(batch, &off, &cmd, &len))
		replica_apply_cmd(r, slot, cmd, len);
	r->applied = slot;
	r->last_progress_ms = clock_mono_ms();
	r->ring_slot[slot % REPLICA_DIGEST_RING] = slot;
	r->ring_digest[slot % REPLICA_DIGEST_RING] = r->digest;
	replica_save_applied(r);
}

/* Snapshot bytes: [applied, digest, ncommands, last_stamp] as msgpack. */
static void
replica_take_snapshot(struct replica *r, uint64_t index)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct paxos_event ev = {.type = PAXOS_EV_SNAPSHOT_TAKEN};

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint64(&pk, r->applied);
	msgpack_pack_uint64(&pk, r->digest);
	msgpack_pack_uint64(&pk, r->ncommands);
	msgpack_pack_uint64(&pk, r->last_stamp);
	ev.index = index;
	ev.data = sb.data;
	ev.len = sb.size;
	replica_step(r, &ev);
	msgpack_sbuffer_destroy(&sb);
}

static void
replica_install_snapshot(struct replica *r, uint64_t index, const struct paxos_buf *snap)
{
	msgpack_unpacked u;
	size_t off = 0;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)snap->data, snap->len, &off) ==
		MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 4) {
		r->applied = u.data.via.array.ptr[0].via.u64;
		r->digest = u.data.via.array.ptr[1].via.u64;
		r->ncommands = u.data.via.array.ptr[2].via.u64;
		r->last_stamp = u.data.via.array.ptr[3].via.u64;
		if (r->applied != index)
			log_warn("snapshot for slot %" PRIu64 " says applied %" PRIu64, index,
			    r->applied);
		r->applied = index;
		replica_save_applied(r);
		log_info("installed a snapshot covering slots up to %" PRIu64, index);
	} else {
		log_error("snapshot for slot %" PRIu64 " is malformed; ignored", index);
	}
	msgpack_unpacked_destroy(&u);
}

/* --- actions ---------------------------------------------------------------- */

static void
replica_fail_pending(struct replica *r, int status)
{
	while (r->pending != NULL) {
		struct pending *p = r->pending;
		r->pending = p->next;
		p->done(status, NULL, 0, p->arg);
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

/* Carries out the queued actions in order.  A PERSIST is synced before the
 * next action runs, so a SEND after it never outruns the disk; its PERSISTED
 * event is fed at once and may queue more actions behind the current ones. */
static void
replica_run_actions(struct replica *r)
{
	char err[512];

	for (size_t i = 0; i < r->acts.n; i++) {
		struct paxos_action *a = &r->acts.v[i];
		struct paxos_event ev = {0};

		switch (a->type) {
		case PAXOS_ACT_SEND:
			peer_send(r->net, &a->msg);
			break;
		case PAXOS_ACT_PERSIST:
			if (store_persist(r->st, &a->persist, err, sizeof err) != CHUBBY_OK) {
				/* A replica that cannot keep its promises must not make more. */
				log_error("store: %s; stopping", err);
				event_base_loopexit(r->d->base, NULL);
				return;
			}
			ev.type = PAXOS_EV_PERSISTED;
			ev.token = a->persist.token;
			replica_step(r, &ev);
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

/* Proposes one command [type, stamp, us, epoch, seq, extra...] as master. */
static int
replica_propose(struct replica *r, uint64_t type, uint64_t seq, const uint64_t *extra,
    unsigned nextra)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct paxos_event ev = {.type = PAXOS_EV_PROPOSE};
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 5 + nextra);
	msgpack_pack_uint64(&pk, type);
	/* The master's clock, stamped into the entry: replicas never read
	 * their own clock while applying. */
	msgpack_pack_uint64(&pk, clock_real_ms());
	msgpack_pack_uint64(&pk, r->d->id);
	msgpack_pack_uint64(&pk, r->epoch);
	msgpack_pack_uint64(&pk, seq);
	for (unsigned i = 0; i < nextra; i++)
		msgpack_pack_uint64(&pk, extra[i]);
	ev.data = sb.data;
	ev.len = sb.size;
	ev.now = clock_mono_ms();
	rc = paxos_step(r->px, &ev, &r->acts);
	msgpack_sbuffer_destroy(&sb);
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
	replica_propose(r, CMD_NOOP, 0, NULL, 0);
}

/* The master proposes a consistency check every checksum_interval slots. */
static void
replica_maybe_check(struct replica *r)
{
	unsigned every = r->d->cfg->checksum_interval;
	uint64_t at = r->applied, extra[2];

	if (every == 0 || at < r->last_check_slot + every || !replica_is_master(r))
		return;
	r->last_check_slot = at;
	extra[0] = at;
	extra[1] = r->ring_digest[at % REPLICA_DIGEST_RING];
	replica_propose(r, CMD_CHECK, 0, extra, 2);
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
}

static void
replica_deliver(const struct paxos_msg *m, void *arg)
{
	struct replica *r = arg;
	struct paxos_event ev = {.type = PAXOS_EV_RECEIVE, .msg = m};

	replica_step(r, &ev);
}

/* --- proposals ---------------------------------------------------------------- */

int
replica_sync(struct replica *r, replica_done_fn done, void *arg)
{
	struct pending *p;
	int rc;

	if (r->diverged)
		return CHUBBY_E_CORRUPT;
	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	p = xcalloc(1, sizeof *p);
	p->seq = ++r->next_seq;
	p->done = done;
	p->arg = arg;
	/* Queue the waiter first: the command may apply within this step (a
	 * one-replica cell chooses at once). */
	p->next = r->pending;
	r->pending = p;
	rc = replica_propose(r, CMD_NOOP, p->seq, NULL, 0);
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

bool
replica_is_master(const struct replica *r)
{
	return !r->diverged && paxos_is_master_with_lease(r->px, clock_mono_ms());
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
}

unsigned
replica_status_pack(const struct replica *r, msgpack_packer *pk)
{
	uint64_t now = clock_mono_ms(), lease = paxos_lease_expiry(r->px);
	const char *role = replica_role_name(r);

	if (pk == NULL)
		return 8;
	mp_pack_kv_str(pk, "role", role);
	mp_pack_kv_uint(pk, "epoch", r->epoch);
	mp_pack_kv_uint(pk, "master", r->master);
	mp_pack_kv_uint(pk, "committed", paxos_chosen_index(r->px));
	mp_pack_kv_uint(pk, "applied", r->applied);
	mp_pack_kv_uint(pk, "lease_ms", lease > now ? lease - now : 0);
	mp_pack_kv_bool(pk, "voter", paxos_is_voter(r->px));
	mp_pack_kv_uint(pk, "digest", r->digest);
	return 8;
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
	pc->election_min_ms = c->election_timeout_ms;
	pc->election_max_ms = 2 * c->election_timeout_ms;
	pc->batch_max_count = c->batch_max;
	pc->pipeline_max = c->pipeline_max;
	pc->batch_max_bytes = (size_t)(c->max_frame / 2);
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
	replica_load_applied(r);
	r->last_progress_ms = clock_mono_ms();
	dur.applied = r->applied;
	ev.durable = &dur;
	ev.state_lost = state_lost;
	replica_step(r, &ev);
	store_paxos_durable_free(&dur);
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
	peer_net_free(r->net);
	paxos_free(r->px);
	paxos_actions_free(&r->acts);
	if (r->st != NULL)
		store_close(r->st);
	free(r);
}
