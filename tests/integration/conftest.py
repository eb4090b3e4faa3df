"""Shared by the integration tests: run real workloads to the end and keep their stamps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import pytest

from gilscope.model.timeline import LaneKey, Timeline
from gilscope.sampling.report import WorkerInfo
from gilscope.scenarios.workload import RunState, Workload, WorkloadSpec


@dataclass
class Finished:
    """A workload run to its end, with every raw stamp each slot wrote."""

    workload: Workload
    infos: List[WorkerInfo]
    stamps: Dict[int, List[int]]  # slot -> stamps, oldest first
    lost: int

    def timeline(self) -> Timeline:
        tl = Timeline()
        for info in self.infos:
            tl.add_lane(self.key(info.slot), f"countdown-{info.slot}", 0, info.chunk_ns)
        tl.add_stamps((self.key(slot), s) for slot, s in self.stamps.items())
        return tl

    def key(self, slot: int) -> LaneKey:
        return LaneKey(self.infos[slot].pid, slot)


RunWorkload = Callable[..., Finished]


@pytest.fixture
def run_workload(tmp_path: Path) -> Iterator[RunWorkload]:
    """Start a workload, poll and drain it at 50 Hz until it ends, stop it afterwards."""
    started: List[Workload] = []

    def run(spec: WorkloadSpec, timeout_s: float = 60.0) -> Finished:
        w = Workload(spec, str(tmp_path / f"board-{len(started)}"))
        started.append(w)
        w.start()
        stamps: Dict[int, List[int]] = {slot: [] for slot in range(spec.slots)}
        lost = 0

        def drain() -> None:
            nonlocal lost
            assert w.reader is not None
            for batch in w.reader.drain():
                stamps[batch.slot].extend(batch.stamps)
                lost += batch.lost

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = w.poll()
            if w.reader is None:
                break
            drain()
            if state in (RunState.DONE, RunState.FAILED):
                break
            time.sleep(0.02)
        infos = w.infos()
        return Finished(w, infos, stamps, lost)

    yield run
    for w in started:
        w.stop()
