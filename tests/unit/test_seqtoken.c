/* test_seqtoken.c: signed sequencers: codec, MAC, key file, the public
 * chubby_sequencer_* calls and the per-thread last error. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chubby/chubby.h>

#include "harness.h"
#include "lasterr.h"
#include "seqtoken.h"

/* The key of tests/fuzz/mkcorpus-seqtoken: bytes 00 01 .. 1f. */
static uint8_t key1[32];
static uint8_t key2[32];

/* Made by tests/fuzz/mkcorpus-seqtoken (by hand and with the openssl
 * command, not with seqtoken.c): local /ls/local/lock, exclusive, lock_gen
 * 7, instance 3, signed with key1. */
static const uint8_t kat_token[] = {
    0x98, 0xaa, 0x63, 0x68, 0x75, 0x62, 0x62, 0x79, 0x2d, 0x73, 0x65, 0x71, 0x01, 0xa5, 0x6c,
    0x6f, 0x63, 0x61, 0x6c, 0xae, 0x2f, 0x6c, 0x73, 0x2f, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x2f,
    0x6c, 0x6f, 0x63, 0x6b, 0x02, 0x07, 0x03, 0xc4, 0x20, 0xad, 0xc0, 0x08, 0x8a, 0x6a, 0x8e,
    0x1e, 0x85, 0xb5, 0xc7, 0x63, 0xeb, 0xfd, 0x88, 0xce, 0x4f, 0xce, 0x1f, 0x19, 0x30, 0x82,
    0x6c, 0x22, 0x63, 0xc4, 0xa0, 0xb1, 0x95, 0x7b, 0xbd, 0x9e, 0x9f};

static int
suite_init(void)
{
	for (int i = 0; i < 32; i++) {
		key1[i] = (uint8_t)i;
		key2[i] = (uint8_t)(0xa5 ^ i);
	}
	return 0;
}

static struct seqtoken
tok(const char *cell, const char *path, int mode, uint64_t gen, uint64_t inst)
{
	struct seqtoken t;

	memset(&t, 0, sizeof t);
	snprintf(t.cell, sizeof t.cell, "%s", cell);
	snprintf(t.path, sizeof t.path, "%s", path);
	t.mode = mode;
	t.lock_gen = gen;
	t.instance = inst;
	return t;
}

/* Encodes T with KEY (NULL: unsigned); fails the test if it cannot. */
static uint8_t *
enc(const uint8_t *key, const struct seqtoken *t, size_t *len)
{
	uint8_t *out = NULL;
	int rc = seqtoken_encode(key, key != NULL ? 32 : 0, t, &out, len);

	CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	return out;
}

static void
assert_same(const struct seqtoken *a, const struct seqtoken *b)
{
	CU_ASSERT_STRING_EQUAL(a->cell, b->cell);
	CU_ASSERT_STRING_EQUAL(a->path, b->path);
	CU_ASSERT_EQUAL(a->mode, b->mode);
	CU_ASSERT_EQUAL(a->lock_gen, b->lock_gen);
	CU_ASSERT_EQUAL(a->instance, b->instance);
}

/* ---- a raw packer for tokens the encoder refuses to make ---- */

struct raw {
	const char *tag;
	uint64_t version;
	const char *cell;
	size_t celllen;
	const char *path;
	size_t pathlen;
	uint64_t mode;
	uint64_t gen, inst;
	int nelem;     /* array size; 8 normally */
	int maclen;    /* -1: a correct MAC with key1; else that many zero bytes */
	bool mac_str;  /* pack the MAC as a string */
	bool gen_wide; /* pack lock_gen as uint64 whatever its value */
};

static struct raw
raw_default(void)
{
	struct raw r = {"chubby-seq", 1, "local", 5, "/ls/local/lock", 14, 2, 7, 3, 8, -1, false,
	    false};
	return r;
}

