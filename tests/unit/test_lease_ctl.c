/* test_lease_ctl.c: the rule of the session lease under load
 * (common/lease_ctl.[ch], docs/SESSIONS.md "Leases under load"), shared by
 * the master's session layer and chubby-proxy (docs/PROXY.md "Leases under
 * load"). */
#include "config.h"

#include "harness.h"
#include "lease_ctl.h"

/* The rule itself (common/lease_ctl.h): up at once to base * load, held
 * in the dead band, down by quarters of the excess every calm period, back
 * to the base; max clamps; a signal whose threshold is 0 is off; the
 * KeepAlive signal is the demand at the base lease, not the measured rate. */
static void
test_lease_rule(void)
{
	struct lease_ctl c;
	struct lease_ctl_config cfg0 = {.base_ms = 12000, .max_ms = 60000, .queue_high = 100,
	    .keepalive_high = 1000, .cpu_high = 80};
	struct lease_load l = {0};
	uint64_t t = 5000, prev;

	lease_ctl_init(&c, &cfg0);
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &l), 12000);
	l.queue = 150; /* 1.5x: 18 s at once */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &l), 18000);
	l.queue = 70; /* the dead band: held however long */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t + 100000, &l), 18000);
	l.queue = 1000; /* 10x: the max */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 100000, &l), 60000);
	l.queue = 0;
	l.cpu = 100; /* 1.25x of cpu: below what it is, no change */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t + 1, &l), 60000);
	l.cpu = 10;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t + LEASE_CTL_CALM_MS - 1, &l), 60000);
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += LEASE_CTL_CALM_MS, &l), 48000);
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t + 1, &l), 48000); /* one step per period */
	prev = 48000;
	for (int i = 0; i < 20; i++) {
		uint64_t v = lease_ctl_update(&c, t += LEASE_CTL_CALM_MS, &l);
		CU_ASSERT(v <= prev && v >= 12000);
		prev = v;
	}
	CU_ASSERT_EQUAL(prev, 12000);
	/* 24000 sessions at a 12 s lease would send 2000 KeepAlives/s: 2x. */
	l.cpu = 0;
	l.sessions = 24000;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 1, &l), 24000);
	/* A loop running 1.5 s late against a 500 ms threshold: 3x. */
	struct lease_ctl_config lag = {.base_ms = 12000, .max_ms = 60000, .lag_high_ms = 500};
	lease_ctl_init(&c, &lag);
	struct lease_load late = {.lag_ms = 1500};
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &late), 36000);
	/* Thresholds of 0: signals off, the base however loaded. */
	struct lease_ctl_config off = {.base_ms = 12000, .max_ms = 60000};
	lease_ctl_init(&c, &off);
	l.queue = 1000000;
	l.cpu = 1000;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &l), 12000);
	/* A max below the base: never stretched. */
	struct lease_ctl_config nomax = cfg0;
	nomax.max_ms = 5000;
	lease_ctl_init(&c, &nomax);
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &l), 12000);
}

/* The session-start rate (issue 21): a burst of SESSION_STARTs stretches
 * the lease before the sessions it makes are many (their KeepAlive demand
 * comes a lease later).  The shell gives the count of starts received so
 * far; the rate is measured over a second at least, so that calls closer
 * together neither divide by nothing nor read a handful as a storm.  The
 * signal that set the lease is kept, for lockctl status and /metrics. */
static void
test_lease_starts(void)
{
	struct lease_ctl c;
	struct lease_ctl_config lcfg = {.base_ms = 3000, .max_ms = 60000, .queue_high = 100,
	    .starts_high = 1000};
	struct lease_load l = {0};
	uint64_t t = 1000;

	lease_ctl_init(&c, &lcfg);
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t, &l), 3000);
	CU_ASSERT_EQUAL(c.signal, LEASE_SIG_NONE);
	l.starts = 400; /* 400 in 0.5 s: not a second yet, no rate */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t + 500, &l), 3000);
	l.starts = 5000; /* 5000 in 1 s: 5x the threshold, 15 s at once */
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 1000, &l), 15000);
	CU_ASSERT_EQUAL(c.load_pct, 500);
	CU_ASSERT_EQUAL(c.signal, LEASE_SIG_STARTS);
	CU_ASSERT_EQUAL(c.rise_signal, LEASE_SIG_STARTS);
	CU_ASSERT_STRING_EQUAL(lease_sig_name(c.rise_signal), "session_starts");
	/* 2000 more over 2 s: 1000/s, the threshold: held. */
	l.starts = 7000;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 2000, &l), 15000);
	/* The queue then drives: the lease stays, the top signal changes. */
	l.queue = 200;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 1000, &l), 15000);
	CU_ASSERT_EQUAL(c.signal, LEASE_SIG_QUEUE);
	CU_ASSERT_EQUAL(c.rise_signal, LEASE_SIG_STARTS);
	l.queue = 0;
	/* The starts stop: after the calm period it falls. */
	for (int i = 0; i < 20; i++)
		(void)lease_ctl_update(&c, t += 1000, &l);
	CU_ASSERT(c.lease_ms < 15000);
	CU_ASSERT_EQUAL(c.signal, LEASE_SIG_NONE);
	/* A counter that went back (a restarted shell): no rate, no stretch. */
	lease_ctl_init(&c, &lcfg);
	l.starts = 100000;
	(void)lease_ctl_update(&c, t, &l);
	l.starts = 10;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 1000, &l), 3000);
	/* A threshold of 0: the signal is off. */
	lcfg.starts_high = 0;
	lease_ctl_init(&c, &lcfg);
	l.starts = 0;
	(void)lease_ctl_update(&c, t, &l);
	l.starts = 1000000;
	CU_ASSERT_EQUAL(lease_ctl_update(&c, t += 1000, &l), 3000);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"the rule of the lease under load", test_lease_rule},
	    {"the session-start rate stretches the lease", test_lease_starts},
	    {NULL, NULL},
	};

	harness_suite("lease_ctl", NULL, NULL, tests);
}
