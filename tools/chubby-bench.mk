## tools/chubby-bench.mk: chubby-bench, the load generator and latency meter
## (tools/chubby-bench/), its man page, and tools/bench-peers, which runs it
## side by side with etcd and ZooKeeper (peers from tools/install-bench-deps).
bin_PROGRAMS += tools/chubby-bench/chubby-bench
tools_chubby_bench_chubby_bench_SOURCES = \
	tools/chubby-bench/bench.c tools/chubby-bench/bench.h \
	tools/chubby-bench/hist.c tools/chubby-bench/hist.h \
	tools/chubby-bench/procstat.c \
	tools/chubby-bench/work.c \
	tools/chubby-bench/kapool.c \
	tools/chubby-bench/failover.c \
	tools/lockctl/aclient.c tools/lockctl/aclient.h \
	tools/lockctl/locate.c tools/lockctl/locate.h
tools_chubby_bench_chubby_bench_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) \
	$(MSGPACK_CFLAGS) $(PTHREAD_CFLAGS)
# libchubby.la first, as for lockctl: every chubby_* symbol from the shared
# library; libcommon supplies the internal helpers (transport, codec) that
# the keepalive workload uses to speak the protocol itself.
tools_chubby_bench_chubby_bench_LDADD = libchubby/libchubby.la $(COMMON_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tools/bench-peers tools/bench-ab tools/bench-lease-storm tools/bench-proxies \
	tools/install-bench-deps \
	tools/peers/build-drivers tools/peers/zk-bench.c tools/peers/etcd-bench/main.go
# The histogram's unit test (pure: no cell, no clock).
check_PROGRAMS += tools/chubby-bench/test_hist
tools_chubby_bench_test_hist_SOURCES = tools/chubby-bench/test_hist.c \
	tools/chubby-bench/hist.c tools/chubby-bench/hist.h $(TEST_HARNESS)
tools_chubby_bench_test_hist_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests/unit
tools_chubby_bench_test_hist_LDADD = $(TEST_LIBS)
TESTS += tools/chubby-bench/test_hist
UNIT_TESTS += tools/chubby-bench/test_hist
