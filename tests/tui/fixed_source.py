"""A fixed, synthetic sample stream for the UI tests: nothing here depends on the clock."""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional

from gilscope.model.metrics import RunRecord
from gilscope.model.timeline import MS, LaneKey, Timeline
from gilscope.sampling.cpu import CpuSampler  # noqa: F401 - the real module must import
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec
from gilscope.session import LaneInfo, PySpyStatus, Snapshot, StackRow, ThreadRow

NOW_NS = 1_000_000 * MS  # 1000 s after an arbitrary epoch
PID = 3141582  # seven digits, as on a long-running Linux host


def synthetic_timeline(seconds: float = 3.0, processes: int = 1, threads: int = 2) -> Timeline:
    """Threads of one process alternate every 5 ms, stamping every 1 ms; processes overlap."""
    timeline = Timeline()
    start = NOW_NS - int(seconds * 1e9)
    batches = []
    for p in range(processes):
        pid = PID + p
        for t in range(threads):
            key = LaneKey(pid, p * threads + t)
            timeline.add_lane(key, f"countdown-{p * threads + t}", p, MS)
            stamps: List[int] = []
            for slice_start in range(start + t * 5 * MS, NOW_NS, threads * 5 * MS):
                stamps.extend(slice_start + k * MS for k in range(1, 6))
            batches.append((key, [s for s in stamps if s <= NOW_NS]))
    timeline.add_stamps(batches)
    return timeline


def synthetic_snapshot(scenario: Scenario = Scenario.THREADS) -> Snapshot:
    lanes = tuple(
        LaneInfo(LaneKey(PID, i), f"countdown-{i}", 0, 3141590 + i, 140000000 + i) for i in range(2)
    )
    rows = tuple(
        ThreadRow(
            key=lane.key,
            name=lane.name,
            tid=lane.tid,
            pid=PID,
            gil_share=0.5,
            gil_share_pyspy=0.49,
            cpu=0.48,
            function="countdown",
            handoffs_per_s=100.0,
            mean_hold_ms=5.0,
        )
        for lane in lanes
    )
    frames = ("countdown (worker.py:35)", "main.<locals>.run (worker.py:93)", "Thread.run")
    return Snapshot(
        now_ns=NOW_NS,
        spec=WorkloadSpec(scenario, 50_000_000, 2, "/usr/bin/python3"),
        state=RunState.RUNNING,
        error="",
        elapsed_s=1.5,
        wall_s=None,
        lanes=lanes,
        batons=(lanes[1].key,),
        threads=rows,
        cores=(0.97, 0.06),
        core_history=(tuple(0.9 + (i % 3) / 30 for i in range(40)), tuple(0.05 for _ in range(40))),
        stacks=tuple(StackRow(lane.name, frames, 0.49) for lane in lanes),
        pyspy=PySpyStatus(available=True, rate_hz=998.0, agreement_pp=0.6, windows=12),
        results=(
            RunRecord("sequential", 50_000_000, 2, 2.31),
            RunRecord("threads", 50_000_000, 2, 2.44),
        ),
        timeline=synthetic_timeline(),
        python_version="3.11.7",
        gil=True,
    )


class FixedSource:
    """Answers every pull with the same snapshot; records what the app asked for."""

    def __init__(self, snapshot: Optional[Snapshot] = None) -> None:
        self._snapshot = snapshot or synthetic_snapshot()
        self.restarts: List[Optional[WorkloadSpec]] = []
        self.plans: List[List[WorkloadSpec]] = []

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None:
        self.restarts.append(spec)
        if spec is not None:
            self._snapshot = replace(self._snapshot, spec=spec)

    def run_plan(self, specs: List[WorkloadSpec]) -> None:
        self.plans.append(list(specs))
        self._snapshot = replace(self._snapshot, spec=specs[0], plan=(1, len(specs)))
