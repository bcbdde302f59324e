#!/bin/bash
# test_lockctl.sh: lockctl's namespace and lock commands on a real cell:
# every one-shot command and its errors with their exit codes, --json
# answers, a scripted session driven through a coprocess (locks, sequencers
# checked by the cell and offline with the cell's key, watches), the
# scripted text syntax, and a held lock whose session is lost.
. "$(dirname "$0")/lib.sh"
t_time_limit 150

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
key="$cell/seq.key"

# A short lease and grace period, so that a lost session shows within seconds.
check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s
export CHUBBY_CELL="$conf"

# Runs lockctl without a terminal or input (a lock would otherwise hold).
lc() { "$LOCKCTL" "$@" </dev/null; }
# fails_with CODE PATTERN lockctl-args...: exit status exactly CODE and the
# output (stdout and stderr) matches PATTERN.
fails_with() {
	local want=$1 pat=$2 out rc; shift 2
	out=$("$LOCKCTL" "$@" </dev/null 2>&1); rc=$?
	echo "$out"; echo "(exit $rc)"
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"
}
# output_is EXPECTED lockctl-args...: stdout is exactly EXPECTED.
output_is() {
	local want=$1 out; shift
	out=$("$LOCKCTL" "$@" </dev/null) || return 1
	echo "$out"; [ "$out" = "$want" ]
}
# json_is CODE lockctl-args...: the --json answer, bound to j, makes CODE true.
json_is() {
	local code=$1 out; shift
	out=$("$LOCKCTL" --json "$@" </dev/null); echo "$out"
	jpy "$code" <<<"$out" | grep -qx 1
}

# ---- one-shot namespace commands ----
check "mkdir a" lc mkdir a
check "mkdir a again: E_EXISTS, exit 1" fails_with 1 "^lockctl: mkdir: E_EXISTS: " mkdir a
check "mkdir -p a/b/c" lc mkdir -p a/b/c
check "mkdir -p a/b/c again succeeds" lc mkdir -p a/b/c
check "put a/f hello" lc put a/f hello
check "cat a/f prints the contents as they are" output_is hello cat a/f
check "a full name works as well" output_is hello cat /ls/local/a/f
check "put reads standard input without DATA" \
	bash -c "printf 'line 1\nline 2' | '$LOCKCTL' put a/g && [ \"\$('$LOCKCTL' cat a/g </dev/null)\" = \"\$(printf 'line 1\nline 2')\" ]"
check "--json cat: contents and content_generation" \
	json_is 'j["ok"] and j["contents"] == "hello" and j["content_generation"] == 0 and j["path"] == "/ls/local/a/f"' cat a/f
check "--json stat: the node's metadata" \
	json_is 'j["type"] == "file" and j["length"] == 5 and j["instance"] > 0 and j["lock_mode"] == "free" and not j["ephemeral"] and "checksum" in j and "acl_read" in j' stat a/f
check "stat in text: key value lines" bash -c "'$LOCKCTL' stat a/b </dev/null | grep -qx 'type directory'"
check "ls a lists the children, one a line" output_is "$(printf 'b\nf\ng')" ls a
check "ls -l marks directories" bash -c "'$LOCKCTL' ls -l a </dev/null | grep -qE '^d.* b/\$'"
check "--json ls -l: names and entries" \
	json_is 'j["names"] == ["b", "f", "g"] and [e["type"] for e in j["entries"]] == ["directory", "file", "file"]' ls -l a
check "ls of the root" bash -c "'$LOCKCTL' ls </dev/null | grep -qx a"
check "put --if-gen 0 (current) writes" json_is 'j["content_generation"] == 1 and not j["created"]' put --if-gen 0 a/f v2
check "put --if-gen 0 (stale): E_GEN_MISMATCH, exit 1" \
	fails_with 1 "^lockctl: put: E_GEN_MISMATCH: " put --if-gen 0 a/f v3
check "the stale write changed nothing" output_is v2 cat a/f
check "--json error object on stdout" \
	fails_with 1 '^\{"ok":false,"error":"E_GEN_MISMATCH","status":"E_GEN_MISMATCH","message":' --json put --if-gen 0 a/f v3
