#!/bin/bash
# test_exactly_once.sh: request ids against a real five-replica cell
# (tests/integration/exactly_once.py, a client written from docs/PROTOCOL.md):
# a write re-sent with its rid returns the first outcome, on the same master
# and at the next one after a kill -9; replicas agree on the records.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

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
killed=$(sed -n 's/^# killed=//p' "$out")
check "the killed replica (${killed:-?}) comes back" "$CHUBBY_CELL_BIN" restart "${killed:-0}" --dir "$cell"
check "all 5 replicas converge" wait_for 60 converged "$conf" 5

# ---- through libchubby: a write chosen by the next master -------------------------
# The master proposes a compare-and-set that only one follower can accept
# (three are stopped), then stops itself.  The next master, elected by that
# follower and two others, finds the write accepted and has it chosen; the
# client, which never had an answer, re-sends it there.  With request ids
# it gets its first outcome; without, E_GEN_MISMATCH for its own write.
DRV="$BUILD/tests/integration/libchubby_driver"
export CHUBBY_CELL="$conf"
STOPPED=""
t_cleanup_eo() {
	for p in $STOPPED; do kill -CONT "$p" 2>/dev/null; done
	[ -n "${DRV_PID:-}" ] && kill "$DRV_PID" 2>/dev/null
	t_cleanup
}
trap t_cleanup_eo EXIT
mkfifo "$T_DIR/drv.in"
"$DRV" -c 60000 shell <"$T_DIR/drv.in" >"$T_DIR/drv.out" 2>&1 &
DRV_PID=$!
exec {DRV_FD}>"$T_DIR/drv.in"
answers() { grep -c '^ok\|^err' "$T_DIR/drv.out"; }
# send COMMAND: no waiting.  answer N SECONDS: the Nth answer line.
send() { echo "$*" >&"$DRV_FD"; }
have() { [ "$(answers)" -ge "$1" ]; }
answer() { wait_for "$2" have "$1" && grep '^ok\|^err' "$T_DIR/drv.out" | sed -n "$1p"; }
check "the libchubby client is up" wait_for 20 grep -q '^ready' "$T_DIR/drv.out"
F=/ls/local/eo-lib
send open $F rwc
send putif $F 0 v1
check "libchubby: a first compare-and-set" bash -c "$(declare -f answer answers have wait_for); \
	T_DIR='$T_DIR'; answer 2 20 | grep -q '^ok gen=1'"
m=$(master_id "$conf")
others=$(for i in 1 2 3 4 5; do [ "$i" = "$m" ] || echo "$i"; done)
keep=$(echo "$others" | sed -n 1p)
stop3=$(echo "$others" | sed -n '2,4p')
last=$(echo "$others" | sed -n 4p)
pid_of() { cat "$cell/replica-$1.pid"; }
for i in $stop3; do kill -STOP "$(pid_of "$i")"; STOPPED="$STOPPED $(pid_of "$i")"; done
send putif $F 1 v2
# Nothing outside shows the follower's acceptance; loopback takes well
# under a millisecond, this leaves it half a second.
sleep 0.5
kill -STOP "$(pid_of "$m")"; STOPPED="$STOPPED $(pid_of "$m")"
for i in $stop3; do [ "$i" = "$last" ] || kill -CONT "$(pid_of "$i")"; done
out2=$(answer 3 90)
echo "# the re-sent write: $out2"
check "libchubby: the compare-and-set chosen by the next master returns its first outcome" \
	bash -c "echo '$out2' | grep -q '^ok gen=2'"
send cat $F
check "libchubby: and was applied once (v2, gen 2)" bash -c "$(declare -f answer answers have wait_for); \
	T_DIR='$T_DIR'; answer 4 30 | grep -q '^ok v2 gen=2'"
for p in $STOPPED; do kill -CONT "$p"; done
STOPPED=""
check "all 5 replicas converge again" wait_for 60 converged "$conf" 5
send quit
finish
