/* session.c: the master's sessions: leases, KeepAlives, expiry, events,
 * cache invalidation, the fail-over hold and ACQUIREs that wait. */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "log.h"
#include "mp.h"
#include "ns/ns.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "seqtoken.h"
#include "session/session.h"
#include "xmalloc.h"

#define SM_BUCKETS 1024
/* A held KeepAlive is answered this long before the lease it protects
 * ends, so the reply has time to arrive (docs/PROTOCOL.md). */
#define SM_HOLD_MARGIN_MS 1000
/* Session leases and held KeepAlives are looked at this often. */
#define SM_SCAN_MS 50
/* Waiters are re-examined at least this often: a lock-delay ends without
 * any command being applied. */
#define SM_WAITER_SCAN_MS 100

struct sev {
	uint32_t type; /* NS_EV_* bit */
	uint64_t handle;
	char *path;
};

struct sinv {
	uint64_t id;
	char *path;
	bool sent;
};

struct msess {
	uint64_t id;
	char *principal;
	uint64_t lease_end; /* monotonic ms */
	bool checked_in;    /* sent a KeepAlive in this epoch */
	bool ending;        /* its SESSION_END is proposed */
	struct rpc_req *ka; /* the held KeepAlive */
	uint64_t ka_arrived, ka_deadline;
	struct sev *ev;
	size_t nev, evcap;
	struct sinv *inv;
	size_t ninv, invcap;
	struct msess *next;
};

struct cacher {
	char *path;
	uint64_t session;
	struct cacher *next;
};

struct gate {
	struct session_mgr *sm;
	uint64_t id;
	char *path;
	uint8_t *cmd;
	size_t len;
	replica_done_fn done;
	void *arg;
	bool sent_invals;
	bool proposed; /* from then on the replica owns the callback */
	struct gate *next;
};

struct waiter {
	struct session_mgr *sm;
	uint64_t session, handle;
	int mode;
	uint64_t deadline; /* monotonic ms; 0: none */
	bool wait;         /* false: TRY_ACQUIRE */
	bool in_flight;    /* its ACQUIRE is proposed */
	bool orphan;       /* answered already; freed when the proposal returns */
	struct rpc_req *q;
	struct waiter *next;
};

struct session_mgr {
	struct chubbyd *d;
	bool active;
	uint64_t epoch;
	struct msess *sess[SM_BUCKETS];
	size_t nsess;
	struct cacher *cache[SM_BUCKETS];
	struct gate *gates;
	struct waiter *waiters;
	bool kick;
	uint64_t next_inval;
	uint64_t last_scan, last_waiter_scan;
	struct session_stats st;
};

static void sm_gates_advance(struct session_mgr *sm);
static void sm_waiters_kick(struct session_mgr *sm);

static size_t
sm_hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (size_t)(v % SM_BUCKETS);
}

static size_t
sm_hash_str(const char *s)
{
	return (size_t)(ns_fnv1a(NS_FNV_INIT, s, strlen(s)) % SM_BUCKETS);
}

static const struct ns *
sm_ns(const struct session_mgr *sm)
{
	return replica_ns(sm->d->replica);
}

/* --- the session table ----------------------------------------------------- */

static struct msess *
sm_find(const struct session_mgr *sm, uint64_t id)
{
	for (struct msess *s = sm->sess[sm_hash_u64(id)]; s != NULL; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static struct msess *
sm_add(struct session_mgr *sm, uint64_t id, const char *principal, uint64_t now)
{
	struct msess *s = sm_find(sm, id);
	size_t b;

	if (s != NULL)
		return s;
	s = xcalloc(1, sizeof *s);
	s->id = id;
	s->principal = xstrdup(principal != NULL ? principal : "");
	s->lease_end = now + sm->d->cfg->session_lease_ms;
	b = sm_hash_u64(id);
	s->next = sm->sess[b];
	sm->sess[b] = s;
	sm->nsess++;
	return s;
}

static void
sm_clear_events(struct msess *s)
{
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].path);
	s->nev = 0;
}

static void
sm_sess_free(struct msess *s)
{
	sm_clear_events(s);
	free(s->ev);
	for (size_t i = 0; i < s->ninv; i++)
		free(s->inv[i].path);
	free(s->inv);
	free(s->principal);
	free(s);
}

/* Answers the held KeepAlive of S with its events and invalidations, and
 * extends the lease from now. */
