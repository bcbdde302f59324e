#!/bin/bash
# test_lease_load.sh: session leases stretch under load (issue 21 item 3,
# docs/SESSIONS.md "Leases under load").  A cell with a 2 s session lease,
# leases up to 10 s, and a KeepAlive threshold so low that a dozen sessions
# overload it.  Checks, through lockctl and real lock holders:
#  - the master raises the lease it grants to 10 s, after recording the cap
#    (LEASE_CAP) in the replicated state, and says so in `lockctl status`;
#  - a lock holder stopped for 5 s (past the 2 s base lease) keeps its
#    session and its lock;
#  - a lock holder stopped while the master is killed keeps its session and
#    lock at the new master, which counts every lease as the recorded 10 s
#    (a new master that counted 2 s would expire it and free the lock);
#  - as the load goes, the lease wanted falls back towards the base.
. "$(dirname "$0")/lib.sh"
t_time_limit 200

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
lc() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }

check "5-replica cell up: session_lease 2s, up to 10s under load" \
	cell_up "$cell" --replicas 5 --base-port "$port" \
	--set session_lease=2s --set session_lease_max=10s --set grace_period=30s \
	--set overload_keepalive_rate=1 --set overload_queue=0 --set overload_cpu=0 --set overload_loop_lag=0ms \
	--set overload_session_starts=0
check "one master" wait_for 20 one_master "$conf"

# The master's session lease, as lockctl status --json reports it:
# "granted cap" (empty if the master does not report it).
master_lease() {
	cell_status "$conf" | jpy '
m = [r for r in j["replicas"] if r.get("role") == "master"]
"%s %s" % (m[0]["session_lease_ms"], m[0]["session_lease_cap_ms"]) if m and "session_lease_ms" in m[0] else ""'
}
lease_is() { [ "$(master_lease)" = "$1" ]; }

check "a quiet cell grants the base lease, with no cap recorded" wait_for 10 lease_is "2000 0"

pids=""
check "the lock file exists" lc put /ls/local/l holder
# The holder: a scripted lockctl session (one long-lived session, fed
# through a FIFO) that takes the lock and keeps it.  Unlike `lockctl lock --
# CMD`, which stops its command as soon as its session is in jeopardy, it
# waits through jeopardy for the master, as a Chubby client does.  Started
# directly, so that $! is lockctl itself.
mkfifo "$T_DIR/holder.in"
"$LOCKCTL" -C "$conf" -t 5000 script <"$T_DIR/holder.in" >"$T_DIR/holder.out" 2>&1 &
holder=$!
exec 3>"$T_DIR/holder.in"
echo "lock /ls/local/l" >&3
pids="$pids $holder"
for i in $(seq 1 14); do
	lc put /ls/local/s$i x >/dev/null 2>&1
	"$LOCKCTL" -C "$conf" -t 5000 lock /ls/local/s$i -- sleep 600 >"$T_DIR/s$i.out" 2>&1 &
	pids="$pids $!"
done
trap 'kill -CONT $pids 2>/dev/null; kill $pids 2>/dev/null; t_cleanup' EXIT

# The holder's session id, from the master's table.
holder_session() {
	lc --json sessions 2>/dev/null | jpy '
s = [x["session"] for x in j["sessions"] if any(l["path"] == "/ls/local/l" for l in x["locks"])]
s[0] if s else ""'
}
check "the holder holds /ls/local/l" wait_for 20 nonempty holder_session
sid=$(holder_session)

check "15 sessions at a 2 s lease overload the master: it grants 10 s, cap recorded" \
	wait_for 30 lease_is "10000 10000"
status_says() { lc status | grep -q "session lease $1"; }
check "lockctl status says so, and that the KeepAlive demand set it" \
	status_says "10.0s (set by keepalive)"
# /metrics names it too: 1 for keepalive, 0 for the other signals.
driver_metric() {
	local m; m=$(master_id "$conf") || return 1
	"$PY" - "http://127.0.0.$((10 + m)):$((port + 2))/metrics" <<'PYEOF'
import sys, urllib.request
lines = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines()
d = {l.split()[0]: l.split()[1] for l in lines if l.startswith("chubby_session_lease_driver{")}
want = {'chubby_session_lease_driver{signal="%s"}' % s: ("1" if s == "keepalive" else "0")
        for s in ("queue", "keepalive", "cpu", "loop_lag", "session_starts")}
sys.exit(0 if d == want else "driver series: %r" % d)
PYEOF
}
check "/metrics: chubby_session_lease_driver{signal=\"keepalive\"} 1, the others 0" driver_metric
# Every session renews at the 10 s lease: let the holder take one.
sleep 3

held_by_holder() { [ -n "$sid" ] && [ "$(holder_session)" = "$sid" ]; }

kill -STOP "$holder"
sleep 5
check "a holder stopped 5 s (past the 2 s base lease) still holds its lock" held_by_holder
check_fails "and another session cannot take it" "E_BUSY" lc trylock /ls/local/l
kill -CONT "$holder"
check "the holder runs on" kill -0 "$holder"
sleep 4

m=$(master_id "$conf")
kill -STOP "$holder"
t0=$(date +%s)
kill -9 "$(cat "$cell/replica-$m.pid")"
new_master() { local id; id=$(master_id "$conf"); [ -n "$id" ] && [ "$id" != "$m" ]; }
check "a new master after kill -9 of master $m" wait_for 20 new_master
while [ $(( $(date +%s) - t0 )) -lt 6 ]; do sleep 0.5; done
check "6 s after the fail-over began, the stopped holder's session still holds the lock at the new master" \
	held_by_holder
kill -CONT "$holder"
sleep 4
check "the holder's session kept its lock through the fail-over" held_by_holder
echo "sequencer /ls/local/l" >&3
seq_ok() { tail -n 1 "$T_DIR/holder.out" | grep -q "^ok"; }
check "and the holder's own session says it holds it" wait_for 10 seq_ok
exec 3>&-

kill $(echo "$pids" | tr ' ' '\n' | grep -v "^$holder\$") 2>/dev/null
lease_fell() {
	cell_status "$conf" | jpy '
m = [r for r in j["replicas"] if r.get("role") == "master"]
bool(m) and m[0].get("session_lease_ms", 10000) < 10000' | grep -qx 1
}
check "with the load gone, the lease falls back (a step every 10 s)" wait_for 40 lease_fell
finish
