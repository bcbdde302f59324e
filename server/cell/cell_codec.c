/* cell_codec.c: the log-entry envelope writers and the one snapshot writer and type-checked reader. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cell.h"
#include "cell_int.h"
#include "errbuf.h"
#include "wire.h"

/* --- the command envelope (docs/FORMAT.md, "Log entries") ------------------ */

/* [type, stamp_ms, proposer, epoch, seq] and room for NBODY more elements. */
static void
cell_pack_hdr(msgpack_packer *pk, uint64_t type, const struct cell_hdr *h, unsigned nbody)
{
	msgpack_pack_array(pk, 5 + nbody);
	msgpack_pack_uint64(pk, type);
	msgpack_pack_uint64(pk, h->stamp_ms);
	msgpack_pack_uint64(pk, h->proposer);
	msgpack_pack_uint64(pk, h->epoch);
	msgpack_pack_uint64(pk, h->seq);
}

void
cell_cmd_noop(msgpack_sbuffer *sb, const struct cell_hdr *h)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	cell_pack_hdr(&pk, CELL_CMD_NOOP, h, 0);
}

void
cell_cmd_ns(msgpack_sbuffer *sb, const struct cell_hdr *h, const uint8_t *cmd, size_t len)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	cell_pack_hdr(&pk, CELL_CMD_NS, h, 1);
	msgpack_pack_bin(&pk, len);
	msgpack_pack_bin_body(&pk, cmd, len);
}

void
cell_cmd_check(msgpack_sbuffer *sb, const struct cell_hdr *h, uint64_t at, uint64_t digest,
    uint64_t ns_digest)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	cell_pack_hdr(&pk, CELL_CMD_CHECK, h, 3);
	msgpack_pack_uint64(&pk, at);
	msgpack_pack_uint64(&pk, digest);
	msgpack_pack_uint64(&pk, ns_digest);
}

/* A string, or nil for NULL (which the reader refuses: an entry every
 * replica skips alike). */
static void
cell_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n;

	if (s == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	n = strlen(s);
	msgpack_pack_str(pk, n);
	if (n > 0)
		msgpack_pack_str_body(pk, s, n);
}

void
cell_cmd_member(msgpack_sbuffer *sb, const struct cell_hdr *h, unsigned id, const char *client,
    const char *peer, const char *status)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	cell_pack_hdr(&pk, CELL_CMD_MEMBER, h, 4);
	msgpack_pack_uint64(&pk, id);
	cell_pack_str(&pk, client);
	cell_pack_str(&pk, peer);
	cell_pack_str(&pk, status);
}

/* --- the snapshot envelope (docs/FORMAT.md, "Snapshots") ------------------- */

/* A snapshot read: pointers into the unpacked object that read it. */
struct cell_snap {
	uint64_t applied, digest, ncommands, last_stamp;
	const uint8_t *ns;
	size_t nslen;
	bool has_members; /* the sixth element: a replica's own snapshot */
	unsigned nmembers;
	struct cell_member members[CELL_MAX_MEMBERS];
};

int
cell_snapshot(const struct cell *c, enum cell_snap_kind kind, uint8_t **out, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t *nsb = NULL;
	size_t nslen = 0;
	unsigned n = 0;
	int rc;

	if ((rc = ns_snapshot(c->ns, &nsb, &nslen)) != CHUBBY_OK)
		return rc;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, kind == CELL_SNAP_REPLICA ? 6 : 5);
	msgpack_pack_uint64(&pk, c->applied);
	msgpack_pack_uint64(&pk, c->digest);
	msgpack_pack_uint64(&pk, c->ncommands);
	msgpack_pack_uint64(&pk, c->last_stamp);
	msgpack_pack_bin(&pk, nslen);
	msgpack_pack_bin_body(&pk, nsb, nslen);
	free(nsb);
	if (kind == CELL_SNAP_REPLICA) {
		/* The members moved through the log, as [[id, client, peer, status]...]. */
		for (unsigned i = 0; i < CELL_MAX_MEMBERS; i++)
			n += c->moved[i].id != 0;
		msgpack_pack_array(&pk, n);
		for (unsigned i = 0; i < CELL_MAX_MEMBERS; i++) {
			if (c->moved[i].id == 0)
				continue;
			msgpack_pack_array(&pk, 4);
			msgpack_pack_uint64(&pk, c->moved[i].id);
			cell_pack_str(&pk, c->moved[i].client);
			cell_pack_str(&pk, c->moved[i].peer);
			cell_pack_str(&pk, c->moved[i].status);
		}
	}
	*len = sb.size;
	*out = (uint8_t *)msgpack_sbuffer_release(&sb);
	return CHUBBY_OK;
}

/* The one reader: [applied, digest, ncommands, last_stamp, namespace
 * (, moved)], every field's type checked, nothing after it. */
