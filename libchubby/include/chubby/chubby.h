/*
 * chubby.h: the one public header of libchubby, the client library of the
 * chubby lock service.
 *
 * Conventions, stated once (after LevelDB's c.h):
 *  - Every call that can fail returns a chubby_status; CHUBBY_OK is 0.
 *  - Opaque types are created by a *_new / *_open call and freed by the
 *    matching *_free / *_close call.  Anything a call hands back that the
 *    caller must free says so on its prototype.
 *  - The library never aborts or exits its host process, and never prints:
 *    errors come back as a status (and, where an object exists, a message).
 *  - All symbols start with chubby_ (types) or CHUBBY_ (macros).
 */
#ifndef CHUBBY_CHUBBY_H
#define CHUBBY_CHUBBY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CHUBBY_API __attribute__((visibility("default")))
#else
#define CHUBBY_API
#endif

/*
 * Status codes.  The numbers travel on the wire and in scripts' exit paths,
 * so they never change once released: add new codes at the end of a block.
 * X(name, number, message)
 */
#define CHUBBY_STATUS_LIST(X)                                                                  \
	X(OK, 0, "success")                                                                     \
	/* 1..19: local and generic */                                                          \
	X(E_NOMEM, 1, "out of memory")                                                          \
	X(E_INVALID, 2, "invalid argument")                                                     \
	X(E_INTERNAL, 3, "internal error")                                                      \
	X(E_UNSUPPORTED, 4, "operation not supported")                                          \
	X(E_TIMEOUT, 5, "timed out")                                                            \
	X(E_CANCELLED, 6, "cancelled")                                                          \
	X(E_IO, 7, "input/output error")                                                        \
	X(E_CONFIG, 8, "bad configuration")                                                     \
	X(E_LIMIT, 9, "limit exceeded")                                                         \
	X(E_STORE, 10, "storage error")                                                         \
	X(E_CORRUPT, 11, "data corrupted")                                                      \
	/* 20..39: wire and transport */                                                        \
	X(E_TRUNCATED, 20, "truncated input")                                                   \
	X(E_FRAME_TOO_BIG, 21, "frame larger than the limit")                                   \
	X(E_MALFORMED, 22, "malformed message")                                                 \
	X(E_BAD_TYPE, 23, "field has the wrong type")                                           \
	X(E_MISSING, 24, "required field missing")                                              \
	X(E_VERSION, 25, "protocol version not supported")                                      \
	X(E_TLS, 26, "TLS error")                                                               \
	X(E_CONN, 27, "connection failed or closed")                                            \
	X(E_AUTH, 28, "peer not authorized")                                                    \
	X(E_BAD_OP, 29, "unknown operation")                                                    \
	X(E_OVERLOAD, 30, "server overloaded, retry later")                                     \
	/* 40..59: cell and session */                                                          \
	X(E_NOT_MASTER, 40, "replica is not the master")                                        \
	X(E_BAD_EPOCH, 41, "request carries an old epoch")                                      \
	X(E_UNAVAILABLE, 42, "no master reachable")                                             \
	X(E_SESSION_EXPIRED, 43, "session expired")                                             \
	X(E_JEOPARDY, 44, "session in jeopardy")                                                \
	X(E_BAD_SESSION, 45, "unknown session")                                                 \
	X(E_BAD_HANDLE, 46, "invalid handle")                                                   \
	/* 60..89: namespace and locks */                                                       \
	X(E_NOT_FOUND, 60, "no such node")                                                      \
	X(E_EXISTS, 61, "node already exists")                                                  \
	X(E_NOT_EMPTY, 62, "directory not empty")                                               \
	X(E_NOT_DIR, 63, "not a directory")                                                     \
	X(E_IS_DIR, 64, "is a directory")                                                       \
	X(E_PERMISSION, 65, "permission denied")                                                \
	X(E_GEN_MISMATCH, 66, "content generation mismatch")                                    \
	X(E_BUSY, 67, "lock is held")                                                           \
	X(E_LOCK_DELAY, 68, "lock is in its lock-delay")                                        \
	X(E_NOT_HELD, 69, "lock not held")                                                      \
	X(E_STALE_SEQUENCER, 70, "sequencer is not current")                                    \
	X(E_BAD_SEQUENCER, 71, "sequencer is forged or malformed")                              \
	X(E_BAD_NAME, 72, "bad node name")                                                      \
	X(E_TOO_LARGE, 73, "contents larger than the limit")

