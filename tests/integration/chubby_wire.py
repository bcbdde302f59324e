"""chubby_wire.py: a small, independent client of the chubby wire protocol
(docs/PROTOCOL.md) for integration tests: mutual TLS, HELLO, requests with
ids, finding the master, sessions with a KeepAlive thread.  It is written
from the protocol document, not from libchubby, so the tests check the
server against the document."""
import socket
import ssl
import struct
import threading
import time

import msgpack

HELLO, WELCOME, REQ, RES = 1, 2, 3, 4
OP = dict(SESSION_START=1, KEEPALIVE=2, SESSION_END=3, OPEN=16, CLOSE=17, POISON=18,
          GET_CONTENTS=19, GET_STAT=20, READDIR=21, SET_CONTENTS=22, SET_ACL=23, DELETE=24,
          ACQUIRE=48, TRY_ACQUIRE=49, RELEASE=50, GET_SEQUENCER=51, SET_SEQUENCER=52,
          CHECK_SEQUENCER=53, STATUS=64, WHERE_IS_MASTER=65, SESSIONS=66, LOCKS=67, SYNC=70)
ST = dict(OK=0, E_INVALID=2, E_TIMEOUT=5, E_CANCELLED=6, E_LIMIT=9, E_BAD_TYPE=23,
          E_MISSING=24, E_BAD_OP=29, E_NOT_MASTER=40, E_BAD_EPOCH=41, E_UNAVAILABLE=42,
          E_SESSION_EXPIRED=43, E_BAD_SESSION=45, E_BAD_HANDLE=46, E_NOT_FOUND=60,
          E_EXISTS=61, E_NOT_EMPTY=62, E_NOT_DIR=63, E_IS_DIR=64, E_PERMISSION=65,
          E_GEN_MISMATCH=66, E_BUSY=67, E_LOCK_DELAY=68, E_NOT_HELD=69,
          E_STALE_SEQUENCER=70, E_BAD_SEQUENCER=71, E_BAD_NAME=72, E_TOO_LARGE=73)
NAME = {v: k for k, v in ST.items()}
O_READ, O_WRITE, O_CREATE, O_EXCL, O_EPHEMERAL, O_DIR = 1, 2, 4, 8, 16, 32
SHARED, EXCLUSIVE = 1, 2
EV = dict(CONTENTS_MODIFIED=1, CHILD_ADDED=2, CHILD_REMOVED=3, CHILD_MODIFIED=4,
          LOCK_ACQUIRED=5, CONFLICTING_LOCK=6, HANDLE_INVALID=7)


def evmask(*names):
    m = 0
    for n in names:
        m |= 1 << (EV[n] - 1)
    return m


class Error(Exception):
    def __init__(self, status, message, result):
        super().__init__("%s: %s" % (NAME.get(status, status), message))
        self.status, self.message, self.result = status, message, result
        self.name = NAME.get(status, str(status))


class Conn:
    """One TLS connection to one replica; requests answered by id."""

    def __init__(self, addr, ca, cert, key, timeout=15):
        host, port = addr.rsplit(":", 1)
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.minimum_version = ssl.TLSVersion.TLSv1_3
        c.check_hostname = False
        c.load_verify_locations(ca)
        c.load_cert_chain(cert, key)
        s = socket.create_connection((host, int(port)), timeout=timeout)
        self.s = c.wrap_socket(s)
        self.addr = addr
        self.next_id = 1
        self.lock = threading.Lock()
        self.waiting = {}
        self.send([HELLO, 1, "chubby_wire.py"])
        w = self.read()
        if w is None or w[0] != WELCOME:
            raise Error(ST["E_UNAVAILABLE"], "no WELCOME from %s: %r" % (addr, w), None)
        self.cell = w[2]

    def send(self, obj):
        body = msgpack.packb(obj, use_bin_type=True)
        self.s.sendall(struct.pack(">I", len(body)) + body)

    def read(self):
        hdr = b""
        while len(hdr) < 4:
            chunk = self.s.recv(4 - len(hdr))
            if not chunk:
                return None
            hdr += chunk
        (n,) = struct.unpack(">I", hdr)
        body = b""
        while len(body) < n:
            chunk = self.s.recv(n - len(body))
            if not chunk:
                return None
            body += chunk
        return msgpack.unpackb(body, raw=False)

    def call(self, op, args=None, timeout=15):
        """Sends one request and waits for its answer (requests on one
        connection are answered in turn here: tests use one connection per
        outstanding request)."""
        rid = self.next_id
        self.next_id += 1
        self.s.settimeout(timeout)
        self.send([REQ, rid, OP[op], args])
        while True:
            m = self.read()
            if m is None:
                raise Error(ST["E_UNAVAILABLE"], "connection closed by %s" % self.addr, None)
            if m[0] == RES and m[1] == rid:
                if m[2] != 0:
                    raise Error(m[2], m[3], m[4])
                return m[4]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Cell:
    def __init__(self, addrs, ca, cert, key):
        self.addrs, self.ca, self.cert, self.key = addrs, ca, cert, key

    def connect(self, addr):
        return Conn(addr, self.ca, self.cert, self.key)

    def master(self, deadline=30):
        """A connection to the replica that says it is master with its lease."""
        end = time.time() + deadline
        while time.time() < end:
            for a in self.addrs:
                try:
                    c = self.connect(a)
                    w = c.call("WHERE_IS_MASTER")
                    if w["is_master"]:
                        return c
                    c.close()
                except (OSError, Error):
                    pass
            time.sleep(0.2)
        raise Error(ST["E_UNAVAILABLE"], "no master within %ds" % deadline, None)


