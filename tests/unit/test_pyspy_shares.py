"""py-spy's per-thread GIL shares pooled over synthetic windows (gilscope.model.pyspy_shares)."""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, List, Optional, Tuple

import pytest

from gilscope.model.pyspy_shares import WindowStore, pyspy_shares
from gilscope.sampling.gil_stacks import ThreadGil
from gilscope.sampling.pyspy import PySpyWindow, thread_started_ns

S = 1_000_000_000
RATE = 500  # each window's rate: two overlapping windows make 1000 samples/s


def window(
    start_s: float,
    end_s: float,
    samples: Dict[int, int],
    intervals: Optional[int] = None,
    errors: int = 0,
    pid: int = 1,
    complete: bool = True,
) -> PySpyWindow:
    n = intervals if intervals is not None else round((end_s - start_s) * RATE) - 1
    threads = tuple(ThreadGil(tid, f"t{tid}", k, k / n, ()) for tid, k in samples.items())
    return PySpyWindow(pid, int(start_s * S), int(end_s * S), n, complete, threads, True, errors)


def test_pooled_over_windows_with_one_denominator() -> None:
    ws = [window(0, 1, {1: 300, 2: 190}), window(0.5, 1.5, {1: 250, 2: 249})]
    got = pyspy_shares(ws, {(1, 1): None, (1, 2): None})
    assert got[1, 1].share == pytest.approx(550 / 998)
    assert got[1, 2].share == pytest.approx(439 / 998)
    assert got[1, 1].covered_s == got[1, 2].covered_s == pytest.approx(1.5)


def test_a_thousand_short_lived_threads_sum_to_at_most_one() -> None:
    """A thread per request: 1,000 threads of 20 ms one after another over 20 s, each holding
    the GIL 90 % of its life. Each window holds the threads alive in it."""
    lives: Dict[Tuple[int, int], Optional[Tuple[int, int]]] = {}
    for i in range(1000):
        lives[1, 100 + i] = (i * 20_000_000, (i + 1) * 20_000_000)
    ws: List[PySpyWindow] = []
    for k in range(39):  # 1 s windows every 0.5 s
        start, end = k * S // 2, k * S // 2 + S
        held = {}
        for (_, tid), life in lives.items():
            assert life is not None
            overlap = min(end, life[1]) - max(start, life[0])
            if overlap > 0:
                held[tid] = round(0.9 * overlap / S * RATE)
        ws.append(window(start / S, end / S, held))
    # What the report did before: each thread's samples over only the windows it appeared in.
    per_thread = sum(
        sum(t.samples for w in ws for t in w.threads if t.tid == tid)
        / sum(w.intervals for w in ws if any(t.tid == tid for t in w.threads))
        for _, tid in lives
    )
    assert per_thread > 10  # 18: the kind of figure issue 10 found (42.19)

    for known in (lives, dict.fromkeys(lives)):  # with the threads' lives, and without
        got = pyspy_shares(ws, known)
        total = sum(s.share or 0.0 for s in got.values())
        assert 0.85 < total <= 1.0
        one = got[1, 600]
        assert one.share == pytest.approx(0.9 * 0.02 / 20, rel=0.1)  # of the observation
    alive = pyspy_shares(ws, lives)[1, 600].share_alive
    assert alive == pytest.approx(0.9, rel=0.05)  # of its own 20 ms


