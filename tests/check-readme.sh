#!/bin/sh
# check-readme.sh: every command README.md and docs/*.md name exists, so a
# stale claim (a `lockctl snapshot` that was never written) fails CI instead
# of misleading a reader.  It reads the code in the Markdown (fenced blocks
# and `spans`), where commands are named, and checks:
#  - `lockctl [GLOBAL OPTIONS] CMD`: lockctl knows CMD (`lockctl CMD --help`
#    does not answer "unknown command");
#  - a span of bare command words in parentheses in a sentence about
#    lockctl (README's "every call of the API (`ls cat stat ...`)"): each
#    word is a command;
#  - `chubby-cell CMD` and `chubby-certs CMD`: CMD is in the tool's --help;
#  - a path under tools/, tests/, docs/, man/, etc/ (or build/ of those)
#    exists in the source or the build tree (a program `make check` builds:
#    its source).
# Prints "ok"/"FAIL" lines and the SUMMARY line tests/summary counts.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${abs_top_builddir:-$top/build}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" - "$top" "$build" <<'EOF'
import glob, os, re, subprocess, sys

top, build = sys.argv[1], sys.argv[2]
lockctl = os.path.join(build, "tools/lockctl/lockctl")
tools = {"chubby-cell": os.path.join(build, "tools/chubby-cell"),
         "chubby-certs": os.path.join(build, "tools/chubby-certs")}
# lockctl's options that come before the command, and whether they take a value.
GLOBAL = {"-C": 1, "--cell": 1, "-t": 1, "--timeout": 1, "-j": 0, "--json": 0}
passed = failed = 0
env = dict(os.environ)
# No cell to reach: a command that got past its name fails fast.
env["CHUBBY_CELL"] = "/nonexistent/chubby.conf"


def report(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def code_of(text):
    """(code, context) pairs: each fenced block's lines, and each inline
    span with the paragraph around it."""
    out, fence = [], None
    para = []
    for line in text.splitlines() + [""]:
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            else:
                out.append((line, ""))
            continue
        m = re.match(r"\s*(```|~~~)", line)
        if m:
            fence = m.group(1)
            continue
        if line.strip():
            para.append(line)
            continue
        p = " ".join(para)
        para = []
        for m in re.finditer(r"`([^`]+)`", p):
            # A span in parentheses may be a list: "(`ls cat stat`)".
            listed = p[m.start() - 1:m.start()] == "(" and p[m.end():m.end() + 1] == ")"
            out.append((m.group(1), p if listed else ""))
    return out


lockctl_known = {}


def lockctl_has(cmd):
    if cmd not in lockctl_known:
        r = subprocess.run([lockctl, "-t", "200", cmd, "--help"], env=env, timeout=30,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lockctl_known[cmd] = "unknown command" not in r.stdout
    return lockctl_known[cmd]


tool_cmds = {}


def tool_has(tool, cmd):
    if tool not in tool_cmds:
        r = subprocess.run([tools[tool], "--help"], env=env, timeout=30,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # chubby-cell's usage lists "  CMD ..." at two spaces; chubby-certs's
        # "  chubby-certs CMD ...".
        pat = r"^  (?:chubby-certs )?([a-z][a-z-]*)(?: |$)"
        tool_cmds[tool] = set(re.findall(pat, r.stdout, re.M))
    return cmd in tool_cmds[tool]


def words_after(code, prog):
    """Each word that follows PROG (as a command word, not part of a
    longer name) in CODE, after its global options."""
    for m in re.finditer(r"(?:^|[\s/(|;&$])" + re.escape(prog) + r"(?=\s)", code):
        toks = code[m.end():].split()
        i = 0
        while i < len(toks) and prog == "lockctl":
            t = toks[i].split("=", 1)[0]
            if t in GLOBAL:
                i += 1 + (GLOBAL[t] if "=" not in toks[i] else 0)
            else:
                break
        if i < len(toks) and re.fullmatch(r"[a-z][a-z-]*", toks[i]):
            yield toks[i]


docs = [os.path.join(top, "README.md")] + sorted(glob.glob(os.path.join(top, "docs/*.md")))
seen = set()
for doc in docs:
    name = os.path.relpath(doc, top)
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    for code, ctx in code_of(text):
        for w in words_after(code, "lockctl"):
            if (name, "lockctl", w) not in seen:
                seen.add((name, "lockctl", w))
                report(lockctl_has(w), "%s: `lockctl %s` is a lockctl command" % (name, w))
        for tool in tools:
            for w in words_after(code, tool):
                if (name, tool, w) not in seen:
                    seen.add((name, tool, w))
                    report(tool_has(tool, w), "%s: `%s %s` is a %s command" % (name, tool, w, tool))
        # A list of bare command words, in parentheses, in a sentence about lockctl.
        words = code.split()
        # (A whole command, `lockctl members add`, is checked above.)
        if ctx and "lockctl" in ctx and len(words) >= 3 and \
                words[0] not in ("lockctl", "chubby-cell", "chubby-certs") and \
                all(re.fullmatch(r"[a-z][a-z-]*", w) for w in words):
            for w in words:
                if (name, "lockctl", w) not in seen:
                    seen.add((name, "lockctl", w))
                    report(lockctl_has(w), "%s: `%s` (in a list of lockctl commands) is a "
                           "lockctl command" % (name, w))
        for p in re.findall(r"(?:^|[\s(=])((?:build/)?(?:tools|tests|docs|man|etc)/[\w./-]*[\w/])",
                            code):
            if "*" in p or (name, p) in seen:
                continue
            seen.add((name, p))
            rel = p[len("build/"):] if p.startswith("build/") else p
            # A program of `make check` may not be built yet: its source will do.
            report(any(os.path.exists(os.path.join(d, rel + x)) for d in (top, build)
                       for x in ("", ".c")), "%s: %s exists" % (name, p))
print("SUMMARY: passed=%d failed=%d skipped=0" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
