/*
 * replica.h: the shell around the Paxos core.  It feeds the core events
 * (ticks from the monotonic clock, peer messages, finished durable writes,
 * client commands) and carries out its actions: PERSIST through the store
 * (synced before anything that depends on it is sent), SEND through the peer
 * links, APPLY to the state machine, snapshots, role changes.  Client
 * commands proposed here are answered when they apply.  The applied state
 * itself (entries, digests, snapshots) is server/cell, a pure module this
 * shell feeds and observes.
 */
#ifndef CHUBBY_REPLICA_H
#define CHUBBY_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "bgsnap.h"
#include "latency.h"

struct chubbyd;
struct replica;
struct ns;
struct ns_result;

/* Called when a proposed command has been applied at this master: STATUS
 * is the namespace's answer and RES its result (NULL for a barrier); or
 * when the outcome can no longer be learned here (CHUBBY_E_NOT_MASTER:
 * mastership lost; RES NULL).  RES is valid for the call only. */
typedef void (*replica_done_fn)(int status, const struct ns_result *res, void *arg);

/* INIT: an empty data directory founds a new cell (votes from the start);
 * JOIN: it joins a running cell as a learner that takes its configuration
 * from the log (docs/PAXOS.md "Membership"); neither: a member that lost
 * its data rejoins without a vote until caught up. */
struct replica *replica_new(struct chubbyd *d, bool init, bool join, char *err, size_t errlen);
void replica_free(struct replica *r);

/*
 * Told, on the loop thread, of every namespace command applied here (before
 * its proposer hears of it; RES valid for the call only), of a state
 * replaced by a snapshot, and of every tick of its timer (at least every
 * REPLICA_TICK_MS while master and not idle, REPLICA_IDLE_WAKE_MS
 * otherwise).  The daemon registers the
 * master's session layer (server/session_shell.c): the replica calls it by
 * no name.  One observer; a member may be NULL.
 */
struct replica_observer {
	void *arg;
	void (*on_applied)(void *arg, const uint8_t *cmd, size_t len, const struct ns_result *res);
	void (*on_state_replaced)(void *arg);
	void (*on_tick)(void *arg);
	/* True when the observer has nothing timed: the master's timer then
	 * fires at least every REPLICA_IDLE_WAKE_MS, not REPLICA_TICK_MS. */
	bool (*idle)(void *arg);
};
void replica_observe(struct replica *r, const struct replica_observer *obs);

/* The replica's timer, armed for the Paxos core's next deadline, fires at
 * least this often (ms) on the master (for the session layer, unless it is
 * idle) and elsewhere (replica.c). */
#define REPLICA_TICK_MS 20
#define REPLICA_IDLE_WAKE_MS 250

/* FN (NULL: none) is told, each time the replica's timer fires, how late it
 * fired (microseconds, CLOCK_MONOTONIC): the daemon's loop-lag gauge
 * (status/looplag.h), which then needs no timer of its own. */
void replica_watch_lag(struct replica *r, void (*fn)(void *arg, uint64_t late_us), void *arg);

/* Proposes a no-op through the log and calls DONE once it is applied here:
 * everything committed before the call is then applied (a barrier). */
int replica_sync(struct replica *r, replica_done_fn done, void *arg);

/* Proposes one namespace command (ns_encode_* bytes, copied) and calls
 * DONE once it is applied here.  CHUBBY_E_NOT_MASTER, E_OVERLOAD or
 * E_CORRUPT (diverged) at once, and then DONE is never called. */
int replica_submit(struct replica *r, const uint8_t *cmd, size_t len, replica_done_fn done,
    void *arg);

/* Changes the voting configuration by one replica as master: OP is
 * PAXOS_MEMBER_ADD (as a learner, promoted by the core once caught up) or
 * PAXOS_MEMBER_REMOVE.  CHUBBY_OK once proposed; else paxos_step's refusal
 * (E_BUSY, E_UNAVAILABLE, E_INVALID) or E_NOT_MASTER. */
int replica_members(struct replica *r, int op, unsigned id);
/* Replica ID's place in the configuration after the chosen prefix: false
 * if none; else *VOTER, and *LAG the slots it is behind the master's chosen
 * index as its last lease grant said (0 for ourselves; UINT64_MAX unknown:
 * not master, or not heard from in this term). */
bool replica_member_role(const struct replica *r, unsigned id, bool *voter, uint64_t *lag);
/* A change proposed and not yet chosen, or a learner waiting for promotion. */
bool replica_conf_changing(const struct replica *r);

/* Moves replica ID to new addresses through the log (replacing a dead
 * replica by a fresh machine that keeps its id): DONE once applied here. */
