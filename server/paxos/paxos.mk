## server/paxos/paxos.mk: the pure Multi-Paxos core, its unit tests and the
## deterministic simulator that checks its safety under faults.
noinst_LTLIBRARIES += server/paxos/libpaxos.la
server_paxos_libpaxos_la_SOURCES = \
	server/paxos/paxos.c server/paxos/paxos.h \
	server/paxos/paxos_msg.c server/paxos/paxos_msg.h
server_paxos_libpaxos_la_CFLAGS = $(AM_CFLAGS)

PAXOS_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server/paxos -I$(top_srcdir)/tests/unit \
	-I$(top_srcdir)/tests/simlib
SIM_SOURCES = tests/simlib/simlib.c tests/simlib/simlib.h

# The simulator runs its own objects of the Paxos core, built with
# -DCHUBBY_SIM_KNOBS so that its broken variants (common/simknob.h,
# docs/PAXOS.md "Broken variants") exist here and nowhere else; libpaxos.la,
# which chubbyd links, has none (tests/wsim/check-wsim.sh).
noinst_LTLIBRARIES += tests/sim/libsim.la
tests_sim_libsim_la_SOURCES = tests/sim/sim.c tests/sim/sim.h \
	server/paxos/paxos.c server/paxos/paxos.h \
	server/paxos/paxos_msg.c server/paxos/paxos_msg.h common/simknob.h
tests_sim_libsim_la_CPPFLAGS = $(PAXOS_TEST_CPPFLAGS) -DCHUBBY_SIM_KNOBS
tests_sim_libsim_la_CFLAGS = $(AM_CFLAGS)

check_PROGRAMS += tests/unit/test_paxos
tests_unit_test_paxos_SOURCES = tests/unit/test_paxos.c $(TEST_HARNESS)
tests_unit_test_paxos_CPPFLAGS = $(PAXOS_TEST_CPPFLAGS)
tests_unit_test_paxos_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_paxos_LDADD = server/paxos/libpaxos.la $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_paxos

check_PROGRAMS += tests/sim/test_sim
tests_sim_test_sim_SOURCES = tests/sim/test_sim.c $(SIM_SOURCES) $(TEST_HARNESS)
tests_sim_test_sim_CPPFLAGS = $(PAXOS_TEST_CPPFLAGS) \
	-DSIM_REGRESS_FILE='"$(abs_top_srcdir)/tests/sim/regress-seeds"'
EXTRA_DIST += tests/sim/regress-seeds
tests_sim_test_sim_CFLAGS = $(TEST_CFLAGS)
tests_sim_test_sim_LDADD = tests/sim/libsim.la $(TEST_LIBS)
# In UNIT_TESTS (so also in TESTS, and in the sanitizer and valgrind passes):
# the sweep sizes itself to ~15 s plain, ~15 s with ASan, ~10 s under valgrind.
UNIT_TESTS += tests/sim/test_sim

noinst_PROGRAMS += tests/sim/chubby-sim
tests_sim_chubby_sim_SOURCES = tests/sim/chubby-sim.c $(SIM_SOURCES)
tests_sim_chubby_sim_CPPFLAGS = $(PAXOS_TEST_CPPFLAGS)
tests_sim_chubby_sim_CFLAGS = $(AM_CFLAGS)
tests_sim_chubby_sim_LDADD = tests/sim/libsim.la $(COMMON_LIBS)
