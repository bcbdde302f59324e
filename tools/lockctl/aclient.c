/* aclient.c: lockctl's synchronous admin connection over mutual TLS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "conn.h"
#include "frame.h"
#include "locate.h"
#include "mp.h"
#include "net.h"
#include "protocol.h"
#include "tls.h"
#include "tp.h"

struct aclient {
	struct event_base *base;
	struct tls_ctx *tls;
	struct tp *tp;
	struct conn *conn;
	struct event *deadline;
	unsigned timeout_ms;
	char addr[CELLSPEC_ADDR_MAX];
	int open, closed, timed_out;
	int close_status;
	char close_reason[600];
	uint64_t next_id;
	struct wire_buf out;
	/* What the loop is waiting for. */
	uint64_t want_id;          /* one reply (aclient_call) */
	struct wire_msg *want_res;
	int got;
	/* Pipelined replies. */
	uint64_t first_id, last_id;
	unsigned outstanding, answered, ok;
	int first_status; /* the first failed answer's status and message */
	char first_err[300];
	double *sent_at, *lat;
};

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
ac_on_open(struct conn *c, void *arg)
{
	struct aclient *ac = arg;

	(void)c;
	ac->open = 1;
	event_base_loopbreak(ac->base);
}

static void
ac_on_frame(struct conn *c, const uint8_t *body, size_t len, void *arg)
{
	struct aclient *ac = arg;
	struct wire_msg m;
	char err[256];

	(void)c;
	if (wire_decode(body, len, &m, err, sizeof err) != CHUBBY_OK) {
		ac->closed = 1;
		ac->close_status = CHUBBY_E_MALFORMED;
		snprintf(ac->close_reason, sizeof ac->close_reason, "bad reply: %s", err);
		event_base_loopbreak(ac->base);
		return;
	}
	if (m.kind == PROTO_KIND_RES && m.res.id == 0) {
		/* The server gave up on the connection. */
		ac->closed = 1;
		ac->close_status = m.res.status;
		snprintf(ac->close_reason, sizeof ac->close_reason, "%.*s", (int)m.res.message.len,
		    m.res.message.ptr ? m.res.message.ptr : "");
		wire_msg_free(&m);
		event_base_loopbreak(ac->base);
		return;
	}
	if (m.kind == PROTO_KIND_RES && ac->want_res != NULL && m.res.id == ac->want_id) {
		*ac->want_res = m;
		ac->got = 1;
		event_base_loopbreak(ac->base);
		return;
	}
	if (m.kind == PROTO_KIND_RES && ac->sent_at != NULL && m.res.id >= ac->first_id &&
	    m.res.id <= ac->last_id) {
		unsigned i = (unsigned)(m.res.id - ac->first_id);
		if (ac->lat != NULL)
			ac->lat[i] = now_ms() - ac->sent_at[i];
		ac->answered++;
		ac->outstanding--;
		if (m.res.status == CHUBBY_OK)
			ac->ok++;
		else if (ac->first_status == 0) {
			ac->first_status = m.res.status;
			snprintf(ac->first_err, sizeof ac->first_err, "%s: %.*s",
			    chubby_status_name(m.res.status), (int)m.res.message.len,
			    m.res.message.ptr ? m.res.message.ptr : "");
		}
		event_base_loopbreak(ac->base);
	}
	wire_msg_free(&m);
}

static void
ac_on_close(struct conn *c, int status, const char *reason, void *arg)
{
	struct aclient *ac = arg;

	(void)c;
	if (!ac->closed) {
		ac->closed = 1;
		/* conn's kinds (tp_error) to lockctl's: a certificate refused
		 * for good is E_TLS (exit 2: the files are the user's to fix);
		 * a TLS failure that may pass is a replica not reached. */
		ac->close_status = status == CHUBBY_E_AUTH ? CHUBBY_E_TLS
		    : status == CHUBBY_E_TLS              ? CHUBBY_E_CONN
							  : status;
		snprintf(ac->close_reason, sizeof ac->close_reason, "%s", reason);
	}
	event_base_loopbreak(ac->base);
}

