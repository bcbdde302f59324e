/* rpc_backup.c: SNAPSHOT's envelope (see rpc_backup.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "backup.h"
#include "cellconfig.h"
#include "chubbyd.h"
#include "mp.h"
#include "replica.h"
#include "rpc/rpc.h"
#include "rpc/rpc_backup.h"
#include "xmalloc.h"

/*
 * SNAPSHOT {index, offset, max}: without index (or 0), a new consistent
 * copy of the applied state, answered from OFFSET 0; with it, the chunk at
 * OFFSET of the copy at that index, if still kept.  Answers {index, total,
 * offset, data, cell, digest, created_ms}; digest is the SHA-256 of the
 * whole copy.  Only the superuser may ask: a backup holds every file,
 * whatever its ACLs.
 */
/* Packs a SNAPSHOT answer for chunk C. */
static void
snapshot_pack(msgpack_packer *pk, const struct chubbyd *d, const struct backup_chunk *c)
{
	msgpack_pack_map(pk, 7);
	mp_pack_kv_uint(pk, "index", c->index);
	mp_pack_kv_uint(pk, "total", c->total);
	mp_pack_kv_uint(pk, "offset", c->offset);
	msgpack_pack_str(pk, 4);
	msgpack_pack_str_body(pk, "data", 4);
	msgpack_pack_bin(pk, c->len);
	msgpack_pack_bin_body(pk, c->data, c->len);
	mp_pack_kv_str(pk, "cell", d->cfg->cell);
	msgpack_pack_str(pk, 6);
	msgpack_pack_str_body(pk, "digest", 6);
	msgpack_pack_bin(pk, c->digest_len);
	msgpack_pack_bin_body(pk, c->digest, c->digest_len);
	mp_pack_kv_uint(pk, "created_ms", c->created_ms);
}

/* A SNAPSHOT waiting for its new copy, made in a child. */
struct snapshot_wait {
	struct rpc_req *q;
	struct chubbyd *d;
	uint64_t max;
	char who[256];
};

static void
snapshot_ready(int status, const char *msg, uint64_t index, void *arg)
{
	struct snapshot_wait *w = arg;
	struct backup_chunk c;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char m[256] = "";
	int rc = status;

	if (rc == CHUBBY_OK)
		rc = backup_chunk(w->d, w->who, index, 0, w->max, &c, m, sizeof m);
	else
		snprintf(m, sizeof m, "%s", msg != NULL ? msg : "");
	if (rc != CHUBBY_OK) {
		rpc_req_reply(w->q, rc, m[0] ? m : NULL, NULL, 0);
	} else {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		snapshot_pack(&pk, w->d, &c);
		rpc_req_reply(w->q, CHUBBY_OK, NULL, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	}
	free(w);
}

/*
 * SNAPSHOT {index, offset, max}: without index (or 0), a new consistent
 * copy of the applied state, answered from OFFSET 0; with it, the chunk at
 * OFFSET of the copy at that index, if still kept.  Answers {index, total,
 * offset, data, cell, digest, created_ms}; digest is the SHA-256 of the
 * whole copy.  Only the superuser may ask: a backup holds every file,
 * whatever its ACLs.  A new copy is serialised in a child, off the event
 * loop (backup_take_async): the answer waits for it.
 */
int
rpc_op_snapshot(struct rpc_req *req, const msgpack_object *args, msgpack_packer *pk, char *msg,
    size_t msglen)
{
	struct chubbyd *d = rpc_req_daemon(req);
	const char *who = rpc_req_principal(req);
	struct backup_chunk c;
	uint64_t index = 0, offset = 0, max = 0;
	int rc;

	if (d->replica == NULL || !replica_is_master(d->replica))
		return rpc_not_master(d, pk, msg, msglen);
	if ((rc = mp_get_uint(args, "index", MP_OPTIONAL, &index, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "offset", MP_OPTIONAL, &offset, msg, msglen)) != CHUBBY_OK ||
	    (rc = mp_get_uint(args, "max", MP_OPTIONAL, &max, msg, msglen)) != CHUBBY_OK)
		return rc;
	/* One audit line a backup, for the request that makes the copy, not
	 * one a chunk (a refusal is logged whichever it is). */
	if (index == 0)
		rpc_req_audit(req, true, NULL, NULL);
	if (who == NULL || strcmp(who, d->cfg->superuser) != 0) {
		snprintf(msg, msglen, "only the cell's superuser (\"%s\") may take a backup; you are "
				      "\"%s\"", d->cfg->superuser, who != NULL ? who : "?");
		return CHUBBY_E_PERMISSION;
	}
	if (index == 0 && offset == 0) {
		struct snapshot_wait *w = xcalloc(1, sizeof *w);

		w->d = d;
		w->max = max;
		snprintf(w->who, sizeof w->who, "%s", who);
		rc = backup_take_async(d, snapshot_ready, w, msg, msglen);
		if (rc == CHUBBY_OK) {
			/* snapshot_ready comes later, never within the call. */
			w->q = rpc_req_defer(req);
			return RPC_DEFERRED;
		}
		free(w);
		if (rc != CHUBBY_E_INTERNAL)
			return rc;
		msg[0] = '\0'; /* no child: copy in the loop, as before */
	}
	if ((rc = backup_chunk(d, who, index, offset, max, &c, msg, msglen)) != CHUBBY_OK)
		return rc;
	snapshot_pack(pk, d, &c);
	return CHUBBY_OK;
}
