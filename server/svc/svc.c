/* svc.c: Chubby's calls on the master (see svc.h).  Each checks its
 * arguments and the session, then either answers from the applied
 * namespace (a read) or encodes a namespace command and hands it to the
 * session layer (a write), answering when it has been applied.  Pure: the
 * time comes in with each call, everything else through s->env. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "errbuf.h"
#include "ns/ns.h"
#include "seqtoken.h"
#include "session/mhandle.h"
#include "session/session.h"
#include "simknob.h"
#include "svc/svc.h"
#include "xmalloc.h"

struct svc {
	struct svc_config cfg;
	char *cell, *superuser; /* cfg's, copied */
	char **readonly;        /* cfg's, copied */
	char *proxies;          /* cfg's, copied ("": none) */
	struct svc_env env;
	struct session_mgr *sm;
};

/* One call while it is being served. */
struct call {
	struct svc *s;
	struct session_now now;
	void *req;
	const char *principal;
	/* A proxy session's principal, which its calls act as (PRINCIPAL
	 * points here then): copied, as the namespace's may go with an apply. */
	char as[NS_MAX_PRINCIPAL + 1];
	const struct svc_args *a;
	/* An error answered at once: its message and what its result says. */
	char msg[256];
	enum svc_result_kind kind;
	/* A call on a handle kept in memory (docs/SESSIONS.md "Handles in
	 * memory"): its writes name the node through MEM. */
	const struct mhandle *mh;
};

/* An op's return when it has answered or kept the request itself. */
#define TAKEN (-1)
/* op_open_mem's when the open must go through the log after all. */
#define TO_LOG (-2)

/* What a write's answer needs once the command has been applied: the
 * token to answer, whether it was kept past the call (a copy of a write
 * answered from its recorded outcome is answered within it). */
struct wctx {
	struct svc *s;
	void *tok;
	bool deferred;
	uint64_t session;
	uint64_t handle;
};

struct svc *
svc_new(const struct svc_config *cfg, const struct svc_env *env, struct session_mgr *sm)
{
	struct svc *s = xcalloc(1, sizeof *s);

	s->cfg = *cfg;
	s->cell = xstrdup(cfg->cell != NULL ? cfg->cell : "");
	s->superuser = xstrdup(cfg->superuser != NULL ? cfg->superuser : "");
	s->proxies = xstrdup(cfg->proxies != NULL ? cfg->proxies : "");
	s->cfg.proxies = s->proxies;
	s->cfg.cell = s->cell;
	s->cfg.superuser = s->superuser;
	s->readonly = xcalloc(cfg->nreadonly + 1, sizeof *s->readonly);
	for (size_t i = 0; i < cfg->nreadonly; i++)
		s->readonly[i] = xstrdup(cfg->readonly[i]);
	s->cfg.readonly = (const char *const *)s->readonly;
	s->env = *env;
	s->sm = sm;
	return s;
}

void
svc_free(struct svc *s)
{
	if (s == NULL)
		return;
	free(s->cell);
	free(s->superuser);
	free(s->proxies);
	for (size_t i = 0; i < s->cfg.nreadonly; i++)
		free(s->readonly[i]);
	free(s->readonly);
	free(s);
}

/* --- answers ----------------------------------------------------------------- */

static void
answer(struct svc *s, void *tok, bool deferred, int status, const char *msg,
    const struct svc_result *r)
{
	struct svc_result nil;

	if (r == NULL) {
		memset(&nil, 0, sizeof nil);
		r = &nil;
	}
	s->env.reply(s->env.arg, tok, deferred, status, msg, r);
}

/* A successful answer within the call. */
static int
answer_now(struct call *c, const struct svc_result *r)
{
	answer(c->s, c->req, false, CHUBBY_OK, NULL, r);
	return TAKEN;
}

static struct wctx *
wctx_new(struct call *c, bool keep, uint64_t session, uint64_t handle)
{
	struct wctx *w = xcalloc(1, sizeof *w);

	w->s = c->s;
	w->deferred = keep;
	w->tok = keep ? c->s->env.defer(c->s->env.arg, c->req) : c->req;
	w->session = session;
	w->handle = handle;
	return w;
}

static void
audit(struct call *c, bool always, const char *path, const char *const *acl, bool allow_open)
{
	if (c->s->env.audit != NULL)
		c->s->env.audit(c->s->env.arg, c->req, always, path, acl, allow_open);
}

static const struct ns *
c_ns(struct call *c)
{
	return session_ns(c->s->sm);
}

/* The stamp of a command proposed now (docs/NAMESPACE.md "Stamps"). */
static uint64_t
stamp(struct call *c)
{
	return session_stamp(c->s->sm, c->now);
}

/* The namespace's refusal, with its message. */
static int
ns_fail(struct call *c, const struct ns_result *res)
{
	errbuf_set(c->msg, sizeof c->msg, "%s", res->msg[0] ? res->msg : chubby_strerror(res->status));
	return res->status;
}

static int
not_master(struct call *c)
{
	c->kind = SVC_RES_NOT_MASTER;
	return CHUBBY_E_NOT_MASTER;
}

/* --- common checks ------------------------------------------------------------ */

/* Whether PRINCIPAL is one of the cell's trusted proxies (svc_config's
 * proxies: names separated by commas or blanks). */
static bool
is_proxy(const struct svc *s, const char *principal)
{
	size_t plen = principal != NULL ? strlen(principal) : 0;
	const char *p = s->proxies;

	while (plen > 0 && *p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == plen && memcmp(p, principal, n) == 0)
			return true;
		p += n;
	}
	return false;
}

static int
proxy_only(struct call *c, const char *what)
{
	errbuf_set(c->msg, sizeof c->msg,
	    "only a proxy named in the cell's `proxies` may %s (the connection's principal is %s)",
	    what, c->principal != NULL ? c->principal : "none");
	return CHUBBY_E_PERMISSION;
}

/* Checks session and epoch; on failure the error's result says which
 * master (NOT_MASTER) or epoch (BAD_EPOCH).  A proxy session is used only
 * from a proxy's connection, and its calls act as its principal (the
 * client's: docs/PROTOCOL.md "Proxies"). */
static int
check_session(struct call *c)
{
	const struct ns *ns = c_ns(c);
	int rc;

	if (ns != NULL && ns_session_is_proxy(ns, c->a->session)) {
		const char *who = ns_session_principal(ns, c->a->session);

		if (!is_proxy(c->s, c->principal))
			return proxy_only(c, "use a proxy session");
		errbuf_set(c->as, sizeof c->as, "%s", who != NULL ? who : "");
		c->principal = c->as;
	}
	rc = session_check(c->s->sm, c->now, c->a->session, c->a->epoch, c->principal, c->msg,
	    sizeof c->msg);

	if (rc == CHUBBY_E_NOT_MASTER)
		return not_master(c);
	if (rc == CHUBBY_E_BAD_EPOCH)
		c->kind = SVC_RES_EPOCH;
	return rc;
}

/*
 * Whether the namespace recorded the outcome of the call's request id in
 * SESSION: TAKEN, a copy of one that succeeded, RES holds the outcome to
 * answer with as the first time; CHUBBY_OK: not recorded, go on and
 * propose; else the error, its message in the call's (a rid below the
 * session's floor: answered once and forgotten, never applied again).
 */
