/*
 * mirror.c: the master's copies of other cells' subtrees (mirror.h).
 *
 * One sync is three steps, each a chain of libchubby completions:
 *   1. walk the source subtree (open, stat, readdir or read every node),
 *      keeping each directory's handle open with CHILD_* events: those
 *      handles are the watch that starts the next sync;
 *   2. walk the local copy the same way (handles closed at once);
 *   3. apply the difference one write at a time: deletes deepest first,
 *      then creates and updates parents first.
 * A change seen during a sync marks the mirror dirty and another sync
 * follows; nothing is decided from an event's contents, so a lost event
 * or a reconnect costs one extra sync, never a missed change.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "mirror/mirror.h"
#include "mirror/mirror_plan.h"
#include "replica.h"
#include "xmalloc.h"

#define TICK_MS 250     /* how often mastership is looked at */
/* Nodes a walk reads at once.  A cell limits the handles one session holds
 * (max_handles_per_session, 1000 by default); a walk holds one per node
 * being read plus one per directory it watches, so it reads a bounded
 * number at a time, and keeps only directories' handles. */
#define WALK_INFLIGHT 32
#define RETRY_MS 1000   /* after a failed sync */

#define SRC_EVENTS                                                                         \
	(CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_ADDED) |  \
	    CHUBBY_EVMASK(CHUBBY_EV_CHILD_REMOVED) | CHUBBY_EVMASK(CHUBBY_EV_CHILD_MODIFIED) | \
	    CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID))

struct mirror;

/* One side's end: a libchubby client in our loop. */
struct side {
	struct mirror *m;
	chubby_client *c;
	struct event *io, *timer;
	bool safe;
};

/* A walk of one side's tree. */
struct walk {
	struct mirror *m;
	unsigned run;
	struct side *sd;
	char *root;
	bool watch, failed;
	int pending;
	char err[256];
	struct mirror_entry *ents;
	size_t n, cap;
	chubby_handle **hs; /* kept open (watch): the directories' */
	size_t nh, hcap;
	char **queue; /* paths not yet opened (WALK_INFLIGHT at a time) */
	size_t qhead, qn, qcap;
	int inflight;
};

struct wop {
	struct walk *w;
	char *path;
	chubby_handle *h;
	bool is_dir;
};

struct mirror {
	struct mirror_set *set;
	const struct cell_mirror *cfg;
	struct side src, loc;
	unsigned run; /* bumped whenever the clients go: stale completions are ignored */
	const char *state;
	bool running, syncing, dirty;
	uint64_t dirty_since, sync_since; /* monotonic ms: oldest change not yet copied */
	uint64_t last_sync_mono, last_sync_wall, next_sync_mono;
	uint64_t started_mono; /* when this replica first started the mirror */
	uint64_t syncs, errors, nodes, writes;
	char last_error[256];
	struct walk *sw, *lw;    /* the current sync's walks */
	chubby_handle **watch;   /* the last completed source walk's directory handles */
	size_t nwatch;
	struct mirror_op *ops; /* the current sync's writes (mirror_plan), one at a time */
	size_t nops, opi;
};

struct mirror_set {
	struct chubbyd *d;
	struct event *tick;
	struct mirror m[CONFIG_MAX_MIRRORS];
	size_t n;
};

static void sync_start(struct mirror *m);
static void walk_node(struct walk *w, const char *path);
static void ops_next(struct mirror *m);

/* --- the clients in chubbyd's loop ------------------------------------------------ */

/* For closes whose outcome changes nothing: the handle goes either way. */
static void
ignore_done(chubby_client *c, const struct chubby_result *res, void *arg)
{
	(void)c;
	(void)res;
	(void)arg;
}

static void
side_arm(struct side *sd)
{
	int fd, events, timeout_ms;
	struct timeval tv;

	if (sd->c == NULL || chubby_interest(sd->c, &fd, &events, &timeout_ms) != CHUBBY_OK)
		return;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(sd->timer, &tv);
}

static void
arm_all(struct mirror *m)
{
	side_arm(&m->src);
	side_arm(&m->loc);
}

