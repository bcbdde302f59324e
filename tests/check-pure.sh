#!/bin/sh
# check-pure.sh: the pure cores (STYLE.md, "Pure cores") include no I/O,
# clock, thread, socket, TLS or storage headers, so tests and the simulator
# can drive them with virtual time and no side effects.  The namespace and
# the applied state (server/cell) may use msgpack (a pure codec) for their
# commands and snapshots; the Paxos core, the client session core and the client cache may
# not even do that.  The master's session layer (server/session) may use
# msgpack too, but knows nothing of the daemon it runs in: no replica, RPC,
# daemon context or config file; the shell (server/session_shell.c) gives
# it an environment and the time.  The request layer above it (server/svc)
# is held to the same rule: it knows no wire format but msgpack's buffers,
# and reaches the client port only through the environment it is given.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
io='event2/|openssl/|leveldb/|sys/socket|sys/time|sys/stat|netinet/|arpa/|netdb|time\.h|unistd\.h|pthread\.h|stdio\.h|fcntl\.h|signal\.h|clock\.h|log\.h|conn\.h|tp\.h|tls\.h|store'
strict="#[[:space:]]*include[[:space:]]*[<\"]($io|msgpack)"
codec="#[[:space:]]*include[[:space:]]*[<\"]($io)"
shell='replica\.h|rpc/|rpc\.h|chubbyd\.h|cellconfig\.h|backup|peer/|status/'
sess="#[[:space:]]*include[[:space:]]*[<\"]($io|$shell)"
passed=0 failed=0

check_file() { # file pattern
	[ -f "$1" ] || return 0
	if grep -nE "$2" "$1"; then
		echo "FAIL: $1 includes a forbidden header (above)"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
}

for f in "$top"/server/paxos/*.[ch] "$top"/libchubby/csess.[ch] "$top"/libchubby/cevids.[ch] "$top"/libchubby/ccache.[ch] \
    "$top"/server/mirror/mirror_plan.[ch] "$top"/server/proxy/pxcore.[ch] "$top"/common/lease_ctl.[ch]; do
	check_file "$f" "$strict"
done
for f in "$top"/server/ns/*.[ch] "$top"/server/cell/*.[ch]; do
	check_file "$f" "$codec"
done
for f in "$top"/server/session/*.[ch] "$top"/server/svc/*.[ch]; do
	check_file "$f" "$sess"
done
# The loop lag gauge's accounting: the daemon gives it the time and the lag.
for f in "$top"/server/status/looplag.[ch]; do
	check_file "$f" "$strict"
done
# The latency histograms and the requests by op and status: the daemon
# gives them the durations and the time.
for f in "$top"/common/latency.[ch] "$top"/server/status/reqstats.[ch]; do
	check_file "$f" "$strict"
done
echo "SUMMARY: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
