"""resource.py: the fenced resource of the nemesis run (docs/SEQUENCER.md,
"Using it on a resource server"; Chubby §2.4).  Lock holders send it one
JSON line per write: {"holder", "seq": hex, "n"}.

It keeps no ordering rule of its own (so that tests/nemesis/checker.py, not
this file, is what finds a stale write that got through): it checks the
sequencer's HMAC with the cell's key, then asks the cell whether the
sequencer is still current (CHECK_SEQUENCER, to the master, as Chubby's
resource servers do), and accepts the write exactly when both say yes.  A
cell that cannot be asked (no master within the timeout) gets the write
refused: a resource that cannot check must not act.  It answers
{"accepted": bool, "why"} and logs every write to LOG (JSON lines):
{"t0", "t1": CLOCK_MONOTONIC when the check began and ended, "holder", "n",
 "inst", "gen", "mac": bool, "cell": "OK" | an error name, "accepted",
 "why"}.

usage: resource.py PORT KEY_FILE LOG CELL_DIR CELL_PORT"""
import hashlib
import hmac
import json
import os
import socketserver
import sys
import threading
import time

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workload import cell_of, Error  # noqa: E402

PORT, KEYFILE, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CELL = cell_of(sys.argv[4], int(sys.argv[5]))
KEY = bytes.fromhex(open(KEYFILE).read().strip())
log_mu = threading.Lock()
log = open(LOG, "a", buffering=1)


def verify(seq):
    t = msgpack.unpackb(seq, raw=False)
    if not (isinstance(t, list) and len(t) == 8 and t[0] == "chubby-seq" and t[1] == 1):
        return None, "not a sequencer"
    body = msgpack.packb(t[:7], use_bin_type=True)
    if not hmac.compare_digest(hmac.new(KEY, body, hashlib.sha256).digest(), t[7]):
        return None, "bad MAC"
    return (t[6], t[5]), None


def ask_cell(seq, deadline=4.0):
    """The cell's verdict on SEQ: "OK", "E_STALE_SEQUENCER", or why it could
    not be asked.  Each try goes to whoever answers as master."""
    end = time.monotonic() + deadline
    why = "no master"
    while time.monotonic() < end:
        try:
            c = CELL.master(max(1, end - time.monotonic()))
        except (OSError, Error) as e:
            why = "no master: %s" % e
            continue
        try:
            c.call("CHECK_SEQUENCER", {"sequencer": seq}, timeout=2)
            return "OK"
        except Error as e:
            if e.name in ("E_NOT_MASTER", "E_UNAVAILABLE"):
                why = e.name
                time.sleep(0.05)
                continue
            return e.name
        except (OSError, ValueError) as e:
            why = type(e).__name__
        finally:
            c.close()
    return "unchecked: %s" % why


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        if not line:
            return
        m = json.loads(line)
        seq = bytes.fromhex(m["seq"])
        t0 = time.monotonic()
        order, why = verify(seq)
        verdict = ask_cell(seq) if order is not None else None
        t1 = time.monotonic()
        ok = order is not None and verdict == "OK"
        if order is not None and not ok:
            why = "cell: %s" % verdict
        with log_mu:
            log.write(json.dumps({"t0": t0, "t1": t1, "holder": m["holder"], "n": m["n"],
                                  "inst": order and order[0], "gen": order and order[1],
                                  "mac": order is not None, "cell": verdict,
                                  "accepted": ok, "why": why}) + "\n")
        self.wfile.write((json.dumps({"accepted": ok, "why": why}) + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", PORT), Handler).serve_forever()
