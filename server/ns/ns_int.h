/*
 * ns_int.h: the namespace's internal state and helpers shared by its files
 * (ns.c: commands and queries, ns_util.c: names, ACLs, messages, ns_codec.c:
 * command and snapshot encoding).  Not for use outside server/ns.
 */
#ifndef CHUBBY_NS_INT_H
#define CHUBBY_NS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ns.h"

struct ns_handle;
struct ns_cmd;

struct ns_node {
	char *path;
	size_t pathlen;
	struct ns_node *parent; /* NULL for the cell's root */
	uint64_t instance;
	bool is_dir;
	bool ephemeral;
	uint64_t content_gen;
	uint64_t lock_gen;
	uint64_t acl_gen;
	uint64_t checksum;
	uint64_t created_ms;
	uint64_t modified_ms;
	char *acl[3];
	uint8_t *contents;
	size_t len;
	uint64_t delay_until_ms;
	/* The lock generation under which the contents were written as a
	 * record of the lock (NS_SC_LOCK_RECORD): they are cleared when that
	 * lock is freed.  0: none (any plain write of the contents ends it). */
	uint64_t record_gen;

	/* Derived, rebuilt on restore (not in the snapshot). */
	size_t nchildren;
	struct ns_handle **handles; /* open on this node, by id */
	size_t nhandles;
	size_t handles_cap;
	int lock_mode;
	size_t nholders;
};

/* The outcome of a successful request, kept for its retries (ns_req.c). */
struct ns_rec {
	uint64_t rid;
	int type;             /* the inner command's NS_CMD_* */
	uint64_t handle;      /* OPEN */
	bool created;         /* OPEN */
	uint64_t lock_gen;    /* ACQUIRE */
	bool has_stat;        /* OPEN, SET_CONTENTS, SET_ACL, ACQUIRE */
	struct ns_stat stat;  /* acl[] point into acl below */
	char *acl[3];
};

struct ns_session {
	uint64_t id;
	char *principal;
	uint64_t start_nonce; /* the id its SESSION_START came with (0: none) */
	uint64_t rid_floor;   /* rids below were answered: refused if sent again */
	struct ns_rec *recs;  /* sorted by rid, all >= rid_floor */
	size_t nrecs, recs_cap;
	size_t nhandles; /* derived */
	bool proxy;      /* started by a proxy for PRINCIPAL (docs/NAMESPACE.md "Proxies") */
	bool orphaned;   /* a proxy session that ended, kept for its tagged handles */
};

struct ns_handle {
	uint64_t id;
	uint64_t session;
	char *path;          /* the name opened, kept after the node goes */
	struct ns_node *node; /* NULL once the node was deleted */
	uint64_t instance;
	uint32_t flags;
	uint64_t lock_delay_ms;
	uint32_t event_mask;
	bool poisoned;
	int held;            /* NS_LOCK_* this handle holds */
	bool has_seq;
	struct ns_sequencer seq;
	uint64_t client;     /* a proxy's client session it belongs to (0: none) */
};

struct ns {
	/* Config, local (not replicated). */
	char *cell;
	char *root;          /* "/ls/<cell>" */
	size_t rootlen;
	char *superuser;
	char *acl_dir;
	size_t max_contents;
	uint64_t lock_delay_default_ms;
	uint64_t lock_delay_max_ms;
	size_t max_nodes, max_sessions, max_handles, max_path, max_depth;

	/* Replicated state. */
	uint64_t next_session;
	uint64_t next_handle;
	uint64_t next_instance;
	uint64_t last_stamp;
	uint64_t lease_cap_ms; /* LEASE_CAP (0: none) */
	struct ns_node **nodes; /* sorted by ns_path_cmp */
	size_t nnodes, nodes_cap;
	struct ns_session **sessions; /* sorted by id */
	size_t nsessions, sessions_cap;
	struct ns_handle **handles; /* sorted by id */
	size_t nhandles, handles_cap;
	uint64_t *tombs;     /* ended proxy clients, oldest first (NS_MAX_TOMBSTONES) */
	size_t ntombs;
};

