/* test_wire.c: envelopes round-trip, garbage is refused, mp getters and the protocol tables. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "mp.h"
#include "protocol.h"
#include "wire.h"

/* --- helpers */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64: enough to scatter bytes, and replays from the seed. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int
suite_init(void)
{
	rng_state = harness_seed() | 1;
	return 0;
}

/* Takes the frame at *OFF out of B and decodes it; asserts the framing. */
static int
take_frame(const struct wire_buf *b, size_t *off, struct wire_msg *m, char *err, size_t errlen)
{
	size_t blen = 0;
	int rc;

	rc = frame_header_parse(b->data + *off, b->len - *off, FRAME_MAX_DEFAULT, &blen);
	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	CU_ASSERT_FATAL(b->len - *off - FRAME_HEADER_LEN >= blen);
	rc = wire_decode(b->data + *off + FRAME_HEADER_LEN, blen, m, err, errlen);
	*off += FRAME_HEADER_LEN + blen;
	return rc;
}

/* The single frame in B, decoded. */
static int
only_frame(const struct wire_buf *b, struct wire_msg *m)
{
	char err[256] = "";
	size_t off = 0;
	int rc = take_frame(b, &off, m, err, sizeof err);

	CU_ASSERT_EQUAL(off, b->len);
	if (rc != CHUBBY_OK)
		fprintf(stderr, "decode: %s\n", err);
	return rc;
}

static bool
str_is(struct mp_str s, const char *want)
{
	return s.ptr != NULL && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* "93 01 a1 61" -> bytes; returns the length. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex != '\0') {
		unsigned v = 0;

		if (isspace((unsigned char)*hex)) {
			hex++;
			continue;
		}
		CU_ASSERT_FATAL(n < cap && sscanf(hex, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* A msgpack body built with the library's own packer. */
struct body {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static msgpack_packer *
body_init(struct body *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
	return &b->pk;
}

static int
body_decode(struct body *b, struct wire_msg *m, char *err, size_t errlen)
{
	return wire_decode((const uint8_t *)b->sb.data, b->sb.size, m, err, errlen);
}

/* An error from the decoder is one of its documented codes, with a message. */
static void
check_refusal(int rc, const char *err)
{
	CU_ASSERT(rc == CHUBBY_E_MALFORMED || rc == CHUBBY_E_BAD_TYPE);
	CU_ASSERT(err[0] != '\0');
}

/* --- round trips */

static void
test_hello(void)
{
	struct wire_buf b;
	struct wire_msg m;
	uint8_t want[16];
	size_t wlen;

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL(wire_put_hello(&b, PROTO_VERSION, "ab"), CHUBBY_OK);
	/* Pinned bytes: the encoding is the protocol. */
	wlen = unhex("00 00 00 06  93 01 01 a2 61 62", want, sizeof want);
	CU_ASSERT_EQUAL(b.len, wlen);
	CU_ASSERT_EQUAL(memcmp(b.data, want, wlen), 0);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.kind, PROTO_KIND_HELLO);
	CU_ASSERT_EQUAL(m.hello.version, PROTO_VERSION);
	CU_ASSERT(str_is(m.hello.name, "ab"));
	CU_ASSERT_EQUAL(m.nfields, 3);
	wire_msg_free(&m);
	wire_msg_free(&m); /* harmless twice */
	wire_buf_free(&b);
}

static void
test_welcome(void)
{
	struct wire_buf b;
	struct wire_msg m;

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL(wire_put_welcome(&b, 1, "local", 3, FRAME_MAX_DEFAULT), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.kind, PROTO_KIND_WELCOME);
	CU_ASSERT_EQUAL(m.welcome.version, 1);
	CU_ASSERT(str_is(m.welcome.cell, "local"));
	CU_ASSERT_EQUAL(m.welcome.replica_id, 3);
	CU_ASSERT_EQUAL(m.welcome.max_frame, FRAME_MAX_DEFAULT);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

static void
test_req(void)
{
	struct wire_buf b;
	struct wire_msg m;
	msgpack_packer *pk;
	struct mp_str path = {NULL, 0};
	uint64_t mode = 0;
	char err[128];

	wire_buf_init(&b, 0);
	pk = wire_begin_req(&b, 42, PROTO_OP_OPEN);
	msgpack_pack_map(pk, 2);
	mp_pack_kv_str(pk, "path", "/ls/local/a");
	mp_pack_kv_uint(pk, "mode", 2);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.kind, PROTO_KIND_REQ);
	CU_ASSERT_EQUAL(m.req.id, 42);
	CU_ASSERT_EQUAL(m.req.op, PROTO_OP_OPEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m.req.args);
	CU_ASSERT_EQUAL(mp_get_str(m.req.args, "path", MP_REQUIRED, &path, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT(str_is(path, "/ls/local/a"));
	CU_ASSERT_EQUAL(mp_get_uint(m.req.args, "mode", MP_REQUIRED, &mode, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mode, 2);
	wire_msg_free(&m);

	/* Nil args, the largest id, an op not in the table (dispatch's call). */
	wire_buf_reset(&b);
	msgpack_pack_nil(wire_begin_req(&b, UINT64_MAX, 9999));
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.req.id, UINT64_MAX);
	CU_ASSERT_EQUAL(m.req.op, 9999);
	CU_ASSERT_PTR_NULL(m.req.args);
	/* Getters treat nil args as an empty map. */
	CU_ASSERT_EQUAL(mp_get_str(m.req.args, "path", MP_REQUIRED, &path, err, sizeof err),
	    CHUBBY_E_MISSING);
	wire_msg_free(&m);

	/* Empty args map. */
	wire_buf_reset(&b);
	msgpack_pack_map(wire_begin_req(&b, 1, PROTO_OP_KEEPALIVE), 0);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_PTR_NOT_NULL(m.req.args);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

static void
test_res(void)
{
	struct wire_buf b;
	struct wire_msg m;
	msgpack_packer *pk;
	uint64_t gen = 0;
	uint64_t v = 0;

	wire_buf_init(&b, 0);
	pk = wire_begin_res(&b, 7, CHUBBY_OK, NULL);
	msgpack_pack_map(pk, 1);
	mp_pack_kv_uint(pk, "generation", 12);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_put_error(&b, 8, CHUBBY_E_NOT_FOUND, "no such node: /ls/local/x"),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_put_error(&b, 9, -5, ""), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_put_error(&b, 0, INT32_MIN, "x"), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_put_error(&b, 0, INT32_MAX, "x"), CHUBBY_OK);

	{
		size_t off = 0;
		char err[128];

		CU_ASSERT_EQUAL_FATAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.kind, PROTO_KIND_RES);
		CU_ASSERT_EQUAL(m.res.id, 7);
		CU_ASSERT_EQUAL(m.res.status, CHUBBY_OK);
		CU_ASSERT_PTR_NULL(m.res.message.ptr);
		CU_ASSERT_EQUAL(mp_get_uint(m.res.result, "generation", 1, &gen, NULL, 0), 0);
		CU_ASSERT_EQUAL(gen, 12);
		wire_msg_free(&m);

		CU_ASSERT_EQUAL_FATAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.res.id, 8);
		CU_ASSERT_EQUAL(m.res.status, CHUBBY_E_NOT_FOUND);
		CU_ASSERT(str_is(m.res.message, "no such node: /ls/local/x"));
		CU_ASSERT_PTR_NULL(m.res.result);
		wire_msg_free(&m);

		CU_ASSERT_EQUAL_FATAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.res.status, -5);
		/* An empty message is not nil. */
		CU_ASSERT_PTR_NOT_NULL(m.res.message.ptr);
		CU_ASSERT_EQUAL(m.res.message.len, 0);
		wire_msg_free(&m);

		CU_ASSERT_EQUAL_FATAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.res.id, 0);
		CU_ASSERT_EQUAL(m.res.status, INT32_MIN);
		wire_msg_free(&m);
		CU_ASSERT_EQUAL_FATAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.res.status, INT32_MAX);
		wire_msg_free(&m);
		CU_ASSERT_EQUAL(off, b.len);
	}

	wire_buf_reset(&b);
	CU_ASSERT_EQUAL(wire_put_version_error(&b, 7), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.res.id, 0);
	CU_ASSERT_EQUAL(m.res.status, CHUBBY_E_VERSION);
	CU_ASSERT_PTR_NOT_NULL(m.res.message.ptr);
	CU_ASSERT_EQUAL(mp_get_uint(m.res.result, "min", 1, &v, NULL, 0), CHUBBY_OK);
	CU_ASSERT_EQUAL(v, PROTO_VERSION_MIN);
	CU_ASSERT_EQUAL(mp_get_uint(m.res.result, "max", 1, &v, NULL, 0), CHUBBY_OK);
	CU_ASSERT_EQUAL(v, PROTO_VERSION);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

static void
test_event(void)
{
	struct wire_buf b;
	struct wire_msg m;
	msgpack_packer *pk;
	struct mp_str s = {NULL, 0};

	wire_buf_init(&b, 0);
	pk = wire_begin_event(&b, PROTO_EV_CHILD_ADDED);
	msgpack_pack_map(pk, 1);
	mp_pack_kv_str(pk, "name", "b");
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.kind, PROTO_KIND_EVENT);
	CU_ASSERT_EQUAL(m.event.type, PROTO_EV_CHILD_ADDED);
	CU_ASSERT_EQUAL(mp_get_str(m.event.body, "name", 1, &s, NULL, 0), CHUBBY_OK);
	CU_ASSERT(str_is(s, "b"));
	wire_msg_free(&m);

	wire_buf_reset(&b);
	msgpack_pack_nil(wire_begin_event(&b, PROTO_EV_MASTER_FAILOVER));
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(m.event.type, PROTO_EV_MASTER_FAILOVER);
	CU_ASSERT_PTR_NULL(m.event.body);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* Frames queue up in one buffer; the message outlives the input bytes. */
static void
test_stream_and_ownership(void)
{
	struct wire_buf b;
	struct wire_msg m[3];
	size_t off = 0;
	char err[128];
	uint8_t *copy;

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL(wire_put_hello(&b, 1, "client-1"), CHUBBY_OK);
	msgpack_pack_nil(wire_begin_req(&b, 1, PROTO_OP_SESSION_START));
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	msgpack_pack_nil(wire_begin_req(&b, 2, PROTO_OP_KEEPALIVE));
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);

	copy = malloc(b.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, b.data, b.len);
	for (int i = 0; i < 3; i++) {
		size_t blen = 0;

		CU_ASSERT_EQUAL_FATAL(frame_header_parse(copy + off, b.len - off, FRAME_MAX_DEFAULT,
					  &blen),
		    CHUBBY_OK);
		CU_ASSERT_EQUAL_FATAL(
		    wire_decode(copy + off + FRAME_HEADER_LEN, blen, &m[i], err, sizeof err),
		    CHUBBY_OK);
		off += FRAME_HEADER_LEN + blen;
	}
	CU_ASSERT_EQUAL(off, b.len);
	/* The transport drains its buffer: decoded messages keep their own copy. */
	memset(copy, 0xee, b.len);
	free(copy);
	CU_ASSERT(str_is(m[0].hello.name, "client-1"));
	CU_ASSERT_EQUAL(m[1].req.op, PROTO_OP_SESSION_START);
	CU_ASSERT_EQUAL(m[2].req.id, 2);
	for (int i = 0; i < 3; i++)
		wire_msg_free(&m[i]);
	wire_buf_free(&b);
}