static void
raw_pack_fields(msgpack_packer *pk, const struct raw *r, int nelem)
{
	msgpack_pack_array(pk, (size_t)nelem);
	msgpack_pack_str_with_body(pk, r->tag, strlen(r->tag));
	msgpack_pack_uint64(pk, r->version);
	msgpack_pack_str_with_body(pk, r->cell, r->celllen);
	msgpack_pack_str_with_body(pk, r->path, r->pathlen);
	msgpack_pack_uint64(pk, r->mode);
	if (r->gen_wide) {
		/* 0xcf and 8 bytes, even for a small value: not canonical. */
		char b[9] = {(char)0xcf};
		for (int i = 0; i < 8; i++)
			b[1 + i] = (char)(r->gen >> (56 - 8 * i));
		pk->callback(pk->data, b, sizeof b);
	} else
		msgpack_pack_uint64(pk, r->gen);
	msgpack_pack_uint64(pk, r->inst);
}

/* Packs R into SB (caller destroys it). */
static void
raw_pack(msgpack_sbuffer *sb, const struct raw *r)
{
	msgpack_packer pk;
	uint8_t mac[64]; /* room for the too-long MACs of the tests */
	unsigned int maclen = 0;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (r->maclen < 0) {
		msgpack_sbuffer fields;
		msgpack_packer fpk;

		msgpack_sbuffer_init(&fields);
		msgpack_packer_init(&fpk, &fields, msgpack_sbuffer_write);
		raw_pack_fields(&fpk, r, 7);
		CU_ASSERT_PTR_NOT_NULL(HMAC(EVP_sha256(), key1, 32, (const uint8_t *)fields.data,
		    fields.size, mac, &maclen));
		msgpack_sbuffer_destroy(&fields);
	} else {
		memset(mac, 0, sizeof mac);
		maclen = (unsigned)r->maclen;
	}
	raw_pack_fields(&pk, r, r->nelem);
	if (r->nelem > 7) {
		if (r->mac_str)
			msgpack_pack_str_with_body(&pk, mac, maclen);
		else {
			msgpack_pack_bin(&pk, maclen);
			msgpack_pack_bin_body(&pk, mac, maclen);
		}
	}
}

/* Decodes R's packing with key1; returns the status, message in ERR. */
static int
raw_decode(const struct raw *r, char *err, size_t errlen)
{
	msgpack_sbuffer sb;
	struct seqtoken t;
	int rc;

	raw_pack(&sb, r);
	rc = seqtoken_decode(key1, 32, sb.data, sb.size, &t, err, errlen);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ---- codec ---- */

static void
test_roundtrip_signed(void)
{
	struct seqtoken t = tok("local", "/ls/local/a/b", 2, 12, 5), d;
	size_t len;
	uint8_t *b = enc(key1, &t, &len);
	char err[256];

	CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, b, len, &d, err, sizeof err), CHUBBY_OK);
	assert_same(&t, &d);
	CU_ASSERT_TRUE(d.signed_);
	/* Without a key: decodes, says it carries a MAC. */
	CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, b, len, &d, err, sizeof err), CHUBBY_OK);
	assert_same(&t, &d);
	CU_ASSERT_TRUE(d.signed_);
	free(b);

	/* Extremes: the longest cell and path, the largest numbers, shared. */
	memset(t.cell, 'c', SEQTOKEN_CELL_MAX);
	t.cell[SEQTOKEN_CELL_MAX] = '\0';
	memset(t.path, 'p', SEQTOKEN_PATH_MAX);
	t.path[SEQTOKEN_PATH_MAX] = '\0';
	t.mode = 1;
	t.lock_gen = UINT64_MAX;
	t.instance = UINT64_MAX - 1;
	b = enc(key1, &t, &len);
	CU_ASSERT_TRUE(len <= SEQTOKEN_INPUT_MAX);
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, b, len, &d, err, sizeof err), CHUBBY_OK);
	assert_same(&t, &d);
	free(b);
}