static void
sm_ka_reply(struct session_mgr *sm, struct msess *s)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t now = clock_mono_ms(), lease = sm->d->cfg->session_lease_ms;
	size_t i;

	if (s->ka == NULL)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	mp_pack_kv_uint(&pk, "epoch", sm->epoch);
	mp_pack_kv_uint(&pk, "lease_ms", lease);
	mp_pack_kv_uint(&pk, "held_ms", now - s->ka_arrived);
	mp_pack_str(&pk, "events");
	msgpack_pack_array(&pk, s->nev);
	for (i = 0; i < s->nev; i++) {
		unsigned type = 0;
		/* NS_EV_* bits to protocol event numbers: bit k is type k+1. */
		while ((1u << type) != s->ev[i].type && type < 31)
			type++;
		msgpack_pack_map(&pk, 3);
		mp_pack_kv_uint(&pk, "type", type + 1);
		mp_pack_kv_uint(&pk, "handle", s->ev[i].handle);
		mp_pack_kv_str(&pk, "path", s->ev[i].path);
	}
	mp_pack_str(&pk, "invalidate");
	msgpack_pack_array(&pk, s->ninv);
	for (i = 0; i < s->ninv; i++) {
		msgpack_pack_map(&pk, 2);
		mp_pack_kv_uint(&pk, "id", s->inv[i].id);
		mp_pack_kv_str(&pk, "path", s->inv[i].path);
		s->inv[i].sent = true;
	}
	rpc_req_reply(s->ka, CHUBBY_OK, NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	s->ka = NULL;
	sm_clear_events(s);
	/* The lease runs from the reply: the client counts its own from when
	 * it sent the request, which is earlier, so ours ends later. */
	s->lease_end = now + lease;
	sm->st.keepalives++;
}

static bool
sm_has_unsent(const struct msess *s)
{
	if (s->nev > 0)
		return true;
	for (size_t i = 0; i < s->ninv; i++)
		if (!s->inv[i].sent)
			return true;
	return false;
}

static void
sm_fail_waiter(struct session_mgr *sm, struct waiter **wp, int status, const char *msg);

/* Forgets session ID (ended or expired through the log, or at step-down). */
static void
sm_remove(struct session_mgr *sm, uint64_t id, int status, const char *why)
{
	struct msess **sp = &sm->sess[sm_hash_u64(id)];

	while (*sp != NULL && (*sp)->id != id)
		sp = &(*sp)->next;
	if (*sp != NULL) {
		struct msess *s = *sp;
		*sp = s->next;
		sm->nsess--;
		if (s->ka != NULL)
			rpc_req_reply(s->ka, status, why, NULL, 0);
		sm_sess_free(s);
	}
	for (struct waiter **wp = &sm->waiters; *wp != NULL;) {
		if ((*wp)->session == id)
			sm_fail_waiter(sm, wp, status, why);
		else
			wp = &(*wp)->next;
	}
}

/* --- taking over and stepping down -------------------------------------- */

static void
sm_cache_clear(struct session_mgr *sm)
{
	for (size_t b = 0; b < SM_BUCKETS; b++) {
		while (sm->cache[b] != NULL) {
			struct cacher *c = sm->cache[b];
			sm->cache[b] = c->next;
			free(c->path);
			free(c);
		}
	}
}

static void
sm_step_down(struct session_mgr *sm)
{
	const char *why = "this replica is no longer the master; retry at the new master";

	for (size_t b = 0; b < SM_BUCKETS; b++) {
		while (sm->sess[b] != NULL) {
			struct msess *s = sm->sess[b];
			sm->sess[b] = s->next;
			if (s->ka != NULL)
				rpc_req_reply(s->ka, CHUBBY_E_NOT_MASTER, why, NULL, 0);
			sm_sess_free(s);
		}
	}
	sm->nsess = 0;
	while (sm->waiters != NULL)
		sm_fail_waiter(sm, &sm->waiters, CHUBBY_E_NOT_MASTER, why);
	/* Writes not yet proposed fail; proposed ones are the replica's and
	 * fail through it. */
	for (struct gate **gp = &sm->gates; *gp != NULL;) {
		struct gate *g = *gp;
		if (g->proposed) {
			gp = &g->next;
			continue;
		}
		*gp = g->next;
		g->done(CHUBBY_E_NOT_MASTER, NULL, g->arg);
		free(g->path);
		free(g->cmd);
		free(g);
	}
	sm->active = false;
	log_info("sessions: stepped down");
}

