/*
 * paxos_msg.h: the messages replicas exchange for Multi-Paxos, master leases
 * and catch-up, as plain C structs (the wire encoding lives elsewhere).
 *
 * Ownership, stated once: a struct paxos_buf, paxos_entry or paxos_msg owns
 * the memory it points to.  paxos_*_copy() makes a deep copy the caller owns;
 * paxos_*_free() frees what the struct points to (not the struct itself) and
 * leaves it empty.  Anything the core receives is borrowed: the core copies
 * what it keeps.
 */
#ifndef CHUBBY_PAXOS_MSG_H
#define CHUBBY_PAXOS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A ballot is (round << 8) | replica id: totally ordered, and unique per
 * replica because only replica id ever uses its own low byte (Paxos Made
 * Simple §2.2: "different proposers choose their numbers from disjoint sets").
 * 0 is "no ballot".  The master's ballot is the cell's epoch.
 */
typedef uint64_t paxos_ballot;
#define PAXOS_BALLOT(round, id) (((uint64_t)(round) << 8) | ((uint64_t)(id)&0xff))
#define PAXOS_BALLOT_ROUND(b) ((uint64_t)(b) >> 8)
#define PAXOS_BALLOT_ID(b) ((unsigned)((b)&0xff))

/* A byte string; data is NULL when len is 0. */
struct paxos_buf {
	uint8_t *data;
	size_t len;
};

/* One log slot as an acceptor holds it: the value it accepted last and the
 * ballot it accepted it in; chosen once it knows a majority accepted it. */
struct paxos_entry {
	uint64_t slot;
	paxos_ballot ballot;
	bool chosen;
	struct paxos_buf value;
};

enum paxos_msg_type {
	/* Phase 1 (Paxos Made Simple §2.2), for every slot from `slot` on at once
	 * (Multi-Paxos, Paxos Made Simple §3). */
	PAXOS_MSG_PREPARE = 1, /* ballot, slot = first slot the proposer lacks */
	PAXOS_MSG_PROMISE,     /* ballot, entries = accepted slots >= that slot,
				  commit = acceptor's chosen index,
				  trunc = acceptor's log is truncated up to here */
	/* Phase 2. */
	PAXOS_MSG_ACCEPT,   /* ballot, entries (value to accept), commit */
	PAXOS_MSG_ACCEPTED, /* ballot, slot */
	/* Either phase: the ballot is lower than what the acceptor promised. */
	PAXOS_MSG_REJECT, /* ballot (the one refused), promised */
	/* Master leases and commit news (Paxos Made Live §5.2, Chubby §2.2). */
	PAXOS_MSG_HEARTBEAT,     /* ballot, seq, commit, next_slot */
	PAXOS_MSG_HEARTBEAT_ACK, /* ballot, seq: lease granted for this request;
				    commit = acceptor's chosen index (for hand-off) */
	/* Catch-up of lagging replicas (Paxos Made Live §4.1, §5.5). */
	PAXOS_MSG_CATCHUP_REQ, /* slot = first chosen slot wanted */
	PAXOS_MSG_CATCHUP,     /* entries (all chosen), commit */
	PAXOS_MSG_SNAPSHOT,    /* slot = index the snapshot covers, data */
	/* Pre-vote (Raft's, in Paxos terms): "would you promise ballot b?"
	 * Nobody changes durable state; a candidate raises its ballot only
	 * after a majority said yes (docs/PAXOS.md "Election"). */
	PAXOS_MSG_PRE_PREPARE, /* ballot = b, seq = attempt, slot = first slot the
				  candidate lacks */
	PAXOS_MSG_PRE_PROMISE, /* ballot = b, seq = attempt, slot = 1 if it would
				  promise b, commit = ms its lease or restart quiet
				  period still runs, promised, trunc */
	/* Hand-off (Raft's TimeoutNow): the master at `ballot` stops renewing its
	 * lease for `slot`, the replica it hands over to: that one campaigns
	 * as soon as its grant runs out, the others hold back a while. */
	PAXOS_MSG_TIMEOUT_NOW, /* ballot = master's, slot = the target's id */
};
#define PAXOS_MSG_MAX PAXOS_MSG_TIMEOUT_NOW

struct paxos_msg {
	enum paxos_msg_type type;
	unsigned from; /* replica ids */
	unsigned to;
	paxos_ballot ballot;
	uint64_t slot;
	uint64_t seq;
	uint64_t commit;    /* sender's chosen index: every slot <= it is chosen */
	uint64_t next_slot; /* HEARTBEAT: first slot the master has not proposed */
	uint64_t trunc;     /* PROMISE: sender dropped slots <= trunc from its log */
	paxos_ballot promised;
	size_t nentries;
	struct paxos_entry *entries;
	struct paxos_buf data;
};

void paxos_buf_set(struct paxos_buf *, const void *, size_t);
void paxos_buf_copy(struct paxos_buf *dst, const struct paxos_buf *src);
void paxos_buf_free(struct paxos_buf *);
bool paxos_buf_equal(const struct paxos_buf *, const struct paxos_buf *);

void paxos_entry_copy(struct paxos_entry *dst, const struct paxos_entry *src);
void paxos_entry_free(struct paxos_entry *);

void paxos_msg_copy(struct paxos_msg *dst, const struct paxos_msg *src);
void paxos_msg_free(struct paxos_msg *);
/* Appends a deep copy of ENTRY to M's entries. */
void paxos_msg_add_entry(struct paxos_msg *m, const struct paxos_entry *entry);
const char *paxos_msg_type_name(enum paxos_msg_type);

/*
 * A slot's value is a batch of client commands (Paxos Made Live §5.1:
 * "several client requests in one Paxos instance"): a 4-byte little-endian
 * count, then each command as a 4-byte little-endian length and its bytes.
 * An empty batch (count 0) is the no-op a new master uses to fill gaps.
 */
void paxos_batch_init(struct paxos_buf *);
void paxos_batch_append(struct paxos_buf *, const void *cmd, size_t len);
uint32_t paxos_batch_count(const struct paxos_buf *);
/* Iterates: *off starts at 0; false at the end or on a malformed batch. */
bool paxos_batch_next(const struct paxos_buf *, size_t *off, const uint8_t **cmd,
    size_t *len);

/*
 * A configuration value (docs/PAXOS.md "Membership"): a slot whose value is
 * this instead of a batch changes the voting members for every later slot.
 * It holds the whole new configuration, not a delta, so a replica that
 * learns it knows the configuration whatever it believed before.  Encoding:
 * the 4 bytes ff ff ff ff (no batch has that many commands), the number of
 * voters, their ids, the number of learners, their ids (one byte each).
 * Learners receive the log and answer as acceptors, but count for no
 * majority; the master promotes one to voter once it has caught up.
 */
#define PAXOS_MAX_MEMBERS 7
struct paxos_conf {
	unsigned nvoters; /* 1..PAXOS_MAX_MEMBERS */
	unsigned voters[PAXOS_MAX_MEMBERS];
	unsigned nlearners; /* 0..PAXOS_MAX_MEMBERS */
	unsigned learners[PAXOS_MAX_MEMBERS];
};
void paxos_conf_encode(const struct paxos_conf *, struct paxos_buf *out);
/* True if V is a configuration value, and then C is what it holds; a
 * malformed one (ids 0 or twice, no voter, too many) gives C with no
 * voters, which the core never proposes and takes as no change. */
bool paxos_conf_decode(const struct paxos_buf *v, struct paxos_conf *c);
bool paxos_conf_has_voter(const struct paxos_conf *, unsigned id);
bool paxos_conf_has_learner(const struct paxos_conf *, unsigned id);

#endif
