/* session_shell.c: the session layer's environment in chubbyd (see
 * session_shell.h). */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "procstat.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "seqtoken.h"
#include "session_shell.h"
#include "status/status.h"
#include "xmalloc.h"

struct session_now
session_shell_now(void)
{
	struct session_now now = {.mono_ms = clock_mono_ms(), .real_ms = clock_real_ms()};

	return now;
}

static int
shell_submit(void *arg, const uint8_t *cmd, size_t len, session_done_fn done, void *done_arg)
{
	struct chubbyd *d = arg;

	if (d->replica == NULL)
		return CHUBBY_E_NOT_MASTER;
	return replica_submit(d->replica, cmd, len, done, done_arg);
}

static void
shell_reply(void *arg, void *req, int status, const char *msg, const void *result, size_t len)
{
	(void)arg;
	rpc_req_reply(req, status, msg, result, len);
}

static bool
shell_mastership(void *arg, uint64_t *epoch)
{
	struct chubbyd *d = arg;

	if (d->replica == NULL) {
		*epoch = 0;
		return false;
	}
	*epoch = replica_epoch(d->replica);
	return replica_is_master(d->replica);
}

static const struct ns *
shell_ns(void *arg)
{
	struct chubbyd *d = arg;

	return d->replica != NULL ? replica_ns(d->replica) : NULL;
}

static int
shell_sign(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen)
{
	struct chubbyd *d = arg;

	return seqtoken_encode(d->seq_key, d->seq_key_len, t, tok, toklen);
}

static void
shell_log(void *arg, int level, const char *line)
{
	(void)arg;
	if (level == SESSION_LOG_WARN)
		log_warn("%s", line);
	else
		log_info("%s", line);
}

struct session_mgr *
session_shell_new(struct chubbyd *d)
{
	char *admins = config_admins_lines(d->cfg->acl_admins);
	struct session_config cfg = {
	    .lease_ms = d->cfg->session_lease_ms,
	    .lease_max_ms = d->cfg->session_lease_max_ms,
	    .overload_queue = d->cfg->overload_queue,
	    .overload_keepalive_rate = d->cfg->overload_keepalive_rate,
	    .overload_cpu = d->cfg->overload_cpu,
	    .overload_loop_lag_ms = d->cfg->overload_loop_lag_ms,
	    .overload_session_starts = d->cfg->overload_session_starts,
	    .cell = d->cfg->cell,
	    .init_acls = true,
	    .root_acl = {d->cfg->root_acl_read, d->cfg->root_acl_write, d->cfg->root_acl_change},
	    .acl_admins = admins,
	    .proxy_claim_window_ms = d->cfg->proxy_claim_window_ms,
	};
	struct session_mgr *sm;
	struct session_env env = {
	    .arg = d,
	    .submit = shell_submit,
	    .reply = shell_reply,
	    .mastership = shell_mastership,
	    .ns = shell_ns,
	    .sign = shell_sign,
	    .log = shell_log,
	};

	sm = session_new(&cfg, &env);
	free(admins);
	return sm;
}

/* --- the replica's observer ------------------------------------------------ */

static void
on_applied(void *arg, const uint8_t *cmd, size_t len, const struct ns_result *res)
{
	struct chubbyd *d = arg;

	session_applied(d->sessions, session_shell_now(), cmd, len, res);
}

static void
on_state_replaced(void *arg)
{
	struct chubbyd *d = arg;

	session_state_replaced(d->sessions);
}

/* The daemon's CPU time (user + system) in ms. */
static uint64_t
cpu_ms(void)
{
	return procstat_cpu_us() / 1000;
}

/* The load the session lease follows, measured about once a second:
 * the replica's queue of proposals, the daemon's CPU over the second, and
 * the event loop's lag (the largest of the last 10 s): a master that falls
 * behind on a machine whose CPU others take never shows a busy CPU of its
 * own, only a late loop; and the SESSION_STARTs received so far. */
static void
measure_load(struct chubbyd *d, struct session_now now)
{
	static uint64_t last_mono, last_cpu;
	struct rpc_stats rs = {0};
	uint64_t cpu;
	unsigned pct;

	if (last_mono != 0 && now.mono_ms - last_mono < 1000)
		return;
	cpu = cpu_ms(); /* once a second, not every tick (an idle cell's cost) */
	pct = last_mono == 0 || cpu < last_cpu
	          ? 0
	          : (unsigned)((cpu - last_cpu) * 100 / (now.mono_ms - last_mono));
	last_mono = now.mono_ms;
	last_cpu = cpu;
	if (d->rpc != NULL)
		rpc_stats(d->rpc, &rs);
	session_load(d->sessions, now, d->replica != NULL ? replica_pending(d->replica) : 0, pct,
	    d->status != NULL ? status_loop_lag_max_ms(d->status) : 0, rs.session_starts);
}

static void
on_tick(void *arg)
{
	struct chubbyd *d = arg;
	struct session_now now = session_shell_now();

	session_tick(d->sessions, now);
	measure_load(d, now);
}

static bool
idle(void *arg)
{
	struct chubbyd *d = arg;

	return session_idle(d->sessions);
}

void
session_shell_attach(struct chubbyd *d)
{
	struct replica_observer obs = {
	    .arg = d,
	    .on_applied = on_applied,
	    .on_state_replaced = on_state_replaced,
	    .on_tick = on_tick,
	    .idle = idle,
	};

	replica_observe(d->replica, &obs);
}
