"""Plain values the binding hands out: flags, enums, a node's stat, events."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional, Tuple, Union

from ._lib import ChubbyStat

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Handle


class OpenFlags(enum.IntFlag):
    """CHUBBY_O_* (docs/NAMESPACE.md)."""

    READ = 0x01
    WRITE = 0x02
    CREATE = 0x04
    EXCL = 0x08
    EPHEMERAL = 0x10
    DIR = 0x20


class LockMode(enum.IntEnum):
    FREE = 0
    SHARED = 1
    EXCLUSIVE = 2


class SessionState(enum.IntEnum):
    """chubby_session_state(): see docs/CLIENT.md "Jeopardy and the grace period"."""

    SAFE = 1
    JEOPARDY = 2
    EXPIRED = 3
    CLOSED = 4


class EventType(enum.IntEnum):
    """The numbers of docs/PROTOCOL.md "Events"; 64.. are the session's own."""

    CONTENTS_MODIFIED = 1
    CHILD_ADDED = 2
    CHILD_REMOVED = 3
    CHILD_MODIFIED = 4
    LOCK_ACQUIRED = 5
    CONFLICTING_LOCK = 6
    HANDLE_INVALID = 7
    MASTER_FAILOVER = 8
    JEOPARDY = 64
    SAFE = 65
    EXPIRED = 66

    @property
    def mask(self) -> int:
        """The bit for chubby_open_args.event_mask (handle events 1..7 only)."""
        if not 1 <= self.value <= 7:
            raise ValueError(f"{self.name} is not a handle event")
        return 1 << (self.value - 1)


#: What Cell.open(events=...) takes: a mask, one EventType or several.
EventsArg = Union[int, EventType, Iterable[EventType]]


def event_mask(events: EventsArg) -> int:
    """A handle's event mask from an int mask, one EventType or several."""
    if isinstance(events, EventType):
        return events.mask
    if isinstance(events, int):
        return events
    m = 0
    for e in events:
        m |= EventType(e).mask
    return m


@dataclass(frozen=True)
class Event:
    """One event.  `handle` is the Handle it concerns (None for the
    session's own events: JEOPARDY, SAFE, EXPIRED, MASTER_FAILOVER, and for
    a handle the binding no longer knows); `path` is the node's path, None
    for session events; `content_gen` is, for CONTENTS_MODIFIED, the file's
    content generation the write made (None when the master did not say)."""

    type: EventType
    path: Optional[str]
    handle: Optional["Handle"] = field(default=None, compare=False)
    content_gen: Optional[int] = field(default=None, compare=False)

    @property
    def is_session_event(self) -> bool:
        return self.path is None


def _ms_to_datetime(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)


@dataclass(frozen=True)
class Stat:
    """A node's metadata (Chubby 2.3).  The lock fields are current only
    from Handle.stat() / Cell.stat(); with contents they are as cached."""

    instance: int
    content_gen: int
    lock_gen: int
    acl_gen: int
    checksum: int
    length: int
    created_ms: int
    modified_ms: int
    is_dir: bool
    ephemeral: bool
    lock_mode: LockMode
    lock_holders: int
    lock_delay_until_ms: int
    acl: Tuple[str, str, str]  # read, write, change-ACL names; "" is open to all

    @property
    def created(self) -> datetime.datetime:
        return _ms_to_datetime(self.created_ms)

    @property
    def modified(self) -> datetime.datetime:
        return _ms_to_datetime(self.modified_ms)

    @classmethod
    def _from_c(cls, st: ChubbyStat) -> "Stat":
        acl = tuple(bytes(a.value).decode("utf-8", "replace") for a in st.acl)
        return cls(
            instance=st.instance, content_gen=st.content_gen, lock_gen=st.lock_gen,
            acl_gen=st.acl_gen, checksum=st.checksum, length=st.length,
            created_ms=st.created_ms, modified_ms=st.modified_ms, is_dir=bool(st.is_dir),
            ephemeral=bool(st.ephemeral), lock_mode=LockMode(st.lock_mode),
            lock_holders=st.lock_holders, lock_delay_until_ms=st.lock_delay_until_ms,
            acl=(acl[0], acl[1], acl[2]),
        )
