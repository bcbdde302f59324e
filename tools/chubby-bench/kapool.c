/*
 * kapool.c: the keepalive workload.  N idle sessions, far more than one
 * process could hold as libchubby clients (one loop thread each), spoken
 * over a few raw TLS connections to the master: a session is not bound to
 * a connection (docs/PROTOCOL.md "Sessions"), so each connection carries the
 * SESSION_STARTs and then the KEEPALIVEs of many sessions.  Each session
 * keeps exactly one KEEPALIVE outstanding and asks the master to hold it as
 * libchubby does (docs/CLIENT.md "KeepAlives"), so the master sees the load
 * of N real, idle clients.  We report what that costs the master: its CPU
 * and resident memory, from /proc, per 1000 sessions.
 *
 * For a KeepAlive storm (BENCHMARKS.md "Session leases under load"): the
 * sessions start in a burst (a window of KA_WINDOW starts in flight) or at
 * a steady arrival rate (--arrival), and --timeline prints a row a second:
 * KeepAlives answered, how late past the hold asked they came (p50/p99),
 * replies that came after the client's lease had run out (it would be in
 * jeopardy), sessions the master expired, the leases granted, and the
 * master's and this process's CPU (the client, not the master, may be the
 * limit).  --keep and --tail then end all but some sessions and watch the
 * lease fall back as the load goes.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "bench.h"
#include "conn.h"
#include "frame.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"
#include "wire.h"

/* libchubby's defaults (docs/CLIENT.md): the lease counted from the send,
 * less drift and a margin; the hold leaves guard and slack. */
#define KA_DRIFT 0.001
#define KA_MARGIN 0.1
#define KA_GUARD 4.0
#define KA_SLACK 1.0
#define KA_WINDOW 256 /* SESSION_START / SESSION_END in flight */

enum { TAG_START = 1, TAG_KA = 2, TAG_END = 3 };
enum { S_NEW, S_STARTING, S_LIVE, S_ENDING, S_ENDED, S_LOST };

struct ksess {
	uint64_t id;
	double sent_at;   /* the request in flight */
	double lease_end; /* the client's lease end (0: none yet) */
	float hold;       /* the hold its KEEPALIVE asked (s) */
	unsigned char state;
};

/* One second of the timeline. */
struct ksec {
	uint64_t ka, started, late, expired;
	uint64_t lease_min, lease_max; /* granted in replies (0: none) */
	struct hist delay;             /* reply past the hold asked, us */
};

struct kconn {
	struct kpool *p;
	struct conn *conn;
	int open, closed;
	/* The epoch its server gave: proxies (--proxies) each show their own
	 * (docs/PROXY.md "Epochs"). */
	uint64_t epoch;
};

struct kpool {
	const struct bench_opts *o;
	struct event_base *base;
	struct tls_ctx *tls;
	struct tp *tp;
	struct kconn *c;
	unsigned nc;
	struct ksess *s;
	unsigned n;
	uint64_t epoch;
	struct wire_buf out;
	unsigned next_new, next_end; /* cursors for starting and ending */
	unsigned *retry, nretry;     /* refused starts (E_OVERLOAD) to send again */
	unsigned inflight;           /* starts or ends in flight */
	unsigned live, ended, lost;
	uint64_t ka_replies, errors;
	char first_err[160];
	int failed;
	int mode; /* 1: starting sessions, 2: ending them (replies refill the window) */
	unsigned end_to;             /* ending: stop at this many live */
	uint64_t expired;            /* E_SESSION_EXPIRED answers */
	uint64_t late;               /* replies after the client's lease end */
	double start_from;           /* the start phase began (arrival pacing) */
	uint64_t starts_sent;
	/* The timeline: this second's counts, when it began, and the CPU then. */
	pid_t mpid;
	const char *phase;
	struct ksec sec;
	double t0, sec_from, sec_cli;
	long long sec_mticks;
};

