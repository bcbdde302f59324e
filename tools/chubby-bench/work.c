/*
 * work.c: chubby-bench's client workloads, each through libchubby's public
 * API: N threads, each with its own session (chubby_client), run one
 * operation in a loop until the deadline.  Only operations that both start
 * after the warm-up and end before the deadline are counted.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <chubby/chubby.h>

#include "bench.h"

enum wkind { W_LOCK, W_LOCK_CONTENDED, W_WRITE, W_CAS, W_READ, W_READ_CACHED, W_OPEN_READ_CLOSE };

static const struct {
	const char *name;
	enum wkind kind;
} wtable[] = {
    {"lock", W_LOCK},
    {"lock-contended", W_LOCK_CONTENDED},
    {"write", W_WRITE},
    {"cas", W_CAS},
    {"read", W_READ},
    {"read-cached", W_READ_CACHED},
    {"open-read-close", W_OPEN_READ_CLOSE},
};

struct run;

struct worker {
	pthread_t th;
	struct run *run;
	unsigned idx;
	chubby_client *c;
	chubby_handle *h;
	char path[400];        /* the node the session works on */
	int setup_rc;
	char setup_err[160];
	struct hist hist;
	uint64_t ops, errors, stale;
	int first_error;
	char first_msg[120];
	double t_granted; /* lock-contended: when the last ACQUIRE returned */
};

struct run {
	const struct bench_opts *o;
	enum wkind kind;
	unsigned n;
	unsigned runid;
	struct worker *w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready; /* workers done with setup */
	int go;
	double t_measure, t_end; /* monotonic seconds */
	atomic_uint_fast64_t done;
	/* read-cached: the invalidating writer (inv_main).  acked[i] is the
	 * counter of the last write to worker i's file that was acknowledged;
	 * a read begun after that must see it or a later one. */
	atomic_uint_fast64_t *acked;
	pthread_t inv_th;
	bool inv_started;
	uint64_t inv_writes;
	int inv_rc;
	char inv_err[160];
};

static const char payload[100] =
    "chubby-bench 100-byte payload: 0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR";

static void
w_error(struct worker *w, int rc)
{
	w->errors++;
	if (w->first_error == 0) {
		w->first_error = rc;
		snprintf(w->first_msg, sizeof w->first_msg, "%s", chubby_last_error());
	}
}

/* --proxies: session IDX's cell spec is the proxies' list turned to start
 * at proxy IDX mod their number, so that the sessions spread evenly and
 * each fails over to the next proxy as libchubby does to a new master. */
