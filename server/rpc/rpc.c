/* rpc.c: the client port: accept, HELLO/WELCOME, and the request dispatch table. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <chubby/chubby.h>

#include "chubbyd.h"
#include "cellconfig.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "mp.h"
#include "net.h"
#include "ns/ns.h"
#include "paxos/paxos.h"
#include "protocol.h"
#include "replica.h"
#include "mirror/mirror.h"
#include "rpc.h"
#include "rpc/audit.h"
#include "rpc/rpc_backup.h"
#include "rpc/rpc_ns.h"
#include "session/session.h"
#include "status/reqstats.h"
#include "status/status.h"
#include "tp.h"
#include "wire.h"
#include "xmalloc.h"

/* Before HELLO a connection must finish its handshake and say who it is
 * quickly; a silent or half-sent peer (slowloris) is dropped. */
#define RPC_HELLO_TIMEOUT_MS 10000
/* After HELLO: KeepAlives keep a live client well inside this. */
#define RPC_IDLE_TIMEOUT_MS 120000

struct rpc_req {
	struct chubbyd *d;
	struct rpc_client *c; /* NULL once the client is gone */
	uint64_t id;
	uint32_t op;
	uint64_t t0_us; /* when it arrived (clock_mono_us): its latency */
	struct rpc_req *next, *prev; /* the client's deferred requests */
	/* The audit trail (rpc_req_audit): owned by the request; a deferred
	 * copy also keeps who asked, for a reply after the client has gone. */
	bool audit;
	char *audit_path, *audit_extra;
	char *who, *remote;
	/* A request of a proxy session: the principal of the client the
	 * proxy acts for, audited as "principal" (the proxy as "proxy"). */
	char *acting_for;
};

struct rpc_client {
	struct rpc *rpc;
	struct rpc_req *deferred;
	struct conn *conn;
	struct rpc_client *next, *prev;
	int hello_done;
	char name[WIRE_MAX_NAME + 1];
	uint64_t requests;
};

struct rpc {
	struct chubbyd *d;
	struct evconnlistener *listener;
	struct rpc_client *clients;
	size_t nclients;
	uint64_t accepted, refused;
	uint64_t bytes_in, bytes_out, requests;
	uint64_t session_starts; /* SESSION_STARTs received: a load signal of the lease */
	struct wire_buf out; /* scratch for one outgoing frame */
	struct reqstats reqs; /* by op and status, latency by op (/metrics) */
};

static int rpc_op_status(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);
static int rpc_op_where(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);
static int rpc_op_sync(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);
static int rpc_op_members(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);
static int rpc_op_handoff(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);
static int rpc_op_reload(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);

/* The dispatch table of the cell's own operations; Chubby's calls are in
 * rpc_ns.c's table (rpc_ns_handler). */
static const struct rpc_op {
	uint32_t op;
	rpc_handler fn;
} rpc_ops[] = {
    {PROTO_OP_STATUS, rpc_op_status},
    {PROTO_OP_WHERE_IS_MASTER, rpc_op_where},
    {PROTO_OP_SYNC, rpc_op_sync},
    {PROTO_OP_MEMBERS, rpc_op_members},
    {PROTO_OP_MASTER_HANDOFF, rpc_op_handoff},
    {PROTO_OP_RELOAD, rpc_op_reload},
    {PROTO_OP_SNAPSHOT, rpc_op_snapshot},
};

static rpc_handler
rpc_find_op(uint32_t op)
{
	for (size_t i = 0; i < sizeof rpc_ops / sizeof rpc_ops[0]; i++)
		if (rpc_ops[i].op == op)
			return rpc_ops[i].fn;
	return rpc_ns_handler(op);
}

struct chubbyd *
rpc_client_daemon(const struct rpc_client *c)
{
	return c->rpc->d;
}

size_t
rpc_client_count(const struct rpc *r)
{
	return r->nclients;
}

void
rpc_stats(const struct rpc *r, struct rpc_stats *out)
{
	out->connections = r->nclients;
	out->accepted = r->accepted;
	out->refused = r->refused;
	out->requests = r->requests;
	out->session_starts = r->session_starts;
	out->bytes_in = r->bytes_in;
	out->bytes_out = r->bytes_out;
}

const struct reqstats *
rpc_reqstats(const struct rpc *r)
{
	return &r->reqs;
}

static void
rpc_client_free(struct rpc_client *c)
{
	struct rpc *r = c->rpc;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		r->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	r->nclients--;
	/* Deferred requests outlive us; their replies go nowhere. */
	for (struct rpc_req *q = c->deferred; q != NULL; q = q->next)
		q->c = NULL;
	conn_free(c->conn);
	free(c);
}

/* Sends what r->out holds to C; on failure closes C. */
static void
rpc_flush(struct rpc_client *c)
{
	struct rpc *r = c->rpc;

	r->bytes_out += r->out.len;
	if (r->out.len > 0 && conn_send(c->conn, r->out.data, r->out.len) != CHUBBY_OK)
		conn_close_after_flush(c->conn, CHUBBY_E_CONN, "send failed");
	wire_buf_reset(&r->out);
}

/* Tells C what was wrong with the connection and closes it. */
static void
rpc_fail(struct rpc_client *c, int status, const char *message)
{
	struct rpc *r = c->rpc;

	log_info("client %s (%s): %s: %s; closing", conn_remote(c->conn), conn_peer(c->conn)->name,
	    chubby_status_name(status), message);
	wire_buf_reset(&r->out);
	if (wire_put_error(&r->out, 0, status, message) == CHUBBY_OK)
		rpc_flush(c);
	conn_close_after_flush(c->conn, status, message);
}