static double
kp_lease_end(double sent_at, uint64_t lease_ms)
{
	double g = (double)lease_ms / 1000.0;
	return sent_at + g - g * KA_DRIFT - KA_MARGIN;
}

static struct kconn *
kp_conn_of(struct kpool *p, unsigned i)
{
	return &p->c[i % p->nc];
}

static void
kp_error(struct kpool *p, const char *what, int status, const struct mp_str *msg)
{
	p->errors++;
	if (p->first_err[0] == '\0')
		snprintf(p->first_err, sizeof p->first_err, "%s: %s %.*s", what,
		    chubby_status_name(status), msg != NULL && msg->ptr != NULL ? (int)msg->len : 0,
		    msg != NULL && msg->ptr != NULL ? msg->ptr : "");
}

static int
kp_send(struct kpool *p, unsigned i, unsigned tag, uint32_t op, double hold)
{
	struct kconn *kc = kp_conn_of(p, i);
	struct ksess *s = &p->s[i];
	msgpack_packer *pk;

	if (kc->closed)
		return CHUBBY_E_CONN;
	wire_buf_reset(&p->out);
	pk = wire_begin_req(&p->out, ((uint64_t)i << 2 | tag) + 0, op);
	if (op == PROTO_OP_SESSION_START) {
		msgpack_pack_map(pk, 0);
	} else if (op == PROTO_OP_KEEPALIVE) {
		msgpack_pack_map(pk, 3);
		mp_pack_kv_uint(pk, "session", s->id);
		mp_pack_kv_uint(pk, "epoch", kc->epoch ? kc->epoch : p->epoch);
		mp_pack_kv_uint(pk, "hold_ms", (uint64_t)(hold * 1000.0));
	} else {
		msgpack_pack_map(pk, 2);
		mp_pack_kv_uint(pk, "session", s->id);
		mp_pack_kv_uint(pk, "epoch", kc->epoch ? kc->epoch : p->epoch);
	}
	if (wire_finish(&p->out) != CHUBBY_OK)
		return CHUBBY_E_INVALID;
	s->sent_at = bench_now();
	s->hold = (float)hold;
	return conn_send(kc->conn, p->out.data, p->out.len);
}

/* Sends what the window allows: session starts, or ends once asked. */
static void
kp_pump(struct kpool *p, int ending)
{
	while (p->inflight < KA_WINDOW) {
		unsigned i;
		if (!ending) {
			/* --arrival: no more starts (retries included) than the
			 * rate allows since the phase began. */
			if (p->o->arrival > 0 &&
			    (double)p->starts_sent >= (bench_now() - p->start_from) * p->o->arrival)
				return;
			if (p->nretry > 0)
				i = p->retry[--p->nretry];
			else if (p->next_new < p->n)
				i = p->next_new++;
			else
				return;
			p->starts_sent++;
			if (kp_send(p, i, TAG_START, PROTO_OP_SESSION_START, 0) != CHUBBY_OK) {
				p->s[i].state = S_LOST;
				p->lost++;
				continue;
			}
			p->s[i].state = S_STARTING;
		} else {
			if (p->next_end >= p->n || p->live <= p->end_to + p->inflight)
				return;
			i = p->next_end++;
			if (p->s[i].state != S_LIVE)
				continue;
			if (kp_send(p, i, TAG_END, PROTO_OP_SESSION_END, 0) != CHUBBY_OK) {
				p->s[i].state = S_LOST;
				p->lost++;
				continue;
			}
			p->s[i].state = S_ENDING;
		}
		p->inflight++;
	}
}

static void
kp_keepalive(struct kpool *p, unsigned i, uint64_t lease_ms)
{
	struct ksess *s = &p->s[i];
	double now = bench_now();
	double granted = (double)lease_ms / 1000.0;
	double guard = granted / 3 < KA_GUARD ? granted / 3 : KA_GUARD;
	/* From the lease end kept (kp_granted), as libchubby's csess does. */
	double hold = s->lease_end - guard - KA_SLACK - now;

	if (hold < 0)
		hold = 0;
	if (kp_send(p, i, TAG_KA, PROTO_OP_KEEPALIVE, hold) != CHUBBY_OK) {
		s->state = S_LOST;
		p->live--;
		p->lost++;
	}
}

