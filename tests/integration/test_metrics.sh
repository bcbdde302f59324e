#!/bin/bash
# test_metrics.sh: the master's /metrics on a real five-replica cell,
# scraped before and after some client operations and read by a strict
# parser of the Prometheus text format (metrics_check.py): the process_*
# metrics, requests by op and status from bounded label sets, counts that
# only rise, and the request, commit and fsync latency histograms.
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
check "5-replica cell comes up" cell_up "$cell" --replicas 5 --base-port "$port"
check "exactly one master" wait_for 20 one_master "$conf"
export CHUBBY_CELL="$conf"
lc() { "$LOCKCTL" "$@" </dev/null; }
m=$(master_id "$conf")
url="http://127.0.0.$((10 + m)):$((port + 2))/metrics"
scrape() { # file
	"$PY" -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=10)
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), r.headers
sys.stdout.write(r.read().decode())' "$url" >"$1"
}
check "scrape the master (replica $m) before" scrape "$T_DIR/before.txt"
# Writes (OPEN creating, SET_CONTENTS), reads, a miss (E_NOT_FOUND) and a lock.
check "a directory" lc mkdir m
# put creates a node with its contents (OPEN); on a node that exists it
# is a SET_CONTENTS.
check "some writes" bash -c "for i in 1 2 3 4 5; do '$LOCKCTL' put m/k\$i x </dev/null && '$LOCKCTL' put m/k\$i v\$i </dev/null || exit 1; done"
check "some reads" bash -c "for i in 1 2 3; do [ \"\$('$LOCKCTL' cat m/k\$i </dev/null)\" = v\$i ] || exit 1; done"
check_fails "a read of a missing node" "NOT_FOUND|no such node" lc cat m/none
check "a lock taken and released" lc lock m/k1
same_master() { [ "$(master_id "$conf")" = "$m" ]; }
check "the same master" same_master
check "scrape the master after" scrape "$T_DIR/after.txt"
out="$T_DIR/metrics_check.out"
"$PY" "$(dirname "$0")/metrics_check.py" "$(dirname "$0")/../.." \
	"$T_DIR/before.txt" "$T_DIR/after.txt" >"$out" 2>&1
rc=$?
cat "$out"
sub_results "$out" '^metrics_check: ' "$rc"

# The master stops (SIGTERM) while it holds a lock holder's KeepAlive: the
# session layer answers the held requests as it shuts down, after the
# client port is gone, and they are still counted by op and status.
# Under the e2e-asan phase (tests/run-all) a use of the freed client port
# there is a sanitizer report.
"$LOCKCTL" lock m/k2 >"$T_DIR/hold.out" 2>&1 < <(exec sleep 60 2>/dev/null) &
holder=$!
check "a lock holder holds m/k2" wait_for 20 grep -qx holding "$T_DIR/hold.out"
master_down() { "$CHUBBY_CELL_BIN" --json status --dir "$cell" | jpy "
[r for r in j['replicas'] if r['id'] == $m][0]['up'] is False" | grep -qx 1; }
check "the master stops cleanly while it holds a KeepAlive" \
	"$CHUBBY_CELL_BIN" stop "$m" --dir "$cell"
check "the master's process is gone" wait_for 20 master_down
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
finish
