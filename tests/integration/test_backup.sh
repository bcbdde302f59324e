#!/bin/bash
# test_backup.sh: lockctl backup from a live cell (files, directories, ACL
# files, an ephemeral file and a held lock; in chunks, the frame being
# small), SNAPSHOT's refusals, a new cell restored from the file with
# chubbyd --init --restore (via chubby-cell up --restore), the old sessions
# expiring there, and damaged or foreign backups refused.  Also chubbyd's
# --log-file, SIGHUP reopening it and SIGTERM stopping cleanly.
. "$(dirname "$0")/lib.sh"
t_time_limit 300
export -f jpy
export PY

port=$(t_port)
A="$T_DIR/a"
confA="$A/chubby.conf"
B="$T_DIR/b"
confB="$B/chubby.conf"
bk="$T_DIR/cell.backup"
# Short leases and lock-delays so the old sessions go quickly after the
# restore; a small frame so that the backup travels in many chunks.
fast=(--set session_lease=2s --set lock_delay=1s)

check "cell A comes up (max_frame 8KiB)" cell_up "$A" --replicas 3 --base-port "$port" \
	--set max_contents=1KiB --set max_frame=8KiB "${fast[@]}"
LA=("$LOCKCTL" -C "$confA" -t 5000)
LB=("$LOCKCTL" -C "$confB" -t 5000)

# Contents: a directory tree, ACL files, a file whose ACL names them, and
# 40 files of 900 bytes (about 36 KiB of state: five or more chunks).
{
	echo "mkdir -p d/e"
	echo "mkdir -p acl"
	echo "put acl/readers admin"
	echo "put acl/writers admin"
	echo "put d/e/f hello"
	echo "acl set d/e/f readers writers writers"
	echo "put top 'top value'"
	echo "mkdir -p d/big"
	for i in $(seq 1 40); do echo "put d/big/f$i $(printf 'x%.0s' $(seq 1 900))"; done
	echo "mkdir -p locks"
	echo "put locks/l1 ''"
} >"$T_DIR/fill.txt"
# One "ok":true answer for each command: no answer must not pass as no error.
fill_ok() {
	"$LOCKCTL" -C "$confA" --json <"$T_DIR/fill.txt" >"$T_DIR/fill.out" || return 1
	local want got; want=$(wc -l <"$T_DIR/fill.txt"); got=$(grep -c '"ok":true' "$T_DIR/fill.out")
	echo "$got of $want commands answered ok"; [ "$got" -eq "$want" ]
}
check "fill cell A" fill_ok

# A client that holds a session: an ephemeral file and a lock.
mkfifo "$T_DIR/holder.in"
"$LOCKCTL" -C "$confA" --json <"$T_DIR/holder.in" >"$T_DIR/holder.out" 2>&1 &
holder=$!
exec 3>"$T_DIR/holder.in"
echo "put -e eph alive" >&3
echo "lock locks/l1" >&3
check "the holder has its ephemeral file and its lock" wait_for 20 \
	bash -c "[ \$(grep -c '\"ok\":true' '$T_DIR/holder.out') -ge 2 ]"
check "cell A lists the lock as held" bash -c "'$LOCKCTL' -C '$confA' --json locks | grep -q '/ls/local/locks/l1'"
"${LA[@]}" --json stat d/e/f >"$T_DIR/stat.a" 2>&1
"${LA[@]}" --json acl get d/e/f >"$T_DIR/acl.a" 2>&1

check "lockctl backup writes the file" "${LA[@]}" backup "$bk"
"$LOCKCTL" --json backup --verify "$bk" >"$T_DIR/verify.json" 2>&1
check "the backup travelled in chunks (state larger than a frame)" \
	bash -c "jpy 'j[\"bytes\"] > 8192 and j[\"cell\"] == \"local\" and j[\"index\"] > 0' <'$T_DIR/verify.json' | grep -qx 1"
check "lockctl backup --verify accepts it" bash -c "'$LOCKCTL' backup --verify '$bk' | grep -q 'a valid backup of cell \"local\"'"
check "no temporary file left beside it" bash -c "[ \$(ls '$T_DIR' | grep -c '^cell.backup') -eq 1 ]"
check "the master logged the backup" bash -c "grep -q 'backup at slot' '$A'/replica-*.log"

