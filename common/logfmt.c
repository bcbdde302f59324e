/* logfmt.c: a log line as one JSON object (see logfmt.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "logfmt.h"

#define LOGFMT_MAX_FIELDS 32
#define LOGFMT_MAX_KEY 63

/* One KEY=VALUE of a message: the key and the value's raw text (quotes
 * and escapes still in it). */
struct logfmt_field {
	const char *key, *val;
	size_t keylen, vallen;
	int quoted;
};

static int
logfmt_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* The fields the line itself has: a message's key may not take them. */
static int
logfmt_reserved(const char *k, size_t n)
{
	static const char *const names[] = {"ts", "level", "prog", "replica", "msg"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
			return 1;
	return 0;
}

/*
 * Splits "WORD KEY=VALUE..." into WORD's length and the fields; 0 unless
 * the whole message has that form (then it is logged as plain text).
 */
static int
logfmt_split(const char *msg, size_t *wordlen, struct logfmt_field *f, size_t *nf)
{
	const char *p = msg;
	size_t n = 0;

	while (logfmt_key_char(*p))
		p++;
	if (p == msg || *p != ' ')
		return 0;
	*wordlen = (size_t)(p - msg);
	while (*p == ' ') {
		const char *k = ++p;

		while (logfmt_key_char(*p))
			p++;
		if (p == k || *p != '=' || (size_t)(p - k) > LOGFMT_MAX_KEY ||
		    n == LOGFMT_MAX_FIELDS || logfmt_reserved(k, (size_t)(p - k)))
			return 0;
		f[n].key = k;
		f[n].keylen = (size_t)(p - k);
		for (size_t i = 0; i < n; i++)
			if (f[i].keylen == f[n].keylen && memcmp(f[i].key, k, f[n].keylen) == 0)
				return 0;
		p++;
		f[n].quoted = *p == '"';
		if (f[n].quoted) {
			f[n].val = ++p;
			for (; *p != '"'; p++) {
				if (*p == '\0')
					return 0;
				if (*p == '\\' && *++p == '\0')
					return 0;
			}
			f[n].vallen = (size_t)(p - f[n].val);
			p++;
		} else {
			f[n].val = p;
			while (*p != ' ' && *p != '\0' && *p != '"')
				p++;
			f[n].vallen = (size_t)(p - f[n].val);
			if (f[n].vallen == 0 || *p == '"')
				return 0;
		}
		n++;
	}
	if (*p != '\0')
		return 0;
	*nf = n;
	return 1;
}

static int
logfmt_hex(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* A quoted value's bytes: \" and \\ are the character, \xNN the byte. */
static void
logfmt_unquote(struct json *j, const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL) {
		json_strn(j, s, n); /* the raw text, escapes and all */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' &&
		    (hi = logfmt_hex(s[i + 2])) >= 0 && (lo = logfmt_hex(s[i + 3])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else if (s[i] == '\\' && i + 1 < n) {
			out[o++] = s[++i];
		} else {
			out[o++] = s[i];
		}
	}
	json_strn(j, out, o);
	free(out);
}

char *
logfmt_json(int64_t ts_sec, long ts_nsec, const char *prog, unsigned replica, const char *level,
            const char *msg)
{
	struct logfmt_field f[LOGFMT_MAX_FIELDS];
	size_t wordlen = 0, nf = 0;
	time_t t = (time_t)ts_sec;
	struct tm tm;
	char stamp[48], date[32];
	const char *text;
	char *line;
	size_t len;
	struct json j;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp, sizeof stamp, "%s.%03ldZ", date,
	         ts_nsec >= 0 && ts_nsec < 1000000000L ? ts_nsec / 1000000L : 0L);
	json_init(&j);
	json_obj_begin(&j);
	json_kv_str(&j, "ts", stamp);
	json_kv_str(&j, "level", level);
	if (prog != NULL) {
		const char *b = strchr(prog, '[');
		json_key(&j, "prog");
		json_strn(&j, prog, b != NULL ? (size_t)(b - prog) : strlen(prog));
	}
	if (replica != 0)
		json_kv_uint(&j, "replica", replica);
	if (logfmt_split(msg, &wordlen, f, &nf)) {
		json_key(&j, "msg");
		json_strn(&j, msg, wordlen);
		for (size_t i = 0; i < nf; i++) {
			char key[LOGFMT_MAX_KEY + 1];

			memcpy(key, f[i].key, f[i].keylen);
			key[f[i].keylen] = '\0';
			json_key(&j, key);
			if (f[i].quoted)
				logfmt_unquote(&j, f[i].val, f[i].vallen);
			else
				json_strn(&j, f[i].val, f[i].vallen);
		}
	} else {
		json_kv_str(&j, "msg", msg);
	}
	json_obj_end(&j);
	if ((text = json_text(&j)) == NULL || (line = malloc((len = strlen(text)) + 2)) == NULL) {
		json_free(&j);
		return NULL;
	}
	memcpy(line, text, len);
	memcpy(line + len, "\n", 2);
	json_free(&j);
	return line;
}
