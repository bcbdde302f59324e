## etc/: the systemd unit and the sample config installed under sysconfdir.
## (etc/chubby.conf itself is generated from the option table: common/config.mk.)

# One unit per replica: chubbyd@ID.service.  The directory can be changed
# at install time: make install systemdsystemunitdir=/lib/systemd/system
systemdsystemunitdir = $(libdir)/systemd/system
systemdsystemunit_DATA = etc/chubbyd@.service
CLEANFILES += etc/chubbyd@.service
EXTRA_DIST += etc/chubbyd@.service.in
etc/chubbyd@.service: $(srcdir)/etc/chubbyd@.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    $(srcdir)/etc/chubbyd@.service.in >$@.tmp && mv $@.tmp $@

# The sample config beside where chubbyd@.service looks for the real one.
chubbyconfdir = $(sysconfdir)/chubby
chubbyconf_DATA = etc/chubby.conf.sample
CLEANFILES += etc/chubby.conf.sample
etc/chubby.conf.sample: $(srcdir)/etc/chubby.conf
	$(AM_V_GEN)$(MKDIR_P) etc && cp $(srcdir)/etc/chubby.conf $@.tmp && mv $@.tmp $@

# lockctl's bash completion (configure --with-bash-completion-dir; make
# install bashcompletiondir=DIR).
dist_bashcompletion_DATA = etc/bash-completion/lockctl
