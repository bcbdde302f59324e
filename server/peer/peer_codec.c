/* peer_codec.c: msgpack encoding of PEER_HELLO and Paxos messages between replicas. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "mp.h"
#include "peer_codec.h"
#include "xmalloc.h"

#define PEER_PAXOS_FIELDS 12 /* after the kind */

int
peer_encode_hello(struct wire_buf *b, uint32_t version, const char *cell, unsigned id)
{
	msgpack_packer *pk = wire_begin(b, PEER_KIND_HELLO, 3);

	if (pk == NULL)
		return CHUBBY_E_INVALID;
	msgpack_pack_uint32(pk, version);
	mp_pack_str(pk, cell);
	msgpack_pack_uint32(pk, id);
	return wire_finish(b);
}

int
peer_encode_paxos(struct wire_buf *b, const struct paxos_msg *m)
{
	msgpack_packer *pk = wire_begin(b, PEER_KIND_PAXOS, PEER_PAXOS_FIELDS);

	if (pk == NULL)
		return CHUBBY_E_INVALID;
	msgpack_pack_uint32(pk, (uint32_t)m->type);
	msgpack_pack_uint32(pk, m->from);
	msgpack_pack_uint32(pk, m->to);
	msgpack_pack_uint64(pk, m->ballot);
	msgpack_pack_uint64(pk, m->slot);
	msgpack_pack_uint64(pk, m->seq);
	msgpack_pack_uint64(pk, m->commit);
	msgpack_pack_uint64(pk, m->next_slot);
	msgpack_pack_uint64(pk, m->trunc);
	msgpack_pack_uint64(pk, m->promised);
	msgpack_pack_array(pk, (uint32_t)m->nentries);
	for (size_t i = 0; i < m->nentries; i++) {
		const struct paxos_entry *e = &m->entries[i];
		msgpack_pack_array(pk, 4);
		msgpack_pack_uint64(pk, e->slot);
		msgpack_pack_uint64(pk, e->ballot);
		if (e->chosen)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		mp_pack_bin(pk, e->value.data, e->value.len);
	}
	mp_pack_bin(pk, m->data.data, m->data.len);
	return wire_finish(b);
}

static int
peer_uint(const msgpack_object *o, const char *what, uint64_t max, uint64_t *out, char *err,
    size_t errlen)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		snprintf(err, errlen, "peer message: %s is %s, expected unsigned integer", what,
		    mp_type_name(o));
		return CHUBBY_E_BAD_TYPE;
	}
	if (o->via.u64 > max) {
		snprintf(err, errlen, "peer message: %s %llu out of range", what,
		    (unsigned long long)o->via.u64);
		return CHUBBY_E_MALFORMED;
	}
	*out = o->via.u64;
	return CHUBBY_OK;
}

static int
peer_bin(const msgpack_object *o, const char *what, struct paxos_buf *out, char *err,
    size_t errlen)
{
	struct mp_str s;
	int rc = mp_val_bin(o, what, &s, err, errlen);

	if (rc != CHUBBY_OK)
		return rc;
	paxos_buf_set(out, s.ptr, s.len);
	return CHUBBY_OK;
}

static int
peer_decode_hello(const msgpack_object *f, uint32_t n, struct peer_hello *h, char *err,
    size_t errlen)
{
	struct mp_str cell;
	uint64_t v;
	int rc;

	if (n != 4) {
		snprintf(err, errlen, "PEER_HELLO: %u fields, expected 4", n);
		return CHUBBY_E_MALFORMED;
	}
	if ((rc = peer_uint(&f[1], "version", UINT32_MAX, &v, err, errlen)) != CHUBBY_OK)
		return rc;
	h->version = (uint32_t)v;
	if ((rc = mp_val_str(&f[2], "cell", &cell, err, errlen)) != CHUBBY_OK)
		return rc;
	if (cell.len >= sizeof h->cell) {
		snprintf(err, errlen, "PEER_HELLO: cell name longer than %zu bytes",
		    sizeof h->cell - 1);
		return CHUBBY_E_MALFORMED;
	}
	memcpy(h->cell, cell.ptr, cell.len);
	h->cell[cell.len] = '\0';
	if ((rc = peer_uint(&f[3], "replica_id", 255, &v, err, errlen)) != CHUBBY_OK)
		return rc;
	h->replica_id = (unsigned)v;
	return CHUBBY_OK;
}

