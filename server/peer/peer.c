/* peer.c: TLS links to the other replicas: dial, accept, authenticate, frame, deliver. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "conn.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "peer_codec.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"
#include "wire.h"
#include "xmalloc.h"

/* A link whose output backs up past this is not keeping up: drop instead
 * of queueing without bound (the receiver will catch up from the log). */
#define PEER_OUT_MAX (64u * 1024 * 1024)
#define PEER_RETRY_MIN_MS 100
#define PEER_RETRY_MAX_MS 2000
#define PEER_HELLO_TIMEOUT_MS 10000

struct peer_link {
	struct peer_net *net;
	const struct cell_replica *to;
	struct conn *conn;
	int up;
	unsigned retry_ms;
	struct event *retry_ev;
	bool dropped; /* its replica left the configuration: not dialled */
};

struct peer_in {
	struct peer_net *net;
	struct conn *conn;
	struct peer_in *next, *prev;
	unsigned replica_id; /* from the certificate */
	int hello_done;
};

struct peer_net {
	struct chubbyd *d;
	peer_deliver_fn deliver;
	void *arg;
	struct tls_ctx *tls_client;
	struct tp *tp_out;
	struct evconnlistener *listener;
	struct peer_link links[CONFIG_MAX_REPLICAS];
	unsigned nlinks;
	struct peer_in *ins;
	struct sockaddr_storage bind_addr;
	int bind_len;
	struct wire_buf out;
	struct peer_stats stats;
};

static void peer_dial(struct peer_link *l);

/* --- outgoing links ----------------------------------------------------- */

static void
peer_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_dial(arg);
}

static void
peer_link_down(struct peer_link *l, const char *why)
{
	struct timeval tv;

	if (l->up)
		log_info("peer %u: link down: %s", l->to->id, why);
	else
		log_debug("peer %u: cannot connect: %s", l->to->id, why);
	l->up = 0;
	if (l->conn != NULL) {
		conn_free(l->conn);
		l->conn = NULL;
	}
	/* Back off so a dead replica costs little, but come back within a
	 * fraction of a lease. */
	tv.tv_sec = l->retry_ms / 1000;
	tv.tv_usec = (l->retry_ms % 1000) * 1000;
	evtimer_add(l->retry_ev, &tv);
	l->retry_ms = l->retry_ms * 2 > PEER_RETRY_MAX_MS ? PEER_RETRY_MAX_MS : l->retry_ms * 2;
}

static void
peer_out_open(struct conn *c, void *arg)
{
	struct peer_link *l = arg;
	struct peer_net *n = l->net;
	const struct tp_identity *id = conn_peer(c);

	if (id->kind != TP_PEER_REPLICA || (unsigned)id->replica_id != l->to->id) {
		char why[640];
		snprintf(why, sizeof why, "%s answers as %s %s, expected replica-%u",
		    l->to->peer_addr, tp_kind_name(id->kind), id->name, l->to->id);
		log_warn("peer %u: %s", l->to->id, why);
		peer_link_down(l, why);
		return;
	}
	wire_buf_reset(&n->out);
	if (peer_encode_hello(&n->out, PROTO_VERSION, n->d->cfg->cell, n->d->id) != CHUBBY_OK ||
	    conn_send(c, n->out.data, n->out.len) != CHUBBY_OK) {
		peer_link_down(l, "cannot send PEER_HELLO");
		return;
	}
	l->up = 1;
	l->retry_ms = PEER_RETRY_MIN_MS;
	log_info("peer %u: link up (%s)", l->to->id, l->to->peer_addr);
}

static void
peer_out_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct peer_link *l = arg;

	(void)c;
	(void)body;
	(void)len;
	/* Nothing is sent back on an outgoing link. */
	peer_link_down(l, "unexpected data on an outgoing link");
}

static void
peer_out_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct peer_link *l = arg;
	char why[512];

	(void)c;
	snprintf(why, sizeof why, "%s: %s", chubby_status_name(status), reason);
	peer_link_down(l, why);
}

static const struct conn_callbacks peer_out_cb = {
    .on_open = peer_out_open,
    .on_frame = peer_out_frame,
    .on_close = peer_out_close,
};

