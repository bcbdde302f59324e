/*
 * rpc_backup.h: the SNAPSHOT handler (docs/PROTOCOL.md "Administration"),
 * listed in rpc.c's dispatch table: the request's envelope (mastership,
 * the superuser, arguments, the reply map) around backup_chunk() (backup.h),
 * so that backup.c knows nothing of the client port.
 */
#ifndef CHUBBY_RPC_BACKUP_H
#define CHUBBY_RPC_BACKUP_H

#include "rpc/rpc.h"

int rpc_op_snapshot(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);

#endif
