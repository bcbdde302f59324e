/*
 * sim.c: the deterministic Paxos simulator (after canonical/raft's fixture,
 * FoundationDB's simulation and TigerBeetle's VOPR): whole cells on a virtual
 * clock from one seed, with safety invariants checked after every step.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "paxos.h"
#include "sim.h"
#include "simknob.h"
#include "simlib.h"

#define SIM_TRACE 48
#define SIM_TICK_MS 10

/* ---- PRNG: tests/simlib's (splitmix64 seeds xoshiro256**) -------------- */

static uint64_t
sim_rand(struct simrng *r)
{
	return simrng_next(r);
}

/* Uniform in [0, n). */
static uint64_t
sim_below(struct simrng *r, uint64_t n)
{
	return simrng_below(r, n);
}

/* True with probability num / den. */
static bool
sim_chance(struct simrng *r, uint64_t num, uint64_t den)
{
	return simrng_chance(r, num, den);
}

/* ---- structures ------------------------------------------------------- */

/* A store that lies: writes are durable only once synced (LevelDB's fault_injection_test). */
struct sim_store {
	paxos_ballot promised;
	bool nonvoter;
	uint64_t snap_index;
	struct paxos_buf snap;
	struct paxos_conf snap_conf;
	struct paxos_entry *entries; /* sorted by slot */
	size_t nentries;
	size_t capentries;
	struct paxos_persist *pending; /* written, not yet synced: lost on a crash */
	uint64_t chosen_upto; /* synced: every slot <= it chosen (a restart hint) */
	size_t npending;
	size_t cappending;
	uint64_t last_done;
};

/* The replicated state machine: a hash chain over applied slots. */
struct sim_sm {
	uint64_t applied;
	uint64_t digest;
	uint64_t ncmds;
};

struct sim_ev;

struct sim_replica {
	unsigned id;
	struct paxos *p;
	bool up;
	bool lost; /* store wiped: the next start says state_lost */
	unsigned incarnation;
	int64_t drift_ppm;
	uint64_t clock_base;
	uint64_t next_tick;
	struct sim_store st;
	struct sim_sm sm;
	paxos_ballot max_promised; /* invariant 4 */
	bool flush_due; /* PROPOSEs queued, FLUSH not fed yet (propose_on_flush) */
	uint64_t stall_until; /* its loop is stopped until then (sim_set_lag) */
	struct sim_ev *held;  /* what came for it meanwhile, in order */
	size_t nheld, capheld;
};

enum sim_ev_type {
	SIM_EV_MSG = 1,
	SIM_EV_SYNC,
	SIM_EV_SNAP,
};

struct sim_ev {
	uint64_t at;
	uint64_t seq;
	enum sim_ev_type type;
	unsigned to;
	unsigned incarnation;
	uint64_t index;
	struct paxos_msg msg;
	struct paxos_buf data;
};

/* What the simulator knows about a slot from every store's synced writes. */
struct sim_acc {
	paxos_ballot ballot;
	struct paxos_buf value;
	uint32_t who;
};

struct sim_slot {
	bool chosen;
	paxos_ballot chosen_ballot; /* the first ballot a majority accepted it in */
	struct paxos_buf value;
	struct sim_acc *acc;
	size_t nacc;
};

struct sim {
	struct sim_opts o;
	struct simrng rng;
	uint64_t now;
	uint64_t steps;
	size_t last_nacts; /* actions of the latest sim_step */
	bool failed;
	bool whole_run; /* sim_run_seed's: its options alone replay it */
	struct paxos_config pcfg;
	struct sim_replica r[SIM_MAX_REPLICAS];
	unsigned n;

	/* Network. */
	struct simheap heap; /* of struct sim_ev (tests/simlib) */
	bool cut[SIM_MAX_REPLICAS][SIM_MAX_REPLICAS];
	unsigned extra_delay[SIM_MAX_REPLICAS][SIM_MAX_REPLICAS];
	unsigned drop_pct;
	unsigned dup_pct;
	unsigned max_delay;
	unsigned lag_max; /* sim_set_lag */
	int fault_level;

	/* Global knowledge for the invariants. */
	struct sim_slot *slots;
	size_t nslots;
	/* Configurations chosen, in slot order: slot 0's is the first. */
	struct {
		uint64_t slot;
		struct paxos_conf c;
	} confs[256];
	unsigned nconfs;
	uint64_t n_changes;
	uint64_t *digest_at; /* digest after applying slot i (0: nobody yet) */
	size_t ndigest;
	paxos_ballot last_serving;
	unsigned last_master;

	/* Client. */
	uint64_t next_cmd;
	uint64_t acked;
	uint64_t max_acked_slot;

	/* What a run exercised. */
	uint64_t n_masters, n_crashes, n_wipes, n_installs, n_partitions;
	uint64_t n_lapses;
	bool was_serving;
	unsigned sync_max; /* syncs take 0..sync_max ms */

	char trace[SIM_TRACE][160];
	unsigned ntrace;
};

static void sim_actions(struct sim *, struct sim_replica *, struct paxos_actions *);

/* ---- trace and failure ------------------------------------------------ */

static void __attribute__((format(printf, 2, 3)))
sim_trace(struct sim *s, const char *fmt, ...)
{
	char *line = s->trace[s->ntrace++ % SIM_TRACE];
	va_list ap;

	va_start(ap, fmt);
	simtrace_format(line, sizeof s->trace[0], s->now, fmt, ap);
	va_end(ap);
	if (s->o.verbose)
		fprintf(stderr, "%s\n", line);
}

static void __attribute__((format(printf, 2, 3)))
sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	unsigned i, first;

	if (s->failed)
		return;
	s->failed = true;
	fprintf(stderr, "SIM FAILURE seed=%" PRIu64 " replicas=%u faults=%d step=%" PRIu64
	    " t=%" PRIu64 "ms: ", s->o.seed, s->n, s->o.faults, s->steps, s->now);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (s->whole_run) {
		char args[512];

		sim_opts_format(&s->o, args, sizeof args);
		fprintf(stderr, "\n  replay: tests/sim/chubby-sim %s --verbose"
		    "\n  regress: %s   (add this line to tests/sim/regress-seeds)", args, args);
	} else
		fprintf(stderr, "\n  replay: this scenario of test_sim with the same CHUBBY_TEST_SEED");
	fprintf(stderr, "\n  trace tail:\n");
	first = s->ntrace > SIM_TRACE ? s->ntrace - SIM_TRACE : 0;
	for (i = first; i < s->ntrace; i++)
		fprintf(stderr, "    %s\n", s->trace[i % SIM_TRACE]);
}

/* ---- clocks ----------------------------------------------------------- */

/* Replica clocks run at 1 +- drift_ppm of real time, from different bases. */
static uint64_t
sim_local(const struct sim_replica *r, uint64_t t)
{
	int64_t skew = ((int64_t)t * r->drift_ppm) / 1000000;

	return r->clock_base + (uint64_t)((int64_t)t + skew);
}

/* ---- event heap (tests/simlib) ----------------------------------------- */

static void
sim_push(struct sim *s, struct sim_ev *ev)
{
	simheap_push(&s->heap, ev);
}

/* ---- the state machine ------------------------------------------------ */

static uint64_t
sim_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void
sim_sm_apply(struct sim_sm *sm, uint64_t slot, const struct paxos_buf *v)
{
	sm->applied = slot;
	sm->digest = sim_hash(sm->digest ^ slot, v->data, v->len) + 0x9e3779b97f4a7c15ULL;
	sm->ncmds += paxos_batch_count(v);
}

