"""The three scenarios for real: the GIL's exclusivity, and its absence across processes."""

from __future__ import annotations

import sys
from typing import Dict, List, Tuple

import pytest

from gilscope.model.timeline import MS
from gilscope.sampling.report import STATE_DONE
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec, expected_wall_s

from .conftest import RunWorkload

pytestmark = pytest.mark.integration

# A thread whose consecutive stamps are less than this apart held the GIL in between: if it
# had lost it, the new holder would have kept it for at least the switch interval (5 ms).
RUN_GAP_NS = 3 * MS
# A thread's final hold can be shorter than the switch interval (it ran out of work).
FINAL_NS = 5 * MS


def intrusions(stamps: Dict[int, List[int]]) -> Tuple[int, int]:
    """(checked spans, intruding stamps) for one group of stamping threads.

    For each thread A, a *span* is a pair of consecutive A stamps less than RUN_GAP_NS apart:
    A held the GIL from one to the other. An *intrusion* is another thread's stamp strictly
    inside a span; that thread's final FINAL_NS of stamps are left out. With one GIL shared
    by the threads there are none; with no shared lock (two processes) they appear whenever
    both run at once.
    """
    merged = sorted((t, slot) for slot, ts in stamps.items() for t in ts)
    last = {slot: ts[-1] for slot, ts in stamps.items() if ts}
    spans = bad = 0
    prev: Dict[int, int] = {}  # slot -> index in merged of its latest stamp
    for i, (t, slot) in enumerate(merged):
        j = prev.get(slot)
        prev[slot] = i
        if j is None or t - merged[j][0] >= RUN_GAP_NS:
            continue
        spans += 1
        for u, other in merged[j + 1 : i]:
            if other != slot and u < last[other] - FINAL_NS:
                bad += 1
    return spans, bad


def test_threads_hold_the_gil_exclusively(run_workload: RunWorkload) -> None:
    done = run_workload(WorkloadSpec(Scenario.THREADS, count=120_000_000, workers=2))
    assert done.workload.state is RunState.DONE, done.workload.error
    assert done.lost == 0
    assert len({i.pid for i in done.infos}) == 1
    assert all(i.state == STATE_DONE for i in done.infos)
    counts = {slot: len(ts) for slot, ts in done.stamps.items()}
    assert all(n > 500 for n in counts.values()), counts
    for ts in done.stamps.values():
        assert ts == sorted(ts)

    spans, bad = intrusions(done.stamps)
    assert spans > 1_000
    assert bad == 0, f"{bad} stamps of another thread inside {spans} single-holder spans"

    tl = done.timeline()
    keys = tl.keys()
    start, end = min(tl.first_ns(k) for k in keys), tl.latest_ns
    shares = [tl.totals(k, start, end).gil_share for k in keys]
    assert all(s >= 0.25 for s in shares), shares
    assert sum(shares) <= 1.01
    for k in keys:
        st = tl.totals(k, start, end)
        assert st.runs > 10  # the GIL really was passed back and forth
        assert 1.0 < st.mean_hold_ms < 500
    assert done.workload.wall_s is not None and done.workload.wall_s > 0.5
    # Each thread stamps once a chunk: the calibration it announced is the one it counts by,
    # and from it the run's length is expected.
    for info in done.infos:
        assert info.chunk_iters > 0 and info.chunk_ns > 0
        assert len(done.stamps[info.slot]) == -(-info.count // info.chunk_iters)
    expected = expected_wall_s(done.workload.spec, done.workload.lanes, done.infos, 2)
    assert expected is not None and expected > 0


def test_processes_run_in_parallel(run_workload: RunWorkload) -> None:
    done = run_workload(WorkloadSpec(Scenario.PROCESSES, count=200_000_000, workers=2))
    assert done.workload.state is RunState.DONE, done.workload.error
    assert done.lost == 0
    assert len({i.pid for i in done.infos}) == 2
    assert len(done.workload.procs) == 2

    tl = done.timeline()
    keys = tl.keys()
    start = max(tl.first_ns(k) for k in keys)
    end = min(done.stamps[k.slot][-1] for k in keys)
    col = 10 * MS
    n = (end - start) // col - 1
    assert n > 50
    end -= end % col
    held = [tl.cells(k, end, col, n).held for k in keys]
    both = sum(1 for a, b in zip(*held) if a > 0 and b > 0)
    more = sum(1 for a, b in zip(*held) if a + b > 1.0)  # impossible under one shared lock
    # On an idle 2-core machine both hold in ~98 % of the bins; other busy processes on the
    # same cores push that down (46 % seen with a load average of 6), so the bar is low.
    assert both / n > 0.3, f"both held in only {both} of {n} 10 ms bins"
    assert more / n > 0.2, f"held together for more than a bin in only {more} of {n} bins"

    # The exclusivity check is not vacuous: across two processes it finds intrusions galore.
    spans, bad = intrusions(done.stamps)
    assert spans > 1_000
    assert bad > 0


def test_sequential_finishes(run_workload: RunWorkload) -> None:
    done = run_workload(WorkloadSpec(Scenario.SEQUENTIAL, count=40_000_000))
    w = done.workload
    assert w.state is RunState.DONE, w.error
    assert w.wall_s is not None and 0.05 < w.wall_s < 60
    (info,) = done.infos
    assert info.state == STATE_DONE
    assert info.count == 40_000_000
    assert info.end_ns > info.start_ns
    assert w.wall_s == pytest.approx((info.end_ns - info.start_ns) / 1e9)
    assert info.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    tl = done.timeline()
    (key,) = tl.keys()
    # Alone, it holds its GIL throughout; silences over 50 ms (descheduled on a busy
    # machine) are not counted as holding, hence the margin.
    assert tl.totals(key, tl.first_ns(key), tl.latest_ns).gil_share > 0.5


def test_a_worker_that_exits_before_go_fails_fast(run_workload: RunWorkload) -> None:
    done = run_workload(WorkloadSpec(Scenario.THREADS, count=1_000, python="/bin/true"), 10.0)
    assert done.workload.state is RunState.FAILED
    assert "exited with code 0" in done.workload.error


def test_a_worker_that_crashes_fails(run_workload: RunWorkload) -> None:
    done = run_workload(WorkloadSpec(Scenario.PROCESSES, count=1_000, python="/bin/false"), 10.0)
    assert done.workload.state is RunState.FAILED
    assert "exited with code 1" in done.workload.error
