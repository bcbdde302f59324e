/* backup.c: the master's SNAPSHOT answers (backups in chunks) and the seeding of a new cell from a backup. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "backup.h"
#include "backup_file.h"
#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "replica.h"
#include "store/store.h"
#include "xmalloc.h"

/* How many copies the master keeps, and for how long after their last
 * chunk was asked for: long enough for a slow client to fetch the next
 * chunk, short enough that the memory comes back soon. */
#define BACKUP_KEEP 4
#define BACKUP_KEEP_MS 60000
/* Room in a reply frame for everything but the chunk's bytes (the RES
 * envelope, the map's keys, the cell name, the digest). */
#define BACKUP_FRAME_OVERHEAD 1024

struct backup_copy {
	uint8_t *data; /* NULL: slot unused */
	size_t len;
	uint64_t index;
	uint64_t created_ms;
	uint64_t last_used_ms; /* monotonic */
	uint8_t sha256[BACKUP_SHA256_LEN];
};

/* One daemon per process, and the loop is single-threaded: the copies are
 * this module's own. */
static struct backup_copy backup_copies[BACKUP_KEEP];
static struct event *backup_expire_ev;

/* Copies being made in children (backup_take_async). */
struct backup_pending {
	struct chubbyd *d;
	struct bgsnap *bg;
	uint64_t index, started_ms;
	backup_ready_fn ready;
	void *arg;
	struct backup_pending *next;
};
static struct backup_pending *backup_pending_list;

static void
backup_copy_drop(struct backup_copy *c)
{
	free(c->data);
	memset(c, 0, sizeof *c);
}

/* Drops the copies nobody asked for in BACKUP_KEEP_MS; true if some remain. */
static int
backup_sweep(void)
{
	uint64_t now = clock_mono_ms();
	int left = 0;

	for (int i = 0; i < BACKUP_KEEP; i++) {
		struct backup_copy *c = &backup_copies[i];
		if (c->data == NULL)
			continue;
		if (now - c->last_used_ms >= BACKUP_KEEP_MS) {
			log_debug("backup at slot %" PRIu64 " no longer kept", c->index);
			backup_copy_drop(c);
		} else {
			left = 1;
		}
	}
	return left;
}

static void
backup_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {BACKUP_KEEP_MS / 1000 / 4, 0};

	(void)fd;
	(void)what;
	(void)arg;
	if (backup_sweep())
		event_add(backup_expire_ev, &tv);
}

static void
backup_arm(struct chubbyd *d)
{
	struct timeval tv = {BACKUP_KEEP_MS / 1000 / 4, 0};

	if (backup_expire_ev == NULL)
		backup_expire_ev = event_new(d->base, -1, 0, backup_expire_cb, NULL);
	if (backup_expire_ev != NULL && !event_pending(backup_expire_ev, EV_TIMEOUT, NULL))
		event_add(backup_expire_ev, &tv);
}

void
backup_shutdown(void)
{
	while (backup_pending_list != NULL) {
		struct backup_pending *p = backup_pending_list;
		backup_pending_list = p->next;
		bgsnap_cancel(p->bg);
		free(p);
	}
	for (int i = 0; i < BACKUP_KEEP; i++)
		backup_copy_drop(&backup_copies[i]);
	if (backup_expire_ev != NULL) {
		event_free(backup_expire_ev);
		backup_expire_ev = NULL;
	}
}

static struct backup_copy *
backup_find(uint64_t index)
{
	for (int i = 0; i < BACKUP_KEEP; i++)
		if (backup_copies[i].data != NULL && backup_copies[i].index == index)
			return &backup_copies[i];
	return NULL;
}

static struct backup_copy *backup_store(uint64_t index, uint8_t *data, size_t len,
    const uint8_t *sha);

/* A new copy of the applied state; reuses the kept one at the same index
 * (nothing applied since: the same bytes). */
static int
backup_take(struct chubbyd *d, struct backup_copy **out, char *msg, size_t msglen)
{
	uint8_t *data;
	size_t len;
	uint64_t index;
	int rc;

	rc = replica_backup(d->replica, &data, &len, &index);
	if (rc != CHUBBY_OK) {
		snprintf(msg, msglen, "cannot take a backup: %s", chubby_strerror(rc));
		return rc;
	}
	if (index == 0) {
		free(data);
		snprintf(msg, msglen, "the master has applied nothing yet; retry in a moment");
		return CHUBBY_E_UNAVAILABLE;
	}
	*out = backup_store(index, data, len, NULL);
	return CHUBBY_OK;
}