static void
side_process(evutil_socket_t fd, short what, void *arg)
{
	struct side *sd = arg;
	struct mirror *m = sd->m;

	(void)fd;
	if (sd->c != NULL)
		chubby_process(sd->c, (what & EV_READ) ? CHUBBY_POLL_READ : 0);
	/* A callback may have closed either client. */
	arm_all(m);
}

static void
walk_free(struct walk *w, bool close_handles)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->ents[i].rel);
		free(w->ents[i].data);
	}
	free(w->ents);
	if (close_handles)
		for (size_t i = 0; i < w->nh; i++)
			chubby_handle_close_async(w->hs[i], ignore_done, NULL);
	free(w->hs);
	for (size_t i = w->qhead; i < w->qn; i++)
		free(w->queue[i]);
	free(w->queue);
	free(w->root);
	free(w);
}

static void
watch_drop(struct mirror *m)
{
	if (m->src.c != NULL)
		for (size_t i = 0; i < m->nwatch; i++)
			chubby_handle_close_async(m->watch[i], ignore_done, NULL);
	free(m->watch);
	m->watch = NULL;
	m->nwatch = 0;
}

static void
ops_free(struct mirror *m)
{
	mirror_ops_free(m->ops, m->nops);
	m->ops = NULL;
	m->nops = m->opi = 0;
}

static void
side_close(struct side *sd)
{
	chubby_client *c = sd->c;

	sd->c = NULL;
	sd->safe = false;
	if (sd->io != NULL) {
		event_free(sd->io);
		sd->io = NULL;
	}
	evtimer_del(sd->timer);
	chubby_close(c); /* cancelled completions find m->run moved on */
}

/* Stops everything: mastership lost, or a session gone (then it restarts). */
static void
mirror_stop(struct mirror *m, const char *state)
{
	m->run++;
	m->syncing = false;
	/* Handles go with their client. */
	free(m->watch);
	m->watch = NULL;
	m->nwatch = 0;
	/* A walk with calls out is freed by its last completion (cancelled
	 * when its client closes below); a finished one here. */
	if (m->sw != NULL && m->sw->pending == 0)
		walk_free(m->sw, false);
	if (m->lw != NULL && m->lw->pending == 0)
		walk_free(m->lw, false);
	m->sw = m->lw = NULL;
	ops_free(m);
	side_close(&m->src);
	side_close(&m->loc);
	m->running = false;
	m->state = state;
}

static void
mark_dirty(struct mirror *m)
{
	if (!m->dirty) {
		m->dirty = true;
		m->dirty_since = clock_mono_ms();
	}
	if (!m->syncing && m->src.safe && m->loc.safe)
		sync_start(m);
}

static void
fail(struct mirror *m, const char *what, int status, const char *msg)
{
	char was[sizeof m->last_error];

	m->errors++;
	memcpy(was, m->last_error, sizeof was);
	snprintf(m->last_error, sizeof m->last_error, "%s: %s: %s", what,
	    chubby_status_name(status), msg != NULL && msg[0] ? msg : chubby_strerror(status));
	/* A failure that persists is retried every RETRY_MS: logged when it
	 * changes, counted (chubby_mirror_errors_total) every time. */
	if (strcmp(was, m->last_error) != 0)
		log_warn("mirror %s: %s", m->cfg->name, m->last_error);
	m->state = "error";
}

static void
on_event(chubby_client *c, const struct chubby_event *ev, void *arg)
{
	struct side *sd = arg;
	struct mirror *m = sd->m;

	(void)c;
	if (sd->c == NULL)
		return; /* being closed */
	switch (ev->type) {
	case CHUBBY_EV_EXPIRED:
		/* Handles and watches are gone: start again from scratch on
		 * the next tick. */
		fail(m, sd == &m->src ? "source session" : "local session", CHUBBY_E_SESSION_EXPIRED,
		    NULL);
		mirror_stop(m, "connecting");
		return;
	case CHUBBY_EV_JEOPARDY:
		/* The source (or this cell) is out of reach: changes made
		 * from now on are not seen, so the copy is as old as this
		 * moment and ages from here.  No sync starts until SAFE. */
		sd->safe = false;
		m->state = "connecting";
		if (!m->dirty) {
			m->dirty = true;
			m->dirty_since = clock_mono_ms();
		}
		return;
	case CHUBBY_EV_SAFE:
	case CHUBBY_EV_MASTER_FAILOVER:
		/* Events may have been lost while out of reach or while the
		 * master changed: re-read. */
		sd->safe = true;
		mark_dirty(m);
		return;
	default:
		if (sd == &m->src)
			mark_dirty(m);
		return;
	}
}

