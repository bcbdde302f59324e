/*
 * test_sim.c: Paxos safety and liveness in the deterministic simulator: fixed
 * scenarios (fail-over, partitions, loss, crashes, wiped stores, tight lease
 * timing), the runs of the regression list (tests/sim/regress-seeds, every
 * time) and a randomized sweep of seeds starting from harness_seed()
 * (tests/run-all draws a fresh one per run).  CHUBBY_SIM_SEEDS sets the
 * sweep's size, CHUBBY_SIM_SCALE multiplies it (0: no sweep);
 * CHUBBY_SIM_REGRESS names another list; CHUBBY_SIM_VERBOSE traces the
 * scenarios.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "sim.h"

static struct sim *
scenario(unsigned replicas, uint64_t seed)
{
	struct sim_opts o;
	struct sim *s;

	sim_opts_defaults(&o);
	o.replicas = replicas;
	o.seed = harness_seed() ^ seed;
	o.faults = 0;
	o.verbose = getenv("CHUBBY_SIM_VERBOSE") != NULL;
	s = sim_new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

static void
finish(struct sim *s)
{
	CU_ASSERT(sim_check_liveness(s, 30000));
	CU_ASSERT(!sim_failed(s));
	sim_free(s);
}

static void
test_no_faults(void)
{
	struct sim *s = scenario(3, 1);
	unsigned m = sim_wait_master(s, 5000);

	CU_ASSERT(m != 0);
	sim_run(s, 5000);
	CU_ASSERT(sim_acked(s) > 50);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	finish(s);
}

/*
 * A slow disk (syncs of up to 600 ms, beyond the heartbeat period and near
 * the lease, 1000 ms) under load: lease renewals overtake the slow writes
 * (they depend only on promises already on disk), so the master keeps its
 * lease the whole time.
 */
static void
test_slow_disk(void)
{
	struct sim *s = scenario(5, 0);
	unsigned m = sim_wait_master(s, 5000);
	uint64_t lapses;

	CU_ASSERT(m != 0);
	sim_set_sync(s, 600);
	lapses = sim_lease_lapses(s);
	sim_run(s, 20000);
	CU_ASSERT(sim_acked(s) > 20);
	CU_ASSERT_EQUAL(sim_lease_lapses(s), lapses);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	sim_set_sync(s, 0);
	finish(s);
}

static void
test_crash_master(void)
{
	struct sim *s = scenario(3, 2);
	unsigned m = sim_wait_master(s, 5000), m2;
	uint64_t acked;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 2000);
	sim_crash(s, m);
	acked = sim_acked(s);
	m2 = sim_wait_master(s, 5000);
	CU_ASSERT(m2 != 0 && m2 != m);
	sim_run(s, 2000);
	CU_ASSERT(sim_acked(s) > acked);
	sim_restart(s, m);
	finish(s);
}

/*
 * Fail-over on a starved CPU (CI under ASan on 2 cores, beside 32 busy
 * client threads): the local cell's timings, every replica's loop now and
 * then stopped for 100..500 ms ("event loop ran N ms late"), and synced
 * writes of up to 400 ms.  Returns the virtual ms from killing the serving
 * master to a new master serving (MAX_MS if none did by then).
 */
static uint64_t
failover_under_lag(uint64_t seed, unsigned lag_ms, unsigned sync_max_ms, uint64_t max_ms)
{
	struct sim_opts o;
	struct sim *s;
	uint64_t t0, took;
	unsigned m, m2;

	sim_opts_defaults(&o);
	o.replicas = 5;
	o.seed = seed;
	o.faults = 0;
	o.cell_timings = true;
	o.verbose = getenv("CHUBBY_SIM_VERBOSE") != NULL;
	s = sim_new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(sim_wait_master(s, 10000) != 0);
	sim_set_lag(s, lag_ms);
	sim_set_sync(s, sync_max_ms);
	sim_run(s, 3000);
	/* A stalled master may have let its lease lapse: kill one serving. */
	m = sim_wait_master(s, 20000);
	CU_ASSERT_FATAL(m != 0);
	sim_crash(s, m);
	t0 = sim_now(s);
	m2 = sim_wait_master(s, max_ms);
	took = m2 != 0 ? sim_now(s) - t0 : max_ms;
	CU_ASSERT(m2 != m);
	sim_set_lag(s, 0);
	sim_set_sync(s, 0);
	sim_restart(s, m);
	finish(s);
	return took;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * CI saw 11 s without a master after a kill, where the same cell had taken
 * 1.9 s a round before: candidates kept starting Phase 1 over each other's,
 * none finishing.  Over a fixed set of seeds the slowest fail-over must
 * stay within 7.5 s: about four times the median with the fix (1.8 s),
 * generous because the bound is the point, not the figure.  The old core
 * took up to 13 s on these seeds.  CHUBBY_SIM_FAILOVER_SEEDS sets how many
 * seeds (docs/PAXOS.md, "The simulator").
 */
static void
test_failover_starved_cpu(void)
{
	const char *env = getenv("CHUBBY_SIM_FAILOVER_SEEDS"), *pre = getenv("LD_PRELOAD");
	unsigned n = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 40, i;
	uint64_t *ms;

	if (n == 0)
		n = 40;
	/* Under valgrind (about 50 times slower) the first ten seeds: the
	 * seeds are the same, the bound holds for each. */
	if (env == NULL && pre != NULL && strstr(pre, "vgpreload") != NULL)
		n = 10;
	ms = calloc(n, sizeof *ms);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ms);
	for (i = 0; i < n; i++)
		ms[i] = failover_under_lag(1000 + i, 500, 400, 30000);
	qsort(ms, n, sizeof *ms, cmp_u64);
	printf("fail-over with 100..500 ms loop stalls and syncs up to 400 ms, %u seeds: median %" PRIu64 " ms, p90 %" PRIu64
	    " ms, max %" PRIu64 " ms\n", n, ms[n / 2], ms[n * 9 / 10], ms[n - 1]);
	CU_ASSERT(ms[n - 1] <= 7500);
	free(ms);
}

