/*
 * cache_workload.c: a nemesis client process driven through libchubby with
 * its cache on (docs/TESTING.md "The cache workload").  It includes only
 * <chubby/chubby.h>, as an application would, and lets the library do what
 * it does on its own: follow the master, re-send after NOT_MASTER, serve
 * reads from the cache.  Whatever the library answers is recorded as the
 * answer the application saw, so a stale cached read or a retried write
 * that reports the wrong outcome shows up in tests/nemesis/checker.py.
 *
 *   cache_workload CELL_CONF HIST_DIR ID SEED STOP_FILE KEYS EKEYS
 *
 * Threads, each with a session (chubby_client) of its own:
 *   m0, m1   mixed (m1 patient: a 30 s call timeout, m0 6 s): cached reads and compare-and-sets of the files
 *            /ls/local/nem/k0..k(KEYS-1) (which workload.py also writes)
 *            and, rarely, of /ls/local/nem/q (only cache clients write it:
 *            a file that stays cached a long time, as a stopped client's
 *            copy must not), and ephemeral cycles on
 *            /ls/local/nem/e0..e(EKEYS-1): open with
 *            CREATE|EPHEMERAL (sometimes EXCL, sometimes a probe without
 *            CREATE), cached reads through the handle, close.
 *   r        cached reads of the files (q half the time), often, so that a read comes first
 *            when the process wakes from a SIGSTOP (the nemesis stutters
 *            one cache client).
 * The history goes to HIST_DIR/cache-ID-THREAD.jsonl in workload.py's
 * format (CLOCK_MONOTONIC seconds, which Python's time.monotonic() also
 * reads): ok, fail (certainly did not happen), info (unknown: timeout,
 * connection lost, session lost with the request out, NOT_MASTER that
 * surfaced).  After an info the thread takes a new process name.  Each
 * session ends with an "eend" op of unknown outcome: its ephemeral handles
 * go at some time after the last request the master answered on it.
 * Exits 0 once STOP_FILE exists, after a final note with the thread's counts.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

#define ROOT "/ls/local/nem"
#define MAX_KEYS 8 /* k0..k7, and q after them */

static const char *cell_conf, *hist_dir, *stop_file;
static int proc_id, nkeys, nekeys;
static unsigned seed;

struct hist {
	FILE *f;
	char base[32], p[48];
	int gen;     /* renames after info */
	uint64_t n;  /* op index */
	uint64_t ok, fail, info;
};

