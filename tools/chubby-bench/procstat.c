/*
 * procstat.c: chubby-bench's view of the cell's processes: their pids (from
 * chubby-cell), which one is master (STATUS), and their CPU time and memory
 * from /proc.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "../lockctl/aclient.h"
#include "bench.h"
#include "mp.h"
#include "protocol.h"

int
cell_procs_read(const struct bench_opts *o, struct cell_procs *out)
{
	char cmd[1200], buf[8192];
	size_t len;
	FILE *f;
	const char *p;

	memset(out, 0, sizeof *out);
	if (o->dir == NULL)
		return 0;
	snprintf(cmd, sizeof cmd, "'%s' --json status --dir '%s' 2>/dev/null", o->cell_tool, o->dir);
	if ((f = popen(cmd, "r")) == NULL)
		return 0;
	len = fread(buf, 1, sizeof buf - 1, f);
	buf[len] = '\0';
	pclose(f);
	/* {"cell":..,"replicas":[{"id":1,"pid":123,"up":true,...},...]} */
	for (p = buf; (p = strstr(p, "{\"id\":")) != NULL && out->n < BENCH_MAX_REPLICAS; p++) {
		int id = atoi(p + 6);
		const char *q = strstr(p, "\"pid\":");
		long pid;

		if (q == NULL)
			break;
		pid = strtol(q + 6, NULL, 10); /* "null" reads as 0: down */
		if (pid > 0) {
			out->ids[out->n] = id;
			out->pids[out->n] = (pid_t)pid;
			out->n++;
		}
	}
	return (int)out->n;
}

int
cell_master_id(const struct bench_opts *o, char *addr, size_t addrlen)
{
	struct aclient *ac;
	struct wire_msg m;
	char err[512];
	uint64_t id = 0;

	if (aclient_open_master(&o->spec, 2000, &ac, err, sizeof err) != CHUBBY_OK)
		return 0;
	if (addr != NULL)
		snprintf(addr, addrlen, "%s", aclient_addr(ac));
	if (aclient_call(ac, PROTO_OP_STATUS, NULL, 0, &m, err, sizeof err) == CHUBBY_OK) {
		if (m.res.status == CHUBBY_OK && m.res.result != NULL)
			mp_get_uint(m.res.result, "id", MP_OPTIONAL, &id, err, sizeof err);
		wire_msg_free(&m);
	}
	aclient_close(ac);
	return (int)id;
}

pid_t
cell_pid_of(const struct cell_procs *cp, int id)
{
	for (size_t i = 0; i < cp->n; i++)
		if (cp->ids[i] == id)
			return cp->pids[i];
	return 0;
}

long long
proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[2048];
	unsigned long long ut, st;
	const char *p;
	size_t len;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* The command may hold spaces and parentheses: fields count from the
	 * last ')'.  After it: state(3) ... utime(14) stime(15). */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

long long
procs_cpu_ticks(const struct cell_procs *cp)
{
	long long sum = 0;

	for (size_t i = 0; i < cp->n; i++) {
		long long t = proc_cpu_ticks(cp->pids[i]);
		if (t > 0)
			sum += t;
	}
	return sum;
}

long
proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

double
ticks_to_pct(long long ticks, double secs)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (secs <= 0 || hz <= 0)
		return 0;
	return 100.0 * (double)ticks / (double)hz / secs;
}

double
self_cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double
self_ctx_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_nvcsw + (double)ru.ru_nivcsw;
}
