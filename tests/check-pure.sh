#!/bin/sh
# check-pure.sh: the pure cores (STYLE.md, "Pure cores") include no I/O,
# clock, thread, socket, TLS or storage headers, so tests and the simulator
# can drive them with virtual time and no side effects.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
forbidden='#[[:space:]]*include[[:space:]]*[<"](event2/|openssl/|leveldb/|sys/socket|sys/time|sys/stat|netinet/|arpa/|netdb|time\.h|unistd\.h|pthread\.h|stdio\.h|fcntl\.h|signal\.h|clock\.h|log\.h|conn\.h|tp\.h|tls\.h|store)'
passed=0 failed=0
for dir in server/paxos server/ns; do
	for f in "$top/$dir"/*.c "$top/$dir"/*.h; do
		[ -f "$f" ] || continue
		if grep -nE "$forbidden" "$f"; then
			echo "FAIL: $f includes a forbidden header (above)"
			failed=$((failed + 1))
		else
			passed=$((passed + 1))
		fi
	done
done
echo "SUMMARY: passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
