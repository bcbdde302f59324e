/*
 * hist.h: chubby-bench's latency histogram, after HdrHistogram: log buckets
 * (each power of two of microseconds cut into 32 sub-buckets, so a quantile
 * is within about 3% of the true sample) with fixed memory whatever the
 * number of samples.  One per thread, merged at the end: no locks.
 */
#ifndef CHUBBY_BENCH_HIST_H
#define CHUBBY_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB 32
#define HIST_MAXBIT 40 /* 2^40 us: 12 days; larger samples are clamped */
#define HIST_NBUCKETS (HIST_SUB + (HIST_MAXBIT - 5) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t max_us;
	uint64_t bucket[HIST_NBUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *into, const struct hist *from);
/* The sample at quantile Q (0..1) in milliseconds; 0 with no samples. */
double hist_quantile_ms(const struct hist *h, double q);

#endif
