#!/bin/bash
# test_libchubby_threads.sh: many application threads on one libchubby
# session (tests/integration/libchubby_threads.c), which <chubby/chubby.h>
# allows: every call from any thread.  Each thread writes and reads back
# its own file, increments a shared counter under the file's lock (its own
# handle), checks its sequencer, lists the directory, while the dispatcher
# thread delivers events.  Once on a quiet cell (every increment counted,
# no call fails), once while the master is killed with -9.  tests/run-all's
# tsan phase runs it under ThreadSanitizer, where a data race between the
# application threads, the loop thread and the dispatcher is a failure.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

THR="$BUILD/tests/integration/libchubby_threads"
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"

# The counter's value, or 0 while it does not exist.
counter() { # path
	"$LOCKCTL" -C "$conf" -t 2000 cat "$1" 2>/dev/null || echo 0
}
counter_at_least() { # path n
	[ "$(counter "$1")" -ge "$2" ] 2>/dev/null
}

check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 20 one_master "$conf"

check "8 threads, 25 rounds each, one session: every increment counted, no call failed" \
	"$THR" /ls/local/mt 8 25
check "the counter reads 200 from another session" test "$(counter /ls/local/mt/counter)" = 200

# ---- kill -9 the master while 6 threads work ----
"$THR" --ride-failover /ls/local/mt2 6 40 >"$T_DIR/ride.out" 2>"$T_DIR/ride.err" &
ride_pid=$!
check "the threads are under way" wait_for 30 counter_at_least /ls/local/mt2/counter 20
m=$(master_id "$conf")
check "kill -9 the master (replica $m)" "$CHUBBY_CELL_BIN" kill "$m" --dir "$cell"
check "the threads finish by themselves" wait_for 150 bash -c "! kill -0 $ride_pid"
wait "$ride_pid"
ride_rc=$?
sed 's/^/    /' "$T_DIR/ride.out"
tail -n 5 "$T_DIR/ride.err" | sed 's/^/    /'
check "no increment lost across the fail-over, same session" \
	bash -c "test $ride_rc -eq 0 && grep -q '^ok .* session_same=1 ' '$T_DIR/ride.out'"
check "a new master serves" wait_for 30 one_master "$conf"
check "restart the old master" "$CHUBBY_CELL_BIN" restart "$m" --dir "$cell"
finish
