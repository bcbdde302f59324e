#!/bin/bash
# test_stable.sh: a healthy cell keeps one master and one epoch under
# stress that is not a failure (issue 17 item 4): CPU contention (four
# busy loops on this machine's cores) and a slow disk (fsync at 200 ms on
# every replica, tests/nemesis/slow_fsync.c), `lockctl sessions` over
# STABLE_SESSIONS (100,000) live sessions, and snapshots of a namespace of
# STABLE_NODES (99,000) files plus their directories: taken at every
# replica, copied by a backup, and sent to a wiped follower.  Each phase samples the cell
# every second for STABLE_SECONDS (30 in CI; the issue's figure is 600:
# STABLE_SECONDS=600 make check TESTS=tests/integration/test_stable.sh)
# while a client writes through it: one master, one epoch, no write lost
# to a fail-over.  Default settings throughout, but for max_sessions, which
# must admit the sessions.  STABLE_PHASES picks phases (default: all, in
# order: cpu disk snapshot sessions; sessions last: the 100,000 sessions
# it leaves expire over the next half minute, 100,000 log entries that
# would queue a later phase's writes).
. "$(dirname "$0")/lib.sh"
S=${STABLE_SECONDS:-30}
NSESS=${STABLE_SESSIONS:-100000}
NNODES=${STABLE_NODES:-99000}
PHASES=${STABLE_PHASES:-cpu disk snapshot sessions}
t_time_limit $((4 * S + 500))

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
slow="$T_DIR/slow"
mkdir -p "$slow"
BUSY=""
BENCH=""
trap 'for p in $BUSY $BENCH; do kill $p 2>/dev/null; done; t_cleanup' EXIT
phase() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
L() { "$LOCKCTL" -C "$conf" -t 10000 "$@"; }

check "slow_fsync.so builds" ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/slow_fsync.so" \
	"$(dirname "$0")/../nemesis/slow_fsync.c" -ldl
check "5-replica cell up (defaults), every replica under slow_fsync.so" \
	env LD_PRELOAD="$T_DIR/slow_fsync.so" CHUBBY_SLOW_FSYNC_DIR="$slow" \
	"$CHUBBY_CELL_BIN" up --dir "$cell" --replicas 5 --base-port "$port" \
	--set max_sessions=$((NSESS + 1000))
T_CELLS="$T_CELLS $cell"
check "one master" wait_for 15 one_master "$conf"
check "mkdir stable" L mkdir -p stable

# Samples the cell every second for SECONDS while a client writes: fails if
# the master or its epoch ever changes, if ever there is not exactly one
# master, or if a write fails.  Prints what it saw, and the master's largest
# event loop lag (STATUS loop_lag_max_ms, the largest of the last 10 s) over
# the samples: a figure to read, not a timed assertion.
stable_for() { # seconds
	local end=$(( $(date +%s) + $1 )) e0="" e n=0 miss=0 w=0 wf=0 lag lagmax=0 out
	(
		i=0
		while :; do
			i=$((i + 1))
			if L put stable/w "$i" >/dev/null 2>"$T_DIR/w.err"; then echo ok; else echo "fail $(cat "$T_DIR/w.err")"; fi
			sleep 0.5
		done
	) >"$T_DIR/writes" &
	local writer=$!
	while [ "$(date +%s)" -lt $end ]; do
		out=$(cell_status "$conf" | jpy '
rs = [r for r in j["replicas"] if r["reachable"]]
ms = [r for r in rs if r.get("role") == "master"]
lag = (ms[0].get("loop_lag_max_ms") if ms else None) or 0
"%d:%s:%s %s" % (len(ms), ms[0]["id"] if ms else "-", ms[0]["epoch"] if ms else "-", lag)')
		# A status that did not answer in time (a loaded machine) says
		# nothing about masters: counted, not compared (as in
		# test_partition.sh); most samples must answer.
		case $out in [0-9]*:*:*" "*) ;; *) miss=$((miss + 1)); sleep 1; continue ;; esac
		e=${out% *}; lag=${out##* }
		case $lag in *[!0-9]*|"") lag=0 ;; esac
		[ "$lag" -gt "$lagmax" ] && lagmax=$lag
		[ -z "$e0" ] && e0=$e
		if [ "$e" != "$e0" ]; then
			kill $writer; wait $writer 2>/dev/null
			echo "after $n samples: masters:id:epoch $e0 -> $e (master's loop lag at most $lagmax ms before)"; return 1
		fi
		n=$((n + 1)); sleep 1
	done
	kill $writer; wait $writer 2>/dev/null
	w=$(grep -c '^ok' "$T_DIR/writes"); wf=$(grep -c '^fail' "$T_DIR/writes")
	echo "$n samples: one master (id:epoch ${e0#1:}) all along ($miss status calls unanswered);" \
		"$w writes, $wf failed; master's loop lag at most $lagmax ms"
	grep -m3 '^fail' "$T_DIR/writes"
	case $e0 in 1:*) ;; *) return 1 ;; esac
	[ "$n" -gt "$miss" ] || return 1
	[ "$wf" -eq 0 ] && [ "$w" -gt 0 ]
}

