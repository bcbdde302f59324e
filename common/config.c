/* config.c: the cell config file; one option table drives its parser and its docs. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "log.h"
#include "xmalloc.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(LOG_LVL_ERROR == 0 && LOG_LVL_WARN == 1 && LOG_LVL_INFO == 2 && LOG_LVL_DEBUG == 3,
               "config_log_levels[] is indexed by LOG_LVL_*");

enum config_type {
	CONFIG_NAME,     /* [A-Za-z0-9_-]+ */
	CONFIG_STRING,   /* any text */
	CONFIG_PATH,     /* a file name */
	CONFIG_DURATION, /* uint64_t ms; the unit is required */
	CONFIG_SIZE,     /* uint64_t bytes; the unit is optional */
	CONFIG_UINT,     /* unsigned */
	CONFIG_BOOL,     /* int 0 or 1 */
	CONFIG_ENUM,     /* int: index into values[] */
};

/* May be empty (""); otherwise every string needs a value. */
#define CONFIG_F_OPTIONAL 0x1
/* %i stands for the replica id and %% for %: a per-replica template. */
#define CONFIG_F_REPLICA 0x2

struct config_option {
	const char *name;
	enum config_type type;
	size_t offset; /* into struct cell_config */
	/* The default as it would be written in the file: parsed by the same
	 * code as the file and printed verbatim by the docs, so the two cannot
	 * disagree. */
	const char *def;
	uint64_t min, max;         /* numbers: ms, bytes or count; strings: length */
	const char *const *values; /* CONFIG_ENUM: the names, NULL-terminated */
	int flags;
	const char *group; /* heading in the docs */
	const char *help;
};

/*
 * offsetof plus a compile-time check that the field has the C type the
 * option's type stores: _Generic with no default fails to compile on a
 * mismatch, and its operand is never evaluated.
 */
#define FIELD(f, T)                                                                                \
	(offsetof(struct cell_config, f) + _Generic(((struct cell_config *)0)->f, T : 0))

// clang-format off
/* (clang-format would break these initializer macros into blocks.) */
#define MS(n) ((uint64_t)(n))
#define SECS(n) ((uint64_t)(n) * 1000)
#define MINS(n) ((uint64_t)(n) * 60 * 1000)
#define HOURS(n) ((uint64_t)(n) * 60 * 60 * 1000)
#define KIB(n) ((uint64_t)(n) * 1024)
#define MIB(n) ((uint64_t)(n) * 1024 * 1024)

#define O_STR(n, t, f, d, lo, hi, fl, g, h) {n, t, FIELD(f, char *), d, lo, hi, NULL, fl, g, h}
#define O_DUR(n, f, d, lo, hi, g, h) \
	{n, CONFIG_DURATION, FIELD(f, uint64_t), d, lo, hi, NULL, 0, g, h}
#define O_SIZE(n, f, d, lo, hi, g, h) {n, CONFIG_SIZE, FIELD(f, uint64_t), d, lo, hi, NULL, 0, g, h}
#define O_UINT(n, f, d, lo, hi, g, h) {n, CONFIG_UINT, FIELD(f, unsigned), d, lo, hi, NULL, 0, g, h}
#define O_BOOL(n, f, d, g, h) {n, CONFIG_BOOL, FIELD(f, int), d, 0, 1, NULL, 0, g, h}
#define O_ENUM(n, f, d, v, g, h) {n, CONFIG_ENUM, FIELD(f, int), d, 0, 0, v, 0, g, h}
// clang-format on

/* In LOG_LVL_* order, so the index is the level. */
static const char *const config_log_levels[] = {"error", "warn", "info", "debug", NULL};
_Static_assert(LOG_FMT_TEXT == 0 && LOG_FMT_JSON == 1, "config_log_formats[] is indexed by LOG_FMT_*");
/* In LOG_FMT_* order. */
static const char *const config_log_formats[] = {"text", "json", NULL};

#define G_CELL "Cell"
#define G_FILES "Files"
#define G_TIME "Master lease and time"
#define G_SESS "Sessions and locks"
#define G_LIMITS "Limits"
#define G_REPL "Replication"
#define G_LOG "Logging"

