"""proxy_claim.py: the cell's side of proxies (docs/PROTOCOL.md "Proxies"),
driven over the raw protocol as chubby-proxy would: a proxy session for
alice, a lock tagged with one of the proxy's clients, the proxy's
connection gone and its session lapsed, another proxy claiming the client
within the claim window (the lock held all along), and the client's end
releasing it after its lock-delay.  argv: CELL_DIR CHUBBY_CELL_BIN PORT."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import Checks  # noqa: E402
from chubby_wire import (Error, Session, EXCLUSIVE, O_CREATE, O_READ,  # noqa: E402
                         O_WRITE, ST)

OP_CLIENT_END, OP_CLAIM = 4, 5
PATH = "/ls/local/plock"

T = Checks(sys.argv, "proxy_claim")
rng = random.Random(int(os.environ.get("CHUBBY_TEST_SEED", "7")))
client = rng.getrandbits(63) or 1


def call(conn, op, args):
    """A raw call; (status name, result)."""
    try:
        return "OK", conn.call(op, args)
    except Error as e:
        return e.name, e.result


def raw(conn, opnum, args):
    """A call by op number (ops chubby_wire.py does not name)."""
    rid = conn.next_id
    conn.next_id += 1
    conn.send([3, rid, opnum, args])
    while True:
        m = conn.read()
        if m is None:
            return "E_UNAVAILABLE", None
        if m[0] == 4 and m[1] == rid:
            return ("OK" if m[2] == 0 else {v: k for k, v in ST.items()}.get(m[2], m[2])), m[4]


def locks(admin):
    st, r = call(admin, "LOCKS", {})
    return [e for e in (r or {}).get("entries", []) if e["path"] == PATH]


px1, px2 = T.cell("px1"), T.cell("px2")
bob = T.cell("bob")

# Only a proxy may start a session for another principal.
c = bob.master()
st, _ = call(c, "SESSION_START", {"nonce": 5, "principal": "alice"})
T.check("bob (no proxy) starting a session for alice: E_PERMISSION", st == "E_PERMISSION", st)
c.close()

# px1: a proxy session for alice, a lock tagged with one of its clients.
c1 = px1.master()
st, r = call(c1, "SESSION_START", {"nonce": 11, "principal": "alice"})
T.check("px1 starts a proxy session for alice", st == "OK", st)
s1, epoch = r["session"], r["epoch"]
st, r = call(c1, "OPEN", {"session": s1, "epoch": epoch, "path": PATH,
                          "flags": O_READ | O_WRITE | O_CREATE, "client": client, "rid": 1})
T.check("OPEN tagged with the client", st == "OK", st)
h = r["handle"]
st, r = call(c1, "TRY_ACQUIRE", {"session": s1, "epoch": epoch, "handle": h,
                                 "mode": EXCLUSIVE, "rid": 2, "rid_floor": 1})
T.check("the client's lock is taken", st == "OK", st)
gen = r["lock_gen"]

# The proxy dies: its connection goes, its session's lease runs out.
c1.close()
admin = T.cell("admin").master()
c2 = px2.master()
end = time.time() + 60
st = "OK"
while time.time() < end:
    # (GET_STAT extends no lease, as a KEEPALIVE from px2 would: any proxy
    # may use a proxy session.)
    st, _ = call(c2, "GET_STAT", {"session": s1, "epoch": epoch, "handle": h})
    if st == "E_SESSION_EXPIRED":
        break
    time.sleep(0.2)
T.check("px1's session lapses", st == "E_SESSION_EXPIRED", st)
held = locks(admin)
T.check("the client's lock is still held after its proxy's session ended",
        len(held) == 1 and held[0]["session"] == s1 and held[0]["handle"] == h, repr(held))

# px2: a proxy session for alice claims the client within the window.
st, r = call(c2, "SESSION_START", {"nonce": 12, "principal": "alice"})
T.check("px2 starts a proxy session for alice", st == "OK", st)
s2, epoch = r["session"], r["epoch"]
st, r = raw(c2, OP_CLAIM, {"session": s2, "epoch": epoch, "client": client, "rid": 1})
hs = (r or {}).get("handles", [])
T.check("CLAIM gives the client's handle, its lock held",
        st == "OK" and len(hs) == 1 and hs[0]["handle"] == h and hs[0]["path"] == PATH
        and hs[0]["lock_mode"] == EXCLUSIVE, "%s %r" % (st, r))
call(c2, "KEEPALIVE", {"session": s2, "epoch": epoch, "hold_ms": 0})
held = locks(admin)
T.check("LOCKS: the lock is px2's session's now, same handle",
        len(held) == 1 and held[0]["session"] == s2 and held[0]["handle"] == h, repr(held))
st, r = call(c2, "GET_STAT", {"session": s2, "epoch": epoch, "handle": h})
T.check("same lock generation: nobody took it between",
        st == "OK" and r["stat"]["lock_gen"] == gen, "%s %r" % (st, r))

b = Session(bob)
bh = b.open(PATH, O_READ | O_WRITE)
try:
    b.call("TRY_ACQUIRE", handle=bh, mode=EXCLUSIVE)
    T.check("a direct client's TRY_ACQUIRE: E_BUSY", False, "granted")
except Error as e:
    T.check("a direct client's TRY_ACQUIRE: E_BUSY", e.name == "E_BUSY", e.name)

# The client's lease ran out at the proxy: CLIENT_END expired frees the
# lock after its lock-delay.
call(c2, "KEEPALIVE", {"session": s2, "epoch": epoch, "hold_ms": 0})
st, r = raw(c2, OP_CLIENT_END, {"session": s2, "epoch": epoch, "client": client,
                                 "expired": True, "rid": 2, "rid_floor": 1})
T.check("CLIENT_END expired closes the client's handle", st == "OK" and r["closed"] == 1,
        "%s %r" % (st, r))
first = None
end = time.time() + 60
while time.time() < end:
    try:
        b.call("TRY_ACQUIRE", handle=bh, mode=EXCLUSIVE)
        st = "OK"
    except Error as e:
        st = e.name
    if first is None:
        first = st
    if st == "OK":
        break
    # px2's session lives on (short leases in this cell).
    call(c2, "KEEPALIVE", {"session": s2, "epoch": epoch, "hold_ms": 0})
    time.sleep(0.2)
T.check("the lock is in its lock-delay first", first == "E_LOCK_DELAY", first)
T.check("then bob gets it", st == "OK", st)
st, _ = call(c2, "KEEPALIVE", {"session": s2, "epoch": epoch, "hold_ms": 0})
T.check("px2's session is alive", st == "OK", st)
st, r = raw(c2, OP_CLAIM, {"session": s2, "epoch": epoch, "client": client})
T.check("CLAIM of an ended client: E_SESSION_EXPIRED (a tombstone)",
        st == "E_SESSION_EXPIRED", "%s %r" % (st, r))
st, _ = raw(c2, OP_CLAIM, {"session": b.id, "epoch": b.epoch, "client": client})
T.check("CLAIM on another principal's direct session: E_PERMISSION", st == "E_PERMISSION", st)
st, r = call(c2, "SESSION_START", {"nonce": 13})
T.check("px2's own session (no principal given): not a proxy session", st == "OK", st)
st, _ = raw(c2, OP_CLAIM, {"session": r["session"], "epoch": r["epoch"], "client": client + 1})
T.check("CLAIM on a session that is not a proxy session: E_INVALID", st == "E_INVALID", st)
b.end()
T.finish()
