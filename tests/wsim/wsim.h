/*
 * wsim.h: the whole-cell deterministic simulator (docs/TESTING.md "The
 * whole-cell simulator").  N replicas, each the real Paxos core, applied
 * state (server/cell), namespace (server/ns) and master's session layer
 * (server/session), and M clients, each libchubby's session core
 * (libchubby/csess) with a cache and a client model issuing the API's
 * calls, on one virtual clock, over a simulated network, disks and
 * drifting clocks.  One seed determines a run; invariants are checked
 * after every step.
 */
#ifndef CHUBBY_WSIM_H
#define CHUBBY_WSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsim_opts {
	uint64_t seed;
	unsigned replicas; /* 3..7 */
	unsigned clients;  /* 1..8 */
	uint64_t steps;    /* fault phase: this many steps (then liveness) */
	uint64_t live_ms;  /* bound on the liveness phase (virtual ms) */
	unsigned broken;   /* a SIM_KNOB_* bit (tests/wsim/knobs), 0: none */
	bool verbose;      /* trace to stderr as it happens */
	bool quiet;        /* no failure report (the broken-variant sweep) */
};

void wsim_opts_defaults(struct wsim_opts *o);

/* The result of one run. */
struct wsim_result {
	bool failed;
	char why[512];   /* the first violation */
	uint64_t steps;  /* core and client steps taken */
	uint64_t now_ms; /* virtual time reached */
	uint64_t hash;   /* over every trace line and the final state: equal runs, equal hash */
	/* What the run exercised. */
	uint64_t calls, reads, cached_reads, writes, grants, masters, crashes, wipes,
	    partitions, pauses, expiries;
	/* Events in replies the network lost (each must come again: the
	 * master keeps them until acknowledged). */
	uint64_t events_lost;
	/* Reads through handles kept in the master's memory, and those of
	 * them served in a later epoch than the handle's open (a new master
	 * re-created it from the call). */
	uint64_t mem_reads, mem_reopened_reads;
	/* Writes and grants through handles kept in memory, and those of them
	 * in a later epoch than the handle's open. */
	uint64_t mem_writes, mem_grants, mem_reopened_ops;
	/* Events delivered to handles kept in memory (their masks kept by the
	 * master), and those of them in a later epoch than the handle's open. */
	uint64_t mem_events, mem_reopened_events;
};

/* Runs one seed: faults for o->steps steps, then healing and liveness.
 * 0 if every invariant held; on a violation (unless o->quiet) prints the
 * seed, the replay command and the trace's tail to stderr. */
int wsim_run(const struct wsim_opts *o, struct wsim_result *res);

/* The broken variants: name <-> knob bit.  NULL / 0 when unknown. */
const char *wsim_broken_name(unsigned i, unsigned *knob); /* I from 0 while not NULL */
unsigned wsim_broken_knob(const char *name);

/* The options as chubby-wsim arguments (a run printed is a run replayed). */
void wsim_opts_format(const struct wsim_opts *o, char *buf, size_t len);
/* One regress-seeds line ("--seed N ..."; "#" starts a comment): 1 set,
 * 0 blank, -1 bad. */
int wsim_opts_parse_line(struct wsim_opts *o, const char *line);
/* Sets NAME from VALUE: 1 NAME took no value, 2 it took VALUE, -1 bad. */
int wsim_opts_set(struct wsim_opts *o, const char *name, const char *value);

#endif
