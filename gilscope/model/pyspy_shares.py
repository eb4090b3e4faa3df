"""py-spy's GIL share per thread over an observation, pooled from its overlapping windows.

A window says how many sampling intervals py-spy took, in how many of them it could not read
the holder, and in how many it saw each thread hold the GIL. Pooled as samples over intervals,
every thread of a process gets *one* denominator: the process's readable intervals inside the
observation. A share is then the fraction of the observed time the thread held the GIL — the
probe's ``gil_share`` — and since at most one thread holds a process's GIL in any interval, a
process's shares sum to at most 1, however many threads came and went. (A denominator per
thread, counting only the windows it appeared in, made a thread per request add up to 4,219 %.)

Windows are not aligned with the observation: py-spy attaches before the probe's first read,
and windows run on after the last. A window straddling the observation's start or end counts
only its part inside: its intervals are spread evenly over it (py-spy's sampling times are
random), and a thread's samples over the part of the window in which the thread existed, when
its life is known. ``share_alive`` divides instead by the intervals during which the thread
existed: how much of the GIL it got while it was there (those do not sum to 1).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from gilscope.sampling.pyspy import PySpyWindow

ThreadKey = Tuple[int, int]  # (pid, thread id as py-spy names it: tid on 3.11+, pthread id before)
Span = Tuple[int, int]  # [start, end) in monotonic ns


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

    ``lives``: each thread's first and last seen (monotonic ns), or None if unknown (then it
    is taken to have lived through every window). Threads py-spy saw but ``lives`` does not
    name count as unknown; threads ``lives`` names that py-spy never saw get 0 samples. A
    process's shares sum to at most 1.
    """
    lo, hi = span if span is not None else (-(2**63), 2**63)
    per_pid: Dict[int, List[PySpyWindow]] = {}
    for w in windows:
        per_pid.setdefault(w.pid, []).append(w)
    intervals: Dict[int, float] = {}  # pid -> its readable intervals inside the span
    samples: Dict[ThreadKey, float] = dict.fromkeys(lives, 0.0)
    # Intervals in which py-spy saw a thread hold the GIL beyond the life we were told (our
    # clocks on lives and windows differ): it lived at least that long.
    beyond: Dict[ThreadKey, float] = {}
    for pid, pid_windows in per_pid.items():
        intervals[pid] = 0.0
        for w in pid_windows:
            length = max(w.end_ns - w.start_ns, 1)
            inside = _overlap(w.start_ns, w.end_ns, lo, hi)
            if inside <= 0:
                continue
            readable = w.read_intervals * inside / length
            intervals[pid] += readable
            seen: Dict[int, int] = {}
            for t in w.threads:  # one tid may appear under two names (renamed mid-window)
                seen[t.tid] = seen.get(t.tid, 0) + t.samples
            # Each thread's samples inside the span; a window never gives out more than its
            # intervals there, which keeps the process's sum at most 1.
            placed = {
                tid: n * _inside_share(w, lives.get((pid, tid)), lo, hi) for tid, n in seen.items()
            }
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
    for pid, pid_windows in per_pid.items():
        pid_windows.sort(key=lambda w: w.start_ns)
        starts = [w.start_ns for w in pid_windows]
        longest = max(w.end_ns - w.start_ns for w in pid_windows)
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