/* An error answer; RESULT (packed msgpack, or NULL for nil) says more
 * (docs/PROTOCOL.md "Error results"). */
static void
rpc_reply_error_result(struct rpc_client *c, uint64_t id, int status, const char *message,
    const void *result, size_t len)
{
	struct rpc *r = c->rpc;
	msgpack_packer *pk;

	wire_buf_reset(&r->out);
	pk = wire_begin_res(&r->out, id, status, message);
	if (result != NULL && len > 0)
		wire_pack_raw(pk, result, len);
	else
		msgpack_pack_nil(pk);
	if (wire_finish(&r->out) != CHUBBY_OK) {
		rpc_fail(c, CHUBBY_E_INTERNAL, "cannot encode error reply");
		return;
	}
	rpc_flush(c);
}

static void
rpc_reply_error(struct rpc_client *c, uint64_t id, int status, const char *message)
{
	struct rpc *r = c->rpc;

	wire_buf_reset(&r->out);
	if (wire_put_error(&r->out, id, status, message) != CHUBBY_OK) {
		rpc_fail(c, CHUBBY_E_INTERNAL, "cannot encode error reply");
		return;
	}
	rpc_flush(c);
}

size_t
rpc_close_revoked(struct rpc *r)
{
	struct rpc_client *c, *next;
	char why[512];
	size_t n = 0;

	if (r == NULL)
		return 0;
	for (c = r->clients; c != NULL; c = next) {
		next = c->next;
		if (!conn_peer_revoked(c->conn, why, sizeof why))
			continue;
		/* rpc_fail logs the principal and the reason, and tells the
		 * client before closing (the close waits for the flush). */
		rpc_fail(c, CHUBBY_E_AUTH, why);
		n++;
	}
	return n;
}

static void
rpc_handle_hello(struct rpc_client *c, const struct wire_msg *m)
{
	struct rpc *r = c->rpc;
	struct chubbyd *d = r->d;
	size_t n = m->hello.name.len < sizeof c->name - 1 ? m->hello.name.len : sizeof c->name - 1;

	if (wire_check_version(m->hello.version) != CHUBBY_OK) {
		wire_buf_reset(&r->out);
		if (wire_put_version_error(&r->out, m->hello.version) == CHUBBY_OK)
			rpc_flush(c);
		conn_close_after_flush(c->conn, CHUBBY_E_VERSION, "unsupported protocol version");
		return;
	}
	memcpy(c->name, m->hello.name.ptr, n);
	c->name[n] = '\0';
	c->hello_done = 1;
	conn_set_idle_timeout(c->conn, RPC_IDLE_TIMEOUT_MS);
	wire_buf_reset(&r->out);
	if (wire_put_welcome(&r->out, PROTO_VERSION, d->cfg->cell, d->id,
		(uint32_t)d->cfg->max_frame) != CHUBBY_OK) {
		rpc_fail(c, CHUBBY_E_INTERNAL, "cannot encode WELCOME");
		return;
	}
	rpc_flush(c);
	log_debug("client %s: HELLO from \"%s\" as %s %s", conn_remote(c->conn), c->name,
	    tp_kind_name(conn_peer(c->conn)->kind), conn_peer(c->conn)->name);
}

static void rpc_audit_free(struct rpc_req *req);

/* Writes REQ's audit line (audit.h) if it was marked for one or was
 * refused E_PERMISSION; then frees what the request kept for it. */
static void
rpc_audit_done(struct rpc_req *req, int status, const char *msg)
{
	const char *who = req->who, *remote = req->remote;

	if (req->c != NULL) {
		who = conn_peer(req->c->conn)->name;
		remote = conn_remote(req->c->conn);
	}
	if (req->audit || status == CHUBBY_E_PERMISSION) {
		char extra[512] = "";
		const char *ex = req->audit_extra;
		if (req->acting_for != NULL && who != NULL) {
			/* principal=CLIENT proxy=PROXY, then the handler's keys. */
			audit_kv(extra, sizeof extra, "proxy", who);
			if (ex != NULL)
				snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%s", ex);
			ex = extra;
			who = req->acting_for;
		}
		audit_log(proto_op_name(req->op), who, remote, req->audit_path, status, ex,
		    status != CHUBBY_OK ? msg : NULL);
	}
	rpc_audit_free(req);
}

static void
rpc_audit_free(struct rpc_req *req)
{
	free(req->audit_path);
	free(req->audit_extra);
	free(req->who);
	free(req->remote);
	free(req->acting_for);
	req->audit_path = req->audit_extra = req->who = req->remote = req->acting_for = NULL;
}

/* Notes whom a request of a proxy session acts for (its audit line): only
 * in a cell that lists proxies, so that others pay no lookup. */
static void
rpc_audit_acting_for(struct rpc_req *req, const msgpack_object *args)
{
	const char *px = req->d->cfg->proxies, *who;
	uint64_t session = 0;
	char m[64];

	if (px == NULL || px[0] == '\0' || args == NULL || req->d->replica == NULL ||
	    mp_get_uint(args, "session", MP_OPTIONAL, &session, m, sizeof m) != CHUBBY_OK ||
	    session == 0 || !ns_session_is_proxy(replica_ns(req->d->replica), session))
		return;
	if ((who = ns_session_principal(replica_ns(req->d->replica), session)) != NULL)
		req->acting_for = xstrdup(who);
}

