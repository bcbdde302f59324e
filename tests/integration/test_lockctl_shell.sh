#!/bin/bash
# test_lockctl_shell.sh: lockctl's interactive shell, driven through a
# pseudo-terminal with tmux against a real cell: commands in one session,
# an error that leaves the shell running, ^C dropping a line, history
# recall (Up arrow, and across shells through the history file), TAB
# completion of a command and of node names, watch events printed above
# the line being edited, help, quit, ^D, and the prompt marking a session
# in jeopardy.
. "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
	echo "SKIP: tmux is not installed (Debian package tmux)"
	exit 77
fi
t_time_limit 150

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
hist="$T_DIR/history"
sock="$T_DIR/tmux.sock"

# The tmux server is ours alone (its own socket) and goes with the test.
tm() { tmux -S "$sock" "$@"; }
trap 'tm kill-server >/dev/null 2>&1; t_cleanup' EXIT

check "cell comes up with 3 replicas" cell_up "$cell" --replicas 3 --base-port "$port" \
	--set session_lease=2s --set grace_period=3s
export CHUBBY_CELL="$conf"

# Starts lockctl with no command in a 200x50 terminal; after it ends the
# pane says how.
start_shell() {
	tm kill-server >/dev/null 2>&1
	# kill-server returns before the old server has gone; a new-session
	# that reaches it then fails with "server exited unexpectedly".
	# The server removes its socket as it exits.
	wait_for 10 test ! -S "$sock"
	rm -f "$sock"
	tm new-session -d -x 200 -y 50 \
		"env HOME='$T_DIR' LOCKCTL_HISTORY='$hist' CHUBBY_CELL='$conf' '$LOCKCTL'; echo \"EXITED \$?\"; sleep 600"
}
screen() { tm capture-pane -p -J -S -300; }
# The line the cursor is on (trailing blanks cut).
cur_line() { tm capture-pane -p -J | sed 's/ *$//' | grep -v '^$' | tail -n 1; }
screen_has() { screen | grep -qE -- "$1"; }
line_is() { [ "$(cur_line)" = "$1" ]; }
# expect_screen PATTERN: waits for it (and shows the screen if it does not come).
expect_screen() {
	wait_for 10 screen_has "$1" && return 0
	echo "no /$1/ on the screen:"; screen | grep -v '^$' | tail -n 25; return 1
}
expect_line() {
	wait_for 10 line_is "$1" && return 0
	echo "current line is \"$(cur_line)\", not \"$1\""; return 1
}
# Occurrences of PATTERN on the screen.
count() { screen | grep -cE -- "$1"; }
keys() { tm send-keys "$@"; }
# run LINE: types LINE and Enter, and waits for the next prompt.
run() {
	local n; n=$(count '^chubby:local[ A-Z]*>')
	keys -l "$1"; keys Enter
	wait_for 10 bash -c "[ \$(tmux -S '$sock' capture-pane -p -J -S -300 | grep -cE '^chubby:local[ A-Z]*>') -gt $n ]"
}
P='chubby:local> '

check "lockctl with no command at a terminal starts the shell" start_shell
check "the prompt shows the cell" expect_line "chubby:local>"
check "the banner names the session" expect_screen '^lockctl .*: cell local, session [0-9]+'

step "mkdir dir1" run "mkdir dir1"
check "... answers ok" expect_screen '^ok path=/ls/local/dir1 created=true'
step "put dir1/file-alpha hello" run "put dir1/file-alpha hello"
step "cat dir1/file-alpha" run "cat dir1/file-alpha"
check "... shows the contents" expect_screen '^ok .*contents=hello'
step "a failing command" run "cat dir1/nope"
check "... shows the error" expect_screen '^error E_NOT_FOUND /ls/local/dir1/nope'
step "an unknown command" run "frobnicate"
check "... shows an error" expect_screen '^error E_INVALID unknown command "frobnicate"'
step "the shell is still there: ls dir1" run "ls dir1"
check "... lists the file" expect_screen '^ok file-alpha$'
step "lock dir1/file-alpha (held by the shell's session)" run "lock dir1/file-alpha"
check "... answers with a sequencer" expect_screen '^ok lock=/ls/local/dir1/file-alpha mode=exclusive generation=[0-9]+ sequencer=[0-9a-f]+'
check "another client sees the lock held" bash -c "'$LOCKCTL' trylock dir1/file-alpha </dev/null 2>&1 | grep -q E_BUSY"
step "locks (an admin command) runs in the shell" run "locks"
check "... and prints its table" expect_screen '^/ls/local/dir1/file-alpha +exclusive'

# ^C drops the line being edited.
step "type a line, ^C" bash -c "tmux -S '$sock' send-keys -l 'garbage words'; tmux -S '$sock' send-keys C-c"
check "... a fresh prompt, the line not run" expect_line "chubby:local>"
check "... and no answer to it" lacks 'unknown command "garbage"' screen

