## common/: code shared by chubbyd, libchubby and the tools, built once.
noinst_LTLIBRARIES += common/libcommon.la
common_libcommon_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS) \
	$(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
common_libcommon_la_SOURCES = \
	common/status.c \
	common/log.c common/log.h \
	common/logfmt.c common/logfmt.h \
	common/xmalloc.c common/xmalloc.h \
	common/errbuf.c common/errbuf.h \
	common/json.c common/json.h \
	common/clock.c common/clock.h \
	common/net.c common/net.h \
	common/conn.c common/conn.h \
	common/cellspec.c common/cellspec.h
# Libraries anything that links libcommon needs as well.
COMMON_LIBS = common/libcommon.la $(LIBEVENT_OPENSSL_LIBS) $(LIBEVENT_LIBS) \
	$(OPENSSL_LIBS) $(MSGPACK_LIBS)
