/* locate.c: the master of a cell, asked of the replicas hedged, in parallel. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "conn.h"
#include "errbuf.h"
#include "frame.h"
#include "locate.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"
#include "wire.h"

/* The list, and as many hints again (each address is asked once). */
#define LOCATE_MAX (2 * CELLSPEC_MAX_ADDRS)

struct locate;

struct lprobe {
	struct locate *l;
	char addr[CELLSPEC_ADDR_MAX];
	struct conn *conn;
	int started, done;
};

struct locate {
	const struct cellspec *spec; /* its TLS files are named in a refusal */
	struct event_base *base;
	struct tp *tp;
	struct event *hedge, *deadline;
	struct lprobe p[LOCATE_MAX]; /* never moved: connections point at them */
	size_t order[LOCATE_MAX];    /* the order they are asked in */
	size_t n;       /* candidates */
	size_t next;    /* the next one to start, in order[] */
	size_t running; /* started and not done */
	int found;
	char master[CELLSPEC_ADDR_MAX];
	char last[512]; /* why the latest probe found nothing */
	int refused;    /* a replica refused our certificate for good (or we its) */
};

static void locate_start_next(struct locate *l);

/* Nothing more can come: every candidate was asked and has answered or
 * failed. */
static void
locate_check_over(struct locate *l)
{
	if (l->found || (l->next == l->n && l->running == 0))
		event_base_loopbreak(l->base);
}

static void
locate_done(struct lprobe *p, const char *why)
{
	if (p->done)
		return;
	p->done = 1;
	p->l->running--;
	if (why != NULL)
		snprintf(p->l->last, sizeof p->l->last, "%s: %s", p->addr, why);
	if (p->conn != NULL) {
		conn_free(p->conn);
		p->conn = NULL;
	}
	/* A failure frees its place: ask the next one now rather than at the
	 * next hedge. */
	if (!p->l->found && p->l->next < p->l->n)
		locate_start_next(p->l);
	locate_check_over(p->l);
}

/* Adds ADDR as a candidate, asked after those of order[0..AT), unless it
 * is one already; true if added. */
static int
locate_add(struct locate *l, const char *addr, size_t len, size_t at)
{
	if (len == 0 || len >= CELLSPEC_ADDR_MAX || l->n == LOCATE_MAX)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->p[i].addr) == len && memcmp(l->p[i].addr, addr, len) == 0)
			return 0;
	memset(&l->p[l->n], 0, sizeof l->p[l->n]);
	memcpy(l->p[l->n].addr, addr, len);
	l->p[l->n].addr[len] = '\0';
	l->p[l->n].l = l;
	memmove(&l->order[at + 1], &l->order[at], (l->n - at) * sizeof l->order[0]);
	l->order[at] = l->n;
	l->n++;
	return 1;
}

static void
locate_on_open(struct conn *c, void *arg)
{
	struct lprobe *p = arg;
	struct wire_buf b;

	(void)c;
	wire_buf_init(&b, FRAME_MAX_DEFAULT);
	if (wire_put_hello(&b, PROTO_VERSION, "lockctl") == CHUBBY_OK &&
	    wire_begin_req(&b, 1, PROTO_OP_WHERE_IS_MASTER) != NULL) {
		msgpack_pack_nil(&b.pk);
		if (wire_finish(&b) != CHUBBY_OK || conn_send(p->conn, b.data, b.len) != CHUBBY_OK)
			locate_done(p, "cannot send WHERE_IS_MASTER");
	} else {
		locate_done(p, "cannot build WHERE_IS_MASTER");
	}
	wire_buf_free(&b);
}

static void
locate_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct lprobe *p = arg;
	struct locate *l = p->l;
	struct wire_msg m;
	struct mp_str addr = {NULL, 0};
	bool is_master = false;
	char err[256];

	(void)c;
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		locate_done(p, err);
		return;
	}
	if (m.kind != PROTO_KIND_RES) {
		wire_msg_free(&m);
		return; /* WELCOME */
	}
	if (m.res.status != CHUBBY_OK || m.res.result == NULL) {
		snprintf(err, sizeof err, "WHERE_IS_MASTER: %s", chubby_status_name(m.res.status));
		wire_msg_free(&m);
		locate_done(p, err);
		return;
	}
	mp_get_bool(m.res.result, "is_master", MP_OPTIONAL, &is_master, err, sizeof err);
	mp_get_str(m.res.result, "address", MP_OPTIONAL, &addr, err, sizeof err);
	if (is_master) {
		/* The first replica to say it is master wins; the rest are
		 * dropped when the loop ends. */
		l->found = 1;
		snprintf(l->master, sizeof l->master, "%s", p->addr);
		wire_msg_free(&m);
		locate_done(p, NULL);
		return;
	}
	/* A hint is followed at once: asked before the next of the list.
	 * A hint is only a place to look (it may be stale), so the named
	 * replica must say it is master itself. */
	if (addr.ptr != NULL && locate_add(l, addr.ptr, addr.len, l->next))
		locate_start_next(l);
	if (addr.ptr != NULL)
		snprintf(err, sizeof err, "names %.*s", (int)addr.len, addr.ptr);
	else
		snprintf(err, sizeof err, "knows no master");
	wire_msg_free(&m);
	locate_done(p, err);
}

