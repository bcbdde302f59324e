/* fuzz_peer.c: libFuzzer target for replica-to-replica message decoding;
 * whatever decodes must encode again and decode to the same message. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "frame.h"
#include "peer/peer_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_hello h;
	struct paxos_msg m, again;
	struct wire_buf b;
	unsigned kind, kind2;
	char err[256];

	if (peer_decode(data, size, &kind, &h, &m, err, sizeof err) != CHUBBY_OK)
		return 0;
	if (kind != PEER_KIND_PAXOS)
		return 0;
	wire_buf_init(&b, 64u * 1024 * 1024);
	if (peer_encode_paxos(&b, &m) == CHUBBY_OK) {
		if (peer_decode(b.data + FRAME_HEADER_LEN, b.len - FRAME_HEADER_LEN, &kind2, &h,
			&again, err, sizeof err) != CHUBBY_OK)
			abort();
		if (again.type != m.type || again.ballot != m.ballot || again.nentries != m.nentries ||
		    !paxos_buf_equal(&again.data, &m.data))
			abort();
		paxos_msg_free(&again);
	}
	wire_buf_free(&b);
	paxos_msg_free(&m);
	return 0;
}
