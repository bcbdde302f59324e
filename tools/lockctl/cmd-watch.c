/*
 * cmd-watch.c: lockctl's watches (Chubby §2.5 events): watch PATH, of a
 * node or (-r) of every directory below it as they come and go, and of a
 * node that does not exist yet (its nearest existing ancestor is watched
 * for the child that leads to it, as a ZooKeeper exists-watch does); and
 * unwatch.  A watch is a set of handles the session keeps; the events of
 * those handles are printed through lockctl_watch_event().
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

/* Every node event a handle can ask for (docs/PROTOCOL.md "Events", 1..7). */
#define NODE_EVENTS                                                                            \
	(CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_ADDED) |   \
	    CHUBBY_EVMASK(CHUBBY_EV_CHILD_REMOVED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_MODIFIED) | \
	    CHUBBY_EVMASK(CHUBBY_EV_LOCK_ACQUIRED) | CHUBBY_EVMASK(CHUBBY_EV_CONFLICTING_LOCK) | \
	    CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID))
/* A directory below a -r watch: what happens to its children. */
#define DIR_EVENTS                                                                             \
	(CHUBBY_EVMASK(CHUBBY_EV_CHILD_ADDED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_REMOVED) |       \
	    CHUBBY_EVMASK(CHUBBY_EV_CHILD_MODIFIED) | CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID))
/* The ancestor of a node that does not exist yet. */
#define ANC_EVENTS (CHUBBY_EVMASK(CHUBBY_EV_CHILD_ADDED) | CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID))
/* Creations reported from a listing, remembered so that the event of the
 * same creation, if it comes too, is not printed twice. */
#define SEEN_MAX 256

struct wsub {
	chubby_handle *h;
	char *path;
};

struct lockctl_watch {
	struct lockctl_watch *next;
	char *path;
	int recursive, contents;
	chubby_handle *h;   /* on PATH; NULL while it does not exist */
	chubby_handle *anc; /* meanwhile: its nearest existing ancestor */
	struct wsub *subs;  /* -r: the directories below PATH */
	size_t nsubs, subcap;
	char *seen[SEEN_MAX];
	size_t nseen;
	uint64_t printed; /* event lines printed, for -n */
};

static void
print_synth(struct lockctl *lc, struct lockctl_watch *w, int type, const char *path)
{
	struct lockctl_event ev;

	memset(&ev, 0, sizeof ev);
	ev.type = type;
	ev.path = xstrdup(path);
	lockctl_event_print_h(lc, &ev, NULL);
	free(ev.path);
	w->printed++;
}

static void
seen_add(struct lockctl_watch *w, const char *path)
{
	if (w->nseen == SEEN_MAX) {
		free(w->seen[0]);
		memmove(w->seen, w->seen + 1, (SEEN_MAX - 1) * sizeof w->seen[0]);
		w->nseen--;
	}
	w->seen[w->nseen++] = xstrdup(path);
}

/* 1 (and forgets it) if a listing reported PATH's creation already. */
static int
seen_take(struct lockctl_watch *w, const char *path)
{
	for (size_t i = 0; i < w->nseen; i++) {
		if (strcmp(w->seen[i], path) == 0) {
			free(w->seen[i]);
			memmove(w->seen + i, w->seen + i + 1, (w->nseen - i - 1) * sizeof w->seen[0]);
			w->nseen--;
			return 1;
		}
	}
	return 0;
}

/* Opens PATH with MASK; *IS_DIR from its stat.  A status. */
static int
open_stat(struct lockctl *lc, const char *path, uint32_t mask, chubby_handle **h, bool *is_dir)
{
	struct chubby_open_args oa;
	struct chubby_stat st;
	int rc;

	memset(&oa, 0, sizeof oa);
	oa.event_mask = mask;
	if ((rc = chubby_handle_open(lc->client, path, CHUBBY_O_READ, &oa, h, NULL)) != CHUBBY_OK)
		return rc;
	if ((rc = chubby_get_stat(*h, &st)) != CHUBBY_OK) {
		chubby_handle_close(*h);
		*h = NULL;
		return rc;
	}
	*is_dir = st.is_dir;
	return CHUBBY_OK;
}

