"""python_binding.py: the chubby Python binding against a real cell
(run by test_python.sh with Debian's /usr/bin/python3 and unittest).

Environment (set by test_python.sh):
  CHUBBY_CELL          the cell's chubby.conf (a 5-replica cell "local")
  CELL_DIR             its chubby-cell directory (TLS files, replica pids)
  CHUBBY_CELL_BIN      tools/chubby-cell, LOCKCTL tools/lockctl/lockctl
  REPLICAS             "host:port,..." of the replicas' client ports
  BOB_CERT, BOB_KEY    a client certificate of an ordinary user
  C_SIZES              "name=size ..." of the C structs, from a C build of chubby.h
  CHUBBY_HEADER        libchubby/include/chubby/chubby.h

Prints "ok - NAME" / "FAIL - NAME" per test and a SUMMARY line for
lib.sh's sub_results.  Every wait is bounded.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import unittest
import uuid
from typing import List, Optional

import chubby
from chubby import EventType, LockMode, SessionState
from chubby import _lib as lowlevel

CONF = os.environ["CHUBBY_CELL"]
CELL_DIR = os.environ["CELL_DIR"]
WAIT = 30.0  # seconds any one expected event may take on a loaded machine


def fresh(name: str) -> str:
    """A path no other test uses."""
    return f"/ls/local/py-{name}-{uuid.uuid4().hex[:8]}"


def wait_until(pred, timeout: float = WAIT, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def next_event(stream: chubby.EventStream, etype: EventType,
               timeout: float = WAIT) -> Optional[chubby.Event]:
    """The next event of type ETYPE from STREAM (others are skipped)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        ev = stream.get(timeout=left)
        if ev is None:
            return None
        if ev.type == etype:
            return ev


class Offline(unittest.TestCase):
    """What needs the library but no cell."""

    def test_every_status_has_its_class(self) -> None:
        with open(os.environ["CHUBBY_HEADER"], encoding="utf-8") as f:
            listed = re.findall(r'X\((E_\w+), (\d+), "([^"]*)"\)', f.read())
        self.assertGreater(len(listed), 40)
        seen: set = set()
        for name, num, msg in listed:
            cls = chubby.error_class(int(num))
            self.assertTrue(issubclass(cls, chubby.ChubbyError), name)
            self.assertIsNot(cls, chubby.ChubbyError, name)
            self.assertEqual((cls.status, cls.name), (int(num), name))
            self.assertNotIn(cls, seen)
            seen.add(cls)
            e = cls()
            self.assertEqual((e.status, e.name, e.message), (int(num), name, msg))
            self.assertIn(cls.__name__, chubby.__all__)
            self.assertIs(getattr(chubby, cls.__name__), cls)
            self.assertEqual(chubby.status_name(int(num)), name)
            self.assertEqual(chubby.strerror(int(num)), msg)
        self.assertIs(chubby.error_class(60), chubby.NotFound)
        self.assertIs(chubby.error_class(61), chubby.Exists)
        self.assertIs(chubby.error_class(65), chubby.PermissionDenied)
        self.assertTrue(issubclass(chubby.Timeout, TimeoutError))
        self.assertIs(chubby.error_class(12345), chubby.ChubbyError)
        self.assertEqual(chubby.error_for(12345).name, "E_UNKNOWN")

    def test_struct_layouts_match_the_header(self) -> None:
        sizes = dict(kv.split("=") for kv in os.environ["C_SIZES"].split())
        ours = {
            "chubby_options": lowlevel.ChubbyOptions, "chubby_options_ext": lowlevel.ChubbyOptionsExt,
            "chubby_open_args": lowlevel.ChubbyOpenArgs, "chubby_stat": lowlevel.ChubbyStat,
            "chubby_sequencer_info": lowlevel.ChubbySequencerInfo, "chubby_event": lowlevel.ChubbyEvent,
        }
        for name, st in ours.items():
            self.assertEqual(ctypes.sizeof(st), int(sizes[name]), name)
        # Offsets of the fields after the ones most likely to drift.
        for kv in os.environ["C_OFFSETS"].split():
            key, off = kv.split("=")
            sname, field = key.split(".")
            self.assertEqual(getattr(ours[sname], field).offset, int(off), key)

    def test_offline_sequencer_errors(self) -> None:
        with self.assertRaises(chubby.BadSequencer):
            chubby.parse_sequencer(b"not a sequencer")
        with self.assertRaises(chubby.InvalidArgument):
            chubby.SequencerKey(b"").verify(b"x")
        with self.assertRaises(chubby.IOFailure) as cm:
            chubby.SequencerKey.load("/nonexistent/seq.key")
        self.assertIn("/nonexistent/seq.key", str(cm.exception))

    def test_a_cell_that_does_not_answer(self) -> None:
        # Explicit TLS files (no config to take them from), a replica list,
        # and a short open timeout: Unavailable, within a generous bound.
        tls = os.path.join(CELL_DIR, "tls")
        t0 = time.monotonic()
        with self.assertRaises(chubby.Unavailable):
            chubby.Cell(["127.0.0.1:1"], cert=os.path.join(tls, "client-admin.crt"),
                        key=os.path.join(tls, "client-admin.key"),
                        ca=os.path.join(tls, "ca.crt"), open_timeout=0.5)
        self.assertLess(time.monotonic() - t0, 20)  # not the 10 s default twice over
        with self.assertRaises(chubby.ConfigError):
            chubby.Cell("127.0.0.1:1", open_timeout=0.5)  # no CA anywhere
        with self.assertRaises(chubby.IOFailure):
            chubby.Cell(CONF, cert="/nonexistent.crt", key="/nonexistent.key", open_timeout=2)


