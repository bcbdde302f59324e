/*
 * libchubby_storm.c: many libchubby clients in one process, each on a
 * thread of its own, doing what `lockctl cat` does (open, read, close) as
 * fast as they can, as chubby-bench's open-read-close workload does, for
 * tests/integration/test_libchubby_storm.sh, which kills the master in the
 * middle.  What it catches: a caller's thread and a client's loop thread
 * touching one connection (its TLS object, its buffers) without the
 * connection's lock, or a connection freed under a caller; either shows as
 * a crash, or as a loop thread that never comes back (its client's calls
 * all time out and chubby_close never returns).
 *
 *   libchubby_storm [-C CELL] [-c CALL_MS] [-l LATE_S] FILE CLIENTS SECONDS [MARK]
 *
 * FILE must exist with some contents.  Each client reads it in a loop for
 * SECONDS; a read must return the contents read at the start.  MARK, if
 * given, is a file whose appearance marks the fault (the test creates it
 * when it has killed the master): each client must then complete an
 * operation again after it: a client that has not when SECONDS are up goes
 * on for up to LATE_S more (default 60), so that a fail-over slowed by a
 * starved machine is waited for, and one that never ends still fails.
 * Prints "running" once every client has
 * completed an operation, then one line per client that fails and
 *   ok|fail clients=N ops=N errors=N bad=N late_ok=N
 * and, with MARK, the longest time each client went without a completed
 * operation (the fail-over as it saw it), over the clients:
 *   longest gap: median=S max=S
 * (late_ok: clients with an operation completed after MARK appeared, or
 * after the start without MARK) and exits 0 only for "ok": every client
 * opened, none read wrong contents, every one finished (chubby_close
 * returned) and every one worked after the fault.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

struct storm {
	const char *cell, *file, *mark;
	unsigned call_ms;
	double seconds, late_s;
	const void *want;
	size_t want_len;
	int nclients;
	atomic_int working; /* clients with an operation done */
};

struct client {
	struct storm *s;
	int id;
	pthread_t tid;
	uint64_t ops, errors, bad;
	bool opened, late_ok;
	double last_ok, max_gap; /* when an operation last completed; the longest gap */
	char first_err[200];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
note_error(struct client *w, const char *what, int rc)
{
	if (w->errors++ == 0)
		snprintf(w->first_err, sizeof w->first_err, "%s: %s %s", what, chubby_status_name(rc),
		    chubby_last_error());
}

static void *
run(void *arg)
{
	struct client *w = arg;
	struct storm *s = w->s;
	struct chubby_options opt;
	chubby_client *c;
	double end;
	int rc;

	memset(&opt, 0, sizeof opt);
	opt.cell = s->cell;
	opt.name = "libchubby_storm";
	opt.call_timeout_ms = s->call_ms;
	if ((rc = chubby_open(&opt, &c)) != CHUBBY_OK) {
		note_error(w, "chubby_open", rc);
		return NULL;
	}
	w->opened = true;
	end = now_s() + s->seconds;
	for (;;) {
		/* Read the mark before the operation: one that succeeds after
		 * seeing it began after the fault. */
		bool after = s->mark == NULL || access(s->mark, F_OK) == 0;
		double t = now_s();

		/* Past SECONDS only a client still waiting to work again
		 * after the fault goes on, and only for LATE_S. */
		if (t >= end && (w->late_ok || t >= end + s->late_s))
			break;

		chubby_handle *h;
		void *data = NULL;
		size_t len = 0;

		if ((rc = chubby_handle_open(c, s->file, CHUBBY_O_READ, NULL, &h, NULL)) != CHUBBY_OK) {
			note_error(w, "open", rc);
			continue;
		}
		rc = chubby_get_contents(h, &data, &len, NULL);
		if (rc != CHUBBY_OK) {
			note_error(w, "read", rc);
		} else if (len != s->want_len || memcmp(data, s->want, len) != 0) {
			w->bad++;
		} else {
			/* The test waits for "running" before the fault. */
			if (w->ops++ == 0 && atomic_fetch_add(&s->working, 1) + 1 == s->nclients) {
				printf("running\n");
				fflush(stdout);
			}
			double t_ok = now_s();

			if (w->last_ok > 0 && t_ok - w->last_ok > w->max_gap)
				w->max_gap = t_ok - w->last_ok;
			w->last_ok = t_ok;
			if (after)
				w->late_ok = true;
		}
		chubby_free(data);
		chubby_handle_close(h);
	}
	chubby_close(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct chubby_options opt;
	struct storm s;
	struct client *w;
	chubby_client *c;
	chubby_handle *h;
	void *want = NULL;
	uint64_t ops = 0, errors = 0, bad = 0;
	int i = 1, n, opened = 0, late = 0, rc;

	memset(&s, 0, sizeof s);
	s.call_ms = 5000;
	s.late_s = 60;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			s.cell = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			s.call_ms = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc)
			s.late_s = atof(argv[++i]);
		else
			break;
	}
	if (argc - i != 3 && argc - i != 4) {
		fprintf(stderr, "usage: libchubby_storm [-C CELL] [-c CALL_MS] [-l LATE_S] FILE CLIENTS "
				"SECONDS [MARK]\n");
		return 2;
	}
	s.file = argv[i];
	n = atoi(argv[i + 1]);
	s.seconds = atof(argv[i + 2]);
	s.mark = argc - i == 4 ? argv[i + 3] : NULL;
	s.nclients = n;
	if (n <= 0 || s.seconds <= 0) {
		fprintf(stderr, "libchubby_storm: CLIENTS and SECONDS must be positive\n");
		return 2;
	}

