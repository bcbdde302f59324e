/*
 * fuzz_rpc_env.c: fuzz_rpc's environment for the pure layers it drives
 * (see fuzz_rpc.h): the session layer's struct session_env and the request
 * layer's struct svc_env, over
 *
 *   a cell   whose log applies to a real namespace (ns_apply), then tells
 *            the session layer (session_applied) and answers the proposer,
 *            in that order, as replica.c's apply does.  In a one-replica
 *            cell a proposal applies within submit ("a one-replica cell
 *            chooses at once"); one made while a log entry applies waits
 *            for the outer loop, as replica.c's `stepping` makes it.  In a
 *            bigger cell (async) proposals wait until the input lets them
 *            apply.
 *   requests kept past their call on a list; every reply is encoded as
 *            rpc.c would send it and decoded again.
 *   a clock  the input advances.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "errbuf.h"
#include "frame.h"
#include "ns/ns.h"
#include "rpc/ns_wire.h"
#include "seqtoken.h"
#include "session/session.h"
#include "svc/svc.h"
#include "tests/fuzz/fuzz_rpc.h"
#include "wire.h"
#include "xmalloc.h"

bool fz_trace;
const char *const fz_principals[FZ_NPRINCIPALS] = {"alice", "bob", "admin", "carol"};

static void
fz_fail(const char *what)
{
	fprintf(stderr, "fuzz_rpc: %s\n", what);
	abort();
}

/* --- the clock ----------------------------------------------------------------- */

#define FZ_MONO0 1000000ull
#define FZ_REAL0 1700000000000ull

static uint64_t fz_mono = FZ_MONO0, fz_real = FZ_REAL0;

void
fz_clock_reset(void)
{
	fz_mono = FZ_MONO0;
	fz_real = FZ_REAL0;
}

void
fz_clock_advance(uint64_t ms)
{
	fz_mono += ms;
	fz_real += ms;
}

struct session_now
fz_now(void)
{
	struct session_now n = {.mono_ms = fz_mono, .real_ms = fz_real};

	return n;
}

/* --- requests kept past their call -------------------------------------------- */

#define FZ_REQ_MAGIC 0x52505152u
#define FZ_NSEQ 4

static struct fz_req *fz_kept;
static size_t fz_nkept;
static uint8_t *fz_seq[FZ_NSEQ];
static size_t fz_seqlen[FZ_NSEQ];

size_t
fz_outstanding(void)
{
	return fz_nkept;
}

bool
fz_sequencer(unsigned n, const uint8_t **p, size_t *len)
{
	n %= FZ_NSEQ;
	if (fz_seq[n] == NULL)
		return false;
	*p = fz_seq[n];
	*len = fz_seqlen[n];
	return true;
}

void
fz_sequencers_clear(void)
{
	for (int i = 0; i < FZ_NSEQ; i++) {
		free(fz_seq[i]);
		fz_seq[i] = NULL;
		fz_seqlen[i] = 0;
	}
}

static void
fz_remember_sequencer(const msgpack_object *result)
{
	const msgpack_object *o = result != NULL ? mp_map_get(result, "sequencer") : NULL;

	if (o == NULL || o->type != MSGPACK_OBJECT_BIN)
		return;
	free(fz_seq[FZ_NSEQ - 1]);
	memmove(&fz_seq[1], &fz_seq[0], (FZ_NSEQ - 1) * sizeof fz_seq[0]);
	memmove(&fz_seqlen[1], &fz_seqlen[0], (FZ_NSEQ - 1) * sizeof fz_seqlen[0]);
	fz_seq[0] = xmemdup(o->via.bin.ptr, o->via.bin.size);
	fz_seqlen[0] = o->via.bin.size;
}

