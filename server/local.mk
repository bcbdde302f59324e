## server/: chubbyd, one replica of a cell.
sbin_PROGRAMS += server/chubbyd
server_chubbyd_SOURCES = \
	server/main.c server/chubbyd.h \
	server/rpc/rpc.c server/rpc/rpc.h \
	server/replica.c server/replica.h \
	server/peer/peer.c server/peer/peer.h \
	server/peer/peer_codec.c server/peer/peer_codec.h
server_chubbyd_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/server/peer $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
server_chubbyd_LDADD = server/store/libstore.la server/paxos/libpaxos.la $(COMMON_LIBS) $(LEVELDB_LIBS) $(PTHREAD_LIBS)