/* The node a refused request named, for its audit line: its "path", or
 * the name its handle opened. */
static void
rpc_audit_path_of(struct rpc_req *req, const msgpack_object *args)
{
	struct mp_str p = {NULL, 0};
	uint64_t session = 0, handle = 0;
	char m[64];
	const char *hp;

	if (req->audit_path != NULL || args == NULL)
		return;
	if (mp_get_str(args, "path", MP_OPTIONAL, &p, m, sizeof m) == CHUBBY_OK && p.ptr != NULL) {
		req->audit_path = xstrndup(p.ptr, p.len);
		return;
	}
	if (req->d->replica == NULL ||
	    mp_get_uint(args, "session", MP_OPTIONAL, &session, m, sizeof m) != CHUBBY_OK ||
	    mp_get_uint(args, "handle", MP_OPTIONAL, &handle, m, sizeof m) != CHUBBY_OK ||
	    handle == 0)
		return;
	if ((hp = ns_handle_path(replica_ns(req->d->replica), session, handle, NULL)) != NULL)
		req->audit_path = xstrdup(hp);
}

/* Counts a request answered STATUS now, by op and status, with its
 * latency (for a deferred one, from its arrival to its answer: a held
 * ACQUIRE or KeepAlive counts all the time it was held). */
static void
rpc_count(struct rpc *r, const struct rpc_req *req, int status)
{
	uint64_t now = clock_mono_us();

	reqstats_note(&r->reqs, req->op, status, now > req->t0_us ? now - req->t0_us : 0);
}

static void
rpc_handle_req(struct rpc_client *c, const struct wire_msg *m)
{
	struct rpc *r = c->rpc;
	rpc_handler op = rpc_find_op(m->req.op);
	struct rpc_req req = {
	    .d = r->d, .c = c, .id = m->req.id, .op = m->req.op, .t0_us = clock_mono_us()};
	msgpack_sbuffer result;
	msgpack_packer pk;
	char msg[256] = "";
	int rc;

	c->requests++;
	r->requests++;
	/* Counted on arrival, not answer: a burst queued behind the log is
	 * load already (common/lease_ctl.h). */
	if (m->req.op == PROTO_OP_SESSION_START)
		r->session_starts++;
	if (op == NULL) {
		snprintf(msg, sizeof msg, "operation %s (%u) is not served by this replica",
		    proto_op_name(m->req.op), (unsigned)m->req.op);
		rpc_reply_error(c, m->req.id, CHUBBY_E_BAD_OP, msg);
		rpc_count(r, &req, CHUBBY_E_BAD_OP);
		return;
	}
	/* The handler packs into a scratch buffer so that a failure halfway
	 * leaves nothing half-packed in the reply. */
	msgpack_sbuffer_init(&result);
	msgpack_packer_init(&pk, &result, msgpack_sbuffer_write);
	rpc_audit_acting_for(&req, m->req.args);
	rc = op(&req, m->req.args, &pk, msg, sizeof msg);
	if (rc == RPC_DEFERRED) {
		msgpack_sbuffer_destroy(&result);
		rpc_audit_free(&req); /* the deferred copy owns the rest, and logs */
		return;
	}
	rpc_count(r, &req, rc);
	if (rc == CHUBBY_E_PERMISSION)
		rpc_audit_path_of(&req, m->req.args);
	rpc_audit_done(&req, rc, msg[0] ? msg : chubby_strerror(rc));
	if (rc != CHUBBY_OK) {
		/* A handler may pack a map that says more about the error. */
		rpc_reply_error_result(c, m->req.id, rc, msg[0] ? msg : chubby_strerror(rc),
		    result.data, result.size);
		msgpack_sbuffer_destroy(&result);
		return;
	}
	wire_buf_reset(&r->out);
	msgpack_packer *out = wire_begin_res(&r->out, m->req.id, CHUBBY_OK, NULL);
	if (wire_pack_raw(out, result.data, result.size) != 0 ||
	    (rc = wire_finish(&r->out)) != CHUBBY_OK) {
		msgpack_sbuffer_destroy(&result);
		rpc_reply_error(c, m->req.id, rc == CHUBBY_E_FRAME_TOO_BIG ? rc : CHUBBY_E_INTERNAL,
		    "cannot encode the reply");
		return;
	}
	msgpack_sbuffer_destroy(&result);
	rpc_flush(c);
}

static void
rpc_on_frame(struct conn *conn, const uint8_t *body, size_t len, void *arg)
{
	struct rpc_client *c = arg;
	struct wire_msg m;
	char err[256];
	int rc;

	(void)conn;
	c->rpc->bytes_in += len + 4;
	rc = wire_decode(body, len, &m, err, sizeof err);
	if (rc != CHUBBY_OK) {
		rpc_fail(c, rc, err);
		return;
	}
	if (!c->hello_done) {
		if (m.kind == PROTO_KIND_HELLO)
			rpc_handle_hello(c, &m);
		else
			rpc_fail(c, CHUBBY_E_MALFORMED, "the first message must be HELLO");
	} else if (m.kind == PROTO_KIND_REQ) {
		rpc_handle_req(c, &m);
	} else {
		snprintf(err, sizeof err, "a client may not send %s here", proto_kind_name(m.kind));
		rpc_fail(c, CHUBBY_E_MALFORMED, err);
	}
	wire_msg_free(&m);
}

