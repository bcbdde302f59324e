#!/bin/bash
# test_acl.sh: protected ACLs by default and the audit trail (issue 18 items
# 1 and 4) on real cells, with three principals: the superuser (admin), an
# ACL administrator named in the config (alice) and an ordinary user (bob).
# Every denial is checked, and so is every allowed call; the master's log
# must hold a parseable audit line for bob's denials, for alice's ACL
# change and for an admin command.  A cell made by the build before this
# (restored from pre-acl-cell.backup) keeps its open ACLs.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=$(t_port)

# fails_with CODE PATTERN lockctl-args...: exit status exactly CODE and the
# output (stdout and stderr) matches PATTERN.
fails_with() {
	local want=$1 pat=$2 out rc; shift 2
	out=$("$LOCKCTL" "$@" </dev/null 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"
}
# as WHO lockctl-args...: lockctl with WHO's client certificate.
as() {
	local who=$1; shift
	CHUBBY_CERT="$cell/tls/client-$who.crt" CHUBBY_KEY="$cell/tls/client-$who.key" \
		"$LOCKCTL" "$@" </dev/null
}
as_fails() { # WHO CODE PATTERN lockctl-args...
	local who=$1; shift
	CHUBBY_CERT="$cell/tls/client-$who.crt" CHUBBY_KEY="$cell/tls/client-$who.key" \
		fails_with "$@"
}
put_as() { # WHO PATH CONTENTS
	as "$1" put "$2" "$3"
}
# The master's log (a file name), for the audit lines.
master_log() { echo "$cell/replica-$(master_id "$conf").log"; }
# audit_has REGEX: some audit line in the master's log matches REGEX.
audit_has() {
	local log; log=$(master_log)
	grep -E "audit " "$log" | tail -n 40
	grep -qE -- "$1" "$log"
}

# ---- cell A: the defaults (no ACL administrators, root open) ----------------
cell="$T_DIR/a"
conf="$cell/chubby.conf"
check "cell A (defaults) comes up" cell_up "$cell" --replicas 3 --base-port "$port"
export CHUBBY_CELL="$conf"
step "a client certificate for bob" "$CERTS" client --dir "$cell/tls" --name bob

# The ACL directory is there from the start, protected.
check "a new cell has its ACL directory" as admin stat acl
check "bob may still use the open root" put_as bob bobfile hello
check_fails "bob cannot create a file in the ACL directory: E_PERMISSION" \
	"E_PERMISSION" as bob put acl/writers bob
check "the superuser can write an ACL file" put_as admin acl/writers admin
check_fails "bob cannot overwrite an ACL file: E_PERMISSION" \
	"E_PERMISSION" as bob put acl/writers bob
check_fails "bob cannot re-ACL an ACL file: E_PERMISSION" \
	"E_PERMISSION" as bob acl set acl/writers "" "" ""
check_fails "bob cannot re-ACL the ACL directory: E_PERMISSION" \
	"E_PERMISSION" as bob acl set acl "" "" ""
check_fails "bob cannot delete an ACL file: E_PERMISSION" \
	"E_PERMISSION" as bob rm acl/writers

# acl set: a missing ACL file and an open change-ACL are refused.
step "the superuser makes secure/data" as admin mkdir secure
step "and acl/readers" put_as admin acl/readers admin
check_fails "acl set naming a missing ACL file: E_NOT_FOUND naming it" \
	"E_NOT_FOUND.*nosuchfile" as admin acl set secure readers writers nosuchfile
check_fails "acl set leaving change-ACL open while read is restricted: refused" \
	"E_INVALID.*change-ACL.*--allow-open-change" as admin acl set secure readers writers ""
check "acl set with --allow-open-change leaves it open on purpose" \
	as admin acl set --allow-open-change secure readers writers ""
check "acl set with every file present" as admin acl set secure readers writers writers
# OPEN that creates a node with ACL names: the same rule (wire protocol;
# lockctl gives no names at creation).
open_acl_checks() {
	IT_DIR="$(dirname "$0")" "$PY" - "$cell" "$CHUBBY_CELL_BIN" "$port" <<'PYEOF'
import os, sys
sys.path.insert(0, os.environ["IT_DIR"])
from itest import Checks
from chubby_wire import Error, Session, O_CREATE, O_READ, O_WRITE
T = Checks(sys.argv, "open_acl")
a = Session(T.cell("admin"))
name = "OPEN creating with a missing ACL file: E_NOT_FOUND naming it"
try:
    a.call("OPEN", path="/ls/local/secure/y", flags=O_READ | O_WRITE | O_CREATE,
           acl=["readers", "nosuchfile2", "writers"])
    T.check(name, False, "succeeded")
except Error as e:
    T.check(name, e.name == "E_NOT_FOUND" and "nosuchfile2" in e.message,
            "%s: %s" % (e.name, e.message))
r = a.call("OPEN", path="/ls/local/secure/z", flags=O_READ | O_WRITE | O_CREATE,
           acl=["readers", None, "writers"])
T.check("OPEN creating with existing ACL files (and one inherited)", r["created"], repr(r))
T.finish()
PYEOF
}
check "OPEN with ACL names: missing file refused, existing ones taken" open_acl_checks
check_fails "bob cannot reopen secure: E_PERMISSION" \
	"E_PERMISSION" as bob acl set secure "" "" ""
step "the superuser makes pub" as admin put pub x
check "pub: open to read and write, its ACL changed only by writers" \
	as admin acl set pub "" "" writers
check_fails "bob may read pub but not re-ACL it: E_PERMISSION" \
	"E_PERMISSION.*change-ACL" as bob acl set pub "" "" ""

# sessions and locks are the superuser's.
check_fails "bob's lockctl sessions: refused, superuser only" "only the cell.s superuser" as bob sessions
check_fails "bob's lockctl locks: refused, superuser only" "only the cell.s superuser" as bob locks
check "the superuser's lockctl sessions" as admin sessions
check "the superuser's lockctl locks" as admin locks

# The audit trail, at the master: denials, ACL changes and admin commands.
check "audit: bob's denied write of acl/writers" \
	audit_has 'audit op=OPEN principal=bob .*path=/ls/local/acl/writers outcome=E_PERMISSION'
check "audit: bob's denied SET_ACL" \
	audit_has 'audit op=SET_ACL principal=bob .*path=/ls/local/pub outcome=E_PERMISSION'
check "audit: bob's denied SESSIONS" \
	audit_has 'audit op=SESSIONS principal=bob .*outcome=E_PERMISSION'
check "audit: the superuser's ACL change, with the names" \
	audit_has 'audit op=SET_ACL principal=admin .*path=/ls/local/secure outcome=OK acl="readers,writers,writers"'
check "audit: the OPEN that named a missing ACL file" \
	audit_has 'audit op=OPEN principal=admin .*path=/ls/local/secure/y outcome=E_NOT_FOUND acl="readers,nosuchfile2,writers"'
check "audit: the refused missing ACL file" \
	audit_has 'audit op=SET_ACL principal=admin .*path=/ls/local/secure outcome=E_NOT_FOUND'
check "a backup (an admin command)" as admin backup "$T_DIR/a.backup"
check "audit: the backup" audit_has 'audit op=SNAPSHOT principal=admin .*outcome=OK'
check_fails "bob's backup: refused, superuser only" "only the cell.s superuser" as bob backup "$T_DIR/b.backup"
check "audit: bob's backup" audit_has 'audit op=SNAPSHOT principal=bob .*outcome=E_PERMISSION'
check "the superuser's reload (TLS files, every replica)" as admin reload
check "audit: the reload" audit_has 'audit op=RELOAD principal=admin .*outcome=OK'
check_fails "bob's reload: refused, superuser only" "superuser" as bob reload
check "audit: bob's reload" audit_has 'audit op=RELOAD principal=bob .*outcome=E_PERMISSION'
hup_master() {
	local pid
	pid=$("$CHUBBY_CELL_BIN" --json status --dir "$cell" | jpy "[r['pid'] for r in j['replicas'] if r['id'] == $(master_id "$conf")][0]")
	kill -HUP "$pid"
}
step "SIGHUP to the master" hup_master
check "audit: a reload by SIGHUP" \
	wait_for 10 audit_has 'audit op=RELOAD principal="\(SIGHUP\)" outcome=OK'
check "all 3 replicas converge to equal digests" wait_for 20 converged "$conf" 3
"$CHUBBY_CELL_BIN" down --dir "$cell" >/dev/null 2>&1

# ---- cell B: alice an ACL administrator, the root's ACLs from the config ----
cell="$T_DIR/b"
conf="$cell/chubby.conf"
check "cell B (acl_admins, root ACLs) comes up" cell_up "$cell" --replicas 3 \
	--base-port "$((port + 5))" --set acl_admins=alice --set root_acl_read=readers \
	--set root_acl_write=writers --set root_acl_change=acl-admins
export CHUBBY_CELL="$conf"
step "a client certificate for alice" "$CERTS" client --dir "$cell/tls" --name alice
step "a client certificate for bob" "$CERTS" client --dir "$cell/tls" --name bob

check "the root's ACLs come from the config" \
	bash -c "'$LOCKCTL' --json acl get /ls/local | grep -q '\"read\":\"readers\",\"write\":\"writers\",\"change\":\"acl-admins\"'"
check "acl/acl-admins lists alice" bash -c "'$LOCKCTL' cat acl/acl-admins | grep -qx alice"
check_fails "bob, in no list, cannot write under the root: E_PERMISSION" \
	"E_PERMISSION" as bob put f x
check "alice, an ACL administrator, can write acl/writers" put_as alice acl/writers bob
check "alice can write acl/readers" put_as alice acl/readers "$(printf 'alice\nbob')"
check "bob, now a writer, can write under the root" put_as bob f x
check "new nodes inherit the root's ACLs" \
	bash -c "'$LOCKCTL' --json acl get f | grep -q '\"read\":\"readers\",\"write\":\"writers\",\"change\":\"acl-admins\"'"
check_fails "bob still cannot write acl/writers: E_PERMISSION" \
	"E_PERMISSION" as bob put acl/writers bob
check_fails "bob cannot change f's ACL (acl-admins): E_PERMISSION" \
	"E_PERMISSION" as bob acl set f "" "" ""
check "alice can change f's ACL" as alice acl set f readers writers acl-admins
check "alice can re-ACL an ACL file" as alice acl set acl/readers acl-admins acl-admins acl-admins
check_fails "alice's lockctl sessions: refused (superuser only)" \
	"only the cell.s superuser" as alice sessions
check "audit: alice's ACL change" \
	audit_has 'audit op=SET_ACL principal=alice .*path=/ls/local/f outcome=OK'
check "audit: bob's denied write" \
	audit_has 'audit op=OPEN principal=bob .*path=/ls/local/acl/writers outcome=E_PERMISSION'
check "all 3 replicas converge to equal digests" wait_for 20 converged "$conf" 3
"$CHUBBY_CELL_BIN" down --dir "$cell" >/dev/null 2>&1

# ---- cell C: an existing cell, made by the build before issue 18 ------------
# pre-acl-cell.backup is a backup of a cell made by that build (commit
# 33ee2e3): bob had rewritten acl/writers (admin, bob), made data/x, and
# the superuser had set data's ACL to "" writers "" (change-ACL open).  The
# new build must leave it as it was, even with ACL options in its config.
cell="$T_DIR/c"
conf="$cell/chubby.conf"
check "cell C comes up from the old build's state" cell_up "$cell" --replicas 3 \
	--base-port "$((port + 10))" --restore "$(dirname "$0")/pre-acl-cell.backup" \
	--set acl_admins=alice --set root_acl_read=readers --set root_acl_change=acl-admins
export CHUBBY_CELL="$conf"
step "a client certificate for bob" "$CERTS" client --dir "$cell/tls" --name bob
check "the old root stays open" \
	bash -c "'$LOCKCTL' --json acl get /ls/local | grep -q '\"read\":\"\",\"write\":\"\",\"change\":\"\"'"
check "no acl-admins file is made in an existing cell" \
	fails_with 1 "E_NOT_FOUND" cat acl/acl-admins
check "bob keeps his rights: he may still write acl/writers" put_as bob acl/writers "$(printf 'admin\nbob')"
check "bob reads his data/x" bash -c "CHUBBY_CERT='$cell/tls/client-bob.crt' CHUBBY_KEY='$cell/tls/client-bob.key' '$LOCKCTL' cat data/x </dev/null | grep -qx hello"
check "bob writes data/x (he is in writers)" put_as bob data/x again
check "data's old ACL (change-ACL open) is kept" \
	bash -c "'$LOCKCTL' --json acl get data | grep -q '\"read\":\"\",\"write\":\"writers\",\"change\":\"\"'"
check_fails "but bob's lockctl sessions is refused now (superuser only)" \
	"only the cell.s superuser" as bob sessions
check "all 3 replicas converge to equal digests" wait_for 20 converged "$conf" 3
finish
