/* store.c: the LevelDB adapter; the only file that includes <leveldb/c.h> (docs/FORMAT.md). */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <leveldb/c.h>

#include <chubby/chubby.h>

#include "xmalloc.h"

#include "store.h"

/*
 * Keys (docs/FORMAT.md, "Keys"): one tag byte says what a record is.  The
 * tags are ASCII so that a dump of the database is readable, and their
 * order groups each part into one contiguous key range.
 */
#define TAG_APPLIED 'A' /* "A": the state machine's applied index */
#define TAG_LOG 'L'     /* "L" + 8-byte big-endian slot: one Paxos log entry */
#define TAG_META 'M'    /* "M": identity and format version */
#define TAG_PAXOS 'P'   /* "Pp", "Pn", "Ps", "Pm": Paxos scalars */
#define TAG_SM 'S'      /* "S" + key: one state machine record */

static const char key_meta[] = {TAG_META};
static const char key_applied[] = {TAG_APPLIED};
static const char key_promised[] = {TAG_PAXOS, 'p'};
static const char key_nonvoter[] = {TAG_PAXOS, 'n'};
static const char key_snapshot[] = {TAG_PAXOS, 's'};
/* The configuration after the snapshot's last slot (paxos_conf_encode). */
static const char key_snap_conf[] = {TAG_PAXOS, 'm'};
static const char key_chosen[] = {TAG_PAXOS, 'c'}; /* format 2 */

#define LOG_KEY_LEN 9
#define CRC_LEN 4
#define META_MIN_LEN 10 /* format, id, flags and at least one byte of cell name */
#define META_FOUNDER 0x01
/* Initialized by chubbyd --join: slot 1's configuration is not ours to
 * know; the core starts with paxos_config.join (docs/PAXOS.md "Membership"). */
#define META_JOINER 0x02
#define ENTRY_MIN_LEN 9 /* ballot and flags */
#define ENTRY_CHOSEN 0x01

/* Sizes chosen for a lock service: small state, many client connections. */
#define STORE_CACHE_BYTES (8u << 20)
#define STORE_WRITE_BUFFER (8u << 20)
/* LevelDB's default of 1000 would take descriptors the server needs for clients. */
#define STORE_MAX_OPEN_FILES 256
#define STORE_BLOOM_BITS 10

/* A growable byte buffer, reused to build keys and values without a malloc each. */
struct store_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

struct store {
	char *dir;
	leveldb_t *db;
	leveldb_options_t *opt;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ro;      /* point reads: checksums verified */
	leveldb_readoptions_t *ro_scan; /* whole-range scans: verified, cache left alone */
	leveldb_writeoptions_t *wo_sync;
	leveldb_writeoptions_t *wo_nosync;

	struct store_identity ident;
	uint64_t applied;
	/* How long the last synced write took (µs), for the fsync latency
	 * histogram: read by the thread that wrote (store_last_sync_us). */
	uint64_t last_sync_us;

	/* The log on disk, kept in step with every write so that truncation
	 * seeks straight to the first live entry (never over the tombstones
	 * of earlier truncations) and stats need no scan. */
	uint64_t log_n;
	uint64_t log_lo;
	uint64_t log_hi;

	struct store_buf key; /* scratch */
	struct store_buf val;
};

struct store_batch {
	leveldb_writebatch_t *wb;
	struct store_buf key;
	struct store_buf val;
};

struct store_iter {
	leveldb_iterator_t *it;
	uint8_t *prefix; /* with the TAG_SM byte */
	size_t plen;
	bool started;
	bool done;
	int rc;
	char msg[256];
};

/* ---- CRC32C ------------------------------------------------------------ */

/* Castagnoli polynomial, reflected (0x82f63b78): the CRC of iSCSI, ext4 and LevelDB. */
static const uint32_t store_crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t
store_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc;
	while (n-- > 0)
		crc = store_crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- encoding helpers -------------------------------------------------- */

