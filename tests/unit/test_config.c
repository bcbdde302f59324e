/* test_config.c: the cell config parser, its messages, and the docs made from its table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "harness.h"
#include "log.h"

#define R1 "replica 1 client=127.0.0.11:7001 peer=127.0.0.11:7101 status=127.0.0.11:7201\n"
#define R2 "replica 2 client=127.0.0.12:7001 peer=127.0.0.12:7101 status=127.0.0.12:7201\n"
#define R3 "replica 3 client=127.0.0.13:7001 peer=127.0.0.13:7101 status=127.0.0.13:7201\n"
#define R4 "replica 4 client=127.0.0.14:7001 peer=127.0.0.14:7101 status=127.0.0.14:7201\n"
#define R5 "replica 5 client=127.0.0.15:7001 peer=127.0.0.15:7101 status=127.0.0.15:7201\n"

static char err[CONFIG_ERR_MAX];

static int
parse(const char *text, struct cell_config **cfg)
{
	memset(err, 'x', sizeof err - 1);
	err[sizeof err - 1] = '\0';
	return config_parse_string(text, "t.conf", cfg, err, sizeof err);
}

/* TEXT must be refused with exactly MSG. */
static void
expect_error_at(const char *text, const char *msg, int line)
{
	struct cell_config *cfg = (struct cell_config *)&cfg; /* must be reset to NULL */
	int r = parse(text, &cfg);

	CU_ASSERT_EQUAL(r, CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	if (strcmp(err, msg) != 0)
		fprintf(stderr, "\n  line %d: expected: %s\n  line %d: got:      %s\n", line, msg,
		        line, err);
	CU_ASSERT_STRING_EQUAL(err, msg);
	config_free(cfg);
}
#define expect_error(text, msg) expect_error_at((text), (msg), __LINE__)

/* TEXT must be refused with a message starting with PREFIX. */
static void
expect_error_prefix_at(const char *text, const char *prefix, int line)
{
	struct cell_config *cfg = NULL;
	int r = parse(text, &cfg);

	CU_ASSERT_EQUAL(r, CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fprintf(stderr, "\n  line %d: expected prefix: %s\n  line %d: got: %s\n", line,
		        prefix, line, err);
	CU_ASSERT_NSTRING_EQUAL(err, prefix, strlen(prefix));
	config_free(cfg);
}
#define expect_error_prefix(text, prefix) expect_error_prefix_at((text), (prefix), __LINE__)

static struct cell_config *
expect_ok_at(const char *text, int line)
{
	struct cell_config *cfg = NULL;
	int r = parse(text, &cfg);

	if (r != CHUBBY_OK)
		fprintf(stderr, "\n  line %d: unexpected error: %s\n", line, err);
	CU_ASSERT_EQUAL(r, CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	return cfg;
}
#define expect_ok(text) expect_ok_at((text), __LINE__)

static char *
write_file(const char *name, const void *data, size_t len)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", harness_tmpdir(), name) < 0)
		abort();
	f = fopen(path, "wb");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* The whole of PATH, NUL-terminated, or NULL. */
static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 4096;
			buf = realloc(buf, cap + 1);
			CU_ASSERT_FATAL(buf != NULL);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* --- Good files. -------------------------------------------------------- */

static void
test_one_replica(void)
{
	struct cell_config *cfg = expect_ok("cell = one\n" R1);

	if (cfg == NULL)
		return;
	CU_ASSERT_STRING_EQUAL(cfg->source, "t.conf");
	CU_ASSERT_STRING_EQUAL(cfg->cell, "one");
	CU_ASSERT_EQUAL(cfg->nreplicas, 1);
	CU_ASSERT_EQUAL(cfg->replicas[0].id, 1);
	CU_ASSERT_STRING_EQUAL(cfg->replicas[0].client_addr, "127.0.0.11:7001");
	CU_ASSERT_STRING_EQUAL(cfg->replicas[0].peer_addr, "127.0.0.11:7101");
	CU_ASSERT_STRING_EQUAL(cfg->replicas[0].status_addr, "127.0.0.11:7201");
	CU_ASSERT_STRING_EQUAL(cfg->warnings, "");
	config_free(cfg);
}

static void
test_three_and_five_replicas(void)
{
	struct cell_config *cfg = expect_ok(R3 R1 R2);

	if (cfg != NULL) {
		CU_ASSERT_EQUAL(cfg->nreplicas, 3);
		/* File order is kept; lookup is by id. */
		CU_ASSERT_EQUAL(cfg->replicas[0].id, 3);
		CU_ASSERT_PTR_EQUAL(config_replica(cfg, 1), &cfg->replicas[1]);
		CU_ASSERT_STRING_EQUAL(config_replica(cfg, 2)->peer_addr, "127.0.0.12:7101");
		CU_ASSERT_PTR_NULL(config_replica(cfg, 4));
		CU_ASSERT_PTR_NULL(config_replica(cfg, 0));
		CU_ASSERT_STRING_EQUAL(cfg->warnings, "");
	}
	config_free(cfg);
	cfg = expect_ok(R1 R2 R3 R4 R5);
	if (cfg != NULL) {
		CU_ASSERT_EQUAL(cfg->nreplicas, 5);
		CU_ASSERT_EQUAL(config_replica(cfg, 5)->id, 5);
	}
	config_free(cfg);
}

static void
test_even_count_warns(void)
{
	struct cell_config *cfg = expect_ok(R1 R2 R3 R4);

	if (cfg != NULL) {
		CU_ASSERT_EQUAL(cfg->nreplicas, 4);
		CU_ASSERT_STRING_EQUAL(
		    cfg->warnings,
		    "t.conf: 4 replicas survive no more failures than 3; an odd number is better");
	}
	config_free(cfg);
}

static void
check_defaults(const struct cell_config *cfg)
{
	CU_ASSERT_STRING_EQUAL(cfg->cell, "local");
	CU_ASSERT_STRING_EQUAL(cfg->superuser, "admin");
	CU_ASSERT_STRING_EQUAL(cfg->acl_dir, "/ls/local/acl");
	CU_ASSERT_STRING_EQUAL(cfg->data_dir, "/var/lib/chubby/replica-%i");
	CU_ASSERT_STRING_EQUAL(cfg->tls_ca, "/etc/chubby/ca.crt");
	CU_ASSERT_STRING_EQUAL(cfg->tls_cert, "/etc/chubby/replica-%i.crt");
	CU_ASSERT_STRING_EQUAL(cfg->tls_key, "/etc/chubby/replica-%i.key");
	CU_ASSERT_STRING_EQUAL(cfg->client_tls_cert, "");
	CU_ASSERT_STRING_EQUAL(cfg->client_tls_key, "");
	CU_ASSERT_STRING_EQUAL(cfg->sequencer_key_file, "");
	CU_ASSERT_EQUAL(cfg->master_lease_ms, 600);
	CU_ASSERT_EQUAL(cfg->master_lease_renew_ms, 300);
	CU_ASSERT_EQUAL(cfg->clock_drift_ppm, 1000);
	CU_ASSERT_EQUAL(cfg->clock_margin_ms, 50);
	CU_ASSERT_EQUAL(cfg->election_timeout_ms, 100);
	CU_ASSERT_EQUAL(cfg->heartbeat_interval_ms, 50);
	CU_ASSERT_EQUAL(cfg->session_lease_ms, 12000);
	CU_ASSERT_EQUAL(cfg->grace_period_ms, 45000);
	CU_ASSERT_EQUAL(cfg->lock_delay_ms, 15000);
	CU_ASSERT_EQUAL(cfg->lock_delay_max_ms, 60000);
	CU_ASSERT_EQUAL(cfg->max_contents, 256 * 1024);
	CU_ASSERT_EQUAL(cfg->max_frame, 1024 * 1024);
	CU_ASSERT_EQUAL(cfg->max_sessions, 10000);
	CU_ASSERT_EQUAL(cfg->max_handles_per_session, 1000);
	CU_ASSERT_EQUAL(cfg->max_connections, 10000);
	CU_ASSERT_EQUAL(cfg->snapshot_interval, 10000);
	CU_ASSERT_EQUAL(cfg->batch_max, 64);
	CU_ASSERT_EQUAL(cfg->pipeline_max, 8);
	CU_ASSERT_EQUAL(cfg->log_keep, 1000);
	CU_ASSERT_EQUAL(cfg->checksum_interval, 1000);
	CU_ASSERT_EQUAL(cfg->log_level, LOG_LVL_INFO);
	CU_ASSERT_EQUAL(cfg->use_syslog, 0);
}

static void
test_defaults(void)
{
	struct cell_config *cfg = expect_ok("# nothing but a replica\n\n" R1);

	if (cfg != NULL)
		check_defaults(cfg);
	config_free(cfg);

	cfg = config_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	check_defaults(cfg);
	CU_ASSERT_EQUAL(cfg->nreplicas, 0);
	CU_ASSERT_PTR_NULL(cfg->source);
	config_free(cfg);
	config_free(NULL);
}

static void
test_every_option(void)
{
	struct cell_config *cfg;

	/* Every option at once, all in range, but breaking one rule. */
	expect_error("cell = prod-1_x\n"
	             "superuser = \"Root Admin\"\n"
	             "acl_dir = sys/acl\n"
	             "data_dir = /srv/r%i/100%%\n"
	             "tls_ca = /c/ca.pem\n"
	             "tls_cert = /c/%i.pem\n"
	             "tls_key = /c/%i.key\n"
	             "client_tls_cert = /c/admin.pem\n"
	             "client_tls_key = /c/admin.key\n"
	             "sequencer_key_file = /c/seq.key\n"
	             "master_lease = 2m\n"
	             "master_lease_renew = 1500ms\n"
	             "clock_drift_ppm = 0\n"
	             "clock_margin = 0s\n"
	             "election_timeout = 3s\n"
	             "heartbeat_interval = 1s\n"
	             "session_lease = 10m\n"
	             "grace_period = 10m\n"
	             "lock_delay = 0ms\n"
	             "lock_delay_max = 1m\n"
	             "max_contents = 1MiB\n"
	             "max_frame = 2MiB\n"
	             "max_sessions = 7\n"
	             "max_handles_per_session = 8\n"
	             "max_connections = 9\n"
	             "snapshot_interval = 100\n"
	             "batch_max = 1\n"
	             "pipeline_max = 1024\n"
	             "checksum_interval = 0\n"
	             "log_level = DEBUG\n"
	             "syslog = on\n" R1,
	             "t.conf: grace_period (10m) must be longer than session_lease (10m)");
	cfg = expect_ok("cell = prod-1_x\n"
	                "superuser = \"Root Admin\"\n"
	                "acl_dir = sys/acl\n"
	                "data_dir = /srv/r%i/100%%\n"
	                "client_tls_cert = /c/admin.pem\n"
	                "client_tls_key = /c/admin.key\n"
	                "sequencer_key_file = /c/seq.key\n"
	                "master_lease = 2m\n"
	                "master_lease_renew = 1500ms\n"
	                "clock_drift_ppm = 0\n"
	                "clock_margin = 0s\n"
	                "election_timeout = 3s\n"
	                "heartbeat_interval = 1s\n"
	                "session_lease = 10m\n"
	                "grace_period = 1h\n"
	                "lock_delay = 0ms\n"
	                "max_contents = 1MiB\n"
	                "max_frame = 1052672\n"
	                "max_sessions = 7\n"
	                "checksum_interval = 0\n"
	                "log_level = DEBUG\n"
	                "syslog = on\n" R1);
	if (cfg == NULL)
		return;
	CU_ASSERT_STRING_EQUAL(cfg->cell, "prod-1_x");
	CU_ASSERT_STRING_EQUAL(cfg->superuser, "Root Admin");
	CU_ASSERT_STRING_EQUAL(cfg->acl_dir, "/ls/prod-1_x/sys/acl");
	CU_ASSERT_STRING_EQUAL(cfg->data_dir, "/srv/r%i/100%%");
	CU_ASSERT_STRING_EQUAL(cfg->client_tls_cert, "/c/admin.pem");
	CU_ASSERT_STRING_EQUAL(cfg->sequencer_key_file, "/c/seq.key");
	CU_ASSERT_EQUAL(cfg->master_lease_ms, 120000);
	CU_ASSERT_EQUAL(cfg->master_lease_renew_ms, 1500);
	CU_ASSERT_EQUAL(cfg->clock_drift_ppm, 0);
	CU_ASSERT_EQUAL(cfg->clock_margin_ms, 0);
	CU_ASSERT_EQUAL(cfg->session_lease_ms, 10 * 60 * 1000);
	CU_ASSERT_EQUAL(cfg->grace_period_ms, 3600 * 1000);
	CU_ASSERT_EQUAL(cfg->lock_delay_ms, 0);
	CU_ASSERT_EQUAL(cfg->max_contents, 1024 * 1024);
	CU_ASSERT_EQUAL(cfg->max_frame, 1024 * 1024 + 4096);
	CU_ASSERT_EQUAL(cfg->max_sessions, 7);
	CU_ASSERT_EQUAL(cfg->checksum_interval, 0);
	CU_ASSERT_EQUAL(cfg->log_level, LOG_LVL_DEBUG);
	CU_ASSERT_EQUAL(cfg->use_syslog, 1);
	config_free(cfg);
}

static void
test_units_and_booleans(void)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} durations[] = {
	    {"250ms", 250}, {"7s", 7000}, {"2m", 120000}, {"5 s", 5000}, {"0001s", 1000},
	};
	static const struct {
		const char *text;
		uint64_t bytes;
	} sizes[] = {
	    {"4096", 4096},
	    {"5000B", 5000},
	    {"2KiB", 2048},
	    {"3MiB", 3 << 20},
	};
	static const struct {
		const char *text;
		int value;
	} bools[] = {
	    {"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1}, {"off", 0}, {"YES", 1},
	};
	char text[512];
	struct cell_config *cfg;

	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		snprintf(text, sizeof text, "session_lease = %s\ngrace_period = 1h\n" R1,
		         durations[i].text);
		if ((cfg = expect_ok(text)) != NULL)
			CU_ASSERT_EQUAL(cfg->session_lease_ms, durations[i].ms);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		snprintf(text, sizeof text, "max_contents = %s\nmax_frame = 8MiB\n" R1,
		         sizes[i].text);
		if ((cfg = expect_ok(text)) != NULL)
			CU_ASSERT_EQUAL(cfg->max_contents, sizes[i].bytes);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		snprintf(text, sizeof text, "syslog = %s\n" R1, bools[i].text);
		if ((cfg = expect_ok(text)) != NULL)
			CU_ASSERT_EQUAL(cfg->use_syslog, bools[i].value);
		config_free(cfg);
	}
}

static void
test_syntax_details(void)
{
	struct cell_config *cfg;

	/* Comments, blank lines, tabs, CR LF, no final newline, no spaces round "=". */
	cfg = expect_ok("  # indented comment\r\n"
	                "\t\r\n"
	                "cell=tabs\t# trailing comment\r\n"
	                "superuser = a#b\r\n"
	                "tls_ca = \"/a path/with # and \\\"quotes\\\" and \\\\\"  # comment\r\n"
	                "client_tls_cert = \"\"\n"
	                "client_tls_key=\"\"\n"
	                "replica 1 status=[::1]:3 client=host-a.example.com:1  peer=h:2 # comment");
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->cell, "tabs");
		CU_ASSERT_STRING_EQUAL(cfg->superuser, "a#b");
		CU_ASSERT_STRING_EQUAL(cfg->tls_ca, "/a path/with # and \"quotes\" and \\");
		CU_ASSERT_STRING_EQUAL(cfg->client_tls_cert, "");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].client_addr, "host-a.example.com:1");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].peer_addr, "h:2");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].status_addr, "[::1]:3");
	}
	config_free(cfg);
}

