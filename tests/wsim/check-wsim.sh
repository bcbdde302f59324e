#!/bin/sh
# check-wsim.sh: the whole-cell simulator's two promises, checked.
#  1. Its broken variants (common/simknob.h) exist only in its own objects
#     (and in the Paxos simulator's, tests/sim):
#     no shipped binary or library carries the knob symbol, and the
#     simulator does (else this check proves nothing).
#  2. It draws no randomness and reads no clock of its own (one seed drives
#     everything): its sources call none of rand/random/time/clock_gettime/
#     gettimeofday (test_wsim.c, the CI harness, may time itself).
top=${abs_top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)/build}
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
passed=0 failed=0
bad='(^|[^_a-z])(s?rand|random|srandom|drand48|time|clock_gettime|gettimeofday|clock)[[:space:]]*\('
for f in "$src"/tests/wsim/wsim*.c "$src"/tests/wsim/wsim*.h "$src"/tests/wsim/chubby-wsim.c \
    "$src"/tests/simlib/simlib.c "$src"/tests/simlib/simlib.h; do
	[ -f "$f" ] || { echo "FAIL: $f is missing"; failed=$((failed + 1)); continue; }
	if grep -nE "$bad" "$f"; then
		echo "FAIL: $f draws randomness or reads a clock (above)"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
for f in server/chubbyd tools/lockctl/lockctl libchubby/.libs/libchubby.so; do
	p="$top/$f"
	[ -f "$p" ] || { echo "FAIL: $p is not built"; failed=$((failed + 1)); continue; }
	if nm "$p" 2>/dev/null | grep -q chubby_sim_knobs || nm -D "$p" 2>/dev/null | grep -q chubby_sim_knobs; then
		echo "FAIL: $f carries chubby_sim_knobs"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
# The Paxos simulator (tests/sim) has its own knob-built objects too.
for f in tests/wsim/chubby-wsim tests/sim/chubby-sim; do
	if nm "$top/$f" 2>/dev/null | grep -q chubby_sim_knobs; then
		passed=$((passed + 1))
	else
		echo "FAIL: $f has no chubby_sim_knobs: is nm working?"
		failed=$((failed + 1))
	fi
done
echo "SUMMARY: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