struct worker {
	const char *name; /* "m0", "m1", "r" */
	bool mixed;
	bool patient; /* a call timeout longer than any fail-over */
	unsigned rnd;
	struct hist h;
	int rc; /* 0, or 1 when the thread could not run at all */
	/* the current session */
	chubby_client *c;
	uint64_t sess;
	double alive_t0; /* invoke time of the last request the master answered */
	chubby_handle *kh[MAX_KEYS + 1];
	uint64_t known_gen[MAX_KEYS + 1];
	uint64_t nval;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
stopping(void)
{
	return access(stop_file, F_OK) == 0;
}

static unsigned
rnd_next(struct worker *w)
{
	/* xorshift32: the seed fixes each thread's op sequence (not its timing). */
	w->rnd ^= w->rnd << 13;
	w->rnd ^= w->rnd >> 17;
	w->rnd ^= w->rnd << 5;
	return w->rnd;
}

static int
rnd_int(struct worker *w, int n)
{
	return (int)(rnd_next(w) % (unsigned)n);
}

static void
sleep_ms(unsigned ms)
{
	if (ms > 0)
		usleep(ms * 1000u);
}

/* ---- the history, one JSON object a line ---- */

static void
json_str(FILE *f, const char *s, size_t len)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Writes {"ev": EV, "p": .., "i": I, "t": now, "f": F, "key": KEY, EXTRA}
 * where EXTRA is preformatted JSON members (may be ""), then flushes: a
 * kill -9 loses at most the line being written, which the checker skips. */
static void
hist_line_at(struct hist *h, const char *ev, uint64_t i, double t, const char *f,
    const char *key, const char *extra)
{
	fprintf(h->f, "{\"ev\": \"%s\", \"p\": \"%s\", \"i\": %" PRIu64 ", \"t\": %.6f, \"f\": \"%s\"",
	    ev, h->p, i, t, f);
	if (key != NULL)
		fprintf(h->f, ", \"key\": \"%s\"", key);
	if (extra != NULL && extra[0] != '\0')
		fprintf(h->f, ", %s", extra);
	fputs("}\n", h->f);
	fflush(h->f);
}

static void
hist_line(struct hist *h, const char *ev, uint64_t i, const char *f, const char *key,
    const char *extra)
{
	hist_line_at(h, ev, i, now(), f, key, extra);
}

static uint64_t
hist_invoke(struct hist *h, const char *f, const char *key, const char *extra)
{
	h->n++;
	hist_line(h, "invoke", h->n, f, key, extra);
	return h->n;
}

/* TYPE is "ok", "fail" or "info"; after info the name changes (Jepsen: the
 * op may still take effect, so the old name stays busy for ever). */
static void
hist_complete(struct hist *h, uint64_t i, const char *f, const char *type, const char *key,
    const char *extra)
{
	hist_line(h, type, i, f, key, extra);
	if (strcmp(type, "ok") == 0) {
		h->ok++;
	} else if (strcmp(type, "fail") == 0) {
		h->fail++;
	} else {
		h->info++;
		h->gen++;
		snprintf(h->p, sizeof h->p, "%s.%d", h->base, h->gen);
	}
}

/* Errors after which the request certainly did not take effect: the master
 * refused it by looking at the state, and the library answers only what the
 * master said (after NOT_MASTER it sends again; whatever comes back must be
 * true of the request as a whole). */
static bool
definite(int rc)
{
	switch (rc) {
	case CHUBBY_E_GEN_MISMATCH:
	case CHUBBY_E_NOT_FOUND:
	case CHUBBY_E_EXISTS:
	case CHUBBY_E_BAD_HANDLE:
	case CHUBBY_E_PERMISSION:
	case CHUBBY_E_INVALID:
	case CHUBBY_E_BAD_TYPE:
	case CHUBBY_E_MISSING:
	case CHUBBY_E_TOO_LARGE:
	case CHUBBY_E_IS_DIR:
	case CHUBBY_E_NOT_DIR:
	case CHUBBY_E_BAD_NAME:
		return true;
	default:
		return false;
	}
}

static void
err_extra(char *buf, size_t cap, int rc)
{
	char msg[200];
	const char *le = chubby_last_error();
	size_t i, j = 0;

	/* The message for the reader of checker.out; quotes dropped. */
	for (i = 0; le[i] != '\0' && j + 1 < sizeof msg; i++)
		if (le[i] != '"' && le[i] != '\\' && (unsigned char)le[i] >= 0x20 &&
		    (unsigned char)le[i] < 0x7f)
			msg[j++] = le[i];
	msg[j] = '\0';
	snprintf(buf, cap, "\"error\": \"%s\", \"message\": \"%s\"", chubby_status_name(rc), msg);
}

/* ---- sessions ---- */

static void
session_end(struct worker *w)
{
	char extra[160];
	uint64_t i;
	int k;

	if (w->c == NULL)
		return;
	/* Its handles (an ephemeral node's among them) go at some time after
	 * the last request the master answered on it: an op of unknown
	 * outcome invoked then.  Written invoke + info by hand so that its
	 * invoke time is alive_t0. */
	w->h.n++;
	i = w->h.n;
	snprintf(extra, sizeof extra, "\"sess\": %" PRIu64, w->sess);
	fprintf(w->h.f,
	    "{\"ev\": \"invoke\", \"p\": \"%s\", \"i\": %" PRIu64 ", \"t\": %.6f, \"f\": \"eend\", "
	    "\"keys\": \"*\", %s}\n",
	    w->h.p, i, w->alive_t0, extra);
	fprintf(w->h.f, "{\"ev\": \"info\", \"p\": \"%s\", \"i\": %" PRIu64 ", \"t\": %.6f, "
			"\"f\": \"eend\", %s}\n",
	    w->h.p, i, now(), extra);
	fflush(w->h.f);
	w->h.gen++;
	snprintf(w->h.p, sizeof w->h.p, "%s.%d", w->h.base, w->h.gen);
	for (k = 0; k <= MAX_KEYS; k++)
		w->kh[k] = NULL; /* freed by chubby_close */
	chubby_close(w->c);
	w->c = NULL;
}

/* File K's path: k0..k(nkeys-1), then q. */
static void
key_path(int k, char *buf, size_t cap)
{
	if (k < nkeys)
		snprintf(buf, cap, ROOT "/k%d", k);
	else
		snprintf(buf, cap, ROOT "/q");
}

static bool
session_start(struct worker *w)
{
	struct chubby_options opt;
	char path[128];
	double t0 = now();
	int k, rc;

	memset(&opt, 0, sizeof opt);
	opt.cell = cell_conf;
	opt.name = "cache_workload";
	opt.open_timeout_ms = 5000;
	/* Short enough that an op stuck through a fault ends as info and the
	 * thread goes on; longer than a fail-over (lease 2 s).  The patient
	 * thread (m1) waits 30 s: a write caught out by a fail-over then gets
	 * the library's retry's answer, a definite one the checker holds
	 * against the history (issue 14 item 6: a retry applied twice reports
	 * E_GEN_MISMATCH, E_EXISTS or created: false), not a timeout. */
	opt.call_timeout_ms = w->patient ? 30000 : 6000;
	if ((rc = chubby_open(&opt, &w->c)) != CHUBBY_OK) {
		w->c = NULL;
		return false;
	}
	w->sess = chubby_session_id(w->c);
	w->alive_t0 = t0;
	for (k = 0; k <= nkeys; k++) {
		struct chubby_open_args oa;

		/* q is made by whichever cache thread comes first, always with
		 * "init" (the checker's initial value for a file not in
		 * init.json). */
		memset(&oa, 0, sizeof oa);
		oa.contents = "init";
		oa.contents_len = 4;
		key_path(k, path, sizeof path);
		rc = chubby_handle_open(w->c, path,
		    CHUBBY_O_READ | CHUBBY_O_WRITE | (k == nkeys ? CHUBBY_O_CREATE : 0), &oa, &w->kh[k],
		    NULL);
		if (rc != CHUBBY_OK) {
			session_end(w);
			return false;
		}
	}
	fprintf(w->h.f, "{\"ev\": \"note\", \"t\": %.6f, \"p\": \"%s\", \"session\": %" PRIu64 "}\n",
	    now(), w->h.p, w->sess);
	fflush(w->h.f);
	return true;
}

static bool
session_bad(struct worker *w)
{
	int st = chubby_session_state(w->c);

	return st == CHUBBY_SESSION_EXPIRED || st == CHUBBY_SESSION_CLOSED;
}

/* ---- operations ---- */

/*
 * A read through H (served from the cache while it is valid).  Its invoke
 * line is written after the call, with the time taken before it: nothing
 * (no write to the history file) comes between waking from a SIGSTOP and
 * the library's decision to serve the cache, so that the application
 * thread can beat the library's loop thread to it.  A read lost to a kill
 * is no constraint, so writing its invoke late loses nothing.
 */
static void
op_read(struct worker *w, chubby_handle *h, const char *key, int k)
{
	char extra[600], stat[160];
	struct chubby_stat st;
	void *data = NULL;
	size_t len = 0;
	uint64_t i;
	double t0 = now();
	int rc;

	rc = chubby_get_contents(h, &data, &len, &st);
	i = ++w->h.n;
	hist_line_at(&w->h, "invoke", i, t0, "read", key, "");
	if (rc == CHUBBY_OK) {
		FILE *m;
		char *buf = NULL;
		size_t blen = 0;

		if (k >= 0)
			w->known_gen[k] = st.content_gen;
		m = open_memstream(&buf, &blen);
		fputs("\"value\": ", m);
		json_str(m, data, len < 200 ? len : 200);
		snprintf(stat, sizeof stat, ", \"gen\": %" PRIu64 ", \"inst\": %" PRIu64,
		    st.content_gen, st.instance);
		fputs(stat, m);
		fclose(m);
		hist_complete(&w->h, i, "read", "ok", key, buf);
		free(buf);
		chubby_free(data);
		return;
	}
	/* A read that failed changed nothing: fail whatever the error. */
	err_extra(extra, sizeof extra, rc);
	hist_complete(&w->h, i, "read", "fail", key, extra);
}

/* Compare-and-set (or, one time in five, a plain write) of file K. */
static void
op_cas(struct worker *w, int k)
{
	char key[64], val[64], args[160], extra[600];
	struct chubby_stat st;
	bool cas = rnd_int(w, 5) != 0;
	const char *f = cas ? "cas" : "write";
	uint64_t i;
	double t0 = now();
	int rc;

	key_path(k, key, sizeof key);
	snprintf(val, sizeof val, "%s-%" PRIu64, w->h.base, ++w->nval);
	if (cas)
		snprintf(args, sizeof args, "\"value\": \"%s\", \"expected_gen\": %" PRIu64, val,
		    w->known_gen[k]);
	else
		snprintf(args, sizeof args, "\"value\": \"%s\"", val);
	i = hist_invoke(&w->h, f, key, args);
	if (cas)
		rc = chubby_set_contents_if(w->kh[k], val, strlen(val), w->known_gen[k], &st);
	else
		rc = chubby_set_contents(w->kh[k], val, strlen(val), &st);
	if (rc == CHUBBY_OK) {
		w->known_gen[k] = st.content_gen;
		w->alive_t0 = t0;
		snprintf(extra, sizeof extra, "%s, \"gen\": %" PRIu64, args, st.content_gen);
		hist_complete(&w->h, i, f, "ok", key, extra);
		return;
	}
	err_extra(extra, sizeof extra, rc);
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %s", args);
	hist_complete(&w->h, i, f, definite(rc) ? "fail" : "info", key, extra);
	if (rc == CHUBBY_E_GEN_MISMATCH)
		w->alive_t0 = t0;
	/* After info the session goes on: the library's own retries through
	 * fail-over are what this exercises. */
}

/*
 * An ephemeral cycle on node E: open (CREATE|EPHEMERAL; one time in four
 * with EXCL too; one time in four a probe without CREATE), a few reads
 * through the handle, close.  Another thread (or process) may hold the node
 * open meanwhile, so the node goes only when the last handle does.
 */
static void
op_ephemeral(struct worker *w, int e)
{
	char key[64], val[64], args[200], extra[700];
	struct chubby_open_args oa;
	chubby_handle *h = NULL;
	unsigned flags = CHUBBY_O_READ | CHUBBY_O_WRITE;
	int kind = rnd_int(w, 4), n, rc;
	bool created = false, create = kind != 0, excl = kind == 1;
	uint64_t i;
	double t0 = now();

	snprintf(key, sizeof key, ROOT "/e%d", e);
	snprintf(val, sizeof val, "%s-%" PRIu64, w->h.base, ++w->nval);
	memset(&oa, 0, sizeof oa);
	if (create) {
		flags |= CHUBBY_O_CREATE | CHUBBY_O_EPHEMERAL | (excl ? CHUBBY_O_EXCL : 0);
		oa.contents = val;
		oa.contents_len = strlen(val);
		snprintf(args, sizeof args,
		    "\"create\": true, \"excl\": %s, \"value\": \"%s\", \"sess\": %" PRIu64,
		    excl ? "true" : "false", val, w->sess);
	} else {
		snprintf(args, sizeof args, "\"create\": false, \"sess\": %" PRIu64, w->sess);
	}
	i = hist_invoke(&w->h, "eopen", key, args);
	rc = chubby_handle_open(w->c, key, flags, &oa, &h, &created);
	if (rc == CHUBBY_OK) {
		w->alive_t0 = t0;
		snprintf(extra, sizeof extra, "%s, \"found\": true, \"created\": %s", args,
		    created ? "true" : "false");
		hist_complete(&w->h, i, "eopen", "ok", key, extra);
	} else if ((rc == CHUBBY_E_NOT_FOUND && !create) || (rc == CHUBBY_E_EXISTS && excl)) {
		/* Answers about the node: the checker's model must agree. */
		w->alive_t0 = t0;
		snprintf(extra, sizeof extra, "%s, \"found\": %s, \"created\": false, \"error\": \"%s\"",
		    args, rc == CHUBBY_E_EXISTS ? "true" : "false", chubby_status_name(rc));
		hist_complete(&w->h, i, "eopen", "ok", key, extra);
		return;
	} else {
		err_extra(extra, sizeof extra, rc);
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %s", args);
		hist_complete(&w->h, i, "eopen", definite(rc) ? "fail" : "info", key, extra);
		if (!definite(rc))
			session_end(w); /* a handle we do not know of may be open */
		return;
	}
	for (n = 1 + rnd_int(w, 3); n > 0; n--) {
		op_read(w, h, key, -1);
		sleep_ms((unsigned)rnd_int(w, 60));
	}
	snprintf(args, sizeof args, "\"sess\": %" PRIu64, w->sess);
	t0 = now();
	i = hist_invoke(&w->h, "eclose", key, args);
	rc = chubby_handle_close(h);
	if (rc == CHUBBY_OK) {
		w->alive_t0 = t0;
		hist_complete(&w->h, i, "eclose", "ok", key, args);
		return;
	}
	err_extra(extra, sizeof extra, rc);
	snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", %s", args);
	/* A close that did not certainly happen leaves the handle to the
	 * session's end. */
	hist_complete(&w->h, i, "eclose", "info", key, extra);
	session_end(w);
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char path[256], key[64];
	int k, r;

