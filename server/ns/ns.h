/*
 * ns.h: the lock namespace as a pure, deterministic replicated state machine.
 *
 * Every replica applies the same log entries, in the same order, with
 * ns_apply(), and reaches byte-identical state (equal ns_digest()).  The
 * module does no I/O, reads no clock and draws no randomness (STYLE.md,
 * "Pure cores"): time comes only from the stamp every command carries.
 *
 * Writes are commands (msgpack bytes built by ns_encode_*); reads are pure
 * queries over applied state that the master answers locally while its
 * lease holds (Chubby §2.2).  Data model, encodings, permission rules,
 * events, lock-delay and sequencers: docs/NAMESPACE.md.
 *
 * Conventions: every function returning int returns a chubby_status code
 * (<chubby/chubby.h>).  Memory: the namespace aborts on out-of-memory
 * (xmalloc, server code); buffers handed out (encodings, snapshots) are the
 * caller's to free(); what a result holds is freed by ns_result_free().
 */
#ifndef CHUBBY_NS_H
#define CHUBBY_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ns;

struct ns_config {
	const char *cell;           /* names live under /ls/<cell>/ */
	const char *superuser;      /* may do all; NULL or "": none */
	const char *acl_dir;        /* e.g. "/ls/<cell>/acl"; NULL: that default */
	size_t max_contents;        /* bytes per file; 0: 256 KiB */
	uint64_t lock_delay_default_ms; /* 0: 15 s (unless lock_delay_given) */
	uint64_t lock_delay_max_ms;     /* 0: 60 s (unless lock_delay_given); never more than 60 s */
	bool lock_delay_given;          /* take both as they are, 0 included (from a config) */
	size_t max_nodes;           /* 0: 100000 (the root counts) */
	size_t max_sessions;        /* 0: 10000 */
	size_t max_handles;         /* per session; 0: 1000 */
	size_t max_path;            /* bytes of a full name; 0: 1024 */
	size_t max_depth;           /* components below the cell; 0: 32 */
};

#define NS_MAX_LOCK_DELAY_MS 60000 /* Chubby §2.4: lock-delay at most a minute */
#define NS_MAX_PRINCIPAL 256
#define NS_MAX_ACL_NAME 255

/* Command types: the first element of every encoded command. */
enum ns_cmd_type {
	NS_CMD_SESSION_START = 1,
	NS_CMD_SESSION_END = 2,
	NS_CMD_OPEN = 3,
	NS_CMD_CLOSE = 4,
	NS_CMD_POISON = 5,
	NS_CMD_SET_CONTENTS = 6,
	NS_CMD_SET_ACL = 7,
	NS_CMD_DELETE = 8,
	NS_CMD_ACQUIRE = 9,
	NS_CMD_RELEASE = 10,
	NS_CMD_SET_SEQUENCER = 11,
	NS_CMD_REQ = 12, /* a session's command with its request id (below) */
	NS_CMD_INIT_ACLS = 13, /* a new cell's first command: protected ACLs */
	NS_CMD_LEASE_CAP = 14, /* the longest session lease a master may grant */
	NS_CMD_MEM = 15, /* a command on a handle the master keeps in memory (below) */
	NS_CMD_CLIENT_END = 16, /* a proxy's client session ended (docs/NAMESPACE.md "Proxies") */
	NS_CMD_CLAIM = 17,      /* a proxy claims a client's handles */
};

/* Ended proxy clients remembered (docs/NAMESPACE.md "Proxies"): a CLAIM of
 * one is refused; beyond this many the oldest is forgotten. */
#define NS_MAX_TOMBSTONES 4096

/* Ids of handles the master keeps in memory (docs/SESSIONS.md "Handles in
 * memory") have this bit set; the namespace's own count up from 1. */
#define NS_MEM_ID_BIT (UINT64_C(1) << 63)

/* The ACL file NS_CMD_INIT_ACLS makes in the ACL directory: the ACL
 * administrators; the directory and everything in it name it thrice. */
#define NS_ACL_ADMINS "acl-admins"

/* Outcomes of successful requests kept per session (docs/NAMESPACE.md
 * "Request ids"); beyond it the oldest is forgotten and the session's
 * floor moves past it. */
