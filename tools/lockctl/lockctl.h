/* lockctl.h: shared state of lockctl's commands and the command table's shape. */
#ifndef LOCKCTL_H
#define LOCKCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cellspec.h"
#include "json.h"

/* chubby_acquire()'s timeout for "wait as long as it takes". */
#define LOCKCTL_WAIT_FOREVER 0u

/* Exit codes (documented in lockctl(1)). */
#define LOCKCTL_EXIT_OK 0
#define LOCKCTL_EXIT_FAIL 1     /* the operation failed (the cell said no) */
#define LOCKCTL_EXIT_USAGE 2    /* bad command line */
#define LOCKCTL_EXIT_UNAVAIL 3  /* the cell could not be reached */
#define LOCKCTL_EXIT_NONE 4     /* `leader`: nobody leads */

struct chubby_client;
struct chubby_handle;
struct chubby_stat;

/* A handle kept open in the session after its command answered: the lock
 * of `lock`/`trylock` (so that `unlock` and `sequencer` find it), the
 * watch of a scripted `watch`, a scripted ephemeral file, and the plain
 * handles the namespace commands reuse (cmd-ns.c ns_open: mode is their
 * open flags).  Keyed by (kind, full path). */
enum lockctl_kept_kind {
	LOCKCTL_KEPT_LOCK = 1,
	LOCKCTL_KEPT_WATCH = 2,
	LOCKCTL_KEPT_FILE = 3,
	LOCKCTL_KEPT_HANDLE = 4
};
struct lockctl_kept {
	struct lockctl_kept *next;
	int kind;
	int mode; /* locks: CHUBBY_LOCK_SHARED or CHUBBY_LOCK_EXCLUSIVE */
	struct chubby_handle *h;
	char *path;
};

struct lockctl {
	const char *cell_arg; /* -C, or NULL for $CHUBBY_CELL */
	int json;
	unsigned timeout_ms;
	struct cellspec spec;
	int spec_loaded;
	/* Commands built on libchubby (session.c). */
	int script;                   /* scripted mode: exactly one answer line per command */
	int shell;                    /* ... and at the interactive shell (a person may confirm) */
	const char *cmd;              /* the running command's name, for messages */
	struct chubby_client *client; /* the session, opened on first need */
	int session_lost;             /* the library said EXPIRED */
	char cellname[256];           /* for relative paths; "" until learnt */
	struct lockctl_kept *kept;
	struct lockctl_watch *watches; /* cmd-watch.c */
};

struct lockctl_cmd {
	const char *name;
	const char *args; /* usage of the arguments */
	int min_args, max_args;
	int (*fn)(struct lockctl *lc, int argc, char **argv);
	const char *help;
	unsigned flags;
};
/* Flags of a command table entry. */
#define LOCKCTL_F_SCRIPT 0x1      /* runs in scripted mode (answers in one line) */
#define LOCKCTL_F_SCRIPT_JSON 0x2 /* runs in scripted mode with --json only */

/* Finds a command of the table; NULL if none. */
const struct lockctl_cmd *lockctl_find(const char *name);
/* The table's I-th entry, NULL past the end (help, completion).  A name
 * may have more than one entry (more than one usage line). */
const struct lockctl_cmd *lockctl_cmd_at(size_t i);

