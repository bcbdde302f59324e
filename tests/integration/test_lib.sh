#!/bin/bash
# test_lib.sh: the checks of lib.sh fail on missing input.  A check such as
# `! grep PAT replica-*.log` or `! cmd | grep -q PAT` passes when the logs
# are not there or cmd printed nothing; no_match, lacks, nonempty and
# sub_results must not.  No cell: plain files in T_DIR.
. "$(dirname "$0")/lib.sh"
t_time_limit 30

d="$T_DIR/logs"
mkdir -p "$d" "$T_DIR/empty"
printf 'replica started\nall well\n' >"$d/replica-1.log"
printf 'replica started\nCONSISTENCY CHECK FAILED at 7\n' >"$d/replica-2.log"
: >"$d/replica-3.log"

# no_match
check "no_match: a clean file passes" no_match 'CONSISTENCY CHECK FAILED' "$d/replica-1.log"
check_fails "no_match: a matching line fails" "found" no_match 'CONSISTENCY CHECK FAILED' "$d"/replica-[12].log
check_fails "no_match: an unmatched glob (no logs) fails" "missing" no_match 'X' "$T_DIR/empty"/replica-*.log
check_fails "no_match: a missing file among present ones fails" "missing" \
	no_match 'X' "$d/replica-1.log" "$d/replica-9.log"
check_fails "no_match: an empty file fails" "missing or empty" no_match 'X' "$d/replica-3.log"
check_fails "no_match: no file at all fails" "no file" no_match 'X'
check "have_files counts what is there" have_files 3 "$d"/replica-*.log
not() { ! "$@"; }
check "have_files: too few files fail" not have_files 4 "$d"/replica-*.log
check "have_files: no files fail" not have_files 1 "$T_DIR/empty"/replica-*.log

# nonempty
check "nonempty: output passes through" bash -c "$(declare -f nonempty); [ \"\$(nonempty echo hi)\" = hi ]"
check_fails "nonempty: a failing command fails" "failed \(status 3\)" nonempty bash -c 'echo x; exit 3'
check_fails "nonempty: no output fails" "printed nothing" nonempty true

# lacks
check "lacks: output without the pattern passes" lacks 'eph' printf 'a\nb\n'
check_fails "lacks: the pattern in the output fails" "in the output" lacks '^eph$' printf 'a\neph\n'
check_fails "lacks: a failing command fails (where ! cmd | grep passes)" "failed" lacks 'eph' false
check_fails "lacks: no output fails" "printed nothing" lacks 'eph' true

# sub_results, in a subshell: its verdict is the number of failures it adds.
sub() { ( T_PASSED=0 T_FAILED=0; sub_results "$@" >/dev/null; echo "$T_FAILED" ); }
printf 'ok - a\nok - b\nx_checks: 0 failed\n' >"$T_DIR/good.out"
printf 'ok - a\nFAIL - b\nx_checks: 1 failed\n' >"$T_DIR/bad.out"
printf 'ok - a\n' >"$T_DIR/cut.out"
printf 'x_checks: 0 failed\n' >"$T_DIR/none.out"
check "sub_results: a clean run adds no failure" test "$(sub "$T_DIR/good.out" '^x_checks: ' 0)" -eq 0
check "sub_results: a FAIL line counts once" test "$(sub "$T_DIR/bad.out" '^x_checks: ' 1)" -eq 1
check "sub_results: a missing output fails" test "$(sub "$T_DIR/nothing.out" '^x_checks: ' 0)" -ge 1
check "sub_results: a checker cut short (no summary) fails" test "$(sub "$T_DIR/cut.out" '^x_checks: ' 1)" -ge 1
check "sub_results: no check run fails" test "$(sub "$T_DIR/none.out" '^x_checks: ' 0)" -ge 1
check "sub_results: exit 0 despite a FAIL line fails" test "$(sub "$T_DIR/bad.out" '^x_checks: ' 0)" -ge 2
check "sub_results: a non-zero exit without a FAIL line fails" test "$(sub "$T_DIR/good.out" '^x_checks: ' 1)" -ge 1
finish