#define NS_MAX_REQ_RECORDS 1024

/* OPEN flags. */
#define NS_O_READ 0x01      /* intent: read contents, ReadDir (read ACL) */
#define NS_O_WRITE 0x02     /* intent: write, delete, lock (write ACL) */
#define NS_O_CREATE 0x04    /* create if missing (write ACL of the parent) */
#define NS_O_EXCL 0x08      /* with CREATE: fail with E_EXISTS if present */
#define NS_O_EPHEMERAL 0x10 /* a created node is ephemeral */
#define NS_O_DIR 0x20       /* a created node is a directory */
#define NS_O_ALL 0x3f

/* SESSION_END reasons. */
#define NS_END_CLOSED 1  /* the client closed it: locks free at once */
#define NS_END_EXPIRED 2 /* lease ran out: locks free after their lock-delay */

/* Lock modes. */
#define NS_LOCK_NONE 0
#define NS_LOCK_SHARED 1
#define NS_LOCK_EXCLUSIVE 2

/* Which of a node's three ACLs (Chubby §2.3). */
#define NS_ACL_READ 0
#define NS_ACL_WRITE 1
#define NS_ACL_CHANGE 2

/* Event types, also the bits of a handle's event mask (Chubby §2.5). */
#define NS_EV_CONTENTS_MODIFIED 0x01
#define NS_EV_CHILD_ADDED 0x02
#define NS_EV_CHILD_REMOVED 0x04
#define NS_EV_CHILD_MODIFIED 0x08
#define NS_EV_LOCK_ACQUIRED 0x10
#define NS_EV_CONFLICTING_LOCK 0x20
#define NS_EV_HANDLE_INVALID 0x40
#define NS_EV_MASTER_FAILOVER 0x80 /* raised by the shell, never by ns_apply */
#define NS_EV_ALL 0xff

/* Node metadata (Chubby §2.3). */
struct ns_stat {
	uint64_t instance;    /* new for every node ever created under a name */
	uint64_t content_gen; /* 0 at creation, +1 per SetContents */
	uint64_t lock_gen;    /* +1 each time the lock goes from free to held */
	uint64_t acl_gen;     /* 0 at creation, +1 per SetACL */
	uint64_t checksum;    /* 64-bit FNV-1a of the contents */
	uint64_t length;
	uint64_t created_ms;
	uint64_t modified_ms; /* contents or ACL last changed */
	bool is_dir;
	bool ephemeral;
	int lock_mode;        /* NS_LOCK_* now */
	uint64_t lock_holders;
	uint64_t lock_delay_until_ms; /* 0: none */
	const char *acl[3];   /* borrowed: valid until the next apply/restore */
};

struct ns_sequencer {
	char *path; /* owned by the result holding it */
	int mode;
	uint64_t lock_gen;
	uint64_t instance;
};

/* One event to deliver: the shell queues it for (session, handle). */
struct ns_event {
	uint64_t session;
	uint64_t handle;
	uint32_t type; /* one NS_EV_* */
	char *path;    /* owned by the result */
	/* CONTENTS_MODIFIED, and the CHILD_MODIFIED of a write of contents:
	 * the file's content generation after the write (has_gen); other
	 * events carry none. */
	bool has_gen;
	uint64_t gen;
};

/*
 * An event as raised on a node, whoever has it open: the master's handles
 * kept in memory (server/session/mhandle.h) are not the namespace's, so
 * the session layer gives them theirs from these (docs/SESSIONS.md
 * "Handles in memory").  NODE/INSTANCE is the node whose handles it is
 * for (a directory, for CHILD_*); PATH the event's.  A CONFLICTING_LOCK
 * names its holder (SESSION, HANDLE): the namespace knows only that one
 * holds.  AT: how many of the result's events (those of the namespace's
 * handles) come before it, so that a handle in memory, whose id is above
 * every log-assigned one, gets its events where id order puts them.
 */
struct ns_node_event {
	uint32_t type; /* one NS_EV_* */
	char *node;    /* owned by the result */
	uint64_t instance;
	char *path;    /* owned by the result */
	uint64_t session, handle; /* CONFLICTING_LOCK: the holder; else 0 */
	bool has_gen;
	uint64_t gen;
	size_t at;
};

