/*
 * chubby.h: the one public header of libchubby, the client library of the
 * chubby lock service.
 *
 * Conventions, stated once (after LevelDB's c.h):
 *  - Every call that can fail returns a chubby_status; CHUBBY_OK is 0.
 *  - Opaque types are created by a *_new / *_open call and freed by the
 *    matching *_free / *_close call.  Anything a call hands back that the
 *    caller must free says so on its prototype.
 *  - The library never aborts or exits its host process, and never prints:
 *    errors come back as a status (and, where an object exists, a message).
 *  - All symbols start with chubby_ (types) or CHUBBY_ (macros).
 */
#ifndef CHUBBY_CHUBBY_H
#define CHUBBY_CHUBBY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CHUBBY_API __attribute__((visibility("default")))
#else
#define CHUBBY_API
#endif

/*
 * Status codes.  The numbers travel on the wire and in scripts' exit paths,
 * so they never change once released: add new codes at the end of a block.
 * X(name, number, message)
 */
#define CHUBBY_STATUS_LIST(X)                                                                  \
	X(OK, 0, "success")                                                                     \
	/* 1..19: local and generic */                                                          \
	X(E_NOMEM, 1, "out of memory")                                                          \
	X(E_INVALID, 2, "invalid argument")                                                     \
	X(E_INTERNAL, 3, "internal error")                                                      \
	X(E_UNSUPPORTED, 4, "operation not supported")                                          \
	X(E_TIMEOUT, 5, "timed out")                                                            \
	X(E_CANCELLED, 6, "cancelled")                                                          \
	X(E_IO, 7, "input/output error")                                                        \
	X(E_CONFIG, 8, "bad configuration")                                                     \
	X(E_LIMIT, 9, "limit exceeded")                                                         \
	X(E_STORE, 10, "storage error")                                                         \
	X(E_CORRUPT, 11, "data corrupted")                                                      \
	/* 20..39: wire and transport */                                                        \
	X(E_TRUNCATED, 20, "truncated input")                                                   \
	X(E_FRAME_TOO_BIG, 21, "frame larger than the limit")                                   \
	X(E_MALFORMED, 22, "malformed message")                                                 \
	X(E_BAD_TYPE, 23, "field has the wrong type")                                           \
	X(E_MISSING, 24, "required field missing")                                              \
	X(E_VERSION, 25, "protocol version not supported")                                      \
	X(E_TLS, 26, "TLS error")                                                               \
	X(E_CONN, 27, "connection failed or closed")                                            \
	X(E_AUTH, 28, "peer not authorized")                                                    \
	X(E_BAD_OP, 29, "unknown operation")                                                    \
	X(E_OVERLOAD, 30, "server overloaded, retry later")                                     \
	/* 40..59: cell and session */                                                          \
	X(E_NOT_MASTER, 40, "replica is not the master")                                        \
	X(E_BAD_EPOCH, 41, "request carries an old epoch")                                      \
	X(E_UNAVAILABLE, 42, "no master reachable")                                             \
	X(E_SESSION_EXPIRED, 43, "session expired")                                             \
	X(E_JEOPARDY, 44, "session in jeopardy")                                                \
	X(E_BAD_SESSION, 45, "unknown session")                                                 \
	X(E_BAD_HANDLE, 46, "invalid handle")                                                   \
	/* 60..89: namespace and locks */                                                       \
	X(E_NOT_FOUND, 60, "no such node")                                                      \
	X(E_EXISTS, 61, "node already exists")                                                  \
	X(E_NOT_EMPTY, 62, "directory not empty")                                               \
	X(E_NOT_DIR, 63, "not a directory")                                                     \
	X(E_IS_DIR, 64, "is a directory")                                                       \
	X(E_PERMISSION, 65, "permission denied")                                                \
	X(E_GEN_MISMATCH, 66, "content generation mismatch")                                    \
	X(E_BUSY, 67, "lock is held")                                                           \
	X(E_LOCK_DELAY, 68, "lock is in its lock-delay")                                        \
	X(E_NOT_HELD, 69, "lock not held")                                                      \
	X(E_STALE_SEQUENCER, 70, "sequencer is not current")                                    \
	X(E_BAD_SEQUENCER, 71, "sequencer is forged or malformed")                              \
	X(E_BAD_NAME, 72, "bad node name")                                                      \
	X(E_TOO_LARGE, 73, "contents larger than the limit")

typedef enum chubby_status {
#define CHUBBY_STATUS_ENUM(name, num, msg) CHUBBY_##name = num,
	CHUBBY_STATUS_LIST(CHUBBY_STATUS_ENUM)
#undef CHUBBY_STATUS_ENUM
} chubby_status;

/* A fixed English message for a status; never NULL, never to be freed. */
CHUBBY_API const char *chubby_strerror(int status);

/* The status's stable name without prefix ("OK", "E_NOT_FOUND");
 * "E_UNKNOWN" for a number not in the table.  Never to be freed. */
CHUBBY_API const char *chubby_status_name(int status);

/* The status whose name (as chubby_status_name gives it) is NAME;
 * -1 if none. */
CHUBBY_API int chubby_status_from_name(const char *name);

/* The library's version, "MAJOR.MINOR.PATCH"; never to be freed. */
CHUBBY_API const char *chubby_version(void);

/* ==== Sessions, handles, locks, events (libchubby/client.c; libchubby(3)) ==== */
/* (sessions block: end) */

/* ==== Sequencers: offline verification (common/seqtoken.c; docs/SEQUENCER.md) ==== */
/* (sequencers block: end) */

#ifdef __cplusplus
}
#endif

#endif /* CHUBBY_CHUBBY_H */
