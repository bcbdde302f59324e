/*
 * looplag.h: how late the daemon's event loop runs (docs/OPERATIONS.md
 * "Logs and metrics").  The daemon notes here how late the replica's timer
 * fired each time (server/replica.c: armed for the Paxos core's next
 * deadline, and at least every REPLICA_TICK_MS on the master, every
 * REPLICA_IDLE_WAKE_MS elsewhere): work that holds the loop (a big snapshot,
 * an admin listing, a slow callback) shows as lag, and lag past a
 * heartbeat interval is what costs a cell its master.  Kept as a
 * histogram since start and as the largest lag of the last
 * LOOPLAG_WINDOW_S seconds.
 *
 * Pure (tests/check-pure.sh): the caller gives the time and the lag.
 */
#ifndef CHUBBY_LOOPLAG_H
#define CHUBBY_LOOPLAG_H

#include <stdint.h>

/* The window of the maximum.  A stall shorter than the timer's longest
 * sleep (REPLICA_IDLE_WAKE_MS on a follower, REPLICA_TICK_MS on the
 * master) may go unseen. */
#define LOOPLAG_WINDOW_S 10

/* Upper bounds of the histogram's buckets, in microseconds (+Inf after). */
#define LOOPLAG_BUCKETS                                                                          \
	1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000
#define LOOPLAG_NBUCKETS 12

struct looplag {
	uint64_t buckets[LOOPLAG_NBUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count, sum_us;
	/* The largest lag of each of the last LOOPLAG_WINDOW_S seconds. */
	uint64_t sec[LOOPLAG_WINDOW_S], sec_max_us[LOOPLAG_WINDOW_S];
};

void looplag_init(struct looplag *l);
/* A timer due at some time fired LAG_US late, at NOW_MS (a monotonic ms). */
void looplag_note(struct looplag *l, uint64_t now_ms, uint64_t lag_us);
/* The largest lag noted in the LOOPLAG_WINDOW_S seconds up to NOW_MS. */
uint64_t looplag_max_us(const struct looplag *l, uint64_t now_ms);
/* The bound of bucket I (I < LOOPLAG_NBUCKETS), in microseconds. */
uint64_t looplag_bucket_us(unsigned i);

#endif
