/* test_tls.c: the transports on loopback (handshakes, refusals, identities), and certgen. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <event2/listener.h>

#include <event2/bufferevent_ssl.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chubby/chubby.h>

#include "certgen.h"
#include "conn.h"
#include "frame.h"
#include "harness.h"
#include "seqtoken.h"
#include "tls.h"
#include "tp.h"

#define DAY (24 * 3600)
/* No test may take longer than this; a hang fails instead.  Generous: it
 * only catches hangs, and valgrind on a loaded 2-core machine once took
 * more than 5 s over the burst of frames. */
#define TEST_DEADLINE_SEC 60

static char certdir[300];

static void
fpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", certdir, name);
}

/*
 * The fixture's certificates, minted once: a CA for cell "test", replicas
 * 2 and 3, clients alice, "replica-4" (a client whose CN looks like a
 * replica's) and "old" (expired yesterday), and mallory from another CA of
 * the same cell name.
 */
static int
mint(const struct certgen *ca, const struct certgen_req *req, const char *base)
{
	struct certgen *c;
	char crt[600], key[600], what[128], err[512];
	int rc;

	snprintf(what, sizeof what, "%s.crt", base);
	fpath(crt, sizeof crt, what);
	snprintf(what, sizeof what, "%s.key", base);
	fpath(key, sizeof key, what);
	rc = certgen_issue(ca, req, &c, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = certgen_write(c, crt, key, 0, err, sizeof err);
		certgen_free(c);
	}
	if (rc != CHUBBY_OK)
		fprintf(stderr, "mint %s: %s\n", base, err);
	return rc;
}

static int
suite_init(void)
{
	struct certgen *ca = NULL, *other = NULL;
	char crt[600], key[600], err[512];
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	snprintf(certdir, sizeof certdir, "%s/tls", harness_tmpdir());
	if (mkdir(certdir, 0700) != 0)
		return -1;
	fpath(crt, sizeof crt, "ca.crt");
	fpath(key, sizeof key, "ca.key");
	if (certgen_ca("test", -300, 10 * DAY, &ca, err, sizeof err) != CHUBBY_OK ||
	    certgen_write(ca, crt, key, 0, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "ca: %s\n", err);
		certgen_free(ca);
		return -1;
	}
	fpath(crt, sizeof crt, "other-ca.crt");
	fpath(key, sizeof key, "other-ca.key");
	if (certgen_ca("test", -300, 10 * DAY, &other, err, sizeof err) != CHUBBY_OK ||
	    certgen_write(other, crt, key, 0, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "other ca: %s\n", err);
		rc = -1;
		goto out;
	}
	{
		struct certgen_req r2 = {.kind = CERTGEN_REPLICA, .replica_id = 2,
		    .not_before = -300, .not_after = DAY};
		struct certgen_req r3 = {.kind = CERTGEN_REPLICA, .replica_id = 3,
		    .not_before = -300, .not_after = DAY};
		struct certgen_req alice = {.kind = CERTGEN_CLIENT, .name = "alice",
		    .not_before = -300, .not_after = DAY};
		struct certgen_req fake = {.kind = CERTGEN_CLIENT, .name = "replica-4",
		    .not_before = -300, .not_after = DAY};
		struct certgen_req old = {.kind = CERTGEN_CLIENT, .name = "old",
		    .not_before = -2 * DAY, .not_after = -DAY};
		struct certgen_req mallory = {.kind = CERTGEN_CLIENT, .name = "mallory",
		    .not_before = -300, .not_after = DAY};
		struct certgen_req px = {.kind = CERTGEN_CLIENT, .name = "px1",
		    .not_before = -300, .not_after = DAY, .serve = true};

		if (mint(ca, &r2, "replica-2") != CHUBBY_OK || mint(ca, &r3, "replica-3") != CHUBBY_OK ||
		    mint(ca, &alice, "client-alice") != CHUBBY_OK ||
		    mint(ca, &fake, "client-replica-4") != CHUBBY_OK ||
		    mint(ca, &old, "client-old") != CHUBBY_OK ||
		    mint(other, &mallory, "client-mallory") != CHUBBY_OK ||
		    mint(ca, &px, "proxy-px1") != CHUBBY_OK)
			rc = -1;
	}
out:
	certgen_free(ca);
	certgen_free(other);
	return rc;
}

/* A context from the fixture: CERT names "client-alice" etc., NULL for none. */
static struct tls_ctx *
ctx_make(enum tls_role role, const char *cert)
{
	char ca[600], crt[600], key[600], name[128], err[512];
	struct tls_config cfg = {.ca_file = ca, .role = role};
	struct tls_ctx *ctx;

	fpath(ca, sizeof ca, "ca.crt");
	if (cert != NULL) {
		snprintf(name, sizeof name, "%s.crt", cert);
		fpath(crt, sizeof crt, name);
		snprintf(name, sizeof name, "%s.key", cert);
		fpath(key, sizeof key, name);
		cfg.cert_file = crt;
		cfg.key_file = key;
	}
	ctx = tls_ctx_new(&cfg, err, sizeof err);
	if (ctx == NULL)
		fprintf(stderr, "ctx %s: %s\n", cert != NULL ? cert : "(none)", err);
	return ctx;
}

/*
 * One event loop, bounded by a deadline, that runs until a test's condition
 * holds.
 */
struct world {
	struct event_base *base;
	struct event *deadline;
	int timed_out;
	int (*done)(void *);
	void *arg;
};

static void
world_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	w->timed_out = 1;
	event_base_loopbreak(w->base);
}

static void
world_init(struct world *w)
{
	memset(w, 0, sizeof *w);
	w->base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->base);
	w->deadline = evtimer_new(w->base, world_deadline, w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->deadline);
}

static void
world_check(struct world *w)
{
	if (w->done != NULL && w->done(w->arg))
		event_base_loopbreak(w->base);
}

/* Runs the loop until DONE(ARG) holds; 0 if the deadline came first. */
static int
world_run(struct world *w, int (*done)(void *), void *arg)
{
	struct timeval tv = {TEST_DEADLINE_SEC, 0};

	w->done = done;
	w->arg = arg;
	w->timed_out = 0;
	if (done(arg))
		return 1;
	evtimer_add(w->deadline, &tv);
	event_base_dispatch(w->base);
	evtimer_del(w->deadline);
	w->done = NULL;
	if (w->timed_out)
		fprintf(stderr, "\n  deadline of %d s reached\n", TEST_DEADLINE_SEC);
	return done(arg);
}

static void
world_free(struct world *w)
{
	/* Let deferred callbacks of freed bufferevents run: each holds a
	 * reference that is dropped only then. */
	for (int i = 0; i < 4; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_free(w->deadline);
	event_base_free(w->base);
}

/* One end of a connection: records what happens to it. */
struct end {
	struct world *w;
	struct tp *tp;
	struct bufferevent *bev;
	int connected, eof, error;
	int id_rc;
	struct tp_identity id;
	char idwhy[256];
	char why[256];
	int why_status; /* tp_error's kind of failure */
	char in[256];
	size_t nin;
	int echo;          /* write back what arrives (servers) */
	const char *greet; /* write on CONNECTED (clients) */
	size_t total;      /* every byte that arrived */
	size_t bad_at;     /* 1 + the offset of the first byte off PATTERN (0: none) */
};

/* The stream test_write_now sends: byte I is I mod 251. */
static unsigned char
pattern_at(size_t i)
{
	return (unsigned char)(i % 251);
}

static int
end_closed(const struct end *e)
{
	return e->eof || e->error;
}

static void
end_read(struct bufferevent *bev, void *arg)
{
	struct end *e = arg;
	char buf[256];
	int n;

	while ((n = evbuffer_remove(bufferevent_get_input(bev), buf, sizeof buf)) > 0) {
		for (int i = 0; i < n && e->bad_at == 0; i++)
			if ((unsigned char)buf[i] != pattern_at(e->total + (size_t)i))
				e->bad_at = e->total + (size_t)i + 1;
		e->total += (size_t)n;
		size_t room = sizeof e->in - 1 - e->nin;
		size_t take = (size_t)n < room ? (size_t)n : room;

		memcpy(e->in + e->nin, buf, take);
		e->nin += take;
		e->in[e->nin] = '\0';
		if (e->echo)
			bufferevent_write(bev, buf, (size_t)n);
	}
	world_check(e->w);
}

static void
end_event(struct bufferevent *bev, short what, void *arg)
{
	struct end *e = arg;

	if (what & BEV_EVENT_CONNECTED) {
		e->connected++;
		e->id_rc = tp_peer_identity(e->tp, bev, &e->id, e->idwhy, sizeof e->idwhy);
		if (e->greet != NULL)
			bufferevent_write(bev, e->greet, strlen(e->greet));
	} else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		if (what & BEV_EVENT_ERROR) {
			e->why_status = tp_error(e->tp, bev, e->why, sizeof e->why);
			e->error = 1;
		} else
			e->eof = 1;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		/* A server drops a failed connection at once: its client then
		 * sees the close. */
		if (e->echo) {
			bufferevent_free(bev);
			e->bev = NULL;
		}
	}
	world_check(e->w);
}

