/* proxy.c: chubby-proxy: main, the client port (HELLO/WELCOME, the client protocol), and what the proxy does per op (docs/PROXY.md). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/listener.h>
#include <openssl/rand.h>

#include <chubby/chubby.h>

#include "clock.h"
#include "log.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "proxy.h"
#include "pxhttp.h"
#include "tls.h"
#include "tp.h"
#include "xmalloc.h"

#define PC_HELLO_TIMEOUT_MS 10000
#define TICK_MS 100
#define PC_MIN_HOLD_MS 500

uint64_t
proxy_now(void)
{
	return clock_mono_ms();
}

static uint64_t
rand63(void)
{
	uint64_t v = 0;

	while (v == 0) {
		if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
			v = clock_mono_us() * 0x9e3779b97f4a7c15ULL;
		v &= 0x7fffffffffffffffULL;
	}
	return v;
}

/* ---- answering clients ---- */

static void
pc_flush(struct pconn *pc)
{
	struct proxy *p = pc->p;

	if (p->out.len > 0 && conn_send(pc->conn, p->out.data, p->out.len) != CHUBBY_OK)
		conn_close_after_flush(pc->conn, CHUBBY_E_CONN, "send failed");
	wire_buf_reset(&p->out);
}

static void
pc_error(struct pconn *pc, uint64_t id, int status, const char *msg)
{
	wire_buf_reset(&pc->p->out);
	if (wire_put_error(&pc->p->out, id, status, msg) == CHUBBY_OK)
		pc_flush(pc);
}

static void
pc_error_epoch(struct pconn *pc, uint64_t id)
{
	struct proxy *p = pc->p;
	msgpack_packer *pk;

	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, id, CHUBBY_E_BAD_EPOCH, "the epoch changed");
	msgpack_pack_map(pk, 1);
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
}

/* The proxy lost the master: a client looking for a cell goes to another
 * proxy, or waits (docs/PROXY.md "Jeopardy"). */
static void
pc_error_not_master(struct pconn *pc, uint64_t id)
{
	struct proxy *p = pc->p;
	msgpack_packer *pk;

	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, id, CHUBBY_E_NOT_MASTER,
	    "the proxy has lost the master; a write may or may not have been applied");
	msgpack_pack_map(pk, 3);
	mp_pack_kv_uint(pk, "master", 0);
	mp_pack_str(pk, "address");
	msgpack_pack_nil(pk);
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
}

void
proxy_fwd_free(struct proxy *p, struct fwd *f)
{
	pxup_unindex(p, f);
	if (f->prev != NULL)
		f->prev->next = f->next;
	else if (p->fwds == f)
		p->fwds = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	if (f->pc != NULL) {
		if (f->pc_prev != NULL)
			f->pc_prev->pc_next = f->pc_next;
		else
			f->pc->fwds = f->pc_next;
		if (f->pc_next != NULL)
			f->pc_next->pc_prev = f->pc_prev;
	}
	msgpack_sbuffer_destroy(&f->args);
	free(f->path);
	free(f);
}

static void
fwd_attach(struct fwd *f, struct pconn *pc, uint64_t creq)
{
	f->pc = pc;
	f->creq = creq;
	f->pc_prev = NULL;
	f->pc_next = pc->fwds;
	if (pc->fwds != NULL)
		pc->fwds->pc_prev = f;
	pc->fwds = f;
}

static struct fwd *
fwd_alloc(enum fwd_kind kind, uint32_t op)
{
	struct fwd *f = xcalloc(1, sizeof *f);

	f->kind = kind;
	f->op = op;
	msgpack_sbuffer_init(&f->args);
	return f;
}

/* ---- held KeepAlives ---- */

static void
held_free(struct proxy *p, struct held *h)
{
	struct px_client *c = px_client_get(&p->px, h->client);

	if (c != NULL && c->ka == h)
		c->ka = NULL;
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		p->helds = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	if (h->ev != NULL)
		event_free(h->ev);
	free(h);
}

/* Answers a client KEEPALIVE: a lease extended as far as the upstream
 * lease allows, or (FORCE, none may be granted) the lease left unextended.
 * Returns false if it must wait (no lease to grant, not forced). */
static bool
ka_answer(struct proxy *p, struct px_client *c, struct pconn *pc, uint64_t creq, uint64_t since,
    bool force)
{
	uint64_t now = proxy_now();
	uint64_t lease = px_client_grant(&p->px, c, (int64_t)now);
	msgpack_packer *pk;

	if (lease == 0) {
		if (!force)
			return false;
		lease = c->lease_end > (int64_t)now ? (uint64_t)(c->lease_end - (int64_t)now) : 0;
	}
	pxload_granted(&p->load, c->lease_end);
	if (pc == NULL)
		return true;
	p->load.keepalives++;
	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, creq, CHUBBY_OK, NULL);
	msgpack_pack_map(pk, 5);
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	mp_pack_kv_uint(pk, "lease_ms", lease);
	mp_pack_kv_uint(pk, "held_ms", now - since);
	mp_pack_str(pk, "events");
	msgpack_pack_array(pk, c->nev);
	for (size_t i = 0; i < c->nev; i++) {
		const struct px_event *e = &c->ev[i];
		msgpack_pack_map(pk, e->has_gen ? 5 : 4);
		mp_pack_kv_uint(pk, "id", e->id);
		mp_pack_kv_uint(pk, "type", e->type);
		mp_pack_kv_uint(pk, "handle", e->handle);
		mp_pack_kv_str(pk, "path", e->path);
		if (e->has_gen)
			mp_pack_kv_uint(pk, "gen", e->gen);
	}
	mp_pack_str(pk, "invalidate");
	msgpack_pack_array(pk, c->ninv);
	for (size_t i = 0; i < c->ninv; i++) {
		msgpack_pack_map(pk, 2);
		mp_pack_kv_uint(pk, "id", c->inv[i].id);
		mp_pack_kv_str(pk, "path", c->inv[i].path);
	}
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
	return true;
}

/* Answers held H if it may be; frees it then. */
static void
held_answer(struct proxy *p, struct held *h, bool force)
{
	struct px_client *c = px_client_get(&p->px, h->client);

	/* Not forced and no lease to give: it stays held until the master is
	 * back or its hold ends. */
	if (c == NULL || ka_answer(p, c, h->pc, h->creq, h->since, force))
		held_free(p, h);
}