# (a) CPU contention: four busy loops on the two cores.
if phase cpu; then
	for i in 1 2 3 4; do
		( while :; do :; done ) &
		BUSY="$BUSY $!"
	done
	check "CPU contention (4 busy loops): one master and one epoch for $S s" stable_for "$S"
	sed 's/^/    /' "$T_DIR/last.out"
	for p in $BUSY; do kill $p 2>/dev/null; done
	BUSY=""
fi

# (b) A slow disk: every fsync and fdatasync of every replica takes 200 ms.
if phase disk; then
	for i in 1 2 3 4 5; do echo 200 >"$slow/$(cat "$cell/replica-$i.pid")"; done
	check "slow disk (fsync 200 ms everywhere): one master and one epoch for $S s" stable_for "$S"
	sed 's/^/    /' "$T_DIR/last.out"
	rm -f "$slow"/*
fi

# While stable_for watches: the last 10,000 files (20,000 log entries, so
# every replica takes a snapshot of the whole namespace, the default
# snapshot_interval being 10,000), a backup (the master copies its state),
# and a follower wiped and restarted, which catches up by a snapshot
# transfer.  Each step's outcome goes to $T_DIR/snapdrv.
snapshot_driver() { # follower
	local f=$1
	"$BUILD/tests/integration/populate" -C "$conf" /ls/local/bigb 10 10000 128 2>&1 | tail -1
	"$LOCKCTL" -C "$conf" -t 30000 backup "$T_DIR/big.backup" >/dev/null 2>&1 && echo "backup ok"
	"$CHUBBY_CELL_BIN" stop "$f" --dir "$cell" >/dev/null 2>&1 && rm -rf "$cell/data/replica-$f" &&
		"$CHUBBY_CELL_BIN" restart "$f" --dir "$cell" >/dev/null 2>&1 && echo "restart ok"
	# Caught up, by the cheap STATUS: converged (which hashes every
	# replica's namespace, in its loop) is checked once, after the window.
	wait_for $((S + 60)) caught_up "$f" && echo "caught up"
}

# Replica F has applied what the master has committed.
caught_up() { # id
	cell_status "$conf" | jpy '
rs = {r["id"]: r for r in j["replicas"] if r["reachable"]}
ms = [r for r in rs.values() if r.get("role") == "master"]
'"$1"' in rs and len(ms) == 1 and rs['"$1"']["applied"] >= ms[0]["committed"] > 0' | grep -qx 1
}

# What the driver did, and that the wiped follower caught up by snapshot.
snapshot_done() { # follower
	cat "$T_DIR/snapdrv"
	grep -m2 "installed a snapshot" "$cell/replica-$1.log"
	grep -h "backup at slot" "$cell"/replica-*.log
	grep -q "^ok files=10000" "$T_DIR/snapdrv" && grep -q "^backup ok" "$T_DIR/snapdrv" &&
		grep -q "backup at slot .* serialised off the loop" "$cell"/replica-*.log &&
		grep -q "^restart ok" "$T_DIR/snapdrv" && grep -q "^caught up" "$T_DIR/snapdrv" &&
		grep -q "installed a snapshot" "$cell/replica-$1.log" && wait_for 60 converged "$conf" 5
}

# Every replica took its snapshots snapshot_interval (10,000) slots apart:
# one serialisation of the whole namespace per interval, not one per slot
# while a snapshot is pending, and each off the event loop (in a child:
# server/bgsnap.h), which must go on sending and answering heartbeats.
snapshots_spaced() {
	"$PY" - "$cell"/replica-*.log <<'PYEOF'
import re, sys
bad = 0
for f in sys.argv[1:]:
    last, slots = None, []
    for line in open(f, errors="replace"):
        m = re.search(r"snapshot at slot (\d+):", line)
        if m and "off the loop" not in line:
            print("%s: serialised in the event loop: %s" % (f.rsplit("/", 1)[-1], line.strip()))
            bad += 1
        if m:
            n = int(m.group(1))
            slots.append(n)
            if last is not None and n - last < 10000:
                print("%s: snapshot at slot %d only %d slots after the one at %d" % (f.rsplit("/", 1)[-1], n, n - last, last))
                bad += 1
            last = n
        m = re.search(r"installed a snapshot covering slots up to (\d+)", line)
        if m:
            last = int(m.group(1))
        if "replica started" in line:
            last = None
    print("%s: snapshots at %s" % (f.rsplit("/", 1)[-1], slots[:12]))
sys.exit(1 if bad else 0)
PYEOF
}

# (c) Snapshots of a big namespace: NNODES files in 100 directories, the
# last 10,000 of them written while the cell is watched.
if phase snapshot; then
	check "populate $((NNODES - 10000)) files in 100 directories" \
		"$BUILD/tests/integration/populate" -C "$conf" /ls/local/big 100 $((NNODES - 10000)) 128
	sed 's/^/    /' "$T_DIR/last.out"
	f=$(cell_status "$conf" | jpy '[r["id"] for r in j["replicas"] if r.get("role") == "follower"][0]')
	snapshot_driver "$f" >"$T_DIR/snapdrv" 2>&1 &
	drv=$!
	t0=$(date -u +%Y-%m-%dT%H:%M:%S)
	check "snapshots of $NNODES files (taken, backed up, sent to wiped follower $f): one master and one epoch for $S s" stable_for "$S"
	sed 's/^/    /' "$T_DIR/last.out"
	# The stalls the replicas logged in the window (chubbyd logs a loop lag
	# of 50 ms or more), and what they logged around them.
	grep -h "ran .* ms late\|snapshot at slot\|backup at slot\|installed a snapshot" \
		"$cell"/replica-*.log | awk -v t="$t0" '$1 >= t' | sort | sed 's/^/    /' | tail -n 25
	wait $drv
	check "10,000 more files, a backup (serialised off the master's loop), follower $f rebuilt by a snapshot transfer" snapshot_done "$f"
	sed 's/^/    /' "$T_DIR/last.out"
	# STATUS, which stable_for asks every second of every replica, no
	# longer hashes the namespace each time (350-450 ms of each replica's
	# loop at 99,000 nodes on this machine): only when asked (--digest).
	check "lockctl status does not hash the namespace unless asked (no state_digest)" \
		bash -c "'$LOCKCTL' -C '$conf' --json status | tee /dev/stderr | '$PY' -c '
import json, sys
rs = [r for r in json.load(sys.stdin)[\"replicas\"] if r[\"reachable\"]]
sys.exit(0 if len(rs) == 5 and all(r.get(\"state_digest\") is None for r in rs) else 1)'"
	check "lockctl status --digest gives every replica's state digest, all equal" \
		wait_for 30 bash -c "'$LOCKCTL' -C '$conf' --json status --digest | '$PY' -c '
import json, sys
rs = [r for r in json.load(sys.stdin)[\"replicas\"] if r[\"reachable\"]]
sys.exit(0 if len(rs) == 5 and len({(r[\"applied\"], r.get(\"state_digest\")) for r in rs}) == 1 and rs[0].get(\"state_digest\") else 1)'"
	for v in "" --digest; do
		"$LOCKCTL" -C "$conf" --json status $v | jpy '"lockctl status %s: replies in %s ms" % ("'"$v"'", sorted(r["rtt_ms"] for r in j["replicas"] if r["reachable"]))'
	done
	check "each replica took one snapshot per snapshot_interval, off its event loop" snapshots_spaced
	sed 's/^/    /' "$T_DIR/last.out" | tail -n 8
	grep -h "snapshot at slot\|backup at slot\|installed a snapshot" "$cell"/replica-*.log | tail -n 4 |
		sed 's/^/    /'
fi
# The master's sessions, from its /metrics (chubby_sessions).
master_sessions() {
	local m
	m=$(master_id "$conf")
	[ -n "$m" ] || return 1
	"$PY" - "http://127.0.0.$((10 + m)):$((port + 2))/metrics" <<'PYEOF'
import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
    if line.startswith("chubby_sessions "):
        print(int(float(line.split()[1])))
PYEOF
}
sessions_are() { [ "$(master_sessions)" = "$1" ]; }

# Lists the sessions (lockctl --json sessions) over and over until killed,
# a line per listing: "<entries> <distinct ids> <count field>" or "fail
# <error>".
list_sessions() {
	while :; do
		if "$LOCKCTL" -C "$conf" -t 30000 --json sessions >"$T_DIR/ls.json" 2>"$T_DIR/ls.err"; then
			jpy '"%d %d %d" % (len(j["sessions"]), len({x["session"] for x in j["sessions"]}), j["count"])' <"$T_DIR/ls.json"
		else
			echo "fail $(cat "$T_DIR/ls.err" "$T_DIR/ls.json" | head -c 200)"
		fi
	done
}

# Every listing named all NSESS sessions once each, and there was at least
# one.  The watched writer's own session (each lockctl put opens one) may
# be listed too: up to NSESS + 2.
listings_complete() {
	local n bad
	n=$(grep -c . "$T_DIR/listings")
	bad=$(awk -v N="$NSESS" '!($1 == $2 && $2 == $3 && $1 >= N && $1 <= N + 2)' "$T_DIR/listings" | grep -c .)
	echo "$n listings of $NSESS sessions, $bad incomplete, with duplicates, or failed"
	sort "$T_DIR/listings" | uniq -c | sort -rn | head -5
	[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
}

# (d) An admin listing over many sessions: chubby-bench holds NSESS idle
# sessions (KeepAlives held as libchubby does) while lockctl lists them
# again and again.  With one reply for all of them, 100,000 sessions do
# not fit in a frame (about 20,000 do), and the master packed every
# session in one turn of its loop.
if phase sessions; then
	CHUBBY_CELL_TOOL="$CHUBBY_CELL_BIN" "$BUILD/tools/chubby-bench/chubby-bench" --dir "$cell" \
		-w keepalive -n "$NSESS" -d $((S + 120)) >"$T_DIR/bench.out" 2>&1 &
	BENCH=$!
	check "$NSESS sessions live" wait_for 120 sessions_are "$NSESS"
	list_sessions >"$T_DIR/listings" &
	lister=$!
	check "lockctl sessions over $NSESS sessions: one master and one epoch for $S s" stable_for "$S"
	sed 's/^/    /' "$T_DIR/last.out"
	kill $lister; wait $lister 2>/dev/null
	check "every listing names all $NSESS sessions" listings_complete
	sed 's/^/    /' "$T_DIR/last.out"
	kill $BENCH; wait $BENCH 2>/dev/null
	BENCH=""
fi

finish
