/* wire.c: encoding and checked decoding of the client protocol's envelopes. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "errbuf.h"
#include "wire.h"

#define WIRE_NO_FRAME SIZE_MAX

int
wire_check_version(uint32_t version)
{
	/* Exact range, no negotiation down: a client that speaks several
	 * versions retries with one inside the range the refusal names. */
	if (version < PROTO_VERSION_MIN || version > PROTO_VERSION)
		return CHUBBY_E_VERSION;
	return CHUBBY_OK;
}

/*
 * Walks one msgpack value at P without building it, checking that it is
 * well formed, ends within LEN (*USED: where), nests at most MAX_DEPTH
 * deep, and that no container claims more elements than there are bytes
 * left.  The last check matters: msgpack-c allocates a container's element
 * array from the announced count before reading any element, so six bytes
 * announcing 2^32 elements would otherwise ask for 64 GiB.
 */
int
wire_scan_value(const uint8_t *p, size_t len, unsigned max_depth, size_t *used, char *err,
    size_t errlen)
{
	uint64_t left[WIRE_SCAN_DEPTH_MAX + 1]; /* values still to read, per level */
	unsigned depth = 0;
	size_t off = 0;

	if (max_depth > WIRE_SCAN_DEPTH_MAX)
		max_depth = WIRE_SCAN_DEPTH_MAX;

	left[0] = 1;
	for (;;) {
		size_t at, hdr = 0, body = 0;
		uint64_t n = 0;
		unsigned per = 0; /* values per element: 1 for an array, 2 for a map */
		uint8_t b;

		while (left[depth] == 0) {
			if (depth == 0)
				goto done;
			depth--;
		}
		left[depth]--;
		if (off >= len)
			goto truncated;
		at = off;
		b = p[off++];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, false, true: the byte is the value. */
		} else if (b <= 0x8f) {
			n = b & 0x0f;
			per = 2;
		} else if (b <= 0x9f) {
			n = b & 0x0f;
			per = 1;
		} else if (b <= 0xbf) {
			n = b & 0x1f;
		} else {
			/* HDR: bytes of big-endian length; BODY: fixed bytes after. */
			switch (b) {
			case 0xc4: case 0xd9: hdr = 1; break;	/* bin8, str8 */
			case 0xc5: case 0xda: hdr = 2; break;	/* bin16, str16 */
			case 0xc6: case 0xdb: hdr = 4; break;	/* bin32, str32 */
			case 0xc7: hdr = 1; body = 1; break;	/* ext8: length, then type */
			case 0xc8: hdr = 2; body = 1; break;	/* ext16 */
			case 0xc9: hdr = 4; body = 1; break;	/* ext32 */
			case 0xca: body = 4; break;		/* float32 */
			case 0xcb: body = 8; break;		/* float64 */
			case 0xcc: case 0xd0: body = 1; break;	/* uint8, int8 */
			case 0xcd: case 0xd1: body = 2; break;	/* uint16, int16 */
			case 0xce: case 0xd2: body = 4; break;	/* uint32, int32 */
			case 0xcf: case 0xd3: body = 8; break;	/* uint64, int64 */
			case 0xd4: body = 2; break;		/* fixext1: type, then data */
			case 0xd5: body = 3; break;		/* fixext2 */
			case 0xd6: body = 5; break;		/* fixext4 */
			case 0xd7: body = 9; break;		/* fixext8 */
			case 0xd8: body = 17; break;		/* fixext16 */
			case 0xdc: hdr = 2; per = 1; break;	/* array16 */
			case 0xdd: hdr = 4; per = 1; break;	/* array32 */
			case 0xde: hdr = 2; per = 2; break;	/* map16 */
			case 0xdf: hdr = 4; per = 2; break;	/* map32 */
			default:
				/* 0xc1, the one byte msgpack never uses. */
				errbuf_set(err, errlen, "not msgpack: byte 0x%02x at offset %zu", b, at);
				return CHUBBY_E_MALFORMED;
			}
		}
		if (len - off < hdr)
			goto truncated;
		for (size_t i = 0; i < hdr; i++)
			n = n << 8 | p[off++];
		if (per == 0) {
			/* A scalar: N is a str, bin or ext payload length. */
			if (len - off < body || len - off - body < n)
				goto truncated;
			off += body + (size_t)n;
			continue;
		}
		if (depth == max_depth) {
			errbuf_set(err, errlen, "nesting deeper than %u levels at offset %zu",
			    max_depth, at);
			return CHUBBY_E_MALFORMED;
		}
		/* Every value takes at least a byte. */
		if (n * per > len - off) {
			errbuf_set(err, errlen,
			    "%s at offset %zu announces %" PRIu64 " elements but only %zu bytes follow",
			    per == 2 ? "map" : "array", at, n, len - off);
			return CHUBBY_E_MALFORMED;
		}
		left[++depth] = n * per;
	}
