"""checker.py: checks the history of a nemesis run (docs/TESTING.md).

  checker.py [--lease-ms MS] [--lock-delay-ms MS] HIST_DIR
                           checks HIST_DIR/*.jsonl (workload.py,
                           cache_workload), init.json, resource.log
                           (resource.py) and nemesis.log; prints the counts
                           and every anomaly; exits 1 if there is any.
  checker.py --self-test   runs the checks over hand-made histories, good and
                           bad, and fails unless each verdict is the expected one.
  checker.py [--min-register N] [--min-lock N] [--min-cache N] [--min-storm N]
             --clients HIST_DIR
                           every workload history (register-*, lock-*,
                           cache-*.jsonl) ends with its "done" note and holds
                           at least the role's minimum of acknowledged ops,
                           and enough writes were acknowledged in the write
                           storm (check_clients): a client that died early or
                           got nothing done fails the run.

Checks:
 (a) linearizability of each file's reads, writes and compare-and-sets, a
     Wing-Gong search with Lowe's improvements (P-compositionality: one search
     per file; memoised on (set of linearized ops, state)).  The model is a
     register holding (contents, content generation): a write sets the
     contents and adds one to the generation, a CAS does so only while the
     generation is the expected one, a read returns both.  An op of unknown
     outcome (info) may take effect at any point after its invocation, or
     never.  Final reads taken after the faults stop are ordinary reads, so a
     lost acknowledged write shows up here (c).
     Reads served from libchubby's cache (cache_workload.c) are reads like
     any other.  A search that gives up (UNKNOWN) is an anomaly; bound_infos
     keeps it cheap without changing a verdict.
 (a') ephemeral nodes (cache_workload.c's /ls/local/nem/e*): the model is
     "absent" or (contents, content generation, sessions holding a handle).
     eopen with CREATE makes an absent node (created: true) or joins a
     present one (created: false; with EXCL: E_EXISTS, no handle); a probe
     without CREATE joins a present node or finds none (E_NOT_FOUND); a read
     through a handle sees the node; eclose leaves, and the last handle to
     leave takes the node with it; eend (a session's end, at a time not
     known) leaves every node.
 (a'') plain checks that name the op outright: a read of a value no write
     could have produced, or only one that reported failure (a write that
     took effect although the client was told it did not); one write's
     value at two generations (applied twice); a read whose
     content generation is older than one acknowledged before it began (a
     stale read, cached or not).
 (b) fencing, from the resource's log (the resource accepts what the cell's
     CHECK_SEQUENCER calls current, with no rule of its own): no write is
     accepted whose check began after a newer sequencer's write was
     accepted, after a newer generation was granted, or after its holder's
     RELEASE answered OK; one lock generation has one holder; every genuine
     sequencer verifies.
 (b') locks, from the clients' history: grants in real-time order have
     increasing generations, no generation is granted twice, and no holder's
     RELEASE succeeds after a later generation was granted to another holder
     (two holders at once).
 (b'') lock-delay: after a holder's session expired, the next grant comes no
     earlier than its last answered KeepAlive's send time + session lease +
     lock-delay (check_lock_delay)."""
import bisect
import glob
import json
import os
import re
import sys

INF = float("inf")


# ---------------------------------------------------------------- loading --
def load(hist_dir):
    """Pairs invokes with completions: a list of op dicts with t0, t1, type."""
    ops = []
    notes = []
    for path in sorted(glob.glob(os.path.join(hist_dir, "*.jsonl"))):
        o, n = load_file(path)
        ops += o
        notes += n
    return ops, notes


def load_file(path):
    """One process's history file: (ops, notes)."""
    ops = []
    notes = []
    pending = {}
    for line in open(path):
        try:
            e = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if e["ev"] == "note":
            notes.append(e)
        elif e["ev"] == "invoke":
            op = dict(e, t0=e["t"], t1=INF, type="info", src=os.path.basename(path))
            pending[(e["p"], e["i"])] = op
            ops.append(op)
        else:
            op = pending.pop((e["p"], e["i"]), None)
            if op is None:
                continue
            op.update({k: v for k, v in e.items() if k not in ("ev", "t")})
            op["t1"] = e["t"] if e["ev"] != "info" else INF
            op["type"] = e["ev"]
    return ops, notes


# ------------------------------------------------------ linearizability (a) --
ABSENT = ()  # an ephemeral node that does not exist


def estep(state, op):
    """The ephemeral node model: the next state, or None if OP cannot happen
    now.  STATE is ABSENT or (contents, content_gen, frozenset of sessions
    with a handle on the node)."""
    f, typ = op["f"], op["type"]
    s = op.get("sess")

    def join(st):
        return (st[0], st[1], st[2] | {s})

    def leave(st):
        if st == ABSENT or s not in st[2]:
            return None
        rest = st[2] - {s}
        return (st[0], st[1], rest) if rest else ABSENT

    # An op of unknown outcome that would change nothing now is refused:
    # taking effect as a no-op is the same as never taking effect, and the
    # search need not try both (a session's eend stays open until the
    # session holds the node, or for ever).

    if f == "read":
        ok = state != ABSENT and (op["value"], op["gen"]) == state[:2]
        return state if ok else None
    if f in ("eend", "eclose"):
        return leave(state)
    # eopen
    if typ == "ok":
        if not op["found"]:
            return state if state == ABSENT else None
        if op.get("created"):
            return (op["value"], 0, frozenset([s])) if state == ABSENT else None
        if state == ABSENT:
            return None
        return state if op.get("error") == "E_EXISTS" else join(state)
    # info: whatever the open would have done, had it happened now
    if state == ABSENT:
        return (op["value"], 0, frozenset([s])) if op["create"] else None
    return None if op.get("excl") or s in state[2] else join(state)


def step(state, op):
    """The register model: the next state, or None if OP cannot happen now."""
    v, g = state
    f = op["f"]
    if f == "read":
        return state if (op["value"], op["gen"]) == state else None
    if f == "cas" and g != op["expected_gen"]:
        return None
    if op["type"] == "ok" and op.get("gen") is not None and op["gen"] != g + 1:
        return None
    return (op["value"], g + 1)


