#!/bin/bash
# test_libchubby.sh: libchubby against real cells, through
# tests/integration/libchubby_driver (a CLI over the public API): CRUD,
# lock contention, events, the cache and its invalidation, riding out a
# master's kill -9, losing a session to SIGSTOP (lock-delay, stale
# sequencer), and finding the master through DNS SRV records (dnsmasq).
. "$(dirname "$0")/lib.sh"
t_time_limit 300

DRV="$BUILD/tests/integration/libchubby_driver"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"
now_ms() { date +%s%3N; }

. "$(dirname "$0")/drv.sh"
t_cleanup_drivers() {
	for p in "${DRV_PID[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	[ -n "${DNSMASQ_PID:-}" ] && kill "$DNSMASQ_PID" 2>/dev/null
	t_cleanup
}
trap t_cleanup_drivers EXIT

check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 30 one_master "$conf"
check "open a session and see it SAFE" bash -c "'$DRV' open | grep -q '^ok session=[1-9][0-9]* state=SAFE'"
if "$DRV" open 2>&1 | grep -q 'E_BAD_OP'; then
	skip "the session ops" "the server answers E_BAD_OP to them: nothing more to test"
	finish
	exit $?
fi

# ---- CRUD, in one process ----
check "open/create/write/read/CAS/readdir/delete" bash -c "'$DRV' basic /ls/local/crud | tail -1 | grep -qx ok"

# ---- a synchronous call's wake-ups (docs/CLIENT.md "The shell") ----
# The caller writes its request on an idle connection itself: libchubby's
# threads sleep and wake once per call (the loop thread, for the answer),
# not twice (woken to send it, then for the answer).  A count of wake-ups,
# not a time: at most 1.5 per write over 300 sequential writes leaves room
# for KeepAlives and timer ticks.
wakeups_ok() {
	local out
	out=$("$DRV" wakeups /ls/local/wakeups 300) || { echo "$out"; return 1; }
	echo "$out"
	[ "$(echo "$out" | awk '$1 == "wakeups" { print $2 }')" -lt 150 ]
}
check "a synchronous write wakes libchubby's threads about once, not twice" wakeups_ok

# ---- two clients: contention, events, the cache ----
check "client A up" drv_start a
check "client B up" drv_start b
F=/ls/local/shared
check "A opens $F watching CONTENTS_MODIFIED" drv_ok a open $F rwc 1
expect "A reads it empty" '^ok \(empty\) gen=0' drv a cat $F
check "B writes v1" drv_ok b put $F v1
check "A is told CONTENTS_MODIFIED" wait_for 10 grep -q "^event CONTENTS_MODIFIED $F\$" "$T_DIR/a.out"
expect "A reads v1 (and caches it)" '^ok v1 gen=1' drv a cat $F

# A cached read makes no round trip: it answers while the master is frozen.
m=$(master_id "$conf")
mpid=$(cat "$cell/replica-$m.pid")
kill -STOP "$mpid"
DRV_WAIT=5 expect "a cached read answers with the master frozen (no round trip)" '^ok v1 gen=1' drv a cat $F
kill -CONT "$mpid"

check "B writes v2 (A's copy is invalidated first)" drv_ok b put $F v2
expect "A reads v2 after B's write" '^ok v2 gen=2' drv a cat $F
check "B reads $F (and caches it)" drv_ok b cat $F
check "B poisons its handle" drv_ok b poison $F
expect "a poisoned handle's cached read fails with E_CANCELLED" '^err E_CANCELLED' drv b cat $F

