"""CPU as psutil and /proc see it: per core now and over the run, per thread (into the
timeline), and how busy the rest of the machine was while the run ran."""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, List, Optional, Tuple

from gilscope.model.journal import CORES, OTHER, Journal
from gilscope.model.lanes import LaneKey
from gilscope.model.timeline import Timeline
from gilscope.sampling.cpu import CpuSample

CORE_HISTORY = 40


class CpuLedger:
    """Fed one ``CpuSample`` at a time (10 Hz); bounded whatever the run's length."""

    def __init__(self) -> None:
        self.cores: Tuple[float, ...] = ()
        self._history: Deque[Tuple[float, ...]] = deque(maxlen=CORE_HISTORY)
        self._core_sum: List[float] = []
        self._core_samples = 0
        self._other_sum = 0.0  # core-seconds other processes used while the run ran
        self._other_s = 0.0  # seconds over which that was measured
        self.other_now: Optional[float] = None  # the latest reading, in cores
        self.journal: Optional[Journal] = None  # a recording's

    def add(
        self,
        sample: CpuSample,
        timeline: Timeline,
        runner: Callable[[int, int], Optional[LaneKey]],
        counting: bool,
    ) -> None:
        """``runner``: the runner of (pid, tid), if it has one. ``counting``: the run is
        running (before "go" workers calibrate and warm up: Python on a CPU, but no GIL
        figures yet; counting that CPU would paint it as running without the GIL)."""
        self.add_cores(sample.cores, counting)
        if counting:
            for th in sample.threads:
                key = runner(th.pid, th.tid)
                if key is not None:
                    timeline.add_cpu(key, sample.start_ns, sample.end_ns, th.cpu_ns, th.runq_ns)

    def add_cores(self, cores: Tuple[float, ...], counting: bool) -> None:
        """Per core, how busy since the last sample."""
        if self.journal is not None:
            self.journal.add((CORES, list(cores), counting))
        self.cores = cores
        self._history.append(cores)
        if counting:
            if len(self._core_sum) != len(cores):
                self._core_sum = [0.0] * len(cores)
            self._core_sum = [a + b for a, b in zip(self._core_sum, cores)]
            self._core_samples += 1

    def add_other(self, cores: Optional[float], seconds: float, counting: bool) -> None:
        """Cores busy with processes gilscope neither runs nor observes, over ``seconds``."""
        if cores is None:
            return
        if self.journal is not None:
            self.journal.add((OTHER, cores, seconds, counting))
        self.other_now = cores
        if counting:
            self._other_sum += cores * seconds
            self._other_s += seconds

    def history(self) -> Tuple[Tuple[float, ...], ...]:
        """Per core, oldest first."""
        return tuple(zip(*self._history)) if self._history else ()

    def mean_cores(self) -> List[float]:
        """Utilization per core, averaged over the time the run ran."""
        if not self._core_sum:
            return list(self.cores)
        return [s / max(self._core_samples, 1) for s in self._core_sum]

    def other_cpu(self) -> Optional[float]:
        """Mean cores other processes used while the run ran (None: not measured)."""
        return self._other_sum / self._other_s if self._other_s > 0 else None
