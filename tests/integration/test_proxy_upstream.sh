#!/bin/bash
# test_proxy_upstream.sh: chubby-proxy survives the loss of its own upstream
# session (docs/PROXY.md "The upstream session expires").  The proxy is
# stopped (SIGSTOP) until the master has expired its upstream session, then
# resumed: it gets E_SESSION_EXPIRED, starts a new upstream session and
# CLAIMs its client's handles onto it (the master kept them orphaned for
# proxy_claim_window).  The client, held in jeopardy meanwhile (its grace
# period is libchubby's default, 45 s), keeps its session, its lock (the
# same sequencer stays current) and its ephemeral file, and sees
# MASTER_FAILOVER.
# Then the same loss again, but the cell is full when the proxy comes back
# (max_sessions: the orphaned upstream session still counts, and two direct
# clients took the rest), so the master refuses the proxy's new upstream
# SESSION_START: the client is told at once that its session is gone
# (E_SESSION_EXPIRED on its held KeepAlive), instead of hanging in jeopardy
# until its 45 s grace period ends.
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
PX_PID=""

. "$(dirname "$0")/drv.sh"
t_cleanup_all() {
	for p in "${DRV_PID[@]}" $PX_PID; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_all EXIT

# A short lease so that the master expires the stopped proxy's session soon;
# the claim window (60 s) exceeds grace_period plus session_lease.
check "cell comes up with 3 replicas and proxy px1" cell_up "$cell" --replicas 3 \
	--base-port "$port" --set session_lease=3s --set grace_period=10s --set proxies=px1 \
	--set proxy_claim_window=60s --set lock_delay=2s --set max_sessions=4
check "one master" wait_for 30 one_master "$conf"
check "proxy certificate px1" "$CERTS" proxy --dir "$tls" --name px1
check "client certificate alice" "$CERTS" client --dir "$tls" --name alice

"$PROXY" --config "$conf" --listen "$P1" --cert "$tls/proxy-px1.crt" \
	--key "$tls/proxy-px1.key" --log-level debug >"$T_DIR/px1.log" 2>&1 &
PX_PID=$!
check "proxy px1 finds the master" wait_for 20 grep -q 'upstream: master at' "$T_DIR/px1.log"

# A reaches the cell through px1 only (no other proxy to flee to).
cat >"$T_DIR/alice-drv" <<EOS
#!/bin/sh
CHUBBY_CELL="$P1" CHUBBY_CA="$tls/ca.crt" CHUBBY_CERT="$tls/client-alice.crt" \\
	CHUBBY_KEY="$tls/client-alice.key" exec "$DRV" "\$@"
EOS
chmod +x "$T_DIR/alice-drv"
drv_start_alice() { local d=$DRV rc; DRV="$T_DIR/alice-drv"; drv_start "$@"; rc=$?; DRV=$d; return $rc; }
check "client A up through px1" drv_start_alice a
export CHUBBY_CELL="$conf"
check "client B up (direct)" drv_start b

L=/ls/local/lock
E=/ls/local/eph
check "A opens $L" drv_ok a open $L rwc
expect "A takes $L" '^ok' drv a lock $L
seq=$(drv a seq $L | sed -n 's/^ok //p')
check "A has a sequencer" test -n "$seq"
expect "A creates the ephemeral $E" '^ok created=1' drv a open $E rwce 0 mine
check "B opens $L" drv_ok b open $L rwc
expect "the cell says A's sequencer is current" '^ok' drv b checkseq "$seq"
f0=$(grep -c '^event MASTER_FAILOVER' "$T_DIR/a.out")

# The master's session list has px1's upstream session (its id from px1's log).
usid=$(sed -n 's/.*upstream: session \([0-9]*\) for principal alice.*/\1/p' "$T_DIR/px1.log" | tail -n 1)
up_listed() { "$LOCKCTL" -C "$conf" sessions | awk 'NR > 1 { print $1 }' | grep -qx "$usid"; }
check "the master lists px1's upstream session ${usid:-?}" up_listed
check "stop px1" kill -STOP "$PX_PID"
# Expired: gone from the list, or listed with no lease left ("0.0s") for
# 2 s on end: the master expires a session as soon as its lease ends with no
# KeepAlive held, and rounding shows a lease in its last 50 ms as 0.0s too.
zero_since=""
up_expired() { # lockctl must answer: a failure lists nothing and proves nothing
	local out row
	out=$("$LOCKCTL" -C "$conf" sessions 2>&1) || return 1
	row=$(echo "$out" | awk -v s="$usid" 'NR > 1 && $1 == s { print $3 }')
	[ -z "$row" ] && return 0
	[ "$row" = "0.0s" ] || { zero_since=""; return 1; }
	[ -n "$zero_since" ] || zero_since=$(date +%s)
	[ $(( $(date +%s) - zero_since )) -ge 2 ]
}
check "the master expires px1's upstream session" wait_for 30 up_expired
check "resume px1" kill -CONT "$PX_PID"
check "px1 learns its upstream session expired" \
	wait_for 30 grep -q 'expired at the master' "$T_DIR/px1.log"
# The master kept A's handles orphaned for the claim window: only a claim
# keeps them for good, and only a claimed session can still write.
expect "A writes through px1 with its session" '^ok' drv a put $E again
expect "B reads A's write" '^ok again ' drv b cat $E
check "px1 claimed A's session" grep -q 'claimed client session' "$T_DIR/px1.log"
expect "A's session survived" '^ok' drv a state
expect "A still holds $L: its sequencer is current" '^ok' drv b checkseq "$seq"
expect "B cannot take $L" 'E_BUSY' drv b trylock $L
check "A saw MASTER_FAILOVER" \
	wait_for 20 bash -c "[ \$(grep -c '^event MASTER_FAILOVER' '$T_DIR/a.out') -gt $f0 ]"
expect "A releases $L" '^ok' drv a unlock $L
expect "B takes $L" '^ok' drv b trylock $L

# The cell full when px1 comes back: its new SESSION_START is refused.
nsessions() { "$LOCKCTL" -C "$conf" sessions | awk 'NR > 1' | wc -l; }
expect "the cell keeps 2 sessions (B, px1's new upstream one)" '^2$' nsessions
usid=$(sed -n 's/.*upstream: session \([0-9]*\) for principal alice.*/\1/p' "$T_DIR/px1.log" | tail -n 1)
check "the master lists px1's new upstream session ${usid:-?}" up_listed
check "stop px1 again" kill -STOP "$PX_PID"
zero_since=""
check "the master expires px1's new upstream session" wait_for 30 up_expired
check "client C up (direct)" drv_start c
check "client D up (direct)" drv_start d
expect "the cell is full: 4 sessions, px1's orphan among them" '^4$' nsessions
check "resume px1" kill -CONT "$PX_PID"
check "px1's new upstream SESSION_START is refused" \
	wait_for 30 grep -q 'SESSION_START for alice refused: E_LIMIT' "$T_DIR/px1.log"
# Told at once: A's lease at the proxy ran out while px1 was stopped, its
# grace period (45 s) still runs; 15 s is far below what is left of it.
check "A learns at once that its session expired" \
	wait_for 15 grep -q '^event EXPIRED' "$T_DIR/a.out"
expect "A's session is expired" '^ok EXPIRED' drv a state
expect "A's calls fail with E_SESSION_EXPIRED" 'E_SESSION_EXPIRED' drv a cat $E

drv_stop a
drv_stop b
drv_stop c
drv_stop d
finish
