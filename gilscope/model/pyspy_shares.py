"""py-spy's GIL share per thread over an observation, pooled from its overlapping windows.

A window says how many sampling intervals py-spy took, in how many of them it could not read
the holder, and in how many it saw each thread hold the GIL. Pooled as samples over intervals,
every thread of a process gets *one* denominator: the process's readable intervals inside the
observation. A share is then the fraction of the observed time the thread held the GIL — the
probe's ``gil_share`` — and since at most one thread holds a process's GIL in any interval, a
process's shares sum to at most 1, however many threads came and went. (A denominator per
thread, counting only the windows it appeared in, made a thread per request add up to 4,219 %.)

Windows are not aligned with the observation: py-spy attaches before the probe's first read
(in a launched script, while it is still starting up or waiting), and windows run on after the
last. Counted whole, those intervals read as if the threads had been there and not held the
GIL: 3–5 pp of a process's shares. A window straddling the observation's start or end counts
its part inside, with each thread's samples spread evenly over the part of the window it
lived in (py-spy's sampling times are random) — but only where that is clear enough: threads
that started after the observation began or ended before it ended are wholly on one side,
and so is a thread whose life in the window is at most a sliver on the other side (our clock
on a window's ends is late by tens of ms). If threads that lived on both sides hold more than
a sliver of the window's intervals — there before, starting up or warming up or waiting, and
holding the GIL differently then — the window is left out: the windows inside the observation
cover the same time. ``share_alive`` divides instead by the intervals during which the thread
existed: how much of the GIL it got while it was there (those do not sum to 1).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from gilscope.sampling.pyspy import PySpyWindow

ThreadKey = Tuple[int, int]  # (pid, thread id as py-spy names it: tid on 3.11+, pthread id before)
Span = Tuple[int, int]  # [start, end) in monotonic ns
# A window this much outside the span still counts (clipped): our clock on py-spy's lines
# is late by tens of ms, so a window cut short at the target's exit ends a little after it.
SLIVER = 0.1


@dataclass(frozen=True)
class SpyShare:
    """One thread's py-spy GIL figures over the observation."""

    samples: float  # GIL-holding samples inside the observation (fractional at its edges)
    intervals: float  # its process's readable intervals inside the observation
    alive_intervals: float  # of those, the ones during which the thread existed

    @property
    def share(self) -> Optional[float]:
        """Fraction of the observation the thread held the GIL (None: nothing sampled)."""
        return self.samples / self.intervals if self.intervals > 0 else None

    @property
    def share_alive(self) -> Optional[float]:
        """Fraction of its own life inside the observation it held the GIL."""
        return self.samples / self.alive_intervals if self.alive_intervals > 0 else None