/*
 * The outcome of ns_apply or of a query.  Initialise with ns_result_init;
 * every call resets it first; ns_result_free releases what it holds.
 */
struct ns_result {
	int status;
	char msg[256];
	uint64_t session;      /* SESSION_START */
	uint64_t handle;       /* OPEN */
	bool created;          /* OPEN made the node */
	struct ns_stat stat;   /* OPEN, SET_CONTENTS, SET_ACL, queries */
	uint64_t lock_gen;     /* ACQUIRE granted */
	uint64_t closed;       /* CLIENT_END: handles closed; CLAIM: handles moved */
	uint64_t delay_until_ms; /* ACQUIRE refused with E_LOCK_DELAY */
	const uint8_t *contents; /* GetContentsAndStat: borrowed, as stat.acl */
	size_t contents_len;
	char **names;          /* ReadDir: owned, sorted */
	size_t nnames;
	struct ns_sequencer seq; /* GetSequencer */
	struct ns_event *events;
	size_t nevents;
	size_t events_cap;
	struct ns_node_event *node_events; /* ns_apply: every event raised, by node */
	size_t nnode_events;
	size_t node_events_cap;
};

void ns_result_init(struct ns_result *res);
void ns_result_free(struct ns_result *res);

/* Returns NULL if the config is unusable (bad cell name, acl_dir outside the cell). */
struct ns *ns_new(const struct ns_config *cfg);
void ns_free(struct ns *ns);

/*
 * Decodes and applies one command.  All or nothing: a command that fails
 * (res->status != CHUBBY_OK; malformed bytes included) changes nothing.
 * Returns res->status.
 */
int ns_apply(struct ns *ns, const uint8_t *cmd, size_t len, struct ns_result *res);

/* Command builders: *OUT is malloc'd, the caller frees it. */
int ns_encode_session_start(uint64_t stamp_ms, const char *principal, uint8_t **out,
    size_t *len);
/* PROXY: a proxy session (docs/NAMESPACE.md "Proxies"): PRINCIPAL is the
 * client's a trusted proxy acts for.  With PROXY false the bytes are
 * exactly ns_encode_session_start's; with it, a second field that replicas
 * older than proxies refuse. */
int ns_encode_session_start_proxy(uint64_t stamp_ms, const char *principal, bool proxy,
    uint8_t **out, size_t *len);
int ns_encode_session_end(uint64_t stamp_ms, uint64_t issuer, uint64_t session, int reason,
    uint8_t **out, size_t *len);
/* LOCK_DELAY_MS: UINT64_MAX for the config's default.  CONTENTS: NULL for
 * none.  ACL: NULL to inherit the parent's names, else three names (""
 * for "open to all"), a NULL one inheriting that one of the parent's. */
int ns_encode_open(uint64_t stamp_ms, uint64_t session, const char *path, uint32_t flags,
    uint64_t lock_delay_ms, uint32_t event_mask, const void *contents, size_t contents_len,
    const char *const *acl, uint8_t **out, size_t *len);
/* As ns_encode_open, the handle tagged with a proxy's client session
 * CLIENT (> 0, only on a proxy session).  CLIENT 0: exactly
 * ns_encode_open's bytes; otherwise a seventh field. */
int ns_encode_open_client(uint64_t stamp_ms, uint64_t session, const char *path, uint32_t flags,
    uint64_t lock_delay_ms, uint32_t event_mask, const void *contents, size_t contents_len,
    const char *const *acl, uint64_t client, uint8_t **out, size_t *len);
/* CLIENT_END: closes every handle of proxy session SESSION tagged CLIENT,
 * as a SESSION_END closes a session's (EXPIRED: locks free after their
 * lock-delay), and remembers CLIENT as ended.  Result: closed. */
int ns_encode_client_end(uint64_t stamp_ms, uint64_t session, uint64_t client, bool expired,
    uint8_t **out, size_t *len);
/* CLAIM: moves every handle tagged CLIENT of a proxy session of SESSION's
 * principal (live, or ended and orphaned) to proxy session SESSION. */
int ns_encode_claim(uint64_t stamp_ms, uint64_t session, uint64_t client, uint8_t **out,
    size_t *len);
