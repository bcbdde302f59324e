## libchubby/client.mk: the client library shell: connections, the background
## loop thread, the public API of <chubby/chubby.h>.
libchubby_libchubby_core_la_SOURCES += libchubby/client.c libchubby/client_int.h \
	libchubby/client_loop.c libchubby/client_cache.c libchubby/client_locate.c \
	libchubby/client_async.c libchubby/client_leader_async.c libchubby/ccache.c \
	libchubby/ccache.h
# res_nquery/ns_parserr for DNS SRV master location (client_locate.c).
libchubby_libchubby_core_la_LIBADD += -lresolv

# The integration test's client: a small CLI over the public API only
# (tests/integration/test_libchubby.sh).
check_PROGRAMS += tests/integration/libchubby_driver
tests_integration_libchubby_driver_SOURCES = tests/integration/libchubby_driver.c
tests_integration_libchubby_driver_LDADD = libchubby/libchubby.la $(PTHREAD_LIBS)
