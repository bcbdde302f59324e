#!/bin/bash
# test_nemesis.sh: a real five-replica cell under faults switched from
# outside its processes (tests/nemesis/nemesis.py: kill -9 and restart of any
# replica, SIGSTOP of the master past its lease, partitions that isolate the
# master, split 2/3 and bridge, slow fsync, slow fsync on the followers then
# kill -9 of the master with writes in flight, SIGSTOP of the master just
# past its lease's end with a cache client stopped and its invalidation lost
# (regained in the same epoch), SIGSTOP of a lock client past
# its session lease, the same with the master's wall clock an hour ahead
# across the expiry), while client processes
# (tests/nemesis/workload.py) read, write and compare-and-set a few files and
# take a lock to write to a fenced resource (tests/nemesis/resource.py), and
# cache clients (tests/nemesis/cache_workload, libchubby with its cache on)
# read the same files from their caches, compare-and-set them through the
# library's own retries, and create, read, close and re-create ephemeral
# nodes; one of them is slow (the nemesis stutters it with SIGSTOP/SIGCONT:
# netem is not available here).  Everything is recorded with invoke and
# completion times.  Then kill -9 of all five
# replicas in a write storm, final reads, and tests/nemesis/checker.py:
# linearizability per file, fencing, lock generations; and every replica
# converges to one digest.  docs/TESTING.md: NEMESIS_SECONDS (default 75)
# for a soak run, NEMESIS_SEED (default CHUBBY_TEST_SEED, else fresh) to
# replay a run, NEMESIS_CACHE_CLIENTS (default 2; the last is the slow one),
# NEMESIS_FAULTS (a comma-separated list: only those fault kinds);
# tests/nemesis/regress-seeds, the seeds whose schedules every run replays
# first.
T_NETNS=chubby-nem . "$(dirname "$0")/netns.sh"

. "$(dirname "$0")/lib.sh"
NEM=$(cd "$(dirname "$0")/../nemesis" && pwd)
secs=${NEMESIS_SECONDS:-75}
# A fresh seed each run (tests/run-all exports CHUBBY_TEST_SEED);
# NEMESIS_SEED overrides, to replay one.
seed=${NEMESIS_SEED:-${CHUBBY_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}}
case $seed in ''|*[!0-9]*) echo "not ok - seed '$seed' is not a decimal number"; exit 1 ;; esac
regress="$NEM/regress-seeds"
nreg=${NEMESIS_CLIENTS:-3}
ncache=${NEMESIS_CACHE_CLIENTS:-2}
keys=3
ekeys=2
# Acknowledged ops each cache client thread must record (the slow one runs
# about a quarter of the time), each register and lock client process, and
# writes acknowledged in the write storm before the kill -9 of all five.
cache_min=${NEMESIS_CACHE_MIN_OK:-40}
reg_min=${NEMESIS_REGISTER_MIN_OK:-300}
lock_min=${NEMESIS_LOCK_MIN_OK:-10}
storm_min=${NEMESIS_STORM_MIN_OK:-100}
# The lock-delay the lock clients ask for at OPEN; the checker holds the
# cell to 1000 ms whatever this is (a smaller one is a planted bug).
lock_delay_ms=${NEMESIS_LOCK_DELAY_MS:-1000}
# NEMESIS_CACHE_WL: another build's cache_workload (a control run, or a
# libchubby with one fix reverted).
CACHE_WL=${NEMESIS_CACHE_WL:-$BUILD/tests/nemesis/cache_workload}
t_time_limit $((secs + 210))
echo "# nemesis: seed $seed, $secs s of faults (replay: NEMESIS_SEED=$seed NEMESIS_SECONDS=$secs)"
check "the regression seed list is well-formed" "$PY" "$NEM/nemesis.py" regress "$regress"

port=7100
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
hist="$T_DIR/history"
stop="$T_DIR/stop"
mkdir -p "$hist"
export CHUBBY_CELL_BIN
pids=""
nem_cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
	t_cleanup
}
trap nem_cleanup EXIT

check "checker self-test (hand-made bad histories are flagged)" "$PY" "$NEM/checker.py" --self-test

