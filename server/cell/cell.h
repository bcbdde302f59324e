/*
 * cell.h: the applied state of one replica, a pure deterministic state
 * machine over the entries the Paxos log chose: apply, snapshot, restore,
 * digest (STYLE.md, "Deterministic state machine").
 *
 * It owns the namespace (server/ns), the digest chain over every applied
 * command and a ring of (slot, digest) for the consistency check, the
 * number of commands applied, the latest master stamp, the CHECK state
 * (the namespace digest at the last check slot and the divergence verdict)
 * and the members moved through the log.  It reads no clock (times come
 * from the entries), logs nothing (reasons come back in WHY buffers for the
 * shell to log), and knows neither the store, the event loop, the peers nor
 * the session layer: what happens on apply goes out through observers.
 *
 * The log-entry command envelope and the snapshot envelope are written and
 * read here only; their layouts are in docs/FORMAT.md ("The applied state").
 *
 * Conventions: functions taking (WHY, WHYLEN) write a one-line reason there
 * when they return an error (WHY may be NULL).  Bytes handed out are
 * malloc'd and the caller frees them; bytes handed in are borrowed.
 */
#ifndef CHUBBY_CELL_H
#define CHUBBY_CELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "ns/ns.h"

/* Digests of recent slots kept for the consistency check (Paxos Made Live §5.3). */
#define CELL_DIGEST_RING 4096
/* The digest chain's start: the FNV-1a offset basis. */
#define CELL_DIGEST_INIT 1469598103934665603ull
/* A member's limits; equal to cellconfig.h's (replica.c asserts it), which
 * a pure module cannot include (it pulls in stdio). */
#define CELL_MAX_MEMBERS 7
#define CELL_MAX_MEMBER_ID 255
#define CELL_ADDR_MAX 264
/* Observers one state takes: the replica, the session layer, a simulator. */
#define CELL_MAX_OBSERVERS 4

/* The first element of every log entry. */
enum cell_cmd_type {
	CELL_CMD_NOOP = 1,   /* a barrier: proves the log moves (replica_sync) */
	CELL_CMD_CHECK = 2,  /* [at_slot, digest, ns_digest]: every replica compares its digests */
	CELL_CMD_NS = 3,     /* [ns command bytes]: one namespace command (server/ns) */
	CELL_CMD_MEMBER = 4, /* [id, client, peer, status]: replica ID now lives at these addresses */
};

/* The envelope's header: [type, stamp_ms, proposer, epoch, seq, body...]. */
struct cell_hdr {
	uint64_t stamp_ms; /* the master's clock when it proposed */
	uint64_t proposer; /* the master's replica id */
	uint64_t epoch;    /* its ballot */
	uint64_t seq;      /* its number for the command (0: nobody waits) */
};

/* A member's addresses as the log last set them (replicated state). */
struct cell_member {
	unsigned id; /* 0: slot unused */
	char client[CELL_ADDR_MAX];
	char peer[CELL_ADDR_MAX];
	char status[CELL_ADDR_MAX];
};

/* One applied entry, for the observers; valid for the call only. */
struct cell_applied {
	uint64_t slot;
	uint64_t type;       /* as in the entry: an unknown type applies as a no-op */
	struct cell_hdr hdr; /* fields that were not unsigned integers read 0 */
	/* CHUBBY_OK, or ns_apply's status for CELL_CMD_NS (CHUBBY_E_INTERNAL
	 * when the entry carried no command). */
	int status;
	const uint8_t *ns_cmd; /* CELL_CMD_NS: the namespace command, else NULL */
	size_t ns_len;
	const struct ns_result *res;      /* CELL_CMD_NS with a command: its result, else NULL */
	const struct cell_member *member; /* CELL_CMD_MEMBER, well formed: the move, else NULL */
};

/*
 * What others learn from the state.  Observers rather than results
 * returned from apply: several parties listen (the replica answers the
 * proposer, moves members in the running config; the master's session
 * layer learns what changed), and the session layer registers itself
 * without the replica calling it by name.  They are called in the order
 * they were registered, inside cell_apply / cell_restore; they must not
 * call back into the state to change it.
 */
struct cell_observer {
	/* Every decodable entry, after it took effect (undecodable ones are
	 * skipped: they have no header to answer). */
	void (*on_applied)(void *arg, const struct cell_applied *a);
	/* After a snapshot replaced the whole state (cell_restore). */
	void (*on_state_replaced)(void *arg);
	void *arg;
};

struct cell_params {
	struct ns_config ns;
	/* The master proposes a CHECK each this many slots; 0: none. */
	unsigned checksum_interval;
	/* The shell hashes the namespace for the CHECK itself, off its event
	 * loop, and gives the digest with cell_check_digest_set; until then
	 * the check slot names no digest.  false: cell_end_slot hashes. */
	bool check_digest_deferred;
};

struct cell;

