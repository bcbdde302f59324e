/* latency.c: fixed-bucket latency histograms and a per-second ring. */
#include "config.h"

#include <string.h>

#include "latency.h"

static const uint64_t lat_le[LAT_NBUCKETS] = {LAT_BUCKETS};

uint64_t
lat_bucket_us(unsigned i)
{
	return i < LAT_NBUCKETS ? lat_le[i] : UINT64_MAX;
}

void
lat_hist_observe(struct lat_hist *h, uint64_t us)
{
	unsigned i = 0;

	/* Prometheus buckets are "less than or equal": a value on a bound
	 * counts in that bound's bucket. */
	while (i < LAT_NBUCKETS && us > lat_le[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum_us += us;
}

void
lat_hist_add(struct lat_hist *dst, const struct lat_hist *src)
{
	for (unsigned i = 0; i <= LAT_NBUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum_us += src->sum_us;
}

void
lat_ring_note(struct lat_ring *r, uint64_t now_ms, uint64_t us)
{
	uint64_t s = now_ms / 1000;
	struct lat_point *p = &r->slot[s % LAT_RING_S];

	/* Second S owns its slot until second S + LAT_RING_S takes it. */
	if (p->sec != s + 1) {
		memset(p, 0, sizeof *p);
		p->sec = s + 1;
	}
	p->count++;
	p->sum_us += us;
	if (us > p->max_us)
		p->max_us = us;
}

size_t
lat_ring_read(const struct lat_ring *r, uint64_t now_ms, struct lat_point *out)
{
	uint64_t s = now_ms / 1000;
	size_t n = 0;

	/* Oldest first: from second s - LAT_RING_S + 1 up to s. */
	for (uint64_t k = 0; k < LAT_RING_S; k++) {
		uint64_t want = s + k + 1 >= LAT_RING_S ? s + k + 1 - LAT_RING_S : UINT64_MAX;
		const struct lat_point *p;

		if (want == UINT64_MAX)
			continue; /* before time 0 */
		p = &r->slot[want % LAT_RING_S];
		if (p->sec != want + 1 || p->count == 0)
			continue;
		out[n] = *p;
		out[n].sec = want;
		n++;
	}
	return n;
}
