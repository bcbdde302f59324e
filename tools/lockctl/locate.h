/*
 * locate.h: finds a cell's master for lockctl's admin commands by asking
 * the replicas WHERE_IS_MASTER hedged: the first at once, the next after
 * LOCATE_HEDGE_MS if none has answered yet, and so on, all in one event
 * loop, so a replica that hangs (SIGSTOP) or whose packets are dropped
 * costs one hedge, not a whole timeout (docs/CLIENT.md "Finding the
 * master", which libchubby does the same way).
 */
#ifndef LOCKCTL_LOCATE_H
#define LOCKCTL_LOCATE_H

#include <stddef.h>

#include "cellspec.h"

/* Delay before the next replica is asked too (ms). */
#define LOCATE_HEDGE_MS 20

/* Fills MASTER (CELLSPEC_ADDR_MAX bytes) with the address of the replica
 * that says it is master, asked within TIMEOUT_MS in all.  A replica that
 * names another is followed at once; the named one must itself say it is
 * master.  Returns CHUBBY_OK, CHUBBY_E_UNAVAILABLE (no replica said so,
 * with the last reason in ERR), CHUBBY_E_TLS at once when a replica refuses
 * our certificate for good or we refuse its (the reason in ERR), or an
 * error setting up TLS. */
int locate_master(const struct cellspec *spec, unsigned timeout_ms, char *master, char *err,
    size_t errlen);

#endif
