/*
 * run.c: `lockctl lock [-s] [--elect [--identity TEXT]] [--no-create] [-t MS] [--grace MS] PATH -- COMMAND
 * ARGS...`: run a command while holding a lock (like `etcdctl lock` and
 * `consul lock`), and stop it as soon as the lock can no longer be trusted.
 *
 * Chubby §2.4 and §2.8: a lock is only as good as the session that holds
 * it.  Once the session is in jeopardy the local lease has run out, so the
 * master may already have expired the session and granted the lock to
 * another client; we therefore stop the command at JEOPARDY, not at
 * EXPIRED.  The stop is SIGTERM to the command's process group and SIGKILL
 * after --grace, so the command may outlive the lock by up to that grace
 * (and by however long this process itself was not scheduled): resource
 * servers must check CHUBBY_SEQUENCER (lockctl(1) "SAFETY").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chubby/chubby.h>

#include "lockctl.h"
#include "xmalloc.h"

extern char **environ;

/* The default --grace: SIGTERM, then SIGKILL this many ms later. */
#define RUN_GRACE_MS 5000u
/* An unbounded wait for the lock is made of bounded ACQUIREs this long, so
 * that SIGINT/SIGTERM end the wait within about this time (libchubby calls
 * cannot be interrupted, and chubby_close must not race a call). */
#define RUN_ACQUIRE_SLICE_MS 1000u
/* How often the session's state is looked at even without an event. */
#define RUN_POLL_MS 100

/* Set by the handlers while the command runs; each also writes a byte to
 * run_pipe so that lockctl_wait() wakes. */
static volatile sig_atomic_t run_got_chld, run_got_int, run_got_term, run_got_hup;
static int run_pipe[2] = {-1, -1};

static void
run_on_signal(int sig)
{
	int saved = errno;
	char b = 1;

	switch (sig) {
	case SIGCHLD: run_got_chld = 1; break;
	case SIGINT: run_got_int = 1; break;
	case SIGTERM: run_got_term = 1; break;
	case SIGHUP: run_got_hup = 1; break;
	default: break;
	}
	if (run_pipe[1] >= 0 && write(run_pipe[1], &b, 1) < 0)
		(void)0; /* a full pipe wakes the reader already */
	errno = saved;
}