static void
sim_sm_snapshot(const struct sim_sm *sm, struct paxos_buf *out)
{
	paxos_buf_set(out, sm, sizeof *sm);
}

static bool
sim_sm_restore(struct sim_sm *sm, const struct paxos_buf *b)
{
	if (b->len != sizeof *sm)
		return false;
	memcpy(sm, b->data, sizeof *sm);
	return true;
}

/* ---- global knowledge: invariants 1 and 3 ----------------------------- */

static struct sim_slot *
sim_slot(struct sim *s, uint64_t slot)
{
	size_t need = (size_t)slot + 1;

	if (need > s->nslots) {
		size_t cap = s->nslots == 0 ? 256 : s->nslots;
		while (cap < need)
			cap *= 2;
		s->slots = xrealloc(s->slots, cap * sizeof *s->slots);
		memset(s->slots + s->nslots, 0, (cap - s->nslots) * sizeof *s->slots);
		s->nslots = cap;
	}
	return &s->slots[slot];
}

/* The configuration slot SLOT is chosen in: the last one chosen before it. */
static const struct paxos_conf *
sim_conf_of(const struct sim *s, uint64_t slot)
{
	unsigned i = s->nconfs;

	while (i > 1 && s->confs[i - 1].slot >= slot)
		i--;
	return &s->confs[i - 1].c;
}

static void sim_count_chosen(struct sim *, uint64_t slot, struct sim_acc *);

