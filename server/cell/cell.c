/* cell.c: the applied state: entries applied in log order, the digest chain, CHECK and MEMBER. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cell.h"
#include "cell_int.h"
#include "errbuf.h"
#include "wire.h"
#include "xmalloc.h"

struct cell *
cell_new(const struct cell_params *cfg)
{
	struct cell *c = xcalloc(1, sizeof *c);

	c->cfg = *cfg;
	if ((c->ns = ns_new(&cfg->ns)) == NULL) {
		free(c);
		return NULL;
	}
	c->digest = CELL_DIGEST_INIT;
	return c;
}

void
cell_free(struct cell *c)
{
	if (c == NULL)
		return;
	ns_free(c->ns);
	free(c);
}

int
cell_observe(struct cell *c, const struct cell_observer *obs)
{
	if (c->nobs == CELL_MAX_OBSERVERS)
		return -1;
	c->obs[c->nobs++] = *obs;
	return 0;
}

static void
cell_tell_applied(const struct cell *c, const struct cell_applied *a)
{
	for (unsigned i = 0; i < c->nobs; i++)
		if (c->obs[i].on_applied != NULL)
			c->obs[i].on_applied(c->obs[i].arg, a);
}

void
cell_tell_replaced(const struct cell *c)
{
	for (unsigned i = 0; i < c->nobs; i++)
		if (c->obs[i].on_state_replaced != NULL)
			c->obs[i].on_state_replaced(c->obs[i].arg);
}

/* Records a member's new addresses: the same entry for its id, else the
 * first free one.  Every replica applies the same entries, so all agree. */
void
cell_move_member(struct cell *c, const struct cell_member *m)
{
	for (unsigned i = 0; i < CELL_MAX_MEMBERS; i++)
		if (c->moved[i].id == m->id || c->moved[i].id == 0) {
			c->moved[i] = *m;
			return;
		}
}

/* [id, client, peer, status] at O: an id in 1..CELL_MAX_MEMBER_ID and
 * three non-empty strings that fit. */
