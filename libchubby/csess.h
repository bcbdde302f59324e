/*
 * csess.h: the I/O-free client session state machine of libchubby: master
 * location, session start, KeepAlives, the local lease, jeopardy, the grace
 * period and fail-over.  Events in, actions out.
 *
 * The core does no I/O, reads no clock and draws no randomness of its own
 * (STYLE.md "Pure cores"; shape after server/paxos/paxos.h).  A shell feeds
 * it events with csess_step(), every one stamped with the shell's monotonic
 * clock in ms, carries out the actions it returns in order, and calls
 * csess_step() with a TICK no later than csess_next_deadline().
 *
 * Connections are named by the id the core puts in each CONNECT action.
 * Every event that comes from a connection (CONNECTED, CONNECT_FAILED,
 * DISCONNECTED and every reply) carries that id; the core ignores events
 * from a connection it has dropped or replaced, so the shell need not
 * filter races.  After a DISCONNECT action the shell reports nothing more
 * from that connection.
 *
 * Actions:
 *  - CONNECT(conn, addr): open a connection (TLS + HELLO) to addr; report
 *    CONNECTED or CONNECT_FAILED.  The core bounds the wait itself.  While
 *    it looks for the master several may be open at once (hedged probes);
 *    requests go only on csess_conn().
 *  - DISCONNECT(conn): drop it; replies still due on it are lost (the core
 *    tells the shell what to resend with REISSUE_PENDING).
 *  - SEND_WHERE_IS_MASTER(conn), SEND_SESSION_START(conn, sent_at),
 *    SEND_KEEPALIVE(conn, session_id, epoch, hold_ms, sent_at),
 *    SEND_SESSION_END(conn, session_id, epoch): send the request; echo
 *    sent_at back in the event that answers it.
 *  - NOTIFY(notify): tell the application (its callback) about JEOPARDY,
 *    SAFE, EXPIRED or MASTER_FAILOVER.  Nothing in the core waits for the
 *    application: one that ignores every event still rides out fail-overs.
 *  - CACHE_DISABLE: empty the cache and stop trusting it (jeopardy).
 *  - CACHE_FLUSH: empty the cache; it may be used again for data fetched
 *    from now on (after a fail-over, or when a jeopardy ends well).
 *  - FAIL_PENDING(status): fail every request waiting for an answer, or
 *    queued for lack of a usable connection, with status.
 *  - REISSUE_PENDING(conn, epoch): send on conn, carrying epoch, every
 *    request not yet answered, including those queued meanwhile (after a
 *    reconnect or a fail-over).
 * Protocol details, timings and the reasons for them: docs/CLIENT.md.
 */
#ifndef CHUBBY_CSESS_H
#define CHUBBY_CSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest replica address ("host:port"), with its NUL. */
#define CSESS_ADDR_MAX 256
/* Most actions one csess_step() can produce (the worst case is about 10,
 * plus a DISCONNECT for each of CSESS_PROBES_MAX probes cancelled). */
#define CSESS_ACTIONS_MAX 32
/* Most probes kept in flight besides the current connection while the
 * master is looked for (docs/CLIENT.md "Finding the master"). */
#define CSESS_PROBES_MAX 8
/* "No deadline" for csess_next_deadline(). */
#define CSESS_NEVER UINT64_MAX

struct csess_config {
	/* The cell: replica addresses, asked in this order.  Copied by START. */
	const char *const *replicas;
	size_t nreplicas;

	uint64_t lease_ms;  /* lease the client expects (default 12 s) */
	uint64_t grace_ms;  /* grace period after the local lease ran out (45 s) */
	uint64_t drift_ppm; /* bound on the rate error of this clock vs the master's */
	uint64_t margin_ms; /* taken off every local lease end on top of drift */

	/* KeepAlive schedule (docs/CLIENT.md "KeepAlives"). */
	uint64_t guard_ms; /* lease left when an unanswered KeepAlive makes the link
	                    * suspect (capped at a third of the granted lease) */
	uint64_t slack_ms; /* round trip allowed beyond the hold asked of the master */