static void
on_open(chubby_client *c, int status, const char *message, void *arg)
{
	struct side *sd = arg;
	struct mirror *m = sd->m;

	(void)c;
	if (sd->c == NULL)
		return; /* being closed */
	if (status != CHUBBY_OK) {
		fail(m, sd == &m->src ? "connecting to the source cell" : "connecting to this cell",
		    status, message);
		mirror_stop(m, "connecting");
		return;
	}
	sd->safe = true;
	if (m->src.safe && m->loc.safe) {
		m->state = "syncing";
		mark_dirty(m);
	}
}

static int
side_open(struct mirror *m, struct side *sd, const char *cell, const char *cert, const char *key,
    const char *ca)
{
	struct chubby_options o;
	int rc;

	memset(&o, 0, sizeof o);
	o.cell = cell;
	o.cert_file = cert;
	o.key_file = key;
	o.ca_file = ca;
	o.name = sd == &m->src ? "chubbyd-mirror" : "chubbyd-mirror-local";
	o.on_event = on_event;
	o.event_arg = sd;
	rc = chubby_open_async(&o, NULL, on_open, sd, &sd->c);
	if (rc != CHUBBY_OK) {
		sd->c = NULL;
		return rc;
	}
	return CHUBBY_OK;
}

static void
mirror_start(struct mirror *m)
{
	struct chubbyd *d = m->set->d;
	char *cert = config_expand(d->cfg->tls_cert, d->id), *key = config_expand(d->cfg->tls_key, d->id);
	int fd, events, timeout_ms, rc;

	m->running = true;
	m->state = "connecting";
	if (m->started_mono == 0)
		m->started_mono = clock_mono_ms();
	m->dirty = false;
	rc = side_open(m, &m->src, m->cfg->source, m->cfg->tls_cert, m->cfg->tls_key, m->cfg->tls_ca);
	if (rc == CHUBBY_OK)
		rc = side_open(m, &m->loc, d->config_path, cert, key, d->cfg->tls_ca);
	free(cert);
	free(key);
	if (rc != CHUBBY_OK) {
		fail(m, "starting", rc, chubby_last_error());
		mirror_stop(m, "error");
		m->next_sync_mono = clock_mono_ms() + RETRY_MS;
		return;
	}
	for (struct side *sd = &m->src;; sd = &m->loc) {
		chubby_interest(sd->c, &fd, &events, &timeout_ms);
		sd->io = event_new(d->base, fd, EV_READ | EV_PERSIST, side_process, sd);
		event_add(sd->io, NULL);
		if (sd == &m->loc)
			break;
	}
	log_info("mirror %s: copying %s of %s to %s", m->cfg->name, m->cfg->from, m->cfg->source,
	    m->cfg->to);
	arm_all(m);
}

/* --- walking a tree ------------------------------------------------------------------ */

static struct walk *
walk_new(struct mirror *m, struct side *sd, const char *root, bool watch)
{
	struct walk *w = xcalloc(1, sizeof *w);

	w->m = m;
	w->run = m->run;
	w->sd = sd;
	w->root = xstrdup(root);
	w->watch = watch;
	return w;
}

static void walk_done(struct walk *w);

/* One call of W's is over: the last finishes the walk. */
static void
walk_release(struct walk *w)
{
	if (--w->pending > 0)
		return;
	if (w->run == w->m->run)
		walk_done(w);
	else
		walk_free(w, false); /* a run that was stopped: its client is gone */
}

