"""The relay-race timeline: one lane per worker thread, lanes grouped by process.

Stamps from the workers' beacon board become *runs*: spans in which a thread held its
process's GIL. Only the GIL holder can run bytecode, so within one process a run never
starts before another thread's latest stamp; that is how a stamp every ~1 ms becomes an
exact, exclusive relay. Threads that block or call into C say so explicitly instead
(acquired / released / waiting events); both kinds share one process's relay. Runs are
folded into bounded time bins at two resolutions so that any zoom from 1 ms to 2 s per
column reads a few bins per column.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Tuple

from gilscope.model.bins import BinRing
from gilscope.sampling.report import (
    TAG_ACQUIRED,
    TAG_RELEASED,
    TAG_SHIFT,
    TAG_STAMP,
    TAG_WAITING,
    TIME_MASK,
)

MS = 1_000_000
FINE_NS = 1 * MS  # fine bins serve zooms below 100 ms per column
FINE_BINS = 1 << 16  # ~65 s: fine zooms show at most ~15 s; the rest is for pausing
COARSE_NS = 100 * MS
COARSE_BINS = 1 << 13  # ~819 s
ZOOM_LEVELS_NS: Tuple[int, ...] = tuple(
    z * MS for z in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
)
# A holder's stamps closer than this, with no other thread's stamp between, are one run;
# a longer silence means the thread was not running (descheduled, finished, or stopped).
HOLD_GAP_MAX_NS = 50 * MS
# Per lane: the live figures need ~2 s of runs and py-spy comparisons a few more; at
# ~100 acquisitions/s this keeps ~40 s. Whole-run totals are kept as counters.
RECENT_RUNS = 4096
# The baton stays with the last holder this long after its last sign of holding: the
# probe's reports arrive every ~10 ms and are drained every 20 ms.
HOLDER_FRESH_NS = 40 * MS


@dataclass(frozen=True)
class LaneKey:
    pid: int
    slot: int


@dataclass(frozen=True)
class LaneCells:
    """What one lane shows across the visible columns; fractions of each column, 0–1."""

    held: Tuple[float, ...]
    without_gil: Tuple[float, ...]  # on a CPU but not holding the GIL (native code)
    waiting: Tuple[float, ...] = ()  # awake, waiting to take the GIL back


@dataclass(frozen=True)
class LaneStats:
    """GIL figures for one lane over a window."""

    gil_share: float
    handoffs_per_s: float  # acquisitions of the GIL per second
    mean_hold_ms: float
    runs: int


class Lane:
    """One thread's history. Mutated only under the Timeline's lock."""

    def __init__(self, key: LaneKey, name: str, process_index: int, chunk_ns: int) -> None:
        self.key = key
        self.name = name
        self.process_index = process_index
        self.held_fine = BinRing(FINE_NS, FINE_BINS)
        self.held_coarse = BinRing(COARSE_NS, COARSE_BINS)
        self.wait_fine = BinRing(FINE_NS, FINE_BINS)
        self.wait_coarse = BinRing(COARSE_NS, COARSE_BINS)
        self.open_since = 0  # explicit lanes: holding since (0: not holding)
        self.wait_since = 0  # explicit lanes: waiting for the GIL since
        self.cpu = BinRing(COARSE_NS, COARSE_BINS)
        self.runs: Deque[List[int]] = deque(maxlen=RECENT_RUNS)  # [start_ns, end_ns]
        self.last_stamp = 0
        self.chunk_est = max(chunk_ns, 100_000)
        self.total_held_ns = 0
        self.total_runs = 0
        self.first_ns = 0

    def add_held(self, start: int, end: int) -> None:
        self.held_fine.add(start, end)
        self.held_coarse.add(start, end)
        self.total_held_ns += end - start

    def begin_run(self, start: int, end: int) -> None:
        """A new acquisition: a run held from ``start`` to (so far) ``end``."""
        self.add_held(start, end)
        self.runs.append([start, end])
        self.total_runs += 1
        if not self.first_ns:
            self.first_ns = start

    def extend_run(self, start: int, end: int) -> None:
        """The newest run went on being held from ``start`` (its end so far) to ``end``."""
        self.add_held(start, end)
        self.runs[-1][1] = end

    def add_waiting(self, start: int, end: int) -> None:
        self.wait_fine.add(start, end)
        self.wait_coarse.add(start, end)


class _ProcessTrack:
    def __init__(self) -> None:
        self.last_lane: Optional[Lane] = None
        self.last_stamp = 0
        # Stamps only: time between two of the process's stamps beyond two chunks (a
        # hand-off costs up to two), during which the stamps cannot say who held the GIL:
        # its threads were off a CPU (a busy machine). How far the report can be trusted.
        self.unseen_ns = 0
        self.unseen_gaps = 0


class Timeline:
    """All lanes of one observed run. Thread-safe: the collector writes, the UI reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lanes: Dict[LaneKey, Lane] = {}
        self._procs: Dict[int, _ProcessTrack] = {}
        # (time, tag) newer than the last read's start, held back for the next read
        self._pending: Dict[LaneKey, List[Tuple[int, int]]] = {}
        self.latest_ns = 0

    # -- writing (collector thread) ---------------------------------------------------
    def add_lane(self, key: LaneKey, name: str, process_index: int, chunk_ns: int) -> None:
        with self._lock:
            if key not in self._lanes:
                self._lanes[key] = Lane(key, name, process_index, chunk_ns)
                self._procs.setdefault(key.pid, _ProcessTrack())

    def add_stamps(
        self, batches: Iterable[Tuple[LaneKey, Sequence[int]]], upto: Optional[int] = None
    ) -> None:
        """Fold new stamps in; stamps of one process are replayed in time order.

        ``upto``: the clock just before the board was read. The reader reads slot after
        slot, so a stamp newer than that may be visible in one slot while an older one in
        the next slot is not yet; such stamps wait for the next call instead of arriving
        out of order.
        """
        by_pid: Dict[int, List[List[Tuple[int, int, LaneKey]]]] = {}
        with self._lock:
            for key, words in batches:
                held = self._pending.pop(key, [])
                # A bare stamp is a time; the rest carry their tag in the top bits.
                held.extend((w & TIME_MASK, w >> TAG_SHIFT) for w in words)
                if upto is not None and held and held[-1][0] > upto:
                    cut = bisect.bisect_right(held, (upto, 1 << 8))
                    self._pending[key] = held[cut:]
                    held = held[:cut]
                by_pid.setdefault(key.pid, []).append([(t, tag, key) for t, tag in held])
            for pid, streams in by_pid.items():
                track = self._procs.setdefault(pid, _ProcessTrack())
                for t, tag, key in heapq.merge(*streams, key=lambda s: s[0]):
                    lane = self._lanes.get(key)
                    if lane is None:
                        continue
                    if tag == TAG_STAMP:
                        self._stamp(track, lane, t)
                    else:
                        self._event(track, lane, t, tag)

    def _stamp(self, track: _ProcessTrack, lane: Lane, t: int) -> None:
        if t <= track.last_stamp:
            # Older than a stamp of this process already replayed (only possible if a caller
            # gives no ``upto``): replaying it would make an inverted, overlapping run.
            return
        if track.last_stamp:
            unseen = t - track.last_stamp - 2 * lane.chunk_est
            if unseen > 0:
                track.unseen_ns += unseen
                track.unseen_gaps += 1
        gap = t - lane.last_stamp
        if track.last_lane is lane and lane.last_stamp and gap <= HOLD_GAP_MAX_NS:
            # Nobody else ran since this thread's last stamp: it held the GIL throughout.
            if gap < 3 * lane.chunk_est:
                lane.chunk_est += (gap - lane.chunk_est) // 8
            lane.extend_run(lane.last_stamp, t)
        else:
            # A new acquisition at some instant h we did not see. The previous holder ran
            # until h and stamps every chunk, so h < its last stamp + one chunk; this thread
            # stamps one chunk (at most) after resuming, so h >= t - chunk. Split the unseen
            # span at the middle of what is possible, so the relay stays gapless and exclusive.
            prev = track.last_lane
            start = max(t - lane.chunk_est, track.last_stamp, lane.last_stamp)
            if prev is not None and prev is not lane and prev.last_stamp == track.last_stamp:
                latest_end = min(track.last_stamp + prev.chunk_est, t)
                # The two bounds meet: a hand-off, split it. They do not when either thread
                # was descheduled (a busy machine), yet one of them held the GIL all along:
                # split such a gap at its middle too, up to the silence that ends a run.
                if latest_end >= start or t - track.last_stamp <= HOLD_GAP_MAX_NS:
                    start = (start + latest_end) // 2
                    prev.extend_run(track.last_stamp, start)
            lane.begin_run(start, t)
        lane.last_stamp = t
        track.last_lane = lane
        track.last_stamp = t
        if t > self.latest_ns:
            self.latest_ns = t

    def _event(self, track: _ProcessTrack, lane: Lane, t: int, tag: int) -> None:
        """An explicit event: the thread itself says when it took or gave up the GIL."""
        if tag == TAG_WAITING:
            lane.wait_since = t
            return
        if tag == TAG_ACQUIRED:
            prev = track.last_lane
            # A stamping thread held the GIL until it let go, at most a chunk after its last
            # stamp and before this thread took it.
            if (
                prev is not None
                and prev is not lane
                and not prev.open_since
                and prev.last_stamp == track.last_stamp
                and t - prev.last_stamp <= HOLD_GAP_MAX_NS
            ):
                end = min(prev.last_stamp + prev.chunk_est, t)
                if end > prev.last_stamp:
                    prev.extend_run(prev.last_stamp, end)
            if lane.wait_since and lane.wait_since <= t:
                lane.add_waiting(lane.wait_since, t)
            lane.wait_since = 0
            lane.open_since = t
            track.last_lane = lane
        elif tag == TAG_RELEASED and lane.open_since:
            start, lane.open_since = lane.open_since, 0
            lane.begin_run(start, t)
            track.last_lane = None  # nobody holds it until the next stamp or acquisition
        else:
            return
        track.last_stamp = t
        if t > self.latest_ns:
            self.latest_ns = t

    def add_holders(self, pid: int, changes: Iterable[Tuple[int, Optional[LaneKey]]]) -> None:
        """Hand-offs read by the GIL probe: from time ``t`` on, ``key`` holds ``pid``'s GIL
        (None: nobody, or a thread without a lane). Times only grow; a repeated holder says
        it still held the GIL at that read, which extends its run up to there."""
        with self._lock:
            track = self._procs.setdefault(pid, _ProcessTrack())
            for t, key in changes:
                if t < track.last_stamp:
                    continue
                holder = track.last_lane
                if holder is not None and t > track.last_stamp:
                    holder.extend_run(track.last_stamp, t)
                lane = self._lanes.get(key) if key is not None else None
                if lane is not holder:
                    if lane is not None:
                        lane.begin_run(t, t)  # held from t; heartbeats extend it
                    track.last_lane = lane
                track.last_stamp = t
                if t > self.latest_ns:
                    self.latest_ns = t

    def add_waiting_marks(self, batches: Iterable[Tuple[LaneKey, Sequence[int]]]) -> None:
        """Only the "waiting for the GIL" spans of the workers' own report: for lanes whose
        holding is drawn from the probe, the threads still say best when they began to
        wait (the probe sees the GIL, not who queues for it)."""
        with self._lock:
            for key, words in batches:
                lane = self._lanes.get(key)
                if lane is None:
                    continue
                for w in words:
                    tag, t = w >> TAG_SHIFT, w & TIME_MASK
                    if tag == TAG_WAITING:
                        lane.wait_since = t
                    elif tag == TAG_ACQUIRED and lane.wait_since:
                        if lane.wait_since <= t:
                            lane.add_waiting(lane.wait_since, t)
                        lane.wait_since = 0

    def add_sampled(self, key: LaneKey, start_ns: int, end_ns: int, share: float) -> None:
        """A sampled GIL share over a span (py-spy, for a process without beacons): drawn
        as that fraction of each column; it has no runs, so no hand-offs or hold times."""
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None or end_ns <= start_ns:
                return
            amount = int(max(0.0, min(1.0, share)) * (end_ns - start_ns))
            lane.held_fine.add(start_ns, end_ns, amount)
            lane.held_coarse.add(start_ns, end_ns, amount)
            lane.total_held_ns += amount
            if not lane.first_ns:
                lane.first_ns = start_ns
            self.latest_ns = max(self.latest_ns, end_ns)

    def add_cpu(self, key: LaneKey, start_ns: int, end_ns: int, cpu_ns: int) -> None:
        with self._lock:
            lane = self._lanes.get(key)
            if lane is not None:
                lane.cpu.add(start_ns, end_ns, max(cpu_ns, 0))

    # -- reading (UI thread, headless report) -----------------------------------------
    def keys(self) -> List[LaneKey]:
        with self._lock:
            return sorted(self._lanes, key=lambda k: (self._lanes[k].process_index, k.slot))

    def name(self, key: LaneKey) -> str:
        with self._lock:
            return self._lanes[key].name

    def started_ns(self) -> int:
        """The run's first GIL acquisition by any lane (0 if none has run yet)."""
        with self._lock:
            return min((lane.first_ns for lane in self._lanes.values() if lane.first_ns), default=0)

    def unseen(self, pid: int) -> Tuple[int, int]:
        """(ns, gaps) of ``pid``'s stamps too far apart to say who held the GIL."""
        with self._lock:
            track = self._procs.get(pid)
            return (track.unseen_ns, track.unseen_gaps) if track is not None else (0, 0)

    def first_ns(self, key: LaneKey) -> int:
        """When the lane first held the GIL (0 if never)."""
        with self._lock:
            return self._lanes[key].first_ns

    def holder(self, pid: int, now_ns: int) -> Optional[LaneKey]:
        """The lane holding ``pid``'s GIL now: the last to stamp, if it stamped recently."""
        with self._lock:
            track = self._procs.get(pid)
            if track is None or track.last_lane is None:
                return None
            lane = track.last_lane
            if lane.open_since:
                return lane.key
            if now_ns - track.last_stamp > max(4 * lane.chunk_est, HOLDER_FRESH_NS):
                return None
            return lane.key

    def cells(self, key: LaneKey, end_ns: int, col_ns: int, n: int) -> LaneCells:
        """Per column: the fraction held, and the fraction on-CPU without the GIL."""
        with self._lock:
            lane = self._lanes[key]
            fine = col_ns < COARSE_NS or col_ns % COARSE_NS
            ring = lane.held_fine if fine else lane.held_coarse
            held = [min(1.0, h / col_ns) for h in ring.columns(end_ns, col_ns, n)]
            waits = lane.wait_fine if fine else lane.wait_coarse
            waiting = [min(1.0, h / col_ns) for h in waits.columns(end_ns, col_ns, n)]
            without = self._without_gil(lane, end_ns, col_ns, n)
        return LaneCells(tuple(held), tuple(without), tuple(waiting))

    @staticmethod
    def _without_gil(lane: Lane, end_ns: int, col_ns: int, n: int) -> List[float]:
        # CPU time is known per 100 ms bin; compare it with GIL time at that resolution,
        # then give each column the value of the bin it falls in.
        width = max(col_ns, COARSE_NS)
        out: List[float] = []
        for i in range(n):
            col_end = end_ns - (n - i - 1) * col_ns
            bin_end = -(-col_end // width) * width
            b0, b1 = (bin_end - width) // COARSE_NS, bin_end // COARSE_NS
            cpu = lane.cpu.total(b0, b1)
            held = lane.held_coarse.total(b0, b1)
            out.append(max(0.0, min(1.0, (cpu - held) / width)))
        return out

    def stats(self, key: LaneKey, start_ns: int, end_ns: int) -> LaneStats:
        """Share, hand-offs and hold time of one lane over [start_ns, end_ns)."""
        with self._lock:
            lane = self._lanes[key]
            return _stats(lane.runs, start_ns, end_ns)

    def totals(self, key: LaneKey, start_ns: int, end_ns: int) -> LaneStats:
        """Like ``stats`` over a whole observation; exact while the runs are still held."""
        with self._lock:
            lane = self._lanes[key]
            if len(lane.runs) == lane.total_runs:  # nothing evicted yet: count exactly
                return _stats(lane.runs, start_ns, end_ns)
            span = max(end_ns - start_ns, 1)
            return LaneStats(
                gil_share=lane.total_held_ns / span,
                handoffs_per_s=lane.total_runs / (span / 1e9),
                mean_hold_ms=lane.total_held_ns / max(lane.total_runs, 1) / MS,
                runs=lane.total_runs,
            )

    def held_between(self, key: LaneKey, start_ns: int, end_ns: int) -> float:
        """Fraction of [start_ns, end_ns) this lane held the GIL, from its runs."""
        with self._lock:
            return _stats(self._lanes[key].runs, start_ns, end_ns).gil_share


def _stats(runs: Deque[List[int]], start_ns: int, end_ns: int) -> LaneStats:
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
