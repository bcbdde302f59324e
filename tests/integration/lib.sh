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

T_PASSED=0
T_FAILED=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chubby-it-XXXXXX")
T_CELLS=""

t_cleanup() {
	for d in $T_CELLS; do "$CHUBBY_CELL_BIN" down --dir "$d" >/dev/null 2>&1 || true; done
	if [ "$T_FAILED" -eq 0 ] && [ -z "${CHUBBY_TEST_KEEP:-}" ]; then rm -rf "$T_DIR"; else echo "kept $T_DIR"; fi
}
trap t_cleanup EXIT

# A hard limit for the whole test: a hung step must not hang CI.
t_time_limit() { # seconds
	( sleep "$1"; echo "FAIL: time limit of $1 s reached"; kill -TERM $$ ) 2>/dev/null &
	T_WATCHDOG=$!
}

# A base port unlikely to be in use: each test gets its own range.
t_port() {
	echo $(( 20000 + ($$ % 2000) * 10 ))
}

check() { # name command...
	local name=$1; shift
	if "$@" >"$T_DIR/last.out" 2>&1; then
		T_PASSED=$((T_PASSED + 1)); echo "ok - $name"
	else
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name"; sed 's/^/    /' "$T_DIR/last.out" | tail -n 30
	fi
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
	local limit=$(( $1 * 10 )) i=0; shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt $limit ] || return 1; sleep 0.1
	done
}

cell_up() { # dir args...
	local d=$1; shift
	T_CELLS="$T_CELLS $d"
	"$CHUBBY_CELL_BIN" up --dir "$d" "$@"
}

finish() {
	[ -n "${T_WATCHDOG:-}" ] && kill "$T_WATCHDOG" 2>/dev/null
	echo "SUMMARY: passed=$T_PASSED failed=$T_FAILED"
	[ "$T_FAILED" -eq 0 ]
}
