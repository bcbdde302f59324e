/*
 * fuzz_rpc.c: libFuzzer target for Chubby's calls as chubbyd serves them:
 * the real wire codec (server/rpc/ns_wire.c) and request layer (server/svc:
 * every call - sessions, KeepAlives, handles, the namespace, locks,
 * sequencers, session admin) over the real session layer (server/session)
 * and the real namespace (server/ns), in the environment fuzz_rpc_env.c
 * gives those pure layers (a cell's log, kept requests, a clock).  Every
 * reply, immediate or deferred, is encoded as rpc.c would send it and
 * decoded again; every request is answered within its call or kept, and
 * every kept one by the time the cell is freed; ASan checks the rest.
 *
 * Input: a sequence of records, each a control byte, a 2-byte big-endian
 * length and that many bytes (a length past the end takes what is left):
 *
 *   length > 0: one REQ body, [3, id, op, args] (docs/PROTOCOL.md), decoded
 *     with wire_decode and handed to the op's handler.  Control byte:
 *       bits 0-1  the principal of the client certificate (fz_principals)
 *       bits 2-4  advance the clocks first by 0, 1, 20, 150, 1100, 5000,
 *                 13000 or 70000 ms
 *       bit 5     session_tick before the request
 *       bit 6     apply all queued log entries after it
 *       bit 7     session_tick after it
 *     A "sequencer" argument that is the 2-byte bin "@N" is replaced by the
 *     Nth newest sequencer a reply carried (a real, signed token).
 *   length 0 (or no room for one): an event, by the low 4 bits:
 *       0 apply all queued log entries      1 apply the oldest one
 *       2 the master's lease lapses         3 the lease comes back
 *       4 another replica becomes master    5 master again, in a new epoch
 *       6 orphaned entries never commit     7 a snapshot is installed
 *       8 one-replica cell (high bit 0) or a bigger one (1): proposals
 *         apply within their submit, or wait for events 0 and 1
 *       9 the sequencer key goes (or comes back)
 *       10 advance the clocks by (high 4 bits) seconds, session_tick
 *       11-15 advance by the bits 2-4 table of the high bits, session_tick
 *
 * At the end the clocks run on a day at a time (sessions expire, held
 * KeepAlives and waiting ACQUIREs are answered), then the replica, the
 * session layer and the request layer are freed as chubbyd frees them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cellconfig.h"
#include "session/session.h"
#include "tests/fuzz/fuzz_rpc.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t fz_steps[8] = {0, 1, 20, 150, 1100, 5000, 13000, 70000};

/* Records per input: enough for long histories, bounded for speed. */
#define FZ_MAX_RECORDS 400

