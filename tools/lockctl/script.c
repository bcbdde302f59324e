/*
 * script.c: lockctl's scripted mode: commands from standard input, one a
 * line, all in one long-lived session, each answered with exactly one line
 * ("ok ..." / "error CODE message", or one JSON object with --json), with
 * the session's events as "event TYPE PATH" lines between answers.  This
 * is how programs and tests drive a long-lived client.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

#define SCRIPT_MAX_WORDS 64

static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
lockctl_words_free(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

int
lockctl_split(const char *line, int *argcp, char ***argvp, char *err, size_t errlen)
{
	struct lockctl_buf w = {NULL, 0, 0};
	char **argv = xcalloc(SCRIPT_MAX_WORDS + 1, sizeof *argv);
	const char *p = line;
	int argc = 0, inword = 0;

	for (;;) {
		char c = *p;

		if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    (c == '#' && !inword)) {
			if (inword) {
				if (argc == SCRIPT_MAX_WORDS) {
					snprintf(err, errlen, "more than %d words", SCRIPT_MAX_WORDS);
					goto fail;
				}
				argv[argc++] = xmemdup(w.p != NULL ? w.p : "", w.len + 1);
				w.len = 0;
				if (w.p != NULL)
					w.p[0] = '\0';
				inword = 0;
			}
			if (c == '\0' || c == '#')
				break;
			p++;
			continue;
		}
		inword = 1;
		if (c == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (end == NULL) {
				snprintf(err, errlen, "unterminated '");
				goto fail;
			}
			lockctl_buf_add(&w, p + 1, (size_t)(end - p - 1));
			p = end + 1;
		} else if (c == '"') {
			for (p++;; p++) {
				char e;
				if (*p == '\0') {
					snprintf(err, errlen, "unterminated \"");
					goto fail;
				}
				if (*p == '"')
					break;
				if (*p != '\\') {
					lockctl_buf_add(&w, p, 1);
					continue;
				}
				switch ((e = *++p)) {
				case 'n': lockctl_buf_add(&w, "\n", 1); break;
				case 't': lockctl_buf_add(&w, "\t", 1); break;
				case 'r': lockctl_buf_add(&w, "\r", 1); break;
				case '"': case '\\': lockctl_buf_add(&w, p, 1); break;
				case 'x': {
					int hi = hexdigit(p[1]), lo = hi < 0 ? -1 : hexdigit(p[2]);
					char b;
					if (hi < 0 || lo < 0) {
						snprintf(err, errlen, "\\x needs two hex digits");
						goto fail;
					}
					if ((b = (char)(hi << 4 | lo)) == '\0') {
						snprintf(err, errlen, "\\x00: words cannot hold NUL");
						goto fail;
					}
					lockctl_buf_add(&w, &b, 1);
					p += 2;
					break;
				}
				case '\0':
					snprintf(err, errlen, "unterminated \"");
					goto fail;
				default:
					/* As the shell: the backslash stays. */
					lockctl_buf_add(&w, p - 1, 2);
				}
			}
			p++;
		} else if (c == '\\') {
			if (p[1] == '\0') {
				snprintf(err, errlen, "a backslash at the end of the line");
				goto fail;
			}
			lockctl_buf_add(&w, p + 1, 1);
			p += 2;
		} else {
			lockctl_buf_add(&w, p, 1);
			p++;
		}
	}
	lockctl_buf_free(&w);
	*argcp = argc;
	*argvp = argv;
	return 0;
fail:
	lockctl_buf_free(&w);
	lockctl_words_free(argc, argv);
	return -1;
}

/* Runs one line's command; its answer is printed by the command.  The
 * scripted loop and the interactive shell (shell.c) share it. */
void
lockctl_dispatch(struct lockctl *lc, const char *line, int interactive)
{
	const struct lockctl_cmd *cmd;
	char err[128], **argv;
	int argc, nargs;

	lc->cmd = interactive ? "shell" : "script";
	if (lockctl_split(line, &argc, &argv, err, sizeof err) != 0) {
		lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "%s", err);
		return;
	}
	if (argc == 0) {
		/* A blank line or a comment: nothing to answer. */
		lockctl_words_free(argc, argv);
		return;
	}
	nargs = argc - 1;
	if ((cmd = lockctl_find(argv[0])) == NULL) {
		lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "unknown command \"%s\"",
		    argv[0]);
	} else if (!interactive && !(cmd->flags & LOCKCTL_F_SCRIPT) &&
		   !((cmd->flags & LOCKCTL_F_SCRIPT_JSON) && lc->json)) {
		/* The admin commands answer in several lines of text (a
		 * person at the shell reads them; a program could not). */
		lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_UNSUPPORTED,
		    "%s is not available in scripted mode%s", cmd->name,
		    cmd->flags & LOCKCTL_F_SCRIPT_JSON ? " without --json" : "");
	} else if (nargs < cmd->min_args || nargs > cmd->max_args) {
		lc->cmd = cmd->name;
		lockctl_usage(lc, NULL);
	} else {
		lc->cmd = cmd->name;
		cmd->fn(lc, nargs, argv + 1);
		/* The admin commands print with printf. */
		fflush(stdout);
	}
	lockctl_words_free(argc, argv);
}

static void
script_events(struct lockctl *lc)
{
	struct lockctl_event ev;

	while (lockctl_event_pop(&ev)) {
		if (ev.type == CHUBBY_EV_EXPIRED)
			lc->session_lost = 1;
		lockctl_event_print(lc, &ev);
		free(ev.path);
	}
}

/* script: the loop.  Also what `lockctl` without a command runs when its
 * standard input is not a terminal. */
int
cmd_script(struct lockctl *lc, int argc, char **argv)
{
	struct lockctl_buf in = {NULL, 0, 0};
	size_t done = 0;
	int eof = 0;

	(void)argc;
	(void)argv;
	if (lc->script)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "already in scripted mode");
	lc->script = 1;
	lockctl_signals();
	while (!lockctl_signalled()) {
		char *nl;
		int w;

		script_events(lc);
		/* Every complete line in what has come so far. */
		while (in.p != NULL && (nl = memchr(in.p + done, '\n', in.len - done)) != NULL) {
			*nl = '\0';
			lockctl_dispatch(lc, in.p + done, 0);
			done = (size_t)(nl - in.p) + 1;
			script_events(lc);
			if (lockctl_signalled())
				break;
		}
		if (done > 0) {
			memmove(in.p, in.p + done, in.len - done);
			in.len -= done;
			in.p[in.len] = '\0';
			done = 0;
		}
		if (eof) {
			/* A last line without its newline still counts. */
			if (in.len > 0 && !lockctl_signalled())
				lockctl_dispatch(lc, in.p, 0);
			break;
		}
		w = lockctl_wait(STDIN_FILENO, -1);
		if (w & LOCKCTL_WAKE_INPUT) {
			char tmp[65536];
			ssize_t n = read(STDIN_FILENO, tmp, sizeof tmp);
			if (n <= 0)
				eof = 1;
			else if (memchr(tmp, '\0', (size_t)n) != NULL) {
				/* NUL cannot be in a line we split: refuse the input. */
				lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "NUL byte in the input; ending");
				break;
			} else
				lockctl_buf_add(&in, tmp, (size_t)n);
		}
	}
	script_events(lc);
	lockctl_buf_free(&in);
	/* EOF ends the session cleanly: its locks free at once. */
	lockctl_session_close(lc);
	return LOCKCTL_EXIT_OK;
}
