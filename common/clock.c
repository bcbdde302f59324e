/* clock.c: monotonic and wall-clock milliseconds for the shells. */
#include "config.h"

#include <time.h>

#include "clock.h"

uint64_t
clock_mono_ms(void)
{
	struct timespec ts;
	/* CLOCK_BOOTTIME, not CLOCK_MONOTONIC: on Linux the latter stands
	 * still while the machine is suspended, and a master counting its
	 * lease on it would wake believing it still held a lease the other
	 * replicas saw run out (tests/integration/test_suspend.sh).  Both
	 * are steady and never step with the wall clock. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
clock_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
