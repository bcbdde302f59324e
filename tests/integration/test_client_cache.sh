#!/bin/bash
# test_client_cache.sh: libchubby's cache never answers with stale data
# (issue 14, docs/CLIENT.md "The cache"), through
# tests/integration/libchubby_driver against a real 5-replica cell:
#  (a) an ephemeral node closed (reaped) and created again by another
#      session: the first session's re-open reads the new node, not its
#      cached copy of the old one;
#  (b) a client stopped past its lease while its threads read a cached
#      file: no read that began after another client's write was
#      acknowledged returns the value from before it;
#  (c) the same with the client's CLOCK_MONOTONIC held back over the stop,
#      as a suspended machine's is (tests/integration/suspend_clock.c).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
t_time_limit 240

DRV="$BUILD/tests/integration/libchubby_driver"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"

. "$(dirname "$0")/drv.sh"
READER_PID=""
t_cleanup_drivers() {
	for p in "${DRV_PID[@]}" $READER_PID; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_drivers EXIT

# A short session lease so that a stopped client's lease runs out quickly;
# the grace period is the client's only (the master ends a session when
# its lease does).
check "cell comes up with 5 replicas (2 s session lease)" cell_up "$cell" --replicas 5 \
	--base-port "$port" --set session_lease=2s --set grace_period=10s
check "one master" wait_for 30 one_master "$conf"
check "client A up" drv_start a
check "client B up" drv_start b

# ---- (a) the issue's scenario: service registration with an ephemeral node ----
E=/ls/local/e
expect "A creates $E ephemeral with v1" '^ok created=1' drv a open $E rwce 0 v1
expect "A reads v1 (now cached)" '^ok v1 ' drv a cat $E
check "A closes its handle (the node is reaped)" drv_ok a close $E
expect "B creates $E again with v2" '^ok created=1' drv b open $E rwc 0 v2
inst_b=$(drv b stat $E | sed -n 's/^ok instance=\([0-9]*\).*/\1/p')
check "B's node has an instance" test -n "$inst_b"
check "A re-opens $E" drv_ok a open $E rw
expect "A reads v2 with the new instance $inst_b, not its cached v1" "^ok v2 gen=[0-9]+ ms=[0-9]+ inst=$inst_b\$" \
	drv a cat $E
# The same through a re-open that finds the node (no CREATE).
check "A closes again" drv_ok a close $E
check "B deletes $E" drv_ok b rm $E
check "B closes $E" drv_ok b close $E
expect "B creates $E again with v3" '^ok created=1' drv b open $E rwc 0 v3
check "A re-opens $E without CREATE" drv_ok a open $E r
expect "A reads v3" '^ok v3 ' drv a cat $E
drv_stop a

# ---- (b) a reader stopped past its lease; (c) the same, suspended ----
# Each round: a fresh reader process caches F and reads it from 4 threads;
# it is SIGSTOPped; B writes F (the master waits out the reader's lease,
# which ends its session); B's acknowledgment time is noted; SIGCONT.  A
# read that began after the acknowledgment and returned the old value is
# stale.  (Times are CLOCK_BOOTTIME ms from both processes.)  In (c) the
# reader runs under suspend_clock.so, so that its CLOCK_MONOTONIC resumes
# where it stopped, as a suspended machine's does.
F=/ls/local/f
value=0
check "B writes $value to $F" drv_ok b put $F $value
# reader_rounds LABEL ROUNDS [VAR=VALUE...]: the rounds, with the reader run
# under env VAR=VALUE...; one check at the end.
reader_rounds() {
	local label=$1 rounds=$2 stale=0 r out ans at bad t0 after
	shift 2
	for r in $(seq 1 "$rounds"); do
		value=$((value + 1))
		out="$T_DIR/reader-$label-$r.out"
		rm -f "$T_DIR/suspended-ms"
		env "$@" "$DRV" readloop $F 4 12 >"$out" 2>&1 &
		READER_PID=$!
		if ! wait_for 20 grep -q '^reading' "$out"; then
			echo "FAIL - $label round $r: the reader did not start"; T_FAILED=$((T_FAILED + 1))
			tail -5 "$out" | sed 's/^/    /'
			kill "$READER_PID" 2>/dev/null; wait "$READER_PID" 2>/dev/null
			continue
		fi
		# Every thread is reading the cached copy.
		wait_for 10 bash -c "[ \$(grep -c '^spin' '$out') -ge 4 ]"
		t0=$(date +%s%3N)
		kill -STOP "$READER_PID"
		ans=$(drv b put $F "$value")
		at=$(echo "$ans" | sed -n 's/^ok gen=[0-9]* at=\([0-9]*\)$/\1/p')
		echo $(( $(date +%s%3N) - t0 )) >"$T_DIR/suspended-ms"
		kill -CONT "$READER_PID"
		if [ -z "$at" ]; then
			echo "FAIL - $label round $r: B's write: $ans"; T_FAILED=$((T_FAILED + 1))
			kill "$READER_PID" 2>/dev/null; wait "$READER_PID" 2>/dev/null
			continue
		fi
		if ! wait_for 30 grep -q '^done' "$out"; then
			# A reader that died or hung read nothing after the write:
			# its silence must not count as a round without stale reads.
			echo "FAIL - $label round $r: the reader did not finish"; T_FAILED=$((T_FAILED + 1))
			tail -5 "$out" | sed 's/^/    /'
			kill -9 "$READER_PID" 2>/dev/null; wait "$READER_PID" 2>/dev/null
			READER_PID=""
			continue
		fi
		kill "$READER_PID" 2>/dev/null
		wait "$READER_PID" 2>/dev/null
		READER_PID=""
		# Every thread must be accounted for: it read (or was refused)
		# after the acknowledgment, or its session's end stopped it (a
		# read begun before the write may end so).  A thread with neither
		# left no evidence either way.
		after=$(awk -v at="$at" '($1 == "run" && $5 > at) || ($1 == "readerr" &&
			($4 > at || $3 == "E_SESSION_EXPIRED" || $3 == "E_CANCELLED")) { seen[$2] = 1 }
			END { n = 0; for (t in seen) n++; print n }' "$out")
		if [ "$after" -ne 4 ]; then
			echo "FAIL - $label round $r: $after of 4 threads read or stopped after the write acknowledged at $at"
			T_FAILED=$((T_FAILED + 1)); tail -12 "$out" | sed 's/^/    /'
			continue
		fi
		# run THREAD VALUE FIRST LAST COUNT: a run of the old value whose
		# last read began after the acknowledgment is a stale read.
		bad=$(awk -v at="$at" -v new="$value" '$1 == "run" && $3 != new && $5 > at {
			printf "thread %s read %s at %s, %d ms after %s was acknowledged at %s\n", $2, $3, $5, $5 - at, new, at }' "$out")
		if [ -n "$bad" ]; then
			stale=$((stale + 1))
			echo "    $label round $r: stale reads:"; echo "$bad" | sed 's/^/      /'
		fi
	done
	check "$label: no read that began after a write was acknowledged returned the old value ($stale of $rounds rounds stale)" \
		test "$stale" -eq 0
}
reader_rounds stopped 6

if ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/suspend_clock.so" "$(dirname "$0")/suspend_clock.c" -ldl \
	2>"$T_DIR/cc.err"; then
	reader_rounds suspended 6 LD_PRELOAD="$T_DIR/suspend_clock.so" \
		SUSPEND_CLOCK_FILE="$T_DIR/suspended-ms"
else
	echo "FAIL - cannot build suspend_clock.so:"; sed 's/^/    /' "$T_DIR/cc.err"
	T_FAILED=$((T_FAILED + 1))
fi
drv_stop b

finish
