#!/bin/bash
# test_errors.sh: errors a user can act on (issue 18 item 3).  A bad local
# TLS file makes lockctl exit 2 naming the file, and reaches a C program
# through chubby_last_error() after a failed chubby_open; decoder internals
# stay out of messages (checkseq); E_TOO_LARGE names the limit and its
# config option.
. "$(dirname "$0")/lib.sh"
t_time_limit 120

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
DRV="$BUILD/tests/integration/libchubby_driver"

check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port"
export CHUBBY_CELL="$conf"

# fails_with CODE PATTERN lockctl-args...: exit status exactly CODE and the
# output (stdout and stderr) matches PATTERN.
fails_with() {
	local want=$1 pat=$2 out rc; shift 2
	out=$("$LOCKCTL" "$@" </dev/null 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"
}

# ---- unusable local TLS files: exit 2, the file named ----
missing_cert() { CHUBBY_CERT="$T_DIR/nonexistent.crt" fails_with 2 "nonexistent\.crt: No such file" ls; }
check "a missing client certificate: exit 2, the file named" missing_cert
missing_key() { CHUBBY_KEY="$T_DIR/nokey.key" fails_with 2 "nokey\.key: No such file" ls; }
check "a missing client key: exit 2, the file named" missing_key
missing_ca() { CHUBBY_CA="$T_DIR/noca.crt" fails_with 2 "noca\.crt: No such file" ls; }
check "a missing CA file: exit 2, the file named" missing_ca
garbage_cert() {
	echo "not a certificate" >"$T_DIR/garbage.crt"
	CHUBBY_CERT="$T_DIR/garbage.crt" fails_with 2 "garbage\.crt: no PEM data" ls
}
check "a certificate file without PEM: exit 2, the file named" garbage_cert

# A C program sees the message in chubby_last_error() after chubby_open fails.
drv_open_msg() {
	local out
	out=$(CHUBBY_CERT="$T_DIR/nonexistent.crt" "$DRV" -C "$conf" open 2>&1)
	echo "$out"
	grep -qE '^err E_IO .*nonexistent\.crt: No such file' <<<"$out"
}
check "chubby_open with a bad certificate path: chubby_last_error() names it" drv_open_msg

# ---- no decoder internals in messages ----
check "checkseq deadbeef: not a sequencer, no msgpack words" \
	bash -c "out=\$('$LOCKCTL' checkseq deadbeef 2>&1 </dev/null); echo \"\$out\"; \
		grep -q 'not a sequencer' <<<\"\$out\" && ! grep -qE 'a map|array|element' <<<\"\$out\""

# ---- E_TOO_LARGE names the limit and its option ----
big=$T_DIR/big
head -c 300000 /dev/zero | tr '\0' a >"$big"
# put_big PATH: puts the 300000 bytes (from standard input, not an argument:
# one argument may hold 128 KiB at most); fails with E_TOO_LARGE naming the
# limit, exit 1.
put_big() {
	local out rc
	out=$("$LOCKCTL" put "$1" <"$big" 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq 1 ] && grep -qE "E_TOO_LARGE: .*300000 bytes exceed max_contents \(262144\)" <<<"$out"
}
too_large_new() { put_big big; }
check "put of 300000 bytes (a new file): names max_contents" too_large_new
too_large_old() {
	"$LOCKCTL" put small x </dev/null || return 1
	put_big small
}
check "put of 300000 bytes (an existing file): names max_contents" too_large_old

finish