typedef enum chubby_status {
#define CHUBBY_STATUS_ENUM(name, num, msg) CHUBBY_##name = num,
	CHUBBY_STATUS_LIST(CHUBBY_STATUS_ENUM)
#undef CHUBBY_STATUS_ENUM
} chubby_status;

/* A fixed English message for a status; never NULL, never to be freed. */
CHUBBY_API const char *chubby_strerror(int status);

/* The status's stable name without prefix ("OK", "E_NOT_FOUND");
 * "E_UNKNOWN" for a number not in the table.  Never to be freed. */
CHUBBY_API const char *chubby_status_name(int status);

/* The status whose name (as chubby_status_name gives it) is NAME;
 * -1 if none. */
CHUBBY_API int chubby_status_from_name(const char *name);

/* The library's version, "MAJOR.MINOR.PATCH"; never to be freed. */
CHUBBY_API const char *chubby_version(void);

/* ==== Sessions, handles, locks, events (libchubby/client.c; libchubby(3)) ==== */
#include <stdbool.h> /* bool in the structs below */

/*
 * Threads: every call below may be made from any thread; calls on one
 * client may run concurrently.  Each blocks until it is answered, its
 * timeout passes, or the session ends.  Event callbacks run on a thread of
 * the library's own (never inside a call), one at a time, in order; a
 * callback may make synchronous calls, and may call chubby_close() (the
 * client is freed when the callback returns).  A handle must not be closed
 * while another thread is still inside a call on it (poison it instead).
 * On failure every call also leaves a message for chubby_last_error().
 * Strings passed in are copied or used only during the call.
 */
typedef struct chubby_client chubby_client; /* one session with a cell */
typedef struct chubby_handle chubby_handle; /* an open node */

/* Event types: the numbers of docs/PROTOCOL.md "Events". */
#define CHUBBY_EV_CONTENTS_MODIFIED 1
#define CHUBBY_EV_CHILD_ADDED 2
#define CHUBBY_EV_CHILD_REMOVED 3
#define CHUBBY_EV_CHILD_MODIFIED 4
#define CHUBBY_EV_LOCK_ACQUIRED 5
#define CHUBBY_EV_CONFLICTING_LOCK 6
#define CHUBBY_EV_HANDLE_INVALID 7
#define CHUBBY_EV_MASTER_FAILOVER 8
#define CHUBBY_EV_JEOPARDY 64
#define CHUBBY_EV_SAFE 65
#define CHUBBY_EV_EXPIRED 66
/* For chubby_open_args.event_mask, types 1..7. */
#define CHUBBY_EVMASK(type) (1u << ((type) - 1))

struct chubby_event {
	int type;
	chubby_handle *handle; /* the handle it concerns, or NULL for session events */
	const char *path;      /* borrowed for the callback; NULL for session events */
	/* Added after the first three (the library fills the struct, so a
	 * program built against the older header simply does not read them):
	 * for CHUBBY_EV_CONTENTS_MODIFIED (and a directory's
	 * CHUBBY_EV_CHILD_MODIFIED from a write of contents), the file's
	 * content generation the write made, when the master sent it
	 * (has_content_gen). */
	bool has_content_gen;
	uint64_t content_gen;
};
/* Runs on the library's event thread; EV is valid during the call only. */
typedef void (*chubby_event_fn)(chubby_client *c, const struct chubby_event *ev, void *arg);

/* Session states (chubby_session_state()). */
#define CHUBBY_SESSION_SAFE 1     /* the local lease holds */
#define CHUBBY_SESSION_JEOPARDY 2 /* lease ran out locally; grace period running */
#define CHUBBY_SESSION_EXPIRED 3  /* lost: handles are invalid, open a new client */
#define CHUBBY_SESSION_CLOSED 4   /* closed (or being closed) by the application */