static void
test_pack_raw(void)
{
	struct wire_buf b;
	struct wire_msg m;
	uint8_t args[32];
	size_t n = unhex("81 a4 70 61 74 68 a3 2f 6c 73", args, sizeof args); /* {"path":"/ls"} */
	struct mp_str s = {NULL, 0};

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL(wire_pack_raw(wire_begin_req(&b, 5, PROTO_OP_GET_STAT), args, n),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(only_frame(&b, &m), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_get_str(m.req.args, "path", 1, &s, NULL, 0), CHUBBY_OK);
	CU_ASSERT(str_is(s, "/ls"));
	wire_msg_free(&m);

	/* Raw bytes that are not one whole value are caught by finish. */
	wire_buf_reset(&b);
	wire_pack_raw(wire_begin_req(&b, 5, PROTO_OP_GET_STAT), args, n - 1);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, 0);
	wire_buf_free(&b);
}

/* --- encoder misuse: every mistake is reported and leaves only whole frames */

static void
test_encoder_misuse(void)
{
	struct wire_buf b;
	msgpack_packer *pk;
	size_t good;

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID); /* nothing open */
	CU_ASSERT_EQUAL(wire_put_hello(&b, 1, "x"), CHUBBY_OK);
	good = b.len;

	/* No value packed after begin. */
	wire_begin_req(&b, 1, PROTO_OP_OPEN);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, good);

	/* Two values. */
	pk = wire_begin_event(&b, 1);
	msgpack_pack_nil(pk);
	msgpack_pack_nil(pk);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, good);

	/* A map missing its last value. */
	pk = wire_begin_req(&b, 1, PROTO_OP_OPEN);
	msgpack_pack_map(pk, 2);
	mp_pack_kv_uint(pk, "a", 1);
	mp_pack_str(pk, "b");
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, good);

	/* Begin twice: both frames are dropped. */
	msgpack_pack_nil(wire_begin_req(&b, 1, PROTO_OP_OPEN));
	msgpack_pack_nil(wire_begin_req(&b, 2, PROTO_OP_OPEN));
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, good);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);

	/* Packing after finish goes nowhere. */
	pk = wire_begin_event(&b, 1);
	msgpack_pack_nil(pk);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	good = b.len;
	CU_ASSERT_NOT_EQUAL(msgpack_pack_nil(pk), 0);
	CU_ASSERT_EQUAL(b.len, good);

	/* Too deep for the peer to accept. */
	pk = wire_begin_event(&b, 1);
	for (int i = 0; i < WIRE_MAX_DEPTH; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(b.len, good);

	/* Names over the limit. */
	{
		char name[WIRE_MAX_NAME + 2];

		memset(name, 'n', sizeof name - 1);
		name[sizeof name - 1] = '\0';
		CU_ASSERT_EQUAL(wire_put_hello(&b, 1, name), CHUBBY_E_LIMIT);
		CU_ASSERT_EQUAL(wire_put_welcome(&b, 1, name, 0, FRAME_MAX_DEFAULT), CHUBBY_E_LIMIT);
		name[WIRE_MAX_NAME] = '\0';
		CU_ASSERT_EQUAL(wire_put_hello(&b, 1, name), CHUBBY_OK);
	}
	wire_buf_free(&b);
}

