"""Exceptions: one class per libchubby status (CHUBBY_STATUS_LIST in
<chubby/chubby.h>), all under ChubbyError.

The classes are listed here (so that type checkers and readers see them);
a status the loaded library knows and this table does not (a newer
libchubby) gets a class made at import, so no status ever maps to the bare
base class.  `except chubby.NotFound:` is the usual way to use them.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from ._lib import lib


class ChubbyError(Exception):
    """A failed libchubby call.

    status  -- the status number (stable, as in chubby.h: 60 for E_NOT_FOUND)
    name    -- its name without prefix ("E_NOT_FOUND")
    message -- what the library said about this failure (chubby_last_error),
               or the status's fixed message when it said nothing
    """

    status: int = -1
    name: str = "E_UNKNOWN"

    def __init__(self, message: Optional[str] = None, status: Optional[int] = None) -> None:
        if status is not None:
            self.status = status
            self.name = _name(status)
        self.message = message or _strerror(self.status)
        # libchubby's messages mostly name the status already.
        text = self.message if self.name in self.message else f"{self.name}: {self.message}"
        super().__init__(text)


def _name(status: int) -> str:
    return (lib.chubby_status_name(status) or b"E_UNKNOWN").decode()


def _strerror(status: int) -> str:
    return (lib.chubby_strerror(status) or b"").decode()


class OutOfMemory(ChubbyError, MemoryError):
    """E_NOMEM (1): out of memory."""

    status = 1
    name = "E_NOMEM"


class InvalidArgument(ChubbyError, ValueError):
    """E_INVALID (2): invalid argument."""

    status = 2
    name = "E_INVALID"


class InternalError(ChubbyError):
    """E_INTERNAL (3): internal error."""

    status = 3
    name = "E_INTERNAL"


class Unsupported(ChubbyError):
    """E_UNSUPPORTED (4): operation not supported."""

    status = 4
    name = "E_UNSUPPORTED"


class Timeout(ChubbyError, TimeoutError):
    """E_TIMEOUT (5): timed out."""

    status = 5
    name = "E_TIMEOUT"


class Cancelled(ChubbyError):
    """E_CANCELLED (6): cancelled."""

    status = 6
    name = "E_CANCELLED"


class IOFailure(ChubbyError):
    """E_IO (7): input/output error."""

    status = 7
    name = "E_IO"


class ConfigError(ChubbyError):
    """E_CONFIG (8): bad configuration."""

    status = 8
    name = "E_CONFIG"


class LimitExceeded(ChubbyError):
    """E_LIMIT (9): limit exceeded."""

    status = 9
    name = "E_LIMIT"


class StorageError(ChubbyError):
    """E_STORE (10): storage error."""

    status = 10
    name = "E_STORE"


class Corrupted(ChubbyError):
    """E_CORRUPT (11): data corrupted."""

    status = 11
    name = "E_CORRUPT"


class Truncated(ChubbyError):
    """E_TRUNCATED (20): truncated input."""

    status = 20
    name = "E_TRUNCATED"


class FrameTooBig(ChubbyError):
    """E_FRAME_TOO_BIG (21): frame larger than the limit."""

    status = 21
    name = "E_FRAME_TOO_BIG"


class Malformed(ChubbyError):
    """E_MALFORMED (22): malformed message."""

    status = 22
    name = "E_MALFORMED"


class BadType(ChubbyError):
    """E_BAD_TYPE (23): field has the wrong type."""

    status = 23
    name = "E_BAD_TYPE"


class MissingField(ChubbyError):
    """E_MISSING (24): required field missing."""

    status = 24
    name = "E_MISSING"


class VersionMismatch(ChubbyError):
    """E_VERSION (25): protocol version not supported."""

    status = 25
    name = "E_VERSION"


class TLSError(ChubbyError):
    """E_TLS (26): TLS error."""

    status = 26
    name = "E_TLS"


class ConnectionFailed(ChubbyError):
    """E_CONN (27): connection failed or closed."""

    status = 27
    name = "E_CONN"


class NotAuthorized(ChubbyError):
    """E_AUTH (28): peer not authorized."""

    status = 28
    name = "E_AUTH"


class BadOperation(ChubbyError):
    """E_BAD_OP (29): unknown operation."""

    status = 29
    name = "E_BAD_OP"


class Overloaded(ChubbyError):
    """E_OVERLOAD (30): server overloaded, retry later."""

    status = 30
    name = "E_OVERLOAD"


class NotMaster(ChubbyError):
    """E_NOT_MASTER (40): replica is not the master."""

    status = 40
    name = "E_NOT_MASTER"


class BadEpoch(ChubbyError):
    """E_BAD_EPOCH (41): request carries an old epoch."""

    status = 41
    name = "E_BAD_EPOCH"


class Unavailable(ChubbyError):
    """E_UNAVAILABLE (42): no master reachable."""

    status = 42
    name = "E_UNAVAILABLE"


class SessionExpired(ChubbyError):
    """E_SESSION_EXPIRED (43): session expired."""

    status = 43
    name = "E_SESSION_EXPIRED"


class Jeopardy(ChubbyError):
    """E_JEOPARDY (44): session in jeopardy."""

    status = 44
    name = "E_JEOPARDY"


class BadSession(ChubbyError):
    """E_BAD_SESSION (45): unknown session."""

    status = 45
    name = "E_BAD_SESSION"


class BadHandle(ChubbyError):
    """E_BAD_HANDLE (46): invalid handle."""

    status = 46
    name = "E_BAD_HANDLE"


class NotFound(ChubbyError):
    """E_NOT_FOUND (60): no such node."""

    status = 60
    name = "E_NOT_FOUND"


class Exists(ChubbyError):
    """E_EXISTS (61): node already exists."""

    status = 61
    name = "E_EXISTS"


class NotEmpty(ChubbyError):
    """E_NOT_EMPTY (62): directory not empty."""

    status = 62
    name = "E_NOT_EMPTY"


class NotADirectory(ChubbyError):
    """E_NOT_DIR (63): not a directory."""

    status = 63
    name = "E_NOT_DIR"


class IsADirectory(ChubbyError):
    """E_IS_DIR (64): is a directory."""

    status = 64
    name = "E_IS_DIR"


class PermissionDenied(ChubbyError):
    """E_PERMISSION (65): permission denied."""

    status = 65
    name = "E_PERMISSION"


class GenerationMismatch(ChubbyError):
    """E_GEN_MISMATCH (66): content generation mismatch."""

    status = 66
    name = "E_GEN_MISMATCH"


class Busy(ChubbyError):
    """E_BUSY (67): lock is held."""

    status = 67
    name = "E_BUSY"


class LockDelay(ChubbyError):
    """E_LOCK_DELAY (68): lock is in its lock-delay."""

    status = 68
    name = "E_LOCK_DELAY"


class NotHeld(ChubbyError):
    """E_NOT_HELD (69): lock not held."""

    status = 69
    name = "E_NOT_HELD"


class StaleSequencer(ChubbyError):
    """E_STALE_SEQUENCER (70): sequencer is not current."""

    status = 70
    name = "E_STALE_SEQUENCER"


class BadSequencer(ChubbyError):
    """E_BAD_SEQUENCER (71): sequencer is forged or malformed."""

    status = 71
    name = "E_BAD_SEQUENCER"


class BadName(ChubbyError):
    """E_BAD_NAME (72): bad node name."""

    status = 72
    name = "E_BAD_NAME"


class TooLarge(ChubbyError):
    """E_TOO_LARGE (73): contents larger than the limit."""

    status = 73
    name = "E_TOO_LARGE"


_BY_STATUS: Dict[int, Type[ChubbyError]] = {
    cls.status: cls for cls in ChubbyError.__subclasses__()
}


def _fill_from_library() -> None:
    """Classes for statuses the library has and the table lacks.  Status
    numbers are below 128 (chubby.h's blocks end at 89); a newer library's
    codes are found by asking it for each number's name."""
    for status in range(1, 128):
        if status in _BY_STATUS:
            continue
        cname = _name(status)
        if cname == "E_UNKNOWN":
            continue
        pyname = "".join(p.capitalize() for p in cname[2:].split("_"))
        cls = type(pyname, (ChubbyError,), {
            "status": status, "name": cname, "__module__": __name__,
            "__doc__": f"{cname} ({status}): {_strerror(status)}.",
        })
        _BY_STATUS[status] = cls
        globals().setdefault(pyname, cls)


_fill_from_library()


def error_class(status: int) -> Type[ChubbyError]:
    """The exception class for a status number (ChubbyError if unknown)."""
    return _BY_STATUS.get(status, ChubbyError)


def error_for(status: int, message: Optional[str] = None) -> ChubbyError:
    """The exception to raise for STATUS, with MESSAGE (or the status's own)."""
    cls = error_class(status)
    if cls is ChubbyError:
        return ChubbyError(message, status=status)
    return cls(message)


def check(rc: int) -> None:
    """Raises the exception for a libchubby return code, with the library's
    own message about it (read at once: chubby_last_error is per thread and
    valid until this thread's next libchubby call)."""
    if rc != 0:
        msg = (lib.chubby_last_error() or b"").decode("utf-8", "replace")
        raise error_for(rc, msg or None)


# Listed, not computed, so that type checkers see the names.
__all__ = [
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
