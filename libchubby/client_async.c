/* client_async.c: libchubby without its threads: a client from chubby_open_async driven by the application's own loop (chubby_interest, chubby_process) and the _async calls with their completions. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "client_int.h"
#include "lasterr.h"
#include "protocol.h"

/*
 * Design (docs/CLIENT.md "Driving libchubby from your own event loop").
 * The client is the threaded one without its threads: the same session
 * core, connections, codec, cache and request list (client_loop.c), the
 * same request builders and answer readers (client.c).  What changes is
 * who runs the libevent loop (the application, through chubby_process)
 * and where answers go (a completion queued in order with the events,
 * run by chubby_process after the loop's pass, without the mutex).
 *
 * One descriptor, as ZooKeeper's C client has one socket: an epoll set
 * that mirrors what the client's event base watches (every connection,
 * several while the master is being looked for, and the wake eventfd).
 * An epoll descriptor is itself pollable, readable while any descriptor
 * in it is ready, so the application watches one descriptor that never
 * changes, and registers it once with its own loop; an fd set would have
 * to be re-registered each time a connection comes or goes, which
 * libevent and epoll users would have to diff themselves.  The mirror is
 * synced from event_base_foreach_event after every pass (the only time
 * the base's interest changes); libevent's own backend keeps its own epoll
 * set, which chubby_process drives without blocking.
 */

struct cl_mirror {
	int fd;
	uint32_t want; /* EPOLLIN/EPOLLOUT wanted at this sync */
	uint32_t reg;  /* what the set had after the last one */
};

/* The most chubby_interest ever asks the application to wait: timer
 * expiries come from libevent in wall-clock terms (event_pending), so a
 * clock stepped back could otherwise stretch a wait; waking once a second
 * bounds that. */
#define CL_INTEREST_MAX_MS 1000

static int
cl_mirror_scan(const struct event_base *base, const struct event *ev, void *arg)
{
	struct chubby_client *c = arg;
	evutil_socket_t fd = event_get_fd(ev);
	short what = event_get_events(ev), on;
	uint32_t want = 0;
	size_t i;

	(void)base;
	if (fd < 0 || (what & EV_SIGNAL) || !(what & (EV_READ | EV_WRITE)))
		return 0;
	on = (short)event_pending(ev, EV_READ | EV_WRITE, NULL);
	if (on & EV_READ)
		want |= EPOLLIN;
	if (on & EV_WRITE)
		want |= EPOLLOUT;
	if (want == 0)
		return 0;
	for (i = 0; i < c->nmirror; i++)
		if (c->mirror[i].fd == fd)
			break;
	if (i == c->nmirror) {
		if (c->nmirror == c->mirror_cap) {
			size_t cap = c->mirror_cap ? c->mirror_cap * 2 : 8;
			struct cl_mirror *p = realloc(c->mirror, cap * sizeof *p);
			if (p == NULL)
				return 0; /* unwatched until memory comes back; the 1 s cap wakes us */
			c->mirror = p;
			c->mirror_cap = cap;
		}
		c->mirror[i].fd = fd;
		c->mirror[i].want = 0;
		c->mirror[i].reg = 0;
		c->nmirror++;
	}
	c->mirror[i].want |= want;
	return 0;
}

/* Brings the epoll set in line with what the base watches now. */
static void
cl_mirror_sync(struct chubby_client *c)
{
	size_t i, j;

	for (i = 0; i < c->nmirror; i++)
		c->mirror[i].want = 0;
	event_base_foreach_event(c->base, cl_mirror_scan, c);
	for (i = j = 0; i < c->nmirror; i++) {
		struct cl_mirror *m = &c->mirror[i];
		struct epoll_event ee = {.events = m->want, .data.fd = m->fd};

		if (m->want == 0) {
			/* Gone from the base: usually closed already (which took it
			 * out of the set), else taken out here. */
			epoll_ctl(c->epfd, EPOLL_CTL_DEL, m->fd, NULL);
			continue;
		}
		/* MOD every time, not only on a change: a socket closed and its
		 * number reused by the next connection in the same pass left the
		 * set with the old one, and MOD says so (ENOENT). */
		if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, m->fd, &ee) != 0 && errno == ENOENT)
			epoll_ctl(c->epfd, EPOLL_CTL_ADD, m->fd, &ee);
		m->reg = m->want;
		c->mirror[j++] = *m;
	}
	c->nmirror = j;
}

