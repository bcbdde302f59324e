/* test_frame.c: the length header: round trips, truncation, limits. */
#include "config.h"

#include <string.h>

#include <chubby/chubby.h>

#include "frame.h"
#include "harness.h"

static void
test_roundtrip(void)
{
	static const uint32_t lens[] = {1, 2, 127, 255, 256, 65535, 65536, 1u << 20, 0x01020304,
	    UINT32_MAX};
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t got;

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		frame_header_put(hdr, lens[i]);
		got = 0;
		CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, UINT32_MAX, &got), CHUBBY_OK);
		CU_ASSERT_EQUAL(got, lens[i]);
	}
}

static void
test_big_endian(void)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04};
	static const uint8_t in[] = {0x00, 0x00, 0x01, 0x00};
	size_t got = 0;

	frame_header_put(hdr, 0x01020304);
	CU_ASSERT_EQUAL(memcmp(hdr, want, sizeof want), 0);
	CU_ASSERT_EQUAL(frame_header_parse(in, sizeof in, FRAME_MAX_DEFAULT, &got), CHUBBY_OK);
	CU_ASSERT_EQUAL(got, 256);
}

static void
test_truncated(void)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t got = 12345;

	frame_header_put(hdr, 10);
	for (size_t avail = 0; avail < FRAME_HEADER_LEN; avail++)
		CU_ASSERT_EQUAL(frame_header_parse(hdr, avail, FRAME_MAX_DEFAULT, &got),
		    CHUBBY_E_TRUNCATED);
	/* Nothing written on failure. */
	CU_ASSERT_EQUAL(got, 12345);
	/* More bytes than the header (the body behind it) are fine. */
	{
		uint8_t buf[16] = {0, 0, 0, 3, 0x93, 1, 2};

		CU_ASSERT_EQUAL(frame_header_parse(buf, sizeof buf, FRAME_MAX_DEFAULT, &got),
		    CHUBBY_OK);
		CU_ASSERT_EQUAL(got, 3);
	}
}

static void
test_zero_length(void)
{
	static const uint8_t zero[] = {0, 0, 0, 0};
	size_t got = 7;

	CU_ASSERT_EQUAL(frame_header_parse(zero, sizeof zero, FRAME_MAX_DEFAULT, &got),
	    CHUBBY_E_MALFORMED);
	CU_ASSERT_EQUAL(got, 7);
}

static void
test_limit(void)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t got = 0;

	frame_header_put(hdr, FRAME_MAX_DEFAULT);
	CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, FRAME_MAX_DEFAULT, &got), CHUBBY_OK);
	CU_ASSERT_EQUAL(got, FRAME_MAX_DEFAULT);
	frame_header_put(hdr, FRAME_MAX_DEFAULT + 1);
	CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, FRAME_MAX_DEFAULT, &got),
	    CHUBBY_E_FRAME_TOO_BIG);
	frame_header_put(hdr, UINT32_MAX);
	CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, FRAME_MAX_DEFAULT, &got),
	    CHUBBY_E_FRAME_TOO_BIG);
	frame_header_put(hdr, 2);
	CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, 1, &got), CHUBBY_E_FRAME_TOO_BIG);
	CU_ASSERT_EQUAL(frame_header_parse(hdr, sizeof hdr, 0, &got), CHUBBY_E_FRAME_TOO_BIG);
	/* Too big is decided from the header alone, before the body arrives. */
	CU_ASSERT_EQUAL(frame_header_parse(hdr, FRAME_HEADER_LEN, 1, &got),
	    CHUBBY_E_FRAME_TOO_BIG);
}

/* Every 4-byte header either parses to its own value or is refused with
 * one of the three documented codes; sampled with the run's seed. */
static void
test_random_headers(void)
{
	uint64_t x = harness_seed() | 1;
	size_t got;
	int rc;

	for (int i = 0; i < 100000; i++) {
		uint8_t hdr[FRAME_HEADER_LEN];
		uint32_t v;
		size_t avail, max;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = (uint32_t)(x >> 32);
		if (i % 3 == 0)
			v &= 0x1fffff; /* near the default limit */
		frame_header_put(hdr, v);
		avail = (size_t)(x & 7) % (FRAME_HEADER_LEN + 1);
		max = (x >> 8 & 1) ? FRAME_MAX_DEFAULT : (size_t)(x >> 9 & 0xfffff);
		got = 0;
		rc = frame_header_parse(hdr, avail, max, &got);
		/* CUnit's assertions are not single statements: braces. */
		if (avail < FRAME_HEADER_LEN) {
			CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_E_TRUNCATED);
		} else if (v == 0) {
			CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_E_MALFORMED);
		} else if (v > max) {
			CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_E_FRAME_TOO_BIG);
		} else {
			CU_ASSERT_EQUAL_FATAL(rc, CHUBBY_OK);
			CU_ASSERT_EQUAL_FATAL(got, v);
		}
	}
}

void
harness_register(void)
{
	static const struct harness_test tests[] = {
	    {"round trip", test_roundtrip},
	    {"big-endian", test_big_endian},
	    {"truncated header", test_truncated},
	    {"zero length", test_zero_length},
	    {"size limit", test_limit},
	    {"random headers", test_random_headers},
	    {NULL, NULL},
	};
	harness_suite("frame", NULL, NULL, tests);
}
