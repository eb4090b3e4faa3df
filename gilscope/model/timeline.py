"""The relay-race timeline: lanes grouped by process, the GIL as the baton passed along them.

Stamps from the workers' beacon board become *runs*: spans in which a thread held its
process's GIL. Only the GIL holder can run bytecode, so within one process a run never
starts before another thread's latest stamp; that is how a stamp every ~1 ms becomes an
exact, exclusive relay. Threads that block or call into C say so explicitly instead
(acquired / released / waiting events); the GIL probe reports hand-offs directly. Runs are
folded into bounded time bins at two resolutions so that any zoom from 1 ms to 2 s per
column reads a few bins per column.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Dict, List, Optional, Tuple

from gilscope.model import journal as J
from gilscope.model.lanes import (
    COARSE_BINS,
    COARSE_NS,
    FINE_BINS,
    FINE_NS,
    MS,
    RECENT_RUNS,
    Lane,
    LaneCells,
    LaneKey,
    LaneStats,
    Runner,
    Tally,
)
from gilscope.sampling.report import (
    TAG_ACQUIRED,
    TAG_RELEASED,
    TAG_SHIFT,
    TAG_STAMP,
    TAG_WAITING,
    TIME_MASK,
)

__all__ = [
    "COARSE_BINS",
    "FINE_BINS",
    "FINE_NS",
    "HOLDER_FRESH_NS",
    "HOLD_GAP_MAX_NS",
    "MS",
    "RECENT_RUNS",
    "ZOOM_LEVELS_NS",
    "LaneCells",
    "LaneKey",
    "LaneStats",
    "Timeline",
]

ZOOM_LEVELS_NS: Tuple[int, ...] = tuple(
    z * MS for z in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
)
# A holder's stamps closer than this, with no other thread's stamp between, are one run;
# a longer silence means the thread was not running (descheduled, finished, or stopped).
HOLD_GAP_MAX_NS = 50 * MS
# The baton stays with the last holder this long after its last sign of holding: the
# probe's reports arrive every ~10 ms and are drained every 20 ms.
HOLDER_FRESH_NS = 40 * MS


class _ProcessTrack:
    """One process's relay so far: who stamped (or took the GIL) last, and when."""

    def __init__(self) -> None:
        self.last: Optional[Runner] = None
        self.last_stamp = 0
        # Stamps only: time between two of the process's stamps beyond two chunks (a
        # hand-off costs up to two), during which the stamps cannot say who held the GIL:
        # its threads were off a CPU (a busy machine). How far the report can be trusted.
        self.unseen_ns = 0
        self.unseen_gaps = 0
        # Explicit events: the latest release of the GIL, by whom, and that hold's start.
        self.released_at = 0
        self.released_by: Optional[Runner] = None
        self.released_from = 0


class _Tracer:
    """A runner's ops, into a journal, tagged with the timeline they belong to."""

    def __init__(self, journal: J.Journal, tl: str) -> None:
        self.journal = journal
        self.tl = tl

    def hold(self, key: LaneKey, start: int, end: int, new_run: bool) -> None:
        self.journal.hold(self.tl, key.pid, key.slot, start, end, new_run)

    def event(self, op: str, key: LaneKey, *args: Any) -> None:
        self.journal.add((op, self.tl, key.pid, key.slot, *args))