class Sessions(unittest.TestCase):
    def test_open_with_a_config_and_close(self) -> None:
        with chubby.Cell(CONF, name="py-test") as cell:
            self.assertEqual(cell.state, SessionState.SAFE)
            self.assertGreater(cell.session_id, 0)
            h = cell.open("/ls/local")
        self.assertTrue(cell.closed)
        self.assertEqual(cell.state, SessionState.CLOSED)
        self.assertTrue(h.closed)
        with self.assertRaises(chubby.Cancelled):
            h.read()
        with self.assertRaises(chubby.Cancelled):
            cell.get("/ls/local")
        cell.close()  # idempotent

    def test_open_with_a_replica_list_and_tls_files(self) -> None:
        tls = os.path.join(CELL_DIR, "tls")
        replicas = os.environ["REPLICAS"].split(",")
        with chubby.Client(replicas, cert=os.path.join(tls, "client-admin.crt"),
                           key=os.path.join(tls, "client-admin.key"),
                           ca=os.path.join(tls, "ca.crt"), open_timeout=20,
                           call_timeout=20) as cell:
            self.assertEqual(cell.state, SessionState.SAFE)
            p = fresh("list")
            cell.set(p, b"via the list")
            self.assertEqual(cell.get(p), b"via the list")

    def test_closing_frees_locks_at_once(self) -> None:
        p = fresh("closefree")
        with chubby.Cell(CONF) as a, chubby.Cell(CONF) as b:
            a.open(p, create=True).acquire()
            with b.open(p, write=True) as hb:
                self.assertFalse(hb.try_acquire())
                a.close()
                # Freed by SESSION_END, not after a 12 s lease.
                hb.acquire(timeout=10)


