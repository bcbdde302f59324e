/* json.c: a nesting-aware JSON writer into a growable string. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void
json_init(struct json *j)
{
	memset(j, 0, sizeof *j);
}

void
json_free(struct json *j)
{
	free(j->buf);
	memset(j, 0, sizeof *j);
}

const char *
json_text(struct json *j)
{
	if (j->oom)
		return NULL;
	return j->buf != NULL ? j->buf : "";
}

static void
json_put(struct json *j, const char *s, size_t n)
{
	if (j->oom)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 128;
		while (cap < j->len + n + 1)
			cap *= 2;
		char *b = realloc(j->buf, cap);
		if (b == NULL) {
			j->oom = 1;
			return;
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void
json_puts(struct json *j, const char *s)
{
	json_put(j, s, strlen(s));
}

/* Before any value: a comma if a sibling came first (not after a key). */
static void
json_value_sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0) {
		if (j->need_comma[j->depth - 1])
			json_put(j, ",", 1);
		j->need_comma[j->depth - 1] = 1;
	}
}

static void
json_open(struct json *j, const char *c)
{
	json_value_sep(j);
	json_puts(j, c);
	if (j->depth < JSON_MAX_DEPTH)
		j->need_comma[j->depth] = 0;
	j->depth++;
}

static void
json_close(struct json *j, const char *c)
{
	if (j->depth > 0)
		j->depth--;
	json_puts(j, c);
}

void json_obj_begin(struct json *j) { json_open(j, "{"); }
void json_obj_end(struct json *j) { json_close(j, "}"); }
void json_arr_begin(struct json *j) { json_open(j, "["); }
void json_arr_end(struct json *j) { json_close(j, "]"); }

size_t
json_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void
json_escaped(struct json *j, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	json_put(j, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char ch = p[i];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			json_put(j, esc, 2);
			i++;
		} else if (ch == '\n') {
			json_put(j, "\\n", 2);
			i++;
		} else if (ch == '\t') {
			json_put(j, "\\t", 2);
			i++;
		} else if (ch == '\r') {
			json_put(j, "\\r", 2);
			i++;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			json_put(j, esc, 6);
			i++;
		} else {
			size_t ul = json_utf8_len(p + i, n - i);
			if (ul == 0) {
				snprintf(esc, sizeof esc, "\\u%04x", ch);
				json_put(j, esc, 6);
				i++;
			} else {
				json_put(j, (const char *)p + i, ul);
				i += ul;
			}
		}
	}
	json_put(j, "\"", 1);
}

void
json_key(struct json *j, const char *key)
{
	json_value_sep(j);
	json_escaped(j, key, strlen(key));
	json_put(j, ":", 1);
	j->after_key = 1;
}

void
json_str(struct json *j, const char *s)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_strn(j, s, strlen(s));
}

void
json_strn(struct json *j, const char *s, size_t n)
{
	json_value_sep(j);
	json_escaped(j, s, n);
}

void
json_uint(struct json *j, uint64_t v)
{
	char b[32];
	json_value_sep(j);
	snprintf(b, sizeof b, "%" PRIu64, v);
	json_puts(j, b);
}

void
json_int(struct json *j, int64_t v)
{
	char b[32];
	json_value_sep(j);
	snprintf(b, sizeof b, "%" PRId64, v);
	json_puts(j, b);
}

void
json_double(struct json *j, double v)
{
	char b[64];
	json_value_sep(j);
	snprintf(b, sizeof b, "%.6g", v);
	json_puts(j, b);
}

void
json_bool(struct json *j, int v)
{
	json_value_sep(j);
	json_puts(j, v ? "true" : "false");
}

void
json_null(struct json *j)
{
	json_value_sep(j);
	json_puts(j, "null");
}

void json_kv_str(struct json *j, const char *k, const char *s) { json_key(j, k); json_str(j, s); }
void json_kv_uint(struct json *j, const char *k, uint64_t v) { json_key(j, k); json_uint(j, v); }
void json_kv_int(struct json *j, const char *k, int64_t v) { json_key(j, k); json_int(j, v); }
void json_kv_bool(struct json *j, const char *k, int v) { json_key(j, k); json_bool(j, v); }
