/*
 * paxos.h: the I/O-free Multi-Paxos core of chubbyd: events in, actions out.
 *
 * The core does no I/O, reads no clock and draws no randomness of its own
 * (shape after canonical/raft's struct raft_io, see STYLE.md "Pure cores").
 * A shell feeds it events with paxos_step() and carries out the actions it
 * returns, in order:
 *  - SEND: hand the message to the peer transport (may be lost: the core
 *    retransmits what matters).
 *  - PERSIST: write the items durably and sync, then feed PERSISTED(token).
 *    The core never releases a message that depends on durable state before
 *    the PERSISTED of the write that made it durable (a PROMISE or ACCEPTED
 *    leaves only after the promised ballot / accepted value is on disk).
 *    PERSISTs must complete in the order issued.
 *  - APPLY: give the chosen batch of slot `index` to the state machine; slots
 *    come in order, each exactly once per incarnation.
 *  - TAKE_SNAPSHOT: serialise the state machine as of `index` (the APPLY of
 *    `index` came before) and feed SNAPSHOT_TAKEN, now or later.
 *  - INSTALL_SNAPSHOT: replace the state machine by `value`, which covers
 *    every slot <= `index`.
 *  - ROLE: role, epoch or master changed (for logs and the RPC layer).
 * Protocol, durable state and invariants: docs/PAXOS.md.
 */
#ifndef CHUBBY_PAXOS_H
#define CHUBBY_PAXOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paxos_msg.h"

#define PAXOS_WAIT_ELECTION UINT64_MAX

struct paxos_config {
	unsigned id;       /* this replica, 1..255 */
	/* The cell's first voting members, the configuration of slot 1; the
	 * log changes it (docs/PAXOS.md "Membership").  A replica not among
	 * them starts as a learner: it votes only once the log says so. */
	unsigned nmembers; /* 1..PAXOS_MAX_MEMBERS */
	unsigned members[PAXOS_MAX_MEMBERS];
	/* A replica joining a running cell, whatever the list above says: it
	 * takes no part in elections until it has learnt the configuration
	 * from the log or a snapshot (the list may be newer than slot 1). */
	bool join;

	uint64_t lease_ms;  /* master lease, as acceptors count it */
	uint64_t drift_ppm; /* bound on clock rate error between any two replicas' clocks */
	uint64_t margin_ms; /* extra safety taken off the master's side of the lease */
	uint64_t heartbeat_ms; /* lease renewal, commit news and retransmission period */
	uint64_t election_min_ms; /* random wait before campaigning when no lease ran */
	uint64_t election_max_ms;
	/* Random wait in [0, this] after the lease we granted a master ran out
	 * (the lease already measured its silence); PAXOS_WAIT_ELECTION (the
	 * default): the election wait above. */
	uint64_t after_lease_max_ms;

	size_t batch_max_bytes;   /* commands per slot: stop adding past this many bytes */
	unsigned batch_max_count; /* ... or this many commands */
	unsigned pipeline_max;    /* slots proposed but not yet chosen */
	size_t queue_max;         /* commands waiting for a slot */
	/* PROPOSE only queues; the shell feeds FLUSH at the end of its turn, so
	 * the commands of one turn share a slot (false: propose at once). */
	bool propose_on_flush;

	uint64_t snapshot_every; /* ask for a snapshot every this many applied slots; 0: never */
	uint64_t log_keep;       /* slots kept behind a snapshot for lagging replicas */
	unsigned catchup_max;    /* chosen entries per CATCHUP message */
	size_t snapshot_chunk;   /* bytes of a snapshot per SNAPSHOT message */

	uint64_t seed; /* election timeouts come from this, not from rand() */
};

/* Fills C with defaults suited to a real cell (lease 10 s, heartbeat 2 s). */
void paxos_config_defaults(struct paxos_config *c);