static void
test_acl_dir(void)
{
	struct cell_config *cfg;

	cfg = expect_ok("cell = c\nacl_dir = /ls/c/x/y\n" R1);
	if (cfg != NULL)
		CU_ASSERT_STRING_EQUAL(cfg->acl_dir, "/ls/c/x/y");
	config_free(cfg);
	/* The default follows the cell's name, wherever "cell" is in the file. */
	cfg = expect_ok(R1 "cell = late\n");
	if (cfg != NULL)
		CU_ASSERT_STRING_EQUAL(cfg->acl_dir, "/ls/late/acl");
	config_free(cfg);
	expect_error("cell = c\nacl_dir = /ls/d/acl\n" R1,
	             "t.conf: acl_dir: \"/ls/d/acl\" is not under /ls/c/");
	expect_error(
	    "acl_dir = a/../b\n" R1,
	    "t.conf: acl_dir: \"a/../b\" is not a clean name (empty, \".\" or \"..\" part)");
	expect_error("acl_dir = a//b\n" R1,
	             "t.conf: acl_dir: \"a//b\" is not a clean name (empty, \".\" or \"..\" part)");
	expect_error(
	    "acl_dir = /ls/local/\n" R1,
	    "t.conf: acl_dir: \"/ls/local/\" is not a clean name (empty, \".\" or \"..\" part)");
}

