## tests/wsim/wsim.mk: the whole-cell deterministic simulator (docs/TESTING.md
## "The whole-cell simulator"): replicas built from the real pure cores
## (server/paxos, server/cell, server/ns, server/session, server/svc) and clients from
## libchubby's session core and cache, on one virtual clock.  The simulator compiles
## its own objects of those cores with -DCHUBBY_SIM_KNOBS, so that its
## broken variants (common/simknob.h) exist here and nowhere else.
noinst_LTLIBRARIES += tests/wsim/libwsim.la
tests_wsim_libwsim_la_SOURCES = \
	tests/wsim/wsim.c tests/wsim/wsim.h tests/wsim/wsim_int.h \
	tests/wsim/wsim_replica.c tests/wsim/wsim_client.c tests/wsim/wsim_check.c \
	tests/simlib/simlib.c tests/simlib/simlib.h \
	server/paxos/paxos.c server/paxos/paxos_msg.c \
	server/cell/cell.c server/cell/cell_codec.c \
	server/ns/ns.c server/ns/ns_codec.c server/ns/ns_snap.c server/ns/ns_req.c \
	server/ns/ns_util.c server/ns/ns_stamp.c \
	server/session/session.c server/session/sm_index.c common/lease_ctl.c \
	server/session/mhandle.c \
	server/svc/svc.c libchubby/csess.c libchubby/cevids.c libchubby/ccache.c libchubby/ccache.h common/simknob.h
tests_wsim_libwsim_la_CPPFLAGS = $(AM_CPPFLAGS) -DCHUBBY_SIM_KNOBS -I$(top_srcdir)/server \
	-I$(top_srcdir)/tests/simlib \
	-I$(top_srcdir)/server/paxos -I$(top_srcdir)/libchubby
tests_wsim_libwsim_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS)

check_PROGRAMS += tests/wsim/test_wsim
tests_wsim_test_wsim_SOURCES = tests/wsim/test_wsim.c $(TEST_HARNESS)
tests_wsim_test_wsim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit \
	-DWSIM_REGRESS_FILE='"$(abs_top_srcdir)/tests/wsim/regress-seeds"'
tests_wsim_test_wsim_CFLAGS = $(TEST_CFLAGS)
tests_wsim_test_wsim_LDADD = tests/wsim/libwsim.la $(TEST_LIBS)
UNIT_TESTS += tests/wsim/test_wsim
EXTRA_DIST += tests/wsim/regress-seeds

noinst_PROGRAMS += tests/wsim/chubby-wsim
tests_wsim_chubby_wsim_SOURCES = tests/wsim/chubby-wsim.c
tests_wsim_chubby_wsim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/simlib
tests_wsim_chubby_wsim_LDADD = tests/wsim/libwsim.la $(COMMON_LIBS)

# No shipped binary carries a knob (the simulator's own objects do), and
# the simulator reads no clock and draws no randomness of its own.
TESTS += tests/wsim/check-wsim.sh
EXTRA_DIST += tests/wsim/check-wsim.sh