static void
end_attach(struct end *e)
{
	bufferevent_setcb(e->bev, end_read, NULL, end_event, e);
	bufferevent_enable(e->bev, EV_READ | EV_WRITE);
}

static void
end_free(struct end *e)
{
	if (e->bev != NULL)
		bufferevent_free(e->bev);
	e->bev = NULL;
}

#define MAX_ENDS 8

/* A listener on 127.0.0.1, an ephemeral port, accepting through a transport. */
struct server {
	struct world *w;
	struct tp *tp;
	struct evconnlistener *lev;
	struct sockaddr_in addr;
	struct end ends[MAX_ENDS];
	int n;
};

static void
server_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct server *s = arg;
	struct end *e;

	(void)sa;
	(void)salen;
	if (s->n == MAX_ENDS) {
		evutil_closesocket(fd);
		return;
	}
	e = &s->ends[s->n++];
	memset(e, 0, sizeof *e);
	e->w = s->w;
	e->tp = s->tp;
	e->echo = 1;
	e->bev = tp_accept(s->tp, evconnlistener_get_base(lev), fd);
	if (e->bev == NULL) {
		evutil_closesocket(fd);
		e->error = 1;
		snprintf(e->why, sizeof e->why, "tp_accept failed");
	} else
		end_attach(e);
	world_check(s->w);
}

static void
server_start(struct server *s, struct world *w, struct tp *tp)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof s->addr;

	memset(s, 0, sizeof *s);
	s->w = w;
	s->tp = tp;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lev = evconnlistener_new_bind(w->base, server_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin, sizeof sin);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->lev);
	CU_ASSERT_EQUAL_FATAL(
	    getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&s->addr, &len), 0);
}

static void
server_stop(struct server *s)
{
	for (int i = 0; i < s->n; i++)
		end_free(&s->ends[i]);
	evconnlistener_free(s->lev);
}

static void
client_start(struct end *c, struct world *w, struct tp *tp, const struct sockaddr_in *to,
    const struct sockaddr_in *from, const char *greet)
{
	memset(c, 0, sizeof *c);
	c->w = w;
	c->tp = tp;
	c->greet = greet;
	c->bev = tp_connect(tp, w->base, (const struct sockaddr *)to, sizeof *to,
	    (const struct sockaddr *)from, from != NULL ? sizeof *from : 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->bev);
	end_attach(c);
}

/* Conditions the loop waits for. */
struct pair {
	struct server *s;
	struct end *c;
	int idx;          /* the server end of this client */
	const char *want; /* what the client must get back */
};

/* The client got WANT back, so the handshake and both directions worked. */
static int
pair_echoed(void *arg)
{
	struct pair *p = arg;

	return p->c->nin >= strlen(p->want) || end_closed(p->c);
}

/* Both ends of a refused connection have given up. */
static int
pair_refused(void *arg)
{
	struct pair *p = arg;

	return p->s->n > p->idx && end_closed(&p->s->ends[p->idx]) && end_closed(p->c);
}

/* The server end of this pair has given up. */
static int
server_end_closed(void *arg)
{
	struct pair *p = arg;

	return p->s->n > p->idx && end_closed(&p->s->ends[p->idx]);
}

static int
end_done(void *arg)
{
	struct end *e = arg;

	return e->connected || end_closed(e);
}

/* A client with CERT connects, sends GREET and must get it echoed. */
static void
expect_echo(struct server *s, struct tp *tp, struct end *c, const char *greet)
{
	struct pair p = {s, c, s->n, greet};

	client_start(c, s->w, tp, &s->addr, NULL, greet);
	CU_ASSERT_TRUE(world_run(s->w, pair_echoed, &p));
	CU_ASSERT_EQUAL(c->connected, 1);
	CU_ASSERT_FALSE(end_closed(c));
	CU_ASSERT_STRING_EQUAL(c->in, greet);
	CU_ASSERT_TRUE(s->n > p.idx);
	if (s->n > p.idx) {
		CU_ASSERT_EQUAL(s->ends[p.idx].connected, 1);
		CU_ASSERT_STRING_EQUAL(s->ends[p.idx].in, greet);
	}
}

/*
 * The tests.
 */