static void
store_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
store_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
store_put_le64(uint8_t *p, uint64_t v)
{
	store_put_le32(p, (uint32_t)v);
	store_put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
store_get_le64(const uint8_t *p)
{
	return (uint64_t)store_get_le32(p) | (uint64_t)store_get_le32(p + 4) << 32;
}

/* Log keys are big-endian so that LevelDB's bytewise order is slot order. */
static void
store_log_key(uint8_t *k, uint64_t slot)
{
	int i;

	k[0] = TAG_LOG;
	for (i = 0; i < 8; i++)
		k[1 + i] = (uint8_t)(slot >> (56 - 8 * i));
}

static bool
store_is_log_key(const char *k, size_t klen)
{
	return klen == LOG_KEY_LEN && k[0] == TAG_LOG;
}

static uint64_t
store_log_slot(const char *k)
{
	const uint8_t *u = (const uint8_t *)k;
	uint64_t s = 0;
	int i;

	for (i = 1; i < LOG_KEY_LEN; i++)
		s = s << 8 | u[i];
	return s;
}

static uint8_t *
store_buf_reserve(struct store_buf *b, size_t n)
{
	if (n > b->cap) {
		b->cap = b->cap == 0 ? 256 : b->cap;
		while (b->cap < n)
			b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
	}
	b->len = n;
	return b->p;
}

static void
store_buf_free(struct store_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* The key with the state machine's tag in front. */
static const char *
store_sm_key(struct store_buf *b, const void *key, size_t klen)
{
	uint8_t *p = store_buf_reserve(b, klen + 1);

	p[0] = TAG_SM;
	if (klen > 0)
		memcpy(p + 1, key, klen);
	return (const char *)p;
}

/*
 * A record's checksum covers the key's length, the key and the payload: a
 * value that lands under another key (a bug, a misdirected write) fails as
 * surely as a flipped bit.
 */
static uint32_t
store_record_crc(const void *key, size_t klen, const void *payload, size_t plen)
{
	uint8_t l[4];
	uint32_t c;

	store_put_le32(l, (uint32_t)klen);
	c = store_crc32c(0, l, sizeof l);
	c = store_crc32c(c, key, klen);
	return store_crc32c(c, payload, plen);
}

/*
 * Stages KEY -> payload + CRC in WB, the payload being the first PLEN bytes
 * of V, which has room for the CRC after them (store_buf_reserve(plen +
 * CRC_LEN)): large values are built in place, not copied once more.
 */
static void
store_wb_put_built(leveldb_writebatch_t *wb, const void *key, size_t klen, uint8_t *v,
    size_t plen)
{
	store_put_le32(v + plen, store_record_crc(key, klen, v, plen));
	leveldb_writebatch_put(wb, key, klen, (const char *)v, plen + CRC_LEN);
}

/* Stages KEY -> PAYLOAD + CRC in WB; SCRATCH holds the value while LevelDB copies it. */
static void
store_wb_put(leveldb_writebatch_t *wb, struct store_buf *scratch, const void *key, size_t klen,
    const void *payload, size_t plen)
{
	uint8_t *v = store_buf_reserve(scratch, plen + CRC_LEN);

	if (plen > 0)
		memcpy(v, payload, plen);
	store_wb_put_built(wb, key, klen, v, plen);
}

/* ---- errors ------------------------------------------------------------ */

static int store_err(char *, size_t, int, const char *, ...) __attribute__((format(printf, 4, 5)));

static int
store_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Maps a LevelDB error (and frees it): its corruption is ours to report as such. */
static int
store_lerr(char *err, size_t errlen, char *lerr, const char *what)
{
	int rc = strncmp(lerr, "Corruption:", 11) == 0 ? CHUBBY_E_CORRUPT : CHUBBY_E_STORE;

	store_err(err, errlen, rc, "%s: %s", what, lerr);
	leveldb_free(lerr);
	return rc;
}

/* A readable name for a key, for messages: "log slot 7", "sm key \"/ls/a\"". */
static void
store_key_name(const char *k, size_t klen, char *buf, size_t size)
{
	size_t i, o;
	const char *what;

	if (klen == 1 && k[0] == TAG_META) {
		snprintf(buf, size, "meta record");
		return;
	}
	if (klen == 1 && k[0] == TAG_APPLIED) {
		snprintf(buf, size, "sm applied index");
		return;
	}
	if (klen == 2 && k[0] == TAG_PAXOS && (k[1] == 'p' || k[1] == 'n' || k[1] == 's' || k[1] == 'c')) {
		snprintf(buf, size, "paxos %s",
		    k[1] == 'p' ? "promised ballot" : k[1] == 'n' ? "nonvoter flag" : "snapshot");
		return;
	}
	if (store_is_log_key(k, klen)) {
		snprintf(buf, size, "log slot %" PRIu64, store_log_slot(k));
		return;
	}
	if (klen >= 1 && k[0] == TAG_SM) {
		what = "sm key";
		k++;
		klen--;
	} else
		what = "unknown key";
	o = (size_t)snprintf(buf, size, "%s \"", what);
	for (i = 0; i < klen && o + 8 < size && i < 64; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	if (o + 5 < size)
		snprintf(buf + o, size - o, "%s\"", i < klen ? "..." : "");
}

/*
 * Checks the CRC trailer of a stored value; on success *PLEN is the length
 * of the payload in front of it.
 */
static int
store_check(const char *k, size_t klen, const char *v, size_t vlen, size_t *plen, char *err,
    size_t errlen)
{
	char name[128];
	uint32_t want, got;

	if (vlen < CRC_LEN) {
		store_key_name(k, klen, name, sizeof name);
		return store_err(err, errlen, CHUBBY_E_CORRUPT,
		    "%s: value of %zu bytes is too short to hold its checksum", name, vlen);
	}
	*plen = vlen - CRC_LEN;
	want = store_get_le32((const uint8_t *)v + *plen);
	got = store_record_crc(k, klen, v, *plen);
	if (want != got) {
		store_key_name(k, klen, name, sizeof name);
		return store_err(err, errlen, CHUBBY_E_CORRUPT,
		    "%s: checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")", name,
		    want, got);
	}
	return CHUBBY_OK;
}

static int
store_bad_payload(const char *k, size_t klen, const char *why, char *err, size_t errlen)
{
	char name[128];

	store_key_name(k, klen, name, sizeof name);
	return store_err(err, errlen, CHUBBY_E_CORRUPT, "%s: %s", name, why);
}

/*
 * Reads KEY and checks it: *PAYLOAD is a malloc'd copy (never NULL) the
 * caller frees.  CHUBBY_E_NOT_FOUND if absent.
 */
static int
store_get(struct store *s, const char *k, size_t klen, uint8_t **payload, size_t *plen,
    char *err, size_t errlen)
{
	char *v, *lerr = NULL;
	size_t vlen;
	int rc;

	*payload = NULL;
	*plen = 0;
	v = leveldb_get(s->db, s->ro, k, klen, &vlen, &lerr);
	if (lerr != NULL)
		return store_lerr(err, errlen, lerr, "leveldb get");
	if (v == NULL)
		return CHUBBY_E_NOT_FOUND;
	if ((rc = store_check(k, klen, v, vlen, plen, err, errlen)) == CHUBBY_OK)
		*payload = xmemdup(v, *plen);
	leveldb_free(v);
	return rc;
}

/* Reads a fixed-size little-endian u64 record; absent reads as 0. */
static int
store_get_u64(struct store *s, const char *k, size_t klen, uint64_t *out, char *err,
    size_t errlen)
{
	uint8_t *p;
	size_t n;
	int rc;

	*out = 0;
	rc = store_get(s, k, klen, &p, &n, err, errlen);
	if (rc == CHUBBY_E_NOT_FOUND)
		return CHUBBY_OK;
	if (rc != CHUBBY_OK)
		return rc;
	if (n != 8)
		rc = store_bad_payload(k, klen, "payload is not 8 bytes", err, errlen);
	else
		*out = store_get_le64(p);
	free(p);
	return rc;
}

static int
store_write(struct store *s, leveldb_writebatch_t *wb, bool sync, char *err, size_t errlen)
{
	char *lerr = NULL;
	struct timespec t0, t1;

	/* A synced write is LevelDB's write to its log and the fsync of it:
	 * timed whole, as etcd times its WAL fsync. */
	if (sync)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	leveldb_write(s->db, sync ? s->wo_sync : s->wo_nosync, wb, &lerr);
	if (sync) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s->last_sync_us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000);
	}
	if (lerr != NULL)
		return store_lerr(err, errlen, lerr, "leveldb write");
	return CHUBBY_OK;
}

