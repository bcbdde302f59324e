/* hist.c: log-bucket latency histogram (see hist.h). */
#include "config.h"

#include <string.h>

#include "hist.h"

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

static unsigned
hist_index(uint64_t us)
{
	unsigned msb, shift;

	if (us < HIST_SUB)
		return (unsigned)us;
	if (us >= (UINT64_C(1) << HIST_MAXBIT))
		us = (UINT64_C(1) << HIST_MAXBIT) - 1;
	msb = 63u - (unsigned)__builtin_clzll(us); /* >= 5 */
	shift = msb - 5;
	return HIST_SUB + shift * HIST_SUB + (unsigned)((us >> shift) & (HIST_SUB - 1));
}

/* The middle of bucket I, in microseconds. */
static double
hist_value(unsigned i)
{
	unsigned shift, sub;

	if (i < HIST_SUB)
		return (double)i;
	shift = (i - HIST_SUB) / HIST_SUB;
	sub = (i - HIST_SUB) % HIST_SUB;
	return (double)((uint64_t)(HIST_SUB + sub) << shift) + (double)(UINT64_C(1) << shift) / 2.0;
}

void
hist_add(struct hist *h, uint64_t us)
{
	h->bucket[hist_index(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

void
hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_NBUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

double
hist_quantile_ms(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	double v;

	if (h->count == 0)
		return 0.0;
	/* The smallest sample with at least Q of the samples at or below it. */
	rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = hist_value(i);
			if (v > (double)h->max_us)
				v = (double)h->max_us;
			return v / 1000.0;
		}
	}
	return (double)h->max_us / 1000.0;
}