static int
cl_min_timer(const struct event_base *base, const struct event *ev, void *arg)
{
	struct timeval *min = arg, tv;

	(void)base;
	if (event_pending(ev, EV_TIMEOUT, &tv) && (min->tv_sec < 0 || timercmp(&tv, min, <)))
		*min = tv;
	return 0;
}

/*
 * Runs the base with SIGPIPE blocked: a write to a socket the server
 * closed fails with EPIPE instead of killing an application that did not
 * ignore the signal (the threaded client's loop thread blocks every
 * signal).  A SIGPIPE raised meanwhile is taken back, unless one was
 * already pending for the application.
 */
void
cl_async_loop(struct chubby_client *c, int flags)
{
	sigset_t pipe, old, pend;
	bool had;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	had = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
	event_base_loop(c->base, flags);
	if (!had && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int
cl_not_async(const struct chubby_client *c, const char *call)
{
	lasterr_clear();
	if (c == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: NULL client", call);
		return CHUBBY_E_INVALID;
	}
	if (!c->async) {
		lasterr_set(CHUBBY_E_INVALID, "%s: the client is not from chubby_open_async", call);
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
chubby_interest(chubby_client *c, int *fd, int *events, int *timeout_ms)
{
	struct timeval min = {-1, 0}, now;
	long long ms;
	bool due;
	int rc;

	if ((rc = cl_not_async(c, "chubby_interest")) != CHUBBY_OK)
		return rc;
	if (fd == NULL || events == NULL || timeout_ms == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_interest: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*fd = c->epfd;
	*events = CHUBBY_POLL_READ;
	cl_mirror_sync(c);
	pthread_mutex_lock(&c->mu);
	due = c->ev_head != NULL || c->open_state == 1;
	pthread_mutex_unlock(&c->mu);
	if (due || c->close_deferred ||
	    event_base_get_num_events(c->base, EVENT_BASE_COUNT_ACTIVE) > 0) {
		*timeout_ms = 0;
		return CHUBBY_OK;
	}
	event_base_foreach_event(c->base, cl_min_timer, &min);
	if (min.tv_sec < 0) {
		*timeout_ms = CL_INTEREST_MAX_MS;
		return CHUBBY_OK;
	}
	gettimeofday(&now, NULL);
	ms = ((long long)min.tv_sec - now.tv_sec) * 1000 + (min.tv_usec - now.tv_usec + 999) / 1000;
	if (ms < 0)
		ms = 0;
	if (ms > CL_INTEREST_MAX_MS)
		ms = CL_INTEREST_MAX_MS;
	*timeout_ms = (int)ms;
	return CHUBBY_OK;
}

int
chubby_process(chubby_client *c, int events)
{
	int rc;

	(void)events; /* the pass looks at every descriptor itself */
	if ((rc = cl_not_async(c, "chubby_process")) != CHUBBY_OK)
		return rc;
	if (c->in_process > 0 || c->in_close)
		return CHUBBY_OK; /* from a callback: the pass under way does the rest */
	c->in_process++;
	cl_async_loop(c, EVLOOP_NONBLOCK);
	cl_async_dispatch(c);
	cl_mirror_sync(c);
	c->in_process--;
	if (c->close_deferred) {
		c->close_deferred = false;
		chubby_close(c); /* asked for by a callback: C is freed */
	}
	return CHUBBY_OK;
}

/* ---- completions ---- */

/* Reads R's answer into what its completion is told, runs it, frees R. */
static void
cl_async_complete(struct chubby_client *c, struct creq *r)
{
	struct chubby_result res;
	struct chubby_stat st;
	chubby_handle *nh = NULL;
	void *data = NULL;
	char **names = NULL;
	size_t nnames = 0;
	const void *seq = NULL;
	size_t len = 0;
	uint64_t id = 0;
	char msg[600];
	const char *what = r->ah != NULL ? r->ah->path : r->apath != NULL ? r->apath
	    : r->op == PROTO_OP_CHECK_SEQUENCER ? "sequencer" : "(a handle closed since)";
	int rc = r->status;

	memset(&res, 0, sizeof res);
	res.handle = r->ah;
	lasterr_clear();
	if (rc == CHUBBY_E_TIMEOUT && !r->have_res && r->message[0] != '\0') {
		lasterr_set(rc, "%s: %s", what, r->message);
	} else if (rc != CHUBBY_OK) {
		lasterr_set(rc, "%s: %s: %s", what, chubby_status_name(rc),
		    r->message[0] != '\0' ? r->message : chubby_strerror(rc));
	} else {
		switch (r->op) {
		case PROTO_OP_OPEN:
			rc = cl_handle_adopt(c, r->apath, r->aflags, r, &nh, &res.created, &id);
			if (rc == CHUBBY_E_NOMEM && id != 0) {
				/* The handle exists at the master: close it there. */
				pthread_mutex_lock(&c->mu);
				cl_req_fire(c, PROTO_OP_CLOSE, id);
				pthread_mutex_unlock(&c->mu);
				cl_wake(c);
			}
			res.handle = nh;
			break;
		case PROTO_OP_GET_CONTENTS:
			if (r->cached) {
				res.data = r->cdata;
				res.len = r->clen;
				res.stat = &r->cst;
			} else if ((rc = cl_res_contents(r, &data, &len, &st, what)) == CHUBBY_OK) {
				res.data = data;
				res.len = len;
				res.stat = &st;
			}
			break;
		case PROTO_OP_GET_STAT:
		case PROTO_OP_SET_CONTENTS:
			if ((rc = cl_res_stat(r, "stat", &st, what)) == CHUBBY_OK)
				res.stat = &st;
			break;
		case PROTO_OP_GET_SEQUENCER:
			if ((rc = cl_res_sequencer(r, &seq, &len, what)) == CHUBBY_OK) {
				res.data = seq;
				res.len = len;
			}
			break;
		case PROTO_OP_READDIR:
			if ((rc = cl_res_names(r, &names, &nnames, what)) == CHUBBY_OK) {
				res.names = (const char *const *)names;
				res.nnames = nnames;
			}
			break;
		case PROTO_OP_POISON:
			/* As chubby_poison: from now on calls on it are refused. */
			if (r->ah != NULL)
				r->ah->poisoned = true;
			break;
		case PROTO_OP_SET_SEQUENCER:
			if (r->ah != NULL)
				r->ah->has_sequencer = r->aseq;
			break;
		default:
			break;
		}
	}
	/* The callback's own calls overwrite the thread's last error. */
	snprintf(msg, sizeof msg, "%s", rc != CHUBBY_OK ? chubby_last_error() : "");
	res.status = rc;
	res.message = msg;
	/* Our own write: its answer (whatever it was) is what we read next,
	 * not a copy cached before it (client.c cl_own_write). */
	if (r->ah != NULL && (r->op == PROTO_OP_SET_CONTENTS || r->op == PROTO_OP_DELETE ||
	    r->op == PROTO_OP_SET_ACL))
		cl_own_write(r->ah);
	r->done_cb(c, &res, r->done_arg);
	if (r->op == PROTO_OP_CLOSE && r->ah != NULL)
		cl_handle_forget(r->ah);
	free(data);
	chubby_free_names(names, nnames);
	cl_req_free(r);
}

void
cl_async_dispatch(struct chubby_client *c)
{
	for (;;) {
		struct cevent *e;
		struct chubby_handle *h = NULL;
		struct chubby_event out;
		bool deliver;

		pthread_mutex_lock(&c->mu);
		if (c->close_deferred) {
			/* The application closed the client from a callback: the
			 * rest is chubby_close's (completions cancelled or run,
			 * events dropped). */
			pthread_mutex_unlock(&c->mu);
			return;
		}
		if (c->open_state == 1 || (c->in_close && c->open_state == 0)) {
			chubby_open_fn cb = c->open_cb;
			int st = c->open_state == 1 ? c->open_status : CHUBBY_E_CANCELLED;
			char msg[sizeof c->open_msg];

			snprintf(msg, sizeof msg, "%s",
			    c->open_state == 1 ? c->open_msg : "the client was closed");
			c->open_state = 2;
			pthread_mutex_unlock(&c->mu);
			if (cb != NULL)
				cb(c, st, msg, c->open_arg);
			continue;
		}
		if ((e = c->ev_head) == NULL) {
			pthread_mutex_unlock(&c->mu);
			return;
		}
		c->ev_head = e->next;
		if (c->ev_head == NULL)
			c->ev_tail = NULL;
		if (e->req != NULL) {
			struct creq *r = e->req;

			pthread_mutex_unlock(&c->mu);
			free(e);
			cl_async_complete(c, r);
			continue;
		}
		if (e->handle_id != 0)
			for (h = c->handles; h != NULL; h = h->next)
				if (h->id == e->handle_id)
					break;
		/* An event for a handle closed meanwhile goes nowhere; nor does
		 * any once the client is closing. */
		deliver = !c->in_close && c->on_event != NULL && (e->handle_id == 0 || h != NULL);
		pthread_mutex_unlock(&c->mu);
		if (deliver) {
			out.type = e->type;
			out.handle = h;
			out.path = e->path;
			c->on_event(c, &out, c->event_arg);
		}
		free(e->path);
		free(e);
	}
}

/* ---- the calls ---- */

/* Queues B's request for DONE; CHUBBY_OK, or an error (B freed, DONE
 * never to run).  TIMEOUT_MS 0: no limit. */
static int
cl_submit(struct chubby_client *c, struct rb *b, chubby_handle *h, uint64_t timeout_ms,
    chubby_done_fn done, void *arg, const char *what)
{
	struct creq *r = b->r;
	int rc;

	if (!c->async || done == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: %s", what,
		    done == NULL ? "no completion given" : "an _async call on a client not from "
		    "chubby_open_async");
		cl_req_free(r);
		return CHUBBY_E_INVALID;
	}
	if (b->err != CHUBBY_OK) {
		rc = b->err == CHUBBY_E_LIMIT ? CHUBBY_E_TOO_LARGE : b->err;
		lasterr_set(rc, "%s: cannot encode the request", what);
		cl_req_free(r);
		return rc;
	}
	pthread_mutex_lock(&c->mu);
	if (c->in_close) {
		rc = CHUBBY_E_CANCELLED;
		lasterr_set(rc, "the client is closing");
	} else {
		rc = cl_usable(c);
	}
	if (rc != CHUBBY_OK) {
		pthread_mutex_unlock(&c->mu);
		cl_req_free(r);
		return rc;
	}
	if ((r->qev = calloc(1, sizeof *r->qev)) == NULL) {
		pthread_mutex_unlock(&c->mu);
		cl_req_free(r);
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", what);
		return CHUBBY_E_NOMEM;
	}
	r->done_cb = done;
	r->done_arg = arg;
	r->ah = h;
	r->deadline = timeout_ms != 0 ? cl_now() + timeout_ms : 0;
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
	cl_async_arm(c);
	pthread_mutex_unlock(&c->mu);
	cl_wake(c);
	return CHUBBY_OK;
}

int
chubby_handle_open_async(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, chubby_done_fn done, void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_open(c, path, flags, args, &b)) != CHUBBY_OK)
		return rc;
	if ((b.r->apath = strdup(path)) == NULL) {
		cl_req_free(b.r);
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", path);
		return CHUBBY_E_NOMEM;
	}
	b.r->aflags = flags;
	return cl_submit(c, &b, NULL, c->call_timeout_ms, done, arg, path);
}

/* A request on H with nothing more than the handle. */
static int
cl_handle_async(chubby_handle *h, uint32_t op, chubby_done_fn done, void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_handle_req(h, &b, op)) != CHUBBY_OK)
		return rc;
	return cl_submit(h->c, &b, h, h->c->call_timeout_ms, done, arg, h->path);
}

