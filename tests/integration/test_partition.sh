#!/bin/bash
# test_partition.sh: real network partitions between real replicas.  The
# whole cell runs in a network namespace of the test's own; links between
# replicas (each on its own 127.0.0.(10+i)) are cut with nftables rules
# there.  Clients reach every replica from 127.0.0.1, which no rule touches,
# so the test sees each side's view.  Checks: the master cut off loses its
# lease and a new master with a higher epoch takes over; a 2/3 split leaves
# the majority side writing; a bridge replica still lets one master serve;
# after healing everything converges.
T_NETNS=chubby-part . "$(dirname "$0")/netns.sh"

. "$(dirname "$0")/lib.sh"
t_time_limit 300

port=7100
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
L() { "$LOCKCTL" -C "$conf" -t 3000 "$@"; }

nft add table inet chubbytest
nft add chain inet chubbytest out '{ type filter hook output priority 0; policy accept; }'
# cut A B: drop every packet between replicas A and B, both ways.
cut() {
	nft add rule inet chubbytest out ip saddr "127.0.0.$((10 + $1))" ip daddr "127.0.0.$((10 + $2))" drop &&
	nft add rule inet chubbytest out ip saddr "127.0.0.$((10 + $2))" ip daddr "127.0.0.$((10 + $1))" drop
}
heal() { nft flush chain inet chubbytest out; }
masters() { # the ids that say they are master, space-separated
	cell_status "$conf" | jpy '" ".join(str(r["id"]) for r in j["replicas"] if r.get("role") == "master")'
}
epoch_of() { cell_status "$conf" | jpy "[r.get('epoch') for r in j['replicas'] if r['id'] == $1][0]"; }
new_master_besides() { # old-id old-epoch: exactly one master, not OLD, with a higher epoch
	local m e
	m=$(masters)
	[ -n "$m" ] && [ "$m" = "${m%% *}" ] && [ "$m" != "$1" ] || return 1
	e=$(epoch_of "$m")
	[ "$e" -gt "$2" ]
}
# Samples the cell for SECONDS: fails if two replicas ever say master at
# once, and unless most samples got an answer (a status that fails says
# nothing about masters: it must not count as "never two").
never_two_masters() { # seconds
	local end=$(( $(date +%s) + $1 )) m good=0 bad=0
	while [ "$(date +%s)" -lt $end ]; do
		if m=$(masters); then
			good=$((good + 1))
		else
			bad=$((bad + 1)); sleep 0.2; continue
		fi
		case $m in *" "*) echo "two masters at once: $m"; return 1 ;; esac
		sleep 0.2
	done
	echo "$good samples answered, $bad did not"
	[ "$good" -ge 2 ] && [ "$good" -gt "$bad" ]
}

check "5-replica cell up inside its own network namespace" cell_up "$cell" --replicas 5 \
	--base-port "$port" --set master_lease=2s --set master_lease_renew=700ms \
	--set election_timeout=500ms --set heartbeat_interval=100ms
check "one master" wait_for 10 one_master "$conf"
check "writes commit" L sync -n 100 -w 8

# 1. Cut the master off from every other replica.
m=$(master_id "$conf"); e=$(epoch_of "$m")
check "isolate master $m from all other replicas" bash -c "$(declare -f cut); for i in 1 2 3 4 5; do [ \$i = $m ] || cut $m \$i || exit 1; done"
check "never two masters while the old lease runs out" never_two_masters 5
check "the majority elects a new master with a higher epoch" wait_for 20 new_master_besides "$m" "$e"
# It must answer: an unreachable replica's silence is no evidence.
role_answered() { # id: the role replica ID reports (fails if it does not answer)
	cell_status "$conf" | jpy "[r['role'] for r in j['replicas'] if r['id'] == $1 and r['reachable']][0]"
}
not_master() { local r; r=$(nonempty role_answered "$1") || return 1; echo "replica $1: $r"; [ "$r" != master ]; }
check "the isolated replica no longer says it is master" not_master "$m"
check "writes commit on the majority side" L sync -n 100 -w 8
check "heal" heal
check "one master after healing" wait_for 20 one_master "$conf"
check "all converge (the old master caught up)" wait_for 30 converged "$conf" 5

# 2. Split 2/3.
check "split {1,2} from {3,4,5}" bash -c "$(declare -f cut); for a in 1 2; do for b in 3 4 5; do cut \$a \$b || exit 1; done; done"
in_majority() { local m; m=$(masters); case $m in 3|4|5) return 0 ;; *) return 1 ;; esac; }
check "the master is on the 3 side" wait_for 20 in_majority
check "never two masters during the split" never_two_masters 4
check "writes commit during the split" L sync -n 100 -w 8
check "heal" heal
check "all converge after the split" wait_for 30 converged "$conf" 5

# 3. Bridge: 3 sees everyone, {1,2} and {4,5} do not see each other.
check "bridge: cut {1,2} from {4,5}, 3 in the middle" bash -c "$(declare -f cut); for a in 1 2; do for b in 4 5; do cut \$a \$b || exit 1; done; done"
check "never two masters with a bridge" never_two_masters 6
check "one master serves through the bridge" wait_for 20 one_master "$conf"
check "writes commit through the bridge" L sync -n 100 -w 8
check "heal" heal
check "all converge at the end" wait_for 30 converged "$conf" 5
no_check_failure() { have_files 5 "$cell"/replica-*.log && no_match 'CONSISTENCY CHECK FAILED' "$cell"/replica-*.log; }
check "no consistency-check failures (in the 5 logs)" no_check_failure
check "cell down" "$CHUBBY_CELL_BIN" down --dir "$cell"
finish
