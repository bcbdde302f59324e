/*
 * cevids.h: the client's side of event ids (docs/PROTOCOL.md "Event ids and
 * ev_ack"): the highest event id delivered in the master epoch the client
 * knows, so that events a master sends again after a lost KeepAlive reply
 * reach the application once, and the ev_ack each KeepAlive carries.
 *
 * A pure core (tests/check-pure.sh): state in, answers out, nothing else.
 * libchubby's loop and the whole-cell simulator's client both use it.
 */
#ifndef CHUBBY_CEVIDS_H
#define CHUBBY_CEVIDS_H

#include <stdbool.h>
#include <stdint.h>

struct cevids {
	uint64_t epoch; /* the epoch HIGH counts in (0: none yet) */
	uint64_t high;  /* the highest id delivered in it */
};

/* Forgets everything (a new session). */
void cevids_reset(struct cevids *v);

/* The ev_ack for a KeepAlive of EPOCH: HIGH if it is the epoch the ids
 * came from, else 0 (ids of another master's epoch mean nothing here). */
uint64_t cevids_ack(const struct cevids *v, uint64_t epoch);

/* A KeepAlive reply of EPOCH carried an event with id ID (HAS_ID false: a
 * master before event ids): whether to deliver it.  A newer epoch starts
 * the count again; an id not above the highest delivered is a copy sent
 * again; a late reply of an older epoch is delivered and counts nowhere. */
bool cevids_accept(struct cevids *v, uint64_t epoch, bool has_id, uint64_t id);

#endif
