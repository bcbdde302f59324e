/*
 * cmd-lock.c: lockctl's lock commands on a libchubby session (Chubby
 * §2.4): lock, trylock, unlock, sequencer and checkseq (online, or offline
 * with the cell's sequencer key).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "lockctl.h"

/* What a sequencer names, under the keys `sequencer` and `checkseq` share. */
static void
reply_seqinfo(struct reply *r, const struct chubby_sequencer_info *info)
{
	reply_str(r, "cell", info->cell);
	reply_str(r, "lock", info->path);
	reply_str(r, "mode", lockctl_mode_name(info->mode));
	reply_uint(r, "generation", info->lock_gen);
	reply_uint(r, "instance", info->instance);
}

/* The sequencer of a held lock, as hex and decoded; prints the error and
 * returns the exit code on failure. */
static int
lock_sequencer(struct lockctl *lc, chubby_handle *h, const char *path, char **hex,
    struct chubby_sequencer_info *info)
{
	void *seq = NULL;
	size_t len = 0;
	int rc;

	if ((rc = chubby_get_sequencer(h, &seq, &len)) != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, path);
	/* Our own sequencer, fresh from the cell: decoding for display. */
	if ((rc = chubby_sequencer_parse(seq, len, info)) != CHUBBY_OK) {
		chubby_free(seq);
		return lockctl_api_fail(lc, rc, path);
	}
	*hex = lockctl_hex(seq, len);
	chubby_free(seq);
	return 0;
}

/* Holds the lock of a one-shot `lock`/`trylock` until a signal or EOF on
 * standard input; 1 if the session was lost meanwhile. */
static int
lock_hold(struct lockctl *lc)
{
	char buf[4096];

	for (;;) {
		struct lockctl_event ev;
		int w, lost = 0;

		while (lockctl_event_pop(&ev)) {
			/* JEOPARDY, SAFE, MASTER_FAILOVER: worth a line. */
			lockctl_event_print(lc, &ev);
			if (ev.type == CHUBBY_EV_EXPIRED)
				lost = 1;
			free(ev.path);
		}
		if (lost)
			return 1;
		if (lockctl_signalled())
			return 0;
		w = lockctl_wait(STDIN_FILENO, 1000);
		if (w & LOCKCTL_WAKE_INPUT) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
			if (n <= 0)
				return 0; /* EOF (or stdin unusable): let go */
		}
		if ((w & LOCKCTL_WAKE_TIMEOUT) &&
		    chubby_session_state(lc->client) == CHUBBY_SESSION_EXPIRED)
			return 1;
	}
}

static int
lock_take(struct lockctl *lc, int argc, char **argv, int try)
{
	struct lockctl_opts o;
	struct chubby_sequencer_info info;
	struct reply r;
	chubby_handle *h;
	uint64_t ms = 0;
	char *path = NULL, *hex = NULL;
	static const char *const longs[] = {"no-create", NULL};
	int ch, rc, mode = CHUBBY_LOCK_EXCLUSIVE, have_t = 0, create = 1;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, try ? "s" : "st:", longs, "N")) != 0) {
		switch (ch) {
		case 'N':
			create = 0;
			break;
		case 's':
			mode = CHUBBY_LOCK_SHARED;
			break;
		case 't':
			if (lockctl_parse_u64(o.arg, 86400000u, &ms) != 0)
				return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "-t: \"%s\" is not a time in ms", o.arg);
			have_t = 1;
			break;
		default:
			return lockctl_usage(lc, o.bad);
		}
	}
	if (o.npos != 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, o.pos[0], &path)) != 0)
		return rc;
	if (lockctl_kept_find(lc, LOCKCTL_KEPT_LOCK, path) != NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_BUSY,
		    "%s is already locked in this session (unlock it first)", path);
		free(path);
		return rc;
	}
	/* Like etcdctl lock and consul lock, the lock file and its
	 * directories are made when missing, unless --no-create. */
	if ((rc = lockctl_open_lockfile(lc, path, create, 0, &h)) != 0) {
		free(path);
		return rc;
	}
	if (try)
		rc = chubby_try_acquire(h, mode);
	else
		rc = chubby_acquire(h, mode, have_t ? (unsigned)ms : LOCKCTL_WAIT_FOREVER);
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		chubby_handle_close(h);
		free(path);
		return rc;
	}
	if ((rc = lock_sequencer(lc, h, path, &hex, &info)) != 0) {
		chubby_handle_close(h);
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "lock", path);
	reply_str(&r, "mode", lockctl_mode_name(mode));
	reply_uint(&r, "generation", info.lock_gen);
	reply_str(&r, "sequencer", hex);
	if (lc->script) {
		/* The session keeps the handle for unlock and sequencer. */
		lockctl_kept_add(lc, LOCKCTL_KEPT_LOCK, mode, h, path);
		free(hex);
		free(path);
		return reply_end(&r);
	}
	/* One-shot: hold until told to let go. */
	lockctl_signals();
	reply_str(&r, "state", "holding");
	reply_human(&r, "sequencer %s\ngeneration %llu\nholding\n", hex,
	    (unsigned long long)info.lock_gen);
	free(hex);
	reply_end(&r);
	if (lock_hold(lc)) {
		lc->session_lost = 1;
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_SESSION_EXPIRED,
		    "the session was lost while holding %s", path);
		free(path);
		return rc;
	}
	rc = chubby_release(h);
	chubby_handle_close(h);
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "lock", path);
	reply_str(&r, "state", "released");
	reply_human(&r, "released\n");
	free(path);
	return reply_end(&r);
}