static void
held_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;

	(void)fd;
	(void)what;
	held_answer(h->p, h, true);
}

void
proxy_answer_wakes(struct proxy *p)
{
	struct px_client **w;
	size_t n = px_take_wakes(&p->px, &w);

	for (size_t i = 0; i < n; i++)
		if (w[i]->ka != NULL)
			held_answer(p, w[i]->ka, false);
}

void
proxy_epoch_changed(struct proxy *p)
{
	/* Held KeepAlives carry the new epoch back at once: their clients
	 * flush their caches and raise MASTER_FAILOVER. */
	while (p->helds != NULL) {
		struct held *h = p->helds;
		struct px_client *c = px_client_get(&p->px, h->client);
		if (c != NULL)
			ka_answer(p, c, h->pc, h->creq, h->since, true);
		held_free(p, h);
	}
}

static void
op_keepalive(struct pconn *pc, uint64_t creq, struct px_client *c, const msgpack_object *args)
{
	struct proxy *p = pc->p;
	const msgpack_object *acks_o = NULL;
	uint64_t hold = 0, ev_ack = 0, *acks = NULL;
	size_t nacks = 0;
	uint64_t now = proxy_now();
	struct held *h;

	mp_get_uint(args, "hold_ms", MP_OPTIONAL, &hold, NULL, 0);
	mp_get_uint(args, "ev_ack", MP_OPTIONAL, &ev_ack, NULL, 0);
	if (mp_get_array(args, "acks", MP_OPTIONAL, &acks_o, NULL, 0) == CHUBBY_OK && acks_o != NULL &&
	    acks_o->via.array.size > 0) {
		acks = xcalloc(acks_o->via.array.size, sizeof *acks);
		for (uint32_t i = 0; i < acks_o->via.array.size; i++)
			if (mp_val_uint(&acks_o->via.array.ptr[i], "ack", &acks[nacks], NULL, 0) ==
			    CHUBBY_OK)
				nacks++;
	}
	/* One KEEPALIVE held per session: a newer one answers the older. */
	if (c->ka != NULL)
		held_answer(p, c->ka, true);
	bool news = px_client_keepalive(&p->px, c, ev_ack, acks, nacks);
	log_debug("client session %llu: KEEPALIVE hold %llu ev_ack %llu acks %zu: %zu events "
		  "(first %llu), %zu invalidations, lease left %lld, upstream %d left %lld",
	    (unsigned long long)c->id, (unsigned long long)hold, (unsigned long long)ev_ack, nacks,
	    c->nev, c->nev > 0 ? (unsigned long long)c->ev[0].id : 0ULL, c->ninv,
	    (long long)(c->lease_end - (int64_t)now), (int)c->up->state,
	    (long long)(c->up->lease_end - (int64_t)now));
	free(acks);
	if (c->up->nacks > 0)
		pxup_keepalive_now(p, c->up); /* the master waits for them */
	/* A client asks for no hold when its lease is nearly over.  With the
	 * master, the answer brings a full lease; here it brings no more than
	 * what is left of the proxy's own lease at the master, which may be
	 * little more than the client has (short leases, or the proxy cut off
	 * from the master), and answers at once would then make a loop of
	 * KeepAlives as fast as the connection goes.  So one is answered at
	 * once only if it moves the client's lease end by more than
	 * PC_MIN_HOLD_MS; else it is held that long (well inside the slack a
	 * client allows past its hold). */
	if (!news && hold < PC_MIN_HOLD_MS) {
		int64_t g = (int64_t)px_client_offer(&p->px, c, (int64_t)now);
		if (g <= 0 || (int64_t)now + g <= c->lease_end + PC_MIN_HOLD_MS)
			hold = PC_MIN_HOLD_MS;
	}
	if ((news || hold == 0) && ka_answer(p, c, pc, creq, now, false))
		return;
	h = xcalloc(1, sizeof *h);
	h->p = p;
	h->pc = pc;
	h->creq = creq;
	h->client = c->id;
	h->since = now;
	h->next = p->helds;
	if (p->helds != NULL)
		p->helds->prev = h;
	p->helds = h;
	c->ka = h;
	/* Held as the master holds it: up to HOLD, less a second of what is
	 * left of the lease we can give.  Cut off from the master, the proxy
	 * still answers at the end of HOLD, with the client's lease left and
	 * not extended: the client's lease runs out on its own clock (it goes
	 * into jeopardy as a direct client would), but it sees its proxy
	 * alive and stays with it rather than look for another (which would
	 * claim its session, a second fail-over for nothing). */
	int64_t left = (int64_t)px_client_offer(&p->px, c, (int64_t)now);
	int64_t d = (int64_t)hold;
	if (c->up->state == PX_UP_OK && left - 1000 < d)
		d = left - 1000 > PC_MIN_HOLD_MS ? left - 1000 : (hold < PC_MIN_HOLD_MS ? (int64_t)hold : PC_MIN_HOLD_MS);
	struct timeval tv = {.tv_sec = d / 1000, .tv_usec = (d % 1000) * 1000};
	h->ev = evtimer_new(p->base, held_timeout, h);
	evtimer_add(h->ev, &tv);
}

/* ---- client sessions ---- */

static void
cstart_answer(struct proxy *p, struct pconn *pc, uint64_t creq, struct px_up *up, uint64_t nonce)
{
	struct px_client *c = px_client_by_nonce(&p->px, up->principal, nonce);
	uint64_t lease;
	msgpack_packer *pk;

	if (up->state != PX_UP_OK) {
		pc_error_not_master(pc, creq);
		return;
	}
	if (c == NULL) {
		uint64_t id;
		do
			id = rand63();
		while (px_client_get(&p->px, id) != NULL);
		c = px_client_new(&p->px, up, id, nonce);
		log_debug("client session %llu for %s", (unsigned long long)id, up->principal);
	}
	lease = px_client_grant(&p->px, c, (int64_t)proxy_now());
	if (lease == 0) {
		pc_error_not_master(pc, creq);
		return;
	}
	pxload_granted(&p->load, c->lease_end);
	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, creq, CHUBBY_OK, NULL);
	msgpack_pack_map(pk, 3);
	mp_pack_kv_uint(pk, "session", c->id);
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	mp_pack_kv_uint(pk, "lease_ms", lease);
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
}

