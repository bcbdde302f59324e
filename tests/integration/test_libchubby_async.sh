#!/bin/bash
# test_libchubby_async.sh: libchubby driven from the application's own
# event loop (chubby_open_async, chubby_interest, chubby_process and the
# _async calls; docs/CLIENT.md "Driving libchubby from your own event
# loop"), through tests/integration/libchubby_async: once from a libevent
# loop, once from a bare poll(2) loop, each against a real 5-replica cell
# whose master is killed with -9 in the middle.  Completions must keep
# coming, the session, its lock and its sequencer must survive, every
# callback must run on the application's thread inside chubby_process, and
# the library must start no thread.  Then the rest of the async calls
# (set-sequencer, set-ACL, elect, leader, readdir, poison) against the same
# cell.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

ASY="$BUILD/tests/integration/libchubby_async"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"

check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 30 one_master "$conf"

for mode in libevent poll; do
	P=/ls/local/async-$mode
	out="$T_DIR/$mode.out"
	"$ASY" "$mode" "$P" 5 120 >"$out" 2>&1 &
	pid=$!
	check "$mode: the session opens without a thread of the library's" \
		wait_for 30 grep -q '^session [1-9][0-9]* threads=1$' "$out"
	check "$mode: open, lock, write and read back by completions" wait_for 30 grep -q '^write 3 ' "$out"
	m=$(master_id "$conf")
	check "$mode: kill -9 the master (replica $m)" "$CHUBBY_CELL_BIN" kill "$m" --dir "$cell"
	check "$mode: the loop finishes by itself" wait_for 150 bash -c "! kill -0 $pid"
	wait "$pid"
	rc=$?
	grep "^extras " "$out" | sed "s/^/    /"
	tail -3 "$out" | sed 's/^/    /'
	check "$mode: exited cleanly" test "$rc" -eq 0
	check "$mode: MASTER_FAILOVER delivered through chubby_process" grep -q '^event MASTER_FAILOVER' "$out"
	check "$mode: completions kept coming after the fail-over" \
		grep -q '^done .* after_failover=[5-9]' "$out"
	check "$mode: no write failed, every read saw the last write" \
		grep -q '^done writes=[0-9]* failed=0 .* reads_bad=0 ' "$out"
	check "$mode: CONTENTS_MODIFIED events came" grep -Eq '^done .* contents_events=[1-9]' "$out"
	check "$mode: same session, same current sequencer, lock held, SAFE" \
		grep -q '^done .* same_session=1 same_seq=1 seq_current=1 lock_mode=2 .* state=1 ' "$out"
	check "$mode: a stale compare-and-set fails, a blocking call is refused" \
		grep -q '^done .* cas=E_GEN_MISMATCH blocking=E_INVALID close=OK ' "$out"
	check "$mode: a call made before the session was up waited for it" \
		grep -q '^done .* early=E_BAD_SEQUENCER early_after_session=1 ' "$out"
	check "$mode: every callback on the application's thread, inside chubby_process" \
		grep -q '^done .* wrong_thread=0 outside_process=0 threads=1$' "$out"
	check "$mode: chubby_close from a callback cancels the call queued before it, once" \
		bash -c "test \$(grep -c '^cancelled ' '$out') = 1 && grep -q '^cancelled E_CANCELLED in_close_from_callback=1\$' '$out'"
	check "$mode: still one thread after chubby_close" grep -q '^closed threads=1$' "$out"
	# The rest of the async calls, chained by completions (libchubby_async.c "extras").
	check "$mode: set_sequencer_async and set_acl_async succeed; an unknown ACL flag is refused at once" \
		grep -q '^extras setseq=OK acl=OK acl_badflags=E_INVALID ' "$out"
	check "$mode: elect_async wins, leader_async names it at its lock generation" \
		grep -q "^extras .* elect=OK leader=OK:leader-$mode readdir=" "$out"
	check "$mode: readdir_async lists the directory sorted, both nodes in it" \
		grep -Eq '^extras .* readdir=OK nnames=[1-9][0-9]* names_ok=1 ' "$out"
	check "$mode: poison_async: a read on the poisoned handle is refused at once" \
		grep -q '^extras .* poison=OK poisoned_read=E_CANCELLED ' "$out"
	check "$mode: after the leader steps down leader_async names nobody, and gives a watch handle" \
		grep -q '^extras .* leader_after=OK:none watch=1 ' "$out"
	check "$mode: a second election on the held lock times out, hands back no handle, leaves the record" \
		grep -q "^extras .* leader=OK:leader-$mode .* usurp=E_TIMEOUT usurp_handle=0 usurp_waited=1 " "$out"
	check "$mode: an identity holding a newline is refused at once" \
		grep -q '^extras .* elect_newline=E_INVALID$' "$out"
	# The leader closed its handle: the cell cleared the record it wrote
	# as a lock record (docs/NAMESPACE.md "Lock records"), a write after it.
	check "$mode: lockctl finds the record on the same node, cleared when the leader stepped down" \
		bash -c "'$LOCKCTL' -C '$conf' -t 5000 --json stat '$P-leader' | grep -q '\"length\":0,' &&
			[ \"\$('$LOCKCTL' -C '$conf' -t 5000 --json stat '$P-leader' | sed -n 's/.*\"content_generation\":\([0-9]*\).*/\1/p')\" -ge 2 ]"
	n=$(awk '/^write [0-9]/{n=$2} END{print n}' "$out")
	check "$mode: another session reads the last value written ($n)" \
		bash -c "test \"\$('$LOCKCTL' -C '$conf' -t 5000 cat '$P')\" = '$n'"
	check "$mode: a new master serves" wait_for 30 one_master "$conf"
	check "$mode: restart the old master" "$CHUBBY_CELL_BIN" restart "$m" --dir "$cell"
done
finish
