#!/bin/bash
# test_install.sh: `make install DESTDIR=...` from the build tree puts the
# programs, the library, its header and pkg-config file, the man pages,
# the sample config, the systemd unit, lockctl's bash completion and the
# Python binding in place; a small program builds against the staged library
# with pkg-config and runs; the unit passes systemd-analyze verify (when there
# is one); `make uninstall` removes it all.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

root="$T_DIR/root"
# A make of its own: not the jobserver or variables of a `make check` around us.
MAKE_CMD="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make}"

# The install directories as the build tree's Makefile has them.
dirs=$(cd "$BUILD" && printf 'print-install-dirs:\n\t@echo "prefix=$(prefix) bindir=$(bindir) sbindir=$(sbindir) libdir=$(libdir) includedir=$(includedir) mandir=$(mandir) sysconfdir=$(sysconfdir) unitdir=$(systemdsystemunitdir) bashcompdir=$(bashcompletiondir) pythondir=$(pythondir) san_ldflags=\"$(SAN_LDFLAGS)\""\n' |
	$MAKE_CMD -s --no-print-directory -f Makefile -f - print-install-dirs)
eval "$dirs"
check "the install directories are known" test -n "${sbindir:-}" -a -n "${libdir:-}" -a -n "${unitdir:-}"

check "make install DESTDIR=..." bash -c "cd '$BUILD' && $MAKE_CMD install DESTDIR='$root' >'$T_DIR/install.log' 2>&1 || { tail -30 '$T_DIR/install.log'; exit 1; }"

for f in "$sbindir/chubbyd" "$sbindir/chubby-proxy" "$bindir/lockctl" "$bindir/chubby-cell" "$bindir/chubby-certs"; do
	check "installed program $f" test -x "$root$f"
done
check "installed library" bash -c "ls '$root$libdir'/libchubby.so* >/dev/null 2>&1"
check "installed header" test -f "$root$includedir/chubby/chubby.h"
check "installed pkg-config file" test -f "$root$libdir/pkgconfig/libchubby.pc"
for m in man8/chubbyd.8 man8/chubby-proxy.8 man1/lockctl.1 man1/chubby-cell.1 man1/chubby-certs.1 man5/chubby.conf.5 \
	man3/libchubby.3; do
	check "installed man page $m" test -f "$root$mandir/$m"
done
check "installed bash completion for lockctl" test -f "$root${bashcompdir:-/nonexistent}/lockctl"
check "the installed completion defines the lockctl completion" bash -c ". '$root$bashcompdir/lockctl' && complete -p lockctl | grep -q _lockctl"
check "installed sample config" test -f "$root$sysconfdir/chubby/chubby.conf.sample"
check "the sample config is a valid config" bash -c "'$root$sbindir/chubbyd' --check-config -c '$root$sysconfdir/chubby/chubby.conf.sample'"
check "installed systemd unit" test -f "$root$unitdir/chubbyd@.service"
check "the unit runs the installed chubbyd" grep -q "^ExecStart=$sbindir/chubbyd -c /etc/chubby/chubby.conf -i %i\$" "$root$unitdir/chubbyd@.service"
check "installed chubby-cell finds the installed chubbyd" grep -q "$sbindir" "$root$bindir/chubby-cell"
check "installed chubbyd runs" bash -c "'$root$sbindir/chubbyd' --version | grep -q '^chubbyd '"
check "installed chubby-proxy runs" bash -c "'$root$sbindir/chubby-proxy' --version | grep -q '^chubby-proxy '"

# pkg-config against the staged tree.
export PKG_CONFIG_PATH="$root$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
check "pkg-config --cflags --libs libchubby" bash -c "pkg-config --cflags --libs libchubby | grep -q -- '-lchubby'"
cat >"$T_DIR/hello.c" <<'EOF'
/* hello.c: a user of the installed libchubby. */
#include <stdio.h>

#include <chubby/chubby.h>

int
main(void)
{
	printf("libchubby %s\n", chubby_version());
	return 0;
}
EOF
cflags=$(pkg-config --cflags libchubby)
libs=$(pkg-config --libs libchubby)
# (A sanitizer build's library needs the sanitizer's runtime in the program.)
# shellcheck disable=SC2086
check "a program builds against the staged header and library" \
	${CC:-cc} -Wall -Werror $cflags -o "$T_DIR/hello" "$T_DIR/hello.c" $libs ${san_ldflags:-}
version=$("$root$sbindir/chubbyd" --version | awk '{print $2}')
check "it runs and prints chubby_version()" bash -c "LD_LIBRARY_PATH='$root$libdir' '$T_DIR/hello' | grep -qx 'libchubby $version'"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# The Python binding, into the system Python's directory (configure's
# AM_PATH_PYTHON; dist-packages under Debian's Python).
check "installed Python package (into $pythondir)" test -f "$root$pythondir/chubby/__init__.py" -a -f "$root$pythondir/chubby/py.typed"
check "the installed package imports and loads the installed library" \
	bash -c "PYTHONPATH='$root$pythondir' CHUBBY_LIBRARY='$root$libdir/libchubby.so.0' '$PY' -c 'import chubby; print(chubby.version())' | grep -qx '$version'"

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify wants the unit's programs where it names them: point it at
	# the staged ones, in an instance (the replica id) of the template.
	mkdir -p "$T_DIR/units"
	sed "s|$sbindir/chubbyd|$root$sbindir/chubbyd|g" "$root$unitdir/chubbyd@.service" \
		>"$T_DIR/units/chubbyd@1.service"
	check "systemd-analyze verify the unit" systemd-analyze verify --man=no "$T_DIR/units/chubbyd@1.service"
else
	skip "systemd-analyze verify the unit" "no systemd-analyze (Debian package systemd)"
fi

check "make uninstall DESTDIR=... removes every file" bash -c "cd '$BUILD' && $MAKE_CMD uninstall DESTDIR='$root' >'$T_DIR/uninstall.log' 2>&1 && [ -z \"\$(find '$root' -type f -o -type l)\" ] || { find '$root' -type f -o -type l; exit 1; }"

finish