uint64_t
store_last_sync_us(const struct store *s)
{
	return s->last_sync_us;
}

/* The iterator's error after a loop, if any. */
static int
store_iter_error(leveldb_iterator_t *it, char *err, size_t errlen)
{
	char *lerr = NULL;

	leveldb_iter_get_error(it, &lerr);
	if (lerr != NULL)
		return store_lerr(err, errlen, lerr, "leveldb iterator");
	return CHUBBY_OK;
}

/* ---- meta record ------------------------------------------------------- */

/*
 * Parses the meta record.  The format version comes first and is read
 * before anything else, so that any later format is refused by name rather
 * than misread.
 */
static int
store_parse_meta(const char *dir, const uint8_t *p, size_t n, struct store_identity *id,
    char *err, size_t errlen)
{
	memset(id, 0, sizeof *id);
	if (n < 4)
		return store_bad_payload(key_meta, sizeof key_meta, "too short", err, errlen);
	id->format = store_get_le32(p);
	/* Format 1 is format 2 without the chosen index: store_open upgrades it. */
	if (id->format != STORE_FORMAT_VERSION && id->format != 1)
		return store_err(err, errlen, CHUBBY_E_STORE,
		    "store %s has format version %" PRIu32
		    "; this chubbyd reads version %d (and upgrades version 1) (docs/FORMAT.md)",
		    dir, id->format, STORE_FORMAT_VERSION);
	if (n < META_MIN_LEN || n - 9 > STORE_CELL_MAX)
		return store_bad_payload(key_meta, sizeof key_meta, "bad length", err, errlen);
	id->id = (unsigned)store_get_le32(p + 4);
	if (id->id < 1 || id->id > 255 || (p[8] & ~(META_FOUNDER | META_JOINER)) != 0 ||
	    memchr(p + 9, '\0', n - 9) != NULL)
		return store_bad_payload(key_meta, sizeof key_meta, "bad field", err, errlen);
	id->founder = (p[8] & META_FOUNDER) != 0;
	id->joiner = (p[8] & META_JOINER) != 0;
	memcpy(id->cell, p + 9, n - 9);
	id->cell[n - 9] = '\0';
	id->initialized = true;
	return CHUBBY_OK;
}

/* Reads the state kept in memory: identity, applied index, the log's extent. */
static int
store_load_state(struct store *s, char *err, size_t errlen)
{
	leveldb_iterator_t *it;
	const char *k;
	uint8_t *p;
	size_t n, klen;
	char first[128];
	int rc;

	rc = store_get(s, key_meta, sizeof key_meta, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		rc = store_parse_meta(s->dir, p, n, &s->ident, err, errlen);
		free(p);
	}
	if (rc != CHUBBY_OK && rc != CHUBBY_E_NOT_FOUND)
		return rc;

	it = leveldb_create_iterator(s->db, s->ro_scan);
	if (rc == CHUBBY_E_NOT_FOUND) {
		/* Every write but store_init() needs an identity: records
		 * without one are not ours, or half of something. */
		leveldb_iter_seek_to_first(it);
		if (leveldb_iter_valid(it)) {
			k = leveldb_iter_key(it, &klen);
			store_key_name(k, klen, first, sizeof first);
			rc = store_err(err, errlen, CHUBBY_E_CORRUPT,
			    "store %s holds records but no meta record (first: %s)", s->dir, first);
		} else
			rc = store_iter_error(it, err, errlen);
		leveldb_iter_destroy(it);
		return rc;
	}

	leveldb_iter_seek(it, (const char[]){TAG_LOG}, 1);
	for (; leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen == 0 || k[0] != TAG_LOG)
			break;
		if (!store_is_log_key(k, klen)) {
			leveldb_iter_destroy(it);
			return store_bad_payload(k, klen, "malformed log key", err, errlen);
		}
		if (s->log_n++ == 0)
			s->log_lo = store_log_slot(k);
		s->log_hi = store_log_slot(k);
	}
	rc = store_iter_error(it, err, errlen);
	leveldb_iter_destroy(it);
	if (rc != CHUBBY_OK)
		return rc;
	return store_get_u64(s, key_applied, sizeof key_applied, &s->applied, err, errlen);
}

/* ---- open and close ---------------------------------------------------- */

/* Builds the meta record's payload for ID into S->val; returns its length. */
static size_t
store_build_meta(struct store *s, const struct store_identity *id, uint8_t **payload)
{
	size_t clen = strlen(id->cell);
	uint8_t *p = store_buf_reserve(&s->val, 9 + clen + CRC_LEN);

	store_put_le32(p, STORE_FORMAT_VERSION);
	store_put_le32(p + 4, id->id);
	p[8] = (uint8_t)((id->founder ? META_FOUNDER : 0) | (id->joiner ? META_JOINER : 0));
	memcpy(p + 9, id->cell, clen);
	*payload = p;
	return 9 + clen;
}

/*
 * A format-1 directory is a format-2 one without the chosen index (docs/
 * FORMAT.md, "Versions"): rewriting the meta record with version 2, synced,
 * is the whole upgrade.
 */
static int
store_upgrade(struct store *s, char *err, size_t errlen)
{
	leveldb_writebatch_t *wb;
	uint8_t *p;
	size_t n;
	int rc;

	if (!s->ident.initialized || s->ident.format == STORE_FORMAT_VERSION)
		return CHUBBY_OK;
	n = store_build_meta(s, &s->ident, &p);
	wb = leveldb_writebatch_create();
	store_wb_put_built(wb, key_meta, sizeof key_meta, p, n);
	rc = store_write(s, wb, true, err, errlen);
	leveldb_writebatch_destroy(wb);
	if (rc == CHUBBY_OK)
		s->ident.format = STORE_FORMAT_VERSION;
	return rc;
}

