/*
 * client_int.h: the inside of libchubby's shell (docs/CLIENT.md "The
 * shell"): the client object shared by the API (client.c), the loop thread
 * that drives the session core and the connections (client_loop.c), the
 * cache (client_cache.c) and master location (client_locate.c).
 *
 * Locking: one mutex, chubby_client.mu, guards everything below that both
 * the loop thread and application threads touch: the request list, the
 * cache, the handle list, the event queue and the session core.  The loop
 * thread takes it at the top of each of its libevent callbacks; application
 * threads take it to queue a request and to wait for its answer.  Only the
 * loop thread touches connections and libevent objects, but for
 * event_active() on the wake event and for cl_send_now: a caller holding
 * the mutex writes its request frame (c->out) itself on the current
 * connection through conn_send_now, under the connection's own lock,
 * which libevent holds around the loop thread's reads and writes
 * (tp_set_threadsafe), and re-arms the tick timer if it must.  Callbacks to
 * the application run on the dispatcher thread without the mutex.
 *
 * A connection's lifetime, which makes cl_send_now safe: (1) every
 * connection of a threaded client is lockable: tp_set_threadsafe is set
 * in cl_loop_init before START opens the first one (the transport refuses
 * it later; conn_send_now refuses an unlockable connection); (2) only the
 * loop thread frees a connection, with conn_free, and only in
 * cl_conn_destroy, under the mutex, in the same critical section that
 * unlinks its cconn from c->conns (a free that conn.c defers to the end
 * of its callback is of a connection already unlinked); so a caller that
 * found the cconn in c->conns under the mutex writes on a live
 * connection for as long as it holds the mutex, and (3) its write takes
 * the connection's lock, which the loop thread's reads, writes and
 * close_told take too.  Order: the mutex, then a connection's lock; the
 * loop's callbacks run without the latter (BEV_OPT_UNLOCK_CALLBACKS).
 *
 * An async client (chubby_open_async, client_async.c) has neither thread:
 * the application's thread runs the loop inside chubby_process and the
 * callbacks after it, without the mutex (which it still takes, uncontended,
 * so that the code is the same).
 */
#ifndef CHUBBY_CLIENT_INT_H
#define CHUBBY_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "ccache.h"
#include "cevids.h"
#include "cellspec.h"
#include "csess.h"
#include "wire.h"

struct event_base;
struct event;
struct conn;
struct tp;
struct tls_ctx;

/* ---- master location (client_locate.c) ---- */

/* What chubby_open learns from the cell spec. */
struct cl_cell {
	size_t naddrs;
	char addrs[CELLSPEC_MAX_ADDRS][CELLSPEC_ADDR_MAX];
	char ca[CELLSPEC_PATH_MAX], cert[CELLSPEC_PATH_MAX], key[CELLSPEC_PATH_MAX];
	char crl[CELLSPEC_PATH_MAX]; /* "" if none */
	char cell[65];     /* the cell's name if known ("" otherwise) */
	uint64_t lease_ms; /* from a cell config, 0 otherwise */
	uint64_t grace_ms;
};

/* Resolves SPEC (NULL: $CHUBBY_CELL) into OUT: a cell config file, a
 * host:port list, or a DNS name (SRV _chubby._tcp.NAME, else its A/AAAA
 * records with the default port).  TLS files: the environment, then the
 * config.  CHUBBY_OK or a status with a message in ERR. */
int cl_cell_resolve(const char *spec, struct cl_cell *out, char *err, size_t errlen);

/* DNS only: the replicas named by NAME's SRV records, else its addresses
 * (exposed for tests). */
int cl_dns_resolve(const char *name, struct cl_cell *out, char *err, size_t errlen);

/* ---- requests ---- */

/* One application request, from the API call that made it until its
 * answer is taken (or the loop drops it, abandoned). */
struct creq {
	struct creq *next, *prev; /* in chubby_client.reqs */
	uint32_t op;
	bool no_session;          /* CHECK_SEQUENCER: no session and epoch */
	bool fire_and_forget;     /* nobody waits: freed by the loop on its answer */
	uint64_t acquire_deadline; /* ACQUIRE with a limit: timeout_ms is what is left */
	bool acquire_timeout;
	uint64_t handle_id;       /* for the auto-release of a late lock */
	unsigned open_events;     /* OPEN: its event mask (cl_build_open) */
	uint64_t rid;             /* request id of a write, from its first send on; 0: none */
	/* The args other than session, epoch and timeout_ms: NARGS pairs packed. */
	msgpack_sbuffer args;
	uint32_t nargs;
	char *cache_path;         /* GET_CONTENTS: cache the answer under it */

