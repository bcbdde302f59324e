/* paxos_msg.c: deep copy and free of Paxos messages, and the batch format. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#include "paxos_msg.h"

void
paxos_buf_set(struct paxos_buf *b, const void *data, size_t len)
{
	b->data = len == 0 ? NULL : xmemdup(data, len);
	b->len = len;
}

void
paxos_buf_copy(struct paxos_buf *dst, const struct paxos_buf *src)
{
	paxos_buf_set(dst, src->data, src->len);
}

void
paxos_buf_free(struct paxos_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

bool
paxos_buf_equal(const struct paxos_buf *a, const struct paxos_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

void
paxos_entry_copy(struct paxos_entry *dst, const struct paxos_entry *src)
{
	*dst = *src;
	paxos_buf_copy(&dst->value, &src->value);
}

void
paxos_entry_free(struct paxos_entry *e)
{
	paxos_buf_free(&e->value);
}

void
paxos_msg_copy(struct paxos_msg *dst, const struct paxos_msg *src)
{
	size_t i;

	*dst = *src;
	dst->entries = NULL;
	if (src->nentries > 0) {
		dst->entries = xcalloc(src->nentries, sizeof *dst->entries);
		for (i = 0; i < src->nentries; i++)
			paxos_entry_copy(&dst->entries[i], &src->entries[i]);
	}
	paxos_buf_copy(&dst->data, &src->data);
}

void
paxos_msg_free(struct paxos_msg *m)
{
	size_t i;

	for (i = 0; i < m->nentries; i++)
		paxos_entry_free(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->nentries = 0;
	paxos_buf_free(&m->data);
}

void
paxos_msg_add_entry(struct paxos_msg *m, const struct paxos_entry *e)
{
	m->entries = xrealloc(m->entries, (m->nentries + 1) * sizeof *m->entries);
	paxos_entry_copy(&m->entries[m->nentries++], e);
}

const char *
paxos_msg_type_name(enum paxos_msg_type t)
{
	static const char *names[] = {
		[PAXOS_MSG_PREPARE] = "PREPARE",
		[PAXOS_MSG_PROMISE] = "PROMISE",
		[PAXOS_MSG_ACCEPT] = "ACCEPT",
		[PAXOS_MSG_ACCEPTED] = "ACCEPTED",
		[PAXOS_MSG_REJECT] = "REJECT",
		[PAXOS_MSG_HEARTBEAT] = "HEARTBEAT",
		[PAXOS_MSG_HEARTBEAT_ACK] = "HEARTBEAT_ACK",
		[PAXOS_MSG_CATCHUP_REQ] = "CATCHUP_REQ",
		[PAXOS_MSG_CATCHUP] = "CATCHUP",
		[PAXOS_MSG_SNAPSHOT] = "SNAPSHOT",
		[PAXOS_MSG_PRE_PREPARE] = "PRE_PREPARE",
		[PAXOS_MSG_PRE_PROMISE] = "PRE_PROMISE",
		[PAXOS_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
	};

	if ((unsigned)t == 0 || (unsigned)t > PAXOS_MSG_MAX)
		return "?";
	return names[t];
}

static void
paxos_batch_put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t
paxos_batch_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
paxos_batch_init(struct paxos_buf *b)
{
	b->data = xcalloc(1, 4);
	b->len = 4;
}

void
paxos_batch_append(struct paxos_buf *b, const void *cmd, size_t len)
{
	if (b->len < 4)
		paxos_batch_init(b);
	b->data = xrealloc(b->data, b->len + 4 + len);
	paxos_batch_put32(b->data + b->len, (uint32_t)len);
	if (len > 0)
		memcpy(b->data + b->len + 4, cmd, len);
	b->len += 4 + len;
	paxos_batch_put32(b->data, paxos_batch_get32(b->data) + 1);
}

uint32_t
paxos_batch_count(const struct paxos_buf *b)
{
	return b->len < 4 ? 0 : paxos_batch_get32(b->data);
}

bool
paxos_batch_next(const struct paxos_buf *b, size_t *off, const uint8_t **cmd, size_t *len)
{
	uint32_t n;

	if (b->len < 4)
		return false;
	if (*off == 0)
		*off = 4;
	if (*off + 4 > b->len)
		return false;
	n = paxos_batch_get32(b->data + *off);
	if (n > b->len - *off - 4)
		return false;
	*cmd = b->data + *off + 4;
	*len = n;
	*off += 4 + (size_t)n;
	return true;
}

void
paxos_conf_encode(const struct paxos_conf *c, struct paxos_buf *out)
{
	size_t n = 4 + 1 + c->nvoters + 1 + c->nlearners, o = 4;
	unsigned i;

	out->data = xmalloc(n);
	out->len = n;
	paxos_batch_put32(out->data, 0xffffffffu);
	out->data[o++] = (uint8_t)c->nvoters;
	for (i = 0; i < c->nvoters; i++)
		out->data[o++] = (uint8_t)c->voters[i];
	out->data[o++] = (uint8_t)c->nlearners;
	for (i = 0; i < c->nlearners; i++)
		out->data[o++] = (uint8_t)c->learners[i];
}

bool
paxos_conf_has_voter(const struct paxos_conf *c, unsigned id)
{
	unsigned i;

	for (i = 0; i < c->nvoters; i++)
		if (c->voters[i] == id)
			return true;
	return false;
}

bool
paxos_conf_has_learner(const struct paxos_conf *c, unsigned id)
{
	unsigned i;

	for (i = 0; i < c->nlearners; i++)
		if (c->learners[i] == id)
			return true;
	return false;
}

bool
paxos_conf_decode(const struct paxos_buf *v, struct paxos_conf *c)
{
	size_t o = 5;
	unsigned i, id;

	memset(c, 0, sizeof *c);
	if (v->len < 4 || paxos_batch_get32(v->data) != 0xffffffffu)
		return false;
	if (v->len < 5 || v->data[4] == 0 || v->data[4] > PAXOS_MAX_MEMBERS ||
	    v->len < 5 + (size_t)v->data[4] + 1)
		return true;
	for (i = 0; i < v->data[4]; i++) {
		id = v->data[o++];
		if (id == 0 || paxos_conf_has_voter(c, id))
			goto bad;
		c->voters[c->nvoters++] = id;
	}
	if (v->data[o] > PAXOS_MAX_MEMBERS || v->len != o + 1 + v->data[o])
		goto bad;
	for (i = 0, o++; o < v->len; i++) {
		id = v->data[o++];
		if (id == 0 || paxos_conf_has_voter(c, id) || paxos_conf_has_learner(c, id))
			goto bad;
		c->learners[c->nlearners++] = id;
	}
	return true;
bad:
	memset(c, 0, sizeof *c);
	return true;
}
