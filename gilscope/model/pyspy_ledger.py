"""What py-spy's windows have said so far: shares, stacks, its rate, how far it agrees.

Each window arrives with the runner each of its threads is (the thread registry resolves
py-spy's tids or pthread ids). A thread's stacks come from the latest window that saw it
hold the GIL, not from the process's latest window, which a thread that just ended (or a
window cut short at exit) may be missing from.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

from gilscope.model.lanes import LaneKey
from gilscope.model.metrics import agreement_pp
from gilscope.sampling.gil_stacks import ThreadGil
from gilscope.sampling.pyspy import PERIOD_S, WINDOW_S, PySpyWindow

SPY_POOL = 3  # windows pooled for the table: 1 s windows every 0.5 s cover ~2 s
KEEP_STACKS = 4096  # threads whose latest stacks are remembered
RECENT = 64  # per-window comparisons with the exact timeline, for the live agreement


@dataclass(frozen=True)
class SeenThread:
    """One thread of a window, resolved: its runner and the lane it is drawn in."""

    runner: LaneKey
    lane: LaneKey
    gil: ThreadGil


@dataclass(frozen=True)
class PySpyFigures:
    rate_hz: Optional[float]  # the median of recent windows' achieved rates
    overall_rate_hz: Optional[float]  # the mean over the whole observation
    agreement_pp: Optional[float]  # recent windows, pooled per runner
    overall_agreement_pp: Optional[float]
    windows: int


class PySpyLedger:
    """Bounded: a few windows per lane, one stack per thread, running totals."""

    def __init__(self) -> None:
        self.windows = 0
        self._stacks: OrderedDict[LaneKey, ThreadGil] = OrderedDict()  # per runner
        self._recent_lane: Dict[LaneKey, Deque[Tuple[int, int]]] = {}  # (samples, intervals)
        self._samples: Dict[LaneKey, int] = {}  # per runner, complete windows in the run
        self._intervals: Dict[int, int] = {}  # per pid: the same windows' intervals
        self._compared: Deque[Tuple[LaneKey, int, int, float]] = deque(maxlen=RECENT)
        self._compared_totals: Dict[LaneKey, List[float]] = {}  # [samples, intervals, exact, n]
        self._rates: Deque[float] = deque(maxlen=16)
        self._rate_sum = 0.0
        self._rate_n = 0

    def add(
        self,
        window: PySpyWindow,
        seen: Iterable[SeenThread],
        lanes: Iterable[LaneKey],
        counts: bool,
        exact: Optional[Callable[[LaneKey], float]] = None,
        compare: Iterable[LaneKey] = (),
    ) -> None:
        """One window of ``window.pid``; ``lanes``: every lane drawn for that process now.
        ``counts``: whether its shares count toward the run's (a complete window inside the
        observed run); ``exact``: the exact share of a runner over the window, to compare
        for each of ``compare`` (seen holding the GIL or not: a zero share is a figure)."""
        self.windows += 1
        seen = list(seen)
        for s in seen:
            if s.gil.stacks:
                self._stacks[s.runner] = s.gil
                self._stacks.move_to_end(s.runner)
        while len(self._stacks) > KEEP_STACKS:
            self._stacks.popitem(last=False)
        if not window.complete:
            return  # its interval count is a guess: good for stacks, not for shares
        per_lane: Dict[LaneKey, int] = dict.fromkeys(lanes, 0)
        for s in seen:
            per_lane[s.lane] = per_lane.get(s.lane, 0) + s.gil.samples
        for lane, samples in per_lane.items():
            recent = self._recent_lane.setdefault(lane, deque(maxlen=SPY_POOL))
            recent.append((samples, window.intervals))
        if window.timed:
            rate = window.rate_hz * WINDOW_S / PERIOD_S  # all overlapping windows together
            self._rates.append(rate)
            self._rate_sum += rate
            self._rate_n += 1
        if not counts:
            return
        self._intervals[window.pid] = self._intervals.get(window.pid, 0) + window.intervals
        for s in seen:
            self._samples[s.runner] = self._samples.get(s.runner, 0) + s.gil.samples
        if exact is None:
            return
        by_runner = {s.runner: s.gil.samples for s in seen}
        for runner in compare:
            samples = by_runner.get(runner, 0)
            share = exact(runner)
            self._compared.append((runner, samples, window.intervals, share))
            acc = self._compared_totals.setdefault(runner, [0, 0, 0.0, 0])
            acc[0] += samples
            acc[1] += window.intervals
            acc[2] += share
            acc[3] += 1

    def forget(self, runners: Iterable[LaneKey]) -> None:
        """Threads the registry forgot: their samples and stacks go too."""
        for key in runners:
            self._samples.pop(key, None)
            self._stacks.pop(key, None)

    # -- reading ----------------------------------------------------------------------
    def lane_share(self, lane: LaneKey) -> Optional[float]:
        """The lane's share over its last few complete windows (the table's spy%)."""
        recent = self._recent_lane.get(lane)
        intervals = sum(i for _, i in recent) if recent else 0
        return sum(n for n, _ in recent) / intervals if recent and intervals else None

    def share(self, runner: LaneKey) -> Optional[float]:
        """A runner's share over the run's complete windows of its process: samples over
        the intervals of the same windows, so a process's shares sum to at most 1."""
        intervals = self._intervals.get(runner.pid, 0)
        if not intervals:
            return None
        return self._samples.get(runner, 0) / intervals

    def stack(self, runner: LaneKey) -> Optional[ThreadGil]:
        return self._stacks.get(runner)

    def figures(self) -> PySpyFigures:
        pooled: Dict[LaneKey, List[float]] = {}
        for key, samples, intervals, exact in self._compared:
            acc = pooled.setdefault(key, [0, 0, 0.0, 0])
            acc[0] += samples
            acc[1] += intervals
            acc[2] += exact
            acc[3] += 1
        return PySpyFigures(
            # The median: a window whose start line we read late (a busy UI thread) looks
            # short and fast; one such window should not move the figure.
            rate_hz=statistics.median(self._rates) if self._rates else None,
            overall_rate_hz=self._rate_sum / self._rate_n if self._rate_n else None,
            agreement_pp=_agreement(pooled.values()),
            overall_agreement_pp=_agreement(self._compared_totals.values()),
            windows=self.windows,
        )


def _agreement(accs: Iterable[List[float]]) -> Optional[float]:
    """Pooled py-spy share against the mean exact share, per runner. One 1 s window holds
    only ~500 samples per process; pooling keeps sampling noise out of the figure."""
    return agreement_pp((a[0] / a[1], a[2] / a[3]) for a in accs if a[1] and a[3])
