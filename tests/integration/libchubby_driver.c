/*
 * libchubby_driver.c: a small command-line client over the public libchubby
 * API, for tests/integration/test_libchubby.sh.  It includes only
 * <chubby/chubby.h>, as an application would.
 *
 *   libchubby_driver [-C CELL] [-t OPEN_MS] [-c CALL_MS] shell
 *       one session; reads commands from stdin, one per line, answers each
 *       with one line "ok ..." or "err STATUS message"; events are printed
 *       as "event TYPE PATH" lines as they come.  Commands:
 *         open PATH FLAGS [EVENTS [CONTENTS]]   FLAGS from r w c x e d; EVENTS
 *                                    a mask; CONTENTS for a node it creates
 *         close PATH | put PATH VALUE | putif PATH GEN VALUE | cat PATH
 *       (put and putif print "at=MS", the CLOCK_BOOTTIME ms when the write
 *       was acknowledged; cat prints the node's instance as "inst=N")
 *         stat PATH | ls PATH | rm PATH | lock PATH [MS] | trylock PATH
 *         unlock PATH | seq PATH | checkseq HEX | state | session
 *         elect PATH IDENTITY [MS] | leader PATH | quit
 *       (a command on a PATH not opened opens it with "rwc" first)
 *   libchubby_driver ... basic DIR       the CRUD scenario, prints "ok"
 *   libchubby_driver ... lockloop PATH SECONDS AFTER
 *       locks PATH, then writes a counter to it in a loop, printing
 *       "locked", "write N", "event ..." lines; stops AFTER successful
 *       writes after a MASTER_FAILOVER event (or after SECONDS), then checks
 *       that session, lock, sequencer and handle survived and prints "done ...".
 *   libchubby_driver ... readloop PATH THREADS SECONDS
 *       opens PATH (read only), reads it once (so that it is cached) and
 *       prints "reading VALUE"; then THREADS threads read it in a tight
 *       loop for SECONDS.  Each thread prints one line per run of equal
 *       answers as the value changes and at the end:
 *       "run THREAD VALUE FIRST_START LAST_START COUNT" (CLOCK_BOOTTIME ms
 *       at which the first and the last read of the run began), and
 *       "readerr THREAD STATUS START" when an error begins; a thread stops
 *       at E_SESSION_EXPIRED.  "spin THREAD" after a thread's first answer;
 *       "done" at the end.
 *   libchubby_driver ... open            opens a session and prints its id
 *   libchubby_driver ... wakeups PATH N
 *       N synchronous writes to PATH, one at a time, from the main thread;
 *       prints "wakeups X100 N" where X100 is 100 times the voluntary
 *       context switches of libchubby's own threads (every thread of the
 *       process but the caller) per write: how often the library's threads
 *       went to sleep and were woken to carry one call.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include <dirent.h>
#include <sys/syscall.h>

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int failovers, jeopardies, safes, expireds;

static void
say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_mu);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

/* CLOCK_BOOTTIME: comparable between processes, and not moved by
 * test_client_cache.sh's suspend_clock.so (which holds CLOCK_MONOTONIC
 * back as a suspended machine's is). */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
ev_name(int type)
{
	switch (type) {
	case CHUBBY_EV_CONTENTS_MODIFIED: return "CONTENTS_MODIFIED";
	case CHUBBY_EV_CHILD_ADDED: return "CHILD_ADDED";
	case CHUBBY_EV_CHILD_REMOVED: return "CHILD_REMOVED";
	case CHUBBY_EV_CHILD_MODIFIED: return "CHILD_MODIFIED";
	case CHUBBY_EV_LOCK_ACQUIRED: return "LOCK_ACQUIRED";
	case CHUBBY_EV_CONFLICTING_LOCK: return "CONFLICTING_LOCK";
	case CHUBBY_EV_HANDLE_INVALID: return "HANDLE_INVALID";
	case CHUBBY_EV_MASTER_FAILOVER: return "MASTER_FAILOVER";
	case CHUBBY_EV_JEOPARDY: return "JEOPARDY";
	case CHUBBY_EV_SAFE: return "SAFE";
	case CHUBBY_EV_EXPIRED: return "EXPIRED";
	default: return "UNKNOWN";
	}
}

