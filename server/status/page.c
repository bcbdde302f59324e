/* page.c: the status page's HTML (status/page.h). */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "status/page.h"

/* The chart's frame (SVG user units): the plot spans PX0..PX1, PY0..PY1. */
#define PAGE_W 640
#define PAGE_H 200
#define PX0 56
#define PX1 626
#define PY0 16
#define PY1 168

void
page_escape(struct prom *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			prom_printf(out, "&amp;");
			break;
		case '<':
			prom_printf(out, "&lt;");
			break;
		case '>':
			prom_printf(out, "&gt;");
			break;
		case '"':
			prom_printf(out, "&quot;");
			break;
		case '\'':
			prom_printf(out, "&#39;");
			break;
		default:
			prom_printf(out, "%c", *s);
		}
	}
}

static const char page_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}"
    "h1{font-size:20px;margin:0 0 4px}.sub{color:#5b6474;margin:0 0 16px}"
    "table{border-collapse:collapse;margin:8px 0 20px}"
    "th,td{padding:4px 12px;border-bottom:1px solid #d9dde5;text-align:left}"
    "th{background:#eef1f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.self td:first-child{font-weight:700}"
    ".role{display:inline-block;padding:0 8px;border-radius:10px;background:#e3e7ee}"
    ".role.master{background:#1f7a3d;color:#fff}.role.follower{background:#d5ecdc}"
    ".role.silent,.role.diverged{background:#c62828;color:#fff}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 20px}"
    ".card{border:1px solid #d9dde5;border-radius:6px;padding:8px 14px;min-width:90px}"
    ".card b{display:block;font-size:20px}"
    "svg{border:1px solid #d9dde5;border-radius:6px;background:#fbfcfe}"
    ".axis{stroke:#8a93a3;stroke-width:1}.grid{stroke:#e3e7ee;stroke-width:1}"
    ".lbl{font-size:11px;fill:#5b6474}.mean{fill:none;stroke:#2e62c9;stroke-width:2}"
    ".max{stroke:#e08a1e;stroke-width:2}circle.pt{fill:#2e62c9}"
    ".note{color:#5b6474}";

/* Refreshes #main every 2 s from the same origin (connect-src 'self'),
 * parsed with DOMParser: the new part runs no script and its text was
 * escaped by the server.  <body data-refreshed> counts the refreshes (the
 * browser test waits for one). */
static const char page_js[] =
    "\"use strict\";(function(){var box=document.getElementById(\"auto\"),k=0;"
    "document.body.dataset.refreshed=\"0\";"
    "setInterval(function(){if(!box.checked)return;"
    "fetch(\"/\",{cache:\"no-store\"}).then(function(r){return r.text();})"
    ".then(function(t){var d=new DOMParser().parseFromString(t,\"text/html\");"
    "var n=d.getElementById(\"main\");if(n){document.getElementById(\"main\").replaceWith(n);"
    "document.body.dataset.refreshed=String(++k);}})"
    ".catch(function(){});},2000);})();";

/* The smallest 1, 2 or 5 times a power of ten at or above US (≥ 1 ms). */
static uint64_t
page_nice_us(uint64_t us)
{
	uint64_t step = 1000;

	for (;;) {
		if (us <= step)
			return step;
		if (us <= 2 * step)
			return 2 * step;
		if (us <= 5 * step)
			return 5 * step;
		step *= 10;
	}
}