done:
	*used = off;
	return CHUBBY_OK;
truncated:
	errbuf_set(err, errlen, "not msgpack: the value ends early, at offset %zu of %zu", off, len);
	return CHUBBY_E_MALFORMED;
}

int
wire_scan(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	size_t used = 0;
	int rc = wire_scan_value(p, len, WIRE_MAX_DEPTH, &used, err, errlen);

	if (rc == CHUBBY_OK && used != len) {
		errbuf_set(err, errlen, "trailing bytes after the value (%zu)", len - used);
		return CHUBBY_E_MALFORMED;
	}
	return rc;
}

/* --- encoding */

static int
wire_buf_reserve(struct wire_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= n)
		return CHUBBY_OK;
	if (n > SIZE_MAX / 2 - b->len)
		return CHUBBY_E_NOMEM;
	cap = b->cap > 0 ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return CHUBBY_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return CHUBBY_OK;
}

/* The packer's output: appends to the open frame, refusing once an error
 * is kept so that a run of packs after a failure costs nothing. */
static int
wire_buf_write(void *data, const char *p, size_t n)
{
	struct wire_buf *b = data;
	size_t body;

	if (b->open == WIRE_NO_FRAME || b->error != CHUBBY_OK)
		return -1;
	/* Stop growing as soon as the body passes the limit rather than
	 * buffering a huge result only to drop it in wire_finish. */
	body = b->len - b->open - FRAME_HEADER_LEN;
	if (n > b->max_frame - body) {
		b->error = CHUBBY_E_FRAME_TOO_BIG;
		return -1;
	}
	if (wire_buf_reserve(b, n) != CHUBBY_OK) {
		b->error = CHUBBY_E_NOMEM;
		return -1;
	}
	/* msgpack-c writes an empty str or bin body as (NULL, 0), and
	 * memcpy(dst, NULL, 0) is undefined (C11 7.24.1p2). */
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
wire_buf_init(struct wire_buf *b, size_t max_frame)
{
	memset(b, 0, sizeof *b);
	if (max_frame == 0)
		max_frame = FRAME_MAX_DEFAULT;
	/* The header holds 32 bits. */
	b->max_frame = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
	b->open = WIRE_NO_FRAME;
	b->error = CHUBBY_OK;
	msgpack_packer_init(&b->pk, b, wire_buf_write);
}

void
wire_buf_reset(struct wire_buf *b)
{
	b->len = 0;
	b->open = WIRE_NO_FRAME;
	b->error = CHUBBY_OK;
}

void
wire_buf_free(struct wire_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->open = WIRE_NO_FRAME;
	b->error = CHUBBY_OK;
}

msgpack_packer *
wire_begin(struct wire_buf *b, unsigned kind, uint32_t nfields)
{
	/* Re-pointed on every frame, in case the struct was moved in between. */
	msgpack_packer_init(&b->pk, b, wire_buf_write);
	if (b->open != WIRE_NO_FRAME) {
		/* The previous frame was never finished.  Keep packing into it
		 * (the caller packs regardless) and let wire_finish drop both. */
		if (b->error == CHUBBY_OK)
			b->error = CHUBBY_E_INVALID;
		return &b->pk;
	}
	b->open = b->len;
	b->error = CHUBBY_OK;
	if (nfields == UINT32_MAX) {
		b->error = CHUBBY_E_INVALID;
		return &b->pk;
	}
	if (wire_buf_reserve(b, FRAME_HEADER_LEN) != CHUBBY_OK) {
		b->error = CHUBBY_E_NOMEM;
		return &b->pk;
	}
	/* A placeholder until wire_finish knows the length. */
	memset(b->data + b->len, 0, FRAME_HEADER_LEN);
	b->len += FRAME_HEADER_LEN;
	msgpack_pack_array(&b->pk, nfields + 1);
	msgpack_pack_unsigned_int(&b->pk, kind);
	return &b->pk;
}

msgpack_packer *
wire_begin_req(struct wire_buf *b, uint64_t id, uint32_t op)
{
	msgpack_packer *pk = wire_begin(b, PROTO_KIND_REQ, 3);

	msgpack_pack_uint64(pk, id);
	msgpack_pack_uint32(pk, op);
	return pk;
}

msgpack_packer *
wire_begin_res(struct wire_buf *b, uint64_t id, int status, const char *message)
{
	msgpack_packer *pk = wire_begin(b, PROTO_KIND_RES, 4);

	msgpack_pack_uint64(pk, id);
	msgpack_pack_int(pk, status);
	mp_pack_str(pk, message);
	return pk;
}

msgpack_packer *
wire_begin_event(struct wire_buf *b, uint32_t type)
{
	msgpack_packer *pk = wire_begin(b, PROTO_KIND_EVENT, 2);

	msgpack_pack_uint32(pk, type);
	return pk;
}

int
wire_pack_raw(msgpack_packer *pk, const void *bytes, size_t len)
{
	if (len == 0)
		return CHUBBY_OK;
	return pk->callback(pk->data, bytes, len) == 0 ? CHUBBY_OK : CHUBBY_E_NOMEM;
}

int
wire_finish(struct wire_buf *b)
{
	size_t blen;
	int rc;

	if (b->open == WIRE_NO_FRAME)
		return CHUBBY_E_INVALID;
	rc = b->error;
	if (rc == CHUBBY_OK) {
		blen = b->len - b->open - FRAME_HEADER_LEN;
		if (blen > b->max_frame)
			rc = CHUBBY_E_FRAME_TOO_BIG;
		/* Catches too few or too many values packed after begin, which
		 * the peer would otherwise see as a broken stream. */
		else if (wire_scan(b->data + b->open + FRAME_HEADER_LEN, blen, NULL, 0) !=
		    CHUBBY_OK)
			rc = CHUBBY_E_INVALID;
		else
			frame_header_put(b->data + b->open, (uint32_t)blen);
	}
	if (rc != CHUBBY_OK)
		b->len = b->open;
	b->open = WIRE_NO_FRAME;
	b->error = CHUBBY_OK;
	return rc;
}

int
wire_put_hello(struct wire_buf *b, uint32_t version, const char *name)
{
	msgpack_packer *pk;

	if (name == NULL)
		name = "";
	if (strlen(name) > WIRE_MAX_NAME)
		return CHUBBY_E_LIMIT;
	pk = wire_begin(b, PROTO_KIND_HELLO, 2);
	msgpack_pack_uint32(pk, version);
	mp_pack_str(pk, name);
	return wire_finish(b);
}

int
wire_put_welcome(struct wire_buf *b, uint32_t version, const char *cell, uint32_t replica_id,
    uint32_t max_frame)
{
	msgpack_packer *pk;

	if (cell == NULL)
		cell = "";
	if (strlen(cell) > WIRE_MAX_NAME)
		return CHUBBY_E_LIMIT;
	pk = wire_begin(b, PROTO_KIND_WELCOME, 4);
	msgpack_pack_uint32(pk, version);
	mp_pack_str(pk, cell);
	msgpack_pack_uint32(pk, replica_id);
	msgpack_pack_uint32(pk, max_frame);
	return wire_finish(b);
}

int
wire_put_error(struct wire_buf *b, uint64_t id, int status, const char *message)
{
	msgpack_pack_nil(wire_begin_res(b, id, status, message));
	return wire_finish(b);
}

int
wire_put_version_error(struct wire_buf *b, uint32_t version)
{
	msgpack_packer *pk;
	char msg[128];

	snprintf(msg, sizeof msg,
	    "protocol version %" PRIu32 " not supported: this server speaks %d to %d", version,
	    PROTO_VERSION_MIN, PROTO_VERSION);
	pk = wire_begin_res(b, 0, CHUBBY_E_VERSION, msg);
	msgpack_pack_map(pk, 2);
	mp_pack_kv_uint(pk, "min", PROTO_VERSION_MIN);
	mp_pack_kv_uint(pk, "max", PROTO_VERSION);
	return wire_finish(b);
}

/* --- decoding */

/* The shape of each envelope, for checking and for messages. */
struct wire_shape {
	unsigned kind;
	const char *name;
	uint32_t nfields; /* with the kind */
	const char *fields[5];
};

static const struct wire_shape wire_shapes[] = {
    {PROTO_KIND_HELLO, "HELLO", 3, {"kind", "version", "name"}},
    {PROTO_KIND_WELCOME, "WELCOME", 5, {"kind", "version", "cell", "replica_id", "max_frame"}},
    {PROTO_KIND_REQ, "REQ", 4, {"kind", "id", "op", "args"}},
    {PROTO_KIND_RES, "RES", 5, {"kind", "id", "status", "message", "result"}},
    {PROTO_KIND_EVENT, "EVENT", 3, {"kind", "type", "body"}},
};

struct wire_ctx {
	const struct wire_shape *shape;
	const msgpack_object *f;
	char *err;
	size_t errlen;
};

static int
wire_bad_type(const struct wire_ctx *c, uint32_t i, const char *expected)
{
	errbuf_set(c->err, c->errlen, "%s: field %" PRIu32 " (%s) is %s, expected %s",
	    c->shape->name, i, c->shape->fields[i], mp_type_desc(&c->f[i]), expected);
	return CHUBBY_E_BAD_TYPE;
}

static int
wire_uint(const struct wire_ctx *c, uint32_t i, uint64_t min, uint64_t max, uint64_t *out)
{
	const msgpack_object *o = &c->f[i];

	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return wire_bad_type(c, i, "unsigned integer");
	if (o->via.u64 < min || o->via.u64 > max) {
		errbuf_set(c->err, c->errlen,
		    "%s: field %" PRIu32 " (%s) is %" PRIu64 ", out of range %" PRIu64 "..%" PRIu64,
		    c->shape->name, i, c->shape->fields[i], o->via.u64, min, max);
		return CHUBBY_E_MALFORMED;
	}
	*out = o->via.u64;
	return CHUBBY_OK;
}

static int
wire_u32(const struct wire_ctx *c, uint32_t i, uint32_t *out)
{
	uint64_t v;
	int rc;

	if ((rc = wire_uint(c, i, 0, UINT32_MAX, &v)) == CHUBBY_OK)
		*out = (uint32_t)v;
	return rc;
}

/* A string, or nil (ptr NULL) if NIL_OK; at most MAX bytes. */
static int
wire_str(const struct wire_ctx *c, uint32_t i, int nil_ok, size_t max, struct mp_str *out)
{
	const msgpack_object *o = &c->f[i];

	if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
		out->ptr = NULL;
		out->len = 0;
		return CHUBBY_OK;
	}
	if (o->type != MSGPACK_OBJECT_STR)
		return wire_bad_type(c, i, nil_ok ? "string or nil" : "string");
	if (o->via.str.size > max) {
		errbuf_set(c->err, c->errlen, "%s: field %" PRIu32 " (%s) is %" PRIu32
		    " bytes, over the limit of %zu", c->shape->name, i, c->shape->fields[i],
		    o->via.str.size, max);
		return CHUBBY_E_MALFORMED;
	}
	/* msgpack-c may give an empty string a NULL pointer; NULL means nil. */
	out->ptr = o->via.str.ptr != NULL ? o->via.str.ptr : "";
	out->len = o->via.str.size;
	return CHUBBY_OK;
}

