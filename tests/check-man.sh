#!/bin/bash
# check-man.sh: the man pages as `make install` puts them.  It installs the
# pages alone (`make install-man DESTDIR=...`) and checks that
#  - every CHUBBY_API function of <chubby/chubby.h> has a page: `man NAME`
#    finds it (its own page, or a .so link to the page that describes it);
#  - every page has a SEE ALSO, and every page it cites (there or in its
#    text: ".BR chubby_strerror (3)") and is ours is installed beside it
#    (another package's, editline(7), is noted, not checked);
#  - groff renders every page (a .so link through its target) without a
#    warning (-ww: all of them).
# Prints "ok"/"FAIL" lines and the SUMMARY line tests/summary counts.
set -u
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$top/build}
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chubby-man-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A make of its own: not the jobserver or variables of a `make check` around us.
MAKE_CMD="env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make}"
mandir=$(cd "$build" && printf 'print-mandir:\n\t@echo "$(mandir)"\n' |
	$MAKE_CMD -s --no-print-directory -f Makefile -f - print-mandir)
if [ -n "$mandir" ] && (cd "$build" && $MAKE_CMD -s install-man DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1); then
	ok "make install-man DESTDIR=... (mandir $mandir)"
else
	fail "make install-man DESTDIR=..."; tail -20 "$tmp/install.log"
	echo "SUMMARY: passed=$passed failed=$failed skipped=0"; exit 1
fi
man_root="$tmp/root$mandir"

# Every public call of the header.
names=$(grep -oE '^CHUBBY_API[^(]*[^a-z_0-9](chubby_[a-z_0-9]+)\(' "$top/libchubby/include/chubby/chubby.h" |
	sed -E 's/.*[^a-z_0-9](chubby_[a-z_0-9]+)\($/\1/' | sort -u)
n=$(echo "$names" | wc -w)
if [ "$n" -ge 30 ]; then ok "chubby.h declares $n CHUBBY_API calls"; else fail "only $n CHUBBY_API calls found in chubby.h"; fi
for name in $names; do
	if [ -f "$man_root/man3/$name.3" ] && MANPATH="$man_root" man -w "$name" >/dev/null 2>&1; then
		ok "man $name finds $name(3)"
	else
		fail "man $name finds nothing: no $mandir/man3/$name.3 installed"
	fi
done

# Each installed page renders without a warning, and its SEE ALSO holds.
pages=$(cd "$man_root" && find . -type f -name '*.[0-9]' | sed 's|^\./||' | sort)
[ -n "$pages" ] || fail "no man pages installed under $mandir"
for p in $pages; do
	# groff resolves ".so man3/x.3" from the man tree's top, as man does.
	if out=$(cd "$man_root" && groff -ww -z -k -t -man "$p" 2>&1) && [ -z "$out" ]; then
		ok "groff -ww renders $p without warnings"
	else
		fail "groff -ww renders $p with warnings:"; echo "$out" | sed 's/^/    /' | head -10
	fi
	# A .so link has no SEE ALSO of its own: its target's is checked.
	grep -q '^\.so ' "$man_root/$p" && continue
	grep -q '^\.SH SEE ALSO' "$man_root/$p" || fail "$p: no SEE ALSO section"
	# Every page it cites, in SEE ALSO and in the text ("see chubby_strerror(3)").
	refs=$(grep -oE '^\.[BI]R +[^ ]+ +\([0-9][a-z]*\)' "$man_root/$p" |
		sed -E 's/^\.[BI]R +//; s/\\-/-/g; s/ +\(/ /; s/\)$//' | sort -u)
	[ -n "$refs" ] || { fail "$p: cites no page"; continue; }
	while read -r rn rs; do
		if [ -f "$man_root/man$rs/$rn.$rs" ]; then
			ok "$p: $rn($rs) is installed"
		else
			case $rn in
			chubby* | libchubby* | lockctl*) fail "$p: cites $rn($rs), which does not exist" ;;
			# Another package's page (editline(7), logrotate(8)): not
			# ours to install, and this machine need not have it.
			*) echo "note - $p: $rn($rs) is another package's page (not checked)" ;;
			esac
		fi
	done <<<"$refs"
done
echo "SUMMARY: passed=$passed failed=$failed skipped=0"
[ "$failed" -eq 0 ]