static void
rpc_on_open(struct conn *conn, void *arg)
{
	(void)arg;
	log_debug("client %s: connected as %s %s", conn_remote(conn),
	    tp_kind_name(conn_peer(conn)->kind), conn_peer(conn)->name);
}

static void
rpc_on_close(struct conn *conn, int status, const char *reason, void *arg)
{
	struct rpc_client *c = arg;

	if (status == CHUBBY_E_TLS || status == CHUBBY_E_AUTH)
		log_info("client %s: refused: %s", conn_remote(conn), reason);
	else
		log_debug("client %s: closed: %s", conn_remote(conn), reason);
	rpc_client_free(c);
}

static void
rpc_on_bad_frame(struct conn *conn, int status, const char *reason, void *arg)
{
	(void)conn;
	rpc_fail(arg, status, reason);
}

static const struct conn_callbacks rpc_conn_cb = {
    .on_open = rpc_on_open,
    .on_frame = rpc_on_frame,
    .on_close = rpc_on_close,
    .on_bad_frame = rpc_on_bad_frame,
};

static void
rpc_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct rpc *r = arg;
	struct chubbyd *d = r->d;
	struct bufferevent *bev;
	struct rpc_client *c;

	(void)l;
	(void)sa;
	(void)salen;
	if (r->nclients >= d->cfg->max_connections) {
		/* Refuse before spending a TLS handshake on it. */
		r->refused++;
		log_warn("client port: %zu connections already, refusing one more", r->nclients);
		evutil_closesocket(fd);
		return;
	}
	bev = tp_accept(d->tp_accept, d->base, fd);
	if (bev == NULL) {
		log_warn("client port: cannot set up a connection: %s", strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->rpc = r;
	c->conn = conn_new(d->tp_accept, bev, 1, d->cfg->max_frame, &rpc_conn_cb, c);
	if (c->conn == NULL) {
		free(c);
		return;
	}
	conn_set_idle_timeout(c->conn, RPC_HELLO_TIMEOUT_MS);
	conn_set_frame_timeout(c->conn, (unsigned)d->cfg->frame_timeout_ms);
	c->next = r->clients;
	if (r->clients != NULL)
		r->clients->prev = c;
	r->clients = c;
	r->nclients++;
	r->accepted++;
}

static void
rpc_listener_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	/* EMFILE and friends: keep serving the connections we have. */
	log_warn("client port: accept failed: %s", evutil_socket_error_to_string(e));
}

struct rpc *
rpc_new(struct chubbyd *d)
{
	struct rpc *r = xcalloc(1, sizeof *r);

	r->d = d;
	wire_buf_init(&r->out, d->cfg->max_frame);
	return r;
}

int
rpc_listen(struct rpc *r, const char *hostport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen;

	if (net_resolve(hostport, &ss, &sslen, err, errlen) != CHUBBY_OK)
		return CHUBBY_E_CONFIG;
	r->listener = evconnlistener_new_bind(r->d->base, rpc_accept_cb, r,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512,
	    (struct sockaddr *)&ss, sslen);
	if (r->listener == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
		return CHUBBY_E_IO;
	}
	evconnlistener_set_error_cb(r->listener, rpc_listener_error_cb);
	return CHUBBY_OK;
}

void
rpc_free(struct rpc *r)
{
	if (r == NULL)
		return;
	while (r->clients != NULL)
		rpc_client_free(r->clients);
	if (r->listener != NULL)
		evconnlistener_free(r->listener);
	wire_buf_free(&r->out);
	free(r);
}

/* --- deferred requests -------------------------------------------------- */

struct rpc_req *
rpc_req_defer(struct rpc_req *req)
{
	struct rpc_req *q = xmemdup(req, sizeof *req);
	struct rpc_client *c = req->c;

	/* The copy owns the audit fields now. */
	req->audit_path = req->audit_extra = req->acting_for = NULL;
	q->audit = req->audit;
	req->audit = false;
	q->who = xstrdup(conn_peer(c->conn)->name);
	q->remote = xstrdup(conn_remote(c->conn));

	q->prev = NULL;
	q->next = c->deferred;
	if (c->deferred != NULL)
		c->deferred->prev = q;
	c->deferred = q;
	return q;
}

struct rpc_client *
rpc_req_client(const struct rpc_req *req)
{
	return req->c;
}

const char *
rpc_req_principal(const struct rpc_req *req)
{
	return req->c != NULL ? conn_peer(req->c->conn)->name : NULL;
}

bool
rpc_req_replica(const struct rpc_req *req)
{
	return req->c != NULL && conn_peer(req->c->conn)->kind == TP_PEER_REPLICA;
}

struct chubbyd *
rpc_req_daemon(const struct rpc_req *req)
{
	return req->d;
}

