## common/tls.mk: the TLS transport (tls.c, tp.c), the certificate minting
## shared by chubby-certs and the tests (certgen.c), the chubby-certs tool,
## its man page and the transport's unit test.
common_libcommon_la_SOURCES += \
	common/tls.c common/tls.h \
	common/tp.c common/tp.h \
	common/certgen.c common/certgen.h common/certgen_int.h \
	common/certsign.c

bin_PROGRAMS += tools/chubby-certs
tools_chubby_certs_SOURCES = tools/chubby-certs.c
tools_chubby_certs_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS)
tools_chubby_certs_LDADD = $(COMMON_LIBS)
dist_man_MANS += man/chubby-certs.1

check_PROGRAMS += tests/unit/test_tls
tests_unit_test_tls_SOURCES = tests/unit/test_tls.c $(TEST_HARNESS)
tests_unit_test_tls_CFLAGS = $(TEST_CFLAGS) $(LIBEVENT_OPENSSL_CFLAGS)
tests_unit_test_tls_LDADD = $(TEST_LIBS) $(LIBEVENT_PTHREADS_LIBS)
UNIT_TESTS += tests/unit/test_tls