	/* Loop state. */
	uint64_t sent_conn; /* csess connection it went out on; 0: not (or no longer) sent */
	uint64_t wire_id;
	uint64_t sent_at;   /* cl_now() when it went out on sent_conn */

	/* The answer. */
	bool done, abandoned;
	int status;
	char message[256];
	struct wire_msg res; /* valid when done and status is OK or carries a result */
	bool have_res;
	pthread_cond_t cond;

	/* An async call's (client_async.c): its completion, the handle it is
	 * on, and when it times out (cl_now() ms; 0: never). */
	chubby_done_fn done_cb;
	void *done_arg;
	struct chubby_handle *ah;
	uint64_t deadline;
	char *apath;     /* OPEN: the path, for the new handle */
	unsigned aflags; /* OPEN: its flags */
	struct cevent *qev; /* its place in the completion queue, allocated
	                       up front so that an answer can always be queued */
	bool cached;     /* GET_CONTENTS answered from the cache: CDATA, CLEN, CST */
	void *cdata;
	size_t clen;
	struct chubby_stat cst;
	bool aseq;       /* SET_SEQUENCER: a sequencer is attached (not cleared) */
};

/* ---- cache (ccache.c; the stat parser in client_cache.c) ---- */

/* Parses a stat map into ST (zeroed first); CHUBBY_OK or E_BAD_TYPE. */
int cl_parse_stat(const msgpack_object *o, struct chubby_stat *st);

/* ---- connections and events ---- */

struct cconn {
	struct cconn *next;
	struct chubby_client *c;
	uint64_t id; /* the core's connection id */
	struct conn *conn;
	char addr[CSESS_ADDR_MAX];
	bool up;        /* WELCOME received: CONNECTED told */
	bool ending;    /* kept open only for SESSION_END's answer */
	size_t max_frame;
	/* The core's own requests on it. */
	uint64_t where_id, start_id, start_sent_at, ka_id, ka_sent_at, end_id;
	size_t ka_nacks; /* invalidation ids the outstanding KeepAlive acknowledges */
};

/* An event waiting for the dispatcher thread (or, on an async client, for
 * chubby_process, with the answered requests in the same queue: REQ). */
struct cevent {
	struct cevent *next;
	struct creq *req; /* an async call's answer; TYPE and the rest unused */
	int type;
	uint64_t handle_id; /* 0: a session event */
	char *path;
	bool has_gen; /* the master's "gen" (CONTENTS_MODIFIED) */
	uint64_t gen;
};

/* The ids of handles the master keeps in memory (server/session/mhandle.h). */
#define CL_MEM_HANDLE_BIT (1ULL << 63)

struct chubby_handle {
	struct chubby_handle *next, *prev;
	struct chubby_client *c;
	uint64_t id;
	char *path;
	/* What the master would check before a read, so that a cached read
	 * answers as the master would (written by the caller's thread, read by
	 * later calls on the same handle). */
	unsigned flags;     /* CHUBBY_O_* it was opened with */
	/* The node the handle opened (OPEN's stat): only a cached copy of this
	 * instance answers it (docs/CLIENT.md "The cache"). */
	uint64_t instance;
	bool ephemeral;
	unsigned events;    /* the event mask it was opened with (a reopen carries it) */
	bool poisoned;      /* chubby_poison succeeded: E_CANCELLED from now on */
	bool has_sequencer; /* chubby_set_sequencer: reads must ask the master */
};

struct chubby_client {
	pthread_mutex_t mu;
	pthread_cond_t state_cond; /* chubby_open waits on it */

	/* Configuration. */
	struct cl_cell cell;
	char name[256];
	unsigned open_timeout_ms, call_timeout_ms;
	chubby_event_fn on_event;
	void *event_arg;
	struct csess_config cfg;
	const char *replica_ptrs[CELLSPEC_MAX_ADDRS];

	/* The session core, fed by the loop thread. */
	struct csess *cs;
	atomic_int pub_state;      /* CHUBBY_SESSION_* for chubby_session_state() */
	_Atomic uint64_t pub_session;
	int open_error;            /* a refusal that will not go away (E_AUTH, ...) */
	char open_errmsg[600];
	char last_conn_err[300];   /* why the last connection failed, for chubby_open */

