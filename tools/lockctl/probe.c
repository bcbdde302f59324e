/* probe.c: STATUS from every replica of a cell in parallel, with a deadline. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "clock.h"
#include "conn.h"
#include "frame.h"
#include "mp.h"
#include "net.h"
#include "probe.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"
#include "wire.h"

struct probe {
	struct probe_result *r;
	struct conn *conn;
	struct probe_all *all;
	uint64_t started;
	int done;
};

struct probe_all {
	struct event_base *base;
	struct tp *tp;
	size_t pending;
	bool state_digest; /* ask each replica to hash its namespace */
};

static void
probe_finish(struct probe *p, int status, const char *error)
{
	if (p->done)
		return;
	p->done = 1;
	p->r->status = status;
	if (error != NULL && p->r->error[0] == '\0')
		snprintf(p->r->error, sizeof p->r->error, "%s", error);
	if (p->conn != NULL) {
		conn_free(p->conn);
		p->conn = NULL;
	}
	if (--p->all->pending == 0)
		event_base_loopbreak(p->all->base);
}

static void
probe_send(struct probe *p, struct wire_buf *b)
{
	if (conn_send(p->conn, b->data, b->len) != CHUBBY_OK)
		probe_finish(p, CHUBBY_E_CONN, "send failed");
}

static void
probe_on_open(struct conn *c, void *arg)
{
	struct probe *p = arg;
	struct wire_buf b;

	(void)c;
	wire_buf_init(&b, FRAME_MAX_DEFAULT);
	if (wire_put_hello(&b, PROTO_VERSION, "lockctl") == CHUBBY_OK &&
	    wire_begin_req(&b, 1, PROTO_OP_STATUS) != NULL) {
		if (p->all->state_digest) {
			msgpack_pack_map(&b.pk, 1);
			mp_pack_kv_bool(&b.pk, "state_digest", true);
		} else {
			msgpack_pack_nil(&b.pk);
		}
		if (wire_finish(&b) == CHUBBY_OK)
			probe_send(p, &b);
	}
	wire_buf_free(&b);
}

static void
probe_copy_str(const msgpack_object *m, const char *key, char *dst, size_t cap)
{
	struct mp_str s;
	char err[64];

	if (mp_get_str(m, key, MP_OPTIONAL, &s, err, sizeof err) == CHUBBY_OK && s.ptr != NULL) {
		size_t n = s.len < cap - 1 ? s.len : cap - 1;
		memcpy(dst, s.ptr, n);
		dst[n] = '\0';
	}
}

static int
probe_get_uint(const msgpack_object *m, const char *key, uint64_t *out)
{
	char err[64];
	return mp_map_get(m, key) != NULL &&
	       mp_get_uint(m, key, MP_REQUIRED, out, err, sizeof err) == CHUBBY_OK;
}

static void
probe_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct probe *p = arg;
	struct wire_msg m;
	char err[256];

	(void)c;
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		probe_finish(p, CHUBBY_E_MALFORMED, err);
		return;
	}
	if (m.kind == PROTO_KIND_WELCOME) {
		size_t n = m.welcome.cell.len < sizeof p->r->cell - 1 ? m.welcome.cell.len
								       : sizeof p->r->cell - 1;
		memcpy(p->r->cell, m.welcome.cell.ptr, n);
		p->r->cell[n] = '\0';
		p->r->id = m.welcome.replica_id;
	} else if (m.kind == PROTO_KIND_RES) {
		if (m.res.status != CHUBBY_OK) {
			snprintf(err, sizeof err, "%s: %.*s", chubby_status_name(m.res.status),
			    (int)m.res.message.len, m.res.message.ptr ? m.res.message.ptr : "");
			probe_finish(p, m.res.status, err);
		} else if (m.res.result == NULL || m.res.result->type != MSGPACK_OBJECT_MAP) {
			probe_finish(p, CHUBBY_E_MALFORMED, "STATUS result is not a map");
		} else {
			const msgpack_object *r = m.res.result;
			p->r->reachable = 1;
			p->r->rtt_ms = clock_mono_ms() - p->started;
			probe_copy_str(r, "role", p->r->role, sizeof p->r->role);
			probe_copy_str(r, "version", p->r->version, sizeof p->r->version);
			probe_get_uint(r, "id", &p->r->id);
			probe_get_uint(r, "uptime_ms", &p->r->uptime_ms);
			probe_get_uint(r, "clients", &p->r->clients);
			p->r->has_epoch = probe_get_uint(r, "epoch", &p->r->epoch);
			p->r->has_master = probe_get_uint(r, "master", &p->r->master);
			p->r->has_applied = probe_get_uint(r, "applied", &p->r->applied);
			p->r->has_committed = probe_get_uint(r, "committed", &p->r->committed);
			p->r->has_digest = probe_get_uint(r, "digest", &p->r->digest);
			p->r->has_state_digest =
			    probe_get_uint(r, "state_digest", &p->r->state_digest);
			p->r->has_checks = probe_get_uint(r, "checks", &p->r->checks);
			p->r->has_loop_lag =
			    probe_get_uint(r, "loop_lag_max_ms", &p->r->loop_lag_max_ms);
			p->r->has_lease = probe_get_uint(r, "lease_ms", &p->r->lease_ms);
			{
				const msgpack_object *sl = mp_map_get(r, "session_lease");
				p->r->has_session_lease = sl != NULL &&
				    sl->type == MSGPACK_OBJECT_MAP &&
				    probe_get_uint(sl, "granted_ms", &p->r->sl_granted_ms) &&
				    probe_get_uint(sl, "cap_ms", &p->r->sl_cap_ms) &&
				    probe_get_uint(sl, "load_pct", &p->r->sl_load_pct);
				if (p->r->has_session_lease) {
					probe_copy_str(sl, "driver", p->r->sl_driver,
					    sizeof p->r->sl_driver);
					(void)probe_get_uint(sl, "starts_per_s",
					    &p->r->sl_starts_per_s);
				}
			}
			{
				const msgpack_object *ms = mp_map_get(r, "mirrors");
				p->r->nmirrors = 0;
				for (uint32_t k = 0; ms != NULL && ms->type == MSGPACK_OBJECT_ARRAY &&
				     k < ms->via.array.size && k < 8; k++) {
					const msgpack_object *o = &ms->via.array.ptr[k];
					struct probe_mirror *pm = &p->r->mirrors[p->r->nmirrors];
					if (o->type != MSGPACK_OBJECT_MAP)
						continue;
					memset(pm, 0, sizeof *pm);
					probe_copy_str(o, "name", pm->name, sizeof pm->name);
					probe_copy_str(o, "state", pm->state, sizeof pm->state);
					probe_copy_str(o, "from", pm->from, sizeof pm->from);
					probe_copy_str(o, "to", pm->to, sizeof pm->to);
					probe_copy_str(o, "last_error", pm->last_error,
					    sizeof pm->last_error);
					probe_get_uint(o, "lag_ms", &pm->lag_ms);
					probe_get_uint(o, "last_sync_ms", &pm->last_sync_ms);
					probe_get_uint(o, "syncs", &pm->syncs);
					probe_get_uint(o, "nodes", &pm->nodes);
					p->r->nmirrors++;
				}
			}
			{
				bool v = false;
				p->r->has_voter = mp_map_get(r, "voter") != NULL &&
				    mp_get_bool(r, "voter", MP_REQUIRED, &v, err, sizeof err) == CHUBBY_OK;
				p->r->voter = v;
			}
			probe_finish(p, CHUBBY_OK, NULL);
		}
	}
	wire_msg_free(&m);
}

