/*
 * cmd-members.c: lockctl members: the cell's members and their addresses,
 * and "members replace ID --client A --peer B --status C", which moves a
 * dead replica's id to a fresh machine through the log (op MEMBERS 69,
 * docs/OPERATIONS.md "Replacing a replica").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "json.h"
#include "lockctl.h"
#include "mp.h"
#include "protocol.h"

static int
members_fail(struct lockctl *lc, int rc, const char *err)
{
	return lockctl_error(lc, lockctl_reach_exit(rc), rc, "%s", err);
}

static int
members_list(struct lockctl *lc)
{
	struct aclient *ac;
	struct wire_msg m;
	struct json j;
	char err[512];
	int rc;

	rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = aclient_call(ac, PROTO_OP_MEMBERS, NULL, 0, &m, err, sizeof err);
		aclient_close(ac);
	}
	if (rc != CHUBBY_OK)
		return members_fail(lc, rc, err);
	if (m.res.status != CHUBBY_OK || m.res.result == NULL ||
	    m.res.result->type != MSGPACK_OBJECT_ARRAY) {
		rc = m.res.status != CHUBBY_OK ? m.res.status : CHUBBY_E_MALFORMED;
		wire_msg_free(&m);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "members: %s", chubby_strerror(rc));
	}
	json_init(&j);
	if (lc->json) {
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_key(&j, "members");
		json_arr_begin(&j);
	} else {
		printf("%-4s %-24s %-24s %s\n", "ID", "CLIENT", "PEER", "STATUS");
	}
	for (uint32_t i = 0; i < m.res.result->via.array.size; i++) {
		const msgpack_object *o = &m.res.result->via.array.ptr[i];
		struct mp_str c = {NULL, 0}, p = {NULL, 0}, s = {NULL, 0};
		uint64_t id = 0;

		mp_get_uint(o, "id", MP_OPTIONAL, &id, NULL, 0);
		mp_get_str(o, "client", MP_OPTIONAL, &c, NULL, 0);
		mp_get_str(o, "peer", MP_OPTIONAL, &p, NULL, 0);
		mp_get_str(o, "status", MP_OPTIONAL, &s, NULL, 0);
		if (lc->json) {
			char cb[300], pb[300], sb[300];
			snprintf(cb, sizeof cb, "%.*s", (int)c.len, c.ptr ? c.ptr : "");
			snprintf(pb, sizeof pb, "%.*s", (int)p.len, p.ptr ? p.ptr : "");
			snprintf(sb, sizeof sb, "%.*s", (int)s.len, s.ptr ? s.ptr : "");
			json_obj_begin(&j);
			json_kv_uint(&j, "id", id);
			json_kv_str(&j, "client", cb);
			json_kv_str(&j, "peer", pb);
			json_kv_str(&j, "status", sb);
			json_obj_end(&j);
		} else {
			printf("%-4llu %-24.*s %-24.*s %.*s\n", (unsigned long long)id, (int)c.len,
			    c.ptr ? c.ptr : "", (int)p.len, p.ptr ? p.ptr : "", (int)s.len,
			    s.ptr ? s.ptr : "");
		}
	}
	if (lc->json) {
		json_arr_end(&j);
		json_obj_end(&j);
		printf("%s\n", json_text(&j) ? json_text(&j) : "{\"ok\":false}");
	}
	json_free(&j);
	wire_msg_free(&m);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

static int
members_replace(struct lockctl *lc, int argc, char **argv)
{
	const char *addr[3] = {NULL, NULL, NULL};
	static const char *const opt[3] = {"--client", "--peer", "--status"};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct aclient *ac;
	struct wire_msg m;
	char err[512], *end;
	unsigned long id;
	int rc;

	if (argc < 1)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members replace ID --client A --peer B --status C");
	id = strtoul(argv[0], &end, 10);
	if (*argv[0] == '\0' || *end != '\0' || id == 0 || id > 255)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members replace: \"%s\" is not a replica id (1..255)",
		    argv[0]);
	for (int i = 1; i < argc; i++) {
		int k;
		for (k = 0; k < 3 && strcmp(argv[i], opt[k]) != 0; k++)
			;
		if (k == 3 || i + 1 >= argc)
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members replace: unexpected \"%s\"", argv[i]);
		addr[k] = argv[++i];
	}
	for (int k = 0; k < 3; k++)
		if (addr[k] == NULL)
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members replace: %s HOST:PORT is missing", opt[k]);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	mp_pack_kv_uint(&pk, "replace", id);
	mp_pack_kv_str(&pk, "client", addr[0]);
	mp_pack_kv_str(&pk, "peer", addr[1]);
	mp_pack_kv_str(&pk, "status", addr[2]);
	rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = aclient_call(ac, PROTO_OP_MEMBERS, sb.data, sb.size, &m, err, sizeof err);
		aclient_close(ac);
	}
	msgpack_sbuffer_destroy(&sb);
	if (rc != CHUBBY_OK)
		return members_fail(lc, rc, err);
	if (m.res.status != CHUBBY_OK) {
		rc = m.res.status;
		snprintf(err, sizeof err, "%.*s", (int)m.res.message.len,
		    m.res.message.ptr != NULL ? m.res.message.ptr : chubby_strerror(rc));
		wire_msg_free(&m);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "members replace: %s", err);
	}
	wire_msg_free(&m);
	if (lc->json)
		printf("{\"ok\":true,\"id\":%lu,\"client\":\"%s\",\"peer\":\"%s\",\"status\":\"%s\"}\n",
		    id, addr[0], addr[1], addr[2]);
	else
		printf("replica %lu now at client %s, peer %s, status %s (through the log)\n", id,
		    addr[0], addr[1], addr[2]);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

/* members [replace ID --client A --peer B --status C] */
int
cmd_members(struct lockctl *lc, int argc, char **argv)
{
	int rc;

	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	if (argc == 0)
		return members_list(lc);
	if (strcmp(argv[0], "replace") == 0)
		return members_replace(lc, argc - 1, argv + 1);
	return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members: unknown subcommand \"%s\"", argv[0]);
}
