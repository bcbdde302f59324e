"""ns_checks.py: Chubby's calls through the wire protocol against a real
five-replica cell: every namespace operation and its errors, locks,
sequencers, lock-delay, ACLs, events, ephemeral nodes, cache invalidation,
and the same operations across a kill -9 of the master.

usage: ns_checks.py CELL_DIR CHUBBY_CELL_BIN BASE_PORT
(the cell runs with session_lease=3s, grace_period=10s, lock_delay=2s and a
second client certificate "alice").  Prints "ok - NAME" / "FAIL - NAME"
lines and exits non-zero on any failure."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import Checks  # noqa: E402
from chubby_wire import (Error, Session, EXCLUSIVE, SHARED, O_CREATE, O_DIR,  # noqa: E402
                         O_EPHEMERAL, O_EXCL, O_READ, O_WRITE, evmask)

T = Checks(sys.argv, "ns_checks")
DIR, CELLBIN, ADDRS = T.dir, T.cellbin, T.addrs
admin = T.cell("admin")
alice = T.cell("alice")
ROOT = "/ls/local"


check = T.check


def fails(name, status, fn, *a, **kw):
    """Checks that fn raises Error with STATUS; returns the error."""
    try:
        r = fn(*a, **kw)
    except Error as e:
        check(name, e.name == status, "got %s (%s)" % (e.name, e.message))
        return e
    check(name, False, "succeeded: %r" % (r,))
    return None


def wait_for(secs, fn):
    end = time.time() + secs
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.1)
    return False


def master_id():
    c = admin.master()
    try:
        return c.call("STATUS")["id"]
    finally:
        c.close()


# --- namespace operations and their errors -----------------------------------
a = Session(admin)
check("SESSION_START gives a session, an epoch and a lease", a.id > 0 and a.epoch > 0 and
      a.lease_ms == 3000, "%r" % ((a.id, a.epoch, a.lease_ms),))
d = a.open(ROOT + "/app", O_READ | O_WRITE | O_CREATE | O_DIR)
r = a.call("OPEN", path=ROOT + "/app/cfg", flags=O_READ | O_WRITE | O_CREATE, contents=b"v1")
f = r["handle"]
check("OPEN with CREATE makes a file with its initial contents", r["created"] and
      r["stat"]["length"] == 2 and not r["stat"]["is_dir"])
g = a.call("GET_CONTENTS", handle=f)
check("GET_CONTENTS returns contents and stat", g["contents"] == b"v1" and
      g["stat"]["content_gen"] == 0 and g["stat"]["instance"] > 0)
s1 = a.call("SET_CONTENTS", handle=f, contents=b"v2")["stat"]
check("SET_CONTENTS bumps the content generation", s1["content_gen"] == 1)
s2 = a.call("SET_CONTENTS", handle=f, contents=b"v3", expected_gen=1)["stat"]
check("compare-and-set with the current generation succeeds", s2["content_gen"] == 2)
e = fails("compare-and-set with a stale generation: E_GEN_MISMATCH", "E_GEN_MISMATCH",
          a.call, "SET_CONTENTS", handle=f, contents=b"x", expected_gen=1)
check("the refusal names the current generation", e is not None and
      e.result == {"content_gen": 2}, "%r" % (e and e.result,))
check("the refused write changed nothing",
      a.call("GET_CONTENTS", handle=f)["contents"] == b"v3")
check("GET_STAT has lock fields", "lock_mode" in a.call("GET_STAT", handle=f)["stat"])
a.open(ROOT + "/app/b", O_READ | O_WRITE | O_CREATE)
check("READDIR lists children sorted", a.call("READDIR", handle=d)["names"] == ["b", "cfg"])
fails("OPEN of a missing node: E_NOT_FOUND", "E_NOT_FOUND", a.open, ROOT + "/nope")
fails("OPEN under a missing parent: E_NOT_FOUND", "E_NOT_FOUND", a.open, ROOT + "/x/y",
      O_READ | O_CREATE)
fails("OPEN with EXCL of an existing node: E_EXISTS", "E_EXISTS", a.open, ROOT + "/app/cfg",
      O_READ | O_WRITE | O_CREATE | O_EXCL)
fails("OPEN under a file: E_NOT_DIR", "E_NOT_DIR", a.open, ROOT + "/app/cfg/z",
      O_READ | O_CREATE)
fails("bad name (..): E_BAD_NAME", "E_BAD_NAME", a.open, ROOT + "/app/../x", O_READ)
fails("name outside the cell: E_BAD_NAME", "E_BAD_NAME", a.open, "/ls/other/x", O_READ)
fails("GET_CONTENTS of a directory: E_IS_DIR", "E_IS_DIR", a.call, "GET_CONTENTS", handle=d)
fails("contents over max_contents: E_TOO_LARGE", "E_TOO_LARGE", a.call, "SET_CONTENTS",
      handle=f, contents=b"x" * (256 * 1024 + 1))
fails("DELETE of a non-empty directory: E_NOT_EMPTY", "E_NOT_EMPTY", a.call, "DELETE",
      handle=d)
fails("a handle that does not exist: E_BAD_HANDLE", "E_BAD_HANDLE", a.call, "GET_STAT",
      handle=999999)
fails("a missing argument: E_MISSING", "E_MISSING", a.call, "OPEN", flags=1)
fails("an argument of the wrong type: E_BAD_TYPE", "E_BAD_TYPE", a.call, "OPEN", path=7)
b = a.open(ROOT + "/app/b")
a.call("DELETE", handle=b)
fails("calls on a deleted node's handle: E_BAD_HANDLE", "E_BAD_HANDLE", a.call, "GET_STAT",
      handle=b)
p = a.open(ROOT + "/app/cfg")
a.call("POISON", handle=p)
fails("a poisoned handle: E_CANCELLED", "E_CANCELLED", a.call, "GET_STAT", handle=p)
a.call("CLOSE", handle=p)
fails("a closed handle: E_BAD_HANDLE", "E_BAD_HANDLE", a.call, "GET_STAT", handle=p)
fails("a wrong epoch: E_BAD_EPOCH", "E_BAD_EPOCH", a.c.call, "GET_STAT",
      {"session": a.id, "epoch": a.epoch + 1, "handle": f})
fails("an unknown session: E_SESSION_EXPIRED", "E_SESSION_EXPIRED", a.c.call, "GET_STAT",
      {"session": 987654, "epoch": a.epoch, "handle": f})
mid = master_id()
fc = admin.connect(ADDRS[(mid % 5)])
e = fails("a follower refuses with E_NOT_MASTER", "E_NOT_MASTER", fc.call, "GET_STAT",
          {"session": a.id, "epoch": a.epoch, "handle": f})
check("... naming the master's address", e is not None and
      e.result.get("address") == ADDRS[mid - 1], "%r" % (e and e.result,))
fc.close()

# --- ACLs and principals --------------------------------------------------------
u = Session(alice)
fails("another principal cannot use a session: E_PERMISSION", "E_PERMISSION", u.c.call,
      "GET_STAT", {"session": a.id, "epoch": a.epoch, "handle": f})
a.open(ROOT + "/acl", O_READ | O_WRITE | O_CREATE | O_DIR)
a.call("OPEN", path=ROOT + "/acl/admins", flags=O_WRITE | O_CREATE, contents=b"admin\n")
a.call("OPEN", path=ROOT + "/acl/readers", flags=O_WRITE | O_CREATE,
       contents=b"admin\nalice\n")
acld = a.open(ROOT + "/acl", O_READ | O_WRITE)
a.call("SET_ACL", handle=acld, acl=["", "admins", "admins"])
sec = a.call("OPEN", path=ROOT + "/secret", flags=O_READ | O_WRITE | O_CREATE,
             contents=b"s", acl=["readers", "admins", "admins"])["handle"]
us = u.open(ROOT + "/secret", O_READ)
check("alice may read a node whose read ACL lists her",
      u.call("GET_CONTENTS", handle=us)["contents"] == b"s")
fails("alice may not open it for writing: E_PERMISSION", "E_PERMISSION", u.open,
      ROOT + "/secret", O_READ | O_WRITE)
fails("alice may not create under a directory she cannot write", "E_PERMISSION", u.open,
      ROOT + "/acl/mine", O_READ | O_WRITE | O_CREATE)
a.call("SET_ACL", handle=sec, acl=["admins", None, None])
fails("after SET_ACL alice cannot open it to read", "E_PERMISSION", u.open, ROOT + "/secret",
      O_READ)

# --- locks, sequencers, waiting ----------------------------------------------
lk = a.open(ROOT + "/app/lock", O_READ | O_WRITE | O_CREATE, lock_delay_ms=2000)
g1 = a.call("ACQUIRE", handle=lk, mode=EXCLUSIVE)
check("ACQUIRE grants with a lock generation and a sequencer", g1["lock_gen"] == 1 and
      len(g1["sequencer"]) > 10)
m = admin.master()
check("CHECK_SEQUENCER: current", m.call("CHECK_SEQUENCER", {"sequencer": g1["sequencer"]})
      is None)
bad = bytearray(g1["sequencer"])
bad[-1] ^= 1
fails("a forged sequencer: E_BAD_SEQUENCER", "E_BAD_SEQUENCER", m.call, "CHECK_SEQUENCER",
      {"sequencer": bytes(bad)})
check("GET_SEQUENCER returns the same sequencer",
      a.call("GET_SEQUENCER", handle=lk)["sequencer"] == g1["sequencer"])
ul = u.open(ROOT + "/app/lock", O_READ | O_WRITE)
fails("TRY_ACQUIRE of a held lock: E_BUSY", "E_BUSY", u.call, "TRY_ACQUIRE", handle=ul,
      mode=SHARED)
t0 = time.time()
fails("ACQUIRE with a timeout: E_TIMEOUT", "E_TIMEOUT", u.call, "ACQUIRE", handle=ul,
      mode=EXCLUSIVE, timeout_ms=400)
check("... after the timeout, not before", time.time() - t0 >= 0.39)
result = {}
u2 = Session(alice)
ul2 = u2.open(ROOT + "/app/lock", O_READ | O_WRITE)


def waiter():
    try:
        result["g"] = u2.call("ACQUIRE", handle=ul2, mode=EXCLUSIVE, timeout_ms=10000)
    except Error as e:
        result["e"] = e


th = threading.Thread(target=waiter)
th.start()
time.sleep(0.3)
check("the waiting ACQUIRE has not been granted while held", "g" not in result)
a.call("RELEASE", handle=lk)
th.join(10)
check("RELEASE grants the lock to the waiter at once (no lock-delay)",
      result.get("g", {}).get("lock_gen") == 2, "%r" % result)
fails("the old sequencer is stale now", "E_STALE_SEQUENCER", m.call, "CHECK_SEQUENCER",
      {"sequencer": g1["sequencer"]})
fails("RELEASE of a lock not held: E_NOT_HELD", "E_NOT_HELD", a.call, "RELEASE", handle=lk)
u2.call("RELEASE", handle=ul2)
sh1 = a.call("ACQUIRE", handle=lk, mode=SHARED)
sh2 = u.call("TRY_ACQUIRE", handle=ul, mode=SHARED)
check("two shared holders at once", sh1["lock_gen"] == sh2["lock_gen"])
t0 = time.time()
fails("ACQUIRE in the other mode by a holder: E_BUSY (release first)", "E_BUSY", a.call,
      "ACQUIRE", handle=lk, mode=EXCLUSIVE, timeout_ms=5000)
check("... at once, not at the timeout", time.time() - t0 < 3, "%.1f s" % (time.time() - t0))
fails("exclusive while shared is held: E_BUSY", "E_BUSY", u2.call, "TRY_ACQUIRE", handle=ul2,
      mode=EXCLUSIVE)
a.call("RELEASE", handle=lk)
u.call("RELEASE", handle=ul)
m.close()

# --- events -----------------------------------------------------------------------
w = Session(admin, hold_ms=500)
w.open(ROOT + "/app", O_READ, events=evmask("CHILD_ADDED", "CHILD_REMOVED"))
wf = w.open(ROOT + "/app/cfg", O_READ, events=evmask("CONTENTS_MODIFIED"))
a.open(ROOT + "/app/new", O_READ | O_WRITE | O_CREATE)
a.call("SET_CONTENTS", handle=f, contents=b"v4")
check("CHILD_ADDED arrives in a KeepAlive reply", wait_for(5, lambda: any(
    ev["type"] == 2 and ev["path"] == ROOT + "/app/new" for ev in w.events)), "%r" % w.events)
check("CONTENTS_MODIFIED arrives", wait_for(5, lambda: any(
    ev["type"] == 1 and ev["handle"] == wf for ev in w.events)), "%r" % w.events)

wl = w.open(ROOT + "/app/lock", O_READ | O_WRITE, events=evmask("CONFLICTING_LOCK"))
w.call("ACQUIRE", handle=wl, mode=EXCLUSIVE)
fails("another session's waiting ACQUIRE times out", "E_TIMEOUT", u.call, "ACQUIRE", handle=ul,
      mode=EXCLUSIVE, timeout_ms=300)
check("the holder is told of the conflicting request (CONFLICTING_LOCK)", wait_for(5, lambda: any(
    ev["type"] == 6 and ev["handle"] == wl for ev in w.events)), "%r" % w.events)
w.call("RELEASE", handle=wl)

# --- events until acknowledged (ev_ack, docs/PROTOCOL.md "Event ids and ev_ack") --------
# KeepAlives sent by hand (hold_ms 0: answered at once): a reply is "lost" by
# acknowledging none of its events, and the next must carry them again.
v = Session(admin, keepalive=False)
v.open(ROOT + "/app/cfg", O_READ, events=evmask("CONTENTS_MODIFIED"))
a.call("SET_CONTENTS", handle=f, contents=b"v4b")


def ka_ids(ev_ack):
    return [ev.get("id") for ev in v.call("KEEPALIVE", hold_ms=0, ev_ack=ev_ack)["events"]]


ids1 = ka_ids(0)
check("a KeepAlive reply numbers its events (id)", len(ids1) == 1 and
      isinstance(ids1[0], int) and ids1[0] > 0, "%r" % ids1)
ids2 = ka_ids(0)
check("events not acknowledged (ev_ack) come again with the same ids", ids2 == ids1,
      "%r then %r" % (ids1, ids2))
ids3 = ka_ids(ids1[-1] if ids1 and ids1[-1] else 0)
check("acknowledged events do not come again", ids3 == [], "%r" % ids3)
v.end()

# --- cache invalidation -------------------------------------------------------
cr = w.call("GET_CONTENTS", handle=wf, cache=True)
check("a cached read is cacheable and leaves lock fields out", cr["cacheable"] and
      "lock_mode" not in cr["stat"])
a.call("SET_CONTENTS", handle=f, contents=b"v5")
check("a write first invalidates the caching session (acknowledged on KeepAlive)",
      any(i["path"] == ROOT + "/app/cfg" for i in w.invalidations), "%r" % w.invalidations)
check("the cacher reads the new value", w.call("GET_CONTENTS", handle=wf)["contents"] == b"v5")

# --- ephemeral nodes, session end, expiry and lock-delay --------------------------
e1 = Session(admin)
e1.open(ROOT + "/app/eph", O_READ | O_WRITE | O_CREATE | O_EPHEMERAL)
e1.end()
fails("an ephemeral file goes with its session's end", "E_NOT_FOUND", a.open, ROOT + "/app/eph")
x = Session(admin)
xl = x.open(ROOT + "/app/dl", O_READ | O_WRITE | O_CREATE, lock_delay_ms=2000)
x.call("ACQUIRE", handle=xl, mode=EXCLUSIVE)
x.open(ROOT + "/app/eph2", O_READ | O_WRITE | O_CREATE | O_EPHEMERAL)
x.abandon()
al = a.open(ROOT + "/app/dl")
check("a session without KeepAlives expires after its lease (3 s)",
      wait_for(10, lambda: x.id not in [s["session"] for s in admin.master().call("SESSIONS")]))
try:
    a.call("TRY_ACQUIRE", handle=al, mode=EXCLUSIVE)
    check("its lock is in lock-delay right after expiry", False, "granted")
except Error as e:
    check("its lock is in lock-delay right after expiry: E_LOCK_DELAY (or granted only after)",
          e.name == "E_LOCK_DELAY" and e.result.get("delay_until_ms", 0) > 0,
          "%s %r" % (e.name, e.result))
t0 = time.time()
gd = a.call("ACQUIRE", handle=al, mode=EXCLUSIVE, timeout_ms=8000)
check("a waiting ACQUIRE is granted once the lock-delay ends", gd["lock_gen"] >= 2)
fails("the expired session's ephemeral file is gone", "E_NOT_FOUND", a.open,
      ROOT + "/app/eph2")
fails("the expired session is refused: E_SESSION_EXPIRED", "E_SESSION_EXPIRED",
      admin.master().call, "GET_STAT", {"session": x.id, "epoch": a.epoch, "handle": xl})

# --- fail-over: kill -9 the master while a session holds a lock ---------------------
hold = a.open(ROOT + "/app/leader", O_READ | O_WRITE | O_CREATE)
gl = a.call("ACQUIRE", handle=hold, mode=EXCLUSIVE)
a.call("SET_CONTENTS", handle=hold, contents=b"before")
old_epoch, old_master = a.epoch, master_id()
subprocess.run([CELLBIN, "kill", str(old_master), "--dir", DIR], check=True,
               stdout=subprocess.DEVNULL)
t_kill = time.time()
writes = 0
end = time.time() + 60
while time.time() < end:
    try:
        a.call("SET_CONTENTS", handle=hold, contents=b"after")
        writes += 1
        break
    except Error:
        time.sleep(0.3)
check("writes resume at the new master after kill -9 of the old", writes == 1)
print("# kill -9 of the master to the first successful write: %.2f s (master lease 3 s)" %
      (time.time() - t_kill), flush=True)
check("the session adopted the new epoch", a.epoch > old_epoch, "%d -> %d" % (old_epoch,
                                                                               a.epoch))
check("the session survived (not expired)", not a.expired)
check("the handle is still valid and the lock still held with the same sequencer",
      a.call("GET_SEQUENCER", handle=hold)["sequencer"] == gl["sequencer"])
m = admin.master()
check("CHECK_SEQUENCER at the new master: current", m.call("CHECK_SEQUENCER",
                                                          {"sequencer": gl["sequencer"]}) is None)
check("the contents written before and after are there",
      a.call("GET_CONTENTS", handle=hold)["contents"] == b"after")
check("the other session survived too and its handles work",
      u.call("GET_STAT", handle=ul)["stat"]["instance"] > 0)
fails("another session still cannot take the held lock", "E_BUSY", u.call, "TRY_ACQUIRE",
      handle=u.open(ROOT + "/app/leader", O_READ | O_WRITE), mode=EXCLUSIVE)
m.close()
subprocess.run([CELLBIN, "restart", str(old_master), "--dir", DIR], check=True,
               stdout=subprocess.DEVNULL)

for s in (a, u, u2, w):
    try:
        s.end()
    except Exception:
        pass
T.finish()