	snprintf(path, sizeof path, "%s/cache-%d-%s.jsonl", hist_dir, proc_id, w->name);
	if ((w->h.f = fopen(path, "a")) == NULL) {
		w->rc = 1;
		return NULL;
	}
	snprintf(w->h.base, sizeof w->h.base, "c%d%s", proc_id, w->name);
	snprintf(w->h.p, sizeof w->h.p, "%s", w->h.base);
	while (!stopping()) {
		if (w->c != NULL && session_bad(w))
			session_end(w);
		if (w->c == NULL && !session_start(w)) {
			sleep_ms(200);
			continue;
		}
		if (!w->mixed) {
			k = rnd_int(w, 2) ? nkeys : rnd_int(w, nkeys);
			key_path(k, key, sizeof key);
			op_read(w, w->kh[k], key, k);
			sleep_ms(5 + (unsigned)rnd_int(w, 20));
			continue;
		}
		r = rnd_int(w, 100);
		if (r < 2) {
			op_cas(w, nkeys); /* q: about once a second in all */
		} else if (r < 40) {
			k = rnd_int(w, nkeys + 1);
			key_path(k, key, sizeof key);
			op_read(w, w->kh[k], key, k);
		} else if (r < 70) {
			op_cas(w, rnd_int(w, nkeys));
		} else {
			op_ephemeral(w, rnd_int(w, nekeys));
		}
		sleep_ms((unsigned)rnd_int(w, 40));
	}
	session_end(w);
	fprintf(w->h.f,
	    "{\"ev\": \"note\", \"t\": %.6f, \"done\": \"%s\", \"ok\": %" PRIu64 ", \"fail\": %" PRIu64
	    ", \"info\": %" PRIu64 "}\n",
	    now(), w->h.base, w->h.ok, w->h.fail, w->h.info);
	fclose(w->h.f);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct worker w[3] = {
		{.name = "m0", .mixed = true}, {.name = "m1", .mixed = true, .patient = true}, {.name = "r"}};
	pthread_t t[3];
	int i, rc = 0;

