#!/bin/bash
# test_locate.sh: finding the master never waits on a hung replica (issue 17
# item 2).  A real five-replica cell in a network namespace of the test's
# own (each replica on 127.0.0.(10+i), see tools/chubby-cell).  The client's
# replica list is ordered so that hung replicas come before the master:
#  - one, then two followers frozen with SIGSTOP (their kernels still accept
#    TCP, so a connect "succeeds" and the TLS handshake hangs: the worst
#    case), and one black-holed with an nft drop rule (SYNs vanish);
#  - lockctl put and a libchubby session open each finish well inside one
#    probe timeout (2 s): the client probes the list hedged, in parallel;
#  - the master frozen: a new client with the frozen master first in its
#    list, and a session that was talking to it, both write again once a
#    new master serves.
# Every stopped replica is resumed in the EXIT trap.
T_NETNS=chubby-locate . "$(dirname "$0")/netns.sh"

. "$(dirname "$0")/lib.sh"
t_time_limit 300

DRV="$BUILD/tests/integration/libchubby_driver"
. "$(dirname "$0")/drv.sh"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
STOPPED=""
t_cleanup_locate() {
	for p in $STOPPED; do kill -CONT "$p" 2>/dev/null; done
	for p in "${DRV_PID[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_locate EXIT

check "5-replica cell up in its own network namespace" cell_up "$cell" --replicas 5 \
	--base-port "$port" --set master_lease=2s --set master_lease_renew=700ms \
	--set election_timeout=500ms --set heartbeat_interval=100ms
[ "$T_FAILED" -eq 0 ] || { finish; exit 1; }
check "one master" wait_for 20 one_master "$conf"

# Clients are given an address list (lockctl -C, $CHUBBY_CELL) in an order
# of the test's choosing, with the admin client's certificate.
export CHUBBY_CA="$cell/tls/ca.crt" CHUBBY_CERT="$cell/tls/client-admin.crt"
export CHUBBY_KEY="$cell/tls/client-admin.key"
addr() { echo "127.0.0.$((10 + $1)):$port"; }
list() { local i out=""; for i in "$@"; do out="$out${out:+,}$(addr "$i")"; done; echo "$out"; }
pid_of() { cat "$cell/replica-$1.pid"; }
stop() { local p; p=$(pid_of "$1"); STOPPED="$STOPPED $p"; kill -STOP "$p"; }
resume_all() { for p in $STOPPED; do kill -CONT "$p"; done; STOPPED=""; }
ms() { date +%s%3N; }

# within LIMIT_MS WHAT COMMAND...: COMMAND succeeds in less than LIMIT_MS.
# The limit is generous (the commands take tens of ms on an idle machine)
# and below the 2 s that one hung replica cost before, so it holds on a
# loaded 2-core machine and still fails if a probe waits for a hung one.
within() {
	local limit=$1 what=$2 t0 t1 rc=0; shift 2
	t0=$(ms)
	"$@" >"$T_DIR/within.out" 2>&1 || rc=$?
	t1=$(ms)
	echo "# $what: $((t1 - t0)) ms (status $rc)" | tee -a "$T_DIR/timings"
	[ $rc -eq 0 ] || { tail -5 "$T_DIR/within.out"; return 1; }
	[ $((t1 - t0)) -lt "$limit" ] || { echo "took $((t1 - t0)) ms, limit $limit ms"; return 1; }
}

# Orders the list with two followers ahead of the master: f1 f2 m f3 f4.
order() {
	m=$(master_id "$conf")
	followers=$(for i in 1 2 3 4 5; do [ "$i" = "$m" ] || echo "$i"; done)
	f1=$(echo "$followers" | sed -n 1p); f2=$(echo "$followers" | sed -n 2p)
	f3=$(echo "$followers" | sed -n 3p); f4=$(echo "$followers" | sed -n 4p)
	ahead=$(list "$f1" "$f2" "$m" "$f3" "$f4")
	echo "# master $m; list $ahead"
}
order
L() { "$LOCKCTL" -C "$ahead" -t 5000 "$@"; }
check "lockctl put with every replica up" within 1500 "put, all up" L put /ls/local/loc v0

# ---- hung followers ahead of the master ----
stop "$f1"
check "one frozen follower first: lockctl put < 1.5 s" within 1500 "put, 1 frozen" L put /ls/local/loc v1
check "one frozen follower first: libchubby open < 1.5 s" \
	within 1500 "libchubby open, 1 frozen" env CHUBBY_CELL="$ahead" "$DRV" open
# lockctl's admin commands find the master their own way (no session).
check "one frozen follower first: lockctl master < 1.5 s" within 1500 "master, 1 frozen" L master
stop "$f2"
check "two frozen followers first: lockctl put < 1.5 s" within 1500 "put, 2 frozen" L put /ls/local/loc v2
check "two frozen followers first: libchubby open < 1.5 s" \
	within 1500 "libchubby open, 2 frozen" env CHUBBY_CELL="$ahead" "$DRV" open
check "two frozen followers first: lockctl master < 1.5 s" within 1500 "master, 2 frozen" L master
# A relative path needs the cell's name, which a host:port list does not say.
check "two frozen followers first: lockctl put to a relative path < 1.5 s" \
	within 1500 "put relative, 2 frozen" L put loc-rel r1
check "two frozen followers first: lockctl sync < 1.5 s" within 1500 "sync, 2 frozen" L sync
master_is() { [ "$(L --json master | jpy 'j["master"]')" = "$1" ]; }
check "lockctl master names replica $m" master_is "$m"
reads() { [ "$("$LOCKCTL" -C "$1" -t 5000 cat "$2")" = "$3" ]; }
check "two frozen followers first: lockctl cat reads v2" reads "$ahead" /ls/local/loc v2
resume_all
# The resumed followers may call an election (a rejoining replica can
# depose the master: issue 17 item 1, not this test's business): let the
# cell settle and look at who is master again.
check "the cell converges after the resume" wait_for 60 converged "$conf" 5
check "one master after the resume" wait_for 30 one_master "$conf"
order

# ---- a black-holed follower ahead of the master (packets dropped) ----
nft add table inet locatetest
nft add chain inet locatetest out '{ type filter hook output priority 0; policy accept; }'
nft add rule inet locatetest out ip daddr "127.0.0.$((10 + f1))" tcp dport "$port" drop
check "black-holed follower first: lockctl put < 1.5 s" within 1500 "put, 1 black-holed" L put /ls/local/loc v3
check "black-holed follower first: libchubby open < 1.5 s" \
	within 1500 "libchubby open, 1 black-holed" env CHUBBY_CELL="$ahead" "$DRV" open
check "black-holed follower first: lockctl master < 1.5 s" within 1500 "master, 1 black-holed" L master
nft delete table inet locatetest

# ---- the master frozen ----
first=$(list "$m" "$f1" "$f2" "$f3" "$f4")
CHUBBY_CELL="$first" check "a session with the master first in its list" drv_start a -c 30000
check "it writes" drv_ok a put /ls/local/fo a1
e0=$(cell_status "$conf" | jpy "[r.get('epoch') for r in j['replicas'] if r['id'] == $m][0]")
t_stop=$(ms)
stop "$m"
new_master() { # a master other than the frozen one, with a newer epoch
	cell_status "$conf" | jpy "
ms = [r for r in j['replicas'] if r.get('role') == 'master' and r['id'] != $m]
len(ms) == 1 and ms[0]['epoch'] > $e0" | grep -qx 1
}
check "a new master serves" wait_for 30 new_master
echo "# new master after $(( $(ms) - t_stop )) ms"
check "frozen master first: a new libchubby session < 1.5 s" \
	within 1500 "libchubby open, master frozen" env CHUBBY_CELL="$first" "$DRV" open
# The session saw its KeepAlive go unanswered; it finds the new master
# within its guard (4 s before its 12 s lease ends) and writes again.
DRV_WAIT=15 check "the existing session writes again" drv_ok a put /ls/local/fo a2
echo "# existing session wrote again $(( $(ms) - t_stop )) ms after the stop"
# Only now a new client's write: until every session of the old master has
# come back or expired, the new master holds operations (Chubby §2.9,
# steps 7-8), which costs what the existing session takes to notice, not
# what finding the master costs.
check "frozen master first: a new client's lockctl put < 1.5 s" \
	within 1500 "put, master frozen" "$LOCKCTL" -C "$first" -t 5000 put /ls/local/fo-new n1
check "frozen master first: lockctl master < 1.5 s" \
	within 1500 "master, master frozen" "$LOCKCTL" -C "$first" -t 5000 master
check "and reads its write" reads "$first" /ls/local/fo a2
drv_stop a
resume_all
check "the cell converges after the resume" wait_for 60 converged "$conf" 5
cat "$T_DIR/timings"
finish
