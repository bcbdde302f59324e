/* client_leader_async.c: chubby_elect_async and chubby_leader_async, leader election on an async client as a chain of the library's own completions. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "client_int.h"
#include "lasterr.h"

/*
 * The steps are chubby_elect's and chubby_leader's (client.c), each an
 * async call whose completion queues the next; the application's
 * completion runs once, at the end, from inside chubby_process (or
 * chubby_close, cancelled).  A step that fails, or cannot be queued (the
 * client closing), closes the handle the chain opened before reporting,
 * so that a failed election never leaves its lock held, as chubby_elect
 * steps down.  A handle close that cannot be queued needs nothing more:
 * only a client closing or without a session refuses it, and its handles
 * are gone at the master already or go with chubby_close.
 */
struct cl_chain {
	chubby_done_fn done;
	void *arg;
	char *path;
	char *identity;      /* elect: what it writes; NULL for leader */
	unsigned timeout_ms; /* elect: the acquire's limit */
	bool watch;          /* leader: keep the handle for the caller */
	chubby_handle *h;
	uint64_t lock_gen;   /* the lock's generation from the stat step */
	char *who;           /* leader: the identity found, NUL-terminated; NULL: nobody */
	size_t wholen;
	int status;          /* the failure being reported after the close */
	char message[600];
};

static void
chain_free(struct cl_chain *ch)
{
	free(ch->path);
	free(ch->identity);
	free(ch->who);
	free(ch);
}

/* Tells the application and frees CH.  H: the handle to hand over (NULL
 * unless the chain succeeded and keeps it). */
static void
chain_finish(chubby_client *c, struct cl_chain *ch, int status, chubby_handle *h)
{
	struct chubby_result res;

	memset(&res, 0, sizeof res);
	res.status = status;
	res.message = status == CHUBBY_OK ? "" : ch->message;
	res.handle = h;
	if (status == CHUBBY_OK && ch->who != NULL) {
		res.data = ch->who;
		res.len = ch->wholen;
	}
	lasterr_clear();
	if (status != CHUBBY_OK)
		lasterr_set(status, "%s", ch->message);
	ch->done(c, &res, ch->arg);
	chain_free(ch);
}

static void
chain_closed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;

	(void)r; /* the step's failure is what is reported, not the close's */
	chain_finish(c, ch, ch->status, NULL);
}

/* A step failed with STATUS (MESSAGE, or the last error): close the
 * chain's handle, if any, then report. */
static void
chain_fail(chubby_client *c, struct cl_chain *ch, int status, const char *message)
{
	snprintf(ch->message, sizeof ch->message, "%s",
	    message != NULL && message[0] != '\0' ? message : chubby_last_error());
	ch->status = status;
	if (ch->h != NULL) {
		chubby_handle *h = ch->h;

		ch->h = NULL;
		if (chubby_handle_close_async(h, chain_closed, ch) == CHUBBY_OK)
			return;
	}
	chain_finish(c, ch, status, NULL);
}

/* A step's call returned RC: if it was not queued, the chain ends here. */
static void
chain_queued(chubby_client *c, struct cl_chain *ch, int rc)
{
	if (rc != CHUBBY_OK)
		chain_fail(c, ch, rc, NULL);
}

/* ---- elect: open, acquire, stat, write the leader record ---- */

static void
elect_written(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;
	chubby_handle *h = ch->h;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	ch->h = NULL;
	chain_finish(c, ch, CHUBBY_OK, h);
}

static void
elect_stat(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;
	size_t len = 0;
	char *rec;
	int rc;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	if ((rec = cl_leader_record(ch->identity, r->stat->lock_gen, &len)) == NULL)
		return chain_fail(c, ch, CHUBBY_E_NOMEM, "chubby_elect_async: out of memory");
	/* A lock record: the cell clears it when the lock is freed. */
	rc = cl_set_contents_async(ch->h, rec, len, false, 0, true, elect_written,
	    ch); /* REC is copied */
	free(rec);
	chain_queued(c, ch, rc);
}

static void
elect_acquired(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	chain_queued(c, ch, chubby_get_stat_async(ch->h, elect_stat, ch));
}

static void
elect_opened(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	ch->h = r->handle;
	chain_queued(c, ch,
	    chubby_acquire_async(ch->h, CHUBBY_LOCK_EXCLUSIVE, ch->timeout_ms, elect_acquired, ch));
}

