/* test_peer_codec.c: replica-to-replica messages: round trips, and garbage
 * refused with an error (never a crash or a leak). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "frame.h"
#include "harness.h"
#include "peer/peer_codec.h"

static uint64_t rng;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
make_msg(struct paxos_msg *m, unsigned nentries)
{
	memset(m, 0, sizeof *m);
	m->type = PAXOS_MSG_PROMISE;
	m->from = 3;
	m->to = 5;
	m->ballot = PAXOS_BALLOT(77, 3);
	m->slot = 1234567890123ull;
	m->seq = 42;
	m->commit = 99;
	m->next_slot = 100;
	m->trunc = 7;
	m->promised = PAXOS_BALLOT(76, 2);
	for (unsigned i = 0; i < nentries; i++) {
		struct paxos_entry e;
		char v[32];
		int n = snprintf(v, sizeof v, "value-%u", i);
		e.slot = 100 + i;
		e.ballot = PAXOS_BALLOT(70 + i, 1);
		e.chosen = (i % 2) == 0;
		e.value.data = (uint8_t *)v;
		e.value.len = (size_t)n;
		paxos_msg_add_entry(m, &e);
	}
	paxos_buf_set(&m->data, "snapshot-bytes", 14);
}

/* Encodes M and returns the frame body in *BODY (inside B). */
static void
encode(struct wire_buf *b, const struct paxos_msg *m, const uint8_t **body, size_t *len)
{
	wire_buf_init(b, 0);
	CU_ASSERT_EQUAL_FATAL(peer_encode_paxos(b, m), CHUBBY_OK);
	*body = b->data + FRAME_HEADER_LEN;
	*len = b->len - FRAME_HEADER_LEN;
}

static void
test_roundtrip(void)
{
	struct paxos_msg m, out;
	struct peer_hello h;
	struct wire_buf b;
	const uint8_t *body;
	size_t len;
	unsigned kind;
	char err[256];

	static const enum paxos_msg_type types[] = { PAXOS_MSG_PROMISE, PAXOS_MSG_PRE_PREPARE,
	    PAXOS_MSG_PRE_PROMISE, PAXOS_MSG_TIMEOUT_NOW };

	for (unsigned n = 0; n < 8; n++) {
		make_msg(&m, n % 4);
		m.type = types[n % 4];
		encode(&b, &m, &body, &len);
		CU_ASSERT_EQUAL_FATAL(peer_decode(body, len, &kind, &h, &out, err, sizeof err),
		    CHUBBY_OK);
		CU_ASSERT_EQUAL(kind, PEER_KIND_PAXOS);
		CU_ASSERT_EQUAL(out.type, m.type);
		CU_ASSERT_EQUAL(out.from, 3);
		CU_ASSERT_EQUAL(out.to, 5);
		CU_ASSERT_EQUAL(out.ballot, m.ballot);
		CU_ASSERT_EQUAL(out.slot, m.slot);
		CU_ASSERT_EQUAL(out.seq, 42);
		CU_ASSERT_EQUAL(out.commit, 99);
		CU_ASSERT_EQUAL(out.next_slot, 100);
		CU_ASSERT_EQUAL(out.trunc, 7);
		CU_ASSERT_EQUAL(out.promised, m.promised);
		CU_ASSERT_EQUAL_FATAL(out.nentries, n % 4);
		for (unsigned i = 0; i < n % 4; i++) {
			CU_ASSERT_EQUAL(out.entries[i].slot, m.entries[i].slot);
			CU_ASSERT_EQUAL(out.entries[i].ballot, m.entries[i].ballot);
			CU_ASSERT_EQUAL(out.entries[i].chosen, m.entries[i].chosen);
			CU_ASSERT(paxos_buf_equal(&out.entries[i].value, &m.entries[i].value));
		}
		CU_ASSERT(paxos_buf_equal(&out.data, &m.data));
		paxos_msg_free(&out);
		paxos_msg_free(&m);
		wire_buf_free(&b);
	}
}