static int
req_recorded(struct call *c, uint64_t session, struct ns_result *res)
{
	const struct svc_args *a = c->a;
	int rc;

	if (a->rid_floor > a->rid) {
		errbuf_set(c->msg, sizeof c->msg, "\"rid_floor\" %" PRIu64 " is above \"rid\" %" PRIu64,
		    a->rid_floor, a->rid);
		return CHUBBY_E_INVALID;
	}
	rc = ns_request_outcome(c_ns(c), session, a->rid, res);
	if (rc == CHUBBY_OK)
		return TAKEN;
	if (rc == CHUBBY_E_INVALID) {
		errbuf_set(c->msg, sizeof c->msg, "%s", res->msg);
		return rc;
	}
	return CHUBBY_OK; /* not recorded (or no such session: the write says so) */
}

/* req_recorded for a write whose answer is DONE's: a recorded outcome is
 * answered through it (TAKEN). */
static int
req_id_check(struct call *c, uint64_t session, uint64_t handle, session_done_fn done)
{
	struct ns_result res;
	int rc;

	/* Broken on purpose in the simulator: every copy applies again. */
	if (c->a->rid == 0 || SIM_KNOB(SIM_KNOB_NO_DEDUPE))
		return CHUBBY_OK;
	ns_result_init(&res);
	if ((rc = req_recorded(c, session, &res)) == TAKEN)
		done(CHUBBY_OK, &res, wctx_new(c, false, session, handle));
	ns_result_free(&res);
	return rc;
}

/* Readies a write's command: wrapped in its request id if it has one
 * (NS_CMD_REQ).  RC is the encoding's; on failure *CMD is freed and the
 * message is in the call's. */
static int
write_prepare(struct call *c, bool with_id, uint64_t session, uint8_t **cmd, size_t *len, int rc)
{
	if (rc == CHUBBY_OK && c->mh != NULL) {
		/* On a handle in memory: the namespace makes it for the command
		 * (ns_encode_mem), checking what an OPEN checks. */
		uint8_t *mem = NULL;
		size_t mlen = 0;

		rc = ns_encode_mem(stamp(c), session, c->mh->id, c->mh->path, c->mh->instance,
		    c->mh->flags & (NS_O_READ | NS_O_WRITE), c->mh->poisoned, *cmd, *len, &mem,
		    &mlen);
		free(*cmd);
		*cmd = mem;
		*len = mlen;
	}
	if (rc == CHUBBY_OK && with_id && c->a->rid != 0) {
		uint8_t *wrapped = NULL;
		size_t wlen = 0;

		rc = ns_encode_req(stamp(c), session, c->a->rid, c->a->rid_floor, *cmd, *len,
		    &wrapped, &wlen);
		free(*cmd);
		*cmd = wrapped;
		*len = wlen;
	}
	if (rc != CHUBBY_OK) {
		free(*cmd);
		*cmd = NULL;
		errbuf_set(c->msg, sizeof c->msg, "cannot encode the command: %s", chubby_strerror(rc));
	}
	return rc;
}

/* Hands a write to the session layer; the answer goes out from DONE. */
static int
submit(struct call *c, bool with_id, enum session_write_kind kind, const char *path,
    uint8_t *cmd, size_t len, int rc, session_done_fn done, uint64_t session, uint64_t handle)
{
	audit(c, false, path, NULL, false);
	if ((rc = write_prepare(c, with_id, session, &cmd, &len, rc)) != CHUBBY_OK)
		return rc;
	session_write(c->s->sm, c->now, kind, path, cmd, len, done,
	    wctx_new(c, true, session, handle));
	free(cmd);
	return TAKEN;
}

/* The usual end of a write: nil on success, else the error. */
static void
done_nil(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;

	/* The write may have been proposed, and a proposal may still be
	 * chosen by the next master: nobody here knows whether it applied. */
	if (status == CHUBBY_E_NOT_MASTER)
		answer(w->s, w->tok, w->deferred, status,
		    "mastership lost: the write may or may not have been applied; re-send it with "
		    "the same rid (nonce) at the new master",
		    NULL);
	else
		answer(w->s, w->tok, w->deferred, status,
		    status != CHUBBY_OK && res != NULL && res->msg[0] ? res->msg : NULL, NULL);
	free(w);
}

/* CLOSE and SESSION_END (HANDLE 0): writes that may reap ephemeral nodes,
 * invalidated first by the session layer. */
static int
submit_close(struct call *c, uint8_t *cmd, size_t len, int rc, uint64_t session, uint64_t handle)
{
	if ((rc = write_prepare(c, true, session, &cmd, &len, rc)) != CHUBBY_OK)
		return rc;
	session_write_close(c->s->sm, c->now, session, handle, cmd, len, done_nil,
	    wctx_new(c, true, session, handle));
	free(cmd);
	return TAKEN;
}