/* A reply for session I granting LEASE (ms): the timeline's counts, and the
 * client's lease end, counted from the request's send and never moved back
 * (libchubby's csess keeps the later end: a KeepAlive held longer than a
 * lease that has since shrunk comes back with an end already past).  A
 * reply after the old end would have found the client in jeopardy. */
static void
kp_granted(struct kpool *p, unsigned i, uint64_t lease, int keepalive)
{
	struct ksess *s = &p->s[i];
	double now = bench_now();

	if (keepalive) {
		double late = now - s->sent_at - (double)s->hold;
		hist_add(&p->sec.delay, late > 0 ? (uint64_t)(late * 1e6) : 0);
		if (s->lease_end > 0 && now > s->lease_end) {
			p->late++;
			p->sec.late++;
		}
	}
	if (lease > 0) {
		if (p->sec.lease_min == 0 || lease < p->sec.lease_min)
			p->sec.lease_min = lease;
		if (lease > p->sec.lease_max)
			p->sec.lease_max = lease;
	}
	if (kp_lease_end(s->sent_at, lease) > s->lease_end)
		s->lease_end = kp_lease_end(s->sent_at, lease);
}

static void
kp_on_res(struct kpool *p, struct kconn *kc, const struct wire_msg *m)
{
	uint64_t i64 = m->res.id >> 2, lease = 0, epoch = 0, sid = 0;
	unsigned tag = (unsigned)(m->res.id & 3), i;
	const msgpack_object *r = m->res.result;

	if (i64 >= p->n)
		return;
	i = (unsigned)i64;
	switch (tag) {
	case TAG_START:
		p->inflight--;
		if (m->res.status == CHUBBY_E_NOT_MASTER) {
			/* The master failed over: the pool does not follow it
			 * (its connections stay with the old one), so this
			 * session will never start; retrying would spin. */
			kp_error(p, "SESSION_START", m->res.status, &m->res.message);
			p->s[i].state = S_LOST;
			p->lost++;
			return;
		}
		if (m->res.status != CHUBBY_OK || r == NULL ||
		    mp_get_uint(r, "session", MP_REQUIRED, &sid, NULL, 0) != CHUBBY_OK) {
			/* E_OVERLOAD and the like: try again later. */
			kp_error(p, "SESSION_START", m->res.status, &m->res.message);
			p->s[i].state = S_NEW;
			p->retry[p->nretry++] = i;
			return;
		}
		mp_get_uint(r, "epoch", MP_OPTIONAL, &epoch, NULL, 0);
		mp_get_uint(r, "lease_ms", MP_OPTIONAL, &lease, NULL, 0);
		if (epoch > p->epoch)
			p->epoch = epoch;
		if (epoch > kc->epoch)
			kc->epoch = epoch;
		p->s[i].id = sid;
		p->s[i].state = S_LIVE;
		p->live++;
		p->sec.started++;
		kp_granted(p, i, lease, 0);
		kp_keepalive(p, i, lease);
		return;
	case TAG_KA:
		if (p->s[i].state != S_LIVE)
			return; /* answered at once because SESSION_END arrived */
		if (m->res.status != CHUBBY_OK || r == NULL) {
			kp_error(p, "KEEPALIVE", m->res.status, &m->res.message);
			if (m->res.status == CHUBBY_E_SESSION_EXPIRED) {
				p->expired++;
				p->sec.expired++;
			}
			p->s[i].state = S_LOST;
			p->live--;
			p->lost++;
			return;
		}
		p->ka_replies++;
		p->sec.ka++;
		mp_get_uint(r, "lease_ms", MP_OPTIONAL, &lease, NULL, 0);
		kp_granted(p, i, lease, 1);
		kp_keepalive(p, i, lease);
		return;
	case TAG_END:
		p->inflight--;
		p->live--;
		p->s[i].state = S_ENDED;
		p->ended++;
		if (m->res.status != CHUBBY_OK)
			kp_error(p, "SESSION_END", m->res.status, &m->res.message);
		return;
	}
}

