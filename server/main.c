/* main.c: chubbyd, one replica of a chubby cell: arguments, start-up and wiring. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "backup.h"
#include "cellconfig.h"
#include "protocol.h"
#include "chubbyd.h"
#include "dnswatch.h"
#include "mirror/mirror.h"
#include "clock.h"
#include "log.h"
#include "replica.h"
#include "rpc/rpc_ns.h"
#include "seqtoken.h"
#include "session/session.h"
#include "session_shell.h"
#include "svc/svc.h"
#include "rpc/audit.h"
#include "rpc/rpc.h"
#include "status/status.h"
#include "tls.h"
#include "tp.h"
#include "xmalloc.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chubbyd -c FILE -i ID [options]\n"
	    "Runs replica ID of the chubby cell that FILE describes.\n"
	    "\n"
	    "  -c, --config FILE   the cell config (see chubby.conf(5))\n"
	    "  -i, --id ID         this replica's id, as listed in FILE\n"
	    "  -l, --log-level L   error, warn, info or debug (default: the config's log_level)\n"
	    "      --syslog        log to syslog instead of standard error\n"
	    "      --log-file FILE append log lines to FILE instead of standard error\n"
	    "                      (reopened on SIGHUP, for log rotation)\n"
	    "      --log-format F  text or json: one JSON object a line (default: the\n"
	    "                      config's log_format)\n"
	    "      --init          this is a brand-new cell: an empty data directory may vote\n"
	    "                      (without it, an empty data directory means lost data: the\n"
	    "                      replica catches up before it votes again)\n"
	    "      --join          this replica joins a running cell: an empty data directory\n"
	    "                      starts as a learner and takes the cell's configuration\n"
	    "                      from the master (lockctl members add it); ignored once\n"
	    "                      the directory is in use\n"
	    "      --restore BACKUP  with --init: start this new cell's replica from the state\n"
	    "                      in BACKUP (made by lockctl backup); give every replica\n"
	    "                      of the new cell the same file\n"
	    "      --check-config  load FILE, report problems, and exit\n"
	    "      --help-config   list every config option with its default\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       the version\n"
	    "\n"
	    "Signals: SIGTERM and SIGINT stop cleanly; SIGHUP reopens the log and reloads\n"
	    "the TLS certificate, key, CA bundle and CRL.\n");
}

/* Creates DIR and its parents, mode 0700. */
static int
mkdir_p(const char *dir, char *err, size_t errlen)
{
	char *p = xstrdup(dir);

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

/* Two daemons on one data directory would each think they own its
 * promises: refuse to start the second. */
int
chubbyd_lock_data_dir(struct chubbyd *d, char *err, size_t errlen)
{
	char *path;

	if (d->lock_fd >= 0)
		close(d->lock_fd);
	xasprintf(&path, "%s/LOCK", d->data_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "%s is locked: another chubbyd uses %s", path, d->data_dir);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct chubbyd *d = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(d->base, NULL);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	char err[512];
	int rc;

	struct chubbyd *d = arg;

	(void)sig;
	(void)what;
	/* A --log-file is opened again by name (logrotate moved the old one);
	 * stderr needs no reopening, syslog reconnects by itself.  Rotation of
	 * a redirected stderr is the service manager's job. */
	if (log_reopen(err, sizeof err) != 0)
		log_error("SIGHUP: %s; still writing to the old log file", err);
	else
		log_info("SIGHUP: logs reopened");
	/* And the TLS files: a rotated certificate or a new CRL takes effect
	 * without a restart. */
	rc = chubbyd_reload_tls(d, err, sizeof err);
	if (rc != CHUBBY_OK)
		log_error("SIGHUP: TLS files not reloaded, the old ones stay in use: %s", err);
	else
		log_info("SIGHUP: %s", err);
	/* An admin command too (issue 18 item 4), asked by whoever may
	 * signal the process rather than by a certificate. */
	audit_log("RELOAD", "(SIGHUP)", NULL, NULL, rc, NULL, rc != CHUBBY_OK ? err : NULL);
}

/* libevent's own warnings go through our log. */
static void
on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_ERR)
		log_error("libevent: %s", msg);
	else if (severity >= EVENT_LOG_WARN)
		log_warn("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"id", required_argument, NULL, 'i'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"syslog", no_argument, NULL, 's'},
	    {"init", no_argument, NULL, 'I'},
	    {"join", no_argument, NULL, 'J'},
	    {"restore", required_argument, NULL, 'R'},
	    {"log-file", required_argument, NULL, 'L'},
	    {"log-format", required_argument, NULL, 'F'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"help-config", no_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct chubbyd d;
	const char *config_path = NULL, *level_name = NULL, *restore_path = NULL, *log_path = NULL;
	int log_format = -1;
	char err[512], *end, *cert = NULL, *key = NULL;
	long idl = -1;
	int ch, use_syslog = 0, check_only = 0, init = 0, join = 0, level, rc = 1;
	struct event *ev_term, *ev_int, *ev_hup;

	memset(&d, 0, sizeof d);
	d.lock_fd = -1;
	while ((ch = getopt_long(argc, argv, "c:i:l:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'i':
			idl = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || idl < 1 || idl > 255) {
				fprintf(stderr, "chubbyd: -i: \"%s\" is not a replica id (1..255)\n",
				    optarg);
				return 2;
			}
			break;
		case 'l':
			level_name = optarg;
			if (log_level_parse(optarg) < 0) {
				fprintf(stderr, "chubbyd: -l: unknown level \"%s\" "
						"(error, warn, info, debug)\n", optarg);
				return 2;
			}
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'I':
			init = 1;
			break;
		case 'J':
			join = 1;
			break;
		case 'R':
			restore_path = optarg;
			break;
		case 'L':
			log_path = optarg;
			break;
		case 'F':
			if ((log_format = log_format_parse(optarg)) < 0) {
				fprintf(stderr, "chubbyd: --log-format: unknown format \"%s\" "
						"(text, json)\n", optarg);
				return 2;
			}
			break;
		case 'k':
			check_only = 1;
			break;
		case 'H':
			config_write_help(stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("chubbyd %s (protocol %d)\n", PACKAGE_VERSION, PROTO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chubbyd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config_path == NULL || (idl < 0 && !check_only)) {
		fprintf(stderr, "chubbyd: -c FILE and -i ID are required\n");
		usage(stderr);
		return 2;
	}
	if (join && init) {
		fprintf(stderr, "chubbyd: --init founds a new cell, --join joins a running one: "
				"give one of them\n");
		return 2;
	}
	if (restore_path != NULL && !init) {
		fprintf(stderr, "chubbyd: --restore seeds a brand-new cell: give --init with it\n");
		return 2;
	}
	if (config_load(config_path, &d.cfg, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "chubbyd: %s\n", err);
		return 1;
	}
	if (check_only && idl < 0) {
		printf("%s: OK\n", config_path);
		config_free(d.cfg);
		return 0;
	}
	d.id = (unsigned)idl;
	d.config_path = config_path;
	d.self = config_replica(d.cfg, d.id);
	if (d.self == NULL) {
		fprintf(stderr, "chubbyd: %s: no replica %u in this cell\n", config_path, d.id);
		config_free(d.cfg);
		return 1;
	}
	level = level_name != NULL ? log_level_parse(level_name) : d.cfg->log_level;
	{
		static char ident[32];
		snprintf(ident, sizeof ident, "chubbyd[%u]", d.id);
		log_init(ident, level);
	}
	log_set_replica(d.id);
	log_set_format(log_format >= 0 ? log_format : d.cfg->log_format);
	if (log_path != NULL && !check_only && log_use_file(log_path, err, sizeof err) != 0) {
		fprintf(stderr, "chubbyd: --log-file: %s\n", err);
		config_free(d.cfg);
		return 1;
	}
	log_use_syslog(use_syslog || d.cfg->use_syslog);
	event_set_log_callback(on_libevent_log);

	d.data_dir = config_expand(d.cfg->data_dir, d.id);
	cert = config_expand(d.cfg->tls_cert, d.id);
	key = config_expand(d.cfg->tls_key, d.id);
	if (d.data_dir == NULL || cert == NULL || key == NULL) {
		fprintf(stderr, "chubbyd: out of memory\n");
		return 1;
	}
	if (check_only) {
		printf("%s: OK (replica %u, client %s, data %s)\n", config_path, d.id,
		    d.self->client_addr, d.data_dir);
		rc = 0;
		goto out;
	}
	if (mkdir_p(d.data_dir, err, sizeof err) != 0 || chubbyd_lock_data_dir(&d, err, sizeof err) != 0) {
		log_error("%s", err);
		goto out;
	}

	if (d.cfg->sequencer_key_file[0] != '\0' &&
	    seqtoken_key_load(d.cfg->sequencer_key_file, &d.seq_key, &d.seq_key_len, err,
		sizeof err) != CHUBBY_OK) {
		log_error("sequencer_key_file: %s", err);
		goto out;
	}
	if (d.seq_key == NULL)
		log_warn("no sequencer_key_file: sequencers are not signed, so resource servers "
			 "cannot verify them offline");

	struct tls_config tc = {.ca_file = d.cfg->tls_ca, .cert_file = cert, .key_file = key,
	    .crl_file = d.cfg->tls_crl, .role = TLS_ROLE_SERVER};
	d.tls_server = tls_ctx_new(&tc, err, sizeof err);
	if (d.tls_server == NULL) {
		log_error("%s", err);
		goto out;
	}
	d.tp_accept = tp_tls_new(d.tls_server);

	signal(SIGPIPE, SIG_IGN);
	d.base = tp_event_base_new();
	if (d.base == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	d.started_mono_ms = clock_mono_ms();
	d.sessions = session_shell_new(&d);
	d.svc = rpc_ns_svc_new(&d);
	/* Before the client port opens: a replica that cannot start from its
	 * backup (damaged, another cell's, a store not empty) must never look
	 * up, even for a moment, to whoever waits for the port (chubby-cell up
	 * took such a moment for a started replica and then waited for a
	 * master that could not come). */
	if (restore_path != NULL && backup_restore(&d, restore_path, err, sizeof err) != CHUBBY_OK) {
		log_error("--restore: %s", err);
		goto out;
	}
	d.rpc = rpc_new(&d);
	if (rpc_listen(d.rpc, d.self->client_addr, err, sizeof err) != CHUBBY_OK) {
		log_error("client port: %s", err);
		goto out;
	}
	d.replica = replica_new(&d, init, join, err, sizeof err);
	if (d.replica == NULL) {
		log_error("%s", err);
		goto out;
	}
	/* The session layer follows what the replica applies; it has nothing
	 * to learn before (not master until the loop runs). */
	session_shell_attach(&d);
	d.status = status_http_new(&d, err, sizeof err);
	if (d.status == NULL) {
		log_error("status port: %s", err);
		goto out;
	}
	err[0] = '\0';
	d.dns = dnswatch_new(&d, err, sizeof err);
	if (d.dns == NULL && err[0] != '\0') {
		log_error("%s", err);
		goto out;
	}
	d.mirrors = mirror_set_new(&d);
	ev_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
	ev_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);

	log_info("replica %u of cell \"%s\": clients on %s, peers on %s, status on http://%s/, "
		 "data in %s", d.id, d.cfg->cell, d.self->client_addr, d.self->peer_addr,
	    d.self->status_addr, d.data_dir);
	event_base_dispatch(d.base);
	log_info("stopped");

	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	rc = 0;
out:
	mirror_set_free(d.mirrors); /* its clients talk to our own port: first */
	status_http_free(d.status);
	rpc_free(d.rpc);
	/* The replica and the session layer below answer what they still
	 * hold as they go (rpc_req_reply): the client port is gone by then,
	 * and says so by being NULL. */
	d.rpc = NULL;
	replica_free(d.replica); /* fails a DNS move in flight: before dnswatch_free */
	dnswatch_free(d.dns);
	session_free(d.sessions);
	/* Last: what the two above fail is answered through it. */
	svc_free(d.svc);
	backup_shutdown();
	free(d.seq_key);
	tp_free(d.tp_accept);
	tls_ctx_free(d.tls_server);
	if (d.base != NULL)
		event_base_free(d.base);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	free(d.data_dir);
	free(cert);
	free(key);
	config_free(d.cfg);
	log_use_file(NULL, err, sizeof err);
	return rc;
}
