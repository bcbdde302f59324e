## tools/: lockctl, chubby-cell, chubby-certs, chubby-bench.
bin_SCRIPTS += tools/chubby-cell
CLEANFILES += tools/chubby-cell
EXTRA_DIST += tools/chubby-cell.in tools/install-deps tools/quickstart
tools/chubby-cell: $(srcdir)/tools/chubby-cell.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	    -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	    $(srcdir)/tools/chubby-cell.in >$@.tmp && chmod +x $@.tmp && mv $@.tmp $@

bin_PROGRAMS += tools/lockctl/lockctl
tools_lockctl_lockctl_SOURCES = \
	tools/lockctl/lockctl.c tools/lockctl/lockctl.h \
	tools/lockctl/probe.c tools/lockctl/probe.h \
	tools/lockctl/cmd-status.c \
	tools/lockctl/aclient.c tools/lockctl/aclient.h \
	tools/lockctl/cmd-admin.c
tools_lockctl_lockctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS)
tools_lockctl_lockctl_LDADD = $(COMMON_LIBS)
