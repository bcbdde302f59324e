/* ns_stamp.c: stamps for namespace commands that advance as real time does
 * (ns_stamp.h). */
#include "config.h"

#include "ns_stamp.h"

uint64_t
ns_stamp_now(struct ns_stamp_clock *c, uint64_t epoch, uint64_t last, uint64_t wall_ms,
    uint64_t mono_ms)
{
	uint64_t t;

	if (!c->set || c->epoch != epoch || mono_ms < c->base_mono) {
		/* A new term (or a monotonic clock that went back, which it
		 * cannot: start afresh rather than wrap). */
		c->set = true;
		c->epoch = epoch;
		c->base = wall_ms > last ? wall_ms : last;
		c->base_mono = mono_ms;
	}
	t = c->base + (mono_ms - c->base_mono);
	return t > last ? t : last;
}
