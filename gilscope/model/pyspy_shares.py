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
    intervals: Dict[int, float] = {}  # pid -> readable intervals inside the span
    samples: Dict[ThreadKey, float] = {key: 0.0 for key in lives}
    alive: Dict[ThreadKey, float] = {key: 0.0 for key in lives}
    per_pid: Dict[int, List[PySpyWindow]] = {}
    for w in windows:
        per_pid.setdefault(w.pid, []).append(w)
    for pid, pid_windows in per_pid.items():
        for w in pid_windows:
            for t in w.threads:
                samples.setdefault((pid, t.tid), 0.0)
                alive.setdefault((pid, t.tid), 0.0)
        threads = [key for key in samples if key[0] == pid]
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
            # Each thread's samples, restricted to the span; never more than the window's
            # intervals there, which keeps the process's sum at most 1.
            placed = {
                tid: n * _inside_share(w, lives.get((pid, tid)), lo, hi) for tid, n in seen.items()
            }
            total = sum(placed.values())
            scale = readable / total if total > readable else 1.0
            for tid, n in placed.items():
                samples[pid, tid] += n * scale
            for key in threads:
                life = lives.get(key)
                if life is None:
                    alive[key] += readable
                    continue
                lived = _overlap(max(w.start_ns, lo), min(w.end_ns, hi), *life)
                # py-spy saw it: it lived at least that long, whatever our clocks say
                held = placed.get(key[1], 0.0) * scale
                alive[key] += max(w.read_intervals * max(lived, 0) / length, held)
    return {key: SpyShare(samples[key], intervals.get(key[0], 0.0), alive[key]) for key in samples}


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