# History: Up recalls the last command, Up again the one before.
step "Up recalls the last command" bash -c "tmux -S '$sock' send-keys Up"
check "... locks" expect_line "${P}locks"
step "Up again: the one before" bash -c "tmux -S '$sock' send-keys Up"
check "... lock dir1/file-alpha" expect_line "${P}lock dir1/file-alpha"
step "Enter runs it again (in the same session: E_BUSY)" bash -c "tmux -S '$sock' send-keys Enter"
check "... the same session refuses a second lock" expect_screen '^error E_BUSY /ls/local/dir1/file-alpha is already locked in this session'

# Completion: a command name, a directory, a file.
step "TAB completes a command name" bash -c "tmux -S '$sock' send-keys -l 'sequ'; tmux -S '$sock' send-keys Tab"
check "... sequ -> sequencer" expect_line "${P}sequencer"
step "TAB completes a directory's name with a slash" bash -c "tmux -S '$sock' send-keys -l 'di'; tmux -S '$sock' send-keys Tab"
check "... di -> dir1/" expect_line "${P}sequencer dir1/"
step "TAB completes a file's name" bash -c "tmux -S '$sock' send-keys -l 'file-a'; tmux -S '$sock' send-keys Tab"
check "... file-a -> file-alpha" expect_line "${P}sequencer dir1/file-alpha"
step "the completed line runs" bash -c "tmux -S '$sock' send-keys Enter"
check "... sequencer of the lock" expect_screen '^ok sequencer=[0-9a-f]+ cell=local lock=/ls/local/dir1/file-alpha'
step "put two more files" bash -c "'$LOCKCTL' put dir1/file-beta 1 </dev/null >/dev/null && '$LOCKCTL' put dir1/other 1 </dev/null >/dev/null"
step "TAB with several matches completes their common part" bash -c "tmux -S '$sock' send-keys -l 'cat dir1/f'; tmux -S '$sock' send-keys Tab"
check "... dir1/f -> dir1/file-" expect_line "${P}cat dir1/file-"
step "TAB again lists them" bash -c "tmux -S '$sock' send-keys Tab"
check "... file-alpha and file-beta" expect_screen '^file-alpha +file-beta'
check "... and the line is still there" expect_line "${P}cat dir1/file-"
step "a full name completes too" bash -c "tmux -S '$sock' send-keys C-u; tmux -S '$sock' send-keys -l 'cat /ls/local/dir1/oth'; tmux -S '$sock' send-keys Tab"
check "... /ls/local/dir1/oth -> other" expect_line "${P}cat /ls/local/dir1/other"
step "clear the line" bash -c "tmux -S '$sock' send-keys C-u"

# Events of a watch come while a line is being edited: printed above it.
step "watch dir1" run "watch dir1"
check "... ok" expect_screen '^ok path=/ls/local/dir1 watching=true'
step "type half a line" bash -c "tmux -S '$sock' send-keys -l 'stat dir1/ot'"
check "a child is added elsewhere" bash -c "'$LOCKCTL' put dir1/newchild 1 </dev/null >/dev/null"
check "... the event is printed" expect_screen '^event CHILD_ADDED /ls/local/dir1/newchild$'
check "... and the line being edited is drawn again below it" expect_line "${P}stat dir1/ot"
step "... and can be finished" bash -c "tmux -S '$sock' send-keys Tab Enter"
check "... stat dir1/other" expect_screen '^ok path=/ls/local/dir1/other type=file'

step "help lists the commands" run "help"
check "... with lock's two forms" expect_screen '^  lock +\[-s\] \[--elect \[--identity TEXT\]\]'
step "help put" run "help put"
check "... its usage" expect_screen '^usage: put \[-e\] \[--if-gen N\] PATH \[--\] \[DATA\]'
step "quit" bash -c "tmux -S '$sock' send-keys -l quit; tmux -S '$sock' send-keys Enter"
check "... ends lockctl with 0" expect_screen '^EXITED 0$'
check "... and its session: the lock is free" \
	wait_for 10 bash -c "'$LOCKCTL' trylock dir1/file-alpha </dev/null | grep -qx released"
check "the history file was written" grep -q 'sequencer' "$hist"

# A second shell: the history of the first is there; the prompt marks
# jeopardy when the cell goes away; ^D leaves.
check "a second shell" start_shell
check "... prompt" expect_line "chubby:local>"
step "Up recalls the first shell's last command" bash -c "tmux -S '$sock' send-keys Up"
check "... quit" expect_line "${P}quit"
step "Up: the one before" bash -c "tmux -S '$sock' send-keys Up"
check "... help put" expect_line "${P}help put"
step "clear the line" bash -c "tmux -S '$sock' send-keys C-u"
# In the background: the jeopardy lasts the grace period (3 s), and the
# prompt must be seen meanwhile.
check "the cell goes down" bash -c "'$CHUBBY_CELL_BIN' down --dir '$cell' >/dev/null 2>&1 &"
check "the prompt marks the session in jeopardy" expect_line "chubby:local JEOPARDY>"
check "... then expired, with the events printed" expect_screen '^event EXPIRED'
check "... and the prompt says so" expect_line "chubby:local EXPIRED>"
step "a command now fails without leaving the shell" run "ls"
check "... E_SESSION_EXPIRED" expect_screen '^error E_SESSION_EXPIRED'
step "^D leaves" bash -c "tmux -S '$sock' send-keys C-d"
check "... with 0" expect_screen '^EXITED 0$'

finish
