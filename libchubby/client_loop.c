/* client_loop.c: libchubby's loop thread: drives the session core (csess), its connections, requests, KeepAlives, the cache and events. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <openssl/rand.h>

#include <chubby/chubby.h>

#include "client_int.h"
#include "clock.h"
#include "conn.h"
#include "errbuf.h"
#include "frame.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"

/*
 * The shell around the pure session core (docs/CLIENT.md "The shell").  It
 * carries out the core's actions in order, feeds back what happens on the
 * connections stamped with the monotonic clock, and re-arms one timer for
 * csess_next_deadline().  Application requests wait in chubby_client.reqs;
 * they go out while csess_accepts_requests() holds and are re-sent on the
 * core's REISSUE_PENDING.  Every function here runs on the loop thread with
 * the client's mutex held, unless it says otherwise.
 */

/* Frames we accept from a server: the default limit with room for a
 * server configured with a larger one. */
#define CL_RECV_MAX_FRAME (4u * FRAME_MAX_DEFAULT)
/* How long chubby_close waits for SESSION_END's answer. */
#define CL_CLOSE_WAIT_MS 1000

static int cl_feed(struct chubby_client *c, struct csess_event *ev);

/*
 * The clock of the session core, the lease and the cache check: one that
 * counts every moment the master's does.  CLOCK_MONOTONIC stands still
 * while the machine is suspended (to RAM or disk), so a client woken from
 * a suspend longer than its lease would believe the lease still held and
 * serve cached data the master stopped protecting long ago (its clock ran
 * on).  CLOCK_BOOTTIME runs on through a suspend.  (libevent's timers
 * still use CLOCK_MONOTONIC: a TICK may come late after a suspend, which
 * is why a cached read checks this clock itself.)
 */
uint64_t
cl_now(void)
{
#ifdef CLOCK_BOOTTIME
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
#endif
	return clock_mono_ms();
}

/* ---- requests ---- */

void
cl_req_free(struct creq *r)
{
	if (r == NULL)
		return;
	msgpack_sbuffer_destroy(&r->args);
	free(r->cache_path);
	free(r->apath);
	free(r->cdata);
	free(r->qev);
	if (r->have_res)
		wire_msg_free(&r->res);
	pthread_cond_destroy(&r->cond);
	free(r);
}

