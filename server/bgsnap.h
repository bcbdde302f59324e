/*
 * bgsnap.h: a snapshot of the applied state serialised off the event loop.
 * The loop forks; the child, with a copy-on-write image of the process as
 * it was at that instant, serialises the state (cell_snapshot) and writes
 * the bytes to a pipe; the loop reads them as they come and hands them
 * over when the child is done.  Redis's BGSAVE, for the same reason: a
 * walk of 100,000 nodes holds a loop that must also send the master's
 * heartbeats for tens to hundreds of ms (docs/OPERATIONS.md "Snapshots").
 * The loop pays for the fork (page tables: a few ms) and the copies of the
 * pages it writes meanwhile.
 */
#ifndef CHUBBY_BGSNAP_H
#define CHUBBY_BGSNAP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "cell/cell.h"
#include "ns/ns.h"

struct bgsnap;

/* Called once from the loop: CHUBBY_OK with DATA (malloc'd, the callee's
 * to free) and LEN, or an error (DATA NULL) with a reason in WHY. */
typedef void (*bgsnap_done_fn)(int status, uint8_t *data, size_t len, const char *why,
    void *arg);

/* The work done in the child: bytes in *OUT (malloc'd) and *LEN, or an
 * error.  Runs in the child only: it may read anything, change nothing that
 * the parent could see (it cannot), and must not use the other threads'
 * locks (the log, the store). */
typedef int (*bgsnap_work_fn)(const struct cell *c, uint8_t **out, size_t *len);

/* The two works: the state as cell_snapshot(C, CELL_SNAP_REPLICA), and
 * ns_digest of its namespace as 8 bytes, big-endian (bgsnap_u64). */
int bgsnap_work_snapshot(const struct cell *c, uint8_t **out, size_t *len);
int bgsnap_work_digest(const struct cell *c, uint8_t **out, size_t *len);
uint64_t bgsnap_u64(const uint8_t *p);

/*
 * Starts WORK over C in a child; DONE follows later, never within the call.
 * NULL with a reason in ERR if the child cannot be started (the caller may
 * then do the work in the loop).
 */
struct bgsnap *bgsnap_start(struct event_base *base, const struct cell *c, bgsnap_work_fn work,
    bgsnap_done_fn done, void *arg, char *err, size_t errlen);

/* Stops a snapshot under way (the child is killed and reaped); DONE is not
 * called.  NULL is ignored. */
void bgsnap_cancel(struct bgsnap *b);

#endif
