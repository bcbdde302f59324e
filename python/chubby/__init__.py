"""chubby: the Python binding of libchubby, the client library of the chubby
lock service (docs/PYTHON.md).

    import chubby
    with chubby.Cell("/etc/chubby/chubby.conf") as cell:
        with cell.lock("/ls/local/app/cron"):
            ...
        with cell.elect("/ls/local/svc/leader", "host-1:8080") as lead:
            ...

libchubby.so is found through $CHUBBY_LIBRARY, then the system's library
search (ctypes.util.find_library), then the build tree this package sits in.
"""

from __future__ import annotations

from ._client import Cell, EventCallback, Handle
from . import _lib
from .errors import (  # one class per status
    ChubbyError as ChubbyError,
    error_class as error_class,
    error_for as error_for,
    OutOfMemory as OutOfMemory,
    InvalidArgument as InvalidArgument,
    InternalError as InternalError,
    Unsupported as Unsupported,
    Timeout as Timeout,
    Cancelled as Cancelled,
    IOFailure as IOFailure,
    ConfigError as ConfigError,
    LimitExceeded as LimitExceeded,
    StorageError as StorageError,
    Corrupted as Corrupted,
    Truncated as Truncated,
    FrameTooBig as FrameTooBig,
    Malformed as Malformed,
    BadType as BadType,
    MissingField as MissingField,
    VersionMismatch as VersionMismatch,
    TLSError as TLSError,
    ConnectionFailed as ConnectionFailed,
    NotAuthorized as NotAuthorized,
    BadOperation as BadOperation,
    Overloaded as Overloaded,
    NotMaster as NotMaster,
    BadEpoch as BadEpoch,
    Unavailable as Unavailable,
    SessionExpired as SessionExpired,
    Jeopardy as Jeopardy,
    BadSession as BadSession,
    BadHandle as BadHandle,
    NotFound as NotFound,
    Exists as Exists,
    NotEmpty as NotEmpty,
    NotADirectory as NotADirectory,
    IsADirectory as IsADirectory,
    PermissionDenied as PermissionDenied,
    GenerationMismatch as GenerationMismatch,
    Busy as Busy,
    LockDelay as LockDelay,
    NotHeld as NotHeld,
    StaleSequencer as StaleSequencer,
    BadSequencer as BadSequencer,
    BadName as BadName,
    TooLarge as TooLarge,
)
from .events import EventStream
from .recipes import Leadership, Lock
from .sequencer import SequencerInfo, SequencerKey, compare_sequencers, parse_sequencer
from .types import Event, EventType, LockMode, OpenFlags, SessionState, Stat

#: Another name for Cell: one client session with a cell.
Client = Cell


def version() -> str:
    """libchubby's version, "MAJOR.MINOR.PATCH"."""
    return str(_lib.lib.chubby_version().decode())


def strerror(status: int) -> str:
    """The fixed English message of a status number."""
    return str(_lib.lib.chubby_strerror(status).decode())


def status_name(status: int) -> str:
    """A status number's name ("E_NOT_FOUND"); "E_UNKNOWN" if none."""
    return str(_lib.lib.chubby_status_name(status).decode())


__version__ = version()

__all__ = [
    "Cell", "Client", "Handle", "Lock", "Leadership", "Event", "EventType", "EventStream",
    "EventCallback", "LockMode", "OpenFlags", "SessionState", "Stat", "SequencerInfo",
    "SequencerKey", "compare_sequencers", "parse_sequencer", "version", "strerror",
    "status_name",
    "ChubbyError",
    "error_class",
    "error_for",
    "OutOfMemory",
    "InvalidArgument",
    "InternalError",
    "Unsupported",
    "Timeout",
    "Cancelled",
    "IOFailure",
    "ConfigError",
    "LimitExceeded",
    "StorageError",
    "Corrupted",
    "Truncated",
    "FrameTooBig",
    "Malformed",
    "BadType",
    "MissingField",
    "VersionMismatch",
    "TLSError",
    "ConnectionFailed",
    "NotAuthorized",
    "BadOperation",
    "Overloaded",
    "NotMaster",
    "BadEpoch",
    "Unavailable",
    "SessionExpired",
    "Jeopardy",
    "BadSession",
    "BadHandle",
    "NotFound",
    "Exists",
    "NotEmpty",
    "NotADirectory",
    "IsADirectory",
    "PermissionDenied",
    "GenerationMismatch",
    "Busy",
    "LockDelay",
    "NotHeld",
    "StaleSequencer",
    "BadSequencer",
    "BadName",
    "TooLarge",
]
