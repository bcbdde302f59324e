/* lockctl.c: the admin shell's entry point: global options and the command table. */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "json.h"
#include "lockctl.h"
#include "tls.h"

/* One table serves one-shot mode, scripted mode, --help and the man page's
 * order.  Session commands parse their own options (lockctl_opts), so their
 * argument counts here are loose bounds. */
int cmd_backup(struct lockctl *lc, int argc, char **argv); /* cmd-backup.c */
#define S LOCKCTL_F_SCRIPT
#define SJ LOCKCTL_F_SCRIPT_JSON
static const struct lockctl_cmd lockctl_cmds[] = {
    {"status", "[--digest]", 0, 1, cmd_status,
	"every replica's role, epoch and log position, and who is master (--digest: and a hash "
	"of its state)", SJ},
    {"master", "[handoff [ID]]", 0, 2, cmd_master,
	"which replica is master, at which address and epoch; handoff: pass mastership on", SJ},
    {"sync", "[-n N] [-w W]", 0, 4, cmd_sync,
	"barrier: wait until all committed writes are applied (N times, W at once)", SJ},
    {"ls", "[-l] [-R] [PATH]", 0, 4, cmd_ls,
	"list a directory (-l: with each child's metadata; -R: the whole subtree)", S},
    {"cat", "PATH", 1, 2, cmd_cat, "print a file's contents", S},
    {"stat", "PATH", 1, 2, cmd_stat, "print a node's metadata", S},
    {"put", "[-e] [--if-gen N] PATH [--] [DATA]", 1, 7, cmd_put,
	"write a file (DATA, or stdin), creating it; --if-gen: compare-and-set", S},
    {"mkdir", "[-p] PATH", 1, 3, cmd_mkdir, "make a directory (-p: and its parents)", S},
    {"rm", "[-r [-f]] PATH", 1, 4, cmd_rm,
	"delete a file or an empty directory (-r: a whole subtree; -f: without asking)", S},
    {"acl", "get PATH | set [--allow-open-change] PATH R W C", 2, 8, cmd_acl,
	"show or change a node's ACL names (\"-\" keeps one)", S},
    /* Two lines of help for one command: lockctl_find() finds the first;
     * cmd_lock_run() hands the form without "--" to cmd_lock(). */
    {"lock", "[-s] [--no-create] [-t MS] PATH", 1, 4096, cmd_lock_run,
	"take a lock (-s shared; the file and its directories are made unless --no-create), "
	"print its sequencer and hold it", S},
    {"lock",
	"[-s] [--elect [--identity TEXT]] [--no-create] [-t MS] [--grace MS] PATH -- COMMAND "
	"[ARGS...]",
	1, 4096, cmd_lock_run, "run COMMAND holding the lock; stop it when the lock is lost", S},
    {"leader", "[--watch] PATH", 1, 3, cmd_leader,
	"who leads an election of lock --elect (exit 4: no one); --watch: each change", S},
    {"trylock", "[-s] [--no-create] PATH", 1, 4, cmd_trylock,
	"take a lock only if it is free now", S},
    {"unlock", "PATH", 1, 2, cmd_unlock, "release a lock taken in this session", S},
    {"sequencer", "PATH", 1, 2, cmd_sequencer, "the sequencer of a lock held in this session", S},
    {"checkseq", "[--offline --key FILE] HEX", 1, 5, cmd_checkseq,
	"is a sequencer current (ask the cell, or verify its signature offline)", S},
    {"watch", "[-r] [--contents] [-n N] [-t MS] PATH", 1, 8, cmd_watch,
	"print a node's events (N of them, or for MS ms; -r: its subtree's; a missing node: its "
	"creation); --contents: with the new contents", S},
    {"unwatch", "PATH", 1, 2, cmd_unwatch, "scripted mode: stop a watch", S},
    {"sessions", "", 0, 0, cmd_sessions,
	"the master's sessions: principal, lease left, handles, locks held", SJ},
    {"locks", "", 0, 0, cmd_locks, "every held lock: mode, holding session and handle, waiters",
	SJ},
    {"members", "[replace|add ID --client A --peer B --status C | remove ID]", 0, 9, cmd_members,
	"the cell's members (voters, learners); replace: move a dead replica's id to a new "
	"machine; add/remove: grow or shrink the cell by one replica", SJ},
    {"reload", "", 0, 0, cmd_reload,
	"every replica reads its TLS certificate, key, CA and CRL again (superuser)", SJ},
    {"backup", "[--verify] FILE", 1, 2, cmd_backup,
	"save a consistent copy of the cell's state to FILE (--verify: check FILE)", SJ},
    {"script", "", 0, 0, cmd_script,
	"read commands from stdin, one a line, in one session; one answer line each", 0},
    {"shell", "", 0, 0, cmd_shell,
	"an interactive shell (line editing, history, completion) in one session", 0},
};
#undef S
#undef SJ
#define LOCKCTL_NCMDS (sizeof lockctl_cmds / sizeof lockctl_cmds[0])

