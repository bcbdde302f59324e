#!/bin/bash
# test_clock_step.sh: a step of the master's wall clock must not move the
# namespace's stamps, nor pin a lock-delay to the future (issue 14 item 5).
# The master's CLOCK_REALTIME is set an hour ahead for a moment by an
# LD_PRELOAD shim (fake_clock.c); a write made then, and a lock freed by a
# session expiry later, must see real time: the lock-delay of a few seconds
# ends a few seconds later, not an hour later.
. "$(dirname "$0")/lib.sh"
t_time_limit 150

SRC=$(cd "$(dirname "$0")" && pwd)
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
FC="$T_DIR/fake-clock"
mkdir -p "$FC"
now_ms() { date +%s%3N; }

check "build the fake-clock shim" ${CC:-cc} -shared -fPIC -O2 -o "$T_DIR/fake_clock.so" \
	"$SRC/fake_clock.c" -ldl
# Only the cell's processes get the shim; each reads its own offset file.
check "a 3-replica cell with a 2 s session lease and a 3 s lock-delay" \
	env LD_PRELOAD="$T_DIR/fake_clock.so" CHUBBY_FAKE_CLOCK_DIR="$FC" \
	"$CHUBBY_CELL_BIN" up --dir "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s --set lock_delay=3s
T_CELLS="$T_CELLS $cell"
check "the cell has a master" wait_for 30 one_master "$conf"
m=$(master_id "$conf")
mpid=$("$CHUBBY_CELL_BIN" --json status --dir "$cell" | jpy "[r['pid'] for r in j['replicas'] if r['id'] == $m][0]")
check "the master's pid is known" test -n "$mpid"

# The master's wall clock jumps an hour ahead, a write is stamped, and the
# clock comes back.
echo 3600000 >"$FC/$mpid"
check "a write while the master's clock is an hour ahead" "$LOCKCTL" -C "$conf" put /ls/local/ahead x
rm -f "$FC/$mpid"
t_now=$(now_ms)
mod=$("$LOCKCTL" -C "$conf" --json stat /ls/local/ahead | jpy 'j["modified_ms"]')
check "the write's stamp ($mod) is the master's steady time, not its wall clock an hour ahead ($t_now now)" \
	test -n "$mod" -a "$mod" -lt $((t_now + 600000)) -a "$mod" -gt $((t_now - 600000))

# A holder takes a lock and dies; its session expires and the lock enters
# its lock-delay, which must end about 3 s later.
check "make the lock file" "$LOCKCTL" -C "$conf" put /ls/local/lk ""
mkfifo "$T_DIR/holder.in"
"$LOCKCTL" -C "$conf" script <"$T_DIR/holder.in" >"$T_DIR/holder.out" 2>&1 &
hpid=$!
exec {hfd}>"$T_DIR/holder.in"
echo "lock /ls/local/lk" >&$hfd
check "the holder takes the lock" wait_for 20 grep -q . "$T_DIR/holder.out"
check "the holder's answer is a sequencer" grep -qE '^ok .*sequencer=[0-9a-f]+' "$T_DIR/holder.out"
kill -9 $hpid; wait $hpid 2>/dev/null
t0=$(now_ms)
exec {hfd}>&-
# The first answer other than busy must be the lock-delay.
first=""
end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt $end ]; do
	out=$("$LOCKCTL" -C "$conf" trylock /ls/local/lk 2>&1)
	case $out in *E_BUSY*) sleep 0.1 ;; *) first=$out; break ;; esac
done
check "after the holder's session expired the lock is in its lock-delay" \
	grep -q E_LOCK_DELAY <<<"$first"
out=$("$LOCKCTL" -C "$conf" -t 40000 trylock /ls/local/lk 2>&1)
while grep -q E_LOCK_DELAY <<<"$out" && [ $(( $(now_ms) - t0 )) -lt 30000 ]; do
	sleep 0.2
	out=$("$LOCKCTL" -C "$conf" trylock /ls/local/lk 2>&1)
done
t1=$(now_ms)
if grep -q '^ok\|sequencer\|^[0-9a-f]\{16,\}' <<<"$out" && ! grep -q 'E_' <<<"$out" && [ $((t1 - t0)) -lt 20000 ]; then
	T_PASSED=$((T_PASSED + 1)); echo "ok - the lock is free again $((t1 - t0)) ms after the holder died"
else
	T_FAILED=$((T_FAILED + 1)); echo "FAIL - the lock after $((t1 - t0)) ms: $out"
fi
finish