/* "1,2,3": C's voters (or learners) for the trace. */
static const char *
sim_ids(const struct paxos_conf *c, bool voters, char *buf, size_t len)
{
	const unsigned *ids = voters ? c->voters : c->learners;
	unsigned i, n = voters ? c->nvoters : c->nlearners;
	size_t o = 0;

	buf[0] = '\0';
	for (i = 0; i < n && o + 5 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", i > 0 ? "," : "", ids[i]);
	return n == 0 ? "-" : buf;
}

/*
 * Slot SLOT was chosen holding a configuration value: it decides the
 * majorities of every later slot.  The master proposes nothing after it
 * before it is chosen, so no later slot can have been chosen by another
 * configuration's majority; what was accepted there is counted again.
 */
static void
sim_conf_chosen(struct sim *s, uint64_t slot, const struct paxos_buf *v)
{
	struct paxos_conf c;
	char vs[40], ls[40];
	uint64_t k;
	size_t i;

	if (!paxos_conf_decode(v, &c) || c.nvoters == 0)
		return;
	if (s->nconfs == sizeof s->confs / sizeof s->confs[0]) {
		sim_fail(s, "too many configuration changes for the simulator");
		return;
	}
	if (s->confs[s->nconfs - 1].slot >= slot) {
		sim_fail(s, "configuration chosen at slot %" PRIu64 " before one at %" PRIu64,
		    slot, s->confs[s->nconfs - 1].slot);
		return;
	}
	s->confs[s->nconfs].slot = slot;
	s->confs[s->nconfs++].c = c;
	s->n_changes++;
	sim_trace(s, "configuration chosen at slot %" PRIu64 ": voters %s, learners %s", slot,
	    sim_ids(&c, true, vs, sizeof vs), sim_ids(&c, false, ls, sizeof ls));
	for (k = slot + 1; k < s->nslots && !s->failed; k++)
		for (i = 0; i < s->slots[k].nacc; i++)
			sim_count_chosen(s, k, &s->slots[k].acc[i]);
}

/* A store synced (slot, ballot, value): count it toward "chosen". */
static void
sim_note_accepted(struct sim *s, unsigned id, const struct paxos_entry *e)
{
	struct sim_slot *sl = sim_slot(s, e->slot);
	struct sim_acc *a = NULL;
	size_t i;

	for (i = 0; i < sl->nacc; i++)
		if (sl->acc[i].ballot == e->ballot)
			a = &sl->acc[i];
	if (a == NULL) {
		sl->acc = xrealloc(sl->acc, (sl->nacc + 1) * sizeof *sl->acc);
		a = &sl->acc[sl->nacc++];
		a->ballot = e->ballot;
		a->who = 0;
		paxos_buf_copy(&a->value, &e->value);
	} else if (!paxos_buf_equal(&a->value, &e->value)) {
		sim_fail(s, "slot %" PRIu64 ": two values accepted in ballot %" PRIx64, e->slot,
		    e->ballot);
		return;
	}
	a->who |= 1u << (id - 1);
	sim_count_chosen(s, e->slot, a);
}

/* Chosen once a majority of the slot's configuration accepted it in one ballot. */
static void
sim_count_chosen(struct sim *s, uint64_t slot, struct sim_acc *a)
{
	struct sim_slot *sl = &s->slots[slot];
	const struct paxos_conf *c = sim_conf_of(s, slot);
	unsigned k, cnt = 0;

	for (k = 0; k < c->nvoters; k++)
		if (a->who & (1u << (c->voters[k] - 1)))
			cnt++;
	if (cnt < c->nvoters / 2 + 1)
		return;
	if (!sl->chosen) {
		sl->chosen = true;
		sl->chosen_ballot = a->ballot;
		paxos_buf_copy(&sl->value, &a->value);
		sim_conf_chosen(s, slot, &sl->value);
	} else if (!paxos_buf_equal(&sl->value, &a->value)) {
		/* Invariant 1: at most one value chosen per slot. */
		sim_fail(s, "slot %" PRIu64 ": a second value chosen (ballot %" PRIx64 ")", slot,
		    a->ballot);
	}
}

/* Invariant 3: equal state digest at equal applied index. */
static void
sim_check_digest(struct sim *s, struct sim_replica *r)
{
	uint64_t i = r->sm.applied;

	if (i >= s->ndigest) {
		size_t cap = s->ndigest == 0 ? 256 : s->ndigest;
		while (cap <= i)
			cap *= 2;
		s->digest_at = xrealloc(s->digest_at, cap * sizeof *s->digest_at);
		memset(s->digest_at + s->ndigest, 0, (cap - s->ndigest) * sizeof *s->digest_at);
		s->ndigest = cap;
	}
	if (s->digest_at[i] == 0)
		s->digest_at[i] = r->sm.digest;
	else if (s->digest_at[i] != r->sm.digest)
		sim_fail(s, "replica %u: digest %" PRIx64 " at applied %" PRIu64 " differs from %" PRIx64,
		    r->id, r->sm.digest, i, s->digest_at[i]);
}

/* ---- stores ----------------------------------------------------------- */

static void
sim_store_upsert(struct sim_store *st, const struct paxos_entry *e)
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
sim_store_drop_pending(struct sim_store *st)
{
	size_t i;

	for (i = 0; i < st->npending; i++)
		paxos_persist_free(&st->pending[i]);
	st->npending = 0;
}

static void
sim_store_wipe(struct sim_store *st)
{
	size_t i;

	sim_store_drop_pending(st);
	for (i = 0; i < st->nentries; i++)
		paxos_entry_free(&st->entries[i]);
	st->nentries = 0;
	paxos_buf_free(&st->snap);
	st->promised = 0;
	st->chosen_upto = 0;
	st->nonvoter = false;
	st->snap_index = 0;
	memset(&st->snap_conf, 0, sizeof st->snap_conf);
}

static void
sim_store_free(struct sim_store *st)
{
	sim_store_wipe(st);
	free(st->entries);
	free(st->pending);
}

/* The oldest pending write reaches the disk. */
static void
sim_store_sync(struct sim *s, struct sim_replica *r, uint64_t token)
{
	struct sim_store *st = &r->st;
	struct paxos_persist *w;
	size_t i, j;

	if (st->npending == 0 || st->pending[0].token != token) {
		sim_fail(s, "replica %u: sync of token %" PRIu64 " out of order", r->id, token);
		return;
	}
	w = &st->pending[0];
	if (w->set_promised) {
		/* Invariant 4, on disk: the promise never goes down. */
		if (w->promised < st->promised)
			sim_fail(s, "replica %u: durable promise %" PRIx64 " lowered to %" PRIx64,
			    r->id, st->promised, w->promised);
		st->promised = w->promised;
	}
	if (w->set_nonvoter) {
		st->nonvoter = w->nonvoter;
		if (w->nonvoter)
			r->lost = false;
	}
	if (w->set_snapshot) {
		paxos_buf_free(&st->snap);
		paxos_buf_copy(&st->snap, &w->snap);
		st->snap_index = w->snap_index;
		st->snap_conf = w->snap_conf;
	}
	if (w->truncate_upto > 0) {
		for (i = 0; i < st->nentries && st->entries[i].slot <= w->truncate_upto; i++)
			paxos_entry_free(&st->entries[i]);
		for (j = 0; i < st->nentries; i++, j++)
			st->entries[j] = st->entries[i];
		st->nentries = j;
	}
	for (i = 0; i < w->nentries; i++) {
		sim_store_upsert(st, &w->entries[i]);
		sim_note_accepted(s, r->id, &w->entries[i]);
	}
	if (w->chosen_upto > st->chosen_upto)
		st->chosen_upto = w->chosen_upto;
	/* A durable chosen mark (flag or chosen_upto) must name the chosen
	 * value: a restart trusts it without asking anyone. */
	for (i = 0; i < st->nentries && !s->failed; i++) {
		const struct paxos_entry *e = &st->entries[i];
		struct sim_slot *sl;
		if (!e->chosen && e->slot > st->chosen_upto)
			continue;
		sl = sim_slot(s, e->slot);
		if (!sl->chosen || !paxos_buf_equal(&sl->value, &e->value))
			sim_fail(s, "replica %u: slot %" PRIu64 " durably marked chosen with a value "
				    "that is not the chosen one", r->id, e->slot);
	}
	paxos_persist_free(w);
	memmove(st->pending, st->pending + 1, (st->npending - 1) * sizeof *st->pending);
	st->npending--;
}

/* ---- driving cores ---------------------------------------------------- */

static int
sim_step(struct sim *s, struct sim_replica *r, struct paxos_event *ev)
{
	struct paxos_actions acts;
	int rc;

	ev->now = sim_local(r, s->now);
	paxos_actions_init(&acts);
	s->steps++;
	rc = paxos_step(r->p, ev, &acts);
	s->last_nacts = acts.n;
	sim_actions(s, r, &acts);
	paxos_actions_free(&acts);
	return rc;
}

static void
sim_send(struct sim *s, struct sim_replica *from, struct paxos_msg *m)
{
	struct sim_ev ev;
	unsigned copies = 1, i;

	if (m->to < 1 || m->to > s->n) {
		sim_fail(s, "replica %u sent to unknown replica %u", from->id, m->to);
		return;
	}
	/*
	 * Invariant 7 (docs/PAXOS.md): a message that speaks for a ballot (a promise, an
	 * acceptance, a lease grant, or the master's own proposals and lease
	 * requests) leaves only once the sender's promise of that ballot is on
	 * disk, and an acceptor's vote only once its non-voter flag is cleared
	 * there: messages may overtake writes they do not depend on
	 * (paxos_send_vouched), never these.
	 */
	switch (m->type) {
	case PAXOS_MSG_PROMISE:
	case PAXOS_MSG_ACCEPTED:
	case PAXOS_MSG_HEARTBEAT_ACK:
		if (from->st.nonvoter && from->id != m->to)
			sim_fail(s, "replica %u sent %s while its store says non-voter", from->id,
			    paxos_msg_type_name(m->type));
		/* fall through */
	case PAXOS_MSG_ACCEPT:
	case PAXOS_MSG_HEARTBEAT:
		if (from->st.promised < m->ballot)
			sim_fail(s, "replica %u sent %s for ballot %" PRIx64 " with %" PRIx64
			    " promised on disk", from->id, paxos_msg_type_name(m->type), m->ballot,
			    from->st.promised);
		break;
	default:
		break;
	}
	if (s->failed)
		return;
	if (s->cut[from->id - 1][m->to - 1] || sim_chance(&s->rng, s->drop_pct, 100))
		return;
	if (sim_chance(&s->rng, s->dup_pct, 100))
		copies = 2;
	for (i = 0; i < copies; i++) {
		memset(&ev, 0, sizeof ev);
		ev.type = SIM_EV_MSG;
		ev.at = s->now + 1 + sim_below(&s->rng, s->max_delay) +
		    s->extra_delay[from->id - 1][m->to - 1];
		ev.to = m->to;
		paxos_msg_copy(&ev.msg, m);
		sim_push(s, &ev);
	}
}

static void
sim_client_ack(struct sim *s, struct sim_replica *r, uint64_t slot, const struct paxos_buf *v)
{
	size_t off = 0, len;
	const uint8_t *cmd;

	/* Only the master tells the client; what it acknowledges must survive. */
	if (paxos_role(r->p) != PAXOS_MASTER)
		return;
	while (paxos_batch_next(v, &off, &cmd, &len)) {
		s->acked++;
		if (slot > s->max_acked_slot)
			s->max_acked_slot = slot;
	}
}

static void
sim_actions(struct sim *s, struct sim_replica *r, struct paxos_actions *acts)
{
	struct paxos_action *a;
	struct sim_slot *sl;
	struct sim_ev ev;
	struct paxos_persist *w;
	struct paxos_conf conf;
	struct paxos_buf noop;
	size_t i;
	bool eq;

	for (i = 0; i < acts->n && !s->failed; i++) {
		a = &acts->v[i];
		switch (a->type) {
		case PAXOS_ACT_SEND:
			sim_send(s, r, &a->msg);
			break;
		case PAXOS_ACT_PERSIST:
			if (r->st.npending == r->st.cappending) {
				r->st.cappending = r->st.cappending == 0 ? 16 : r->st.cappending * 2;
				r->st.pending = xrealloc(r->st.pending,
				    r->st.cappending * sizeof *r->st.pending);
			}
			w = &r->st.pending[r->st.npending++];
			*w = a->persist;
			memset(&a->persist, 0, sizeof a->persist);
			/* Syncs finish in order, after 0..sync_max ms. */
			memset(&ev, 0, sizeof ev);
			ev.type = SIM_EV_SYNC;
			ev.at = s->now + sim_below(&s->rng, s->sync_max + 1);
			if (ev.at < r->st.last_done)
				ev.at = r->st.last_done;
			r->st.last_done = ev.at;
			ev.to = r->id;
			ev.incarnation = r->incarnation;
			ev.index = w->token;
			sim_push(s, &ev);
			break;
		case PAXOS_ACT_APPLY:
			if (a->index != r->sm.applied + 1) {
				sim_fail(s, "replica %u: applied slot %" PRIu64 " after %" PRIu64,
				    r->id, a->index, r->sm.applied);
				break;
			}
			/* Invariant 1: whatever is applied is what a majority accepted. */
			sl = sim_slot(s, a->index);
			if (!sl->chosen) {
				sim_fail(s, "replica %u: applied slot %" PRIu64
				    " that no majority accepted", r->id, a->index);
				break;
			}
			/* A configuration value reaches the state machine as a no-op. */
			if (paxos_conf_decode(&sl->value, &conf)) {
				paxos_batch_init(&noop);
				eq = paxos_buf_equal(&noop, &a->value);
				paxos_buf_free(&noop);
			} else
				eq = paxos_buf_equal(&sl->value, &a->value);
			if (!eq) {
				sim_fail(s, "replica %u: applied another value than the chosen one"
				    " at slot %" PRIu64, r->id, a->index);
				break;
			}
			sim_sm_apply(&r->sm, a->index, &a->value);
			sim_check_digest(s, r);
			sim_client_ack(s, r, a->index, &a->value);
			break;
		case PAXOS_ACT_ROLE:
			sim_trace(s, "r%u role %s epoch %" PRIx64 " master %u", r->id,
			    paxos_role_name(a->role), a->epoch, a->master);
			break;
		case PAXOS_ACT_TAKE_SNAPSHOT:
			if (a->index != r->sm.applied) {
				sim_fail(s, "replica %u: snapshot at %" PRIu64 " but applied %" PRIu64,
				    r->id, a->index, r->sm.applied);
				break;
			}
			/* Taken now, handed back a little later, like a background dump. */
			memset(&ev, 0, sizeof ev);
			ev.type = SIM_EV_SNAP;
			ev.at = s->now + 1 + sim_below(&s->rng, 20);
			ev.to = r->id;
			ev.incarnation = r->incarnation;
			ev.index = a->index;
			sim_sm_snapshot(&r->sm, &ev.data);
			sim_push(s, &ev);
			break;
		case PAXOS_ACT_INSTALL_SNAPSHOT:
			if (!sim_sm_restore(&r->sm, &a->value) || r->sm.applied != a->index) {
				sim_fail(s, "replica %u: bad snapshot for %" PRIu64, r->id, a->index);
				break;
			}
			sim_trace(s, "r%u installed snapshot %" PRIu64, r->id, a->index);
			s->n_installs++;
			sim_check_digest(s, r);
			break;
		}
	}
}

/* ---- invariants after every step -------------------------------------- */

/*
 * A new master serves reads from its applied state, so it must have applied
 * everything earlier masters got chosen (Paxos Made Live §5.2: it first
 * commits an entry of its own ballot, which comes after all of those).
 */
static void
sim_check_fresh(struct sim *s, const struct sim_replica *r, paxos_ballot epoch)
{
	uint64_t i;

	for (i = r->sm.applied + 1; i < s->nslots; i++)
		if (s->slots[i].chosen && s->slots[i].chosen_ballot < epoch) {
			sim_fail(s, "replica %u serves epoch %" PRIx64 " at applied %" PRIu64
			    " but slot %" PRIu64 " was chosen in ballot %" PRIx64, r->id, epoch,
			    r->sm.applied, i, s->slots[i].chosen_ballot);
			return;
		}
}

static void
sim_check(struct sim *s)
{
	struct sim_replica *r;
	unsigned i, serving = 0, who = 0;
	paxos_ballot epoch = 0;

	for (i = 0; i < s->n && !s->failed; i++) {
		r = &s->r[i];
		if (!r->up)
			continue;
		/* Invariant 4: a promise never goes down, across restarts too. */
		if (paxos_promised(r->p) < r->max_promised)
			sim_fail(s, "replica %u: promise went down from %" PRIx64 " to %" PRIx64,
			    r->id, r->max_promised, paxos_promised(r->p));
		r->max_promised = paxos_promised(r->p);
		/* Invariant 2: one master at a time, in real (virtual) time. */
		if (paxos_is_master_with_lease(r->p, sim_local(r, s->now))) {
			serving++;
			if (serving > 1)
				sim_fail(s, "replicas %u and %u both serve as master", who, r->id);
			who = r->id;
			epoch = paxos_epoch(r->p);
		}
	}
	if (serving == 0 && s->was_serving)
		s->n_lapses++;
	s->was_serving = serving == 1;
	if (serving == 1 && !s->failed) {
		/* ... and masters follow each other in epoch order. */
		if (epoch < s->last_serving)
			sim_fail(s, "replica %u serves epoch %" PRIx64 " after epoch %" PRIx64, who,
			    epoch, s->last_serving);
		if (epoch != s->last_serving || who != s->last_master) {
			sim_trace(s, "r%u serves as master, epoch %" PRIx64, who, epoch);
			s->n_masters++;
			sim_check_fresh(s, &s->r[who - 1], epoch);
		}
		s->last_serving = epoch;
		s->last_master = who;
	}
}

/* ---- replicas --------------------------------------------------------- */

static void
sim_start(struct sim *s, struct sim_replica *r)
{
	struct paxos_durable d;
	struct paxos_event ev;
	struct paxos_config c = s->pcfg;

	c.id = r->id;
	c.seed = sim_rand(&s->rng);
	r->p = paxos_new(&c);
	if (r->p == NULL) {
		sim_fail(s, "paxos_new refused the configuration");
		return;
	}
	r->up = true;
	r->stall_until = 0;
	r->incarnation++;
	r->st.last_done = 0;
	memset(&r->sm, 0, sizeof r->sm);
	memset(&d, 0, sizeof d);
	d.promised = r->st.promised;
	d.nonvoter = r->st.nonvoter;
	d.snap_index = r->st.snap_index;
	d.snap = r->st.snap;
	d.snap_conf = r->st.snap_conf;
	d.chosen = r->st.chosen_upto;
	d.nentries = r->st.nentries;
	d.entries = r->st.entries;
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_START;
	ev.durable = &d;
	/* A wiped store stays "lost" until the core's non-voter flag is synced
	 * (as the shell writes its marker only then): a crash before that must
	 * not bring the replica back as a voter with an empty store. */
	ev.state_lost = r->lost;
	r->next_tick = s->now + sim_below(&s->rng, SIM_TICK_MS);
	sim_trace(s, "r%u starts%s", r->id, ev.state_lost ? " with its store lost" : "");
	sim_step(s, r, &ev);
}

void
sim_crash(struct sim *s, unsigned id)
{
	struct sim_replica *r = &s->r[id - 1];

	if (!r->up)
		return;
	sim_trace(s, "r%u crashes (%zu unsynced writes lost)", id, r->st.npending);
	s->n_crashes++;
	paxos_free(r->p);
	r->p = NULL;
	r->up = false;
	r->flush_due = false;
	/* Unsynced writes, chosen marks among them, are lost; so is every
	 * chosen mark the core held back for its next write. */
	sim_store_drop_pending(&r->st);
	/* A promise that never reached the disk was never sent to anyone
	 * either (the core holds replies back); what must not go down across
	 * a crash is the synced one. */
	r->max_promised = r->st.promised;
}

void
sim_restart(struct sim *s, unsigned id)
{
	struct sim_replica *r = &s->r[id - 1];

	if (r->up)
		return;
	sim_start(s, r);
	sim_check(s);
}

void
sim_wipe(struct sim *s, unsigned id)
{
	struct sim_replica *r = &s->r[id - 1];

	sim_crash(s, id);
	sim_trace(s, "r%u store wiped", id);
	s->n_wipes++;
	sim_store_wipe(&r->st);
	r->lost = true;
	r->max_promised = 0;
}

bool
sim_is_up(const struct sim *s, unsigned id)
{
	return s->r[id - 1].up;
}

uint64_t
sim_applied(const struct sim *s, unsigned id)
{
	return s->r[id - 1].sm.applied;
}

int
sim_handoff(struct sim *s, unsigned target)
{
	struct paxos_event ev;
	unsigned m = sim_serving_master(s);
	int rc;

	if (m == 0)
		return CHUBBY_E_NOT_MASTER;
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_HANDOFF;
	ev.index = target;
	sim_trace(s, "r%u hands off to %u", m, target);
	rc = sim_step(s, &s->r[m - 1], &ev);
	sim_check(s);
	return rc;
}

uint64_t
sim_promised(const struct sim *s, unsigned id)
{
	return s->r[id - 1].up ? paxos_promised(s->r[id - 1].p) : 0;
}

uint64_t
sim_serving_epoch(const struct sim *s)
{
	return s->last_serving;
}

uint64_t
sim_master_changes(const struct sim *s)
{
	return s->n_masters;
}

/* ---- network controls ------------------------------------------------- */

void
sim_isolate(struct sim *s, uint32_t mask)
{
	unsigned a, b;

	for (a = 0; a < s->n; a++)
		for (b = 0; b < s->n; b++)
			if (((mask >> a) & 1) != ((mask >> b) & 1))
				s->cut[a][b] = true;
	sim_trace(s, "partition: %#x | rest", mask);
	s->n_partitions++;
}

void
sim_cut(struct sim *s, unsigned a, unsigned b)
{
	s->cut[a - 1][b - 1] = s->cut[b - 1][a - 1] = true;
	sim_trace(s, "cut %u-%u", a, b);
}

void
sim_heal(struct sim *s)
{
	memset(s->cut, 0, sizeof s->cut);
	sim_trace(s, "network healed");
}

void
sim_net(struct sim *s, unsigned drop_pct, unsigned dup_pct, unsigned max_delay_ms)
{
	s->drop_pct = drop_pct;
	s->dup_pct = dup_pct;
	s->max_delay = max_delay_ms == 0 ? 1 : max_delay_ms;
}

void
sim_set_load(struct sim *s, bool on)
{
	s->o.load = on;
}

void
sim_set_lag(struct sim *s, unsigned max_ms)
{
	s->lag_max = max_ms;
}

void
sim_link_delay(struct sim *s, unsigned from, unsigned to, unsigned ms)
{
	s->extra_delay[from - 1][to - 1] = ms;
}

void
sim_set_drift(struct sim *s, unsigned id, int64_t ppm)
{
	struct sim_replica *r = &s->r[id - 1];
	uint64_t before = sim_local(r, s->now);

	/* Keep the clock continuous (and so monotonic) at the change. */
	r->drift_ppm = ppm;
	r->clock_base = 0;
	r->clock_base = before - sim_local(r, s->now);
}

int64_t
sim_max_drift(const struct sim *s)
{
	return (int64_t)s->pcfg.drift_ppm;
}

unsigned
sim_believed_master(const struct sim *s)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].up && paxos_role(s->r[i].p) == PAXOS_MASTER)
			return s->r[i].id;
	return 0;
}