/*
 * -r: watches directory DIR (handle H, or opened here) and every directory
 * below it.  REPORT: DIR is new, so what is already in it was made after
 * the event that named DIR: each is reported as CHILD_ADDED (its own event
 * cannot come, our handle was not open yet).  Nodes gone meanwhile are
 * skipped.
 */
static void
add_tree(struct lockctl *lc, struct lockctl_watch *w, const char *dir, chubby_handle *h,
    int report)
{
	char **names = NULL;
	size_t n = 0;

	if (h == NULL) {
		bool is_dir = false;
		if (open_stat(lc, dir, DIR_EVENTS, &h, &is_dir) != CHUBBY_OK)
			return;
		if (!is_dir) {
			chubby_handle_close(h);
			return;
		}
		if (w->nsubs == w->subcap) {
			w->subcap = w->subcap ? 2 * w->subcap : 16;
			w->subs = xrealloc(w->subs, w->subcap * sizeof *w->subs);
		}
		w->subs[w->nsubs].h = h;
		w->subs[w->nsubs].path = xstrdup(dir);
		w->nsubs++;
	}
	if (chubby_readdir(h, &names, &n) != CHUBBY_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		char *child;

		xasprintf(&child, "%s/%s", dir, names[i]);
		if (report) {
			print_synth(lc, w, CHUBBY_EV_CHILD_ADDED, child);
			seen_add(w, child);
		}
		add_tree(lc, w, child, NULL, report);
		free(child);
	}
	chubby_free_names(names, n);
}

/*
 * Attaches W to its node: opens it, and with -r every directory below it;
 * if it does not exist, watches its nearest existing ancestor instead.
 * FOUND_LATER: W was waiting for its node, which now exists: its creation
 * is reported.  Prints the error and returns the exit code on a failure.
 */
static int
attach(struct lockctl *lc, struct lockctl_watch *w, int found_later)
{
	chubby_handle *h;
	bool is_dir = false;
	char *anc;
	int rc;

	for (;;) {
		rc = open_stat(lc, w->path, NODE_EVENTS, &h, &is_dir);
		if (rc == CHUBBY_OK) {
			if (w->anc != NULL) {
				chubby_handle_close(w->anc);
				w->anc = NULL;
			}
			w->h = h;
			if (found_later) {
				print_synth(lc, w, CHUBBY_EV_CHILD_ADDED, w->path);
				seen_add(w, w->path);
			}
			if (w->recursive && is_dir)
				add_tree(lc, w, w->path, h, found_later);
			return 0;
		}
		if (rc != CHUBBY_E_NOT_FOUND)
			return lockctl_api_fail(lc, rc, w->path);
		/* The nearest ancestor there is, for the child that leads here. */
		anc = xstrdup(w->path);
		for (;;) {
			char *slash = strrchr(anc, '/');
			if (slash == NULL || slash == anc) {
				free(anc);
				return lockctl_api_fail(lc, rc, w->path);
			}
			*slash = '\0';
			if (w->anc != NULL) {
				chubby_handle_close(w->anc);
				w->anc = NULL;
			}
			rc = open_stat(lc, anc, ANC_EVENTS, &w->anc, &is_dir);
			if (rc == CHUBBY_OK)
				break;
			if (rc != CHUBBY_E_NOT_FOUND) {
				rc = lockctl_api_fail(lc, rc, anc);
				free(anc);
				return rc;
			}
		}
		/* The ancestor's child on the way to PATH: made between our look
		 * and the ancestor's handle?  Then no event will say so (the
		 * handle was not there to hear it), and a creation below it
		 * raises none on the ancestor either: look once more, at that
		 * child, not only at PATH (test_lockctl_daily: a watch of w/x/y
		 * while `mkdir -p w/x; put w/x/y` ran waited forever when w/x
		 * came between the two). */
		{
			size_t al = strlen(anc);
			const char *slash = strchr(w->path + al + 1, '/');
			char *next = slash != NULL ? xmemdup(w->path, (size_t)(slash - w->path) + 1)
			                           : xstrdup(w->path);
			if (slash != NULL)
				next[slash - w->path] = '\0';
			free(anc);
			rc = open_stat(lc, next, ANC_EVENTS, &h, &is_dir);
			free(next);
		}
		if (rc == CHUBBY_E_NOT_FOUND)
			return 0;
		if (rc == CHUBBY_OK)
			chubby_handle_close(h);
		/* It is there now (or something else failed): start over. */
	}
}