/* A status: any integer that fits in an int32 (unknown codes included,
 * for newer servers; chubby_strerror copes). */
static int
wire_status(const struct wire_ctx *c, uint32_t i, int *out)
{
	const msgpack_object *o = &c->f[i];

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX)
		*out = (int)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN)
		*out = (int)o->via.i64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		errbuf_set(c->err, c->errlen, "%s: field %" PRIu32 " (%s) is out of the 32-bit range",
		    c->shape->name, i, c->shape->fields[i]);
		return CHUBBY_E_MALFORMED;
	} else
		return wire_bad_type(c, i, "integer");
	return CHUBBY_OK;
}

static const msgpack_object *
wire_any(const struct wire_ctx *c, uint32_t i)
{
	return c->f[i].type == MSGPACK_OBJECT_NIL ? NULL : &c->f[i];
}

/* A REQ's args: nil, or a map of at most WIRE_MAX_ARGS distinct string
 * keys, so that handlers reading it with mp_get_* see one meaning per key
 * (a duplicate could otherwise be read one way by a check and another way
 * by the code it guards). */
static int
wire_args(const struct wire_ctx *c, uint32_t i, const msgpack_object **out)
{
	const msgpack_object *o = &c->f[i];
	const msgpack_object_kv *kv;
	uint32_t n;

	if (o->type == MSGPACK_OBJECT_NIL) {
		*out = NULL;
		return CHUBBY_OK;
	}
	if (o->type != MSGPACK_OBJECT_MAP)
		return wire_bad_type(c, i, "map or nil");
	kv = o->via.map.ptr;
	n = o->via.map.size;
	if (n > WIRE_MAX_ARGS) {
		errbuf_set(c->err, c->errlen, "REQ: args has %" PRIu32 " keys, over the limit of %d",
		    n, WIRE_MAX_ARGS);
		return CHUBBY_E_MALFORMED;
	}
	for (uint32_t k = 0; k < n; k++) {
		const msgpack_object *key = &kv[k].key;

		if (key->type != MSGPACK_OBJECT_STR) {
			errbuf_set(c->err, c->errlen, "REQ: args key %" PRIu32 " is %s, expected string",
			    k, mp_type_desc(key));
			return CHUBBY_E_BAD_TYPE;
		}
		for (uint32_t j = 0; j < k; j++) {
			const msgpack_object *prev = &kv[j].key;

			if (prev->via.str.size == key->via.str.size &&
			    (key->via.str.size == 0 ||
				memcmp(prev->via.str.ptr, key->via.str.ptr, key->via.str.size) == 0)) {
				errbuf_set(c->err, c->errlen, "REQ: args key \"%.*s\" appears twice",
				    (int)(key->via.str.size > 64 ? 64 : key->via.str.size),
				    key->via.str.ptr);
				return CHUBBY_E_MALFORMED;
			}
		}
	}
	*out = o;
	return CHUBBY_OK;
}

