"""Waits for the GIL as figures: the bounded histogram, live and whole-run figures, and the
timeline's handling of waits the probe reports while they go on."""

from __future__ import annotations

from collections import deque
from typing import Deque, Tuple

from gilscope.model.lanes import MS, LaneKey
from gilscope.model.timeline import Timeline
from gilscope.model.waits import WaitHistogram, recent_figures, whole_figures

T0 = 1_000_000 * MS


def test_a_percentile_is_within_its_bins_width() -> None:
    hist = WaitHistogram()
    lengths = [int(1e5 * 1.01**i) for i in range(500)]  # 0.1 ms … ~14 ms
    for ns in lengths:
        hist.add(ns)
    for q in (0.5, 0.99):
        exact = sorted(lengths)[int(q * len(lengths)) - 1]
        got = hist.percentile_ns(q)
        assert got is not None and abs(got / exact - 1) < 0.03, (q, got, exact)


def test_the_histogram_stays_small_and_merges() -> None:
    a, b = WaitHistogram(), WaitHistogram()
    for i in range(100_000):
        a.add(1_000 + i * 997 % 50_000_000)
    b.add(10**15)  # two weeks: the last bin
    b.add(10)  # below a microsecond: the first
    a.merge(b)
    assert a.n == 100_002 and len(a.bins) < 700
    assert a.percentile_ns(1.0) == WaitHistogram.middle_ns(max(a.bins))
    assert WaitHistogram().percentile_ns(0.5) is None


def test_live_figures_count_the_waits_that_ended_in_the_window() -> None:
    waits: Deque[Tuple[int, int]] = deque([(T0 - 5 * MS, T0 - 1 * MS)])  # ended before
    waits.extend((T0 + k * 10 * MS, T0 + k * 10 * MS + 4 * MS) for k in range(100))
    fig = recent_figures(waits, 400 * MS, T0, T0 + 1000 * MS)
    assert fig.per_s == 100 and fig.share == 0.4
    assert fig.p50_ms == fig.p99_ms == 4.0


def test_whole_run_figures_without_waits() -> None:
    fig = whole_figures(None, 0, T0, T0 + MS)
    assert (fig.share, fig.per_s, fig.p50_ms) == (0.0, 0.0, None)


def test_an_ongoing_wait_is_drawn_as_it_goes_and_counted_once_it_ends() -> None:
    tl = Timeline()
    key = LaneKey(7, 1)
    tl.add_lane(key, "io-responder", 0)
    tl.add_waits([(key, T0, T0 + 2 * MS, False)])
    tl.add_waits([(key, T0, T0 + 4 * MS, False)])  # the same wait, still going on
    assert tl.stats(key, T0, T0 + 10 * MS).waits.per_s == 0  # not ended: not counted yet
    tl.add_waits([(key, T0, T0 + 5 * MS, True)])
    cells = tl.cells(key, T0 + 10 * MS, MS, 10)
    assert cells.waiting == (1.0,) * 5 + (0.0,) * 5  # each part drawn once
    st = tl.totals(key, T0, T0 + 10 * MS)
    assert st.waits.per_s == 100 and abs(st.waits.share - 0.5) < 1e-9
    assert st.waits.p50_ms is not None and abs(st.waits.p50_ms - 5) < 0.15
    assert tl.tally(key).waits == 1
