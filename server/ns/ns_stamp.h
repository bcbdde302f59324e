/*
 * ns_stamp.h: the master's clock for namespace command stamps.
 *
 * Every namespace command carries a stamp, the only time the state machine
 * knows (ns.h): it dates nodes (created_ms, modified_ms) and counts
 * lock-delays (a lock freed at stamp S with delay D may be taken by a
 * command stamped S + D or later, Chubby §2.4).  Stamps must therefore
 * advance as real time does: never faster, or a lock-delay ends early;
 * never stuck, or it never ends.  The wall clock does neither reliably: it
 * steps (NTP, an operator, a VM resumed), and the namespace keeps stamps
 * from going back, so one step ahead would pin every later stamp, and with
 * it every lock-delay, to that future time.
 *
 * So a master reads the wall clock once, when its term begins, and counts
 * from there on its monotonic clock: base = max(last applied stamp, wall
 * clock at take-over), stamp = base + monotonic time since take-over.  A
 * wall-clock step during the term changes nothing; one between terms moves
 * the next term's base only (ahead: dates run ahead until the wall clock
 * catches up; behind: the base stays at the last stamp).  Pure: the caller
 * passes both clocks in (STYLE.md "Pure cores").
 */
#ifndef CHUBBY_NS_STAMP_H
#define CHUBBY_NS_STAMP_H

#include <stdbool.h>
#include <stdint.h>

struct ns_stamp_clock {
	bool set;
	uint64_t epoch;     /* the term it counts for */
	uint64_t base;      /* stamp at take-over */
	uint64_t base_mono; /* monotonic ms at take-over */
};

/*
 * The stamp for a command the master of EPOCH proposes now.  LAST is the
 * newest stamp applied (ns_last_stamp), WALL_MS and MONO_MS the wall and
 * monotonic clocks now.  A new EPOCH (or the first call) starts a new
 * term.  Never less than LAST; never decreasing within a term.
 */
uint64_t ns_stamp_now(struct ns_stamp_clock *c, uint64_t epoch, uint64_t last, uint64_t wall_ms,
    uint64_t mono_ms);

#endif
