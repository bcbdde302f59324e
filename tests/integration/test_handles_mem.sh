#!/bin/bash
# test_handles_mem.sh: handles kept in the master's memory (issue 19 item
# 2; docs/SESSIONS.md "Handles in memory") on a real 5-replica cell with
# handles_in_memory on:
#  (a) a read-only open and its close write nothing to the log: the
#      master's chubby_proposals_total (commands it proposed) across one
#      `lockctl cat` / `stat` (4 before: session start, open, close,
#      session end) and across 10 cats in one `lockctl script` session,
#      which keeps its handle (3 before: session start, open, session end);
#      and writes and locks through handles in memory: `lockctl put` of an
#      existing file 3 (was 5), a lock+unlock 4 (was 6: open and close),
#      10 in one script session 22 (was 42), 10 puts 12 (was 13); and
#      `lockctl lock f -- true`, whose handle asks for HANDLE_INVALID
#      (an event mask, kept in memory too), 4 (was 6);
#  (b) fail-over: a libchubby client (cache on) holds a memory handle
#      while the master is killed with -9; through the same handle it then
#      reads the value written since (cache flushed, handle re-created by
#      the new master from what its call carries), and once the node is
#      deleted and made again the old handle fails as a deleted node's
#      handle does.  The master's chubby_handles_in_memory counts them.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
t_time_limit 240

DRV="$BUILD/tests/integration/libchubby_driver"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"

. "$(dirname "$0")/drv.sh"
t_cleanup_drivers() {
	for p in "${DRV_PID[@]}"; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_drivers EXIT

check "cell comes up with 5 replicas (handles_in_memory = yes)" cell_up "$cell" --replicas 5 \
	--base-port "$port" --set handles_in_memory=yes
check "one master" wait_for 30 one_master "$conf"
lc() { "$LOCKCTL" "$@" </dev/null; }

# The master's metric NAME now.
metric() { # name
	local m
	m=$(master_id "$conf") || return 1
	"$PY" -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(int(float([l.split()[1] for l in r.splitlines() if l.startswith(sys.argv[2] + " ")][0])))' \
		"http://127.0.0.$((10 + m)):$((port + 2))/metrics" "$1"
}
proposals() { metric chubby_proposals_total; }
# writes_of NAME COMMAND...: the proposals COMMAND cost, in $T_DIR/NAME.
writes_of() {
	local n=$1 a b
	shift
	a=$(proposals) && "$@" >/dev/null && b=$(proposals) || return 1
	echo $((b - a)) >"$T_DIR/$n"
}

# ---- (a) log writes ----
check "put f v1" lc put f v1
check "one lockctl cat, counted" writes_of cat lc cat f
check "one lockctl stat, counted" writes_of stat lc stat f
check "10 cats in one script session, counted" writes_of script10 \
	bash -c "for i in \$(seq 10); do echo 'cat f'; done | '$LOCKCTL' script | grep -c 'v1' | grep -qx 10"
c1=$(cat "$T_DIR/cat"); s1=$(cat "$T_DIR/stat"); c10=$(cat "$T_DIR/script10")
echo "# log writes: lockctl cat $c1, lockctl stat $s1, 10 cats in a script $c10"
# Session start and end only: nothing else proposes on this quiet cell
# (no other client is up; a master's own proposals, a lease cap, come
# only under load).
check "lockctl cat: session start and end only ($c1 = 2, was 4)" test "$c1" -eq 2
check "lockctl stat: session start and end only ($s1 = 2, was 4)" test "$s1" -eq 2
check "10 cats in one script: session start and end only ($c10 = 2, was 3)" test "$c10" -eq 2

# Writes and locks through handles in memory: only the write, the
# acquire and the release go to the log (the open, and the close after a
# release that leaves the handle holding nothing, do not).
check "one lockctl put of an existing file, counted" writes_of put lc put f v1
check "a lock cycle (lock + unlock) in one script session, counted" writes_of lock1 \
	bash -c "printf 'lock f\nunlock f\n' | '$LOCKCTL' script | grep -c released | grep -qx 1"
check "10 lock cycles in one script session, counted" writes_of lock10 \
	bash -c "for i in \$(seq 10); do printf 'lock f\nunlock f\n'; done | '$LOCKCTL' script | grep -c released | grep -qx 10"
check "10 puts in one script session, counted" writes_of put10 \
	bash -c "for i in \$(seq 10); do echo 'put f v1'; done | '$LOCKCTL' script >/dev/null"
check "lockctl lock f -- true (a handle with an event mask), counted" writes_of lockrun \
	lc lock f -- true
p1=$(cat "$T_DIR/put"); l1=$(cat "$T_DIR/lock1"); l10=$(cat "$T_DIR/lock10"); p10=$(cat "$T_DIR/put10")
lr=$(cat "$T_DIR/lockrun")
echo "# log writes: lockctl put $p1, lock+unlock in a script $l1, 10 of them $l10, 10 puts $p10, lock -- true $lr"
check "lockctl put: session start, the write, session end ($p1 = 3, was 5)" test "$p1" -eq 3
check "a lock cycle: session start, acquire, release, session end ($l1 = 4, was 6)" test "$l1" -eq 4
check "10 lock cycles in one script: 2 each ($l10 = 22, was 42)" test "$l10" -eq 22
check "10 puts in one script: 1 each ($p10 = 12, was 13)" test "$p10" -eq 12
check "lockctl lock f -- true: session start, acquire, release, session end ($lr = 4, was 6)" \
	test "$lr" -eq 4
expect "f still holds v1" '^v1$' lc cat f
expect "no handle left in the master's memory" '^0$' metric chubby_handles_in_memory

# ---- (b) fail-over with a memory handle open ----
check "client A up" drv_start a
check "client B up" drv_start b
expect "A opens f read-only" '^ok created=0' drv a open /ls/local/f r
expect "the master keeps it in memory (chubby_handles_in_memory)" '^1$' metric chubby_handles_in_memory
expect "A reads v1 (cached)" '^ok v1 ' drv a cat /ls/local/f
old=$(master_id "$conf")
check "kill -9 the master (replica $old)" "$CHUBBY_CELL_BIN" kill "$old" --dir "$cell"
new_master() { m=$(master_id "$conf") && [ "$m" != "$old" ]; }
check "a new master" wait_for 60 new_master
check "B opens f for writing" drv_ok b open /ls/local/f rw
check "B writes v2" drv_ok b put /ls/local/f v2
expect "A reads v2 through its handle (re-created by the new master)" '^ok v2 ' drv a cat /ls/local/f
expect "A stats f through it" '^ok instance=' drv a stat /ls/local/f
check "B deletes f" drv_ok b rm /ls/local/f
check "B closes" drv_ok b close /ls/local/f
expect "B makes f again with v3" '^ok created=1' drv b open /ls/local/f rwc 0 v3
expect "A's handle on the deleted node fails" '^err E_BAD_HANDLE' drv a cat /ls/local/f
check "A closes it" drv_ok a close /ls/local/f
check "A opens the new f" drv_ok a open /ls/local/f r
expect "A reads v3" '^ok v3 ' drv a cat /ls/local/f
check "A closes" drv_ok a close /ls/local/f
expect "none left in memory" '^0$' metric chubby_handles_in_memory
drv_stop a
drv_stop b
check "restart replica $old" "$CHUBBY_CELL_BIN" restart "$old" --dir "$cell"
finish
