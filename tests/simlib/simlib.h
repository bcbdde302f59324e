/*
 * simlib.h: what the two deterministic simulators share (tests/sim, the
 * Paxos core's; tests/wsim, the whole cell's): the seeded generator, the
 * event heap ordered by (virtual time, arrival), and the regression-list
 * loop of their commands.  Nothing here reads a clock or draws randomness
 * of its own: one seed drives a run (docs/TESTING.md).
 */
#ifndef CHUBBY_SIMLIB_H
#define CHUBBY_SIMLIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- randomness: splitmix64 seeds xoshiro256** ------------------------- */

struct simrng {
	uint64_t s[4];
};

void simrng_seed(struct simrng *r, uint64_t seed);
uint64_t simrng_next(struct simrng *r);
/* Uniform in [0, n) (0 when n is 0). */
uint64_t simrng_below(struct simrng *r, uint64_t n);
/* True with probability num / den. */
bool simrng_chance(struct simrng *r, uint64_t num, uint64_t den);

/* ---- the event heap ------------------------------------------------------ */

/* Every event type starts with this: the virtual time it is due, and its
 * arrival number (set by simheap_push), which orders equal times. */
struct simheap_key {
	uint64_t at, seq;
};

struct simheap {
	unsigned char *v, *tmp; /* TMP: one event, for swaps */
	size_t n, cap, size;    /* SIZE: one event's bytes */
	uint64_t seq;
};

void simheap_init(struct simheap *h, size_t size);
void simheap_free(struct simheap *h); /* the events' own memory is the caller's */
/* Copies EV in (its seq set); pops the earliest into OUT. */
void simheap_push(struct simheap *h, void *ev);
void simheap_pop(struct simheap *h, void *out);
/* The earliest event's time; UINT64_MAX when empty. */
uint64_t simheap_next_at(const struct simheap *h);

/* ---- the commands ------------------------------------------------------- */

/* A decimal number, or USAGE() (which does not return). */
uint64_t simcli_num(const char *s, void (*usage)(void));
/* "A..B" into *FIRST and *LAST, or USAGE(). */
void simcli_range(const char *s, uint64_t *first, uint64_t *last, void (*usage)(void));

/* A trace line: "     NOW " then FMT (truncated to SIZE). */
void simtrace_format(char *line, size_t size, uint64_t now, const char *fmt, va_list ap);

/*
 * Runs every line of the regression list PATH: RUN(ARG, LINE) returns 0
 * for a blank or comment line, 1 for a run that passed, 2 for one that
 * failed, -1 for a line that is not the command's arguments (then PROG
 * names it and the command exits 2).  The number of failed runs; *RUNS
 * counts the runs.
 */
uint64_t simcli_regress(const char *path, const char *prog, int (*run)(void *arg, const char *line),
    void *arg, uint64_t *runs);

#endif
