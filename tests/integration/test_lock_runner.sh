#!/bin/bash
# test_lock_runner.sh: `lockctl lock PATH -- COMMAND` on a real cell: the
# command's environment (sequencer, path, generation) and exit status, two
# --elect runners taking turns, and the command stopped when the lock is
# lost: the runner frozen (SIGSTOP) past its session's lease and grace, and
# the whole cell stopped under it.
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

# A short lease, grace period and lock-delay, so that a lost lock shows,
# and is free again, within seconds.
check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s --set lock_delay=1s
export CHUBBY_CELL="$conf"

lc() { "$LOCKCTL" "$@" </dev/null; }
# Seconds since the epoch, with a fraction; the difference of two.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# Whether process PID is gone (or a zombie).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }

check "mkdir app and the lock file" bash -c "'$LOCKCTL' mkdir app </dev/null && '$LOCKCTL' put app/lk x </dev/null"

# ---- environment and exit status ----
env_seen() {
	local out rc seq
	out=$("$LOCKCTL" lock app/lk -- sh -c \
		'echo "SEQ=$CHUBBY_SEQUENCER"; echo "PATH_=$CHUBBY_LOCK_PATH"; echo "GEN=$CHUBBY_LOCK_GENERATION"' \
		</dev/null 2>&1); rc=$?
	echo "$out"
	[ $rc -eq 0 ] || return 1
	grep -qx 'PATH_=/ls/local/app/lk' <<<"$out" && grep -qE '^GEN=[1-9][0-9]*$' <<<"$out" &&
		grep -qE '^SEQ=[0-9a-f]{40,}$' <<<"$out"
}
check "the command sees CHUBBY_SEQUENCER, CHUBBY_LOCK_PATH, CHUBBY_LOCK_GENERATION" env_seen
seq_current() {
	"$LOCKCTL" lock app/lk -- sh -c '"$0" checkseq "$CHUBBY_SEQUENCER" </dev/null >/dev/null && echo current' "$LOCKCTL" \
		</dev/null 2>&1 | tee /dev/stderr | grep -qx current
}
# The command checks its own sequencer with the cell while it runs.
check "the sequencer is current while the command runs" seq_current
gen_matches() {
	local out
	out=$("$LOCKCTL" lock app/lk -- sh -c '"$0" --json checkseq "$CHUBBY_SEQUENCER" </dev/null; echo "GEN=$CHUBBY_LOCK_GENERATION"' "$LOCKCTL" </dev/null)
	echo "$out"
	local want got
	got=$(head -n 1 <<<"$out" | jpy 'j["generation"]'); want=$(sed -n 's/^GEN=//p' <<<"$out")
	[ -n "$want" ] && [ "$got" = "$want" ]
}
check "CHUBBY_LOCK_GENERATION is the sequencer's generation" gen_matches
exit_status() {
	"$LOCKCTL" lock app/lk -- sh -c 'exit 42' </dev/null; [ $? -eq 42 ]
}
check "the command's exit status is lockctl's" exit_status
check "false gives 1, exit 3 gives 3" bash -c "'$LOCKCTL' lock app/lk -- false </dev/null; [ \$? -eq 1 ] && '$LOCKCTL' lock app/lk -- sh -c 'exit 3' </dev/null; [ \$? -eq 3 ]"
check "the lock is free once the command has ended" bash -c "'$LOCKCTL' trylock app/lk </dev/null | grep -qx released"
check "a command not found: 127" bash -c "'$LOCKCTL' lock app/lk -- /nonexistent/cmd </dev/null; [ \$? -eq 127 ]"
check_fails "--no-create: the lock file must exist" "E_NOT_FOUND.*--no-create" "$LOCKCTL" lock --no-create app/none -- true
check_fails "-s with --elect: usage, exit 2" "not with -s" "$LOCKCTL" lock -s --elect app/lk -- true
check_fails "no command after --: usage" "usage: lock" "$LOCKCTL" lock app/lk --
busy_timeout() {
	# A holder, and a runner that gives up after -t.
	"$LOCKCTL" lock app/lk -- sleep 30 </dev/null & local p=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '/ls/local/app/lk'" || { kill $p; return 1; }
	"$LOCKCTL" lock -t 500 app/lk -- echo ran </dev/null >"$T_DIR/to.out" 2>&1; local rc=$?
	kill -TERM $p; wait $p; local rc1=$?
	cat "$T_DIR/to.out"; echo "rc=$rc holder rc=$rc1"
	# SIGTERM is forwarded to sleep, which dies of it: 128+15.
	[ $rc -eq 1 ] && grep -q E_TIMEOUT "$T_DIR/to.out" && ! grep -q ran "$T_DIR/to.out" && [ $rc1 -eq 143 ]
}
check "-t: gives up when the lock does not come; SIGTERM is forwarded" busy_timeout
shared_pair() {
	"$LOCKCTL" lock -s app/lk -- sleep 2 </dev/null & local p=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '\"mode\":\"shared\"'" || { kill $p; return 1; }
	"$LOCKCTL" lock -s -t 1000 app/lk -- true </dev/null; local rc=$?
	wait $p; [ $rc -eq 0 ]
}
check "two shared runners hold the lock at once" shared_pair

