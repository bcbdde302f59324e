/* cmd-status.c: lockctl status: every replica's view of the cell, side by side. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <chubby/chubby.h>

#include "json.h"
#include "lockctl.h"
#include "probe.h"

/* A replica whose connection failed below TLS (nothing listening, a reset):
 * it is down, as far as we can tell, rather than refusing us; TLS and
 * certificate failures stay "unreachable" with their reason. */
static int
status_down(const struct probe_result *r)
{
	return !r->reachable && r->status == CHUBBY_E_CONN;
}

static void
status_json(struct lockctl *lc, const struct probe_result *r, size_t n, const char *cell,
    int have_master, uint64_t master, uint64_t epoch)
{
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	json_kv_bool(&j, "ok", 1);
	json_kv_str(&j, "cell", cell);
	json_key(&j, "epoch");
	if (have_master)
		json_uint(&j, epoch);
	else
		json_null(&j);
	json_key(&j, "master");
	if (have_master)
		json_uint(&j, master);
	else
		json_null(&j);
	json_key(&j, "replicas");
	json_arr_begin(&j);
	for (size_t i = 0; i < n; i++) {
		json_obj_begin(&j);
		json_kv_uint(&j, "id", r[i].reachable ? r[i].id : r[i].config_id);
		json_kv_str(&j, "address", r[i].addr);
		json_kv_bool(&j, "reachable", r[i].reachable);
		if (r[i].reachable) {
			json_kv_str(&j, "role", r[i].role);
			json_kv_str(&j, "version", r[i].version);
			json_kv_uint(&j, "uptime_ms", r[i].uptime_ms);
			json_kv_uint(&j, "clients", r[i].clients);
			json_kv_uint(&j, "rtt_ms", r[i].rtt_ms);
			json_key(&j, "epoch");
			r[i].has_epoch ? json_uint(&j, r[i].epoch) : json_null(&j);
			json_key(&j, "applied");
			r[i].has_applied ? json_uint(&j, r[i].applied) : json_null(&j);
			json_key(&j, "committed");
			r[i].has_committed ? json_uint(&j, r[i].committed) : json_null(&j);
			json_key(&j, "lease_ms");
			r[i].has_lease ? json_uint(&j, r[i].lease_ms) : json_null(&j);
			if (r[i].has_session_lease) {
				json_kv_uint(&j, "session_lease_ms", r[i].sl_granted_ms);
				json_kv_uint(&j, "session_lease_cap_ms", r[i].sl_cap_ms);
				json_kv_uint(&j, "load_pct", r[i].sl_load_pct);
				json_kv_str(&j, "lease_driver",
				    r[i].sl_driver[0] ? r[i].sl_driver : "none");
				json_kv_uint(&j, "session_starts_per_s", r[i].sl_starts_per_s);
			}
			if (r[i].nmirrors > 0) {
				json_key(&j, "mirrors");
				json_arr_begin(&j);
				for (unsigned k = 0; k < r[i].nmirrors; k++) {
					const struct probe_mirror *pm = &r[i].mirrors[k];
					json_obj_begin(&j);
					json_kv_str(&j, "name", pm->name);
					json_kv_str(&j, "state", pm->state);
					json_kv_str(&j, "from", pm->from);
					json_kv_str(&j, "to", pm->to);
					json_kv_uint(&j, "lag_ms", pm->lag_ms);
					json_kv_uint(&j, "last_sync_ms", pm->last_sync_ms);
					json_kv_uint(&j, "syncs", pm->syncs);
					json_kv_uint(&j, "nodes", pm->nodes);
					json_kv_str(&j, "last_error", pm->last_error);
					json_obj_end(&j);
				}
				json_arr_end(&j);
			}
			json_key(&j, "voter");
			r[i].has_voter ? json_bool(&j, r[i].voter) : json_null(&j);
			json_key(&j, "digest");
			if (r[i].has_digest) {
				char d[24];
				snprintf(d, sizeof d, "%016llx", (unsigned long long)r[i].digest);
				json_str(&j, d);
			} else {
				json_null(&j);
			}
			json_key(&j, "checks");
			r[i].has_checks ? json_uint(&j, r[i].checks) : json_null(&j);
			json_key(&j, "loop_lag_max_ms");
			r[i].has_loop_lag ? json_uint(&j, r[i].loop_lag_max_ms) : json_null(&j);
			json_key(&j, "state_digest");
			if (r[i].has_state_digest) {
				char d[24];
				snprintf(d, sizeof d, "%016llx",
				    (unsigned long long)r[i].state_digest);
				json_str(&j, d);
			} else {
				json_null(&j);
			}
		} else {
			json_kv_str(&j, "role", status_down(&r[i]) ? "down" : "unreachable");
			json_kv_str(&j, "error", chubby_status_name(r[i].status));
			json_kv_str(&j, "message", r[i].error);
		}
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	(void)lc;
	printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
	json_free(&j);
}

static void
fmt_opt(char *buf, size_t len, int has, uint64_t v)
{
	if (has)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "-");
}

