"""Cell (one libchubby session) and Handle (one open node).

Threads.  Every method may be called from any thread; a call blocks in C
with the GIL released.  Events come from libchubby's own event thread,
through one module-level C callback (so the ctypes thunk lives as long as
the module, longer than any client or handle) that finds the Cell by the
key passed as event_arg, then the Handle by its C pointer.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import threading
from ctypes import byref, c_bool, c_char_p, c_size_t, c_void_p
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Set, Tuple, Type, Union

from . import _lib
from ._lib import lib, take_bytes
from .errors import Busy, Cancelled, LockDelay, NotFound, StaleSequencer, check
from .events import EventStream
from .types import Event, EventsArg, EventType, LockMode, OpenFlags, SessionState, Stat, event_mask

if TYPE_CHECKING:  # pragma: no cover
    from .recipes import Leadership, Lock

_log = logging.getLogger("chubby")

EventCallback = Callable[[Event], None]
PathLike = Union[str, "os.PathLike[str]"]

_cells: Dict[int, "Cell"] = {}
_cells_mu = threading.Lock()
_keys = itertools.count(1)
_ORPHANS_MAX = 64  # events held for a handle not yet registered (see _dispatch)


def _ms(seconds: Optional[float], name: str) -> int:
    """Seconds (float) to the library's unsigned milliseconds; None: 0."""
    if seconds is None:
        return 0
    if seconds < 0:
        raise ValueError(f"{name} must not be negative")
    ms = int(round(seconds * 1000))
    if ms == 0 and seconds > 0:
        ms = 1  # 0 would mean "no limit" or "the default"
    if ms >= 1 << 32:
        raise ValueError(f"{name} is too large")
    return ms


def _enc(s: Optional[Union[str, "os.PathLike[str]"]]) -> Optional[bytes]:
    return None if s is None else os.fsencode(s)


def _on_event_py(_client: int, evp: "ctypes._Pointer[_lib.ChubbyEvent]", arg: Optional[int]) -> None:
    # Runs on libchubby's event thread.  Nothing may escape into C.
    try:
        cell = _cells.get(arg or 0)
        if cell is None:
            return
        ev = evp.contents
        path = ev.path.decode("utf-8", "replace") if ev.path is not None else None
        gen = int(ev.content_gen) if ev.has_content_gen else None
        cell._dispatch(ev.type, ev.handle or 0, path, gen)
    except BaseException:  # noqa: B036 - a C callback must not raise
        _log.exception("chubby: error in an event callback")


# The one C callback of every client: module-level, so the thunk outlives
# every client and handle (the event thread may still be returning from it
# after chubby_close from a callback).
_on_event = _lib.EVENT_FN(_on_event_py)


