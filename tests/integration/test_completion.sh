#!/bin/bash
# test_completion.sh: lockctl's bash completion (etc/bash-completion/lockctl,
# issue 20 item 3).  It sources the script in bash, sets COMP_WORDS and
# COMP_CWORD as bash does, calls the function and checks COMPREPLY: the
# commands and every option of every command (taken from lockctl's own
# table, so a new command or option completes without touching the
# script), option arguments, the command after "--", and node names from a
# real cell (a directory gets a "/"), also with -C; a cell that does not
# answer completes nothing, quietly and soon.
. "$(dirname "$0")/lib.sh"
t_time_limit 240

COMPLETION="$abs_top_srcdir/etc/bash-completion/lockctl"

# comp WORD...: prints COMPREPLY, one a line, for the command line WORD...
# whose last word is the one being completed (lockctl is WORD 0).
comp() {
	bash -c '
. "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_lockctl "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf "%s\n" "${COMPREPLY[@]}"' comp "$COMPLETION" "$LOCKCTL" "$@"
}
# comp_is "WANT" WORD...: the completions, sorted and joined by blanks, are WANT.
comp_is() {
	local want=$1 got; shift
	got=$(comp "$@" | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] || { echo "completing '$*': got '$got', want '$want'"; return 1; }
}
# comp_has WORD... :: CANDIDATE...: every CANDIDATE is offered.
comp_has() {
	local -a words=() ; local got c
	while [ "$1" != "::" ]; do words+=("$1"); shift; done; shift
	got=$(comp "${words[@]}")
	for c in "$@"; do
		grep -qxF -- "$c" <<<"$got" || { echo "completing '${words[*]}': no '$c' in:"; echo "$got"; return 1; }
	done
}

check "the completion script parses" bash -n "$COMPLETION"
check "sourcing it registers the lockctl completion" \
	bash -c ". '$COMPLETION' && complete -p lockctl | grep -q -- '-F _lockctl lockctl'"

# ---- commands and options, from lockctl's table ----
cmds=$("$LOCKCTL" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ {print $1}' | sort -u)
check "lockctl --help lists commands" test "$(echo "$cmds" | wc -l)" -ge 20
check "lockctl help --commands lists the same commands" \
	bash -c "[ \"\$('$LOCKCTL' help --commands | sort)\" = \"$cmds\" ]"
check "an empty word completes every command" comp_is "$(echo "$cmds" | tr '\n' ' ' | sed 's/ $//')" ''
check "'lo' completes lock and locks" comp_is "lock locks" lo
check "'ba' after global options completes backup" comp_is "backup" -t 500 --json ba
check "'-' completes the global options" comp_has - :: -C --cell -t --timeout --json
check "-C completes a file name" comp_is "$abs_top_srcdir/etc/bash-completion" -C "$abs_top_srcdir/etc/bash-comp"

# Every option in every usage line of every command completes after "CMD -".
every_option() {
	local c o bad=0 n=0
	for c in $cmds; do
		for o in $("$LOCKCTL" help "$c" | sed -n 's/^usage: lockctl [a-z]* //p' |
			grep -oE -- '(^|[[ |])--?[a-z][a-z-]*' | sed -E 's/^[[ |]//' | sort -u); do
			n=$((n + 1))
			comp "$c" - | grep -qxF -- "$o" || { echo "lockctl $c: '$o' is not offered"; bad=1; }
		done
	done
	# Not vacuous: the usage lines hold a good many options.
	[ $n -ge 15 ] || { echo "only $n options found in lockctl help CMD"; bad=1; }
	return $bad
}
check "every option of every command's usage completes after CMD -" every_option
check "'lock --el' completes --elect" comp_is "--elect" lock --el
check "'acl ' offers get and set" comp_has acl '' :: get set
check "'members r' offers remove and replace" comp_is "remove replace" members r
check "'members a' completes add" comp_is "add" members a
check "no sub-command words after the first argument" comp_is "" members replace ''
check "an option's number argument completes nothing" comp_is "" watch -t ''
check "checkseq --key completes a file name" \
	comp_is "$abs_top_srcdir/etc/bash-completion/lockctl" checkseq --offline --key "$abs_top_srcdir/etc/bash-completion/lo"
check "the command after 'lock PATH --' completes from PATH" comp_has lock -s x -- ech :: echo
check "an unknown command completes nothing" comp_is "" frobnicate ''

# ---- node names from a cell ----
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port"
export CHUBBY_CELL="$conf"
step "mkdir app" "$LOCKCTL" mkdir app
step "mkdir svc" "$LOCKCTL" mkdir svc
step "put app/cron" "$LOCKCTL" put app/cron x
step "put app/config" "$LOCKCTL" put app/config y
step "mkdir app/cache" "$LOCKCTL" mkdir app/cache

check "'cat ' offers the cell's top-level names" comp_has cat '' :: app svc
check "'cat ap' completes the directory app/" comp_is "app/" cat ap
check "'cat app/c' offers app's children" comp_is "app/cache app/config app/cron" cat app/c
check "'cat app/cr' completes the file app/cron (no /)" comp_is "app/cron" cat app/cr
check "'cat app/ca' completes the directory app/cache/" comp_is "app/cache/" cat app/ca
check "'lock -s app/co' completes after the command's options" comp_is "app/config" lock -s app/co
check "'acl get app/cr' completes a name after a sub-command" comp_is "app/cron" acl get app/cr
cellname=$(sed -n 's/^cell = //p' "$conf")
check "a full name completes: /ls/$cellname/app/cr" \
	comp_is "/ls/$cellname/app/cron" cat "/ls/$cellname/app/cr"
check "backup FILE completes a local file, not a node" comp_is "" backup app/cr
no_cell_var() { (unset CHUBBY_CELL; comp_is "app/cron" -C "$conf" cat app/cr); }
check "-C CELL is used for the names (CHUBBY_CELL unset)" no_cell_var
no_names_without_cell() { (unset CHUBBY_CELL; comp_is "" cat app/cr); }
check "no cell at all: no names" no_names_without_cell

# A cell that does not answer: nothing offered, nothing printed, and soon
# (lockctl's -t 1500 bounds it; 20 s is a generous bound for a loaded machine).
"$CHUBBY_CELL_BIN" down --dir "$cell" >/dev/null 2>&1
dead() {
	local t0=$SECONDS out
	out=$(comp cat app/cr 2>&1)
	[ -z "$out" ] || { echo "output: $out"; return 1; }
	[ $((SECONDS - t0)) -le 20 ] || { echo "took $((SECONDS - t0)) s"; return 1; }
}
check "a cell that is down: no names, no output, within 20 s" dead

finish