static void
test_roundtrip_unsigned(void)
{
	struct seqtoken t = tok("c", "/", 1, 0, 0), d;
	size_t len;
	uint8_t *b = enc(NULL, &t, &len);
	char err[256];

	/* Same as signed but for the MAC: bin of length 0 at the end. */
	CU_ASSERT_EQUAL(b[0], 0x98);
	CU_ASSERT_EQUAL(b[len - 2], 0xc4);
	CU_ASSERT_EQUAL(b[len - 1], 0x00);
	CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, b, len, &d, err, sizeof err), CHUBBY_OK);
	assert_same(&t, &d);
	CU_ASSERT_FALSE(d.signed_);
	/* A verifier holding a key refuses it. */
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, b, len, &d, err, sizeof err),
	    CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unsigned"));
	CU_ASSERT_STRING_EQUAL(d.path, ""); /* zeroed on failure */
	free(b);
	/* A key pointer with KEYLEN 0 also encodes unsigned. */
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 0, &t, &b, &len), CHUBBY_OK);
	CU_ASSERT_EQUAL(b[len - 1], 0x00);
	free(b);
}

static void
test_known_answer(void)
{
	struct seqtoken t = tok("local", "/ls/local/lock", 2, 7, 3), d;
	size_t len;
	uint8_t *b = enc(key1, &t, &len);

	/* The same bytes as an independent packer and `openssl dgst -hmac`. */
	CU_ASSERT_EQUAL(len, sizeof kat_token);
	CU_ASSERT_TRUE(len == sizeof kat_token && memcmp(b, kat_token, len) == 0);
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, kat_token, sizeof kat_token, &d, NULL, 0),
	    CHUBBY_OK);
	assert_same(&t, &d);
	free(b);
}

static void
test_every_bit_flip_refused(void)
{
	struct seqtoken t = tok("local", "/ls/local/some/lock", 2, 1234567, 89), d;
	size_t len;
	uint8_t *b = enc(key1, &t, &len);
	char err[256];
	int refused = 0, total = 0;

	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			b[i] ^= (uint8_t)(1u << bit);
			rc = seqtoken_decode(key1, 32, b, len, &d, err, sizeof err);
			b[i] ^= (uint8_t)(1u << bit);
			total++;
			if (rc == CHUBBY_E_BAD_SEQUENCER && err[0] != '\0')
				refused++;
			else
				fprintf(stderr, "bit %d of byte %zu: accepted (rc %d)\n", bit, i, rc);
		}
	CU_ASSERT_EQUAL(refused, total);
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, b, len, &d, err, sizeof err), CHUBBY_OK);
	free(b);
}

