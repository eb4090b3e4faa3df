"""The relay-race timeline: lanes grouped by process, the GIL as the baton passed along them.

Stamps from the workers' beacon board become *runs*: spans in which a thread held its
process's GIL (how, one process at a time: ``relay.py``); the GIL probe reports hand-offs
directly. Runs are folded into bounded time bins at two resolutions so that any zoom from
1 ms to 2 s per column reads a few bins per column. A recording journals every change
(``timeline_journal.py``) and a replay makes them again here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, Dict, List, Optional, Tuple

from gilscope.model import journal as J
from gilscope.model.lane_columns import cpu_share, lane_cells
from gilscope.model.lanes import (
    COARSE_BINS,
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
from gilscope.model.relay import (
    HOLD_GAP_MAX_NS,
    HOLDER_FRESH_NS,
    ProcessRelay,
    StampOrder,
    mark_waits,
)
from gilscope.model.timeline_journal import TimelineTracer, replay_runner_op

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


class Timeline:
    """All lanes of one observation. Thread-safe: the collector writes, the UI reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracer: Optional[TimelineTracer] = None
        self._lanes: Dict[LaneKey, Lane] = {}
        self._runners: Dict[LaneKey, Runner] = {}
        self._relays: Dict[int, ProcessRelay] = {}
        self._stamp_order = StampOrder()
        self.latest_ns = 0

    # -- recording (see ``timeline_journal.py``) ----------------------------------------
    def record_into(self, journal: J.Journal, tl: str) -> None:
        """From now on, say every change in ``journal`` (as timeline ``tl``)."""
        with self._lock:
            self._tracer = TimelineTracer(journal, tl)
            for runner in self._runners.values():
                runner.journal = self._tracer

    def _trace(self, op: str, *args: Any) -> None:
        if self._tracer is not None:
            self._tracer.add(op, *args)

    def trace_state(self) -> None:
        """What a frame of a recording ends with: the latest time, and per process how
        much its stamps could not see."""
        with self._lock:
            if self._tracer is not None:
                self._tracer.state(self.latest_ns, self._relays, self._runners)

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
                relay = self._relays.setdefault(args[0], ProcessRelay())
                relay.unseen_ns, relay.unseen_gaps = args[1], args[2]
            else:
                with self._lock:
                    runner = self._runners.get(LaneKey(args[0], args[1]))
                    if runner is not None:
                        reached = replay_runner_op(runner, kind, args[2:])
                        self.latest_ns = max(self.latest_ns, reached)

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
                self._relays.setdefault(key.pid, ProcessRelay())
                self._trace(J.LANE, key.pid, key.slot, name, process_index, chunk_ns)
            if key not in self._runners:
                self._runners[key] = Runner(key, self._lanes[key], chunk_ns, self._tracer)

    def add_shared_lane(self, key: LaneKey, name: str, process_index: int) -> None:
        """A lane for many runners (a family of threads), with no runner of its own."""
        with self._lock:
            if key not in self._lanes:
                self._lanes[key] = Lane(key, name, process_index)
                self._relays.setdefault(key.pid, ProcessRelay())
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
                relay = self._relays.get(key.pid)
                if runner is not None and relay is not None and relay.last is runner:
                    relay.last = None
                if runner is not None and runner.lane.key == key:
                    del self._lanes[key]  # its own lane goes with it

    # -- writing (collector thread) ---------------------------------------------------
    def add_stamps(
        self, batches: Iterable[Tuple[LaneKey, Sequence[int]]], upto: Optional[int] = None
    ) -> None:
        """Fold the workers' new stamps and events in, each process's in time order
        (``upto``: the clock just before the board was read; see ``StampOrder``)."""
        with self._lock:
            for pid, marks in self._stamp_order.by_process(batches, upto).items():
                relay = self._relays.setdefault(pid, ProcessRelay())
                for t, tag, key in marks:
                    runner = self._runners.get(key)
                    if runner is not None and relay.mark(runner, t, tag):
                        self.latest_ns = max(self.latest_ns, t)

    def add_holders(self, pid: int, changes: Iterable[Tuple[int, Optional[LaneKey]]]) -> None:
        """Hand-offs read by the GIL probe: from time ``t`` on, runner ``key`` holds
        ``pid``'s GIL (None: nobody, or a thread without a runner). Times only grow; a
        repeated holder says it still held the GIL at that read, which extends its run."""
        with self._lock:
            relay = self._relays.setdefault(pid, ProcessRelay())
            for t, key in changes:
                runner = self._runners.get(key) if key is not None else None
                if relay.hand_off(t, runner):
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
                if runner is not None:
                    mark_waits(runner, words)

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
            relay = self._relays.get(pid)
            return relay.holder(now_ns) if relay is not None else None

    def blind(self, key: LaneKey) -> int:
        """Explicit events: ns between a runner's release of the GIL and its next "waiting"
        mark while another thread held the GIL. Its report says nothing of that time (an
        io thread sends a request, may wait to take the GIL back, holds it, calls recv;
        the convoy responder reports such a wait after its send): waits there it cannot
        see."""
        with self._lock:
            runner = self._runners.get(key)
            return runner.blind_ns if runner is not None else 0

    def unseen(self, pid: int) -> Tuple[int, int]:
        """(ns, gaps) of ``pid``'s stamps too far apart to say who held the GIL."""
        with self._lock:
            relay = self._relays.get(pid)
            return (relay.unseen_ns, relay.unseen_gaps) if relay is not None else (0, 0)

    def cells(self, key: LaneKey, end_ns: int, col_ns: int, n: int) -> LaneCells:
        """Per column: the fraction held, waiting, and on-CPU without the GIL."""
        with self._lock:
            return lane_cells(self._lanes[key], end_ns, col_ns, n)

    def stats(self, key: LaneKey, start_ns: int, end_ns: int) -> LaneStats:
        """Share, hand-offs and hold time of one lane over [start_ns, end_ns)."""
        with self._lock:
            return self._lanes[key].stats(start_ns, end_ns)

    def cpu_share(self, key: LaneKey, start_ns: int, end_ns: int) -> float:
        """A lane's CPU time over [start_ns, end_ns), as a fraction of it (100 ms bins)."""
        with self._lock:
            return cpu_share(self._lanes[key], start_ns, end_ns)

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
