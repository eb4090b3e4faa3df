"""The GIL probe's own process: ``python -m gilscope.sampling.probe_process --rate HZ``.

It lives in a process of its own so that thousands of reads a second never compete with
gilscope's UI for *its* GIL. Commands arrive on stdin, one per line: ``watch PID`` and
``forget PID``; end of input (gilscope gone) ends the probe. Frames go to stdout: a kind
byte, a length, a payload. ``C`` frames carry packed ``CHANGE`` records, written only when a
target's GIL changed hands (or its switch count moved); ``W`` frames packed ``WAIT`` records
(a thread's wait for the GIL, ended or still going on); ``J`` frames carry one JSON message:
``ready`` / ``failed`` / ``no-gil`` / ``ended`` per target, ``interval`` when a target's
switch interval changes, and ``stats`` (reads so far, probe CPU) twice a second.

Each read is one ``pread`` of the GIL struct's first 32 bytes through ``/proc/PID/mem`` and
one of each Python thread's ``/proc/PID/task/TID/syscall`` (``thread_states``): the target is
never stopped. ``gil_reads`` turns consecutive reads into hand-offs and waits. A target is
read only as fast as its GIL changes hands (``READS_PER_HANDOFF`` reads per hand-off, between
``MIN_RATE_HZ`` and the rate asked): the switch count places the hand-offs between slower
reads, and every timer wake-up costs CPU the targets could use. One wake-up serves every
target that is due.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import queue
import signal
import struct
import sys
import threading
import time
from typing import BinaryIO, Dict, List, Optional, Tuple, Union

from gilscope.sampling.gil_layout import (
    GIL_READ,
    GilLayout,
    GilMemory,
    NoGil,
    ProbeError,
    derive_layout,
    layout_key,
)
from gilscope.sampling.gil_reads import GilReads
from gilscope.sampling.proc_threads import process_alive
from gilscope.sampling.thread_states import ThreadStates

FRAME = struct.Struct("<cI")
CHANGE = struct.Struct("<iiqQ")  # pid, holder's tid (0: nobody, -1: unknown), t_ns, switches
WAIT = struct.Struct("<iiqqi")  # pid, tid, start_ns, end_ns, ended (0: still waiting)
DEFAULT_RATE_HZ = 6_000  # the most reads/s per target: while its GIL changes hands that often
# A target is read READS_PER_HANDOFF times per hand-off it made lately (acquisitions, with
# re-acquisitions), and at least MIN_RATE_HZ times a second: hand-offs are counted by the
# switch count whatever the rate, and dated to within half a period. While a thread waits,
# at least WAIT_RATE_HZ: a wait's start is dated to within half a period.
READS_PER_HANDOFF = 5
MIN_RATE_HZ = 200
WAIT_RATE_HZ = 1_000
ADAPT_NS = 100_000_000  # the rate follows the hand-offs of the last ~0.1 s
PYTHON_THREADS_NS = 250_000_000  # the interpreter's thread list is re-read this often
# Each read round costs ~17.5 µs of CPU here (2-core VM, 2026-12-01, bench_probe.py section
# 1 beside a 2-thread countdown; probe CPU as SCHED_FIFO, all reads on time): 8,000/s 0.14
# core, 10,000 0.18, 15,000 0.28, 20,000 0.35, 25,000 0.46, 40,000 0.85; at 50,000/s the
# 20 µs period is shorter than a round and it never sleeps (0.70-0.73 core). Under the normal
# policy it got 10,000-23,000 reads/s when asked 20,000-50,000 on the shared machine.
# Above MAX_RATE_HZ the probe stops sleeping between reads: more CPU, not more resolution.
MAX_RATE_HZ = 20_000
# SCHED_FIFO preempts every normal task on its core, so only where its share of a core
# stays small (0.18 core here; ~0.35 where a wake-up costs 34 µs, as on the README's VM).
FIFO_MAX_RATE_HZ = 10_000
FLUSH_NS = 10_000_000  # changes reach gilscope within ~10 ms
STATS_NS = 500_000_000
# Holders that are no thread of the target: more than this many, and more than this share
# of the holders resolved, and the layout is wrong. (A thread that is exiting can leave a
# thread state behind that no longer leads to a live thread: a few of those are normal.)
UNKNOWN_LIMIT = 50
UNKNOWN_SHARE = 0.05
PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29
FIFO_PRIORITY = 1  # the lowest real-time priority: above every normal task, all it needs
SYS_SCHED_SETATTR = 314 if platform.machine() == "x86_64" else None  # x86-64 only
# struct sched_attr (version 1): size, policy, flags, nice, priority, runtime (the slice
# for SCHED_OTHER), deadline, period, util_min, util_max
SCHED_ATTR = struct.Struct("<IIQiIQQQII")
SHORT_SLICE_NS = 100_000  # the shortest slice the kernel allows


class Watch:
    """One verified target and what its last read showed."""

    def __init__(
        self, mem: GilMemory, states: Dict[int, int], period_ns: int, waits: bool = True
    ) -> None:
        self.mem = mem
        self.pid = mem.pid
        self.raw = b""
        self.holder = 0  # thread state pointer of the GIL's last holder, as last read
        self.holder_tid = 0
        self.switches = -1
        self.interval = 0
        self.reads = 0
        self.unknown = 0
        self.resolved = 0
        self.period_ns = period_ns  # adapts: see Probe.adapt
        self.due = 0  # when the next read is due
        self.gil = GilReads(period_ns)
        lay = mem.layout
        self.threads: Optional[ThreadStates] = None
        if waits and lay.wait_syscall >= 0:
            lo, hi = mem.gil + lay.wait_start, mem.gil + lay.wait_end
            self.threads = ThreadStates(self.pid, lay.wait_syscall, lo, hi)
        self.python_tids = set(states.values())
        self.listed_ns = time.monotonic_ns()
        if self.threads is not None:
            self.threads.track(self.python_tids)
        self.mark = (time.monotonic_ns(), 0)  # (t_ns, hand-offs so far) at the last adapt
        self.handoffs = 0  # acquisitions reported so far
        # tid -> pthread id, still to be told: py-spy names 3.9/3.10 threads by the latter
        self.new_threads: Dict[int, int] = {}
        self.told: Dict[Tuple[int, int], None] = {}  # (tid, thread state) pairs told
        for tstate, tid in states.items():
            self.learn(tstate, tid)

    def list_threads(self) -> None:
        """The interpreter's own thread list (only Python threads can wait for the GIL):
        its threads are read from now on, and ended ones forgotten."""
        self.listed_ns = time.monotonic_ns()
        try:
            tids = {self.mem.tid_of(ts) for ts in self.mem.thread_states()}
        except (ProbeError, OSError):
            return
        live = tids & self.mem.tasks(refresh=True)
        self.gil.forget(self.python_tids - live)
        self.python_tids = live
        if self.threads is not None:
            self.threads.track(live)

    def learn(self, tstate: int, tid: int) -> None:
        if (tid, tstate) in self.told:
            return
        if len(self.told) > 4096:
            self.told.clear()
        self.told[tid, tstate] = None
        try:
            self.new_threads[tid] = self.mem.ident_of(tstate)
        except ProbeError:
            pass

    def resolve(self, tstate: int) -> int:
        """The holder's Linux tid, checked against the process's threads. Read from the
        thread state every time the GIL changes hands, never cached by address: CPython
        hands a freed thread state to the next new thread, so an address that meant one
        thread a moment ago may mean another now."""
        self.resolved += 1
        tid = self.mem.tid_of(tstate)
        if tid not in self.mem.tasks() and tid not in self.mem.tasks(refresh=True):
            self.unknown += 1
            return -1
        self.learn(tstate, tid)
        if tid not in self.python_tids:
            self.python_tids.add(tid)
            if self.threads is not None:
                self.threads.add(tid)
        return tid

    def gone(self) -> bool:
        """Whether the target's memory is gone: it exited, and a read that failed just
        before says nothing against its layout."""
        try:
            return len(self.mem.read_gil()) != GIL_READ.size
        except OSError:
            return True

    def close(self) -> None:
        if self.threads is not None:
            self.threads.close()
        self.mem.close()


class Probe:
    def __init__(
        self,
        out: BinaryIO,
        rate_hz: int,
        scheduling: str = "normal",
        min_rate_hz: int = MIN_RATE_HZ,
        waits: bool = True,
    ) -> None:
        self.out = out
        self.period_ns = int(1e9 / rate_hz)  # the shortest: the rate asked
        # The slowest a target is read. min_rate_hz = rate_hz reads every target at the
        # rate asked, and with waits=False (no thread states) that is the probe as it was
        # before it followed waits: bench_probe.py compares the two.
        self.slowest_ns = max(self.period_ns, int(1e9 / max(1, min_rate_hz)))
        self.waits = waits
        self.scheduling = scheduling  # how the reads are kept on time: see prompt_scheduling
        self.watches: Dict[int, Watch] = {}
        self.layouts: Dict[Tuple[int, int], Union[GilLayout, ProbeError]] = {}
        # One derivation per binary at a time: the workers of a pool, watched together,
        # wait for the first one's layout instead of each running the interpreter again.
        self.deriving: Dict[Tuple[int, int], threading.Lock] = {}
        self.commands: queue.Queue[Optional[str]] = queue.Queue()
        self.verified: queue.Queue[Tuple[int, Union[Watch, ProbeError]]] = queue.Queue()
        self.forgotten: set[int] = set()
        self.buffer: List[bytes] = []
        self.wait_buffer: List[bytes] = []
        self.lock = threading.Lock()  # stdout is written by the loop and by verifiers

    # -- output -----------------------------------------------------------------------
    def message(self, **fields: object) -> None:
        payload = json.dumps(fields).encode()
        with self.lock:
            self.out.write(FRAME.pack(b"J", len(payload)) + payload)
            self.out.flush()

    def flush(self) -> None:
        for watch in self.watches.values():
            if watch.new_threads:
                threads = {str(tid): ident for tid, ident in watch.new_threads.items()}
                watch.new_threads.clear()
                self.message(kind="threads", pid=watch.pid, idents=threads)
            gil = watch.gil
            if gil.holder is not None:
                # Still the same holder at the latest read: lets the view extend its run.
                self.buffer.append(CHANGE.pack(watch.pid, gil.tid, gil.t, watch.switches))
            for tid, start, end, ended in gil.ongoing():
                self.wait_buffer.append(WAIT.pack(watch.pid, tid, start, end, ended))
        with self.lock:
            for kind, buffer in ((b"C", self.buffer), (b"W", self.wait_buffer)):
                if buffer:
                    payload = b"".join(buffer)
                    buffer.clear()
                    self.out.write(FRAME.pack(kind, len(payload)) + payload)
            self.out.flush()

    # -- targets ----------------------------------------------------------------------
    def verify(self, pid: int) -> None:
        """In a thread of its own: deriving and checking take ~0.1 s, and the other
        targets' reads must not pause for it."""
        mem: Optional[GilMemory] = None
        result: Union[Watch, ProbeError]
        try:
            key = layout_key(pid)
            with self.deriving.setdefault(key, threading.Lock()):
                layout = self.layouts.get(key)
                if layout is None:
                    try:
                        layout = derive_layout(pid)
                    except ProbeError as e:
                        layout = e
                    if not isinstance(layout, ProbeError) or process_alive(pid):
                        # a failure because the target exited meanwhile says nothing of
                        # its binary
                        self.layouts[key] = layout
            if isinstance(layout, ProbeError):
                raise layout
            mem = GilMemory(pid, layout)
            result = Watch(mem, mem.verify(), self.slowest_ns, waits=self.waits)
        except ProbeError as e:
            result = e
        except FileNotFoundError:
            result = ProbeError(f"process {pid} has exited")
        except PermissionError:
            result = ProbeError(f"may not read process {pid} (ptrace denied)")
        except OSError as e:  # the target exited while we looked
            result = ProbeError(f"process {pid}: {e.strerror or e}")
        if mem is not None and not isinstance(result, Watch):
            mem.close()  # whichever way it failed: no descriptor left open
        self.verified.put((pid, result))

    def take_verified(self) -> None:
        while True:
            try:
                pid, result = self.verified.get_nowait()
            except queue.Empty:
                return
            if pid in self.forgotten:
                if isinstance(result, Watch):
                    result.close()
                continue
            if isinstance(result, Watch):
                self.watches[pid] = result
                lay = result.mem.layout
                self.message(
                    kind="ready", pid=pid, version=lay.version, source=lay.source,
                    waits=result.threads is not None, waits_note=lay.wait_error,
                )  # fmt: skip
            elif isinstance(result, NoGil):
                self.message(kind="no-gil", pid=pid, reason=str(result))
            else:
                self.message(kind="failed", pid=pid, reason=str(result))

    def command(self, line: str) -> None:
        verb, _, arg = line.partition(" ")
        if not arg.strip().isdigit():
            return
        pid = int(arg)
        if verb == "watch":
            self.forgotten.discard(pid)
            threading.Thread(target=self.verify, args=(pid,), daemon=True).start()
        elif verb == "forget":
            self.forgotten.add(pid)
            watch = self.watches.pop(pid, None)
            if watch is not None:
                watch.close()

    def end(self, watch: Watch, reason: str = "") -> None:
        self.flush()
        self.watches.pop(watch.pid, None)
        watch.close()
        if reason:
            self.message(kind="failed", pid=watch.pid, reason=reason)
        else:
            self.message(kind="ended", pid=watch.pid, reads=watch.reads)

    def lost(self, watch: Watch, error: ProbeError) -> None:
        """A read failed: "ended" if the target exited meanwhile (a thread state read as
        its memory went), else "failed" with why."""
        self.end(watch, "" if watch.gone() else str(error))

    # -- the loop ---------------------------------------------------------------------
    def read(self, watch: Watch, t: int) -> None:
        try:
            raw = watch.mem.read_gil()
        except OSError:
            raw = b""
        if len(raw) != GIL_READ.size:
            self.end(watch)  # exited: its memory is gone
            return
        watch.reads += 1
        interval, holder, locked, _, switches = GIL_READ.unpack(raw)
        if raw != watch.raw:
            if holder != watch.holder or switches != watch.switches:
                # A new last holder, or the same thread state after hand-offs (it may
                # belong to a new thread by now): which thread is it?
                watch.holder = holder
                watch.holder_tid = watch.resolve(holder) if holder else -1
            watch.switches = switches
            if interval != watch.interval:
                watch.interval = interval
                self.message(kind="interval", pid=watch.pid, us=interval)
            watch.raw = raw
            if watch.unknown > max(UNKNOWN_LIMIT, UNKNOWN_SHARE * watch.resolved):
                self.end(watch, "the GIL's holder is often not a thread of the process")
                return
        threads = watch.threads
        states = threads.read() if threads is not None else {}
        last = watch.holder_tid
        gil = watch.gil
        sleeps: Dict[int, int] = {}
        if threads is not None:
            # The last holder's, and the one's before if it changed: their sleeps tell
            # re-acquisitions no switch counted (~2.5 µs each).
            for tid in {last, gil.last}:
                if tid > 0:
                    sleeps[tid] = threads.sleeps(tid)
        gil.read(t, locked == 1, last, switches, states, sleeps)
        if gil.changes or gil.waits:
            changes, waits = gil.take()
            pid = watch.pid
            for tid, at, count in changes:
                self.buffer.append(CHANGE.pack(pid, tid, at, count))
                watch.handoffs += tid != 0
            for tid, start, end, ended in waits:
                self.wait_buffer.append(WAIT.pack(pid, tid, start, end, ended))

    def adapt(self, watch: Watch, now: int) -> None:
        """Read a target only as fast as its GIL changes hands (and faster while a thread
        waits for it); down gently, so a lull of a few reads does not lose the next burst."""
        if self.slowest_ns == self.period_ns or now - watch.mark[0] < ADAPT_NS:
            return
        t0, handoffs0 = watch.mark
        per_s = (watch.handoffs - handoffs0) / ((now - t0) / 1e9)
        watch.mark = (now, watch.handoffs)
        wanted = max(READS_PER_HANDOFF * per_s, MIN_RATE_HZ)
        if watch.gil.waiting:
            wanted = max(wanted, WAIT_RATE_HZ)
        period = max(self.period_ns, min(self.slowest_ns, int(1e9 / wanted)))
        watch.period_ns = period if period < watch.period_ns else min(2 * watch.period_ns, period)
        watch.gil.period_ns = watch.period_ns

    def run(self) -> None:
        now = time.monotonic_ns()
        last_stats = now
        while True:
            # Housekeeping every ~10 ms; in between, only reads and sleeps (each loop
            # iteration costs CPU the targets could use).
            if not self.housekeeping():
                return
            now = time.monotonic_ns()
            if now - last_stats >= STATS_NS:
                t = os.times()
                reads = {str(w.pid): w.reads for w in self.watches.values()}
                self.message(
                    kind="stats",
                    t_ns=now,
                    cpu_s=t.user + t.system,
                    reads=reads,
                    scheduling=self.scheduling,
                )
                last_stats = now
            watches = list(self.watches.values())
            if not watches:
                time.sleep(FLUSH_NS / 1e9)
                continue
            for watch in watches:
                if now - watch.listed_ns >= PYTHON_THREADS_NS:
                    watch.list_threads()
                self.adapt(watch, now)
            until = now + FLUSH_NS
            while now < until:
                # One wake-up serves every target due within half the shortest period.
                ahead = min(w.period_ns for w in watches) // 2
                for watch in watches:
                    if watch.due - now > ahead:
                        continue
                    try:
                        self.read(watch, time.monotonic_ns())
                    except ProbeError as e:
                        self.lost(watch, e)
                    watch.due += watch.period_ns
                    if watch.due < now - 4 * watch.period_ns:
                        # Late by more than jitter (descheduled): skip the missed reads. A
                        # burst of make-up reads would add reads of one instant, not
                        # resolution.
                        watch.due = now + watch.period_ns
                if len(watches) != len(self.watches):
                    break  # one ended
                now = time.monotonic_ns()
                delay = min(min(w.due for w in watches), until) - now
                if delay > 0:
                    time.sleep(delay / 1e9)
                    now = time.monotonic_ns()
            self.flush()

    def housekeeping(self) -> bool:
        """Commands and verified targets; False once gilscope has gone."""
        while not self.commands.empty():
            line = self.commands.get()
            if line is None:
                return False
            self.command(line)
        if not self.verified.empty():
            self.take_verified()
        return True


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


