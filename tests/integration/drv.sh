# drv.sh: long-lived libchubby clients driven through a FIFO, for the shell
# integration tests (sourced after lib.sh, with DRV set to the driver:
# tests/integration/libchubby_driver).
#   drv_start NAME [driver options]: a shell-mode client whose answers and
#     events go to $T_DIR/NAME.out; true once it says "ready".
#   drv NAME COMMAND...: sends one command and prints its answer line ("ok
#     ..." or "err STATUS ..."), waiting up to $DRV_WAIT seconds.
#   drv_ok NAME COMMAND...: the answer is ok.
#   expect NAME REGEX COMMAND...: COMMAND's output must match REGEX (a test).
#   drv_stop NAME: quit the client and wait for it.
# The test's EXIT trap should kill "${DRV_PID[@]}" (stopped ones too).
declare -A DRV_FD DRV_PID
DRV_WAIT=40
drv_start() { # name [options...]
	local n=$1; shift
	mkfifo "$T_DIR/$n.in"
	"$DRV" "$@" shell <"$T_DIR/$n.in" >"$T_DIR/$n.out" 2>&1 &
	DRV_PID[$n]=$!
	exec {fd}>"$T_DIR/$n.in"
	DRV_FD[$n]=$fd
	wait_for 20 grep -q '^ready\|^err' "$T_DIR/$n.out" && grep -q '^ready' "$T_DIR/$n.out"
}
drv_answers() { grep -c '^ok\|^err' "$T_DIR/$1.out"; }
drv() { # name command...
	local n=$1; shift
	local before end
	before=$(drv_answers "$n")
	echo "$*" >&"${DRV_FD[$n]}"
	end=$(( $(date +%s) + DRV_WAIT ))
	while [ "$(drv_answers "$n")" -le "$before" ]; do
		[ "$(date +%s)" -lt $end ] || { echo "no answer from $n to: $*"; return 1; }
		sleep 0.05
	done
	grep '^ok\|^err' "$T_DIR/$n.out" | sed -n "$((before + 1))p"
}
drv_ok() { drv "$@" | grep -q '^ok'; }
expect() { # name regex command...
	local name=$1 pat=$2 out; shift 2
	out=$("$@" 2>&1)
	if echo "$out" | grep -qE -- "$pat"; then
		T_PASSED=$((T_PASSED + 1)); echo "ok - $name"
	else
		T_FAILED=$((T_FAILED + 1)); echo "FAIL - $name (output does not match /$pat/)"
		echo "$out" | tail -n 10 | sed 's/^/    /'
	fi
}
drv_stop() { # name
	local fd=${DRV_FD[$1]}
	{ echo quit >&"$fd"; } 2>/dev/null
	exec {fd}>&-
	wait "${DRV_PID[$1]}" 2>/dev/null
}
