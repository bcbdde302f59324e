#!/bin/bash
# test_store_sync.sh: where a follower makes its synced log writes.  On a
# fast disk it syncs the loop turn's group on its event loop when the store
# writer thread is idle (two thread wake-ups fewer between an ACCEPT and its
# ACCEPTED); after a slow sync it hands every group to the writer thread, so
# a slow disk never holds its loop (heartbeat and lease answers) for more
# than one sync; the master always uses the writer thread.  Counted by
# chubby_store_syncs_total{on="loop"|"writer"} on each replica's /metrics.
# The disk is made slow by tests/nemesis/slow_fsync.c (30 ms per fdatasync).
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
slow="$T_DIR/slow"
mkdir -p "$slow"
check "slow_fsync.so builds" ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/slow_fsync.so" \
	"$(dirname "$0")/../nemesis/slow_fsync.c" -ldl
check "5-replica cell up, every replica under slow_fsync.so" \
	env LD_PRELOAD="$T_DIR/slow_fsync.so" CHUBBY_SLOW_FSYNC_DIR="$slow" \
	"$CHUBBY_CELL_BIN" up --dir "$cell" --replicas 5 --base-port "$port"
T_CELLS="$T_CELLS $cell"
check "exactly one master" wait_for 20 one_master "$conf"
export CHUBBY_CELL="$conf"
m=$(master_id "$conf")
f=$((m % 5 + 1))
pid_f=$(cat "$cell/replica-$f.pid")

# syncs ID ON: replica ID's chubby_store_syncs_total{on="ON"}.
syncs() {
	"$PY" -c 'import sys, urllib.request
t = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
want = "chubby_store_syncs_total{on=\"%s\"} " % sys.argv[2]
v = [l[len(want):] for l in t.splitlines() if l.startswith(want)]
assert len(v) == 1, "no %s in /metrics" % want.strip()
print(int(v[0]))' "http://127.0.0.$((10 + $1)):$((port + 2))/metrics" "$2"
}
# 400 log writes, 16 at a time (lockctl sync proposes a barrier each time).
writes() { "$LOCKCTL" -t 20000 sync -n 400 -w 16 </dev/null >/dev/null; }
# rose_by WHAT BEFORE AFTER MIN MAX: AFTER - BEFORE within [MIN, MAX].
rose_by() {
	case "$2:$3" in *[!0-9:]*|:*|*:) echo "$1: not counted ('$2', '$3')"; return 1 ;; esac
	local d=$(($3 - $2))
	[ "$d" -ge "$4" ] && [ "$d" -le "$5" ] || { echo "$1 rose by $d, not within [$4, $5]"; return 1; }
}

# A fast disk: the follower syncs on its loop.
lf0=$(syncs "$f" loop); wf0=$(syncs "$f" writer); lm0=$(syncs "$m" loop)
check "the counters are on /metrics" test -n "$lf0" -a -n "$wf0" -a -n "$lm0"
check "400 writes on a fast disk" writes
lf1=$(syncs "$f" loop); wf1=$(syncs "$f" writer); lm1=$(syncs "$m" loop)
check "the follower synced on its loop" rose_by "follower $f loop syncs" "$lf0" "$lf1" 1 1000000
check "the master synced on its writer thread only" rose_by "master $m loop syncs" "$lm0" "$lm1" 0 0

# A slow disk (30 ms a sync): at most the first slow sync is made on the
# loop, every later one by the writer thread.
echo 30 >"$slow/$pid_f"
check "400 writes with follower $f's disk slow" writes
lf2=$(syncs "$f" loop); wf2=$(syncs "$f" writer)
check "the slow follower synced on its writer thread" rose_by "follower $f writer syncs" "$wf1" "$wf2" 2 1000000
check "at most one slow sync held its loop" rose_by "follower $f loop syncs" "$lf1" "$lf2" 0 1

# Fast again: back on the loop.
rm -f "$slow/$pid_f"
check "400 writes with the disk fast again" writes
lf3=$(syncs "$f" loop)
check "the follower syncs on its loop again" rose_by "follower $f loop syncs" "$lf2" "$lf3" 1 1000000
finish