void
sim_random_faults(struct sim *s, int level)
{
	s->fault_level = level;
	if (level <= 0)
		sim_net(s, 0, 0, 5);
	else if (level == 1)
		sim_net(s, 5, 3, 50);
	else if (level == 2)
		sim_net(s, 5, 3, 60);
	else
		sim_net(s, 10, 5, 100);
}

/* ---- the run loop ----------------------------------------------------- */

static unsigned
sim_count_up(const struct sim *s)
{
	unsigned i, n = 0;

	for (i = 0; i < s->n; i++)
		n += s->r[i].up;
	return n;
}

/*
 * A membership change at the serving master, in the middle of whatever
 * faults are going on: add a replica that is not a member, or remove a
 * voter (the master itself now and then), keeping at least one.
 */
static void
sim_random_change(struct sim *s)
{
	unsigned m = sim_serving_master(s), id = 1 + (unsigned)sim_below(&s->rng, s->n);
	const struct paxos_conf *c;
	int rc;

	if (m == 0)
		return;
	c = paxos_conf(s->r[m - 1].p);
	/* With store wipes, at least 3 voters: a wiped one of 2 leaves no
	 * majority to catch it up, and no protocol survives that. */
	if (paxos_conf_has_voter(c, id) && c->nvoters > (s->fault_level >= 3 ? 3u : 1u))
		rc = sim_change(s, PAXOS_MEMBER_REMOVE, id);
	else if (!paxos_conf_has_voter(c, id) && !paxos_conf_has_learner(c, id))
		rc = sim_change(s, PAXOS_MEMBER_ADD, id);
	else
		return;
	sim_trace(s, "r%u asked to %s r%u: %d", m,
	    paxos_conf_has_voter(c, id) ? "remove" : "add", id, rc);
}