/* A new master's view (Chubby §2.9): every session in the state gets a
 * full lease from now, as long as the old master could have granted, and
 * is held to the fail-over rules until it sends a KeepAlive. */
static void
sm_take_over(struct session_mgr *sm, uint64_t epoch)
{
	const struct ns *ns = sm_ns(sm);
	uint64_t now = clock_mono_ms();
	size_t n = ns_session_count(ns);

	if (epoch != sm->epoch)
		/* Clients flush their caches when they learn of the new epoch;
		 * the same epoch again (a lease regained) keeps what they cache. */
		sm_cache_clear(sm);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = ns_session_id(ns, i);
		struct msess *s = sm_add(sm, id, ns_session_principal(ns, id), now);
		s->checked_in = false;
	}
	sm->active = true;
	sm->epoch = epoch;
	sm->kick = true;
	log_info("sessions: master in epoch %" PRIu64 " with %zu sessions; each has %" PRIu64
		 " ms to send a KeepAlive",
	    epoch, n, sm->d->cfg->session_lease_ms);
}

bool
session_serving(struct session_mgr *sm)
{
	struct replica *r = sm->d->replica;

	if (r == NULL || !replica_is_master(r)) {
		if (sm->active)
			sm_step_down(sm);
		return false;
	}
	if (sm->active && sm->epoch != replica_epoch(r))
		sm_step_down(sm);
	if (!sm->active)
		sm_take_over(sm, replica_epoch(r));
	return true;
}

/* --- checks -------------------------------------------------------------- */

int
session_check(struct session_mgr *sm, uint64_t session, uint64_t epoch, const char *principal,
    char *msg, size_t msglen)
{
	struct msess *s;

	if (!session_serving(sm))
		return CHUBBY_E_NOT_MASTER;
	if (epoch != sm->epoch) {
		snprintf(msg, msglen, "request for epoch %" PRIu64 "; the master's epoch is %" PRIu64,
		    epoch, sm->epoch);
		return CHUBBY_E_BAD_EPOCH;
	}
	if ((s = sm_find(sm, session)) == NULL || s->ending) {
		snprintf(msg, msglen, "session %" PRIu64 " does not exist (expired or ended)",
		    session);
		return CHUBBY_E_SESSION_EXPIRED;
	}
	if (principal == NULL || strcmp(principal, s->principal) != 0) {
		snprintf(msg, msglen, "session %" PRIu64 " belongs to another principal", session);
		return CHUBBY_E_PERMISSION;
	}
	return CHUBBY_OK;
}

/* --- KeepAlives ------------------------------------------------------------ */

static void
sm_ack(struct session_mgr *sm, struct msess *s, const uint64_t *acks, size_t nacks)
{
	size_t i, j, k = 0;
	bool any = false;

	for (i = 0; i < s->ninv; i++) {
		bool acked = false;
		for (j = 0; j < nacks && !acked; j++)
			acked = acks[j] == s->inv[i].id;
		if (acked) {
			free(s->inv[i].path);
			any = true;
		} else {
			s->inv[k++] = s->inv[i];
		}
	}
	s->ninv = k;
	if (any)
		sm_gates_advance(sm);
}

void
session_keepalive(struct session_mgr *sm, uint64_t session, uint64_t hold_ms,
    const uint64_t *acks, size_t nacks, struct rpc_req *q)
{
	struct msess *s = sm_find(sm, session);
	uint64_t now = clock_mono_ms(), left, hold;
	bool was_checked_in;

	if (s == NULL) {
		rpc_req_reply(q, CHUBBY_E_SESSION_EXPIRED, "session expired", NULL, 0);
		return;
	}
	was_checked_in = s->checked_in;
	s->checked_in = true;
	if (s->ka != NULL)
		sm_ka_reply(sm, s); /* a newer KeepAlive answers the older at once */
	sm_ack(sm, s, acks, nacks);
	if (!was_checked_in)
		sm_gates_advance(sm);
	left = s->lease_end > now ? s->lease_end - now : 0;
	hold = left > SM_HOLD_MARGIN_MS ? left - SM_HOLD_MARGIN_MS : 0;
	if (hold_ms < hold)
		hold = hold_ms;
	s->ka = q;
	s->ka_arrived = now;
	s->ka_deadline = now + hold;
	if (hold == 0 || sm_has_unsent(s))
		sm_ka_reply(sm, s);
}

/* --- writes, invalidations, the fail-over hold ------------------------- */

