/*
 * seqtoken.c: signed sequencers (Chubby §2.4; docs/SEQUENCER.md): the
 * codec, the HMAC-SHA256 signature, the key file, and the public
 * chubby_sequencer_* calls that let a resource server check a sequencer
 * without talking to the cell.
 *
 * Encoding packs with msgpack-c's packer, which always picks the shortest
 * form, so a token has exactly one byte string.  Decoding does not hand the
 * untrusted bytes to msgpack_unpack (which sizes allocations from declared
 * counts): a small reader takes the eight elements in order, then the
 * fields are packed again and must give back the very same bytes.  So a
 * token that decodes is canonical, the MAC is computed over bytes we
 * produced ourselves, and no two byte strings stand for one token.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chubby/chubby.h>

#include "errbuf.h"
#include "lasterr.h"
#include "seqtoken.h"

_Static_assert(sizeof(((struct chubby_sequencer_info *)0)->cell) == SEQTOKEN_CELL_MAX + 1,
    "chubby_sequencer_info.cell and seqtoken.cell must agree");
_Static_assert(sizeof(((struct chubby_sequencer_info *)0)->path) == SEQTOKEN_PATH_MAX + 1,
    "chubby_sequencer_info.path and seqtoken.path must agree");

/* Elements of the array, in order. */
enum { SEQ_TAG, SEQ_VERSION, SEQ_CELL, SEQ_PATH, SEQ_MODE, SEQ_LOCK_GEN, SEQ_INSTANCE, SEQ_MAC,
	SEQ_NELEM };
#define SEQ_NSIGNED (SEQ_NELEM - 1) /* the MAC covers the first seven */

static const char *const seq_elem_name[SEQ_NELEM] = {
    "tag", "version", "cell", "path", "mode", "lock_gen", "instance", "mac",
};

/* A packer target of fixed size: no allocation, and a too-long token is a
 * write error rather than a large buffer. */
struct seq_fbuf {
	uint8_t data[SEQTOKEN_INPUT_MAX];
	size_t len;
};

static int
seq_fbuf_write(void *data, const char *buf, size_t len)
{
	struct seq_fbuf *b = data;

	if (len > sizeof b->data - b->len)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

/* Packs the array header for NELEM elements, then the seven signed fields. */
static int
seq_pack_fields(msgpack_packer *pk, const struct seqtoken *t, size_t celllen, size_t pathlen,
    size_t nelem)
{
	if (msgpack_pack_array(pk, nelem) != 0 ||
	    msgpack_pack_str_with_body(pk, SEQTOKEN_TAG, sizeof SEQTOKEN_TAG - 1) != 0 ||
	    msgpack_pack_uint64(pk, SEQTOKEN_VERSION) != 0 ||
	    msgpack_pack_str_with_body(pk, t->cell, celllen) != 0 ||
	    msgpack_pack_str_with_body(pk, t->path, pathlen) != 0 ||
	    msgpack_pack_uint64(pk, (uint64_t)t->mode) != 0 ||
	    msgpack_pack_uint64(pk, t->lock_gen) != 0 || msgpack_pack_uint64(pk, t->instance) != 0)
		return -1;
	return 0;
}

static int
seq_mac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
    uint8_t mac[SEQTOKEN_MAC_LEN])
{
	unsigned int maclen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, len, mac, &maclen) == NULL ||
	    maclen != SEQTOKEN_MAC_LEN)
		return CHUBBY_E_INTERNAL;
	return CHUBBY_OK;
}

/* Checks T's fields for encoding; their lengths in *CELLLEN, *PATHLEN. */
static int
seq_check_fields(const struct seqtoken *t, size_t *celllen, size_t *pathlen)
{
	*celllen = strnlen(t->cell, sizeof t->cell);
	*pathlen = strnlen(t->path, sizeof t->path);
	if (*celllen == 0 || *celllen > SEQTOKEN_CELL_MAX)
		return CHUBBY_E_INVALID;
	if (*pathlen == 0 || *pathlen > SEQTOKEN_PATH_MAX)
		return CHUBBY_E_INVALID;
	if (t->mode != SEQTOKEN_MODE_SHARED && t->mode != SEQTOKEN_MODE_EXCLUSIVE)
		return CHUBBY_E_INVALID;
	return CHUBBY_OK;
}

