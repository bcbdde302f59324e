## server/proxy/: chubby-proxy (docs/PROXY.md).

# The pure core: client sessions, handles, cache, invalidation relay.
check_PROGRAMS += tests/unit/test_pxcore
tests_unit_test_pxcore_SOURCES = tests/unit/test_pxcore.c \
	server/proxy/pxcore.c server/proxy/pxcore.h $(TEST_HARNESS)
tests_unit_test_pxcore_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/tests/unit
tests_unit_test_pxcore_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_pxcore_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_pxcore

# The daemon: the pure core and its I/O shell.
sbin_PROGRAMS += server/chubby-proxy
server_chubby_proxy_SOURCES = server/proxy/proxy.c server/proxy/proxy.h server/proxy/pxup.c \
	server/proxy/pxcore.c server/proxy/pxcore.h \
	server/proxy/pxload.c server/proxy/pxload.h common/lease_ctl.c common/lease_ctl.h \
	server/proxy/pxhttp.c server/proxy/pxhttp.h common/httpd.c common/httpd.h \
	common/prom.c common/prom.h common/procstat.c common/procstat.h \
	common/latency.c common/latency.h
server_chubby_proxy_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/server/proxy $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
server_chubby_proxy_LDADD = $(COMMON_LIBS) $(PTHREAD_LIBS)
dist_man_MANS += man/chubby-proxy.8
