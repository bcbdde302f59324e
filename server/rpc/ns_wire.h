/*
 * ns_wire.h: Chubby's calls on the wire (docs/PROTOCOL.md "Ops"): the
 * msgpack arguments of a request decoded into the request layer's struct
 * svc_args (server/svc), and its struct svc_result encoded as the reply's
 * result value.  Pure codec: no connection, replica or clock; chubbyd's
 * client port (rpc_ns.c) and the fuzzer (tests/fuzz/fuzz_rpc.c) share it.
 */
#ifndef CHUBBY_NS_WIRE_H
#define CHUBBY_NS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "seqtoken.h"
#include "svc/svc.h"

/* The most KeepAlive acks one request may carry. */
#define NS_WIRE_MAX_ACKS 256

/* A request's decoded arguments and the storage they borrow. */
struct ns_wire_args {
	struct svc_args a;
	struct seqtoken seq;
	char *path;
	char *acl[3];
	uint64_t acks[NS_WIRE_MAX_ACKS];
};

/* The request layer's call for protocol op OP (PROTO_OP_*); 0 if OP is
 * not one of Chubby's calls. */
enum svc_op ns_wire_op(uint32_t op);

/*
 * Decodes ARGS (a map, or NULL / nil) of call OP into OUT: every argument
 * the call takes, with its type checked, and a "sequencer" checked against
 * the cell's KEY (KEYLEN bytes; NULL: none).  CHUBBY_OK, or the error with
 * a message in MSG.  Free OUT with ns_wire_args_free either way.
 */
int ns_wire_decode(enum svc_op op, const msgpack_object *args, const uint8_t *key,
    size_t keylen, struct ns_wire_args *out, char *msg, size_t msglen);
void ns_wire_args_free(struct ns_wire_args *w);

/* Packs the result of an answer with STATUS into PK: exactly one value on
 * success; on error the map that says more, or nothing.  Not for
 * SVC_RES_NOT_MASTER, whose map names the master (rpc_not_master). */
void ns_wire_pack_result(msgpack_packer *pk, int status, const struct svc_result *r);

#endif
