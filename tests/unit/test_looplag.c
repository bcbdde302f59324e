/*
 * test_looplag.c: the event loop lag gauge (server/status/looplag.c) on
 * virtual time: lags land in the right histogram buckets, and the window
 * maximum is the largest lag of the last LOOPLAG_WINDOW_S seconds, no
 * older, whatever the gaps between notes.
 */
#include "config.h"

#include "harness.h"
#include "status/looplag.h"

static void
test_buckets(void)
{
	struct looplag l;
	uint64_t total = 0;

	looplag_init(&l);
	looplag_note(&l, 5000, 0);       /* on time */
	looplag_note(&l, 5000, 1000);    /* 1 ms: le 0.001 */
	looplag_note(&l, 5000, 1001);    /* le 0.002 */
	looplag_note(&l, 5000, 60000);   /* le 0.1 */
	looplag_note(&l, 5000, 9000000); /* +Inf */
	CU_ASSERT_EQUAL(l.buckets[0], 2);
	CU_ASSERT_EQUAL(l.buckets[1], 1);
	CU_ASSERT_EQUAL(l.buckets[6], 1);
	CU_ASSERT_EQUAL(l.buckets[LOOPLAG_NBUCKETS], 1);
	for (unsigned i = 0; i <= LOOPLAG_NBUCKETS; i++)
		total += l.buckets[i];
	CU_ASSERT_EQUAL(total, 5);
	CU_ASSERT_EQUAL(l.count, 5);
	CU_ASSERT_EQUAL(l.sum_us, 0 + 1000 + 1001 + 60000 + 9000000);
	for (unsigned i = 1; i < LOOPLAG_NBUCKETS; i++)
		CU_ASSERT(looplag_bucket_us(i) > looplag_bucket_us(i - 1));
}

static void
test_window(void)
{
	struct looplag l;
	uint64_t t = 1000000; /* ms */

	looplag_init(&l);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t), 0);
	looplag_note(&l, t, 80000);
	looplag_note(&l, t + 10, 2000);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + 10), 80000);
	/* Smaller lags after it do not hide it while it is in the window. */
	for (uint64_t ms = 1000; ms < LOOPLAG_WINDOW_S * 1000; ms += 500)
		looplag_note(&l, t + ms, 3000);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + LOOPLAG_WINDOW_S * 1000 - 1), 80000);
	/* Once its second is out of the window, the next largest shows. */
	looplag_note(&l, t + LOOPLAG_WINDOW_S * 1000, 3000);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + LOOPLAG_WINDOW_S * 1000), 3000);
	/* A quiet loop: nothing noted for a long while, the window empties,
	 * even where an old slot's second matches modulo the window. */
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + 100 * 1000), 0);
	looplag_note(&l, t + 100 * 1000, 7000);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + 100 * 1000 + 500), 7000);
	CU_ASSERT_EQUAL(looplag_max_us(&l, t + 100 * 1000 + LOOPLAG_WINDOW_S * 1000), 0);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"lags land in their histogram buckets", test_buckets},
	    {"the maximum covers the last window only", test_window},
	    {NULL, NULL},
	};

	harness_suite("looplag", NULL, NULL, tests);
}
