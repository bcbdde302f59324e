## libchubby/: the client library, a real shared library exporting only chubby_*.
lib_LTLIBRARIES += libchubby/libchubby.la
libchubby_libchubby_la_SOURCES = \
	libchubby/version.c
libchubby_libchubby_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
libchubby_libchubby_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(LIBCHUBBY_LT_VERSION) \
	-export-symbols-regex '^chubby_' -no-undefined
libchubby_libchubby_la_LIBADD = $(COMMON_LIBS) $(LIBEVENT_PTHREADS_LIBS) $(PTHREAD_LIBS)
chubbyincludedir = $(includedir)/chubby
chubbyinclude_HEADERS = libchubby/include/chubby/chubby.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = libchubby/libchubby.pc