static void walk_pump(struct walk *w);

static void
wop_end(struct wop *o)
{
	struct walk *w = o->w;

	if (o->h != NULL) {
		if (w->watch && o->is_dir && w->run == w->m->run) {
			if (w->nh == w->hcap) {
				w->hcap = w->hcap ? 2 * w->hcap : 16;
				w->hs = xrealloc(w->hs, w->hcap * sizeof *w->hs);
			}
			w->hs[w->nh++] = o->h;
		} else if (w->run == w->m->run) {
			chubby_handle_close_async(o->h, ignore_done, NULL);
		}
	}
	free(o->path);
	free(o);
	w->inflight--;
	walk_pump(w);
	walk_release(w);
}

static void
walk_fail(struct wop *o, const char *what, const struct chubby_result *res)
{
	struct walk *w = o->w;

	/* A node that went between the listing and the open: the next sync
	 * (its removal's event) sees the rest. */
	if (res->status == CHUBBY_E_NOT_FOUND)
		return; /* and the root: an empty tree */
	if (!w->failed) {
		w->failed = true;
		snprintf(w->err, sizeof w->err, "%s %s: %s: %s", what, o->path,
		    chubby_status_name(res->status), res->message);
	}
}

static void
add_entry(struct walk *w, const char *path, bool is_dir, const void *data, size_t len)
{
	struct mirror_entry *e;
	size_t rl = strlen(w->root);

	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 32;
		w->ents = xrealloc(w->ents, w->cap * sizeof *w->ents);
	}
	e = &w->ents[w->n++];
	e->rel = xstrdup(path[rl] == '/' ? path + rl + 1 : path + rl);
	e->is_dir = is_dir;
	e->len = len;
	e->data = NULL;
	if (!is_dir) {
		e->data = xmalloc(len + 1);
		memcpy(e->data, data, len);
	}
}

static bool
stale(struct wop *o)
{
	return o->w->run != o->w->m->run || o->w->sd->c == NULL;
}

static void
on_readdir(chubby_client *c, const struct chubby_result *res, void *arg)
{
	struct wop *o = arg;

	(void)c;
	if (stale(o)) {
		o->h = NULL;
	} else if (res->status != CHUBBY_OK) {
		walk_fail(o, "listing", res);
	} else {
		for (size_t i = 0; i < res->nnames; i++) {
			char *child;
			xasprintf(&child, "%s/%s", o->path, res->names[i]);
			walk_node(o->w, child);
			free(child);
		}
	}
	wop_end(o);
}

static void
on_contents(chubby_client *c, const struct chubby_result *res, void *arg)
{
	struct wop *o = arg;

	(void)c;
	if (stale(o))
		o->h = NULL;
	else if (res->status != CHUBBY_OK)
		walk_fail(o, "reading", res);
	else
		add_entry(o->w, o->path, false, res->data, res->len);
	wop_end(o);
}

static void
on_stat(chubby_client *c, const struct chubby_result *res, void *arg)
{
	struct wop *o = arg;
	int rc;

	(void)c;
	if (stale(o)) {
		o->h = NULL;
		wop_end(o);
		return;
	}
	if (res->status != CHUBBY_OK) {
		walk_fail(o, "stat of", res);
		wop_end(o);
		return;
	}
	if (res->stat->is_dir) {
		o->is_dir = true;
		add_entry(o->w, o->path, true, NULL, 0);
		rc = chubby_readdir_async(o->h, on_readdir, o);
	} else {
		rc = chubby_get_contents_async(o->h, on_contents, o);
	}
	if (rc != CHUBBY_OK) {
		struct chubby_result r = {.status = rc, .message = chubby_last_error()};
		walk_fail(o, "reading", &r);
		wop_end(o);
	}
}

