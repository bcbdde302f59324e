/*
 * failover.c: the failover workload.  C libchubby clients write in a loop;
 * the master is killed with -9 (chubby-cell kill); we time, from the kill,
 * the first write that succeeds, the moment every writer has had one, and
 * the moment every session is SAFE at the new master (its MASTER_FAILOVER
 * event, which libchubby raises once a KeepAlive carried the new epoch:
 * docs/CLIENT.md "Epochs and fail-over").  The killed replica is restarted
 * afterwards, so the cell is whole again.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	double t_kill; /* 0 until the kill */
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

int
failover_run(const struct bench_opts *o, unsigned n, struct bench_result *res)
{
	struct fo fo;
	struct fclient *fc;
	struct cell_procs cp;
	char cmd[1200], path[400];
	double deadline, t;
	unsigned started = 0;
	int mid;

	memset(res, 0, sizeof *res);
	snprintf(res->workload, sizeof res->workload, "failover");
	res->clients = n;
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
	bench_progress(o, "failover c=%u: writing for %.0f s before the kill", n, o->warmup + 2);
	t = bench_now() + o->warmup + 2;
	while (bench_now() < t) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	cell_procs_read(o, &cp);
	if ((mid = cell_master_id(o, NULL, 0)) == 0) {
		snprintf(res->first_error, sizeof res->first_error, "no master found");
		goto stop;
	}
	/* The clock starts at the kill -9 itself.  Sending it from here, not
	 * through `chubby-cell kill` (a shell script that can take most of a
	 * second to start on a loaded machine), keeps the start exact, and
	 * t_kill is set before any client can see the fail-over. */
	{
		pid_t pid = cell_pid_of(&cp, mid);

		pthread_mutex_lock(&fo.mu);
		if (pid > 0 && kill(pid, SIGKILL) == 0) {
			fo.t_kill = bench_now();
			pthread_mutex_unlock(&fo.mu);
		} else {
			pthread_mutex_unlock(&fo.mu);
			snprintf(cmd, sizeof cmd, "'%s' kill %d --dir '%s' >/dev/null 2>&1", o->cell_tool,
			    mid, o->dir);
			t = bench_now();
			if (system(cmd) != 0) {
				snprintf(res->first_error, sizeof res->first_error, "%.140s failed", cmd);
				goto stop;
			}
			pthread_mutex_lock(&fo.mu);
			fo.t_kill = t; /* at worst early: never flatters the result */
			pthread_mutex_unlock(&fo.mu);
		}
	}
	deadline = fo.t_kill + FO_TIMEOUT;
	for (;;) {
		unsigned nok = 0, nsafe = 0;
		struct timespec ts = {0, 20000000};

		t = bench_now();
		pthread_mutex_lock(&fo.mu);
		for (unsigned i = 0; i < n; i++) {
			nok += fc[i].first_ok > 0;
			nsafe += fc[i].failover_at > 0 &&
			    chubby_session_state(fc[i].c) == CHUBBY_SESSION_SAFE;
		}
		pthread_mutex_unlock(&fo.mu);
		if ((nok == n && nsafe == n) || t > deadline)
			break;
		bench_progress(o, "failover c=%u: %.1f s after killing replica %d: %u/%u writers back, %u/%u sessions safe",
		    n, t - fo.t_kill, mid, nok, n, nsafe, n);
		nanosleep(&ts, NULL);
	}
	res->ok = 1;
	res->first_write_ms = -1;
	for (unsigned i = 0; i < n; i++) {
		double w = fc[i].first_ok > 0 ? (fc[i].first_ok - fo.t_kill) * 1000 : -1;
		double s = fc[i].failover_at > 0 ? (fc[i].failover_at - fo.t_kill) * 1000 : -1;

		if (w < 0 || s < 0)
			res->ok = 0;
		if (w >= 0 && (res->first_write_ms < 0 || w < res->first_write_ms))
			res->first_write_ms = w;
		if (w > res->all_writers_ms)
			res->all_writers_ms = w;
		if (s > res->all_safe_ms)
			res->all_safe_ms = s;
		res->in_jeopardy += (unsigned)fc[i].jeopardy;
		res->saw_failover += fc[i].failover_at > 0;
	}
	if (!res->ok)
		snprintf(res->first_error, sizeof res->first_error,
		    "not every client recovered within %.0f s", FO_TIMEOUT);
	res->ops = atomic_load(&fo.writes);
	snprintf(cmd, sizeof cmd, "'%s' restart %d --dir '%s' >/dev/null 2>&1", o->cell_tool, mid,
	    o->dir);
	if (system(cmd) != 0 && res->first_error[0] == '\0')
		snprintf(res->first_error, sizeof res->first_error, "could not restart replica %d", mid);
stop:
	atomic_store(&fo.stop, 1);
	for (unsigned i = 0; i < started; i++)
		pthread_join(fc[i].th, NULL);
out:
	for (unsigned i = 0; i < n; i++)
		chubby_close(fc[i].c);
	free(fc);
	pthread_mutex_destroy(&fo.mu);
	return res->ok ? 0 : -1;
}