static void
done_stat(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct svc_result r;

	memset(&r, 0, sizeof r);
	if (status == CHUBBY_OK && res != NULL) {
		r.kind = SVC_RES_STAT;
		r.stat = &res->stat;
		answer(w->s, w->tok, w->deferred, CHUBBY_OK, NULL, &r);
		free(w);
		return;
	}
	if (status == CHUBBY_E_GEN_MISMATCH) {
		struct ns_result cur;

		const struct mhandle *mh = mh_find(session_mhandles(w->s->sm), w->session, w->handle);

		ns_result_init(&cur);
		if ((mh != NULL ? ns_path_stat(session_ns(w->s->sm), mh->path, mh->instance, &cur) :
				  ns_get_stat(session_ns(w->s->sm), w->session, w->handle, &cur)) ==
		    CHUBBY_OK) {
			r.kind = SVC_RES_CONTENT_GEN;
			r.content_gen = cur.stat.content_gen;
			answer(w->s, w->tok, w->deferred, status, res != NULL ? res->msg : NULL, &r);
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
handle_path(struct call *c, uint64_t session, uint64_t handle, char **path)
{
	const char *p = c->mh != NULL ? c->mh->path : ns_handle_path(c_ns(c), session, handle, NULL);

	if (p == NULL) {
		errbuf_set(c->msg, sizeof c->msg, "handle %" PRIu64 " is not open in session %" PRIu64,
		    handle, session);
		return CHUBBY_E_BAD_HANDLE;
	}
	*path = xstrdup(p);
	return CHUBBY_OK;
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
acl_names_valid(struct call *c, const char *const acl[3], const char *const cur[3],
    bool allow_open)
{
	const char *eff[3];
	int rc;

	for (int i = 0; i < 3; i++) {
		if (acl[i] != NULL &&
		    (rc = ns_acl_file_check(c_ns(c), acl[i], c->msg, sizeof c->msg)) != CHUBBY_OK)
			return rc;
		eff[i] = acl[i] != NULL ? acl[i] : cur[i] != NULL ? cur[i] : "";
	}
	if (!allow_open && eff[2][0] == '\0' && (eff[0][0] != '\0' || eff[1][0] != '\0')) {
		errbuf_set(c->msg, sizeof c->msg,
		    "the change-ACL would be open to all while %s is restricted, so anyone could "
		    "lift the restriction: name a change-ACL file, or to mean it, give "
		    "--allow-open-change (allow_open_change)",
		    eff[0][0] != '\0' ? "read" : "write");
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

/* --- sessions ------------------------------------------------------------------ */

static void
done_session_start(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct svc *s = w->s;
	struct svc_result r;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	memset(&r, 0, sizeof r);
	/* The lease granted now, which load may have lengthened
	 * (docs/SESSIONS.md). */
	r.lease_ms = session_restarted(s->sm, session_last_now(s->sm), res->session);
	r.kind = SVC_RES_SESSION;
	r.session = res->session;
	r.epoch = session_epoch(s->sm);
	/* A proxy learns how long its clients' handles outlive this session,
	 * so that its own config cannot stretch their leases past it. */
	if (session_ns(s->sm) != NULL && ns_session_is_proxy(session_ns(s->sm), res->session))
		r.claim_window_ms = session_claim_window_ms(s->sm);
	answer(s, w->tok, w->deferred, CHUBBY_OK, NULL, &r);
	free(w);
}

static int
op_session_start(struct call *c)
{
	uint8_t *cmd = NULL, *wrapped = NULL;
	size_t len = 0, wlen = 0;
	uint64_t known, nonce = c->a->rid;
	bool proxy = c->a->principal != NULL;
	int rc;

	if (!session_serving(c->s->sm, c->now))
		return not_master(c);
	/* A proxy starts a session for its client's principal (docs/
	 * PROTOCOL.md "Proxies"): ACLs are checked against it. */
	if (proxy) {
		if (!is_proxy(c->s, c->principal))
			return proxy_only(c, "start a session for another principal");
		errbuf_set(c->as, sizeof c->as, "%s", c->a->principal);
		if (strlen(c->a->principal) != strlen(c->as)) {
			errbuf_set(c->msg, sizeof c->msg, "\"principal\" is longer than %d bytes",
			    NS_MAX_PRINCIPAL);
			return CHUBBY_E_INVALID;
		}
		c->principal = c->as;
	}
	/* The nonce is the start's request id: a re-send returns the session
	 * its first copy started (docs/PROTOCOL.md "Request ids and retries"). */
	known = ns_session_started(c_ns(c), c->principal, nonce);
	if (known != 0) {
		struct ns_result res;

		ns_result_init(&res);
		res.session = known;
		done_session_start(CHUBBY_OK, &res, wctx_new(c, false, 0, 0));
		return TAKEN;
	}
	rc = ns_encode_session_start_proxy(stamp(c), c->principal, proxy, &cmd, &len);
	if (rc == CHUBBY_OK && nonce != 0) {
		rc = ns_encode_req(stamp(c), 0, nonce, 0, cmd, len, &wrapped, &wlen);
		free(cmd);
		cmd = wrapped;
		len = wlen;
	}
	return submit(c, false, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_session_start, 0, 0);
}

static int
op_keepalive(struct call *c)
{
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	session_keepalive(c->s->sm, c->now, c->a->session, c->a->hold_ms, c->a->acks, c->a->nacks,
	    c->a->have_ev_ack ? &c->a->ev_ack : NULL, c->s->env.defer(c->s->env.arg, c->req));
	return TAKEN;
}

static int
op_session_end(struct call *c)
{
	uint64_t session = c->a->session;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, session, 0, done_nil)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_session_end(stamp(c), session, session, NS_END_CLOSED, &cmd, &len);
	return submit_close(c, cmd, len, rc, session, 0);
}

/* --- handles in memory (docs/SESSIONS.md "Handles in memory") ----------------- */

static struct mh_table *
mht(struct call *c)
{
	return session_mhandles(c->s->sm);
}

/* The most handles a session may have, in the log and in memory. */
static size_t
max_handles(const struct svc *s)
{
	return s->cfg.max_handles != 0 ? s->cfg.max_handles : 1000;
}

/* SESSION's handles, in the log and in memory, each once: a handle in
 * memory that holds a lock (or a sequencer) is in both. */
static size_t
session_handles(struct call *c, uint64_t session)
{
	size_t n = ns_session_handles(c_ns(c), session, NULL, 0), m = mh_count(mht(c), session);
	size_t both = 0;

	if (n > 0 && m > 0) {
		uint64_t *ids = xcalloc(n, sizeof *ids);

		n = ns_session_handles(c_ns(c), session, ids, n);
		for (size_t i = 0; i < n; i++)
			if (mh_is_mem_id(ids[i]) && mh_find(mht(c), session, ids[i]) != NULL)
				both++;
		free(ids);
	}
	return n + m - both;
}

static int
handle_limit(struct call *c, uint64_t session)
{
	if (session_handles(c, session) >= max_handles(c->s)) {
		errbuf_set(c->msg, sizeof c->msg, "too many handles in this session");
		return CHUBBY_E_LIMIT;
	}
	return CHUBBY_OK;
}

/* The open flags a handle in memory may have: intents, and CREATE for a
 * node that exists (which creates nothing). */
#define MEM_FLAGS (NS_O_READ | NS_O_WRITE | NS_O_CREATE)
/* The events a handle in memory may ask for: those of an OPEN. */
#define MEM_EVENTS NS_EV_ALL
/* Those that tell what a reader would see: as cmd_open, they need the
 * read intent. */
#define MEM_READ_EVENTS \
	(NS_EV_CONTENTS_MODIFIED | NS_EV_CHILD_ADDED | NS_EV_CHILD_REMOVED | NS_EV_CHILD_MODIFIED)

/*
 * Whether an OPEN may be answered from master memory: the cell allows it,
 * the client asked (an older client's OPEN goes through the log as it
 * always did), and the open need change nothing the log must hold: no
 * exclusive, ephemeral or directory creation (op_open_mem sends an open
 * that would create, or that finds an ephemeral node, to the log), no
 * ACL names, no lock-delay of its own (a handle in memory has the cell's
 * default; a handle's own is the namespace's to apply when its session
 * expires, so it stays in the log), contents only as a CREATE's initial
 * ones.  An event mask is kept with the handle: the session layer gives
 * it the events of applied commands (mh_watchers).  Writes and locks
 * through such a handle name it in their own log entries (MEM).
 */
static bool
open_in_memory(struct call *c)
{
	const struct svc_args *a = c->a;

	return c->s->cfg.handles_in_memory && a->mem && (a->flags & ~(uint32_t)MEM_FLAGS) == 0 &&
	    (a->flags & (NS_O_READ | NS_O_WRITE)) != 0 && (a->events & ~(uint32_t)MEM_EVENTS) == 0 &&
	    !a->have_acl &&
	    a->lock_delay_ms == UINT64_MAX && (!a->have_contents || (a->flags & NS_O_CREATE));
}

/* The checks of OPEN (ns.c cmd_open) for an open of an existing PATH with
 * the intents of FLAGS by SESSION, against the applied namespace: the
 * node (instance INSTANCE, 0: any), the ACLs of its intents, the
 * session's handle count.  The node's stat in RES. */
static int
mem_open_check(struct call *c, uint64_t session, const char *path, uint64_t instance,
    uint32_t flags, struct ns_result *res)
{
	const char *who = ns_session_principal(c_ns(c), session);
	int rc;

	if (who == NULL) {
		errbuf_set(c->msg, sizeof c->msg, "no such session");
		return CHUBBY_E_BAD_SESSION;
	}
	if ((c->a->events & MEM_READ_EVENTS) != 0 && !(flags & NS_O_READ)) {
		errbuf_set(c->msg, sizeof c->msg,
		    "events about contents or children need a handle opened for reading");
		return CHUBBY_E_PERMISSION;
	}
	if ((rc = ns_path_stat(c_ns(c), path, instance, res)) != CHUBBY_OK) {
		/* A bad name is reported as OPEN reports it. */
		if (rc == CHUBBY_E_NOT_FOUND &&
		    ns_check_access(c_ns(c), who, path, NS_ACL_READ) == CHUBBY_E_BAD_NAME) {
			errbuf_set(c->msg, sizeof c->msg, "bad name %s", path);
			return CHUBBY_E_BAD_NAME;
		}
		return ns_fail(c, res);
	}
	if ((flags & NS_O_READ) && ns_check_access(c_ns(c), who, path, NS_ACL_READ) != CHUBBY_OK) {
		errbuf_set(c->msg, sizeof c->msg, "no read permission on that node");
		return CHUBBY_E_PERMISSION;
	}
	if ((flags & NS_O_WRITE) && ns_check_access(c_ns(c), who, path, NS_ACL_WRITE) != CHUBBY_OK) {
		errbuf_set(c->msg, sizeof c->msg, "no write permission on that node");
		return CHUBBY_E_PERMISSION;
	}
	return handle_limit(c, session);
}

static int
op_open_mem(struct call *c)
{
	const struct svc_args *a = c->a;
	struct svc_result r;
	struct ns_result res;
	struct mhandle *h;
	int rc;

	audit(c, false, a->path, NULL, false);
	ns_result_init(&res);
	/* A copy of an OPEN whose answer was lost (the same rid) gets the
	 * handle the first made, as the log's request records answer it, and
	 * before the limit, which that handle counts in. */
	if ((h = mh_find_rid(mht(c), a->session, a->rid)) != NULL && strcmp(h->path, a->path) == 0 &&
	    ns_path_stat(c_ns(c), h->path, h->instance, &res) == CHUBBY_OK) {
		memset(&r, 0, sizeof r);
		r.kind = SVC_RES_OPEN;
		r.handle = h->id;
		r.stat = &res.stat;
		answer_now(c, &r);
		ns_result_free(&res);
		return TAKEN;
	}
	rc = mem_open_check(c, a->session, a->path, 0, a->flags, &res);
	if (rc == CHUBBY_E_NOT_FOUND && (a->flags & NS_O_CREATE)) {
		/* Absent: this open creates it, through the log. */
		ns_result_free(&res);
		c->msg[0] = '\0';
		return TO_LOG;
	}
	if (rc == CHUBBY_E_NOT_FOUND && a->cache) {
		/* Existence caching, as done_open_absent does for the log's OPEN. */
		memset(&r, 0, sizeof r);
		r.kind = SVC_RES_ABSENT;
		r.cacheable = session_cache_note(c->s->sm, a->session, a->path);
		answer(c->s, c->req, false, rc, c->msg, &r);
		ns_result_free(&res);
		return TAKEN;
	}
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		return rc;
	}
	if (res.stat.ephemeral) {
		/* An open holds an ephemeral node (the namespace reaps it when
		 * its last handle closes): only the log's handles count. */
		ns_result_free(&res);
		return TO_LOG;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_OPEN;
	r.handle = mh_next_id(mht(c), session_epoch(c->s->sm), a->session);
	h = mh_add(mht(c), a->session, r.handle, a->path, res.stat.instance, a->flags);
	h->rid = a->rid;
	mh_set_events(mht(c), h, a->events);
	r.stat = &res.stat;
	answer_now(c, &r);
	ns_result_free(&res);
	return TAKEN;
}

/*
 * The memory handle a call names, *OUT; re-created from what the call
 * carries if this master does not know it (a fail-over since it was
 * opened: Chubby §2.9 step 7), checked against the replicated state as an
 * OPEN would be, the node's instance included: a node deleted (or made
 * again) since fails as a deleted node's handle does.
 */
static int
mem_handle(struct call *c, struct mhandle **out)
{
	const struct svc_args *a = c->a;
	struct ns_result res;
	int rc;

	if ((*out = mh_find(mht(c), a->session, a->handle)) != NULL)
		return CHUBBY_OK;
	if (!a->have_reopen || a->path == NULL || a->instance == 0 ||
	    (a->flags & ~(uint32_t)MEM_FLAGS) != 0 || (a->flags & (NS_O_READ | NS_O_WRITE)) == 0 ||
	    (a->events & ~(uint32_t)MEM_EVENTS) != 0) {
		errbuf_set(c->msg, sizeof c->msg, "no such handle in this session");
		return CHUBBY_E_BAD_HANDLE;
	}
	ns_result_init(&res);
	rc = mem_open_check(c, a->session, a->path, a->instance, a->flags, &res);
	ns_result_free(&res);
	if (rc != CHUBBY_OK)
		return rc;
	*out = mh_add(mht(c), a->session, a->handle, a->path, a->instance, a->flags);
	(*out)->poisoned = a->poisoned;
	/* The mask the reopen carries: the handle gets the events of
	 * commands applied from now on (those before, it learns of through
	 * MASTER_FAILOVER, as every handle does). */
	mh_set_events(mht(c), *out, a->events);
	return CHUBBY_OK;
}

/* A read through memory handle H: the node it opened, still that instance. */
static int
mem_read(struct call *c, enum svc_op op, const struct mhandle *h)
{
	struct svc_result r;
	struct ns_result res;
	int rc;

	ns_result_init(&res);
	memset(&r, 0, sizeof r);
	if (op == SVC_GET_CONTENTS)
		rc = ns_path_contents_and_stat(c_ns(c), h->path, h->instance, &res);
	else if (op == SVC_READDIR)
		rc = ns_path_readdir(c_ns(c), h->path, h->instance, &res);
	else
		rc = ns_path_stat(c_ns(c), h->path, h->instance, &res);
	if (rc != CHUBBY_OK) {
		rc = ns_fail(c, &res);
		ns_result_free(&res);
		return rc;
	}
	if (op == SVC_GET_CONTENTS) {
		r.kind = SVC_RES_CONTENTS;
		if (c->a->cache)
			r.cacheable = session_cache_note(c->s->sm, h->session, h->path);
		r.contents = res.contents;
		r.contents_len = res.contents_len;
	} else if (op == SVC_READDIR) {
		r.kind = SVC_RES_NAMES;
		r.names = res.names;
		r.nnames = res.nnames;
	} else {
		r.kind = SVC_RES_STAT;
	}
	r.stat = &res.stat;
	answer_now(c, &r);
	ns_result_free(&res);
	return TAKEN;
}

static int serve_log(struct call *c, enum svc_op op);

/*
 * A call on a handle kept in memory.  Its reads are answered from the
 * applied namespace.  Its writes (SET_CONTENTS, DELETE, SET_ACL) are
 * served as on a handle of the log's, their commands wrapped in MEM
 * (write_prepare), which names the node and the handle; so are ACQUIRE,
 * which leaves the holder replicated (the session's end frees its lock,
 * a new master finds it), RELEASE, which drops it again, and
 * SET_SEQUENCER.  CLOSE and POISON change only memory unless the
 * namespace holds the handle.  What a read-only handle cannot do is
 * refused at once, as the namespace would.
 */
static int
serve_mem(struct call *c, enum svc_op op)
{
	struct ns_result res;
	struct mhandle *h;
	bool in_ns;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	in_ns = ns_handle_path(c_ns(c), c->a->session, c->a->handle, NULL) != NULL;
	if (op == SVC_CLOSE) {
		/* Closing a handle this master does not know (closed already,
		 * or opened under an earlier master) leaves it closed; one the
		 * namespace holds (a lock or sequencer on it) closes there. */
		(void)mh_remove(mht(c), c->a->session, c->a->handle);
		if (in_ns)
			return serve_log(c, op);
		session_handle_closed(c->s->sm, c->a->session, c->a->handle);
		return answer_now(c, NULL);
	}
	if ((rc = mem_handle(c, &h)) != CHUBBY_OK)
		return rc;
	if (op == SVC_POISON) {
		h->poisoned = true;
		return in_ns ? serve_log(c, op) : answer_now(c, NULL);
	}
	if (h->poisoned) {
		errbuf_set(c->msg, sizeof c->msg, "handle on %s was poisoned", h->path);
		return CHUBBY_E_CANCELLED;
	}
	ns_result_init(&res);
	rc = ns_path_stat(c_ns(c), h->path, h->instance, &res);
	if (rc != CHUBBY_OK) {
		rc = ns_fail(c, &res);
		ns_result_free(&res);
		return rc;
	}
	ns_result_free(&res);
	switch (op) {
	case SVC_GET_CONTENTS:
	case SVC_GET_STAT:
	case SVC_READDIR:
		return mem_read(c, op, h);
	case SVC_RELEASE:
	case SVC_GET_SEQUENCER:
		if (!in_ns) {
			errbuf_set(c->msg, sizeof c->msg, "the handle does not hold lock %s",
			    h->path);
			return CHUBBY_E_NOT_HELD;
		}
		break;
	case SVC_SET_CONTENTS:
	case SVC_DELETE:
	case SVC_ACQUIRE:
	case SVC_TRY_ACQUIRE:
		if (!(h->flags & NS_O_WRITE)) {
			errbuf_set(c->msg, sizeof c->msg, "handle was not opened for writing");
			return CHUBBY_E_PERMISSION;
		}
		break;
	default:
		break;
	}
	c->mh = h;
	return serve_log(c, op);
}

/* Whether OP names a handle: then one kept in memory is served apart. */
static bool
names_handle(enum svc_op op)
{
	switch (op) {
	case SVC_CLOSE:
	case SVC_POISON:
	case SVC_RELEASE:
	case SVC_GET_CONTENTS:
	case SVC_GET_STAT:
	case SVC_READDIR:
	case SVC_SET_CONTENTS:
	case SVC_SET_ACL:
	case SVC_DELETE:
	case SVC_ACQUIRE:
	case SVC_TRY_ACQUIRE:
	case SVC_GET_SEQUENCER:
	case SVC_SET_SEQUENCER:
		return true;
	default:
		return false;
	}
}

/* --- handles and the namespace -------------------------------------------------- */

static void
done_open(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct svc_result r;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_OPEN;
	r.handle = res->handle;
	r.created = res->created;
	r.stat = &res->stat;
	answer(w->s, w->tok, w->deferred, CHUBBY_OK, NULL, &r);
	free(w);
}

/* An OPEN asked with `cache` (and no CREATE): its name, to note the
 * session as a cacher of the node's absence if it finds none. */
struct actx {
	struct wctx w; /* first: done_open frees it as a wctx */
	char *path;
};

/*
 * Existence caching: an OPEN without CREATE that finds no node records its
 * session as a cacher of the name, as GET_CONTENTS does for contents, so
 * that a later CREATE of the name (a gated write, SESSION_WRITE_CREATE)
 * invalidates it first.  Not cacheable while a write of the name is under
 * way (session_cache_note says).
 */
static void
done_open_absent(int status, const struct ns_result *res, void *arg)
{
	struct actx *x = arg;
	struct svc_result r;

	if (status != CHUBBY_E_NOT_FOUND || res == NULL) {
		free(x->path);
		done_open(status, res, &x->w);
		return;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_ABSENT;
	r.cacheable = session_cache_note(x->w.s->sm, x->w.session, x->path);
	answer(x->w.s, x->w.tok, x->w.deferred, status, res->msg[0] ? res->msg : NULL, &r);
	free(x->path);
	free(x);
}

/* OPEN that may create a node with ACL names (issue 18): an ACL change,
 * audited, and each name given must be "" or an existing ACL file, as
 * for SET_ACL (acl_names_valid).  Only the names are checked here: a node
 * that exists ignores them, and the open-change rule needs a flag OPEN
 * does not have. */
static int
open_acl_check(struct call *c)
{
	const char *const *acl = c->a->acl;
	int rc = CHUBBY_OK;

	audit(c, true, c->a->path, acl, false);
	/* (The idiom of session.c's sm_node_exists: E_NOT_FOUND only when missing.) */
	if (ns_check_access(c_ns(c), "", c->a->path, NS_ACL_READ) != CHUBBY_E_NOT_FOUND)
		return CHUBBY_OK; /* exists (or a bad name, which OPEN reports) */
	for (int i = 0; i < 3 && rc == CHUBBY_OK; i++)
		if (acl[i] != NULL)
			rc = ns_acl_file_check(c_ns(c), acl[i], c->msg, sizeof c->msg);
	return rc;
}

static int
op_open(struct call *c)
{
	const struct svc_args *a = c->a;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, 0, done_open)) != CHUBBY_OK)
		return rc;
	if (a->client != 0 && !ns_session_is_proxy(c_ns(c), a->session)) {
		errbuf_set(c->msg, sizeof c->msg, "\"client\" is for a proxy session only");
		return CHUBBY_E_INVALID;
	}
	/* A tagged handle is always in the log, where a CLAIM can move it. */
	if (a->client == 0 && open_in_memory(c) && (rc = op_open_mem(c)) != TO_LOG)
		return rc;
	if (a->have_acl && (a->flags & NS_O_CREATE) && (rc = open_acl_check(c)) != CHUBBY_OK)
		return rc; /* E_NOT_FOUND naming the ACL file, or E_BAD_NAME */
	/* Event mask: protocol type k is bit k-1, as NS_EV_* are. */
	rc = ns_encode_open_client(stamp(c), a->session, a->path, a->flags, a->lock_delay_ms,
	    a->events, a->have_contents ? a->contents : NULL, a->contents_len,
	    a->have_acl ? a->acl : NULL, a->client, &cmd, &len);
	if (rc == CHUBBY_E_BAD_NAME || rc == CHUBBY_E_INVALID || rc == CHUBBY_E_TOO_LARGE ||
	    rc == CHUBBY_E_NOT_FOUND) {
		free(cmd);
		return rc;
	}
	if (a->cache && !(a->flags & NS_O_CREATE)) {
		struct actx *x;

		audit(c, false, a->path, NULL, false);
		if ((rc = write_prepare(c, true, a->session, &cmd, &len, rc)) != CHUBBY_OK)
			return rc;
		x = xcalloc(1, sizeof *x);
		/* As wctx_new(c, true, a->session, 0) fills it. */
		x->w.s = c->s;
		x->w.deferred = true;
		x->w.tok = c->s->env.defer(c->s->env.arg, c->req);
		x->w.session = a->session;
		x->path = xstrdup(a->path);
		session_write(c->s->sm, c->now, SESSION_WRITE_PLAIN, a->path, cmd, len,
		    done_open_absent, x);
		free(cmd);
		return TAKEN;
	}
	/* A node OPEN creates may have been cached under its name before (its
	 * predecessor's contents): invalidated first (docs/PROTOCOL.md).  The
	 * namespace takes names exactly as given, as the cache table keys them. */
	return submit(c, true, (a->flags & NS_O_CREATE) ? SESSION_WRITE_CREATE : SESSION_WRITE_PLAIN,
	    a->path, cmd, len, rc, done_open, a->session, 0);
}

typedef int (*handle_encoder)(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    uint8_t **out, size_t *len);

/* CLOSE, POISON, RELEASE: a handle and nothing else.  A CLOSE (REAPS) may
 * delete an ephemeral node or clear a lock record: the session layer
 * invalidates first.  So may a RELEASE (FREES) clear one
 * (docs/NAMESPACE.md "Lock records"): a write of the node's contents when
 * it does now, and in order behind any write of the node in flight (one
 * may be the record, not applied yet). */
static int
simple_handle_write(struct call *c, handle_encoder enc, bool reaps, bool frees)
{
	uint64_t session = c->a->session, handle = c->a->handle;
	const char *hp = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	char *path;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, session, handle, done_nil)) != CHUBBY_OK)
		return rc;
	rc = enc(stamp(c), session, handle, &cmd, &len);
	if (reaps)
		return submit_close(c, cmd, len, rc, session, handle);
	if (frees)
		hp = ns_handle_path(c_ns(c), session, handle, NULL);
	if (hp == NULL)
		return submit(c, true, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_nil, session,
		    handle);
	path = xstrdup(hp);
	rc = submit(c, true,
	    ns_handle_frees_record(c_ns(c), session, handle) ? SESSION_WRITE_NODE :
								SESSION_WRITE_FREE,
	    path, cmd, len, rc, done_nil, session, handle);
	free(path);
	return rc;
}