class Cell:
    """A session with a chubby cell (chubby_open).

    cell      -- a cell config file, "host:port,host:port,...", a DNS name, or
                 a sequence of "host:port" replicas; None: $CHUBBY_CELL
    cert, key, ca, crl -- TLS files; None: $CHUBBY_CERT/KEY/CA/CRL, then the
                 cell config's client_tls_cert/key, tls_ca and tls_crl
    name      -- what the servers log for this client
    open_timeout, call_timeout, lease, grace -- seconds; None takes
                 libchubby's default (10, 30, and the cell config's
                 session_lease/grace_period, else 12 and 45)
    on_event  -- called on the library's event thread with every Event
                 (session events and every handle's); it may call the
                 Cell, but must not block for long: events wait behind it

    A context manager: `with Cell(...) as cell:` closes the session (and
    frees its locks at once) at the end of the block.
    """

    def __init__(self, cell: Optional[Union[PathLike, Sequence[str]]] = None, *,
                 cert: Optional[PathLike] = None, key: Optional[PathLike] = None,
                 ca: Optional[PathLike] = None, crl: Optional[PathLike] = None,
                 name: str = "python", open_timeout: Optional[float] = None,
                 call_timeout: Optional[float] = None, lease: Optional[float] = None,
                 grace: Optional[float] = None,
                 on_event: Optional[EventCallback] = None) -> None:
        if cell is not None and not isinstance(cell, (str, bytes, os.PathLike)):
            cell = ",".join(cell)
        self._on_event = on_event
        self._mu = threading.Lock()
        self._handles: Dict[int, Handle] = {}
        self._orphans: Dict[int, List[Tuple[int, Optional[str], Optional[int]]]] = {}
        self._streams: Set[EventStream] = set()
        self._watchers: List[EventCallback] = []
        self._ptr: Optional[int] = None
        self._key = next(_keys)
        opt = _lib.ChubbyOptions()
        opt.cell = _enc(cell)
        opt.cert_file = _enc(cert)
        opt.key_file = _enc(key)
        opt.ca_file = _enc(ca)
        opt.name = name.encode()
        opt.open_timeout_ms = _ms(open_timeout, "open_timeout")
        opt.call_timeout_ms = _ms(call_timeout, "call_timeout")
        opt.lease_ms = _ms(lease, "lease")
        opt.grace_ms = _ms(grace, "grace")
        opt.on_event = _on_event
        opt.event_arg = self._key
        ext = _lib.ChubbyOptionsExt()
        ext.size = ctypes.sizeof(ext)
        ext.crl_file = _enc(crl)
        ptr = _lib.ClientPtr()
        with _cells_mu:
            _cells[self._key] = self
        try:
            check(lib.chubby_open_ext(byref(opt), byref(ext), byref(ptr)))
        except BaseException:
            with _cells_mu:
                _cells.pop(self._key, None)
            raise
        self._ptr = ptr.value

    # ---- the session ----

    def _client(self) -> int:
        p = self._ptr
        if p is None:
            raise Cancelled("the Cell is closed")
        return p

    @property
    def closed(self) -> bool:
        return self._ptr is None

    @property
    def session_id(self) -> int:
        return int(lib.chubby_session_id(self._client()))

    @property
    def state(self) -> SessionState:
        if self._ptr is None:
            return SessionState.CLOSED
        return SessionState(lib.chubby_session_state(self._ptr))

    def close(self) -> None:
        """Ends the session (its locks are freed at once), fails calls still
        waiting with Cancelled, and closes every handle.  Idempotent; allowed
        from an event callback."""
        with self._mu:
            p, self._ptr = self._ptr, None
            handles = list(self._handles.values())
            self._handles.clear()
            self._orphans.clear()
            streams = list(self._streams)
            self._streams.clear()
        if p is None:
            return
        for h in handles:
            h._forget()
        # chubby_close joins the event thread (unless called from it): with
        # the GIL released by ctypes, a callback in progress can finish.
        lib.chubby_close(p)
        with _cells_mu:
            _cells.pop(self._key, None)
        for s in streams:
            s._end()

    def __enter__(self) -> "Cell":
        return self

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<chubby.Cell closed>"
        return f"<chubby.Cell session={self.session_id} {self.state.name}>"

    # ---- events ----

    def events(self) -> EventStream:
        """A new stream of every event from now on (session events and
        every handle's).  Close it when done."""
        s = EventStream(on_close=self._drop_stream)
        with self._mu:
            if self._ptr is None:
                s._end()
            else:
                self._streams.add(s)
        return s

    def _drop_stream(self, s: EventStream) -> None:
        with self._mu:
            self._streams.discard(s)

    def _watch(self, fn: EventCallback) -> None:
        with self._mu:
            self._watchers.append(fn)

    def _unwatch(self, fn: EventCallback) -> None:
        with self._mu:
            if fn in self._watchers:
                self._watchers.remove(fn)

    def _dispatch(self, etype: int, hptr: int, path: Optional[str],
                  content_gen: Optional[int] = None) -> None:
        try:
            t = EventType(etype)
        except ValueError:
            _log.warning("chubby: event of unknown type %d dropped", etype)
            return
        with self._mu:
            h = self._handles.get(hptr) if hptr else None
            if hptr and h is None:
                # The handle's open returned in C but its Handle is not
                # registered yet: keep the event for it (Cell._register).
                pend = self._orphans.setdefault(hptr, [])
                if len(pend) < _ORPHANS_MAX:
                    pend.append((etype, path, content_gen))
            streams = list(self._streams)
            watchers = list(self._watchers)
        ev = Event(t, path, h, content_gen)
        for fn in watchers:
            fn(ev)
        if self._on_event is not None:
            self._call(self._on_event, ev)
        for s in streams:
            s._put(ev)
        if h is not None:
            h._deliver(ev)

    @staticmethod
    def _call(fn: EventCallback, ev: Event) -> None:
        try:
            fn(ev)
        except Exception:
            _log.exception("chubby: event callback %r raised on %s", fn, ev)

    # ---- handles ----

    def _register(self, ptr: int, path: str, created: bool, mask: int,
                  on_event: Optional[EventCallback]) -> "Handle":
        h = Handle(self, ptr, path, created, mask, on_event)
        with self._mu:
            if self._ptr is None:
                closed = True
            else:
                closed = False
                self._handles[ptr] = h
                pend = self._orphans.pop(ptr, [])
        if closed:
            h._forget()
            raise Cancelled("the Cell was closed during the open")
        for etype, epath, egen in pend:
            h._deliver(Event(EventType(etype), epath, h, egen))
        return h

    def _unregister(self, h: "Handle") -> None:
        with self._mu:
            if self._handles.get(h._ptr or 0) is h:
                del self._handles[h._ptr or 0]
            self._orphans.pop(h._ptr or 0, None)

    def open(self, path: str, *, write: bool = False, create: bool = False,
             excl: bool = False, ephemeral: bool = False, directory: bool = False,
             flags: Optional[OpenFlags] = None, events: EventsArg = 0,
             on_event: Optional[EventCallback] = None, lock_delay: Optional[float] = None,
             contents: Optional[bytes] = None,
             acl: Optional[Tuple[Optional[str], Optional[str], Optional[str]]] = None
             ) -> "Handle":
        """Opens PATH ("/ls/CELL/...") and returns its Handle.

        create, excl, ephemeral, directory -- make the node if missing
            (excl: fail with Exists if it is there; ephemeral: it goes when
            no handle has it open; directory: make a directory); any of
            them implies write.  FLAGS (OpenFlags) overrides all of these.
        events    -- the handle events wanted: EventType(s) or a mask
        on_event  -- called with this handle's events on the event thread;
                     without it they queue for Handle.events()
        lock_delay -- seconds, for the node's lock (else the cell's default)
        contents, acl -- a created node's contents and (read, write,
                     change-ACL) names (None: inherit)
        """
        if flags is None:
            f = OpenFlags.READ
            if create or excl or ephemeral or directory:
                f |= OpenFlags.WRITE | OpenFlags.CREATE
            if write:
                f |= OpenFlags.WRITE
            if excl:
                f |= OpenFlags.EXCL
            if ephemeral:
                f |= OpenFlags.EPHEMERAL
            if directory:
                f |= OpenFlags.DIR
        else:
            f = OpenFlags(flags)
        mask = event_mask(events)
        args = _lib.ChubbyOpenArgs()
        args.event_mask = mask
        if lock_delay is not None:
            args.have_lock_delay = True
            args.lock_delay_ms = _ms(lock_delay, "lock_delay")
        buf = None
        if contents is not None:
            buf = ctypes.create_string_buffer(bytes(contents), len(contents))
            args.contents = ctypes.cast(buf, c_void_p)
            args.contents_len = len(contents)
        if acl is not None:
            for i in range(3):
                args.acl[i] = _enc(acl[i])
        hp = _lib.HandlePtr()
        created = c_bool(False)
        check(lib.chubby_handle_open(self._client(), path.encode(), int(f), byref(args),
                                     byref(hp), byref(created)))
        del buf
        assert hp.value is not None
        return self._register(hp.value, path, bool(created.value), mask, on_event)

    # ---- one-call conveniences (each opens a handle and closes it) ----

    def get(self, path: str) -> bytes:
        """The contents of PATH."""
        with self.open(path) as h:
            return h.read()

    def get_with_stat(self, path: str) -> Tuple[bytes, Stat]:
        with self.open(path) as h:
            return h.read_with_stat()

    def stat(self, path: str) -> Stat:
        """PATH's metadata, the lock fields current."""
        with self.open(path) as h:
            return h.stat()

    def exists(self, path: str) -> bool:
        try:
            self.open(path).close()
        except NotFound:
            return False
        return True

    def set(self, path: str, data: bytes, *, create: bool = True) -> Stat:
        """Writes DATA into PATH (made if missing, unless create=False)."""
        with self.open(path, write=True, create=create) as h:
            return h.write(data)

    def compare_and_set(self, path: str, data: bytes, expected_gen: int, *,
                        create: bool = False) -> Stat:
        """Writes DATA only while PATH's content generation is EXPECTED_GEN,
        else GenerationMismatch.  A node made by this call has generation 0."""
        with self.open(path, write=True, create=create) as h:
            return h.compare_and_set(data, expected_gen)

    def mkdir(self, path: str, *, exist_ok: bool = False) -> None:
        """Makes the directory PATH (Exists if it is there, unless exist_ok)."""
        self.open(path, directory=True, excl=not exist_ok).close()

    def children(self, path: str) -> List[str]:
        """The names of PATH's children, sorted."""
        with self.open(path) as h:
            return h.children()

    ls = children

    def delete(self, path: str) -> None:
        """Deletes PATH (a directory must be empty: NotEmpty)."""
        with self.open(path, write=True) as h:
            h.delete()

    # ---- locks, sequencers, election (recipes.py) ----

    def lock(self, path: str, *, shared: bool = False, timeout: Optional[float] = None,
             create: bool = True) -> "Lock":
        """A Lock on PATH, not yet taken: `with cell.lock(path):` takes it
        (waiting up to TIMEOUT seconds, None: no limit; Timeout after) and
        releases it at the end.  The node is made if missing (create)."""
        from .recipes import Lock
        return Lock(self, path, shared=shared, timeout=timeout, create=create)

    def elect(self, path: str, identity: str, *, timeout: Optional[float] = None) -> "Leadership":
        """Blocks until this session leads PATH (holds its exclusive lock;
        the node is made if missing) and has written IDENTITY into it (as a
        lock record: the cell empties the file when the lock is freed,
        however the leader ends), or TIMEOUT seconds pass (Timeout).  Returns the Leadership: a context
        manager that steps down at the end of the block.

        The steps of chubby_elect(3), made here so that the handle asks for
        HANDLE_INVALID (chubby_elect's asks for no events): a deleted node
        then sets Leadership.lost at once, not at the next is_leader()."""
        from .recipes import Leadership
        ms = _ms(timeout, "timeout")
        h = self.open(path, write=True, create=True, events=EventType.HANDLE_INVALID,
                      on_event=lambda ev: None)  # Leadership watches the cell's events
        try:
            h.acquire(timeout=ms / 1000.0 if ms else None)
            # A lock record (chubby_set_lock_record(3)): the cell clears it
            # when the lock is freed, a crashed leader's included.
            h._write_lock_record(identity.encode())
        except BaseException:
            h.close()  # steps down too, if the write failed
            raise
        return Leadership(self, h, identity)

    def leader(self, path: str) -> Optional[str]:
        """The identity of PATH's leader, or None while nobody holds its
        lock (or PATH does not exist).  The lock is asked of the master, not
        read from the contents, which outlive a leader."""
        ident = c_void_p()
        try:
            check(lib.chubby_leader(self._client(), path.encode(), byref(ident), None))
        except NotFound:
            return None
        if not ident.value:
            return None
        try:
            return ctypes.string_at(ident.value).decode("utf-8", "replace")
        finally:
            lib.chubby_free(ident.value)

    def check_sequencer(self, seq: bytes) -> bool:
        """Asks the cell: True while SEQ's lock is still held as it says,
        False when it is stale; BadSequencer when forged or malformed."""
        seq = bytes(seq)
        try:
            check(lib.chubby_check_sequencer(self._client(), seq, len(seq)))
        except StaleSequencer:
            return False
        return True


