/*
 * peer_codec.h: replica-to-replica messages on the wire.  The same framing
 * as clients use (frame.h), with envelope kinds from the PEER block of
 * protocol.h: PEER_HELLO opens a link, PEER_PAXOS carries one Paxos message.
 * Pure functions over bytes: no sockets, fuzzed (tests/fuzz/fuzz_peer.c).
 *
 *   PEER_HELLO  [16, version:uint, cell:str, replica_id:uint]
 *   PEER_PAXOS  [17, type:uint, from:uint, to:uint, ballot:uint, slot:uint,
 *                seq:uint, commit:uint, next_slot:uint, trunc:uint,
 *                promised:uint, entries:[[slot, ballot, chosen:bool, value:bin]...],
 *                data:bin]
 */
#ifndef CHUBBY_PEER_CODEC_H
#define CHUBBY_PEER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "paxos/paxos_msg.h"
#include "wire.h"

#define PEER_KIND_HELLO 16
#define PEER_KIND_PAXOS 17

/* Bounds a decoder enforces before allocating. */
#define PEER_MAX_ENTRIES 100000

struct peer_hello {
	uint32_t version;
	char cell[65];
	unsigned replica_id;
};

int peer_encode_hello(struct wire_buf *b, uint32_t version, const char *cell, unsigned id);
int peer_encode_paxos(struct wire_buf *b, const struct paxos_msg *m);

/*
 * Decodes one frame body.  Sets *KIND to PEER_KIND_HELLO (filling HELLO) or
 * PEER_KIND_PAXOS (filling MSG, which the caller frees with paxos_msg_free).
 * Returns CHUBBY_OK or an error code with a message in ERR.
 */
int peer_decode(const uint8_t *body, size_t len, unsigned *kind, struct peer_hello *hello,
    struct paxos_msg *msg, char *err, size_t errlen);

#endif
