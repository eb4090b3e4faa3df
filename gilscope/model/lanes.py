"""What the relay is made of: a ``Lane`` is what is drawn, a ``Runner`` is one thread.

Most threads run in a lane of their own. When more threads come and go than a view can
show, the thread registry puts a family of them (``job-*``) in one shared lane; each runner
still keeps its own ``Tally``, so its figures stay exact. Everything here is mutated only
under the ``Timeline``'s lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Deque, List, Optional, Protocol, Tuple

from gilscope.model.bins import BinRing
from gilscope.model.journal import CPU, FINE_CPU, SAMPLED, WAIT, WAIT_ENDED
from gilscope.model.waits import WaitFigures, WaitHistogram, recent_figures, whole_figures

MS = 1_000_000
FINE_NS = 1 * MS  # fine bins serve zooms below 100 ms per column
FINE_BINS = 1 << 16  # ~65 s: fine zooms show at most ~15 s; the rest is for pausing
COARSE_NS = 100 * MS
COARSE_BINS = 1 << 13  # ~819 s
# Per lane: the live figures need ~2 s of runs and py-spy comparisons a few more; at
# ~100 acquisitions/s this keeps ~40 s. Whole-run totals are kept as counters.
RECENT_RUNS = 4096
RECENT_WAITS = 4096  # the same for waits for the GIL (a convoy responder: ~200/s)


class Tracer(Protocol):
    """Where a runner says what it did, for a recording (see ``model/journal.py``)."""

    def hold(self, key: LaneKey, start: int, end: int, new_run: bool) -> None: ...

    def event(self, op: str, key: LaneKey, *args: Any) -> None: ...


@dataclass(frozen=True)
class LaneKey:
    """A thread (or a lane) of one process. ``slot`` is the worker's board slot for
    gilscope's own workloads, and a serial the thread registry hands out otherwise: a
    kernel tid can come back for another thread, a serial never does."""

    pid: int
    slot: int


@dataclass(frozen=True)
class LaneCells:
    """What one lane shows across the visible columns; fractions of each column, 0–1."""

    held: tuple[float, ...]
    without_gil: tuple[float, ...]  # on a CPU but not holding the GIL (native code)
    waiting: tuple[float, ...] = ()  # awake, waiting to take the GIL back


@dataclass(frozen=True)
class LaneStats:
    """GIL figures for one lane (or runner) over a window."""

    gil_share: float
    handoffs_per_s: float  # acquisitions of the GIL per second
    mean_hold_ms: float
    runs: int
    waits: WaitFigures = field(default_factory=WaitFigures)  # waiting for the GIL


class Tally:
    """Whole-observation counters: of one runner, or of a family of them."""

    __slots__ = (
        "cpu_ns", "first_ns", "held_ns", "last_ns", "members", "runq_ns", "runs", "wait_hist",
        "wait_ns", "waits",
    )  # fmt: skip

    def __init__(self) -> None:
        self.held_ns = 0
        self.runs = 0
        self.wait_ns = 0  # waiting for the GIL, ongoing waits included
        self.waits = 0  # waits that ended
        self.wait_hist: Optional[WaitHistogram] = None  # their lengths (made on the first)
        self.cpu_ns = 0
        self.runq_ns = 0  # ready to run, waiting for a CPU
        self.first_ns = 0  # first GIL acquisition
        self.last_ns = 0  # end of the latest hold
        self.members = 0  # runners counted in it (1 for a runner's own)

    def hold(self, start: int, end: int, new_run: bool) -> None:
        self.held_ns += end - start
        if new_run:
            self.runs += 1
            if not self.first_ns:
                self.first_ns = start
        self.last_ns = max(self.last_ns, end)

    def count_wait(self, length_ns: int) -> None:
        self.waits += 1
        if self.wait_hist is None:
            self.wait_hist = WaitHistogram()
        self.wait_hist.add(length_ns)

    def add(self, other: Tally) -> None:
        """Fold another tally in (a runner forgotten into its family's roll-up)."""
        self.held_ns += other.held_ns
        self.runs += other.runs
        self.wait_ns += other.wait_ns
        self.waits += other.waits
        if other.wait_hist is not None:
            if self.wait_hist is None:
                self.wait_hist = WaitHistogram()
            self.wait_hist.merge(other.wait_hist)
        self.cpu_ns += other.cpu_ns
        self.runq_ns += other.runq_ns
        self.members += other.members
        if other.first_ns:
            self.first_ns = min(self.first_ns or other.first_ns, other.first_ns)
        self.last_ns = max(self.last_ns, other.last_ns)

    def stats(self, start_ns: int, end_ns: int) -> LaneStats:
        span = max(end_ns - start_ns, 1)
        return LaneStats(
            gil_share=self.held_ns / span,
            handoffs_per_s=self.runs / (span / 1e9),
            mean_hold_ms=self.held_ns / max(self.runs, 1) / MS,
            runs=self.runs,
            waits=whole_figures(self.wait_hist, self.wait_ns, start_ns, end_ns),
        )


class Lane:
    """One row of the relay: bins for any zoom, recent runs for the live figures."""

    def __init__(self, key: LaneKey, name: str, process_index: int) -> None:
        self.key = key
        self.name = name
        self.process_index = process_index
        self.held_fine = BinRing(FINE_NS, FINE_BINS)
        self.held_coarse = BinRing(COARSE_NS, COARSE_BINS)
        self.wait_fine = BinRing(FINE_NS, FINE_BINS)
        self.wait_coarse = BinRing(COARSE_NS, COARSE_BINS)
        self.cpu = BinRing(COARSE_NS, COARSE_BINS)
        # CPU time at 100 Hz, for threads of a process without a GIL (no pages otherwise)
        self.cpu_fine = BinRing(FINE_NS, FINE_BINS)
        self.first_cpu_ns = 0  # its first fine CPU time: when a thread without a GIL began
        self.runs: Deque[List[int]] = deque(maxlen=RECENT_RUNS)  # [start_ns, end_ns]
        self.waits: Deque[Tuple[int, int]] = deque(maxlen=RECENT_WAITS)  # ended waits
        self.tally = Tally()  # everything drawn here, whoever ran it
        self.released = False  # its fine history is gone (an ended thread, long ago)

    def hold(self, start: int, end: int, new_run: bool) -> None:
        self.held_fine.add(start, end)
        self.held_coarse.add(start, end)
        if new_run or not self.runs:
            self.runs.append([start, end])
        else:
            self.runs[-1][1] = end
        self.tally.hold(start, end, new_run)

    def add_waiting(self, start: int, end: int) -> None:
        """Waiting for the GIL over [start, end): drawn (part of a wait, or all of it)."""
        self.wait_fine.add(start, end)
        self.wait_coarse.add(start, end)
        self.tally.wait_ns += end - start

    def count_wait(self, start: int, end: int) -> None:
        """A wait that ended: counted, its length kept."""
        self.waits.append((start, end))
        self.tally.count_wait(end - start)

    def release_fine(self) -> None:
        """Drop what only the fine zooms read; the coarse bins and tallies stay."""
        self.held_fine.clear()
        self.wait_fine.clear()
        self.cpu_fine.clear()
        self.runs.clear()
        self.waits.clear()
        self.released = True

    def stats(self, start_ns: int, end_ns: int) -> LaneStats:
        """From the recent runs and waits over [start_ns, end_ns); exact while none was
        evicted (the time waited from the 1 ms bins, so that a wait going on counts)."""
        waited = self.wait_fine.total(start_ns // FINE_NS, -(-end_ns // FINE_NS))
        waits = recent_figures(self.waits, waited, start_ns, end_ns)
        return replace(run_stats(self.runs, start_ns, end_ns), waits=waits)

    def totals(self, start_ns: int, end_ns: int) -> LaneStats:
        """Over a whole observation: exact from the runs while they are all kept."""
        if len(self.runs) == self.tally.runs and not self.released:
            waits = whole_figures(self.tally.wait_hist, self.tally.wait_ns, start_ns, end_ns)
            return replace(run_stats(self.runs, start_ns, end_ns), waits=waits)
        return self.tally.stats(start_ns, end_ns)


class Runner:
    """One thread in the relay: where it is drawn, what it has held, how it stamps."""

    __slots__ = (
        "blind_ns",
        "chunk_est",
        "journal",
        "key",
        "lane",
        "last_release",
        "last_stamp",
        "open_since",
        "tally",
        "wait_drawn",
        "wait_since",
    )

    def __init__(
        self, key: LaneKey, lane: Lane, chunk_ns: int = 0, journal: Optional[Tracer] = None
    ) -> None:
        self.key = key
        self.lane = lane
        self.journal = journal  # a recording's: what this runner did, op by op
        self.tally = Tally()
        self.tally.members = 1
        lane.tally.members += 1
        self.last_stamp = 0
        self.chunk_est = max(chunk_ns, 100_000)
        self.open_since = 0  # explicit events: holding since (0: not holding)
        self.wait_since = 0  # explicit events: waiting for the GIL since
        self.wait_drawn = 0  # probe waits: drawn up to here (an ongoing wait comes in parts)
        # Explicit events: its latest release, and the time between a release and its next
        # "waiting" mark while another thread held the GIL (it may have waited for the GIL
        # there without saying so: see Timeline.blind)
        self.last_release = 0
        self.blind_ns = 0

    def begin_run(self, start: int, end: int) -> None:
        """A new acquisition: a run held from ``start`` to (so far) ``end``."""
        self._hold(start, end, True)

    def extend_run(self, start: int, end: int) -> None:
        """Its newest run went on being held from ``start`` (its end so far) to ``end``."""
        self._hold(start, end, False)

    def _hold(self, start: int, end: int, new_run: bool) -> None:
        self.lane.hold(start, end, new_run)
        self.tally.hold(start, end, new_run)
        if self.journal is not None:
            self.journal.hold(self.key, start, end, new_run)

    def add_waiting(self, start: int, end: int) -> None:
        """A whole wait for the GIL, drawn and counted."""
        self.draw_waiting(start, end)
        self.count_wait(start, end)

    def draw_waiting(self, start: int, end: int) -> None:
        self.lane.add_waiting(start, end)
        self.tally.wait_ns += end - start
        if self.journal is not None:
            self.journal.event(WAIT, self.key, start, end)

    def count_wait(self, start: int, end: int) -> None:
        self.lane.count_wait(start, end)
        self.tally.count_wait(end - start)
        if self.journal is not None:
            self.journal.event(WAIT_ENDED, self.key, start, end)

    def add_sampled(self, start: int, end: int, amount: int) -> None:
        """A sampled share of [start, end) (py-spy): drawn as held, but no runs."""
        self.lane.held_fine.add(start, end, amount)
        self.lane.held_coarse.add(start, end, amount)
        for tally in (self.lane.tally, self.tally):
            tally.held_ns += amount
            tally.first_ns = tally.first_ns or start
            tally.last_ns = max(tally.last_ns, end)
        if self.journal is not None:
            self.journal.event(SAMPLED, self.key, start, end, amount)

    def add_cpu(self, start: int, end: int, cpu_ns: int, runq_ns: int = 0) -> None:
        self.lane.cpu.add(start, end, max(cpu_ns, 0))
        for tally in (self.lane.tally, self.tally):
            tally.cpu_ns += max(cpu_ns, 0)
            tally.runq_ns += max(runq_ns, 0)
        if self.journal is not None:
            self.journal.event(CPU, self.key, start, end, cpu_ns, runq_ns)

    def add_cpu_fine(self, start: int, end: int, cpu_ns: int) -> None:
        """For drawing only: the tallies count the 10 Hz samples (``add_cpu``) alone."""
        self.lane.cpu_fine.add(start, end, max(cpu_ns, 0))
        if cpu_ns > 0 and not self.lane.first_cpu_ns:
            self.lane.first_cpu_ns = start
        if self.journal is not None:
            self.journal.event(FINE_CPU, self.key, start, end, cpu_ns)

    def totals(self, start_ns: int, end_ns: int) -> LaneStats:
        """Its own figures over a whole observation; exact from its lane's runs when the
        lane is its own."""
        if self.lane.key == self.key:
            return self.lane.totals(start_ns, end_ns)
        return self.tally.stats(start_ns, end_ns)


def run_stats(runs: Deque[List[int]], start_ns: int, end_ns: int) -> LaneStats:
    span = end_ns - start_ns
    if span <= 0:
        return LaneStats(0.0, 0.0, 0.0, 0)
    held = 0
    acquired = 0
    full = 0
    count = 0
    # Runs are in time order; walk back from the newest until they end before the window.
    for i in range(len(runs) - 1, -1, -1):
        s, e = runs[i]
        if e <= start_ns:
            break
        if s >= end_ns:
            continue
        held += min(e, end_ns) - max(s, start_ns)
        full += e - s
        count += 1
        if s >= start_ns:
            acquired += 1
    return LaneStats(
        gil_share=held / span,
        handoffs_per_s=acquired / (span / 1e9),
        mean_hold_ms=full / count / MS if count else 0.0,
        runs=count,
    )
