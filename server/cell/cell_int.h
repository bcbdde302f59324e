/* cell_int.h: the applied state's internals, shared by cell.c and cell_codec.c. */
#ifndef CHUBBY_CELL_INT_H
#define CHUBBY_CELL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "cell.h"

struct cell {
	struct cell_params cfg;
	struct ns *ns;
	struct cell_observer obs[CELL_MAX_OBSERVERS];
	unsigned nobs;
	uint64_t applied;    /* last slot applied */
	uint64_t digest;     /* FNV-1a chain over every applied command */
	uint64_t ncommands;  /* commands applied */
	uint64_t last_stamp; /* the latest master time stamped into an entry */
	uint64_t max_epoch;  /* the highest proposer epoch of an applied entry */
	uint64_t ring_slot[CELL_DIGEST_RING];
	uint64_t ring_digest[CELL_DIGEST_RING];
	/* ns_digest() at the slots a consistency check may name (every
	 * checksum_interval): the state itself, not just the commands. */
	uint64_t check_slot, check_ns_digest;
	bool check_pending; /* check_ns_digest not known yet (the shell hashes) */
	bool check_want_set; /* a CHECK for check_slot came while pending: */
	uint64_t check_want;  /* the master's namespace digest, compared when ours comes */
	uint64_t check_master;
	uint64_t checks_passed; /* consistency checks that compared both digests and agreed */
	bool diverged;
	struct cell_member moved[CELL_MAX_MEMBERS]; /* members moved through the log */
};

bool cell_member_fields(const msgpack_object *o, struct cell_member *m);
void cell_move_member(struct cell *c, const struct cell_member *m);
void cell_tell_replaced(const struct cell *c);

#endif