int
chubby_handle_close_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	return cl_handle_async(h, PROTO_OP_CLOSE, done, arg);
}

int
chubby_get_stat_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	return cl_handle_async(h, PROTO_OP_GET_STAT, done, arg);
}

int
chubby_release_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	return cl_handle_async(h, PROTO_OP_RELEASE, done, arg);
}

int
chubby_get_sequencer_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	return cl_handle_async(h, PROTO_OP_GET_SEQUENCER, done, arg);
}

int
chubby_delete_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	return cl_handle_async(h, PROTO_OP_DELETE, done, arg);
}

int
chubby_get_contents_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	struct chubby_client *c;
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	c = h->c;
	if (h->poisoned) {
		lasterr_set(CHUBBY_E_CANCELLED, "%s: the handle is poisoned", h->path);
		return CHUBBY_E_CANCELLED;
	}
	if (!c->async || done == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: %s", h->path,
		    done == NULL ? "no completion given" : "an _async call on a client not from "
		    "chubby_open_async");
		return CHUBBY_E_INVALID;
	}
	/* A valid cached copy answers without a round trip, as in
	 * chubby_get_contents; its completion still runs in chubby_process,
	 * never inside this call. */
	if ((r = calloc(1, sizeof *r)) == NULL) {
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", h->path);
		return CHUBBY_E_NOMEM;
	}
	msgpack_sbuffer_init(&r->args);
	pthread_cond_init(&r->cond, NULL);
	r->op = PROTO_OP_GET_CONTENTS;
	pthread_mutex_lock(&c->mu);
	rc = CHUBBY_E_NOT_FOUND;
	if (csess_cache_usable(c->cs, cl_now()) && !c->closing && (h->flags & CHUBBY_O_READ) &&
	    !h->has_sequencer)
		rc = ccache_get(&c->cache, h->path, h->instance, &r->cdata, &r->clen, &r->cst);
	if (rc == CHUBBY_OK) {
		r->cached = true;
		r->done = true;
		r->status = CHUBBY_OK;
		r->done_cb = done;
		r->done_arg = arg;
		r->ah = h;
		if (!cl_queue_done(c, r))
			rc = CHUBBY_E_NOMEM;
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == CHUBBY_OK) {
		cl_wake(c);
		return CHUBBY_OK;
	}
	cl_req_free(r);
	if (rc == CHUBBY_E_NOMEM) {
		lasterr_set(rc, "%s: out of memory", h->path);
		return rc;
	}

	if ((rc = cl_build_get_contents(h, &b)) != CHUBBY_OK)
		return rc;
	return cl_submit(c, &b, h, c->call_timeout_ms, done, arg, h->path);
}