struct chubby_options {      /* zero-initialise; every 0/NULL field takes its default */
	const char *cell;        /* config file, host:port,..., or DNS name; NULL: $CHUBBY_CELL */
	const char *cert_file, *key_file, *ca_file; /* NULL: $CHUBBY_CERT/KEY/CA, else the
	                                               cell config's client_tls_* and tls_ca */
	const char *name;        /* told to the server in HELLO, for its logs ("libchubby") */
	unsigned open_timeout_ms; /* chubby_open: find the master and start the session (10000) */
	unsigned call_timeout_ms; /* default for calls without their own timeout (30000) */
	unsigned lease_ms, grace_ms; /* expected session lease (12000), grace period (45000);
	                                a cell config's session_lease/grace_period otherwise */
	chubby_event_fn on_event; /* NULL: events are dropped */
	void *event_arg;
};

/* Finds the master, starts a session and returns it in *OUT (NULL on
 * failure); the strings in OPT are copied.  Close with chubby_close().
 * The TLS files are read again before a connection made after one closed,
 * so a rotated certificate, CA bundle or CRL is used without a restart. */
CHUBBY_API int chubby_open(const struct chubby_options *opt, chubby_client **out);

/* Options added since chubby_options was fixed, which keeps its size for
 * programs built against an older chubby.h.  Set SIZE to
 * sizeof(struct chubby_options_ext); fields beyond the SIZE a program was
 * built with read as 0/NULL, so this struct can grow. */
struct chubby_options_ext {
	size_t size;
	const char *crl_file; /* PEM CRL the replicas' certificates are checked against;
	                         NULL: $CHUBBY_CRL, else the cell config's tls_crl,
	                         else none */
};

/* chubby_open with EXT (NULL: chubby_open). */
CHUBBY_API int chubby_open_ext(const struct chubby_options *opt,
    const struct chubby_options_ext *ext, chubby_client **out);
/* Ends the session (best effort, so that its locks free at once), fails
 * calls still waiting with CHUBBY_E_CANCELLED, and frees C and every handle
 * still open on it.  NULL is ignored.  Allowed from an event callback. */
CHUBBY_API void chubby_close(chubby_client *c);
CHUBBY_API uint64_t chubby_session_id(const chubby_client *c);
/* CHUBBY_SESSION_SAFE, _JEOPARDY, _EXPIRED or _CLOSED. */
CHUBBY_API int chubby_session_state(const chubby_client *c);

/* Open flags (docs/NAMESPACE.md). */
#define CHUBBY_O_READ 0x01
#define CHUBBY_O_WRITE 0x02
#define CHUBBY_O_CREATE 0x04
#define CHUBBY_O_EXCL 0x08
#define CHUBBY_O_EPHEMERAL 0x10
#define CHUBBY_O_DIR 0x20
/* Lock modes. */
#define CHUBBY_LOCK_SHARED 1
#define CHUBBY_LOCK_EXCLUSIVE 2

struct chubby_open_args {    /* optional; zero-initialise */
	uint64_t lock_delay_ms;  /* with have_lock_delay; else the cell's default */
	bool have_lock_delay;
	uint32_t event_mask;     /* CHUBBY_EVMASK() of the events wanted on this handle */
	const void *contents;    /* initial contents when created (borrowed) */
	size_t contents_len;
	const char *acl[3];      /* read, write, change ACL names when created; NULL: inherit */
};

/* A node's metadata (Chubby 2.3).  The lock fields (lock_gen, lock_mode,
 * lock_holders, lock_delay_until_ms) are current only from chubby_get_stat();
 * elsewhere they are as last fetched. */
struct chubby_stat {
	uint64_t instance, content_gen, lock_gen, acl_gen, checksum, length, created_ms,
	    modified_ms;
	bool is_dir, ephemeral;
	int lock_mode; /* 0 free, CHUBBY_LOCK_SHARED, CHUBBY_LOCK_EXCLUSIVE */
	uint64_t lock_holders, lock_delay_until_ms;
	char acl[3][256]; /* "" for open to all */
};

/* Opens PATH ("/ls/CELL/...") with FLAGS (CHUBBY_O_*); ARGS may be NULL.
 * *OUT is the new handle (close with chubby_handle_close(), or it goes with
 * chubby_close()); *CREATED, if CREATED is not NULL, says whether this call
 * made the node. */