class Nodes(unittest.TestCase):
    cell: chubby.Cell
    other: chubby.Cell

    @classmethod
    def setUpClass(cls) -> None:
        cls.cell = chubby.Cell(CONF)
        cls.other = chubby.Cell(CONF)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cell.close()
        cls.other.close()

    def test_bytes_in_and_out(self) -> None:
        p = fresh("bytes")
        data = bytes(range(256)) + b"\x00a\x00"
        st = self.cell.set(p, data)
        self.assertEqual((st.content_gen, st.length), (1, len(data)))
        self.assertEqual(self.other.get(p), data)
        got, st2 = self.other.get_with_stat(p)
        self.assertEqual((got, st2.content_gen, st2.is_dir, st2.lock_mode), (data, 1, False, LockMode.FREE))
        self.assertEqual(self.cell.set(p, b"").length, 0)
        self.assertEqual(self.other.get(p), b"")
        self.assertGreater(st.created.year, 2000)

    def test_open_flags(self) -> None:
        p = fresh("flags")
        with self.assertRaises(chubby.NotFound):
            self.cell.open(p)
        with self.cell.open(p, excl=True, contents=b"first") as h:
            self.assertTrue(h.created)
            self.assertEqual(h.read(), b"first")
        with self.assertRaises(chubby.Exists):
            self.cell.open(p, excl=True)
        with self.cell.open(p, create=True) as h:
            self.assertFalse(h.created)
        h = self.cell.open(p, flags=chubby.OpenFlags.READ)
        self.assertEqual(h.read(), b"first")
        h.close()
        h.close()  # idempotent
        with self.assertRaises(chubby.Cancelled):
            h.stat()

    def test_ephemeral_goes_with_its_last_handle(self) -> None:
        p = fresh("eph")
        h = self.cell.open(p, ephemeral=True)
        self.assertTrue(self.other.stat(p).ephemeral)
        h.close()
        self.assertFalse(self.other.exists(p))

    def test_directories_children_delete(self) -> None:
        d = fresh("dir")
        self.cell.mkdir(d)
        with self.assertRaises(chubby.Exists):
            self.cell.mkdir(d)
        self.cell.mkdir(d, exist_ok=True)
        for n in ("b", "a", "c"):
            self.cell.set(f"{d}/{n}", n.encode())
        self.assertEqual(self.other.children(d), ["a", "b", "c"])
        self.assertEqual(self.other.ls(d), ["a", "b", "c"])
        self.assertTrue(self.other.stat(d).is_dir)
        with self.assertRaises(chubby.NotEmpty):
            self.cell.delete(d)
        with self.assertRaises(chubby.IsADirectory):
            self.cell.set(d, b"x", create=False)
        with self.assertRaises(chubby.NotADirectory):
            self.cell.set(f"{d}/a/x", b"x")
        with self.assertRaises(chubby.NotFound):
            self.cell.set(f"{d}/none/x", b"x")
        for n in ("a", "b", "c"):
            self.cell.delete(f"{d}/{n}")
        self.cell.delete(d)
        with self.assertRaises(chubby.NotFound):
            self.other.stat(d)

    def test_a_handle_on_a_deleted_node(self) -> None:
        p = fresh("gone")
        self.cell.set(p, b"x")
        with self.cell.open(p, write=True) as h:
            h.delete()
            with self.assertRaises(chubby.BadHandle):
                h.read()

    def test_compare_and_set(self) -> None:
        p = fresh("cas")
        st = self.cell.compare_and_set(p, b"v1", 0, create=True)
        self.assertEqual(st.content_gen, 1)
        with self.assertRaises(chubby.GenerationMismatch) as cm:
            self.other.compare_and_set(p, b"lost", 0)
        self.assertEqual(cm.exception.status, 66)
        self.assertEqual(cm.exception.name, "E_GEN_MISMATCH")
        self.assertIn("generation", str(cm.exception))
        st = self.other.compare_and_set(p, b"v2", 1)
        self.assertEqual(st.content_gen, 2)
        self.assertEqual(self.cell.get(p), b"v2")

    def test_bad_names(self) -> None:
        for p in ("/ls/local//x", "relative/x", "/ls/othercell/x"):
            with self.assertRaises(chubby.BadName, msg=p) as cm:
                self.cell.get(p)
            self.assertIn("E_BAD_NAME", str(cm.exception))

    def test_permission_denied(self) -> None:
        with chubby.Cell(CONF, cert=os.environ["BOB_CERT"], key=os.environ["BOB_KEY"]) as bob:
            with self.assertRaises(chubby.PermissionDenied) as cm:
                bob.set(fresh("acl").replace("/ls/local/", "/ls/local/acl/"), b"bob")
            self.assertEqual(cm.exception.status, 65)
            self.assertTrue(cm.exception.message)
            # The open root is still his.
            p = fresh("bob")
            bob.set(p, b"mine")
            self.assertEqual(self.cell.get(p), b"mine")


