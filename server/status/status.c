/* status.c: / (the status page), /health, /metrics (Prometheus text) and /status (JSON) over HTTP,
 * and the event loop's lag they report (status/looplag.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "ns/ns.h"
#include "replica.h"
#include "mirror/mirror.h"
#include "rpc/rpc.h"
#include "lease_ctl.h"
#include "session/session.h"
#include "status.h"
#include "status/looplag.h"
#include "status/page.h"
#include "httpd.h"
#include "procstat.h"
#include "prom.h"
#include "status/reqstats.h"
#include "xmalloc.h"

struct status_http {
	struct chubbyd *d;
	struct evhttp *http;
	uint64_t requests;
	struct looplag lag;
	uint64_t lag_logged_ms; /* when a lag was last logged */
};

/* The replica's timer fired LATE_US late (replica_watch_lag): how long
 * the loop was busy (or the process was not scheduled) past its due time.
 * That timer is armed anyway (for the Paxos core's next deadline, and at
 * least every REPLICA_TICK_MS on the master, every REPLICA_IDLE_WAKE_MS
 * elsewhere), so the gauge costs the loop no wake-up of its own. */
static void
status_lag_note(void *arg, uint64_t late_us)
{
	struct status_http *s = arg;
	uint64_t ms = clock_mono_ms();

	looplag_note(&s->lag, ms, late_us);
	/* A stall past a heartbeat interval is worth a line (at most one a
	 * second): its time stamp says what it came with. */
	if (late_us >= 50000 && ms - s->lag_logged_ms >= 1000) {
		s->lag_logged_ms = ms;
		log_warn("event loop ran %" PRIu64 " ms late (heartbeats wait as long)", late_us / 1000);
	}
}

uint64_t
status_loop_lag_max_ms(const struct status_http *s)
{
	return s != NULL ? (looplag_max_us(&s->lag, clock_mono_ms()) + 999) / 1000 : 0;
}

static const char *const status_roles[] = {"master", "master-unleased", "follower",
    "candidate", "nonvoter", "diverged"};

/* /health: 200 while this replica can do its part (running, its state not
 * diverged); 503 with the reason otherwise.  Whether it is master is in the
 * body, not the code: a healthy follower is healthy. */
static void
status_health(struct status_http *s, struct evhttp_request *req)
{
	struct replica_info ri;
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	if (s->d->replica == NULL) {
		json_kv_str(&j, "status", "starting");
		json_obj_end(&j);
		httpd_reply(req, 503, "Service Unavailable", "application/json", json_text(&j));
		json_free(&j);
		return;
	}
	replica_info(s->d->replica, &ri);
	json_kv_str(&j, "status", ri.diverged ? "diverged" : "ok");
	json_kv_str(&j, "role", ri.role);
	json_kv_uint(&j, "epoch", ri.epoch);
	json_kv_uint(&j, "master", ri.master);
	json_kv_bool(&j, "voter", ri.voter);
	json_kv_uint(&j, "peer_links_up", ri.links_up);
	json_obj_end(&j);
	if (ri.diverged)
		httpd_reply(req, 503, "Service Unavailable", "application/json", json_text(&j));
	else
		httpd_reply(req, 200, "OK", "application/json", json_text(&j));
	json_free(&j);
}

/* Client requests by op and status (only the pairs seen, as client
 * libraries show only the children they made), and latency by op. */
