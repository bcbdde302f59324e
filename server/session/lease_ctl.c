/* lease_ctl.c: the session lease under load (lease_ctl.h has the rule). */
#include "session/lease_ctl.h"

void
lease_ctl_init(struct lease_ctl *c, const struct lease_ctl_config *cfg)
{
	c->cfg = *cfg;
	if (c->cfg.max_ms < c->cfg.base_ms)
		c->cfg.max_ms = c->cfg.base_ms;
	c->lease_ms = c->cfg.base_ms;
	c->calm_from = 0;
	c->load_pct = 0;
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

uint64_t
lease_ctl_update(struct lease_ctl *c, uint64_t now, const struct lease_load *load)
{
	const struct lease_ctl_config *cfg = &c->cfg;
	uint64_t demand, pct, p;

	if (cfg->max_ms <= cfg->base_ms) {
		c->lease_ms = cfg->base_ms;
		return c->lease_ms;
	}
	demand = cfg->base_ms > 0 ? load->sessions * 1000 / cfg->base_ms : 0;
	pct = pct_of(load->queue, cfg->queue_high);
	if ((p = pct_of(demand, cfg->keepalive_high)) > pct)
		pct = p;
	if ((p = pct_of(load->cpu, cfg->cpu_high)) > pct)
		pct = p;
	if ((p = pct_of(load->lag_ms, cfg->lag_high_ms)) > pct)
		pct = p;
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
		}
	} else if (pct < 50 && c->lease_ms > cfg->base_ms && now >= c->calm_from + LEASE_CTL_CALM_MS) {
		uint64_t drop = (c->lease_ms - cfg->base_ms + 3) / 4;

		c->lease_ms -= drop;
		if (c->lease_ms < cfg->base_ms + 1000)
			c->lease_ms = cfg->base_ms; /* the last, sub-second step */
		c->calm_from = now;
	}
	return c->lease_ms;
}