L=/ls/local/lock1
check "A opens $L watching CONFLICTING_LOCK" drv_ok a open $L rwc 32
check "A takes the lock" drv_ok a lock $L
expect "B's trylock is refused: busy" '^err E_BUSY' drv b trylock $L
expect "B's acquire with a 500 ms limit times out" '^err E_TIMEOUT' drv b lock $L 500
check "A is told of B's conflicting request" wait_for 10 grep -q "^event CONFLICTING_LOCK $L" "$T_DIR/a.out"
seqa=$(drv a seq $L | awk '/^ok/{print $2}')
check "A gets a sequencer" test -n "$seqa"
check "the sequencer checks as current" drv_ok b checkseq "$seqa"
check "A releases" drv_ok a unlock $L
check "B now gets the lock" drv_ok b lock $L 5000
expect "A's old sequencer is stale" '^err E_STALE_SEQUENCER' drv a checkseq "$seqa"
check "B releases" drv_ok b unlock $L
check "A elects itself leader" drv_ok a elect /ls/local/leader alice 5000
expect "B sees alice lead" '^ok alice$' drv b leader /ls/local/leader
check "A steps down" drv_ok a close /ls/local/leader
expect "nobody leads after A steps down" '^ok \(none\)$' drv b leader /ls/local/leader
# The record names its lock generation: a holder that has not written its
# own record is not reported under the old leader's name.
check "B opens the election file" drv_ok b open /ls/local/leader rwc 0
check "B takes its lock without writing a record" drv_ok b lock /ls/local/leader
expect "the old record (alice) names nobody now" '^ok \(none\)$' drv a leader /ls/local/leader
check "B releases" drv_ok b unlock /ls/local/leader
drv_stop a
drv_stop b

# ---- kill -9 the master under a client that holds a lock and writes ----
"$DRV" lockloop /ls/local/failover 120 5 >"$T_DIR/loop.out" 2>&1 &
loop_pid=$!
check "the writer holds its lock and writes" wait_for 20 grep -q '^write 3 ' "$T_DIR/loop.out"
m=$(master_id "$conf")
check "kill -9 the master (replica $m)" "$CHUBBY_CELL_BIN" kill "$m" --dir "$cell"
check "the writer finishes by itself" wait_for 120 bash -c "! kill -0 $loop_pid"
wait "$loop_pid"
loop_rc=$?
tail -3 "$T_DIR/loop.out" | sed 's/^/    /'
check "writer exited cleanly" test "$loop_rc" -eq 0
check "the writer saw MASTER_FAILOVER" grep -q '^event MASTER_FAILOVER' "$T_DIR/loop.out"
check "its writes resumed at the new master" grep -q '^done .*after_failover=[5-9]' "$T_DIR/loop.out"
check "same session, same sequencer, lock still held, SAFE" \
	grep -q '^done .*failed=0 .*same_session=1 same_seq=1 lock_mode=2 state=SAFE' "$T_DIR/loop.out"
check "a new master serves" wait_for 30 one_master "$conf"
check "restart the old master" "$CHUBBY_CELL_BIN" restart "$m" --dir "$cell"

# ---- SIGSTOP a client past its grace period ----
# A small cell with a short session lease and grace period.
port2=$((port + 5))
cell2="$T_DIR/cell2"
conf2="$cell2/chubby.conf"
check "a 3-replica cell with a 2 s lease, 3 s grace, 4 s lock-delay" cell_up "$cell2" --replicas 3 \
	--base-port "$port2" --set session_lease=2s --set grace_period=3s --set lock_delay=4s
check "cell 2 has a master" wait_for 30 one_master "$conf2"
check "client C up" drv_start c -C "$conf2"
check "client D up" drv_start d -C "$conf2"
S=/ls/local/stopped
check "C takes the lock" drv_ok c lock $S
seqc=$(drv c seq $S | awk '/^ok/{print $2}')
check "C gets a sequencer" test -n "$seqc"
check "D opens the file" drv_ok d open $S rw
expect "D sees it busy" '^err E_BUSY' drv d trylock $S
t0=$(now_ms)
kill -STOP "${DRV_PID[c]}"
# Poll until the lock is no longer busy: the first other answer must be the
# lock-delay, not the lock.
first=""
end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt $end ]; do
	out=$(drv d trylock $S)
	case $out in *E_BUSY*) sleep 0.2 ;; *) first=$out; break ;; esac