bool
cell_member_fields(const msgpack_object *o, struct cell_member *m)
{
	if (o[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || o[0].via.u64 == 0 ||
	    o[0].via.u64 > CELL_MAX_MEMBER_ID)
		return false;
	/* No NUL inside: the address is kept as a C string, and one cut
	 * short would not read back from a snapshot (fuzz_cell). */
	for (int i = 1; i <= 3; i++)
		if (o[i].type != MSGPACK_OBJECT_STR || o[i].via.str.size == 0 ||
		    o[i].via.str.size >= CELL_ADDR_MAX ||
		    memchr(o[i].via.str.ptr, '\0', o[i].via.str.size) != NULL)
			return false;
	memset(m, 0, sizeof *m);
	m->id = (unsigned)o[0].via.u64;
	memcpy(m->client, o[1].via.str.ptr, o[1].via.str.size);
	memcpy(m->peer, o[2].via.str.ptr, o[2].via.str.size);
	memcpy(m->status, o[3].via.str.ptr, o[3].via.str.size);
	return true;
}

/* CHECK [.., at, digest, ns_digest]: compare our digests at AT with the
 * master's.  A CHECK for a slot this replica did not apply itself (it
 * installed a snapshot past it) compares nothing. */
static int
cell_apply_check(struct cell *c, const msgpack_object *o, uint32_t n, uint64_t master,
    char *why, size_t whylen)
{
	uint64_t at, want, idx;

	if (n < 7 || o[5].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o[6].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return CELL_APPLIED;
	at = o[5].via.u64;
	want = o[6].via.u64;
	idx = at % CELL_DIGEST_RING;
	if (c->ring_slot[idx] == at && c->ring_digest[idx] != want) {
		/* Paxos Made Live §5.3: a replica whose state differs from the
		 * master's must not serve: its data is wrong. */
		errbuf_set(why, whylen,
		    "at slot %llu: our log digest %016llx, master %llu says %016llx",
		    (unsigned long long)at, (unsigned long long)c->ring_digest[idx],
		    (unsigned long long)master, (unsigned long long)want);
		c->diverged = true;
		return CELL_DIVERGED;
	}
	if (n >= 8 && o[7].type == MSGPACK_OBJECT_POSITIVE_INTEGER && c->check_slot == at &&
	    c->check_pending) {
		/* Our digest is still being hashed (a replica catching up
		 * applies the check slot and the CHECK in one burst): compare
		 * when it comes (cell_check_digest_set). */
		c->check_want_set = true;
		c->check_want = o[7].via.u64;
		c->check_master = master;
		return CELL_APPLIED;
	}
	if (n >= 8 && o[7].type == MSGPACK_OBJECT_POSITIVE_INTEGER && c->check_slot == at) {
		if (c->check_ns_digest != o[7].via.u64) {
			errbuf_set(why, whylen,
			    "at slot %llu: our namespace digest %016llx, master %llu says %016llx",
			    (unsigned long long)at, (unsigned long long)c->check_ns_digest,
			    (unsigned long long)master, (unsigned long long)o[7].via.u64);
			c->diverged = true;
			return CELL_DIVERGED;
		}
		c->checks_passed++;
		errbuf_set(why, whylen, "at slot %llu: log and namespace agree",
		    (unsigned long long)at);
		return CELL_CHECK_PASSED;
	}
	return CELL_APPLIED;
}

/* An entry: [type, stamp_ms, proposer, epoch, seq, body...]. */
int
cell_apply(struct cell *c, uint64_t slot, const uint8_t *cmd, size_t len, char *why,
    size_t whylen)
{
	msgpack_unpacked u;
	size_t off = 0;
	uint64_t f[5] = {0};
	const msgpack_object *o;
	uint32_t n;
	struct cell_applied a;
	struct cell_member m;
	struct ns_result res;
	char err[128];
	int out = CELL_APPLIED;
	bool stale;

	c->digest = ns_fnv1a(c->digest, cmd, len);
	c->ncommands++;
	/* Before msgpack-c allocates from announced counts.  Its own nesting
	 * limit (MSGPACK_EMBED_STACK_SIZE, 32) is below the scan's, and a
	 * container announcing more elements than bytes follow is one it
	 * could not finish either: the scan skips only entries msgpack-c
	 * would refuse, so every version of this code skips the same ones.
	 * Bytes after the first value are ignored, as they always were. */
	if (wire_scan_value(cmd, len, WIRE_SCAN_DEPTH_MAX, &off, err, sizeof err) != CHUBBY_OK) {
		errbuf_set(why, whylen, "undecodable command of %zu bytes skipped: %s", len, err);
		return CELL_SKIPPED;
	}
	off = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)cmd, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 5) {
		/* Every replica skips it alike: the digest still covers it. */
		errbuf_set(why, whylen, "undecodable command of %zu bytes skipped", len);
		msgpack_unpacked_destroy(&u);
		return CELL_SKIPPED;
	}
	o = u.data.via.array.ptr;
	n = u.data.via.array.size;
	for (int i = 0; i < 5; i++)
		if (o[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			f[i] = o[i].via.u64;
	if (f[1] > c->last_stamp)
		c->last_stamp = f[1];
	/*
	 * A namespace command of a deposed master, chosen after a newer
	 * master's entries (Multi-Paxos lets a later master's Phase 1 find a
	 * value a minority accepted in an old ballot, when the master in
	 * between never used that slot), is void: the newer master has served
	 * meanwhile on a state without it (given every session a full lease,
	 * answered its KeepAlives), and the command's proposer answered its
	 * client E_NOT_MASTER, which a client re-sends with the same rid.
	 * Every replica sees the same entries in the same order, and the
	 * highest epoch travels in snapshots, so all decide alike.  Epoch 0
	 * (a header field that was not a number) is never stale.
	 */
	stale = f[0] == CELL_CMD_NS && f[3] != 0 && f[3] < c->max_epoch;
	if (f[3] > c->max_epoch)
		c->max_epoch = f[3];
	memset(&a, 0, sizeof a);
	a.slot = slot;
	a.type = f[0];
	a.hdr.stamp_ms = f[1];
	a.hdr.proposer = f[2];
	a.hdr.epoch = f[3];
	a.hdr.seq = f[4];
	a.status = CHUBBY_OK;
	switch (f[0]) {
	case CELL_CMD_CHECK:
		out = cell_apply_check(c, o, n, f[2], why, whylen);
		break;
	case CELL_CMD_NS:
		if (stale) {
			errbuf_set(why, whylen,
			    "namespace command of epoch %llx chosen after epoch %llx: void",
			    (unsigned long long)f[3], (unsigned long long)c->max_epoch);
			a.status = CHUBBY_E_NOT_MASTER;
			out = CELL_SKIPPED;
			break;
		}
		if (n == 6 && o[5].type == MSGPACK_OBJECT_BIN) {
			a.ns_cmd = (const uint8_t *)o[5].via.bin.ptr;
			a.ns_len = o[5].via.bin.size;
			ns_result_init(&res);
			a.status = ns_apply(c->ns, a.ns_cmd, a.ns_len, &res);
			a.res = &res;
			cell_tell_applied(c, &a);
			ns_result_free(&res);
			msgpack_unpacked_destroy(&u);
			return CELL_APPLIED;
		}
		errbuf_set(why, whylen, "namespace command without its body skipped");
		a.status = CHUBBY_E_INTERNAL;
		out = CELL_SKIPPED;
		break;
	case CELL_CMD_MEMBER:
		if (n == 9 && cell_member_fields(&o[5], &m)) {
			cell_move_member(c, &m);
			a.member = &m;
		} else {
			errbuf_set(why, whylen, "malformed member change skipped");
			out = CELL_SKIPPED;
		}
		break;
	default: /* CELL_CMD_NOOP, and types from newer versions (ignored alike everywhere) */
		break;
	}
	cell_tell_applied(c, &a);
	msgpack_unpacked_destroy(&u);
	return out;
}

void
cell_end_slot(struct cell *c, uint64_t slot)
{
	unsigned every = c->cfg.checksum_interval;

	c->applied = slot;
	c->ring_slot[slot % CELL_DIGEST_RING] = slot;
	c->ring_digest[slot % CELL_DIGEST_RING] = c->digest;
	if (every != 0 && slot % every == 0) {
		/* The state itself, not just the commands, for the CHECK. */
		c->check_slot = slot;
		c->check_pending = c->cfg.check_digest_deferred;
		c->check_want_set = false;
		if (!c->check_pending)
			c->check_ns_digest = ns_digest(c->ns);
	}
}

const struct ns *
cell_ns(const struct cell *c)
{
	return c->ns;
}

uint64_t
cell_applied_index(const struct cell *c)
{
	return c->applied;
}

uint64_t
cell_digest(const struct cell *c)
{
	return c->digest;
}

uint64_t
cell_ncommands(const struct cell *c)
{
	return c->ncommands;
}

uint64_t
cell_last_stamp(const struct cell *c)
{
	return c->last_stamp;
}

bool
cell_diverged(const struct cell *c)
{
	return c->diverged;
}

uint64_t
cell_checks_passed(const struct cell *c)
{
	return c->checks_passed;
}

bool
cell_ring_digest(const struct cell *c, uint64_t slot, uint64_t *digest)
{
	if (c->ring_slot[slot % CELL_DIGEST_RING] != slot)
		return false;
	*digest = c->ring_digest[slot % CELL_DIGEST_RING];
	return true;
}

uint64_t
cell_check_slot(const struct cell *c, uint64_t *ns_digest)
{
	*ns_digest = c->check_ns_digest;
	return c->check_pending ? 0 : c->check_slot;
}

uint64_t
cell_check_pending(const struct cell *c)
{
	return c->check_pending ? c->check_slot : 0;
}

int
cell_check_digest_set(struct cell *c, uint64_t slot, uint64_t ns_digest, char *why,
    size_t whylen)
{
	if (!c->check_pending || c->check_slot != slot)
		return CELL_APPLIED;
	c->check_ns_digest = ns_digest;
	c->check_pending = false;
	if (!c->check_want_set)
		return CELL_APPLIED;
	c->check_want_set = false;
	if (c->check_want != ns_digest) {
		errbuf_set(why, whylen,
		    "at slot %llu: our namespace digest %016llx, master %llu says %016llx",
		    (unsigned long long)slot, (unsigned long long)ns_digest,
		    (unsigned long long)c->check_master, (unsigned long long)c->check_want);
		c->diverged = true;
		return CELL_DIVERGED;
	}
	c->checks_passed++;
	errbuf_set(why, whylen, "at slot %llu: log and namespace agree", (unsigned long long)slot);
	return CELL_CHECK_PASSED;
}

const struct cell_member *
cell_moved(const struct cell *c, unsigned i)
{
	if (i >= CELL_MAX_MEMBERS || c->moved[i].id == 0)
		return NULL;
	return &c->moved[i];
}
