/*
 * populate.c: fills a cell's namespace fast, for tests that need a big
 * one (tests/integration/test_stable.sh: a snapshot of 100,000 nodes).
 *
 *   populate [-C CELL] DIR NDIRS NFILES THREADS
 *
 * Makes DIR, NDIRS directories DIR/dNNN under it, and NFILES empty files
 * spread over them (DIR/dNNN/fNNNNNN), THREADS calls at a time on one
 * libchubby session: the master batches concurrent writes into few log
 * writes, so threads, not processes, are what makes this fast.  A file is
 * an OPEN with CREATE and a CLOSE.  Prints
 *   ok|fail files=N dirs=D errors=E secs=S
 * and exits 0 only for "ok" (every node there, no call failed twice).
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <chubby/chubby.h>

struct shared {
	chubby_client *c;
	const char *dir;
	int ndirs, nfiles, nthreads;
	pthread_mutex_t mu;
	int next, made, errors;
};

/* Creates PATH (a directory if DIR) once, retrying a failed call once: a
 * write re-sent after a fail-over may find the node there. */
static bool
make_node(struct shared *s, const char *path, bool dir)
{
	unsigned flags = CHUBBY_O_READ | CHUBBY_O_CREATE | (dir ? CHUBBY_O_DIR : 0);

	for (int attempt = 0; attempt < 2; attempt++) {
		chubby_handle *h = NULL;
		int rc = chubby_handle_open(s->c, path, flags, NULL, &h, NULL);

		if (rc == CHUBBY_OK) {
			chubby_handle_close(h);
			return true;
		}
		pthread_mutex_lock(&s->mu);
		s->errors++;
		pthread_mutex_unlock(&s->mu);
		fprintf(stderr, "%s: %s %s\n", path, chubby_status_name(rc), chubby_last_error());
	}
	return false;
}

static void *
work(void *arg)
{
	struct shared *s = arg;
	char path[512];

	for (;;) {
		int i;

		pthread_mutex_lock(&s->mu);
		i = s->next++;
		pthread_mutex_unlock(&s->mu);
		if (i >= s->nfiles)
			break;
		snprintf(path, sizeof path, "%s/d%03d/f%06d", s->dir, i % s->ndirs, i);
		if (!make_node(s, path, false))
			break;
		pthread_mutex_lock(&s->mu);
		s->made++;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct chubby_options opt;
	struct shared s;
	pthread_t *tids;
	char path[512];
	double t0;
	int i = 1, rc;

	memset(&opt, 0, sizeof opt);
	memset(&s, 0, sizeof s);
	pthread_mutex_init(&s.mu, NULL);
	opt.name = "populate";
	if (i + 1 < argc && strcmp(argv[i], "-C") == 0) {
		opt.cell = argv[i + 1];
		i += 2;
	}
	if (argc - i != 4) {
		fprintf(stderr, "usage: populate [-C CELL] DIR NDIRS NFILES THREADS\n");
		return 2;
	}
	s.dir = argv[i];
	s.ndirs = atoi(argv[i + 1]);
	s.nfiles = atoi(argv[i + 2]);
	s.nthreads = atoi(argv[i + 3]);
	if (s.ndirs < 1 || s.nfiles < 0 || s.nthreads < 1) {
		fprintf(stderr, "populate: NDIRS and THREADS at least 1\n");
		return 2;
	}
	t0 = now_s();
	if ((rc = chubby_open(&opt, &s.c)) != CHUBBY_OK) {
		printf("fail open: %s %s\n", chubby_status_name(rc), chubby_last_error());
		return 1;
	}
	if (!make_node(&s, s.dir, true)) {
		printf("fail mkdir %s\n", s.dir);
		chubby_close(s.c);
		return 1;
	}
	for (int d = 0; d < s.ndirs; d++) {
		snprintf(path, sizeof path, "%s/d%03d", s.dir, d);
		if (!make_node(&s, path, true)) {
			printf("fail mkdir %s\n", path);
			chubby_close(s.c);
			return 1;
		}
	}
	tids = calloc((size_t)s.nthreads, sizeof *tids);
	for (int t = 0; t < s.nthreads; t++)
		pthread_create(&tids[t], NULL, work, &s);
	for (int t = 0; t < s.nthreads; t++)
		pthread_join(tids[t], NULL);
	free(tids);
	chubby_close(s.c);
	printf("%s files=%d dirs=%d errors=%d secs=%.1f\n", s.made == s.nfiles ? "ok" : "fail",
	    s.made, s.ndirs, s.errors, now_s() - t0);
	return s.made == s.nfiles ? 0 : 1;
}