static int
wire_envelope(struct wire_msg *m, const msgpack_object *root, char *err, size_t errlen)
{
	struct wire_ctx c = {NULL, NULL, err, errlen};
	const struct wire_shape *shape = NULL;
	const msgpack_object *f;
	uint64_t v, kind;
	int rc;

	if (root->type != MSGPACK_OBJECT_ARRAY) {
		errbuf_set(err, errlen, "envelope is %s, expected array", mp_type_desc(root));
		return CHUBBY_E_MALFORMED;
	}
	if (root->via.array.size == 0) {
		errbuf_set(err, errlen, "envelope is an empty array");
		return CHUBBY_E_MALFORMED;
	}
	f = root->via.array.ptr;
	if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		errbuf_set(err, errlen, "envelope: field 0 (kind) is %s, expected unsigned integer",
		    mp_type_desc(&f[0]));
		return CHUBBY_E_BAD_TYPE;
	}
	kind = f[0].via.u64;
	for (size_t i = 0; i < sizeof wire_shapes / sizeof wire_shapes[0]; i++)
		if (wire_shapes[i].kind == kind)
			shape = &wire_shapes[i];
	if (shape == NULL) {
		errbuf_set(err, errlen, "envelope: unknown kind %" PRIu64 "%s", kind,
		    kind >= PROTO_KIND_PEER_FIRST && kind <= PROTO_KIND_PEER_LAST ?
			" (a replica message)" : "");
		return CHUBBY_E_MALFORMED;
	}
	/* Exactly the fields of this version: a change of shape is a change
	 * of PROTO_VERSION, not something to guess at. */
	if (root->via.array.size != shape->nfields) {
		errbuf_set(err, errlen, "%s: %" PRIu32 " elements, expected %" PRIu32, shape->name,
		    root->via.array.size, shape->nfields);
		return CHUBBY_E_MALFORMED;
	}
	c.shape = shape;
	c.f = f;
	m->kind = shape->kind;
	m->fields = f;
	m->nfields = root->via.array.size;

	switch (shape->kind) {
	case PROTO_KIND_HELLO:
		if ((rc = wire_u32(&c, 1, &m->hello.version)) != CHUBBY_OK ||
		    (rc = wire_str(&c, 2, 0, WIRE_MAX_NAME, &m->hello.name)) != CHUBBY_OK)
			return rc;
		break;
	case PROTO_KIND_WELCOME:
		if ((rc = wire_u32(&c, 1, &m->welcome.version)) != CHUBBY_OK ||
		    (rc = wire_str(&c, 2, 0, WIRE_MAX_NAME, &m->welcome.cell)) != CHUBBY_OK ||
		    (rc = wire_u32(&c, 3, &m->welcome.replica_id)) != CHUBBY_OK ||
		    (rc = wire_uint(&c, 4, FRAME_MAX_MIN, UINT32_MAX, &v)) != CHUBBY_OK)
			return rc;
		m->welcome.max_frame = (uint32_t)v;
		break;
	case PROTO_KIND_REQ:
		/* Id 0 is where connection-level errors are answered, so a
		 * request using it could not be told apart from one. */
		if ((rc = wire_uint(&c, 1, 1, UINT64_MAX, &m->req.id)) != CHUBBY_OK ||
		    (rc = wire_u32(&c, 2, &m->req.op)) != CHUBBY_OK ||
		    (rc = wire_args(&c, 3, &m->req.args)) != CHUBBY_OK)
			return rc;
		break;
	case PROTO_KIND_RES:
		if ((rc = wire_uint(&c, 1, 0, UINT64_MAX, &m->res.id)) != CHUBBY_OK)
			return rc;
		if ((rc = wire_status(&c, 2, &m->res.status)) != CHUBBY_OK)
			return rc;
		if ((rc = wire_str(&c, 3, 1, SIZE_MAX, &m->res.message)) != CHUBBY_OK)
			return rc;
		m->res.result = wire_any(&c, 4);
		break;
	case PROTO_KIND_EVENT:
		if ((rc = wire_u32(&c, 1, &m->event.type)) != CHUBBY_OK)
			return rc;
		m->event.body = wire_any(&c, 2);
		break;
	}
	return CHUBBY_OK;
}

