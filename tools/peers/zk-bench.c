/*
 * zk-bench: tools/bench-peers' native ZooKeeper driver, in C over Debian's
 * libzookeeper-mt (the project's own C client).  It drives an ensemble the
 * way chubby-bench drives a cell: N sessions, one thread and one
 * zhandle_t (its own TCP connection) each, one call outstanding per
 * session, run in a loop until the deadline; only calls that start after
 * the warm-up and end before the deadline count.
 *
 * Workloads (one operation is):
 *   write           zoo_set of 100 bytes on the session's own node
 *   cas             zoo_set2 with the version the last set returned
 *   read            sync + get: ZooKeeper's linearizable read (the sync
 *                   makes the connected server catch up with the leader)
 *   read-local      plain get, served from the connected server's state:
 *                   sequentially consistent, NOT linearizable
 *   lock            acquire + release, each session its own lock
 *   lock-contended  the same, every session on one lock
 * The lock is Curator's InterProcessMutex recipe (LockInternals): create
 * an ephemeral-sequential child "lock-" under the lock node, list the
 * children, and if ours is not the lowest, getData with a watch on the one
 * just below ours and wait for its event (or go round again if it is
 * already gone); release deletes our child.
 *
 * bench-peers reads stdout: a line "measure" when the measured window
 * opens, "end" when it closes (it samples the servers' CPU then), then one
 * JSON object.  Usage:
 *   zk-bench -s HOST:PORT,... -w WORKLOAD -c N -d SECONDS [--warmup S] [-p PREFIX]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The synchronous API of zookeeper_mt is declared only with THREADED. */
#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "../chubby-bench/hist.h"

enum wkind { W_WRITE, W_CAS, W_READ, W_READ_LOCAL, W_LOCK, W_LOCK_CONTENDED };

static const struct {
	const char *name;
	enum wkind kind;
} wtable[] = {
    {"write", W_WRITE}, {"cas", W_CAS}, {"read", W_READ}, {"read-local", W_READ_LOCAL},
    {"lock", W_LOCK}, {"lock-contended", W_LOCK_CONTENDED},
};

static const char payload[100] =
    "zk-bench 100-byte payload: 0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU";

#define RECV_TIMEOUT_MS 30000

/* A one-shot event a ZooKeeper callback (completion or watch, both run on
 * the handle's completion thread) signals to the worker thread. */
struct event {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned fired;
	int rc;
};

static void
ev_init(struct event *e)
{
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->fired = 0;
}

static void
ev_fire(struct event *e, int rc)
{
	pthread_mutex_lock(&e->mu);
	e->fired++;
	e->rc = rc;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* Wait until the event has fired more than SEEN times, or DEADLINE (abs
 * CLOCK_REALTIME); 0 when it fired. */
static int
ev_wait(struct event *e, unsigned seen, const struct timespec *deadline)
{
	int rc = 0;

	pthread_mutex_lock(&e->mu);
	while (e->fired <= seen && rc == 0)
		rc = pthread_cond_timedwait(&e->cv, &e->mu, deadline);
	pthread_mutex_unlock(&e->mu);
	return rc == 0 ? 0 : -1;
}

struct worker {
	pthread_t th;
	unsigned idx;
	zhandle_t *zh;
	struct event conn;  /* session watcher: connected */
	struct event done;  /* sync completion */
	struct event watch; /* lock: the predecessor's node changed */
	char path[256];     /* own node (write, cas, read) */
	char lockdir[256];
	int version;
	struct hist hist;
	uint64_t ops, errors;
	char first_err[160];
	int setup_rc;
};

static struct {
	enum wkind kind;
	const char *servers;
	const char *prefix;
	unsigned n;
	double duration, warmup;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	int go;
	double t_measure, t_end;
} run;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
abs_after(struct timespec *ts, double secs)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)secs;
	ts->tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct worker *w = ctx;

	(void)zh, (void)path;
	if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
		ev_fire(&w->conn, ZOK);
}

static void
node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh, (void)type, (void)state, (void)path;
	ev_fire(ctx, ZOK);
}

static void
sync_done(int rc, const char *value, const void *data)
{
	struct worker *w = (struct worker *)(uintptr_t)data; /* our own pointer, given back */

	(void)value;
	ev_fire(&w->done, rc);
}

