/*
 * page.h: the status page, GET / on the status port (docs/OPERATIONS.md
 * "Status page"): one self-contained HTML document (inline CSS, a little
 * inline script, an inline SVG chart; nothing loaded from elsewhere) with
 * the cell's replicas as this replica knows them, its log positions, the
 * session and lock counts, and the master's commit latency of the last
 * minute.  Everything taken from the cell (names, addresses) is escaped.
 *
 * Rendering only: the status endpoint (status.c) gathers the view.
 */
#ifndef CHUBBY_PAGE_H
#define CHUBBY_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latency.h"
#include "prom.h"

#define PAGE_MAX_REPLICAS 16

struct page_replica {
	unsigned id;
	const char *client_addr, *status_addr;
	/* As this replica knows it: its own role for itself, "master" for the
	 * master it follows, "follower" for a replica whose lease grant the
	 * master had lately, otherwise "unknown" (or "silent" at the master:
	 * no grant for longer than a lease). */
	const char *role;
	bool self;
	bool has_pos;      /* committed/applied below are known */
	uint64_t committed; /* for ourselves; for others, chosen as the master last heard */
	uint64_t applied;   /* ourselves only */
	bool has_heard;
	uint64_t heard_ms_ago; /* at the master: since the replica's last lease grant */
};

struct page_view {
	const char *cell, *version;
	unsigned self_id, master_id;
	const char *role; /* this replica's */
	uint64_t epoch, committed, applied;
	uint64_t sessions, sessions_replicated, locks, nodes, clients;
	bool is_master;
	const char *master_status_addr; /* the master's status address, or NULL */
	size_t nreplicas;
	struct page_replica rep[PAGE_MAX_REPLICAS];
	size_t npoints; /* commit latency per second, oldest first */
	struct lat_point points[LAT_RING_S];
	uint64_t now_sec; /* the second of the last point's clock */
};

/* Writes the page for V into OUT (a text buffer, status/prom.h). */
void page_render(struct prom *out, const struct page_view *v);
/* Writes S with &, <, >, " and ' as character references (for text and
 * attribute values alike). */
void page_escape(struct prom *out, const char *s);

#endif