static void
test_encoder_limit(void)
{
	struct wire_buf b;
	msgpack_packer *pk;
	char *big;
	size_t good;

	wire_buf_init(&b, FRAME_MAX_MIN);
	CU_ASSERT_EQUAL(b.max_frame, FRAME_MAX_MIN);
	CU_ASSERT_EQUAL(wire_put_hello(&b, 1, "x"), CHUBBY_OK);
	good = b.len;
	big = calloc(1, 2 * FRAME_MAX_MIN + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'z', 2 * FRAME_MAX_MIN);

	pk = wire_begin_res(&b, 1, 0, NULL);
	CU_ASSERT_NOT_EQUAL(mp_pack_str(pk, big), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_E_FRAME_TOO_BIG);
	CU_ASSERT_EQUAL(b.len, good);
	/* The buffer never grew much past the limit. */
	CU_ASSERT(b.cap <= 4 * FRAME_MAX_MIN);

	/* Exactly at the limit is fine. */
	{
		struct wire_msg m;
		size_t off = good;
		char err[128];
		/* [4, 1, 0, nil, str32] : 1 + 1 + 1 + 1 + 1 + (1 + 2) header of str16 */
		size_t overhead = 5 + 3;

		pk = wire_begin_res(&b, 1, 0, NULL);
		mp_pack_strn(pk, big, FRAME_MAX_MIN - overhead);
		CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
		CU_ASSERT_EQUAL(b.len, good + FRAME_HEADER_LEN + FRAME_MAX_MIN);
		CU_ASSERT_EQUAL(take_frame(&b, &off, &m, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_EQUAL(m.res.result->via.str.size, FRAME_MAX_MIN - overhead);
		wire_msg_free(&m);
	}
	free(big);
	wire_buf_free(&b);
}

static void
test_version(void)
{
	CU_ASSERT_EQUAL(wire_check_version(PROTO_VERSION), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_check_version(PROTO_VERSION_MIN), CHUBBY_OK);
	CU_ASSERT_EQUAL(wire_check_version(0), CHUBBY_E_VERSION);
	CU_ASSERT_EQUAL(wire_check_version(PROTO_VERSION + 1), CHUBBY_E_VERSION);
	CU_ASSERT_EQUAL(wire_check_version(UINT32_MAX), CHUBBY_E_VERSION);
}

/* --- garbage */

struct bad_case {
	const char *hex;
	int rc;
	const char *msg; /* expected within the error message */
};

static const struct bad_case bad_cases[] = {
    {"c1", CHUBBY_E_MALFORMED, "not msgpack: byte 0xc1 at offset 0"},
    {"93 05 01 c1", CHUBBY_E_MALFORMED, "byte 0xc1 at offset 3"},
    {"01", CHUBBY_E_MALFORMED, "envelope is an unsigned integer, expected array"},
    {"80", CHUBBY_E_MALFORMED, "envelope is a map, expected array"},
    {"c0", CHUBBY_E_MALFORMED, "envelope is nil, expected array"},
    {"a3 52 45 51", CHUBBY_E_MALFORMED, "envelope is a string, expected array"},
    {"90", CHUBBY_E_MALFORMED, "envelope is an empty array"},
    {"91 a1 78", CHUBBY_E_BAD_TYPE, "field 0 (kind) is a string, expected unsigned integer"},
    {"91 ff", CHUBBY_E_BAD_TYPE, "field 0 (kind) is a negative integer"},
    {"91 00", CHUBBY_E_MALFORMED, "unknown kind 0"},
    {"93 09 01 c0", CHUBBY_E_MALFORMED, "unknown kind 9"},
    {"93 10 01 c0", CHUBBY_E_MALFORMED, "unknown kind 16 (a replica message)"},
    {"91 cf ff ff ff ff ff ff ff ff", CHUBBY_E_MALFORMED, "unknown kind 18446744073709551615"},
    /* HELLO */
    {"92 01 01", CHUBBY_E_MALFORMED, "HELLO: 2 elements, expected 3"},
    {"94 01 01 a1 61 c0", CHUBBY_E_MALFORMED, "HELLO: 4 elements, expected 3"},
    {"93 01 a1 31 a1 61", CHUBBY_E_BAD_TYPE,
	"HELLO: field 1 (version) is a string, expected unsigned integer"},
    {"93 01 01 01", CHUBBY_E_BAD_TYPE,
	"HELLO: field 2 (name) is an unsigned integer, expected string"},
    {"93 01 01 c0", CHUBBY_E_BAD_TYPE, "HELLO: field 2 (name) is nil, expected string"},
    {"93 01 01 c4 01 61", CHUBBY_E_BAD_TYPE, "field 2 (name) is a binary, expected string"},
    {"93 01 cf 00 00 00 01 00 00 00 00 a1 61", CHUBBY_E_MALFORMED,
	"HELLO: field 1 (version) is 4294967296, out of range 0..4294967295"},
    {"93 01 cb 3f f0 00 00 00 00 00 00 a1 61", CHUBBY_E_BAD_TYPE,
	"field 1 (version) is a float"},
    /* WELCOME */
    {"95 02 01 a1 63 00 cd 04 00", CHUBBY_E_MALFORMED,
	"WELCOME: field 4 (max_frame) is 1024, out of range 4096..4294967295"},
    {"95 02 01 a1 63 a1 30 cd 10 00", CHUBBY_E_BAD_TYPE,
	"WELCOME: field 3 (replica_id) is a string"},
    {"95 02 01 c2 00 cd 10 00", CHUBBY_E_BAD_TYPE, "WELCOME: field 2 (cell) is a boolean"},
    {"94 02 01 a1 63 00", CHUBBY_E_MALFORMED, "WELCOME: 4 elements, expected 5"},
    /* REQ */
    {"94 03 01 a1 78 c0", CHUBBY_E_BAD_TYPE,
	"REQ: field 2 (op) is a string, expected unsigned integer"},
    {"94 03 00 10 c0", CHUBBY_E_MALFORMED, "REQ: field 1 (id) is 0, out of range 1.."},
    {"94 03 ff 10 c0", CHUBBY_E_BAD_TYPE, "REQ: field 1 (id) is a negative integer"},
    {"94 03 01 cf 00 00 00 01 00 00 00 00 c0", CHUBBY_E_MALFORMED,
	"REQ: field 2 (op) is 4294967296, out of range"},
    {"94 03 01 10 90", CHUBBY_E_BAD_TYPE, "REQ: field 3 (args) is an array, expected map or nil"},
    {"94 03 01 10 01", CHUBBY_E_BAD_TYPE, "field 3 (args) is an unsigned integer"},
    {"94 03 01 10 81 01 02", CHUBBY_E_BAD_TYPE,
	"REQ: args key 0 is an unsigned integer, expected string"},
    {"94 03 01 10 82 a1 61 01 c4 01 61 02", CHUBBY_E_BAD_TYPE, "args key 1 is a binary"},
    {"94 03 01 10 82 a1 61 01 a1 61 02", CHUBBY_E_MALFORMED, "REQ: args key \"a\" appears twice"},
    {"94 03 01 10 82 a0 01 a0 02", CHUBBY_E_MALFORMED, "REQ: args key \"\" appears twice"},
    {"93 03 01 10", CHUBBY_E_MALFORMED, "REQ: 3 elements, expected 4"},
    {"95 03 01 10 c0 c0", CHUBBY_E_MALFORMED, "REQ: 5 elements, expected 4"},
    /* RES */
    {"95 04 01 a1 78 c0 c0", CHUBBY_E_BAD_TYPE,
	"RES: field 2 (status) is a string, expected integer"},
    {"95 04 01 ce 80 00 00 00 c0 c0", CHUBBY_E_MALFORMED,
	"RES: field 2 (status) is out of the 32-bit range"},
    {"95 04 01 d3 ff ff ff ff 7f ff ff ff c0 c0", CHUBBY_E_MALFORMED, "out of the 32-bit range"},
    {"95 04 01 00 01 c0", CHUBBY_E_BAD_TYPE,
	"RES: field 3 (message) is an unsigned integer, expected string or nil"},
    {"95 04 ff 00 c0 c0", CHUBBY_E_BAD_TYPE, "RES: field 1 (id) is a negative integer"},
    {"94 04 01 00 c0", CHUBBY_E_MALFORMED, "RES: 4 elements, expected 5"},
    /* EVENT */
    {"93 05 ff c0", CHUBBY_E_BAD_TYPE, "EVENT: field 1 (type) is a negative integer"},
    {"92 05 01", CHUBBY_E_MALFORMED, "EVENT: 2 elements, expected 3"},
    {"93 05 ce 00 00 00 01 c0", 0, NULL},
    {"93 05 cf 00 00 00 01 00 00 00 00 c0", CHUBBY_E_MALFORMED, "out of range"},
    /* Not one whole value. */
    {"93 05 01 c0 00", CHUBBY_E_MALFORMED, "trailing bytes after the value (1)"},
    {"93 05 01 c0 93 05 01 c0", CHUBBY_E_MALFORMED, "trailing bytes after the value (4)"},
    {"93 05 01", CHUBBY_E_MALFORMED,
	"array at offset 0 announces 3 elements but only 2 bytes follow"},
    {"93 05 01 d9", CHUBBY_E_MALFORMED, "the value ends early, at offset 4 of 4"},
    {"93 01 01 a5 61 62", CHUBBY_E_MALFORMED, "ends early"},
    {"93 01 01 d9", CHUBBY_E_MALFORMED, "ends early"},
    {"93 05 01 cd 01", CHUBBY_E_MALFORMED, "ends early"},
    {"93 05 01 c7 05 01 00", CHUBBY_E_MALFORMED, "ends early"},
    /* Counts larger than the bytes that follow, refused before allocating. */
    {"dd ff ff ff ff", CHUBBY_E_MALFORMED,
	"array at offset 0 announces 4294967295 elements but only 0 bytes follow"},
    {"93 05 01 df ff ff ff ff c0 c0", CHUBBY_E_MALFORMED,
	"map at offset 3 announces 4294967295 elements but only 2 bytes follow"},
    {"93 05 01 dc ff ff c0", CHUBBY_E_MALFORMED, "announces 65535 elements"},
    {"93 05 01 8f c0", CHUBBY_E_MALFORMED, "map at offset 3 announces 15 elements"},
    {"93 01 01 db ff ff ff ff 61", CHUBBY_E_MALFORMED, "ends early"},
    {"93 05 01 c6 ff ff ff ff 61", CHUBBY_E_MALFORMED, "ends early"},
    {"93 05 01 c9 ff ff ff ff 01 61", CHUBBY_E_MALFORMED, "ends early"},
    /* Valid oddities. */
    {"93 05 01 d4 01 02", 0, NULL},
    {"93 05 01 c7 02 05 aa bb", 0, NULL},
    {"93 05 01 cb 3f f0 00 00 00 00 00 00", 0, NULL},
    {"93 05 01 ca 3f 80 00 00", 0, NULL},
    {"93 05 01 d8 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", 0, NULL},
    {"93 05 01 c4 00", 0, NULL},
    {"95 04 00 ff c0 c0", 0, NULL},
    {"94 03 01 10 80", 0, NULL},
    {"93 01 d0 05 a0", 0, NULL}, /* int8 5 is just 5 */
    {NULL, 0, NULL},
};

static void
test_bad_shapes(void)
{
	for (const struct bad_case *c = bad_cases; c->hex != NULL; c++) {
		uint8_t body[128];
		size_t n = unhex(c->hex, body, sizeof body);
		struct wire_msg m;
		char err[256] = "";
		int rc = wire_decode(body, n, &m, err, sizeof err);

		if (rc != c->rc || (c->msg != NULL && strstr(err, c->msg) == NULL))
			fprintf(stderr, "\n  case \"%s\": rc %d (want %d), message \"%s\" (want \"%s\")",
			    c->hex, rc, c->rc, err, c->msg ? c->msg : "");
		CU_ASSERT_EQUAL(rc, c->rc);
		if (c->msg != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, c->msg));
		/* After an error there is nothing to free. */
		CU_ASSERT_EQUAL(m.zone != NULL, rc == CHUBBY_OK);
		wire_msg_free(&m);
	}
}

static void
test_empty_and_null_err(void)
{
	static const uint8_t one[] = {0xc1};
	struct wire_msg m;
	char err[64];

	CU_ASSERT_EQUAL(wire_decode(one, 0, &m, err, sizeof err), CHUBBY_E_MALFORMED);
	CU_ASSERT_STRING_EQUAL(err, "empty body");
	/* No message buffer is fine, and a tiny one is cut, not overrun. */
	CU_ASSERT_EQUAL(wire_decode(one, 1, &m, NULL, 0), CHUBBY_E_MALFORMED);
	CU_ASSERT_EQUAL(wire_decode(one, 1, &m, err, 4), CHUBBY_E_MALFORMED);
	CU_ASSERT_EQUAL(strlen(err), 3);
}

/* Every proper prefix of a valid body is refused, and every truncation of
 * a frame stream is seen as incomplete by the framing, never decoded. */
static void
test_truncation_everywhere(void)
{
	struct wire_buf b;
	msgpack_packer *pk;
	size_t off;

	wire_buf_init(&b, 0);
	wire_put_hello(&b, 1, "lockctl");
	wire_put_welcome(&b, 1, "local", 2, FRAME_MAX_DEFAULT);
	pk = wire_begin_req(&b, 300, PROTO_OP_SET_CONTENTS);
	msgpack_pack_map(pk, 3);
	mp_pack_kv_str(pk, "path", "/ls/local/x");
	mp_pack_kv_bin(pk, "contents", "\0\1\2", 3);
	mp_pack_kv_int(pk, "if_gen", -1);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);
	wire_put_error(&b, 300, CHUBBY_E_GEN_MISMATCH, "generation is 4");
	pk = wire_begin_event(&b, PROTO_EV_CONTENTS_MODIFIED);
	msgpack_pack_array(pk, 2);
	msgpack_pack_uint64(pk, UINT64_MAX);
	msgpack_pack_double(pk, 0.5);
	CU_ASSERT_EQUAL(wire_finish(&b), CHUBBY_OK);

	/* Bodies: each prefix is malformed. */
	off = 0;
	while (off < b.len) {
		size_t blen = 0;
		const uint8_t *body = b.data + off + FRAME_HEADER_LEN;

		CU_ASSERT_EQUAL_FATAL(frame_header_parse(b.data + off, b.len - off,
					  FRAME_MAX_DEFAULT, &blen),
		    CHUBBY_OK);
		for (size_t n = 0; n < blen; n++) {
			struct wire_msg m;
			char err[128] = "";

			CU_ASSERT_EQUAL(wire_decode(body, n, &m, err, sizeof err), CHUBBY_E_MALFORMED);
			CU_ASSERT_PTR_NULL(m.zone);
		}
		off += FRAME_HEADER_LEN + blen;
	}

	/* Streams: a receiver holding the first N bytes decodes exactly the
	 * frames wholly inside them. */
	for (size_t n = 0; n <= b.len; n++) {
		size_t at = 0, frames = 0, blen;

		for (;;) {
			int rc = frame_header_parse(b.data + at, n - at, FRAME_MAX_DEFAULT, &blen);
			struct wire_msg m;

			if (rc == CHUBBY_E_TRUNCATED) {
				CU_ASSERT(n - at < FRAME_HEADER_LEN);
				break;
			}
			CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
			if (n - at - FRAME_HEADER_LEN < blen)
				break; /* wait for the rest */
			CU_ASSERT_EQUAL(wire_decode(b.data + at + FRAME_HEADER_LEN, blen, &m, NULL, 0),
			    CHUBBY_OK);
			wire_msg_free(&m);
			at += FRAME_HEADER_LEN + blen;
			frames++;
		}
		if (n == b.len)
			CU_ASSERT_EQUAL(frames, 5);
	}
	wire_buf_free(&b);
}