static const struct config_option config_options[] = {
    O_STR("cell", CONFIG_NAME, cell, "local", 1, 63, 0, G_CELL,
          "Name of the cell: clients' file names start with /ls/CELL/. "
          "Letters, digits, \"-\" and \"_\" only."),
    O_STR("superuser", CONFIG_STRING, superuser, "admin", 1, 255, 0, G_CELL,
          "Principal (the common name of its client certificate) that passes every ACL check: "
          "the cell's administrator."),
    O_STR("acl_dir", CONFIG_STRING, acl_dir, "acl", 1, 255, 0, G_CELL,
          "Directory in the cell's namespace that holds the ACL files. A relative name is taken "
          "under /ls/CELL/; an absolute one must lie there."),
    O_STR("acl_admins", CONFIG_STRING, acl_admins, "", 0, 4095, CONFIG_F_OPTIONAL, G_CELL,
          "Principals, separated by commas or blanks, that may write and re-ACL the ACL "
          "directory and its files, besides the superuser. Read once, when the cell is "
          "created: the first master writes them into the file acl-admins in acl_dir, which "
          "the ACL directory names as its read, write and change-ACL ACL. Later, edit that "
          "file instead."),
    O_STR("root_acl_read", CONFIG_NAME, root_acl_read, "", 0, 255, CONFIG_F_OPTIONAL, G_CELL,
          "ACL file (a name in acl_dir) that says who may read the cell's root; new nodes "
          "inherit it. Read once, when the cell is created (an empty file of that name is "
          "made); \"\" leaves the root readable by every authenticated principal."),
    O_STR("root_acl_write", CONFIG_NAME, root_acl_write, "", 0, 255, CONFIG_F_OPTIONAL, G_CELL,
          "ACL file that says who may write (create nodes in) the cell's root; as "
          "root_acl_read."),
    O_STR("root_acl_change", CONFIG_NAME, root_acl_change, "", 0, 255, CONFIG_F_OPTIONAL,
          G_CELL,
          "ACL file that says who may change the root's ACL names; as root_acl_read. Must be "
          "set when root_acl_read or root_acl_write is (acl-admins names the ACL "
          "administrators), or anyone could undo them."),

    O_STR("data_dir", CONFIG_PATH, data_dir, "/var/lib/chubby/replica-%i", 1, 1023,
          CONFIG_F_REPLICA, G_FILES,
          "Directory where a replica keeps its database (Paxos state, log and namespace). "
          "%i expands to the replica id, %% to %."),
    O_STR("tls_ca", CONFIG_PATH, tls_ca, "/etc/chubby/ca.crt", 1, 1023, 0, G_FILES,
          "CA certificate (PEM) that signed the certificates of the replicas and clients. "
          "Replicas and clients trust no other."),
    O_STR("tls_cert", CONFIG_PATH, tls_cert, "/etc/chubby/replica-%i.crt", 1, 1023,
          CONFIG_F_REPLICA, G_FILES,
          "Certificate (PEM) a replica presents to clients and to the other replicas. "
          "%i expands to the replica id."),
    O_STR("tls_key", CONFIG_PATH, tls_key, "/etc/chubby/replica-%i.key", 1, 1023, CONFIG_F_REPLICA,
          G_FILES, "Private key (PEM) of tls_cert. %i expands to the replica id."),
    O_STR("tls_crl", CONFIG_PATH, tls_crl, "", 0, 1023, CONFIG_F_OPTIONAL, G_FILES,
          "Certificate revocation list (PEM, signed by the cell CA; chubby-certs revoke makes it). "
          "Replicas refuse clients and peers whose certificate it lists, on the client port and "
          "the peer port, and close their live connections on reload (SIGHUP, lockctl reload); "
          "clients reading this file check the replicas' certificates against it. \"\" checks "
          "no revocation."),
    O_STR("client_tls_cert", CONFIG_PATH, client_tls_cert, "", 0, 1023, CONFIG_F_OPTIONAL, G_FILES,
          "Certificate (PEM) that clients reading this file present, such as the administrator's; "
          "\"\" leaves it to CHUBBY_CERT. Set it together with client_tls_key."),
    O_STR("client_tls_key", CONFIG_PATH, client_tls_key, "", 0, 1023, CONFIG_F_OPTIONAL, G_FILES,
          "Private key (PEM) of client_tls_cert; \"\" leaves it to CHUBBY_KEY."),
    O_STR("client_proxies", CONFIG_STRING, client_proxies, "", 0, 4095, CONFIG_F_OPTIONAL,
          G_FILES,
          "Addresses (HOST:PORT, separated by commas) of chubby-proxy processes that clients "
          "reading this file connect to instead of the replicas, in turn, as to a cell "
          "(docs/PROXY.md); CHUBBY_PROXIES overrides it. \"\" : the replicas. The replicas "
          "and the proxies themselves ignore it."),
    O_STR("sequencer_key_file", CONFIG_PATH, sequencer_key_file, "", 0, 1023, CONFIG_F_OPTIONAL,
          G_FILES,
          "File holding the secret every replica signs sequencers with, so that servers holding "
          "the same file can check a sequencer without asking the cell; \"\" for unsigned "
          "sequencers."),

    O_DUR("master_lease", master_lease_ms, "600ms", MS(200), MINS(5), G_TIME,
          "How long a master lease lasts, counted from when the master asked for it. "
          "No other replica becomes master before it ends, so it bounds how long the cell "
          "is without a master after the master dies; the master renews it with every "
          "heartbeat."),
    O_DUR("master_lease_renew", master_lease_renew_ms, "300ms", MS(10), MINS(5), G_TIME,
          "How long before its lease ends the master asks to extend it. Shorter than "
          "master_lease, longer than the drift allowance (master_lease times clock_drift_ppm, "
          "plus clock_margin)."),
    O_UINT("clock_drift_ppm", clock_drift_ppm, "1000", 0, 100000, G_TIME,
           "Bound on how much faster or slower one replica's clock runs than another's, in "
           "parts per million (1000 is 0.1%). Leases are held for that much less."),
    O_DUR("clock_margin", clock_margin_ms, "50ms", 0, SECS(10), G_TIME,
          "Fixed time taken off every lease on top of the drift bound, for scheduling "
          "and message delays."),
    O_DUR("election_timeout", election_timeout_ms, "100ms", MS(50), MINS(1), G_TIME,
          "Once the lease a replica granted has run out with no word from the master, it "
          "waits a random time between this and twice this before it tries to become "
          "master (the spread keeps candidates from duelling)."),
    O_DUR("heartbeat_interval", heartbeat_interval_ms, "50ms", MS(10), SECS(10), G_TIME,
          "How often the master tells the other replicas it is alive. Shorter than "
          "election_timeout."),

    O_DUR("session_lease", session_lease_ms, "12s", MS(100), MINS(10), G_SESS,
          "How long a session lease lasts; each KeepAlive extends it by this much."),
    O_DUR("session_lease_max", session_lease_max_ms, "60s", MS(100), HOURS(1), G_SESS,
          "Longest session lease the master grants when overloaded (Chubby lengthened "
          "leases from 12 s up to 60 s under load, so that each session sends fewer "
          "KeepAlives). Not longer than session_lease: leases never stretch. A new master "
          "counts every session's lease as long as the longest a master recorded it may "
          "grant, so after a fail-over dead sessions may take that long to expire."),
    O_BOOL("lock_records", lock_records, "yes", G_SESS,
           "Whether the master honours a client's lock record (a leader's identity that "
           "chubby_elect and lockctl lock --elect write): the cell clears it when the lock it "
           "was written under is freed, a crashed leader's included. Set to no on every "
           "replica while any replica runs a version older than lock records, which would "
           "refuse the command and part from the others (docs/OPERATIONS.md); with no, "
           "records are written as plain contents."),
    O_UINT("overload_queue", overload_queue, "2000", 0, 10000000, G_SESS,
           "Load signal of the session lease: commands waiting at the master for their "
           "outcome. At this many the master counts as fully loaded (leases stretch); "
           "0 turns the signal off."),
    O_UINT("overload_keepalive_rate", overload_keepalive_rate, "20000", 0, 100000000, G_SESS,
           "Load signal of the session lease: KeepAlives per second the master's sessions "
           "would send at session_lease (sessions / session_lease). At this rate the master "
           "counts as fully loaded; 0 turns the signal off."),
    O_UINT("overload_cpu", overload_cpu, "95", 0, 100000, G_SESS,
           "Load signal of the session lease: the daemon's CPU over the last second, in % "
           "of one core. At this much the master counts as fully loaded; 0 turns the "
           "signal off."),
    O_DUR("overload_loop_lag", overload_loop_lag_ms, "0ms", 0, MINS(1), G_SESS,
          "Load signal of the session lease: how late the daemon's event loop has run in the "
          "last 10 s (the loop lag of /metrics). At this much the master counts as fully "
          "loaded, whether its own CPU is busy or others take the machine's. Off (0) by "
          "default: a master paused (SIGSTOP, a stalled VM) shows a lag as long as the pause "
          "once it runs again, which is not load, and stretching leases then makes the next "
          "fail-over hold writes for the longer lease."),
    O_UINT("overload_session_starts", overload_session_starts, "1000", 0, 100000000, G_SESS,
           "Load signal of the session lease: SESSION_STARTs the master receives per second "
           "(over a second at least). At this rate the master counts as fully loaded, so a "
           "burst of new sessions gets the longer lease in its SESSION_START replies, before "
           "the KeepAlives it brings; 0 turns the signal off."),
    O_DUR("grace_period", grace_period_ms, "45s", MS(100), HOURS(1), G_SESS,
          "How long a client whose lease ran out waits, in jeopardy, for a master before it "
          "gives the session up. Longer than session_lease."),
    O_DUR("lock_delay", lock_delay_ms, "15s", 0, MINS(1), G_SESS,
          "Lock-delay a lock gets unless its holder asks otherwise: how long a lock freed by "
          "its holder's session expiring stays unavailable to others."),
    O_DUR("lock_delay_max", lock_delay_max_ms, "60s", 0, MINS(1), G_SESS,
          "Longest lock-delay a client may ask for (at most a minute, as in Chubby). "
          "At least lock_delay."),
    O_BOOL("handles_in_memory", handles_in_memory, "yes", G_SESS,
           "An open that creates nothing and holds no ephemeral node, asked "
           "by a client that knows how (libchubby does), keeps its handle in the master's "
           "memory as Chubby did: the open and its close write nothing to the log, a write or "
           "lock through it is one log entry that names the node, and a new master re-creates "
           "the handle when the client next uses it. A cell upgraded replica by replica sets it "
           "to no until every replica runs a release that has it: an older replica refuses the "
           "commands that name a handle in memory, and an older master cannot re-create the "
           "handles."),
    O_STR("proxies", CONFIG_STRING, proxies, "", 0, 4095, CONFIG_F_OPTIONAL, G_SESS,
          "Principals (the common names of their client certificates), separated by commas "
          "or blanks, of trusted proxies (chubby-proxy): only they may start sessions for "
          "another principal, tag handles with their clients' sessions, end and claim those "
          "(docs/PROTOCOL.md \"Proxies\"). Set it only once every replica runs a release "
          "that has proxies: an older replica refuses the commands they bring."),
    O_DUR("proxy_claim_window", proxy_claim_window_ms, "60s", SECS(1), HOURS(1), G_SESS,
          "How long the locks and ephemeral files of a dead proxy's clients wait, after its "
          "session ended, for another proxy to claim them; then they are released as if "
          "their clients' sessions had expired (lock-delay applies). With proxies set, "
          "longer than grace_period plus session_lease, so that a client has found another "
          "proxy before the window ends."),

    O_SIZE("max_contents", max_contents, "256KiB", KIB(1), MIB(64), G_LIMITS,
           "Largest contents a file may hold."),
    O_SIZE("max_frame", max_frame, "1MiB", KIB(4), MIB(256), G_LIMITS,
           "Largest message on the wire, either way. At least max_contents plus 4KiB."),
    O_UINT("max_sessions", max_sessions, "10000", 1, 1000000, G_LIMITS,
           "Most sessions the master keeps open; more are refused as overload."),
    O_UINT("max_handles_per_session", max_handles_per_session, "1000", 1, 1000000, G_LIMITS,
           "Most handles one session may hold open."),
    O_UINT("max_connections", max_connections, "10000", 1, 1000000, G_LIMITS,
           "Most client connections a replica accepts at once."),
    O_DUR("frame_timeout", frame_timeout_ms, "30s", MS(100), MINS(10), G_LIMITS,
           "Longest a peer may take to finish sending a frame it has begun; a connection "
           "that trickles a frame slower (slowloris) is closed."),

    O_DUR("dns_poll_interval", dns_poll_ms, "10s", SECS(1), HOURS(1), G_REPL,
          "How often the master resolves the DNS names of replicas given one (dns=NAME on a "
          "replica line); when a name comes to name another address, the master moves that "
          "replica there through the log, with the checks of lockctl members replace."),
    O_STR("dns_server", CONFIG_STRING, dns_server, "", 0, 255, CONFIG_F_OPTIONAL, G_REPL,
          "IP[:PORT] of the DNS server the master asks for replicas' dns= names; \"\" uses "
          "the servers of /etc/resolv.conf."),
    O_UINT("snapshot_interval", snapshot_interval, "10000", 100, 10000000, G_REPL,
           "Log entries a replica applies between snapshots of its state; the log before a "
           "snapshot can then be dropped."),
    O_UINT("log_keep", log_keep, "1000", 0, 10000000, G_REPL,
           "Log entries kept behind a snapshot, so that a replica that lags by fewer catches "
           "up from the log instead of a whole snapshot."),
    O_UINT("batch_max", batch_max, "64", 1, 4096, G_REPL,
           "Most commands the master puts in one Paxos proposal."),
    O_UINT("pipeline_max", pipeline_max, "8", 1, 1024, G_REPL,
           "Most log slots the master has proposed and not yet seen chosen.  Fewer slots in "
           "flight put more commands in each slot, and each slot costs one fsync per "
           "replica (see BENCHMARKS.md)."),
    O_UINT("checksum_interval", checksum_interval, "1000", 0, 10000000, G_REPL,
           "Log entries between consistency checks, where the replicas compare digests of "
           "their state at the same index; 0 turns the checks off."),

    O_ENUM("log_level", log_level, "info", config_log_levels, G_LOG,
           "Least severe log lines written."),
    O_BOOL("syslog", use_syslog, "no", G_LOG,
           "Send log lines to syslog (facility daemon) instead of standard error."),
    O_ENUM("log_format", log_format, "text", config_log_formats, G_LOG,
           "How lines written to standard error or the log file look: text (\"TIME "
           "chubbyd[ID] LEVEL: message\") or json (one JSON object a line, with ts, level, "
           "prog, replica and msg, and the audit trail's key=value pairs as fields of their "
           "own; see docs/OPERATIONS.md). Syslog gets the message alone either way. Read at "
           "start (chubbyd --log-format overrides it); SIGHUP keeps it."),
};

