/*
 * backup_file.h: the backup file format, shared by lockctl (which writes and
 * verifies backups) and chubbyd (which restores a new cell from one).
 *
 * A backup file is a header and a body (docs/OPERATIONS.md, "Backup file"):
 *
 *   magic     8 bytes  "CHUBBYBK"
 *   version   u32      BACKUP_FILE_VERSION
 *   flags     u32      0 (readers refuse other values)
 *   index     u64      the applied log index the state covers
 *   created   u64      when the master took it, ms since the Unix epoch
 *   length    u64      bytes of the body
 *   cell_len  u16      then the cell's name, cell_len bytes
 *   sha256    32 bytes SHA-256 over every header byte before it and the body
 *
 * integers big-endian.  The body is the snapshot format of server/cell
 * ([applied, digest, ncommands, last_stamp, namespace bytes] as msgpack, the
 * backup kind: docs/FORMAT.md, "Snapshots"), exactly as the master packed
 * it: a restore seeds every replica's store with it as a Paxos snapshot at
 * INDEX.
 *
 * Functions return a chubby status and, on failure, a one-line message in
 * ERR: CHUBBY_E_IO (cannot read or write), CHUBBY_E_CORRUPT (not a backup,
 * truncated, or the checksum does not match), CHUBBY_E_UNSUPPORTED (a newer
 * version).
 */
#ifndef CHUBBY_BACKUP_FILE_H
#define CHUBBY_BACKUP_FILE_H

#include <stddef.h>
#include <stdint.h>

#define BACKUP_FILE_MAGIC "CHUBBYBK"
#define BACKUP_FILE_VERSION 1
#define BACKUP_SHA256_LEN 32
/* Longest cell name a backup holds (the store's limit too). */
#define BACKUP_CELL_MAX 255

struct backup_info {
	char cell[BACKUP_CELL_MAX + 1];
	uint64_t index;
	uint64_t created_ms;
	uint64_t length;
	uint8_t sha256[BACKUP_SHA256_LEN]; /* the file's checksum (header and body) */
};

/* SHA-256 of N bytes at P into OUT. */
void backup_sha256(const void *p, size_t n, uint8_t out[BACKUP_SHA256_LEN]);

/*
 * Writes BODY (LEN bytes) with a header from INFO's cell, index and
 * created_ms to PATH atomically: a temporary file beside it, fsync, rename,
 * fsync of the directory.  Fills INFO's length and sha256.
 */
int backup_file_write(const char *path, struct backup_info *info, const uint8_t *body,
    size_t len, char *err, size_t errlen);

/*
 * Reads PATH and checks magic, version, lengths and checksum.  On success
 * fills INFO and, if BODY is not NULL, hands over the body in *BODY
 * (malloc'd, the caller frees it) and *LEN.
 */
int backup_file_read(const char *path, struct backup_info *info, uint8_t **body, size_t *len,
    char *err, size_t errlen);

#endif
