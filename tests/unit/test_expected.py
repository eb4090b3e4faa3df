"""What a run should take, and no figure before it means something."""

from __future__ import annotations

from dataclasses import replace
from typing import List

import pytest

from gilscope.model.lanes import LaneKey
from gilscope.model.metrics import RunRecord
from gilscope.model.pyspy_ledger import PySpyLedger, SeenThread
from gilscope.sampling.gil_stacks import ThreadGil
from gilscope.sampling.pyspy import PySpyWindow
from gilscope.sampling.report import WorkerInfo
from gilscope.scenarios.workload import (
    RunState,
    Scenario,
    WorkloadSpec,
    expected_wall_s,
    launches,
)
from gilscope.scenarios.workload import WorkerLane as Lane
from gilscope.tui.captions import progress
from gilscope.tui.widgets.results import Progress, progress_text
from tests.tui.fixed_source import synthetic_snapshot

NS_PER_ITER = 20  # 50,000 iterations a millisecond


def infos(spec: WorkloadSpec, gil: bool = True, calibrated: bool = True) -> List[WorkerInfo]:
    """The slots' headers as the workers of ``spec`` announce them."""
    out = []
    for proc, launch in enumerate(launches(spec)):
        threads = max(launch.threads, 1)
        for i in range(len(launch.names)):
            count = launch.count // threads
            out.append(
                WorkerInfo(
                    slot=launch.slot + i, pid=1000 + proc, tid=0, ident=0, state=1,
                    start_ns=0, end_ns=0, chunk_ns=50_000 * NS_PER_ITER, count=count,
                    hexversion=0, gil=gil, chunk_iters=50_000 if calibrated else 0,
                )
            )  # fmt: skip
    return out


def lanes(spec: WorkloadSpec) -> List[Lane]:
    out = []
    for index, launch in enumerate(launches(spec)):
        for i, (name, timed) in enumerate(zip(launch.names, launch.timed)):
            out.append(Lane(launch.slot + i, index, name, timed))
    return out


N = 100_000_000  # 2 s of the loop at 20 ns


@pytest.mark.parametrize(
    ("scenario", "workers", "cores", "seconds"),
    [
        (Scenario.SEQUENTIAL, 1, 2, 2.0),
        (Scenario.THREADS, 2, 2, 2.0),  # one GIL: turns, no faster
        (Scenario.THREADS, 4, 8, 2.0),
        (Scenario.PROCESSES, 2, 2, 1.0),  # a GIL each, a core each
        (Scenario.PROCESSES, 4, 2, 1.0),  # four processes on two cores: still half
        (Scenario.PROCESSES, 4, 4, 0.5),
        (Scenario.CONVOY, 1, 2, 1.0 + 2.0),  # the responder alone for a second first
    ],
)
def test_expected_from_the_calibration(
    scenario: Scenario, workers: int, cores: int, seconds: float
) -> None:
    spec = WorkloadSpec(scenario, N, workers)
    assert expected_wall_s(spec, lanes(spec), infos(spec), cores) == pytest.approx(seconds)


def test_threads_without_a_gil_share_the_cores() -> None:
    spec = WorkloadSpec(Scenario.THREADS, N, 4)
    assert expected_wall_s(spec, lanes(spec), infos(spec, gil=False), 2) == pytest.approx(1.0)


@pytest.mark.parametrize("scenario", [Scenario.IO, Scenario.NATIVE])
def test_work_without_a_calibration_is_not_expected(scenario: Scenario) -> None:
    spec = WorkloadSpec(scenario, 2000, 2)
    assert expected_wall_s(spec, lanes(spec), infos(spec, calibrated=False), 2) is None


def test_the_running_row_expects_the_calibrated_time_or_the_last_run() -> None:
    snap = replace(synthetic_snapshot(), expected_s=4.0, run_s=1.0)
    assert progress(snap) == Progress(1.0, 4.0)
    native = WorkloadSpec(Scenario.NATIVE, 2048, 2)
    earlier = (RunRecord("native", 2048, 2, 0.8), RunRecord("native", 1024, 2, 0.4))
    snap = replace(snap, spec=native, expected_s=None, results=earlier)
    assert progress(snap) == Progress(1.0, 0.8)  # the same N's, not the other
    assert progress(replace(snap, results=())) == Progress(1.0, None)
    assert progress(replace(snap, state=RunState.STARTING, run_s=None)) is None


def test_progress_text() -> None:
    half = progress_text(Progress(2.0, 4.0), 30).plain
    assert half.endswith(" 2.0/~4.0 s") and len(half) == 30 and half.count("█") == 9
    assert progress_text(Progress(1.5, None), 30).plain == "running 1.5 s"


def window(start_s: float, samples: int) -> PySpyWindow:
    gil = ThreadGil(tid=7, name="countdown-0", samples=samples, share=samples / 1000, stacks=())
    return PySpyWindow(1000, int(start_s * 1e9), int((start_s + 1) * 1e9), 1000, True, (gil,))


def test_spy_share_only_from_windows_inside_the_run() -> None:
    """A window straddling "go" saw the thread wait: its 25 % is not the thread's share."""
    key = LaneKey(1000, 0)
    ledger = PySpyLedger()
    seen = [SeenThread(key, key, window(0, 250).threads[0])]
    ledger.add(window(0.0, 250), seen, [key], 0, dict, inside=False)
    assert ledger.lane_share(key) is None
    seen = [SeenThread(key, key, window(0, 490).threads[0])]
    ledger.add(window(0.5, 490), seen, [key], 0, dict, inside=True)
    assert ledger.lane_share(key) == pytest.approx(0.49)
