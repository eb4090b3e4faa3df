"""A free-threaded CPython (3.13t), live: without its GIL the lanes are each thread's time on
a CPU, read at 100 Hz, and agree with the threads' own exact CPU clocks column by column;
with ``PYTHON_GIL=1`` the same build has a GIL again, and the probe draws its relay."""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from gilscope.headless import run_headless
from gilscope.model.timeline import MS
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import Scenario, WorkloadSpec
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


def test_run_draws_each_thread_from_its_cpu_time_at_100_hz(tmp_path: Path) -> None:
    out = tmp_path / "truth.json"
    target = ExternalTarget(argv=[FT, str(TRUTH_TARGET), str(out), "1.5", "2"])
    session = Session(WorkloadSpec(), target=target)
    try:
        doc = run_headless(session, 30.0)
        with session.observed() as obs:
            timeline = obs.timeline
            snap = session.snapshot()
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert doc["source"] == "cpu" and doc["gil"] is False
    assert doc["python_version"] == FT_VERSION
    assert doc["processes"][0]["source"] == "cpu"
    assert doc["probe"]["state"] == "no-gil"  # it read the GIL's enabled flag: 0
    assert not any("GIL probe:" in p for p in doc["problems"]), doc["problems"]  # no failure
    truth: Dict[int, List[List[int]]] = {int(k): v for k, v in json.loads(out.read_text()).items()}
    lanes = {lane.tid: lane for lane in snap.lanes if lane.tid in truth}
    assert len(lanes) == 2 and not any(lane.gil for lane in lanes.values())
    # Columns both threads lived through, from gilscope's first fine reading on.
    start = max(max(m[0][0] for m in truth.values()), timeline.started_ns())
    end = min(m[-1][0] for m in truth.values())
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
        # all its time on a CPU, and no more
        assert sum(drawn[tid]) == pytest.approx(sum(real[tid]), rel=0.1)
    # Read every 10 ms, a thread's lane follows its own clock column by column (the
    # kernel's counter moves at scheduler ticks: up to 4 ms late, which is put back).
    assert sum(errors) / len(errors) < 0.15
    a, b = lanes
    together = [i for i in range(n) if real[a][i] > 0.9 and real[b][i] > 0.9]
    both = [i for i in together if drawn[a][i] > 0.6 and drawn[b][i] > 0.6]
    # Where both ran at once (as often as the machine gave them two cores), both are drawn.
    assert len(both) >= 0.8 * len(together)


def test_threads_without_a_gil_are_labelled_so() -> None:
    spec = WorkloadSpec(Scenario.THREADS, 10_000_000, 2, FT)
    session = Session(spec)
    try:
        doc = run_headless(session, 60.0)
        snap = session.snapshot()
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert (doc["source"], doc["gil"], doc["python_version"]) == ("cpu", False, FT_VERSION)
    assert snap.lanes and not any(lane.gil for lane in snap.lanes)
    threads = [t for p in doc["processes"] for t in p["threads"]]
    assert [t["gil_share"] for t in threads] == [None, None]  # nothing to share
    assert all(t["cpu"] > 0 for t in threads)
    assert doc["thread_cpu"] is not None  # its lanes were read per thread
    assert [r["gil"] for r in doc["results"]] == [False]


def test_with_python_gil_1_the_probe_draws_the_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_GIL", "1")  # the workers inherit it: the same build, a GIL
    session = Session(WorkloadSpec(Scenario.THREADS, 20_000_000, 2, FT))
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
