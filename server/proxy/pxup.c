/* pxup.c: chubby-proxy's upstream: one connection to the master (found as libchubby finds it), one session there per client principal, kept alive with held KEEPALIVEs. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include <chubby/chubby.h>

#include "clock.h"
#include "log.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "proxy.h"
#include "tp.h"
#include "xmalloc.h"

/* As libchubby (docs/CLIENT.md "KeepAlives"): the lease counted from the
 * send, less drift and a margin. */
#define UP_DRIFT 0.001
#define UP_MARGIN_MS 100
#define UP_RETRY_MS 200

/* Per upstream session: the KEEPALIVE and SESSION_START in flight. */
struct upi {
	struct fwd *ka;    /* the newest KEEPALIVE; its answer sends the next */
	struct fwd *start; /* the SESSION_START, until answered */
	uint64_t nonce;
};

static struct upi *
upi_of(struct px_up *up)
{
	if (up->user == NULL)
		up->user = xcalloc(1, sizeof(struct upi));
	return up->user;
}

static void up_connect(struct proxy *p);

static size_t
byid_slot(const struct proxy *p, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 20) & (p->capbyid - 1);
}

static void
byid_put(struct proxy *p, struct fwd *f)
{
	if (p->nbyid >= p->capbyid) {
		size_t cap = p->capbyid == 0 ? 256 : p->capbyid * 2;
		struct fwd **old = p->byid;
		size_t oldcap = p->capbyid;
		p->byid = xcalloc(cap, sizeof *p->byid);
		p->capbyid = cap;
		for (size_t i = 0; i < oldcap; i++) {
			for (struct fwd *g = old[i], *next; g != NULL; g = next) {
				next = g->id_next;
				size_t j = byid_slot(p, g->id);
				g->id_next = p->byid[j];
				p->byid[j] = g;
			}
		}
		free(old);
	}
	size_t j = byid_slot(p, f->id);
	f->id_next = p->byid[j];
	p->byid[j] = f;
	p->nbyid++;
}

static struct fwd *
byid_get(struct proxy *p, uint64_t id)
{
	if (p->capbyid == 0 || id == 0)
		return NULL;
	for (struct fwd *f = p->byid[byid_slot(p, id)]; f != NULL; f = f->id_next)
		if (f->id == id)
			return f;
	return NULL;
}

void
pxup_unindex(struct proxy *p, struct fwd *f)
{
	if (f->id == 0 || p->capbyid == 0)
		return;
	for (struct fwd **pp = &p->byid[byid_slot(p, f->id)]; *pp != NULL; pp = &(*pp)->id_next) {
		if (*pp == f) {
			*pp = f->id_next;
			p->nbyid--;
			break;
		}
	}
	f->id = 0;
}

static void
up_drop(struct proxy *p, const char *why)
{
	if (p->up != NULL) {
		log_info("upstream %s: %s", p->up_addr, why);
		conn_free(p->up);
		p->up = NULL;
	}
	p->upc = UPC_DOWN;
	/* What was in flight is sent again once a master is found: writes
	 * keep their upstream rid, so the master applies each once. */
	for (struct fwd *f = p->fwds, *next; f != NULL; f = next) {
		next = f->next;
		if (f->kind == FK_WHERE)
			proxy_fwd_free(p, f);
		else
			pxup_unindex(p, f);
	}
	p->retry_at = proxy_now() + UP_RETRY_MS;
}

