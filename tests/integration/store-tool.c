/* store-tool.c: test-only surgery on a stopped replica's store, to make it
 * diverge from its peers in a way no checksum catches (a wrong but
 * well-formed log entry or snapshot, written through the store with a valid
 * record checksum), so the cross-replica consistency check and the snapshot
 * reader's type checks are tested. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "paxos/paxos.h"
#include "store/store.h"

/* Flips the lowest bit of the last byte of the newest chosen entry: for the
 * commands chubbyd writes that is the last field of a msgpack array (a small
 * integer or the end of a string), so the entry stays decodable but
 * replaying it gives another state digest than the peers'. */
static int
alter_entry(struct store *st, struct paxos_durable *dur)
{
	struct paxos_persist pp;
	struct paxos_entry *e = NULL;
	char err[512];

	for (size_t i = 0; i < dur->nentries; i++)
		if ((dur->entries[i].chosen || dur->entries[i].slot <= dur->chosen) &&
		    dur->entries[i].value.len > 0 && (e == NULL || dur->entries[i].slot > e->slot))
			e = &dur->entries[i];
	if (e == NULL) {
		fprintf(stderr, "store-tool: no chosen entry to alter\n");
		return 1;
	}
	((uint8_t *)e->value.data)[e->value.len - 1] ^= 1;
	memset(&pp, 0, sizeof pp);
	pp.nentries = 1;
	pp.entries = e;
	if (store_persist(st, &pp, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		return 1;
	}
	printf("altered the entry of slot %" PRIu64 "\n", e->slot);
	return 0;
}

/* Rewrites the snapshot with its second field (the digest chain) as a
 * string: well-formed msgpack of the wrong type, which a reader that checks
 * types refuses. */
static int
retype_snapshot(struct store *st, struct paxos_durable *dur)
{
	struct paxos_persist pp;
	msgpack_unpacked u;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t off = 0;
	char err[512];
	int rc = 1;

	if (dur->snap_index == 0) {
		fprintf(stderr, "store-tool: no snapshot to alter\n");
		return 1;
	}
	msgpack_unpacked_init(&u);
	msgpack_sbuffer_init(&sb);
	if (msgpack_unpack_next(&u, (const char *)dur->snap.data, dur->snap.len, &off) !=
		MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 2) {
		fprintf(stderr, "store-tool: the snapshot is not an array\n");
		goto out;
	}
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, u.data.via.array.size);
	for (uint32_t i = 0; i < u.data.via.array.size; i++) {
		if (i == 1) {
			msgpack_pack_str(&pk, 3);
			msgpack_pack_str_body(&pk, "bad", 3);
		} else {
			msgpack_pack_object(&pk, u.data.via.array.ptr[i]);
		}
	}
	memset(&pp, 0, sizeof pp);
	pp.set_snapshot = true;
	pp.snap_index = dur->snap_index;
	pp.snap.data = (uint8_t *)sb.data;
	pp.snap.len = sb.size;
	if (store_persist(st, &pp, err, sizeof err) != CHUBBY_OK) {
		fprintf(stderr, "store-tool: %s\n", err);
		goto out;
	}
	printf("retyped the digest of the snapshot at slot %" PRIu64 "\n", dur->snap_index);
	rc = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
main(int argc, char **argv)
{
	struct store *st;
	struct paxos_durable dur;
	char err[512];
	int rc = 1;

	if (argc != 3 ||
	    (strcmp(argv[1], "alter-entry") != 0 && strcmp(argv[1], "retype-snapshot") != 0)) {
		fprintf(stderr, "usage: store-tool alter-entry|retype-snapshot DATA_DIR\n");
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
	rc = strcmp(argv[1], "alter-entry") == 0 ? alter_entry(st, &dur) : retype_snapshot(st, &dur);
out:
	store_paxos_durable_free(&dur);
	store_close(st);
	return rc;
}