# ---- admin views of a runner ----
admin_views() {
	"$LOCKCTL" lock app/lk -- sleep 30 </dev/null & local p=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '/ls/local/app/lk'" || { kill $p; return 1; }
	"$LOCKCTL" lock app/lk -- true </dev/null & local w=$!
	local ok=1
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '\"waiters\":1'" || ok=0
	"$LOCKCTL" --json locks | tee /dev/stderr | jpy '
l = [x for x in j["locks"] if x["path"] == "/ls/local/app/lk"]
len(l) == 1 and l[0]["mode"] == "exclusive" and l[0]["session"] > 0 and l[0]["handle"] > 0' | grep -qx 1 || ok=0
	"$LOCKCTL" --json sessions | tee /dev/stderr | jpy '
s = [x for x in j["sessions"] if any(k["path"] == "/ls/local/app/lk" for k in x["locks"])]
len(s) == 1 and s[0]["lease_ms"] > 0 and s[0]["handles"] >= 1 and s[0]["principal"] != ""' | grep -qx 1 || ok=0
	"$LOCKCTL" locks | tee /dev/stderr | grep -qE '^/ls/local/app/lk +exclusive +[0-9]+ +[0-9]+ +1$' || ok=0
	"$LOCKCTL" sessions | tee /dev/stderr | grep -qE '^[0-9]+ +[^ ]+ +[0-9.]+s +[0-9]+ +/ls/local/app/lk \(exclusive\)$' || ok=0
	kill -TERM $p; wait $p; wait $w
	[ $ok = 1 ]
}
check "sessions and locks show the runner, its lock and its waiter (text and --json)" admin_views

# ---- two --elect runners take turns ----
elect_turns() {
	local log="$T_DIR/elect.log"; : >"$log"
	"$LOCKCTL" lock --elect app/leader -- sh -c "echo start1 >>'$log'; sleep 2; echo end1 >>'$log'" </dev/null & local p1=$!
	wait_for 10 grep -q start1 "$log" || return 1
	# While the first leads, `leader` names it: host:pid.
	local who; who=$("$LOCKCTL" leader app/leader </dev/null)
	echo "leader: $who (runner $p1)"
	[ "$who" = "$(hostname):$p1" ] || return 1
	"$LOCKCTL" lock --elect app/leader -- sh -c "echo start2 >>'$log'; echo end2 >>'$log'" </dev/null & local p2=$!
	wait $p1 || return 1
	wait $p2 || return 1
	cat "$log"
	[ "$(tr '\n' ' ' <"$log")" = "start1 end1 start2 end2 " ]
}
check "two --elect runners: the second runs only after the first ends" elect_turns
check "--elect made the file, and the leader cleared its record when it stepped down" \
	bash -c "'$LOCKCTL' --json stat app/leader </dev/null | grep -q '\"length\":0,'"

# ---- waiting can be interrupted; a deleted lock file stops the command ----
interrupted_wait() {
	"$LOCKCTL" lock app/lk -- sleep 30 </dev/null & local p=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '/ls/local/app/lk'" || { kill $p; return 1; }
	"$LOCKCTL" lock app/lk -- echo ran </dev/null >"$T_DIR/int.out" 2>&1 & local w=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '\"waiters\":1'" || { kill $p $w; return 1; }
	kill -INT $w
	local end=$(( $(date +%s) + 10 ))
	while kill -0 $w 2>/dev/null; do
		[ "$(date +%s)" -lt $end ] || { echo "the waiter did not end"; kill -9 $w; kill $p; return 1; }
		sleep 0.1
	done
	wait $w; local rc=$?
	kill -TERM $p; wait $p
	cat "$T_DIR/int.out"; echo "rc=$rc"
	[ $rc -eq 130 ] && ! grep -q ran "$T_DIR/int.out"
}
check "SIGINT ends the wait for the lock (130, the command not run)" interrupted_wait
deleted_file() {
	"$LOCKCTL" put app/del x </dev/null >/dev/null || return 1
	"$LOCKCTL" lock app/del -- sleep 30 </dev/null >"$T_DIR/del.out" 2>&1 & local p=$!
	wait_for 10 bash -c "'$LOCKCTL' --json locks | grep -q '/ls/local/app/del'" || { kill $p; return 1; }
	"$LOCKCTL" rm app/del </dev/null || { kill $p; return 1; }
	local end=$(( $(date +%s) + 10 ))
	while kill -0 $p 2>/dev/null; do
		[ "$(date +%s)" -lt $end ] || { echo "the runner did not stop"; kill $p; return 1; }
		sleep 0.1
	done
	wait $p; local rc=$?
	cat "$T_DIR/del.out"; echo "rc=$rc"
	[ $rc -eq 1 ] && grep -q 'node was deleted' "$T_DIR/del.out"
}
check "the lock file deleted under the command: it is stopped, exit 1" deleted_file