/* A new empty state; NULL when the namespace settings are unusable. */
struct cell *cell_new(const struct cell_params *cfg);
void cell_free(struct cell *c);
/* Registers OBS (copied); -1 when CELL_MAX_OBSERVERS are registered. */
int cell_observe(struct cell *c, const struct cell_observer *obs);

/* What apply says about one entry. */
enum cell_outcome {
	CELL_APPLIED = 0,  /* it took effect (or was a no-op) */
	CELL_SKIPPED,      /* malformed, skipped by every replica alike: WHY says how */
	CELL_CHECK_PASSED, /* a CHECK compared both digests and they agree */
	CELL_DIVERGED,     /* a CHECK found this state differs from the master's: WHY */
};

/*
 * Applies one command of slot SLOT (the shell splits a slot's batch).  The
 * digest chain covers the bytes whether or not they decode, so replicas
 * that skip the same bad entry stay equal.  Returns an enum cell_outcome.
 */
int cell_apply(struct cell *c, uint64_t slot, const uint8_t *cmd, size_t len, char *why,
    size_t whylen);
/* Ends slot SLOT: it is applied; records its digest in the ring and, at a
 * checksum_interval multiple, the namespace digest a CHECK will name. */
void cell_end_slot(struct cell *c, uint64_t slot);

/* The envelope writers: one entry into SB (initialised by the caller). */
void cell_cmd_noop(msgpack_sbuffer *sb, const struct cell_hdr *h);
void cell_cmd_ns(msgpack_sbuffer *sb, const struct cell_hdr *h, const uint8_t *cmd, size_t len);
void cell_cmd_check(msgpack_sbuffer *sb, const struct cell_hdr *h, uint64_t at, uint64_t digest,
    uint64_t ns_digest);
void cell_cmd_member(msgpack_sbuffer *sb, const struct cell_hdr *h, unsigned id,
    const char *client, const char *peer, const char *status);

/* Which snapshot: a replica's own (with the members moved through the
 * log) or a backup (without: a cell restored from it has the members its
 * new config names). */
enum cell_snap_kind { CELL_SNAP_REPLICA, CELL_SNAP_BACKUP };

/* The one snapshot writer: the state as of the last slot ended, in *OUT
 * (malloc'd) and *LEN.  CHUBBY_OK or the namespace's error. */
int cell_snapshot(const struct cell *c, enum cell_snap_kind kind, uint8_t **out, size_t *len);

/*
 * Replaces the state with snapshot SNAP covering slot INDEX; the observers'
 * on_state_replaced follows.  A snapshot that does not read (any field of
 * the wrong type, trailing bytes, a namespace that does not load) is
 * refused with CHUBBY_E_CORRUPT and a reason, and marks this state
 * diverged: every replica made it alike, so a bad one means a bug or a
 * damaged store, and serving from a wrong state is worse than stopping.
 * CHUBBY_OK with a non-empty WHY: installed, with a warning to log.
 */
int cell_restore(struct cell *c, uint64_t index, const uint8_t *snap, size_t len, char *why,
    size_t whylen);

/* Checks that SNAP is a backup covering slot INDEX (not 0) whose namespace
 * loads under CFG, before a restore seeds a store with it.  CHUBBY_OK, or
 * CHUBBY_E_CORRUPT / CHUBBY_E_CONFIG with the reason in WHY. */
int cell_check_backup(const struct cell_params *cfg, const uint8_t *snap, size_t len,
    uint64_t index, char *why, size_t whylen);

/* The state, read. */
const struct ns *cell_ns(const struct cell *c);
uint64_t cell_applied_index(const struct cell *c); /* last slot ended or restored */
uint64_t cell_digest(const struct cell *c);        /* the chain after it */
uint64_t cell_ncommands(const struct cell *c);
uint64_t cell_last_stamp(const struct cell *c);
bool cell_diverged(const struct cell *c);
uint64_t cell_checks_passed(const struct cell *c);
/* The digest after slot SLOT if the ring still holds it. */
bool cell_ring_digest(const struct cell *c, uint64_t slot, uint64_t *digest);
/* The last checksum_interval multiple this state applied itself (0: none
 * yet, or its digest is not known yet) and the namespace digest there:
 * what a CHECK names. */
uint64_t cell_check_slot(const struct cell *c, uint64_t *ns_digest);
/* With check_digest_deferred: the check slot whose namespace digest the
 * shell is to compute (from the state as cell_end_slot left it), 0 if
 * none; and the digest, once computed.  A digest for another slot than the
 * pending one is ignored (CELL_APPLIED).  A CHECK that comes while it is
 * pending compares the log digest at once and the namespace digest when
 * the shell gives it: then this returns CELL_CHECK_PASSED or CELL_DIVERGED
 * (with WHY), as cell_apply would have. */
uint64_t cell_check_pending(const struct cell *c);
int cell_check_digest_set(struct cell *c, uint64_t slot, uint64_t ns_digest, char *why,
    size_t whylen);
/* The members moved through the log: I from 0 while it returns non-NULL. */
const struct cell_member *cell_moved(const struct cell *c, unsigned i);

#endif