static void
kp_on_open(struct conn *c, void *arg)
{
	struct kconn *kc = arg;
	struct kpool *p = kc->p;

	(void)c;
	kc->open = 1;
	wire_buf_reset(&p->out);
	if (wire_put_hello(&p->out, PROTO_VERSION, "chubby-bench") == CHUBBY_OK)
		conn_send(kc->conn, p->out.data, p->out.len);
}

static void
kp_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct kconn *kc = arg;
	struct kpool *p = kc->p;
	struct wire_msg m;
	char err[256];

	(void)c;
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		snprintf(p->first_err, sizeof p->first_err, "bad frame: %.140s", err);
		p->failed = 1;
		return;
	}
	if (m.kind == PROTO_KIND_RES && m.res.id == 0) {
		kp_error(p, "connection refused", m.res.status, &m.res.message);
		p->failed = 1;
	} else if (m.kind == PROTO_KIND_RES) {
		kp_on_res(p, kc, &m);
		if (p->mode != 0)
			kp_pump(p, p->mode == 2);
	}
	wire_msg_free(&m);
}

static void
kp_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct kconn *kc = arg;
	struct kpool *p = kc->p;

	(void)c;
	kc->closed = 1;
	if (p->first_err[0] == '\0')
		snprintf(p->first_err, sizeof p->first_err, "connection closed: %s %.100s",
		    chubby_status_name(status), reason);
	p->failed = 1;
}

static const struct conn_callbacks kp_cb = {
    .on_open = kp_on_open,
    .on_frame = kp_on_frame,
    .on_close = kp_on_close,
};

static FILE *
kp_tl_out(const struct kpool *p)
{
	return p->o->json ? stderr : stdout;
}

/* Starts the timeline's clock and its first second. */
static void
kp_tl_begin(struct kpool *p)
{
	p->t0 = p->sec_from = bench_now();
	p->sec_cli = self_cpu_secs();
	p->sec_mticks = proc_cpu_ticks(p->mpid);
	memset(&p->sec, 0, sizeof p->sec);
	hist_init(&p->sec.delay);
	if (!p->o->timeline)
		return;
	fprintf(kp_tl_out(p), "# keepalive n=%u%s%.0f/s: a row a second\n", p->n,
	    p->o->arrival > 0 ? ", arrival " : ", burst", p->o->arrival > 0 ? p->o->arrival : 0.0);
	fprintf(kp_tl_out(p), "%6s %-9s %7s %7s %8s %9s %9s %6s %7s %6s %6s %7s %7s\n", "t", "phase",
	    "live", "start/s", "KA/s", "KAp50ms", "KAp99ms", "late", "expired", "lmin", "lmax",
	    "mCPU%", "cliCPU%");
	fflush(kp_tl_out(p));
}

/* Closes the second (or more) since the last row and prints it. */
static void
kp_tl_row(struct kpool *p)
{
	double now = bench_now(), dt = now - p->sec_from, cli = self_cpu_secs();
	long long mt = proc_cpu_ticks(p->mpid);

	if (p->o->timeline && dt > 0) {
		fprintf(kp_tl_out(p),
		    "%6.0f %-9s %7u %7.0f %8.0f %9.1f %9.1f %6llu %7llu %6.1f %6.1f %7.1f %7.1f\n",
		    now - p->t0, p->phase, p->live, (double)p->sec.started / dt,
		    (double)p->sec.ka / dt, hist_quantile_ms(&p->sec.delay, 0.5),
		    hist_quantile_ms(&p->sec.delay, 0.99), (unsigned long long)p->sec.late,
		    (unsigned long long)p->expired, (double)p->sec.lease_min / 1000.0,
		    (double)p->sec.lease_max / 1000.0,
		    mt >= 0 && p->sec_mticks >= 0 ? ticks_to_pct(mt - p->sec_mticks, dt) : -1.0,
		    100.0 * (cli - p->sec_cli) / dt);
		fflush(kp_tl_out(p));
	}
	p->sec_from = now;
	p->sec_cli = cli;
	p->sec_mticks = mt;
	memset(&p->sec, 0, sizeof p->sec);
	hist_init(&p->sec.delay);
}