static int
op_get_contents(struct call *c)
{
	const struct svc_args *a = c->a;
	struct svc_result r;
	struct ns_result res;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_get_contents_and_stat(c_ns(c), a->session, a->handle, &res) != CHUBBY_OK) {
		rc = ns_fail(c, &res);
		ns_result_free(&res);
		return rc;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_CONTENTS;
	if (a->cache)
		r.cacheable = session_cache_note(c->s->sm, a->session,
		    ns_handle_path(c_ns(c), a->session, a->handle, NULL));
	r.contents = res.contents;
	r.contents_len = res.contents_len;
	r.stat = &res.stat;
	answer_now(c, &r);
	ns_result_free(&res);
	return TAKEN;
}

static int
op_get_stat(struct call *c)
{
	struct svc_result r;
	struct ns_result res;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_get_stat(c_ns(c), c->a->session, c->a->handle, &res) != CHUBBY_OK) {
		rc = ns_fail(c, &res);
		ns_result_free(&res);
		return rc;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_STAT;
	r.stat = &res.stat;
	answer_now(c, &r);
	ns_result_free(&res);
	return TAKEN;
}

static int
op_readdir(struct call *c)
{
	struct svc_result r;
	struct ns_result res;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	ns_result_init(&res);
	if (ns_readdir(c_ns(c), c->a->session, c->a->handle, &res) != CHUBBY_OK) {
		rc = ns_fail(c, &res);
		ns_result_free(&res);
		return rc;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_NAMES;
	r.names = res.names;
	r.nnames = res.nnames;
	answer_now(c, &r);
	ns_result_free(&res);
	return TAKEN;
}

static int
op_set_contents(struct call *c)
{
	const struct svc_args *a = c->a;
	char *path = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, a->handle, done_stat)) != CHUBBY_OK ||
	    (rc = handle_path(c, a->session, a->handle, &path)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_set_contents_flags(stamp(c), a->session, a->handle, a->contents,
	    a->contents_len, a->have_expected, a->expected_gen,
	    a->lock_record && c->s->cfg.lock_records ? NS_SC_LOCK_RECORD : 0, &cmd, &len);
	if (rc == CHUBBY_E_TOO_LARGE) {
		free(path);
		errbuf_set(c->msg, sizeof c->msg, "contents of %zu bytes exceed max_contents (%llu)",
		    a->contents_len, (unsigned long long)c->s->cfg.max_contents);
		return rc;
	}
	rc = submit(c, true,
	    a->lock_record && c->s->cfg.lock_records ? SESSION_WRITE_RECORD : SESSION_WRITE_NODE,
	    path, cmd, len, rc, done_stat, a->session, a->handle);
	free(path);
	return rc;
}

