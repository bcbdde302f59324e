/* pxload.c: chubby-proxy's load signals and the lease they ask for (pxload.h). */
#include "config.h"

#include "procstat.h"
#include "pxload.h"

#define PXLOAD_EVERY_MS 1000
#define PXLOAD_LAG_WINDOW_MS 10000

void
pxload_init(struct pxload *l, const struct cell_config *cfg, uint64_t now)
{
	/* The master's rule and option names: session_lease is the base,
	 * session_lease_max the most, overload_* the thresholds.  The queue
	 * signal is the master's (its log): the proxy has none of its own, as
	 * what it forwards waits at the master. */
	struct lease_ctl_config lc = {
	    .base_ms = cfg->session_lease_ms,
	    .max_ms = cfg->session_lease_max_ms,
	    .queue_high = 0,
	    .keepalive_high = cfg->overload_keepalive_rate,
	    .cpu_high = cfg->overload_cpu,
	    .lag_high_ms = cfg->overload_loop_lag_ms,
	    .starts_high = cfg->overload_session_starts,
	};

	*l = (struct pxload){0};
	lease_ctl_init(&l->ctl, &lc);
	/* No slack until a master says how long it keeps a proxy's clients'
	 * handles: the config alone could name a window the cell does not
	 * keep. */
	l->cfg_window_ms = cfg->proxy_claim_window_ms;
	l->grace_ms = cfg->grace_period_ms;
	l->slack_ms = 0;
	l->next_ms = now + PXLOAD_EVERY_MS;
	l->last_tick = l->lag_win = l->cpu_at = now;
	l->cpu_us = procstat_cpu_us();
}

uint64_t
pxload_lag_ms(const struct pxload *l)
{
	return l->lag_cur > l->lag_prev ? l->lag_cur : l->lag_prev;
}

void
pxload_master_window(struct pxload *l, uint64_t window_ms)
{
	uint64_t w = window_ms < l->cfg_window_ms ? window_ms : l->cfg_window_ms;

	l->slack_ms = px_lease_slack(w, l->grace_ms);
}

void
pxload_granted(struct pxload *l, int64_t end)
{
	if (end > 0 && (uint64_t)end > l->lease_out_end)
		l->lease_out_end = (uint64_t)end;
}

static void
cpu_measure(struct pxload *l, uint64_t now)
{
	uint64_t us = procstat_cpu_us();

	if (us == 0 || now <= l->cpu_at)
		return;
	l->cpu_pct = us > l->cpu_us ? (unsigned)((us - l->cpu_us) / 10 / (now - l->cpu_at)) : 0;
	l->cpu_us = us;
	l->cpu_at = now;
}

void
pxload_tick(struct pxload *l, struct pxcore *px, uint64_t now, uint64_t tick_ms)
{
	struct lease_load load;

	/* How late this tick ran: the loop was busy (or starved of CPU). */
	if (now > l->last_tick + tick_ms && now - l->last_tick - tick_ms > l->lag_cur)
		l->lag_cur = now - l->last_tick - tick_ms;
	l->last_tick = now;
	if (now >= l->lag_win + PXLOAD_LAG_WINDOW_MS) {
		l->lag_prev = l->lag_cur;
		l->lag_cur = 0;
		l->lag_win = now;
	}
	if (now < l->next_ms)
		return;
	l->next_ms = now + PXLOAD_EVERY_MS;
	cpu_measure(l, now);
	/* The KeepAlive demand is the client sessions' at the base lease
	 * (lease_ctl.h): the proxy answers every one of them. */
	load = (struct lease_load){
	    .queue = 0,
	    .sessions = px->nclients,
	    .cpu = l->cpu_pct,
	    .lag_ms = pxload_lag_ms(l),
	    .starts = l->starts,
	};
	px_set_lease(px, lease_ctl_update(&l->ctl, now, &load), l->slack_ms);
}
