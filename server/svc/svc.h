/*
 * svc.h: the request layer - Chubby's calls served by the master (docs/
 * PROTOCOL.md "Ops"): sessions, KeepAlives, handles, the namespace, locks,
 * sequencers and the session admin listings.  For each call it checks the
 * session and the epoch, answers a copy of a write it has seen from the
 * recorded outcome (request ids), reads from the applied namespace, or
 * encodes a namespace command and hands it to the session layer, and
 * answers when that command has been applied.
 *
 * A pure core (docs/STYLE.md "Pure cores", tests/check-pure.sh): it knows
 * no wire format, reads no clock and calls no RPC or replica function by
 * name.  Requests come in decoded (struct svc_args) with the time; answers
 * go out as structs (struct svc_result) through the struct svc_env its
 * owner registers.  chubbyd's client port (server/rpc/rpc_ns.c) decodes
 * msgpack into it and encodes its answers; the whole-cell simulator
 * (tests/wsim) and the fuzzer (tests/fuzz/fuzz_rpc.c) drive the same code
 * with their own environments.  Layers: rpc -> svc -> session -> cell/ns.
 */
#ifndef CHUBBY_SVC_H
#define CHUBBY_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

struct ns_stat;
struct seqtoken;
struct svc;

/* The calls (rpc_ns.c maps the protocol's op codes onto them). */
enum svc_op {
	SVC_SESSION_START = 1,
	SVC_KEEPALIVE,
	SVC_SESSION_END,
	SVC_OPEN,
	SVC_CLOSE,
	SVC_POISON,
	SVC_GET_CONTENTS,
	SVC_GET_STAT,
	SVC_READDIR,
	SVC_SET_CONTENTS,
	SVC_SET_ACL,
	SVC_DELETE,
	SVC_ACQUIRE,
	SVC_TRY_ACQUIRE,
	SVC_RELEASE,
	SVC_GET_SEQUENCER,
	SVC_SET_SEQUENCER,
	SVC_CHECK_SEQUENCER,
	SVC_SESSIONS,
	SVC_LOCKS,
	SVC_CLIENT_END, /* proxies only (docs/PROTOCOL.md "Proxies") */
	SVC_CLAIM,
};

/* A call's arguments, decoded; which ones a call reads: docs/PROTOCOL.md.
 * Pointers are borrowed for the call. */
struct svc_args {
	uint64_t session, epoch, handle;
	/* A write's request id (0: none, not de-duplicated) and the session's
	 * floor; SESSION_START's nonce is its RID. */
	uint64_t rid, rid_floor;
	/* OPEN: PATH (no NUL inside), FLAGS (NS_O_*), LOCK_DELAY_MS (UINT64_MAX:
	 * the cell's default), EVENTS (NS_EV_* mask); CONTENTS if HAVE_CONTENTS. */
	const char *path;
	uint32_t flags, events;
	uint64_t lock_delay_ms;
	const uint8_t *contents;
	size_t contents_len;
	bool have_contents;
	/* OPEN, SET_ACL: [read, write, change] ACL names, NULL for one kept. */
	bool have_acl;
	const char *acl[3];
	bool allow_open_change;
	/* SET_CONTENTS: compare-and-set against EXPECTED_GEN if HAVE_EXPECTED. */
	bool have_expected;
	uint64_t expected_gen;
	bool lock_record; /* SET_CONTENTS: a record of the lock, cleared when it is freed */
	/* ACQUIRE, TRY_ACQUIRE: MODE as given (checked here), TIMEOUT_MS (0: none). */
	uint64_t mode, timeout_ms;
	/* KEEPALIVE: HOLD_MS, the invalidations acknowledged (ACKS, NACKS), and
	 * EV_ACK, the highest event id the client has processed, if
	 * HAVE_EV_ACK (a client before event ids sends none). */
	uint64_t hold_ms;
	const uint64_t *acks;
	size_t nacks;
	bool have_ev_ack;
	uint64_t ev_ack;
	/* GET_CONTENTS: the client will cache what it reads.  OPEN without
	 * CREATE: the client will cache the node's absence if it finds none
	 * (Chubby §2.9 caches "file absence"; libchubby does not yet, the
	 * whole-cell simulator's client does). */
	bool cache;
	/* OPEN: the client takes a handle kept in the master's memory
	 * (docs/SESSIONS.md "Handles in memory"); ignored unless the cell has
	 * handles_in_memory and the open creates nothing and asks no events. */
	bool mem;
	/* A call on a handle kept in memory: what re-creating it at a new
	 * master needs (HAVE_REOPEN), in PATH, FLAGS, INSTANCE and POISONED. */
	bool have_reopen;
	uint64_t instance;
	bool poisoned;
	/* SET_SEQUENCER (NULL: clear), CHECK_SEQUENCER: a decoded sequencer
	 * whose signature the caller has checked. */
	const struct seqtoken *seq;
	/* SESSIONS, LOCKS: PAGED false for a client that predates pages (the
	 * first page as a bare list); AFTER, LIMIT the page's cursor and size. */
	bool paged;
	uint64_t after, limit;
	/* The caller is a replica of this cell (its certificate says so):
	 * the master's mirror, the one writer of a read-only subtree. */
	bool mirror_writer;
	/* From a proxy connection only (docs/PROTOCOL.md "Proxies"):
	 * SESSION_START's PRINCIPAL (NULL: the connection's own), the client
	 * tag of OPEN, CLIENT_END and CLAIM (0: none), and CLIENT_END's
	 * EXPIRED. */
	const char *principal;
	uint64_t client;
	bool expired;
};

