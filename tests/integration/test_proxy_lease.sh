#!/bin/bash
# test_proxy_lease.sh: chubby-proxy stretches its clients' leases under load
# as the master does (docs/PROXY.md "Leases under load", issue 21 items 3
# and 4).  The proxy's config sets overload_keepalive_rate to 1/s, so six
# client sessions on a 3 s session_lease (a demand of 2 KeepAlives/s at the
# base lease) are twice the threshold: the proxy grants 6 s, twice its
# upstream session's 3 s lease at the master (the master, with a handful of
# sessions, is not loaded and keeps 3 s).  Checked: the proxy's STATUS shows
# the lease and the signal that set it; clients take the longer lease (their
# KeepAlives ask for holds above the base lease); and it is safe: with the
# proxy stopped until the master has expired its upstream session, the lock
# of a client whose stretched lease still runs stays held (the master keeps
# it orphaned for proxy_claim_window), and the client keeps it when the
# proxy comes back and claims it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
t_time_limit 300

DRV="$BUILD/tests/integration/libchubby_driver"
PROXY="$BUILD/server/chubby-proxy"
LOCKCTL="$BUILD/tools/lockctl/lockctl"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
tls="$cell/tls"
P1=127.0.0.1:$((port + 15))
P1_HTTP=127.0.0.1:$((port + 16))
PX_PID=""