static void
up_send(struct proxy *p, struct fwd *f)
{
	msgpack_packer *pk;
	uint32_t n = f->npairs;
	struct px_up *up = f->up;

	if (p->upc != UPC_READY && f->kind != FK_WHERE)
		return;
	if (f->kind == FK_CSTART || f->kind == FK_CLAIMWAIT)
		return;
	if (f->session_scoped && (up == NULL || up->session == 0))
		return; /* waits for its upstream session */
	if ((f->kind == FK_CLIENT || f->kind == FK_CLIENT_END) && f->client != 0) {
		/* Its handles are not the new upstream session's until the
		 * CLAIM is answered (proxy_reclaim): a CLIENT_END now would
		 * close nothing. */
		struct px_client *c = px_client_get(&p->px, f->client);
		if (c != NULL && c->reclaim)
			return;
	}
	pxup_unindex(p, f); /* sent again (a new epoch): a new id */
	f->id = ++p->next_id;
	byid_put(p, f);
	f->sent_ms = proxy_now();
	wire_buf_reset(&p->out);
	pk = wire_begin_req(&p->out, f->id, f->op);
	if (f->kind == FK_WHERE) {
		msgpack_pack_nil(pk);
		goto finish;
	}
	if (f->session_scoped)
		n += 2;
	if (f->urid != 0)
		n++;
	switch (f->kind) {
	case FK_UP_START:
		n += 2;
		break;
	case FK_UP_KA:
		n += 2;
		break;
	case FK_CLIENT_END:
		n += 2;
		break;
	case FK_CLAIM:
		n++;
		break;
	case FK_CLIENT:
		if (f->op == PROTO_OP_OPEN)
			n++;
		break;
	default:
		break;
	}
	msgpack_pack_map(pk, n);
	if (f->session_scoped) {
		mp_pack_kv_uint(pk, "session", up->session);
		mp_pack_kv_uint(pk, "epoch", p->px.master_epoch);
	}
	if (f->urid != 0)
		mp_pack_kv_uint(pk, "rid", f->urid);
	switch (f->kind) {
	case FK_UP_START:
		mp_pack_kv_uint(pk, "nonce", upi_of(up)->nonce);
		mp_pack_kv_str(pk, "principal", up->principal);
		break;
	case FK_UP_KA: {
		/* Short holds: a client's lease is never longer than what is
		 * left of the upstream one, so the upstream lease is kept near
		 * full (a KeepAlive every quarter lease, a few per principal)
		 * and clients get near-full leases and few KeepAlives. */
		uint64_t hold = p->cfg->session_lease_ms / 4 > 1000 ? p->cfg->session_lease_ms / 4
		                                                     : 1000;
		mp_pack_kv_uint(pk, "hold_ms", hold);
		mp_pack_kv_uint(pk, "ev_ack", up->ev_ack);
		break;
	}
	case FK_CLIENT_END:
		mp_pack_kv_uint(pk, "client", f->client);
		mp_pack_kv_bool(pk, "expired", f->expired);
		break;
	case FK_CLAIM:
		mp_pack_kv_uint(pk, "client", f->client);
		break;
	case FK_CLIENT:
		if (f->op == PROTO_OP_OPEN)
			mp_pack_kv_uint(pk, "client", f->client);
		break;
	default:
		break;
	}
	wire_pack_raw(pk, f->args.data, f->args.size);
finish:
	if (wire_finish(&p->out) != CHUBBY_OK) {
		log_warn("upstream: cannot encode %s", proto_op_name(f->op));
		pxup_unindex(p, f);
		proxy_fwd_done(p, f, CHUBBY_E_INTERNAL, NULL);
		return;
	}
	p->forwarded++;
	if (conn_send(p->up, p->out.data, p->out.len) != CHUBBY_OK)
		up_drop(p, "send failed");
}

void
pxup_submit(struct proxy *p, struct fwd *f)
{
	f->next = p->fwds;
	f->prev = NULL;
	if (p->fwds != NULL)
		p->fwds->prev = f;
	p->fwds = f;
	up_send(p, f);
}

void
pxup_send_waiting(struct proxy *p)
{
	/* Upstream sessions first: the client requests wait for them. */
	for (struct fwd *f = p->fwds; f != NULL; f = f->next)
		if (f->id == 0 && f->kind != FK_CLIENT && f->kind != FK_CSTART &&
		    f->kind != FK_CLAIMWAIT && p->upc == UPC_READY)
			up_send(p, f);
	for (struct fwd *f = p->fwds; f != NULL; f = f->next)
		if (f->id == 0 && f->kind == FK_CLIENT && p->upc == UPC_READY)
			up_send(p, f);
}