/* Loads the cell spec once; prints the error and returns non-zero on failure. */
int lockctl_need_cell(struct lockctl *lc);
/* Prints an error as text or as {"ok":false,...}; returns EXIT. */
int lockctl_error(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for the session commands: "lockctl: CMD: E_NAME: message" on
 * stderr; {"ok":false,"error":"E_NAME","status":"E_NAME","message":...}
 * with --json; "error E_NAME message" in scripted text mode.  Returns EXIT. */
int lockctl_fail(struct lockctl *lc, int exit_code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* lockctl_fail for a libchubby call that returned RC: the message is
 * chubby_last_error() (or the status's text), naming PATH if it does not. */
int lockctl_api_fail(struct lockctl *lc, int rc, const char *path);
/* "usage: CMD ARGS" (after BAD, the option not understood, if any);
 * returns LOCKCTL_EXIT_USAGE. */
int lockctl_usage(struct lockctl *lc, const char *bad);
/* The exit code for a failed chubby_open(): 3 when the cell is unreachable. */
int lockctl_open_exit(int rc);
/* The exit code for a failure to reach the cell or its master through
 * aclient/locate/probe: 3 when it may pass (E_UNAVAILABLE, E_CONN,
 * E_TIMEOUT), 2 for E_TLS (a TLS file unusable, or our certificate refused
 * for good: the user's to fix), else 1. */
int lockctl_reach_exit(int rc);

/* Writes N bytes to standard output and flushes it: every answer and event
 * line leaves at once, so a program driving lockctl never waits on a buffer. */
void lockctl_emit(const void *p, size_t n);

/* ---- session.c: the session, events, paths, kept handles ---- */

/* Opens the session if it is not open yet; prints the error and returns an
 * exit code if it cannot (3 when the cell is unreachable).  0 on success. */
int lockctl_session(struct lockctl *lc);
/* Ends the session (releasing its locks) and forgets kept handles. */
void lockctl_session_close(struct lockctl *lc);
/* Makes ARG a full name: "/ls/..." stays, "a/b" becomes "/ls/CELL/a/b", ""
 * and "." the cell's root.  Prints the error and returns an exit code if the
 * cell's name cannot be learnt; 0 on success with a malloc'd *OUT. */
int lockctl_path(struct lockctl *lc, const char *arg, char **out);

struct lockctl_kept *lockctl_kept_find(struct lockctl *lc, int kind, const char *path);
void lockctl_kept_add(struct lockctl *lc, int kind, int mode, struct chubby_handle *h,
    const char *path);
/* Unlinks and frees K (does not close its handle). */
void lockctl_kept_remove(struct lockctl *lc, struct lockctl_kept *k);
/* PATH was deleted: closes and forgets the plain handles and the ephemeral
 * file the session kept on it. */
void lockctl_kept_forget(struct lockctl *lc, const char *path);

/* Events: libchubby's callback queues them (it runs on the library's
 * thread and must never block on our output); the main thread prints them. */
struct lockctl_event {
	int type;
	struct chubby_handle *handle; /* compared, never dereferenced */
	char *path;                   /* NULL for session events */
	int has_gen;                  /* CONTENTS_MODIFIED: the generation it made */
	uint64_t gen;
};
/* Pops the oldest queued event into EV (free EV->path); 0 if none. */
int lockctl_event_pop(struct lockctl_event *ev);
/* Prints EV as "event TYPE PATH [content_generation=N]" or
 * {"event":"TYPE","path":...,"content_generation":N}; an event of a
 * watch's handle as the watch says (cmd-watch.c). */
void lockctl_event_print(struct lockctl *lc, const struct lockctl_event *ev);
/* The same for any event; a CONTENTS_MODIFIED of CONTENTS_H also gets the
 * contents, read after the event, and the generation of what was read. */
void lockctl_event_print_h(struct lockctl *lc, const struct lockctl_event *ev,
    struct chubby_handle *contents_h);
/* cmd-watch.c: EV, if it is of one of the session's watches, printed as
 * that watch says: the number of lines printed (0: none); -1 if EV is not
 * a watch's. */
int lockctl_watch_event(struct lockctl *lc, const struct lockctl_event *ev);
/* Forgets every watch (closing their handles if CLOSE_HANDLES). */
void lockctl_watches_free(struct lockctl *lc, int close_handles);
const char *lockctl_event_name(int type);

/* Waits for something to happen: a queued event, a signal (SIGINT, SIGTERM),
 * input on FD (-1: none), or TIMEOUT_MS (-1: none).  Returns a mask. */
#define LOCKCTL_WAKE_EVENT 0x1
#define LOCKCTL_WAKE_SIGNAL 0x2
#define LOCKCTL_WAKE_INPUT 0x4
#define LOCKCTL_WAKE_TIMEOUT 0x8
int lockctl_wait(int fd, int timeout_ms);
/* Set once SIGINT or SIGTERM arrived (after lockctl_signals()). */
int lockctl_signalled(void);
void lockctl_signals(void);
/* Milliseconds of a monotonic clock. */
uint64_t lockctl_now_ms(void);

/* ---- nsutil.c: namespace steps commands share ---- */

/* Makes every directory of the full name PATH up to byte UPTO (PATH[UPTO]
 * is '/' or the NUL), parents first, as mkdir -p; *ANY says whether one
 * was made.  A node there that is not a directory is E_NOT_DIR.  Prints
 * the error and returns the exit code on failure; 0 on success. */
int lockctl_mkdirs(struct lockctl *lc, char *path, size_t upto, _Bool *any);
/* Opens the lock file PATH for reading and writing (ACQUIRE needs it),
 * with EVENT_MASK; with CREATE it is made if missing, and so are its
 * directories.  Prints the error and returns the exit code on failure. */
int lockctl_open_lockfile(struct lockctl *lc, const char *path, int create, uint32_t event_mask,
    struct chubby_handle **h);

/* ---- reply.c: answers in the three output modes ---- */

/* A growable byte buffer (aborts on out-of-memory, as tools may). */
struct lockctl_buf {
	char *p;
	size_t len, cap;
};
void lockctl_buf_add(struct lockctl_buf *b, const void *p, size_t n);
void lockctl_buf_printf(struct lockctl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends P as one word of the scripted syntax: bare if it is made of safe
 * characters, else in double quotes with \" \\ \n \t \r \xHH escapes. */
void lockctl_buf_quote(struct lockctl_buf *b, const void *p, size_t n);
void lockctl_buf_free(struct lockctl_buf *b);

/*
 * One successful answer, built once and printed in the mode in force:
 *  - --json: one object {"ok":true, key: value, ...};
 *  - scripted text: one line "ok key=value ..." (values quoted as above);
 *  - one-shot text: "key value" lines, unless the command wrote its own
 *    human text with reply_human*() (then only that is printed).
 */
struct reply {
	struct lockctl *lc;
	struct json j;
	struct lockctl_buf words; /* scripted text */
	struct lockctl_buf human; /* one-shot text */
	int custom_human;
};
void reply_begin(struct lockctl *lc, struct reply *r);
void reply_str(struct reply *r, const char *key, const char *v);
void reply_bin(struct reply *r, const char *key, const void *p, size_t n);
void reply_uint(struct reply *r, const char *key, uint64_t v);
void reply_bool(struct reply *r, const char *key, int v);
/* Adds a bare word to the scripted text line only. */
void reply_word(struct reply *r, const void *p, size_t n);
/* One-shot text written by the command itself. */
void reply_human(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply_human_bin(struct reply *r, const void *p, size_t n);
/* Contents (any bytes) under KEY: in JSON as KEY when they are valid UTF-8,
 * else as KEY_b64 in base64 (KEY left out); as reply_bin elsewhere. */
void reply_contents(struct reply *r, const char *key, const void *p, size_t n);
/* The same rule for a JSON object being built (events). */
void lockctl_json_contents(struct json *j, const char *key, const void *p, size_t n);
int lockctl_utf8_valid(const void *p, size_t n);
/* RFC 4648 base64 of P, malloc'd. */
char *lockctl_base64(const void *p, size_t n);
/* MS since the epoch as ISO 8601 UTC with milliseconds,
 * "2026-12-06T13:33:06.123Z". */
void lockctl_iso8601(uint64_t ms, char *buf, size_t len);
/* Prints the answer; returns LOCKCTL_EXIT_OK. */
int reply_end(struct reply *r);
/* Drops an answer that will not be given (an error came up). */
void reply_abort(struct reply *r);
/* Adds a node's metadata (struct chubby_stat) under the common key names. */
void reply_stat(struct reply *r, const struct chubby_stat *st);

const char *lockctl_mode_name(int mode);
/* Hex of P (lower case), malloc'd. */
char *lockctl_hex(const void *p, size_t n);
/* Decodes hex S into a malloc'd buffer; -1 if S is not hex. */
int lockctl_unhex(const char *s, void **out, size_t *outlen);

/* A small option parser for the session commands, the same in one-shot
 * and scripted mode: options may come anywhere before "--".  SPEC lists the
 * short options ("st:" : -s, -t with a value); LONGS the long ones, each
 * "name" or "name=" (with a value), mapped to the short code in LONGCODES. */
struct lockctl_opts {
	int argc;
	char **argv;
	int i;
	int done;
	const char *arg;  /* the value of an option that takes one */
	char bad[64];     /* the option that was not understood */
	char *pos[8];     /* positional arguments seen so far */
	int npos;
	int toomany;
};
void lockctl_opts_init(struct lockctl_opts *o, int argc, char **argv);
/* The next option's code, 0 at the end, '?' for a bad one. */
int lockctl_opts_next(struct lockctl_opts *o, const char *spec, const char *const *longs,
    const char *longcodes);
/* Parses an unsigned decimal number in 0..MAX; -1 if it is not one. */
int lockctl_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* ---- the commands ---- */
int cmd_status(struct lockctl *lc, int argc, char **argv);
int cmd_master(struct lockctl *lc, int argc, char **argv);
int cmd_sync(struct lockctl *lc, int argc, char **argv);
/* cmd-ns.c (watch, unwatch: cmd-watch.c) */
int cmd_ls(struct lockctl *lc, int argc, char **argv);
int cmd_cat(struct lockctl *lc, int argc, char **argv);
int cmd_stat(struct lockctl *lc, int argc, char **argv);
int cmd_put(struct lockctl *lc, int argc, char **argv);
int cmd_mkdir(struct lockctl *lc, int argc, char **argv);
int cmd_rm(struct lockctl *lc, int argc, char **argv);
int cmd_acl(struct lockctl *lc, int argc, char **argv);
int cmd_watch(struct lockctl *lc, int argc, char **argv);
int cmd_unwatch(struct lockctl *lc, int argc, char **argv);
/* cmd-lock.c */
int cmd_lock(struct lockctl *lc, int argc, char **argv);
int cmd_trylock(struct lockctl *lc, int argc, char **argv);
int cmd_unlock(struct lockctl *lc, int argc, char **argv);
int cmd_sequencer(struct lockctl *lc, int argc, char **argv);
int cmd_checkseq(struct lockctl *lc, int argc, char **argv);
/* run.c: `lock ... PATH -- COMMAND`, else cmd_lock */
int cmd_lock_run(struct lockctl *lc, int argc, char **argv);
/* cmd-tree.c: ls -R, rm -r [-f] */
int lockctl_ls_tree(struct lockctl *lc, const char *arg, int lflag);
int lockctl_rm_tree(struct lockctl *lc, const char *arg, int force);
/* cmd-leader.c */
int cmd_leader(struct lockctl *lc, int argc, char **argv);
/* The record `lock --elect` writes: IDENTITY "\n" "lock_generation " GEN "\n". */
struct lockctl_buf;
void lockctl_leader_record(const char *identity, uint64_t gen, struct lockctl_buf *out);
/* 1 with a malloc'd *IDENTITY if P..N is such a record, else 0. */
int lockctl_leader_parse(const void *p, size_t n, char **identity, uint64_t *gen);
/* cmd-admin2.c */
int cmd_sessions(struct lockctl *lc, int argc, char **argv);
int cmd_locks(struct lockctl *lc, int argc, char **argv);
int cmd_members(struct lockctl *lc, int argc, char **argv);
int cmd_reload(struct lockctl *lc, int argc, char **argv); /* cmd-reload.c */
/* shell.c */
int cmd_shell(struct lockctl *lc, int argc, char **argv);
/* script.c */
int cmd_script(struct lockctl *lc, int argc, char **argv);
/* Runs LINE's command in the session (the scripted loop's dispatcher);
 * INTERACTIVE (the shell) also admits the admin commands, which answer in
 * text of several lines. */
void lockctl_dispatch(struct lockctl *lc, const char *line, int interactive);
/* Splits LINE into words (the scripted syntax: blanks separate, '...'
 * literal, "..." with backslash escapes, a word starting with # begins a
 * comment).  *ARGV is malloc'd with its words: free with lockctl_words_free.
 * 0, or -1 with the reason in ERR. */
int lockctl_split(const char *line, int *argc, char ***argv, char *err, size_t errlen);
void lockctl_words_free(int argc, char **argv);

#endif
