/*
 * ns_snap.c: the namespace's snapshot (canonical msgpack of the whole
 * replicated state), its strict restore and the state digest replicas
 * compare.  Format: docs/NAMESPACE.md, "Snapshots".
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "ns_int.h"

#define SNAP_MAGIC "chubby-ns"
/* 2: sessions carry their request-id floor and records (ns_req.c); 1 is
 * still read (no records). */
#define SNAP_VERSION 2

static void
pk_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
pk_bool(msgpack_packer *pk, bool v)
{
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* [rid, type, handle, created, lock_gen, stat or nil]; a stat is
 * [instance, content_gen, lock_gen, acl_gen, checksum, length, created_ms,
 * modified_ms, is_dir, ephemeral, lock_mode, lock_holders,
 * lock_delay_until_ms, [acl x3]]. */
static void
pk_rec(msgpack_packer *pk, const struct ns_rec *r)
{
	const struct ns_stat *st = &r->stat;

	msgpack_pack_array(pk, 6);
	msgpack_pack_uint64(pk, r->rid);
	msgpack_pack_uint64(pk, (uint64_t)r->type);
	msgpack_pack_uint64(pk, r->handle);
	pk_bool(pk, r->created);
	msgpack_pack_uint64(pk, r->lock_gen);
	if (!r->has_stat) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_array(pk, 14);
	msgpack_pack_uint64(pk, st->instance);
	msgpack_pack_uint64(pk, st->content_gen);
	msgpack_pack_uint64(pk, st->lock_gen);
	msgpack_pack_uint64(pk, st->acl_gen);
	msgpack_pack_uint64(pk, st->checksum);
	msgpack_pack_uint64(pk, st->length);
	msgpack_pack_uint64(pk, st->created_ms);
	msgpack_pack_uint64(pk, st->modified_ms);
	pk_bool(pk, st->is_dir);
	pk_bool(pk, st->ephemeral);
	msgpack_pack_uint64(pk, (uint64_t)st->lock_mode);
	msgpack_pack_uint64(pk, st->lock_holders);
	msgpack_pack_uint64(pk, st->lock_delay_until_ms);
	msgpack_pack_array(pk, 3);
	for (int k = 0; k < 3; k++)
		pk_str(pk, r->acl[k]);
}

/* Canonical: nodes by name, sessions and handles by id; derived fields left out. */
static void
snap_pack(const struct ns *ns, msgpack_packer *pk)
{
	size_t i;
	int k;

	/* A tenth element only once a lease cap was recorded, so the
	 * snapshots (and digests) of cells that never stretched a lease stay
	 * byte for byte what they were. */
	/* An eleventh, the ended proxy clients (docs/NAMESPACE.md "Proxies"),
	 * only once there is one: then the tenth is there even if 0. */
	msgpack_pack_array(pk, ns->ntombs != 0 ? 11 : ns->lease_cap_ms != 0 ? 10 : 9);
	pk_str(pk, SNAP_MAGIC);
	msgpack_pack_uint64(pk, SNAP_VERSION);
	msgpack_pack_uint64(pk, ns->next_session);
	msgpack_pack_uint64(pk, ns->next_handle);
	msgpack_pack_uint64(pk, ns->next_instance);
	msgpack_pack_uint64(pk, ns->last_stamp);

	msgpack_pack_array(pk, ns->nnodes);
	for (i = 0; i < ns->nnodes; i++) {
		const struct ns_node *n = ns->nodes[i];

		/* A thirteenth element, the lock record's generation, only
		 * while the node has one: a namespace that holds no lock
		 * record snapshots (and digests) byte for byte as before. */
		msgpack_pack_array(pk, n->record_gen != 0 ? 13 : 12);
		pk_str(pk, n->path);
		msgpack_pack_uint64(pk, n->instance);
		if (n->is_dir)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		if (n->ephemeral)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		msgpack_pack_uint64(pk, n->content_gen);
		msgpack_pack_uint64(pk, n->lock_gen);
		msgpack_pack_uint64(pk, n->acl_gen);
		msgpack_pack_uint64(pk, n->created_ms);
		msgpack_pack_uint64(pk, n->modified_ms);
		msgpack_pack_array(pk, 3);
		for (k = 0; k < 3; k++)
			pk_str(pk, n->acl[k]);
		msgpack_pack_bin(pk, n->len);
		msgpack_pack_bin_body(pk, n->contents, n->len);
		msgpack_pack_uint64(pk, n->delay_until_ms);
		if (n->record_gen != 0)
			msgpack_pack_uint64(pk, n->record_gen);
	}

	msgpack_pack_array(pk, ns->nsessions);
	for (i = 0; i < ns->nsessions; i++) {
		const struct ns_session *se = ns->sessions[i];

		/* A sixth element only for a proxy session: 1, or 3 once
		 * orphaned (docs/NAMESPACE.md "Proxies"). */
		msgpack_pack_array(pk, se->proxy ? 6 : 5);
		msgpack_pack_uint64(pk, se->id);
		pk_str(pk, se->principal);
		msgpack_pack_uint64(pk, se->start_nonce);
		msgpack_pack_uint64(pk, se->rid_floor);
		msgpack_pack_array(pk, se->nrecs);
		for (size_t j = 0; j < se->nrecs; j++)
			pk_rec(pk, &se->recs[j]);
		if (se->proxy)
			msgpack_pack_uint64(pk, se->orphaned ? 3 : 1);
	}

	msgpack_pack_array(pk, ns->nhandles);
	for (i = 0; i < ns->nhandles; i++) {
		const struct ns_handle *h = ns->handles[i];

		/* A twelfth element, the client tag, only on a tagged handle. */
		msgpack_pack_array(pk, h->client != 0 ? 12 : 11);
		msgpack_pack_uint64(pk, h->id);
		msgpack_pack_uint64(pk, h->session);
		pk_str(pk, h->path);
		if (h->node != NULL)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		msgpack_pack_uint64(pk, h->instance);
		msgpack_pack_uint64(pk, h->flags);
		msgpack_pack_uint64(pk, h->lock_delay_ms);
		msgpack_pack_uint64(pk, h->event_mask);
		if (h->poisoned)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		msgpack_pack_uint64(pk, (uint64_t)h->held);
		if (!h->has_seq)
			msgpack_pack_nil(pk);
		else {
			msgpack_pack_array(pk, 4);
			pk_str(pk, h->seq.path);
			msgpack_pack_uint64(pk, (uint64_t)h->seq.mode);
			msgpack_pack_uint64(pk, h->seq.lock_gen);
			msgpack_pack_uint64(pk, h->seq.instance);
		}
		if (h->client != 0)
			msgpack_pack_uint64(pk, h->client);
	}
	if (ns->lease_cap_ms != 0 || ns->ntombs != 0)
		msgpack_pack_uint64(pk, ns->lease_cap_ms);
	if (ns->ntombs != 0) {
		msgpack_pack_array(pk, ns->ntombs);
		for (i = 0; i < ns->ntombs; i++)
			msgpack_pack_uint64(pk, ns->tombs[i]);
	}
}

int
ns_snapshot(const struct ns *ns, uint8_t **out, size_t *len)
{
	struct ns_wbuf b = { NULL, 0, 0 };
	msgpack_packer pk;

	msgpack_packer_init(&pk, &b, ns_wbuf_write);
	snap_pack(ns, &pk);
	*out = b.p;
	*len = b.len;
	return CHUBBY_OK;
}

static int
hash_write(void *data, const char *buf, size_t len)
{
	uint64_t *h = data;

	*h = ns_fnv1a(*h, buf, len);
	return 0;
}

uint64_t
ns_digest(const struct ns *ns)
{
	uint64_t h = NS_FNV_INIT;
	msgpack_packer pk;

	msgpack_packer_init(&pk, &h, hash_write);
	snap_pack(ns, &pk);
	return h;
}

/* --- restore --- */

struct snap_ctx {
	struct ns_rd r;
	struct ns *t; /* the state being built */
	char *err;
	size_t errlen;
};

static int
bad(struct snap_ctx *x, const char *what)
{
	ns_msg_set(x->err, x->errlen, "snapshot refused: ", what, NULL);
	return CHUBBY_E_CORRUPT;
}

static bool
rd_path(struct snap_ctx *x, const char **p, size_t *len)
{
	char msg[8];

	return ns_rd_str(&x->r, p, len) &&
	    ns_path_check(x->t, *p, *len, msg, sizeof msg) == CHUBBY_OK;
}

static bool
acl_name_ok(const char *p, size_t len)
{
	return len == 0 || ns_name_check(p, len) == CHUBBY_OK;
}

static int
rd_nodes(struct snap_ctx *x)
{
	struct ns *t = x->t;
	size_t n, i, len, nf, nelem, clen, plen, acllen;
	const char *path, *s, *cs;
	struct ns_node *nd, *prev = NULL, *parent;
	int k;

	if (!ns_rd_array(&x->r, &n) || n == 0)
		return bad(x, "no node list");
	for (i = 0; i < n; i++) {
		if (!ns_rd_array(&x->r, &nelem) || (nelem != 12 && nelem != 13) ||
		    !rd_path(x, &path, &len))
			return bad(x, "a node's name");
		if (prev != NULL && ns_path_cmp(prev->path, prev->pathlen, path, len) >= 0)
			return bad(x, "nodes out of order");
		if (i == 0 && (len != t->rootlen))
			return bad(x, "the first node is not the cell's root");
		parent = NULL;
		if (i > 0) {
			for (plen = len; path[plen - 1] != '/'; plen--)
				;
			parent = ns_node_find(t, path, plen - 1, NULL);
			if (parent == NULL || !parent->is_dir)
				return bad(x, "a node without a parent directory");
		}
		nd = xcalloc(1, sizeof *nd);
		nd->path = ns_strndup(path, len);
		nd->pathlen = len;
		nd->parent = parent;
		if (t->nnodes == t->nodes_cap) {
			t->nodes_cap = t->nodes_cap == 0 ? 16 : t->nodes_cap * 2;
			t->nodes = xrealloc(t->nodes, t->nodes_cap * sizeof *t->nodes);
		}
		t->nodes[t->nnodes++] = nd;
		for (k = 0; k < 3; k++)
			nd->acl[k] = xstrdup("");
		if (!ns_rd_uint(&x->r, &nd->instance) || !ns_rd_bool(&x->r, &nd->is_dir) ||
		    !ns_rd_bool(&x->r, &nd->ephemeral) || !ns_rd_uint(&x->r, &nd->content_gen) ||
		    !ns_rd_uint(&x->r, &nd->lock_gen) || !ns_rd_uint(&x->r, &nd->acl_gen) ||
		    !ns_rd_uint(&x->r, &nd->created_ms) || !ns_rd_uint(&x->r, &nd->modified_ms))
			return bad(x, "a node's metadata");
		if (nd->instance == 0 || nd->instance >= t->next_instance)
			return bad(x, "a node's instance number");
		if (parent == NULL && (!nd->is_dir || nd->ephemeral))
			return bad(x, "the root is not a permanent directory");
		if (!ns_rd_array(&x->r, &nf) || nf != 3)
			return bad(x, "a node's ACL names");
		for (k = 0; k < 3; k++) {
			if (!ns_rd_str(&x->r, &s, &acllen) || !acl_name_ok(s, acllen))
				return bad(x, "a node's ACL name");
			free(nd->acl[k]);
			nd->acl[k] = ns_strndup(s, acllen);
		}
		if (!ns_rd_str(&x->r, &cs, &clen) || (nd->is_dir && clen > 0))
			return bad(x, "a node's contents");
		if (clen > 0) {
			nd->contents = xmemdup(cs, clen);
			nd->len = clen;
		}
		nd->checksum = ns_fnv1a(NS_FNV_INIT, nd->contents, nd->len);
		if (!ns_rd_uint(&x->r, &nd->delay_until_ms))
			return bad(x, "a node's lock-delay");
		/* A record is a file's, of a lock generation that was taken. */
		if (nelem == 13 && (!ns_rd_uint(&x->r, &nd->record_gen) || nd->record_gen == 0 ||
				    nd->is_dir || nd->record_gen > nd->lock_gen))
			return bad(x, "a node's lock record");
		if (parent != NULL)
			parent->nchildren++;
		prev = nd;
	}
	return CHUBBY_OK;
}

static bool
rd_rec(struct snap_ctx *x, struct ns_rec *rec)
{
	struct ns_rd *r = &x->r;
	struct ns_stat *st = &rec->stat;
	uint64_t type, mode;
	size_t nf, len;
	const char *p;

	if (!ns_rd_array(r, &nf) || nf != 6 || !ns_rd_uint(r, &rec->rid) || rec->rid == 0 ||
	    !ns_rd_uint(r, &type) || type == 0 || type == NS_CMD_REQ || type > NS_CMD_CLAIM ||
	    type == NS_CMD_SESSION_START || !ns_rd_uint(r, &rec->handle) ||
	    !ns_rd_bool(r, &rec->created) || !ns_rd_uint(r, &rec->lock_gen))
		return false;
	rec->type = (int)type;
	if (ns_rd_nil(r))
		return true;
	rec->has_stat = true;
	for (int k = 0; k < 3; k++)
		rec->acl[k] = xstrdup("");
	if (!ns_rd_array(r, &nf) || nf != 14 || !ns_rd_uint(r, &st->instance) ||
	    !ns_rd_uint(r, &st->content_gen) || !ns_rd_uint(r, &st->lock_gen) ||
	    !ns_rd_uint(r, &st->acl_gen) || !ns_rd_uint(r, &st->checksum) ||
	    !ns_rd_uint(r, &st->length) || !ns_rd_uint(r, &st->created_ms) ||
	    !ns_rd_uint(r, &st->modified_ms) || !ns_rd_bool(r, &st->is_dir) ||
	    !ns_rd_bool(r, &st->ephemeral) || !ns_rd_uint(r, &mode) || mode > NS_LOCK_EXCLUSIVE ||
	    !ns_rd_uint(r, &st->lock_holders) || !ns_rd_uint(r, &st->lock_delay_until_ms) ||
	    !ns_rd_array(r, &nf) || nf != 3)
		return false;
	st->lock_mode = (int)mode;
	for (int k = 0; k < 3; k++) {
		if (!ns_rd_str(r, &p, &len) || !acl_name_ok(p, len))
			return false;
		free(rec->acl[k]);
		rec->acl[k] = ns_strndup(p, len);
	}
	return true;
}

/* Version 2's [start_nonce, floor, [records]] of session S. */
static int
rd_recs(struct snap_ctx *x, struct ns_session *s)
{
	size_t n;

	if (!ns_rd_uint(&x->r, &s->start_nonce) || !ns_rd_uint(&x->r, &s->rid_floor) ||
	    !ns_rd_array(&x->r, &n) ||
	    n > NS_MAX_REQ_RECORDS)
		return bad(x, "a session's request records");
	s->recs = xcalloc(n + 1, sizeof *s->recs);
	s->recs_cap = n + 1;
	for (size_t i = 0; i < n; i++) {
		/* Counted first, so that a half-read record is freed with S. */
		s->nrecs++;
		if (!rd_rec(x, &s->recs[i]))
			return bad(x, "a session's request record");
		if (s->recs[i].rid < s->rid_floor || (i > 0 && s->recs[i].rid <= s->recs[i - 1].rid))
			return bad(x, "request records out of order or below the floor");
	}
	return CHUBBY_OK;
}

static int
rd_sessions(struct snap_ctx *x, uint64_t version)
{
	struct ns *t = x->t;
	struct ns_session *s;
	size_t n, i, nf, len, j;
	const char *p;
	uint64_t id, last = 0;
	int rc;

	if (!ns_rd_array(&x->r, &n))
		return bad(x, "no session list");
	for (i = 0; i < n; i++) {
		if (!ns_rd_array(&x->r, &nf) ||
		    (nf != (version == 1 ? 2 : 5) && !(version > 1 && nf == 6)) ||
		    !ns_rd_uint(&x->r, &id) || !ns_rd_str(&x->r, &p, &len))
			return bad(x, "a session");
		if (id <= last || id >= t->next_session)
			return bad(x, "session ids out of order or range");
		if (len == 0 || len > NS_MAX_PRINCIPAL)
			return bad(x, "a session's principal");
		for (j = 0; j < len; j++)
			if ((unsigned char)p[j] < 0x20 || p[j] == 0x7f)
				return bad(x, "a session's principal");
		last = id;
		s = xcalloc(1, sizeof *s);
		s->id = id;
		s->principal = ns_strndup(p, len);
		if (t->nsessions == t->sessions_cap) {
			t->sessions_cap = t->sessions_cap == 0 ? 16 : t->sessions_cap * 2;
			t->sessions = xrealloc(t->sessions, t->sessions_cap * sizeof *t->sessions);
		}
		t->sessions[t->nsessions++] = s;
		if (version > 1 && (rc = rd_recs(x, s)) != CHUBBY_OK)
			return rc;
		if (nf == 6) {
			uint64_t pf;

			if (!ns_rd_uint(&x->r, &pf) || (pf != 1 && pf != 3))
				return bad(x, "a session's proxy state");
			s->proxy = true;
			s->orphaned = pf == 3;
		}
	}
	return CHUBBY_OK;
}

static int
rd_handles(struct snap_ctx *x)
{
	struct ns *t = x->t;
	struct ns_handle *h;
	struct ns_session *s;
	struct ns_node *nd;
	size_t n, i, nf, len;
	const char *p;
	uint64_t id, last = 0, v, held;
	bool valid;

	if (!ns_rd_array(&x->r, &n))
		return bad(x, "no handle list");
	for (i = 0; i < n; i++) {
		if (!ns_rd_array(&x->r, &nf) || (nf != 11 && nf != 12) ||
		    !ns_rd_uint(&x->r, &id))
			return bad(x, "a handle");
		/* (A handle kept in the master's memory and made for a
		 * lock has its id, NS_MEM_ID_BIT set, not the counter's.) */
		if (id <= last || (id >= t->next_handle && !(id & NS_MEM_ID_BIT)))
			return bad(x, "handle ids out of order or range");
		last = id;
		h = xcalloc(1, sizeof *h);
		h->id = id;
		if (t->nhandles == t->handles_cap) {
			t->handles_cap = t->handles_cap == 0 ? 16 : t->handles_cap * 2;
			t->handles = xrealloc(t->handles, t->handles_cap * sizeof *t->handles);
		}
		t->handles[t->nhandles++] = h;
		if (!ns_rd_uint(&x->r, &h->session) || !rd_path(x, &p, &len) ||
		    !ns_rd_bool(&x->r, &valid) || !ns_rd_uint(&x->r, &h->instance))
			return bad(x, "a handle's session, name or instance");
		h->path = ns_strndup(p, len);
		if ((s = ns_session_find(t, h->session)) == NULL)
			return bad(x, "a handle of no session");
		s->nhandles++;
		nd = ns_node_find(t, p, len, NULL);
		if (valid != (nd != NULL && nd->instance == h->instance))
			return bad(x, "a handle's node is not as it says");
		if (!ns_rd_uint(&x->r, &v) || (v & ~(uint64_t)NS_O_ALL) != 0)
			return bad(x, "a handle's flags");
		h->flags = (uint32_t)v;
		if (!ns_rd_uint(&x->r, &h->lock_delay_ms) ||
		    h->lock_delay_ms > NS_MAX_LOCK_DELAY_MS)
			return bad(x, "a handle's lock-delay");
		if (!ns_rd_uint(&x->r, &v) || (v & ~(uint64_t)NS_EV_ALL) != 0)
			return bad(x, "a handle's event mask");
		h->event_mask = (uint32_t)v;
		if (!ns_rd_bool(&x->r, &h->poisoned) || !ns_rd_uint(&x->r, &held) ||
		    held > NS_LOCK_EXCLUSIVE || (held != NS_LOCK_NONE && !valid))
			return bad(x, "a handle's lock");
		if (valid) {
			h->node = nd;
			ns_node_add_handle(nd, h);
			if (held != NS_LOCK_NONE) {
				if (nd->lock_mode == NS_LOCK_EXCLUSIVE ||
				    (nd->lock_mode != NS_LOCK_NONE && held == NS_LOCK_EXCLUSIVE))
					return bad(x, "conflicting lock holders");
				nd->lock_mode = (int)held;
				nd->nholders++;
				h->held = (int)held;
			}
		}
		if (!ns_rd_nil(&x->r)) {
			h->has_seq = true;
			if (!ns_rd_array(&x->r, &nf) || nf != 4 || !rd_path(x, &p, &len))
				return bad(x, "a handle's sequencer");
			h->seq.path = ns_strndup(p, len);
			if (!ns_rd_uint(&x->r, &v) || v < NS_LOCK_SHARED || v > NS_LOCK_EXCLUSIVE ||
			    !ns_rd_uint(&x->r, &h->seq.lock_gen) ||
			    !ns_rd_uint(&x->r, &h->seq.instance))
				return bad(x, "a handle's sequencer");
			h->seq.mode = (int)v;
		}
		if (nf == 12 && (!ns_rd_uint(&x->r, &h->client) || h->client == 0 || !s->proxy))
			return bad(x, "a handle's client tag");
	}
	/* An orphaned session is kept only for its tagged handles. */
	for (i = 0; i < t->nsessions; i++)
		if (t->sessions[i]->orphaned && t->sessions[i]->nhandles == 0)
			return bad(x, "an orphaned session without handles");
	return CHUBBY_OK;
}

static int
rd_tombs(struct snap_ctx *x)
{
	struct ns *t = x->t;
	size_t n;
	uint64_t v;

	if (!ns_rd_array(&x->r, &n) || n == 0 || n > NS_MAX_TOMBSTONES)
		return bad(x, "ended proxy clients");
	for (size_t i = 0; i < n; i++) {
		if (!ns_rd_uint(&x->r, &v) || v == 0 || ns_client_ended(t, v))
			return bad(x, "an ended proxy client");
		ns_tomb_add(t, v);
	}
	return CHUBBY_OK;
}

int
ns_restore(struct ns *ns, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct ns t;
	struct snap_ctx x;
	const char *magic;
	size_t n, mlen;
	uint64_t version;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (data == NULL && len > 0)
		return CHUBBY_E_INVALID;
	/* T borrows NS's config; only its state is built and then moved. */
	t = *ns;
	t.nodes = NULL;
	t.handles = NULL;
	t.sessions = NULL;
	t.nnodes = t.nodes_cap = t.nhandles = t.handles_cap = t.nsessions = t.sessions_cap = 0;
	t.tombs = NULL;
	t.ntombs = 0;
	memset(&x, 0, sizeof x);
	x.r.p = data;
	x.r.left = len;
	x.t = &t;
	x.err = err;
	x.errlen = err != NULL ? errlen : 0;

	if (!ns_rd_array(&x.r, &n) || n < 9 || n > 11 || !ns_rd_str(&x.r, &magic, &mlen) ||
	    mlen != strlen(SNAP_MAGIC) || memcmp(magic, SNAP_MAGIC, mlen) != 0) {
		rc = bad(&x, "not a namespace snapshot");
		goto fail;
	}
	if (!ns_rd_uint(&x.r, &version) || version < 1 || version > SNAP_VERSION) {
		rc = bad(&x, "unknown version");
		goto fail;
	}
	if (!ns_rd_uint(&x.r, &t.next_session) || !ns_rd_uint(&x.r, &t.next_handle) ||
	    !ns_rd_uint(&x.r, &t.next_instance) || !ns_rd_uint(&x.r, &t.last_stamp) ||
	    t.next_session == 0 || t.next_handle == 0 || t.next_instance < 2) {
		rc = bad(&x, "counters");
		goto fail;
	}
	if ((rc = rd_nodes(&x)) != CHUBBY_OK || (rc = rd_sessions(&x, version)) != CHUBBY_OK ||
	    (rc = rd_handles(&x)) != CHUBBY_OK)
		goto fail;
	t.lease_cap_ms = 0;
	if (n >= 10 && (!ns_rd_uint(&x.r, &t.lease_cap_ms) || (n == 10 && t.lease_cap_ms == 0))) {
		rc = bad(&x, "lease cap");
		goto fail;
	}
	if (n == 11 && (rc = rd_tombs(&x)) != CHUBBY_OK)
		goto fail;
	if (x.r.left != 0) {
		rc = bad(&x, "bytes after the snapshot");
		goto fail;
	}
	ns_state_clear(ns);
	ns->nodes = t.nodes;
	ns->nnodes = t.nnodes;
	ns->nodes_cap = t.nodes_cap;
	ns->sessions = t.sessions;
	ns->nsessions = t.nsessions;
	ns->sessions_cap = t.sessions_cap;
	ns->handles = t.handles;
	ns->nhandles = t.nhandles;
	ns->handles_cap = t.handles_cap;
	ns->next_session = t.next_session;
	ns->next_handle = t.next_handle;
	ns->next_instance = t.next_instance;
	ns->last_stamp = t.last_stamp;
	ns->lease_cap_ms = t.lease_cap_ms;
	ns->tombs = t.tombs;
	ns->ntombs = t.ntombs;
	return CHUBBY_OK;

fail:
	ns_state_clear(&t);
	return rc;
}
