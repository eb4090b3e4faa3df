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
from typing import Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from gilscope.model.journal import FORGET, WINDOW, Journal
from gilscope.model.lanes import LaneKey
from gilscope.model.metrics import agreement_pp
from gilscope.model.pyspy_shares import Span, ThreadKey, WindowStore
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
        self._store = WindowStore()  # every window of the run: the whole-run shares
        self._ids: Dict[LaneKey, ThreadKey] = {}  # runner -> how py-spy names it
        self._compared: Deque[Tuple[LaneKey, int, int, float]] = deque(maxlen=RECENT)
        self._compared_totals: Dict[LaneKey, List[float]] = {}  # [samples, intervals, exact, n]
        self.journal: Optional[Journal] = None  # a recording's
        self._rates: Deque[float] = deque(maxlen=16)
        self._rate_sum = 0.0
        self._rate_n = 0

    def add(
        self,
        window: PySpyWindow,
        seen: Iterable[SeenThread],
        lanes: Iterable[LaneKey],
        start_ns: int,
        lives: Callable[[], Mapping[ThreadKey, Optional[Span]]],
        exact: Optional[Callable[[LaneKey], float]] = None,
        compare: Iterable[LaneKey] = (),
        inside: bool = True,
    ) -> None:
        """One window of ``window.pid``; ``lanes``: every lane drawn for that process now.
        ``start_ns``: where the observation began (0: not yet), ``lives``: the threads'
        lives, for the whole-run shares (see ``pyspy_shares``); ``exact``: the exact share
        of a runner over the window, to compare for each of ``compare`` (seen holding the
        GIL or not: a zero share is a figure); ``inside``: the window lies wholly inside
        the run (only such windows make the live spy%)."""
        seen, lanes, compare = list(seen), list(lanes), list(compare)
        exact_now = {r: exact(r) for r in compare} if exact is not None else {}
        if self.journal is not None:
            op = (WINDOW, window, seen, lanes, start_ns, exact_now, compare, inside)
            self.journal.add(op)
        self.apply_window(window, seen, lanes, start_ns, lives, exact_now, compare, inside)

    def apply_window(
        self,
        window: PySpyWindow,
        seen: List[SeenThread],
        lanes: List[LaneKey],
        start_ns: int,
        lives: Callable[[], Mapping[ThreadKey, Optional[Span]]],
        exact: Dict[LaneKey, float],
        compare: List[LaneKey],
        inside: bool = True,
    ) -> None:
        """``add``, with the exact shares already taken (a replay has them recorded)."""
        self.windows += 1
        for s in seen:
            self._ids[s.runner] = (window.pid, s.gil.tid)
            if s.gil.stacks:
                self._stacks[s.runner] = s.gil
                self._stacks.move_to_end(s.runner)
        self._store.add(window, start_ns, lives)
        while len(self._stacks) > KEEP_STACKS:
            self._stacks.popitem(last=False)
        if not window.complete:
            return  # its interval count is a guess: good for stacks, not for shares
        if window.timed:
            rate = window.rate_hz * WINDOW_S / PERIOD_S  # all overlapping windows together
            self._rates.append(rate)
            self._rate_sum += rate
            self._rate_n += 1
        if not inside:
            # A window that straddles the run's start saw the threads wait for "go": its
            # shares would sit far below the exact ones, so spy% waits for a whole window.
            return
        per_lane: Dict[LaneKey, int] = dict.fromkeys(lanes, 0)
        for s in seen:
            per_lane[s.lane] = per_lane.get(s.lane, 0) + s.gil.samples
        for lane, samples in per_lane.items():
            recent = self._recent_lane.setdefault(lane, deque(maxlen=SPY_POOL))
            recent.append((samples, window.intervals))
        by_runner = {s.runner: s.gil.samples for s in seen}
        for runner in compare:
            samples = by_runner.get(runner, 0)
            share = exact[runner]
            self._compared.append((runner, samples, window.intervals, share))
            acc = self._compared_totals.setdefault(runner, [0, 0, 0.0, 0])
            acc[0] += samples
            acc[1] += window.intervals
            acc[2] += share
            acc[3] += 1

    def forget(self, runners: Iterable[LaneKey]) -> None:
        """Threads the registry forgot: their samples and stacks go too."""
        runners = list(runners)
        if self.journal is not None:
            self.journal.add((FORGET, runners))
        ids = []
        for key in runners:
            self._stacks.pop(key, None)
            ident = self._ids.pop(key, None)
            if ident is not None:
                ids.append(ident)
        self._store.forget(ids)

    # -- reading ----------------------------------------------------------------------
    def lane_share(self, lane: LaneKey) -> Optional[float]:
        """The lane's share over its last few complete windows inside the run (spy%)."""
        recent = self._recent_lane.get(lane)
        intervals = sum(i for _, i in recent) if recent else 0
        return sum(n for n, _ in recent) / intervals if recent and intervals else None

    def shares(
        self, span: Span, lives: Mapping[ThreadKey, Optional[Span]]
    ) -> Dict[LaneKey, Optional[float]]:
        """Per runner, py-spy's share of the GIL over ``span``: the time-average of every
        window's, over one denominator per process (its shares sum to at most 1)."""
        by_id = self._store.shares(span, lives)
        return {r: (s.share if (s := by_id.get(k)) else None) for r, k in self._ids.items()}

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
