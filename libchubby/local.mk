## libchubby/: the client library, a real shared library exporting only chubby_*.
## Its code is a convenience library (csess.mk and client.mk add to it),
## linked whole into the shared library and, statically, into chubbyd (the
## mirror is a client of another cell, server/mirror): a daemon must not
## need libchubby.so found at run time.
noinst_LTLIBRARIES += libchubby/libchubby_core.la
libchubby_libchubby_core_la_SOURCES =
libchubby_libchubby_core_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
libchubby_libchubby_core_la_LIBADD = $(LIBEVENT_PTHREADS_LIBS)
lib_LTLIBRARIES += libchubby/libchubby.la
libchubby_libchubby_la_SOURCES = \
	libchubby/version.c
libchubby_libchubby_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
libchubby_libchubby_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(LIBCHUBBY_LT_VERSION) \
	-export-symbols-regex '^chubby_' -no-undefined
libchubby_libchubby_la_LIBADD = libchubby/libchubby_core.la $(COMMON_LIBS) \
	$(LIBEVENT_PTHREADS_LIBS) $(PTHREAD_LIBS)
chubbyincludedir = $(includedir)/chubby
chubbyinclude_HEADERS = libchubby/include/chubby/chubby.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = libchubby/libchubby.pc
