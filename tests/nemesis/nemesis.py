"""nemesis.py: injects faults into a running local cell from outside its
processes (docs/TESTING.md).  Run inside the test's own network namespace
(tests/integration/test_nemesis.sh), as root, for nftables.

  nemesis.py run CELL_DIR PORT LOG --seconds S --seed N [--lease-ms MS]
      a seeded schedule of faults, each followed by a calm spell:
        kill     kill -9 a replica (the master half of the time), restart it later
        pause    SIGSTOP the master for longer than its lease, then SIGCONT
        isolate  cut the master off from every other replica (nftables)
        blip     the same for just past the master's lease (0-0.5 s more):
                 its lease lapses and, with luck, it regains it in the same
                 epoch before anyone else is elected
        split    cut the cell 2/3
        bridge   cut {a,b} from {d,e}; c sees both sides
        slowdisk make fsync/fdatasync slow on some replicas (slow_fsync.so)
        lapse    SIGSTOP a cache client (--cache-pids, not a slow one), then
                 the master until its lease lapses (not long enough for a
                 follower to campaign): it is won back in the same epoch
                 with an invalidation pending; reset the cache client's
                 connections (the invalidation in flight is lost), SIGCONT
        slowkill slow fsync on every follower, then kill -9 the master while
                 a cache client's write is out: the next master chooses it,
                 libchubby re-sends it
        clockstep the master's wall clock an hour ahead (fake_clock.so) while
                 a stopped lock holder's session expires, back inside the
                 lock-delay
        stale    SIGSTOP a lock client (--client-pids; the one holding the
                 lock, from its history, if one is seen within 3 s) past its
                 session lease and the lock-delay: it wakes up as a stale
                 holder, which the resource must fence off
      and, all through the run, alongside the schedule:
        stutter  a slow cache client (--slow-pids, cache_workload): bursts of
                 SIGSTOP/SIGCONT (stopped 0.2-1.2 s, running 0.05-0.3 s), so
                 that its KeepAlives and invalidation acks arrive late while
                 other clients write what it caches; every second burst ends
                 with one stop past its session lease.  It stands in for a
                 slow link (tc netem is not available in this kernel).
  nemesis.py crash-all CELL_DIR PORT LOG
      kill -9 all five replicas at once, then restart them
  nemesis.py heal CELL_DIR PORT LOG
      undo everything: flush the rules, SIGCONT, fast disks, restart the dead
  nemesis.py regress FILE
      reads the regression seed list (regress_list), fails if it is malformed
With --regress FILE, run first plays each listed seed's schedule for its
seconds, then the run's own seed for the rest of --seconds (at least half).
Every fault goes to LOG as one JSON line {fault, targets, t0, t1}; the
kinds, calms and durations depend only on the seed (targets also on who is
master; the stutter's number of stops per burst on the clock)."""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workload import cell_of  # noqa: E402

IDS = [1, 2, 3, 4, 5]
TABLE = "chubbynemesis"