	/* Loop thread. */
	pthread_t loop_thread;
	bool loop_started;
	struct event_base *base;
	struct event *wake_ev, *tick_ev, *close_ev;
	struct tls_ctx *tls;
	struct tp *tp;
	bool tls_stale;           /* a connection closed: read the TLS files again
	                             before the next connect (a rotated certificate) */
	struct cconn *conns;
	uint64_t cur_conn;        /* the core's current connection, 0: none */
	uint64_t stall_fed;       /* when REQUEST_STALLED was last fed to the core */
	uint64_t timer_due;       /* cl_now() ms the tick timer is armed for;
	                             CSESS_NEVER: not armed */
	uint64_t last_sent;       /* cl_now() ms an application request last went out */
	uint64_t next_wire_id;
	uint64_t last_rid;        /* the session's last request id (docs/PROTOCOL.md) */
	uint64_t start_nonce;     /* SESSION_START's request id, for all its re-sends */
	struct wire_buf out;
	bool closing;             /* chubby_close asked */
	bool close_started;       /* APP_CLOSE fed */
	bool loop_done;

	/* Requests, handles, cache. */
	struct creq *reqs;
	struct chubby_handle *handles;
	struct ccache cache;
	/* Invalidation ids to acknowledge in the next KeepAlive. */
	uint64_t *acks;
	size_t nacks, acks_cap;
	uint64_t acks_epoch;
	/* The highest event id delivered in the master's epoch: copies sent
	 * again after a lost reply are dropped, and every KeepAlive
	 * acknowledges it (ev_ack, docs/PROTOCOL.md "Event ids and ev_ack"). */
	struct cevids evids;

	/* Dispatcher thread. */
	pthread_t disp_thread;
	bool disp_started;
	pthread_cond_t ev_cond;
	struct cevent *ev_head, *ev_tail;
	bool disp_stop;
	bool disp_in_callback;
	bool disp_free_self; /* chubby_close ran in a callback: the dispatcher frees */

	/* Async client (client_async.c): no threads. */
	bool async;
	int epfd;                /* what chubby_interest hands out: an epoll set of
	                            the descriptors the loop watches */
	int wake_fd;             /* an eventfd in that set: cl_wake's signal */
	struct cl_mirror *mirror; /* what is in EPFD, for the next sync */
	size_t nmirror, mirror_cap;
	struct event *async_ev;  /* timer: the next call deadline or open deadline */
	uint64_t open_deadline;
	chubby_open_fn open_cb;
	void *open_arg;
	int open_state;          /* 0 waiting, 1 result ready, 2 told */
	int open_status;
	char open_msg[700];
	bool open_failed;        /* told a failure: calls are refused */
	int in_process;          /* chubby_process (and so a callback) is running */
	bool close_deferred;     /* chubby_close from a callback: done after it */
	bool in_close;
};

/* client_loop.c */
int cl_loop_start(struct chubby_client *c, char *err, size_t errlen);
/* The same loop without threads, for an async client: the application
 * drives it with cl_async_run. */
int cl_loop_start_async(struct chubby_client *c, char *err, size_t errlen);
/* client_async.c: runs an async client's event base with FLAGS
 * (EVLOOP_*), SIGPIPE held off (no mutex held). */
void cl_async_loop(struct chubby_client *c, int flags);
/* Ends an async client's session (best effort, up to a second), failing
 * what waits with E_CANCELLED; the caller then runs what is queued and
 * frees C. */
void cl_async_stop(struct chubby_client *c);
/* Re-arms an async client's deadline timer (mutex held). */
void cl_async_arm(struct chubby_client *c);
/* Queues async request R's completion for chubby_process (mutex held);
 * false if out of memory. */
bool cl_queue_done(struct chubby_client *c, struct creq *r);
/* Queues a request nobody waits for (mutex held; wake the loop after). */
void cl_req_fire(struct chubby_client *c, uint32_t op, uint64_t handle_id);
/* Asks the loop to close the session, waits for it to finish, and stops
 * the dispatcher; the caller frees the rest. */
void cl_loop_stop(struct chubby_client *c);
/* Sends R, just queued by a caller of a blocking call, from the caller's
 * own thread if the session's connection is up and idle enough (mutex
 * held): true if it went out (or was answered: too large), false if the
 * loop thread must be woken to send it.  docs/CLIENT.md "The shell". */
bool cl_send_now(struct chubby_client *c, struct creq *r);
/* Wakes the loop thread (new requests, abandoned ones, close).  Call
 * without the mutex. */