/* While a new master waits for sessions to come back (Chubby §2.9). */
static bool
sm_failover_hold(const struct session_mgr *sm, uint64_t now)
{
	for (size_t b = 0; b < SM_BUCKETS; b++)
		for (const struct msess *s = sm->sess[b]; s != NULL; s = s->next)
			if (!s->checked_in && !s->ending && s->lease_end > now)
				return true;
	return false;
}

static bool
sm_inval_outstanding(const struct session_mgr *sm, uint64_t id, uint64_t now)
{
	for (size_t b = 0; b < SM_BUCKETS; b++)
		for (const struct msess *s = sm->sess[b]; s != NULL; s = s->next) {
			if (s->lease_end <= now)
				continue; /* its cache is no longer trusted by its client */
			for (size_t i = 0; i < s->ninv; i++)
				if (s->inv[i].id == id)
					return true;
		}
	return false;
}

static void
sm_send_invals(struct session_mgr *sm, struct gate *g)
{
	struct cacher **cp = &sm->cache[sm_hash_str(g->path)];

	while (*cp != NULL) {
		struct cacher *c = *cp;
		struct msess *s;
		if (strcmp(c->path, g->path) != 0) {
			cp = &c->next;
			continue;
		}
		*cp = c->next;
		if ((s = sm_find(sm, c->session)) != NULL) {
			if (s->ninv == s->invcap) {
				s->invcap = s->invcap ? 2 * s->invcap : 4;
				s->inv = xreallocarray(s->inv, s->invcap, sizeof *s->inv);
			}
			s->inv[s->ninv].id = g->id;
			s->inv[s->ninv].path = xstrdup(g->path);
			s->inv[s->ninv].sent = false;
			s->ninv++;
			sm->st.invalidations++;
			if (s->ka != NULL)
				sm_ka_reply(sm, s);
		}
		free(c->path);
		free(c);
	}
	g->sent_invals = true;
}

static void
sm_gate_done(int status, const struct ns_result *res, void *arg)
{
	struct gate *g = arg;
	struct session_mgr *sm = g->sm;

	for (struct gate **gp = &sm->gates; *gp != NULL; gp = &(*gp)->next)
		if (*gp == g) {
			*gp = g->next;
			break;
		}
	g->done(status, res, g->arg);
	free(g->path);
	free(g->cmd);
	free(g);
}

static void
sm_gates_advance(struct session_mgr *sm)
{
	uint64_t now = clock_mono_ms();
	struct gate *g, *next;

	if (sm->gates == NULL || !sm->active)
		return;
	if (sm_failover_hold(sm, now))
		return;
	for (g = sm->gates; g != NULL; g = next) {
		int rc;
		next = g->next;
		if (g->proposed)
			continue;
		if (!g->sent_invals)
			sm_send_invals(sm, g);
		if (sm_inval_outstanding(sm, g->id, now))
			continue;
		g->proposed = true;
		rc = replica_submit(sm->d->replica, g->cmd, g->len, sm_gate_done, g);
		if (rc != CHUBBY_OK)
			sm_gate_done(rc, NULL, g);
	}
}

