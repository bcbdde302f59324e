#!/bin/bash
# test_leader_clear.sh: the cell clears a leader record when the lock it was
# written under is freed, however that happens (issue 20, "--identity TEXT
# for elections; the identity is cleared when the leader steps down or its
# session ends").  A leader killed with SIGKILL never steps down: its
# session ends at the master when its lease runs out, and then the record
# must be gone from the file too, not only hidden by `leader`: cached
# readers see the clear, watchers get an event, and a record overwritten by
# a plain write is left alone.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

# A short lease and grace period, so that a lost session ends within seconds.
check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s --set lock_delay=1s
export CHUBBY_CELL="$conf"

# json_is CODE lockctl-args...: the --json answer, bound to j, makes CODE true.
json_is() {
	local code=$1 out; shift
	out=$("$LOCKCTL" --json "$@" </dev/null); echo "$out"
	jpy "$code" <<<"$out" | grep -qx 1
}
leader_is() { # path identity
	local out; out=$("$LOCKCTL" leader "$1" </dev/null 2>&1); echo "$out"; [ "$out" = "$2" ]
}
leader_none() { # path: exit 4 and "no leader"
	local out rc; out=$("$LOCKCTL" leader "$1" </dev/null 2>&1); rc=$?
	echo "$out (exit $rc)"; [ $rc -eq 4 ] && [ "$out" = "no leader" ]
}
# elect NAME PATH IDENTITY: a `lockctl lock --elect` leader that runs
# `sleep 1000` until it is killed.
elect() {
	"$LOCKCTL" lock --elect --identity "$3" "$2" -- sleep 1000 >"$T_DIR/elect-$1.out" 2>&1 </dev/null &
	eval "pid_$1=\$!"
}
# crash NAME: kill -9 the runner, then its command (no step-down: the
# runner dies first, or it might see its command end and step down).
crash() {
	local p kids; eval "p=\$pid_$1"
	kids=$(pgrep -P "$p")
	kill -KILL "$p"; wait "$p" 2>/dev/null
	[ -z "$kids" ] || kill -KILL $kids 2>/dev/null
	true
}

# ---- a leader killed with SIGKILL: the record goes when its session ends ----
# A scripted session that reads the file (and so caches it) before the
# crash, and a leader watch, both from before the leader is killed.
coproc K { exec "$LOCKCTL" script 2>/dev/null; }
k_in=${K[1]}; k_out=${K[0]}
kask() { # command pattern: one command to the session K; its answer must match
	printf '%s\n' "$1" >&"$k_in" || return 1
	IFS= read -r -t 30 KANSWER <&"$k_out" || { echo "no answer to: $1"; return 1; }
	echo "$1 -> $KANSWER"; grep -qE -- "$2" <<<"$KANSWER"
}
elect x svc/leader X
check "lock --elect --identity X svc/leader leads" wait_for 30 leader_is svc/leader X
check "the file holds X's record" json_is 'j["contents"].startswith("X\nlock_generation ")' cat svc/leader
check "a scripted session reads (and caches) X's record" kask 'cat svc/leader' 'contents="X\\nlock_generation [0-9]+\\n"$'
"$LOCKCTL" leader --watch svc/leader >"$T_DIR/watch.out" 2>&1 </dev/null & wpid=$!
check "leader --watch prints X first" wait_for 30 grep -qx X "$T_DIR/watch.out"
step "kill -9 the leader X and its command" crash x
check "once X's session has ended: leader svc/leader says no leader (exit 4)" \
	wait_for 30 leader_none svc/leader
check "... and the file is empty: the cell cleared X's record" \
	wait_for 30 json_is 'j["length"] == 0' cat svc/leader
check "the clear advanced the content generation (the record's write, then the clear)" \
	json_is 'j["content_generation"] >= 2' stat svc/leader
check "the scripted session that cached the record reads it cleared" kask 'cat svc/leader' '^ok .* length=0 contents=""$'
check "leader --watch saw the crash: its last line is no leader" \
	wait_for 30 bash -c "[ \"\$(tail -n 1 '$T_DIR/watch.out')\" = 'no leader' ]"
kill -INT $wpid; wait $wpid 2>/dev/null
check "the watch printed X, then no leader, once each" \
	bash -c "cat '$T_DIR/watch.out'; [ \"\$(tr '\n' , <'$T_DIR/watch.out')\" = 'X,no leader,' ]"
exec {k_in}>&-; wait "$K_PID" 2>/dev/null

# ---- the next leader's record is cleared the same way ----
elect y svc/leader Y
check "Y leads next (after X's lock-delay)" wait_for 30 leader_is svc/leader Y
step "kill -9 Y" crash y
check "once Y's session has ended, the file is empty again" \
	wait_for 30 json_is 'j["length"] == 0' cat svc/leader

# ---- a plain write after the record takes it over: it is left alone ----
elect z svc/other Z
check "Z leads svc/other" wait_for 30 leader_is svc/other Z
check "someone else writes svc/other while Z holds the lock" "$LOCKCTL" put svc/other kept
step "kill -9 Z" crash z
check "once Z's session has ended: no leader" wait_for 30 leader_none svc/other
check "the plain write is still there: it took the record's place, so nothing was cleared" \
	json_is 'j["contents"] == "kept"' cat svc/other

finish