SCHEDULING = ("auto", "fifo", "short-slice", "normal")


def prompt_scheduling(wanted: str = "auto", rate_hz: int = DEFAULT_RATE_HZ) -> str:
    """Make the probe's reads run when they are due, whatever the targets do.

    At a hand-off the new GIL holder has just woken and the scheduler lets it run out its
    slice before a waking probe gets the core: under the normal policy ~1 hand-off in 3
    fell in a 1-4 ms gap between reads, right at its start (measured with targets that
    stamp every 30 µs). So: SCHED_FIFO where allowed (root or CAP_SYS_NICE; the probe
    sleeps between reads, and the kernel's RT throttling caps it anyway), which closed
    those gaps; otherwise a 0.1 ms EEVDF slice (Linux 6.12+, no privilege needed), which
    narrows them. SCHED_BATCH, tried first, made it worse: reads then ran mostly when a
    core fell idle, i.e. at hand-offs, and read "nobody holds it" 4-5 % of the time.
    Children (the layout's self-inspection) get the normal policy back. ``wanted``: one
    policy only (the benchmark compares them); "auto" takes the first one allowed, and
    never SCHED_FIFO above ``FIFO_MAX_RATE_HZ``.
    """
    if wanted == "normal":
        return "normal"
    if wanted == "fifo" or (wanted == "auto" and rate_hz <= FIFO_MAX_RATE_HZ):
        try:
            policy = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
            os.sched_setscheduler(0, policy, os.sched_param(FIFO_PRIORITY))
            return "fifo"
        except (OSError, AttributeError):
            if wanted == "fifo":
                return "normal"
    if SYS_SCHED_SETATTR is None:
        return "normal"
    attr = SCHED_ATTR.pack(SCHED_ATTR.size, 0, 0, 0, 0, SHORT_SLICE_NS, 0, 0, 0, 0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(SYS_SCHED_SETATTR, 0, ctypes.create_string_buffer(attr), 0) == 0:
            return "short-slice"
    except (OSError, AttributeError):
        pass
    return "normal"


def rate_note(rate_hz: int) -> str:
    """What a user asking ``rate_hz`` should know about its scheduling ("" if nothing)."""
    if rate_hz <= FIFO_MAX_RATE_HZ:
        return ""
    return (
        f"GIL probe at {rate_hz:,} reads/s: above {FIFO_MAX_RATE_HZ:,}/s it runs under the "
        "normal scheduling policy, not SCHED_FIFO (which would take too much of a core), so "
        "its reads may come late at hand-offs"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gilscope.sampling.probe_process")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE_HZ)
    parser.add_argument("--scheduling", choices=SCHEDULING, default="auto")
    parser.add_argument("--min-rate", type=int, default=MIN_RATE_HZ, help="reads/s at the least")
    parser.add_argument("--no-waits", action="store_true", help="the GIL only (benchmarks)")
    args = parser.parse_args(argv)
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with gilscope, even a SIGKILLed one
    if os.getppid() != parent:
        return 0
    # The default 50 µs timer slack would stretch every 100 µs sleep by half.
    _prctl(PR_SET_TIMERSLACK, 1_000)
    rate = max(1, min(args.rate, MAX_RATE_HZ))
    scheduling = prompt_scheduling(args.scheduling, rate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is gilscope's to handle
    probe = Probe(
        sys.stdout.buffer, rate, scheduling, min(args.min_rate, rate), waits=not args.no_waits
    )

    def commands() -> None:
        for line in sys.stdin:
            probe.commands.put(line.strip())
        probe.commands.put(None)

    threading.Thread(target=commands, daemon=True).start()
    try:
        probe.run()
    except BrokenPipeError:
        pass  # gilscope has gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