static int
op_set_acl(struct call *c)
{
	const struct svc_args *a = c->a;
	char *path = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, a->handle, done_stat)) != CHUBBY_OK)
		return rc;
	if (!a->have_acl) {
		errbuf_set(c->msg, sizeof c->msg, "\"acl\" is missing");
		return CHUBBY_E_MISSING;
	}
	audit(c, true, NULL, a->acl, a->allow_open_change);
	if ((rc = handle_path(c, a->session, a->handle, &path)) == CHUBBY_OK) {
		struct ns_result cur;

		audit(c, false, path, NULL, false);
		ns_result_init(&cur);
		if ((rc = c->mh != NULL ? ns_path_stat(c_ns(c), path, c->mh->instance, &cur) :
				ns_get_stat(c_ns(c), a->session, a->handle, &cur)) != CHUBBY_OK)
			ns_fail(c, &cur);
		/* The right to change comes first: a caller without it learns
		 * nothing about the ACL files from the checks after. */
		else if ((rc = ns_check_access(c_ns(c), c->principal, path, NS_ACL_CHANGE)) ==
		    CHUBBY_E_PERMISSION)
			errbuf_set(c->msg, sizeof c->msg, "no change-ACL permission on %s", path);
		else if (rc == CHUBBY_OK)
			rc = acl_names_valid(c, a->acl, cur.stat.acl, a->allow_open_change);
		ns_result_free(&cur);
	}
	if (rc == CHUBBY_OK)
		rc = ns_encode_set_acl(stamp(c), a->session, a->handle, a->acl, &cmd, &len);
	if (rc != CHUBBY_OK && cmd == NULL) {
		if (!c->msg[0])
			errbuf_set(c->msg, sizeof c->msg, "%s", chubby_strerror(rc));
		free(path);
		return rc;
	}
	rc = submit(c, true, SESSION_WRITE_NODE, path, cmd, len, rc, done_stat, a->session,
	    a->handle);
	free(path);
	return rc;
}

