#!/bin/bash
# test_mirror.sh: a cell mirrors a subtree of another cell (Chubby 2.12;
# docs/OPERATIONS.md "Mirroring").  A 3-replica source cell "src" and a
# 5-replica cell "dst" whose config says
#   mirror = global source=... from=/ls/src/global to=/ls/dst/global
# Creates, updates and deletes in the source appear in the copy; the copy
# refuses clients' writes; the lag shows in /metrics and lockctl status;
# the source's master and then the mirror's master are killed (-9) while
# the source is written to, and the copy converges on the source each time.
. "$(dirname "$0")/lib.sh"
t_time_limit 420

port=$(( $(t_port) + 4 ))
sport=$port dport=$((port + 3))
src="$T_DIR/src" dst="$T_DIR/dst"
sconf="$src/chubby.conf" dconf="$dst/chubby.conf"
S() { "$LOCKCTL" -C "$sconf" -t 10000 "$@"; }
D() { "$LOCKCTL" -C "$dconf" -t 10000 "$@"; }
FAST=(--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms
	--set heartbeat_interval=100ms)
# The source lets a session hold 100 handles: the mirror's session there
# must copy a subtree of more nodes than that (see "many" below).
SRCLIM=(--set max_handles_per_session=100)

check "source cell (3 replicas) up" cell_up "$src" --name src --replicas 3 --base-port "$sport" "${FAST[@]}" "${SRCLIM[@]}"
check "source has one master" wait_for 20 one_master "$sconf"
# The mirror's identity towards the source cell: a client certificate of
# the source's CA (its O names the source cell).
check "a client certificate of the source cell for the mirror" \
	"$CERTS" client --dir "$src/tls" --name mirror-dst
check "the subtree exists in the source" bash -c "'$LOCKCTL' -C '$sconf' mkdir -p /ls/src/global/acl && '$LOCKCTL' -C '$sconf' put /ls/src/global/a v1 && '$LOCKCTL' -C '$sconf' put /ls/src/global/acl/x 'line one'"
check "something outside it too" S put /ls/src/private p
srcs="127.0.0.11:$sport,127.0.0.12:$sport,127.0.0.13:$sport"
check "mirroring cell (5 replicas) up" cell_up "$dst" --name dst --replicas 5 --base-port "$dport" "${FAST[@]}" \
	--set "mirror=global source=$srcs from=/ls/src/global to=/ls/dst/global tls_cert=$src/tls/client-mirror-dst.crt tls_key=$src/tls/client-mirror-dst.key tls_ca=$src/tls/ca.crt"
check "mirroring cell has one master" wait_for 20 one_master "$dconf"

is() { # conf path value
	[ "$("$LOCKCTL" -C "$1" -t 3000 cat "$2" 2>/dev/null)" = "$3" ]
}
gone() { # conf path
	"$LOCKCTL" -C "$1" -t 3000 stat "$2" 2>&1 | grep -q E_NOT_FOUND
}
copied() { is "$dconf" /ls/dst/global/a v1 && is "$dconf" /ls/dst/global/acl/x 'line one'; }
check "the subtree is copied" wait_for 30 copied
check "nothing outside it is" gone "$dconf" /ls/dst/private
check "and nothing outside it in the source leaks in" gone "$dconf" /ls/dst/global/private

# Read-only to clients, whatever their ACLs (the cell is open to all here).
check_fails "a write to the copy is refused" "E_PERMISSION.*read-only mirror" D put /ls/dst/global/a mine
check_fails "a create in the copy is refused" "E_PERMISSION.*read-only mirror" D put /ls/dst/global/new x
check_fails "a mkdir in the copy is refused" "E_PERMISSION.*read-only mirror" D mkdir /ls/dst/global/d
check_fails "a delete in the copy is refused" "E_PERMISSION.*read-only mirror" D rm /ls/dst/global/a
check_fails "a lock in the copy is refused" "E_PERMISSION.*read-only mirror" D trylock --no-create /ls/dst/global/a
check "reads of the copy work" is "$dconf" /ls/dst/global/a v1
check "writes elsewhere in the mirroring cell work" D put /ls/dst/own mine

# Updates, creates and deletes follow.
check "source: update, create, delete" bash -c "'$LOCKCTL' -C '$sconf' put /ls/src/global/a v2 && '$LOCKCTL' -C '$sconf' put /ls/src/global/b new && '$LOCKCTL' -C '$sconf' rm /ls/src/global/acl/x"
check "the update is copied" wait_for 30 is "$dconf" /ls/dst/global/a v2
check "the create is copied" wait_for 30 is "$dconf" /ls/dst/global/b new
check "the delete is copied" wait_for 30 gone "$dconf" /ls/dst/global/acl/x

