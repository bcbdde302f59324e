/* test_cell.c: the applied state (server/cell): apply, digests, CHECK, MEMBER, snapshots. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cell/cell.h"
#include "harness.h"
#include "ns/ns.h"

#define ROOT "/ls/t"
#define T0 1790000000000ULL

/* What the observers saw. */
struct seen {
	unsigned applied, replaced;
	struct cell_applied last;
	struct cell_member member;
	bool had_member, had_res;
	uint64_t session; /* SESSION_START's result */
};

static void
seen_applied(void *arg, const struct cell_applied *a)
{
	struct seen *s = arg;

	s->applied++;
	s->last = *a;
	s->had_member = a->member != NULL;
	if (a->member != NULL)
		s->member = *a->member;
	s->had_res = a->res != NULL;
	if (a->res != NULL && a->res->session != 0)
		s->session = a->res->session;
	/* Borrowed for the call only. */
	s->last.ns_cmd = NULL;
	s->last.res = NULL;
	s->last.member = NULL;
}

static void
seen_replaced(void *arg)
{
	((struct seen *)arg)->replaced++;
}

static void
cfg_init(struct cell_params *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->ns.cell = "t";
	cfg->ns.superuser = "root";
	cfg->checksum_interval = 4;
}

static struct cell *
mk(struct seen *s)
{
	struct cell_params cfg;
	struct cell *c;
	struct cell_observer obs = {seen_applied, seen_replaced, s};

	cfg_init(&cfg);
	c = cell_new(&cfg);
	CU_ASSERT_FATAL(c != NULL);
	if (s != NULL) {
		memset(s, 0, sizeof *s);
		CU_ASSERT_EQUAL(cell_observe(c, &obs), 0);
	}
	return c;
}

static struct cell_hdr
hdr(uint64_t stamp, uint64_t seq)
{
	struct cell_hdr h = {.stamp_ms = stamp, .proposer = 2, .epoch = 0x102, .seq = seq};
	return h;
}

/* Applies one entry of SB as slot SLOT (one command per slot). */
static int
apply_sb(struct cell *c, uint64_t slot, msgpack_sbuffer *sb, char *why, size_t whylen)
{
	int rc = cell_apply(c, slot, (const uint8_t *)sb->data, sb->size, why, whylen);

	cell_end_slot(c, slot);
	msgpack_sbuffer_clear(sb);
	return rc;
}

static int
apply_raw(struct cell *c, uint64_t slot, const void *p, size_t n, char *why, size_t whylen)
{
	int rc = cell_apply(c, slot, p, n, why, whylen);

	cell_end_slot(c, slot);
	return rc;
}

/* A namespace command in a CELL_CMD_NS entry. */
static int
apply_ns(struct cell *c, uint64_t slot, const uint8_t *cmd, size_t len)
{
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0 + slot, slot);
	char why[256];
	int rc;

	msgpack_sbuffer_init(&sb);
	cell_cmd_ns(&sb, &h, cmd, len);
	rc = apply_sb(c, slot, &sb, why, sizeof why);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* A workload: a session, a file with contents, a no-op, a moved member,
 * and an entry nobody can decode. Returns the next slot. */