static void
test_deep_nesting(void)
{
	struct body bd;
	struct wire_msg m;
	char err[256];
	msgpack_packer *pk;
	uint8_t *deep;
	size_t n = 200000;

	/* The envelope plus 15 levels: the limit, accepted. */
	pk = body_init(&bd);
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, PROTO_KIND_EVENT);
	msgpack_pack_uint8(pk, 1);
	for (int i = 1; i < WIRE_MAX_DEPTH; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
	CU_ASSERT_EQUAL(body_decode(&bd, &m, err, sizeof err), CHUBBY_OK);
	wire_msg_free(&m);
	msgpack_sbuffer_destroy(&bd.sb);

	/* One more, refused; an empty container counts too. */
	for (int empty = 0; empty < 2; empty++) {
		pk = body_init(&bd);
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint8(pk, PROTO_KIND_EVENT);
		msgpack_pack_uint8(pk, 1);
		for (int i = 0; i < WIRE_MAX_DEPTH - 1; i++) {
			msgpack_pack_map(pk, 1);
			msgpack_pack_nil(pk); /* the key */
		}
		if (empty)
			msgpack_pack_array(pk, 0);
		else {
			msgpack_pack_array(pk, 1);
			msgpack_pack_nil(pk);
		}
		err[0] = '\0';
		CU_ASSERT_EQUAL(body_decode(&bd, &m, err, sizeof err), CHUBBY_E_MALFORMED);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "nesting deeper than 16 levels"));
		msgpack_sbuffer_destroy(&bd.sb);
	}

	/* 200000 levels: refused at the limit, without recursion. */
	deep = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	memset(deep, 0x91, n - 1);
	deep[n - 1] = 0xc0;
	CU_ASSERT_EQUAL(wire_decode(deep, n, &m, err, sizeof err), CHUBBY_E_MALFORMED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nesting deeper"));
	free(deep);
}