done
expect "once C's session expired the lock is in its lock-delay" '^err E_LOCK_DELAY' echo "$first"
out=$(drv d lock $S 20000)
t1=$(now_ms)
if echo "$out" | grep -q '^ok' && [ $((t1 - t0)) -ge 3900 ]; then T_PASSED=$((T_PASSED + 1)); echo "ok - D gets the lock only after the lock-delay ($((t1 - t0)) ms after C stopped)"
else T_FAILED=$((T_FAILED + 1)); echo "FAIL - D's lock: $out after $((t1 - t0)) ms"; fi
expect "C's old sequencer is refused" '^err E_STALE_SEQUENCER' drv d checkseq "$seqc"
seqd=$(drv d seq $S | awk '/^ok/{print $2}')
expect "an offline verifier accepts D's sequencer (signature, newest)" "^ok $S generation" \
	drv d offline "$cell2/seq.key" "$seqd" "$seqd"
expect "an offline verifier that saw D's refuses C's older one" '^err E_STALE_SEQUENCER' \
	drv d offline "$cell2/seq.key" "$seqd" "$seqc"
bad=$(printf '%s' "$seqc" | sed 's/.$/0/;t' )
[ "$bad" = "$seqc" ] && bad=$(printf '%s' "$seqc" | sed 's/.$/1/')
expect "an offline verifier refuses a forged sequencer" '^err E_BAD_SEQUENCER' \
	drv d offline "$cell2/seq.key" "$seqd" "$bad"
# C stays stopped past its lease (2 s) and grace period (3 s) in all.
while [ $(( $(now_ms) - t0 )) -lt 6000 ]; do sleep 0.2; done
kill -CONT "${DRV_PID[c]}"
check "C learns its session is lost" wait_for 15 grep -q '^event EXPIRED' "$T_DIR/c.out"
expect "C's state is EXPIRED" '^ok EXPIRED$' drv c state
expect "C's calls fail with E_SESSION_EXPIRED" '^err E_SESSION_EXPIRED' drv c stat $S
expect "D holds the lock" 'lock_mode=2 .*holders=1' drv d stat $S
drv_stop c
drv_stop d

# ---- master location by DNS SRV (dnsmasq) ----
DNSMASQ=/usr/sbin/dnsmasq
if [ ! -x "$DNSMASQ" ]; then
	skip "master location by DNS SRV records" "no $DNSMASQ (Debian package dnsmasq-base)"
else
	dport=$((port + 9))
	dns=127.0.0.53
	srv=""
	for i in 1 2 3 4 5; do
		srv="$srv --srv-host=_chubby._tcp.cell.test,r$i.cell.test,$port,$i,0 --host-record=r$i.cell.test,127.0.0.$((10 + i))"
	done
	# shellcheck disable=SC2086
	"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --user=root --group=root \
		--listen-address=$dns --bind-interfaces --port=$dport --pid-file= \
		--log-facility="$T_DIR/dnsmasq.log" $srv --host-record=plain.test,127.0.0.11 \
		>/dev/null 2>&1 &
	DNSMASQ_PID=$!
	dns_env() { env CHUBBY_DNS_SERVER=$dns:$dport CHUBBY_CA="$cell/tls/ca.crt" \
		CHUBBY_CERT="$cell/tls/client-admin.crt" CHUBBY_KEY="$cell/tls/client-admin.key" "$@"; }
	check "dnsmasq answers" wait_for 10 grep -q 'started' "$T_DIR/dnsmasq.log"
	check "a session through the SRV records of cell.test" \
		bash -c "$(declare -f dns_env); dns=$dns dport=$dport cell=$cell; dns_env '$DRV' -C cell.test open | grep -q '^ok session=.* state=SAFE'"
	check "CRUD through DNS" \
		bash -c "$(declare -f dns_env); dns=$dns dport=$dport cell=$cell; dns_env '$DRV' -C cell.test basic /ls/local/dns | tail -1 | grep -qx ok"
	check_fails "a name without SRV falls back to its A record, default port" "127.0.0.11:7100" \
		dns_env "$DRV" -t 1500 -C plain.test open
	check_fails "a name DNS does not know" "E_UNAVAILABLE.*nowhere.test" \
		dns_env "$DRV" -t 1500 -C nowhere.test open
fi

finish
