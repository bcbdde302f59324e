/*
 * probe.h: asks every replica of a cell for its STATUS at once, each over
 * its own mutually authenticated connection, within a deadline.  lockctl
 * status uses it: an operator wants every replica's view, not only the
 * master's.
 */
#ifndef LOCKCTL_PROBE_H
#define LOCKCTL_PROBE_H

#include <stdint.h>

#include "cellspec.h"

struct probe_result {
	char addr[CELLSPEC_ADDR_MAX];
	unsigned config_id;      /* from the cell config, 0 if unknown */
	int reachable;
	int status;              /* CHUBBY_OK or why it is unreachable */
	char error[256];
	/* STATUS fields; has_* says whether the replica reported them. */
	char cell[65];
	char role[32];
	char version[32];
	uint64_t id, uptime_ms, clients;
	int has_epoch, has_master, has_applied, has_committed, has_digest, has_lease, has_voter;
	int has_state_digest, has_checks, has_loop_lag;
	uint64_t loop_lag_max_ms; /* the largest event loop lag of the last 10 s */
	uint64_t epoch, master, applied, committed, digest, lease_ms;
	uint64_t state_digest; /* the applied namespace hashed when asked */
	uint64_t checks;       /* consistency checks passed */
	int voter;
	uint64_t rtt_ms;
	/* The session lease (docs/SESSIONS.md "Leases under load"), from the
	 * master's session layer: granted now, recorded cap, load, the signal
	 * that set it ("" from an older server) and the session-start rate. */
	int has_session_lease;
	uint64_t sl_granted_ms, sl_cap_ms, sl_load_pct, sl_starts_per_s;
	char sl_driver[24];
	/* The mirrors of other cells' subtrees (docs/OPERATIONS.md
	 * "Mirroring"), as this replica sees them (the master runs them). */
	struct probe_mirror {
		char name[64], state[16], from[256], to[256], last_error[256];
		uint64_t lag_ms, last_sync_ms, syncs, nodes;
	} mirrors[8];
	unsigned nmirrors;
};

/* Probes every address of SPEC; fills RESULTS[0..spec->naddrs).  With
 * STATE_DIGEST each replica also hashes its namespace (state_digest): a
 * walk of the whole state in its event loop, so only when asked.  Returns
 * CHUBBY_OK (even if no replica answered) or an error setting up TLS. */
int probe_cell(const struct cellspec *spec, unsigned timeout_ms, bool state_digest,
    struct probe_result *results, char *err, size_t errlen);

#endif