static void
cl_req_unlink(struct chubby_client *c, struct creq *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

/* Queues async request R's completion for chubby_process, in order with
 * the events; false if out of memory. */
bool
cl_queue_done(struct chubby_client *c, struct creq *r)
{
	struct cevent *e = r->qev != NULL ? r->qev : calloc(1, sizeof *e);

	r->qev = NULL;
	if (e == NULL)
		return false;
	e->req = r;
	if (c->ev_tail != NULL)
		c->ev_tail->next = e;
	else
		c->ev_head = e;
	c->ev_tail = e;
	return true;
}

/* Hands the answer to the waiting thread (or to an async call's
 * completion queue, or frees a request nobody waits for).  MSG, if not
 * NULL, is moved in. */
static void
cl_req_complete(struct chubby_client *c, struct creq *r, int status, const char *message,
    size_t mlen, struct wire_msg *msg)
{
	cl_req_unlink(c, r);
	if (r->abandoned || r->fire_and_forget) {
		if (msg != NULL)
			wire_msg_free(msg);
		cl_req_free(r);
		return;
	}
	r->done = true;
	r->status = status;
	if (message != NULL) {
		if (mlen >= sizeof r->message)
			mlen = sizeof r->message - 1;
		memcpy(r->message, message, mlen);
		r->message[mlen] = '\0';
	}
	if (msg != NULL) {
		r->res = *msg;
		r->have_res = true;
	}
	if (r->done_cb != NULL) {
		/* An async call's: queued for chubby_process (its queue entry
		 * was allocated when it was made, so this cannot fail). */
		cl_queue_done(c, r);
		return;
	}
	pthread_cond_signal(&r->cond);
}

/* A request nobody waits for any more (chubby_release after a late
 * ACQUIRE, say); queued like any other. */
void
cl_req_fire(struct chubby_client *c, uint32_t op, uint64_t handle_id)
{
	struct creq *r = calloc(1, sizeof *r);
	msgpack_packer pk;

	if (r == NULL)
		return;
	msgpack_sbuffer_init(&r->args);
	pthread_cond_init(&r->cond, NULL);
	msgpack_packer_init(&pk, &r->args, msgpack_sbuffer_write);
	r->op = op;
	r->fire_and_forget = true;
	r->handle_id = handle_id;
	if (mp_pack_kv_uint(&pk, "handle", handle_id) != CHUBBY_OK) {
		cl_req_free(r);
		return;
	}
	r->nargs = 1;
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
}

/* ---- connections ---- */

static struct cconn *
cl_conn_find(struct chubby_client *c, uint64_t id)
{
	for (struct cconn *cc = c->conns; cc != NULL; cc = cc->next)
		if (cc->id == id)
			return cc;
	return NULL;
}

/* Requests that went out on CC are now unanswered: they wait to be sent
 * again (by REISSUE_PENDING), or go if nobody waits for them. */
static void
cl_conn_orphan_reqs(struct chubby_client *c, uint64_t conn_id)
{
	struct creq *r = c->reqs, *next;

	for (; r != NULL; r = next) {
		next = r->next;
		if (r->sent_conn != conn_id)
			continue;
		r->sent_conn = 0;
		if (r->abandoned || r->fire_and_forget) {
			cl_req_unlink(c, r);
			cl_req_free(r);
		}
	}
}

static void
cl_conn_destroy(struct chubby_client *c, struct cconn *cc)
{
	for (struct cconn **pp = &c->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cc) {
			*pp = cc->next;
			break;
		}
	if (cc->conn != NULL)
		conn_free(cc->conn);
	cl_conn_orphan_reqs(c, cc->id);
	if (c->cur_conn == cc->id)
		c->cur_conn = 0;
	free(cc);
	/* Closing, and the last SESSION_END is answered (or lost): done. */
	if (c->close_started && c->conns == NULL && !c->loop_done) {
		c->loop_done = true;
		event_base_loopbreak(c->base);
	}
}

/* Writes the frame in c->out to CC (NOW: from a caller's thread,
 * conn_send_now); CHUBBY_OK or why not. */
static int
cl_conn_flush_how(struct chubby_client *c, struct cconn *cc, bool now)
{
	int rc;

	if (cc->conn == NULL)
		return CHUBBY_E_CONN;
	if (now)
		rc = conn_send_now(cc->conn, c->out.data, c->out.len);
	else
		rc = conn_send(cc->conn, c->out.data, c->out.len);
	wire_buf_reset(&c->out);
	return rc;
}

static int
cl_conn_flush(struct chubby_client *c, struct cconn *cc)
{
	return cl_conn_flush_how(c, cc, false);
}

/* Sends a request of the core's own (WHERE_IS_MASTER, SESSION_START,
 * KEEPALIVE, SESSION_END); returns its id, or 0 if it could not go out
 * (the core's deadline deals with that). */
static uint64_t
cl_send_core(struct chubby_client *c, struct cconn *cc, uint32_t op, uint64_t session,
    uint64_t epoch, const uint64_t *hold_ms)
{
	uint64_t id = c->next_wire_id++;
	msgpack_packer *pk;

	wire_buf_reset(&c->out);
	c->out.max_frame = cc->max_frame;
	pk = wire_begin_req(&c->out, id, op);
	switch (op) {
	case PROTO_OP_WHERE_IS_MASTER:
		msgpack_pack_nil(pk);
		break;
	case PROTO_OP_SESSION_START:
		/* The same nonce on every re-send: a start that applied but
		 * whose answer was lost returns its session, not a second one
		 * (docs/PROTOCOL.md "Request ids and retries"). */
		msgpack_pack_map(pk, 1);
		mp_pack_kv_uint(pk, "nonce", c->start_nonce);
		break;
	case PROTO_OP_KEEPALIVE:
		msgpack_pack_map(pk, 5);
		mp_pack_kv_uint(pk, "session", session);
		mp_pack_kv_uint(pk, "epoch", epoch);
		mp_pack_kv_uint(pk, "hold_ms", *hold_ms);
		/* Always sent, 0 before any event: without it the master takes
		 * us for a client before event ids and forgets events once sent
		 * (a master before ids ignores it). */
		mp_pack_kv_uint(pk, "ev_ack", cevids_ack(&c->evids, epoch));
		mp_pack_str(pk, "acks");
		if (c->nacks == 0) {
			msgpack_pack_nil(pk);
		} else {
			msgpack_pack_array(pk, (uint32_t)c->nacks);
			for (size_t i = 0; i < c->nacks; i++)
				msgpack_pack_uint64(pk, c->acks[i]);
		}
		break;
	default: /* SESSION_END */
		msgpack_pack_map(pk, 2);
		mp_pack_kv_uint(pk, "session", session);
		mp_pack_kv_uint(pk, "epoch", epoch);
		break;
	}
	if (wire_finish(&c->out) != CHUBBY_OK || cl_conn_flush(c, cc) != CHUBBY_OK)
		return 0;
	return id;
}

/*
 * Request ids (docs/PROTOCOL.md "Request ids and retries"): every write
 * gets one the first time it goes out and keeps it through every re-send
 * (after NOT_MASTER, BAD_EPOCH, a lost connection, a fail-over), so the
 * cell applies it once and a re-send returns the first outcome.
 */
static bool
cl_op_writes(uint32_t op)
{
	switch (op) {
	case PROTO_OP_OPEN:
	case PROTO_OP_CLOSE:
	case PROTO_OP_POISON:
	case PROTO_OP_SET_CONTENTS:
	case PROTO_OP_SET_ACL:
	case PROTO_OP_DELETE:
	case PROTO_OP_ACQUIRE:
	case PROTO_OP_TRY_ACQUIRE:
	case PROTO_OP_RELEASE:
	case PROTO_OP_SET_SEQUENCER:
		return true;
	default:
		return false;
	}
}

/* NS_MAX_REQ_RECORDS in server/ns/ns.h. */
#define CL_MAX_RIDS_OPEN 1024

/* The oldest id still unanswered (MINE at most): every id below it was
 * answered (or given up with its connection) and is never sent again, so
 * the cell may forget its outcome. */
static uint64_t
cl_rid_floor(const struct chubby_client *c, uint64_t mine)
{
	uint64_t floor = mine;

	for (const struct creq *q = c->reqs; q != NULL; q = q->next)
		if (q->rid != 0 && q->rid < floor)
			floor = q->rid;
	return floor;
}

/* Sends application request R on CC with the session and epoch believed
 * now (DIRECT: from a caller's thread, cl_send_now). */
static void
cl_send_req_how(struct chubby_client *c, struct cconn *cc, struct creq *r, bool direct)
{
	uint64_t id = c->next_wire_id++, now = cl_now();
	uint32_t n = r->nargs;
	msgpack_packer *pk;
	int rc;

	if (r->rid == 0 && cl_op_writes(r->op)) {
		/* The cell keeps the outcomes of at most CL_MAX_RIDS_OPEN ids a
		 * session (docs/NAMESPACE.md): more writes out at once would
		 * lose the oldest's.  This one waits for an older answer (each
		 * answer sends what is not out). */
		if (c->last_rid + 1 - cl_rid_floor(c, c->last_rid + 1) >= CL_MAX_RIDS_OPEN)
			return;
		r->rid = ++c->last_rid; /* once: every re-send carries the same id */
	}
	wire_buf_reset(&c->out);
	c->out.max_frame = cc->max_frame;
	pk = wire_begin_req(&c->out, id, r->op);
	if (!r->no_session)
		n += 2;
	if (r->acquire_timeout)
		n++;
	if (r->rid != 0)
		n += 2;
	msgpack_pack_map(pk, n);
	if (!r->no_session) {
		mp_pack_kv_uint(pk, "session", csess_session_id(c->cs));
		mp_pack_kv_uint(pk, "epoch", csess_epoch(c->cs));
	}
	if (r->rid != 0) {
		mp_pack_kv_uint(pk, "rid", r->rid);
		mp_pack_kv_uint(pk, "rid_floor", cl_rid_floor(c, r->rid));
	}
	if (r->acquire_timeout)
		/* What is left of the caller's wait, so that a re-sent ACQUIRE
		 * does not wait longer in all than asked. */
		mp_pack_kv_uint(pk, "timeout_ms",
		    r->acquire_deadline > now ? r->acquire_deadline - now : 0);
	wire_pack_raw(pk, r->args.data, r->args.size);
	rc = wire_finish(&c->out);
	if (rc != CHUBBY_OK) {
		/* Too big for the server's frame limit, or out of memory: this
		 * request can never go. */
		char big[128];
		int n_big = snprintf(big, sizeof big,
		    "the request exceeds the server's max_frame (%zu bytes)", (size_t)cc->max_frame);

		wire_buf_reset(&c->out);
		if (rc == CHUBBY_E_FRAME_TOO_BIG)
			cl_req_complete(c, r, CHUBBY_E_TOO_LARGE, big, (size_t)n_big, NULL);
		else
			cl_req_complete(c, r, rc, NULL, 0, NULL);
		return;
	}
	/* Marked sent before it goes: once it is out its answer may come
	 * at any moment, and the loop thread matches it by these.  A frame
	 * that cannot go unmarks it (the connection is going: sent again
	 * later). */
	r->sent_conn = cc->id;
	r->wire_id = id;
	r->sent_at = cl_now();
	c->last_sent = r->sent_at;
	if (cl_conn_flush_how(c, cc, direct) != CHUBBY_OK)
		r->sent_conn = 0;
}

static void
cl_send_req(struct chubby_client *c, struct cconn *cc, struct creq *r)
{
	cl_send_req_how(c, cc, r, false);
}

/* Sends every request not out on CONN (REISSUE_PENDING), or, with
 * ONLY_UNSENT, those not out at all. */
static void
cl_send_pending(struct chubby_client *c, uint64_t conn_id, bool only_unsent)
{
	struct cconn *cc = cl_conn_find(c, conn_id);
	struct creq *r, *next;

	if (cc == NULL || !cc->up || cc->ending)
		return;
	for (r = c->reqs; r != NULL; r = next) {
		next = r->next;
		if (r->sent_conn == conn_id || (only_unsent && r->sent_conn != 0))
			continue;
		if (r->abandoned) {
			cl_req_unlink(c, r);
			cl_req_free(r);
			continue;
		}
		cl_send_req(c, cc, r);
	}
}

/* ---- events for the application ---- */

void
cl_post_event(struct chubby_client *c, int type, uint64_t handle_id, const char *path,
    size_t pathlen, bool has_gen, uint64_t gen)
{
	struct cevent *e;

	if (c->on_event == NULL)
		return;
	if ((e = calloc(1, sizeof *e)) == NULL)
		return; /* out of memory: the event is lost, as a lost reply would be */
	e->type = type;
	e->handle_id = handle_id;
	e->has_gen = has_gen;
	e->gen = gen;
	if (path != NULL) {
		if ((e->path = malloc(pathlen + 1)) == NULL) {
			free(e);
			return;
		}
		memcpy(e->path, path, pathlen);
		e->path[pathlen] = '\0';
	}
	if (c->ev_tail != NULL)
		c->ev_tail->next = e;
	else
		c->ev_head = e;
	c->ev_tail = e;
	pthread_cond_signal(&c->ev_cond);
}

/* ---- the core's actions ---- */

static void
cl_mark_conn_err(struct chubby_client *c, const char *addr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cl_mark_conn_err(struct chubby_client *c, const char *addr, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->last_conn_err, sizeof c->last_conn_err, "%s: %s", addr, msg);
}

static const struct conn_callbacks cl_conn_cb;

/* Connection events the core must hear of after the current step (a
 * connect that failed before it began). */
static void
cl_defer_failure(struct chubby_client *c, uint64_t conn_id)
{
	struct csess_event ev = {.type = CSESS_EV_CONNECT_FAILED, .conn = conn_id,
	    .why = CHUBBY_E_CONN};

	/* cl_feed queues events that arrive while it runs. */
	cl_feed(c, &ev);
}

static void
cl_tls_config(const struct chubby_client *c, struct tls_config *tc)
{
	memset(tc, 0, sizeof *tc);
	tc->ca_file = c->cell.ca;
	tc->cert_file = c->cell.cert;
	tc->key_file = c->cell.key;
	tc->crl_file = c->cell.crl[0] != '\0' ? c->cell.crl : NULL;
	tc->role = TLS_ROLE_CLIENT;
}

static int
cl_tls_reload(struct chubby_client *c, char *err, size_t errlen)
{
	struct tls_config tc;

	cl_tls_config(c, &tc);
	return tls_ctx_reload(c->tls, &tc, err, errlen);
}

static void
cl_act_connect(struct chubby_client *c, const struct csess_action *a)
{
	struct cconn *cc = calloc(1, sizeof *cc);
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	char err[256];
	int sslen;

	if (cc == NULL) {
		cl_defer_failure(c, a->conn);
		return;
	}
	cc->c = c;
	cc->id = a->conn;
	cc->max_frame = FRAME_MAX_DEFAULT;
	snprintf(cc->addr, sizeof cc->addr, "%s", a->addr);
	if (c->tls_stale) {
		/* A connection closed since the files were read: a certificate
		 * rotated meanwhile (ours, or the CA bundle or CRL) is used from
		 * this connection on.  Files that do not load (half written)
		 * leave the previous ones in use, and are read again next time. */
		if (cl_tls_reload(c, err, sizeof err) != CHUBBY_OK)
			cl_mark_conn_err(c, a->addr, "%s", err);
		else
			c->tls_stale = false;
	}
	if (net_resolve(a->addr, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		cl_mark_conn_err(c, a->addr, "%s", err);
		free(cc);
		cl_defer_failure(c, a->conn);
		return;
	}
	bev = tp_connect(c->tp, c->base, (struct sockaddr *)&ss, sslen, NULL, 0);
	if (bev == NULL) {
		cl_mark_conn_err(c, a->addr, "cannot connect: %s", strerror(errno));
		free(cc);
		cl_defer_failure(c, a->conn);
		return;
	}
	cc->conn = conn_new(c->tp, bev, 0, CL_RECV_MAX_FRAME, &cl_conn_cb, cc);
	if (cc->conn == NULL) {
		free(cc);
		cl_defer_failure(c, a->conn);
		return;
	}
	cc->next = c->conns;
	c->conns = cc;
}

static void
cl_act_disconnect(struct chubby_client *c, const struct csess_action *a)
{
	struct cconn *cc = cl_conn_find(c, a->conn);

	if (c->cur_conn == a->conn)
		c->cur_conn = 0;
	if (cc == NULL)
		return;
	if (c->close_started && cc->end_id != 0) {
		/* Closing: keep it for SESSION_END's answer, a little while. */
		cc->ending = true;
		cl_conn_orphan_reqs(c, cc->id);
		return;
	}
	cl_conn_destroy(c, cc);
}

static void
cl_act_fail_pending(struct chubby_client *c, int status)
{
	while (c->reqs != NULL) {
		struct creq *r = c->reqs;
		cl_req_complete(c, r, status, NULL, 0, NULL);
	}
}

static void
cl_act(struct chubby_client *c, const struct csess_action *a)
{
	struct cconn *cc;

	switch (a->type) {
	case CSESS_ACT_CONNECT:
		cl_act_connect(c, a);
		break;
	case CSESS_ACT_DISCONNECT:
		cl_act_disconnect(c, a);
		break;
	case CSESS_ACT_SEND_WHERE_IS_MASTER:
		if ((cc = cl_conn_find(c, a->conn)) != NULL)
			cc->where_id = cl_send_core(c, cc, PROTO_OP_WHERE_IS_MASTER, 0, 0, NULL);
		break;
	case CSESS_ACT_SEND_SESSION_START:
		if ((cc = cl_conn_find(c, a->conn)) != NULL) {
			cc->start_id = cl_send_core(c, cc, PROTO_OP_SESSION_START, 0, 0, NULL);
			cc->start_sent_at = a->sent_at;
		}
		break;
	case CSESS_ACT_SEND_KEEPALIVE:
		if ((cc = cl_conn_find(c, a->conn)) != NULL) {
			if (a->epoch != c->acks_epoch) {
				/* A new master knows nothing of the old one's
				 * invalidations (the cache was flushed). */
				c->nacks = 0;
				c->acks_epoch = a->epoch;
			}
			cc->ka_id = cl_send_core(c, cc, PROTO_OP_KEEPALIVE, a->session_id, a->epoch,
			    &a->hold_ms);
			cc->ka_sent_at = a->sent_at;
			cc->ka_nacks = c->nacks;
		}
		break;
	case CSESS_ACT_SEND_SESSION_END:
		if ((cc = cl_conn_find(c, a->conn)) != NULL)
			cc->end_id = cl_send_core(c, cc, PROTO_OP_SESSION_END, a->session_id, a->epoch,
			    NULL);
		break;
	case CSESS_ACT_NOTIFY:
		cl_post_event(c, (int)a->notify, 0, NULL, 0, false, 0);
		break;
	case CSESS_ACT_CACHE_DISABLE:
		ccache_clear(&c->cache);
		c->cache.disabled = true;
		break;
	case CSESS_ACT_CACHE_FLUSH:
		ccache_clear(&c->cache);
		c->cache.disabled = false;
		break;
	case CSESS_ACT_FAIL_PENDING:
		cl_act_fail_pending(c, a->status);
		break;
	case CSESS_ACT_REISSUE_PENDING:
		cl_send_pending(c, a->conn, false);
		break;
	}
}

static void
cl_tick_cb(evutil_socket_t fd, short what, void *arg);
static void cl_async_open_check(struct chubby_client *c, uint64_t now);

/*
 * When the core should next hear REQUEST_STALLED (CSESS_NEVER: not due):
 * the oldest application request out on the current connection has had no
 * answer for stall_ms (docs/CLIENT.md "A master that hangs").  A blocking
 * ACQUIRE is left out: it waits at the master by design.  At most one
 * report per stall_ms.
 */
static uint64_t
cl_stall_due(struct chubby_client *c)
{
	uint64_t oldest = 0, due;

	if (c->cfg.stall_ms == 0 || c->cur_conn == 0 || !csess_accepts_requests(c->cs))
		return CSESS_NEVER;
	for (struct creq *r = c->reqs; r != NULL; r = r->next)
		if (r->sent_conn == c->cur_conn && !r->done && r->op != PROTO_OP_ACQUIRE &&
		    (oldest == 0 || r->sent_at < oldest))
			oldest = r->sent_at;
	if (oldest == 0)
		return CSESS_NEVER;
	due = oldest + c->cfg.stall_ms;
	if (c->stall_fed != 0 && due < c->stall_fed + c->cfg.stall_ms)
		due = c->stall_fed + c->cfg.stall_ms;
	return due;
}

/* Re-arms the loop's one timer for the core's next deadline or the next
 * stall check, whichever comes first.  Called after every step and after
 * requests go out between steps (a request sent then starts a stall
 * clock the timer must cover). */
static void
cl_arm_timer(struct chubby_client *c, uint64_t now)
{
	uint64_t next = csess_next_deadline(c->cs, now);

	if (cl_stall_due(c) < next)
		next = cl_stall_due(c);
	/* While requests come and go, the timer stays at most stall_ms ahead
	 * even when none is out: a request a caller sends itself
	 * (cl_send_now) is then covered by the timer as it is, and need not
	 * wake the loop to re-arm it.  It costs a TICK per stall_ms until
	 * stall_ms after the last request. */
	if (c->cfg.stall_ms != 0 && c->last_sent != 0 && now < c->last_sent + c->cfg.stall_ms &&
	    now + c->cfg.stall_ms < next)
		next = now + c->cfg.stall_ms;
	c->timer_due = next;
	if (next == CSESS_NEVER) {
		evtimer_del(c->tick_ev);
	} else {
		uint64_t d = next > now ? next - now : 0;
		struct timeval tv = {(time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000)};
		evtimer_add(c->tick_ev, &tv);
	}
}

/* After every step: publish the state, send what may go, re-arm the
 * timer, wake chubby_open. */
static void
cl_after(struct chubby_client *c)
{
	enum csess_state st = csess_state(c->cs);
	uint64_t now = cl_now();
	int pub;

	switch (st) {
	case CSESS_SAFE: pub = CHUBBY_SESSION_SAFE; break;
	case CSESS_JEOPARDY: pub = CHUBBY_SESSION_JEOPARDY; break;
	case CSESS_EXPIRED: pub = CHUBBY_SESSION_EXPIRED; break;
	case CSESS_CLOSED: pub = CHUBBY_SESSION_CLOSED; break;
	default: pub = 0; break;
	}
	atomic_store(&c->pub_state, pub);
	if (csess_session_id(c->cs) != 0)
		atomic_store(&c->pub_session, csess_session_id(c->cs));
	/* The core's current connection: while it looks for the master
	 * several probes may be open, and a later one may win (csess.h). */
	c->cur_conn = cl_conn_find(c, csess_conn(c->cs)) != NULL ? csess_conn(c->cs) : 0;
	if (csess_accepts_requests(c->cs) && c->cur_conn != 0)
		cl_send_pending(c, c->cur_conn, true);
	cl_arm_timer(c, now);
	if (c->async && c->open_state == 0)
		cl_async_open_check(c, now);
	pthread_cond_broadcast(&c->state_cond);
}

/*
 * Feeds one event to the core and carries out its actions.  An action may
 * itself produce an event (a connect that fails at once); those wait in a
 * small queue and are fed in order once the current step's actions are
 * done, so the core never sees an event in the middle of a step.
 */
#define CL_DEFER_MAX 8
static __thread struct {
	int depth;
	size_t n;
	struct csess_event ev[CL_DEFER_MAX];
} cl_q;

static int
cl_feed(struct chubby_client *c, struct csess_event *ev)
{
	static __thread struct csess_event next;
	struct csess_actions acts;
	int rc, first_rc = CHUBBY_OK;
	bool first = true;

	if (cl_q.depth > 0) {
		/* Only CONNECT_FAILED comes here, and it carries no pointer. */
		if (cl_q.n < CL_DEFER_MAX)
			cl_q.ev[cl_q.n++] = *ev;
		return CHUBBY_OK;
	}
	cl_q.depth++;
	for (;;) {
		ev->now = cl_now();
		rc = csess_step(c->cs, ev, &acts);
		if (first)
			first_rc = rc;
		first = false;
		if (rc == CHUBBY_OK)
			for (size_t i = 0; i < acts.n; i++)
				cl_act(c, &acts.v[i]);
		if (cl_q.n == 0)
			break;
		next = cl_q.ev[0];
		memmove(&cl_q.ev[0], &cl_q.ev[1], (cl_q.n - 1) * sizeof cl_q.ev[0]);
		cl_q.n--;
		ev = &next;
	}
	cl_q.depth--;
	cl_after(c);
	return first_rc;
}

/* ---- what arrives on a connection ---- */

/* The connection is gone (closed, failed, or spoke nonsense). */
static void
cl_conn_lost(struct chubby_client *c, struct cconn *cc, int status, const char *reason)
{
	struct csess_event ev = {.conn = cc->id, .why = status};
	bool was_up = cc->up, ending = cc->ending;

	if (!ending)
		cl_mark_conn_err(c, cc->addr, "%s (%s)", reason, chubby_status_name(status));
	cl_conn_destroy(c, cc);
	if (ending)
		return;
	ev.type = was_up ? CSESS_EV_DISCONNECTED : CSESS_EV_CONNECT_FAILED;
	cl_feed(c, &ev);
}

static void
cl_mp_strcpy(const msgpack_object *map, const char *key, char *dst, size_t cap)
{
	struct mp_str s = {NULL, 0};

	dst[0] = '\0';
	if (mp_get_str(map, key, MP_OPTIONAL, &s, NULL, 0) == CHUBBY_OK && s.ptr != NULL &&
	    s.len < cap) {
		memcpy(dst, s.ptr, s.len);
		dst[s.len] = '\0';
	}
}

/* E_NOT_MASTER: the master named in the error's result, if any. */
static void
cl_feed_not_master(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m)
{
	char addr[CSESS_ADDR_MAX];
	struct csess_event ev = {.type = CSESS_EV_REPLY_NOT_MASTER, .conn = cc->id};

	cl_mp_strcpy(m->res.result, "address", addr, sizeof addr);
	mp_get_uint(m->res.result, "epoch", MP_OPTIONAL, &ev.epoch, NULL, 0);
	ev.addr = addr[0] != '\0' ? addr : NULL;
	cl_feed(c, &ev);
}

static void
cl_feed_bad_epoch(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m,
    bool is_keepalive)
{
	struct csess_event ev = {.type = CSESS_EV_REPLY_BAD_EPOCH, .conn = cc->id,
	    .is_keepalive = is_keepalive};

	mp_get_uint(m->res.result, "epoch", MP_OPTIONAL, &ev.epoch, NULL, 0);
	cl_feed(c, &ev);
}

static void
cl_feed_expired(struct chubby_client *c, struct cconn *cc)
{
	struct csess_event ev = {.type = CSESS_EV_REPLY_SESSION_EXPIRED, .conn = cc->id};

	cl_feed(c, &ev);
}

/* A refusal of the session's own requests that is not about the master:
 * the server cannot serve us (E_BAD_OP from a server without sessions,
 * E_PERMISSION, ...).  Remembered for chubby_open, and the link dropped. */
static void
cl_core_refused(struct chubby_client *c, struct cconn *cc, const char *what,
    const struct wire_msg *m)
{
	char reason[300];

	snprintf(reason, sizeof reason, "%s refused: %s: %.*s", what,
	    chubby_status_name(m->res.status), (int)m->res.message.len,
	    m->res.message.ptr ? m->res.message.ptr : "");
	if (csess_session_id(c->cs) == 0 &&
	    (m->res.status == CHUBBY_E_BAD_OP || m->res.status == CHUBBY_E_PERMISSION ||
		m->res.status == CHUBBY_E_AUTH || m->res.status == CHUBBY_E_VERSION)) {
		c->open_error = m->res.status;
		snprintf(c->open_errmsg, sizeof c->open_errmsg, "%s: %s", cc->addr, reason);
	}
	cl_conn_lost(c, cc, m->res.status, reason);
}

static void
cl_on_where(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m)
{
	struct csess_event ev = {.type = CSESS_EV_WHERE_IS_MASTER_REPLY, .conn = cc->id};
	char addr[CSESS_ADDR_MAX];
	bool is_master = false;

	cc->where_id = 0;
	if (m->res.status != CHUBBY_OK) {
		cl_core_refused(c, cc, "WHERE_IS_MASTER", m);
		return;
	}
	mp_get_bool(m->res.result, "is_master", MP_OPTIONAL, &is_master, NULL, 0);
	mp_get_uint(m->res.result, "epoch", MP_OPTIONAL, &ev.epoch, NULL, 0);
	cl_mp_strcpy(m->res.result, "address", addr, sizeof addr);
	/* The core knows a replica by the address it dialled: a master says
	 * so with is_master, whatever address it gives itself. */
	if (is_master)
		ev.addr = cc->addr;
	else
		ev.addr = addr[0] != '\0' ? addr : NULL;
	cl_feed(c, &ev);
}

static void
cl_on_start(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m)
{
	struct csess_event ev = {.type = CSESS_EV_SESSION_STARTED, .conn = cc->id};

	cc->start_id = 0;
	if (m->res.status == CHUBBY_E_NOT_MASTER) {
		cl_feed_not_master(c, cc, m);
		return;
	}
	if (m->res.status != CHUBBY_OK) {
		cl_core_refused(c, cc, "SESSION_START", m);
		return;
	}
	if (mp_get_uint(m->res.result, "session", MP_REQUIRED, &ev.session_id, NULL, 0) != 0 ||
	    mp_get_uint(m->res.result, "epoch", MP_REQUIRED, &ev.epoch, NULL, 0) != 0 ||
	    mp_get_uint(m->res.result, "lease_ms", MP_REQUIRED, &ev.lease_ms, NULL, 0) != 0) {
		cl_conn_lost(c, cc, CHUBBY_E_MALFORMED, "SESSION_START: bad result");
		return;
	}
	ev.sent_at = cc->start_sent_at;
	cl_feed(c, &ev);
}

static void
cl_on_keepalive(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m)
{
	struct csess_event ev = {.type = CSESS_EV_KEEPALIVE_REPLY, .conn = cc->id};
	const msgpack_object *evs = NULL, *inv = NULL;
	size_t nacked = cc->ka_nacks;

	cc->ka_id = 0;
	cc->ka_nacks = 0;
	switch (m->res.status) {
	case CHUBBY_OK:
		break;
	case CHUBBY_E_NOT_MASTER:
		cl_feed_not_master(c, cc, m);
		return;
	case CHUBBY_E_BAD_EPOCH:
		cl_feed_bad_epoch(c, cc, m, true);
		return;
	case CHUBBY_E_SESSION_EXPIRED:
		cl_feed_expired(c, cc);
		return;
	default:
		cl_core_refused(c, cc, "KEEPALIVE", m);
		return;
	}
	if (mp_get_uint(m->res.result, "epoch", MP_REQUIRED, &ev.epoch, NULL, 0) != 0 ||
	    mp_get_uint(m->res.result, "lease_ms", MP_REQUIRED, &ev.lease_ms, NULL, 0) != 0 ||
	    mp_get_array(m->res.result, "events", MP_OPTIONAL, &evs, NULL, 0) != 0 ||
	    mp_get_array(m->res.result, "invalidate", MP_OPTIONAL, &inv, NULL, 0) != 0) {
		cl_conn_lost(c, cc, CHUBBY_E_MALFORMED, "KEEPALIVE: bad result");
		return;
	}
	/* The acknowledgements it carried have arrived. */
	if (nacked > c->nacks)
		nacked = c->nacks;
	/* Only when there is something to drop: before the first
	 * invalidation c->acks is NULL, and memmove(NULL, NULL + 0, 0) is
	 * undefined (C11 7.24.1p2; glibc declares it nonnull, so the
	 * compiler may assume c->acks != NULL afterwards). */
	if (nacked > 0) {
		memmove(c->acks, c->acks + nacked, (c->nacks - nacked) * sizeof *c->acks);
		c->nacks -= nacked;
	}
	/* Chubby 2.9: drop the cached copies first, then acknowledge them in
	 * the next KeepAlive, which the core sends during the step below. */
	if (inv != NULL) {
		for (uint32_t i = 0; i < inv->via.array.size; i++) {
			const msgpack_object *o = &inv->via.array.ptr[i];
			struct mp_str path = {NULL, 0};
			uint64_t id = 0;

			if (mp_get_uint(o, "id", MP_REQUIRED, &id, NULL, 0) != CHUBBY_OK)
				continue;
			if (mp_get_str(o, "path", MP_OPTIONAL, &path, NULL, 0) == CHUBBY_OK &&
			    path.ptr != NULL)
				ccache_drop(&c->cache, path.ptr, path.len);
			else
				ccache_clear(&c->cache);
			if (c->nacks == c->acks_cap) {
				size_t cap = c->acks_cap ? c->acks_cap * 2 : 16;
				uint64_t *p = realloc(c->acks, cap * sizeof *p);
				if (p == NULL)
					continue; /* unacknowledged: the master waits out our lease */
				c->acks = p;
				c->acks_cap = cap;
			}
			c->acks[c->nacks++] = id;
		}
		c->acks_epoch = ev.epoch;
		ev.nevents += inv->via.array.size;
	}
	if (evs != NULL) {
		for (uint32_t i = 0; i < evs->via.array.size; i++) {
			const msgpack_object *o = &evs->via.array.ptr[i];
			struct mp_str path = {NULL, 0};
			uint64_t type = 0, handle = 0, gen = 0, id = 0;
			bool has_gen, has_id;

			/* Optional (a master before event ids): an id not above
			 * the highest delivered in this epoch is a copy sent
			 * again after a lost reply (issue 16).  Counted before
			 * anything may skip the event, so that the next ev_ack
			 * covers it and the master does not send it again. */
			has_id = mp_get_uint(o, "id", MP_REQUIRED, &id, NULL, 0) == CHUBBY_OK;
			if (!cevids_accept(&c->evids, ev.epoch, has_id, id))
				continue;
			if (mp_get_uint(o, "type", MP_REQUIRED, &type, NULL, 0) != CHUBBY_OK ||
			    type < 1 || type >= PROTO_EV_CLIENT_FIRST)
				continue;
			mp_get_uint(o, "handle", MP_OPTIONAL, &handle, NULL, 0);
			mp_get_str(o, "path", MP_OPTIONAL, &path, NULL, 0);
			/* Optional: a master before "gen" sends none. */
			has_gen = mp_get_uint(o, "gen", MP_REQUIRED, &gen, NULL, 0) == CHUBBY_OK;
			cl_post_event(c, (int)type, handle, path.ptr, path.len, has_gen, gen);
		}
		ev.nevents += evs->via.array.size;
	}
	ev.sent_at = cc->ka_sent_at;
	cl_feed(c, &ev);
}

/*
 * GET_CONTENTS answered: keep it if the master lets us (Chubby 2.9) and
 * the cache is trusted now.
 *
 * Why an answer kept here can never outlive an invalidation of its path
 * that was processed before it: the master answers a read at once from
 * its applied state, saying cacheable only while no write of the path is
 * gated (server/session session_cache_note), and delivers a gate's
 * invalidation on a KeepAlive reply on the same connection.  So an answer
 * computed before the gate left the master before that KeepAlive reply and
 * is processed before it (one connection, frames in order, one thread);
 * one computed after says cacheable: false until the write is applied, and
 * fresh data after.  Answers from any other connection are never
 * processed: a request is matched by the connection it went out on
 * (sent_conn), and a dropped connection is freed with its unread frames
 * (cl_conn_destroy) before its requests go out again.  What is left is
 * time: an answer read just after the process was stopped past its lease
 * (before the TICK that ends it) is not kept.
 */
static void
cl_cache_reply(struct chubby_client *c, const struct creq *r, const struct wire_msg *m)
{
	const msgpack_object *so = NULL;
	struct chubby_stat st;
	struct mp_str data = {NULL, 0};
	bool cacheable = false;

	/* Not kept unless the lease holds by the clock now (a reply read just
	 * after a stop, before the TICK that ends the lease). */
	if (r->cache_path == NULL || !csess_cache_usable(c->cs, cl_now()) || c->cache.disabled)
		return;
	if (mp_get_bool(m->res.result, "cacheable", MP_OPTIONAL, &cacheable, NULL, 0) != 0 ||
	    !cacheable || mp_get_bin(m->res.result, "contents", MP_OPTIONAL, &data, NULL, 0) != 0 ||
	    mp_get_map(m->res.result, "stat", MP_REQUIRED, &so, NULL, 0) != 0 ||
	    cl_parse_stat(so, &st) != CHUBBY_OK)
		return;
	ccache_put(&c->cache, r->cache_path, data.ptr, data.len, &st);
}

static void
cl_on_app_reply(struct chubby_client *c, struct cconn *cc, struct wire_msg *m)
{
	struct creq *r;
	int status = m->res.status;

	for (r = c->reqs; r != NULL; r = r->next)
		if (r->sent_conn == cc->id && r->wire_id == m->res.id)
			break;
	if (r == NULL) {
		wire_msg_free(m);
		return; /* stale: abandoned and freed, or from a dropped conn */
	}
	if (status == CHUBBY_E_NOT_MASTER || status == CHUBBY_E_BAD_EPOCH) {
		/* Not done: it goes again when the core has found the master
		 * or learnt the epoch (REISSUE_PENDING). */
		r->sent_conn = 0;
		if (status == CHUBBY_E_NOT_MASTER)
			cl_feed_not_master(c, cc, m);
		else
			cl_feed_bad_epoch(c, cc, m, false);
		wire_msg_free(m);
		return;
	}
	if (status == CHUBBY_OK && r->op == PROTO_OP_GET_CONTENTS)
		cl_cache_reply(c, r, m);
	if (status == CHUBBY_OK && r->abandoned &&
	    (r->op == PROTO_OP_ACQUIRE || r->op == PROTO_OP_TRY_ACQUIRE))
		/* The caller gave up waiting, then the lock came: give it back
		 * rather than hold a lock nobody knows of. */
		cl_req_fire(c, PROTO_OP_RELEASE, r->handle_id);
	cl_req_complete(c, r, status, m->res.message.ptr, m->res.message.len, m);
	if (status == CHUBBY_E_SESSION_EXPIRED)
		cl_feed_expired(c, cc);
	else if (csess_accepts_requests(c->cs) && c->cur_conn != 0) {
		cl_send_pending(c, c->cur_conn, true);
		cl_arm_timer(c, cl_now());
	}
}

static void
cl_on_welcome(struct chubby_client *c, struct cconn *cc, const struct wire_msg *m)
{
	struct csess_event ev = {.type = CSESS_EV_CONNECTED, .conn = cc->id};

	if (cc->up)
		return;
	if (wire_check_version(m->welcome.version) != CHUBBY_OK) {
		cl_conn_lost(c, cc, CHUBBY_E_VERSION, "the server answered another protocol version");
		return;
	}
	cc->max_frame = m->welcome.max_frame;
	cc->up = true;
	cl_feed(c, &ev);
}

static void
cl_event_frame(struct chubby_client *c, const struct wire_msg *m)
{
	struct mp_str path = {NULL, 0};
	uint64_t handle = 0, gen = 0;
	bool has_gen;

	/* Version 1 servers send no EVENT frames; accept them for later
	 * versions, with the same body as a KeepAlive's events. */
	if (m->event.type < 1 || m->event.type >= PROTO_EV_CLIENT_FIRST ||
	    m->event.type == PROTO_EV_INVALIDATE)
		return;
	mp_get_uint(m->event.body, "handle", MP_OPTIONAL, &handle, NULL, 0);
	mp_get_str(m->event.body, "path", MP_OPTIONAL, &path, NULL, 0);
	has_gen = mp_get_uint(m->event.body, "gen", MP_REQUIRED, &gen, NULL, 0) == CHUBBY_OK;
	cl_post_event(c, (int)m->event.type, handle, path.ptr, path.len, has_gen, gen);
}

static void
cl_on_frame(struct conn *conn, const uint8_t *body, size_t len, void *arg)
{
	struct cconn *cc = arg;
	struct chubby_client *c = cc->c;
	struct wire_msg m;
	char err[256];

	(void)conn;
	pthread_mutex_lock(&c->mu);
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		cl_conn_lost(c, cc, CHUBBY_E_MALFORMED, err);
		goto out;
	}
	if (m.kind == PROTO_KIND_WELCOME) {
		cl_on_welcome(c, cc, &m);
	} else if (m.kind == PROTO_KIND_EVENT) {
		cl_event_frame(c, &m);
	} else if (m.kind != PROTO_KIND_RES) {
		cl_conn_lost(c, cc, CHUBBY_E_MALFORMED, "unexpected message from the server");
	} else if (m.res.id == 0) {
		char reason[300];
		snprintf(reason, sizeof reason, "the server closed the connection: %.*s",
		    (int)m.res.message.len, m.res.message.ptr ? m.res.message.ptr : "");
		cl_conn_lost(c, cc, m.res.status, reason);
	} else if (cc->ending) {
		if (m.res.id == cc->end_id)
			cl_conn_destroy(c, cc);
	} else if (!cc->up) {
		cl_conn_lost(c, cc, CHUBBY_E_MALFORMED, "a reply before WELCOME");
	} else if (m.res.id == cc->where_id) {
		cl_on_where(c, cc, &m);
	} else if (m.res.id == cc->start_id) {
		cl_on_start(c, cc, &m);
	} else if (m.res.id == cc->ka_id) {
		cl_on_keepalive(c, cc, &m);
	} else {
		cl_on_app_reply(c, cc, &m); /* takes M */
		goto out;
	}
	wire_msg_free(&m);
out:
	pthread_mutex_unlock(&c->mu);
}

static void
cl_on_open(struct conn *conn, void *arg)
{
	struct cconn *cc = arg;
	struct chubby_client *c = cc->c;

	pthread_mutex_lock(&c->mu);
	wire_buf_reset(&c->out);
	c->out.max_frame = FRAME_MAX_DEFAULT;
	if (wire_put_hello(&c->out, PROTO_VERSION, c->name) != CHUBBY_OK ||
	    conn_send(conn, c->out.data, c->out.len) != CHUBBY_OK)
		cl_conn_lost(c, cc, CHUBBY_E_CONN, "cannot send HELLO");
	wire_buf_reset(&c->out);
	pthread_mutex_unlock(&c->mu);
}

static void
cl_on_close(struct conn *conn, int status, const char *reason, void *arg)
{
	struct cconn *cc = arg;
	struct chubby_client *c = cc->c;

	(void)conn;
	pthread_mutex_lock(&c->mu);
	/* A certificate refused for good (tp_error's E_AUTH: the peer refused
	 * ours as from an unknown CA, expired, revoked, the wrong kind; or we
	 * refused the replica's for a reason every replica shares, such as an
	 * untrusted CA; a replica's own revoked or expired certificate is
	 * E_TLS and we go on to the others) ends chubby_open at once, with the reason, rather
	 * than after open_timeout_ms of retries: every replica of a cell
	 * trusts the one cell CA, so they would all say the same (etcd's and
	 * gRPC's clients fail a dial on such an error too).  Once a session
	 * exists the core keeps trying, as for any lost link: the files may
	 * be replaced and the session is worth keeping. */
	if (status == CHUBBY_E_AUTH && csess_session_id(c->cs) == 0 && c->open_error == 0) {
		c->open_error = CHUBBY_E_TLS;
		/* errbuf_set: long paths may cut the message, which is fine. */
		errbuf_set(c->open_errmsg, sizeof c->open_errmsg,
		    "%s: %s (check the client certificate %s and the CA file %s)", cc->addr,
		    reason, c->cell.cert, c->cell.ca);
	}
	c->tls_stale = true;
	cl_conn_lost(c, cc, status, reason);
	pthread_mutex_unlock(&c->mu);
}

static const struct conn_callbacks cl_conn_cb = {
    .on_open = cl_on_open,
    .on_frame = cl_on_frame,
    .on_close = cl_on_close,
};

/* ---- the loop thread ---- */

static void
cl_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chubby_client *c = arg;
	struct csess_event ev = {.type = CSESS_EV_TICK};

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	if (!c->close_started)
		cl_feed(c, &ev);
	if (!c->close_started && cl_stall_due(c) <= cl_now()) {
		struct csess_event st = {.type = CSESS_EV_REQUEST_STALLED};

		c->stall_fed = cl_now();
		cl_feed(c, &st);
	}
	pthread_mutex_unlock(&c->mu);
}