static void
test_wrong_key(void)
{
	struct seqtoken t = tok("local", "/ls/local/lock", 1, 3, 1), d;
	size_t len;
	uint8_t *b = enc(key1, &t, &len);
	char err[256];

	CU_ASSERT_EQUAL(seqtoken_decode(key2, 32, b, len, &d, err, sizeof err),
	    CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature"));
	/* A key longer by one byte is another key.  (Not by a zero byte:
	 * HMAC pads a short key with zeros, so K and K||00 are one key.) */
	{
		uint8_t longer[33];
		memcpy(longer, key1, 32);
		longer[32] = 1;
		CU_ASSERT_EQUAL(seqtoken_decode(longer, 33, b, len, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
	}
	/* Keys of a bad length are refused as arguments. */
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 31, b, len, &d, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(seqtoken_decode(key1, 0, b, len, &d, err, sizeof err), CHUBBY_E_INVALID);
	{
		uint8_t big[SEQTOKEN_KEY_MAX + 1];
		uint8_t *o = NULL;
		size_t olen = 0;
		memset(big, 1, sizeof big);
		CU_ASSERT_EQUAL(seqtoken_decode(big, sizeof big, b, len, &d, err, sizeof err),
		    CHUBBY_E_INVALID);
		CU_ASSERT_EQUAL(seqtoken_encode(big, sizeof big, &t, &o, &olen), CHUBBY_E_INVALID);
		CU_ASSERT_EQUAL(seqtoken_encode(key1, 16, &t, &o, &olen), CHUBBY_E_INVALID);
		CU_ASSERT_PTR_NULL(o);
		/* The longest key works. */
		CU_ASSERT_EQUAL(seqtoken_encode(big, SEQTOKEN_KEY_MAX, &t, &o, &olen), CHUBBY_OK);
		CU_ASSERT_EQUAL(seqtoken_decode(big, SEQTOKEN_KEY_MAX, o, olen, &d, err, sizeof err),
		    CHUBBY_OK);
		free(o);
	}
	free(b);
}

static void
test_truncated_and_extended(void)
{
	struct seqtoken t = tok("local", "/ls/local/lock", 2, 300, 70000), d;
	size_t len;
	uint8_t *b = enc(key1, &t, &len);
	uint8_t *longer = malloc(len + 1);
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
	/* Every prefix, with and without a key. */
	for (size_t n = 0; n < len; n++) {
		CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, b, n, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, b, n, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
	}
	/* Any byte after it. */
	memcpy(longer, b, len);
	for (int v = 0; v < 256; v += 15) {
		longer[len] = (uint8_t)v;
		CU_ASSERT_EQUAL(seqtoken_decode(key1, 32, longer, len + 1, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, longer, len + 1, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "after"));
	free(longer);
	free(b);

	/* Over the input limit, whatever it holds. */
	{
		uint8_t *huge = calloc(1, SEQTOKEN_INPUT_MAX + 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
		huge[0] = 0x98;
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, huge, SEQTOKEN_INPUT_MAX + 1, &d, err,
		                    sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		free(huge);
	}
	/* NULL input. */
	CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, NULL, 5, &d, err, sizeof err), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, NULL, 0, &d, err, sizeof err),
	    CHUBBY_E_BAD_SEQUENCER);
}

static void
test_encode_limits(void)
{
	struct seqtoken t = tok("local", "/ls/local/lock", 2, 1, 1);
	uint8_t *o = NULL;
	size_t len = 99;

	t.mode = 0;
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	t.mode = 3;
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NULL(o);
	CU_ASSERT_EQUAL(len, 0);
	t.mode = 2;
	/* The cell fills its array without a NUL: 256 bytes, too long. */
	memset(t.cell, 'c', sizeof t.cell);
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	t.cell[0] = '\0';
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	snprintf(t.cell, sizeof t.cell, "local");
	memset(t.path, 'p', sizeof t.path);
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	t.path[0] = '\0';
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, &t, &o, &len), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(seqtoken_encode(key1, 32, NULL, &o, &len), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NULL(o);
}

static void
test_decode_strict(void)
{
	char err[256], path[SEQTOKEN_PATH_MAX + 2], cell[SEQTOKEN_CELL_MAX + 2];
	struct raw r;

	memset(path, 'p', sizeof path);
	memset(cell, 'c', sizeof cell);

	/* The raw packer is right: its default decodes. */
	r = raw_default();
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_OK);
	r.path = path;
	r.pathlen = SEQTOKEN_PATH_MAX;
	r.cell = cell;
	r.celllen = SEQTOKEN_CELL_MAX;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_OK);

	/* Each of these carries a correct MAC: the field check refuses it. */
	r.pathlen = SEQTOKEN_PATH_MAX + 1;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "path"));
	r = raw_default();
	r.cell = cell;
	r.celllen = SEQTOKEN_CELL_MAX + 1;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cell"));
	r = raw_default();
	r.celllen = 0;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	r = raw_default();
	r.path = "/ls/a\0b";
	r.pathlen = 7;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
	for (uint64_t m = 0; m < 5; m++) {
		r = raw_default();
		r.mode = m;
		CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err),
		    m == 1 || m == 2 ? CHUBBY_OK : CHUBBY_E_BAD_SEQUENCER);
	}
	r = raw_default();
	r.tag = "chubby-sex";
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sequencer"));
	r = raw_default();
	r.version = 2;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "version 2"));
	r = raw_default();
	r.nelem = 9;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	r.nelem = 7;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	r = raw_default();
	r.maclen = 16;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	r.maclen = 33;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	r = raw_default();
	r.mac_str = true;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mac field is not bytes"));
	/* Something that is no sequencer at all is called that, without the
	 * decoder's view of it ("a map, not an array of 8 elements"). */
	{
		static const uint8_t deadbeef[] = {0xde, 0xad, 0xbe, 0xef};
		struct seqtoken tok;
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, deadbeef, sizeof deadbeef, &tok, err,
				    sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a sequencer"));
		CU_ASSERT_PTR_NULL(strstr(err, "map"));
		CU_ASSERT_PTR_NULL(strstr(err, "array"));
	}
	/* Non-canonical: lock_gen 7 as a uint64, even with a MAC over the
	 * canonical fields. */
	r = raw_default();
	r.gen_wide = true;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "canonical"));
	/* ...though a large lock_gen packed that way is canonical. */
	r.gen = UINT64_MAX;
	CU_ASSERT_EQUAL(raw_decode(&r, err, sizeof err), CHUBBY_OK);

	/* Not an array; an array too short to hold anything; an empty input. */
	{
		static const uint8_t nil[] = {0xc0}, arr1[] = {0x91, 0x01}, map[] = {0x80};
		struct seqtoken d;
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, nil, 1, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, arr1, 2, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, map, 1, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, map, 0, &d, err, sizeof err),
		    CHUBBY_E_BAD_SEQUENCER);
		/* ERR may be NULL. */
		CU_ASSERT_EQUAL(seqtoken_decode(NULL, 0, nil, 1, &d, NULL, 0),
		    CHUBBY_E_BAD_SEQUENCER);
	}
}