def bound_infos(init_gen, ops):
    """Makes the register search cheaper without changing its verdict.
    An op of unknown outcome (info) that stays pending to the end is tried
    at every step of the search.  But every write's value is unique and
    every OK op names a content generation, so such a write W whose value
    no read returned can only have made a generation nobody observed (a
    gap below the highest observed G), or one above G, which no OK op can
    follow, the same as never.  It fills gap g only if it took effect
    before the first OK op that saw a generation above g completed.  So W
    took effect before C (the latest such completion over all gaps) or, as
    far as the history can tell, never: it becomes optional with t1 = C
    (and is dropped if it began after C).  Returns (ops, bounded, dropped)."""
    seen = {}
    obs = {init_gen}
    for o in ops:
        if o["type"] == "ok" and o.get("gen") is not None:
            obs.add(o["gen"])
            if o["f"] == "read":
                seen[o["value"]] = o["gen"]
    top = max(obs)
    # First completion of an OK op that saw a generation above each g.
    done_above = {}
    for o in sorted((o for o in ops if o["type"] == "ok" and o.get("gen") is not None),
                    key=lambda o: o["t1"]):
        g = o["gen"] - 1
        while g >= init_gen and g not in done_above:
            done_above[g] = o["t1"]
            g -= 1
    gaps = [g for g in range(init_gen + 1, top) if g not in obs]
    # An OK write that names no generation may fill a gap too; that leaves
    # the info ops fewer gaps, never more, so the bound stays sound.
    c = max((done_above[g] for g in gaps), default=-INF)
    out, bounded, dropped = [], 0, 0
    for o in ops:
        if o["type"] == "info" and o["f"] in ("write", "cas") and o["value"] not in seen:
            if o["t0"] >= c:
                dropped += 1
                continue
            o = dict(o, t1=c, optional=True)
            bounded += 1
        out.append(o)
    return out, bounded, dropped


