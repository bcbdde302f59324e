/*
 * backup.h: backups and restores of a cell's replicated state.
 *
 * Backup: the SNAPSHOT request (docs/PROTOCOL.md, "Administration"),
 * answered by the master with a consistent copy of its applied state,
 * in chunks that fit a frame.  The master keeps the last few copies for a
 * while, keyed by their index, so that a client fetches every chunk of one
 * copy.  lockctl backup writes them to a file (backup_file.h).
 *
 * Restore: chubbyd --init --restore FILE seeds the empty store of a new
 * cell's replica with the file's state as a Paxos snapshot at its index,
 * before the replica starts; every replica seeded from the same file starts
 * from the same state (docs/OPERATIONS.md, "Backup and restore").
 */
#ifndef CHUBBY_BACKUP_H
#define CHUBBY_BACKUP_H

#include <stddef.h>

#include <msgpack.h>

struct chubbyd;
struct rpc_req;

/* The SNAPSHOT handler (an rpc_handler; rpc_ops[] in rpc/rpc.c). */
int backup_rpc_snapshot(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk,
    char *msg, size_t msglen);

/* Frees the copies the master keeps (at shutdown, before the event loop
 * goes). */
void backup_shutdown(void);

/*
 * Checks backup FILE (checksum, format, the cell name against D's config,
 * the state itself) and seeds the store in D's data directory with it.
 * Refuses a store that is not empty.  Runs before replica_new(), with the
 * data directory locked.  CHUBBY_OK, or an error with the reason in ERR.
 */
int backup_restore(struct chubbyd *d, const char *file, char *err, size_t errlen);

#endif
