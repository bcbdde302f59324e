/* client.c: libchubby's public API (<chubby/chubby.h>): sessions, handles, locks and the calls built on them. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "client_int.h"
#include "conn.h"
#include "lasterr.h"
#include "mp.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"

/*
 * Each call builds a request (op and args, without the session and epoch,
 * which the loop thread adds when it sends, since a fail-over changes the
 * epoch), queues it, wakes the loop thread and waits on the request's
 * condition variable until it is answered or the call's time is up.  See
 * client_int.h for the locking and docs/CLIENT.md "The shell".
 */

#define CL_DEFAULT_OPEN_TIMEOUT_MS 10000
#define CL_DEFAULT_CALL_TIMEOUT_MS 30000
#define CL_DEFAULT_LEASE_MS 12000
#define CL_DEFAULT_GRACE_MS 45000
/* ---- building requests ---- */

/*
 * The loop thread answers a request by signalling its caller with the
 * client's mutex held, so the woken caller finds the mutex taken and, with
 * a plain mutex, sleeps on it once more until the loop lets go a moment
 * later: a second futex sleep and wake-up per request.  An adaptive mutex
 * spins briefly first, which is about as long as the loop holds it.
 */
static void
cl_mutex_init_adaptive(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
}

static void
cl_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

int
rb_new(struct rb *b, uint32_t op)
{
	b->err = CHUBBY_OK;
	if ((b->r = calloc(1, sizeof *b->r)) == NULL) {
		lasterr_set(CHUBBY_E_NOMEM, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	b->r->op = op;
	msgpack_sbuffer_init(&b->r->args);
	cl_cond_init_mono(&b->r->cond);
	msgpack_packer_init(&b->pk, &b->r->args, msgpack_sbuffer_write);
	return CHUBBY_OK;
}

static void
rb_note(struct rb *b, int rc)
{
	if (rc != CHUBBY_OK && b->err == CHUBBY_OK)
		b->err = rc;
	b->r->nargs++;
}

void
rb_uint(struct rb *b, const char *key, uint64_t v)
{
	rb_note(b, mp_pack_kv_uint(&b->pk, key, v));
}

void
rb_bool(struct rb *b, const char *key, bool v)
{
	rb_note(b, mp_pack_kv_bool(&b->pk, key, v));
}

static void
rb_str(struct rb *b, const char *key, const char *v)
{
	rb_note(b, mp_pack_kv_str(&b->pk, key, v));
}

void
rb_bin(struct rb *b, const char *key, const void *p, size_t len)
{
	rb_note(b, mp_pack_kv_bin(&b->pk, key, p != NULL ? p : "", len));
}

static void
rb_nil(struct rb *b, const char *key)
{
	int rc = mp_pack_str(&b->pk, key);

	if (rc == CHUBBY_OK && msgpack_pack_nil(&b->pk) != 0)
		rc = CHUBBY_E_NOMEM;
	rb_note(b, rc);
}

/* acl: [str|nil x3] */
static void
rb_acl(struct rb *b, const char *const acl[3])
{
	int rc = mp_pack_str(&b->pk, "acl");

	if (rc == CHUBBY_OK && msgpack_pack_array(&b->pk, 3) != 0)
		rc = CHUBBY_E_NOMEM;
	for (int i = 0; i < 3 && rc == CHUBBY_OK; i++)
		rc = mp_pack_str(&b->pk, acl[i]); /* NULL packs nil */
	rb_note(b, rc);
}

/* A handle the master keeps in memory (docs/PROTOCOL.md "Handles in
 * memory"): every call on it says how to re-create it, so that a master
 * elected since re-creates it on first use (Chubby 2.9, step 7). */
static void
rb_reopen(struct rb *b, const chubby_handle *h)
{
	msgpack_packer *pk = &b->pk;
	int rc = mp_pack_str(pk, "reopen");

	if (rc == CHUBBY_OK && msgpack_pack_map(pk, h->events != 0 ? 5 : 4) != 0)
		rc = CHUBBY_E_NOMEM;
	if (rc == CHUBBY_OK)
		rc = mp_pack_kv_str(pk, "path", h->path);
	if (rc == CHUBBY_OK)
		rc = mp_pack_kv_uint(pk, "instance", h->instance);
	if (rc == CHUBBY_OK)
		rc = mp_pack_kv_uint(pk, "flags", h->flags);
	if (rc == CHUBBY_OK)
		rc = mp_pack_kv_bool(pk, "poisoned", h->poisoned);
	/* The mask, so that a re-created handle gets the events of commands
	 * applied after it (those before: MASTER_FAILOVER tells of them). */
	if (rc == CHUBBY_OK && h->events != 0)
		rc = mp_pack_kv_uint(pk, "events", h->events);
	rb_note(b, rc);
}

/* ---- waiting for answers ---- */

static void
cl_deadline(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Whether the session can take requests at all; sets the last error if
 * not.  Mutex held. */
int
cl_usable(struct chubby_client *c)
{
	enum csess_state st = csess_state(c->cs);

	if (c->open_failed) {
		lasterr_set(CHUBBY_E_UNAVAILABLE, "the session never started: %s", c->open_msg);
		return CHUBBY_E_UNAVAILABLE;
	}
	if (c->closing || st == CSESS_CLOSED) {
		lasterr_set(CHUBBY_E_CANCELLED, "the client is closing");
		return CHUBBY_E_CANCELLED;
	}
	if (st == CSESS_EXPIRED) {
		lasterr_set(CHUBBY_E_SESSION_EXPIRED,
		    "session %llu expired: its handles and locks are gone; open a new client",
		    (unsigned long long)csess_session_id(c->cs));
		return CHUBBY_E_SESSION_EXPIRED;
	}
	return CHUBBY_OK;
}

/*
 * Queues B's request and waits up to TIMEOUT_MS (0: no limit) for the
 * answer.  Returns the answer's status; on CHUBBY_OK (and on an error
 * with a result) the request is in *OUT for the caller to read its result
 * and free with cl_req_free().  On failure sets the last error, naming
 * WHAT (a path, usually).
 */
static int
cl_call(struct chubby_client *c, struct rb *b, uint64_t timeout_ms, const char *what,
    struct creq **out)
{
	struct creq *r = b->r;
	struct timespec ts;
	bool sent;
	int rc;

	*out = NULL;
	if (c->async) {
		/* It would stall the application's loop, which alone can answer
		 * it: refused (docs/CLIENT.md "Driving libchubby from your own
		 * event loop"). */
		lasterr_set(CHUBBY_E_INVALID, "%s: %s: a blocking call on a client from "
		    "chubby_open_async; use the _async call", what, proto_op_name(r->op));
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
	if ((rc = cl_usable(c)) != CHUBBY_OK) {
		pthread_mutex_unlock(&c->mu);
		cl_req_free(r);
		return rc;
	}
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
	/* On an idle connection the caller writes the request itself: the
	 * loop thread then wakes once, for the answer, instead of twice. */
	sent = cl_send_now(c, r);
	pthread_mutex_unlock(&c->mu);
	if (!sent)
		cl_wake(c);

	if (timeout_ms != 0)
		cl_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (!r->done) {
		if (timeout_ms == 0) {
			pthread_cond_wait(&r->cond, &c->mu);
		} else if (pthread_cond_timedwait(&r->cond, &c->mu, &ts) == ETIMEDOUT) {
			break;
		}
	}
	if (!r->done) {
		bool unsent = r->sent_conn == 0;
		enum csess_state st = csess_state(c->cs);
		uint32_t op = r->op;
		char why[400] = "";

		/* Why no master could be reached (a refused certificate, say). */
		if (unsent)
			snprintf(why, sizeof why, " (%s%s%s)",
			    st == CSESS_JEOPARDY ? "session in jeopardy: no master"
						 : "not sent: no master reachable",
			    c->last_conn_err[0] != '\0' ? "; last connection error: " : "",
			    c->last_conn_err);

		/* The loop frees it: at once if it never went out, else when
		 * its answer comes or its connection goes.  So nothing of R may
		 * be read once the mutex is let go. */
		r->abandoned = true;
		pthread_mutex_unlock(&c->mu);
		cl_wake(c);
		lasterr_set(CHUBBY_E_TIMEOUT, "%s: %s: no answer within %llu ms%s", what,
		    proto_op_name(op), (unsigned long long)timeout_ms, why);
		return CHUBBY_E_TIMEOUT;
	}
	pthread_mutex_unlock(&c->mu);
	rc = r->status;
	if (rc != CHUBBY_OK) {
		if (r->message[0] != '\0')
			lasterr_set(rc, "%s: %s: %s", what, chubby_status_name(rc), r->message);
		else
			lasterr_set(rc, "%s: %s: %s", what, chubby_status_name(rc),
			    chubby_strerror(rc));
	}
	if (rc == CHUBBY_OK || r->have_res)
		*out = r;
	else
		cl_req_free(r);
	return rc;
}

static const msgpack_object *
cl_result(const struct creq *r)
{
	return r->have_res ? r->res.res.result : NULL;
}

/* Runs a request whose answer carries nothing we read. */
static int
cl_simple(struct chubby_client *c, struct rb *b, uint64_t timeout_ms, const char *what)
{
	struct creq *r;
	int rc = cl_call(c, b, timeout_ms, what, &r);

	cl_req_free(r);
	return rc;
}

int
cl_res_stat(const struct creq *r, const char *key, struct chubby_stat *st, const char *what)
{
	const msgpack_object *so = NULL;
	struct chubby_stat tmp;

	if (mp_get_map(cl_result(r), key, MP_REQUIRED, &so, NULL, 0) != CHUBBY_OK ||
	    cl_parse_stat(so, &tmp) != CHUBBY_OK) {
		lasterr_set(CHUBBY_E_MALFORMED, "%s: the server's answer to %s is malformed", what,
		    proto_op_name(r->op));
		return CHUBBY_E_MALFORMED;
	}
	if (st != NULL)
		*st = tmp;
	return CHUBBY_OK;
}

/* cl_res_stat, freeing R if it fails. */
static int
cl_stat_from(struct creq *r, const char *key, struct chubby_stat *st, const char *what)
{
	int rc = cl_res_stat(r, key, st, what);

	if (rc != CHUBBY_OK)
		cl_req_free(r);
	return rc;
}

int
cl_res_contents(const struct creq *r, void **data, size_t *len, struct chubby_stat *st,
    const char *what)
{
	struct mp_str bin = {NULL, 0};
	struct chubby_stat tmp;
	int rc;

	if (mp_get_bin(cl_result(r), "contents", MP_OPTIONAL, &bin, NULL, 0) != CHUBBY_OK) {
		lasterr_set(CHUBBY_E_MALFORMED, "%s: the server's answer to %s is malformed", what,
		    proto_op_name(r->op));
		return CHUBBY_E_MALFORMED;
	}
	if ((rc = cl_res_stat(r, "stat", &tmp, what)) != CHUBBY_OK)
		return rc;
	if ((*data = malloc(bin.len + 1)) == NULL) {
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", what);
		return CHUBBY_E_NOMEM;
	}
	if (bin.len > 0)
		memcpy(*data, bin.ptr, bin.len);
	((char *)*data)[bin.len] = '\0';
	*len = bin.len;
	if (st != NULL)
		*st = tmp;
	return CHUBBY_OK;
}

int
cl_res_sequencer(const struct creq *r, const void **seq, size_t *len, const char *what)
{
	struct mp_str bin = {NULL, 0};

	if (mp_get_bin(cl_result(r), "sequencer", MP_REQUIRED, &bin, NULL, 0) != CHUBBY_OK) {
		lasterr_set(CHUBBY_E_MALFORMED, "%s: the server's answer to %s is malformed", what,
		    proto_op_name(r->op));
		return CHUBBY_E_MALFORMED;
	}
	*seq = bin.ptr;
	*len = bin.len;
	return CHUBBY_OK;
}

/* ---- sessions ---- */

static unsigned
cl_or(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

static void cl_free_client(struct chubby_client *c);

int
chubby_open(const struct chubby_options *opt, chubby_client **out)
{
	return chubby_open_ext(opt, NULL, out);
}

/* The client chubby_open_ext and chubby_open_async make from the options,
 * before any loop runs; CHUBBY_OK or why not (the last error set). */
static int
cl_client_new(const struct chubby_options *opt, const struct chubby_options_ext *ext_in,
    chubby_client **out)
{
	static const struct chubby_options none;
	struct chubby_options_ext ext;
	struct chubby_client *c;
	char err[512];
	uint64_t lease, grace;
	int rc;

	lasterr_clear();
	if (out == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_open: OUT is NULL");
		return CHUBBY_E_INVALID;
	}
	*out = NULL;
	if (opt == NULL)
		opt = &none;
	/* Only the fields the caller's struct has. */
	memset(&ext, 0, sizeof ext);
	if (ext_in != NULL) {
		if (ext_in->size < sizeof ext_in->size) {
			lasterr_set(CHUBBY_E_INVALID, "chubby_open_ext: set size to "
						      "sizeof(struct chubby_options_ext)");
			return CHUBBY_E_INVALID;
		}
		memcpy(&ext, ext_in, ext_in->size < sizeof ext ? ext_in->size : sizeof ext);
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		lasterr_set(CHUBBY_E_NOMEM, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	c->epfd = c->wake_fd = -1;
	cl_mutex_init_adaptive(&c->mu);
	cl_cond_init_mono(&c->state_cond);
	pthread_cond_init(&c->ev_cond, NULL);
	atomic_init(&c->pub_state, 0);
	atomic_init(&c->pub_session, 0);

	if ((rc = cl_cell_resolve(opt->cell, &c->cell, err, sizeof err)) != CHUBBY_OK) {
		lasterr_set(rc, "%s", err);
		cl_free_client(c);
		return rc;
	}
	struct {
		const char *given;
		char *dst;
		const char *what, *env;
	} files[4] = {
	    {opt->ca_file, c->cell.ca, "CA certificate", "CHUBBY_CA"},
	    {opt->cert_file, c->cell.cert, "client certificate", "CHUBBY_CERT"},
	    {opt->key_file, c->cell.key, "client key", "CHUBBY_KEY"},
	    {ext.crl_file, c->cell.crl, "CRL", "CHUBBY_CRL"},
	};
	for (int i = 0; i < 4; i++) {
		if (files[i].given != NULL && *files[i].given != '\0') {
			if (strlen(files[i].given) >= CELLSPEC_PATH_MAX) {
				lasterr_set(CHUBBY_E_INVALID, "the %s path is too long", files[i].what);
				cl_free_client(c);
				return CHUBBY_E_INVALID;
			}
			strcpy(files[i].dst, files[i].given);
		}
		/* The CRL is optional: without one nothing is revoked. */
		if (files[i].dst[0] == '\0' && files[i].dst != c->cell.crl) {
			lasterr_set(CHUBBY_E_CONFIG,
			    "no TLS %s for the client: set it in chubby_options, or %s, or use a "
			    "cell config that names it",
			    files[i].what, files[i].env);
			cl_free_client(c);
			return CHUBBY_E_CONFIG;
		}
	}
	snprintf(c->name, sizeof c->name, "%s",
	    opt->name != NULL && *opt->name != '\0' ? opt->name : "libchubby");
	c->open_timeout_ms = cl_or(opt->open_timeout_ms, CL_DEFAULT_OPEN_TIMEOUT_MS);
	c->call_timeout_ms = cl_or(opt->call_timeout_ms, CL_DEFAULT_CALL_TIMEOUT_MS);
	c->on_event = opt->on_event;
	c->event_arg = opt->event_arg;

	/* The session core's settings: lease and grace from the options, else
	 * the cell config, else the defaults; the KeepAlive guard scaled down
	 * for short leases (a test cell's, say). */
	lease = opt->lease_ms ? opt->lease_ms : c->cell.lease_ms ? c->cell.lease_ms : CL_DEFAULT_LEASE_MS;
	grace = opt->grace_ms ? opt->grace_ms : c->cell.grace_ms ? c->cell.grace_ms : CL_DEFAULT_GRACE_MS;
	csess_config_defaults(&c->cfg);
	for (size_t i = 0; i < c->cell.naddrs; i++)
		c->replica_ptrs[i] = c->cell.addrs[i];
	c->cfg.replicas = c->replica_ptrs;
	c->cfg.nreplicas = c->cell.naddrs;
	c->cfg.lease_ms = lease;
	c->cfg.grace_ms = grace;
	if (c->cfg.guard_ms >= lease / 3)
		c->cfg.guard_ms = lease / 3;
	if (c->cfg.margin_ms >= lease / 10)
		c->cfg.margin_ms = lease / 10;
	if (c->cfg.slack_ms >= lease / 4)
		c->cfg.slack_ms = lease / 4 ? lease / 4 : 1;
	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		c->cfg.seed = ((uint64_t)now.tv_sec * 1000000007ULL) ^ (uint64_t)now.tv_nsec ^
		    ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
	}
	*out = c;
	return CHUBBY_OK;
}

int
chubby_open_ext(const struct chubby_options *opt, const struct chubby_options_ext *ext_in,
    chubby_client **out)
{
	struct chubby_client *c;
	struct timespec ts;
	char err[512];
	int rc;

	if ((rc = cl_client_new(opt, ext_in, &c)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_loop_start(c, err, sizeof err)) != CHUBBY_OK) {
		/* chubby_close clears the last error: set it after. */
		chubby_close(c);
		lasterr_set(rc, "%s", err);
		return rc;
	}

	/* Wait for the session, or a refusal that will not change, or the
	 * time to run out. */
	cl_deadline(&ts, c->open_timeout_ms);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		enum csess_state st = csess_state(c->cs);
		if (st == CSESS_SAFE || st == CSESS_JEOPARDY || st == CSESS_EXPIRED ||
		    st == CSESS_CLOSED || c->open_error != 0)
			break;
		if (pthread_cond_timedwait(&c->state_cond, &c->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (csess_state(c->cs) == CSESS_SAFE) {
		pthread_mutex_unlock(&c->mu);
		*out = c;
		return CHUBBY_OK;
	}
	if (c->open_error != 0) {
		rc = c->open_error;
		lasterr_set(rc, "cannot start a session: %s", c->open_errmsg);
	} else {
		rc = CHUBBY_E_UNAVAILABLE;
		lasterr_set(rc, "no session with the cell within %u ms: %s", c->open_timeout_ms,
		    c->last_conn_err[0] != '\0' ? c->last_conn_err
						: "no replica named a master that answered");
	}
	pthread_mutex_unlock(&c->mu);
	{
		/* chubby_close overwrites the message: keep ours. */
		char keep[512];
		snprintf(keep, sizeof keep, "%s", chubby_last_error());
		chubby_close(c);
		lasterr_set(rc, "%s", keep);
	}
	return rc;
}

int
chubby_open_async(const struct chubby_options *opt, const struct chubby_options_ext *ext,
    chubby_open_fn done, void *arg, chubby_client **out)
{
	struct chubby_client *c;
	char err[512];
	int rc;

	if ((rc = cl_client_new(opt, ext, &c)) != CHUBBY_OK)
		return rc;
	c->async = true;
	if ((rc = cl_loop_start_async(c, err, sizeof err)) != CHUBBY_OK) {
		/* DONE is never called when this call fails. */
		chubby_close(c);
		lasterr_set(rc, "%s", err);
		return rc;
	}
	c->open_cb = done;
	c->open_arg = arg;
	*out = c;
	return CHUBBY_OK;
}

/* Frees what the threads left (they are stopped). */
static void
cl_free_client(struct chubby_client *c)
{
	struct cconn *cc;
	struct creq *r;
	struct cevent *e;
	struct chubby_handle *h;

	while ((cc = c->conns) != NULL) {
		c->conns = cc->next;
		if (cc->conn != NULL)
			conn_free(cc->conn);
		free(cc);
	}
	while ((r = c->reqs) != NULL) {
		c->reqs = r->next;
		cl_req_free(r);
	}
	while ((e = c->ev_head) != NULL) {
		c->ev_head = e->next;
		free(e->path);
		free(e);
	}
	while ((h = c->handles) != NULL) {
		c->handles = h->next;
		free(h->path);
		free(h);
	}
	ccache_clear(&c->cache);
	free(c->acks);
	if (c->wake_ev != NULL)
		event_free(c->wake_ev);
	if (c->tick_ev != NULL)
		event_free(c->tick_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	if (c->async_ev != NULL)
		event_free(c->async_ev);
	/* Releases the bufferevents freed above (tp.h): the client's own
	 * events are freed, the connections' disabled. */
	tp_event_base_free(c->base);
	if (c->tp != NULL)
		tp_free(c->tp);
	if (c->tls != NULL)
		tls_ctx_free(c->tls);
	wire_buf_free(&c->out);
	csess_free(c->cs);
	/* The async client's descriptors, after the base that watched them. */
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	free(c->mirror);
	pthread_cond_destroy(&c->state_cond);
	pthread_cond_destroy(&c->ev_cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void
chubby_close(chubby_client *c)
{
	if (c == NULL)
		return;
	lasterr_clear();
	if (c->async) {
		if (c->in_close)
			return; /* from a completion cancelled by this close */
		if (c->in_process > 0) {
			/* From a callback: chubby_process closes it on its way out. */
			c->close_deferred = true;
			return;
		}
		c->in_close = true;
		cl_async_stop(c);
		/* Completions still due run now, with E_CANCELLED (as
		 * ZooKeeper's do with ZCLOSING); events are dropped. */
		cl_async_dispatch(c);
		cl_free_client(c);
		return;
	}
	cl_loop_stop(c);
	if (c->disp_started) {
		if (pthread_equal(pthread_self(), c->disp_thread)) {
			/* From an event callback: the dispatcher frees C when the
			 * callback returns. */
			pthread_mutex_lock(&c->mu);
			c->disp_free_self = true;
			pthread_mutex_unlock(&c->mu);
			return;
		}
		pthread_join(c->disp_thread, NULL);
	}
	cl_free_client(c);
}

/* The dispatcher's last act after chubby_close from a callback. */
void
cl_free_from_dispatcher(struct chubby_client *c)
{
	pthread_detach(pthread_self());
	cl_free_client(c);
}

uint64_t
chubby_session_id(const chubby_client *c)
{
	return c != NULL ? atomic_load(&c->pub_session) : 0;
}

int
chubby_session_state(const chubby_client *c)
{
	int st;

	if (c == NULL)
		return CHUBBY_SESSION_CLOSED;
	st = atomic_load(&c->pub_state);
	return st != 0 ? st : CHUBBY_SESSION_CLOSED;
}

/* ---- handles ---- */

int
cl_check_handle(const chubby_handle *h)
{
	lasterr_clear();
	if (h == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "NULL handle");
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
cl_handle_req(chubby_handle *h, struct rb *b, uint32_t op)
{
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if ((rc = rb_new(b, op)) != CHUBBY_OK)
		return rc;
	b->r->handle_id = h->id;
	rb_uint(b, "handle", h->id);
	if (h->id & CL_MEM_HANDLE_BIT)
		rb_reopen(b, h);
	return CHUBBY_OK;
}

int
cl_build_open(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, struct rb *b)
{
	int rc;

	lasterr_clear();
	if (c == NULL || path == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_handle_open: NULL argument");
		return CHUBBY_E_INVALID;
	}
	if ((rc = rb_new(b, PROTO_OP_OPEN)) != CHUBBY_OK)
		return rc;
	rb_str(b, "path", path);
	rb_uint(b, "flags", flags);
	/* An open with intents (and CREATE, which creates nothing if the node
	 * is there) that wants no ACL names or lock-delay of its own may be
	 * kept in the master's memory, with no log write, its event mask
	 * too; writes and locks through it are one log entry each
	 * (docs/SESSIONS.md "Handles in memory").  A master without
	 * handles_in_memory, or an older one, ignores the key; one that must
	 * create the node, or finds it ephemeral, answers with a handle of
	 * the log's. */
	b->r->open_events = args != NULL ? args->event_mask : 0;
	if ((flags & ~(unsigned)(CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE)) == 0 &&
	    (flags & (CHUBBY_O_READ | CHUBBY_O_WRITE)) != 0 &&
	    (args == NULL ||
		(!args->have_lock_delay &&
		    (args->contents == NULL || (flags & CHUBBY_O_CREATE)) && args->acl[0] == NULL &&
		    args->acl[1] == NULL && args->acl[2] == NULL)))
		rb_bool(b, "mem", true);
	if (args != NULL) {
		if (args->have_lock_delay)
			rb_uint(b, "lock_delay_ms", args->lock_delay_ms);
		if (args->event_mask != 0)
			rb_uint(b, "events", args->event_mask);
		if (args->contents != NULL)
			rb_bin(b, "contents", args->contents, args->contents_len);
		if (args->acl[0] != NULL || args->acl[1] != NULL || args->acl[2] != NULL)
			rb_acl(b, args->acl);
	}
	return CHUBBY_OK;
}

int
cl_handle_adopt(chubby_client *c, const char *path, unsigned flags, const struct creq *r,
    chubby_handle **out, bool *created, uint64_t *idp)
{
	struct chubby_handle *h;
	const msgpack_object *so = NULL;
	struct chubby_stat st;
	uint64_t id = 0;
	bool made = false;

	*idp = 0;
	memset(&st, 0, sizeof st);
	if (mp_get_uint(cl_result(r), "handle", MP_REQUIRED, &id, NULL, 0) != CHUBBY_OK ||
	    mp_get_bool(cl_result(r), "created", MP_OPTIONAL, &made, NULL, 0) != CHUBBY_OK ||
	    mp_get_map(cl_result(r), "stat", MP_OPTIONAL, &so, NULL, 0) != CHUBBY_OK ||
	    (so != NULL && cl_parse_stat(so, &st) != CHUBBY_OK)) {
		lasterr_set(CHUBBY_E_MALFORMED, "%s: the server's answer to %s is malformed", path,
		    proto_op_name(r->op));
		return CHUBBY_E_MALFORMED;
	}
	if ((h = calloc(1, sizeof *h)) == NULL || (h->path = strdup(path)) == NULL) {
		free(h);
		*idp = id; /* the handle exists at the master: the caller closes it there */
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", path);
		return CHUBBY_E_NOMEM;
	}
	h->c = c;
	h->flags = flags;
	h->events = r->open_events;
	h->id = id;
	/* Without a stat (an older server) the instance stays 0 and the
	 * handle's reads always ask the master. */
	h->instance = st.instance;
	h->ephemeral = st.ephemeral || (flags & CHUBBY_O_EPHEMERAL) != 0;
	pthread_mutex_lock(&c->mu);
	/* A node this OPEN created is new, whatever our cache holds under its
	 * name (an ephemeral node reaped and made again, say); one it found
	 * may be a later instance than the copy we hold.  Either way the old
	 * copy can never be served again (ccache_get checks the instance):
	 * drop it now rather than carry it. */
	if (made)
		ccache_drop(&c->cache, path, strlen(path));
	else
		ccache_drop_older(&c->cache, path, h->instance);
	h->next = c->handles;
	if (c->handles != NULL)
		c->handles->prev = h;
	c->handles = h;
	pthread_mutex_unlock(&c->mu);
	*out = h;
	if (created != NULL)
		*created = made;
	return CHUBBY_OK;
}

int
chubby_handle_open(chubby_client *c, const char *path, unsigned flags,
    const struct chubby_open_args *args, chubby_handle **out, bool *created)
{
	struct creq *r;
	struct rb b;
	uint64_t id;
	int rc;

	lasterr_clear();
	if (out == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_handle_open: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*out = NULL;
	if ((rc = cl_build_open(c, path, flags, args, &b)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_call(c, &b, c->call_timeout_ms, path, &r)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	rc = cl_handle_adopt(c, path, flags, r, out, created, &id);
	cl_req_free(r);
	if (rc == CHUBBY_E_NOMEM && id != 0) {
		/* The handle exists at the master: close it there. */
		struct rb cb;
		if (rb_new(&cb, PROTO_OP_CLOSE) == CHUBBY_OK) {
			rb_uint(&cb, "handle", id);
			cl_simple(c, &cb, c->call_timeout_ms, path);
		}
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", path);
	}
	return rc;
}

void
cl_handle_forget(chubby_handle *h)
{
	struct chubby_client *c = h->c;

	pthread_mutex_lock(&c->mu);
	/* Closing the last handle on an ephemeral node deletes it (whoever
	 * holds that last handle), so our copy of it may describe a node that
	 * is gone: drop it, whatever the answer (a timed-out CLOSE may still
	 * have been applied).  A permanent node is unchanged by a close: its
	 * copy stays valid under the master's invalidations and serves the
	 * next handle that opens the same instance, which is what makes
	 * open/read/close cycles cheap (Chubby 2.9 caches by node, not by
	 * handle).  The instance check in ccache_get is what guarantees
	 * correctness either way; this only stops carrying a dead copy. */
	if (h->ephemeral)
		ccache_drop(&c->cache, h->path, strlen(h->path));
	if (h->prev != NULL)
		h->prev->next = h->next;
	else if (c->handles == h)
		c->handles = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	/* Async calls on H still in flight or queued outlive it: their
	 * completions are told NULL for the handle. */
	if (c->async) {
		for (struct creq *r = c->reqs; r != NULL; r = r->next)
			if (r->ah == h)
				r->ah = NULL;
		for (struct cevent *e = c->ev_head; e != NULL; e = e->next)
			if (e->req != NULL && e->req->ah == h)
				e->req->ah = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	free(h->path);
	free(h);
}

int
chubby_handle_close(chubby_handle *h)
{
	struct chubby_client *c;
	struct rb b;
	int rc;

	if (h == NULL)
		return CHUBBY_OK;
	c = h->c;
	if (c->async) {
		/* Refused, and H kept: chubby_handle_close_async closes it. */
		lasterr_set(CHUBBY_E_INVALID, "%s: a blocking call on a client from "
		    "chubby_open_async; use chubby_handle_close_async", h->path);
		return CHUBBY_E_INVALID;
	}
	if ((rc = cl_handle_req(h, &b, PROTO_OP_CLOSE)) == CHUBBY_OK)
		rc = cl_simple(c, &b, c->call_timeout_ms, h->path);
	cl_handle_forget(h);
	return rc;
}

int
chubby_poison(chubby_handle *h)
{
	struct rb b;
	int rc;

	if ((rc = cl_handle_req(h, &b, PROTO_OP_POISON)) != CHUBBY_OK)
		return rc;
	rc = cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
	if (rc == CHUBBY_OK)
		h->poisoned = true;
	return rc;
}

const char *
chubby_handle_path(const chubby_handle *h)
{
	return h != NULL ? h->path : NULL;
}

/* A GET_CONTENTS of H asking to cache what it reads (the blocking and the
 * async call both send it). */
int
cl_build_get_contents(chubby_handle *h, struct rb *b)
{
	int rc;

	if ((rc = cl_handle_req(h, b, PROTO_OP_GET_CONTENTS)) != CHUBBY_OK)
		return rc;
	rb_bool(b, "cache", true);
	if ((b->r->cache_path = strdup(h->path)) == NULL) {
		cl_req_free(b->r);
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", h->path);
		return CHUBBY_E_NOMEM;
	}
	return CHUBBY_OK;
}

int
chubby_get_contents(chubby_handle *h, void **data, size_t *len, struct chubby_stat *st)
{
	struct chubby_client *c;
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if (data == NULL || len == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_get_contents: NULL argument");
		return CHUBBY_E_INVALID;
	}
	c = h->c;
	*data = NULL;
	*len = 0;
	if (c->async) {
		/* Even a cached answer: one rule for every blocking call. */
		lasterr_set(CHUBBY_E_INVALID, "%s: a blocking call on a client from "
		    "chubby_open_async; use chubby_get_contents_async", h->path);
		return CHUBBY_E_INVALID;
	}
	if (h->poisoned) {
		lasterr_set(CHUBBY_E_CANCELLED, "%s: the handle is poisoned", h->path);
		return CHUBBY_E_CANCELLED;
	}
	/* Chubby 2.9: a valid cached copy answers without a round trip; not
	 * for a handle the master would refuse (no read intent) or must check
	 * (a sequencer is attached to it).  Valid means the local lease holds
	 * by the clock now, under the mutex: the state flag lags (only the
	 * loop thread moves it), and this thread may be the first to run
	 * after the process was stopped past its lease. */
	pthread_mutex_lock(&c->mu);
	rc = CHUBBY_E_NOT_FOUND;
	if (csess_cache_usable(c->cs, cl_now()) && !c->closing && (h->flags & CHUBBY_O_READ) &&
	    !h->has_sequencer)
		rc = ccache_get(&c->cache, h->path, h->instance, data, len, st);
	pthread_mutex_unlock(&c->mu);
	if (rc == CHUBBY_OK)
		return CHUBBY_OK;
	if (rc == CHUBBY_E_NOMEM) {
		lasterr_set(rc, "%s: out of memory", h->path);
		return rc;
	}

	if ((rc = cl_build_get_contents(h, &b)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_call(c, &b, c->call_timeout_ms, h->path, &r)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	rc = cl_res_contents(r, data, len, st, h->path);
	cl_req_free(r);
	return rc;
}

int
chubby_get_stat(chubby_handle *h, struct chubby_stat *st)
{
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_handle_req(h, &b, PROTO_OP_GET_STAT)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_call(h->c, &b, h->c->call_timeout_ms, h->path, &r)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	if ((rc = cl_stat_from(r, "stat", st, h->path)) != CHUBBY_OK)
		return rc;
	cl_req_free(r);
	return CHUBBY_OK;
}

void
chubby_free_names(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
cl_res_names(const struct creq *r, char ***names, size_t *n, const char *what)
{
	const msgpack_object *arr = NULL;
	char **v;

	*names = NULL;
	*n = 0;
	if (mp_get_array(cl_result(r), "names", MP_REQUIRED, &arr, NULL, 0) != CHUBBY_OK)
		goto bad;
	if ((v = calloc(arr->via.array.size + 1, sizeof *v)) == NULL) {
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", what);
		return CHUBBY_E_NOMEM;
	}
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		struct mp_str s;
		if (mp_val_str(&arr->via.array.ptr[i], "name", &s, NULL, 0) != CHUBBY_OK) {
			chubby_free_names(v, i);
			goto bad;
		}
		if ((v[i] = malloc(s.len + 1)) == NULL) {
			chubby_free_names(v, i);
			lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", what);
			return CHUBBY_E_NOMEM;
		}
		memcpy(v[i], s.ptr, s.len);
		v[i][s.len] = '\0';
	}
	*names = v;
	*n = arr->via.array.size;
	return CHUBBY_OK;
bad:
	lasterr_set(CHUBBY_E_MALFORMED, "%s: the server's answer to %s is malformed", what,
	    proto_op_name(r->op));
	return CHUBBY_E_MALFORMED;
}

int
chubby_readdir(chubby_handle *h, char ***names, size_t *n)
{
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if (names == NULL || n == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_readdir: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*names = NULL;
	*n = 0;
	if ((rc = cl_handle_req(h, &b, PROTO_OP_READDIR)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_call(h->c, &b, h->c->call_timeout_ms, h->path, &r)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	rc = cl_res_names(r, names, n, h->path);
	cl_req_free(r);
	return rc;
}

/* Drops our cached copy of H's node before a write to it: the master
 * would invalidate it too, but our own next read must not wait for that. */
void
cl_own_write(chubby_handle *h)
{
	pthread_mutex_lock(&h->c->mu);
	ccache_drop(&h->c->cache, h->path, strlen(h->path));
	pthread_mutex_unlock(&h->c->mu);
}

int
cl_build_set_contents(chubby_handle *h, const void *data, size_t len, bool cas,
    uint64_t expected_gen, bool record, struct rb *b)
{
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if (data == NULL && len != 0) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_set_contents: NULL data");
		return CHUBBY_E_INVALID;
	}
	if ((rc = cl_handle_req(h, b, PROTO_OP_SET_CONTENTS)) != CHUBBY_OK)
		return rc;
	rb_bin(b, "contents", data, len);
	if (cas)
		rb_uint(b, "expected_gen", expected_gen);
	/* Sent only when set: a plain write is the request it always was. */
	if (record)
		rb_bool(b, "lock_record", true);
	return CHUBBY_OK;
}

static int
cl_set_contents(chubby_handle *h, const void *data, size_t len, bool cas, uint64_t expected_gen,
    bool record, struct chubby_stat *st)
{
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_build_set_contents(h, data, len, cas, expected_gen, record, &b)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	rc = cl_call(h->c, &b, h->c->call_timeout_ms, h->path, &r);
	cl_own_write(h);
	if (rc != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	if ((rc = cl_stat_from(r, "stat", st, h->path)) != CHUBBY_OK)
		return rc;
	cl_req_free(r);
	return CHUBBY_OK;
}

int
chubby_set_contents(chubby_handle *h, const void *data, size_t len, struct chubby_stat *st)
{
	return cl_set_contents(h, data, len, false, 0, false, st);
}

int
chubby_set_lock_record(chubby_handle *h, const void *data, size_t len, struct chubby_stat *st)
{
	return cl_set_contents(h, data, len, false, 0, true, st);
}

int
chubby_set_contents_if(chubby_handle *h, const void *data, size_t len, uint64_t expected_gen,
    struct chubby_stat *st)
{
	return cl_set_contents(h, data, len, true, expected_gen, false, st);
}

int
chubby_set_acl(chubby_handle *h, const char *const acl[3])
{
	return chubby_set_acl_flags(h, acl, 0);
}

int
cl_build_set_acl(chubby_handle *h, const char *const acl[3], unsigned flags, struct rb *b)
{
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if (acl == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_set_acl: NULL acl");
		return CHUBBY_E_INVALID;
	}
	if ((flags & ~(unsigned)CHUBBY_ACL_ALLOW_OPEN_CHANGE) != 0) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_set_acl_flags: unknown flags 0x%x", flags);
		return CHUBBY_E_INVALID;
	}
	if ((rc = cl_handle_req(h, b, PROTO_OP_SET_ACL)) != CHUBBY_OK)
		return rc;
	rb_acl(b, acl);
	/* Sent only when set, so an older master sees the request it knows. */
	if (flags & CHUBBY_ACL_ALLOW_OPEN_CHANGE)
		rb_bool(b, "allow_open_change", true);
	return CHUBBY_OK;
}

int
chubby_set_acl_flags(chubby_handle *h, const char *const acl[3], unsigned flags)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_set_acl(h, acl, flags, &b)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	rc = cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
	cl_own_write(h);
	return rc;
}

int
chubby_delete(chubby_handle *h)
{
	struct rb b;
	int rc;

	if ((rc = cl_handle_req(h, &b, PROTO_OP_DELETE)) != CHUBBY_OK)
		return rc;
	cl_own_write(h);
	rc = cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
	cl_own_write(h);
	return rc;
}

/* ---- locks ---- */

int
cl_check_mode(int mode)
{
	if (mode != CHUBBY_LOCK_SHARED && mode != CHUBBY_LOCK_EXCLUSIVE) {
		lasterr_set(CHUBBY_E_INVALID, "lock mode %d: expected CHUBBY_LOCK_SHARED (1) or "
					      "CHUBBY_LOCK_EXCLUSIVE (2)", mode);
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
cl_build_acquire(chubby_handle *h, int mode, unsigned timeout_ms, struct rb *b)
{
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK || (rc = cl_check_mode(mode)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_handle_req(h, b, PROTO_OP_ACQUIRE)) != CHUBBY_OK)
		return rc;
	rb_uint(b, "mode", (uint64_t)mode);
	if (timeout_ms != 0) {
		/* The master waits what is left of TIMEOUT_MS each time the
		 * request is sent (client_loop.c); we wait a little longer for
		 * its answer. */
		b->r->acquire_timeout = true;
		b->r->acquire_deadline = cl_now() + timeout_ms;
	}
	return CHUBBY_OK;
}

int
chubby_acquire(chubby_handle *h, int mode, unsigned timeout_ms)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_acquire(h, mode, timeout_ms, &b)) != CHUBBY_OK)
		return rc;
	return cl_simple(h->c, &b, timeout_ms ? (uint64_t)timeout_ms + CL_ACQUIRE_SLACK_MS : 0,
	    h->path);
}

int
chubby_try_acquire(chubby_handle *h, int mode)
{
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK || (rc = cl_check_mode(mode)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_handle_req(h, &b, PROTO_OP_TRY_ACQUIRE)) != CHUBBY_OK)
		return rc;
	rb_uint(&b, "mode", (uint64_t)mode);
	return cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
}

int
chubby_release(chubby_handle *h)
{
	struct rb b;
	int rc;

	if ((rc = cl_handle_req(h, &b, PROTO_OP_RELEASE)) != CHUBBY_OK)
		return rc;
	return cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
}

int
chubby_get_sequencer(chubby_handle *h, void **seq, size_t *len)
{
	const void *bin = NULL;
	struct creq *r;
	struct rb b;
	int rc;

	if ((rc = cl_check_handle(h)) != CHUBBY_OK)
		return rc;
	if (seq == NULL || len == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_get_sequencer: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*seq = NULL;
	*len = 0;
	if ((rc = cl_handle_req(h, &b, PROTO_OP_GET_SEQUENCER)) != CHUBBY_OK)
		return rc;
	if ((rc = cl_call(h->c, &b, h->c->call_timeout_ms, h->path, &r)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	if ((rc = cl_res_sequencer(r, &bin, len, h->path)) != CHUBBY_OK) {
		cl_req_free(r);
		return rc;
	}
	if ((*seq = malloc(*len ? *len : 1)) == NULL) {
		*len = 0;
		cl_req_free(r);
		lasterr_set(CHUBBY_E_NOMEM, "%s: out of memory", h->path);
		return CHUBBY_E_NOMEM;
	}
	memcpy(*seq, bin, *len);
	cl_req_free(r);
	return CHUBBY_OK;
}

int
cl_build_set_sequencer(chubby_handle *h, const void *seq, size_t len, struct rb *b)
{
	int rc;

	if ((rc = cl_handle_req(h, b, PROTO_OP_SET_SEQUENCER)) != CHUBBY_OK)
		return rc;
	if (seq != NULL)
		rb_bin(b, "sequencer", seq, len);
	else
		rb_nil(b, "sequencer");
	return CHUBBY_OK;
}

int
chubby_set_sequencer(chubby_handle *h, const void *seq, size_t len)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_set_sequencer(h, seq, len, &b)) != CHUBBY_OK)
		return rc;
	rc = cl_simple(h->c, &b, h->c->call_timeout_ms, h->path);
	if (rc == CHUBBY_OK)
		h->has_sequencer = seq != NULL;
	return rc;
}

int
cl_build_check_sequencer(chubby_client *c, const void *seq, size_t len, struct rb *b)
{
	int rc;

	lasterr_clear();
	if (c == NULL || seq == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_check_sequencer: NULL argument");
		return CHUBBY_E_INVALID;
	}
	if ((rc = rb_new(b, PROTO_OP_CHECK_SEQUENCER)) != CHUBBY_OK)
		return rc;
	b->r->no_session = true;
	rb_bin(b, "sequencer", seq, len);
	return CHUBBY_OK;
}

int
chubby_check_sequencer(chubby_client *c, const void *seq, size_t len)
{
	struct rb b;
	int rc;

	if ((rc = cl_build_check_sequencer(c, seq, len, &b)) != CHUBBY_OK)
		return rc;
	return cl_simple(c, &b, c->call_timeout_ms, "sequencer");
}

/* ---- leader election (Chubby 2.1: the primary's identity in a locked file) ---- */

/*
 * The leader record an election writes into the lock file (the format
 * `lockctl lock --elect` writes too, docs/CLIENT.md "Leader election"):
 * IDENTITY alone on its first line, then "lock_generation N": the
 * generation of the lock it was written under.  It is written as a lock
 * record (chubby_set_lock_record): the cell empties the file when that
 * lock is freed, however (a release, a close, the session's end, a
 * crash).  A reader names a leader only while the lock is held
 * exclusively at that generation, so that a record left by a cell that
 * does not clear them (older than lock records) is never reported either.
 */
#define LEADER_GEN_PREFIX "lock_generation "

/* Splits a leader record: IDENTITY (truncated in place) and *GEN; false if
 * DATA (LEN bytes, NUL-terminated) is not one (a bare identity). */
bool
cl_leader_record_parse(char *data, size_t len, uint64_t *gen)
{
	size_t pl = strlen(LEADER_GEN_PREFIX);
	char *nl = memchr(data, '\n', len), *end;
	unsigned long long v;

	if (len < pl + 3 || data[len - 1] != '\n' || nl == NULL || nl == data ||
	    (size_t)(data + len - (nl + 1)) < pl + 2 || memcmp(nl + 1, LEADER_GEN_PREFIX, pl) != 0)
		return false;
	errno = 0;
	v = strtoull(nl + 1 + pl, &end, 10);
	if (errno != 0 || end != data + len - 1 || end == nl + 1 + pl)
		return false;
	*gen = v;
	*nl = '\0';
	return true;
}

char *
cl_leader_record(const char *identity, uint64_t lock_gen, size_t *len)
{
	size_t n = strlen(identity) + sizeof LEADER_GEN_PREFIX + 24;
	char *rec = malloc(n);

	if (rec != NULL)
		*len = (size_t)snprintf(rec, n, "%s\n" LEADER_GEN_PREFIX "%llu\n", identity,
		    (unsigned long long)lock_gen);
	return rec;
}

int
cl_check_elect(const chubby_client *c, const char *path, const char *identity, const char *call)
{
	lasterr_clear();
	if (c == NULL || path == NULL || identity == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: NULL argument", call);
		return CHUBBY_E_INVALID;
	}
	if (strchr(identity, '\n') != NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: the identity holds a newline (it is the "
					      "first line of the leader record)", call);
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

int
chubby_elect(chubby_client *c, const char *path, const char *identity, unsigned timeout_ms,
    chubby_handle **out)
{
	struct chubby_stat st;
	char *rec = NULL;
	size_t reclen = 0;
	chubby_handle *h;
	int rc;

	if ((rc = cl_check_elect(c, path, identity, "chubby_elect")) != CHUBBY_OK)
		return rc;
	if (out == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_elect: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*out = NULL;
	rc = chubby_handle_open(c, path, CHUBBY_O_READ | CHUBBY_O_WRITE | CHUBBY_O_CREATE, NULL,
	    &h, NULL);
	if (rc != CHUBBY_OK)
		return rc;
	if ((rc = chubby_acquire(h, CHUBBY_LOCK_EXCLUSIVE, timeout_ms)) == CHUBBY_OK &&
	    (rc = chubby_get_stat(h, &st)) == CHUBBY_OK) {
		if ((rec = cl_leader_record(identity, st.lock_gen, &reclen)) == NULL)
			rc = CHUBBY_E_NOMEM;
	}
	if (rc == CHUBBY_OK)
		rc = chubby_set_lock_record(h, rec, reclen, NULL);
	free(rec);
	if (rc != CHUBBY_OK) {
		char keep[512];
		snprintf(keep, sizeof keep, "%s", chubby_last_error());
		chubby_handle_close(h); /* steps down too, if the write failed */
		lasterr_set(rc, "%s", keep);
		return rc;
	}
	*out = h;
	return CHUBBY_OK;
}

int
chubby_leader(chubby_client *c, const char *path, char **identity, chubby_handle **watch)
{
	struct chubby_open_args oa;
	struct chubby_stat st;
	chubby_handle *h;
	void *data;
	size_t len;
	int rc;

	lasterr_clear();
	if (c == NULL || path == NULL || identity == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_leader: NULL argument");
		return CHUBBY_E_INVALID;
	}
	*identity = NULL;
	if (watch != NULL)
		*watch = NULL;
	memset(&oa, 0, sizeof oa);
	if (watch != NULL)
		oa.event_mask = CHUBBY_EVMASK(CHUBBY_EV_CONTENTS_MODIFIED) |
		    CHUBBY_EVMASK(CHUBBY_EV_LOCK_ACQUIRED);
	if ((rc = chubby_handle_open(c, path, CHUBBY_O_READ, &oa, &h, NULL)) != CHUBBY_OK)
		return rc;
	/* Lock state is never cached: ask the master whether anyone leads. */
	if ((rc = chubby_get_stat(h, &st)) != CHUBBY_OK)
		goto fail;
	if (st.lock_mode == CHUBBY_LOCK_EXCLUSIVE) {
		uint64_t gen;

		if ((rc = chubby_get_contents(h, &data, &len, NULL)) != CHUBBY_OK)
			goto fail;
		*identity = data; /* NUL-terminated by chubby_get_contents */
		/* A leader record of another generation names a leader that is
		 * gone: the holder now has not written its own yet.  Nor does
		 * an empty file name anyone (the cell clears a record when its
		 * lock is freed; lockctl leader says "no leader" too). */
		if (len == 0 || (cl_leader_record_parse(data, len, &gen) && gen != st.lock_gen)) {
			free(data);
			*identity = NULL;
		}
	}
	if (watch != NULL)
		*watch = h;
	else
		chubby_handle_close(h);
	lasterr_clear();
	return CHUBBY_OK;
fail: {
	char keep[512];
	snprintf(keep, sizeof keep, "%s", chubby_last_error());
	chubby_handle_close(h);
	lasterr_set(rc, "%s", keep);
	return rc;
}
}
