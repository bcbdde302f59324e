"""cacher.py: a slow cacher for the cache-coherence tests
(tests/integration/coherence_checks.py): a session on the raw protocol
(chubby_wire.py) that caches files with GET_CONTENTS cache=true, keeps its
lease alive with KEEPALIVEs, but acknowledges each invalidation only
ACK_DELAY seconds after it arrived, as a client on a slow or busy link
would.  It records what it receives and when it acknowledged, so a test can
check that a write was answered only after every cacher let go of the old
value (docs/PROTOCOL.md "Cache invalidation")."""
import threading
import time

from chubby_wire import ST, Error, O_READ, Session


class Inval:
    def __init__(self, iid, path, at):
        self.id, self.path, self.received = iid, path, at
        self.acked = None  # when the last KEEPALIVE carrying its ack was sent


class SlowCacher:
    def __init__(self, cell, ack_delay, hold_ms=1000):
        self.cell = cell
        self.ack_delay = ack_delay
        self.hold_ms = hold_ms
        self.s = Session(cell, keepalive=False)
        self.id = self.s.id
        self.epoch = self.s.epoch
        self.epochs = [self.epoch]  # every epoch it was told of
        self.lock = threading.Lock()
        self.invals = {}  # id -> Inval
        self.cached = {}  # path -> (contents, stat)
        self.errors = []
        self.expired = False
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    # --- reading and caching -------------------------------------------

    def call(self, op, **args):
        """A session-scoped call; follows the master on E_NOT_MASTER or a
        closed connection, and adopts a new epoch on E_BAD_EPOCH."""
        for attempt in range(5):
            a = dict(args, session=self.id, epoch=self.epoch)
            try:
                return self.s.c.call(op, a)
            except Error as e:
                if e.status == ST["E_BAD_EPOCH"]:
                    self.epoch = e.result["epoch"]
                    continue
                if e.status not in (ST["E_NOT_MASTER"], ST["E_UNAVAILABLE"]) or attempt == 4:
                    raise
            except OSError:
                if attempt == 4:
                    raise
            self.s.c.close()
            self.s.c = self.cell.master()

    def cache(self, path, close=True):
        """Opens PATH, reads it with cache=true and keeps the answer; with
        CLOSE the handle is closed again (the entry stays cached by name, as
        Chubby's client caches by name).  Returns whether it is cacheable."""
        h = self.call("OPEN", path=path, flags=O_READ)["handle"]
        r = self.call("GET_CONTENTS", handle=h, cache=True)
        if r["cacheable"]:
            with self.lock:
                self.cached[path] = (r["contents"], r["stat"])
        if close:
            self.call("CLOSE", handle=h)
        return r["cacheable"]

    def invals_for(self, path):
        with self.lock:
            return sorted((v for v in self.invals.values() if v.path == path),
                          key=lambda v: v.received)

    # --- the KeepAlive loop --------------------------------------------

    def _due(self, now):
        """The ids whose ack is due, and how long until the next one."""
        due, wait = [], None
        for v in self.invals.values():
            if v.acked is not None:
                continue
            left = v.received + self.ack_delay - now
            if left <= 0:
                due.append(v)
            elif wait is None or left < wait:
                wait = left
        return due, wait

    def _loop(self):
        kc = None
        while not self.stop.is_set():
            due = []
            try:
                if kc is None:
                    kc = self.cell.master()
                now = time.time()
                with self.lock:
                    due, wait = self._due(now)
                    for v in due:
                        v.acked = now
                hold = self.hold_ms if wait is None else max(0, min(self.hold_ms, int(wait * 1000)))
                r = kc.call("KEEPALIVE", {"session": self.id, "epoch": self.epoch,
                                          "hold_ms": hold, "acks": [v.id for v in due]},
                            timeout=30)
                got = time.time()
                with self.lock:
                    for inv in r["invalidate"]:
                        if inv["id"] not in self.invals:
                            self.invals[inv["id"]] = Inval(inv["id"], inv["path"], got)
                        self.cached.pop(inv["path"], None)
            except Error as e:
                with self.lock:
                    for v in due:  # not known to have arrived: sent again
                        v.acked = None
                if e.status == ST["E_BAD_EPOCH"]:
                    self.epoch = e.result["epoch"]
                    self.epochs.append(self.epoch)
                    continue
                if e.status == ST["E_SESSION_EXPIRED"]:
                    self.expired = True
                    return
                self.errors.append(e.name)
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.05)
            except OSError:
                with self.lock:
                    for v in due:
                        v.acked = None
                if kc is not None:
                    kc.close()
                kc = None
                time.sleep(0.05)
        if kc is not None:
            kc.close()

    def end(self):
        self.stop.set()
        self.t.join(timeout=20)
        try:
            self.s.c.close()
            self.s.c = self.cell.master()
            self.call("SESSION_END")
        finally:
            self.s.c.close()
