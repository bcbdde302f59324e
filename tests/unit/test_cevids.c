/* test_cevids.c: the client's event dedupe and ev_ack (libchubby/cevids.c). */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>

#include "cevids.h"
#include "harness.h"

/* A reply lost and sent again: each id is delivered once, in order, and
 * the ack names the highest delivered. */
static void
test_copies_dropped(void)
{
	struct cevids v;

	cevids_reset(&v);
	CU_ASSERT_EQUAL(cevids_ack(&v, 3), 0);
	CU_ASSERT(cevids_accept(&v, 3, true, 5));
	CU_ASSERT(cevids_accept(&v, 3, true, 6));
	CU_ASSERT_EQUAL(cevids_ack(&v, 3), 6);
	/* The reply with 5 and 6 comes again, then a newer 9. */
	CU_ASSERT(!cevids_accept(&v, 3, true, 5));
	CU_ASSERT(!cevids_accept(&v, 3, true, 6));
	CU_ASSERT(cevids_accept(&v, 3, true, 9));
	CU_ASSERT_EQUAL(cevids_ack(&v, 3), 9);
}

/* A new epoch: the ids start again, and an ack for it never names the old
 * master's ids. */
static void
test_new_epoch(void)
{
	struct cevids v;

	cevids_reset(&v);
	CU_ASSERT(cevids_accept(&v, 3, true, 40));
	CU_ASSERT_EQUAL(cevids_ack(&v, 4), 0);
	CU_ASSERT(cevids_accept(&v, 4, true, 2));
	CU_ASSERT_EQUAL(cevids_ack(&v, 4), 2);
	CU_ASSERT_EQUAL(cevids_ack(&v, 3), 0);
	/* A late reply of epoch 3 does not reset epoch 4's count. */
	CU_ASSERT(cevids_accept(&v, 3, true, 41));
	CU_ASSERT(!cevids_accept(&v, 4, true, 2));
	CU_ASSERT_EQUAL(cevids_ack(&v, 4), 2);
	cevids_reset(&v);
	CU_ASSERT_EQUAL(cevids_ack(&v, 4), 0);
}

/* A master before event ids: everything is delivered, nothing acked. */
static void
test_old_master(void)
{
	struct cevids v;

	cevids_reset(&v);
	CU_ASSERT(cevids_accept(&v, 2, false, 0));
	CU_ASSERT(cevids_accept(&v, 2, false, 0));
	CU_ASSERT_EQUAL(cevids_ack(&v, 2), 0);
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"copies of events sent again are dropped", test_copies_dropped},
	    {"a new epoch starts the ids again", test_new_epoch},
	    {"a master before event ids: no dedupe, no ack", test_old_master},
	    {NULL, NULL},
	};

	harness_suite("cevids", NULL, NULL, tests);
}
