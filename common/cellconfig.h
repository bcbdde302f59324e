/*
 * cellconfig.h: the cell config file, chubby.conf(5): the struct it fills,
 * its parser, and the documentation generated from the same option table.
 *
 * The header is not called config.h because every .c file starts with
 * autoconf's "config.h", and a common/config.h would shadow it for the files
 * in this folder (a quoted #include looks beside the including file first).
 *
 * common/ is linked into libchubby too, so nothing here aborts or prints on
 * its own: failures come back as a chubby status with a message in the
 * caller's buffer, "FILE:LINE: problem" or "FILE: problem".
 */
#ifndef CHUBBY_CELLCONFIG_H
#define CHUBBY_CELLCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Replicas in a cell; ids run from 1 to CONFIG_MAX_REPLICA_ID. */
#define CONFIG_MAX_REPLICAS 7
#define CONFIG_MAX_REPLICA_ID 255
/* Mirrors a cell may run (docs/OPERATIONS.md "Mirroring"). */
#define CONFIG_MAX_MIRRORS 8
/* A path in the namespace: the protocol's limit (docs/NAMESPACE.md). */
#define CONFIG_PATH_MAX 1025
/* "[" + a 253-byte host name + "]:" + 5-digit port + NUL, rounded up. */
#define CONFIG_ADDR_MAX 264
/* A good size for the err buffers below; longer messages are truncated. */
#define CONFIG_ERR_MAX 512
/* Longest line and largest file config_load accepts. */
#define CONFIG_LINE_MAX 1024
#define CONFIG_FILE_MAX (1024 * 1024)
/* Room a frame needs beyond a file's contents (envelope, path, metadata):
 * max_frame must be at least max_contents plus this. */
#define CONFIG_FRAME_OVERHEAD 4096

struct cell_replica {
	unsigned id;
	/* HOST:PORT as written in the file; config_parse_hostport splits them. */
	char client_addr[CONFIG_ADDR_MAX];
	char peer_addr[CONFIG_ADDR_MAX];
	char status_addr[CONFIG_ADDR_MAX];
	/* Where the replica binds its peer port when that is not peer_addr,
	 * the address the others dial (a relay, NAT or load balancer in
	 * between; etcd's listen- vs advertise-peer-urls).  "" : peer_addr. */
	char peer_listen[CONFIG_ADDR_MAX];
	/* A DNS name for this replica (dns=NAME; "" : none): the master polls
	 * it and moves the replica through the log to the address it names
	 * (docs/OPERATIONS.md "Replacing a machine by DNS"). */
	char dns_name[CONFIG_ADDR_MAX];
	/* Left the cell's configuration while this process ran (a removal
	 * chosen in the log, server/replica.c): not dialled, its peer links
	 * refused, listed as removed, until a restart or a new add. */
	bool removed;
};

/*
 * A subtree of another cell this cell copies, read-only (Chubby 2.12):
 * "mirror NAME source=HOST:PORT,... from=/ls/SRC/... to=/ls/CELL/..."
 * with optional tls_cert=, tls_key=, tls_ca= for the source cell
 * (defaults: this cell's client_tls_cert, client_tls_key, tls_ca).
 */
struct cell_mirror {
	char name[64];
	char source[CONFIG_LINE_MAX]; /* what libchubby is given as the cell */
	char from[CONFIG_PATH_MAX], to[CONFIG_PATH_MAX];
	char tls_cert[CONFIG_LINE_MAX], tls_key[CONFIG_LINE_MAX], tls_ca[CONFIG_LINE_MAX];
};

/*
 * One cell's configuration.  Durations are milliseconds (the _ms fields),
 * sizes are bytes.  The strings are owned by the struct; paths flagged
 * "%i" in chubby.conf(5) are templates: pass them to config_expand.
 */
struct cell_config {
	char *source; /* the path or name given to the parser; NULL from config_new */

	/* The cell. */
	char *cell;
	char *superuser;
	uint64_t dns_poll_ms; /* how often the master resolves replicas' dns= names */
	char *dns_server;     /* IP[:PORT] of the DNS server for them ("": resolv.conf) */
	char *acl_dir; /* always absolute after loading: /ls/CELL/... */
	/* Read by the master of a new cell only (docs/NAMESPACE.md
	 * "Permissions"): the ACL administrators, and the root's ACL names. */
	char *acl_admins; /* principals, separated by "," or blanks; "" if none */
	char *root_acl_read, *root_acl_write, *root_acl_change; /* "" for open */

	/* Files. */
	char *data_dir; /* %i template */
	char *tls_ca;
	char *tls_cert;           /* %i template */
	char *tls_key;            /* %i template */
	char *tls_crl;            /* "" if none */
	char *client_tls_cert;    /* "" if none */
	char *client_tls_key;     /* "" if none */
	char *client_proxies;     /* "HOST:PORT,...": libchubby's cell is these ("" : none) */
	char *sequencer_key_file; /* "" if none */

	/* Master lease and time. */
	uint64_t master_lease_ms;
	uint64_t master_lease_renew_ms;
	unsigned clock_drift_ppm;
	uint64_t clock_margin_ms;
	uint64_t election_timeout_ms;
	uint64_t heartbeat_interval_ms;