int replica_move(struct replica *r, unsigned id, const char *client, const char *peer,
    const char *status, replica_done_fn done, void *arg);
/* True once the log moved this replica's id elsewhere: it is not a member. */
bool replica_replaced(const struct replica *r);

/* The applied namespace, for reads the master answers itself. */
const struct ns *replica_ns(const struct replica *r);

/* Commands this replica proposed and has no outcome of yet: the master's
 * request queue, one of the load signals of the session lease. */
size_t replica_pending(const struct replica *r);

/* True while this replica is master and holds its lease. */
bool replica_is_master(const struct replica *r);
/* The master's id as this replica knows it (0: unknown) and the epoch. */
unsigned replica_master(const struct replica *r);
uint64_t replica_epoch(const struct replica *r);

/* Packs this replica's part of STATUS (role, epoch, master, log positions,
 * lease, voter, and with STATE_DIGEST the applied namespace hashed now) as
 * map entries; returns how many it packed when PK is NULL. */
unsigned replica_status_pack(const struct replica *r, msgpack_packer *pk, bool state_digest);

/* As master: hand mastership to replica ID (0: the follower furthest
 * along); *TARGET is the one chosen.  Returns at once: the master stops
 * renewing its lease once the target has caught up, and the target takes
 * over about a lease later (docs/PAXOS.md "Hand-off").  CHUBBY_E_NOT_MASTER,
 * CHUBBY_E_INVALID (not another member) or CHUBBY_E_UNAVAILABLE (no
 * follower heard from) otherwise. */
int replica_handoff(struct replica *r, unsigned id, unsigned *target);

/* The links to the other replicas (for reloading their TLS files). */
struct peer_net *replica_peer_net(struct replica *r);

/* What the status endpoint reports about replication. */
struct replica_info {
	const char *role; /* master, follower, candidate, nonvoter, diverged */
	uint64_t epoch;
	uint64_t promised; /* the ballot promised here: rises with real elections only */
	unsigned master;
	uint64_t committed, applied;
	uint64_t lease_ms; /* left on this replica's lease view; 0 if none */
	bool voter, diverged;
	uint64_t digest;
	unsigned links_up, links_total;
	uint64_t peer_sent, peer_dropped, peer_received, peer_bad, peer_bytes_out, peer_bytes_in;
	uint64_t proposals; /* client commands this replica proposed as master */
	/* Proposal to applied at this master, for the commands it proposed. */
	struct lat_hist commit;
	/* The store's synced writes of the log (LevelDB write and fsync). */
	struct lat_hist fsync;
};
void replica_info(const struct replica *r, struct replica_info *out);
/* Commit latency of the last LAT_RING_S seconds, per second that saw a
 * commit, oldest first, into OUT (room for LAT_RING_S); returns how many. */
size_t replica_commit_recent(const struct replica *r, struct lat_point *out);
/* As master: how far replica ID has chosen, as its last lease grant said,
 * and how long ago that came.  False when not master, for ourselves, or
 * when ID has not answered since this replica became master. */
bool replica_peer_progress(const struct replica *r, unsigned id, uint64_t *chosen,
    uint64_t *ago_ms);

/* Packs a consistent copy of the applied state, in the snapshot format a
 * replica installs (server/cell, the backup kind: [applied, digest,
 * ncommands, last_stamp, namespace]; docs/FORMAT.md), for a backup: *OUT (malloc'd, the caller frees it), *LEN,
 * and *INDEX the applied slot it covers.  Only at the master holding its
 * lease: CHUBBY_E_NOT_MASTER elsewhere, CHUBBY_E_CORRUPT if diverged. */
int replica_backup(struct replica *r, uint8_t **out, size_t *len, uint64_t *index);
/* The same, serialised off the loop: WORK over the applied state in a child
 * (server/bgsnap.h), DONE later with its bytes; *INDEX the slot the copy
 * covers, *OUT the child (for bgsnap_cancel).  CHUBBY_OK, E_CORRUPT
 * (diverged), E_NOT_MASTER, E_UNAVAILABLE (nothing applied yet), or
 * E_INTERNAL when no child can be started (ERR says why; replica_backup
 * still works). */
int replica_backup_start(struct replica *r, bgsnap_work_fn work, bgsnap_done_fn done, void *arg,
    struct bgsnap **out, uint64_t *index, char *err, size_t errlen);

/* Checks that SNAP (LEN bytes) is a replica snapshot covering slot INDEX
 * whose namespace loads under D's cell config (before a restore seeds a
 * store with it).  CHUBBY_OK, or an error with the reason in ERR. */
int replica_check_snapshot(const struct chubbyd *d, const uint8_t *snap, size_t len,
    uint64_t index, char *err, size_t errlen);

#endif
