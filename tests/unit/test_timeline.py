"""Timeline: beacon stamps become an exclusive, gapless relay of runs, bins and figures."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Dict, List, Tuple

import pytest

from gilscope.model.bins import PAGE_BINS
from gilscope.model.timeline import (
    COARSE_BINS,
    FINE_BINS,
    HOLD_GAP_MAX_NS,
    MS,
    RECENT_RUNS,
    LaneKey,
    Timeline,
)

T0 = 10**12  # a monotonic_ns-like origin; 0 means "never stamped" inside the timeline
S = 1_000 * MS

Stamps = Dict[LaneKey, List[int]]
Run = Tuple[int, int]


def alternating(
    pid: int, lanes: int, ms: int, hold_ms: int = 5, t0: int = T0, jitter_ns: int = 0
) -> Stamps:
    """A stamp every 1 ms; the stamping lane changes every ``hold_ms`` stamps, round robin."""
    rng = random.Random(pid)
    out: Stamps = {LaneKey(pid, slot): [] for slot in range(lanes)}
    keys = list(out)
    for k in range(1, ms + 1):
        t = t0 + k * MS + (rng.randint(-jitter_ns, jitter_ns) if jitter_ns else 0)
        out[keys[((k - 1) // hold_ms) % lanes]].append(t)
    return out


def timeline_for(*streams: Stamps) -> Timeline:
    tl = Timeline()
    for stamps in streams:
        for key in stamps:
            tl.add_lane(key, f"countdown-{key.slot}", key.pid, MS)
    return tl


def feed(tl: Timeline, *streams: Stamps) -> Timeline:
    tl.add_stamps((key, s) for stamps in streams for key, s in stamps.items())
    return tl


def feed_cut(tl: Timeline, stamps: Stamps, cuts: Sequence[int]) -> None:
    """Deliver in batches the way the reader does: every lane up to the same instant."""
    done = dict.fromkeys(stamps, 0)
    for cut in [*cuts, 2**62]:
        batch = []
        for key, s in stamps.items():
            j = done[key]
            while j < len(s) and s[j] <= cut:
                j += 1
            batch.append((key, s[done[key] : j]))
            done[key] = j
        tl.add_stamps(batch)


def runs(tl: Timeline, key: LaneKey) -> List[Run]:
    return [(s, e) for s, e in tl._lanes[key].runs]


def process_runs(tl: Timeline, pid: int) -> List[Tuple[int, int, int]]:
    keys = [k for k in tl.keys() if k.pid == pid]  # noqa: SIM118 - a Timeline, not a dict
    return sorted((s, e, k.slot) for k in keys for s, e in runs(tl, k))


def span(tl: Timeline) -> Tuple[int, int]:
    keys = tl.keys()
    return min(tl.first_ns(k) for k in keys), tl.latest_ns


def overlap_ns(a: List[Run], b: List[Run]) -> int:
    """Total time covered by both sets of runs (each set sorted and non-overlapping)."""
    total = i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


# -- shares, hand-offs, hold times ----------------------------------------------------


def test_two_threads_alternating_every_5ms() -> None:
    stamps = alternating(pid=1, lanes=2, ms=10_000)
    tl = feed(timeline_for(stamps), stamps)
    start, end = span(tl)
    assert start == T0  # the first run reaches back one chunk before the first stamp
    assert end == T0 + 10_000 * MS
    for key in stamps:
        st = tl.totals(key, start, end)
        assert st.gil_share == pytest.approx(0.5, abs=0.005)
        assert st.handoffs_per_s == pytest.approx(100, abs=1)
        assert st.mean_hold_ms == pytest.approx(5.0, abs=0.05)
        assert st.runs == 1_000
    shares = [tl.totals(k, start, end).gil_share for k in stamps]
    assert sum(shares) == pytest.approx(1.0, abs=1e-6)  # gapless: someone always held it


def test_hand_off_is_split_between_the_last_and_first_stamps() -> None:
    stamps = alternating(pid=1, lanes=2, ms=20)
    tl = feed(timeline_for(stamps), stamps)
    a, b = stamps
    # A stamps at 1..5 ms, B at 6..10: the unseen hand-off is put half way, at 5.5 ms.
    assert runs(tl, a)[0] == (T0, T0 + 5 * MS + MS // 2)
    assert runs(tl, b)[0] == (T0 + 5 * MS + MS // 2, T0 + 10 * MS + MS // 2)
    assert runs(tl, b)[-1] == (T0 + 15 * MS + MS // 2, T0 + 20 * MS)


def test_a_hand_off_delayed_by_descheduling_is_still_split() -> None:
    # On a busy machine a thread can lose its core while holding the GIL, or just after
    # taking it: the stamps around a hand-off are then more than two chunks apart. One of
    # the two held the GIL meanwhile, so the gap is split too and the relay stays gapless.
    a, b = LaneKey(1, 0), LaneKey(1, 1)
    stamps = {a: [T0 + k * MS for k in range(1, 6)], b: [T0 + k * MS for k in range(15, 20)]}
    tl = feed(timeline_for(stamps), stamps)
    assert runs(tl, a) == [(T0, T0 + 10 * MS)]  # half way between 5 + 1 and 15 - 1 ms
    assert runs(tl, b) == [(T0 + 10 * MS, T0 + 19 * MS)]


def test_a_hand_off_after_a_long_silence_is_not_split() -> None:
    a, b = LaneKey(1, 0), LaneKey(1, 1)
    stamps = {a: [T0 + k * MS for k in range(1, 6)], b: [T0 + k * MS for k in range(70, 76)]}
    tl = feed(timeline_for(stamps), stamps)
    assert runs(tl, a) == [(T0, T0 + 5 * MS)]
    assert runs(tl, b) == [(T0 + 69 * MS, T0 + 75 * MS)]


def test_busy_machine_hand_offs_keep_the_shares() -> None:
    rng = random.Random(2)
    a, b = LaneKey(1, 0), LaneKey(1, 1)
    stamps: Stamps = {a: [], b: []}
    t = T0
    for i in range(400):
        t += rng.randrange(0, 20 * MS)  # the hand-off waited for a core
        for _ in range(5):
            t += MS
            stamps[(a, b)[i % 2]].append(t)
    tl = feed(timeline_for(stamps), stamps)
    start, end = span(tl)
    shares = [tl.totals(k, start, end).gil_share for k in (a, b)]
    assert sum(shares) == pytest.approx(1.0, abs=1e-6)
    assert shares == pytest.approx([0.5, 0.5], abs=0.05)
    assert_exclusive(tl, 1)


def test_stats_over_a_window() -> None:
    stamps = alternating(pid=1, lanes=2, ms=10_000)
    tl = feed(timeline_for(stamps), stamps)
    end = tl.latest_ns
    for key in stamps:
        st = tl.stats(key, end - 2 * S, end)
        assert st.gil_share == pytest.approx(0.5, abs=0.01)
        assert st.handoffs_per_s == pytest.approx(100, abs=1)
        assert st.mean_hold_ms == pytest.approx(5.0, abs=0.05)
        assert tl.held_between(key, end - 2 * S, end) == pytest.approx(0.5, abs=0.01)
    # A window before anything happened, or an empty one, is all zeros.
    key = next(iter(stamps))
    assert tl.stats(key, T0 - 2 * S, T0 - S).runs == 0
    assert tl.stats(key, end, end).gil_share == 0.0


def test_four_threads_share_a_quarter_each() -> None:
    stamps = alternating(pid=7, lanes=4, ms=8_000, hold_ms=5)
    tl = feed(timeline_for(stamps), stamps)
    start, end = span(tl)
    for key in stamps:
        st = tl.totals(key, start, end)
        assert st.gil_share == pytest.approx(0.25, abs=0.005)
        assert st.handoffs_per_s == pytest.approx(50, abs=1)
        assert st.mean_hold_ms == pytest.approx(5.0, abs=0.05)


def test_jittered_stamps_still_give_half_each() -> None:
    stamps = alternating(pid=3, lanes=2, ms=5_000, jitter_ns=200_000)
    tl = feed(timeline_for(stamps), stamps)
    start, end = span(tl)
    for key in stamps:
        st = tl.totals(key, start, end)
        assert st.gil_share == pytest.approx(0.5, abs=0.02)
        assert st.handoffs_per_s == pytest.approx(100, abs=2)
        assert st.mean_hold_ms == pytest.approx(5.0, abs=0.2)
    assert_exclusive(tl, 3)


# -- exclusivity within a process, parallelism across processes -----------------------


def assert_exclusive(tl: Timeline, pid: int) -> None:
    ordered = process_runs(tl, pid)
    assert ordered
    for s, e, _ in ordered:
        assert s <= e
    for (_, e1, slot1), (s2, _, slot2) in zip(ordered, ordered[1:]):
        assert s2 >= e1, f"runs of slots {slot1} and {slot2} overlap by {e1 - s2} ns"


def test_runs_never_overlap_within_a_process() -> None:
    stamps = alternating(pid=1, lanes=3, ms=3_000, hold_ms=5)
    tl = feed(timeline_for(stamps), stamps)
    assert_exclusive(tl, 1)
    # ...and the relay is gapless: each run starts where the previous one ended.
    ordered = process_runs(tl, 1)
    for (_, e1, _), (s2, _, _) in zip(ordered, ordered[1:]):
        assert s2 == e1


def test_two_processes_in_parallel_overlap() -> None:
    p1 = alternating(pid=1, lanes=2, ms=5_000)
    p2 = alternating(pid=2, lanes=2, ms=5_000, t0=T0 + 2 * MS + 300_000)  # out of phase
    tl = feed(timeline_for(p1, p2), p1, p2)
    assert_exclusive(tl, 1)
    assert_exclusive(tl, 2)
    r1 = [(s, e) for s, e, _ in process_runs(tl, 1)]
    r2 = [(s, e) for s, e, _ in process_runs(tl, 2)]
    both = overlap_ns(r1, r2)
    assert both > 0.95 * 5 * S  # both processes hold a GIL at (nearly) every instant
    # Lane by lane too: a thread of one process runs alongside threads of the other.
    a1, a2 = LaneKey(1, 0), LaneKey(2, 0)
    assert overlap_ns(runs(tl, a1), runs(tl, a2)) > 0.1 * S
    start, end = span(tl)
    for key in (*p1, *p2):
        assert tl.totals(key, start, end).gil_share == pytest.approx(0.5, abs=0.01)


def test_processes_fed_separately_or_together_agree() -> None:
    p1 = alternating(pid=1, lanes=2, ms=2_000)
    p2 = alternating(pid=2, lanes=2, ms=2_000, t0=T0 + 3 * MS)
    together = feed(timeline_for(p1, p2), p1, p2)
    apart = timeline_for(p1, p2)
    feed(apart, p2)
    feed(apart, p1)
    for key in (*p1, *p2):
        assert runs(together, key) == runs(apart, key)


# -- cells -----------------------------------------------------------------------------


def test_cells_at_1ms_show_the_alternation() -> None:
    stamps = alternating(pid=1, lanes=2, ms=1_000)
    tl = feed(timeline_for(stamps), stamps)
    a, b = stamps
    end = T0 + 900 * MS
    ca = tl.cells(a, end, MS, 200).held
    cb = tl.cells(b, end, MS, 200).held
    assert len(ca) == len(cb) == 200
    for x, y in zip(ca, cb):
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        assert x + y == pytest.approx(1.0)  # exactly one holder at every instant
    # Held blocks of ~5 columns alternate with empty ones.
    blocks: List[Tuple[bool, int]] = []
    for v in ca:
        held = v >= 0.5
        if blocks and blocks[-1][0] == held:
            blocks[-1] = (held, blocks[-1][1] + 1)
        else:
            blocks.append((held, 1))
    inner = blocks[1:-1]  # the first and last blocks are cut by the view's edges
    assert len(inner) >= 30
    assert {held for held, _ in inner} == {True, False}
    assert all(4 <= n <= 6 for _, n in inner)
    assert max(ca) == 1.0 and min(ca) == 0.0


def test_cells_at_1s_show_half_each() -> None:
    stamps = alternating(pid=1, lanes=2, ms=6_000)
    tl = feed(timeline_for(stamps), stamps)
    end = T0 + 6 * S
    for key in stamps:
        cells = tl.cells(key, end, S, 5).held
        assert cells == pytest.approx([0.5] * 5, abs=0.01)
    # Before the observation began, and after its end, nothing was held.
    a = next(iter(stamps))
    assert tl.cells(a, T0, S, 3).held == (0.0, 0.0, 0.0)
    assert tl.cells(a, end + 3 * S, S, 2).held == (0.0, 0.0)


@pytest.mark.parametrize("col_ms", [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000])
def test_cells_at_every_zoom(col_ms: int) -> None:
    stamps = alternating(pid=1, lanes=2, ms=12_000)
    tl = feed(timeline_for(stamps), stamps)
    a, b = stamps
    col = col_ms * MS
    n = 5
    end = T0 + 12 * S
    ca, cb = tl.cells(a, end, col, n).held, tl.cells(b, end, col, n).held
    assert [x + y for x, y in zip(ca, cb)] == pytest.approx([1.0] * n)
    if col_ms >= 10:  # a column spans whole A-then-B cycles
        assert ca == pytest.approx([0.5] * n, abs=0.01)


def test_cells_without_gil_from_cpu_time() -> None:
    stamps = alternating(pid=1, lanes=2, ms=2_000)
    tl = feed(timeline_for(stamps), stamps)
    a = next(iter(stamps))
    # A was on a CPU the whole second but held the GIL half of it: half "without the GIL".
    tl.add_cpu(a, T0, T0 + S, S)
    cells = tl.cells(a, T0 + S, 100 * MS, 10)
    assert cells.without_gil == pytest.approx([0.5] * 10, abs=0.02)
    # No CPU time reported: nothing runs without the GIL.
    later = tl.cells(a, T0 + 2 * S, 100 * MS, 5)
    assert later.without_gil == (0.0,) * 5
    tl.add_cpu(LaneKey(99, 0), T0, T0 + S, S)  # an unknown lane is ignored


def test_a_lane_without_a_gil_is_drawn_from_its_fine_cpu_time() -> None:
    """A free-threaded process's thread: no stamps, no hand-offs; its CPU time read at
    100 Hz draws it column by column at fine zooms, and dates the observation."""
    tl = Timeline()
    a, b = LaneKey(1, 0), LaneKey(1, 1)
    tl.add_lane(a, "a", 0)
    tl.add_lane(b, "b", 0)
    assert tl.started_ns() == 0
    for i in range(100):  # a: on a CPU 10 ms in every 20; b: all the time, at once
        t = T0 + i * 10 * MS
        tl.add_cpu_fine(a, t, t + 10 * MS, 10 * MS if i % 2 == 0 else 0)
        tl.add_cpu_fine(b, t, t + 10 * MS, 10 * MS)
    end = T0 + S
    assert tl.started_ns() == T0 and tl.latest_ns == end
    ca = tl.cells(a, end, 10 * MS, 10).without_gil
    assert ca == pytest.approx([1.0, 0.0] * 5)
    assert tl.cells(b, end, 2 * MS, 20).without_gil == pytest.approx([1.0] * 20)
    assert tl.cells(a, end, 20 * MS, 5).without_gil == pytest.approx([0.5] * 5)
    assert tl.cells(a, end, 10 * MS, 3).held == (0.0, 0.0, 0.0)  # it holds nothing
    # From 100 ms a column, the 10 Hz samples (none here) as for any lane; no tally counts
    # the fine time (the 10 Hz samples do, once).
    assert tl.cells(b, end, 100 * MS, 3).without_gil == (0.0, 0.0, 0.0)
    assert tl.tally(b).cpu_ns == 0


# -- the baton --------------------------------------------------------------------------


def test_holder_is_the_last_stamper_while_recent() -> None:
    stamps = alternating(pid=1, lanes=2, ms=1_003)  # B's block ends at 1000, A stamps 1001..3
    tl = feed(timeline_for(stamps), stamps)
    a, b = stamps
    last = T0 + 1_003 * MS
    assert tl.holder(1, last) == a
    assert tl.holder(1, last + 5 * MS) == a
    assert tl.holder(1, last + 50 * MS) is None  # silent for long: nobody is known to hold it
    assert tl.holder(2, last) is None  # an unknown process
    feed(tl, {b: [last + 60 * MS]})
    assert tl.holder(1, last + 61 * MS) == b


def test_holder_of_a_process_with_no_stamps_yet() -> None:
    tl = Timeline()
    tl.add_lane(LaneKey(5, 0), "countdown-0", 0, MS)
    assert tl.holder(5, T0) is None
    assert tl.first_ns(LaneKey(5, 0)) == 0
    assert tl.name(LaneKey(5, 0)) == "countdown-0"


# -- silences, batches, unknown lanes ----------------------------------------------------


def test_a_long_silence_splits_a_run() -> None:
    key = LaneKey(1, 0)
    tl = Timeline()
    tl.add_lane(key, "countdown-0", 0, MS)
    first = [T0 + k * MS for k in range(1, 6)]
    second = [T0 + 105 * MS + k * MS for k in range(6)]
    feed(tl, {key: first + second})
    assert runs(tl, key) == [(T0, T0 + 5 * MS), (T0 + 104 * MS, T0 + 110 * MS)]
    st = tl.totals(key, T0, T0 + 110 * MS)
    assert st.runs == 2
    assert st.gil_share == pytest.approx(11 / 110)
    assert tl.cells(key, T0 + 100 * MS, 10 * MS, 9).held == (0.0,) * 9


def test_holder_is_unknown_during_a_silence() -> None:
    key = LaneKey(1, 0)
    tl = Timeline()
    tl.add_lane(key, "countdown-0", 0, MS)
    feed(tl, {key: [T0 + k * MS for k in range(1, 6)]})
    assert tl.holder(1, T0 + 6 * MS) == key
    assert tl.holder(1, T0 + 60 * MS) is None
    feed(tl, {key: [T0 + 105 * MS]})
    assert tl.holder(1, T0 + 106 * MS) == key


def test_a_silence_just_under_the_limit_does_not_split() -> None:
    key = LaneKey(1, 0)
    tl = Timeline()
    tl.add_lane(key, "countdown-0", 0, MS)
    feed(tl, {key: [T0 + MS, T0 + MS + HOLD_GAP_MAX_NS, T0 + 2 * MS + HOLD_GAP_MAX_NS]})
    assert len(runs(tl, key)) == 1


def test_batches_give_the_same_result_as_one() -> None:
    stamps = alternating(pid=1, lanes=3, ms=3_000, jitter_ns=100_000)
    whole = feed(timeline_for(stamps), stamps)
    rng = random.Random(4)
    for cuts in (
        [T0 + k * 20 * MS for k in range(1, 150)],  # the collector's 50 Hz
        sorted(T0 + rng.randrange(3_000 * MS) for _ in range(400)),  # anywhere, even mid-run
        [T0 + k * MS for k in range(1, 3_000)],  # every stamp on its own
    ):
        parts = timeline_for(stamps)
        feed_cut(parts, stamps, cuts)
        start, end = span(whole)
        assert span(parts) == (start, end)
        for key in stamps:
            assert runs(parts, key) == runs(whole, key)
            assert parts.totals(key, start, end) == whole.totals(key, start, end)
            assert parts.cells(key, end, MS, 300) == whole.cells(key, end, MS, 300)


def test_batches_cut_at_different_instants_per_lane_stay_exclusive() -> None:
    # The reader drains slot after slot and can be paused between them, so one batch may
    # hold a lane's stamps up to a later instant than another lane's; the late stamps of
    # the other lane then arrive after newer ones. The relay must stay exclusive.
    stamps = alternating(pid=1, lanes=2, ms=2_000)
    a, b = stamps
    tl = timeline_for(stamps)
    done = {a: 0, b: 0}
    rng = random.Random(9)
    cut = T0
    while cut < T0 + 2_100 * MS:
        cut += rng.randrange(5 * MS, 30 * MS)
        batch = []
        for key in (a, b):
            lane_cut = cut + rng.randrange(-4 * MS, 4 * MS)
            s = stamps[key]
            j = done[key]
            while j < len(s) and s[j] <= lane_cut:
                j += 1
            batch.append((key, s[done[key] : j]))
            done[key] = j
        tl.add_stamps(batch)
    assert_exclusive(tl, 1)
    start, end = span(tl)
    for key in stamps:
        st = tl.totals(key, start, end)
        assert 0.45 < st.gil_share < 0.55
        assert st.mean_hold_ms > 0


def test_stamps_of_an_unknown_lane_are_ignored() -> None:
    stamps = alternating(pid=1, lanes=2, ms=100)
    tl = timeline_for(stamps)
    feed(tl, stamps, {LaneKey(1, 9): [T0 + 50 * MS + 1]})
    a, b = stamps
    assert runs(tl, a) == runs(feed(timeline_for(stamps), stamps), a)
    assert tl.keys() == [a, b]


def test_keys_are_ordered_by_process_then_slot() -> None:
    tl = Timeline()
    tl.add_lane(LaneKey(20, 3), "c", 1, MS)
    tl.add_lane(LaneKey(10, 1), "b", 0, MS)
    tl.add_lane(LaneKey(10, 0), "a", 0, MS)
    tl.add_lane(LaneKey(10, 0), "again", 0, MS)  # adding twice keeps the first
    assert tl.keys() == [LaneKey(10, 0), LaneKey(10, 1), LaneKey(20, 3)]
    assert tl.name(LaneKey(10, 0)) == "a"


# -- bounded memory ----------------------------------------------------------------------


def test_ten_minutes_at_1khz_stay_bounded() -> None:
    minutes = 10
    ms = minutes * 60_000
    stamps = alternating(pid=1, lanes=2, ms=ms)
    tl = timeline_for(stamps)
    feed_cut(tl, stamps, range(T0 + 20 * MS * 50, T0 + ms * MS, 20 * MS * 50))
    start, end = span(tl)
    for key in stamps:
        lane = tl._lanes[key]
        assert lane.tally.runs == ms // 10  # every 10 ms each lane acquires once
        assert len(lane.runs) == RECENT_RUNS < lane.tally.runs
        # pages of 512 bins, the window's worth and one more at most
        assert lane.held_fine.pages * PAGE_BINS <= FINE_BINS + PAGE_BINS
        assert lane.held_coarse.pages * PAGE_BINS <= COARSE_BINS + PAGE_BINS
        # With old runs evicted, the whole-run figures come from running totals.
        st = tl.totals(key, start, end)
        assert st.runs == ms // 10
        assert st.gil_share == pytest.approx(0.5, abs=0.001)
        assert st.handoffs_per_s == pytest.approx(100, abs=0.5)
        assert st.mean_hold_ms == pytest.approx(5.0, abs=0.01)
        # The recent window still reads from the kept runs.
        assert tl.stats(key, end - 2 * S, end).gil_share == pytest.approx(0.5, abs=0.01)
        assert tl.cells(key, end, S, 4).held == pytest.approx([0.5] * 4, abs=0.01)