static int
run_signals(void)
{
	static const int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa;

	if (pipe(run_pipe) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(run_pipe[i], F_SETFL, fcntl(run_pipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(run_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = run_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

static void
run_drain(void)
{
	char buf[64];

	while (run_pipe[0] >= 0 && read(run_pipe[0], buf, sizeof buf) > 0)
		;
}

/* Sends SIG to the command's process group (and to the command itself,
 * should it have left the group). */
static void
run_kill(pid_t pid, int sig)
{
	kill(-pid, sig);
	kill(pid, sig);
}

/* The environment of the command: ours without any CHUBBY_SEQUENCER,
 * CHUBBY_LOCK_PATH or CHUBBY_LOCK_GENERATION, then those three.  Built
 * before fork(): the child of a threaded process only calls exec. */
static char **
run_env(const char *hex, const char *path, uint64_t gen)
{
	static const char *const ours[] = {"CHUBBY_SEQUENCER=", "CHUBBY_LOCK_PATH=",
	    "CHUBBY_LOCK_GENERATION="};
	size_t n = 0, k = 0;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = xcalloc(n + 4, sizeof *env);
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (size_t o = 0; o < 3; o++)
			if (strncmp(environ[i], ours[o], strlen(ours[o])) == 0)
				skip = true;
		if (!skip)
			env[k++] = environ[i];
	}
	xasprintf(&env[k++], "CHUBBY_SEQUENCER=%s", hex);
	xasprintf(&env[k++], "CHUBBY_LOCK_PATH=%s", path);
	xasprintf(&env[k++], "CHUBBY_LOCK_GENERATION=%llu", (unsigned long long)gen);
	env[k] = NULL;
	return env;
}

/* Takes the lock, in slices so that a signal ends the wait; *H is the
 * handle holding it.  With CREATE the lock file (and its directories) are
 * made when missing.  Prints the error and returns the exit code if it
 * cannot be had. */
static int
run_acquire(struct lockctl *lc, const char *path, int mode, int create, int have_t, uint64_t ms,
    chubby_handle **h)
{
	uint64_t deadline = lockctl_now_ms() + ms;
	int rc;

	/* HANDLE_INVALID tells us if the file is deleted under the command. */
	if ((rc = lockctl_open_lockfile(lc, path, create, CHUBBY_EVMASK(CHUBBY_EV_HANDLE_INVALID),
		 h)) != 0)
		return rc;
	for (;;) {
		unsigned slice = RUN_ACQUIRE_SLICE_MS;
		uint64_t now = lockctl_now_ms();

		if (have_t) {
			if (now >= deadline) {
				rc = CHUBBY_E_TIMEOUT;
				break;
			}
			if (deadline - now < slice)
				slice = (unsigned)(deadline - now);
		}
		rc = chubby_acquire(*h, mode, slice);
		if (rc != CHUBBY_E_TIMEOUT)
			break;
		if (lockctl_signalled()) {
			chubby_handle_close(*h);
			*h = NULL;
			return lockctl_fail(lc, 128 + SIGINT, CHUBBY_E_CANCELLED,
			    "%s: interrupted while waiting for the lock", path);
		}
	}
	if (rc != CHUBBY_OK) {
		if (rc == CHUBBY_E_TIMEOUT)
			rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, rc,
			    "%s: the lock did not come within %llu ms", path, (unsigned long long)ms);
		else
			rc = lockctl_api_fail(lc, rc, path);
		chubby_handle_close(*h);
		*h = NULL;
		return rc;
	}
	return 0;
}

/* --elect: once it holds the lock, the leader writes its identity with the
 * lock's generation (cmd-leader.c says why) as a lock record, which the
 * cell clears when the lock is freed however this process ends (a kill -9
 * included); *WROTE is the content generation of that write, for the
 * step-down's compare-and-set. */
static int
run_identify(struct lockctl *lc, const char *path, chubby_handle *h, const char *identity,
    uint64_t *wrote)
{
	struct chubby_sequencer_info info;
	struct lockctl_buf rec = {NULL, 0, 0};
	struct chubby_stat st;
	void *seq = NULL;
	size_t len = 0;
	int rc;

	if ((rc = chubby_get_sequencer(h, &seq, &len)) == CHUBBY_OK)
		rc = chubby_sequencer_parse(seq, len, &info);
	chubby_free(seq);
	if (rc != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, path);
	lockctl_leader_record(identity, info.lock_gen, &rec);
	rc = chubby_set_lock_record(h, rec.p, rec.len, &st);
	lockctl_buf_free(&rec);
	if (rc != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, path);
	*wrote = st.content_gen;
	return 0;
}

/* Stepping down: clears the record, only if it is still ours (a content
 * generation moved on means a new leader wrote its own). */
static void
run_step_down(const char *path, chubby_handle *h, uint64_t wrote)
{
	int rc = chubby_set_contents_if(h, "", 0, wrote, NULL);

	if (rc != CHUBBY_OK && rc != CHUBBY_E_GEN_MISMATCH)
		fprintf(stderr, "lockctl: lock: %s: clearing the leader's identity: %s\n", path,
		    chubby_last_error());
}

/* Why the lock can no longer be trusted, or NULL while it can. */
static const char *
run_lost(struct lockctl *lc, chubby_handle *h, int *status)
{
	struct lockctl_event ev;
	const char *why = NULL;

	while (lockctl_event_pop(&ev)) {
		if (why == NULL && ev.type == CHUBBY_EV_JEOPARDY) {
			why = "the session is in jeopardy";
			*status = CHUBBY_E_JEOPARDY;
		} else if (why == NULL && ev.type == CHUBBY_EV_EXPIRED) {
			why = "the session expired";
			*status = CHUBBY_E_SESSION_EXPIRED;
			lc->session_lost = 1;
		} else if (why == NULL && ev.type == CHUBBY_EV_HANDLE_INVALID && ev.handle == h) {
			why = "the lock's node was deleted, its handle is invalid";
			*status = CHUBBY_E_BAD_HANDLE;
		}
		free(ev.path);
	}
	if (why != NULL)
		return why;
	/* Events can be late; the state is current. */
	switch (chubby_session_state(lc->client)) {
	case CHUBBY_SESSION_SAFE:
		return NULL;
	case CHUBBY_SESSION_JEOPARDY:
		*status = CHUBBY_E_JEOPARDY;
		return "the session is in jeopardy";
	default:
		lc->session_lost = 1;
		*status = CHUBBY_E_SESSION_EXPIRED;
		return "the session expired";
	}
}

/* Forwards the signals that came since the last call to the command. */
static void
run_forward(pid_t pid)
{
	if (run_got_int) {
		run_got_int = 0;
		run_kill(pid, SIGINT);
	}
	if (run_got_term) {
		run_got_term = 0;
		run_kill(pid, SIGTERM);
	}
	if (run_got_hup) {
		run_got_hup = 0;
		run_kill(pid, SIGHUP);
	}
}

/* Reaps the command if it ended: 1 with its wait status in *ST. */
static int
run_reap(pid_t pid, int *st)
{
	pid_t r;

	run_got_chld = 0;
	while ((r = waitpid(pid, st, WNOHANG)) < 0 && errno == EINTR)
		;
	return r == pid;
}

/* Stops the command: SIGTERM to its group, SIGKILL after GRACE_MS if it
 * (or anything left in its group) is still there. */
static void
run_stop(pid_t pid, unsigned grace_ms, int *st, int *reaped)
{
	struct lockctl_event ev;
	uint64_t end = lockctl_now_ms() + grace_ms;

	run_kill(pid, SIGTERM);
	for (;;) {
		uint64_t now = lockctl_now_ms();

		if (!*reaped)
			*reaped = run_reap(pid, st);
		/* Done once the group is empty (its id cannot be reused
		 * while any member lives). */
		if (*reaped && kill(-pid, 0) != 0)
			return;
		if (now >= end)
			break;
		lockctl_wait(run_pipe[0], (int)(end - now < 50 ? end - now : 50));
		/* lockctl_wait() wakes at once while events are queued. */
		while (lockctl_event_pop(&ev))
			free(ev.path);
		run_drain();
		run_forward(pid);
	}
	run_kill(pid, SIGKILL);
	if (!*reaped) {
		while (waitpid(pid, st, 0) < 0 && errno == EINTR)
			;
		*reaped = 1;
	}
}

/* Gives the terminal's foreground to PGRP (ignoring SIGTTOU meanwhile). */
static void
run_foreground(pid_t pgrp)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTTOU, &sa, &old);
	tcsetpgrp(STDIN_FILENO, pgrp);
	sigaction(SIGTTOU, &old, NULL);
}

/* The exit code a shell would give for wait status ST. */
static int
run_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return LOCKCTL_EXIT_FAIL;
}

