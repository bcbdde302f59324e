/*
 * fuzz_frame.c: libFuzzer target for the codec.  The input is read as a
 * stream of frames (header, then body decoded by wire_decode), and whole as
 * one body; every decoded message goes through the mp getters a handler
 * would use, and is re-encoded and decoded again to check the round trip.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "frame.h"
#include "mp.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small, so that the too-big path is reachable from small inputs. */
#define FUZZ_MAX_FRAME 65536

static void
fuzz_check(int cond)
{
	if (!cond)
		abort();
}

static void
fuzz_getters(const msgpack_object *map)
{
	static const char *const keys[] = {"path", "mode", "handle", "a", "", "k0"};
	char err[128];

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		uint64_t u;
		uint32_t u32;
		int64_t s;
		bool b;
		struct mp_str str;
		char *dup = NULL;
		const msgpack_object *o = NULL;
		int req = (int)(i & 1);

		(void)mp_get_uint(map, keys[i], req, &u, err, sizeof err);
		(void)mp_get_u32(map, keys[i], req, &u32, err, sizeof err);
		(void)mp_get_int(map, keys[i], req, &s, err, sizeof err);
		(void)mp_get_bool(map, keys[i], req, &b, err, sizeof err);
		(void)mp_get_str(map, keys[i], req, &str, err, sizeof err);
		(void)mp_get_bin(map, keys[i], req, &str, err, sizeof err);
		if (mp_get_strdup(map, keys[i], req, &dup, err, sizeof err) == CHUBBY_OK)
			free(dup);
		if (mp_get_array(map, keys[i], req, &o, err, sizeof err) == CHUBBY_OK && o != NULL)
			for (uint32_t k = 0; k < o->via.array.size; k++)
				(void)mp_val_str(&o->via.array.ptr[k], "element", &str, err,
				    sizeof err);
		if (mp_get_map(map, keys[i], req, &o, err, sizeof err) == CHUBBY_OK && o != NULL)
			(void)mp_get_uint(o, keys[i], req, &u, err, sizeof err);
	}
	/* Every key of the map, whatever its type. */
	if (map != NULL && map->type == MSGPACK_OBJECT_MAP)
		for (uint32_t k = 0; k < map->via.map.size; k++)
			(void)mp_type_desc(&map->via.map.ptr[k].val);
}

/* Encodes M again and checks that it decodes to the same fields. */
static void
fuzz_roundtrip(const struct wire_msg *m)
{
	struct wire_buf b;
	struct wire_msg again;
	msgpack_packer *pk = NULL;
	size_t blen = 0;
	int rc;

	wire_buf_init(&b, FUZZ_MAX_FRAME);
	switch (m->kind) {
	case PROTO_KIND_REQ:
		pk = wire_begin_req(&b, m->req.id, m->req.op);
		msgpack_pack_object(pk, m->fields[3]);
		break;
	case PROTO_KIND_EVENT:
		pk = wire_begin_event(&b, m->event.type);
		msgpack_pack_object(pk, m->fields[2]);
		break;
	default:
		/* HELLO, WELCOME, RES: their strings are not NUL-terminated (and
		 * may hold NULs), so through the generic begin. */
		pk = wire_begin(&b, m->kind, m->nfields - 1);
		for (uint32_t i = 1; i < m->nfields; i++)
			msgpack_pack_object(pk, m->fields[i]);
		break;
	}
	rc = wire_finish(&b);
	if (rc == CHUBBY_OK) {
		fuzz_check(frame_header_parse(b.data, b.len, FUZZ_MAX_FRAME, &blen) == CHUBBY_OK);
		fuzz_check(blen + FRAME_HEADER_LEN == b.len);
		fuzz_check(wire_decode(b.data + FRAME_HEADER_LEN, blen, &again, NULL, 0) ==
		    CHUBBY_OK);
		fuzz_check(again.kind == m->kind && again.nfields == m->nfields);
		switch (m->kind) {
		case PROTO_KIND_HELLO:
			fuzz_check(again.hello.version == m->hello.version);
			fuzz_check(again.hello.name.len == m->hello.name.len);
			fuzz_check(memcmp(again.hello.name.ptr, m->hello.name.ptr,
				       m->hello.name.len) == 0);
			break;
		case PROTO_KIND_WELCOME:
			fuzz_check(again.welcome.max_frame == m->welcome.max_frame);
			fuzz_check(again.welcome.replica_id == m->welcome.replica_id);
			break;
		case PROTO_KIND_REQ:
			fuzz_check(again.req.id == m->req.id && again.req.op == m->req.op);
			fuzz_check((again.req.args == NULL) == (m->req.args == NULL));
			break;
		case PROTO_KIND_RES:
			fuzz_check(again.res.id == m->res.id && again.res.status == m->res.status);
			fuzz_check((again.res.message.ptr == NULL) == (m->res.message.ptr == NULL));
			fuzz_check(again.res.message.len == m->res.message.len);
			break;
		case PROTO_KIND_EVENT:
			fuzz_check(again.event.type == m->event.type);
			fuzz_check((again.event.body == NULL) == (m->event.body == NULL));
			break;
		}
		wire_msg_free(&again);
	} else {
		/* Only the limit can refuse a message that just decoded (the
		 * re-encoding may be larger: msgpack-c picks minimal forms, the
		 * input may not have). */
		fuzz_check(rc == CHUBBY_E_FRAME_TOO_BIG);
		fuzz_check(b.len == 0);
	}
	wire_buf_free(&b);
}

static void
fuzz_body(const uint8_t *body, size_t len)
{
	struct wire_msg m;
	char err[256];
	int rc;

	rc = wire_decode(body, len, &m, err, sizeof err);
	if (rc != CHUBBY_OK) {
		fuzz_check(rc == CHUBBY_E_MALFORMED || rc == CHUBBY_E_BAD_TYPE ||
		    rc == CHUBBY_E_NOMEM);
		fuzz_check(m.zone == NULL && err[0] != '\0');
		return;
	}
	switch (m.kind) {
	case PROTO_KIND_REQ:
		fuzz_getters(m.req.args);
		break;
	case PROTO_KIND_RES:
		fuzz_getters(m.res.result);
		break;
	case PROTO_KIND_EVENT:
		fuzz_getters(m.event.body);
		break;
	}
	fuzz_roundtrip(&m);
	wire_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, blen;

	/* As a stream of frames, the way a connection reads them. */
	while (off < size) {
		int rc = frame_header_parse(data + off, size - off, FUZZ_MAX_FRAME, &blen);

		if (rc != CHUBBY_OK) {
			fuzz_check(rc == CHUBBY_E_TRUNCATED || rc == CHUBBY_E_MALFORMED ||
			    rc == CHUBBY_E_FRAME_TOO_BIG);
			break;
		}
		if (size - off - FRAME_HEADER_LEN < blen)
			break; /* the rest has not arrived */
		fuzz_body(data + off + FRAME_HEADER_LEN, blen);
		off += FRAME_HEADER_LEN + blen;
	}
	/* And whole, as one body, so that mutations need not fix the header. */
	fuzz_body(data, size);
	return 0;
}
