"""Events as an iterator: a thread-safe queue that the library's event thread
feeds (through the binding's one C callback) and any Python thread reads."""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Callable, Iterator, Optional, Type, Union

from .types import Event

_END = object()  # put once when the stream ends (closed, or its source went)


class EventStream(Iterator[Event]):
    """Events in the order the library delivered them.  Iterating blocks
    for the next event and stops when the stream is closed or its source
    (the Cell, or the Handle) closes.  Nothing is dropped: the queue grows
    until read, so close a stream you stop reading."""

    def __init__(self, on_close: Optional[Callable[["EventStream"], None]] = None) -> None:
        self._q: "queue.SimpleQueue[Union[Event, object]]" = queue.SimpleQueue()
        self._ended = threading.Event()
        self._on_close = on_close

    # Fed from the event thread.
    def _put(self, ev: Event) -> None:
        if not self._ended.is_set():
            self._q.put(ev)

    def _end(self) -> None:
        if not self._ended.is_set():
            self._ended.set()
            self._q.put(_END)

    @property
    def ended(self) -> bool:
        """True once closed or its source closed (events queued before may
        still be read)."""
        return self._ended.is_set()

    def get(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event; None when none comes within TIMEOUT seconds (None:
        wait without limit) or the stream has ended."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._q.put(_END)  # every later read ends too
            return None
        assert isinstance(item, Event)
        return item

    def __next__(self) -> Event:
        ev = self.get()
        if ev is None:
            raise StopIteration
        return ev

    def __iter__(self) -> "EventStream":
        return self

    def close(self) -> None:
        """Stops delivery to this stream and drops what it holds unread
        (idempotent): reads return None, iteration stops."""
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None
        self._ended.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._q.put(_END)

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, et: Optional[Type[BaseException]], ev: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