/* The global options; lockctl_optargs[i] names longopts[i]'s argument
 * (for `lockctl help --options`). */
static const struct option longopts[] = {
    {"cell", required_argument, NULL, 'C'},
    {"json", no_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};
static const char *const lockctl_optargs[] = {"CELL", NULL, "MS", NULL, NULL};

static void
usage(FILE *f)
{
	fprintf(f, "usage: lockctl [-C CELL] [--json] [-t MS] COMMAND [ARGS...]\n"
		   "       lockctl [-C CELL] [--json] [-t MS] [script] <COMMANDS\n"
		   "       lockctl [-C CELL] [--json] [-t MS] [shell]     (at a terminal)\n\n"
		   "  -C, --cell CELL   a cell config file, host:port,... or a DNS name\n"
		   "                    (default: $CHUBBY_CELL)\n"
		   "  -j, --json        answer in JSON\n"
		   "  -t, --timeout MS  give up on the cell after MS milliseconds (default 5000)\n"
		   "  -h, --help        this text;  -V, --version  the version\n"
		   "  (lockctl help [COMMAND]: the same, or one command's usage)\n\n"
		   "commands:\n");
	for (size_t i = 0; i < LOCKCTL_NCMDS; i++) {
		const struct lockctl_cmd *c = &lockctl_cmds[i];
		/* Long argument lists put the help on a line of its own. */
		if (strlen(c->args) > 18)
			fprintf(f, "  %-9s %s\n  %-9s %-18s %s\n", c->name, c->args, "", "", c->help);
		else
			fprintf(f, "  %-9s %-18s %s\n", c->name, c->args, c->help);
	}
	fprintf(f, "\nTLS: the cell config's client_tls_cert/client_tls_key/tls_ca, or "
		   "$CHUBBY_CERT, $CHUBBY_KEY, $CHUBBY_CA.\n"
		   "Exit codes: 0 ok, 1 the operation failed, 2 usage, 3 cell unreachable,\n"
		   "4 no leader (leader).\n");
}

void
lockctl_emit(const void *p, size_t n)
{
	fwrite(p, 1, n, stdout);
	/* A reader that went away: nothing more can be said; go quietly (the
	 * session ends with the process, and with it our locks). */
	if (fflush(stdout) != 0 || ferror(stdout))
		_exit(LOCKCTL_EXIT_FAIL);
}

/* Prints an error answer in the mode in force; TEXT_PREFIX is what the
 * one-shot stderr line carries before the message. */
static void
emit_error(struct lockctl *lc, int status, const char *text_prefix, const char *msg)
{
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 0);
		/* "error" is what DESIGN.md and lockctl(1) name; "status" the
		 * same name for readers that look for it there. */
		json_kv_str(&j, "error", chubby_status_name(status));
		json_kv_str(&j, "status", chubby_status_name(status));
		json_kv_str(&j, "message", msg);
		json_obj_end(&j);
		const char *t = json_text(&j) ? json_text(&j) : "{\"ok\":false}";
		lockctl_emit(t, strlen(t));
		lockctl_emit("\n", 1);
		json_free(&j);
	} else if (lc->script) {
		struct lockctl_buf b = {NULL, 0, 0};
		lockctl_buf_printf(&b, "error %s ", chubby_status_name(status));
		/* One line, whatever the message holds. */
		for (const char *c = msg; *c != '\0'; c++)
			lockctl_buf_add(&b, *c == '\n' || *c == '\r' ? " " : c, 1);
		lockctl_buf_add(&b, "\n", 1);
		lockctl_emit(b.p, b.len);
		lockctl_buf_free(&b);
	} else {
		fprintf(stderr, "lockctl: %s%s\n", text_prefix, msg);
	}
}

int
lockctl_error(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	emit_error(lc, status, "", msg);
	return exit_code;
}