static void
cl_close_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chubby_client *c = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	c->loop_done = true;
	event_base_loopbreak(c->base);
	pthread_mutex_unlock(&c->mu);
}

/* Close: the core ends the session (SESSION_END, best effort) and fails
 * whatever waits; we give the answer a moment, then stop. */
static void
cl_begin_close(struct chubby_client *c)
{
	struct csess_event ev = {.type = CSESS_EV_APP_CLOSE};
	struct timeval tv = {CL_CLOSE_WAIT_MS / 1000, (CL_CLOSE_WAIT_MS % 1000) * 1000};
	struct cconn *cc, *next;

	c->close_started = true;
	cl_feed(c, &ev);
	evtimer_del(c->tick_ev);
	/* Connections still finding the master are of no more use. */
	for (cc = c->conns; cc != NULL; cc = next) {
		next = cc->next;
		if (!cc->ending)
			cl_conn_destroy(c, cc);
	}
	cl_act_fail_pending(c, CHUBBY_E_CANCELLED);
	if (c->conns == NULL) {
		c->loop_done = true;
		event_base_loopbreak(c->base);
	} else {
		evtimer_add(c->close_ev, &tv);
	}
}

static void
cl_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chubby_client *c = arg;
	struct creq *r, *next;

	(void)what;
	if (c->async) {
		uint64_t n;
		ssize_t got = read(fd, &n, sizeof n);

		(void)got; /* drained; nothing else to learn from it */
	}
	pthread_mutex_lock(&c->mu);
	if (c->closing && !c->close_started) {
		cl_begin_close(c);
	} else if (!c->close_started) {
		/* Drop requests given up before they went out. */
		for (r = c->reqs; r != NULL; r = next) {
			next = r->next;
			if (r->abandoned && r->sent_conn == 0) {
				cl_req_unlink(c, r);
				cl_req_free(r);
			}
		}
		if (csess_accepts_requests(c->cs) && c->cur_conn != 0) {
			cl_send_pending(c, c->cur_conn, true);
			cl_arm_timer(c, cl_now());
		}
	}
	pthread_mutex_unlock(&c->mu);
}