static void
sim_fault_step(struct sim *s)
{
	struct sim_replica *r;
	unsigned i, id = 1 + (unsigned)sim_below(&s->rng, s->n);
	bool any_nonvoter = false;

	if (s->fault_level < 2)
		return;
	r = &s->r[id - 1];
	if (sim_chance(&s->rng, 1, 3000) && r->up && sim_count_up(s) > (s->n - 1) / 2)
		sim_crash(s, id);
	if (sim_chance(&s->rng, 1, 800) && !r->up)
		sim_restart(s, id);
	if (sim_chance(&s->rng, 1, 4000) && r->up) {
		/* A fast reboot: back before any lease it granted has run out. */
		sim_crash(s, id);
		sim_restart(s, id);
	}
	if (sim_chance(&s->rng, 1, 4000))
		sim_isolate(s, (uint32_t)sim_below(&s->rng, 1u << s->n));
	if (sim_chance(&s->rng, 1, 2000) && s->n > 1) {
		unsigned other = 1 + (unsigned)sim_below(&s->rng, s->n);
		if (other != id)
			sim_cut(s, id, other);
	}
	if (sim_chance(&s->rng, 1, 2500))
		sim_heal(s);
	if (s->o.reconfig && sim_chance(&s->rng, 1, 1500))
		sim_random_change(s);
	if (s->fault_level >= 3 && s->n >= 3 && sim_chance(&s->rng, 1, 8000)) {
		/* Wipe one replica only while every other one still votes: losing
		 * a second store before the first caught up could lose what was
		 * chosen, and no protocol survives that. */
		for (i = 0; i < s->n; i++)
			if (s->r[i].lost || (s->r[i].up && !paxos_is_voter(s->r[i].p)) ||
			    (!s->r[i].up && s->r[i].st.nonvoter))
				any_nonvoter = true;
		/* ... and only in a configuration of at least 3 voters with no
		 * learner: a learner promoted while its store is lost, into a
		 * configuration of 2 voters, is one of 2 that can never rejoin
		 * (it waits for a slot chosen after its start, which needs its
		 * vote). */
		if (sim_conf(s)->nvoters < 3 || sim_conf(s)->nlearners > 0)
			any_nonvoter = true;
		/* ... as every other voter knows durably: one that has not
		 * learnt the latest configuration's slot would count in the one
		 * before, where a cell growing from 2 voters still needs the
		 * wiped one (and none is there to catch it up). */
		for (i = 0; i < s->n; i++)
			if (i + 1 != id && paxos_conf_has_voter(sim_conf(s), i + 1) &&
			    s->r[i].st.chosen_upto < s->confs[s->nconfs - 1].slot)
				any_nonvoter = true;
		if (!any_nonvoter)
			sim_wipe(s, id);
	}
}

static void
sim_flush(struct sim *s, struct sim_replica *r)
{
	struct paxos_event ev;

	r->flush_due = false;
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_FLUSH;
	sim_step(s, r, &ev);
	sim_check(s);
}