#define NOPTIONS nitems(config_options)

/* The replica line: its keyword and its addresses, in the docs' order. */
static const char *const config_addr_keys[] = {"client", "peer", "status", "peer_listen"};
static const size_t config_addr_offsets[] = {
    offsetof(struct cell_replica, client_addr),
    offsetof(struct cell_replica, peer_addr),
    offsetof(struct cell_replica, status_addr),
    offsetof(struct cell_replica, peer_listen),
};
/* The first three are required; peer_listen is optional. */
#define CONFIG_ADDR_REQUIRED 3
#define CONFIG_ADDR_PEER 1
#define CONFIG_ADDR_PEER_LISTEN 3
#define REPLICA_SYNTAX "replica ID client=HOST:PORT peer=HOST:PORT status=HOST:PORT"

struct config_parser {
	const char *name;
	unsigned line;
	struct cell_config *cfg;
	unsigned set_line[NOPTIONS]; /* where each option was set; 0 if not */
	unsigned replica_line[CONFIG_MAX_REPLICAS];
	char *err;
	size_t errlen;
};

static void config_msg(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

/* snprintf into a caller's buffer that may be NULL. */
static void
config_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
config_free_strings(struct cell_config *cfg)
{
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct config_option *o = &config_options[i];
		char **sp;

		if (o->type != CONFIG_NAME && o->type != CONFIG_STRING && o->type != CONFIG_PATH)
			continue;
		sp = (char **)(void *)((char *)cfg + o->offset);
		free(*sp);
		*sp = NULL;
	}
}

void
config_free(struct cell_config *cfg)
{
	if (cfg == NULL)
		return;
	config_free_strings(cfg);
	free(cfg->source);
	free(cfg);
}

const struct cell_replica *
config_replica(const struct cell_config *cfg, unsigned id)
{
	for (unsigned i = 0; i < cfg->nreplicas; i++)
		if (cfg->replicas[i].id == id)
			return &cfg->replicas[i];
	return NULL;
}

int
config_check_move(const struct cell_config *c, unsigned id, char *const addr[3], char *msg,
    size_t msglen)
{
	if (config_replica(c, id) == NULL) {
		snprintf(msg, msglen, "replica %u is not a member of this cell", id);
		return CHUBBY_E_NOT_FOUND;
	}
	return config_check_addresses(c, id, addr, msg, msglen);
}

int
config_check_addresses(const struct cell_config *c, unsigned id, char *const addr[3], char *msg,
    size_t msglen)
{
	static const char *const what[3] = {"client", "peer", "status"};
	char host[CONFIG_ADDR_MAX], err[128];
	unsigned port;

	for (int k = 0; k < 3; k++) {
		if (config_parse_hostport(addr[k], host, sizeof host, &port, err, sizeof err) !=
		    CHUBBY_OK) {
			snprintf(msg, msglen, "%s address \"%s\": %s", what[k], addr[k], err);
			return CHUBBY_E_INVALID;
		}
		for (unsigned i = 0; i < c->nreplicas; i++) {
			const struct cell_replica *o = &c->replicas[i];
			if (o->id != id && (strcmp(o->client_addr, addr[k]) == 0 ||
			    strcmp(o->peer_addr, addr[k]) == 0 || strcmp(o->status_addr, addr[k]) == 0)) {
				snprintf(msg, msglen, "%s address %s is replica %u's", what[k], addr[k],
				    o->id);
				return CHUBBY_E_EXISTS;
			}
		}
	}
	return CHUBBY_OK;
}

char *
config_admins_lines(const char *list)
{
	char *out = xmalloc(strlen(list) + 2), *o = out;

	while (*list != '\0') {
		size_t n;

		list += strspn(list, ", \t");
		n = strcspn(list, ", \t");
		if (n == 0)
			break;
		memcpy(o, list, n);
		o += n;
		*o++ = '\n';
		list += n;
	}
	*o = '\0';
	return out;
}

bool
config_dns_name_ok(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (ch == '.') {
			if (label == 0)
				return false; /* an empty label */
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

char *
config_expand(const char *tmpl, unsigned id)
{
	char idbuf[16], *out, *o;
	size_t idlen, n = 1;

	idlen = (size_t)snprintf(idbuf, sizeof idbuf, "%u", id);
	for (const char *s = tmpl; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] == 'i') {
			n += idlen;
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			n++;
			s++;
		} else
			n++;
	}
	if ((out = malloc(n)) == NULL)
		return NULL;
	o = out;
	for (const char *s = tmpl; *s != '\0'; s++) {
		if (s[0] == '%' && s[1] == 'i') {
			memcpy(o, idbuf, idlen);
			o += idlen;
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			*o++ = '%';
			s++;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* --- Values. ---------------------------------------------------------------- */

/* Formats MS with the largest unit that divides it, as a user would write it. */
static void
config_fmt_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms != 0 && ms % HOURS(1) == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / HOURS(1)));
	else if (ms != 0 && ms % MINS(1) == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / MINS(1)));
	else if (ms % SECS(1) == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / SECS(1)));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static void
config_fmt_size(char *buf, size_t len, uint64_t n)
{
	if (n != 0 && n % (MIB(1024)) == 0)
		snprintf(buf, len, "%lluGiB", (unsigned long long)(n / MIB(1024)));
	else if (n != 0 && n % MIB(1) == 0)
		snprintf(buf, len, "%lluMiB", (unsigned long long)(n / MIB(1)));
	else if (n != 0 && n % KIB(1) == 0)
		snprintf(buf, len, "%lluKiB", (unsigned long long)(n / KIB(1)));
	else
		snprintf(buf, len, "%lluB", (unsigned long long)n);
}

/* A number in an option's own unit, for range messages and docs. */
static void
config_fmt_number(const struct config_option *o, char *buf, size_t len, uint64_t n)
{
	if (o->type == CONFIG_DURATION)
		config_fmt_duration(buf, len, n);
	else if (o->type == CONFIG_SIZE)
		config_fmt_size(buf, len, n);
	else
		snprintf(buf, len, "%llu", (unsigned long long)n);
}

/*
 * Reads the decimal digits at S into *N and points *END past them.
 * Returns 1, 0 if S starts with no digit, -1 if the number overflows.
 */
static int
config_digits(const char *s, uint64_t *n, const char **end)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return 0;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*n = v;
	*end = s;
	return 1;
}

struct config_unit {
	const char *name;
	uint64_t mult;
};

static const struct config_unit config_duration_units[] = {
    {"ms", 1}, {"s", SECS(1)}, {"m", MINS(1)}, {"h", HOURS(1)}, {NULL, 0},
};
static const struct config_unit config_size_units[] = {
    {"", 1}, {"B", 1}, {"KiB", KIB(1)}, {"MiB", MIB(1)}, {"GiB", MIB(1024)}, {NULL, 0},
};

/*
 * "NUMBER UNIT" with UNITS.  A duration without a unit is refused: "10"
 * could mean seconds or milliseconds, and guessing wrong by a factor of a
 * thousand in a lease is the kind of mistake this file should not allow.
 */
static int
config_parse_scaled(const struct config_option *o, const char *v, uint64_t *out, char *why,
                    size_t whylen)
{
	const struct config_unit *units;
	const char *end, *what, *unitlist;
	uint64_t n;
	int r;

	if (o->type == CONFIG_DURATION) {
		units = config_duration_units;
		what = "a duration (e.g. 500ms, 10s, 5m)";
		unitlist = "ms, s, m or h";
	} else {
		units = config_size_units;
		what = "a size (e.g. 4096, 64KiB, 1MiB)";
		unitlist = "B, KiB, MiB or GiB";
	}
	r = config_digits(v, &n, &end);
	if (r == 0) {
		config_msg(why, whylen, "%s: \"%s\" is not %s", o->name, v, what);
		return CHUBBY_E_CONFIG;
	}
	if (r > 0) {
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end == '\0' && o->type == CONFIG_DURATION) {
			config_msg(why, whylen, "%s: \"%s\" has no unit (use %s)", o->name, v,
			           unitlist);
			return CHUBBY_E_CONFIG;
		}
		for (; units->name != NULL; units++)
			if (strcmp(end, units->name) == 0)
				break;
		if (units->name == NULL) {
			config_msg(why, whylen, "%s: \"%s\" has an unknown unit \"%s\" (use %s)",
			           o->name, v, end, unitlist);
			return CHUBBY_E_CONFIG;
		}
	}
	if (r < 0 || n > UINT64_MAX / units->mult) {
		config_msg(why, whylen, "%s: \"%s\" is too large", o->name, v);
		return CHUBBY_E_CONFIG;
	}
	*out = n * units->mult;
	return CHUBBY_OK;
}

static int
config_parse_uint(const struct config_option *o, const char *v, uint64_t *out, char *why,
                  size_t whylen)
{
	const char *end;
	int r;

	r = config_digits(v, out, &end);
	if (r == 0 || (r > 0 && *end != '\0')) {
		config_msg(why, whylen, "%s: \"%s\" is not a whole number", o->name, v);
		return CHUBBY_E_CONFIG;
	}
	if (r < 0) {
		config_msg(why, whylen, "%s: \"%s\" is too large", o->name, v);
		return CHUBBY_E_CONFIG;
	}
	return CHUBBY_OK;
}