	/* Sessions and locks. */
	uint64_t session_lease_ms;
	uint64_t session_lease_max_ms; /* leases under load (docs/SESSIONS.md) */
	unsigned overload_queue, overload_keepalive_rate, overload_cpu;
	int lock_records; /* option "lock_records": SET_CONTENTS lock_record honoured */
	uint64_t overload_loop_lag_ms;
	unsigned overload_session_starts;
	uint64_t grace_period_ms;
	uint64_t lock_delay_ms;
	uint64_t lock_delay_max_ms;
	int handles_in_memory; /* docs/SESSIONS.md "Handles in memory" */
	/* Proxies (docs/OPERATIONS.md "Proxies: the cell's side"): the
	 * certificate principals of trusted proxies, separated by "," or
	 * blanks ("" if none), and how long a dead proxy's clients' handles
	 * wait to be claimed. */
	char *proxies;
	uint64_t proxy_claim_window_ms;

	/* Limits. */
	uint64_t max_contents;
	uint64_t max_frame;
	unsigned max_sessions;
	unsigned max_handles_per_session;
	unsigned max_connections;
	uint64_t frame_timeout_ms;

	/* Replication. */
	unsigned snapshot_interval;
	unsigned log_keep;
	unsigned batch_max;
	unsigned pipeline_max;
	unsigned checksum_interval;

	/* Logging. */
	int log_level;  /* LOG_LVL_* from log.h */
	int use_syslog; /* option "syslog" */
	int log_format; /* LOG_FMT_* from log.h */

	struct cell_replica replicas[CONFIG_MAX_REPLICAS]; /* in file order */
	unsigned nreplicas;

	struct cell_mirror mirrors[CONFIG_MAX_MIRRORS]; /* in file order */
	unsigned nmirrors;

	/* Remarks that did not stop loading ("FILE: ..." lines joined by
	 * newlines; "" if none), for chubbyd to log. */
	char warnings[CONFIG_ERR_MAX];
};

/*
 * Reads the cell config at PATH into a new *OUT (free with config_free).
 * Returns CHUBBY_OK; CHUBBY_E_IO if the file cannot be read, CHUBBY_E_CONFIG
 * if it is wrong, CHUBBY_E_NOMEM; on failure *OUT is NULL and ERR (if not
 * NULL) holds "PATH:LINE: problem" or "PATH: problem".
 */
int config_load(const char *path, struct cell_config **out, char *err, size_t errlen);

/* The same from TEXT in memory; NAME stands for the path in messages. */
int config_parse_string(const char *text, const char *name, struct cell_config **out, char *err,
                        size_t errlen);

/* A config with every default and no replicas, for clients that name a
 * cell without a file.  Caller frees with config_free; NULL if out of memory. */
struct cell_config *config_new(void);

/* Frees CFG and its strings; NULL is fine. */
void config_free(struct cell_config *cfg);

/* The mirror whose `to` is PATH or an ancestor of it, or NULL: PATH is a
 * read-only copy of another cell's.  Points into CFG. */
const struct cell_mirror *config_mirror_of(const struct cell_config *cfg, const char *path);

/* The replica with id ID, or NULL.  Points into CFG. */
const struct cell_replica *config_replica(const struct cell_config *cfg, unsigned id);

/* Checks a move of replica ID to ADDR (client, peer, status; HOST:PORT):
 * ID is a member, the addresses parse, and no other member uses them.
 * CHUBBY_OK, or E_NOT_FOUND / E_INVALID / E_EXISTS with the reason in MSG.
 * The checks of `lockctl members replace` and of a move by DNS. */
int config_check_move(const struct cell_config *cfg, unsigned id, char *const addr[3], char *msg,
    size_t msglen);
/* As config_check_move without asking that ID be in the config: the checks
 * of `lockctl members add`. */
int config_check_addresses(const struct cell_config *cfg, unsigned id, char *const addr[3],
    char *msg, size_t msglen);

/* Whether two hosts (as config_parse_hostport splits them) are the same:
 * by address when both are literal addresses of one family, else by name. */
bool config_same_host(const char *a, const char *b);

/* The config's acl_admins ("alice, bob carol") as the ACL administrators'
 * file's contents: one principal a line (malloc'd; the master's INIT_ACLS). */
char *config_admins_lines(const char *list);

/* Whether NAME is a DNS name a replica may be given (dns=NAME): labels of
 * letters, digits and hyphens, dot-separated, at most 253 bytes. */
bool config_dns_name_ok(const char *name);

/* TMPL with %i replaced by ID and %% by %.  Caller frees; NULL if out of memory. */
char *config_expand(const char *tmpl, unsigned id);

/*
 * Splits "HOST:PORT", "[IPV6]:PORT" or "NAME:PORT" into HOST (without
 * brackets, NUL-terminated) and PORT (1..65535).  Returns CHUBBY_OK, or
 * CHUBBY_E_INVALID with the reason in ERR (no file or line prefix).
 */
int config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
                          size_t errlen);

/* Documentation from the option table: the text for chubbyd --help-config,
 * a commented sample config (etc/chubby.conf), and the roff of the OPTIONS
 * section of chubby.conf(5).  tools/chubby-config-doc prints them. */
void config_write_help(FILE *f);
void config_write_sample(FILE *f);
void config_write_man(FILE *f);

/* The lines in man/chubby.conf.5 between which config_write_man's text goes. */
#define CONFIG_MAN_BEGIN ".\\\" BEGIN GENERATED OPTIONS"
#define CONFIG_MAN_END ".\\\" END GENERATED OPTIONS"

#endif