def linearizable(init, ops, max_steps=40_000_000, step=step):
    """Returns (True|False|None, detail).  OPS: ok reads, ok and info
    writes/CASes (or ephemeral ops, with STEP=estep).  None: the search gave
    up after MAX_STEPS."""
    ops = [o for o in ops if o["type"] == "ok" or (o["type"] == "info" and o["f"] != "read")]
    n = len(ops)
    if n == 0:
        return True, ""
    # Entries: call 2i, return 2i+1; calls before returns at equal times
    # (treat such ops as concurrent: the permissive reading).
    ev = []
    for i, o in enumerate(ops):
        ev.append((o["t0"], 0, 2 * i))
        ev.append((o["t1"], 1, 2 * i + 1))
    ev.sort()
    HEAD = 2 * n
    nxt = [None] * (2 * n + 1)
    prv = [None] * (2 * n + 1)
    last = HEAD
    for _, _, e in ev:
        nxt[last] = e
        prv[e] = last
        last = e
    nxt[last] = None

    def lift(c):  # unlink call c and its return
        r = c + 1
        nxt[prv[c]] = nxt[c]
        if nxt[c] is not None:
            prv[nxt[c]] = prv[c]
        nxt[prv[r]] = nxt[r]
        if nxt[r] is not None:
            prv[nxt[r]] = prv[r]

    def unlift(c):
        r = c + 1
        nxt[prv[r]] = r
        if nxt[r] is not None:
            prv[nxt[r]] = r
        nxt[prv[c]] = c
        if nxt[c] is not None:
            prv[nxt[c]] = c

    state = init
    lin = 0
    cache = set()
    stack = []
    entry = nxt[HEAD]
    steps = 0
    best = (0, None, None)  # (ops linearized, stuck op, state there)
    while entry is not None:
        steps += 1
        if steps > max_steps:
            return None, "gave up after %d steps" % max_steps
        i = entry // 2
        if entry % 2 == 0:
            new = step(state, ops[i])
            if new is not None:
                key = (lin | (1 << i), new)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state, lin = new, lin | (1 << i)
                    lift(entry)
                    entry = nxt[HEAD]
                    continue
            entry = nxt[entry]
        else:
            if ops[i]["t1"] == INF:
                return True, ""  # only ops of unknown outcome are left
            if ops[i].get("optional"):
                # An op that may never have happened, unlinearized at its
                # deadline: go on as if it never did (once per state).
                key = (lin | (1 << i), state)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry - 1, state))
                    lin |= 1 << i
                    lift(entry - 1)
                    entry = nxt[HEAD]
                    continue
            if len(stack) >= best[0]:
                best = (len(stack), ops[i], state)
            if not stack:
                break
            entry, state = stack.pop()
            lin &= ~(1 << (entry // 2))
            unlift(entry)
            entry = nxt[entry]
    if entry is None:
        return True, ""
    _, stuck, st = best
    return False, "no linearization: after %d ops in state %r, cannot fit %s" % (
        best[0], st, fmt(stuck))


def fmt(o):
    if o is None:
        return "?"
    t1 = "inf" if o["t1"] == INF else "%.3f" % o["t1"]
    args = {k: o[k] for k in ("value", "gen", "expected_gen", "error", "inst", "holder",
                              "sess", "create", "excl", "found", "created") if k in o}
    return "%s %s %s %s [%.3f..%s] %s" % (o["p"], o["type"], o["f"], o.get("key", ""),
                                           o["t0"], t1, json.dumps(args))


def excerpt(ops, around, width=1.0, limit=25):
    """The LIMIT ops of the original history overlapping [t0-width,
    t1+width] of AROUND that began nearest to it, in order of invocation."""
    if around is None:
        return []
    lo = around["t0"] - width
    hi = (around["t1"] if around["t1"] != INF else around["t0"]) + width
    sel = [o for o in ops if o["t0"] <= hi and o["t1"] >= lo]
    sel.sort(key=lambda o: abs(o["t0"] - around["t0"]))
    sel = sorted(sel[:limit], key=lambda o: o["t0"])
    return [fmt(o) for o in sel]


def faults_at(faults, t, before=2.0):
    """The nemesis's faults under way in [T-BEFORE, T] (nemesis.log)."""
    hits = [f for f in faults if f["t0"] <= t and f["t1"] >= t - before]
    return ", ".join("%s %s [%.3f..%.3f]" % (f["fault"], f["targets"], f["t0"], f["t1"])
                     for f in hits) or "none"


def check_plain(init, kops, out, ephemeral):
    """(a''): reads of values nobody wrote, or written by an op that
    reported failure; stale reads by content generation."""
    anomalies = 0
    written = {}  # value -> the ops that may have written it (ok, info)
    failed = {}   # value -> an op that reported failure
    for o in kops:
        if o["f"] in ("write", "cas") or (o["f"] == "eopen" and o.get("create")):
            (written if o["type"] != "fail" else failed).setdefault(o["value"], []).append(o)
    initv = None if ephemeral else init["value"]
    # The acknowledged writes by completion time, with the running highest
    # generation: the newest a read that began later may not be older than.
    acked = sorted((o for o in kops if o["f"] in ("write", "cas") and o["type"] == "ok"),
                   key=lambda o: o["t1"])
    ends = [o["t1"] for o in acked]
    top = []
    for o in acked:
        top.append(o if not top or o["gen"] > top[-1]["gen"] else top[-1])
    # One request's value at two generations: the request took effect twice
    # (a re-send of a write that had been applied).
    gens = {}
    for o in kops:
        if not ephemeral and o["type"] == "ok" and o["f"] in ("read", "write", "cas"):
            gens.setdefault(o["value"], {}).setdefault(o["gen"], o)
    for v, by_gen in gens.items():
        if len(by_gen) > 1 and v != initv:
            anomalies += 1
            src = (written.get(v) or failed.get(v) or [None])[0]
            out.append("WRITE APPLIED %d TIMES %s: %s; its value is seen at generations %s: %s"
                       % (len(by_gen), src["key"] if src else "", fmt(src), sorted(by_gen),
                          "; ".join(fmt(by_gen[g]) for g in sorted(by_gen))))
    for o in kops:
        if o["f"] != "read" or o["type"] != "ok":
            continue
        v = o["value"]
        if v != initv and v not in written:
            anomalies += 1
            if v in failed:
                out.append("READ OF A WRITE REPORTED AS FAILED %s: %s read %r, written by %s"
                           % (o["key"], fmt(o), v, fmt(failed[v][0])))
            else:
                out.append("READ OF A VALUE NEVER WRITTEN %s: %s" % (o["key"], fmt(o)))
        j = bisect.bisect_left(ends, o["t0"])
        if not ephemeral and j > 0 and top[j - 1]["gen"] > o["gen"]:
            w = top[j - 1]
            anomalies += 1
            out.append("STALE READ %s: %s returned generation %d, but %s was acknowledged "
                       "%.3f s before the read began" % (o["key"], fmt(o), o["gen"], fmt(w),
                                                         o["t0"] - w["t1"]))
    return anomalies


def check_registers(init, ops, out, max_steps=40_000_000):
    anomalies = 0
    checked = 0
    by_key = {}
    ends = [o for o in ops if o["f"] == "eend"]
    for o in ops:
        if o["f"] in ("read", "write", "cas", "eopen", "eclose"):
            by_key.setdefault(o["key"], []).append(o)
    for k in sorted(by_key):
        kops = by_key[k]
        # A file not in init.json (cache_workload's q) is made with "init".
        kinit = init.get(k, {"value": "init", "gen": 0})
        ephemeral = kinit.get("ephemeral") or any(
            o["f"] in ("eopen", "eclose") for o in kops)
        if ephemeral:
            # A session's end leaves every node: each ephemeral key sees it.
            kops = kops + [dict(o, key=k) for o in ends]
            start, stepf = ABSENT, estep
        else:
            start, stepf = (kinit["value"], kinit["gen"]), step
        anomalies += check_plain(kinit, kops, out, ephemeral)
        sops = kops if ephemeral else bound_infos(kinit["gen"], kops)[0]
        ok, detail = linearizable(start, sops, step=stepf, max_steps=max_steps)
        n = sum(1 for o in kops if o["type"] != "fail")
        checked += n
        cnt = {t: sum(1 for o in kops if o["type"] == t) for t in ("ok", "fail", "info")}
        if ok is None:
            # A history nobody could check is not a good one: it fails the
            # run (make the search cheaper, never drop the rule).
            anomalies += 1
            out.append("UNKNOWN %s: %s: the linearizability search gave up" % (k, detail))
            print("  %s: %d ops (ok %d, fail %d, info %d): search gave up" %
                  (k, len(kops), cnt["ok"], cnt["fail"], cnt["info"]))
        elif ok:
            print("  %s: %d ops (ok %d, fail %d, info %d): linearizable" %
                  (k, len(kops), cnt["ok"], cnt["fail"], cnt["info"]))
        else:
            anomalies += 1
            out.append("NOT LINEARIZABLE %s: %s" % (k, detail))
            stuck = None
            for o in kops:
                if fmt(o) in detail:
                    stuck = o
            for line in excerpt(kops, stuck):
                out.append("    " + line)
    return anomalies, checked


# --------------------------------------------------------------- fencing (b) --
def order(x):
    return (x["inst"], x["gen"])


def check_resource(entries, ops, out):
    """(b) The resource (resource.py) keeps no ordering rule: it accepts a
    write when the sequencer's MAC verifies and the cell answers
    CHECK_SEQUENCER with OK.  Each entry has the check's times [t0, t1].
    Flagged: a sequencer the cell issued that does not verify; one
    generation written by two holders; an accepted write whose sequencer is
    older than one accepted before its check began (real-time order of
    acceptance: a stale holder wrote after the newer holder had); and, from
    the clients' history (OPS), an accepted write whose check began after a
    newer generation had been granted or after its own holder's RELEASE
    answered OK (Chubby §2.4: a resource that checks sequencers refuses a
    stale holder)."""
    anomalies = 0
    gen_holder = {}
    acc = []
    for e in entries:
        if not e.get("mac", e["accepted"]) or e["why"] in ("bad MAC", "not a sequencer"):
            anomalies += 1
            out.append("FENCING: a sequencer the cell issued did not verify: %r" % e)
            continue
        if not e["accepted"]:
            continue
        acc.append(e)
        h = gen_holder.setdefault(order(e), e["holder"])
        if h != e["holder"]:
            anomalies += 1
            out.append("FENCING: generation %r written by two holders: %s and %s" %
                       (order(e), h, e["holder"]))

    def running_top(items, end_key):
        items = sorted(items, key=lambda x: x[end_key])
        ends, tops = [], []
        for x in items:
            ends.append(x[end_key])
            tops.append(x if not tops or order(x) > order(tops[-1]) else tops[-1])
        return ends, tops

    ends, tops = running_top(acc, "t1")
    grants = [o for o in ops if o["f"] == "acquire" and o["type"] == "ok"]
    gends, gtops = running_top(grants, "t1")
    released = {o["holder"]: o for o in ops if o["f"] == "release" and o["type"] == "ok"}
    for e in sorted(acc, key=lambda x: x["t0"]):
        j = bisect.bisect_left(ends, e["t0"])
        if j and order(tops[j - 1]) > order(e):
            w = tops[j - 1]
            anomalies += 1
            out.append("FENCING: stale sequencer accepted: %s's write %s %r checked [%.3f..%.3f] "
                       "after %s's write %r was accepted at %.3f" % (
                           e["holder"], e["n"], order(e), e["t0"], e["t1"], w["holder"],
                           order(w), w["t1"]))
            continue
        j = bisect.bisect_left(gends, e["t0"])
        if j and order(gtops[j - 1]) > order(e):
            g = gtops[j - 1]
            anomalies += 1
            out.append("FENCING: a stale holder's write was accepted: %s's write %s %r checked "
                       "[%.3f..%.3f], after %s was granted %r: %s" % (
                           e["holder"], e["n"], order(e), e["t0"], e["t1"], g["holder"],
                           order(g), fmt(g)))
            continue
        r = released.get(e["holder"])
        if r is not None and r["t1"] < e["t0"]:
            anomalies += 1
            out.append("FENCING: a write was accepted after its holder released the lock: "
                       "%s's write %s checked [%.3f..%.3f]: %s" % (
                           e["holder"], e["n"], e["t0"], e["t1"], fmt(r)))
    return anomalies


def check_lock_delay(ops, notes, lease_ms, delay_ms, out):
    """(b'') lock-delay (Chubby §2.4).  When a holder's session expires,
    the cell frees the lock but grants it to no one before DELAY_MS has
    passed.  The session cannot expire before LEASE_MS from its last lease
    renewal, and the master renews at (or after) the arrival of a
    KeepAlive, so after the send time L of the session's last answered
    KeepAlive (workload.py notes "ka" with "s").  So for a grant B whose
    previous recorded generation A went to another session that sent no
    RELEASE and no SESSION_END before B's answer came, B's grant completed
    no earlier than L + LEASE_MS + DELAY_MS; an earlier completion is a
    grant inside the lock-delay.  (Conservative: a later renewal the client
    did not see, or a renewal at the reply, only moves the true bound later.)"""
    anomalies = 0
    checked = 0
    last_ka = {}
    for e in notes:
        if "ka" in e:
            last_ka[e["ka"]] = max(last_ka.get(e["ka"], -INF), e["s"])
    let_go = {}  # session -> first time it sent a RELEASE or SESSION_END
    for o in ops:
        if o["f"] == "release" and "sess" in o:
            let_go.setdefault(o["sess"], []).append(o["t0"])
    for e in notes:
        if "end" in e:
            let_go.setdefault(e["end"], []).append(e["t"])
    grants = sorted((o for o in ops if o["f"] == "acquire" and o["type"] == "ok" and "sess" in o),
                    key=order)
    for a, b in zip(grants, grants[1:]):
        if a["sess"] == b["sess"] or a["sess"] not in last_ka:
            continue
        if any(a["t0"] <= t <= b["t1"] for t in let_go.get(a["sess"], [])):
            continue  # A let the lock go itself: no lock-delay is owed
        checked += 1
        bound = last_ka[a["sess"]] + (lease_ms + delay_ms) / 1000
        if b["t1"] < bound:
            anomalies += 1
            out.append("LOCK-DELAY: %s was granted %r %.3f s too early: %s's session (last "
                       "KeepAlive answered was sent at %.3f) could not expire before %.3f, "
                       "and the lock-delay ran to %.3f at the earliest: %s / %s" % (
                           b["holder"], order(b), bound - b["t1"], a["holder"], bound - (
                               lease_ms + delay_ms) / 1000, bound - delay_ms / 1000, bound,
                           fmt(a), fmt(b)))
    return anomalies, checked


def check_locks(ops, out):
    anomalies = 0
    grants = [o for o in ops if o["f"] == "acquire" and o["type"] == "ok"]
    seen = {}
    for g in grants:
        k = (g["key"], g["inst"], g["gen"])
        if k in seen:
            anomalies += 1
            out.append("LOCK: generation %r granted twice: %s / %s" % (k, fmt(seen[k]), fmt(g)))
        seen[k] = g
    gs = sorted(grants, key=lambda o: o["t1"])
    by_t0 = sorted(grants, key=lambda o: o["t0"])
    # Real-time order: a grant that ended before another began has a lower
    # generation.  Compare each grant with the highest finished before it.
    j, top = 0, None
    for g in by_t0:
        while j < len(gs) and gs[j]["t1"] < g["t0"]:
            if top is None or (gs[j]["inst"], gs[j]["gen"]) > (top["inst"], top["gen"]):
                top = gs[j]
            j += 1
        if top is not None and (g["inst"], g["gen"]) <= (top["inst"], top["gen"]):
            anomalies += 1
            out.append("LOCK: grant out of real-time order: %s began after %s ended" %
                       (fmt(g), fmt(top)))
    rel = {o["holder"]: o for o in ops if o["f"] == "release" and o["type"] == "ok"}
    for a in grants:
        r = rel.get(a["holder"])
        if r is None:
            continue
        for b in grants:
            if (b["inst"], b["gen"]) > (a["inst"], a["gen"]) and b["t1"] < r["t0"]:
                anomalies += 1
                out.append("LOCK: two holders at once: %s was granted before %s released "
                           "with OK: %s / %s" % (b["holder"], a["holder"], fmt(b), fmt(r)))
                break
    return anomalies, len(grants)


def lock_delay_exercised(ndelay, faults, out):
    """The lock-delay check must not pass by checking nothing: once the
    nemesis stopped a lock holder past its lease (a "stale" fault with
    holder: true), the other lock client takes the lock after the
    lock-delay, well inside the stop, and that hand-over must be checked."""
    held = [f for f in faults if f["fault"] == "stale" and f.get("holder")]
    if held and ndelay == 0:
        out.append("LOCK-DELAY NOT CHECKED: the nemesis stopped a lock holder past its lease "
                   "%d times (first [%.3f..%.3f]), but no hand-over after an expiry is in the "
                   "history" % (len(held), held[0]["t0"], held[0]["t1"]))
        return 1
    return 0


def check_clockstep(ops, faults, out):
    """Lock-delay in real time (issue 14 item 5): after a "clockstep" fault
    (the master's wall clock an hour ahead across a holder's expiry, back
    inside the lock-delay) the lock is granted again: the delay ends 1 s
    after the expiry.  A lock-delay pinned to the stepped clock ends an hour
    later and no grant follows for the rest of the run."""
    grants = [o["t1"] for o in ops if o["f"] == "acquire" and o["type"] == "ok"]
    bad = 0
    for f in faults:
        if f["fault"] != "clockstep" or not f.get("freed"):
            continue
        if not any(t > f["unstep"] for t in grants):
            bad += 1
            out.append("LOCK STARVED: the master's clock ran %d s ahead over a lock holder's "
                       "expiry [%.3f..%.3f], back at %.3f; no lock was granted after that "
                       "(a lock-delay stamped from the wall clock?)" % (
                           f["ahead_ms"] // 1000, f["t0"], f["t1"], f["unstep"]))
    return bad


def faults_of(d):
    fp = os.path.join(d, "nemesis.log")
    if not os.path.exists(fp):
        return []
    return [json.loads(x) for x in open(fp) if x.strip()]


# ------------------------------------------------------------------- main --
def check_dir(d, lease_ms=4000, delay_ms=1000):
    ops, notes = load(d)
    init = json.load(open(os.path.join(d, "init.json")))
    out = []
    print("checker: %d operations recorded (ok %d, fail %d, info %d)" % (
        len(ops), *(sum(1 for o in ops if o["type"] == t) for t in ("ok", "fail", "info"))))
    a1, checked = check_registers(init, ops, out)
    entries = []
    rp = os.path.join(d, "resource.log")
    if os.path.exists(rp):
        entries = [json.loads(x) for x in open(rp) if x.strip()]
    a2 = check_resource(entries, ops, out)
    a3, ngrants = check_locks(ops, out)
    a4, ndelay = check_lock_delay(ops, notes, lease_ms, delay_ms, out)
    a4 += lock_delay_exercised(ndelay, faults_of(d), out)
    a4 += check_clockstep(ops, faults_of(d), out)
    acc = sum(1 for e in entries if e["accepted"])
    stale = sum(1 for e in entries if e.get("cell") == "E_STALE_SEQUENCER")
    print("checker: linearizability: %d register ops checked, %d anomalies" % (checked, a1))
    print("checker: fencing: %d resource writes (%d accepted, %d refused by the cell as stale, "
          "%d not checked), %d anomalies" % (len(entries), acc, stale,
                                             len(entries) - acc - stale, a2))
    print("checker: locks: %d grants, %d releases, %d anomalies" % (
        ngrants, sum(1 for o in ops if o["f"] == "release" and o["type"] == "ok"), a3))
    print("checker: lock-delay: %d hand-overs after an expiry checked (lease %d ms, "
          "lock-delay %d ms), %d anomalies" % (ndelay, lease_ms, delay_ms, a4))
    faults = faults_of(d)
    for line in out:
        print(line)
        # Which faults were under way: the first time in a headline.
        m = re.search(r"\[(\d+\.\d+)\.\.", line)
        if m and not line.startswith(" "):
            print("    faults then: %s" % faults_at(faults, float(m.group(1))))
    total = a1 + a2 + a3 + a4
    print("checker: operations recorded=%d checked=%d anomalies=%d" % (
        len(ops), checked + ngrants + len(entries) + ndelay, total))
    return total


def self_test():
    """Hand-made histories with known verdicts."""
    fails = 0

    def op(p, f, t0, t1, typ="ok", **kw):
        return dict(p=p, f=f, t0=t0, t1=(INF if typ == "info" else t1), type=typ, key="k", **kw)

    init = ("init", 0)

    def expect(name, want, ops):
        nonlocal fails
        got, detail = linearizable(init, ops)
        good = got == want
        fails += not good
        print("%s - checker self-test: %s (%s)" % ("ok" if good else "FAIL", name, detail or got))

    expect("sequential write then read", True,
           [op("a", "write", 0, 1, value="x", gen=1), op("b", "read", 2, 3, value="x", gen=1)])
    expect("stale read after an acknowledged write is flagged", False,
           [op("a", "write", 0, 1, value="x", gen=1),
            op("b", "read", 2, 3, value="init", gen=0)])
    expect("lost acknowledged write (final read) is flagged", False,
           [op("a", "write", 0, 1, value="x", gen=1), op("a", "write", 2, 3, value="y", gen=2),
            op("final", "read", 10, 11, value="x", gen=1)])
    expect("concurrent read may see either", True,
           [op("a", "write", 0, 5, value="x", gen=1), op("b", "read", 1, 2, value="init", gen=0),
            op("c", "read", 3, 4, value="x", gen=1)])
    expect("reads that disagree on order are flagged", False,
           [op("a", "write", 0, 10, value="x", gen=1), op("b", "read", 1, 2, value="x", gen=1),
            op("c", "read", 3, 4, value="init", gen=0)])
    expect("an unknown write may take effect later", True,
           [op("a", "write", 0, 1, "info", value="x"), op("b", "read", 5, 6, value="init", gen=0),
            op("c", "read", 7, 8, value="x", gen=1)])
    expect("an unknown write may never take effect", True,
           [op("a", "write", 0, 1, "info", value="x"), op("b", "read", 5, 6, value="init", gen=0)])
    expect("a read cannot see a write not yet invoked", False,
           [op("b", "read", 0, 1, value="x", gen=1), op("a", "write", 2, 3, "info", value="x")])
    expect("CAS on a stale generation cannot succeed", False,
           [op("a", "write", 0, 1, value="x", gen=1),
            op("b", "cas", 2, 3, value="y", gen=1, expected_gen=0)])
    expect("CAS chain", True,
           [op("a", "cas", 0, 1, value="x", gen=1, expected_gen=0),
            op("b", "cas", 2, 3, value="y", gen=2, expected_gen=1),
            op("c", "read", 4, 5, value="y", gen=2)])
    expect("a write acknowledged with the wrong generation is flagged", False,
           [op("a", "write", 0, 1, value="x", gen=1), op("b", "write", 2, 3, value="y", gen=1)])
    # A bigger good history: 6 concurrent writers, reads of each value.
    big = []
    for k in range(300):
        t = k * 1.0
        big.append(op("w%d" % (k % 6), "write", t - 2.5, t + 0.5, value="v%d" % k, gen=k + 1))
        big.append(op("r%d" % (k % 6), "read", t + 0.6, t + 0.7, value="v%d" % k, gen=k + 1))
    expect("300 overlapping writes with reads", True, big)

    # bound_infos: the same verdicts with and without it.
    def bexpect(name, want, ops):
        nonlocal fails
        sub, nb, nd = bound_infos(0, ops)
        got = (linearizable(init, ops)[0], linearizable(init, sub)[0])
        good = got == (want, want)
        fails += not good
        print("%s - checker self-test: bounded infos: %s (%d bounded, %d dropped; %s)" % (
            "ok" if good else "FAIL", name, nb, nd, got))

    bexpect("an unread unknown write that fills a generation gap", True,
            [op("a", "write", 0, 1, "info", value="x"), op("b", "write", 2, 3, value="y", gen=2),
             op("c", "read", 4, 5, value="y", gen=2)])
    bexpect("an unread unknown write begun after the gap closed cannot fill it", False,
            [op("b", "write", 0, 1, value="y", gen=2), op("a", "write", 2, 3, "info", value="x"),
             op("c", "read", 4, 5, value="y", gen=2)])
    bexpect("an unread unknown write after every generation seen is dropped", True,
            [op("b", "write", 0, 1, value="y", gen=1), op("a", "write", 2, 3, "info", value="x"),
             op("c", "read", 4, 5, value="y", gen=1)])
    bexpect("a stale read is still flagged with an unknown write bounded", False,
            [op("a", "write", 0, 1, "info", value="x"), op("b", "write", 1, 2, value="y", gen=2),
             op("c", "read", 3, 4, value="init", gen=0)])
    bexpect("an unknown write bounded by a gap, then a read of the gap's value", True,
            [op("a", "write", 0, 1, "info", value="x"), op("d", "write", 0.5, 1, "info", value="z"),
             op("c", "read", 1.5, 2, value="z", gen=2), op("b", "write", 3, 4, value="y", gen=3)])

    # Ephemeral nodes (estep): sessions 1 and 2.
    def eexpect(name, want, ops):
        nonlocal fails
        got, detail = linearizable(ABSENT, ops, step=estep)
        good = got == want
        fails += not good
        print("%s - checker self-test: %s (%s)" % ("ok" if good else "FAIL", name, detail or got))

    def eopen(p, t0, t1, sess, typ="ok", create=True, excl=False, **kw):
        return op(p, "eopen", t0, t1, typ, sess=sess, create=create, excl=excl, **kw)

    def eclose(p, t0, t1, sess, typ="ok"):
        return op(p, "eclose", t0, t1, typ, sess=sess)

    cycle = [eopen("a", 0, 1, 1, value="v1", found=True, created=True),
             op("a", "read", 2, 3, value="v1", gen=0), eclose("a", 4, 5, 1)]
    eexpect("create, read, close, re-create by another", True, cycle + [
        eopen("b", 6, 7, 2, value="v2", found=True, created=True),
        op("b", "read", 8, 9, value="v2", gen=0)])
    eexpect("issue 14: a re-open reads the deleted node's contents (flagged)", False, cycle + [
        eopen("b", 6, 7, 2, value="v2", found=True, created=True),
        eopen("a", 8, 9, 1, value="v3", found=True, created=False),
        op("a", "read", 10, 11, value="v1", gen=0)])
    eexpect("a probe after the last close finds nothing", True, cycle + [
        eopen("b", 6, 7, 2, create=False, found=False)])
    eexpect("a probe finds nothing while another session holds the node (flagged)", False,
            cycle[:2] + [eopen("b", 6, 7, 2, create=False, found=False)])
    eexpect("the node stays while a second handle is open", True, [
        eopen("a", 0, 1, 1, value="v1", found=True, created=True),
        eopen("b", 2, 3, 2, value="v2", found=True, created=False),
        eclose("a", 4, 5, 1), op("b", "read", 6, 7, value="v1", gen=0),
        eopen("c", 8, 9, 3, excl=True, value="v3", found=True, created=False, error="E_EXISTS")])
    eexpect("a node created twice without a close between (flagged)", False, [
        eopen("a", 0, 1, 1, value="v1", found=True, created=True),
        eopen("b", 2, 3, 2, value="v2", found=True, created=True)])
    eexpect("a session's end (unknown time) may take the node", True, [
        eopen("a", 0, 1, 1, value="v1", found=True, created=True),
        op("a", "eend", 2, None, "info", sess=1),
        eopen("b", 5, 6, 2, create=False, found=False)])

    def plain(name, want, init, ops, eph=False):
        nonlocal fails
        out = []
        got = check_plain(init, ops, out, eph) == 0
        good = got == want
        fails += not good
        print("%s - checker self-test: %s %s" % ("ok" if good else "FAIL", name, out[:1]))

    iv = {"value": "init", "gen": 0}
    plain("a CAS reported as failed that took effect (flagged)", False, iv, [
        op("a", "cas", 0, 1, "fail", value="x", expected_gen=0, error="E_GEN_MISMATCH"),
        op("b", "read", 2, 3, value="x", gen=1)])
    plain("a stale read after an acknowledged write (flagged)", False, iv, [
        op("a", "write", 0, 1, value="x", gen=1), op("b", "read", 2, 3, value="init", gen=0)])
    plain("one write seen at two generations (applied twice) is flagged", False, iv, [
        op("a", "write", 0, 1, "info", value="x"), op("b", "read", 2, 3, value="x", gen=1),
        op("b", "read", 4, 5, value="x", gen=2)])
    plain("reads of written values in order", True, iv, [
        op("a", "write", 0, 1, value="x", gen=1), op("b", "read", 0.5, 3, value="init", gen=0),
        op("b", "read", 4, 5, value="x", gen=1)])

    def fence(name, want, entries, ops=()):
        nonlocal fails
        out = []
        got = check_resource(entries, list(ops), out) == 0
        good = got == want
        fails += not good
        print("%s - checker self-test: %s %s" % ("ok" if good else "FAIL", name, out[:1]))

    def wr(h, gen, t0, cell="OK", n=0):
        """A resource log entry: the check ran over [t0, t0 + 0.01]."""
        return {"t0": t0, "t1": t0 + 0.01, "holder": h, "n": n, "inst": 1, "gen": gen,
                "mac": True, "cell": cell, "accepted": cell == "OK",
                "why": None if cell == "OK" else "cell: " + cell}

    def grant(h, gen, t0, t1, sess=None):
        return dict(p=h, f="acquire", key="L", t0=t0, t1=t1, type="ok", inst=1, gen=gen,
                    holder=h, sess=sess or h)

    def released(h, t0, t1, sess=None):
        return dict(p=h, f="release", key="L", t0=t0, t1=t1, type="ok", holder=h, sess=sess or h)

    turns = [grant("A", 5, 0, 1), grant("B", 6, 9, 10)]
    fence("fenced holders in turn; the stale holder's late write is refused", True,
          [wr("A", 5, 2), wr("A", 5, 3), wr("B", 6, 11), wr("A", 5, 12, "E_STALE_SEQUENCER"),
           wr("B", 6, 13)], turns)
    fence("checks that overlap may be accepted in either order", True,
          [wr("A", 5, 2), wr("B", 6, 11), dict(wr("A", 5, 9.5), t1=11.2)], turns)
    fence("a stale holder's write accepted after the newer holder's is flagged", False,
          [wr("A", 5, 2), wr("B", 6, 11), wr("A", 5, 12)], turns)
    fence("interleaved critical sections are flagged", False,
          [wr("A", 5, 2), wr("B", 6, 11), wr("A", 5, 12), wr("B", 6, 13)], turns)
    fence("a stale holder's write accepted after a newer grant (before the newer holder "
          "wrote) is flagged", False, [wr("A", 5, 2), wr("A", 5, 10.5), wr("B", 6, 11)], turns)
    fence("a write accepted after its holder's RELEASE answered OK is flagged", False,
          [wr("A", 5, 2), wr("A", 5, 4)], [grant("A", 5, 0, 1), released("A", 2.5, 3)])
    fence("two holders of one generation are flagged", False,
          [wr("A", 5, 2), wr("B", 5, 3)], [grant("A", 5, 0, 1)])
    fence("a sequencer that does not verify is flagged", False,
          [wr("A", 5, 2), {"t0": 3, "t1": 3, "holder": "B", "n": 0, "inst": None, "gen": None,
                           "mac": False, "cell": None, "accepted": False, "why": "bad MAC"}])

    def delay(name, want, ops, notes):
        nonlocal fails
        out = []
        bad, n = check_lock_delay(ops, notes, 4000, 1000, out)
        good = (bad == 0) == want and n > 0
        fails += not good
        print("%s - checker self-test: %s (%d checked) %s" % (
            "ok" if good else "FAIL", name, n, out[:1]))

    def ka(sess, s, r):
        return {"ev": "note", "t": r, "ka": sess, "s": s, "r": r}

    # A holds generation 5; its last answered KeepAlive was sent at 10.0:
    # its session cannot expire before 14.0, nor B be granted before 15.0.
    alive = [ka("A", 9.8, 9.95), ka("A", 10.0, 10.2)]
    delay("a grant after expiry plus lock-delay", True,
          [grant("A", 5, 0, 1), grant("B", 6, 12, 15.3)], alive)
    delay("a grant inside the lock-delay is flagged", False,
          [grant("A", 5, 0, 1), grant("B", 6, 12, 14.6)], alive)
    delay("a grant at the lease's end, no lock-delay at all, is flagged", False,
          [grant("A", 5, 0, 1), grant("B", 6, 12, 14.1)], alive)
    out = []
    got = check_lock_delay([grant("A", 5, 0, 1), released("A", 11, 11.1),
                            grant("B", 6, 11, 11.2)], alive, 4000, 1000, out)
    fails += got != (0, 0)
    print("%s - checker self-test: no lock-delay is owed after a RELEASE %s" % (
        "ok" if got == (0, 0) else "FAIL", out[:1]))
    out = []
    got = check_lock_delay([grant("A", 5, 0, 1), grant("B", 6, 11, 11.2)],
                           alive + [{"ev": "note", "t": 10.9, "end": "A"}], 4000, 1000, out)
    fails += got != (0, 0)
    print("%s - checker self-test: nor after a SESSION_END %s" % (
        "ok" if got == (0, 0) else "FAIL", out[:1]))

    out = []
    stop = {"fault": "stale", "targets": [1], "t0": 2.0, "t1": 9.0, "holder": True}
    got = (lock_delay_exercised(0, [stop], out), lock_delay_exercised(1, [stop], []),
           lock_delay_exercised(0, [dict(stop, holder=False)], []))
    fails += got != (1, 0, 0)
    print("%s - checker self-test: a holder stopped past its lease but no hand-over checked "
          "is flagged %s" % ("ok" if got == (1, 0, 0) else "FAIL", out[:1]))

    out = []
    step = {"fault": "clockstep", "targets": [1, 2], "t0": 2.0, "t1": 9.0, "freed": 6.0,
            "unstep": 6.3, "ahead_ms": 3600000}
    got = (check_clockstep([grant("A", 5, 0, 1)], [step], out),
           check_clockstep([grant("A", 5, 0, 1), grant("B", 6, 6.5, 7.1)], [step], []),
           check_clockstep([grant("A", 5, 0, 1)], [dict(step, freed=None)], []))
    fails += got != (1, 0, 0)
    print("%s - checker self-test: no grant after a clock step over an expiry is flagged %s" % (
        "ok" if got == (1, 0, 0) else "FAIL", out[:1]))

    # A search that gives up fails the run.
    out = []
    hard = [op("w%d" % k, "write", 0, 1, "info", value="v%d" % k) for k in range(12)] + \
        [op("r", "read", 2, 3, value="v5", gen=12)]
    bad, _ = check_registers({"k": {"value": "init", "gen": 0}}, hard, out, max_steps=50)
    good = bad == 1 and any(x.startswith("UNKNOWN") for x in out)
    fails += not good
    print("%s - checker self-test: a search that gives up is an anomaly %s" % (
        "ok" if good else "FAIL", out[:1]))

    def locks(name, want, ops):
        nonlocal fails
        out = []
        got = check_locks(ops, out)[0] == 0
        good = got == want
        fails += not good
        print("%s - checker self-test: %s %s" % ("ok" if good else "FAIL", name, out[:1]))

    def acq(h, gen, t0, t1):
        return dict(p=h, f="acquire", key="L", t0=t0, t1=t1, type="ok", inst=1, gen=gen, holder=h)

    def rel(h, t0, t1):
        return dict(p=h, f="release", key="L", t0=t0, t1=t1, type="ok", holder=h)

    locks("locks in turn", True, [acq("A", 1, 0, 1), rel("A", 2, 3), acq("B", 2, 2.5, 4),
                                  rel("B", 5, 6)])
    locks("a grant while another holder still releases OK is flagged", False,
          [acq("A", 1, 0, 1), acq("B", 2, 2, 3), rel("A", 4, 5)])
    locks("generations against real time are flagged", False,
          [acq("A", 2, 0, 1), rel("A", 2, 3), acq("B", 1, 4, 5)])
    fails += self_test_clients()
    print("checker self-test: %d failed" % fails)
    return fails


def self_test_clients():
    """check_clients over hand-made history directories."""
    import tempfile
    fails = 0

    def run(name, want, files, crash=5.0):
        nonlocal fails
        with tempfile.TemporaryDirectory() as d:
            for fn, lines in files.items():
                with open(os.path.join(d, fn), "w") as f:
                    f.writelines(json.dumps(x) + "\n" for x in lines)
            if crash is not None:
                with open(os.path.join(d, "nemesis.log"), "w") as f:
                    f.write(json.dumps({"fault": "crash-all", "targets": [], "t0": crash,
                                        "t1": crash + 1}) + "\n")
            import io
            import contextlib
            with contextlib.redirect_stdout(io.StringIO()) as buf:
                got = check_clients(d, {"register": 2, "lock": 1, "cache": 1}, 2) == 0
        good = got == want
        fails += not good
        flagged = [x for x in buf.getvalue().splitlines() if "<-" in x]
        print("%s - checker self-test: %s %s" % ("ok" if good else "FAIL", name, flagged[:1]))

    def ops(n, f="write", t=4.0, done=True, storm=True):
        h = [{"ev": "note", "t": 3.0, "storm": True}] if storm else []
        for i in range(n):
            h += [{"ev": "invoke", "p": "x", "i": i, "t": t, "f": f, "key": "k", "value": "v%d" % i},
                  {"ev": "ok", "p": "x", "i": i, "t": t + 0.1, "f": f, "key": "k",
                   "value": "v%d" % i, "gen": i + 1}]
        return h + ([{"ev": "note", "t": 9.0, "done": True}] if done else [])

    good = {"register-1.jsonl": ops(3), "lock-1.jsonl": ops(1, "acquire", storm=False),
            "cache-1-0.jsonl": ops(1, "read", storm=False)}
    run("every client finished with enough ops, writes in the storm", True, good)
    run("a client that died early (no done note) is flagged", False,
        dict(good, **{"lock-2.jsonl": ops(5, "acquire", done=False, storm=False)}))
    run("a client with too few acknowledged ops is flagged", False,
        dict(good, **{"register-2.jsonl": ops(1)}))
    run("no lock client histories at all is flagged", False,
        {k: v for k, v in good.items() if not k.startswith("lock")})
    run("too few writes acknowledged in the storm is flagged", False,
        dict(good, **{"register-1.jsonl": ops(3, t=6.0)}))
    run("no crash-all in nemesis.log is flagged", False, good, crash=None)
    return fails


ROLES = ("register", "lock", "cache")


def check_clients(d, mins, min_storm):
    """Every workload process's history (register-*, lock-*, cache-*.jsonl)
    ends with its "done" note (it left on the stop file, not by dying) and
    holds at least MINS[role] acknowledged ops; at least MIN_STORM writes
    were acknowledged in the write storm, between the first register
    client's "storm" note and the kill -9 of all five (nemesis.log
    "crash-all"), so that the durability check has writes to lose.  A
    role with no history at all fails too."""
    bad = 0
    storm_t = INF
    storm_ops = []
    for role in ROLES:
        paths = sorted(glob.glob(os.path.join(d, "%s-*.jsonl" % role)))
        if not paths:
            print("checker: no %s client histories in %s  <- MISSING" % (role, d))
            bad += 1
        for path in paths:
            ops, notes = load_file(path)
            ok = sum(1 for op in ops if op["type"] == "ok")
            done = any(e.get("done") for e in notes)
            good = done and ok >= mins[role]
            bad += not good
            print("checker: client %s: %d ok ops (at least %d), %s%s" % (
                os.path.basename(path), ok, mins[role], "finished" if done else "DID NOT FINISH",
                "" if good else "  <- TOO LITTLE" if done else "  <- FAILED"))
            if role == "register":
                storm_t = min([storm_t] + [e["t"] for e in notes if e.get("storm")])
                storm_ops += [o for o in ops if o["type"] == "ok" and o["f"] in ("write", "cas")]
    crash = None
    fp = os.path.join(d, "nemesis.log")
    if os.path.exists(fp):
        crash = next((json.loads(x)["t0"] for x in open(fp)
                      if x.strip() and json.loads(x)["fault"] == "crash-all"), None)
    if storm_t == INF or crash is None:
        print("checker: write storm: %s  <- MISSING" % (
            "no register client noted the storm" if storm_t == INF else
            "no crash-all in nemesis.log"))
        return bad + 1
    n = sum(1 for o in storm_ops if storm_t <= o["t1"] <= crash)
    good = n >= min_storm
    print("checker: write storm: %d writes acknowledged in the %.1f s before the kill -9 of all "
          "five (at least %d)%s" % (n, crash - storm_t, min_storm, "" if good else "  <- TOO FEW"))
    return bad + (not good)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(1 if self_test() else 0)
    args = sys.argv[1:]
    opts = {}
    while len(args) > 1 and args[0].startswith("--") and args[0] != "--clients":
        opts[args[0][2:]] = int(args[1])
        args = args[2:]
    known = {"min-register", "min-lock", "min-cache", "min-storm", "lease-ms", "lock-delay-ms"}
    if set(opts) - known:
        sys.exit(__doc__)
    if len(args) == 2 and args[0] == "--clients":
        mins = {r: opts.get("min-" + r, 1) for r in ROLES}
        sys.exit(1 if check_clients(args[1], mins, opts.get("min-storm", 1)) else 0)
    if len(args) != 1:
        sys.exit(__doc__)
    sys.exit(1 if check_dir(args[0], opts.get("lease-ms", 4000),
                            opts.get("lock-delay-ms", 1000)) else 0)
