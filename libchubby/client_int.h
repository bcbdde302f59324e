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
 * loop thread touches connections, libevent objects (but for event_active()
 * on the wake event) and the output buffer.  Callbacks to the application
 * run on the dispatcher thread without the mutex.
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

/* An event waiting for the dispatcher thread. */
struct cevent {
	struct cevent *next;
	int type;
	uint64_t handle_id; /* 0: a session event */
	char *path;
};

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

	/* Dispatcher thread. */
	pthread_t disp_thread;
	bool disp_started;
	pthread_cond_t ev_cond;
	struct cevent *ev_head, *ev_tail;
	bool disp_stop;
	bool disp_in_callback;
	bool disp_free_self; /* chubby_close ran in a callback: the dispatcher frees */
};

/* client_loop.c */
int cl_loop_start(struct chubby_client *c, char *err, size_t errlen);
/* Asks the loop to close the session, waits for it to finish, and stops
 * the dispatcher; the caller frees the rest. */
void cl_loop_stop(struct chubby_client *c);
/* Wakes the loop thread (new requests, abandoned ones, close).  Call
 * without the mutex. */
void cl_wake(struct chubby_client *c);
void cl_req_free(struct creq *r);
/* Queues an event for the dispatcher (mutex held). */
void cl_post_event(struct chubby_client *c, int type, uint64_t handle_id, const char *path,
    size_t pathlen);
uint64_t cl_now(void);
/* client.c: frees C from the dispatcher thread (chubby_close in a callback). */
void cl_free_from_dispatcher(struct chubby_client *c);

#endif