static void
op_session_start(struct pconn *pc, uint64_t creq, const msgpack_object *args)
{
	struct proxy *p = pc->p;
	uint64_t nonce = 0;
	struct px_up *up;
	struct fwd *f;

	mp_get_uint(args, "nonce", MP_OPTIONAL, &nonce, NULL, 0);
	p->load.starts++; /* counted on arrival, as the master counts them */
	up = pxup_session(p, pc->principal);
	if (up->state == PX_UP_OK && up->session != 0) {
		cstart_answer(p, pc, creq, up, nonce);
		return;
	}
	/* Waits for the principal's upstream session. */
	f = fwd_alloc(FK_CSTART, PROTO_OP_SESSION_START);
	f->up = up;
	f->nonce = nonce;
	fwd_attach(f, pc, creq);
	pxup_submit(p, f);
}

void
proxy_up_ready(struct proxy *p, struct px_up *up, int status)
{
	for (struct fwd *f = p->fwds, *next; f != NULL; f = next) {
		next = f->next;
		if (f->kind != FK_CSTART || f->up != up)
			continue;
		if (f->pc != NULL) {
			if (status == CHUBBY_OK)
				cstart_answer(p, f->pc, f->creq, up, f->nonce);
			else
				pc_error(f->pc, f->creq, status, "the cell refused the proxy's session");
		}
		proxy_fwd_free(p, f);
	}
}

/* Sends CLIENT_END of client session CLIENT on UP (answering PC's CREQ,
 * if PC, when it is answered). */
static void
client_end_send(struct proxy *p, struct px_up *up, uint64_t client, bool expired, struct pconn *pc,
    uint64_t creq)
{
	struct fwd *f = fwd_alloc(FK_CLIENT_END, PROTO_OP_CLIENT_END);

	f->up = up;
	f->client = client;
	f->expired = expired;
	f->session_scoped = true;
	f->urid = up->next_rid++; /* once, even across a master fail-over */
	if (pc != NULL)
		fwd_attach(f, pc, creq);
	pxup_submit(p, f);
}

/* Ends C at the cell (CLIENT_END) and here.  A SESSION_END of a client
 * waiting for its claim keeps it until the claim is answered
 * (px_client_end_wait): the CLIENT_END waits too (up_send holds it), and
 * claim_done ends the client then, or client_lost drops the CLIENT_END. */
static void
client_end(struct proxy *p, struct px_client *c, bool expired, struct pconn *pc, uint64_t creq)
{
	bool wait = !expired && px_client_end_wait(&p->px, c);

	if (c->ka != NULL)
		held_free(p, c->ka);
	client_end_send(p, c->up, c->id, expired, pc, creq);
	if (!wait)
		px_client_end(&p->px, c);
}

/* C is lost (pxcore marked it: its handles are released at the master, or
 * will be when the claim window ends, and no claim can keep them): tells
 * its held KeepAlive and its requests waiting for the claim at once
 * (E_SESSION_EXPIRED, WHY), answers a SESSION_END that waited for the
 * claim (the session is gone: nothing to end at the cell), and ends it
 * here. */
static void
client_lost(struct proxy *p, struct px_client *c, const char *why)
{
	log_info("client session %llu of %s: %s", (unsigned long long)c->id, c->up->principal, why);
	if (c->ka != NULL) {
		struct held *h = c->ka;
		if (h->pc != NULL)
			pc_error(h->pc, h->creq, CHUBBY_E_SESSION_EXPIRED, why);
		held_free(p, h);
	}
	for (struct fwd *f = p->fwds, *next; f != NULL; f = next) {
		next = f->next;
		if (f->client != c->id || f->id != 0 ||
		    (f->kind != FK_CLIENT && f->kind != FK_CLIENT_END))
			continue;
		if (f->pc != NULL) {
			if (f->kind == FK_CLIENT_END)
				pc_error(f->pc, f->creq, CHUBBY_OK, NULL);
			else
				pc_error(f->pc, f->creq, CHUBBY_E_SESSION_EXPIRED, why);
		}
		proxy_fwd_free(p, f);
	}
	px_client_end(&p->px, c);
}

/* ---- claims: a client whose proxy died ---- */

static void claim_done(struct proxy *p, struct fwd *f, int status, const struct wire_msg *m);

/* Answers the requests parked behind the claim of CLIENT: E_BAD_EPOCH with
 * this proxy's epoch (the client flushes, raises MASTER_FAILOVER and sends
 * again), or STATUS (E_SESSION_EXPIRED: the claim found nothing to take). */
static void
claim_answer_waiters(struct proxy *p, uint64_t client, int status)
{
	for (struct fwd *f = p->fwds, *next; f != NULL; f = next) {
		next = f->next;
		if (f->kind != FK_CLAIMWAIT || f->client != client)
			continue;
		if (f->pc != NULL) {
			if (status == CHUBBY_OK)
				pc_error_epoch(f->pc, f->creq);
			else
				pc_error(f->pc, f->creq, status, "the session ended at its proxy");
		}
		proxy_fwd_free(p, f);
	}
}

/* The reclaim of CLIENT (proxy_reclaim) found its handles released at
 * the master (it ended, or the claim window closed): its requests held
 * for the claim are answered E_SESSION_EXPIRED, and it is marked lost
 * (tick_cb ends it here; there is nothing left to end at the cell). */
static void
reclaim_failed(struct proxy *p, uint64_t client)
{
	struct px_client *c = px_client_get(&p->px, client);

	if (c == NULL || !c->reclaim)
		return;
	px_client_claimed(&p->px, c, false);
	client_lost(p, c, "the session expired with its proxy's upstream session");
}

void
proxy_up_refused(struct proxy *p, struct px_up *up, int status)
{
	uint64_t *ids;
	size_t n;

	/* No claim can be made without the upstream session: the clients
	 * waiting for one are told now, not left in jeopardy until their
	 * grace period ends.  The master ends their orphaned handles when the
	 * claim window closes (docs/PROXY.md "The upstream session expires"). */
	px_up_refused(&p->px, up, &ids, &n);
	for (size_t i = 0; i < n; i++) {
		struct px_client *c = px_client_get(&p->px, ids[i]);
		if (c != NULL)
			client_lost(p, c,
			    "the cell refused the proxy's new upstream session: the session is lost");
	}
	free(ids);
	/* The claims that waited for it: those of the clients just lost, and
	 * of clients that came from another proxy (or from before this
	 * proxy's epoch rose).  Those are answered E_SESSION_EXPIRED, as a
	 * CLAIM the cell refuses is: passing on the refusal (E_LIMIT, ...)
	 * would make libchubby reconnect and send again at once, a loop of
	 * SESSION_STARTs against a master that is full or does not want this
	 * proxy.  (Its handles stay claimable by another proxy until the
	 * claim window closes; the client, told its session expired, does
	 * not come back for them.) */
	log_info("upstream SESSION_START of %s refused (%s): its claims fail", up->principal,
	    chubby_status_name(status));
	for (;;) {
		struct fwd *f;
		for (f = p->fwds; f != NULL; f = f->next)
			if (f->kind == FK_CLAIM && f->up == up && f->id == 0)
				break;
		if (f == NULL)
			break;
		claim_done(p, f, CHUBBY_E_SESSION_EXPIRED, NULL);
	}
}