static const struct conn_callbacks ac_cb = {
    .on_open = ac_on_open,
    .on_frame = ac_on_frame,
    .on_close = ac_on_close,
};

static void
ac_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct aclient *ac = arg;

	(void)fd;
	(void)what;
	ac->timed_out = 1;
	event_base_loopbreak(ac->base);
}

/* Runs the loop until COND holds, the connection closes, or the deadline. */
#define AC_WAIT(ac, cond)                                                                       \
	do {                                                                                    \
		struct timeval tv_ = {(ac)->timeout_ms / 1000, ((ac)->timeout_ms % 1000) * 1000}; \
		(ac)->timed_out = 0;                                                            \
		evtimer_add((ac)->deadline, &tv_);                                              \
		while (!(cond) && !(ac)->closed && !(ac)->timed_out)                            \
			event_base_loop((ac)->base, EVLOOP_ONCE);                               \
		evtimer_del((ac)->deadline);                                                    \
	} while (0)

static int
ac_fail(struct aclient *ac, char *err, size_t errlen)
{
	if (ac->timed_out) {
		snprintf(err, errlen, "%s: no answer within %u ms", ac->addr, ac->timeout_ms);
		return CHUBBY_E_TIMEOUT;
	}
	snprintf(err, errlen, "%s: %s", ac->addr, ac->close_reason);
	return ac->close_status ? ac->close_status : CHUBBY_E_CONN;
}

int
aclient_open(const struct cellspec *spec, const char *addr, unsigned timeout_ms,
    struct aclient **out, char *err, size_t errlen)
{
	struct tls_config tc = {
	    .ca_file = spec->ca, .cert_file = spec->cert, .key_file = spec->key, .role = TLS_ROLE_CLIENT,
	    .crl_file = spec->crl};
	struct aclient *ac = calloc(1, sizeof *ac);
	struct sockaddr_storage ss;
	struct bufferevent *bev;
	int sslen, rc;

	if (ac == NULL)
		return CHUBBY_E_NOMEM;
	*out = NULL;
	snprintf(ac->addr, sizeof ac->addr, "%s", addr);
	ac->timeout_ms = timeout_ms;
	ac->next_id = 1;
	wire_buf_init(&ac->out, FRAME_MAX_DEFAULT);
	ac->base = tp_event_base_new();
	if (ac->base == NULL) {
		aclient_close(ac);
		return CHUBBY_E_NOMEM;
	}
	ac->deadline = evtimer_new(ac->base, ac_deadline_cb, ac);
	ac->tls = tls_ctx_new(&tc, err, errlen);
	if (ac->tls == NULL) {
		aclient_close(ac);
		return CHUBBY_E_TLS;
	}
	ac->tp = tp_tls_new(ac->tls);
	if ((rc = net_resolve(addr, &ss, &sslen, err, errlen)) != CHUBBY_OK) {
		aclient_close(ac);
		return rc;
	}
	bev = tp_connect(ac->tp, ac->base, (struct sockaddr *)&ss, sslen, NULL, 0);
	if (bev == NULL) {
		snprintf(err, errlen, "%s: cannot connect", addr);
		aclient_close(ac);
		return CHUBBY_E_CONN;
	}
	ac->conn = conn_new(ac->tp, bev, 0, FRAME_MAX_DEFAULT * 2, &ac_cb, ac);
	if (ac->conn == NULL) {
		aclient_close(ac);
		return CHUBBY_E_NOMEM;
	}
	AC_WAIT(ac, ac->open);
	if (!ac->open) {
		rc = ac_fail(ac, err, errlen);
		aclient_close(ac);
		return rc;
	}
	/* HELLO; the WELCOME that answers it is read and ignored with any
	 * frame that is not a reply we wait for. */
	wire_buf_reset(&ac->out);
	if (wire_put_hello(&ac->out, PROTO_VERSION, "lockctl") != CHUBBY_OK ||
	    conn_send(ac->conn, ac->out.data, ac->out.len) != CHUBBY_OK) {
		snprintf(err, errlen, "%s: cannot send HELLO", addr);
		aclient_close(ac);
		return CHUBBY_E_CONN;
	}
	*out = ac;
	return CHUBBY_OK;
}