/* --- Errors on one line. ------------------------------------------------ */

static void
test_unknown_option(void)
{
	expect_error(R1 "sesion_lease = 12s\n",
	             "t.conf:2: unknown option \"sesion_lease\" (did you mean \"session_lease\"?)");
	expect_error("Master_Lease = 1s\n",
	             "t.conf:1: unknown option \"Master_Lease\" (did you mean \"master_lease\"?)");
	expect_error(
	    "session-lease = 1s\n",
	    "t.conf:1: unknown option \"session-lease\" (did you mean \"session_lease\"?)");
	expect_error("replicas 1 client=a:1\n",
	             "t.conf:1: unknown option \"replicas\" (did you mean \"replica\"?)");
	expect_error("frobnicate = 1\n", "t.conf:1: unknown option \"frobnicate\"");
	expect_error("x = 1\n", "t.conf:1: unknown option \"x\"");
}

static void
test_missing_equals(void)
{
	expect_error("\n\ncell local\n", "t.conf:3: cell: missing \"=\" (use \"cell = VALUE\")");
	expect_error("cell\n", "t.conf:1: cell: missing \"=\" (use \"cell = VALUE\")");
	expect_error("cell: local\n", "t.conf:1: cell: missing \"=\" (use \"cell = VALUE\")");
	expect_error(
	    "= local\n",
	    "t.conf:1: expected \"NAME = VALUE\" or \"replica ID client=HOST:PORT peer=HOST:PORT "
	    "status=HOST:PORT\"");
	expect_error("foo: bar\n", "t.conf:1: unexpected \":\" after \"foo\"");
	expect_error("cell =\n", "t.conf:1: cell: missing value");
	expect_error("cell = # comment\n", "t.conf:1: cell: missing value");
	expect_error("client_tls_cert =\n",
	             "t.conf:1: client_tls_cert: missing value (write \"\" for none)");
	expect_error("cell = \"\"\n", "t.conf:1: cell: must not be empty");
	expect_error("cell = \"local\n", "t.conf:1: cell: no closing quote");
	expect_error("cell = \"local\" x\n",
	             "t.conf:1: cell: unexpected text after the closing quote");
	expect_error("cell = \"lo\\ncal\"\n",
	             "t.conf:1: cell: unknown escape \"\\n\" (only \\\\ and \\\" are known)");
}

static void
test_bad_durations(void)
{
	expect_error("\n\n\n\n\n\nmaster_lease = 10\n",
	             "t.conf:7: master_lease: \"10\" has no unit (use ms, s, m or h)");
	expect_error(
	    "master_lease = 10x\n",
	    "t.conf:1: master_lease: \"10x\" has an unknown unit \"x\" (use ms, s, m or h)");
	expect_error(
	    "master_lease = 10S\n",
	    "t.conf:1: master_lease: \"10S\" has an unknown unit \"S\" (use ms, s, m or h)");
	expect_error(
	    "master_lease = 1.5s\n",
	    "t.conf:1: master_lease: \"1.5s\" has an unknown unit \".5s\" (use ms, s, m or h)");
	expect_error("master_lease = abc\n",
	             "t.conf:1: master_lease: \"abc\" is not a duration (e.g. 500ms, 10s, 5m)");
	expect_error("master_lease = -1s\n",
	             "t.conf:1: master_lease: \"-1s\" is not a duration (e.g. 500ms, 10s, 5m)");
	expect_error("master_lease = 99999999999999999999999s\n",
	             "t.conf:1: master_lease: \"99999999999999999999999s\" is too large");
	expect_error("master_lease = 9999999999999999h\n",
	             "t.conf:1: master_lease: \"9999999999999999h\" is too large");
}

static void
test_out_of_range(void)
{
	expect_error("master_lease = 1h\n",
	             "t.conf:1: master_lease: 1h is out of range (200ms to 5m)");
	expect_error("master_lease = 199ms\n",
	             "t.conf:1: master_lease: 199ms is out of range (200ms to 5m)");
	expect_error("lock_delay_max = 61s\n",
	             "t.conf:1: lock_delay_max: 61s is out of range (0s to 1m)");
	expect_error("batch_max = 0\n", "t.conf:1: batch_max: 0 is out of range (1 to 4096)");
	expect_error("max_frame = 1GiB\n",
	             "t.conf:1: max_frame: 1GiB is out of range (4KiB to 256MiB)");
	expect_error("max_contents = 1000\n",
	             "t.conf:1: max_contents: 1000 is out of range (1KiB to 64MiB)");
	expect_error("cell = a234567890123456789012345678901234567890123456789012345678901234\n",
	             "t.conf:1: cell: longer than 63 bytes");
}