def pyspy_shares(
    windows: Iterable[PySpyWindow],
    lives: Mapping[ThreadKey, Optional[Span]],
    span: Optional[Span] = None,
) -> Dict[ThreadKey, SpyShare]:
    """Per thread, py-spy's GIL share over ``span`` (all of every window if None).

    ``lives``: when each thread started and ended (monotonic ns; a thread still running ends
    at or after the span's end), or None if unknown. Only a window straddling the span's
    edges depends on them: trust them there only if they are the threads' real start and end
    (not when they were first or last seen holding the GIL). Threads py-spy saw but ``lives``
    does not name count as unknown; threads it names that no counted window saw get 0. A
    process's shares sum to at most 1.
    """
    lo, hi = span if span is not None else (-(2**63), 2**63)
    counted: Dict[int, List[PySpyWindow]] = {}  # pid -> its windows that count, by start
    for w in windows:
        counted.setdefault(w.pid, [])
        if _counts(w, lives, lo, hi):
            counted[w.pid].append(w)
    intervals: Dict[int, float] = {}  # pid -> its readable intervals inside the span
    samples: Dict[ThreadKey, float] = dict.fromkeys(lives, 0.0)
    # Intervals in which py-spy saw a thread hold the GIL beyond the life we were told (our
    # clocks on lives and windows differ): it lived at least that long.
    beyond: Dict[ThreadKey, float] = {}
    for pid, pid_windows in counted.items():
        pid_windows.sort(key=lambda w: w.start_ns)
        intervals[pid] = 0.0
        for w in pid_windows:
            inside = _overlap(w.start_ns, w.end_ns, lo, hi)
            readable = w.read_intervals * inside / max(w.end_ns - w.start_ns, 1)
            intervals[pid] += readable
            seen: Dict[int, int] = {}
            for t in w.threads:  # one tid may appear under two names (renamed mid-window)
                seen[t.tid] = seen.get(t.tid, 0) + t.samples
            placed = {
                tid: n * _inside_share(w, lives.get((pid, tid)), lo, hi) for tid, n in seen.items()
            }
            # Never more samples than intervals, which keeps the process's sum at most 1.
            total = sum(placed.values())
            scale = readable / total if total > readable else 1.0
            for tid, n in placed.items():
                key = (pid, tid)
                samples[key] = samples.get(key, 0.0) + n * scale
                life = lives.get(key)
                if life is not None:
                    lived = _lived(w, life, lo, hi)
                    if n * scale > lived:
                        beyond[key] = beyond.get(key, 0.0) + n * scale - lived
    alive: Dict[ThreadKey, float] = {}
    for pid, pid_windows in counted.items():
        starts = [w.start_ns for w in pid_windows]
        longest = max((w.end_ns - w.start_ns for w in pid_windows), default=0)
        for key in (k for k in samples if k[0] == pid):
            life = lives.get(key)
            if life is None:
                alive[key] = intervals[pid]
                continue
            # only the windows that can overlap the life: a thread per request is in few
            first = bisect.bisect_left(starts, life[0] - longest)
            last = bisect.bisect_right(starts, life[1])
            lived = sum(_lived(w, life, lo, hi) for w in pid_windows[first:last])
            alive[key] = lived + beyond.get(key, 0.0)
    return {
        key: SpyShare(samples[key], intervals.get(key[0], 0.0), alive.get(key, 0.0))
        for key in samples
    }


def _counts(w: PySpyWindow, lives: Mapping[ThreadKey, Optional[Span]], lo: int, hi: int) -> bool:
    """Whether it is clear enough which of ``w``'s samples fell inside [lo, hi): the threads
    that lived on both sides of an edge during the window (as far as we know) hold at most
    a SLIVER of its intervals between them."""
    if _overlap(w.start_ns, w.end_ns, lo, hi) <= 0:
        return False
    unclear = 0
    for t in w.threads:
        inside = _inside_share(w, lives.get((w.pid, t.tid)), lo, hi)
        if SLIVER < inside < 1 - SLIVER:
            unclear += t.samples
    return unclear <= SLIVER * w.read_intervals


def _lived(w: PySpyWindow, life: Span, lo: int, hi: int) -> float:
    """``w``'s readable intervals during ``life`` and inside [lo, hi)."""
    lived = _overlap(max(w.start_ns, lo), min(w.end_ns, hi), *life)
    return w.read_intervals * max(lived, 0) / max(w.end_ns - w.start_ns, 1)


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return min(a1, b1) - max(a0, b0)


def _inside_share(w: PySpyWindow, life: Optional[Span], lo: int, hi: int) -> float:
    """Which fraction of a thread's samples in ``w`` fell inside [lo, hi): the samples lie in
    the part of the window the thread lived in (all of it if its life is unknown, or if our
    clock on the window and on its life disagree)."""
    start, end = w.start_ns, w.end_ns
    if life is not None and _overlap(start, end, *life) > 0:
        start, end = max(start, life[0]), min(end, life[1])
    if end <= start:
        return 1.0 if lo <= start < hi else 0.0
    return max(_overlap(start, end, lo, hi), 0) / (end - start)
