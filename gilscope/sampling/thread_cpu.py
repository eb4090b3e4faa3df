"""Per-thread CPU time at 100 Hz, for processes that run without a GIL.

Without a GIL there is no baton to read: a free-threaded process's threads run at once, and
what a lane can show is when each thread was on a CPU. The session's 10 Hz CPU sample is
too coarse for a relay drawn at 1-50 ms a column, so a thread of its own reads each such
thread's ``/proc/PID/task/TID/schedstat`` (its time on a CPU, in ns) a hundred times a
second, through a descriptor kept open per thread (one ``pread`` each, ~0.5 µs); the
process's threads are listed again each round.

The kernel adds a running thread's time to that counter at each scheduler tick (every 4 ms
at HZ=250) or when it leaves the CPU, so a read lags the truth by up to a tick: a thread on a
CPU throughout reads 8 then 12 ms over two 10 ms intervals. Each interval is therefore held
back until the next read, and time the next read brings beyond its own length goes back
into the interval before (up to that one's length): the lag's share, where it belongs.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Deque, Dict, List, NamedTuple, Optional, Set, Tuple

FINE_CPU_HZ = 100
KEEP_SLICES = 200_000  # ~minutes of slices if the session stalls; then the oldest go


class CpuSlice(NamedTuple):
    """Thread ``tid`` of ``pid`` was on a CPU for ``cpu_ns`` within [start_ns, end_ns)."""

    pid: int
    tid: int
    start_ns: int
    end_ns: int
    cpu_ns: int


class _Thread:
    __slots__ = ("fd", "last_cpu", "last_ns", "pending")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.last_ns = 0  # when it was last read (0: not yet)
        self.last_cpu = 0
        self.pending: Optional[List[int]] = None  # [start, end, cpu] held back one read


class ThreadCpuSampler:
    """One thread for the session; processes come and go with ``watch`` / ``forget``."""

    def __init__(self, rate_hz: int = FINE_CPU_HZ) -> None:
        self.rate_hz = rate_hz
        self._lock = threading.Lock()
        self._wanted: Set[int] = set()
        self._threads: Dict[int, Dict[int, _Thread]] = {}  # pid -> tid -> (sampler thread's)
        self._slices: Deque[CpuSlice] = deque(maxlen=KEEP_SLICES)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._rounds = 0
        self._stats: Tuple[float, float] = (0.0, 0.0)  # (rounds/s, cores) while it sampled

    # -- control (any thread) ---------------------------------------------------------
    def watch(self, pid: int) -> None:
        with self._lock:
            self._wanted.add(pid)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="gilscope-thread-cpu", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def forget(self, pid: int) -> None:
        with self._lock:
            self._wanted.discard(pid)

    def forget_all(self) -> None:
        """A new observation: what is not drained yet belonged to the one before."""
        with self._lock:
            self._wanted.clear()
            self._slices.clear()

    @property
    def watched(self) -> Set[int]:
        with self._lock:
            return set(self._wanted)

    def drain(self) -> List[CpuSlice]:
        with self._lock:
            out = list(self._slices)
            self._slices.clear()
        return out

    def stats(self) -> Tuple[float, float]:
        """(reads per second of each thread, cores this sampler's thread used), since it
        last began to sample (it sleeps while no process needs it)."""
        with self._lock:
            return self._stats

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    # -- the sampler thread -----------------------------------------------------------
    def _run(self) -> None:
        period = 1_000_000_000 // self.rate_hz
        next_t = time.monotonic_ns()
        mark: Optional[Tuple[int, int, int]] = None  # (t, thread CPU, rounds) at the first round
        try:
            while not self._stop.is_set():
                with self._lock:
                    wanted = set(self._wanted)
                done: List[CpuSlice] = []
                for pid in [p for p in self._threads if p not in wanted]:
                    self._close(pid, done)  # a process that ended: its last slices too
                if done:
                    with self._lock:
                        self._slices.extend(done)
                if not wanted:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    next_t = time.monotonic_ns()
                    mark = None
                    continue
                out: List[CpuSlice] = []
                for pid in wanted:
                    self._read(pid, out)
                self._rounds += 1
                now, cpu = time.monotonic_ns(), time.thread_time_ns()
                if mark is None or now <= mark[0]:
                    mark = (now, cpu, self._rounds)
                    stats = None
                else:
                    span = now - mark[0]
                    stats = ((self._rounds - mark[2]) / (span / 1e9), (cpu - mark[1]) / span)
                with self._lock:
                    self._slices.extend(out)
                    if stats is not None:
                        self._stats = stats
                next_t += period
                delay = next_t - time.monotonic_ns()
                if delay < 0:
                    # Late (descheduled): skip the reads missed rather than make them up in
                    # a burst, whose slices would be µs wide and say nothing new.
                    next_t = time.monotonic_ns()
                self._stop.wait(max(delay, 0) / 1e9)
        finally:
            for pid in list(self._threads):
                self._close(pid, [])

    def _read(self, pid: int, out: List[CpuSlice]) -> None:
        # Listed every round (~15 µs): a thread is read from within 10 ms of its start.
        threads = self._relist(pid, self._threads.get(pid, {}), out)
        for tid, th in list(threads.items()):
            try:
                raw = os.pread(th.fd, 64, 0)
                now = time.monotonic_ns()
                cpu = int(raw.split(None, 1)[0])
            except (OSError, ValueError, IndexError):
                self._end(pid, tid, threads, out)  # it ended (ESRCH) since it was listed
                continue
            if th.last_ns:
                _advance(th, pid, tid, now, cpu, out)
            th.last_ns, th.last_cpu = now, cpu

    def _relist(
        self, pid: int, threads: Dict[int, _Thread], out: List[CpuSlice]
    ) -> Dict[int, _Thread]:
        try:
            tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")}
        except (OSError, ValueError):
            tids = set()
        for tid in [t for t in threads if t not in tids]:
            self._end(pid, tid, threads, out)
        for tid in tids - set(threads):
            try:
                threads[tid] = _Thread(os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY))
            except OSError:
                continue
        self._threads[pid] = threads
        return threads

    def _end(self, pid: int, tid: int, threads: Dict[int, _Thread], out: List[CpuSlice]) -> None:
        th = threads.pop(tid)
        if th.pending is not None:
            out.append(CpuSlice(pid, tid, *th.pending))
        os.close(th.fd)

    def _close(self, pid: int, out: List[CpuSlice]) -> None:
        threads = self._threads.get(pid, {})
        for tid in list(threads):
            self._end(pid, tid, threads, out)
        self._threads.pop(pid, None)


def _advance(th: _Thread, pid: int, tid: int, now: int, cpu: int, out: List[CpuSlice]) -> None:
    """The interval since the last read becomes the pending one; the one it replaces goes
    out, with what of this read's time belongs to it (see the module's docstring)."""
    used = max(0, cpu - th.last_cpu)
    before = th.pending
    if before is not None:
        excess = used - (now - th.last_ns)
        room = (before[1] - before[0]) - before[2]
        if excess > 0 and room > 0:
            moved = min(excess, room)
            before[2] += moved
            used -= moved
        out.append(CpuSlice(pid, tid, before[0], before[1], before[2]))
    th.pending = [th.last_ns, now, used]
