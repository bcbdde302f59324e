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

# ---- elections: --identity, `leader`, and no stale name ever ----
# wait_file FILE PATTERN: waits (bounded) until a line of FILE matches.
wait_file() { wait_for 30 grep -qE -- "$2" "$1"; }
# An elector that leads until the file $T_DIR/stop-NAME appears.
elector() { # name extra-args...
	local name=$1; shift
	"$LOCKCTL" lock --elect "$@" el/x -- sh -c "echo leading; while [ ! -e '$T_DIR/stop-$name' ]; do sleep 0.05; done" \
		>"$T_DIR/elector-$name.out" 2>&1 </dev/null &
	eval "pid_$name=\$!"
}
elector a --identity alpha
check "an elector with --identity alpha leads" wait_file "$T_DIR/elector-a.out" '^leading$'
check "leader el/x prints alpha" bash -c "[ \"\$('$LOCKCTL' leader el/x </dev/null)\" = alpha ]"
check "--json leader: leader, identity, lock_generation" \
	json_is 'j["leader"] is True and j["identity"] == "alpha" and j["lock_generation"] > 0 and j["path"] == "/ls/local/el/x"' leader el/x
leader_none() { # exit 4 and "no leader"
	local out rc; out=$("$LOCKCTL" leader el/x </dev/null 2>&1); rc=$?
	echo "$out (exit $rc)"; [ $rc -eq 4 ] && [ "$out" = "no leader" ]
}
touch "$T_DIR/stop-a"
check "alpha steps down (its command ends, exit 0)" wait "$pid_a"
check "then leader el/x: \"no leader\", exit 4" leader_none
check "and the step-down cleared the file" json_is 'j["length"] == 0' cat el/x
elector b
check "an elector without --identity leads" wait_file "$T_DIR/elector-b.out" '^leading$'
check "its identity is hostname:pid (of lockctl)" \
	bash -c "[ \"\$('$LOCKCTL' leader el/x </dev/null)\" = \"\$(hostname):$pid_b\" ]"
# A crash: the runner and its command die at once; the session ends when
# its lease runs out at the master (2 s here), and the cell clears the
# record with the lock (test_leader_clear.sh checks the file itself).
crash_b() { pkill -KILL -P "$pid_b"; kill -KILL "$pid_b"; wait "$pid_b" 2>/dev/null; true; }
step "kill -9 the leader b and its command" crash_b
check "once b's session has expired: no leader (exit 4)" wait_for 30 leader_none
# Someone holds the lock without writing an identity (a plain lock in a
# scripted session): b does not lead (on a cell older than lock records the
# file would still name b; `leader` checks the record's generation).
coproc H { exec "$LOCKCTL" script 2>/dev/null; }
h_in=${H[1]}; h_out=${H[0]}
hold_plain() { printf 'lock el/x\n' >&"$h_in" && IFS= read -r -t 30 l <&"$h_out" && echo "$l" && [[ $l == ok* ]]; }
check "a plain lock takes el/x (no identity written)" hold_plain
check "the stale name is not reported: no leader" leader_none
exec {h_in}>&-; wait "$H_PID" 2>/dev/null
check "leader of a missing node: E_NOT_FOUND, exit 1" fails_with 1 "E_NOT_FOUND" leader el/none

# leader --watch: one line per change, from events.
step "make el/w" lc put el/w ""
"$LOCKCTL" leader --watch el/w >"$T_DIR/watch-leader.out" 2>&1 </dev/null & wpid=$!
check "leader --watch prints the current state first" wait_file "$T_DIR/watch-leader.out" '^no leader$'
elect_w() { # name: leads el/w until the watch has shown it, then steps down
	"$LOCKCTL" lock --elect --identity "$1" el/w -- sh -c \
		"for i in \$(seq 600); do grep -qx '$1' '$T_DIR/watch-leader.out' && exit 0; sleep 0.05; done; exit 1" </dev/null
}
check "the watch shows leader one" elect_w one
check "... then no leader once one stepped down" \
	wait_for 30 bash -c "[ \"\$(tail -n 1 '$T_DIR/watch-leader.out')\" = 'no leader' ]"
check "the watch shows leader two" elect_w two
check "... then no leader" wait_for 30 bash -c "[ \"\$(tail -n 1 '$T_DIR/watch-leader.out')\" = 'no leader' ]"
kill -INT $wpid
check "leader --watch ends on SIGINT with exit 0" wait $wpid
check "it printed each change once, in order" \
	bash -c "cat '$T_DIR/watch-leader.out'; [ \"\$(cat '$T_DIR/watch-leader.out' | tr '\n' ,)\" = 'no leader,one,no leader,two,no leader,' ]"