static void
test_hello(void)
{
	struct wire_buf b;
	struct peer_hello h;
	struct paxos_msg m;
	unsigned kind;
	char err[256];

	wire_buf_init(&b, 0);
	CU_ASSERT_EQUAL_FATAL(peer_encode_hello(&b, 1, "local", 4), CHUBBY_OK);
	CU_ASSERT_EQUAL_FATAL(peer_decode(b.data + 4, b.len - 4, &kind, &h, &m, err, sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(kind, PEER_KIND_HELLO);
	CU_ASSERT_EQUAL(h.version, 1);
	CU_ASSERT_STRING_EQUAL(h.cell, "local");
	CU_ASSERT_EQUAL(h.replica_id, 4);
	wire_buf_free(&b);
}

/* Every proper prefix of a valid message is refused. */
static void
test_truncated(void)
{
	struct paxos_msg m, out;
	struct peer_hello h;
	struct wire_buf b;
	const uint8_t *body;
	size_t len;
	unsigned kind;
	char err[256];

	make_msg(&m, 3);
	encode(&b, &m, &body, &len);
	for (size_t cut = 0; cut < len; cut++) {
		err[0] = '\0';
		CU_ASSERT_NOT_EQUAL(peer_decode(body, cut, &kind, &h, &out, err, sizeof err),
		    CHUBBY_OK);
		CU_ASSERT(err[0] != '\0');
	}
	paxos_msg_free(&m);
	wire_buf_free(&b);
}

/* Hand-made bad shapes, each with its error. */
static void
test_bad_shapes(void)
{
	static const struct {
		const char *bytes;
		size_t len;
		int want;
	} cases[] = {
	    {"\xc0", 1, CHUBBY_E_MALFORMED},                 /* nil */
	    {"\x90", 1, CHUBBY_E_MALFORMED},                 /* [] */
	    {"\x91\x09", 2, CHUBBY_E_MALFORMED},             /* [9]: unknown kind */
	    {"\x91\xa1x", 3, CHUBBY_E_BAD_TYPE},             /* ["x"] */
	    {"\x92\x11\x01", 3, CHUBBY_E_MALFORMED},         /* [17, 1]: too few fields */
	    {"\x94\x10\x01\x01\x01", 5, CHUBBY_E_BAD_TYPE},  /* HELLO with an int cell */
	    {"\x94\x10\x01\xa1x\xcd\x01\x00", 7, CHUBBY_E_MALFORMED}, /* replica id 256 */
	    {"\x91\x10\x00", 3, CHUBBY_E_MALFORMED},         /* trailing byte */
	    /* PAXOS with type 0 */
	    {"\x9d\x11\x00\x01\x02\x00\x00\x00\x00\x00\x00\x00\x90\xc4\x00", 15, CHUBBY_E_MALFORMED},
	    /* PAXOS with type 99 */
	    {"\x9d\x11\x63\x01\x02\x00\x00\x00\x00\x00\x00\x00\x90\xc4\x00", 15, CHUBBY_E_MALFORMED},
	    /* PAXOS whose entries is a map */
	    {"\x9d\x11\x01\x01\x02\x00\x00\x00\x00\x00\x00\x00\x80\xc4\x00", 15, CHUBBY_E_BAD_TYPE},
	    /* PAXOS whose entry has 3 fields */
	    {"\x9d\x11\x01\x01\x02\x00\x00\x00\x00\x00\x00\x00\x91\x93\x01\x01\xc2\xc4\x00", 19,
		CHUBBY_E_MALFORMED},
	    /* PAXOS whose entry's chosen is an int */
	    {"\x9d\x11\x01\x01\x02\x00\x00\x00\x00\x00\x00\x00\x91\x94\x01\x01\x01\xc4\x00\xc4\x00",
		21, CHUBBY_E_BAD_TYPE},
	    /* an array claiming 2^32-1 entries in a few bytes */
	    {"\x9d\x11\x01\x01\x02\x00\x00\x00\x00\x00\x00\x00\xdd\xff\xff\xff\xff", 17,
		CHUBBY_E_MALFORMED},
	};
	struct peer_hello h;
	struct paxos_msg out;
	unsigned kind;
	char err[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = peer_decode((const uint8_t *)cases[i].bytes, cases[i].len, &kind, &h, &out,
		    err, sizeof err);
		if (rc != cases[i].want)
			printf("case %zu: got %s (%s), want %s\n", i, chubby_status_name(rc), err,
			    chubby_status_name(cases[i].want));
		CU_ASSERT_EQUAL(rc, cases[i].want);
	}
}

/* Random bytes and random mutations of a valid message. */
static void
test_garbage(void)
{
	struct paxos_msg m, out;
	struct peer_hello h;
	struct wire_buf b;
	const uint8_t *body;
	uint8_t buf[512];
	size_t len;
	unsigned kind;
	char err[256];

	rng = harness_seed() | 1;
	for (int i = 0; i < 20000; i++) {
		size_t n = next_rand() % sizeof buf;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)next_rand();
		if (peer_decode(buf, n, &kind, &h, &out, err, sizeof err) == CHUBBY_OK &&
		    kind == PEER_KIND_PAXOS)
			paxos_msg_free(&out);
	}
	make_msg(&m, 3);
	encode(&b, &m, &body, &len);
	CU_ASSERT_FATAL(len <= sizeof buf);
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, body, len);
		for (int k = 0; k < 3; k++)
			buf[next_rand() % len] = (uint8_t)next_rand();
		if (peer_decode(buf, len, &kind, &h, &out, err, sizeof err) == CHUBBY_OK &&
		    kind == PEER_KIND_PAXOS)
			paxos_msg_free(&out);
	}
	/* Optionally leave seed inputs for the fuzzer. */
	if (getenv("CHUBBY_WRITE_CORPUS") != NULL) {
		char path[512];
		FILE *f;
		snprintf(path, sizeof path, "%s/promise3", getenv("CHUBBY_WRITE_CORPUS"));
		if ((f = fopen(path, "wb")) != NULL) {
			fwrite(body, 1, len, f);
			fclose(f);
		}
	}
	paxos_msg_free(&m);
	wire_buf_free(&b);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"round trips", test_roundtrip},
	    {"hello", test_hello},
	    {"every truncation refused", test_truncated},
	    {"bad shapes", test_bad_shapes},
	    {"random garbage and mutations", test_garbage},
	    {NULL, NULL},
	};
	harness_suite("peer_codec", NULL, NULL, tests);
}
