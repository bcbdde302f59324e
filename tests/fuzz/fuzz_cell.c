/* fuzz_cell.c: libFuzzer target for the applied state (server/cell): the
 * input is applied as a log entry to two states alike, which must agree,
 * and offered as a snapshot to restore and as a backup to check.  A
 * snapshot that is accepted must snapshot and restore to the same state and
 * the same bytes (replicas must agree on it). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <chubby/chubby.h>

#include "cell/cell.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
params(struct cell_params *p)
{
	memset(p, 0, sizeof *p);
	p->ns.cell = "fuzz";
	p->ns.superuser = "root";
	p->checksum_interval = 2;
}

/* Some state for the input to act on: a session, a moved member, slots 1..3. */
static struct cell *
with_state(const struct cell_params *p)
{
	struct cell *c = cell_new(p);
	struct cell_hdr h = {.stamp_ms = 1000, .proposer = 1, .epoch = 0x101, .seq = 1};
	msgpack_sbuffer sb;
	uint8_t *cmd;
	size_t len;
	char why[256];

	if (c == NULL)
		abort();
	msgpack_sbuffer_init(&sb);
	if (ns_encode_session_start(1000, "alice", &cmd, &len) != CHUBBY_OK)
		abort();
	cell_cmd_ns(&sb, &h, cmd, len);
	free(cmd);
	cell_apply(c, 1, (const uint8_t *)sb.data, sb.size, why, sizeof why);
	cell_end_slot(c, 1);
	msgpack_sbuffer_clear(&sb);
	cell_cmd_member(&sb, &h, 2, "a:1", "a:2", "a:3");
	cell_apply(c, 2, (const uint8_t *)sb.data, sb.size, why, sizeof why);
	cell_end_slot(c, 2);
	msgpack_sbuffer_clear(&sb);
	cell_cmd_noop(&sb, &h);
	cell_apply(c, 3, (const uint8_t *)sb.data, sb.size, why, sizeof why);
	cell_end_slot(c, 3);
	msgpack_sbuffer_destroy(&sb);
	return c;
}

/* Snapshot A, restore it into a fresh state: the same state, the same bytes. */
static void
roundtrip(const struct cell_params *p, const struct cell *a)
{
	struct cell *b = cell_new(p);
	uint8_t *s1, *s2;
	size_t l1, l2;
	char why[256];

	if (cell_snapshot(a, CELL_SNAP_REPLICA, &s1, &l1) != CHUBBY_OK)
		abort();
	if (cell_restore(b, cell_applied_index(a), s1, l1, why, sizeof why) != CHUBBY_OK ||
	    cell_digest(b) != cell_digest(a) || cell_ncommands(b) != cell_ncommands(a) ||
	    cell_last_stamp(b) != cell_last_stamp(a) ||
	    ns_digest(cell_ns(b)) != ns_digest(cell_ns(a)))
		abort();
	if (cell_snapshot(b, CELL_SNAP_REPLICA, &s2, &l2) != CHUBBY_OK || l1 != l2 ||
	    memcmp(s1, s2, l1) != 0)
		abort();
	free(s1);
	free(s2);
	cell_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cell_params p;
	struct cell *a, *b, *fresh;
	char why[256];
	int ra, rb;

	params(&p);
	a = with_state(&p);
	b = with_state(&p);
	/* As a log entry: both apply it alike, whatever it holds. */
	ra = cell_apply(a, 4, data, size, why, sizeof why);
	cell_end_slot(a, 4);
	rb = cell_apply(b, 4, data, size, why, sizeof why);
	cell_end_slot(b, 4);
	if (ra != rb || cell_digest(a) != cell_digest(b) || cell_diverged(a) != cell_diverged(b) ||
	    ns_digest(cell_ns(a)) != ns_digest(cell_ns(b)))
		abort();
	roundtrip(&p, a);
	/* As a snapshot: refused with a reason, or a state that round-trips. */
	fresh = cell_new(&p);
	why[0] = '\0';
	if (cell_restore(fresh, 7, data, size, why, sizeof why) == CHUBBY_OK)
		roundtrip(&p, fresh);
	else if (why[0] == '\0' || !cell_diverged(fresh))
		abort();
	cell_check_backup(&p, data, size, 7, why, sizeof why);
	cell_free(fresh);
	cell_free(a);
	cell_free(b);
	return 0;
}
