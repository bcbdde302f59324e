/* mp.c: typed getters over msgpack maps and values, and pack helpers. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "errbuf.h"
#include "mp.h"

static bool
mp_is_nil(const msgpack_object *o)
{
	return o == NULL || o->type == MSGPACK_OBJECT_NIL;
}

const char *
mp_type_name(const msgpack_object *o)
{
	if (o == NULL)
		return "nil";
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "float";
	case MSGPACK_OBJECT_STR:
		return "string";
	case MSGPACK_OBJECT_BIN:
		return "binary";
	case MSGPACK_OBJECT_ARRAY:
		return "array";
	case MSGPACK_OBJECT_MAP:
		return "map";
	case MSGPACK_OBJECT_EXT:
		return "extension";
	}
	return "unknown type";
}

const char *
mp_type_desc(const msgpack_object *o)
{
	if (o == NULL)
		return "nil";
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return "an unsigned integer";
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "a negative integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a string";
	case MSGPACK_OBJECT_BIN:
		return "a binary";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	case MSGPACK_OBJECT_MAP:
		return "a map";
	case MSGPACK_OBJECT_EXT:
		return "an extension";
	}
	return "an unknown type";
}

bool
mp_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	    (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

const msgpack_object *
mp_map_get(const msgpack_object *map, const char *key)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (mp_str_eq(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* The common front of every getter: find KEY, deal with absence.  Returns
 * CHUBBY_OK with *V set when there is a value to convert; CHUBBY_OK with
 * *V NULL when an optional key is absent; an error otherwise. */
static int
mp_lookup(const msgpack_object *map, const char *key, int required, const msgpack_object **v,
    char *err, size_t errlen)
{
	*v = NULL;
	if (!mp_is_nil(map) && map->type != MSGPACK_OBJECT_MAP) {
		errbuf_set(err, errlen, "looking for \"%s\" in %s, expected map", key,
		    mp_type_desc(map));
		return CHUBBY_E_BAD_TYPE;
	}
	*v = mp_map_get(map, key);
	if (mp_is_nil(*v)) {
		*v = NULL;
		if (required) {
			errbuf_set(err, errlen, "\"%s\" is missing", key);
			return CHUBBY_E_MISSING;
		}
	}
	return CHUBBY_OK;
}

static int
mp_bad_type(const msgpack_object *o, const char *what, const char *expected, char *err,
    size_t errlen)
{
	errbuf_set(err, errlen, "%s is %s, expected %s", what, mp_type_desc(o), expected);
	return CHUBBY_E_BAD_TYPE;
}

static int
mp_missing(const char *what, char *err, size_t errlen)
{
	errbuf_set(err, errlen, "%s is missing", what);
	return CHUBBY_E_MISSING;
}

/* msgpack-c may give an empty string or binary a NULL pointer; callers
 * tell "given but empty" from "absent" by the pointer, so never hand one out. */
static const char *
mp_nonnull(const char *p)
{
	return p != NULL ? p : "";
}

int
mp_val_uint(const msgpack_object *o, const char *what, uint64_t *out, char *err, size_t errlen)
{
	if (mp_is_nil(o))
		return mp_missing(what, err, errlen);
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return mp_bad_type(o, what, "unsigned integer", err, errlen);
	*out = o->via.u64;
	return CHUBBY_OK;
}

int
mp_val_int(const msgpack_object *o, const char *what, int64_t *out, char *err, size_t errlen)
{
	if (mp_is_nil(o))
		return mp_missing(what, err, errlen);
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return CHUBBY_OK;
	}
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return mp_bad_type(o, what, "integer", err, errlen);
	if (o->via.u64 > INT64_MAX) {
		errbuf_set(err, errlen, "%s is %" PRIu64 ", out of range for a signed integer", what,
		    o->via.u64);
		return CHUBBY_E_BAD_TYPE;
	}
	*out = (int64_t)o->via.u64;
	return CHUBBY_OK;
}

int
mp_val_bool(const msgpack_object *o, const char *what, bool *out, char *err, size_t errlen)
{
	if (mp_is_nil(o))
		return mp_missing(what, err, errlen);
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return mp_bad_type(o, what, "boolean", err, errlen);
	*out = o->via.boolean;
	return CHUBBY_OK;
}

int
mp_val_str(const msgpack_object *o, const char *what, struct mp_str *out, char *err,
    size_t errlen)
{
	if (mp_is_nil(o))
		return mp_missing(what, err, errlen);
	if (o->type != MSGPACK_OBJECT_STR)
		return mp_bad_type(o, what, "string", err, errlen);
	out->ptr = mp_nonnull(o->via.str.ptr);
	out->len = o->via.str.size;
	return CHUBBY_OK;
}

int
mp_val_bin(const msgpack_object *o, const char *what, struct mp_str *out, char *err,
    size_t errlen)
{
	if (mp_is_nil(o))
		return mp_missing(what, err, errlen);
	if (o->type == MSGPACK_OBJECT_BIN) {
		out->ptr = mp_nonnull(o->via.bin.ptr);
		out->len = o->via.bin.size;
		return CHUBBY_OK;
	}
	if (o->type == MSGPACK_OBJECT_STR) {
		out->ptr = mp_nonnull(o->via.str.ptr);
		out->len = o->via.str.size;
		return CHUBBY_OK;
	}
	return mp_bad_type(o, what, "binary", err, errlen);
}

/* Message subject for key getters: the key, quoted.  Keys are the
 * handlers' own literals, so a small buffer is plenty; a longer one is cut. */
#define MP_WHAT_MAX 80

static const char *
mp_what(char buf[MP_WHAT_MAX], const char *key)
{
	snprintf(buf, MP_WHAT_MAX, "\"%s\"", key);
	return buf;
}

