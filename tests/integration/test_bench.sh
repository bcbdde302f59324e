#!/bin/bash
# test_bench.sh: chubby-bench against a real five-replica cell, as
# tools/bench-peers drives it: every run announces its measured window
# (--marks: "measure" then "end" on stdout, before the JSON report), and the
# open-read-close workload (what one `lockctl cat` does in a session) runs
# without errors.  Throughput is not asserted (the machine may be loaded):
# only that operations were made and none failed.  The keepalive workload
# through two chubby-proxy processes (--proxies, tools/bench-proxies) spreads
# its sessions evenly over them and reports each proxy's CPU and memory and
# the KeepAlives the master itself answered.
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(t_port)
cell="$T_DIR/cell"
BENCH="$BUILD/tools/chubby-bench/chubby-bench"

check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port" \
	--set proxies=px1,px2

CHUBBY_CELL_TOOL="$CHUBBY_CELL_BIN" "$BENCH" --dir "$cell" -w open-read-close,write -c 2 \
	-d 1 --warmup 0.2 --json --marks -q >"$T_DIR/bench.out" 2>"$T_DIR/bench.err"
echo "chubby-bench exited $?" >>"$T_DIR/bench.err"
sed 's/^/    /' "$T_DIR/bench.out" "$T_DIR/bench.err"

marks_in_order() { # two runs: measure, end, measure, end, then the JSON
	[ "$(grep -x -e measure -e end "$T_DIR/bench.out" | tr '\n' ' ')" = "measure end measure end " ] &&
		[ "$(sed -n 5p "$T_DIR/bench.out" | cut -c1-16)" = '{"tool":"chubby-' ]
}
check "--marks: measure and end around each run, before the report" marks_in_order

result_ok() { # workload: ok, operations made, no errors
	"$PY" - "$T_DIR/bench.out" "$1" <<'PYEOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
report = json.loads("\n".join(l for l in lines if l not in ("measure", "end")))
r = [x for x in report["results"] if x["workload"] == sys.argv[2]][0]
print(sys.argv[2], r["ops"], "ops,", r["errors"], "errors")
sys.exit(0 if r["ok"] and r["ops"] > 0 and r["errors"] == 0 else 1)
PYEOF
}
check "open-read-close: operations made, none failed" result_ok open-read-close
check "write: operations made, none failed" result_ok write

# The keepalive workload of a KeepAlive storm run (BENCHMARKS.md "Session
# leases under load"): 400 sessions started at 200 a second, a timeline row
# a second (on stderr with --json), then all but 50 ended and watched 3 s.
CHUBBY_CELL_TOOL="$CHUBBY_CELL_BIN" "$BENCH" --dir "$cell" -w keepalive -n 400 --arrival 200 \
	-d 1 --keep 50 --tail 3 --timeline --json -q >"$T_DIR/ka.out" 2>"$T_DIR/ka.err"
echo "chubby-bench exited $?" >>"$T_DIR/ka.err"
sed 's/^/    /' "$T_DIR/ka.out" "$T_DIR/ka.err"
ka_ok() {
	"$PY" - "$T_DIR/ka.out" "$T_DIR/ka.err" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
rows = [l.split() for l in open(sys.argv[2]) if l[:1] == " " and l.split()[0].isdigit()]
phases = [x[1] for x in rows]
# Paced: 400 at 200/s cannot start in much less than 2 s (a burst takes a
# fraction of one); no upper bound (the machine may be loaded).
checks = {
    "ok, none expired": r["ok"] and r["sessions_expired"] == 0 and r["late_replies"] == 0,
    "arrival reported": r["arrival_per_s"] == 200,
    "paced start": r["start_s"] >= 1.8,
    "a row a second through every phase":
        all(p in phases for p in ("starting", "measure", "tail")) and len(rows) >= 20,
    "the tail keeps 50": all(x[2] == "50" for x in rows if x[1] == "tail"),
    "leases granted (12 s) seen": any(x[10] == "12.0" for x in rows),
}
bad = [k for k, v in checks.items() if not v]
sys.exit("failed: %s" % ", ".join(bad) if bad else 0)
PYEOF
}
check "keepalive --arrival --timeline --keep --tail: paced, a row a second, none lost" ka_ok

