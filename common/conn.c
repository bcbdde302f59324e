/* conn.c: cuts a transport's byte stream into frames and hands them to the owner. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include <chubby/chubby.h>

#include "conn.h"
#include "frame.h"

struct conn {
	struct tp *tp;
	struct bufferevent *bev;
	size_t max_frame;
	struct conn_callbacks cb;
	void *arg;
	void *user;
	struct tp_identity peer;
	char remote[64];
	unsigned idle_ms;
	unsigned frame_ms;        /* deadline for finishing a begun frame; 0: none */
	struct event *frame_ev;   /* armed while a frame is half received */

	int open;        /* on_open delivered */
	int closing;     /* close_after_flush: deliver nothing more */
	int close_status;
	char close_reason[160];
	int in_callback; /* depth of callbacks into the owner */
	int freed;       /* conn_free called while inside a callback */
	int close_told;  /* on_close delivered */
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void
conn_fill_remote(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	snprintf(c->remote, sizeof c->remote, "?");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		port = ntohs(sin->sin_port);
		snprintf(c->remote, sizeof c->remote, "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		port = ntohs(sin6->sin6_port);
		snprintf(c->remote, sizeof c->remote, "[%s]:%u", host, port);
	}
}

struct conn *
conn_new(struct tp *tp, struct bufferevent *bev, int accepted, size_t max_frame,
    const struct conn_callbacks *cb, void *arg)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	c->tp = tp;
	c->bev = bev;
	c->max_frame = max_frame;
	c->cb = *cb;
	c->arg = arg;
	snprintf(c->remote, sizeof c->remote, "?");
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	(void)accepted;
	return c;
}

/* Called on the way out of every callback: frees the connection if its
 * owner asked for that while we were inside. */
static int
conn_leave(struct conn *c)
{
	c->in_callback--;
	if (c->in_callback == 0 && c->freed) {
		if (c->frame_ev != NULL)
			event_free(c->frame_ev);
		bufferevent_free(c->bev);
		free(c);
		return 1;
	}
	return 0;
}

static void
conn_tell_close(struct conn *c, int status, const char *reason)
{
	if (c->close_told || c->freed)
		return;
	/* Under the connection's lock: conn_send_now reads it from another
	 * thread (a no-op lock unless the transport is threadsafe). */
	bufferevent_lock(c->bev);
	c->close_told = 1;
	bufferevent_unlock(c->bev);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->frame_ev != NULL)
		evtimer_del(c->frame_ev);
	c->in_callback++;
	c->cb.on_close(c, status, reason, c->arg);
	conn_leave(c);
}

static void
conn_tell_open(struct conn *c)
{
	char err[256];

	c->open = 1;
	conn_fill_remote(c);
	if (tp_peer_identity(c->tp, c->bev, &c->peer, err, sizeof err) != CHUBBY_OK) {
		conn_tell_close(c, CHUBBY_E_AUTH, err);
		return;
	}
	if (c->cb.on_open != NULL) {
		c->in_callback++;
		c->cb.on_open(c, c->arg);
		conn_leave(c);
	}
}

/*
 * Runs the read event again if the transport holds records it read ahead:
 * the socket may have nothing more to say, so epoll would not.  It stops
 * when what is held is no whole record (the next read(2) sees EAGAIN and
 * nothing is delivered, so this is not called again for it).
 */
static void
conn_read_on(struct conn *c)
{
	int pending;

	if (!c->open || c->freed || c->closing || c->close_told)
		return;
	/* The transport's state is shared with conn_send_now's writer. */
	bufferevent_lock(c->bev);
	pending = tp_input_pending(c->tp, c->bev);
	bufferevent_unlock(c->bev);
	if (pending)
		event_active(&c->bev->ev_read, EV_READ, 1);
}

static void
conn_frame_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char why[96];

	(void)fd;
	(void)what;
	snprintf(why, sizeof why, "a frame was not completed within %u ms", c->frame_ms);
	conn_tell_close(c, CHUBBY_E_TIMEOUT, why);
}