static uint64_t
workload(struct cell *c, struct seen *s)
{
	msgpack_sbuffer sb;
	struct cell_hdr h;
	uint8_t *b = NULL;
	size_t l = 0;
	uint64_t slot = 1, sess, handle = 1;
	char why[256];
	static const uint8_t junk[] = {0xc1, 0x00, 0x07};

	msgpack_sbuffer_init(&sb);
	CU_ASSERT_EQUAL_FATAL(ns_encode_session_start(T0, "alice", &b, &l), CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns(c, slot++, b, l), CELL_APPLIED);
	free(b);
	sess = s->session;
	CU_ASSERT_FATAL(sess != 0);
	CU_ASSERT_EQUAL_FATAL(ns_encode_open(T0 + 1, sess, ROOT "/f",
				  NS_O_READ | NS_O_WRITE | NS_O_CREATE, UINT64_MAX, 0, "x", 1, NULL,
				  &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns(c, slot++, b, l), CELL_APPLIED);
	CU_ASSERT_EQUAL(s->last.status, CHUBBY_OK);
	free(b);
	CU_ASSERT_EQUAL_FATAL(ns_encode_set_contents(T0 + 2, sess, handle, "hello", 5, false, 0,
				  &b, &l),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns(c, slot++, b, l), CELL_APPLIED);
	free(b);
	h = hdr(T0 + 3, 0);
	cell_cmd_noop(&sb, &h);
	CU_ASSERT_EQUAL(apply_sb(c, slot++, &sb, why, sizeof why), CELL_APPLIED);
	h = hdr(T0 + 4, 9);
	cell_cmd_member(&sb, &h, 3, "10.0.0.9:7000", "10.0.0.9:7001", "10.0.0.9:7002");
	CU_ASSERT_EQUAL(apply_sb(c, slot++, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_EQUAL(apply_raw(c, slot++, junk, sizeof junk, why, sizeof why), CELL_SKIPPED);
	msgpack_sbuffer_destroy(&sb);
	return slot;
}

/* Two states fed the same entries agree on every digest. */
static void
test_same_entries_same_digests(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	uint64_t end, da, db;

	end = workload(a, &s1);
	CU_ASSERT_EQUAL(workload(b, &s2), end);
	CU_ASSERT_EQUAL(cell_applied_index(a), end - 1);
	CU_ASSERT_EQUAL(cell_digest(a), cell_digest(b));
	CU_ASSERT_NOT_EQUAL(cell_digest(a), CELL_DIGEST_INIT);
	CU_ASSERT_EQUAL(cell_ncommands(a), 6);
	CU_ASSERT_EQUAL(cell_ncommands(b), 6);
	CU_ASSERT_EQUAL(cell_last_stamp(a), T0 + 4);
	CU_ASSERT_EQUAL(ns_digest(cell_ns(a)), ns_digest(cell_ns(b)));
	for (uint64_t slot = 1; slot < end; slot++) {
		CU_ASSERT_FATAL(cell_ring_digest(a, slot, &da));
		CU_ASSERT_FATAL(cell_ring_digest(b, slot, &db));
		CU_ASSERT_EQUAL(da, db);
	}
	CU_ASSERT_FALSE(cell_ring_digest(a, end, &da));
	/* The observers saw every decodable entry, with its header. */
	CU_ASSERT_EQUAL(s1.applied, 5);
	CU_ASSERT_EQUAL(s1.last.type, CELL_CMD_MEMBER);
	CU_ASSERT_EQUAL(s1.last.hdr.proposer, 2);
	CU_ASSERT_EQUAL(s1.last.hdr.epoch, 0x102);
	CU_ASSERT_EQUAL(s1.last.hdr.seq, 9);
	CU_ASSERT_EQUAL(s1.last.slot, 5);
	cell_free(a);
	cell_free(b);
}

/* An undecodable entry is skipped by all alike, but the digest covers it:
 * a replica that skipped different bytes does not look equal. */
static void
test_undecodable_skipped_but_digested(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	static const uint8_t j1[] = {0x93, 0x01, 0x02}; /* an array cut short */
	static const uint8_t j2[] = {0x93, 0x01, 0x03};
	static const uint8_t j3[] = {0x92, 0x01, 0x02}; /* two elements: no header */
	char why[256] = "";

	CU_ASSERT_EQUAL(apply_raw(a, 1, j1, sizeof j1, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "undecodable"));
	CU_ASSERT_EQUAL(apply_raw(b, 1, j1, sizeof j1, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_EQUAL(cell_digest(a), cell_digest(b));
	CU_ASSERT_NOT_EQUAL(cell_digest(a), CELL_DIGEST_INIT);
	CU_ASSERT_EQUAL(cell_ncommands(a), 1);
	CU_ASSERT_EQUAL(apply_raw(a, 2, j2, sizeof j2, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_EQUAL(apply_raw(b, 2, j3, sizeof j3, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_NOT_EQUAL(cell_digest(a), cell_digest(b));
	CU_ASSERT_EQUAL(s1.applied, 0); /* no header: nobody to answer */
	cell_free(a);
	cell_free(b);
}

/* Entries whose header reads but whose body does not: skipped with a
 * reason, the proposer still answered. */
static void
test_malformed_bodies(void)
{
	struct seen s;
	struct cell *c = mk(&s);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char why[256] = "";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* CELL_CMD_NS with a string where the command's bin belongs. */
	msgpack_pack_array(&pk, 6);
	for (int i = 0; i < 5; i++)
		msgpack_pack_uint64(&pk, i == 0 ? CELL_CMD_NS : 7);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "x", 1);
	CU_ASSERT_EQUAL(apply_sb(c, 1, &sb, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "without its body"));
	CU_ASSERT_EQUAL(s.applied, 1);
	CU_ASSERT_EQUAL(s.last.status, CHUBBY_E_INTERNAL);
	CU_ASSERT_EQUAL(s.last.hdr.seq, 7);
	CU_ASSERT_FALSE(s.had_res);
	/* CELL_CMD_MEMBER with id 0, and one with an empty address. */
	msgpack_pack_array(&pk, 9);
	for (int i = 0; i < 5; i++)
		msgpack_pack_uint64(&pk, i == 0 ? CELL_CMD_MEMBER : 1);
	msgpack_pack_uint64(&pk, 0);
	for (int i = 0; i < 3; i++) {
		msgpack_pack_str(&pk, 3);
		msgpack_pack_str_body(&pk, "a:1", 3);
	}
	CU_ASSERT_EQUAL(apply_sb(c, 2, &sb, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "member"));
	{
		struct cell_hdr h = hdr(T0, 1);
		cell_cmd_member(&sb, &h, 4, "a:1", "", "a:3");
	}
	CU_ASSERT_EQUAL(apply_sb(c, 3, &sb, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_FALSE(s.had_member);
	CU_ASSERT_EQUAL(s.last.status, CHUBBY_OK);
	CU_ASSERT_PTR_NULL(cell_moved(c, 0));
	/* An address with a NUL byte (fuzz_cell found it in a CI run): it
	 * would be cut short as a C string and then refused by the snapshot
	 * reader, so a snapshot of a state holding it did not restore. */
	{
		struct cell_hdr h = hdr(T0, 1);
		cell_cmd_member(&sb, &h, 4, "a:1", "a:2", "a:3");
		/* "a:3" -> "\0:3" in place: the packed str body is its last bytes. */
		CU_ASSERT_EQUAL(memcmp(sb.data + sb.size - 3, "a:3", 3), 0);
		sb.data[sb.size - 3] = '\0';
	}
	CU_ASSERT_EQUAL(apply_sb(c, 4, &sb, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_FALSE(s.had_member);
	CU_ASSERT_PTR_NULL(cell_moved(c, 0));
	/* A type from a newer version applies as a no-op. */
	msgpack_pack_array(&pk, 5);
	for (int i = 0; i < 5; i++)
		msgpack_pack_uint64(&pk, i == 0 ? 99 : 1);
	CU_ASSERT_EQUAL(apply_sb(c, 5, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_EQUAL(s.last.type, 99);
	CU_ASSERT_EQUAL(cell_ncommands(c), 5);
	msgpack_sbuffer_destroy(&sb);
	cell_free(c);
}

/* MEMBER entries move members: the same id is updated in place. */
static void
test_member_moves(void)
{
	struct seen s;
	struct cell *c = mk(&s);
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0, 1);
	char why[256];

	msgpack_sbuffer_init(&sb);
	cell_cmd_member(&sb, &h, 3, "h3:1", "h3:2", "h3:3");
	CU_ASSERT_EQUAL(apply_sb(c, 1, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_TRUE(s.had_member);
	CU_ASSERT_EQUAL(s.member.id, 3);
	CU_ASSERT_STRING_EQUAL(s.member.peer, "h3:2");
	cell_cmd_member(&sb, &h, 5, "h5:1", "h5:2", "h5:3");
	CU_ASSERT_EQUAL(apply_sb(c, 2, &sb, why, sizeof why), CELL_APPLIED);
	cell_cmd_member(&sb, &h, 3, "n3:1", "n3:2", "n3:3");
	CU_ASSERT_EQUAL(apply_sb(c, 3, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_FATAL(cell_moved(c, 0) != NULL && cell_moved(c, 1) != NULL);
	CU_ASSERT_EQUAL(cell_moved(c, 0)->id, 3);
	CU_ASSERT_STRING_EQUAL(cell_moved(c, 0)->client, "n3:1");
	CU_ASSERT_STRING_EQUAL(cell_moved(c, 0)->status, "n3:3");
	CU_ASSERT_EQUAL(cell_moved(c, 1)->id, 5);
	CU_ASSERT_PTR_NULL(cell_moved(c, 2));
	msgpack_sbuffer_destroy(&sb);
	cell_free(c);
}

/* Issue 17 item 4: with check_digest_deferred the shell hashes the
 * namespace for a CHECK off its loop.  Until it gives the digest, the check
 * slot names none (the master proposes no CHECK); a CHECK that comes
 * meanwhile (a replica catching up applies both in one burst) is compared
 * when the digest comes, and the setter says what the comparison found; a
 * digest for another slot is ignored. */
static struct cell *
mk_deferred(struct seen *s)
{
	struct cell_params cfg;
	struct cell_observer obs = {seen_applied, seen_replaced, s};
	struct cell *c;

	cfg_init(&cfg);
	cfg.check_digest_deferred = true;
	c = cell_new(&cfg);
	CU_ASSERT_FATAL(c != NULL);
	memset(s, 0, sizeof *s);
	CU_ASSERT_EQUAL(cell_observe(c, &obs), 0);
	workload(c, s); /* slots 1..6; checksum_interval 4 */
	return c;
}

static void
test_check_deferred(void)
{
	struct seen s1, s2, s3;
	struct cell *a = mk_deferred(&s1), *a2 = mk_deferred(&s2), *b = mk(&s3);
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0, 0);
	uint64_t at, d, nsd, truth;
	char why[256] = "";

	workload(b, &s3);
	CU_ASSERT_EQUAL(cell_check_pending(a), 4);
	CU_ASSERT_EQUAL(cell_check_slot(a, &nsd), 0);
	CU_ASSERT_EQUAL(cell_check_pending(b), 0); /* not deferred: hashed at once */
	CU_ASSERT_EQUAL(cell_check_slot(b, &truth), 4);
	CU_ASSERT_FATAL(cell_ring_digest(a, 4, &d));
	msgpack_sbuffer_init(&sb);
	/* A wrong namespace digest while ours is pending: nothing yet... */
	cell_cmd_check(&sb, &h, 4, d, truth ^ 1);
	CU_ASSERT_EQUAL(apply_sb(a, 7, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_FALSE(cell_diverged(a));
	/* ...a digest for another slot does nothing... */
	CU_ASSERT_EQUAL(cell_check_digest_set(a, 3, truth, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_EQUAL(cell_check_pending(a), 4);
	/* ...and ours, when it comes, is compared. */
	CU_ASSERT_EQUAL(cell_check_digest_set(a, 4, ns_digest(cell_ns(a)), why, sizeof why),
	    CELL_DIVERGED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "namespace digest"));
	CU_ASSERT_TRUE(cell_diverged(a));
	/* The right one passes, when ours comes. */
	cell_cmd_check(&sb, &h, 4, d, truth);
	CU_ASSERT_EQUAL(apply_sb(a2, 7, &sb, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_EQUAL(cell_checks_passed(a2), 0);
	CU_ASSERT_EQUAL(cell_check_digest_set(a2, 4, ns_digest(cell_ns(a2)), why, sizeof why),
	    CELL_CHECK_PASSED);
	CU_ASSERT_EQUAL(cell_checks_passed(a2), 1);
	CU_ASSERT_EQUAL(cell_check_pending(a2), 0);
	at = cell_check_slot(a2, &nsd);
	CU_ASSERT_EQUAL(at, 4);
	CU_ASSERT_EQUAL(nsd, truth);
	/* Once known, a CHECK compares at once, as without deferral. */
	cell_cmd_check(&sb, &h, at, d, nsd);
	CU_ASSERT_EQUAL(apply_sb(a2, 8, &sb, why, sizeof why), CELL_CHECK_PASSED);
	CU_ASSERT_EQUAL(cell_checks_passed(a2), 2);
	/* Slot 8 is the next check slot: pending again. */
	CU_ASSERT_EQUAL(cell_check_pending(a2), 8);
	msgpack_sbuffer_destroy(&sb);
	cell_free(a);
	cell_free(a2);
	cell_free(b);
}

/* A CHECK naming a digest we do not have marks the state diverged; one
 * that agrees on both digests counts as passed. */
static void
test_check(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0, 0);
	uint64_t at, d, nsd;
	char why[256] = "";

	workload(a, &s1); /* slots 1..6; checksum_interval 4 */
	at = cell_check_slot(a, &nsd);
	CU_ASSERT_EQUAL_FATAL(at, 4);
	CU_ASSERT_EQUAL(nsd, ns_digest(cell_ns(a))); /* nothing in 5, 6 touched the namespace */
	CU_ASSERT_FATAL(cell_ring_digest(a, at, &d));
	msgpack_sbuffer_init(&sb);
	cell_cmd_check(&sb, &h, at, d, nsd);
	CU_ASSERT_EQUAL(apply_sb(a, 7, &sb, why, sizeof why), CELL_CHECK_PASSED);
	CU_ASSERT_EQUAL(cell_checks_passed(a), 1);
	CU_ASSERT_FALSE(cell_diverged(a));
	/* The namespace digest differs. */
	cell_cmd_check(&sb, &h, at, d, nsd ^ 1);
	CU_ASSERT_EQUAL(apply_sb(a, 8, &sb, why, sizeof why), CELL_DIVERGED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "namespace digest"));
	CU_ASSERT_TRUE(cell_diverged(a));
	/* The log digest differs. */
	workload(b, &s2);
	cell_cmd_check(&sb, &h, 3, d, 0);
	CU_ASSERT_EQUAL(apply_sb(b, 7, &sb, why, sizeof why), CELL_DIVERGED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "log digest"));
	CU_ASSERT_TRUE(cell_diverged(b));
	CU_ASSERT_EQUAL(s2.last.type, CELL_CMD_CHECK); /* still answered */
	msgpack_sbuffer_destroy(&sb);
	cell_free(a);
	cell_free(b);
}

/* A snapshot restored elsewhere is the same state, and packs to the same bytes. */
static void
test_snapshot_round_trip(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	uint8_t *snap = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	char why[256] = "x";

	workload(a, &s1);
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(a, CELL_SNAP_REPLICA, &snap, &len), CHUBBY_OK);
	CU_ASSERT_EQUAL(cell_restore(b, cell_applied_index(a), snap, len, why, sizeof why),
	    CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(why, "");
	CU_ASSERT_EQUAL(s2.replaced, 1);
	CU_ASSERT_EQUAL(cell_applied_index(b), cell_applied_index(a));
	CU_ASSERT_EQUAL(cell_digest(b), cell_digest(a));
	CU_ASSERT_EQUAL(cell_ncommands(b), cell_ncommands(a));
	CU_ASSERT_EQUAL(cell_last_stamp(b), cell_last_stamp(a));
	CU_ASSERT_EQUAL(ns_digest(cell_ns(b)), ns_digest(cell_ns(a)));
	CU_ASSERT_FATAL(cell_moved(b, 0) != NULL);
	CU_ASSERT_EQUAL(cell_moved(b, 0)->id, 3);
	CU_ASSERT_STRING_EQUAL(cell_moved(b, 0)->status, "10.0.0.9:7002");
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(b, CELL_SNAP_REPLICA, &again, &len2), CHUBBY_OK);
	CU_ASSERT_EQUAL(len2, len);
	CU_ASSERT(len2 == len && memcmp(again, snap, len) == 0);
	/* A restored index that differs from the one inside: installed, with a warning. */
	CU_ASSERT_EQUAL(cell_restore(b, 99, snap, len, why, sizeof why), CHUBBY_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "says applied 6"));
	CU_ASSERT_EQUAL(cell_applied_index(b), 99);
	free(again);
	free(snap);
	/* A backup leaves the members out, and checks. */
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(a, CELL_SNAP_BACKUP, &snap, &len), CHUBBY_OK);
	{
		struct cell_params cfg;
		cfg_init(&cfg);
		CU_ASSERT_EQUAL(cell_check_backup(&cfg, snap, len, 6, why, sizeof why), CHUBBY_OK);
		CU_ASSERT_EQUAL(cell_check_backup(&cfg, snap, len, 5, why, sizeof why),
		    CHUBBY_E_CORRUPT);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "header says 5"));
		cfg.ns.cell = "other"; /* its names do not load under another cell */
		CU_ASSERT_NOT_EQUAL(cell_check_backup(&cfg, snap, len, 6, why, sizeof why),
		    CHUBBY_OK);
	}
	free(snap);
	cell_free(a);
	cell_free(b);
}

/*
 * The layouts as server/replica.c packed them before this module existed
 * (commit 3fbd5e3: replica_take_snapshot, replica_backup,
 * replica_propose_raw, replica_move), written out field by field here so
 * that a change to the module's writer cannot change the reference too.
 */
static void
old_snapshot(msgpack_sbuffer *sb, bool with_moved, uint64_t applied, uint64_t digest,
    uint64_t ncommands, uint64_t last_stamp, const uint8_t *nsb, size_t nslen)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, with_moved ? 6 : 5);
	msgpack_pack_uint64(&pk, applied);
	msgpack_pack_uint64(&pk, digest);
	msgpack_pack_uint64(&pk, ncommands);
	msgpack_pack_uint64(&pk, last_stamp);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	if (with_moved) {
		msgpack_pack_array(&pk, 1);
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint64(&pk, 3);
		msgpack_pack_str(&pk, 13);
		msgpack_pack_str_body(&pk, "10.0.0.9:7000", 13);
		msgpack_pack_str(&pk, 13);
		msgpack_pack_str_body(&pk, "10.0.0.9:7001", 13);
		msgpack_pack_str(&pk, 13);
		msgpack_pack_str_body(&pk, "10.0.0.9:7002", 13);
	}
}

/* Snapshots and backups the old code wrote load, and the new writer
 * writes the same bytes. */
static void
test_old_layout(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	struct cell_params cfg;
	msgpack_sbuffer old;
	uint8_t *nsb = NULL, *snap = NULL;
	size_t nslen = 0, len = 0;
	char why[256];

	cfg_init(&cfg);
	workload(a, &s1);
	CU_ASSERT_EQUAL_FATAL(ns_snapshot(cell_ns(a), &nsb, &nslen), CHUBBY_OK);
	msgpack_sbuffer_init(&old);
	old_snapshot(&old, true, 6, cell_digest(a), cell_ncommands(a), cell_last_stamp(a), nsb,
	    nslen);
	/* Today's replica snapshot is the old one with a seventh element, the
	 * highest proposer epoch applied (the workload's, 0x102). */
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(a, CELL_SNAP_REPLICA, &snap, &len), CHUBBY_OK);
	CU_ASSERT(len == old.size + 3 && (uint8_t)old.data[0] == 0x96 && snap[0] == 0x97 &&
	    memcmp(snap + 1, old.data + 1, old.size - 1) == 0 &&
	    memcmp(snap + old.size, "\xcd\x01\x02", 3) == 0);
	free(snap);
	CU_ASSERT_EQUAL(cell_restore(b, 6, (const uint8_t *)old.data, old.size, why, sizeof why),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(cell_digest(b), cell_digest(a));
	CU_ASSERT_EQUAL(ns_digest(cell_ns(b)), ns_digest(cell_ns(a)));
	CU_ASSERT_FATAL(cell_moved(b, 0) != NULL);
	CU_ASSERT_STRING_EQUAL(cell_moved(b, 0)->client, "10.0.0.9:7000");
	/* The old backup: five fields. */
	msgpack_sbuffer_clear(&old);
	old_snapshot(&old, false, 6, cell_digest(a), cell_ncommands(a), cell_last_stamp(a), nsb,
	    nslen);
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(a, CELL_SNAP_BACKUP, &snap, &len), CHUBBY_OK);
	CU_ASSERT(len == old.size && memcmp(snap, old.data, len) == 0);
	free(snap);
	CU_ASSERT_EQUAL(cell_check_backup(&cfg, (const uint8_t *)old.data, old.size, 6, why,
			    sizeof why),
	    CHUBBY_OK);
	msgpack_sbuffer_destroy(&old);
	free(nsb);
	cell_free(a);
	cell_free(b);
}

/* The envelope writers write what replica_propose_raw did. */
static void
test_old_envelope(void)
{
	msgpack_sbuffer sb, old;
	msgpack_packer pk;
	struct cell_hdr h = {.stamp_ms = T0, .proposer = 4, .epoch = 0x304, .seq = 77};
	static const uint8_t body[] = {1, 2, 3};
	int i;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&old);
	msgpack_packer_init(&pk, &old, msgpack_sbuffer_write);
	for (i = 0; i < 4; i++) {
		static const unsigned nel[4] = {5, 6, 8, 9};
		static const uint64_t type[4] = {CELL_CMD_NOOP, CELL_CMD_NS, CELL_CMD_CHECK,
		    CELL_CMD_MEMBER};
		msgpack_sbuffer_clear(&sb);
		msgpack_sbuffer_clear(&old);
		msgpack_pack_array(&pk, nel[i]);
		msgpack_pack_uint64(&pk, type[i]);
		msgpack_pack_uint64(&pk, h.stamp_ms);
		msgpack_pack_uint64(&pk, h.proposer);
		msgpack_pack_uint64(&pk, h.epoch);
		msgpack_pack_uint64(&pk, h.seq);
		switch (i) {
		case 0:
			cell_cmd_noop(&sb, &h);
			break;
		case 1:
			msgpack_pack_bin(&pk, sizeof body);
			msgpack_pack_bin_body(&pk, body, sizeof body);
			cell_cmd_ns(&sb, &h, body, sizeof body);
			break;
		case 2:
			msgpack_pack_uint64(&pk, 1000);
			msgpack_pack_uint64(&pk, 0xdeadbeefcafeULL);
			msgpack_pack_uint64(&pk, 42);
			cell_cmd_check(&sb, &h, 1000, 0xdeadbeefcafeULL, 42);
			break;
		default:
			msgpack_pack_uint64(&pk, 6);
			msgpack_pack_str(&pk, 3);
			msgpack_pack_str_body(&pk, "c:1", 3);
			msgpack_pack_str(&pk, 3);
			msgpack_pack_str_body(&pk, "p:2", 3);
			msgpack_pack_str(&pk, 3);
			msgpack_pack_str_body(&pk, "s:3", 3);
			cell_cmd_member(&sb, &h, 6, "c:1", "p:2", "s:3");
			break;
		}
		CU_ASSERT_EQUAL(sb.size, old.size);
		CU_ASSERT(sb.size == old.size && memcmp(sb.data, old.data, sb.size) == 0);
	}
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&old);
}

/* Restores SB's bytes; expects a refusal whose reason holds WANT. */
static void
refused(msgpack_sbuffer *sb, const char *want)
{
	struct seen s;
	struct cell *c = mk(&s);
	struct cell_params cfg;
	char why[256] = "";
	uint64_t before = cell_digest(c);

	cfg_init(&cfg);
	CU_ASSERT_EQUAL(cell_restore(c, 6, (const uint8_t *)sb->data, sb->size, why, sizeof why),
	    CHUBBY_E_CORRUPT);
	if (strstr(why, want) == NULL)
		fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, want));
	CU_ASSERT_TRUE(cell_diverged(c));
	CU_ASSERT_EQUAL(s.replaced, 0);
	CU_ASSERT_EQUAL(cell_digest(c), before);
	CU_ASSERT_EQUAL(cell_check_backup(&cfg, (const uint8_t *)sb->data, sb->size, 6, why,
			    sizeof why),
	    CHUBBY_E_CORRUPT);
	cell_free(c);
	msgpack_sbuffer_clear(sb);
}

/* Malformed snapshots are refused with a reason, never installed in part. */
static void
test_malformed_snapshots(void)
{
	struct seen s;
	struct cell *a = mk(&s);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t *nsb = NULL;
	size_t nslen = 0;

	workload(a, &s);
	CU_ASSERT_EQUAL_FATAL(ns_snapshot(cell_ns(a), &nsb, &nslen), CHUBBY_OK);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	msgpack_sbuffer_write(&sb, "\xc1", 1);
	refused(&sb, "not msgpack");

	msgpack_pack_array(&pk, 4);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&pk, 6);
	refused(&sb, "5, 6 or 7");

	/* The digest a string: the old reader took it as a number. */
	msgpack_pack_array(&pk, 5);
	msgpack_pack_uint64(&pk, 6);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "d", 1);
	msgpack_pack_uint64(&pk, 2);
	msgpack_pack_uint64(&pk, 3);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	refused(&sb, "field 1 (digest)");

	msgpack_pack_array(&pk, 5);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&pk, 6);
	msgpack_pack_str(&pk, nslen);
	msgpack_pack_str_body(&pk, nsb, nslen);
	refused(&sb, "field 4 (namespace)");

	old_snapshot(&sb, false, 6, 1, 2, 3, nsb, nslen);
	msgpack_pack_nil(&pk);
	refused(&sb, "trailing bytes");

	/* A moved member that is not one. */
	msgpack_pack_array(&pk, 6);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&pk, 6);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint64(&pk, 300);
	for (int i = 0; i < 3; i++) {
		msgpack_pack_str(&pk, 3);
		msgpack_pack_str_body(&pk, "a:1", 3);
	}
	refused(&sb, "moved member 0");

	/* The moved members not an array. */
	msgpack_pack_array(&pk, 6);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&pk, 6);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	msgpack_pack_uint64(&pk, 1);
	refused(&sb, "field 5");

	/* A namespace that does not load. */
	msgpack_pack_array(&pk, 5);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&pk, 6);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	refused(&sb, "namespace");

	msgpack_sbuffer_destroy(&sb);
	free(nsb);
	cell_free(a);
}