static void
test_args_limits(void)
{
	for (int keys = WIRE_MAX_ARGS; keys <= WIRE_MAX_ARGS + 1; keys++) {
		struct body bd;
		struct wire_msg m;
		char err[256] = "";
		msgpack_packer *pk = body_init(&bd);

		msgpack_pack_array(pk, 4);
		msgpack_pack_uint8(pk, PROTO_KIND_REQ);
		msgpack_pack_uint8(pk, 1);
		msgpack_pack_uint8(pk, PROTO_OP_OPEN);
		msgpack_pack_map(pk, (size_t)keys);
		for (int k = 0; k < keys; k++) {
			char key[16];

			snprintf(key, sizeof key, "k%d", k);
			mp_pack_kv_uint(pk, key, (uint64_t)k);
		}
		if (keys == WIRE_MAX_ARGS) {
			uint64_t v = 0;

			CU_ASSERT_EQUAL(body_decode(&bd, &m, err, sizeof err), CHUBBY_OK);
			CU_ASSERT_EQUAL(mp_get_uint(m.req.args, "k63", 1, &v, NULL, 0), CHUBBY_OK);
			CU_ASSERT_EQUAL(v, 63);
			wire_msg_free(&m);
		} else {
			CU_ASSERT_EQUAL(body_decode(&bd, &m, err, sizeof err), CHUBBY_E_MALFORMED);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "REQ: args has 65 keys, over the limit of 64"));
		}
		msgpack_sbuffer_destroy(&bd.sb);
	}

	/* Name length limit on decode. */
	for (size_t len = WIRE_MAX_NAME; len <= WIRE_MAX_NAME + 1; len++) {
		struct body bd;
		struct wire_msg m;
		char err[256] = "";
		char name[WIRE_MAX_NAME + 1];
		msgpack_packer *pk = body_init(&bd);

		memset(name, 'a', sizeof name);
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint8(pk, PROTO_KIND_HELLO);
		msgpack_pack_uint8(pk, 1);
		mp_pack_strn(pk, name, len);
		CU_ASSERT_EQUAL(body_decode(&bd, &m, err, sizeof err),
		    len <= WIRE_MAX_NAME ? CHUBBY_OK : CHUBBY_E_MALFORMED);
		if (len > WIRE_MAX_NAME)
			CU_ASSERT_PTR_NOT_NULL(
			    strstr(err, "HELLO: field 2 (name) is 256 bytes, over the limit of 255"));
		wire_msg_free(&m);
		msgpack_sbuffer_destroy(&bd.sb);
	}
}

