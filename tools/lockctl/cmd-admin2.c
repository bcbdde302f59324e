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

/* Asks the master for OP; on success *M holds the answer (free it with
 * wire_msg_free) and its result is an array.  Prints the error and returns
 * the exit code otherwise. */
static int
admin2_call(struct lockctl *lc, uint32_t op, struct wire_msg *m)
{
	struct aclient *ac;
	char err[512];
	int rc;

	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = aclient_call(ac, op, NULL, 0, m, err, sizeof err);
		aclient_close(ac);
	}
	if (rc != CHUBBY_OK)
		return lockctl_error(lc, lockctl_reach_exit(rc), rc, "%s", err);
	if (m->res.status != CHUBBY_OK) {
		/* Mastership moved between WHERE_IS_MASTER and the request. */
		rc = m->res.status;
		snprintf(err, sizeof err, "%.*s", (int)m->res.message.len,
		    m->res.message.ptr != NULL ? m->res.message.ptr : "");
		wire_msg_free(m);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "%s: %s", proto_op_name(op),
		    err[0] != '\0' ? err : chubby_strerror(rc));
	}
	if (m->res.result == NULL || m->res.result->type != MSGPACK_OBJECT_ARRAY) {
		wire_msg_free(m);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_MALFORMED,
		    "%s: the master's answer is not a list", proto_op_name(op));
	}
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

/* sessions: id, principal, lease left, handles and locks of each session. */
int
cmd_sessions(struct lockctl *lc, int argc, char **argv)
{
	struct wire_msg m;
	struct json j;
	const msgpack_object_array *a;
	char principal[256], path[1100];
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = admin2_call(lc, PROTO_OP_SESSIONS, &m)) != 0)
		return rc;
	a = &m.res.result->via.array;
	json_init(&j);
	if (lc->json) {
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_key(&j, "sessions");
		json_arr_begin(&j);
	} else {
		printf("%-20s %-20s %8s %7s  %s\n", "SESSION", "PRINCIPAL", "LEASE", "HANDLES",
		    "LOCKS");
	}
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *s = &a->ptr[i], *locks = mp_map_get(s, "locks");
		uint64_t lease = field_uint(s, "lease_ms");
		bool checked_in = false;
		int have_ci = mp_map_get(s, "checked_in") != NULL;

		if (s->type != MSGPACK_OBJECT_MAP)
			continue;
		mp_get_bool(s, "checked_in", MP_OPTIONAL, &checked_in, NULL, 0);
		field_str(s, "principal", principal, sizeof principal);
		if (locks != NULL && locks->type != MSGPACK_OBJECT_ARRAY)
			locks = NULL;
		if (lc->json) {
			json_obj_begin(&j);
			json_kv_uint(&j, "session", field_uint(s, "session"));
			json_kv_str(&j, "principal", principal);
			json_kv_uint(&j, "lease_ms", lease);
			if (have_ci)
				json_kv_bool(&j, "checked_in", checked_in);
			json_kv_uint(&j, "handles", field_uint(s, "handles"));
			json_key(&j, "locks");
			json_arr_begin(&j);
		} else {
			printf("%-20llu %-20s %7.1fs %7llu  ",
			    (unsigned long long)field_uint(s, "session"),
			    principal[0] != '\0' ? principal : "-", (double)lease / 1000.0,
			    (unsigned long long)field_uint(s, "handles"));
		}
		for (uint32_t k = 0; locks != NULL && k < locks->via.array.size; k++) {
			uint64_t mode;

			if (lock_entry(&locks->via.array.ptr[k], path, sizeof path, &mode) != 0)
				continue;
			if (lc->json) {
				json_obj_begin(&j);
				json_kv_str(&j, "path", path);
				if (mode != 0)
					json_kv_str(&j, "mode", lockctl_mode_name((int)mode));
				json_obj_end(&j);
			} else {
				printf("%s%s%s%s", k > 0 ? ", " : "", path,
				    mode == CHUBBY_LOCK_SHARED ? " (shared)" : "",
				    mode == CHUBBY_LOCK_EXCLUSIVE ? " (exclusive)" : "");
			}
		}
		if (lc->json) {
			json_arr_end(&j);
			json_obj_end(&j);
		} else {
			printf("%s\n", locks == NULL || locks->via.array.size == 0 ? "-" : "");
		}
	}
	if (lc->json) {
		json_arr_end(&j);
		json_kv_uint(&j, "count", a->size);
		json_obj_end(&j);
		printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
	}
	json_free(&j);
	wire_msg_free(&m);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

/* locks: every held lock: path, mode, holding session and handle, waiters. */
int
cmd_locks(struct lockctl *lc, int argc, char **argv)
{
	struct wire_msg m;
	struct json j;
	const msgpack_object_array *a;
	char path[1100];
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = admin2_call(lc, PROTO_OP_LOCKS, &m)) != 0)
		return rc;
	a = &m.res.result->via.array;
	json_init(&j);
	if (lc->json) {
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_key(&j, "locks");
		json_arr_begin(&j);
	} else {
		printf("%-40s %-9s %-20s %8s %7s\n", "PATH", "MODE", "SESSION", "HANDLE",
		    "WAITERS");
	}
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *l = &a->ptr[i], *holders = mp_map_get(l, "holders");
		uint64_t mode = 0;

		if (lock_entry(l, path, sizeof path, &mode) != 0)
			continue;
		if (holders != NULL && holders->type != MSGPACK_OBJECT_ARRAY)
			holders = NULL;
		if (lc->json) {
			json_obj_begin(&j);
			json_kv_str(&j, "path", path);
			json_kv_str(&j, "mode", lockctl_mode_name((int)mode));
			/* chubbyd sends one entry per holding handle; a server
			 * after PROTOCOL.md's table a holders list. */
			if (mp_map_get(l, "session") != NULL)
				json_kv_uint(&j, "session", field_uint(l, "session"));
			if (mp_map_get(l, "handle") != NULL)
				json_kv_uint(&j, "handle", field_uint(l, "handle"));
			if (mp_map_get(l, "lock_gen") != NULL)
				json_kv_uint(&j, "generation", field_uint(l, "lock_gen"));
			if (holders != NULL) {
				json_key(&j, "holders");
				json_arr_begin(&j);
				for (uint32_t k = 0; k < holders->via.array.size; k++) {
					uint64_t v = 0;
					mp_val_uint(&holders->via.array.ptr[k], "holder", &v, NULL, 0);
					json_uint(&j, v);
				}
				json_arr_end(&j);
			}
			json_kv_uint(&j, "waiters", field_uint(l, "waiters"));
			json_obj_end(&j);
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
			printf("%-40s %-9s %-20s %8s %7llu\n", path, lockctl_mode_name((int)mode),
			    sess, handle, (unsigned long long)field_uint(l, "waiters"));
		}
	}
	if (lc->json) {
		json_arr_end(&j);
		json_kv_uint(&j, "count", a->size);
		json_obj_end(&j);
		printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
	}
	json_free(&j);
	wire_msg_free(&m);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}