class Locks(unittest.TestCase):
    a: chubby.Cell
    b: chubby.Cell

    @classmethod
    def setUpClass(cls) -> None:
        cls.a = chubby.Cell(CONF)
        cls.b = chubby.Cell(CONF)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.a.close()
        cls.b.close()

    def test_exclusive_try_timeout_release(self) -> None:
        p = fresh("lock")
        with self.a.lock(p) as lk:
            self.assertTrue(lk.held)
            st = self.b.stat(p)
            self.assertEqual((st.lock_mode, st.lock_holders), (LockMode.EXCLUSIVE, 1))
            other = self.b.lock(p)
            self.assertFalse(other.try_acquire())
            self.assertFalse(other.held)
            with self.assertRaises(chubby.Timeout):
                self.b.lock(p, timeout=0.3).acquire()
            with self.b.open(p) as hb:
                with self.assertRaises(chubby.PermissionDenied):
                    hb.try_acquire()  # locking takes a handle opened for writing
            with self.b.open(p, write=True) as hb:
                self.assertFalse(hb.try_acquire())
                with self.assertRaises(chubby.NotHeld):
                    hb.release()
        self.assertFalse(lk.held)
        with self.b.lock(p, timeout=10):
            self.assertEqual(self.a.stat(p).lock_mode, LockMode.EXCLUSIVE)
        self.assertEqual(self.a.stat(p).lock_mode, LockMode.FREE)

    def test_shared(self) -> None:
        p = fresh("shared")
        with self.a.lock(p, shared=True), self.b.lock(p, shared=True, timeout=10):
            st = self.a.stat(p)
            self.assertEqual((st.lock_mode, st.lock_holders), (LockMode.SHARED, 2))
            self.assertFalse(self.b.lock(p).try_acquire())

    def test_the_lock_goes_when_the_block_raises(self) -> None:
        p = fresh("raise")
        with self.assertRaises(KeyError):
            with self.a.lock(p):
                raise KeyError("x")
        self.assertTrue(self.b.lock(p).try_acquire())

    def test_waiting_acquire_gets_it_when_released(self) -> None:
        p = fresh("wait")
        lk = self.a.lock(p)
        lk.acquire()
        got: List[float] = []

        def waiter() -> None:
            with self.b.lock(p, timeout=WAIT):
                got.append(time.monotonic())

        t = threading.Thread(target=waiter)
        t.start()
        self.assertTrue(wait_until(lambda: self.a.stat(p).lock_holders == 1, 5))
        time.sleep(0.2)  # the waiter is inside its acquire, which must still wait
        self.assertEqual(got, [])
        lk.release()
        t.join(WAIT + 5)
        self.assertEqual(len(got), 1)

    def test_close_while_another_thread_waits_on_the_handle(self) -> None:
        p = fresh("closewait")
        lk = self.a.lock(p)
        lk.acquire()
        hb = self.b.open(p, write=True)
        out: List[object] = []

        def waiter() -> None:
            try:
                hb.acquire()  # no limit
                out.append("granted")
            except chubby.ChubbyError as e:
                out.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        self.assertTrue(wait_until(lambda: hb._inflight == 1, 5))
        t0 = time.monotonic()
        hb.close()  # must not wait for the acquire (it has no limit)
        self.assertLess(time.monotonic() - t0, WAIT)
        self.assertTrue(hb.closed)
        with self.assertRaises(chubby.Cancelled):
            hb.stat()
        lk.release()
        t.join(WAIT + 5)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(out), 1)
        # Granted or refused, the handle was closed when the call returned:
        # nobody holds the lock, so a third session takes it.
        with chubby.Cell(CONF) as c:
            with c.lock(p, timeout=WAIT):
                self.assertEqual(c.stat(p).lock_holders, 1)

    def test_sequencers(self) -> None:
        p = fresh("seq")
        key = chubby.SequencerKey.from_config(CONF)
        with self.a.lock(p) as lk:
            seq = lk.sequencer()
            info = key.verify(seq)
            self.assertEqual((info.cell, info.path, info.mode), ("local", p, LockMode.EXCLUSIVE))
            self.assertEqual(chubby.parse_sequencer(seq), info)
            self.assertTrue(self.b.check_sequencer(seq))
            forged = bytearray(seq)
            forged[-1] ^= 1
            with self.assertRaises(chubby.BadSequencer):
                key.verify(bytes(forged))
            with self.assertRaises(chubby.BadSequencer):
                self.b.check_sequencer(bytes(forged))
            with self.assertRaises(chubby.BadSequencer):
                chubby.SequencerKey(b"\x01" * 32).verify(seq)
            lk.handle.set_sequencer(seq)  # type: ignore[union-attr]
            lk.handle.set_sequencer(None)  # type: ignore[union-attr]
        self.assertFalse(self.b.check_sequencer(seq))  # stale once released
        with self.b.lock(p) as lk2:
            seq2 = lk2.sequencer()
            self.assertLess(chubby.compare_sequencers(seq, seq2), 0)
            self.assertGreater(chubby.compare_sequencers(seq2, seq), 0)
            self.assertEqual(key.verify(seq2).lock_gen, info.lock_gen + 1)
        with self.assertRaises(chubby.NotHeld):
            lk2.sequencer()
        with self.a.lock(fresh("other")) as lk3:
            with self.assertRaises(chubby.InvalidArgument):
                chubby.compare_sequencers(seq, lk3.sequencer())


