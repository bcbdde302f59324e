/*
 * ns_codec.c: the namespace's commands as msgpack bytes (builders and the
 * strict decoder ns_apply uses), and a small allocation-free msgpack reader
 * that never trusts a declared length (commands and snapshots arrive over
 * the network).  Encodings: docs/NAMESPACE.md, "Commands".
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

int
ns_wbuf_write(void *data, const char *buf, size_t len)
{
	struct ns_wbuf *b = data;

	if (len == 0)
		return 0;
	if (b->cap - b->len < len) {
		while (b->cap - b->len < len)
			b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	return 0;
}

/* --- reader --- */

static bool
rd_take(struct ns_rd *r, size_t n, const uint8_t **p)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return false;
	}
	*p = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static bool
rd_be(struct ns_rd *r, size_t n, uint64_t *v)
{
	const uint8_t *p;
	size_t i;

	if (!rd_take(r, n, &p))
		return false;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | p[i];
	return true;
}

static bool
rd_fail(struct ns_rd *r)
{
	r->bad = true;
	return false;
}

bool
ns_rd_array(struct ns_rd *r, size_t *n)
{
	const uint8_t *p;
	uint64_t v;

	if (!rd_take(r, 1, &p))
		return false;
	if ((*p & 0xf0) == 0x90)
		v = *p & 0x0f;
	else if (*p == 0xdc) {
		if (!rd_be(r, 2, &v))
			return false;
	} else if (*p == 0xdd) {
		if (!rd_be(r, 4, &v))
			return false;
	} else
		return rd_fail(r);
	/* Every element takes at least a byte: a count past what is left is a lie. */
	if (v > r->left)
		return rd_fail(r);
	*n = (size_t)v;
	return true;
}

bool
ns_rd_uint(struct ns_rd *r, uint64_t *v)
{
	const uint8_t *p;

	if (!rd_take(r, 1, &p))
		return false;
	if (*p <= 0x7f) {
		*v = *p;
		return true;
	}
	switch (*p) {
	case 0xcc:
		return rd_be(r, 1, v);
	case 0xcd:
		return rd_be(r, 2, v);
	case 0xce:
		return rd_be(r, 4, v);
	case 0xcf:
		return rd_be(r, 8, v);
	}
	return rd_fail(r);
}

bool
ns_rd_bool(struct ns_rd *r, bool *v)
{
	const uint8_t *p;

	if (!rd_take(r, 1, &p))
		return false;
	if (*p != 0xc2 && *p != 0xc3)
		return rd_fail(r);
	*v = *p == 0xc3;
	return true;
}

bool
ns_rd_str(struct ns_rd *r, const char **s, size_t *len)
{
	const uint8_t *p, *q;
	uint64_t n;

	if (!rd_take(r, 1, &p))
		return false;
	if ((*p & 0xe0) == 0xa0)
		n = *p & 0x1f;
	else if (*p == 0xd9 || *p == 0xc4) {
		if (!rd_be(r, 1, &n))
			return false;
	} else if (*p == 0xda || *p == 0xc5) {
		if (!rd_be(r, 2, &n))
			return false;
	} else if (*p == 0xdb || *p == 0xc6) {
		if (!rd_be(r, 4, &n))
			return false;
	} else
		return rd_fail(r);
	if (!rd_take(r, (size_t)n, &q))
		return false;
	*s = (const char *)q;
	*len = (size_t)n;
	return true;
}

bool
ns_rd_nil(struct ns_rd *r)
{
	if (r->bad || r->left == 0 || r->p[0] != 0xc0)
		return false;
	r->p++;
	r->left--;
	return true;
}

/* --- builders --- */

struct enc {
	struct ns_wbuf b;
	msgpack_packer pk;
};

static void
enc_begin(struct enc *e, int type, size_t nfields, uint64_t stamp, uint64_t session)
{
	memset(e, 0, sizeof *e);
	msgpack_packer_init(&e->pk, &e->b, ns_wbuf_write);
	msgpack_pack_array(&e->pk, 3 + nfields);
	msgpack_pack_uint64(&e->pk, (uint64_t)type);
	msgpack_pack_uint64(&e->pk, stamp);
	msgpack_pack_uint64(&e->pk, session);
}

static int
enc_end(struct enc *e, uint8_t **out, size_t *len)
{
	*out = e->b.p;
	*len = e->b.len;
	return CHUBBY_OK;
}