# ---- a scripted session keeps its handles (issue 19 item 3) ----
# The master's count of client requests (its /metrics).
reqs() {
	local m; m=$(master_id "$conf") || return 1
	"$PY" - "http://127.0.0.$((10 + m)):$((port + 2))/metrics" <<'PYEOF'
import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().splitlines():
    if line.startswith("chubby_client_requests_total "):
        print(int(float(line.split()[1])))
PYEOF
}
# cats N: the requests one scripted session with N `cat c/one` costs.
cats() {
	local n=$1 before after
	before=$(reqs) || return 1
	for i in $(seq "$n"); do echo 'cat c/one'; done | "$LOCKCTL" script | grep -c 'contents=v$' >"$T_DIR/cats.ok"
	after=$(reqs) || return 1
	[ "$(cat "$T_DIR/cats.ok")" -eq "$n" ] || { echo "only $(cat "$T_DIR/cats.ok") of $n cats answered"; return 1; }
	echo $((after - before))
}
step "put c/one" bash -c "'$LOCKCTL' mkdir c </dev/null && '$LOCKCTL' put c/one v </dev/null"
N=40
handles_kept() {
	local one many extra
	one=$(cats 1) && many=$(cats $((N + 1))) || return 1
	extra=$((many - one))
	# What N more cats cost beyond the first: one round trip each at most
	# (with the handle kept and the contents cached, often none), not the
	# OPEN, read and CLOSE of a fresh handle each (2N to 3N).  The slack
	# (N/4) is for KeepAlives that fall in the run on a loaded machine.
	echo "requests: 1 cat: $one; $((N + 1)) cats: $many; $N more cats: $extra (bound $((N + N / 4)))" |
		tee "$T_DIR/reqs.txt"
	[ "$extra" -le $((N + N / 4)) ]
}
check "a scripted session: $N more cats of one path cost at most $N requests more" handles_kept
echo "# $(cat "$T_DIR/reqs.txt" 2>/dev/null)"
# kask COMMAND PATTERN: one command to the session K; its answer must match.
kask() {
	printf '%s\n' "$1" >&"$k_in" || return 1
	IFS= read -r -t 30 KANSWER <&"$k_out" || { echo "no answer to: $1"; return 1; }
	echo "$1 -> $KANSWER"; grep -qE -- "$2" <<<"$KANSWER"
}
kept_fresh() {
	kask 'cat c/one' 'contents=v$' || return 1
	lc put c/one w >/dev/null || return 1
	kask 'cat c/one' 'contents=w$' || return 1
	# Deleted and made again elsewhere: the kept handle is stale; a new one.
	lc rm c/one && lc put c/one x >/dev/null || return 1
	kask 'cat c/one' 'contents=x$' && kask 'stat c/one' '^ok ' && kask 'put c/one y' '^ok ' &&
		kask 'rm c/one' '^ok ' && kask 'cat c/one' '^error E_NOT_FOUND' &&
		kask 'put c/one z' 'created=true' && kask 'cat c/one' 'contents=z$' &&
		kask 'ls c' '^ok one$' || return 1
	# acl shares the kept read handle with cat: it must not fail on it
	# once the node was made again elsewhere.
	lc rm c/one && lc put c/one q >/dev/null || return 1
	kask 'acl get c/one' '^ok path=/ls/local/c/one read=' && kask 'cat c/one' 'contents=q$'
}
coproc K { exec "$LOCKCTL" script 2>/dev/null; }
k_in=${K[1]}; k_out=${K[0]}
check "kept handles do not hide changes made elsewhere, nor outlive an rm" kept_fresh
exec {k_in}>&-; wait "$K_PID" 2>/dev/null

# ---- ls -R and rm -r ----
step "a tree under r" bash -c "'$LOCKCTL' mkdir -p r/a/b </dev/null && '$LOCKCTL' put r/a/f 1 </dev/null >/dev/null &&
	'$LOCKCTL' put r/a/b/g 2 </dev/null >/dev/null && '$LOCKCTL' put r/h 3 </dev/null >/dev/null"
tree="/ls/local/r/a
/ls/local/r/a/b
/ls/local/r/a/b/g
/ls/local/r/a/f
/ls/local/r/h"
check "ls -R r: every node below r, full names, depth first" \
	bash -c "out=\$('$LOCKCTL' ls -R r </dev/null); echo \"\$out\"; [ \"\$out\" = '$tree' ]"
