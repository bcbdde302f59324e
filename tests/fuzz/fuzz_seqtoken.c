/*
 * fuzz_seqtoken.c: libFuzzer target for the sequencer codec.  The input is
 * decoded without a key and with the key of tests/fuzz/mkcorpus-seqtoken;
 * whatever decodes must encode back to the very same bytes (the format is
 * canonical), and the public calls must agree with the internal ones.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "seqtoken.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(int cond)
{
	if (!cond)
		abort();
}

/* Bytes 00 01 .. 1f, as in tests/fuzz/mkcorpus-seqtoken. */
static const uint8_t fuzz_key[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void
fuzz_fields_ok(const struct seqtoken *t)
{
	size_t cl = strlen(t->cell), pl = strlen(t->path);

	fuzz_check(cl >= 1 && cl <= SEQTOKEN_CELL_MAX);
	fuzz_check(pl >= 1 && pl <= SEQTOKEN_PATH_MAX);
	fuzz_check(t->mode == 1 || t->mode == 2);
}

/* Encodes T with KEY and checks the result against DATA: equal bytes, or
 * (MAC_MAY_DIFFER) equal but for the last 32. */
static void
fuzz_reencode(const uint8_t *key, size_t keylen, const struct seqtoken *t, const uint8_t *data,
    size_t size, int mac_may_differ)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc = seqtoken_encode(key, keylen, t, &out, &outlen);

	fuzz_check(rc == CHUBBY_OK || rc == CHUBBY_E_NOMEM);
	if (rc != CHUBBY_OK)
		return;
	fuzz_check(outlen == size);
	fuzz_check(memcmp(out, data, mac_may_differ ? size - SEQTOKEN_MAC_LEN : size) == 0);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seqtoken t, tk;
	struct chubby_sequencer_info info;
	char err[256];
	int rc, rck, cmp;

	/* Decode only. */
	rc = seqtoken_decode(NULL, 0, data, size, &t, err, sizeof err);
	if (rc == CHUBBY_OK) {
		fuzz_fields_ok(&t);
		if (t.signed_)
			fuzz_reencode(fuzz_key, sizeof fuzz_key, &t, data, size, 1);
		else
			fuzz_reencode(NULL, 0, &t, data, size, 0);
	} else {
		fuzz_check(rc == CHUBBY_E_BAD_SEQUENCER && err[0] != '\0');
	}

	/* Verify: only a signed token that decodes, and then byte for byte
	 * what the encoder makes. */
	rck = seqtoken_decode(fuzz_key, sizeof fuzz_key, data, size, &tk, err, sizeof err);
	if (rck == CHUBBY_OK) {
		fuzz_check(rc == CHUBBY_OK && t.signed_ && tk.signed_);
		fuzz_check(strcmp(t.cell, tk.cell) == 0 && strcmp(t.path, tk.path) == 0);
		fuzz_check(t.mode == tk.mode && t.lock_gen == tk.lock_gen &&
		    t.instance == tk.instance);
		fuzz_reencode(fuzz_key, sizeof fuzz_key, &tk, data, size, 0);
	} else {
		fuzz_check(rck == CHUBBY_E_BAD_SEQUENCER && err[0] != '\0');
	}

	/* The public calls agree. */
	fuzz_check(chubby_sequencer_parse(data, size, &info) == rc);
	fuzz_check(chubby_sequencer_verify(fuzz_key, sizeof fuzz_key, data, size, &info) == rck);
	fuzz_check((rck == CHUBBY_OK) == (chubby_last_error()[0] == '\0'));
	rc = chubby_sequencer_compare(data, size, data, size, &cmp);
	fuzz_check(rc == CHUBBY_OK ? cmp == 0 : rc == CHUBBY_E_BAD_SEQUENCER);
	return 0;
}
