#!/bin/bash
# test_rolling_restart.sh: a rejoining replica never deposes a healthy master
# (issue 17 items 1 and 5), on a real 5-replica cell with default timing.
#  1. Rolling restart of the four followers, one at a time, each waited for
#     until it caught up, under a libchubby client that holds a lock and
#     writes: the master and its epoch never change, and the client sees no
#     MASTER_FAILOVER, no JEOPARDY and no failed call.
#  2. One follower cut off from every other replica for ISOLATE seconds
#     (default 20, ~30 leases; ROLL_ISOLATE_S sets it): its promised ballot
#     (status port, "promised") does not move, and after healing the master
#     and epoch are still the same.
#  3. lockctl master handoff ID: ID becomes master with exactly one epoch
#     change; the client sees one MASTER_FAILOVER and no failed call.
# The cell runs in a network namespace of its own (as test_partition.sh), so
# links can be cut with nftables.
T_NETNS=chubby-roll . "$(dirname "$0")/netns.sh"

. "$(dirname "$0")/lib.sh"
t_time_limit 300

DRV="$BUILD/tests/integration/libchubby_driver"
port=7100
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"
isolate_s=${ROLL_ISOLATE_S:-20}
F=/ls/local/roll

. "$(dirname "$0")/drv.sh"
t_cleanup_drivers() {
	for p in "${DRV_PID[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_drivers EXIT

nft add table inet chubbytest
nft add chain inet chubbytest out '{ type filter hook output priority 0; policy accept; }'
cut() { # A B: drop every packet between replicas A and B, both ways
	nft add rule inet chubbytest out ip saddr "127.0.0.$((10 + $1))" ip daddr "127.0.0.$((10 + $2))" drop &&
	nft add rule inet chubbytest out ip saddr "127.0.0.$((10 + $2))" ip daddr "127.0.0.$((10 + $1))" drop
}
heal() { nft flush chain inet chubbytest out; }
epoch_of() { cell_status "$conf" | jpy "[r.get('epoch') for r in j['replicas'] if r['id'] == $1][0]"; }
# Replica ID's promised ballot, from its status port (reached from 127.0.0.1,
# which no rule touches).
promised_of() { # id
	"$PY" -c '
import json, sys, urllib.request
u = "http://127.0.0.%d:%d/status" % (10 + int(sys.argv[1]), int(sys.argv[2]) + 2)
print(json.load(urllib.request.urlopen(u, timeout=3))["promised"])' "$1" "$port"
}
# The master is still M with epoch E (every reachable replica agrees).
same_master() { # m e
	local now
	now=$(cell_status "$conf" | jpy "
rs = [r for r in j['replicas'] if r['reachable']]
ms = ','.join(str(r['id']) for r in rs if r.get('role') == 'master')
ms + '/' + ','.join(sorted({str(r.get('epoch')) for r in rs}))") || return 1
	[ "$now" = "$1/$2" ] || { echo "master/epoch now: $now, was $1/$2"; return 1; }
}

check "5-replica cell up (default timing)" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 30 one_master "$conf"
check "all converge" wait_for 30 converged "$conf" 5
m=$(master_id "$conf")
e=$(epoch_of "$m")
echo "# master $m, epoch $e"
check "client A up" drv_start a
check "A opens $F" drv_ok a open $F rwc
check "A takes the lock" drv_ok a lock $F
check "A writes" drv_ok a put $F v0

# ---- 1. rolling restart of the followers ----
for i in 1 2 3 4 5; do
	[ "$i" = "$m" ] && continue
	check "stop follower $i" "$CHUBBY_CELL_BIN" stop "$i" --dir "$cell"
	check "A writes while $i is down" drv_ok a put $F "down-$i"
	check "restart follower $i" "$CHUBBY_CELL_BIN" restart "$i" --dir "$cell"
	check "replica $i caught up" wait_for 30 converged "$conf" 5
	check "A writes after $i is back" drv_ok a put $F "back-$i"
	check "master $m kept epoch $e" same_master "$m" "$e"
done
echo "# epoch after the rolling restart: $(epoch_of "$m") (before: $e)"
check "A saw no MASTER_FAILOVER" no_match '^event MASTER_FAILOVER' "$T_DIR/a.out"
check "A saw no JEOPARDY" no_match '^event JEOPARDY' "$T_DIR/a.out"
check "no call of A failed" no_match '^err' "$T_DIR/a.out"

# ---- 2. an isolated follower's ballot stays put ----
f=$((m % 5 + 1))
p0=$(promised_of "$f")
check "isolate follower $f from every other replica" bash -c "$(declare -f cut); for i in 1 2 3 4 5; do [ \$i = $f ] || cut $f \$i || exit 1; done"
end=$(( $(date +%s) + isolate_s ))
while [ "$(date +%s)" -lt $end ]; do
	drv_ok a put $F "iso" || break
	sleep 1
done
p1=$(promised_of "$f")
echo "# replica $f promised $p0 -> $p1 over ${isolate_s} s cut off: $(( (p1 >> 8) - (p0 >> 8) )) ballot rounds"
check "its promised ballot did not move" test "$p1" = "$p0"
check "heal" heal
check "replica $f caught up" wait_for 30 converged "$conf" 5
check "A writes after healing" drv_ok a put $F healed
check "master $m kept epoch $e" same_master "$m" "$e"
check "A saw no MASTER_FAILOVER" no_match '^event MASTER_FAILOVER' "$T_DIR/a.out"
check "no call of A failed" no_match '^err' "$T_DIR/a.out"

# ---- 3. hand-off: the master passes mastership on, once ----
t=$(( (m + 1) % 5 + 1 ))
fo0=$(grep -c '^event MASTER_FAILOVER' "$T_DIR/a.out")
t0=$(date +%s%3N)
check "lockctl master handoff $t" "$LOCKCTL" -C "$conf" -t 5000 master handoff "$t"
is_master() { [ "$(master_id "$conf")" = "$1" ]; }
check "replica $t is master (within a few leases)" wait_for 10 is_master "$t"
echo "# replica $t says master $(( $(date +%s%3N) - t0 )) ms after the command (status polled)"
check "one master, every replica agrees" wait_for 10 one_master "$conf"
e2=$(epoch_of "$t")
echo "# hand-off: master $m epoch $e -> master $t epoch $e2"
check "exactly one election: epoch $e -> one round more" test "$(( e2 >> 8 ))" = "$(( (e >> 8) + 1 ))"
check "A writes through the new master" drv_ok a put $F handed-off
check "A saw exactly one MASTER_FAILOVER for it" test "$(grep -c '^event MASTER_FAILOVER' "$T_DIR/a.out")" = "$((fo0 + 1))"
check "no call of A failed" no_match '^err' "$T_DIR/a.out"
check "lockctl master handoff to a replica that is not a member fails" \
	bash -c "! '$LOCKCTL' -C '$conf' -t 5000 master handoff 9"
drv_stop a
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