static void
on_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	(void)c;
	(void)arg;
	pthread_mutex_lock(&out_mu);
	if (ev->type == CHUBBY_EV_MASTER_FAILOVER)
		failovers++;
	else if (ev->type == CHUBBY_EV_JEOPARDY)
		jeopardies++;
	else if (ev->type == CHUBBY_EV_SAFE)
		safes++;
	else if (ev->type == CHUBBY_EV_EXPIRED)
		expireds++;
	pthread_mutex_unlock(&out_mu);
	say("event %s %s", ev_name(ev->type), ev->path ? ev->path : "-");
}

static const char *
state_name(int st)
{
	switch (st) {
	case CHUBBY_SESSION_SAFE: return "SAFE";
	case CHUBBY_SESSION_JEOPARDY: return "JEOPARDY";
	case CHUBBY_SESSION_EXPIRED: return "EXPIRED";
	default: return "CLOSED";
	}
}

static void
hex(const void *p, size_t n, char *out)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static size_t
unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;

	while (s[0] && s[1] && n < cap) {
		unsigned v;
		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return n;
}

/* ---- the shell ---- */

#define MAXH 64
static struct {
	char *path;
	chubby_handle *h;
} handles[MAXH];

static chubby_handle *
find_handle(const char *path)
{
	for (int i = 0; i < MAXH; i++)
		if (handles[i].path && strcmp(handles[i].path, path) == 0)
			return handles[i].h;
	return NULL;
}

static void
keep_handle(const char *path, chubby_handle *h)
{
	for (int i = 0; i < MAXH; i++)
		if (handles[i].path == NULL) {
			handles[i].path = strdup(path);
			handles[i].h = h;
			return;
		}
}

static void
drop_handle(const char *path)
{
	for (int i = 0; i < MAXH; i++)
		if (handles[i].path && strcmp(handles[i].path, path) == 0) {
			free(handles[i].path);
			handles[i].path = NULL;
			handles[i].h = NULL;
		}
}

static int
err(int rc)
{
	say("err %s %s", chubby_status_name(rc), chubby_last_error());
	return rc;
}

static unsigned
parse_flags(const char *s)
{
	unsigned f = 0;

	for (; *s; s++)
		switch (*s) {
		case 'r': f |= CHUBBY_O_READ; break;
		case 'w': f |= CHUBBY_O_WRITE; break;
		case 'c': f |= CHUBBY_O_CREATE; break;
		case 'x': f |= CHUBBY_O_EXCL; break;
		case 'e': f |= CHUBBY_O_EPHEMERAL; break;
		case 'd': f |= CHUBBY_O_DIR; break;
		}
	return f;
}

static chubby_handle *
get_handle(chubby_client *c, const char *path, int *rc)
{
	chubby_handle *h = find_handle(path);

	*rc = CHUBBY_OK;
	if (h != NULL)
		return h;
	*rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL,
	    &h, NULL);
	if (*rc != CHUBBY_OK)
		return NULL;
	keep_handle(path, h);
	return h;
}

