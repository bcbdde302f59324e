/*
 * simknob.h: the broken variants of the whole-cell simulator (tests/wsim,
 * docs/TESTING.md "Broken variants").  Each knob turns off one safeguard,
 * so that the simulator can show it catches the bug class the safeguard
 * prevents.  Only the simulator's own objects of the pure modules are
 * built with -DCHUBBY_SIM_KNOBS; everywhere else SIM_KNOB() is the
 * constant 0 and the hook compiles away (tests/wsim/check-wsim.sh checks
 * that no shipped binary carries the knob symbol).  Pure: no I/O.
 */
#ifndef CHUBBY_SIMKNOB_H
#define CHUBBY_SIMKNOB_H

enum sim_knob {
	SIM_KNOB_CACHE_NO_CLOCK = 1 << 0,   /* csess: cache trusted on state alone */
	SIM_KNOB_NO_DEDUPE = 1 << 1,        /* ns: a copy of a request applies again */
	SIM_KNOB_WRITE_NO_GATE = 1 << 2,    /* session: writes acknowledged before invalidations */
	SIM_KNOB_CLOSE_NO_GATE = 1 << 3,    /* session: a close/reap waits for no invalidation */
	SIM_KNOB_READ_NO_LEASE = 1 << 4,    /* request layer: reads served without the lease */
	SIM_KNOB_NO_LOCK_DELAY = 1 << 5,    /* ns: an expired holder's lock is free at once */
	SIM_KNOB_GATES_UNORDERED = 1 << 6,  /* session: gates on one node in no order */
	SIM_KNOB_SEQ_NO_GEN = 1 << 7,       /* ns: a sequencer checks without its lock_gen */
	SIM_KNOB_EVENTS_TRUNCATED = 1 << 8, /* session: a KeepAlive reply carries one event, drops the rest */
	SIM_KNOB_UNGATED_EXISTENCE = 1 << 9, /* session: a create or reap acknowledged before invalidations */
	/* The Paxos core's (tests/sim, docs/PAXOS.md "Broken variants"). */
	SIM_KNOB_PX_NO_LEASE_REFUSAL = 1 << 10, /* PREPARE and pre-vote answered while a lease granted here runs */
	SIM_KNOB_PX_NO_QUIET = 1 << 11,        /* no quiet period after a restart */
	SIM_KNOB_PX_NO_DRIFT = 1 << 12,        /* the master's lease not shortened for drift */
	SIM_KNOB_PX_HALF_DRIFT = 1 << 13,      /* shortened by half the drift allowance */
	SIM_KNOB_PX_LEASE_FROM_REPLIES = 1 << 14, /* lease counted from the replies, not the request */
	SIM_KNOB_PX_REPLIES_BEFORE_SYNC = 1 << 15, /* messages leave before their writes are synced */
	SIM_KNOB_PX_WIPED_VOTES = 1 << 16,     /* a wiped replica votes at once */
	SIM_KNOB_PX_PREVOTE_IN_LEASE = 1 << 17, /* a pre-vote answered yes while a lease granted here runs */
	SIM_KNOB_PX_P1_LOWEST = 1 << 18,       /* Phase 1 adopts the lowest-ballot value a promise reports */
	SIM_KNOB_PX_SERVE_BEFORE_NOOP = 1 << 19, /* a master serves before its own no-op is applied */
	SIM_KNOB_PX_NO_PREVOTE = 1 << 20,      /* campaigns without a pre-vote (the old core) */
	SIM_KNOB_PX_LATE_DEADLINE = 1 << 21,   /* paxos_next_deadline a heartbeat late */
	SIM_KNOB_PX_CONF_NO_DRAIN = 1 << 22,   /* slots proposed after a configuration value not yet chosen */
};

#ifdef CHUBBY_SIM_KNOBS
extern unsigned chubby_sim_knobs;
#define SIM_KNOB(k) ((chubby_sim_knobs & (unsigned)(k)) != 0)
#else
#define SIM_KNOB(k) 0
#endif

#endif