	/* The contents every read must return. */
	memset(&opt, 0, sizeof opt);
	opt.cell = s.cell;
	opt.name = "libchubby_storm";
	if ((rc = chubby_open(&opt, &c)) != CHUBBY_OK) {
		printf("fail open: %s %s\n", chubby_status_name(rc), chubby_last_error());
		return 1;
	}
	if ((rc = chubby_handle_open(c, s.file, CHUBBY_O_READ, NULL, &h, NULL)) != CHUBBY_OK ||
	    (rc = chubby_get_contents(h, &want, &s.want_len, NULL)) != CHUBBY_OK) {
		printf("fail read %s: %s %s\n", s.file, chubby_status_name(rc), chubby_last_error());
		chubby_close(c);
		return 1;
	}
	chubby_handle_close(h);
	chubby_close(c);
	s.want = want;

	w = calloc((size_t)n, sizeof *w);
	if (w == NULL)
		return 1;
	for (int t = 0; t < n; t++) {
		w[t].s = &s;
		w[t].id = t;
		if (pthread_create(&w[t].tid, NULL, run, &w[t]) != 0) {
			printf("fail: cannot start thread %d\n", t);
			return 1;
		}
	}
	for (int t = 0; t < n; t++) {
		pthread_join(w[t].tid, NULL);
		ops += w[t].ops;
		errors += w[t].errors;
		bad += w[t].bad;
		opened += w[t].opened;
		late += w[t].late_ok;
		if (!w[t].opened || !w[t].late_ok || w[t].bad != 0)
			printf("client %d: opened=%d ops=%" PRIu64 " bad=%" PRIu64 " late_ok=%d first "
			       "error: %s\n",
			    t, w[t].opened, w[t].ops, w[t].bad, w[t].late_ok, w[t].first_err);
	}
	if (s.mark != NULL) {
		double *gap = calloc((size_t)n, sizeof *gap);

		if (gap == NULL)
			return 1;
		for (int t = 0; t < n; t++)
			gap[t] = w[t].max_gap;
		qsort(gap, (size_t)n, sizeof *gap, cmp_double);
		printf("longest gap: median=%.1f s max=%.1f s\n", gap[n / 2], gap[n - 1]);
		free(gap);
	}
	rc = opened == n && late == n && bad == 0;
	printf("%s clients=%d ops=%" PRIu64 " errors=%" PRIu64 " bad=%" PRIu64 " late_ok=%d\n",
	    rc ? "ok" : "fail", n, ops, errors, bad, late);
	free(w);
	chubby_free(want);
	return rc ? 0 : 1;
}
