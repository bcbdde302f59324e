/*
 * failover.c: the failover workload.  C libchubby clients write in a loop;
 * the master fails: killed with -9, or silently (--silent stop: SIGSTOP,
 * the process hangs while its kernel still accepts connections; --silent
 * blackhole: every packet to and from its ports dropped with nft).  We
 * time, from the fault, the first write that succeeds, the moment every
 * writer has had one, the moment every session is SAFE at the new master
 * (its MASTER_FAILOVER event, which libchubby raises once a KeepAlive
 * carried the new epoch: docs/CLIENT.md "Epochs and fail-over"), and the
 * first write of a new client opened at the fault.  The failed replica is
 * restarted (or resumed) afterwards and the cell settles before the next
 * round; --rounds N reports medians over N rounds.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "bench.h"

#define FO_TIMEOUT 120.0 /* seconds after the kill before giving up */

struct fo;

struct fclient {
	struct fo *fo;
	pthread_t th;
	unsigned idx;
	chubby_client *c;
	chubby_handle *h;
	int rc;
	double first_ok;    /* first write done after the kill; 0: none yet */
	double failover_at; /* MASTER_FAILOVER seen; 0: not yet */
	int jeopardy;
};

struct fo {
	const struct bench_opts *o;
	pthread_mutex_t mu;
	double t_kill; /* 0 until the fault, in each round */
	atomic_int stop;
	atomic_uint_fast64_t writes;
};

static void
fo_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	struct fclient *fc = arg;
	double now = bench_now();

	(void)c;
	pthread_mutex_lock(&fc->fo->mu);
	if (fc->fo->t_kill > 0) {
		if (ev->type == CHUBBY_EV_JEOPARDY)
			fc->jeopardy = 1;
		else if (ev->type == CHUBBY_EV_MASTER_FAILOVER && fc->failover_at == 0)
			fc->failover_at = now;
	}
	pthread_mutex_unlock(&fc->fo->mu);
}

static void *
fo_writer(void *arg)
{
	struct fclient *fc = arg;
	struct fo *fo = fc->fo;
	static const char data[100] = "chubby-bench failover payload";

	while (!atomic_load(&fo->stop)) {
		double t0 = bench_now();
		int rc = chubby_set_contents(fc->h, data, sizeof data, NULL);
		double t1 = bench_now();

		if (rc != CHUBBY_OK) {
			if (chubby_session_state(fc->c) == CHUBBY_SESSION_EXPIRED)
				break;
			continue;
		}
		atomic_fetch_add(&fo->writes, 1);
		pthread_mutex_lock(&fo->mu);
		/* Only writes begun after the master is dead: one in flight at
		 * the kill may have been committed by the old master. */
		if (fo->t_kill > 0 && t0 >= fo->t_kill && fc->first_ok == 0)
			fc->first_ok = t1;
		pthread_mutex_unlock(&fo->mu);
	}
	return NULL;
}

/* A client opened at the fault, as a new user would: chubby_open (which
 * has to find the new master), open its file, write once. */
struct newclient {
	const struct bench_opts *o;
	unsigned round;
	double t0, done; /* done: the write's completion, 0 if it failed */
};

static void *
fo_newclient(void *arg)
{
	struct newclient *nc = arg;
	struct chubby_options opt = {0};
	chubby_client *c = NULL;
	chubby_handle *h;
	char path[400];
	static const char data[] = "new client";

	opt.cell = nc->o->cell;
	opt.name = "chubby-bench-new";
	opt.open_timeout_ms = (unsigned)(FO_TIMEOUT * 1000);
	opt.call_timeout_ms = (unsigned)(FO_TIMEOUT * 1000);
	snprintf(path, sizeof path, "%s/failover-new-%u", nc->o->prefix, nc->round);
	if (chubby_open(&opt, &c) == CHUBBY_OK &&
	    chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL, &h,
		NULL) == CHUBBY_OK &&
	    chubby_set_contents(h, data, sizeof data, NULL) == CHUBBY_OK)
		nc->done = bench_now();
	if (c != NULL)
		chubby_close(c);
	return NULL;
}

/* The nft table --silent blackhole uses; its name says whose it is. */
#define FO_NFT_TABLE "chubbybench"

/* True when this process has a network namespace of its own (not init's):
 * the black hole drops a whole address, which on the host's loopback other
 * cells may share. */