void
proxy_reclaim(struct proxy *p, struct px_up *up, uint64_t client)
{
	struct fwd *f = fwd_alloc(FK_CLAIM, PROTO_OP_CLAIM);

	f->up = up;
	f->client = client;
	f->reclaim = true;
	f->session_scoped = true; /* sent once the new upstream session is up */
	f->urid = up->next_rid++;
	pxup_submit(p, f);
}

static void
claim_done(struct proxy *p, struct fwd *f, int status, const struct wire_msg *m)
{
	const msgpack_object *arr = NULL;
	struct px_client *c;

	if (status == CHUBBY_E_BAD_OP || status == CHUBBY_E_PERMISSION)
		status = CHUBBY_E_SESSION_EXPIRED; /* a cell without proxies */
	if (status != CHUBBY_OK || m == NULL ||
	    mp_get_array(m->res.result, "handles", MP_REQUIRED, &arr, NULL, 0) != CHUBBY_OK) {
		log_info("claim of client session %llu: %s %.*s", (unsigned long long)f->client,
		    chubby_status_name(status != CHUBBY_OK ? status : CHUBBY_E_MALFORMED),
		    m != NULL && m->res.message.ptr != NULL ? (int)m->res.message.len : 0,
		    m != NULL && m->res.message.ptr != NULL ? m->res.message.ptr : "");
		claim_answer_waiters(p, f->client, status != CHUBBY_OK ? status
		                                                       : CHUBBY_E_SESSION_EXPIRED);
		reclaim_failed(p, f->client);
		proxy_fwd_free(p, f);
		return;
	}
	c = px_client_get(&p->px, f->client);
	if (c == NULL && f->reclaim) {
		/* Ended here while its claim was in flight: what the claim
		 * moved belongs to nobody now (a lost client was told its
		 * session expired), so it is released as an expiry would. */
		log_info("claimed client session %llu ended meanwhile: CLIENT_END",
		    (unsigned long long)f->client);
		client_end_send(p, f->up, f->client, true, NULL, 0);
		proxy_fwd_free(p, f);
		return;
	}
	if (c == NULL) {
		c = px_client_new(&p->px, f->up, f->client, 0);
	} else if (px_client_claimed(&p->px, c, true)) {
		/* A SESSION_END came during the claim: its CLIENT_END, held
		 * until now, closes the handles just claimed. */
		log_info("claimed client session %llu of %s, ended meanwhile",
		    (unsigned long long)c->id, c->up->principal);
		if (c->ka != NULL)
			held_free(p, c->ka);
		px_client_end(&p->px, c);
		proxy_fwd_free(p, f);
		pxup_send_waiting(p);
		return;
	}
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *h = &arr->via.array.ptr[i];
		uint64_t id = 0, flags = 0;
		char *path = NULL;
		if (mp_get_uint(h, "handle", MP_REQUIRED, &id, NULL, 0) == CHUBBY_OK &&
		    mp_get_strdup(h, "path", MP_REQUIRED, &path, NULL, 0) == CHUBBY_OK) {
			mp_get_uint(h, "flags", MP_OPTIONAL, &flags, NULL, 0);
			px_handle_add(&p->px, c, id, path, (uint32_t)flags);
		}
		free(path);
	}
	px_client_grant(&p->px, c, (int64_t)proxy_now());
	p->claims++;
	/* The client must see an epoch above the one its old proxy gave it. */
	for (struct fwd *w = p->fwds; w != NULL; w = w->next)
		if (w->kind == FK_CLAIMWAIT && w->client == f->client &&
		    px_epoch_raise(&p->px, w->token)) {
			log_info("epoch raised to %llu above a claimed client's",
			    (unsigned long long)px_epoch(&p->px));
			proxy_epoch_changed(p);
		}
	log_info("claimed client session %llu of %s: %u handles", (unsigned long long)c->id,
	    c->up->principal, arr->via.array.size);
	claim_answer_waiters(p, f->client, CHUBBY_OK);
	proxy_fwd_free(p, f);
	proxy_answer_wakes(p);
	pxup_send_waiting(p); /* its requests held for the claim */
}

/* A request for SESSION, which this proxy does not know, of a client that
 * believes in EPOCH: its proxy died, or it is not a session at all.  The
 * proxy claims it (docs/PROXY.md "Proxy fail-over"); the request waits. */
static void
claim_start(struct proxy *p, struct pconn *pc, uint64_t creq, uint64_t session, uint64_t epoch)
{
	struct fwd *w = fwd_alloc(FK_CLAIMWAIT, 0), *f;
	bool pending = false;

	w->client = session;
	w->token = epoch; /* the client's epoch: ours must go above it */
	fwd_attach(w, pc, creq);
	for (f = p->fwds; f != NULL; f = f->next)
		if (f->kind == FK_CLAIM && f->client == session)
			pending = true;
	pxup_submit(p, w);
	if (pending)
		return;
	f = fwd_alloc(FK_CLAIM, PROTO_OP_CLAIM);
	f->up = pxup_session(p, pc->principal);
	f->client = session;
	f->session_scoped = true;
	f->urid = f->up->next_rid++;
	pxup_submit(p, f);
}

/* ---- forwarding ---- */

static bool
skip_key(const msgpack_object *k)
{
	static const char *const skip[] = {"session", "epoch", "rid", "rid_floor", "client", "mem",
	    "reopen"};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (mp_str_eq(k, skip[i]))
			return true;
	return false;
}

static void
fwd_copy_args(struct fwd *f, const msgpack_object *args)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, &f->args, msgpack_sbuffer_write);
	if (args == NULL || args->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < args->via.map.size; i++) {
		const msgpack_object_kv *kv = &args->via.map.ptr[i];
		if (skip_key(&kv->key) || kv->val.type == MSGPACK_OBJECT_NIL)
			continue;
		msgpack_pack_object(&pk, kv->key);
		msgpack_pack_object(&pk, kv->val);
		f->npairs++;
	}
}