static struct fwd *
fwd_new(enum fwd_kind kind, uint32_t op, struct px_up *up)
{
	struct fwd *f = xcalloc(1, sizeof *f);

	f->kind = kind;
	f->op = op;
	f->up = up;
	msgpack_sbuffer_init(&f->args);
	return f;
}

static void
up_start_session(struct proxy *p, struct px_up *up)
{
	struct upi *u = upi_of(up);
	struct fwd *f;

	if (u->start != NULL)
		return;
	while (u->nonce == 0)
		if (RAND_bytes((unsigned char *)&u->nonce, sizeof u->nonce) != 1)
			u->nonce = proxy_now() ^ (uint64_t)(uintptr_t)up;
	f = fwd_new(FK_UP_START, PROTO_OP_SESSION_START, up);
	u->start = f;
	pxup_submit(p, f);
}

struct px_up *
pxup_session(struct proxy *p, const char *principal)
{
	struct px_up *up = px_up_get(&p->px, principal, true);

	if (up->session == 0)
		up_start_session(p, up);
	return up;
}

void
pxup_keepalive_now(struct proxy *p, struct px_up *up)
{
	struct upi *u = upi_of(up);
	struct fwd *f;
	uint64_t *acks;
	size_t nacks;
	msgpack_packer pk;

	if (up->session == 0)
		return;
	f = fwd_new(FK_UP_KA, PROTO_OP_KEEPALIVE, up);
	f->session_scoped = true;
	/* The acks travel with this request, re-sent with it if the
	 * connection breaks: the master waits for them. */
	px_up_take_acks(up, &acks, &nacks);
	msgpack_packer_init(&pk, &f->args, msgpack_sbuffer_write);
	mp_pack_strn(&pk, "acks", 4);
	msgpack_pack_array(&pk, nacks);
	for (size_t i = 0; i < nacks; i++)
		msgpack_pack_uint64(&pk, acks[i]);
	f->npairs = 1;
	free(acks);
	u->ka = f;
	pxup_submit(p, f);
}

/* The master's epoch, from any answer: a new one flushes what depended on
 * the old master (pxcore) and shows the clients a new epoch. */
static void
up_epoch(struct proxy *p, uint64_t epoch)
{
	if (epoch == 0)
		return;
	if (px_set_master_epoch(&p->px, epoch)) {
		log_info("upstream: master epoch %llu; clients now see epoch %llu",
		    (unsigned long long)epoch, (unsigned long long)px_epoch(&p->px));
		proxy_epoch_changed(p);
	}
}

