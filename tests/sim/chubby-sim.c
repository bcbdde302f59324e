/* chubby-sim.c: replays one simulator seed exactly, or sweeps a range of seeds. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simlib.h"

static void
usage(void)
{
	unsigned i;

	fprintf(stderr,
	    "usage: chubby-sim [--seed N | --seeds A..B] [--replicas R] [--faults LEVEL]\n"
	    "                  [--fault-ms MS | --virtual-seconds T] [--steps S] [--live-ms MS]\n"
	    "                  [--sync-max-ms MS] [--no-load] [--members N] [--reconfig]\n"
	    "                  [--cell-timings] [--lag-ms MS]\n"
	    "                  [--broken NAME]... [--verbose]\n"
	    "       chubby-sim --regress FILE [--verbose]\n"
	    "  LEVEL: 0 none, 1 loss/dup/reorder, 2 + crash/partition (default), 3 + store wipes\n"
	    "  The fault phase lasts MS virtual ms (default 20000) or S core steps; a\n"
	    "  liveness phase of at most --live-ms follows.  A disk sync takes 0..MS ms\n"
	    "  (--sync-max-ms; 0: 0..4 ms).  A failed run prints these arguments in full.\n"
	    "  --members N: replicas 1..N vote at first, the others are learners to add;\n"
	    "  --reconfig: the master is asked for random membership changes among the faults.\n"
	    "  --cell-timings: the local cell's timings (etc/chubby.conf), not the simulator's.\n"
	    "  --lag-ms MS: every replica's loop now and then stops for MS/5..MS (a starved CPU).\n"
	    "  --regress runs each line of FILE (arguments as a failure prints them).\n"
	    "  --broken runs a broken variant of the Paxos core (docs/PAXOS.md), one of:\n   ");
	for (i = 0; sim_knob_name(i) != NULL; i++)
		fprintf(stderr, " %s", sim_knob_name(i));
	fprintf(stderr, "\n");
	exit(2);
}

static int
regress_line(void *arg, const char *line)
{
	const bool *verbose = arg;
	struct sim_opts o;
	int rc;

	sim_opts_defaults(&o);
	if ((rc = sim_opts_parse_line(&o, line)) <= 0)
		return rc;
	o.verbose = o.verbose || *verbose;
	return sim_run_seed(&o) != 0 ? 2 : 1;
}

/* Runs every line of a regression list; the number of failed runs. */
static uint64_t
regress(const char *path, bool verbose, uint64_t *runs)
{
	return simcli_regress(path, "chubby-sim", regress_line, &verbose, runs);
}

int
main(int argc, char **argv)
{
	struct sim_opts o;
	uint64_t first, last, seed, failures = 0, runs = 0;
	const char *list = NULL;
	int i;

	sim_opts_defaults(&o);
	first = last = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc;

		if (strcmp(a, "--regress") == 0 && v != NULL) {
			list = v;
			i++;
		} else if (strcmp(a, "--seeds") == 0 && v != NULL) {
			simcli_range(v, &first, &last, usage);
			i++;
		} else if ((rc = sim_opts_set(&o, a, v)) < 0)
			usage();
		else if (rc == 2)
			i++;
		if (strcmp(a, "--seed") == 0)
			first = last = o.seed;
	}
	if (last < first)
		usage();
	if (list != NULL)
		failures = regress(list, o.verbose, &runs);
	else
		for (seed = first; seed <= last; seed++) {
			o.seed = seed;
			runs++;
			if (sim_run_seed(&o) != 0)
				failures++;
		}
	printf("chubby-sim: %" PRIu64 " seeds, %" PRIu64 " failed\n", runs, failures);
	return failures == 0 ? 0 : 1;
}