void cl_wake(struct chubby_client *c);
void cl_req_free(struct creq *r);
/* Queues an event for the dispatcher (mutex held). */
void cl_post_event(struct chubby_client *c, int type, uint64_t handle_id, const char *path,
    size_t pathlen, bool has_gen, uint64_t gen);
uint64_t cl_now(void);
/* client.c: frees C from the dispatcher thread (chubby_close in a callback). */
void cl_free_from_dispatcher(struct chubby_client *c);

/* ---- shared by the blocking calls (client.c) and the async ones
 * (client_async.c): building a request, reading its answer ---- */

/* An ACQUIRE with a limit is given this much beyond it for the answer to
 * come back before the caller stops waiting. */
#define CL_ACQUIRE_SLACK_MS 5000

struct rb {
	struct creq *r;
	msgpack_packer pk;
	int err;
};
int rb_new(struct rb *b, uint32_t op);
void rb_uint(struct rb *b, const char *key, uint64_t v);
void rb_bool(struct rb *b, const char *key, bool v);
void rb_bin(struct rb *b, const char *key, const void *p, size_t len);
int cl_check_handle(const chubby_handle *h);
int cl_check_mode(int mode);
/* A request on handle H (its id packed). */
int cl_handle_req(chubby_handle *h, struct rb *b, uint32_t op);
int cl_build_get_contents(chubby_handle *h, struct rb *b); /* GET_CONTENTS with cache */
/* The requests of the calls that take more than a handle. */
int cl_build_open(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, struct rb *b);
int cl_build_set_contents(chubby_handle *h, const void *data, size_t len, bool cas,
    uint64_t expected_gen, bool record, struct rb *b);
/* SET_CONTENTS without waiting; RECORD: as chubby_set_lock_record. */
int cl_set_contents_async(chubby_handle *h, const void *data, size_t len, bool cas,
    uint64_t expected_gen, bool record, chubby_done_fn done, void *arg);
int cl_build_acquire(chubby_handle *h, int mode, unsigned timeout_ms, struct rb *b);
int cl_build_check_sequencer(chubby_client *c, const void *seq, size_t len, struct rb *b);
int cl_build_set_acl(chubby_handle *h, const char *const acl[3], unsigned flags, struct rb *b);
int cl_build_set_sequencer(chubby_handle *h, const void *seq, size_t len, struct rb *b);
/* Whether C takes requests; sets the last error if not (mutex held). */
int cl_usable(struct chubby_client *c);
/* Drops the cached copy of H's node (mutex not held). */
void cl_own_write(chubby_handle *h);
/* Reading answers: CHUBBY_OK, or CHUBBY_E_MALFORMED / E_NOMEM with the
 * last error set naming WHAT.  R is left to the caller. */
int cl_res_stat(const struct creq *r, const char *key, struct chubby_stat *st, const char *what);
/* The contents, malloc'd and NUL-terminated beyond *LEN. */
int cl_res_contents(const struct creq *r, void **data, size_t *len, struct chubby_stat *st,
    const char *what);
/* The sequencer, borrowed from R. */
int cl_res_sequencer(const struct creq *r, const void **seq, size_t *len, const char *what);
/* READDIR's names, malloc'd (free with chubby_free_names). */
int cl_res_names(const struct creq *r, char ***names, size_t *n, const char *what);
/* Leader records (docs/CLIENT.md "Leader election"): checks chubby_elect's
 * arguments (CALL names the call in the message); builds
 * "IDENTITY\nlock_generation N\n" (malloc'd, NULL if out of memory);
 * splits one in place (false if DATA is not one). */
int cl_check_elect(const chubby_client *c, const char *path, const char *identity,
    const char *call);
char *cl_leader_record(const char *identity, uint64_t lock_gen, size_t *len);
bool cl_leader_record_parse(char *data, size_t len, uint64_t *gen);
/* OPEN answered: the new handle, registered on C.  On E_NOMEM *ID is the
 * handle the master made, which the caller closes there. */
int cl_handle_adopt(chubby_client *c, const char *path, unsigned flags, const struct creq *r,
    chubby_handle **out, bool *made, uint64_t *id);
/* Unregisters and frees H (its cached copy dropped if it may be gone). */
void cl_handle_forget(chubby_handle *h);
/* client_async.c: runs the completions queued on an async client, and
 * its events unless it is closing (no mutex held). */
void cl_async_dispatch(struct chubby_client *c);

#endif
