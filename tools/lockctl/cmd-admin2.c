/*
 * cmd-admin2.c: lockctl sessions and locks: the master's live sessions and
 * held locks (admin ops SESSIONS 66 and LOCKS 67, docs/PROTOCOL.md
 * "Administration"), asked over an admin connection: no session needed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "json.h"
#include "lockctl.h"
#include "mp.h"
#include "protocol.h"

/* Entries asked for per page: the server's most (server/session/session.h
 * SESSION_PAGE_MAX); a smaller page would only cost more round trips. */
#define ADMIN2_PAGE 1000

/* Prints one entry of a listing. */
typedef void (*admin2_entry_fn)(struct lockctl *lc, struct json *j, const msgpack_object *e);

/* The exit code for a failed call. */
static int
admin2_fail(struct lockctl *lc, int rc, const char *err)
{
	return lockctl_error(lc, lockctl_reach_exit(rc), rc, "%s", err);
}

/*
 * Lists OP's entries from the master a page at a time (docs/PROTOCOL.md
 * "Administration": {after, limit} in, {entries, next} out), calling FN on
 * each, and counts them in *COUNT.  A master that predates pages answers
 * with a bare list: that is the whole listing.  If mastership moves between
 * pages, the listing goes on at the new master from the same cursor (ids
 * are the replicated state's, the same at every replica).  0, or the exit
 * code after printing the error.
 */
static int
admin2_list(struct lockctl *lc, uint32_t op, struct json *j, admin2_entry_fn fn, uint64_t *count)
{
	struct aclient *ac = NULL;
	uint64_t after = 0;
	int rc, moves = 0;
	char err[512];

	*count = 0;
	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	for (;;) {
		const msgpack_object *entries = NULL, *next = NULL;
		msgpack_sbuffer sb;
		msgpack_packer pk;
		struct wire_msg m;

		if (ac == NULL &&
		    (rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err)) !=
			CHUBBY_OK)
			return admin2_fail(lc, rc, err);
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 2);
		mp_pack_kv_uint(&pk, "after", after);
		mp_pack_kv_uint(&pk, "limit", ADMIN2_PAGE);
		rc = aclient_call(ac, op, sb.data, sb.size, &m, err, sizeof err);
		msgpack_sbuffer_destroy(&sb);
		if (rc != CHUBBY_OK) {
			aclient_close(ac);
			return admin2_fail(lc, rc, err);
		}
		if (m.res.status == CHUBBY_E_NOT_MASTER && moves++ < 3) {
			/* Mastership moved: find the new master, same cursor. */
			wire_msg_free(&m);
			aclient_close(ac);
			ac = NULL;
			continue;
		}
		if (m.res.status != CHUBBY_OK) {
			rc = m.res.status;
			snprintf(err, sizeof err, "%.*s", (int)m.res.message.len,
			    m.res.message.ptr != NULL ? m.res.message.ptr : "");
			wire_msg_free(&m);
			aclient_close(ac);
			return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "%s: %s", proto_op_name(op),
			    err[0] != '\0' ? err : chubby_strerror(rc));
		}
		if (m.res.result != NULL && m.res.result->type == MSGPACK_OBJECT_ARRAY) {
			entries = m.res.result; /* a master before pages: all of it */
		} else if (m.res.result != NULL && m.res.result->type == MSGPACK_OBJECT_MAP) {
			entries = mp_map_get(m.res.result, "entries");
			next = mp_map_get(m.res.result, "next");
		}
		if (entries == NULL || entries->type != MSGPACK_OBJECT_ARRAY ||
		    (next != NULL && next->type != MSGPACK_OBJECT_NIL &&
			(next->type != MSGPACK_OBJECT_POSITIVE_INTEGER || next->via.u64 <= after))) {
			/* A cursor that does not move on would list forever. */
			wire_msg_free(&m);
			aclient_close(ac);
			return lockctl_error(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_MALFORMED,
			    "%s: the master's answer is not a list of entries and a cursor",
			    proto_op_name(op));
		}
		for (uint32_t i = 0; i < entries->via.array.size; i++) {
			fn(lc, j, &entries->via.array.ptr[i]);
			(*count)++;
		}
		if (next == NULL || next->type == MSGPACK_OBJECT_NIL) {
			wire_msg_free(&m);
			break;
		}
		after = next->via.u64;
		wire_msg_free(&m);
	}
	aclient_close(ac);
	return 0;
}