static int
op_delete(struct call *c)
{
	const struct svc_args *a = c->a;
	char *path = NULL;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, a->handle, done_nil)) != CHUBBY_OK ||
	    (rc = handle_path(c, a->session, a->handle, &path)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_delete(stamp(c), a->session, a->handle, &cmd, &len);
	rc = submit(c, true, SESSION_WRITE_NODE, path, cmd, len, rc, done_nil, a->session,
	    a->handle);
	free(path);
	return rc;
}

/* --- locks and sequencers -------------------------------------------------------- */

/* A copy of an ACQUIRE that was granted: the grant, packed as the first
 * answer was, while the handle still holds the lock. */
static void
done_grant(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct svc_result r;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	if (status != CHUBBY_OK) {
		done_nil(status, res, arg);
		return;
	}
	memset(&r, 0, sizeof r);
	rc = session_pack_grant(w->s->sm, w->session, w->handle, &out, &outlen);
	if (rc == CHUBBY_OK) {
		r.kind = SVC_RES_RAW;
		r.raw = out;
		r.rawlen = outlen;
		answer(w->s, w->tok, w->deferred, CHUBBY_OK, NULL, &r);
	} else {
		answer(w->s, w->tok, w->deferred, rc,
		    "this ACQUIRE was granted, but the handle no longer holds the lock", NULL);
	}
	free(out);
	free(w);
}

static int
op_acquire(struct call *c, bool wait)
{
	const struct svc_args *a = c->a;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, a->handle, done_grant)) != CHUBBY_OK)
		return rc;
	if (a->mode != NS_LOCK_SHARED && a->mode != NS_LOCK_EXCLUSIVE) {
		errbuf_set(c->msg, sizeof c->msg,
		    "\"mode\" must be 1 (shared) or 2 (exclusive), not %" PRIu64, a->mode);
		return CHUBBY_E_INVALID;
	}
	if (c->mh != NULL) {
		/* The grant makes the handle replicated, in the same entry. */
		struct session_mem_open mo = {.path = c->mh->path,
		    .instance = c->mh->instance,
		    .flags = c->mh->flags & (NS_O_READ | NS_O_WRITE),
		    .poisoned = c->mh->poisoned};

		session_acquire_mem(c->s->sm, c->now, a->session, a->handle, (int)a->mode, a->rid,
		    a->rid_floor, a->timeout_ms, wait, c->s->env.defer(c->s->env.arg, c->req), &mo);
		return TAKEN;
	}
	session_acquire(c->s->sm, c->now, a->session, a->handle, (int)a->mode, a->rid,
	    a->rid_floor, a->timeout_ms, wait, c->s->env.defer(c->s->env.arg, c->req));
	return TAKEN;
}

