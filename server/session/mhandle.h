/*
 * mhandle.h: handles kept in the master's memory (Chubby §2.9; docs/
 * SESSIONS.md "Handles in memory").  A read-only OPEN that creates nothing
 * costs no log write: the master notes {session, id, name, node instance,
 * open flags} here and answers reads through it from the applied
 * namespace; its CLOSE forgets it.  A new master starts with an empty
 * table and re-creates a handle when a client's call on it carries what
 * re-creation needs (server/svc checks it against the replicated state).
 *
 * Ids: bit 63 set (the namespace's log-assigned ids count up from 1 and
 * never reach it), the master's epoch's low 31 bits above a 32-bit
 * counter: a later master (another ballot) cannot hand out an id a client
 * still holds from an earlier one.
 *
 * A pure core (tests/check-pure.sh): no clock, no I/O.
 */
#ifndef CHUBBY_MHANDLE_H
#define CHUBBY_MHANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MH_ID_BIT (1ULL << 63)

struct mh_table;

struct mhandle {
	uint64_t session;
	uint64_t id;
	char *path;
	uint64_t instance; /* the node the handle opened */
	uint32_t flags;    /* NS_O_* */
	uint32_t events;   /* NS_EV_* it asked for (mh_set_events) */
	bool poisoned;
	uint64_t rid;      /* the OPEN's request id (0: none), for its copies */
};

/* Whether ID is of a handle kept in memory (not a log-assigned one). */
static inline bool
mh_is_mem_id(uint64_t id)
{
	return (id & MH_ID_BIT) != 0;
}

struct mh_table *mh_new(void);
void mh_free(struct mh_table *t);
/* Forgets every handle (a master stepping down). */
void mh_clear(struct mh_table *t);
/* A fresh id for SESSION under EPOCH: none of the table's. */
uint64_t mh_next_id(struct mh_table *t, uint64_t epoch, uint64_t session);
/* Adds a handle (PATH copied); ID must be new for SESSION. */
struct mhandle *mh_add(struct mh_table *t, uint64_t session, uint64_t id, const char *path,
    uint64_t instance, uint32_t flags);
/* NULL if SESSION has no handle ID in memory. */
struct mhandle *mh_find(const struct mh_table *t, uint64_t session, uint64_t id);
/* SESSION's handle its OPEN with request id RID (> 0) made, or NULL. */
struct mhandle *mh_find_rid(const struct mh_table *t, uint64_t session, uint64_t rid);
/* H (of T) asks for the events of MASK: T finds it by its node's name
 * (mh_watchers) from now on. */
void mh_set_events(struct mh_table *t, struct mhandle *h, uint32_t mask);
/* The handles open on PATH that asked for events, *N of them, by
 * (session, id); valid until T next changes. */
struct mhandle *const *mh_watchers(const struct mh_table *t, const char *path, size_t *n);
/* Forgets one: true if it was there. */
bool mh_remove(struct mh_table *t, uint64_t session, uint64_t id);
/* Forgets SESSION's (its end). */
void mh_drop_session(struct mh_table *t, uint64_t session);
/* How many SESSION has. */
size_t mh_count(const struct mh_table *t, uint64_t session);
/* How many in all. */
size_t mh_total(const struct mh_table *t);

#endif
