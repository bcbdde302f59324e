/* test_ns_stamp.c: the master's command stamps (server/ns/ns_stamp.c)
 * against wall-clock steps, with both clocks simulated. */
#include "config.h"

#include <stdint.h>

#include "harness.h"
#include "ns/ns_stamp.h"

#define HOUR 3600000ULL
#define T0 1790000000000ULL /* a wall-clock time, ms */

/* Within a term stamps follow the monotonic clock: a step of the wall
 * clock, ahead or back, moves nothing. */
static void
test_step_in_term(void)
{
	struct ns_stamp_clock c = {0};
	uint64_t s0, s1, s2, s3;

	s0 = ns_stamp_now(&c, 7, 0, T0, 1000);
	CU_ASSERT_EQUAL(s0, T0);
	s1 = ns_stamp_now(&c, 7, s0, T0 + HOUR, 1500); /* the wall clock jumps ahead */
	CU_ASSERT_EQUAL(s1, T0 + 500);
	s2 = ns_stamp_now(&c, 7, s1, T0 + 600, 1600); /* and comes back */
	CU_ASSERT_EQUAL(s2, T0 + 600);
	s3 = ns_stamp_now(&c, 7, s2, T0 - HOUR, 4600); /* then falls an hour behind */
	CU_ASSERT_EQUAL(s3, T0 + 3600);
}

/* The case: a lock freed with a 15 s delay while the wall clock is
 * an hour ahead can be taken 15 s of real time later, not an hour later. */
static void
test_lock_delay_in_real_time(void)
{
	struct ns_stamp_clock c = {0};
	uint64_t freed, until, t;

	ns_stamp_now(&c, 3, 0, T0, 0);
	freed = ns_stamp_now(&c, 3, T0, T0 + HOUR, 10000);
	until = freed + 15000;
	t = ns_stamp_now(&c, 3, freed, T0 + 10000 + 14999, 10000 + 14999);
	CU_ASSERT(t < until); /* not a millisecond early */
	t = ns_stamp_now(&c, 3, freed, T0 + 10000 + 15000, 10000 + 15000);
	CU_ASSERT(t >= until); /* and not an hour late */
}

/* A new term reads the wall clock again, but never goes below the newest
 * applied stamp. */
static void
test_new_term(void)
{
	struct ns_stamp_clock c = {0};
	uint64_t s;

	ns_stamp_now(&c, 1, 0, T0, 100);
	/* A later master whose wall clock is behind the log's last stamp. */
	s = ns_stamp_now(&c, 2, T0 + 5000, T0 + 1000, 200);
	CU_ASSERT_EQUAL(s, T0 + 5000);
	CU_ASSERT_EQUAL(ns_stamp_now(&c, 2, s, T0 + 1000, 300), T0 + 5100);
	/* One whose wall clock is ahead of it starts from the wall clock. */
	s = ns_stamp_now(&c, 3, T0 + 5100, T0 + 9000, 400);
	CU_ASSERT_EQUAL(s, T0 + 9000);
	/* Never below LAST, even if another writer's stamps ran ahead. */
	CU_ASSERT_EQUAL(ns_stamp_now(&c, 3, T0 + 20000, T0 + 9000, 500), T0 + 20000);
}

/* Stamps never decrease within a term, whatever the wall clock does. */
static void
test_monotonic(void)
{
	struct ns_stamp_clock c = {0};
	uint64_t last = 0, mono = 0, wall = T0, x = harness_seed() | 1, first = 0, first_mono = 0;

	for (int i = 0; i < 10000; i++) {
		uint64_t s;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		mono += x % 50;
		wall = (x & 0x100) ? wall + x % 50 : wall - x % 3000; /* steps both ways */
		s = ns_stamp_now(&c, 9, last, wall, mono);
		CU_ASSERT_FATAL(s >= last);
		if (i == 0) {
			first = s;
			first_mono = mono;
		}
		last = s;
	}
	/* ... and advance exactly as the monotonic clock did. */
	CU_ASSERT_EQUAL(last, first + (mono - first_mono));
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a wall-clock step within a term moves no stamp", test_step_in_term},
	    {"a lock-delay is counted in real time", test_lock_delay_in_real_time},
	    {"a new term starts from max(wall clock, last stamp)", test_new_term},
	    {"stamps never decrease", test_monotonic},
	    {NULL, NULL},
	};
	harness_suite("ns_stamp", NULL, NULL, tests);
}
