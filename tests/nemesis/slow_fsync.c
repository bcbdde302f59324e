/* slow_fsync.c: an LD_PRELOAD shim that makes fsync and fdatasync slow on
 * demand, for the nemesis run (docs/TESTING.md).  Before each call it reads
 * the file $CHUBBY_SLOW_FSYNC_DIR/<pid>: if it holds a number N, the call
 * sleeps N milliseconds first.  No file, no delay, so the nemesis switches
 * a running replica's disk from fast to slow and back from outside.
 * Built by tests/integration/test_nemesis.sh with the system compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void
slow_fsync_wait(void)
{
	const char *dir = getenv("CHUBBY_SLOW_FSYNC_DIR");
	char path[512], buf[32];
	ssize_t n;
	long ms;
	int fd;
	struct timespec ts;

	if (dir == NULL)
		return;
	snprintf(path, sizeof path, "%s/%ld", dir, (long)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	ms = strtol(buf, NULL, 10);
	if (ms <= 0 || ms > 10000)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

int
fsync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	slow_fsync_wait();
	return real(fd);
}

int
fdatasync(int fd)
{
	static int (*real)(int);

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	slow_fsync_wait();
	return real(fd);
}