static void
on_walk_open(chubby_client *c, const struct chubby_result *res, void *arg)
{
	struct wop *o = arg;

	(void)c;
	if (stale(o)) {
		wop_end(o);
		return;
	}
	if (res->status != CHUBBY_OK) {
		walk_fail(o, "opening", res);
		wop_end(o);
		return;
	}
	o->h = res->handle;
	if (chubby_get_stat_async(o->h, on_stat, o) != CHUBBY_OK) {
		struct chubby_result r = {.status = CHUBBY_E_INTERNAL, .message = chubby_last_error()};
		walk_fail(o, "stat of", &r);
		wop_end(o);
	}
}

/* Opens PATH (taken over) and reads it. */
static void
walk_open(struct walk *w, char *path)
{
	struct wop *o = xcalloc(1, sizeof *o);
	struct chubby_open_args oa;
	int rc;

	memset(&oa, 0, sizeof oa);
	oa.event_mask = w->watch ? SRC_EVENTS : 0;
	o->w = w;
	o->path = path;
	w->inflight++;
	rc = chubby_handle_open_async(w->sd->c, path, CHUBBY_O_READ, &oa, on_walk_open, o);
	if (rc != CHUBBY_OK) {
		struct chubby_result r = {.status = rc, .message = chubby_last_error()};
		walk_fail(o, "opening", &r);
		wop_end(o);
	}
}

/* Starts queued reads while fewer than WALK_INFLIGHT are out; a stopped
 * run's are dropped (the caller still holds a count, so the walk does not
 * end here). */
static void
walk_pump(struct walk *w)
{
	while (w->qhead < w->qn && w->inflight < WALK_INFLIGHT) {
		char *path = w->queue[w->qhead++];

		if (w->run != w->m->run || w->sd->c == NULL) {
			free(path);
			w->pending--;
			continue;
		}
		walk_open(w, path);
	}
}

/* Reads PATH (and, for a directory, what is below it) as part of W. */
static void
walk_node(struct walk *w, const char *path)
{
	if (w->qn == w->qcap) {
		/* Compact what was taken before growing. */
		if (w->qhead > 0) {
			memmove(w->queue, w->queue + w->qhead,
			    (w->qn - w->qhead) * sizeof *w->queue);
			w->qn -= w->qhead;
			w->qhead = 0;
		}
		if (w->qn == w->qcap) {
			w->qcap = w->qcap ? 2 * w->qcap : 64;
			w->queue = xrealloc(w->queue, w->qcap * sizeof *w->queue);
		}
	}
	w->queue[w->qn++] = xstrdup(path);
	w->pending++;
	walk_pump(w);
}

/* --- reconciling (what to write: mirror_plan.c) ------------------------------------ */

static void
sync_end(struct mirror *m, bool ok)
{
	uint64_t now = clock_mono_ms();

	m->syncing = false;
	ops_free(m);
	if (ok) {
		/* The new watch is the source walk's handles; the old ones go. */
		watch_drop(m);
		m->watch = m->sw->hs;
		m->nwatch = m->sw->nh;
		m->sw->hs = NULL;
		m->sw->nh = 0;
		m->nodes = m->sw->n;
		m->syncs++;
		m->last_sync_mono = now;
		m->last_sync_wall = clock_real_ms();
		m->next_sync_mono = now + MIRROR_RESYNC_MS;
		m->state = m->src.safe && m->loc.safe ? "following" : "connecting";
		m->last_error[0] = '\0';
	} else {
		m->next_sync_mono = now + RETRY_MS;
	}
	m->sync_since = 0;
	walk_free(m->sw, !ok);
	walk_free(m->lw, false);
	m->sw = m->lw = NULL;
	if (ok && m->dirty)
		sync_start(m);
}

static void
on_op_step(chubby_client *c, const struct chubby_result *res, void *arg);

struct opctx {
	struct mirror *m;
	unsigned run;
	int step; /* 0 open, 1 write or delete done */
	chubby_handle *h;
};

