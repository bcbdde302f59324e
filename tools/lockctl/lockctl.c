/* lockctl.c: the admin shell's entry point: global options and the command table. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "json.h"
#include "lockctl.h"

static const struct lockctl_cmd lockctl_cmds[] = {
    {"status", "", 0, 0, cmd_status,
	"every replica's role, epoch and log position, and who is master"},
    {"master", "", 0, 0, cmd_master, "which replica is master, at which address and epoch"},
    {"sync", "[-n N] [-w W]", 0, 4, cmd_sync,
	"barrier: wait until all committed writes are applied (N times, W at once)"},
};
#define LOCKCTL_NCMDS (sizeof lockctl_cmds / sizeof lockctl_cmds[0])

static void
usage(FILE *f)
{
	fprintf(f, "usage: lockctl [-C CELL] [--json] [-t MS] COMMAND [ARGS...]\n\n"
		   "  -C, --cell CELL   a cell config file, host:port,... or a DNS name\n"
		   "                    (default: $CHUBBY_CELL)\n"
		   "  -j, --json        answer in JSON\n"
		   "  -t, --timeout MS  give up on the cell after MS milliseconds (default 5000)\n"
		   "  -h, --help        this text;  -V, --version  the version\n\n"
		   "commands:\n");
	for (size_t i = 0; i < LOCKCTL_NCMDS; i++)
		fprintf(f, "  %-10s %-16s %s\n", lockctl_cmds[i].name, lockctl_cmds[i].args,
		    lockctl_cmds[i].help);
	fprintf(f, "\nTLS: the cell config's client_tls_cert/client_tls_key/tls_ca, or "
		   "$CHUBBY_CERT, $CHUBBY_KEY, $CHUBBY_CA.\n"
		   "Exit codes: 0 ok, 1 the operation failed, 2 usage, 3 cell unreachable.\n");
}

int
lockctl_error(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 0);
		json_kv_str(&j, "error", chubby_status_name(status));
		json_kv_str(&j, "message", msg);
		json_obj_end(&j);
		printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
		json_free(&j);
	} else {
		fprintf(stderr, "lockctl: %s\n", msg);
	}
	return exit_code;
}

int
lockctl_need_cell(struct lockctl *lc)
{
	char err[1024];
	int rc;

	if (lc->spec_loaded)
		return 0;
	rc = cellspec_parse(lc->cell_arg, &lc->spec, err, sizeof err);
	if (rc != CHUBBY_OK)
		return lockctl_error(lc, rc == CHUBBY_E_UNAVAILABLE ? LOCKCTL_EXIT_UNAVAIL
								     : LOCKCTL_EXIT_USAGE,
		    rc, "%s", err);
	lc->spec_loaded = 1;
	return 0;
}

static const struct lockctl_cmd *
lockctl_find(const char *name)
{
	for (size_t i = 0; i < LOCKCTL_NCMDS; i++)
		if (strcmp(lockctl_cmds[i].name, name) == 0)
			return &lockctl_cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cell", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct lockctl lc;
	const struct lockctl_cmd *cmd;
	char *end;
	long v;
	int ch, nargs;

	memset(&lc, 0, sizeof lc);
	lc.timeout_ms = 5000;
	/* A replica that hangs up mid-write must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* "+": stop at the command, so its own options are its own. */
	while ((ch = getopt_long(argc, argv, "+C:jt:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C':
			lc.cell_arg = optarg;
			break;
		case 'j':
			lc.json = 1;
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3600000) {
				fprintf(stderr, "lockctl: -t: \"%s\" is not a timeout in ms "
						"(1..3600000)\n", optarg);
				return LOCKCTL_EXIT_USAGE;
			}
			lc.timeout_ms = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return LOCKCTL_EXIT_OK;
		case 'V':
			printf("lockctl %s\n", PACKAGE_VERSION);
			return LOCKCTL_EXIT_OK;
		default:
			usage(stderr);
			return LOCKCTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return LOCKCTL_EXIT_USAGE;
	}
	cmd = lockctl_find(argv[optind]);
	if (cmd == NULL)
		return lockctl_error(&lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "unknown command \"%s\" (see lockctl --help)", argv[optind]);
	nargs = argc - optind - 1;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return lockctl_error(&lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "usage: lockctl %s %s", cmd->name, cmd->args);
	return cmd->fn(&lc, nargs, argv + optind + 1);
}