bool
cl_send_now(struct chubby_client *c, struct creq *r)
{
	struct cconn *cc;
	sigset_t pipe, old;

	if (c->async || c->close_started || c->closing || c->cur_conn == 0 ||
	    !csess_accepts_requests(c->cs))
		return false;
	cc = cl_conn_find(c, c->cur_conn);
	if (cc == NULL || !cc->up || cc->ending || cc->conn == NULL)
		return false;
	/* Older requests not out yet go first, from the loop. */
	for (const struct creq *q = r->next; q != NULL; q = q->next)
		if (q->sent_conn == 0 && !q->abandoned)
			return false;
	/* A write to a socket the master closed fails with EPIPE, not with a
	 * signal that would kill an application not ignoring it (the loop
	 * thread blocks every signal).  The signal raised for it is ours to
	 * take back, unless the application blocks SIGPIPE itself. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	cl_send_req_how(c, cc, r, true);
	if (!sigismember(&old, SIGPIPE)) {
		sigset_t pend;

		if (sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE)) {
			struct timespec zero = {0, 0};
			sigtimedwait(&pipe, NULL, &zero);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r->done)
		return true; /* answered at once: too large for the server */
	if (r->sent_conn == 0)
		return false;
	/* Its stall clock: the timer covers it unless it is armed later. */
	if (cl_stall_due(c) < c->timer_due)
		cl_arm_timer(c, cl_now());
	return true;
}

