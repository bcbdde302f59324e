#!/bin/bash
# test_log_json.sh: a cell with log_format = json writes one JSON object a
# line (issue 20 item 4): every line of every replica's log parses, with an
# ISO 8601 UTC time to the millisecond, a level, the replica's id and the
# message, the audit trail's key=value pairs as fields; the lines stay JSON
# after SIGHUP reopens the log; a bad format is refused by the config check
# and by --log-format.
. "$(dirname "$0")/lib.sh"
t_time_limit 180

port=$(t_port)
cell="$T_DIR/cell"
conf="$cell/chubby.conf"

# Debug lines too: more of the daemon's messages go through the encoder.
check "a cell with log_format = json comes up" \
	cell_up "$cell" --replicas 3 --base-port "$port" --set log_format=json --set log_level=debug
export CHUBBY_CELL="$conf"
check "a write goes through" "$LOCKCTL" put json-log 'some data'

# SIGHUP reopens the log: what follows must still be JSON.
pid1=$(cat "$cell/replica-1.pid" 2>/dev/null)
step "SIGHUP replica 1" kill -HUP "$pid1"
check "replica 1 logs that it reopened its log" \
	wait_for 30 grep -q 'SIGHUP: logs reopened' "$cell/replica-1.log"

parse_logs() {
	"$PY" - "$cell" <<'EOF'
import glob, json, os, re, sys
files = sorted(glob.glob(os.path.join(sys.argv[1], "replica-*.log")))
assert len(files) == 3, files
ts_re = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
total, reopened, audit = 0, False, False
for f in files:
    rid = int(re.search(r"replica-(\d+)\.log$", f).group(1))
    with open(f, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.decode("utf-8")          # JSON text is UTF-8
            assert line.endswith("\n"), "%s:%d: no newline" % (f, n)
            try:
                o = json.loads(line)
            except ValueError as e:
                sys.exit("%s:%d: not JSON (%s): %r" % (f, n, e, line))
            assert isinstance(o, dict), "%s:%d: not an object" % (f, n)
            assert ts_re.fullmatch(o.get("ts", "")), "%s:%d: ts %r" % (f, n, o.get("ts"))
            assert o.get("level") in ("error", "warn", "info", "debug"), "%s:%d: level" % (f, n)
            assert o.get("replica") == rid, "%s:%d: replica %r" % (f, n, o.get("replica"))
            assert isinstance(o.get("msg"), str) and o["msg"], "%s:%d: msg" % (f, n)
            total += 1
            reopened |= rid == 1 and o["msg"] == "SIGHUP: logs reopened"
            # The audit line of the reload by SIGHUP, its key=value pairs as fields.
            audit |= rid == 1 and o["msg"] == "audit" and o.get("op") == "RELOAD" and \
                o.get("principal") == "(SIGHUP)" and "outcome" in o
assert total >= 30, "only %d lines" % total
assert reopened, "no JSON line for the SIGHUP reopen"
assert audit, "no audit line with op RELOAD, principal (SIGHUP) and an outcome as fields"
print("%d JSON lines in %d logs" % (total, len(files)))
EOF
}
check "every line of every replica's log is a JSON object with ts, level, replica and msg" parse_logs

check_fails "chubbyd --log-format yaml is refused" 'log-format: unknown format "yaml"' \
	"$CHUBBYD" -c "$conf" -i 1 --log-format yaml --check-config
sed 's/^log_format = json$/log_format = yaml/' "$conf" >"$T_DIR/bad.conf"
check "the bad config has log_format = yaml" grep -q '^log_format = yaml$' "$T_DIR/bad.conf"
check_fails "the config check refuses log_format = yaml" 'log_format: "yaml" is not one of' \
	"$CHUBBYD" --check-config -c "$T_DIR/bad.conf"

finish