/* Packs RESULT (a GET_CONTENTS map) with `cacheable` set to CACHEABLE. */
static void
pack_cacheable(msgpack_packer *pk, const msgpack_object *r, bool cacheable)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < r->via.map.size; i++)
		if (!mp_str_eq(&r->via.map.ptr[i].key, "cacheable"))
			n++;
	msgpack_pack_map(pk, n + 1);
	for (uint32_t i = 0; i < r->via.map.size; i++) {
		if (mp_str_eq(&r->via.map.ptr[i].key, "cacheable"))
			continue;
		msgpack_pack_object(pk, r->via.map.ptr[i].key);
		msgpack_pack_object(pk, r->via.map.ptr[i].val);
	}
	mp_pack_kv_bool(pk, "cacheable", cacheable);
}

void
proxy_fwd_done(struct proxy *p, struct fwd *f, int status, const struct wire_msg *m)
{
	const msgpack_object *r = m != NULL ? m->res.result : NULL;
	struct px_client *c = f->client != 0 ? px_client_get(&p->px, f->client) : NULL;
	msgpack_packer *pk;

	if (f->kind == FK_CLIENT && status == CHUBBY_OK && c != NULL && r != NULL) {
		uint64_t handle = 0;
		if (f->op == PROTO_OP_OPEN &&
		    mp_get_uint(r, "handle", MP_REQUIRED, &handle, NULL, 0) == CHUBBY_OK)
			px_handle_add(&p->px, c, handle, f->path, f->flags);
	}
	if (f->kind == FK_CLIENT && f->op == PROTO_OP_CLOSE &&
	    (status == CHUBBY_OK || status == CHUBBY_E_BAD_HANDLE) && c != NULL) {
		if (f->path != NULL) /* the handle id, kept by op_forward */
			px_handle_del(&p->px, strtoull(f->path, NULL, 10));
	}
	if (f->kind == FK_CLAIM) {
		claim_done(p, f, status, m);
		return;
	}
	if (f->kind == FK_CLIENT_END && f->pc != NULL) {
		/* A master without CLIENT_END (E_BAD_OP) has nothing to end;
		 * the session is gone here either way. */
		pc_error(f->pc, f->creq, CHUBBY_OK, NULL);
		proxy_fwd_free(p, f);
		return;
	}
	if (f->pc == NULL || (f->cache_read && c == NULL)) {
		if (f->cache_read)
			px_read_done(&p->px, f->up, c, f->path, f->token, false, NULL, 0);
		if (f->pc != NULL)
			pc_error(f->pc, f->creq, CHUBBY_E_SESSION_EXPIRED, "the session ended");
		proxy_fwd_free(p, f);
		return;
	}
	{
		/* The master's words, as it said them. */
		char *msg = m != NULL && m->res.message.ptr != NULL
		    ? xstrndup(m->res.message.ptr, m->res.message.len)
		    : NULL;
		wire_buf_reset(&p->out);
		pk = wire_begin_res(&p->out, f->creq, status, msg);
		free(msg);
	}
	if (f->cache_read && c != NULL) {
		bool up_cacheable = false;
		msgpack_sbuffer sb;
		msgpack_packer spk;
		bool ok;

		if (status == CHUBBY_OK && r != NULL && r->type == MSGPACK_OBJECT_MAP)
			mp_get_bool(r, "cacheable", MP_OPTIONAL, &up_cacheable, NULL, 0);
		msgpack_sbuffer_init(&sb);
		if (up_cacheable) {
			msgpack_packer_init(&spk, &sb, msgpack_sbuffer_write);
			pack_cacheable(&spk, r, true);
		}
		ok = px_read_done(&p->px, f->up, c, f->path, f->token, up_cacheable,
		    up_cacheable ? (const uint8_t *)sb.data : NULL, sb.size);
		msgpack_sbuffer_destroy(&sb);
		if (status == CHUBBY_OK && r != NULL && r->type == MSGPACK_OBJECT_MAP)
			pack_cacheable(pk, r, ok);
		else if (r != NULL)
			msgpack_pack_object(pk, *r);
		else
			msgpack_pack_nil(pk);
	} else if (r != NULL) {
		msgpack_pack_object(pk, *r);
	} else {
		msgpack_pack_nil(pk);
	}
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(f->pc);
	else
		wire_buf_reset(&p->out);
	proxy_fwd_free(p, f);
}

static void
op_forward(struct pconn *pc, uint64_t creq, uint32_t op, struct px_client *c,
    const msgpack_object *args)
{
	struct proxy *p = pc->p;
	struct fwd *f = fwd_alloc(FK_CLIENT, op);
	uint64_t handle = 0, rid = 0, floor = 0;
	struct px_handle *h = NULL;
	char err[160];

	if (c != NULL && op != PROTO_OP_OPEN && mp_map_get(args, "handle") != NULL) {
		if (mp_get_uint(args, "handle", MP_REQUIRED, &handle, err, sizeof err) != CHUBBY_OK) {
			pc_error(pc, creq, CHUBBY_E_BAD_TYPE, err);
			proxy_fwd_free(p, f);
			return;
		}
		h = px_handle_get(&p->px, handle);
		/* A client uses its own handles only: the master sees one
		 * session for every client of the principal. */
		if (h == NULL || h->client != c) {
			pc_error(pc, creq, CHUBBY_E_BAD_HANDLE, "no such handle in this session");
			proxy_fwd_free(p, f);
			return;
		}
	}
	if (c != NULL) {
		f->up = c->up;
		f->client = c->id;
		f->session_scoped = true;
		mp_get_uint(args, "rid", MP_OPTIONAL, &rid, NULL, 0);
		mp_get_uint(args, "rid_floor", MP_OPTIONAL, &floor, NULL, 0);
		f->urid = px_client_rid(c, rid, floor);
	}
	if (op == PROTO_OP_OPEN) {
		uint64_t flags = 0;
		if (mp_get_strdup(args, "path", MP_REQUIRED, &f->path, err, sizeof err) != CHUBBY_OK) {
			pc_error(pc, creq, CHUBBY_E_MISSING, err);
			proxy_fwd_free(p, f);
			return;
		}
		mp_get_uint(args, "flags", MP_OPTIONAL, &flags, NULL, 0);
		f->flags = (uint32_t)flags;
	} else if (op == PROTO_OP_CLOSE && h != NULL) {
		xasprintf(&f->path, "%llu", (unsigned long long)h->id);
	}
	fwd_copy_args(f, args);
	fwd_attach(f, pc, creq);
	if (op == PROTO_OP_GET_CONTENTS && h != NULL) {
		bool cache = false;
		mp_get_bool(args, "cache", MP_OPTIONAL, &cache, NULL, 0);
		if (cache) {
			const uint8_t *data;
			size_t len;
			if (p->upc == UPC_READY &&
			    (data = px_cache_lookup(&p->px, c, h->path, &len)) != NULL) {
				msgpack_packer *pk;
				wire_buf_reset(&p->out);
				pk = wire_begin_res(&p->out, creq, CHUBBY_OK, NULL);
				wire_pack_raw(pk, data, len);
				if (wire_finish(&p->out) == CHUBBY_OK)
					pc_flush(pc);
				proxy_fwd_free(p, f);
				return;
			}
			f->cache_read = true;
			f->path = xstrdup(h->path);
			f->token = px_read_begin(&p->px, c, h->path);
		}
	}
	pxup_submit(p, f);
}