static void
test_partition_master(void)
{
	struct sim *s = scenario(5, 3);
	unsigned m = sim_wait_master(s, 5000), m2;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 1000);
	sim_isolate(s, 1u << (m - 1));
	sim_run(s, 5000);
	m2 = sim_serving_master(s);
	CU_ASSERT(m2 != 0 && m2 != m);
	sim_heal(s);
	sim_run(s, 2000);
	CU_ASSERT_EQUAL(sim_serving_master(s), m2);
	finish(s);
}

static void
test_split_2_3(void)
{
	struct sim *s = scenario(5, 4);
	unsigned m;

	CU_ASSERT_FATAL(sim_wait_master(s, 5000) != 0);
	sim_isolate(s, 0x3); /* {1,2} | {3,4,5} */
	sim_run(s, 6000);
	m = sim_serving_master(s);
	CU_ASSERT(m >= 3 && m <= 5);
	sim_heal(s);
	sim_isolate(s, 0x18); /* {4,5} | {1,2,3} */
	sim_run(s, 6000);
	m = sim_serving_master(s);
	CU_ASSERT(m >= 1 && m <= 3);
	finish(s);
}

static void
test_lossy_network(void)
{
	struct sim *s = scenario(3, 5);

	sim_net(s, 20, 10, 100);
	CU_ASSERT(sim_wait_master(s, 15000) != 0);
	sim_run(s, 10000);
	CU_ASSERT(sim_acked(s) > 0);
	finish(s);
}

static void
test_crash_all(void)
{
	struct sim *s = scenario(3, 6);
	unsigned i;

	CU_ASSERT_FATAL(sim_wait_master(s, 5000) != 0);
	sim_run(s, 3000);
	for (i = 1; i <= 3; i++)
		sim_crash(s, i);
	sim_run(s, 500);
	for (i = 1; i <= 3; i++)
		sim_restart(s, i);
	/* Restarted replicas promise nothing for a lease period. */
	sim_run(s, 900);
	CU_ASSERT_EQUAL(sim_serving_master(s), 0);
	CU_ASSERT(sim_wait_master(s, 5000) != 0);
	finish(s);
}

static void
test_wipe_follower(void)
{
	struct sim *s = scenario(3, 7);
	unsigned m = sim_wait_master(s, 5000), f;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 4000); /* long enough for snapshots and truncation */
	f = m % 3 + 1;
	sim_wipe(s, f);
	sim_restart(s, f);
	sim_run(s, 4000);
	CU_ASSERT(sim_applied(s, f) > 0);
	finish(s); /* which also requires every replica to vote again */
}

static void
test_wipe_master(void)
{
	struct sim *s = scenario(3, 8);
	unsigned m = sim_wait_master(s, 5000);

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 3000);
	sim_wipe(s, m);
	sim_run(s, 200);
	sim_restart(s, m);
	sim_run(s, 5000);
	CU_ASSERT(sim_serving_master(s) != m);
	finish(s);
}

/*
 * The lease at its tightest.  The master M's clock is as slow as the bound
 * allows and the others' as fast; acknowledgements back to M are slow (a
 * master counting from the replies would overrun).  B is cut from M first,
 * so it campaigns early and A refuses it while A's lease to M runs, telling
 * B how long is left; then M is cut off.  B asks again the moment A's lease
 * ends, so it serves about as early as any new master can: M must have
 * stopped serving by then (invariant 2, checked after every step).
 */
static void
test_lease_tight(void)
{
	unsigned round, i, m, a, b;
	struct sim *s;

	/* Isolation lands at a different point of the heartbeat cycle each
	 * round; no client load, so that B's log is not truncated away and
	 * its campaign goes on. */
	for (round = 0; round < 12; round++) {
		s = scenario(3, 100 + round);
		sim_set_load(s, false);
		sim_net(s, 0, 0, 1);
		m = sim_wait_master(s, 5000);
		CU_ASSERT_FATAL(m != 0);
		a = m % 3 + 1;
		b = a % 3 + 1;
		for (i = 1; i <= 3; i++) {
			sim_set_drift(s, i, i == m ? -sim_max_drift(s) : sim_max_drift(s));
			if (i != m)
				sim_link_delay(s, i, m, 80);
		}
		sim_run(s, 500);
		sim_cut(s, m, b);
		sim_run(s, 1500 + round * 13);
		CU_ASSERT_EQUAL(sim_serving_master(s), m);
		sim_isolate(s, 1u << (m - 1));
		sim_run(s, 3000);
		CU_ASSERT(sim_serving_master(s) == a || sim_serving_master(s) == b);
		finish(s);
	}
}

/*
 * A replica that restarts forgets the leases it granted: it must promise
 * nothing for a lease period.  M's lease rests on {M, A} because B is cut
 * from M; then M is cut off entirely and A reboots at once.  B campaigns as
 * soon as it may; A must not help it win while M's lease can still run.
 */
static void
test_restart_during_lease(void)
{
	struct sim *s = scenario(3, 9);
	unsigned m = sim_wait_master(s, 5000), a, b;

	CU_ASSERT_FATAL(m != 0);
	a = m % 3 + 1;
	b = a % 3 + 1;
	sim_net(s, 0, 0, 1);
	sim_run(s, 500);
	sim_cut(s, m, b);
	sim_run(s, 900);
	sim_isolate(s, 1u << (m - 1));
	sim_crash(s, a);
	sim_restart(s, a);
	sim_run(s, 4000);
	CU_ASSERT(sim_serving_master(s) == a || sim_serving_master(s) == b);
	finish(s);
}