static void
enc_str(struct enc *e, const char *s)
{
	size_t n;

	if (s == NULL) {
		msgpack_pack_nil(&e->pk);
		return;
	}
	n = strlen(s);
	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

static void
enc_bin(struct enc *e, const void *p, size_t n)
{
	msgpack_pack_bin(&e->pk, n);
	msgpack_pack_bin_body(&e->pk, p, n);
}

int
ns_encode_session_start(uint64_t stamp_ms, const char *principal, uint8_t **out, size_t *len)
{
	return ns_encode_session_start_proxy(stamp_ms, principal, false, out, len);
}

int
ns_encode_session_start_proxy(uint64_t stamp_ms, const char *principal, bool proxy,
    uint8_t **out, size_t *len)
{
	struct enc e;

	if (principal == NULL)
		return CHUBBY_E_INVALID;
	/* The proxy field only for a proxy session: a plain start stays the
	 * command every replica version knows. */
	enc_begin(&e, NS_CMD_SESSION_START, proxy ? 2 : 1, stamp_ms, 0);
	enc_str(&e, principal);
	if (proxy)
		msgpack_pack_true(&e.pk);
	return enc_end(&e, out, len);
}

int
ns_encode_client_end(uint64_t stamp_ms, uint64_t session, uint64_t client, bool expired,
    uint8_t **out, size_t *len)
{
	struct enc e;

	if (client == 0)
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_CLIENT_END, 2, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, client);
	if (expired)
		msgpack_pack_true(&e.pk);
	else
		msgpack_pack_false(&e.pk);
	return enc_end(&e, out, len);
}

int
ns_encode_claim(uint64_t stamp_ms, uint64_t session, uint64_t client, uint8_t **out,
    size_t *len)
{
	struct enc e;

	if (client == 0)
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_CLAIM, 1, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, client);
	return enc_end(&e, out, len);
}

int
ns_encode_session_end(uint64_t stamp_ms, uint64_t issuer, uint64_t session, int reason,
    uint8_t **out, size_t *len)
{
	struct enc e;

	enc_begin(&e, NS_CMD_SESSION_END, 2, stamp_ms, issuer);
	msgpack_pack_uint64(&e.pk, session);
	msgpack_pack_uint64(&e.pk, (uint64_t)(reason < 0 ? 0 : reason));
	return enc_end(&e, out, len);
}

int
ns_encode_open(uint64_t stamp_ms, uint64_t session, const char *path, uint32_t flags,
    uint64_t lock_delay_ms, uint32_t event_mask, const void *contents, size_t contents_len,
    const char *const *acl, uint8_t **out, size_t *len)
{
	return ns_encode_open_client(stamp_ms, session, path, flags, lock_delay_ms, event_mask,
	    contents, contents_len, acl, 0, out, len);
}

int
ns_encode_open_client(uint64_t stamp_ms, uint64_t session, const char *path, uint32_t flags,
    uint64_t lock_delay_ms, uint32_t event_mask, const void *contents, size_t contents_len,
    const char *const *acl, uint64_t client, uint8_t **out, size_t *len)
{
	struct enc e;
	int i;

	if (path == NULL || (contents == NULL && contents_len != 0))
		return CHUBBY_E_INVALID;
	/* The tag only when there is one: an untagged OPEN keeps its bytes. */
	enc_begin(&e, NS_CMD_OPEN, client != 0 ? 7 : 6, stamp_ms, session);
	enc_str(&e, path);
	msgpack_pack_uint64(&e.pk, flags);
	if (lock_delay_ms == UINT64_MAX)
		msgpack_pack_nil(&e.pk);
	else
		msgpack_pack_uint64(&e.pk, lock_delay_ms);
	msgpack_pack_uint64(&e.pk, event_mask);
	if (contents == NULL)
		msgpack_pack_nil(&e.pk);
	else
		enc_bin(&e, contents, contents_len);
	if (acl == NULL)
		msgpack_pack_nil(&e.pk);
	else {
		msgpack_pack_array(&e.pk, 3);
		/* A NULL name inherits that one of the parent's (nil). */
		for (i = 0; i < 3; i++)
			enc_str(&e, acl[i]);
	}
	if (client != 0)
		msgpack_pack_uint64(&e.pk, client);
	return enc_end(&e, out, len);
}