	/* Bounds on every other wait. */
	uint64_t connect_timeout_ms; /* CONNECT until CONNECTED */
	uint64_t request_timeout_ms; /* WHERE_IS_MASTER, SESSION_START until answered */
	uint64_t backoff_min_ms;     /* pause after a pass over the cell found no master, */
	uint64_t backoff_max_ms;     /* doubling up to this, jittered to [d/2, d] */
	/* Fail-over search (docs/CLIENT.md "Finding the master"): for the first
	 * backoff_fast_window_ms of a search (since the link to the master was
	 * lost, or since START) the pause is capped at backoff_fast_max_ms, so
	 * a client finds a master elected within a second or so at once; after
	 * that it keeps doubling up to backoff_max_ms.  0 turns it off. */
	uint64_t backoff_fast_max_ms;
	uint64_t backoff_fast_window_ms;
	/* A hint naming an address whose connection failed less than this ago
	 * is not followed (replicas keep naming a dead master until they hear
	 * of a new one); the list is asked instead. */
	uint64_t dead_hint_ms;
	/* Hedged probing: a connection looking for the master that has not
	 * found it after probe_hedge_ms is kept, and the next candidate is
	 * asked too, so hung replicas cost one hedge each, not a timeout
	 * each.  0: one probe at a time. */
	uint64_t probe_hedge_ms;
	/* A silent master (docs/CLIENT.md "A master that hangs"): when the
	 * shell reports an application request unanswered for stall_ms
	 * (REQUEST_STALLED), the core asks the master WHERE_IS_MASTER on the
	 * link; no answer within ping_timeout_ms makes the link suspect, as an
	 * overdue KeepAlive does.  0 turns the check off. */
	uint64_t stall_ms;
	uint64_t ping_timeout_ms;

	uint64_t seed; /* jitter comes from this, never from rand() */
};

/* Fills C with the defaults (no replicas). */
void csess_config_defaults(struct csess_config *c);

enum csess_event_type {
	CSESS_EV_START = 1,         /* config */
	CSESS_EV_TICK,              /* time passes */
	CSESS_EV_CONNECTED,         /* conn */
	CSESS_EV_CONNECT_FAILED,    /* conn, why */
	CSESS_EV_DISCONNECTED,      /* conn, why */
	CSESS_EV_SESSION_STARTED,   /* conn, session_id, epoch, lease_ms, sent_at */
	CSESS_EV_KEEPALIVE_REPLY,   /* conn, epoch, lease_ms (left, as granted), sent_at, nevents */
	CSESS_EV_REPLY_NOT_MASTER,  /* conn, addr (the master, or NULL), epoch (hint, or 0) */
	CSESS_EV_REPLY_BAD_EPOCH,   /* conn, epoch (the new one), is_keepalive */
	CSESS_EV_REPLY_SESSION_EXPIRED, /* conn */
	CSESS_EV_WHERE_IS_MASTER_REPLY, /* conn, addr (the master's, or NULL), epoch */
	CSESS_EV_APP_CLOSE,         /* the application closes the session */
	CSESS_EV_REQUEST_STALLED,   /* an application request on csess_conn() has had no
	                             * answer for stall_ms (not a blocking ACQUIRE) */
};

struct csess_event {
	enum csess_event_type type;
	uint64_t now; /* the shell's monotonic clock, ms; every event carries it */
	const struct csess_config *config;
	uint64_t conn;
	const char *addr; /* borrowed for the call */
	int why;          /* a chubby_status, for logs only */
	uint64_t session_id;
	uint64_t epoch;
	uint64_t lease_ms;
	uint64_t sent_at;
	bool is_keepalive; /* BAD_EPOCH: the refused request was the KeepAlive */
	unsigned nevents;  /* KEEPALIVE_REPLY: events and invalidations it carried */
};

/* Session states (csess_state()).  Before a session exists the state says
 * how far the first session start got; afterwards it says whether the
 * local lease holds, whatever the connection is doing (csess_link()). */
enum csess_state {
	CSESS_NEW = 0,   /* before START */
	CSESS_LOCATING,  /* asking replicas where the master is, or backing off */
	CSESS_CONNECTING, /* connecting to the replica believed to be master */
	CSESS_STARTING,  /* SESSION_START sent */
	CSESS_SAFE,      /* session up, local lease valid */
	CSESS_JEOPARDY,  /* local lease ran out; grace period running (§2.8) */
	CSESS_EXPIRED,   /* terminal: session lost, handles invalid */
	CSESS_CLOSED,    /* terminal: closed by the application */
};

/* What the connection is doing (csess_link()). */
enum csess_link {
	CSESS_LINK_IDLE = 0, /* none; waiting for the backoff to end */
	CSESS_LINK_CONNECTING,
	CSESS_LINK_ASKING,   /* WHERE_IS_MASTER outstanding */
	CSESS_LINK_STARTING, /* SESSION_START outstanding */
	CSESS_LINK_UP,       /* to the master, session on it, KeepAlive outstanding */
};

