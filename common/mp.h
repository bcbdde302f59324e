/*
 * mp.h: checked, typed access to msgpack values (request args, results),
 * and small helpers to pack them.  Every request handler reads its args
 * through these, so a wrong or missing field always yields the same codes
 * and a message naming the key.
 *
 * Conventions:
 *  - MAP may be NULL or nil (a REQ without args): every key is then absent.
 *  - A key whose value is nil counts as absent, so a client may pack nil
 *    for "not given".
 *  - An absent optional key returns CHUBBY_OK and leaves *OUT alone: set
 *    the default before the call.
 *  - Getters return CHUBBY_OK, CHUBBY_E_MISSING (required key absent) or
 *    CHUBBY_E_BAD_TYPE (wrong type or out of range; also when MAP itself is
 *    not a map), and on error write a message naming the key to ERR (which
 *    may be NULL).  mp_get_strdup may also return CHUBBY_E_NOMEM.
 *  - Strings and binaries come back borrowed: pointer and length into the
 *    object's zone, not NUL-terminated, valid while the object lives.
 *  - Map keys are strings; with a key given twice the first one wins
 *    (wire_decode refuses duplicates in a REQ's args).
 */
#ifndef CHUBBY_MP_H
#define CHUBBY_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define MP_OPTIONAL 0
#define MP_REQUIRED 1

/* Borrowed bytes (a msgpack str or bin); not NUL-terminated. */
struct mp_str {
	const char *ptr;
	size_t len;
};

/* "nil", "boolean", "unsigned integer", "negative integer", "float",
 * "string", "binary", "array", "map", "extension"; "nil" for NULL. */
const char *mp_type_name(const msgpack_object *o);
/* The same with an article, for messages: "a string", "an array", "nil". */
const char *mp_type_desc(const msgpack_object *o);

/* Whether O is a string equal to S. */
bool mp_str_eq(const msgpack_object *o, const char *s);

/* The value under string key KEY in MAP, or NULL if MAP is NULL, not a
 * map, or has no such key.  A nil value is returned as is. */
const msgpack_object *mp_map_get(const msgpack_object *map, const char *key);

/* Getters by key; see the conventions above. */
int mp_get_uint(const msgpack_object *map, const char *key, int required, uint64_t *out,
    char *err, size_t errlen);
int mp_get_u32(const msgpack_object *map, const char *key, int required, uint32_t *out,
    char *err, size_t errlen);
int mp_get_int(const msgpack_object *map, const char *key, int required, int64_t *out,
    char *err, size_t errlen);
int mp_get_bool(const msgpack_object *map, const char *key, int required, bool *out,
    char *err, size_t errlen);
int mp_get_str(const msgpack_object *map, const char *key, int required, struct mp_str *out,
    char *err, size_t errlen);
/* A binary; a string is accepted too, as clients in some languages cannot
 * tell the two apart. */
int mp_get_bin(const msgpack_object *map, const char *key, int required, struct mp_str *out,
    char *err, size_t errlen);
/* A string copied into a NUL-terminated malloc'd buffer that the caller
 * frees; refuses a string with a NUL byte inside (CHUBBY_E_BAD_TYPE).
 * *OUT is untouched when an optional key is absent. */
int mp_get_strdup(const msgpack_object *map, const char *key, int required, char **out,
    char *err, size_t errlen);
int mp_get_map(const msgpack_object *map, const char *key, int required,
    const msgpack_object **out, char *err, size_t errlen);
int mp_get_array(const msgpack_object *map, const char *key, int required,
    const msgpack_object **out, char *err, size_t errlen);

/* The same checks on a value already in hand (an array's element, say);
 * WHAT names it in the message ("element 3 of \"names\"").  A NULL or nil
 * O is CHUBBY_E_MISSING. */
int mp_val_uint(const msgpack_object *o, const char *what, uint64_t *out, char *err,
    size_t errlen);
int mp_val_int(const msgpack_object *o, const char *what, int64_t *out, char *err,
    size_t errlen);
int mp_val_bool(const msgpack_object *o, const char *what, bool *out, char *err, size_t errlen);
int mp_val_str(const msgpack_object *o, const char *what, struct mp_str *out, char *err,
    size_t errlen);
int mp_val_bin(const msgpack_object *o, const char *what, struct mp_str *out, char *err,
    size_t errlen);

/*
 * Pack helpers.  Each returns CHUBBY_OK, or CHUBBY_E_NOMEM when the
 * packer refused the bytes.  With a wire_buf the precise error (out of
 * memory, over the frame limit) is kept and reported by wire_finish, so
 * callers may pack a run of fields and check once.  A NULL string packs
 * nil; a string or binary longer than msgpack allows packs nothing and
 * returns CHUBBY_E_LIMIT.
 */
int mp_pack_str(msgpack_packer *pk, const char *s);
int mp_pack_strn(msgpack_packer *pk, const void *p, size_t len);
int mp_pack_bin(msgpack_packer *pk, const void *p, size_t len);
/* One key/value pair of a map being packed (after msgpack_pack_map). */
int mp_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t v);
int mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v);
int mp_pack_kv_bool(msgpack_packer *pk, const char *key, bool v);
int mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *v);
int mp_pack_kv_strn(msgpack_packer *pk, const char *key, const void *p, size_t len);
int mp_pack_kv_bin(msgpack_packer *pk, const char *key, const void *p, size_t len);

#endif