void
rpc_req_reply(struct rpc_req *q, int status, const char *msg, const void *result, size_t len)
{
	struct rpc_client *c = q->c;

	/* Counted whether or not the client is still there to hear it. */
	if (q->d->rpc != NULL)
		rpc_count(q->d->rpc, q, status);
	if (c != NULL) {
		struct rpc *r = c->rpc;
		if (q->prev != NULL)
			q->prev->next = q->next;
		else
			c->deferred = q->next;
		if (q->next != NULL)
			q->next->prev = q->prev;
		wire_buf_reset(&r->out);
		if (status != CHUBBY_OK) {
			rpc_reply_error_result(c, q->id, status, msg ? msg : chubby_strerror(status),
			    result, len);
		} else {
			msgpack_packer *pk = wire_begin_res(&r->out, q->id, CHUBBY_OK, NULL);
			if (result != NULL)
				wire_pack_raw(pk, result, len);
			else
				msgpack_pack_nil(pk);
			if (wire_finish(&r->out) == CHUBBY_OK)
				rpc_flush(c);
			else
				rpc_reply_error(c, q->id, CHUBBY_E_INTERNAL, "cannot encode the reply");
		}
	}
	rpc_audit_done(q, status, msg != NULL ? msg : chubby_strerror(status));
	free(q);
}

void
rpc_req_audit(struct rpc_req *req, bool always, const char *path, const char *extra)
{
	req->audit = req->audit || always;
	if (path != NULL) {
		free(req->audit_path);
		req->audit_path = xstrdup(path);
	}
	if (extra != NULL) {
		free(req->audit_extra);
		req->audit_extra = xstrdup(extra);
	}
}

/* --- handlers ---------------------------------------------------------- */

/* WHERE_IS_MASTER: any replica answers with what it knows (Chubby §2.1). */
static int
rpc_op_where(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = req->c->rpc->d;
	unsigned m = d->replica ? replica_master(d->replica) : 0;
	const struct cell_replica *mr = m ? config_replica(d->cfg, m) : NULL;

	(void)args;
	(void)msg;
	(void)msglen;
	msgpack_pack_map(pk, 4);
	mp_pack_kv_uint(pk, "master", mr ? m : 0);
	mp_pack_kv_str(pk, "address", mr ? mr->client_addr : NULL);
	mp_pack_kv_uint(pk, "epoch", d->replica ? replica_epoch(d->replica) : 0);
	mp_pack_kv_bool(pk, "is_master", d->replica != NULL && replica_is_master(d->replica));
	return CHUBBY_OK;
}

static void
rpc_sync_done(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	rpc_req_reply(arg, status, status == CHUBBY_E_NOT_MASTER
	    ? "mastership lost before the barrier applied; retry at the new master" : NULL,
	    NULL, 0);
}

/* SYNC: a barrier through the log.  Its answer says that everything
 * committed before the request is applied at the master. */
static int
rpc_op_sync(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = req->c->rpc->d;
	struct rpc_req *q;
	int rc;

	(void)args;
	(void)pk;
	if (d->replica == NULL || !replica_is_master(d->replica))
		return rpc_not_master(d, pk, msg, msglen);
	q = rpc_req_defer(req);
	rc = replica_sync(d->replica, rpc_sync_done, q);
	if (rc != CHUBBY_OK) {
		rpc_req_reply(q, rc, rc == CHUBBY_E_OVERLOAD ? "too many writes queued" : NULL, NULL, 0);
	}
	return RPC_DEFERRED;
}

/* STATUS: what this replica knows of itself (admin; lockctl status asks
 * every replica).  ARGS nil, or {state_digest: true} to hash the applied
 * namespace too (docs/PROTOCOL.md "Administration"). */
static int
rpc_op_status(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct rpc_client *c = req->c;
	struct chubbyd *d = c->rpc->d;
	bool state_digest = false;
	int rc;

	if ((rc = mp_get_bool(args, "state_digest", MP_OPTIONAL, &state_digest, msg, msglen)) !=
	    CHUBBY_OK)
		return rc;
	struct mirror_info mi[CONFIG_MAX_MIRRORS];
	size_t nmi = mirror_set_info(d->mirrors, mi, CONFIG_MAX_MIRRORS);

	msgpack_pack_map(pk, 7 + (nmi > 0) +
	    (d->replica ? replica_status_pack(d->replica, NULL, state_digest) : 1));
	mp_pack_kv_str(pk, "cell", d->cfg->cell);
	mp_pack_kv_uint(pk, "id", d->id);
	mp_pack_kv_str(pk, "version", PACKAGE_VERSION);
	mp_pack_kv_uint(pk, "uptime_ms", clock_mono_ms() - d->started_mono_ms);
	mp_pack_kv_uint(pk, "clients", c->rpc->nclients);
	mp_pack_kv_uint(pk, "loop_lag_max_ms", status_loop_lag_max_ms(d->status));
	{
		/* The session lease under load (docs/SESSIONS.md): what the
		 * master grants, wants, may grant, and its load. */
		struct session_lease_info li = {0};

		if (d->sessions != NULL)
			session_lease_info(d->sessions, &li);
		mp_pack_str(pk, "session_lease");
		msgpack_pack_map(pk, 7);
		mp_pack_kv_uint(pk, "granted_ms", li.granted_ms);
		mp_pack_kv_uint(pk, "wanted_ms", li.wanted_ms);
		mp_pack_kv_uint(pk, "cap_ms", li.cap_ms);
		mp_pack_kv_uint(pk, "load_pct", li.load_pct);
		/* Which signal is highest now, and which set the lease. */
		mp_pack_kv_str(pk, "signal", li.signal != NULL ? li.signal : "none");
		mp_pack_kv_str(pk, "driver", li.driver != NULL ? li.driver : "none");
		mp_pack_kv_uint(pk, "starts_per_s", li.starts_per_s);
	}
	if (nmi > 0) {
		/* The mirrors (docs/OPERATIONS.md "Mirroring"): run by the master
		 * only, "standby" elsewhere. */
		mp_pack_str(pk, "mirrors");
		msgpack_pack_array(pk, (uint32_t)nmi);
		for (size_t i = 0; i < nmi; i++) {
			msgpack_pack_map(pk, 11);
			mp_pack_kv_str(pk, "name", mi[i].name);
			mp_pack_kv_str(pk, "source", mi[i].source);
			mp_pack_kv_str(pk, "from", mi[i].from);
			mp_pack_kv_str(pk, "to", mi[i].to);
			mp_pack_kv_str(pk, "state", mi[i].state);
			mp_pack_kv_uint(pk, "lag_ms", mi[i].lag_ms);
			mp_pack_kv_uint(pk, "last_sync_ms", mi[i].last_sync_ms);
			mp_pack_kv_uint(pk, "syncs", mi[i].syncs);
			mp_pack_kv_uint(pk, "nodes", mi[i].nodes);
			mp_pack_kv_uint(pk, "writes", mi[i].writes);
			mp_pack_kv_str(pk, "last_error", mi[i].last_error);
		}
	}
	if (d->replica != NULL)
		replica_status_pack(d->replica, pk, state_digest);
	else
		mp_pack_kv_str(pk, "role", "starting");
	return CHUBBY_OK;
}