/* What a replica recovered from its store at start (see docs/PAXOS.md, "Durable state"). */
struct paxos_durable {
	paxos_ballot promised;
	bool nonvoter;           /* rejoined after losing state and not voting yet */
	uint64_t snap_index;     /* 0: no snapshot */
	struct paxos_buf snap;   /* state machine bytes covering slots <= snap_index */
	struct paxos_conf snap_conf; /* the configuration after snap_index (no voters: unknown) */
	uint64_t applied;        /* state machine's own durable applied index, or 0 */
	uint64_t chosen;         /* every slot <= chosen is chosen (its entry holds the
				  * chosen value); 0: none known (PERSIST's chosen_upto) */
	size_t nentries;         /* accepted/chosen slots, any order */
	struct paxos_entry *entries;
};

/* One durable write: apply its parts in the order listed, then sync. */
struct paxos_persist {
	uint64_t token;
	bool set_promised;
	paxos_ballot promised;
	bool set_nonvoter;
	bool nonvoter;
	bool set_snapshot;
	uint64_t snap_index;
	struct paxos_buf snap;
	struct paxos_conf snap_conf; /* with the snapshot: the configuration after
				      * snap_index (no voters: unknown), kept with it */
	uint64_t truncate_upto; /* if not 0: delete entries with slot <= this (TRUNCATE_LOG) */
	size_t nentries;        /* then upsert these slots */
	struct paxos_entry *entries;
	/* Then, if not 0: every slot <= this is chosen, and its entry (on disk
	 * or above) holds the chosen value.  A hint for restarts only: the core
	 * never waits for it, and a store that loses it (it rides on writes
	 * that are synced for other reasons) re-learns chosen-ness from the
	 * master's commit news or Phase 1. */
	uint64_t chosen_upto;
};

enum paxos_event_type {
	PAXOS_EV_START = 1,    /* durable (may be NULL: empty store), state_lost */
	PAXOS_EV_TICK,         /* time passes: at paxos_next_deadline(), or more often */
	PAXOS_EV_RECEIVE,      /* msg */
	PAXOS_EV_PERSISTED,    /* token */
	PAXOS_EV_PROPOSE,      /* data, len: one client command */
	PAXOS_EV_SNAPSHOT_TAKEN, /* index, data, len */
	PAXOS_EV_FLUSH,        /* end of the shell's turn: propose what PROPOSE queued */
	/* Master only: hand mastership to replica `index` (0: the follower
	 * furthest along), docs/PAXOS.md "Hand-off". */
	PAXOS_EV_HANDOFF,
	/* Master only: change the membership by one replica, `index` the id,
	 * `token` a PAXOS_MEMBER_* (docs/PAXOS.md "Membership"). */
	PAXOS_EV_MEMBERS,
};

enum paxos_member_op {
	/* Adds the replica as a learner; the master makes it a voter by itself
	 * once its log is within catchup_max slots of the master's. */
	PAXOS_MEMBER_ADD = 1,
	/* Removes a voter (the master itself too: it steps down once the change
	 * is chosen) or a learner not yet promoted. */
	PAXOS_MEMBER_REMOVE,
};

struct paxos_event {
	enum paxos_event_type type;
	uint64_t now; /* the shell's monotonic clock, ms; every event carries it */
	const struct paxos_msg *msg;
	uint64_t token;
	uint64_t index;
	const void *data;
	size_t len;
	const struct paxos_durable *durable;
	/* START: the store was wiped or found corrupt although this replica was
	 * a member; it must not vote until caught up (Paxos Made Live §5.1). */
	bool state_lost;
};

enum paxos_role {
	PAXOS_FOLLOWER = 0,
	PAXOS_CANDIDATE,
	PAXOS_MASTER,
};

enum paxos_action_type {
	PAXOS_ACT_SEND = 1,
	PAXOS_ACT_PERSIST,
	PAXOS_ACT_APPLY,
	PAXOS_ACT_ROLE,
	PAXOS_ACT_TAKE_SNAPSHOT,
	PAXOS_ACT_INSTALL_SNAPSHOT,
};

