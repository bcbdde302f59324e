/*
 * paxos.c: the Multi-Paxos core with master leases, pipelining, catch-up,
 * snapshots and non-voting rejoin.  Pure: events in, actions out.
 *
 * One replica plays all three Paxos roles (Paxos Made Simple §2.1); the
 * proposer with a winning Phase 1 is the master (Paxos Made Live §3,
 * Chubby §2.2).  Messages to itself go through the same outbox as messages
 * to peers, so the master's own promise and acceptance are durable before
 * it counts them, exactly like a peer's.
 */
#include "config.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "paxos.h"
#include "simknob.h"

/* Lease requests whose answers still count. */
#define PAXOS_HB_WINDOW 64
/* How far past its chosen index a replica lets its log grow for one message. */
#define PAXOS_WINDOW_MAX 65536

/* A set of replica ids, 1..255: who promised, accepted, granted. */
struct paxos_idset {
	uint64_t w[4];
};

/* A configuration chosen at `slot` (in effect for the slots after it). */
struct paxos_confrec {
	uint64_t slot;
	struct paxos_conf c;
};

struct paxos_slot {
	/* Acceptor. */
	bool has_acc;
	bool chosen;
	paxos_ballot acc_ballot;
	struct paxos_buf acc_value;
	/* Proposer in Phase 1: highest-ballot value the promises reported (0: none). */
	paxos_ballot p1_ballot;
	struct paxos_buf p1_value;
	/* Master in Phase 2: what it proposed, who accepted it, when it was sent. */
	paxos_ballot prop_ballot;
	struct paxos_buf prop_value;
	struct paxos_idset acks;
	uint64_t sent_at;
};

/* A message held until the durable write it depends on is synced. */
struct paxos_out {
	uint64_t wait; /* release once token_done >= wait */
	struct paxos_msg msg;
};

struct paxos {
	struct paxos_config cfg;
	bool started;
	uint64_t now;
	uint64_t rng;

	/* Durable, mirrored here as soon as it is asked to be written. */
	paxos_ballot promised;
	bool voter;
	uint64_t snap_index;
	struct paxos_buf snap;
	/* A snapshot being received in chunks: for index rx_index, rx_total
	 * bytes, rx.len of them so far (0 index: none), from replica rx_from,
	 * last heard at rx_heard. */
	uint64_t rx_index, rx_total;
	struct paxos_buf rx;
	unsigned rx_from;
	uint64_t rx_heard;

	/* The log: slots base .. base + nlog - 1; slots < base are truncated. */
	uint64_t base;
	struct paxos_slot *log;
	size_t nlog;
	size_t caplog;
	uint64_t chosen;  /* every slot <= chosen is chosen and known here */
	uint64_t applied; /* every slot <= applied has gone out as APPLY */
	uint64_t snap_asked;

	/* Membership (docs/PAXOS.md "Membership"): conf is the configuration
	 * after the chosen prefix; snap_conf the one after snap_index, and
	 * hist the changes chosen since (for the next snapshot).  conf_known
	 * is false while a joining replica has not learnt it yet. */
	struct paxos_conf conf;
	bool conf_known;
	bool state_lost; /* its store was lost and it has not rejoined: the
			  * configuration it holds may be slot 1's */
	struct paxos_conf snap_conf;
	struct paxos_confrec *hist;
	size_t nhist;

	/* Acceptor side of leases. */
	paxos_ballot lease_holder;
	uint64_t lease_until; /* promise nobody but lease_holder before this */
	uint64_t quiet_until; /* after a restart: promise nobody before this */

	/* Whom we follow. */
	enum paxos_role role;
	paxos_ballot master_ballot;
	unsigned master_id;
	paxos_ballot max_seen;
	uint64_t election_at;
	uint64_t catchup_at;

	/* Pre-vote: attempt pv_seq asks whether a majority would promise
	 * pv_ballot; pv_votes is who said yes to it in attempts pv_seq_from
	 * to pv_seq (a round trip longer than the election wait answers
	 * an earlier attempt: test_distance.sh's 200 ms). */
	paxos_ballot pv_ballot;
	uint64_t pv_seq, pv_seq_from;
	struct paxos_idset pv_votes;
	/* A hand-off's target (TIMEOUT_NOW) campaigns as soon as it may until
	 * this time (the other followers push election_at back instead). */
	uint64_t timeout_now_until;
	/* The ballot whose PREPARE we promised last (or our own campaign's),
	 * and until when we pre-vote for no other proposer: its fair chance
	 * to finish Phase 1 (paxos_on_pre_prepare). */
	paxos_ballot backed;
	uint64_t backed_until;

	/* Proposer. */
	paxos_ballot ballot;
	struct paxos_idset promises;
	/* Phase 1 must win a majority of every configuration its slots may be
	 * chosen in: p1_conf (of slot p1_from) and each one the promises
	 * report after it; p1_ids is who was asked. */
	struct paxos_conf p1_conf;
	struct paxos_idset p1_ids;
	uint64_t p1_from;
	uint64_t p1_max;
	uint64_t p1_deadline;
	uint64_t p1_span;  /* how long Phase 1 may run without news */
	uint64_t p1_token; /* the write of our own promise (0: synced) */
	uint64_t p1_resend_at;
	uint64_t next_slot;
	uint64_t noop_slot;
	uint64_t repro; /* next slot to re-propose after Phase 1 */
	/* A configuration value proposed and not yet in the chosen prefix: no
	 * later slot is proposed until it is (pend_slot 0: none). */
	uint64_t pend_slot;
	struct paxos_conf pend_conf;
	/* When conf took effect here (or the term began), and the send time of
	 * the lease request that gave lease_expiry: a change is proposed only
	 * under a lease granted by the current configuration. */
	uint64_t conf_at;
	uint64_t lease_sent;
	uint64_t lease_expiry;
	/* Check-quorum: send time of the latest lease request a majority
	 * answered (or when we became master), and the lease requests sent
	 * since (a paused master sends none while it is stopped). */
	uint64_t quorum_at;
	uint64_t hb_unanswered;
	/* Each member's chosen index as its last lease grant said (hand-off
	 * picks and waits for a follower that is caught up). */
	uint64_t peer_chosen[256];
	/* When each member's last lease grant came (0: none this term). */
	uint64_t peer_heard[256];
	/* Hand-off: to ho_target (0: none); ho_stopped once it stopped
	 * renewing its lease; ho_deadline for the target to catch up. */
	unsigned ho_target;
	bool ho_stopped;
	uint64_t ho_deadline;
	uint64_t ho_sent_at;
	uint64_t hb_seq;
	uint64_t hb_sent[PAXOS_HB_WINDOW];
	struct paxos_idset hb_acks[PAXOS_HB_WINDOW];
	uint64_t hb_at;
	struct paxos_buf *queue;
	size_t nqueue;
	size_t capqueue;

	/* Non-voting rejoin. */
	uint64_t rejoin_slot;

	/* Durability ordering: writes of this step, tokens, held messages. */
	struct paxos_persist cur;
	bool dirty;
	uint64_t token_issued;
	uint64_t token_done;
	/* The write that holds our promise and voter flag as they are now (0:
	 * on disk since START): messages that vouch only for those wait for it
	 * alone, not for every write asked for so far (paxos_send_vouched). */
	uint64_t vouch_token;
	struct paxos_out *outbox;
	size_t nout;
	size_t capout;
	struct paxos_actions *out;
};

static void paxos_receive(struct paxos *, const struct paxos_msg *);
static void paxos_advance(struct paxos *);
static void paxos_try_propose(struct paxos *);

void
paxos_config_defaults(struct paxos_config *c)
{
	memset(c, 0, sizeof *c);
	c->lease_ms = 10000;
	c->drift_ppm = 1000;
	c->margin_ms = 50;
	c->heartbeat_ms = 2000;
	c->election_min_ms = 500;
	c->election_max_ms = 3000;
	c->after_lease_max_ms = PAXOS_WAIT_ELECTION;
	c->batch_max_bytes = 256 * 1024;
	c->batch_max_count = 256;
	c->pipeline_max = 16;
	c->queue_max = 10000;
	c->snapshot_every = 10000;
	c->log_keep = 1000;
	c->catchup_max = 64;
	c->snapshot_chunk = 256 * 1024;
}

const char *
paxos_role_name(enum paxos_role r)
{
	switch (r) {
	case PAXOS_FOLLOWER:
		return "follower";
	case PAXOS_CANDIDATE:
		return "candidate";
	case PAXOS_MASTER:
		return "master";
	}
	return "?";
}

/* ---- actions ---------------------------------------------------------- */

void
paxos_actions_init(struct paxos_actions *a)
{
	memset(a, 0, sizeof *a);
}

void
paxos_persist_free(struct paxos_persist *w)
{
	size_t i;

	for (i = 0; i < w->nentries; i++)
		paxos_entry_free(&w->entries[i]);
	free(w->entries);
	paxos_buf_free(&w->snap);
	memset(w, 0, sizeof *w);
}

void
paxos_actions_clear(struct paxos_actions *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		paxos_msg_free(&a->v[i].msg);
		paxos_persist_free(&a->v[i].persist);
		paxos_buf_free(&a->v[i].value);
	}
	a->n = 0;
}

void
paxos_actions_free(struct paxos_actions *a)
{
	paxos_actions_clear(a);
	free(a->v);
	memset(a, 0, sizeof *a);
}

static struct paxos_action *
paxos_emit(struct paxos *p, enum paxos_action_type type)
{
	struct paxos_actions *a = p->out;
	struct paxos_action *act;

	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 16 : a->cap * 2;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	act = &a->v[a->n++];
	memset(act, 0, sizeof *act);
	act->type = type;
	return act;
}

static void
paxos_emit_role(struct paxos *p)
{
	struct paxos_action *act = paxos_emit(p, PAXOS_ACT_ROLE);

	act->role = p->role;
	act->epoch = p->master_ballot;
	act->master = p->master_id;
}

/* ---- small helpers ---------------------------------------------------- */

