/*
 * seqtoken.h: signed sequencers (fencing tokens, Chubby §2.4): the byte
 * format of docs/SEQUENCER.md, its HMAC-SHA256 signature and the cell's key
 * file.  chubbyd signs with it; libchubby verifies with it (the public
 * chubby_sequencer_* calls live in seqtoken.c too).  Pure code over bytes
 * and one file read: it never aborts, exits or prints, and returns
 * CHUBBY_E_NOMEM when memory runs out.
 *
 * Keys: KEY may be NULL (with KEYLEN 0) for "no key"; a key given must be
 * SEQTOKEN_KEY_MIN..SEQTOKEN_KEY_MAX bytes long, else CHUBBY_E_INVALID, so
 * that a short or empty key is never mistaken for "no verification".
 */
#ifndef CHUBBY_SEQTOKEN_H
#define CHUBBY_SEQTOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEQTOKEN_PATH_MAX 1024
#define SEQTOKEN_CELL_MAX 255
#define SEQTOKEN_KEY_MIN 32
#define SEQTOKEN_KEY_MAX 256
/* Longest input seqtoken_decode looks at; the longest valid token is about
 * 1,350 bytes. */
#define SEQTOKEN_INPUT_MAX 2048
/* The first element of every sequencer, and the format version. */
#define SEQTOKEN_TAG "chubby-seq"
#define SEQTOKEN_VERSION 1
/* Length of a MAC (HMAC-SHA256). */
#define SEQTOKEN_MAC_LEN 32

#define SEQTOKEN_MODE_SHARED 1
#define SEQTOKEN_MODE_EXCLUSIVE 2

struct seqtoken {
	char cell[SEQTOKEN_CELL_MAX + 1]; /* 1..255 bytes, NUL-terminated, no NUL inside */
	char path[SEQTOKEN_PATH_MAX + 1]; /* 1..1024 bytes, NUL-terminated, no NUL inside */
	int mode;                         /* 1 shared, 2 exclusive */
	uint64_t lock_gen;
	uint64_t instance;
	bool signed_; /* decode: the token carried a MAC (and it verified, if a key was given) */
};

/* Encodes T, signed with KEY (KEY NULL or KEYLEN 0: an unsigned token, MAC
 * of length 0).  *OUT is malloc'd and the caller frees it.  CHUBBY_OK;
 * CHUBBY_E_INVALID (a field out of range: empty or too long cell or path,
 * mode not 1 or 2; a key of a bad length); CHUBBY_E_NOMEM;
 * CHUBBY_E_INTERNAL if OpenSSL fails to compute the MAC. */
int seqtoken_encode(const uint8_t *key, size_t keylen, const struct seqtoken *t, uint8_t **out,
    size_t *outlen);

/* Decodes BUF and, when KEY is given, verifies its MAC (in constant time).
 * Decoding is strict: exact shape, types and canonical msgpack form, nothing
 * after the array.  CHUBBY_OK; CHUBBY_E_BAD_SEQUENCER with the reason in
 * ERR (malformed, bad MAC, unsigned token while a key is given);
 * CHUBBY_E_INVALID (BUF or T NULL, a key of a bad length);
 * CHUBBY_E_INTERNAL if OpenSSL fails.  KEY NULL: decode only, no
 * verification (for display and for the master of a cell without a key);
 * T->signed_ then says whether the token carries a MAC at all.  On failure
 * *T is zeroed.  ERR may be NULL. */
int seqtoken_decode(const uint8_t *key, size_t keylen, const void *buf, size_t len,
    struct seqtoken *t, char *err, size_t errlen);

/* Reads a key file: the key as hex text (64..512 hex digits, i.e. 32..256
 * bytes; whitespace around it ignored), in a regular file not accessible by
 * group or others (mode & 077 == 0).  *KEY is malloc'd; the caller frees it
 * (after OPENSSL_cleanse, ideally).  CHUBBY_OK; CHUBBY_E_IO (cannot open or
 * read) or CHUBBY_E_CONFIG (not a regular file, permissions too open, not
 * hex, too short, too long) with the reason, naming the file, in ERR;
 * CHUBBY_E_INVALID (NULL arguments); CHUBBY_E_NOMEM. */
int seqtoken_key_load(const char *path, uint8_t **key, size_t *keylen, char *err, size_t errlen);

#endif