class Events(unittest.TestCase):
    def test_callbacks_and_iterators(self) -> None:
        p = fresh("ev")
        got_cell: List[chubby.Event] = []
        got_handle: List[chubby.Event] = []
        cell_cb_thread: List[str] = []

        def on_cell(ev: chubby.Event) -> None:
            got_cell.append(ev)
            cell_cb_thread.append(threading.current_thread().name)

        with chubby.Cell(CONF, on_event=on_cell) as a, chubby.Cell(CONF) as b:
            stream = a.events()
            hcb = a.open(p, create=True, events=EventType.CONTENTS_MODIFIED,
                         on_event=got_handle.append)
            hit = a.open(p, write=True, events=[EventType.CONTENTS_MODIFIED, EventType.LOCK_ACQUIRED,
                                    EventType.CONFLICTING_LOCK])
            b.set(p, b"1")
            # Iterator on the handle, iterator on the cell, both callbacks.
            ev = next_event(hit.events(), EventType.CONTENTS_MODIFIED)
            self.assertIsNotNone(ev)
            assert ev is not None
            self.assertEqual((ev.path, ev.handle), (p, hit))
            self.assertFalse(ev.is_session_event)
            # The event names the content generation the write made.
            self.assertEqual(ev.content_gen, hit.stat().content_gen)
            self.assertIsNotNone(next_event(stream, EventType.CONTENTS_MODIFIED))
            self.assertTrue(wait_until(lambda: any(e.handle is hcb for e in got_handle)))
            self.assertTrue(wait_until(lambda: any(
                e.type == EventType.CONTENTS_MODIFIED and e.handle is hit for e in got_cell)))
            self.assertNotEqual(cell_cb_thread[0], threading.current_thread().name)
            with self.assertRaises(ValueError):
                hcb.events()  # its events go to its callback
            # Lock events: B takes the lock (LOCK_ACQUIRED), then A holds it
            # and B asks (CONFLICTING_LOCK to the holder).
            with b.lock(p):
                self.assertIsNotNone(next_event(hit.events(), EventType.LOCK_ACQUIRED))
            hit.acquire(timeout=10)
            self.assertFalse(b.lock(p).try_acquire())
            self.assertIsNotNone(next_event(hit.events(), EventType.CONFLICTING_LOCK))
            # A stream ends with its handle, and with its cell.
            hit.close()
            rest = list(hit.events())  # ended: iteration stops after what was queued
            self.assertTrue(all(e.handle is hit for e in rest), rest)
            stream.close()
            self.assertIsNone(stream.get(timeout=0.1))
            s2 = a.events()
        self.assertEqual(list(s2), [])

    def test_children_events_in_a_for_loop(self) -> None:
        d = fresh("evdir")
        with chubby.Cell(CONF) as a, chubby.Cell(CONF) as b:
            a.mkdir(d)
            hd = a.open(d, events=EventType.CHILD_ADDED)
            b.set(f"{d}/x", b"")
            t = threading.Timer(WAIT, hd.close)  # bounds the loop below
            t.start()
            seen = None
            for ev in hd.events():
                if ev.type == EventType.CHILD_ADDED:
                    seen = ev
                    break
            t.cancel()
            self.assertIsNotNone(seen)
            assert seen is not None
            self.assertEqual(seen.path, f"{d}/x")
            self.assertIs(seen.handle, hd)

    def test_close_from_a_callback(self) -> None:
        p = fresh("cbclose")
        done = threading.Event()
        box: List[chubby.Cell] = []

        def on_event(ev: chubby.Event) -> None:
            if ev.type == EventType.CONTENTS_MODIFIED:
                box[0].close()  # chubby_close from the event thread is allowed
                done.set()

        with chubby.Cell(CONF) as b:
            a = chubby.Cell(CONF, on_event=on_event)
            box.append(a)
            a.open(p, create=True, events=EventType.CONTENTS_MODIFIED)
            b.set(p, b"x")
            self.assertTrue(done.wait(WAIT))
            self.assertTrue(a.closed)
            # Its session ended: the node's lock is free for B at once.
            self.assertTrue(b.lock(p).try_acquire())