CHUBBY_API int chubby_handle_open(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, chubby_handle **out, bool *created);
/* Closes the handle at the master (freeing its lock) and frees H whatever
 * the outcome; NULL is ignored. */
CHUBBY_API int chubby_handle_close(chubby_handle *h);
/* Later calls on the handle but chubby_handle_close() fail with
 * CHUBBY_E_CANCELLED (Chubby 2.6), cached reads included. */
CHUBBY_API int chubby_poison(chubby_handle *h);
/* The path it was opened with; owned by H, valid until it is closed. */
CHUBBY_API const char *chubby_handle_path(const chubby_handle *h);
/* The contents in *DATA (NUL-terminated beyond *LEN, free with chubby_free())
 * and the stat in *ST (ST may be NULL).  Served from the cache, with no
 * round trip, while the cached copy is valid. */
CHUBBY_API int chubby_get_contents(chubby_handle *h, void **data, size_t *len,
    struct chubby_stat *st);
/* Always asks the master: the lock fields are current. */
CHUBBY_API int chubby_get_stat(chubby_handle *h, struct chubby_stat *st);
/* The children's names, sorted; free with chubby_free_names(*NAMES, *N). */
CHUBBY_API int chubby_readdir(chubby_handle *h, char ***names, size_t *n);
CHUBBY_API void chubby_free_names(char **names, size_t n);
/* Replaces the contents; *ST (may be NULL) gets the new stat. */
CHUBBY_API int chubby_set_contents(chubby_handle *h, const void *data, size_t len,
    struct chubby_stat *st);
/* The same, only while the content generation is EXPECTED_GEN
 * (compare-and-set); else CHUBBY_E_GEN_MISMATCH. */
CHUBBY_API int chubby_set_contents_if(chubby_handle *h, const void *data, size_t len,
    uint64_t expected_gen, struct chubby_stat *st);
/* Replaces the contents with a record of the exclusive lock H holds (a
 * leader's identity, as chubby_elect writes): the cell empties the file
 * when that lock is freed, however (release, close, the session's end or
 * expiry), unless another write has replaced the record since.
 * CHUBBY_E_NOT_HELD unless H holds the lock exclusively.  A cell older
 * than lock records takes it as chubby_set_contents. */
CHUBBY_API int chubby_set_lock_record(chubby_handle *h, const void *data, size_t len,
    struct chubby_stat *st);
/* ACL names; a NULL entry keeps the current one.  Each name given must be
 * "" (open to all) or an ACL file that exists (else CHUBBY_E_NOT_FOUND,
 * naming it); the change-ACL may not be left open while read or write is
 * restricted (CHUBBY_E_INVALID) unless chubby_set_acl_flags is given
 * CHUBBY_ACL_ALLOW_OPEN_CHANGE. */
CHUBBY_API int chubby_set_acl(chubby_handle *h, const char *const acl[3]);
#define CHUBBY_ACL_ALLOW_OPEN_CHANGE 0x1 /* leave change-ACL open on purpose */
/* chubby_set_acl with FLAGS (CHUBBY_ACL_*; unknown bits: CHUBBY_E_INVALID). */
CHUBBY_API int chubby_set_acl_flags(chubby_handle *h, const char *const acl[3], unsigned flags);
/* Deletes the node (a directory must be empty); H stays open. */
CHUBBY_API int chubby_delete(chubby_handle *h);
/* Takes the node's lock in MODE (CHUBBY_LOCK_*), waiting up to TIMEOUT_MS
 * (0: without limit) for holders to go and any lock-delay to end:
 * CHUBBY_E_TIMEOUT when it does not come in time. */
CHUBBY_API int chubby_acquire(chubby_handle *h, int mode, unsigned timeout_ms);
/* The same without waiting: CHUBBY_E_BUSY or CHUBBY_E_LOCK_DELAY. */
CHUBBY_API int chubby_try_acquire(chubby_handle *h, int mode);
CHUBBY_API int chubby_release(chubby_handle *h);
/* The sequencer of the lock H holds (opaque bytes, free with chubby_free()). */
CHUBBY_API int chubby_get_sequencer(chubby_handle *h, void **seq, size_t *len);
/* Attaches a sequencer to H (SEQ NULL clears it); SEQ is copied. */
CHUBBY_API int chubby_set_sequencer(chubby_handle *h, const void *seq, size_t len);
/* CHUBBY_OK while SEQ is current, else CHUBBY_E_STALE_SEQUENCER or
 * CHUBBY_E_BAD_SEQUENCER. */