static int
fo_own_netns(void)
{
	struct stat self, b;
	struct dirent *e;
	DIR *d;
	int found = 0;

	if (stat("/proc/self/ns/net", &self) != 0)
		return 0;
	if (stat("/proc/1/ns/net", &b) == 0)
		return self.st_ino != b.st_ino;
	/* /proc/1 is not ours to look at (a container): a namespace made
	 * with `ip netns add` is bound under /run/netns. */
	if ((d = opendir("/run/netns")) == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		char path[300];

		snprintf(path, sizeof path, "/run/netns/%s", e->d_name);
		found = e->d_name[0] != '.' && stat(path, &b) == 0 && b.st_ino == self.st_ino &&
		    b.st_dev == self.st_dev;
	}
	closedir(d);
	return found;
}

/* Drops (ON) or lets through again every packet to and from replica ADDR's
 * address: its clients, its peers, its own outgoing connections, as a
 * machine cut off by a partition (chubby-cell gives each replica an address
 * of its own).  Ports alone would not do: the master's own connections to
 * its peers go out from other ports and would keep it leading. */
static int
fo_blackhole(const char *addr, int on)
{
	char host[CELLSPEC_ADDR_MAX], cmd[1400];
	const char *colon = strrchr(addr, ':');

	if (!on)
		return system("nft delete table inet " FO_NFT_TABLE " >/dev/null 2>&1") == 0 ? 0 : -1;
	if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	snprintf(cmd, sizeof cmd,
	    "nft add table inet " FO_NFT_TABLE " && "
	    "nft add chain inet " FO_NFT_TABLE " out '{ type filter hook output priority 0; policy accept; }' && "
	    "nft add rule inet " FO_NFT_TABLE " out ip daddr %s drop && "
	    "nft add rule inet " FO_NFT_TABLE " out ip saddr %s drop",
	    host, host);
	return system(cmd) == 0 ? 0 : -1;
}