# SNAPSHOT's refusals, straight on the wire.
check "make a client certificate for bob" "$CERTS" client --dir "$A/tls" --name bob
cat >"$T_DIR/snap.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import chubby_wire as cw
cw.OP["SNAPSHOT"] = 68
port, tls = sys.argv[2], sys.argv[3]
addrs = ["127.0.0.%d:%s" % (10 + i, port) for i in (1, 2, 3)]
cell = cw.Cell(addrs, tls + "/ca.crt", tls + "/client-admin.crt", tls + "/client-admin.key")
m = cell.master()
r = m.call("SNAPSHOT", {"offset": 0, "max": 1000})
assert r["offset"] == 0 and len(r["data"]) == 1000 and r["total"] > 1000, r.keys()
assert len(r["digest"]) == 32 and r["cell"] == "local"
r2 = m.call("SNAPSHOT", {"index": r["index"], "offset": 1000, "max": 1000})
assert r2["index"] == r["index"] and r2["offset"] == 1000 and r2["digest"] == r["digest"]
try:
    m.call("SNAPSHOT", {"index": 987654321, "offset": 0})
    raise SystemExit("an unknown index was answered")
except cw.Error as e:
    assert e.name == "E_NOT_FOUND" and "start the backup again" in e.message, e
try:
    m.call("SNAPSHOT", {"offset": 5})
    raise SystemExit("an offset without index was answered")
except cw.Error as e:
    assert e.name == "E_INVALID", e
for a in addrs:
    c = cell.connect(a)
    if not c.call("WHERE_IS_MASTER")["is_master"]:
        try:
            c.call("SNAPSHOT")
            raise SystemExit("a follower answered SNAPSHOT")
        except cw.Error as e:
            assert e.name == "E_NOT_MASTER", e
bob = cw.Cell(addrs, tls + "/ca.crt", tls + "/client-bob.crt", tls + "/client-bob.key").master()
try:
    bob.call("SNAPSHOT")
    raise SystemExit("bob got a backup")
except cw.Error as e:
    assert e.name == "E_PERMISSION" and "superuser" in e.message, e
print("snapshot checks passed")
EOF
check "SNAPSHOT: chunks of one copy, unknown index, followers, non-superuser" \
	"$PY" "$T_DIR/snap.py" "$(cd "$(dirname "$0")" && pwd)" "$port" "$A/tls"

# Damaged copies are refused.
cp "$bk" "$T_DIR/flipped.backup"
"$PY" -c 'import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x01; open(p, "wb").write(b)' "$T_DIR/flipped.backup"
check_fails "--verify refuses a flipped byte" "damaged: its SHA-256" "$LOCKCTL" backup --verify "$T_DIR/flipped.backup"
head -c 500 "$bk" >"$T_DIR/short.backup"
check_fails "--verify refuses a truncated file" "truncated" "$LOCKCTL" backup --verify "$T_DIR/short.backup"
check_fails "--verify refuses a file that is not a backup" "not a chubby backup" "$LOCKCTL" backup --verify "$confA"

check "cell A goes down" "$CHUBBY_CELL_BIN" down --dir "$A"
exec 3>&-
kill -9 "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# A new cell from the backup.
check "cell B comes up restored from the backup" cell_up "$B" --replicas 3 \
	--base-port $((port + 3)) --restore "$bk" "${fast[@]}"
check "every replica of B installed the backup" \
	bash -c "[ \$(grep -l 'restored .* at slot' '$B'/replica-*.log | wc -l) -eq 3 ]"
check "B: file contents are back" bash -c "[ \"\$('$LOCKCTL' -C '$confB' cat d/e/f)\" = hello ] && [ \"\$('$LOCKCTL' -C '$confB' cat top)\" = 'top value' ]"
check "B: the directory tree is back" bash -c "'$LOCKCTL' -C '$confB' ls d | grep -qx e && [ \$('$LOCKCTL' -C '$confB' ls d/big | wc -l) -eq 40 ] && '$LOCKCTL' -C '$confB' ls d/e | grep -qx f"
check "B: a 900-byte file is whole" bash -c "[ \$('$LOCKCTL' -C '$confB' cat d/big/f17 | wc -c) -eq 900 ]"
check "B: the ACL files are back" bash -c "[ \"\$('$LOCKCTL' -C '$confB' cat acl/readers)\" = admin ]"
# Cell A's answer must be a success: two equal errors are no evidence.
same_as_a() { # file-from-A lockctl-args...
	local a=$1; shift
	grep -q '^{"ok":true' "$a" || { echo "cell A's answer was not ok:"; cat "$a"; return 1; }
	"$LOCKCTL" -C "$confB" --json "$@" | cmp - "$a"
}
check "B: the node's metadata is identical (ACL names, generations, checksum)" \
	same_as_a "$T_DIR/stat.a" stat d/e/f