/* Containers that announce more elements than bytes follow are refused
 * before msgpack-c allocates for them (it sizes its zone from the count:
 * 0xdddddddd elements asked it for ~90 GB, fuzz_cell's out-of-memory). */
static void
test_huge_counts(void)
{
	struct seen s;
	struct cell *c = mk(&s);
	struct cell_params cfg;
	/* An entry: an array32 of 0xdddddddd elements, 4 bytes of them. */
	static const uint8_t entry[] = {0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0x01, 0x02, 0x03, 0x04};
	/* A snapshot whose first field is such an array. */
	static const uint8_t snap[] = {0x96, 0x07, 0xdd, 0x10, 0x00, 0x00, 0x00, 0x01, 0x02};
	char why[256] = "";
	uint64_t before = cell_digest(c);

	cfg_init(&cfg);
	CU_ASSERT_EQUAL(apply_raw(c, 1, entry, sizeof entry, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "announces"));
	CU_ASSERT_NOT_EQUAL(cell_digest(c), before); /* digested all the same */
	CU_ASSERT_EQUAL(cell_restore(c, 7, snap, sizeof snap, why, sizeof why), CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "announces"));
	CU_ASSERT_EQUAL(cell_check_backup(&cfg, snap, sizeof snap, 7, why, sizeof why),
	    CHUBBY_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "announces"));
	cell_free(c);
}

