/* test_logfmt.c: log lines as JSON objects (log_format = json): the
 * fields, escaping, the audit trail's key=value pairs, and log.c writing
 * them to a file that is reopened. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "log.h"
#include "logfmt.h"

/* 2025-12-06T11:07:11Z */
#define T0 1765019231

static void
test_fields(void)
{
	char *l = logfmt_json(T0, 230999999L, "chubbyd[3]", 3, "info", "role master, epoch 7");

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(
	    l, "{\"ts\":\"2025-12-06T11:07:11.230Z\",\"level\":\"info\","
	       "\"prog\":\"chubbyd\",\"replica\":3,\"msg\":\"role master, epoch 7\"}\n");
	free(l);
	/* No replica (a tool), milliseconds padded, no prog. */
	l = logfmt_json(T0, 5000000L, NULL, 0, "warn", "x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l, "{\"ts\":\"2025-12-06T11:07:11.005Z\",\"level\":\"warn\","
	                          "\"msg\":\"x\"}\n");
	free(l);
}

static void
test_escaping(void)
{
	/* Quotes, backslashes, a newline (it must not split the line), a
	 * control byte and bytes that are not UTF-8. */
	char *l = logfmt_json(T0, 0, "chubbyd", 1, "error", "a \"b\" c\\d\ne\x01 \xff\xc3(");

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l, "{\"ts\":\"2025-12-06T11:07:11.000Z\",\"level\":\"error\","
	                          "\"prog\":\"chubbyd\",\"replica\":1,"
	                          "\"msg\":\"a \\\"b\\\" c\\\\d\\ne\\u0001 \\u00ff\\u00c3(\"}\n");
	/* One line: its only newline ends it. */
	CU_ASSERT_PTR_EQUAL(strchr(l, '\n'), l + strlen(l) - 1);
	free(l);
}

static void
test_audit_fields(void)
{
	/* The audit trail's line (server/rpc/audit.c): bare and quoted values,
	 * \" \\ and \xNN escapes. */
	char *l = logfmt_json(
	    T0, 0, "chubbyd[2]", 2, "info",
	    "audit op=SET_ACL principal=alice client=10.0.0.7:51234 path=/ls/prod/app "
	    "outcome=OK acl=\"readers,writers,acl-admins\" message=\"say \\\"hi\\\"\\x0a\\\\ \"");

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l, "{\"ts\":\"2025-12-06T11:07:11.000Z\",\"level\":\"info\","
	                          "\"prog\":\"chubbyd\",\"replica\":2,\"msg\":\"audit\","
	                          "\"op\":\"SET_ACL\",\"principal\":\"alice\","
	                          "\"client\":\"10.0.0.7:51234\",\"path\":\"/ls/prod/app\","
	                          "\"outcome\":\"OK\",\"acl\":\"readers,writers,acl-admins\","
	                          "\"message\":\"say \\\"hi\\\"\\n\\\\ \"}\n");
	free(l);
}

/* Messages that only look like key=value are kept whole. */
static void
test_not_fields(void)
{
	/* Each message, and its text as a JSON string. */
	static const char *const msgs[][2] = {
	    {"audit op=OPEN msg=x", "audit op=OPEN msg=x"}, /* a key the line has */
	    {"audit op=A op=B", "audit op=A op=B"},         /* a key twice */
	    {"audit op=\"open", "audit op=\\\"open"},       /* a quote that does not end */
	    {"audit op=", "audit op="},                     /* no value */
	    {"audit op=a\"b", "audit op=a\\\"b"},           /* a quote in a bare value */
	    {"audit op=a  x=y", "audit op=a  x=y"},         /* an empty key */
	    {"audit Op=a", "audit Op=a"},                   /* keys are lower case */
	    {"audit op=\"a\"b", "audit op=\\\"a\\\"b"},     /* text after a quoted value */
	    {"SIGHUP: logs reopened", "SIGHUP: logs reopened"},
	    {"stopped", "stopped"},
	};

	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		char *l = logfmt_json(T0, 0, NULL, 0, "info", msgs[i][0]);
		char want[256];

		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		snprintf(
		    want, sizeof want,
		    "{\"ts\":\"2025-12-06T11:07:11.000Z\",\"level\":\"info\",\"msg\":\"%s\"}\n",
		    msgs[i][1]);
		CU_ASSERT_STRING_EQUAL(l, want);
		free(l);
	}
}

/* Reads the whole of PATH into a malloc'd string. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* log.c writes JSON lines to its file, and still does after the file was
 * moved away and reopened (logrotate, then SIGHUP). */
static void
test_log_file_reopen(void)
{
	char path[512], moved[512], err[256];
	char *a, *b;

	snprintf(path, sizeof path, "%s/json.log", harness_tmpdir());
	snprintf(moved, sizeof moved, "%s/json.log.1", harness_tmpdir());
	log_init("chubbyd[4]", LOG_LVL_INFO);
	log_set_replica(4);
	log_set_format(LOG_FMT_JSON);
	CU_ASSERT_EQUAL_FATAL(log_use_file(path, err, sizeof err), 0);
	log_info("before \"rotation\"");
	CU_ASSERT_EQUAL(rename(path, moved), 0);
	CU_ASSERT_EQUAL(log_reopen(err, sizeof err), 0);
	log_warn("after rotation");
	log_use_file(NULL, err, sizeof err);
	log_set_format(LOG_FMT_TEXT);
	log_set_replica(0);

	a = slurp(moved);
	b = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	/* The time varies: compare what follows it. */
	CU_ASSERT_EQUAL(strncmp(a, "{\"ts\":\"", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(a,
	                              "Z\",\"level\":\"info\",\"prog\":\"chubbyd\",\"replica\":4,"
	                              "\"msg\":\"before \\\"rotation\\\"\"}\n"));
	CU_ASSERT_EQUAL(strncmp(b, "{\"ts\":\"", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b,
	                              "Z\",\"level\":\"warn\",\"prog\":\"chubbyd\",\"replica\":4,"
	                              "\"msg\":\"after rotation\"}\n"));
	/* One line each. */
	CU_ASSERT_PTR_NOT_NULL(strchr(a, '\n'));
	CU_ASSERT_EQUAL(strchr(a, '\n') - a + 1, (long)strlen(a));
	CU_ASSERT_EQUAL(strchr(b, '\n') - b + 1, (long)strlen(b));
	free(a);
	free(b);
}

static void
test_format_parse(void)
{
	CU_ASSERT_EQUAL(log_format_parse("text"), LOG_FMT_TEXT);
	CU_ASSERT_EQUAL(log_format_parse("json"), LOG_FMT_JSON);
	CU_ASSERT_EQUAL(log_format_parse("JSON"), LOG_FMT_JSON);
	CU_ASSERT_EQUAL(log_format_parse("yaml"), -1);
	CU_ASSERT_EQUAL(log_format_parse(""), -1);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"fields", test_fields},
	    {"escaping", test_escaping},
	    {"audit key=value pairs become fields", test_audit_fields},
	    {"other messages stay whole", test_not_fields},
	    {"a log file, reopened, stays JSON", test_log_file_reopen},
	    {"format names", test_format_parse},
	    {NULL, NULL},
	};
	harness_suite("logfmt", NULL, NULL, tests);
}