/* NOTIFY events; the numbers are those of docs/PROTOCOL.md "Events". */
enum csess_notify {
	CSESS_NOTIFY_MASTER_FAILOVER = 8,
	CSESS_NOTIFY_JEOPARDY = 64,
	CSESS_NOTIFY_SAFE = 65,
	CSESS_NOTIFY_EXPIRED = 66,
};

enum csess_action_type {
	CSESS_ACT_CONNECT = 1,
	CSESS_ACT_DISCONNECT,
	CSESS_ACT_SEND_WHERE_IS_MASTER,
	CSESS_ACT_SEND_SESSION_START,
	CSESS_ACT_SEND_KEEPALIVE,
	CSESS_ACT_SEND_SESSION_END,
	CSESS_ACT_NOTIFY,
	CSESS_ACT_CACHE_DISABLE,
	CSESS_ACT_CACHE_FLUSH,
	CSESS_ACT_FAIL_PENDING,
	CSESS_ACT_REISSUE_PENDING,
};

struct csess_action {
	enum csess_action_type type;
	uint64_t conn;             /* CONNECT, DISCONNECT, SEND_*, REISSUE_PENDING */
	char addr[CSESS_ADDR_MAX]; /* CONNECT */
	uint64_t session_id;       /* SEND_KEEPALIVE, SEND_SESSION_END */
	uint64_t epoch;            /* SEND_KEEPALIVE, SEND_SESSION_END, REISSUE_PENDING */
	uint64_t sent_at;          /* SEND_SESSION_START, SEND_KEEPALIVE: echo it back */
	uint64_t hold_ms;          /* SEND_KEEPALIVE: the master answers within this */
	enum csess_notify notify;  /* NOTIFY */
	int status;                /* FAIL_PENDING */
};

/* Filled by csess_step(); owned by the caller (no heap inside). */
struct csess_actions {
	size_t n;
	struct csess_action v[CSESS_ACTIONS_MAX];
};

struct csess;

/* NULL only when out of memory.  Nothing happens before START.  Free with
 * csess_free(). */
struct csess *csess_new(void);
void csess_free(struct csess *);

/*
 * Feeds one event; OUT is overwritten with the resulting actions.  Returns
 * CHUBBY_OK (also for events that are stale or come after a terminal
 * state: they are ignored), CHUBBY_E_INVALID (bad config, a second START,
 * an event before START, an unknown type), CHUBBY_E_NOMEM (START could not
 * copy the config) or CHUBBY_E_INTERNAL (more than CSESS_ACTIONS_MAX
 * actions: a bug).  Never aborts.
 */
int csess_step(struct csess *, const struct csess_event *, struct csess_actions *out);

/* The latest time the shell may wait before a TICK: never before NOW;
 * CSESS_NEVER in a terminal state. */
uint64_t csess_next_deadline(const struct csess *, uint64_t now);

enum csess_state csess_state(const struct csess *);
enum csess_link csess_link(const struct csess *);
uint64_t csess_session_id(const struct csess *); /* 0: none yet */
uint64_t csess_epoch(const struct csess *);      /* 0: none yet */
/* The current connection (the one requests go on when
 * csess_accepts_requests()), 0: none.  Probes in flight besides it are
 * the core's own business. */
uint64_t csess_conn(const struct csess *);
/* Connections open while looking for the master, the current one too. */
size_t csess_probes(const struct csess *);
/* The master's address as last confirmed, or NULL.  Valid until the next
 * csess_step() or csess_free(); not to be freed. */
const char *csess_master_addr(const struct csess *);
uint64_t csess_lease_end(const struct csess *); /* local ms; 0 if none */
uint64_t csess_grace_end(const struct csess *); /* local ms; 0 unless in jeopardy */
bool csess_keepalive_outstanding(const struct csess *);
/*
 * Whether the cache may answer a read at NOW (the shell's clock at the
 * moment of the read): SAFE and NOW before the local lease end, which has
 * the drift and the margin already taken off.  The state alone is not
 * enough: it changes only when the shell feeds a TICK, and a thread that
 * runs first after a stop (SIGSTOP, swap, CPU starvation) would read past
 * the lease, after the master may have committed a write that waited for
 * this client's lease to end (Chubby §2.8-2.9).  Pure: changes nothing.
 */
bool csess_cache_usable(const struct csess *, uint64_t now);
/* True while new requests may go out now on the link (SAFE and UP);
 * otherwise the shell queues them until REISSUE_PENDING or FAIL_PENDING. */
bool csess_accepts_requests(const struct csess *);
const char *csess_state_name(enum csess_state);
const char *csess_action_name(enum csess_action_type);

#endif