void
aclient_close(struct aclient *ac)
{
	if (ac == NULL)
		return;
	if (ac->conn != NULL)
		conn_free(ac->conn);
	if (ac->deadline != NULL)
		event_free(ac->deadline);
	tp_event_base_free(ac->base); /* releases the connection's bufferevent (tp.h) */
	tp_free(ac->tp);
	tls_ctx_free(ac->tls);
	wire_buf_free(&ac->out);
	free(ac);
}

const char *
aclient_addr(const struct aclient *ac)
{
	return ac->addr;
}

static int
ac_send_req(struct aclient *ac, uint64_t id, uint32_t op, const void *args, size_t argslen)
{
	msgpack_packer *pk;

	wire_buf_reset(&ac->out);
	pk = wire_begin_req(&ac->out, id, op);
	if (args != NULL)
		wire_pack_raw(pk, args, argslen);
	else
		msgpack_pack_nil(pk);
	if (wire_finish(&ac->out) != CHUBBY_OK)
		return CHUBBY_E_INVALID;
	return conn_send(ac->conn, ac->out.data, ac->out.len);
}

int
aclient_call(struct aclient *ac, uint32_t op, const void *args, size_t argslen,
    struct wire_msg *res, char *err, size_t errlen)
{
	uint64_t id = ac->next_id++;
	int rc;

	if (ac->closed)
		return ac_fail(ac, err, errlen);
	if ((rc = ac_send_req(ac, id, op, args, argslen)) != CHUBBY_OK) {
		snprintf(err, errlen, "%s: cannot send the request", ac->addr);
		return rc;
	}
	ac->want_id = id;
	ac->want_res = res;
	ac->got = 0;
	AC_WAIT(ac, ac->got);
	ac->want_res = NULL;
	if (!ac->got)
		return ac_fail(ac, err, errlen);
	return CHUBBY_OK;
}

int
aclient_pipeline(struct aclient *ac, uint32_t op, unsigned n, unsigned window, unsigned *ok,
    double *lat_ms, char *err, size_t errlen)
{
	unsigned sent = 0;
	int rc = CHUBBY_OK;

	ac->sent_at = calloc(n ? n : 1, sizeof *ac->sent_at);
	if (ac->sent_at == NULL)
		return CHUBBY_E_NOMEM;
	ac->lat = lat_ms;
	ac->first_id = ac->next_id;
	ac->last_id = ac->next_id + n - 1;
	ac->next_id += n;
	ac->outstanding = ac->answered = ac->ok = 0;
	ac->first_status = 0;
	while (ac->answered < n) {
		while (sent < n && ac->outstanding < window) {
			ac->sent_at[sent] = now_ms();
			if (ac_send_req(ac, ac->first_id + sent, op, NULL, 0) != CHUBBY_OK) {
				rc = ac_fail(ac, err, errlen);
				goto out;
			}
			sent++;
			ac->outstanding++;
		}
		unsigned before = ac->answered;
		AC_WAIT(ac, ac->answered > before);
		if (ac->answered == before) {
			rc = ac_fail(ac, err, errlen);
			goto out;
		}
	}
out:
	*ok = ac->ok;
	if (rc == CHUBBY_OK && ac->first_status != 0) {
		snprintf(err, errlen, "%s", ac->first_err);
		rc = ac->first_status;
	}
	free(ac->sent_at);
	ac->sent_at = NULL;
	ac->lat = NULL;
	return rc;
}

int
aclient_open_master(const struct cellspec *spec, unsigned timeout_ms, struct aclient **out,
    char *err, size_t errlen)
{
	char master[CELLSPEC_ADDR_MAX];
	int rc;

	/* Hedged, in parallel (locate.h): a hung replica costs one hedge. */
	if ((rc = locate_master(spec, timeout_ms, master, err, errlen)) != CHUBBY_OK)
		return rc;
	return aclient_open(spec, master, timeout_ms, out, err, errlen);
}
