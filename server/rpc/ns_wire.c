/* ns_wire.c: Chubby's calls decoded from and encoded to msgpack (see
 * ns_wire.h).  The checks of meaning (sessions, request ids, ACL names,
 * lock modes) are the request layer's (server/svc); here only shape and
 * types, and a sequencer's signature. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "mp.h"
#include "ns/ns.h"
#include "protocol.h"
#include "rpc/ns_wire.h"
#include "seqtoken.h"
#include "wire.h"
#include "xmalloc.h"

static const struct {
	uint32_t proto;
	enum svc_op op;
} ns_wire_ops[] = {
    {PROTO_OP_SESSIONS, SVC_SESSIONS},
    {PROTO_OP_LOCKS, SVC_LOCKS},
    {PROTO_OP_SESSION_START, SVC_SESSION_START},
    {PROTO_OP_KEEPALIVE, SVC_KEEPALIVE},
    {PROTO_OP_SESSION_END, SVC_SESSION_END},
    {PROTO_OP_CLIENT_END, SVC_CLIENT_END},
    {PROTO_OP_CLAIM, SVC_CLAIM},
    {PROTO_OP_OPEN, SVC_OPEN},
    {PROTO_OP_CLOSE, SVC_CLOSE},
    {PROTO_OP_POISON, SVC_POISON},
    {PROTO_OP_GET_CONTENTS, SVC_GET_CONTENTS},
    {PROTO_OP_GET_STAT, SVC_GET_STAT},
    {PROTO_OP_READDIR, SVC_READDIR},
    {PROTO_OP_SET_CONTENTS, SVC_SET_CONTENTS},
    {PROTO_OP_SET_ACL, SVC_SET_ACL},
    {PROTO_OP_DELETE, SVC_DELETE},
    {PROTO_OP_ACQUIRE, SVC_ACQUIRE},
    {PROTO_OP_TRY_ACQUIRE, SVC_TRY_ACQUIRE},
    {PROTO_OP_RELEASE, SVC_RELEASE},
    {PROTO_OP_GET_SEQUENCER, SVC_GET_SEQUENCER},
    {PROTO_OP_SET_SEQUENCER, SVC_SET_SEQUENCER},
    {PROTO_OP_CHECK_SEQUENCER, SVC_CHECK_SEQUENCER},
};

enum svc_op
ns_wire_op(uint32_t op)
{
	for (size_t i = 0; i < sizeof ns_wire_ops / sizeof ns_wire_ops[0]; i++)
		if (ns_wire_ops[i].proto == op)
			return ns_wire_ops[i].op;
	return (enum svc_op)0;
}

/* --- decoding ------------------------------------------------------------------- */

/* Reads an optional [read, write, change] array of str|nil. */
static int
get_acl(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	const msgpack_object *a = NULL;
	int rc;

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
			return rc;
		if (memchr(s.ptr, '\0', s.len) != NULL) {
			snprintf(msg, msglen, "%s holds a NUL byte", what);
			return CHUBBY_E_BAD_NAME;
		}
		w->acl[i] = xstrndup(s.ptr, s.len);
	}
	w->a.have_acl = true;
	for (int i = 0; i < 3; i++)
		w->a.acl[i] = w->acl[i];
	return CHUBBY_OK;
}

/* SET_SEQUENCER's and CHECK_SEQUENCER's token: decoded, its signature
 * checked against the cell's key. */