int
store_open(const char *dir, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	char *lerr = NULL;
	int rc;

	*out = NULL;
	s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(dir);
	s->opt = leveldb_options_create();
	s->cache = leveldb_cache_create_lru(STORE_CACHE_BYTES);
	s->filter = leveldb_filterpolicy_create_bloom(STORE_BLOOM_BITS);
	leveldb_options_set_create_if_missing(s->opt, 1);
	/* Refuse to open on a damaged log or manifest rather than carry on
	 * without some of what we promised (docs/FORMAT.md, "Corruption"). */
	leveldb_options_set_paranoid_checks(s->opt, 1);
	leveldb_options_set_cache(s->opt, s->cache);
	leveldb_options_set_filter_policy(s->opt, s->filter);
	leveldb_options_set_write_buffer_size(s->opt, STORE_WRITE_BUFFER);
	leveldb_options_set_max_open_files(s->opt, STORE_MAX_OPEN_FILES);

	s->ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(s->ro, 1);
	s->ro_scan = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(s->ro_scan, 1);
	leveldb_readoptions_set_fill_cache(s->ro_scan, 0);
	s->wo_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(s->wo_sync, 1);
	s->wo_nosync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(s->wo_nosync, 0);

	s->db = leveldb_open(s->opt, dir, &lerr);
	if (s->db == NULL) {
		rc = strncmp(lerr, "Corruption:", 11) == 0 ? CHUBBY_E_CORRUPT : CHUBBY_E_STORE;
		/* LevelDB locks DIR/LOCK: name the likely cause. */
		store_err(err, errlen, rc, "cannot open store %s: %s%s", dir, lerr,
		    strstr(lerr, "/LOCK") != NULL ?
			" (is another chubbyd using this data directory?)" :
			"");
		leveldb_free(lerr);
		store_close(s);
		return rc;
	}
	if ((rc = store_load_state(s, err, errlen)) != CHUBBY_OK ||
	    (rc = store_upgrade(s, err, errlen)) != CHUBBY_OK) {
		store_close(s);
		return rc;
	}
	*out = s;
	return CHUBBY_OK;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	/* The database goes first: it uses the options, cache and filter. */
	if (s->db != NULL)
		leveldb_close(s->db);
	leveldb_options_destroy(s->opt);
	leveldb_cache_destroy(s->cache);
	leveldb_filterpolicy_destroy(s->filter);
	leveldb_readoptions_destroy(s->ro);
	leveldb_readoptions_destroy(s->ro_scan);
	leveldb_writeoptions_destroy(s->wo_sync);
	leveldb_writeoptions_destroy(s->wo_nosync);
	store_buf_free(&s->key);
	store_buf_free(&s->val);
	free(s->dir);
	free(s);
}

/* ---- identity ---------------------------------------------------------- */

void
store_identity(const struct store *s, struct store_identity *out)
{
	*out = s->ident;
}

static int store_init_flags(struct store *s, const char *cell, unsigned id, uint8_t flags,
    char *err, size_t errlen);

int
store_init(struct store *s, const char *cell, unsigned id, bool voter, char *err, size_t errlen)
{
	return store_init_flags(s, cell, id, voter ? META_FOUNDER : 0, err, errlen);
}

int
store_init_joiner(struct store *s, const char *cell, unsigned id, char *err, size_t errlen)
{
	return store_init_flags(s, cell, id, META_JOINER, err, errlen);
}

static int
store_init_flags(struct store *s, const char *cell, unsigned id, uint8_t flags, char *err,
    size_t errlen)
{
	bool voter = (flags & META_FOUNDER) != 0;
	leveldb_writebatch_t *wb;
	uint8_t *p, one = 1;
	size_t clen;
	int rc;

	if (s->ident.initialized)
		return store_err(err, errlen, CHUBBY_E_INVALID,
		    "store %s is already initialized for cell \"%s\" replica %u", s->dir,
		    s->ident.cell, s->ident.id);
	clen = cell != NULL ? strlen(cell) : 0;
	if (clen == 0 || clen > STORE_CELL_MAX)
		return store_err(err, errlen, CHUBBY_E_INVALID,
		    "cell name must be 1..%d bytes", STORE_CELL_MAX);
	if (id < 1 || id > 255)
		return store_err(err, errlen, CHUBBY_E_INVALID, "replica id %u not in 1..255", id);

	p = xmalloc(9 + clen);
	store_put_le32(p, STORE_FORMAT_VERSION);
	store_put_le32(p + 4, id);
	p[8] = flags;
	memcpy(p + 9, cell, clen);
	wb = leveldb_writebatch_create();
	store_wb_put(wb, &s->val, key_meta, sizeof key_meta, p, 9 + clen);
	if (!voter)
		store_wb_put(wb, &s->val, key_nonvoter, sizeof key_nonvoter, &one, 1);
	rc = store_write(s, wb, true, err, errlen);
	leveldb_writebatch_destroy(wb);
	if (rc == CHUBBY_OK)
		rc = store_parse_meta(s->dir, p, 9 + clen, &s->ident, err, errlen);
	free(p);
	return rc;
}

int
store_check_identity(const struct store *s, const char *cell, unsigned id, char *err,
    size_t errlen)
{
	if (!s->ident.initialized)
		return store_err(err, errlen, CHUBBY_E_NOT_FOUND,
		    "store %s holds no identity: a new or wiped data directory", s->dir);
	if (strcmp(s->ident.cell, cell) != 0 || s->ident.id != id)
		return store_err(err, errlen, CHUBBY_E_CONFIG,
		    "data directory %s belongs to cell \"%s\" replica %u, not to cell \"%s\" "
		    "replica %u",
		    s->dir, s->ident.cell, s->ident.id, cell, id);
	return CHUBBY_OK;
}

static int
store_need_identity(const struct store *s, char *err, size_t errlen)
{
	if (!s->ident.initialized)
		return store_err(err, errlen, CHUBBY_E_INVALID,
		    "store %s is not initialized (store_init first)", s->dir);
	return CHUBBY_OK;
}

/* ---- Paxos durable state ----------------------------------------------- */