/* Keeps copy DATA (taken over) of slot INDEX, with its SHA-256 if SHA is
 * not NULL (else computed here); reuses a kept copy with the same bytes. */
static struct backup_copy *
backup_store(uint64_t index, uint8_t *data, size_t len, const uint8_t *sha)
{
	struct backup_copy *c, *victim = NULL;

	if ((c = backup_find(index)) != NULL && c->len == len && memcmp(c->data, data, len) == 0) {
		free(data);
		return c;
	}
	if (c == NULL) {
		/* An unused slot, else the least recently used one. */
		for (int i = 0; i < BACKUP_KEEP; i++) {
			struct backup_copy *k = &backup_copies[i];
			if (k->data == NULL) {
				victim = k;
				break;
			}
			if (victim == NULL || k->last_used_ms < victim->last_used_ms)
				victim = k;
		}
		c = victim;
	}
	backup_copy_drop(c);
	c->data = data;
	c->len = len;
	c->index = index;
	c->created_ms = clock_real_ms();
	c->last_used_ms = clock_mono_ms();
	if (sha != NULL)
		memcpy(c->sha256, sha, BACKUP_SHA256_LEN);
	else
		backup_sha256(data, len, c->sha256);
	return c;
}

/* In the child: the backup kind of snapshot, its SHA-256 in front. */
static int
backup_work(const struct cell *cell, uint8_t **out, size_t *len)
{
	uint8_t *data = NULL;
	size_t n = 0;
	int rc;

	if ((rc = cell_snapshot(cell, CELL_SNAP_BACKUP, &data, &n)) != CHUBBY_OK)
		return rc;
	*out = xmalloc(BACKUP_SHA256_LEN + n);
	backup_sha256(data, n, *out);
	memcpy(*out + BACKUP_SHA256_LEN, data, n);
	*len = BACKUP_SHA256_LEN + n;
	free(data);
	return CHUBBY_OK;
}

