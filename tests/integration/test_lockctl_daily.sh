#!/bin/bash
# test_lockctl_daily.sh: lockctl as people use it every day (issue 20 item
# 2, issue 19 item 3) on a real cell: `lock` creating what it needs,
# elections with an identity and `leader`, and the output details that
# scripts depend on.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

# A short lease and grace period, so that a lost session shows within seconds.
check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s --set lock_delay=1s
export CHUBBY_CELL="$conf"

lc() { "$LOCKCTL" "$@" </dev/null; }
# fails_with CODE PATTERN lockctl-args...: exit status exactly CODE and the
# output (stdout and stderr) matches PATTERN.
fails_with() {
	local want=$1 pat=$2 out rc; shift 2
	out=$("$LOCKCTL" "$@" </dev/null 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"
}
# json_is CODE lockctl-args...: the --json answer, bound to j, makes CODE true.
json_is() {
	local code=$1 out; shift
	out=$("$LOCKCTL" --json "$@" </dev/null); echo "$out"
	jpy "$code" <<<"$out" | grep -qx 1
}

# ---- lock creates the node and its parents (etcdctl lock, consul lock) ----
check "lock app/cron -- CMD with neither app nor app/cron there: the command runs" \
	bash -c "[ \"\$('$LOCKCTL' lock app/cron -- echo ran </dev/null)\" = ran ]"
check "... app/cron is now a file" json_is 'j["type"] == "file"' stat app/cron
check "... and app a directory" json_is 'j["type"] == "directory"' stat app
check "lock --elect svc/x/leader -- CMD makes both parents" \
	bash -c "[ \"\$('$LOCKCTL' lock --elect svc/x/leader -- echo led </dev/null)\" = led ]"
check "... svc/x/leader is a file" json_is 'j["type"] == "file"' stat svc/x/leader
check "plain lock of a missing node creates it (held, then released)" \
	bash -c "'$LOCKCTL' lock plain/l </dev/null | tail -n 1 | grep -qx released"
check "trylock of a missing node creates it" \
	bash -c "'$LOCKCTL' trylock plain/t </dev/null | tail -n 1 | grep -qx released"
check "lock --no-create of a missing node: E_NOT_FOUND, exit 1, saying why" \
	fails_with 1 "^lockctl: lock: E_NOT_FOUND: /ls/local/none/x.*--no-create" lock --no-create none/x -- true
check "... and nothing was made" fails_with 1 "E_NOT_FOUND" stat none
check "plain lock --no-create: E_NOT_FOUND" fails_with 1 "E_NOT_FOUND.*--no-create" lock --no-create none/y
check "lock under a file: E_NOT_DIR, nothing made" fails_with 1 "E_NOT_DIR" lock app/cron/sub -- true

# ---- put of a value that starts with a dash ----
step "mkdir d" lc mkdir d
check "put PATH -- -value writes \"-value\"" \
	bash -c "'$LOCKCTL' put d/dash -- -value </dev/null && [ \"\$('$LOCKCTL' cat d/dash </dev/null)\" = -value ]"
check "scripted: put PATH -- -x" bash -c "printf 'put d/dash2 -- -x\ncat d/dash2\n' | '$LOCKCTL' script | tail -n 1 | grep -q 'contents=-x\$'"
check "put's usage shows the --" fails_with 2 "usage: (lockctl )?put .*PATH \[--\] \[DATA\]" put
check "--help shows it too" bash -c "'$LOCKCTL' --help | grep -E '^  put .*\[--\] \[DATA\]'"

# ---- stat: readable times next to the raw milliseconds ----
iso_ok() {
	local out; out=$("$LOCKCTL" --json stat d/dash </dev/null) || return 1; echo "$out"
	jpy '
import datetime
def iso(ms): return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
j["created"] == iso(j["created_ms"]) and j["modified"] == iso(j["modified_ms"]) and j["created_ms"] > 1500000000000' <<<"$out" | grep -qx 1
}
check "--json stat: created and modified in ISO 8601 UTC beside created_ms, modified_ms" iso_ok
check "stat in text: a modified line in ISO 8601 UTC" \
	bash -c "'$LOCKCTL' stat d/dash </dev/null | grep -E '^modified [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\$'"

# ---- JSON output is binary-safe ----
check "put bytes 'a' 0x00 'b' 0xff from standard input" bash -c "printf 'a\\000b\\377' | '$LOCKCTL' put d/bin"
check "--json cat: invalid UTF-8 comes as contents_b64 (and no contents)" \
	json_is 'import base64
"contents" not in j and base64.b64decode(j["contents_b64"]) == b"a\x00b\xff" and j["length"] == 4' cat d/bin
check "put valid UTF-8 with a NUL" bash -c "printf 'caf\\303\\251\\000!' | '$LOCKCTL' put d/utf"
check "--json cat: valid UTF-8 (NUL included) comes as contents, exactly" \
	json_is '"contents_b64" not in j and j["contents"].encode() == b"caf\xc3\xa9\x00!"' cat d/utf
check "one-shot cat still prints the bytes as they are" \
	bash -c "'$LOCKCTL' cat d/bin </dev/null | od -An -tx1 | tr -d ' \n' | grep -qx 610062ff"

finish