class Election(unittest.TestCase):
    def test_elect_leader_step_down(self) -> None:
        p = fresh("elect")
        with chubby.Cell(CONF) as a, chubby.Cell(CONF) as b:
            self.assertIsNone(b.leader(p))  # no node: nobody leads
            with a.elect(p, "alice:8080") as lead:
                self.assertEqual(b.leader(p), "alice:8080")
                self.assertTrue(lead.is_leader())
                self.assertTrue(b.check_sequencer(lead.sequencer))
                self.assertEqual(chubby.parse_sequencer(lead.sequencer).path, p)
                with self.assertRaises(chubby.Timeout):
                    b.elect(p, "bob:8080", timeout=0.3)
                self.assertFalse(lead.lost.is_set())
            self.assertFalse(lead.is_leader())
            self.assertIsNone(b.leader(p))
            self.assertEqual(b.get(p), b"")  # stepping down cleared the identity
            lead.step_down()  # idempotent

            # A candidate waiting in elect() takes over when the leader goes.
            lead_a = a.elect(p, "alice:8080")
            res: List[chubby.Leadership] = []
            t = threading.Thread(target=lambda: res.append(b.elect(p, "bob:8080", timeout=WAIT)))
            t.start()
            time.sleep(0.2)
            self.assertEqual(b.leader(p), "alice:8080")
            lead_a.step_down()
            t.join(WAIT + 5)
            self.assertEqual(len(res), 1)
            self.assertEqual(a.leader(p), "bob:8080")
            # The leader's session ends without stepping down: the lock goes,
            # and with it the identity, which elect() wrote as a lock record
            # (the cell clears it; docs/NAMESPACE.md "Lock records").
            b.close()
            self.assertEqual(a.get(p), b"")
            self.assertIsNone(a.leader(p))
            self.assertFalse(res[0].is_leader())

    def test_the_deleted_node_loses_leadership(self) -> None:
        p = fresh("elect-del")
        with chubby.Cell(CONF) as a, chubby.Cell(CONF) as b:
            lead = a.elect(p, "alice")
            with b.open(p, write=True) as h:
                h.delete()
            self.assertTrue(lead.lost.wait(WAIT), "HANDLE_INVALID did not mark it lost")
            self.assertFalse(lead.is_leader())
            lead.step_down()
            self.assertFalse(a.exists(p))  # stepping down did not make it again


def lockctl_status() -> dict:
    out = subprocess.run([os.environ["LOCKCTL"], "-C", CONF, "-t", "2000", "--json", "status"],
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout) if out.stdout.strip() else {"replicas": []}


def master_id() -> Optional[int]:
    ms = [r["id"] for r in lockctl_status()["replicas"] if r.get("role") == "master"]
    return ms[0] if len(ms) == 1 else None


class Failover(unittest.TestCase):
    """Run last: it kills the master."""

    def test_a_held_lock_survives_kill_9_of_the_master(self) -> None:
        p = fresh("failover")
        with chubby.Cell(CONF) as a, chubby.Cell(CONF) as b:
            sid = a.session_id
            events = a.events()
            lk = a.lock(p)
            lk.acquire()
            seq = lk.sequencer()
            self.assertTrue(b.check_sequencer(seq))
            m = None
            self.assertTrue(wait_until(lambda: master_id() is not None))
            m = master_id()
            subprocess.run([os.environ["CHUBBY_CELL_BIN"], "kill", str(m), "--dir", CELL_DIR],
                           check=True, timeout=30, capture_output=True)
            # Meanwhile nobody else may take the lock: B keeps trying until
            # A has seen the fail-over and is SAFE again.
            tries = 0
            end = time.monotonic() + 120
            failover_seen = False
            while time.monotonic() < end:
                ev = events.get(timeout=0.2)
                if ev is not None and ev.type == EventType.MASTER_FAILOVER:
                    failover_seen = True
                try:
                    self.assertFalse(b.lock(p).try_acquire(), "B took A's lock during fail-over")
                    tries += 1
                except (chubby.Unavailable, chubby.Timeout, chubby.Jeopardy):
                    pass  # B itself is looking for the new master
                if failover_seen and a.state == SessionState.SAFE and tries >= 3:
                    break
            self.assertTrue(failover_seen, "no MASTER_FAILOVER event")
            self.assertGreaterEqual(tries, 3)
            self.assertEqual(a.state, SessionState.SAFE)
            self.assertEqual(a.session_id, sid)  # the same session, through its grace
            self.assertNotEqual(master_id(), m)
            st = lk.handle.stat()  # type: ignore[union-attr]
            self.assertEqual((st.lock_mode, st.lock_holders), (LockMode.EXCLUSIVE, 1))
            self.assertTrue(b.check_sequencer(seq))  # the sequencer is still current
            self.assertEqual(lk.sequencer(), seq)
            lk.handle.write(b"after the fail-over")  # type: ignore[union-attr]
            self.assertFalse(b.lock(p).try_acquire())
            lk.release()
            self.assertFalse(b.check_sequencer(seq))
            with b.lock(p, timeout=WAIT):
                self.assertEqual(b.get(p), b"after the fail-over")
            events.close()
        subprocess.run([os.environ["CHUBBY_CELL_BIN"], "restart", str(m), "--dir", CELL_DIR],
                       check=True, timeout=60, capture_output=True)


