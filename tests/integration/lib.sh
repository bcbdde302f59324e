# lib.sh: helpers for the shell integration tests.  Each test is a script
# that sources this, runs `check NAME COMMAND...` steps, and ends with
# `finish`, which prints the "SUMMARY: passed=N failed=M" line that
# tests/summary counts.  Every test has a hard time limit and cleans up its
# cell even when it fails.
set -u

: "${abs_top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
BUILD=${abs_top_builddir}
CHUBBY_CELL_BIN="$BUILD/tools/chubby-cell"
LOCKCTL="$BUILD/tools/lockctl/lockctl"
CHUBBYD="$BUILD/server/chubbyd"
CERTS="$BUILD/tools/chubby-certs"
export CHUBBY_BINDIR=""
# Debian's Python, where tools/install-deps put python3-msgpack.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

T_PASSED=0
T_FAILED=0
T_SKIPPED=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chubby-it-XXXXXX")
T_CELLS=""
T_START=$(date +%s)

t_cleanup() {
	# tests/run-all lists the slowest tests from this line.
	echo "test time: $(($(date +%s) - T_START)) s"
	[ -n "${T_WATCHDOG:-}" ] && kill "$T_WATCHDOG" 2>/dev/null
	for d in $T_CELLS; do "$CHUBBY_CELL_BIN" down --dir "$d" >/dev/null 2>&1 || true; done
	t_port_release
	if [ "$T_FAILED" -eq 0 ] && [ -z "${CHUBBY_TEST_KEEP:-}" ]; then rm -rf "$T_DIR"; else echo "kept $T_DIR"; fi
}
trap t_cleanup EXIT

# A hard limit for the whole test: a hung step must not hang CI.
t_time_limit() { # seconds
	# The watchdog's sleep must die with it, or it holds our output open.
	(
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		sleep "$1" </dev/null >/dev/null 2>&1 &
		sp=$!
		wait $sp
		echo "FAIL: time limit of $1 s reached"
		kill -TERM $$
	) &
	T_WATCHDOG=$!
}

