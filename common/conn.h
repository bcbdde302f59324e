/*
 * conn.h: a framed message connection over a transport bufferevent.
 *
 * The connection cuts the byte stream into frames (frame.h), refuses
 * frames over the limit, and hands each complete frame body to its owner.
 * It knows nothing of TLS (the transport made the bufferevent) and nothing
 * of message contents (the owner decodes with wire.h).  Shell code: it is
 * driven by libevent.
 */
#ifndef CHUBBY_CONN_H
#define CHUBBY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "tp.h"

struct conn;

struct conn_callbacks {
	/* The transport is up (TLS handshake done); identity is known. */
	void (*on_open)(struct conn *c, void *arg);
	/* One complete frame body; valid only during the call. */
	void (*on_frame)(struct conn *c, const uint8_t *body, size_t len, void *arg);
	/* The connection failed or closed; STATUS says why (CHUBBY_E_CONN for a
	 * plain close or a refused connection, CHUBBY_E_FRAME_TOO_BIG,
	 * CHUBBY_E_TLS for a TLS failure that may pass, CHUBBY_E_AUTH for a
	 * certificate refused for good (tp_error), CHUBBY_E_TIMEOUT ...).
	 * The owner must call conn_free() (it may do so from this callback). */
	void (*on_close)(struct conn *c, int status, const char *reason, void *arg);
	/* Optional: the stream cannot be framed (a length over the limit, or
	 * zero).  Reading has stopped; the owner may send an error and call
	 * conn_close_after_flush().  Without it the connection just closes. */
	void (*on_bad_frame)(struct conn *c, int status, const char *reason, void *arg);
};

/* Takes ownership of BEV.  ACCEPTED is true for the server side of an
 * accepted connection, false for an outgoing one still connecting. */
struct conn *conn_new(struct tp *tp, struct bufferevent *bev, int accepted, size_t max_frame,
    const struct conn_callbacks *cb, void *arg);

/* Queues a complete frame (header included).  CHUBBY_E_CONN if closing. */
int conn_send(struct conn *c, const void *frame, size_t len);

/*
 * As conn_send, from a thread other than the loop's, on a connection whose
 * transport is threadsafe (tp_set_threadsafe): with nothing queued before
 * it the frame is written at once by the calling thread, under the
 * connection's lock, and the loop thread is not woken; what the socket does
 * not take is queued (and the loop woken to write it).  CHUBBY_E_CONN,
 * nothing written, if the transport was not threadsafe when C was made or C
 * is closing.  The caller keeps C from being freed meanwhile: it holds the
 * lock under which its owner calls conn_free (libchubby: the client mutex)
 * and blocks SIGPIPE.
 */
int conn_send_now(struct conn *c, const void *frame, size_t len);

/* Sends what is queued, then closes; no more frames are delivered. */
void conn_close_after_flush(struct conn *c, int status, const char *reason);

/* Closes now and frees; safe to call from inside any callback. */
void conn_free(struct conn *c);

/* The authenticated peer, valid once on_open has run. */
const struct tp_identity *conn_peer(const struct conn *c);

/* "ip:port" of the remote end, for logs. */
const char *conn_remote(const struct conn *c);

/* Drop the connection if no complete frame arrives for MS milliseconds
 * while a frame is half received or nothing was received yet (slowloris);
 * 0 turns it off. */
void conn_set_idle_timeout(struct conn *c, unsigned ms);

/* Close the connection (CHUBBY_E_TIMEOUT) if a frame that has begun to
 * arrive is not complete within MS milliseconds, however slowly its bytes
 * trickle in; 0 turns it off. */
void conn_set_frame_timeout(struct conn *c, unsigned ms);

size_t conn_pending_output(const struct conn *c);

/* 1 if the peer of C, an open connection not closing, presented a
 * certificate that its transport's current CRL revokes (tp_peer_revoked),
 * with the words in WHY. */
int conn_peer_revoked(const struct conn *c, char *why, size_t len);

void conn_set_user(struct conn *c, void *user);
void *conn_user(const struct conn *c);

#endif
