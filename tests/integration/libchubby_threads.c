/*
 * libchubby_threads.c: many application threads on one libchubby session,
 * as <chubby/chubby.h> allows ("every call may be made from any thread"),
 * for tests/integration/test_libchubby_threads.sh and tests/run-all's tsan
 * phase, which runs it under ThreadSanitizer.
 *
 *   libchubby_threads [-C CELL] [-c CALL_MS] DIR THREADS ROUNDS
 *
 * Each thread opens its own handles on one shared client and, ROUNDS
 * times: writes its own file and reads it back (the read may come from the
 * cache, and must see the write); takes the exclusive lock on DIR/counter
 * with its own handle, reads the counter, writes it plus one, checks its
 * sequencer, releases; lists DIR; reads the session state.  Events for
 * every handle go to the dispatcher thread meanwhile.  Prints one line
 *   ok|fail counter=N expected=M errors=E events=K session_same=0|1 state=S
 * and exits 0 only for "ok": the counter counts every round (the lock
 * serialised the threads' increments) and no call failed.  The threads keep
 * going through a master's fail-over (the test kills it meanwhile); with
 * --ride-failover a failed call is counted and retried, not fatal, and the
 * counter may then be above the expected value (a write re-sent after a
 * fail-over), but never below it.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

struct shared {
	chubby_client *c;
	const char *dir;
	int rounds;
	bool ride;
	pthread_mutex_t mu; /* guards errors and events */
	int errors;
	int events;
};

struct worker {
	struct shared *s;
	int id;
	pthread_t tid;
};

static void
on_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	struct shared *s = arg;

	(void)c;
	(void)ev;
	pthread_mutex_lock(&s->mu);
	s->events++;
	pthread_mutex_unlock(&s->mu);
}

/* Counts a failed call; true if the thread should stop. */
static bool
failed(struct shared *s, int id, const char *what, int rc)
{
	pthread_mutex_lock(&s->mu);
	s->errors++;
	pthread_mutex_unlock(&s->mu);
	fprintf(stderr, "thread %d: %s: %s %s\n", id, what, chubby_status_name(rc), chubby_last_error());
	return !s->ride;
}

/* One increment of DIR/counter under the lock; true when it was counted
 * (read, write, sequencer and release all succeeded). */
