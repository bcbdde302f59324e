/* client_cache.c: what the client's cache (ccache.c, a pure core) needs of the wire: a stat map parsed. */
#include "config.h"

#include <string.h>

#include "client_int.h"
#include "mp.h"

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