void
session_write(struct session_mgr *sm, enum session_write_kind kind, const char *path,
    const uint8_t *cmd, size_t len, replica_done_fn done, void *arg)
{
	struct gate *g, **tail;
	int rc;

	if (kind == SESSION_WRITE_PLAIN || path == NULL) {
		rc = replica_submit(sm->d->replica, cmd, len, done, arg);
		if (rc != CHUBBY_OK)
			done(rc, NULL, arg);
		return;
	}
	g = xcalloc(1, sizeof *g);
	g->sm = sm;
	g->id = ++sm->next_inval;
	g->path = xstrdup(path);
	g->cmd = xmemdup(cmd, len);
	g->len = len;
	g->done = done;
	g->arg = arg;
	/* In arrival order: writes to one node commit in the order they came. */
	for (tail = &sm->gates; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = g;
	sm_gates_advance(sm);
}

bool
session_cache_note(struct session_mgr *sm, uint64_t session, const char *path)
{
	size_t b = sm_hash_str(path);
	struct cacher *c;

	for (struct gate *g = sm->gates; g != NULL; g = g->next)
		if (strcmp(g->path, path) == 0)
			return false;
	for (c = sm->cache[b]; c != NULL; c = c->next)
		if (c->session == session && strcmp(c->path, path) == 0)
			return true;
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->session = session;
	c->next = sm->cache[b];
	sm->cache[b] = c;
	return true;
}

/* --- locks that wait ------------------------------------------------------ */

int
session_pack_grant(struct session_mgr *sm, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *outlen)
{
	struct ns_result res;
	struct seqtoken t;
	uint8_t *tok = NULL;
	size_t toklen = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	ns_result_init(&res);
	rc = ns_get_sequencer(sm_ns(sm), session, handle, &res);
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		return rc;
	}
	memset(&t, 0, sizeof t);
	snprintf(t.cell, sizeof t.cell, "%s", sm->d->cfg->cell);
	snprintf(t.path, sizeof t.path, "%s", res.seq.path);
	t.mode = res.seq.mode;
	t.lock_gen = res.seq.lock_gen;
	t.instance = res.seq.instance;
	rc = seqtoken_encode(sm->d->seq_key, sm->d->seq_key_len, &t, &tok, &toklen);
	if (rc != CHUBBY_OK) {
		ns_result_free(&res);
		return rc;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	mp_pack_kv_uint(&pk, "lock_gen", t.lock_gen);
	mp_pack_kv_bin(&pk, "sequencer", tok, toklen);
	mp_pack_kv_str(&pk, "path", t.path);
	mp_pack_kv_uint(&pk, "mode", (uint64_t)t.mode);
	mp_pack_kv_uint(&pk, "instance", t.instance);
	mp_pack_kv_uint(&pk, "session", session);
	free(tok);
	ns_result_free(&res);
	*out = (uint8_t *)sb.data; /* msgpack_sbuffer's buffer is malloc'd */
	*outlen = sb.size;
	return CHUBBY_OK;
}

static void
sm_waiter_unlink(struct session_mgr *sm, struct waiter *w)
{
	for (struct waiter **wp = &sm->waiters; *wp != NULL; wp = &(*wp)->next)
		if (*wp == w) {
			*wp = w->next;
			return;
		}
}

/* Answers *WP's request with STATUS and unlinks it; frees it unless its
 * proposal is still out (then its callback frees it). */
static void
sm_fail_waiter(struct session_mgr *sm, struct waiter **wp, int status, const char *msg)
{
	struct waiter *w = *wp;

	(void)sm;
	*wp = w->next;
	if (w->q != NULL)
		rpc_req_reply(w->q, status, msg, NULL, 0);
	w->q = NULL;
	if (w->in_flight)
		w->orphan = true;
	else
		free(w);
}

static void
sm_reply_delay(struct rpc_req *q, const struct ns_result *res)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_pack_kv_uint(&pk, "delay_until_ms", res->delay_until_ms);
	rpc_req_reply(q, CHUBBY_E_LOCK_DELAY, res->msg[0] ? res->msg : NULL, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void
sm_acquire_done(int status, const struct ns_result *res, void *arg)
{
	struct waiter *w = arg;
	struct session_mgr *sm = w->sm;
	uint8_t *out = NULL;
	size_t outlen = 0;

	w->in_flight = false;
	if (w->orphan) {
		free(w);
		return;
	}
	if (status == CHUBBY_OK) {
		int rc = session_pack_grant(sm, w->session, w->handle, &out, &outlen);
		sm_waiter_unlink(sm, w);
		if (rc == CHUBBY_OK)
			rpc_req_reply(w->q, CHUBBY_OK, NULL, out, outlen);
		else
			rpc_req_reply(w->q, rc, "lock granted but its sequencer cannot be made", NULL,
			    0);
		free(out);
		free(w);
		return;
	}
	if (w->wait && (status == CHUBBY_E_BUSY || status == CHUBBY_E_LOCK_DELAY)) {
		sm->kick = true; /* lost a race: wait on */
		return;
	}
	sm_waiter_unlink(sm, w);
	if (status == CHUBBY_E_LOCK_DELAY && res != NULL)
		sm_reply_delay(w->q, res);
	else
		rpc_req_reply(w->q, status, res != NULL && res->msg[0] ? res->msg : NULL, NULL, 0);
	free(w);
}

static void
sm_propose_acquire(struct session_mgr *sm, struct waiter *w)
{
	uint8_t *cmd = NULL;
	size_t len = 0;
	int rc;

	rc = ns_encode_acquire(clock_real_ms(), w->session, w->handle, w->mode, &cmd, &len);
	if (rc != CHUBBY_OK) {
		sm_acquire_done(rc, NULL, w);
		return;
	}
	w->in_flight = true;
	rc = replica_submit(sm->d->replica, cmd, len, sm_acquire_done, w);
	free(cmd);
	if (rc != CHUBBY_OK) {
		w->wait = false; /* no point waiting at a replica that cannot propose */
		sm_acquire_done(rc, NULL, w);
	}
}

/* Proposes ACQUIRE for every waiter whose lock looks free, in arrival
 * order: a waiter that must wait blocks later ones for the same lock, so
 * a writer is not starved by a stream of readers. */
static void
sm_waiters_kick(struct session_mgr *sm)
{
	const struct ns *ns = sm_ns(sm);
	/* Copies: a proposal may apply at once (a one-replica cell) and
	 * change the namespace the names point into. */
	char *blocked[64];
	size_t nblocked = 0;
	uint64_t now_real = clock_real_ms();
	struct ns_result res;
	struct waiter *w, *next;

	sm->kick = false;
	ns_result_init(&res);
	for (w = sm->waiters; w != NULL; w = next) {
		const char *path;
		bool grantable, is_blocked = false;
		int held = 0;

		next = w->next;
		path = ns_handle_path(ns, w->session, w->handle, &held);
		if (w->in_flight) {
			if (path != NULL && nblocked < 64)
				blocked[nblocked++] = xstrdup(path);
			continue;
		}
		if (ns_get_stat(ns, w->session, w->handle, &res) != CHUBBY_OK || path == NULL) {
			/* The handle or its node went: tell the waiter why. */
			struct waiter **wp = &sm->waiters;
			while (*wp != w)
				wp = &(*wp)->next;
			sm_fail_waiter(sm, wp, res.status != CHUBBY_OK ? res.status : CHUBBY_E_BAD_HANDLE,
			    res.msg[0] ? res.msg : "the handle is gone");
			continue;
		}
		if (held != NS_LOCK_NONE && held != w->mode) {
			/* It would wait for itself: the namespace refuses a change of
			 * mode; say so now rather than at the timeout. */
			struct waiter **wp = &sm->waiters;
			while (*wp != w)
				wp = &(*wp)->next;
			sm_fail_waiter(sm, wp, CHUBBY_E_BUSY,
			    "the handle holds the lock in the other mode; release it first");
			continue;
		}
		for (size_t i = 0; i < nblocked && !is_blocked; i++)
			is_blocked = strcmp(blocked[i], path) == 0;
		grantable = !is_blocked && (held != 0 ||
		    (w->mode == NS_LOCK_EXCLUSIVE ? res.stat.lock_mode == NS_LOCK_NONE
						  : res.stat.lock_mode != NS_LOCK_EXCLUSIVE)) &&
		    res.stat.lock_delay_until_ms <= now_real;
		if (grantable || !w->wait)
			sm_propose_acquire(sm, w);
		else if (nblocked < 64)
			blocked[nblocked++] = xstrdup(path);
	}
	ns_result_free(&res);
	while (nblocked > 0)
		free(blocked[--nblocked]);
}

void
session_acquire(struct session_mgr *sm, uint64_t session, uint64_t handle, int mode,
    uint64_t timeout_ms, bool wait, struct rpc_req *q)
{
	struct waiter *w = xcalloc(1, sizeof *w), **tail;

	w->sm = sm;
	w->session = session;
	w->handle = handle;
	w->mode = mode;
	w->wait = wait;
	w->q = q;
	w->deadline = wait && timeout_ms > 0 ? clock_mono_ms() + timeout_ms : 0;
	const char *path = ns_handle_path(sm_ns(sm), session, handle, NULL);
	bool queued_before = false;

	for (tail = &sm->waiters; *tail != NULL; tail = &(*tail)->next) {
		const char *p = ns_handle_path(sm_ns(sm), (*tail)->session, (*tail)->handle, NULL);
		if (path != NULL && p != NULL && strcmp(p, path) == 0)
			queued_before = true;
	}
	*tail = w;
	/* A TRY_ACQUIRE, or the first waiter for its lock, is proposed at once:
	 * granted if free, else refused (and waiting) with conflicting-lock
	 * events to the holders, as Chubby tells holders that others want the
	 * lock.  Later waiters for a lock wait their turn. */
	if (!wait || !queued_before) {
		sm_propose_acquire(sm, w);
		return;
	}
	sm_waiters_kick(sm);
}

/* --- from the replica ----------------------------------------------------- */

static void
sm_expire_done(int status, const struct ns_result *res, void *arg)
{
	(void)res;
	if (status != CHUBBY_OK && status != CHUBBY_E_NOT_MASTER)
		log_warn("session %" PRIu64 ": its expiry was refused: %s", (uint64_t)(uintptr_t)arg,
		    chubby_strerror(status));
}

static void
sm_expire(struct session_mgr *sm, struct msess *s)
{
	uint8_t *cmd = NULL;
	size_t len = 0;

	s->ending = true;
	sm->st.expired++;
	log_info("session %" PRIu64 " (%s): lease ended without a KeepAlive; expiring it", s->id,
	    s->principal);
	if (ns_encode_session_end(clock_real_ms(), 0, s->id, NS_END_EXPIRED, &cmd, &len) !=
	    CHUBBY_OK)
		return;
	/* Its end is applied like any write; session_applied forgets it. */
	if (replica_submit(sm->d->replica, cmd, len, sm_expire_done, (void *)(uintptr_t)s->id) !=
	    CHUBBY_OK)
		s->ending = false; /* tried again on the next scan */
	free(cmd);
}

static void
sm_scan(struct session_mgr *sm, uint64_t now)
{
	for (size_t b = 0; b < SM_BUCKETS; b++) {
		for (struct msess *s = sm->sess[b]; s != NULL; s = s->next) {
			if (s->ka != NULL && now >= s->ka_deadline)
				sm_ka_reply(sm, s);
			else if (s->ka == NULL && !s->ending && now >= s->lease_end)
				sm_expire(sm, s);
		}
	}
}

void
session_tick(struct session_mgr *sm)
{
	uint64_t now = clock_mono_ms();

	if (!session_serving(sm))
		return;
	if (now - sm->last_scan >= SM_SCAN_MS) {
		sm->last_scan = now;
		sm_scan(sm, now);
		sm_gates_advance(sm);
	}
	/* Waiters whose time is up. */
	for (struct waiter **wp = &sm->waiters; *wp != NULL;) {
		struct waiter *w = *wp;
		if (w->deadline != 0 && now >= w->deadline && !w->in_flight)
			sm_fail_waiter(sm, wp, CHUBBY_E_TIMEOUT, "the lock was not granted in time");
		else
			wp = &w->next;
	}
	if (sm->waiters != NULL &&
	    (sm->kick || now - sm->last_waiter_scan >= SM_WAITER_SCAN_MS)) {
		sm->last_waiter_scan = now;
		sm_waiters_kick(sm);
	}
}

/* The first fields of a namespace command: type, and for SESSION_END its
 * target. */
static void
sm_peek(const uint8_t *cmd, size_t len, uint64_t *type, uint64_t *target)
{
	msgpack_unpacked u;
	size_t off = 0;

	*type = *target = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)cmd, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 4) {
		const msgpack_object *o = u.data.via.array.ptr;
		if (o[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*type = o[0].via.u64;
		if (o[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*target = o[3].via.u64;
	}
	msgpack_unpacked_destroy(&u);
}

void
session_applied(struct session_mgr *sm, const uint8_t *cmd, size_t len,
    const struct ns_result *res)
{
	uint64_t type, target, now;

	if (sm == NULL || !sm->active)
		return;
	now = clock_mono_ms();
	sm_peek(cmd, len, &type, &target);
	if (res->status == CHUBBY_OK && type == NS_CMD_SESSION_START)
		sm_add(sm, res->session, ns_session_principal(sm_ns(sm), res->session), now)
		    ->checked_in = true;
	else if (res->status == CHUBBY_OK && type == NS_CMD_SESSION_END)
		sm_remove(sm, target, CHUBBY_E_SESSION_EXPIRED, "the session has ended");
	for (size_t i = 0; i < res->nevents; i++) {
		const struct ns_event *e = &res->events[i];
		struct msess *s = sm_find(sm, e->session);
		if (s == NULL)
			continue;
		if (s->nev == s->evcap) {
			s->evcap = s->evcap ? 2 * s->evcap : 8;
			s->ev = xreallocarray(s->ev, s->evcap, sizeof *s->ev);
		}
		s->ev[s->nev].type = e->type;
		s->ev[s->nev].handle = e->handle;
		s->ev[s->nev].path = xstrdup(e->path);
		s->nev++;
		if (s->ka != NULL)
			sm_ka_reply(sm, s);
	}
	/* Any command may free a lock or end a handle a waiter needs. */
	if (sm->waiters != NULL)
		sm->kick = true;
}

void
session_state_replaced(struct session_mgr *sm)
{
	/* Only a replica that is not master installs a snapshot; if it was
	 * master, its table is stale now. */
	if (sm != NULL && sm->active)
		sm_step_down(sm);
}

/* --- admin ---------------------------------------------------------------- */

void
session_pack_sessions(struct session_mgr *sm, msgpack_packer *pk)
{
	const struct ns *ns = sm_ns(sm);
	size_t n = ns_session_count(ns);
	uint64_t now = clock_mono_ms();

	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = ns_session_id(ns, i);
		struct msess *s = sm_find(sm, id);
		size_t nh = ns_session_handles(ns, id, NULL, 0);
		uint64_t *ids = xcalloc(nh + 1, sizeof *ids);
		size_t nlocks = 0;

		ns_session_handles(ns, id, ids, nh);
		for (size_t k = 0; k < nh; k++) {
			int held = 0;
			if (ns_handle_path(ns, id, ids[k], &held) != NULL && held != 0)
				ids[nlocks++] = ids[k];
		}
		msgpack_pack_map(pk, 6);
		mp_pack_kv_uint(pk, "session", id);
		mp_pack_kv_str(pk, "principal", ns_session_principal(ns, id));
		mp_pack_kv_uint(pk, "lease_ms", s != NULL && s->lease_end > now ? s->lease_end - now : 0);
		mp_pack_kv_bool(pk, "checked_in", s != NULL && s->checked_in);
		mp_pack_kv_uint(pk, "handles", nh);
		mp_pack_str(pk, "locks");
		msgpack_pack_array(pk, nlocks);
		for (size_t k = 0; k < nlocks; k++) {
			int held = 0;
			const char *p = ns_handle_path(ns, id, ids[k], &held);
			msgpack_pack_map(pk, 2);
			mp_pack_kv_str(pk, "path", p);
			mp_pack_kv_uint(pk, "mode", (uint64_t)held);
		}
		free(ids);
	}
}

void
session_pack_locks(struct session_mgr *sm, msgpack_packer *pk)
{
	const struct ns *ns = sm_ns(sm);
	size_t n = ns_session_count(ns), count = 0, pass;

	/* Two passes: count, then pack (msgpack wants the length first). */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			msgpack_pack_array(pk, count);
		for (size_t i = 0; i < n; i++) {
			uint64_t id = ns_session_id(ns, i);
			size_t nh = ns_session_handles(ns, id, NULL, 0);
			uint64_t *ids = xcalloc(nh + 1, sizeof *ids);

			ns_session_handles(ns, id, ids, nh);
			for (size_t k = 0; k < nh; k++) {
				int held = 0;
				const char *p = ns_handle_path(ns, id, ids[k], &held);
				size_t waiters = 0;
				if (p == NULL || held == 0)
					continue;
				if (pass == 0) {
					count++;
					continue;
				}
				for (struct waiter *w = sm->waiters; w != NULL; w = w->next) {
					const char *wpath = ns_handle_path(ns, w->session, w->handle, NULL);
					if (wpath != NULL && strcmp(wpath, p) == 0)
						waiters++;
				}
				msgpack_pack_map(pk, 5);
				mp_pack_kv_str(pk, "path", p);
				mp_pack_kv_uint(pk, "mode", (uint64_t)held);
				mp_pack_kv_uint(pk, "session", id);
				mp_pack_kv_uint(pk, "handle", ids[k]);
				mp_pack_kv_uint(pk, "waiters", waiters);
			}
			free(ids);
		}
	}
}

void
session_stats(const struct session_mgr *sm, struct session_stats *out)
{
	*out = sm->st;
	out->sessions = sm->nsess;
	out->held_keepalives = out->waiters = out->gated_writes = 0;
	for (size_t b = 0; b < SM_BUCKETS; b++)
		for (const struct msess *s = sm->sess[b]; s != NULL; s = s->next)
			out->held_keepalives += s->ka != NULL;
	for (const struct waiter *w = sm->waiters; w != NULL; w = w->next)
		out->waiters++;
	for (const struct gate *g = sm->gates; g != NULL; g = g->next)
		out->gated_writes++;
}

/* --- set-up ---------------------------------------------------------------- */

struct session_mgr *
session_new(struct chubbyd *d)
{
	struct session_mgr *sm = xcalloc(1, sizeof *sm);

	sm->d = d;
	return sm;
}

void
session_free(struct session_mgr *sm)
{
	if (sm == NULL)
		return;
	if (sm->active)
		sm_step_down(sm);
	sm_cache_clear(sm);
	/* Proposed gates belong to the replica, freed before us. */
	free(sm);
}
