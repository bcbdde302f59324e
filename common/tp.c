/* tp.c: the transport interface's dispatch and shared socket work; the plain transport. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <chubby/chubby.h>

#include "tp.h"

struct tp {
	const struct tp_ops *ops;
	void *impl;
	int extra_opts; /* tp_set_threadsafe's */
	int made;       /* a bufferevent was handed out: threadsafe is fixed */
};

struct tp *
tp_new(const struct tp_ops *ops, void *impl)
{
	struct tp *tp = calloc(1, sizeof *tp);

	if (tp == NULL)
		return NULL;
	tp->ops = ops;
	tp->impl = impl;
	return tp;
}

void *
tp_impl(const struct tp *tp)
{
	return tp->impl;
}

int
tp_set_threadsafe(struct tp *tp)
{
	/* A connection made before this would have no lock, and a caller
	 * writing on it would race the loop on its TLS object and buffers
	 * (09c0c4b's crash: the session's first connection was made while
	 * the client started, before the lock was asked for). */
	if (tp->made)
		return -1;
	tp->extra_opts = BEV_OPT_THREADSAFE | BEV_OPT_UNLOCK_CALLBACKS;
	return 0;
}

int
tp_threadsafe(const struct tp *tp)
{
	return tp->extra_opts != 0;
}

int
tp_bev_options(const struct tp *tp)
{
	return BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS | tp->extra_opts;
}

size_t
tp_write_now(struct tp *tp, struct bufferevent *bev, const void *data, size_t len)
{
	if (tp->ops->write_now == NULL || len == 0)
		return 0;
	return tp->ops->write_now(tp, bev, data, len);
}

void
tp_free(struct tp *tp)
{
	free(tp);
}

const char *
tp_name(const struct tp *tp)
{
	return tp->ops->name;
}

const char *
tp_kind_name(enum tp_peer_kind kind)
{
	switch (kind) {
	case TP_PEER_CLIENT:
		return "client";
	case TP_PEER_REPLICA:
		return "replica";
	case TP_PEER_ANON:
		break;
	}
	return "anonymous";
}

/*
 * libevent drops an event raised while a bufferevent has no event callback
 * (bufferevent_run_eventcb_ returns early), even when the event would be
 * deferred.  A connection refused at once by connect(2), or the CONNECTED we
 * raise for plain accepted sockets, happens before our caller had a chance
 * to call bufferevent_setcb().  So every new bufferevent gets this callback
 * first: the event is then queued as a deferred callback, and when it runs
 * from the loop libevent calls whatever callback is installed by then.
 */
void
tp_ignore_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

struct event_base *
tp_event_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

