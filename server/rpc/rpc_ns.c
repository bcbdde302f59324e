/* rpc_ns.c: the handlers of Chubby's calls: sessions, handles, the
 * namespace, locks and sequencers (docs/PROTOCOL.md "Ops").  Each checks
 * its arguments, then either answers from the master's applied state (a
 * read) or encodes a namespace command and hands it to the session layer
 * (a write), answering when it has been applied. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "mp.h"
#include "ns/ns.h"
#include "replica.h"
#include "rpc/audit.h"
#include "rpc/rpc.h"
#include "rpc/rpc_ns.h"
#include "seqtoken.h"
#include "session/session.h"
#include "session_shell.h"
#include "wire.h"
#include "xmalloc.h"

/* A write's request id (docs/PROTOCOL.md "Request ids and retries");
 * rid 0: none, the write is not de-duplicated. */
struct req_id {
	uint64_t rid, floor;
};

/* What a write's answer needs once the command has been applied. */
struct wctx {
	struct rpc_req *q;
	uint32_t op;
	uint64_t session;
	uint64_t handle;
};

/* --- packing ----------------------------------------------------------------- */

static void
pack_stat(msgpack_packer *pk, const struct ns_stat *st, bool lock_fields)
{
	msgpack_pack_map(pk, lock_fields ? 14 : 10);
	mp_pack_kv_uint(pk, "instance", st->instance);
	mp_pack_kv_uint(pk, "content_gen", st->content_gen);
	mp_pack_kv_uint(pk, "acl_gen", st->acl_gen);
	mp_pack_kv_uint(pk, "checksum", st->checksum);
	mp_pack_kv_uint(pk, "length", st->length);
	mp_pack_kv_uint(pk, "created_ms", st->created_ms);
	mp_pack_kv_uint(pk, "modified_ms", st->modified_ms);
	mp_pack_kv_bool(pk, "is_dir", st->is_dir);
	mp_pack_kv_bool(pk, "ephemeral", st->ephemeral);
	mp_pack_str(pk, "acl");
	msgpack_pack_array(pk, 3);
	for (int i = 0; i < 3; i++)
		mp_pack_str(pk, st->acl[i] != NULL ? st->acl[i] : "");
	if (!lock_fields)
		return;
	mp_pack_kv_uint(pk, "lock_gen", st->lock_gen);
	mp_pack_kv_uint(pk, "lock_mode", (uint64_t)st->lock_mode);
	mp_pack_kv_uint(pk, "lock_holders", st->lock_holders);
	mp_pack_kv_uint(pk, "lock_delay_until_ms", st->lock_delay_until_ms);
}