static void
op_finish(struct opctx *x, int status, const char *msg)
{
	struct mirror *m = x->m;
	struct mirror_op *op = &m->ops[m->opi];

	if (x->h != NULL)
		chubby_handle_close_async(x->h, ignore_done, NULL);
	free(x);
	if (status != CHUBBY_OK && !(status == CHUBBY_E_NOT_FOUND && op->kind == MIRROR_DELETE)) {
		char what[CONFIG_PATH_MAX + 32];
		snprintf(what, sizeof what, "%s %s",
		    op->kind == MIRROR_DELETE ? "deleting" : op->kind == MIRROR_MKDIR ? "creating" : "writing",
		    op->path);
		fail(m, what, status, msg);
		sync_end(m, false);
		return;
	}
	m->writes += status == CHUBBY_OK;
	m->opi++;
	ops_next(m);
}

static void
on_op_step(chubby_client *c, const struct chubby_result *res, void *arg)
{
	struct opctx *x = arg;
	struct mirror *m = x->m;
	struct mirror_op *op;
	int rc = CHUBBY_OK;

	(void)c;
	if (x->run != m->run || m->loc.c == NULL) {
		free(x); /* stopped: the client took the handle with it */
		return;
	}
	op = &m->ops[m->opi];
	if (res->status != CHUBBY_OK) {
		op_finish(x, res->status, res->message);
		return;
	}
	if (x->step == 0) {
		x->h = res->handle;
		x->step = 1;
		if (op->kind == MIRROR_DELETE)
			rc = chubby_delete_async(x->h, on_op_step, x);
		else if (op->kind == MIRROR_WRITE && !res->created)
			rc = chubby_set_contents_async(x->h, op->data, op->len, on_op_step, x);
		else {
			op_finish(x, CHUBBY_OK, NULL);
			return;
		}
		if (rc != CHUBBY_OK)
			op_finish(x, rc, chubby_last_error());
		return;
	}
	op_finish(x, CHUBBY_OK, NULL);
}

static void
ops_next(struct mirror *m)
{
	struct opctx *x;
	struct mirror_op *op;
	struct chubby_open_args oa;
	unsigned flags;
	int rc;

	if (m->opi == m->nops) {
		sync_end(m, true);
		return;
	}
	op = &m->ops[m->opi];
	memset(&oa, 0, sizeof oa);
	flags = CHUBBY_O_READ | CHUBBY_O_WRITE;
	if (op->kind == MIRROR_MKDIR)
		flags |= CHUBBY_O_CREATE | CHUBBY_O_DIR;
	else if (op->kind == MIRROR_WRITE) {
		flags |= CHUBBY_O_CREATE;
		oa.contents = op->data;
		oa.contents_len = op->len;
	}
	x = xcalloc(1, sizeof *x);
	x->m = m;
	x->run = m->run;
	rc = chubby_handle_open_async(m->loc.c, op->path, flags, &oa, on_op_step, x);
	if (rc != CHUBBY_OK)
		op_finish(x, rc, chubby_last_error());
}

static void
walk_done(struct walk *w)
{
	struct mirror *m = w->m;

	if (m->sw == NULL || m->lw == NULL || m->sw->pending > 0 || m->lw->pending > 0)
		return; /* the other walk is still out */
	if (m->sw->failed || m->lw->failed) {
		struct walk *f = m->sw->failed ? m->sw : m->lw;
		fail(m, f == m->sw ? "reading the source" : "reading the copy", CHUBBY_E_IO, f->err);
		sync_end(m, false);
		return;
	}
	m->nops = mirror_plan(m->cfg->to, m->sw->ents, m->sw->n, m->lw->ents, m->lw->n, &m->ops);
	m->opi = 0;
	ops_next(m);
}

static void
sync_start(struct mirror *m)
{
	if (m->syncing || m->sw != NULL || m->lw != NULL)
		return;
	m->syncing = true;
	if (strcmp(m->state, "following") != 0)
		m->state = "syncing";
	/* This sync copies every change made before it reads: the oldest of
	 * them is what the lag measures until it ends. */
	m->sync_since = m->dirty ? m->dirty_since : clock_mono_ms();
	m->dirty = false;
	m->sw = walk_new(m, &m->src, m->cfg->from, true);
	m->lw = walk_new(m, &m->loc, m->cfg->to, false);
	/* Each walk holds one count of its own until both have started, so
	 * neither looks finished while the other has not begun. */
	m->sw->pending = m->lw->pending = 1;
	walk_node(m->sw, m->cfg->from);
	walk_node(m->lw, m->cfg->to);
	walk_release(m->sw);
	walk_release(m->lw);
}

