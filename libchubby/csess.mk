## libchubby/csess.mk: the client session state machine (a pure core: lease,
## jeopardy, grace period, KeepAlive schedule, master location) and its tests.
libchubby_libchubby_core_la_SOURCES += libchubby/csess.c libchubby/csess.h \
	libchubby/cevids.c libchubby/cevids.h

check_PROGRAMS += tests/unit/test_session
tests_unit_test_session_SOURCES = tests/unit/test_session.c libchubby/csess.c libchubby/csess.h \
	$(TEST_HARNESS)
tests_unit_test_session_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/libchubby
tests_unit_test_session_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_session_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_session

# The client's event dedupe and ev_ack (issue 16), pure too.
check_PROGRAMS += tests/unit/test_cevids
tests_unit_test_cevids_SOURCES = tests/unit/test_cevids.c libchubby/cevids.c libchubby/cevids.h \
	$(TEST_HARNESS)
tests_unit_test_cevids_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/libchubby
tests_unit_test_cevids_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cevids_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_cevids
