/* store-tool.c: test-only surgery on a stopped replica's store, to make it
 * diverge from its peers in a way no checksum catches (a wrong but
 * well-formed state), so the cross-replica consistency check is tested. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "store/store.h"

int
main(int argc, char **argv)
{
	struct store *st;
	struct store_batch *b;
	char err[512];
	void *v = NULL;
	size_t vlen = 0;
	uint8_t nv[24];
	uint64_t d;

	if (argc != 4 || strcmp(argv[1], "set-digest") != 0) {
		fprintf(stderr, "usage: store-tool set-digest DATA_DIR HEX\n");
		return 2;
	}
	d = strtoull(argv[3], NULL, 16);
	if (store_open(argv[2], &st, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		return 1;
	}
	if (store_sm_get(st, "digest", 6, &v, &vlen, err, sizeof err) != CHUBBY_OK || vlen != 24) {
		fprintf(stderr, "store-tool: no digest record: %s\n", err);
		store_close(st);
		return 1;
	}
	memcpy(nv, v, sizeof nv);
	free(v);
	for (int i = 0; i < 8; i++)
		nv[i] = (uint8_t)(d >> (8 * i));
	b = store_batch_new();
	store_sm_put(b, "digest", 6, nv, sizeof nv);
	if (store_sm_commit(st, b, store_sm_applied(st), true, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		store_batch_free(b);
		store_close(st);
		return 1;
	}
	store_batch_free(b);
	store_close(st);
	printf("digest set to %016" PRIx64 " at applied %s\n", d, "index");
	return 0;
}
