/* test_hist.c: chubby-bench's latency histogram: quantiles within the
 * bucket error, merging, and clamping.  No clocks are read. */
#include "config.h"

#include <stdlib.h>

#include "harness.h"
#include "hist.h"

/* Within the 1/32 relative width of a bucket (and 1 us near zero). */
static int
close_to(double got_ms, double want_ms)
{
	double d = got_ms - want_ms;

	if (d < 0)
		d = -d;
	return d <= want_ms / 32.0 + 0.001;
}

static void
test_empty(void)
{
	struct hist h;

	hist_init(&h);
	CU_ASSERT_EQUAL(hist_quantile_ms(&h, 0.5), 0.0);
}

static void
test_uniform(void)
{
	struct hist *h = malloc(sizeof *h);

	hist_init(h);
	for (uint64_t us = 1; us <= 100000; us++) /* 1 us .. 100 ms */
		hist_add(h, us);
	CU_ASSERT_EQUAL(h->count, 100000);
	CU_ASSERT(close_to(hist_quantile_ms(h, 0.50), 50.0));
	CU_ASSERT(close_to(hist_quantile_ms(h, 0.99), 99.0));
	CU_ASSERT(close_to(hist_quantile_ms(h, 0.999), 99.9));
	CU_ASSERT(close_to(hist_quantile_ms(h, 1.0), 100.0));
	CU_ASSERT(hist_quantile_ms(h, 1.0) <= 100.0); /* never above the largest sample */
	free(h);
}

static void
test_small_exact(void)
{
	struct hist h;

	hist_init(&h);
	for (uint64_t us = 0; us < 10; us++)
		hist_add(&h, us);
	/* Below 32 us every value has its own bucket. */
	CU_ASSERT_DOUBLE_EQUAL(hist_quantile_ms(&h, 0.5), 0.004, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(hist_quantile_ms(&h, 0.1), 0.000, 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(hist_quantile_ms(&h, 1.0), 0.009, 1e-9);
}

static void
test_merge_and_tail(void)
{
	struct hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);

	hist_init(a);
	hist_init(b);
	for (int i = 0; i < 990; i++)
		hist_add(a, 2000); /* 2 ms */
	for (int i = 0; i < 10; i++)
		hist_add(b, 500000); /* 500 ms */
	hist_merge(a, b);
	CU_ASSERT_EQUAL(a->count, 1000);
	CU_ASSERT(close_to(hist_quantile_ms(a, 0.5), 2.0));
	CU_ASSERT(close_to(hist_quantile_ms(a, 0.99), 2.0));
	CU_ASSERT(close_to(hist_quantile_ms(a, 0.995), 500.0));
	CU_ASSERT_EQUAL(a->max_us, 500000);
	free(a);
	free(b);
}

static void
test_clamp(void)
{
	struct hist h;

	hist_init(&h);
	hist_add(&h, UINT64_MAX);
	CU_ASSERT_EQUAL(h.count, 1);
	CU_ASSERT(hist_quantile_ms(&h, 0.5) > 1e9); /* clamped into the last bucket */
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"empty", test_empty},
	    {"uniform", test_uniform},
	    {"small values exact", test_small_exact},
	    {"merge and tail", test_merge_and_tail},
	    {"clamp", test_clamp},
	    {NULL, NULL},
	};
	harness_suite("hist", NULL, NULL, tests);
}