static void
sim_client_step(struct sim *s)
{
	struct paxos_event ev;
	unsigned m, k, n;
	char cmd[48];

	if (!s->o.load || !sim_chance(&s->rng, 1, 20) || (m = sim_serving_master(s)) == 0 ||
	    s->r[m - 1].stall_until > s->now)
		return;
	n = 1 + (unsigned)sim_below(&s->rng, 3);
	for (k = 0; k < n; k++) {
		snprintf(cmd, sizeof cmd, "cmd-%" PRIu64, ++s->next_cmd);
		memset(&ev, 0, sizeof ev);
		ev.type = PAXOS_EV_PROPOSE;
		ev.data = cmd;
		ev.len = strlen(cmd);
		sim_step(s, &s->r[m - 1], &ev);
		sim_check(s);
	}
	if (s->pcfg.propose_on_flush && s->r[m - 1].up) {
		/* The shell's turn ends now, or (a busy loop) a little later. */
		if (sim_chance(&s->rng, 1, 2))
			sim_flush(s, &s->r[m - 1]);
		else
			s->r[m - 1].flush_due = true;
	}
}

static void
sim_deliver(struct sim *s, struct sim_ev *e)
{
	struct sim_replica *r = &s->r[e->to - 1];
	struct paxos_event ev;

	memset(&ev, 0, sizeof ev);
	switch (e->type) {
	case SIM_EV_MSG:
		if (!r->up || s->cut[e->msg.from - 1][e->to - 1])
			break;
		ev.type = PAXOS_EV_RECEIVE;
		ev.msg = &e->msg;
		if (s->o.verbose)
			sim_trace(s, "r%u <- r%u %s b=%" PRIx64 " slot=%" PRIu64 " n=%zu", e->to,
			    e->msg.from, paxos_msg_type_name(e->msg.type), e->msg.ballot,
			    e->msg.slot, e->msg.nentries);
		sim_step(s, r, &ev);
		break;
	case SIM_EV_SYNC:
		if (!r->up || e->incarnation != r->incarnation)
			break;
		sim_store_sync(s, r, e->index);
		if (s->failed)
			break;
		ev.type = PAXOS_EV_PERSISTED;
		ev.token = e->index;
		sim_step(s, r, &ev);
		break;
	case SIM_EV_SNAP:
		if (!r->up || e->incarnation != r->incarnation)
			break;
		ev.type = PAXOS_EV_SNAPSHOT_TAKEN;
		ev.index = e->index;
		ev.data = e->data.data;
		ev.len = e->data.len;
		sim_step(s, r, &ev);
		break;
	}
	paxos_msg_free(&e->msg);
	paxos_buf_free(&e->data);
}

/*
 * A tick, checked against the deadline the core reported before it
 * (paxos_next_deadline), and followed as chubbyd follows it: chubbyd
 * sleeps until that deadline instead of ticking, so a tick before it must
 * do nothing (else chubbyd would act late: a late heartbeat, a late
 * election).  A tick may leave work due at once (a master whose heartbeat
 * just made its silence long enough steps down on the next tick): chubbyd
 * ticks again at once, and so does this, but a third time would be a spin.
 */
static void
sim_tick(struct sim *s, struct sim_replica *r, struct paxos_event *ev)
{
	uint64_t local = sim_local(r, s->now), due = paxos_next_deadline(r->p);
	enum paxos_role role;
	unsigned k;

	for (k = 0; k < 3 && !s->failed; k++) {
		role = paxos_role(r->p);
		memset(ev, 0, sizeof *ev);
		ev->type = PAXOS_EV_TICK;
		sim_step(s, r, ev);
		if (s->failed)
			return;
		if (local < due && (s->last_nacts > 0 || paxos_role(r->p) != role)) {
			sim_fail(s, "replica %u: a tick at %" PRIu64 " acted before its deadline %" PRIu64,
			    r->id, local, due);
			return;
		}
		if (k > 0 && s->last_nacts == 0 && paxos_role(r->p) == role) {
			sim_fail(s, "replica %u: a tick at its deadline %" PRIu64 " did nothing", r->id,
			    local);
			return;
		}
		if ((due = paxos_next_deadline(r->p)) > local)
			return;
		sim_check(s);
	}
	if (!s->failed)
		sim_fail(s, "replica %u: after three ticks at %" PRIu64 " the deadline is %" PRIu64,
		    r->id, local, due);
}

/* One virtual millisecond: due events, ticks, faults, the client. */
static void
sim_ms(struct sim *s)
{
	struct paxos_event ev;
	struct sim_ev e;
	unsigned i;

	/* A loop that runs again first handles what came while it stood. */
	for (i = 0; i < s->n && !s->failed; i++) {
		struct sim_replica *r = &s->r[i];
		size_t k;

		if (r->nheld == 0 || r->stall_until > s->now)
			continue;
		for (k = 0; k < r->nheld; k++) {
			if (!s->failed) {
				sim_deliver(s, &r->held[k]);
				sim_check(s);
			} else {
				paxos_msg_free(&r->held[k].msg);
				paxos_buf_free(&r->held[k].data);
			}
		}
		r->nheld = 0;
	}
	while (simheap_next_at(&s->heap) <= s->now && !s->failed) {
		simheap_pop(&s->heap, &e);
		if (s->r[e.to - 1].stall_until > s->now) {
			/* Its loop is stopped: the event waits, in order. */
			struct sim_replica *r = &s->r[e.to - 1];

			if (r->nheld == r->capheld) {
				r->capheld = r->capheld == 0 ? 16 : 2 * r->capheld;
				r->held = xrealloc(r->held, r->capheld * sizeof *r->held);
			}
			r->held[r->nheld++] = e;
			continue;
		}
		sim_deliver(s, &e);
		sim_check(s);
	}
	for (i = 0; i < s->n && !s->failed; i++) {
		if (!s->r[i].up || s->r[i].stall_until > s->now)
			continue;
		/* A starved CPU: a turn of this loop now and then runs long,
		 * lag/5..lag (0.6 lag on average), and about once per 1.2 lag
		 * of running: a third of the time goes to stalls. */
		if (s->lag_max > 0 && sim_chance(&s->rng, 5, 6 * (uint64_t)s->lag_max)) {
			s->r[i].stall_until = s->now + s->lag_max / 5 +
			    sim_below(&s->rng, s->lag_max - s->lag_max / 5 + 1);
			continue;
		}
		if (s->r[i].flush_due && sim_chance(&s->rng, 1, 3))
			sim_flush(s, &s->r[i]);
		if (s->failed || s->now < s->r[i].next_tick)
			continue;
		s->r[i].next_tick = s->now + SIM_TICK_MS;
		memset(&ev, 0, sizeof ev);
		ev.type = PAXOS_EV_TICK;
		sim_tick(s, &s->r[i], &ev);
		sim_check(s);
	}
	if (!s->failed)
		sim_fault_step(s);
	if (!s->failed)
		sim_client_step(s);
	s->now++;
}

void
sim_run(struct sim *s, uint64_t ms)
{
	uint64_t end = s->now + ms;

	while (s->now < end && !s->failed)
		sim_ms(s);
}

unsigned
sim_serving_master(const struct sim *s)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (s->r[i].up && paxos_is_master_with_lease(s->r[i].p, sim_local(&s->r[i], s->now)))
			return s->r[i].id;
	return 0;
}

unsigned
sim_wait_master(struct sim *s, uint64_t max_ms)
{
	uint64_t end = s->now + max_ms;
	unsigned m;

	while (s->now < end && !s->failed) {
		if ((m = sim_serving_master(s)) != 0)
			return m;
		sim_ms(s);
	}
	return 0;
}

