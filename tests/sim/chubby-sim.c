/* chubby-sim.c: replays one simulator seed exactly, or sweeps a range of seeds. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: chubby-sim [--seed N | --seeds A..B] [--replicas R] [--virtual-seconds T]\n"
	    "                  [--steps S] [--faults LEVEL] [--no-load] [--verbose]\n"
	    "  LEVEL: 0 none, 1 loss/dup/reorder, 2 + crash/partition (default), 3 + store wipes\n"
	    "  The fault phase lasts T virtual seconds (default 20) or S core steps;\n"
	    "  a liveness phase follows.\n");
	exit(2);
}

static uint64_t
number(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	if (*s == '\0' || *end != '\0')
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	struct sim_opts o;
	uint64_t first, last, seed, failures = 0;
	const char *dots;
	int i;

	sim_opts_defaults(&o);
	first = last = 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--verbose") == 0) {
			o.verbose = true;
			continue;
		}
		if (strcmp(a, "--no-load") == 0) {
			o.load = false;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--seed") == 0)
			first = last = number(v);
		else if (strcmp(a, "--seeds") == 0) {
			char buf[64];
			if ((dots = strstr(v, "..")) == NULL || (size_t)(dots - v) >= sizeof buf)
				usage();
			memcpy(buf, v, (size_t)(dots - v));
			buf[dots - v] = '\0';
			first = number(buf);
			last = number(dots + 2);
		} else if (strcmp(a, "--replicas") == 0)
			o.replicas = (unsigned)number(v);
		else if (strcmp(a, "--virtual-seconds") == 0) {
			o.fault_ms = number(v) * 1000;
			o.fault_steps = 0;
		} else if (strcmp(a, "--steps") == 0)
			o.fault_steps = number(v);
		else if (strcmp(a, "--faults") == 0)
			o.faults = (int)number(v);
		else
			usage();
	}
	if (o.replicas < 1 || o.replicas > SIM_MAX_REPLICAS || last < first)
		usage();
	for (seed = first; seed <= last; seed++) {
		o.seed = seed;
		if (sim_run_seed(&o) != 0)
			failures++;
	}
	printf("chubby-sim: %" PRIu64 " seeds, %" PRIu64 " failed\n", last - first + 1, failures);
	return failures == 0 ? 0 : 1;
}