void
cl_wake(struct chubby_client *c)
{
	if (c->async) {
		/* Makes the application's descriptor readable: its loop calls
		 * chubby_process, whose pass runs cl_wake_cb. */
		uint64_t one = 1;
		ssize_t n = write(c->wake_fd, &one, sizeof one);

		(void)n; /* EAGAIN: the counter is already non-zero */
		return;
	}
	event_active(c->wake_ev, EV_READ, 0);
}

static void *
cl_loop_main(void *arg)
{
	struct chubby_client *c = arg;

	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void *
cl_disp_main(void *arg)
{
	struct chubby_client *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct cevent *e;
		struct chubby_handle *h = NULL;
		struct chubby_event out;

		while (c->ev_head == NULL && !c->disp_stop)
			pthread_cond_wait(&c->ev_cond, &c->mu);
		if (c->disp_stop)
			break;
		e = c->ev_head;
		c->ev_head = e->next;
		if (c->ev_head == NULL)
			c->ev_tail = NULL;
		if (e->handle_id != 0) {
			for (h = c->handles; h != NULL; h = h->next)
				if (h->id == e->handle_id)
					break;
		}
		/* An event for a handle closed meanwhile goes nowhere. */
		if (e->handle_id == 0 || h != NULL) {
			memset(&out, 0, sizeof out);
			out.type = e->type;
			out.handle = h;
			out.path = e->path;
			out.has_content_gen = e->has_gen;
			out.content_gen = e->gen;
			c->disp_in_callback = true;
			pthread_mutex_unlock(&c->mu);
			c->on_event(c, &out, c->event_arg);
			pthread_mutex_lock(&c->mu);
			c->disp_in_callback = false;
		}
		free(e->path);
		free(e);
	}
	pthread_mutex_unlock(&c->mu);
	if (c->disp_free_self)
		cl_free_from_dispatcher(c);
	return NULL;
}

