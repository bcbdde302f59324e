#!/bin/bash
# test_integrity.sh: a replica whose state silently differs is caught by the
# cross-replica consistency check and stops serving; a replica whose store
# fails its checksums sets it aside, rejoins without a vote, and catches up.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(( $(t_port) + 5 ))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
TOOL="$BUILD/tests/integration/store-tool"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }

check "3-replica cell up" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms \
	--set heartbeat_interval=100ms --set checksum_interval=20
check "writes commit" L sync -n 100 -w 8
m=$(master_id "$conf")
check "the master is known ($m)" test -n "$m"
f=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] != $m][0]")
g=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] not in ($m, $f)][0]")
check "two followers are known ($f, $g)" test -n "$f" -a -n "$g"

# Divergence: a well-formed but wrong state on replica f.
check "stop replica $f" "$CHUBBY_CELL_BIN" stop "$f" --dir "$cell"
check "alter its newest log entry (well-formed, valid checksum)" "$TOOL" alter-entry "$cell/data/replica-$f"
check "restart it" "$CHUBBY_CELL_BIN" restart "$f" --dir "$cell"
check "writes go on (and carry consistency checks)" L sync -n 200 -w 8
check "replica $f reports the failed check loudly" wait_for 20 grep -q "CONSISTENCY CHECK FAILED" "$cell/replica-$f.log"
is_diverged() { [ "$(role_of "$conf" "$f")" = diverged ]; }
check "and shows as diverged" wait_for 10 is_diverged
check "the healthy replicas ($m, $g) did not fail a check" \
	no_match 'CONSISTENCY CHECK FAILED' "$cell/replica-$m.log" "$cell/replica-$g.log"
check "repair: wipe the diverged replica and restart it" bash -c "'$CHUBBY_CELL_BIN' stop $f --dir '$cell' && rm -rf '$cell/data/replica-$f' && '$CHUBBY_CELL_BIN' restart $f --dir '$cell'"
check "it converges with equal digests" wait_for 30 converged "$conf" 3
check "and votes again" wait_for 20 all_voters "$conf"

# Corruption on disk: damage replica g's LevelDB files while it is down.
check "stop replica $g" "$CHUBBY_CELL_BIN" stop "$g" --dir "$cell"
corrupt() {
	local d=$1 n=0
	for file in "$d"/*.log "$d"/*.ldb; do
		[ -s "$file" ] || continue
		sz=$(stat -c %s "$file")
		head -c 256 /dev/urandom | dd of="$file" bs=1 seek=$((sz / 2)) conv=notrunc status=none
		n=$((n + 1))
	done
	[ $n -gt 0 ]
}
check "corrupt its store files" corrupt "$cell/data/replica-$g"
check "restart it" "$CHUBBY_CELL_BIN" restart "$g" --dir "$cell"
check "it sets the corrupt store aside" wait_for 10 grep -q "STORE CORRUPT" "$cell/replica-$g.log"
check "the corrupt store is kept for a post-mortem" bash -c "ls -d '$cell/data/replica-$g'.corrupt-*"
check "writes go on" L sync -n 100 -w 8
check "it catches up with equal digests" wait_for 30 converged "$conf" 3
check "and votes again" wait_for 20 all_voters "$conf"
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
