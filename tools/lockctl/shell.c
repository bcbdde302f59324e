/*
 * shell.c: lockctl's interactive shell: libedit line editing, a persistent
 * history, completion of command names and of node names (by READDIR of
 * the parent through the session), and the session's events printed above
 * the prompt as they come.  Commands run in one long-lived session through
 * the scripted mode's dispatcher (script.c), so they answer as there.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include <histedit.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

#define SHELL_HISTORY_SIZE 1000
/* Most names listed under the line when a completion is ambiguous. */
#define SHELL_LIST_MAX 200

/* Commands of the shell itself, beside the table's. */
static const char *const shell_builtins[][2] = {
    {"help", "[COMMAND]: the commands, or one command's usage"},
    {"reconnect", "end this session and start a new one (after EXPIRED)"},
    {"quit", "leave the shell (so does end of file, ^D); the session ends"},
    {"exit", "the same as quit"},
};
#define SHELL_NBUILTINS (sizeof shell_builtins / sizeof shell_builtins[0])

struct shell {
	struct lockctl *lc;
	EditLine *el;
	History *hist;
	char histfile[4096];
	char prompt[400];
	int shown_state; /* the session state the prompt last showed */
	int tty;         /* standard input and output are terminals */
	mbstate_t mbs;
};

/* SIGINT at the prompt empties the line; during a command the second one
 * leaves (a blocking lock cannot be interrupted).  SIGTERM and SIGHUP end
 * the shell (and its session) cleanly. */
static volatile sig_atomic_t sh_got_int, sh_got_term, sh_in_cmd;

static void
sh_on_signal(int sig)
{
	if (sig == SIGINT) {
		if (sh_in_cmd && sh_got_int) {
			static const char m[] = "\nlockctl: interrupted\n";
			if (write(STDERR_FILENO, m, sizeof m - 1) < 0)
				(void)0;
			_exit(128 + SIGINT);
		}
		sh_got_int = 1;
	} else {
		sh_got_term = 1;
	}
}

static void
sh_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sh_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll() in lockctl_wait() must return. */
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static int
sh_state(const struct lockctl *lc)
{
	if (lc->client == NULL)
		return 0;
	if (lc->session_lost)
		return CHUBBY_SESSION_EXPIRED;
	return chubby_session_state(lc->client);
}

static char *
sh_prompt(EditLine *el)
{
	struct shell *sh = NULL;
	const struct lockctl *lc;
	const char *cell, *mark = "";

	el_get(el, EL_CLIENTDATA, &sh);
	lc = sh->lc;
	cell = lc->cellname[0] != '\0' ? lc->cellname
	       : lc->spec.cell[0] != '\0' ? lc->spec.cell
					 : "?";
	sh->shown_state = sh_state(lc);
	switch (sh->shown_state) {
	case CHUBBY_SESSION_JEOPARDY: mark = " JEOPARDY"; break;
	case CHUBBY_SESSION_EXPIRED: mark = " EXPIRED"; break;
	case CHUBBY_SESSION_CLOSED: mark = " CLOSED"; break;
	default: break;
	}
	snprintf(sh->prompt, sizeof sh->prompt, "chubby:%s%s> ", cell, mark);
	return sh->prompt;
}

/* Prints queued events; 1 if there were any. */
static int
sh_events(struct shell *sh)
{
	struct lockctl_event ev;
	int any = 0;

	while (lockctl_event_pop(&ev)) {
		if (ev.type == CHUBBY_EV_EXPIRED)
			sh->lc->session_lost = 1;
		lockctl_event_print(sh->lc, &ev);
		free(ev.path);
		any = 1;
	}
	return any;
}

/* Whether events wait to be printed (without taking them). */
static int
sh_events_pending(void)
{
	return (lockctl_wait(-1, 0) & LOCKCTL_WAKE_EVENT) != 0;
}

/*
 * libedit's character source: waits on the terminal and on the session's
 * events at once.  Events that come while a line is being edited are
 * printed above it: the line is erased, the events printed, and libedit
 * draws prompt and line again (EL_REFRESH).  So is a change of session
 * state, for the prompt's mark.
 */