static void
up_ka_reply(struct proxy *p, struct fwd *f, const struct wire_msg *m)
{
	struct px_up *up = f->up;
	const msgpack_object *r = m->res.result, *arr = NULL;
	uint64_t lease = 0, epoch = 0;
	bool latest = upi_of(up)->ka == f;

	mp_get_uint(r, "epoch", MP_OPTIONAL, &epoch, NULL, 0);
	up_epoch(p, epoch);
	mp_get_uint(r, "lease_ms", MP_OPTIONAL, &lease, NULL, 0);
	px_up_renewed(&p->px, up, up->session,
	    (int64_t)(f->sent_ms + (uint64_t)((double)lease * (1.0 - UP_DRIFT))) - UP_MARGIN_MS,
	    (int64_t)proxy_now());
	if (mp_get_array(r, "events", MP_OPTIONAL, &arr, NULL, 0) == CHUBBY_OK && arr != NULL) {
		for (uint32_t i = 0; i < arr->via.array.size; i++) {
			const msgpack_object *e = &arr->via.array.ptr[i];
			uint64_t id = 0, type = 0, handle = 0, gen = 0;
			char *path = NULL;
			bool has_gen = mp_map_get(e, "gen") != NULL &&
			    mp_map_get(e, "gen")->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
			mp_get_uint(e, "id", MP_OPTIONAL, &id, NULL, 0);
			mp_get_uint(e, "type", MP_OPTIONAL, &type, NULL, 0);
			mp_get_uint(e, "handle", MP_OPTIONAL, &handle, NULL, 0);
			mp_get_uint(e, "gen", MP_OPTIONAL, &gen, NULL, 0);
			mp_get_strdup(e, "path", MP_OPTIONAL, &path, NULL, 0);
			px_route_event(&p->px, up, id, (uint32_t)type, handle, path, gen, has_gen);
			free(path);
		}
	}
	arr = NULL;
	if (mp_get_array(r, "invalidate", MP_OPTIONAL, &arr, NULL, 0) == CHUBBY_OK && arr != NULL) {
		for (uint32_t i = 0; i < arr->via.array.size; i++) {
			const msgpack_object *e = &arr->via.array.ptr[i];
			uint64_t id = 0;
			char *path = NULL;
			mp_get_uint(e, "id", MP_OPTIONAL, &id, NULL, 0);
			if (mp_get_strdup(e, "path", MP_REQUIRED, &path, NULL, 0) == CHUBBY_OK)
				px_route_inval(&p->px, up, id, path);
			free(path);
		}
	}
	proxy_answer_wakes(p);
	/* Only the newest KEEPALIVE's answer sends the next: an older one
	 * was answered at once because a newer one came. */
	if (latest || up->nacks > 0)
		pxup_keepalive_now(p, up);
}

static void
up_where_reply(struct proxy *p, const struct wire_msg *m)
{
	const msgpack_object *r = m->res.result;
	bool is_master = false;
	struct mp_str addr = {NULL, 0};
	uint64_t epoch = 0;

	if (m->res.status != CHUBBY_OK) {
		up_drop(p, "WHERE_IS_MASTER refused");
		return;
	}
	mp_get_bool(r, "is_master", MP_OPTIONAL, &is_master, NULL, 0);
	mp_get_str(r, "address", MP_OPTIONAL, &addr, NULL, 0);
	mp_get_uint(r, "epoch", MP_OPTIONAL, &epoch, NULL, 0);
	if (is_master) {
		p->upc = UPC_READY;
		p->master_hint[0] = '\0';
		log_info("upstream: master at %s, epoch %llu", p->up_addr, (unsigned long long)epoch);
		up_epoch(p, epoch);
		/* Every upstream session checks in with the master. */
		for (struct px_up *up = p->px.ups; up != NULL; up = up->next)
			if (up->session != 0 && upi_of(up)->ka == NULL)
				pxup_keepalive_now(p, up);
		pxup_send_waiting(p);
		return;
	}
	if (addr.ptr != NULL && addr.len > 0 && addr.len < sizeof p->master_hint) {
		memcpy(p->master_hint, addr.ptr, addr.len);
		p->master_hint[addr.len] = '\0';
	}
	up_drop(p, is_master ? "" : "not the master");
	if (p->master_hint[0] != '\0')
		p->retry_at = proxy_now(); /* go there at once */
}

