/*
 * mirror.h: subtrees of other cells copied here, read-only (Chubby 2.12:
 * "/ls/global/..." mirrored into every cell).  For each `mirror` line of
 * the config, the master of this cell is a client of the source cell
 * (libchubby's event-loop API, driven from chubbyd's libevent loop): it
 * reads the subtree, watches every directory in it, and on any event,
 * reconnect, source fail-over or every MIRROR_RESYNC_MS re-reads it and
 * reconciles the local copy (creates, updates, deletes).  Local copies are
 * written through this cell's own client port, as a client holding this
 * replica's certificate: the writes go through the log like any other, so
 * local caches and events work, and the request layer lets only a replica
 * write under a mirror's `to` (svc readonly).  Only the master runs the
 * mirrors; a replica that loses mastership stops them, the next master
 * starts them and reconciles from scratch.
 *
 * A client of another cell inside chubbyd: tests/check-layers.sh lets only
 * this module include libchubby's headers.
 */
#ifndef CHUBBY_MIRROR_H
#define CHUBBY_MIRROR_H

#include <stddef.h>
#include <stdint.h>

struct chubbyd;
struct mirror_set;

/* A full re-read even without events: a safety net, cheap for the small
 * subtrees mirrors are for. */
#define MIRROR_RESYNC_MS 30000

/* What /metrics and STATUS report of one mirror. */
struct mirror_info {
	const char *name, *source, *from, *to;
	const char *state;       /* standby (not master), connecting, syncing, following, error */
	uint64_t lag_ms;         /* how old the oldest source change not yet copied may be */
	uint64_t last_sync_ms;   /* wall clock of the last completed sync; 0: none */
	uint64_t syncs, errors;  /* completed syncs, failed ones */
	uint64_t nodes;          /* nodes in the copy after the last sync */
	uint64_t writes;         /* creates, updates and deletes made here */
	const char *last_error;  /* "" if none */
};

/* NULL when the config has no mirror. */
struct mirror_set *mirror_set_new(struct chubbyd *d);
void mirror_set_free(struct mirror_set *ms);
/* Up to MAX mirrors' state into OUT (borrowed until the next loop turn);
 * returns how many there are. */
size_t mirror_set_info(const struct mirror_set *ms, struct mirror_info *out, size_t max);

#endif