int
cl_set_contents_async(chubby_handle *h, const void *data, size_t len, bool cas,
    uint64_t expected_gen, bool record, chubby_done_fn done, void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_set_contents(h, data, len, cas, expected_gen, record, &b)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	return cl_submit(h->c, &b, h, h->c->call_timeout_ms, done, arg, h->path);
}

int
chubby_set_contents_async(chubby_handle *h, const void *data, size_t len, chubby_done_fn done,
    void *arg)
{
	return cl_set_contents_async(h, data, len, false, 0, false, done, arg);
}

int
chubby_set_contents_if_async(chubby_handle *h, const void *data, size_t len,
    uint64_t expected_gen, chubby_done_fn done, void *arg)
{
	return cl_set_contents_async(h, data, len, true, expected_gen, false, done, arg);
}

int
chubby_acquire_async(chubby_handle *h, int mode, unsigned timeout_ms, chubby_done_fn done,
    void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_acquire(h, mode, timeout_ms, &b)) != CHUBBY_OK)
		return rc;
	return cl_submit(h->c, &b, h, timeout_ms ? (uint64_t)timeout_ms + CL_ACQUIRE_SLACK_MS : 0,
	    done, arg, h->path);
}

int
chubby_try_acquire_async(chubby_handle *h, int mode, chubby_done_fn done, void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK || (rc = cl_check_mode(mode)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_handle_req(h, &b, PROTO_OP_TRY_ACQUIRE)) != CHUBBY_OK)
		return rc;
	rb_uint(&b, "mode", (uint64_t)mode);
	return cl_submit(h->c, &b, h, h->c->call_timeout_ms, done, arg, h->path);
}