static void
test_bad_values(void)
{
	expect_error("max_contents = 256KB\n", "t.conf:1: max_contents: \"256KB\" has an unknown "
	                                       "unit \"KB\" (use B, KiB, MiB or GiB)");
	expect_error("max_contents = KiB\n",
	             "t.conf:1: max_contents: \"KiB\" is not a size (e.g. 4096, 64KiB, 1MiB)");
	expect_error("max_sessions = 10k\n",
	             "t.conf:1: max_sessions: \"10k\" is not a whole number");
	expect_error("max_sessions = 1e4\n",
	             "t.conf:1: max_sessions: \"1e4\" is not a whole number");
	expect_error("max_sessions = 99999999999999999999999\n",
	             "t.conf:1: max_sessions: \"99999999999999999999999\" is too large");
	expect_error("syslog = maybe\n",
	             "t.conf:1: syslog: \"maybe\" is not a boolean (use yes or no)");
	expect_error("syslog = 1\n", "t.conf:1: syslog: \"1\" is not a boolean (use yes or no)");
	expect_error("log_level = verbose\n",
	             "t.conf:1: log_level: \"verbose\" is not one of error, warn, info or debug");
	expect_error("cell = my cell\n",
	             "t.conf:1: cell: \"my cell\" may hold only letters, digits, \"-\" and \"_\"");
	expect_error("cell = \"a.b\"\n",
	             "t.conf:1: cell: \"a.b\" may hold only letters, digits, \"-\" and \"_\"");
	expect_error(
	    "data_dir = /x/%d\n",
	    "t.conf:1: data_dir: \"%d\" is not known (use %i for the replica id, %% for %)");
	expect_error(
	    "data_dir = /x/%\n",
	    "t.conf:1: data_dir: \"%\" is not known (use %i for the replica id, %% for %)");
	expect_error("superuser = \"\"\n", "t.conf:1: superuser: must not be empty");
}

static void
test_duplicate_option(void)
{
	expect_error("cell = a\n# x\n\ncell = a\n", "t.conf:4: cell: set twice (first on line 1)");
	/* Even when the first value was bad it is the first error that counts. */
	expect_error("cell = a b\ncell = a\n",
	             "t.conf:1: cell: \"a b\" may hold only letters, digits, \"-\" and \"_\"");
}

static void
test_bad_replicas(void)
{
	expect_error(
	    "replica\n",
	    "t.conf:1: replica: missing id (use \"replica ID client=HOST:PORT peer=HOST:PORT "
	    "status=HOST:PORT\")");
	expect_error("replica 0 client=a:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica: \"0\" is not an id from 1 to 255");
	expect_error("replica 256 client=a:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica: \"256\" is not an id from 1 to 255");
	expect_error("replica x1 client=a:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica: \"x1\" is not an id from 1 to 255");
	expect_error("replica = 1\n",
	             "t.conf:1: replica lines take no \"=\" (use \"replica ID client=HOST:PORT "
	             "peer=HOST:PORT status=HOST:PORT\")");
	expect_error("replica 1 client=a:1 peer=a:2\n",
	             "t.conf:1: replica 1: no status address (use \"replica ID client=HOST:PORT "
	             "peer=HOST:PORT status=HOST:PORT\")");
	expect_error("replica 1 client=a:1 peer=a:2 status=a:3 client=a:4\n",
	             "t.conf:1: replica 1: client given twice");
	expect_error("replica 1 clinet=a:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: unknown address \"clinet\" (did you mean \"client\"?)");
	expect_error(
	    "replica 1 admin=a:1 peer=a:2 status=a:3\n",
	    "t.conf:1: replica 1: unknown address \"admin\" (use client, peer, status and "
	    "peer_listen)");
	expect_error("replica 1 client a:1\n",
	             "t.conf:1: replica 1: \"client\" is not NAME=HOST:PORT (use \"replica ID "
	             "client=HOST:PORT peer=HOST:PORT status=HOST:PORT\")");
	expect_error("replica 1 client=a peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: \"a\" has no port (use HOST:PORT)");
	expect_error("replica 1 client=a:0 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: port \"0\" is not a number from 1 to 65535");
	expect_error("replica 1 client=a:65536 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: port \"65536\" is not a number from 1 to 65535");
	expect_error("replica 1 client=1.2.3.400:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: \"1.2.3.400\" is not an IPv4 address");
	expect_error("replica 1 client=::1:7001 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: \"::1:7001\": an IPv6 address needs brackets "
	             "([ADDRESS]:PORT)");
	expect_error("replica 1 client=[::g]:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: \"::g\" is not an IPv6 address");
	expect_error("replica 1 client=bad_host:1 peer=a:2 status=a:3\n",
	             "t.conf:1: replica 1: client: \"bad_host\" is not a valid host name");
}

static void
test_duplicate_replicas(void)
{
	expect_error(R1 R2 "\n" R1, "t.conf:4: replica 1: id used twice (first on line 1)");
	expect_error(
	    R1 "replica 2 client=127.0.0.12:7001 peer=127.0.0.11:7101 status=b:3\n",
	    "t.conf:2: replica 2: peer address 127.0.0.11:7101 is already replica 1's peer "
	    "address");
	expect_error(
	    R1 "replica 2 client=127.0.0.12:7001 peer=127.0.0.11:7001 status=b:3\n",
	    "t.conf:2: replica 2: peer address 127.0.0.11:7001 is already replica 1's client "
	    "address");
	expect_error("replica 1 client=a:1 peer=A:1 status=a:3\n",
	             "t.conf:1: replica 1: peer address A:1 is also its client address");
	/* The same IPv6 address spelt two ways is still the same address. */
	expect_error("replica 1 client=[::1]:1 peer=[0:0::1]:1 status=a:3\n",
	             "t.conf:1: replica 1: peer address [0:0::1]:1 is also its client address");
}

/* dns=NAME on a replica line (issue 21 item 2): a DNS name, given once;
 * the move checks shared with `lockctl members replace`. */