/* Arms the frame deadline when bytes of an unfinished frame wait; RESTART
 * when a frame was completed meanwhile (the waiting bytes begin a new one). */
static void
conn_frame_deadline(struct conn *c, int restart)
{
	struct timeval tv;

	if (c->frame_ev == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		evtimer_del(c->frame_ev);
		return;
	}
	if (restart || !evtimer_pending(c->frame_ev, NULL)) {
		tv.tv_sec = c->frame_ms / 1000;
		tv.tv_usec = (c->frame_ms % 1000) * 1000;
		evtimer_add(c->frame_ev, &tv);
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* A TLS server side may deliver data before we saw CONNECTED. */
	if (!c->open) {
		c->in_callback++;
		conn_tell_open(c);
		if (conn_leave(c) || c->close_told)
			return;
	}
	int completed = 0;

	c->in_callback++;
	while (!c->freed && !c->closing && !c->close_told) {
		uint8_t hdr[FRAME_HEADER_LEN];
		size_t avail = evbuffer_get_length(in), body_len;
		ev_ssize_t got = evbuffer_copyout(in, hdr, avail < sizeof hdr ? avail : sizeof hdr);
		int rc;

		if (got < 0)
			break;
		rc = frame_header_parse(hdr, (size_t)got, c->max_frame, &body_len);
		if (rc == CHUBBY_E_TRUNCATED)
			break;
		if (rc != CHUBBY_OK) {
			char why[160];
			snprintf(why, sizeof why, "%s (limit %zu bytes)", chubby_strerror(rc),
			    c->max_frame);
			if (c->cb.on_bad_frame != NULL) {
				/* Nothing more can be read from this stream. */
				bufferevent_disable(bev, EV_READ);
				c->cb.on_bad_frame(c, rc, why, c->arg);
				if (!c->freed && !c->closing && !c->close_told)
					conn_close_after_flush(c, rc, why);
			} else {
				conn_tell_close(c, rc, why);
			}
			break;
		}
		/* No low watermark to wait for the rest: with it libevent would
		 * not call us for the part of a frame that arrives, and we would
		 * not see records read ahead (conn_read_on). */
		if (avail < FRAME_HEADER_LEN + body_len)
			break;
		const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_LEN + body_len));
		if (frame == NULL) {
			conn_tell_close(c, CHUBBY_E_NOMEM, "cannot assemble frame");
			break;
		}
		c->cb.on_frame(c, frame + FRAME_HEADER_LEN, body_len, c->arg);
		if (c->freed)
			break;
		evbuffer_drain(in, FRAME_HEADER_LEN + body_len);
		completed = 1;
	}
	if (!c->freed && !c->closing && !c->close_told)
		conn_frame_deadline(c, completed);
	if (!conn_leave(c))
		conn_read_on(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_tell_close(c, c->close_status, c->close_reason);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char reason[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (!c->open) {
			c->in_callback++;
			conn_tell_open(c);
			/* The handshake may have read the first records too. */
			if (!conn_leave(c))
				conn_read_on(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		conn_tell_close(c, CHUBBY_E_TIMEOUT, "idle timeout");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_tell_close(c, c->closing ? c->close_status : CHUBBY_E_CONN,
		    c->closing ? c->close_reason : "closed by peer");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* The transport says what kind of failure it was: a refused
		 * connection is E_CONN, not a TLS error, and a certificate
		 * refused for good (E_AUTH) may come after the handshake
		 * finished on our side (TLS 1.3: the server judges the
		 * client's certificate last). */
		int status;

		bufferevent_lock(bev);
		status = tp_error(c->tp, bev, reason, sizeof reason);
		bufferevent_unlock(bev);
		conn_tell_close(c, status, reason);
	}
}

/*
 * libevent 2.1's socket and TLS bufferevents write only once epoll reports
 * the socket writable: every message sent costs a turn of the loop and two
 * epoll_ctl(2)s (the write event added when the buffer fills, dropped when it
 * is empty again), on every hop of every request.  Running the write event's
 * own callback in this pass of the loop instead writes with libevent's own
 * code (its retries and error reports unchanged), takes along every frame
 * queued on this connection before it runs, and, with the change list of
 * tp_event_base_new(), lets the add and the drop cancel before they reach
 * the kernel.  A socket that cannot take it all keeps the event, as before.
 */
static void
conn_write_now(struct conn *c)
{
	event_active(&c->bev->ev_write, EV_WRITE, 1);
}

int
conn_send(struct conn *c, const void *frame, size_t len)
{
	if (c->closing || c->close_told || c->freed)
		return CHUBBY_E_CONN;
	if (bufferevent_write(c->bev, frame, len) != 0)
		return CHUBBY_E_NOMEM;
	if (c->open)
		conn_write_now(c);
	return CHUBBY_OK;
}

int
conn_send_now(struct conn *c, const void *frame, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t done = 0;
	int rc = CHUBBY_OK;

	/* Without a lock (a transport not made threadsafe before this
	 * connection) the bytes must go through the loop thread. */
	if (!tp_threadsafe(c->tp))
		return CHUBBY_E_CONN;
	bufferevent_lock(c->bev);
	/* open is set before the owner first hears of C (on_open), freed
	 * only by the owner's conn_free under the lock its caller holds here
	 * (conn.h); close_told is set on the loop thread under this lock. */
	if (c->closing || c->freed || !c->open || c->close_told) {
		rc = CHUBBY_E_CONN;
	} else {
		if (evbuffer_get_length(out) == 0)
			done = tp_write_now(c->tp, c->bev, frame, len);
		/* The rest after what went, in order, under the same lock; its
		 * write event wakes the loop thread. */
		if (done < len && bufferevent_write(c->bev, (const char *)frame + done,
		    len - done) != 0)
			rc = CHUBBY_E_NOMEM;
		else if (done < len)
			conn_write_now(c);
	}
	bufferevent_unlock(c->bev);
	return rc;
}

void
conn_close_after_flush(struct conn *c, int status, const char *reason)
{
	if (c->closing || c->close_told || c->freed)
		return;
	c->closing = 1;
	c->close_status = status;
	snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "closed");
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_tell_close(c, status, c->close_reason);
}

void
conn_free(struct conn *c)
{
	if (c == NULL || c->freed)
		return;
	c->freed = 1;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->frame_ev != NULL)
		evtimer_del(c->frame_ev);
	if (c->in_callback == 0) {
		if (c->frame_ev != NULL)
			event_free(c->frame_ev);
		bufferevent_free(c->bev);
		free(c);
	}
}

int
conn_peer_revoked(const struct conn *c, char *why, size_t len)
{
	if (!c->open || c->closing || c->close_told || c->freed)
		return 0;
	return tp_peer_revoked(c->tp, c->bev, why, len);
}

const struct tp_identity *
conn_peer(const struct conn *c)
{
	return &c->peer;
}

const char *
conn_remote(const struct conn *c)
{
	return c->remote;
}

void
conn_set_idle_timeout(struct conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	c->idle_ms = ms;
	bufferevent_set_timeouts(c->bev, ms ? &tv : NULL, NULL);
}

void
conn_set_frame_timeout(struct conn *c, unsigned ms)
{
	c->frame_ms = ms;
	if (ms == 0) {
		if (c->frame_ev != NULL)
			evtimer_del(c->frame_ev);
		return;
	}
	if (c->frame_ev == NULL)
		c->frame_ev = evtimer_new(bufferevent_get_base(c->bev), conn_frame_deadline_cb, c);
}

size_t
conn_pending_output(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
conn_set_user(struct conn *c, void *user)
{
	c->user = user;
}

void *
conn_user(const struct conn *c)
{
	return c->user;
}
