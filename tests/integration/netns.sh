# netns.sh: sourced first by the tests that cut links with nftables or
# black-hole addresses: run outside, it re-runs the test inside a network
# namespace of its own (named $T_NETNS-PID; deleted when the test ends) and
# exits with the test's status; run inside (--inside), it returns and the
# test goes on.  Needs root, ip and nft; tells the suite it skipped
# otherwise (exit 77, which CI counts as a failure unless tests/skip-allow
# lists the test).
if [ "${1:-}" != --inside ]; then
	if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v nft >/dev/null; then
		echo "SKIP: needs root, ip and nft (tools/install-deps installs them)"; exit 77
	fi
	ns="${T_NETNS:-chubby}-$$"
	ip netns add "$ns" 2>/dev/null || { echo "SKIP: cannot create a network namespace"; exit 77; }
	trap 'ip netns del "$ns" 2>/dev/null' EXIT
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" bash "$0" --inside
	exit $?
fi