int
seqtoken_encode(const uint8_t *key, size_t keylen, const struct seqtoken *t, uint8_t **out,
    size_t *outlen)
{
	struct seq_fbuf fb;
	msgpack_packer pk;
	uint8_t mac[SEQTOKEN_MAC_LEN];
	size_t celllen, pathlen, maclen = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (t == NULL || out == NULL || outlen == NULL)
		return CHUBBY_E_INVALID;
	if (key == NULL)
		keylen = 0;
	if (keylen != 0 && (keylen < SEQTOKEN_KEY_MIN || keylen > SEQTOKEN_KEY_MAX))
		return CHUBBY_E_INVALID;
	if ((rc = seq_check_fields(t, &celllen, &pathlen)) != CHUBBY_OK)
		return rc;

	msgpack_packer_init(&pk, &fb, seq_fbuf_write);
	if (keylen != 0) {
		fb.len = 0;
		/* Cannot overflow: every field is bounded far below the buffer. */
		if (seq_pack_fields(&pk, t, celllen, pathlen, SEQ_NSIGNED) != 0)
			return CHUBBY_E_INTERNAL;
		if ((rc = seq_mac(key, keylen, fb.data, fb.len, mac)) != CHUBBY_OK)
			return rc;
		maclen = SEQTOKEN_MAC_LEN;
	}
	fb.len = 0;
	if (seq_pack_fields(&pk, t, celllen, pathlen, SEQ_NELEM) != 0 ||
	    msgpack_pack_bin(&pk, maclen) != 0 || msgpack_pack_bin_body(&pk, mac, maclen) != 0)
		return CHUBBY_E_INTERNAL;
	if ((*out = malloc(fb.len)) == NULL)
		return CHUBBY_E_NOMEM;
	memcpy(*out, fb.data, fb.len);
	*outlen = fb.len;
	return CHUBBY_OK;
}

/* ---- decoding ---- */

struct seq_rd {
	const uint8_t *p;
	size_t len, off;
};

static bool
seq_have(const struct seq_rd *r, size_t n)
{
	return r->len - r->off >= n;
}

static uint64_t
seq_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int
seq_truncated(int idx, char *err, size_t errlen)
{
	errbuf_set(err, errlen, "damaged sequencer: cut short in its %s field", seq_elem_name[idx]);
	return -1;
}

/* Reads an unsigned integer, element IDX. */
static int
seq_read_uint(struct seq_rd *r, int idx, uint64_t *v, char *err, size_t errlen)
{
	uint8_t b;
	size_t n;

	if (!seq_have(r, 1))
		return seq_truncated(idx, err, errlen);
	b = r->p[r->off];
	if (b <= 0x7f) {
		*v = b;
		r->off++;
		return 0;
	}
	if (b < 0xcc || b > 0xcf) {
		errbuf_set(err, errlen, "damaged sequencer: its %s field is not a number",
		    seq_elem_name[idx]);
		return -1;
	}
	n = (size_t)1 << (b - 0xcc); /* cc: 1, cd: 2, ce: 4, cf: 8 bytes */
	if (!seq_have(r, 1 + n))
		return seq_truncated(idx, err, errlen);
	*v = seq_be(r->p + r->off + 1, n);
	r->off += 1 + n;
	return 0;
}

/* Reads a string (BIN false) or a binary (BIN true) of at most MAX bytes,
 * element IDX; *PTR points into the input. */
static int
seq_read_raw(struct seq_rd *r, int idx, bool bin, size_t max, const uint8_t **ptr, size_t *len,
    char *err, size_t errlen)
{
	uint8_t b;
	size_t n;

	if (!seq_have(r, 1))
		return seq_truncated(idx, err, errlen);
	b = r->p[r->off];
	if (!bin && b >= 0xa0 && b <= 0xbf) {
		n = 0;
		*len = b & 0x1f;
	} else if ((!bin && b >= 0xd9 && b <= 0xdb) || (bin && b >= 0xc4 && b <= 0xc6)) {
		n = (size_t)1 << (b - (bin ? 0xc4 : 0xd9)); /* 1, 2 or 4 length bytes */
		if (!seq_have(r, 1 + n))
			return seq_truncated(idx, err, errlen);
		*len = (size_t)seq_be(r->p + r->off + 1, n);
	} else {
		errbuf_set(err, errlen, "damaged sequencer: its %s field is not %s",
		    seq_elem_name[idx], bin ? "bytes" : "text");
		return -1;
	}
	if (*len > max) {
		errbuf_set(err, errlen, "damaged sequencer: its %s field is %zu bytes long, more "
		    "than %zu", seq_elem_name[idx], *len, max);
		return -1;
	}
	if (!seq_have(r, 1 + n + *len))
		return seq_truncated(idx, err, errlen);
	*ptr = r->p + r->off + 1 + n;
	r->off += 1 + n + *len;
	return 0;
}