/* ---- public API ---- */

static void
test_public_verify_parse(void)
{
	struct seqtoken t = tok("local", "/ls/local/lock", 2, 7, 3);
	struct chubby_sequencer_info info;
	size_t len, ulen;
	uint8_t *b = enc(key1, &t, &len), *u = enc(NULL, &t, &ulen);

	CU_ASSERT_EQUAL(chubby_sequencer_verify(key1, 32, b, len, &info), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(info.cell, "local");
	CU_ASSERT_STRING_EQUAL(info.path, "/ls/local/lock");
	CU_ASSERT_EQUAL(info.mode, 2);
	CU_ASSERT_EQUAL(info.lock_gen, 7);
	CU_ASSERT_EQUAL(info.instance, 3);
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), "");

	CU_ASSERT_EQUAL(chubby_sequencer_verify(key2, 32, b, len, &info), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_STRING_EQUAL(info.path, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), "signature"));
	CU_ASSERT_EQUAL(chubby_sequencer_verify(key1, 32, u, ulen, &info), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), "unsigned"));
	/* Verify needs a key. */
	CU_ASSERT_EQUAL(chubby_sequencer_verify(NULL, 0, b, len, &info), CHUBBY_E_INVALID);
	CU_ASSERT_NOT_EQUAL(chubby_last_error()[0], '\0');
	CU_ASSERT_EQUAL(chubby_sequencer_verify(key1, 32, b, len, NULL), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(chubby_sequencer_verify(key1, 32, NULL, 0, &info), CHUBBY_E_INVALID);
	CU_ASSERT_EQUAL(chubby_sequencer_verify(key1, 3, b, len, &info), CHUBBY_E_INVALID);

	/* Parse reads both, without a key. */
	CU_ASSERT_EQUAL(chubby_sequencer_parse(u, ulen, &info), CHUBBY_OK);
	CU_ASSERT_EQUAL(info.lock_gen, 7);
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), "");
	CU_ASSERT_EQUAL(chubby_sequencer_parse(b, len, &info), CHUBBY_OK);
	CU_ASSERT_STRING_EQUAL(info.cell, "local");
	CU_ASSERT_EQUAL(chubby_sequencer_parse(b, len - 1, &info), CHUBBY_E_BAD_SEQUENCER);
	CU_ASSERT_NOT_EQUAL(chubby_last_error()[0], '\0');
	free(b);
	free(u);
}

/* Compares tokens made from A and B with chubby_sequencer_compare. */
static int
cmp_tokens(const struct seqtoken *a, const struct seqtoken *b, int *cmp)
{
	size_t alen, blen;
	uint8_t *ea = enc(key1, a, &alen), *eb = enc(NULL, b, &blen);
	int rc = chubby_sequencer_compare(ea, alen, eb, blen, cmp);

	free(ea);
	free(eb);
	return rc;
}

