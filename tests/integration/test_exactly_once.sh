#!/bin/bash
# test_exactly_once.sh: request ids against a real five-replica cell
# (tests/integration/exactly_once.py, a client written from docs/PROTOCOL.md):
# a write re-sent with its rid returns the first outcome, on the same master
# and at the next one after a kill -9; replicas agree on the records.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
check "5-replica cell comes up" cell_up "$cell" --replicas 5 --base-port "$port" \
	--set session_lease=5s --set grace_period=20s \
	--set master_lease=3s --set master_lease_renew=1s --set election_timeout=500ms \
	--set heartbeat_interval=200ms
# Without our own cell the client would talk to whatever holds the port.
[ "$T_FAILED" -eq 0 ] || { finish; exit 1; }
check "exactly one master" wait_for 10 one_master "$conf"
out="$T_DIR/eo.out"
"$PY" "$(dirname "$0")/exactly_once.py" "$cell" "$CHUBBY_CELL_BIN" "$port" >"$out" 2>&1
cat "$out"
T_PASSED=$((T_PASSED + $(grep -c '^ok - ' "$out")))
T_FAILED=$((T_FAILED + $(grep -c '^FAIL - ' "$out")))
check "exactly_once.py ran to its end" grep -q "^exactly_once: " "$out"
check "the 4 live replicas converge to equal digests" wait_for 30 converged "$conf" 4
finish