static void
shell_line(chubby_client *c, char *line)
{
	char *argv[8];
	int argc = 0, rc;
	chubby_handle *h;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t\n", &save); t && argc < 8; t = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = t;
	if (argc == 0)
		return;
#define NEED(n)                                                     \
	do {                                                            \
		if (argc < (n)) {                                           \
			say("err E_INVALID %s needs %d arguments", argv[0], (n) - 1); \
			return;                                             \
		}                                                           \
	} while (0)
#define HANDLE()                                 \
	do {                                         \
		h = get_handle(c, argv[1], &rc);         \
		if (h == NULL) {                         \
			err(rc);                             \
			return;                              \
		}                                        \
	} while (0)
	if (strcmp(argv[0], "open") == 0) {
		struct chubby_open_args oa;
		bool created = false;
		NEED(3);
		memset(&oa, 0, sizeof oa);
		if (argc > 3)
			oa.event_mask = (uint32_t)strtoul(argv[3], NULL, 0);
		if (argc > 4) {
			oa.contents = argv[4];
			oa.contents_len = strlen(argv[4]);
		}
		if (find_handle(argv[1]) != NULL) {
			say("err E_INVALID already open");
			return;
		}
		if ((rc = chubby_handle_open(c, argv[1], parse_flags(argv[2]), &oa, &h, &created)) != 0) {
			err(rc);
			return;
		}
		keep_handle(argv[1], h);
		say("ok created=%d", created);
	} else if (strcmp(argv[0], "close") == 0) {
		NEED(2);
		h = find_handle(argv[1]);
		drop_handle(argv[1]);
		if ((rc = chubby_handle_close(h)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "poison") == 0) {
		NEED(2);
		HANDLE();
		if ((rc = chubby_poison(h)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "put") == 0 || strcmp(argv[0], "putif") == 0) {
		struct chubby_stat st;
		bool cas = argv[0][3] == 'i';
		NEED(cas ? 4 : 3);
		HANDLE();
		const char *v = argv[cas ? 3 : 2];
		rc = cas ? chubby_set_contents_if(h, v, strlen(v), strtoull(argv[2], NULL, 10), &st)
			 : chubby_set_contents(h, v, strlen(v), &st);
		if (rc != 0)
			err(rc);
		else
			say("ok gen=%" PRIu64 " at=%" PRIu64, st.content_gen, now_ms());
	} else if (strcmp(argv[0], "cat") == 0) {
		struct chubby_stat st;
		void *data;
		size_t len;
		uint64_t t0 = now_ms();
		NEED(2);
		HANDLE();
		if ((rc = chubby_get_contents(h, &data, &len, &st)) != 0) {
			err(rc);
			return;
		}
		say("ok %s gen=%" PRIu64 " ms=%" PRIu64 " inst=%" PRIu64, len ? (char *)data : "(empty)",
		    st.content_gen, now_ms() - t0, st.instance);
		chubby_free(data);
	} else if (strcmp(argv[0], "stat") == 0) {
		struct chubby_stat st;
		NEED(2);
		HANDLE();
		if ((rc = chubby_get_stat(h, &st)) != 0) {
			err(rc);
			return;
		}
		say("ok instance=%" PRIu64 " gen=%" PRIu64 " lock_mode=%d lock_gen=%" PRIu64
		    " holders=%" PRIu64 " delay_until=%" PRIu64 " dir=%d len=%" PRIu64,
		    st.instance, st.content_gen, st.lock_mode, st.lock_gen, st.lock_holders,
		    st.lock_delay_until_ms, st.is_dir, st.length);
	} else if (strcmp(argv[0], "ls") == 0) {
		char **names, buf[4096] = "";
		size_t n;
		NEED(2);
		HANDLE();
		if ((rc = chubby_readdir(h, &names, &n)) != 0) {
			err(rc);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			strncat(buf, names[i], sizeof buf - strlen(buf) - 2);
			strcat(buf, ",");
		}
		chubby_free_names(names, n);
		say("ok %zu %s", n, buf);
	} else if (strcmp(argv[0], "rm") == 0) {
		NEED(2);
		HANDLE();
		if ((rc = chubby_delete(h)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "lock") == 0) {
		uint64_t t0 = now_ms();
		NEED(2);
		HANDLE();
		rc = chubby_acquire(h, CHUBBY_LOCK_EXCLUSIVE, argc > 2 ? (unsigned)atoi(argv[2]) : 0);
		if (rc != 0)
			err(rc);
		else
			say("ok waited_ms=%" PRIu64, now_ms() - t0);
	} else if (strcmp(argv[0], "trylock") == 0) {
		NEED(2);
		HANDLE();
		if ((rc = chubby_try_acquire(h, CHUBBY_LOCK_EXCLUSIVE)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "unlock") == 0) {
		NEED(2);
		HANDLE();
		if ((rc = chubby_release(h)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "seq") == 0) {
		void *seq;
		size_t len;
		char *hx;
		NEED(2);
		HANDLE();
		if ((rc = chubby_get_sequencer(h, &seq, &len)) != 0) {
			err(rc);
			return;
		}
		hx = malloc(2 * len + 1);
		hex(seq, len, hx);
		say("ok %s", hx);
		free(hx);
		chubby_free(seq);
	} else if (strcmp(argv[0], "checkseq") == 0) {
		unsigned char buf[4096];
		NEED(2);
		size_t n = unhex(argv[1], buf, sizeof buf);
		if ((rc = chubby_check_sequencer(c, buf, n)) != 0)
			err(rc);
		else
			say("ok");
	} else if (strcmp(argv[0], "offline") == 0) {
		/* What a resource server that never talks to the cell does
		 * (docs/SEQUENCER.md): verify the candidate's signature with the
		 * cell's key, then refuse it if it is older than the newest
		 * sequencer already seen for the same lock. */
		unsigned char latest[4096], cand[4096];
		struct chubby_sequencer_info info;
		void *key = NULL;
		size_t keylen = 0, nl, nc;
		int cmp = 0;
		NEED(4);
		nl = unhex(argv[2], latest, sizeof latest);
		nc = unhex(argv[3], cand, sizeof cand);
		if ((rc = chubby_sequencer_key_load(argv[1], &key, &keylen)) != 0) {
			err(rc);
			return;
		}
		rc = chubby_sequencer_verify(key, keylen, cand, nc, &info);
		chubby_free(key);
		if (rc == 0)
			rc = chubby_sequencer_compare(cand, nc, latest, nl, &cmp);
		if (rc != 0)
			err(rc);
		else if (cmp < 0)
			say("err E_STALE_SEQUENCER older than the newest seen (generation %" PRIu64 ")",
			    info.lock_gen);
		else
			say("ok %s generation %" PRIu64, info.path, info.lock_gen);
	} else if (strcmp(argv[0], "state") == 0) {
		say("ok %s", state_name(chubby_session_state(c)));
	} else if (strcmp(argv[0], "session") == 0) {
		say("ok %" PRIu64, chubby_session_id(c));
	} else if (strcmp(argv[0], "elect") == 0) {
		NEED(3);
		if ((rc = chubby_elect(c, argv[1], argv[2], argc > 3 ? (unsigned)atoi(argv[3]) : 0, &h)) != 0) {
			err(rc);
			return;
		}
		keep_handle(argv[1], h);
		say("ok");
	} else if (strcmp(argv[0], "leader") == 0) {
		char *who;
		NEED(2);
		if ((rc = chubby_leader(c, argv[1], &who, NULL)) != 0) {
			err(rc);
			return;
		}
		say("ok %s", who ? who : "(none)");
		chubby_free(who);
	} else {
		say("err E_INVALID unknown command %s", argv[0]);
	}
}

static int
run_shell(chubby_client *c)
{
	char line[8192];

	say("ready session=%" PRIu64, chubby_session_id(c));
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (strncmp(line, "quit", 4) == 0)
			break;
		shell_line(c, line);
	}
	return 0;
}

/* ---- scenarios in one process ---- */

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("FAIL line %d: ", __LINE__);                \
			printf(__VA_ARGS__);                               \
			printf(" (%s)\n", chubby_last_error());             \
			return 1;                                          \
		}                                                          \
	} while (0)

static int
run_basic(chubby_client *c, const char *dir)
{
	char path[512], sub[512];
	chubby_handle *d, *f, *f2;
	struct chubby_open_args oa;
	struct chubby_stat st;
	bool created;
	void *data;
	size_t len, n;
	char **names;
	int rc;

	snprintf(path, sizeof path, "%s/file", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	rc = chubby_handle_open(c, dir, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE | CHUBBY_O_DIR, NULL,
	    &d, &created);
	CHECK(rc == 0 && created, "mkdir %s: %s", dir, chubby_status_name(rc));
	memset(&oa, 0, sizeof oa);
	oa.contents = "first";
	oa.contents_len = 5;
	rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE | CHUBBY_O_EXCL,
	    &oa, &f, &created);
	CHECK(rc == 0 && created, "create %s: %s", path, chubby_status_name(rc));
	CHECK(strcmp(chubby_handle_path(f), path) == 0, "handle path");
	rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_CREATE | CHUBBY_O_EXCL, NULL, &f2, NULL);
	CHECK(rc == CHUBBY_E_EXISTS, "EXCL create of an existing file: %s", chubby_status_name(rc));
	CHECK(strlen(chubby_last_error()) > 0, "last error set");
	rc = chubby_get_contents(f, &data, &len, &st);
	CHECK(rc == 0 && len == 5 && memcmp(data, "first", 5) == 0, "initial contents");
	chubby_free(data);
	rc = chubby_set_contents(f, "second", 6, &st);
	CHECK(rc == 0 && st.content_gen == 1, "write: %s gen %" PRIu64, chubby_status_name(rc), st.content_gen);
	rc = chubby_get_contents(f, &data, &len, &st);
	CHECK(rc == 0 && len == 6 && memcmp(data, "second", 6) == 0, "read back");
	chubby_free(data);
	rc = chubby_set_contents_if(f, "third", 5, 0, NULL);
	CHECK(rc == CHUBBY_E_GEN_MISMATCH, "CAS with a stale gen: %s", chubby_status_name(rc));
	rc = chubby_set_contents_if(f, "third", 5, 1, &st);
	CHECK(rc == 0 && st.content_gen == 2, "CAS with the current gen: %s", chubby_status_name(rc));
	rc = chubby_get_contents(f, &data, &len, NULL);
	CHECK(rc == 0 && len == 5 && memcmp(data, "third", 5) == 0, "read after CAS");
	chubby_free(data);
	rc = chubby_get_stat(f, &st);
	CHECK(rc == 0 && st.length == 5 && !st.is_dir && st.content_gen == 2, "stat");
	rc = chubby_handle_open(c, sub, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE | CHUBBY_O_DIR, NULL,
	    &f2, NULL);
	CHECK(rc == 0, "mkdir sub");
	rc = chubby_readdir(d, &names, &n);
	CHECK(rc == 0 && n == 2 && strcmp(names[0], "file") == 0 && strcmp(names[1], "sub") == 0,
	    "readdir: %s n=%zu", chubby_status_name(rc), n);
	chubby_free_names(names, n);
	rc = chubby_delete(d);
	CHECK(rc == CHUBBY_E_NOT_EMPTY, "delete non-empty dir: %s", chubby_status_name(rc));
	CHECK(chubby_delete(f2) == 0, "delete sub");
	CHECK(chubby_handle_close(f2) == 0, "close sub");
	CHECK(chubby_delete(f) == 0, "delete file");
	rc = chubby_get_contents(f, &data, &len, NULL);
	CHECK(rc != 0, "read of a deleted file fails");
	CHECK(chubby_handle_close(f) == 0, "close file");
	rc = chubby_handle_open(c, path, CHUBBY_O_READ, NULL, &f, NULL);
	CHECK(rc == CHUBBY_E_NOT_FOUND, "open deleted: %s", chubby_status_name(rc));
	rc = chubby_readdir(d, &names, &n);
	CHECK(rc == 0 && n == 0, "empty dir");
	chubby_free_names(names, n);
	CHECK(chubby_delete(d) == 0, "rmdir");
	CHECK(chubby_handle_close(d) == 0, "close dir");
	CHECK(chubby_try_acquire(NULL, 2) == CHUBBY_E_INVALID, "NULL handle");
	printf("ok\n");
	return 0;
}

static int
run_lockloop(chubby_client *c, const char *path, unsigned seconds, int after)
{
	chubby_handle *h;
	void *seq0, *seq1;
	size_t len0, len1;
	uint64_t sid = chubby_session_id(c), end = now_ms() + seconds * 1000ull;
	struct chubby_stat st;
	char buf[64], *hx;
	int rc, writes = 0, failed = 0, after_fo = 0, fo;

	rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL, &h, NULL);
	CHECK(rc == 0, "open");
	CHECK(chubby_acquire(h, CHUBBY_LOCK_EXCLUSIVE, 10000) == 0, "acquire");
	CHECK(chubby_get_sequencer(h, &seq0, &len0) == 0, "sequencer");
	hx = malloc(2 * len0 + 1);
	hex(seq0, len0, hx);
	say("locked session=%" PRIu64 " seq=%s", sid, hx);
	free(hx);
	while (now_ms() < end) {
		snprintf(buf, sizeof buf, "%d", writes);
		rc = chubby_set_contents(h, buf, strlen(buf), NULL);
		pthread_mutex_lock(&out_mu);
		fo = failovers;
		pthread_mutex_unlock(&out_mu);
		if (rc == 0) {
			writes++;
			if (fo > 0)
				after_fo++;
			say("write %d failovers=%d", writes, fo);
		} else {
			failed++;
			say("write failed %s %s", chubby_status_name(rc), chubby_last_error());
		}
		if (fo > 0 && after_fo >= after)
			break;
		usleep(50000);
	}
	/* Everything the session had must have survived the fail-over. */
	rc = chubby_get_stat(h, &st);
	CHECK(rc == 0, "stat after");
	CHECK(chubby_get_sequencer(h, &seq1, &len1) == 0, "sequencer after");
	CHECK(chubby_check_sequencer(c, seq1, len1) == 0, "sequencer still current");
	say("done writes=%d failed=%d after_failover=%d failovers=%d same_session=%d same_seq=%d "
	    "lock_mode=%d state=%s jeopardy=%d safe=%d",
	    writes, failed, after_fo, failovers, chubby_session_id(c) == sid,
	    len0 == len1 && memcmp(seq0, seq1, len0) == 0, st.lock_mode,
	    state_name(chubby_session_state(c)), jeopardies, safes);
	chubby_free(seq0);
	chubby_free(seq1);
	CHECK(chubby_release(h) == 0, "release");
	CHECK(chubby_handle_close(h) == 0, "close");
	return 0;
}

