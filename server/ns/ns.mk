## server/ns/ns.mk: the namespace state machine (pure core: nodes, sessions,
## handles, locks, ACLs, sequencers, events, snapshots) and its unit test.
## Design and encodings: docs/NAMESPACE.md.
noinst_LTLIBRARIES += server/ns/libns.la
server_ns_libns_la_SOURCES = \
	server/ns/ns.c server/ns/ns.h server/ns/ns_int.h \
	server/ns/ns_codec.c server/ns/ns_snap.c server/ns/ns_req.c server/ns/ns_util.c \
	server/ns/ns_stamp.c server/ns/ns_stamp.h
server_ns_libns_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)

check_PROGRAMS += tests/unit/test_ns
tests_unit_test_ns_SOURCES = tests/unit/test_ns.c $(TEST_HARNESS)
tests_unit_test_ns_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_ns_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ns_LDADD = server/ns/libns.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_ns

if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_ns
tests_fuzz_fuzz_ns_SOURCES = tests/fuzz/fuzz_ns.c
tests_fuzz_fuzz_ns_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_fuzz_ns_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
tests_fuzz_fuzz_ns_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_ns_LDADD = server/ns/libns.la $(COMMON_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz_ns
endif
EXTRA_DIST += tests/fuzz/fuzz_ns.c tests/fuzz/corpus/fuzz_ns

check_PROGRAMS += tests/unit/test_ns_stamp
tests_unit_test_ns_stamp_SOURCES = tests/unit/test_ns_stamp.c $(TEST_HARNESS)
tests_unit_test_ns_stamp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_ns_stamp_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ns_stamp_LDADD = server/ns/libns.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_ns_stamp
