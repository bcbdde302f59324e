"""protocol_abuse.py: speaks the client protocol badly on purpose, over real
mutual TLS, and checks that each abuse gets a clear error or a close while
the replica goes on serving others with bounded memory.

usage: protocol_abuse.py HOST PORT CA CERT KEY PID
Prints "ok - NAME" / "FAIL - NAME" lines (lib.sh style) and exits non-zero
on any failure."""
import os
import socket
import ssl
import struct
import sys
import time

import msgpack

HOST, PORT, CA, CERT, KEY, PID = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6], int(sys.argv[6])
HELLO, WELCOME, REQ, RES = 1, 2, 3, 4
OP_STATUS = 64
E_VERSION, E_FRAME_TOO_BIG, E_MALFORMED, E_BAD_TYPE, E_BAD_OP = 25, 21, 22, 23, 29
failed = 0


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    c.check_hostname = False
    c.load_verify_locations(CA)
    c.load_cert_chain(CERT, KEY)
    return c


CTX = ctx()


def connect():
    s = socket.create_connection((HOST, PORT), timeout=10)
    return CTX.wrap_socket(s)


def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return msgpack.unpackb(body, raw=False)


def closed(s):
    """True once the server has closed the connection (EOF or reset)."""
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def check(name, cond, detail=""):
    global failed
    if cond:
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - " + name + (": " + str(detail) if detail else ""))


def hello(s):
    s.sendall(frame([HELLO, 1, "abuse-test"]))
    return read_frame(s)


def status_works():
    s = connect()
    w = hello(s)
    s.sendall(frame([REQ, 1, OP_STATUS, None]))
    r = read_frame(s)
    s.close()
    return w is not None and w[0] == WELCOME and r is not None and r[0] == RES and r[2] == 0


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


rss0 = rss_kib()

# 1. A protocol version the server does not speak: E_VERSION, then close.
s = connect()
s.sendall(frame([HELLO, 99, "future-client"]))
r = read_frame(s)
check("unsupported version gets E_VERSION", r is not None and r[0] == RES and r[2] == E_VERSION, r)
check("... and the connection closes", closed(s))
s.close()

# 2. A request before HELLO: an error, then close.
s = connect()
s.sendall(frame([REQ, 1, OP_STATUS, None]))
r = read_frame(s)
check("REQ before HELLO is refused", r is not None and r[0] == RES and r[1] == 0 and r[2] != 0, r)
check("... and the connection closes", closed(s))
s.close()

# 3. A frame over the limit: E_FRAME_TOO_BIG without the server reading it.
s = connect()
hello(s)
s.sendall(struct.pack(">I", 64 * 1024 * 1024) + b"x" * 1000)
r = read_frame(s)
check("oversized frame gets E_FRAME_TOO_BIG", r is not None and r[2] == E_FRAME_TOO_BIG, r)
check("... and the connection closes", closed(s))
s.close()

# 4. A zero-length frame and bytes that are not msgpack.
for name, raw in (("zero-length frame", struct.pack(">I", 0)),
                  ("bytes that are not msgpack", struct.pack(">I", 3) + b"\xc1\xc1\xc1"),
                  ("msgpack of the wrong shape", frame({"not": "an envelope"})),
                  ("REQ with a string op", frame([REQ, 5, "STATUS", None]))):
    s = connect()
    hello(s)
    s.sendall(raw)
    r = read_frame(s)
    check(name + " gets an error", r is not None and r[0] == RES and r[2] in
          (E_MALFORMED, E_BAD_TYPE), r)
    check("... and the connection closes", closed(s))
    s.close()

# 5. An unknown op: E_BAD_OP, and the connection stays usable.
s = connect()
hello(s)
s.sendall(frame([REQ, 7, 999, None]))
r = read_frame(s)
check("unknown op gets E_BAD_OP for that request", r is not None and r[1] == 7 and r[2] == E_BAD_OP, r)
s.sendall(frame([REQ, 8, OP_STATUS, None]))
r = read_frame(s)
check("... and the connection still serves", r is not None and r[1] == 8 and r[2] == 0, r)
s.close()

# 6. After HELLO, a frame trickled a byte at a time (slowloris): the
# server's frame deadline (frame_timeout, 2 s in this test) closes it
# although bytes keep arriving, which an idle timeout alone would not.
s = connect()
hello(s)
s.sendall(struct.pack(">I", 100))
start = time.time()
was_closed = False
while time.time() - start < 8:
    try:
        s.sendall(b"\x00")
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        was_closed = True
        break
    s.settimeout(0.5)
    try:
        if not s.recv(4096):
            was_closed = True
            break
    except socket.timeout:
        pass
    except (ConnectionResetError, ssl.SSLError, OSError):
        was_closed = True
        break
took = time.time() - start
check("a trickled frame is closed by the frame deadline (%.1f s)" % took, was_closed and took < 6,
      took)
s.close()

# 7. A flood of connections that never say HELLO, and half frames left
# hanging (slowloris): the replica keeps serving others meanwhile.
hanging = []
for i in range(150):
    try:
        t = connect()
        if i % 2 == 0:
            t.sendall(struct.pack(">I", 100) + b"\x93")  # a header and 1 of 100 bytes
        hanging.append(t)
    except OSError as e:
        check("flood connection %d accepted" % i, False, e)
        break