int
store_set_first_conf(struct store *s, const struct paxos_conf *c, char *err, size_t errlen)
{
	leveldb_writebatch_t *wb;
	struct paxos_buf b = {NULL, 0};
	uint8_t *p;
	size_t n;
	int rc;

	if ((rc = store_need_identity(s, err, errlen)) != CHUBBY_OK)
		return rc;
	if (c->nvoters == 0)
		return store_err(err, errlen, CHUBBY_E_INVALID, "a configuration needs voters");
	rc = store_get(s, key_snap_conf, sizeof key_snap_conf, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		free(p);
		return store_err(err, errlen, CHUBBY_E_EXISTS,
		    "store %s already holds a configuration", s->dir);
	}
	if (rc != CHUBBY_E_NOT_FOUND)
		return rc;
	rc = store_get(s, key_snapshot, sizeof key_snapshot, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		free(p);
		return store_err(err, errlen, CHUBBY_E_EXISTS,
		    "store %s holds a snapshot without its configuration", s->dir);
	}
	if (rc != CHUBBY_E_NOT_FOUND)
		return rc;
	paxos_conf_encode(c, &b);
	wb = leveldb_writebatch_create();
	store_wb_put(wb, &s->val, key_snap_conf, sizeof key_snap_conf, b.data, b.len);
	rc = store_write(s, wb, true, err, errlen);
	leveldb_writebatch_destroy(wb);
	paxos_buf_free(&b);
	return rc;
}

/* Decodes a log record into E (whose value is malloc'd). */
static int
store_decode_entry(const char *k, size_t klen, const char *v, size_t vlen,
    struct paxos_entry *e, char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)v;
	size_t n;
	int rc;

	memset(e, 0, sizeof *e);
	if ((rc = store_check(k, klen, v, vlen, &n, err, errlen)) != CHUBBY_OK)
		return rc;
	if (n < ENTRY_MIN_LEN || (p[8] & ~ENTRY_CHOSEN) != 0)
		return store_bad_payload(k, klen, "malformed entry", err, errlen);
	e->slot = store_log_slot(k);
	e->ballot = store_get_le64(p);
	e->chosen = (p[8] & ENTRY_CHOSEN) != 0;
	e->value.len = n - ENTRY_MIN_LEN;
	e->value.data = e->value.len > 0 ? xmemdup(p + ENTRY_MIN_LEN, e->value.len) : NULL;
	return CHUBBY_OK;
}

int
store_load_paxos(struct store *s, struct paxos_durable *d, char *err, size_t errlen)
{
	leveldb_iterator_t *it;
	const char *k, *v;
	size_t klen, vlen, cap = 0, n;
	uint8_t *p;
	int rc;

	memset(d, 0, sizeof *d);
	if ((rc = store_get_u64(s, key_promised, sizeof key_promised, &d->promised, err,
		 errlen)) != CHUBBY_OK)
		return rc;

	rc = store_get(s, key_nonvoter, sizeof key_nonvoter, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		if (n != 1 || p[0] > 1)
			rc = store_bad_payload(key_nonvoter, sizeof key_nonvoter, "not 0 or 1", err,
			    errlen);
		else
			d->nonvoter = p[0] == 1;
		free(p);
	}
	if (rc != CHUBBY_OK && rc != CHUBBY_E_NOT_FOUND)
		return rc;

	rc = store_get(s, key_snapshot, sizeof key_snapshot, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		if (n < 8)
			rc = store_bad_payload(key_snapshot, sizeof key_snapshot, "too short", err,
			    errlen);
		else {
			d->snap_index = store_get_le64(p);
			d->snap.len = n - 8;
			d->snap.data = d->snap.len > 0 ? xmemdup(p + 8, d->snap.len) : NULL;
		}
		free(p);
	}
	if (rc != CHUBBY_OK && rc != CHUBBY_E_NOT_FOUND)
		return rc;

	rc = store_get(s, key_snap_conf, sizeof key_snap_conf, &p, &n, err, errlen);
	if (rc == CHUBBY_OK) {
		struct paxos_buf b = {p, n};

		if (!paxos_conf_decode(&b, &d->snap_conf) || d->snap_conf.nvoters == 0)
			rc = store_bad_payload(key_snap_conf, sizeof key_snap_conf,
			    "not a configuration", err, errlen);
		free(p);
	}
	if (rc != CHUBBY_OK && rc != CHUBBY_E_NOT_FOUND)
		return rc;

	d->applied = s->applied;
	if ((rc = store_get_u64(s, key_chosen, sizeof key_chosen, &d->chosen, err, errlen)) !=
	    CHUBBY_OK)
		return rc;

	it = leveldb_create_iterator(s->db, s->ro_scan);
	leveldb_iter_seek(it, (const char[]){TAG_LOG}, 1);
	for (rc = CHUBBY_OK; leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen == 0 || k[0] != TAG_LOG)
			break;
		if (!store_is_log_key(k, klen)) {
			rc = store_bad_payload(k, klen, "malformed log key", err, errlen);
			break;
		}
		if (d->nentries == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			d->entries = xrealloc(d->entries, cap * sizeof *d->entries);
		}
		v = leveldb_iter_value(it, &vlen);
		rc = store_decode_entry(k, klen, v, vlen, &d->entries[d->nentries], err, errlen);
		if (rc != CHUBBY_OK)
			break;
		d->nentries++;
	}
	if (rc == CHUBBY_OK)
		rc = store_iter_error(it, err, errlen);
	leveldb_iter_destroy(it);
	return rc;
}

void
store_paxos_durable_free(struct paxos_durable *d)
{
	size_t i;

	if (d == NULL)
		return;
	free(d->snap.data);
	for (i = 0; i < d->nentries; i++)
		free(d->entries[i].value.data);
	free(d->entries);
	memset(d, 0, sizeof *d);
}

/* True if slot S is on disk as IT sees the database. */
static bool
store_log_has(leveldb_iterator_t *it, uint64_t slot)
{
	uint8_t k[LOG_KEY_LEN];
	const char *got;
	size_t glen;

	store_log_key(k, slot);
	leveldb_iter_seek(it, (const char *)k, sizeof k);
	if (!leveldb_iter_valid(it))
		return false;
	got = leveldb_iter_key(it, &glen);
	return glen == sizeof k && memcmp(got, k, sizeof k) == 0;
}

int
store_persist(struct store *s, const struct paxos_persist *w, char *err, size_t errlen)
{
	return store_persist_group(s, &w, 1, err, errlen);
}