static int
config_parse_bool(const struct config_option *o, const char *v, int *out, char *why, size_t whylen)
{
	static const char *const yes[] = {"yes", "true", "on"};
	static const char *const no[] = {"no", "false", "off"};

	for (size_t i = 0; i < nitems(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return CHUBBY_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return CHUBBY_OK;
		}
	}
	config_msg(why, whylen, "%s: \"%s\" is not a boolean (use yes or no)", o->name, v);
	return CHUBBY_E_CONFIG;
}

static int
config_check_string(const struct config_option *o, const char *v, char *why, size_t whylen)
{
	size_t len = strlen(v);

	if (len == 0 && (o->flags & CONFIG_F_OPTIONAL))
		return CHUBBY_OK;
	if (len < o->min) {
		config_msg(why, whylen, "%s: must not be empty", o->name);
		return CHUBBY_E_CONFIG;
	}
	if (len > o->max) {
		config_msg(why, whylen, "%s: longer than %llu bytes", o->name,
		           (unsigned long long)o->max);
		return CHUBBY_E_CONFIG;
	}
	if (o->type == CONFIG_NAME) {
		for (const char *s = v; *s != '\0'; s++)
			if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') {
				config_msg(
				    why, whylen,
				    "%s: \"%s\" may hold only letters, digits, \"-\" and \"_\"",
				    o->name, v);
				return CHUBBY_E_CONFIG;
			}
	}
	if (o->type == CONFIG_PATH && (o->flags & CONFIG_F_REPLICA)) {
		/* Refuse what config_expand would copy literally, so a typo
		 * such as %d is caught here rather than in a directory name. */
		for (const char *s = v; *s != '\0'; s++) {
			if (*s != '%')
				continue;
			if (s[1] != 'i' && s[1] != '%') {
				config_msg(
				    why, whylen,
				    "%s: \"%%%.1s\" is not known (use %%i for the replica id, "
				    "%%%% for %%)",
				    o->name, s + 1);
				return CHUBBY_E_CONFIG;
			}
			s++;
		}
	}
	return CHUBBY_OK;
}

/* Sets option O of CFG from the text V.  WHY gets "NAME: problem". */
static int
config_set(struct cell_config *cfg, const struct config_option *o, const char *v, char *why,
           size_t whylen)
{
	void *field = (char *)cfg + o->offset;
	uint64_t n = 0;
	int r, b;

	switch (o->type) {
	case CONFIG_NAME:
	case CONFIG_STRING:
	case CONFIG_PATH: {
		char **sp = field, *copy;

		if ((r = config_check_string(o, v, why, whylen)) != CHUBBY_OK)
			return r;
		if ((copy = strdup(v)) == NULL) {
			config_msg(why, whylen, "%s: out of memory", o->name);
			return CHUBBY_E_NOMEM;
		}
		free(*sp);
		*sp = copy;
		return CHUBBY_OK;
	}
	case CONFIG_BOOL:
		if ((r = config_parse_bool(o, v, &b, why, whylen)) != CHUBBY_OK)
			return r;
		*(int *)field = b;
		return CHUBBY_OK;
	case CONFIG_ENUM:
		for (int i = 0; o->values[i] != NULL; i++)
			if (strcasecmp(v, o->values[i]) == 0) {
				*(int *)field = i;
				return CHUBBY_OK;
			}
		{
			char list[128] = "";
			for (int i = 0; o->values[i] != NULL; i++) {
				if (i > 0)
					strncat(list, o->values[i + 1] != NULL ? ", " : " or ",
					        sizeof list - strlen(list) - 1);
				strncat(list, o->values[i], sizeof list - strlen(list) - 1);
			}
			config_msg(why, whylen, "%s: \"%s\" is not one of %s", o->name, v, list);
		}
		return CHUBBY_E_CONFIG;
	case CONFIG_DURATION:
	case CONFIG_SIZE:
		r = config_parse_scaled(o, v, &n, why, whylen);
		break;
	case CONFIG_UINT:
		r = config_parse_uint(o, v, &n, why, whylen);
		break;
	default:
		config_msg(why, whylen, "%s: option of unknown type", o->name);
		return CHUBBY_E_INTERNAL;
	}
	if (r != CHUBBY_OK)
		return r;
	if (n < o->min || n > o->max) {
		char lo[32], hi[32];

		config_fmt_number(o, lo, sizeof lo, o->min);
		config_fmt_number(o, hi, sizeof hi, o->max);
		config_msg(why, whylen, "%s: %s is out of range (%s to %s)", o->name, v, lo, hi);
		return CHUBBY_E_CONFIG;
	}
	if (o->type == CONFIG_UINT)
		*(unsigned *)field = (unsigned)n;
	else
		*(uint64_t *)field = n;
	return CHUBBY_OK;
}

/* --- Host and port. --------------------------------------------------------- */

static bool
config_valid_hostname(const char *h)
{
	size_t label = 0, len = strlen(h);

	if (len == 0 || len > 253)
		return false;
	for (const char *s = h; *s != '\0'; s++) {
		if (*s == '.') {
			/* Empty labels are wrong, but a final dot (FQDN) is fine. */
			if (label == 0 || s[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*s) && *s != '-')
			return false;
		if (*s == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return h[len - 1] != '-';
}

int
config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
                      size_t errlen)
{
	const char *h, *colon, *p, *end;
	size_t n;
	uint64_t v;
	unsigned char bin[16];
	char tmp[CONFIG_ADDR_MAX];

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			config_msg(err, errlen, "\"%s\" has no closing \"]\"", s);
			return CHUBBY_E_INVALID;
		}
		h = s + 1;
		n = (size_t)(close - h);
		if (close[1] != ':') {
			config_msg(err, errlen, "\"%s\" has no port (use [ADDRESS]:PORT)", s);
			return CHUBBY_E_INVALID;
		}
		colon = close + 1;
		if (n == 0 || n >= sizeof tmp) {
			config_msg(err, errlen, "\"%s\" is not an IPv6 address", s);
			return CHUBBY_E_INVALID;
		}
		memcpy(tmp, h, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1) {
			config_msg(err, errlen, "\"%s\" is not an IPv6 address", tmp);
			return CHUBBY_E_INVALID;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			config_msg(err, errlen, "\"%s\" has no port (use HOST:PORT)", s);
			return CHUBBY_E_INVALID;
		}
		if (strchr(s, ':') != colon) {
			config_msg(err, errlen,
			           "\"%s\": an IPv6 address needs brackets ([ADDRESS]:PORT)", s);
			return CHUBBY_E_INVALID;
		}
		h = s;
		n = (size_t)(colon - s);
		if (n == 0) {
			config_msg(err, errlen, "\"%s\" has no host (use HOST:PORT)", s);
			return CHUBBY_E_INVALID;
		}
		if (n >= sizeof tmp) {
			config_msg(err, errlen, "host name in \"%s\" is too long", s);
			return CHUBBY_E_INVALID;
		}
		memcpy(tmp, h, n);
		tmp[n] = '\0';
		if (strspn(tmp, "0123456789.") == n) {
			/* Only digits and dots: it can only be meant as IPv4. */
			if (inet_pton(AF_INET, tmp, bin) != 1) {
				config_msg(err, errlen, "\"%s\" is not an IPv4 address", tmp);
				return CHUBBY_E_INVALID;
			}
		} else if (!config_valid_hostname(tmp)) {
			config_msg(err, errlen, "\"%s\" is not a valid host name", tmp);
			return CHUBBY_E_INVALID;
		}
	}
	p = colon + 1;
	if (config_digits(p, &v, &end) != 1 || *end != '\0' || v == 0 || v > 65535) {
		config_msg(err, errlen, "port \"%s\" is not a number from 1 to 65535", p);
		return CHUBBY_E_INVALID;
	}
	if (n >= hostlen) {
		config_msg(err, errlen, "host \"%s\" does not fit in %zu bytes", tmp, hostlen);
		return CHUBBY_E_INVALID;
	}
	memcpy(host, tmp, n + 1);
	*port = (unsigned)v;
	return CHUBBY_OK;
}

/* Whether two parsed hosts are the same: by address when both are literal
 * addresses of one family (so [::1] and [0::1] match), else by name. */
bool
config_same_host(const char *a, const char *b)
{
	unsigned char ba[16], bb[16];

	if (inet_pton(AF_INET6, a, ba) == 1 && inet_pton(AF_INET6, b, bb) == 1)
		return memcmp(ba, bb, 16) == 0;
	if (inet_pton(AF_INET, a, ba) == 1 && inet_pton(AF_INET, b, bb) == 1)
		return memcmp(ba, bb, 4) == 0;
	return strcasecmp(a, b) == 0;
}

/* --- Did you mean. ---------------------------------------------------------- */