CHUBBY_API int chubby_check_sequencer(chubby_client *c, const void *seq, size_t len);
/* Leader election (a convenience on top): blocks until this client holds
 * the exclusive lock on PATH (created if needed) or TIMEOUT_MS passes (0:
 * no limit), then writes the leader record "IDENTITY\nlock_generation N\n"
 * into it (N: the lock's generation; IDENTITY holds no newline) as a lock
 * record (chubby_set_lock_record: the cell clears it when the lock is
 * freed, a crash included); *OUT is the handle holding the lock (close it
 * to step down). */
CHUBBY_API int chubby_elect(chubby_client *c, const char *path, const char *identity,
    unsigned timeout_ms, chubby_handle **out);
/* Who leads: the identity of PATH's leader record in *IDENTITY (a malloc'd
 * NUL-terminated string, free with chubby_free(); contents that are not a
 * leader record, whole), or NULL (and CHUBBY_OK) while nobody holds its
 * lock, while the file is empty, or while the record is of an earlier lock
 * generation (its leader is gone and the new one has not written its own
 * yet).  With WATCH not NULL, *WATCH is a handle on PATH asking
 * for CONTENTS_MODIFIED and LOCK_ACQUIRED events (close it when done). */
CHUBBY_API int chubby_leader(chubby_client *c, const char *path, char **identity,
    chubby_handle **watch);
/* (sessions block: end) */

/* ==== Driving libchubby from your own event loop (libchubby/client_async.c;
 * docs/CLIENT.md "Driving libchubby from your own event loop";
 * chubby_process(3)) ==== */
/*
 * After ZooKeeper's C client (zookeeper_interest/zookeeper_process and the
 * zoo_a* calls).  A client from chubby_open_async starts no thread: the
 * application asks chubby_interest() which descriptor to watch and when
 * the next timer is due, and calls chubby_process() when the descriptor is
 * ready or the timer has passed.  chubby_process does all the work
 * (reads, writes, KeepAlives, timers, fail-over, reconnects) without
 * blocking, and runs the completions and event callbacks that are due, on
 * the calling thread.  The descriptor stays the same for the client's
 * life: it is an epoll(7) descriptor owned by the library, with every
 * connection the client has open in it (several while it looks for the
 * master), readable whenever one of them needs attention or a call was
 * queued.  Never read it or close it.
 *
 * An async client is for one thread: its calls are not to be made from
 * several threads at once.  The blocking calls (chubby_handle_open,
 * chubby_get_contents, ...) return CHUBBY_E_INVALID on it: they would
 * stall the application's loop.  chubby_close may be called at any time,
 * a callback included.
 */
#define CHUBBY_POLL_READ 0x1  /* chubby_interest: watch for readable */
#define CHUBBY_POLL_WRITE 0x2 /* never asked today; kept for later transports */

/* What an async call's completion is told.  Everything is borrowed for the
 * callback only (copy what you keep). */
struct chubby_result {
	int status;                     /* CHUBBY_OK or why not */
	const char *message;            /* what chubby_last_error() would say; "" on success */
	chubby_handle *handle;          /* chubby_handle_open_async: the new handle (NULL on
	                                   failure); a handle call: its handle (for
	                                   chubby_handle_close_async, freed when the
	                                   callback returns); NULL otherwise */
	bool created;                   /* chubby_handle_open_async: this call made the node */
	const void *data;               /* chubby_get_contents_async: the contents,
	                                   NUL-terminated beyond LEN; chubby_get_sequencer_async:
	                                   the sequencer; else NULL */
	size_t len;
	const struct chubby_stat *stat; /* get_contents, get_stat, set_contents(_if): the
	                                   node's stat; else NULL */
	/* Added after the fields above (the library fills the struct and
	 * hands it by pointer, so a program built against the older header
	 * simply does not read them): chubby_readdir_async's children's
	 * names, sorted, NNAMES of them; else NULL and 0. */
	const char *const *names;
	size_t nnames;
};
/* A completion: runs once per call that returned CHUBBY_OK, inside
 * chubby_process() (or chubby_close(), with CHUBBY_E_CANCELLED), on the
 * thread that called it.  It may make more async calls and call
 * chubby_close(). */
