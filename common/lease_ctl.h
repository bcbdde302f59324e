/*
 * lease_ctl.h: how long a session lease the master grants, given its load
 * (Chubby §3: "lengthening session leases from 12 s up to 60 s" when the
 * master is overloaded, so that it answers fewer KeepAlives).
 *
 * The rule (docs/SESSIONS.md "Leases under load"):
 *   load = the largest of  queue / queue_high,
 *                          keepalive demand / keepalive_high,
 *                          cpu / cpu_high,
 *                          loop lag / lag_high,
 *                          session starts/s / starts_high (a signal whose high is 0 is off)
 *   load >= 1    the lease rises at once to base * load (at most max);
 *   load <  1/2  after LEASE_CTL_CALM_MS with no rise, it falls by a
 *                quarter of what it is above base, every LEASE_CTL_CALM_MS;
 *   otherwise    it stays.
 * The KeepAlive demand is the rate the sessions would send at the base
 * lease (sessions * 1000 / base_ms), not the rate measured: a longer lease
 * lowers the measured rate, which would otherwise shorten the lease again
 * and oscillate.  The start rate counts the SESSION_STARTs received (not
 * applied: a burst queued behind the log is load already), measured over
 * a second at least; it sees a burst of new sessions a lease before their
 * KeepAlives come, and the longer lease reaches them in their
 * SESSION_START replies, before the first KeepAlive.  Rising fast and
 * falling slowly, with a dead band between half and full load, keeps CPU
 * and queue (which also fall as leases stretch) from flapping it.
 *
 * Pure: the caller gives the time and the load.
 */
#ifndef CHUBBY_LEASE_CTL_H
#define CHUBBY_LEASE_CTL_H

#include <stdint.h>

#define LEASE_CTL_CALM_MS 10000u

struct lease_ctl_config {
	uint64_t base_ms;        /* the lease when not overloaded (session_lease) */
	uint64_t max_ms;         /* the longest (session_lease_max; <= base: no stretching) */
	uint64_t queue_high;     /* requests waiting at the master (overload_queue; 0: off) */
	uint64_t keepalive_high; /* KeepAlives/s at the base lease (overload_keepalive_rate; 0: off) */
	unsigned cpu_high;       /* % of one core (overload_cpu; 0: off) */
	uint64_t lag_high_ms;    /* event loop lag (overload_loop_lag; 0: off) */
	uint64_t starts_high;    /* SESSION_STARTs received per second (overload_session_starts; 0: off) */
};

/* A load signal; LEASE_SIG_NONE: every one at 0 or off, or the lease at the base. */
enum lease_sig {
	LEASE_SIG_NONE = 0,
	LEASE_SIG_QUEUE,
	LEASE_SIG_KEEPALIVE,
	LEASE_SIG_CPU,
	LEASE_SIG_LAG,
	LEASE_SIG_STARTS,
};
/* Its name in lockctl status and /metrics ("none", "queue", "keepalive",
 * "cpu", "loop_lag", "session_starts"). */
const char *lease_sig_name(enum lease_sig s);

struct lease_load {
	uint64_t queue;    /* requests waiting now */
	uint64_t sessions; /* sessions the master keeps */
	unsigned cpu;      /* % of one core over the last measure */
	uint64_t lag_ms;   /* the event loop's largest lag lately: how far behind it runs,
	                    * whether or not it gets the CPU it wants */
	uint64_t starts;   /* SESSION_STARTs received so far (a counter: the rule takes the rate) */
};

struct lease_ctl {
	struct lease_ctl_config cfg;
	uint64_t lease_ms;  /* what to grant now */
	uint64_t calm_from; /* when the lease last rose or fell (ms) */
	unsigned load_pct;  /* the last load, in % of the thresholds */
	enum lease_sig signal;      /* the largest signal at the last update (none: load 0) */
	enum lease_sig rise_signal; /* the one that set lease_ms (none: at the base) */
	/* The start rate's window: its start time and count (win_set: begun),
	 * and the rate it last measured (/s). */
	uint64_t win_from, win_starts, starts_rate;
	int win_set;
};

void lease_ctl_init(struct lease_ctl *c, const struct lease_ctl_config *cfg);

/* The lease to grant from NOW on, given LOAD; NOW never goes back. */
uint64_t lease_ctl_update(struct lease_ctl *c, uint64_t now, const struct lease_load *load);

#endif
