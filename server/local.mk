## server/: chubbyd, one replica of a cell.
sbin_PROGRAMS += server/chubbyd
server_chubbyd_SOURCES = \
	server/main.c
server_chubbyd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
server_chubbyd_LDADD = $(COMMON_LIBS) $(LEVELDB_LIBS) $(PTHREAD_LIBS)
