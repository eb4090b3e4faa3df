"""A free-threaded CPython (3.13t), live: without its GIL the lanes are each thread's time on
a CPU, read at 100 Hz, and agree with the threads' own exact CPU clocks column by column;
with ``PYTHON_GIL=1`` the same build has a GIL again, and the probe draws its relay; the
GIL vs free-threaded comparison fills both results and keeps the GIL build's relay."""

from __future__ import annotations

import bisect
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest

from gilscope.headless import report, run_headless
from gilscope.model.timeline import MS
from gilscope.sampling.gil_layout import GilLayout, NoGil
from gilscope.sampling.probe_process import Probe, Watch
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec, gil_vs_ft_plan
from gilscope.session import Session
from tests.pythons import FT_PYTHONS, missing_free_threaded

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not FT_PYTHONS, reason=missing_free_threaded()),
]

ROOT = Path(__file__).resolve().parents[2]
TRUTH_TARGET = ROOT / "tests" / "cpu_truth_target.py"
FT_VERSION, FT = FT_PYTHONS[0] if FT_PYTHONS else ("", "")
COL = 10 * MS


def own_cpu(marks: List[List[int]], first: int, n: int) -> List[float]:
    """A thread's own CPU clock per COL column from ``first``: the truth, exact."""
    times = [m[0] for m in marks]

    def at(t: int) -> int:
        return marks[max(bisect.bisect_right(times, t) - 1, 0)][1]

    return [(at(first + (i + 1) * COL) - at(first + i * COL)) / COL for i in range(n)]


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_run_draws_each_thread_from_its_cpu_time_at_100_hz(tmp_path: Path) -> None:
    out, go = tmp_path / "truth.json", tmp_path / "go"
    target = ExternalTarget(argv=[FT, str(TRUTH_TARGET), str(out), "1.5", "2", str(go)])
    session = Session(WorkloadSpec(), target=target)
    try:
        session.start()

        def watched() -> bool:  # adopted, known to run without a GIL, its threads read
            with session.observed() as obs:
                return bool(obs.no_gil_pids())

        wait_for(watched, "the target was never read as a process without a GIL")
        go.touch()
        wait_for(lambda: session.snapshot().state is RunState.DONE, "the target did not end")
        wait_for(out.exists, "no truth written")
        truth: Dict[int, List[List[int]]] = {
            int(k): v for k, v in json.loads(out.read_text()).items()
        }
        ended = min(m[-1][0] for m in truth.values())

        def drained() -> bool:  # the collector has folded in the threads' last readings
            with session.observed() as obs:
                return obs.timeline.latest_ns >= ended - 3 * COL

        wait_for(drained, "the lanes never reached the threads' end")
        doc = report(session)
        with session.observed() as obs:
            timeline = obs.timeline
            snap = session.snapshot()
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert doc["source"] == "cpu" and doc["gil"] is False
    assert doc["python_version"] == FT_VERSION
    assert doc["processes"][0]["source"] == "cpu"
    assert not any("GIL probe:" in p for p in doc["problems"]), doc["problems"]  # no failure
    lanes = {lane.tid: lane for lane in snap.lanes if lane.tid in truth}
    assert len(lanes) == 2 and not any(lane.gil for lane in lanes.values())
    # Columns both threads lived through, from gilscope's first fine reading on, and not
    # their last ones: what a thread runs after its last reading is never read (its
    # /proc entry goes with it).
    start = max(max(m[0][0] for m in truth.values()), timeline.started_ns())
    end = min(m[-1][0] for m in truth.values()) - 3 * COL
    first, last = (start // COL + 1) * COL, (end // COL) * COL
    n = (last - first) // COL
    assert n >= 50, (start, end)
    errors: List[float] = []
    drawn: Dict[int, Tuple[float, ...]] = {}
    real: Dict[int, List[float]] = {}
    for tid, lane in lanes.items():
        drawn[tid] = timeline.cells(lane.key, last, COL, n).without_gil
        real[tid] = own_cpu(truth[tid], first, n)
        errors += [abs(d - r) for d, r in zip(drawn[tid], real[tid])]
        # All its time on a CPU, and no more, but for the window's two ends: each cuts one
        # 10 ms reading, which the lane spreads evenly over its 10 ms.
        assert abs(sum(drawn[tid]) - sum(real[tid])) <= 0.1 * sum(real[tid]) + 2
    # Read every 10 ms, a thread's lane follows its own clock column by column (the
    # kernel's counter moves at scheduler ticks: up to 4 ms late, which is put back).
    assert sum(errors) / len(errors) < 0.15
    a, b = lanes
    together = [i for i in range(n) if real[a][i] > 0.9 and real[b][i] > 0.9]
    both = [i for i in together if drawn[a][i] > 0.6 and drawn[b][i] > 0.6]
    # Where both ran at once (as often as the machine gave them two cores), both are drawn;
    # but for one column, as above: a 10 ms reading spread evenly over its 10 ms can fall
    # across two columns (beside two CPU hogs the threads shared a core but once).
    assert len(both) >= 0.8 * len(together) - 1, (together, both)


# Two threads that wait until stdin closes: the target lives as long as the probe takes,
# and leaves the CPU to it (two threads spinning without a GIL would take both cores).
WAITING = """
import sys, threading
stop = threading.Event()
threads = [threading.Thread(target=stop.wait) for _ in range(2)]
for t in threads:
    t.start()
sys.stdin.read()
stop.set()
"""


@pytest.mark.parametrize(("gil", "verdict"), [("0", NoGil), ("1", Watch)], ids=["off", "on"])
def test_the_probe_reads_whether_the_gil_is_enabled(gil: str, verdict: type) -> None:
    """One layout for the build, found under -X gil=1 whatever the target runs with; the
    target's own enabled flag says whether there is a GIL to read."""
    target = subprocess.Popen([FT, "-X", f"gil={gil}", "-c", WAITING], stdin=subprocess.PIPE)
    probe = Probe(io.BytesIO(), 1000)
    try:
        probe.verify(target.pid)
    finally:
        assert target.stdin is not None
        target.stdin.close()
        target.wait(10)
    pid, result = probe.verified.get_nowait()
    assert pid == target.pid and isinstance(result, verdict), result
    (layout,) = probe.layouts.values()
    assert isinstance(layout, GilLayout) and layout.free_threaded


def test_threads_without_a_gil_are_labelled_so() -> None:
    spec = WorkloadSpec(Scenario.THREADS, 10_000_000, 2, FT)
    session = Session(spec)
    try:
        doc = run_headless(session, 60.0)
        snap = session.snapshot()
        with session.observed() as obs:
            end = obs.timeline.latest_ns
            drawn = [obs.timeline.cells(lane.key, end, MS, 2000).without_gil for lane in snap.lanes]
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert (doc["source"], doc["gil"], doc["python_version"]) == ("cpu", False, FT_VERSION)
    assert snap.lanes and not any(lane.gil for lane in snap.lanes)
    threads = [t for p in doc["processes"] for t in p["threads"]]
    assert [t["gil_share"] for t in threads] == [None, None]  # nothing to share
    # each lane drawn from its thread's CPU time, read at 100 Hz
    assert all(sum(cells) > 0 for cells in drawn), drawn
    assert doc["thread_cpu"] is not None  # its lanes were read per thread
    # py-spy cannot read it, or samples no GIL holder: either way the stacks pane says so
    assert (
        doc["pyspy"]["problem"].endswith("no GIL stacks to sample")
        or doc["pyspy"]["problem"] == f"py-spy cannot read Python {FT_VERSION}: no GIL stacks"
    )
    assert [r["gil"] for r in doc["results"]] == [False]


def test_with_python_gil_1_the_probe_draws_the_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_GIL", "1")  # the workers inherit it: the same build, a GIL
    session = Session(WorkloadSpec(Scenario.THREADS, 40_000_000, 2, FT))
    try:
        doc = run_headless(session, 60.0)
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert (doc["gil"], doc["python_version"]) == (True, FT_VERSION)
    assert doc["source"] == "probe", doc["probe"]
    assert doc["probe"]["note"] == "_Py_DebugOffsets, checked by self-inspection"
    threads = [t for p in doc["processes"] for t in p["threads"]]
    shares = [t["gil_share"] for t in threads]
    # one baton: the lanes take turns, never more than the whole run between them
    assert all(s is not None and s > 0 for s in shares)
    assert sum(shares) <= 1.0 + 1e-6
    assert doc["probe"]["handoffs"] > 0


def test_the_gil_vs_ft_plan_fills_both_results(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even where PYTHON_GIL=1 is set, the comparison's second step runs without its GIL.
    monkeypatch.setenv("PYTHON_GIL", "1")
    base = WorkloadSpec(Scenario.THREADS, 10_000_000, 2, sys.executable)
    plan = gil_vs_ft_plan(base, sys.executable, FT)
    session = Session(base)
    try:
        doc = run_headless(session, 60.0, plan=plan)
        snap = session.snapshot()
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    gil, free = doc["results"]
    assert (gil["label"], gil["gil"]) == ("threads ×2 (GIL)", True)
    assert (free["label"], free["gil"], free["python_version"]) == (
        "threads ×2 (no GIL)", False, FT_VERSION,
    )  # fmt: skip
    (ratio,) = doc["ratios"]
    assert ratio["vs"] == "threads ×2 (GIL)"
    assert ratio["ratio"] == pytest.approx(free["wall_s"] / gil["wall_s"], abs=1e-3)
    # The GIL build's relay stays, to be drawn above the free-threaded one's.
    (step,) = snap.earlier
    assert step.title.startswith("threads ×2 (GIL) · py") and all(lane.gil for lane in step.lanes)
    assert all(step.timeline.tally(lane.key).runs > 0 for lane in step.lanes)  # hand-offs
    assert step.end_ns > step.start_ns
    assert snap.gil is False and not any(lane.gil for lane in snap.lanes)
