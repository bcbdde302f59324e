/* clock.h: the shells' clocks (the pure cores never include this). */
#ifndef CHUBBY_CLOCK_H
#define CHUBBY_CLOCK_H

#include <stdint.h>

/* Milliseconds on a steady clock that keeps counting through system suspend
 * (CLOCK_BOOTTIME): for leases, timeouts and deadlines. */
uint64_t clock_mono_ms(void);
/* Microseconds on the same clock: for latencies below a millisecond. */
uint64_t clock_mono_us(void);
/* Milliseconds since the Unix epoch: only for stamping and display. */
uint64_t clock_real_ms(void);

#endif