static struct cl_chain *
chain_new(const char *path, const char *identity, chubby_done_fn done, void *arg)
{
	struct cl_chain *ch = calloc(1, sizeof *ch);

	if (ch == NULL || (ch->path = strdup(path)) == NULL ||
	    (identity != NULL && (ch->identity = strdup(identity)) == NULL)) {
		if (ch != NULL)
			chain_free(ch);
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", path);
		return NULL;
	}
	ch->done = done;
	ch->arg = arg;
	return ch;
}

int
chubby_elect_async(chubby_client *c, const char *path, const char *identity,
    unsigned timeout_ms, chubby_done_fn done, void *arg)
{
	struct cl_chain *ch;
	int rc;

	if ((rc = cl_check_elect(c, path, identity, "chubby_elect_async")) != CHUBBY_OK)
		return rc;
	if (done == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: no completion given", path);
		return CHUBBY_E_INVALID;
	}
	if ((ch = chain_new(path, identity, done, arg)) == NULL)
		return CHUBBY_E_NOMEM;
	ch->timeout_ms = timeout_ms;
	rc = chubby_handle_open_async(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE,
	    NULL, elect_opened, ch);
	if (rc != CHUBBY_OK)
		chain_free(ch); /* not queued: the caller is told, DONE never runs */
	return rc;
}

/* ---- leader: open, stat, read the record ---- */

/* The answer is known: hand over the watch handle, or close it first. */
static void
leader_done(chubby_client *c, struct cl_chain *ch);

static void
leader_closed(chubby_client *c, const struct chubby_result *r, void *arg)
{
	(void)r; /* the answer is known; a failed close changes nothing of it */
	chain_finish(c, arg, CHUBBY_OK, NULL);
}

static void
leader_done(chubby_client *c, struct cl_chain *ch)
{
	chubby_handle *h = ch->h;

	ch->h = NULL;
	if (ch->watch)
		return chain_finish(c, ch, CHUBBY_OK, h);
	if (chubby_handle_close_async(h, leader_closed, ch) != CHUBBY_OK)
		chain_finish(c, ch, CHUBBY_OK, NULL);
}

static void
leader_read(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;
	uint64_t gen;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	if ((ch->who = malloc(r->len + 1)) == NULL)
		return chain_fail(c, ch, CHUBBY_E_NOMEM, "chubby_leader_async: out of memory");
	memcpy(ch->who, r->data, r->len);
	ch->who[r->len] = '\0';
	ch->wholen = r->len;
	/* A record of another generation names a leader that is gone: the
	 * holder now has not written its own yet (chubby_leader). */
	if (ch->wholen == 0) {
		free(ch->who); /* an empty file names nobody (chubby_leader) */
		ch->who = NULL;
	} else if (cl_leader_record_parse(ch->who, ch->wholen, &gen)) {
		if (gen != ch->lock_gen) {
			free(ch->who);
			ch->who = NULL;
		} else {
			ch->wholen = strlen(ch->who);
		}
	}
	leader_done(c, ch);
}

static void
leader_stat(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	if (r->stat->lock_mode != CHUBBY_LOCK_EXCLUSIVE)
		return leader_done(c, ch); /* nobody leads */
	ch->lock_gen = r->stat->lock_gen;
	chain_queued(c, ch, chubby_get_contents_async(ch->h, leader_read, ch));
}

static void
leader_opened(chubby_client *c, const struct chubby_result *r, void *arg)
{
	struct cl_chain *ch = arg;

	if (r->status != CHUBBY_OK)
		return chain_fail(c, ch, r->status, r->message);
	ch->h = r->handle;
	/* Lock state is never cached: ask the master whether anyone leads. */
	chain_queued(c, ch, chubby_get_stat_async(ch->h, leader_stat, ch));
}

int
chubby_leader_async(chubby_client *c, const char *path, bool watch, chubby_done_fn done,
    void *arg)
{
	struct chubby_open_args oa;
	struct cl_chain *ch;
	int rc;

	lasterr_clear();
	if (c == NULL || path == NULL || done == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_leader_async: %s",
		    done == NULL ? "no completion given" : "NULL argument");
		return CHUBBY_E_INVALID;
	}
	if ((ch = chain_new(path, NULL, done, arg)) == NULL)
		return CHUBBY_E_NOMEM;
	ch->watch = watch;
	memset(&oa, 0, sizeof oa);
	if (watch)
		oa.event_mask = CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) |
		    CHUBBY_EVMASK(CHUBBY_EV_LOCK_ACQUIRED);
	rc = chubby_handle_open_async(c, path, CHUBBY_O_READ, &oa, leader_opened, ch);
	if (rc != CHUBBY_OK)
		chain_free(ch);
	return rc;
}