class Expiry(unittest.TestCase):
    """Run after Failover: it stops the whole cell past a session's grace."""

    def test_leadership_is_lost_when_the_session_expires(self) -> None:
        import signal
        p = fresh("expire")
        pids = []
        for f in sorted(os.listdir(CELL_DIR)):
            if re.fullmatch(r"replica-\d+\.pid", f):
                with open(os.path.join(CELL_DIR, f)) as fh:
                    pids.append(int(fh.read().strip()))
        self.assertGreaterEqual(len(pids), 3)
        # A 1 s grace period (the client's own): the session expires about
        # a lease (12 s) + 1 s after the cell stops answering.
        a = chubby.Cell(CONF, grace=1.0)
        try:
            events = a.events()
            lead = a.elect(p, "doomed")
            self.assertTrue(lead.is_leader())
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                self.assertTrue(lead.lost.wait(60), "leadership not marked lost")
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            self.assertEqual(a.state, SessionState.EXPIRED)
            self.assertIsNotNone(next_event(events, EventType.JEOPARDY, 1))
            ev = next_event(events, EventType.EXPIRED, 1)
            self.assertIsNotNone(ev)
            assert ev is not None
            self.assertTrue(ev.is_session_event)
            self.assertFalse(lead.is_leader())
            with self.assertRaises(chubby.SessionExpired):
                a.get(p)
            lead.step_down()  # quietly: there is nothing left to step down from
        finally:
            a.close()
        # The master expires the session too, which frees the lock: nobody
        # leads, and the cell cleared the lost leader's identity with it
        # (a lock record; docs/NAMESPACE.md "Lock records").
        with chubby.Cell(CONF, open_timeout=60) as b:
            self.assertTrue(wait_until(lambda: b.leader(p) is None, 60))
            self.assertEqual(b.get(p), b"")


class TapResult(unittest.TextTestResult):
    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        print(f"ok - {test.id()}", flush=True)

    def addFailure(self, test: unittest.TestCase, err) -> None:  # type: ignore[no-untyped-def]
        super().addFailure(test, err)
        print(f"FAIL - {test.id()}\n{''.join(traceback.format_exception(*err))}", flush=True)

    def addError(self, test: unittest.TestCase, err) -> None:  # type: ignore[no-untyped-def]
        super().addError(test, err)
        print(f"FAIL - {test.id()} (error)\n{''.join(traceback.format_exception(*err))}", flush=True)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        print(f"FAIL - {test.id()} (skipped: {reason}; nothing here may skip)", flush=True)


def main() -> int:
    only = sys.argv[1:]
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for cls in (Offline, Sessions, Nodes, Locks, Events, Election, Failover, Expiry):
        if not only or cls.__name__ in only:
            suite.addTests(loader.loadTestsFromTestCase(cls))
    r = unittest.TextTestRunner(stream=open(os.devnull, "w"), resultclass=TapResult,
                                verbosity=0).run(suite)
    print(f"SUMMARY python_binding: ran={r.testsRun} failed={len(r.failures) + len(r.errors)}")
    return 0 if r.wasSuccessful() and not r.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
