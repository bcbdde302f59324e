#!/bin/bash
# test_idle.sh: an idle cell sleeps (issue 19 item 5).  A quiet five-replica
# cell with the default settings: each follower's event loop must wake
# only for what it has to do, the master's heartbeats (every
# heartbeat_interval) and the rare timer, not for a clock that ticks
# whether or not anything is due.  Counted as the voluntary context
# switches of each chubbyd's main thread (the event loop: it sleeps in
# epoll_wait and nowhere else while idle) over IDLE_SECONDS (10): a count
# of sleeps, not a time, so a loaded machine only lowers it (epoll_wait
# then returns more at once).  The bound is twice the heartbeat rate (40 a
# second at the default 50 ms); the old 20 ms tick and 50 ms loop-lag timer
# alone woke a follower 70 times a second.  The loop-lag gauge must still
# be sampled on every replica.  The figures for the master are printed, as
# are the CPU times: numbers to read (BENCHMARKS.md "Idle cost"), not
# assertions.
. "$(dirname "$0")/lib.sh"
S=${IDLE_SECONDS:-10}
t_time_limit $((S + 120))

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

check "5-replica cell up (defaults)" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 20 one_master "$conf"
check "every replica votes and has applied the same" wait_for 20 converged "$conf" 5
master=$(master_id "$conf")

# Replica I's pid, and its status address.
pid_of() { "$CHUBBY_CELL_BIN" status --dir "$cell" --json | jpy "[r['pid'] for r in j['replicas'] if r['id'] == $1][0]"; }
status_of() { "$CHUBBY_CELL_BIN" status --dir "$cell" --json | jpy "[r['status'] for r in j['replicas'] if r['id'] == $1][0]"; }
# The main thread's voluntary context switches, and utime + stime in ticks.
sleeps() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/task/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The loop-lag histogram's sample count on replica I's /metrics.
lag_count() {
	"$PY" -c '
import sys, urllib.request
body = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
print([l.split()[1] for l in body.splitlines() if l.startswith("chubby_loop_lag_seconds_count")][0])' "$(status_of "$1")"
}

declare -A PID S0 C0 L0
for i in 1 2 3 4 5; do
	PID[$i]=$(pid_of $i)
	L0[$i]=$(lag_count $i)
done
for i in 1 2 3 4 5; do S0[$i]=$(sleeps "${PID[$i]}"); C0[$i]=$(cpu "${PID[$i]}"); done
t0=$(date +%s%N)
sleep "$S" # the measurement window: nothing to wait for, the cell is to stay idle
t1=$(date +%s%N)
hz=$(getconf CLK_TCK)
report=""
worst=0
for i in 1 2 3 4 5; do
	n=$(( ($(sleeps "${PID[$i]}") - S0[$i]) * 1000000000 / (t1 - t0) ))
	c=$(( ($(cpu "${PID[$i]}") - C0[$i]) ))
	role=follower
	[ "$i" = "$master" ] && role=master
	report="$report replica $i ($role): $n wake-ups/s, $c CPU ticks of 1/$hz s;"
	if [ "$role" = follower ] && [ "$n" -gt "$worst" ]; then worst=$n; fi
done
echo "idle over $S s:$report"
check "each idle follower wakes at most 40 times a second (twice the heartbeat rate); the busiest woke $worst" \
	test "$worst" -le 40
for i in 1 2 3 4 5; do
	l=$(lag_count $i)
	check "replica $i still samples its loop lag (at least once a second: $((l - L0[$i])) in $S s)" \
		test $((l - L0[$i])) -ge "$S"
done
finish
