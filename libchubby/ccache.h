/*
 * ccache.h: the client's cache of node contents and stats (Chubby §2.9),
 * keyed by path and served only for the node instance a handle opened.  A
 * pure core (docs/STYLE.md "Pure cores", tests/check-pure.sh): it stores,
 * nothing more; what may be kept and when it must go (invalidations,
 * jeopardy, fail-over, the client's own writes) is decided by its caller,
 * libchubby's loop (client_loop.c, under the client's mutex) or the
 * whole-cell simulator's client (tests/wsim), which run the same code.
 */
#ifndef CHUBBY_CCACHE_H
#define CHUBBY_CCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <chubby/chubby.h>

struct centry {
	struct centry *next;
	char *path;
	void *data;
	size_t len;
	struct chubby_stat st;
};

struct ccache {
	struct centry *head;
	bool disabled; /* jeopardy: neither served nor filled */
	uint64_t hits, misses;
};

void ccache_clear(struct ccache *cc);
void ccache_drop(struct ccache *cc, const char *path, size_t pathlen);
/* Drops PATH's entry if it describes a node older than INSTANCE (instance
 * numbers come from a cell-wide counter, docs/NAMESPACE.md): that node was
 * deleted, and nothing will ever invalidate its copy. */
void ccache_drop_older(struct ccache *cc, const char *path, uint64_t instance);
/* Copies DATA and ST in; CHUBBY_E_NOMEM leaves the cache without it. */
int ccache_put(struct ccache *cc, const char *path, const void *data, size_t len,
    const struct chubby_stat *st);
/* A malloc'd copy (NUL after LEN) and the stat of PATH's entry if it is of
 * node INSTANCE (0: unknown, never served), or CHUBBY_E_NOT_FOUND. */
int ccache_get(struct ccache *cc, const char *path, uint64_t instance, void **data, size_t *len,
    struct chubby_stat *st);

#endif
