## server/ns/ns.mk: the namespace state machine (pure core: nodes, sessions,
## handles, locks, ACLs, sequencers, events, snapshots) and its unit test.
## Design and encodings: docs/NAMESPACE.md.
noinst_LTLIBRARIES += server/ns/libns.la
server_ns_libns_la_SOURCES = \
	server/ns/ns.c server/ns/ns.h server/ns/ns_int.h \
	server/ns/ns_codec.c server/ns/ns_snap.c server/ns/ns_util.c
server_ns_libns_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)

check_PROGRAMS += tests/unit/test_ns
tests_unit_test_ns_SOURCES = tests/unit/test_ns.c $(TEST_HARNESS)
tests_unit_test_ns_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_ns_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ns_LDADD = server/ns/libns.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_ns
