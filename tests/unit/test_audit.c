/* test_audit.c: the audit trail's lines (server/rpc/audit.c) parse back
 * into the keys and values they were given, whatever the values hold. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "log.h"
#include "rpc/audit.h"

static char last[2048];

static void
sink(int level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	snprintf(last, sizeof last, "%s", line);
}

/* A parser as a log reader would write one: KEY=VALUE pairs after
 * "audit", VALUE bare or quoted with \" \\ \xNN.  Finds KEY's value into
 * OUT; 0 if absent or malformed. */
static int
field(const char *line, const char *key, char *out, size_t outlen)
{
	const char *p = line;
	size_t kl = strlen(key);

	if (strncmp(p, "audit", 5) != 0)
		return 0;
	p += 5;
	while (*p == ' ') {
		const char *k = ++p, *eq = strchr(p, '=');
		size_t n = 0;
		int match;

		if (eq == NULL)
			return 0;
		match = (size_t)(eq - k) == kl && strncmp(k, key, kl) == 0;
		p = eq + 1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				char c = *p;
				if (c == '\0')
					return 0;
				if (c == '\\') {
					if (p[1] == 'x') {
						unsigned v;
						if (sscanf(p + 2, "%2x", &v) != 1)
							return 0;
						c = (char)v;
						p += 3;
					} else
						c = *++p;
				}
				if (match && n + 1 < outlen)
					out[n++] = c;
			}
			p++;
		} else {
			for (; *p != ' ' && *p != '\0'; p++)
				if (match && n + 1 < outlen)
					out[n++] = *p;
		}
		if (match) {
			out[n] = '\0';
			return 1;
		}
	}
	return 0;
}

static void
test_line(void)
{
	char v[512], extra[512] = "";

	audit_kv(extra, sizeof extra, "acl", "readers,writers,-");
	audit_log("SET_ACL", "bob", "127.0.0.1:5000", "/ls/local/x", CHUBBY_E_PERMISSION, extra,
	    "no change-ACL permission on /ls/local/x");
	CU_ASSERT_STRING_EQUAL(last, "audit op=SET_ACL principal=bob client=127.0.0.1:5000 "
				     "path=/ls/local/x outcome=E_PERMISSION acl=\"readers,writers,-\" "
				     "message=\"no change-ACL permission on /ls/local/x\"");
	CU_ASSERT(field(last, "acl", v, sizeof v) && strcmp(v, "readers,writers,-") == 0);
	audit_log("SNAPSHOT", "admin", NULL, NULL, CHUBBY_OK, NULL, NULL);
	CU_ASSERT_STRING_EQUAL(last, "audit op=SNAPSHOT principal=admin outcome=OK");
}

/* Names and messages come from clients: a value that looks like more
 * pairs, quotes, backslashes or a newline must not forge a field. */
static void
test_hostile_values(void)
{
	const char *path = "/ls/local/a b\" outcome=OK x=\\\n\x01";
	char v[512];

	audit_log("OPEN", "eve outcome=OK", NULL, path, CHUBBY_E_PERMISSION, NULL, "m \"q\"");
	CU_ASSERT_PTR_NULL(strchr(last, '\n'));
	CU_ASSERT(field(last, "outcome", v, sizeof v) && strcmp(v, "E_PERMISSION") == 0);
	CU_ASSERT(field(last, "path", v, sizeof v) && strcmp(v, path) == 0);
	CU_ASSERT(field(last, "principal", v, sizeof v) && strcmp(v, "eve outcome=OK") == 0);
	CU_ASSERT(field(last, "message", v, sizeof v) && strcmp(v, "m \"q\"") == 0);
	audit_log("OPEN", "", NULL, NULL, CHUBBY_OK, NULL, NULL);
	CU_ASSERT(field(last, "principal", v, sizeof v) && strcmp(v, "") == 0);
}

/* A line cut short at the buffer still ends its quoted value. */
static void
test_cut_short(void)
{
	char small[24] = "", line[40], v[64];

	audit_kv(small, sizeof small, "k", "a value much too long \" for it");
	CU_ASSERT(strlen(small) < sizeof small);
	CU_ASSERT_EQUAL(small[strlen(small) - 1], '"');
	/* As a line (the test once shifted it in place, past its end:
	 * AddressSanitizer's stack-buffer-overflow in the sanitize phase). */
	snprintf(line, sizeof line, "audit%s", small);
	CU_ASSERT(field(line, "k", v, sizeof v));
}

static int
setup(void)
{
	log_set_sink(sink, NULL);
	return 0;
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"a line and its fields", test_line},
	    {"hostile values cannot forge fields", test_hostile_values},
	    {"cut short, still well-formed", test_cut_short},
	    {NULL, NULL},
	};
	harness_suite("audit", setup, NULL, tests);
}