check "B: acl get d/e/f names the same ACL files" same_as_a "$T_DIR/acl.a" acl get d/e/f
check "B: the old session's ephemeral file goes after its lease" \
	wait_for 60 lacks '^eph$' "$LOCKCTL" -C "$confB" ls
check "B: the old session's lock is freed" \
	wait_for 30 bash -c "'$LOCKCTL' -C '$confB' --json locks | grep -q '\"count\":0'"
check "B: the lock can be taken again" wait_for 20 "${LB[@]}" trylock locks/l1
check "B: writes work" bash -c "'$LOCKCTL' -C '$confB' put d/e/f again >/dev/null && [ \"\$('$LOCKCTL' -C '$confB' cat d/e/f)\" = again ]"
check "B: replicas converge" wait_for 20 converged "$confB" 3
check "B: every replica votes" all_voters "$confB"

# A replica's store that is not empty is never overwritten.
check "stop B's replica 3" "$CHUBBY_CELL_BIN" stop 3 --dir "$B"
check_fails "--restore refuses a data directory that holds a replica" "already holds replica 3" \
	"$CHUBBYD" -c "$confB" -i 3 --init --restore "$bk"
check_fails "--restore without --init is refused" "give --init" \
	"$CHUBBYD" -c "$confB" -i 3 --restore "$bk"

# chubbyd's own log file: SIGHUP reopens it (log rotation), SIGTERM stops.
log3="$T_DIR/replica-3.log"
"$CHUBBYD" -c "$confB" -i 3 --log-file "$log3" >"$T_DIR/r3.stderr" 2>&1 &
r3=$!
check "--log-file: the replica logs to the file" wait_for 20 grep -q "replica started" "$log3"
check "--log-file: nothing on stderr" bash -c "[ -f '$T_DIR/r3.stderr' ] && [ ! -s '$T_DIR/r3.stderr' ]"
step "rotate the log file" mv "$log3" "$log3.1"
kill -HUP "$r3"
check "SIGHUP: a new log file is opened" wait_for 10 grep -q "SIGHUP: logs reopened" "$log3"
check "SIGHUP: the old file has no line after the rotation" no_match 'SIGHUP' "$log3.1"
check "the replica still serves after SIGHUP" wait_for 20 converged "$confB" 3
kill -TERM "$r3"
wait "$r3"
rc=$?
check "SIGTERM: chubbyd exits 0" test "$rc" -eq 0
check "SIGTERM: it logged its stop" grep -q "signal 15: stopping" "$log3"
check "SIGTERM: and stopped" grep -q "info: stopped" "$log3"
check "replica 3 restarts on its store" "$CHUBBY_CELL_BIN" restart 3 --dir "$B"
check "B: converges with replica 3 back" wait_for 30 converged "$confB" 3
check "B: the restarted replica votes" all_voters "$confB"
check "cell B goes down" "$CHUBBY_CELL_BIN" down --dir "$B"

# A damaged backup and another cell's backup never seed a cell.
C="$T_DIR/c"
check_fails "chubby-cell up --restore with a flipped byte fails" "damaged: its SHA-256" \
	"$CHUBBY_CELL_BIN" up --dir "$C" --replicas 1 --base-port $((port + 6)) --restore "$T_DIR/flipped.backup"
# B's store at the same place proves the path is where a store would be.
check "the refused replica wrote no store" \
	bash -c "[ -e '$B/data/replica-1/CURRENT' ] && [ ! -e '$C/data/replica-1/CURRENT' ]"
T_CELLS="$T_CELLS $C"
O="$T_DIR/o"
check "a cell named other comes up" cell_up "$O" --replicas 1 --name other --base-port $((port + 6))
check "back it up" "$LOCKCTL" -C "$O/chubby.conf" backup "$T_DIR/other.backup"
check "cell other goes down" "$CHUBBY_CELL_BIN" down --dir "$O"
check_fails "a backup of cell other does not restore cell local" \
	'backup of cell "other", but .* describes cell "local"' \
	"$CHUBBY_CELL_BIN" up --dir "$C" --fresh --replicas 1 --base-port $((port + 6)) --restore "$T_DIR/other.backup"
check_fails "chubby-cell up --restore on an existing cell is refused" "starts a new cell" \
	"$CHUBBY_CELL_BIN" up --dir "$B" --restore "$bk"

finish
