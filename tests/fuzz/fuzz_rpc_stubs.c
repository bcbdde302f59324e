/*
 * fuzz_rpc_stubs.c: link-time stand-ins for what server/rpc/rpc_ns.c and
 * server/session/session.c call into, so that fuzz_rpc (and its smoke test)
 * run them in-process without replica.c, rpc.c, the peers, the store or
 * libevent.  The session layer itself is pure and needs none of them: it
 * reaches these through the daemon's shell (server/session_shell.c), which
 * the fuzzer links as chubbyd does.
 *
 *   replica_*  a cell whose log applies to a real namespace (ns_apply), then
 *              tells its observer (the session layer, through the shell)
 *              and answers the proposer, in that order, as replica.c's
 *              apply does.  In a
 *              one-replica cell a proposal applies within replica_submit
 *              (replica.c: "a one-replica cell chooses at once"); one made
 *              while a log entry applies waits for the outer loop, as
 *              replica.c's `stepping` makes it.  In a bigger cell (async)
 *              proposals wait until the input lets them apply.
 *   rpc_*      deferred requests kept on a list; every reply is encoded as
 *              rpc.c would send it and decoded again.
 *   clock_*    a fake clock the input advances (clock.c is not linked:
 *              these definitions come first).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "chubbyd.h"
#include "clock.h"
#include "frame.h"
#include "ns/ns.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "tests/fuzz/fuzz_rpc.h"
#include "wire.h"
#include "xmalloc.h"

bool fz_trace;
void (*fz_reply_hook)(uint64_t id, int status, const void *result, size_t len);
const char *const fz_principals[FZ_NPRINCIPALS] = {"alice", "bob", "admin", "carol"};

static void
fz_fail(const char *what)
{
	fprintf(stderr, "fuzz_rpc: %s\n", what);
	abort();
}

/* --- clocks ------------------------------------------------------------------ */

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

uint64_t
clock_mono_ms(void)
{
	return fz_mono;
}

uint64_t
clock_real_ms(void)
{
	return fz_real;
}

/* --- the replica ------------------------------------------------------------- */

/* Proposals the paxos core queues before it says E_OVERLOAD. */
#define FZ_QUEUE_MAX 48

struct fz_entry {
	uint8_t *cmd;
	size_t len;
	replica_done_fn done; /* NULL: nobody waits (failed at a role change) */
	void *arg;
	struct fz_entry *next;
};

struct replica {
	struct chubbyd *d;
	struct replica_observer obs;
	struct ns *ns;
	bool role_master; /* this replica is the master of EPOCH */
	bool lease;       /* ... and holds its lease */
	uint64_t epoch;
	unsigned master; /* as this replica knows it; 0: unknown */
	bool async;
	bool hold;
	int stepping;
	struct fz_entry *head, *tail;
	size_t nqueued;
};

struct replica *
fz_replica_new(struct chubbyd *d)
{
	const struct cell_config *c = d->cfg;
	struct ns_config nc = {
	    .cell = c->cell,
	    .superuser = c->superuser,
	    .acl_dir = c->acl_dir,
	    .max_contents = (size_t)c->max_contents,
	    .lock_delay_default_ms = c->lock_delay_ms,
	    .lock_delay_max_ms = c->lock_delay_max_ms,
	    .lock_delay_given = true,
	    .max_sessions = c->max_sessions,
	    .max_handles = c->max_handles_per_session,
	};
	struct replica *r = xcalloc(1, sizeof *r);

	r->d = d;
	if ((r->ns = ns_new(&nc)) == NULL)
		fz_fail("ns_new refused the config");
	r->role_master = r->lease = true;
	r->epoch = 1;
	r->master = d->id;
	return r;
}

static void
fz_entry_free(struct fz_entry *e)
{
	free(e->cmd);
	free(e);
}

void
fz_replica_free(struct replica *r)
{
	/* replica_free: pending proposals fail first, then the log goes.
	 * No longer master, so that the callbacks cannot propose more. */
	r->role_master = r->lease = false;
	for (struct fz_entry *e = r->head; e != NULL; e = e->next)
		if (e->done != NULL) {
			replica_done_fn done = e->done;
			e->done = NULL;
			done(CHUBBY_E_UNAVAILABLE, NULL, e->arg);
		}
	while (r->head != NULL) {
		struct fz_entry *e = r->head;
		r->head = e->next;
		fz_entry_free(e);
	}
	ns_free(r->ns);
	free(r);
}

void
fz_replica_set_async(struct replica *r, bool async)
{
	r->async = async;
}

void
fz_replica_pump(struct replica *r, size_t n)
{
	if (r->stepping)
		return;
	r->stepping = 1;
	while (r->head != NULL && n > 0) {
		struct fz_entry *e = r->head;
		struct ns_result res;
		int rc;

		if ((r->head = e->next) == NULL)
			r->tail = NULL;
		r->nqueued--;
		if (n != SIZE_MAX)
			n--;
		ns_result_init(&res);
		rc = ns_apply(r->ns, e->cmd, e->len, &res);
		if (rc != res.status)
			fz_fail("ns_apply's return differs from res.status");
		if (r->obs.on_applied != NULL)
			r->obs.on_applied(r->obs.arg, e->cmd, e->len, &res);
		if (e->done != NULL)
			e->done(rc, &res, e->arg);
		ns_result_free(&res);
		fz_entry_free(e);
	}
	r->stepping = 0;
}

void
fz_replica_set_lease(struct replica *r, bool held)
{
	r->lease = held && r->role_master;
}

