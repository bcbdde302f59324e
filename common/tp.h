/*
 * tp.h: the transport interface (after Redis's connection.h).  Upper layers
 * (conn.c, the server, libchubby) get bufferevents from a struct tp and ask it
 * who the peer is; they never see OpenSSL.  Two implementations: TLS with
 * mutual authentication (tls.c, the only one in production) and plain TCP
 * (tp.c, for tests).
 *
 * Conventions for every bufferevent a transport hands out:
 *  - it was made with BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS, so
 *    bufferevent_free() closes the socket, and no callback runs before the
 *    caller returns to the event loop: set callbacks with bufferevent_setcb()
 *    and enable EV_READ right after tp_accept()/tp_connect();
 *  - the event callback sees BEV_EVENT_CONNECTED once, on both the accepting
 *    and the connecting side, when the connection is usable (for TLS: the
 *    handshake is done and the peer's certificate verified), or else
 *    BEV_EVENT_ERROR; only after CONNECTED may tp_peer_identity() be asked.
 *    In TLS 1.3 a client's handshake ends before the server has judged the
 *    client's certificate: a refused client sees CONNECTED, then an error;
 *  - once connected, a peer closing its end (with or without TLS's
 *    close_notify) is BEV_EVENT_EOF, a reset BEV_EVENT_ERROR; the framing
 *    above detects a message cut short.
 * Writes go through write(2): a process using a transport must ignore or
 * block SIGPIPE, as with any libevent socket.
 */
#ifndef CHUBBY_TP_H
#define CHUBBY_TP_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

struct sockaddr;
struct tls_ctx;

/* Longest principal, cell or replica name, NUL included (X.509's
 * ub-common-name is 64 characters). */
#define TP_NAME_MAX 65

enum tp_peer_kind {
	TP_PEER_ANON = 0, /* plain transport: nobody was authenticated */
	TP_PEER_CLIENT,   /* a client certificate: NAME is the principal */
	TP_PEER_REPLICA,  /* a replica certificate: REPLICA_ID is set */
};

struct tp_identity {
	enum tp_peer_kind kind;
	int replica_id;              /* TP_PEER_REPLICA: 1..TLS_MAX_REPLICA_ID; else -1 */
	char name[TP_NAME_MAX];      /* the certificate's CN: "alice", "replica-3";
	                                "anonymous" on the plain transport */
	char cell[TP_NAME_MAX];      /* the certificate's O; "" on the plain transport */
};

struct tp;

/* The plain TCP transport; every peer is TP_PEER_ANON.  For tests only:
 * nothing is authenticated or encrypted.  NULL if out of memory. */
struct tp *tp_plain_new(void);

/* The TLS transport over CTX (tls.h).  CTX is borrowed: it must outlive the
 * transport and every bufferevent made by it.  Accepting needs a server
 * context, connecting a client context.  NULL if out of memory. */
struct tp *tp_tls_new(struct tls_ctx *ctx);

/* Frees the transport (not its context, not the bufferevents it made). */
void tp_free(struct tp *tp);

/* "tls" or "plain", for logs. */
const char *tp_name(const struct tp *tp);

/*
 * A new event base for connections made here (NULL if out of memory).  On
 * epoll it batches interest changes per loop turn: a bufferevent adds its
 * write event when a frame is queued and drops it once the frame is written,
 * often in the same turn, and without the change list each of those is an
 * epoll_ctl(2) of its own (about two per message sent).  The change list's
 * one caveat, a socket dup(2)ed into two events, does not arise: every
 * socket belongs to one bufferevent.
 */
struct event_base *tp_event_base_new(void);

/*
 * Frees BASE after one non-blocking pass of its loop.  A bufferevent freed
 * while one of its deferred callbacks was queued (BEV_OPT_DEFER_CALLBACKS)
 * is released only when that callback runs, and event_base_free cancels
 * queued callbacks without running them: the bufferevent and its SSL would
 * leak.  The caller has freed or disabled every event of its own first, so
 * that the pass runs nothing but those releases.
 */
void tp_event_base_free(struct event_base *base);

/* Wraps FD, a socket just returned by accept(2), and starts the server side
 * of the handshake.  The bufferevent owns FD from then on.  On failure (NULL,
 * errno set) FD is left open, as bufferevent_socket_new() leaves it: the
 * caller closes it. */
struct bufferevent *tp_accept(struct tp *tp, struct event_base *base, evutil_socket_t fd);

/* Starts a non-blocking connection to TO, leaving from FROM if not NULL (a
 * local address to bind, port 0 for any).  The event callback later sees
 * BEV_EVENT_CONNECTED or BEV_EVENT_ERROR (a refused connection too).  NULL
 * with errno set if the socket cannot even be made or bound (EINVAL: FROM
 * and TO of different families, or a TLS transport with a server context). */
struct bufferevent *tp_connect(struct tp *tp, struct event_base *base, const struct sockaddr *to,
    int tolen, const struct sockaddr *from, int fromlen);

/*
 * Fills OUT with the authenticated peer of BEV, a connection that has seen
 * BEV_EVENT_CONNECTED.  For TLS the kind comes from the certificate's OU
 * ("chubby-replica" or "chubby-client"), trusted because the certificate
 * chains to the cell CA: a client certificate never yields TP_PEER_REPLICA,
 * whatever its CN says.  Returns CHUBBY_OK; CHUBBY_E_AUTH with a message in
 * ERR if the certificate, although signed by the CA, is not one of ours
 * (wrong OU, malformed CN, another cell); CHUBBY_E_INVALID if BEV is not
 * connected or not from this transport.
 */