check "cat of no such node: E_NOT_FOUND, exit 1" fails_with 1 "^lockctl: cat: E_NOT_FOUND: /ls/local/nope" cat nope
check "stat of no such node: E_NOT_FOUND" fails_with 1 "E_NOT_FOUND" stat a/nope
check "a bad name: E_BAD_NAME, exit 1" fails_with 1 "^lockctl: cat: E_BAD_NAME: " cat 'a//f'
check "a name with ..: E_BAD_NAME" fails_with 1 "E_BAD_NAME" stat /ls/local/a/../a
check "put under a file: E_NOT_DIR" fails_with 1 "E_NOT_DIR" put a/f/x 1
check "rm of a non-empty directory: E_NOT_EMPTY, exit 1" fails_with 1 "^lockctl: rm: E_NOT_EMPTY: " rm a
check "rm a/g" lc rm a/g
check "a/g is gone" fails_with 1 "E_NOT_FOUND" cat a/g
check "rm of an empty directory" lc rm a/b/c
check "acl get: all open" json_is 'j["read"] == "" and j["write"] == "" and j["change"] == ""' acl get a/f
check "put acl/writers (an ACL file must exist to be named)" lc put acl/writers admin
check "acl set --allow-open-change - writers -: only WRITE changes" \
	json_is 'j["read"] == "" and j["write"] == "writers" and j["change"] == "" and j["acl_generation"] == 1' acl set --allow-open-change a/f - writers -
check "acl get shows it" bash -c "'$LOCKCTL' acl get a/f </dev/null | grep -qE '^write +writers\$'"
check "acl set back to open" json_is 'j["write"] == ""' acl set a/f - '' -
check "acl set with a bad name: E_BAD_NAME" fails_with 1 "E_BAD_NAME" acl set a/f - 'x/y' -
# Gone means E_NOT_FOUND: any other failure of cat is no evidence.
eph_goes() { lc put -e a/eph x && fails_with 1 "^lockctl: cat: E_NOT_FOUND: " cat a/eph; }
check "put -e one-shot: the ephemeral file goes with the session" eph_goes

# ---- usage errors (exit 2) and an unreachable cell (exit 3) ----
check "an unknown option: exit 2" fails_with 2 "usage: ls" ls -x
check "put without PATH: exit 2" fails_with 2 "usage" put
check "acl with a bad verb: exit 2" fails_with 2 "usage" acl frob a
check "lock -t garbage: exit 2" fails_with 2 "not a time" lock -t soon a/f
check "checkseq of non-hex: exit 2" fails_with 2 "not a sequencer in hex" checkseq zz
check "checkseq --offline without --key: exit 2" fails_with 2 "go together" checkseq --offline 00
unreachable() {
	CHUBBY_CELL="127.0.0.1:$((port + 7))" CHUBBY_CA="$cell/tls/ca.crt" \
	CHUBBY_CERT="$cell/tls/client-admin.crt" CHUBBY_KEY="$cell/tls/client-admin.key" \
	fails_with 3 '^lockctl: cat: E_[A-Z]+: cell unreachable' -t 1000 cat a/f
}
check "an unreachable cell: exit 3" unreachable
check "a host:port list (the cell's name learnt from a replica)" \
	env CHUBBY_CELL="127.0.0.11:$port" CHUBBY_CA="$cell/tls/ca.crt" \
	CHUBBY_CERT="$cell/tls/client-admin.crt" CHUBBY_KEY="$cell/tls/client-admin.key" \
	bash -c "[ \"\$('$LOCKCTL' cat a/f </dev/null)\" = v2 ]"

# ---- one-shot locks ----
check "lock with stdin at EOF: holding, then released" \
	bash -c "out=\$('$LOCKCTL' lock a/f </dev/null) && echo \"\$out\" && echo \"\$out\" | grep -qE '^sequencer [0-9a-f]+\$' && echo \"\$out\" | grep -qE '^generation [0-9]+\$' && [ \"\$(echo \"\$out\" | tail -n 2 | tr '\n' ' ')\" = 'holding released ' ]"
