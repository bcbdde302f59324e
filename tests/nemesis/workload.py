"""workload.py: one client process of the nemesis run (docs/TESTING.md).

It drives a real cell through the wire protocol (tests/integration/
chubby_wire.py's connections) with sessions of its own that never re-send a
write: every operation is recorded once, with its invoke and completion
times (CLOCK_MONOTONIC, shared by every process of the machine), as
  ok    the master answered OK,
  fail  it certainly did not happen (refused before it could act: BAD_EPOCH,
        GEN_MISMATCH, SESSION_EXPIRED, no master found, ...),
  info  unknown: timeout, connection lost, NOT_MASTER or UNAVAILABLE after a
        write was sent.
After an info the process takes a new name (Jepsen's rule: the lost op may
still be in flight, so the old name stays busy for ever).

usage:
  workload.py setup    CELL_DIR PORT HIST_DIR --keys K
  workload.py register CELL_DIR PORT HIST_DIR --id N --keys K --seed S --stop FILE
  workload.py lock     CELL_DIR PORT HIST_DIR --id N --seed S --stop FILE --resource PORT
  workload.py final    CELL_DIR PORT HIST_DIR --keys K
The history goes to HIST_DIR/<role>-<id>.jsonl, one JSON object a line:
{"ev": "invoke"|"ok"|"fail"|"info", "p": process, "i": op index, "t": time,
 "f": op, "key": ..., args / results}."""
import argparse
import json
import os
import random
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import msgpack  # noqa: E402
from chubby_wire import (Cell, Conn, Error, ST, EXCLUSIVE, O_CREATE, O_DIR,  # noqa: E402
                         O_READ, O_WRITE)

ROOT = "/ls/local/nem"
# Errors that say the master refused the request before acting on it.
DEFINITE = {ST["E_BAD_EPOCH"], ST["E_GEN_MISMATCH"], ST["E_SESSION_EXPIRED"],
            ST["E_BAD_HANDLE"], ST["E_NOT_HELD"], ST["E_TIMEOUT"], ST["E_BUSY"],
            ST["E_LOCK_DELAY"], ST["E_PERMISSION"], ST["E_INVALID"], ST["E_MISSING"],
            ST["E_BAD_TYPE"], ST["E_NOT_FOUND"], ST["E_CANCELLED"]}


def now():
    return time.monotonic()


class FastCell(Cell):
    """chubby_wire.Cell with short connect timeouts (a SIGSTOPped replica
    accepts TCP but never finishes the TLS handshake) and the master hint."""

    def connect(self, addr, timeout=2):
        return Conn(addr, self.ca, self.cert, self.key, timeout=timeout)

    def master(self, deadline=10):
        end = now() + deadline
        addrs = list(self.addrs)
        while now() < end:
            random.shuffle(addrs)
            hint = None
            for a in ([hint] if hint else []) + addrs:
                if now() >= end:
                    break
                try:
                    c = self.connect(a)
                except (OSError, Error):
                    continue
                try:
                    w = c.call("WHERE_IS_MASTER", timeout=2)
                    if w["is_master"]:
                        return c
                    if w.get("address") and w["address"] != a:
                        hint = w["address"]
                except (OSError, Error):
                    pass
                c.close()
                if hint:
                    try:
                        c = self.connect(hint)
                        if c.call("WHERE_IS_MASTER", timeout=2)["is_master"]:
                            return c
                        c.close()
                    except (OSError, Error):
                        pass
                    hint = None
            time.sleep(0.1)
        raise Error(ST["E_UNAVAILABLE"], "no master within %ds" % deadline, None)


def cell_of(cell_dir, port):
    tls = cell_dir + "/tls"
    addrs = ["127.0.0.%d:%d" % (10 + i, port) for i in range(1, 6)]
    return FastCell(addrs, tls + "/ca.crt", tls + "/client-admin.crt", tls + "/client-admin.key")


class Expired(Exception):
    pass