static void
test_compare(void)
{
	struct seqtoken a = tok("local", "/ls/local/lock", 2, 10, 1);
	struct seqtoken b = a;
	int cmp = 99;

	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_OK);
	CU_ASSERT_EQUAL(cmp, 0);
	b.lock_gen = 11;
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_OK);
	CU_ASSERT_TRUE(cmp < 0);
	CU_ASSERT_EQUAL(cmp_tokens(&b, &a, &cmp), CHUBBY_OK);
	CU_ASSERT_TRUE(cmp > 0);
	/* Instance first: a recreated node's first holding beats any
	 * holding of the old node, whatever the generations. */
	b.lock_gen = 1;
	b.instance = 2;
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_OK);
	CU_ASSERT_TRUE(cmp < 0);
	CU_ASSERT_EQUAL(cmp_tokens(&b, &a, &cmp), CHUBBY_OK);
	CU_ASSERT_TRUE(cmp > 0);
	/* Mode does not count. */
	b = a;
	b.mode = 1;
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_OK);
	CU_ASSERT_EQUAL(cmp, 0);
	/* Full 64-bit range, no sign trouble. */
	b = a;
	b.lock_gen = UINT64_MAX;
	a.lock_gen = 0;
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_OK);
	CU_ASSERT_TRUE(cmp < 0);

	/* Different locks. */
	b = a;
	snprintf(b.path, sizeof b.path, "/ls/local/other");
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), "different locks"));
	b = a;
	snprintf(b.cell, sizeof b.cell, "other");
	CU_ASSERT_EQUAL(cmp_tokens(&a, &b, &cmp), CHUBBY_E_INVALID);

	/* Malformed. */
	{
		size_t len;
		uint8_t *e = enc(key1, &a, &len);
		CU_ASSERT_EQUAL(chubby_sequencer_compare(e, len, e, len - 1, &cmp),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), "second"));
		CU_ASSERT_EQUAL(chubby_sequencer_compare("x", 1, e, len, &cmp),
		    CHUBBY_E_BAD_SEQUENCER);
		CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), "first"));
		CU_ASSERT_EQUAL(chubby_sequencer_compare(e, len, e, len, NULL), CHUBBY_E_INVALID);
		free(e);
	}
}

/* ---- key file ---- */

/* Writes TEXT to a file named NAME in the test's directory with MODE. */
static const char *
keyfile(const char *name, const char *text, mode_t mode)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", harness_tmpdir(), name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(chmod(path, mode), 0);
	return path;
}

static const char hex64[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* Loads PATH with the public call; expects RC and, on failure, a message
 * naming the file and containing WHAT. */
static void
expect_load(const char *path, int rc, const char *what)
{
	void *key = (void *)1;
	size_t keylen = 1;
	uint8_t *ikey = NULL;
	size_t ikeylen = 0;
	char err[512];

	CU_ASSERT_EQUAL(chubby_sequencer_key_load(path, &key, &keylen), rc);
	if (rc == CHUBBY_OK) {
		CU_ASSERT_STRING_EQUAL(chubby_last_error(), "");
		chubby_free(key);
		return;
	}
	CU_ASSERT_PTR_NULL(key);
	CU_ASSERT_EQUAL(keylen, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), path));
	CU_ASSERT_PTR_NOT_NULL(strstr(chubby_last_error(), what));
	if (strstr(chubby_last_error(), what) == NULL)
		fprintf(stderr, "message: %s\n", chubby_last_error());
	/* The internal call says the same. */
	CU_ASSERT_EQUAL(seqtoken_key_load(path, &ikey, &ikeylen, err, sizeof err), rc);
	CU_ASSERT_PTR_NULL(ikey);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
}

