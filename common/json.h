/*
 * json.h: a small JSON writer for the tools' --json output.  It tracks
 * nesting so commas are never forgotten; strings are escaped per RFC 8259
 * (bytes that are not valid UTF-8 are written as \u00XX escapes of the byte,
 * so any node content can be shown without producing invalid JSON).
 */
#ifndef CHUBBY_JSON_H
#define CHUBBY_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	char *buf;
	size_t len, cap;
	int depth;
	int need_comma[JSON_MAX_DEPTH];
	int after_key;
	int oom;
};

void json_init(struct json *j);
void json_free(struct json *j);
/* The text so far (NUL-terminated); NULL after an allocation failure. */
const char *json_text(struct json *j);

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t n);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* key + value in one call */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_bool(struct json *j, const char *key, int v);

/* Length of the valid UTF-8 sequence at S (at most N bytes, N > 0), 0 if
 * it is not one: overlong forms, surrogates and values past U+10FFFF are
 * not. */
size_t json_utf8_len(const unsigned char *s, size_t n);

#endif