/* splitmix64: the core's only randomness, seeded by the shell. */
static uint64_t
paxos_random(struct paxos *p)
{
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
paxos_election_wait(struct paxos *p)
{
	uint64_t span = p->cfg.election_max_ms - p->cfg.election_min_ms;

	return p->cfg.election_min_ms + (span == 0 ? 0 : paxos_random(p) % (span + 1));
}

/* The wait after a master's lease granted here has run out. */
static uint64_t
paxos_after_lease_wait(struct paxos *p)
{
	uint64_t max = p->cfg.after_lease_max_ms;

	if (max == PAXOS_WAIT_ELECTION)
		return paxos_election_wait(p);
	return max == 0 ? 0 : paxos_random(p) % (max + 1);
}

static void
paxos_ids_add(struct paxos_idset *s, unsigned id)
{
	s->w[(id & 0xff) >> 6] |= 1ULL << (id & 63);
}

static bool
paxos_ids_has(const struct paxos_idset *s, unsigned id)
{
	return (s->w[(id & 0xff) >> 6] >> (id & 63)) & 1;
}

static void
paxos_ids_add_conf(struct paxos_idset *s, const struct paxos_conf *c)
{
	unsigned i;

	for (i = 0; i < c->nvoters; i++)
		paxos_ids_add(s, c->voters[i]);
	for (i = 0; i < c->nlearners; i++)
		paxos_ids_add(s, c->learners[i]);
}

/* A majority of C's voters is in SET (Paxos Made Simple's "majority of
 * acceptors", of the configuration the slot or lease belongs to). */
static bool
paxos_quorum(const struct paxos_conf *c, const struct paxos_idset *set)
{
	unsigned i, n = 0;

	for (i = 0; i < c->nvoters; i++)
		n += paxos_ids_has(set, c->voters[i]);
	return c->nvoters > 0 && n >= c->nvoters / 2 + 1;
}

static bool
paxos_majority(const struct paxos *p, const struct paxos_idset *set)
{
	return paxos_quorum(&p->conf, set);
}

/* We may campaign and lead: a voter of the configuration we know. */
static bool
paxos_votes(const struct paxos *p)
{
	return p->voter && p->conf_known && paxos_conf_has_voter(&p->conf, p->cfg.id);
}

/* Whom messages "to every member" go to: voters and learners of the
 * configuration (a change in flight is in it once proposed: pend_conf),
 * and whoever Phase 1 asked. */
static struct paxos_idset
paxos_audience(const struct paxos *p)
{
	struct paxos_idset s = p->p1_ids;

	paxos_ids_add_conf(&s, &p->conf);
	paxos_ids_add_conf(&s, &p->pend_conf);
	paxos_ids_add(&s, p->cfg.id);
	return s;
}

/*
 * What the master takes off the lease it counts (Paxos Made Live §5.2,
 * Chubby §2.9).  An acceptor refuses other proposers for lease_ms of its own
 * clock from when it received the request, which is after the master sent
 * it.  With clock rates within 1 +- r (r = drift_ppm / 1e6), lease_ms on the
 * acceptor lasts at least lease_ms / (1 + r) real time, and L' on the master
 * at most L' / (1 - r).  So L' <= lease_ms * (1 - r) / (1 + r), which
 * lease_ms * (1 - 2r) satisfies; margin_ms is extra room on top.
 */
static uint64_t
paxos_lease_shortening(const struct paxos *p)
{
	if (SIM_KNOB(SIM_KNOB_PX_NO_DRIFT))
		return p->cfg.margin_ms;
	if (SIM_KNOB(SIM_KNOB_PX_HALF_DRIFT))
		return (p->cfg.lease_ms * p->cfg.drift_ppm + 999999) / 1000000 + p->cfg.margin_ms;
	return (p->cfg.lease_ms * 2 * p->cfg.drift_ppm + 999999) / 1000000 + p->cfg.margin_ms;
}

/* ---- the log ---------------------------------------------------------- */

static struct paxos_slot *
paxos_slot_peek(const struct paxos *p, uint64_t s)
{
	if (s < p->base || s - p->base >= p->nlog)
		return NULL;
	return &p->log[s - p->base];
}

static struct paxos_slot *
paxos_slot_get(struct paxos *p, uint64_t s)
{
	size_t need;

	if (s < p->base || s > p->chosen + PAXOS_WINDOW_MAX)
		return NULL;
	need = (size_t)(s - p->base) + 1;
	if (need > p->caplog) {
		size_t cap = p->caplog == 0 ? 64 : p->caplog;
		while (cap < need)
			cap *= 2;
		p->log = xrealloc(p->log, cap * sizeof *p->log);
		p->caplog = cap;
	}
	if (need > p->nlog) {
		memset(&p->log[p->nlog], 0, (need - p->nlog) * sizeof *p->log);
		p->nlog = need;
	}
	return &p->log[s - p->base];
}

static void
paxos_slot_free(struct paxos_slot *sl)
{
	paxos_buf_free(&sl->acc_value);
	paxos_buf_free(&sl->p1_value);
	paxos_buf_free(&sl->prop_value);
}

/* Drops slots <= upto from memory and from this step's pending writes. */
static void
paxos_log_drop(struct paxos *p, uint64_t upto)
{
	size_t n, i, j;

	if (upto < p->base)
		return;
	n = (size_t)(upto - p->base + 1);
	if (n > p->nlog)
		n = p->nlog;
	for (i = 0; i < n; i++)
		paxos_slot_free(&p->log[i]);
	if (p->nlog > n)
		memmove(p->log, p->log + n, (p->nlog - n) * sizeof *p->log);
	p->nlog -= n;
	p->base = upto + 1;
	for (i = j = 0; i < p->cur.nentries; i++) {
		if (p->cur.entries[i].slot <= upto)
			paxos_entry_free(&p->cur.entries[i]);
		else
			p->cur.entries[j++] = p->cur.entries[i];
	}
	p->cur.nentries = j;
}

/* ---- durability ------------------------------------------------------- */

static void
paxos_persist_promised(struct paxos *p, paxos_ballot b)
{
	assert(b >= p->promised);
	p->promised = b;
	p->cur.set_promised = true;
	p->cur.promised = b;
	p->dirty = true;
	p->vouch_token = p->token_issued + 1; /* this step's write */
}

static void
paxos_persist_slot(struct paxos *p, uint64_t s, const struct paxos_slot *sl)
{
	struct paxos_entry e, *dst = NULL;
	size_t i;

	for (i = 0; i < p->cur.nentries; i++)
		if (p->cur.entries[i].slot == s) {
			dst = &p->cur.entries[i];
			paxos_entry_free(dst);
			break;
		}
	if (dst == NULL) {
		p->cur.entries = xrealloc(p->cur.entries,
		    (p->cur.nentries + 1) * sizeof *p->cur.entries);
		dst = &p->cur.entries[p->cur.nentries++];
	}
	e.slot = s;
	e.ballot = sl->acc_ballot;
	e.chosen = sl->chosen;
	e.value = sl->acc_value;
	paxos_entry_copy(dst, &e);
	p->dirty = true;
}

/* Queues M (moved: the caller's copy is emptied) until token WAIT is synced. */
static void
paxos_send_after(struct paxos *p, unsigned to, struct paxos_msg *m, uint64_t wait)
{
	struct paxos_out *o;

	if (p->nout == p->capout) {
		p->capout = p->capout == 0 ? 16 : p->capout * 2;
		p->outbox = xrealloc(p->outbox, p->capout * sizeof *p->outbox);
	}
	o = &p->outbox[p->nout++];
	o->wait = SIM_KNOB(SIM_KNOB_PX_REPLIES_BEFORE_SYNC) ? 0 : wait;
	o->msg = *m;
	o->msg.from = p->cfg.id;
	o->msg.to = to;
	memset(m, 0, sizeof *m);
}

/*
 * Queues M: it waits for every write asked for so far, including this
 * step's: "every durable state change is synced before anything that
 * depends on it is sent".
 */
static void
paxos_send(struct paxos *p, unsigned to, struct paxos_msg *m)
{
	paxos_send_after(p, to, m, p->dirty ? p->token_issued + 1 : p->token_issued);
}

/*
 * Queues M, which depends on no durable state but our promise and voter
 * flag (HEARTBEAT, HEARTBEAT_ACK, ACCEPT: docs/PAXOS.md, "Durability
 * before messages"): it waits for the write holding those alone, so a slow
 * sync of log entries holds back no lease renewal and no new proposal.
 */
static void
paxos_send_vouched(struct paxos *p, unsigned to, struct paxos_msg *m)
{
	paxos_send_after(p, to, m, p->vouch_token);
}

static void
paxos_send_all_as(struct paxos *p, const struct paxos_msg *m, bool vouched)
{
	struct paxos_idset to = paxos_audience(p);
	struct paxos_msg c;
	unsigned id;

	for (id = 1; id < 256; id++) {
		if (!paxos_ids_has(&to, id))
			continue;
		paxos_msg_copy(&c, m);
		if (vouched)
			paxos_send_vouched(p, id, &c);
		else
			paxos_send(p, id, &c);
	}
}

static void
paxos_send_all(struct paxos *p, const struct paxos_msg *m)
{
	paxos_send_all_as(p, m, false);
}

/* Pre-vote messages vouch for nothing durable: they leave at once. */
static void
paxos_send_free(struct paxos *p, unsigned to, struct paxos_msg *m)
{
	paxos_send_after(p, to, m, 0);
}

static void
paxos_send_all_free(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_idset to = paxos_audience(p);
	struct paxos_msg c;
	unsigned id;

	for (id = 1; id < 256; id++) {
		if (!paxos_ids_has(&to, id))
			continue;
		paxos_msg_copy(&c, m);
		paxos_send_free(p, id, &c);
	}
}

/*
 * Releases held messages whose writes are synced, in the order they were
 * queued; our own are handled here.  A vouched message may leave before
 * messages queued earlier that wait for later writes.
 */
static void
paxos_flush(struct paxos *p)
{
	struct paxos_action *act;
	struct paxos_msg *ready;
	size_t i, j, n;

	for (;;) {
		for (i = n = 0; i < p->nout; i++)
			n += p->outbox[i].wait <= p->token_done;
		if (n == 0)
			return;
		ready = xmalloc(n * sizeof *ready);
		for (i = j = n = 0; i < p->nout; i++) {
			if (p->outbox[i].wait <= p->token_done)
				ready[n++] = p->outbox[i].msg;
			else
				p->outbox[j++] = p->outbox[i];
		}
		p->nout = j;
		/* Our own may queue more: those go behind, for the next round. */
		for (i = 0; i < n; i++) {
			if (ready[i].to == p->cfg.id) {
				paxos_receive(p, &ready[i]);
				paxos_msg_free(&ready[i]);
			} else {
				act = paxos_emit(p, PAXOS_ACT_SEND);
				act->msg = ready[i];
			}
		}
		free(ready);
	}
}

static void
paxos_end_step(struct paxos *p)
{
	struct paxos_action *act;

	paxos_flush(p);
	if (p->dirty) {
		act = paxos_emit(p, PAXOS_ACT_PERSIST);
		act->persist = p->cur;
		act->persist.token = ++p->token_issued;
		/* Every slot <= chosen has its chosen value in this write or an
		 * earlier one (paxos_learn), so the mark may ride along. */
		act->persist.chosen_upto = p->chosen;
		memset(&p->cur, 0, sizeof p->cur);
		p->dirty = false;
	}
}

/* ---- learning and applying -------------------------------------------- */

static void
paxos_maybe_snapshot(struct paxos *p)
{
	struct paxos_action *act;

	if (p->cfg.snapshot_every == 0 || p->applied < p->snap_index + p->cfg.snapshot_every ||
	    p->snap_asked >= p->applied)
		return;
	p->snap_asked = p->applied;
	act = paxos_emit(p, PAXOS_ACT_TAKE_SNAPSHOT);
	act->index = p->applied;
}

static void
paxos_check_rejoin(struct paxos *p)
{
	/*
	 * Paxos Made Live §5.1: a replica that lost its disk "waits until it
	 * observes a completed instance of Paxos that was started after the
	 * replica started" before it votes.  rejoin_slot is the first slot the
	 * master had not proposed when we first heard from it; once that slot is
	 * chosen and known here, and a lease period has passed (so a proposer
	 * still running Phase 1 with our lost promise has retransmitted its
	 * PREPARE and raised max_seen), we take max_seen as our promise.
	 */
	if (p->voter || p->now < p->quiet_until)
		return;
	/* The lone voter of its configuration may rejoin on its own, but not
	 * one whose store was lost: the configuration it holds is slot 1's,
	 * and the cell may have grown since (a wiped replica 1 of a cell
	 * grown from one voter to three would elect itself). */
	if ((p->conf.nvoters > 1 || p->state_lost) &&
	    (p->rejoin_slot == 0 || p->chosen < p->rejoin_slot))
		return;
	p->voter = true;
	p->state_lost = false;
	p->cur.set_nonvoter = true;
	p->cur.nonvoter = false;
	p->dirty = true;
	p->vouch_token = p->token_issued + 1;
	if (p->max_seen > p->promised)
		paxos_persist_promised(p, p->max_seen);
}

/* ---- membership ------------------------------------------------------- */

static void paxos_become_follower(struct paxos *);

/* C is the configuration from now on (the chosen prefix reached it). */
static void
paxos_conf_set(struct paxos *p, const struct paxos_conf *c)
{
	p->conf = *c;
	p->conf_known = true;
	if (p->role == PAXOS_MASTER)
		p->conf_at = p->now;
	/* Removed, the master too once its own removal is chosen: it steps
	 * down, and the new configuration elects a master (one fail-over). */
	if (p->role != PAXOS_FOLLOWER && !paxos_votes(p))
		paxos_become_follower(p);
}

/* Slot S, just added to the chosen prefix, holds V. */
static void
paxos_conf_chosen(struct paxos *p, uint64_t s, const struct paxos_buf *v)
{
	struct paxos_conf c;

	if (!paxos_conf_decode(v, &c) || c.nvoters == 0)
		return;
	p->hist = xrealloc(p->hist, (p->nhist + 1) * sizeof *p->hist);
	p->hist[p->nhist].slot = s;
	p->hist[p->nhist++].c = c;
	if (s == p->pend_slot) {
		p->pend_slot = 0;
		memset(&p->pend_conf, 0, sizeof p->pend_conf);
	}
	paxos_conf_set(p, &c);
}

/* The configuration after slot INDEX (>= snap_index, <= chosen); no voters
 * if unknown. */
static struct paxos_conf
paxos_conf_at(const struct paxos *p, uint64_t index)
{
	struct paxos_conf c = p->snap_conf;
	size_t i;

	for (i = 0; i < p->nhist && p->hist[i].slot <= index; i++)
		c = p->hist[i].c;
	return c;
}

/* The snapshot now covers slots <= INDEX: fold the history into snap_conf. */
static void
paxos_conf_snapshot(struct paxos *p, uint64_t index)
{
	size_t i, j;

	p->snap_conf = paxos_conf_at(p, index);
	for (i = j = 0; i < p->nhist; i++)
		if (p->hist[i].slot > index)
			p->hist[j++] = p->hist[i];
	p->nhist = j;
}

static void
paxos_advance(struct paxos *p)
{
	struct paxos_slot *sl;
	struct paxos_action *act;
	struct paxos_conf c;

	while ((sl = paxos_slot_peek(p, p->chosen + 1)) != NULL && sl->chosen) {
		p->chosen++;
		paxos_conf_chosen(p, p->chosen, &sl->acc_value);
	}
	while (p->applied < p->chosen) {
		p->applied++;
		sl = paxos_slot_peek(p, p->applied);
		assert(sl != NULL && sl->chosen);
		act = paxos_emit(p, PAXOS_ACT_APPLY);
		act->index = p->applied;
		/* The state machine sees a configuration value as a no-op: the
		 * core keeps the configuration (paxos_conf()). */
		if (paxos_conf_decode(&sl->acc_value, &c))
			paxos_batch_init(&act->value);
		else
			paxos_buf_copy(&act->value, &sl->acc_value);
		paxos_buf_free(&sl->prop_value);
		paxos_buf_free(&sl->p1_value);
	}
	paxos_maybe_snapshot(p);
	paxos_check_rejoin(p);
}

/* Slot S is chosen with VALUE in BALLOT: record it durably and apply in order. */
static void
paxos_learn(struct paxos *p, uint64_t s, paxos_ballot ballot, const struct paxos_buf *value)
{
	struct paxos_slot *sl;
	bool changed = false;

	if (s <= p->chosen || (sl = paxos_slot_get(p, s)) == NULL || sl->chosen)
		return;
	if (!sl->has_acc || sl->acc_ballot != ballot) {
		changed = true;
		paxos_buf_free(&sl->acc_value);
		paxos_buf_copy(&sl->acc_value, value);
		sl->acc_ballot = ballot;
		sl->has_acc = true;
	}
	sl->chosen = true;
	/* The chosen value must be on disk before the chosen_upto that covers
	 * it: written here if it is not what we accepted (in this step or
	 * before, so in this PERSIST or an earlier one).  A slot accepted in
	 * the ballot that chose it needs no write of its own: the mark rides
	 * on the next PERSIST as chosen_upto, without the value. */
	if (changed)
		paxos_persist_slot(p, s, sl);
	paxos_advance(p);
}

static void
paxos_request_catchup(struct paxos *p, unsigned from, bool now)
{
	struct paxos_msg m;

	if (from == 0 || from == p->cfg.id || (!now && p->now < p->catchup_at))
		return;
	p->catchup_at = p->now + p->cfg.heartbeat_ms;
	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_CATCHUP_REQ;
	m.ballot = p->promised;
	m.slot = p->chosen + 1;
	/* A snapshot half received: ask for the next chunk of it. */
	m.trunc = p->rx_index;
	m.seq = p->rx.len;
	paxos_send(p, from, &m);
}

/*
 * Commit news (Paxos Made Live §4.1): the master at BALLOT says every slot
 * <= COMMIT is chosen.  A slot we accepted in that same ballot holds the one
 * value that ballot proposed there, so it is the chosen one; anything else we
 * fetch from the master.
 */
static void
paxos_commit_news(struct paxos *p, unsigned from, paxos_ballot ballot, uint64_t commit)
{
	struct paxos_slot *sl;
	uint64_t s, last = p->base + p->nlog;

	for (s = p->chosen + 1; s <= commit && s < last; s++) {
		sl = paxos_slot_peek(p, s);
		if (sl != NULL && !sl->chosen && sl->has_acc && sl->acc_ballot == ballot)
			paxos_learn(p, s, ballot, &sl->acc_value);
	}
	if (p->chosen < commit)
		paxos_request_catchup(p, from, false);
}

/* ---- roles ------------------------------------------------------------ */

static void
paxos_drop_proposer_state(struct paxos *p)
{
	size_t i;

	for (i = 0; i < p->nqueue; i++)
		paxos_buf_free(&p->queue[i]);
	p->nqueue = 0;
	for (i = 0; i < p->nlog; i++) {
		paxos_buf_free(&p->log[i].p1_value);
		paxos_buf_free(&p->log[i].prop_value);
		p->log[i].p1_ballot = 0;
		p->log[i].prop_ballot = 0;
		memset(&p->log[i].acks, 0, sizeof p->log[i].acks);
	}
	p->lease_expiry = 0;
	memset(&p->promises, 0, sizeof p->promises);
	memset(&p->p1_ids, 0, sizeof p->p1_ids);
	p->noop_slot = 0;
	p->pend_slot = 0;
	memset(&p->pend_conf, 0, sizeof p->pend_conf);
	p->ho_target = 0;
	p->ho_stopped = false;
	memset(p->peer_chosen, 0, sizeof p->peer_chosen);
	memset(p->peer_heard, 0, sizeof p->peer_heard);
}

static void
paxos_become_follower(struct paxos *p)
{
	bool handed_off = p->role == PAXOS_MASTER && p->ho_stopped;

	if (p->role == PAXOS_FOLLOWER)
		return;
	p->role = PAXOS_FOLLOWER;
	paxos_drop_proposer_state(p);
	if (p->master_id == p->cfg.id) {
		p->master_id = 0;
		p->master_ballot = 0;
	}
	p->election_at = p->now + paxos_election_wait(p);
	/* A master that handed off leaves the election to its target. */
	if (handed_off)
		p->election_at += p->cfg.lease_ms;
	paxos_emit_role(p);
}

/* A message from the master at BALLOT arrived: follow it. */
static void
paxos_note_master(struct paxos *p, paxos_ballot ballot, unsigned from)
{
	if (from == p->cfg.id || ballot < p->master_ballot)
		return;
	if (p->role != PAXOS_FOLLOWER && ballot > p->ballot)
		paxos_become_follower(p);
	if (p->role != PAXOS_FOLLOWER)
		return;
	/* Campaign only after this master's lease has run out, plus a random
	 * wait so that replicas do not all start at once (duelling proposers).
	 * A hand-off's target keeps its early start (TIMEOUT_NOW). */
	if (p->now >= p->timeout_now_until)
		p->election_at = p->now + p->cfg.lease_ms + paxos_after_lease_wait(p);
	if (ballot != p->master_ballot || from != p->master_id) {
		p->master_ballot = ballot;
		p->master_id = from;
		paxos_emit_role(p);
	}
}

static void
paxos_observe(struct paxos *p, paxos_ballot b)
{
	if (b > p->max_seen)
		p->max_seen = b;
}

/* We promised or accepted a higher ballot than our own: stop proposing. */
static void
paxos_outbid(struct paxos *p, paxos_ballot b)
{
	if (p->role != PAXOS_FOLLOWER && b > p->ballot)
		paxos_become_follower(p);
}

static void
paxos_send_prepare(struct paxos *p, unsigned to)
{
	struct paxos_msg m;

	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_PREPARE;
	m.ballot = p->ballot;
	m.slot = p->p1_from;
	if (to == 0)
		paxos_send_all(p, &m);
	else
		paxos_send(p, to, &m);
}

/* The ballot a campaign now would use: a round above any promised or seen. */
static paxos_ballot
paxos_prevote_ballot(const struct paxos *p)
{
	uint64_t round = PAXOS_BALLOT_ROUND(p->max_seen > p->promised ? p->max_seen : p->promised);

	return PAXOS_BALLOT(round + 1, p->cfg.id);
}

/*
 * We promised B to its proposer's Phase 1 (or our own): pre-vote for nobody
 * else's campaign for a lease (paxos_on_pre_prepare).  Under a starved CPU a
 * Phase 1 takes most of a second, and every replica whose election time came
 * meanwhile would pass its pre-vote and depose it with a higher round (CI:
 * 11 s of candidates deposing each other).  Its own next attempt stays
 * welcome, and a higher PREPARE is still promised (docs/PAXOS.md
 * "Elections under load").
 */
static void
paxos_back(struct paxos *p, paxos_ballot b)
{
	p->backed = b;
	p->backed_until = p->now + p->cfg.lease_ms;
}

/* Phase 1 with a ballot higher than any seen (Paxos Made Simple §2.2). */
static void
paxos_campaign(struct paxos *p)
{
	size_t i;

	paxos_drop_proposer_state(p);
	p->role = PAXOS_CANDIDATE;
	p->ballot = paxos_prevote_ballot(p);
	paxos_observe(p, p->ballot);
	p->p1_from = p->chosen + 1;
	p->p1_max = p->chosen;
	p->p1_conf = p->conf;
	for (i = 0; i < p->nlog; i++)
		p->log[i].p1_ballot = 0;
	/* Long enough for the acceptors' leases to the old master to run out. */
	p->p1_span = p->cfg.lease_ms + paxos_election_wait(p);
	p->p1_deadline = p->now + p->p1_span;
	p->p1_resend_at = p->now + p->cfg.heartbeat_ms;
	paxos_emit_role(p);
	/* Promise ourselves first, durably: the PREPAREs wait for it, so a
	 * restart never campaigns with a ballot it already used. */
	paxos_persist_promised(p, p->ballot);
	paxos_back(p, p->ballot);
	p->p1_token = p->vouch_token;
	paxos_send_prepare(p, 0);
}

/*
 * Pre-vote (etcd's PreVote, in Paxos terms): before raising our ballot, ask
 * every member whether it would promise the ballot we would use.  Nobody
 * changes state for it, so a replica that cannot reach a majority, or that
 * a majority still hears a master over, never raises its promise: it cannot
 * depose a healthy master when it comes back, and a minority's ballots stay
 * where they were however long a partition lasts.  Only a majority's yes
 * starts Phase 1 (paxos_on_pre_promise).  The next attempt is one election
 * wait away, unless a refusal says when the lease that held it runs out.
 */
static void
paxos_prevote(struct paxos *p)
{
	struct paxos_msg m;

	if (SIM_KNOB(SIM_KNOB_PX_NO_PREVOTE)) {
		/* The old core: straight to Phase 1, again an election wait on. */
		p->election_at = p->now + paxos_election_wait(p);
		paxos_campaign(p);
		return;
	}
	/* Yeses to the same ballot from earlier attempts still count: only
	 * a new ballot (something newer was seen) starts the count again.
	 * Each attempt is still asked afresh, and whether a master was heard
	 * since is checked when the majority is reached. */
	if (paxos_prevote_ballot(p) != p->pv_ballot || p->pv_seq_from > p->pv_seq) {
		p->pv_ballot = paxos_prevote_ballot(p);
		memset(&p->pv_votes, 0, sizeof p->pv_votes);
		p->pv_seq_from = p->pv_seq + 1;
	}
	p->pv_seq++;
	/* At least a millisecond on, even with a zero wait: a shell that
	 * sleeps until paxos_next_deadline would otherwise ask again, and
	 * again, within the same millisecond. */
	p->election_at = p->now + paxos_election_wait(p);
	if (p->election_at == p->now)
		p->election_at++;
	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_PRE_PREPARE;
	m.ballot = p->pv_ballot;
	m.seq = p->pv_seq;
	m.slot = p->chosen + 1;
	paxos_send_all_free(p, &m);
}

static void
paxos_send_accept(struct paxos *p, unsigned to, uint64_t s, const struct paxos_slot *sl)
{
	struct paxos_msg m;
	struct paxos_entry e;

	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_ACCEPT;
	m.ballot = p->ballot;
	m.commit = p->chosen;
	e.slot = s;
	e.ballot = p->ballot;
	e.chosen = false;
	e.value = sl->prop_value;
	paxos_msg_add_entry(&m, &e);
	if (to == 0)
		paxos_send_all_as(p, &m, true);
	else
		paxos_send_vouched(p, to, &m);
	paxos_msg_free(&m);
}

/* Phase 2 for slot S (Paxos Made Simple §2.2); VALUE is moved. */
static void
paxos_propose(struct paxos *p, uint64_t s, struct paxos_buf *value)
{
	struct paxos_slot *sl = paxos_slot_get(p, s);
	struct paxos_conf c;

	assert(sl != NULL);
	paxos_buf_free(&sl->prop_value);
	sl->prop_value = *value;
	memset(value, 0, sizeof *value);
	/* A configuration value: nothing after it is proposed until it is in
	 * the chosen prefix (paxos_try_propose), so every slot in flight
	 * belongs to the configuration of the chosen prefix. */
	if (paxos_conf_decode(&sl->prop_value, &c) && c.nvoters > 0 &&
	    !SIM_KNOB(SIM_KNOB_PX_CONF_NO_DRAIN)) {
		p->pend_slot = s;
		p->pend_conf = c;
	}
	sl->prop_ballot = p->ballot;
	memset(&sl->acks, 0, sizeof sl->acks);
	sl->sent_at = p->now;
	paxos_send_accept(p, 0, s, sl);
	if (s >= p->next_slot)
		p->next_slot = s + 1;
}

/* A lease request (Paxos Made Live §5.2) that also carries commit news. */
static void
paxos_heartbeat(struct paxos *p)
{
	struct paxos_msg m;
	unsigned i = (unsigned)(++p->hb_seq % PAXOS_HB_WINDOW);

	p->hb_sent[i] = p->now;
	memset(&p->hb_acks[i], 0, sizeof p->hb_acks[i]);
	p->hb_at = p->now + p->cfg.heartbeat_ms;
	p->hb_unanswered++;
	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_HEARTBEAT;
	m.ballot = p->ballot;
	m.seq = p->hb_seq;
	m.commit = p->chosen;
	m.next_slot = p->next_slot;
	paxos_send_all_as(p, &m, true);
}

/*
 * Phase 1 won.  Paxos Made Simple §3: re-propose, in our ballot, the value of
 * the highest ballot any promise reported for each slot, fill gaps with
 * no-ops, then commit a no-op of our own (Paxos Made Live §5.2: the master
 * serves nothing until an entry of its own ballot is chosen).  The
 * re-proposals go out from paxos_try_propose, which stops after a
 * configuration value until it is chosen.
 */
static void
paxos_become_master(struct paxos *p)
{
	p->role = PAXOS_MASTER;
	p->master_ballot = p->ballot;
	p->master_id = p->cfg.id;
	p->lease_expiry = 0;
	p->lease_sent = 0;
	p->conf_at = p->now;
	p->quorum_at = p->now;
	p->hb_unanswered = 0;
	p->next_slot = p->chosen + 1;
	p->repro = p->chosen + 1;
	p->noop_slot = 0;
	paxos_emit_role(p);
	paxos_try_propose(p);
	paxos_heartbeat(p);
}

/* The rest of Phase 1's values, in order, then our no-op; false while a
 * configuration value among them is not yet chosen. */
static bool
paxos_repropose(struct paxos *p)
{
	struct paxos_slot *sl;
	struct paxos_buf v;
	struct paxos_conf c;
	uint64_t s;

	while (p->noop_slot == 0) {
		if (p->pend_slot != 0)
			return false;
		if (p->repro > p->p1_max) {
			s = (p->p1_max > p->chosen ? p->p1_max : p->chosen) + 1;
			p->noop_slot = s;
			paxos_batch_init(&v);
			paxos_propose(p, s, &v);
			break;
		}
		s = p->repro++;
		sl = paxos_slot_get(p, s);
		if (sl == NULL)
			continue;
		if (sl->chosen) {
			/* Chosen, but maybe not yet in our chosen prefix: a
			 * configuration there rules every later slot only once
			 * the prefix reaches it, and until then we would count
			 * them in the old one (the simulator's seed 294). */
			if (s > p->chosen && paxos_conf_decode(&sl->acc_value, &c) && c.nvoters > 0) {
				p->pend_slot = s;
				p->pend_conf = c;
			}
			continue;
		}
		if (sl->p1_ballot != 0)
			paxos_buf_copy(&v, &sl->p1_value);
		else
			paxos_batch_init(&v);
		paxos_propose(p, s, &v);
	}
	return p->pend_slot == 0;
}

/* Batch queued commands into slots while the pipeline has room (Paxos Made Live §5.1). */
static void
paxos_try_propose(struct paxos *p)
{
	struct paxos_buf batch;
	size_t n, i;

	/* Handing off: nothing new, so that the target can be caught up. */
	if (p->role != PAXOS_MASTER || p->ho_target != 0)
		return;
	if (p->next_slot <= p->chosen)
		p->next_slot = p->chosen + 1;
	if (!paxos_repropose(p))
		return;
	while (p->nqueue > 0 && p->next_slot - 1 - p->chosen < p->cfg.pipeline_max) {
		paxos_batch_init(&batch);
		for (n = 0; n < p->nqueue && n < p->cfg.batch_max_count; n++) {
			if (n > 0 && batch.len + 4 + p->queue[n].len > p->cfg.batch_max_bytes)
				break;
			paxos_batch_append(&batch, p->queue[n].data, p->queue[n].len);
			paxos_buf_free(&p->queue[n]);
		}
		for (i = n; i < p->nqueue; i++)
			p->queue[i - n] = p->queue[i];
		p->nqueue -= n;
		paxos_propose(p, p->next_slot, &batch);
	}
}

/* ---- acceptor --------------------------------------------------------- */

static void
paxos_reply(struct paxos *p, const struct paxos_msg *req, enum paxos_msg_type type)
{
	struct paxos_msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.ballot = req->ballot;
	m.promised = p->promised;
	paxos_send(p, req->from, &m);
}

/* Records that we grant BALLOT a lease from now (Paxos Made Live §5.2). */
static void
paxos_grant(struct paxos *p, paxos_ballot b)
{
	p->lease_holder = b;
	p->lease_until = p->now + p->cfg.lease_ms;
}

/* Raises the promise to B for Phase 2 and leases; false if B is too low. */
static bool
paxos_accept_ballot(struct paxos *p, const struct paxos_msg *m)
{
	if (m->ballot < p->promised) {
		paxos_reply(p, m, PAXOS_MSG_REJECT);
		return false;
	}
	if (m->ballot > p->promised) {
		paxos_persist_promised(p, m->ballot);
		paxos_outbid(p, m->ballot);
	}
	paxos_grant(p, m->ballot);
	paxos_note_master(p, m->ballot, m->from);
	return true;
}

/* A REJECT whose promised is not above the ballot means "leased": seq is
 * how many of our milliseconds the lease still runs. */
static void
paxos_refuse_leased(struct paxos *p, const struct paxos_msg *req, uint64_t left)
{
	struct paxos_msg m;

	memset(&m, 0, sizeof m);
	m.type = PAXOS_MSG_REJECT;
	m.ballot = req->ballot;
	m.promised = p->promised;
	m.seq = left;
	paxos_send(p, req->from, &m);
}

static void
paxos_on_prepare(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_msg r;
	struct paxos_slot *sl;
	struct paxos_entry e;
	uint64_t s;

	if (!p->voter)
		return;
	if (m->ballot < p->promised) {
		paxos_reply(p, m, PAXOS_MSG_REJECT);
		return;
	}
	if (m->ballot > p->promised) {
		/*
		 * Leases: refuse to promise anyone while another master's lease
		 * granted here runs, or for a lease period after a restart, when
		 * we no longer know whom we granted one (Paxos Made Live §5.2).
		 * We say how long is left so that the proposer retries then,
		 * which shortens fail-over to about one lease.
		 */
		if (p->now < p->quiet_until) {
			paxos_refuse_leased(p, m, p->quiet_until - p->now);
			return;
		}
		if (p->now < p->lease_until && p->lease_holder != m->ballot &&
		    !SIM_KNOB(SIM_KNOB_PX_NO_LEASE_REFUSAL)) {
			paxos_refuse_leased(p, m, p->lease_until - p->now);
			return;
		}
		paxos_persist_promised(p, m->ballot);
		paxos_outbid(p, m->ballot);
		paxos_back(p, m->ballot);
		/*
		 * A promise grants no lease: the master counts its lease only
		 * from HEARTBEAT_ACKs (and we grant on ACCEPT too), and a
		 * candidate that is not master yet has nothing to protect.
		 * Granting here would let duelling candidates lock each other
		 * out for whole lease periods.  Like a Raft vote, a promise
		 * holds back our own campaign for a while.
		 */
		p->election_at = p->now + 2 * p->cfg.heartbeat_ms + paxos_election_wait(p);
		p->pv_seq++; /* and ends a pre-vote of ours: its yeses are stale */
		p->pv_seq_from = p->pv_seq + 1;
	}
	memset(&r, 0, sizeof r);
	r.type = PAXOS_MSG_PROMISE;
	r.ballot = m->ballot;
	r.commit = p->chosen;
	r.trunc = p->base - 1;
	for (s = m->slot > p->base ? m->slot : p->base; s < p->base + p->nlog; s++) {
		sl = paxos_slot_peek(p, s);
		if (sl == NULL || !sl->has_acc)
			continue;
		e.slot = s;
		e.ballot = sl->acc_ballot;
		e.chosen = sl->chosen;
		e.value = sl->acc_value;
		paxos_msg_add_entry(&r, &e);
	}
	paxos_send(p, m->from, &r);
}

/*
 * Would we promise m->ballot now?  Yes only if a PREPARE of it would get a
 * PROMISE here: it is above our promise, no master's lease granted here
 * runs (we have not heard a master within a lease), and our restart quiet
 * period is over, and our log still holds the first slot the candidate
 * lacks (else it could not lead: paxos_on_promise), and we are not backing
 * another proposer's Phase 1 (paxos_back: a candidate still collecting
 * promises holds no lease, and one campaign started over it deposes it).
 * A refusal says how long the lease, quiet period or backing still runs,
 * so that the candidate asks again then.  Nothing here is durable and nothing changes: the PREPARE that may
 * follow is judged afresh.
 */
static void
paxos_on_pre_prepare(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_msg r;
	uint64_t left = 0;

	if (!p->voter)
		return;
	if (p->now < p->quiet_until)
		left = p->quiet_until - p->now;
	if (p->now < p->lease_until && p->lease_until - p->now > left &&
	    !SIM_KNOB(SIM_KNOB_PX_NO_LEASE_REFUSAL | SIM_KNOB_PX_PREVOTE_IN_LEASE))
		left = p->lease_until - p->now;
	if (p->now < p->backed_until && p->backed_until - p->now > left &&
	    PAXOS_BALLOT_ID(m->ballot) != PAXOS_BALLOT_ID(p->backed))
		left = p->backed_until - p->now;
	memset(&r, 0, sizeof r);
	r.type = PAXOS_MSG_PRE_PROMISE;
	r.ballot = m->ballot;
	r.seq = m->seq;
	r.slot = m->ballot > p->promised && left == 0 && p->base <= m->slot;
	r.commit = left;
	r.promised = p->promised;
	r.trunc = p->base - 1;
	paxos_send_free(p, m->from, &r);
}

static void
paxos_on_accept(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_slot *sl;
	struct paxos_msg r;
	size_t i;

	if (!p->voter) {
		/* A non-voter takes only the news. */
		if (m->ballot >= p->master_ballot) {
			paxos_note_master(p, m->ballot, m->from);
			paxos_commit_news(p, m->from, m->ballot, m->commit);
		}
		return;
	}
	if (!paxos_accept_ballot(p, m))
		return;
	for (i = 0; i < m->nentries; i++) {
		const struct paxos_entry *e = &m->entries[i];
		if ((sl = paxos_slot_get(p, e->slot)) == NULL)
			continue;
		if (!sl->chosen && !(sl->has_acc && sl->acc_ballot == m->ballot)) {
			paxos_buf_free(&sl->acc_value);
			paxos_buf_copy(&sl->acc_value, &e->value);
			sl->acc_ballot = m->ballot;
			sl->has_acc = true;
			paxos_persist_slot(p, e->slot, sl);
		}
		/* A chosen slot holds the only value any later ballot proposes
		 * there (Paxos Made Simple §2.2, P2c), so acknowledging is safe. */
		memset(&r, 0, sizeof r);
		r.type = PAXOS_MSG_ACCEPTED;
		r.ballot = m->ballot;
		r.slot = e->slot;
		paxos_send(p, m->from, &r);
	}
	paxos_commit_news(p, m->from, m->ballot, m->commit);
}

static void
paxos_on_heartbeat(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_msg r;

	if (!p->voter) {
		if (m->ballot >= p->master_ballot && m->from != p->cfg.id) {
			paxos_note_master(p, m->ballot, m->from);
			if (p->rejoin_slot == 0)
				p->rejoin_slot = m->next_slot;
			paxos_commit_news(p, m->from, m->ballot, m->commit);
		}
		return;
	}
	if (!paxos_accept_ballot(p, m))
		return;
	memset(&r, 0, sizeof r);
	r.type = PAXOS_MSG_HEARTBEAT_ACK;
	r.ballot = m->ballot;
	r.seq = m->seq;
	r.commit = p->chosen; /* how far along we are, for a hand-off */
	/* A lease grant: it vouches that we promised m->ballot durably (a
	 * restart then keeps quiet for a lease), nothing more. */
	paxos_send_vouched(p, m->from, &r);
	paxos_commit_news(p, m->from, m->ballot, m->commit);
}

/* ---- proposer --------------------------------------------------------- */

/*
 * Phase 1 is won when a majority of every configuration that a slot from
 * p1_from on may have been chosen in has promised: p1_conf, and after each
 * configuration value the promises reported (chosen or the highest-ballot
 * one), the one it holds.  A value chosen in some configuration was
 * accepted by a majority of it, which meets ours (docs/PAXOS.md
 * "Membership").  Members of a configuration we did not ask yet are asked
 * now.  LAST: the last configuration of the chain.
 */
static bool
paxos_p1_won(struct paxos *p, struct paxos_conf *last)
{
	struct paxos_conf c = p->p1_conf, nc;
	struct paxos_slot *sl;
	const struct paxos_buf *v;
	bool won = paxos_quorum(&c, &p->promises);
	uint64_t s;
	unsigned i, id;

	for (s = p->p1_from; s <= p->p1_max; s++) {
		if ((sl = paxos_slot_peek(p, s)) == NULL)
			continue;
		v = sl->chosen ? &sl->acc_value : sl->p1_ballot != 0 ? &sl->p1_value : NULL;
		if (v == NULL || !paxos_conf_decode(v, &nc) || nc.nvoters == 0)
			continue;
		c = nc;
		for (i = 0; i < c.nvoters; i++) {
			id = c.voters[i];
			if (!paxos_ids_has(&p->p1_ids, id)) {
				paxos_ids_add(&p->p1_ids, id);
				if (!paxos_ids_has(&p->promises, id))
					paxos_send_prepare(p, id);
			}
		}
		if (!paxos_quorum(&c, &p->promises))
			won = false;
	}
	*last = c;
	return won;
}

static void
paxos_on_promise(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_slot *sl;
	struct paxos_conf last;
	size_t i;

	if (p->role != PAXOS_CANDIDATE || m->ballot != p->ballot)
		return;
	if (m->trunc >= p->p1_from) {
		/* It dropped slots we never learnt: we are too far behind to
		 * lead.  Catch up from it and let someone else win. */
		paxos_become_follower(p);
		paxos_request_catchup(p, m->from, true);
		return;
	}
	for (i = 0; i < m->nentries; i++) {
		const struct paxos_entry *e = &m->entries[i];
		if (e->slot < p->p1_from)
			continue;
		if (e->slot > p->p1_max)
			p->p1_max = e->slot;
		if (e->chosen) {
			paxos_learn(p, e->slot, e->ballot, &e->value);
			continue;
		}
		if ((sl = paxos_slot_get(p, e->slot)) == NULL)
			continue;
		if (sl->p1_ballot == 0 || (SIM_KNOB(SIM_KNOB_PX_P1_LOWEST) ? e->ballot < sl->p1_ballot :
						    e->ballot > sl->p1_ballot)) {
			paxos_buf_free(&sl->p1_value);
			paxos_buf_copy(&sl->p1_value, &e->value);
			sl->p1_ballot = e->ballot;
		}
	}
	paxos_ids_add(&p->promises, m->from);
	/* Even if the last configuration leaves us out (a change removing us
	 * that we never learnt was chosen): as master we get it chosen, and
	 * step down then (paxos_conf_set), like a Raft leader not in C_new.
	 * Stepping down at once would leave it unchosen, and our next campaign
	 * would hold back the members' own (seed 102 of the simulator). */
	if (paxos_p1_won(p, &last))
		paxos_become_master(p);
}

static void
paxos_on_pre_promise(struct paxos *p, const struct paxos_msg *m)
{
	uint64_t at;

	paxos_observe(p, m->promised);
	if (p->role != PAXOS_FOLLOWER || !paxos_votes(p) || m->seq > p->pv_seq ||
	    m->seq < p->pv_seq_from || m->ballot != p->pv_ballot)
		return;
	/*
	 * A no because we are too far behind to lead (m->trunc >= our first
	 * unchosen slot) asks for no catch-up here: replicas that are not
	 * behind win the pre-vote, and their commit news catches us up.
	 * (Asking every refuser would start snapshot transfers from several
	 * replicas at once, which restart each other: the simulator found it.)
	 */
	if (m->slot != 1) {
		if (m->commit > 0) {
			/* Held by a lease or a restart: ask again just after. */
			at = p->now + m->commit + 1;
			if (at > p->election_at)
				p->election_at = at;
		}
		return;
	}
	paxos_ids_add(&p->pv_votes, m->from);
	/* Still free to campaign: no master heard since we asked, and no
	 * other candidate's Phase 1 in our round or above seen since: our
	 * ballot would have to outbid one already under way (pv_ballot is no
	 * longer what paxos_campaign would use; the next attempt asks anew). */
	if (paxos_majority(p, &p->pv_votes) && p->now >= p->lease_until &&
	    p->now >= p->quiet_until && paxos_prevote_ballot(p) == p->pv_ballot) {
		p->pv_seq++;
		p->pv_seq_from = p->pv_seq + 1;
		paxos_campaign(p);
	}
}

static void
paxos_on_accepted(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_slot *sl;

	if (p->role != PAXOS_MASTER || m->ballot != p->ballot)
		return;
	sl = paxos_slot_peek(p, m->slot);
	if (sl == NULL || sl->chosen || sl->prop_ballot != p->ballot)
		return;
	paxos_ids_add(&sl->acks, m->from);
	/* Every slot in flight belongs to conf (paxos_propose). */
	if (paxos_majority(p, &sl->acks)) {
		paxos_learn(p, m->slot, p->ballot, &sl->prop_value);
		paxos_try_propose(p);
	}
}

static void
paxos_on_heartbeat_ack(struct paxos *p, const struct paxos_msg *m)
{
	unsigned i, id = m->from & 0xff;
	uint64_t until;

	if (p->role != PAXOS_MASTER || m->ballot != p->ballot)
		return;
	if (m->commit > p->peer_chosen[id])
		p->peer_chosen[id] = m->commit;
	p->peer_heard[id] = p->now;
	if (m->seq > p->hb_seq || p->hb_seq - m->seq >= PAXOS_HB_WINDOW || m->seq == 0)
		return;
	i = (unsigned)(m->seq % PAXOS_HB_WINDOW);
	paxos_ids_add(&p->hb_acks[i], m->from);
	/* A majority of the configuration now: a lease counted in an older
	 * one ends before the next change (paxos_change). */
	if (!paxos_majority(p, &p->hb_acks[i]))
		return;
	/* Counted from when we asked, not from when the answers came (Paxos
	 * Made Live §5.2), and shortened for clock drift. */
	until = (SIM_KNOB(SIM_KNOB_PX_LEASE_FROM_REPLIES) ? p->now : p->hb_sent[i]) + p->cfg.lease_ms;
	until = until > paxos_lease_shortening(p) ? until - paxos_lease_shortening(p) : 0;
	if (until > p->lease_expiry) {
		p->lease_expiry = until;
		p->lease_sent = p->hb_sent[i];
	}
	if (p->hb_sent[i] > p->quorum_at) {
		p->quorum_at = p->hb_sent[i];
		p->hb_unanswered = (uint64_t)(p->hb_seq - m->seq);
	}
}

static void
paxos_on_reject(struct paxos *p, const struct paxos_msg *m)
{
	uint64_t at;

	paxos_observe(p, m->promised);
	if (p->role == PAXOS_FOLLOWER || m->ballot != p->ballot)
		return;
	if (m->promised > p->ballot) {
		paxos_become_follower(p);
		return;
	}
	if (p->role == PAXOS_CANDIDATE && m->seq > 0) {
		/* Leased: ask again just after it runs out.  Our clock may run
		 * faster than theirs; an early retry is only refused again. */
		at = p->now + m->seq + 1;
		if (at < p->p1_resend_at)
			p->p1_resend_at = at;
		if (p->p1_deadline < at + p->cfg.heartbeat_ms)
			p->p1_deadline = at + p->cfg.heartbeat_ms;
	}
}

/* ---- hand-off --------------------------------------------------------- */

/*
 * The master hands over to TARGET (0: the follower furthest along): it
 * proposes nothing new until TARGET has learnt every slot chosen, then stops
 * renewing its lease and tells TARGET to campaign the moment its own grant
 * runs out (Raft's leadership transfer, with leases: nobody may promise
 * before the grants run out, so TARGET still waits for that).
 */
static int
paxos_handoff(struct paxos *p, unsigned target)
{
	unsigned i, id, best = 0;

	if (p->role != PAXOS_MASTER)
		return CHUBBY_E_NOT_MASTER;
	if (target == 0) {
		for (i = 0; i < p->conf.nvoters; i++) {
			id = p->conf.voters[i];
			if (id != p->cfg.id && p->peer_chosen[id] > 0 &&
			    (best == 0 || p->peer_chosen[id] > p->peer_chosen[best]))
				best = id;
		}
		if (best == 0)
			return CHUBBY_E_UNAVAILABLE;
		target = best;
	}
	if (!paxos_conf_has_voter(&p->conf, target) || target == p->cfg.id)
		return CHUBBY_E_INVALID;
	p->ho_target = target;
	p->ho_stopped = false;
	p->ho_deadline = p->now + p->cfg.lease_ms;
	return CHUBBY_OK;
}

/* Master tick while handing off; true if it stopped renewing. */
static bool
paxos_handoff_tick(struct paxos *p)
{
	struct paxos_msg m;

	if (!p->ho_stopped) {
		if (p->peer_chosen[p->ho_target & 0xff] >= p->chosen && p->next_slot == p->chosen + 1) {
			p->ho_stopped = true;
			p->ho_sent_at = 0;
		} else if (p->now >= p->ho_deadline) {
			/* It did not catch up within a lease: stay master. */
			p->ho_target = 0;
			paxos_try_propose(p);
			return false;
		} else {
			return false;
		}
	}
	/* No heartbeat, no ACCEPT: the grants run out a lease after the last
	 * one, and check-quorum makes us a follower then.  Resent every
	 * heartbeat period, as messages get lost. */
	if (p->ho_sent_at == 0 || p->now >= p->ho_sent_at + p->cfg.heartbeat_ms) {
		p->ho_sent_at = p->now;
		memset(&m, 0, sizeof m);
		m.type = PAXOS_MSG_TIMEOUT_NOW;
		m.ballot = p->ballot;
		m.slot = p->ho_target;
		paxos_send_all_free(p, &m);
	}
	return true;
}

/* From the master we follow: campaign at once if we are the target,
 * otherwise give the target a head start of a lease. */
static void
paxos_on_timeout_now(struct paxos *p, const struct paxos_msg *m)
{
	if (p->role != PAXOS_FOLLOWER || m->from != p->master_id || m->ballot != p->master_ballot)
		return;
	if (m->slot == p->cfg.id) {
		if (paxos_votes(p) && p->now >= p->timeout_now_until) {
			p->timeout_now_until = p->now + 2 * p->cfg.lease_ms;
			p->election_at = p->now;
		}
	} else if (p->election_at < p->now + 2 * p->cfg.lease_ms) {
		p->election_at = p->now + 2 * p->cfg.lease_ms + paxos_election_wait(p);
	}
}

/* ---- catch-up --------------------------------------------------------- */

static void
paxos_on_catchup_req(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_msg r;
	struct paxos_slot *sl;
	struct paxos_entry e;
	uint64_t s;

	memset(&r, 0, sizeof r);
	if (m->slot < p->base && p->snap_index >= m->slot) {
		/* The slots it needs are gone from our log: send the state
		 * machine instead (Paxos Made Live §5.5). */
		uint64_t off = m->trunc == p->snap_index && m->seq < p->snap.len ? m->seq : 0;
		size_t n = p->snap.len - off;

		/* In chunks, each asked for by the receiver, so that a large state
		 * never needs one huge message and a lost chunk costs one retry. */
		if (n > p->cfg.snapshot_chunk)
			n = p->cfg.snapshot_chunk;
		r.type = PAXOS_MSG_SNAPSHOT;
		r.slot = p->snap_index;
		r.seq = off;
		r.trunc = p->snap.len;
		paxos_buf_set(&r.data, p->snap.data + off, n);
		if (p->snap_conf.nvoters > 0) {
			/* The configuration after the snapshot's last slot,
			 * as one entry: the slots that said it are gone. */
			e.slot = p->snap_index;
			e.ballot = 0;
			e.chosen = true;
			paxos_conf_encode(&p->snap_conf, &e.value);
			paxos_msg_add_entry(&r, &e);
			paxos_buf_free(&e.value);
		}
		r.commit = p->chosen;
		paxos_send(p, m->from, &r); /* takes r's buffers */
		return;
	}
	r.type = PAXOS_MSG_CATCHUP;
	r.ballot = p->master_ballot;
	r.commit = p->chosen;
	for (s = m->slot; s <= p->chosen && r.nentries < p->cfg.catchup_max; s++) {
		if ((sl = paxos_slot_peek(p, s)) == NULL)
			break;
		e.slot = s;
		e.ballot = sl->acc_ballot;
		e.chosen = true;
		e.value = sl->acc_value;
		paxos_msg_add_entry(&r, &e);
	}
	if (r.nentries == 0)
		return;
	paxos_send(p, m->from, &r);
}

static void
paxos_on_catchup(struct paxos *p, const struct paxos_msg *m)
{
	uint64_t before = p->chosen;
	size_t i;

	for (i = 0; i < m->nentries; i++)
		if (m->entries[i].chosen)
			paxos_learn(p, m->entries[i].slot, m->entries[i].ballot,
			    &m->entries[i].value);
	if (p->chosen > before && p->chosen < m->commit)
		paxos_request_catchup(p, m->from, true);
}

static void
paxos_rx_reset(struct paxos *p)
{
	paxos_buf_free(&p->rx);
	p->rx_index = p->rx_total = 0;
	p->rx_from = 0;
}

/* Appends one chunk of a snapshot; true once the whole of it is in p->rx. */
static bool
paxos_rx_chunk(struct paxos *p, const struct paxos_msg *m)
{
	/*
	 * One sender at a time: two replicas' snapshots (of different
	 * indexes) restarted each other's transfer at every first chunk, and
	 * each stray chunk asked its sender again, so neither ever ended.
	 * Another sender takes over only once ours has been silent a lease.
	 */
	bool ours = p->rx_index == 0 || m->from == p->rx_from ||
		    p->now >= p->rx_heard + p->cfg.lease_ms;

	if (m->seq == 0 && ours) {
		paxos_rx_reset(p);
		p->rx_index = m->slot;
		p->rx_total = m->trunc;
		p->rx_from = m->from;
	} else if (m->slot != p->rx_index || m->seq != p->rx.len || m->from != p->rx_from) {
		/* Not the chunk we asked for (late, of an older snapshot, or
		 * from another sender, whose bytes we never splice into ours):
		 * ask ours again for the one we need. */
		if (m->from == p->rx_from)
			paxos_request_catchup(p, m->from, true);
		return false;
	}
	p->rx_heard = p->now;
	if (m->data.len > p->rx_total - p->rx.len) {
		paxos_rx_reset(p); /* more bytes than announced: start over */
		return false;
	}
	p->rx.data = xrealloc(p->rx.data, p->rx.len + m->data.len + 1);
	if (m->data.len > 0)
		memcpy(p->rx.data + p->rx.len, m->data.data, m->data.len);
	p->rx.len += m->data.len;
	if (p->rx.len < p->rx_total) {
		paxos_request_catchup(p, m->from, true);
		return false;
	}
	return true;
}

static void
paxos_on_snapshot(struct paxos *p, const struct paxos_msg *m)
{
	struct paxos_action *act;
	struct paxos_buf whole;
	struct paxos_conf c;

	if (m->slot <= p->chosen)
		return;
	if (!paxos_rx_chunk(p, m))
		return;
	whole = p->rx; /* taken over below, freed at the end */
	p->rx.data = NULL;
	p->rx.len = 0;
	paxos_rx_reset(p);
	paxos_log_drop(p, m->slot);
	if (p->nlog == 0)
		p->base = m->slot + 1;
	paxos_buf_free(&p->snap);
	paxos_buf_copy(&p->snap, &whole);
	p->snap_index = p->snap_asked = m->slot;
	p->chosen = p->applied = m->slot;
	/* The configuration the snapshot ends in (none: the sender did not
	 * know it either, and we keep ours). */
	p->nhist = 0;
	memset(&p->snap_conf, 0, sizeof p->snap_conf);
	if (m->nentries > 0 && paxos_conf_decode(&m->entries[0].value, &c) && c.nvoters > 0) {
		p->snap_conf = c;
		paxos_conf_set(p, &c);
	}
	p->cur.set_snapshot = true;
	p->cur.snap_index = m->slot;
	p->cur.snap_conf = p->snap_conf;
	paxos_buf_free(&p->cur.snap);
	paxos_buf_copy(&p->cur.snap, &whole);
	p->cur.truncate_upto = m->slot;
	p->dirty = true;
	act = paxos_emit(p, PAXOS_ACT_INSTALL_SNAPSHOT);
	act->index = m->slot;
	paxos_buf_copy(&act->value, &whole);
	paxos_advance(p);
	if (p->chosen < m->commit)
		paxos_request_catchup(p, m->from, true);
	paxos_buf_free(&whole);
}

static void
paxos_receive(struct paxos *p, const struct paxos_msg *m)
{
	/* From anyone: a replica not (yet) in our configuration may be its
	 * master (we are joining) or a member we have not learnt of; only
	 * members of the configuration count toward any majority. */
	if (m->to != p->cfg.id || m->from == 0 || m->from > 255)
		return;
	/* A pre-vote's ballot is hypothetical: it raises nobody's rounds. */
	if (m->type != PAXOS_MSG_PRE_PREPARE && m->type != PAXOS_MSG_PRE_PROMISE &&
	    m->type != PAXOS_MSG_TIMEOUT_NOW)
		paxos_observe(p, m->ballot);
	switch (m->type) {
	case PAXOS_MSG_PREPARE:
		paxos_on_prepare(p, m);
		break;
	case PAXOS_MSG_PROMISE:
		paxos_on_promise(p, m);
		break;
	case PAXOS_MSG_ACCEPT:
		paxos_on_accept(p, m);
		break;
	case PAXOS_MSG_ACCEPTED:
		paxos_on_accepted(p, m);
		break;
	case PAXOS_MSG_REJECT:
		paxos_on_reject(p, m);
		break;
	case PAXOS_MSG_HEARTBEAT:
		paxos_on_heartbeat(p, m);
		break;
	case PAXOS_MSG_HEARTBEAT_ACK:
		paxos_on_heartbeat_ack(p, m);
		break;
	case PAXOS_MSG_CATCHUP_REQ:
		paxos_on_catchup_req(p, m);
		break;
	case PAXOS_MSG_CATCHUP:
		paxos_on_catchup(p, m);
		break;
	case PAXOS_MSG_SNAPSHOT:
		paxos_on_snapshot(p, m);
		break;
	case PAXOS_MSG_PRE_PREPARE:
		paxos_on_pre_prepare(p, m);
		break;
	case PAXOS_MSG_PRE_PROMISE:
		paxos_on_pre_promise(p, m);
		break;
	case PAXOS_MSG_TIMEOUT_NOW:
		paxos_on_timeout_now(p, m);
		break;
	}
}

/* ---- membership changes ---------------------------------------------- */

/*
 * The master may propose a change now: it serves, nothing else is in
 * flight, and its lease was granted by a majority of the current
 * configuration (a lease request sent after it took effect), so that a
 * lease counted in the configuration before it has ended and any Phase 1
 * of the new one meets the majority that granted ours (docs/PAXOS.md
 * "Membership", leases).
 */
static int
paxos_may_change(const struct paxos *p)
{
	if (p->role != PAXOS_MASTER)
		return CHUBBY_E_NOT_MASTER;
	if (p->pend_slot != 0 || p->ho_target != 0)
		return CHUBBY_E_BUSY;
	if (!paxos_is_master_with_lease(p, p->now) || p->lease_sent < p->conf_at)
		return CHUBBY_E_UNAVAILABLE;
	return CHUBBY_OK;
}

static void
paxos_propose_conf(struct paxos *p, const struct paxos_conf *c)
{
	struct paxos_buf v;

	if (p->next_slot <= p->chosen)
		p->next_slot = p->chosen + 1;
	paxos_conf_encode(c, &v);
	paxos_propose(p, p->next_slot, &v);
}

static void
paxos_conf_drop(unsigned *ids, unsigned *n, unsigned id)
{
	unsigned i, j;

	for (i = j = 0; i < *n; i++)
		if (ids[i] != id)
			ids[j++] = ids[i];
	*n = j;
}

/* PAXOS_EV_MEMBERS: one replica in or out, one change at a time. */
static int
paxos_change(struct paxos *p, unsigned op, unsigned id)
{
	struct paxos_conf c = p->conf;
	struct paxos_idset heard;
	unsigned i;
	int rc;

	memset(&heard, 0, sizeof heard);
	paxos_ids_add(&heard, p->cfg.id);
	for (i = 1; i < 256; i++)
		if (p->peer_heard[i] != 0 && p->peer_heard[i] + p->cfg.lease_ms > p->now)
			paxos_ids_add(&heard, i);
	if (id == 0 || id > 255 || (op != PAXOS_MEMBER_ADD && op != PAXOS_MEMBER_REMOVE))
		return CHUBBY_E_INVALID;
	/* A learner being added is the change in flight until promoted; only
	 * its removal (giving up an add that does not catch up) may pass. */
	if (p->role == PAXOS_MASTER && c.nlearners > 0 &&
	    !(op == PAXOS_MEMBER_REMOVE && paxos_conf_has_learner(&c, id)))
		return CHUBBY_E_BUSY;
	if ((rc = paxos_may_change(p)) != CHUBBY_OK)
		return rc;
	if (op == PAXOS_MEMBER_ADD) {
		if (paxos_conf_has_voter(&c, id) || c.nvoters >= PAXOS_MAX_MEMBERS)
			return CHUBBY_E_INVALID;
		c.learners[c.nlearners++] = id;
	} else if (paxos_conf_has_learner(&c, id)) {
		paxos_conf_drop(c.learners, &c.nlearners, id);
	} else {
		if (!paxos_conf_has_voter(&c, id) || c.nvoters == 1)
			return CHUBBY_E_INVALID;
		paxos_conf_drop(c.voters, &c.nvoters, id);
		/* etcd's strict reconfiguration check: the voters left must
		 * include a majority that answer (granted us a lease within
		 * one), or the cell would stop, with nobody able to catch a
		 * wiped or lagging member up. */
		if (!paxos_quorum(&c, &heard))
			return CHUBBY_E_UNAVAILABLE;
	}
	paxos_propose_conf(p, &c);
	return CHUBBY_OK;
}

/*
 * Master tick: a learner whose log is within catchup_max slots of ours (one
 * CATCHUP away), as its last lease grant in this term said, becomes a
 * voter: a new member counts toward majorities only once it can keep up
 * (etcd's learner promotion, ZooKeeper's observer-to-participant).
 */
/* The learner paxos_promote would promote now, or 0.  Also asked by
 * paxos_next_deadline, so the two cannot disagree. */
static unsigned
paxos_promotable(const struct paxos *p)
{
	const struct paxos_conf *c = &p->conf;
	unsigned i, id;

	if (c->nlearners == 0 || paxos_may_change(p) != CHUBBY_OK ||
	    c->nvoters >= PAXOS_MAX_MEMBERS)
		return 0;
	for (i = 0; i < c->nlearners; i++) {
		id = c->learners[i];
		if (p->peer_heard[id] == 0 || p->peer_chosen[id] + p->cfg.catchup_max < p->chosen)
			continue;
		return id;
	}
	return 0;
}

static void
paxos_promote(struct paxos *p)
{
	struct paxos_conf c = p->conf;
	unsigned id = paxos_promotable(p);

	if (id == 0)
		return;
	paxos_conf_drop(c.learners, &c.nlearners, id);
	c.voters[c.nvoters++] = id;
	paxos_propose_conf(p, &c);
}

/* ---- time ------------------------------------------------------------- */

static void
paxos_tick(struct paxos *p)
{
	struct paxos_slot *sl;
	struct paxos_idset to = paxos_audience(p);
	uint64_t s;
	unsigned id;

	switch (p->role) {
	case PAXOS_MASTER:
		/*
		 * Check-quorum (etcd's CheckQuorum): a master no majority has
		 * answered for a whole lease stops being one.  It no longer
		 * serves anyway (its lease ran out); stepping down stops its
		 * heartbeats, so acceptors that still hear it but cannot reach
		 * it back (a one-way link) let their grants run out and elect
		 * someone a majority can hear, instead of following it forever.
		 * It waits two leases, not one: a master whose lease lapsed
		 * (a majority briefly slow or stopped) and that is answered
		 * again keeps its ballot, and a new epoch would cost every
		 * client a fail-over.  And only time spent asking counts: a
		 * master paused (SIGSTOP, a stalled VM) asks again when it runs,
		 * so it also needs two leases' worth of unanswered requests,
		 * which it sends only while running.  A master handing off
		 * stops asking on purpose and steps down a lease after the last
		 * answer.
		 */
		if (p->ho_stopped ? p->now >= p->quorum_at + p->cfg.lease_ms
				  : p->now >= p->quorum_at + 2 * p->cfg.lease_ms &&
				      p->hb_unanswered * p->cfg.heartbeat_ms >=
					  2 * p->cfg.lease_ms) {
			paxos_become_follower(p);
			break;
		}
		if (p->ho_target != 0 && paxos_handoff_tick(p))
			break;
		if (p->now >= p->hb_at)
			paxos_heartbeat(p);
		/* Retransmit ACCEPTs the acceptors have not answered. */
		for (s = p->chosen + 1; s < p->next_slot; s++) {
			sl = paxos_slot_peek(p, s);
			if (sl == NULL || sl->chosen || sl->prop_ballot != p->ballot ||
			    p->now < sl->sent_at + p->cfg.heartbeat_ms)
				continue;
			sl->sent_at = p->now;
			for (id = 1; id < 256; id++)
				if (id != p->cfg.id && paxos_ids_has(&to, id) &&
				    !paxos_ids_has(&sl->acks, id))
					paxos_send_accept(p, id, s, sl);
		}
		paxos_promote(p);
		paxos_try_propose(p);
		break;
	case PAXOS_CANDIDATE:
		if (p->now >= p->p1_deadline) {
			paxos_become_follower(p);
			break;
		}
		if (p->now >= p->p1_resend_at) {
			p->p1_resend_at = p->now + p->cfg.heartbeat_ms;
			for (id = 1; id < 256; id++)
				if (id != p->cfg.id && paxos_ids_has(&to, id) &&
				    !paxos_ids_has(&p->promises, id))
					paxos_send_prepare(p, id);
		}
		break;
	case PAXOS_FOLLOWER:
		/* A replica that sees a valid lease holder does not campaign:
		 * our own grant (lease_until) must have run out first. */
		if (paxos_votes(p) && p->now >= p->election_at && p->now >= p->lease_until &&
		    p->now >= p->quiet_until)
			paxos_prevote(p);
		break;
	}
	paxos_check_rejoin(p);
}

/* ---- deadlines --------------------------------------------------------- */

static void
paxos_due(uint64_t *at, uint64_t t)
{
	if (t < *at)
		*at = t;
}

/*
 * The earliest local time at which a TICK would do anything: the mirror of
 * paxos_tick, condition for condition (keep them together).  A tick before
 * it does nothing, so a shell may sleep until then, or until its next
 * event, and lose no timing: elections, heartbeats and resends happen
 * when they would with a tick every millisecond.  Conditions on state
 * alone (a queue waiting for the pipeline, a hand-off target caught up)
 * are due now, as a tick would act on them now.
 */
uint64_t
paxos_next_deadline(const struct paxos *p)
{
	uint64_t at = PAXOS_NO_DEADLINE, s;
	const struct paxos_slot *sl;

	if (!p->started)
		return at;
	switch (p->role) {
	case PAXOS_MASTER:
		if (p->ho_stopped) {
			paxos_due(&at, p->quorum_at + p->cfg.lease_ms);
		} else if (p->hb_unanswered * p->cfg.heartbeat_ms >= 2 * p->cfg.lease_ms) {
			/* hb_unanswered grows only at a heartbeat, itself a deadline. */
			paxos_due(&at, p->quorum_at + 2 * p->cfg.lease_ms);
		}
		if (p->ho_target != 0) {
			if (!p->ho_stopped) {
				if (p->peer_chosen[p->ho_target & 0xff] >= p->chosen &&
				    p->next_slot == p->chosen + 1)
					paxos_due(&at, p->now);
				else
					paxos_due(&at, p->ho_deadline);
			} else {
				paxos_due(&at, p->ho_sent_at == 0 ? p->now
								  : p->ho_sent_at + p->cfg.heartbeat_ms);
				break; /* stopped: no heartbeat, resend or proposal */
			}
		}
		paxos_due(&at, p->hb_at);
		for (s = p->chosen + 1; s < p->next_slot; s++) {
			sl = paxos_slot_peek(p, s);
			if (sl == NULL || sl->chosen || sl->prop_ballot != p->ballot)
				continue;
			paxos_due(&at, sl->sent_at + p->cfg.heartbeat_ms);
		}
		/* A configuration value not yet in the chosen prefix holds
		 * every later proposal (pend_slot): that waits for an answer,
		 * not a time. */
		if (p->ho_target == 0 && p->pend_slot == 0 && p->nqueue > 0 &&
		    (p->next_slot <= p->chosen ? 0 : p->next_slot - 1 - p->chosen) <
			p->cfg.pipeline_max)
			paxos_due(&at, p->now);
		/* paxos_repropose: a new master's re-proposals stopped at a
		 * configuration chosen beyond its prefix (pend_slot) go on at
		 * the next tick once the prefix reached it (a message). */
		if (p->ho_target == 0 && p->noop_slot == 0 && p->pend_slot == 0)
			paxos_due(&at, p->now);
		/* paxos_promote: a learner caught up is promoted at the next
		 * tick (its catching up is a message, not a time). */
		if (paxos_promotable(p) != 0)
			paxos_due(&at, p->now);
		/* Not a tick's work, but the shell's: serving stops then. */
		if (p->lease_expiry > p->now)
			paxos_due(&at, p->lease_expiry);
		break;
	case PAXOS_CANDIDATE:
		paxos_due(&at, p->p1_deadline);
		paxos_due(&at, p->p1_resend_at);
		break;
	case PAXOS_FOLLOWER:
		/* As paxos_tick: a learner (or a replica outside the
		 * configuration) never campaigns. */
		if (paxos_votes(p)) {
			s = p->election_at;
			if (p->lease_until > s)
				s = p->lease_until;
			if (p->quiet_until > s)
				s = p->quiet_until;
			paxos_due(&at, s);
		}
		break;
	}
	/* paxos_check_rejoin: the rest of its condition changes only with
	 * events, which recheck it themselves. */
	if (!p->voter &&
	    ((p->conf.nvoters <= 1 && !p->state_lost) ||
		(p->rejoin_slot != 0 && p->chosen >= p->rejoin_slot)))
		paxos_due(&at, p->quiet_until);
	if (SIM_KNOB(SIM_KNOB_PX_LATE_DEADLINE) && at != PAXOS_NO_DEADLINE)
		at += p->cfg.heartbeat_ms;
	return at < p->now ? p->now : at;
}

/* ---- start ------------------------------------------------------------ */

static void
paxos_start(struct paxos *p, const struct paxos_durable *d, bool state_lost)
{
	struct paxos_action *act;
	struct paxos_slot *sl;
	uint64_t lowest;
	size_t i;

	p->started = true;
	p->voter = true;
	p->base = 1;
	if (d != NULL && !state_lost) {
		if (d->snap_conf.nvoters > 0) {
			p->snap_conf = p->conf = d->snap_conf;
			p->conf_known = true;
		}
		p->promised = d->promised;
		p->max_seen = d->promised;
		p->voter = !d->nonvoter;
		/* Still waiting to rejoin after a lost store (the flag is
		 * synced only then): as lost as at that start. */
		p->state_lost = d->nonvoter;
		if (d->snap_index > 0) {
			lowest = d->snap_index + 1;
			for (i = 0; i < d->nentries; i++)
				if (d->entries[i].slot < lowest)
					lowest = d->entries[i].slot;
			p->base = lowest;
			p->snap_index = p->snap_asked = d->snap_index;
			paxos_buf_copy(&p->snap, &d->snap);
		}
		for (i = 0; i < d->nentries; i++) {
			const struct paxos_entry *e = &d->entries[i];
			if ((sl = paxos_slot_get(p, e->slot)) == NULL)
				continue;
			sl->has_acc = true;
			sl->acc_ballot = e->ballot;
			paxos_buf_copy(&sl->acc_value, &e->value);
			sl->chosen = e->chosen || e->slot <= d->snap_index ||
			    e->slot <= d->applied || e->slot <= d->chosen;
		}
		/* Slots the snapshot covers are chosen whether or not the log keeps them. */
		p->chosen = p->applied = p->base - 1;
		if (d->applied >= d->snap_index && d->applied > 0) {
			/* The state machine kept its own state up to d->applied. */
			while ((sl = paxos_slot_peek(p, p->chosen + 1)) != NULL && sl->chosen &&
			    p->chosen < d->applied)
				p->chosen++;
			if (d->snap_index > p->chosen)
				p->chosen = d->snap_index;
			p->applied = p->chosen;
		} else if (d->snap_index > 0) {
			act = paxos_emit(p, PAXOS_ACT_INSTALL_SNAPSHOT);
			act->index = d->snap_index;
			paxos_buf_copy(&act->value, &d->snap);
			/* Log slots below the snapshot are chosen and covered by it. */
			p->chosen = p->applied = d->snap_index;
		}
		/* The configuration: the snapshot's, then the log's after it. */
		for (i = d->snap_index + 1; i <= p->chosen; i++)
			if ((sl = paxos_slot_peek(p, i)) != NULL)
				paxos_conf_chosen(p, i, &sl->acc_value);
	}
	if (state_lost && !SIM_KNOB(SIM_KNOB_PX_WIPED_VOTES)) {
		/* Paxos Made Live §5.1: we may have made promises we no longer
		 * remember; do not vote until caught up. */
		p->state_lost = true;
		p->voter = false;
		p->cur.set_nonvoter = true;
		p->cur.nonvoter = true;
		p->dirty = true;
		p->vouch_token = p->token_issued + 1;
	}
	/* We may have granted a lease we no longer remember: no promises for
	 * one lease period (Paxos Made Live §5.2, Chubby §2.9).  Every grant
	 * persists a promised ballot before its acknowledgement leaves
	 * (paxos_accept_ballot), so a store that kept its state and promised
	 * nothing never granted a lease: a brand-new cell need not wait. */
	if ((!state_lost && (d == NULL || d->promised == 0)) || SIM_KNOB(SIM_KNOB_PX_NO_QUIET))
		p->quiet_until = p->now;
	else
		p->quiet_until = p->now + p->cfg.lease_ms;
	p->election_at = p->quiet_until + paxos_election_wait(p);
	p->role = PAXOS_FOLLOWER;
	paxos_advance(p);
}

/* ---- public ----------------------------------------------------------- */

struct paxos *
paxos_new(const struct paxos_config *cfg)
{
	struct paxos *p;
	unsigned i, j;

	if (cfg->nmembers == 0 || cfg->nmembers > PAXOS_MAX_MEMBERS || cfg->id == 0 ||
	    cfg->id > 255 || cfg->lease_ms == 0 || cfg->heartbeat_ms == 0 ||
	    cfg->heartbeat_ms >= cfg->lease_ms || cfg->election_max_ms < cfg->election_min_ms ||
	    cfg->pipeline_max == 0 || cfg->batch_max_count == 0 || cfg->catchup_max == 0 ||
	    cfg->snapshot_chunk == 0 ||
	    cfg->drift_ppm >= 250000 || cfg->lease_ms * 2 * cfg->drift_ppm / 1000000 +
	    cfg->margin_ms >= cfg->lease_ms)
		return NULL;
	for (i = 0; i < cfg->nmembers; i++) {
		if (cfg->members[i] == 0 || cfg->members[i] > 255)
			return NULL;
		for (j = 0; j < i; j++)
			if (cfg->members[j] == cfg->members[i])
				return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->cfg = *cfg;
	/* Slot 1's configuration; a replica not in it is a learner until the
	 * log says otherwise, one that joins knows nothing yet. */
	p->conf.nvoters = cfg->nmembers;
	memcpy(p->conf.voters, cfg->members, cfg->nmembers * sizeof *cfg->members);
	p->conf_known = !cfg->join;
	if (p->conf_known)
		p->snap_conf = p->conf;
	p->rng = cfg->seed ^ ((uint64_t)cfg->id << 56);
	p->base = 1;
	return p;
}

void
paxos_free(struct paxos *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nlog; i++)
		paxos_slot_free(&p->log[i]);
	free(p->log);
	paxos_buf_free(&p->rx);
	for (i = 0; i < p->nqueue; i++)
		paxos_buf_free(&p->queue[i]);
	free(p->queue);
	for (i = 0; i < p->nout; i++)
		paxos_msg_free(&p->outbox[i].msg);
	free(p->outbox);
	paxos_persist_free(&p->cur);
	paxos_buf_free(&p->snap);
	free(p->hist);
	free(p);
}

int
paxos_step(struct paxos *p, const struct paxos_event *ev, struct paxos_actions *out)
{
	int rc = CHUBBY_OK;

	if (!p->started && ev->type != PAXOS_EV_START)
		return CHUBBY_E_INVALID;
	if (ev->now > p->now)
		p->now = ev->now;
	p->out = out;
	switch (ev->type) {
	case PAXOS_EV_START:
		if (p->started) {
			rc = CHUBBY_E_INVALID;
			break;
		}
		paxos_start(p, ev->durable, ev->state_lost);
		break;
	case PAXOS_EV_TICK:
		paxos_tick(p);
		break;
	case PAXOS_EV_RECEIVE:
		if (ev->msg == NULL || ev->msg->from == p->cfg.id) {
			rc = CHUBBY_E_INVALID;
			break;
		}
		paxos_receive(p, ev->msg);
		break;
	case PAXOS_EV_PERSISTED:
		if (ev->token > p->token_done && ev->token <= p->token_issued)
			p->token_done = ev->token;
		/* Our PREPAREs leave only now: Phase 1's time starts now. */
		if (p->role == PAXOS_CANDIDATE && p->p1_token != 0 && p->token_done >= p->p1_token) {
			p->p1_token = 0;
			if (p->p1_deadline < p->now + p->p1_span)
				p->p1_deadline = p->now + p->p1_span;
		}
		break;
	case PAXOS_EV_PROPOSE:
		if (p->role != PAXOS_MASTER) {
			rc = CHUBBY_E_NOT_MASTER;
			break;
		}
		if (p->nqueue >= p->cfg.queue_max) {
			rc = CHUBBY_E_OVERLOAD;
			break;
		}
		if (p->nqueue == p->capqueue) {
			p->capqueue = p->capqueue == 0 ? 16 : p->capqueue * 2;
			p->queue = xrealloc(p->queue, p->capqueue * sizeof *p->queue);
		}
		paxos_buf_set(&p->queue[p->nqueue++], ev->data, ev->len);
		if (!p->cfg.propose_on_flush)
			paxos_try_propose(p);
		break;
	case PAXOS_EV_FLUSH:
		paxos_try_propose(p);
		break;
	case PAXOS_EV_HANDOFF:
		rc = paxos_handoff(p, (unsigned)ev->index);
		break;
	case PAXOS_EV_MEMBERS:
		rc = ev->index > 255 ? CHUBBY_E_INVALID :
		    paxos_change(p, (unsigned)ev->token, (unsigned)ev->index);
		break;
	case PAXOS_EV_SNAPSHOT_TAKEN:
		if (ev->index <= p->snap_index || ev->index > p->applied) {
			rc = CHUBBY_E_INVALID;
			break;
		}
		paxos_buf_free(&p->snap);
		paxos_buf_set(&p->snap, ev->data, ev->len);
		p->snap_index = ev->index;
		paxos_conf_snapshot(p, ev->index);
		p->cur.set_snapshot = true;
		p->cur.snap_index = ev->index;
		p->cur.snap_conf = p->snap_conf;
		paxos_buf_free(&p->cur.snap);
		paxos_buf_set(&p->cur.snap, ev->data, ev->len);
		p->dirty = true;
		if (ev->index > p->cfg.log_keep && ev->index - p->cfg.log_keep >= p->base) {
			/* Keep log_keep slots so a slightly lagging replica
			 * catches up from the log, not a whole snapshot. */
			paxos_log_drop(p, ev->index - p->cfg.log_keep);
			p->cur.truncate_upto = ev->index - p->cfg.log_keep;
		}
		break;
	default:
		rc = CHUBBY_E_INVALID;
		break;
	}
	paxos_end_step(p);
	p->out = NULL;
	return rc;
}

bool
paxos_is_master_with_lease(const struct paxos *p, uint64_t now)
{
	return p->role == PAXOS_MASTER &&
	    ((p->noop_slot != 0 && p->applied >= p->noop_slot) || SIM_KNOB(SIM_KNOB_PX_SERVE_BEFORE_NOOP)) &&
	    now < p->lease_expiry;
}

uint64_t
paxos_lease_expiry(const struct paxos *p)
{
	return p->role == PAXOS_MASTER ? p->lease_expiry : 0;
}

enum paxos_role
paxos_role(const struct paxos *p)
{
	return p->role;
}

paxos_ballot
paxos_epoch(const struct paxos *p)
{
	return p->master_ballot;
}

unsigned
paxos_master(const struct paxos *p)
{
	return p->master_id;
}

paxos_ballot
paxos_promised(const struct paxos *p)
{
	return p->promised;
}

uint64_t
paxos_chosen_index(const struct paxos *p)
{
	return p->chosen;
}

uint64_t
paxos_applied_index(const struct paxos *p)
{
	return p->applied;
}

bool
paxos_is_voter(const struct paxos *p)
{
	return p->voter;
}

bool
paxos_peer_progress(const struct paxos *p, unsigned id, uint64_t *chosen, uint64_t *heard)
{
	if (p->role != PAXOS_MASTER || id == 0 || id > 255 || id == p->cfg.id ||
	    p->peer_heard[id] == 0)
		return false;
	*chosen = p->peer_chosen[id];
	*heard = p->peer_heard[id];
	return true;
}

const struct paxos_conf *
paxos_conf(const struct paxos *p)
{
	return &p->conf;
}

bool
paxos_conf_changing(const struct paxos *p)
{
	return p->pend_slot != 0 || p->conf.nlearners > 0;
}

unsigned
paxos_handoff_target(const struct paxos *p)
{
	return p->role == PAXOS_MASTER ? p->ho_target : 0;
}
