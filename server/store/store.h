/*
 * store.h: chubbyd's durable store, a thin typed adapter over LevelDB.
 *
 * It keeps three things in one LevelDB directory (layout: docs/FORMAT.md):
 * the replica's identity, the Paxos core's durable state (promised ballot,
 * non-voter flag, snapshot, log), and the applied state of the replicated
 * state machine ("sm") with its applied index.
 *
 * Conventions, stated once:
 *  - Functions that can fail return a chubby status (CHUBBY_OK on success)
 *    and, on failure, write a one-line message with its context into ERR
 *    (ERRLEN bytes, always NUL-terminated; ERR may be NULL if ERRLEN is 0).
 *    CHUBBY_E_CORRUPT means a checksum or record did not verify (ours or
 *    LevelDB's); the message names the record.  CHUBBY_E_STORE is any other
 *    LevelDB failure, with LevelDB's own message.
 *  - Every record read is checked against the CRC32C stored with it.
 *  - Writes that say "synced" are on disk before the call returns: nothing
 *    that depends on them may leave the process earlier.
 *  - Memory the store hands out is the caller's, freed as each prototype
 *    says; pointers into an iterator are borrowed until its next step.
 *  - A store is used by one thread at a time.
 */
#ifndef CHUBBY_STORE_H
#define CHUBBY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paxos/paxos.h"

/* The on-disk format this code reads and writes (docs/FORMAT.md, "Versions"). */
#define STORE_FORMAT_VERSION 2
/* Longest cell name the meta record holds, in bytes. */
#define STORE_CELL_MAX 255

struct store;

/*
 * Opens (creating if missing) the store in directory DIR.  Fails with
 * CHUBBY_E_STORE if another process (or this one) has it open, if it was
 * written in another format version, or on any LevelDB error;
 * CHUBBY_E_CORRUPT if LevelDB reports corruption, the meta record fails its
 * checks, or there are records but no meta record.
 * *OUT is the caller's, closed with store_close().
 */
int store_open(const char *dir, struct store **out, char *err, size_t errlen);
/* Closes and frees; NULL is allowed. */
void store_close(struct store *);

/* ---- identity --------------------------------------------------------- */

struct store_identity {
	bool initialized; /* a meta record exists: false for a new or wiped directory */
	uint32_t format;  /* STORE_FORMAT_VERSION when initialized */
	unsigned id;      /* replica id, 1..255 */
	bool founder;     /* initialized by chubbyd --init, a voter from the start */
	bool joiner;      /* initialized by chubbyd --join: slot 1's configuration unknown */
	char cell[STORE_CELL_MAX + 1];
};

/* Fills OUT from the meta record read at open (all zero if there is none). */
void store_identity(const struct store *, struct store_identity *out);

/*
 * Writes the meta record for replica ID of CELL, synced.  VOTER is true for
 * a founding member (chubbyd --init); false for a member whose data was lost,
 * in which case the Paxos non-voter flag is set in the same write, so that a
 * crash right after cannot leave a replica that votes with forgotten
 * promises.  CHUBBY_E_INVALID if the store is already initialized or the
 * arguments are out of range.
 */
int store_init(struct store *, const char *cell, unsigned id, bool voter, char *err,
    size_t errlen);
/* As store_init for a replica joining a running cell (chubbyd --join): not
 * a voter, and marked a joiner, for good: it never knew slot 1's
 * configuration, so every start takes the configuration from the log or a
 * snapshot (paxos_config.join). */
int store_init_joiner(struct store *, const char *cell, unsigned id, char *err, size_t errlen);
/* Records C as the configuration of slot 1 (the snapshot's configuration
 * with no snapshot yet), synced: a founder's first voters, kept so that
 * the config file's replica lines may grow into an address book without
 * changing what slot 1 was.  CHUBBY_E_EXISTS if a configuration or a
 * snapshot is already there. */
int store_set_first_conf(struct store *, const struct paxos_conf *c, char *err, size_t errlen);

/*
 * Checks that the store belongs to replica ID of CELL: CHUBBY_OK if so,
 * CHUBBY_E_NOT_FOUND if it is not initialized, CHUBBY_E_CONFIG (message
 * naming both identities) if it belongs to another cell or replica.
 */
int store_check_identity(const struct store *, const char *cell, unsigned id, char *err,
    size_t errlen);

/* ---- Paxos durable state ---------------------------------------------- */

/*
 * Loads what the Paxos core needs at START into *OUT (entries in slot order;
 * applied is the state machine's durable applied index).  Free it with
 * store_paxos_durable_free(), on failure too.
 */
int store_load_paxos(struct store *, struct paxos_durable *out, char *err, size_t errlen);
void store_paxos_durable_free(struct paxos_durable *);

/*
 * Makes one PERSIST action durable: a single synced write batch holding, in
 * the order paxos.h lists, the promised ballot, the non-voter flag, the
 * snapshot, the deletion of log entries with slot <= truncate_upto and the
 * upserted entries.  All of it lands or none of it.
 */