static int
op_get_sequencer(struct call *c)
{
	const struct svc_args *a = c->a;
	struct svc_result r;
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	rc = session_pack_grant(c->s->sm, a->session, a->handle, &out, &outlen);
	if (rc != CHUBBY_OK) {
		struct ns_result res;

		ns_result_init(&res);
		(void)ns_get_sequencer(c_ns(c), a->session, a->handle, &res);
		errbuf_set(c->msg, sizeof c->msg, "%s", res.msg[0] ? res.msg : chubby_strerror(rc));
		ns_result_free(&res);
		return rc;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_RAW;
	r.raw = out;
	r.rawlen = outlen;
	answer_now(c, &r);
	free(out);
	return TAKEN;
}

/* A sequencer of this cell (its signature the caller has checked). */
static int
own_cell(struct call *c, const struct seqtoken *t)
{
	if (strcmp(t->cell, c->s->cell) != 0) {
		errbuf_set(c->msg, sizeof c->msg, "the sequencer is of cell \"%s\", not \"%s\"", t->cell, c->s->cell);
		return CHUBBY_E_BAD_SEQUENCER;
	}
	return CHUBBY_OK;
}

static int
op_set_sequencer(struct call *c)
{
	const struct svc_args *a = c->a;
	struct ns_sequencer seq;
	char path[SEQTOKEN_PATH_MAX + 1];
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = check_session(c)) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, a->handle, done_nil)) != CHUBBY_OK)
		return rc;
	if (a->seq == NULL) {
		rc = ns_encode_set_sequencer(stamp(c), a->session, a->handle, NULL, &cmd, &len);
	} else {
		if ((rc = own_cell(c, a->seq)) != CHUBBY_OK)
			return rc;
		memcpy(path, a->seq->path, sizeof path);
		seq.path = path;
		seq.mode = a->seq->mode;
		seq.lock_gen = a->seq->lock_gen;
		seq.instance = a->seq->instance;
		rc = ns_encode_set_sequencer(stamp(c), a->session, a->handle, &seq, &cmd, &len);
	}
	return submit(c, true, SESSION_WRITE_PLAIN, NULL, cmd, len, rc, done_nil, a->session,
	    a->handle);
}

static int
op_check_sequencer(struct call *c)
{
	const struct seqtoken *t = c->a->seq;
	int rc;

	if (!session_serving(c->s->sm, c->now))
		return not_master(c);
	if (t == NULL) {
		errbuf_set(c->msg, sizeof c->msg, "\"sequencer\" is missing");
		return CHUBBY_E_MISSING;
	}
	if ((rc = own_cell(c, t)) != CHUBBY_OK)
		return rc;
	rc = ns_check_sequencer(c_ns(c), t->path, t->mode, t->lock_gen, t->instance);
	if (rc != CHUBBY_OK) {
		errbuf_set(c->msg, sizeof c->msg, "the %s lock on %s is no longer held at generation %" PRIu64,
		    t->mode == NS_LOCK_EXCLUSIVE ? "exclusive" : "shared", t->path, t->lock_gen);
		return rc;
	}
	return answer_now(c, NULL);
}

/* --- administration -------------------------------------------------------------- */

/* SESSIONS and LOCKS show every session's principal and every held lock,
 * nodes the caller may not read included: the superuser's alone (issue
 * 18; docs/PROTOCOL.md).  False with the refusal in the call's message. */
static bool
superuser(struct call *c, const char *what)
{
	const char *su = c->s->superuser, *who = c->principal;

	if (who != NULL && su[0] != '\0' && strcmp(who, su) == 0)
		return true;
	errbuf_set(c->msg, sizeof c->msg, "only the cell's superuser (\"%s\") may %s; you are \"%s\"",
	    su, what, who != NULL ? who : "?");
	return false;
}

/* SESSIONS and LOCKS, a page per request (docs/PROTOCOL.md
 * "Administration"), packed by the session layer. */
static int
op_admin_page(struct call *c, bool locks)
{
	const struct svc_args *a = c->a;
	struct svc_result r;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!superuser(c, locks ? "list every lock" : "list every session"))
		return CHUBBY_E_PERMISSION;
	if (!session_serving(c->s->sm, c->now))
		return not_master(c);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_PAGE;
	r.paged = a->paged;
	if (locks)
		r.next = session_pack_locks(c->s->sm, a->after, (size_t)a->limit,
		    c->s->cfg.page_bytes, &pk);
	else
		r.next = session_pack_sessions(c->s->sm, c->now, a->after, (size_t)a->limit,
		    c->s->cfg.page_bytes, &pk);
	r.raw = sb.data;
	r.rawlen = sb.size;
	answer_now(c, &r);
	msgpack_sbuffer_destroy(&sb);
	return TAKEN;
}

/* --- dispatch ---------------------------------------------------------------------- */