class Handle:
    """An open node (chubby_handle_open).  Close it (or use `with`): closing
    frees any lock it holds.  Made by Cell.open / Cell.elect, not directly."""

    def __init__(self, cell: Cell, ptr: int, path: str, created: bool, mask: int,
                 on_event: Optional[EventCallback]) -> None:
        self.cell = cell
        self.path = path
        self.created = created  # whether opening it made the node
        self._ptr: Optional[int] = ptr
        self._mu = threading.Lock()
        self._inflight = 0
        self._closing = False
        self._on_event = on_event
        # Without a callback, the handle's events queue here from the
        # moment it opens, so none is lost before events() is called.
        self._stream: Optional[EventStream] = EventStream() if mask and on_event is None else None

    def __repr__(self) -> str:
        return f"<chubby.Handle {self.path!r}{' closed' if self._ptr is None else ''}>"

    # A handle must not be freed while a call on it runs (chubby.h): every
    # call holds a use count.  close() with calls running poisons the handle
    # (they fail with Cancelled where they can) and leaves the free to the
    # last of them, so it never waits, even for an acquire without a limit.
    def _use(self) -> "_Use":
        return _Use(self)

    @property
    def closed(self) -> bool:
        return self._closing or self._ptr is None

    def _forget(self) -> None:
        """The Cell freed the C handle (chubby_close): no more calls."""
        with self._mu:
            self._ptr = None
            self._closing = True
        if self._stream is not None:
            self._stream._end()

    def close(self) -> None:
        """Closes the handle at the master (freeing its lock).  Idempotent.
        With a call on it still running in another thread, the handle is
        poisoned now and closed when that call returns."""
        with self._mu:
            if self._closing or self._ptr is None:
                return
            self._closing = True
            self.cell._unregister(self)
            p = self._ptr
            busy = self._inflight > 0
            if busy:
                self._inflight += 1  # the poison below is a call too
        if self._stream is not None:
            self._stream._end()
        if busy:
            try:
                lib.chubby_poison(p)
            finally:
                self._call_done()
            return
        self._free(quiet=False)

    def _call_done(self) -> None:
        with self._mu:
            self._inflight -= 1
            last = self._closing and self._inflight == 0
        if last:
            self._free(quiet=True)

    def _free(self, quiet: bool) -> None:
        with self._mu:
            p, self._ptr = self._ptr, None
        if p is None:
            return
        rc = lib.chubby_handle_close(p)  # frees it whatever the outcome
        if not quiet and rc != Cancelled.status:
            check(rc)  # the session is closing: nothing to report

    def __enter__(self) -> "Handle":
        return self

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    # ---- events ----

    def _deliver(self, ev: Event) -> None:
        if self._on_event is not None:
            Cell._call(self._on_event, ev)
        elif self._stream is not None:
            self._stream._put(ev)

    def events(self) -> EventStream:
        """This handle's events (those asked for with open(events=...)),
        queued since it opened; the stream ends when the handle closes."""
        if self._stream is None:
            raise ValueError("this handle asked for no events, or gives them to its on_event")
        return self._stream

    # ---- contents and metadata ----

    def read(self) -> bytes:
        """The contents (from the cache while it is valid)."""
        return self.read_with_stat()[0]

    def read_with_stat(self) -> Tuple[bytes, Stat]:
        data = c_void_p()
        n = c_size_t()
        st = _lib.ChubbyStat()
        with self._use() as p:
            check(lib.chubby_get_contents(p, byref(data), byref(n), byref(st)))
        return take_bytes(data, n.value), Stat._from_c(st)

    def stat(self) -> Stat:
        """The metadata, asked of the master (the lock fields are current)."""
        st = _lib.ChubbyStat()
        with self._use() as p:
            check(lib.chubby_get_stat(p, byref(st)))
        return Stat._from_c(st)

    def children(self) -> List[str]:
        names = ctypes.POINTER(c_char_p)()
        n = c_size_t()
        with self._use() as p:
            check(lib.chubby_readdir(p, byref(names), byref(n)))
        try:
            return [names[i].decode("utf-8", "replace") for i in range(n.value)]
        finally:
            lib.chubby_free_names(names, n)

    ls = children

    def write(self, data: bytes) -> Stat:
        """Replaces the contents; returns the new stat."""
        data = bytes(data)
        st = _lib.ChubbyStat()
        with self._use() as p:
            check(lib.chubby_set_contents(p, data, len(data), byref(st)))
        return Stat._from_c(st)

    def _write_lock_record(self, data: bytes) -> Stat:
        """write(), as a record of the exclusive lock this handle holds:
        the cell clears the contents when that lock is freed."""
        data = bytes(data)
        st = _lib.ChubbyStat()
        with self._use() as p:
            check(lib.chubby_set_lock_record(p, data, len(data), byref(st)))
        return Stat._from_c(st)

    def compare_and_set(self, data: bytes, expected_gen: int) -> Stat:
        """Replaces the contents only while the content generation is
        EXPECTED_GEN (else GenerationMismatch); returns the new stat."""
        data = bytes(data)
        st = _lib.ChubbyStat()
        with self._use() as p:
            check(lib.chubby_set_contents_if(p, data, len(data), expected_gen, byref(st)))
        return Stat._from_c(st)

    def set_acl(self, read: Optional[str] = None, write: Optional[str] = None,
                change: Optional[str] = None) -> None:
        """Sets the ACL names (None keeps one; "" is open to all)."""
        arr = (c_char_p * 3)(_enc(read), _enc(write), _enc(change))
        with self._use() as p:
            check(lib.chubby_set_acl(p, arr))

    def delete(self) -> None:
        """Deletes the node (the handle stays open, and must be closed)."""
        with self._use() as p:
            check(lib.chubby_delete(p))

    def poison(self) -> None:
        """Later calls on this handle fail with Cancelled (Chubby 2.6)."""
        with self._use() as p:
            check(lib.chubby_poison(p))

    # ---- locks and sequencers ----

    def acquire(self, *, shared: bool = False, timeout: Optional[float] = None) -> None:
        """Takes the node's lock, waiting while it is held or in its
        lock-delay: up to TIMEOUT seconds (None: no limit), then Timeout.
        Locking needs a handle opened for writing (else PermissionDenied).
        The wait happens in C: a signal's Python handler runs only when it
        returns, so a program that must answer signals waits in rounds."""
        mode = LockMode.SHARED if shared else LockMode.EXCLUSIVE
        with self._use() as p:
            check(lib.chubby_acquire(p, int(mode), _ms(timeout, "timeout")))

    def try_acquire(self, *, shared: bool = False) -> bool:
        """Takes the lock if it is free now: False when it is held (Busy) or
        in its lock-delay (LockDelay)."""
        mode = LockMode.SHARED if shared else LockMode.EXCLUSIVE
        with self._use() as p:
            rc = lib.chubby_try_acquire(p, int(mode))
            if rc in (Busy.status, LockDelay.status):
                return False
            check(rc)
        return True

    def release(self) -> None:
        """Releases the lock (NotHeld if it does not hold it)."""
        with self._use() as p:
            check(lib.chubby_release(p))

    def sequencer(self) -> bytes:
        """The sequencer of the lock this handle holds: opaque bytes to
        hand to a resource server (chubby.SequencerKey.verify checks it
        offline; Cell.check_sequencer at the cell)."""
        seq = c_void_p()
        n = c_size_t()
        with self._use() as p:
            check(lib.chubby_get_sequencer(p, byref(seq), byref(n)))
        return take_bytes(seq, n.value)

    def set_sequencer(self, seq: Optional[bytes]) -> None:
        """Attaches a sequencer to this handle (None clears it): the cell
        then refuses this handle's calls once it is stale."""
        with self._use() as p:
            if seq is None:
                check(lib.chubby_set_sequencer(p, None, 0))
            else:
                check(lib.chubby_set_sequencer(p, bytes(seq), len(seq)))


class _Use:
    __slots__ = ("h",)

    def __init__(self, h: Handle) -> None:
        self.h = h

    def __enter__(self) -> int:
        h = self.h
        with h._mu:
            if h._closing or h._ptr is None:
                raise Cancelled(f"{h.path}: the handle is closed")
            h._inflight += 1
            return h._ptr

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.h._call_done()


# Sessions still open at exit are closed first, so that the event thread
# never calls into an interpreter being torn down, and their locks free at
# once instead of when their lease runs out.
@atexit.register
def _close_all() -> None:
    with _cells_mu:
        cells = list(_cells.values())
    for c in cells:
        try:
            c.close()
        except Exception:  # pragma: no cover - best effort at exit
            pass


