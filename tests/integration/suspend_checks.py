"""suspend_checks.py: a master whose machine is suspended must not serve as
master when it resumes (test_suspend.sh; issue 17 item 4).

On Linux CLOCK_MONOTONIC does not count time spent suspended; the other
replicas' clocks do.  A master counting its lease on CLOCK_MONOTONIC wakes
believing it still holds the lease it had when it went to sleep, although
its acceptors saw the lease run out and elected a new master meanwhile:
for the rest of that lease it answers reads with the old state.  The test
runs every replica under suspend_clock.so (which makes a SIGSTOPped
process's CLOCK_MONOTONIC resume where it stopped, as a suspended
machine's does) and cuts the master off its peers, so that nothing but its
own clock can tell it the lease is gone.

argv: CELL_DIR CHUBBY_CELL_BIN PORT LOCKCTL MASTER_ID MASTER_PID SUSPENDED_FILE"""
import json
import os
import signal
import subprocess
import sys
import time

from chubby_wire import O_CREATE, O_READ, O_WRITE, ST, Error
from itest import Checks

C = Checks(sys.argv, "suspend_checks")
lockctl, m, pid, sfile = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
conf = C.dir + "/chubby.conf"
admin = C.cell("admin")
PATH = "/ls/local/suspended"


def L(*args, t=3000):
    return subprocess.run([lockctl, "-C", conf, "-t", str(t)] + list(args),
                          capture_output=True, text=True, timeout=30)


def status():
    r = L("--json", "status")
    try:
        return json.loads(r.stdout)["replicas"]
    except (ValueError, KeyError):
        return []


def nft(*rule):
    subprocess.run(["nft"] + list(rule), check=True)


def cut_off(i):
    for j in range(1, 6):
        if j != i:
            for a, b in ((i, j), (j, i)):
                nft("add", "rule", "inet", "chubbytest", "out", "ip", "saddr",
                    "127.0.0.%d" % (10 + a), "ip", "daddr", "127.0.0.%d" % (10 + b), "drop")


# A session and a handle at the master, on a connection of their own that
# stays open through the suspension (clients reach replicas from 127.0.0.1,
# which no rule touches).
conn = admin.connect(C.addrs[m - 1])
s = conn.call("SESSION_START", {})
sa = {"session": s["session"], "epoch": s["epoch"]}
h = conn.call("OPEN", dict(sa, path=PATH, flags=O_READ | O_WRITE | O_CREATE))["handle"]
conn.call("SET_CONTENTS", dict(sa, handle=h, contents=b"before"))
C.check("the master answers a read before the suspension",
        conn.call("GET_CONTENTS", dict(sa, handle=h))["contents"] == b"before")

nft("add", "table", "inet", "chubbytest")
nft("add", "chain", "inet", "chubbytest", "out",
    "{ type filter hook output priority 0; policy accept; }")
cut_off(m)
t0 = time.time()
os.kill(pid, signal.SIGSTOP)
try:
    e0 = s["epoch"]
    new = None
    end = time.time() + 30
    while time.time() < end and new is None:
        for r in status():
            if r.get("role") == "master" and r["id"] != m and r.get("epoch", 0) > e0:
                new = r["id"]
        time.sleep(0.2)
    C.check("the others elect a new master while replica %d sleeps" % m, new is not None)
    # (lockctl may first try the stopped replica: give it time to move on.)
    w = L("put", "suspended", "after", t=15000)
    C.check("the new master takes a write", w.returncode == 0, w.stderr)
    # The machine wakes: its CLOCK_MONOTONIC resumes where it stopped.
    with open(sfile, "w") as f:
        f.write("%d\n" % int((time.time() - t0) * 1000))
finally:
    os.kill(pid, signal.SIGCONT)

try:
    r = conn.call("GET_CONTENTS", dict(sa, handle=h), timeout=10)
    C.check("the woken master does not answer as master (it answered %r)" % r.get("contents"),
            False)
except Error as e:
    C.check("the woken master refuses the read: %s" % e.message, e.status == ST["E_NOT_MASTER"],
            "status %d" % e.status)
roles = {r["id"]: r.get("role") for r in status()}
C.check("the woken replica does not report itself master (%s)" % roles.get(m),
        roles.get(m) != "master")
conn.close()
nft("flush", "chain", "inet", "chubbytest", "out")
C.finish()