/* A result {stat} in a fresh buffer, for deferred replies. */
static void
reply_with_stat(struct rpc_req *q, const struct ns_stat *st)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_pack_str(&pk, "stat");
	pack_stat(&pk, st, true);
	rpc_req_reply(q, CHUBBY_OK, NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* An error whose result map says more (PROTOCOL.md "Error results"). */
static void
reply_error_kv(struct rpc_req *q, int status, const char *msg, const char *key, uint64_t v)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_pack_kv_uint(&pk, key, v);
	rpc_req_reply(q, status, msg, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* --- common checks -------------------------------------------------------- */

static struct chubbyd *
req_d(struct rpc_req *req)
{
	return rpc_req_daemon(req);
}

/* The stamp of a command proposed now (docs/NAMESPACE.md "Stamps"). */
static uint64_t
stamp(struct rpc_req *req)
{
	return session_stamp(req_d(req)->sessions, session_shell_now());
}

/* Reads session and epoch and checks them; on failure packs the error map
 * that goes with the code (NOT_MASTER, BAD_EPOCH). */
static int
check_session(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    uint64_t *session, char *msg, size_t msglen)
{
	struct chubbyd *d = req_d(req);
	uint64_t epoch = 0;
	int rc;

	if ((rc = mp_get_uint(args, "session", MP_REQUIRED, session, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "epoch", MP_REQUIRED, &epoch, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = session_check(d->sessions, session_shell_now(), *session, epoch, rpc_req_principal(req),
	    msg, msglen);
	if (rc == CHUBBY_E_NOT_MASTER)
		return rpc_not_master(d, pk, msg, msglen);
	if (rc == CHUBBY_E_BAD_EPOCH) {
		msgpack_pack_map(pk, 1);
		mp_pack_kv_uint(pk, "epoch", replica_epoch(d->replica));
	}
	return rc;
}

static int
check_handle(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    uint64_t *session, uint64_t *handle, char *msg, size_t msglen)
{
	int rc = check_session(req, args, pk, session, msg, msglen);

	if (rc != CHUBBY_OK)
		return rc;
	return mp_get_uint(args, "handle", MP_REQUIRED, handle, msg, msglen);
}

/* The namespace's refusal, with its message. */
static int
ns_fail(const struct ns_result *res, char *msg, size_t msglen)
{
	snprintf(msg, msglen, "%s", res->msg[0] ? res->msg : chubby_strerror(res->status));
	return res->status;
}

/* Reads an optional [read, write, change] array of str|nil. */
static int
get_acl(const msgpack_object *args, char *acl[3], bool *present, char *msg, size_t msglen)
{
	const msgpack_object *a = NULL;
	int rc;

	*present = false;
	acl[0] = acl[1] = acl[2] = NULL;
	if ((rc = mp_get_array(args, "acl", MP_OPTIONAL, &a, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (a == NULL)
		return CHUBBY_OK;
	if (a->via.array.size != 3) {
		snprintf(msg, msglen, "\"acl\" must have 3 elements (read, write, change), not %u",
		    (unsigned)a->via.array.size);
		return CHUBBY_E_BAD_TYPE;
	}
	for (int i = 0; i < 3; i++) {
		const msgpack_object *o = &a->via.array.ptr[i];
		struct mp_str s;
		char what[32];
		if (o->type == MSGPACK_OBJECT_NIL)
			continue;
		snprintf(what, sizeof what, "element %d of \"acl\"", i);
		if ((rc = mp_val_str(o, what, &s, msg, msglen)) != CHUBBY_OK)
			goto fail;
		if (memchr(s.ptr, '\0', s.len) != NULL) {
			snprintf(msg, msglen, "%s holds a NUL byte", what);
			rc = CHUBBY_E_BAD_NAME;
			goto fail;
		}
		acl[i] = xstrndup(s.ptr, s.len);
	}
	*present = true;
	return CHUBBY_OK;
fail:
	for (int i = 0; i < 3; i++) {
		free(acl[i]);
		acl[i] = NULL;
	}
	return rc;
}

/* The ACL names a request gives, for its audit line: acl="r,w,c", "-"
 * for a name kept (or inherited). */
static void
audit_acl(struct rpc_req *req, char *const acl[3], bool allow_open)
{
	char names[3 * 260], extra[900] = "";

	snprintf(names, sizeof names, "%s,%s,%s", acl[0] ? acl[0] : "-", acl[1] ? acl[1] : "-",
	    acl[2] ? acl[2] : "-");
	audit_kv(extra, sizeof extra, "acl", names);
	if (allow_open)
		audit_kv(extra, sizeof extra, "allow_open_change", "true");
	rpc_req_audit(req, true, NULL, extra);
}

/*
 * What the master checks of new ACL names before proposing them (issue
 * 18; docs/NAMESPACE.md "Permissions"): each name is "" or an ACL file
 * that exists (E_NOT_FOUND naming it: a typo would otherwise lock out all
 * but the superuser), and unless ALLOW_OPEN, the names the node will have
 * (CUR where ACL keeps one) do not leave change-ACL open while read or
 * write is restricted (E_INVALID: anyone could lift the restriction).
 * Checked against applied state, not in the replicated namespace, so
 * that the log's meaning does not change under an upgrade: a file
 * deleted between this check and the command's turn in the log is
 * missing, as one deleted later would be.
 */
static int
acl_names_valid(struct rpc_req *req, char *const acl[3], const char *const cur[3],
    bool allow_open, char *msg, size_t msglen)
{
	const struct ns *ns = replica_ns(req_d(req)->replica);
	const char *eff[3];
	int rc;

	for (int i = 0; i < 3; i++) {
		if (acl[i] != NULL &&
		    (rc = ns_acl_file_check(ns, acl[i], msg, msglen)) != CHUBBY_OK)
			return rc;
		eff[i] = acl[i] != NULL ? acl[i] : cur[i] != NULL ? cur[i] : "";
	}
	if (!allow_open && eff[2][0] == '\0' && (eff[0][0] != '\0' || eff[1][0] != '\0')) {
		snprintf(msg, msglen,
		    "the change-ACL would be open to all while %s is restricted, so anyone could "
		    "lift the restriction: name a change-ACL file, or to mean it, give "
		    "--allow-open-change (allow_open_change)",
		    eff[0][0] != '\0' ? "read" : "write");
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

/*
 * Reads the write's request id into ID and, if the namespace recorded the
 * outcome of that request (a copy of one that succeeded), answers from it
 * through DONE as the first time: RPC_DEFERRED.  CHUBBY_OK: go on and
 * propose; else the error (a rid below the session's floor: answered once
 * and forgotten, never applied again).
 */
static int
req_id_check(struct rpc_req *req, const msgpack_object *args, uint64_t session, uint64_t handle,
    replica_done_fn done, struct req_id *id, char *msg, size_t msglen)
{
	struct ns_result res;
	struct wctx *w;
	int rc;

	id->rid = id->floor = 0;
	if ((rc = mp_get_uint(args, "rid", MP_OPTIONAL, &id->rid, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "rid_floor", MP_OPTIONAL, &id->floor, msg, msglen)) !=
		CHUBBY_OK)
		return rc;
	if (id->rid == 0)
		return CHUBBY_OK;
	if (id->floor > id->rid) {
		snprintf(msg, msglen, "\"rid_floor\" %" PRIu64 " is above \"rid\" %" PRIu64,
		    id->floor, id->rid);
		return CHUBBY_E_INVALID;
	}
	ns_result_init(&res);
	rc = ns_request_outcome(replica_ns(req_d(req)->replica), session, id->rid, &res);
	if (rc == CHUBBY_OK) {
		w = xcalloc(1, sizeof *w);
		w->q = rpc_req_defer(req);
		w->session = session;
		w->handle = handle;
		done(CHUBBY_OK, &res, w);
		rc = RPC_DEFERRED;
	} else if (rc == CHUBBY_E_INVALID)
		snprintf(msg, msglen, "%s", res.msg);
	else
		rc = CHUBBY_OK; /* not recorded (or no such session: the write says so) */
	ns_result_free(&res);
	return rc;
}

/* Readies a write's command for the session layer: wrapped in its request
 * id if it has one (NS_CMD_REQ), and its answer's context deferred.  On
 * failure (RC from encoding, or the wrapping's) the message is in MSG and
 * *W is NULL. */
static int
write_prepare(struct rpc_req *req, const struct req_id *id, uint64_t session, uint64_t handle,
    uint8_t **cmd, size_t *len, int rc, struct wctx **w, char *msg, size_t msglen)
{
	*w = NULL;
	if (rc == CHUBBY_OK && id != NULL && id->rid != 0) {
		uint8_t *wrapped = NULL;
		size_t wlen = 0;

		rc = ns_encode_req(stamp(req), session, id->rid, id->floor, *cmd, *len, &wrapped,
		    &wlen);
		free(*cmd);
		*cmd = wrapped;
		*len = wlen;
	}
	if (rc != CHUBBY_OK) {
		free(*cmd);
		*cmd = NULL;
		snprintf(msg, msglen, "cannot encode the command: %s", chubby_strerror(rc));
		return rc;
	}
	*w = xcalloc(1, sizeof **w);
	(*w)->q = rpc_req_defer(req);
	(*w)->session = session;
	(*w)->handle = handle;
	return CHUBBY_OK;
}

/* Hands a write to the session layer; the answer goes out from DONE. */
static int
submit(struct rpc_req *req, const struct req_id *id, enum session_write_kind kind,
    const char *path, uint8_t *cmd, size_t len, int rc, session_done_fn done, uint64_t session,
    uint64_t handle, char *msg, size_t msglen)
{
	struct wctx *w;

	rpc_req_audit(req, false, path, NULL);
	if ((rc = write_prepare(req, id, session, handle, &cmd, &len, rc, &w, msg, msglen)) !=
	    CHUBBY_OK)
		return rc;
	session_write(req_d(req)->sessions, session_shell_now(), kind, path, cmd, len, done, w);
	free(cmd);
	return RPC_DEFERRED;
}

/* The usual end of a write: nil on success, else the error. */
static void
done_nil(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;

	/* The write may have been proposed, and a proposal may still be
	 * chosen by the next master: nobody here knows whether it applied. */
	if (status == CHUBBY_E_NOT_MASTER)
		rpc_req_reply(w->q, status, "mastership lost: the write may or may not have been "
					   "applied; re-send it with the same rid (nonce) at the new master",
		    NULL, 0);
	else
		rpc_req_reply(w->q, status, status != CHUBBY_OK && res != NULL && res->msg[0] ?
		    res->msg : NULL, NULL, 0);
	free(w);
}

/* CLOSE and SESSION_END (HANDLE 0): writes that may reap ephemeral nodes,
 * invalidated first by the session layer. */
static int
submit_close(struct rpc_req *req, const struct req_id *id, uint8_t *cmd, size_t len, int rc,
    uint64_t session, uint64_t handle, char *msg, size_t msglen)
{
	struct wctx *w;

	if ((rc = write_prepare(req, id, session, handle, &cmd, &len, rc, &w, msg, msglen)) !=
	    CHUBBY_OK)
		return rc;
	session_write_close(req_d(req)->sessions, session_shell_now(), session, handle, cmd, len,
	    done_nil, w);
	free(cmd);
	return RPC_DEFERRED;
}

static void
done_stat(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;

	if (status == CHUBBY_OK && res != NULL) {
		reply_with_stat(w->q, &res->stat);
		free(w);
		return;
	}
	if (status == CHUBBY_E_GEN_MISMATCH) {
		struct ns_result cur;
		struct chubbyd *d = rpc_req_daemon(w->q);
		ns_result_init(&cur);
		if (ns_get_stat(replica_ns(d->replica), w->session, w->handle, &cur) == CHUBBY_OK) {
			reply_error_kv(w->q, status, res != NULL ? res->msg : NULL, "content_gen",
			    cur.stat.content_gen);
			ns_result_free(&cur);
			free(w);
			return;
		}
		ns_result_free(&cur);
	}
	done_nil(status, res, arg);
}

/* The path a handle names, for writes that invalidate caches. */
static int
handle_path(struct rpc_req *req, uint64_t session, uint64_t handle, char **path, char *msg,
    size_t msglen)
{
	const char *p = ns_handle_path(replica_ns(req_d(req)->replica), session, handle, NULL);

	if (p == NULL) {
		snprintf(msg, msglen, "handle %" PRIu64 " is not open in session %" PRIu64, handle,
		    session);
		return CHUBBY_E_BAD_HANDLE;
	}
	*path = xstrdup(p);
	return CHUBBY_OK;
}

/* --- sessions --------------------------------------------------------------- */

static void
done_session_start(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct chubbyd *d = rpc_req_daemon(w->q);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t lease;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	lease = session_restarted(d->sessions, session_shell_now(), res->session);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_pack_kv_uint(&pk, "session", res->session);
	mp_pack_kv_uint(&pk, "epoch", replica_epoch(d->replica));
	mp_pack_kv_uint(&pk, "lease_ms", lease);
	rpc_req_reply(w->q, CHUBBY_OK, NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	free(w);
}

int
rpc_op_session_start(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	struct chubbyd *d = req_d(req);
	struct req_id id = {0, 0};
	uint8_t *cmd = NULL, *wrapped = NULL;
	size_t len = 0, wlen = 0;
	uint64_t known;
	int rc;

	if (!session_serving(d->sessions, session_shell_now()))
		return rpc_not_master(d, pk, msg, msglen);
	/* The nonce is the start's request id: a re-send returns the session
	 * its first copy started (docs/PROTOCOL.md "Request ids and retries"). */
	if ((rc = mp_get_uint(args, "nonce", MP_OPTIONAL, &id.rid, msg, msglen)) != CHUBBY_OK)
		return rc;
	known = ns_session_started(replica_ns(d->replica), rpc_req_principal(req), id.rid);
	if (known != 0) {
		struct ns_result res;
		struct wctx *w = xcalloc(1, sizeof *w);

		ns_result_init(&res);
		res.session = known;
		w->q = rpc_req_defer(req);
		done_session_start(CHUBBY_OK, &res, w);
		return RPC_DEFERRED;
	}
	rc = ns_encode_session_start(stamp(req), rpc_req_principal(req), &cmd, &len);
	if (rc == CHUBBY_OK && id.rid != 0) {
		rc = ns_encode_req(stamp(req), 0, id.rid, 0, cmd, len, &wrapped, &wlen);
		free(cmd);
		cmd = wrapped;
		len = wlen;
	}
	return submit(req, NULL, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_session_start, 0, 0,
	    msg, msglen);
}

#define MAX_ACKS 256

int
rpc_op_keepalive(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, hold = 0, acks[MAX_ACKS];
	const msgpack_object *a = NULL;
	size_t nacks = 0;
	int rc;

	if ((rc = check_session(req, args, pk, &session, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "hold_ms", MP_OPTIONAL, &hold, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_array(args, "acks", MP_OPTIONAL, &a, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (a != NULL) {
		if (a->via.array.size > MAX_ACKS) {
			snprintf(msg, msglen, "\"acks\" lists %u ids; at most %d at once",
			    (unsigned)a->via.array.size, MAX_ACKS);
			return CHUBBY_E_LIMIT;
		}
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if ((rc = mp_val_uint(&a->via.array.ptr[i], "an element of \"acks\"",
				 &acks[nacks++], msg, msglen)) != CHUBBY_OK)
				return rc;
	}
	session_keepalive(req_d(req)->sessions, session_shell_now(), session, hold, acks, nacks,
	    rpc_req_defer(req));
	return RPC_DEFERRED;
}

int
rpc_op_session_end(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	uint64_t session;
	struct req_id id;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(req, args, pk, &session, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, 0, done_nil, &id, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_session_end(stamp(req), session, session, NS_END_CLOSED, &cmd, &len);
	return submit_close(req, &id, cmd, len, rc, session, 0, msg, msglen);
}

/* --- handles and the namespace --------------------------------------------- */

static void
done_open(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_pack_kv_uint(&pk, "handle", res->handle);
	mp_pack_kv_bool(&pk, "created", res->created);
	mp_pack_str(&pk, "stat");
	pack_stat(&pk, &res->stat, true);
	rpc_req_reply(w->q, CHUBBY_OK, NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	free(w);
}

/* OPEN that may create a node with ACL names (issue 18): an ACL change,
 * audited, and each name given must be "" or an existing ACL file, as
 * for SET_ACL (acl_names_valid).  Only the names are checked here: a node
 * that exists ignores them, and the open-change rule needs a flag OPEN
 * does not have. */
static int
open_acl_check(struct rpc_req *req, struct mp_str path, char *const acl[3], char *msg,
    size_t msglen)
{
	const struct ns *ns = replica_ns(req_d(req)->replica);
	char *p = xstrndup(path.ptr, path.len);
	int rc = CHUBBY_OK;

	audit_acl(req, acl, false);
	rpc_req_audit(req, false, p, NULL);
	/* (The idiom of session.c's sm_node_exists: E_NOT_FOUND only when missing.) */
	if (ns_check_access(ns, "", p, NS_ACL_READ) != CHUBBY_E_NOT_FOUND) {
		free(p);
		return CHUBBY_OK; /* exists (or a bad name, which OPEN reports) */
	}
	for (int i = 0; i < 3 && rc == CHUBBY_OK; i++)
		if (acl[i] != NULL)
			rc = ns_acl_file_check(ns, acl[i], msg, msglen);
	free(p);
	return rc;
}

int
rpc_op_open(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, delay = UINT64_MAX;
	uint32_t flags = 0, events = 0;
	struct mp_str path, contents = {NULL, 0};
	char *acl[3], *p = NULL;
	bool have_acl, have_contents;
	struct req_id id;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(req, args, pk, &session, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, 0, done_open, &id, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_str(args, "path", MP_REQUIRED, &path, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_u32(args, "flags", MP_OPTIONAL, &flags, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "lock_delay_ms", MP_OPTIONAL, &delay, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_u32(args, "events", MP_OPTIONAL, &events, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_bin(args, "contents", MP_OPTIONAL, &contents, msg, msglen)) != CHUBBY_OK)
		return rc;
	have_contents = contents.ptr != NULL;
	if ((rc = get_acl(args, acl, &have_acl, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (memchr(path.ptr, '\0', path.len) != NULL) {
		snprintf(msg, msglen, "\"path\" holds a NUL byte");
		rc = CHUBBY_E_BAD_NAME;
	} else if (have_acl && (flags & NS_O_CREATE) &&
	    (rc = open_acl_check(req, path, acl, msg, msglen)) != CHUBBY_OK) {
		/* E_NOT_FOUND naming the ACL file, or E_BAD_NAME */
	} else {
		/* Event mask: protocol type k is bit k-1, as NS_EV_* are. */
		p = xstrndup(path.ptr, path.len);
		rc = ns_encode_open(stamp(req), session, p, flags, delay, events,
		    have_contents ? contents.ptr : NULL, contents.len,
		    have_acl ? (const char *const *)acl : NULL, &cmd, &len);
	}
	for (int i = 0; i < 3; i++)
		free(acl[i]);
	if (rc == CHUBBY_E_BAD_NAME || rc == CHUBBY_E_INVALID || rc == CHUBBY_E_TOO_LARGE ||
	    rc == CHUBBY_E_NOT_FOUND) {
		if (!msg[0])
			snprintf(msg, msglen, "%s", chubby_strerror(rc));
		free(p);
		return rc;
	}
	/* A node OPEN creates may have been cached under its name before (its
	 * predecessor's contents): invalidated first (docs/PROTOCOL.md).  The
	 * namespace takes names exactly as given, as the cache table keys them. */
	rc = submit(req, &id, (flags & NS_O_CREATE) ? SESSION_WRITE_CREATE : SESSION_WRITE_PLAIN, p, cmd,
	    len, rc, done_open, session, 0, msg, msglen);
	free(p);
	return rc;
}

typedef int (*handle_encoder)(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    uint8_t **out, size_t *len);

/* CLOSE, POISON, RELEASE: a handle and nothing else.  A CLOSE (REAPS) may
 * delete an ephemeral node: the session layer invalidates first. */
static int
simple_handle_write(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    handle_encoder enc, bool reaps, char *msg, size_t msglen)
{
	uint64_t session, handle;
	struct req_id id;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_nil, &id, msg, msglen)) !=
		CHUBBY_OK)
		return rc;
	rc = enc(stamp(req), session, handle, &cmd, &len);
	if (reaps)
		return submit_close(req, &id, cmd, len, rc, session, handle, msg, msglen);
	return submit(req, &id, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_nil, session, handle,
	    msg, msglen);
}

int
rpc_op_close(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	return simple_handle_write(req, args, pk, ns_encode_close, true, msg, msglen);
}

int
rpc_op_poison(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	return simple_handle_write(req, args, pk, ns_encode_poison, false, msg, msglen);
}

int
rpc_op_release(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	return simple_handle_write(req, args, pk, ns_encode_release, false, msg, msglen);
}

int
rpc_op_get_contents(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	struct chubbyd *d = req_d(req);
	uint64_t session, handle;
	bool cache = false, cacheable = false;
	struct ns_result res;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_bool(args, "cache", MP_OPTIONAL, &cache, msg, msglen)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_get_contents_and_stat(replica_ns(d->replica), session, handle, &res) != CHUBBY_OK) {
		rc = ns_fail(&res, msg, msglen);
		ns_result_free(&res);
		return rc;
	}
	if (cache)
		cacheable = session_cache_note(d->sessions, session,
		    ns_handle_path(replica_ns(d->replica), session, handle, NULL));
	msgpack_pack_map(pk, 3);
	mp_pack_kv_bin(pk, "contents", res.contents, res.contents_len);
	mp_pack_str(pk, "stat");
	/* What a client may cache leaves the lock fields out (PROTOCOL.md
	 * "Cache invalidation"); an uncached read gets them. */
	pack_stat(pk, &res.stat, !cacheable);
	mp_pack_kv_bool(pk, "cacheable", cacheable);
	ns_result_free(&res);
	return CHUBBY_OK;
}

int
rpc_op_get_stat(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, handle;
	struct ns_result res;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_get_stat(replica_ns(req_d(req)->replica), session, handle, &res) != CHUBBY_OK) {
		rc = ns_fail(&res, msg, msglen);
		ns_result_free(&res);
		return rc;
	}
	msgpack_pack_map(pk, 1);
	mp_pack_str(pk, "stat");
	pack_stat(pk, &res.stat, true);
	ns_result_free(&res);
	return CHUBBY_OK;
}

int
rpc_op_readdir(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, handle;
	struct ns_result res;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_readdir(replica_ns(req_d(req)->replica), session, handle, &res) != CHUBBY_OK) {
		rc = ns_fail(&res, msg, msglen);
		ns_result_free(&res);
		return rc;
	}
	msgpack_pack_map(pk, 1);
	mp_pack_str(pk, "names");
	msgpack_pack_array(pk, res.nnames);
	for (size_t i = 0; i < res.nnames; i++)
		mp_pack_str(pk, res.names[i]);
	ns_result_free(&res);
	return CHUBBY_OK;
}

int
rpc_op_set_contents(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	uint64_t session, handle, expected = 0;
	const msgpack_object *eo;
	struct mp_str contents;
	struct req_id id;
	char *path = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_stat, &id, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_bin(args, "contents", MP_REQUIRED, &contents, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "expected_gen", MP_OPTIONAL, &expected, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = handle_path(req, session, handle, &path, msg, msglen)) != CHUBBY_OK)
		return rc;
	eo = mp_map_get(args, "expected_gen");
	rc = ns_encode_set_contents(stamp(req), session, handle, contents.ptr, contents.len,
	    eo != NULL && eo->type != MSGPACK_OBJECT_NIL, expected, &cmd, &len);
	if (rc == CHUBBY_E_TOO_LARGE) {
		free(path);
		snprintf(msg, msglen, "contents of %zu bytes exceed max_contents (%llu)",
		    contents.len, (unsigned long long)req_d(req)->cfg->max_contents);
		return rc;
	}
	rc = submit(req, &id, SESSION_WRITE_NODE, path, cmd, len, rc, done_stat, session, handle,
	    msg, msglen);
	free(path);
	return rc;
}

int
rpc_op_set_acl(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, handle;
	char *acl[3], *path = NULL;
	bool have, allow_open = false;
	struct req_id id;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_stat, &id, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = get_acl(args, acl, &have, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (!have) {
		snprintf(msg, msglen, "\"acl\" is missing");
		return CHUBBY_E_MISSING;
	}
	rc = mp_get_bool(args, "allow_open_change", MP_OPTIONAL, &allow_open, msg, msglen);
	audit_acl(req, acl, allow_open);
	if (rc == CHUBBY_OK)
		rc = handle_path(req, session, handle, &path, msg, msglen);
	if (rc == CHUBBY_OK) {
		const struct ns *ns = replica_ns(req_d(req)->replica);
		struct ns_result cur;

		rpc_req_audit(req, false, path, NULL);
		ns_result_init(&cur);
		if ((rc = ns_get_stat(ns, session, handle, &cur)) != CHUBBY_OK)
			ns_fail(&cur, msg, msglen);
		/* The right to change comes first: a caller without it learns
		 * nothing about the ACL files from the checks after. */
		else if ((rc = ns_check_access(ns, rpc_req_principal(req), path, NS_ACL_CHANGE)) ==
		    CHUBBY_E_PERMISSION)
			snprintf(msg, msglen, "no change-ACL permission on %s", path);
		else if (rc == CHUBBY_OK)
			rc = acl_names_valid(req, acl, cur.stat.acl, allow_open, msg, msglen);
		ns_result_free(&cur);
	}
	if (rc == CHUBBY_OK)
		rc = ns_encode_set_acl(stamp(req), session, handle, (const char *const *)acl,
		    &cmd, &len);
	for (int i = 0; i < 3; i++)
		free(acl[i]);
	if (rc != CHUBBY_OK && cmd == NULL) {
		if (!msg[0])
			snprintf(msg, msglen, "%s", chubby_strerror(rc));
		free(path);
		return rc;
	}
	rc = submit(req, &id, SESSION_WRITE_NODE, path, cmd, len, rc, done_stat, session, handle,
	    msg, msglen);
	free(path);
	return rc;
}

int
rpc_op_delete(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	uint64_t session, handle;
	struct req_id id;
	char *path = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_nil, &id, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = handle_path(req, session, handle, &path, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_delete(stamp(req), session, handle, &cmd, &len);
	rc = submit(req, &id, SESSION_WRITE_NODE, path, cmd, len, rc, done_nil, session, handle,
	    msg, msglen);
	free(path);
	return rc;
}

/* --- locks and sequencers ---------------------------------------------------- */

/* A copy of an ACQUIRE that was granted: the grant, packed as the first
 * answer was, while the handle still holds the lock. */
static void
done_grant(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	(void)res;
	if (status != CHUBBY_OK) {
		done_nil(status, res, arg);
		return;
	}
	rc = session_pack_grant(req_d(w->q)->sessions, w->session, w->handle, &out, &outlen);
	if (rc == CHUBBY_OK)
		rpc_req_reply(w->q, CHUBBY_OK, NULL, out, outlen);
	else
		rpc_req_reply(w->q, rc, "this ACQUIRE was granted, but the handle no longer holds "
					"the lock", NULL, 0);
	free(out);
	free(w);
}

static int
acquire(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, bool wait,
    char *msg, size_t msglen)
{
	uint64_t session, handle, mode = 0, timeout = 0;
	struct req_id id;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_grant, &id, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_uint(args, "mode", MP_REQUIRED, &mode, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "timeout_ms", MP_OPTIONAL, &timeout, msg, msglen)) !=
		CHUBBY_OK)
		return rc;
	if (mode != NS_LOCK_SHARED && mode != NS_LOCK_EXCLUSIVE) {
		snprintf(msg, msglen, "\"mode\" must be 1 (shared) or 2 (exclusive), not %" PRIu64,
		    mode);
		return CHUBBY_E_INVALID;
	}
	session_acquire(req_d(req)->sessions, session_shell_now(), session, handle, (int)mode,
	    id.rid, id.floor, timeout, wait, rpc_req_defer(req));
	return RPC_DEFERRED;
}

int
rpc_op_acquire(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	return acquire(req, args, pk, true, msg, msglen);
}

int
rpc_op_try_acquire(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	return acquire(req, args, pk, false, msg, msglen);
}

int
rpc_op_get_sequencer(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	uint64_t session, handle;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = session_pack_grant(req_d(req)->sessions, session, handle, &out, &outlen);
	if (rc != CHUBBY_OK) {
		struct ns_result res;
		ns_result_init(&res);
		(void)ns_get_sequencer(replica_ns(req_d(req)->replica), session, handle, &res);
		snprintf(msg, msglen, "%s", res.msg[0] ? res.msg : chubby_strerror(rc));
		ns_result_free(&res);
		return rc;
	}
	wire_pack_raw(pk, out, outlen);
	free(out);
	return CHUBBY_OK;
}

/* Decodes a sequencer from the wire and checks its signature and cell. */
static int
read_sequencer(struct chubbyd *d, const struct mp_str *b, struct seqtoken *t, char *msg,
    size_t msglen)
{
	int rc = seqtoken_decode(d->seq_key, d->seq_key_len, b->ptr, b->len, t, msg, msglen);

	if (rc != CHUBBY_OK)
		return rc;
	if (strcmp(t->cell, d->cfg->cell) != 0) {
		snprintf(msg, msglen, "the sequencer is of cell \"%s\", not \"%s\"", t->cell,
		    d->cfg->cell);
		return CHUBBY_E_BAD_SEQUENCER;
	}
	return CHUBBY_OK;
}

int
rpc_op_set_sequencer(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	struct chubbyd *d = req_d(req);
	uint64_t session, handle;
	struct mp_str b = {NULL, 0};
	struct seqtoken t;
	struct ns_sequencer seq;
	struct req_id id;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_handle(req, args, pk, &session, &handle, msg, msglen)) != CHUBBY_OK ||
	    (rc = req_id_check(req, args, session, handle, done_nil, &id, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_bin(args, "sequencer", MP_OPTIONAL, &b, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (b.ptr == NULL) {
		rc = ns_encode_set_sequencer(stamp(req), session, handle, NULL, &cmd, &len);
	} else {
		if ((rc = read_sequencer(d, &b, &t, msg, msglen)) != CHUBBY_OK)
			return rc;
		seq.path = t.path;
		seq.mode = t.mode;
		seq.lock_gen = t.lock_gen;
		seq.instance = t.instance;
		rc = ns_encode_set_sequencer(stamp(req), session, handle, &seq, &cmd, &len);
	}
	return submit(req, &id, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_nil, session, handle,
	    msg, msglen);
}

int
rpc_op_check_sequencer(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen)
{
	struct chubbyd *d = req_d(req);
	struct mp_str b;
	struct seqtoken t;
	int rc;

	if (!session_serving(d->sessions, session_shell_now()))
		return rpc_not_master(d, pk, msg, msglen);
	if ((rc = mp_get_bin(args, "sequencer", MP_REQUIRED, &b, msg, msglen)) != CHUBBY_OK ||
	    (rc = read_sequencer(d, &b, &t, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = ns_check_sequencer(replica_ns(d->replica), t.path, t.mode, t.lock_gen, t.instance);
	if (rc != CHUBBY_OK) {
		snprintf(msg, msglen, "the %s lock on %s is no longer held at generation %" PRIu64,
		    t.mode == NS_LOCK_EXCLUSIVE ? "exclusive" : "shared", t.path, t.lock_gen);
		return rc;
	}
	msgpack_pack_nil(pk);
	return CHUBBY_OK;
}

/* --- administration --------------------------------------------------------- */

/* SESSIONS and LOCKS show every session's principal and every held lock,
 * nodes the caller may not read included: the superuser's alone (issue
 * 18; docs/PROTOCOL.md).  False with the refusal in MSG otherwise. */
static bool
superuser(struct rpc_req *req, const char *what, char *msg, size_t msglen)
{
	const char *su = req_d(req)->cfg->superuser, *who = rpc_req_principal(req);

	if (who != NULL && su[0] != '\0' && strcmp(who, su) == 0)
		return true;
	snprintf(msg, msglen, "only the cell's superuser (\"%s\") may %s; you are \"%s\"", su, what,
	    who != NULL ? who : "?");
	return false;
}

/*
 * SESSIONS and LOCKS, a page per request (docs/PROTOCOL.md
 * "Administration"): ARGS {after, limit}, both optional, answered with
 * {entries, next}, NEXT absent on the last page.  A request with nil
 * arguments comes from a client that predates pages: it gets the first
 * page as the bare list it expects, never a reply too big for a frame.
 */
static int
admin_page(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen, bool locks)
{
	struct chubbyd *d = req_d(req);
	bool paged = args != NULL && args->type != MSGPACK_OBJECT_NIL;
	uint64_t after = 0, limit = 0, next;
	size_t max_bytes;
	int rc;

	if (!session_serving(d->sessions, session_shell_now()))
		return rpc_not_master(d, pk, msg, msglen);
	if (paged && ((rc = mp_get_uint(args, "after", MP_OPTIONAL, &after, msg, msglen)) !=
			     CHUBBY_OK ||
			 (rc = mp_get_uint(args, "limit", MP_OPTIONAL, &limit, msg, msglen)) !=
			     CHUBBY_OK))
		return rc;
	/* A page fits the frames of both ends (lockctl reads up to twice the
	 * default), with room for the reply's envelope. */
	max_bytes = (d->cfg->max_frame < FRAME_MAX_DEFAULT ? d->cfg->max_frame : FRAME_MAX_DEFAULT) -
		    1024;
	if (paged) {
		msgpack_pack_map(pk, 2);
		mp_pack_str(pk, "entries");
	}
	if (locks)
		next = session_pack_locks(d->sessions, after, (size_t)limit, max_bytes, pk);
	else
		next = session_pack_sessions(d->sessions, session_shell_now(), after, (size_t)limit,
		    max_bytes, pk);
	if (paged) {
		mp_pack_str(pk, "next");
		if (next != 0)
			msgpack_pack_uint64(pk, next);
		else
			msgpack_pack_nil(pk);
	}
	return CHUBBY_OK;
}

int
rpc_op_sessions(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	if (!superuser(req, "list every session", msg, msglen))
		return CHUBBY_E_PERMISSION;
	return admin_page(req, args, pk, msg, msglen, false);
}

int
rpc_op_locks(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	if (!superuser(req, "list every lock", msg, msglen))
		return CHUBBY_E_PERMISSION;
	return admin_page(req, args, pk, msg, msglen, true);
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

/* Chubby's calls, for rpc.c's dispatch (and the fuzz target's). */
static const struct {
	uint32_t op;
	rpc_handler fn;
} rpc_ns_ops[] = {
    {PROTO_OP_SESSIONS, rpc_op_sessions},
    {PROTO_OP_LOCKS, rpc_op_locks},
    {PROTO_OP_SESSION_START, rpc_op_session_start},
    {PROTO_OP_KEEPALIVE, rpc_op_keepalive},
    {PROTO_OP_SESSION_END, rpc_op_session_end},
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