int
cmd_status(struct lockctl *lc, int argc, char **argv)
{
	struct probe_result *r;
	char err[512], cell[65];
	size_t n, up = 0;
	int have_master = 0;
	uint64_t master = 0, epoch = 0;

	bool state_digest = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--digest") == 0)
			state_digest = true;
		else
			return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "status: unknown argument %s (usage: status [--digest])", argv[i]);
	}
	if (lockctl_need_cell(lc) != 0)
		return LOCKCTL_EXIT_USAGE;
	n = lc->spec.naddrs;
	r = calloc(n, sizeof *r);
	if (r == NULL)
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOMEM, "out of memory");
	if (probe_cell(&lc->spec, lc->timeout_ms, state_digest, r, err, sizeof err) != CHUBBY_OK) {
		free(r);
		return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_TLS, "%s", err);
	}
	snprintf(cell, sizeof cell, "%s", lc->spec.cell);
	for (size_t i = 0; i < n; i++) {
		if (!r[i].reachable)
			continue;
		up++;
		if (cell[0] == '\0')
			snprintf(cell, sizeof cell, "%s", r[i].cell);
		/* The master is whoever a replica names under the highest epoch. */
		if (r[i].has_master && r[i].master != 0 && r[i].has_epoch &&
		    (!have_master || r[i].epoch > epoch)) {
			have_master = 1;
			master = r[i].master;
			epoch = r[i].epoch;
		}
	}
	if (lc->json) {
		status_json(lc, r, n, cell, have_master, master, epoch);
	} else {
		printf("cell %s: %zu of %zu replicas reachable; ", cell[0] ? cell : "?", up, n);
		if (have_master)
			printf("master %llu, epoch %llu\n", (unsigned long long)master,
			    (unsigned long long)epoch);
		else
			printf("no master known\n");
		/* The master's session lease: longer than the config's while it
		 * is overloaded (docs/SESSIONS.md "Leases under load"). */
		for (size_t i = 0; have_master && i < n; i++)
			if (r[i].reachable && r[i].has_session_lease && r[i].id == master &&
			    r[i].sl_granted_ms > 0)
				printf("session lease %.1fs (set by %s), load %llu%% of the overload "
				       "thresholds; leases up to %.1fs may be out\n",
				    (double)r[i].sl_granted_ms / 1000.0,
				    r[i].sl_driver[0] ? r[i].sl_driver : "none",
				    (unsigned long long)r[i].sl_load_pct,
				    (double)(r[i].sl_cap_ms > r[i].sl_granted_ms ? r[i].sl_cap_ms
				                                                 : r[i].sl_granted_ms) /
				        1000.0);
		/* A proxy's lease to its clients, stretched under its own load
		 * as the master's is (docs/PROXY.md "Leases under load"). */
		for (size_t i = 0; i < n; i++)
			if (r[i].reachable && r[i].has_session_lease &&
			    strcmp(r[i].role, "proxy") == 0 && r[i].sl_granted_ms > 0)
				printf("proxy %s: session lease %.1fs (set by %s), load %llu%% of the "
				       "overload thresholds; leases up to %.1fs may be out\n",
				    r[i].addr, (double)r[i].sl_granted_ms / 1000.0,
				    r[i].sl_driver[0] ? r[i].sl_driver : "none",
				    (unsigned long long)r[i].sl_load_pct,
				    (double)(r[i].sl_cap_ms > r[i].sl_granted_ms ? r[i].sl_cap_ms
				                                                 : r[i].sl_granted_ms) /
				        1000.0);
		/* The master's mirrors (docs/OPERATIONS.md "Mirroring"). */
		for (size_t i = 0; have_master && i < n; i++) {
			if (!r[i].reachable || r[i].id != master)
				continue;
			for (unsigned k = 0; k < r[i].nmirrors; k++) {
				const struct probe_mirror *pm = &r[i].mirrors[k];
				uint64_t now = (uint64_t)time(NULL) * 1000;
				printf("mirror %s: %s -> %s, %s, lag %.1fs", pm->name, pm->from, pm->to,
				    pm->state, (double)pm->lag_ms / 1000.0);
				if (pm->last_sync_ms > 0)
					printf(", last sync %.0fs ago, %llu nodes",
					    now > pm->last_sync_ms ? (double)(now - pm->last_sync_ms) / 1000.0
					                           : 0.0,
					    (unsigned long long)pm->nodes);
				if (pm->last_error[0] != '\0')
					printf(" (last error: %s)", pm->last_error);
				printf("\n");
			}
		}
		printf("%-3s %-22s %-11s %-8s %-9s %-9s %-7s %-9s %-7s %s\n", "ID", "ADDRESS", "ROLE",
		    "EPOCH", "COMMITTED", "APPLIED", "LEASE", "UPTIME", "CLIENTS", "VERSION");
		for (size_t i = 0; i < n; i++) {
			char e[24], c[24], a[24], u[24], l[24];
			if (!r[i].reachable && status_down(&r[i])) {
				char why[sizeof r[i].error];
				snprintf(why, sizeof why, "%s", r[i].error);
				/* strerror's "Connection refused" inside a line. */
				if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
					why[0] = (char)(why[0] - 'A' + 'a');
				printf("%-3u %-22s %-11s (%s)\n", r[i].config_id, r[i].addr, "down",
				    why);
				continue;
			}
			if (!r[i].reachable) {
				printf("%-3u %-22s %-11s %s: %s\n", r[i].config_id, r[i].addr,
				    "unreachable", chubby_status_name(r[i].status), r[i].error);
				continue;
			}
			fmt_opt(e, sizeof e, r[i].has_epoch, r[i].epoch);
			fmt_opt(c, sizeof c, r[i].has_committed, r[i].committed);
			fmt_opt(a, sizeof a, r[i].has_applied, r[i].applied);
			snprintf(u, sizeof u, "%llus", (unsigned long long)(r[i].uptime_ms / 1000));
			if (r[i].has_lease && r[i].lease_ms > 0)
				snprintf(l, sizeof l, "%.1fs", (double)r[i].lease_ms / 1000.0);
			else
				snprintf(l, sizeof l, "-");
			printf("%-3llu %-22s %-11s %-8s %-9s %-9s %-7s %-9s %-7llu %s\n",
			    (unsigned long long)r[i].id, r[i].addr, r[i].role, e, c, a, l, u,
			    (unsigned long long)r[i].clients, r[i].version);
		}
	}
	/* None reached, and one refused our certificate for good (tp_error's
	 * E_AUTH; the cell's replicas share a CA, so that is the cell's
	 * verdict): the TLS files are the user's to fix, exit 2, not 3. */
	for (size_t i = 0; up == 0 && i < n; i++)
		if (r[i].status == CHUBBY_E_AUTH) {
			free(r);
			return LOCKCTL_EXIT_USAGE;
		}
	free(r);
	return up > 0 ? LOCKCTL_EXIT_OK : LOCKCTL_EXIT_UNAVAIL;
}