static int
cell_snap_read(const uint8_t *snap, size_t len, msgpack_unpacked *u, struct cell_snap *s,
    char *why, size_t whylen)
{
	static const char *const names[4] = {"applied", "digest", "ncommands", "last_stamp"};
	const msgpack_object *o, *mv;
	size_t off = 0;
	uint32_t n;

	memset(s, 0, sizeof *s);
	/* Before msgpack-c allocates from announced counts; this also refuses
	 * bytes after the value and nesting a snapshot never has. */
	if (wire_scan(snap, len, why, whylen) != CHUBBY_OK)
		return CHUBBY_E_CORRUPT;
	if (msgpack_unpack_next(u, (const char *)snap, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		errbuf_set(why, whylen, "not msgpack (%zu bytes)", len);
		return CHUBBY_E_CORRUPT;
	}
	if (u->data.type != MSGPACK_OBJECT_ARRAY ||
	    (u->data.via.array.size != 5 && u->data.via.array.size != 6)) {
		errbuf_set(why, whylen, "not an array of 5 or 6 fields");
		return CHUBBY_E_CORRUPT;
	}
	o = u->data.via.array.ptr;
	n = u->data.via.array.size;
	for (int i = 0; i < 4; i++)
		if (o[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			errbuf_set(why, whylen, "field %d (%s) is not an unsigned integer", i, names[i]);
			return CHUBBY_E_CORRUPT;
		}
	if (o[4].type != MSGPACK_OBJECT_BIN) {
		errbuf_set(why, whylen, "field 4 (namespace) is not binary");
		return CHUBBY_E_CORRUPT;
	}
	s->applied = o[0].via.u64;
	s->digest = o[1].via.u64;
	s->ncommands = o[2].via.u64;
	s->last_stamp = o[3].via.u64;
	s->ns = (const uint8_t *)o[4].via.bin.ptr;
	s->nslen = o[4].via.bin.size;
	if (n == 5)
		return CHUBBY_OK;
	mv = &o[5];
	if (mv->type != MSGPACK_OBJECT_ARRAY || mv->via.array.size > CELL_MAX_MEMBERS) {
		errbuf_set(why, whylen, "field 5 (moved members) is not an array of at most %d",
		    CELL_MAX_MEMBERS);
		return CHUBBY_E_CORRUPT;
	}
	s->has_members = true;
	for (uint32_t i = 0; i < mv->via.array.size; i++) {
		const msgpack_object *e = &mv->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4 ||
		    !cell_member_fields(e->via.array.ptr, &s->members[i])) {
			errbuf_set(why, whylen,
			    "moved member %u is not [id, client, peer, status] with an id in 1..%d "
			    "and non-empty addresses",
			    (unsigned)i, CELL_MAX_MEMBER_ID);
			return CHUBBY_E_CORRUPT;
		}
	}
	s->nmembers = mv->via.array.size;
	return CHUBBY_OK;
}

int
cell_restore(struct cell *c, uint64_t index, const uint8_t *snap, size_t len, char *why,
    size_t whylen)
{
	msgpack_unpacked u;
	struct cell_snap s;
	char err[256];
	int rc;

	errbuf_set(why, whylen, "%s", "");
	msgpack_unpacked_init(&u);
	if ((rc = cell_snap_read(snap, len, &u, &s, err, sizeof err)) != CHUBBY_OK) {
		errbuf_set(why, whylen, "malformed: %s", err);
		goto fail;
	}
	/* All or nothing: ns_restore leaves the namespace as it was on error. */
	if ((rc = ns_restore(c->ns, s.ns, s.nslen, err, sizeof err)) != CHUBBY_OK) {
		errbuf_set(why, whylen, "namespace refused: %s", err);
		rc = CHUBBY_E_CORRUPT;
		goto fail;
	}
	c->digest = s.digest;
	c->ncommands = s.ncommands;
	c->last_stamp = s.last_stamp;
	/* Members moved through the log (a backup restored into a new cell
	 * has none: its members are the new config's). */
	for (unsigned i = 0; i < s.nmembers; i++)
		cell_move_member(c, &s.members[i]);
	if (s.applied != index)
		errbuf_set(why, whylen, "the snapshot for slot %llu says applied %llu",
		    (unsigned long long)index, (unsigned long long)s.applied);
	c->applied = index;
	msgpack_unpacked_destroy(&u);
	cell_tell_replaced(c);
	return CHUBBY_OK;
fail:
	/* Every replica made it alike: a bad one means a bug or a damaged
	 * store, and serving from a wrong state is worse than stopping. */
	c->diverged = true;
	msgpack_unpacked_destroy(&u);
	return rc;
}

int
cell_check_backup(const struct cell_params *cfg, const uint8_t *snap, size_t len,
    uint64_t index, char *why, size_t whylen)
{
	msgpack_unpacked u;
	struct cell_snap s;
	struct ns *ns;
	char err[256];
	int rc;

	msgpack_unpacked_init(&u);
	if ((rc = cell_snap_read(snap, len, &u, &s, err, sizeof err)) != CHUBBY_OK) {
		errbuf_set(why, whylen, "the state is not a replica snapshot: %s", err);
		goto out;
	}
	rc = CHUBBY_E_CORRUPT;
	if (s.has_members) {
		/* A backup leaves the members out: the new cell's config names them. */
		errbuf_set(why, whylen, "the state is a replica's own snapshot, not a backup");
		goto out;
	}
	if (s.applied != index || index == 0) {
		errbuf_set(why, whylen, "the state covers slot %llu but the header says %llu",
		    (unsigned long long)s.applied, (unsigned long long)index);
		goto out;
	}
	if ((ns = ns_new(&cfg->ns)) == NULL) {
		errbuf_set(why, whylen, "the namespace settings are unusable");
		rc = CHUBBY_E_CONFIG;
		goto out;
	}
	rc = ns_restore(ns, s.ns, s.nslen, err, sizeof err);
	if (rc != CHUBBY_OK)
		errbuf_set(why, whylen, "the namespace does not load: %s", err);
	ns_free(ns);
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}