check "--json lock -s: two objects, holding then released" \
	bash -c "'$LOCKCTL' --json lock -s a/f </dev/null | $PY -c 'import json,sys; a=[json.loads(l) for l in sys.stdin]; print(a); assert [x[\"state\"] for x in a]==[\"holding\",\"released\"] and a[0][\"mode\"]==\"shared\" and len(a[0][\"sequencer\"])>20'"
check "trylock one-shot on a free lock" bash -c "'$LOCKCTL' trylock a/f </dev/null | grep -qx released"
check "lock held until SIGTERM" bash -c "
	'$LOCKCTL' lock a/f >'$T_DIR/hold.out' 2>&1 < <(exec sleep 30 2>/dev/null) & p=\$!
	for i in \$(seq 50); do grep -q holding '$T_DIR/hold.out' && break; sleep 0.1; done
	'$LOCKCTL' --json stat a/f </dev/null | grep -q '\"lock_mode\":\"exclusive\"' || exit 1
	kill -TERM \$p; wait \$p; rc=\$?; cat '$T_DIR/hold.out'; [ \$rc -eq 0 ] && grep -qx released '$T_DIR/hold.out'"
check "lockctl lock --no-create of no such node: E_NOT_FOUND" fails_with 1 "E_NOT_FOUND" lock --no-create a/none
check "unlock one-shot: E_NOT_HELD" fails_with 1 "^lockctl: unlock: E_NOT_HELD" unlock a/f
check "sequencer one-shot: E_NOT_HELD" fails_with 1 "E_NOT_HELD" sequencer a/f

# A one-shot watch: put until the watch (once it is open) sees the change.
check "watch -n 1 ends after one event" bash -c "
	'$LOCKCTL' watch -n 1 -t 20000 a/f >'$T_DIR/watch.out' 2>&1 </dev/null & p=\$!
	for i in \$(seq 100); do kill -0 \$p 2>/dev/null || break; '$LOCKCTL' put a/f w\$i </dev/null >/dev/null; sleep 0.1; done
	wait \$p; rc=\$?; cat '$T_DIR/watch.out'; [ \$rc -eq 0 ] && grep -qxE 'event CONTENTS_MODIFIED /ls/local/a/f content_generation=[1-9][0-9]*' '$T_DIR/watch.out'"
check "watch -t ends after its time with no events" \
	bash -c "'$LOCKCTL' --json watch -t 300 a/b </dev/null | grep -q '\"events\":0'"

# ---- a scripted session (JSON), driven through a coprocess ----
S_ANSWERS="$T_DIR/script.answers"
S_EVENTS="$T_DIR/script.events"
: >"$S_ANSWERS"; : >"$S_EVENTS"
coproc S { exec "$LOCKCTL" --json script 2>"$T_DIR/script.err"; }
S_IN=${S[1]}; S_OUT=${S[0]}
# Reads lines until an answer comes (event lines are put aside).
sc_answer() {
	local l
	while IFS= read -r -t 20 l <&"$S_OUT"; do
		case $l in
		'{"event"'*|'event '*) echo "$l" >>"$S_EVENTS" ;;
		*) ANSWER=$l; echo "$l" >>"$S_ANSWERS"; return 0 ;;
		esac
	done
	return 1
}
# sc COMMAND PATTERN: send a command; its one answer must match PATTERN.
sc() {
	printf '%s\n' "$1" >&"$S_IN" || return 1
	sc_answer || { echo "no answer to: $1"; return 1; }
	echo "$ANSWER"; grep -qE -- "$2" <<<"$ANSWER"
}
# sc_event PATTERN: waits for an event line matching PATTERN.
sc_event() {
	local end=$(( $(date +%s) + 10 )) l
	while ! grep -qE -- "$1" "$S_EVENTS"; do
		[ "$(date +%s)" -lt $end ] || { cat "$S_EVENTS"; return 1; }
		IFS= read -r -t 1 l <&"$S_OUT" && echo "$l" >>"$S_EVENTS"
	done
}
jfield() { jpy "j[\"$1\"]" <<<"$ANSWER"; }

