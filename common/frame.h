/*
 * frame.h: framing of the byte stream between peers: a 4-byte big-endian
 * body length, then the body (one msgpack value, see wire.h).  Pure
 * functions over bytes; the transport owns the buffers.
 */
#ifndef CHUBBY_FRAME_H
#define CHUBBY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4
/* Default limit on a body's length; the cell config may change it. */
#define FRAME_MAX_DEFAULT (1024 * 1024)
/* The smallest limit a peer may announce (WELCOME's max_frame): below it a
 * client could not even send a KeepAlive. */
#define FRAME_MAX_MIN 4096

/*
 * Reads the header at BUF, of which AVAIL bytes are present.  Returns
 * CHUBBY_OK with *BODY_LEN set once the header is complete (the body may
 * not have arrived yet: wait for FRAME_HEADER_LEN + *BODY_LEN bytes);
 * CHUBBY_E_TRUNCATED while fewer than FRAME_HEADER_LEN bytes are present;
 * CHUBBY_E_FRAME_TOO_BIG if the body would exceed MAX_FRAME bytes;
 * CHUBBY_E_MALFORMED for an empty body.  The last two are fatal to the
 * connection: the stream cannot be resynchronised.
 */
int frame_header_parse(const uint8_t *buf, size_t avail, size_t max_frame, size_t *body_len);

/* Writes the header for a body of LEN bytes. */
void frame_header_put(uint8_t out[FRAME_HEADER_LEN], uint32_t len);

#endif