int store_persist(struct store *, const struct paxos_persist *, char *err, size_t errlen);
/*
 * Makes N PERSIST actions durable in one synced write batch (group commit),
 * with the effect of applying them in order: the last promise, non-voter
 * flag and snapshot, the highest truncation and chosen index, and every
 * entry not truncated by a later one of them.  All of it lands or none.
 */
int store_persist_group(struct store *, const struct paxos_persist *const *, size_t n,
    char *err, size_t errlen);
/* How long the last synced write took, in microseconds (LevelDB's write
 * and its fsync), for the fsync latency histogram; 0 before any.  For the
 * thread that made the write: the store is not shared while it writes. */
uint64_t store_last_sync_us(const struct store *);

/* ---- state machine ---------------------------------------------------- */

/* Changes to the state machine's keys staged for one write. */
struct store_batch;

struct store_batch *store_batch_new(void);
void store_batch_free(struct store_batch *); /* NULL is allowed */
/* Forgets what was staged, keeping the batch for reuse. */
void store_batch_clear(struct store_batch *);
/* Stages a put or a delete; the batch copies KEY and VAL. */
void store_sm_put(struct store_batch *, const void *key, size_t klen, const void *val,
    size_t vlen);
void store_sm_del(struct store_batch *, const void *key, size_t klen);

/*
 * Writes the staged changes and APPLIED as the state machine's applied index
 * in one write batch, synced if SYNC, then clears the batch (kept as it was
 * on CHUBBY_E_INVALID: APPLIED below the stored applied index, or no
 * identity yet).  Either the whole batch survives a crash or none of it.
 * Unsynced (SYNC false), it survives the process dying but not necessarily
 * the machine: and after a power loss LevelDB does not promise that it was
 * lost only together with every later write (docs/FORMAT.md, "What is
 * synced when"), so pass SYNC false only for state that can be rebuilt.
 */
int store_sm_commit(struct store *, struct store_batch *, uint64_t applied, bool sync,
    char *err, size_t errlen);

/*
 * Replaces the whole state machine by the puts staged in B, with applied
 * index APPLIED, in one synced write (INSTALL_SNAPSHOT); then clears B.
 */
int store_sm_replace(struct store *, struct store_batch *, uint64_t applied, char *err,
    size_t errlen);

/* The applied index of the last commit or replace (0: none). */
uint64_t store_sm_applied(const struct store *);

/*
 * Reads the committed value of KEY into *VAL (malloc'd, never NULL, the
 * caller frees it with free()) and *VLEN.  CHUBBY_E_NOT_FOUND if absent.
 */
int store_sm_get(struct store *, const void *key, size_t klen, void **val, size_t *vlen,
    char *err, size_t errlen);

/*
 * Iterates over the committed keys starting with PREFIX (PLEN may be 0:
 * every key), in byte order, as of the moment of store_sm_iter_new(): later
 * commits are not seen, so a snapshot built from it is consistent.
 */
struct store_iter;

struct store_iter *store_sm_iter_new(struct store *, const void *prefix, size_t plen);
/*
 * Steps to the next record; false at the end or on an error (see
 * store_sm_iter_status).  KEY and VAL point into the iterator, valid until
 * the next call.
 */
bool store_sm_iter_next(struct store_iter *, const void **key, size_t *klen, const void **val,
    size_t *vlen);
/* CHUBBY_OK if the iteration ended cleanly, else why it stopped. */
int store_sm_iter_status(const struct store_iter *, char *err, size_t errlen);
void store_sm_iter_free(struct store_iter *); /* NULL is allowed */

/* ---- integrity and metrics -------------------------------------------- */

/*
 * Reads every record, checking LevelDB's block checksums, each record's
 * CRC32C, its key's shape and its value's length (run at start-up).
 */
int store_verify(struct store *, char *err, size_t errlen);

struct store_stats {
	uint64_t log_entries; /* Paxos log entries on disk */
	uint64_t log_first;   /* lowest and highest slot on disk; 0 if none */
	uint64_t log_last;
	uint64_t sm_applied;
	/* LevelDB's estimates of the bytes on disk for each part. */
	uint64_t bytes_log;
	uint64_t bytes_sm;
	uint64_t bytes_total;
};

void store_stats(struct store *, struct store_stats *out);

/* CRC32C (Castagnoli) of N bytes at P, continuing from CRC (0 to start). */
uint32_t store_crc32c(uint32_t crc, const void *p, size_t n);

/*
 * Tests and repair tools only: put or get a record exactly as LevelDB holds
 * it (the value including its CRC trailer), bypassing every check.  The put
 * is synced; the get gives a malloc'd copy the caller frees.
 */
int store_raw_put(struct store *, const void *key, size_t klen, const void *val, size_t vlen,
    char *err, size_t errlen);
int store_raw_get(struct store *, const void *key, size_t klen, void **val, size_t *vlen,
    char *err, size_t errlen);

#endif