/* Exercises everything a handler would do with a decoded message. */
static void
poke(const struct wire_msg *m)
{
	static const char *const keys[] = {"path", "mode", "a", "", "k0"};
	const msgpack_object *args = NULL;
	char err[128];

	switch (m->kind) {
	case PROTO_KIND_REQ:
		args = m->req.args;
		break;
	case PROTO_KIND_RES:
		args = m->res.result;
		break;
	case PROTO_KIND_EVENT:
		args = m->event.body;
		break;
	case PROTO_KIND_HELLO:
		CU_ASSERT(m->hello.name.len <= WIRE_MAX_NAME);
		return;
	case PROTO_KIND_WELCOME:
		CU_ASSERT(m->welcome.max_frame >= FRAME_MAX_MIN);
		return;
	default:
		CU_FAIL("decoded an unknown kind");
		return;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		uint64_t u;
		int64_t s;
		bool bl;
		struct mp_str str;
		char *dup = NULL;
		const msgpack_object *o;
		int rc;

		rc = mp_get_uint(args, keys[i], i & 1, &u, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		rc = mp_get_int(args, keys[i], i & 1, &s, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		rc = mp_get_bool(args, keys[i], i & 1, &bl, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		rc = mp_get_bin(args, keys[i], i & 1, &str, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		rc = mp_get_strdup(args, keys[i], i & 1, &dup, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		free(dup);
		rc = mp_get_array(args, keys[i], i & 1, &o, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
		rc = mp_get_map(args, keys[i], i & 1, &o, err, sizeof err);
		CU_ASSERT(rc == CHUBBY_OK || rc == CHUBBY_E_MISSING || rc == CHUBBY_E_BAD_TYPE);
	}
}

static void
fuzz_one(const uint8_t *p, size_t n, unsigned *ok)
{
	struct wire_msg m;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = wire_decode(p, n, &m, err, sizeof err);
	if (rc == CHUBBY_OK) {
		(*ok)++;
		poke(&m);
		wire_msg_free(&m);
	} else {
		check_refusal(rc, err);
		CU_ASSERT_PTR_NULL(m.zone);
	}
}

static void
test_random_bytes(void)
{
	uint8_t buf[96];
	unsigned ok = 0;

	for (int it = 0; it < 200000; it++) {
		size_t n = (size_t)(rng() % sizeof buf) + 1;

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rng();
		/* Half the time, start like an envelope so the fields get hit. */
		if (it & 1) {
			buf[0] = (uint8_t)(0x91 + rng() % 5);
			if (n > 1)
				buf[1] = (uint8_t)(1 + rng() % 5);
		}
		fuzz_one(buf, n, &ok);
	}
	printf(" (%u of 200000 decoded) ", ok);
}

/* Valid bodies, mutated: flipped, overwritten, inserted and removed bytes. */
static void
test_mutations(void)
{
	struct wire_buf b;
	msgpack_packer *pk;
	size_t starts[16], nframes = 0, off = 0;
	unsigned ok = 0;

	wire_buf_init(&b, 0);
	wire_put_hello(&b, 1, "fuzz");
	wire_put_welcome(&b, 1, "local", 4, 65536);
	pk = wire_begin_req(&b, 9, PROTO_OP_OPEN);
	msgpack_pack_map(pk, 3);
	mp_pack_kv_str(pk, "path", "/ls/local/lock");
	mp_pack_kv_uint(pk, "mode", 3);
	mp_pack_kv_bool(pk, "a", true);
	wire_finish(&b);
	pk = wire_begin_res(&b, 9, 0, "ok");
	msgpack_pack_map(pk, 2);
	mp_pack_kv_int(pk, "mode", -3);
	mp_pack_str(pk, "k0");
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 0);
	mp_pack_bin(pk, "xyz", 3);
	wire_finish(&b);
	pk = wire_begin_event(&b, PROTO_EV_LOCK_ACQUIRED);
	msgpack_pack_map(pk, 1);
	mp_pack_kv_strn(pk, "path", "a\0b", 3);
	wire_finish(&b);
	while (off < b.len) {
		size_t blen = 0;

		frame_header_parse(b.data + off, b.len - off, FRAME_MAX_DEFAULT, &blen);
		starts[nframes++] = off;
		off += FRAME_HEADER_LEN + blen;
	}
	CU_ASSERT_EQUAL_FATAL(nframes, 5);

	for (int it = 0; it < 100000; it++) {
		uint8_t buf[128];
		size_t f = rng() % nframes, blen = 0, n;
		int edits = 1 + (int)(rng() % 4);

		frame_header_parse(b.data + starts[f], FRAME_HEADER_LEN, FRAME_MAX_DEFAULT, &blen);
		CU_ASSERT_FATAL(blen + 8 <= sizeof buf);
		memcpy(buf, b.data + starts[f] + FRAME_HEADER_LEN, blen);
		n = blen;
		while (edits-- > 0 && n > 0) {
			size_t at = rng() % n;

			switch (rng() % 4) {
			case 0:
				buf[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1:
				buf[at] = (uint8_t)rng();
				break;
			case 2:
				if (n < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (uint8_t)rng();
					n++;
				}
				break;
			default:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			}
		}
		fuzz_one(buf, n, &ok);
	}
	printf(" (%u of 100000 decoded) ", ok);
	wire_buf_free(&b);
}

/* --- mp getters and pack helpers */

/* A map with one of everything, decoded through the library. */
struct sample {
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object obj;
};

static void
sample_build(struct sample *s)
{
	msgpack_packer pk;
	size_t off = 0;

	msgpack_sbuffer_init(&s->sb);
	msgpack_packer_init(&pk, &s->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 14);
	mp_pack_kv_uint(&pk, "u", 7);
	mp_pack_kv_uint(&pk, "big", UINT64_MAX);
	mp_pack_kv_uint(&pk, "u32max", UINT32_MAX);
	mp_pack_kv_uint(&pk, "u32over", (uint64_t)UINT32_MAX + 1);
	mp_pack_kv_int(&pk, "neg", -9);
	mp_pack_kv_int(&pk, "minint", INT64_MIN);
	mp_pack_kv_bool(&pk, "yes", true);
	mp_pack_kv_str(&pk, "s", "hello");
	mp_pack_kv_strn(&pk, "nul", "a\0b", 3);
	mp_pack_kv_bin(&pk, "b", "\xff\x00", 2);
	mp_pack_kv_str(&pk, "nil", NULL);
	mp_pack_str(&pk, "m");
	msgpack_pack_map(&pk, 1);
	mp_pack_kv_uint(&pk, "inner", 1);
	mp_pack_str(&pk, "arr");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 1);
	mp_pack_str(&pk, "two");
	msgpack_pack_nil(&pk);
	mp_pack_kv_str(&pk, "", "empty key");
	msgpack_zone_init(&s->zone, 1024);
	CU_ASSERT_EQUAL_FATAL(msgpack_unpack(s->sb.data, s->sb.size, &off, &s->zone, &s->obj),
	    MSGPACK_UNPACK_SUCCESS);
}

static void
sample_free(struct sample *s)
{
	msgpack_zone_destroy(&s->zone);
	msgpack_sbuffer_destroy(&s->sb);
}

#define ERRIS(want) CU_ASSERT_STRING_EQUAL(err, want)

static void
test_mp_getters(void)
{
	struct sample sm;
	const msgpack_object *a;
	char err[128];
	uint64_t u;
	uint32_t u32;
	int64_t i;
	bool bl;
	struct mp_str s;
	const msgpack_object *o;

	sample_build(&sm);
	a = &sm.obj;

	CU_ASSERT_EQUAL(mp_get_uint(a, "u", 1, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u, 7);
	CU_ASSERT_EQUAL(mp_get_uint(a, "big", 1, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u, UINT64_MAX);
	CU_ASSERT_EQUAL(mp_get_uint(a, "neg", 1, &u, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"neg\" is a negative integer, expected unsigned integer");
	CU_ASSERT_EQUAL(mp_get_uint(a, "s", 1, &u, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"s\" is a string, expected unsigned integer");
	CU_ASSERT_EQUAL(mp_get_uint(a, "nope", MP_REQUIRED, &u, err, sizeof err),
	    CHUBBY_E_MISSING);
	ERRIS("\"nope\" is missing");
	u = 99;
	CU_ASSERT_EQUAL(mp_get_uint(a, "nope", MP_OPTIONAL, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u, 99); /* the default stays */
	/* Nil is absent. */
	CU_ASSERT_EQUAL(mp_get_uint(a, "nil", MP_OPTIONAL, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u, 99);
	CU_ASSERT_EQUAL(mp_get_uint(a, "nil", MP_REQUIRED, &u, err, sizeof err), CHUBBY_E_MISSING);
	ERRIS("\"nil\" is missing");
	/* A wrong-typed optional key is still an error. */
	CU_ASSERT_EQUAL(mp_get_uint(a, "s", MP_OPTIONAL, &u, err, sizeof err), CHUBBY_E_BAD_TYPE);

	CU_ASSERT_EQUAL(mp_get_u32(a, "u32max", 1, &u32, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u32, UINT32_MAX);
	CU_ASSERT_EQUAL(mp_get_u32(a, "u32over", 1, &u32, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"u32over\" is 4294967296, out of range 0..4294967295");
	u32 = 5;
	CU_ASSERT_EQUAL(mp_get_u32(a, "nope", 0, &u32, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u32, 5);
	CU_ASSERT_EQUAL(mp_get_u32(a, "nope", 1, &u32, err, sizeof err), CHUBBY_E_MISSING);

	CU_ASSERT_EQUAL(mp_get_int(a, "neg", 1, &i, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(i, -9);
	CU_ASSERT_EQUAL(mp_get_int(a, "minint", 1, &i, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(i, INT64_MIN);
	CU_ASSERT_EQUAL(mp_get_int(a, "u", 1, &i, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(i, 7);
	CU_ASSERT_EQUAL(mp_get_int(a, "big", 1, &i, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"big\" is 18446744073709551615, out of range for a signed integer");
	CU_ASSERT_EQUAL(mp_get_int(a, "yes", 1, &i, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"yes\" is a boolean, expected integer");

	CU_ASSERT_EQUAL(mp_get_bool(a, "yes", 1, &bl, err, sizeof err), CHUBBY_OK);
	CU_ASSERT(bl);
	CU_ASSERT_EQUAL(mp_get_bool(a, "u", 1, &bl, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"u\" is an unsigned integer, expected boolean");

	CU_ASSERT_EQUAL(mp_get_str(a, "s", 1, &s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT(str_is(s, "hello"));
	CU_ASSERT_EQUAL(mp_get_str(a, "b", 1, &s, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"b\" is a binary, expected string");
	CU_ASSERT_EQUAL(mp_get_str(a, "", 1, &s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT(str_is(s, "empty key"));

	CU_ASSERT_EQUAL(mp_get_bin(a, "b", 1, &s, err, sizeof err), CHUBBY_OK);
	CU_ASSERT(s.len == 2 && memcmp(s.ptr, "\xff\x00", 2) == 0);
	CU_ASSERT_EQUAL(mp_get_bin(a, "s", 1, &s, err, sizeof err), CHUBBY_OK); /* str accepted */
	CU_ASSERT(str_is(s, "hello"));
	CU_ASSERT_EQUAL(mp_get_bin(a, "arr", 1, &s, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"arr\" is an array, expected binary");

	{
		char *d = NULL;

		CU_ASSERT_EQUAL(mp_get_strdup(a, "s", 1, &d, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_STRING_EQUAL(d, "hello");
		free(d);
		d = NULL;
		CU_ASSERT_EQUAL(mp_get_strdup(a, "nul", 1, &d, err, sizeof err), CHUBBY_E_BAD_TYPE);
		ERRIS("\"nul\" contains a NUL byte");
		CU_ASSERT_PTR_NULL(d);
		CU_ASSERT_EQUAL(mp_get_strdup(a, "nope", 0, &d, err, sizeof err), CHUBBY_OK);
		CU_ASSERT_PTR_NULL(d);
		CU_ASSERT_EQUAL(mp_get_strdup(a, "nope", 1, &d, err, sizeof err), CHUBBY_E_MISSING);
		CU_ASSERT_EQUAL(mp_get_strdup(a, "u", 1, &d, err, sizeof err), CHUBBY_E_BAD_TYPE);
	}

	CU_ASSERT_EQUAL(mp_get_map(a, "m", 1, &o, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_get_uint(o, "inner", 1, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(u, 1);
	CU_ASSERT_EQUAL(mp_get_map(a, "arr", 1, &o, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"arr\" is an array, expected map");
	CU_ASSERT_EQUAL(mp_get_array(a, "m", 1, &o, err, sizeof err), CHUBBY_E_BAD_TYPE);
	ERRIS("\"m\" is a map, expected array");
	CU_ASSERT_EQUAL(mp_get_array(a, "arr", 1, &o, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(o->via.array.size, 3);
	/* Elements through mp_val_*. */
	CU_ASSERT_EQUAL(mp_val_uint(&o->via.array.ptr[0], "element 0", &u, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_val_str(&o->via.array.ptr[1], "element 1", &s, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT(str_is(s, "two"));
	CU_ASSERT_EQUAL(mp_val_int(&o->via.array.ptr[1], "element 1 of \"arr\"", &i, err,
			    sizeof err),
	    CHUBBY_E_BAD_TYPE);
	ERRIS("element 1 of \"arr\" is a string, expected integer");
	CU_ASSERT_EQUAL(mp_val_str(&o->via.array.ptr[2], "element 2", &s, err, sizeof err),
	    CHUBBY_E_MISSING);
	ERRIS("element 2 is missing");
	CU_ASSERT_EQUAL(mp_val_bool(NULL, "x", &bl, err, sizeof err), CHUBBY_E_MISSING);
	CU_ASSERT_EQUAL(mp_val_bin(&o->via.array.ptr[1], "x", &s, err, sizeof err), CHUBBY_OK);

	/* No map, a nil map, and something that is not a map. */
	CU_ASSERT_EQUAL(mp_get_uint(NULL, "u", 1, &u, err, sizeof err), CHUBBY_E_MISSING);
	CU_ASSERT_EQUAL(mp_get_uint(NULL, "u", 0, &u, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_get_uint(mp_map_get(a, "nil"), "u", 1, &u, err, sizeof err),
	    CHUBBY_E_MISSING);
	CU_ASSERT_EQUAL(mp_get_uint(mp_map_get(a, "arr"), "u", 0, &u, err, sizeof err),
	    CHUBBY_E_BAD_TYPE);
	ERRIS("looking for \"u\" in an array, expected map");
	/* ERR may be NULL. */
	CU_ASSERT_EQUAL(mp_get_uint(a, "s", 1, &u, NULL, 0), CHUBBY_E_BAD_TYPE);
	CU_ASSERT_EQUAL(mp_get_uint(a, "nope", 1, &u, NULL, 0), CHUBBY_E_MISSING);

	CU_ASSERT_PTR_NULL(mp_map_get(a, "nope"));
	CU_ASSERT_PTR_NULL(mp_map_get(NULL, "u"));
	CU_ASSERT_PTR_NOT_NULL(mp_map_get(a, "nil"));
	CU_ASSERT(mp_str_eq(mp_map_get(a, "s"), "hello"));
	CU_ASSERT(!mp_str_eq(mp_map_get(a, "s"), "hell"));
	CU_ASSERT(!mp_str_eq(mp_map_get(a, "u"), "7"));
	CU_ASSERT(!mp_str_eq(NULL, ""));
	sample_free(&sm);
}

static void
test_mp_type_names(void)
{
	struct sample sm;
	const msgpack_object *a;

	sample_build(&sm);
	a = &sm.obj;
	CU_ASSERT_STRING_EQUAL(mp_type_name(NULL), "nil");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "nil")), "nil");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "u")), "unsigned integer");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "neg")), "negative integer");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "yes")), "boolean");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "s")), "string");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "b")), "binary");
	CU_ASSERT_STRING_EQUAL(mp_type_name(mp_map_get(a, "arr")), "array");
	CU_ASSERT_STRING_EQUAL(mp_type_name(a), "map");
	CU_ASSERT_STRING_EQUAL(mp_type_desc(a), "a map");
	CU_ASSERT_STRING_EQUAL(mp_type_desc(mp_map_get(a, "arr")), "an array");
	CU_ASSERT_STRING_EQUAL(mp_type_desc(NULL), "nil");
	sample_free(&sm);
}

/* Pack helpers write what msgpack-c reads back, into a wire_buf or not. */
static void
test_mp_pack(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	CU_ASSERT_EQUAL(mp_pack_str(&pk, NULL), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_pack_str(&pk, ""), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_pack_strn(&pk, NULL, 0), CHUBBY_OK);
	CU_ASSERT_EQUAL(mp_pack_bin(&pk, NULL, 0), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(sb.size, 5);
	CU_ASSERT_EQUAL(memcmp(sb.data, "\xc0\xa0\xa0\xc4\x00", 5), 0);
	msgpack_zone_init(&z, 256);
	CU_ASSERT_EQUAL(msgpack_unpack(sb.data, sb.size, &off, &z, &o), MSGPACK_UNPACK_EXTRA_BYTES);
	CU_ASSERT_EQUAL(o.type, MSGPACK_OBJECT_NIL);
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&sb);
}

/* --- protocol tables */

static void
test_protocol_names(void)
{
	/* Numbers are the protocol: pin them. */
	CU_ASSERT_EQUAL(PROTO_KIND_HELLO, 1);
	CU_ASSERT_EQUAL(PROTO_KIND_EVENT, 5);
	CU_ASSERT_EQUAL(PROTO_OP_SESSION_START, 1);
	CU_ASSERT_EQUAL(PROTO_OP_OPEN, 16);
	CU_ASSERT_EQUAL(PROTO_OP_ACQUIRE, 48);
	CU_ASSERT_EQUAL(PROTO_OP_STATUS, 64);
	CU_ASSERT_EQUAL(PROTO_EV_CONTENTS_MODIFIED, 1);
	CU_ASSERT_EQUAL(PROTO_EV_JEOPARDY, PROTO_EV_CLIENT_FIRST);

	CU_ASSERT_STRING_EQUAL(proto_kind_name(PROTO_KIND_REQ), "REQ");
	CU_ASSERT_STRING_EQUAL(proto_kind_name(PROTO_KIND_PEER_FIRST), "PEER");
	CU_ASSERT_STRING_EQUAL(proto_kind_name(0), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_op_name(PROTO_OP_OPEN), "OPEN");
	CU_ASSERT_STRING_EQUAL(proto_op_name(PROTO_OP_CHECK_SEQUENCER), "CHECK_SEQUENCER");
	CU_ASSERT_STRING_EQUAL(proto_op_name(PROTO_OP_WHERE_IS_MASTER), "WHERE_IS_MASTER");
	CU_ASSERT_STRING_EQUAL(proto_op_name(0), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_op_name(UINT32_MAX), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(proto_event_name(PROTO_EV_HANDLE_INVALID), "HANDLE_INVALID");
	CU_ASSERT_STRING_EQUAL(proto_event_name(PROTO_EV_EXPIRED), "EXPIRED");
	CU_ASSERT_STRING_EQUAL(proto_event_name(1000), "UNKNOWN");

#define CHECK_OP(name, num) CU_ASSERT_STRING_EQUAL(proto_op_name(num), #name);
	PROTO_OP_LIST(CHECK_OP)
#undef CHECK_OP
#define CHECK_EV(name, num)                                                                     \
	CU_ASSERT_STRING_EQUAL(proto_event_name(num), #name);                                   \
	CU_ASSERT(num > 0);
	PROTO_EVENT_LIST(CHECK_EV)
#undef CHECK_EV
#define CHECK_KIND(name, num)                                                                   \
	CU_ASSERT_STRING_EQUAL(proto_kind_name(num), #name);                                    \
	CU_ASSERT(num <= PROTO_KIND_CLIENT_LAST);
	PROTO_KIND_LIST(CHECK_KIND)
#undef CHECK_KIND
}

void
harness_register(void)
{
	static const struct harness_test roundtrip[] = {
	    {"HELLO", test_hello},
	    {"WELCOME", test_welcome},
	    {"REQ", test_req},
	    {"RES", test_res},
	    {"EVENT", test_event},
	    {"frames in a stream, owned copies", test_stream_and_ownership},
	    {"pre-packed args", test_pack_raw},
	    {"encoder misuse is caught", test_encoder_misuse},
	    {"encoder frame limit", test_encoder_limit},
	    {"version check", test_version},
	    {NULL, NULL},
	};
	static const struct harness_test garbage[] = {
	    {"wrong shapes and types", test_bad_shapes},
	    {"empty body, no message buffer", test_empty_and_null_err},
	    {"truncation at every length", test_truncation_everywhere},
	    {"deep nesting", test_deep_nesting},
	    {"args and name limits", test_args_limits},
	    {"random bytes", test_random_bytes},
	    {"mutated frames", test_mutations},
	    {NULL, NULL},
	};
	static const struct harness_test mp[] = {
	    {"getters", test_mp_getters},
	    {"type names", test_mp_type_names},
	    {"pack helpers", test_mp_pack},
	    {NULL, NULL},
	};
	static const struct harness_test proto[] = {
	    {"names and numbers", test_protocol_names},
	    {NULL, NULL},
	};
	harness_suite("wire round trips", suite_init, NULL, roundtrip);
	harness_suite("wire garbage", suite_init, NULL, garbage);
	harness_suite("mp", NULL, NULL, mp);
	harness_suite("protocol", NULL, NULL, proto);
}
