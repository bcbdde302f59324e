#!/bin/bash
# test_members.sh: replacing a dead replica by a fresh machine through the
# log (lockctl members replace): the dead replica's id moves to a new
# address, the new machine starts with an empty store, rejoins without a
# vote, catches up from a snapshot, votes, and counts in the quorum; the old
# machine, back with its old address and a valid certificate, is refused.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(( $(t_port) + 3 ))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
FAST=(--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms
	--set heartbeat_interval=100ms --set snapshot_interval=100 --set log_keep=20)

check "5-replica cell up" cell_up "$cell" --replicas 5 --base-port "$port" "${FAST[@]}"
check "one master" wait_for 20 one_master "$conf"
check "a file written before" L put /ls/local/before v1
# One barrier at a time: each takes a slot of its own (barriers proposed in one
# loop turn share a slot), so 300 of them pass snapshot_interval (100) three times.
check "300 barriers (snapshots, log truncated)" L sync -n 300 -w 1
m=$(master_id "$conf")
v=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] != $m][0]")
new=127.0.0.23
check "replica $v dies and its disk is gone" bash -c "'$CHUBBY_CELL_BIN' kill $v --dir '$cell' && rm -rf '$cell/data/replica-$v'"
check_fails "only the superuser may change members" "E_PERMISSION|superuser" \
	env CHUBBY_CERT="$cell/tls/client-alice.crt" CHUBBY_KEY="$cell/tls/client-alice.key" \
	bash -c "'$CERTS' client --dir '$cell/tls' --name alice >/dev/null && '$LOCKCTL' -C '$conf' members replace $v --client $new:$port --peer $new:$((port + 1)) --status $new:$((port + 2))" \
	2>/dev/null
check_fails "an address another member uses is refused" "E_EXISTS|replica" \
	L members replace "$v" --client "127.0.0.1$m:$port" --peer "$new:$((port + 1))" --status "$new:$((port + 2))"
check_fails "an unknown replica id is refused" "E_NOT_FOUND|not a member" \
	L members replace 9 --client "$new:$port" --peer "$new:$((port + 1))" --status "$new:$((port + 2))"
check "a certificate for replica $v on the new machine ($new)" "$CERTS" replica --dir "$cell/tls" --id "$v" --ip "$new"
check "members replace $v moves it to $new through the log" \
	L members replace "$v" --client "$new:$port" --peer "$new:$((port + 1))" --status "$new:$((port + 2))"
check "every live replica lists the new address" wait_for 10 bash -c "'$LOCKCTL' -C '$conf' --json members | grep -q '\"peer\":\"$new:$((port + 1))\"'"

# The new machine's config names its new address.
sed "s|^replica $v client=[^ ]* peer=[^ ]* status=[^ ]*|replica $v client=$new:$port peer=$new:$((port + 1)) status=$new:$((port + 2))|" "$conf" >"$cell/new.conf"
check "the new config differs only in replica $v's line" test "$(diff "$conf" "$cell/new.conf" | grep -c '^[<>]')" -eq 2
start_new() {
	setsid "$CHUBBYD" -c "$cell/new.conf" -i "$v" >>"$cell/replica-$v.log" 2>&1 </dev/null &
	echo $! >"$cell/replica-$v.pid"
}
check "start replica $v on the new machine with an empty store" start_new
check "it rejoins as a non-voting member" wait_for 10 grep -q "non-voting" "$cell/replica-$v.log"
check "it catches up from a snapshot" wait_for 30 grep -q "installed a snapshot" "$cell/replica-$v.log"
check "all 5 converge (seen through the new config)" wait_for 30 converged "$cell/new.conf" 5
check "and it votes" wait_for 30 all_voters "$cell/new.conf"
check "the file written before is there" bash -c "'$LOCKCTL' -C '$cell/new.conf' cat /ls/local/before | grep -qx v1"

# With two of the old replicas down, the quorum needs the new one.
m=$(master_id "$cell/new.conf")
set -- $(cell_status "$cell/new.conf" | jpy "' '.join(str(r['id']) for r in j['replicas'] if r['id'] not in ($m, $v))")
a=$1 b=$2
check "stop replicas $a and $b" bash -c "'$CHUBBY_CELL_BIN' stop $a --dir '$cell' && '$CHUBBY_CELL_BIN' stop $b --dir '$cell'"
check "writes commit with the new replica in the quorum" "$LOCKCTL" -C "$cell/new.conf" -t 10000 sync -n 50 -w 8
check "restart them (their config file still names the old address)" bash -c "'$CHUBBY_CELL_BIN' restart $a --dir '$cell' && '$CHUBBY_CELL_BIN' restart $b --dir '$cell'"
check "they learn the move from the log and all 5 converge" wait_for 30 converged "$cell/new.conf" 5

# The old machine comes back at its old address with a valid certificate
# and an empty store: its links are refused, it gets no vote.
old=$(grep "^replica $v " "$conf" | sed 's/.*peer=\([^:]*\):.*/\1/')
sed "s|^data_dir = .*|data_dir = $T_DIR/impostor-%i|" "$conf" >"$cell/old.conf"
mkdir -p "$T_DIR/impostor-$v"
setsid "$CHUBBYD" -c "$cell/old.conf" -i "$v" --init >>"$T_DIR/impostor.log" 2>&1 </dev/null &
imp=$!
refused() { grep -q "refusing replica $v from $old" "$cell"/replica-*.log; }
check "the old machine ($old) is refused by the others" wait_for 15 refused
check "writes go on" "$LOCKCTL" -C "$cell/new.conf" sync -n 50 -w 8
check "exactly one master" wait_for 10 one_master "$cell/new.conf"
check "all 5 real replicas converge" wait_for 20 converged "$cell/new.conf" 5
kill -9 "$imp" 2>/dev/null
wait "$imp" 2>/dev/null
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
