/* fuzz_ns.c: libFuzzer target for the namespace state machine: the input is
 * applied as a log entry to a namespace with some state, and offered as a
 * snapshot to restore.  Whatever is accepted must snapshot and restore to an
 * equal digest (replicas must agree on it). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <chubby/chubby.h>

#include "ns/ns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
apply_owned(struct ns *ns, uint8_t *cmd, size_t len)
{
	struct ns_result res;

	ns_result_init(&res);
	ns_apply(ns, cmd, len, &res);
	ns_result_free(&res);
	free(cmd);
}

/* Snapshot A, restore it into a fresh namespace, and insist on equal digests. */
static void
roundtrip(const struct ns_config *cfg, const struct ns *a)
{
	struct ns *b = ns_new(cfg);
	uint8_t *snap;
	size_t len;
	char err[256];

	if (ns_snapshot(a, &snap, &len) != CHUBBY_OK)
		abort();
	if (ns_restore(b, snap, len, err, sizeof err) != CHUBBY_OK || ns_digest(a) != ns_digest(b))
		abort();
	free(snap);
	ns_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_config cfg;
	struct ns *ns, *fresh;
	struct ns_result res;
	uint8_t *cmd;
	size_t len;
	uint64_t before;
	char err[256];

	memset(&cfg, 0, sizeof cfg);
	cfg.cell = "fuzz";
	cfg.superuser = "root";
	ns = ns_new(&cfg);
	/* Some state for the input to act on: a session, a file with a lock, a
	 * request record. */
	if (ns_encode_session_start(1000, "alice", &cmd, &len) == CHUBBY_OK)
		apply_owned(ns, cmd, len);
	if (ns_encode_open(1001, 1, "/ls/fuzz/a", NS_O_READ | NS_O_WRITE | NS_O_CREATE, UINT64_MAX,
		0xffff, "hello", 5, NULL, &cmd, &len) == CHUBBY_OK)
		apply_owned(ns, cmd, len);
	if (ns_encode_acquire(1002, 1, 1, NS_LOCK_EXCLUSIVE, &cmd, &len) == CHUBBY_OK)
		apply_owned(ns, cmd, len);
	/* A request with an id (2), so that copies of it and its floor are reachable. */
	if (ns_encode_set_contents(1003, 1, 1, "v", 1, true, 0, &cmd, &len) == CHUBBY_OK) {
		uint8_t *req;
		size_t rlen;

		if (ns_encode_req(1003, 1, 2, 1, cmd, len, &req, &rlen) == CHUBBY_OK)
			apply_owned(ns, req, rlen);
		free(cmd);
	}

	/* The input as a log entry: refused ones change nothing. */
	before = ns_digest(ns);
	ns_result_init(&res);
	if (ns_apply(ns, data, size, &res) != CHUBBY_OK && ns_digest(ns) != before)
		abort();
	ns_result_free(&res);
	roundtrip(&cfg, ns);

	/* The input as a snapshot (it arrives over the network). */
	fresh = ns_new(&cfg);
	if (ns_restore(fresh, data, size, err, sizeof err) == CHUBBY_OK)
		roundtrip(&cfg, fresh);
	ns_free(fresh);
	ns_free(ns);
	return 0;
}