/* Runs the loop for at most SECS seconds or until DONE(p) holds. */
static void
kp_loop(struct kpool *p, double secs, int (*done)(struct kpool *), const char *what)
{
	double start = bench_now(), next = start + 1.0;
	/* Paced starts need a finer slice than the progress line. */
	struct timeval tv = {0, p->o->arrival > 0 && p->mode == 1 ? 5000 : 100000};

	p->phase = what;
	while (!p->failed && !(done != NULL && done(p)) && bench_now() - start < secs) {
		event_base_loopexit(p->base, &tv);
		event_base_dispatch(p->base);
		if (p->t0 > 0 && bench_now() - p->sec_from >= 1.0)
			kp_tl_row(p);
		if (bench_now() >= next) {
			bench_progress(p->o, "keepalive n=%u: %s %.0f s: %u live, %u ended, %llu keepalives",
			    p->n, what, bench_now() - start, p->live, p->ended,
			    (unsigned long long)p->ka_replies);
			next += 1.0;
		}
	}
}

static int kp_all_open(struct kpool *p)
{
	for (unsigned i = 0; i < p->nc; i++)
		if (!p->c[i].open)
			return 0;
	return 1;
}
static int kp_all_started(struct kpool *p) { return p->live + p->lost >= p->n; }
static int kp_keep_pumping_start(struct kpool *p) { kp_pump(p, 0); return kp_all_started(p); }
static int kp_keep_pumping_end(struct kpool *p)
{
	kp_pump(p, 1);
	return (p->next_end >= p->n || p->live <= p->end_to) && p->inflight == 0;
}

