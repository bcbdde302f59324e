## server/cell/cell.mk: the applied state (pure core: the log-entry envelope,
## the digest chain, CHECK and MEMBER entries, snapshots over the namespace)
## and its unit test.  Formats: docs/FORMAT.md, "The applied state".
noinst_LTLIBRARIES += server/cell/libcell.la
server_cell_libcell_la_SOURCES = \
	server/cell/cell.c server/cell/cell.h server/cell/cell_int.h \
	server/cell/cell_codec.c
server_cell_libcell_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
server_cell_libcell_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)

check_PROGRAMS += tests/unit/test_cell
tests_unit_test_cell_SOURCES = tests/unit/test_cell.c $(TEST_HARNESS)
tests_unit_test_cell_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_test_cell_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cell_LDADD = server/cell/libcell.la server/ns/libns.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_cell

if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_cell
tests_fuzz_fuzz_cell_SOURCES = tests/fuzz/fuzz_cell.c
tests_fuzz_fuzz_cell_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_fuzz_cell_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
tests_fuzz_fuzz_cell_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cell_LDADD = server/cell/libcell.la server/ns/libns.la $(COMMON_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz_cell
endif
EXTRA_DIST += tests/fuzz/fuzz_cell.c tests/fuzz/corpus/fuzz_cell tests/fuzz/mkcorpus-cell
