/* store-tool.c: test-only surgery on a stopped replica's store, to make it
 * diverge from its peers in a way no checksum catches (a wrong but
 * well-formed log entry, written through the store with a valid record
 * checksum), so the cross-replica consistency check is tested. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "paxos/paxos.h"
#include "store/store.h"

/* Flips the lowest bit of the last byte of the newest chosen entry: for the
 * commands chubbyd writes that is the last field of a msgpack array (a small
 * integer or the end of a string), so the entry stays decodable but
 * replaying it gives another state digest than the peers'. */
int
main(int argc, char **argv)
{
	struct store *st;
	struct paxos_durable dur;
	struct paxos_persist pp;
	struct paxos_entry *e = NULL;
	char err[512];
	int rc = 1;

	if (argc != 3 || strcmp(argv[1], "alter-entry") != 0) {
		fprintf(stderr, "usage: store-tool alter-entry DATA_DIR\n");
		return 2;
	}
	if (store_open(argv[2], &st, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		return 1;
	}
	memset(&dur, 0, sizeof dur);
	if (store_load_paxos(st, &dur, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < dur.nentries; i++)
		if ((dur.entries[i].chosen || dur.entries[i].slot <= dur.chosen) &&
		    dur.entries[i].value.len > 0 && (e == NULL || dur.entries[i].slot > e->slot))
			e = &dur.entries[i];
	if (e == NULL) {
		fprintf(stderr, "store-tool: no chosen entry to alter\n");
		goto out;
	}
	((uint8_t *)e->value.data)[e->value.len - 1] ^= 1;
	memset(&pp, 0, sizeof pp);
	pp.nentries = 1;
	pp.entries = e;
	if (store_persist(st, &pp, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		goto out;
	}
	printf("altered the entry of slot %" PRIu64 "\n", e->slot);
	rc = 0;
out:
	store_paxos_durable_free(&dur);
	store_close(st);
	return rc;
}