/* Observers run in the order they were registered, up to the limit. */
/* A namespace command in a CELL_CMD_NS entry proposed in EPOCH. */
static int
apply_ns_epoch(struct cell *c, uint64_t slot, const uint8_t *cmd, size_t len, uint64_t epoch,
    char *why, size_t whylen)
{
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0 + slot, slot);
	int rc;

	h.epoch = epoch;
	msgpack_sbuffer_init(&sb);
	cell_cmd_ns(&sb, &h, cmd, len);
	rc = apply_sb(c, slot, &sb, why, whylen);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/*
 * Multi-Paxos may choose a value a deposed master got accepted by a
 * minority once a later master's Phase 1 finds it, after a newer master
 * served in between (found by the whole-cell simulator, tests/wsim seed
 * 530: an old master's expiry of a session the newer master had answered
 * KeepAlives for, freeing the locks of a client in good standing).  Such a
 * namespace command is void on every replica alike, also after a restore.
 */
static void
test_stale_epoch_void(void)
{
	struct seen s1, s2;
	struct cell *a = mk(&s1), *b = mk(&s2);
	uint8_t *cmd = NULL, *snap = NULL;
	size_t len = 0, slen = 0;
	uint64_t sess;
	char why[256];

	CU_ASSERT_EQUAL_FATAL(ns_encode_session_start(T0, "alice", &cmd, &len), CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns_epoch(a, 1, cmd, len, 0x101, why, sizeof why), CELL_APPLIED);
	free(cmd);
	sess = s1.session;
	CU_ASSERT_FATAL(sess != 0);
	/* A newer master's first command. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_session_start(T0 + 1, "bob", &cmd, &len), CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns_epoch(a, 2, cmd, len, 0x202, why, sizeof why), CELL_APPLIED);
	free(cmd);
	CU_ASSERT_EQUAL(ns_session_count(cell_ns(a)), 2);
	/* The deposed master's expiry of alice's session surfaces: void. */
	CU_ASSERT_EQUAL_FATAL(ns_encode_session_end(T0 + 2, 0, sess, NS_END_EXPIRED, &cmd, &len),
	    CHUBBY_OK);
	why[0] = '\0';
	CU_ASSERT_EQUAL(apply_ns_epoch(a, 3, cmd, len, 0x101, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "epoch"));
	CU_ASSERT_EQUAL(s1.last.status, CHUBBY_E_NOT_MASTER);
	CU_ASSERT_FALSE(s1.had_res);
	CU_ASSERT_EQUAL(ns_session_count(cell_ns(a)), 2);
	/* A replica that installed a snapshot in between decides alike. */
	CU_ASSERT_EQUAL_FATAL(cell_snapshot(a, CELL_SNAP_REPLICA, &snap, &slen), CHUBBY_OK);
	CU_ASSERT_EQUAL(cell_restore(b, 3, snap, slen, why, sizeof why), CHUBBY_OK);
	CU_ASSERT_EQUAL(apply_ns_epoch(a, 4, cmd, len, 0x101, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_EQUAL(apply_ns_epoch(b, 4, cmd, len, 0x101, why, sizeof why), CELL_SKIPPED);
	CU_ASSERT_EQUAL(ns_session_count(cell_ns(b)), 2);
	CU_ASSERT_EQUAL(cell_digest(a), cell_digest(b));
	CU_ASSERT_EQUAL(ns_digest(cell_ns(a)), ns_digest(cell_ns(b)));
	/* The newer master's own expiry applies. */
	CU_ASSERT_EQUAL(apply_ns_epoch(a, 5, cmd, len, 0x202, why, sizeof why), CELL_APPLIED);
	CU_ASSERT_EQUAL(ns_session_count(cell_ns(a)), 1);
	free(cmd);
	free(snap);
	cell_free(a);
	cell_free(b);
}

static void
test_observers(void)
{
	struct seen s[CELL_MAX_OBSERVERS + 1];
	struct cell *c = mk(&s[0]);
	struct cell_observer obs = {seen_applied, seen_replaced, NULL};
	msgpack_sbuffer sb;
	struct cell_hdr h = hdr(T0, 1);
	char why[64];

	for (int i = 1; i <= CELL_MAX_OBSERVERS; i++) {
		memset(&s[i], 0, sizeof s[i]);
		obs.arg = &s[i];
		CU_ASSERT_EQUAL(cell_observe(c, &obs), i < CELL_MAX_OBSERVERS ? 0 : -1);
	}
	msgpack_sbuffer_init(&sb);
	cell_cmd_noop(&sb, &h);
	CU_ASSERT_EQUAL(apply_sb(c, 1, &sb, why, sizeof why), CELL_APPLIED);
	for (int i = 0; i < CELL_MAX_OBSERVERS; i++)
		CU_ASSERT_EQUAL(s[i].applied, 1);
	CU_ASSERT_EQUAL(s[CELL_MAX_OBSERVERS].applied, 0);
	msgpack_sbuffer_destroy(&sb);
	cell_free(c);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"the same entries give the same digests", test_same_entries_same_digests},
	    {"undecodable entries are skipped alike and digested", test_undecodable_skipped_but_digested},
	    {"malformed bodies are skipped with a reason", test_malformed_bodies},
	    {"MEMBER entries move members", test_member_moves},
	    {"CHECK passes or marks divergence", test_check},
	    {"a CHECK digest the shell hashes later", test_check_deferred},
	    {"snapshot -> restore is the same state", test_snapshot_round_trip},
	    {"the old code's snapshots and backups load; backups unchanged", test_old_layout},
	    {"the old code's envelopes, bytes unchanged", test_old_envelope},
	    {"malformed snapshots are refused with a reason", test_malformed_snapshots},
	    {"huge announced counts are refused before any allocation", test_huge_counts},
	    {"observers in registration order", test_observers},
	    {"a deposed master's command chosen late is void", test_stale_epoch_void},
	    {NULL, NULL},
	};
	harness_suite("cell", NULL, NULL, tests);
}