/* Levenshtein distance, ignoring case; names are short (CONFIG_LINE_MAX caps them). */
static size_t
config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[CONFIG_LINE_MAX + 1];

	if (lb > CONFIG_LINE_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The candidate closest to WORD if close enough to be a likely typo, else NULL. */
static const char *
config_suggest(const char *word, const char *const *cands, size_t ncands)
{
	const char *best = NULL;
	size_t bestd = SIZE_MAX;

	if (strlen(word) > 64)
		return NULL;
	for (size_t i = 0; i < ncands; i++) {
		size_t d = config_distance(word, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	if (best == NULL || bestd > 3 || (bestd == 3 && strlen(best) < 10) || bestd >= strlen(best))
		return NULL;
	return best;
}

static const char *
config_suggest_option(const char *word)
{
	const char *cands[NOPTIONS + 1];

	for (size_t i = 0; i < NOPTIONS; i++)
		cands[i] = config_options[i].name;
	cands[NOPTIONS] = "replica";
	return config_suggest(word, cands, nitems(cands));
}

/* --- Lines. ----------------------------------------------------------------- */

static int config_fail(struct config_parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "NAME:LINE: problem" (or "NAME: problem" when LINE is 0) in the
 * caller's buffer and returns STATUS. */
static int
config_fail(struct config_parser *p, int status, const char *fmt, ...)
{
	char why[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (p->line != 0)
		config_msg(p->err, p->errlen, "%s:%u: %s", p->name, p->line, why);
	else
		config_msg(p->err, p->errlen, "%s: %s", p->name, why);
	return status;
}

static void config_warn(struct config_parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
config_warn(struct config_parser *p, const char *fmt, ...)
{
	struct cell_config *cfg = p->cfg;
	size_t used = strlen(cfg->warnings);
	char why[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(cfg->warnings + used, sizeof cfg->warnings - used, "%s%s: %s",
	         used > 0 ? "\n" : "", p->name, why);
}

static bool
config_is_space(char c)
{
	return c == ' ' || c == '\t';
}

static char *
config_skip_space(char *s)
{
	while (config_is_space(*s))
		s++;
	return s;
}

/* The next blank-separated word of a line at *SP, cut off with a NUL and
 * *SP moved past it; NULL at the end of the line or at a comment. */
static char *
config_next_word(char **sp)
{
	char *s = config_skip_space(*sp), *tok;

	if (*s == '\0' || *s == '#')
		return NULL;
	tok = s;
	while (*s != '\0' && !config_is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return tok;
}

static const struct config_option *
config_find(const char *name)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(config_options[i].name, name) == 0)
			return &config_options[i];
	return NULL;
}

/*
 * The value after "=", unquoted and unescaped in place.  A "#" starts a
 * comment only at the start of the value or after white space, so that
 * "a#b" stays a value; quotes keep spaces, "#" and leading or trailing
 * white space.
 */
static int
config_value(struct config_parser *p, const struct config_option *o, char *s, char **out)
{
	s = config_skip_space(s);
	if (*s == '"') {
		char *r = s + 1, *w = s;

		for (;; r++) {
			if (*r == '\0')
				return config_fail(p, CHUBBY_E_CONFIG, "%s: no closing quote",
				                   o->name);
			if (*r == '"')
				break;
			if (*r == '\\') {
				if (r[1] != '\\' && r[1] != '"')
					return config_fail(
					    p, CHUBBY_E_CONFIG,
					    "%s: unknown escape \"\\%.1s\" (only \\\\ and \\\" are "
					    "known)",
					    o->name, r + 1);
				r++;
			}
			*w++ = *r;
		}
		*w = '\0';
		r = config_skip_space(r + 1);
		if (*r != '\0' && *r != '#')
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "%s: unexpected text after the closing quote", o->name);
		*out = s;
		return CHUBBY_OK;
	}
	char *end = s;
	for (char *c = s; *c != '\0'; c++) {
		if (*c == '#' && (c == s || config_is_space(c[-1])))
			break;
		if (!config_is_space(*c))
			end = c + 1;
	}
	*end = '\0';
	if (*s == '\0')
		return config_fail(p, CHUBBY_E_CONFIG, "%s: missing value%s", o->name,
		                   (o->flags & CONFIG_F_OPTIONAL) ? " (write \"\" for none)" : "");
	*out = s;
	return CHUBBY_OK;
}

static int
config_option_line(struct config_parser *p, const struct config_option *o, char *rest)
{
	size_t idx = (size_t)(o - config_options);
	char why[CONFIG_ERR_MAX], *v = NULL;
	int r;

	if (p->set_line[idx] != 0)
		return config_fail(p, CHUBBY_E_CONFIG, "%s: set twice (first on line %u)", o->name,
		                   p->set_line[idx]);
	if ((r = config_value(p, o, rest, &v)) != CHUBBY_OK)
		return r;
	if ((r = config_set(p->cfg, o, v, why, sizeof why)) != CHUBBY_OK)
		return config_fail(p, r, "%s", why);
	p->set_line[idx] = p->line;
	return CHUBBY_OK;
}

/* "replica ID client=HOST:PORT peer=HOST:PORT status=HOST:PORT", after "replica". */
static int
config_replica_line(struct config_parser *p, char *s)
{
	struct cell_config *cfg = p->cfg;
	struct cell_replica *rep;
	bool seen[nitems(config_addr_keys)] = {false};
	const char *end;
	char *tok, why[CONFIG_ERR_MAX], host[CONFIG_ADDR_MAX];
	uint64_t id;
	unsigned port;

	s = config_skip_space(s);
	tok = s;
	while (*s != '\0' && !config_is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	if (*tok == '\0' || *tok == '#')
		return config_fail(p, CHUBBY_E_CONFIG, "replica: missing id (use \"%s\")",
		                   REPLICA_SYNTAX);
	if (config_digits(tok, &id, &end) != 1 || *end != '\0' || id < 1 ||
	    id > CONFIG_MAX_REPLICA_ID)
		return config_fail(p, CHUBBY_E_CONFIG, "replica: \"%s\" is not an id from 1 to %u",
		                   tok, CONFIG_MAX_REPLICA_ID);
	for (unsigned i = 0; i < cfg->nreplicas; i++)
		if (cfg->replicas[i].id == id)
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "replica %u: id used twice (first on line %u)",
			                   (unsigned)id, p->replica_line[i]);
	if (cfg->nreplicas == CONFIG_MAX_REPLICAS)
		return config_fail(p, CHUBBY_E_CONFIG, "too many replicas (at most %u)",
		                   CONFIG_MAX_REPLICAS);
	rep = &cfg->replicas[cfg->nreplicas];
	memset(rep, 0, sizeof *rep);
	rep->id = (unsigned)id;

	for (;;) {
		char *eq;
		size_t k;

		if ((tok = config_next_word(&s)) == NULL)
			break;
		if ((eq = strchr(tok, '=')) == NULL)
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "replica %u: \"%s\" is not NAME=HOST:PORT (use \"%s\")",
			                   rep->id, tok, REPLICA_SYNTAX);
		*eq = '\0';
		if (strcmp(tok, "dns") == 0) {
			if (rep->dns_name[0] != '\0')
				return config_fail(p, CHUBBY_E_CONFIG, "replica %u: dns given twice",
				                   rep->id);
			if (!config_dns_name_ok(eq + 1) || strlen(eq + 1) >= CONFIG_ADDR_MAX)
				return config_fail(p, CHUBBY_E_CONFIG,
				                   "replica %u: dns: \"%s\" is not a DNS name",
				                   rep->id, eq + 1);
			strcpy(rep->dns_name, eq + 1);
			continue;
		}
		for (k = 0; k < nitems(config_addr_keys); k++)
			if (strcmp(tok, config_addr_keys[k]) == 0)
				break;
		if (k == nitems(config_addr_keys)) {
			const char *sug =
			    config_suggest(tok, config_addr_keys, nitems(config_addr_keys));
			if (sug != NULL)
				return config_fail(
				    p, CHUBBY_E_CONFIG,
				    "replica %u: unknown address \"%s\" (did you mean \"%s\"?)",
				    rep->id, tok, sug);
			return config_fail(
			    p, CHUBBY_E_CONFIG,
			    "replica %u: unknown address \"%s\" (use client, peer, status and peer_listen)",
			    rep->id, tok);
		}
		if (seen[k])
			return config_fail(p, CHUBBY_E_CONFIG, "replica %u: %s given twice",
			                   rep->id, config_addr_keys[k]);
		seen[k] = true;
		if (config_parse_hostport(eq + 1, host, sizeof host, &port, why, sizeof why) !=
		    CHUBBY_OK)
			return config_fail(p, CHUBBY_E_CONFIG, "replica %u: %s: %s", rep->id,
			                   config_addr_keys[k], why);
		if (strlen(eq + 1) >= CONFIG_ADDR_MAX)
			return config_fail(p, CHUBBY_E_CONFIG, "replica %u: %s: address too long",
			                   rep->id, config_addr_keys[k]);
		strcpy((char *)rep + config_addr_offsets[k], eq + 1);
	}
	for (size_t k = 0; k < CONFIG_ADDR_REQUIRED; k++)
		if (!seen[k])
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "replica %u: no %s address (use \"%s\")", rep->id,
			                   config_addr_keys[k], REPLICA_SYNTAX);

	/* Two sockets cannot bind one address, and a peer dialling a client
	 * port would be a confusing failure later: refuse any reuse now. */
	for (size_t k = 0; k < nitems(config_addr_keys); k++) {
		const char *a = (const char *)rep + config_addr_offsets[k];
		char ha[CONFIG_ADDR_MAX], hb[CONFIG_ADDR_MAX];
		unsigned pa, pb;

		if (*a == '\0')
			continue; /* no peer_listen */
		(void)config_parse_hostport(a, ha, sizeof ha, &pa, NULL, 0);
		for (unsigned i = 0; i <= cfg->nreplicas; i++) {
			const struct cell_replica *o = &cfg->replicas[i];
			for (size_t j = 0; j < nitems(config_addr_keys); j++) {
				const char *b = (const char *)o + config_addr_offsets[j];
				if (i == cfg->nreplicas && j >= k)
					break;
				if (*b == '\0')
					continue;
				/* Listening where the others dial is allowed (and
				 * pointless); any other reuse is not. */
				if (o == rep && j == CONFIG_ADDR_PEER && k == CONFIG_ADDR_PEER_LISTEN)
					continue;
				(void)config_parse_hostport(b, hb, sizeof hb, &pb, NULL, 0);
				if (pa != pb || !config_same_host(ha, hb))
					continue;
				if (o == rep)
					return config_fail(
					    p, CHUBBY_E_CONFIG,
					    "replica %u: %s address %s is also its %s address",
					    rep->id, config_addr_keys[k], a, config_addr_keys[j]);
				return config_fail(
				    p, CHUBBY_E_CONFIG,
				    "replica %u: %s address %s is already replica %u's %s address",
				    rep->id, config_addr_keys[k], a, o->id, config_addr_keys[j]);
			}
		}
	}
	p->replica_line[cfg->nreplicas] = p->line;
	cfg->nreplicas++;
	return CHUBBY_OK;
}

#define MIRROR_SYNTAX "mirror NAME source=HOST:PORT[,HOST:PORT...] from=/ls/CELL/PATH to=/ls/CELL/PATH"

/* A clean absolute namespace path: /ls/CELL/... with no empty, "." or ".."
 * part and no trailing "/". */
static bool
config_ns_path_ok(const char *path)
{
	const char *c = path;

	if (strncmp(c, "/ls/", 4) != 0 || strlen(path) >= CONFIG_PATH_MAX)
		return false;
	for (c += 4;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (c[n] == '\0')
			return true;
		c += n + 1;
	}
}

/* Whether A is B or an ancestor of B. */
static bool
config_path_covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

const struct cell_mirror *
config_mirror_of(const struct cell_config *cfg, const char *path)
{
	for (unsigned i = 0; i < cfg->nmirrors; i++)
		if (config_path_covers(cfg->mirrors[i].to, path))
			return &cfg->mirrors[i];
	return NULL;
}

/* "mirror NAME source=... from=... to=... [tls_cert= tls_key= tls_ca=]",
 * after "mirror" (and an optional "="): a subtree of another cell copied
 * here read-only by the master (server/mirror). */
static int
config_mirror_line(struct config_parser *p, char *s)
{
	static const char *const keys[] = {"source", "from", "to", "tls_cert", "tls_key", "tls_ca"};
	struct cell_config *cfg = p->cfg;
	struct cell_mirror *m;
	char *tok;

	if (cfg->nmirrors == CONFIG_MAX_MIRRORS)
		return config_fail(p, CHUBBY_E_CONFIG, "too many mirrors (at most %u)",
		                   CONFIG_MAX_MIRRORS);
	m = &cfg->mirrors[cfg->nmirrors];
	memset(m, 0, sizeof *m);
	s = config_skip_space(s);
	tok = s;
	while (*s != '\0' && !config_is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	if (*tok == '\0' || *tok == '#' || strchr(tok, '=') != NULL)
		return config_fail(p, CHUBBY_E_CONFIG, "mirror: missing name (use \"%s\")",
		                   MIRROR_SYNTAX);
	if (strlen(tok) >= sizeof m->name || tok[strspn(tok, "abcdefghijklmnopqrstuvwxyz"
	                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] != '\0')
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "mirror: \"%s\" is not a name (letters, digits, \"._-\")", tok);
	for (unsigned i = 0; i < cfg->nmirrors; i++)
		if (strcmp(cfg->mirrors[i].name, tok) == 0)
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: name used twice", tok);
	strcpy(m->name, tok);
	for (;;) {
		char *eq, *field[] = {m->source, m->from, m->to, m->tls_cert, m->tls_key, m->tls_ca};
		size_t k;

		if ((tok = config_next_word(&s)) == NULL)
			break;
		if ((eq = strchr(tok, '=')) == NULL)
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "mirror %s: \"%s\" is not KEY=VALUE (use \"%s\")", m->name,
			                   tok, MIRROR_SYNTAX);
		*eq++ = '\0';
		for (k = 0; k < nitems(keys); k++)
			if (strcmp(tok, keys[k]) == 0)
				break;
		if (k == nitems(keys))
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "mirror %s: unknown key \"%s\" (use source, from, to, "
			                   "tls_cert, tls_key and tls_ca)", m->name, tok);
		if (field[k][0] != '\0')
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: %s given twice", m->name,
			                   keys[k]);
		if (*eq == '\0' || strlen(eq) >= CONFIG_PATH_MAX - 1)
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: %s: empty or too long",
			                   m->name, keys[k]);
		strcpy(field[k], eq);
	}
	if (m->source[0] == '\0' || m->from[0] == '\0' || m->to[0] == '\0')
		return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: needs source, from and to (use \"%s\")",
		                   m->name, MIRROR_SYNTAX);
	for (char *a = m->source; *a != '\0';) {
		char one[CONFIG_ADDR_MAX], host[CONFIG_ADDR_MAX], why[CONFIG_ERR_MAX];
		size_t n = strcspn(a, ",");
		unsigned port;

		if (n == 0 || n >= sizeof one)
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: source: bad address list",
			                   m->name);
		memcpy(one, a, n);
		one[n] = '\0';
		if (config_parse_hostport(one, host, sizeof host, &port, why, sizeof why) != CHUBBY_OK)
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: source: %s", m->name, why);
		a += n + (a[n] == ',');
	}
	if (!config_ns_path_ok(m->from) || !config_ns_path_ok(m->to))
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "mirror %s: from and to must be clean paths /ls/CELL/NAME...",
		                   m->name);
	cfg->nmirrors++;
	return CHUBBY_OK;
}

