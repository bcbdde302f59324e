/*
 * protocol.h: the client protocol's numbers in one place: version, envelope
 * kinds, op codes (in blocks by family) and event types.  docs/PROTOCOL.md
 * describes them; change both in the same commit.  Numbers travel on the
 * wire: never renumber, only add.
 */
#ifndef CHUBBY_PROTOCOL_H
#define CHUBBY_PROTOCOL_H

/*
 * The version a peer speaks and the oldest one it still accepts.  Only
 * wire_check_version() decides what is supported; bump PROTO_VERSION for
 * any change an older peer would misread.
 */
#define PROTO_VERSION 1
#define PROTO_VERSION_MIN 1

/*
 * Envelope kinds: the first element of every frame's msgpack array.
 * X(name, number)
 */
#define PROTO_KIND_LIST(X)                                                                      \
	X(HELLO, 1)   /* [1, version, name]                        client -> server, first */ \
	X(WELCOME, 2) /* [2, version, cell, replica_id, max_frame] server -> client */        \
	X(REQ, 3)     /* [3, id, op, args]                         client -> server */        \
	X(RES, 4)     /* [4, id, status, message, result]          server -> client */        \
	X(EVENT, 5)   /* [5, type, body]                           server -> client */

enum proto_kind {
#define PROTO_KIND_ENUM(name, num) PROTO_KIND_##name = num,
	PROTO_KIND_LIST(PROTO_KIND_ENUM)
#undef PROTO_KIND_ENUM
};

/* 6..15 are kept for later client-protocol kinds. */
#define PROTO_KIND_CLIENT_LAST 15

/*
 * 16..31 are reserved for replica-to-replica messages (Paxos, catch-up,
 * snapshots), defined in their own block by the peer module.  They share the
 * framing but not the connection: a server refuses them from a client
 * certificate, and wire_decode() rejects them as unknown until added.
 */
#define PROTO_KIND_PEER_FIRST 16
#define PROTO_KIND_PEER_LAST 31

/*
 * Op codes of REQ, in blocks by family with room to grow in each.
 * X(name, number)
 */
#define PROTO_OP_LIST(X)                                                                        \
	/* 1..15: sessions (Chubby 2.8: sessions and KeepAlives) */                           \
	X(SESSION_START, 1)                                                                     \
	X(KEEPALIVE, 2)                                                                         \
	X(SESSION_END, 3)                                                                       \
	X(CLIENT_END, 4) /* proxies only: a client's handles end (docs/PROTOCOL.md "Proxies") */ \
	X(CLAIM, 5)      /* proxies only: a client's handles move to this session */         \
	/* 16..47: handles and the namespace (Chubby 2.6: the API) */                        \
	X(OPEN, 16)                                                                             \
	X(CLOSE, 17)                                                                            \
	X(POISON, 18)                                                                           \
	X(GET_CONTENTS, 19)                                                                     \
	X(GET_STAT, 20)                                                                         \
	X(READDIR, 21)                                                                          \
	X(SET_CONTENTS, 22)                                                                     \
	X(SET_ACL, 23)                                                                          \
	X(DELETE, 24)                                                                           \
	/* 48..63: locks and sequencers (Chubby 2.4) */                                       \
	X(ACQUIRE, 48)                                                                          \
	X(TRY_ACQUIRE, 49)                                                                      \
	X(RELEASE, 50)                                                                          \
	X(GET_SEQUENCER, 51)                                                                    \
	X(SET_SEQUENCER, 52)                                                                    \
	X(CHECK_SEQUENCER, 53)                                                                  \
	/* 64..95: administration (lockctl) */                                                \
	X(STATUS, 64)                                                                           \
	X(WHERE_IS_MASTER, 65)                                                                  \
	X(SESSIONS, 66)                                                                         \
	X(LOCKS, 67)                                                                            \
	X(SNAPSHOT, 68)                                                                         \
	X(MEMBERS, 69)                                                                          \
	X(SYNC, 70) /* a barrier through the log: answered once applied at the master */     \
	X(MASTER_HANDOFF, 71) /* the master hands mastership to another replica */ \
	X(RELOAD, 72) /* this replica reads its TLS files again (superuser) */

enum proto_op {
#define PROTO_OP_ENUM(name, num) PROTO_OP_##name = num,
	PROTO_OP_LIST(PROTO_OP_ENUM)
#undef PROTO_OP_ENUM
};

/*
 * Event types (Chubby 2.5: events).  1..63 travel in EVENT envelopes;
 * 64.. are raised by libchubby itself from its session state and never
 * appear on the wire, so a server never sends them and a client drops them
 * if one arrives.
 * X(name, number)
 */
#define PROTO_EVENT_LIST(X)                                                                     \
	X(CONTENTS_MODIFIED, 1)                                                                 \
	X(CHILD_ADDED, 2)                                                                       \
	X(CHILD_REMOVED, 3)                                                                     \
	X(CHILD_MODIFIED, 4)                                                                    \
	X(LOCK_ACQUIRED, 5)                                                                     \
	X(CONFLICTING_LOCK, 6)                                                                  \
	X(HANDLE_INVALID, 7)                                                                    \
	X(MASTER_FAILOVER, 8)                                                                   \
	X(INVALIDATE, 9) /* cache invalidation (Chubby 2.9), acknowledged by KeepAlive */     \
	/* 64..: client-side only */                                                          \
	X(JEOPARDY, 64)                                                                         \
	X(SAFE, 65)                                                                             \
	X(EXPIRED, 66)

enum proto_event {
#define PROTO_EVENT_ENUM(name, num) PROTO_EV_##name = num,
	PROTO_EVENT_LIST(PROTO_EVENT_ENUM)
#undef PROTO_EVENT_ENUM
};

#define PROTO_EV_CLIENT_FIRST 64

/* Names for logs ("HELLO", "OPEN", "LOCK_ACQUIRED"); never NULL: a number
 * not in the table gives "UNKNOWN".  Static strings, never to be freed. */
const char *proto_kind_name(unsigned kind);
const char *proto_op_name(unsigned op);
const char *proto_event_name(unsigned type);

#endif
