/*
 * wire.h: the envelopes of the client protocol (docs/PROTOCOL.md): encoders
 * that write whole frames (header + one msgpack array) into a growable
 * buffer, and a decoder that checks a frame body's shape and types before
 * anything reads it.  Pure functions over bytes, no I/O; nothing here
 * aborts: out of memory is CHUBBY_E_NOMEM.
 */
#ifndef CHUBBY_WIRE_H
#define CHUBBY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "frame.h"
#include "mp.h"
#include "protocol.h"

/* Limits the decoder enforces (and wire_finish for depth).  Bodies are
 * also bounded by the frame limit; a container's element count is bounded
 * by the bytes left, so a decoded message costs at most a small multiple
 * of its size in memory. */
#define WIRE_MAX_DEPTH 16 /* nested arrays and maps, the envelope included */
#define WIRE_MAX_ARGS 64  /* keys in a REQ's args map */
#define WIRE_MAX_NAME 255 /* bytes in HELLO's name and WELCOME's cell */

/*
 * An output buffer of whole frames.  Encode with wire_put_* for envelopes
 * without a payload, or wire_begin_* then pack exactly one value (args,
 * result, body) into the packer it returns, then wire_finish.  The frame
 * header is written by begin and patched by finish, so it cannot be
 * forgotten.  Errors while packing are kept and returned by wire_finish,
 * which drops the unfinished frame: DATA then still holds only whole
 * frames.  Outside a begin/finish pair, DATA[0..LEN) is ready to send.
 * Not to be copied while a frame is open (the packer points at it).
 */
struct wire_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max_frame; /* largest body to frame; the peer's announced limit */
	/* Private. */
	size_t open; /* offset of the open frame's header, or SIZE_MAX */
	int error;   /* first error since the frame opened */
	msgpack_packer pk;
};

/* MAX_FRAME 0 means FRAME_MAX_DEFAULT.  Allocates nothing yet. */
void wire_buf_init(struct wire_buf *b, size_t max_frame);
/* Drops the contents (sent, say) and keeps the memory. */
void wire_buf_reset(struct wire_buf *b);
void wire_buf_free(struct wire_buf *b);

/*
 * Opens a frame for an envelope of KIND followed by NFIELDS more values,
 * which the caller packs.  The building block of the wire_begin_* below,
 * public for envelope kinds added later (replica messages).
 */
msgpack_packer *wire_begin(struct wire_buf *b, unsigned kind, uint32_t nfields);
/* [REQ, id, op, ...]: pack the args, a map or nil. */
msgpack_packer *wire_begin_req(struct wire_buf *b, uint64_t id, uint32_t op);
/* [RES, id, status, message, ...]: pack the result (nil if none).
 * A NULL MESSAGE packs nil. */
msgpack_packer *wire_begin_res(struct wire_buf *b, uint64_t id, int status, const char *message);
/* [EVENT, type, ...]: pack the body. */
msgpack_packer *wire_begin_event(struct wire_buf *b, uint32_t type);
/* Copies already-packed msgpack bytes in as the next value. */
int wire_pack_raw(msgpack_packer *pk, const void *bytes, size_t len);
/*
 * Closes the open frame: checks that the body is complete msgpack (the
 * caller packed exactly the values begin asked for) within the limits,
 * and writes its length into the header.  Returns CHUBBY_OK; or drops the
 * frame and returns CHUBBY_E_NOMEM, CHUBBY_E_FRAME_TOO_BIG (body over
 * max_frame), or CHUBBY_E_INVALID (no frame open, begin called twice,
 * too few or too many values, nesting over WIRE_MAX_DEPTH).
 */
int wire_finish(struct wire_buf *b);

/* Whole envelopes in one call; each returns as wire_finish does, and
 * CHUBBY_E_LIMIT for a NAME or CELL longer than WIRE_MAX_NAME. */
int wire_put_hello(struct wire_buf *b, uint32_t version, const char *name);
int wire_put_welcome(struct wire_buf *b, uint32_t version, const char *cell, uint32_t replica_id,
    uint32_t max_frame);
/* A RES with a nil result: a refused request, or with ID 0 a refused
 * connection. */
int wire_put_error(struct wire_buf *b, uint64_t id, int status, const char *message);
/* The answer to a HELLO whose version wire_check_version refused: RES id 0,
 * CHUBBY_E_VERSION, and the range spoken here as {"min": .., "max": ..}. */
int wire_put_version_error(struct wire_buf *b, uint32_t version);

/* The one place that decides which protocol versions this build speaks:
 * CHUBBY_OK or CHUBBY_E_VERSION. */
int wire_check_version(uint32_t version);

/*
 * A decoded envelope.  Strings point into the message's own copy of the
 * body: not NUL-terminated, valid until wire_msg_free.  A nil message,
 * args, result or body is NULL.
 */
struct wire_msg {
	unsigned kind; /* enum proto_kind */
	union {
		struct {
			uint32_t version;
			struct mp_str name;
		} hello;
		struct {
			uint32_t version;
			struct mp_str cell;
			uint32_t replica_id;
			uint32_t max_frame;
		} welcome;
		struct {
			uint64_t id; /* >= 1: id 0 is the connection's own */
			uint32_t op; /* not checked against the op table: dispatch answers E_BAD_OP */
			const msgpack_object *args; /* a map of string keys, or NULL */
		} req;
		struct {
			uint64_t id;
			int status;
			struct mp_str message; /* ptr NULL if nil */
			const msgpack_object *result;
		} res;
		struct {
			uint32_t type;
			const msgpack_object *body;
		} event;
	};
	/* The envelope's elements, fields[0] being the kind. */
	const msgpack_object *fields;
	uint32_t nfields;
	msgpack_zone *zone; /* private: owns the copy and every object */
};

/*
 * Decodes one frame body of LEN bytes (as framed by frame_header_parse).
 * The body must be exactly one msgpack value of a known envelope's shape
 * within the limits above.  Copies what it keeps, so BODY may be freed
 * right after.  Returns CHUBBY_OK, or CHUBBY_E_MALFORMED (not msgpack,
 * trailing bytes, wrong shape, unknown kind, out of range, over a limit),
 * CHUBBY_E_BAD_TYPE (a field of the wrong type) or CHUBBY_E_NOMEM, with
 * a message naming the problem in ERR (may be NULL).  OUT is overwritten
 * (free an earlier message first); on error it holds nothing to free.
 */
/* Checks that P..LEN is exactly one well-formed msgpack value, at most
 * WIRE_MAX_DEPTH deep, whose containers claim no more elements than bytes
 * remain: call it before msgpack-c unpacks anything from a peer (msgpack-c
 * allocates from announced counts).  CHUBBY_OK or CHUBBY_E_MALFORMED. */
int wire_scan(const uint8_t *p, size_t len, char *err, size_t errlen);
/* The same for the first value at P only, nested at most MAX_DEPTH deep (at
 * most WIRE_SCAN_DEPTH_MAX): *USED is where it ends; bytes after it are the
 * caller's business. */
#define WIRE_SCAN_DEPTH_MAX 64
int wire_scan_value(const uint8_t *p, size_t len, unsigned max_depth, size_t *used, char *err,
    size_t errlen);

int wire_decode(const uint8_t *body, size_t len, struct wire_msg *out, char *err, size_t errlen);
/* Frees what a decoded message owns; harmless on a zeroed or freed one. */
void wire_msg_free(struct wire_msg *msg);

#endif