static void
test_good_handshake(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct world w;
	struct server s;
	struct end c;
	struct tp *stp, *ctp;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	CU_ASSERT_STRING_EQUAL(tls_ctx_cell(sctx), "test");
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	CU_ASSERT_STRING_EQUAL(tp_name(stp), "tls");
	world_init(&w);
	server_start(&s, &w, stp);

	expect_echo(&s, ctp, &c, "ping");
	/* The server knows the client... */
	CU_ASSERT_EQUAL(s.ends[0].id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(s.ends[0].id.kind, TP_PEER_CLIENT);
	CU_ASSERT_STRING_EQUAL(s.ends[0].id.name, "alice");
	CU_ASSERT_STRING_EQUAL(s.ends[0].id.cell, "test");
	CU_ASSERT_EQUAL(s.ends[0].id.replica_id, -1);
	/* ...and the client the replica it reached. */
	CU_ASSERT_EQUAL(c.id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(c.id.kind, TP_PEER_REPLICA);
	CU_ASSERT_EQUAL(c.id.replica_id, 2);
	CU_ASSERT_STRING_EQUAL(c.id.name, "replica-2");

	/* A peer that goes away without close_notify (libevent never sends
	 * one) is an orderly EOF once the handshake is done. */
	{
		struct pair p = {&s, &c, 0, NULL};

		end_free(&c);
		CU_ASSERT_TRUE(world_run(&w, server_end_closed, &p));
		CU_ASSERT_EQUAL(s.ends[0].eof, 1);
		CU_ASSERT_EQUAL(s.ends[0].error, 0);
	}
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/* A client with CERT (NULL: none) is refused, the server's reason mentions
 * WHY, and the listener still serves a good client afterwards. */
static void
expect_refused(const char *cert, const char *why)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *bctx = ctx_make(TLS_ROLE_CLIENT, cert);
	struct tls_ctx *gctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tp *stp, *btp, *gtp;
	struct world w;
	struct server s;
	struct end bad, good;
	struct pair p = {&s, &bad, 0, NULL};

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(gctx);
	stp = tp_tls_new(sctx);
	btp = tp_tls_new(bctx);
	gtp = tp_tls_new(gctx);
	world_init(&w);
	server_start(&s, &w, stp);

	client_start(&bad, &w, btp, &s.addr, NULL, "let me in");
	CU_ASSERT_TRUE(world_run(&w, pair_refused, &p));
	CU_ASSERT_EQUAL(s.n, 1);
	/* The server never considered the connection open... */
	CU_ASSERT_EQUAL(s.ends[0].connected, 0);
	CU_ASSERT_EQUAL(s.ends[0].error, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.ends[0].why, why));
	if (strstr(s.ends[0].why, why) == NULL)
		fprintf(stderr, "\n  server said \"%s\", wanted \"%s\"\n", s.ends[0].why, why);
	CU_ASSERT_STRING_EQUAL(s.ends[0].in, "");
	/* ...and the client, which in TLS 1.3 may think itself connected
	 * before the server has checked its certificate, learns otherwise and
	 * gets nothing back. */
	CU_ASSERT_TRUE(end_closed(&bad));
	CU_ASSERT_STRING_EQUAL(bad.in, "");
	/* ...a refusal retrying will not change (libchubby fails at once). */
	CU_ASSERT_EQUAL(bad.error, 1);
	CU_ASSERT_EQUAL(bad.why_status, CHUBBY_E_AUTH);
	if (bad.why_status != CHUBBY_E_AUTH)
		fprintf(stderr, "\n  client said \"%s\" (%d)\n", bad.why, bad.why_status);

	expect_echo(&s, gtp, &good, "still here");

	end_free(&bad);
	end_free(&good);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(btp);
	tp_free(gtp);
	tls_ctx_free(sctx);
	tls_ctx_free(bctx);
	tls_ctx_free(gctx);
}

static void
test_no_client_cert(void)
{
	expect_refused(NULL, "did not return a certificate");
}

static void
test_expired_client_cert(void)
{
	expect_refused("client-old", "certificate has expired");
}

static void
test_other_ca_client_cert(void)
{
	expect_refused("client-mallory", "unable to get local issuer certificate");
}

/* Raw bytes to the TLS port fail that connection only. */
static void
test_plaintext_to_tls_port(void)
{
	static const char frame[] = {0, 0, 0, 4, (char)0x94, 1, 2, 3};
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tp *stp, *ctp, *plain = tp_plain_new();
	struct world w;
	struct server s;
	struct end before, raw1, raw2, raw3, after;
	struct pair p1 = {&s, &raw1, 1, NULL}, p2 = {&s, &raw2, 2, NULL}, p3 = {&s, &raw3, 3, NULL};
	struct pair pb = {&s, &before, 0, "onetwo"};

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	server_start(&s, &w, stp);

	expect_echo(&s, ctp, &before, "one");

	client_start(&raw1, &w, plain, &s.addr, NULL, "HELLO\n");
	CU_ASSERT_TRUE(world_run(&w, pair_refused, &p1));
	CU_ASSERT_EQUAL(s.ends[1].connected, 0);
	CU_ASSERT_TRUE(s.ends[1].error || s.ends[1].eof);
	CU_ASSERT_STRING_EQUAL(s.ends[1].in, "");

	/* A frame as a client would send it over plain TCP. */
	memset(&raw2, 0, sizeof raw2);
	raw2.w = &w;
	raw2.tp = plain;
	raw2.bev = tp_connect(plain, w.base, (const struct sockaddr *)&s.addr, sizeof s.addr, NULL,
	    0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(raw2.bev);
	end_attach(&raw2);
	bufferevent_write(raw2.bev, frame, sizeof frame);
	CU_ASSERT_TRUE(world_run(&w, pair_refused, &p2));
	CU_ASSERT_EQUAL(s.ends[2].connected, 0);

	/* A client that connects and hangs up without a word. */
	client_start(&raw3, &w, plain, &s.addr, NULL, NULL);
	CU_ASSERT_TRUE(world_run(&w, end_done, &raw3));
	CU_ASSERT_EQUAL(raw3.connected, 1);
	end_free(&raw3);
	CU_ASSERT_TRUE(world_run(&w, server_end_closed, &p3));
	CU_ASSERT_EQUAL(s.ends[3].connected, 0);
	CU_ASSERT_EQUAL(s.ends[3].error, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.ends[3].why, "during the handshake"));

	/* The connection opened before still works... */
	CU_ASSERT_FALSE(end_closed(&before));
	CU_ASSERT_FALSE(end_closed(&s.ends[0]));
	bufferevent_write(before.bev, "two", 3);
	CU_ASSERT_TRUE(world_run(&w, pair_echoed, &pb));
	CU_ASSERT_STRING_EQUAL(before.in, "onetwo");
	/* ...and so does one opened after. */
	expect_echo(&s, ctp, &after, "three");
	CU_ASSERT_EQUAL(s.n, 5);

	end_free(&before);
	end_free(&raw1);
	end_free(&raw2);
	end_free(&after);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	tp_free(plain);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/* The OU decides the kind: a client certificate named like a replica is
 * still a client; a replica certificate gives the replica's id. */
static void
test_identity_kinds(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *rctx = ctx_make(TLS_ROLE_CLIENT, "replica-3");
	struct tls_ctx *fctx = ctx_make(TLS_ROLE_CLIENT, "client-replica-4");
	struct tp *stp, *rtp, *ftp;
	struct world w;
	struct server s;
	struct end r, f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fctx);
	stp = tp_tls_new(sctx);
	rtp = tp_tls_new(rctx);
	ftp = tp_tls_new(fctx);
	world_init(&w);
	server_start(&s, &w, stp);

	expect_echo(&s, rtp, &r, "paxos");
	CU_ASSERT_EQUAL(s.ends[0].id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(s.ends[0].id.kind, TP_PEER_REPLICA);
	CU_ASSERT_EQUAL(s.ends[0].id.replica_id, 3);
	CU_ASSERT_STRING_EQUAL(s.ends[0].id.name, "replica-3");

	expect_echo(&s, ftp, &f, "let me lead");
	CU_ASSERT_EQUAL(s.ends[1].id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(s.ends[1].id.kind, TP_PEER_CLIENT);
	CU_ASSERT_EQUAL(s.ends[1].id.replica_id, -1);
	CU_ASSERT_STRING_EQUAL(s.ends[1].id.name, "replica-4");
	CU_ASSERT_STRING_EQUAL(tp_kind_name(s.ends[1].id.kind), "client");

	end_free(&r);
	end_free(&f);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(rtp);
	tp_free(ftp);
	tls_ctx_free(sctx);
	tls_ctx_free(rctx);
	tls_ctx_free(fctx);
}

/*
 * A rogue server that bypasses tls_ctx_new's checks and serves with a client
 * certificate: OpenSSL's purpose check on the client must refuse it.
 */
static struct bufferevent *
rogue_wrap(struct tp *tp, struct event_base *base, evutil_socket_t fd, int accepting)
{
	SSL *ssl = SSL_new(tp_impl(tp));

	(void)accepting;
	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
}

static int
rogue_identity(struct tp *tp, struct bufferevent *bev, struct tp_identity *out, char *err,
    size_t errlen)
{
	(void)tp;
	(void)bev;
	memset(out, 0, sizeof *out);
	snprintf(err, errlen, "rogue");
	return CHUBBY_E_AUTH;
}

static int
rogue_error_string(struct tp *tp, struct bufferevent *bev, char *buf, size_t len)
{
	(void)tp;
	(void)bev;
	snprintf(buf, len, "rogue server failed");
	return CHUBBY_E_TLS;
}

static const struct tp_ops rogue_ops = {
    .name = "rogue",
    .wrap = rogue_wrap,
    .identity = rogue_identity,
    .error_string = rogue_error_string,
};

static void
test_client_cert_cannot_serve(void)
{
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "replica-3");
	char crt[600], key[600];
	SSL_CTX *rogue;
	struct tp *stp, *ctp;
	struct world w;
	struct server s;
	struct end c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	fpath(crt, sizeof crt, "client-alice.crt");
	fpath(key, sizeof key, "client-alice.key");
	rogue = SSL_CTX_new(TLS_server_method());
	CU_ASSERT_PTR_NOT_NULL_FATAL(rogue);
	CU_ASSERT_EQUAL(SSL_CTX_use_certificate_chain_file(rogue, crt), 1);
	CU_ASSERT_EQUAL(SSL_CTX_use_PrivateKey_file(rogue, key, SSL_FILETYPE_PEM), 1);
	stp = tp_new(&rogue_ops, rogue);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	server_start(&s, &w, stp);

	client_start(&c, &w, ctp, &s.addr, NULL, "secret");
	CU_ASSERT_TRUE(world_run(&w, end_done, &c));
	CU_ASSERT_EQUAL(c.connected, 0);
	CU_ASSERT_EQUAL(c.error, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "unsuitable certificate purpose"));
	if (strstr(c.why, "unsuitable certificate purpose") == NULL)
		fprintf(stderr, "\n  client said \"%s\"\n", c.why);
	/* We refused the peer's certificate: final. */
	CU_ASSERT_EQUAL(c.why_status, CHUBBY_E_AUTH);

	end_free(&c);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	SSL_CTX_free(rogue);
	tls_ctx_free(cctx);
}

/* chubby-proxy (docs/PROXY.md) serves clients with a client certificate
 * that also has serverAuth: only a context loaded for a proxy takes it, a
 * plain client certificate is refused even then, and a client handshakes
 * with the proxy and sees its principal. */
static void
test_proxy_cert_serves(void)
{
	char ca[600], crt[600], key[600], err[512];
	struct tls_config cfg = {.ca_file = ca, .cert_file = crt, .key_file = key,
	    .role = TLS_ROLE_SERVER};
	struct tls_ctx *sctx, *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct world w;
	struct server s;
	struct end c;
	struct tp *stp, *ctp;

	fpath(ca, sizeof ca, "ca.crt");
	fpath(crt, sizeof crt, "proxy-px1.crt");
	fpath(key, sizeof key, "proxy-px1.key");
	CU_ASSERT_PTR_NULL(tls_ctx_new(&cfg, err, sizeof err)); /* not a proxy context */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "serving needs a replica certificate"));
	cfg.proxy = 1;
	fpath(crt, sizeof crt, "client-alice.crt");
	fpath(key, sizeof key, "client-alice.key");
	CU_ASSERT_PTR_NULL(tls_ctx_new(&cfg, err, sizeof err)); /* no serverAuth */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "lacks the serverAuth usage"));
	fpath(crt, sizeof crt, "proxy-px1.crt");
	fpath(key, sizeof key, "proxy-px1.key");
	sctx = tls_ctx_new(&cfg, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	server_start(&s, &w, stp);
	expect_echo(&s, ctp, &c, "ping");
	CU_ASSERT_EQUAL(s.ends[0].id.kind, TP_PEER_CLIENT);
	CU_ASSERT_STRING_EQUAL(s.ends[0].id.name, "alice");
	CU_ASSERT_EQUAL(c.id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(c.id.kind, TP_PEER_CLIENT);
	CU_ASSERT_STRING_EQUAL(c.id.name, "px1");
	end_free(&c);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

static X509 *
read_cert(const char *base)
{
	char path[600], name[128];
	X509 *x = NULL;
	FILE *f;

	snprintf(name, sizeof name, "%s.crt", base);
	fpath(path, sizeof path, name);
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

/* The identity rules on their own, including cases no handshake reaches. */
static void
test_identity_rules(void)
{
	struct tp_identity id;
	char err[256];
	X509 *ca = read_cert("ca"), *r2 = read_cert("replica-2"), *alice = read_cert("client-alice");
	int v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(alice);
	CU_ASSERT_EQUAL(tls_cert_identity(r2, "test", &id, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(id.kind, TP_PEER_REPLICA);
	CU_ASSERT_EQUAL(id.replica_id, 2);
	/* The CA itself names nobody. */
	CU_ASSERT_EQUAL(tls_cert_identity(ca, "test", &id, err, sizeof err), CHUBBY_E_AUTH);
	CU_ASSERT_EQUAL(id.kind, TP_PEER_ANON);
	/* A certificate of another cell is refused. */
	CU_ASSERT_EQUAL(tls_cert_identity(alice, "prod", &id, err, sizeof err), CHUBBY_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cell"));
	CU_ASSERT_EQUAL(tls_cert_identity(NULL, NULL, &id, err, sizeof err), CHUBBY_E_AUTH);

	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-7", &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-255", &v), 0);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-256", &v), -1);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-0", &v), -1);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-07", &v), -1);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-7x", &v), -1);
	CU_ASSERT_EQUAL(tls_replica_id_parse("replica-", &v), -1);
	CU_ASSERT_EQUAL(tls_replica_id_parse("Replica-7", &v), -1);
	CU_ASSERT_TRUE(tls_principal_valid("alice@example.com"));
	CU_ASSERT_FALSE(tls_principal_valid("-alice"));
	CU_ASSERT_FALSE(tls_principal_valid("al ice"));
	CU_ASSERT_FALSE(tls_principal_valid("a/b"));
	CU_ASSERT_FALSE(tls_principal_valid(""));
	CU_ASSERT_TRUE(tls_cell_valid("local"));
	CU_ASSERT_FALSE(tls_cell_valid("a@b"));

	X509_free(ca);
	X509_free(r2);
	X509_free(alice);
}