static void
proxies_from(const char *list, unsigned idx, char *out, size_t outlen)
{
	const char *start[BENCH_MAX_PROXIES];
	size_t len[BENCH_MAX_PROXIES], k = 0, off = 0;

	for (const char *q = list; *q != '\0' && k < BENCH_MAX_PROXIES; k++) {
		start[k] = q;
		len[k] = strcspn(q, ",");
		q += len[k];
		if (*q == ',')
			q++;
	}
	out[0] = '\0';
	for (size_t i = 0; i < k && off < outlen; i++) {
		size_t j = (idx + i) % k;
		int w = snprintf(out + off, outlen - off, "%s%.*s", i ? "," : "", (int)len[j], start[j]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int
w_setup(struct worker *w)
{
	struct run *r = w->run;
	struct chubby_options opt = {0};
	char path[400], cell[BENCH_MAX_PROXIES * 72];
	int rc;

	opt.cell = r->o->cell;
	if (r->o->proxies != NULL && r->o->proxies[0] != '\0') {
		/* Through proxies (docs/PROXY.md): the cell's client certificate,
		 * the proxies as the cell's addresses. */
		proxies_from(r->o->proxies, w->idx, cell, sizeof cell);
		opt.cell = cell;
		opt.ca_file = r->o->spec.ca;
		opt.cert_file = r->o->spec.cert;
		opt.key_file = r->o->spec.key;
	}
	opt.name = "chubby-bench";
	opt.call_timeout_ms = 15000;
	if ((rc = chubby_open(&opt, &w->c)) != CHUBBY_OK) {
		snprintf(w->setup_err, sizeof w->setup_err, "chubby_open: %.120s", chubby_last_error());
		return rc;
	}
	if (r->kind == W_LOCK_CONTENDED)
		snprintf(path, sizeof path, "%s/r%u-lock", r->o->prefix, r->runid);
	else
		snprintf(path, sizeof path, "%s/r%u-%u", r->o->prefix, r->runid, w->idx);
	rc = chubby_handle_open(w->c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL,
	    &w->h, NULL);
	if (rc != CHUBBY_OK) {
		snprintf(w->setup_err, sizeof w->setup_err, "open %.60s: %.80s", path, chubby_last_error());
		return rc;
	}
	if (r->kind == W_READ || r->kind == W_READ_CACHED || r->kind == W_CAS ||
	    r->kind == W_OPEN_READ_CLOSE) {
		if ((rc = chubby_set_contents(w->h, payload, sizeof payload, NULL)) != CHUBBY_OK) {
			snprintf(w->setup_err, sizeof w->setup_err, "write %.60s: %.80s", path,
			    chubby_last_error());
			return rc;
		}
	}
	snprintf(w->path, sizeof w->path, "%s", path);
	if (r->kind == W_OPEN_READ_CLOSE) {
		/* No handle stays open on the node, as between two `lockctl cat`s
		 * of a script session. */
		chubby_handle_close(w->h);
		w->h = NULL;
	}
	return CHUBBY_OK;
}

/* The counter an invalidating write put at the start of the contents
 * ("inv N ..."); 0 for the first contents. */
static uint64_t
contents_counter(const void *data, size_t len)
{
	char buf[32];

	if (len < 5 || memcmp(data, "inv ", 4) != 0)
		return 0;
	if (len > sizeof buf - 1)
		len = sizeof buf - 1;
	memcpy(buf, data, len);
	buf[len] = '\0';
	return strtoull(buf + 4, NULL, 10);
}

/* One operation; CHUBBY_OK or the failing status. */
static int
w_op(struct worker *w, uint64_t *gen, double deadline)
{
	struct chubby_stat st;
	void *data;
	size_t len;
	int rc;

	switch (w->run->kind) {
	case W_LOCK:
	case W_LOCK_CONTENDED: {
		/* Wait no longer than the run lasts (plus a little), so every
		 * thread is back soon after the deadline. */
		double left = deadline - bench_now();
		unsigned tmo = left > 0 ? (unsigned)(left * 1000.0) + 200 : 200;
		if ((rc = chubby_acquire(w->h, CHUBBY_LOCK_EXCLUSIVE, tmo)) != CHUBBY_OK)
			return rc;
		w->t_granted = bench_now();
		return chubby_release(w->h);
	}
	case W_WRITE:
		return chubby_set_contents(w->h, payload, sizeof payload, NULL);
	case W_CAS:
		if (*gen == 0) {
			if ((rc = chubby_get_stat(w->h, &st)) != CHUBBY_OK)
				return rc;
			*gen = st.content_gen;
		}
		rc = chubby_set_contents_if(w->h, payload, sizeof payload, *gen, &st);
		*gen = rc == CHUBBY_OK ? st.content_gen : 0;
		return rc;
	case W_READ:
		/* libchubby's GetContents is served from its cache once filled,
		 * and the public API has no way to skip it: GetStat always goes
		 * to the master and takes the same read path there (applied
		 * state under the master lease, no log round). */
		return chubby_get_stat(w->h, &st);
	case W_OPEN_READ_CLOSE: {
		/* What one `lockctl cat` does in a session: open, read, close. */
		chubby_handle *h;
		int crc;

		if ((rc = chubby_handle_open(w->c, w->path, CHUBBY_O_READ, NULL, &h, NULL)) !=
		    CHUBBY_OK)
			return rc;
		rc = chubby_get_contents(h, &data, &len, NULL);
		if (rc == CHUBBY_OK)
			chubby_free(data);
		crc = chubby_handle_close(h);
		return rc != CHUBBY_OK ? rc : crc;
	}
	case W_READ_CACHED: {
		uint64_t acked = atomic_load(&w->run->acked[w->idx]), seen;

		if ((rc = chubby_get_contents(w->h, &data, &len, NULL)) != CHUBBY_OK)
			return rc;
		seen = contents_counter(data, len);
		chubby_free(data);
		if (seen < acked) {
			w->stale++;
			if (w->first_error == 0) {
				w->first_error = CHUBBY_E_INTERNAL;
				snprintf(w->first_msg, sizeof w->first_msg,
				    "stale cached read: saw write %" PRIu64 " after write %" PRIu64
				    " was acknowledged", seen, acked);
			}
			return CHUBBY_E_INTERNAL;
		}
		return CHUBBY_OK;
	}
	}
	return CHUBBY_E_INVALID;
}

/* One line of --trace for an operation that succeeded.  From it the grant
 * order and each session's waits can be read back: whether the waiter
 * queue is served first come, first served, and where a tail comes from
 * (BENCHMARKS.md "Where lock-contended's tail comes from").  stdio locks
 * the stream, so the threads' lines do not mix. */
static void
w_trace(const struct worker *w, double t0, double t1, int measured)
{
	const struct run *r = w->run;
	const char *name = "?";

	for (size_t i = 0; i < sizeof wtable / sizeof wtable[0]; i++)
		if (wtable[i].kind == r->kind)
			name = wtable[i].name;
	if (r->kind == W_LOCK_CONTENDED)
		fprintf(r->o->trace, "%s %u %u %d %.6f %.6f %.6f\n", name, r->n, w->idx, measured,
		    t0, t1, w->t_granted);
	else
		fprintf(r->o->trace, "%s %u %u %d %.6f %.6f\n", name, r->n, w->idx, measured, t0,
		    t1);
}

static void *
w_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	uint64_t gen = 0;
	double t0, t1, t_measure, t_end;

	w->setup_rc = w_setup(w);
	pthread_mutex_lock(&r->mu);
	r->ready++;
	pthread_cond_broadcast(&r->cv);
	while (!r->go)
		pthread_cond_wait(&r->cv, &r->mu);
	t_measure = r->t_measure;
	t_end = r->t_end;
	pthread_mutex_unlock(&r->mu);
	if (w->setup_rc != CHUBBY_OK || t_end <= 0)
		return NULL;

	while ((t0 = bench_now()) < t_end) {
		int rc = w_op(w, &gen, t_end);

		t1 = bench_now();
		if (r->o->trace != NULL && rc == CHUBBY_OK)
			w_trace(w, t0, t1, t0 >= t_measure && t1 <= t_end);
		if (t0 < t_measure || t1 > t_end)
			continue; /* warm-up, or past the deadline */
		if (rc == CHUBBY_OK) {
			w->ops++;
			hist_add(&w->hist, (uint64_t)((t1 - t0) * 1e6));
			atomic_fetch_add_explicit(&r->done, 1, memory_order_relaxed);
		} else
			w_error(w, rc);
	}
	return NULL;
}

static void *
w_close(void *arg)
{
	struct worker *w = arg;

	chubby_close(w->c); /* ends the session, frees its handle */
	w->c = NULL;
	return NULL;
}

/*
 * read-cached's invalidating writer: its own session writes each reader's
 * file in turn, every INV_PERIOD_MS, with a rising counter.  Chubby
 * acknowledges a write only once every cached copy is invalidated, so a
 * read begun after the acknowledgement that still shows an older counter
 * is a stale read: counted as an error (w_op).  With --proxies the readers
 * go through the proxies and this writer still straight to the master: the
 * invalidations reach the readers through the proxies' relay and caches.
 */
#define INV_PERIOD_MS 10

static void *
inv_main(void *arg)
{
	struct run *r = arg;
	struct chubby_options opt = {0};
	chubby_client *c = NULL;
	chubby_handle **hs;
	char path[400], body[100];
	uint64_t counter = 0;
	unsigned i;
	int rc;

	if ((hs = calloc(r->n, sizeof *hs)) == NULL)
		return NULL;
	opt.cell = r->o->cell;
	opt.name = "chubby-bench-invalidator";
	opt.call_timeout_ms = 15000;
	if ((rc = chubby_open(&opt, &c)) != CHUBBY_OK)
		goto fail;
	for (i = 0; i < r->n; i++) {
		snprintf(path, sizeof path, "%s/r%u-%u", r->o->prefix, r->runid, i);
		if ((rc = chubby_handle_open(c, path, CHUBBY_O_WRITE, NULL, &hs[i], NULL)) !=
		    CHUBBY_OK)
			goto fail;
	}
	for (i = 0; bench_now() < r->t_end; i = (i + 1) % r->n) {
		struct timespec ts = {0, INV_PERIOD_MS * 1000000L};
		int len;

		nanosleep(&ts, NULL);
		len = snprintf(body, sizeof body, "inv %" PRIu64 " ", ++counter);
		if ((rc = chubby_set_contents(hs[i], body, (size_t)len, NULL)) != CHUBBY_OK)
			goto fail;
		atomic_store(&r->acked[i], counter);
		r->inv_writes++;
	}
	rc = CHUBBY_OK;
fail:
	if (rc != CHUBBY_OK) {
		r->inv_rc = rc;
		snprintf(r->inv_err, sizeof r->inv_err, "invalidating writer: %s",
		    chubby_last_error());
	}
	if (c != NULL)
		chubby_close(c);
	free(hs);
	return NULL;
}

/* --marks: tell a harness (tools/bench-peers) when the measured window
 * opens and closes, so that it samples the servers (CPU, fsyncs, bytes on
 * the wire) over the same window. */
static void
mark(const struct bench_opts *o, const char *what)
{
	if (!o->marks)
		return;
	printf("%s\n", what);
	fflush(stdout);
}

int
work_run(const struct bench_opts *o, const char *workload, unsigned n, struct bench_result *res)
{
	static unsigned runid;
	struct cell_procs cp;
	struct run r;
	long long srv0 = 0, srv1, m0 = 0, m1;
	double cli0, cs0 = 0, t, t0, t1;
	uint64_t ops0 = 0;
	pid_t mpid = 0;
	size_t k;
	unsigned started = 0;

	memset(res, 0, sizeof *res);
	snprintf(res->workload, sizeof res->workload, "%s", workload);
	res->clients = n;
	res->server_cpu = res->master_cpu = -1;
	for (k = 0; k < sizeof wtable / sizeof wtable[0]; k++)
		if (strcmp(wtable[k].name, workload) == 0)
			break;
	if (k == sizeof wtable / sizeof wtable[0]) {
		snprintf(res->first_error, sizeof res->first_error, "unknown workload");
		return -1;
	}

	memset(&r, 0, sizeof r);
	r.o = o;
	r.kind = wtable[k].kind;
	r.n = n;
	r.runid = ++runid;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	atomic_init(&r.done, 0);
	if ((r.w = calloc(n, sizeof *r.w)) == NULL)
		return -1;
	if ((r.acked = calloc(n, sizeof *r.acked)) == NULL) {
		free(r.w);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		atomic_init(&r.acked[i], 0);
	for (unsigned i = 0; i < n; i++) {
		r.w[i].run = &r;
		r.w[i].idx = i;
		hist_init(&r.w[i].hist);
		if (pthread_create(&r.w[i].th, NULL, w_main, &r.w[i]) != 0)
			break;
		started++;
	}

	/* Every session open and its node made, then go. */
	pthread_mutex_lock(&r.mu);
	while (r.ready < started)
		pthread_cond_wait(&r.cv, &r.mu);
	for (unsigned i = 0; i < started; i++)
		if (r.w[i].setup_rc != CHUBBY_OK && res->first_error[0] == '\0')
			snprintf(res->first_error, sizeof res->first_error, "client %u: %.120s", i,
			    r.w[i].setup_err);
	if (started < n && res->first_error[0] == '\0')
		snprintf(res->first_error, sizeof res->first_error, "cannot start thread %u", started);
	t = bench_now();
	if (res->first_error[0] == '\0') {
		r.t_measure = t + o->warmup;
		r.t_end = r.t_measure + o->duration;
	} /* else t_end stays 0: the workers stop at once */
	r.go = 1;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	if (r.t_end > 0 && r.kind == W_READ_CACHED)
		r.inv_started = pthread_create(&r.inv_th, NULL, inv_main, &r) == 0;

	if (r.t_end > 0) {
		struct timespec ts;
		double next;

		cell_procs_read(o, &cp);
		mpid = cell_pid_of(&cp, cell_master_id(o, NULL, 0));
		/* Sample the CPU counters when the measured window opens.  A
		 * busy run (read-cached) may starve this thread: the percentages
		 * are over the time between the samples, whenever they land. */
		while ((t = bench_now()) < r.t_measure) {
			double d = r.t_measure - t;
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
		}
		t0 = bench_now();
		srv0 = procs_cpu_ticks(&cp);
		m0 = mpid > 0 ? proc_cpu_ticks(mpid) : -1;
		cli0 = self_cpu_secs();
		cs0 = self_ctx_switches();
		ops0 = atomic_load(&r.done);
		mark(o, "measure");
		next = r.t_measure + 1.0;
		while ((t = bench_now()) < r.t_end) {
			double d = (next < r.t_end ? next : r.t_end) - t;
			ts.tv_sec = (time_t)d;
			ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
			t = bench_now();
			if (t >= next) {
				uint64_t done = atomic_load(&r.done);
				bench_progress(o, "%s c=%u: %.0f/%.0f s, %llu ops, %.0f ops/s", workload, n,
				    t - r.t_measure, o->duration, (unsigned long long)done,
				    (double)done / (t - r.t_measure));
				next += 1.0;
			}
		}
		srv1 = procs_cpu_ticks(&cp);
		m1 = mpid > 0 ? proc_cpu_ticks(mpid) : -1;
		t1 = bench_now();
		mark(o, "end");
		if (t1 - t0 > 0.2) {
			uint64_t ops1 = atomic_load(&r.done);

			res->client_cpu = 100.0 * (self_cpu_secs() - cli0) / (t1 - t0);
			if (ops1 > ops0)
				res->client_cs_per_op =
				    (self_ctx_switches() - cs0) / (double)(ops1 - ops0);
			if (cp.n > 0)
				res->server_cpu = ticks_to_pct(srv1 - srv0, t1 - t0);
			if (m0 >= 0 && m1 >= 0)
				res->master_cpu = ticks_to_pct(m1 - m0, t1 - t0);
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(r.w[i].th, NULL);
	if (r.inv_started) {
		pthread_join(r.inv_th, NULL);
		res->invalidations = r.inv_writes;
		if (r.inv_rc != CHUBBY_OK && res->first_error[0] == '\0')
			snprintf(res->first_error, sizeof res->first_error, "%s", r.inv_err);
	}

	/* Merge, then close the sessions in parallel (each waits for its
	 * SESSION_END's answer). */
	struct hist all;
	hist_init(&all);
	for (unsigned i = 0; i < started; i++) {
		struct worker *w = &r.w[i];
		hist_merge(&all, &w->hist);
		res->ops += w->ops;
		res->errors += w->errors;
		res->stale_reads += w->stale;
		if (w->first_error != 0 && res->first_error[0] == '\0')
			snprintf(res->first_error, sizeof res->first_error, "%s: %s",
			    chubby_status_name(w->first_error), w->first_msg);
	}
	for (unsigned i = 0; i < started; i++)
		if (pthread_create(&r.w[i].th, NULL, w_close, &r.w[i]) != 0)
			w_close(&r.w[i]);
		else
			r.w[i].idx = UINT32_MAX; /* joined below */
	for (unsigned i = 0; i < started; i++)
		if (r.w[i].idx == UINT32_MAX)
			pthread_join(r.w[i].th, NULL);

	res->ok = r.t_end > 0;
	res->secs = res->ok ? o->duration : 0;
	if (res->ok) {
		res->ops_per_s = (double)res->ops / o->duration;
		res->p50_ms = hist_quantile_ms(&all, 0.50);
		res->p99_ms = hist_quantile_ms(&all, 0.99);
		res->p999_ms = hist_quantile_ms(&all, 0.999);
		res->max_ms = (double)all.max_us / 1000.0;
	}
	free(r.w);
	free(r.acked);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	return res->ok ? 0 : -1;
}

int
work_known(const char *workload)
{
	for (size_t k = 0; k < sizeof wtable / sizeof wtable[0]; k++)
		if (strcmp(wtable[k].name, workload) == 0)
			return 1;
	return 0;
}