static int
enc_handle_op(int type, uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len)
{
	struct enc e;

	enc_begin(&e, type, 1, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	return enc_end(&e, out, len);
}

int
ns_encode_close(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out, size_t *len)
{
	return enc_handle_op(NS_CMD_CLOSE, stamp_ms, session, handle, out, len);
}

int
ns_encode_poison(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len)
{
	return enc_handle_op(NS_CMD_POISON, stamp_ms, session, handle, out, len);
}

int
ns_encode_delete(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len)
{
	return enc_handle_op(NS_CMD_DELETE, stamp_ms, session, handle, out, len);
}

int
ns_encode_release(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len)
{
	return enc_handle_op(NS_CMD_RELEASE, stamp_ms, session, handle, out, len);
}

int
ns_encode_set_contents(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const void *contents, size_t contents_len, bool have_expected, uint64_t expected_gen,
    uint8_t **out, size_t *len)
{
	return ns_encode_set_contents_flags(stamp_ms, session, handle, contents, contents_len,
	    have_expected, expected_gen, 0, out, len);
}

int
ns_encode_set_contents_flags(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const void *contents, size_t contents_len, bool have_expected, uint64_t expected_gen,
    uint32_t flags, uint8_t **out, size_t *len)
{
	struct enc e;

	if ((contents == NULL && contents_len != 0) || (flags & ~(uint32_t)NS_SC_ALL) != 0)
		return CHUBBY_E_INVALID;
	/* The flags field only when there are flags: a plain write stays the
	 * command every replica version knows. */
	enc_begin(&e, NS_CMD_SET_CONTENTS, flags != 0 ? 4 : 3, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	enc_bin(&e, contents == NULL ? "" : contents, contents_len);
	if (have_expected)
		msgpack_pack_uint64(&e.pk, expected_gen);
	else
		msgpack_pack_nil(&e.pk);
	if (flags != 0)
		msgpack_pack_uint64(&e.pk, flags);
	return enc_end(&e, out, len);
}

int
ns_encode_set_acl(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const char *const acl[3], uint8_t **out, size_t *len)
{
	struct enc e;
	int i;

	if (acl == NULL)
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_SET_ACL, 2, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	msgpack_pack_array(&e.pk, 3);
	for (i = 0; i < 3; i++)
		enc_str(&e, acl[i]);
	return enc_end(&e, out, len);
}

int
ns_encode_acquire(uint64_t stamp_ms, uint64_t session, uint64_t handle, int mode, uint8_t **out,
    size_t *len)
{
	struct enc e;

	enc_begin(&e, NS_CMD_ACQUIRE, 2, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	msgpack_pack_uint64(&e.pk, (uint64_t)(mode < 0 ? 0 : mode));
	return enc_end(&e, out, len);
}

int
ns_encode_set_sequencer(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const struct ns_sequencer *seq, uint8_t **out, size_t *len)
{
	struct enc e;

	if (seq != NULL && seq->path == NULL)
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_SET_SEQUENCER, 2, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	if (seq == NULL)
		msgpack_pack_nil(&e.pk);
	else {
		msgpack_pack_array(&e.pk, 4);
		enc_str(&e, seq->path);
		msgpack_pack_uint64(&e.pk, (uint64_t)(seq->mode < 0 ? 0 : seq->mode));
		msgpack_pack_uint64(&e.pk, seq->lock_gen);
		msgpack_pack_uint64(&e.pk, seq->instance);
	}
	return enc_end(&e, out, len);
}

int
ns_encode_req(uint64_t stamp_ms, uint64_t session, uint64_t rid, uint64_t rid_floor,
    const uint8_t *inner, size_t inner_len, uint8_t **out, size_t *len)
{
	struct enc e;

	if (inner == NULL || rid == 0 || rid_floor > rid)
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_REQ, 3, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, rid);
	msgpack_pack_uint64(&e.pk, rid_floor);
	enc_bin(&e, inner, inner_len);
	return enc_end(&e, out, len);
}

int
ns_encode_mem(uint64_t stamp_ms, uint64_t session, uint64_t handle, const char *path,
    uint64_t instance, uint32_t flags, bool poisoned, const uint8_t *inner, size_t inner_len,
    uint8_t **out, size_t *len)
{
	struct enc e;

	if (path == NULL || !(handle & NS_MEM_ID_BIT))
		return CHUBBY_E_INVALID;
	enc_begin(&e, NS_CMD_MEM, 6, stamp_ms, session);
	msgpack_pack_uint64(&e.pk, handle);
	enc_str(&e, path);
	msgpack_pack_uint64(&e.pk, instance);
	msgpack_pack_uint64(&e.pk, flags);
	if (poisoned)
		msgpack_pack_true(&e.pk);
	else
		msgpack_pack_false(&e.pk);
	if (inner != NULL)
		enc_bin(&e, inner, inner_len);
	else
		msgpack_pack_nil(&e.pk);
	return enc_end(&e, out, len);
}

int
ns_encode_lease_cap(uint64_t stamp_ms, uint64_t cap_ms, uint8_t **out, size_t *len)
{
	struct enc e;

	enc_begin(&e, NS_CMD_LEASE_CAP, 1, stamp_ms, 0);
	msgpack_pack_uint64(&e.pk, cap_ms);
	return enc_end(&e, out, len);
}

int
ns_encode_init_acls(uint64_t stamp_ms, const char *const root_acl[3], const char *admins,
    uint8_t **out, size_t *len)
{
	struct enc e;
	int i;

	enc_begin(&e, NS_CMD_INIT_ACLS, 2, stamp_ms, 0);
	msgpack_pack_array(&e.pk, 3);
	for (i = 0; i < 3; i++)
		enc_str(&e, root_acl != NULL && root_acl[i] != NULL ? root_acl[i] : "");
	enc_bin(&e, admins != NULL ? admins : "", admins != NULL ? strlen(admins) : 0);
	return enc_end(&e, out, len);
}

/* --- decoder --- */

/* Fields after [type, stamp, session], per type. */
static const size_t cmd_nfields[] = {
	[NS_CMD_SESSION_START] = 1,
	[NS_CMD_SESSION_END] = 2,
	[NS_CMD_OPEN] = 6,
	[NS_CMD_CLOSE] = 1,
	[NS_CMD_POISON] = 1,
	[NS_CMD_SET_CONTENTS] = 3,
	[NS_CMD_SET_ACL] = 2,
	[NS_CMD_DELETE] = 1,
	[NS_CMD_ACQUIRE] = 2,
	[NS_CMD_RELEASE] = 1,
	[NS_CMD_SET_SEQUENCER] = 2,
	[NS_CMD_REQ] = 3,
	[NS_CMD_INIT_ACLS] = 2,
	[NS_CMD_LEASE_CAP] = 1,
	[NS_CMD_MEM] = 6,
	[NS_CMD_CLIENT_END] = 2,
	[NS_CMD_CLAIM] = 1,
};

/* An array of three ACL names, each a string (or nil where NILOK). */
static bool
rd_acl(struct ns_rd *r, struct ns_cmd *c, bool nilok)
{
	size_t n;
	int i;

	if (!ns_rd_array(r, &n) || n != 3)
		return rd_fail(r);
	for (i = 0; i < 3; i++) {
		if (nilok && ns_rd_nil(r))
			continue;
		if (!ns_rd_str(r, &c->acl[i], &c->acllen[i]))
			return false;
		c->acl_set[i] = true;
	}
	return true;
}

/*
 * Decodes [type, stamp, session, fields...] strictly: exact field counts,
 * exact types, nothing after the array.  Says nothing about meaning:
 * ns_apply checks names, ids and ranges.
 */
int
ns_cmd_decode(const uint8_t *p, size_t len, struct ns_cmd *c, char *msg, size_t msglen)
{
	struct ns_rd r = { p, len, false };
	const char *bytes = NULL;
	uint64_t type;
	size_t n;
	bool ok;

	memset(c, 0, sizeof *c);
	if (!ns_rd_array(&r, &n) || n < 3 || !ns_rd_uint(&r, &type) ||
	    !ns_rd_uint(&r, &c->stamp) || !ns_rd_uint(&r, &c->session)) {
		ns_msg_set(msg, msglen, "command is not [type, stamp, session, ...]", NULL, NULL);
		return CHUBBY_E_MALFORMED;
	}
	if (type == 0 || type >= sizeof cmd_nfields / sizeof cmd_nfields[0]) {
		ns_msg_u64(msg, msglen, "unknown command type ", type, "");
		return CHUBBY_E_BAD_OP;
	}
	c->type = (int)type;
	/* SET_CONTENTS may carry a fourth field, its flags (NS_SC_*);
	 * SESSION_START a second, proxy; OPEN a seventh, its client tag. */
	if (n != 3 + cmd_nfields[type] &&
	    !((type == NS_CMD_SET_CONTENTS || type == NS_CMD_SESSION_START ||
		  type == NS_CMD_OPEN) &&
		n == 3 + cmd_nfields[type] + 1)) {
		ns_msg_u64(msg, msglen, "wrong number of fields for command type ", type, "");
		return CHUBBY_E_MALFORMED;
	}
	switch (c->type) {
	case NS_CMD_SESSION_START:
		ok = ns_rd_str(&r, &c->str, &c->slen);
		/* Present means a proxy session: false would be a second
		 * spelling of the one-field command. */
		if (ok && n == 3 + cmd_nfields[type] + 1)
			ok = ns_rd_bool(&r, &c->proxy) && c->proxy;
		break;
	case NS_CMD_CLIENT_END:
		ok = ns_rd_uint(&r, &c->client) && ns_rd_bool(&r, &c->expired);
		break;
	case NS_CMD_CLAIM:
		ok = ns_rd_uint(&r, &c->client);
		break;
	case NS_CMD_SESSION_END:
		ok = ns_rd_uint(&r, &c->target) && ns_rd_uint(&r, &c->reason);
		break;
	case NS_CMD_OPEN:
		ok = ns_rd_str(&r, &c->str, &c->slen) && ns_rd_uint(&r, &c->flags);
		if (ok && !ns_rd_nil(&r)) {
			c->have_delay = true;
			ok = ns_rd_uint(&r, &c->lock_delay);
		}
		ok = ok && ns_rd_uint(&r, &c->event_mask);
		if (ok && !ns_rd_nil(&r)) {
			c->have_contents = true;
			ok = ns_rd_str(&r, &bytes, &c->clen);
			c->contents = (const uint8_t *)bytes;
		}
		if (ok && !ns_rd_nil(&r))
			ok = rd_acl(&r, c, true);
		if (ok && n == 3 + cmd_nfields[type] + 1)
			ok = ns_rd_uint(&r, &c->client) && c->client != 0;
		break;
	case NS_CMD_CLOSE:
	case NS_CMD_POISON:
	case NS_CMD_DELETE:
	case NS_CMD_RELEASE:
		ok = ns_rd_uint(&r, &c->handle);
		break;
	case NS_CMD_SET_CONTENTS:
		ok = ns_rd_uint(&r, &c->handle);
		c->have_contents = true;
		ok = ok && ns_rd_str(&r, &bytes, &c->clen);
		c->contents = (const uint8_t *)bytes;
		if (ok && !ns_rd_nil(&r)) {
			c->have_expected = true;
			ok = ns_rd_uint(&r, &c->expected);
		}
		/* Present means set: a zero would be a second spelling of the
		 * three-field command. */
		if (ok && n == 3 + cmd_nfields[type] + 1)
			ok = ns_rd_uint(&r, &c->sc_flags) && c->sc_flags != 0;
		break;
	case NS_CMD_SET_ACL:
		ok = ns_rd_uint(&r, &c->handle) && rd_acl(&r, c, true);
		break;
	case NS_CMD_ACQUIRE:
		ok = ns_rd_uint(&r, &c->handle) && ns_rd_uint(&r, &c->mode);
		break;
	case NS_CMD_SET_SEQUENCER:
		ok = ns_rd_uint(&r, &c->handle);
		if (ok && !ns_rd_nil(&r)) {
			c->have_seq = true;
			ok = ns_rd_array(&r, &n) && n == 4 &&
			    ns_rd_str(&r, &c->seqpath, &c->seqlen) &&
			    ns_rd_uint(&r, &c->seqmode) && ns_rd_uint(&r, &c->seqgen) &&
			    ns_rd_uint(&r, &c->seqinst);
		}
		break;
	case NS_CMD_INIT_ACLS:
		ok = rd_acl(&r, c, false);
		c->have_contents = true;
		ok = ok && ns_rd_str(&r, &bytes, &c->clen);
		c->contents = (const uint8_t *)bytes;
		break;
	case NS_CMD_LEASE_CAP:
		ok = ns_rd_uint(&r, &c->target);
		break;
	case NS_CMD_REQ:
		ok = ns_rd_uint(&r, &c->rid) && ns_rd_uint(&r, &c->rid_floor) &&
		    ns_rd_str(&r, &bytes, &c->ilen);
		c->inner = (const uint8_t *)bytes;
		break;
	case NS_CMD_MEM:
		ok = ns_rd_uint(&r, &c->handle) && ns_rd_str(&r, &c->str, &c->slen) &&
		    ns_rd_uint(&r, &c->instance) && ns_rd_uint(&r, &c->flags) &&
		    ns_rd_bool(&r, &c->poisoned);
		if (ok && !ns_rd_nil(&r)) {
			ok = ns_rd_str(&r, &bytes, &c->ilen);
			c->inner = (const uint8_t *)bytes;
		}
		break;
	default:
		ok = false;
		break;
	}
	if (!ok || r.bad) {
		ns_msg_u64(msg, msglen, "a field of command type ", type,
		    " is missing or has the wrong type");
		return CHUBBY_E_BAD_TYPE;
	}
	if (r.left != 0) {
		ns_msg_set(msg, msglen, "bytes after the command", NULL, NULL);
		return CHUBBY_E_MALFORMED;
	}
	return CHUBBY_OK;
}
