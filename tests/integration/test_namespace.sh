#!/bin/bash
# test_namespace.sh: Chubby's calls through the wire protocol against a real
# five-replica cell (tests/integration/ns_checks.py, a client written from
# docs/PROTOCOL.md): every namespace operation and error, ACLs with a second
# principal, locks and sequencers, waiting ACQUIREs, events, cache
# invalidation, ephemeral nodes, session expiry with lock-delay, and the
# same session, handles, lock and sequencer across a kill -9 of the master.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
# Short session leases keep expiry quick; the master lease stays realistic.
check "5-replica cell comes up" cell_up "$cell" --replicas 5 --base-port "$port" \
	--set session_lease=3s --set grace_period=10s --set lock_delay=2s \
	--set master_lease=3s --set master_lease_renew=1s --set election_timeout=500ms \
	--set heartbeat_interval=200ms
check "exactly one master" wait_for 10 one_master "$conf"
check "a second client certificate (alice)" "$CERTS" client --dir "$cell/tls" --name alice
out="$T_DIR/ns.out"
"$PY" "$(dirname "$0")/ns_checks.py" "$cell" "$CHUBBY_CELL_BIN" "$port" >"$out" 2>&1
rc=$?
cat "$out"
sub_results "$out" '^ns_checks: ' "$rc"
check "all 5 replicas converge to equal digests" wait_for 20 converged "$conf" 5
m=$(master_id "$conf")
metrics_ok() {
	"$PY" - "http://127.0.0.$((10 + m)):$((port + 2))/metrics" <<'PYEOF'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
v = {}
for line in text.splitlines():
    if line.startswith("#") or not line.strip():
        continue
    name, val = line.rsplit(" ", 1)
    v[name] = float(val)
b = [(float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")), x)
     for k, x in v.items() if k.startswith("chubby_commit_latency_seconds_bucket")]
b.sort()
assert b and all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), b
assert b[-1][1] == v["chubby_commit_latency_seconds_count"] > 0
for k in ("chubby_sessions", "chubby_locks_held", "chubby_keepalives_total",
          "chubby_client_bytes_received_total", "chubby_client_bytes_sent_total", "chubby_nodes",
          "chubby_loop_lag_max_seconds"):
    assert k in v, k
# The replica's timer (the lag gauge samples it) fires at least every 250 ms.
lag = sorted((float(re.search(r'le="([^"]+)"', k).group(1).replace("+Inf", "inf")), x)
             for k, x in v.items() if k.startswith("chubby_loop_lag_seconds_bucket"))
assert lag and lag[-1][1] == v["chubby_loop_lag_seconds_count"] > 10, lag
assert v["chubby_client_bytes_received_total"] > 0 and v["chubby_keepalives_total"] > 0
PYEOF
}
check "the master's /metrics: commit latency and loop lag histograms, sessions, locks, KeepAlives, bytes" metrics_ok
finish
