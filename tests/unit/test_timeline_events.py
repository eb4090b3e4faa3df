"""Explicit GIL events (io, native, convoy) and sampled shares (attach, run) in the timeline."""

from __future__ import annotations

from gilscope.model.timeline import MS, LaneKey, Timeline
from gilscope.sampling.report import ACQUIRED, RELEASED, WAITING

PID = 4242
T0 = 1_000_000 * MS


def lanes(*names: str) -> tuple[Timeline, list[LaneKey]]:
    tl = Timeline()
    keys = [LaneKey(PID, i) for i in range(len(names))]
    for key, name in zip(keys, names):
        tl.add_lane(key, name, 0, MS)
    return tl, keys


def test_acquired_released_pairs_become_runs() -> None:
    tl, (io,) = lanes("io-0")
    tl.add_stamps([(io, [ACQUIRED | T0, RELEASED | (T0 + 2 * MS), ACQUIRED | (T0 + 10 * MS),
                         RELEASED | (T0 + 11 * MS)])])  # fmt: skip
    st = tl.stats(io, T0, T0 + 20 * MS)
    assert st.runs == 2
    assert abs(st.gil_share - 3 / 20) < 1e-9
    cells = tl.cells(io, T0 + 20 * MS, MS, 20)
    assert cells.held[:2] == (1.0, 1.0) and cells.held[2:10] == (0.0,) * 8
    assert cells.held[10] == 1.0


def test_waiting_is_the_span_from_wake_up_to_acquiring_while_another_holds() -> None:
    tl, (cpu, io) = lanes("cpu-countdown", "io-responder")
    stamps = [T0 + k * MS for k in range(1, 9)]  # the countdown holds it until +8 ms
    events = [RELEASED | T0, WAITING | (T0 + 4 * MS), ACQUIRED | (T0 + 9 * MS),
              RELEASED | (T0 + 10 * MS)]  # fmt: skip
    tl.add_stamps([(cpu, stamps), (io, events)])
    cells = tl.cells(io, T0 + 10 * MS, MS, 10)
    assert cells.waiting == (0.0,) * 4 + (1.0,) * 5 + (0.0,)
    assert cells.held[-1] == 1.0
    st = tl.stats(io, T0, T0 + 10 * MS)
    assert st.waits.per_s == 100.0 and st.waits.p50_ms == 5.0 and st.waits.share == 0.5


def test_a_wake_up_with_the_gil_free_is_no_wait_for_it() -> None:
    # Alone, the responder's "waiting" mark only spans its wake-up: nobody held the GIL.
    tl, (io,) = lanes("io-responder")
    tl.add_stamps([(io, [RELEASED | T0, WAITING | (T0 + 4 * MS), ACQUIRED | (T0 + 5 * MS),
                         RELEASED | (T0 + 6 * MS)])])  # fmt: skip
    assert tl.cells(io, T0 + 10 * MS, MS, 10).waiting == (0.0,) * 10
    assert tl.stats(io, T0, T0 + 10 * MS).waits.per_s == 0.0


def test_a_stamping_thread_yields_to_an_explicit_acquirer() -> None:
    # A countdown stamps every 1 ms; the responder takes the GIL at +5.5 ms for 1 ms, then
    # the countdown resumes. The relay stays exclusive: nobody holds it twice at once.
    tl, (cpu, io) = lanes("cpu-countdown", "io-responder")
    stamps = [T0 + k * MS for k in range(1, 6)] + [T0 + k * MS for k in range(8, 12)]
    events = [WAITING | (T0 + 1 * MS), ACQUIRED | (T0 + 5 * MS + MS // 2),
              RELEASED | (T0 + 6 * MS + MS // 2)]  # fmt: skip
    tl.add_stamps([(cpu, stamps), (io, events)])
    end = T0 + 12 * MS
    held_cpu = tl.cells(cpu, end, MS, 12).held  # column i: [T0 + i ms, T0 + i+1 ms)
    held_io = tl.cells(io, end, MS, 12).held
    assert all(a + b <= 1.0 + 1e-9 for a, b in zip(held_cpu, held_io))
    # The countdown held it until the responder took it, not a whole chunk longer.
    assert held_cpu[4] == 1.0 and abs(held_cpu[5] - 0.5) < 0.01 and held_cpu[6] == 0.0
    assert abs(held_io[5] - 0.5) < 0.01 and abs(held_io[6] - 0.5) < 0.01
    assert held_cpu[7:11] == (1.0,) * 4
    # The responder waited from its wake-up to its acquisition.
    assert sum(tl.cells(io, end, MS, 12).waiting) > 4.0


def test_the_holder_of_an_open_explicit_run() -> None:
    tl, (io,) = lanes("io-0")
    tl.add_stamps([(io, [ACQUIRED | T0])])
    assert tl.holder(PID, T0 + 100 * MS) == io  # it said it holds it, however long ago
    tl.add_stamps([(io, [RELEASED | (T0 + 1 * MS)])])
    assert tl.holder(PID, T0 + 2 * MS) is None


def test_sampled_shares_fill_columns_without_runs() -> None:
    tl, (a,) = lanes("worker")
    tl.add_sampled(a, T0, T0 + 500 * MS, 0.5)
    cells = tl.cells(a, T0 + 500 * MS, 100 * MS, 5)
    assert all(abs(h - 0.5) < 0.01 for h in cells.held)
    assert tl.stats(a, T0, T0 + 500 * MS).runs == 0
    assert tl.started_ns() == T0


def test_a_wait_for_another_explicit_hold_starts_with_that_hold() -> None:
    # io: b holds the GIL for 1 ms from +5 ms; a's reply arrived at +2 ms, and a took the
    # GIL at +7 ms: before +5 ms a was only being woken, from +5 ms it waited for b
    tl, (a, b) = lanes("io-0", "io-1")
    tl.add_stamps([(a, [RELEASED | T0, WAITING | (T0 + 2 * MS), ACQUIRED | (T0 + 7 * MS)]),
                   (b, [ACQUIRED | (T0 + 5 * MS), RELEASED | (T0 + 6 * MS)])])  # fmt: skip
    st = tl.stats(a, T0, T0 + 10 * MS)
    assert st.waits.per_s == 100 and st.waits.p50_ms == 2.0


def test_the_report_says_how_long_it_was_blind() -> None:
    # the responder releases at +1 ms (to send a reply) and its next request arrives at
    # +4 ms: meanwhile the countdown held the GIL, and it may have waited there unseen
    tl, (cpu, io) = lanes("cpu-countdown", "io-responder")
    stamps = [T0 + k * MS for k in range(2, 8)]
    events = [ACQUIRED | T0, RELEASED | (T0 + 1 * MS), WAITING | (T0 + 4 * MS),
              ACQUIRED | (T0 + 8 * MS), RELEASED | (T0 + 9 * MS)]  # fmt: skip
    tl.add_stamps([(cpu, stamps), (io, events)])
    assert tl.blind(io) == 3 * MS and tl.blind(cpu) == 0