int ns_encode_close(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len);
int ns_encode_poison(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len);
/* HAVE_EXPECTED: compare-and-set against EXPECTED_GEN. */
int ns_encode_set_contents(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const void *contents, size_t contents_len, bool have_expected, uint64_t expected_gen,
    uint8_t **out, size_t *len);
/* SET_CONTENTS flags (docs/NAMESPACE.md "Lock records"). */
#define NS_SC_LOCK_RECORD 0x1 /* the contents record the exclusive lock the handle
				 holds (a leader's identity): the cell clears them
				 when that lock is freed, however it is freed */
#define NS_SC_ALL 0x1
/* As ns_encode_set_contents, with FLAGS (NS_SC_*).  With FLAGS 0 the bytes
 * are exactly ns_encode_set_contents's (three fields); otherwise a fourth
 * field carries them, which replicas older than the flag refuse
 * (docs/OPERATIONS.md "Upgrading: lock records"). */
int ns_encode_set_contents_flags(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const void *contents, size_t contents_len, bool have_expected, uint64_t expected_gen,
    uint32_t flags, uint8_t **out, size_t *len);
/* ACL[i] NULL keeps that ACL's current name. */
int ns_encode_set_acl(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const char *const acl[3], uint8_t **out, size_t *len);
/* A new cell's protected ACLs (issuer 0, the master; docs/NAMESPACE.md
 * "Permissions"): the root's three ACL names (NULL: ""), and ADMINS, the
 * contents of the ACL administrators' file (principals, one a line). */
/* LEASE_CAP: from now on a master may grant session leases up to CAP_MS
 * (proposed by the master's session layer before it grants a longer lease
 * than the recorded cap, and after its longer grants ran out, to lower it). */
int ns_encode_lease_cap(uint64_t stamp_ms, uint64_t cap_ms, uint8_t **out, size_t *len);
int ns_encode_init_acls(uint64_t stamp_ms, const char *const root_acl[3], const char *admins,
    uint8_t **out, size_t *len);
int ns_encode_delete(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len);
int ns_encode_acquire(uint64_t stamp_ms, uint64_t session, uint64_t handle, int mode,
    uint8_t **out, size_t *len);
int ns_encode_release(uint64_t stamp_ms, uint64_t session, uint64_t handle, uint8_t **out,
    size_t *len);
/* SEQ NULL clears the handle's sequencer.  The shell has checked the
 * sequencer's signature and passes its fields. */
int ns_encode_set_sequencer(uint64_t stamp_ms, uint64_t session, uint64_t handle,
    const struct ns_sequencer *seq, uint8_t **out, size_t *len);

/*
 * Exactly-once requests (docs/NAMESPACE.md "Request ids"): wraps INNER, a
 * command of SESSION (SESSION 0: a SESSION_START), as that session's request RID
 * (> 0); every rid below RID_FLOOR (<= RID) was answered and may be
 * forgotten.  Applied, it runs INNER once: a later copy with the same rid
 * changes nothing and returns the first outcome (status, handle, created,
 * stat, lock_gen), while INNER's failures are not recorded.
 */
int ns_encode_req(uint64_t stamp_ms, uint64_t session, uint64_t rid, uint64_t rid_floor,
    const uint8_t *inner, size_t inner_len, uint8_t **out, size_t *len);

/*
 * A command on a handle the master keeps in memory (docs/NAMESPACE.md
 * "Commands on a handle in memory"): INNER (SET_CONTENTS, DELETE, SET_ACL,
 * ACQUIRE, RELEASE, SET_SEQUENCER, POISON or CLOSE of SESSION on HANDLE, an
 * id with NS_MEM_ID_BIT) runs on the handle the master opened: PATH at
 * node INSTANCE, with the intents FLAGS (NS_O_READ, NS_O_WRITE) and
 * POISONED.  If the namespace does not hold HANDLE it checks what an OPEN
 * would (the session, the node still INSTANCE and not ephemeral, the
 * ACLs of the intents, max_handles) and makes it for INNER; afterwards it
 * keeps it only while it holds a lock or a sequencer.  INNER NULL: only
 * made (kept until closed).  May be wrapped in a request id.
 */
int ns_encode_mem(uint64_t stamp_ms, uint64_t session, uint64_t handle, const char *path,
    uint64_t instance, uint32_t flags, bool poisoned, const uint8_t *inner, size_t inner_len,
    uint8_t **out, size_t *len);
/* SESSION_START has no session: its request id is a NONCE the client
 * draws (ns_encode_req with session 0; a copy returns the same session
 * while it lives).  The session PRINCIPAL started with NONCE, or 0. */
uint64_t ns_session_started(const struct ns *ns, const char *principal, uint64_t nonce);
/* The recorded outcome of SESSION's request RID: CHUBBY_OK with RES filled
 * as ns_apply filled it, CHUBBY_E_NOT_FOUND if none is recorded (never
 * applied, or refused), CHUBBY_E_INVALID if RID is below the session's
 * floor (answered and forgotten: must not be applied), or
 * CHUBBY_E_BAD_SESSION. */
int ns_request_outcome(const struct ns *ns, uint64_t session, uint64_t rid,
    struct ns_result *res);

/* Queries (no log entry).  Each resets RES and returns res->status. */
int ns_get_contents_and_stat(const struct ns *ns, uint64_t session, uint64_t handle,
    struct ns_result *res);
int ns_get_stat(const struct ns *ns, uint64_t session, uint64_t handle, struct ns_result *res);
int ns_readdir(const struct ns *ns, uint64_t session, uint64_t handle, struct ns_result *res);
int ns_get_sequencer(const struct ns *ns, uint64_t session, uint64_t handle,
    struct ns_result *res);
/* The same reads by name, for a handle the master keeps in memory
 * (server/session/mhandle.h): the node PATH while it is instance INSTANCE
 * (E_BAD_HANDLE, as for a deleted node's handle, once it is not), or with
 * INSTANCE 0 whatever node is there (E_NOT_FOUND if none).  The caller
 * checked the permissions when the handle was opened, as OPEN does. */
int ns_path_stat(const struct ns *ns, const char *path, uint64_t instance,
    struct ns_result *res);
int ns_path_contents_and_stat(const struct ns *ns, const char *path, uint64_t instance,
    struct ns_result *res);
int ns_path_readdir(const struct ns *ns, const char *path, uint64_t instance,
    struct ns_result *res);
/* CHUBBY_OK while the lock PATH is held in MODE at LOCK_GEN by the node of
 * INSTANCE; else CHUBBY_E_STALE_SEQUENCER. */
int ns_check_sequencer(const struct ns *ns, const char *path, int mode, uint64_t lock_gen,
    uint64_t instance);
/* May PRINCIPAL use ACL WHICH (NS_ACL_*) of node PATH?  CHUBBY_OK,
 * E_PERMISSION, E_NOT_FOUND, E_BAD_NAME or E_INVALID (bad arguments). */
int ns_check_access(const struct ns *ns, const char *principal, const char *path, int which);

/* Whether the cell is new: no node was ever made and the root's ACL was
 * never set (the state INIT_ACLS needs). */
bool ns_is_new(const struct ns *ns);

/* The longest session lease a master has recorded it may grant (LEASE_CAP;
 * 0: none recorded, the configured session_lease only).  A new master
 * counts every session's lease as this long at least (docs/SESSIONS.md
 * "Leases under load"). */
uint64_t ns_lease_cap(const struct ns *ns);
/* Whether NAME may be given as an ACL name now: "" (open to all), or a
 * file that exists in the ACL directory.  CHUBBY_OK, or E_NOT_FOUND /
 * E_IS_DIR / E_BAD_NAME with a message naming the file in MSG. */
int ns_acl_file_check(const struct ns *ns, const char *name, char *msg, size_t msglen);

/* For the master's bookkeeping (rebuilding sessions after fail-over). */
uint64_t ns_last_stamp(const struct ns *ns);
size_t ns_session_count(const struct ns *ns);
/* The Ith session in id order (I < ns_session_count), or 0. */
uint64_t ns_session_id(const struct ns *ns, size_t i);
/* Where a listing in id order resumes (admin pages): the position of the
 * first session whose id exceeds AFTER, ns_session_count if none.  A binary
 * search: a page costs its own entries, not those before it. */
size_t ns_session_pos_after(const struct ns *ns, uint64_t after);
/* Every open handle, in id order, the same way. */
size_t ns_handle_count(const struct ns *ns);
size_t ns_handle_pos_after(const struct ns *ns, uint64_t after);
/* The Ith handle in id order (I < ns_handle_count), or 0: its session, the
 * name it opened (borrowed as from ns_handle_path) and the lock mode it
 * holds (NS_LOCK_NONE if none); each out pointer may be NULL. */
uint64_t ns_handle_at(const struct ns *ns, size_t i, uint64_t *session, const char **path,
    int *held);
/* NULL if no such session. */
const char *ns_session_principal(const struct ns *ns, uint64_t session);
size_t ns_node_count(const struct ns *ns);
/* Nodes whose lock is held (shared or exclusive) now. */
size_t ns_locks_held(const struct ns *ns);
/* The name handle HANDLE of SESSION opened (kept after the node goes) and,
 * in *HELD if not NULL, the lock mode it holds; NULL if no such handle of
 * that session.  Borrowed: valid until the next apply or restore. */
const char *ns_handle_path(const struct ns *ns, uint64_t session, uint64_t handle, int *held);
/* Whether handle HANDLE of SESSION still has its node; if so, whether that
 * node is an ephemeral file (cacheable, and reaped when its last handle
 * closes) and how many handles have it open.  For the master's cache
 * invalidation (server/session/session.c). */
bool ns_handle_node(const struct ns *ns, uint64_t session, uint64_t handle, bool *ephemeral_file,
    size_t *nhandles);
/* Whether freeing the lock handle HANDLE of SESSION holds now (RELEASE,
 * CLOSE, SESSION_END) would clear its node's lock record: a content change
 * that the master must invalidate caches for first. */
bool ns_handle_frees_record(const struct ns *ns, uint64_t session, uint64_t handle);
/* Proxies (docs/NAMESPACE.md "Proxies").  Whether SESSION is a proxy
 * session; whether it is one that ended and is kept, orphaned, for the
 * tagged handles a CLAIM may still take (not a live session: the master
 * gives it no lease and ends it after its claim window). */
bool ns_session_is_proxy(const struct ns *ns, uint64_t session);
bool ns_session_orphaned(const struct ns *ns, uint64_t session);
/* Whether CLIENT ended (a tombstone): a CLAIM of it is refused. */
bool ns_client_ended(const struct ns *ns, uint64_t client);
/* The handles of SESSION tagged CLIENT, in id order: how many; the first
 * MAX ids go to IDS (may be NULL). */
size_t ns_client_handles(const struct ns *ns, uint64_t session, uint64_t client, uint64_t *ids,
    size_t max);
/* What a CLAIM answers of each handle it gives. */
struct ns_handle_info {
	const char *path; /* borrowed, as ns_handle_path's */
	uint32_t flags, events;
	uint64_t instance;
	int lock_mode;    /* what the handle holds */
	bool poisoned;
	uint64_t client;
};
int ns_handle_info(const struct ns *ns, uint64_t session, uint64_t handle,
    struct ns_handle_info *out);
/* How many handles SESSION has; the first MAX ids go to IDS (may be NULL). */
size_t ns_session_handles(const struct ns *ns, uint64_t session, uint64_t *ids, size_t max);

/* Snapshot of the whole replicated state, canonical bytes; *OUT malloc'd. */
int ns_snapshot(const struct ns *ns, uint8_t **out, size_t *len);
/* Replaces the state with a snapshot's; refuses malformed input
 * (CHUBBY_E_CORRUPT, message in ERR) and then leaves the state unchanged. */
int ns_restore(struct ns *ns, const uint8_t *data, size_t len, char *err, size_t errlen);
/* 64-bit FNV-1a over the canonical snapshot bytes: equal state, equal digest. */
uint64_t ns_digest(const struct ns *ns);

/* 64-bit FNV-1a, the contents checksum. */
uint64_t ns_fnv1a(uint64_t h, const void *p, size_t len);
#define NS_FNV_INIT 0xcbf29ce484222325ULL

#endif