void
tp_event_base_free(struct event_base *base)
{
	if (base == NULL)
		return;
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

/*
 * Every message we send is a whole frame written in one go, and most are
 * answered: Nagle's algorithm would hold the second of two back-to-back
 * frames (ACCEPTs for two slots, two answers on one connection) until the
 * first is acknowledged, and with delayed ACKs that is 40 ms.  A socket that
 * is not TCP (a Unix socket in a test) refuses the option; that is fine.
 */
static void
tp_no_delay(evutil_socket_t fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct bufferevent *
tp_accept(struct tp *tp, struct event_base *base, evutil_socket_t fd)
{
	/* As with bufferevent_socket_new(), FD stays the caller's on failure. */
	if (evutil_make_socket_nonblocking(fd) != 0 || evutil_make_socket_closeonexec(fd) != 0)
		return NULL;
	tp_no_delay(fd);
	tp->made = 1;
	return tp->ops->wrap(tp, base, fd, 1);
}

struct bufferevent *
tp_connect(struct tp *tp, struct event_base *base, const struct sockaddr *to, int tolen,
    const struct sockaddr *from, int fromlen)
{
	struct bufferevent *bev;
	evutil_socket_t fd;
	int saved;

	if (to == NULL || tolen <= 0 || (from != NULL && from->sa_family != to->sa_family)) {
		errno = EINVAL;
		return NULL;
	}
	fd = socket(to->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* Binding the source lets a test cut one replica's links with a packet
	 * filter: each replica's traffic leaves from its own address. */
	if (from != NULL && bind(fd, from, (socklen_t)fromlen) != 0)
		goto fail;
	tp_no_delay(fd);
	tp->made = 1;
	bev = tp->ops->wrap(tp, base, fd, 0);
	if (bev == NULL)
		goto fail;
	bufferevent_setcb(bev, NULL, NULL, tp_ignore_event, NULL);
	/* The bufferevent owns FD now.  A refusal reported by connect(2) at
	 * once comes back as a deferred BEV_EVENT_ERROR, like a later one. */
	if (bufferevent_socket_connect(bev, to, tolen) != 0) {
		saved = errno;
		bufferevent_free(bev);
		errno = saved;
		return NULL;
	}
	return bev;
fail:
	saved = errno;
	evutil_closesocket(fd);
	errno = saved;
	return NULL;
}

int
tp_peer_identity(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
    size_t errlen)
{
	if (bev == NULL || out == NULL) {
		snprintf(err, errlen, "tp: no connection");
		return CHUBBY_E_INVALID;
	}
	return tp->ops->identity(tp, bev, out, err, errlen);
}

int
tp_input_pending(struct tp *tp, struct bufferevent *bev)
{
	return tp->ops->input_pending != NULL && tp->ops->input_pending(tp, bev);
}

int
tp_peer_revoked(struct tp *tp, struct bufferevent *bev, char *why, size_t len)
{
	return bev != NULL && tp->ops->revoked != NULL && tp->ops->revoked(tp, bev, why, len);
}

int
tp_error(struct tp *tp, struct bufferevent *bev, char *buf, size_t len)
{
	int status;

	if (len == 0)
		return CHUBBY_E_CONN;
	buf[0] = '\0';
	status = tp->ops->error_string(tp, bev, buf, len);
	if (buf[0] == '\0')
		snprintf(buf, len, "connection failed");
	return status != 0 ? status : CHUBBY_E_CONN;
}

/*
 * The plain transport.
 */

static struct bufferevent *
tp_plain_wrap(struct tp *tp, struct event_base *base, evutil_socket_t fd, int accepting)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, fd, tp_bev_options(tp));
	if (bev == NULL)
		return NULL;
	if (accepting) {
		/* An accepted TCP socket is usable at once, but upper layers wait
		 * for CONNECTED as they do with TLS: raise it, deferred, so that it
		 * reaches the callback the caller is about to install. */
		bufferevent_setcb(bev, NULL, NULL, tp_ignore_event, NULL);
		bufferevent_trigger_event(bev, BEV_EVENT_CONNECTED, BEV_TRIG_DEFER_CALLBACKS);
	}
	return bev;
}

static int
tp_plain_identity(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
    size_t errlen)
{
	(void)tp;
	(void)bev;
	(void)err;
	(void)errlen;
	memset(out, 0, sizeof *out);
	out->kind = TP_PEER_ANON;
	out->replica_id = -1;
	snprintf(out->name, sizeof out->name, "anonymous");
	return CHUBBY_OK;
}

static int
tp_plain_error_string(struct tp *tp, struct bufferevent *bev, char *buf, size_t len)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)tp;
	(void)bev;
	if (e != 0)
		snprintf(buf, len, "%s", evutil_socket_error_to_string(e));
	return CHUBBY_E_CONN;
}

/* A plain socket takes what fits; the caller queues the rest. */
static size_t
tp_plain_write_now(struct tp *tp, struct bufferevent *bev, const void *data, size_t len)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	ssize_t n;

	(void)tp;
	if (fd < 0)
		return 0;
	n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

static const struct tp_ops tp_plain_ops = {
    .name = "plain",
    .write_now = tp_plain_write_now,
    .wrap = tp_plain_wrap,
    .identity = tp_plain_identity,
    .error_string = tp_plain_error_string,
};

struct tp *
tp_plain_new(void)
{
	return tp_new(&tp_plain_ops, NULL);
}