static void
test_dns_names(void)
{
	struct cell_config *cfg;
	char n1[] = "n:1", n2[] = "n:2", n3[] = "n:3", a2[] = "a:2";
	char *ok[3] = {n1, n2, n3}, *taken[3] = {n1, a2, n3};
	char msg[256];

	cfg = expect_ok("replica 1 client=a:1 peer=a:2 status=a:3 dns=r1.cell.example\n"
	                "replica 2 client=b:1 peer=b:2 status=b:3\n");
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].dns_name, "r1.cell.example");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[1].dns_name, "");
		CU_ASSERT_EQUAL(config_check_move(cfg, 2, ok, msg, sizeof msg), CHUBBY_OK);
		CU_ASSERT_EQUAL(config_check_move(cfg, 2, taken, msg, sizeof msg), CHUBBY_E_EXISTS);
		CU_ASSERT_STRING_EQUAL(msg, "peer address a:2 is replica 1's");
		CU_ASSERT_EQUAL(config_check_move(cfg, 7, ok, msg, sizeof msg), CHUBBY_E_NOT_FOUND);
		config_free(cfg);
	}
	expect_error("replica 1 client=a:1 peer=a:2 status=a:3 dns=bad_name\n",
	             "t.conf:1: replica 1: dns: \"bad_name\" is not a DNS name");
	expect_error("replica 1 client=a:1 peer=a:2 status=a:3 dns=a..b\n",
	             "t.conf:1: replica 1: dns: \"a..b\" is not a DNS name");
	expect_error("replica 1 client=a:1 peer=a:2 status=a:3 dns=a dns=b\n",
	             "t.conf:1: replica 1: dns given twice");
	CU_ASSERT(config_dns_name_ok("r1.cell-1.example"));
	CU_ASSERT(!config_dns_name_ok(""));
	CU_ASSERT(!config_dns_name_ok(".a"));
	CU_ASSERT(!config_dns_name_ok("a b"));
	CU_ASSERT(!config_dns_name_ok(
	    "a234567890123456789012345678901234567890123456789012345678901234.x"));
}

/* mirror lines (issue 21 item 5): a subtree of another cell copied here,
 * read-only; the TLS files default to this cell's client ones. */
static void
test_mirrors(void)
{
	struct cell_config *cfg;
	const char *base = "cell = dst\nclient_tls_cert = /c.crt\nclient_tls_key = /c.key\n"
	                   "tls_ca = /ca.crt\n" R1;
	char text[2048];

	snprintf(text, sizeof text,
	    "%smirror global source=s1:7000,[::1]:7000 from=/ls/src/global to=/ls/dst/global\n"
	    "mirror = cfg source=s1:7000 from=/ls/src/cfg to=/ls/dst/cfg tls_cert=/m.crt "
	    "tls_key=/m.key tls_ca=/mca.crt\n", base);
	cfg = expect_ok(text);
	if (cfg != NULL) {
		CU_ASSERT_EQUAL(cfg->nmirrors, 2);
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].name, "global");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].source, "s1:7000,[::1]:7000");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].from, "/ls/src/global");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].to, "/ls/dst/global");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].tls_cert, "/c.crt");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[0].tls_ca, "/ca.crt");
		CU_ASSERT_STRING_EQUAL(cfg->mirrors[1].tls_key, "/m.key");
		CU_ASSERT_PTR_EQUAL(config_mirror_of(cfg, "/ls/dst/global"), &cfg->mirrors[0]);
		CU_ASSERT_PTR_EQUAL(config_mirror_of(cfg, "/ls/dst/global/a/b"), &cfg->mirrors[0]);
		CU_ASSERT_PTR_NULL(config_mirror_of(cfg, "/ls/dst/globalx"));
		CU_ASSERT_PTR_NULL(config_mirror_of(cfg, "/ls/dst"));
		config_free(cfg);
	}
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g\n", base);
	expect_error(text, "t.conf:6: mirror g: needs source, from and to (use \"mirror NAME "
	                   "source=HOST:PORT[,HOST:PORT...] from=/ls/CELL/PATH to=/ls/CELL/PATH\")");
	snprintf(text, sizeof text, "%smirror g source=s from=/ls/src/g to=/ls/dst/g\n", base);
	expect_error_prefix(text, "t.conf:6: mirror g: source: ");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/../g to=/ls/dst/g\n", base);
	expect_error(text, "t.conf:6: mirror g: from and to must be clean paths /ls/CELL/NAME...");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g to=/ls/other/g\n", base);
	expect_error(text, "t.conf: mirror g: to \"/ls/other/g\" is not under /ls/dst/");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g to=/ls/dst/g\n"
	    "mirror h source=s:1 from=/ls/src/h to=/ls/dst/g/h\n", base);
	expect_error(text, "t.conf: mirror h: to \"/ls/dst/g/h\" overlaps mirror g's");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g to=/ls/dst/acl\n", base);
	expect_error(text, "t.conf: mirror g: to \"/ls/dst/acl\" overlaps acl_dir /ls/dst/acl");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g to=/ls/dst/g color=red\n",
	    base);
	expect_error(text, "t.conf:6: mirror g: unknown key \"color\" (use source, from, to, "
	                   "tls_cert, tls_key and tls_ca)");
	snprintf(text, sizeof text, "%smirror g source=s:1 from=/ls/src/g to=/ls/dst/g\n"
	    "mirror g source=s:1 from=/ls/src/h to=/ls/dst/h\n", base);
	expect_error(text, "t.conf:7: mirror g: name used twice");
	expect_error("cell = dst\ntls_ca = /ca.crt\n" R1
	             "mirror g source=s:1 from=/ls/src/g to=/ls/dst/g\n",
	             "t.conf: mirror g: no TLS certificate for the source cell (give tls_cert=)");
}

/* peer_listen: where a replica binds its peer port when the others dial a
 * relay or NAT address (peer=) in front of it. */
static void
test_peer_listen(void)
{
	struct cell_config *cfg;

	cfg = expect_ok("replica 1 client=a:1 peer=r:2 status=a:3 peer_listen=b:2\n"
	                "replica 2 client=c:1 peer=c:2 status=c:3\n");
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].peer_addr, "r:2");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[0].peer_listen, "b:2");
		CU_ASSERT_STRING_EQUAL(cfg->replicas[1].peer_listen, "");
		config_free(cfg);
	}
	/* Listening where the others dial is allowed. */
	cfg = expect_ok("replica 1 client=a:1 peer=a:2 status=a:3 peer_listen=a:2\n");
	config_free(cfg);
	expect_error("replica 1 client=a:1 peer=r:2 status=a:3 peer_listen=a:1\n",
	             "t.conf:1: replica 1: peer_listen address a:1 is also its client address");
	expect_error("replica 1 client=a:1 peer=r:2 status=a:3 peer_listen=b:2\n"
	             "replica 2 client=c:1 peer=b:2 status=c:3\n",
	             "t.conf:2: replica 2: peer address b:2 is already replica 1's peer_listen "
	             "address");
	expect_error("replica 1 client=a:1 peer=r:2 status=a:3 peer_listen=b\n",
	             "t.conf:1: replica 1: peer_listen: \"b\" has no port (use HOST:PORT)");
	expect_error("replica 1 client=a:1 peer=r:2 status=a:3 peer_listen=b:2 peer_listen=b:3\n",
	             "t.conf:1: replica 1: peer_listen given twice");
}

static void
test_replica_count(void)
{
	char text[2048];

	expect_error("cell = x\n",
	             "t.conf: no replicas (add a line \"replica ID client=HOST:PORT peer=HOST:PORT "
	             "status=HOST:PORT\" for each)");
	expect_error("", "t.conf: no replicas (add a line \"replica ID client=HOST:PORT "
	                 "peer=HOST:PORT status=HOST:PORT\" for each)");
	expect_error_prefix("# only\n# comments\n\n", "t.conf: no replicas ");
	text[0] = '\0';
	for (unsigned id = 1; id <= 8; id++) {
		char line[128];
		snprintf(line, sizeof line, "replica %u client=h:%u peer=h:%u status=h:%u\n", id,
		         id * 10, id * 10 + 1, id * 10 + 2);
		strcat(text, line);
	}
	expect_error(text, "t.conf:8: too many replicas (at most 7)");
	*strstr(text, "replica 8") = '\0'; /* drop replica 8: 7 are fine */
	config_free(expect_ok(text));
}