static pthread_once_t cl_evthread_once = PTHREAD_ONCE_INIT;
static int cl_evthread_rc;

static void
cl_evthread_init(void)
{
	cl_evthread_rc = evthread_use_pthreads();
}

/* What both kinds of client set up before their loop first runs: TLS, the
 * event base and its events, the session core (started). */
static int
cl_loop_init(struct chubby_client *c, evutil_socket_t wake_fd, char *err, size_t errlen)
{
	struct tls_config tc;
	struct csess_event ev = {.type = CSESS_EV_START, .config = &c->cfg};
	int rc;

	cl_tls_config(c, &tc);
	if ((rc = tls_ctx_load(&c->tls, &tc, err, errlen)) != CHUBBY_OK)
		return rc;
	c->tp = tp_tls_new(c->tls);
	c->base = tp_event_base_new();
	if (c->tp == NULL || c->base == NULL)
		return CHUBBY_E_NOMEM;
	/* A threaded client's callers send their own requests (cl_send_now):
	 * every connection gets a lock around its TLS state, the first ones
	 * too, which START below opens. */
	if (!c->async && tp_set_threadsafe(c->tp) != 0) {
		snprintf(err, errlen, "the transport made a connection before its lock was set");
		return CHUBBY_E_INTERNAL;
	}
	c->wake_ev = event_new(c->base, wake_fd, wake_fd >= 0 ? EV_READ | EV_PERSIST : 0,
	    cl_wake_cb, c);
	c->tick_ev = evtimer_new(c->base, cl_tick_cb, c);
	c->close_ev = evtimer_new(c->base, cl_close_timeout_cb, c);
	c->cs = csess_new();
	if (c->wake_ev == NULL || c->tick_ev == NULL || c->close_ev == NULL || c->cs == NULL)
		return CHUBBY_E_NOMEM;
	wire_buf_init(&c->out, FRAME_MAX_DEFAULT);
	c->next_wire_id = 1;
	/* Unguessable, so that no other client's start can hit it; 0 (no
	 * nonce) only if the generator fails. */
	if (RAND_bytes((unsigned char *)&c->start_nonce, sizeof c->start_nonce) != 1)
		c->start_nonce = 0;

	/* START before the threads run: nothing else touches C yet. */
	pthread_mutex_lock(&c->mu);
	rc = cl_feed(c, &ev);
	pthread_mutex_unlock(&c->mu);
	if (rc != CHUBBY_OK) {
		snprintf(err, errlen, "bad session settings (lease %llu ms, grace %llu ms)",
		    (unsigned long long)c->cfg.lease_ms, (unsigned long long)c->cfg.grace_ms);
		return rc;
	}
	return CHUBBY_OK;
}