static void
run_child(char **cmd, char **env, int fg)
{
	static const int dfl[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGTTOU};
	struct sigaction sa;
	const char *m;

	setpgid(0, 0);
	if (fg)
		tcsetpgrp(STDIN_FILENO, getpid()); /* SIGTTOU is still ignored here */
	/* lockctl ignores SIGPIPE; dispositions to ignore survive exec. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof dfl / sizeof dfl[0]; i++)
		sigaction(dfl[i], &sa, NULL);
	execvpe(cmd[0], cmd, env);
	/* Only async-signal-safe calls from here: we forked a threaded process. */
	m = errno == ENOENT ? ": command not found\n" : ": cannot execute\n";
	if (write(STDERR_FILENO, "lockctl: lock: ", 15) < 0 ||
	    write(STDERR_FILENO, cmd[0], strlen(cmd[0])) < 0 || write(STDERR_FILENO, m, strlen(m)) < 0)
		(void)0;
	_exit(errno == ENOENT ? 127 : 126);
}

/* Holds the lock while COMMAND runs.  H holds the lock on PATH. */
static int
run_command(struct lockctl *lc, const char *path, chubby_handle *h, unsigned grace_ms,
    char **cmd, const uint64_t *record_gen)
{
	struct chubby_sequencer_info info;
	struct sigaction ign, oldttou;
	void *seq = NULL;
	size_t len = 0;
	char *hex, **env;
	const char *why = NULL;
	pid_t pid;
	int rc, st = 0, reaped = 0, status = CHUBBY_OK, fg;

	if ((rc = chubby_get_sequencer(h, &seq, &len)) != CHUBBY_OK)
		return lockctl_api_fail(lc, rc, path);
	if ((rc = chubby_sequencer_parse(seq, len, &info)) != CHUBBY_OK) {
		chubby_free(seq);
		return lockctl_api_fail(lc, rc, path);
	}
	hex = lockctl_hex(seq, len);
	chubby_free(seq);
	env = run_env(hex, path, info.lock_gen);
	free(hex);
	if (run_signals() != 0) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_INTERNAL, "pipe: %s",
		    strerror(errno));
		goto out;
	}
	/* A signal that came before our handlers took over (lockctl_signals'
	 * flag would also keep lockctl_wait() from ever sleeping). */
	if (lockctl_signalled()) {
		rc = lockctl_fail(lc, 128 + SIGINT, CHUBBY_E_CANCELLED,
		    "%s: interrupted; the command was not run", path);
		goto out;
	}
	/* Whatever happened while we waited, the lock is good only if the
	 * session is safe now. */
	if ((why = run_lost(lc, h, &status)) != NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, status,
		    "%s: %s right after the lock was granted; the command was not run", path, why);
		goto out;
	}
	/* A person at a terminal talks to the command: its group gets the
	 * terminal (so ^C reaches it directly, and it may read). */
	fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGTTOU, &ign, &oldttou);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		sigaction(SIGTTOU, &oldttou, NULL);
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_INTERNAL, "fork: %s",
		    strerror(errno));
		goto out;
	}
	if (pid == 0)
		run_child(cmd, env, fg);
	/* Both sides set the group, so neither depends on who runs first. */
	setpgid(pid, pid);
	if (fg)
		tcsetpgrp(STDIN_FILENO, pid);
	sigaction(SIGTTOU, &oldttou, NULL);

	for (;;) {
		run_drain();
		run_forward(pid);
		if (run_reap(pid, &st)) {
			reaped = 1;
			break;
		}
		if ((why = run_lost(lc, h, &status)) != NULL)
			break;
		lockctl_wait(run_pipe[0], RUN_POLL_MS);
	}
	if (why != NULL) {
		/* Stderr first: the operator learns at once why it stops. */
		fprintf(stderr, "lockctl: lock: %s: %s: stopping %s (pid %ld; SIGKILL in %u ms)\n",
		    path, why, cmd[0], (long)pid, grace_ms);
		run_stop(pid, grace_ms, &st, &reaped);
	}
	if (fg)
		run_foreground(getpgrp());
	if (why != NULL) {
		rc = lockctl_fail(lc, LOCKCTL_EXIT_FAIL, status,
		    "lost the lock on %s (%s); the command was stopped (%s %d)", path, why,
		    WIFSIGNALED(st) ? "signal" : "exit status",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		goto out;
	}
	/* It ended on its own: let go of the lock now (closing the session
	 * would too, but a release failure is worth a line). */
	rc = run_exit_code(st);
	if (record_gen != NULL)
		run_step_down(path, h, *record_gen);
	if (chubby_release(h) != CHUBBY_OK)
		fprintf(stderr, "lockctl: lock: %s: release: %s\n", path, chubby_last_error());
out:
	for (char **e = env; *e != NULL; e++)
		if (strncmp(*e, "CHUBBY_SEQUENCER=", 17) == 0 ||
		    strncmp(*e, "CHUBBY_LOCK_PATH=", 17) == 0 ||
		    strncmp(*e, "CHUBBY_LOCK_GENERATION=", 23) == 0)
			free(*e);
	free(env);
	return rc;
}

