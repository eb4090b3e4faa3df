"""Two consecutive reads of a target, turned into hand-offs and waits (no process here)."""

from __future__ import annotations

from typing import Dict, List, Optional

from gilscope.sampling.gil_reads import GilReads
from gilscope.sampling.thread_states import BLOCKED, RUNNING, WAITING

MS = 1_000_000
A, B, C = 101, 102, 103  # tids


def reads(period_ms: float = 1.0) -> GilReads:
    return GilReads(int(period_ms * MS))


def acquisitions(gil: GilReads) -> Dict[int, int]:
    """Runs per thread, as the timeline counts them: a change to a tid other than the one
    before (heartbeats repeat it)."""
    out: Dict[int, int] = {}
    prev: Optional[int] = None
    for tid, _, _ in gil.changes:
        if tid > 0 and tid != prev:
            out[tid] = out.get(tid, 0) + 1
        prev = tid
    return out


def feed(gil: GilReads, *steps: tuple) -> None:
    """Each step: (t_ms, locked, last holder, switches, states[, sleeps])."""
    for step in steps:
        t, locked, last, switches, states = step[:5]
        sleeps = step[5] if len(step) > 5 else None
        gil.read(int(t * MS), locked, last, switches, states, sleeps)


def test_a_switch_between_two_reads_is_dated_at_their_middle() -> None:
    gil = reads()
    feed(
        gil, (0, True, A, 10, {A: RUNNING, B: WAITING}), (1, True, B, 11, {A: WAITING, B: RUNNING})
    )
    assert gil.changes == [(A, 0, 10), (B, MS // 2, 11)]
    # B waited from the first read (it was waiting then) to its hand-off
    assert gil.waits == [(B, 0, MS // 2, True)]
    ((tid, start, end, ended),) = gil.ongoing()  # A waits from the hand-off on
    assert (tid, end, ended) == (A, MS, False) and abs(start - MS // 2) <= 1


def test_a_hold_no_read_saw_is_counted_and_named_after_the_waiter() -> None:
    """The countdown holds at both reads, yet the count moved by two: the responder, which
    was waiting and no longer is, took the GIL in between (a hold shorter than a read)."""
    gil = reads()
    feed(
        gil,
        (0, True, A, 10, {A: RUNNING, B: WAITING}),
        (1, True, A, 12, {A: RUNNING, B: BLOCKED}),
    )
    assert acquisitions(gil) == {A: 2, B: 1}
    assert [tid for tid, _, _ in gil.changes] == [A, B, A]
    (wait,) = gil.waits
    assert wait[0] == B and wait[2] == MS // 2 and wait[3]  # ended at its hand-off
    assert not gil.waiting


def test_the_waiter_that_stopped_waiting_is_named_before_one_still_waiting() -> None:
    gil = reads()
    feed(
        gil,
        (0, True, A, 10, {A: RUNNING, B: WAITING, C: WAITING}),
        (1, True, A, 12, {A: RUNNING, B: WAITING, C: BLOCKED}),
    )
    assert [tid for tid, _, _ in gil.changes] == [A, C, A]
    assert set(gil.waiting) == {B}  # still waiting, from its first read


def test_consecutive_takers_always_differ() -> None:
    """Three switches between two reads and only two threads: A → B → A → B."""
    gil = reads()
    feed(
        gil, (0, True, A, 10, {A: RUNNING, B: BLOCKED}), (1, True, B, 13, {A: BLOCKED, B: RUNNING})
    )
    takers = [tid for tid, _, _ in gil.changes]
    assert takers == [A, B, A, B]
    assert all(x != y for x, y in zip(takers, takers[1:]))
    assert [s for _, _, s in gil.changes] == [10, 11, 12, 13]


def test_a_switch_to_a_thread_that_let_go_before_the_read_ends_free() -> None:
    gil = reads()
    feed(
        gil, (0, True, A, 10, {A: RUNNING, B: BLOCKED}), (1, False, B, 11, {A: WAITING, B: BLOCKED})
    )
    assert [tid for tid, _, _ in gil.changes] == [A, B, 0]


def test_re_acquisitions_without_a_switch_come_from_the_holders_sleeps() -> None:
    """An I/O thread alone: the GIL is free at every read and the count never moves, but
    the thread woke twice since (its recv returned) and took the GIL back each time."""
    gil = reads()
    feed(
        gil,
        (0, False, A, 10, {A: BLOCKED}, {A: 40}),
        (1, False, A, 10, {A: BLOCKED}, {A: 42}),
        (2, True, A, 10, {A: RUNNING}, {A: 42}),  # woke once more: it holds the GIL now
    )
    assert acquisitions(gil) == {A: 3}
    assert gil.changes[-1][0] == A


def test_a_thread_woken_but_not_holding_yet_is_counted_once() -> None:
    gil = reads()
    feed(
        gil,
        (0, False, A, 10, {A: BLOCKED, B: BLOCKED}, {A: 5}),
        (1, False, A, 10, {A: RUNNING, B: BLOCKED}, {A: 5}),  # its recv returned: running
        (2, True, A, 10, {A: RUNNING, B: BLOCKED}, {A: 5}),  # ... and then it took the GIL
        (3, False, A, 10, {A: BLOCKED, B: BLOCKED}, {A: 6}),  # and let go for its next recv
    )
    assert acquisitions(gil) == {A: 1}


def test_a_thread_asleep_while_it_holds_the_gil_is_no_re_acquisition() -> None:
    """C code that blocks without letting the GIL go: its sleeps take nothing back."""
    gil = reads()
    feed(gil, (0, True, A, 10, {A: BLOCKED}, {A: 1}), (1, True, A, 10, {A: BLOCKED}, {A: 3}))
    assert acquisitions(gil) == {A: 1}


def test_the_holder_read_before_took_it_back_before_a_switch() -> None:
    """A wakes and takes the GIL back (its sleep ended), then B takes it: one switch."""
    gil = reads()
    feed(
        gil,
        (0, False, A, 10, {A: BLOCKED, B: BLOCKED}, {A: 7}),
        (1, True, B, 11, {A: BLOCKED, B: RUNNING}, {A: 8, B: 3}),
    )
    assert acquisitions(gil) == {A: 1, B: 1}


def test_a_wait_begins_between_reads_and_ends_when_it_blocks_elsewhere() -> None:
    gil = reads(period_ms=2)
    feed(
        gil,
        (0, True, A, 10, {A: RUNNING, B: BLOCKED}),
        (2, True, A, 10, {A: RUNNING, B: WAITING}),
        (4, True, A, 10, {A: RUNNING, B: RUNNING}),  # woken: still wants it
        (6, True, A, 10, {A: RUNNING, B: BLOCKED}),  # took it unseen? no switch: it left
    )
    assert gil.waits == [(B, 1 * MS, 5 * MS, True)]


def test_a_late_read_dates_the_change_one_period_after_the_last_read() -> None:
    gil = reads(period_ms=1)
    feed(gil, (0, True, A, 1, {}), (10, True, B, 2, {}))  # 10 ms late: descheduled
    assert gil.changes[-1] == (B, 1 * MS, 2)


def test_an_ended_thread_ends_its_wait() -> None:
    gil = reads()
    feed(gil, (0, True, A, 1, {A: RUNNING, B: WAITING}), (1, True, A, 1, {A: RUNNING}))
    assert gil.waits == [(B, 0, MS // 2, True)]
    assert not gil.waiting


def test_between_names_no_one_it_cannot() -> None:
    gil = reads()
    feed(gil, (0, True, A, 1, {A: RUNNING}))
    names: List[int] = gil.between(1, A, {A: RUNNING})
    assert names == [-1]  # only A is known, and A cannot follow A