int
lockctl_fail(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
{
	char msg[1200], prefix[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof prefix, "%s: %s: ", lc->cmd ? lc->cmd : "lockctl",
	    chubby_status_name(status));
	emit_error(lc, status, prefix, msg);
	return exit_code;
}

int
lockctl_api_fail(struct lockctl *lc, int rc, const char *path)
{
	const char *m = chubby_last_error();

	const char *name = chubby_status_name(rc);
	char buf[1024];
	size_t n;

	if (m == NULL || *m == '\0')
		m = chubby_strerror(rc);
	/* libchubby's messages read "PATH: E_NAME: detail"; ours put the
	 * status name first already, so say each part once. */
	if (path != NULL && strncmp(m, path, n = strlen(path)) == 0 && strncmp(m + n, ": ", 2) == 0)
		m += n + 2;
	n = strlen(name);
	for (const char *q = m; (q = strstr(q, name)) != NULL; q += n) {
		if ((q == m || (q - m >= 2 && q[-2] == ':' && q[-1] == ' ')) &&
		    strncmp(q + n, ": ", 2) == 0) {
			/* "WHAT: E_NAME: detail" -> "WHAT: detail" */
			snprintf(buf, sizeof buf, "%.*s%s", (int)(q - m), m, q + n + 2);
			m = buf;
			break;
		}
	}
	if (path != NULL && strstr(m, path) == NULL)
		return lockctl_fail(lc, LOCKCTL_EXIT_FAIL, rc, "%s: %s", path, m);
	return lockctl_fail(lc, LOCKCTL_EXIT_FAIL, rc, "%s", m);
}

int
lockctl_open_exit(int rc)
{
	switch (rc) {
	case CHUBBY_E_UNAVAILABLE:
	case CHUBBY_E_TIMEOUT:
	case CHUBBY_E_CONN:
		return LOCKCTL_EXIT_UNAVAIL;
	/* A local file that cannot be used (E_IO, E_TLS), or a certificate
	 * the cell refuses for good (E_TLS from the handshake): the user's to
	 * fix, as a bad command line is. */
	case CHUBBY_E_CONFIG:
	case CHUBBY_E_INVALID:
	case CHUBBY_E_IO:
	case CHUBBY_E_TLS:
		return LOCKCTL_EXIT_USAGE;
	default:
		return LOCKCTL_EXIT_FAIL;
	}
}

/*
 * Loads the TLS files the cell spec names, once, before any command
 * connects: a file that cannot be used (missing, unreadable, not PEM, a key
 * that does not match) is the user's to fix, so every command (a session's,
 * status's, an admin command's) exits 2 with the message naming the file,
 * instead of each failing its own way.  Files not named are left to the
 * command, which says which setting is missing.
 */
static int
lockctl_check_tls(const struct lockctl *lc, char *err, size_t errlen)
{
	const struct cellspec *s = &lc->spec;
	struct tls_config tc = {.ca_file = s->ca, .role = TLS_ROLE_CLIENT};
	struct tls_ctx *ctx;
	int rc;

	if (s->ca[0] == '\0')
		return CHUBBY_OK;
	if (s->cert[0] != '\0' && s->key[0] != '\0') {
		tc.cert_file = s->cert;
		tc.key_file = s->key;
	}
	if ((rc = tls_ctx_load(&ctx, &tc, err, errlen)) != CHUBBY_OK)
		return rc;
	tls_ctx_free(ctx);
	return CHUBBY_OK;
}

int
lockctl_reach_exit(int rc)
{
	switch (rc) {
	case CHUBBY_E_UNAVAILABLE:
	case CHUBBY_E_CONN:
	case CHUBBY_E_TIMEOUT:
		return LOCKCTL_EXIT_UNAVAIL;
	case CHUBBY_E_TLS:
		return LOCKCTL_EXIT_USAGE;
	default:
		return LOCKCTL_EXIT_FAIL;
	}
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
	if ((rc = lockctl_check_tls(lc, err, sizeof err)) != CHUBBY_OK)
		return lockctl_error(lc, LOCKCTL_EXIT_USAGE, rc, "%s", err);
	lc->spec_loaded = 1;
	return 0;
}

const struct lockctl_cmd *
lockctl_cmd_at(size_t i)
{
	return i < LOCKCTL_NCMDS ? &lockctl_cmds[i] : NULL;
}

const struct lockctl_cmd *
lockctl_find(const char *name)
{
	for (size_t i = 0; i < LOCKCTL_NCMDS; i++)
		if (strcmp(lockctl_cmds[i].name, name) == 0)
			return &lockctl_cmds[i];
	return NULL;
}

/* Prints WORD once: the words of COMMAND's usage lines, seen so far, are in SEEN. */
static void
help_word(struct lockctl_buf *seen, const char *word, size_t n, const char *arg)
{
	char line[128];

	snprintf(line, sizeof line, "\n%.*s%s%s\n", (int)n, word, arg ? " " : "", arg ? arg : "");
	if (seen->p != NULL && strstr(seen->p, line) != NULL)
		return;
	lockctl_buf_add(seen, line, strlen(line)); /* NUL-terminated, for strstr */
	fputs(line + 1, stdout);
}

/*
 * `lockctl help`: the usage; `help CMD`: CMD's usage lines; `help
 * --commands`: the command names, one a line; `help --options [CMD]`: the
 * words of CMD's usage lines (or the global options), one a line: "-s",
 * "-t MS" (an option and its argument), "get" (a literal word), "PATH" (an
 * argument).  Shell completion (etc/bash-completion/lockctl) reads these,
 * so it follows the command table instead of copying it.
 */
static int
cmd_help(int argc, char **argv)
{
	struct lockctl_buf seen = {NULL, 0, 0};
	int found = 0;

	if (argc == 0) {
		usage(stdout);
		return LOCKCTL_EXIT_OK;
	}
	if (argc == 1 && strcmp(argv[0], "--commands") == 0) {
		for (size_t i = 0; i < LOCKCTL_NCMDS; i++)
			if (i == 0 || strcmp(lockctl_cmds[i].name, lockctl_cmds[i - 1].name) != 0)
				printf("%s\n", lockctl_cmds[i].name);
		return LOCKCTL_EXIT_OK;
	}
	if (argc == 1 && strcmp(argv[0], "--options") == 0) {
		for (size_t i = 0; longopts[i].name != NULL; i++) {
			printf("--%s%s%s\n", longopts[i].name, lockctl_optargs[i] ? " " : "",
			    lockctl_optargs[i] ? lockctl_optargs[i] : "");
			printf("-%c%s%s\n", longopts[i].val, lockctl_optargs[i] ? " " : "",
			    lockctl_optargs[i] ? lockctl_optargs[i] : "");
		}
		return LOCKCTL_EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && strcmp(argv[0], "--options") != 0) ||
	    (argc == 1 && argv[0][0] == '-')) {
		fprintf(stderr, "usage: lockctl help [--commands | --options [COMMAND] | COMMAND]\n");
		return LOCKCTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < LOCKCTL_NCMDS; i++) {
		const struct lockctl_cmd *c = &lockctl_cmds[i];
		const char *p = c->args;

		if (strcmp(c->name, argv[argc - 1]) != 0)
			continue;
		found = 1;
		if (argc == 1) {
			printf("usage: lockctl %s %s\n  %s\n", c->name, c->args, c->help);
			continue;
		}
		/* Words are separated by blanks, "[", "]" and "|". */
		while (*p != '\0') {
			size_t n = strcspn(p, " []|"), m;
			const char *next = p + n;

			if (n == 0) {
				p++;
				continue;
			}
			/* "[--if-gen N]": an argument follows its option after
			 * blanks only ("[--allow-open-change] PATH" is two words). */
			next += strspn(next, " ");
			m = strcspn(next, " []|");
			if (p[0] == '-' && n > 1 && !(n == 2 && p[1] == '-') && m > 0 &&
			    next[0] >= 'A' && next[0] <= 'Z') {
				/* An option and the argument it takes. */
				char arg[64];
				snprintf(arg, sizeof arg, "%.*s", (int)m, next);
				help_word(&seen, p, n, arg);
				p = next + m;
				continue;
			}
			/* Not "--" (the end of options) nor "ARGS...". */
			if (!(n == 2 && p[0] == '-' && p[1] == '-') && !(n > 3 && strncmp(p + n - 3, "...", 3) == 0))
				help_word(&seen, p, n, NULL);
			p += n;
		}
	}
	lockctl_buf_free(&seen);
	if (!found) {
		fprintf(stderr, "lockctl: help: unknown command \"%s\" (see lockctl --help)\n",
		    argv[argc - 1]);
		return LOCKCTL_EXIT_USAGE;
	}
	return LOCKCTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct lockctl lc;
	const struct lockctl_cmd *cmd;
	char *end;
	long v;
	int ch, nargs, rc;

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
		/* No command: a program feeding us commands gets scripted mode; a
		 * person at a terminal the interactive shell. */
		if (!isatty(STDIN_FILENO)) {
			lc.cmd = "script";
			return cmd_script(&lc, 0, argv + argc);
		}
		lc.cmd = "shell";
		return cmd_shell(&lc, 0, argv + argc);
	}
	/* Not in the table: it needs no cell and no session, in no mode. */
	if (strcmp(argv[optind], "help") == 0)
		return cmd_help(argc - optind - 1, argv + optind + 1);
	cmd = lockctl_find(argv[optind]);
	if (cmd == NULL)
		return lockctl_error(&lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "unknown command \"%s\" (see lockctl --help)", argv[optind]);
	nargs = argc - optind - 1;
	lc.cmd = cmd->name;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return lockctl_error(&lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "usage: lockctl %s %s", cmd->name, cmd->args);
	rc = cmd->fn(&lc, nargs, argv + optind + 1);
	lockctl_session_close(&lc);
	return rc;
}