/* What an answer carries besides its status (docs/PROTOCOL.md gives each
 * call's result); pointers are valid for the reply call only. */
enum svc_result_kind {
	SVC_RES_NIL = 0,    /* nil (and every error without more to say) */
	SVC_RES_RAW,        /* RAW: one packed msgpack value (a grant, a sequencer) */
	SVC_RES_STAT,       /* {stat}, lock fields included */
	SVC_RES_SESSION,    /* {session, epoch, lease_ms[, claim_window_ms]} */
	SVC_RES_OPEN,       /* {handle, created, stat} */
	SVC_RES_CONTENTS,   /* {contents, stat, cacheable}; STAT's lock fields unless cacheable */
	SVC_RES_NAMES,      /* {names} */
	SVC_RES_PAGE,       /* a page of SESSIONS / LOCKS: RAW the packed array, NEXT */
	SVC_RES_NOT_MASTER, /* E_NOT_MASTER from this replica: the caller names the master */
	SVC_RES_EPOCH,      /* E_BAD_EPOCH: {epoch} */
	SVC_RES_CONTENT_GEN, /* E_GEN_MISMATCH: {content_gen} */
	SVC_RES_ABSENT,     /* E_NOT_FOUND of an OPEN with cache: {cacheable} */
	SVC_RES_CLOSED,     /* CLIENT_END: {closed} */
	SVC_RES_HANDLES     /* CLAIM: {handles: [...]} (HANDLES, NHANDLES) */
};

/* One handle a CLAIM gives (docs/PROTOCOL.md "Proxies"). */
struct svc_claimed {
	uint64_t handle;
	const char *path;
	uint32_t flags, events;
	uint64_t instance;
	int lock_mode;
	bool poisoned;
};

struct svc_result {
	enum svc_result_kind kind;
	const struct ns_stat *stat;
	uint64_t session, epoch, lease_ms;
	uint64_t claim_window_ms; /* SESSION of a proxy: proxy_claim_window (0: not one) */
	uint64_t handle;
	bool created;
	const uint8_t *contents;
	size_t contents_len;
	bool cacheable;
	char *const *names;
	size_t nnames;
	const void *raw;
	size_t rawlen;
	bool paged;
	uint64_t next;
	uint64_t content_gen;
	uint64_t closed;
	const struct svc_claimed *handles;
	size_t nhandles;
};

/*
 * What the layer needs from its owner.  A request is an opaque token
 * (void *REQ).  Within the svc_call that brings it, the layer either
 * answers it at once (reply with DEFERRED false, REQ the token given) or
 * keeps it: DEFER returns the token it keeps, which is answered exactly
 * once later (reply with DEFERRED true) or handed to the session layer,
 * which answers it through its own environment (struct session_env's
 * reply: the two must agree on what a kept token is).
 */
struct svc_env {
	void *arg;
	void *(*defer)(void *arg, void *req);
	void (*reply)(void *arg, void *req, bool deferred, int status, const char *msg,
	    const struct svc_result *res);
	/* The audit trail (rpc/audit.h), before DEFER: ALWAYS for ACL changes;
	 * PATH the node the request names; ACL (NULL: none given) the names it
	 * sets and ALLOW_OPEN its flag.  May be NULL. */
	void (*audit)(void *arg, void *req, bool always, const char *path,
	    const char *const *acl, bool allow_open);
};

/* What the layer needs of the cell's config (strings copied). */
struct svc_config {
	const char *cell;      /* sequencers of other cells are refused */
	const char *superuser; /* who may list SESSIONS and LOCKS ("": nobody) */
	uint64_t max_contents; /* for the message of an oversized write */
	size_t page_bytes;     /* the most a SESSIONS / LOCKS page takes */
	bool lock_records;     /* SET_CONTENTS lock_record honoured (else a plain write:
				  replicas older than lock records would refuse it) */
	/* Subtrees copied from other cells (docs/OPERATIONS.md "Mirroring"):
	 * only a mirror_writer may open for writing or creating, write, delete
	 * or lock a node at or under one; others get E_PERMISSION. */
	const char *const *readonly;
	size_t nreadonly;
	/* Read-only OPENs asking for it keep their handle in memory, with no
	 * log write (experimental: docs/SESSIONS.md "Handles in memory"). */
	bool handles_in_memory;
	size_t max_handles;    /* per session, memory handles counted (0: 1000) */
	/* Principals of trusted proxies, separated by "," or blanks (NULL or
	 * "": none): only they may use the proxy arguments and calls. */
	const char *proxies;
};

/* The layer over session layer SM (not owned). */
struct svc *svc_new(const struct svc_config *cfg, const struct svc_env *env,
    struct session_mgr *sm);
void svc_free(struct svc *s);

/*
 * Serves call OP with arguments A for the client PRINCIPAL (NULL: none),
 * at NOW.  The answer goes through the environment, at once or later (see
 * struct svc_env); REQ is the caller's token for the request.  An error
 * answered at once has its message in the reply's MSG (NULL: the code's
 * text, or for SVC_RES_NOT_MASTER the caller's words naming the master).
 */
void svc_call(struct svc *s, struct session_now now, void *req, const char *principal,
    enum svc_op op, const struct svc_args *a);

#endif