static int
cmp_ms(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of the N values of V that are not negative; -1 if none. */
static double
fo_median(double *v, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		if (v[i] >= 0)
			v[k++] = v[i];
	if (k == 0)
		return -1;
	qsort(v, k, sizeof *v, cmp_ms);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* Waits until the cell has a master again (after a round), up to 60 s. */
static int
fo_settle(const struct bench_opts *o)
{
	double end = bench_now() + 60;

	while (bench_now() < end) {
		struct timespec ts = {0, 200000000};

		if (cell_master_id(o, NULL, 0) != 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

struct fo_round {
	double first_write_ms, all_writers_ms, all_safe_ms, new_client_ms;
	unsigned in_jeopardy, saw_failover;
	int ok;
};

/* One fault and the recovery from it. */
static int
fo_round(struct fo *fo, struct fclient *fc, unsigned n, unsigned round, struct fo_round *out,
    char *err, size_t errlen)
{
	const struct bench_opts *o = fo->o;
	struct cell_procs cp;
	struct newclient nc = {.o = o, .round = round};
	pthread_t nth;
	int nc_started = 0, mid, rc = 0;
	char cmd[1200], maddr[CELLSPEC_ADDR_MAX] = "";
	double deadline, t;
	pid_t pid;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&fo->mu);
	fo->t_kill = 0;
	for (unsigned i = 0; i < n; i++) {
		fc[i].first_ok = fc[i].failover_at = 0;
		fc[i].jeopardy = 0;
	}
	pthread_mutex_unlock(&fo->mu);
	bench_progress(o, "failover c=%u round %u: writing for %.0f s before the fault", n, round + 1,
	    o->warmup + 2);
	t = bench_now() + o->warmup + 2;
	while (bench_now() < t) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	cell_procs_read(o, &cp);
	if ((mid = cell_master_id(o, maddr, sizeof maddr)) == 0) {
		snprintf(err, errlen, "no master found");
		return -1;
	}
	pid = cell_pid_of(&cp, mid);
	/* The clock starts at the fault itself.  Sending it from here, not
	 * through `chubby-cell kill` (a shell script that can take most of a
	 * second to start on a loaded machine), keeps the start exact, and
	 * t_kill is set before any client can see the fail-over. */
	pthread_mutex_lock(&fo->mu);
	if (o->fault == FO_BLACKHOLE) {
		if (!fo_own_netns()) {
			pthread_mutex_unlock(&fo->mu);
			snprintf(err, errlen, "--silent blackhole drops a whole address: run the cell and "
			    "chubby-bench in a network namespace of their own (ip netns exec)");
			return -1;
		}
		t = bench_now();
		if (fo_blackhole(maddr, 1) != 0) {
			pthread_mutex_unlock(&fo->mu);
			fo_blackhole(maddr, 0);
			snprintf(err, errlen, "nft could not black-hole %s (needs root and nft)", maddr);
			return -1;
		}
		fo->t_kill = t; /* at worst early: never flatters the result */
	} else if (pid > 0 && kill(pid, o->fault == FO_STOP ? SIGSTOP : SIGKILL) == 0) {
		fo->t_kill = bench_now();
	} else if (o->fault == FO_KILL) {
		snprintf(cmd, sizeof cmd, "'%s' kill %d --dir '%s' >/dev/null 2>&1", o->cell_tool,
		    mid, o->dir);
		t = bench_now();
		if (system(cmd) != 0) {
			pthread_mutex_unlock(&fo->mu);
			snprintf(err, errlen, "%.140s failed", cmd);
			return -1;
		}
		fo->t_kill = t;
	} else {
		pthread_mutex_unlock(&fo->mu);
		snprintf(err, errlen, "no pid for replica %d", mid);
		return -1;
	}
	pthread_mutex_unlock(&fo->mu);
	nc.t0 = fo->t_kill;
	nc_started = pthread_create(&nth, NULL, fo_newclient, &nc) == 0;
	deadline = fo->t_kill + FO_TIMEOUT;
	for (;;) {
		unsigned nok = 0, nsafe = 0;
		struct timespec ts = {0, 20000000};

		t = bench_now();
		pthread_mutex_lock(&fo->mu);
		for (unsigned i = 0; i < n; i++) {
			nok += fc[i].first_ok > 0;
			nsafe += fc[i].failover_at > 0 &&
			    chubby_session_state(fc[i].c) == CHUBBY_SESSION_SAFE;
		}
		pthread_mutex_unlock(&fo->mu);
		if ((nok == n && nsafe == n) || t > deadline)
			break;
		bench_progress(o, "failover c=%u round %u: %.1f s after the fault on replica %d: "
		    "%u/%u writers back, %u/%u sessions safe", n, round + 1, t - fo->t_kill, mid, nok, n,
		    nsafe, n);
		nanosleep(&ts, NULL);
	}
	if (nc_started)
		pthread_join(nth, NULL);
	out->ok = 1;
	out->first_write_ms = -1;
	for (unsigned i = 0; i < n; i++) {
		double w = fc[i].first_ok > 0 ? (fc[i].first_ok - fo->t_kill) * 1000 : -1;
		double s = fc[i].failover_at > 0 ? (fc[i].failover_at - fo->t_kill) * 1000 : -1;

		if (w < 0 || s < 0)
			out->ok = 0;
		if (w >= 0 && (out->first_write_ms < 0 || w < out->first_write_ms))
			out->first_write_ms = w;
		if (w > out->all_writers_ms)
			out->all_writers_ms = w;
		if (s > out->all_safe_ms)
			out->all_safe_ms = s;
		out->in_jeopardy += (unsigned)fc[i].jeopardy;
		out->saw_failover += fc[i].failover_at > 0;
	}
	out->new_client_ms = nc.done > 0 ? (nc.done - fo->t_kill) * 1000 : -1;
	if (nc.done == 0)
		out->ok = 0;
	if (!out->ok)
		snprintf(err, errlen, "not every client recovered within %.0f s", FO_TIMEOUT);
	/* Make the cell whole again. */
	if (o->fault == FO_KILL) {
		snprintf(cmd, sizeof cmd, "'%s' restart %d --dir '%s' >/dev/null 2>&1", o->cell_tool,
		    mid, o->dir);
		if (system(cmd) != 0) {
			snprintf(err, errlen, "could not restart replica %d", mid);
			rc = -1;
		}
	} else if (o->fault == FO_STOP) {
		kill(pid, SIGCONT);
	} else {
		fo_blackhole(maddr, 0);
	}
	if (rc == 0 && fo_settle(o) != 0) {
		snprintf(err, errlen, "no master within 60 s after round %u", round + 1);
		rc = -1;
	}
	return out->ok && rc == 0 ? 0 : -1;
}

int
failover_run(const struct bench_opts *o, unsigned n, struct bench_result *res)
{
	static const char *const faults[] = {"kill -9", "SIGSTOP", "black hole"};
	struct fo fo;
	struct fclient *fc;
	struct fo_round *rr = NULL;
	double *v = NULL;
	char path[400], err[160] = "";
	unsigned started = 0, rounds = o->rounds ? o->rounds : 1;

	memset(res, 0, sizeof *res);
	snprintf(res->workload, sizeof res->workload, "failover");
	snprintf(res->fault, sizeof res->fault, "%s", faults[o->fault]);
	res->clients = n;
	res->rounds = rounds;
	res->server_cpu = res->master_cpu = -1;
	if (o->dir == NULL) {
		snprintf(res->first_error, sizeof res->first_error, "needs --dir (a chubby-cell directory)");
		return -1;
	}
	memset(&fo, 0, sizeof fo);
	fo.o = o;
	pthread_mutex_init(&fo.mu, NULL);
	if ((fc = calloc(n, sizeof *fc)) == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct chubby_options opt = {0};

		fc[i].fo = &fo;
		fc[i].idx = i;
		opt.cell = o->cell;
		opt.name = "chubby-bench";
		opt.call_timeout_ms = 120000; /* ride the fail-over out */
		opt.on_event = fo_event;
		opt.event_arg = &fc[i];
		snprintf(path, sizeof path, "%s/failover-%u", o->prefix, i);
		if (chubby_open(&opt, &fc[i].c) != CHUBBY_OK ||
		    chubby_handle_open(fc[i].c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE,
			NULL, &fc[i].h, NULL) != CHUBBY_OK) {
			snprintf(res->first_error, sizeof res->first_error, "client %u: %.120s", i,
			    chubby_last_error());
			goto out;
		}
	}
	for (; started < n; started++)
		if (pthread_create(&fc[started].th, NULL, fo_writer, &fc[started]) != 0)
			break;
	if ((rr = calloc(rounds, sizeof *rr)) == NULL || (v = calloc(rounds, sizeof *v)) == NULL)
		goto stop;
	for (unsigned r = 0; r < rounds; r++) {
		if (fo_round(&fo, fc, n, r, &rr[r], err, sizeof err) == 0)
			res->rounds_ok++;
		else if (res->first_error[0] == '\0')
			snprintf(res->first_error, sizeof res->first_error, "round %u: %.140s", r + 1, err);
		res->in_jeopardy += rr[r].in_jeopardy;
		res->saw_failover += rr[r].saw_failover;
		if (!o->quiet)
			fprintf(stderr, "%sfailover (%s) round %u: first write %.0f ms, every writer %.0f ms, "
			    "all safe %.0f ms, new client %.0f ms\n", isatty(2) ? "\r\033[K" : "",
			    res->fault, r + 1, rr[r].first_write_ms, rr[r].all_writers_ms,
			    rr[r].all_safe_ms, rr[r].new_client_ms);
		if (!rr[r].ok && rr[r].first_write_ms == 0 && rr[r].all_writers_ms == 0)
			break; /* the fault could not be made: no use going on */
	}
	res->ok = res->rounds_ok == rounds;
#define FO_MEDIAN(field)                                                      \
	do {                                                                  \
		for (unsigned r = 0; r < rounds; r++)                         \
			v[r] = rr[r].ok || rr[r].field > 0 ? rr[r].field : -1; \
		res->field = fo_median(v, rounds);                            \
	} while (0)
	FO_MEDIAN(first_write_ms);
	FO_MEDIAN(all_writers_ms);
	FO_MEDIAN(all_safe_ms);
	FO_MEDIAN(new_client_ms);
#undef FO_MEDIAN
	res->ops = atomic_load(&fo.writes);
stop:
	atomic_store(&fo.stop, 1);
	for (unsigned i = 0; i < started; i++)
		pthread_join(fc[i].th, NULL);
out:
	for (unsigned i = 0; i < n; i++)
		chubby_close(fc[i].c);
	free(fc);
	free(rr);
	free(v);
	pthread_mutex_destroy(&fo.mu);
	return res->ok ? 0 : -1;
}