int
cl_loop_start(struct chubby_client *c, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc;

	pthread_once(&cl_evthread_once, cl_evthread_init);
	if (cl_evthread_rc != 0) {
		snprintf(err, errlen, "libevent has no thread support");
		return CHUBBY_E_INTERNAL;
	}
	if ((rc = cl_loop_init(c, -1, err, errlen)) != CHUBBY_OK)
		return rc;

	/* Our threads take no signals: the application's handlers run on
	 * its own threads, and a write to a closed socket (SIGPIPE) only
	 * fails with EPIPE on the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->loop_thread, NULL, cl_loop_main, c);
	if (rc == 0) {
		c->loop_started = true;
		rc = pthread_create(&c->disp_thread, NULL, cl_disp_main, c);
		if (rc == 0)
			c->disp_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
		return CHUBBY_E_NOMEM;
	}
	return CHUBBY_OK;
}

void
cl_loop_stop(struct chubby_client *c)
{
	if (c->loop_started) {
		pthread_mutex_lock(&c->mu);
		c->closing = true;
		pthread_mutex_unlock(&c->mu);
		cl_wake(c);
		pthread_join(c->loop_thread, NULL);
		c->loop_started = false;
	}
	pthread_mutex_lock(&c->mu);
	c->disp_stop = true;
	pthread_cond_broadcast(&c->ev_cond);
	pthread_mutex_unlock(&c->mu);
}

/* ---- the async client (client_async.c): the same loop, no threads ---- */

/*
 * An async client's loop is this file's, driven by the application's
 * thread (chubby_process runs one non-blocking pass of the event base).
 * What the threads did otherwise is done here: the wake event is an
 * eventfd, so that a call queued outside chubby_process makes the
 * application's descriptor readable, and one more timer (async_ev) fires
 * at the earliest deadline of the calls in flight and of chubby_open_async
 * itself, since no thread waits on a condition variable with a timeout.
 */

/* The earliest deadline of an async call in flight, or of the open. */
void
cl_async_arm(struct chubby_client *c)
{
	uint64_t next = CSESS_NEVER, now = cl_now();

	if (c->async_ev == NULL)
		return;
	if (c->open_state == 0)
		next = c->open_deadline;
	for (const struct creq *r = c->reqs; r != NULL; r = r->next)
		if (r->done_cb != NULL && r->deadline != 0 && r->deadline < next)
			next = r->deadline;
	if (next == CSESS_NEVER) {
		evtimer_del(c->async_ev);
	} else {
		uint64_t d = next > now ? next - now : 0;
		struct timeval tv = {(time_t)(d / 1000), (suseconds_t)((d % 1000) * 1000)};
		evtimer_add(c->async_ev, &tv);
	}
}

/* chubby_open_async's outcome, once there is one: the session is SAFE, a
 * refusal that will not change came, or (with TIMED_OUT) open_timeout_ms
 * passed.  A failure fails the calls queued meanwhile with it. */
static void
cl_async_open_decide(struct chubby_client *c, bool timed_out)
{
	int st;

	if (c->open_state != 0)
		return;
	if (csess_state(c->cs) == CSESS_SAFE) {
		c->open_state = 1;
		c->open_status = CHUBBY_OK;
		c->open_msg[0] = '\0';
		return;
	}
	if (c->open_error != 0) {
		st = c->open_error;
		snprintf(c->open_msg, sizeof c->open_msg, "cannot start a session: %s",
		    c->open_errmsg);
	} else if (timed_out) {
		st = CHUBBY_E_UNAVAILABLE;
		snprintf(c->open_msg, sizeof c->open_msg, "no session with the cell within %u ms: %s",
		    c->open_timeout_ms,
		    c->last_conn_err[0] != '\0' ? c->last_conn_err
						: "no replica named a master that answered");
	} else {
		return;
	}
	c->open_state = 1;
	c->open_status = st;
	c->open_failed = true;
	cl_act_fail_pending(c, st);
}

static void
cl_async_open_check(struct chubby_client *c, uint64_t now)
{
	cl_async_open_decide(c, now >= c->open_deadline);
}

/* An async call past its deadline: its completion is told E_TIMEOUT now,
 * through a stand-in that carries only what the completion needs; R itself
 * is given up as a blocking call's would be (freed at once if it never
 * went out, else when its answer comes or its connection goes). */
static void
cl_async_expire(struct chubby_client *c, struct creq *r)
{
	struct creq *t = calloc(1, sizeof *t);
	enum csess_state st = csess_state(c->cs);

	if (t == NULL)
		return; /* tried again at the next tick */
	msgpack_sbuffer_init(&t->args);
	pthread_cond_init(&t->cond, NULL);
	t->op = r->op;
	t->done_cb = r->done_cb;
	t->done_arg = r->done_arg;
	t->ah = r->ah;
	t->apath = r->apath;
	r->apath = NULL;
	t->done = true;
	t->status = CHUBBY_E_TIMEOUT;
	snprintf(t->message, sizeof t->message, "%s: no answer in time%s%s%.120s", proto_op_name(r->op),
	    r->sent_conn != 0 ? "" : st == CSESS_JEOPARDY ? " (session in jeopardy: no master"
							  : " (not sent: no master reachable",
	    r->sent_conn == 0 && c->last_conn_err[0] != '\0' ? "; last connection error: " : "",
	    r->sent_conn == 0 ? c->last_conn_err : "");
	if (r->sent_conn == 0) {
		size_t n = strlen(t->message);
		if (n + 1 < sizeof t->message)
			memcpy(t->message + n, ")", 2);
	}
	if (!cl_queue_done(c, t)) {
		cl_req_free(t);
		return;
	}
	r->done_cb = NULL;
	r->abandoned = true;
	if (r->sent_conn == 0) {
		cl_req_unlink(c, r);
		cl_req_free(r);
	}
}

static void
cl_async_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chubby_client *c = arg;
	uint64_t now = cl_now();
	struct creq *r, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->mu);
	if (!c->close_started) {
		cl_async_open_check(c, now);
		for (r = c->reqs; r != NULL; r = next) {
			next = r->next;
			if (r->done_cb != NULL && r->deadline != 0 && r->deadline <= now)
				cl_async_expire(c, r);
		}
		cl_async_arm(c);
	}
	pthread_mutex_unlock(&c->mu);
}