/* --- Rules between options. --------------------------------------------- */

static void
test_cross_field(void)
{
	expect_error("master_lease = 3s\nmaster_lease_renew = 3s\n" R1,
	             "t.conf: master_lease_renew (3s) must be shorter than master_lease (3s)");
	expect_error(
	    "master_lease = 5m\nmaster_lease_renew = 3s\nclock_drift_ppm = 10000\n" R1,
	    "t.conf: master_lease_renew (3s) must be longer than the drift allowance (3050ms: "
	    "master_lease times clock_drift_ppm, plus clock_margin), or the master's lease "
	    "lapses before it renews");
	expect_error(
	    "master_lease = 10s\nmaster_lease_renew = 50ms\n" R1,
	    "t.conf: master_lease_renew (50ms) must be longer than the drift allowance (60ms: "
	    "master_lease times clock_drift_ppm, plus clock_margin), or the master's lease "
	    "lapses before it renews");
	expect_error("heartbeat_interval = 1s\nelection_timeout = 1s\n" R1,
	             "t.conf: heartbeat_interval (1s) must be shorter than election_timeout (1s)");
	expect_error("session_lease = 45s\n" R1,
	             "t.conf: grace_period (45s) must be longer than session_lease (45s)");
	expect_error("lock_delay = 30s\nlock_delay_max = 20s\n" R1,
	             "t.conf: lock_delay (30s) must not be longer than lock_delay_max (20s)");
	expect_error("max_contents = 1MiB\n" R1,
	             "t.conf: max_frame (1MiB) must be at least max_contents (1MiB) plus 4KiB");
	expect_error("client_tls_cert = /a.crt\n" R1,
	             "t.conf: client_tls_cert and client_tls_key go together: set both or neither");
	expect_error("client_tls_key = /a.key\n" R1,
	             "t.conf: client_tls_cert and client_tls_key go together: set both or neither");
	/* The edges that are allowed. */
	config_free(expect_ok("lock_delay = 1m\n" R1));
	config_free(expect_ok("max_contents = 1020KiB\n" R1));
	config_free(expect_ok("master_lease_renew = 61ms\n" R1));
}

/* --- Bytes that are not a config. --------------------------------------- */

static void
test_line_too_long(void)
{
	char text[CONFIG_LINE_MAX + 256];

	/* Exactly CONFIG_LINE_MAX bytes (plus CR LF) is fine. */
	memset(text, ' ', sizeof text);
	memcpy(text, "# ", 2);
	memcpy(text + CONFIG_LINE_MAX, "\r\n" R1, sizeof R1 + 2);
	config_free(expect_ok(text));
	memset(text, 'a', sizeof text);
	memcpy(text, "cell = ", 7);
	memcpy(text + CONFIG_LINE_MAX + 1, "\n", 2);
	expect_error(text, "t.conf:1: line too long (more than 1024 bytes)");
	/* Without a final newline too. */
	text[CONFIG_LINE_MAX + 1] = '\0';
	expect_error(text, "t.conf:1: line too long (more than 1024 bytes)");
}

static void
test_control_characters(void)
{
	expect_error("cell = a\x01\n", "t.conf:1: control character 0x01 (is this a text file?)");
	expect_error(R1 "cell = a\rb\n", "t.conf:2: control character 0x0d (is this a text file?)");
	expect_error("cell = \x7f\n", "t.conf:1: control character 0x7f (is this a text file?)");
	/* UTF-8 is fine in comments and values. */
	config_free(expect_ok("# caf\xc3\xa9\nsuperuser = \xc3\xa9mile\n" R1));
}

static void
test_load_nul_byte(void)
{
	static const char text[] = "cell = a\n\ncell\0 = b\n" R1;
	struct cell_config *cfg = NULL;
	char *path = write_file("nul.conf", text, sizeof text - 1), *want;

	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	if (asprintf(&want, "%s:3: NUL byte (is this a text file?)", path) < 0)
		abort();
	CU_ASSERT_STRING_EQUAL(err, want);
	free(want);
	free(path);
}

/* Random bytes, lines of random bytes, and random printable lines: every
 * one is refused with a "t.conf:" message, none crashes or leaks. */
static void
test_garbage(void)
{
	uint64_t x = harness_seed() | 1;
	char text[600];

	for (int round = 0; round < 3000; round++) {
		size_t n = 1 + round % (sizeof text - 1);
		struct cell_config *cfg = NULL;
		int r;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (round % 3 == 0)
				text[i] = (char)(x & 0xff);
			else if (round % 3 == 1)
				text[i] = (x % 16 == 0) ? '\n' : (char)(32 + x % 95);
			else
				text[i] = "= \n#\"\\%:[]replica1clientpeerstatus"[x % 35];
		}
		text[n] = '\0';
		r = parse(text, &cfg);
		/* None has a valid replica line; the odd one that parses at all
		 * still lacks replicas, so each is refused. */
		CU_ASSERT_EQUAL(r, CHUBBY_E_CONFIG);
		CU_ASSERT_PTR_NULL(cfg);
		CU_ASSERT_NSTRING_EQUAL(err, "t.conf", 6);
		CU_ASSERT(err[6] == ':');
		CU_ASSERT(strlen(err) < sizeof err);
		config_free(cfg);
	}
}

static void
test_load_files(void)
{
	struct cell_config *cfg = NULL;
	char *path, *want, *big;

	/* A good file. */
	path = write_file("good.conf", "cell = f\n" R1 R2 R3, strlen("cell = f\n" R1 R2 R3));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->source, path);
		CU_ASSERT_EQUAL(cfg->nreplicas, 3);
	}
	config_free(cfg);
	free(path);

	/* An error names the path as given. */
	path = write_file("bad.conf", "cell = f\nmaster_lease = 10\n",
	                  strlen("cell = f\nmaster_lease = 10\n"));
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NULL(cfg);
	if (asprintf(&want, "%s:2: master_lease: \"10\" has no unit (use ms, s, m or h)", path) < 0)
		abort();
	CU_ASSERT_STRING_EQUAL(err, want);
	free(want);
	free(path);

	/* An empty file. */
	path = write_file("empty.conf", "", 0);
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_CONFIG);
	if (asprintf(&want, "%s: no replicas ", path) < 0)
		abort();
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
	free(want);
	free(path);

	/* Missing, a directory, too large. */
	if (asprintf(&path, "%s/no/such.conf", harness_tmpdir()) < 0)
		abort();
	cfg = (struct cell_config *)&cfg;
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_IO);
	CU_ASSERT_PTR_NULL(cfg);
	if (asprintf(&want, "%s: No such file or directory", path) < 0)
		abort();
	CU_ASSERT_STRING_EQUAL(err, want);
	free(want);
	free(path);

	CU_ASSERT_EQUAL(config_load(harness_tmpdir(), &cfg, err, sizeof err), CHUBBY_E_IO);
	if (asprintf(&want, "%s: Is a directory", harness_tmpdir()) < 0)
		abort();
	CU_ASSERT_STRING_EQUAL(err, want);
	free(want);

	big = malloc(CONFIG_FILE_MAX + 1);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, '\n', CONFIG_FILE_MAX + 1);
	path = write_file("big.conf", big, CONFIG_FILE_MAX + 1);
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_CONFIG);
	if (asprintf(&want, "%s: larger than 1048576 bytes: not a cell config", path) < 0)
		abort();
	CU_ASSERT_STRING_EQUAL(err, want);
	free(want);
	free(path);
	/* One byte less is read (and refused only for lacking replicas). */
	path = write_file("big.conf", big, CONFIG_FILE_MAX);
	CU_ASSERT_EQUAL(config_load(path, &cfg, err, sizeof err), CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ": no replicas "));
	free(path);
	free(big);
}