class NSession:
    """A session that follows the master and adopts new epochs like
    chubby_wire.Session, but never re-sends a request whose fate is unknown:
    op() returns (type, result, error name)."""

    def __init__(self, cell, deadline=10, hold_ms=1000, hist=None):
        """HIST (a History): note each answered KeepAlive's send and receive
        times and the moment SESSION_END is sent, for the lock-delay check
        (checker.py check_lock_delay)."""
        self.cell, self.hold_ms, self.hist = cell, hold_ms, hist
        self.c = None
        self.expired = False
        self.stop = threading.Event()
        end = now() + deadline
        while True:
            try:
                c = cell.master(max(1, end - now()))
                r = c.call("SESSION_START", {}, timeout=5)
                break
            except (OSError, Error):
                if now() >= end:
                    raise Expired("no session")
                time.sleep(0.2)
        self.c = c
        self.id, self.epoch = r["session"], r["epoch"]
        threading.Thread(target=self._keepalive, daemon=True).start()

    def _keepalive(self):
        kc = None
        while not self.stop.is_set():
            try:
                if kc is None:
                    kc = self.cell.master(3)
                sent = now()
                kc.call("KEEPALIVE", {"session": self.id, "epoch": self.epoch,
                                      "hold_ms": self.hold_ms, "acks": []},
                        timeout=self.hold_ms / 1000 + 2)
                if self.hist is not None:
                    # The master renewed the lease at or after SENT.
                    self.hist.note(ka=self.id, s=sent, r=now())
            except Error as e:
                if e.status == ST["E_BAD_EPOCH"]:
                    self.epoch = e.result["epoch"]
                    continue
                if e.status == ST["E_SESSION_EXPIRED"]:
                    self.expired = True
                    return
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.1)
            except OSError:
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.1)
        if kc is not None:
            kc.close()

    def op(self, name, write, timeout=5, **args):
        if self.expired:
            raise Expired()
        for _ in range(3):
            if self.c is None:
                try:
                    self.c = self.cell.master(3)
                except Error:
                    return "fail", None, "no-master"
            a = dict(args, session=self.id, epoch=self.epoch)
            try:
                return "ok", self.c.call(name, a, timeout=timeout), None
            except Error as e:
                if e.status == ST["E_BAD_EPOCH"]:
                    # Refused before acting: adopt the epoch and send again.
                    self.epoch = e.result["epoch"]
                    continue
                if e.status == ST["E_SESSION_EXPIRED"]:
                    self.expired = True
                    return "fail", None, e.name
                if e.status in DEFINITE:
                    return "fail", e.result, e.name
                self.drop()
                return ("info" if write else "fail"), None, e.name
            except (OSError, ValueError, msgpack.exceptions.ExtraData) as e:
                self.drop()
                return ("info" if write else "fail"), None, type(e).__name__
        return "fail", None, "E_BAD_EPOCH"

    def drop(self):
        if self.c is not None:
            self.c.close()
        self.c = None

    def end(self):
        self.stop.set()
        if self.hist is not None:
            # From here the session's locks may be freed without lock-delay.
            self.hist.note(end=self.id)
        try:
            if self.c is not None and not self.expired:
                self.c.call("SESSION_END", {"session": self.id, "epoch": self.epoch}, timeout=2)
        except (OSError, Error):
            pass
        self.drop()


class History:
    def __init__(self, path, name):
        self.f = open(path, "a", buffering=1)
        self.base, self.gen, self.n = name, 0, 0
        self.p = name
        self.mu = threading.Lock()  # a session's KeepAlive thread notes too

    def put(self, **kw):
        with self.mu:
            self.f.write(json.dumps(dict(kw, t=now())) + "\n")

    def invoke(self, f, **kw):
        self.n += 1
        self.put(ev="invoke", p=self.p, i=self.n, f=f, **kw)
        return self.n

    def complete(self, i, f, typ, **kw):
        self.put(ev=typ, p=self.p, i=i, f=f, **kw)
        if typ == "info":
            self.gen += 1
            self.p = "%s.%d" % (self.base, self.gen)

    def note(self, **kw):
        self.put(ev="note", **kw)


def seq_fields(seq):
    """(instance, lock_gen) of a sequencer (docs/SEQUENCER.md)."""
    t = msgpack.unpackb(seq, raw=False)
    return t[6], t[5]


def key_path(k):
    return "%s/k%d" % (ROOT, k)


