"""Sequencers checked offline, by a resource server that never talks to the
cell (docs/SEQUENCER.md, chubby_sequencer_verify(3)).

The cell signs sequencers with HMAC-SHA256 under its sequencer key file
(config sequencer_key_file): a resource server holding a copy of that file
verifies a sequencer's signature, then keeps the highest one seen per lock
(compare_sequencers) and refuses an older one: that is what fences a
deposed holder.  The key is a shared secret, not a public key: guard the
copy like the cell's own.
"""

from __future__ import annotations

import os
from ctypes import byref, c_int, c_size_t, c_void_p
from dataclasses import dataclass
from typing import Union

from ._lib import ChubbySequencerInfo, lib, take_bytes
from .errors import ConfigError, check
from .types import LockMode

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SequencerInfo:
    """What a sequencer names."""

    cell: str
    path: str
    mode: LockMode
    lock_gen: int  # increases on every free->held transition of the lock
    instance: int  # the node's instance: higher for a node made later

    @classmethod
    def _from_c(cls, i: ChubbySequencerInfo) -> "SequencerInfo":
        return cls(cell=i.cell.decode("utf-8", "replace"), path=i.path.decode("utf-8", "replace"),
                   mode=LockMode(i.mode), lock_gen=i.lock_gen, instance=i.instance)


class SequencerKey:
    """A cell's sequencer key, for SequencerKey.verify()."""

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)

    def __repr__(self) -> str:
        return f"<chubby.SequencerKey {len(self._key)} bytes>"  # never the key itself

    @classmethod
    def load(cls, path: PathLike) -> "SequencerKey":
        """Loads a key file (hex text, mode 0600 or stricter), as the cell
        does: ConfigError (bad contents or permissions), IOFailure."""
        key = c_void_p()
        n = c_size_t()
        check(lib.chubby_sequencer_key_load(os.fsencode(path), byref(key), byref(n)))
        return cls(take_bytes(key, n.value))

    @classmethod
    def from_config(cls, config: PathLike) -> "SequencerKey":
        """Loads the key file a cell config names (sequencer_key_file)."""
        with open(config, encoding="utf-8") as f:
            for line in f:
                k, sep, v = line.partition("=")
                if sep and k.strip() == "sequencer_key_file":
                    v = v.split("#", 1)[0].strip()
                    return cls.load(os.path.join(os.path.dirname(os.fspath(config)), v))
        raise ConfigError(f"{os.fspath(config)}: no sequencer_key_file")

    def verify(self, seq: bytes) -> SequencerInfo:
        """Checks SEQ's signature and returns what it names; BadSequencer
        when it is forged, damaged, unsigned or signed with another key.
        Says nothing about whether the lock is still held: compare with
        the highest sequencer seen for the lock (compare_sequencers)."""
        seq = bytes(seq)
        info = ChubbySequencerInfo()
        check(lib.chubby_sequencer_verify(self._key, len(self._key), seq, len(seq), byref(info)))
        return SequencerInfo._from_c(info)


def parse_sequencer(seq: bytes) -> SequencerInfo:
    """Decodes SEQ WITHOUT checking its signature (for display only)."""
    seq = bytes(seq)
    info = ChubbySequencerInfo()
    check(lib.chubby_sequencer_parse(seq, len(seq), byref(info)))
    return SequencerInfo._from_c(info)


def compare_sequencers(a: bytes, b: bytes) -> int:
    """<0, 0, >0 as A is older than, as old as, or newer than B (two
    sequencers of the same lock; InvalidArgument if they name different
    locks).  Verify both first: this does not."""
    a, b = bytes(a), bytes(b)
    cmp = c_int()
    check(lib.chubby_sequencer_compare(a, len(a), b, len(b), byref(cmp)))
    return cmp.value


__all__ = ["SequencerInfo", "SequencerKey", "parse_sequencer", "compare_sequencers"]