static void
up_on_res(struct proxy *p, const struct wire_msg *m)
{
	struct fwd *f;

	f = byid_get(p, m->res.id);
	if (f == NULL)
		return; /* answered after its client went, or a stale copy */
	if (f->kind == FK_WHERE) {
		proxy_fwd_free(p, f);
		up_where_reply(p, m);
		return;
	}
	if (m->res.status == CHUBBY_E_NOT_MASTER) {
		struct mp_str addr = {NULL, 0};
		mp_get_str(m->res.result, "address", MP_OPTIONAL, &addr, NULL, 0);
		if (addr.ptr != NULL && addr.len > 0 && addr.len < sizeof p->master_hint) {
			memcpy(p->master_hint, addr.ptr, addr.len);
			p->master_hint[addr.len] = '\0';
		}
		up_drop(p, "no longer the master");
		return;
	}
	if (m->res.status == CHUBBY_E_BAD_EPOCH) {
		uint64_t epoch = 0;
		mp_get_uint(m->res.result, "epoch", MP_OPTIONAL, &epoch, NULL, 0);
		up_epoch(p, epoch);
		up_send(p, f); /* again, in the new epoch */
		return;
	}
	switch (f->kind) {
	case FK_UP_START: {
		struct px_up *up = f->up;
		uint64_t session = 0, lease = 0, epoch = 0;
		upi_of(up)->start = NULL;
		if (m->res.status == CHUBBY_OK &&
		    mp_get_uint(m->res.result, "session", MP_REQUIRED, &session, NULL, 0) == CHUBBY_OK) {
			uint64_t window = 0;
			mp_get_uint(m->res.result, "lease_ms", MP_OPTIONAL, &lease, NULL, 0);
			mp_get_uint(m->res.result, "epoch", MP_OPTIONAL, &epoch, NULL, 0);
			mp_get_uint(m->res.result, "claim_window_ms", MP_OPTIONAL, &window, NULL, 0);
			/* Before any client lease rests on this session. */
			pxload_master_window(&p->load, window);
			px_set_lease(&p->px, p->px.session_lease_ms, p->load.slack_ms);
			up_epoch(p, epoch);
			px_up_renewed(&p->px, up, session,
			    (int64_t)(f->sent_ms + (uint64_t)((double)lease * (1.0 - UP_DRIFT))) -
				UP_MARGIN_MS,
			    (int64_t)proxy_now());
			log_info("upstream: session %llu for principal %s",
			    (unsigned long long)session, up->principal);
			proxy_fwd_free(p, f);
			pxup_keepalive_now(p, up);
			proxy_up_ready(p, up, CHUBBY_OK);
			pxup_send_waiting(p);
		} else {
			log_warn("upstream: SESSION_START for %s refused: %s %.*s", up->principal,
			    chubby_status_name(m->res.status),
			    m->res.message.ptr != NULL ? (int)m->res.message.len : 0,
			    m->res.message.ptr != NULL ? m->res.message.ptr : "");
			proxy_fwd_free(p, f);
			proxy_up_ready(p, up, m->res.status != CHUBBY_OK ? m->res.status
			                                                  : CHUBBY_E_MALFORMED);
			proxy_up_refused(p, up, m->res.status != CHUBBY_OK ? m->res.status
			                                                    : CHUBBY_E_MALFORMED);
		}
		return;
	}
	case FK_UP_KA: {
		struct px_up *up = f->up;
		if (m->res.status == CHUBBY_OK) {
			up_ka_reply(p, f, m);
		} else if (m->res.status == CHUBBY_E_SESSION_EXPIRED) {
			uint64_t *ids;
			size_t n;
			log_warn("upstream: session %llu of %s expired at the master: claiming its "
				 "clients onto a new one",
			    (unsigned long long)up->session, up->principal);
			upi_of(up)->ka = NULL;
			px_up_lost(&p->px, up, &ids, &n);
			/* The clients' cache and events were covered by the old
			 * session only: a new epoch makes them flush and raise
			 * MASTER_FAILOVER, as after a proxy fail-over. */
			if (n > 0 && px_epoch_raise(&p->px, px_epoch(&p->px)))
				proxy_epoch_changed(p);
			pxup_session(p, up->principal);
			for (size_t i = 0; i < n; i++)
				proxy_reclaim(p, up, ids[i]);
			free(ids);
		} else {
			log_warn("upstream: KEEPALIVE of %s: %s", up->principal,
			    chubby_status_name(m->res.status));
		}
		if (upi_of(up)->ka == f)
			upi_of(up)->ka = NULL;
		proxy_fwd_free(p, f);
		return;
	}
	default:
		proxy_fwd_done(p, f, m->res.status, m);
		return;
	}
}