static int
sh_getc(EditLine *el, wchar_t *wc)
{
	struct shell *sh = NULL;

	el_get(el, EL_CLIENTDATA, &sh);
	for (;;) {
		char c;
		ssize_t n;
		size_t r;
		int w;

		if (sh_got_term)
			return 0; /* as end of file */
		if (sh_got_int) {
			errno = EINTR;
			return -1;
		}
		if (!sh->tty) {
			/* No line on display to draw again (libedit reads
			 * without editing). */
			sh_events(sh);
		} else if (sh_events_pending() || sh_state(sh->lc) != sh->shown_state) {
			lockctl_emit("\r\033[K", 4);
			sh_events(sh);
			el_set(el, EL_REFRESH);
		}
		w = lockctl_wait(STDIN_FILENO, 500);
		if (!(w & LOCKCTL_WAKE_INPUT))
			continue;
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		r = mbrtowc(wc, &c, 1, &sh->mbs);
		if (r == (size_t)-2)
			continue; /* the rest of a multibyte character */
		if (r == (size_t)-1) {
			memset(&sh->mbs, 0, sizeof sh->mbs);
			*wc = (wchar_t)(unsigned char)c;
		}
		return 1;
	}
}

/* ---- completion ---- */

struct cands {
	char **v;
	size_t n, cap;
};

static void
cands_add(struct cands *c, const char *s)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i], s) == 0)
			return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n++] = xstrdup(s);
}

static void
cands_free(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
}

/* Runs with standard output sent to /dev/null: what the session code says
 * on failure (in the answer format) must not land in the line being
 * edited.  Returns the saved descriptor for sh_quiet_end. */