int
store_persist_group(struct store *s, const struct paxos_persist *const *ws, size_t nw, char *err,
    size_t errlen)
{
	leveldb_writebatch_t *wb;
	leveldb_iterator_t *it = NULL;
	const struct paxos_persist *promised = NULL, *nonvoter = NULL, *snap = NULL;
	const struct paxos_entry *e, **ents = NULL;
	uint64_t n, lo, hi, dn, dlo, dhi, truncate_upto = 0, chosen_upto = 0, later;
	uint8_t k[LOG_KEY_LEN], *p, b;
	const char *ik;
	size_t i, j, w, iklen, nents = 0, maxents = 0;
	bool fresh;
	int rc;

	if ((rc = store_need_identity(s, err, errlen)) != CHUBBY_OK)
		return rc;
	/*
	 * Several PERSISTs in one batch, with the effect of applying them one
	 * after another: the last promise, non-voter flag and snapshot win; the
	 * highest truncation and chosen index; every entry except those a later
	 * PERSIST truncates (its own truncation came before it).
	 */
	for (w = 0; w < nw; w++) {
		if (ws[w]->set_promised)
			promised = ws[w];
		if (ws[w]->set_nonvoter)
			nonvoter = ws[w];
		if (ws[w]->set_snapshot)
			snap = ws[w];
		if (ws[w]->truncate_upto > truncate_upto)
			truncate_upto = ws[w]->truncate_upto;
		if (ws[w]->chosen_upto > chosen_upto)
			chosen_upto = ws[w]->chosen_upto;
		maxents += ws[w]->nentries;
		for (i = 0; i < ws[w]->nentries; i++)
			if (ws[w]->entries[i].slot == 0)
				return store_err(err, errlen, CHUBBY_E_INVALID,
				    "log slot 0 is not a slot");
	}
	if (maxents > 0)
		ents = xmalloc(maxents * sizeof *ents);
	later = 0; /* highest truncation by a PERSIST after W */
	for (w = nw; w-- > 0;) {
		for (i = ws[w]->nentries; i-- > 0;)
			if (ws[w]->entries[i].slot > later)
				ents[nents++] = &ws[w]->entries[i];
		if (ws[w]->truncate_upto > later)
			later = ws[w]->truncate_upto;
	}
	/* Collected backwards: put them in the order they were asked for. */
	for (i = 0; i < nents / 2; i++) {
		e = ents[i];
		ents[i] = ents[nents - 1 - i];
		ents[nents - 1 - i] = e;
	}

	/* LevelDB applies a batch's operations in order, so the order below
	 * is the one paxos.h specifies (a later put of a key wins). */
	wb = leveldb_writebatch_create();
	if (promised != NULL) {
		p = store_buf_reserve(&s->val, 8 + CRC_LEN);
		store_put_le64(p, promised->promised);
		store_wb_put_built(wb, key_promised, sizeof key_promised, p, 8);
	}
	if (nonvoter != NULL) {
		b = nonvoter->nonvoter ? 1 : 0;
		store_wb_put(wb, &s->val, key_nonvoter, sizeof key_nonvoter, &b, 1);
	}
	if (snap != NULL) {
		p = store_buf_reserve(&s->val, 8 + snap->snap.len + CRC_LEN);
		store_put_le64(p, snap->snap_index);
		if (snap->snap.len > 0)
			memcpy(p + 8, snap->snap.data, snap->snap.len);
		store_wb_put_built(wb, key_snapshot, sizeof key_snapshot, p, 8 + snap->snap.len);
		/* Its configuration, or none: an older snapshot's must not
		 * outlive it. */
		if (snap->snap_conf.nvoters > 0) {
			struct paxos_buf c;

			paxos_conf_encode(&snap->snap_conf, &c);
			store_wb_put(wb, &s->val, key_snap_conf, sizeof key_snap_conf, c.data, c.len);
			paxos_buf_free(&c);
		} else
			leveldb_writebatch_delete(wb, key_snap_conf, sizeof key_snap_conf);
	}

	/* Keep the log's extent in step: computed against the database as
	 * it stands before this batch, applied only once the write lands. */
	n = s->log_n;
	lo = s->log_lo;
	hi = s->log_hi;
	if (truncate_upto != 0 || (nents > 0 && n > 0))
		it = leveldb_create_iterator(s->db, s->ro);
	if (truncate_upto != 0 && n > 0 && truncate_upto >= lo) {
		/* Seek to the first live entry: earlier truncations left
		 * tombstones below it that a scan from slot 0 would wade through. */
		store_log_key(k, lo);
		leveldb_iter_seek(it, (const char *)k, sizeof k);
		lo = hi = 0;
		for (; leveldb_iter_valid(it); leveldb_iter_next(it)) {
			ik = leveldb_iter_key(it, &iklen);
			if (!store_is_log_key(ik, iklen))
				break;
			if (store_log_slot(ik) > truncate_upto) {
				lo = store_log_slot(ik);
				hi = s->log_hi;
				break;
			}
			leveldb_writebatch_delete(wb, ik, iklen);
			if (n > 0)
				n--;
		}
		if (lo == 0)
			n = 0;
		if ((rc = store_iter_error(it, err, errlen)) != CHUBBY_OK)
			goto out;
	}

	dn = n;
	dlo = lo;
	dhi = hi;
	for (i = 0; i < nents; i++) {
		e = ents[i];
		/* An entry is new unless it is on disk and not truncated by
		 * this batch (the extent dn/dlo/dhi, which the iterator sees),
		 * or an earlier put in this batch made it. */
		if (dn == 0 || e->slot < dlo || e->slot > dhi)
			fresh = true;
		else
			fresh = !store_log_has(it, e->slot);
		for (j = 0; fresh && j < i; j++)
			if (ents[j]->slot == e->slot)
				fresh = false;
		if (fresh) {
			if (n == 0 || e->slot < lo)
				lo = e->slot;
			if (n == 0 || e->slot > hi)
				hi = e->slot;
			n++;
		}
		store_log_key(k, e->slot);
		p = store_buf_reserve(&s->val, ENTRY_MIN_LEN + e->value.len + CRC_LEN);
		store_put_le64(p, e->ballot);
		p[8] = e->chosen ? ENTRY_CHOSEN : 0;
		if (e->value.len > 0)
			memcpy(p + ENTRY_MIN_LEN, e->value.data, e->value.len);
		store_wb_put_built(wb, k, sizeof k, p, ENTRY_MIN_LEN + e->value.len);
	}
	if (it != NULL && (rc = store_iter_error(it, err, errlen)) != CHUBBY_OK)
		goto out;
	if (chosen_upto != 0) {
		p = store_buf_reserve(&s->val, 8 + CRC_LEN);
		store_put_le64(p, chosen_upto);
		store_wb_put_built(wb, key_chosen, sizeof key_chosen, p, 8);
	}

	if ((rc = store_write(s, wb, true, err, errlen)) == CHUBBY_OK) {
		s->log_n = n;
		s->log_lo = lo;
		s->log_hi = hi;
	}
out:
	if (it != NULL)
		leveldb_iter_destroy(it);
	leveldb_writebatch_destroy(wb);
	free(ents);
	return rc;
}