# Slow fsync: an LD_PRELOAD shim, switched per replica pid from outside.
preload=""
export CHUBBY_SLOW_FSYNC_DIR="$T_DIR/slowfsync"
mkdir -p "$CHUBBY_SLOW_FSYNC_DIR"
if ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/slow_fsync.so" "$NEM/slow_fsync.c" -ldl 2>"$T_DIR/cc.err"; then
	preload="$T_DIR/slow_fsync.so"
else
	echo "# no C compiler for the slow-fsync shim: that fault is replaced by kills"
	unset CHUBBY_SLOW_FSYNC_DIR
fi
# A wall clock stepped per replica pid from outside (the clockstep fault).
export CHUBBY_FAKE_CLOCK_DIR="$T_DIR/fakeclock"
mkdir -p "$CHUBBY_FAKE_CLOCK_DIR"
if ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/fake_clock.so" "$(dirname "$0")/fake_clock.c" -ldl \
	2>>"$T_DIR/cc.err"; then
	preload="${preload:+$preload }$T_DIR/fake_clock.so"
else
	echo "# no C compiler for the fake-clock shim: the clockstep fault is replaced by kills"
	unset CHUBBY_FAKE_CLOCK_DIR
fi
with_shim() { if [ -n "$preload" ]; then LD_PRELOAD="$preload" "$@"; else "$@"; fi; }

check "5-replica cell up in its own network namespace" with_shim cell_up "$cell" --replicas 5 \
	--base-port "$port" --set master_lease=2s --set master_lease_renew=700ms \
	--set election_timeout=500ms --set heartbeat_interval=100ms --set session_lease=4s \
	--set grace_period=15s --set lock_delay=1s --set checksum_interval=200 \
	--set snapshot_interval=2000 --set log_keep=200
check "one master" wait_for 15 one_master "$conf"
check "workload setup (files and lock)" "$PY" "$NEM/workload.py" setup "$cell" "$port" "$hist" --keys $keys

"$PY" "$NEM/resource.py" 7900 "$cell/seq.key" "$hist/resource.log" "$cell" "$port" \
	>"$T_DIR/resource.out" 2>&1 &
pids="$pids $!"
# Every workload process must exit 0 on the stop file: NAME:PID each.
wl=""
for i in $(seq 1 "$nreg"); do
	"$PY" "$NEM/workload.py" register "$cell" "$port" "$hist" --id "$i" --keys $keys --seed "$seed" \
		--stop "$stop" >"$T_DIR/register-$i.out" 2>&1 &
	pids="$pids $!"; wl="$wl register-$i:$!"
done
for i in $(seq 1 "$ncache"); do
	"$CACHE_WL" "$conf" "$hist" "$i" "$seed" "$stop" $keys $ekeys >"$T_DIR/cache-$i.out" 2>&1 &
	pids="$pids $!"; wl="$wl cache-$i:$!"
	echo $! >>"$hist/cache-clients.pids"
	[ "$i" = "$ncache" ] && echo $! >"$hist/slow-clients.pids"
done
for i in 1 2; do
	"$PY" "$NEM/workload.py" lock "$cell" "$port" "$hist" --id "$i" --seed "$seed" --stop "$stop" \
		--resource 7900 --lock-delay-ms "$lock_delay_ms" >"$T_DIR/lock-$i.out" 2>&1 &
	pids="$pids $!"; wl="$wl lock-$i:$!"
	echo $! >>"$hist/lock-clients.pids"
done
sleep 3

# Faults while the clients run.
with_shim "$PY" "$NEM/nemesis.py" run "$cell" "$port" "$hist/nemesis.log" --seconds "$secs" \
	--seed "$seed" --regress "$regress" --lease-ms 2000 --session-ms 4000 --lock-delay-ms 1000 \
	--client-pids "$hist/lock-clients.pids" --slow-pids "$hist/slow-clients.pids" \
	--cache-pids "$hist/cache-clients.pids" ${NEMESIS_FAULTS:+--faults "$NEMESIS_FAULTS"} 2>&1 |
	tee "$T_DIR/nemesis.out" | sed 's/^/# /'
