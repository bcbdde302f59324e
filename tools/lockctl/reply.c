/*
 * reply.c: how lockctl's session commands answer: one JSON object, one
 * "ok key=value ..." line in scripted mode, or text for a person; the
 * quoting that makes scripted lines splittable with the same rules as the
 * commands that produced them; hex; and a small option parser shared by
 * one-shot and scripted mode.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <chubby/chubby.h>

#include "json.h"
#include "lockctl.h"
#include "xmalloc.h"

void
lockctl_buf_add(struct lockctl_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
lockctl_buf_printf(struct lockctl_buf *b, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fprintf(stderr, "lockctl: out of memory\n");
		abort();
	}
	lockctl_buf_add(b, s, (size_t)n);
	free(s);
}

static int
safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-_./:=@%+,^~", c) != NULL;
}

void
lockctl_buf_quote(struct lockctl_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	bool bare = n > 0 && s[0] != '#';

	for (size_t i = 0; i < n && bare; i++)
		bare = safe_char(s[i]) && s[i] != '\0';
	if (bare) {
		lockctl_buf_add(b, s, n);
		return;
	}
	lockctl_buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		switch (c) {
		case '"': lockctl_buf_add(b, "\\\"", 2); break;
		case '\\': lockctl_buf_add(b, "\\\\", 2); break;
		case '\n': lockctl_buf_add(b, "\\n", 2); break;
		case '\t': lockctl_buf_add(b, "\\t", 2); break;
		case '\r': lockctl_buf_add(b, "\\r", 2); break;
		default:
			/* ASCII only, so a line is a line whatever the bytes. */
			if (c < 0x20 || c >= 0x7f)
				lockctl_buf_printf(b, "\\x%02x", c);
			else
				lockctl_buf_add(b, &c, 1);
		}
	}
	lockctl_buf_add(b, "\"", 1);
}

void
lockctl_buf_free(struct lockctl_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
reply_begin(struct lockctl *lc, struct reply *r)
{
	memset(r, 0, sizeof *r);
	r->lc = lc;
	json_init(&r->j);
	json_obj_begin(&r->j);
	json_kv_bool(&r->j, "ok", 1);
	lockctl_buf_add(&r->words, "ok", 2);
}

static void
reply_kv_word(struct reply *r, const char *key, const void *p, size_t n)
{
	lockctl_buf_printf(&r->words, " %s=", key);
	/* key= followed by an empty quoted string stays one word: key="" */
	lockctl_buf_quote(&r->words, p, n);
}

void
reply_str(struct reply *r, const char *key, const char *v)
{
	reply_bin(r, key, v, strlen(v));
}

void
reply_bin(struct reply *r, const char *key, const void *p, size_t n)
{
	json_key(&r->j, key);
	json_strn(&r->j, p, n);
	reply_kv_word(r, key, p, n);
	lockctl_buf_printf(&r->human, "%s ", key);
	lockctl_buf_add(&r->human, p, n);
	lockctl_buf_add(&r->human, "\n", 1);
}

int
lockctl_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0, l; i < n; i += l)
		if ((l = json_utf8_len(s + i, n - i)) == 0)
			return 0;
	return 1;
}