check "--json ls -R r: names and (with -l) entries with types" \
	json_is 'j["names"] == ["/ls/local/r/a", "/ls/local/r/a/b", "/ls/local/r/a/b/g", "/ls/local/r/a/f", "/ls/local/r/h"] and [e["type"][0] for e in j["entries"]] == ["d", "d", "f", "f", "f"]' ls -R -l r
check "rm -r without -f, standard input not a terminal: refused, exit 2" \
	fails_with 2 "^lockctl: rm: E_INVALID: .*-f" rm -r r
check "... and nothing was removed" json_is 'j["type"] == "file"' stat r/a/b/g
check "rm without -r of a non-empty directory: still E_NOT_EMPTY" fails_with 1 "E_NOT_EMPTY" rm r
check "scripted rm -r without -f: refused" \
	bash -c "echo 'rm -r r' | '$LOCKCTL' script | grep -q '^error E_INVALID .*-f'"
check "rm -r of the cell's root is refused" fails_with 2 "root" rm -r -f /ls/local
# At a terminal (script(1) gives lockctl a pseudo-terminal): a prompt.
at_tty() { # answer lockctl-args...
	local a=$1; shift
	printf '%s\n' "$a" | script -qec "'$LOCKCTL' $*" /dev/null
}
check "rm -r at a terminal asks, and 'n' keeps the tree" \
	bash -c "$(declare -f at_tty); LOCKCTL='$LOCKCTL'; out=\$(at_tty n rm -r r); echo \"\$out\"; echo \"\$out\" | grep -q 'remove /ls/local/r and the 5 nodes below it?' && '$LOCKCTL' stat r/h </dev/null >/dev/null"
check "rm -r at a terminal, 'y': removed" \
	bash -c "$(declare -f at_tty); LOCKCTL='$LOCKCTL'; at_tty y rm -r r; ! '$LOCKCTL' stat r </dev/null"
step "the tree again" bash -c "'$LOCKCTL' mkdir -p r/a/b </dev/null && '$LOCKCTL' put r/a/b/g 2 </dev/null >/dev/null"
check "--json rm -r -f: how many nodes went" json_is 'j["deleted"] == 4 and j["path"] == "/ls/local/r"' rm -r -f r
check "... r is gone" fails_with 1 "E_NOT_FOUND" stat r
check "scripted rm -r -f" bash -c "printf 'mkdir s\nput s/x 1\nrm -r -f s\nstat s\n' | '$LOCKCTL' script | tail -n 2 | tr '\n' ' ' | grep -q '^ok path=/ls/local/s deleted=2 error E_NOT_FOUND'"

# ---- events carry the content generation, and contents when asked ----
step "d/ev, generation 0" lc put d/ev start
# watch_out ARGS...: runs lockctl ARGS (a watch that ends after one event)
# while another session writes d/ev (w1, w2, ... each raising the
# generation by one) until the watch has ended; prints its output.
watch_out() {
	"$LOCKCTL" "$@" >"$T_DIR/ev.out" 2>&1 </dev/null & local p=$!
	for i in $(seq 200); do
		kill -0 $p 2>/dev/null || break
		"$LOCKCTL" put d/ev "w$(( $("$LOCKCTL" --json stat d/ev </dev/null | jpy 'j["content_generation"]') + 1 ))" </dev/null >/dev/null
		sleep 0.05
	done
	wait $p; local rc=$?; cat "$T_DIR/ev.out"; return $rc
}
check "watch: CONTENTS_MODIFIED carries the content generation" \
	bash -c "$(declare -f watch_out jpy); LOCKCTL='$LOCKCTL'; T_DIR='$T_DIR'; PY='$PY'
	watch_out watch -n 1 -t 20000 d/ev | grep -E '^event CONTENTS_MODIFIED /ls/local/d/ev content_generation=[1-9][0-9]*\$'"
check "watch --contents --json: the contents with their generation" \
	bash -c "$(declare -f watch_out jpy); LOCKCTL='$LOCKCTL'; T_DIR='$T_DIR'; PY='$PY'
	out=\$(watch_out --json watch --contents -n 1 -t 20000 d/ev | head -n 1); echo \"\$out\"
	jpy 'j[\"event\"] == \"CONTENTS_MODIFIED\" and j[\"content_generation\"] > 0 and j[\"contents\"] == \"w%d\" % j[\"content_generation\"]' <<<\"\$out\" | grep -qx 1"