/*
 * Issue 17 item 1: a follower that comes back must not depose a healthy
 * master.  F is partitioned away for eight leases and healed; then it
 * restarts while the master's link to it is still down (in chubbyd the
 * master's connection to a restarted peer takes a while to come back), so
 * it hears the other followers but not the master.  A majority that hears
 * the master would not promise F (pre-vote), so F's promise never rises,
 * the master never sees a higher promise, and clients see no fail-over.
 */
static void
test_rejoin_keeps_master(void)
{
	struct sim *s = scenario(5, 10);
	unsigned m = sim_wait_master(s, 5000), f;
	uint64_t epoch, changes, promised;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 1000);
	/* The first master may lose a duel at the start: take the settled one. */
	m = sim_serving_master(s);
	CU_ASSERT_FATAL(m != 0);
	epoch = sim_serving_epoch(s);
	changes = sim_master_changes(s);
	f = m % 5 + 1;
	promised = sim_promised(s, f);
	sim_isolate(s, 1u << (f - 1));
	sim_run(s, 8000);
	CU_ASSERT_EQUAL(sim_promised(s, f), promised);
	sim_heal(s);
	sim_run(s, 3000);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	CU_ASSERT_EQUAL(sim_serving_epoch(s), epoch);
	/* No load from here: F's log stays current, so what holds it back
	 * is the others' leases to the master, not its being behind. */
	sim_set_load(s, false);
	sim_run(s, 500);
	sim_crash(s, f);
	sim_restart(s, f);
	sim_cut(s, m, f);
	sim_run(s, 5000);
	CU_ASSERT_EQUAL(sim_promised(s, f), promised);
	sim_heal(s);
	sim_run(s, 3000);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	CU_ASSERT_EQUAL(sim_serving_epoch(s), epoch);
	CU_ASSERT_EQUAL(sim_master_changes(s), changes);
	finish(s);
}

/*
 * Issue 17 item 5: the minority side of a long partition does not raise
 * its ballot round after round.  Two followers are cut off for 30 leases:
 * they can never learn that a majority would promise them, so neither
 * promise moves at all, and the majority keeps its master and epoch.
 */
static void
test_minority_ballots_bounded(void)
{
	struct sim *s = scenario(5, 11);
	unsigned m = sim_wait_master(s, 5000), a, b;
	uint64_t epoch, pa, pb;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 1000);
	/* The first master may lose a duel at the start: take the settled one. */
	m = sim_serving_master(s);
	CU_ASSERT_FATAL(m != 0);
	epoch = sim_serving_epoch(s);
	a = m % 5 + 1;
	b = a % 5 + 1;
	pa = sim_promised(s, a);
	pb = sim_promised(s, b);
	sim_isolate(s, (1u << (a - 1)) | (1u << (b - 1)));
	sim_run(s, 30000);
	printf("\n  minority of 2 over 30 leases: ballot rounds %" PRIu64 " -> %" PRIu64 ", %"
	    PRIu64 " -> %" PRIu64 "\n", pa >> 8, sim_promised(s, a) >> 8, pb >> 8,
	    sim_promised(s, b) >> 8);
	CU_ASSERT_EQUAL(sim_promised(s, a), pa);
	CU_ASSERT_EQUAL(sim_promised(s, b), pb);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	CU_ASSERT_EQUAL(sim_serving_epoch(s), epoch);
	sim_heal(s);
	sim_run(s, 3000);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	CU_ASSERT_EQUAL(sim_serving_epoch(s), epoch);
	finish(s);
}

/*
 * Hand-off (lockctl master handoff): the master stops renewing once the
 * target has caught up, and the target takes over about one lease later:
 * exactly one new master, the one named, with one more round; the safety
 * invariants hold throughout (checked after every step).  Then a hand-off
 * to whoever is furthest along, and refusals: not to itself, not to a
 * stranger.
 */
