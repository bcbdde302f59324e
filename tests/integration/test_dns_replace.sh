#!/bin/bash
# test_dns_replace.sh: replacing a dead replica's machine by DNS (issue 21
# item 2; Chubby: the new machine's address is published in DNS and the
# master notices).  Each replica line names the replica by DNS (dns=NAME);
# a real DNS server (dnsmasq, started here) answers for them.  A replica
# dies with its disk; its name is pointed at a new machine; the master,
# polling DNS, moves the replica there through the log, with the checks of
# `lockctl members replace`; the new machine starts with an empty store,
# rejoins as a non-voter, catches up and votes.  A name pointed at another
# member's address is refused and moves nothing.
. "$(dirname "$0")/lib.sh"
t_time_limit 300

DNSMASQ=/usr/sbin/dnsmasq
port=$(( $(t_port) + 5 ))
dport=$((port + 9))
dns=127.0.0.54
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
L() { "$LOCKCTL" -C "$conf" -t 5000 "$@"; }
FAST=(--set master_lease=2s --set master_lease_renew=700ms --set election_timeout=500ms
	--set heartbeat_interval=100ms --set snapshot_interval=100 --set log_keep=20
	--set dns_server=$dns:$dport --set dns_poll_interval=1s)

check "dnsmasq is installed (tools/install-deps: dnsmasq-base)" test -x "$DNSMASQ"
hosts="$T_DIR/hosts"
for i in 1 2 3 4 5; do echo "127.0.0.$((10 + i)) r$i.cell.test"; done >"$hosts"
"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --user=root --group=root \
	--listen-address=$dns --bind-interfaces --port=$dport --pid-file= \
	--addn-hosts="$hosts" --log-facility="$T_DIR/dnsmasq.log" >/dev/null 2>&1 &
DNSMASQ_PID=$!
trap 'kill $DNSMASQ_PID 2>/dev/null; t_cleanup' EXIT
check "dnsmasq answers" wait_for 10 grep -q 'started' "$T_DIR/dnsmasq.log"
# A new record: dnsmasq reads its hosts files again on SIGHUP.
set_record() { # name ip
	sed -i "/ $1\$/d" "$hosts" && echo "$2 $1" >>"$hosts" && kill -HUP $DNSMASQ_PID
}

check "5-replica cell up" cell_up "$cell" --replicas 5 --base-port "$port" "${FAST[@]}"
check "one master" wait_for 20 one_master "$conf"
# Name every replica by DNS: dns=rI.cell.test on its line, then restart
# each with the new config, one at a time.
check "every replica line gets dns=rI.cell.test" sed -i -E \
	's/^(replica ([0-9]+) .*)$/\1 dns=r\2.cell.test/' "$conf"
check "the config names 5 replicas by DNS" test "$(grep -c ' dns=r[0-9].cell.test$' "$conf")" -eq 5
for i in 1 2 3 4 5; do
	"$CHUBBY_CELL_BIN" stop $i --dir "$cell" >/dev/null 2>&1
	"$CHUBBY_CELL_BIN" restart $i --dir "$cell" >/dev/null 2>&1
	wait_for 20 one_master "$conf"
done
check "all 5 back, one master" wait_for 20 converged "$conf" 5
m=$(master_id "$conf")
check "the master ($m) follows the other replicas' names" wait_for 10 \
	grep -q "dns: the master follows 4 replicas' DNS names" "$cell/replica-$m.log"
check "a file written before" L put /ls/local/before v1
sleep 2
check "names that match the cell move nothing" no_match "moving replica" "$cell"/replica-*.log

v=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] != $m][0]")
w=$(cell_status "$conf" | jpy "[r['id'] for r in j['replicas'] if r['id'] not in ($m, $v)][0]")
# A name pointed at another member's address: refused, nothing moves.
check "r$w.cell.test pointed at the master's address" set_record "r$w.cell.test" "127.0.0.$((10 + m))"
refused_move() { grep -q "dns: r$w.cell.test names 127.0.0.$((10 + m)), but replica $w cannot move there" "$cell/replica-$m.log"; }
check "the master refuses to move replica $w onto replica $m's address" wait_for 10 refused_move
check "r$w.cell.test back" set_record "r$w.cell.test" "127.0.0.$((10 + w))"

new=127.0.0.$((20 + v))
check "replica $v dies and its disk is gone" bash -c "'$CHUBBY_CELL_BIN' kill $v --dir '$cell' && rm -rf '$cell/data/replica-$v'"
check "a certificate for replica $v on the new machine ($new)" "$CERTS" replica --dir "$cell/tls" --id "$v" --ip "$new"
check "r$v.cell.test now names the new machine" set_record "r$v.cell.test" "$new"
moved() { L --json members | grep -q "\"peer\":\"$new:$((port + 1))\""; }
check "the master moves replica $v to $new through the log" wait_for 20 moved
check "and says why" grep -q "dns: r$v.cell.test now names $new" "$cell/replica-$m.log"

sed "s|^replica $v client=[^ ]* peer=[^ ]* status=[^ ]*|replica $v client=$new:$port peer=$new:$((port + 1)) status=$new:$((port + 2))|" "$conf" >"$cell/new.conf"
start_new() {
	setsid "$CHUBBYD" -c "$cell/new.conf" -i "$v" >>"$cell/replica-$v.log" 2>&1 </dev/null &
	echo $! >"$cell/replica-$v.pid"
}
check "start replica $v on the new machine with an empty store" start_new
check "it rejoins as a non-voting member" wait_for 10 grep -q "non-voting" "$cell/replica-$v.log"
check "all 5 converge" wait_for 40 converged "$cell/new.conf" 5
check "and it votes" wait_for 30 all_voters "$cell/new.conf"
check "the file written before is there" bash -c "'$LOCKCTL' -C '$cell/new.conf' cat /ls/local/before | grep -qx v1"
check "writes go on" "$LOCKCTL" -C "$cell/new.conf" sync -n 20 -w 4
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
