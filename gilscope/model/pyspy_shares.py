"""py-spy's GIL share per thread over an observation, from its overlapping windows.

A window says how many sampling intervals py-spy took, in how many of them it could not read
the holder, and in how many it saw each thread hold the GIL: each thread's share of the window.
Over an observation, a thread's share is the time-average of those: every instant the windows
cover weighs the same, whether one window covered it or three (when gilscope is busy, windows
start late and bunch up; pooling their samples would weigh the bunched stretch more). All
threads of a process share one denominator, the time its windows covered: a share is the
fraction of the observed time the thread held the GIL — the probe's ``gil_share`` — and since
at most one thread holds a process's GIL in any interval, a process's shares sum to at most
1, however many threads came and went. (A denominator per thread, counting only the windows
it appeared in, made a thread per request add up to 4,219 %.)

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
cover the same time. ``share_alive`` divides instead by the covered time during which the
thread existed: how much of the GIL it got while it was there (those do not sum to 1).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from gilscope.sampling.pyspy import PySpyWindow

ThreadKey = Tuple[int, int]  # (pid, thread id as py-spy names it: tid on 3.11+, pthread id before)
Span = Tuple[int, int]  # [start, end) in monotonic ns
# A window this much outside the span still counts (clipped): our clock on py-spy's lines
# is late by tens of ms, so a window cut short at the target's exit ends a little after it.
# More lets in what came before "go" (workers warming up): 10 % cost 1 pp in one of three
# runs; none (so also no window ending at the exit) left idle tails uncovered: +2 to +8 pp.
SLIVER = 0.05


@dataclass(frozen=True)
class SpyShare:
    """One thread's py-spy GIL figures over the observation, in seconds."""

    held_s: float  # how long py-spy estimates the thread held the GIL
    covered_s: float  # how much of the observation its process's windows covered
    alive_s: float  # of that, how long the thread existed

    @property
    def share(self) -> Optional[float]:
        """Fraction of the observation the thread held the GIL (None: nothing sampled)."""
        return self.held_s / self.covered_s if self.covered_s > 0 else None

    @property
    def share_alive(self) -> Optional[float]:
        """Fraction of its own life inside the observation it held the GIL."""
        return self.held_s / self.alive_s if self.alive_s > 0 else None


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
    held: Dict[ThreadKey, float] = dict.fromkeys(lives, 0.0)
    covered: Dict[int, float] = {}
    # Time in which py-spy saw a thread hold the GIL beyond the life we were told (our
    # clocks on lives and windows differ): it lived at least that long.
    beyond: Dict[ThreadKey, float] = {}
    weights: Dict[int, List[float]] = {}
    for pid, pid_windows in counted.items():
        pid_windows.sort(key=lambda w: w.start_ns)
        weights[pid] = _weights(pid_windows, lo, hi)
        covered[pid] = sum(weights[pid])
        for w, weight in zip(pid_windows, weights[pid]):
            inside = _overlap(w.start_ns, w.end_ns, lo, hi)
            readable = w.read_intervals * inside / max(w.end_ns - w.start_ns, 1)
            seen: Dict[int, int] = {}
            for t in w.threads:  # one tid may appear under two names (renamed mid-window)
                seen[t.tid] = seen.get(t.tid, 0) + t.samples
            placed = {
                tid: n * _inside_share(w, lives.get((pid, tid)), lo, hi) for tid, n in seen.items()
            }
            # Never more samples than intervals, which keeps the process's sum at most 1.
            per_interval = weight / max(readable, sum(placed.values()), 1e-9)
            for tid, n in placed.items():
                key = (pid, tid)
                held[key] = held.get(key, 0.0) + n * per_interval
                life = lives.get(key)
                if life is not None:
                    lived = weight * _lived_share(w, life, lo, hi)
                    if n * per_interval > lived:
                        beyond[key] = beyond.get(key, 0.0) + n * per_interval - lived
    alive: Dict[ThreadKey, float] = {}
    for pid, pid_windows in counted.items():
        starts = [w.start_ns for w in pid_windows]
        longest = max((w.end_ns - w.start_ns for w in pid_windows), default=0)
        for key in (k for k in held if k[0] == pid):
            life = lives.get(key)
            if life is None:
                alive[key] = covered[pid]
                continue
            # only the windows that can overlap the life: a thread per request is in few
            first = bisect.bisect_left(starts, life[0] - longest)
            last = bisect.bisect_right(starts, life[1])
            lived = sum(
                weights[pid][i] * _lived_share(pid_windows[i], life, lo, hi)
                for i in range(first, last)
            )
            alive[key] = lived + beyond.get(key, 0.0)
    return {
        key: SpyShare(held[key] / 1e9, covered.get(key[0], 0.0) / 1e9, alive.get(key, 0.0) / 1e9)
        for key in held
    }


