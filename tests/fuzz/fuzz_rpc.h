/*
 * fuzz_rpc.h: what fuzz_rpc.c (the libFuzzer target over the real request
 * handlers, server/rpc/rpc_ns.c, and the real session layer) shares with
 * fuzz_rpc_stubs.c, the link-time stand-ins for everything those call into:
 * the replica shell (a one-replica cell that applies each proposal to a real
 * namespace, or a bigger one that queues them), the RPC connection layer
 * (deferred requests, replies checked for well-formed envelopes) and the
 * clocks (advanced by the input).  Nothing here is server code.
 */
#ifndef CHUBBY_FUZZ_RPC_H
#define CHUBBY_FUZZ_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chubbyd;
struct replica;

/* The principals rpc_req_principal hands out (the client certificates'
 * names); "admin" is the cell's superuser (config_new's default). */
#define FZ_NPRINCIPALS 4
extern const char *const fz_principals[FZ_NPRINCIPALS];

/* The request the handlers see (rpc.h keeps it opaque). */
struct rpc_req {
	struct chubbyd *d;
	uint64_t id;
	uint32_t op;
	unsigned principal; /* index into fz_principals */
	/* Private to the stubs: deferred requests, not yet answered. */
	uint32_t magic;
	struct rpc_req *prev, *next;
};

/* FUZZ_RPC_TRACE set in the environment: every reply on stderr. */
extern bool fz_trace;

/* --- the clocks ------------------------------------------------------------ */

void fz_clock_reset(void);
void fz_clock_advance(uint64_t ms);

/* --- the replica ----------------------------------------------------------- */

/* A replica of a cell whose namespace is made from D->cfg, master in
 * epoch 1 with its lease, applying proposals at once. */
struct replica *fz_replica_new(struct chubbyd *d);
/* As replica_free does: what is pending fails with E_UNAVAILABLE. */
void fz_replica_free(struct replica *r);
/* Queue proposals (a cell of several replicas) instead of applying them
 * within replica_submit (a one-replica cell). */
void fz_replica_set_async(struct replica *r, bool async);
/* Applies up to N queued log entries in order (and what they propose in
 * turn, when N is SIZE_MAX). */
void fz_replica_pump(struct replica *r, size_t n);
/* The lease lapses or comes back; the role and the pending proposals stay. */
void fz_replica_set_lease(struct replica *r, bool held);
/* The role changes: pending proposals fail with E_NOT_MASTER (their log
 * entries may still be chosen and applied later, unanswered).  NEW_EPOCH:
 * master again in the next epoch; else no longer master. */
void fz_replica_role_change(struct replica *r, bool new_epoch);
/* Forgets unanswered log entries (those the role change orphaned): they
 * were never chosen. */
void fz_replica_drop_orphans(struct replica *r);
/* While held, proposals wait in the log even in a one-replica cell; on
 * release they apply (unless async). */
void fz_replica_hold(struct replica *r, bool hold);
bool fz_replica_master(const struct replica *r);

/* --- the RPC layer --------------------------------------------------------- */

/* Checks a reply the way rpc.c would send it: encodes the RES envelope
 * (exactly one result value, or nil), decodes it again, and aborts if
 * either fails.  Remembers sequencers found in successful results. */
void fz_check_reply(uint64_t id, int status, const char *msg, const void *result, size_t len);
/* If set, told of every reply after it is checked (for unit tests). */
extern void (*fz_reply_hook)(uint64_t id, int status, const void *result, size_t len);
/* Deferred requests not yet answered. */
size_t fz_outstanding(void);
/* Sequencers seen in replies (newest first), for SET/CHECK_SEQUENCER
 * requests whose "sequencer" is the placeholder "@N". */
bool fz_sequencer(unsigned n, const uint8_t **p, size_t *len);
void fz_sequencers_clear(void);

#endif