/* Create PATH (persistent) if it is not there; ZOK or the error. */
static int
ensure(zhandle_t *zh, const char *path, const char *val, int len)
{
	int rc = zoo_create(zh, path, val, len, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

	return rc == ZNODEEXISTS ? ZOK : rc;
}

static int
w_setup(struct worker *w)
{
	/* Session i talks to server i mod n, as the Python driver's do (the
	 * C client shuffles a list of hosts; one host pins the session). */
	char hosts[256], lockname[64];
	const char *s = run.servers, *e;
	size_t nh = 1, k;
	struct timespec dl;
	struct Stat st;
	int rc;

	for (const char *p = s; *p; p++)
		nh += *p == ',';
	for (k = w->idx % nh; k > 0; k--)
		s = strchr(s, ',') + 1;
	e = strchr(s, ',');
	snprintf(hosts, sizeof hosts, "%.*s", e ? (int)(e - s) : (int)strlen(s), s);
	ev_init(&w->conn);
	ev_init(&w->done);
	ev_init(&w->watch);
	w->zh = zookeeper_init2(hosts, session_watcher, RECV_TIMEOUT_MS, NULL, w, 0, NULL);
	if (w->zh == NULL)
		return ZSYSTEMERROR;
	abs_after(&dl, 30);
	if (ev_wait(&w->conn, 0, &dl) != 0)
		return ZOPERATIONTIMEOUT;
	snprintf(w->path, sizeof w->path, "%s/k%u", run.prefix, w->idx);
	if ((rc = ensure(w->zh, w->path, payload, sizeof payload)) != ZOK)
		return rc;
	if ((rc = zoo_exists(w->zh, w->path, 0, &st)) != ZOK)
		return rc;
	w->version = st.version;
	if (run.kind == W_LOCK || run.kind == W_LOCK_CONTENDED) {
		if (run.kind == W_LOCK)
			snprintf(lockname, sizeof lockname, "lock-l%u", w->idx);
		else
			snprintf(lockname, sizeof lockname, "lock-shared");
		snprintf(w->lockdir, sizeof w->lockdir, "%s/%s", run.prefix, lockname);
		if ((rc = ensure(w->zh, w->lockdir, NULL, -1)) != ZOK)
			return rc;
	}
	return ZOK;
}

/* The sequence number of a "lock-NNNNNNNNNN" child. */
static long long
seqof(const char *name)
{
	const char *d = strrchr(name, '-');

	return d ? atoll(d + 1) : -1;
}

/* Curator's InterProcessMutex.acquire + release. */
static int
w_lock_cycle(struct worker *w, double deadline)
{
	char prefix[300], mine[300], pred[300];
	const char *myname;
	int rc;

	snprintf(prefix, sizeof prefix, "%s/lock-", w->lockdir);
	rc = zoo_create(w->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE,
	    mine, sizeof mine);
	if (rc != ZOK)
		return rc;
	myname = strrchr(mine, '/') + 1;
	for (;;) {
		struct String_vector kids;
		long long myseq = seqof(myname), best = -1;
		const char *below = NULL;
		int found = 0;
		unsigned seen;
		struct timespec dl;

		if ((rc = zoo_get_children(w->zh, w->lockdir, 0, &kids)) != ZOK)
			goto out;
		for (int32_t i = 0; i < kids.count; i++) {
			long long q = seqof(kids.data[i]);
			if (strcmp(kids.data[i], myname) == 0)
				found = 1;
			else if (q < myseq && q > best) {
				best = q;
				below = kids.data[i];
			}
		}
		if (below != NULL)
			snprintf(pred, sizeof pred, "%s/%s", w->lockdir, below);
		deallocate_String_vector(&kids);
		if (!found) {
			rc = ZNONODE; /* our ephemeral node is gone: the session expired */
			goto out;
		}
		if (below == NULL)
			break; /* lowest: we hold the lock */
		/* getData with a watch on the predecessor (Curator uses getData,
		 * not exists, so no watch is left on a node that is gone). */
		pthread_mutex_lock(&w->watch.mu);
		seen = w->watch.fired;
		pthread_mutex_unlock(&w->watch.mu);
		{
			char buf[16];
			int blen = sizeof buf;
			rc = zoo_wget(w->zh, pred, node_watcher, &w->watch, buf, &blen, NULL);
		}
		if (rc == ZNONODE)
			continue;
		if (rc != ZOK)
			goto out;
		abs_after(&dl, deadline - now() + 1.0);
		if (ev_wait(&w->watch, seen, &dl) != 0) {
			rc = ZOPERATIONTIMEOUT;
			goto out;
		}
	}
	rc = ZOK;
out:
	{
		int drc = zoo_delete(w->zh, mine, -1);
		if (rc == ZOK && drc != ZOK)
			rc = drc;
	}
	return rc;
}

static int
w_op(struct worker *w, double deadline)
{
	struct Stat st;
	char buf[256];
	int rc, len;
	unsigned seen;
	struct timespec dl;

	switch (run.kind) {
	case W_WRITE:
		return zoo_set(w->zh, w->path, payload, sizeof payload, -1);
	case W_CAS:
		rc = zoo_set2(w->zh, w->path, payload, sizeof payload, w->version, &st);
		if (rc == ZOK)
			w->version = st.version;
		return rc;
	case W_READ:
		pthread_mutex_lock(&w->done.mu);
		seen = w->done.fired;
		pthread_mutex_unlock(&w->done.mu);
		if ((rc = zoo_async(w->zh, w->path, sync_done, w)) != ZOK)
			return rc;
		abs_after(&dl, RECV_TIMEOUT_MS / 1000.0);
		if (ev_wait(&w->done, seen, &dl) != 0)
			return ZOPERATIONTIMEOUT;
		if (w->done.rc != ZOK)
			return w->done.rc;
		/* the get after the sync */
		__attribute__((fallthrough));
	case W_READ_LOCAL:
		len = sizeof buf;
		return zoo_get(w->zh, w->path, 0, buf, &len, &st);
	case W_LOCK:
	case W_LOCK_CONTENDED:
		return w_lock_cycle(w, deadline);
	}
	return ZBADARGUMENTS;
}

static void *
w_main(void *arg)
{
	struct worker *w = arg;
	double t0, t1, t_measure, t_end;

	w->setup_rc = w_setup(w);
	pthread_mutex_lock(&run.mu);
	run.ready++;
	pthread_cond_broadcast(&run.cv);
	while (!run.go)
		pthread_cond_wait(&run.cv, &run.mu);
	t_measure = run.t_measure;
	t_end = run.t_end;
	pthread_mutex_unlock(&run.mu);
	if (w->setup_rc != ZOK || t_end <= 0)
		return NULL;
	while ((t0 = now()) < t_end) {
		int rc = w_op(w, t_end);

		t1 = now();
		if (t0 < t_measure || t1 > t_end)
			continue;
		if (rc == ZOK) {
			w->ops++;
			hist_add(&w->hist, (uint64_t)((t1 - t0) * 1e6));
		} else {
			w->errors++;
			if (w->first_err[0] == '\0')
				snprintf(w->first_err, sizeof w->first_err, "%s", zerror(rc));
		}
	}
	return NULL;
}

static void
sleep_until(double t)
{
	double d;

	while ((d = t - now()) > 0) {
		struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"servers", required_argument, NULL, 's'}, {"workload", required_argument, NULL, 'w'},
	    {"clients", required_argument, NULL, 'c'}, {"duration", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, 'W'},  {"prefix", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *workload = "write";
	struct worker *ws;
	struct hist all;
	uint64_t ops = 0, errors = 0;
	const char *err = "";
	char errbuf[200] = "";
	double cpu0, cpu1, w0, w1;
	unsigned started = 0;
	int ch, known = 0;
	size_t k;

	run.n = 1;
	run.duration = 10;
	run.warmup = 1;
	run.prefix = "/bench/zk-bench";
	while ((ch = getopt_long(argc, argv, "s:w:c:d:p:", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': run.servers = optarg; break;
		case 'w': workload = optarg; break;
		case 'c': run.n = (unsigned)atoi(optarg); break;
		case 'd': run.duration = atof(optarg); break;
		case 'W': run.warmup = atof(optarg); break;
		case 'p': run.prefix = optarg; break;
		default:
			fprintf(stderr, "usage: zk-bench -s HOST:PORT,... -w WORKLOAD -c N -d SECONDS "
			    "[--warmup S] [-p PREFIX]\n");
			return 2;
		}
	}
	for (k = 0; k < sizeof wtable / sizeof wtable[0]; k++)
		if (strcmp(wtable[k].name, workload) == 0) {
			run.kind = wtable[k].kind;
			known = 1;
		}
	if (!known || run.servers == NULL || run.n == 0 || run.n > 10000 || run.duration <= 0) {
		fprintf(stderr, "zk-bench: bad arguments\n");
		return 2;
	}
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	/* The prefix's parents, once, before the sessions start. */
	{
		struct worker boot;
		char part[256];

		memset(&boot, 0, sizeof boot);
		boot.idx = 0;
		ev_init(&boot.conn);
		boot.zh = zookeeper_init(run.servers, session_watcher, RECV_TIMEOUT_MS, NULL, &boot, 0);
		struct timespec dl;
		abs_after(&dl, 30);
		if (boot.zh == NULL || ev_wait(&boot.conn, 0, &dl) != 0) {
			fprintf(stderr, "zk-bench: cannot connect to %s\n", run.servers);
			return 1;
		}
		for (const char *p = run.prefix + 1;; p++)
			if (*p == '/' || *p == '\0') {
				snprintf(part, sizeof part, "%.*s", (int)(p - run.prefix), run.prefix);
				if (ensure(boot.zh, part, NULL, -1) != ZOK) {
					fprintf(stderr, "zk-bench: cannot create %s\n", part);
					return 1;
				}
				if (*p == '\0')
					break;
			}
		zookeeper_close(boot.zh);
	}
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	if ((ws = calloc(run.n, sizeof *ws)) == NULL)
		return 1;
	for (unsigned i = 0; i < run.n; i++) {
		ws[i].idx = i;
		hist_init(&ws[i].hist);
		if (pthread_create(&ws[i].th, NULL, w_main, &ws[i]) != 0)
			break;
		started++;
	}
	pthread_mutex_lock(&run.mu);
	while (run.ready < started)
		pthread_cond_wait(&run.cv, &run.mu);
	for (unsigned i = 0; i < started; i++)
		if (ws[i].setup_rc != ZOK && errbuf[0] == '\0')
			snprintf(errbuf, sizeof errbuf, "setup of session %u: %s", i,
			    zerror(ws[i].setup_rc));
	if (started < run.n && errbuf[0] == '\0')
		snprintf(errbuf, sizeof errbuf, "cannot start thread %u", started);
	if (errbuf[0] == '\0') {
		run.t_measure = now() + run.warmup;
		run.t_end = run.t_measure + run.duration;
	}
	run.go = 1;
	pthread_cond_broadcast(&run.cv);
	pthread_mutex_unlock(&run.mu);
	cpu0 = cpu1 = w0 = w1 = 0;
	if (run.t_end > 0) {
		sleep_until(run.t_measure);
		w0 = now();
		cpu0 = self_cpu();
		printf("measure\n");
		fflush(stdout);
		sleep_until(run.t_end);
		w1 = now();
		cpu1 = self_cpu();
		printf("end\n");
		fflush(stdout);
	}
	hist_init(&all);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(ws[i].th, NULL);
		hist_merge(&all, &ws[i].hist);
		ops += ws[i].ops;
		errors += ws[i].errors;
		if (ws[i].first_err[0] != '\0' && errbuf[0] == '\0')
			snprintf(errbuf, sizeof errbuf, "%s", ws[i].first_err);
	}
	for (unsigned i = 0; i < started; i++)
		if (ws[i].zh != NULL)
			zookeeper_close(ws[i].zh); /* ends the session: its ephemerals go */
	err = errbuf;
	printf("{\"driver\":\"zk-bench\",\"workload\":\"%s\",\"clients\":%u,\"ok\":%s,"
	       "\"ops\":%llu,\"errors\":%llu,\"measured_s\":%.3f,\"ops_per_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"client_cpu_pct\":%.1f,"
	       "\"nproc\":%ld,\"error\":\"",
	    workload, run.n, run.t_end > 0 && ops > 0 ? "true" : "false", (unsigned long long)ops,
	    (unsigned long long)errors, w1 - w0, w1 > w0 ? (double)ops / (w1 - w0) : 0.0,
	    hist_quantile_ms(&all, 0.5), hist_quantile_ms(&all, 0.99), hist_quantile_ms(&all, 0.999),
	    w1 > w0 ? 100.0 * (cpu1 - cpu0) / (w1 - w0) : 0.0, sysconf(_SC_NPROCESSORS_ONLN));
	for (const char *p = err; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
	free(ws);
	return run.t_end > 0 ? 0 : 1;
}