static int
ctx_error(const char *ca, const char *cert, const char *key, enum tls_role role, char *err,
    size_t errlen)
{
	struct tls_config cfg = {.ca_file = ca, .cert_file = cert, .key_file = key, .role = role};
	struct tls_ctx *ctx = NULL;
	int rc = tls_ctx_load(&ctx, &cfg, err, errlen);

	CU_ASSERT_TRUE(rc == CHUBBY_OK ? ctx != NULL : ctx == NULL);
	tls_ctx_free(ctx);
	return rc;
}

static void
test_ctx_errors(void)
{
	char ca[600], crt[600], key[600], alice_key[600], alice_crt[600], junk[600], err[512];
	FILE *f;

	fpath(ca, sizeof ca, "ca.crt");
	fpath(crt, sizeof crt, "replica-2.crt");
	fpath(key, sizeof key, "replica-2.key");
	fpath(alice_crt, sizeof alice_crt, "client-alice.crt");
	fpath(alice_key, sizeof alice_key, "client-alice.key");
	fpath(junk, sizeof junk, "junk.pem");
	f = fopen(junk, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("this is not a certificate\n", f);
	fclose(f);

	CU_ASSERT_EQUAL(ctx_error(ca, crt, key, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_OK);

	CU_ASSERT_EQUAL(
	    ctx_error(ca, "/nonexistent/y.crt", key, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_E_IO);
	CU_ASSERT_STRING_EQUAL(err,
	    "tls: cannot load certificate /nonexistent/y.crt: No such file or directory");

	CU_ASSERT_EQUAL(ctx_error("/nonexistent/ca.crt", crt, key, TLS_ROLE_SERVER, err, sizeof err),
	    CHUBBY_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ca.crt"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));

	CU_ASSERT_EQUAL(ctx_error(ca, crt, "/nonexistent/k.key", TLS_ROLE_SERVER, err, sizeof err),
	    CHUBBY_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "private key /nonexistent/k.key"));

	/* Alice's key with replica 2's certificate. */
	CU_ASSERT_EQUAL(ctx_error(ca, crt, alice_key, TLS_ROLE_SERVER, err, sizeof err),
	    CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, alice_key));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not match"));

	CU_ASSERT_EQUAL(ctx_error(ca, junk, key, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, junk));
	CU_ASSERT_EQUAL(ctx_error(junk, crt, key, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, junk));
	CU_ASSERT_EQUAL(ctx_error(ca, crt, junk, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, junk));

	/* A leaf is no trust anchor. */
	CU_ASSERT_EQUAL(ctx_error(crt, crt, key, TLS_ROLE_SERVER, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a CA"));

	/* A client certificate cannot serve. */
	CU_ASSERT_EQUAL(ctx_error(ca, alice_crt, alice_key, TLS_ROLE_SERVER, err, sizeof err),
	    CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "replica certificate"));

	/* A server needs a certificate; a client may go without (tests). */
	CU_ASSERT_EQUAL(ctx_error(ca, NULL, NULL, TLS_ROLE_SERVER, err, sizeof err),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ctx_error(ca, crt, NULL, TLS_ROLE_CLIENT, err, sizeof err),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(ctx_error(ca, NULL, NULL, TLS_ROLE_CLIENT, err, sizeof err), CHUBBY_OK);
}

/* The plain transport: the same events as TLS, an anonymous peer. */
static void
test_plain_roundtrip(void)
{
	struct tp *stp = tp_plain_new(), *ctp = tp_plain_new();
	struct world w;
	struct server s;
	struct end c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(stp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctp);
	CU_ASSERT_STRING_EQUAL(tp_name(stp), "plain");
	world_init(&w);
	server_start(&s, &w, stp);

	expect_echo(&s, ctp, &c, "plain ping");
	CU_ASSERT_EQUAL(s.ends[0].id_rc, CHUBBY_OK);
	CU_ASSERT_EQUAL(s.ends[0].id.kind, TP_PEER_ANON);
	CU_ASSERT_STRING_EQUAL(s.ends[0].id.name, "anonymous");
	CU_ASSERT_EQUAL(c.id.kind, TP_PEER_ANON);

	{
		struct pair p = {&s, &c, 0, NULL};

		end_free(&c);
		CU_ASSERT_TRUE(world_run(&w, server_end_closed, &p));
		CU_ASSERT_EQUAL(s.ends[0].eof, 1);
	}
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
}

struct want_bytes {
	struct server *s;
	size_t n;
};

static int
server_got_bytes(void *arg)
{
	struct want_bytes *wb = arg;

	return wb->s->n > 0 && (wb->s->ends[0].total >= wb->n || end_closed(&wb->s->ends[0]));
}

/*
 * tp_write_now (libchubby's caller writing its own request frame): bytes
 * written at once arrive, and when the socket is full what was not taken is
 * queued in the bufferevent and arrives after it, in order: the plain
 * socket takes part of the last chunk (send's count), TLS none of it
 * (SSL_write's WANT_WRITE with a record held by OpenSSL, which libevent's
 * SSL_write of the queued copy, at another address, completes:
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).  The server's loop does not run
 * while the client fills the socket.
 */
static void
expect_write_now(struct tp *stp, struct tp *ctp)
{
	static unsigned char chunk[16384];
	struct world w;
	struct server s;
	struct end c;
	struct want_bytes wb;
	size_t sent = 0, took = 0;
	int full = 0;

	world_init(&w);
	server_start(&s, &w, stp);
	/* Connected, nothing sent yet: the greeting would not be PATTERN. */
	client_start(&c, &w, ctp, &s.addr, NULL, NULL);
	CU_ASSERT_TRUE_FATAL(world_run(&w, end_done, &c));
	CU_ASSERT_EQUAL_FATAL(c.connected, 1);
	s.ends[0].echo = 0;
	for (int i = 0; i < 4096 && !full; i++) {
		for (size_t k = 0; k < sizeof chunk; k++)
			chunk[k] = pattern_at(sent + k);
		bufferevent_lock(c.bev);
		CU_ASSERT_EQUAL(evbuffer_get_length(bufferevent_get_output(c.bev)), 0);
		took = tp_write_now(ctp, c.bev, chunk, sizeof chunk);
		CU_ASSERT_TRUE(took <= sizeof chunk);
		if (took < sizeof chunk) {
			/* The rest, queued before the lock goes, as conn_send_now does. */
			CU_ASSERT_EQUAL(bufferevent_write(c.bev, chunk + took, sizeof chunk - took), 0);
			full = 1;
		}
		bufferevent_unlock(c.bev);
		sent += sizeof chunk;
	}
	/* 64 MiB never fits in a loopback socket's buffers. */
	CU_ASSERT_TRUE(full);
	CU_ASSERT_TRUE(sent > sizeof chunk);
	wb.s = &s;
	wb.n = sent;
	CU_ASSERT_TRUE(world_run(&w, server_got_bytes, &wb));
	CU_ASSERT_TRUE(s.n > 0);
	if (s.n > 0) {
		CU_ASSERT_EQUAL(s.ends[0].total, sent);
		CU_ASSERT_EQUAL(s.ends[0].bad_at, 0);
		CU_ASSERT_FALSE(end_closed(&s.ends[0]));
		if (s.ends[0].total != sent || s.ends[0].bad_at != 0)
			fprintf(stderr, "\n  %s: sent %zu, got %zu, first bad byte %zu, why \"%s\"\n",
			    tp_name(ctp), sent, s.ends[0].total, s.ends[0].bad_at, s.ends[0].why);
	}
	CU_ASSERT_FALSE(end_closed(&c));
	end_free(&c);
	server_stop(&s);
	world_free(&w);
}

static void
test_write_now_plain(void)
{
	struct tp *stp = tp_plain_new(), *ctp = tp_plain_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(stp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctp);
	CU_ASSERT_EQUAL(tp_set_threadsafe(ctp), 0);
	expect_write_now(stp, ctp);
	tp_free(stp);
	tp_free(ctp);
}

static void
test_write_now_tls(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tp *stp, *ctp;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	CU_ASSERT_EQUAL(tp_set_threadsafe(ctp), 0);
	expect_write_now(stp, ctp);
	tp_free(stp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/* A port nobody listens on: bound, then closed. */
static void
closed_port(struct sockaddr_in *sin)
{
	socklen_t len = sizeof *sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)sin, sizeof *sin), 0);
	CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	close(fd);
}

/*
 * tp_set_threadsafe only before the transport's first bufferevent: one made
 * earlier has no lock, and a caller writing on it (conn_send_now) would
 * race the loop thread on its TLS object and buffers (09c0c4b's crash).
 */
static void
test_threadsafe_before_first(void)
{
	struct event_base *base = tp_event_base_new();
	struct tp *early = tp_plain_new(), *late = tp_plain_new();
	struct bufferevent *bev;
	struct sockaddr_in sin;

	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	CU_ASSERT_PTR_NOT_NULL_FATAL(early);
	CU_ASSERT_PTR_NOT_NULL_FATAL(late);
	closed_port(&sin);
	CU_ASSERT_EQUAL(tp_set_threadsafe(early), 0);
	CU_ASSERT_TRUE(tp_threadsafe(early));
	bev = tp_connect(late, base, (struct sockaddr *)&sin, sizeof sin, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bev);
	CU_ASSERT_EQUAL(tp_set_threadsafe(late), -1);
	CU_ASSERT_FALSE(tp_threadsafe(late));
	bufferevent_free(bev);
	tp_free(early);
	tp_free(late);
	tp_event_base_free(base);
}

static void
expect_connect_refused(struct tp *tp)
{
	struct sockaddr_in to;
	struct world w;
	struct end c;

	closed_port(&to);
	world_init(&w);
	client_start(&c, &w, tp, &to, NULL, NULL);
	CU_ASSERT_TRUE(world_run(&w, end_done, &c));
	CU_ASSERT_EQUAL(c.connected, 0);
	CU_ASSERT_EQUAL(c.error, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.why, "refused"));
	if (strstr(c.why, "refused") == NULL)
		fprintf(stderr, "\n  %s said \"%s\"\n", tp_name(tp), c.why);
	/* Nothing listening is a connection failure, not a TLS one. */
	CU_ASSERT_EQUAL(c.why_status, CHUBBY_E_CONN);
	end_free(&c);
	world_free(&w);
}

static void
test_connect_refused(void)
{
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tp *plain = tp_plain_new(), *tls;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	tls = tp_tls_new(cctx);
	expect_connect_refused(plain);
	expect_connect_refused(tls);
	tp_free(plain);
	tp_free(tls);
	tls_ctx_free(cctx);
}

/* Outgoing connections leave from the address asked for, as replicas'
 * connections to their peers do. */
static void
test_source_address(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "replica-3");
	struct tp *stp, *ctp;
	struct sockaddr_in from, peer;
	socklen_t len = sizeof peer;
	struct world w;
	struct server s;
	struct end c;
	struct pair p = {&s, &c, 0, "from 13"};

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	server_start(&s, &w, stp);
	memset(&from, 0, sizeof from);
	from.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.13", &from.sin_addr);

	client_start(&c, &w, ctp, &s.addr, &from, "from 13");
	CU_ASSERT_TRUE(world_run(&w, pair_echoed, &p));
	CU_ASSERT_STRING_EQUAL(c.in, "from 13");
	CU_ASSERT_EQUAL_FATAL(s.n, 1);
	CU_ASSERT_EQUAL(getpeername(bufferevent_getfd(s.ends[0].bev), (struct sockaddr *)&peer, &len),
	    0);
	CU_ASSERT_EQUAL(peer.sin_addr.s_addr, from.sin_addr.s_addr);

	end_free(&c);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

static void
test_certgen_files(void)
{
	struct certgen_info info;
	struct certgen *ca, *c = NULL;
	char path[600], err[512];
	struct stat st;
	const char *ips[] = {"10.0.0.7", "::1"};
	const char *dns[] = {"chubby-7.example.com"};
	struct certgen_req req = {.kind = CERTGEN_REPLICA, .replica_id = 7, .ips = ips, .nips = 2,
	    .dns = dns, .ndns = 1, .not_before = -300, .not_after = DAY};
	char crt[600], key[600];

	fpath(path, sizeof path, "replica-2.key");
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	fpath(path, sizeof path, "replica-2.crt");
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);

	CU_ASSERT_EQUAL(certgen_inspect(path, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.kind, CERTGEN_REPLICA);
	CU_ASSERT_EQUAL(info.replica_id, 2);
	CU_ASSERT_STRING_EQUAL(info.name, "replica-2");
	CU_ASSERT_STRING_EQUAL(info.cell, "test");
	CU_ASSERT_STRING_EQUAL(info.sans, "IP:127.0.0.12, DNS:localhost");
	CU_ASSERT_STRING_EQUAL(info.usage, "serverAuth, clientAuth");
	CU_ASSERT_EQUAL(strlen(info.sha256), 95);
	CU_ASSERT_TRUE(info.not_after - info.not_before == DAY + 300);

	fpath(path, sizeof path, "ca.crt");
	CU_ASSERT_EQUAL(certgen_inspect(path, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.kind, CERTGEN_CA);
	fpath(path, sizeof path, "client-alice.crt");
	CU_ASSERT_EQUAL(certgen_inspect(path, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.kind, CERTGEN_CLIENT);
	CU_ASSERT_STRING_EQUAL(info.usage, "clientAuth");
	CU_ASSERT_STRING_EQUAL(info.sans, "");
	CU_ASSERT_EQUAL(certgen_inspect("/nonexistent.crt", &info, err, sizeof err), CHUBBY_E_IO);

	/* Signing with a CA loaded from disk; addresses and names as given. */
	fpath(crt, sizeof crt, "ca.crt");
	fpath(key, sizeof key, "ca.key");
	CU_ASSERT_EQUAL_FATAL(certgen_load(crt, key, &ca, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(certgen_cell(ca), "test");
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_OK);
	fpath(crt, sizeof crt, "replica-7.crt");
	CU_ASSERT_EQUAL(certgen_write(c, crt, NULL, 0, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(certgen_inspect(crt, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(info.sans, "IP:10.0.0.7, IP:::1, DNS:localhost, DNS:chubby-7.example.com");
	/* No silent replacement... */
	CU_ASSERT_EQUAL(certgen_write(c, crt, NULL, 0, err, sizeof err), CHUBBY_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already exists"));
	/* ...unless asked. */
	CU_ASSERT_EQUAL(certgen_write(c, crt, NULL, CERTGEN_OVERWRITE, err, sizeof err), CHUBBY_OK);
	certgen_free(c);

	/* Requests that make no sense. */
	req.replica_id = 0;
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	req.replica_id = 7;
	ips[0] = "300.1.2.3";
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "300.1.2.3"));
	ips[0] = "10.0.0.7";
	req.not_after = -400;
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	req.not_after = DAY;
	req.kind = CERTGEN_CLIENT;
	req.name = "bad/name";
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NULL(c);
	req.kind = CERTGEN_CA;
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	/* A leaf cannot sign. */
	fpath(crt, sizeof crt, "replica-2.crt");
	fpath(key, sizeof key, "replica-2.key");
	certgen_free(ca);
	CU_ASSERT_EQUAL_FATAL(certgen_load(crt, key, &ca, err, sizeof err), CHUBBY_OK);
	req.kind = CERTGEN_CLIENT;
	req.name = "bob";
	CU_ASSERT_EQUAL(certgen_issue(ca, &req, &c, err, sizeof err), CHUBBY_E_INVALID);
	certgen_free(ca);
	/* Mismatched pair. */
	fpath(key, sizeof key, "client-alice.key");
	CU_ASSERT_EQUAL(certgen_load(crt, key, &ca, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not match"));
	CU_ASSERT_EQUAL(certgen_ca("bad cell", 0, DAY, &ca, err, sizeof err), CHUBBY_E_INVALID);
}

/* Runs CMD through the shell; its exit status, or -1. */
static int
run(const char *cmd)
{
	int st = system(cmd);

	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The chubby-certs tool, if it was built beside us (make check runs tests
 * from the top of the build tree). */
static void
test_certs_tool(void)
{
	const char *tool = "tools/chubby-certs";
	char dir[600], cmd[1600], ca[700], crt[700], key[700], out[4096], err[512];
	struct tls_config cfg = {.ca_file = ca, .cert_file = crt, .key_file = key,
	    .role = TLS_ROLE_SERVER};
	struct tls_ctx *ctx;
	struct stat st;
	size_t n;
	FILE *p;

	if (access(tool, X_OK) != 0) {
		fprintf(stderr, "\n  %s not built here: skipped\n", tool);
		return;
	}
	snprintf(dir, sizeof dir, "%s/cli", harness_tmpdir());
#define Q " >/dev/null 2>&1"
	snprintf(cmd, sizeof cmd, "%s init --dir %s --cell clitest" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* The CA is never replaced by accident. */
	CU_ASSERT_EQUAL(run(cmd), 1);
	snprintf(cmd, sizeof cmd, "%s init --dir %s --cell clitest --force" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s cell --dir %s --replicas 3" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s cell --dir %s --replicas 3 --cell other" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 1);
	snprintf(cmd, sizeof cmd, "%s client --dir %s --name bob --days 3" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* Usage errors. */
	snprintf(cmd, sizeof cmd, "%s init" Q, tool);
	CU_ASSERT_EQUAL(run(cmd), 2);
	snprintf(cmd, sizeof cmd, "%s frobnicate" Q, tool);
	CU_ASSERT_EQUAL(run(cmd), 2);
	snprintf(cmd, sizeof cmd, "%s replica --dir %s --id 0" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 2);
	snprintf(cmd, sizeof cmd, "%s client --dir %s --name bob --ip 1.2.3.4" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 2);
	snprintf(cmd, sizeof cmd, "%s --version" Q, tool);
	CU_ASSERT_EQUAL(run(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s show %s/nothing.crt" Q, tool, dir);
	CU_ASSERT_EQUAL(run(cmd), 1);
#undef Q

	snprintf(key, sizeof key, "%s/client-admin.key", dir);
	CU_ASSERT_EQUAL(stat(key, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	snprintf(cmd, sizeof cmd, "%s show %s/replica-3.crt", tool, dir);
	p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	CU_ASSERT_EQUAL(pclose(p), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "replica 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "IP:127.0.0.13, DNS:localhost"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "clitest"));

	/* What the tool makes, the transport takes. */
	snprintf(ca, sizeof ca, "%s/ca.crt", dir);
	snprintf(crt, sizeof crt, "%s/replica-1.crt", dir);
	snprintf(key, sizeof key, "%s/replica-1.key", dir);
	ctx = tls_ctx_new(&cfg, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL(ctx);
	if (ctx != NULL)
		CU_ASSERT_STRING_EQUAL(tls_ctx_cell(ctx), "clitest");
	tls_ctx_free(ctx);
}

/*
 * Framed connections over TLS under a burst: many frames queued in one pass
 * of the loop reach the other end whole and in order, and come back the
 * same way.  TLS reads ahead, so several records arrive in one read(2) and
 * wait inside OpenSSL with the socket drained; conn.c must go on reading
 * them without epoll's help, or this stalls until the deadline.
 */
#define BURST_FRAMES 300

struct burst_end {
	struct world *w;
	struct conn *conn;
	int echo;
	int opened, closed;
	int frames;     /* received, in order */
	size_t bytes;
	int bad;        /* a frame out of order or altered */
};

/* Frame I: I+1 bytes up to 9000, every byte (I + offset) & 0xff. */
static size_t
burst_len(int i)
{
	return (size_t)(1 + (i * 7919) % 9000);
}

static void
burst_send(struct burst_end *e, int i)
{
	size_t len = burst_len(i);
	uint8_t *f = malloc(FRAME_HEADER_LEN + len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	frame_header_put(f, (uint32_t)len);
	for (size_t k = 0; k < len; k++)
		f[FRAME_HEADER_LEN + k] = (uint8_t)(i + k);
	CU_ASSERT_EQUAL(conn_send(e->conn, f, FRAME_HEADER_LEN + len), CHUBBY_OK);
	free(f);
}

static void
burst_on_open(struct conn *c, void *arg)
{
	struct burst_end *e = arg;

	(void)c;
	e->opened = 1;
	if (!e->echo)
		for (int i = 0; i < BURST_FRAMES; i++)
			burst_send(e, i);
	world_check(e->w);
}

static void
burst_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct burst_end *e = arg;
	int i = e->frames;

	(void)c;
	if (len != burst_len(i))
		e->bad++;
	else
		for (size_t k = 0; k < len; k++)
			if (body[k] != (uint8_t)(i + k)) {
				e->bad++;
				break;
			}
	e->frames++;
	e->bytes += len;
	if (e->echo)
		burst_send(e, i);
	world_check(e->w);
}

static void
burst_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct burst_end *e = arg;

	(void)c;
	(void)status;
	(void)reason;
	e->closed = 1;
	world_check(e->w);
}

static const struct conn_callbacks burst_cb = {
    .on_open = burst_on_open, .on_frame = burst_on_frame, .on_close = burst_on_close};

struct burst_server {
	struct tp *tp;
	struct burst_end end;
};

static void
burst_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct burst_server *s = arg;
	struct bufferevent *bev;

	(void)sa;
	(void)salen;
	if (s->end.conn != NULL || (bev = tp_accept(s->tp, evconnlistener_get_base(lev), fd)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	s->end.conn = conn_new(s->tp, bev, 1, 1 << 16, &burst_cb, &s->end);
}

static int
burst_done(void *arg)
{
	struct burst_end *c = arg;

	return c->frames == BURST_FRAMES || c->closed;
}

static void
test_conn_burst(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *cctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tp *stp, *ctp;
	struct world w;
	struct burst_server srv;
	struct burst_end cli;
	struct evconnlistener *lev;
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;
	struct bufferevent *bev;
	size_t total = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	stp = tp_tls_new(sctx);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	memset(&srv, 0, sizeof srv);
	srv.tp = stp;
	srv.end.w = &w;
	srv.end.echo = 1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lev = evconnlistener_new_bind(w.base, burst_accept, &srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin, sizeof sin);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lev);
	CU_ASSERT_EQUAL_FATAL(getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sin, &slen), 0);

	memset(&cli, 0, sizeof cli);
	cli.w = &w;
	bev = tp_connect(ctp, w.base, (struct sockaddr *)&sin, sizeof sin, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bev);
	cli.conn = conn_new(ctp, bev, 0, 1 << 16, &burst_cb, &cli);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cli.conn);

	CU_ASSERT_TRUE(world_run(&w, burst_done, &cli));
	for (int i = 0; i < BURST_FRAMES; i++)
		total += burst_len(i);
	CU_ASSERT_EQUAL(cli.closed, 0);
	CU_ASSERT_EQUAL(srv.end.frames, BURST_FRAMES);
	CU_ASSERT_EQUAL(srv.end.bad, 0);
	CU_ASSERT_EQUAL(cli.frames, BURST_FRAMES);
	CU_ASSERT_EQUAL(cli.bad, 0);
	CU_ASSERT_EQUAL(cli.bytes, total);

	conn_free(cli.conn);
	if (srv.end.conn != NULL)
		conn_free(srv.end.conn);
	evconnlistener_free(lev);
	world_free(&w);
	tp_free(stp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

/*
 * Certificate requests, revocation, reloading.
 */

/* A key of TYPE ("EC" P-256, or "RSA" of BITS) written to DIR/BASE.key. */
static EVP_PKEY *
req_key(const char *type, int bits, const char *base)
{
	EVP_PKEY *k = strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
					      : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	char path[600], name[128];
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	snprintf(name, sizeof name, "%s.key", base);
	fpath(path, sizeof path, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	chmod(path, 0600);
	return k;
}

/* Writes DIR/BASE.csr: a request for KEY with subject O, OU, CN (each may be
 * NULL), signed by SIGNER (KEY if NULL: a forged request is signed by
 * another key than the one it names). */
static void
req_write(EVP_PKEY *key, EVP_PKEY *signer, const char *o, const char *ou, const char *cn,
    const char *base)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_REQ_get_subject_name(req);
	char path[600], name[128];
	FILE *f;

	if (o != NULL)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0);
	if (ou != NULL)
		X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1,
		    0);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
		    0);
	CU_ASSERT_EQUAL(X509_REQ_set_pubkey(req, signer != NULL ? signer : key), 1);
	CU_ASSERT_TRUE(X509_REQ_sign(req, signer != NULL ? signer : key, EVP_sha256()) > 0);
	if (signer != NULL)
		CU_ASSERT_EQUAL(X509_REQ_set_pubkey(req, key), 1); /* after signing: forged */
	snprintf(name, sizeof name, "%s.csr", base);
	fpath(path, sizeof path, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(PEM_write_X509_REQ(f, req), 1);
	fclose(f);
	X509_REQ_free(req);
}

static struct certgen *
load_ca(const char *base)
{
	char crt[600], key[600], name[128], err[512];
	struct certgen *ca = NULL;

	snprintf(name, sizeof name, "%s.crt", base);
	fpath(crt, sizeof crt, name);
	snprintf(name, sizeof name, "%s.key", base);
	fpath(key, sizeof key, name);
	CU_ASSERT_EQUAL_FATAL(certgen_load(crt, key, &ca, err, sizeof err), CHUBBY_OK);
	return ca;
}

/* Signs DIR/BASE.csr as REQ says into DIR/BASE.crt; the status, and ERR. */
static int
sign_req(const struct certgen *ca, const char *base, const struct certgen_req *req, char *err,
    size_t errlen)
{
	char csr[600], crt[600], name[128];
	struct certgen *c = NULL;
	int rc;

	snprintf(name, sizeof name, "%s.csr", base);
	fpath(csr, sizeof csr, name);
	snprintf(name, sizeof name, "%s.crt", base);
	fpath(crt, sizeof crt, name);
	rc = certgen_sign_csr(ca, csr, req, &c, err, errlen);
	if (rc == CHUBBY_OK) {
		rc = certgen_write(c, crt, NULL, CERTGEN_OVERWRITE, err, errlen);
		certgen_free(c);
	}
	return rc;
}

static void
test_sign_csr(void)
{
	struct certgen *ca = load_ca("ca");
	struct certgen_req bob = {.kind = CERTGEN_CLIENT, .name = "bob", .not_before = -300,
	    .not_after = DAY};
	struct certgen_req r5 = {.kind = CERTGEN_REPLICA, .replica_id = 5, .not_before = -300,
	    .not_after = DAY};
	EVP_PKEY *k = req_key("EC", 0, "client-bob"), *other = req_key("EC", 0, "other");
	EVP_PKEY *weak = req_key("RSA", 1024, "weak");
	struct certgen_info info;
	struct tls_ctx *ctx;
	char err[512], crt[600], name[TP_NAME_MAX];

	/* The holder names bob; the request's own subject says something else,
	 * and none of it reaches the certificate. */
	req_write(k, NULL, "evil", "chubby-client", "bob-wants-this", "client-bob");
	CU_ASSERT_EQUAL(certgen_csr_name("/nonexistent.csr", name, sizeof name, err, sizeof err),
	    CHUBBY_E_IO);
	CU_ASSERT_EQUAL(sign_req(ca, "client-bob", &bob, err, sizeof err), CHUBBY_OK);
	fpath(crt, sizeof crt, "client-bob.crt");
	CU_ASSERT_EQUAL(certgen_inspect(crt, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.kind, CERTGEN_CLIENT);
	CU_ASSERT_STRING_EQUAL(info.name, "bob");
	CU_ASSERT_STRING_EQUAL(info.cell, "test");
	CU_ASSERT_STRING_EQUAL(info.problem, "");
	/* The certificate is for bob's own key: a context with it and the key
	 * he kept loads (the key must match). */
	ctx = ctx_make(TLS_ROLE_CLIENT, "client-bob");
	CU_ASSERT_PTR_NOT_NULL(ctx);
	tls_ctx_free(ctx);

	/* A request for a replica's role is refused unless the holder signs it
	 * as a replica. */
	req_write(k, NULL, "test", TLS_OU_REPLICA, "replica-5", "asks-replica");
	CU_ASSERT_EQUAL(sign_req(ca, "asks-replica", &bob, err, sizeof err), CHUBBY_E_PERMISSION);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "replica"));
	req_write(k, NULL, NULL, NULL, "replica-5", "asks-replica-cn");
	CU_ASSERT_EQUAL(sign_req(ca, "asks-replica-cn", &bob, err, sizeof err),
	    CHUBBY_E_PERMISSION);
	req_write(k, NULL, NULL, TLS_OU_CA, "x", "asks-ca");
	CU_ASSERT_EQUAL(sign_req(ca, "asks-ca", &bob, err, sizeof err), CHUBBY_E_PERMISSION);
	CU_ASSERT_EQUAL(sign_req(ca, "asks-replica", &r5, err, sizeof err), CHUBBY_OK);
	fpath(crt, sizeof crt, "asks-replica.crt");
	CU_ASSERT_EQUAL(certgen_inspect(crt, &info, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.kind, CERTGEN_REPLICA);
	CU_ASSERT_EQUAL(info.replica_id, 5);

	/* A request not signed by the key it names, and a weak key, are refused. */
	req_write(k, other, NULL, NULL, "bob", "forged");
	CU_ASSERT_EQUAL(sign_req(ca, "forged", &bob, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not signed by its own key"));
	req_write(weak, NULL, NULL, NULL, "bob", "weak");
	CU_ASSERT_EQUAL(sign_req(ca, "weak", &bob, err, sizeof err), CHUBBY_E_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too weak"));
	/* The request's CN, for when the holder names nobody. */
	fpath(crt, sizeof crt, "client-bob.csr");
	CU_ASSERT_EQUAL(certgen_csr_name(crt, name, sizeof name, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(name, "bob-wants-this");

	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(weak);
	certgen_free(ca);
}

/* A server context on replica-2 with CRL (NULL: none). */
static struct tls_config *
srv_config(struct tls_config *cfg, const char *crl)
{
	static char ca[600], crt[600], key[600], crlp[600];

	fpath(ca, sizeof ca, "ca.crt");
	fpath(crt, sizeof crt, "replica-2.crt");
	fpath(key, sizeof key, "replica-2.key");
	memset(cfg, 0, sizeof *cfg);
	cfg->ca_file = ca;
	cfg->cert_file = crt;
	cfg->key_file = key;
	cfg->role = TLS_ROLE_SERVER;
	if (crl != NULL) {
		fpath(crlp, sizeof crlp, crl);
		cfg->crl_file = crlp;
	}
	return cfg;
}

static int
refused_or_closed(void *arg)
{
	return end_closed(arg);
}

static void
test_crl_and_reload(void)
{
	struct certgen *ca = load_ca("ca"), *other = load_ca("other-ca");
	struct certgen_req carol = {.kind = CERTGEN_CLIENT, .name = "carol", .not_before = -300,
	    .not_after = DAY};
	char index[600], crl_empty[600], crl_carol[600], crl_other[600], crt[600], err[512];
	char serial[128], why[512];
	struct tls_config cfg;
	struct tls_ctx *sctx, *actx, *cctx, *bad;
	struct tp *stp, *atp, *ctp;
	struct world w;
	struct server s;
	struct end a, c, c2;

	CU_ASSERT_EQUAL_FATAL(mint(ca, &carol, "client-carol"), CHUBBY_OK);
	fpath(index, sizeof index, "revoked.txt");
	fpath(crl_empty, sizeof crl_empty, "empty.crl");
	fpath(crl_carol, sizeof crl_carol, "carol.crl");
	fpath(crl_other, sizeof crl_other, "other.crl");
	/* No index yet: an empty CRL. */
	CU_ASSERT_EQUAL(certgen_crl(ca, index, crl_empty, DAY, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(certgen_crl(other, index, crl_other, DAY, err, sizeof err), CHUBBY_OK);

	/* Revoking: only what this CA signed, and once. */
	fpath(crt, sizeof crt, "client-carol.crt");
	CU_ASSERT_EQUAL(certgen_revoke(ca, crt, index, serial, sizeof serial, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_TRUE(strlen(serial) > 8);
	CU_ASSERT_EQUAL(certgen_revoke(ca, crt, index, serial, sizeof serial, err, sizeof err),
	    CHUBBY_E_EXISTS);
	fpath(crt, sizeof crt, "client-mallory.crt");
	CU_ASSERT_EQUAL(certgen_revoke(ca, crt, index, serial, sizeof serial, err, sizeof err),
	    CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(certgen_crl(ca, index, crl_carol, DAY, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(certgen_crl(ca, index, crl_carol, 0, err, sizeof err), CHUBBY_E_INVALID);

	/* A CRL must be the cell CA's; a context whose own certificate is
	 * revoked is refused, naming the revocation. */
	bad = tls_ctx_new(srv_config(&cfg, "other.crl"), err, sizeof err);
	CU_ASSERT_PTR_NULL(bad);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not signed by the cell CA"));
	{
		char ca_f[600], crt_f[600], key_f[600];
		struct tls_config cc = {.ca_file = ca_f, .cert_file = crt_f, .key_file = key_f,
		    .crl_file = crl_carol, .role = TLS_ROLE_CLIENT};

		fpath(ca_f, sizeof ca_f, "ca.crt");
		fpath(crt_f, sizeof crt_f, "client-carol.crt");
		fpath(key_f, sizeof key_f, "client-carol.key");
		bad = tls_ctx_new(&cc, err, sizeof err);
		CU_ASSERT_PTR_NULL(bad);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "revoked"));
		tls_ctx_free(bad);
	}

	/* A CA bundle of two CAs needs a CRL from each. */
	{
		char bundle[600], both[600], line[4096];
		const char *parts[2][2] = {{"ca.crt", "other-ca.crt"}, {"empty.crl", "other.crl"}};
		const char *outs[2] = {"bundle.crt", "both.crl"};
		struct tls_config bc;

		for (int i = 0; i < 2; i++) {
			char out[600];
			FILE *o;
			fpath(out, sizeof out, outs[i]);
			o = fopen(out, "w");
			CU_ASSERT_PTR_NOT_NULL_FATAL(o);
			for (int k = 0; k < 2; k++) {
				char in[600];
				FILE *f;
				fpath(in, sizeof in, parts[i][k]);
				f = fopen(in, "r");
				CU_ASSERT_PTR_NOT_NULL_FATAL(f);
				while (fgets(line, sizeof line, f) != NULL)
					fputs(line, o);
				fclose(f);
			}
			fclose(o);
		}
		fpath(bundle, sizeof bundle, "bundle.crt");
		fpath(both, sizeof both, "both.crl");
		srv_config(&bc, "empty.crl");
		bc.ca_file = bundle;
		bad = tls_ctx_new(&bc, err, sizeof err);
		CU_ASSERT_PTR_NULL(bad);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "has no CRL from the CA"));
		bc.crl_file = both;
		bad = tls_ctx_new(&bc, err, sizeof err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
		/* Mid-way through a CA change: clients of either CA get in,
		 * each certificate checked against its own CA's CRL (the two
		 * CAs have the same name). */
		{
			char crt_m[600], key_m[600];
			struct tls_config mc = {.ca_file = bundle, .cert_file = crt_m,
			    .key_file = key_m, .crl_file = both, .role = TLS_ROLE_CLIENT};
			struct tls_ctx *mctx, *a1ctx;
			struct tp *btp, *mtp, *a1tp;
			struct end m1, a1;

			fpath(crt_m, sizeof crt_m, "client-mallory.crt");
			fpath(key_m, sizeof key_m, "client-mallory.key");
			mctx = tls_ctx_new(&mc, err, sizeof err);
			CU_ASSERT_PTR_NOT_NULL_FATAL(mctx);
			a1ctx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
			CU_ASSERT_PTR_NOT_NULL_FATAL(a1ctx);
			btp = tp_tls_new(bad);
			mtp = tp_tls_new(mctx);
			a1tp = tp_tls_new(a1ctx);
			world_init(&w);
			server_start(&s, &w, btp);
			expect_echo(&s, mtp, &m1, "other CA");
			expect_echo(&s, a1tp, &a1, "this CA");
			end_free(&m1);
			end_free(&a1);
			server_stop(&s);
			world_free(&w);
			tp_free(btp);
			tp_free(mtp);
			tp_free(a1tp);
			tls_ctx_free(mctx);
			tls_ctx_free(a1ctx);
		}
		tls_ctx_free(bad);
	}

	/* A server with the empty CRL; alice and carol connected. */
	sctx = tls_ctx_new(srv_config(&cfg, "empty.crl"), err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_TRUE(tls_ctx_has_crl(sctx));
	actx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	cctx = ctx_make(TLS_ROLE_CLIENT, "client-carol");
	CU_ASSERT_PTR_NOT_NULL_FATAL(actx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cctx);
	stp = tp_tls_new(sctx);
	atp = tp_tls_new(actx);
	ctp = tp_tls_new(cctx);
	world_init(&w);
	server_start(&s, &w, stp);
	expect_echo(&s, atp, &a, "alice 1");
	expect_echo(&s, ctp, &c, "carol 1");
	CU_ASSERT_FALSE(tp_peer_revoked(stp, s.ends[1].bev, why, sizeof why));

	/* A reload that fails changes nothing. */
	{
		struct tls_config broken;
		srv_config(&broken, "no-such.crl");
		CU_ASSERT_EQUAL(tls_ctx_reload(sctx, &broken, err, sizeof err), CHUBBY_E_IO);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "no-such.crl"));
		CU_ASSERT_FALSE(tp_peer_revoked(stp, s.ends[1].bev, why, sizeof why));
	}
	/* The reload with carol revoked: her live connection is found by its
	 * certificate, alice's is not; the connections still work until their
	 * owner closes them. */
	CU_ASSERT_EQUAL(tls_ctx_reload(sctx, srv_config(&cfg, "carol.crl"), err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_TRUE(tp_peer_revoked(stp, s.ends[1].bev, why, sizeof why));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "certificate revoked (serial "));
	CU_ASSERT_FALSE(tp_peer_revoked(stp, s.ends[0].bev, why, sizeof why));
	CU_ASSERT_FALSE(tp_peer_revoked(ctp, c.bev, why, sizeof why)); /* the client has no CRL */

	/* A new connection from carol is refused, and each side says why. */
	{
		struct pair p = {&s, &c2, s.n, NULL};
		client_start(&c2, &w, ctp, &s.addr, NULL, "carol 2");
		CU_ASSERT_TRUE(world_run(&w, pair_refused, &p));
		CU_ASSERT_PTR_NOT_NULL(strstr(s.ends[p.idx].why, "certificate revoked"));
		CU_ASSERT_PTR_NOT_NULL(strstr(c2.why, "our certificate has been revoked"));
		if (strstr(c2.why, "revoked") == NULL)
			fprintf(stderr, "\n  client said \"%s\"\n", c2.why);
		CU_ASSERT_TRUE(world_run(&w, refused_or_closed, &c2));
	}
	/* Alice still gets in with the reloaded context. */
	{
		struct end a2;
		expect_echo(&s, atp, &a2, "alice 2");
		end_free(&a2);
	}

	end_free(&a);
	end_free(&c);
	end_free(&c2);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(atp);
	tp_free(ctp);
	tls_ctx_free(sctx);
	tls_ctx_free(actx);
	tls_ctx_free(cctx);
	certgen_free(ca);
	certgen_free(other);
}

/* Reloading swaps the certificate for new connections only. */
static void
test_reload_certificate(void)
{
	struct tls_ctx *sctx = ctx_make(TLS_ROLE_SERVER, "replica-2");
	struct tls_ctx *actx = ctx_make(TLS_ROLE_CLIENT, "client-alice");
	struct tls_config cfg;
	char ca[600], crt[600], key[600], err[512];
	struct tp *stp, *atp;
	struct world w;
	struct server s;
	struct end a1, a2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(actx);
	CU_ASSERT_FALSE(tls_ctx_has_crl(sctx));
	stp = tp_tls_new(sctx);
	atp = tp_tls_new(actx);
	world_init(&w);
	server_start(&s, &w, stp);
	expect_echo(&s, atp, &a1, "before");
	CU_ASSERT_EQUAL(a1.id.replica_id, 2);

	fpath(ca, sizeof ca, "ca.crt");
	fpath(crt, sizeof crt, "replica-3.crt");
	fpath(key, sizeof key, "replica-3.key");
	memset(&cfg, 0, sizeof cfg);
	cfg.ca_file = ca;
	cfg.cert_file = crt;
	cfg.key_file = key;
	cfg.role = TLS_ROLE_CLIENT;
	CU_ASSERT_EQUAL(tls_ctx_reload(sctx, &cfg, err, sizeof err), CHUBBY_E_INVALID);
	cfg.role = TLS_ROLE_SERVER;
	CU_ASSERT_EQUAL(tls_ctx_reload(sctx, &cfg, err, sizeof err), CHUBBY_OK);
	expect_echo(&s, atp, &a2, "after");
	CU_ASSERT_EQUAL(a2.id.replica_id, 3);
	/* The connection made before still works, on the old certificate. */
	bufferevent_write(a1.bev, "!", 1);
	{
		struct pair p = {&s, &a1, 0, "before!"};
		CU_ASSERT_TRUE(world_run(&w, pair_echoed, &p));
		CU_ASSERT_STRING_EQUAL(a1.in, "before!");
	}
	end_free(&a1);
	end_free(&a2);
	server_stop(&s);
	world_free(&w);
	tp_free(stp);
	tp_free(atp);
	tls_ctx_free(sctx);
	tls_ctx_free(actx);
}

static void
test_seqkey(void)
{
	char path[600], err[512];
	uint8_t *key = NULL;
	size_t len = 0;
	struct stat st;

	fpath(path, sizeof path, "seq.key");
	CU_ASSERT_EQUAL(certgen_seqkey(path, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(seqtoken_key_load(path, &key, &len, err, sizeof err), CHUBBY_OK);
	CU_ASSERT_EQUAL(len, CERTGEN_SEQKEY_BYTES);
	free(key);
	CU_ASSERT_EQUAL(certgen_seqkey(path, err, sizeof err), CHUBBY_E_EXISTS);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"good mutual handshake, identities both ways", test_good_handshake},
	    {"client without a certificate is refused", test_no_client_cert},
	    {"expired client certificate is refused", test_expired_client_cert},
	    {"client certificate from another CA is refused", test_other_ca_client_cert},
	    {"plaintext to the TLS port fails alone", test_plaintext_to_tls_port},
	    {"a client certificate cannot pass as a replica", test_identity_kinds},
	    {"a client certificate cannot serve", test_client_cert_cannot_serve},
	    {"a proxy certificate serves, in a proxy context only", test_proxy_cert_serves},
	    {"identity rules", test_identity_rules},
	    {"context errors name the file", test_ctx_errors},
	    {"plain transport round trip", test_plain_roundtrip},
	    {"tp_write_now: at once, then the rest queued in order (plain)", test_write_now_plain},
	    {"tp_write_now: at once, then the rest queued in order (TLS)", test_write_now_tls},
	    {"tp_set_threadsafe: only before the first bufferevent", test_threadsafe_before_first},
	    {"a burst of frames over TLS arrives whole and in order", test_conn_burst},
	    {"refused connections are error events", test_connect_refused},
	    {"outgoing connections bind the source address", test_source_address},
	    {"certgen files, modes and requests", test_certgen_files},
	    {"chubby-certs tool", test_certs_tool},
	    {"certificate requests: signed as the CA holder says", test_sign_csr},
	    {"CRLs: revoking, refusing, finding live connections", test_crl_and_reload},
	    {"a reload changes the certificate of new connections only", test_reload_certificate},
	    {"sequencer keys", test_seqkey},
	    {NULL, NULL},
	};

	/* Locks for tp_set_threadsafe's bufferevents (test_write_now_*), as
	 * libchubby turns them on: before any event base is made (without
	 * them those bufferevents cannot be made, and the tests fail). */
	if (evthread_use_pthreads() != 0)
		fprintf(stderr, "test_tls: libevent has no thread support\n");
	/* After every event_base is gone, so that valgrind sees no leak. */
	atexit(libevent_global_shutdown);
	harness_suite("tls", suite_init, NULL, tests);
}
