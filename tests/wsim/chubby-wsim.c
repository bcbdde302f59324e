/* chubby-wsim.c: replays one whole-cell simulator seed bit for bit, sweeps
 * a range of seeds, runs a regression list, or soaks for hours. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlib.h"
#include "wsim.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: chubby-wsim [--seed N | --seeds A..B | --soak N] [--replicas R] [--clients C]\n"
	    "                   [--steps S] [--live-ms MS] [--broken NAME] [--verbose]\n"
	    "       chubby-wsim --regress FILE [--verbose]\n"
	    "       chubby-wsim --list-broken\n"
	    "  Each seed: faults for S steps (default 200000), then healing and a liveness\n"
	    "  phase of at most MS virtual ms.  --soak N runs N seeds from --seed on (N 0:\n"
	    "  until a failure), printing a line per 100.  A failure prints its arguments in\n"
	    "  full: run them to replay it; add --verbose for the whole trace.\n");
	exit(2);
}

static uint64_t
number(const char *s)
{
	return simcli_num(s, usage);
}

/* A regression list's context: --verbose, and the steps run. */
struct rctx {
	bool verbose;
	uint64_t steps;
};

static int
regress_line(void *arg, const char *line)
{
	struct rctx *x = arg;
	struct wsim_opts o;
	struct wsim_result res;
	int rc;

	wsim_opts_defaults(&o);
	if ((rc = wsim_opts_parse_line(&o, line)) <= 0)
		return rc;
	o.verbose = o.verbose || x->verbose;
	rc = wsim_run(&o, &res) != 0 ? 2 : 1;
	x->steps += res.steps;
	return rc;
}

static uint64_t
regress(const char *path, bool verbose, uint64_t *runs, uint64_t *steps)
{
	struct rctx x = {verbose, 0};
	uint64_t failures = simcli_regress(path, "chubby-wsim", regress_line, &x, runs);

	*steps += x.steps;
	return failures;
}

int
main(int argc, char **argv)
{
	struct wsim_opts o;
	struct wsim_result res;
	uint64_t first = 1, last = 1, seed, failures = 0, runs = 0, steps = 0, soak = 0;
	bool soaking = false;
	const char *list = NULL;

	wsim_opts_defaults(&o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc;

		if (strcmp(a, "--list-broken") == 0) {
			const char *nm;
			for (unsigned k = 0; (nm = wsim_broken_name(k, NULL)) != NULL; k++)
				printf("%s\n", nm);
			return 0;
		} else if (strcmp(a, "--regress") == 0 && v != NULL) {
			list = v;
			i++;
		} else if (strcmp(a, "--soak") == 0 && v != NULL) {
			soak = number(v);
			soaking = true;
			i++;
		} else if (strcmp(a, "--seeds") == 0 && v != NULL) {
			simcli_range(v, &first, &last, usage);
			i++;
		} else if ((rc = wsim_opts_set(&o, a, v)) < 0) {
			usage();
		} else {
			if (strcmp(a, "--seed") == 0)
				first = last = o.seed;
			if (rc == 2)
				i++;
		}
	}
	if (soaking)
		last = soak == 0 ? UINT64_MAX : first + soak - 1;
	if (last < first)
		usage();
	if (list != NULL) {
		failures = regress(list, o.verbose, &runs, &steps);
	} else {
		for (seed = first; seed <= last; seed++) {
			o.seed = seed;
			runs++;
			if (wsim_run(&o, &res) != 0) {
				failures++;
				if (res.steps == 0)
					fprintf(stderr, "chubby-wsim: %s\n", res.why);
			}
			steps += res.steps;
			if (soaking && runs % 100 == 0)
				printf("chubby-wsim: soak: %" PRIu64 " seeds, %" PRIu64 " steps, %" PRIu64
				    " failed\n", runs, steps, failures);
			if (soaking && soak == 0 && failures > 0)
				break;
			if (seed == UINT64_MAX)
				break;
		}
	}
	printf("chubby-wsim: %" PRIu64 " seeds, %" PRIu64 " steps, %" PRIu64 " failed\n", runs,
	    steps, failures);
	return failures == 0 ? 0 : 1;
}
