/*
 * bench.h: what chubby-bench's parts share: the options, one result row,
 * and the helpers that read the servers' /proc entries.
 */
#ifndef CHUBBY_BENCH_H
#define CHUBBY_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cellspec.h"
#include "hist.h"

#define BENCH_MAX_LIST 16
#define BENCH_MAX_REPLICAS 16
#define BENCH_MAX_PROXIES 8

struct bench_opts {
	const char *cell;      /* -C, $CHUBBY_CELL, or DIR/chubby.conf */
	const char *dir;       /* --dir: a chubby-cell directory (pids, kill) */
	const char *cell_tool; /* chubby-cell */
	struct cellspec spec;
	char cellname[65];
	char prefix[300];      /* /ls/CELL/bench/PID: every node the run makes */
	unsigned clients[BENCH_MAX_LIST];
	size_t nclients;
	unsigned sessions[BENCH_MAX_LIST]; /* keepalive: idle sessions */
	size_t nsessions;
	unsigned kconns;       /* keepalive: connections (0: one per 20000 sessions) */
	const char *proxies;   /* keepalive: chubby-proxy HOST:PORT,... to connect to instead */
	double arrival;        /* keepalive: sessions started per second (0: a burst) */
	unsigned keep;         /* keepalive: sessions kept after the measure (0: none) */
	double tail;           /* keepalive: seconds those are watched */
	int timeline;          /* keepalive: a row per second (stdout; stderr with --json) */
	int abandon;           /* keepalive: leave the sessions at the end (the cell goes next) */
	double duration, warmup; /* seconds */
	int json, quiet;
	int marks;             /* --marks: "measure"/"end" lines on stdout */
	FILE *trace;           /* --trace: a line per operation (work.c), or NULL */
	/* failover: how the master fails, and how many times */
	enum { FO_KILL = 0, FO_STOP, FO_BLACKHOLE } fault;
	unsigned rounds;
};

/* One line of the report. */
struct bench_result {
	char workload[24];
	unsigned clients;      /* sessions for keepalive */
	double secs;           /* measured time */
	uint64_t ops, errors;
	char first_error[160];
	double ops_per_s, p50_ms, p99_ms, p999_ms, max_ms;
	double client_cpu;     /* % of one core, this process */
	double client_cs_per_op; /* this process's context switches (every thread,
	                            voluntary and not) per operation */
	double server_cpu;     /* % of one core, all replicas summed (-1: unknown) */
	double master_cpu;     /* % of one core, the master alone (-1: unknown) */
	/* read-cached: invalidating writes made, reads that missed one */
	uint64_t invalidations, stale_reads;
	/* keepalive */
	unsigned conns;
	double start_secs;     /* to start the sessions */
	double master_rss_kb, base_rss_kb, rss_kb_per_1000, cpu_per_1000, ka_per_s;
	uint64_t expired, late; /* sessions the master expired; replies after the lease ended */
	/* KeepAlives the master itself answered (its /metrics), -1: unknown.
	 * Direct, the same as ka_per_s; through proxies, their upstream ones. */
	double master_ka_per_s;
	/* --proxies: each proxy, found by its listening port (pid 0: not found
	 * on this machine; its CPU and RSS then -1). */
	unsigned nproxies;
	struct bench_proxy {
		char addr[64];
		pid_t pid;
		double cpu;            /* % of one core over the measure */
		double rss_kb, base_rss_kb; /* at the end of the measure; before the starts */
	} proxies[BENCH_MAX_PROXIES];
	/* failover */
	double first_write_ms, all_writers_ms, all_safe_ms; /* medians over the rounds */
	double new_client_ms;  /* a client opened at the fault: its first write */
	unsigned rounds, rounds_ok;
	char fault[16];        /* "kill -9", "SIGSTOP", "black hole" */
	unsigned in_jeopardy, saw_failover; /* summed over the rounds */
	int ok;                /* the run could be made */
};

/* bench.c */
double bench_now(void); /* monotonic seconds */
void bench_progress(const struct bench_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* procstat.c: the cell's processes. */
struct cell_procs {
	size_t n;
	int ids[BENCH_MAX_REPLICAS];
	pid_t pids[BENCH_MAX_REPLICAS];
	char status[BENCH_MAX_REPLICAS][64]; /* host:port of each one's /metrics */
};
/* The replicas' pids from `chubby-cell --json status --dir DIR`; 0 if none. */
int cell_procs_read(const struct bench_opts *o, struct cell_procs *out);
/* The master's replica id (STATUS at the master); 0 if none found. */
int cell_master_id(const struct bench_opts *o, char *addr, size_t addrlen);
pid_t cell_pid_of(const struct cell_procs *cp, int id);
/* Replica ID's status address (host:port), or NULL. */
const char *cell_status_of(const struct cell_procs *cp, int id);
/* The value of counter NAME (no labels) in the /metrics at host:port ADDR;
 * -1 if it cannot be read within a few seconds. */
double metrics_read(const char *addr, const char *name);
/* The pid of this machine's process listening on TCP host:port ADDR (its
 * socket found in /proc/net/tcp, then among /proc/PID/fd); 0 if none. */
pid_t proc_listening_on(const char *addr);
/* utime + stime of PID in clock ticks; -1 if gone. */
long long proc_cpu_ticks(pid_t pid);
long long procs_cpu_ticks(const struct cell_procs *cp);
/* VmRSS of PID in KiB; -1 if gone. */
long proc_rss_kb(pid_t pid);
double ticks_to_pct(long long ticks, double secs);
/* This process's user + system CPU seconds. */
double self_cpu_secs(void);
/* This process's context switches so far, every thread (getrusage). */
double self_ctx_switches(void);

/* work.c: workloads through libchubby's public API. */
int work_known(const char *workload);
int work_run(const struct bench_opts *o, const char *workload, unsigned clients,
    struct bench_result *res);
/* kapool.c: many idle sessions over a few raw connections. */
int keepalive_run(const struct bench_opts *o, unsigned sessions, struct bench_result *res);
/* failover.c: kill -9 the master under write load. */
int failover_run(const struct bench_opts *o, unsigned clients, struct bench_result *res);

#endif