static int
get_sequencer(const msgpack_object *args, int required, const uint8_t *key, size_t keylen,
    struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct mp_str b = {NULL, 0};
	int rc;

	if ((rc = mp_get_bin(args, "sequencer", required, &b, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (b.ptr == NULL)
		return CHUBBY_OK;
	if ((rc = seqtoken_decode(key, keylen, b.ptr, b.len, &w->seq, msg, msglen)) != CHUBBY_OK)
		return rc;
	w->a.seq = &w->seq;
	return CHUBBY_OK;
}

static int
get_keepalive(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	const msgpack_object *a = NULL, *e;
	int rc;

	if ((rc = mp_get_uint(args, "hold_ms", MP_OPTIONAL, &w->a.hold_ms, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_array(args, "acks", MP_OPTIONAL, &a, msg, msglen)) != CHUBBY_OK)
		return rc;
	/* "ev_ack": the highest event id the client has processed; a client
	 * before event ids sends none (nil counts as none), and has its
	 * events forgotten once sent (docs/PROTOCOL.md "Sessions"). */
	if ((e = mp_map_get(args, "ev_ack")) != NULL && e->type != MSGPACK_OBJECT_NIL) {
		if ((rc = mp_val_uint(e, "\"ev_ack\"", &w->a.ev_ack, msg, msglen)) != CHUBBY_OK)
			return rc;
		w->a.have_ev_ack = true;
	}
	if (a == NULL)
		return CHUBBY_OK;
	if (a->via.array.size > NS_WIRE_MAX_ACKS) {
		snprintf(msg, msglen, "\"acks\" lists %u ids; at most %d at once",
		    (unsigned)a->via.array.size, NS_WIRE_MAX_ACKS);
		return CHUBBY_E_LIMIT;
	}
	for (uint32_t i = 0; i < a->via.array.size; i++)
		if ((rc = mp_val_uint(&a->via.array.ptr[i], "an element of \"acks\"",
			 &w->acks[w->a.nacks++], msg, msglen)) != CHUBBY_OK)
			return rc;
	return CHUBBY_OK;
}

static int
get_open(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	struct mp_str path, contents = {NULL, 0};
	int rc;

	a->lock_delay_ms = UINT64_MAX;
	if ((rc = mp_get_str(args, "path", MP_REQUIRED, &path, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_u32(args, "flags", MP_OPTIONAL, &a->flags, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "lock_delay_ms", MP_OPTIONAL, &a->lock_delay_ms, msg,
		 msglen)) != CHUBBY_OK ||
	    (rc = mp_get_u32(args, "events", MP_OPTIONAL, &a->events, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_bin(args, "contents", MP_OPTIONAL, &contents, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_bool(args, "mem", MP_OPTIONAL, &a->mem, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "client", MP_OPTIONAL, &a->client, msg, msglen)) != CHUBBY_OK ||
	    (rc = get_acl(args, w, msg, msglen)) != CHUBBY_OK)
		return rc;
	a->have_contents = contents.ptr != NULL;
	a->contents = (const uint8_t *)contents.ptr;
	a->contents_len = contents.len;
	if (memchr(path.ptr, '\0', path.len) != NULL) {
		snprintf(msg, msglen, "\"path\" holds a NUL byte");
		return CHUBBY_E_BAD_NAME;
	}
	w->path = xstrndup(path.ptr, path.len);
	a->path = w->path;
	return CHUBBY_OK;
}

/* A call on a handle kept in the master's memory carries what a new
 * master needs to re-create it: "reopen" {path, instance, flags, poisoned,
 * events (optional: the event mask)}
 * (docs/PROTOCOL.md "Handles in memory"). */
static int
get_reopen(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	const msgpack_object *m = NULL;
	struct mp_str path;
	int rc;

	if ((rc = mp_get_map(args, "reopen", MP_OPTIONAL, &m, msg, msglen)) != CHUBBY_OK ||
	    m == NULL)
		return rc;
	if ((rc = mp_get_str(m, "path", MP_REQUIRED, &path, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(m, "instance", MP_REQUIRED, &a->instance, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_u32(m, "flags", MP_REQUIRED, &a->flags, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_bool(m, "poisoned", MP_OPTIONAL, &a->poisoned, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_u32(m, "events", MP_OPTIONAL, &a->events, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (memchr(path.ptr, '\0', path.len) != NULL) {
		snprintf(msg, msglen, "\"path\" of \"reopen\" holds a NUL byte");
		return CHUBBY_E_BAD_NAME;
	}
	w->path = xstrndup(path.ptr, path.len);
	a->path = w->path;
	a->have_reopen = true;
	return CHUBBY_OK;
}

static int
get_set_contents(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	const msgpack_object *eo;
	struct mp_str contents;
	int rc;

	if ((rc = mp_get_bin(args, "contents", MP_REQUIRED, &contents, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_uint(args, "expected_gen", MP_OPTIONAL, &a->expected_gen, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_bool(args, "lock_record", MP_OPTIONAL, &a->lock_record, msg, msglen)) !=
		CHUBBY_OK)
		return rc;
	a->contents = (const uint8_t *)contents.ptr;
	a->contents_len = contents.len;
	a->have_contents = true;
	eo = mp_map_get(args, "expected_gen");
	a->have_expected = eo != NULL && eo->type != MSGPACK_OBJECT_NIL;
	return CHUBBY_OK;
}

/* What each call takes besides the session (and handle, and request id). */
static int
get_rest(enum svc_op op, const msgpack_object *args, const uint8_t *key, size_t keylen,
    struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	int rc;

	switch (op) {
	case SVC_KEEPALIVE:
		return get_keepalive(args, w, msg, msglen);
	case SVC_OPEN:
		return get_open(args, w, msg, msglen);
	case SVC_GET_CONTENTS:
		return mp_get_bool(args, "cache", MP_OPTIONAL, &a->cache, msg, msglen);
	case SVC_SET_CONTENTS:
		return get_set_contents(args, w, msg, msglen);
	case SVC_SET_ACL:
		if ((rc = get_acl(args, w, msg, msglen)) != CHUBBY_OK)
			return rc;
		return mp_get_bool(args, "allow_open_change", MP_OPTIONAL, &a->allow_open_change,
		    msg, msglen);
	case SVC_ACQUIRE:
	case SVC_TRY_ACQUIRE:
		if ((rc = mp_get_uint(args, "mode", MP_REQUIRED, &a->mode, msg, msglen)) !=
		    CHUBBY_OK)
			return rc;
		return mp_get_uint(args, "timeout_ms", MP_OPTIONAL, &a->timeout_ms, msg, msglen);
	case SVC_SET_SEQUENCER:
		return get_sequencer(args, MP_OPTIONAL, key, keylen, w, msg, msglen);
	case SVC_CLIENT_END:
		if ((rc = mp_get_uint(args, "client", MP_REQUIRED, &a->client, msg, msglen)) !=
		    CHUBBY_OK)
			return rc;
		return mp_get_bool(args, "expired", MP_OPTIONAL, &a->expired, msg, msglen);
	case SVC_CLAIM:
		return mp_get_uint(args, "client", MP_REQUIRED, &a->client, msg, msglen);
	default:
		return CHUBBY_OK;
	}
}

/* SESSION_START: the nonce (its request id) and, from a proxy, the
 * principal it starts the session for (docs/PROTOCOL.md "Proxies"). */
static int
get_session_start(const msgpack_object *args, struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	struct mp_str p = {NULL, 0};
	int rc;

	if ((rc = mp_get_uint(args, "nonce", MP_OPTIONAL, &a->rid, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_str(args, "principal", MP_OPTIONAL, &p, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (p.ptr == NULL)
		return CHUBBY_OK;
	if (p.len == 0 || memchr(p.ptr, '\0', p.len) != NULL) {
		snprintf(msg, msglen, "\"principal\" is empty or holds a NUL byte");
		return CHUBBY_E_INVALID;
	}
	w->path = xstrndup(p.ptr, p.len);
	a->principal = w->path;
	return CHUBBY_OK;
}

int
ns_wire_decode(enum svc_op op, const msgpack_object *args, const uint8_t *key, size_t keylen,
    struct ns_wire_args *w, char *msg, size_t msglen)
{
	struct svc_args *a = &w->a;
	bool handle, rid;
	int rc;

	memset(a, 0, sizeof *a);
	w->path = NULL;
	w->acl[0] = w->acl[1] = w->acl[2] = NULL;
	a->acks = w->acks;
	switch (op) {
	case SVC_SESSION_START:
		/* The nonce is the start's request id. */
		return get_session_start(args, w, msg, msglen);
	case SVC_CHECK_SEQUENCER:
		return get_sequencer(args, MP_REQUIRED, key, keylen, w, msg, msglen);
	case SVC_SESSIONS:
	case SVC_LOCKS:
		/* Nil arguments: a client that predates pages. */
		a->paged = args != NULL && args->type != MSGPACK_OBJECT_NIL;
		if (!a->paged)
			return CHUBBY_OK;
		if ((rc = mp_get_uint(args, "after", MP_OPTIONAL, &a->after, msg, msglen)) !=
		    CHUBBY_OK)
			return rc;
		return mp_get_uint(args, "limit", MP_OPTIONAL, &a->limit, msg, msglen);
	default:
		break;
	}
	handle = op != SVC_KEEPALIVE && op != SVC_SESSION_END && op != SVC_OPEN &&
	    op != SVC_CLIENT_END && op != SVC_CLAIM;
	rid = op != SVC_KEEPALIVE && op != SVC_GET_CONTENTS && op != SVC_GET_STAT &&
	    op != SVC_READDIR && op != SVC_GET_SEQUENCER;
	if ((rc = mp_get_uint(args, "session", MP_REQUIRED, &a->session, msg, msglen)) !=
		CHUBBY_OK ||
	    (rc = mp_get_uint(args, "epoch", MP_REQUIRED, &a->epoch, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (handle &&
	    (rc = mp_get_uint(args, "handle", MP_REQUIRED, &a->handle, msg, msglen)) != CHUBBY_OK)
		return rc;
	if (rid &&
	    ((rc = mp_get_uint(args, "rid", MP_OPTIONAL, &a->rid, msg, msglen)) != CHUBBY_OK ||
		(rc = mp_get_uint(args, "rid_floor", MP_OPTIONAL, &a->rid_floor, msg, msglen)) !=
		    CHUBBY_OK))
		return rc;
	if (handle && (rc = get_reopen(args, w, msg, msglen)) != CHUBBY_OK)
		return rc;
	return get_rest(op, args, key, keylen, w, msg, msglen);
}

void
ns_wire_args_free(struct ns_wire_args *w)
{
	free(w->path);
	w->path = NULL;
	for (int i = 0; i < 3; i++) {
		free(w->acl[i]);
		w->acl[i] = NULL;
	}
}

/* --- encoding ------------------------------------------------------------------- */

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

void
ns_wire_pack_result(msgpack_packer *pk, int status, const struct svc_result *r)
{
	if (status != CHUBBY_OK) {
		/* An error whose result map says more (PROTOCOL.md "Error results"). */
		if (r->kind == SVC_RES_EPOCH) {
			msgpack_pack_map(pk, 1);
			mp_pack_kv_uint(pk, "epoch", r->epoch);
		} else if (r->kind == SVC_RES_CONTENT_GEN) {
			msgpack_pack_map(pk, 1);
			mp_pack_kv_uint(pk, "content_gen", r->content_gen);
		} else if (r->kind == SVC_RES_ABSENT) {
			msgpack_pack_map(pk, 1);
			mp_pack_kv_bool(pk, "cacheable", r->cacheable);
		}
		return;
	}
	switch (r->kind) {
	case SVC_RES_RAW:
		wire_pack_raw(pk, r->raw, r->rawlen);
		return;
	case SVC_RES_STAT:
		msgpack_pack_map(pk, 1);
		mp_pack_str(pk, "stat");
		pack_stat(pk, r->stat, true);
		return;
	case SVC_RES_SESSION:
		msgpack_pack_map(pk, r->claim_window_ms != 0 ? 4 : 3);
		mp_pack_kv_uint(pk, "session", r->session);
		mp_pack_kv_uint(pk, "epoch", r->epoch);
		mp_pack_kv_uint(pk, "lease_ms", r->lease_ms);
		if (r->claim_window_ms != 0)
			mp_pack_kv_uint(pk, "claim_window_ms", r->claim_window_ms);
		return;
	case SVC_RES_OPEN:
		msgpack_pack_map(pk, 3);
		mp_pack_kv_uint(pk, "handle", r->handle);
		mp_pack_kv_bool(pk, "created", r->created);
		mp_pack_str(pk, "stat");
		pack_stat(pk, r->stat, true);
		return;
	case SVC_RES_CONTENTS:
		msgpack_pack_map(pk, 3);
		mp_pack_kv_bin(pk, "contents", r->contents, r->contents_len);
		mp_pack_str(pk, "stat");
		/* What a client may cache leaves the lock fields out (PROTOCOL.md
		 * "Cache invalidation"); an uncached read gets them. */
		pack_stat(pk, r->stat, !r->cacheable);
		mp_pack_kv_bool(pk, "cacheable", r->cacheable);
		return;
	case SVC_RES_NAMES:
		msgpack_pack_map(pk, 1);
		mp_pack_str(pk, "names");
		msgpack_pack_array(pk, r->nnames);
		for (size_t i = 0; i < r->nnames; i++)
			mp_pack_str(pk, r->names[i]);
		return;
	case SVC_RES_PAGE:
		/* {entries, next}, NEXT nil on the last page; a client that
		 * predates pages gets the bare list. */
		if (!r->paged) {
			wire_pack_raw(pk, r->raw, r->rawlen);
			return;
		}
		msgpack_pack_map(pk, 2);
		mp_pack_str(pk, "entries");
		wire_pack_raw(pk, r->raw, r->rawlen);
		mp_pack_str(pk, "next");
		if (r->next != 0)
			msgpack_pack_uint64(pk, r->next);
		else
			msgpack_pack_nil(pk);
		return;
	case SVC_RES_CLOSED:
		msgpack_pack_map(pk, 1);
		mp_pack_kv_uint(pk, "closed", r->closed);
		return;
	case SVC_RES_HANDLES:
		msgpack_pack_map(pk, 1);
		mp_pack_str(pk, "handles");
		msgpack_pack_array(pk, r->nhandles);
		for (size_t i = 0; i < r->nhandles; i++) {
			const struct svc_claimed *h = &r->handles[i];

			msgpack_pack_map(pk, 7);
			mp_pack_kv_uint(pk, "handle", h->handle);
			mp_pack_str(pk, "path");
			mp_pack_str(pk, h->path != NULL ? h->path : "");
			mp_pack_kv_uint(pk, "flags", h->flags);
			mp_pack_kv_uint(pk, "instance", h->instance);
			mp_pack_kv_uint(pk, "events", h->events);
			mp_pack_kv_uint(pk, "lock_mode", (uint64_t)h->lock_mode);
			mp_pack_kv_bool(pk, "poisoned", h->poisoned);
		}
		return;
	default:
		msgpack_pack_nil(pk);
		return;
	}
}
