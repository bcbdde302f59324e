## common/lease_ctl.mk: the rule of the session lease under load (pure),
## shared by the master's session layer and chubby-proxy; each compiles
## common/lease_ctl.c into itself (server/local.mk, server/proxy/proxy.mk).
check_PROGRAMS += tests/unit/test_lease_ctl
tests_unit_test_lease_ctl_SOURCES = tests/unit/test_lease_ctl.c \
	common/lease_ctl.c common/lease_ctl.h $(TEST_HARNESS)
tests_unit_test_lease_ctl_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_lease_ctl_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_lease_ctl