static void
locate_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct lprobe *p = arg;
	char why[600];

	(void)c;
	if (status == CHUBBY_E_AUTH) {
		/* A certificate refused for good (tp_error): every replica
		 * trusts the one cell CA, so the rest would say the same.
		 * Stop here with the reason. */
		p->l->refused = 1;
		/* errbuf_set: long paths may cut the message, which is fine. */
		errbuf_set(why, sizeof why, "%s (check the client certificate %s and the CA file %s)",
		    reason ? reason : "certificate refused", p->l->spec->cert, p->l->spec->ca);
		locate_done(p, why);
		event_base_loopbreak(p->l->base);
		return;
	}
	snprintf(why, sizeof why, "%s%s%s", chubby_status_name(status), reason ? ": " : "",
	    reason ? reason : "");
	locate_done(p, why);
}

static const struct conn_callbacks locate_cb = {
    .on_open = locate_on_open,
    .on_frame = locate_on_frame,
    .on_close = locate_on_close,
};

static void
locate_start_next(struct locate *l)
{
	struct lprobe *p = &l->p[l->order[l->next++]];
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	char err[256];
	int sslen;

	p->started = 1;
	l->running++;
	if (net_resolve(p->addr, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		locate_done(p, err);
		return;
	}
	if ((bev = tp_connect(l->tp, l->base, (struct sockaddr *)&ss, sslen, NULL, 0)) == NULL) {
		locate_done(p, "cannot connect");
		return;
	}
	if ((p->conn = conn_new(l->tp, bev, 0, FRAME_MAX_DEFAULT, &locate_cb, p)) == NULL)
		locate_done(p, "out of memory");
}

/* Nobody has answered for a hedge: ask the next one too. */
static void
locate_on_hedge(evutil_socket_t fd, short what, void *arg)
{
	struct locate *l = arg;
	struct timeval tv = {0, LOCATE_HEDGE_MS * 1000};

	(void)fd;
	(void)what;
	if (!l->found && l->next < l->n)
		locate_start_next(l);
	if (!l->found && l->next < l->n)
		evtimer_add(l->hedge, &tv);
}

static void
locate_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
locate_master(const struct cellspec *spec, unsigned timeout_ms, char *master, char *err,
    size_t errlen)
{
	struct tls_config tc = {
	    .ca_file = spec->ca, .cert_file = spec->cert, .key_file = spec->key, .role = TLS_ROLE_CLIENT,
	    .crl_file = spec->crl};
	struct timeval hedge = {0, LOCATE_HEDGE_MS * 1000};
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct tls_ctx *tls;
	struct locate *l;
	int rc;

	if ((tls = tls_ctx_new(&tc, err, errlen)) == NULL)
		return CHUBBY_E_TLS;
	if ((l = calloc(1, sizeof *l)) == NULL) {
		tls_ctx_free(tls);
		snprintf(err, errlen, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	l->spec = spec;
	snprintf(l->last, sizeof l->last, "no replica answered within %u ms", timeout_ms);
	l->base = tp_event_base_new();
	l->tp = l->base != NULL ? tp_tls_new(tls) : NULL;
	l->hedge = l->base != NULL ? evtimer_new(l->base, locate_on_hedge, l) : NULL;
	l->deadline = l->base != NULL ? evtimer_new(l->base, locate_on_deadline, l->base) : NULL;
	if (l->tp == NULL || l->hedge == NULL || l->deadline == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = CHUBBY_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < spec->naddrs; i++)
		locate_add(l, spec->addrs[i], strlen(spec->addrs[i]), l->n);
	evtimer_add(l->deadline, &tv);
	if (l->n > 0) {
		locate_start_next(l);
		if (!l->found && l->next < l->n)
			evtimer_add(l->hedge, &hedge);
		if (!l->found && !(l->next == l->n && l->running == 0))
			event_base_dispatch(l->base);
	}
	if (l->found) {
		snprintf(master, CELLSPEC_ADDR_MAX, "%s", l->master);
		rc = CHUBBY_OK;
	} else if (l->refused) {
		snprintf(err, errlen, "%s", l->last);
		rc = CHUBBY_E_TLS;
	} else {
		snprintf(err, errlen, "cannot reach the master: %s", l->last);
		rc = CHUBBY_E_UNAVAILABLE;
	}
out:
	/* Every probe still out is dropped here (nothing waits for them). */
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i].conn != NULL) {
			conn_free(l->p[i].conn);
			l->p[i].conn = NULL;
		}
	if (l->hedge != NULL)
		event_free(l->hedge);
	if (l->deadline != NULL)
		event_free(l->deadline);
	if (l->base != NULL)
		tp_event_base_free(l->base); /* releases the probes' bufferevents (tp.h) */
	if (l->tp != NULL)
		tp_free(l->tp);
	tls_ctx_free(tls);
	free(l);
	return rc;
}
