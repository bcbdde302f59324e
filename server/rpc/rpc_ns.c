/* rpc_ns.c: Chubby's calls on chubbyd's client port (docs/PROTOCOL.md
 * "Ops").  Plumbing only: a request's arguments are decoded (ns_wire.c)
 * and served by the request layer (server/svc), whose answers are encoded
 * here and sent now, or later through the deferred request. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "frame.h"
#include "protocol.h"
#include "rpc/audit.h"
#include "rpc/ns_wire.h"
#include "rpc/rpc.h"
#include "rpc/rpc_ns.h"
#include "session_shell.h"
#include "svc/svc.h"

/* A request within its handler: where an answer given at once goes. */
struct ns_call {
	struct rpc_req *req;
	struct chubbyd *d;
	msgpack_packer *pk;
	char *msg;
	size_t msglen;
	int rc;
	bool answered;
};

static void *
env_defer(void *arg, void *tok)
{
	struct ns_call *c = tok;

	(void)arg;
	return rpc_req_defer(c->req);
}

static void
env_reply(void *arg, void *tok, bool deferred, int status, const char *msg,
    const struct svc_result *r)
{
	struct chubbyd *d = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!deferred) {
		struct ns_call *c = tok;

		c->answered = true;
		c->rc = status;
		if (r->kind == SVC_RES_NOT_MASTER && status == CHUBBY_E_NOT_MASTER) {
			rpc_not_master(d, c->pk, c->msg, c->msglen);
			return;
		}
		snprintf(c->msg, c->msglen, "%s", msg != NULL ? msg : "");
		ns_wire_pack_result(c->pk, status, r);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (r->kind == SVC_RES_NOT_MASTER && status == CHUBBY_E_NOT_MASTER) {
		char m[256];
		rpc_not_master(d, &pk, m, sizeof m);
		rpc_req_reply(tok, status, m, sb.data, sb.size);
	} else {
		ns_wire_pack_result(&pk, status, r);
		rpc_req_reply(tok, status, msg, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* The audit trail: ACL names as acl="r,w,c", "-" for a name kept (or
 * inherited). */
static void
env_audit(void *arg, void *tok, bool always, const char *path, const char *const *acl,
    bool allow_open)
{
	struct ns_call *c = tok;
	char names[3 * 260], extra[900] = "";

	(void)arg;
	if (acl != NULL) {
		snprintf(names, sizeof names, "%s,%s,%s", acl[0] ? acl[0] : "-",
		    acl[1] ? acl[1] : "-", acl[2] ? acl[2] : "-");
		audit_kv(extra, sizeof extra, "acl", names);
		if (allow_open)
			audit_kv(extra, sizeof extra, "allow_open_change", "true");
	}
	rpc_req_audit(c->req, always, path, acl != NULL ? extra : NULL);
}

struct svc *
rpc_ns_svc_new(struct chubbyd *d)
{
	/* A page of SESSIONS / LOCKS fits the frames of both ends (lockctl
	 * reads up to twice the default), with room for the reply's envelope. */
	size_t frame = d->cfg->max_frame < FRAME_MAX_DEFAULT ? d->cfg->max_frame : FRAME_MAX_DEFAULT;
	struct svc_config cfg = {
	    .cell = d->cfg->cell,
	    .superuser = d->cfg->superuser,
	    .max_contents = d->cfg->max_contents,
	    .page_bytes = frame - 1024,
	    .lock_records = d->cfg->lock_records != 0,
	    .handles_in_memory = d->cfg->handles_in_memory != 0,
	    .max_handles = d->cfg->max_handles_per_session,
	    .proxies = d->cfg->proxies,
	};
	const char *ro[CONFIG_MAX_MIRRORS];

	for (unsigned i = 0; i < d->cfg->nmirrors; i++)
		ro[i] = d->cfg->mirrors[i].to;
	cfg.readonly = ro;
	cfg.nreadonly = d->cfg->nmirrors;
	struct svc_env env = {
	    .arg = d,
	    .defer = env_defer,
	    .reply = env_reply,
	    .audit = env_audit,
	};

	return svc_new(&cfg, &env, d->sessions);
}

/* Every call of Chubby's: decoded, then served. */
static int
rpc_ns_serve(struct rpc_req *req, enum svc_op op, const msgpack_object *args,
    msgpack_packer *pk, char *msg, size_t msglen)
{
	struct chubbyd *d = rpc_req_daemon(req);
	struct ns_call c = {.req = req, .d = d, .pk = pk, .msg = msg, .msglen = msglen};
	struct ns_wire_args w;
	int rc;

	rc = ns_wire_decode(op, args, d->seq_key, d->seq_key_len, &w, msg, msglen);
	w.a.mirror_writer = rpc_req_replica(req);
	if (rc == CHUBBY_OK)
		svc_call(d->svc, session_shell_now(), &c, rpc_req_principal(req), op, &w.a);
	ns_wire_args_free(&w);
	if (rc != CHUBBY_OK)
		return rc;
	return c.answered ? c.rc : RPC_DEFERRED;
}

#define RPC_NS_OP(name, op)                                                                   \
	RPC_NS_HANDLER(name)                                                                  \
	{                                                                                     \
		return rpc_ns_serve(req, op, args, pk, msg, msglen);                          \
	}

RPC_NS_OP(session_start, SVC_SESSION_START)
RPC_NS_OP(keepalive, SVC_KEEPALIVE)
RPC_NS_OP(session_end, SVC_SESSION_END)
RPC_NS_OP(open, SVC_OPEN)
RPC_NS_OP(close, SVC_CLOSE)
RPC_NS_OP(poison, SVC_POISON)
RPC_NS_OP(get_contents, SVC_GET_CONTENTS)
RPC_NS_OP(get_stat, SVC_GET_STAT)
RPC_NS_OP(readdir, SVC_READDIR)
RPC_NS_OP(set_contents, SVC_SET_CONTENTS)
RPC_NS_OP(set_acl, SVC_SET_ACL)
RPC_NS_OP(delete, SVC_DELETE)
RPC_NS_OP(acquire, SVC_ACQUIRE)
RPC_NS_OP(try_acquire, SVC_TRY_ACQUIRE)
RPC_NS_OP(release, SVC_RELEASE)
RPC_NS_OP(get_sequencer, SVC_GET_SEQUENCER)
RPC_NS_OP(set_sequencer, SVC_SET_SEQUENCER)
RPC_NS_OP(check_sequencer, SVC_CHECK_SEQUENCER)
RPC_NS_OP(sessions, SVC_SESSIONS)
RPC_NS_OP(locks, SVC_LOCKS)
RPC_NS_OP(client_end, SVC_CLIENT_END)
RPC_NS_OP(claim, SVC_CLAIM)

/* Chubby's calls, for rpc.c's dispatch. */
static const struct {
	uint32_t op;
	rpc_handler fn;
} rpc_ns_ops[] = {
    {PROTO_OP_SESSIONS, rpc_op_sessions},
    {PROTO_OP_LOCKS, rpc_op_locks},
    {PROTO_OP_SESSION_START, rpc_op_session_start},
    {PROTO_OP_KEEPALIVE, rpc_op_keepalive},
    {PROTO_OP_SESSION_END, rpc_op_session_end},
    {PROTO_OP_CLIENT_END, rpc_op_client_end},
    {PROTO_OP_CLAIM, rpc_op_claim},
    {PROTO_OP_OPEN, rpc_op_open},
    {PROTO_OP_CLOSE, rpc_op_close},
    {PROTO_OP_POISON, rpc_op_poison},
    {PROTO_OP_GET_CONTENTS, rpc_op_get_contents},
    {PROTO_OP_GET_STAT, rpc_op_get_stat},
    {PROTO_OP_READDIR, rpc_op_readdir},
    {PROTO_OP_SET_CONTENTS, rpc_op_set_contents},
    {PROTO_OP_SET_ACL, rpc_op_set_acl},
    {PROTO_OP_DELETE, rpc_op_delete},
    {PROTO_OP_ACQUIRE, rpc_op_acquire},
    {PROTO_OP_TRY_ACQUIRE, rpc_op_try_acquire},
    {PROTO_OP_RELEASE, rpc_op_release},
    {PROTO_OP_GET_SEQUENCER, rpc_op_get_sequencer},
    {PROTO_OP_SET_SEQUENCER, rpc_op_set_sequencer},
    {PROTO_OP_CHECK_SEQUENCER, rpc_op_check_sequencer},
};

rpc_handler
rpc_ns_handler(uint32_t op)
{
	for (size_t i = 0; i < sizeof rpc_ns_ops / sizeof rpc_ns_ops[0]; i++)
		if (rpc_ns_ops[i].op == op)
			return rpc_ns_ops[i].fn;
	return NULL;
}