int tp_peer_identity(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
    size_t errlen);

/*
 * Writes into BUF a readable reason for the error event just delivered on
 * BEV ("tls: certificate verify failed: certificate has expired",
 * "Connection refused") and returns what kind of failure it was:
 * CHUBBY_E_CONN, the connection failed or closed below TLS (refused, reset);
 * CHUBBY_E_TLS, TLS failed in a way that may pass (a handshake cut short,
 * a peer that does not speak TLS 1.3); CHUBBY_E_AUTH, a certificate was
 * refused, by the peer or by us, for a reason retrying will not change
 * (unknown CA, expired, revoked, wrong use).  Call it first thing in the
 * event callback: it reads errno, and it consumes the TLS errors queued on
 * BEV.
 */
int tp_error(struct tp *tp, struct bufferevent *bev, char *buf, size_t len);

/*
 * 1 if BEV's transport has read bytes from the socket that it has not yet
 * delivered to BEV's input.  TLS reads ahead (several records per read(2));
 * libevent 2.1 reads on only while the record in hand has bytes left, so
 * whole records can wait in OpenSSL with the socket no longer readable: the
 * connection's owner runs the read event again while this says so (conn.c).
 */
int tp_input_pending(struct tp *tp, struct bufferevent *bev);

/*
 * 1 if the certificate BEV's peer presented (BEV has seen
 * BEV_EVENT_CONNECTED) is on the transport's current CRL, which may be newer
 * than the connection (tls_ctx_reload); WHY then names the serial and the
 * CRL.  0 otherwise, and always on the plain transport.
 */
int tp_peer_revoked(struct tp *tp, struct bufferevent *bev, char *why, size_t len);

/*
 * Makes the bufferevents this transport hands out from now on lockable
 * (BEV_OPT_THREADSAFE, libevent's pthread locking on: evthread_use_pthreads
 * first), with their callbacks run without that lock
 * (BEV_OPT_UNLOCK_CALLBACKS), so that a thread other than the loop's may
 * write a frame itself with tp_write_now while the loop reads: one lock per
 * connection around the transport's state (OpenSSL's SSL object is not
 * thread-safe), taken by libevent around its own reads and writes and by
 * bufferevent_lock() around tp_write_now.  Off by default (the server's
 * connections are touched by their loop thread alone).  Only before the
 * transport's first bufferevent (tp_accept, tp_connect): -1 after it, since
 * one made without a lock would be written from two threads unlocked.
 */
int tp_set_threadsafe(struct tp *tp);

/* 1 if tp_set_threadsafe was called: every bufferevent of TP is lockable. */
int tp_threadsafe(const struct tp *tp);

/* The bufferevent options every wrap uses: the conventions above, plus
 * those of tp_set_threadsafe if it was called. */
int tp_bev_options(const struct tp *tp);

/*
 * With BEV's lock held (bufferevent_lock) and nothing in its output
 * buffer, writes what the socket takes now, on the calling thread, and
 * returns how many of LEN bytes it took (0 to LEN): the caller queues the
 * rest in the output buffer (bufferevent_write), in order, before letting
 * the lock go.  0 with nothing consumed whenever it cannot write at once:
 * a full socket, an error (the loop's own write then meets it and reports
 * it), a transport without the operation.  For TLS a record that went out
 * only in part counts as not taken: OpenSSL holds it, and the caller's
 * queued copy of the same bytes completes it (SSL_MODE_ACCEPT_MOVING_
 * WRITE_BUFFER).  The caller blocks SIGPIPE around it (tp.h's rule).
 */
size_t tp_write_now(struct tp *tp, struct bufferevent *bev, const void *data, size_t len);

/* Human-readable name of a peer kind: "client", "replica", "anonymous". */
const char *tp_kind_name(enum tp_peer_kind kind);

/*
 * For transport implementations (tp.c, tls.c) only.
 */
struct tp_ops {
	const char *name;
	/* Wraps a socket: ACCEPTING is 1 for an accepted socket, 0 for one
	 * about to connect.  On failure returns NULL and leaves FD open. */
	struct bufferevent *(*wrap)(struct tp *tp, struct event_base *base, evutil_socket_t fd,
	    int accepting);
	int (*identity)(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
	    size_t errlen);
	/* As tp_error; may leave BUF empty and return 0 when it knows
	 * nothing (tp_error then says "connection failed", E_CONN). */
	int (*error_string)(struct tp *tp, struct bufferevent *bev, char *buf, size_t len);
	/* Optional: 1 if the transport holds bytes it read from the socket
	 * but has not yet handed to the bufferevent's input. */
	int (*input_pending)(struct tp *tp, struct bufferevent *bev);
	/* Optional: 1 if the peer's certificate is revoked now. */
	int (*revoked)(struct tp *tp, struct bufferevent *bev, char *why, size_t len);
	/* Optional: as tp_write_now (absent: nothing is written at once). */
	size_t (*write_now)(struct tp *tp, struct bufferevent *bev, const void *data, size_t len);
};

/* A transport of type OPS with state IMPL (borrowed); NULL if out of memory. */
struct tp *tp_new(const struct tp_ops *ops, void *impl);
void *tp_impl(const struct tp *tp);

/* An event callback that does nothing, installed on every new bufferevent
 * (see tp.c: libevent drops events raised while no callback is set). */
void tp_ignore_event(struct bufferevent *bev, short what, void *arg);

#endif