# ---- the command is stopped when the lock is lost: runner frozen ----
# The command writes its pid, then sleeps; lockctl is stopped past the
# lease (2 s) and grace (3 s), so the cell expires its session; at SIGCONT
# it must see that, stop the command and exit 1; then the lock is free
# (after its 1 s lock-delay) for another client.
frozen_runner() {
	local out="$T_DIR/frozen.out" pidf="$T_DIR/frozen.pid"
	rm -f "$pidf"
	"$LOCKCTL" lock --grace 2000 app/lk -- sh -c "echo \$\$ >'$pidf'; exec sleep 120" </dev/null >"$out" 2>&1 & local p=$!
	wait_for 10 test -s "$pidf" || { kill $p; return 1; }
	local cmdpid; cmdpid=$(cat "$pidf")
	kill -STOP $p
	local stopped; stopped=$(date +%s)
	# The cell must expire the session: wait until its lock is gone from LOCKS.
	if ! wait_for 20 lacks '/ls/local/app/lk' "$LOCKCTL" --json locks; then
		kill -CONT $p; kill $p; return 1
	fi
	# And past lease + grace (5 s) of the runner's own clock as well.
	while [ $(( $(date +%s) - stopped )) -lt 6 ]; do sleep 0.2; done
	# The command is still running meanwhile: that is the safety caveat.
	kill -0 "$cmdpid" || { echo "command already gone"; kill -CONT $p; return 1; }
	kill -CONT $p
	local t0; t0=$(date +%s)
	wait $p; local rc=$?
	cat "$out"; echo "rc=$rc after $(( $(date +%s) - t0 )) s"
	[ $rc -eq 1 ] || return 1
	gone "$cmdpid" || { echo "command $cmdpid still runs"; kill "$cmdpid"; return 1; }
	grep -qE 'lost the lock on /ls/local/app/lk' "$out"
}
check "SIGSTOP past lease+grace, SIGCONT: the command is stopped, exit 1" frozen_runner
check "another client then gets the lock" bash -c "'$LOCKCTL' lock -t 10000 app/lk -- true </dev/null"

# ---- the command is stopped when the cell goes away ----
# No partition: the whole cell is stopped under a runner whose command
# ignores SIGTERM.  Lease 2 s (jeopardy) + kill grace 1 s, with room to
# spare for a slow machine, from the moment the cell is down.
cell_down_runner() {
	local out="$T_DIR/down.out" pidf="$T_DIR/down.pid"
	rm -f "$pidf"
	"$LOCKCTL" lock --grace 1000 app/lk -- sh -c "trap '' TERM; echo \$\$ >'$pidf'; while :; do sleep 0.2; done" \
		</dev/null >"$out" 2>&1 & local p=$!
	wait_for 10 test -s "$pidf" || { kill $p; return 1; }
	local cmdpid; cmdpid=$(cat "$pidf")
	"$CHUBBY_CELL_BIN" down --dir "$cell" >/dev/null 2>&1
	local t0; t0=$(now)
	# lease + grace + kill grace = 6 s; allow 10 s.
	local end=$(( $(date +%s) + 10 ))
	while ! gone "$cmdpid"; do
		[ "$(date +%s)" -lt $end ] || { echo "command still runs"; kill -9 "$cmdpid" $p; return 1; }
		sleep 0.1
	done
	local t1; t1=$(now)
	wait $p; local rc=$?
	cat "$out"; echo "rc=$rc; command stopped $(elapsed "$t0" "$t1") s after the cell went down"
	[ $rc -eq 1 ] && grep -qE 'the session is in jeopardy|the session expired' "$out" &&
		grep -q 'signal 9' "$out"
}
check "the whole cell stopped: the command is stopped within lease+grace+kill grace" cell_down_runner

finish
