/* ccache.c: the client's cache of node contents and stats (ccache.h), a pure core. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ccache.h"

/*
 * A list keyed by path: a client caches the few files it reads often, so a
 * list is enough.  The caller serialises calls (libchubby: the client's
 * mutex).  What may be kept and when it must go is the caller's to decide
 * (invalidations, jeopardy, fail-over, own writes); this file only stores.
 */

static void
centry_free(struct centry *e)
{
	free(e->path);
	free(e->data);
	free(e);
}

void
ccache_clear(struct ccache *cc)
{
	while (cc->head != NULL) {
		struct centry *e = cc->head;
		cc->head = e->next;
		centry_free(e);
	}
}

void
ccache_drop(struct ccache *cc, const char *path, size_t pathlen)
{
	for (struct centry **pp = &cc->head; *pp != NULL; pp = &(*pp)->next) {
		struct centry *e = *pp;
		if (strlen(e->path) == pathlen && memcmp(e->path, path, pathlen) == 0) {
			*pp = e->next;
			centry_free(e);
			return;
		}
	}
}

void
ccache_drop_older(struct ccache *cc, const char *path, uint64_t instance)
{
	for (struct centry **pp = &cc->head; *pp != NULL; pp = &(*pp)->next) {
		struct centry *e = *pp;
		if (strcmp(e->path, path) == 0) {
			if (e->st.instance < instance) {
				*pp = e->next;
				centry_free(e);
			}
			return;
		}
	}
}

int
ccache_put(struct ccache *cc, const char *path, const void *data, size_t len,
    const struct chubby_stat *st)
{
	struct centry *e;

	ccache_drop(cc, path, strlen(path));
	if (cc->disabled)
		return CHUBBY_OK;
	if ((e = calloc(1, sizeof *e)) == NULL || (e->path = strdup(path)) == NULL ||
	    (e->data = malloc(len + 1)) == NULL) {
		if (e != NULL) {
			free(e->path);
			free(e);
		}
		return CHUBBY_E_NOMEM;
	}
	if (len > 0)
		memcpy(e->data, data, len);
	((char *)e->data)[len] = '\0';
	e->len = len;
	e->st = *st;
	e->next = cc->head;
	cc->head = e;
	return CHUBBY_OK;
}

int
ccache_get(struct ccache *cc, const char *path, uint64_t instance, void **data, size_t *len,
    struct chubby_stat *st)
{
	if (cc->disabled)
		return CHUBBY_E_NOT_FOUND;
	for (struct centry **pp = &cc->head; *pp != NULL; pp = &(*pp)->next) {
		struct centry *e = *pp;
		if (strcmp(e->path, path) != 0)
			continue;
		/* A path names a node only until it is deleted: a copy of
		 * another instance of the name is not this handle's node.  One
		 * of an older instance is dead weight (its node is gone); one of
		 * a newer instance is left for the handles that opened it (this
		 * handle's node is gone, which the master will say). */
		if (instance == 0 || e->st.instance != instance) {
			if (e->st.instance < instance) {
				*pp = e->next;
				centry_free(e);
			}
			break;
		}
		if ((*data = malloc(e->len + 1)) == NULL)
			return CHUBBY_E_NOMEM;
		memcpy(*data, e->data, e->len + 1);
		*len = e->len;
		if (st != NULL)
			*st = e->st;
		cc->hits++;
		return CHUBBY_OK;
	}
	cc->misses++;
	return CHUBBY_E_NOT_FOUND;
}
