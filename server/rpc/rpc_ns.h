/*
 * rpc_ns.h: handlers of Chubby's calls (sessions, handles, the namespace,
 * locks, sequencers, session admin), listed in rpc.c's dispatch table:
 * each decodes its arguments and hands them to the request layer
 * (server/svc), which serves them.
 * Arguments and results: docs/PROTOCOL.md "Ops".
 */
#ifndef CHUBBY_RPC_NS_H
#define CHUBBY_RPC_NS_H

#include "rpc/rpc.h"

#define RPC_NS_HANDLER(name)                                                                  \
	int rpc_op_##name(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, \
	    char *msg, size_t msglen)

RPC_NS_HANDLER(session_start);
RPC_NS_HANDLER(keepalive);
RPC_NS_HANDLER(session_end);
RPC_NS_HANDLER(open);
RPC_NS_HANDLER(close);
RPC_NS_HANDLER(poison);
RPC_NS_HANDLER(get_contents);
RPC_NS_HANDLER(get_stat);
RPC_NS_HANDLER(readdir);
RPC_NS_HANDLER(set_contents);
RPC_NS_HANDLER(set_acl);
RPC_NS_HANDLER(delete);
RPC_NS_HANDLER(acquire);
RPC_NS_HANDLER(try_acquire);
RPC_NS_HANDLER(release);
RPC_NS_HANDLER(get_sequencer);
RPC_NS_HANDLER(set_sequencer);
RPC_NS_HANDLER(check_sequencer);
RPC_NS_HANDLER(sessions);
RPC_NS_HANDLER(locks);
RPC_NS_HANDLER(client_end);
RPC_NS_HANDLER(claim);

/* The daemon's request layer (server/svc) over D->sessions, answering
 * through the client port. */
struct svc *rpc_ns_svc_new(struct chubbyd *d);

/* The handler of one of Chubby's calls; NULL if OP is not one. */
rpc_handler rpc_ns_handler(uint32_t op);

#endif
