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
from .errors import *  # noqa: F401,F403 - one class per status
from .errors import ChubbyError, error_class
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
    "SequencerKey", "compare_sequencers", "parse_sequencer", "ChubbyError", "error_class",
    "version", "strerror", "status_name",
] + [c.__name__ for c in ChubbyError.__subclasses__()]