# ---- keepalive through two proxies ----
PX_PID=()
t_cleanup_px() {
	for p in "${PX_PID[@]}"; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_px EXIT
px_start() { # name listen
	"$CERTS" proxy --dir "$cell/tls" --name "$1" >/dev/null &&
		{ "$BUILD/server/chubby-proxy" --config "$cell/chubby.conf" --listen "$2" \
			--cert "$cell/tls/proxy-$1.crt" --key "$cell/tls/proxy-$1.key" \
			>"$T_DIR/$1.log" 2>&1 & PX_PID+=($!); } &&
		wait_for 20 grep -q 'upstream: master at' "$T_DIR/$1.log"
}
P1=127.0.0.1:$((port + 15))
P2=127.0.0.1:$((port + 16))
check "proxy px1 up" px_start px1 "$P1"
check "proxy px2 up" px_start px2 "$P2"
# 400 sessions left open at the end (--abandon), so that each proxy's
# STATUS still counts its share afterwards.
CHUBBY_CELL_TOOL="$CHUBBY_CELL_BIN" "$BENCH" --dir "$cell" -w keepalive -n 400 -d 1 \
	--proxies "$P1,$P2" --abandon --json -q >"$T_DIR/px.out" 2>"$T_DIR/px.err"
echo "chubby-bench exited $?" >>"$T_DIR/px.err"
sed 's/^/    /' "$T_DIR/px.out" "$T_DIR/px.err"
px_sessions() { # addr: the proxy's client sessions (its STATUS)
	"$PY" -c "import sys; sys.path.insert(0, '$(dirname "$0")'); import chubby_wire as w
print(w.Conn('$1', '$cell/tls/ca.crt', '$cell/tls/client-admin.crt', '$cell/tls/client-admin.key').call('STATUS').get('sessions'))"
}
holds_200() { local n; n=$(px_sessions "$1"); echo "$1 holds $n client sessions"; [ "$n" = 200 ]; }
check "px1 holds half the sessions" holds_200 "$P1"
check "px2 holds the other half" holds_200 "$P2"
px_report_ok() {
	"$PY" - "$T_DIR/px.out" "${PX_PID[0]}" "${PX_PID[1]}" "$P1" "$P2" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
px = r.get("proxies", [])
checks = {
    "ok": r["ok"],
    "two proxies reported": len(px) == 2,
    "their addresses and pids": [(p["address"], str(p["pid"])) for p in px] ==
        [(sys.argv[4], sys.argv[2]), (sys.argv[5], sys.argv[3])],
    "their CPU and memory": all(p["cpu_pct"] >= 0 and p["rss_kb"] > 0 for p in px),
    "the master's own KeepAlives/s": r.get("master_keepalives_per_s", -1) >= 0,
    "connections a multiple of the proxies": r["connections"] % 2 == 0,
}
bad = [k for k, v in checks.items() if not v]
sys.exit("failed: %s" % ", ".join(bad) if bad else 0)
PYEOF
}
check "keepalive --proxies: each proxy's pid, CPU, RSS and the master's KeepAlives/s reported" \
	px_report_ok

# ---- cached reads through the proxies under load (issue 21 item 4) ----
# 4 readers, two on each proxy, read their files from the cache (libchubby's,
# filled through the proxy's) while a direct writer overwrites one of them
# every 10 ms: a read begun after a write was acknowledged must return it or
# a later one.  The proxies' relayed invalidations show that the readers
# really went through them.
px_field() { # addr field: from the proxy's STATUS
	"$PY" -c "import sys; sys.path.insert(0, '$(dirname "$0")'); import chubby_wire as w
print(w.Conn('$1', '$cell/tls/ca.crt', '$cell/tls/client-admin.crt', '$cell/tls/client-admin.key').call('STATUS').get('$2'))"
}
inv1=$(px_field "$P1" invalidations) inv2=$(px_field "$P2" invalidations)
CHUBBY_CELL_TOOL="$CHUBBY_CELL_BIN" "$BENCH" --dir "$cell" -w read-cached -c 4 -d 3 \
	--warmup 0.5 --proxies "$P1,$P2" --json -q >"$T_DIR/rc.out" 2>"$T_DIR/rc.err"
echo "chubby-bench exited $?" >>"$T_DIR/rc.err"
sed 's/^/    /' "$T_DIR/rc.out" "$T_DIR/rc.err"
rc_ok() {
	"$PY" - "$T_DIR/rc.out" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("read-cached through proxies:", r["ops"], "reads,", r["invalidating_writes"],
      "invalidating writes,", r["stale_reads"], "stale reads,", r["errors"], "errors")
sys.exit(0 if r["ok"] and r["ops"] > 0 and r["invalidating_writes"] > 0 and
         r["stale_reads"] == 0 and r["errors"] == 0 else 1)
PYEOF
}
check "read-cached through 2 proxies, direct writer: no stale read" rc_ok
relayed() { # addr before: the proxy relayed invalidations to its readers
	local now
	now=$(px_field "$1" invalidations)
	echo "$1 relayed $((now - $2)) invalidations"
	[ "$((now - $2))" -gt 0 ]
}
check "px1 relayed invalidations to its readers" relayed "$P1" "${inv1:-0}"
check "px2 relayed invalidations to its readers" relayed "$P2" "${inv2:-0}"

finish