int
keepalive_run(const struct bench_opts *o, unsigned n, struct bench_result *res)
{
	struct tls_config tc = {.ca_file = o->spec.ca, .cert_file = o->spec.cert,
	    .key_file = o->spec.key, .role = TLS_ROLE_CLIENT};
	struct kpool p;
	struct cell_procs cp;
	struct sockaddr_storage ss;
	char addr[CELLSPEC_ADDR_MAX], err[512];
	long long m0, m1;
	double t0, t1, measure;
	uint64_t ka0;
	long rss0, rss1;
	pid_t mpid;
	int sslen, mid;
	struct sockaddr_storage pxss[BENCH_MAX_PROXIES];
	int pxlen[BENCH_MAX_PROXIES];
	unsigned npx = 0;
	long long pxt0[BENCH_MAX_PROXIES];
	double mka0, cli0;
	const char *mstatus;

	memset(res, 0, sizeof *res);
	memset(&p, 0, sizeof p);
	snprintf(res->workload, sizeof res->workload, "keepalive");
	res->clients = n;
	res->server_cpu = res->master_cpu = -1;
	p.o = o;
	p.n = n;
	res->master_ka_per_s = -1;
	/* --proxies: the connections go to the proxies in turn instead of the
	 * master, which is still the process measured (what proxies save it,
	 * docs/PROXY.md); each proxy is measured too. */
	for (const char *q = o->proxies; q != NULL && *q != '\0' && npx < BENCH_MAX_PROXIES;) {
		size_t len = strcspn(q, ",");
		struct bench_proxy *bp = &res->proxies[npx];
		snprintf(bp->addr, sizeof bp->addr, "%.*s", (int)len, q);
		if (net_resolve(bp->addr, &pxss[npx], &pxlen[npx], err, sizeof err) != CHUBBY_OK) {
			snprintf(res->first_error, sizeof res->first_error, "--proxies: %.140s", err);
			return -1;
		}
		bp->pid = proc_listening_on(bp->addr);
		bp->cpu = bp->rss_kb = bp->base_rss_kb = -1;
		npx++;
		q += len;
		if (*q == ',')
			q++;
	}
	res->nproxies = npx;
	p.nc = o->kconns ? o->kconns : (n + 19999) / 20000;
	/* Session i rides connection i mod nc, and connection c goes to proxy
	 * c mod npx: a multiple of npx connections spreads them evenly. */
	if (npx > 0)
		p.nc = (p.nc + npx - 1) / npx * npx;
	res->conns = p.nc;
	if ((mid = cell_master_id(o, addr, sizeof addr)) == 0) {
		snprintf(res->first_error, sizeof res->first_error, "no master found");
		return -1;
	}
	cell_procs_read(o, &cp);
	if ((p.mpid = mpid = cell_pid_of(&cp, mid)) == 0) {
		snprintf(res->first_error, sizeof res->first_error,
		    "master's pid unknown (needs --dir of a chubby-cell directory)");
		return -1;
	}
	p.s = calloc(n, sizeof *p.s);
	p.c = calloc(p.nc, sizeof *p.c);
	p.retry = calloc(n, sizeof *p.retry);
	p.base = tp_event_base_new();
	if (p.s == NULL || p.c == NULL || p.retry == NULL || p.base == NULL) {
		snprintf(res->first_error, sizeof res->first_error, "out of memory");
		goto out;
	}
	wire_buf_init(&p.out, FRAME_MAX_DEFAULT);
	if ((p.tls = tls_ctx_new(&tc, err, sizeof err)) == NULL ||
	    (p.tp = tp_tls_new(p.tls)) == NULL ||
	    net_resolve(addr, &ss, &sslen, err, sizeof err) != CHUBBY_OK) {
		snprintf(res->first_error, sizeof res->first_error, "%.150s", err);
		goto out;
	}
	for (unsigned i = 0; i < p.nc; i++) {
		struct bufferevent *bev = npx > 0
		    ? tp_connect(p.tp, p.base, (struct sockaddr *)&pxss[i % npx], pxlen[i % npx], NULL, 0)
		    : tp_connect(p.tp, p.base, (struct sockaddr *)&ss, sslen, NULL, 0);
		p.c[i].p = &p;
		if (bev == NULL || (p.c[i].conn = conn_new(p.tp, bev, 0, FRAME_MAX_DEFAULT * 4, &kp_cb,
		    &p.c[i])) == NULL) {
			snprintf(res->first_error, sizeof res->first_error, "cannot connect to %.120s",
			    npx > 0 ? res->proxies[i % npx].addr : addr);
			goto out;
		}
	}
	kp_loop(&p, 10, kp_all_open, "connecting");
	if (!kp_all_open(&p))
		goto out;

	rss0 = proc_rss_kb(mpid);
	for (unsigned k = 0; k < npx; k++)
		if (res->proxies[k].pid > 0)
			res->proxies[k].base_rss_kb = (double)proc_rss_kb(res->proxies[k].pid);
	kp_tl_begin(&p);
	t0 = p.start_from = bench_now();
	p.mode = 1;
	kp_pump(&p, 0);
	kp_loop(&p, 600, kp_keep_pumping_start, "starting");
	res->start_secs = bench_now() - t0;
	p.mode = 0;
	if (!kp_all_started(&p))
		goto out;

	/* Idle: every session keeps one KeepAlive held at the master.  The
	 * cycle is about 7 s (a held one, then a short one), so measure at
	 * least two of them. */
	measure = o->duration < 15 ? 15 : o->duration;
	kp_loop(&p, 2, NULL, "settle");
	/* The KeepAlives the master answered, from its /metrics: through
	 * proxies they are not the ones this process sees. */
	mstatus = cell_status_of(&cp, mid);
	mka0 = metrics_read(mstatus, "chubby_keepalives_total");
	ka0 = p.ka_replies;
	for (unsigned k = 0; k < npx; k++)
		pxt0[k] = res->proxies[k].pid > 0 ? proc_cpu_ticks(res->proxies[k].pid) : -1;
	m0 = proc_cpu_ticks(mpid);
	cli0 = self_cpu_secs();
	t0 = bench_now();
	kp_loop(&p, measure, NULL, "measure");
	t1 = bench_now();
	m1 = proc_cpu_ticks(mpid);
	/* This process: near 100% it, not the servers, is the limit. */
	res->client_cpu = 100.0 * (self_cpu_secs() - cli0) / (t1 - t0);
	for (unsigned k = 0; k < npx; k++) {
		struct bench_proxy *bp = &res->proxies[k];
		long long t = bp->pid > 0 ? proc_cpu_ticks(bp->pid) : -1;
		if (t >= 0 && pxt0[k] >= 0)
			bp->cpu = ticks_to_pct(t - pxt0[k], t1 - t0);
		if (bp->pid > 0)
			bp->rss_kb = (double)proc_rss_kb(bp->pid);
	}
	rss1 = proc_rss_kb(mpid);
	{
		double mka1 = metrics_read(mstatus, "chubby_keepalives_total");
		if (mka0 >= 0 && mka1 >= mka0)
			res->master_ka_per_s = (mka1 - mka0) / (bench_now() - t0);
	}
	if (m0 >= 0 && m1 >= 0) {
		res->master_cpu = ticks_to_pct(m1 - m0, t1 - t0);
		res->cpu_per_1000 = res->master_cpu * 1000.0 / n;
	}
	res->secs = t1 - t0;
	res->ka_per_s = (double)(p.ka_replies - ka0) / (t1 - t0);
	res->ops = p.ka_replies - ka0;
	res->ops_per_s = res->ka_per_s;
	res->base_rss_kb = (double)rss0;
	res->master_rss_kb = (double)rss1;
	res->rss_kb_per_1000 = (double)(rss1 - rss0) * 1000.0 / n;
	res->ok = p.lost == 0 && !p.failed;

	/* --keep/--tail: end all but some, and watch the lease fall back as
	 * the load goes.  Then end the rest (so the cell does not expire them
	 * all at once). */
	if (o->tail > 0) {
		if (o->keep > 0 && o->keep < n) {
			p.end_to = o->keep;
			p.mode = 2;
			kp_pump(&p, 1);
			kp_loop(&p, 300, kp_keep_pumping_end, "shrinking");
			p.mode = 0;
		}
		kp_loop(&p, o->tail, NULL, "tail");
		res->ok = res->ok && p.lost == 0 && !p.failed;
	}
	p.end_to = 0;
	if (!o->abandon) {
		p.mode = 2;
		kp_pump(&p, 1);
		kp_loop(&p, 300, kp_keep_pumping_end, "ending");
	}
	res->expired = p.expired;
	res->late = p.late;
out:
	res->errors = p.errors + p.lost;
	if (res->first_error[0] == '\0')
		snprintf(res->first_error, sizeof res->first_error, "%s", p.first_err);
	for (unsigned i = 0; p.c != NULL && i < p.nc; i++)
		if (p.c[i].conn != NULL)
			conn_free(p.c[i].conn);
	tp_event_base_free(p.base); /* releases the connections' bufferevents (tp.h) */
	if (p.tp != NULL)
		tp_free(p.tp);
	if (p.tls != NULL)
		tls_ctx_free(p.tls);
	wire_buf_free(&p.out);
	free(p.s);
	free(p.c);
	free(p.retry);
	return res->ok ? 0 : -1;
}
