#!/bin/bash
# test_protocol.sh: bad input on the client port of a real replica, over
# mutual TLS (tests/integration/protocol_abuse.py does the talking).
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(( $(t_port) + 7 ))
cell="$T_DIR/cell"
check "1-replica cell up" cell_up "$cell" --replicas 1 --base-port "$port" --set frame_timeout=2s
out="$T_DIR/abuse.out"
# The request fuzzer's seed: the run's (tests/run-all draws a fresh one).
export ABUSE_SEED=${ABUSE_SEED:-${CHUBBY_TEST_SEED:-7}}
echo "seed: $ABUSE_SEED (replay: CHUBBY_TEST_SEED=$ABUSE_SEED make check TESTS=tests/integration/test_protocol.sh)"
"$PY" "$(dirname "$0")/protocol_abuse.py" 127.0.0.11 "$port" "$cell/tls/ca.crt" \
	"$cell/tls/client-admin.crt" "$cell/tls/client-admin.key" "$(cat "$cell/replica-1.pid")" \
	>"$out" 2>&1
rc=$?
cat "$out"
sub_results "$out" '^SUMMARY-PY: failed=' "$rc"
check "the replica logged the refusals" grep -q "closing" "$cell/replica-1.log"
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
