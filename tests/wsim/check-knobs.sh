#!/bin/sh
# check-knobs.sh: the simulator's broken variants (common/simknob.h) exist
# only in its own objects: no shipped binary or library may carry the knob
# symbol, and the simulator must (else this check proves nothing).
top=${abs_top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)/build}
passed=0 failed=0
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
if nm "$top/tests/wsim/chubby-wsim" 2>/dev/null | grep -q chubby_sim_knobs; then
	passed=$((passed + 1))
else
	echo "FAIL: tests/wsim/chubby-wsim has no chubby_sim_knobs: is nm working?"
	failed=$((failed + 1))
fi
echo "SUMMARY: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