check("150 idle or half-sent connections held open", len(hanging) == 150, len(hanging))
check("a good client is served during the flood", status_works())
rss1 = rss_kib()
check("memory stays bounded during the flood (+%d KiB)" % (rss1 - rss0), rss1 - rss0 < 64 * 1024)

# The server drops silent and half-sent connections on its own (HELLO timeout).
deadline = time.time() + 25
for t in hanging:
    t.settimeout(max(1, deadline - time.time()))
dropped = sum(1 for t in hanging if closed(t))
check("the server drops them within its HELLO timeout (%d of 150)" % dropped, dropped == 150)
for t in hanging:
    t.close()

# 8. Every op with arguments of every wrong shape (a seeded request fuzzer):
# each request gets exactly one answer with its id, an error code and a
# message (or success when the random arguments happen to be valid), and
# the connection and the replica stay up.  Most requests carry the real
# session and epoch, so the arguments past the session check are reached.
import random  # noqa: E402

rng = random.Random(int(os.environ.get("ABUSE_SEED", "7")))
fz = connect()
hello(fz)
fz.sendall(frame([REQ, 1, 1, {}]))  # SESSION_START
st = read_frame(fz)
sess = st[4]["session"] if st and st[2] == 0 else 1
epoch = st[4]["epoch"] if st and st[2] == 0 else 1
OPS = [1, 2, 3, 16, 17, 18, 19, 20, 21, 22, 23, 24, 48, 49, 50, 51, 52, 53, 64, 65, 66, 67, 68,
       69, 70]
KEYS = ["session", "epoch", "handle", "path", "flags", "lock_delay_ms", "events", "contents",
        "acl", "cache", "expected_gen", "mode", "timeout_ms", "sequencer", "hold_ms", "acks",
        "ev_ack", "index", "offset", "max", "replace", "client", "peer", "status"]


def junk(depth=0):
    k = rng.randrange(12)
    if k == 0:
        return None
    if k == 1:
        return rng.choice([True, False])
    if k == 2:
        return rng.choice([0, 1, 2, 3, 7, 2**31, 2**32 - 1, 2**63, 2**64 - 1])
    if k == 3:
        return -rng.randrange(1, 2**62)
    if k == 4:
        return rng.random() * 1e6
    if k == 5:
        return rng.choice(["", "/ls/local", "/ls/local/x", "/ls/local/../x", "a\x00b",
                           "/ls/local/" + "y" * 300, "\u00e9\u00e8", "x" * 5000])
    if k == 6:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    if k == 7 and depth < 3:
        return [junk(depth + 1) for _ in range(rng.randrange(0, 5))]
    if k == 8 and depth < 3:
        return {rng.choice(KEYS): junk(depth + 1) for _ in range(rng.randrange(0, 4))}
    if k == 9:
        return sess
    if k == 10:
        return rng.randrange(0, 40)
    return rng.choice(["", "admin", "127.0.0.99:1", "x" * 300])


sent = answered = 0
bad_answers = []
# Writes that could be valid go to a scratch directory, never the root.
for i in range(600):
    op = rng.choice(OPS)
    if op in (3, 68, 69) and rng.random() < 0.8:
        op = 20  # ending our session or backups would stop the run early
    args = {k: junk() for k in rng.sample(KEYS, rng.randrange(0, 7))}
    if rng.random() < 0.8:
        args["session"], args["epoch"] = sess, epoch
    if op == 69:
        args.pop("replace", None)  # never move a real member
    if op == 48:
        # Two of our own handles on one node: an ACQUIRE through the second
        # waits for the first; bound it so the fuzzer never blocks.
        args["timeout_ms"] = 300
    h = args.get("hold_ms") if isinstance(args, dict) else None
    if op == 2 and isinstance(h, int) and not isinstance(h, bool) and h > 1000:
        # A KeepAlive is held as long as asked, up to a second before the
        # lease ends (12 s, longer while the master stretches it): longer
        # than this loop waits for an answer.  Junk of other types stays.
        args["hold_ms"] = 1000
    if isinstance(args.get("path"), str) and rng.random() < 0.5:
        args["path"] = "/ls/local/fuzz/" + str(rng.randrange(20))
    if rng.random() < 0.1:
        args = junk()
        if not isinstance(args, dict):
            args = None
    rid = 1000 + i
    try:
        fz.sendall(frame([REQ, rid, op, args]))
        sent += 1
        fz.settimeout(10)
        r = read_frame(fz)
    except (OSError, ValueError) as e:
        bad_answers.append((op, args, repr(e)))
        break
    if r is None:
        bad_answers.append((op, args, "connection closed"))
        break
    if r[0] != RES or r[1] != rid or not isinstance(r[2], int) or \
            (r[2] != 0 and not (isinstance(r[3], str) and r[3])):
        bad_answers.append((op, args, r))
        continue
    answered += 1
fz.close()
check("request fuzzer: %d of %d requests of random shapes answered with their id and a "
      "status (errors with a message)" % (answered, sent), answered == sent == 600,
      bad_answers[:3])
check("the replica still serves after the request fuzzer", status_works())

# 9. Still alive and serving after all of it.
try:
    os.kill(PID, 0)
    alive = True
except OSError:
    alive = False
check("the replica process is alive", alive)
check("the replica still serves", status_works())

print("SUMMARY-PY: failed=%d" % failed)
sys.exit(1 if failed else 0)