/* ---- state machine ----------------------------------------------------- */

struct store_batch *
store_batch_new(void)
{
	struct store_batch *b = xcalloc(1, sizeof *b);

	b->wb = leveldb_writebatch_create();
	return b;
}

void
store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	leveldb_writebatch_destroy(b->wb);
	store_buf_free(&b->key);
	store_buf_free(&b->val);
	free(b);
}

void
store_batch_clear(struct store_batch *b)
{
	leveldb_writebatch_clear(b->wb);
}

void
store_sm_put(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	const char *k = store_sm_key(&b->key, key, klen);

	store_wb_put(b->wb, &b->val, k, klen + 1, val, vlen);
}

void
store_sm_del(struct store_batch *b, const void *key, size_t klen)
{
	const char *k = store_sm_key(&b->key, key, klen);

	leveldb_writebatch_delete(b->wb, k, klen + 1);
}

int
store_sm_commit(struct store *s, struct store_batch *b, uint64_t applied, bool sync, char *err,
    size_t errlen)
{
	uint8_t a[8];
	int rc;

	if ((rc = store_need_identity(s, err, errlen)) != CHUBBY_OK)
		return rc;
	if (applied < s->applied)
		return store_err(err, errlen, CHUBBY_E_INVALID,
		    "applied index %" PRIu64 " is below the stored %" PRIu64, applied, s->applied);
	/* The applied index rides in the same batch as the changes it
	 * describes: after a crash the state is exactly as of that index. */
	store_put_le64(a, applied);
	store_wb_put(b->wb, &s->val, key_applied, sizeof key_applied, a, sizeof a);
	rc = store_write(s, b->wb, sync, err, errlen);
	if (rc == CHUBBY_OK)
		s->applied = applied;
	leveldb_writebatch_clear(b->wb);
	return rc;
}

int
store_sm_replace(struct store *s, struct store_batch *b, uint64_t applied, char *err,
    size_t errlen)
{
	leveldb_writebatch_t *wb;
	leveldb_iterator_t *it;
	const char *k;
	size_t klen;
	uint8_t a[8];
	int rc;

	if ((rc = store_need_identity(s, err, errlen)) != CHUBBY_OK)
		return rc;
	/* Deletes of every current key first, then the new state: one batch,
	 * so a crash leaves the old state or the new one, never a mixture. */
	wb = leveldb_writebatch_create();
	it = leveldb_create_iterator(s->db, s->ro_scan);
	leveldb_iter_seek(it, (const char[]){TAG_SM}, 1);
	for (; leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen == 0 || k[0] != TAG_SM)
			break;
		leveldb_writebatch_delete(wb, k, klen);
	}
	rc = store_iter_error(it, err, errlen);
	leveldb_iter_destroy(it);
	if (rc == CHUBBY_OK) {
		leveldb_writebatch_append(wb, b->wb);
		store_put_le64(a, applied);
		store_wb_put(wb, &s->val, key_applied, sizeof key_applied, a, sizeof a);
		if ((rc = store_write(s, wb, true, err, errlen)) == CHUBBY_OK)
			s->applied = applied;
	}
	leveldb_writebatch_destroy(wb);
	leveldb_writebatch_clear(b->wb);
	return rc;
}

uint64_t
store_sm_applied(const struct store *s)
{
	return s->applied;
}

int
store_sm_get(struct store *s, const void *key, size_t klen, void **val, size_t *vlen, char *err,
    size_t errlen)
{
	const char *k = store_sm_key(&s->key, key, klen);
	uint8_t *p;
	int rc;

	*val = NULL;
	*vlen = 0;
	rc = store_get(s, k, klen + 1, &p, vlen, err, errlen);
	if (rc == CHUBBY_E_NOT_FOUND)
		store_err(err, errlen, rc, "no such key");
	*val = p;
	return rc;
}

struct store_iter *
store_sm_iter_new(struct store *s, const void *prefix, size_t plen)
{
	struct store_iter *i = xcalloc(1, sizeof *i);

	i->prefix = xmalloc(plen + 1);
	i->prefix[0] = TAG_SM;
	if (plen > 0)
		memcpy(i->prefix + 1, prefix, plen);
	i->plen = plen + 1;
	/* A LevelDB iterator reads one version of the database: the
	 * consistent view a snapshot of the state machine needs. */
	i->it = leveldb_create_iterator(s->db, s->ro_scan);
	return i;
}

bool
store_sm_iter_next(struct store_iter *i, const void **key, size_t *klen, const void **val,
    size_t *vlen)
{
	const char *k, *v;
	size_t kl, vl, n;

	if (i->done)
		return false;
	if (!i->started) {
		leveldb_iter_seek(i->it, (const char *)i->prefix, i->plen);
		i->started = true;
	} else
		leveldb_iter_next(i->it);
	if (!leveldb_iter_valid(i->it)) {
		i->done = true;
		i->rc = store_iter_error(i->it, i->msg, sizeof i->msg);
		return false;
	}
	k = leveldb_iter_key(i->it, &kl);
	if (kl < i->plen || memcmp(k, i->prefix, i->plen) != 0) {
		i->done = true;
		return false;
	}
	v = leveldb_iter_value(i->it, &vl);
	if ((i->rc = store_check(k, kl, v, vl, &n, i->msg, sizeof i->msg)) != CHUBBY_OK) {
		i->done = true;
		return false;
	}
	*key = k + 1;
	*klen = kl - 1;
	*val = v;
	*vlen = n;
	return true;
}