/*
 * mp_get_TYPE: look KEY up in MAP (absent optional keys leave *OUT alone),
 * then check and convert the value with mp_val_TYPE, naming the key in any
 * message.  One body for every scalar type.
 */
#define MP_GETTER(name, type)                                                                   \
	int mp_get_##name(const msgpack_object *map, const char *key, int required, type *out,  \
	    char *err, size_t errlen)                                                           \
	{                                                                                       \
		const msgpack_object *v;                                                        \
		char what[MP_WHAT_MAX];                                                         \
		int rc;                                                                         \
                                                                                                \
		if ((rc = mp_lookup(map, key, required, &v, err, errlen)) != CHUBBY_OK ||       \
		    v == NULL)                                                                  \
			return rc;                                                              \
		return mp_val_##name(v, mp_what(what, key), out, err, errlen);                  \
	}

MP_GETTER(uint, uint64_t)
MP_GETTER(int, int64_t)
MP_GETTER(bool, bool)
MP_GETTER(str, struct mp_str)
MP_GETTER(bin, struct mp_str)

int
mp_get_u32(const msgpack_object *map, const char *key, int required, uint32_t *out,
    char *err, size_t errlen)
{
	const msgpack_object *v;
	char what[MP_WHAT_MAX];
	uint64_t u;
	int rc;

	if ((rc = mp_lookup(map, key, required, &v, err, errlen)) != CHUBBY_OK || v == NULL)
		return rc;
	if ((rc = mp_val_uint(v, mp_what(what, key), &u, err, errlen)) != CHUBBY_OK)
		return rc;
	if (u > UINT32_MAX) {
		errbuf_set(err, errlen, "\"%s\" is %" PRIu64 ", out of range 0..%" PRIu32, key, u,
		    UINT32_MAX);
		return CHUBBY_E_BAD_TYPE;
	}
	*out = (uint32_t)u;
	return CHUBBY_OK;
}

int
mp_get_strdup(const msgpack_object *map, const char *key, int required, char **out, char *err,
    size_t errlen)
{
	struct mp_str s = {NULL, 0};
	char *p;
	int rc;

	if ((rc = mp_get_str(map, key, required, &s, err, errlen)) != CHUBBY_OK || s.ptr == NULL)
		return rc;
	/* A NUL inside would silently cut the string once it is a C string:
	 * a path "/ls/a\0/b" must not become "/ls/a". */
	if (s.len > 0 && memchr(s.ptr, '\0', s.len) != NULL) {
		errbuf_set(err, errlen, "\"%s\" contains a NUL byte", key);
		return CHUBBY_E_BAD_TYPE;
	}
	if ((p = malloc(s.len + 1)) == NULL) {
		errbuf_set(err, errlen, "\"%s\": out of memory", key);
		return CHUBBY_E_NOMEM;
	}
	if (s.len > 0)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	*out = p;
	return CHUBBY_OK;
}

int
mp_get_map(const msgpack_object *map, const char *key, int required,
    const msgpack_object **out, char *err, size_t errlen)
{
	const msgpack_object *v;
	int rc;

	if ((rc = mp_lookup(map, key, required, &v, err, errlen)) != CHUBBY_OK || v == NULL)
		return rc;
	if (v->type != MSGPACK_OBJECT_MAP) {
		errbuf_set(err, errlen, "\"%s\" is %s, expected map", key, mp_type_desc(v));
		return CHUBBY_E_BAD_TYPE;
	}
	*out = v;
	return CHUBBY_OK;
}

int
mp_get_array(const msgpack_object *map, const char *key, int required,
    const msgpack_object **out, char *err, size_t errlen)
{
	const msgpack_object *v;
	int rc;

	if ((rc = mp_lookup(map, key, required, &v, err, errlen)) != CHUBBY_OK || v == NULL)
		return rc;
	if (v->type != MSGPACK_OBJECT_ARRAY) {
		errbuf_set(err, errlen, "\"%s\" is %s, expected array", key, mp_type_desc(v));
		return CHUBBY_E_BAD_TYPE;
	}
	*out = v;
	return CHUBBY_OK;
}

/* msgpack's packers return the write callback's result: non-zero means the
 * buffer could not grow. */
static int
mp_pack_rc(int rc)
{
	return rc == 0 ? CHUBBY_OK : CHUBBY_E_NOMEM;
}

int
mp_pack_strn(msgpack_packer *pk, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		return CHUBBY_E_LIMIT;
	if (msgpack_pack_str(pk, len) != 0)
		return CHUBBY_E_NOMEM;
	return mp_pack_rc(len == 0 ? 0 : msgpack_pack_str_body(pk, p, len));
}

int
mp_pack_str(msgpack_packer *pk, const char *s)
{
	if (s == NULL)
		return mp_pack_rc(msgpack_pack_nil(pk));
	return mp_pack_strn(pk, s, strlen(s));
}

int
mp_pack_bin(msgpack_packer *pk, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		return CHUBBY_E_LIMIT;
	if (msgpack_pack_bin(pk, len) != 0)
		return CHUBBY_E_NOMEM;
	return mp_pack_rc(len == 0 ? 0 : msgpack_pack_bin_body(pk, p, len));
}

int
mp_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_rc(msgpack_pack_uint64(pk, v));
}

int
mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_rc(msgpack_pack_int64(pk, v));
}

int
mp_pack_kv_bool(msgpack_packer *pk, const char *key, bool v)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_rc(v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

int
mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *v)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_str(pk, v);
}

int
mp_pack_kv_strn(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_strn(pk, p, len);
}

int
mp_pack_kv_bin(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
	int rc;

	if ((rc = mp_pack_str(pk, key)) != CHUBBY_OK)
		return rc;
	return mp_pack_bin(pk, p, len);
}
