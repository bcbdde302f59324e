/*
 * ns_req.c: exactly-once requests (docs/NAMESPACE.md "Request ids").  A
 * client names each write (session, rid); a write may be proposed more
 * than once (re-sent after NOT_MASTER, a lost connection or a fail-over,
 * while the first copy may still be chosen), and every copy after the
 * first that succeeded must change nothing and answer as the first did.
 * So the outcome of each successful request is replicated state, per
 * session, until the client's floor says it has its answer.  A refused
 * request changed nothing: applying a copy later is the same as the first
 * attempt happening later, so refusals are not recorded.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "ns_int.h"
#include "simknob.h"

static int
res_fail_msg(struct ns_result *res, int status, const char *msg)
{
	res->status = status;
	ns_msg_set(res->msg, sizeof res->msg, msg, NULL, NULL);
	return status;
}

void
ns_rec_free(struct ns_rec *r)
{
	for (int i = 0; i < 3; i++)
		free(r->acl[i]);
	memset(r, 0, sizeof *r);
}

/* The index of RID in S's records, or where it would go (*FOUND false). */
static size_t
rec_find(const struct ns_session *s, uint64_t rid, bool *found)
{
	size_t lo = 0, hi = s->nrecs, mid;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->recs[mid].rid == rid) {
			*found = true;
			return mid;
		}
		if (s->recs[mid].rid < rid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
rec_to_result(const struct ns_rec *rec, struct ns_result *res)
{
	res->status = CHUBBY_OK;
	res->handle = rec->handle;
	/* CLIENT_END and CLAIM keep their count where a handle would be. */
	if (rec->type == NS_CMD_CLIENT_END || rec->type == NS_CMD_CLAIM) {
		res->handle = 0;
		res->closed = rec->handle;
	}
	res->created = rec->created;
	res->lock_gen = rec->lock_gen;
	if (rec->has_stat) {
		res->stat = rec->stat;
		for (int i = 0; i < 3; i++)
			res->stat.acl[i] = rec->acl[i];
	}
}

/* Drops S's records below FLOOR and raises its floor to it. */
static void
floor_raise(struct ns_session *s, uint64_t floor)
{
	size_t n = 0;

	if (floor <= s->rid_floor)
		return;
	s->rid_floor = floor;
	while (n < s->nrecs && s->recs[n].rid < floor)
		ns_rec_free(&s->recs[n++]);
	if (n == 0)
		return; /* nothing dropped (and recs may be NULL: no memmove on it) */
	memmove(s->recs, s->recs + n, (s->nrecs - n) * sizeof *s->recs);
	s->nrecs -= n;
}

/* Records RES, the outcome of S's request RID of TYPE (not yet recorded). */
static void
rec_add(struct ns_session *s, uint64_t rid, int type, const struct ns_result *res)
{
	struct ns_rec *rec;
	bool found;
	size_t pos = rec_find(s, rid, &found);

	if (s->nrecs == s->recs_cap) {
		s->recs_cap = s->recs_cap == 0 ? 8 : s->recs_cap * 2;
		s->recs = xreallocarray(s->recs, s->recs_cap, sizeof *s->recs);
	}
	memmove(&s->recs[pos + 1], &s->recs[pos], (s->nrecs - pos) * sizeof *s->recs);
	s->nrecs++;
	rec = &s->recs[pos];
	memset(rec, 0, sizeof *rec);
	rec->rid = rid;
	rec->type = type;
	rec->handle = type == NS_CMD_CLIENT_END || type == NS_CMD_CLAIM ? res->closed : res->handle;
	rec->created = res->created;
	rec->lock_gen = res->lock_gen;
	rec->has_stat = type == NS_CMD_OPEN || type == NS_CMD_SET_CONTENTS ||
	    type == NS_CMD_SET_ACL || type == NS_CMD_ACQUIRE;
	if (rec->has_stat) {
		rec->stat = res->stat;
		for (int i = 0; i < 3; i++) {
			rec->acl[i] = xstrdup(res->stat.acl[i] != NULL ? res->stat.acl[i] : "");
			rec->stat.acl[i] = NULL;
		}
	}
	/* Bounded: the oldest goes, and its rid is refused from then on
	 * rather than applied a second time. */
	if (s->nrecs > NS_MAX_REQ_RECORDS)
		floor_raise(s, s->recs[0].rid + 1);
}

/* The session PRINCIPAL started with NONCE, if it still exists. */
static struct ns_session *
started_with(const struct ns *ns, const char *principal, size_t plen, uint64_t nonce)
{
	for (size_t i = 0; i < ns->nsessions; i++) {
		struct ns_session *s = ns->sessions[i];

		/* (An orphaned proxy session is no session to return.) */
		if (s->start_nonce == nonce && !s->orphaned && strlen(s->principal) == plen &&
		    memcmp(s->principal, principal, plen) == 0)
			return s;
	}
	return NULL;
}

/*
 * SESSION_START has no session to record its outcome under: its request
 * id is a nonce the client draws, kept by the session it started, so that
 * a copy (with the same principal) finds it for as long as it lives.
 */
static int
apply_start(struct ns *ns, const struct ns_cmd *c, const struct ns_cmd *in,
    struct ns_result *res)
{
	struct ns_session *s;
	int rc;

	if (in->type != NS_CMD_SESSION_START)
		return res_fail_msg(res, CHUBBY_E_INVALID,
		    "only SESSION_START is a request without a session");
	if ((s = started_with(ns, in->str, in->slen, c->rid)) != NULL) {
		res->status = CHUBBY_OK;
		res->session = s->id;
		return CHUBBY_OK;
	}
	if ((rc = ns_apply_cmd(ns, in, res)) != CHUBBY_OK)
		return rc;
	if ((s = ns_session_find(ns, res->session)) != NULL)
		s->start_nonce = c->rid;
	return CHUBBY_OK;
}

/* The type a request's outcome is recorded as: for a command on a handle
 * in memory, the one it wraps (a copy answers as that did: its stat). */
static int
recorded_type(const struct ns_cmd *in)
{
	struct ns_cmd w;
	char msg[8];

	if (in->type == NS_CMD_MEM && in->inner != NULL &&
	    ns_cmd_decode(in->inner, in->ilen, &w, msg, sizeof msg) == CHUBBY_OK)
		return w.type;
	return in->type;
}

int
ns_apply_req(struct ns *ns, const struct ns_cmd *c, struct ns_result *res)
{
	struct ns_session *s = ns_session_find(ns, c->session);
	struct ns_cmd in;
	bool found;
	size_t pos;
	int rc;

	if (c->session == 0) {
		if (c->rid == 0)
			return res_fail_msg(res, CHUBBY_E_INVALID, "a request id must be above 0");
		if ((rc = ns_cmd_decode(c->inner, c->ilen, &in, res->msg, sizeof res->msg)) !=
		    CHUBBY_OK)
			return res->status = rc;
		return apply_start(ns, c, &in, res);
	}
	if (s == NULL)
		return res_fail_msg(res, CHUBBY_E_BAD_SESSION, "no such session");
	if (c->rid == 0 || c->rid_floor > c->rid)
		return res_fail_msg(res, CHUBBY_E_INVALID,
		    "a request id must be above 0 and not below its rid_floor");
	if (c->rid < s->rid_floor) {
		ns_msg_u64(res->msg, sizeof res->msg, "request id ", c->rid,
		    " is below the session's floor: it was answered and is forgotten");
		return res->status = CHUBBY_E_INVALID;
	}
	pos = rec_find(s, c->rid, &found);
	/* SIM_KNOB: broken on purpose in the simulator only (no dedupe). */
	if (found && !SIM_KNOB(SIM_KNOB_NO_DEDUPE)) {
		/* A copy of a request that succeeded: its first outcome, and
		 * nothing changes (not even the last stamp). */
		rec_to_result(&s->recs[pos], res);
		return CHUBBY_OK;
	}
	if ((rc = ns_cmd_decode(c->inner, c->ilen, &in, res->msg, sizeof res->msg)) != CHUBBY_OK)
		return res->status = rc;
	if (in.type == NS_CMD_REQ || in.type == NS_CMD_SESSION_START)
		return res_fail_msg(res, CHUBBY_E_INVALID,
		    "a request id wraps a session's command (not SESSION_START, not another)");
	if (in.session != c->session)
		return res_fail_msg(res, CHUBBY_E_INVALID,
		    "the wrapped command is of another session than its request id");
	if ((rc = ns_apply_cmd(ns, &in, res)) != CHUBBY_OK)
		return rc;
	/* The session may have ended with this command (SESSION_END): its
	 * records went with it. */
	if ((s = ns_session_find(ns, c->session)) != NULL) {
		floor_raise(s, c->rid_floor);
		rec_add(s, c->rid, recorded_type(&in), res);
	}
	return CHUBBY_OK;
}

uint64_t
ns_session_started(const struct ns *ns, const char *principal, uint64_t nonce)
{
	const struct ns_session *s;

	if (principal == NULL || nonce == 0)
		return 0;
	s = started_with(ns, principal, strlen(principal), nonce);
	return s != NULL ? s->id : 0;
}

int
ns_request_outcome(const struct ns *ns, uint64_t session, uint64_t rid, struct ns_result *res)
{
	const struct ns_session *s = ns_session_find(ns, session);
	bool found;
	size_t pos;

	ns_result_free(res);
	if (s == NULL)
		return res_fail_msg(res, CHUBBY_E_BAD_SESSION, "no such session");
	if (rid < s->rid_floor) {
		ns_msg_u64(res->msg, sizeof res->msg, "request id ", rid,
		    " is below the session's floor: it was answered and is forgotten");
		return res->status = CHUBBY_E_INVALID;
	}
	pos = rec_find(s, rid, &found);
	if (!found)
		return res->status = CHUBBY_E_NOT_FOUND;
	rec_to_result(&s->recs[pos], res);
	return CHUBBY_OK;
}