/* ns_util.c */
int ns_path_cmp(const char *a, size_t alen, const char *b, size_t blen);
int ns_path_check(const struct ns *ns, const char *p, size_t len, char *msg, size_t msglen);
int ns_name_check(const char *p, size_t len);
void ns_msg_set(char *msg, size_t msglen, const char *a, const char *b, const char *c);
void ns_msg_u64(char *msg, size_t msglen, const char *a, uint64_t v, const char *b);
char *ns_strndup(const char *p, size_t len);
bool ns_acl_lists(const uint8_t *contents, size_t len, const char *principal);

/* ns.c */
struct ns_node *ns_node_find(const struct ns *ns, const char *path, size_t len, size_t *pos);
struct ns_session *ns_session_find(const struct ns *ns, uint64_t id);
/* As ns_session_find, NULL for an orphaned session (not a live one). */
struct ns_session *ns_session_live(const struct ns *ns, uint64_t id);
void ns_tomb_add(struct ns *ns, uint64_t client);
struct ns_handle *ns_handle_find(const struct ns *ns, uint64_t id);
void ns_state_clear(struct ns *ns);
void ns_node_free(struct ns_node *n);
void ns_handle_free(struct ns_handle *h);
void ns_node_add_handle(struct ns_node *n, struct ns_handle *h);
void ns_session_free(struct ns_session *s);
void ns_fill_stat(const struct ns_node *n, struct ns_stat *st);
/* Applies one decoded command other than NS_CMD_REQ. */
int ns_apply_cmd(struct ns *ns, const struct ns_cmd *c, struct ns_result *res);

/* ns_req.c */
int ns_apply_req(struct ns *ns, const struct ns_cmd *c, struct ns_result *res);
void ns_rec_free(struct ns_rec *r);

/* A decoded command; strings and bytes borrowed from the encoded input. */
struct ns_cmd {
	int type;
	uint64_t stamp;
	uint64_t session; /* the issuer; 0: the master itself */
	uint64_t target;  /* SESSION_END */
	uint64_t reason;
	const char *str;  /* principal (SESSION_START) or path (OPEN) */
	size_t slen;
	uint64_t flags;
	bool have_delay;
	uint64_t lock_delay;
	uint64_t event_mask;
	bool have_contents;
	const uint8_t *contents;
	size_t clen;
	bool acl_set[3];  /* OPEN: all or none; SET_ACL: each */
	const char *acl[3];
	size_t acllen[3];
	uint64_t handle;
	bool have_expected;
	uint64_t expected;
	uint64_t sc_flags; /* SET_CONTENTS: NS_SC_* (0 when the field is absent) */
	uint64_t mode;
	bool have_seq;
	const char *seqpath;
	size_t seqlen;
	uint64_t seqmode, seqgen, seqinst;
	uint64_t rid, rid_floor; /* NS_CMD_REQ, around INNER */
	uint64_t instance;       /* NS_CMD_MEM (path in str, handle, flags) */
	bool poisoned;           /* NS_CMD_MEM */
	const uint8_t *inner;
	size_t ilen;
	bool proxy;              /* SESSION_START of a proxy session */
	uint64_t client;         /* OPEN's tag; CLIENT_END, CLAIM */
	bool expired;            /* CLIENT_END */
};

/* ns_codec.c */
int ns_cmd_decode(const uint8_t *p, size_t len, struct ns_cmd *c, char *msg, size_t msglen);

/* A growable output buffer for msgpack_packer (aborts on out-of-memory). */
struct ns_wbuf {
	uint8_t *p;
	size_t len, cap;
};
int ns_wbuf_write(void *data, const char *buf, size_t len);

/* ns_codec.c: a strict, allocation-free msgpack reader over bytes. */
struct ns_rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};
bool ns_rd_array(struct ns_rd *r, size_t *n);
bool ns_rd_uint(struct ns_rd *r, uint64_t *v);
bool ns_rd_bool(struct ns_rd *r, bool *v);
bool ns_rd_str(struct ns_rd *r, const char **p, size_t *len); /* str or bin */
bool ns_rd_nil(struct ns_rd *r); /* consumes a nil if next; false otherwise */

#endif
