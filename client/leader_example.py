#!/usr/bin/python3
"""leader_example.py: a service that runs its work only while it leads.

Every copy campaigns for PATH with its IDENTITY (say host:port); the one
holding the lock does the work, here a line a second that carries its
sequencer's lock generation, which is what a real service would pass to the
servers it writes to so that they refuse a deposed leader (docs/PYTHON.md,
docs/SEQUENCER.md).  Others wait.  SIGTERM or SIGINT steps down cleanly: the
identity is cleared and the lock freed at once, so the next candidate takes
over without waiting for a session lease to run out.  If leadership is lost
(the session expired, the node was deleted) the work stops at once and the
service campaigns again, on a new session if its own is gone.

    leader_example.py [-C CELL] [--path PATH] [--identity ID] [--interval S]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from typing import Optional

import chubby

stop = threading.Event()


def say(msg: str) -> None:
    print(msg, flush=True)


def campaign(cell: chubby.Cell, path: str, identity: str) -> Optional[chubby.Leadership]:
    """Waits to lead PATH; None when asked to stop first.  The wait is cut in
    one-second rounds so that a signal is acted on (a call blocked in
    libchubby does not run Python's signal handlers until it returns)."""
    while not stop.is_set():
        try:
            return cell.elect(path, identity, timeout=1.0)
        except chubby.Timeout:
            continue
    return None


def lead(lead: chubby.Leadership, interval: float) -> None:
    """The work, while leadership lasts and nobody asked to stop."""
    gen = chubby.parse_sequencer(lead.sequencer).lock_gen
    n = 0
    while not stop.is_set():
        if lead.lost.is_set() or (n % 5 == 4 and not lead.is_leader()):
            say(f"lost leadership of {lead.path}")
            return
        n += 1
        say(f"work {n} as {lead.identity} lock_gen={gen}")
        stop.wait(interval)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-C", "--cell", default=os.environ.get("CHUBBY_CELL"),
                    help="cell config, host:port list or DNS name ($CHUBBY_CELL)")
    ap.add_argument("--path", default="/ls/local/svc/leader")
    ap.add_argument("--identity", default=f"{socket.gethostname()}:{os.getpid()}")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between work items")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    while not stop.is_set():
        try:
            cell = chubby.Cell(args.cell, name="leader_example")
        except chubby.ChubbyError as e:
            say(f"cannot open the cell: {e}")
            stop.wait(1.0)
            continue
        with cell:
            while not stop.is_set() and cell.state != chubby.SessionState.EXPIRED:
                say(f"campaigning for {args.path} as {args.identity}")
                try:
                    leadership = campaign(cell, args.path, args.identity)
                except chubby.SessionExpired:
                    break
                except chubby.ChubbyError as e:  # no master for now, say
                    say(f"campaign failed: {e}")
                    stop.wait(1.0)
                    continue
                if leadership is None:
                    break
                with leadership:  # steps down (clears the identity) on the way out
                    say(f"leader of {args.path} as {args.identity}")
                    lead(leadership, args.interval)
                if stop.is_set():
                    say(f"stepped down from {args.path}")
    say("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
