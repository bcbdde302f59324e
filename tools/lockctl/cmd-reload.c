/*
 * cmd-reload.c: lockctl reload: every replica reads its TLS files again
 * (admin op RELOAD 72, superuser only), as SIGHUP does on its own machine.
 * Each replica is asked over its own connection, in turn: a rotated
 * certificate or a new CRL is in force on all of them when this returns.
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

/* Asks the replica at ADDR to reload; CHUBBY_OK with its summary in MSG,
 * else the status with the reason in MSG. */
static int
reload_one(struct lockctl *lc, const char *addr, uint64_t *id, char *msg, size_t msglen)
{
	struct aclient *ac;
	struct wire_msg m;
	struct mp_str s = {NULL, 0};
	char err[512];
	int rc;

	*id = 0;
	if ((rc = aclient_open(&lc->spec, addr, lc->timeout_ms, &ac, msg, msglen)) != CHUBBY_OK)
		return rc;
	rc = aclient_call(ac, PROTO_OP_RELOAD, NULL, 0, &m, msg, msglen);
	aclient_close(ac);
	if (rc != CHUBBY_OK)
		return rc;
	rc = m.res.status;
	if (rc != CHUBBY_OK) {
		snprintf(msg, msglen, "%.*s", (int)m.res.message.len,
		    m.res.message.ptr != NULL ? m.res.message.ptr : chubby_strerror(rc));
	} else {
		mp_get_uint(m.res.result, "id", MP_OPTIONAL, id, err, sizeof err);
		mp_get_str(m.res.result, "message", MP_OPTIONAL, &s, err, sizeof err);
		snprintf(msg, msglen, "%.*s", (int)s.len, s.ptr != NULL ? s.ptr : "reloaded");
	}
	wire_msg_free(&m);
	return rc;
}

int
cmd_reload(struct lockctl *lc, int argc, char **argv)
{
	struct json j;
	char msg[1024];
	int worst = LOCKCTL_EXIT_OK;
	unsigned failed = 0;

	(void)argv;
	if (argc > 0)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "reload takes no arguments");
	if (lockctl_need_cell(lc) != 0)
		return LOCKCTL_EXIT_USAGE;
	json_init(&j);
	json_obj_begin(&j);
	json_key(&j, "replicas");
	json_arr_begin(&j);
	for (size_t i = 0; i < lc->spec.naddrs; i++) {
		const char *addr = lc->spec.addrs[i];
		uint64_t id = 0;
		int rc = reload_one(lc, addr, &id, msg, sizeof msg);

		if (id == 0)
			id = lc->spec.ids[i];
		json_obj_begin(&j);
		json_kv_str(&j, "address", addr);
		json_kv_uint(&j, "id", id);
		json_kv_bool(&j, "ok", rc == CHUBBY_OK);
		if (rc != CHUBBY_OK)
			json_kv_str(&j, "status", chubby_status_name(rc));
		json_kv_str(&j, "message", msg);
		json_obj_end(&j);
		if (rc != CHUBBY_OK) {
			failed++;
			/* A refusal (not the superuser, files that do not load)
			 * outranks an unreachable replica. */
			if (rc == CHUBBY_E_CONN || rc == CHUBBY_E_TIMEOUT || rc == CHUBBY_E_UNAVAILABLE) {
				if (worst == LOCKCTL_EXIT_OK)
					worst = LOCKCTL_EXIT_UNAVAIL;
			} else {
				worst = LOCKCTL_EXIT_FAIL;
			}
		}
		if (!lc->json) {
			if (rc == CHUBBY_OK)
				printf("replica %llu (%s): reloaded: %s\n", (unsigned long long)id, addr,
				    msg);
			else
				fprintf(stderr, "lockctl: replica %llu (%s): %s: %s\n",
				    (unsigned long long)id, addr, chubby_status_name(rc), msg);
		}
	}
	json_arr_end(&j);
	json_kv_bool(&j, "ok", failed == 0);
	json_obj_end(&j);
	if (lc->json)
		printf("%s\n", json_text(&j));
	else if (failed > 0)
		fprintf(stderr, "lockctl: reload: %u of %zu replicas not reloaded\n", failed,
		    lc->spec.naddrs);
	json_free(&j);
	fflush(stdout);
	return worst;
}