# A subtree of more nodes than the source lets one session hold handles
# (100 here): the mirror must not hold one per node at once.
many() { # in sessions of 50 puts: lockctl's session is held to 100 handles too
	S mkdir /ls/src/global/many || return 1
	for b in 0 50 100; do
		for i in $(seq $((b + 1)) $((b + 50))); do echo "put /ls/src/global/many/f$i v$i"; done |
			"$LOCKCTL" -C "$sconf" -t 10000 script >/dev/null || return 1
	done
	[ "$("$LOCKCTL" -C "$sconf" -t 5000 ls /ls/src/global/many | wc -l)" -eq 150 ]
}
count_many() { [ "$("$LOCKCTL" -C "$dconf" -t 5000 ls /ls/dst/global/many 2>/dev/null | wc -l)" -eq 150 ]; }
check "150 files in one directory of the source" many
check "all 150 are copied" wait_for 60 count_many
check "their contents too" is "$dconf" /ls/dst/global/many/f150 v150
check "the directory goes from the source" S rm -r -f /ls/src/global/many
check "and from the copy" wait_for 60 gone "$dconf" /ls/dst/global/many

# Delay from a write acknowledged by the source to the copy serving it.
# The target is under a second (Chubby's); the assertion is a generous
# 10 s on the median because this machine runs many cells at once and a
# loaded 2-core box stalls event loops for seconds; the figure measured
# is printed for BENCHMARKS.md.
measure() {
	"$PY" - "$LOCKCTL" "$sconf" "$dconf" <<'EOF'
import subprocess, sys, time
lc, sconf, dconf = sys.argv[1:4]
delays = []
for i in range(15):
    v = "m%d-%f" % (i, time.time())
    subprocess.run([lc, "-C", sconf, "-t", "10000", "put", "/ls/src/global/lat", v], check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.time()
    while True:
        r = subprocess.run([lc, "-C", dconf, "-t", "3000", "cat", "/ls/dst/global/lat"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.rstrip("\n") == v:
            break
        if time.time() - t0 > 30:
            print("not copied within 30 s:", v)
            sys.exit(1)
        time.sleep(0.02)
    delays.append(time.time() - t0)
delays.sort()
med = delays[len(delays) // 2]
print("mirror delay: median %.3f s, max %.3f s over %d writes (lockctl polling every 20 ms)" %
      (med, delays[-1], len(delays)))
sys.exit(0 if med < 10 else 1)
EOF
}
check "changes reach the copy quickly (median delay)" measure
sed -n 's/^mirror delay/    mirror delay/p' "$T_DIR/last.out"

dmaster_status() { # the mirroring cell master's status address
	local m; m=$(master_id "$dconf"); echo "127.0.0.$((10 + m)):$((dport + 2))"
}
metrics_ok() {
	"$PY" -c '
import sys, urllib.request
t = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
need = ["chubby_mirror_lag_seconds{mirror=\"global\"}", "chubby_mirror_last_sync_timestamp_seconds{mirror=\"global\"}",
        "chubby_mirror_state{mirror=\"global\",state=\"following\"} 1"]
miss = [n for n in need if n not in t]
print("missing:", miss) if miss else None
sys.exit(1 if miss else 0)' "$(dmaster_status)"
}
check "/metrics of the master reports the mirror's lag, last sync and state" wait_for 20 metrics_ok
syncs() {
	"$PY" -c '
import re, sys, urllib.request
t = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
print(re.search(r"^chubby_mirror_syncs_total\{mirror=\"global\"\} (\d+)", t, re.M).group(1))' "$(dmaster_status)"
}
# With nothing changing, the mirror waits for events (or the 30 s
# resync): a sync must not start another by itself.
idle() {
	local a b
	a=$(syncs) && sleep 3 && b=$(syncs) || return 1
	echo "syncs: $a then $b"
	[ $((b - a)) -le 1 ]
}
check "an idle mirror does not sync over and over" idle
check "lockctl status shows the mirror" bash -c "'$LOCKCTL' -C '$dconf' status | grep -E '^mirror global: /ls/src/global -> /ls/dst/global, (following|syncing), lag [0-9.]+s'"
check "lockctl --json status too" bash -c "'$LOCKCTL' -C '$dconf' --json status | grep -q '\"mirrors\":\\[{\"name\":\"global\"'"

# A writer keeps changing the source through both fail-overs.
writer() {
	local i=0
	while [ ! -f "$T_DIR/stop-writer" ]; do
		i=$((i + 1))
		"$LOCKCTL" -C "$sconf" -t 10000 put /ls/src/global/w/n$((i % 7)) "v$i" >/dev/null 2>&1 || true
		"$LOCKCTL" -C "$sconf" -t 10000 rm /ls/src/global/w/n$(((i + 3) % 7)) >/dev/null 2>&1 || true
	done
}
check "mkdir w in the source" S mkdir /ls/src/global/w
writer &
wpid=$!
same() { # the copy equals the source, file by file
	"$PY" - "$LOCKCTL" "$sconf" "$dconf" <<'EOF'
import subprocess, sys
lc, sconf, dconf = sys.argv[1:4]
def tree(conf, root):
    r = subprocess.run([lc, "-C", conf, "-t", "5000", "--json", "ls", "-R", root], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("ls -R %s failed: %s" % (root, r.stderr))
    return r.stdout
def norm(out, root):
    import json
    j = json.loads(out)
    names = sorted(x[len(root):] if isinstance(x, str) else x.get("path", "")[len(root):] for x in j.get("children", j.get("names", [])))
    return names
s = norm(tree(sconf, "/ls/src/global"), "/ls/src/global")
d = norm(tree(dconf, "/ls/dst/global"), "/ls/dst/global")
if len(s) < 8:
    sys.exit("too few nodes to compare: %s" % s)
if s != d:
    sys.exit("trees differ: %s vs %s" % (s, d))
for n in s:
    a = subprocess.run([lc, "-C", sconf, "cat", "/ls/src/global" + n], capture_output=True, text=True)
    b = subprocess.run([lc, "-C", dconf, "cat", "/ls/dst/global" + n], capture_output=True, text=True)
    if a.stdout != b.stdout:
        sys.exit("%s differs: %r vs %r" % (n, a.stdout, b.stdout))
print("same: %d nodes" % len(s))
EOF
}
m=$(master_id "$sconf")
check "kill -9 the source's master ($m) mid-run" "$CHUBBY_CELL_BIN" kill "$m" --dir "$src"
check "the source elects another" wait_for 30 one_master "$sconf"
# Writes to the source right after its fail-over are retried: the source
# cell's availability is not what this test is about.
check "a write after the source's fail-over is copied" wait_for 60 S put /ls/src/global/after-src yes
check "(copied)" wait_for 30 is "$dconf" /ls/dst/global/after-src yes
check "restart the old source master" "$CHUBBY_CELL_BIN" restart "$m" --dir "$src"
m=$(master_id "$dconf")
check "kill -9 the mirroring cell's master ($m) mid-run" "$CHUBBY_CELL_BIN" kill "$m" --dir "$dst"
check "the mirroring cell elects another" wait_for 30 one_master "$dconf"
check "the new master runs the mirror: a later write is copied" wait_for 60 S put /ls/src/global/after-dst yes
check "(copied)" wait_for 40 is "$dconf" /ls/dst/global/after-dst yes
touch "$T_DIR/stop-writer"
wait "$wpid"
check "a last write once the writer stopped" S put /ls/src/global/last done
check "(copied)" wait_for 30 is "$dconf" /ls/dst/global/last done
# The whole source cell goes away: the mirror says so, and its lag grows.
metric() { # name: the master's value of NAME{mirror="global"...}
	"$PY" -c '
import sys, urllib.request
t = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
for l in t.splitlines():
    if l.startswith(sys.argv[2]):
        print(l.rsplit(" ", 1)[1]); break' "$(dmaster_status)" "$1"
}
lagging() {
	local lag st
	lag=$(metric 'chubby_mirror_lag_seconds{mirror="global"}')
	st=$(metric 'chubby_mirror_state{mirror="global",state="following"}')
	echo "lag $lag, following $st"
	[ "$st" = 0 ] && "$PY" -c "import sys; sys.exit(0 if float('$lag') >= 2 else 1)"
}
caught_up() {
	[ "$(metric 'chubby_mirror_state{mirror="global",state="following"}')" = 1 ] &&
		"$PY" -c "import sys; sys.exit(0 if float('$(metric 'chubby_mirror_lag_seconds{mirror="global"}')') == 0 else 1)"
}
check "the whole source cell stops" "$CHUBBY_CELL_BIN" down --dir "$src"
check "the mirror leaves following and its lag grows past 2 s" wait_for 40 lagging
check "lockctl status says so" bash -c "'$LOCKCTL' -C '$dconf' status | grep -E '^mirror global: .* (connecting|error|syncing), lag [1-9][0-9.]*s'"
check "reads of the copy still work meanwhile" is "$dconf" /ls/dst/global/last done
check "the source cell comes back" cell_up "$src"
check "with a master" wait_for 30 one_master "$sconf"
check "a write after it came back" wait_for 60 S put /ls/src/global/back yes
check "(copied)" wait_for 40 is "$dconf" /ls/dst/global/back yes
check "the mirror follows again with no lag" wait_for 20 caught_up
check "the copy converges on the source, node by node" wait_for 30 same
check "the mirroring cell's replicas agree" wait_for 30 converged "$dconf" 4
check "the standby replicas say so in lockctl --json status" bash -c "'$LOCKCTL' -C '$dconf' --json status | grep -q '\"state\":\"standby\"'"
finish