static void
probe_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct probe *p = arg;

	(void)c;
	probe_finish(p, status, reason);
}

static const struct conn_callbacks probe_cb = {
    .on_open = probe_on_open,
    .on_frame = probe_on_frame,
    .on_close = probe_on_close,
};

static void
probe_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
probe_cell(const struct cellspec *spec, unsigned timeout_ms, bool state_digest,
    struct probe_result *results, char *err, size_t errlen)
{
	struct tls_config tc = {
	    .ca_file = spec->ca, .cert_file = spec->cert, .key_file = spec->key, .role = TLS_ROLE_CLIENT,
	    .crl_file = spec->crl};
	struct probe_all all;
	struct probe *probes;
	struct tls_ctx *tls;
	struct event *deadline;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	tls = tls_ctx_new(&tc, err, errlen);
	if (tls == NULL)
		return CHUBBY_E_TLS;
	memset(&all, 0, sizeof all);
	all.state_digest = state_digest;
	all.base = tp_event_base_new();
	all.tp = tp_tls_new(tls);
	probes = calloc(spec->naddrs, sizeof *probes);
	if (all.base == NULL || all.tp == NULL || probes == NULL) {
		snprintf(err, errlen, "out of memory");
		return CHUBBY_E_NOMEM;
	}
	for (size_t i = 0; i < spec->naddrs; i++) {
		struct probe *p = &probes[i];
		struct sockaddr_storage ss;
		struct bufferevent *bev;
		int sslen;

		p->r = &results[i];
		p->all = &all;
		memset(p->r, 0, sizeof *p->r);
		snprintf(p->r->addr, sizeof p->r->addr, "%s", spec->addrs[i]);
		p->r->config_id = spec->ids[i];
		all.pending++;
		p->started = clock_mono_ms();
		if (net_resolve(spec->addrs[i], &ss, &sslen, p->r->error, sizeof p->r->error) !=
		    CHUBBY_OK) {
			probe_finish(p, CHUBBY_E_UNAVAILABLE, NULL);
			continue;
		}
		bev = tp_connect(all.tp, all.base, (struct sockaddr *)&ss, sslen, NULL, 0);
		if (bev == NULL) {
			probe_finish(p, CHUBBY_E_CONN, "cannot connect");
			continue;
		}
		p->conn = conn_new(all.tp, bev, 0, FRAME_MAX_DEFAULT, &probe_cb, p);
		if (p->conn == NULL)
			probe_finish(p, CHUBBY_E_NOMEM, "out of memory");
	}
	deadline = evtimer_new(all.base, probe_deadline, all.base);
	evtimer_add(deadline, &tv);
	if (all.pending > 0)
		event_base_dispatch(all.base);
	for (size_t i = 0; i < spec->naddrs; i++)
		if (!probes[i].done) {
			probes[i].all->pending++; /* finish decrements; nothing waits now */
			probe_finish(&probes[i], CHUBBY_E_TIMEOUT, "no answer before the deadline");
		}
	event_free(deadline);
	free(probes);
	tp_event_base_free(all.base); /* releases the probes' bufferevents (tp.h) */
	tp_free(all.tp);
	tls_ctx_free(tls);
	return CHUBBY_OK;
}
