"""exactly_once.py: request ids (docs/PROTOCOL.md "Request ids and retries")
against a real five-replica cell: a write re-sent with the same rid returns
its first outcome instead of being applied twice, on the same master and
at the next one after a kill -9.

usage: exactly_once.py CELL_DIR CHUBBY_CELL_BIN BASE_PORT
Prints "ok - NAME" / "FAIL - NAME" lines and "exactly_once: ..." at its end."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itest import Checks  # noqa: E402
from chubby_wire import (Error, Session, EXCLUSIVE, O_CREATE, O_EXCL,  # noqa: E402
                         O_READ, O_WRITE)

T = Checks(sys.argv, "exactly_once")
DIR, CELLBIN = T.dir, T.cellbin
admin = T.cell("admin")
ROOT = "/ls/local"


check = T.check


def outcome(fn, *a, **kw):
    """('OK', result) or (status name, message)."""
    try:
        return ("OK", fn(*a, **kw))
    except Error as e:
        return (e.name, e.message)


def same(name, first, again):
    check(name, again == first, "first %r, re-sent %r" % (first, again))


def master_id():
    c = admin.master()
    try:
        return c.call("STATUS")["id"]
    finally:
        c.close()


# SESSION_START has no session: its id is a nonce the client draws.
c = admin.master()
first = outcome(c.call, "SESSION_START", {"nonce": 0x5eed5eed5eed})
again = outcome(c.call, "SESSION_START", {"nonce": 0x5eed5eed5eed})
check("SESSION_START re-sent with its nonce returns the same session",
      first[0] == "OK" and again[0] == "OK" and again[1]["session"] == first[1]["session"],
      "first %r, re-sent %r" % (first, again))
if first[0] == "OK":
    c.call("SESSION_END", {"session": first[1]["session"], "epoch": first[1]["epoch"]})
c.close()

s = Session(admin)
rid = 0


def next_rid():
    global rid
    rid += 1
    return rid


# --- on one master ---------------------------------------------------------------
h = s.open(ROOT + "/eo", O_READ | O_WRITE | O_CREATE)

r = next_rid()
first = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"one", expected_gen=0, rid=r,
                rid_floor=1)
check("compare-and-set with a rid succeeds", first[0] == "OK", repr(first))
again = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"one", expected_gen=0, rid=r,
                rid_floor=1)
same("the same compare-and-set re-sent returns its first outcome (same stat)", first, again)
st = s.call("GET_STAT", handle=h)["stat"]
check("and was applied once (content_gen 1)", st["content_gen"] == 1, repr(st))

r = next_rid()
first = outcome(s.call, "OPEN", path=ROOT + "/eo-excl", flags=O_READ | O_WRITE | O_CREATE | O_EXCL,
                rid=r, rid_floor=1)
check("OPEN CREATE|EXCL with a rid creates the node", first[0] == "OK" and first[1]["created"],
      repr(first))
again = outcome(s.call, "OPEN", path=ROOT + "/eo-excl", flags=O_READ | O_WRITE | O_CREATE | O_EXCL,
                rid=r, rid_floor=1)
same("OPEN CREATE|EXCL re-sent returns the same handle, created", first, again)
hx = first[1]["handle"] if first[0] == "OK" else 0

r = next_rid()
first = outcome(s.call, "ACQUIRE", handle=h, mode=EXCLUSIVE, rid=r, rid_floor=1)
check("ACQUIRE with a rid is granted", first[0] == "OK", repr(first))
again = outcome(s.call, "ACQUIRE", handle=h, mode=EXCLUSIVE, rid=r, rid_floor=1)
check("ACQUIRE re-sent returns the grant (same lock_gen)",
      again[0] == "OK" and first[0] == "OK" and again[1]["lock_gen"] == first[1]["lock_gen"],
      "first %r, re-sent %r" % (first, again))
r = next_rid()
first = outcome(s.call, "RELEASE", handle=h, rid=r, rid_floor=1)
check("RELEASE with a rid succeeds", first[0] == "OK", repr(first))
again = outcome(s.call, "RELEASE", handle=h, rid=r, rid_floor=1)
same("RELEASE re-sent returns OK, not E_NOT_HELD", first, again)

r = next_rid()
first = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"x", expected_gen=99, rid=r,
                rid_floor=1)
check("a refused compare-and-set is refused", first[0] == "E_GEN_MISMATCH", repr(first))
st = s.call("GET_STAT", handle=h)["stat"]
again = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"x", expected_gen=st["content_gen"],
                rid=r, rid_floor=1)
check("a refused write is not recorded: its retry applies as a first attempt would",
      again[0] == "OK" and again[1]["stat"]["content_gen"] == st["content_gen"] + 1, repr(again))

r = next_rid()
first = outcome(s.call, "DELETE", handle=hx, rid=r, rid_floor=1)
check("DELETE with a rid succeeds", first[0] == "OK", repr(first))
again = outcome(s.call, "DELETE", handle=hx, rid=r, rid_floor=1)
same("DELETE re-sent returns OK, not E_BAD_HANDLE", first, again)
r = next_rid()
first = outcome(s.call, "CLOSE", handle=hx, rid=r, rid_floor=1)
check("CLOSE with a rid succeeds", first[0] == "OK", repr(first))
again = outcome(s.call, "CLOSE", handle=hx, rid=r, rid_floor=1)
same("CLOSE re-sent returns OK, not E_BAD_HANDLE", first, again)

# The floor: every rid below it was answered; the master forgets them and
# refuses them rather than apply one twice.
cas_rid = 1
r = next_rid()
res = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"floor", rid=r, rid_floor=r)
check("a write that raises the floor succeeds", res[0] == "OK", repr(res))
again = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"one", expected_gen=0, rid=cas_rid,
                rid_floor=1)
check("a rid below the floor is refused (E_INVALID), never applied again",
      again[0] == "E_INVALID", repr(again))
c = s.call("GET_CONTENTS", handle=h)
check("and the contents are the last write's", c["contents"] == b"floor", repr(c))

# Without a rid nothing changes: a re-sent compare-and-set is a new request.
gen = s.call("GET_STAT", handle=h)["stat"]["content_gen"]
s.call("SET_CONTENTS", handle=h, contents=b"norid", expected_gen=gen)
again = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"norid", expected_gen=gen)
check("without a rid a re-sent compare-and-set is a second request (E_GEN_MISMATCH)",
      again[0] == "E_GEN_MISMATCH", repr(again))

# --- across a fail-over ------------------------------------------------------------
floor = rid + 1
hl = s.open(ROOT + "/eo-lock", O_READ | O_WRITE | O_CREATE)
gen = s.call("GET_STAT", handle=h)["stat"]["content_gen"]
r_cas, r_open, r_acq, r_rel, r_acq2 = (next_rid() for _ in range(5))
cas = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"before-kill", expected_gen=gen,
              rid=r_cas, rid_floor=floor)
opn = outcome(s.call, "OPEN", path=ROOT + "/eo-excl2", flags=O_READ | O_WRITE | O_CREATE | O_EXCL,
              rid=r_open, rid_floor=floor)
acq = outcome(s.call, "ACQUIRE", handle=hl, mode=EXCLUSIVE, rid=r_acq, rid_floor=floor)
rel = outcome(s.call, "RELEASE", handle=hl, rid=r_rel, rid_floor=floor)
acq2 = outcome(s.call, "ACQUIRE", handle=hl, mode=EXCLUSIVE, rid=r_acq2, rid_floor=floor)
check("five writes with rids before the kill succeed",
      all(x[0] == "OK" for x in (cas, opn, acq, rel, acq2)), repr((cas, opn, acq, rel, acq2)))
old_master, old_epoch = master_id(), s.epoch
subprocess.run([CELLBIN, "kill", str(old_master), "--dir", DIR], check=True,
               stdout=subprocess.DEVNULL)
print("# killed=%d" % old_master, flush=True)
# The session call follows the master (NOT_MASTER, BAD_EPOCH, closed
# connection) with the same arguments, rid included.
end = time.time() + 60
again = ("E_UNAVAILABLE", "not tried")
while time.time() < end:
    again = outcome(s.call, "SET_CONTENTS", handle=h, contents=b"before-kill", expected_gen=gen,
                    rid=r_cas, rid_floor=floor)
    if again[0] not in ("E_UNAVAILABLE", "E_NOT_MASTER", "E_BAD_EPOCH"):
        break
    time.sleep(0.2)
check("the session moved to the new master", s.epoch > old_epoch and master_id() != old_master,
      "epoch %d -> %d" % (old_epoch, s.epoch))
same("after kill -9 of the master, the compare-and-set re-sent returns its first outcome", cas,
     again)
again = outcome(s.call, "OPEN", path=ROOT + "/eo-excl2",
                flags=O_READ | O_WRITE | O_CREATE | O_EXCL, rid=r_open, rid_floor=floor)
same("after the fail-over, OPEN CREATE|EXCL re-sent returns the same handle", opn, again)
again = outcome(s.call, "RELEASE", handle=hl, rid=r_rel, rid_floor=floor)
same("after the fail-over, RELEASE re-sent returns OK", rel, again)
again = outcome(s.call, "ACQUIRE", handle=hl, mode=EXCLUSIVE, rid=r_acq2, rid_floor=floor)
check("after the fail-over, the granted ACQUIRE re-sent returns the grant",
      again[0] == "OK" and acq2[0] == "OK" and again[1]["lock_gen"] == acq2[1]["lock_gen"] and
      again[1]["sequencer"] == acq2[1]["sequencer"], "first %r, re-sent %r" % (acq2, again))
st = s.call("GET_STAT", handle=h)["stat"]
check("the compare-and-set was applied once", st["content_gen"] == gen + 1,
      "content_gen %d, expected %d" % (st["content_gen"], gen + 1))
s.end()
T.finish()