def _weights(windows: List[PySpyWindow], lo: int, hi: int) -> List[float]:
    """Each window's share of the covered time inside [lo, hi), in ns: where k windows cover
    an instant, each gets 1/k of it. They add up to the time the windows covered."""
    events = []  # (time, +1 opens / -1 closes, window)
    for i, w in enumerate(windows):
        a, b = max(w.start_ns, lo), min(w.end_ns, hi)
        if b > a:
            events += [(a, 1, i), (b, -1, i)]
    events.sort()
    out = [0.0] * len(windows)
    active: set[int] = set()
    last = 0
    for t, kind, i in events:
        if active and t > last:
            for j in active:
                out[j] += (t - last) / len(active)
        last = t
        if kind > 0:
            active.add(i)
        else:
            active.discard(i)
    return out


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


def _lived_share(w: PySpyWindow, life: Span, lo: int, hi: int) -> float:
    """Which fraction of ``w``'s part inside [lo, hi) falls within ``life``."""
    start, end = max(w.start_ns, lo), min(w.end_ns, hi)
    return max(_overlap(start, end, *life), 0) / max(end - start, 1)


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


KEEP_WINDOWS = 1200  # per process, ~10 min of windows; older ones are folded into totals


class WindowStore:
    """Every py-spy window of an observation, per process, for the whole-run shares, in
    bounded memory: windows are kept without their stacks, and once a process has more
    than twice ``keep``, the oldest ``keep`` are folded into running totals (shares over
    disjoint stretches of time add up: held and covered seconds)."""

    def __init__(self, keep: int = KEEP_WINDOWS) -> None:
        self.keep = keep
        self._windows: Dict[int, List[PySpyWindow]] = {}
        self._folded_to: Dict[int, int] = {}  # pid -> windows before this are in the totals
        self._held: Dict[ThreadKey, float] = {}  # ns
        self._alive: Dict[ThreadKey, float] = {}
        self._covered: Dict[int, float] = {}

    def add(
        self,
        window: PySpyWindow,
        start_ns: int,
        lives: Callable[[], Mapping[ThreadKey, Optional[Span]]],
    ) -> None:
        """``start_ns``: where the observation began (0: not yet); ``lives``: as for
        ``pyspy_shares``, asked for only when old windows are folded."""
        compact = replace(window, threads=tuple(replace(t, stacks=()) for t in window.threads))
        kept = self._windows.setdefault(window.pid, [])
        kept.append(compact)
        if len(kept) > 2 * self.keep and start_ns:
            old, rest = kept[: self.keep], kept[self.keep :]
            lo = max(start_ns, self._folded_to.get(window.pid, start_ns))
            mid = rest[0].start_ns
            folded = pyspy_shares(old, _of(window.pid, lives()), (lo, mid))
            for key, s in folded.items():
                self._held[key] = self._held.get(key, 0.0) + s.held_s * 1e9
                self._alive[key] = self._alive.get(key, 0.0) + s.alive_s * 1e9
            covered = next(iter(folded.values())).covered_s if folded else 0.0
            self._covered[window.pid] = self._covered.get(window.pid, 0.0) + covered * 1e9
            self._windows[window.pid] = rest
            self._folded_to[window.pid] = mid

    def shares(
        self, span: Span, lives: Mapping[ThreadKey, Optional[Span]]
    ) -> Dict[ThreadKey, SpyShare]:
        """Per thread, over ``span``: the folded totals and the kept windows together."""
        out: Dict[ThreadKey, SpyShare] = {}
        for pid, kept in self._windows.items():
            lo = max(span[0], self._folded_to.get(pid, span[0]))
            recent = pyspy_shares(kept, _of(pid, lives), (lo, span[1]))
            base = self._covered.get(pid, 0.0)
            covered = base + next(iter(recent.values())).covered_s * 1e9 if recent else base
            keys = set(recent) | {k for k in self._held if k[0] == pid}
            for key in keys:
                s = recent.get(key)
                held = self._held.get(key, 0.0) + (s.held_s * 1e9 if s else 0.0)
                alive = self._alive.get(key, 0.0) + (s.alive_s * 1e9 if s else 0.0)
                out[key] = SpyShare(held / 1e9, covered / 1e9, alive / 1e9)
        return out

    def forget(self, keys: Iterable[ThreadKey]) -> None:
        for key in keys:
            self._held.pop(key, None)
            self._alive.pop(key, None)


def _of(pid: int, lives: Mapping[ThreadKey, Optional[Span]]) -> Dict[ThreadKey, Optional[Span]]:
    """The lives of ``pid``'s threads only: ``pyspy_shares`` names every thread it is told
    of, and a share of one process's windows must not be taken for another's (their
    covered time differs)."""
    return {k: v for k, v in lives.items() if k[0] == pid}