/* readloop: application threads reading a cached file as fast as they can
 * (test_client_cache.sh stops the process past its lease under them). */
struct reader {
	pthread_t t;
	int id;
	chubby_handle *h;
	uint64_t end;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	char cur[256] = "";
	uint64_t first = 0, last = 0, n = 0;
	int last_err = 0;

	while (now_ms() < r->end) {
		uint64_t t0 = now_ms();
		void *data;
		size_t len;
		int rc = chubby_get_contents(r->h, &data, &len, NULL);

		if (rc != CHUBBY_OK) {
			if (rc != last_err)
				say("readerr %d %s %" PRIu64, r->id, chubby_status_name(rc), t0);
			last_err = rc;
			if (rc == CHUBBY_E_SESSION_EXPIRED || rc == CHUBBY_E_CANCELLED)
				break;
			continue;
		}
		last_err = 0;
		if (first == 0)
			say("spin %d", r->id);
		if (n == 0 || strcmp(cur, (char *)data) != 0) {
			if (n > 0)
				say("run %d %s %" PRIu64 " %" PRIu64 " %" PRIu64, r->id, cur, first, last, n);
			snprintf(cur, sizeof cur, "%s", (char *)data);
			first = t0;
			n = 0;
		}
		last = t0;
		n++;
		chubby_free(data);
	}
	if (n > 0)
		say("run %d %s %" PRIu64 " %" PRIu64 " %" PRIu64, r->id, cur, first, last, n);
	return NULL;
}