. "$(dirname "$0")/drv.sh"
t_cleanup_all() {
	for p in "${DRV_PID[@]}" $PX_PID; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_all EXIT

check "cell comes up with 3 replicas and proxy px1" cell_up "$cell" --replicas 3 \
	--base-port "$port" --set session_lease=3s --set grace_period=10s --set proxies=px1 \
	--set proxy_claim_window=60s --set lock_delay=2s
check "one master" wait_for 30 one_master "$conf"
check "proxy certificate px1" "$CERTS" proxy --dir "$tls" --name px1
check "client certificate alice" "$CERTS" client --dir "$tls" --name alice

# The proxy's own thresholds (the cell's config with two options changed),
# and a claim window twice the cell's: a mistake the proxy must not trust,
# as a client lease stretched by it would outlive the locks the master
# keeps for it.  The proxy takes the shorter of its own and the master's.
pxconf="$T_DIR/px1.conf"
grep -Ev '^[[:space:]]*(overload_keepalive_rate|session_lease_max|proxy_claim_window)[[:space:]]*=' \
	"$conf" >"$pxconf"
printf 'overload_keepalive_rate = 1\nsession_lease_max = 12s\nproxy_claim_window = 120s\n' >>"$pxconf"
# Bad input: a --status address that cannot be one is refused, with the reason.
expect "a bad --status address is refused with the reason" '^chubby-proxy: --status nowhere: .*' \
	"$PROXY" --config "$pxconf" --listen 127.0.0.1:$((port + 17)) --cert "$tls/proxy-px1.crt" \
	--key "$tls/proxy-px1.key" --status nowhere
"$PROXY" --config "$pxconf" --listen "$P1" --cert "$tls/proxy-px1.crt" \
	--key "$tls/proxy-px1.key" --status "$P1_HTTP" --log-level debug >"$T_DIR/px1.log" 2>&1 &
PX_PID=$!
check "proxy px1 finds the master" wait_for 20 grep -q 'upstream: master at' "$T_DIR/px1.log"

# A field of px1's STATUS session_lease map, asked as alice.
px_lease() { # field
	"$PY" -c "import sys; sys.path.insert(0, '$(dirname "$0")'); import chubby_wire as w
print(w.Conn('$P1', '$tls/ca.crt', '$tls/client-alice.crt', '$tls/client-alice.key').call('STATUS')['session_lease'].get('$1'))"
}
expect "px1 grants the base lease while idle" '^3000$' px_lease granted_ms
expect "no signal set it" '^none$' px_lease driver
expect "px1 allows no slack before the master told it its claim window" '^0$' px_lease slack_ms

cat >"$T_DIR/alice-drv" <<EOS
#!/bin/sh
CHUBBY_CELL="$P1" CHUBBY_CA="$tls/ca.crt" CHUBBY_CERT="$tls/client-alice.crt" \\
	CHUBBY_KEY="$tls/client-alice.key" exec "$DRV" "\$@"
EOS
chmod +x "$T_DIR/alice-drv"
drv_start_alice() { local d=$DRV rc; DRV="$T_DIR/alice-drv"; drv_start "$@"; rc=$?; DRV=$d; return $rc; }
for c in a a2 a3 a4 a5 a6; do
	check "client $c up through px1" drv_start_alice "$c"
done
export CHUBBY_CELL="$conf"
check "client B up (direct)" drv_start b
expect "px1's slack: the master's claim window (60 s, not its own 120 s) less the grace period, drift and a second" \
	'^48930$' px_lease slack_ms

lease_is() { [ "$(px_lease granted_ms)" = "$1" ]; }
check "six sessions, twice the threshold: px1 grants 6 s" wait_for 20 lease_is 6000
expect "the KeepAlive demand set it" '^keepalive$' px_lease driver
expect "load 200%" '^200$' px_lease load_pct
lockctl_px1() { CHUBBY_CA="$tls/ca.crt" CHUBBY_CERT="$tls/client-alice.crt" \
	CHUBBY_KEY="$tls/client-alice.key" "$LOCKCTL" -C "$P1" "$@"; }
expect "lockctl status at px1 shows the lease it grants and why" \
	"^proxy $P1: session lease 6.0s \\(set by keepalive\\), load 200%" lockctl_px1 status
# px1's /metrics (Prometheus text, read by tests/integration/metrics_check.py's
# strict parser) and /health say the same.
http_get() { # path: the status code, then the body
	"$PY" -c 'import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    r = e
sys.stdout.write("%d\n%s" % (r.status, r.read().decode()))' "http://$P1_HTTP$1"
}
px_metric() { # name
	http_get /metrics | tail -n +2 | "$PY" -c "import sys; sys.path.insert(0, '$(dirname "$0")')
import metrics_check as m
f = m.parse(sys.stdin.read())
v = m.value(f, '$1')
print('absent' if v is None else int(v) if v == int(v) else round(v, 3))"
}
expect "px1 /metrics: the lease it grants (6 s)" '^6$' px_metric chubby_proxy_session_lease_seconds
expect "px1 /metrics: load 2 (twice the threshold)" '^2$' px_metric chubby_proxy_load_ratio
expect "px1 /metrics: six client sessions" '^6$' px_metric chubby_proxy_client_sessions
expect "px1 /metrics: one upstream session (alice's)" '^1$' px_metric chubby_proxy_upstream_sessions
expect "px1 /metrics: connected to the master" '^1$' px_metric chubby_proxy_upstream_connected
expect "px1 /metrics: the slack (48.93 s)" '^48\.93$' px_metric chubby_proxy_lease_slack_seconds
expect "px1 /metrics: KeepAlives answered" '^[1-9][0-9]*$' px_metric chubby_proxy_keepalives_total
expect "px1 /metrics: process_* figures" '^[1-9][0-9]*$' px_metric process_resident_memory_bytes
expect "px1 /health: 200, ok, with its master" '^200$' http_get /health
expect "px1 /health: ok, with its master" '"status":"ok","upstream":"127\.0\.0\.' http_get /health
expect "px1: an unknown path is a 404" '^404$' http_get /nothing
# The master is not loaded: its lease, and so the upstream one, stays 3 s.
expect "the master still grants 3 s" '"role":"master"[^}]*"session_lease_ms":3000' "$LOCKCTL" -C "$conf" --json status
# libchubby asks for a hold that ends its guard (a third of the lease at
# most) and a slack (about a second) before its lease ends: on a 3 s lease at
# most about 1.2 s (test_proxy_upstream.sh's clients ask 0.8 s), on 6 s
# about 3 s.  A hold above 2 s means the client took the longer lease.
max_hold() { grep -o 'KEEPALIVE hold [0-9]*' "$T_DIR/px1.log" | awk '$3 > m { m = $3 } END { print m + 0 }'; }
long_hold() { [ "$(max_hold)" -gt 2000 ]; }
check "clients take the stretched lease (a KeepAlive hold above 2 s)" wait_for 20 long_hold

L=/ls/local/lock
check "A opens $L" drv_ok a open $L rwc
expect "A takes $L" '^ok' drv a lock $L
seq=$(drv a seq $L | sed -n 's/^ok //p')
check "A has a sequencer" test -n "$seq"
check "B opens $L" drv_ok b open $L rwc

# Stopped until the master expires px1's upstream session: A's stretched
# lease may outlast that session, but not the claim window, during which
# the master keeps A's lock orphaned.
usid=$(sed -n 's/.*upstream: session \([0-9]*\) for principal alice.*/\1/p' "$T_DIR/px1.log" | tail -n 1)
zero_since=""
up_expired() { # gone from the list, or at 0.0s for 2 s on end (test_proxy_upstream.sh)
	local out row
	out=$("$LOCKCTL" -C "$conf" sessions 2>&1) || return 1
	row=$(echo "$out" | awk -v s="$usid" 'NR > 1 && $1 == s { print $3 }')
	[ -z "$row" ] && return 0
	[ "$row" = "0.0s" ] || { zero_since=""; return 1; }
	[ -n "$zero_since" ] || zero_since=$(date +%s)
	[ $(( $(date +%s) - zero_since )) -ge 2 ]
}
check "px1's upstream session ${usid:-?} is listed" test -n "$usid"
check "stop px1" kill -STOP "$PX_PID"
check "the master expires px1's upstream session" wait_for 30 up_expired
expect "B cannot take $L: the master keeps it for A's orphaned handle" 'E_BUSY' drv b trylock $L
expect "A's sequencer is still current" '^ok' drv b checkseq "$seq"
check "resume px1" kill -CONT "$PX_PID"
check "px1 claims A's session back" wait_for 30 grep -q 'claimed client session' "$T_DIR/px1.log"
expect "A still holds $L" '^ok' drv b checkseq "$seq"
expect "A's session is alive" '^ok (SAFE|JEOPARDY)' drv a state
expect "A releases $L" '^ok' drv a unlock $L
expect "B takes $L" '^ok' drv b trylock $L

for c in a a2 a3 a4 a5 a6 b; do drv_stop "$c"; done
finish
