## common/config.mk: the cell config parser, its doc generator, the sample
## config and chubby.conf(5), and their unit test.
common_libcommon_la_SOURCES += common/config.c common/cellconfig.h

# Prints the sample config, the man page's OPTIONS or --help-config text
# from the option table in common/config.c.
noinst_PROGRAMS += tools/chubby-config-doc
tools_chubby_config_doc_SOURCES = tools/chubby-config-doc.c
tools_chubby_config_doc_LDADD = $(COMMON_LIBS)

dist_man_MANS += man/chubby.conf.5
sampleconfdir = $(docdir)/examples
dist_sampleconf_DATA = etc/chubby.conf

# The sample and the man page's OPTIONS are generated, but committed so that
# a reader of the tree sees them; test_config fails when they drift from the
# table.  After changing the table, run "make update-config-docs" and commit.
update-config-docs: tools/chubby-config-doc$(EXEEXT)
	$(AM_V_GEN)tools/chubby-config-doc sample >$(srcdir)/etc/chubby.conf.tmp && \
	mv $(srcdir)/etc/chubby.conf.tmp $(srcdir)/etc/chubby.conf && \
	tools/chubby-config-doc splice-man $(srcdir)/man/chubby.conf.5 \
	    >$(srcdir)/man/chubby.conf.5.tmp && \
	mv $(srcdir)/man/chubby.conf.5.tmp $(srcdir)/man/chubby.conf.5
.PHONY: update-config-docs

check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c $(TEST_HARNESS)
tests_unit_test_config_CFLAGS = $(TEST_CFLAGS) -DTOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_config_LDADD = $(TEST_LIBS)
UNIT_TESTS += tests/unit/test_config

if ENABLE_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDADD = $(COMMON_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz_config
endif
EXTRA_DIST += tests/fuzz/fuzz_config.c tests/fuzz/corpus/fuzz_config