int
store_sm_iter_status(const struct store_iter *i, char *err, size_t errlen)
{
	if (i->rc != CHUBBY_OK)
		store_err(err, errlen, i->rc, "%s", i->msg);
	return i->rc;
}

void
store_sm_iter_free(struct store_iter *i)
{
	if (i == NULL)
		return;
	leveldb_iter_destroy(i->it);
	free(i->prefix);
	free(i);
}

/* ---- integrity and metrics --------------------------------------------- */

/* Checks one record: its key is of a known shape, its checksum and payload hold. */
static int
store_verify_record(struct store *s, const char *k, size_t klen, const char *v, size_t vlen,
    char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)v;
	struct store_identity id;
	struct paxos_entry e;
	size_t n;
	int rc;

	if (store_is_log_key(k, klen)) {
		if ((rc = store_decode_entry(k, klen, v, vlen, &e, err, errlen)) != CHUBBY_OK)
			return rc;
		free(e.value.data);
		if (e.slot == 0)
			return store_bad_payload(k, klen, "slot 0", err, errlen);
		return CHUBBY_OK;
	}
	if (klen >= 1 && k[0] == TAG_SM)
		return store_check(k, klen, v, vlen, &n, err, errlen);
	if ((rc = store_check(k, klen, v, vlen, &n, err, errlen)) != CHUBBY_OK)
		return rc;
	if (klen == sizeof key_meta && memcmp(k, key_meta, klen) == 0)
		return store_parse_meta(s->dir, p, n, &id, err, errlen);
	if ((klen == sizeof key_applied && memcmp(k, key_applied, klen) == 0) ||
	    (klen == sizeof key_promised && memcmp(k, key_promised, klen) == 0) ||
	    (klen == sizeof key_chosen && memcmp(k, key_chosen, klen) == 0))
		return n == 8 ? CHUBBY_OK :
				store_bad_payload(k, klen, "payload is not 8 bytes", err, errlen);
	if (klen == sizeof key_nonvoter && memcmp(k, key_nonvoter, klen) == 0)
		return n == 1 && p[0] <= 1 ? CHUBBY_OK :
					     store_bad_payload(k, klen, "not 0 or 1", err, errlen);
	if (klen == sizeof key_snapshot && memcmp(k, key_snapshot, klen) == 0)
		return n >= 8 ? CHUBBY_OK : store_bad_payload(k, klen, "too short", err, errlen);
	if (klen == sizeof key_snap_conf && memcmp(k, key_snap_conf, klen) == 0) {
		struct paxos_buf b = {(uint8_t *)(uintptr_t)p, n}; /* only read */
		struct paxos_conf c;

		return paxos_conf_decode(&b, &c) && c.nvoters > 0 ? CHUBBY_OK :
			store_bad_payload(k, klen, "not a configuration", err, errlen);
	}
	return store_bad_payload(k, klen, "not a key this format has", err, errlen);
}

int
store_verify(struct store *s, char *err, size_t errlen)
{
	leveldb_iterator_t *it;
	const char *k, *v;
	size_t klen, vlen;
	bool meta = false, other = false;
	int rc = CHUBBY_OK;

	it = leveldb_create_iterator(s->db, s->ro_scan);
	for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		v = leveldb_iter_value(it, &vlen);
		if ((rc = store_verify_record(s, k, klen, v, vlen, err, errlen)) != CHUBBY_OK)
			break;
		if (klen == sizeof key_meta && memcmp(k, key_meta, klen) == 0)
			meta = true;
		else
			other = true;
	}
	if (rc == CHUBBY_OK)
		rc = store_iter_error(it, err, errlen);
	leveldb_iter_destroy(it);
	if (rc == CHUBBY_OK && other && !meta)
		rc = store_err(err, errlen, CHUBBY_E_CORRUPT,
		    "store %s holds records but no meta record", s->dir);
	return rc;
}

void
store_stats(struct store *s, struct store_stats *st)
{
	/* Ranges: the log, the state machine, everything (end keys exclusive). */
	static const char *const start[] = {"L", "S", ""};
	static const size_t startlen[] = {1, 1, 0};
	static const char *const limit[] = {"M", "T", "\xff"};
	static const size_t limitlen[] = {1, 1, 1};
	uint64_t sizes[3];

	memset(st, 0, sizeof *st);
	st->log_entries = s->log_n;
	st->log_first = s->log_lo;
	st->log_last = s->log_hi;
	st->sm_applied = s->applied;
	leveldb_approximate_sizes(s->db, 3, start, startlen, limit, limitlen, sizes);
	st->bytes_log = sizes[0];
	st->bytes_sm = sizes[1];
	st->bytes_total = sizes[2];
}

/* ---- raw access (tests, repair) ---------------------------------------- */

int
store_raw_put(struct store *s, const void *key, size_t klen, const void *val, size_t vlen,
    char *err, size_t errlen)
{
	leveldb_writebatch_t *wb = leveldb_writebatch_create();
	int rc;

	leveldb_writebatch_put(wb, key, klen, val, vlen);
	rc = store_write(s, wb, true, err, errlen);
	leveldb_writebatch_destroy(wb);
	return rc;
}

int
store_raw_get(struct store *s, const void *key, size_t klen, void **val, size_t *vlen,
    char *err, size_t errlen)
{
	char *v, *lerr = NULL;

	*val = NULL;
	*vlen = 0;
	v = leveldb_get(s->db, s->ro, key, klen, vlen, &lerr);
	if (lerr != NULL)
		return store_lerr(err, errlen, lerr, "leveldb get");
	if (v == NULL)
		return store_err(err, errlen, CHUBBY_E_NOT_FOUND, "no such key");
	*val = xmemdup(v, *vlen);
	leveldb_free(v);
	return CHUBBY_OK;
}