/* --- the set ------------------------------------------------------------------------------ */

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mirror_set *ms = arg;
	struct chubbyd *d = ms->d;
	bool master = d->replica != NULL && replica_is_master(d->replica);
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < ms->n; i++) {
		struct mirror *m = &ms->m[i];

		if (!master) {
			if (m->running) {
				log_info("mirror %s: stopped (no longer master)", m->cfg->name);
				mirror_stop(m, "standby");
			}
			m->state = "standby";
			m->started_mono = 0;
			continue;
		}
		if (!m->running) {
			if (now >= m->next_sync_mono)
				mirror_start(m);
			continue;
		}
		if (!m->syncing && m->src.safe && m->loc.safe &&
		    (m->dirty || now >= m->next_sync_mono))
			mark_dirty(m);
		arm_all(m);
	}
}

struct mirror_set *
mirror_set_new(struct chubbyd *d)
{
	struct mirror_set *ms;
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

	if (d->cfg->nmirrors == 0)
		return NULL;
	ms = xcalloc(1, sizeof *ms);
	ms->d = d;
	ms->n = d->cfg->nmirrors;
	for (size_t i = 0; i < ms->n; i++) {
		struct mirror *m = &ms->m[i];
		m->set = ms;
		m->cfg = &d->cfg->mirrors[i];
		m->state = "standby";
		m->src.m = m->loc.m = m;
		m->src.timer = evtimer_new(d->base, side_process, &m->src);
		m->loc.timer = evtimer_new(d->base, side_process, &m->loc);
	}
	ms->tick = event_new(d->base, -1, EV_PERSIST, on_tick, ms);
	event_add(ms->tick, &tv);
	return ms;
}

void
mirror_set_free(struct mirror_set *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct mirror *m = &ms->m[i];
		if (m->running)
			mirror_stop(m, "standby");
		event_free(m->src.timer);
		event_free(m->loc.timer);
	}
	event_free(ms->tick);
	free(ms);
}

size_t
mirror_set_info(const struct mirror_set *ms, struct mirror_info *out, size_t max)
{
	uint64_t now = clock_mono_ms();

	if (ms == NULL)
		return 0;
	for (size_t i = 0; i < ms->n && i < max; i++) {
		const struct mirror *m = &ms->m[i];
		struct mirror_info *o = &out[i];
		uint64_t since = 0;

		o->name = m->cfg->name;
		o->source = m->cfg->source;
		o->from = m->cfg->from;
		o->to = m->cfg->to;
		o->state = m->state;
		/* The oldest change not yet copied: the one the running sync
		 * began for, else one seen since; with no sync ever, or the
		 * source out of reach, as old as the last sync. */
		if (m->syncing && m->sync_since != 0)
			since = m->sync_since;
		if (m->dirty && (since == 0 || m->dirty_since < since))
			since = m->dirty_since;
		if (strcmp(m->state, "following") != 0 && m->last_sync_mono != 0 &&
		    (since == 0 || m->last_sync_mono < since))
			since = m->last_sync_mono;
		/* Never synced here (a new master that cannot reach the
		 * source): as old as its attempts. */
		if (strcmp(m->state, "following") != 0 && m->last_sync_mono == 0 &&
		    m->started_mono != 0 && (since == 0 || m->started_mono < since))
			since = m->started_mono;
		o->lag_ms = since != 0 && now > since ? now - since : 0;
		/* Only the master's figure means anything: the others copy
		 * nothing and say 0, so an alert on the lag fires once. */
		if (strcmp(m->state, "standby") == 0)
			o->lag_ms = 0;
		o->last_sync_ms = m->last_sync_wall;
		o->syncs = m->syncs;
		o->errors = m->errors;
		o->nodes = m->nodes;
		o->writes = m->writes;
		o->last_error = m->last_error;
	}
	return ms->n;
}