static void
fz_replica_fail_pending(struct replica *r, int status)
{
	/* Marked first: a callback may propose again (it gets E_NOT_MASTER
	 * or a new entry, which is not failed here). */
	struct fz_entry *mark = r->tail;

	for (struct fz_entry *e = r->head; e != NULL; e = e->next) {
		if (e->done != NULL) {
			replica_done_fn done = e->done;
			e->done = NULL;
			done(status, NULL, e->arg);
		}
		if (e == mark)
			break;
	}
}

void
fz_replica_role_change(struct replica *r, bool new_epoch)
{
	bool was = r->role_master;

	if (new_epoch) {
		r->epoch++;
		r->role_master = r->lease = true;
		r->master = r->d->id;
	} else {
		r->role_master = r->lease = false;
		r->master = 2; /* another replica won */
	}
	if (was)
		fz_replica_fail_pending(r, CHUBBY_E_NOT_MASTER);
}

void
fz_replica_drop_orphans(struct replica *r)
{
	struct fz_entry **ep = &r->head;

	r->tail = NULL;
	while (*ep != NULL) {
		struct fz_entry *e = *ep;
		if (e->done == NULL) {
			*ep = e->next;
			r->nqueued--;
			fz_entry_free(e);
		} else {
			r->tail = e;
			ep = &e->next;
		}
	}
}

void
fz_replica_hold(struct replica *r, bool hold)
{
	r->hold = hold;
	if (!hold && !r->async)
		fz_replica_pump(r, SIZE_MAX);
}

bool
fz_replica_master(const struct replica *r)
{
	return r->role_master && r->lease;
}

int
replica_submit(struct replica *r, const uint8_t *cmd, size_t len, replica_done_fn done, void *arg)
{
	struct fz_entry *e;

	if (!replica_is_master(r))
		return CHUBBY_E_NOT_MASTER;
	if (r->nqueued >= FZ_QUEUE_MAX)
		return CHUBBY_E_OVERLOAD;
	e = xcalloc(1, sizeof *e);
	e->cmd = xmemdup(cmd, len);
	e->len = len;
	e->done = done;
	e->arg = arg;
	if (r->tail != NULL)
		r->tail->next = e;
	else
		r->head = e;
	r->tail = e;
	r->nqueued++;
	if (!r->async && !r->hold)
		fz_replica_pump(r, SIZE_MAX); /* does nothing while stepping */
	return CHUBBY_OK;
}

void
replica_observe(struct replica *r, const struct replica_observer *obs)
{
	r->obs = *obs;
}

const struct ns *
replica_ns(const struct replica *r)
{
	return r->ns;
}

bool
replica_is_master(const struct replica *r)
{
	return r->role_master && r->lease;
}

unsigned
replica_master(const struct replica *r)
{
	if (r->master == r->d->id && !replica_is_master(r))
		return 0;
	return r->master;
}

uint64_t
replica_epoch(const struct replica *r)
{
	return r->epoch;
}

/* --- the RPC layer ------------------------------------------------------------ */

#define FZ_REQ_MAGIC 0x52505152u
#define FZ_NSEQ 4

static struct rpc_req *fz_deferred;
static size_t fz_ndeferred;
static uint8_t *fz_seq[FZ_NSEQ];
static size_t fz_seqlen[FZ_NSEQ];

size_t
fz_outstanding(void)
{
	return fz_ndeferred;
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
	if (fz_reply_hook != NULL)
		fz_reply_hook(id, status, result, len);
}

struct rpc_req *
rpc_req_defer(struct rpc_req *req)
{
	struct rpc_req *q = xmemdup(req, sizeof *req);

	if (req->magic == FZ_REQ_MAGIC)
		fz_fail("a deferred request deferred again");
	q->magic = FZ_REQ_MAGIC;
	q->prev = NULL;
	q->next = fz_deferred;
	if (fz_deferred != NULL)
		fz_deferred->prev = q;
	fz_deferred = q;
	fz_ndeferred++;
	return q;
}

void
rpc_req_reply(struct rpc_req *q, int status, const char *msg, const void *result, size_t len)
{
	if (q == NULL || q->magic != FZ_REQ_MAGIC)
		fz_fail("rpc_req_reply on a request that is not deferred");
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		fz_deferred = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	fz_ndeferred--;
	q->magic = 0;
	fz_check_reply(q->id, status, msg, result, len);
	free(q);
}

/* The audit trail is rpc.c's, at the reply: nothing to log here. */
void
rpc_req_audit(struct rpc_req *req, bool always, const char *path, const char *extra)
{
	(void)req;
	(void)always;
	(void)path;
	(void)extra;
}

const char *
rpc_req_principal(const struct rpc_req *req)
{
	return fz_principals[req->principal % FZ_NPRINCIPALS];
}

struct chubbyd *
rpc_req_daemon(const struct rpc_req *req)
{
	return req->d;
}


/* The answer to a request that only the master can serve (rpc.c's). */
int
rpc_not_master(struct chubbyd *d, msgpack_packer *pk, char *msg, size_t msglen)
{
	unsigned m = d->replica ? replica_master(d->replica) : 0;
	const struct cell_replica *mr = m ? config_replica(d->cfg, m) : NULL;

	if (pk != NULL) {
		msgpack_pack_map(pk, 3);
		mp_pack_kv_uint(pk, "master", mr != NULL && m != d->id ? m : 0);
		mp_pack_kv_str(pk, "address", mr != NULL && m != d->id ? mr->client_addr : NULL);
		mp_pack_kv_uint(pk, "epoch", d->replica ? replica_epoch(d->replica) : 0);
	}
	if (mr != NULL && m != d->id)
		snprintf(msg, msglen, "replica %u is not the master; the master is replica %u at %s",
		    d->id, m, mr->client_addr);
	else
		snprintf(msg, msglen, "replica %u is not the master and knows of none", d->id);
	return CHUBBY_E_NOT_MASTER;
}
