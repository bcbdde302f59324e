/* cmd-admin.c: lockctl master and sync: where the master is, and barriers through the log. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <chubby/chubby.h>

#include "aclient.h"
#include "json.h"
#include "lockctl.h"
#include "mp.h"
#include "protocol.h"

static int
admin_unreachable(struct lockctl *lc, int rc, const char *err)
{
	return lockctl_error(lc, lockctl_reach_exit(rc), rc, "%s", err);
}

/*
 * master handoff [ID]: ask the master to hand mastership to replica ID (or
 * the follower furthest along).  It answers at once with the replica it
 * chose; the new master serves about a lease later (lockctl status shows
 * it), and clients see one fail-over.
 */
static int
master_handoff(struct lockctl *lc, int argc, char **argv)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct aclient *ac;
	struct wire_msg m;
	char err[512], *end;
	unsigned long id = 0;
	uint64_t target = 0;
	int rc;

	if (argc > 1)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "usage: lockctl master handoff [ID]");
	if (argc == 1) {
		id = strtoul(argv[0], &end, 10);
		if (*argv[0] == '\0' || *end != '\0' || id == 0 || id > 255)
			return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "master handoff: \"%s\" is not a replica id (1..255)", argv[0]);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_pack_kv_uint(&pk, "id", id);
	rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err);
	if (rc == CHUBBY_OK) {
		rc = aclient_call(ac, PROTO_OP_MASTER_HANDOFF, sb.data, sb.size, &m, err, sizeof err);
		aclient_close(ac);
	}
	msgpack_sbuffer_destroy(&sb);
	if (rc != CHUBBY_OK)
		return admin_unreachable(lc, rc, err);
	if (m.res.status != CHUBBY_OK) {
		rc = m.res.status;
		snprintf(err, sizeof err, "%.*s", (int)m.res.message.len,
		    m.res.message.ptr != NULL ? m.res.message.ptr : chubby_strerror(rc));
		wire_msg_free(&m);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc, "master handoff: %s", err);
	}
	mp_get_uint(m.res.result, "target", MP_OPTIONAL, &target, err, sizeof err);
	wire_msg_free(&m);
	if (lc->json)
		printf("{\"ok\":true,\"target\":%llu}\n", (unsigned long long)target);
	else
		printf("handing mastership to replica %llu (it takes over about a lease from "
		       "now)\n", (unsigned long long)target);
	fflush(stdout);
	return LOCKCTL_EXIT_OK;
}

int
cmd_master(struct lockctl *lc, int argc, char **argv)
{
	struct aclient *ac;
	struct wire_msg m;
	char err[512];
	uint64_t id = 0, epoch = 0;
	struct mp_str addr = {NULL, 0};
	int rc;

	if (lockctl_need_cell(lc) != 0)
		return LOCKCTL_EXIT_USAGE;
	if (argc > 0 && strcmp(argv[0], "handoff") == 0)
		return master_handoff(lc, argc - 1, argv + 1);
	if (argc > 0)
		return lockctl_fail(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
		    "master: unknown subcommand \"%s\"", argv[0]);
	if ((rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err)) != CHUBBY_OK)
		return admin_unreachable(lc, rc, err);
	if ((rc = aclient_call(ac, PROTO_OP_WHERE_IS_MASTER, NULL, 0, &m, err, sizeof err)) !=
	    CHUBBY_OK) {
		aclient_close(ac);
		return admin_unreachable(lc, rc, err);
	}
	mp_get_uint(m.res.result, "master", MP_OPTIONAL, &id, err, sizeof err);
	mp_get_uint(m.res.result, "epoch", MP_OPTIONAL, &epoch, err, sizeof err);
	mp_get_str(m.res.result, "address", MP_OPTIONAL, &addr, err, sizeof err);
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", 1);
		json_kv_uint(&j, "master", id);
		json_key(&j, "address");
		json_strn(&j, addr.ptr ? addr.ptr : "", addr.len);
		json_kv_uint(&j, "epoch", epoch);
		json_obj_end(&j);
		printf("%s\n", json_text(&j));
		json_free(&j);
	} else {
		printf("master: replica %llu at %.*s, epoch %llu\n", (unsigned long long)id,
		    (int)addr.len, addr.ptr ? addr.ptr : "", (unsigned long long)epoch);
	}
	wire_msg_free(&m);
	aclient_close(ac);
	return LOCKCTL_EXIT_OK;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* sync [-n COUNT] [-w WINDOW]: COUNT barriers through the log, WINDOW at once. */
