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
	tools/lockctl/locate.c tools/lockctl/locate.h \
	tools/lockctl/cmd-status.c \
	tools/lockctl/aclient.c tools/lockctl/aclient.h \
	tools/lockctl/cmd-admin.c \
	tools/lockctl/cmd-backup.c server/backup_file.c server/backup_file.h \
	tools/lockctl/session.c tools/lockctl/reply.c tools/lockctl/script.c \
	tools/lockctl/cmd-ns.c tools/lockctl/cmd-lock.c \
	tools/lockctl/run.c tools/lockctl/shell.c tools/lockctl/cmd-admin2.c \
	tools/lockctl/cmd-members.c tools/lockctl/cmd-reload.c tools/lockctl/nsutil.c \
	tools/lockctl/cmd-leader.c tools/lockctl/cmd-tree.c tools/lockctl/cmd-watch.c
tools_lockctl_lockctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(MSGPACK_CFLAGS) \
	$(LIBEDIT_CFLAGS)
# libchubby.la first: every chubby_* symbol (chubby_last_error's per-thread
# buffer above all) must resolve to the shared library, not to a second copy
# from libcommon; libcommon then only supplies the internal helpers the admin
# commands use (aclient, probe, json), which libchubby does not export.
tools_lockctl_lockctl_LDADD = libchubby/libchubby.la $(COMMON_LIBS) $(PTHREAD_LIBS) $(LIBEDIT_LIBS)
