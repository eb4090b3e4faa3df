"""The GIL probe's hand-offs in the timeline: runs, heartbeats, nobody holding, waiting."""

from __future__ import annotations

from gilscope.model.timeline import MS, LaneKey, Timeline
from gilscope.sampling.report import ACQUIRED, WAITING

PID = 4242
T0 = 1_000_000 * MS


def lanes(n: int) -> tuple[Timeline, list[LaneKey]]:
    tl = Timeline()
    keys = [LaneKey(PID, 100 + i) for i in range(n)]
    for i, key in enumerate(keys):
        tl.add_lane(key, f"t{i}", 0, 0)
    return tl, keys


def test_hand_offs_become_exclusive_runs() -> None:
    tl, (a, b) = lanes(2)
    # a from 0, b from 5 ms, a from 10 ms, heartbeat of a at 15 ms
    tl.add_holders(PID, [(T0, a), (T0 + 5 * MS, b), (T0 + 10 * MS, a), (T0 + 15 * MS, a)])
    sa, sb = tl.stats(a, T0, T0 + 15 * MS), tl.stats(b, T0, T0 + 15 * MS)
    assert (sa.runs, sb.runs) == (2, 1)
    assert abs(sa.gil_share - 10 / 15) < 1e-9 and abs(sb.gil_share - 5 / 15) < 1e-9
    assert sa.mean_hold_ms == 5.0
    assert tl.holder(PID, T0 + 15 * MS) == a


def test_a_heartbeat_extends_the_open_run_without_a_new_acquisition() -> None:
    tl, (a,) = lanes(1)
    tl.add_holders(PID, [(T0, a)])
    assert tl.stats(a, T0, T0 + 10 * MS).gil_share == 0.0  # nothing known past T0 yet
    tl.add_holders(PID, [(T0 + 10 * MS, a)])
    st = tl.stats(a, T0, T0 + 10 * MS)
    assert st.runs == 1 and st.gil_share == 1.0
    assert tl.totals(a, T0, T0 + 10 * MS).runs == 1


def test_nobody_holding_ends_the_run_and_leaves_a_gap() -> None:
    tl, (a, b) = lanes(2)
    tl.add_holders(PID, [(T0, a), (T0 + 4 * MS, None), (T0 + 6 * MS, b), (T0 + 10 * MS, b)])
    cells = [tl.cells(k, T0 + 10 * MS, MS, 10).held for k in (a, b)]
    assert cells[0] == (1.0,) * 4 + (0.0,) * 6
    assert cells[1] == (0.0,) * 6 + (1.0,) * 4
    assert tl.holder(PID, T0 + 10 * MS) == b


def test_older_changes_than_already_folded_are_dropped() -> None:
    tl, (a, b) = lanes(2)
    tl.add_holders(PID, [(T0, a), (T0 + 10 * MS, a)])
    tl.add_holders(PID, [(T0 + 5 * MS, b)])  # out of order: would overlap a's run
    assert tl.stats(b, T0, T0 + 10 * MS).runs == 0
    assert tl.stats(a, T0, T0 + 10 * MS).gil_share == 1.0


def test_waiting_marks_only_draw_waiting() -> None:
    tl, (io,) = lanes(1)
    tl.add_waiting_marks([(io, [WAITING | (T0 + 2 * MS), ACQUIRED | (T0 + 7 * MS)])])
    cells = tl.cells(io, T0 + 10 * MS, MS, 10)
    assert cells.waiting == (0.0,) * 2 + (1.0,) * 5 + (0.0,) * 3
    assert cells.held == (0.0,) * 10  # holding is the probe's to draw
    assert tl.stats(io, T0, T0 + 10 * MS).runs == 0
