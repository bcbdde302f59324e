/*
 * procstat.c: chubby-bench's view of the cell's processes: their pids (from
 * chubby-cell), which one is master (STATUS), and their CPU time and memory
 * from /proc.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
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
			const char *st = strstr(p, "\"status\":\""), *end = strchr(p, '}');
			out->ids[out->n] = id;
			out->pids[out->n] = (pid_t)pid;
			out->status[out->n][0] = '\0';
			if (st != NULL && (end == NULL || st < end))
				sscanf(st + 10, "%63[^\"]", out->status[out->n]);
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

const char *
cell_status_of(const struct cell_procs *cp, int id)
{
	for (size_t i = 0; i < cp->n; i++)
		if (cp->ids[i] == id && cp->status[i][0] != '\0')
			return cp->status[i];
	return NULL;
}

/* Splits "host:port" (IPv4 only: chubby-cell and the proxies listen on
 * loopback addresses) into ADDR and PORT. */
static int
split_v4(const char *hostport, struct in_addr *addr, unsigned *port)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof host)
		return -1;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	*port = (unsigned)atoi(colon + 1);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	return inet_pton(AF_INET, host, addr) == 1 && *port > 0 ? 0 : -1;
}

double
metrics_read(const char *addr, const char *name)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {3, 0};
	unsigned port;
	size_t cap = 1 << 16, len = 0, nlen = strlen(name);
	char *buf, req[128];
	double v = -1;
	ssize_t r;
	int fd;

	if (addr == NULL || split_v4(addr, &sa.sin_addr, &port) != 0)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req) || (buf = malloc(cap)) == NULL) {
		close(fd);
		return -1;
	}
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
			if (nb == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = '\0';
	/* A sample line: "NAME VALUE" at the start of a line. */
	for (const char *l = buf; l != NULL && *l != '\0'; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (strncmp(l, name, nlen) == 0 && l[nlen] == ' ') {
			v = strtod(l + nlen + 1, NULL);
			break;
		}
	free(buf);
	return v;
}

/* The inode of a listening socket on ADDR:PORT (or on 0.0.0.0:PORT) in
 * /proc/net/tcp; 0 if none. */
static unsigned long
listen_inode(struct in_addr addr, unsigned port)
{
	char line[512];
	unsigned long inode = 0;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (f == NULL)
		return 0;
	while (inode == 0 && fgets(line, sizeof line, f) != NULL) {
		unsigned a, pt, st;
		unsigned long ino;
		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %8X:%4X %*X:%*X %2X %*X:%*X %*X:%*X %*X %*u %*u %lu", &a, &pt,
			&st, &ino) != 4)
			continue;
		/* The address is the kernel's u32 printed in host order, as
		 * s_addr reads in memory. */
		if (st == 0x0A && pt == port && (a == addr.s_addr || a == 0))
			inode = ino;
	}
	fclose(f);
	return inode;
}

pid_t
proc_listening_on(const char *addr)
{
	struct in_addr a;
	unsigned port;
	unsigned long inode;
	char want[48], path[600], link[64];
	struct dirent *pe, *fe;
	pid_t found = 0;
	DIR *proc, *fds;

	if (split_v4(addr, &a, &port) != 0 || (inode = listen_inode(a, port)) == 0)
		return 0;
	snprintf(want, sizeof want, "socket:[%lu]", inode);
	if ((proc = opendir("/proc")) == NULL)
		return 0;
	while (found == 0 && (pe = readdir(proc)) != NULL) {
		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%.32s/fd", pe->d_name);
		if ((fds = opendir(path)) == NULL)
			continue;
		while (found == 0 && (fe = readdir(fds)) != NULL) {
			ssize_t n;
			snprintf(path, sizeof path, "/proc/%.32s/fd/%.255s", pe->d_name, fe->d_name);
			if ((n = readlink(path, link, sizeof link - 1)) <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) == 0)
				found = (pid_t)atol(pe->d_name);
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
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
