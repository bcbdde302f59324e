#!/bin/bash
# test_python.sh: the Python binding (python/chubby, docs/PYTHON.md) against
# a real 5-replica cell, with Debian's /usr/bin/python3.  pip installs the
# package with no network; tests/integration/python_binding.py (unittest)
# runs every call, the error classes, events as callbacks and iterators, and
# a kill -9 of the master under a held lock; client/leader_example.py is run
# as two competing services, one stopped by SIGTERM.
. "$(dirname "$0")/lib.sh"
t_time_limit 600

SRC=$(cd "${abs_top_srcdir:-$(dirname "$0")/../..}" && pwd)
port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"
export CHUBBY_CELL="$conf"
export CHUBBY_LIBRARY="$BUILD/libchubby/.libs/libchubby.so"

declare -a BG_PIDS=()
t_cleanup_bg() {
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap t_cleanup_bg EXIT

# ---- install: pip, from a copy (a build writes into its source), no network ----
cp -r "$SRC/python" "$T_DIR/python-src"
site="$T_DIR/site"
check "pip installs the package with no index and no build isolation" \
	env PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --no-index \
	--no-build-isolation --target "$site" "$T_DIR/python-src"
check "the installed package carries py.typed" test -f "$site/chubby/py.typed"
# The command of docs/PYTHON.md, in a virtual environment (Debian's pip
# refuses to install into the system Python itself, PEP 668).
step "a virtual environment on Debian's python3" "$PY" -m venv --system-site-packages "$T_DIR/venv"
check "python3 -m pip install --no-index --no-build-isolation ./python (in a venv)" \
	bash -c "cd '$T_DIR/python-src/..' && '$T_DIR/venv/bin/python' -m pip install -q --no-index --no-build-isolation ./python-src"
check "the venv's python imports it" env -u PYTHONPATH "$T_DIR/venv/bin/python" -c 'import chubby, sys; assert chubby.__file__.startswith(sys.prefix), chubby.__file__'
export PYTHONPATH="$site"
check "import chubby finds libchubby through CHUBBY_LIBRARY" \
	bash -c "'$PY' -c 'import chubby; print(chubby.version(), chubby._lib.lib._name)' | grep -q '$CHUBBY_LIBRARY'"
check_fails "a wrong CHUBBY_LIBRARY is reported, not passed over" "cannot load libchubby" \
	env CHUBBY_LIBRARY=/nonexistent/libchubby.so "$PY" -c 'import chubby'
# From the source tree, with nothing set, the build tree's library is used
# (a build in the source tree or in build/ beside it).
if [ "$BUILD" = "$SRC" ] || [ "$BUILD" = "$SRC/build" ]; then
	check "run from the source tree, it finds the build tree's library" \
		env -u CHUBBY_LIBRARY PYTHONPATH="$SRC/python" "$PY" -c 'import chubby, os; assert os.path.samefile(chubby._lib.lib._name, "'"$CHUBBY_LIBRARY"'")'
fi

check "the binding and the example type-check (mypy --strict)" \
	"$PY" -m mypy --strict --no-error-summary --cache-dir "$T_DIR/mypy" "$site/chubby" "$SRC/client/leader_example.py"

# ---- the C structs' layout, for the ctypes mirror ----
cat >"$T_DIR/sizes.c" <<'EOF'
#include <stddef.h>
#include <stdio.h>
#include <chubby/chubby.h>
#define S(t) printf("%s=%zu ", #t, sizeof(struct t))
#define O(t, f) printf("%s.%s=%zu ", #t, #f, offsetof(struct t, f))
int
main(int argc, char **argv)
{
	if (argc > 1) {
		O(chubby_options, on_event); O(chubby_options, event_arg);
		O(chubby_open_args, contents); O(chubby_open_args, acl);
		O(chubby_stat, is_dir); O(chubby_stat, lock_mode); O(chubby_stat, acl);
		O(chubby_sequencer_info, mode); O(chubby_sequencer_info, lock_gen);
	} else {
		S(chubby_options); S(chubby_options_ext); S(chubby_open_args); S(chubby_stat);
		S(chubby_sequencer_info); S(chubby_event);
	}
	printf("\n");
	return 0;
}
EOF
check "a C program prints the structs' sizes" ${CC:-cc} -I"$SRC/libchubby/include" -o "$T_DIR/sizes" "$T_DIR/sizes.c"
C_SIZES=$("$T_DIR/sizes"); C_OFFSETS=$("$T_DIR/sizes" offsets)
export C_SIZES C_OFFSETS CHUBBY_HEADER="$SRC/libchubby/include/chubby/chubby.h"

# ---- the cell ----
check "cell comes up with 5 replicas" cell_up "$cell" --replicas 5 --base-port "$port"
check "one master" wait_for 30 one_master "$conf"
step "a client certificate for bob" "$CERTS" client --dir "$cell/tls" --name bob
export CELL_DIR="$cell" CHUBBY_CELL_BIN LOCKCTL BOB_CERT="$cell/tls/client-bob.crt" \
	BOB_KEY="$cell/tls/client-bob.key"
REPLICAS=$(awk '/^replica /{for (i = 3; i <= NF; i++) if ($i ~ /^client=/) { sub("client=", "", $i); printf "%s%s", s, $i; s = "," }}' "$conf")
export REPLICAS

# ---- the binding, call by call (its own "ok -"/"FAIL -" lines) ----
rc=0
"$PY" "$SRC/tests/integration/python_binding.py" >"$T_DIR/binding.out" 2>&1 || rc=$?
cat "$T_DIR/binding.out"
sub_results "$T_DIR/binding.out" '^SUMMARY python_binding: ran=[1-9]' "$rc"
check "the cell has a master again after the fail-over test" wait_for 60 one_master "$conf"

# ---- client/leader_example.py: two services, one leads ----
EX="$SRC/client/leader_example.py"
LP=/ls/local/example-leader
leader_is() { # identity ("" for nobody)
	local got
	got=$("$PY" -c 'import chubby, sys
with chubby.Cell() as c: print(c.leader(sys.argv[1]) or "")' "$LP") || return 1
	[ "$got" = "$1" ]
}
"$PY" "$EX" --path "$LP" --identity svc-1 --interval 0.2 >"$T_DIR/svc1.out" 2>&1 &
svc1=$!; BG_PIDS+=("$svc1")
check "service 1 leads" wait_for 30 grep -q '^leader of .* as svc-1' "$T_DIR/svc1.out"
check "service 1 works while it leads" wait_for 30 grep -q '^work 3 as svc-1 lock_gen=' "$T_DIR/svc1.out"
check "the cell names svc-1 as leader" wait_for 10 leader_is svc-1
"$PY" "$EX" --path "$LP" --identity svc-2 --interval 0.2 >"$T_DIR/svc2.out" 2>&1 &
svc2=$!; BG_PIDS+=("$svc2")
check "service 2 campaigns" wait_for 30 grep -q '^campaigning for .* as svc-2' "$T_DIR/svc2.out"
# (It waits in one-second rounds of elect: give it two of them.)
sleep 2
check "service 2 does no work while service 1 leads" bash -c "! grep -q '^work' '$T_DIR/svc2.out'"
check "SIGTERM service 1" kill -TERM "$svc1"
check "service 1 exits" wait_for 30 bash -c "! kill -0 $svc1"
wait "$svc1"; svc1_rc=$?
check "service 1 exits 0 after stepping down" test "$svc1_rc" -eq 0
check "service 1 says it stepped down" grep -q '^stepped down from' "$T_DIR/svc1.out"
check "service 2 takes over" wait_for 30 grep -q '^leader of .* as svc-2' "$T_DIR/svc2.out"
check "service 2 works" wait_for 30 grep -q '^work 1 as svc-2 lock_gen=' "$T_DIR/svc2.out"
g1=$(sed -n 's/^work .* lock_gen=//p' "$T_DIR/svc1.out" | tail -1)
g2=$(sed -n 's/^work .* lock_gen=//p' "$T_DIR/svc2.out" | tail -1)
check "the new leader's lock generation is higher ($g1 -> $g2)" test "${g2:-0}" -gt "${g1:-0}"
check "the cell names svc-2 as leader" wait_for 10 leader_is svc-2
check "SIGTERM service 2" kill -TERM "$svc2"
check "service 2 exits" wait_for 30 bash -c "! kill -0 $svc2"
wait "$svc2"; svc2_rc=$?
check "service 2 exits 0" test "$svc2_rc" -eq 0
check "nobody leads after both stepped down" leader_is ""
check "the identity was cleared on stepping down" \
	bash -c "[ -z \"\$('$LOCKCTL' -C '$conf' cat $LP 2>&1)\" ]"

finish
