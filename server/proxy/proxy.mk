## server/proxy/: chubby-proxy (docs/PROXY.md).

# The pure core: client sessions, handles, cache, invalidation relay.
check_PROGRAMS += tests/unit/test_pxcore
tests_unit_test_pxcore_SOURCES = tests/unit/test_pxcore.c \
	server/proxy/pxcore.c server/proxy/pxcore.h $(TEST_HARNESS)
tests_unit_test_pxcore_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_pxcore_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_pxcore_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_pxcore
