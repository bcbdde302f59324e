/*
 * pxload.h: chubby-proxy's leases under load (docs/PROXY.md "Leases under
 * load"): the proxy's own load signals, measured here, fed to the master's
 * rule (common/lease_ctl.h) with the thresholds of the cell config, and the
 * lease it asks for given to the core (px_set_lease) with the slack the
 * claim window allows (px_lease_slack).
 */
#ifndef CHUBBY_PXLOAD_H
#define CHUBBY_PXLOAD_H

#include <stdint.h>

#include "cellconfig.h"
#include "lease_ctl.h"
#include "pxcore.h"

struct pxload {
	struct lease_ctl ctl;
	/* px_lease_slack of the shorter of the config's claim window and the
	 * master's (0 until a master has told it: SESSION_START's
	 * claim_window_ms), with the config's grace period. */
	uint64_t slack_ms;
	uint64_t cfg_window_ms, grace_ms;
	uint64_t starts;       /* client SESSION_STARTs received (a counter) */
	uint64_t next_ms;      /* the next feed of the rule */
	uint64_t cpu_us;       /* the process's CPU time at the last feed */
	uint64_t cpu_at;       /* when (ms) */
	unsigned cpu_pct;      /* over the last second, % of one core */
	uint64_t last_tick;    /* when the tick last ran (ms) */
	uint64_t lag_cur, lag_prev; /* the largest tick lag in this and the last window */
	uint64_t lag_win;      /* when this window began */
	uint64_t lease_out_end; /* the latest end of a client lease granted (ms) */
	uint64_t keepalives;   /* client KeepAlives answered */
};

void pxload_init(struct pxload *l, const struct cell_config *cfg, uint64_t now);
/* Every tick (TICK_MS apart): the loop's lag; once a second the rule is fed
 * and PX is given the lease to grant. */
void pxload_tick(struct pxload *l, struct pxcore *px, uint64_t now, uint64_t tick_ms);
/* The largest lag of the event loop over the last 10 to 20 s (ms). */
uint64_t pxload_lag_ms(const struct pxload *l);
/* A master's SESSION_START reply said its claim window is WINDOW_MS (0:
 * it said none, an older master): the slack follows (slack_ms). */
void pxload_master_window(struct pxload *l, uint64_t window_ms);
/* A client lease granted until END (ms): for the longest still out. */
void pxload_granted(struct pxload *l, int64_t end);

#endif