# ---- watch -r (a subtree, new directories followed) and a watch on a node
# that does not exist yet ----
step "a tree under w, and v" bash -c "'$LOCKCTL' mkdir -p w/a </dev/null && '$LOCKCTL' mkdir v </dev/null"
W_EVENTS="$T_DIR/w.events"; : >"$W_EVENTS"
coproc W { exec "$LOCKCTL" script 2>"$T_DIR/w.err"; }
w_in=${W[1]}; w_out=${W[0]}
# wsend COMMAND PATTERN: its answer must match (event lines put aside).
wsend() {
	printf '%s\n' "$1" >&"$w_in" || return 1
	local l
	while IFS= read -r -t 30 l <&"$w_out"; do
		case $l in
		'event '*) echo "$l" >>"$W_EVENTS" ;;
		*) echo "$1 -> $l"; grep -qE -- "$2" <<<"$l"; return ;;
		esac
	done
	echo "no answer to: $1"; return 1
}
# wevent PATTERN: waits (bounded) for an event line matching it.
wevent() {
	local end=$(( $(date +%s) + 20 )) l
	while ! grep -qxE -- "$1" "$W_EVENTS"; do
		[ "$(date +%s)" -lt $end ] || { echo "no event /$1/ in:"; cat "$W_EVENTS"; return 1; }
		IFS= read -r -t 1 l <&"$w_out" && echo "$l" >>"$W_EVENTS"
	done
}
check "scripted watch -r w" wsend 'watch -r w' '^ok path=/ls/local/w watching=true'
check "scripted watch of v/soon, which does not exist yet" wsend 'watch v/soon' '^ok path=/ls/local/v/soon watching=true exists=false'
step "put w/a/f" lc put w/a/f 1
check "-r: a file made two levels down" wevent 'event CHILD_ADDED /ls/local/w/a/f'
step "put w/a/f again" lc put w/a/f 2
check "-r: its change, with the content generation" wevent 'event CHILD_MODIFIED /ls/local/w/a/f content_generation=1'
step "mkdir w/n, then put w/n/g at once" bash -c "'$LOCKCTL' mkdir w/n </dev/null && '$LOCKCTL' put w/n/g 1 </dev/null >/dev/null"
check "-r: the new directory" wevent 'event CHILD_ADDED /ls/local/w/n'
check "-r: a file in the new directory is followed" wevent 'event CHILD_ADDED /ls/local/w/n/g'
step "rm w/n/g" lc rm w/n/g
check "-r: its removal" wevent 'event CHILD_REMOVED /ls/local/w/n/g'
step "put v/soon" lc put v/soon x
check "the watch on v/soon reports its creation" wevent 'event CHILD_ADDED /ls/local/v/soon'
step "put v/soon again" lc put v/soon y
check "... and then watches the node itself" wevent 'event CONTENTS_MODIFIED /ls/local/v/soon content_generation=1'
check "no event was printed twice" bash -c "cat '$W_EVENTS'; [ -z \"\$(sort '$W_EVENTS' | uniq -d)\" ]"
check "unwatch w (and its subtree)" wsend 'unwatch w' '^ok path=/ls/local/w watching=false'
exec {w_in}>&-; wait "$W_PID" 2>/dev/null
# One-shot: a node two levels below what exists, made once the watch is in
# place (its session holds a handle on the nearest ancestor, w, as the
# master's session list shows): not before, or the node would already
# exist when the watch starts and its creation would not be news.  (Made
# right after starting the watch, as before, it raced the watch's own start
# under CI load: the watch found the node there and waited 20 s for an
# event that had already happened.)
watch_in_place() {
	"$LOCKCTL" --json sessions </dev/null 2>/dev/null | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(s["handles"] > 0 for s in j["sessions"]) else 1)'
}
oneshot_later() {
	"$LOCKCTL" watch -n 1 -t 20000 w/x/y >"$T_DIR/later.out" 2>&1 </dev/null &
	local p=$! rc
	wait_for 10 watch_in_place || { kill $p; echo "the watch never held a handle"; return 1; }
	"$LOCKCTL" mkdir -p w/x </dev/null && "$LOCKCTL" put w/x/y 1 </dev/null >/dev/null
	wait $p; rc=$?
	cat "$T_DIR/later.out"
	[ $rc -eq 0 ] && grep -qx 'event CHILD_ADDED /ls/local/w/x/y' "$T_DIR/later.out"
}
check "one-shot watch -n 1 of w/x/y (neither there): ends at its creation" oneshot_later

finish