void
fz_check_reply(uint64_t id, int status, const char *msg, const void *result, size_t len)
{
	struct wire_buf b;
	struct wire_msg m;
	msgpack_packer *pk;
	char err[256];
	size_t blen = 0;
	int rc;

	if (fz_trace)
		fprintf(stderr, "  reply %llu: %s%s%s (%zu result bytes)\n", (unsigned long long)id,
		    chubby_status_name(status), msg != NULL ? ": " : "", msg != NULL ? msg : "", len);
	if (status < 0 || strcmp(chubby_status_name(status), "E_UNKNOWN") == 0)
		fz_fail("a reply with a status that is not a chubby_status");
	wire_buf_init(&b, 0);
	if (status != CHUBBY_OK) {
		/* rpc_reply_error_result */
		pk = wire_begin_res(&b, id, status, msg != NULL ? msg : chubby_strerror(status));
		if (result != NULL && len > 0)
			wire_pack_raw(pk, result, len);
		else
			msgpack_pack_nil(pk);
	} else {
		/* rpc_req_reply and rpc_handle_req */
		pk = wire_begin_res(&b, id, CHUBBY_OK, NULL);
		if (result != NULL)
			wire_pack_raw(pk, result, len);
		else
			msgpack_pack_nil(pk);
	}
	rc = wire_finish(&b);
	if (rc == CHUBBY_E_FRAME_TOO_BIG && status == CHUBBY_OK) {
		/* rpc.c answers E_FRAME_TOO_BIG instead. */
		wire_buf_free(&b);
		return;
	}
	if (rc != CHUBBY_OK) {
		fprintf(stderr, "fuzz_rpc: reply to request %llu (status %s, %zu result bytes) does "
				"not encode: %s\n",
		    (unsigned long long)id, chubby_status_name(status), len, chubby_status_name(rc));
		abort();
	}
	if (frame_header_parse(b.data, b.len, FRAME_MAX_DEFAULT, &blen) != CHUBBY_OK ||
	    blen + FRAME_HEADER_LEN != b.len)
		fz_fail("a reply's frame header is wrong");
	if (wire_decode(b.data + FRAME_HEADER_LEN, blen, &m, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "fuzz_rpc: a reply does not decode: %s\n", err);
		abort();
	}
	if (m.kind != PROTO_KIND_RES || m.res.id != id || m.res.status != status)
		fz_fail("a reply decodes to another envelope");
	if (status == CHUBBY_OK)
		fz_remember_sequencer(m.res.result);
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* Keeps REQ past its call (rpc_req_defer). */
static struct fz_req *
fz_keep(struct fz_req *req)
{
	struct fz_req *q = xmemdup(req, sizeof *req);

	if (req->magic == FZ_REQ_MAGIC)
		fz_fail("a kept request kept again");
	if (req->answered)
		fz_fail("a request kept after it was answered");
	req->kept = true;
	q->magic = FZ_REQ_MAGIC;
	q->prev = NULL;
	q->next = fz_kept;
	if (fz_kept != NULL)
		fz_kept->prev = q;
	fz_kept = q;
	fz_nkept++;
	return q;
}

/* Answers a kept request (rpc_req_reply). */
static void
fz_reply_kept(struct fz_req *q, int status, const char *msg, const void *result, size_t len)
{
	if (q == NULL || q->magic != FZ_REQ_MAGIC)
		fz_fail("a later answer to a request that was not kept");
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		fz_kept = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	fz_nkept--;
	q->magic = 0;
	fz_check_reply(q->id, status, msg, result, len);
	free(q);
}

/* --- the cell ------------------------------------------------------------------- */

static void
fz_entry_free(struct fz_entry *e)
{
	free(e->cmd);
	free(e);
}

bool
fz_cell_is_master(const struct fz_cell *c)
{
	return c->role_master && c->lease;
}

void
fz_cell_pump(struct fz_cell *c, size_t n)
{
	if (c->stepping)
		return;
	c->stepping = 1;
	while (c->head != NULL && n > 0) {
		struct fz_entry *e = c->head;
		struct ns_result res;
		int rc;

		if ((c->head = e->next) == NULL)
			c->tail = NULL;
		c->nqueued--;
		if (n != SIZE_MAX)
			n--;
		ns_result_init(&res);
		rc = ns_apply(c->ns, e->cmd, e->len, &res);
		if (rc != res.status)
			fz_fail("ns_apply's return differs from res.status");
		session_applied(c->sm, fz_now(), e->cmd, e->len, &res);
		if (e->done != NULL)
			e->done(rc, &res, e->arg);
		ns_result_free(&res);
		fz_entry_free(e);
	}
	c->stepping = 0;
}

void
fz_cell_set_lease(struct fz_cell *c, bool held)
{
	c->lease = held && c->role_master;
}

static void
fz_cell_fail_pending(struct fz_cell *c, int status)
{
	/* Marked first: a callback may propose again (it gets E_NOT_MASTER
	 * or a new entry, which is not failed here). */
	struct fz_entry *mark = c->tail;

	for (struct fz_entry *e = c->head; e != NULL; e = e->next) {
		if (e->done != NULL) {
			session_done_fn done = e->done;
			e->done = NULL;
			done(status, NULL, e->arg);
		}
		if (e == mark)
			break;
	}
}

void
fz_cell_role_change(struct fz_cell *c, bool new_epoch)
{
	bool was = c->role_master;

	if (new_epoch) {
		c->epoch++;
		c->role_master = c->lease = true;
		c->master = 1;
	} else {
		c->role_master = c->lease = false;
		c->master = 2; /* another replica won */
	}
	if (was)
		fz_cell_fail_pending(c, CHUBBY_E_NOT_MASTER);
}

void
fz_cell_drop_orphans(struct fz_cell *c)
{
	struct fz_entry **ep = &c->head;

	c->tail = NULL;
	while (*ep != NULL) {
		struct fz_entry *e = *ep;
		if (e->done == NULL) {
			*ep = e->next;
			c->nqueued--;
			fz_entry_free(e);
		} else {
			c->tail = e;
			ep = &e->next;
		}
	}
}

void
fz_cell_hold(struct fz_cell *c, bool hold)
{
	c->hold = hold;
	if (!hold && !c->async)
		fz_cell_pump(c, SIZE_MAX);
}

/* --- the session layer's environment (session_shell.c's, for this cell) ---------- */

static int
sess_submit(void *arg, const uint8_t *cmd, size_t len, session_done_fn done, void *done_arg)
{
	struct fz_cell *c = arg;
	struct fz_entry *e;

	if (!fz_cell_is_master(c))
		return CHUBBY_E_NOT_MASTER;
	if (c->nqueued >= FZ_QUEUE_MAX)
		return CHUBBY_E_OVERLOAD;
	e = xcalloc(1, sizeof *e);
	e->cmd = xmemdup(cmd, len);
	e->len = len;
	e->done = done;
	e->arg = done_arg;
	if (c->tail != NULL)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->nqueued++;
	if (!c->async && !c->hold)
		fz_cell_pump(c, SIZE_MAX); /* does nothing while stepping */
	return CHUBBY_OK;
}

static void
sess_reply(void *arg, void *req, int status, const char *msg, const void *result, size_t len)
{
	(void)arg;
	fz_reply_kept(req, status, msg, result, len);
}

static bool
sess_mastership(void *arg, uint64_t *epoch)
{
	struct fz_cell *c = arg;

	*epoch = c->epoch;
	return fz_cell_is_master(c);
}

static const struct ns *
sess_ns(void *arg)
{
	struct fz_cell *c = arg;

	return c->ns;
}

static int
sess_sign(void *arg, const struct seqtoken *t, uint8_t **tok, size_t *toklen)
{
	struct fz_cell *c = arg;

	return seqtoken_encode(c->key, c->keylen, t, tok, toklen);
}

static void
sess_log(void *arg, int level, const char *line)
{
	(void)arg;
	(void)level;
	if (fz_trace)
		fprintf(stderr, "  log: %s\n", line);
}

/* --- the request layer's environment (rpc_ns.c's, for this cell) ----------------- */

static void *
svc_defer(void *arg, void *req)
{
	(void)arg;
	return fz_keep(req);
}

/* rpc.c's rpc_not_master, for replica 1 of this cell. */
static void
fz_not_master(const struct fz_cell *c, msgpack_packer *pk, char *msg, size_t msglen)
{
	unsigned m = c->master == 1 && !fz_cell_is_master(c) ? 0 : c->master;
	const struct cell_replica *mr = m ? config_replica(c->cfg, m) : NULL;
	bool other = mr != NULL && m != 1;

	msgpack_pack_map(pk, 3);
	mp_pack_kv_uint(pk, "master", other ? m : 0);
	mp_pack_kv_str(pk, "address", other ? mr->client_addr : NULL);
	mp_pack_kv_uint(pk, "epoch", c->epoch);
	if (other)
		errbuf_set(msg, msglen, "replica 1 is not the master; the master is replica %u at %s",
		    m, mr->client_addr);
	else
		errbuf_set(msg, msglen, "replica 1 is not the master and knows of none");
}

static void
svc_reply(void *arg, void *req, bool deferred, int status, const char *msg,
    const struct svc_result *r)
{
	struct fz_cell *c = arg;
	struct fz_req *q = req;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char m[256];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (r->kind == SVC_RES_NOT_MASTER && status == CHUBBY_E_NOT_MASTER) {
		fz_not_master(c, &pk, m, sizeof m);
		msg = m;
	} else {
		ns_wire_pack_result(&pk, status, r);
	}
	if (status == CHUBBY_OK && sb.size == 0)
		fz_fail("a successful answer without a result value");
	if (deferred) {
		fz_reply_kept(q, status, msg, sb.data, sb.size);
	} else {
		if (q->magic == FZ_REQ_MAGIC || q->answered)
			fz_fail("an answer within the call to a request kept or answered");
		q->answered = true;
		fz_check_reply(q->id, status, msg, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
}

bool
fz_call(struct fz_cell *c, uint64_t id, unsigned principal, uint32_t op,
    const msgpack_object *args)
{
	struct fz_req req = {.id = id, .principal = principal};
	enum svc_op sop = ns_wire_op(op);
	struct ns_wire_args w;
	char msg[256] = "";
	int rc;

	if (sop == 0)
		return false;
	rc = ns_wire_decode(sop, args, c->key, c->keylen, &w, msg, sizeof msg);
	if (memchr(msg, '\0', sizeof msg) == NULL)
		abort();
	if (rc != CHUBBY_OK)
		fz_check_reply(id, rc, msg[0] ? msg : NULL, NULL, 0);
	else
		svc_call(c->svc, fz_now(), &req, fz_principals[principal % FZ_NPRINCIPALS], sop,
		    &w.a);
	ns_wire_args_free(&w);
	/* Answered within the call, or kept (and perhaps answered already). */
	if (rc == CHUBBY_OK && !req.answered && !req.kept)
		fz_fail("a request neither answered nor kept");
	if (req.answered && req.kept)
		fz_fail("a request both answered within its call and kept");
	return true;
}


void
fz_cell_init(struct fz_cell *c, const struct cell_config *cfg, const uint8_t *key, size_t keylen)
{
	struct ns_config nc = {
	    .cell = cfg->cell,
	    .superuser = cfg->superuser,
	    .acl_dir = cfg->acl_dir,
	    .max_contents = (size_t)cfg->max_contents,
	    .lock_delay_default_ms = cfg->lock_delay_ms,
	    .lock_delay_max_ms = cfg->lock_delay_max_ms,
	    .lock_delay_given = true,
	    .max_sessions = cfg->max_sessions,
	    .max_handles = cfg->max_handles_per_session,
	};
	char *admins = config_admins_lines(cfg->acl_admins);
	struct session_config scfg = {
	    .lease_ms = cfg->session_lease_ms,
	    .lease_max_ms = cfg->session_lease_max_ms,
	    .overload_queue = cfg->overload_queue,
	    .overload_keepalive_rate = cfg->overload_keepalive_rate,
	    .overload_cpu = cfg->overload_cpu,
	    .overload_loop_lag_ms = cfg->overload_loop_lag_ms,
	    .overload_session_starts = cfg->overload_session_starts,
	    .cell = cfg->cell,
	    .init_acls = true,
	    .root_acl = {cfg->root_acl_read, cfg->root_acl_write, cfg->root_acl_change},
	    .acl_admins = admins,
	    .proxy_claim_window_ms = 5000, /* windows that end within a run */
	};
	struct session_env senv = {
	    .arg = c,
	    .submit = sess_submit,
	    .reply = sess_reply,
	    .mastership = sess_mastership,
	    .ns = sess_ns,
	    .sign = sess_sign,
	    .log = sess_log,
	};
	size_t frame = cfg->max_frame < FRAME_MAX_DEFAULT ? cfg->max_frame : FRAME_MAX_DEFAULT;
	struct svc_config vcfg = {
	    .cell = cfg->cell,
	    .superuser = cfg->superuser,
	    .max_contents = cfg->max_contents,
	    .page_bytes = frame - 1024,
	    .lock_records = cfg->lock_records != 0, /* as chubbyd (rpc_ns.c) */
	    .handles_in_memory = true, /* the new path fuzzed too */
	    .max_handles = cfg->max_handles_per_session,
	    /* carol is a trusted proxy: proxy sessions, client tags, CLIENT_END
	     * and CLAIM fuzzed too (docs/PROTOCOL.md "Proxies"). */
	    .proxies = "carol",
	};
	struct svc_env venv = {.arg = c, .defer = svc_defer, .reply = svc_reply};

	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	c->key = key;
	c->keylen = keylen;
	if ((c->ns = ns_new(&nc)) == NULL)
		fz_fail("ns_new refused the config");
	c->role_master = c->lease = true;
	c->epoch = 1;
	c->master = 1;
	c->sm = session_new(&scfg, &senv);
	c->svc = svc_new(&vcfg, &venv, c->sm);
	free(admins);
}

void
fz_cell_free(struct fz_cell *c)
{
	/* replica_free: pending proposals fail first, then the log goes.
	 * No longer master, so that the callbacks cannot propose more. */
	c->role_master = c->lease = false;
	for (struct fz_entry *e = c->head; e != NULL; e = e->next)
		if (e->done != NULL) {
			session_done_fn done = e->done;
			e->done = NULL;
			done(CHUBBY_E_UNAVAILABLE, NULL, e->arg);
		}
	while (c->head != NULL) {
		struct fz_entry *e = c->head;
		c->head = e->next;
		fz_entry_free(e);
	}
	c->tail = NULL;
	c->nqueued = 0;
	session_free(c->sm);
	svc_free(c->svc);
	ns_free(c->ns);
}
