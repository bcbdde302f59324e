"""resource.py: the fenced resource of the nemesis run (docs/SEQUENCER.md,
"Using it on a resource server").  Lock holders send it one JSON line per
write: {"holder", "seq": hex, "n"}.  It checks the sequencer's HMAC with the
cell's key, and accepts the write only if the sequencer's (instance,
lock_gen) is at least the highest it has accepted; it answers
{"accepted": bool, "why"} and logs every decision to LOG (JSON lines, in
the order decided).  tests/nemesis/checker.py reads the log.

usage: resource.py PORT KEY_FILE LOG"""
import hashlib
import hmac
import json
import socketserver
import sys
import threading
import time

import msgpack

PORT, KEYFILE, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
KEY = bytes.fromhex(open(KEYFILE).read().strip())
lock = threading.Lock()
highest = None
log = open(LOG, "a", buffering=1)


def verify(seq):
    t = msgpack.unpackb(seq, raw=False)
    if not (isinstance(t, list) and len(t) == 8 and t[0] == "chubby-seq" and t[1] == 1):
        return None, "not a sequencer"
    body = msgpack.packb(t[:7], use_bin_type=True)
    if not hmac.compare_digest(hmac.new(KEY, body, hashlib.sha256).digest(), t[7]):
        return None, "bad MAC"
    return (t[6], t[5]), None


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        global highest
        line = self.rfile.readline()
        if not line:
            return
        m = json.loads(line)
        order, why = verify(bytes.fromhex(m["seq"]))
        with lock:
            if order is None:
                ok = False
            elif highest is not None and order < highest:
                ok, why = False, "stale: %r < %r" % (order, highest)
            else:
                ok = True
                highest = order
            log.write(json.dumps({"t": time.monotonic(), "holder": m["holder"], "n": m["n"],
                                  "inst": order and order[0], "gen": order and order[1],
                                  "accepted": ok, "why": why}) + "\n")
        self.wfile.write((json.dumps({"accepted": ok, "why": why}) + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", PORT), Handler).serve_forever()