int
cl_loop_start_async(struct chubby_client *c, char *err, size_t errlen)
{
	int rc;

	/* No evthread_use_pthreads: one thread only ever touches this base. */
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->wake_fd < 0 || c->epfd < 0) {
		snprintf(err, errlen, "cannot make the client's descriptors: %s", strerror(errno));
		return CHUBBY_E_IO;
	}
	c->open_deadline = cl_now() + c->open_timeout_ms;
	if ((rc = cl_loop_init(c, c->wake_fd, err, errlen)) != CHUBBY_OK)
		return rc;
	c->async_ev = evtimer_new(c->base, cl_async_timer_cb, c);
	if (c->async_ev == NULL || event_add(c->wake_ev, NULL) != 0)
		return CHUBBY_E_NOMEM;
	pthread_mutex_lock(&c->mu);
	cl_async_arm(c);
	pthread_mutex_unlock(&c->mu);
	return CHUBBY_OK;
}

void
cl_async_stop(struct chubby_client *c)
{
	if (c->base == NULL || c->cs == NULL)
		return; /* never started */
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	if (c->async_ev != NULL)
		evtimer_del(c->async_ev);
	if (!c->close_started)
		cl_begin_close(c);
	pthread_mutex_unlock(&c->mu);
	/* Blocks for SESSION_END's answer, CL_CLOSE_WAIT_MS at most (close_ev),
	 * as ZooKeeper's zookeeper_close waits for its close's. */
	while (!c->loop_done && event_base_get_num_events(c->base, EVENT_BASE_COUNT_ADDED) > 0)
		cl_async_loop(c, EVLOOP_ONCE);
}