/* The read-only subtree PATH lies in, or NULL. */
static const char *
readonly_root(const struct svc *s, const char *path)
{
	for (size_t i = 0; i < s->cfg.nreadonly; i++) {
		size_t n = strlen(s->readonly[i]);
		if (strncmp(path, s->readonly[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return s->readonly[i];
	}
	return NULL;
}

/* Mirrored subtrees are read-only to clients (Chubby 2.12): a write, a
 * delete, an ACL change or a lock there would be undone by the next sync,
 * or would diverge from the source cell.  CHUBBY_OK, or E_PERMISSION with
 * the reason (the one the protocol already has for "may not"; docs/
 * PROTOCOL.md "Mirrored subtrees"). */
static int
readonly_check(struct call *c, enum svc_op op)
{
	const struct svc_args *a = c->a;
	const char *path = NULL, *root;

	if (c->s->cfg.nreadonly == 0 || a->mirror_writer)
		return CHUBBY_OK;
	switch (op) {
	case SVC_OPEN:
		if (a->flags & (NS_O_WRITE | NS_O_CREATE))
			path = a->path;
		break;
	case SVC_SET_CONTENTS:
	case SVC_SET_ACL:
	case SVC_DELETE:
	case SVC_ACQUIRE:
	case SVC_TRY_ACQUIRE:
		/* A handle kept in memory names its node there (serve_mem). */
		path = c->mh != NULL ? c->mh->path
				     : ns_handle_path(c_ns(c), a->session, a->handle, NULL);
		break;
	default:
		break;
	}
	if (path == NULL || (root = readonly_root(c->s, path)) == NULL)
		return CHUBBY_OK;
	errbuf_set(c->msg, sizeof c->msg,
	    "%s is a read-only mirror of another cell (mirrored subtree %s): write in the source "
	    "cell", path, root);
	return CHUBBY_E_PERMISSION;
}

/* --- proxies (docs/PROTOCOL.md "Proxies") ---------------------------------------- */

static void
done_client_end(int status, const struct ns_result *res, void *arg)
{
	struct wctx *w = arg;
	struct svc_result r;

	if (status != CHUBBY_OK || res == NULL) {
		done_nil(status, res, arg);
		return;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_CLOSED;
	r.closed = res->closed;
	answer(w->s, w->tok, w->deferred, CHUBBY_OK, NULL, &r);
	free(w);
}

/* The calls only a proxy's connection may make, on a proxy session. */
static int
proxy_call_check(struct call *c, const char *what)
{
	int rc;

	if (!is_proxy(c->s, c->principal))
		return proxy_only(c, what);
	if ((rc = check_session(c)) != CHUBBY_OK)
		return rc;
	if (!ns_session_is_proxy(c_ns(c), c->a->session)) {
		errbuf_set(c->msg, sizeof c->msg, "session %" PRIu64 " is not a proxy session",
		    c->a->session);
		return CHUBBY_E_INVALID;
	}
	if (c->a->client == 0) {
		errbuf_set(c->msg, sizeof c->msg, "\"client\" must be above 0");
		return CHUBBY_E_INVALID;
	}
	return CHUBBY_OK;
}

/* CLIENT_END: the client's handles close in one command, behind the
 * invalidations of what that reaps or clears (as SESSION_END). */
static int
op_client_end(struct call *c)
{
	const struct svc_args *a = c->a;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = proxy_call_check(c, "end a client session")) != CHUBBY_OK ||
	    (rc = req_id_check(c, a->session, 0, done_client_end)) != CHUBBY_OK)
		return rc;
	rc = ns_encode_client_end(stamp(c), a->session, a->client, a->expired, &cmd, &len);
	if ((rc = write_prepare(c, true, a->session, &cmd, &len, rc)) != CHUBBY_OK)
		return rc;
	session_write_client_end(c->s->sm, c->now, a->session, a->client, cmd, len,
	    done_client_end, wctx_new(c, true, a->session, 0));
	free(cmd);
	return TAKEN;
}

/* CLAIM's answer: every handle of the session tagged with the client, as
 * the state is once the claim applied (a copy answers the same). */
struct cctx {
	struct wctx w; /* first: done_nil frees it as a wctx */
	uint64_t client;
};

static void
done_claim(int status, const struct ns_result *res, void *arg)
{
	struct cctx *x = arg;
	const struct ns *ns = session_ns(x->w.s->sm);
	struct svc_claimed *hs;
	struct svc_result r;
	uint64_t *ids;
	size_t n;

	if (status != CHUBBY_OK || res == NULL || ns == NULL) {
		done_nil(status != CHUBBY_OK ? status : CHUBBY_E_INTERNAL, res, &x->w);
		return;
	}
	n = ns_client_handles(ns, x->w.session, x->client, NULL, 0);
	ids = xcalloc(n + 1, sizeof *ids);
	hs = xcalloc(n + 1, sizeof *hs);
	n = ns_client_handles(ns, x->w.session, x->client, ids, n);
	for (size_t i = 0; i < n; i++) {
		struct ns_handle_info hi;

		if (ns_handle_info(ns, x->w.session, ids[i], &hi) != CHUBBY_OK)
			continue;
		hs[i].handle = ids[i];
		hs[i].path = hi.path;
		hs[i].flags = hi.flags;
		hs[i].events = hi.events;
		hs[i].instance = hi.instance;
		hs[i].lock_mode = hi.lock_mode;
		hs[i].poisoned = hi.poisoned;
	}
	memset(&r, 0, sizeof r);
	r.kind = SVC_RES_HANDLES;
	r.handles = hs;
	r.nhandles = n;
	answer(x->w.s, x->w.tok, x->w.deferred, CHUBBY_OK, NULL, &r);
	free(ids);
	free(hs);
	free(x);
}

static struct cctx *
cctx_new(struct call *c, bool keep)
{
	struct cctx *x = xcalloc(1, sizeof *x);

	x->w.s = c->s;
	x->w.deferred = keep;
	x->w.tok = keep ? c->s->env.defer(c->s->env.arg, c->req) : c->req;
	x->w.session = c->a->session;
	x->client = c->a->client;
	return x;
}

/* CLAIM: a proxy takes over a client's handles (locks, ephemeral files)
 * from a proxy that died or that the client left.  A plain write: handles
 * move, no node changes, nothing cached changes. */
static int
op_claim(struct call *c)
{
	const struct svc_args *a = c->a;
	struct ns_result res;
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	if ((rc = proxy_call_check(c, "claim a client's handles")) != CHUBBY_OK)
		return rc;
	if (a->rid != 0) {
		/* As req_id_check, answered through CLAIM's own DONE. */
		ns_result_init(&res);
		if ((rc = req_recorded(c, a->session, &res)) == TAKEN)
			done_claim(CHUBBY_OK, &res, cctx_new(c, false));
		ns_result_free(&res);
		if (rc != CHUBBY_OK)
			return rc;
	}
	rc = ns_encode_claim(stamp(c), a->session, a->client, &cmd, &len);
	if ((rc = write_prepare(c, true, a->session, &cmd, &len, rc)) != CHUBBY_OK)
		return rc;
	session_write(c->s->sm, c->now, SESSION_WRITE_PLAIN, NULL, cmd, len, done_claim,
	    cctx_new(c, true));
	free(cmd);
	return TAKEN;
}

static int
serve(struct call *c, enum svc_op op)
{
	if (names_handle(op) && mh_is_mem_id(c->a->handle))
		return serve_mem(c, op);
	return serve_log(c, op);
}

/* The calls as the log's handles have them (and, with C->mh, through a
 * handle in memory: serve_mem). */
static int
serve_log(struct call *c, enum svc_op op)
{
	int rc;

	if ((rc = readonly_check(c, op)) != CHUBBY_OK)
		return rc;
	switch (op) {
	case SVC_SESSION_START:
		return op_session_start(c);
	case SVC_KEEPALIVE:
		return op_keepalive(c);
	case SVC_SESSION_END:
		return op_session_end(c);
	case SVC_OPEN:
		return op_open(c);
	case SVC_CLOSE:
		return simple_handle_write(c, ns_encode_close, true, true);
	case SVC_POISON:
		return simple_handle_write(c, ns_encode_poison, false, false);
	case SVC_RELEASE:
		return simple_handle_write(c, ns_encode_release, false, true);
	case SVC_GET_CONTENTS:
		return op_get_contents(c);
	case SVC_GET_STAT:
		return op_get_stat(c);
	case SVC_READDIR:
		return op_readdir(c);
	case SVC_SET_CONTENTS:
		return op_set_contents(c);
	case SVC_SET_ACL:
		return op_set_acl(c);
	case SVC_DELETE:
		return op_delete(c);
	case SVC_ACQUIRE:
		return op_acquire(c, true);
	case SVC_TRY_ACQUIRE:
		return op_acquire(c, false);
	case SVC_GET_SEQUENCER:
		return op_get_sequencer(c);
	case SVC_SET_SEQUENCER:
		return op_set_sequencer(c);
	case SVC_CHECK_SEQUENCER:
		return op_check_sequencer(c);
	case SVC_SESSIONS:
		return op_admin_page(c, false);
	case SVC_LOCKS:
		return op_admin_page(c, true);
	case SVC_CLIENT_END:
		return op_client_end(c);
	case SVC_CLAIM:
		return op_claim(c);
	}
	errbuf_set(c->msg, sizeof c->msg, "operation %d is not one of Chubby's calls", (int)op);
	return CHUBBY_E_BAD_OP;
}

void
svc_call(struct svc *s, struct session_now now, void *req, const char *principal,
    enum svc_op op, const struct svc_args *a)
{
	struct call c = {.s = s, .now = now, .req = req, .principal = principal, .a = a};
	struct svc_result r;
	int rc = serve(&c, op);

	if (rc == TAKEN)
		return;
	memset(&r, 0, sizeof r);
	r.kind = c.kind;
	if (r.kind == SVC_RES_EPOCH)
		r.epoch = session_epoch(s->sm);
	answer(s, req, false, rc, c.msg[0] ? c.msg : NULL, &r);
}
