/* frame.c: the 4-byte big-endian length header in front of every message. */
#include "config.h"

#include <chubby/chubby.h>

#include "frame.h"

int
frame_header_parse(const uint8_t *buf, size_t avail, size_t max_frame, size_t *body_len)
{
	uint32_t len;

	if (avail < FRAME_HEADER_LEN)
		return CHUBBY_E_TRUNCATED;
	len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
	    (uint32_t)buf[3];
	/* Every body is one msgpack value, which takes at least one byte. */
	if (len == 0)
		return CHUBBY_E_MALFORMED;
	/* Refused before any of it is buffered, so a peer cannot make us
	 * allocate more than the limit by announcing a large frame. */
	if (len > max_frame)
		return CHUBBY_E_FRAME_TOO_BIG;
	*body_len = len;
	return CHUBBY_OK;
}

void
frame_header_put(uint8_t out[FRAME_HEADER_LEN], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}