static int
sh_quiet_begin(void)
{
	int saved, null;

	fflush(stdout);
	if ((saved = dup(STDOUT_FILENO)) < 0)
		return -1;
	if ((null = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) {
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return saved;
}

static void
sh_quiet_end(int saved)
{
	if (saved < 0)
		return;
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
}

/* The children of DIRARG (a name as typed: relative, full, "" for the
 * root) whose names start with BASE.  *FULLDIR gets the directory's full
 * name.  0, or -1 if it cannot be read. */
static int
sh_children(struct lockctl *lc, const char *dirarg, const char *base, struct cands *out,
    char **fulldir)
{
	chubby_handle *h;
	char **names = NULL;
	size_t n = 0, bl = strlen(base);
	int rc = -1, q = sh_quiet_begin();

	*fulldir = NULL;
	if (lockctl_session(lc) != 0 || lockctl_path(lc, dirarg, fulldir) != 0)
		goto out;
	if (chubby_handle_open(lc->client, *fulldir, CHUBBY_O_READ, NULL, &h, NULL) != CHUBBY_OK)
		goto out;
	if (chubby_readdir(h, &names, &n) == CHUBBY_OK) {
		for (size_t i = 0; i < n; i++)
			if (strncmp(names[i], base, bl) == 0)
				cands_add(out, names[i]);
		chubby_free_names(names, n);
		rc = 0;
	}
	chubby_handle_close(h);
out:
	sh_quiet_end(q);
	return rc;
}

/* Whether the node FULL is a directory (0 if it cannot be told). */
static int
sh_is_dir(struct lockctl *lc, const char *full)
{
	struct chubby_stat st;
	chubby_handle *h;
	int dir = 0;

	if (chubby_handle_open(lc->client, full, CHUBBY_O_READ, NULL, &h, NULL) != CHUBBY_OK)
		return 0;
	if (chubby_get_stat(h, &st) == CHUBBY_OK)
		dir = st.is_dir;
	chubby_handle_close(h);
	return dir;
}

/* Lists the candidates under the line, in columns. */
static void
sh_list(const struct cands *c)
{
	size_t w = 0, cols, shown = c->n < SHELL_LIST_MAX ? c->n : SHELL_LIST_MAX;
	struct lockctl_buf b = {NULL, 0, 0};

	for (size_t i = 0; i < shown; i++)
		if (strlen(c->v[i]) > w)
			w = strlen(c->v[i]);
	cols = 78 / (w + 2);
	if (cols == 0)
		cols = 1;
	lockctl_buf_add(&b, "\n", 1);
	for (size_t i = 0; i < shown; i++)
		lockctl_buf_printf(&b, "%-*s%s", (int)(w + 2), c->v[i],
		    (i + 1) % cols == 0 || i + 1 == shown ? "\n" : "");
	if (shown < c->n)
		lockctl_buf_printf(&b, "... and %zu more\n", c->n - shown);
	lockctl_emit(b.p, b.len);
	lockctl_buf_free(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Bound to TAB. */
static unsigned char
sh_complete(EditLine *el, int ch)
{
	struct shell *sh = NULL;
	const LineInfo *li = el_line(el);
	const char *start = li->cursor, *p = li->buffer, *base;
	struct cands c = {NULL, 0, 0};
	char *word, *dirarg = NULL, *fulldir = NULL, *first = NULL;
	size_t bl, lcp;
	int node = 0, all_dirs = 0, ret = CC_ERROR;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &sh);
	while (start > li->buffer && !isspace((unsigned char)start[-1]))
		start--;
	word = xstrndup(start, (size_t)(li->cursor - start));
	while (p < start && isspace((unsigned char)*p))
		p++;
	if (p < start) {
		/* The command's name, for `help CMD`. */
		const char *e = p;
		while (e < start && !isspace((unsigned char)*e))
			e++;
		first = xstrndup(p, (size_t)(e - p));
	}
	if (first == NULL || strcmp(first, "help") == 0) {
		/* A command name. */
		base = word;
		for (size_t i = 0; lockctl_cmd_at(i) != NULL; i++)
			if (strncmp(lockctl_cmd_at(i)->name, word, strlen(word)) == 0)
				cands_add(&c, lockctl_cmd_at(i)->name);
		for (size_t i = 0; i < SHELL_NBUILTINS; i++)
			if (strncmp(shell_builtins[i][0], word, strlen(word)) == 0)
				cands_add(&c, shell_builtins[i][0]);
	} else if (word[0] == '-') {
		goto out; /* an option: nothing to offer */
	} else {
		/* A node name: the last component, from its parent's children. */
		const char *slash = strrchr(word, '/');
		node = 1;
		base = slash != NULL ? slash + 1 : word;
		dirarg = slash != NULL ? xstrndup(word, (size_t)(slash - word)) : xstrdup("");
		if (slash == word) {
			/* "/x": the only top-level name is ls. */
			if (strncmp("ls", base, strlen(base)) == 0)
				cands_add(&c, "ls");
			all_dirs = 1;
		} else if (strcmp(dirarg, "/ls") == 0) {
			/* "/ls/x": the cell this session is in (its name is
			 * learnt with the root's full name). */
			if (sh_children(sh->lc, "", "\001", &c, &fulldir) == 0 &&
			    sh->lc->cellname[0] != '\0' &&
			    strncmp(sh->lc->cellname, base, strlen(base)) == 0)
				cands_add(&c, sh->lc->cellname);
			all_dirs = 1;
		} else if (sh_children(sh->lc, dirarg, base, &c, &fulldir) != 0) {
			goto out;
		}
	}
	if (c.n == 0)
		goto out;
	qsort(c.v, c.n, sizeof *c.v, cmp_str);
	bl = strlen(base);
	/* The longest common prefix of the candidates. */
	lcp = strlen(c.v[0]);
	for (size_t i = 1; i < c.n; i++) {
		size_t k = 0;
		while (k < lcp && c.v[i][k] == c.v[0][k])
			k++;
		lcp = k;
	}
	if (c.n == 1) {
		char *rest, *child;
		int dir = all_dirs;

		if (node && !dir && fulldir != NULL) {
			xasprintf(&child, "%s/%s", fulldir, c.v[0]);
			dir = sh_is_dir(sh->lc, child);
			free(child);
		}
		/* A directory takes a slash, to go on; anything else a blank. */
		xasprintf(&rest, "%s%s", c.v[0] + bl, dir ? "/" : " ");
		ret = el_insertstr(el, rest) == 0 ? CC_REFRESH : CC_ERROR;
		free(rest);
	} else if (lcp > bl) {
		char *rest = xstrndup(c.v[0] + bl, lcp - bl);
		ret = el_insertstr(el, rest) == 0 ? CC_REFRESH : CC_ERROR;
		free(rest);
	} else {
		sh_list(&c);
		ret = CC_REDISPLAY;
	}
out:
	cands_free(&c);
	free(word);
	free(first);
	free(dirarg);
	free(fulldir);
	return (unsigned char)ret;
}

/* ---- builtins ---- */

static void
sh_help(const char *name)
{
	struct lockctl_buf b = {NULL, 0, 0};
	int found = 0;

	for (size_t i = 0; lockctl_cmd_at(i) != NULL; i++) {
		const struct lockctl_cmd *c = lockctl_cmd_at(i);
		if (name != NULL && strcmp(c->name, name) != 0)
			continue;
		if (strcmp(c->name, "script") == 0 || strcmp(c->name, "shell") == 0)
			continue;
		found = 1;
		if (name != NULL)
			lockctl_buf_printf(&b, "usage: %s %s\n  %s\n", c->name, c->args, c->help);
		else if (strlen(c->args) > 22)
			lockctl_buf_printf(&b, "  %-9s %s\n  %-9s %-22s %s\n", c->name, c->args, "",
			    "", c->help);
		else
			lockctl_buf_printf(&b, "  %-9s %-22s %s\n", c->name, c->args, c->help);
	}
	for (size_t i = 0; i < SHELL_NBUILTINS; i++) {
		if (name != NULL && strcmp(shell_builtins[i][0], name) != 0)
			continue;
		found = 1;
		lockctl_buf_printf(&b, "  %-9s %s\n", shell_builtins[i][0], shell_builtins[i][1]);
	}
	if (name == NULL)
		lockctl_buf_printf(&b, "Names are relative to the cell's root or full (/ls/CELL/...); "
				       "TAB completes commands and names.\n");
	if (!found)
		lockctl_buf_printf(&b, "error E_INVALID no command \"%s\" (try help)\n", name);
	lockctl_emit(b.p, b.len);
	lockctl_buf_free(&b);
}

/* Runs LINE; 1 when the shell should end. */
static int
sh_line(struct shell *sh, const char *line)
{
	struct lockctl *lc = sh->lc;
	char err[128], **argv;
	int argc;

	if (lockctl_split(line, &argc, &argv, err, sizeof err) == 0) {
		int done = -1;

		if (argc == 0) {
			done = 0;
		} else if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0) {
			done = 1;
		} else if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "?") == 0) {
			sh_help(argc > 1 ? argv[1] : NULL);
			done = 0;
		} else if (strcmp(argv[0], "reconnect") == 0) {
			lockctl_session_close(lc);
			lc->session_lost = 0;
			lc->cmd = "reconnect";
			if (lockctl_session(lc) == 0) {
				char m[80];
				int n = snprintf(m, sizeof m, "ok session=%llu\n",
				    (unsigned long long)chubby_session_id(lc->client));
				lockctl_emit(m, (size_t)n);
			}
			done = 0;
		}
		lockctl_words_free(argc, argv);
		if (done >= 0)
			return done;
	}
	/* The dispatcher reports a line it cannot split. */
	sh_in_cmd = 1;
	lockctl_dispatch(lc, line, 1);
	sh_in_cmd = 0;
	return 0;
}