def open_handles(s, paths, **kw):
    hs = {}
    for p in paths:
        st, r, err = s.op("OPEN", True, path=p, flags=O_READ | O_WRITE, **kw)
        if st != "ok":
            return None
        hs[p] = r["handle"]
    return hs


def setup(a):
    cell = cell_of(a.cell_dir, a.port)
    s = NSession(cell, deadline=30)
    out = {}
    for p, flags, kw in [(ROOT, O_READ | O_WRITE | O_CREATE | O_DIR, {})] + \
            [(key_path(k), O_READ | O_WRITE | O_CREATE, {"contents": b"init"}) for k in range(a.keys)] + \
            [(ROOT + "/lock", O_READ | O_WRITE | O_CREATE, {})]:
        for _ in range(20):
            st, r, err = s.op("OPEN", True, path=p, flags=flags, **kw)
            if st == "ok":
                break
            time.sleep(0.5)
        else:
            sys.exit("setup: cannot create %s: %s" % (p, err))
        if p.startswith(ROOT + "/k"):
            st, g, err = s.op("GET_CONTENTS", False, handle=r["handle"])
            out[p] = {"value": g["contents"].decode(), "gen": g["stat"]["content_gen"]}
    with open(os.path.join(a.hist_dir, "init.json"), "w") as f:
        json.dump(out, f)
    s.end()
    print("setup: %d keys, lock %s/lock" % (a.keys, ROOT))


def register(a):
    """Reads, writes and compare-and-sets on a few files."""
    rnd = random.Random(a.seed * 1000 + a.id)
    cell = cell_of(a.cell_dir, a.port)
    h = History(os.path.join(a.hist_dir, "register-%d.jsonl" % a.id), "r%d" % a.id)
    paths = [key_path(k) for k in range(a.keys)]
    s, hs = None, None
    known_gen = {p: 0 for p in paths}
    n = 0
    storm = a.stop + ".storm"
    storm_noted = False
    while not os.path.exists(a.stop):
        try:
            if s is None or s.expired:
                if s is not None:
                    s.end()
                s, hs = NSession(cell, deadline=5), None
            if hs is None:
                hs = open_handles(s, paths)
                if hs is None:
                    time.sleep(0.2)
                    continue
        except Expired:
            s = None
            time.sleep(0.2)
            continue
        p = rnd.choice(paths)
        x = rnd.random()
        stormy = os.path.exists(storm)
        if stormy and not storm_noted:
            # checker.py --clients counts the writes acknowledged from here
            # to the kill -9 of all five.
            h.note(storm=True)
            storm_noted = True
        try:
            if x < (0.15 if stormy else 0.4):
                i = h.invoke("read", key=p)
                st, r, err = s.op("GET_CONTENTS", False, handle=hs[p])
                if st == "ok":
                    known_gen[p] = r["stat"]["content_gen"]
                    h.complete(i, "read", st, key=p, value=r["contents"].decode(),
                               gen=r["stat"]["content_gen"])
                else:
                    h.complete(i, "read", st, key=p, error=err)
            else:
                n += 1
                v = "%s-%d" % (h.base, n)
                cas = x >= (0.6 if stormy else 0.7)
                f, args = ("cas", {"expected_gen": known_gen[p]}) if cas else ("write", {})
                i = h.invoke(f, key=p, value=v, **args)
                st, r, err = s.op("SET_CONTENTS", True, handle=hs[p], contents=v.encode(), **args)
                if st == "ok":
                    known_gen[p] = r["stat"]["content_gen"]
                    h.complete(i, f, st, key=p, value=v, gen=r["stat"]["content_gen"], **args)
                else:
                    if err == "E_GEN_MISMATCH" and r:
                        known_gen[p] = r.get("content_gen", known_gen[p])
                    h.complete(i, f, st, key=p, value=v, error=err, **args)
        except Expired:
            continue
        if not stormy:
            time.sleep(rnd.uniform(0, 0.04))
    if s is not None:
        s.end()
    h.note(done=True)


def resource_call(port, msg):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall((json.dumps(msg) + "\n").encode())
        return json.loads(c.makefile().readline())