check "script: lock a/f" sc 'lock a/f' '^\{"ok":true,"lock":"/ls/local/a/f","mode":"exclusive","generation":[0-9]+,"sequencer":"[0-9a-f]+"\}$'
seq=$(jfield sequencer)
gen=$(jfield generation)
check "trylock from another session: E_BUSY, exit 1" fails_with 1 "^lockctl: trylock: E_BUSY: " trylock a/f
check "lock -t 300 from another session: E_TIMEOUT" fails_with 1 "E_TIMEOUT" lock -t 300 a/f
check "script: sequencer a/f is the same, with what it names" \
	sc 'sequencer a/f' "^\\{\"ok\":true,\"sequencer\":\"$seq\",\"cell\":\"local\",\"lock\":\"/ls/local/a/f\",\"mode\":\"exclusive\",\"generation\":$gen,"
check "script: checkseq of it: current" sc "checkseq $seq" '"ok":true,"current":true'
check "one-shot checkseq of it: current" lc checkseq "$seq"
check "script: locking it twice in the session is refused" sc 'lock a/f' '"ok":false,"error":"E_BUSY"'
check "offline checkseq with the cell's key names cell, path, mode, generation" \
	json_is "j['valid'] and j['cell'] == 'local' and j['lock'] == '/ls/local/a/f' and j['mode'] == 'exclusive' and j['generation'] == $gen" \
	checkseq --offline --key "$key" "$seq"
check "offline checkseq in text" bash -c "'$LOCKCTL' checkseq --offline --key '$key' '$seq' </dev/null | grep -qx 'lock /ls/local/a/f'"
flip_last=$($PY -c 'import sys; b=bytearray.fromhex(sys.argv[1]); b[-1]^=1; print(b.hex())' "$seq")
flip_mid=$($PY -c 'import sys; b=bytearray.fromhex(sys.argv[1]); b[len(b)//2]^=0x20; print(b.hex())' "$seq")
check "offline: a flipped byte in the signature is refused" \
	fails_with 1 "^lockctl: checkseq: E_BAD_SEQUENCER" checkseq --offline --key "$key" "$flip_last"
check "offline: a flipped byte in the body is refused" \
	fails_with 1 "E_BAD_SEQUENCER" checkseq --offline --key "$key" "$flip_mid"
check "online: the cell refuses a flipped byte" fails_with 1 "E_BAD_SEQUENCER" checkseq "$flip_last"
printf '%064x\n' 7 >"$T_DIR/other.key"; chmod 600 "$T_DIR/other.key"
check "offline: another key refuses it" \
	fails_with 1 "E_BAD_SEQUENCER" checkseq --offline --key "$T_DIR/other.key" "$seq"
check "script: watch a" sc 'watch a' '"ok":true,"path":"/ls/local/a","watching":true'
check "put a/new from elsewhere" lc put a/new 1
check "script: the watch prints CHILD_ADDED as its own line" \
	sc_event '^\{"event":"CHILD_ADDED","type":2,"path":"/ls/local/a/new"\}$'
check "script: unwatch a" sc 'unwatch a' '"ok":true'
check "script: unlock a/f" sc 'unlock a/f' '^\{"ok":true,"lock":"/ls/local/a/f","state":"released"\}$'
check "script: checkseq after unlock: E_STALE_SEQUENCER" \
	sc "checkseq $seq" '^\{"ok":false,"error":"E_STALE_SEQUENCER","status":"E_STALE_SEQUENCER","message":'
check "one-shot checkseq after unlock: E_STALE_SEQUENCER, exit 1" \
	fails_with 1 "^lockctl: checkseq: E_STALE_SEQUENCER" checkseq "$seq"
