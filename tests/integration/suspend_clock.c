/* suspend_clock.c: an LD_PRELOAD shim that makes a stopped process see what
 * a suspended machine sees, for tests/integration/test_client_cache.sh.
 * On Linux, CLOCK_MONOTONIC does not count the time a machine spends
 * suspended (to RAM or disk), while CLOCK_BOOTTIME and the other machines'
 * clocks do.  The test SIGSTOPs the process, writes to $SUSPEND_CLOCK_FILE
 * the total ms it has been stopped so far, and SIGCONTs it; the shim's
 * SIGCONT handler reads the file, and from then on every CLOCK_MONOTONIC
 * (also _COARSE and _RAW) reading has that much taken off, so that clock
 * resumes where it stopped.  CLOCK_BOOTTIME and CLOCK_REALTIME are left
 * alone.  Built by the test with the system compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic long long lag_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

/* Async-signal-safe: open, read, close, and an atomic store. */
static void
on_cont(int sig)
{
	const char *path = getenv("SUSPEND_CLOCK_FILE");
	char buf[32];
	long long ms = 0;
	ssize_t n;
	int fd, saved = errno;

	(void)sig;
	if (path != NULL && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof buf);
		close(fd);
		for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
			ms = ms * 10 + (buf[i] - '0');
		if (n > 0)
			atomic_store(&lag_ns, ms * 1000000LL);
	}
	errno = saved;
}

__attribute__((constructor)) static void
suspend_clock_init(void)
{
	struct sigaction sa;

	real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_cont;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCONT, &sa, NULL);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	long long lag, ns;
	int rc;

	if (real_clock_gettime == NULL) /* called before the constructor ran */
		real_clock_gettime =
		    (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	rc = real_clock_gettime(id, ts);

	if (rc != 0 || (id != CLOCK_MONOTONIC && id != CLOCK_MONOTONIC_COARSE &&
	    id != CLOCK_MONOTONIC_RAW))
		return rc;
	if ((lag = atomic_load(&lag_ns)) == 0)
		return rc;
	ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec - lag;
	ts->tv_sec = (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
	return rc;
}