/* ---- requests ---- */

static void
op_where(struct pconn *pc, uint64_t creq)
{
	struct proxy *p = pc->p;
	msgpack_packer *pk;

	/* The proxy is the cell for its clients: libchubby stays with it. */
	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, creq, CHUBBY_OK, NULL);
	msgpack_pack_map(pk, 4);
	mp_pack_kv_uint(pk, "master", 1);
	mp_pack_kv_str(pk, "address", p->listen);
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	mp_pack_kv_bool(pk, "is_master", true);
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
}

int64_t
proxy_upstream_lease_left(const struct proxy *p, uint64_t now)
{
	int64_t left = -1;

	for (const struct px_up *up = p->px.ups; up != NULL; up = up->next) {
		int64_t l = up->state == PX_UP_OK ? up->lease_end - (int64_t)now : 0;
		if (left < 0 || l < left)
			left = l;
	}
	return left;
}

static void
op_status(struct pconn *pc, uint64_t creq)
{
	struct proxy *p = pc->p;
	uint64_t now = proxy_now();
	int64_t left = proxy_upstream_lease_left(p, now);
	msgpack_packer *pk;
	wire_buf_reset(&p->out);
	pk = wire_begin_res(&p->out, creq, CHUBBY_OK, NULL);
	msgpack_pack_map(pk, 21);
	mp_pack_kv_str(pk, "cell", p->cfg->cell);
	mp_pack_kv_uint(pk, "id", 0);
	mp_pack_kv_str(pk, "version", PACKAGE_VERSION);
	mp_pack_kv_uint(pk, "uptime_ms", now - p->started_ms);
	mp_pack_kv_str(pk, "role", "proxy");
	mp_pack_kv_uint(pk, "epoch", px_epoch(&p->px));
	mp_pack_kv_uint(pk, "clients", p->nconns);
	mp_pack_kv_uint(pk, "sessions", p->px.nclients);
	mp_pack_kv_uint(pk, "upstream_sessions", p->px.nups);
	mp_pack_kv_uint(pk, "cache_entries", p->px.ncache);
	mp_pack_kv_uint(pk, "cache_hits", p->px.st.hits);
	mp_pack_kv_uint(pk, "cache_misses", p->px.st.misses);
	mp_pack_kv_uint(pk, "invalidations", p->px.st.relays);
	mp_pack_kv_int(pk, "upstream_lease_ms", left < 0 ? 0 : left);
	mp_pack_kv_str(pk, "upstream", p->upc == UPC_READY ? p->up_addr : NULL);
	mp_pack_kv_uint(pk, "master_epoch", p->px.master_epoch);
	/* Leases under load, in the master's shape (lockctl status reads it):
	 * the lease granted now, the longest still out, the load and the
	 * signal that set the lease. */
	mp_pack_str(pk, "session_lease");
	msgpack_pack_map(pk, 6);
	mp_pack_kv_uint(pk, "granted_ms", p->px.session_lease_ms);
	mp_pack_kv_uint(pk, "cap_ms",
	    p->load.lease_out_end > now ? p->load.lease_out_end - now : 0);
	mp_pack_kv_uint(pk, "load_pct", p->load.ctl.load_pct);
	mp_pack_kv_str(pk, "driver", lease_sig_name(p->load.ctl.rise_signal));
	mp_pack_kv_uint(pk, "starts_per_s", p->load.ctl.starts_rate);
	mp_pack_kv_uint(pk, "slack_ms", p->load.slack_ms);
	mp_pack_kv_uint(pk, "cpu_pct", p->load.cpu_pct);
	mp_pack_kv_uint(pk, "loop_lag_max_ms", pxload_lag_ms(&p->load));
	mp_pack_kv_uint(pk, "keepalives", p->load.keepalives);
	mp_pack_kv_uint(pk, "forwarded", p->forwarded);
	if (wire_finish(&p->out) == CHUBBY_OK)
		pc_flush(pc);
}

