/* test_status.c: the status table: names, messages and stable numbers. */
#include "config.h"

#include <string.h>

#include <chubby/chubby.h>

#include "harness.h"

static void
test_known_codes(void)
{
	CU_ASSERT_STRING_EQUAL(chubby_strerror(CHUBBY_OK), "success");
	CU_ASSERT_STRING_EQUAL(chubby_status_name(CHUBBY_E_NOT_FOUND), "E_NOT_FOUND");
	CU_ASSERT_STRING_EQUAL(chubby_strerror(CHUBBY_E_FRAME_TOO_BIG), "frame larger than the limit");
	/* Wire numbers are part of the protocol: pin a few. */
	CU_ASSERT_EQUAL(CHUBBY_E_NOT_MASTER, 40);
	CU_ASSERT_EQUAL(CHUBBY_E_NOT_FOUND, 60);
}

static void
test_unknown_code(void)
{
	CU_ASSERT_STRING_EQUAL(chubby_strerror(9999), "unknown error");
	CU_ASSERT_STRING_EQUAL(chubby_status_name(-5), "E_UNKNOWN");
	CU_ASSERT_EQUAL(chubby_status_from_name("E_NO_SUCH_THING"), -1);
	CU_ASSERT_EQUAL(chubby_status_from_name(NULL), -1);
}

#define STATUS_ROUNDTRIP(name, num, msg)                                                        \
	CU_ASSERT_EQUAL(chubby_status_from_name(#name), num);                                   \
	CU_ASSERT_STRING_EQUAL(chubby_status_name(num), #name);                                 \
	CU_ASSERT_STRING_EQUAL(chubby_strerror(num), msg);

static void
test_roundtrip_all(void)
{
	CHUBBY_STATUS_LIST(STATUS_ROUNDTRIP)
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"known codes", test_known_codes},
	    {"unknown code", test_unknown_code},
	    {"every code round-trips", test_roundtrip_all},
	    {NULL, NULL},
	};
	harness_suite("status", NULL, NULL, tests);
}