typedef void (*chubby_done_fn)(chubby_client *c, const struct chubby_result *res, void *arg);
/* chubby_open_async's completion: CHUBBY_OK once the session is SAFE, or
 * why there is none (as chubby_open would fail; close the client then). */
typedef void (*chubby_open_fn)(chubby_client *c, int status, const char *message, void *arg);

/* Checks OPT and EXT (EXT may be NULL) and loads the TLS files as
 * chubby_open_ext does, then returns the client in *OUT at once, without a
 * thread; DONE (may be NULL) is told inside chubby_process when the session
 * is up or open_timeout_ms has passed.  Calls made before then wait for
 * the session.  Events go to OPT->on_event inside chubby_process. */
CHUBBY_API int chubby_open_async(const struct chubby_options *opt,
    const struct chubby_options_ext *ext, chubby_open_fn done, void *arg, chubby_client **out);
/* What to wait for before the next chubby_process: *FD to watch for
 * *EVENTS (CHUBBY_POLL_*), and *TIMEOUT_MS until the next timer (0: call
 * chubby_process at once; never more than 1000).  Ask again after every
 * chubby_process and after every async call made outside one.
 * CHUBBY_E_INVALID on a client not from chubby_open_async. */
CHUBBY_API int chubby_interest(chubby_client *c, int *fd, int *events, int *timeout_ms);
/* Does what is due without blocking and runs the completions and events
 * that are ready.  EVENTS (what poll said of the descriptor, or 0 on a
 * timer) is a hint only: calling it early or late is harmless.  CHUBBY_OK;
 * CHUBBY_E_INVALID on a client not from chubby_open_async. */
CHUBBY_API int chubby_process(chubby_client *c, int events);

/* The async calls: each does what its blocking namesake does, returns
 * CHUBBY_OK once the request is queued (DONE then runs exactly once) or an
 * error at once (DONE never runs), and times out as the blocking call
 * would (call_timeout_ms; an acquire after TIMEOUT_MS and a little
 * more).  Strings and buffers passed in are copied. */
CHUBBY_API int chubby_handle_open_async(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, chubby_done_fn done, void *arg);
/* H is freed after DONE returns, whatever the outcome; no call may be made
 * on H once this one is. */
CHUBBY_API int chubby_handle_close_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_get_contents_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_get_stat_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_set_contents_async(chubby_handle *h, const void *data, size_t len,
    chubby_done_fn done, void *arg);