/* Reads the cell or the path into DST (DSTSIZE bytes, NUL included). */
static int
seq_read_name(struct seq_rd *r, int idx, char *dst, size_t dstsize, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t len;

	if (seq_read_raw(r, idx, false, dstsize - 1, &p, &len, err, errlen) != 0)
		return -1;
	if (len == 0) {
		errbuf_set(err, errlen, "damaged sequencer: its %s field is empty",
		    seq_elem_name[idx]);
		return -1;
	}
	if (memchr(p, '\0', len) != NULL) {
		errbuf_set(err, errlen, "damaged sequencer: its %s field holds a NUL byte",
		    seq_elem_name[idx]);
		return -1;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

/* Reads the eight elements of BUF into T (no MAC check); *MAC, *MACLEN
 * point at the MAC in BUF.  0 or -1 with ERR set. */
static int
seq_parse(const uint8_t *buf, size_t len, struct seqtoken *t, const uint8_t **mac, size_t *maclen,
    char *err, size_t errlen)
{
	struct seq_rd r = {buf, len, 0};
	const uint8_t *tag;
	size_t taglen, nelem;
	uint64_t version, mode;

	if (len == 0) {
		errbuf_set(err, errlen, "empty sequencer");
		return -1;
	}
	if (len > SEQTOKEN_INPUT_MAX) {
		errbuf_set(err, errlen, "%zu bytes long, more than the %d a sequencer may have", len,
		    SEQTOKEN_INPUT_MAX);
		return -1;
	}
	/* Tokens are fixarrays; read the tag and version before the count
	 * so that a later format is named as such.  Until the tag is seen
	 * the input is just "not a sequencer": how it fails to decode (a
	 * msgpack map, say) means nothing to whoever pasted it. */
	nelem = buf[0] & 0x0f;
	r.off = 1;
	if (buf[0] < 0x90 || buf[0] > 0x9f || nelem < 2 ||
	    seq_read_raw(&r, SEQ_TAG, false, 255, &tag, &taglen, err, errlen) != 0 ||
	    taglen != sizeof SEQTOKEN_TAG - 1 || memcmp(tag, SEQTOKEN_TAG, taglen) != 0) {
		errbuf_set(err, errlen, "not a sequencer (sequencers come from lockctl seq or "
		                        "chubby_get_sequencer)");
		return -1;
	}
	if (seq_read_uint(&r, SEQ_VERSION, &version, err, errlen) != 0)
		return -1;
	if (version != SEQTOKEN_VERSION) {
		errbuf_set(err, errlen, "sequencer format version %llu not supported (only %d)",
		    (unsigned long long)version, SEQTOKEN_VERSION);
		return -1;
	}
	if (nelem != SEQ_NELEM) {
		errbuf_set(err, errlen, "damaged sequencer: %zu fields, not %d", nelem, SEQ_NELEM);
		return -1;
	}
	if (seq_read_name(&r, SEQ_CELL, t->cell, sizeof t->cell, err, errlen) != 0 ||
	    seq_read_name(&r, SEQ_PATH, t->path, sizeof t->path, err, errlen) != 0 ||
	    seq_read_uint(&r, SEQ_MODE, &mode, err, errlen) != 0)
		return -1;
	if (mode != SEQTOKEN_MODE_SHARED && mode != SEQTOKEN_MODE_EXCLUSIVE) {
		errbuf_set(err, errlen, "damaged sequencer: mode %llu is neither 1 (shared) nor 2 "
		                        "(exclusive)",
		    (unsigned long long)mode);
		return -1;
	}
	t->mode = (int)mode;
	if (seq_read_uint(&r, SEQ_LOCK_GEN, &t->lock_gen, err, errlen) != 0 ||
	    seq_read_uint(&r, SEQ_INSTANCE, &t->instance, err, errlen) != 0 ||
	    seq_read_raw(&r, SEQ_MAC, true, SEQTOKEN_MAC_LEN, mac, maclen, err, errlen) != 0)
		return -1;
	if (*maclen != 0 && *maclen != SEQTOKEN_MAC_LEN) {
		errbuf_set(err, errlen, "damaged sequencer: a signature of %zu bytes, not 0 or %d",
		    *maclen, SEQTOKEN_MAC_LEN);
		return -1;
	}
	if (r.off != len) {
		errbuf_set(err, errlen, "damaged sequencer: %zu bytes after its end", len - r.off);
		return -1;
	}
	return 0;
}

int
seqtoken_decode(const uint8_t *key, size_t keylen, const void *buf, size_t len, struct seqtoken *t,
    char *err, size_t errlen)
{
	struct seqtoken tmp;
	struct seq_fbuf fb;
	msgpack_packer pk;
	uint8_t want[SEQTOKEN_MAC_LEN];
	const uint8_t *in = buf, *mac = NULL;
	size_t maclen = 0, celllen, pathlen;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (t != NULL)
		memset(t, 0, sizeof *t);
	if (t == NULL || (buf == NULL && len != 0)) {
		errbuf_set(err, errlen, "no sequencer or no place for it");
		return CHUBBY_E_INVALID;
	}
	if (key != NULL && (keylen < SEQTOKEN_KEY_MIN || keylen > SEQTOKEN_KEY_MAX)) {
		errbuf_set(err, errlen, "a key of %zu bytes: a sequencer key has %d to %d", keylen,
		    SEQTOKEN_KEY_MIN, SEQTOKEN_KEY_MAX);
		return CHUBBY_E_INVALID;
	}
	memset(&tmp, 0, sizeof tmp);
	if (seq_parse(in, len, &tmp, &mac, &maclen, err, errlen) != 0)
		return CHUBBY_E_BAD_SEQUENCER;

	/* Canonical form: packing the fields again gives back the input. */
	celllen = strlen(tmp.cell);
	pathlen = strlen(tmp.path);
	fb.len = 0;
	msgpack_packer_init(&pk, &fb, seq_fbuf_write);
	if (seq_pack_fields(&pk, &tmp, celllen, pathlen, SEQ_NSIGNED) != 0) {
		errbuf_set(err, errlen, "cannot pack the sequencer's fields");
		return CHUBBY_E_INTERNAL;
	}
	/* Both arrays are fixarrays: byte 0 differs (7 or 8 elements), the
	 * rest must match up to the MAC, whose header (2 bytes) must be bin 8. */
	if ((size_t)(mac - in) != fb.len + 2 || in[fb.len] != 0xc4 ||
	    memcmp(fb.data + 1, in + 1, fb.len - 1) != 0) {
		errbuf_set(err, errlen, "damaged sequencer: not in canonical form (a field is "
		                        "encoded longer than needed)");
		return CHUBBY_E_BAD_SEQUENCER;
	}

	if (key != NULL) {
		if (maclen == 0) {
			errbuf_set(err, errlen, "unsigned sequencer (from a cell without a key), but a "
			                        "key was given to verify it");
			return CHUBBY_E_BAD_SEQUENCER;
		}
		if ((rc = seq_mac(key, keylen, fb.data, fb.len, want)) != CHUBBY_OK) {
			errbuf_set(err, errlen, "cannot compute HMAC-SHA256");
			return rc;
		}
		/* Constant time: the comparison must not tell a forger how many
		 * leading bytes of his MAC are right. */
		if (CRYPTO_memcmp(want, mac, SEQTOKEN_MAC_LEN) != 0) {
			errbuf_set(err, errlen, "bad signature: the sequencer is forged, damaged, or "
			                        "signed with another key");
			return CHUBBY_E_BAD_SEQUENCER;
		}
	}
	tmp.signed_ = maclen == SEQTOKEN_MAC_LEN;
	*t = tmp;
	return CHUBBY_OK;
}

/* ---- the key file ---- */

static int
seq_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
seq_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses the hex text of TEXT[0..LEN) into a malloc'd key. */
static int
seq_key_parse(const char *path, const char *text, size_t len, uint8_t **key, size_t *keylen,
    char *err, size_t errlen)
{
	size_t start = 0, end = len, ndigits;
	uint8_t *k;

	while (start < end && seq_space((unsigned char)text[start]))
		start++;
	while (end > start && seq_space((unsigned char)text[end - 1]))
		end--;
	ndigits = end - start;
	for (size_t i = start; i < end; i++)
		if (seq_hexval((unsigned char)text[i]) < 0) {
			unsigned char c = (unsigned char)text[i];

			if (c >= 0x21 && c <= 0x7e)
				errbuf_set(err, errlen, "sequencer key file %s: not hex: '%c' at byte %zu "
				                        "(the file must hold the key as hex digits only)",
				    path, c, i + 1);
			else
				errbuf_set(err, errlen, "sequencer key file %s: not hex: byte 0x%02x at "
				                        "byte %zu (the file must hold the key as hex "
				                        "digits only)",
				    path, c, i + 1);
			return CHUBBY_E_CONFIG;
		}
	if (ndigits % 2 != 0) {
		errbuf_set(err, errlen, "sequencer key file %s: not hex: an odd number of hex digits "
		                        "(%zu)",
		    path, ndigits);
		return CHUBBY_E_CONFIG;
	}
	if (ndigits / 2 < SEQTOKEN_KEY_MIN) {
		errbuf_set(err, errlen, "sequencer key file %s: key too short: %zu bytes, at least %d "
		                        "needed (%d hex digits; try: openssl rand -hex %d)",
		    path, ndigits / 2, SEQTOKEN_KEY_MIN, 2 * SEQTOKEN_KEY_MIN, SEQTOKEN_KEY_MIN);
		return CHUBBY_E_CONFIG;
	}
	if (ndigits / 2 > SEQTOKEN_KEY_MAX) {
		errbuf_set(err, errlen, "sequencer key file %s: key too long: %zu bytes, at most %d",
		    path, ndigits / 2, SEQTOKEN_KEY_MAX);
		return CHUBBY_E_CONFIG;
	}
	if ((k = malloc(ndigits / 2)) == NULL) {
		errbuf_set(err, errlen, "sequencer key file %s: out of memory", path);
		return CHUBBY_E_NOMEM;
	}
	for (size_t i = 0; i < ndigits / 2; i++)
		k[i] = (uint8_t)(seq_hexval((unsigned char)text[start + 2 * i]) << 4 |
		    seq_hexval((unsigned char)text[start + 2 * i + 1]));
	*key = k;
	*keylen = ndigits / 2;
	return CHUBBY_OK;
}

int
seqtoken_key_load(const char *path, uint8_t **key, size_t *keylen, char *err, size_t errlen)
{
	/* Room for the longest key (512 digits) and generous whitespace; a
	 * file that fills it is too long. */
	char text[2048];
	struct stat st;
	size_t len = 0;
	int fd, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (key != NULL)
		*key = NULL;
	if (keylen != NULL)
		*keylen = 0;
	if (path == NULL || key == NULL || keylen == NULL) {
		errbuf_set(err, errlen, "seqtoken_key_load: NULL argument");
		return CHUBBY_E_INVALID;
	}
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		errbuf_set(err, errlen, "sequencer key file %s: cannot open: %s", path,
		    strerror(errno));
		return CHUBBY_E_IO;
	}
	if (fstat(fd, &st) != 0) {
		errbuf_set(err, errlen, "sequencer key file %s: cannot stat: %s", path,
		    strerror(errno));
		close(fd);
		return CHUBBY_E_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		errbuf_set(err, errlen, "sequencer key file %s: not a regular file", path);
		close(fd);
		return CHUBBY_E_CONFIG;
	}
	if ((st.st_mode & 077) != 0) {
		errbuf_set(err, errlen, "sequencer key file %s: permissions %04o are too open: the "
		                        "key is a secret, readable by its owner only (chmod 600 %s)",
		    path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return CHUBBY_E_CONFIG;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, sizeof text - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errbuf_set(err, errlen, "sequencer key file %s: cannot read: %s", path,
			    strerror(errno));
			close(fd);
			OPENSSL_cleanse(text, sizeof text);
			return CHUBBY_E_IO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof text) {
			errbuf_set(err, errlen, "sequencer key file %s: too long: %zu bytes or more "
			                        "(a key has at most %d hex digits)",
			    path, sizeof text, 2 * SEQTOKEN_KEY_MAX);
			close(fd);
			OPENSSL_cleanse(text, sizeof text);
			return CHUBBY_E_CONFIG;
		}
	}
	close(fd);
	rc = seq_key_parse(path, text, len, key, keylen, err, errlen);
	OPENSSL_cleanse(text, sizeof text);
	return rc;
}

/* ---- public API (<chubby/chubby.h>) ---- */

static void
seq_info_fill(struct chubby_sequencer_info *info, const struct seqtoken *t)
{
	memset(info, 0, sizeof *info);
	memcpy(info->cell, t->cell, sizeof info->cell);
	memcpy(info->path, t->path, sizeof info->path);
	info->mode = t->mode;
	info->lock_gen = t->lock_gen;
	info->instance = t->instance;
}

int
chubby_sequencer_key_load(const char *path, void **key, size_t *keylen)
{
	char err[LASTERR_MAX];
	uint8_t *k = NULL;
	int rc;

	lasterr_clear();
	if (key != NULL)
		*key = NULL;
	if (keylen != NULL)
		*keylen = 0;
	if (path == NULL || key == NULL || keylen == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_sequencer_key_load: NULL argument");
		return CHUBBY_E_INVALID;
	}
	if ((rc = seqtoken_key_load(path, &k, keylen, err, sizeof err)) != CHUBBY_OK) {
		lasterr_set(rc, "%s", err);
		return rc;
	}
	*key = k;
	return CHUBBY_OK;
}

/* Decodes SEQ (verifying it when KEY is not NULL) into INFO; WHAT names it
 * in messages. */
static int
seq_public_decode(const void *key, size_t keylen, const void *seq, size_t seqlen,
    struct seqtoken *t, const char *what)
{
	char err[LASTERR_MAX - 32];
	int rc;

	if (seq == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "%s: NULL sequencer", what);
		return CHUBBY_E_INVALID;
	}
	rc = seqtoken_decode(key, keylen, seq, seqlen, t, err, sizeof err);
	if (rc != CHUBBY_OK)
		lasterr_set(rc, "%s: %s", what, err);
	return rc;
}