def test_a_thread_that_started_mid_window() -> None:
    """Thread 1 holds the GIL half the time throughout; thread 2 starts at 0.5 s and holds it
    the other half of the time from then on (before that nobody did)."""
    ws = [window(0, 1, {1: 250, 2: 125})]
    lives = {(1, 1): (0, S), (1, 2): (S // 2, S)}
    got = pyspy_shares(ws, lives)
    assert got[1, 2].share == pytest.approx(125 / 499)  # of the whole observation, as the probe
    assert got[1, 2].share_alive == pytest.approx(125 / 249.5)  # of the half it existed in
    assert got[1, 1].share_alive == got[1, 1].share == pytest.approx(250 / 499)


def test_a_window_straddling_the_start_counts_if_its_threads_started_inside() -> None:
    """A launched script waits, then starts two threads at 0.5 s, when the observation (the
    probe's first read of a holder) begins; py-spy's first window began at 0. Its main
    thread, there all along, held the GIL for the two samples of starting them."""
    ws = [window(0, 1, {1: 124, 2: 123, 9: 2}), window(0.5, 1.5, {1: 250, 2: 249})]
    observed = (S // 2, 2 * S)
    lives = {(1, 1): (S // 2, 2 * S), (1, 2): (S // 2 + 1_000_000, 2 * S), (1, 9): (-S, 2 * S)}
    got = pyspy_shares(ws, lives, observed)
    assert got[1, 1].covered_s == pytest.approx(1.0)  # the first window's second half counts
    # each window's shares, weighed by the time it covers (0.5–1 s: two windows, 1–1.5 s: one)
    assert got[1, 1].share == pytest.approx(124 / 249.5 * 0.25 + 250 / 499 * 0.75)
    assert got[1, 2].share == pytest.approx(123 / 249.5 * 0.25 + 249 / 499 * 0.75)
    assert got[1, 9].share == pytest.approx(1 / 249.5 * 0.25)  # spread evenly: half inside
    # Counted whole, the 0.5 s before the threads started would read as 12 pp less each.
    assert pyspy_shares(ws, lives)[1, 1].share == pytest.approx(374 / 998)
    # Without their lives it is unclear where its samples fell: the window is left out.
    unknown = pyspy_shares(ws, dict.fromkeys(lives), observed)
    assert unknown[1, 1].covered_s == pytest.approx(1.0)
    assert unknown[1, 1].share == pytest.approx(250 / 499)


def test_a_window_straddling_the_start_with_threads_from_before_is_left_out() -> None:
    """Workers warm up before "go" (0 s): the main thread holds the GIL more then. Which of
    the first window's samples came after "go" is unknown: it is left out."""
    warm_up = window(-0.5, 0.5, {1: 200, 2: 100, 3: 100})
    ws = [warm_up, window(0, 1, {2: 250, 3: 249}), window(0.5, 1.5, {2: 249, 3: 250})]
    lives = {(1, 1): (-10 * S, 2 * S), (1, 2): (-2 * S, 2 * S), (1, 3): (-2 * S, 2 * S)}
    got = pyspy_shares(ws, lives, (0, 2 * S))
    assert got[1, 1].share == 0.0
    assert got[1, 2].share == pytest.approx(499 / 998)
    assert got[1, 2].covered_s == pytest.approx(1.5)


def test_a_window_cut_short_counts_only_the_intervals_it_took() -> None:
    ws = [
        window(0, 1, {1: 250, 2: 249}),
        window(0.5, 1.5, {1: 249, 2: 250}),
        window(1.0, 1.3, {1: 75, 2: 74}, intervals=150, complete=False),  # the target exited
    ]
    got = pyspy_shares(ws, {(1, 1): None, (1, 2): None})
    # each window weighs the time it covers: 0.75 s, 0.6 s, 0.15 s of 1.5 s
    assert got[1, 1].share == pytest.approx((0.75 * 250 / 499 + 0.6 * 249 / 499 + 0.15 * 0.5) / 1.5)
    assert got[1, 2].share == pytest.approx(
        (0.75 * 249 / 499 + 0.6 * 250 / 499 + 0.15 * 74 / 150) / 1.5
    )


def test_windows_bunched_together_weigh_no_more_than_the_time_they_cover() -> None:
    """A busy gilscope starts windows late, then two at once: the stretch they share must
    not count twice. Here the first second is idle and covered three times over."""
    ws = [
        window(0, 1, {}),
        window(0.05, 1.05, {}),
        window(0.1, 1.1, {}),
        window(1.1, 2.1, {1: 499}),
    ]
    got = pyspy_shares(ws, {(1, 1): None})
    assert got[1, 1].share == pytest.approx(1.0 / 2.1)  # pooled: 499 / 1996 = 0.25
    assert got[1, 1].covered_s == pytest.approx(2.1)


def test_unreadable_intervals_are_not_counted_as_nobody_holding() -> None:
    got = pyspy_shares([window(0, 1, {1: 200}, intervals=499, errors=99)], {(1, 1): None})
    assert got[1, 1].share == pytest.approx(0.5)


def test_windows_outside_the_observation_count_only_their_part_inside() -> None:
    ws = [
        window(-0.03, 0.97, {1: 200}),  # 3 % before: our clock's slack, clipped
        window(0.5, 1.5, {1: 300}),  # half after, a thread from before and after: left out
        window(1.5, 2.5, {1: 499}),  # all after: left out
    ]
    got = pyspy_shares(ws, {(1, 1): None}, (0, S))
    assert got[1, 1].covered_s == pytest.approx(0.97)
    assert got[1, 1].share == pytest.approx(200 / 499)


def test_processes_keep_their_own_denominators() -> None:
    ws = [window(0, 1, {1: 499}, pid=1), window(0, 1, {7: 100}, pid=2)]
    lives: Dict[Tuple[int, int], Optional[Tuple[int, int]]] = {(1, 1): None, (3, 9): None}
    got = pyspy_shares(ws, lives)
    assert got[1, 1].share == pytest.approx(1.0)
    assert got[2, 7].share == pytest.approx(100 / 499)  # seen by py-spy, not named in lives
    assert got[3, 9].share is None  # a process py-spy never sampled


def test_samples_our_clock_places_outside_a_life_still_count_and_never_exceed_one() -> None:
    """Lives and windows are on different clocks (ours reads py-spy's lines late): a thread
    seen in a window that its life does not reach keeps its samples, and a window never
    gives out more than its intervals."""
    ws = [window(0, 1, {1: 400, 2: 300})]  # inconsistent on purpose: 700 > 499
    lives = {(1, 1): (2 * S, 3 * S), (1, 2): None}
    got = pyspy_shares(ws, lives)
    assert (got[1, 1].share or 0) + (got[1, 2].share or 0) == pytest.approx(1.0)
    assert (got[1, 1].share_alive or 0) <= 1.0


def test_a_thread_started_when_proc_says_never_later() -> None:
    """The start of a life must not be late: a late start would place a thread's samples
    after the observation began when they may have come before."""
    release = threading.Event()
    before = time.monotonic_ns()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert thread.native_id is not None
        started = thread_started_ns(os.getpid(), thread.native_id)
        after = time.monotonic_ns()
    finally:
        release.set()
        thread.join()
    assert started is not None
    assert before - 20_000_000 <= started <= after  # /proc counts whole 10 ms ticks
    assert thread_started_ns(os.getpid(), 2**22 + 12345) is None  # no such thread


def test_a_store_folds_old_windows_and_keeps_the_same_shares() -> None:
    """Hours of windows in bounded memory: folding old windows into totals gives the same
    shares as keeping them all (shares over disjoint stretches of time add up)."""
    ws = [window(0.5 * i, 0.5 * i + 1, {1: 300, 2: 150}) for i in range(400)]
    lives: Dict[Tuple[int, int], Optional[Tuple[int, int]]] = {(1, 1): None, (1, 2): None}
    store = WindowStore(keep=50)
    for w in ws:
        store.add(w, 1, lambda: lives)
    assert sum(len(kept) for kept in store._windows.values()) <= 100
    span = (0, int(201 * S))
    got, whole = store.shares(span, lives), pyspy_shares(ws, lives, span)
    for key in lives:
        assert got[key].share == pytest.approx(whole[key].share, abs=0.002)


def test_a_store_of_several_processes_gives_each_its_own_shares() -> None:
    """A process pool: each worker's windows, its main thread holding the GIL throughout,
    the parent idle. Every process's threads get their share from their own windows and
    their own covered time, folded or not (a share of one process's windows was once read
    against another's covered time: None for every worker)."""
    lives: Dict[Tuple[int, int], Optional[Tuple[int, int]]] = {
        (10, 10): None, (10, 11): None, (20, 20): None, (30, 30): None,
    }  # fmt: skip
    store = WindowStore(keep=10)
    for i in range(60):
        a, b = 0.5 * i, 0.5 * i + 1
        store.add(window(a, b, {}, pid=10), 1, lambda: lives)
        store.add(window(a, b, {20: 499}, pid=20), 1, lambda: lives)
        store.add(window(a, b, {30: 250}, pid=30), 1, lambda: lives)
    got = store.shares((0, int(31 * S)), lives)
    assert got[10, 10].share == got[10, 11].share == 0.0
    assert got[20, 20].share == pytest.approx(1.0, abs=0.002)
    assert got[30, 30].share == pytest.approx(250 / 499, abs=0.002)
