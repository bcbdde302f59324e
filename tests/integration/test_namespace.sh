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
cat "$out"
T_PASSED=$((T_PASSED + $(grep -c '^ok - ' "$out")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL - ' "$out")))
check "ns_checks.py ran to its end" grep -q "^ns_checks: " "$out"
check "all 5 replicas converge to equal digests" wait_for 20 converged "$conf" 5
finish