static void
backup_done(int status, uint8_t *data, size_t len, const char *why, void *arg)
{
	struct backup_pending *p = arg, **pp;
	char msg[256];

	for (pp = &backup_pending_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (status != CHUBBY_OK || len < BACKUP_SHA256_LEN) {
		snprintf(msg, sizeof msg, "cannot take a backup: %s", why != NULL ? why : "short");
		free(data);
		p->ready(CHUBBY_E_INTERNAL, msg, 0, p->arg);
	} else {
		size_t n = len - BACKUP_SHA256_LEN;
		uint8_t *copy = xmalloc(n ? n : 1);

		memcpy(copy, data + BACKUP_SHA256_LEN, n);
		backup_store(p->index, copy, n, data);
		free(data);
		backup_arm(p->d);
		log_info("backup at slot %" PRIu64 ": %zu bytes, serialised off the loop in %" PRIu64
			 " ms", p->index, n, clock_mono_ms() - p->started_ms);
		p->ready(CHUBBY_OK, NULL, p->index, p->arg);
	}
	free(p);
}

int
backup_take_async(struct chubbyd *d, backup_ready_fn ready, void *arg, char *msg, size_t msglen)
{
	struct backup_pending *p = xcalloc(1, sizeof *p);
	char err[256];
	int rc;

	backup_sweep();
	p->d = d;
	p->ready = ready;
	p->arg = arg;
	p->started_ms = clock_mono_ms();
	rc = replica_backup_start(d->replica, backup_work, backup_done, p, &p->bg, &p->index, err,
	    sizeof err);
	if (rc != CHUBBY_OK) {
		if (rc == CHUBBY_E_UNAVAILABLE)
			snprintf(msg, msglen, "the master has applied nothing yet; retry in a moment");
		else
			snprintf(msg, msglen, "cannot take a backup: %s",
			    rc == CHUBBY_E_INTERNAL ? err : chubby_strerror(rc));
		free(p);
		return rc;
	}
	p->next = backup_pending_list;
	backup_pending_list = p;
	return CHUBBY_OK;
}

int
backup_chunk(struct chubbyd *d, const char *who, uint64_t index, uint64_t offset, uint64_t max,
    struct backup_chunk *out, char *msg, size_t msglen)
{
	struct backup_copy *c;
	uint64_t cap;
	size_t n;
	int rc;

	backup_sweep();
	if (index == 0) {
		if (offset != 0) {
			snprintf(msg, msglen, "offset %" PRIu64 " without the index of a backup",
			    offset);
			return CHUBBY_E_INVALID;
		}
		if ((rc = backup_take(d, &c, msg, msglen)) != CHUBBY_OK)
			return rc;
	} else if ((c = backup_find(index)) == NULL) {
		snprintf(msg, msglen, "the backup at slot %" PRIu64 " is no longer kept here (copies "
				      "are kept %d s after their last chunk, on the master that took "
				      "them); start the backup again",
		    index, BACKUP_KEEP_MS / 1000);
		return CHUBBY_E_NOT_FOUND;
	}
	if (offset > c->len) {
		snprintf(msg, msglen, "offset %" PRIu64 " is past the backup's %zu bytes", offset,
		    c->len);
		return CHUBBY_E_INVALID;
	}
	cap = d->cfg->max_frame > 2 * BACKUP_FRAME_OVERHEAD
	    ? d->cfg->max_frame - BACKUP_FRAME_OVERHEAD
	    : d->cfg->max_frame / 2;
	if (max != 0 && max < cap)
		cap = max;
	n = c->len - (size_t)offset;
	if (n > cap)
		n = (size_t)cap;
	c->last_used_ms = clock_mono_ms();
	backup_arm(d);

	out->index = c->index;
	out->total = c->len;
	out->offset = offset;
	out->data = c->data + offset;
	out->len = n;
	out->digest = c->sha256;
	out->digest_len = BACKUP_SHA256_LEN;
	out->created_ms = c->created_ms;
	if (offset == 0)
		log_info("backup at slot %" PRIu64 " (%zu bytes) asked for by %s", c->index, c->len,
		    who);
	return CHUBBY_OK;
}

int
backup_restore(struct chubbyd *d, const char *file, char *err, size_t errlen)
{
	struct backup_info info;
	struct store_identity ident;
	struct store *st = NULL;
	struct paxos_persist p;
	uint8_t *body = NULL;
	size_t len = 0;
	char why[512];
	int rc;

	if ((rc = backup_file_read(file, &info, &body, &len, err, errlen)) != CHUBBY_OK)
		return rc;
	if (strcmp(info.cell, d->cfg->cell) != 0) {
		snprintf(err, errlen, "%s is a backup of cell \"%s\", but %s describes cell \"%s\"; "
				      "a backup restores only a cell of the same name",
		    file, info.cell, d->config_path, d->cfg->cell);
		rc = CHUBBY_E_CONFIG;
		goto out;
	}
	if ((rc = replica_check_snapshot(d, body, len, info.index, why, sizeof why)) != CHUBBY_OK) {
		snprintf(err, errlen, "%s: %s", file, why);
		goto out;
	}
	if ((rc = store_open(d->data_dir, &st, why, sizeof why)) != CHUBBY_OK) {
		snprintf(err, errlen, "--restore needs an empty data directory, and %s is not "
				      "usable: %s", d->data_dir, why);
		goto out;
	}
	store_identity(st, &ident);
	if (ident.initialized) {
		snprintf(err, errlen, "%s already holds replica %u of cell \"%s\": --restore only "
				      "seeds a new cell's empty data directory (move it away first)",
		    d->data_dir, ident.id, ident.cell);
		rc = CHUBBY_E_EXISTS;
		goto out;
	}
	/* A founding member (it votes from the start, as with --init), then
	 * the state as the snapshot Paxos installs at START.  Two synced
	 * writes: a crash between them leaves an initialized empty store, and
	 * a second --restore refuses it, so the operator starts over. */
	if ((rc = store_init(st, d->cfg->cell, d->id, true, why, sizeof why)) != CHUBBY_OK) {
		snprintf(err, errlen, "%s: %s", d->data_dir, why);
		goto out;
	}
	memset(&p, 0, sizeof p);
	p.set_snapshot = true;
	p.snap_index = info.index;
	p.snap.data = body;
	p.snap.len = len;
	if ((rc = store_persist(st, &p, why, sizeof why)) != CHUBBY_OK) {
		snprintf(err, errlen, "%s: cannot write the restored state: %s", d->data_dir, why);
		goto out;
	}
	log_info("restored %s into %s: cell \"%s\" at slot %" PRIu64 ", %zu bytes of state",
	    file, d->data_dir, info.cell, info.index, len);
out:
	store_close(st);
	free(body);
	return rc;
}
