#!/bin/bash
# test_suspend.sh: a master whose machine was suspended does not serve when
# it wakes.  Leases are counted on CLOCK_BOOTTIME, which keeps counting
# through system suspend; CLOCK_MONOTONIC does not (issue 17 item 4).  The
# cell runs in a network namespace of the test's own, so the master can be
# cut off from its peers with nftables (as in test_partition.sh); the checks
# are in suspend_checks.py.
T_NETNS=chubby-susp . "$(dirname "$0")/netns.sh"

. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=7100
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

check "suspend_clock.so builds" ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/suspend_clock.so" \
	"$(dirname "$0")/suspend_clock.c" -ldl
# Every replica runs under the shim; only the one the checks stop and
# continue sees its clock held.  A long lease makes the window in which a
# monotonic-clock master would serve wide and sure.
check "5-replica cell up, every replica under suspend_clock.so" \
	env LD_PRELOAD="$T_DIR/suspend_clock.so" SUSPEND_CLOCK_FILE="$T_DIR/suspended-ms" \
	"$CHUBBY_CELL_BIN" up --dir "$cell" --replicas 5 --base-port "$port" \
	--set master_lease=4s --set master_lease_renew=1s --set election_timeout=500ms \
	--set heartbeat_interval=100ms
T_CELLS="$T_CELLS $cell"
check "one master" wait_for 15 one_master "$conf"
m=$(master_id "$conf")
pid=$(cat "$cell/replica-$m.pid")
check "suspend_checks.py: replica $m suspended and woken" \
	"$PY" "$(dirname "$0")/suspend_checks.py" "$cell" "$CHUBBY_CELL_BIN" "$port" "$LOCKCTL" \
	"$m" "$pid" "$T_DIR/suspended-ms"
check "the cell converges after the woken replica rejoins" wait_for 30 converged "$conf" 5
finish