class Timeline:
    """All lanes of one observation. Thread-safe: the collector writes, the UI reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracer: Optional[_Tracer] = None
        self._lanes: Dict[LaneKey, Lane] = {}
        self._runners: Dict[LaneKey, Runner] = {}
        self._procs: Dict[int, _ProcessTrack] = {}
        # (time, tag) newer than the last read's start, held back for the next read
        self._pending: Dict[LaneKey, List[Tuple[int, int]]] = {}
        self.latest_ns = 0

    # -- recording ----------------------------------------------------------------------
    def record_into(self, journal: J.Journal, tl: str) -> None:
        """From now on, say every change in ``journal`` (as timeline ``tl``)."""
        with self._lock:
            self._tracer = _Tracer(journal, tl)
            for runner in self._runners.values():
                runner.journal = self._tracer

    def _trace(self, op: str, *args: Any) -> None:
        if self._tracer is not None:
            self._tracer.journal.add((op, self._tracer.tl, *args))

    def trace_state(self) -> None:
        """What a frame of a recording ends with: the latest time, and per process how
        much its stamps could not see."""
        with self._lock:
            self._trace(J.LATEST, self.latest_ns)
            for pid, track in self._procs.items():
                if track.unseen_gaps:
                    self._trace(J.UNSEEN, pid, track.unseen_ns, track.unseen_gaps)
            for key, runner in self._runners.items():
                if runner.blind_ns:
                    self._trace(J.BLIND, key.pid, key.slot, runner.blind_ns)

    def apply(self, ops: Iterable[J.Op]) -> None:
        """Replay a recording's ops for this timeline (their second field already
        matched): the same changes, made by the same methods."""
        for op in ops:
            kind, args = op[0], op[2:]
            if kind == J.LANE:
                self.add_lane(LaneKey(args[0], args[1]), args[2], args[3], args[4])
            elif kind == J.SHARED:
                self.add_shared_lane(LaneKey(args[0], args[1]), args[2], args[3])
            elif kind == J.RUNNER:
                self.add_runner(LaneKey(args[0], args[1]), LaneKey(args[2], args[3]))
            elif kind == J.RENAME:
                self.rename(LaneKey(args[0], args[1]), args[2])
            elif kind == J.RELEASE:
                self.release(
                    [LaneKey(p, s) for p, s in args[0]], [LaneKey(p, s) for p, s in args[1]]
                )
            elif kind == J.LATEST:
                self.latest_ns = max(self.latest_ns, args[0])
            elif kind == J.UNSEEN:
                track = self._procs.setdefault(args[0], _ProcessTrack())
                track.unseen_ns, track.unseen_gaps = args[1], args[2]
            else:
                self._apply_runner_op(kind, LaneKey(args[0], args[1]), args[2:])

    def _apply_runner_op(self, kind: str, key: LaneKey, args: Sequence[Any]) -> None:
        with self._lock:
            runner = self._runners.get(key)
            if runner is None:
                return
            if kind == J.HOLD:
                (runner.begin_run if args[2] else runner.extend_run)(args[0], args[1])
                self.latest_ns = max(self.latest_ns, args[1])
            elif kind == J.WAIT:
                runner.draw_waiting(args[0], args[1])
            elif kind == J.WAIT_ENDED:
                runner.count_wait(args[0], args[1])
            elif kind == J.CPU:
                runner.add_cpu(args[0], args[1], args[2], args[3] if len(args) > 3 else 0)
            elif kind == J.BLIND:
                runner.blind_ns = args[0]
            elif kind == J.SAMPLED:
                runner.add_sampled(args[0], args[1], args[2])
            elif kind == J.FINE_CPU:
                runner.add_cpu_fine(args[0], args[1], args[2])
                if args[2] > 0:
                    self.latest_ns = max(self.latest_ns, args[1])

    def holding(self, pid: int, now_ns: int) -> Optional[LaneKey]:
        """The lane whose run covers ``now_ns`` (a replay's baton: it has no live relay)."""
        with self._lock:
            for lane in self._lanes.values():
                if lane.key.pid == pid and lane.runs:
                    for start, end in reversed(lane.runs):
                        if end < now_ns - HOLDER_FRESH_NS:
                            break
                        if start <= now_ns:
                            return lane.key
            return None

    # -- lanes and runners ------------------------------------------------------------
    def add_lane(self, key: LaneKey, name: str, process_index: int, chunk_ns: int = 0) -> None:
        """A lane, and the runner of the same key that runs in it (a thread of its own)."""
        with self._lock:
            if key not in self._lanes:
                self._lanes[key] = Lane(key, name, process_index)
                self._procs.setdefault(key.pid, _ProcessTrack())
                self._trace(J.LANE, key.pid, key.slot, name, process_index, chunk_ns)
            if key not in self._runners:
                self._runners[key] = Runner(key, self._lanes[key], chunk_ns, self._tracer)

    def add_shared_lane(self, key: LaneKey, name: str, process_index: int) -> None:
        """A lane for many runners (a family of threads), with no runner of its own."""
        with self._lock:
            if key not in self._lanes:
                self._lanes[key] = Lane(key, name, process_index)
                self._procs.setdefault(key.pid, _ProcessTrack())
                self._trace(J.SHARED, key.pid, key.slot, name, process_index)

    def add_runner(self, key: LaneKey, lane: LaneKey) -> None:
        """A thread drawn in a shared ``lane``."""
        with self._lock:
            if key not in self._runners:
                self._runners[key] = Runner(key, self._lanes[lane], 0, self._tracer)
                self._trace(J.RUNNER, key.pid, key.slot, lane.pid, lane.slot)

    def rename(self, key: LaneKey, name: str) -> None:
        with self._lock:
            lane = self._lanes.get(key)
            if lane is not None and lane.name != name:
                lane.name = name
                self._trace(J.RENAME, key.pid, key.slot, name)

    def release(self, lanes: Iterable[LaneKey], runners: Iterable[LaneKey]) -> None:
        """Ended threads the view can no longer show: their lanes lose the fine history,
        and ``runners`` are forgotten with their own lanes (their time stays in a shared
        lane's tally, and in the family roll-up the registry keeps)."""
        lanes, runners = list(lanes), list(runners)
        with self._lock:
            self._trace(J.RELEASE, [[k.pid, k.slot] for k in lanes],
                        [[k.pid, k.slot] for k in runners])  # fmt: skip
            for key in lanes:
                lane = self._lanes.get(key)
                if lane is not None and not lane.released:
                    lane.release_fine()
            for key in runners:
                runner = self._runners.pop(key, None)
                track = self._procs.get(key.pid)
                if runner is not None and track is not None and track.last is runner:
                    track.last = None
                if runner is not None and runner.lane.key == key:
                    del self._lanes[key]  # its own lane goes with it

    # -- writing (collector thread) ---------------------------------------------------
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
                    runner = self._runners.get(key)
                    if runner is None:
                        continue
                    if tag == TAG_STAMP:
                        self._stamp(track, runner, t)
                    else:
                        self._event(track, runner, t, tag)

    def _stamp(self, track: _ProcessTrack, runner: Runner, t: int) -> None:
        if t <= track.last_stamp:
            # Older than a stamp of this process already replayed (only possible if a caller
            # gives no ``upto``): replaying it would make an inverted, overlapping run.
            return
        if track.last_stamp:
            unseen = t - track.last_stamp - 2 * runner.chunk_est
            if unseen > 0:
                track.unseen_ns += unseen
                track.unseen_gaps += 1
        gap = t - runner.last_stamp
        if track.last is runner and runner.last_stamp and gap <= HOLD_GAP_MAX_NS:
            # Nobody else ran since this thread's last stamp: it held the GIL throughout.
            if gap < 3 * runner.chunk_est:
                runner.chunk_est += (gap - runner.chunk_est) // 8
            runner.extend_run(runner.last_stamp, t)
        else:
            # A new acquisition at some instant h we did not see. The previous holder ran
            # until h and stamps every chunk, so h < its last stamp + one chunk; this thread
            # stamps one chunk (at most) after resuming, so h >= t - chunk. Split the unseen
            # span at the middle of what is possible, so the relay stays gapless and exclusive.
            prev = track.last
            start = max(t - runner.chunk_est, track.last_stamp, runner.last_stamp)
            if prev is not None and prev is not runner and prev.last_stamp == track.last_stamp:
                latest_end = min(track.last_stamp + prev.chunk_est, t)
                # The two bounds meet: a hand-off, split it. They do not when either thread
                # was descheduled (a busy machine), yet one of them held the GIL all along:
                # split such a gap at its middle too, up to the silence that ends a run.
                if latest_end >= start or t - track.last_stamp <= HOLD_GAP_MAX_NS:
                    start = (start + latest_end) // 2
                    prev.extend_run(track.last_stamp, start)
            runner.begin_run(start, t)
        runner.last_stamp = t
        track.last = runner
        track.last_stamp = t
        self.latest_ns = max(self.latest_ns, t)

    def _event(self, track: _ProcessTrack, runner: Runner, t: int, tag: int) -> None:
        """An explicit event: the thread itself says when it took or gave up the GIL."""
        if tag == TAG_WAITING:
            runner.wait_since = t
            released = runner.last_release
            if 0 < released < t and _waited_from(track, track.last, runner, released) is not None:
                runner.blind_ns += t - released
            return
        if tag == TAG_ACQUIRED:
            prev = track.last
            # A stamping thread held the GIL until it let go, at most a chunk after its last
            # stamp and before this thread took it.
            if (
                prev is not None
                and prev is not runner
                and not prev.open_since
                and prev.last_stamp == track.last_stamp
                and t - prev.last_stamp <= HOLD_GAP_MAX_NS
            ):
                end = min(prev.last_stamp + prev.chunk_est, t)
                if end > prev.last_stamp:
                    prev.extend_run(prev.last_stamp, end)
            since = runner.wait_since
            waited = _waited_from(track, prev, runner, since) if 0 < since <= t else None
            if waited is not None:
                runner.add_waiting(waited, t)
            runner.wait_since = 0
            runner.open_since = t
            track.last = runner
        elif tag == TAG_RELEASED and runner.open_since:
            start, runner.open_since = runner.open_since, 0
            runner.begin_run(start, t)
            track.last = None  # nobody holds it until the next stamp or acquisition
            track.released_at, track.released_by, track.released_from = t, runner, start
            runner.last_release = t
        else:
            return
        track.last_stamp = t
        self.latest_ns = max(self.latest_ns, t)

    def add_holders(self, pid: int, changes: Iterable[Tuple[int, Optional[LaneKey]]]) -> None:
        """Hand-offs read by the GIL probe: from time ``t`` on, runner ``key`` holds
        ``pid``'s GIL (None: nobody, or a thread without a runner). Times only grow; a
        repeated holder says it still held the GIL at that read, which extends its run."""
        with self._lock:
            track = self._procs.setdefault(pid, _ProcessTrack())
            for t, key in changes:
                if t < track.last_stamp:
                    continue
                holder = track.last
                if holder is not None and t > track.last_stamp:
                    holder.extend_run(track.last_stamp, t)
                runner = self._runners.get(key) if key is not None else None
                if runner is not holder:
                    if runner is not None:
                        runner.begin_run(t, t)  # held from t; heartbeats extend it
                    track.last = runner
                track.last_stamp = t
                self.latest_ns = max(self.latest_ns, t)

    def add_waits(self, waits: Iterable[Tuple[LaneKey, int, int, bool]]) -> None:
        """Waits for the GIL the probe saw: (runner, start, end, ended). A wait still going
        on comes again, longer, until it ends: each part is drawn once, and it is counted
        (with its length) when it ends."""
        with self._lock:
            for key, start, end, ended in waits:
                runner = self._runners.get(key)
                if runner is None or end < start:
                    continue
                drawn_from = max(start, runner.wait_drawn)
                if end > drawn_from:
                    runner.draw_waiting(drawn_from, end)
                    runner.wait_drawn = end
                if ended:
                    runner.count_wait(start, end)

    def add_waiting_marks(self, batches: Iterable[Tuple[LaneKey, Sequence[int]]]) -> None:
        """Only the "waiting for the GIL" spans of the workers' own report: for lanes whose
        holding is drawn from the probe but whose waits it cannot see (its layout has no
        wait words: see ``self_inspect.wait_words``)."""
        with self._lock:
            for key, words in batches:
                runner = self._runners.get(key)
                if runner is None:
                    continue
                for w in words:
                    tag, t = w >> TAG_SHIFT, w & TIME_MASK
                    if tag == TAG_WAITING:
                        runner.wait_since = t
                    elif tag == TAG_ACQUIRED and runner.wait_since:
                        if runner.wait_since <= t:
                            runner.add_waiting(runner.wait_since, t)
                        runner.wait_since = 0

    def add_sampled(self, key: LaneKey, start_ns: int, end_ns: int, share: float) -> None:
        """A sampled GIL share over a span (py-spy, for a process without beacons): drawn
        as that fraction of each column; it has no runs, so no hand-offs or hold times."""
        with self._lock:
            runner = self._runners.get(key)
            if runner is None or end_ns <= start_ns:
                return
            amount = int(max(0.0, min(1.0, share)) * (end_ns - start_ns))
            runner.add_sampled(start_ns, end_ns, amount)
            self.latest_ns = max(self.latest_ns, end_ns)

    def add_cpu(
        self, key: LaneKey, start_ns: int, end_ns: int, cpu_ns: int, runq_ns: int = 0
    ) -> None:
        """CPU time over a span, and time the thread waited for a CPU (the run queue)."""
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                runner.add_cpu(start_ns, end_ns, cpu_ns, runq_ns)

    def add_cpu_fine(self, key: LaneKey, start_ns: int, end_ns: int, cpu_ns: int) -> None:
        """A thread without a GIL on a CPU, read at 100 Hz: what its lane draws. Its time
        is the observation's time too (there are no hand-offs to date it by)."""
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                runner.add_cpu_fine(start_ns, end_ns, cpu_ns)
                if cpu_ns > 0:
                    self.latest_ns = max(self.latest_ns, end_ns)

    # -- reading (UI thread, headless report) -----------------------------------------
    def keys(self) -> List[LaneKey]:
        """The lanes, in order of process, then slot."""
        with self._lock:
            return sorted(self._lanes, key=lambda k: (self._lanes[k].process_index, k.slot))

    def name(self, key: LaneKey) -> str:
        with self._lock:
            return self._lanes[key].name

    def started_ns(self) -> int:
        """The observation's first GIL acquisition by any lane, or a lane without a GIL's
        first time on a CPU (0 if none has run yet)."""
        with self._lock:
            firsts = (lane.tally.first_ns or lane.first_cpu_ns for lane in self._lanes.values())
            return min((t for t in firsts if t), default=0)

    def first_ns(self, key: LaneKey) -> int:
        """When the runner (or lane) first held the GIL (0 if never)."""
        with self._lock:
            runner = self._runners.get(key)
            return runner.tally.first_ns if runner is not None else self._lanes[key].tally.first_ns

    def holder(self, pid: int, now_ns: int) -> Optional[LaneKey]:
        """The lane holding ``pid``'s GIL now: the last to stamp, if it stamped recently."""
        with self._lock:
            track = self._procs.get(pid)
            if track is None or track.last is None:
                return None
            runner = track.last
            if runner.open_since:
                return runner.lane.key
            if now_ns - track.last_stamp > max(4 * runner.chunk_est, HOLDER_FRESH_NS):
                return None
            return runner.lane.key

    def blind(self, key: LaneKey) -> int:
        """Explicit events: ns between a runner's release of the GIL and its next "waiting"
        mark while another thread held the GIL. Its report says nothing of that time (a
        convoy responder sends its reply, may wait to take the GIL back, holds it, calls
        recv; the next request comes later on a busy machine): waits there it cannot see."""
        with self._lock:
            runner = self._runners.get(key)
            return runner.blind_ns if runner is not None else 0

    def unseen(self, pid: int) -> Tuple[int, int]:
        """(ns, gaps) of ``pid``'s stamps too far apart to say who held the GIL."""
        with self._lock:
            track = self._procs.get(pid)
            return (track.unseen_ns, track.unseen_gaps) if track is not None else (0, 0)

    def cells(self, key: LaneKey, end_ns: int, col_ns: int, n: int) -> LaneCells:
        """Per column: the fraction held, waiting, and on-CPU without the GIL."""
        with self._lock:
            lane = self._lanes[key]
            fine = col_ns < COARSE_NS or col_ns % COARSE_NS
            ring = lane.held_fine if fine else lane.held_coarse
            held = [min(1.0, h / col_ns) for h in ring.columns(end_ns, col_ns, n)]
            waits = lane.wait_fine if fine else lane.wait_coarse
            waiting = [min(1.0, h / col_ns) for h in waits.columns(end_ns, col_ns, n)]
            without = _without_gil(lane, end_ns, col_ns, n)
        return LaneCells(tuple(held), tuple(without), tuple(waiting))

    def stats(self, key: LaneKey, start_ns: int, end_ns: int) -> LaneStats:
        """Share, hand-offs and hold time of one lane over [start_ns, end_ns)."""
        with self._lock:
            return self._lanes[key].stats(start_ns, end_ns)

    def cpu_share(self, key: LaneKey, start_ns: int, end_ns: int) -> float:
        """A lane's CPU time over [start_ns, end_ns), as a fraction of it (100 ms bins)."""
        with self._lock:
            ring = self._lanes[key].cpu
            first, last = start_ns // COARSE_NS, -(-end_ns // COARSE_NS)
            span = (last - first) * COARSE_NS
            return min(1.0, ring.total(first, last) / span) if span > 0 else 0.0

    def totals(self, key: LaneKey, start_ns: int, end_ns: int) -> LaneStats:
        """A runner's figures over a whole observation (a lane's, for a shared lane)."""
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                return runner.totals(start_ns, end_ns)
            return self._lanes[key].totals(start_ns, end_ns)

    def tally(self, key: LaneKey) -> Tally:
        """A runner's whole-observation counters (a lane's, for a shared lane)."""
        with self._lock:
            runner = self._runners.get(key)
            return runner.tally if runner is not None else self._lanes[key].tally

    def held_between(self, key: LaneKey, start_ns: int, end_ns: int) -> float:
        """Fraction of [start_ns, end_ns) this lane held the GIL, from its runs."""
        with self._lock:
            return self._lanes[key].stats(start_ns, end_ns).gil_share

    def memory_pages(self) -> int:
        """Bin pages held by every lane (4 KiB each): what the timeline costs now."""
        with self._lock:
            return sum(
                ring.pages
                for lane in self._lanes.values()
                for ring in (lane.held_fine, lane.held_coarse, lane.wait_fine, lane.wait_coarse,
                             lane.cpu, lane.cpu_fine)
            )  # fmt: skip


def _waited_from(
    track: _ProcessTrack, prev: Optional[Runner], runner: Runner, since: int
) -> Optional[int]:
    """From when ``runner``, wanting the GIL from ``since`` on, waited for another thread's
    hold: from ``since``, or from the other hold's start if later (before it, the GIL was
    free and the thread was only being woken: the kernel's doing, not the GIL's). None:
    nobody else held it meanwhile. A stamping thread holds the GIL from its last stamp on
    until another thread takes it, unless it fell silent for longer than a run can (it
    ended): on a busy machine it may hold it without a CPU."""
    if prev is not None and prev is not runner:
        if prev.open_since:
            return max(since, prev.open_since)
        if prev.last_stamp + HOLD_GAP_MAX_NS >= since:
            runs = prev.lane.runs
            return max(since, runs[-1][0]) if runs else since
    if track.released_by is not runner and track.released_at > since:
        return max(since, track.released_from)
    return None


def _without_gil(lane: Lane, end_ns: int, col_ns: int, n: int) -> List[float]:
    fine = col_ns % FINE_NS == 0 and (col_ns < COARSE_NS or col_ns % COARSE_NS)
    if fine and lane.cpu_fine.pages:
        # A thread without a GIL, read at 100 Hz: column by column.
        cpu_cols = lane.cpu_fine.columns(end_ns, col_ns, n)
        held_cols = lane.held_fine.columns(end_ns, col_ns, n)
        return [max(0.0, min(1.0, (c - h) / col_ns)) for c, h in zip(cpu_cols, held_cols)]
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
