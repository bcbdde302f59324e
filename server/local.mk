## server/: chubbyd, one replica of a cell.
sbin_PROGRAMS += server/chubbyd
server_chubbyd_SOURCES = \
	server/main.c server/chubbyd.h server/reload.c server/dnswatch.c server/dnswatch.h \
	server/rpc/rpc.c server/rpc/rpc.h server/rpc/audit.c server/rpc/audit.h \
	server/rpc/rpc_ns.c server/rpc/rpc_ns.h server/rpc/ns_wire.c server/rpc/ns_wire.h \
	server/svc/svc.c server/svc/svc.h \
	server/rpc/rpc_backup.c server/rpc/rpc_backup.h \
	server/session/session.c server/session/session.h \
	server/session/sm_index.c server/session/sm_index.h \
	server/session/mhandle.c server/session/mhandle.h \
	common/lease_ctl.c common/lease_ctl.h \
	server/session_shell.c server/session_shell.h \
	server/replica.c server/replica.h \
	server/bgsnap.c server/bgsnap.h \
	server/backup.c server/backup.h server/backup_file.c server/backup_file.h \
	server/status/status.c server/status/status.h \
	server/status/looplag.c server/status/looplag.h \
	common/latency.c common/latency.h \
	server/status/reqstats.c server/status/reqstats.h \
	common/prom.c common/prom.h common/httpd.c common/httpd.h \
	common/procstat.c common/procstat.h \
	server/status/page.c server/status/page.h \
	server/peer/peer.c server/peer/peer.h \
	server/peer/peer_codec.c server/peer/peer_codec.h \
	server/mirror/mirror.c server/mirror/mirror.h \
	server/mirror/mirror_plan.c server/mirror/mirror_plan.h
server_chubbyd_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/server/peer $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
# libchubby: the mirrors are clients of other cells (server/mirror).
server_chubbyd_LDADD = libchubby/libchubby_core.la server/cell/libcell.la server/ns/libns.la server/store/libstore.la server/paxos/libpaxos.la $(COMMON_LIBS) $(LEVELDB_LIBS) $(PTHREAD_LIBS)

# The audit trail's line format (server/rpc/audit.c).
check_PROGRAMS += tests/unit/test_audit
tests_unit_test_audit_SOURCES = tests/unit/test_audit.c server/rpc/audit.c server/rpc/audit.h $(TEST_HARNESS)
tests_unit_test_audit_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_audit_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_audit_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_audit

# The request layer (server/svc) is pure: driven directly over the real
# session layer and namespace, with a fake environment (no stand-ins).
check_PROGRAMS += tests/unit/test_svc
tests_unit_test_svc_SOURCES = tests/unit/test_svc.c server/svc/svc.c server/svc/svc.h \
	server/session/session.c server/session/session.h \
	common/lease_ctl.c common/lease_ctl.h \
	server/session/sm_index.c server/session/sm_index.h \
	server/session/mhandle.c server/session/mhandle.h $(TEST_HARNESS)
tests_unit_test_svc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_svc_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_svc_LDADD = server/ns/libns.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_svc

# The peer codec is pure: its unit test and fuzz target link it directly.
PEER_CODEC_SOURCES = server/peer/peer_codec.c server/peer/peer_codec.h
check_PROGRAMS += tests/unit/test_peer_codec
tests_unit_test_peer_codec_SOURCES = tests/unit/test_peer_codec.c $(PEER_CODEC_SOURCES) $(TEST_HARNESS)
tests_unit_test_peer_codec_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_peer_codec_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_peer_codec_LDADD = server/paxos/libpaxos.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_peer_codec

if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_peer
tests_fuzz_fuzz_peer_SOURCES = tests/fuzz/fuzz_peer.c $(PEER_CODEC_SOURCES)
tests_fuzz_fuzz_peer_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_fuzz_fuzz_peer_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
tests_fuzz_fuzz_peer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_peer_LDADD = server/paxos/libpaxos.la $(COMMON_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz_peer
endif
EXTRA_DIST += tests/fuzz/fuzz_peer.c tests/fuzz/corpus/fuzz_peer

# The event loop lag gauge's accounting is pure: its unit test links it alone.
check_PROGRAMS += tests/unit/test_looplag
tests_unit_test_looplag_SOURCES = tests/unit/test_looplag.c \
	server/status/looplag.c server/status/looplag.h $(TEST_HARNESS)
tests_unit_test_looplag_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_looplag_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_looplag_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_looplag

# What /metrics is made of: latency histograms, requests by op and status,
# the text exposition, the process_* figures (test_metrics.c).
check_PROGRAMS += tests/unit/test_metrics
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c \
	common/latency.c common/latency.h \
	server/status/reqstats.c server/status/reqstats.h \
	common/prom.c common/prom.h \
	common/procstat.c common/procstat.h $(TEST_HARNESS)
tests_unit_test_metrics_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_metrics_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_metrics_LDADD = $(TEST_LIBS) -lm
UNIT_TESTS += tests/unit/test_metrics

# The status page's HTML (test_page.c): escaping, rows, the chart.
check_PROGRAMS += tests/unit/test_page
tests_unit_test_page_SOURCES = tests/unit/test_page.c \
	server/status/page.c server/status/page.h \
	common/prom.c common/prom.h \
	common/latency.c common/latency.h $(TEST_HARNESS)
tests_unit_test_page_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_page_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_page_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_page

# What a mirror writes to make its copy equal the source (pure; test_mirror_plan.c).
check_PROGRAMS += tests/unit/test_mirror_plan
tests_unit_test_mirror_plan_SOURCES = tests/unit/test_mirror_plan.c \
	server/mirror/mirror_plan.c server/mirror/mirror_plan.h $(TEST_HARNESS)
tests_unit_test_mirror_plan_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_mirror_plan_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_mirror_plan_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_mirror_plan