static int
peer_decode_paxos(const msgpack_object *f, uint32_t n, struct paxos_msg *m, char *err,
    size_t errlen)
{
	uint64_t v[10];
	static const char *const names[] = {"type", "from", "to", "ballot", "slot", "seq",
	    "commit", "next_slot", "trunc", "promised"};
	static const uint64_t max[] = {PAXOS_MSG_MAX, 255, 255, UINT64_MAX, UINT64_MAX,
	    UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
	const msgpack_object *ents;
	int rc;

	if (n != 1 + PEER_PAXOS_FIELDS) {
		snprintf(err, errlen, "PEER_PAXOS: %u fields, expected %d", n,
		    1 + PEER_PAXOS_FIELDS);
		return CHUBBY_E_MALFORMED;
	}
	for (int i = 0; i < 10; i++)
		if ((rc = peer_uint(&f[1 + i], names[i], max[i], &v[i], err, errlen)) != CHUBBY_OK)
			return rc;
	if (v[0] < 1) {
		snprintf(err, errlen, "PEER_PAXOS: unknown message type 0");
		return CHUBBY_E_MALFORMED;
	}
	memset(m, 0, sizeof *m);
	m->type = (enum paxos_msg_type)v[0];
	m->from = (unsigned)v[1];
	m->to = (unsigned)v[2];
	m->ballot = v[3];
	m->slot = v[4];
	m->seq = v[5];
	m->commit = v[6];
	m->next_slot = v[7];
	m->trunc = v[8];
	m->promised = v[9];
	ents = &f[11];
	if (ents->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "PEER_PAXOS: entries is %s, expected array",
		    mp_type_name(ents));
		return CHUBBY_E_BAD_TYPE;
	}
	if (ents->via.array.size > PEER_MAX_ENTRIES) {
		snprintf(err, errlen, "PEER_PAXOS: %u entries, limit %d", ents->via.array.size,
		    PEER_MAX_ENTRIES);
		return CHUBBY_E_LIMIT;
	}
	if (ents->via.array.size > 0)
		m->entries = xcalloc(ents->via.array.size, sizeof *m->entries);
	for (uint32_t i = 0; i < ents->via.array.size; i++) {
		const msgpack_object *e = &ents->via.array.ptr[i];
		struct paxos_entry *pe = &m->entries[i];
		uint64_t slot, ballot;

		m->nentries = i + 1;
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4) {
			snprintf(err, errlen, "PEER_PAXOS: entry %u is not [slot, ballot, chosen, value]",
			    i);
			return CHUBBY_E_MALFORMED;
		}
		if ((rc = peer_uint(&e->via.array.ptr[0], "entry slot", UINT64_MAX, &slot, err,
			 errlen)) != CHUBBY_OK ||
		    (rc = peer_uint(&e->via.array.ptr[1], "entry ballot", UINT64_MAX, &ballot, err,
			 errlen)) != CHUBBY_OK)
			return rc;
		if (e->via.array.ptr[2].type != MSGPACK_OBJECT_BOOLEAN) {
			snprintf(err, errlen, "PEER_PAXOS: entry %u chosen is %s, expected boolean", i,
			    mp_type_name(&e->via.array.ptr[2]));
			return CHUBBY_E_BAD_TYPE;
		}
		pe->slot = slot;
		pe->ballot = ballot;
		pe->chosen = e->via.array.ptr[2].via.boolean;
		if ((rc = peer_bin(&e->via.array.ptr[3], "entry value", &pe->value, err, errlen)) !=
		    CHUBBY_OK)
			return rc;
	}
	return peer_bin(&f[12], "data", &m->data, err, errlen);
}

int
peer_decode(const uint8_t *body, size_t len, unsigned *kind, struct peer_hello *hello,
    struct paxos_msg *msg, char *err, size_t errlen)
{
	msgpack_unpacked u;
	size_t off = 0;
	const msgpack_object *f;
	uint32_t n;
	uint64_t k;
	int rc;

	memset(msg, 0, sizeof *msg);
	/* Before msgpack-c allocates anything from announced sizes. */
	if ((rc = wire_scan(body, len, err, errlen)) != CHUBBY_OK)
		return rc;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		snprintf(err, errlen, "peer message: not a complete msgpack value");
		return CHUBBY_E_MALFORMED;
	}
	if (off != len) {
		msgpack_unpacked_destroy(&u);
		snprintf(err, errlen, "peer message: %zu trailing bytes", len - off);
		return CHUBBY_E_MALFORMED;
	}
	if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size == 0) {
		msgpack_unpacked_destroy(&u);
		snprintf(err, errlen, "peer message: not a non-empty array");
		return CHUBBY_E_MALFORMED;
	}
	f = u.data.via.array.ptr;
	n = u.data.via.array.size;
	if ((rc = peer_uint(&f[0], "kind", UINT32_MAX, &k, err, errlen)) != CHUBBY_OK) {
		msgpack_unpacked_destroy(&u);
		return rc;
	}
	*kind = (unsigned)k;
	if (k == PEER_KIND_HELLO)
		rc = peer_decode_hello(f, n, hello, err, errlen);
	else if (k == PEER_KIND_PAXOS) {
		rc = peer_decode_paxos(f, n, msg, err, errlen);
		if (rc != CHUBBY_OK)
			paxos_msg_free(msg);
	} else {
		snprintf(err, errlen, "peer message: unknown kind %llu", (unsigned long long)k);
		rc = CHUBBY_E_MALFORMED;
	}
	msgpack_unpacked_destroy(&u);
	return rc;
}