static void
sh_history_file(struct shell *sh)
{
	const char *f = getenv("LOCKCTL_HISTORY"), *home = getenv("HOME");

	sh->histfile[0] = '\0';
	if (f != NULL)
		snprintf(sh->histfile, sizeof sh->histfile, "%s", f);
	else if (home != NULL && *home != '\0')
		snprintf(sh->histfile, sizeof sh->histfile, "%s/.lockctl_history", home);
}

static void
sh_history_save(struct shell *sh)
{
	HistEvent ev;

	if (sh->histfile[0] == '\0')
		return;
	/* The commands may name secrets' paths: for this user only. */
	if (history(sh->hist, &ev, H_SAVE, sh->histfile) >= 0)
		chmod(sh->histfile, 0600);
}

/* shell: the interactive loop. */
int
cmd_shell(struct lockctl *lc, int argc, char **argv)
{
	struct shell sh;
	HistEvent ev;
	int rc, q;

	(void)argc;
	(void)argv;
	if (lc->script)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "already in a shell or scripted mode");
	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	setlocale(LC_CTYPE, "");
	memset(&sh, 0, sizeof sh);
	sh.lc = lc;
	sh.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	/* Commands answer as in scripted mode: one line each. */
	lc->script = 1;
	lc->shell = 1;
	sh_signals();

	sh.hist = history_init();
	history(sh.hist, &ev, H_SETSIZE, SHELL_HISTORY_SIZE);
	history(sh.hist, &ev, H_SETUNIQUE, 1);
	sh_history_file(&sh);
	if (sh.histfile[0] != '\0')
		history(sh.hist, &ev, H_LOAD, sh.histfile);

	sh.el = el_init("lockctl", stdin, stdout, stderr);
	el_set(sh.el, EL_CLIENTDATA, &sh);
	el_set(sh.el, EL_EDITOR, "emacs");
	el_set(sh.el, EL_SIGNAL, 1);
	el_set(sh.el, EL_PROMPT, sh_prompt);
	el_set(sh.el, EL_HIST, history, sh.hist);
	el_set(sh.el, EL_GETCFN, sh_getc);
	el_set(sh.el, EL_ADDFN, "lockctl-complete", "complete a command or node name",
	    sh_complete);
	el_set(sh.el, EL_BIND, "^I", "lockctl-complete", NULL);
	/* ~/.editrc (lockctl: lines) may rebind keys. */
	el_source(sh.el, NULL);

	/* Open the session now: a cell that cannot be reached is better
	 * known before the first command.  Not fatal: each command retries. */
	lc->cmd = "shell";
	if (lockctl_session(lc) == 0) {
		char *root = NULL, m[200];
		int n;

		q = sh_quiet_begin();
		if (lockctl_path(lc, "", &root) == 0)
			free(root);
		sh_quiet_end(q);
		n = snprintf(m, sizeof m, "lockctl %s: cell %s, session %llu; help lists the "
					  "commands, ^D leaves\n",
		    PACKAGE_VERSION, lc->cellname[0] != '\0' ? lc->cellname : "?",
		    (unsigned long long)chubby_session_id(lc->client));
		lockctl_emit(m, (size_t)n);
	}

	for (;;) {
		const char *line;
		char *copy;
		int count = 0;
		size_t len;

		sh_events(&sh);
		if (sh_got_term)
			break;
		sh_got_int = 0;
		line = el_gets(sh.el, &count);
		if (line == NULL || count <= 0) {
			if (count < 0 && errno == EINTR && sh_got_int && !sh_got_term) {
				/* ^C: the line is dropped. */
				lockctl_emit("\n", 1);
				continue;
			}
			lockctl_emit("\n", 1);
			break; /* end of file (^D) */
		}
		copy = xstrdup(line);
		len = strlen(copy);
		while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
			copy[--len] = '\0';
		if (len > 0) {
			history(sh.hist, &ev, H_ENTER, copy);
			sh_history_save(&sh);
		}
		rc = sh_line(&sh, copy);
		free(copy);
		if (rc)
			break;
	}
	sh_history_save(&sh);
	el_end(sh.el);
	history_end(sh.hist);
	/* The session ends cleanly: its locks free at once. */
	lockctl_session_close(lc);
	return LOCKCTL_EXIT_OK;
}