static void
peer_dial(struct peer_link *l)
{
	struct peer_net *n = l->net;
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	char err[512];
	int sslen;

	if (l->dropped)
		return;
	if (net_resolve(l->to->peer_addr, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		peer_link_down(l, err);
		return;
	}
	bev = tp_connect(n->tp_out, n->d->base, (struct sockaddr *)&ss, sslen,
	    n->bind_len > 0 ? (struct sockaddr *)&n->bind_addr : NULL, n->bind_len);
	if (bev == NULL) {
		snprintf(err, sizeof err, "connect to %s: %s", l->to->peer_addr, strerror(errno));
		peer_link_down(l, err);
		return;
	}
	l->conn = conn_new(n->tp_out, bev, 0, n->d->cfg->max_frame * 2, &peer_out_cb, l);
	if (l->conn == NULL)
		peer_link_down(l, "out of memory");
}

int
peer_send(struct peer_net *n, const struct paxos_msg *m)
{
	for (unsigned i = 0; i < n->nlinks; i++) {
		struct peer_link *l = &n->links[i];
		if (l->to->id != m->to)
			continue;
		if (!l->up || conn_pending_output(l->conn) > PEER_OUT_MAX) {
			n->stats.dropped++;
			return 0;
		}
		wire_buf_reset(&n->out);
		if (peer_encode_paxos(&n->out, m) != CHUBBY_OK) {
			log_warn("peer %u: cannot encode %s (%zu entries): dropped", m->to,
			    paxos_msg_type_name(m->type), m->nentries);
			n->stats.dropped++;
			return 0;
		}
		if (conn_send(l->conn, n->out.data, n->out.len) != CHUBBY_OK) {
			n->stats.dropped++;
			return 0;
		}
		n->stats.sent++;
		n->stats.bytes_out += n->out.len;
		return 1;
	}
	n->stats.dropped++;
	return 0;
}

unsigned
peer_links_up(const struct peer_net *n)
{
	unsigned up = 0;
	for (unsigned i = 0; i < n->nlinks; i++)
		up += n->links[i].up != 0;
	return up;
}

void
peer_stats(const struct peer_net *n, struct peer_stats *out)
{
	*out = n->stats;
}

/* --- incoming links ----------------------------------------------------- */

static void
peer_in_free(struct peer_in *p)
{
	struct peer_net *n = p->net;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		n->ins = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	conn_free(p->conn);
	free(p);
}

/*
 * A replica dials from its own peer address (its peer_listen address when it
 * has one), so a link from replica ID must come from the host one of those
 * names when that is an IP literal.
 * This keeps a replaced replica (its id moved to a new machine through the
 * log, lockctl members replace) from voting with a still-valid certificate.
 * A name (DNS) is not checked here.
 */
static bool
peer_source_is(const char *addr, const char *remote)
{
	char host[CONFIG_ADDR_MAX], ip[CONFIG_ADDR_MAX], err[128];
	unsigned port;
	unsigned char buf[16];
	const char *colon;
	size_t n;

	if (config_parse_hostport(addr, host, sizeof host, &port, err, sizeof err) != CHUBBY_OK)
		return true;
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return true;
	if ((colon = strrchr(remote, ':')) == NULL)
		return false;
	n = (size_t)(colon - remote);
	if (n >= 2 && remote[0] == '[' && remote[n - 1] == ']') {
		remote++;
		n -= 2;
	}
	if (n >= sizeof ip)
		return false;
	memcpy(ip, remote, n);
	ip[n] = '\0';
	return strcmp(ip, host) == 0;
}

/* A replica's links leave from the host it listens on: peer_listen's
 * when it has one (then a relay in between may pass either on). */
static bool
peer_source_ok(const struct cell_replica *r, const char *remote)
{
	return peer_source_is(r->peer_addr, remote) ||
	    (r->peer_listen[0] != '\0' && peer_source_is(r->peer_listen, remote));
}

static void
peer_in_open(struct conn *c, void *arg)
{
	struct peer_in *p = arg;
	const struct tp_identity *id = conn_peer(c);
	const struct cell_replica *r;

	/* The peer port is for replicas of this cell only. */
	if (id->kind != TP_PEER_REPLICA ||
	    config_replica(p->net->d->cfg, (unsigned)id->replica_id) == NULL ||
	    (unsigned)id->replica_id == p->net->d->id) {
		log_warn("peer port: refusing %s %s from %s: not a replica of this cell",
		    tp_kind_name(id->kind), id->name, conn_remote(c));
		conn_close_after_flush(c, CHUBBY_E_AUTH, "not a replica of this cell");
		return;
	}
	r = config_replica(p->net->d->cfg, (unsigned)id->replica_id);
	/* A removed member still holds a valid certificate and, not having
	 * heard that its removal was chosen, goes on dialling and
	 * campaigning: nothing it says counts any more. */
	if (r->removed) {
		log_warn("peer port: refusing replica %u from %s: it was removed from the cell",
		    (unsigned)id->replica_id, conn_remote(c));
		conn_close_after_flush(c, CHUBBY_E_AUTH, "removed from the cell");
		return;
	}
	if (!peer_source_ok(r, conn_remote(c))) {
		log_warn("peer port: refusing replica %u from %s: its peer address is %s (a "
			 "replaced replica?)",
		    (unsigned)id->replica_id, conn_remote(c), r->peer_addr);
		conn_close_after_flush(c, CHUBBY_E_AUTH, "not from this replica's peer address");
		return;
	}
	p->replica_id = (unsigned)id->replica_id;
}

static void
peer_in_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct peer_in *p = arg;
	struct peer_net *n = p->net;
	struct peer_hello hello;
	struct paxos_msg m;
	unsigned kind;
	char err[256];

	if (p->replica_id == 0)
		return; /* refused in peer_in_open; closing */
	n->stats.bytes_in += len + 4;
	if (peer_decode(body, len, &kind, &hello, &m, err, sizeof err) != CHUBBY_OK) {
		n->stats.bad++;
		log_warn("peer %u: bad message: %s; closing the link", p->replica_id, err);
		conn_close_after_flush(c, CHUBBY_E_MALFORMED, err);
		return;
	}
	if (kind == PEER_KIND_HELLO) {
		if (hello.version != PROTO_VERSION || strcmp(hello.cell, n->d->cfg->cell) != 0 ||
		    hello.replica_id != p->replica_id) {
			log_warn("peer %u: PEER_HELLO says version %u, cell \"%s\", replica %u; "
				 "closing", p->replica_id, hello.version, hello.cell,
			    hello.replica_id);
			conn_close_after_flush(c, CHUBBY_E_AUTH, "peer hello mismatch");
			return;
		}
		p->hello_done = 1;
		conn_set_idle_timeout(c, 0);
		return;
	}
	if (!p->hello_done || m.from != p->replica_id || m.to != n->d->id) {
		n->stats.bad++;
		log_warn("peer %u: %s claims to be from %u to %u; closing", p->replica_id,
		    p->hello_done ? "message" : "message before PEER_HELLO", m.from, m.to);
		paxos_msg_free(&m);
		conn_close_after_flush(c, CHUBBY_E_AUTH, "sender mismatch");
		return;
	}
	n->stats.received++;
	n->deliver(&m, n->arg);
	paxos_msg_free(&m);
}

