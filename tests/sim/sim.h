/*
 * sim.h: a deterministic simulator for the Paxos core: N replicas in one
 * process on a virtual clock, a network that drops, delays, duplicates,
 * reorders and partitions, stores that lose unsynced writes on a crash, and
 * safety invariants checked after every step.  One seed determines a run.
 */
#ifndef CHUBBY_SIM_H
#define CHUBBY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paxos.h"

#define SIM_MAX_REPLICAS 7

struct sim_opts {
	uint64_t seed;
	unsigned replicas; /* 1..7 */
	int faults;        /* random fault level: 0 none, 1 net, 2 + crash/partition, 3 + wipe */
	uint64_t fault_ms; /* virtual ms of random faults (sim_run_seed) */
	uint64_t fault_steps; /* if not 0: faults for this many core steps instead */
	uint64_t live_ms;  /* bound on the liveness phase */
	bool verbose;      /* trace to stderr as it happens */
	bool load;         /* a client proposes commands to the master */
	unsigned sync_max_ms; /* a sync takes 0..this many ms (0: 0..4, a fast disk) */
	unsigned broken;   /* broken variants of the core (SIM_KNOB_PX_* of common/simknob.h) */
	unsigned members;  /* the cell's first voters, replicas 1..this (0: all); the
			    * others start as learners, to be added */
	bool reconfig;     /* random membership changes among the faults */
	/* The local cell's timings (etc/chubby.conf as server/replica.c maps
	 * them: lease 600 ms, heartbeat 50 ms, elections 100..200 ms) instead
	 * of the simulator's own. */
	bool cell_timings;
	/* If not 0: every replica's loop runs late, as a starved CPU makes it
	 * (sim_set_lag). */
	unsigned lag_ms;
};

struct sim;

void sim_opts_defaults(struct sim_opts *);
/* Starts every replica (empty stores) at virtual time 0. */
struct sim *sim_new(const struct sim_opts *);
void sim_free(struct sim *);

/* Runs MS virtual milliseconds (stops early on a violation). */
void sim_run(struct sim *, uint64_t ms);
bool sim_failed(const struct sim *);
uint64_t sim_now(const struct sim *);
uint64_t sim_steps(const struct sim *);
uint64_t sim_acked(const struct sim *);
/* How often a serving master stopped serving (its lease ran out unrenewed). */
uint64_t sim_lease_lapses(const struct sim *);
/* Syncs take 0..MAX_MS from now on (a slow disk; 0: back to 0..4 ms). */
void sim_set_sync(struct sim *, unsigned max_ms);

/* The replica serving as master with a valid lease right now, or 0. */
unsigned sim_serving_master(const struct sim *);
/* Runs until some replica serves as master; its id, or 0 after MAX_MS. */
unsigned sim_wait_master(struct sim *, uint64_t max_ms);
uint64_t sim_applied(const struct sim *, unsigned id);
bool sim_is_up(const struct sim *, unsigned id);
/* Replica ID's promised ballot (0 while it is down). */
uint64_t sim_promised(const struct sim *, unsigned id);
/* The epoch (ballot) of the latest master that served, 0 before any. */
uint64_t sim_serving_epoch(const struct sim *);
/* How many times the serving master or its epoch changed: elections that
 * clients saw. */
uint64_t sim_master_changes(const struct sim *);

/* Asks the serving master to hand mastership to TARGET (0: its choice):
 * paxos_step's status, CHUBBY_E_NOT_MASTER if none serves. */
int sim_handoff(struct sim *, unsigned target);

/* A membership change (PAXOS_MEMBER_ADD/REMOVE of replica ID) at the
 * serving master: paxos_step's status, CHUBBY_E_NOT_MASTER if none serves. */
int sim_change(struct sim *, unsigned op, unsigned id);
/* The last configuration chosen (the simulator's global view). */
const struct paxos_conf *sim_conf(const struct sim *);

/* Faults, by hand. */
void sim_crash(struct sim *, unsigned id);
void sim_restart(struct sim *, unsigned id);
void sim_wipe(struct sim *, unsigned id); /* crash and lose the store; restart says state_lost */
void sim_isolate(struct sim *, uint32_t mask); /* cut links between ids in MASK (bit id-1) and the rest */
void sim_cut(struct sim *, unsigned a, unsigned b);
void sim_heal(struct sim *);
void sim_net(struct sim *, unsigned drop_pct, unsigned dup_pct, unsigned max_delay_ms);
/* A starved CPU: from now on each replica's event loop now and then stops
 * for MAX_MS/5..MAX_MS (0: never), and what it receives meanwhile (messages,
 * sync completions) and its timers wait until it runs again, as chubbyd's
 * "event loop ran N ms late".  About a third of the time goes to stalls. */
void sim_set_lag(struct sim *, unsigned max_ms);
/* Turns the client's proposals on or off. */
void sim_set_load(struct sim *, bool on);
/* Adds MS to every message from FROM to TO (asymmetric links). */
void sim_link_delay(struct sim *, unsigned from, unsigned to, unsigned ms);
/* Sets replica ID's clock rate error (ppm, within +-sim_max_drift()). */
void sim_set_drift(struct sim *, unsigned id, int64_t ppm);
int64_t sim_max_drift(const struct sim *);
/* Some replica that believes it is master (with or without lease), or 0. */
unsigned sim_believed_master(const struct sim *);
/* Random faults of LEVEL from now on during sim_run (0 stops them). */
void sim_random_faults(struct sim *, int level);

/*
 * Liveness: stop faults, heal the network, restart every replica, then within
 * MAX_MS a master must serve, a new command must commit, and every replica
 * must have applied every acknowledged command and vote again.
 */
bool sim_check_liveness(struct sim *, uint64_t max_ms);

/* A whole randomized run: faults for fault_ms, then liveness.  0 if all held.
 * On a failure it prints the chubby-sim arguments that replay it exactly
 * (every option, not only the seed) and the line for tests/sim/regress-seeds. */
int sim_run_seed(const struct sim_opts *);

/*
 * The options as chubby-sim arguments, so that a run printed is a run
 * replayed: --seed N --replicas R --faults F --fault-ms MS [--steps S]
 * --live-ms MS --sync-max-ms MS [--no-load] [--members N] [--reconfig] [--broken NAME...].
 * The regression list
 * (tests/sim/regress-seeds) holds one such line per run.
 */
/* The Paxos core's broken variants by name ("no-quiet", ...): the knob's
 * bit, or 0 if NAME is none; sim_knob_name(I) is the I-th name (NULL past
 * the last), sim_knob_bit(I) its bit. */
unsigned sim_knob_by_name(const char *name);
const char *sim_knob_name(unsigned i);
unsigned sim_knob_bit(unsigned i);

void sim_opts_format(const struct sim_opts *, char *buf, size_t len);
/* Sets the option NAME ("--seed", ...) from VALUE (decimal); 1 if NAME takes
 * no value and was set (--no-load, --verbose), 2 if it took VALUE, -1 if
 * NAME is unknown or VALUE is not a number. */
int sim_opts_set(struct sim_opts *, const char *name, const char *value);
/* Parses one line of chubby-sim arguments after sim_opts_defaults(); text
 * from "#" on is a comment.  1 if it set options (it must give --seed), 0 if
 * the line is blank or a comment, -1 if it is bad. */
int sim_opts_parse_line(struct sim_opts *, const char *line);

#endif