check "script: unlock again: E_NOT_HELD" sc 'unlock a/f' '"error":"E_NOT_HELD"'
check "script: trylock -s a/f" sc 'trylock -s a/f' '"ok":true,"lock":"/ls/local/a/f","mode":"shared"'
check "a shared lock admits another shared holder" bash -c "'$LOCKCTL' trylock -s a/f </dev/null | grep -qx released"
check "but not an exclusive one: E_BUSY" fails_with 1 "E_BUSY" trylock a/f
check "script: put -e keeps an ephemeral file while the session lasts" sc 'put -e a/eph "two words"' '"created":true'
check "the ephemeral file is there for others" output_is "two words" cat a/eph
check "script: cat with quotes and escapes" sc 'put a/q "x\ty\n\"z\"" ' '"ok":true'
check "script: ... read back" sc 'cat a/q' '"contents":"x\\ty\\n\\"z\\""'
check "script: errors answer in one line" sc 'cat a/none' '^\{"ok":false,"error":"E_NOT_FOUND","status":"E_NOT_FOUND","message":".*"\}$'
check "script: an unknown command" sc 'frob' '"error":"E_INVALID"'
check "script: bad quoting" sc 'cat "a/f' '"error":"E_INVALID".*unterminated'
check "script: status works with --json" sc 'status' '"ok":true,"cell":"local"'
check "script: stat" sc 'stat a/f' '"lock_mode":"shared","lock_holders":1'
check "script: blank lines and comments get no answer" sc "$(printf '\n# a comment\nls a')" '"names":\["b","eph","f","new","q"\]'
check "every scripted answer and event is one JSON object" \
	$PY -c 'import json,sys
for f in sys.argv[1:]:
    for l in open(f):
        o = json.loads(l); assert isinstance(o, dict), l
        assert ("ok" in o) != ("event" in o), l' "$S_ANSWERS" "$S_EVENTS"
s_pid=$S_PID
exec {S_IN}>&-
s_done() { wait "$s_pid"; }
check "script: EOF ends the session cleanly (exit 0)" s_done
check "its shared lock is free at once" bash -c "'$LOCKCTL' trylock a/f </dev/null | grep -qx released"
check "its ephemeral file went with it" wait_for 5 fails_with 1 "E_NOT_FOUND" stat a/eph

# ---- scripted text mode, chosen because stdin is not a terminal ----
check "no command + piped stdin: one text line per command" bash -c "
	out=\$(printf 'put t/x 1\nmkdir t\nput t/x \"a b\"\ncat t/x\nls t\nrm t\nls -l t\n' | '$LOCKCTL'); echo \"\$out\"
	[ \$(echo \"\$out\" | wc -l) -eq 7 ] &&
	echo \"\$out\" | sed -n 1p | grep -q '^error E_NOT_FOUND ' &&
	echo \"\$out\" | sed -n 2p | grep -qx 'ok path=/ls/local/t created=true' &&
	echo \"\$out\" | sed -n 4p | grep -qx 'ok path=/ls/local/t/x content_generation=0 length=3 contents=\"a b\"' &&
	echo \"\$out\" | sed -n 5p | grep -qx 'ok x' &&
	echo \"\$out\" | sed -n 6p | grep -q '^error E_NOT_EMPTY ' &&
	echo \"\$out\" | sed -n 7p | grep -qx 'ok f:3:0:free:x'"
check "scripted text: lock, sequencer, checkseq, unlock" bash -c "
	out=\$(printf 'lock a/f\nsequencer a/f\nunlock a/f\n' | '$LOCKCTL' script); echo \"\$out\"
	seq=\$(echo \"\$out\" | sed -n '1s/.* sequencer=//p')
	[ -n \"\$seq\" ] && echo \"\$out\" | sed -n 2p | grep -q \"^ok sequencer=\$seq cell=local lock=/ls/local/a/f mode=exclusive\" &&
	echo \"\$out\" | sed -n 3p | grep -qx 'ok lock=/ls/local/a/f state=released'"
check "scripted text: status needs --json" bash -c "echo status | '$LOCKCTL' | grep -q '^error E_UNSUPPORTED'"

# ---- a held lock whose session is lost: exit 1 ----
check "lock held, then the whole cell stops: the session is lost, exit 1" bash -c "
	'$LOCKCTL' lock a/f >'$T_DIR/lost.out' 2>&1 < <(exec sleep 60 2>/dev/null) & p=\$!
	for i in \$(seq 50); do grep -q holding '$T_DIR/lost.out' && break; sleep 0.1; done
	grep -q holding '$T_DIR/lost.out' || exit 1
	'$CHUBBY_CELL_BIN' down --dir '$cell' >/dev/null
	wait \$p; rc=\$?; cat '$T_DIR/lost.out'; echo \"(exit \$rc)\"
	[ \$rc -eq 1 ] && grep -q 'lockctl: lock: E_SESSION_EXPIRED' '$T_DIR/lost.out'"

finish
