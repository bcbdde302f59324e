#!/bin/bash
# test_proxy_claim.sh: the cell's side of proxies (issue 21 item 4;
# docs/PROTOCOL.md "Proxies"): a proxy's client keeps its lock when its
# proxy dies, another proxy claims it within the claim window, and the
# client's end releases it after its lock-delay.  proxy_claim.py speaks the
# raw protocol as chubby-proxy does, with certificates whose principals the
# cell lists in `proxies`.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(( $(t_port) + 3 ))
cell="$T_DIR/cell"
# Short leases so that the dead proxy's session lapses quickly; the claim
# window must exceed grace_period plus session_lease.
check "3-replica cell with proxies px1, px2" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set "proxies=px1, px2" --set session_lease=2s --set grace_period=4s \
	--set proxy_claim_window=60s --set lock_delay=3s
for who in px1 px2 bob; do
	step "a client certificate for $who" "$CERTS" client --dir "$cell/tls" --name "$who"
done
out="$T_DIR/proxy_claim.out"
"$PY" "$(dirname "$0")/proxy_claim.py" "$cell" "$CHUBBY_CELL_BIN" "$port" >"$out" 2>&1
rc=$?
cat "$out"
sub_results "$out" '^proxy_claim: [0-9]+ failed' "$rc"
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