int
chubby_sequencer_verify(const void *key, size_t keylen, const void *seq, size_t seqlen,
    struct chubby_sequencer_info *info)
{
	struct seqtoken t;
	int rc;

	lasterr_clear();
	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (info == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_sequencer_verify: NULL info");
		return CHUBBY_E_INVALID;
	}
	/* Verifying needs a key: NULL must not quietly mean "trust it". */
	if (key == NULL || keylen == 0) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_sequencer_verify: no key given (use "
		                              "chubby_sequencer_parse to read a sequencer unverified)");
		return CHUBBY_E_INVALID;
	}
	if ((rc = seq_public_decode(key, keylen, seq, seqlen, &t, "sequencer refused")) !=
	    CHUBBY_OK)
		return rc;
	seq_info_fill(info, &t);
	return CHUBBY_OK;
}

int
chubby_sequencer_parse(const void *seq, size_t seqlen, struct chubby_sequencer_info *info)
{
	struct seqtoken t;
	int rc;

	lasterr_clear();
	if (info != NULL)
		memset(info, 0, sizeof *info);
	if (info == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_sequencer_parse: NULL info");
		return CHUBBY_E_INVALID;
	}
	if ((rc = seq_public_decode(NULL, 0, seq, seqlen, &t, "bad sequencer")) != CHUBBY_OK)
		return rc;
	seq_info_fill(info, &t);
	return CHUBBY_OK;
}