static void
pc_req(struct pconn *pc, const struct wire_msg *m)
{
	struct proxy *p = pc->p;
	uint64_t creq = m->req.id, session = 0, epoch = 0;
	const msgpack_object *args = m->req.args;
	uint32_t op = m->req.op;
	struct px_client *c;
	char err[160];

	switch (op) {
	case PROTO_OP_WHERE_IS_MASTER:
		log_debug("client %s: WHERE_IS_MASTER", conn_remote(pc->conn));
		op_where(pc, creq);
		return;
	case PROTO_OP_STATUS:
		op_status(pc, creq);
		return;
	case PROTO_OP_SESSION_START:
		op_session_start(pc, creq, args);
		return;
	case PROTO_OP_CHECK_SEQUENCER:
	case PROTO_OP_SYNC:
		op_forward(pc, creq, op, NULL, args);
		return;
	case PROTO_OP_KEEPALIVE:
	case PROTO_OP_SESSION_END:
	case PROTO_OP_OPEN:
	case PROTO_OP_CLOSE:
	case PROTO_OP_POISON:
	case PROTO_OP_GET_CONTENTS:
	case PROTO_OP_GET_STAT:
	case PROTO_OP_READDIR:
	case PROTO_OP_SET_CONTENTS:
	case PROTO_OP_SET_ACL:
	case PROTO_OP_DELETE:
	case PROTO_OP_ACQUIRE:
	case PROTO_OP_TRY_ACQUIRE:
	case PROTO_OP_RELEASE:
	case PROTO_OP_GET_SEQUENCER:
	case PROTO_OP_SET_SEQUENCER:
		break;
	case PROTO_OP_SESSIONS:
	case PROTO_OP_LOCKS:
	case PROTO_OP_SNAPSHOT:
	case PROTO_OP_MEMBERS:
	case PROTO_OP_MASTER_HANDOFF:
	case PROTO_OP_RELOAD:
		/* The cell would judge them by the proxy's principal, not the
		 * client's: administration goes to the cell directly. */
		pc_error(pc, creq, CHUBBY_E_PERMISSION,
		    "administrative requests go to the cell's replicas, not through a proxy");
		return;
	default:
		pc_error(pc, creq, CHUBBY_E_BAD_OP, "unknown op");
		return;
	}
	if (mp_get_uint(args, "session", MP_REQUIRED, &session, err, sizeof err) != CHUBBY_OK ||
	    mp_get_uint(args, "epoch", MP_REQUIRED, &epoch, err, sizeof err) != CHUBBY_OK) {
		pc_error(pc, creq, mp_map_get(args, "session") == NULL || mp_map_get(args, "epoch") == NULL
		                       ? CHUBBY_E_MISSING
		                       : CHUBBY_E_BAD_TYPE,
		    err);
		return;
	}
	c = px_client_get(&p->px, session);
	log_debug("client %s: %s session %llu epoch %llu%s", conn_remote(pc->conn), proto_op_name(op),
	    (unsigned long long)session, (unsigned long long)epoch, c == NULL ? " (unknown)" : "");
	if (c == NULL && epoch != px_epoch(&p->px) && session != 0) {
		/* Another proxy's client (it died): take its handles over. */
		claim_start(p, pc, creq, session, epoch);
		return;
	}
	if (c == NULL || c->lost || c->ending) {
		/* Ended or expired here (or ending: its SESSION_END waits for
		 * its claim). */
		pc_error(pc, creq, CHUBBY_E_SESSION_EXPIRED, "no such session at this proxy");
		return;
	}
	if (strcmp(c->up->principal, pc->principal) != 0) {
		pc_error(pc, creq, CHUBBY_E_PERMISSION, "the session belongs to another principal");
		return;
	}
	if (epoch != px_epoch(&p->px)) {
		pc_error_epoch(pc, creq);
		return;
	}
	if (op == PROTO_OP_KEEPALIVE)
		op_keepalive(pc, creq, c, args);
	else if (op == PROTO_OP_SESSION_END)
		client_end(p, c, false, pc, creq);
	else
		op_forward(pc, creq, op, c, args);
}

/* ---- client connections ---- */

static void
pc_free(struct pconn *pc)
{
	struct proxy *p = pc->p;

	/* Requests in flight go on upstream; their answers go nowhere. */
	while (pc->fwds != NULL) {
		struct fwd *f = pc->fwds;
		pc->fwds = f->pc_next;
		f->pc = NULL;
		f->pc_next = f->pc_prev = NULL;
		if (f->kind == FK_CSTART || f->kind == FK_CLAIMWAIT)
			proxy_fwd_free(p, f);
	}
	for (struct held *h = p->helds, *next; h != NULL; h = next) {
		next = h->next;
		if (h->pc == pc)
			held_free(p, h);
	}
	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		p->conns = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
	p->nconns--;
	conn_free(pc->conn);
	free(pc);
}

static void
pc_fail(struct pconn *pc, int status, const char *msg)
{
	pc_error(pc, 0, status, msg);
	conn_close_after_flush(pc->conn, status, msg);
}

static void
pc_on_frame(struct conn *conn, const uint8_t *body, size_t len, void *arg)
{
	struct pconn *pc = arg;
	struct proxy *p = pc->p;
	struct wire_msg m;
	char err[256];
	int rc;

	rc = wire_decode(body, len, &m, err, sizeof err);
	if (rc != CHUBBY_OK) {
		pc_fail(pc, rc, err);
		return;
	}
	if (!pc->hello) {
		if (m.kind != PROTO_KIND_HELLO) {
			pc_fail(pc, CHUBBY_E_MALFORMED, "the first message must be HELLO");
		} else if (wire_check_version(m.hello.version) != CHUBBY_OK) {
			wire_buf_reset(&p->out);
			if (wire_put_version_error(&p->out, m.hello.version) == CHUBBY_OK)
				pc_flush(pc);
			conn_close_after_flush(conn, CHUBBY_E_VERSION, "unsupported protocol version");
		} else if (conn_peer(conn)->kind != TP_PEER_CLIENT) {
			pc_fail(pc, CHUBBY_E_PERMISSION, "a proxy serves client certificates only");
		} else {
			pc->hello = true;
			snprintf(pc->principal, sizeof pc->principal, "%s", conn_peer(conn)->name);
			conn_set_idle_timeout(conn, 0);
			wire_buf_reset(&p->out);
			if (wire_put_welcome(&p->out, PROTO_VERSION, p->cfg->cell, 0,
				(uint32_t)p->cfg->max_frame) == CHUBBY_OK)
				pc_flush(pc);
		}
	} else if (m.kind == PROTO_KIND_REQ) {
		pc_req(pc, &m);
	} else {
		pc_fail(pc, CHUBBY_E_MALFORMED, "a client may send only REQ after HELLO");
	}
	wire_msg_free(&m);
}

static void
pc_on_close(struct conn *conn, int status, const char *reason, void *arg)
{
	(void)conn;
	(void)status;
	log_debug("client connection closed: %s", reason);
	pc_free(arg);
}

static void
pc_on_bad_frame(struct conn *conn, int status, const char *reason, void *arg)
{
	(void)conn;
	pc_fail(arg, status, reason);
}

static void
pc_on_open(struct conn *conn, void *arg)
{
	(void)conn;
	(void)arg;
}

