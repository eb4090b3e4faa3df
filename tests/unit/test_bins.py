"""BinRing: fixed-width time bins in a ring of bounded size."""

from __future__ import annotations

from gilscope.model.bins import BinRing


def test_empty_ring_reads_zero() -> None:
    ring = BinRing(bin_ns=10, size=4)
    assert ring.span_ns == 40
    assert ring.total(0, 100) == 0
    assert ring.columns(40, 10, 4) == [0, 0, 0, 0]


def test_add_within_one_bin() -> None:
    ring = BinRing(10, 4)
    ring.add(2, 7)
    ring.add(0, 3)
    assert ring.total(0, 1) == 8
    assert ring.total(1, 2) == 0


def test_empty_or_reversed_interval_is_ignored() -> None:
    ring = BinRing(10, 4)
    ring.add(5, 5)
    ring.add(7, 3)
    assert ring.total(0, 4) == 0


def test_interval_spreads_over_bins() -> None:
    ring = BinRing(10, 8)
    ring.add(5, 35)  # 5 ns in bin 0, 10 in bins 1 and 2, 5 in bin 3
    assert [ring.total(b, b + 1) for b in range(4)] == [5, 10, 10, 5]
    assert ring.total(0, 4) == 30
    assert ring.total(1, 3) == 20


def test_bin_boundaries_are_half_open() -> None:
    ring = BinRing(10, 4)
    ring.add(10, 20)  # exactly bin 1, nothing in bin 2
    assert ring.columns(30, 10, 3) == [0, 10, 0]


def test_amount_weighting() -> None:
    ring = BinRing(10, 8)
    ring.add(0, 20, amount=100)  # an amount other than the length, spread by overlap
    assert ring.columns(20, 10, 2) == [50, 50]
    ring.add(25, 45, amount=8)  # a quarter in bin 2, half in 3, a quarter in 4
    assert [ring.total(b, b + 1) for b in (2, 3, 4)] == [2, 4, 2]
    ring.add(41, 43, amount=0)  # an explicit zero adds nothing
    assert ring.total(4, 5) == 2


def test_amount_weighting_single_bin() -> None:
    ring = BinRing(10, 4)
    ring.add(1, 2, amount=1_000)
    assert ring.total(0, 1) == 1_000


def test_columns_group_bins() -> None:
    ring = BinRing(10, 8)
    for b, v in enumerate((1, 2, 3, 4)):
        ring.add(b * 10, b * 10 + v)
    assert ring.columns(40, 10, 4) == [1, 2, 3, 4]
    assert ring.columns(40, 20, 2) == [3, 7]
    # Columns reaching past the newest bin, or before the first, read zero.
    assert ring.columns(60, 10, 6) == [1, 2, 3, 4, 0, 0]
    assert ring.columns(40, 10, 6) == [0, 0, 1, 2, 3, 4]


def test_wrap_around_evicts_old_bins() -> None:
    ring = BinRing(10, 4)
    for b in range(4):
        ring.add(b * 10, b * 10 + 1 + b)  # bins 0..3 hold 1..4
    assert ring.total(0, 4) == 1 + 2 + 3 + 4
    ring.add(50, 55)  # bin 5: the ring now holds bins 2..5, bin 4 was never written
    assert ring.total(0, 1) == 0
    assert ring.total(1, 2) == 0
    assert [ring.total(b, b + 1) for b in range(2, 6)] == [3, 4, 0, 5]
    assert ring.columns(60, 10, 6) == [0, 0, 3, 4, 0, 5]


def test_evicted_slot_is_reused_cleanly() -> None:
    ring = BinRing(10, 4)
    ring.add(0, 10)  # bin 0
    ring.add(40, 43)  # bin 4 shares bin 0's slot; the old 10 must not leak into it
    assert ring.total(4, 5) == 3
    assert ring.total(0, 1) == 0


def test_jump_past_the_whole_ring_clears_it() -> None:
    ring = BinRing(10, 4)
    for b in range(4):
        ring.add(b * 10, b * 10 + 5)
    ring.add(1_000, 1_001)  # bin 100: every old bin is gone
    assert ring.total(0, 100) == 0
    assert ring.total(100, 101) == 1
    assert sum(ring.columns(1_010, 10, 4)) == 1


def test_add_to_evicted_bins_is_ignored() -> None:
    ring = BinRing(10, 4)
    ring.add(100, 101)  # bin 10: the ring holds bins 7..10
    ring.add(0, 10)  # bin 0, long gone
    assert ring.total(0, 11) == 1
    ring.add(55, 85)  # bins 5..8: only the part in bins 7 and 8 is kept
    assert ring.total(7, 8) == 10
    assert ring.total(8, 9) == 5
    assert ring.total(0, 11) == 16


def test_adding_to_an_older_bin_inside_the_ring() -> None:
    ring = BinRing(10, 4)
    ring.add(30, 31)  # head is bin 3
    ring.add(5, 10)  # bin 0 is still in the ring: kept, and the head does not move
    assert ring.columns(40, 10, 4) == [5, 0, 0, 1]


def test_long_intervals_keep_their_total() -> None:
    ring = BinRing(1_000, 1_000)
    ring.add(0, 500_000)
    assert ring.total(0, 1_000) == 500_000
    assert set(ring.columns(500_000, 1_000, 500)) == {1_000}