static void
peer_in_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct peer_in *p = arg;

	if (status == CHUBBY_E_TLS || status == CHUBBY_E_AUTH)
		log_info("peer port: %s refused: %s", conn_remote(c), reason);
	else
		log_debug("peer port: %s (replica %u) closed: %s", conn_remote(c), p->replica_id,
		    reason);
	peer_in_free(p);
}

static const struct conn_callbacks peer_in_cb = {
    .on_open = peer_in_open,
    .on_frame = peer_in_frame,
    .on_close = peer_in_close,
};

static void
peer_accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct peer_net *n = arg;
	struct bufferevent *bev;
	struct peer_in *p;

	(void)lst;
	(void)sa;
	(void)salen;
	bev = tp_accept(n->d->tp_accept, n->d->base, fd);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->net = n;
	p->conn = conn_new(n->d->tp_accept, bev, 1, n->d->cfg->max_frame * 2, &peer_in_cb, p);
	if (p->conn == NULL) {
		free(p);
		return;
	}
	conn_set_idle_timeout(p->conn, PEER_HELLO_TIMEOUT_MS);
	conn_set_frame_timeout(p->conn, (unsigned)n->d->cfg->frame_timeout_ms);
	p->next = n->ins;
	if (n->ins != NULL)
		n->ins->prev = p;
	n->ins = p;
}

/* --- reloading --------------------------------------------------------- */

int
peer_net_reload_tls(struct peer_net *n, const struct tls_config *tc, char *err, size_t errlen)
{
	return tls_ctx_reload(n->tls_client, tc, err, errlen);
}

unsigned
peer_close_revoked(struct peer_net *n)
{
	struct peer_in *p, *next;
	char why[512];
	unsigned closed = 0;

	if (n == NULL)
		return 0;
	for (unsigned i = 0; i < n->nlinks; i++) {
		struct peer_link *l = &n->links[i];
		if (l->conn == NULL || !conn_peer_revoked(l->conn, why, sizeof why))
			continue;
		log_warn("peer %u: replica-%u's %s: closing the link", l->to->id, l->to->id, why);
		peer_link_down(l, why);
		closed++;
	}
	for (p = n->ins; p != NULL; p = next) {
		next = p->next;
		if (!conn_peer_revoked(p->conn, why, sizeof why))
			continue;
		log_warn("peer %u: replica-%u's %s: closing its link to us", p->replica_id,
		    p->replica_id, why);
		conn_close_after_flush(p->conn, CHUBBY_E_AUTH, why);
		closed++;
	}
	return closed;
}

