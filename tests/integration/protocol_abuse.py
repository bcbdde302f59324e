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

# 8. Still alive and serving after all of it.
try:
    os.kill(PID, 0)
    alive = True
except OSError:
    alive = False
check("the replica process is alive", alive)
check("the replica still serves", status_works())

print("SUMMARY-PY: failed=%d" % failed)
sys.exit(1 if failed else 0)