static int
seq_cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

int
chubby_sequencer_compare(const void *a, size_t alen, const void *b, size_t blen, int *cmp)
{
	struct seqtoken ta, tb;
	int rc;

	lasterr_clear();
	if (cmp == NULL) {
		lasterr_set(CHUBBY_E_INVALID, "chubby_sequencer_compare: NULL cmp");
		return CHUBBY_E_INVALID;
	}
	*cmp = 0;
	if ((rc = seq_public_decode(NULL, 0, a, alen, &ta, "first sequencer")) != CHUBBY_OK ||
	    (rc = seq_public_decode(NULL, 0, b, blen, &tb, "second sequencer")) != CHUBBY_OK)
		return rc;
	if (strcmp(ta.cell, tb.cell) != 0 || strcmp(ta.path, tb.path) != 0) {
		lasterr_set(CHUBBY_E_INVALID, "the sequencers name different locks (%s in cell %s, "
		                              "%s in cell %s)",
		    ta.path, ta.cell, tb.path, tb.cell);
		return CHUBBY_E_INVALID;
	}
	/* A recreated node has a higher instance: any holding of it is later
	 * than every holding of the node it replaced. */
	*cmp = seq_cmp_u64(ta.instance, tb.instance);
	if (*cmp == 0)
		*cmp = seq_cmp_u64(ta.lock_gen, tb.lock_gen);
	return CHUBBY_OK;
}

void
chubby_free(void *p)
{
	free(p);
}