/* --- set-up ------------------------------------------------------------- */

struct peer_net *
peer_net_new(struct chubbyd *d, peer_deliver_fn deliver, void *arg, char *err, size_t errlen)
{
	struct peer_net *n = xcalloc(1, sizeof *n);
	struct sockaddr_storage ss;
	char *cert = config_expand(d->cfg->tls_cert, d->id);
	char *key = config_expand(d->cfg->tls_key, d->id);
	struct tls_config tc = {.ca_file = d->cfg->tls_ca, .cert_file = cert, .key_file = key,
	    .crl_file = d->cfg->tls_crl, .role = TLS_ROLE_CLIENT};
	const char *listen_addr;
	int sslen;

	n->d = d;
	n->deliver = deliver;
	n->arg = arg;
	wire_buf_init(&n->out, d->cfg->max_frame * 2);
	n->tls_client = tls_ctx_new(&tc, err, errlen);
	free(cert);
	free(key);
	if (n->tls_client == NULL)
		goto fail;
	n->tp_out = tp_tls_new(n->tls_client);

	/* Listen on peer_listen when the others reach us through something
	 * in between (it forwards to here); else where they dial. */
	listen_addr = d->self->peer_listen[0] != '\0' ? d->self->peer_listen : d->self->peer_addr;
	if (net_resolve(listen_addr, &ss, &sslen, err, errlen) != CHUBBY_OK)
		goto fail;
	/* Outgoing links leave from our own peer address (port chosen by the kernel). */
	memcpy(&n->bind_addr, &ss, (size_t)sslen);
	n->bind_len = sslen;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&n->bind_addr)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&n->bind_addr)->sin6_port = 0;

	n->listener = evconnlistener_new_bind(d->base, peer_accept_cb, n,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
	    (struct sockaddr *)&ss, sslen);
	if (n->listener == NULL) {
		snprintf(err, errlen, "cannot listen on peer port %s: %s", listen_addr,
		    strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < d->cfg->nreplicas; i++)
		peer_net_add(n, &d->cfg->replicas[i]);
	return n;
fail:
	peer_net_free(n);
	return NULL;
}

void
peer_net_add(struct peer_net *n, const struct cell_replica *to)
{
	struct peer_link *l;

	if (to->id == n->d->id || n->nlinks >= CONFIG_MAX_REPLICAS)
		return;
	for (unsigned i = 0; i < n->nlinks; i++)
		if (n->links[i].to->id == to->id) {
			l = &n->links[i];
			if (l->dropped) { /* added again */
				l->dropped = false;
				l->retry_ms = PEER_RETRY_MIN_MS;
				peer_dial(l);
			}
			return;
		}
	l = &n->links[n->nlinks++];
	l->net = n;
	l->to = to;
	l->retry_ms = PEER_RETRY_MIN_MS;
	l->retry_ev = evtimer_new(n->d->base, peer_retry_cb, l);
	peer_dial(l);
}

void
peer_net_drop(struct peer_net *n, unsigned id)
{
	struct peer_in *p, *next;

	for (unsigned i = 0; i < n->nlinks; i++) {
		struct peer_link *l = &n->links[i];
		if (l->to->id != id || l->dropped)
			continue;
		l->dropped = true;
		l->up = 0;
		evtimer_del(l->retry_ev);
		if (l->conn != NULL) {
			conn_free(l->conn);
			l->conn = NULL;
		}
	}
	for (p = n->ins; p != NULL; p = next) {
		next = p->next;
		if (p->replica_id == id)
			conn_close_after_flush(p->conn, CHUBBY_E_AUTH, "removed from the cell");
	}
}

void
peer_net_free(struct peer_net *n)
{
	if (n == NULL)
		return;
	for (unsigned i = 0; i < n->nlinks; i++) {
		if (n->links[i].conn != NULL)
			conn_free(n->links[i].conn);
		if (n->links[i].retry_ev != NULL)
			event_free(n->links[i].retry_ev);
	}
	while (n->ins != NULL)
		peer_in_free(n->ins);
	if (n->listener != NULL)
		evconnlistener_free(n->listener);
	tp_free(n->tp_out);
	tls_ctx_free(n->tls_client);
	wire_buf_free(&n->out);
	free(n);
}
