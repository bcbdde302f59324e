## server/store/store.mk: the LevelDB adapter (the one file that includes
## <leveldb/c.h>) and its unit test.  Disk format: docs/FORMAT.md.  It
## uses the Paxos core's message helpers (paxos_conf_*): whatever links it
## links libpaxos.la too.
noinst_LTLIBRARIES += server/store/libstore.la
server_store_libstore_la_SOURCES = server/store/store.c server/store/store.h
server_store_libstore_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
server_store_libstore_la_CFLAGS = $(AM_CFLAGS)
server_store_libstore_la_LIBADD = $(LEVELDB_LIBS)

check_PROGRAMS += tests/unit/test_store
tests_unit_test_store_SOURCES = tests/unit/test_store.c $(TEST_HARNESS)
tests_unit_test_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_store_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_store_LDADD = server/store/libstore.la server/paxos/libpaxos.la $(TEST_LIBS) \
	$(LEVELDB_LIBS)
UNIT_TESTS += tests/unit/test_store
