/*
 * fuzz_rpc.h: what fuzz_rpc.c (the libFuzzer target over Chubby's calls:
 * the wire codec server/rpc/ns_wire.c, the request layer server/svc and
 * the session layer server/session, all real) shares with fuzz_rpc_env.c,
 * the fuzzer's own environment for those pure layers: a cell (a log that
 * applies to a real namespace, at once as in a one-replica cell or when
 * the input says so), the requests it keeps (deferred, checked to be
 * answered exactly once, every reply encoded and decoded as rpc.c would
 * send it) and a clock the input advances.  No link-time stand-ins: the
 * layers reach all of it through the environments they are given.
 */
#ifndef CHUBBY_FUZZ_RPC_H
#define CHUBBY_FUZZ_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "session/session.h"

struct cell_config;
struct ns;
struct svc;

/* The principals of the clients' certificates; "admin" is the cell's
 * superuser (config_new's default). */
#define FZ_NPRINCIPALS 4
extern const char *const fz_principals[FZ_NPRINCIPALS];

/* FUZZ_RPC_TRACE set in the environment: every reply on stderr. */
extern bool fz_trace;

/* One request; the layers see it as an opaque token.  A request kept past
 * its call is a heap copy on the outstanding list (MAGIC set). */
struct fz_req {
	uint64_t id;
	unsigned principal; /* index into fz_principals */
	bool answered;      /* within its call */
	bool kept;          /* a copy was kept past it */
	uint32_t magic;
	struct fz_req *prev, *next;
};

/* Proposals the log queues before it says E_OVERLOAD. */
#define FZ_QUEUE_MAX 48

struct fz_entry {
	uint8_t *cmd;
	size_t len;
	session_done_fn done; /* NULL: nobody waits (failed at a role change) */
	void *arg;
	struct fz_entry *next;
};

/* Replica 1 of a cell of three, its session layer and request layer. */
struct fz_cell {
	const struct cell_config *cfg;
	struct ns *ns;
	struct session_mgr *sm;
	struct svc *svc;
	const uint8_t *key; /* the sequencer key (NULL: none) */
	size_t keylen;
	bool role_master; /* this replica is the master of EPOCH */
	bool lease;       /* ... and holds its lease */
	uint64_t epoch;
	unsigned master; /* as this replica knows it; 0: unknown */
	bool async;      /* a bigger cell: proposals wait for the input */
	bool hold;       /* proposals wait while held */
	int stepping;
	struct fz_entry *head, *tail;
	size_t nqueued;
};

/* --- the clock ------------------------------------------------------------- */

void fz_clock_reset(void);
void fz_clock_advance(uint64_t ms);
struct session_now fz_now(void);

/* --- the cell -------------------------------------------------------------- */

/* Master in epoch 1 with its lease, applying proposals at once. */
void fz_cell_init(struct fz_cell *c, const struct cell_config *cfg, const uint8_t *key,
    size_t keylen);
/* As chubbyd exits: the replica first (pending proposals fail with
 * E_UNAVAILABLE), then the session layer, then the request layer. */
void fz_cell_free(struct fz_cell *c);
/* Applies up to N queued log entries in order (and what they propose in
 * turn, when N is SIZE_MAX): the observer (the session layer) first, then
 * the proposer, as replica.c does. */
void fz_cell_pump(struct fz_cell *c, size_t n);
/* The lease lapses or comes back; the role and the pending proposals stay. */
void fz_cell_set_lease(struct fz_cell *c, bool held);
/* The role changes: pending proposals fail with E_NOT_MASTER (their log
 * entries may still be chosen and applied later, unanswered).  NEW_EPOCH:
 * master again in the next epoch; else no longer master. */
void fz_cell_role_change(struct fz_cell *c, bool new_epoch);
/* Forgets unanswered log entries (those a role change orphaned). */
void fz_cell_drop_orphans(struct fz_cell *c);
/* While held, proposals wait in the log even in a one-replica cell; on
 * release they apply (unless async). */
void fz_cell_hold(struct fz_cell *c, bool hold);
bool fz_cell_is_master(const struct fz_cell *c);

/* --- requests -------------------------------------------------------------- */

/* One of Chubby's calls (PROTO_OP_* OP with ARGS) from client PRINCIPAL,
 * decoded and served as rpc_ns.c does; false if OP is not one. */
bool fz_call(struct fz_cell *c, uint64_t id, unsigned principal, uint32_t op,
    const msgpack_object *args);
/* Checks a reply the way rpc.c would send it: encodes the RES envelope
 * (exactly one result value, or nil), decodes it again, and aborts if
 * either fails.  Remembers sequencers found in successful results. */
void fz_check_reply(uint64_t id, int status, const char *msg, const void *result, size_t len);
/* Requests kept and not yet answered. */
size_t fz_outstanding(void);
/* Sequencers seen in replies (newest first), for SET/CHECK_SEQUENCER
 * requests whose "sequencer" is the placeholder "@N". */
bool fz_sequencer(unsigned n, const uint8_t **p, size_t *len);
void fz_sequencers_clear(void);

#endif
