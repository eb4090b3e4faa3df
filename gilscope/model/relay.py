"""One process's relay: who passed its GIL to whom, from the workers' stamps and events.

Only the GIL holder can run bytecode, so within one process a run never starts before
another thread's latest stamp; that is how a stamp every ~1 ms becomes an exact, exclusive
relay. Threads that block or call into C say so explicitly instead (acquired / released /
waiting events). The GIL probe's hand-offs move the same baton (``hand_off``).
Everything here is mutated only under the ``Timeline``'s lock.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Dict, List, Optional, Tuple

from gilscope.model.lanes import MS, LaneKey, Runner
from gilscope.sampling.report import (
    TAG_ACQUIRED,
    TAG_RELEASED,
    TAG_SHIFT,
    TAG_STAMP,
    TAG_WAITING,
    TIME_MASK,
)

# A holder's stamps closer than this, with no other thread's stamp between, are one run;
# a longer silence means the thread was not running (descheduled, finished, or stopped).
HOLD_GAP_MAX_NS = 50 * MS
# The baton stays with the last holder this long after its last sign of holding: the
# probe's reports arrive every ~10 ms and are drained every 20 ms.
HOLDER_FRESH_NS = 40 * MS

# (time, tag, runner): one word of a worker's report, decoded
Mark = Tuple[int, int, LaneKey]


class StampOrder:
    """The board's words put in time order per process, across the slots of its threads.

    The reader reads slot after slot, so a stamp newer than the read's start may be visible
    in one slot while an older one in the next slot is not yet: such words are held back
    for the next read instead of arriving out of order.
    """

    def __init__(self) -> None:
        # (time, tag) newer than the last read's start, held back for the next read
        self._pending: Dict[LaneKey, List[Tuple[int, int]]] = {}

    def by_process(
        self, batches: Iterable[Tuple[LaneKey, Sequence[int]]], upto: Optional[int]
    ) -> Dict[int, Iterator[Mark]]:
        """Per process, its threads' marks merged in time order (``upto``: the clock just
        before the board was read; None: take every word now)."""
        by_pid: Dict[int, List[List[Mark]]] = {}
        for key, words in batches:
            held = self._pending.pop(key, [])
            # A bare stamp is a time; the rest carry their tag in the top bits.
            held.extend((w & TIME_MASK, w >> TAG_SHIFT) for w in words)
            if upto is not None and held and held[-1][0] > upto:
                cut = bisect.bisect_right(held, (upto, 1 << 8))
                self._pending[key] = held[cut:]
                held = held[:cut]
            by_pid.setdefault(key.pid, []).append([(t, tag, key) for t, tag in held])
        return {pid: heapq.merge(*streams, key=lambda s: s[0]) for pid, streams in by_pid.items()}


class ProcessRelay:
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

    def mark(self, runner: Runner, t: int, tag: int) -> bool:
        """One mark of ``runner``'s report, in time order. True: it moved the relay to ``t``."""
        if tag == TAG_STAMP:
            return self.stamp(runner, t)
        return self.event(runner, t, tag)

    def stamp(self, runner: Runner, t: int) -> bool:
        if t <= self.last_stamp:
            # Older than a stamp of this process already replayed (only possible if a caller
            # gives no ``upto``): replaying it would make an inverted, overlapping run.
            return False
        if self.last_stamp:
            unseen = t - self.last_stamp - 2 * runner.chunk_est
            if unseen > 0:
                self.unseen_ns += unseen
                self.unseen_gaps += 1
        gap = t - runner.last_stamp
        if self.last is runner and runner.last_stamp and gap <= HOLD_GAP_MAX_NS:
            # Nobody else ran since this thread's last stamp: it held the GIL throughout.
            if gap < 3 * runner.chunk_est:
                runner.chunk_est += (gap - runner.chunk_est) // 8
            runner.extend_run(runner.last_stamp, t)
        else:
            # A new acquisition at some instant h we did not see. The previous holder ran
            # until h and stamps every chunk, so h < its last stamp + one chunk; this thread
            # stamps one chunk (at most) after resuming, so h >= t - chunk. Split the unseen
            # span at the middle of what is possible, so the relay stays gapless and exclusive.
            prev = self.last
            start = max(t - runner.chunk_est, self.last_stamp, runner.last_stamp)
            if prev is not None and prev is not runner and prev.last_stamp == self.last_stamp:
                latest_end = min(self.last_stamp + prev.chunk_est, t)
                # The two bounds meet: a hand-off, split it. They do not when either thread
                # was descheduled (a busy machine), yet one of them held the GIL all along:
                # split such a gap at its middle too, up to the silence that ends a run.
                if latest_end >= start or t - self.last_stamp <= HOLD_GAP_MAX_NS:
                    start = (start + latest_end) // 2
                    prev.extend_run(self.last_stamp, start)
            runner.begin_run(start, t)
        runner.last_stamp = t
        self.last = runner
        self.last_stamp = t
        return True

    def event(self, runner: Runner, t: int, tag: int) -> bool:
        """An explicit event: the thread itself says when it took or gave up the GIL."""
        if tag == TAG_WAITING:
            runner.wait_since = t
            released = runner.last_release
            if 0 < released < t and self._waited_from(self.last, runner, released) is not None:
                runner.blind_ns += t - released
            return False
        if tag == TAG_ACQUIRED:
            prev = self.last
            # A stamping thread held the GIL until it let go, at most a chunk after its last
            # stamp and before this thread took it.
            if (
                prev is not None
                and prev is not runner
                and not prev.open_since
                and prev.last_stamp == self.last_stamp
                and t - prev.last_stamp <= HOLD_GAP_MAX_NS
            ):
                end = min(prev.last_stamp + prev.chunk_est, t)
                if end > prev.last_stamp:
                    prev.extend_run(prev.last_stamp, end)
            since = runner.wait_since
            waited = self._waited_from(prev, runner, since) if 0 < since <= t else None
            if waited is not None:
                runner.add_waiting(waited, t)
            runner.wait_since = 0
            runner.open_since = t
            self.last = runner
        elif tag == TAG_RELEASED and runner.open_since:
            start, runner.open_since = runner.open_since, 0
            runner.begin_run(start, t)
            self.last = None  # nobody holds it until the next stamp or acquisition
            self.released_at, self.released_by, self.released_from = t, runner, start
            runner.last_release = t
        else:
            return False
        self.last_stamp = t
        return True

    def hand_off(self, t: int, runner: Optional[Runner]) -> bool:
        """The GIL probe read that ``runner`` holds the GIL from ``t`` on (None: nobody, or
        a thread without a runner). True: it moved the relay to ``t``."""
        if t < self.last_stamp:
            return False
        holder = self.last
        if holder is not None and t > self.last_stamp:
            holder.extend_run(self.last_stamp, t)
        if runner is not holder:
            if runner is not None:
                runner.begin_run(t, t)  # held from t; heartbeats extend it
            self.last = runner
        self.last_stamp = t
        return True

    def holder(self, now_ns: int) -> Optional[LaneKey]:
        """The lane holding the GIL at ``now_ns``: the last to stamp, if it stamped
        recently, or a thread that took it and has not said it let go."""
        runner = self.last
        if runner is None:
            return None
        if runner.open_since:
            return runner.lane.key
        if now_ns - self.last_stamp > max(4 * runner.chunk_est, HOLDER_FRESH_NS):
            return None
        return runner.lane.key

    def _waited_from(self, prev: Optional[Runner], runner: Runner, since: int) -> Optional[int]:
        """From when ``runner``, wanting the GIL from ``since`` on, waited for another
        thread's hold: from ``since``, or from the other hold's start if later (before it,
        the GIL was free and the thread was only being woken: the kernel's doing, not the
        GIL's). None: nobody else held it meanwhile. A stamping thread holds the GIL from
        its last stamp on until another thread takes it, unless it fell silent for longer
        than a run can (it ended): on a busy machine it may hold it without a CPU."""
        if prev is not None and prev is not runner:
            if prev.open_since:
                return max(since, prev.open_since)
            if prev.last_stamp + HOLD_GAP_MAX_NS >= since:
                runs = prev.lane.runs
                return max(since, runs[-1][0]) if runs else since
        if self.released_by is not runner and self.released_at > since:
            return max(since, self.released_from)
        return None


def mark_waits(runner: Runner, words: Sequence[int]) -> None:
    """Only the "waiting for the GIL" spans of a worker's own report, for a lane whose
    holding the probe draws but whose waits it cannot see."""
    for w in words:
        tag, t = w >> TAG_SHIFT, w & TIME_MASK
        if tag == TAG_WAITING:
            runner.wait_since = t
        elif tag == TAG_ACQUIRED and runner.wait_since:
            if runner.wait_since <= t:
                runner.add_waiting(runner.wait_since, t)
            runner.wait_since = 0
