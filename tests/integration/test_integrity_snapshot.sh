#!/bin/bash
# test_integrity_snapshot.sh: a replica whose stored snapshot reads as
# msgpack but holds a field of the wrong type refuses it at start, says
# which field, and stops serving (the one type-checked snapshot reader,
# server/cell), instead of installing a state built from garbage.
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(( $(t_port) + 5 ))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
TOOL="$BUILD/tests/integration/store-tool"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }

check "3-replica cell up" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms \
	--set heartbeat_interval=100ms --set snapshot_interval=100
m=$(wait_for 20 master_id "$conf" >/dev/null; master_id "$conf")
check "the master is known ($m)" test -n "$m"
f=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] != $m][0]")
check "a follower is known ($f)" test -n "$f"
# One barrier at a time: each takes its own slot, so 150 pass slot 100.
check "writes commit past a snapshot" L sync -n 150 -w 1
check "replica $f takes a snapshot" wait_for 20 grep -q "snapshot at slot" "$cell/replica-$f.log"
check "stop replica $f" "$CHUBBY_CELL_BIN" stop "$f" --dir "$cell"
check "give its snapshot's digest the wrong type (valid record checksum)" \
	"$TOOL" retype-snapshot "$cell/data/replica-$f"
check "restart it" "$CHUBBY_CELL_BIN" restart "$f" --dir "$cell"
check "it refuses the snapshot, naming the field" \
	wait_for 20 grep -q "snapshot for slot [0-9]* refused: malformed: field 1 (digest) is not an unsigned integer" "$cell/replica-$f.log"
is_diverged() { [ "$(role_of "$conf" "$f")" = diverged ]; }
check "and shows as diverged" wait_for 10 is_diverged
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