static void
test_handoff(void)
{
	struct sim *s = scenario(5, 12);
	unsigned m = sim_wait_master(s, 5000), t, m2;
	uint64_t epoch, changes;

	CU_ASSERT_FATAL(m != 0);
	sim_run(s, 1000);
	m = sim_serving_master(s);
	CU_ASSERT_FATAL(m != 0);
	epoch = sim_serving_epoch(s);
	changes = sim_master_changes(s);
	t = m % 5 + 1;
	CU_ASSERT_EQUAL(sim_handoff(s, m), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(sim_handoff(s, 9), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(sim_handoff(s, t), CHUBBY_OK);
	/* About a lease (1000 ms) for the grants to run out, and a little. */
	sim_run(s, 2500);
	CU_ASSERT_EQUAL(sim_serving_master(s), t);
	CU_ASSERT_EQUAL(sim_master_changes(s), changes + 1);
	CU_ASSERT_EQUAL(sim_serving_epoch(s) >> 8, (epoch >> 8) + 1);
	CU_ASSERT_EQUAL(sim_serving_epoch(s) & 0xff, t);
	epoch = sim_serving_epoch(s);
	CU_ASSERT_EQUAL(sim_handoff(s, 0), CHUBBY_OK);
	sim_run(s, 2500);
	m2 = sim_serving_master(s);
	CU_ASSERT(m2 != 0 && m2 != t);
	CU_ASSERT_EQUAL(sim_master_changes(s), changes + 2);
	CU_ASSERT_EQUAL(sim_serving_epoch(s) >> 8, (epoch >> 8) + 1);
	finish(s);
}

/*
 * Hand-offs in the middle of crashes, partitions, loss and a slow disk
 * (every fault level, several cell sizes), to whoever is serving at the
 * time, named or not: the safety invariants are checked after every step,
 * and the cell must be live afterwards.
 */
static void
test_handoff_under_faults(void)
{
	static const unsigned sizes[] = { 3, 5, 7 };
	struct sim *s;
	unsigned k, i, n;

	for (k = 0; k < 12; k++) {
		n = sizes[k % 3];
		s = scenario(n, 300 + k);
		sim_random_faults(s, 1 + (int)(k % 3));
		if (k % 4 == 3)
			sim_set_sync(s, 400);
		for (i = 0; i < 30 && !sim_failed(s); i++) {
			(void)sim_handoff(s, i % 3 == 0 ? 0 : 1 + (unsigned)((k + i) % n));
			sim_run(s, 300 + 97 * (i % 7));
		}
		sim_random_faults(s, 0);
		sim_set_sync(s, 0);
		finish(s);
	}
}

static void
cell_of(unsigned n)
{
	struct sim_opts o;
	unsigned k;

	for (k = 0; k < 3; k++) {
		sim_opts_defaults(&o);
		o.replicas = n;
		o.seed = harness_seed() + 1000 * n + k;
		o.faults = 2;
		o.fault_ms = 8000;
		CU_ASSERT_EQUAL(sim_run_seed(&o), 0);
	}
}

static void
test_cell_1(void)
{
	cell_of(1);
}

static void
test_cell_3(void)
{
	cell_of(3);
}

static void
test_cell_5(void)
{
	cell_of(5);
}

static void
test_cell_7(void)
{
	cell_of(7);
}

/*
 * How many random seeds to sweep: about 20 s plain on one core, less under
 * the sanitizers and valgrind (which CI runs this under), so that every
 * pass stays within a minute.  CHUBBY_SIM_SEEDS sets it outright;
 * CHUBBY_SIM_SCALE multiplies the default.
 */
static unsigned
sweep_seeds(void)
{
	const char *e = getenv("CHUBBY_SIM_SEEDS"), *pre = getenv("LD_PRELOAD");
	unsigned n = 4000;

	if (e != NULL)
		return (unsigned)strtoul(e, NULL, 0);
#if defined(__SANITIZE_ADDRESS__)
	n = 400;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	n = 400;
#endif
#endif
	if (pre != NULL && strstr(pre, "vgpreload") != NULL)
		n = 40;
	if ((e = getenv("CHUBBY_SIM_SCALE")) != NULL)
		n = (unsigned)(n * strtod(e, NULL));
	return n;
}

/*
 * What a failure prints after "regress:" parses back into the same options,
 * each of them: a line that left one out (the sweep's --fault-ms, its slow
 * disk's --sync-max-ms) would replay another run.
 */
static void
test_replay_line(void)
{
	struct sim_opts a, b;
	char line[256];
	unsigned i;

	for (i = 0; i < 16; i++) {
		sim_opts_defaults(&a);
		a.seed = harness_seed() * 7919 + i;
		a.replicas = 1 + i % 7;
		a.faults = (int)(i % 4);
		a.fault_ms = 1000 + 37 * i;
		a.fault_steps = i % 3 == 0 ? 5000 + i : 0;
		a.live_ms = 20000 + i;
		a.sync_max_ms = i % 2 ? 400 : 0;
		a.load = i % 5 != 0;
		a.members = i % 3 == 0 ? 0 : 1 + i % a.replicas;
		a.reconfig = i % 2 == 0;
		sim_opts_format(&a, line, sizeof line);
		sim_opts_defaults(&b);
		CU_ASSERT_EQUAL_FATAL(sim_opts_parse_line(&b, line), 1);
		CU_ASSERT_EQUAL(b.seed, a.seed);
		CU_ASSERT_EQUAL(b.replicas, a.replicas);
		CU_ASSERT_EQUAL(b.faults, a.faults);
		CU_ASSERT_EQUAL(b.fault_ms, a.fault_ms);
		CU_ASSERT_EQUAL(b.fault_steps, a.fault_steps);
		CU_ASSERT_EQUAL(b.live_ms, a.live_ms);
		CU_ASSERT_EQUAL(b.sync_max_ms, a.sync_max_ms);
		CU_ASSERT_EQUAL(b.load, a.load);
		CU_ASSERT_EQUAL(b.members, a.members);
		CU_ASSERT_EQUAL(b.reconfig, a.reconfig);
	}
	sim_opts_defaults(&b);
	CU_ASSERT_EQUAL(sim_opts_parse_line(&b, "   # a comment\n"), 0);
	CU_ASSERT_EQUAL(sim_opts_parse_line(&b, "--replicas 3  # no seed\n"), -1);
	CU_ASSERT_EQUAL(sim_opts_parse_line(&b, "--seed 012x\n"), -1);
	CU_ASSERT_EQUAL(sim_opts_parse_line(&b, "--seed 1 --frobs 2\n"), -1);
	CU_ASSERT_EQUAL(sim_opts_parse_line(&b, "--seed 1 --replicas 9\n"), -1);
}

#ifndef SIM_REGRESS_FILE
#define SIM_REGRESS_FILE "tests/sim/regress-seeds"
#endif

/* Runs of the regression list done, to keep the sweep's total the same. */
static unsigned regress_runs;

/*
 * Every run of the regression list, each exactly as its line says (the
 * line a failure prints after "regress:").  A list that is missing, bad or
 * empty fails: a regression check that runs nothing proves nothing.
 */
static void
test_regress(void)
{
	const char *path = getenv("CHUBBY_SIM_REGRESS");
	char line[512];
	unsigned lineno = 0, failed = 0;
	FILE *f;

	if (path == NULL)
		path = SIM_REGRESS_FILE;
	f = fopen(path, "r");
	if (f == NULL)
		fprintf(stderr, "test_sim: cannot open the regression list %s\n", path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof line, f) != NULL) {
		struct sim_opts o;
		int rc;

		lineno++;
		sim_opts_defaults(&o);
		rc = sim_opts_parse_line(&o, line);
		if (rc == 0)
			continue;
		if (rc < 0) {
			fprintf(stderr, "%s:%u: not chubby-sim arguments with --seed\n", path, lineno);
			CU_FAIL("a bad line in the regression list");
			continue;
		}
		regress_runs++;
		if (sim_run_seed(&o) != 0)
			failed++;
	}
	fclose(f);
	printf("\n  regression list: %u runs from %s, %u failed\n", regress_runs, path, failed);
	CU_ASSERT(regress_runs > 0);
	CU_ASSERT_EQUAL(failed, 0);
}

/*
 * Many seeds, every cell size, every fault level.  The runs of the
 * regression list are taken off its size, so that CI time stays the same.
 */
static void
test_random_sweep(void)
{
	static const unsigned sizes[] = { 1, 3, 5, 7 };
	struct sim_opts o;
	unsigned i, n = sweep_seeds(), failed = 0;
	uint64_t base = harness_seed();

	n = n > regress_runs ? n - regress_runs : 0;
	for (i = 0; i < n; i++) {
		sim_opts_defaults(&o);
		o.seed = base + i;
		o.replicas = sizes[i % 4];
		o.faults = 1 + (int)((i / 4) % 3);
		o.fault_ms = 15000;
		/* Every eighth seed on a slow disk: writes outlast heartbeats. */
		if (i % 8 == 7)
			o.sync_max_ms = 400;
		if (sim_run_seed(&o) != 0)
			failed++;
	}
	printf("\n  random sweep: %u seeds from %" PRIu64 ", %u failed\n", n, base, failed);
	CU_ASSERT_EQUAL(failed, 0);
}

/* ---- membership ------------------------------------------------------- */

static struct sim *
scenario_members(unsigned replicas, unsigned members, uint64_t seed)
{
	struct sim_opts o;
	struct sim *s;

	sim_opts_defaults(&o);
	o.replicas = replicas;
	o.members = members;
	o.seed = harness_seed() ^ seed;
	o.faults = 0;
	o.verbose = getenv("CHUBBY_SIM_VERBOSE") != NULL;
	s = sim_new(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* Asks the serving master for a change until it takes it: another change
 * in flight, no lease under the current configuration yet, or no master
 * are reasons to ask again a little later. */
static bool
change(struct sim *s, unsigned op, unsigned id, uint64_t max_ms)
{
	uint64_t end = sim_now(s) + max_ms;
	int rc;

	while (sim_now(s) < end && !sim_failed(s)) {
		rc = sim_change(s, op, id);
		if (rc == CHUBBY_OK)
			return true;
		CU_ASSERT(rc == CHUBBY_E_BUSY || rc == CHUBBY_E_UNAVAILABLE ||
		    rc == CHUBBY_E_NOT_MASTER);
		sim_run(s, 50);
	}
	return false;
}

/* Runs until the configuration chosen has ID as a voter (WANT) or not. */
static bool
wait_voter(struct sim *s, unsigned id, bool want, uint64_t max_ms)
{
	uint64_t end = sim_now(s) + max_ms;

	while (sim_now(s) < end && !sim_failed(s)) {
		if (paxos_conf_has_voter(sim_conf(s), id) == want &&
		    !paxos_conf_has_learner(sim_conf(s), id))
			return true;
		sim_run(s, 50);
	}
	return false;
}

/*
 * As an operator does under faults: asks for the change, and asks again
 * every second until the configuration chosen has it (a change proposed
 * by a master that lost its lease before it was chosen may be lost with
 * it, like any command not yet acknowledged).
 */
static bool
reach(struct sim *s, unsigned op, unsigned id, uint64_t max_ms)
{
	uint64_t end = sim_now(s) + max_ms, ask = 0;
	bool want = op == PAXOS_MEMBER_ADD;
	int rc;

	while (sim_now(s) < end && !sim_failed(s)) {
		if (paxos_conf_has_voter(sim_conf(s), id) == want &&
		    !paxos_conf_has_learner(sim_conf(s), id))
			return true;
		if (sim_now(s) >= ask) {
			rc = sim_change(s, op, id);
			CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_BUSY ||
			    rc == CHUBBY_E_UNAVAILABLE || rc == CHUBBY_E_NOT_MASTER ||
			    rc == CHUBBY_E_INVALID);
			ask = sim_now(s) + (rc == CHUBBY_OK ? 1000 : 50);
		}
		sim_run(s, 50);
	}
	return false;
}

/*
 * Grow 3 -> 5 and shrink 5 -> 3 under load, no faults: every change is
 * one entry, a new member votes once promoted, and clients see no
 * fail-over but the one for removing the master itself.
 */
static void
test_members_grow_shrink(void)
{
	struct sim *s = scenario_members(5, 3, 30);
	unsigned m = sim_wait_master(s, 5000), other, id;
	uint64_t changes, acked;

	CU_ASSERT_FATAL(m != 0);
	changes = sim_master_changes(s);
	for (id = 4; id <= 5; id++) {
		CU_ASSERT_FATAL(change(s, PAXOS_MEMBER_ADD, id, 5000));
		CU_ASSERT_FATAL(wait_voter(s, id, true, 10000));
	}
	CU_ASSERT_EQUAL(sim_conf(s)->nvoters, 5);
	CU_ASSERT_EQUAL(sim_serving_master(s), m);
	other = m == 1 ? 2 : 1;
	CU_ASSERT_FATAL(change(s, PAXOS_MEMBER_REMOVE, other, 5000));
	CU_ASSERT_FATAL(wait_voter(s, other, false, 10000));
	CU_ASSERT_EQUAL(sim_master_changes(s), changes);
	/* The master removes itself: it steps down once that is chosen. */
	CU_ASSERT_FATAL(change(s, PAXOS_MEMBER_REMOVE, m, 5000));
	CU_ASSERT_FATAL(wait_voter(s, m, false, 10000));
	acked = sim_acked(s);
	id = sim_wait_master(s, 10000);
	CU_ASSERT(id != 0 && id != m);
	CU_ASSERT_EQUAL(sim_master_changes(s), changes + 1);
	CU_ASSERT_EQUAL(sim_conf(s)->nvoters, 3);
	sim_run(s, 2000);
	CU_ASSERT(sim_acked(s) > acked);
	finish(s);
}

/*
 * The same with faults in the middle of each change: the master crashes
 * just after proposing one, is cut off during the next, a member to be
 * removed is down.  No safety invariant may break (checked at every step),
 * and the cell ends with the configuration asked for.
 */
static void
test_members_under_faults(void)
{
	unsigned seed;

	for (seed = 0; seed < 6; seed++) {
		struct sim *s = scenario_members(5, 3, 40 + seed);
		unsigned m = sim_wait_master(s, 5000), id, victim = 0, i;

		CU_ASSERT_FATAL(m != 0);
		sim_net(s, 3, 2, 30);
		/* The master crashes just after proposing the change. */
		CU_ASSERT_FATAL(change(s, PAXOS_MEMBER_ADD, 4, 10000));
		sim_run(s, seed * 3);
		sim_crash(s, m);
		sim_run(s, 1500);
		sim_restart(s, m);
		CU_ASSERT(reach(s, PAXOS_MEMBER_ADD, 4, 30000));
		/* The master is cut off just after proposing the next. */
		CU_ASSERT_FATAL(change(s, PAXOS_MEMBER_ADD, 5, 10000));
		m = sim_serving_master(s);
		if (m != 0) {
			sim_run(s, seed * 5);
			sim_isolate(s, 1u << (m - 1));
			sim_run(s, 2500);
			sim_heal(s);
		}
		CU_ASSERT(reach(s, PAXOS_MEMBER_ADD, 5, 30000));
		CU_ASSERT_EQUAL(sim_conf(s)->nvoters, 5);
		/* Remove two of the first three: one that is down, then the
		 * master if it is among them, while another member crashes. */
		m = sim_wait_master(s, 10000);
		for (i = 1; i <= 3; i++)
			if (i != m && victim == 0)
				victim = i;
		sim_crash(s, victim);
		CU_ASSERT(reach(s, PAXOS_MEMBER_REMOVE, victim, 30000));
		m = sim_wait_master(s, 10000);
		id = m >= 1 && m <= 3 ? m : (victim == 1 ? 2 : 1);
		CU_ASSERT(change(s, PAXOS_MEMBER_REMOVE, id, 10000));
		sim_run(s, seed * 7);
		sim_crash(s, id == m ? 4 : m);
		sim_run(s, 1000);
		sim_restart(s, id == m ? 4 : m);
		CU_ASSERT(reach(s, PAXOS_MEMBER_REMOVE, id, 30000));
		CU_ASSERT_EQUAL(sim_conf(s)->nvoters, 3);
		sim_restart(s, victim);
		finish(s);
	}
}

/*
 * Random membership changes among random faults (crashes, partitions,
 * store wipes, slow disks), every cell size, cells that start smaller than
 * their replicas.  The safety invariants are checked at every step.
 */
static void
test_members_sweep(void)
{
	static const unsigned sizes[] = { 3, 5, 7 };
	struct sim_opts o;
	unsigned i, n = sweep_seeds() / 8, failed = 0;
	uint64_t base = harness_seed() + 1000000;

	for (i = 0; i < n; i++) {
		sim_opts_defaults(&o);
		o.seed = base + i;
		o.replicas = sizes[i % 3];
		o.members = i % 2 == 0 ? (o.replicas == 3 ? 1 : 3) : o.replicas;
		o.faults = 1 + (int)((i / 3) % 3);
		o.fault_ms = 15000;
		o.reconfig = true;
		if (i % 8 == 7)
			o.sync_max_ms = 400;
		if (sim_run_seed(&o) != 0)
			failed++;
	}
	printf("\n  membership sweep: %u seeds from %" PRIu64 ", %u failed\n", n, base, failed);
	CU_ASSERT(n == 0 || failed == 0);
}

/* ---- broken variants -------------------------------------------------- */

/*
 * Each broken variant of the Paxos core (common/simknob.h, docs/PAXOS.md
 * "Broken variants") must be caught: the runs that catch it are rerun with
 * the knob on, and the test fails unless the simulator reports a violation.
 * These runs assert nothing themselves (a violation is what they want);
 * their SIM FAILURE lines on stderr are expected.
 */
/*
 * Under valgrind or ASan (where the sweep shrinks tenfold and more) each
 * knob stops at its first catch and the control runs are left out, so that
 * the suite stays within seconds there too; a plain run measures every
 * catch rate and runs the controls.
 */
static bool
broken_quick(void)
{
	const char *pre = getenv("LD_PRELOAD");

#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

/* True when a catch function may stop: quick mode and something caught. */
static bool
broken_stop(unsigned broken, unsigned caught)
{
	return broken != 0 && caught > 0 && broken_quick();
}

static struct sim *
broken_scenario(unsigned replicas, uint64_t seed, unsigned broken)
{
	struct sim_opts o;

	sim_opts_defaults(&o);
	o.replicas = replicas;
	o.seed = seed;
	o.faults = 0;
	o.broken = broken;
	o.verbose = getenv("CHUBBY_SIM_VERBOSE") != NULL;
	return sim_new(&o);
}

static bool
broken_done(struct sim *s)
{
	bool failed;

	if (s == NULL)
		return false;
	if (!sim_failed(s))
		(void)sim_check_liveness(s, 30000);
	failed = sim_failed(s);
	sim_free(s);
	return failed;
}

/* test_lease_tight's rounds with the knob on: how many failed. */
static unsigned
catch_lease_tight(unsigned broken, unsigned *runs)
{
	unsigned round, i, m, a, b, caught = 0;
	struct sim *s;

	for (round = 0; round < 12 && !broken_stop(broken, caught); round++) {
		(*runs)++;
		s = broken_scenario(3, 100 + round, broken);
		sim_set_load(s, false);
		sim_net(s, 0, 0, 1);
		m = sim_wait_master(s, 5000);
		if (m == 0) {
			sim_free(s);
			continue;
		}
		a = m % 3 + 1;
		b = a % 3 + 1;
		for (i = 1; i <= 3; i++) {
			sim_set_drift(s, i, i == m ? -sim_max_drift(s) : sim_max_drift(s));
			if (i != m)
				sim_link_delay(s, i, m, 80);
		}
		sim_run(s, 500);
		sim_cut(s, m, b);
		sim_run(s, 1500 + round * 13);
		sim_isolate(s, 1u << (m - 1));
		sim_run(s, 3000);
		caught += broken_done(s) ? 1 : 0;
	}
	return caught;
}

/* test_restart_during_lease with the knob on. */
static unsigned
catch_restart_during_lease(unsigned broken, unsigned *runs)
{
	unsigned seed, m, a, b, caught = 0;
	struct sim *s;

	for (seed = 0; seed < 8 && !broken_stop(broken, caught); seed++) {
		(*runs)++;
		s = broken_scenario(3, 9 + seed, broken);
		m = sim_wait_master(s, 5000);
		if (m == 0) {
			sim_free(s);
			continue;
		}
		a = m % 3 + 1;
		b = a % 3 + 1;
		sim_net(s, 0, 0, 1);
		sim_run(s, 500);
		sim_cut(s, m, b);
		sim_run(s, 900);
		sim_isolate(s, 1u << (m - 1));
		sim_crash(s, a);
		sim_restart(s, a);
		sim_run(s, 4000);
		caught += broken_done(s) ? 1 : 0;
	}
	return caught;
}

/*
 * test_rejoin_keeps_master with the knob on: caught when the rejoining
 * follower's promise rises or the master or its epoch changes (its own
 * checks: a liveness break, which no invariant sees), or on a violation.
 */
static unsigned
catch_rejoin(unsigned broken, unsigned *runs)
{
	unsigned seed, m, f, caught = 0;
	uint64_t epoch, changes, promised;
	struct sim *s;
	bool moved;

	for (seed = 0; seed < 4 && !broken_stop(broken, caught); seed++) {
		(*runs)++;
		s = broken_scenario(5, 10 + seed, broken);
		if (sim_wait_master(s, 5000) == 0) {
			sim_free(s);
			continue;
		}
		sim_run(s, 1000);
		if ((m = sim_serving_master(s)) == 0) {
			sim_free(s);
			continue;
		}
		epoch = sim_serving_epoch(s);
		changes = sim_master_changes(s);
		f = m % 5 + 1;
		promised = sim_promised(s, f);
		sim_isolate(s, 1u << (f - 1));
		sim_run(s, 8000);
		sim_heal(s);
		sim_run(s, 3000);
		sim_set_load(s, false);
		sim_run(s, 500);
		sim_crash(s, f);
		sim_restart(s, f);
		sim_cut(s, m, f);
		sim_run(s, 5000);
		moved = sim_promised(s, f) != promised;
		sim_heal(s);
		sim_run(s, 3000);
		moved = moved || sim_serving_master(s) != m || sim_serving_epoch(s) != epoch ||
		    sim_master_changes(s) != changes;
		caught += broken_done(s) || moved ? 1 : 0;
	}
	return caught;
}

/* Whole randomized runs (as chubby-sim runs them) of fixed seeds at fault
 * LEVEL: how many failed. */
static unsigned
catch_seeds(unsigned broken, unsigned *runs, int level)
{
	struct sim_opts o;
	uint64_t seed;
	unsigned caught = 0;

	for (seed = 1; seed <= 16 && !broken_stop(broken, caught); seed++) {
		(*runs)++;
		sim_opts_defaults(&o);
		o.seed = seed;
		o.faults = level;
		o.broken = broken;
		caught += sim_run_seed(&o) != 0 ? 1 : 0;
	}
	return caught;
}

static unsigned
catch_seeds_crash(unsigned broken, unsigned *runs)
{
	return catch_seeds(broken, runs, 2);
}

static unsigned
catch_seeds_wipe(unsigned broken, unsigned *runs)
{
	return catch_seeds(broken, runs, 3);
}

/*
 * Phase 1 adopting the lowest-ballot value needs a slot accepted in two
 * ballots and not yet known chosen where the next candidate's promises
 * meet, which a slow disk (syncs up to 400 ms) and crashes arrange in
 * about one seed in a hundred: these are seeds that do, for 3, 5 and 7
 * replicas (found with chubby-sim --seeds 1..400 --replicas R --faults 2
 * --sync-max-ms 400 --broken p1-lowest; any change to the election's
 * timing moves them).
 */
static unsigned
catch_p1_seeds(unsigned broken, unsigned *runs)
{
	static const struct {
		uint64_t seed;
		unsigned replicas;
	} runs_of[] = { { 9, 3 }, { 34, 3 }, { 77, 3 }, { 31, 5 }, { 239, 7 } };
	struct sim_opts o;
	unsigned i, caught = 0;

	for (i = 0; i < sizeof runs_of / sizeof runs_of[0] && !broken_stop(broken, caught); i++) {
		(*runs)++;
		sim_opts_defaults(&o);
		o.seed = runs_of[i].seed;
		o.replicas = runs_of[i].replicas;
		o.faults = 2;
		o.sync_max_ms = 400;
		o.broken = broken;
		caught += sim_run_seed(&o) != 0 ? 1 : 0;
	}
	return caught;
}

struct broken_case {
	const char *knob;
	unsigned (*catch)(unsigned broken, unsigned *runs);
};

/* Proposing past a configuration value not yet chosen (and so more than
 * one change at a time): random changes under crashes. */
static unsigned
catch_conf_seeds(unsigned broken, unsigned *runs)
{
	struct sim_opts o;
	uint64_t seed;
	unsigned caught = 0;

	for (seed = 1; seed <= 8 && !broken_stop(broken, caught); seed++) {
		(*runs)++;
		sim_opts_defaults(&o);
		o.seed = seed;
		o.replicas = 5;
		o.members = 3;
		o.reconfig = true;
		o.faults = 2;
		o.fault_ms = 15000;
		o.broken = broken;
		caught += sim_run_seed(&o) != 0 ? 1 : 0;
	}
	return caught;
}

static void
test_broken_variants(void)
{
	static const struct broken_case cases[] = {
		{ "no-lease-refusal", catch_lease_tight },
		{ "no-quiet", catch_restart_during_lease },
		{ "no-drift", catch_lease_tight },
		{ "half-drift", catch_lease_tight },
		{ "lease-from-replies", catch_lease_tight },
		{ "replies-before-sync", catch_seeds_crash },
		{ "wiped-votes", catch_seeds_wipe },
		{ "prevote-in-lease", catch_rejoin },
		{ "p1-lowest", catch_p1_seeds },
		{ "serve-before-noop", catch_seeds_crash },
		{ "no-prevote", catch_rejoin },
		{ "late-deadline", catch_seeds_crash },
		{ "conf-no-drain", catch_conf_seeds },
		{ NULL, NULL },
	};
	unsigned i, caught = 0, tried = 0;

	for (i = 0; cases[i].knob != NULL; i++) {
		unsigned bit = sim_knob_by_name(cases[i].knob), runs = 0, c;

		CU_ASSERT_FATAL(bit != 0);
		c = cases[i].catch(bit, &runs);
		tried++;
		caught += c > 0 ? 1 : 0;
		printf("\n  %s: caught in %u of %u runs", cases[i].knob, c, runs);
		CU_ASSERT(c > 0);
		/* The control: the same runs of the intact core catch nothing,
		 * so a catch is the knob's doing. */
		runs = 0;
		if (!broken_quick())
			CU_ASSERT_EQUAL(cases[i].catch(0, &runs), 0);
	}
	printf("\n  paxos broken: caught %u/%u\n", caught, tried);
}

void
harness_register(void)
{
	static const struct harness_test scenarios[] = {
		{ "no faults", test_no_faults },
		{ "slow disk keeps the lease", test_slow_disk },
		{ "crash the master", test_crash_master },
		{ "fail-over on a starved CPU takes a few rounds", test_failover_starved_cpu },
		{ "partition the master away", test_partition_master },
		{ "2/3 split", test_split_2_3 },
		{ "loss, duplication, reordering", test_lossy_network },
		{ "crash all and restart", test_crash_all },
		{ "wipe a follower's store", test_wipe_follower },
		{ "wipe the master's store", test_wipe_master },
		{ "lease at its tightest", test_lease_tight },
		{ "restart during a lease", test_restart_during_lease },
		{ "a rejoining follower keeps the master", test_rejoin_keeps_master },
		{ "a minority's ballots stay put", test_minority_ballots_bounded },
		{ "hand-off to a named replica, then to the best", test_handoff },
		{ "hand-offs under faults", test_handoff_under_faults },
		{ "cell of 1", test_cell_1 },
		{ "cell of 3", test_cell_3 },
		{ "cell of 5", test_cell_5 },
		{ "cell of 7", test_cell_7 },
		{ "membership: grow 3 -> 5, shrink 5 -> 3, one fail-over", test_members_grow_shrink },
		{ "membership: changes with crashes and partitions amid them", test_members_under_faults },
		{ NULL, NULL },
	};
	static const struct harness_test sweep[] = {
		{ "a failure's regress line replays it", test_replay_line },
		{ "regression list", test_regress },
		{ "random seeds", test_random_sweep },
		{ "membership changes among random faults", test_members_sweep },
		{ NULL, NULL },
	};

	harness_suite("sim scenarios", NULL, NULL, scenarios);
	static const struct harness_test broken[] = {
		{ "each broken core is caught", test_broken_variants },
		{ NULL, NULL },
	};

	harness_suite("sim sweep", NULL, NULL, sweep);
	harness_suite("broken variants", NULL, NULL, broken);
}