/* A string field as a NUL-terminated copy in BUF ("" if absent). */
static const char *
field_str(const msgpack_object *o, const char *key, char *buf, size_t len)
{
	struct mp_str s = {NULL, 0};

	buf[0] = '\0';
	if (mp_get_str(o, key, MP_OPTIONAL, &s, NULL, 0) == CHUBBY_OK && s.ptr != NULL)
		snprintf(buf, len, "%.*s", (int)s.len, s.ptr);
	return buf;
}

static uint64_t
field_uint(const msgpack_object *o, const char *key)
{
	uint64_t v = 0;

	mp_get_uint(o, key, MP_OPTIONAL, &v, NULL, 0);
	return v;
}

/* One held lock of a session: {path, mode} (what chubbyd sends) or a bare
 * path (what docs/PROTOCOL.md's first table showed); *MODE 0 if unknown. */
static int
lock_entry(const msgpack_object *o, char *path, size_t len, uint64_t *mode)
{
	struct mp_str s = {NULL, 0};

	*mode = 0;
	if (o->type == MSGPACK_OBJECT_STR) {
		snprintf(path, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_MAP ||
	    mp_get_str(o, "path", MP_REQUIRED, &s, NULL, 0) != CHUBBY_OK)
		return -1;
	snprintf(path, len, "%.*s", (int)s.len, s.ptr);
	*mode = field_uint(o, "mode");
	return 0;
}

/* One session: id, principal, lease left, handles and its locks. */
static void
session_entry(struct lockctl *lc, struct json *j, const msgpack_object *s)
{
	const msgpack_object *locks = mp_map_get(s, "locks");
	uint64_t lease = field_uint(s, "lease_ms");
	bool checked_in = false;
	int have_ci = mp_map_get(s, "checked_in") != NULL;
	char principal[256], path[1100];

	if (s->type != MSGPACK_OBJECT_MAP)
		return;
	mp_get_bool(s, "checked_in", MP_OPTIONAL, &checked_in, NULL, 0);
	field_str(s, "principal", principal, sizeof principal);
	if (locks != NULL && locks->type != MSGPACK_OBJECT_ARRAY)
		locks = NULL;
	if (lc->json) {
		json_obj_begin(j);
		json_kv_uint(j, "session", field_uint(s, "session"));
		json_kv_str(j, "principal", principal);
		json_kv_uint(j, "lease_ms", lease);
		if (have_ci)
			json_kv_bool(j, "checked_in", checked_in);
		json_kv_uint(j, "handles", field_uint(s, "handles"));
		json_key(j, "locks");
		json_arr_begin(j);
	} else {
		printf("%-20llu %-20s %7.1fs %7llu  ", (unsigned long long)field_uint(s, "session"),
		    principal[0] != '\0' ? principal : "-", (double)lease / 1000.0,
		    (unsigned long long)field_uint(s, "handles"));
	}
	for (uint32_t k = 0; locks != NULL && k < locks->via.array.size; k++) {
		uint64_t mode;

		if (lock_entry(&locks->via.array.ptr[k], path, sizeof path, &mode) != 0)
			continue;
		if (lc->json) {
			json_obj_begin(j);
			json_kv_str(j, "path", path);
			if (mode != 0)
				json_kv_str(j, "mode", lockctl_mode_name((int)mode));
			json_obj_end(j);
		} else {
			printf("%s%s%s%s", k > 0 ? ", " : "", path,
			    mode == CHUBBY_LOCK_SHARED ? " (shared)" : "",
			    mode == CHUBBY_LOCK_EXCLUSIVE ? " (exclusive)" : "");
		}
	}
	if (lc->json) {
		json_arr_end(j);
		json_obj_end(j);
	} else {
		printf("%s\n", locks == NULL || locks->via.array.size == 0 ? "-" : "");
	}
}

/* One held lock: path, mode, holding session and handle, waiters. */
static void
lock_row(struct lockctl *lc, struct json *j, const msgpack_object *l)
{
	const msgpack_object *holders = mp_map_get(l, "holders");
	uint64_t mode = 0;
	char path[1100];

	if (lock_entry(l, path, sizeof path, &mode) != 0)
		return;
	if (holders != NULL && holders->type != MSGPACK_OBJECT_ARRAY)
		holders = NULL;
	if (lc->json) {
		json_obj_begin(j);
		json_kv_str(j, "path", path);
		json_kv_str(j, "mode", lockctl_mode_name((int)mode));
		/* chubbyd sends one entry per holding handle; a server after
		 * PROTOCOL.md's first table a holders list. */
		if (mp_map_get(l, "session") != NULL)
			json_kv_uint(j, "session", field_uint(l, "session"));
		if (mp_map_get(l, "handle") != NULL)
			json_kv_uint(j, "handle", field_uint(l, "handle"));
		if (mp_map_get(l, "lock_gen") != NULL)
			json_kv_uint(j, "generation", field_uint(l, "lock_gen"));
		if (holders != NULL) {
			json_key(j, "holders");
			json_arr_begin(j);
			for (uint32_t k = 0; k < holders->via.array.size; k++) {
				uint64_t v = 0;
				mp_val_uint(&holders->via.array.ptr[k], "holder", &v, NULL, 0);
				json_uint(j, v);
			}
			json_arr_end(j);
		}
		json_kv_uint(j, "waiters", field_uint(l, "waiters"));
		json_obj_end(j);
	} else {
		char sess[32] = "-", handle[32] = "-";

		if (mp_map_get(l, "session") != NULL)
			snprintf(sess, sizeof sess, "%llu",
			    (unsigned long long)field_uint(l, "session"));
		else if (holders != NULL)
			snprintf(sess, sizeof sess, "%u holder%s", holders->via.array.size,
			    holders->via.array.size == 1 ? "" : "s");
		if (mp_map_get(l, "handle") != NULL)
			snprintf(handle, sizeof handle, "%llu",
			    (unsigned long long)field_uint(l, "handle"));
		printf("%-40s %-9s %-20s %8s %7llu\n", path, lockctl_mode_name((int)mode), sess,
		    handle, (unsigned long long)field_uint(l, "waiters"));
	}
}

/* A listing: the header (or the JSON object's start), every page's
 * entries, then the count in JSON. */
static int
admin2_cmd(struct lockctl *lc, uint32_t op, const char *key, const char *header,
    admin2_entry_fn fn)
{
	struct json j;
	uint64_t count;
	int rc;

	json_init(&j);
	if (lc->json) {
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_key(&j, key);
		json_arr_begin(&j);
	} else {
		/* Rows follow page by page: a long listing starts at once. */
		printf("%s\n", header);
	}
	if ((rc = admin2_list(lc, op, &j, fn, &count)) != 0) {
		json_free(&j);
		return rc;
	}
	if (lc->json) {
		json_arr_end(&j);
		json_kv_uint(&j, "count", count);
		json_obj_end(&j);
		printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
	}
	json_free(&j);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

/* sessions: id, principal, lease left, handles and locks of each session. */
int
cmd_sessions(struct lockctl *lc, int argc, char **argv)
{
	char header[128];

	(void)argc;
	(void)argv;
	snprintf(header, sizeof header, "%-20s %-20s %8s %7s  %s", "SESSION", "PRINCIPAL", "LEASE",
	    "HANDLES", "LOCKS");
	return admin2_cmd(lc, PROTO_OP_SESSIONS, "sessions", header, session_entry);
}

/* locks: every held lock: path, mode, holding session and handle, waiters. */
int
cmd_locks(struct lockctl *lc, int argc, char **argv)
{
	char header[128];

	(void)argc;
	(void)argv;
	snprintf(header, sizeof header, "%-40s %-9s %-20s %8s %7s", "PATH", "MODE", "SESSION",
	    "HANDLE", "WAITERS");
	return admin2_cmd(lc, PROTO_OP_LOCKS, "locks", header, lock_row);
}
