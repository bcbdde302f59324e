/*
 * bench.c: chubby-bench, a load generator and latency meter for a running
 * cell: options, the order of runs, and the report (a table, or JSON).
 * The workloads live in work.c (libchubby clients), kapool.c (many idle
 * sessions over raw connections) and failover.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "bench.h"

#define DEFAULT_WORKLOADS "lock,lock-contended,write,cas,read,read-cached"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chubby-bench [-C CELL] [--dir DIR] [-w WORKLOADS] [-c N,N,...] [-d SECONDS]\n"
	    "                    [-n SESSIONS,...] [--conns K] [--proxies LIST] [--arrival N]\n"
	    "                    [--tail SECONDS]\n"
	    "                    [--keep N] [--timeline] [--abandon] [--warmup SECONDS] [--json] [-q]\n"
	    "                    [--trace FILE]\n"
	    "Measures a running cell: ops/s and latency (p50/p99/p99.9) per workload and\n"
	    "number of concurrent client sessions.\n"
	    "  -C CELL          cell config, host:port list or DNS name ($CHUBBY_CELL;\n"
	    "                   default DIR/chubby.conf with --dir)\n"
	    "  --dir DIR        the cell's chubby-cell directory: server CPU and memory from\n"
	    "                   /proc, and the kill for the failover workload\n"
	    "  -w WORKLOADS     comma-separated, from: lock lock-contended write cas read\n"
	    "                   read-cached open-read-close keepalive failover\n"
	    "                   (default: " DEFAULT_WORKLOADS ")\n"
	    "  -c N,...         concurrent sessions, one thread each (default 1,8,32,128)\n"
	    "  -d SECONDS       measured time per run (default 10)\n"
	    "  --warmup SECONDS unmeasured time before it (default 1)\n"
	    "  -n N,...         keepalive: idle sessions (default 1000,10000)\n"
	    "  --conns K        keepalive: connections carrying them (default one per 20000)\n"
	    "  --proxies LIST   open the sessions through these chubby-proxy HOST:PORT,...,\n"
	    "                   spread evenly (keepalive and the client workloads; not\n"
	    "                   failover; read-cached's writer stays direct); keepalive\n"
	    "                   measures the master and each proxy (found by its port)\n"
	    "  --arrival N      keepalive: start N sessions a second (default: a burst, 256\n"
	    "                   starts in flight)\n"
	    "  --tail SECONDS   keepalive: after the measure, watch the sessions this long\n"
	    "                   more (the lease falling back as the load goes)...\n"
	    "  --keep N         ...having ended all but N of them first\n"
	    "  --abandon        keepalive: do not end the sessions at the end (the cell is\n"
	    "                   torn down next; ending them is a log write each)\n"
	    "  --timeline       keepalive: a row a second (KeepAlives, their delay past the\n"
	    "                   hold p50/p99, late replies, expired sessions, leases granted,\n"
	    "                   master and client CPU); on stderr with --json\n"
	    "  --cell-tool PATH chubby-cell (default: $CHUBBY_CELL_TOOL, else chubby-cell in PATH)\n"
	    "  --silent MODE    failover: the master fails silently instead of kill -9:\n"
	    "                   stop (SIGSTOP) or blackhole (nft drops its address's packets;\n"
	    "                   root, in a network namespace of its own); it is resumed\n"
	    "                   after each round\n"
	    "  --rounds N       failover: N faults, medians reported (default 1)\n"
	    "  --json           one JSON object on stdout instead of the table\n"
	    "  --trace FILE     a line per operation to FILE: workload, sessions, worker,\n"
	    "                   measured (0/1), start, end and, for lock-contended, when\n"
	    "                   the ACQUIRE returned (CLOCK_MONOTONIC seconds)\n"
	    "  --marks          a line \"measure\" on stdout when each run's measured window\n"
	    "                   opens and \"end\" when it closes (for tools/bench-peers)\n"
	    "  -q               no progress line on stderr\n");
}

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
bench_progress(const struct bench_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet || !isatty(2))
		return;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void
progress_line(const struct bench_opts *o, const struct bench_result *r)
{
	if (o->quiet)
		return;
	if (isatty(2))
		fputs("\r\033[K", stderr);
	if (!r->ok)
		fprintf(stderr, "%s c=%u: failed: %s\n", r->workload, r->clients, r->first_error);
	else if (strcmp(r->workload, "keepalive") == 0)
		fprintf(stderr, "keepalive n=%u: master %.1f%% CPU, %.0f KiB RSS per 1000 sessions\n",
		    r->clients, r->master_cpu, r->rss_kb_per_1000);
	else if (strcmp(r->workload, "failover") == 0)
		fprintf(stderr, "failover (%s) c=%u, median of %u: first write %.0f ms, every writer "
		    "%.0f ms, all safe %.0f ms, new client %.0f ms\n", r->fault, r->clients, r->rounds,
		    r->first_write_ms, r->all_writers_ms, r->all_safe_ms, r->new_client_ms);
	else
		fprintf(stderr, "%s c=%u: %.0f ops/s, p50 %.2f ms, p99 %.2f ms\n", r->workload,
		    r->clients, r->ops_per_s, r->p50_ms, r->p99_ms);
}

static int
parse_list(const char *s, unsigned *out, size_t max, size_t *n)
{
	char *end;

	*n = 0;
	while (*s != '\0') {
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno != 0 || end == s || v == 0 || v > 1000000 || *n == max)
			return -1;
		out[(*n)++] = (unsigned)v;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -1;
		s = end;
	}
	return *n > 0 ? 0 : -1;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
print_json(const struct bench_opts *o, const struct bench_result *rs, size_t n)
{
	printf("{\"tool\":\"chubby-bench\",\"version\":\"%s\",\"cell\":", PACKAGE_VERSION);
	json_str(o->cellname);
	printf(",\"duration_s\":%.1f,\"nproc\":%ld,\"results\":[", o->duration,
	    sysconf(_SC_NPROCESSORS_ONLN));
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *r = &rs[i];

		printf("%s\n{\"workload\":\"%s\",\"ok\":%s", i ? "," : "", r->workload,
		    r->ok ? "true" : "false");
		if (strcmp(r->workload, "keepalive") == 0)
			printf(",\"sessions\":%u,\"connections\":%u,\"start_s\":%.2f,\"measured_s\":%.2f,"
			       "\"keepalives_per_s\":%.1f,\"master_cpu_pct\":%.2f,"
			       "\"master_cpu_pct_per_1000\":%.3f,\"master_rss_kb\":%.0f,"
			       "\"master_rss_kb_before\":%.0f,\"rss_kb_per_1000\":%.1f,"
			       "\"arrival_per_s\":%.0f,\"sessions_expired\":%llu,\"late_replies\":%llu",
			    r->clients, r->conns, r->start_secs, r->secs, r->ka_per_s, r->master_cpu,
			    r->cpu_per_1000, r->master_rss_kb, r->base_rss_kb, r->rss_kb_per_1000,
			    o->arrival, (unsigned long long)r->expired, (unsigned long long)r->late);
		if (strcmp(r->workload, "keepalive") == 0) {
			printf(",\"master_keepalives_per_s\":%.1f,\"client_cpu_pct\":%.1f,\"proxies\":[",
			    r->master_ka_per_s, r->client_cpu);
			for (unsigned k = 0; k < r->nproxies; k++) {
				const struct bench_proxy *bp = &r->proxies[k];
				printf("%s{\"address\":", k ? "," : "");
				json_str(bp->addr);
				printf(",\"pid\":%ld,\"cpu_pct\":%.2f,\"rss_kb\":%.0f,\"rss_kb_before\":%.0f}",
				    (long)bp->pid, bp->cpu, bp->rss_kb, bp->base_rss_kb);
			}
			putchar(']');
		}
		else if (strcmp(r->workload, "failover") == 0)
			printf(",\"clients\":%u,\"fault\":\"%s\",\"rounds\":%u,\"rounds_ok\":%u,"
			       "\"first_write_ms\":%.0f,\"all_writers_ms\":%.0f,"
			       "\"all_safe_ms\":%.0f,\"new_client_ms\":%.0f,"
			       "\"sessions_in_jeopardy\":%u,\"saw_failover\":%u,\"writes\":%llu",
			    r->clients, r->fault, r->rounds, r->rounds_ok, r->first_write_ms,
			    r->all_writers_ms, r->all_safe_ms, r->new_client_ms, r->in_jeopardy,
			    r->saw_failover, (unsigned long long)r->ops);
		else
			printf(",\"clients\":%u,\"measured_s\":%.2f,\"ops\":%llu,\"errors\":%llu,"
			       "\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
			       "\"max_ms\":%.3f,\"client_cpu_pct\":%.1f,\"server_cpu_pct\":%.1f,"
			       "\"master_cpu_pct\":%.1f,\"client_cs_per_op\":%.2f",
			    r->clients, r->secs, (unsigned long long)r->ops, (unsigned long long)r->errors,
			    r->ops_per_s, r->p50_ms, r->p99_ms, r->p999_ms, r->max_ms, r->client_cpu,
			    r->server_cpu, r->master_cpu, r->client_cs_per_op);
		if (strcmp(r->workload, "read-cached") == 0)
			printf(",\"invalidating_writes\":%llu,\"stale_reads\":%llu",
			    (unsigned long long)r->invalidations, (unsigned long long)r->stale_reads);
		if (r->first_error[0] != '\0') {
			printf(",\"error\":");
			json_str(r->first_error);
		}
		putchar('}');
	}
	printf("]}\n");
}

static void
print_table(const struct bench_opts *o, const struct bench_result *rs, size_t n)
{
	int head = 0;

	printf("chubby-bench %s, cell %s, %.0f s per run, %ld cores\n", PACKAGE_VERSION, o->cellname,
	    o->duration, sysconf(_SC_NPROCESSORS_ONLN));
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *r = &rs[i];
		if (strcmp(r->workload, "keepalive") == 0 || strcmp(r->workload, "failover") == 0)
			continue;
		if (!head++)
			printf("%-15s %7s %10s %9s %9s %9s %7s %8s %8s %9s\n", "workload", "clients",
			    "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "srv CPU%", "cli CPU%",
			    "cli cs/op");
		if (!r->ok) {
			printf("%-15s %7u  failed: %s\n", r->workload, r->clients, r->first_error);
			continue;
		}
		printf("%-15s %7u %10.0f %9.2f %9.2f %9.2f %7llu %8.0f %8.0f %9.2f\n", r->workload,
		    r->clients, r->ops_per_s, r->p50_ms, r->p99_ms, r->p999_ms,
		    (unsigned long long)r->errors, r->server_cpu, r->client_cpu, r->client_cs_per_op);
	}
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *r = &rs[i];
		if (r->ok && strcmp(r->workload, "read-cached") == 0)
			printf("read-cached c=%u: %llu invalidating writes meanwhile, %llu stale reads\n",
			    r->clients, (unsigned long long)r->invalidations,
			    (unsigned long long)r->stale_reads);
	}
	head = 0;
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *r = &rs[i];
		if (strcmp(r->workload, "keepalive") != 0)
			continue;
		if (!head++)
			printf("\n%-10s %8s %5s %8s %11s %11s %10s %12s %12s %14s %8s %6s\n", "keepalive",
			    "sessions", "conns", "start s", "KAs/s", "master KAs/s", "master CPU%",
			    "CPU%/1000", "master RSS MB", "RSS KiB/1000", "expired", "late");
		if (!r->ok) {
			printf("%-10s %8u  failed (%llu expired, %llu late replies): %s\n", "", r->clients,
			    (unsigned long long)r->expired, (unsigned long long)r->late, r->first_error);
			continue;
		}
		printf("%-10s %8u %5u %8.1f %11.0f %12.0f %11.1f %12.3f %12.1f %14.1f %8llu %6llu\n",
		    "", r->clients, r->conns, r->start_secs, r->ka_per_s, r->master_ka_per_s,
		    r->master_cpu, r->cpu_per_1000, r->master_rss_kb / 1024.0, r->rss_kb_per_1000,
		    (unsigned long long)r->expired, (unsigned long long)r->late);
		for (unsigned k = 0; k < r->nproxies; k++) {
			const struct bench_proxy *bp = &r->proxies[k];
			if (bp->pid <= 0)
				printf("%-10s   proxy %s: not found on this machine\n", "", bp->addr);
			else
				printf("%-10s   proxy %s (pid %ld): CPU %.1f%%, RSS %.1f MB (%+.1f MB)\n",
				    "", bp->addr, (long)bp->pid, bp->cpu, bp->rss_kb / 1024.0,
				    (bp->rss_kb - bp->base_rss_kb) / 1024.0);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct bench_result *r = &rs[i];
		if (strcmp(r->workload, "failover") != 0)
			continue;
		if (!r->ok && r->first_write_ms == 0) {
			printf("\nfailover: failed: %s\n", r->first_error);
			continue;
		}
		printf("\nfailover (%u writers, %s of the master, median of %u rounds): first write "
		       "after %.0f ms, every writer after %.0f ms, every session SAFE after %.0f ms, "
		       "a new client's first write after %.0f ms (%u session-rounds of %u went into "
		       "jeopardy)%s%s\n",
		    r->clients, r->fault, r->rounds, r->first_write_ms, r->all_writers_ms,
		    r->all_safe_ms, r->new_client_ms, r->in_jeopardy, r->clients * r->rounds,
		    r->ok ? "" : "; ", r->ok ? "" : r->first_error);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cell", required_argument, NULL, 'C'},
	    {"dir", required_argument, NULL, 'D'},
	    {"workloads", required_argument, NULL, 'w'},
	    {"clients", required_argument, NULL, 'c'},
	    {"duration", required_argument, NULL, 'd'},
	    {"sessions", required_argument, NULL, 'n'},
	    {"conns", required_argument, NULL, 'K'},
	    {"proxies", required_argument, NULL, 'P'},
	    {"arrival", required_argument, NULL, 'A'},
	    {"keep", required_argument, NULL, 'k'},
	    {"tail", required_argument, NULL, 'L'},
	    {"timeline", no_argument, NULL, 'l'},
	    {"abandon", no_argument, NULL, 'a'},
	    {"warmup", required_argument, NULL, 'W'},
	    {"cell-tool", required_argument, NULL, 'T'},
	    {"silent", required_argument, NULL, 'S'},
	    {"rounds", required_argument, NULL, 'R'},
	    {"json", no_argument, NULL, 'j'},
	    {"marks", no_argument, NULL, 'M'},
	    {"trace", required_argument, NULL, 'X'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_opts o;
	const char *workloads = DEFAULT_WORKLOADS;
	char cellbuf[CELLSPEC_PATH_MAX + 16], err[512], *wl, *save = NULL, *w;
	struct bench_result *rs;
	size_t nrs = 0, cap;
	int ch, failed = 0;

	memset(&o, 0, sizeof o);
	o.duration = 10;
	o.warmup = 1;
	o.clients[0] = 1, o.clients[1] = 8, o.clients[2] = 32, o.clients[3] = 128;
	o.nclients = 4;
	o.sessions[0] = 1000, o.sessions[1] = 10000;
	o.nsessions = 2;
	o.cell_tool = getenv("CHUBBY_CELL_TOOL") ? getenv("CHUBBY_CELL_TOOL") : "chubby-cell";
	while ((ch = getopt_long(argc, argv, "C:w:c:d:n:jqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': o.cell = optarg; break;
		case 'D': o.dir = optarg; break;
		case 'w': workloads = optarg; break;
		case 'c':
			if (parse_list(optarg, o.clients, BENCH_MAX_LIST, &o.nclients) != 0) {
				fprintf(stderr, "chubby-bench: bad -c list: %s\n", optarg);
				return 2;
			}
			break;
		case 'n':
			if (parse_list(optarg, o.sessions, BENCH_MAX_LIST, &o.nsessions) != 0) {
				fprintf(stderr, "chubby-bench: bad -n list: %s\n", optarg);
				return 2;
			}
			break;
		case 'd':
		case 'W': {
			char *end;
			double v = strtod(optarg, &end);
			if (*end != '\0' || v < 0 || v > 86400 || (ch == 'd' && v <= 0)) {
				fprintf(stderr, "chubby-bench: bad seconds: %s\n", optarg);
				return 2;
			}
			*(ch == 'd' ? &o.duration : &o.warmup) = v;
			break;
		}
		case 'K': o.kconns = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': o.proxies = optarg; break;
		case 'k': o.keep = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': o.timeline = 1; break;
		case 'a': o.abandon = 1; break;
		case 'A':
		case 'L': {
			char *end;
			double v = strtod(optarg, &end);
			if (*end != '\0' || v < 0 || v > 10000000) {
				fprintf(stderr, "chubby-bench: bad --%s: %s\n",
				    ch == 'A' ? "arrival" : "tail", optarg);
				return 2;
			}
			*(ch == 'A' ? &o.arrival : &o.tail) = v;
			break;
		}
		case 'T': o.cell_tool = optarg; break;
		case 'S':
			if (strcmp(optarg, "stop") == 0)
				o.fault = FO_STOP;
			else if (strcmp(optarg, "blackhole") == 0)
				o.fault = FO_BLACKHOLE;
			else {
				fprintf(stderr, "chubby-bench: --silent takes stop or blackhole\n");
				return 2;
			}
			break;
		case 'R': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > 1000) {
				fprintf(stderr, "chubby-bench: bad --rounds: %s\n", optarg);
				return 2;
			}
			o.rounds = (unsigned)v;
			break;
		}
		case 'j': o.json = 1; break;
		case 'M': o.marks = 1; break;
		case 'X':
			if (o.trace != NULL)
				fclose(o.trace);
			if ((o.trace = fopen(optarg, "w")) == NULL) {
				fprintf(stderr, "chubby-bench: %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("chubby-bench %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (o.cell == NULL && getenv("CHUBBY_CELL") == NULL && o.dir != NULL) {
		snprintf(cellbuf, sizeof cellbuf, "%s/chubby.conf", o.dir);
		o.cell = cellbuf;
	}
	if (o.cell == NULL)
		o.cell = getenv("CHUBBY_CELL");
	if (cellspec_parse(o.cell, &o.spec, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "chubby-bench: %s\n", err);
		return 2;
	}
	snprintf(o.cellname, sizeof o.cellname, "%s", o.spec.cell[0] ? o.spec.cell : "local");
	snprintf(o.prefix, sizeof o.prefix, "/ls/%s/bench-%ld", o.cellname, (long)getpid());
	signal(SIGPIPE, SIG_IGN);

	/* The directory every run's nodes live in. */
	{
		struct chubby_options opt = {0};
		chubby_client *c;
		chubby_handle *h;
		opt.cell = o.cell;
		opt.name = "chubby-bench";
		if (chubby_open(&opt, &c) != CHUBBY_OK ||
		    chubby_handle_open(c, o.prefix, CHUBBY_O_READ | CHUBBY_O_CREATE | CHUBBY_O_DIR, NULL,
			&h, NULL) != CHUBBY_OK) {
			fprintf(stderr, "chubby-bench: %s\n", chubby_last_error());
			return 1;
		}
		chubby_close(c);
	}

	cap = 64;
	if ((rs = calloc(cap, sizeof *rs)) == NULL)
		return 1;
	if ((wl = strdup(workloads)) == NULL)
		return 1;
	for (w = strtok_r(wl, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "keepalive") != 0 && strcmp(w, "failover") != 0 && !work_known(w)) {
			fprintf(stderr, "chubby-bench: unknown workload %s\n", w);
			return 2;
		}
	}
	free(wl);
	wl = strdup(workloads);
	for (w = strtok_r(wl, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		size_t count = strcmp(w, "keepalive") == 0 ? o.nsessions
		    : strcmp(w, "failover") == 0           ? 1
		                                           : o.nclients;
		for (size_t i = 0; i < count; i++) {
			struct bench_result *r;
			if (nrs == cap) {
				struct bench_result *nr = realloc(rs, 2 * cap * sizeof *rs);
				if (nr == NULL)
					return 1;
				rs = nr;
				cap *= 2;
			}
			r = &rs[nrs++];
			if (strcmp(w, "keepalive") == 0)
				keepalive_run(&o, o.sessions[i], r);
			else if (strcmp(w, "failover") == 0)
				failover_run(&o, o.clients[o.nclients - 1] < 32 ? o.clients[o.nclients - 1] : 32, r);
			else
				work_run(&o, w, o.clients[i], r);
			failed |= !r->ok;
			progress_line(&o, r);
		}
	}
	free(wl);
	if (o.json)
		print_json(&o, rs, nrs);
	else
		print_table(&o, rs, nrs);
	free(rs);
	if (o.trace != NULL && fclose(o.trace) != 0) {
		fprintf(stderr, "chubby-bench: --trace: %s\n", strerror(errno));
		failed = 1;
	}
	return failed ? 1 : 0;
}
