#!/bin/bash
# test_coherence.sh: the master's cache invalidation against a real
# five-replica cell with a slow cacher (tests/integration/coherence_checks.py,
# tests/integration/cacher.py): ephemeral nodes reaped by CLOSE, SESSION_END
# and expiry invalidate their cachers first; writes to one node wait in
# order behind their invalidations; and no invalidation is lost when the
# master's lease lapses and comes back in the same epoch (issue 14).
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(( $(t_port) + 3 ))
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
# A follower thawed after SIGSTOP waits election_timeout for the master's
# heartbeat before it stands for election: with 2 s the lease usually comes
# back in the same epoch (the lapse case needs that, and retries if not).
check "5-replica cell comes up" cell_up "$cell" --replicas 5 --base-port "$port" \
	--set session_lease=5s --set election_timeout=2s
check "exactly one master" wait_for 10 one_master "$conf"
out="$T_DIR/coherence.out"
"$PY" "$(dirname "$0")/coherence_checks.py" "$cell" "$CHUBBY_CELL_BIN" "$port" >"$out" 2>&1
rc=$?
cat "$out"
sub_results "$out" '^coherence_checks: ' "$rc"
check "all 5 replicas converge to equal digests" wait_for 20 converged "$conf" 5
finish
