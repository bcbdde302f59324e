/* lease_ctl.c: the session lease under load (lease_ctl.h has the rule). */
#include "lease_ctl.h"

void
lease_ctl_init(struct lease_ctl *c, const struct lease_ctl_config *cfg)
{
	c->cfg = *cfg;
	if (c->cfg.max_ms < c->cfg.base_ms)
		c->cfg.max_ms = c->cfg.base_ms;
	c->lease_ms = c->cfg.base_ms;
	c->calm_from = 0;
	c->load_pct = 0;
	c->signal = c->rise_signal = LEASE_SIG_NONE;
	c->win_from = c->win_starts = c->starts_rate = 0;
	c->win_set = 0;
}

const char *
lease_sig_name(enum lease_sig s)
{
	switch (s) {
	case LEASE_SIG_QUEUE:
		return "queue";
	case LEASE_SIG_KEEPALIVE:
		return "keepalive";
	case LEASE_SIG_CPU:
		return "cpu";
	case LEASE_SIG_LAG:
		return "loop_lag";
	case LEASE_SIG_STARTS:
		return "session_starts";
	case LEASE_SIG_NONE:
		break;
	}
	return "none";
}

/* The SESSION_START rate, per second, over a window of a second at least
 * (shorter ones would read a few starts close together as a storm); a
 * counter that went back (the shell's was reset) starts a new window. */
static uint64_t
starts_rate(struct lease_ctl *c, uint64_t now, uint64_t starts)
{
	if (!c->win_set || starts < c->win_starts || now < c->win_from) {
		c->win_set = 1;
		c->win_from = now;
		c->win_starts = starts;
		c->starts_rate = 0;
	} else if (now - c->win_from >= 1000) {
		uint64_t d = starts - c->win_starts;

		c->starts_rate = d > UINT64_MAX / 1000 ? UINT64_MAX / 1000
		                                       : d * 1000 / (now - c->win_from);
		c->win_from = now;
		c->win_starts = starts;
	}
	return c->starts_rate;
}

/* VALUE / HIGH in percent (0 when the signal is off), saturating. */
static uint64_t
pct_of(uint64_t value, uint64_t high)
{
	if (high == 0)
		return 0;
	if (value > UINT64_MAX / 100)
		return UINT64_MAX / 100;
	return value * 100 / high;
}

/* Keeps the largest signal: P (%) of signal S, if above *PCT. */
static void
top(uint64_t p, enum lease_sig s, uint64_t *pct, enum lease_sig *sig)
{
	if (p > *pct) {
		*pct = p;
		*sig = s;
	}
}

uint64_t
lease_ctl_update(struct lease_ctl *c, uint64_t now, const struct lease_load *load)
{
	const struct lease_ctl_config *cfg = &c->cfg;
	uint64_t demand, rate, pct;
	enum lease_sig sig = LEASE_SIG_NONE;

	rate = starts_rate(c, now, load->starts);
	if (cfg->max_ms <= cfg->base_ms) {
		c->lease_ms = cfg->base_ms;
		return c->lease_ms;
	}
	demand = cfg->base_ms > 0 ? load->sessions * 1000 / cfg->base_ms : 0;
	pct = 0;
	top(pct_of(load->queue, cfg->queue_high), LEASE_SIG_QUEUE, &pct, &sig);
	top(pct_of(demand, cfg->keepalive_high), LEASE_SIG_KEEPALIVE, &pct, &sig);
	top(pct_of(load->cpu, cfg->cpu_high), LEASE_SIG_CPU, &pct, &sig);
	top(pct_of(load->lag_ms, cfg->lag_high_ms), LEASE_SIG_LAG, &pct, &sig);
	top(pct_of(rate, cfg->starts_high), LEASE_SIG_STARTS, &pct, &sig);
	c->signal = sig;
	if (pct > 100000)
		pct = 100000; /* a thousand times the threshold is as bad as more */
	c->load_pct = (unsigned)pct;

	if (pct >= 100) {
		/* base * load, rounded up to a whole second, at most max. */
		uint64_t want = (cfg->base_ms * pct + 99) / 100;

		want = (want + 999) / 1000 * 1000;
		if (want > cfg->max_ms)
			want = cfg->max_ms;
		if (want > c->lease_ms) {
			c->lease_ms = want;
			c->calm_from = now;
			c->rise_signal = sig;
		}
	} else if (pct < 50 && c->lease_ms > cfg->base_ms && now >= c->calm_from + LEASE_CTL_CALM_MS) {
		uint64_t drop = (c->lease_ms - cfg->base_ms + 3) / 4;

		c->lease_ms -= drop;
		if (c->lease_ms < cfg->base_ms + 1000)
			c->lease_ms = cfg->base_ms; /* the last, sub-second step */
		if (c->lease_ms == cfg->base_ms)
			c->rise_signal = LEASE_SIG_NONE;
		c->calm_from = now;
	}
	return c->lease_ms;
}
