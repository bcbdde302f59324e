/*
 * backup.h: backups and restores of a cell's replicated state.
 *
 * Backup: the SNAPSHOT request (docs/PROTOCOL.md, "Administration"),
 * answered by the master with a consistent copy of its applied state,
 * in chunks that fit a frame.  The request's envelope (mastership,
 * principal, arguments, the reply) is the client port's (rpc/rpc_backup.c);
 * this module keeps the copies and cuts the chunks.  The master keeps the last few copies for a
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
#include <stdint.h>

struct chubbyd;

/* One chunk of a kept copy of the applied state. */
struct backup_chunk {
	uint64_t index;         /* the applied log slot the copy covers */
	uint64_t total;         /* the copy's bytes */
	uint64_t offset;        /* of DATA in the copy */
	const uint8_t *data;    /* LEN bytes, valid until the next backup call */
	size_t len;
	const uint8_t *digest;  /* SHA-256 of the whole copy, DIGEST_LEN bytes */
	size_t digest_len;
	uint64_t created_ms;    /* wall clock */
};

/*
 * SNAPSHOT's work at the master, for WHO (the superuser; checked by the
 * caller): INDEX 0 takes a new consistent copy and answers from OFFSET 0;
 * else the chunk at OFFSET of the copy at INDEX, if still kept.  At most
 * MAX bytes (0: no limit) and at most what fits a reply frame.  CHUBBY_OK,
 * or an error with the reason in MSG.
 */
int backup_chunk(struct chubbyd *d, const char *who, uint64_t index, uint64_t offset,
    uint64_t max, struct backup_chunk *out, char *msg, size_t msglen);

/* Frees the copies the master keeps (at shutdown, before the event loop
 * goes). */
/*
 * A new copy of the applied state, serialised and checksummed off the
 * event loop (in a child, server/bgsnap.h): READY is called later, never
 * within the call, with CHUBBY_OK and the copy's index (then backup_chunk
 * with that index answers from it), or an error and a message.  Returns
 * CHUBBY_OK if it started; E_NOT_MASTER, E_CORRUPT, E_UNAVAILABLE as
 * backup_chunk; E_INTERNAL if no child can be started (backup_chunk with
 * index 0 still copies in the loop).
 */
typedef void (*backup_ready_fn)(int status, const char *msg, uint64_t index, void *arg);
int backup_take_async(struct chubbyd *d, backup_ready_fn ready, void *arg, char *msg,
    size_t msglen);

void backup_shutdown(void);

/*
 * Checks backup FILE (checksum, format, the cell name against D's config,
 * the state itself) and seeds the store in D's data directory with it.
 * Refuses a store that is not empty.  Runs before replica_new(), with the
 * data directory locked.  CHUBBY_OK, or an error with the reason in ERR.
 */
int backup_restore(struct chubbyd *d, const char *file, char *err, size_t errlen);

#endif