static void
page_chart(struct prom *o, const struct page_view *v)
{
	uint64_t top = 0;
	double xs = (double)(PX1 - PX0) / (LAT_RING_S - 1), ys;

	for (size_t i = 0; i < v->npoints; i++)
		if (v->points[i].max_us > top)
			top = v->points[i].max_us;
	top = page_nice_us(top);
	ys = (double)(PY1 - PY0) / (double)top;
	prom_printf(o,
	    "<svg id=\"commit-chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-label=\"commit latency of the last %d seconds\">\n",
	    PAGE_W, PAGE_H, PAGE_W, PAGE_H, LAT_RING_S);
	for (int k = 0; k <= 2; k++) {
		double y = PY1 - (double)(PY1 - PY0) * k / 2;
		prom_printf(o, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
			       "<text class=\"lbl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ms</text>\n",
		    PX0, y, PX1, y, PX0 - 6, y + 4, (double)top * k / 2 / 1000.0);
	}
	prom_printf(o, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
		       "<text class=\"lbl\" x=\"%d\" y=\"%d\">-%d s</text>"
		       "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>\n",
	    PX0, PY1, PX1, PY1, PX0, PY1 + 18, LAT_RING_S, PX1, PY1 + 18);
	if (v->npoints == 0) {
		prom_printf(o, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
		    (PX0 + PX1) / 2, (PY0 + PY1) / 2,
		    v->is_master ? "no commits in the last minute"
				 : "commit latency is measured at the master");
		prom_printf(o, "</svg>\n");
		return;
	}
	prom_printf(o, "<polyline class=\"mean\" points=\"");
	for (size_t i = 0; i < v->npoints; i++) {
		const struct lat_point *p = &v->points[i];
		double x = PX0 + xs * (double)(LAT_RING_S - 1 - (v->now_sec - p->sec));
		double y = PY1 - ys * (double)(p->sum_us / p->count);
		prom_printf(o, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
	prom_printf(o, "\"/>\n");
	for (size_t i = 0; i < v->npoints; i++) {
		const struct lat_point *p = &v->points[i];
		uint64_t mean = p->sum_us / p->count, ago = v->now_sec - p->sec;
		double x = PX0 + xs * (double)(LAT_RING_S - 1 - ago);
		prom_printf(o,
		    "<line class=\"max\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" data-ago=\"%" PRIu64
		    "\" data-n=\"%" PRIu64 "\" data-ms=\"%.3f\" data-max-ms=\"%.3f\">"
		    "<title>%" PRIu64 " s ago: %" PRIu64 " commits, mean %.3f ms, max %.3f ms"
		    "</title></circle>\n",
		    x, PY1 - ys * (double)mean, x, PY1 - ys * (double)p->max_us, x,
		    PY1 - ys * (double)mean, ago, p->count, (double)mean / 1000.0,
		    (double)p->max_us / 1000.0, ago, p->count, (double)mean / 1000.0,
		    (double)p->max_us / 1000.0);
	}
	prom_printf(o, "</svg>\n");
}

static void
page_card(struct prom *o, const char *id, const char *label, uint64_t v)
{
	prom_printf(o, "<div class=\"card\">%s<b id=\"%s\">%" PRIu64 "</b></div>", label, id, v);
}

static void
page_replicas(struct prom *o, const struct page_view *v)
{
	prom_printf(o, "<table id=\"replicas\"><thead><tr><th>replica</th><th>role</th>"
		       "<th>client address</th><th>status</th><th>committed</th><th>applied</th>"
		       "<th>last heard</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < v->nreplicas; i++) {
		const struct page_replica *r = &v->rep[i];
		prom_printf(o, "<tr%s data-id=\"%u\" data-role=\"", r->self ? " class=\"self\"" : "",
		    r->id);
		page_escape(o, r->role);
		prom_printf(o, "\"><td>%u%s</td><td><span class=\"role ", r->id,
		    r->self ? " (this one)" : "");
		page_escape(o, r->role);
		prom_printf(o, "\">");
		page_escape(o, r->role);
		prom_printf(o, "</span></td><td>");
		page_escape(o, r->client_addr);
		/* A link, not a fetch: the other replicas' pages are other
		 * origins, opened by the reader, never read by this page. */
		prom_printf(o, "</td><td><a href=\"http://");
		page_escape(o, r->status_addr);
		prom_printf(o, "/\">");
		page_escape(o, r->status_addr);
		prom_printf(o, "</a></td>");
		if (r->has_pos)
			prom_printf(o, "<td class=\"n\">%" PRIu64 "</td>", r->committed);
		else
			prom_printf(o, "<td class=\"n\">&ndash;</td>");
		if (r->self)
			prom_printf(o, "<td class=\"n\">%" PRIu64 "</td>", r->applied);
		else
			prom_printf(o, "<td class=\"n\">&ndash;</td>");
		if (r->self)
			prom_printf(o, "<td>&ndash;</td>");
		else if (r->has_heard)
			prom_printf(o, "<td>%" PRIu64 " ms ago</td>", r->heard_ms_ago);
		else
			prom_printf(o, "<td>&ndash;</td>");
		prom_printf(o, "</tr>\n");
	}
	prom_printf(o, "</tbody></table>\n");
}

void
page_render(struct prom *o, const struct page_view *v)
{
	prom_printf(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta name=\"viewport\" content=\"width=device-width\">"
		       "<link rel=\"icon\" href=\"data:,\"><title>chubbyd ");
	page_escape(o, v->cell);
	prom_printf(o, " / %u</title><style>%s</style></head><body>\n", v->self_id, page_css);
	prom_printf(o, "<h1>Cell ");
	page_escape(o, v->cell);
	prom_printf(o, ": replica %u</h1><p class=\"sub\">chubbyd ", v->self_id);
	page_escape(o, v->version);
	prom_printf(o, " &middot; <label><input type=\"checkbox\" id=\"auto\" checked> refresh "
		       "every 2 s</label></p>\n<div id=\"main\">\n<div class=\"cards\">");
	prom_printf(o, "<div class=\"card\">role<b id=\"role\">");
	page_escape(o, v->role);
	prom_printf(o, "</b></div>");
	page_card(o, "epoch", "epoch", v->epoch);
	page_card(o, "master", "master", v->master_id);
	page_card(o, "committed", "committed", v->committed);
	page_card(o, "applied", "applied", v->applied);
	page_card(o, "sessions", "sessions", v->sessions_replicated);
	page_card(o, "locks", "locks held", v->locks);
	page_card(o, "nodes", "nodes", v->nodes);
	page_card(o, "clients", "clients here", v->clients);
	prom_printf(o, "</div>\n<h2>Replicas</h2>\n");
	page_replicas(o, v);
	if (!v->is_master)
		prom_printf(o, "<p class=\"note\">Only the master knows how far the other replicas "
			       "are; this replica knows its own positions and which master it "
			       "follows.</p>\n");
	prom_printf(o, "<h2>Commit latency, last %d s</h2>\n<p class=\"note\">Proposal to "
		       "applied at the master: mean per second (line, points) and maximum "
		       "(bars).</p>\n", LAT_RING_S);
	page_chart(o, v);
	if (!v->is_master && v->master_status_addr != NULL) {
		prom_printf(o, "<p class=\"note\">See the <a href=\"http://");
		page_escape(o, v->master_status_addr);
		prom_printf(o, "/\">master's page</a>.</p>\n");
	}
	prom_printf(o, "</div>\n<script>%s</script>\n</body></html>\n", page_js);
}