class Session:
    """A session: its id and epoch, a connection for calls, and a thread
    that keeps it alive with KeepAlives on a connection of its own, and
    follows the master through fail-overs."""

    def __init__(self, cell, keepalive=True, hold_ms=2000):
        self.cell = cell
        self.c = cell.master()
        r = self.c.call("SESSION_START", {})
        self.id, self.epoch, self.lease_ms = r["session"], r["epoch"], r["lease_ms"]
        self.events = []
        self.invalidations = []
        self.acks = []
        self.failovers = 0
        self.expired = False
        self.stop = threading.Event()
        self.hold_ms = hold_ms
        self.t = None
        if keepalive:
            self.t = threading.Thread(target=self._keepalive_loop, daemon=True)
            self.t.start()

    def _refind(self):
        """After a fail-over: the new master and its epoch (Chubby §2.9)."""
        try:
            self.c.close()
        except Exception:
            pass
        self.c = self.cell.master()
        try:
            self.c.call("KEEPALIVE", {"session": self.id, "epoch": self.epoch, "hold_ms": 0})
        except Error as e:
            if e.status == ST["E_BAD_EPOCH"]:
                self.epoch = e.result["epoch"]
                self.failovers += 1
            else:
                raise

    def _keepalive_loop(self):
        kc = None
        while not self.stop.is_set():
            try:
                if kc is None:
                    kc = self.cell.master()
                acks, self.acks = self.acks, []
                r = kc.call("KEEPALIVE", {"session": self.id, "epoch": self.epoch,
                                          "hold_ms": self.hold_ms, "acks": acks}, timeout=30)
                self.events.extend(r["events"])
                for inv in r["invalidate"]:
                    self.invalidations.append(inv)
                    self.acks.append(inv["id"])
            except Error as e:
                if e.status == ST["E_BAD_EPOCH"]:
                    self.epoch = e.result["epoch"]
                    self.failovers += 1
                    continue
                if e.status == ST["E_SESSION_EXPIRED"]:
                    self.expired = True
                    return
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.2)
            except OSError:
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.2)
        if kc is not None:
            kc.close()

    def call(self, op, **args):
        """A session-scoped call; follows the master once on NOT_MASTER or
        a closed connection, and adopts a new epoch on BAD_EPOCH."""
        for attempt in range(3):
            a = dict(args, session=self.id, epoch=self.epoch)
            try:
                return self.c.call(op, a, timeout=args.get("timeout_ms", 0) / 1000 + 15)
            except Error as e:
                if e.status == ST["E_BAD_EPOCH"]:
                    self.epoch = e.result["epoch"]
                    self.failovers += 1
                    continue
                if e.status in (ST["E_NOT_MASTER"], ST["E_UNAVAILABLE"]) and attempt < 2:
                    self._refind()
                    continue
                raise
            except OSError:
                self._refind()
        raise Error(ST["E_UNAVAILABLE"], "gave up", None)

    def open(self, path, flags=O_READ | O_WRITE, **kw):
        return self.call("OPEN", path=path, flags=flags, **kw)["handle"]

    def end(self):
        self.stop.set()
        try:
            self.call("SESSION_END")
        finally:
            self.c.close()

    def abandon(self):
        """Stops KeepAlives without ending the session: it expires."""
        self.stop.set()
        self.c.close()