char *
lockctl_base64(const void *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = tab[s[i] >> 2];
		*o++ = tab[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*o++ = tab[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*o++ = tab[s[i + 2] & 63];
	}
	if (i < n) {
		*o++ = tab[s[i] >> 2];
		if (i + 1 < n) {
			*o++ = tab[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*o++ = tab[(s[i + 1] & 15) << 2];
		} else {
			*o++ = tab[(s[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

void
lockctl_json_contents(struct json *j, const char *key, const void *p, size_t n)
{
	char k[64];
	char *b64;

	/* A JSON string holds text: bytes that are not UTF-8 would come out
	 * as \u00XX, the same as the characters U+0080..U+00FF.  So they go as
	 * KEY_b64 (RFC 4648 base64) instead, and KEY is left out. */
	if (lockctl_utf8_valid(p, n)) {
		json_key(j, key);
		json_strn(j, p, n);
		return;
	}
	snprintf(k, sizeof k, "%s_b64", key);
	b64 = lockctl_base64(p, n);
	json_kv_str(j, k, b64);
	free(b64);
}

void
reply_contents(struct reply *r, const char *key, const void *p, size_t n)
{
	lockctl_json_contents(&r->j, key, p, n);
	/* The scripted line quotes any byte (\xHH): binary-safe already. */
	reply_kv_word(r, key, p, n);
	lockctl_buf_printf(&r->human, "%s ", key);
	lockctl_buf_add(&r->human, p, n);
	lockctl_buf_add(&r->human, "\n", 1);
}

void
lockctl_iso8601(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000u);
	struct tm tm;
	char s[40];

	if (gmtime_r(&t, &tm) == NULL || strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s.%03uZ", s, (unsigned)(ms % 1000u));
}

/* KEY_ms as it is and KEY in ISO 8601 UTC beside it (0 stays 0: none). */
static void
reply_time(struct reply *r, const char *key, uint64_t ms)
{
	char k[64], iso[48];

	snprintf(k, sizeof k, "%s_ms", key);
	reply_uint(r, k, ms);
	if (ms == 0)
		return;
	lockctl_iso8601(ms, iso, sizeof iso);
	reply_str(r, key, iso);
}

void
reply_uint(struct reply *r, const char *key, uint64_t v)
{
	json_kv_uint(&r->j, key, v);
	lockctl_buf_printf(&r->words, " %s=%llu", key, (unsigned long long)v);
	lockctl_buf_printf(&r->human, "%s %llu\n", key, (unsigned long long)v);
}

void
reply_bool(struct reply *r, const char *key, int v)
{
	json_kv_bool(&r->j, key, v);
	lockctl_buf_printf(&r->words, " %s=%s", key, v ? "true" : "false");
	lockctl_buf_printf(&r->human, "%s %s\n", key, v ? "true" : "false");
}

void
reply_word(struct reply *r, const void *p, size_t n)
{
	lockctl_buf_add(&r->words, " ", 1);
	lockctl_buf_quote(&r->words, p, n);
}

void
reply_human(struct reply *r, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	if (!r->custom_human) {
		r->custom_human = 1;
		r->human.len = 0;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	lockctl_buf_add(&r->human, s, (size_t)n);
	free(s);
}

void
reply_human_bin(struct reply *r, const void *p, size_t n)
{
	if (!r->custom_human) {
		r->custom_human = 1;
		r->human.len = 0;
	}
	lockctl_buf_add(&r->human, p, n);
}

int
reply_end(struct reply *r)
{
	struct lockctl *lc = r->lc;

	json_obj_end(&r->j);
	if (lc->json) {
		const char *t = json_text(&r->j);
		if (t == NULL) {
			fprintf(stderr, "lockctl: out of memory\n");
			abort();
		}
		lockctl_emit(t, strlen(t));
		lockctl_emit("\n", 1);
	} else if (lc->script) {
		lockctl_buf_add(&r->words, "\n", 1);
		lockctl_emit(r->words.p, r->words.len);
	} else if (r->human.len > 0) {
		lockctl_emit(r->human.p, r->human.len);
	}
	json_free(&r->j);
	lockctl_buf_free(&r->words);
	lockctl_buf_free(&r->human);
	return LOCKCTL_EXIT_OK;
}

void
reply_abort(struct reply *r)
{
	json_free(&r->j);
	lockctl_buf_free(&r->words);
	lockctl_buf_free(&r->human);
}

int
lockctl_usage(struct lockctl *lc, const char *bad)
{
	const struct lockctl_cmd *cmd = lockctl_find(lc->cmd);

	return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "%s%susage: %s %s",
	    bad != NULL && *bad != '\0' ? bad : "", bad != NULL && *bad != '\0' ? ": " : "",
	    cmd != NULL ? cmd->name : lc->cmd, cmd != NULL ? cmd->args : "");
}

const char *
lockctl_mode_name(int mode)
{
	switch (mode) {
	case 0: return "free";
	case CHUBBY_LOCK_SHARED: return "shared";
	case CHUBBY_LOCK_EXCLUSIVE: return "exclusive";
	default: return "unknown";
	}
}

void
reply_stat(struct reply *r, const struct chubby_stat *st)
{
	static const char *const aclkey[3] = {"acl_read", "acl_write", "acl_change"};
	char sum[24];

	reply_str(r, "type", st->is_dir ? "directory" : "file");
	reply_bool(r, "ephemeral", st->ephemeral);
	reply_uint(r, "instance", st->instance);
	reply_uint(r, "content_generation", st->content_gen);
	reply_uint(r, "lock_generation", st->lock_gen);
	reply_uint(r, "acl_generation", st->acl_gen);
	snprintf(sum, sizeof sum, "%016llx", (unsigned long long)st->checksum);
	reply_str(r, "checksum", sum);
	reply_uint(r, "length", st->length);
	reply_time(r, "created", st->created_ms);
	reply_time(r, "modified", st->modified_ms);
	reply_str(r, "lock_mode", lockctl_mode_name(st->lock_mode));
	reply_uint(r, "lock_holders", st->lock_holders);
	reply_time(r, "lock_delay_until", st->lock_delay_until_ms);
	for (int i = 0; i < 3; i++)
		reply_str(r, aclkey[i], st->acl[i]);
}

char *
lockctl_hex(const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *s = p;
	char *h = xmalloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		h[2 * i] = digits[s[i] >> 4];
		h[2 * i + 1] = digits[s[i] & 15];
	}
	h[2 * n] = '\0';
	return h;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
lockctl_unhex(const char *s, void **out, size_t *outlen)
{
	size_t n = strlen(s);
	unsigned char *b;

	if (n == 0 || n % 2 != 0)
		return -1;
	b = xmalloc(n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = b;
	*outlen = n / 2;
	return 0;
}

void
lockctl_opts_init(struct lockctl_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->argc = argc;
	o->argv = argv;
}

int
lockctl_opts_next(struct lockctl_opts *o, const char *spec, const char *const *longs,
    const char *longcodes)
{
	while (o->i < o->argc) {
		char *a = o->argv[o->i++];
		const char *sp;

		o->arg = NULL;
		if (o->done || a[0] != '-' || a[1] == '\0') {
			/* "-" alone is a positional argument (put's "stdin"). */
			if (o->npos < (int)(sizeof o->pos / sizeof o->pos[0]))
				o->pos[o->npos++] = a;
			else
				o->toomany = 1;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			o->done = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t nl = eq ? (size_t)(eq - name) : strlen(name);
			for (int k = 0; longs != NULL && longs[k] != NULL; k++) {
				size_t ll = strlen(longs[k]);
				int takes = ll > 0 && longs[k][ll - 1] == '=';
				if (takes)
					ll--;
				if (ll != nl || strncmp(longs[k], name, nl) != 0)
					continue;
				if (takes) {
					if (eq != NULL)
						o->arg = eq + 1;
					else if (o->i < o->argc)
						o->arg = o->argv[o->i++];
					else
						break;
				} else if (eq != NULL) {
					break;
				}
				return (unsigned char)longcodes[k];
			}
			snprintf(o->bad, sizeof o->bad, "%s", a);
			return '?';
		}
		/* One short option per word (-s -t 100, or -t100). */
		sp = strchr(spec, a[1]);
		if (sp == NULL || a[1] == ':') {
			snprintf(o->bad, sizeof o->bad, "%s", a);
			return '?';
		}
		if (sp[1] == ':') {
			if (a[2] != '\0')
				o->arg = a + 2;
			else if (o->i < o->argc)
				o->arg = o->argv[o->i++];
			else {
				snprintf(o->bad, sizeof o->bad, "%s (needs a value)", a);
				return '?';
			}
		} else if (a[2] != '\0') {
			snprintf(o->bad, sizeof o->bad, "%s", a);
			return '?';
		}
		return (unsigned char)a[1];
	}
	return 0;
}

int
lockctl_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}
