#!/bin/bash
# test_status_page.sh: the status page (GET / on the status port) of a real
# five-replica cell, loaded in a real headless browser (Debian's chromium,
# tools/install-deps): the page is self-contained (a Content-Security-Policy
# that allows nothing from elsewhere), its DOM after the scripts ran shows
# five replica rows with exactly one master (the one the cell names), the
# counts, and a chart of the master's recent commit latency with points
# after some writes, and stays so once its own script refreshed it from
# the same origin (under virtual time); a follower's page names the same
# master; and the
# screenshot (kept in the build dir) is a non-blank PNG of the window size.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
here=$(dirname "$0")
shot="$BUILD/tests/integration/status_page.png"
W=1200 H=900
CHROMIUM=$(command -v chromium || command -v chromium-browser || echo chromium)

# Headless chromium, bounded in time, with a profile of its own (parallel
# runs must not share one).  --no-sandbox: CI runs the tests as root, and
# chromium refuses to start as root with its sandbox on; the page it loads
# is our own, from loopback.
browse() { # chromium-args... url
	timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T_DIR/chromium" --window-size=$W,$H --hide-scrollbars \
		"$@" 2>"$T_DIR/chromium.err"
}

check "chromium is installed (tools/install-deps)" test -x "$CHROMIUM"
check "5-replica cell comes up" cell_up "$cell" --replicas 5 --base-port "$port"
check "exactly one master" wait_for 20 one_master "$conf"
export CHUBBY_CELL="$conf"
m=$(master_id "$conf")
f=$(( m % 5 + 1 )) # a follower
murl="http://127.0.0.$((10 + m)):$((port + 2))/"
furl="http://127.0.0.$((10 + f)):$((port + 2))/"

headers_ok() { # url
	"$PY" -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=10)
body = r.read().decode()
print(r.status, dict(r.headers))
assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
csp = r.headers["Content-Security-Policy"]
assert "default-src '\''none'\''" in csp and "connect-src '\''self'\''" in csp, csp
assert body.startswith("<!DOCTYPE html>"), body[:100]' "$1"
}
check "GET / is self-contained HTML (CSP: nothing from elsewhere)" headers_ok "$murl"

check "some writes through the master" bash -c "'$LOCKCTL' mkdir web </dev/null && for i in 1 2 3 4 5 6; do '$LOCKCTL' put web/k\$i v\$i </dev/null || exit 1; done"

dom_check() { # url file self min_points min_refreshes
	# --virtual-time-budget: chromium runs the page's timers through that
	# much virtual time (the refresh every 2 s) before it dumps the DOM.
	browse --virtual-time-budget=$(($5 * 2000 + 1000)) --dump-dom "$1" >"$2" ||
		{ cat "$T_DIR/chromium.err"; return 1; }
	"$PY" "$here/status_page_check.py" dom "$2" 5 "$m" "$3" "$4" "$5"
}
check "the master's page in chromium, refreshed by its script: 5 rows, one master, the chart with points" \
	dom_check "$murl" "$T_DIR/master.html" "$m" 1 2
check "a follower's page in chromium: 5 rows, the same master" \
	dom_check "$furl" "$T_DIR/follower.html" "$f" 0 0

screenshot() {
	rm -f "$shot"
	browse --screenshot="$shot" "$murl" >/dev/null || { cat "$T_DIR/chromium.err"; return 1; }
	"$PY" "$here/status_page_check.py" png "$shot" $W $H
}
check "a screenshot of the master's page: a non-blank ${W}x$H PNG ($shot)" screenshot
finish
