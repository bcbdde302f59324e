/*
 * cmd-members.c: lockctl members: the cell's members and their addresses,
 * voters and learners; "members replace ID --client A --peer B --status C",
 * which moves a dead replica's id to a fresh machine through the log
 * (op MEMBERS 69, docs/OPERATIONS.md "Replacing a replica"); "members add
 * [--id] N --client A --peer B --status C" and "members remove N", which
 * grow and shrink the cell one replica at a time ("Growing a cell").
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
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
		printf("%-4s %-8s %-6s %-24s %-24s %s\n", "ID", "ROLE", "LAG", "CLIENT", "PEER",
		    "STATUS");
	}
	for (uint32_t i = 0; i < m.res.result->via.array.size; i++) {
		const msgpack_object *o = &m.res.result->via.array.ptr[i];
		struct mp_str c = {NULL, 0}, p = {NULL, 0}, s = {NULL, 0}, role = {NULL, 0};
		uint64_t id = 0, lag = UINT64_MAX, heard = UINT64_MAX;
		char rb[16], lb[24];

		mp_get_uint(o, "id", MP_OPTIONAL, &id, NULL, 0);
		mp_get_str(o, "client", MP_OPTIONAL, &c, NULL, 0);
		mp_get_str(o, "peer", MP_OPTIONAL, &p, NULL, 0);
		mp_get_str(o, "status", MP_OPTIONAL, &s, NULL, 0);
		/* role: voter, learner, removed (left the configuration while the
		 * answering replica ran) or none (in the address book only); lag:
		 * slots behind the master, when the master has heard from it. */
		mp_get_str(o, "role", MP_OPTIONAL, &role, NULL, 0);
		mp_get_uint(o, "lag", MP_OPTIONAL, &lag, NULL, 0);
		mp_get_uint(o, "heard_ms", MP_OPTIONAL, &heard, NULL, 0);
		snprintf(rb, sizeof rb, "%.*s", (int)role.len, role.ptr ? role.ptr : "");
		if (lag == UINT64_MAX)
			snprintf(lb, sizeof lb, "-");
		else
			snprintf(lb, sizeof lb, "%llu", (unsigned long long)lag);
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
			if (rb[0] != '\0')
				json_kv_str(&j, "role", rb);
			if (lag != UINT64_MAX)
				json_kv_uint(&j, "lag", lag);
			if (heard != UINT64_MAX)
				json_kv_uint(&j, "heard_ms", heard);
			json_obj_end(&j);
		} else {
			printf("%-4llu %-8s %-6s %-24.*s %-24.*s %.*s\n", (unsigned long long)id,
			    rb[0] != '\0' ? rb : "-", lb, (int)c.len,
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

/* members replace|add ID --client A --peer B --status C, members remove ID */
static int
members_change(struct lockctl *lc, const char *verb, int argc, char **argv)
{
	const char *addr[3] = {NULL, NULL, NULL};
	static const char *const opt[3] = {"--client", "--peer", "--status"};
	bool rm = strcmp(verb, "remove") == 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct aclient *ac;
	struct wire_msg m;
	char err[512], *end;
	unsigned long id;
	int rc, first = 0;

	if (argc < 1)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    rm ? "members remove ID" : "members %s ID --client A --peer B --status C",
		    verb);
	/* add takes its id as --id N too (the id of the new replica's certificate). */
	if (strcmp(verb, "add") == 0 && strcmp(argv[0], "--id") == 0 && argc >= 2)
		first = 1;
	id = strtoul(argv[first], &end, 10);
	if (*argv[first] == '\0' || *end != '\0' || id == 0 || id > 255)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "members %s: \"%s\" is not a replica id (1..255)", verb, argv[first]);
	for (int i = first + 1; i < argc; i++) {
		int k;
		for (k = 0; k < 3 && strcmp(argv[i], opt[k]) != 0; k++)
			;
		if (rm || k == 3 || i + 1 >= argc)
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "members %s: unexpected \"%s\"", verb, argv[i]);
		addr[k] = argv[++i];
	}
	for (int k = 0; k < 3 && !rm; k++)
		if (addr[k] == NULL)
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "members %s: %s HOST:PORT is missing", verb, opt[k]);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, rm ? 1 : 4);
	mp_pack_kv_uint(&pk, verb, id);
	if (!rm) {
		mp_pack_kv_str(&pk, "client", addr[0]);
		mp_pack_kv_str(&pk, "peer", addr[1]);
		mp_pack_kv_str(&pk, "status", addr[2]);
	}
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
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "members %s: %s", verb, err);
	}
	wire_msg_free(&m);
	if (lc->json && rm)
		printf("{\"ok\":true,\"removed\":%lu}\n", id);
	else if (lc->json)
		printf("{\"ok\":true,\"%s\":%lu,\"client\":\"%s\",\"peer\":\"%s\",\"status\":\"%s\"}"
		       "\n",
		    strcmp(verb, "add") == 0 ? "added" : "id", id, addr[0], addr[1], addr[2]);
	else if (rm)
		printf("replica %lu removed from the voting configuration (proposed; lockctl "
		       "members shows when it is chosen)\n",
		    id);
	else if (strcmp(verb, "add") == 0)
		printf("replica %lu added as a learner at client %s, peer %s, status %s; it votes "
		       "once caught up (lockctl members)\n",
		    id, addr[0], addr[1], addr[2]);
	else
		printf("replica %lu now at client %s, peer %s, status %s (through the log)\n", id,
		    addr[0], addr[1], addr[2]);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

/* members [replace|add ID --client A --peer B --status C | remove ID] */
int
cmd_members(struct lockctl *lc, int argc, char **argv)
{
	int rc;

	if ((rc = lockctl_need_cell(lc)) != 0)
		return rc;
	if (argc == 0)
		return members_list(lc);
	if (strcmp(argv[0], "replace") == 0 || strcmp(argv[0], "add") == 0 ||
	    strcmp(argv[0], "remove") == 0)
		return members_change(lc, argv[0], argc - 1, argv + 1);
	return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID, "members: unknown subcommand \"%s\"", argv[0]);
}
