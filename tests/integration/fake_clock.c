/* fake_clock.c: an LD_PRELOAD shim that sets a process's wall clock off by
 * an amount chosen from outside, for tests of what a clock step does
 * (test_clock_step.sh).  Before each clock_gettime(CLOCK_REALTIME) and
 * gettimeofday() it reads $CHUBBY_FAKE_CLOCK_DIR/<pid>: if it holds a
 * number N (milliseconds, may be negative), the time returned is N ms off.
 * No file, no offset.  CLOCK_MONOTONIC is never touched: a step of the
 * wall clock leaves it alone, as on a real machine.  Built by the test with
 * the system compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long
fake_clock_offset_ms(void)
{
	const char *dir = getenv("CHUBBY_FAKE_CLOCK_DIR");
	char path[512], buf[32];
	ssize_t n;
	int fd;

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof path, "%s/%ld", dir, (long)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static void
fake_clock_shift(struct timespec *ts, long long ms)
{
	long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + ms * 1000000LL;

	ts->tv_sec = (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	rc = real(id, ts);
	if (rc == 0 && id == CLOCK_REALTIME)
		fake_clock_shift(ts, fake_clock_offset_ms());
	return rc;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_REALTIME, &ts);

	(void)tz;
	if (rc == 0 && tv != NULL) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return rc;
}