/* Rules between a mirror and the rest, once the cell's name is known. */
static int
config_check_mirrors(struct config_parser *p)
{
	struct cell_config *cfg = p->cfg;
	char prefix[80];
	size_t plen = (size_t)snprintf(prefix, sizeof prefix, "/ls/%s/", cfg->cell);

	for (unsigned i = 0; i < cfg->nmirrors; i++) {
		struct cell_mirror *m = &cfg->mirrors[i];
		const char *dflt[] = {cfg->client_tls_cert, cfg->client_tls_key, cfg->tls_ca};
		char *field[] = {m->tls_cert, m->tls_key, m->tls_ca};

		if (strncmp(m->to, prefix, plen) != 0)
			return config_fail(p, CHUBBY_E_CONFIG, "mirror %s: to \"%s\" is not under %s",
			                   m->name, m->to, prefix);
		/* The ACL files must stay writable by their admins here. */
		if (config_path_covers(m->to, cfg->acl_dir) || config_path_covers(cfg->acl_dir, m->to))
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "mirror %s: to \"%s\" overlaps acl_dir %s", m->name, m->to,
			                   cfg->acl_dir);
		for (unsigned j = 0; j < i; j++)
			if (config_path_covers(m->to, cfg->mirrors[j].to) ||
			    config_path_covers(cfg->mirrors[j].to, m->to))
				return config_fail(p, CHUBBY_E_CONFIG,
				                   "mirror %s: to \"%s\" overlaps mirror %s's", m->name,
				                   m->to, cfg->mirrors[j].name);
		for (size_t k = 0; k < 3; k++) {
			if (field[k][0] != '\0')
				continue;
			if (dflt[k] == NULL || dflt[k][0] == '\0' || strlen(dflt[k]) >= CONFIG_LINE_MAX)
				return config_fail(p, CHUBBY_E_CONFIG,
				                   "mirror %s: no TLS %s for the source cell (give %s=)",
				                   m->name, k == 0 ? "certificate" : k == 1 ? "key" : "CA",
				                   k == 0 ? "tls_cert" : k == 1 ? "tls_key" : "tls_ca");
			strcpy(field[k], dflt[k]);
		}
	}
	return CHUBBY_OK;
}

static int
config_line(struct config_parser *p, char *s)
{
	const struct config_option *o;
	const char *sug;
	char *word, *rest, saved;

	s = config_skip_space(s);
	if (*s == '\0' || *s == '#')
		return CHUBBY_OK;
	/* Take a word broadly (with "-" and "."), so "session-lease" is
	 * reported as a misspelt option rather than a syntax error. */
	word = s;
	while (isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')
		s++;
	if (s == word)
		return config_fail(p, CHUBBY_E_CONFIG, "expected \"NAME = VALUE\" or \"%s\"",
		                   REPLICA_SYNTAX);
	saved = *s;
	*s = '\0';
	if (saved == '=')
		rest = s + 1;
	else {
		rest = config_is_space(saved) ? config_skip_space(s + 1) : s + (saved != '\0');
		if (config_is_space(saved) && *rest == '=')
			rest++;
		else if (strcmp(word, "replica") == 0 && (saved == '\0' || config_is_space(saved)))
			return config_replica_line(p, rest);
		else if (strcmp(word, "mirror") == 0 && (saved == '\0' || config_is_space(saved)))
			return config_mirror_line(p, rest);
		else if (config_find(word) != NULL)
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "%s: missing \"=\" (use \"%s = VALUE\")", word, word);
		else if (saved != '\0' && !config_is_space(saved))
			return config_fail(p, CHUBBY_E_CONFIG, "unexpected \"%c\" after \"%s\"",
			                   saved, word);
	}

	if (strcmp(word, "mirror") == 0) /* "mirror = NAME ..." reads as "mirror NAME ..." */
		return config_mirror_line(p, rest);
	if ((o = config_find(word)) != NULL)
		return config_option_line(p, o, rest);
	if (strcmp(word, "replica") == 0)
		return config_fail(p, CHUBBY_E_CONFIG, "replica lines take no \"=\" (use \"%s\")",
		                   REPLICA_SYNTAX);
	if ((sug = config_suggest_option(word)) != NULL)
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "unknown option \"%s\" (did you mean \"%s\"?)", word, sug);
	return config_fail(p, CHUBBY_E_CONFIG, "unknown option \"%s\"", word);
}