static const struct conn_callbacks pc_cb = {
    .on_open = pc_on_open,
    .on_frame = pc_on_frame,
    .on_close = pc_on_close,
    .on_bad_frame = pc_on_bad_frame,
};

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct proxy *p = arg;
	struct bufferevent *bev;
	struct pconn *pc;

	(void)l;
	(void)sa;
	(void)salen;
	if (p->nconns >= p->cfg->max_connections) {
		evutil_closesocket(fd);
		return;
	}
	bev = tp_accept(p->tp_srv, p->base, fd);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	pc = xcalloc(1, sizeof *pc);
	pc->p = p;
	pc->conn = conn_new(p->tp_srv, bev, 1, p->cfg->max_frame, &pc_cb, pc);
	if (pc->conn == NULL) {
		free(pc);
		return;
	}
	conn_set_idle_timeout(pc->conn, PC_HELLO_TIMEOUT_MS);
	pc->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = pc;
	p->conns = pc;
	p->nconns++;
}

/* ---- the daemon ---- */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	uint64_t now = proxy_now();
	struct px_client *c;

	(void)fd;
	(void)what;
	pxload_tick(&p->load, &p->px, now, TICK_MS);
	pxup_tick(p, now);
	/* Client leases that ran out here end at the cell as an expiry
	 * would: locks free after their lock-delay. */
	while ((c = px_next_expired(&p->px, (int64_t)now)) != NULL) {
		if (c->lost) {
			client_lost(p, c, "lost with the proxy's upstream session");
		} else {
			log_info("client session %llu of %s: lease expired", (unsigned long long)c->id,
			    c->up->principal);
			p->px.st.expired++;
			client_end(p, c, true, NULL, 0);
		}
	}
	proxy_answer_wakes(p);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proxy *p = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(p->base);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: chubby-proxy --config FILE --listen HOST:PORT --cert FILE --key FILE\n"
		   "                    [--status HOST:PORT] [--log-level LEVEL]\n"
		   "A proxy that clients connect to as if it were the cell (chubby-proxy(8)).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"status", required_argument, NULL, 'S'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *cert = NULL, *key = NULL, *status = NULL;
	struct proxy p;
	struct sockaddr_storage ss;
	char err[CONFIG_ERR_MAX];
	int o, sslen, level = LOG_LVL_INFO, rc = 1;
	bool px_ready = false;
	uint32_t inc = 0;
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

	memset(&p, 0, sizeof p);
	while ((o = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			p.listen = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'S':
			status = optarg;
			break;
		case 'L':
			if ((level = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "chubby-proxy: unknown log level %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("chubby-proxy %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || p.listen == NULL || cert == NULL || key == NULL) {
		usage(stderr);
		return 2;
	}
	log_init("chubby-proxy", level);
	if (config_load(config, &p.cfg, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "chubby-proxy: %s\n", err);
		return 1;
	}
	if (p.cfg->nreplicas == 0) {
		fprintf(stderr, "chubby-proxy: %s lists no replicas\n", config);
		goto out;
	}
	struct tls_config ts = {.ca_file = p.cfg->tls_ca, .cert_file = cert, .key_file = key,
	    .role = TLS_ROLE_SERVER, .crl_file = p.cfg->tls_crl, .proxy = 1};
	struct tls_config tc = ts;
	tc.role = TLS_ROLE_CLIENT;
	tc.proxy = 0;
	if (tls_ctx_load(&p.tls_srv, &ts, err, sizeof err) != CHUBBY_OK ||
	    tls_ctx_load(&p.tls_cli, &tc, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "chubby-proxy: %s\n", err);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	p.base = tp_event_base_new();
	p.tp_srv = tp_tls_new(p.tls_srv);
	p.tp_cli = tp_tls_new(p.tls_cli);
	if (p.base == NULL || p.tp_srv == NULL || p.tp_cli == NULL) {
		fprintf(stderr, "chubby-proxy: out of memory\n");
		goto out;
	}
	wire_buf_init(&p.out, p.cfg->max_frame);
	while (inc == 0)
		inc = (uint32_t)rand63() & 0xfffff;
	px_init(&p.px, p.cfg->session_lease_ms, inc);
	px_ready = true;
	p.started_ms = proxy_now();
	pxload_init(&p.load, p.cfg, p.started_ms);
	px_set_lease(&p.px, p.cfg->session_lease_ms, p.load.slack_ms);
	if (net_resolve(p.listen, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "chubby-proxy: --listen %s: %s\n", p.listen, err);
		goto out;
	}
	p.listener = evconnlistener_new_bind(p.base, accept_cb, &p,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512,
	    (struct sockaddr *)&ss, sslen);
	if (p.listener == NULL) {
		fprintf(stderr, "chubby-proxy: cannot listen on %s: %s\n", p.listen, strerror(errno));
		goto out;
	}
	if (status != NULL && (p.http = pxhttp_new(&p, status, err, sizeof err)) == NULL) {
		fprintf(stderr, "chubby-proxy: --status %s: %s\n", status, err);
		goto out;
	}
	p.tick = event_new(p.base, -1, EV_PERSIST, tick_cb, &p);
	event_add(p.tick, &tv);
	p.sigint = evsignal_new(p.base, SIGINT, signal_cb, &p);
	p.sigterm = evsignal_new(p.base, SIGTERM, signal_cb, &p);
	event_add(p.sigint, NULL);
	event_add(p.sigterm, NULL);
	log_info("chubby-proxy for cell %s listening on %s (incarnation %u)%s%s", p.cfg->cell,
	    p.listen, (unsigned)inc, status != NULL ? ", metrics on http://" : "",
	    status != NULL ? status : "");
	pxup_start(&p);
	event_base_dispatch(p.base);
	rc = 0;

	/* Everything made so far, also when a start-up step failed: a
	 * refused option leaves nothing behind (LeakSanitizer checks). */
out:
	while (p.conns != NULL)
		pc_free(p.conns);
	while (p.helds != NULL)
		held_free(&p, p.helds);
	while (p.fwds != NULL)
		proxy_fwd_free(&p, p.fwds);
	pxup_free(&p);
	pxhttp_free(p.http);
	if (p.listener != NULL)
		evconnlistener_free(p.listener);
	if (p.tick != NULL)
		event_free(p.tick);
	if (p.sigint != NULL)
		event_free(p.sigint);
	if (p.sigterm != NULL)
		event_free(p.sigterm);
	if (px_ready)
		px_free(&p.px);
	wire_buf_free(&p.out);
	tp_free(p.tp_srv);
	tp_free(p.tp_cli);
	tp_event_base_free(p.base);
	tls_ctx_free(p.tls_srv);
	tls_ctx_free(p.tls_cli);
	config_free(p.cfg);
	return rc;
}
