#!/bin/sh
# check-layers.sh: chubbyd's modules depend one way (issue 16): the client
# port (rpc) decodes requests for the request layer (svc), which serves
# them over the session layer, which proposes through the replica,
# which runs Paxos over the store and peers.  A lower module includes no
# header of a higher one: the replica tells the session layer what it
# applies through an observer it is given (replica_observe), and backup
# takes what it needs as arguments and leaves the RPC envelope to rpc.
# main.c and the status endpoint sit on top and may include anything.
# The mirrors (server/mirror, issue 21) are clients of other cells inside
# chubbyd: only they may use libchubby's client calls, they write here
# through the client port like any client (never the session or request
# layer directly), and nothing below them knows of them.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
inc='#[[:space:]]*include[[:space:]]*[<"]'
passed=0 failed=0

check_file() { # file pattern what
	[ -f "$1" ] || return 0
	if grep -nE "$2" "$1"; then
		echo "FAIL: $1 includes a header of a higher layer ($3; above)"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
}

for f in "$top"/server/replica.[ch]; do
	check_file "$f" "$inc(session/|session_shell|rpc/|backup\.h|status/)" "replica"
done
for f in "$top"/server/backup.[ch] "$top"/server/backup_file.[ch]; do
	check_file "$f" "$inc(rpc/|session/|session_shell|status/)" "backup"
done
for f in "$top"/server/store/*.[ch] "$top"/server/peer/*.[ch] "$top"/server/paxos/*.[ch] \
    "$top"/server/ns/*.[ch]; do
	check_file "$f" "$inc(replica\.h|rpc/|svc/|session/|session_shell|backup|status/)" "below replica"
done
for f in "$top"/server/session/*.[ch]; do
	check_file "$f" "$inc(svc/|rpc/|replica\.h|backup|status/|chubbyd\.h)" "session"
done
for f in "$top"/server/svc/*.[ch]; do
	check_file "$f" "$inc(rpc/|replica\.h|session_shell|backup|status/|chubbyd\.h|cellconfig\.h)" \
	    "request layer"
done
for f in "$top"/server/replica.[ch] "$top"/server/backup*.[ch] "$top"/server/store/*.[ch] \
    "$top"/server/peer/*.[ch] "$top"/server/paxos/*.[ch] "$top"/server/ns/*.[ch] \
    "$top"/server/cell/*.[ch] "$top"/server/session/*.[ch] "$top"/server/svc/*.[ch]; do
	check_file "$f" "${inc}mirror/" "below the mirrors"
done
for f in "$top"/server/mirror/*.[ch]; do
	check_file "$f" "$inc(session/|session_shell|svc/|rpc/|status/|backup|store/|peer/|paxos/|ns/)" \
	    "mirror (a client: it writes through the client port)"
done
# chubby-proxy (server/proxy, docs/PROXY.md) is a program of its own, a client
# of the cell's protocol: none of chubbyd's modules, only common/.
for f in "$top"/server/proxy/*.[ch]; do
	check_file "$f" "$inc(session/|session_shell|svc/|rpc/|status/|backup|store/|peer/|paxos/|ns/|cell/|replica\.h|chubbyd\.h|mirror/)" \
	    "proxy (a client of the cell)"
done
# libchubby's client calls (sessions, handles, the event-loop API) in
# chubbyd: only in server/mirror.
for f in $(find "$top/server" -name '*.c' ! -path '*/server/mirror/*'); do
	if grep -nE '\bchubby_(open|open_ext|open_async|process|interest|handle_open(_async)?|close)\(' "$f"; then
		echo "FAIL: $f calls libchubby's client API (above); only server/mirror may"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
echo "SUMMARY: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
