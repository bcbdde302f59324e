/*
 * latency.h: latency accounting for /metrics and the status page
 * (docs/OPERATIONS.md "Logs and metrics"): a Prometheus-style histogram
 * with fixed buckets from 0.5 ms to 10 s, and a ring of the last
 * LAT_RING_S seconds (count, sum and maximum per second) for the page's
 * chart of recent commit latency.
 *
 * Pure (tests/check-pure.sh): the caller gives the durations and the time.
 * A leaf below every layer (tests/check-layers.sh): the replica keeps its
 * commit and fsync latency in it, the status endpoint shows them.
 * Not thread-safe: a thread other than the loop's keeps its own and the
 * loop folds it in (lat_hist_add), as the store writer's fsync times do.
 */
#ifndef CHUBBY_LATENCY_H
#define CHUBBY_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds of the buckets, in microseconds (+Inf after the last):
 * roughly 1-2.5-5 per decade, from a fast fsync on flash (0.5 ms) to a
 * request held for a lock or a KeepAlive held by the master (10 s). */
#define LAT_BUCKETS                                                                             \
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, \
	    5000000, 10000000
#define LAT_NBUCKETS 14

struct lat_hist {
	uint64_t buckets[LAT_NBUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count, sum_us;
};

void lat_hist_observe(struct lat_hist *h, uint64_t us);
/* DST += SRC, bucket by bucket. */
void lat_hist_add(struct lat_hist *dst, const struct lat_hist *src);
/* The bound of bucket I (I < LAT_NBUCKETS), in microseconds. */
uint64_t lat_bucket_us(unsigned i);

/* The last LAT_RING_S seconds, one slot per second. */
#define LAT_RING_S 60

struct lat_point {
	uint64_t sec; /* the second (monotonic ms / 1000) */
	uint64_t count, sum_us, max_us;
};

struct lat_ring {
	/* Slot sec % LAT_RING_S; .sec is the second + 1 so that 0 is unused. */
	struct lat_point slot[LAT_RING_S];
};

/* A duration of US microseconds ended at NOW_MS (a monotonic ms). */
void lat_ring_note(struct lat_ring *r, uint64_t now_ms, uint64_t us);
/* The seconds of the LAT_RING_S up to NOW_MS that saw any, oldest first,
 * into OUT (room for LAT_RING_S); returns how many. */
size_t lat_ring_read(const struct lat_ring *r, uint64_t now_ms, struct lat_point *out);

#endif