	if (argc != 8) {
		fprintf(stderr, "usage: cache_workload CELL_CONF HIST_DIR ID SEED STOP_FILE KEYS EKEYS\n");
		return 2;
	}
	/* The nemesis stops this process (SIGSTOP) in bursts; if the process
	 * group it shares with the test is orphaned meanwhile (the shell that
	 * started the test exits), the kernel sends every stopped member
	 * SIGHUP and SIGCONT.  The run ends through STOP_FILE, not a hang-up. */
	signal(SIGHUP, SIG_IGN);
	cell_conf = argv[1];
	hist_dir = argv[2];
	proc_id = atoi(argv[3]);
	seed = (unsigned)strtoul(argv[4], NULL, 10);
	stop_file = argv[5];
	nkeys = atoi(argv[6]);
	nekeys = atoi(argv[7]);
	if (nkeys < 1 || nkeys > MAX_KEYS || nekeys < 1) {
		fprintf(stderr, "cache_workload: KEYS must be 1..%d, EKEYS at least 1\n", MAX_KEYS);
		return 2;
	}
	for (i = 0; i < 3; i++) {
		w[i].rnd = (seed * 1000u + (unsigned)proc_id * 10u + (unsigned)i) * 2654435761u | 1u;
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) != 0) {
			fprintf(stderr, "cache_workload: cannot start a thread\n");
			return 1;
		}
	}
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		if (w[i].rc != 0)
			rc = 1;
		printf("cache_workload %d %s: ok %" PRIu64 " fail %" PRIu64 " info %" PRIu64 "\n",
		    proc_id, w[i].name, w[i].h.ok, w[i].h.fail, w[i].h.info);
	}
	return rc;
}