static int
run_readloop(chubby_client *c, const char *path, int nthreads, unsigned seconds)
{
	struct reader rs[16];
	chubby_handle *h;
	void *data;
	size_t len;
	int rc;

	if (nthreads < 1 || nthreads > 16)
		nthreads = 4;
	rc = chubby_handle_open(c, path, CHUBBY_O_READ, NULL, &h, NULL);
	CHECK(rc == 0, "open %s", path);
	CHECK(chubby_get_contents(h, &data, &len, NULL) == 0, "first read");
	say("reading %s", (char *)data);
	chubby_free(data);
	for (int i = 0; i < nthreads; i++) {
		rs[i].id = i;
		rs[i].h = h;
		rs[i].end = now_ms() + seconds * 1000ull;
		pthread_create(&rs[i].t, NULL, reader_main, &rs[i]);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(rs[i].t, NULL);
	chubby_handle_close(h);
	say("done");
	return 0;
}

/* The voluntary context switches of every thread of this process but the
 * calling one (/proc/self/task/TID/status). */
static unsigned long long
others_voluntary_switches(void)
{
	long self = syscall(SYS_gettid);
	unsigned long long sum = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[300], line[256];
		FILE *f;

		if (de->d_name[0] == '.' || atol(de->d_name) == self)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				sum += strtoull(line + 24, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return sum;
}

static int
run_wakeups(chubby_client *c, const char *path, int n)
{
	chubby_handle *h;
	unsigned long long before, after;
	int rc;

	rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL, &h,
	    NULL);
	CHECK(rc == 0, "open %s: %s", path, chubby_status_name(rc));
	/* One write first: the connection and the session are settled. */
	CHECK(chubby_set_contents(h, "x", 1, NULL) == 0, "first write");
	before = others_voluntary_switches();
	for (int i = 0; i < n; i++) {
		rc = chubby_set_contents(h, "x", 1, NULL);
		CHECK(rc == 0, "write %d: %s", i, chubby_status_name(rc));
	}
	after = others_voluntary_switches();
	chubby_handle_close(h);
	say("wakeups %llu %d", (after - before) * 100 / (unsigned long long)(n > 0 ? n : 1), n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct chubby_options opt;
	chubby_client *c;
	int i = 1, rc;

	memset(&opt, 0, sizeof opt);
	opt.on_event = on_event;
	opt.name = "libchubby_driver";
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "-C") == 0)
			opt.cell = argv[i + 1];
		else if (strcmp(argv[i], "-t") == 0)
			opt.open_timeout_ms = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-c") == 0)
			opt.call_timeout_ms = (unsigned)atoi(argv[i + 1]);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: libchubby_driver [-C CELL] [-t MS] [-c MS] shell|basic DIR|lockloop PATH SECONDS AFTER|readloop PATH THREADS SECONDS|open|wakeups PATH N\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = chubby_open(&opt, &c);
	if (rc != CHUBBY_OK) {
		printf("err %s %s\n", chubby_status_name(rc), chubby_last_error());
		return 1;
	}
	if (strcmp(argv[i], "shell") == 0)
		rc = run_shell(c);
	else if (strcmp(argv[i], "basic") == 0 && i + 1 < argc)
		rc = run_basic(c, argv[i + 1]);
	else if (strcmp(argv[i], "lockloop") == 0 && i + 3 < argc)
		rc = run_lockloop(c, argv[i + 1], (unsigned)atoi(argv[i + 2]), atoi(argv[i + 3]));
	else if (strcmp(argv[i], "readloop") == 0 && i + 3 < argc)
		rc = run_readloop(c, argv[i + 1], atoi(argv[i + 2]), (unsigned)atoi(argv[i + 3]));
	else if (strcmp(argv[i], "wakeups") == 0 && i + 2 < argc)
		rc = run_wakeups(c, argv[i + 1], atoi(argv[i + 2]));
	else if (strcmp(argv[i], "open") == 0) {
		printf("ok session=%" PRIu64 " state=%s\n", chubby_session_id(c),
		    state_name(chubby_session_state(c)));
		rc = 0;
	} else {
		fprintf(stderr, "libchubby_driver: unknown command %s\n", argv[i]);
		rc = 2;
	}
	chubby_close(c);
	return rc;
}