static bool
increment(struct shared *s, int id, chubby_handle *h)
{
	void *data = NULL, *seq = NULL;
	size_t len = 0, slen = 0;
	char buf[32];
	bool ok = false;
	int rc;

	if ((rc = chubby_acquire(h, CHUBBY_LOCK_EXCLUSIVE, 30000)) != CHUBBY_OK) {
		failed(s, id, "acquire", rc);
		return false;
	}
	if ((rc = chubby_get_contents(h, &data, &len, NULL)) != CHUBBY_OK) {
		failed(s, id, "read counter", rc);
		goto release;
	}
	snprintf(buf, sizeof buf, "%ld", (len > 0 ? strtol(data, NULL, 10) : 0) + 1);
	chubby_free(data);
	if ((rc = chubby_set_contents(h, buf, strlen(buf), NULL)) != CHUBBY_OK) {
		failed(s, id, "write counter", rc);
		goto release;
	}
	if ((rc = chubby_get_sequencer(h, &seq, &slen)) != CHUBBY_OK ||
	    (rc = chubby_check_sequencer(s->c, seq, slen)) != CHUBBY_OK)
		failed(s, id, "sequencer", rc);
	else
		ok = true;
	chubby_free(seq);
release:
	if ((rc = chubby_release(h)) != CHUBBY_OK) {
		failed(s, id, "release", rc);
		ok = false;
	}
	return ok;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	chubby_handle *own = NULL, *ctr = NULL, *dir = NULL;
	struct chubby_open_args oa;
	char path[512], val[64], **names;
	size_t n;
	int rc;

	memset(&oa, 0, sizeof oa);
	oa.event_mask = CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_ADDED);
	snprintf(path, sizeof path, "%s/t%d", s->dir, w->id);
	if ((rc = chubby_handle_open(s->c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, &oa,
	    &own, NULL)) != CHUBBY_OK) {
		failed(s, w->id, "open own file", rc);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/counter", s->dir);
	if ((rc = chubby_handle_open(s->c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, &oa,
	    &ctr, NULL)) != CHUBBY_OK) {
		failed(s, w->id, "open counter", rc);
		goto out;
	}
	if ((rc = chubby_handle_open(s->c, s->dir, CHUBBY_O_READ, &oa, &dir, NULL)) != CHUBBY_OK) {
		failed(s, w->id, "open dir", rc);
		goto out;
	}
	for (int r = 0; r < s->rounds; r++) {
		void *data = NULL;
		size_t len = 0;

		snprintf(val, sizeof val, "%d-%d", w->id, r);
		if ((rc = chubby_set_contents(own, val, strlen(val), NULL)) != CHUBBY_OK) {
			if (failed(s, w->id, "write own", rc))
				break;
		} else if ((rc = chubby_get_contents(own, &data, &len, NULL)) != CHUBBY_OK) {
			if (failed(s, w->id, "read own", rc))
				break;
		} else {
			if (len != strlen(val) || memcmp(data, val, len) != 0)
				failed(s, w->id, "read own: not the value just written", CHUBBY_OK);
			chubby_free(data);
		}
		/* Riding a fail-over, a failed increment is tried again (a
		 * few times: a lost session would fail every one). */
		for (int tries = 0; !increment(s, w->id, ctr); tries++)
			if (!s->ride || tries >= 20)
				goto out;
		if (r % 4 == 0) {
			if ((rc = chubby_readdir(dir, &names, &n)) != CHUBBY_OK) {
				if (failed(s, w->id, "readdir", rc))
					break;
			} else {
				chubby_free_names(names, n);
			}
		}
		(void)chubby_session_state(s->c);
	}
out:
	if (dir != NULL)
		chubby_handle_close(dir);
	if (ctr != NULL)
		chubby_handle_close(ctr);
	chubby_handle_close(own);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct chubby_options opt;
	struct shared s;
	struct worker *w;
	chubby_handle *h;
	void *data = NULL;
	size_t len = 0;
	uint64_t sid;
	long counter = -1, expected;
	int i = 1, nthreads, rc, ok;

	memset(&opt, 0, sizeof opt);
	memset(&s, 0, sizeof s);
	pthread_mutex_init(&s.mu, NULL);
	opt.on_event = on_event;
	opt.event_arg = &s;
	opt.name = "libchubby_threads";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--ride-failover") == 0)
			s.ride = true;
		else if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			opt.cell = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			opt.call_timeout_ms = (unsigned)atoi(argv[++i]);
		else
			break;
	}
	if (argc - i != 3) {
		fprintf(stderr, "usage: libchubby_threads [-C CELL] [-c CALL_MS] [--ride-failover] DIR THREADS ROUNDS\n");
		return 2;
	}
	s.dir = argv[i];
	nthreads = atoi(argv[i + 1]);
	s.rounds = atoi(argv[i + 2]);
	if ((rc = chubby_open(&opt, &s.c)) != CHUBBY_OK) {
		printf("fail open: %s %s\n", chubby_status_name(rc), chubby_last_error());
		return 1;
	}
	sid = chubby_session_id(s.c);
	rc = chubby_handle_open(s.c, s.dir, CHUBBY_O_READ | CHUBBY_O_CREATE | CHUBBY_O_DIR, NULL, &h, NULL);
	if (rc != CHUBBY_OK) {
		printf("fail mkdir %s: %s %s\n", s.dir, chubby_status_name(rc), chubby_last_error());
		chubby_close(s.c);
		return 1;
	}
	chubby_handle_close(h);
	w = calloc((size_t)nthreads, sizeof *w);
	for (int t = 0; t < nthreads; t++) {
		w[t].s = &s;
		w[t].id = t;
		pthread_create(&w[t].tid, NULL, work, &w[t]);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(w[t].tid, NULL);
	free(w);

	char path[512];
	snprintf(path, sizeof path, "%s/counter", s.dir);
	if (chubby_handle_open(s.c, path, CHUBBY_O_READ, NULL, &h, NULL) == CHUBBY_OK) {
		if (chubby_get_contents(h, &data, &len, NULL) == CHUBBY_OK) {
			counter = len > 0 ? strtol(data, NULL, 10) : 0;
			chubby_free(data);
		}
		chubby_handle_close(h);
	}
	expected = (long)nthreads * s.rounds;
	pthread_mutex_lock(&s.mu);
	ok = s.ride ? counter >= expected : counter == expected && s.errors == 0;
	printf("%s counter=%ld expected=%ld errors=%d events=%d session_same=%d state=%d\n",
	    ok ? "ok" : "fail", counter, expected, s.errors, s.events, chubby_session_id(s.c) == sid,
	    chubby_session_state(s.c));
	pthread_mutex_unlock(&s.mu);
	chubby_close(s.c);
	pthread_mutex_destroy(&s.mu);
	return ok ? 0 : 1;
}
