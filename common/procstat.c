/* procstat.c: process_* metrics from /proc/self (common/procstat.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procstat.h"
#include "prom.h"

int
procstat_parse_stat(const char *text, long ticks_per_s, long page_size, uint64_t btime,
    struct procstat *out)
{
	unsigned long long utime, stime, start, vsize;
	long long rss;
	const char *p;

	/* The command name (field 2) is in parentheses and may itself hold
	 * spaces and ')': the fields that follow start after the last ')'. */
	if (ticks_per_s <= 0 || page_size <= 0 || (p = strrchr(text, ')')) == NULL)
		return -1;
	/* Fields 3..: state ppid pgrp session tty_nr tpgid flags minflt
	 * cminflt majflt cmajflt utime(14) stime(15) cutime cstime priority
	 * nice num_threads itrealvalue starttime(22) vsize(23) rss(24). */
	if (sscanf(p + 1,
		" %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d"
		" %llu %llu %lld",
		&utime, &stime, &start, &vsize, &rss) != 5)
		return -1;
	out->cpu_seconds = (double)(utime + stime) / (double)ticks_per_s;
	out->virtual_bytes = vsize;
	out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page_size : 0;
	out->start_time = (double)btime + (double)start / (double)ticks_per_s;
	return 0;
}

int
procstat_parse_btime(const char *text, uint64_t *btime)
{
	for (const char *l = text; l != NULL && *l != '\0'; l = strchr(l, '\n')) {
		unsigned long long v;

		if (*l == '\n')
			l++;
		if (strncmp(l, "btime ", 6) == 0 && sscanf(l + 6, "%llu", &v) == 1) {
			*btime = v;
			return 0;
		}
	}
	return -1;
}

/* Reads a small /proc file whole (they are generated, so read until EOF). */
static int
procstat_slurp(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return got > 0 ? 0 : -1;
}

/* The boot time from /proc/stat, line by line: the lines before it (one
 * per CPU, and "intr" with a count per interrupt) can be long. */
static int
procstat_btime(uint64_t *btime)
{
	FILE *f = fopen("/proc/stat", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc != 0 && getline(&line, &cap, f) > 0)
		rc = procstat_parse_btime(line, btime);
	free(line);
	fclose(f);
	return rc;
}

int
procstat_read(struct procstat *out)
{
	char text[4096]; /* /proc/self/stat is one line of some 52 numbers */
	uint64_t btime = 0;
	struct rlimit rl;
	struct dirent *e;
	DIR *dir;

	memset(out, 0, sizeof *out);
	if (procstat_btime(&btime) != 0)
		return -1;
	if (procstat_slurp("/proc/self/stat", text, sizeof text) != 0 ||
	    procstat_parse_stat(text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), btime, out) != 0)
		return -1;
	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(dir))
			out->open_fds++; /* not the directory's own descriptor */
	closedir(dir);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	return 0;
}

uint64_t
procstat_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

/* process_*, as Prometheus client libraries name them (client_golang's
 * process collector), read from /proc now: only when scraped. */
void
procstat_prom(struct prom *p)
{
	struct procstat ps;

	if (procstat_read(&ps) != 0)
		return; /* no /proc: better absent than zero */
	prom_head(p, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	prom_double(p, "process_cpu_seconds_total", NULL, ps.cpu_seconds);
	prom_metric(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	    ps.resident_bytes);
	prom_metric(p, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
	    ps.virtual_bytes);
	prom_metric(p, "process_open_fds", "gauge", "Number of open file descriptors.", ps.open_fds);
	prom_metric(p, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
	    ps.max_fds);
	prom_head(p, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	prom_double(p, "process_start_time_seconds", NULL, ps.start_time);
}
