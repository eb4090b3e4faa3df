"""Per-thread CPU at 100 Hz: the scheduler tick's lag put back where it belongs, and the
sampler on a real thread of this process."""

from __future__ import annotations

import os
import threading
import time
from typing import List

from gilscope.sampling.thread_cpu import CpuSlice, ThreadCpuSampler, _advance, _Thread

MS = 1_000_000
T0 = 10**12  # a monotonic_ns-like origin (0 means "not read yet")


def slices_of(reads: List[tuple[int, int]]) -> List[CpuSlice]:
    """What ``_advance`` makes of (t, cpu) reads of one thread, the last one flushed."""
    th = _Thread(-1)
    out: List[CpuSlice] = []
    for t, cpu in reads:
        t += T0
        if th.last_ns:
            _advance(th, 1, 2, t, cpu, out)
        th.last_ns, th.last_cpu = t, cpu
    assert th.pending is not None
    return [*out, CpuSlice(1, 2, *th.pending)]


def test_a_thread_on_a_cpu_throughout_reads_full_despite_the_tick_lag() -> None:
    # The counter moves at ticks (4 ms): 8 then 12 ms over two 10 ms intervals, and so on.
    reads = [(0, 0), (10 * MS, 8 * MS), (20 * MS, 20 * MS), (30 * MS, 28 * MS), (40 * MS, 40 * MS)]
    assert [s.cpu_ns for s in slices_of(reads)] == [10 * MS] * 4
    spans = [(s.start_ns - T0, s.end_ns - T0) for s in slices_of(reads)]
    assert spans[:2] == [(0, 10 * MS), (10 * MS, 20 * MS)]


def test_time_is_moved_back_only_into_room_the_interval_before_had() -> None:
    # Full before (no room): the extra stays where it was read; idle before: it moves back.
    full = [(0, 0), (10 * MS, 10 * MS), (20 * MS, 24 * MS)]
    assert [s.cpu_ns for s in slices_of(full)] == [10 * MS, 14 * MS]
    idle = [(0, 0), (10 * MS, 0), (20 * MS, 14 * MS)]
    assert [s.cpu_ns for s in slices_of(idle)] == [4 * MS, 10 * MS]
    # Nothing is lost or made up.
    assert sum(s.cpu_ns for s in slices_of(idle)) == 14 * MS


def test_a_thread_that_does_not_run_has_empty_slices() -> None:
    reads = [(0, 5 * MS), (10 * MS, 5 * MS), (20 * MS, 5 * MS)]
    assert [s.cpu_ns for s in slices_of(reads)] == [0, 0]


def test_the_sampler_reads_a_busy_thread_of_this_process() -> None:
    stop = threading.Event()
    tids: List[int] = []
    used: List[int] = []

    def spin() -> None:
        begin = time.thread_time_ns()
        tids.append(threading.get_native_id())  # after its clock's start: see below
        while not stop.is_set():
            pass
        used.append(time.thread_time_ns() - begin)

    sampler = ThreadCpuSampler()
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        deadline = time.monotonic() + 10
        while not tids:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        sampler.watch(os.getpid())  # its first reading comes after the spinner's begin
        got: List[CpuSlice] = []
        while sum(s.cpu_ns for s in got if s.tid in tids) < 100 * MS:
            assert time.monotonic() < deadline
            time.sleep(0.02)
            got += sampler.drain()
    finally:
        stop.set()
        spinner.join()
        sampler.stop()
    mine = [s for s in got if s.tid == tids[0]]
    # one slice per read, each about 10 ms (100 Hz), back to back
    assert all(a.end_ns == b.start_ns for a, b in zip(mine, mine[1:]))
    widths = sorted(s.end_ns - s.start_ns for s in mine)
    assert 5 * MS <= widths[len(widths) // 2] <= 50 * MS
    assert all(s.cpu_ns >= 0 for s in mine)
    assert sum(s.cpu_ns for s in mine) <= used[0]  # never more than it used
    assert sampler.watched == {os.getpid()}
