#!/bin/bash
# test_cell.sh: a real five-replica cell on loopback: start, status over
# mutual TLS, kill and restart a replica, bad input on the client port,
# bad configs and command lines.
. "$(dirname "$0")/lib.sh"
t_time_limit 120

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port"
check "chubby-cell --json status lists 5 up" \
	bash -c "'$CHUBBY_CELL_BIN' --json status --dir '$cell' | grep -o '\"up\":true' | wc -l | grep -qx 5"

status_json() { "$LOCKCTL" -C "$conf" --json status; }
check "lockctl status reaches all 5 over TLS" \
	bash -c "'$LOCKCTL' -C '$conf' --json status | grep -o '\"reachable\":true' | wc -l | grep -qx 5"
check "lockctl status JSON names the cell and replicas" \
	bash -c "'$LOCKCTL' -C '$conf' --json status | grep -q '\"cell\":\"local\".*\"replicas\":\[{\"id\":1'"
check "lockctl status via CHUBBY_CELL and a host:port list" \
	env CHUBBY_CELL="127.0.0.11:$port,127.0.0.12:$port" CHUBBY_CA="$cell/tls/ca.crt" \
	CHUBBY_CERT="$cell/tls/client-admin.crt" CHUBBY_KEY="$cell/tls/client-admin.key" "$LOCKCTL" status

# The HTTP status endpoint on each replica's status port.
http_get() { # url -> prints "CODE BODY"
	"$PY" -c 'import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())' "$1"
}
sp=$((port + 2))
check "/health answers 200 with the role" bash -c "$(declare -f http_get); PY='$PY'; http_get http://127.0.0.11:$sp/health | grep -q '^200 .*\"role\":'"
check "/metrics is Prometheus text with the epoch and log positions" bash -c "$(declare -f http_get); PY='$PY'; out=\$(http_get http://127.0.0.12:$sp/metrics); echo \"\$out\" | grep -q '^200' && echo \"\$out\" | grep -q '^chubby_epoch [0-9]' && echo \"\$out\" | grep -q '^chubby_log_applied_index [0-9]' && echo \"\$out\" | grep -q '^# TYPE chubby_peer_messages_sent_total counter'"
check "/status is JSON naming the replica" bash -c "$(declare -f http_get); PY='$PY'; http_get http://127.0.0.13:$sp/status | grep -q '^200 {\"cell\":\"local\",\"id\":3'"
check "an unknown path is 404" bash -c "$(declare -f http_get); PY='$PY'; http_get http://127.0.0.13:$sp/nope | grep -q '^404'"

# Bad input on the client port: plaintext, garbage, a half frame.  The
# replica must drop those connections and keep serving.
check "plaintext to the TLS port is dropped" \
	bash -c "exec 3<>/dev/tcp/127.0.0.11/$port; printf 'GET / HTTP/1.0\r\n\r\n' >&3; timeout 5 cat <&3 >/dev/null; true"
check "random bytes to the TLS port are dropped" \
	bash -c "exec 3<>/dev/tcp/127.0.0.11/$port; head -c 4096 /dev/urandom >&3; timeout 5 cat <&3 >/dev/null; true"
check "replica 1 still serves after bad input" \
	bash -c "'$LOCKCTL' -C '$conf' --json status | grep -q '\"id\":1,[^}]*\"reachable\":true'"
export CHUBBY_CA="$cell/tls/ca.crt"

# A client certificate from another CA is refused.
check "make a foreign CA and client" bash -c "'$CERTS' init --dir '$T_DIR/evil' --cell local >/dev/null && '$CERTS' client --dir '$T_DIR/evil' --name mallory >/dev/null"
check_fails "a client certificate from another CA is refused" "unreachable|E_TLS|E_CONN" \
	env CHUBBY_CELL="127.0.0.11:$port" CHUBBY_CERT="$T_DIR/evil/client-mallory.crt" \
	CHUBBY_KEY="$T_DIR/evil/client-mallory.key" "$LOCKCTL" status
unset CHUBBY_CA

# Kill -9 one replica; status shows it unreachable; restart brings it back.
check "kill -9 replica 3" "$CHUBBY_CELL_BIN" kill 3 --dir "$cell"
check "status shows replica 3 unreachable, 4 reachable" \
	bash -c "out=\$('$LOCKCTL' -C '$conf' --json status); echo \"\$out\" | grep -o '\"reachable\":true' | wc -l | grep -qx 4 && echo \"\$out\" | grep -q '\"id\":3,[^}]*\"reachable\":false'"
check "restart replica 3" "$CHUBBY_CELL_BIN" restart 3 --dir "$cell"
check "all 5 reachable again" wait_for 10 \
	bash -c "'$LOCKCTL' -C '$conf' --json status | grep -o '\"reachable\":true' | wc -l | grep -qx 5"

# One daemon per data directory.
check_fails "a second chubbyd on the same data dir is refused" "is locked" "$CHUBBYD" -c "$conf" -i 1
check_fails "chubbyd with an unknown replica id" "no replica 9" "$CHUBBYD" -c "$conf" -i 9

# Bad configs and command lines get a clear reason and a non-zero exit.
printf 'cell = x\nmaster_lease = 10\n' >"$T_DIR/bad.conf"
check_fails "a bad config names file and line" "bad.conf:2: master_lease" "$CHUBBYD" -c "$T_DIR/bad.conf" -i 1
check_fails "a missing config names the file" "nonexistent.conf" "$CHUBBYD" -c "$T_DIR/nonexistent.conf" -i 1
check_fails "chubbyd without -c" "required" "$CHUBBYD"
check_fails "chubbyd -i garbage" "not a replica id" "$CHUBBYD" -c "$conf" -i x
check "chubbyd --check-config" "$CHUBBYD" --check-config -c "$conf" -i 2
check "chubbyd --version" "$CHUBBYD" --version
check "chubbyd --help-config lists master_lease" bash -c "'$CHUBBYD' --help-config | grep -q master_lease"
check_fails "lockctl with no cell" "no cell given" env -u CHUBBY_CELL "$LOCKCTL" status
check_fails "lockctl unknown command" "unknown command" "$LOCKCTL" -C "$conf" frobnicate
check_fails "lockctl --json error is JSON" '^\{"ok":false,"error":"E_INVALID"' "$LOCKCTL" --json -C "$conf" frobnicate
check_fails "chubby-cell rejects --replicas 9" "1 to 7" "$CHUBBY_CELL_BIN" up --dir "$T_DIR/x" --replicas 9

check "SIGTERM stops the cell cleanly" "$CHUBBY_CELL_BIN" down --dir "$cell"
check "each replica logged a clean stop" bash -c "for i in 1 2 4 5; do grep -q 'stopped' '$cell/replica-'\$i'.log' || exit 1; done"
check_fails "status of a stopped cell: every replica down (connection refused), exit 3" "down +\(connection refused\)" "$LOCKCTL" -C "$conf" -t 2000 status

finish