int
sim_change(struct sim *s, unsigned op, unsigned id)
{
	struct paxos_event ev;
	unsigned m = sim_serving_master(s);
	int rc;

	if (m == 0)
		return CHUBBY_E_NOT_MASTER;
	memset(&ev, 0, sizeof ev);
	ev.type = PAXOS_EV_MEMBERS;
	ev.index = id;
	ev.token = op;
	rc = sim_step(s, &s->r[m - 1], &ev);
	sim_check(s);
	return rc;
}

const struct paxos_conf *
sim_conf(const struct sim *s)
{
	return &s->confs[s->nconfs - 1].c;
}

bool
sim_check_liveness(struct sim *s, uint64_t max_ms)
{
	uint64_t end = s->now + max_ms, target = 0, acked;
	unsigned i;
	bool done;

	sim_random_faults(s, 0);
	sim_heal(s);
	memset(s->extra_delay, 0, sizeof s->extra_delay);
	for (i = 1; i <= s->n; i++)
		sim_restart(s, i);
	sim_trace(s, "liveness phase");
	s->o.load = true;
	acked = s->acked;
	while (s->now < end && !s->failed) {
		sim_ms(s);
		if (s->acked <= acked)
			continue;
		if (target == 0)
			target = s->max_acked_slot;
		/* Every member of the configuration (a removed replica hears
		 * nobody); a learner added is promoted and votes too. */
		done = true;
		for (i = 0; i < s->n; i++)
			if (paxos_conf_has_voter(&s->confs[s->nconfs - 1].c, i + 1) ||
			    paxos_conf_has_learner(&s->confs[s->nconfs - 1].c, i + 1))
				if (s->r[i].sm.applied < target || !paxos_is_voter(s->r[i].p) ||
				    !paxos_conf_has_voter(paxos_conf(s->r[i].p), i + 1))
					done = false;
		if (done)
			return true;
	}
	if (!s->failed)
		sim_fail(s, "liveness: no progress within %" PRIu64 " ms after faults stopped"
		    " (acked %" PRIu64 " -> %" PRIu64 ", target slot %" PRIu64 ")", max_ms, acked,
		    s->acked, target);
	return false;
}

/* ---- construction ----------------------------------------------------- */

/* The Paxos core's broken variants (common/simknob.h); sim_new sets them. */
unsigned chubby_sim_knobs;

static const struct {
	const char *name;
	unsigned bit;
} sim_knobs[] = {
	{ "no-lease-refusal", SIM_KNOB_PX_NO_LEASE_REFUSAL },
	{ "no-quiet", SIM_KNOB_PX_NO_QUIET },
	{ "no-drift", SIM_KNOB_PX_NO_DRIFT },
	{ "half-drift", SIM_KNOB_PX_HALF_DRIFT },
	{ "lease-from-replies", SIM_KNOB_PX_LEASE_FROM_REPLIES },
	{ "replies-before-sync", SIM_KNOB_PX_REPLIES_BEFORE_SYNC },
	{ "wiped-votes", SIM_KNOB_PX_WIPED_VOTES },
	{ "prevote-in-lease", SIM_KNOB_PX_PREVOTE_IN_LEASE },
	{ "p1-lowest", SIM_KNOB_PX_P1_LOWEST },
	{ "serve-before-noop", SIM_KNOB_PX_SERVE_BEFORE_NOOP },
	{ "no-prevote", SIM_KNOB_PX_NO_PREVOTE },
	{ "late-deadline", SIM_KNOB_PX_LATE_DEADLINE },
	{ "conf-no-drain", SIM_KNOB_PX_CONF_NO_DRAIN },
};

unsigned
sim_knob_by_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof sim_knobs / sizeof sim_knobs[0]; i++)
		if (strcmp(name, sim_knobs[i].name) == 0)
			return sim_knobs[i].bit;
	return 0;
}

const char *
sim_knob_name(unsigned i)
{
	return i < sizeof sim_knobs / sizeof sim_knobs[0] ? sim_knobs[i].name : NULL;
}

unsigned
sim_knob_bit(unsigned i)
{
	return i < sizeof sim_knobs / sizeof sim_knobs[0] ? sim_knobs[i].bit : 0;
}

void
sim_opts_defaults(struct sim_opts *o)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->replicas = 3;
	o->faults = 2;
	o->fault_ms = 20000;
	o->live_ms = 30000;
	o->load = true;
}

struct sim *
sim_new(const struct sim_opts *o)
{
	struct sim *s;
	struct paxos_config *c;
	unsigned i;

	if (o->replicas < 1 || o->replicas > SIM_MAX_REPLICAS)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->o = *o;
	s->n = o->replicas;
	chubby_sim_knobs = o->broken;
	simrng_seed(&s->rng, o->seed);
	simheap_init(&s->heap, sizeof(struct sim_ev));
	c = &s->pcfg;
	paxos_config_defaults(c);
	/* The first `members` replicas are the cell; the others start as
	 * learners and wait to be added (sim_change). */
	c->nmembers = o->members == 0 || o->members > s->n ? s->n : o->members;
	for (i = 0; i < c->nmembers; i++)
		c->members[i] = i + 1;
	s->nconfs = 1;
	s->confs[0].slot = 0;
	s->confs[0].c.nvoters = c->nmembers;
	for (i = 0; i < c->nmembers; i++)
		s->confs[0].c.voters[i] = i + 1;
	/* Short timings so that many fail-overs fit in a run; a large drift
	 * bound so that the lease arithmetic is exercised. */
	c->lease_ms = 1000;
	c->drift_ppm = 50000;
	c->margin_ms = 10;
	c->heartbeat_ms = 150;
	c->election_min_ms = 0;
	c->election_max_ms = 300;
	c->batch_max_bytes = 64;
	c->batch_max_count = 4;
	c->pipeline_max = 6;
	c->queue_max = 256;
	c->snapshot_every = 40;
	c->log_keep = 10;
	c->catchup_max = 16;
	/* Half the seeds queue proposals until a FLUSH, as chubbyd does. */
	c->propose_on_flush = (o->seed & 1) != 0;
	/* Snapshots travel in many small chunks, so chunking is exercised. */
	c->snapshot_chunk = 7;
	/* Half the seeds wait only [0, 150] ms after a lease, as chubbyd does. */
	c->after_lease_max_ms = (o->seed & 2) != 0 ? 150 : PAXOS_WAIT_ELECTION;
	if (o->cell_timings) {
		/* etc/chubby.conf through server/replica.c's replica_paxos_config:
		 * master_lease 600ms, clock_drift_ppm 1000, clock_margin 50ms,
		 * heartbeat_interval 50ms, election_timeout 100ms. */
		c->lease_ms = 600;
		c->drift_ppm = 1000;
		c->margin_ms = 50;
		c->heartbeat_ms = 50;
		c->election_min_ms = 100;
		c->election_max_ms = 200;
		c->after_lease_max_ms = 100;
	}
	s->sync_max = o->sync_max_ms == 0 ? 4 : o->sync_max_ms;
	for (i = 0; i < s->n; i++) {
		s->r[i].id = i + 1;
		/* Half the clocks sit at the edge of the bound, where the lease
		 * arithmetic has no slack left. */
		if (sim_chance(&s->rng, 1, 2))
			s->r[i].drift_ppm = sim_chance(&s->rng, 1, 2) ? (int64_t)c->drift_ppm :
			    -(int64_t)c->drift_ppm;
		else
			s->r[i].drift_ppm = (int64_t)sim_below(&s->rng, 2 * c->drift_ppm + 1) -
			    (int64_t)c->drift_ppm;
		s->r[i].clock_base = 1000000 + sim_below(&s->rng, 1000000);
	}
	sim_random_faults(s, 0);
	sim_set_lag(s, o->lag_ms);
	for (i = 0; i < s->n && !s->failed; i++)
		sim_start(s, &s->r[i]);
	return s;
}

