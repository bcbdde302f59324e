#!/bin/bash
# test_replication.sh: Paxos with real processes: election, kill -9 of the
# master, catch-up by log and by snapshot, a wiped replica rejoining as a
# non-voter, a paused master losing its lease, loss of majority, and
# cells of 1, 3 and 7 replicas.
. "$(dirname "$0")/lib.sh"
t_time_limit 400

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
# Short leases keep the test quick; a small snapshot interval makes a
# replica that was down catch up from a snapshot.
FAST=(--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms
	--set heartbeat_interval=100ms --set snapshot_interval=200 --set log_keep=50 --set checksum_interval=50)

check "5-replica cell comes up and elects a master" cell_up "$cell" --replicas 5 --base-port "$port" "${FAST[@]}"
check "exactly one master; all agree on master and epoch" wait_for 10 one_master "$conf"
epoch1=$(cell_status "$conf" | jpy 'j["epoch"]')
m1=$(master_id "$conf")
check "writes commit: 300 barriers through the log" L sync -n 300 -w 16
check "all 5 replicas apply the same log (equal digests)" wait_for 10 converged "$conf" 5

check "kill -9 the master (replica $m1)" "$CHUBBY_CELL_BIN" kill "$m1" --dir "$cell"
check "a new master is elected" wait_for 20 one_master "$conf"
epoch2=$(cell_status "$conf" | jpy 'j["epoch"]')
m2=$(master_id "$conf")
check "the new master ($m2) has a higher epoch ($epoch2 > $epoch1)" test "$epoch2" -gt "$epoch1" -a "$m2" != "$m1"
# One barrier at a time: each fills a slot of its own (batched barriers would share
# slots), so the restarted replica is left more than two snapshots behind.
check "writes resume under the new master" L sync -n 600 -w 1
check "restart the killed replica" "$CHUBBY_CELL_BIN" restart "$m1" --dir "$cell"
check "it catches up (past two snapshots) to equal digests" wait_for 20 converged "$conf" 5
check "it installed a snapshot" grep -q "installed a snapshot" "$cell/replica-$m1.log"

# A replica whose data directory is wiped must not vote until it caught up.
f=$(cell_status "$conf" | jpy '[r["id"] for r in j["replicas"] if r.get("role") == "follower"][0]')
check "stop follower $f and wipe its data" bash -c "'$CHUBBY_CELL_BIN' stop $f --dir '$cell' && rm -rf '$cell/data/replica-$f'"
check "writes go on without it" L sync -n 100 -w 16
check "restart the wiped replica" "$CHUBBY_CELL_BIN" restart "$f" --dir "$cell"
check "it rejoined as a non-voting member" grep -q "non-voting" "$cell/replica-$f.log"
check "it catches up to equal digests" wait_for 20 converged "$conf" 5
check "and votes again" wait_for 20 all_voters "$conf"

# Pause the master past its lease: the others elect a new master; when the
# old one wakes, it must not act as master (its lease is over).
m3=$(master_id "$conf")
e3=$(cell_status "$conf" | jpy 'j["epoch"]')
pid=$(cat "$cell/replica-$m3.pid")
check "SIGSTOP the master (replica $m3)" kill -STOP "$pid"
check "the others elect a new master while it sleeps" wait_for 20 bash -c "m=\$('$LOCKCTL' -C '$conf' -t 1000 --json status | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[\"epoch\"] or 0)'); [ \"\$m\" -gt $e3 ]"
check "SIGCONT the old master" kill -CONT "$pid"
check "exactly one master afterwards" wait_for 20 one_master "$conf"
# An empty master_id (no answer, no master) must not pass as "not $m3".
woken_not_master() { local m; m=$(nonempty master_id "$conf") || return 1; echo "master: $m"; [ -n "$m3" ] && [ "$m" != "$m3" ]; }
check "the woken replica is not master" woken_not_master
check "writes still commit" L sync -n 50 -w 8
check "all converge" wait_for 20 converged "$conf" 5

# Majority: with 2 of 5 down writes commit; with 3 down they cannot.
m4=$(master_id "$conf")
downs=$(cell_status "$conf" | jpy "' '.join(str(r['id']) for r in j['replicas'] if r['id'] != $m4)")
set -- $downs
check "kill two followers ($1 $2)" bash -c "'$CHUBBY_CELL_BIN' kill $1 --dir '$cell' && '$CHUBBY_CELL_BIN' kill $2 --dir '$cell'"
check "writes commit with 3 of 5" L sync -n 50 -w 8
check "kill a third ($3)" "$CHUBBY_CELL_BIN" kill "$3" --dir "$cell"
check_fails "without a majority no write commits" "E_|unavailable|no answer|cannot reach the master" "$LOCKCTL" -C "$conf" -t 4000 sync
check "restart one of them ($1)" "$CHUBBY_CELL_BIN" restart "$1" --dir "$cell"
check "writes commit again" wait_for 30 "$LOCKCTL" -C "$conf" -t 3000 sync
check "restart the rest" bash -c "'$CHUBBY_CELL_BIN' restart $2 --dir '$cell' && '$CHUBBY_CELL_BIN' restart $3 --dir '$cell'"
check "all 5 converge" wait_for 30 converged "$conf" 5
no_check_failure() { have_files 5 "$cell"/replica-*.log && no_match 'CONSISTENCY CHECK FAILED' "$cell"/replica-*.log; }
check "no replica reported a consistency-check failure (in its 5 logs)" no_check_failure
checks_everywhere() {
	cell_status "$conf" | jpy 'len(j["replicas"]) == 5 and all((r.get("checks") or 0) > 0 for r in j["replicas"])' | grep -qx 1
}
check "writes after the restarts (so every replica meets a consistency check)" L sync -n 120 -w 8
check "consistency checks ran and agreed on every replica" wait_for 20 checks_everywhere
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"

# Cells of other sizes.
for n in 1 3 7; do
	c="$T_DIR/cell$n"
	check "$n-replica cell elects a master" cell_up "$c" --replicas "$n" --base-port $((port + 3)) "${FAST[@]}"
	check "$n-replica cell commits writes" "$LOCKCTL" -C "$c/chubby.conf" -t 5000 sync -n 100 -w 8
	check "$n-replica cell converges" wait_for 10 converged "$c/chubby.conf" "$n"
	check "$n-replica cell down" "$CHUBBY_CELL_BIN" down --dir "$c"
done

finish