int
cmd_sync(struct lockctl *lc, int argc, char **argv)
{
	unsigned long n = 1, window = 1;
	struct aclient *ac;
	char err[512], *end;
	double *lat, t0, elapsed;
	unsigned ok = 0;
	int rc;

	for (int i = 0; i < argc; i++) {
		unsigned long *dst = strcmp(argv[i], "-n") == 0 ? &n
				     : strcmp(argv[i], "-w") == 0 ? &window
								  : NULL;
		if (dst == NULL || i + 1 == argc)
			return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "usage: lockctl sync [-n COUNT] [-w WINDOW]");
		*dst = strtoul(argv[++i], &end, 10);
		if (*end != '\0' || *dst < 1 || *dst > 10000000)
			return lockctl_error(lc, LOCKCTL_EXIT_USAGE, CHUBBY_E_INVALID,
			    "sync: %s must be from 1 to 10000000", argv[i - 1]);
	}
	if (lockctl_need_cell(lc) != 0)
		return LOCKCTL_EXIT_USAGE;
	if ((rc = aclient_open_master(&lc->spec, lc->timeout_ms, &ac, err, sizeof err)) != CHUBBY_OK)
		return admin_unreachable(lc, rc, err);
	lat = calloc(n, sizeof *lat);
	if (lat == NULL) {
		aclient_close(ac);
		return lockctl_error(lc, LOCKCTL_EXIT_FAIL, CHUBBY_E_NOMEM, "out of memory");
	}
	t0 = mono_ms();
	rc = aclient_pipeline(ac, PROTO_OP_SYNC, (unsigned)n, (unsigned)window, &ok, lat, err,
	    sizeof err);
	elapsed = mono_ms() - t0;
	aclient_close(ac);
	if (rc != CHUBBY_OK) {
		free(lat);
		if (ok > 0)
			return lockctl_error(lc, LOCKCTL_EXIT_FAIL, rc,
			    "%u of %lu barriers applied; the first failure: %s", ok, n, err);
		return admin_unreachable(lc, rc, err);
	}
	qsort(lat, n, sizeof *lat, cmp_double);
	double p50 = lat[n / 2], p99 = lat[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1];
	if (lc->json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kv_bool(&j, "ok", ok == n);
		json_kv_uint(&j, "count", n);
		json_kv_uint(&j, "succeeded", ok);
		json_key(&j, "elapsed_ms");
		json_double(&j, elapsed);
		json_key(&j, "ops_per_s");
		json_double(&j, elapsed > 0 ? (double)n * 1000.0 / elapsed : 0);
		json_key(&j, "p50_ms");
		json_double(&j, p50);
		json_key(&j, "p99_ms");
		json_double(&j, p99);
		if (ok != n)
			json_kv_str(&j, "error", "E_UNAVAILABLE");
		json_obj_end(&j);
		printf("%s\n", json_text(&j));
		json_free(&j);
	} else {
		printf("sync: %u of %lu barriers applied in %.1f ms (%.0f/s), latency p50 %.2f ms, "
		       "p99 %.2f ms\n", ok, n, elapsed, elapsed > 0 ? (double)n * 1000.0 / elapsed : 0,
		    p50, p99);
	}
	free(lat);
	return ok == n ? LOCKCTL_EXIT_OK : LOCKCTL_EXIT_FAIL;
}