static void
watch_free(struct lockctl_watch *w, int close_handles)
{
	if (close_handles) {
		chubby_handle_close(w->h);
		chubby_handle_close(w->anc);
		for (size_t i = 0; i < w->nsubs; i++)
			chubby_handle_close(w->subs[i].h);
	}
	for (size_t i = 0; i < w->nsubs; i++)
		free(w->subs[i].path);
	for (size_t i = 0; i < w->nseen; i++)
		free(w->seen[i]);
	free(w->subs);
	free(w->path);
	free(w);
}

static void
watch_unlink(struct lockctl *lc, struct lockctl_watch *w)
{
	for (struct lockctl_watch **pp = &lc->watches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

void
lockctl_watches_free(struct lockctl *lc, int close_handles)
{
	while (lc->watches != NULL) {
		struct lockctl_watch *w = lc->watches;
		lc->watches = w->next;
		watch_free(w, close_handles);
	}
}

int
lockctl_watch_event(struct lockctl *lc, const struct lockctl_event *ev)
{
	if (ev->handle == NULL)
		return -1;
	for (struct lockctl_watch *w = lc->watches; w != NULL; w = w->next) {
		uint64_t before = w->printed;

		if (w->anc != NULL && ev->handle == w->anc) {
			size_t al;
			/* Only the child on the way to PATH matters; the rest
			 * of the ancestor's children are not ours to report. */
			if (ev->type == CHUBBY_EV_HANDLE_INVALID ||
			    (ev->type == CHUBBY_EV_CHILD_ADDED && ev->path != NULL &&
				(al = strlen(ev->path)) <= strlen(w->path) &&
				strncmp(ev->path, w->path, al) == 0 &&
				(w->path[al] == '\0' || w->path[al] == '/'))) {
				/* Errors here are printed; the watch stays
				 * (on an ancestor if any is left). */
				(void)attach(lc, w, 1);
			}
			return (int)(w->printed - before);
		}
		if (w->h != NULL && ev->handle == w->h) {
			if (ev->type == CHUBBY_EV_CHILD_ADDED && ev->path != NULL &&
			    seen_take(w, ev->path))
				return 0;
			lockctl_event_print_h(lc, ev, w->contents ? w->h : NULL);
			w->printed++;
			if (w->recursive && ev->type == CHUBBY_EV_CHILD_ADDED && ev->path != NULL)
				add_tree(lc, w, ev->path, NULL, 1);
			return (int)(w->printed - before);
		}
		for (size_t i = 0; i < w->nsubs; i++) {
			if (ev->handle != w->subs[i].h)
				continue;
			if (ev->type == CHUBBY_EV_HANDLE_INVALID) {
				/* Its parent's CHILD_REMOVED said so already. */
				chubby_handle_close(w->subs[i].h);
				free(w->subs[i].path);
				w->subs[i] = w->subs[--w->nsubs];
				return 0;
			}
			if (ev->type == CHUBBY_EV_CHILD_ADDED && ev->path != NULL &&
			    seen_take(w, ev->path))
				return 0;
			lockctl_event_print_h(lc, ev, NULL);
			w->printed++;
			if (ev->type == CHUBBY_EV_CHILD_ADDED && ev->path != NULL)
				add_tree(lc, w, ev->path, NULL, 1);
			return (int)(w->printed - before);
		}
	}
	return -1;
}

static struct lockctl_watch *
watch_find(struct lockctl *lc, const char *path)
{
	for (struct lockctl_watch *w = lc->watches; w != NULL; w = w->next)
		if (strcmp(w->path, path) == 0)
			return w;
	return NULL;
}

/*
 * watch [-r] [--contents] [-n N] [-t MS] PATH: one-shot, prints the
 * events until N of them or MS ms (or a signal).  Scripted: without -n
 * and -t the watch stays in the session (events come as lines between
 * answers until `unwatch`); with either it blocks like one-shot and then
 * answers.
 */
int
cmd_watch(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"contents", "recursive", NULL};
	struct lockctl_opts o;
	struct lockctl_watch *w;
	struct reply r;
	uint64_t count = 0, ms = 0, deadline = 0;
	int ch, rc, have_n = 0, have_t = 0, lost = 0, contents = 0, recursive = 0;
	char *path;

	lockctl_opts_init(&o, argc, argv);
	while ((ch = lockctl_opts_next(&o, "rn:t:", longs, "cr")) != 0) {
		switch (ch) {
		case 'c':
			contents = 1;
			break;
		case 'r':
			recursive = 1;
			break;
		case 'n':
			if (lockctl_parse_u64(o.arg, UINT32_MAX, &count) != 0 || count == 0)
				return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "-n: \"%s\" is not a count", o.arg);
			have_n = 1;
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
	if (watch_find(lc, path) != NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_EXISTS,
		    "%s is already watched in this session", path);
		free(path);
		return rc;
	}
	w = xcalloc(1, sizeof *w);
	w->path = path;
	w->recursive = recursive;
	w->contents = contents;
	if ((rc = attach(lc, w, 0)) != 0) {
		watch_free(w, 1);
		return rc;
	}
	w->next = lc->watches;
	lc->watches = w;
	if (lc->script && !have_n && !have_t) {
		reply_begin(lc, &r);
		reply_str(&r, "path", w->path);
		reply_bool(&r, "watching", 1);
		reply_bool(&r, "exists", w->h != NULL);
		return reply_end(&r);
	}
	if (!lc->script)
		lockctl_signals();
	if (have_t)
		deadline = lockctl_now_ms() + ms;
	for (;;) {
		struct lockctl_event ev;
		int wk, left = -1;

		while (lockctl_event_pop(&ev)) {
			lockctl_event_print(lc, &ev);
			if (ev.type == CHUBBY_EV_EXPIRED)
				lost = 1;
			free(ev.path);
		}
		if (lost || (have_n && w->printed >= count) || lockctl_signalled())
			break;
		if (have_t) {
			uint64_t now = lockctl_now_ms();
			if (now >= deadline)
				break;
			left = (int)(deadline - now);
		}
		/* Wake now and then to notice a session lost without an event. */
		if (left < 0 || left > 1000)
			left = 1000;
		wk = lockctl_wait(-1, left);
		if ((wk & LOCKCTL_WAKE_TIMEOUT) &&
		    chubby_session_state(lc->client) == CHUBBY_SESSION_EXPIRED) {
			lost = 1;
			break;
		}
	}
	watch_unlink(lc, w);
	path = xstrdup(w->path);
	count = w->printed;
	if (lost) {
		lc->session_lost = 1;
		watch_free(w, 0);
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_SESSION_EXPIRED,
		    "the session was lost while watching %s", path);
		free(path);
		return rc;
	}
	watch_free(w, 1);
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_uint(&r, "events", count);
	reply_human(&r, "%s", ""); /* the events were the output */
	free(path);
	return reply_end(&r);
}

/* unwatch PATH: ends a scripted watch (with -r, of the whole subtree). */
int
cmd_unwatch(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_opts o;
	struct lockctl_watch *w;
	struct reply r;
	char *path;
	int ch, rc;

	lockctl_opts_init(&o, argc, argv);
	if ((ch = lockctl_opts_next(&o, "", NULL, NULL)) != 0)
		return lockctl_usage(lc, o.bad);
	if (o.npos != 1)
		return lockctl_usage(lc, NULL);
	if ((rc = lockctl_path(lc, o.pos[0], &path)) != 0)
		return rc;
	if ((w = watch_find(lc, path)) == NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOT_FOUND,
		    "%s is not watched in this session", path);
		free(path);
		return rc;
	}
	watch_unlink(lc, w);
	watch_free(w, 1);
	reply_begin(lc, &r);
	reply_str(&r, "path", path);
	reply_bool(&r, "watching", 0);
	free(path);
	return reply_end(&r);
}