/* lock [-s] [-t MS] PATH */
int
cmd_lock(struct lockctl *lc, int argc, char **argv)
{
	return lock_take(lc, argc, argv, 0);
}

/* trylock [-s] PATH */
int
cmd_trylock(struct lockctl *lc, int argc, char **argv)
{
	return lock_take(lc, argc, argv, 1);
}

/* The lock on ARG this session holds; prints the error if none. */
static int
held_lock(struct lockctl *lc, int argc, char **argv, struct lockctl_kept **k, char **path)
{
	struct lockctl_opts o;
	int ch, rc;

	lockctl_opts_init(&o, argc, argv);
	if ((ch = lockctl_opts_next(&o, "", NULL, NULL)) != 0)
		return lockctl_usage(lc, o.bad);
	if (o.npos != 1)
		return lockctl_usage(lc, NULL);
	if ((rc = lockctl_path(lc, o.pos[0], path)) != 0)
		return rc;
	if ((*k = lockctl_kept_find(lc, LOCKCTL_KEPT_LOCK, *path)) == NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOT_HELD,
		    "%s: no lock on it is held in this session%s", *path,
		    lc->script ? "" : " (one-shot commands each have their own session: use "
				     "scripted mode)");
		free(*path);
		*path = NULL;
		return rc;
	}
	return 0;
}

/* unlock PATH */
int
cmd_unlock(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_kept *k;
	struct reply r;
	char *path;
	int rc;

	if ((rc = held_lock(lc, argc, argv, &k, &path)) != 0)
		return rc;
	rc = chubby_release(k->h);
	/* Closing frees the lock too, so the handle goes whatever RELEASE said. */
	chubby_handle_close(k->h);
	lockctl_kept_remove(lc, k);
	if (rc != CHUBBY_OK) {
		rc = lockctl_api_fail(lc, rc, path);
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "lock", path);
	reply_str(&r, "state", "released");
	free(path);
	return reply_end(&r);
}

/* sequencer PATH */
int
cmd_sequencer(struct lockctl *lc, int argc, char **argv)
{
	struct chubby_sequencer_info info;
	struct lockctl_kept *k;
	struct reply r;
	char *path, *hex;
	int rc;

	if ((rc = held_lock(lc, argc, argv, &k, &path)) != 0)
		return rc;
	if ((rc = lockctl_session(lc)) != 0 ||
	    (rc = lock_sequencer(lc, k->h, path, &hex, &info)) != 0) {
		free(path);
		return rc;
	}
	reply_begin(lc, &r);
	reply_str(&r, "sequencer", hex);
	reply_seqinfo(&r, &info);
	free(hex);
	free(path);
	return reply_end(&r);
}

/* checkseq HEX | checkseq --offline --key FILE HEX */
int
cmd_checkseq(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"offline", "key=", NULL};
	struct chubby_sequencer_info info;
	struct lockctl_opts o;
	struct reply r;
	const char *keyfile = NULL;
	void *seq = NULL, *key = NULL;
	size_t len = 0, keylen = 0;
	int ch, rc, offline = 0;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "k:", longs, "ok")) != 0) {
		switch (ch) {
		case 'o':
			offline = 1;
			break;
		case 'k':
			keyfile = o.arg;
			break;
		default:
			return lockctl_usage(lc, o.bad);
		}
	}
	if (o.npos != 1 || o.toomany)
		return lockctl_usage(lc, NULL);
	if (offline != (keyfile != NULL))
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "--offline and --key FILE go together");
	if (lockctl_unhex(o.pos[0], &seq, &len) != 0)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "\"%.40s%s\" is not a sequencer in hex", o.pos[0],
		    strlen(o.pos[0]) > 40 ? "..." : "");
	memset(&info, 0, sizeof info);
	if (offline) {
		if ((rc = chubby_sequencer_key_load(keyfile, &key, &keylen)) != CHUBBY_OK) {
			/* A key file that cannot be read or used is a local file
			 * to fix: exit 2, with the message naming it. */
			const char *m = chubby_last_error();
			free(seq);
			return lockctl_fail(lc,
			    rc == CHUBBY_E_IO || rc == CHUBBY_E_CONFIG ? LOCKCTL_EXIT_USAGE
								      : LOCKCTL_EXIT_FAIL,
			    rc, "%s", m != NULL && *m != '\0' ? m : chubby_strerror(rc));
		}
		rc = chubby_sequencer_verify(key, keylen, seq, len, &info);
		chubby_free(key);
	} else {
		if ((rc = lockctl_session(lc)) != 0) {
			free(seq);
			return rc;
		}
		rc = chubby_check_sequencer(lc->client, seq, len);
		/* What it names, for the answer (the cell vouched for it). */
		if (rc == CHUBBY_OK && chubby_sequencer_parse(seq, len, &info) != CHUBBY_OK)
			memset(&info, 0, sizeof info);
	}
	free(seq);
	if (rc != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, NULL);
	reply_begin(lc, &r);
	reply_bool(&r, offline ? "valid" : "current", 1);
	reply_seqinfo(&r, &info);
	return reply_end(&r);
}