static uint8_t fz_key[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static struct cell_config *fz_cfg;
/* FUZZ_RPC_SYNC_TICK set: proposals made by session_tick apply within it
 * too, as in a one-replica cell.  Off by default: session expiry then
 * frees the session sm_scan is looking at (heap-use-after-free, reported),
 * which any input reaches at once. */
static bool fz_sync_tick;

/* The cell: config_new's defaults (cell "local", superuser "admin", ACL
 * files in /ls/local/acl), small limits so that they are reached, a short
 * lock-delay, and three replicas so that NOT_MASTER names the master. */
static void
fz_init(void)
{
	if (fz_cfg != NULL)
		return;
	fz_trace = getenv("FUZZ_RPC_TRACE") != NULL;
	fz_sync_tick = getenv("FUZZ_RPC_SYNC_TICK") != NULL;
	if ((fz_cfg = config_new()) == NULL)
		abort();
	fz_cfg->max_sessions = 6;
	fz_cfg->max_handles_per_session = 12;
	fz_cfg->max_contents = 1024;
	fz_cfg->lock_delay_ms = 2000;
	fz_cfg->lock_delay_max_ms = 10000;
	fz_cfg->nreplicas = 3;
	for (unsigned i = 0; i < 3; i++) {
		struct cell_replica *r = &fz_cfg->replicas[i];
		r->id = i + 1;
		snprintf(r->client_addr, sizeof r->client_addr, "127.0.0.%u:7100", i + 1);
		snprintf(r->peer_addr, sizeof r->peer_addr, "127.0.0.%u:7200", i + 1);
		snprintf(r->status_addr, sizeof r->status_addr, "127.0.0.%u:7300", i + 1);
	}
}

/* The replica's loop tick: what session_tick proposes applies after it
 * returns (see fz_sync_tick). */
static void
fz_tick(struct fz_cell *c)
{
	if (!fz_sync_tick)
		fz_cell_hold(c, true);
	session_tick(c->sm, fz_now());
	/* The load the lease follows (session_shell.c measures it once a
	 * second): the log's queue; no CPU or loop lag, which would make a
	 * run depend on the machine. */
	session_load(c->sm, fz_now(), c->nqueued, 0, 0, 0);
	if (!fz_sync_tick)
		fz_cell_hold(c, false);
}

/* Each held KeepAlive, waiting ACQUIRE and gated write is a deferred
 * request of its own, not yet answered; but an expiry the session layer
 * proposed behind invalidations (a gated write too, until it applies) is
 * no client's request. */
static void
fz_check_stats(struct fz_cell *c)
{
	struct session_stats st;

	session_stats(c->sm, &st);
	if (st.gated_expiries > st.gated_writes ||
	    st.held_keepalives + st.waiters + st.gated_writes - st.gated_expiries >
		fz_outstanding()) {
		fprintf(stderr, "fuzz_rpc: %zu held KeepAlives, %zu waiters, %zu gated writes "
				"(%zu of them expiries), but %zu deferred requests\n",
		    st.held_keepalives, st.waiters, st.gated_writes, st.gated_expiries,
		    fz_outstanding());
		abort();
	}
}

/* A request whose "sequencer" is the bin "@N", re-encoded with the Nth
 * sequencer seen in a reply in its place, into *OUT.  False if none. */
static bool
fz_substitute(const struct wire_msg *m, struct wire_msg *out)
{
	const msgpack_object *args = m->req.args;
	const uint8_t *seq;
	size_t seqlen;
	uint32_t k, n;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	if (args == NULL || args->type != MSGPACK_OBJECT_MAP)
		return false;
	n = args->via.map.size;
	for (k = 0; k < n; k++) {
		const msgpack_object_kv *kv = &args->via.map.ptr[k];
		if (mp_str_eq(&kv->key, "sequencer") && kv->val.type == MSGPACK_OBJECT_BIN &&
		    kv->val.via.bin.size == 2 && kv->val.via.bin.ptr[0] == '@')
			break;
	}
	if (k == n || !fz_sequencer((unsigned char)args->via.map.ptr[k].val.via.bin.ptr[1], &seq,
			   &seqlen))
		return false;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint64(&pk, PROTO_KIND_REQ);
	msgpack_pack_uint64(&pk, m->req.id);
	msgpack_pack_uint64(&pk, m->req.op);
	msgpack_pack_map(&pk, n);
	for (uint32_t i = 0; i < n; i++) {
		msgpack_pack_object(&pk, args->via.map.ptr[i].key);
		if (i == k) {
			msgpack_pack_bin(&pk, seqlen);
			msgpack_pack_bin_body(&pk, seq, seqlen);
		} else {
			msgpack_pack_object(&pk, args->via.map.ptr[i].val);
		}
	}
	rc = wire_decode((const uint8_t *)sb.data, sb.size, out, NULL, 0);
	msgpack_sbuffer_destroy(&sb);
	return rc == CHUBBY_OK;
}

/* One request, decoded and served as rpc.c and rpc_ns.c serve it. */
static void
fz_request(struct fz_cell *c, const uint8_t *body, size_t len, unsigned principal)
{
	struct wire_msg m, sub;
	const struct wire_msg *use = &m;

	if (wire_decode(body, len, &m, NULL, 0) != CHUBBY_OK)
		return; /* rpc.c closes the connection */
	if (m.kind != PROTO_KIND_REQ) {
		wire_msg_free(&m);
		return;
	}
	if (fz_trace)
		fprintf(stderr, "request %llu: %s as %s\n", (unsigned long long)m.req.id,
		    proto_op_name(m.req.op), fz_principals[principal % FZ_NPRINCIPALS]);
	memset(&sub, 0, sizeof sub);
	if (fz_substitute(&m, &sub))
		use = &sub;
	/* Not one of Chubby's calls: rpc.c's own or E_BAD_OP, not fuzzed here. */
	(void)fz_call(c, use->req.id, principal, use->req.op, use->req.args);
	wire_msg_free(&sub);
	wire_msg_free(&m);
}

static void
fz_event(struct fz_cell *c, unsigned ctl)
{
	unsigned hi = ctl >> 4;

	if (fz_trace)
		fprintf(stderr, "event %u (0x%02x)\n", ctl & 0x0f, ctl);
	switch (ctl & 0x0f) {
	case 0:
		fz_cell_pump(c, SIZE_MAX);
		break;
	case 1:
		fz_cell_pump(c, 1);
		break;
	case 2:
		fz_cell_set_lease(c, false);
		break;
	case 3:
		fz_cell_set_lease(c, true);
		break;
	case 4:
		fz_cell_role_change(c, false);
		break;
	case 5:
		fz_cell_role_change(c, true);
		break;
	case 6:
		fz_cell_drop_orphans(c);
		break;
	case 7:
		/* replica.c installs a snapshot only while not master. */
		if (!fz_cell_is_master(c))
			session_state_replaced(c->sm);
		break;
	case 8:
		c->async = hi & 1;
		break;
	case 9:
		c->key = c->key != NULL ? NULL : fz_key;
		c->keylen = c->key != NULL ? sizeof fz_key : 0;
		break;
	case 10:
		fz_clock_advance((uint64_t)hi * 1000);
		fz_tick(c);
		break;
	default:
		fz_clock_advance(fz_steps[hi & 7]);
		fz_tick(c);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_cell c;
	size_t off = 0;
	unsigned nrec = 0;

	fz_init();
	fz_clock_reset();
	fz_cell_init(&c, fz_cfg, fz_key, sizeof fz_key);

	while (off < size && nrec++ < FZ_MAX_RECORDS) {
		unsigned ctl = data[off++];
		size_t len = 0;

		if (size - off >= 2) {
			len = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
			if (len > size - off)
				len = size - off;
		}
		if (len == 0) {
			fz_event(&c, ctl);
			fz_check_stats(&c);
			continue;
		}
		fz_clock_advance(fz_steps[(ctl >> 2) & 7]);
		if (ctl & 0x20)
			fz_tick(&c);
		fz_request(&c, data + off, len, ctl & 3);
		off += len;
		if (ctl & 0x40)
			fz_cell_pump(&c, SIZE_MAX);
		if (ctl & 0x80)
			fz_tick(&c);
	}

	/* Time runs on: leases end, sessions expire, held KeepAlives and
	 * waiting ACQUIREs are answered, queued entries apply. */
	for (int i = 0; i < 3; i++) {
		fz_clock_advance(24 * 3600 * 1000ull);
		fz_tick(&c);
		fz_cell_pump(&c, SIZE_MAX);
	}
	fz_check_stats(&c);
	/* As chubbyd exits: the replica first (pending proposals fail), then
	 * the session layer (held KeepAlives, waiters, gated writes fail). */
	fz_cell_free(&c);
	if (fz_outstanding() != 0) {
		fprintf(stderr, "fuzz_rpc: %zu kept requests were never answered\n",
		    fz_outstanding());
		abort();
	}
	fz_sequencers_clear();
	return 0;
}