static void
test_key_file(void)
{
	char text[1200];
	uint8_t *key = NULL;
	size_t keylen = 0;
	char err[512];
	void *pkey = NULL;
	size_t pkeylen = 0;

	/* Good: whitespace around it is ignored; upper case hex is fine. */
	snprintf(text, sizeof text, "  %s\n\n", hex64);
	CU_ASSERT_EQUAL(seqtoken_key_load(keyfile("good.key", text, 0600), &key, &keylen, err,
	                    sizeof err),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(keylen, 32);
	CU_ASSERT_TRUE(key != NULL && memcmp(key, key1, 32) == 0);
	free(key);
	CU_ASSERT_EQUAL(chubby_sequencer_key_load(keyfile("upper.key",
	                                              "A5A4A7A6A1A0A3A2ADACAFAEA9A8ABAAB5B4B7B6B1B0B3B2"
	                                              "BDBCBFBEB9B8BBBA\n",
	                                              0400),
	                    &pkey, &pkeylen),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(pkeylen, 32);
	CU_ASSERT_TRUE(pkey != NULL && memcmp(pkey, key2, 32) == 0);
	chubby_free(pkey);
	expect_load(keyfile("good2.key", hex64, 0600), CHUBBY_OK, NULL);

	/* The longest key: 256 bytes. */
	text[0] = '\0';
	for (int i = 0; i < 8; i++)
		strcat(text, hex64);
	expect_load(keyfile("max.key", text, 0600), CHUBBY_OK, NULL);
	strcat(text, "00");
	expect_load(keyfile("long.key", text, 0600), CHUBBY_E_CONFIG, "too long");
	/* Far too long. */
	{
		char big[5000];
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		expect_load(keyfile("huge.key", big, 0600), CHUBBY_E_CONFIG, "too long");
	}

	expect_load(keyfile("short.key", "00112233445566778899aabbccddeeff\n", 0600),
	    CHUBBY_E_CONFIG, "too short");
	expect_load(keyfile("empty.key", "\n", 0600), CHUBBY_E_CONFIG, "too short");
	snprintf(text, sizeof text, "%.62s", hex64);
	expect_load(keyfile("short2.key", text, 0600), CHUBBY_E_CONFIG, "too short");

	snprintf(text, sizeof text, "%s", hex64);
	text[10] = 'g';
	expect_load(keyfile("nothex.key", text, 0600), CHUBBY_E_CONFIG, "not hex");
	snprintf(text, sizeof text, "%.32s %s", hex64, hex64 + 32);
	expect_load(keyfile("space.key", text, 0600), CHUBBY_E_CONFIG, "not hex");
	snprintf(text, sizeof text, "%s0", hex64);
	expect_load(keyfile("odd.key", text, 0600), CHUBBY_E_CONFIG, "not hex");
	expect_load(keyfile("binary.key", "\x01\x02\x03", 0600), CHUBBY_E_CONFIG, "not hex");

	expect_load(keyfile("open.key", hex64, 0644), CHUBBY_E_CONFIG, "0644");
	expect_load(keyfile("group.key", hex64, 0640), CHUBBY_E_CONFIG, "chmod 600");
	expect_load(keyfile("gwrite.key", hex64, 0620), CHUBBY_E_CONFIG, "too open");

	{
		char missing[512];
		snprintf(missing, sizeof missing, "%s/no-such.key", harness_tmpdir());
		expect_load(missing, CHUBBY_E_IO, "cannot open");
	}
	{
		char dir[512];
		snprintf(dir, sizeof dir, "%s/keydir", harness_tmpdir());
		CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
		expect_load(dir, CHUBBY_E_CONFIG, "not a regular file");
	}
	CU_ASSERT_EQUAL(chubby_sequencer_key_load(NULL, &pkey, &pkeylen), CHUBBY_E_INVALID);
	chubby_free(NULL);
}

/* A key file, loaded, verifies what the same key signed. */
static void
test_key_file_end_to_end(void)
{
	struct chubby_sequencer_info info;
	void *key = NULL;
	size_t keylen = 0;
	char text[200];

	snprintf(text, sizeof text, "%s\n", hex64);
	CU_ASSERT_EQUAL_FATAL(chubby_sequencer_key_load(keyfile("e2e.key", text, 0600), &key,
	                          &keylen),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(chubby_sequencer_verify(key, keylen, kat_token, sizeof kat_token, &info),
	    CHUBBY_OK);
	CU_ASSERT_EQUAL(info.lock_gen, 7);
	chubby_free(key);
}

/* ---- last error, per thread ---- */

static pthread_barrier_t lasterr_barrier;

struct lasterr_arg {
	const char *path; /* a file to load, which fails */
	int rc;
	char seen[LASTERR_MAX];
};

static void *
lasterr_thread(void *p)
{
	struct lasterr_arg *a = p;
	void *key = NULL;
	size_t keylen;

	CU_ASSERT_STRING_EQUAL(chubby_last_error(), ""); /* a new thread starts clean */
	a->rc = chubby_sequencer_key_load(a->path, &key, &keylen);
	/* Both threads have failed before either reads its message. */
	pthread_barrier_wait(&lasterr_barrier);
	snprintf(a->seen, sizeof a->seen, "%s", chubby_last_error());
	pthread_barrier_wait(&lasterr_barrier);
	return NULL;
}

static void
test_last_error_per_thread(void)
{
	struct lasterr_arg a = {NULL, 0, ""}, b = {NULL, 0, ""};
	char pa[512], pb[512];
	pthread_t ta, tb;

	snprintf(pa, sizeof pa, "%s", keyfile("thread-a.key", "zz", 0600));
	snprintf(pb, sizeof pb, "%s", keyfile("thread-b.key", hex64, 0666));
	a.path = pa;
	b.path = pb;

	lasterr_set(CHUBBY_E_TIMEOUT, "main thread's message %d", 42);
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), "main thread's message 42");
	CU_ASSERT_EQUAL(lasterr_status(), CHUBBY_E_TIMEOUT);

	CU_ASSERT_EQUAL_FATAL(pthread_barrier_init(&lasterr_barrier, NULL, 2), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&ta, NULL, lasterr_thread, &a), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tb, NULL, lasterr_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&lasterr_barrier);

	CU_ASSERT_EQUAL(a.rc, CHUBBY_E_CONFIG);
	CU_ASSERT_EQUAL(b.rc, CHUBBY_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(a.seen, pa));
	CU_ASSERT_PTR_NOT_NULL(strstr(a.seen, "not hex"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.seen, pb));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.seen, "too open"));
	/* The main thread's message is untouched. */
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), "main thread's message 42");

	/* NULL format: the status's own message; clear forgets it. */
	lasterr_set(CHUBBY_E_BAD_SEQUENCER, NULL);
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), chubby_strerror(CHUBBY_E_BAD_SEQUENCER));
	lasterr_clear();
	CU_ASSERT_STRING_EQUAL(chubby_last_error(), "");
	CU_ASSERT_EQUAL(lasterr_status(), CHUBBY_OK);
	/* Long messages are cut, NUL-terminated. */
	{
		char longer[2 * LASTERR_MAX];
		memset(longer, 'x', sizeof longer - 1);
		longer[sizeof longer - 1] = '\0';
		lasterr_set(CHUBBY_E_INTERNAL, "%s", longer);
		CU_ASSERT_EQUAL(strlen(chubby_last_error()), LASTERR_MAX - 1);
		lasterr_clear();
	}
}

void
harness_register(void)
{
	static const struct harness_test codec[] = {
	    {"round trip, signed", test_roundtrip_signed},
	    {"round trip, unsigned", test_roundtrip_unsigned},
	    {"known answer from an independent packer", test_known_answer},
	    {"every single-bit flip is refused", test_every_bit_flip_refused},
	    {"wrong key and bad key lengths", test_wrong_key},
	    {"truncated and extended inputs", test_truncated_and_extended},
	    {"encode refuses bad fields", test_encode_limits},
	    {"decode is strict", test_decode_strict},
	    {NULL, NULL},
	};
	static const struct harness_test api[] = {
	    {"verify and parse", test_public_verify_parse},
	    {"compare", test_compare},
	    {"key file", test_key_file},
	    {"key file to verify", test_key_file_end_to_end},
	    {"last error is per thread", test_last_error_per_thread},
	    {NULL, NULL},
	};
	harness_suite("seqtoken codec", suite_init, NULL, codec);
	harness_suite("sequencer API", suite_init, NULL, api);
}
