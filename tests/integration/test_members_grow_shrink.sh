#!/bin/bash
# test_members_grow_shrink.sh: membership change on real processes
# (docs/PAXOS.md "Membership", docs/OPERATIONS.md "Growing a cell").  A
# 3-replica cell grows to 5 (chubby-cell add: chubbyd --join, lockctl
# members add; each new replica catches up as a learner and is promoted)
# and shrinks back to 3 (lockctl members remove) while a client writes and
# another holds a lock: no acknowledged write is lost, the lock holder's
# session lives on, the master and its epoch stay.  Then the master itself
# is removed: one fail-over, the cell serves, and a libchubby client's
# session and lock survive it (`lockctl lock -- CMD` stops its command when
# its session is in jeopardy, by design, so it holds the lock only through
# the changes that keep the master).
. "$(dirname "$0")/lib.sh"
# About 40 s on an idle machine; the limit is for a loaded one.
t_time_limit 240
DRV="$BUILD/tests/integration/libchubby_driver"
. "$(dirname "$0")/drv.sh"
t_cleanup_drivers() {
	for p in "${DRV_PID[@]}"; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_drivers EXIT

port=$(( $(t_port) + 3 ))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
CELL() { "$CHUBBY_CELL_BIN" "$@" --dir "$cell"; }
FAST=(--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms
	--set heartbeat_interval=100ms --set session_lease=3s --set grace_period=10s)

check "3-replica cell up" cell_up "$cell" --replicas 3 --base-port "$port" "${FAST[@]}"
check "one master" wait_for 20 one_master "$conf"
m=$(master_id "$conf")
epoch() { cell_status "$conf" | jpy '[r["epoch"] for r in j["replicas"] if r.get("role") == "master"][0]'; }
e0=$(epoch)
check "the master ($m) has an epoch" test -n "$e0"
check_fails "a local cell's ids are 1..7" "1..7" CELL add 9

# A lock held throughout by one session.
"$LOCKCTL" -C "$conf" lock /ls/local/lk -- sleep 1000 </dev/null >"$T_DIR/holder.out" 2>&1 &
holder=$!
holder_session() { # [path]
	L --json sessions 2>/dev/null | jpy "
s = [x['session'] for x in j['sessions'] if any(k['path'] == '${1:-/ls/local/lk}' for k in x['locks'])]
s[0] if len(s) == 1 else ''"
}
holder_is() { # session [path]
	[ -n "$1" ] && [ "$(holder_session "${2:-}")" = "$1" ]
}
holder_any() { [ -n "$(holder_session)" ]; }
check "the lock is held" wait_for 20 holder_any
s0=$(holder_session)

# A writer: each acknowledged put is recorded; a put refused during a change
# is only not recorded (never retried under the same name).
writer() {
	local i=0
	while [ ! -f "$T_DIR/stop" ]; do
		i=$((i + 1))
		if "$LOCKCTL" -C "$conf" -t 3000 put "/ls/local/w-$i" "v$i" >/dev/null 2>&1; then
			echo "$i" >>"$T_DIR/acked"
		fi
	done
}
writer &
wpid=$!
acked() { [ "$(wc -l <"$T_DIR/acked" 2>/dev/null || echo 0)" -ge "$1" ]; }
check "the writer's puts are acknowledged" wait_for 20 acked 5

check "grow: add replica 4 (a learner, then a voter)" CELL add
check "grow: add replica 5" CELL add
voters() { L --json members | jpy 'sorted(r["id"] for r in j["members"] if r.get("role") == "voter")'; }
check "5 voters" test "$(voters)" = "[1, 2, 3, 4, 5]"
check_fails "adding a voter again is refused" "already a voter" \
	L members add --id 4 --client "127.0.0.14:$port" --peer "127.0.0.14:$((port + 1))" --status "127.0.0.14:$((port + 2))"
check_fails "removing an unknown replica is refused" "not a member" L members remove 6
check "all 5 converge" wait_for 30 converged "$conf" 5
# A libchubby client that knows all 5 (the config now lists them) holds a
# second lock through the shrink and the master's removal.
export CHUBBY_CELL="$conf"
check "a libchubby client up" drv_start h
check "it opens /ls/local/lk2" drv_ok h open /ls/local/lk2 rwc
check "and locks it" drv_ok h lock /ls/local/lk2
hs=$(drv h session | awk '{print $2}')
check "its session ($hs) holds the lock" holder_is "$hs" /ls/local/lk2
n0=$(wc -l <"$T_DIR/acked")
check "writes go on with 5" wait_for 20 acked $((n0 + 5))

# Shrink: the two founders that are not the master.
set -- $(for i in 1 2 3; do [ "$i" = "$m" ] || echo "$i"; done)
check "shrink: remove replica $1" CELL remove "$1"
# A removed member leaves every running replica's address book, as etcd's
# member remove does: listed as removed (until a restart), no longer
# dialled, and its peer links refused.  Replica $2 is removed by hand and
# left running meanwhile: it never hears that the change was chosen (it is
# no longer in the audience), so it keeps dialling the others.
role_of() { L --json members | jpy "[r['role'] for r in j['members'] if r['id'] == $1][0]"; }
check "replica $1 is listed as removed" test "$(role_of "$1")" = removed
check "shrink: remove replica $2 by hand (lockctl members remove)" L members remove "$2"
is_removed() { [ "$(role_of "$1")" = removed ]; }
check "replica $2 is listed as removed once the change is chosen" wait_for 30 is_removed "$2"
left_book() { # id
	local i
	for i in $m 4 5; do
		grep -q "member $1 left the configuration" "$cell/replica-$i.log" || return 1
	done
}
check "every running replica dropped $2 from its address book" wait_for 10 left_book "$2"
refused() { # id: by every running replica (its links to them go down and it dials again)
	local i
	for i in $m 4 5; do
		grep -q "refusing replica $1 .*removed from the cell" "$cell/replica-$i.log" || return 1
	done
}
check "its peer links are refused by all" wait_for 30 refused "$2"
check "stop replica $2 (chubby-cell finds it removed already)" CELL remove "$2"
check "3 voters left" test "$(voters)" = "$(echo "[$(for i in $m 4 5; do echo $i; done | sort -n | paste -sd, | sed 's/,/, /g')]")"
check "the master did not change" test "$(master_id "$conf")" = "$m"
check "nor its epoch" test "$(epoch)" = "$e0"
check "the lock holder's session is the same" holder_is "$s0"
check "the lock holder runs" kill -0 "$holder"
n1=$(wc -l <"$T_DIR/acked")
check "writes go on with 3" wait_for 20 acked $((n1 + 5))

# A removal that would lose the quorum is refused: with 5 down, removing 4
# would leave the master and a dead replica.  The core counts the members
# that answered within a lease (2 s here), so wait until the master last
# heard from 5 longer ago than that.
check "kill replica 5" CELL kill 5
silent() { L --json members | jpy '[r.get("heard_ms", 0) for r in j["members"] if r["id"] == 5][0] > 3000' | grep -qx 1; }
check "the master has not heard from 5 for over a lease" wait_for 30 silent
check_fails "removing 4 now is refused: the quorum would be lost" "would not include a majority" \
	L members remove 4
check "4 and 5 are still voters" test "$(voters)" = "$(echo "[$(for i in $m 4 5; do echo $i; done | sort -n | paste -sd, | sed 's/,/, /g')]")"
check "restart 5 (a joiner's store: it takes the configuration from its log)" CELL restart 5
check "all 3 converge" wait_for 30 converged "$conf" 3
check "and vote" wait_for 30 all_voters "$conf"

drv_safe() { drv h state | grep -qx "ok SAFE"; }
# Remove the master: it steps down once the change is chosen, the others
# elect one master (one fail-over).
before=$(cat "$cell"/replica-*.log | grep -c "role master")
check "remove the master ($m) by hand" L members remove "$m"
# The removed master learns its removal (it stepped down on it): it says
# so in its log and STATUS, and stays out of the elections that follow.
self_removed() {
	grep -q "this replica ($m) was removed from the cell" "$cell/replica-$m.log" &&
		cell_status "$conf" | jpy "[r.get('role') for r in j['replicas'] if r['id'] == $m][0]" |
		grep -qx removed
}
check "the removed master says it was removed (log, STATUS)" wait_for 30 self_removed
check "stop it" CELL remove "$m"
check "one master among the 2 left" wait_for 30 one_master "$conf"
check "exactly one fail-over: one new master elected" \
	test "$(( $(cat "$cell"/replica-*.log 2>/dev/null | grep -c "role master") - before ))" -eq 1
check "a new epoch" test "$(epoch)" != "$e0"
n2=$(wc -l <"$T_DIR/acked")
check "the cell serves: writes go on" wait_for 30 acked $((n2 + 5))
check "its session is SAFE after the fail-over" wait_for 30 drv_safe
check "it is the same session" test "$(drv h session)" = "ok $hs"
check "and it still holds the lock (at the new master)" wait_for 20 holder_is "$hs" /ls/local/lk2

touch "$T_DIR/stop"
wait "$wpid"
lost() {
	local i miss=0
	while read -r i; do
		[ "$(L cat "/ls/local/w-$i" 2>/dev/null)" = "v$i" ] || { echo "lost w-$i"; miss=1; }
	done <"$T_DIR/acked"
	return $miss
}
check "every acknowledged write is there ($(wc -l <"$T_DIR/acked") of them)" lost
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check "the libchubby client quits" drv_stop h
check "cell down" CELL down
finish