def lock(a):
    """Takes the lock, writes to the fenced resource under it, releases."""
    rnd = random.Random(a.seed * 1000 + 500 + a.id)
    cell = cell_of(a.cell_dir, a.port)
    h = History(os.path.join(a.hist_dir, "lock-%d.jsonl" % a.id), "l%d" % a.id)
    lp = ROOT + "/lock"
    s, hd = None, None
    while not os.path.exists(a.stop):
        try:
            if s is None or s.expired:
                if s is not None:
                    s.end()
                # Short KeepAlive holds: the lease's renewal is known to
                # within 0.2 s (checker.py check_lock_delay).
                s, hd = NSession(cell, deadline=5, hold_ms=200, hist=h), None
            if hd is None:
                hs = open_handles(s, [lp], lock_delay_ms=a.lock_delay_ms)
                if hs is None:
                    time.sleep(0.2)
                    continue
                hd = hs[lp]
            i = h.invoke("acquire", key=lp, sess=s.id)
            st, r, err = s.op("ACQUIRE", True, timeout=5, handle=hd, mode=EXCLUSIVE,
                              timeout_ms=3000)
            if st != "ok":
                h.complete(i, "acquire", st, key=lp, sess=s.id, error=err)
                if st == "info":
                    # The lock may be ours without our knowing: end the
                    # session so that it is freed at once.
                    s.end()
                    s = None
                continue
            inst, gen = seq_fields(r["sequencer"])
            holder = "%s@%d.%d" % (h.p, inst, gen)
            h.complete(i, "acquire", st, key=lp, sess=s.id, inst=inst, gen=gen, holder=holder)
            for k in range(rnd.randint(2, 4)):
                # Pause before each write but the first, so that a holder
                # stopped in its critical section writes once more on waking.
                if k:
                    time.sleep(rnd.uniform(0.05, 0.3))
                try:
                    rr = resource_call(a.resource, {"holder": holder, "seq": r["sequencer"].hex(),
                                                    "n": k})
                    h.note(p=h.p, resource=rr)
                except OSError as e:
                    h.note(p=h.p, resource_error=str(e))
            i = h.invoke("release", key=lp, holder=holder, sess=s.id)
            st, r, err = s.op("RELEASE", True, handle=hd)
            h.complete(i, "release", st, key=lp, holder=holder, sess=s.id, error=err)
            if st == "info":
                s.end()
                s = None
        except Expired:
            continue
        time.sleep(rnd.uniform(0.05, 0.3))
    if s is not None:
        s.end()
    h.note(done=True)


def final(a):
    """One read of each file after the faults, as process "final"."""
    cell = cell_of(a.cell_dir, a.port)
    h = History(os.path.join(a.hist_dir, "final.jsonl"), "final")
    s = NSession(cell, deadline=60)
    paths = [key_path(k) for k in range(a.keys)]
    hs = None
    for _ in range(30):
        hs = open_handles(s, paths)
        if hs:
            break
        time.sleep(1)
    if not hs:
        sys.exit("final: cannot open the files")
    bad = 0
    for p in paths:
        for _ in range(30):
            i = h.invoke("read", key=p)
            st, r, err = s.op("GET_CONTENTS", False, handle=hs[p])
            if st == "ok":
                h.complete(i, "read", st, key=p, value=r["contents"].decode(),
                           gen=r["stat"]["content_gen"])
                print("final: %s = %r (gen %d)" % (p, r["contents"].decode(),
                                                  r["stat"]["content_gen"]))
                break
            h.complete(i, "read", st, key=p, error=err)
            time.sleep(1)
        else:
            bad += 1
    s.end()
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["setup", "register", "lock", "final"])
    ap.add_argument("cell_dir")
    ap.add_argument("port", type=int)
    ap.add_argument("hist_dir")
    ap.add_argument("--id", type=int, default=0)
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stop", default="/nonexistent")
    ap.add_argument("--resource", type=int, default=0)
    # Asked for at OPEN; a smaller one than the cell's promise (checker.py
    # --lock-delay-ms) is a planted bug the lock-delay check must catch.
    ap.add_argument("--lock-delay-ms", type=int, default=1000)
    a = ap.parse_args()
    random.seed(a.seed * 7 + a.id)
    {"setup": setup, "register": register, "lock": lock, "final": final}[a.role](a)


if __name__ == "__main__":
    main()
