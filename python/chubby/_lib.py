"""The ctypes mirror of <chubby/chubby.h>: finding libchubby, its structs and
the prototypes of the calls the binding makes.  Nothing here is public; the
rest of the package is written against these names only.

The structs must match chubby.h field for field: tests/integration/python
checks their sizes against a C build of the header (see test_python.sh).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import List, Optional

# Opaque handles: only ever passed back to the library.
ClientPtr = c_void_p
HandlePtr = c_void_p


class ChubbyEvent(Structure):
    _fields_ = [
        ("type", c_int),
        ("handle", c_void_p),
        ("path", c_char_p),
        # CONTENTS_MODIFIED: the content generation the write made, when the
        # master sent it (struct chubby_event's later fields).
        ("has_content_gen", c_bool),
        ("content_gen", c_uint64),
    ]


EVENT_FN = CFUNCTYPE(None, c_void_p, POINTER(ChubbyEvent), c_void_p)


class ChubbyOptions(Structure):
    _fields_ = [
        ("cell", c_char_p),
        ("cert_file", c_char_p),
        ("key_file", c_char_p),
        ("ca_file", c_char_p),
        ("name", c_char_p),
        ("open_timeout_ms", c_uint),
        ("call_timeout_ms", c_uint),
        ("lease_ms", c_uint),
        ("grace_ms", c_uint),
        ("on_event", EVENT_FN),
        ("event_arg", c_void_p),
    ]


class ChubbyOptionsExt(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("crl_file", c_char_p),
    ]


class ChubbyOpenArgs(Structure):
    _fields_ = [
        ("lock_delay_ms", c_uint64),
        ("have_lock_delay", c_bool),
        ("event_mask", c_uint32),
        ("contents", c_void_p),
        ("contents_len", c_size_t),
        ("acl", c_char_p * 3),
    ]


class ChubbyStat(Structure):
    _fields_ = [
        ("instance", c_uint64),
        ("content_gen", c_uint64),
        ("lock_gen", c_uint64),
        ("acl_gen", c_uint64),
        ("checksum", c_uint64),
        ("length", c_uint64),
        ("created_ms", c_uint64),
        ("modified_ms", c_uint64),
        ("is_dir", c_bool),
        ("ephemeral", c_bool),
        ("lock_mode", c_int),
        ("lock_holders", c_uint64),
        ("lock_delay_until_ms", c_uint64),
        ("acl", (c_char * 256) * 3),
    ]


class ChubbySequencerInfo(Structure):
    _fields_ = [
        ("cell", c_char * 256),
        ("path", c_char * 1025),
        ("mode", c_int),
        ("lock_gen", c_uint64),
        ("instance", c_uint64),
    ]


def _candidates() -> List[str]:
    """Where libchubby may be, in the order the binding tries them:
    $CHUBBY_LIBRARY, the system's search (ldconfig), then a build tree this
    package sits in (python/chubby in the source tree, with the build in the
    source tree itself or in build/ beside it)."""
    found: List[str] = []
    env = os.environ.get("CHUBBY_LIBRARY")
    if env:
        # Named explicitly: no fallback, so a wrong setting is seen.
        return [env]
    name = ctypes.util.find_library("chubby")
    if name:
        found.append(name)
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.dirname(os.path.dirname(here))
    for top in (src, os.path.join(src, "build")):
        found.append(os.path.join(top, "libchubby", ".libs", "libchubby.so"))
    return found


def load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            # CDLL (not PyDLL): every call releases the GIL, so a call that
            # blocks (an acquire, a fail-over) never stops the event thread's
            # callbacks or other Python threads.
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        _declare(lib)
        return lib
    raise ImportError(
        "chubby: cannot load libchubby (set CHUBBY_LIBRARY to libchubby.so.0): "
        + ("; ".join(errors) or "not found by ctypes.util.find_library('chubby')")
    )


def _fn(lib: ctypes.CDLL, name: str, restype: Optional[type], *argtypes: type) -> None:
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


def _declare(lib: ctypes.CDLL) -> None:
    vpp = POINTER(c_void_p)
    szp = POINTER(c_size_t)
    stp = POINTER(ChubbyStat)
    _fn(lib, "chubby_strerror", c_char_p, c_int)
    _fn(lib, "chubby_status_name", c_char_p, c_int)
    _fn(lib, "chubby_status_from_name", c_int, c_char_p)
    _fn(lib, "chubby_version", c_char_p)
    _fn(lib, "chubby_last_error", c_char_p)
    _fn(lib, "chubby_free", None, c_void_p)
    _fn(lib, "chubby_open_ext", c_int, POINTER(ChubbyOptions), POINTER(ChubbyOptionsExt),
        POINTER(ClientPtr))
    _fn(lib, "chubby_close", None, ClientPtr)
    _fn(lib, "chubby_session_id", c_uint64, ClientPtr)
    _fn(lib, "chubby_session_state", c_int, ClientPtr)
    _fn(lib, "chubby_handle_open", c_int, ClientPtr, c_char_p, c_uint, POINTER(ChubbyOpenArgs),
        POINTER(HandlePtr), POINTER(c_bool))
    _fn(lib, "chubby_handle_close", c_int, HandlePtr)
    _fn(lib, "chubby_poison", c_int, HandlePtr)
    _fn(lib, "chubby_get_contents", c_int, HandlePtr, vpp, szp, stp)
    _fn(lib, "chubby_get_stat", c_int, HandlePtr, stp)
    _fn(lib, "chubby_readdir", c_int, HandlePtr, POINTER(POINTER(c_char_p)), szp)
    _fn(lib, "chubby_free_names", None, POINTER(c_char_p), c_size_t)
    _fn(lib, "chubby_set_contents", c_int, HandlePtr, c_void_p, c_size_t, stp)
    _fn(lib, "chubby_set_contents_if", c_int, HandlePtr, c_void_p, c_size_t, c_uint64, stp)
    _fn(lib, "chubby_set_lock_record", c_int, HandlePtr, c_void_p, c_size_t, stp)
    _fn(lib, "chubby_set_acl", c_int, HandlePtr, POINTER(c_char_p))
    _fn(lib, "chubby_delete", c_int, HandlePtr)
    _fn(lib, "chubby_acquire", c_int, HandlePtr, c_int, c_uint)
    _fn(lib, "chubby_try_acquire", c_int, HandlePtr, c_int)
    _fn(lib, "chubby_release", c_int, HandlePtr)
    _fn(lib, "chubby_get_sequencer", c_int, HandlePtr, vpp, szp)
    _fn(lib, "chubby_set_sequencer", c_int, HandlePtr, c_void_p, c_size_t)
    _fn(lib, "chubby_check_sequencer", c_int, ClientPtr, c_void_p, c_size_t)
    _fn(lib, "chubby_elect", c_int, ClientPtr, c_char_p, c_char_p, c_uint, POINTER(HandlePtr))
    _fn(lib, "chubby_leader", c_int, ClientPtr, c_char_p, POINTER(c_void_p), POINTER(HandlePtr))
    _fn(lib, "chubby_sequencer_key_load", c_int, c_char_p, vpp, szp)
    _fn(lib, "chubby_sequencer_verify", c_int, c_void_p, c_size_t, c_void_p, c_size_t,
        POINTER(ChubbySequencerInfo))
    _fn(lib, "chubby_sequencer_parse", c_int, c_void_p, c_size_t, POINTER(ChubbySequencerInfo))
    _fn(lib, "chubby_sequencer_compare", c_int, c_void_p, c_size_t, c_void_p, c_size_t,
        POINTER(c_int))


lib = load()


def take_bytes(ptr: c_void_p, n: int) -> bytes:
    """Copies N bytes the library handed out at PTR and frees them."""
    try:
        return ctypes.string_at(ptr, n) if n else b""
    finally:
        lib.chubby_free(ptr)
