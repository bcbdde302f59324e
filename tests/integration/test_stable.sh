#!/bin/bash
# test_stable.sh: a healthy cell keeps one master and one epoch under
# stress that is not a failure (issue 17 item 4): CPU contention (four
# busy loops on this machine's cores) and a slow disk (fsync at 200 ms on
# every replica, tests/nemesis/slow_fsync.c) and `lockctl sessions` over
# STABLE_SESSIONS (100,000) live sessions.  Each phase samples the cell
# every second for STABLE_SECONDS (30 in CI; the issue's figure is 600:
# STABLE_SECONDS=600 make check TESTS=tests/integration/test_stable.sh)
# while a client writes through it: one master, one epoch, no write lost
# to a fail-over.  Default settings throughout, but for max_sessions, which
# must admit the sessions.  STABLE_PHASES picks phases (default: all, in
# order: cpu disk sessions).
. "$(dirname "$0")/lib.sh"
S=${STABLE_SECONDS:-30}
NSESS=${STABLE_SESSIONS:-100000}
PHASES=${STABLE_PHASES:-cpu disk sessions}
t_time_limit $((3 * S + 300))

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
	local end=$(( $(date +%s) + $1 )) e0="" e n=0 w=0 wf=0 lag lagmax=0 out
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
	echo "$n samples: one master (id:epoch ${e0#1:}) all along; $w writes, $wf failed;" \
		"master's loop lag at most $lagmax ms"
	grep -m3 '^fail' "$T_DIR/writes"
	case $e0 in 1:*) ;; *) return 1 ;; esac
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
# a line per listing: "<entries> <count field>" or "fail <error>".
list_sessions() {
	while :; do
		if "$LOCKCTL" -C "$conf" -t 30000 --json sessions >"$T_DIR/ls.json" 2>"$T_DIR/ls.err"; then
			jpy 'str(len(j["sessions"])) + " " + str(j["count"])' <"$T_DIR/ls.json"
		else
			echo "fail $(cat "$T_DIR/ls.err" "$T_DIR/ls.json" | head -c 200)"
		fi
	done
}

# Every listing named all NSESS sessions, and there was at least one.
listings_complete() {
	local n bad
	n=$(grep -c . "$T_DIR/listings")
	bad=$(grep -vc "^$NSESS $NSESS\$" "$T_DIR/listings")
	echo "$n listings of $NSESS sessions, $bad incomplete or failed"
	grep -v "^$NSESS $NSESS\$" "$T_DIR/listings" | sort | uniq -c | head -5
	[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
}

# (c) An admin listing over many sessions: chubby-bench holds NSESS idle
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