class Nemesis:
    def __init__(self, a):
        self.a = a
        self.dir = a.cell_dir
        self.cell = cell_of(a.cell_dir, a.port)
        self.cellbin = os.environ.get("CHUBBY_CELL_BIN", "chubby-cell")
        self.slowdir = os.environ.get("CHUBBY_SLOW_FSYNC_DIR")
        self.clockdir = os.environ.get("CHUBBY_FAKE_CLOCK_DIR")
        self.log = open(a.log, "a", buffering=1)
        self.log_mu = threading.Lock()  # the stutter thread records too
        self.paused = set()
        # Held while the stutter has the slow client stopped; the lapse
        # fault holds it so that no client but its own is stopped.
        self.stutter_mu = threading.Lock()

    def say(self, msg):
        print("nemesis %7.2f: %s" % (time.monotonic(), msg), flush=True)

    def record(self, fault, targets, t0, **kw):
        with self.log_mu:
            self.log.write(json.dumps(dict(fault=fault, targets=targets, t0=t0,
                                           t1=time.monotonic(), **kw)) + "\n")

    def pid(self, i):
        try:
            return int(open("%s/replica-%d.pid" % (self.dir, i)).read())
        except (OSError, ValueError):
            return None

    def up(self, i):
        p = self.pid(i)
        if p is None:
            return False
        try:
            os.kill(p, 0)
            return True
        except OSError:
            return False

    def status(self, i):
        try:
            c = self.cell.connect(self.cell.addrs[i - 1], timeout=1)
        except Exception:
            return None
        try:
            return c.call("STATUS", timeout=1)
        except Exception:
            return None
        finally:
            c.close()

    def master(self, wait=10):
        end = time.monotonic() + wait
        while True:
            for i in IDS:
                s = self.status(i)
                if s and s.get("role") == "master":
                    return i
            if time.monotonic() >= end:
                return None
            time.sleep(0.2)

    def restart(self, i):
        r = subprocess.run([self.cellbin, "restart", str(i), "--dir", self.dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            self.say("restart %d failed: %s" % (i, r.stderr.strip()))

    def nft(self, *args):
        subprocess.run(["nft"] + list(args), check=True)

    def cut(self, a, b):
        for x, y in ((a, b), (b, a)):
            self.nft("add", "rule", "inet", TABLE, "out", "ip", "saddr", "127.0.0.%d" % (10 + x),
                     "ip", "daddr", "127.0.0.%d" % (10 + y), "drop")

    def heal_net(self):
        subprocess.run(["nft", "flush", "chain", "inet", TABLE, "out"], stderr=subprocess.DEVNULL)

    def setup_net(self):
        subprocess.run(["nft", "delete", "table", "inet", TABLE], stderr=subprocess.DEVNULL)
        self.nft("add", "table", "inet", TABLE)
        self.nft("add", "chain", "inet", TABLE, "out",
                 "{ type filter hook output priority 0; policy accept; }")

    def slow(self, i, ms):
        p = self.pid(i)
        if self.slowdir and p:
            path = os.path.join(self.slowdir, str(p))
            if ms:
                with open(path, "w") as f:
                    f.write("%d\n" % ms)
            elif os.path.exists(path):
                os.remove(path)

    def step_clock(self, i, ms):
        """Sets replica I's wall clock MS ahead (fake_clock.so; 0: back to true)."""
        p = self.pid(i)
        if self.clockdir and p:
            path = os.path.join(self.clockdir, str(p))
            if ms:
                with open(path, "w") as f:
                    f.write("%d\n" % ms)
            elif os.path.exists(path):
                os.remove(path)

    def lock_sessions(self, i):
        """The sessions holding a lock by the master I's LOCKS (None: no answer)."""
        try:
            c = self.cell.connect(self.cell.addrs[i - 1], timeout=1)
        except Exception:
            return None
        try:
            return {e["session"] for e in c.call("LOCKS", timeout=1)}
        except Exception:
            return None
        finally:
            c.close()

    def heal(self):
        self.heal_net()
        for d in (self.slowdir, self.clockdir):
            for f in os.listdir(d) if d else []:
                os.remove(os.path.join(d, f))
        for i in IDS:
            p = self.pid(i)
            if p:
                try:
                    os.kill(p, signal.SIGCONT)
                except OSError:
                    pass
            self.slow(i, 0)
        for f in (self.a.client_pids, self.a.slow_pids, self.a.cache_pids):
            for p in self.pids_in(f):
                try:
                    os.kill(p, signal.SIGCONT)
                except OSError:
                    pass
        for i in IDS:
            if not self.up(i):
                self.restart(i)

    @staticmethod
    def pids_in(path):
        if not path or not os.path.exists(path):
            return []
        return [int(x) for x in open(path).read().split()]

    def stutter(self, done, rnd):
        """The slow cache client: bursts of short stops until DONE is set."""
        pids = self.pids_in(self.a.slow_pids)
        burst = 0
        while pids and not done.is_set():
            try:
                burst = self.stutter_burst(done, rnd, pids, burst)
            except OSError as e:  # the client died: the test will say so
                self.say("stutter: %s" % e)
                return

    def stutter_burst(self, done, rnd, pids, burst):
        """One burst of short stops of a client in PIDS (and every second burst
        a stop past its lease); returns the bursts so far."""
        p = rnd.choice(pids)
        t0 = time.monotonic()
        end = t0 + rnd.uniform(3, 6)
        stops = 0
        while time.monotonic() < end and not done.is_set():
            with self.stutter_mu:
                try:
                    os.kill(p, signal.SIGSTOP)
                    time.sleep(rnd.uniform(0.2, 1.2))
                finally:
                    os.kill(p, signal.SIGCONT)
            stops += 1
            time.sleep(rnd.uniform(0.05, 0.3))
        self.record("stutter", [p], t0, stops=stops)
        burst += 1
        if burst % 2 == 0 and not done.is_set():
            # Past the session lease: the master stops waiting for its
            # acks and commits; on waking it must not serve its cache.
            secs = self.a.session_ms / 1000 + rnd.uniform(2, 4)
            t0 = time.monotonic()
            self.say("stutter: SIGSTOP cache client %d for %.1f s" % (p, secs))
            with self.stutter_mu:
                try:
                    os.kill(p, signal.SIGSTOP)
                    done.wait(secs)
                finally:
                    os.kill(p, signal.SIGCONT)
            self.record("stutter-long", [p], t0, seconds=secs)
        done.wait(rnd.uniform(0.5, 2))
        return burst

    # --- the faults; each returns after undoing itself ---------------------
    def f_kill(self, rnd):
        # Every draw is made whatever the cell looks like, so that a seed
        # fixes the durations (only the targets depend on who is master).
        coin, other, secs = rnd.random(), rnd.choice(IDS), rnd.uniform(1, 5)
        m = self.master(3)
        i = m if (m and coin < 0.5) else other
        t0 = time.monotonic()
        self.say("kill -9 replica %d%s" % (i, " (master)" if i == m else ""))
        p = self.pid(i)
        if p:
            os.kill(p, signal.SIGKILL)
        time.sleep(secs)
        self.restart(i)
        self.say("restarted replica %d" % i)
        self.record("kill", [i], t0, master=(i == m), seconds=secs)

    def f_pause(self, rnd):
        m = self.master(3)
        if not m:
            return self.f_kill(rnd)
        p = self.pid(m)
        secs = self.a.lease_ms / 1000 + rnd.uniform(1, 3)
        t0 = time.monotonic()
        self.say("SIGSTOP master %d for %.1f s" % (m, secs))
        os.kill(p, signal.SIGSTOP)
        time.sleep(secs)
        os.kill(p, signal.SIGCONT)
        self.say("SIGCONT replica %d" % m)
        self.record("pause", [m], t0, seconds=secs)

    def partition(self, name, groups, rnd):
        t0 = time.monotonic()
        secs = rnd.uniform(3, 7)
        a, b = groups
        self.say("%s: cut %s from %s for %.1f s" % (name, a, b, secs))
        for x in a:
            for y in b:
                self.cut(x, y)
        time.sleep(secs)
        self.heal_net()
        self.say("healed the network")
        self.record(name, [a, b], t0, seconds=secs)

    def f_isolate(self, rnd):
        other = rnd.choice(IDS)
        m = self.master(3) or other
        self.partition("isolate", [[m], [i for i in IDS if i != m]], rnd)

    def f_blip(self, rnd):
        other = rnd.choice(IDS)
        secs = self.a.lease_ms / 1000 + rnd.uniform(0, 0.5)
        m = self.master(3) or other
        t0 = time.monotonic()
        others = [i for i in IDS if i != m]
        self.say("blip: cut master %d off for %.2f s" % (m, secs))
        for y in others:
            self.cut(m, y)
        time.sleep(secs)
        self.heal_net()
        self.say("healed the network")
        self.record("blip", [[m], others], t0, seconds=secs)

    def f_split(self, rnd):
        ids = IDS[:]
        rnd.shuffle(ids)
        coin = rnd.random()
        m = self.master(3)
        if m and coin < 0.5 and m not in ids[:2]:
            ids.remove(m)  # half the time the master ends up on the small side
            ids.insert(0, m)
        self.partition("split", [sorted(ids[:2]), sorted(ids[2:])], rnd)

    def f_bridge(self, rnd):
        ids = IDS[:]
        rnd.shuffle(ids)
        self.partition("bridge", [sorted(ids[:2]), sorted(ids[3:])], rnd)

    def f_slowdisk(self, rnd):
        if not self.slowdir:
            return self.f_kill(rnd)
        m = self.master(3)
        targets = sorted(set(([m] if m else []) + rnd.sample(IDS, rnd.randint(1, 3))))
        ms = rnd.choice([20, 50, 150, 400])
        secs = rnd.uniform(3, 7)
        t0 = time.monotonic()
        self.say("slow fsync (%d ms) on %s for %.1f s" % (ms, targets, secs))
        for i in targets:
            self.slow(i, ms)
        time.sleep(secs)
        for i in targets:
            self.slow(i, 0)
        self.say("fast disks again")
        self.record("slowdisk", targets, t0, ms=ms, seconds=secs)

    def lock_holder(self, pids, wait):
        """A pid in PIDS whose history (lock-<n>.jsonl beside the pid file,
        in the file's order) shows it holding the lock now: its last ACQUIRE
        answered OK after its last RELEASE was sent.  Polls for up to WAIT s;
        None if no one was seen holding."""
        d = os.path.dirname(self.a.client_pids)
        end = time.monotonic() + wait
        while True:
            for n, p in enumerate(pids, 1):
                held = False
                try:
                    with open(os.path.join(d, "lock-%d.jsonl" % n)) as f:
                        off = max(0, os.fstat(f.fileno()).st_size - 8192)
                        f.seek(off)
                        # After a seek into the file the first line is cut.
                        for line in f.read().splitlines()[1 if off else 0:]:
                            try:
                                e = json.loads(line)
                            except ValueError:
                                continue
                            if e.get("f") == "acquire" and e["ev"] == "ok":
                                held = True
                            elif e.get("f") == "release" or e.get("end"):
                                held = False
                except OSError:
                    pass
                if held:
                    return p
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)

    def f_stale(self, rnd):
        pids = []
        if self.a.client_pids and os.path.exists(self.a.client_pids):
            pids = [int(x) for x in open(self.a.client_pids).read().split()]
        if not pids:
            return self.f_kill(rnd)
        # The holder if one is seen within 3 s (the point is a holder whose
        # session expires: the lock-delay and fencing checks need one).
        other = rnd.choice(pids)
        secs = (self.a.session_ms + self.a.lock_delay_ms) / 1000 + rnd.uniform(1, 3)
        holder = self.lock_holder(pids, 3)
        p = holder or other
        t0 = time.monotonic()
        self.say("SIGSTOP lock client %d for %.1f s" % (p, secs))
        try:
            os.kill(p, signal.SIGSTOP)
            time.sleep(secs)
        finally:
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass
        self.say("SIGCONT lock client %d" % p)
        # holder: checker.py then wants a hand-over by expiry to check.
        self.record("stale", [p], t0, seconds=secs, holder=holder is not None)

    def f_clockstep(self, rnd):
        """The master's wall clock runs an hour ahead across a lock holder's
        expiry (issue 14 item 5): the holder is stopped as in "stale", the
        master's clock steps ahead at once, and steps back (fake_clock.so)
        0.1-0.6 s after the master's LOCKS shows the lock freed, inside the
        lock-delay.  Lock-delay counted in real time ends 1 s after the
        expiry whatever the wall clock did; one stamped from the wall clock
        ends an hour later, and the lock clients starve (checker.py: LOCK
        STARVED)."""
        pids = self.pids_in(self.a.client_pids)
        other = rnd.choice(pids) if pids else None
        secs = (self.a.session_ms + self.a.lock_delay_ms) / 1000 + rnd.uniform(1, 3)
        back = rnd.uniform(0.1, 0.6)
        ahead_ms = 3600 * 1000
        m = self.master(3)
        if not pids or not self.clockdir or not m:
            return self.f_kill(rnd)
        holder = self.lock_holder(pids, 3)
        p = holder or other
        held = self.lock_sessions(m) or set()
        t0 = time.monotonic()
        self.say("clockstep: master %d's clock +%d s, SIGSTOP lock client %d for %.1f s" % (
            m, ahead_ms // 1000, p, secs))
        freed = None
        try:
            os.kill(p, signal.SIGSTOP)
            self.step_clock(m, ahead_ms)
            while held and time.monotonic() < t0 + secs - back:
                now = self.lock_sessions(m)
                if now is not None and not (now & held):
                    freed = time.monotonic()
                    break
                time.sleep(0.05)
            time.sleep(back)
        finally:
            self.step_clock(m, 0)
            unstep = time.monotonic()
            self.say("clockstep: master %d's clock back%s" % (
                m, "" if freed else " (the held lock was not seen freed)"))
            time.sleep(max(0, t0 + secs - time.monotonic()))
            try:
                os.kill(p, signal.SIGCONT)
            except OSError:
                pass
        self.record("clockstep", [m, p], t0, seconds=secs, ahead_ms=ahead_ms,
                    freed=freed, unstep=unstep, holder=holder is not None)

    def cache_write_out(self, since):
        """True if the history of a cache client's patient thread
        (cache-*-m1.jsonl beside the slow-pids file: its 30 s call timeout
        outlasts the fail-over, so the retry's answer is definite) ends
        with a write (cas, write, eopen with create) invoked since SINCE
        and at least 30 ms ago, not yet answered: one the master has
        proposed, whose ACCEPT the followers' slow disks hold."""
        d = os.path.dirname(self.a.slow_pids)
        now = time.monotonic()
        for name in os.listdir(d):
            if not (name.startswith("cache-") and name.endswith("-m1.jsonl")):
                continue
            try:
                with open(os.path.join(d, name), "rb") as f:
                    f.seek(max(0, os.fstat(f.fileno()).st_size - 1024))
                    e = json.loads(f.read().splitlines()[-1])
            except (OSError, ValueError, IndexError):
                continue
            if e.get("ev") == "invoke" and since <= e["t"] <= now - 0.03 and \
                    (e["f"] in ("cas", "write") or e.get("create")):
                return True
        return False

    def f_slowkill(self, rnd):
        """Writes caught in flight by a fail-over (issue 14 item 6): slow fsync
        (150-300 ms) on every follower keeps each ACCEPT on their disks,
        and kill -9 of the master as soon as a cache client's write is out
        (cache_write_out; within 3 s, else at the end of it).  The
        followers hold that write's ACCEPT and the next master chooses it;
        libchubby re-sends the write to the next master on the lost
        connection, and the re-sent one must get the first outcome back by
        its request id instead of being applied again (checker.py: a write
        reported failed whose value is read, WRITE APPLIED N TIMES, NOT
        LINEARIZABLE)."""
        ms = rnd.choice([150, 200, 300])
        # Up to 3 s for a patient write to be out (the writes take 150-300
        # ms each now, so it is out most of the time): a kill without one
        # tests nothing the kill fault does not.  (The draw stays: the
        # same numbers for the rest of the fault.)
        rnd.uniform(0.3, 3)
        lag = 3.0
        down = rnd.uniform(1, 4)
        m = self.master(3)
        if not self.slowdir or not m or not self.a.slow_pids:
            return self.f_kill(rnd)
        followers = [i for i in IDS if i != m]
        t0 = time.monotonic()
        self.say("slowkill: slow fsync (%d ms) on %s, kill -9 master %d on a cache write "
                 "out (up to %.2f s)" % (ms, followers, m, lag))
        caught = False
        try:
            for i in followers:
                self.slow(i, ms)
            while time.monotonic() < t0 + lag:
                if self.cache_write_out(t0):
                    caught = True
                    break
                time.sleep(0.01)
            p = self.pid(m)
            if p:
                os.kill(p, signal.SIGKILL)
            time.sleep(0.5)
        finally:
            for i in followers:
                self.slow(i, 0)
        time.sleep(down)
        self.restart(m)
        self.say("restarted replica %d (%s)" % (m, "a cache write was out at the kill" if caught
                                                else "no cache write seen out"))
        self.record("slowkill", [[m], followers], t0, ms=ms, caught=caught, seconds=down)

    def last_event(self, name):
        """The last complete line of history file NAME (beside the slow-pids
        file), or None."""
        try:
            with open(os.path.join(os.path.dirname(self.a.slow_pids), name), "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 1024))
                return json.loads(f.read().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return None

    def writes_gated(self, since, skip):
        """The k-files whose write or compare-and-set, invoked since SINCE,
        ends a client history beside the slow-pids file (not one whose
        name starts with SKIP) unanswered for 30 ms: waiting at the gate
        for a cacher's ack (an ungated one takes a few ms)."""
        d = os.path.dirname(self.a.slow_pids)
        now = time.monotonic()
        keys = set()
        for name in os.listdir(d):
            if not name.endswith(".jsonl") or name.startswith(skip) or \
                    not name.startswith(("register-", "cache-")):
                continue
            e = self.last_event(name)
            if e and e.get("ev") == "invoke" and e.get("f") in ("write", "cas") and \
                    "/k" in e.get("key", "") and since <= e["t"] <= now - 0.03:
                keys.add(e["key"])
        return keys

    def reset_conns(self, pid):
        """Resets every established TCP connection of process PID (ss -K on
        its end: whatever the peer sent that PID has not read is lost, as
        when a middlebox resets a connection).  Returns how many."""
        inodes = set()
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            return 0
        n = 0
        try:
            lines = open("/proc/net/tcp").read().splitlines()[1:]
        except OSError:
            return 0
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != "01" or f[9] not in inodes:
                continue
            ip_hex, port_hex = f[1].split(":")
            ip = ".".join(str(b) for b in reversed(bytes.fromhex(ip_hex)))
            r = subprocess.run(["ss", "-K", "-tn", "src", "%s:%d" % (ip, int(port_hex, 16))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n += r.returncode == 0
        return n

    def f_lapse(self, rnd):
        """Invalidations pending when the master's lease lapses and is won
        back in the same epoch (issue 14 item 4).  SIGSTOP a cache client C
        (--cache-pids, not a stuttered one) just after its reader read a
        file the register clients write.  The next write to a file C
        caches makes the master answer C's held KeepAlive with the
        invalidation (unread: C is stopped), and waits at the gate for an
        ack.  The stutter is held off meanwhile (a write that waits for the
        stuttered client's ack blocks its writer, and then nothing writes
        while C is stopped).  As soon as a write has waited 30 ms, or
        0.3-0.4 s after C's stop, stop the master until its lease has lapsed
        (woken at its lease's end + 15 ms, read off STATUS, inside the
        followers' grant: see below); it steps down (the waiting writes
        fail NOT_MASTER, and the master forgets its sessions) and wins its
        lease back in the same epoch, keeping its cache table.  C's
        connections are reset while the master sleeps (the invalidation in
        C's socket is lost, as a reset in flight loses it), and C is
        continued 20 ms after the master, inside its local lease.
        C reconnects to the same master and epoch and keeps its cache.
        The master must have put C back among the cachers of the files
        whose invalidation it had not seen acked, so the next write to
        such a file invalidates C again; a master that dropped them
        commits it at once while C serves its old copy (checker.py: STALE
        READ).  nemesis.log says whether the epoch stayed the same
        (same_epoch), how long C was stopped and how many of its
        connections were reset."""
        slow = set(self.pids_in(self.a.slow_pids))
        allc = self.pids_in(self.a.cache_pids)
        cands = [p for p in allc if p not in slow]
        lead = rnd.uniform(0.3, 0.4)
        rnd.random()  # was the pause's length: the same draws as before
        coin = rnd.random()
        m = self.master(3)
        if not cands or not m:
            return self.f_kill(rnd)
        p = cands[int(coin * len(cands))]
        st = self.status(m) or {}
        epoch0 = st.get("epoch")
        t0 = time.monotonic()
        # No stuttered client stopped meanwhile: the writes must wait for C
        # alone (one that waits for the stuttered client blocks its writer
        # before C is stopped).  Its acks go out within a few ms.
        held = self.stutter_mu.acquire(timeout=10)
        try:
            self.lapse(rnd, m, p, allc, lead, epoch0, t0)
        finally:
            if held:
                self.stutter_mu.release()

    def lapse(self, rnd, m, p, allc, lead, epoch0, t0):
        """f_lapse's body, with the stutter held off."""
        time.sleep(0.2)
        gated = None
        self.say("lapse: SIGSTOP cache client %d, then master %d until its lease lapses" % (p, m))
        regained = None
        cname = "cache-%d-r.jsonl" % (allc.index(p) + 1)
        q = self.pid(m)
        left = None
        resets = 0
        # Up to four tries: stop C just after its reader thread read a file
        # the register clients write (it caches that file, unless a write
        # to it was under way); if no write waits for C's ack within LEAD
        # (C caches nothing the others write now), continue it and try
        # again: a lapse with no invalidation pending tests nothing.
        for attempt in range(4):
            t_w = time.monotonic()
            while time.monotonic() < t_w + 2:
                e = self.last_event(cname)
                if e and e.get("ev") == "ok" and e.get("f") == "read" and \
                        "/k" in e.get("key", "") and time.monotonic() - e["t"] < 0.005:
                    break
                time.sleep(0.001)
            t_c = time.monotonic()
            os.kill(p, signal.SIGSTOP)
            # C's local lease has 2.3-3 s left at any time (libchubby
            # asks the master to answer a KeepAlive with guard + slack
            # left), and the master's stop takes 2 s of it: stop the
            # master as soon as a write waits at the gate for C's ack
            # (its invalidation then waits in C's socket), at most LEAD.
            while time.monotonic() < t_c + lead and \
                    not self.writes_gated(t_c, "cache-%d-" % (allc.index(p) + 1)):
                time.sleep(0.005)
            gated = time.monotonic() - t_c
            if gated < lead or attempt == 3:
                break
            os.kill(p, signal.SIGCONT)
            time.sleep(0.3)
        try:
            # The master's lease runs to E = (the last heartbeat its
            # majority acked) + lease - shortening (54 ms: 1000 ppm drift
            # and the 50 ms clock margin); an acceptor grants until that
            # heartbeat's arrival + lease, and campaigns a random
            # 0-election_timeout later.  One clock (CLOCK_MONOTONIC on one
            # machine): read E off the master's STATUS, stop it at once
            # (no heartbeat answered in between, as a rule: one goes every
            # 100 ms) and wake it at E + 15 ms, inside the followers'
            # grant.  It steps down on the first request it reads, sends
            # heartbeats, and is master again in the same epoch a
            # millisecond later.  (Stopping it for a whole lease lets a
            # follower campaign as often as not, and stopping the
            # followers too makes them campaign as they wake.)
            c = self.cell.connect(self.cell.addrs[m - 1], timeout=1)
            try:
                st = c.call("STATUS", timeout=1)
                t_r = time.monotonic()
                if q and st.get("role") == "master" and st.get("lease_ms"):
                    os.kill(q, signal.SIGSTOP)
                    left = st["lease_ms"] / 1000
            finally:
                c.close()
            if left is not None:
                try:
                    # The invalidation the master sent on C's KeepAlive
                    # waits unread in C's socket: lose it with the
                    # connection (now, while the master sleeps: C's stop
                    # is short of lease), so that C learns of that write
                    # only from what the master still knows (one that
                    # dropped its pending invalidations at the step-down
                    # knows nothing).
                    resets = self.reset_conns(p)
                    time.sleep(max(0, t_r + left + 0.015 - time.monotonic()))
                finally:
                    os.kill(q, signal.SIGCONT)
                # C goes on once the master has read its queued requests
                # (the first steps it down) and heard its followers; C's
                # reconnection finds it master again, or retries.
                time.sleep(0.02)
        except Exception as e:  # no STATUS answer: this fault did nothing
            self.say("lapse: %s" % e)
        finally:
            os.kill(p, signal.SIGCONT)
        stopped_s = time.monotonic() - t_c
        end = time.monotonic() + 2
        while left is not None and time.monotonic() < end:
            s = self.status(m)
            if s and s.get("role") == "master":
                regained = s
                break
            time.sleep(0.005)
        same = bool(regained) and regained.get("epoch") == epoch0
        self.say("lapse: SIGCONT cache client %d after %.2f s (master stopped %.2f s after it, "
                 "try %d; %d connections reset); master %d %s" % (
            p, stopped_s, gated or 0, attempt + 1, resets, m,
            "regained its lease in the same epoch" if same else
            "did not regain its lease in the same epoch"))
        self.record("lapse", [p, m], t0, seconds=left, same_epoch=same, stopped_s=stopped_s,
                    resets=resets, gated_s=gated, tries=attempt + 1)

    def schedule(self, seed, seconds):
        """Runs SEED's schedule for SECONDS; returns the faults injected.
        The main generator draws the same three numbers for every fault
        whatever the cell does (the kind, a seed for the fault's own draws,
        the calm after it), so a seed always gives the same kinds, calms
        and durations; only targets that depend on who is master differ."""
        rnd = random.Random(seed)
        # Each kind once first, in this order (the newer kinds early: a short
        # run must still have them), then drawn.
        faults = [("kill", self.f_kill), ("clockstep", self.f_clockstep),
                  ("lapse", self.f_lapse), ("pause", self.f_pause),
                  ("slowkill", self.f_slowkill),
                  ("isolate", self.f_isolate), ("split", self.f_split),
                  ("stale", self.f_stale), ("bridge", self.f_bridge),
                  ("slowdisk", self.f_slowdisk), ("blip", self.f_blip)]
        if self.a.faults:
            # A dedicated run of a few kinds (--faults): the same draws.
            # A kind named twice is drawn twice as often.
            names = self.a.faults.split(",")
            kinds = dict(faults)
            unknown = set(names) - set(kinds)
            if unknown:
                sys.exit("nemesis: no fault kind %s" % ", ".join(sorted(unknown)))
            faults = [(n, kinds[n]) for n in names]
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            pick = rnd.randrange(len(faults))
            name, fn = faults[n % len(faults)] if n < len(faults) else faults[pick]
            frnd = random.Random(rnd.getrandbits(64))
            calm = rnd.uniform(1.5, 3.5)
            fn(frnd)
            n += 1
            time.sleep(calm)
        return n

    def run(self):
        segments = regress_list(self.a.regress) + [(self.a.seed, None)]
        fixed = sum(secs for _, secs in segments[:-1])
        # The fresh seed gets what the regression seeds leave of --seconds,
        # but never less than half of it.
        segments[-1] = (self.a.seed, max(self.a.seconds - fixed, self.a.seconds / 2))
        self.setup_net()
        n = 0
        done = threading.Event()
        st = threading.Thread(target=self.stutter, args=(done, random.Random(self.a.seed + 99)),
                              daemon=True)
        st.start()
        try:
            for k, (seed, secs) in enumerate(segments):
                self.say("schedule of seed %d for %.0f s%s" % (
                    seed, secs, "" if k == len(segments) - 1 else " (regression list)"))
                n += self.schedule(seed, secs)
        finally:
            done.set()
            st.join()
            self.heal()
        self.say("%d faults injected" % n)

    def crash_all(self):
        t0 = time.monotonic()
        pids = [self.pid(i) for i in IDS]
        for p in pids:
            if p:
                os.kill(p, signal.SIGKILL)
        self.say("kill -9 of all five replicas")
        time.sleep(1)
        for i in IDS:
            self.restart(i)
        self.say("restarted all five")
        self.record("crash-all", IDS, t0)


def regress_list(path):
    """tests/nemesis/regress-seeds: "SEED SECONDS  # date, what failed" a
    line; blank lines and comments are skipped.  Anything else is an error:
    a list that cannot be read must not silently run nothing."""
    out = []
    if not path:
        return out
    for no, line in enumerate(open(path), 1):
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        if len(body) != 2 or not body[0].isdigit() or not body[1].isdigit() \
                or not 0 < int(body[1]) <= 600:
            sys.exit("%s:%d: want 'SEED SECONDS  # date, what failed', got %r" %
                     (path, no, line.rstrip()))
        out.append((int(body[0]), int(body[1])))
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "regress":
        segs = regress_list(sys.argv[2])
        print("%s: %d regression seeds, %d s of their schedules: %s" % (
            sys.argv[2], len(segs), sum(x for _, x in segs),
            " ".join("%d:%ds" % x for x in segs) or "none"))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "crash-all", "heal"])
    ap.add_argument("cell_dir")
    ap.add_argument("port", type=int)
    ap.add_argument("log")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lease-ms", type=int, default=2000)
    ap.add_argument("--session-ms", type=int, default=4000)
    ap.add_argument("--lock-delay-ms", type=int, default=1000)
    ap.add_argument("--client-pids", default="")
    ap.add_argument("--slow-pids", default="")
    ap.add_argument("--cache-pids", default="")
    ap.add_argument("--faults", default="",
                    help="only these kinds, comma-separated (default: all)")
    ap.add_argument("--regress", default="",
                    help="regression seeds whose schedules run first (regress_list)")
    a = ap.parse_args()
    n = Nemesis(a)
    {"run": n.run, "crash-all": n.crash_all, "heal": n.heal}[a.mode]()


if __name__ == "__main__":
    main()