int
wire_decode(const uint8_t *body, size_t len, struct wire_msg *out, char *err, size_t errlen)
{
	msgpack_unpack_return ur;
	msgpack_object root;
	size_t off = 0;
	char *copy;
	int rc;

	memset(out, 0, sizeof *out);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len == 0) {
		errbuf_set(err, errlen, "empty body");
		return CHUBBY_E_MALFORMED;
	}
	/* Checked before msgpack-c sees a byte: see wire_scan. */
	if ((rc = wire_scan(body, len, err, errlen)) != CHUBBY_OK)
		return rc;

	/* The message keeps its own copy so that strings stay valid after
	 * the transport reuses its input buffer. */
	if ((out->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) == NULL)
		goto nomem;
	if ((copy = msgpack_zone_malloc_no_align(out->zone, len)) == NULL)
		goto nomem;
	memcpy(copy, body, len);
	ur = msgpack_unpack(copy, len, &off, out->zone, &root);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
		goto nomem;
	if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
		/* wire_scan accepted it, so this is a disagreement between the
		 * two parsers: refuse rather than guess. */
		errbuf_set(err, errlen, "msgpack-c refused the body (%d)", (int)ur);
		rc = CHUBBY_E_MALFORMED;
		goto fail;
	}
	if ((rc = wire_envelope(out, &root, err, errlen)) != CHUBBY_OK)
		goto fail;
	return CHUBBY_OK;

nomem:
	errbuf_set(err, errlen, "out of memory decoding a %zu-byte body", len);
	rc = CHUBBY_E_NOMEM;
fail:
	wire_msg_free(out);
	return rc;
}

void
wire_msg_free(struct wire_msg *msg)
{
	if (msg->zone != NULL)
		msgpack_zone_free(msg->zone);
	memset(msg, 0, sizeof *msg);
}