static void
up_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct proxy *p = arg;
	struct wire_msg m;
	char err[256];

	(void)c;
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		up_drop(p, err);
		return;
	}
	if (m.kind == PROTO_KIND_WELCOME && p->upc == UPC_CONNECTING) {
		struct fwd *f = fwd_new(FK_WHERE, PROTO_OP_WHERE_IS_MASTER, NULL);
		p->upc = UPC_LOCATING;
		pxup_submit(p, f);
	} else if (m.kind == PROTO_KIND_RES && m.res.id == 0) {
		up_drop(p, m.res.message.ptr != NULL ? "refused the connection" : "closed");
	} else if (m.kind == PROTO_KIND_RES) {
		up_on_res(p, &m);
	}
	wire_msg_free(&m);
}

static void
up_on_open(struct conn *c, void *arg)
{
	struct proxy *p = arg;

	wire_buf_reset(&p->out);
	if (wire_put_hello(&p->out, PROTO_VERSION, "chubby-proxy") == CHUBBY_OK)
		conn_send(c, p->out.data, p->out.len);
}

static void
up_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct proxy *p = arg;

	(void)c;
	(void)status;
	up_drop(p, reason);
}

static const struct conn_callbacks up_cb = {
    .on_open = up_on_open,
    .on_frame = up_on_frame,
    .on_close = up_on_close,
};

static void
up_connect(struct proxy *p)
{
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	char err[256];
	int sslen;

	if (p->master_hint[0] != '\0') {
		snprintf(p->up_addr, sizeof p->up_addr, "%s", p->master_hint);
		p->master_hint[0] = '\0';
	} else {
		snprintf(p->up_addr, sizeof p->up_addr, "%s",
		    p->cfg->replicas[p->try_idx++ % p->cfg->nreplicas].client_addr);
	}
	p->retry_at = proxy_now() + UP_RETRY_MS;
	if (net_resolve(p->up_addr, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		log_warn("upstream %s: %s", p->up_addr, err);
		return;
	}
	bev = tp_connect(p->tp_cli, p->base, (struct sockaddr *)&ss, sslen, NULL, 0);
	if (bev == NULL) {
		log_warn("upstream %s: %s", p->up_addr, strerror(errno));
		return;
	}
	p->up = conn_new(p->tp_cli, bev, 0, p->cfg->max_frame, &up_cb, p);
	if (p->up != NULL)
		p->upc = UPC_CONNECTING;
}

void
pxup_start(struct proxy *p)
{
	p->upc = UPC_DOWN;
	p->retry_at = 0;
	up_connect(p);
}

void
pxup_tick(struct proxy *p, uint64_t now)
{
	if (p->upc == UPC_DOWN && now >= p->retry_at)
		up_connect(p);
	else if ((p->upc == UPC_CONNECTING || p->upc == UPC_LOCATING) &&
	    now >= p->retry_at + 3000)
		up_drop(p, "no answer");
	for (struct px_up *up = p->px.ups; up != NULL; up = up->next) {
		/* Our lease at the master ran out here: we are cut off, and so
		 * are our clients (pxcore holds them). */
		if (up->state == PX_UP_OK && (int64_t)now >= up->lease_end) {
			log_warn("upstream: lease of %s's session ran out: jeopardy", up->principal);
			px_up_jeopardy(&p->px, up);
		}
	}
}

void
pxup_free(struct proxy *p)
{
	if (p->up != NULL)
		conn_free(p->up);
	p->up = NULL;
	free(p->byid);
	p->byid = NULL;
	p->capbyid = p->nbyid = 0;
	for (struct px_up *up = p->px.ups; up != NULL; up = up->next) {
		free(up->user);
		up->user = NULL;
	}
}
