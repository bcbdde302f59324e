#!/bin/bash
# test_distance.sh: a cell whose replicas are far apart.  Every peer link
# goes through delay_relay.py (a user-space stand-in for netem, which this
# kernel lacks), which holds each byte back DELAY ms one way: replicas
# dial the relay (peer=), which forwards to where the replica listens
# (peer_listen=, chubby.conf(5)).  For one-way delays of 30 ms and 100 ms
# (round trips of 60 and 200 ms) the cell must elect one master, keep it
# and its epoch, and serve reads and writes, with the settings
# docs/OPERATIONS.md ("Replicas far apart") gives for that distance.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(t_port)
peer=$((port + 1))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
far="$cell/far.conf"
RELAY=""
trap '[ -n "$RELAY" ] && kill $RELAY 2>/dev/null; t_cleanup' EXIT
L() { "$LOCKCTL" -C "$far" -t 10000 "$@"; }

check "5-replica cell made" cell_up "$cell" --replicas 5 --base-port "$port"
check "and stopped, to start again behind relays" "$CHUBBY_CELL_BIN" down --dir "$cell"

# Replica i listens on 127.0.0.(10+i); the others reach it at 127.0.0.(30+i).
far_config() { # settings...
	{
		grep -v '^replica ' "$conf"
		for s in "$@"; do echo "$s"; done
		for i in 1 2 3 4 5; do
			echo "replica $i client=127.0.0.$((10 + i)):$port peer=127.0.0.$((30 + i)):$peer" \
				"status=127.0.0.$((10 + i)):$((port + 2)) peer_listen=127.0.0.$((10 + i)):$peer"
		done
	} >"$far"
}

start_far() { # one-way-ms
	local i
	"$PY" "$(dirname "$0")/delay_relay.py" "$1" \
		$(for i in 1 2 3 4 5; do echo "127.0.0.$((30 + i)):$peer=127.0.0.$((10 + i)):$peer"; done) \
		>"$T_DIR/relay-$1.log" 2>&1 &
	RELAY=$!
	wait_for 10 grep -q relaying "$T_DIR/relay-$1.log" || return 1
	for i in 1 2 3 4 5; do
		setsid "$CHUBBYD" -c "$far" -i "$i" >>"$cell/replica-$i.log" 2>&1 </dev/null &
		echo $! >"$cell/replica-$i.pid"
	done
}

stop_far() {
	"$CHUBBY_CELL_BIN" down --dir "$cell" >/dev/null 2>&1
	kill $RELAY 2>/dev/null; wait $RELAY 2>/dev/null; RELAY=""
}

# Samples the cell for SECONDS: one master and one epoch all along.
stable() { # seconds
	local end=$(( $(date +%s) + $1 )) e0="" e n=0
	while [ "$(date +%s)" -lt $end ]; do
		e=$(cell_status "$far" | jpy '
rs = [r for r in j["replicas"] if r["reachable"]]
ms = [r for r in rs if r.get("role") == "master"]
"%d:%s" % (len(ms), ms[0]["epoch"] if ms else "-")')
		case $e in 1:*) ;; *) echo "not one master: $e"; return 1 ;; esac
		[ -z "$e0" ] && e0=$e
		[ "$e" = "$e0" ] || { echo "epoch changed: $e0 -> $e"; return 1; }
		n=$((n + 1)); sleep 1
	done
	echo "$n samples, one master and epoch ${e0#1:}"
}

# N writes through lockctl put (each a new client: find the master, open,
# write, close: three log writes), their median in ms printed; fails
# unless every write succeeded and the median is at least the three
# commits' round trips through the relays (2 x DELAY each), so the relays
# are really in the path.
writes_through_relays() { # n one-way-ms
	local i t0 t1 ms=""
	for i in $(seq 1 "$1"); do
		t0=$(date +%s%3N); L put far/k "v$i" >/dev/null || return 1; t1=$(date +%s%3N)
		ms="$ms $((t1 - t0))"
	done
	med=$(printf '%s\n' $ms | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	echo "lockctl put: median $med ms over $1 writes (one way $2 ms)"
	[ "$med" -ge $((6 * $2)) ]
}

run_distance() { # one-way-ms settings...
	local d=$1; shift
	far_config "$@"
	check "$d ms: replicas started behind the relays" start_far "$d"
	check "$d ms: one master elected" wait_for 60 one_master "$far"
	check "$d ms: writes commit" L sync -n 50 -w 4
	check "$d ms: mkdir" L mkdir -p far
	check "$d ms: a write and a read" bash -c "$(declare -f L); LOCKCTL='$LOCKCTL' far='$far'; L put far/x hello$d && [ \"\$(L cat far/x)\" = hello$d ]"
	check "$d ms: lockctl put, each a new client, slowed by the relays" writes_through_relays 10 "$d"
	sed 's/^/    /' "$T_DIR/last.out"
	check "$d ms: one master and one epoch for 20 s" stable 20
	sed 's/^/    /' "$T_DIR/last.out"
	stop_far
}

run_distance 30
run_distance 100
finish
