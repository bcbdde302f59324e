## tests/: unit tests (CUnit), simulator, integration and fuzz targets.
## Every CUnit program shares tests/unit/harness.c, which prints a
## "SUMMARY: passed=N failed=M" line that tests/summary counts.
TEST_HARNESS = tests/unit/harness.c tests/unit/harness.h
TEST_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
TEST_LIBS = $(COMMON_LIBS) $(CUNIT_LIBS) $(PTHREAD_LIBS)

EXTRA_DIST += tests/summary tests/run-all tests/skip-allow tests/tsan.supp

check_PROGRAMS += tests/unit/test_status
tests_unit_test_status_SOURCES = tests/unit/test_status.c $(TEST_HARNESS)
tests_unit_test_status_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_status_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_status

check_PROGRAMS += tests/unit/test_json
tests_unit_test_json_SOURCES = tests/unit/test_json.c $(TEST_HARNESS)
tests_unit_test_json_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_json_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_json

check_PROGRAMS += tests/unit/test_logfmt
tests_unit_test_logfmt_SOURCES = tests/unit/test_logfmt.c $(TEST_HARNESS)
tests_unit_test_logfmt_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_logfmt_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_logfmt

# The integration tests first, the longest of them at the head: make
# check -j runs TESTS in order, and a three-minute test started last would
# leave the other lanes idle while it ends.
TESTS += $(INTEGRATION_TESTS)
TESTS += $(UNIT_TESTS)

# Integration tests: real processes on loopback (tests/integration/lib.sh).
# The longest first (their seconds in a make check -j4 run): test_stable
# (~210), test_nemesis (~140), test_nemesis_targeted and test_distance
# (~95), test_client_cache, test_replication, test_python (~60).
INTEGRATION_TESTS = tests/integration/test_stable.sh tests/integration/test_nemesis.sh \
	tests/integration/test_nemesis_targeted.sh tests/integration/test_distance.sh
INTEGRATION_TESTS += tests/integration/test_client_cache.sh tests/integration/test_replication.sh \
	tests/integration/test_python.sh
INTEGRATION_TESTS += tests/integration/test_cell.sh tests/integration/test_lockctl.sh tests/integration/test_lockctl_shell.sh tests/integration/test_lock_runner.sh \
	tests/integration/test_integrity.sh tests/integration/test_protocol.sh \
	tests/integration/test_partition.sh tests/integration/test_namespace.sh tests/integration/test_libchubby.sh tests/integration/test_handles_mem.sh
INTEGRATION_TESTS += tests/integration/test_backup.sh
INTEGRATION_TESTS += tests/integration/test_integrity_snapshot.sh
INTEGRATION_TESTS += tests/integration/test_install.sh
INTEGRATION_TESTS += tests/integration/test_members.sh
INTEGRATION_TESTS += tests/integration/test_mirror.sh
INTEGRATION_TESTS += tests/integration/test_members_grow_shrink.sh
INTEGRATION_TESTS += tests/integration/test_dns_replace.sh
INTEGRATION_TESTS += tests/integration/test_clock_step.sh
INTEGRATION_TESTS += tests/integration/test_coherence.sh
INTEGRATION_TESTS += tests/integration/test_exactly_once.sh
INTEGRATION_TESTS += tests/integration/test_lib.sh
INTEGRATION_TESTS += tests/integration/test_suspend.sh
INTEGRATION_TESTS += tests/integration/test_lease_load.sh
INTEGRATION_TESTS += tests/integration/test_secure_recipe.sh
INTEGRATION_TESTS += tests/integration/test_lockctl_daily.sh
INTEGRATION_TESTS += tests/integration/test_leader_clear.sh
INTEGRATION_TESTS += tests/integration/test_rolling_restart.sh
INTEGRATION_TESTS += tests/integration/test_acl.sh
INTEGRATION_TESTS += tests/integration/test_bench.sh
EXTRA_DIST += tests/integration/pre-acl-cell.backup
INTEGRATION_TESTS += tests/integration/test_locate.sh
INTEGRATION_TESTS += tests/integration/test_errors.sh
INTEGRATION_TESTS += tests/integration/test_tls_rotate.sh
INTEGRATION_TESTS += tests/integration/test_proxy_claim.sh
EXTRA_DIST += tests/integration/proxy_claim.py
INTEGRATION_TESTS += tests/integration/test_log_json.sh
INTEGRATION_TESTS += tests/integration/test_completion.sh
# chubby-proxy in front of a cell (docs/PROXY.md).
INTEGRATION_TESTS += tests/integration/test_proxy.sh
INTEGRATION_TESTS += tests/integration/test_proxy_upstream.sh
INTEGRATION_TESTS += tests/integration/test_proxy_lease.sh
INTEGRATION_TESTS += tests/integration/test_idle.sh
# The Python binding (python/, docs/PYTHON.md) and client/leader_example.py.
EXTRA_DIST += tests/integration/python_binding.py
INTEGRATION_TESTS += tests/integration/test_metrics.sh
EXTRA_DIST += tests/integration/metrics_check.py
INTEGRATION_TESTS += tests/integration/test_status_page.sh
EXTRA_DIST += tests/integration/status_page_check.py
check_PROGRAMS += tests/integration/store-tool
tests_integration_store_tool_SOURCES = tests/integration/store-tool.c
tests_integration_store_tool_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_integration_store_tool_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
tests_integration_store_tool_LDADD = server/store/libstore.la server/paxos/libpaxos.la \
	$(COMMON_LIBS) $(LEVELDB_LIBS)