struct paxos_action {
	enum paxos_action_type type;
	struct paxos_msg msg;         /* SEND; msg.to is the destination */
	struct paxos_persist persist; /* PERSIST */
	uint64_t index;               /* APPLY: slot; *_SNAPSHOT: index */
	struct paxos_buf value;       /* APPLY: batch; INSTALL_SNAPSHOT: bytes */
	enum paxos_role role;         /* ROLE */
	paxos_ballot epoch;
	unsigned master; /* 0: unknown */
};

/* Owned by the caller; paxos_step() appends, paxos_actions_clear() frees the contents. */
struct paxos_actions {
	struct paxos_action *v;
	size_t n;
	size_t cap;
};

void paxos_actions_init(struct paxos_actions *);
void paxos_actions_clear(struct paxos_actions *);
void paxos_actions_free(struct paxos_actions *);
void paxos_persist_free(struct paxos_persist *);

struct paxos;

/* Returns NULL if the config is invalid.  Nothing happens before START. */
struct paxos *paxos_new(const struct paxos_config *);
void paxos_free(struct paxos *);

/*
 * Feeds one event and appends the resulting actions to OUT.  Returns
 * CHUBBY_OK, CHUBBY_E_NOT_MASTER (PROPOSE or HANDOFF when not master),
 * CHUBBY_E_OVERLOAD (PROPOSE with a full queue), CHUBBY_E_UNAVAILABLE
 * (HANDOFF with no follower heard from) or CHUBBY_E_INVALID (HANDOFF to a
 * replica that is not another member, among others).  MEMBERS: CHUBBY_OK
 * once the change is proposed; CHUBBY_E_BUSY while another change is in
 * flight (a learner not yet promoted counts); CHUBBY_E_UNAVAILABLE while
 * the master has no lease granted under the current configuration (ask
 * again in a heartbeat); CHUBBY_E_INVALID for an id that is already a
 * member (ADD), not one (REMOVE), the last voter, or a full cell.
 */
int paxos_step(struct paxos *, const struct paxos_event *, struct paxos_actions *out);

/* True while this replica may act as master at local time NOW: it won Phase
 * 1, its first own-ballot slot is applied and its lease has not run out. */
bool paxos_is_master_with_lease(const struct paxos *, uint64_t now);
uint64_t paxos_lease_expiry(const struct paxos *); /* local ms; 0 if none */
/* The earliest local time (ms) at which a TICK has work, or at which the
 * master's lease runs out; PAXOS_NO_DEADLINE if none.  A tick before it
 * does nothing: a shell may arm one timer for it instead of ticking, and
 * recompute it after every event it feeds (any event may move it). */
#define PAXOS_NO_DEADLINE UINT64_MAX
uint64_t paxos_next_deadline(const struct paxos *);
enum paxos_role paxos_role(const struct paxos *);
paxos_ballot paxos_epoch(const struct paxos *); /* ballot of the master followed */
unsigned paxos_master(const struct paxos *);    /* 0: unknown */
paxos_ballot paxos_promised(const struct paxos *);
uint64_t paxos_chosen_index(const struct paxos *);
uint64_t paxos_applied_index(const struct paxos *);
bool paxos_is_voter(const struct paxos *);
/* The configuration after the chosen prefix of the log. */
const struct paxos_conf *paxos_conf(const struct paxos *);
/* A change proposed and not yet chosen, or a learner not yet promoted. */
bool paxos_conf_changing(const struct paxos *);
/* As master: member ID's chosen index as its last lease grant said, and
 * when (the local time of the event that brought it).  False when not
 * master, for ourselves, or when ID has not answered in this term. */
bool paxos_peer_progress(const struct paxos *, unsigned id, uint64_t *chosen, uint64_t *heard);
/* The replica a hand-off goes to while the master hands off; 0 if none. */
unsigned paxos_handoff_target(const struct paxos *);
const char *paxos_role_name(enum paxos_role);

#endif