static void
rpc_members_done(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	rpc_req_reply(arg, status, status == CHUBBY_E_NOT_MASTER
	    ? "mastership lost before the change applied; check with lockctl members and retry"
	    : NULL, NULL, 0);
}

/* Marks an admin command for the audit trail, with KEY=V. */
static void
rpc_audit_u64(struct rpc_req *req, const char *key, uint64_t v)
{
	char num[24], extra[64] = "";

	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	audit_kv(extra, sizeof extra, key, num);
	rpc_req_audit(req, true, NULL, extra);
}

/* MASTER_HANDOFF {id?}: the master hands mastership to replica id (absent
 * or 0: the follower furthest along), superuser only; answers {target} at
 * once, before the hand-off completes (about a lease later). */
static int
rpc_op_handoff(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = req->c->rpc->d;
	const char *who;
	uint64_t id = 0;
	unsigned target = 0;
	int rc;

	if ((rc = mp_get_uint(args, "id", MP_OPTIONAL, &id, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (d->replica == NULL || !replica_is_master(d->replica))
		return rpc_not_master(d, pk, msg, msglen);
	rpc_audit_u64(req, "target", id);
	who = rpc_req_principal(req);
	if (who == NULL || strcmp(who, d->cfg->superuser) != 0) {
		snprintf(msg, msglen, "only the cell's superuser (\"%s\") may hand mastership over",
		    d->cfg->superuser);
		return CHUBBY_E_PERMISSION;
	}
	if (id > 255 || (unsigned)id == d->id || (id != 0 && config_replica(d->cfg, (unsigned)id) == NULL)) {
		snprintf(msg, msglen, "replica %llu is not another member of this cell",
		    (unsigned long long)id);
		return CHUBBY_E_INVALID;
	}
	rc = replica_handoff(d->replica, (unsigned)id, &target);
	if (rc == CHUBBY_E_UNAVAILABLE)
		snprintf(msg, msglen, "no follower has answered this master yet");
	if (rc != CHUBBY_OK)
		return rc;
	msgpack_pack_map(pk, 1);
	mp_pack_kv_uint(pk, "target", target);
	return CHUBBY_OK;
}

/* RELOAD: this replica (master or not) reads its TLS files again, as on
 * SIGHUP; superuser only.  Answers {id, message} once done: the files are
 * read and revoked connections closed before the answer. */
static int
rpc_op_reload(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = req->c->rpc->d;
	const char *who = rpc_req_principal(req);
	char summary[1024];
	int rc;

	(void)args;
	rpc_req_audit(req, true, NULL, NULL);
	if (who == NULL || strcmp(who, d->cfg->superuser) != 0) {
		snprintf(msg, msglen, "only the cell's superuser (\"%s\") may reload a replica",
		    d->cfg->superuser);
		return CHUBBY_E_PERMISSION;
	}
	rc = chubbyd_reload_tls(d, summary, sizeof summary);
	if (rc != CHUBBY_OK) {
		log_error("RELOAD by %s: TLS files not reloaded, the old ones stay in use: %s", who,
		    summary);
		snprintf(msg, msglen, "%s", summary);
		return rc;
	}
	log_info("RELOAD by %s: %s", who, summary);
	msgpack_pack_map(pk, 2);
	mp_pack_kv_uint(pk, "id", d->id);
	mp_pack_kv_str(pk, "message", summary);
	return CHUBBY_OK;
}

/* The refusals of a membership change, said plainly (paxos_step's codes). */
static int
rpc_members_refused(int rc, const char *what, unsigned id, bool quorum_lost, char *msg,
    size_t msglen)
{
	switch (rc) {
	case CHUBBY_E_BUSY:
		snprintf(msg, msglen, "%s %u: another membership change is in flight (a learner "
				      "not yet promoted counts); one at a time: see lockctl members",
		    what, id);
		break;
	case CHUBBY_E_UNAVAILABLE:
		if (quorum_lost)
			snprintf(msg, msglen, "%s %u: refused: the voters left would not include a "
					      "majority that answered the master within a lease, and "
					      "the cell would stop; bring the others back first",
			    what, id);
		else
			snprintf(msg, msglen, "%s %u: not now: the master has no lease granted under "
					      "the latest configuration yet (retry in a heartbeat)",
			    what, id);
		break;
	case CHUBBY_E_INVALID:
		snprintf(msg, msglen, "%s %u: %s", what, id,
		    strcmp(what, "add") == 0 ? "already a member, or the cell is full (7 voters)"
					     : "not a member, or the last voter");
		break;
	default:
		snprintf(msg, msglen, "%s %u: %s", what, id, chubby_strerror(rc));
		break;
	}
	return rc;
}

/* Which of the core's two reasons for E_UNAVAILABLE a removal of RM met:
 * true when the voters left would hold no majority that answered the
 * master within a lease (the core's rule, seen from here for the message
 * only; the master counts as answering). */
static bool
rpc_members_quorum_lost(struct chubbyd *d, unsigned rm)
{
	const struct cell_config *c = d->cfg;
	unsigned left = 0, answered = 0;

	for (unsigned i = 0; i < c->nreplicas; i++) {
		unsigned id = c->replicas[i].id;
		uint64_t lag, chosen, ago;
		bool voter;

		if (id == rm || !replica_member_role(d->replica, id, &voter, &lag) || !voter)
			continue;
		left++;
		if (id == d->id || (replica_peer_progress(d->replica, id, &chosen, &ago) &&
					  ago <= c->master_lease_ms))
			answered++;
	}
	return left > 0 && answered < left / 2 + 1;
}

/* An added member's addresses are in the log: the configuration change
 * follows once every replica can dial it. */
struct rpc_members_add {
	struct rpc_req *q;
	struct chubbyd *d;
	unsigned id;
};

static void
rpc_members_added(int status, const struct ns_result *res, void *arg)
{
	struct rpc_members_add *a = arg;
	char msg[512] = "";

	(void)res;
	if (status == CHUBBY_OK) {
		status = replica_members(a->d->replica, PAXOS_MEMBER_ADD, a->id);
		if (status != CHUBBY_OK)
			rpc_members_refused(status, "add", a->id, false, msg, sizeof msg);
	} else if (status == CHUBBY_E_NOT_MASTER) {
		snprintf(msg, sizeof msg, "mastership lost before the change applied; check with "
					  "lockctl members and retry");
	}
	rpc_req_reply(a->q, status, msg[0] != '\0' ? msg : NULL, NULL, 0);
	free(a);
}

/* The members list: the address book, each with its place in the
 * configuration (voter, learner, or none: in the book only) and, at the
 * master, how many slots it is behind. */
static void
rpc_members_list(struct chubbyd *d, msgpack_packer *pk)
{
	const struct cell_config *c = d->cfg;

	msgpack_pack_array(pk, c->nreplicas);
	for (unsigned i = 0; i < c->nreplicas; i++) {
		bool dns = c->replicas[i].dns_name[0] != '\0', voter = false;
		uint64_t lag = UINT64_MAX, chosen, ago = 0;
		bool member = d->replica != NULL &&
		    replica_member_role(d->replica, c->replicas[i].id, &voter, &lag);
		/* At the master: how long ago it last answered (a removal
		 * counts only members that answered within a lease). */
		bool heard = member && c->replicas[i].id != d->id &&
		    replica_peer_progress(d->replica, c->replicas[i].id, &chosen, &ago);

		msgpack_pack_map(pk, 5 + (dns ? 1 : 0) + (member && lag != UINT64_MAX ? 1 : 0) +
			(heard ? 1 : 0));
		mp_pack_kv_uint(pk, "id", c->replicas[i].id);
		mp_pack_kv_str(pk, "client", c->replicas[i].client_addr);
		mp_pack_kv_str(pk, "peer", c->replicas[i].peer_addr);
		mp_pack_kv_str(pk, "status", c->replicas[i].status_addr);
		mp_pack_kv_str(pk, "role", c->replicas[i].removed ? "removed" :
		    !member ? "none" : voter ? "voter" : "learner");
		if (member && lag != UINT64_MAX)
			mp_pack_kv_uint(pk, "lag", lag);
		if (heard)
			mp_pack_kv_uint(pk, "heard_ms", ago);
		if (dns)
			mp_pack_kv_str(pk, "dns", c->replicas[i].dns_name);
	}
}

/* MEMBERS: the cell's members as this replica knows them.  The master
 * alone, for the superuser: "replace" moves a member to new addresses
 * through the log (a dead replica's id on a fresh machine); "add" puts a
 * new replica's addresses in the log, then adds it as a learner (the core
 * promotes it once caught up); "remove" takes a member out of the voting
 * configuration (docs/PAXOS.md "Membership"). */
static int
rpc_op_members(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = req->c->rpc->d;
	const struct cell_config *c = d->cfg;
	uint64_t id = 0, add = 0, rm = 0;
	char *addr[3] = {NULL, NULL, NULL};
	const char *who;
	int rc;

	if ((rc = mp_get_uint(args, "replace", MP_OPTIONAL, &id, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "add", MP_OPTIONAL, &add, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "remove", MP_OPTIONAL, &rm, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (id == 0 && add == 0 && rm == 0) {
		rpc_members_list(d, pk);
		return CHUBBY_OK;
	}
	if ((id != 0) + (add != 0) + (rm != 0) > 1 || id > 255 || add > 255 || rm > 255) {
		snprintf(msg, msglen, "one of replace, add or remove, with an id in 1..255");
		return CHUBBY_E_INVALID;
	}
	if (d->replica == NULL || !replica_is_master(d->replica))
		return rpc_not_master(d, pk, msg, msglen);
	rpc_audit_u64(req, id != 0 ? "replace" : add != 0 ? "add" : "remove",
	    id != 0 ? id : add != 0 ? add : rm);
	who = rpc_req_principal(req);
	if (who == NULL || strcmp(who, c->superuser) != 0) {
		snprintf(msg, msglen, "only the cell's superuser (\"%s\") may change its members",
		    c->superuser);
		return CHUBBY_E_PERMISSION;
	}
	if (rm != 0) {
		if ((rc = replica_members(d->replica, PAXOS_MEMBER_REMOVE, (unsigned)rm)) != CHUBBY_OK)
			return rpc_members_refused(rc, "remove", (unsigned)rm,
			    rpc_members_quorum_lost(d, (unsigned)rm), msg, msglen);
		msgpack_pack_map(pk, 1);
		mp_pack_kv_uint(pk, "removed", rm);
		return CHUBBY_OK;
	}
	if ((rc = mp_get_strdup(args, "client", MP_REQUIRED, &addr[0], msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_strdup(args, "peer", MP_REQUIRED, &addr[1], msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_strdup(args, "status", MP_REQUIRED, &addr[2], msg, msglen)) != CHUBBY_OK)
		goto out;
	if (add != 0) {
		bool voter;
		uint64_t lag;
		const struct cell_replica *cr = config_replica(c, (unsigned)add);

		if (replica_member_role(d->replica, (unsigned)add, &voter, &lag)) {
			snprintf(msg, msglen, "add %u: already a %s", (unsigned)add,
			    voter ? "voter" : "learner");
			rc = CHUBBY_E_EXISTS;
			goto out;
		}
		if (replica_conf_changing(d->replica)) {
			rc = rpc_members_refused(CHUBBY_E_BUSY, "add", (unsigned)add, false, msg,
			    msglen);
			goto out;
		}
		if ((rc = config_check_addresses(c, (unsigned)add, addr, msg, msglen)) != CHUBBY_OK)
			goto out;
		if (cr != NULL && strcmp(cr->client_addr, addr[0]) == 0 &&
		    strcmp(cr->peer_addr, addr[1]) == 0 && strcmp(cr->status_addr, addr[2]) == 0) {
			/* Already in the address book where it says: no MEMBER entry. */
			rc = replica_members(d->replica, PAXOS_MEMBER_ADD, (unsigned)add);
			if (rc != CHUBBY_OK) {
				rpc_members_refused(rc, "add", (unsigned)add, false, msg, msglen);
				goto out;
			}
			msgpack_pack_map(pk, 1);
			mp_pack_kv_uint(pk, "added", add);
			goto out;
		}
		struct rpc_members_add *a = xcalloc(1, sizeof *a);
		a->q = rpc_req_defer(req);
		a->d = d;
		a->id = (unsigned)add;
		rc = replica_move(d->replica, a->id, addr[0], addr[1], addr[2], rpc_members_added, a);
		if (rc != CHUBBY_OK) {
			rpc_req_reply(a->q, rc, NULL, NULL, 0);
			free(a);
		}
		rc = RPC_DEFERRED;
		goto out;
	}
	if ((rc = config_check_move(c, (unsigned)id, addr, msg, msglen)) != CHUBBY_OK)
		goto out;
	if ((unsigned)id == d->id) {
		snprintf(msg, msglen, "the master cannot move itself; stop it first so another "
				      "replica takes over");
		rc = CHUBBY_E_INVALID;
		goto out;
	}
	struct rpc_req *q = rpc_req_defer(req);
	rc = replica_move(d->replica, (unsigned)id, addr[0], addr[1], addr[2], rpc_members_done, q);
	if (rc != CHUBBY_OK)
		rpc_req_reply(q, rc, NULL, NULL, 0);
	rc = RPC_DEFERRED;
out:
	for (int k = 0; k < 3; k++)
		free(addr[k]);
	return rc;
}

/* The answer to a request that only the master can serve (rpc.h). */
int
rpc_not_master(struct chubbyd *d, msgpack_packer *pk, char *msg, size_t msglen)
{
	unsigned m = d->replica ? replica_master(d->replica) : 0;
	const struct cell_replica *mr = m ? config_replica(d->cfg, m) : NULL;

	if (pk != NULL) {
		msgpack_pack_map(pk, 3);
		mp_pack_kv_uint(pk, "master", mr != NULL && m != d->id ? m : 0);
		mp_pack_kv_str(pk, "address", mr != NULL && m != d->id ? mr->client_addr : NULL);
		mp_pack_kv_uint(pk, "epoch", d->replica ? replica_epoch(d->replica) : 0);
	}
	if (mr != NULL && m != d->id)
		snprintf(msg, msglen, "replica %u is not the master; the master is replica %u at %s",
		    d->id, m, mr->client_addr);
	else
		snprintf(msg, msglen, "replica %u is not the master and knows of none", d->id);
	return CHUBBY_E_NOT_MASTER;
}