# A base port no other test uses at the same time: a block of 20, claimed
# in a directory shared by all tests (mkdir is atomic) and given back when
# the test ends; a claim whose test died is taken over.  Blocks lie below
# 32768, where the kernel picks no ephemeral ports (ip_local_port_range), so
# a connection's source port cannot take one either.  Called again in the
# same test (even in a subshell: $$ is the test's), it gives the same block.
T_PORTS_DIR=${TMPDIR:-/tmp}/chubby-test-ports
t_port() {
	local i base owner
	mkdir -p "$T_PORTS_DIR"
	for i in $(seq 0 599); do
		base=$(( 20000 + (($$ + i) % 600) * 20 ))
		if mkdir "$T_PORTS_DIR/$base" 2>/dev/null; then
			echo $$ >"$T_PORTS_DIR/$base/pid"
			echo "$base"
			return 0
		fi
		owner=$(cat "$T_PORTS_DIR/$base/pid" 2>/dev/null)
		if [ "$owner" = "$$" ]; then
			echo "$base"
			return 0
		fi
		# Taken: by a live test, or by one that died (its claim goes; the
		# block is tried again next time round, not now, so two tests
		# cannot both take it over).
		if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
			rm -rf "$T_PORTS_DIR/$base"
		fi
	done
	echo "t_port: no free block of ports in $T_PORTS_DIR" >&2
	return 1
}
t_port_release() {
	local f
	for f in "$T_PORTS_DIR"/*/pid; do
		[ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$$" ] && rm -rf "$(dirname "$f")"
	done
	return 0
}

check() { # name command...
	local name=$1; shift
	if "$@" >"$T_DIR/last.out" 2>&1; then
		T_PASSED=$((T_PASSED + 1)); echo "ok - $name"
	else
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name"; sed 's/^/    /' "$T_DIR/last.out" | tail -n 30
	fi
}

# A step that is not itself a test (typing into a terminal, setting up):
# it counts nothing when it works, and one failure when it does not.
step() { # name command...
	local name=$1; shift
	if ! "$@" >"$T_DIR/last.out" 2>&1; then
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name (a step of the test)"; sed 's/^/    /' "$T_DIR/last.out" | tail -n 30
	fi
}

# A check that cannot run here: counted as skipped, never as passed.  Under
# CI every skip fails the run unless tests/skip-allow lists it (tests/run-all).
skip() { # name reason
	T_SKIPPED=$((T_SKIPPED + 1)); echo "skip - $1 # SKIP $2"
}

# Like check, but the command must fail, and its output must match PATTERN.
check_fails() { # name pattern command...
	local name=$1 pat=$2; shift 2
	if "$@" >"$T_DIR/last.out" 2>&1; then
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name (succeeded, expected failure)"; sed 's/^/    /' "$T_DIR/last.out" | tail -n 10
	elif grep -qE -- "$pat" "$T_DIR/last.out"; then
		T_PASSED=$((T_PASSED + 1)); echo "ok - $name"
	else
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name (output does not match /$pat/)"; sed 's/^/    /' "$T_DIR/last.out" | tail -n 10
	fi
}

# Waits up to SECONDS for COMMAND to succeed.
wait_for() { # seconds command...
	local end=$(( $(date +%s) + $1 )); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt $end ] || return 1
		sleep 0.2
	done
}

cell_up() { # dir args...
	local d=$1; shift
	T_CELLS="$T_CELLS $d"
	"$CHUBBY_CELL_BIN" up --dir "$d" "$@"
}

finish() {
	[ -n "${T_WATCHDOG:-}" ] && kill "$T_WATCHDOG" 2>/dev/null
	echo "SUMMARY: passed=$T_PASSED failed=$T_FAILED skipped=$T_SKIPPED"
	[ "$T_FAILED" -eq 0 ]
}

# Runs Python over the JSON object on standard input, bound to `j`: every
# line but the last is executed, the last is evaluated and printed
# (True/False print as 1/0 for tests).
jpy() { # code
	"$PY" -c '
import json, sys
j = json.load(sys.stdin)
lines = sys.argv[1].strip().splitlines()
env = {"j": j}
exec("\n".join(lines[:-1]), env)
r = eval(lines[-1], env)
print(int(r) if isinstance(r, bool) else r)' "$1"
}

# Prints the cell's status as JSON (lockctl --json status).
cell_status() { # conf
	"$LOCKCTL" -C "$1" -t 2000 --json status 2>/dev/null
}

# True when exactly one reachable replica says it is master and every
# reachable replica agrees on master and epoch.
one_master() { # conf
	cell_status "$1" | jpy '
rs = [r for r in j["replicas"] if r["reachable"]]
len([r for r in rs if r.get("role") == "master"]) == 1 and len({r.get("epoch") for r in rs}) == 1' | grep -qx 1
}

# The master's id (empty if none).
master_id() { # conf
	cell_status "$1" | jpy '[r["id"] for r in j["replicas"] if r.get("role") == "master"][0] if [r for r in j["replicas"] if r.get("role") == "master"] else ""'
}

# True when every reachable replica has applied the same index with the
# same log digest and the same state digest (the namespace hashed when
# asked, so a replica that installed a snapshot is checked too, not just
# its copied log digest), and at least N replicas are reachable.
converged() { # conf n
	"$LOCKCTL" -C "$1" -t 2000 --json status --digest 2>/dev/null | jpy "
rs = [r for r in j['replicas'] if r['reachable']]
len(rs) >= $2 and all(r.get('state_digest') for r in rs) and len({(r['applied'], r['digest'], r['state_digest']) for r in rs}) == 1 and rs[0]['applied'] == max(r['committed'] for r in rs)" | grep -qx 1
}

# Fails unless GLOB names at least N files: a "! grep" over logs must not
# pass because the logs are missing.
have_files() { # n glob...
	local n=$1; shift
	[ "$(ls -d "$@" 2>/dev/null | wc -l)" -ge "$n" ]
}

# True when every reachable replica votes (none is rejoining).
all_voters() { # conf
	cell_status "$1" | jpy 'all(r["voter"] for r in j["replicas"] if r["reachable"])' | grep -qx 1
}

# The role replica ID reports.
role_of() { # conf id
	cell_status "$1" | jpy "[r.get('role') for r in j['replicas'] if r['id'] == $2][0]"
}

# Checks that cannot pass on missing input.  `! grep PAT FILES` passes when
# FILES are not there (grep's status 2 is negated like 1), and
# `! cmd | grep -q PAT` passes when cmd fails or prints nothing: such a
# check proves nothing.  These fail loudly instead.

# Succeeds when no FILE has a line matching the basic regular expression
# PATTERN; fails (saying why) when a FILE is missing or empty, when no FILE
# is given (an unmatched glob is passed on as itself, so it is missing), or
# when grep fails otherwise.  Matching lines are printed.
no_match() { # pattern file...
	local pat=$1 f rc=0; shift
	[ $# -gt 0 ] || { echo "no_match: no file to search"; return 1; }
	for f in "$@"; do
		[ -s "$f" ] || { echo "no_match: $f is missing or empty"; return 1; }
	done
	grep -H -- "$pat" "$@" || rc=$?
	case $rc in
	1) return 0 ;;
	0) echo "no_match: /$pat/ found (above)"; return 1 ;;
	*) echo "no_match: grep failed (status $rc)"; return 1 ;;
	esac
}

# Runs COMMAND and prints its standard output; fails when COMMAND fails or
# prints nothing (no output is no evidence).  x=$(nonempty cmd) || ...
nonempty() { # command...
	local out rc=0
	out=$("$@") || rc=$?
	[ $rc -eq 0 ] || { echo "nonempty: '$*' failed (status $rc)" >&2; return 1; }
	[ -n "$out" ] || { echo "nonempty: '$*' printed nothing" >&2; return 1; }
	printf '%s\n' "$out"
}

# Succeeds when COMMAND succeeds, prints something, and no line of its
# output matches the extended regular expression PATTERN: the sound form
# of `! cmd | grep -q PATTERN`.
lacks() { # pattern command...
	local pat=$1 out; shift
	out=$(nonempty "$@") || return 1
	if grep -E -- "$pat" <<<"$out"; then
		echo "lacks: /$pat/ in the output of '$*' (above)"; return 1
	fi
	return 0
}

# Adds the "ok - " and "FAIL - " lines of a sub-checker's output (a Python
# checker run against the cell) to this test's counts, and fails one more
# check unless the output exists, holds at least one "ok - " line, ends
# with the checker's summary line (it ran to its end), and the checker's
# exit status agrees with its FAIL lines.
sub_results() { # output-file summary-regex exit-status
	local out=$1 sum=$2 rc=$3 ok=0 fail=0 why=""
	if [ -s "$out" ]; then
		ok=$(grep -c '^ok - ' "$out")
		fail=$(grep -c '^FAIL - ' "$out")
	else
		why=" $out is missing or empty;"
	fi
	T_PASSED=$((T_PASSED + ok)); T_FAILED=$((T_FAILED + fail))
	[ "$ok" -gt 0 ] || why="$why no 'ok - ' line;"
	grep -qE -- "$sum" "$out" 2>/dev/null || why="$why no summary line /$sum/;"
	if [ "$rc" -eq 0 ]; then
		[ "$fail" -eq 0 ] || why="$why exit status 0 despite FAIL lines;"
	else
		[ "$fail" -gt 0 ] || why="$why exit status $rc without a FAIL line;"
	fi
	check "$(basename "$out"): the checker ran to its end ($ok passed, $fail failed, exit $rc)" \
		_explain "$why"
}
_explain() { [ -z "$1" ] || { echo "$1"; return 1; }; }