TESTS += tests/check-pure.sh tests/check-layers.sh
# Every command README.md and docs/*.md name exists (stale claims fail).
TESTS += tests/check-readme.sh
EXTRA_DIST += tests/check-readme.sh
# Every public call has an installed man page; the pages render and cite
# pages that exist.
TESTS += tests/check-man.sh
EXTRA_DIST += tests/check-man.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/netns.sh tests/integration/protocol_abuse.py tests/check-pure.sh tests/check-layers.sh \
	tests/integration/suspend_clock.c tests/integration/fake_clock.c \
	tests/integration/chubby_wire.py tests/integration/itest.py tests/integration/drv.sh tests/integration/ns_checks.py tests/integration/exactly_once.py \
	tests/integration/cacher.py tests/integration/coherence_checks.py tests/integration/suspend_checks.py tests/integration/delay_relay.py \
	$(INTEGRATION_TESTS)
EXTRA_DIST += tests/nemesis/workload.py tests/nemesis/resource.py tests/nemesis/nemesis.py tests/nemesis/checker.py tests/nemesis/slow_fsync.c \
	tests/nemesis/regress-seeds
AM_TESTS_ENVIRONMENT = abs_top_builddir='$(abs_top_builddir)'; abs_top_srcdir='$(abs_top_srcdir)'; \
	export abs_top_builddir abs_top_srcdir;

# The nemesis's cache client: libchubby with its cache on, writing a history
# for tests/nemesis/checker.py (docs/TESTING.md).
check_PROGRAMS += tests/nemesis/cache_workload
tests_nemesis_cache_workload_SOURCES = tests/nemesis/cache_workload.c
tests_nemesis_cache_workload_LDADD = libchubby/libchubby.la $(PTHREAD_LIBS)

# Many application threads on one libchubby session (the tsan phase of
# tests/run-all runs it under ThreadSanitizer).
check_PROGRAMS += tests/integration/libchubby_threads
tests_integration_libchubby_threads_SOURCES = tests/integration/libchubby_threads.c
tests_integration_libchubby_threads_LDADD = libchubby/libchubby.la $(PTHREAD_LIBS)
INTEGRATION_TESTS += tests/integration/test_libchubby_threads.sh

# Many libchubby clients in one process, open-read-close on threads of their
# own through a master's kill -9 (a connection touched by two threads
# without its lock; docs/CLIENT.md "Threads").
check_PROGRAMS += tests/integration/libchubby_storm
tests_integration_libchubby_storm_SOURCES = tests/integration/libchubby_storm.c
tests_integration_libchubby_storm_LDADD = libchubby/libchubby.la $(PTHREAD_LIBS)
INTEGRATION_TESTS += tests/integration/test_libchubby_storm.sh

# The whole-cell simulator (tests/wsim).
include $(srcdir)/tests/wsim/wsim.mk
# Fills a cell's namespace fast (test_stable.sh's snapshot phase).
check_PROGRAMS += tests/integration/populate
tests_integration_populate_SOURCES = tests/integration/populate.c
tests_integration_populate_LDADD = libchubby/libchubby.la $(PTHREAD_LIBS)

# libchubby driven from the application's own loop (libevent and poll),
# through a master's kill -9 (docs/CLIENT.md "Driving libchubby from your
# own event loop").
check_PROGRAMS += tests/integration/libchubby_async
tests_integration_libchubby_async_SOURCES = tests/integration/libchubby_async.c
tests_integration_libchubby_async_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_integration_libchubby_async_LDADD = libchubby/libchubby.la $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
INTEGRATION_TESTS += tests/integration/test_libchubby_async.sh