static void
status_request_metrics(struct prom *p, const struct reqstats *rs)
{
	char labels[128];

	prom_head(p, "chubby_client_requests_total", "counter",
	    "Client requests answered, by operation and status.");
	for (unsigned i = 0; i < REQSTATS_NOPS; i++)
		for (unsigned j = 0; j < REQSTATS_NSTATUS; j++) {
			if (rs->n[i][j] == 0)
				continue;
			snprintf(labels, sizeof labels, "op=\"%s\",status=\"%s\"",
			    reqstats_op_name(i), reqstats_status_name(j));
			prom_uint(p, "chubby_client_requests_total", labels, rs->n[i][j]);
		}
	prom_head(p, "chubby_client_request_duration_seconds", "histogram",
	    "From a request's arrival to its answer, by operation (a held ACQUIRE or "
	    "KeepAlive counts all the time it was held).");
	for (unsigned i = 0; i < REQSTATS_NOPS; i++) {
		if (rs->lat[i].count == 0)
			continue;
		snprintf(labels, sizeof labels, "op=\"%s\"", reqstats_op_name(i));
		prom_hist(p, "chubby_client_request_duration_seconds", labels, &rs->lat[i]);
	}
}

static void
status_metrics(struct status_http *s, struct evhttp_request *req)
{
	struct chubbyd *d = s->d;
	struct evbuffer *b = evbuffer_new();
	struct replica_info ri;
	struct prom pm, *p = &pm;
	char cell[256], labels[512];

	memset(&ri, 0, sizeof ri);
	ri.role = "starting";
	if (d->replica != NULL)
		replica_info(d->replica, &ri);
	prom_init(p);
	prom_head(p, "chubby_info", "gauge", "The replica's identity.");
	snprintf(labels, sizeof labels, "cell=\"%s\",replica=\"%u\",version=\"%s\"",
	    prom_escape(d->cfg->cell, cell, sizeof cell), d->id, PACKAGE_VERSION);
	prom_uint(p, "chubby_info", labels, 1);
	prom_head(p, "chubby_role", "gauge", "1 for the role this replica is in.");
	for (size_t i = 0; i < sizeof status_roles / sizeof status_roles[0]; i++) {
		snprintf(labels, sizeof labels, "role=\"%s\"", status_roles[i]);
		prom_uint(p, "chubby_role", labels, strcmp(ri.role, status_roles[i]) == 0);
	}
	prom_metric(p, "chubby_epoch", "gauge", "The epoch (master's ballot) this replica follows.",
	    ri.epoch);
	prom_metric(p, "chubby_promised_ballot", "gauge",
	    "The ballot this replica promised (round << 8 | proposer id); rises only with "
	    "elections.", ri.promised);
	prom_metric(p, "chubby_master_id", "gauge", "The master's replica id as known here; 0 if none.",
	    ri.master);
	prom_metric(p, "chubby_log_committed_index", "gauge", "Highest log slot known chosen.",
	    ri.committed);
	prom_metric(p, "chubby_log_applied_index", "gauge", "Highest log slot applied.", ri.applied);
	prom_head(p, "chubby_lease_remaining_seconds", "gauge", "The lease as this replica sees it.");
	prom_double(p, "chubby_lease_remaining_seconds", NULL, (double)ri.lease_ms / 1000.0);
	prom_metric(p, "chubby_voter", "gauge", "1 if this replica votes (0 while rejoining).",
	    ri.voter);
	prom_metric(p, "chubby_diverged", "gauge", "1 if a consistency check failed here.", ri.diverged);
	prom_metric(p, "chubby_peer_links_up", "gauge", "Outgoing links to other replicas that are up.",
	    ri.links_up);
	prom_metric(p, "chubby_peer_links", "gauge", "Other replicas in the cell.", ri.links_total);
	prom_metric(p, "chubby_peer_messages_sent_total", "counter", "Paxos messages sent.",
	    ri.peer_sent);
	prom_metric(p, "chubby_peer_messages_dropped_total", "counter",
	    "Paxos messages dropped (link down or backed up).", ri.peer_dropped);
	prom_metric(p, "chubby_peer_messages_received_total", "counter", "Paxos messages received.",
	    ri.peer_received);
	prom_metric(p, "chubby_peer_messages_bad_total", "counter",
	    "Malformed or misaddressed peer messages (link closed).", ri.peer_bad);
	prom_metric(p, "chubby_peer_bytes_sent_total", "counter", "Bytes sent to peers.",
	    ri.peer_bytes_out);
	prom_metric(p, "chubby_peer_bytes_received_total", "counter", "Bytes received from peers.",
	    ri.peer_bytes_in);
	prom_metric(p, "chubby_proposals_total", "counter", "Commands this replica proposed as master.",
	    ri.proposals);
	prom_metric(p, "chubby_client_connections", "gauge", "Open client connections.",
	    d->rpc ? rpc_client_count(d->rpc) : 0);
	prom_metric(p, "chubby_uptime_seconds", "gauge", "Seconds since this process started.",
	    (clock_mono_ms() - d->started_mono_ms) / 1000);
	if (d->sessions != NULL) {
		struct session_stats ss;
		session_stats(d->sessions, &ss);
		prom_metric(p, "chubby_sessions", "gauge",
		    "Sessions in the master's table (0 on other replicas).", ss.sessions);
		prom_metric(p, "chubby_keepalives_held", "gauge", "KeepAlives the master is holding.",
		    ss.held_keepalives);
		prom_metric(p, "chubby_keepalives_total", "counter", "KeepAlives answered as master.",
		    ss.keepalives);
		prom_metric(p, "chubby_sessions_expired_total", "counter",
		    "Sessions this replica expired as master.", ss.expired);
		prom_metric(p, "chubby_lock_waiters", "gauge", "ACQUIREs waiting for a lock.", ss.waiters);
		prom_metric(p, "chubby_writes_held", "gauge",
		    "Writes waiting for cache invalidations or the fail-over hold.", ss.gated_writes);
		prom_metric(p, "chubby_invalidations_total", "counter", "Cache invalidations sent.",
		    ss.invalidations);
		prom_metric(p, "chubby_handles_in_memory", "gauge",
		    "Handles the master keeps in memory (handles_in_memory).", ss.mem_handles);
		prom_metric(p, "chubby_proxy_orphans", "gauge",
		    "Ended proxy sessions whose clients' handles wait for a claim.", ss.orphans);
		prom_metric(p, "chubby_proxy_claim_windows_ended_total", "counter",
		    "Claim windows that ended without a claim (handles released).",
		    ss.orphans_released);
		struct session_lease_info li;
		session_lease_info(d->sessions, &li);
		prom_metric(p, "chubby_session_lease_ms", "gauge",
		    "Session lease the master grants now (longer under load).", li.granted_ms);
		prom_metric(p, "chubby_session_lease_cap_ms", "gauge",
		    "Longest session lease recorded as grantable (LEASE_CAP; 0: none).", li.cap_ms);
		prom_metric(p, "chubby_load_percent", "gauge",
		    "Master load, in % of the overload thresholds (100: overloaded).", li.load_pct);
		prom_metric(p, "chubby_session_starts_per_second", "gauge",
		    "SESSION_STARTs the master received per second (a load signal of the lease).",
		    li.starts_per_s);
		/* Which signal set the lease wanted now: one series per
		 * signal, 1 for that one (all 0 at the base lease). */
		prom_head(p, "chubby_session_lease_driver", "gauge",
		    "1 for the load signal that set the session lease the master wants "
		    "(docs/SESSIONS.md); all 0 at the base lease.");
		for (int sg = LEASE_SIG_QUEUE; sg <= LEASE_SIG_STARTS; sg++) {
			const char *name = lease_sig_name((enum lease_sig)sg);
			char lab[48];
			snprintf(lab, sizeof lab, "signal=\"%s\"", name);
			prom_uint(p, "chubby_session_lease_driver", lab,
			    li.driver != NULL && strcmp(li.driver, name) == 0);
		}
	}
	if (d->rpc != NULL) {
		struct rpc_stats rs;
		rpc_stats(d->rpc, &rs);
		status_request_metrics(p, rpc_reqstats(d->rpc));
		prom_metric(p, "chubby_client_bytes_received_total", "counter",
		    "Bytes received from clients (frames).", rs.bytes_in);
		prom_metric(p, "chubby_client_bytes_sent_total", "counter", "Bytes sent to clients.",
		    rs.bytes_out);
		prom_metric(p, "chubby_client_connections_refused_total", "counter",
		    "Client connections refused at max_connections.", rs.refused);
	}
	prom_head(p, "chubby_commit_latency_seconds", "histogram",
	    "From proposal to applied, for the writes this replica proposed as master.");
	prom_hist(p, "chubby_commit_latency_seconds", NULL, &ri.commit);
	prom_head(p, "chubby_store_fsync_seconds", "histogram",
	    "Synced writes of the log to the store (LevelDB's write and its fsync), made by "
	    "the store writer thread.");
	prom_hist(p, "chubby_store_fsync_seconds", NULL, &ri.fsync);
	{
		uint64_t cum = 0;
		char help[160];
		snprintf(help, sizeof help,
		    "How late the event loop ran the replica's timer (due at least every %d ms, "
		    "%d ms on the master): time the loop was held by work or not scheduled.",
		    REPLICA_IDLE_WAKE_MS, REPLICA_TICK_MS);
		prom_head(p, "chubby_loop_lag_seconds", "histogram", help);
		for (unsigned i = 0; i < LOOPLAG_NBUCKETS; i++) {
			cum += s->lag.buckets[i];
			prom_printf(p, "chubby_loop_lag_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			    (double)looplag_bucket_us(i) / 1e6, cum);
		}
		prom_printf(p, "chubby_loop_lag_seconds_bucket{le=\"+Inf\"} %" PRIu64
			       "\nchubby_loop_lag_seconds_sum %.6f\n"
			       "chubby_loop_lag_seconds_count %" PRIu64 "\n",
		    s->lag.count, (double)s->lag.sum_us / 1e6, s->lag.count);
		snprintf(help, sizeof help, "The largest loop lag of the last %d s.",
		    LOOPLAG_WINDOW_S);
		prom_head(p, "chubby_loop_lag_max_seconds", "gauge", help);
		prom_double(p, "chubby_loop_lag_max_seconds", NULL,
		    (double)looplag_max_us(&s->lag, clock_mono_ms()) / 1e6);
	}
	if (d->replica != NULL) {
		prom_metric(p, "chubby_locks_held", "gauge", "Nodes whose lock is held now.",
		    ns_locks_held(replica_ns(d->replica)));
		prom_metric(p, "chubby_nodes", "gauge", "Nodes in the namespace.",
		    ns_node_count(replica_ns(d->replica)));
		prom_metric(p, "chubby_sessions_replicated", "gauge", "Sessions in the replicated state.",
		    ns_session_count(replica_ns(d->replica)));
	}
	{
		/* The mirrors (docs/OPERATIONS.md "Mirroring"); the master runs
		 * them, the others say standby. */
		struct mirror_info mi[CONFIG_MAX_MIRRORS];
		size_t n = mirror_set_info(d->mirrors, mi, CONFIG_MAX_MIRRORS);
		static const char *const states[] = {"standby", "connecting", "syncing", "following",
		    "error"};
		char ml[256], name[128];

		if (n > 0) {
			prom_head(p, "chubby_mirror_lag_seconds", "gauge",
			    "How old the oldest change of the source subtree not yet copied here may "
			    "be (0 while following with nothing pending).");
			for (size_t i = 0; i < n; i++) {
				snprintf(ml, sizeof ml, "mirror=\"%s\"",
				    prom_escape(mi[i].name, name, sizeof name));
				prom_double(p, "chubby_mirror_lag_seconds", ml,
				    (double)mi[i].lag_ms / 1000.0);
			}
			prom_head(p, "chubby_mirror_last_sync_timestamp_seconds", "gauge",
			    "Wall-clock time of the mirror's last completed sync (0: none yet).");
			for (size_t i = 0; i < n; i++) {
				snprintf(ml, sizeof ml, "mirror=\"%s\"",
				    prom_escape(mi[i].name, name, sizeof name));
				prom_double(p, "chubby_mirror_last_sync_timestamp_seconds", ml,
				    (double)mi[i].last_sync_ms / 1000.0);
			}
			prom_head(p, "chubby_mirror_state", "gauge", "1 for the state the mirror is in.");
			for (size_t i = 0; i < n; i++)
				for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
					snprintf(ml, sizeof ml, "mirror=\"%s\",state=\"%s\"",
					    prom_escape(mi[i].name, name, sizeof name), states[k]);
					prom_uint(p, "chubby_mirror_state", ml,
					    strcmp(mi[i].state, states[k]) == 0);
				}
			prom_head(p, "chubby_mirror_syncs_total", "counter",
			    "Syncs of the mirror completed by this replica.");
			for (size_t i = 0; i < n; i++) {
				snprintf(ml, sizeof ml, "mirror=\"%s\"",
				    prom_escape(mi[i].name, name, sizeof name));
				prom_uint(p, "chubby_mirror_syncs_total", ml, mi[i].syncs);
			}
			prom_head(p, "chubby_mirror_errors_total", "counter",
			    "Syncs of the mirror that failed here (retried).");
			for (size_t i = 0; i < n; i++) {
				snprintf(ml, sizeof ml, "mirror=\"%s\"",
				    prom_escape(mi[i].name, name, sizeof name));
				prom_uint(p, "chubby_mirror_errors_total", ml, mi[i].errors);
			}
		}
	}
	procstat_prom(p);
	evbuffer_add(b, p->buf, p->len);
	prom_free(p);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
status_json(struct status_http *s, struct evhttp_request *req)
{
	struct chubbyd *d = s->d;
	struct replica_info ri;
	struct json j;
	char dg[24];

	memset(&ri, 0, sizeof ri);
	ri.role = "starting";
	if (d->replica != NULL)
		replica_info(d->replica, &ri);
	snprintf(dg, sizeof dg, "%016" PRIx64, ri.digest);
	json_init(&j);
	json_obj_begin(&j);
	json_kv_str(&j, "cell", d->cfg->cell);
	json_kv_uint(&j, "id", d->id);
	json_kv_str(&j, "version", PACKAGE_VERSION);
	json_kv_str(&j, "role", ri.role);
	json_kv_uint(&j, "epoch", ri.epoch);
	json_kv_uint(&j, "promised", ri.promised);
	json_kv_uint(&j, "master", ri.master);
	json_kv_uint(&j, "committed", ri.committed);
	json_kv_uint(&j, "applied", ri.applied);
	json_kv_uint(&j, "lease_ms", ri.lease_ms);
	json_kv_bool(&j, "voter", ri.voter);
	json_kv_str(&j, "digest", dg);
	json_kv_uint(&j, "peer_links_up", ri.links_up);
	json_kv_uint(&j, "clients", d->rpc ? rpc_client_count(d->rpc) : 0);
	json_kv_uint(&j, "uptime_ms", clock_mono_ms() - d->started_mono_ms);
	json_kv_uint(&j, "loop_lag_max_ms", status_loop_lag_max_ms(s));
	json_obj_end(&j);
	httpd_reply(req, 200, "OK", "application/json", json_text(&j));
	json_free(&j);
}

/* The status page's view of the cell from here: this replica's own
 * figures; for the others, what the master knows (each one's chosen index
 * and when its last lease grant came) or, at a follower, only which one is
 * master. */
static void
status_page_view(struct status_http *s, struct page_view *v)
{
	struct chubbyd *d = s->d;
	struct replica_info ri;
	const struct cell_config *c = d->cfg;

	memset(&ri, 0, sizeof ri);
	ri.role = "starting";
	if (d->replica != NULL)
		replica_info(d->replica, &ri);
	memset(v, 0, sizeof *v);
	v->cell = c->cell;
	v->version = PACKAGE_VERSION;
	v->self_id = d->id;
	v->master_id = ri.master;
	v->role = ri.role;
	v->epoch = ri.epoch;
	v->committed = ri.committed;
	v->applied = ri.applied;
	v->is_master = strcmp(ri.role, "master") == 0;
	v->clients = d->rpc ? rpc_client_count(d->rpc) : 0;
	if (d->replica != NULL) {
		const struct ns *ns = replica_ns(d->replica);
		v->locks = ns_locks_held(ns);
		v->nodes = ns_node_count(ns);
		v->sessions_replicated = ns_session_count(ns);
		v->npoints = replica_commit_recent(d->replica, v->points);
	}
	v->now_sec = clock_mono_ms() / 1000;
	for (unsigned i = 0; i < c->nreplicas && v->nreplicas < PAGE_MAX_REPLICAS; i++) {
		const struct cell_replica *cr = &c->replicas[i];
		struct page_replica *r = &v->rep[v->nreplicas++];
		uint64_t chosen, ago;

		r->id = cr->id;
		r->client_addr = cr->client_addr;
		r->status_addr = cr->status_addr;
		r->role = "unknown";
		if (cr->id == ri.master && ri.master != 0)
			v->master_status_addr = cr->status_addr;
		if (cr->id == d->id) {
			r->self = true;
			r->role = ri.role;
			r->has_pos = true;
			r->committed = ri.committed;
			r->applied = ri.applied;
		} else if (cr->id == ri.master) {
			r->role = "master";
		} else if (v->is_master && d->replica != NULL &&
		    replica_peer_progress(d->replica, cr->id, &chosen, &ago)) {
			/* A grant within the lease: it follows this master. */
			r->role = ago <= c->master_lease_ms ? "follower" : "silent";
			r->has_pos = r->has_heard = true;
			r->committed = chosen;
			r->heard_ms_ago = ago;
		} else if (v->is_master) {
			r->role = "silent";
		}
	}
}

/* GET /: the status page (status/page.h).  The policy keeps it
 * self-contained: nothing may load from elsewhere, and its script may
 * fetch from this origin only. */
static void
status_page(struct status_http *s, struct evhttp_request *req)
{
	struct page_view *v = xcalloc(1, sizeof *v);
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct prom out;

	status_page_view(s, v);
	prom_init(&out);
	page_render(&out, v);
	evbuffer_add(b, out.buf, out.len);
	prom_free(&out);
	free(v);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
	    "frame-ancestors 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
status_cb(struct evhttp_request *req, void *arg)
{
	struct status_http *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	s->requests++;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		httpd_reply(req, 405, "Method Not Allowed", "text/plain", "GET only\n");
		return;
	}
	if (path == NULL)
		path = "/";
	if (strcmp(path, "/") == 0)
		status_page(s, req);
	else if (strcmp(path, "/health") == 0)
		status_health(s, req);
	else if (strcmp(path, "/metrics") == 0)
		status_metrics(s, req);
	else if (strcmp(path, "/status") == 0)
		status_json(s, req);
	else
		httpd_reply(req, 404, "Not Found", "text/plain",
		    "chubbyd status: try /, /health, /metrics or /status\n");
}

struct status_http *
status_http_new(struct chubbyd *d, char *err, size_t errlen)
{
	struct status_http *s = xcalloc(1, sizeof *s);

	s->d = d;
	looplag_init(&s->lag);
	if (d->replica != NULL)
		replica_watch_lag(d->replica, status_lag_note, s);
	s->http = httpd_listen(d->base, d->self->status_addr, status_cb, s, err, errlen);
	if (s->http == NULL)
		goto fail;
	return s;
fail:
	status_http_free(s);
	return NULL;
}

void
status_http_free(struct status_http *s)
{
	if (s == NULL)
		return;
	if (s->http != NULL)
		evhttp_free(s->http);
	if (s->d->replica != NULL)
		replica_watch_lag(s->d->replica, NULL, NULL);
	free(s);
}
