/* client_cache.c: the client's cache of file contents and metadata (Chubby 2.9), kept valid by the master's invalidations. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "mp.h"

/*
 * A list keyed by path: a client caches the few files it reads often, so a
 * list is enough.  The caller holds the client's mutex.  What may be kept
 * and when it must go is decided by client_loop.c (invalidations, jeopardy,
 * fail-over, own writes); this file only stores.
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

int
cl_parse_stat(const msgpack_object *o, struct chubby_stat *st)
{
	const msgpack_object *acl = NULL;
	uint64_t mode = 0;
	int rc = CHUBBY_OK;

	memset(st, 0, sizeof *st);
	if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
		return CHUBBY_E_BAD_TYPE;
#define CL_U(key, field)                                                                   \
	if (rc == CHUBBY_OK)                                                               \
	rc = mp_get_uint(o, key, MP_OPTIONAL, &st->field, NULL, 0)
	CL_U("instance", instance);
	CL_U("content_gen", content_gen);
	CL_U("lock_gen", lock_gen);
	CL_U("acl_gen", acl_gen);
	CL_U("checksum", checksum);
	CL_U("length", length);
	CL_U("created_ms", created_ms);
	CL_U("modified_ms", modified_ms);
	CL_U("lock_holders", lock_holders);
	CL_U("lock_delay_until_ms", lock_delay_until_ms);
#undef CL_U
	if (rc == CHUBBY_OK)
		rc = mp_get_bool(o, "is_dir", MP_OPTIONAL, &st->is_dir, NULL, 0);
	if (rc == CHUBBY_OK)
		rc = mp_get_bool(o, "ephemeral", MP_OPTIONAL, &st->ephemeral, NULL, 0);
	if (rc == CHUBBY_OK)
		rc = mp_get_uint(o, "lock_mode", MP_OPTIONAL, &mode, NULL, 0);
	st->lock_mode = mode <= 2 ? (int)mode : 0;
	if (rc == CHUBBY_OK)
		rc = mp_get_array(o, "acl", MP_OPTIONAL, &acl, NULL, 0);
	if (rc == CHUBBY_OK && acl != NULL) {
		for (uint32_t i = 0; i < acl->via.array.size && i < 3; i++) {
			struct mp_str s;
			if (mp_val_str(&acl->via.array.ptr[i], "acl", &s, NULL, 0) != CHUBBY_OK)
				continue; /* nil: open to all */
			if (s.len >= sizeof st->acl[i])
				s.len = sizeof st->acl[i] - 1;
			memcpy(st->acl[i], s.ptr, s.len);
			st->acl[i][s.len] = '\0';
		}
	}
	return rc;
}