CHUBBY_API int chubby_set_contents_if_async(chubby_handle *h, const void *data, size_t len,
    uint64_t expected_gen, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_delete_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_acquire_async(chubby_handle *h, int mode, unsigned timeout_ms,
    chubby_done_fn done, void *arg);
CHUBBY_API int chubby_try_acquire_async(chubby_handle *h, int mode, chubby_done_fn done,
    void *arg);
CHUBBY_API int chubby_release_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_get_sequencer_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_check_sequencer_async(chubby_client *c, const void *seq, size_t len,
    chubby_done_fn done, void *arg);
/* RES->names and RES->nnames: the children's names, sorted. */
CHUBBY_API int chubby_readdir_async(chubby_handle *h, chubby_done_fn done, void *arg);
CHUBBY_API int chubby_set_acl_async(chubby_handle *h, const char *const acl[3],
    chubby_done_fn done, void *arg);
CHUBBY_API int chubby_set_acl_flags_async(chubby_handle *h, const char *const acl[3],
    unsigned flags, chubby_done_fn done, void *arg);
/* Once DONE is told CHUBBY_OK, calls on H but chubby_handle_close_async
 * fail at once with CHUBBY_E_CANCELLED. */
CHUBBY_API int chubby_poison_async(chubby_handle *h, chubby_done_fn done, void *arg);
/* SEQ NULL clears it; SEQ is copied. */
CHUBBY_API int chubby_set_sequencer_async(chubby_handle *h, const void *seq, size_t len,
    chubby_done_fn done, void *arg);
/* chubby_elect as a chain of completions (open, acquire, stat, write the
 * leader record): RES->handle holds the lock (close it to step down); on
 * failure the handle is closed and RES->handle is NULL. */
CHUBBY_API int chubby_elect_async(chubby_client *c, const char *path, const char *identity,
    unsigned timeout_ms, chubby_done_fn done, void *arg);
/* chubby_leader as a chain of completions (open, stat, read): the
 * identity in RES->data (NUL-terminated beyond RES->len), or NULL while
 * nobody leads at the lock's generation; with WATCH, RES->handle is a
 * handle on PATH asking for CONTENTS_MODIFIED and LOCK_ACQUIRED events
 * (close it when done), else NULL. */
CHUBBY_API int chubby_leader_async(chubby_client *c, const char *path, bool watch,
    chubby_done_fn done, void *arg);
/* (async block: end) */

/* ==== Sequencers: offline verification (common/seqtoken.c; docs/SEQUENCER.md) ==== */
/*
 * A sequencer is opaque bytes naming a lock, its mode and its lock
 * generation, signed by the cell with HMAC-SHA256 (the cell config's
 * sequencer_key_file).  A resource server holding the same key file checks
 * one without talking to the cell, and keeps the highest one seen per lock
 * (chubby_sequencer_compare) to refuse a stale holder.  See
 * chubby_sequencer_verify(3).
 */

/* What a sequencer names.  CELL and PATH are NUL-terminated. */
struct chubby_sequencer_info {
	char cell[256];
	char path[1025];
	int mode;          /* 1 shared, 2 exclusive */
	uint64_t lock_gen; /* increases on every free->held transition of the lock */
	uint64_t instance; /* the node's instance: higher for a node created later */
};

/* This thread's message about the last failed libchubby call: "" if none
 * (or if the last call succeeded).  Valid until the next libchubby call on
 * the same thread; never to be freed. */
CHUBBY_API const char *chubby_last_error(void);

/* Loads a cell's sequencer key file (hex text, 32..256 bytes of key, mode
 * 0600 or stricter).  *KEY is malloc'd: release it with chubby_free().
 * CHUBBY_OK; CHUBBY_E_IO (cannot read it) or CHUBBY_E_CONFIG (bad contents
 * or permissions); CHUBBY_E_INVALID; CHUBBY_E_NOMEM.  Sets
 * chubby_last_error() on failure, naming the file. */
CHUBBY_API int chubby_sequencer_key_load(const char *path, void **key, size_t *keylen);

/* Verifies SEQ's signature with KEY (KEYLEN bytes) and fills INFO.
 * CHUBBY_OK; CHUBBY_E_BAD_SEQUENCER (forged, damaged, unsigned, signed
 * with another key); CHUBBY_E_INVALID (NULL argument, no key or a key of a
 * bad length).  INFO is zeroed on failure.  Says nothing about whether the
 * holder still holds the lock: compare with the highest sequencer seen. */
CHUBBY_API int chubby_sequencer_verify(const void *key, size_t keylen, const void *seq,
    size_t seqlen, struct chubby_sequencer_info *info);

/* Decodes SEQ without verifying its signature (for display): never trust
 * what it returns.  CHUBBY_OK, CHUBBY_E_BAD_SEQUENCER, CHUBBY_E_INVALID. */
CHUBBY_API int chubby_sequencer_parse(const void *seq, size_t seqlen,
    struct chubby_sequencer_info *info);

/* Compares two sequencers of the same lock (same cell and path) by
 * (instance, lock_gen): *CMP < 0, 0 or > 0 as A is older than, as old as,
 * or newer than B.  CHUBBY_E_INVALID if they name different locks;
 * CHUBBY_E_BAD_SEQUENCER if either is malformed.  Does not verify
 * signatures: verify each first. */
CHUBBY_API int chubby_sequencer_compare(const void *a, size_t alen, const void *b, size_t blen,
    int *cmp);

/* Frees what the library handed out (such as a key); NULL is fine. */
CHUBBY_API void chubby_free(void *p);
/* (sequencers block: end) */

#ifdef __cplusplus
}
#endif

#endif /* CHUBBY_CHUBBY_H */