static void
test_error_buffers(void)
{
	struct cell_config *cfg;
	char small[12];

	/* No buffer at all, or a short one: no overflow, just truncation. */
	CU_ASSERT_EQUAL(config_parse_string("cell = a b\n", "t.conf", &cfg, NULL, 0),
	                CHUBBY_E_CONFIG);
	CU_ASSERT_EQUAL(config_parse_string("cell = a b\n", "t.conf", &cfg, small, sizeof small),
	                CHUBBY_E_CONFIG);
	CU_ASSERT_STRING_EQUAL(small, "t.conf:1: c");
	CU_ASSERT_EQUAL(config_load("/nonexistent/x", &cfg, NULL, 0), CHUBBY_E_IO);
	CU_ASSERT_EQUAL(config_parse_string(R1, "t.conf", &cfg, NULL, 0), CHUBBY_OK);
	config_free(cfg);
}

/* --- Helpers. ----------------------------------------------------------- */

static void
test_expand(void)
{
	static const struct {
		const char *tmpl;
		unsigned id;
		const char *want;
	} cases[] = {
	    {"/var/lib/chubby/replica-%i", 3, "/var/lib/chubby/replica-3"},
	    {"%i/%i", 255, "255/255"},
	    {"100%%-%i", 1, "100%-1"},
	    {"%%i", 7, "%i"},
	    {"no escapes", 1, "no escapes"},
	    {"", 1, ""},
	    {"trailing %", 2, "trailing %"},
	    {"%x", 2, "%x"},
	    {"%i", 4000000000u, "4000000000"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = config_expand(cases[i].tmpl, cases[i].id);
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_STRING_EQUAL(s, cases[i].want);
		free(s);
	}
}

static void
test_hostport(void)
{
	static const struct {
		const char *in, *host;
		unsigned port;
	} good[] = {
	    {"127.0.0.1:7001", "127.0.0.1", 7001},
	    {"[::1]:1", "::1", 1},
	    {"[2001:db8::1:2]:65535", "2001:db8::1:2", 65535},
	    {"[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80},
	    {"localhost:80", "localhost", 80},
	    {"chubby-1.example.net.:443", "chubby-1.example.net.", 443},
	    {"a1:08", "a1", 8},
	};
	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {"", "\"\" has no port (use HOST:PORT)"},
	    {":80", "\":80\" has no host (use HOST:PORT)"},
	    {"host:", "port \"\" is not a number from 1 to 65535"},
	    {"host:http", "port \"http\" is not a number from 1 to 65535"},
	    {"host:80x", "port \"80x\" is not a number from 1 to 65535"},
	    {"host:-1", "port \"-1\" is not a number from 1 to 65535"},
	    {"[::1]", "\"[::1]\" has no port (use [ADDRESS]:PORT)"},
	    {"[::1:80", "\"[::1:80\" has no closing \"]\""},
	    {"[]:80", "\"[]:80\" is not an IPv6 address"},
	    {"[1.2.3.4]:80", "\"1.2.3.4\" is not an IPv6 address"},
	    {"[fe80::1%eth0]:80", "\"fe80::1%eth0\" is not an IPv6 address"},
	    {"2001:db8::1:80",
	     "\"2001:db8::1:80\": an IPv6 address needs brackets ([ADDRESS]:PORT)"},
	    {"1.2.3:80", "\"1.2.3\" is not an IPv4 address"},
	    {"-host:80", "\"-host\" is not a valid host name"},
	    {"host-:80", "\"host-\" is not a valid host name"},
	    {"a..b:80", "\"a..b\" is not a valid host name"},
	    {"a b:80", "\"a b\" is not a valid host name"},
	    {"a1234567890123456789012345678901234567890123456789012345678901234:1",
	     "\"a1234567890123456789012345678901234567890123456789012345678901234\" is not a "
	     "valid host name"},
	};
	char host[CONFIG_ADDR_MAX], msg[CONFIG_ERR_MAX], tiny[4];
	unsigned port;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		port = 0;
		CU_ASSERT_EQUAL(
		    config_parse_hostport(good[i].in, host, sizeof host, &port, msg, sizeof msg),
		    CHUBBY_OK);
		CU_ASSERT_STRING_EQUAL(host, good[i].host);
		CU_ASSERT_EQUAL(port, good[i].port);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = '\0';
		CU_ASSERT_EQUAL(
		    config_parse_hostport(bad[i].in, host, sizeof host, &port, msg, sizeof msg),
		    CHUBBY_E_INVALID);
		if (strcmp(msg, bad[i].msg) != 0)
			fprintf(stderr, "\n  %s: got %s\n", bad[i].in, msg);
		CU_ASSERT_STRING_EQUAL(msg, bad[i].msg);
	}
	CU_ASSERT_EQUAL(config_parse_hostport("abcd:1", tiny, sizeof tiny, &port, msg, sizeof msg),
	                CHUBBY_E_INVALID);
	CU_ASSERT_STRING_EQUAL(msg, "host \"abcd\" does not fit in 4 bytes");
	CU_ASSERT_EQUAL(config_parse_hostport("abc:1", tiny, sizeof tiny, &port, NULL, 0),
	                CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(tiny, "abc");
}

/* --- The generated docs. ------------------------------------------------ */

static char *
generate(void (*fn)(FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(f != NULL);
	fn(f);
	fclose(f);
	return buf;
}

static void
test_sample_matches_table(void)
{
	char *want = generate(config_write_sample);
	char *have = read_file(TOP_SRCDIR "/etc/chubby.conf");
	struct cell_config *cfg = NULL;

	CU_ASSERT_PTR_NOT_NULL(have);
	if (have != NULL && strcmp(have, want) != 0)
		fprintf(stderr, "\n  etc/chubby.conf differs from the option table: run "
		                "\"make update-config-docs\"\n");
	CU_ASSERT(have != NULL && strcmp(have, want) == 0);
	/* The sample is a working config: every default, five replicas. */
	cfg = expect_ok(want);
	if (cfg != NULL) {
		check_defaults(cfg);
		CU_ASSERT_EQUAL(cfg->nreplicas, 5);
		CU_ASSERT_STRING_EQUAL(config_replica(cfg, 5)->status_addr, "127.0.0.15:7201");
	}
	config_free(cfg);
	CU_ASSERT_EQUAL(config_load(TOP_SRCDIR "/etc/chubby.conf", &cfg, err, sizeof err),
	                CHUBBY_OK);
	config_free(cfg);
	free(want);
	free(have);
}

static void
test_man_matches_table(void)
{
	char *want = generate(config_write_man);
	char *page = read_file(TOP_SRCDIR "/man/chubby.conf.5");
	char *begin, *end;

	CU_ASSERT_PTR_NOT_NULL_FATAL(page);
	begin = strstr(page, "\n" CONFIG_MAN_BEGIN "\n");
	end = strstr(page, "\n" CONFIG_MAN_END "\n");
	CU_ASSERT_PTR_NOT_NULL(begin);
	CU_ASSERT_PTR_NOT_NULL(end);
	if (begin != NULL && end != NULL && end > begin) {
		begin += strlen("\n" CONFIG_MAN_BEGIN "\n");
		end[1] = '\0';
		if (strcmp(begin, want) != 0)
			fprintf(stderr,
			        "\n  man/chubby.conf.5 OPTIONS differ from the option table: "
			        "run \"make update-config-docs\"\n");
		CU_ASSERT_STRING_EQUAL(begin, want);
		end[1] = '.';
	}
	free(want);
	free(page);
}

/* The config in the man page's EXAMPLES is one that loads. */
static void
test_man_example_loads(void)
{
	char *page = read_file(TOP_SRCDIR "/man/chubby.conf.5");
	char *ex, *nf, *fi, *w;
	struct cell_config *cfg;

	CU_ASSERT_PTR_NOT_NULL_FATAL(page);
	ex = strstr(page, "\n.SH EXAMPLES\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	nf = strstr(ex, "\n.nf\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(nf);
	nf += strlen("\n.nf\n");
	fi = strstr(nf, "\n.fi\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fi);
	fi[1] = '\0';
	/* Undo the roff: "\-" is a minus. */
	w = nf;
	for (const char *r = nf; *r != '\0'; r++) {
		if (r[0] == '\\' && r[1] == '-')
			r++;
		*w++ = *r;
	}
	*w = '\0';
	cfg = expect_ok(nf);
	if (cfg != NULL) {
		CU_ASSERT_STRING_EQUAL(cfg->cell, "prod");
		CU_ASSERT_EQUAL(cfg->nreplicas, 3);
		CU_ASSERT_STRING_EQUAL(cfg->data_dir, "/srv/chubby/replica-%i");
		CU_ASSERT_EQUAL(cfg->master_lease_ms, 6000);
	}
	config_free(cfg);
	free(page);
}

static void
test_help_lists_every_option(void)
{
	char *help = generate(config_write_help);
	char *sample = generate(config_write_sample);
	char *man = generate(config_write_man);

	/* Every "NAME = " line of the sample is an option; each is in the
	 * help and the man page. */
	for (const char *s = sample; *s != '\0'; s = strchr(s, '\n') + 1) {
		char name[64], pat[80];
		if (*s != '#' && *s != '\n' && strncmp(s, "replica ", 8) != 0 &&
		    sscanf(s, "%63[a-z_] = ", name) == 1) {
			snprintf(pat, sizeof pat, "\n  %s = ", name);
			CU_ASSERT_PTR_NOT_NULL(strstr(help, pat));
			snprintf(pat, sizeof pat, "\n.B %s\n", name);
			CU_ASSERT_PTR_NOT_NULL(strstr(man, pat));
		}
		if (strchr(s, '\n') == NULL)
			break;
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(help, "\n  master_lease = 600ms  (duration, 200ms to 5m)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(man, ".B data_dir\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(man, "default \\fB/var/lib/chubby/replica\\-%i\\fR."));
	free(help);
	free(sample);
	free(man);
}

/* proxies and proxy_claim_window (docs/OPERATIONS.md "Proxies: the
 * cell's side"): the window must outlast a client's grace period and a
 * lease once there are proxies; without proxies it is not looked at. */
static void
test_proxies(void)
{
	struct cell_config *cfg = expect_ok(R1);

	CU_ASSERT_STRING_EQUAL(cfg->proxies, "");
	CU_ASSERT_EQUAL(cfg->proxy_claim_window_ms, 60000);
	config_free(cfg);
	cfg = expect_ok("proxies = px1, px2\nproxy_claim_window = 90s\n" R1);
	CU_ASSERT_STRING_EQUAL(cfg->proxies, "px1, px2");
	CU_ASSERT_EQUAL(cfg->proxy_claim_window_ms, 90000);
	config_free(cfg);
	cfg = expect_ok("proxy_claim_window = 10s\n" R1);
	config_free(cfg);
	expect_error("proxies = px1\nproxy_claim_window = 50s\n" R1,
	    "t.conf: proxy_claim_window (50s) must be longer than grace_period plus session_lease "
	    "(57s) when proxies are set");
}

void
harness_register(void)
{
	static const struct harness_test good[] = {
	    {"one replica", test_one_replica},
	    {"three and five replicas", test_three_and_five_replicas},
	    {"an even count warns", test_even_count_warns},
	    {"defaults", test_defaults},
	    {"every option", test_every_option},
	    {"units and booleans", test_units_and_booleans},
	    {"comments, quotes, CR LF", test_syntax_details},
	    {"acl_dir", test_acl_dir},
	    {NULL, NULL},
	};
	static const struct harness_test bad[] = {
	    {"unknown option", test_unknown_option},
	    {"missing = and values", test_missing_equals},
	    {"bad durations", test_bad_durations},
	    {"out of range", test_out_of_range},
	    {"bad values", test_bad_values},
	    {"duplicate option", test_duplicate_option},
	    {"bad replica lines", test_bad_replicas},
	    {"duplicate replicas and addresses", test_duplicate_replicas},
	    {"peer_listen", test_peer_listen},
	    {"dns names", test_dns_names},
	    {"mirror lines", test_mirrors},
	    {"replica count", test_replica_count},
	    {"rules between options", test_cross_field},
	    {"line too long", test_line_too_long},
	    {"control characters", test_control_characters},
	    {"NUL byte in a file", test_load_nul_byte},
	    {"garbage", test_garbage},
	    {"loading files", test_load_files},
	    {"error buffers", test_error_buffers},
	    {NULL, NULL},
	};
	static const struct harness_test helpers[] = {
	    {"%i expansion", test_expand},
	    {"host:port", test_hostport},
	    {"proxies and proxy_claim_window", test_proxies},
	    {NULL, NULL},
	};
	static const struct harness_test docs[] = {
	    {"etc/chubby.conf matches the table", test_sample_matches_table},
	    {"chubby.conf.5 OPTIONS match the table", test_man_matches_table},
	    {"chubby.conf.5 example loads", test_man_example_loads},
	    {"help lists every option", test_help_lists_every_option},
	    {NULL, NULL},
	};
	harness_suite("config: good files", NULL, NULL, good);
	harness_suite("config: errors", NULL, NULL, bad);
	harness_suite("config: helpers", NULL, NULL, helpers);
	harness_suite("config: docs", NULL, NULL, docs);
}