/* lock [-s] [--elect [--identity TEXT]] [--no-create] [-t MS] [--grace MS] PATH -- COMMAND ARGS...; without
 * "--" (or without PATH before it) it is the plain `lock` of cmd-lock.c. */
int
cmd_lock_run(struct lockctl *lc, int argc, char **argv)
{
	static const char *const longs[] = {"elect", "grace=", "timeout=", "shared", "no-create",
	    "identity=", NULL};
	struct lockctl_opts o;
	chubby_handle *h = NULL;
	uint64_t ms = 0, grace = RUN_GRACE_MS;
	char *path = NULL;
	char identity[300], host[256];
	const char *ident_arg = NULL;
	uint64_t wrote = 0;
	int dd = -1, ch, rc, mode = CHUBBY_LOCK_EXCLUSIVE, elect = 0, have_t = 0, create = 1;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	}
	/* Was there a PATH before "--"?  (`lock -- -odd-name` is a plain lock.) */
	if (dd > 0) {
		int pos = 0;
		for (int i = 0; i < dd; i++) {
			if (argv[i][0] != '-' || argv[i][1] == '\0')
				pos++;
			else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--grace") == 0 ||
				 strcmp(argv[i], "--identity") == 0 ||
				 strcmp(argv[i], "--timeout") == 0)
				i++; /* its value */
		}
		if (pos == 0)
			dd = -1;
	}
	if (dd < 0)
		return cmd_lock(lc, argc, argv);
	if (lc->script)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_UNSUPPORTED,
		    "lock PATH -- COMMAND runs from the command line only");
	lockctl_opts_init(&o, dd, argv);
	while ((ch = lockctl_opts_next(&o, "st:", longs, "egtsNi")) != 0) {
		switch (ch) {
		case 'i':
			ident_arg = o.arg;
			break;
		case 'N':
			create = 0;
			break;
		case 's':
			mode = CHUBBY_LOCK_SHARED;
			break;
		case 'e':
			elect = 1;
			break;
		case 't':
			if (lockctl_parse_u64(o.arg, 86400000u, &ms) != 0 || ms == 0)
				return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "-t: \"%s\" is not a time in ms (1..86400000)", o.arg);
			have_t = 1;
			break;
		case 'g':
			if (lockctl_parse_u64(o.arg, 3600000u, &grace) != 0)
				return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
				    "--grace: \"%s\" is not a time in ms (0..3600000)", o.arg);
			break;
		default:
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "%s: usage: lock [-s] [--elect [--identity TEXT]] [--no-create] [-t MS] [--grace MS] PATH -- COMMAND "
			    "[ARGS...]", o.bad);
		}
	}
	if (o.npos != 1 || o.toomany || dd + 1 >= argc)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "usage: lock [-s] [--elect [--identity TEXT]] [--no-create] [-t MS] [--grace MS] PATH -- COMMAND [ARGS...]");
	if (ident_arg != NULL && !elect)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "--identity goes with --elect");
	if (ident_arg != NULL && (*ident_arg == '\0' || strchr(ident_arg, '\n') != NULL ||
				     strlen(ident_arg) >= sizeof identity))
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "--identity: one line of 1..%zu bytes", sizeof identity - 1);
	if (elect && mode == CHUBBY_LOCK_SHARED)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "--elect takes the lock exclusively: not with -s");
	/* SIGINT/SIGTERM while waiting for the lock end the wait. */
	lockctl_signals();
	if ((rc = lockctl_session(lc)) != 0)
		return rc;
	if ((rc = lockctl_path(lc, o.pos[0], &path)) != 0)
		return rc;
	if (ident_arg != NULL) {
		snprintf(identity, sizeof identity, "%s", ident_arg);
	} else if (elect) {
		/* As etcdctl elect and Curator take a name: hostname:pid by default. */
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "unknown");
		host[sizeof host - 1] = '\0';
		snprintf(identity, sizeof identity, "%s:%ld", host, (long)getpid());
	}
	if ((rc = run_acquire(lc, path, mode, create, have_t, ms, &h)) == 0) {
		if (!elect || (rc = run_identify(lc, path, h, identity, &wrote)) == 0)
			rc = run_command(lc, path, h, (unsigned)grace, argv + dd + 1,
			    elect ? &wrote : NULL);
		chubby_handle_close(h);
	}
	free(path);
	return rc;
}
