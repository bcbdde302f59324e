/* pxhttp.c: chubby-proxy's /metrics and /health (pxhttp.h, docs/PROXY.md "Metrics"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include <chubby/chubby.h>

#include "httpd.h"
#include "json.h"
#include "proxy.h"
#include "pxhttp.h"
#include "procstat.h"
#include "prom.h"
#include "xmalloc.h"

struct pxhttp {
	struct proxy *p;
	struct evhttp *http;
};

static void
gauge_s(struct prom *m, const char *name, const char *help, uint64_t ms)
{
	prom_head(m, name, "gauge", help);
	prom_double(m, name, NULL, (double)ms / 1000.0);
}

static void
pxhttp_metrics(struct pxhttp *h, struct evhttp_request *req)
{
	struct proxy *p = h->p;
	uint64_t now = proxy_now();
	int64_t up_left = proxy_upstream_lease_left(p, now);
	struct prom m;
	char labels[320], cell[128], listen[160];

	prom_init(&m);
	snprintf(labels, sizeof labels, "cell=\"%s\",listen=\"%s\",version=\"%s\"",
	    prom_escape(p->cfg->cell, cell, sizeof cell), prom_escape(p->listen, listen, sizeof listen),
	    PACKAGE_VERSION);
	prom_head(&m, "chubby_proxy_info", "gauge", "The proxy's cell, client address and version.");
	prom_uint(&m, "chubby_proxy_info", labels, 1);
	prom_metric(&m, "chubby_proxy_client_connections", "gauge", "Client connections open.",
	    p->nconns);
	prom_metric(&m, "chubby_proxy_client_sessions", "gauge",
	    "Client sessions the proxy holds (each is one at the master's side only as a tag).",
	    p->px.nclients);
	prom_metric(&m, "chubby_proxy_client_sessions_expired_total", "counter",
	    "Client sessions whose lease ran out at the proxy.", p->px.st.expired);
	prom_metric(&m, "chubby_proxy_keepalives_total", "counter",
	    "Client KeepAlives answered by the proxy (never forwarded).", p->load.keepalives);
	prom_metric(&m, "chubby_proxy_forwarded_total", "counter",
	    "Requests forwarded to the master.", p->forwarded);
	prom_metric(&m, "chubby_proxy_claims_total", "counter",
	    "Client sessions claimed from another proxy (or an ended upstream session).",
	    p->claims);
	prom_metric(&m, "chubby_proxy_cache_entries", "gauge", "Nodes in the proxy's cache.",
	    p->px.ncache);
	prom_metric(&m, "chubby_proxy_cache_hits_total", "counter",
	    "Cached reads served from the proxy's cache.", p->px.st.hits);
	prom_metric(&m, "chubby_proxy_cache_misses_total", "counter",
	    "Cached reads the proxy forwarded to the master.", p->px.st.misses);
	prom_metric(&m, "chubby_proxy_invalidations_relayed_total", "counter",
	    "Invalidations from the master relayed to the clients caching a node.", p->px.st.relays);
	prom_metric(&m, "chubby_proxy_upstream_connected", "gauge",
	    "1 while the proxy is connected to the master.", p->upc == UPC_READY);
	prom_metric(&m, "chubby_proxy_upstream_sessions", "gauge",
	    "The proxy's own sessions at the master (one per client principal).", p->px.nups);
	gauge_s(&m, "chubby_proxy_upstream_lease_remaining_seconds",
	    "The shortest lease left among the proxy's sessions at the master (0: none holds).",
	    up_left > 0 ? (uint64_t)up_left : 0);
	prom_metric(&m, "chubby_proxy_master_epoch", "gauge",
	    "The master's epoch as the proxy last saw it.", p->px.master_epoch);
	gauge_s(&m, "chubby_proxy_session_lease_seconds",
	    "The lease the proxy grants its clients now (longer under load).",
	    p->px.session_lease_ms);
	gauge_s(&m, "chubby_proxy_session_lease_out_seconds",
	    "How long the longest client lease granted still runs.",
	    p->load.lease_out_end > now ? p->load.lease_out_end - now : 0);
	prom_head(&m, "chubby_proxy_load_ratio", "gauge",
	    "The proxy's load against its overload thresholds (1: at a threshold).");
	prom_double(&m, "chubby_proxy_load_ratio", NULL, (double)p->load.ctl.load_pct / 100.0);
	gauge_s(&m, "chubby_proxy_lease_slack_seconds",
	    "How far a client lease may end past the upstream lease (the claim window's slack).",
	    p->load.slack_ms);
	gauge_s(&m, "chubby_proxy_loop_lag_max_seconds",
	    "The largest event loop lag of the last 10-20 s.", pxload_lag_ms(&p->load));
	gauge_s(&m, "chubby_proxy_uptime_seconds", "Seconds since the proxy started.",
	    now - p->started_ms);
	procstat_prom(&m);
	httpd_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    m.buf != NULL ? m.buf : "");
	prom_free(&m);
}

/* 200 while the proxy can serve: connected to a master, and no session of
 * its own there in jeopardy (a master that stopped answering leaves the
 * connection up).  503 with the reason otherwise; clients then go to
 * another proxy or wait (docs/PROXY.md "Jeopardy"). */
static void
pxhttp_health(struct pxhttp *h, struct evhttp_request *req)
{
	struct proxy *p = h->p;
	const char *why = p->upc == UPC_READY ? NULL : "no master";
	bool ok;
	struct json j;

	for (const struct px_up *up = p->px.ups; why == NULL && up != NULL; up = up->next)
		if (up->state == PX_UP_JEOPARDY)
			why = "jeopardy: the master stopped answering";
	ok = why == NULL;
	json_init(&j);
	json_obj_begin(&j);
	json_kv_str(&j, "status", ok ? "ok" : why);
	json_kv_str(&j, "upstream", ok ? p->up_addr : NULL);
	json_kv_uint(&j, "client_sessions", p->px.nclients);
	json_kv_uint(&j, "master_epoch", p->px.master_epoch);
	json_obj_end(&j);
	httpd_reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "application/json",
	    json_text(&j) != NULL ? json_text(&j) : "{}");
	json_free(&j);
}

static void
pxhttp_cb(struct evhttp_request *req, void *arg)
{
	struct pxhttp *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path != NULL && strcmp(path, "/metrics") == 0)
		pxhttp_metrics(h, req);
	else if (path != NULL && strcmp(path, "/health") == 0)
		pxhttp_health(h, req);
	else
		httpd_reply(req, 404, "Not Found", "text/plain",
		    "chubby-proxy: try /metrics or /health\n");
}

struct pxhttp *
pxhttp_new(struct proxy *p, const char *addr, char *err, size_t errlen)
{
	struct pxhttp *h = xcalloc(1, sizeof *h);

	h->p = p;
	if ((h->http = httpd_listen(p->base, addr, pxhttp_cb, h, err, errlen)) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
pxhttp_free(struct pxhttp *h)
{
	if (h == NULL)
		return;
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}