/* --- The whole file. -------------------------------------------------------- */

static int
config_set_defaults(struct cell_config *cfg, char *err, size_t errlen)
{
	char why[CONFIG_ERR_MAX];
	int r;

	for (size_t i = 0; i < NOPTIONS; i++) {
		r = config_set(cfg, &config_options[i], config_options[i].def, why, sizeof why);
		if (r != CHUBBY_OK) {
			/* Only a bad table gets here; the unit test loads every default. */
			config_msg(err, errlen, "built-in default of %s", why);
			return r == CHUBBY_E_NOMEM ? r : CHUBBY_E_INTERNAL;
		}
	}
	return CHUBBY_OK;
}

/* A config holding the defaults, acl_dir still relative (the cell's name
 * is not known yet); NULL if out of memory or if the table is broken. */
static struct cell_config *
config_alloc(void)
{
	struct cell_config *cfg;

	if ((cfg = calloc(1, sizeof *cfg)) == NULL)
		return NULL;
	if (config_set_defaults(cfg, NULL, 0) != CHUBBY_OK) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Makes acl_dir absolute under /ls/CELL/, refusing names that leave it. */
static int
config_resolve_acl_dir(struct config_parser *p)
{
	struct cell_config *cfg = p->cfg;
	const char *rel = cfg->acl_dir;
	char prefix[80], *abs;
	size_t plen;

	plen = (size_t)snprintf(prefix, sizeof prefix, "/ls/%s/", cfg->cell);
	if (rel[0] == '/') {
		if (strncmp(rel, prefix, plen) != 0)
			return config_fail(p, CHUBBY_E_CONFIG, "acl_dir: \"%s\" is not under %s",
			                   rel, prefix);
		rel += plen;
	}
	for (const char *c = rel;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return config_fail(
			    p, CHUBBY_E_CONFIG,
			    "acl_dir: \"%s\" is not a clean name (empty, \".\" or \"..\" part)",
			    cfg->acl_dir);
		if (c[n] == '\0')
			break;
		c += n + 1;
	}
	if ((abs = malloc(plen + strlen(rel) + 1)) == NULL)
		return config_fail(p, CHUBBY_E_NOMEM, "out of memory");
	memcpy(abs, prefix, plen);
	strcpy(abs + plen, rel);
	free(cfg->acl_dir);
	cfg->acl_dir = abs;
	return CHUBBY_OK;
}

/* Rules between options, checked once the whole file is read. */
static int
config_check(struct config_parser *p)
{
	struct cell_config *cfg = p->cfg;
	char a[32], b[32], c[32];
	uint64_t drift;
	int r;

	p->line = 0;
	if (cfg->nreplicas == 0)
		return config_fail(p, CHUBBY_E_CONFIG, "no replicas (add a line \"%s\" for each)",
		                   REPLICA_SYNTAX);
	if (cfg->nreplicas % 2 == 0)
		config_warn(p,
		            "%u replicas survive no more failures than %u; an odd number is better",
		            cfg->nreplicas, cfg->nreplicas - 1);

	if (cfg->master_lease_renew_ms >= cfg->master_lease_ms) {
		config_fmt_duration(a, sizeof a, cfg->master_lease_renew_ms);
		config_fmt_duration(b, sizeof b, cfg->master_lease_ms);
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "master_lease_renew (%s) must be shorter than master_lease (%s)",
		                   a, b);
	}
	/* A master believes its lease ends this much early (drift over the
	 * lease, plus the margin); renewing any later means it lapses first. */
	drift = cfg->master_lease_ms * cfg->clock_drift_ppm / 1000000 + cfg->clock_margin_ms;
	if (cfg->master_lease_renew_ms <= drift) {
		config_fmt_duration(a, sizeof a, cfg->master_lease_renew_ms);
		config_fmt_duration(b, sizeof b, drift);
		return config_fail(
		    p, CHUBBY_E_CONFIG,
		    "master_lease_renew (%s) must be longer than the drift allowance (%s: "
		    "master_lease times clock_drift_ppm, plus clock_margin), or the master's "
		    "lease lapses before it renews",
		    a, b);
	}
	if (cfg->heartbeat_interval_ms >= cfg->election_timeout_ms) {
		config_fmt_duration(a, sizeof a, cfg->heartbeat_interval_ms);
		config_fmt_duration(b, sizeof b, cfg->election_timeout_ms);
		return config_fail(
		    p, CHUBBY_E_CONFIG,
		    "heartbeat_interval (%s) must be shorter than election_timeout (%s)", a, b);
	}
	if (cfg->grace_period_ms <= cfg->session_lease_ms) {
		config_fmt_duration(a, sizeof a, cfg->grace_period_ms);
		config_fmt_duration(b, sizeof b, cfg->session_lease_ms);
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "grace_period (%s) must be longer than session_lease (%s)", a,
		                   b);
	}
	if (cfg->proxies[0] != '\0' &&
	    cfg->proxy_claim_window_ms <= cfg->grace_period_ms + cfg->session_lease_ms) {
		config_fmt_duration(a, sizeof a, cfg->proxy_claim_window_ms);
		config_fmt_duration(b, sizeof b, cfg->grace_period_ms + cfg->session_lease_ms);
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "proxy_claim_window (%s) must be longer than grace_period plus "
		                   "session_lease (%s) when proxies are set",
		                   a, b);
	}
	for (const char *q = cfg->proxies; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return config_fail(p, CHUBBY_E_CONFIG, "proxies: a control character in the list");
	if (cfg->lock_delay_ms > cfg->lock_delay_max_ms) {
		config_fmt_duration(a, sizeof a, cfg->lock_delay_ms);
		config_fmt_duration(b, sizeof b, cfg->lock_delay_max_ms);
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "lock_delay (%s) must not be longer than lock_delay_max (%s)", a,
		                   b);
	}
	if (cfg->max_frame < cfg->max_contents + CONFIG_FRAME_OVERHEAD) {
		config_fmt_size(a, sizeof a, cfg->max_frame);
		config_fmt_size(b, sizeof b, cfg->max_contents);
		config_fmt_size(c, sizeof c, CONFIG_FRAME_OVERHEAD);
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "max_frame (%s) must be at least max_contents (%s) plus %s", a,
		                   b, c);
	}
	/* A change-ACL open to all undoes any restriction (issue 18). */
	if (cfg->root_acl_change[0] == '\0' &&
	    (cfg->root_acl_read[0] != '\0' || cfg->root_acl_write[0] != '\0'))
		return config_fail(p, CHUBBY_E_CONFIG,
		                   "root_acl_read or root_acl_write restricts the root but "
		                   "root_acl_change is open, so anyone could lift the restriction: "
		                   "set root_acl_change (e.g. to acl-admins)");
	for (const char *q = cfg->acl_admins; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return config_fail(p, CHUBBY_E_CONFIG,
			                   "acl_admins: a control character in the list");
	if ((cfg->client_tls_cert[0] == '\0') != (cfg->client_tls_key[0] == '\0'))
		return config_fail(
		    p, CHUBBY_E_CONFIG,
		    "client_tls_cert and client_tls_key go together: set both or neither");
	if ((r = config_resolve_acl_dir(p)) != CHUBBY_OK)
		return r;
	return config_check_mirrors(p);
}

/* Parses LEN bytes of BUF, which need not end in a NUL. */
static int
config_parse_buffer(const char *buf, size_t len, const char *name, struct cell_config **out,
                    char *err, size_t errlen)
{
	struct config_parser p;
	char line[CONFIG_LINE_MAX + 1];
	size_t pos = 0;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof p);
	p.name = name;
	p.err = err;
	p.errlen = errlen;
	config_msg(err, errlen, "%s", "");
	if ((p.cfg = config_alloc()) == NULL) {
		config_msg(err, errlen, "%s: out of memory", name);
		return CHUBBY_E_NOMEM;
	}
	if ((p.cfg->source = strdup(name)) == NULL) {
		r = config_fail(&p, CHUBBY_E_NOMEM, "out of memory");
		goto fail;
	}
	while (pos < len) {
		size_t start = pos, n;

		p.line++;
		while (pos < len && buf[pos] != '\n')
			pos++;
		n = pos - start;
		if (pos < len)
			pos++; /* the newline */
		if (n > 0 && buf[start + n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			r = config_fail(&p, CHUBBY_E_CONFIG, "line too long (more than %d bytes)",
			                CONFIG_LINE_MAX);
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[start + i];
			if (ch == '\0') {
				r = config_fail(&p, CHUBBY_E_CONFIG,
				                "NUL byte (is this a text file?)");
				goto fail;
			}
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				r = config_fail(&p, CHUBBY_E_CONFIG,
				                "control character 0x%02x (is this a text file?)",
				                ch);
				goto fail;
			}
		}
		memcpy(line, buf + start, n);
		line[n] = '\0';
		if ((r = config_line(&p, line)) != CHUBBY_OK)
			goto fail;
	}
	if ((r = config_check(&p)) != CHUBBY_OK)
		goto fail;
	*out = p.cfg;
	return CHUBBY_OK;