check "the nemesis ran its schedule" grep -q "faults injected" "$T_DIR/nemesis.out"
check "one master after healing" wait_for 30 one_master "$conf"
sleep 3

# Durability: a write storm, kill -9 of all five, restart.
touch "$stop.storm"
sleep 3
with_shim "$PY" "$NEM/nemesis.py" crash-all "$cell" "$port" "$hist/nemesis.log" 2>&1 | sed 's/^/# /'
check "one master after all five were killed" wait_for 30 one_master "$conf"
sleep 4
touch "$stop"
end=$(( $(date +%s) + 20 ))
for p in $pids; do
	[ "$(date +%s)" -lt $end ] || break
	while kill -0 "$p" 2>/dev/null && [ "$(date +%s)" -lt $end ]; do sleep 0.2; done
done
for p in $pids; do kill "$p" 2>/dev/null; done
pids=""
# A workload process that was still running (killed just now) or failed is
# as good as one that died early: its history may end anywhere.
unclean=""
for x in $wl; do
	wait "${x#*:}" || unclean="$unclean ${x%%:*}(exit $?)"
done
[ -z "$unclean" ] || echo "# workload processes that did not exit cleanly:$unclean (their output: $T_DIR/<name>.out)"
check "every workload process (register, lock, cache) exited cleanly at the stop" test -z "$unclean"
"$PY" "$NEM/checker.py" --min-register "$reg_min" --min-lock "$lock_min" --min-cache "$cache_min" \
	--min-storm "$storm_min" --clients "$hist" >"$T_DIR/clients.out" 2>&1
clients_rc=$?
sed 's/^/# /' "$T_DIR/clients.out"
check "every client finished with enough acknowledged ops (register $reg_min, lock $lock_min, cache thread $cache_min), $storm_min writes in the storm" \
	test "$clients_rc" = 0

check "final reads of every file" "$PY" "$NEM/workload.py" final "$cell" "$port" "$hist" --keys $keys
check "all 5 replicas converge (applied and digest equal)" wait_for 60 converged "$conf" 5
cell_status "$conf" | jpy '"\n".join("# replica %d: role %s applied %s digest %s" % (r["id"], r.get("role"), r.get("applied"), r.get("digest")) for r in j["replicas"])'
check "no consistency-check failures in the replica logs" \
	no_match 'CONSISTENCY CHECK FAILED' "$cell"/replica-*.log

"$PY" "$NEM/checker.py" --lease-ms 4000 --lock-delay-ms 1000 "$hist" >"$T_DIR/checker.out" 2>&1
crc=$?
sed 's/^/# /' "$T_DIR/checker.out"
check "checker: no anomalies in the history" test "$crc" = 0
faults=$(grep -c . "$hist/nemesis.log" 2>/dev/null || echo 0)
kinds=$("$PY" -c 'import json,sys,collections; c=collections.Counter(json.loads(l)["fault"] for l in open(sys.argv[1]) if l.strip()); print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$hist/nemesis.log" 2>/dev/null)
summary=$(grep '^checker: operations' "$T_DIR/checker.out" | sed 's/^checker: //')
# Elections: the distinct epochs a master announced in the logs (start-up and
# crash-all included), against the ballot round the cell ended at.
elections=$(cat "$cell"/replica-*.log 2>/dev/null | sed -n 's/.*role master, epoch \([0-9]*\),.*/\1/p' | sort -u | wc -l)
round=$(cell_status "$conf" | jpy 'max(r.get("epoch") or 0 for r in j["replicas"] if r["reachable"]) >> 8')
per=$(awk -v e="$elections" -v f="$faults" 'BEGIN { printf "%.2f", (f > 0 ? e / f : 0) }')
echo "# nemesis summary: seed=$seed seconds=$secs faults injected=$faults ($kinds); elections=$elections ($per per fault, ballot round $round); $summary"
if [ "$T_FAILED" -ne 0 ]; then
	echo "# replay: NEMESIS_SEED=$seed NEMESIS_SECONDS=$secs make check TESTS=tests/integration/test_nemesis.sh"
	echo "# to keep it: add '$seed SECONDS  # $(date -u +%F), what failed' to tests/nemesis/regress-seeds (docs/TESTING.md, Seeds)"
fi
finish