int
chubby_check_sequencer_async(chubby_client *c, const void *seq, size_t len, chubby_done_fn done,
    void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_check_sequencer(c, seq, len, &b)) != CHUBBY_OK)
		return rc;
	return cl_submit(c, &b, NULL, c->call_timeout_ms, done, arg, "sequencer");
}

int
chubby_readdir_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	return cl_handle_async(h, PROTO_OP_READDIR, done, arg);
}

int
chubby_poison_async(chubby_handle *h, chubby_done_fn done, void *arg)
{
	/* A request, not a local flag: the master refuses later calls on the
	 * handle with E_CANCELLED (docs/PROTOCOL.md), as chubby_poison. */
	return cl_handle_async(h, PROTO_OP_POISON, done, arg);
}

int
chubby_set_acl_flags_async(chubby_handle *h, const char *const acl[3], unsigned flags,
    chubby_done_fn done, void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_set_acl(h, acl, flags, &b)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	return cl_submit(h->c, &b, h, h->c->call_timeout_ms, done, arg, h->path);
}

int
chubby_set_acl_async(chubby_handle *h, const char *const acl[3], chubby_done_fn done, void *arg)
{
	return chubby_set_acl_flags_async(h, acl, 0, done, arg);
}

int
chubby_set_sequencer_async(chubby_handle *h, const void *seq, size_t len, chubby_done_fn done,
    void *arg)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_set_sequencer(h, seq, len, &b)) != CHUBBY_OK)
		return rc;
	b.r->aseq = seq != NULL;
	return cl_submit(h->c, &b, h, h->c->call_timeout_ms, done, arg, h->path);
}