fail:
	config_free(p.cfg);
	return r;
}

int
config_parse_string(const char *text, const char *name, struct cell_config **out, char *err,
                    size_t errlen)
{
	return config_parse_buffer(text, strlen(text), name, out, err, errlen);
}

int
config_load(const char *path, struct cell_config **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t len;
	int r, saved;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		saved = errno;
		config_msg(err, errlen, "%s: %s", path, strerror(saved));
		return saved == ENOMEM ? CHUBBY_E_NOMEM : CHUBBY_E_IO;
	}
	/* One byte more than allowed tells "too large" from "just fits". */
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		fclose(f);
		config_msg(err, errlen, "%s: out of memory", path);
		return CHUBBY_E_NOMEM;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	saved = errno;
	if (ferror(f)) {
		config_msg(err, errlen, "%s: %s", path, strerror(saved));
		r = CHUBBY_E_IO;
	} else if (len > CONFIG_FILE_MAX) {
		config_msg(err, errlen, "%s: larger than %d bytes: not a cell config", path,
		           CONFIG_FILE_MAX);
		r = CHUBBY_E_CONFIG;
	} else
		r = config_parse_buffer(buf, len, path, out, err, errlen);
	free(buf);
	fclose(f);
	return r;
}

struct cell_config *
config_new(void)
{
	struct cell_config *cfg;
	struct config_parser p;

	if ((cfg = config_alloc()) == NULL)
		return NULL;
	/* The default acl_dir is relative; make it absolute as a file would. */
	memset(&p, 0, sizeof p);
	p.name = "defaults";
	p.cfg = cfg;
	if (config_resolve_acl_dir(&p) != CHUBBY_OK) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* --- Documentation. --------------------------------------------------------- */

static const char *
config_type_name(const struct config_option *o)
{
	switch (o->type) {
	case CONFIG_NAME:
		return "name";
	case CONFIG_STRING:
		return "string";
	case CONFIG_PATH:
		return "path";
	case CONFIG_DURATION:
		return "duration";
	case CONFIG_SIZE:
		return "size";
	case CONFIG_UINT:
		return "integer";
	case CONFIG_BOOL:
		return "boolean";
	case CONFIG_ENUM:
		return "choice";
	}
	return "?";
}

/* "duration, 200ms to 5m" or "error, warn, info or debug": what a value may be. */
static void
config_describe(const struct config_option *o, char *buf, size_t len)
{
	char lo[32], hi[32];

	if (o->type == CONFIG_DURATION || o->type == CONFIG_SIZE || o->type == CONFIG_UINT) {
		config_fmt_number(o, lo, sizeof lo, o->min);
		config_fmt_number(o, hi, sizeof hi, o->max);
		snprintf(buf, len, "%s, %s to %s", config_type_name(o), lo, hi);
	} else if (o->type == CONFIG_ENUM) {
		buf[0] = '\0';
		for (int i = 0; o->values[i] != NULL; i++) {
			if (i > 0)
				strncat(buf, o->values[i + 1] != NULL ? ", " : " or ",
				        len - strlen(buf) - 1);
			strncat(buf, o->values[i], len - strlen(buf) - 1);
		}
	} else if (o->type == CONFIG_BOOL)
		snprintf(buf, len, "yes or no");
	else if (o->flags & CONFIG_F_REPLICA)
		snprintf(buf, len, "%s with %%i", config_type_name(o));
	else
		snprintf(buf, len, "%s", config_type_name(o));
}

/* Writes WORDS wrapped to WIDTH columns, each line starting with PREFIX. */
static void
config_wrap(FILE *f, const char *prefix, const char *words, size_t width)
{
	size_t col = 0, plen = strlen(prefix);

	while (*words != '\0') {
		size_t n = strcspn(words, " ");

		if (col > 0 && col + 1 + n > width) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fputs(prefix, f);
			col = plen;
		} else {
			fputc(' ', f);
			col++;
		}
		fwrite(words, 1, n, f);
		col += n;
		words += n;
		while (*words == ' ')
			words++;
	}
	if (col > 0)
		fputc('\n', f);
}

/* A value as the file would need it written: quoted when empty or when it
 * holds what would otherwise end or change it. */
static void
config_write_value(FILE *f, const char *v)
{
	if (*v != '\0' && strpbrk(v, " \t#\"\\") == NULL) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

void
config_write_help(FILE *f)
{
	char desc[128];

	fputs("Options of the cell config file (see chubby.conf(5)):\n", f);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct config_option *o = &config_options[i];

		config_describe(o, desc, sizeof desc);
		fprintf(f, "\n  %s = ", o->name);
		config_write_value(f, o->def);
		fprintf(f, "  (%s)\n", desc);
		config_wrap(f, "      ", o->help, 78);
	}
	fprintf(f, "\nand one line per replica (1 to %d of them):\n  %s\n", CONFIG_MAX_REPLICAS,
	        REPLICA_SYNTAX);
}

/* Replica lines of the sample: five replicas on their own loopback
 * addresses, the layout chubby-cell uses, so the sample runs as is. */
static void
config_write_sample_replicas(FILE *f)
{
	for (unsigned id = 1; id <= 5; id++)
		fprintf(f,
		        "replica %u client=127.0.0.%u:7001 peer=127.0.0.%u:7101 "
		        "status=127.0.0.%u:7201\n",
		        id, 10 + id, 10 + id, 10 + id);
}

void
config_write_sample(FILE *f)
{
	const char *group = NULL;
	char desc[128];

	fputs(
	    "# chubby.conf: one chubby cell, its replicas and its settings; see chubby.conf(5).\n"
	    "#\n"
	    "# Generated from the option table in common/config.c by \"make update-config-docs\";\n"
	    "# edit the table, not this file.  Every option below is set to its default.\n"
	    "#\n"
	    "# Durations need a unit (ms, s, m or h); sizes may have one (B, KiB, MiB, GiB).\n"
	    "# Values with spaces or \"#\" go in double quotes.\n",
	    f);
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct config_option *o = &config_options[i];

		if (group == NULL || strcmp(group, o->group) != 0) {
			group = o->group;
			fprintf(f, "\n## %s\n", group);
		}
		config_describe(o, desc, sizeof desc);
		fputc('\n', f);
		config_wrap(f, "# ", o->help, 78);
		fprintf(f, "# (%s)\n%s = ", desc, o->name);
		config_write_value(f, o->def);
		fputc('\n', f);
	}
	fprintf(f,
	        "\n## Replicas\n\n"
	        "# One line per replica, 1 to %d of them (an odd number is best):\n"
	        "#   %s\n"
	        "# ID is 1 to %d.  Clients connect to the client address, replicas to each\n"
	        "# other's peer address; the status address serves HTTP status and metrics.\n",
	        CONFIG_MAX_REPLICAS, REPLICA_SYNTAX, CONFIG_MAX_REPLICA_ID);
	config_write_sample_replicas(f);
	fprintf(f,
	        "\n## Mirrors\n\n"
	        "# Subtrees of other cells this cell copies, read-only (at most %d lines;\n"
	        "# docs/OPERATIONS.md \"Mirroring\"):\n"
	        "#   %s\n"
	        "#     [tls_cert=FILE tls_key=FILE tls_ca=FILE]\n"
	        "# The master connects to the source cell with the TLS files given (a client\n"
	        "# certificate of the source's CA; default client_tls_cert, client_tls_key,\n"
	        "# tls_ca) and keeps `to` equal to `from`.  For example:\n"
	        "# mirror = global source=10.1.0.11:7001,10.1.0.12:7001,10.1.0.13:7001 "
	        "from=/ls/global/shared to=/ls/local/global\n",
	        CONFIG_MAX_MIRRORS, MIRROR_SYNTAX);
}

/* roff text: a backslash is written \e, a line must not start with a
 * control character, and each sentence starts a line (roff's convention, so
 * it knows where sentences end).  LITERAL also turns "-" into "\-", so that
 * what the reader copies from the page is a plain minus. */
static void
config_write_roff(FILE *f, const char *s, bool literal)
{
	bool bol = true;

	for (; *s != '\0'; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		bol = false;
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-' && literal)
			fputs("\\-", f);
		else if (*s == '.' && s[1] == ' ' && !literal) {
			fputs(".\n", f);
			while (s[1] == ' ')
				s++;
			bol = true;
		} else
			fputc(*s, f);
	}
}

void
config_write_man(FILE *f)
{
	const char *group = NULL;
	char desc[128];

	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct config_option *o = &config_options[i];

		if (group == NULL || strcmp(group, o->group) != 0) {
			group = o->group;
			fprintf(f, ".SS %s\n", group);
		}
		config_describe(o, desc, sizeof desc);
		fprintf(f, ".TP\n.B %s\n", o->name);
		config_write_roff(f, o->help, false);
		fputs("\n.br\n", f);
		config_write_roff(f, desc, true);
		fputs("; default \\fB", f);
		if (o->def[0] == '\0')
			fputs("\"\"", f);
		else
			config_write_roff(f, o->def, true);
		fputs("\\fR.\n", f);
	}
}
