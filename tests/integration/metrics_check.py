#!/usr/bin/env python3
"""metrics_check.py: a strict reader of the Prometheus text format (0.0.4)
and the checks test_metrics.sh makes on two scrapes of a master's /metrics,
one before and one after some client operations.

    metrics_check.py SRCDIR BEFORE AFTER

The parser refuses what a Prometheus server would refuse or misread: a
sample before its family's TYPE, a second HELP or TYPE, a bad metric or
label name, an unterminated or badly escaped label value, a value that is
not a float, a series given twice, a histogram whose buckets are not
cumulative, do not end at +Inf or disagree with _count.
"""
import math
import re
import sys
import time

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ParseError(Exception):
    pass


def parse_labels(s, i, lineno):
    """Parses {k="v",...} from s[i] == '{'; returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise ParseError(f"line {lineno}: bad label name at {s[i:]!r}")
        k = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError(f"line {lineno}: expected =\" after label {k}")
        i += 2
        v = []
        while True:
            if i >= len(s):
                raise ParseError(f"line {lineno}: unterminated label value")
            c = s[i]
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    raise ParseError(f"line {lineno}: bad escape \\{e}")
                v.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ParseError(f"line {lineno}: newline in a label value")
            else:
                v.append(c)
                i += 1
        if k in labels:
            raise ParseError(f"line {lineno}: label {k} twice")
        labels[k] = "".join(v)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise ParseError(f"line {lineno}: expected , or }} after a label")


def family_of(name, types):
    """The family a sample belongs to (histogram samples carry suffixes)."""
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[:-len(suffix)]) in ("histogram", "summary"):
            return name[:-len(suffix)]
    return None


def parse(text):
    """Returns {family: {"type", "help", "samples": {(name, labels tuple): value}}}."""
    if not text.endswith("\n"):
        raise ParseError("the text must end with a newline")
    fams, types, seen = {}, {}, set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ParseError(f"line {lineno}: bad metric name {name!r}")
                f = fams.setdefault(name, {"type": None, "help": None, "samples": {}})
                if parts[1] == "TYPE":
                    if f["type"] is not None or f["samples"]:
                        raise ParseError(f"line {lineno}: TYPE of {name} twice or after samples")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ParseError(f"line {lineno}: bad TYPE line")
                    f["type"] = types[name] = parts[3]
                else:
                    if f["help"] is not None:
                        raise ParseError(f"line {lineno}: HELP of {name} twice")
                    f["help"] = parts[3] if len(parts) == 4 else ""
            continue
        m = NAME.match(line)
        if not m:
            raise ParseError(f"line {lineno}: bad sample {line!r}")
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, lineno)
        if line[i:i + 1] != " ":
            raise ParseError(f"line {lineno}: expected a space before the value")
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2):
            raise ParseError(f"line {lineno}: expected value [timestamp]")
        try:
            value = float(fields[0])
        except ValueError:
            raise ParseError(f"line {lineno}: bad value {fields[0]!r}")
        fam = family_of(name, types)
        if fam is None:
            raise ParseError(f"line {lineno}: sample {name} before its TYPE")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ParseError(f"line {lineno}: series {key} twice")
        seen.add(key)
        fams[fam]["samples"][key] = value
    for fam, f in fams.items():
        if f["type"] is None:
            raise ParseError(f"{fam}: HELP without TYPE")
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return fams


def check_histogram(fam, samples):
    groups = {}
    for (name, labels), v in samples.items():
        d = dict(labels)
        le = d.pop("le", None)
        g = groups.setdefault(tuple(sorted(d.items())), {"b": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if le is None:
                raise ParseError(f"{fam}: a bucket without le")
            g["b"].append((math.inf if le == "+Inf" else float(le), v))
        elif name == fam + "_sum":
            g["sum"] = v
        elif name == fam + "_count":
            g["count"] = v
        else:
            raise ParseError(f"{fam}: stray sample {name}")
    for labels, g in groups.items():
        b = sorted(g["b"])
        if not b or b[-1][0] != math.inf:
            raise ParseError(f"{fam}{labels}: no +Inf bucket")
        if any(b[k][1] > b[k + 1][1] for k in range(len(b) - 1)):
            raise ParseError(f"{fam}{labels}: buckets not cumulative: {b}")
        if g["count"] is None or g["sum"] is None or g["count"] != b[-1][1]:
            raise ParseError(f"{fam}{labels}: _count/_sum missing or != +Inf bucket")
        if g["sum"] < 0:
            raise ParseError(f"{fam}{labels}: negative sum")


def table_names(path, macro):
    """The X(NAME, ...) entries of the X-macro list MACRO in a header."""
    text = open(path).read()
    start = text.index(f"#define {macro}(X)")
    body = []
    for line in text[start:].split("\n")[1:]:
        body.append(line)
        if not line.rstrip().endswith("\\"):
            break
    return set(re.findall(r"\bX\((\w+),", "\n".join(body)))


def value(fams, fam, name=None, **labels):
    key = (name or fam, tuple(sorted(labels.items())))
    return fams[fam]["samples"].get(key)


def main():
    src, before_path, after_path = sys.argv[1:4]
    before = parse(open(before_path).read())
    after = parse(open(after_path).read())
    ops = table_names(f"{src}/common/protocol.h", "PROTO_OP_LIST") | {"UNKNOWN"}
    statuses = table_names(f"{src}/libchubby/include/chubby/chubby.h", "CHUBBY_STATUS_LIST")
    statuses |= {"E_UNKNOWN"}
    assert "OPEN" in ops and "E_NOT_FOUND" in statuses, (ops, statuses)
    fails, passes = [], []

    def expect(cond, what):
        print(("ok - " if cond else "FAIL - ") + what)
        (passes if cond else fails).append(what)

    # process_*: as client_golang's process collector names them.
    kinds = {"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
             "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge",
             "process_max_fds": "gauge", "process_start_time_seconds": "gauge"}
    for k, t in kinds.items():
        expect(k in after and after[k]["type"] == t, f"{k} is a {t}")
    if all(k in after for k in kinds):
        v = {k: value(after, k) for k in kinds}
        expect(v["process_cpu_seconds_total"] > 0, f"CPU time is positive: {v['process_cpu_seconds_total']}")
        expect(1 << 20 < v["process_resident_memory_bytes"] <= v["process_virtual_memory_bytes"],
               f"1 MiB < RSS <= VSZ: {v['process_resident_memory_bytes']} {v['process_virtual_memory_bytes']}")
        expect(3 <= v["process_open_fds"] <= v["process_max_fds"],
               f"3 <= open fds <= max fds: {v['process_open_fds']} {v['process_max_fds']}")
        # Started within the test (its limit is minutes) and not in the future.
        now = time.time()
        expect(now - 600 < v["process_start_time_seconds"] <= now + 2,
               f"start time {v['process_start_time_seconds']} is within the test (now {now})")
        expect(value(before, "process_start_time_seconds") == v["process_start_time_seconds"],
               "the start time is the same in both scrapes (the same process)")
        expect(value(before, "process_cpu_seconds_total") <= v["process_cpu_seconds_total"],
               "CPU time does not go down")

    # Requests by op and status: bounded labels, monotonic counts.
    fam = "chubby_client_requests_total"
    expect(fam in after and after[fam]["type"] == "counter", f"{fam} is a counter")
    if fam in after:
        series = after[fam]["samples"]
        label_sets = {tuple(k for k, _ in labels) for _, labels in series}
        expect(label_sets == {("op", "status")}, f"{fam} has exactly the labels op and status: {label_sets}")
        bad = [dict(l) for _, l in series if dict(l).get("op") not in ops or dict(l).get("status") not in statuses]
        expect(not bad, f"{fam}: every op and status is from the tables: {bad}")
        b = before.get(fam, {"samples": {}})["samples"]
        down = [(k, b[k], series.get(k)) for k in b if series.get(k, -1) < b[k]]
        expect(not down, f"{fam}: no series went down or vanished: {down}")
        expect(sum(series.values()) > sum(b.values()), f"{fam}: the total grew")
        for op, st in (("OPEN", "OK"), ("SET_CONTENTS", "OK"), ("GET_CONTENTS", "OK"),
                       ("OPEN", "E_NOT_FOUND"), ("ACQUIRE", "OK")):
            was = value(before, fam, op=op, status=st) or 0
            now_ = value(after, fam, op=op, status=st) or 0
            expect(now_ > was, f'{fam}{{op="{op}",status="{st}"}} rose: {was} -> {now_}')

    # Histograms: request latency by op, commit and fsync latency.
    hists = {"chubby_client_request_duration_seconds": {"op": "SET_CONTENTS"},
             "chubby_commit_latency_seconds": {}, "chubby_store_fsync_seconds": {}}
    for h, labels in hists.items():
        expect(h in after and after[h]["type"] == "histogram", f"{h} is a histogram")
        if h not in after:
            continue
        les = sorted({float(dict(l)["le"].replace("+Inf", "inf")) for n, l in after[h]["samples"]
                      if n.endswith("_bucket")})
        expect(les[0] == 0.0005 and 10 in les and les[-1] == math.inf,
               f"{h}: buckets from 0.5 ms to 10 s and +Inf: {les}")
        c0 = value(before, h, h + "_count", **labels) or 0
        c1 = value(after, h, h + "_count", **labels) or 0
        expect(c1 > c0, f"{h}{labels}: the count rose: {c0} -> {c1}")
        s1 = value(after, h, h + "_sum", **labels) or 0
        expect(0 < s1 < c1 * 60, f"{h}{labels}: a sum of plausible seconds: {s1} over {c1}")
    if "chubby_client_request_duration_seconds" in after:
        opl = {dict(l).get("op") for _, l in after["chubby_client_request_duration_seconds"]["samples"]}
        expect(opl <= ops, f"request duration: op labels from the table: {opl - ops}")

    print(f"metrics_check: passed={len(passes)} failed={len(fails)}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    try:
        main()
    except ParseError as e:
        print(f"FAIL - the text does not parse: {e}")
        print("metrics_check: passed=0 failed=1")
        sys.exit(1)
