"""Locks and leader election as context managers, over Cell and Handle."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Optional, Type

from .errors import ChubbyError, NotHeld
from .types import Event, EventType, LockMode, SessionState

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Cell, Handle


class Lock:
    """The lock of one node (Cell.lock).  `with cell.lock(path) as lk:`
    takes it and releases it at the end; acquire()/try_acquire()/release()
    do the same by hand.  The node's handle is opened on the first acquire
    and closed on release, which frees the lock even if the release could
    not be sent (the handle's close frees it at the master)."""

    def __init__(self, cell: "Cell", path: str, *, shared: bool = False,
                 timeout: Optional[float] = None, create: bool = True) -> None:
        self.cell = cell
        self.path = path
        self.shared = shared
        self.timeout = timeout
        self.create = create
        self.handle: Optional["Handle"] = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this Lock took the lock and has not released it (local
        knowledge: Handle.stat() or Cell.check_sequencer() ask the cell)."""
        return self._held

    @property
    def mode(self) -> LockMode:
        return LockMode.SHARED if self.shared else LockMode.EXCLUSIVE

    def _handle(self) -> "Handle":
        if self.handle is None or self.handle.closed:
            self.handle = self.cell.open(self.path, write=True, create=self.create)
        return self.handle

    def acquire(self, timeout: Optional[float] = None) -> None:
        """Takes the lock, waiting up to TIMEOUT seconds (default: the
        Lock's own; None: no limit); Timeout after."""
        h = self._handle()
        try:
            h.acquire(shared=self.shared, timeout=self.timeout if timeout is None else timeout)
        except BaseException:
            self._close()
            raise
        self._held = True

    def try_acquire(self) -> bool:
        """Takes the lock if it is free now; False if not."""
        h = self._handle()
        try:
            ok = h.try_acquire(shared=self.shared)
        except BaseException:
            self._close()
            raise
        if not ok:
            self._close()
        self._held = ok
        return ok

    def release(self) -> None:
        """Releases the lock and closes its handle."""
        if self.handle is None:
            raise NotHeld(f"{self.path}: this Lock does not hold it")
        try:
            if self._held:
                self.handle.release()
        finally:
            self._close()

    def _close(self) -> None:
        self._held = False
        h, self.handle = self.handle, None
        if h is not None:
            h.close()

    def sequencer(self) -> bytes:
        """The held lock's sequencer (see Handle.sequencer)."""
        if self.handle is None or not self._held:
            raise NotHeld(f"{self.path}: this Lock does not hold it")
        return self.handle.sequencer()

    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        try:
            self.release()
        except ChubbyError:
            # The handle's close (in release) frees the lock at the master
            # whatever the release said; do not hide the block's exception.
            if et is None:
                raise


class Leadership:
    """This session leads PATH (Cell.elect): it holds the node's exclusive
    lock and wrote its identity into it.  step_down() (or the end of a
    `with` block) clears the identity and closes the handle, which frees the
    lock for the next candidate.

    `lost` is a threading.Event set when leadership is lost without
    stepping down: the session expired, or the handle became invalid (the
    node was deleted).  A leader doing work checks it (or is_leader(), which
    asks the cell) and stops when it is set; work that reaches other
    servers carries the sequencer, so a deposed leader's late request is
    refused there (docs/SEQUENCER.md)."""

    def __init__(self, cell: "Cell", handle: "Handle", identity: str) -> None:
        self.cell = cell
        self.handle = handle
        self.path = handle.path
        self.identity = identity
        self.lost = threading.Event()
        self._seq = handle.sequencer()
        cell._watch(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.type == EventType.EXPIRED or (
                ev.type == EventType.HANDLE_INVALID and ev.handle is self.handle):
            self.lost.set()

    @property
    def sequencer(self) -> bytes:
        """The sequencer of the leader's lock, taken when elected."""
        return self._seq

    def is_leader(self) -> bool:
        """Asks the cell whether this session still holds the lock it was
        elected with (its sequencer is current)."""
        if self.lost.is_set() or self.handle.closed:
            return False
        if self.cell.state not in (SessionState.SAFE, SessionState.JEOPARDY):
            return False
        try:
            return self.cell.check_sequencer(self._seq)
        except ChubbyError:
            return False

    def step_down(self) -> None:
        """Clears the identity (so that no reader takes the node's contents
        for a leader) and frees the lock.  Idempotent."""
        self.cell._unwatch(self._on_event)
        if self.handle.closed:
            return
        try:
            if not self.lost.is_set():
                # The handle still holds the lock, so the node is still
                # ours; a handle whose session or node went fails here
                # instead of wiping a successor's identity.
                self.handle.write(b"")
        except ChubbyError:
            pass  # stale or session gone: the successor's contents stay
        try:
            self.handle.close()
        except ChubbyError:
            pass  # the handle is freed whatever the close said; so is the lock

    def __enter__(self) -> "Leadership":
        return self

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.step_down()