void
sim_free(struct sim *s)
{
	struct sim_ev e;
	size_t i, j;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		paxos_free(s->r[i].p);
		sim_store_free(&s->r[i].st);
		for (j = 0; j < s->r[i].nheld; j++) {
			paxos_msg_free(&s->r[i].held[j].msg);
			paxos_buf_free(&s->r[i].held[j].data);
		}
		free(s->r[i].held);
	}
	while (s->heap.n > 0) {
		simheap_pop(&s->heap, &e);
		paxos_msg_free(&e.msg);
		paxos_buf_free(&e.data);
	}
	simheap_free(&s->heap);
	for (i = 0; i < s->nslots; i++) {
		for (j = 0; j < s->slots[i].nacc; j++)
			paxos_buf_free(&s->slots[i].acc[j].value);
		free(s->slots[i].acc);
		paxos_buf_free(&s->slots[i].value);
	}
	free(s->slots);
	free(s->digest_at);
	free(s);
}

bool
sim_failed(const struct sim *s)
{
	return s->failed;
}

uint64_t
sim_now(const struct sim *s)
{
	return s->now;
}

uint64_t
sim_steps(const struct sim *s)
{
	return s->steps;
}

uint64_t
sim_acked(const struct sim *s)
{
	return s->acked;
}

uint64_t
sim_lease_lapses(const struct sim *s)
{
	return s->n_lapses;
}

void
sim_set_sync(struct sim *s, unsigned max_ms)
{
	s->sync_max = max_ms == 0 ? 4 : max_ms;
}

int
sim_run_seed(const struct sim_opts *o)
{
	struct sim *s = sim_new(o);
	int rc;

	if (s == NULL)
		return -1;
	s->whole_run = true;
	sim_random_faults(s, o->faults);
	if (o->fault_steps > 0) {
		while (s->steps < o->fault_steps && !s->failed)
			sim_ms(s);
	} else
		sim_run(s, o->fault_ms);
	if (!s->failed)
		sim_check_liveness(s, o->live_ms);
	rc = s->failed ? -1 : 0;
	if (o->verbose)
		fprintf(stderr, "seed %" PRIu64 ": %s, %" PRIu64 " steps, %" PRIu64
		    " commands acknowledged, %" PRIu64 " masters, %" PRIu64 " crashes, %" PRIu64
		    " wipes, %" PRIu64 " partitions, %" PRIu64 " snapshot installs, %" PRIu64
		    " configuration changes\n", o->seed,
		    rc == 0 ? "ok" : "FAILED", s->steps, s->acked, s->n_masters, s->n_crashes,
		    s->n_wipes, s->n_partitions, s->n_installs, s->n_changes);
	sim_free(s);
	return rc;
}

/* ---- options as chubby-sim arguments ---------------------------------- */

void
sim_opts_format(const struct sim_opts *o, char *buf, size_t len)
{
	int n = snprintf(buf, len, "--seed %" PRIu64 " --replicas %u --faults %d --fault-ms %" PRIu64,
	    o->seed, o->replicas, o->faults, o->fault_ms);
	unsigned i;

	if (n >= 0 && (size_t)n < len && o->fault_steps > 0)
		n += snprintf(buf + n, len - (size_t)n, " --steps %" PRIu64, o->fault_steps);
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " --live-ms %" PRIu64 " --sync-max-ms %u",
		    o->live_ms, o->sync_max_ms);
	if (n >= 0 && (size_t)n < len && !o->load)
		n += snprintf(buf + n, len - (size_t)n, " --no-load");
	if (n >= 0 && (size_t)n < len && o->members > 0)
		n += snprintf(buf + n, len - (size_t)n, " --members %u", o->members);
	if (n >= 0 && (size_t)n < len && o->reconfig)
		n += snprintf(buf + n, len - (size_t)n, " --reconfig");
	if (n >= 0 && (size_t)n < len && o->cell_timings)
		n += snprintf(buf + n, len - (size_t)n, " --cell-timings");
	if (n >= 0 && (size_t)n < len && o->lag_ms > 0)
		n += snprintf(buf + n, len - (size_t)n, " --lag-ms %u", o->lag_ms);
	for (i = 0; sim_knob_name(i) != NULL; i++)
		if (n >= 0 && (size_t)n < len && (o->broken & sim_knob_bit(i)) != 0)
			n += snprintf(buf + n, len - (size_t)n, " --broken %s", sim_knob_name(i));
}

static int
sim_decimal(const char *s, uint64_t *v)
{
	char *end;

	/* Decimal only: a seed copied with a leading zero must not turn octal. */
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

int
sim_opts_set(struct sim_opts *o, const char *name, const char *value)
{
	uint64_t v;

	if (strcmp(name, "--no-load") == 0) {
		o->load = false;
		return 1;
	}
	if (strcmp(name, "--verbose") == 0) {
		o->verbose = true;
		return 1;
	}
	if (strcmp(name, "--reconfig") == 0) {
		o->reconfig = true;
		return 1;
	}
	if (strcmp(name, "--cell-timings") == 0) {
		o->cell_timings = true;
		return 1;
	}
	if (strcmp(name, "--broken") == 0) {
		if ((v = sim_knob_by_name(value)) == 0)
			return -1;
		o->broken |= (unsigned)v;
		return 2;
	}
	if (sim_decimal(value, &v) != 0)
		return -1;
	if (strcmp(name, "--seed") == 0)
		o->seed = v;
	else if (strcmp(name, "--replicas") == 0 && v >= 1 && v <= SIM_MAX_REPLICAS)
		o->replicas = (unsigned)v;
	else if (strcmp(name, "--faults") == 0 && v <= 3)
		o->faults = (int)v;
	else if (strcmp(name, "--fault-ms") == 0)
		o->fault_ms = v;
	else if (strcmp(name, "--virtual-seconds") == 0) {
		o->fault_ms = v * 1000;
		o->fault_steps = 0;
	} else if (strcmp(name, "--steps") == 0)
		o->fault_steps = v;
	else if (strcmp(name, "--live-ms") == 0)
		o->live_ms = v;
	else if (strcmp(name, "--sync-max-ms") == 0 && v <= 100000)
		o->sync_max_ms = (unsigned)v;
	else if (strcmp(name, "--members") == 0 && v >= 1 && v <= SIM_MAX_REPLICAS)
		o->members = (unsigned)v;
	else if (strcmp(name, "--lag-ms") == 0 && v <= 100000)
		o->lag_ms = (unsigned)v;
	else
		return -1;
	return 2;
}

int
sim_opts_parse_line(struct sim_opts *o, const char *line)
{
	char buf[512], *save = NULL, *tok, *hash;
	bool seed = false, any = false;

	if (strlen(line) >= sizeof buf)
		return -1;
	strcpy(buf, line);
	if ((hash = strchr(buf, '#')) != NULL)
		*hash = '\0';
	for (tok = strtok_r(buf, " \t\r\n", &save); tok != NULL; tok = strtok_r(NULL, " \t\r\n", &save)) {
		char *val = NULL;
		int rc;

		if (strcmp(tok, "--no-load") != 0 && strcmp(tok, "--verbose") != 0 &&
		    strcmp(tok, "--reconfig") != 0 && strcmp(tok, "--cell-timings") != 0)
			val = strtok_r(NULL, " \t\r\n", &save);
		if ((rc = sim_opts_set(o, tok, val)) < 0)
			return -1;
		seed |= strcmp(tok, "--seed") == 0;
		any = true;
	}
	if (!any)
		return 0;
	return seed ? 1 : -1;
}
