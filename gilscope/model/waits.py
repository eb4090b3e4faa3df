"""Waits for the GIL, as figures: share of the time, waits per second, p50 and p99 of their
lengths. Whole-run percentiles come from a histogram of log-spaced bins (bounded memory for a
thread that waits 200 times a second for an hour); a live window's from its recent waits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Tuple

from gilscope.model.metrics import percentile

PER_DOUBLING = 16  # bins per doubling of the length: each bin within ±2.2 % of its middle
SMALLEST_NS = 1_000  # waits shorter than 1 µs share the first bin
LARGEST_BIN = PER_DOUBLING * 40  # 1 µs × 2^40: ~13 days; longer ones share the last bin


class WaitHistogram:
    """Counts of wait lengths per bin; at most ``LARGEST_BIN + 1`` bins, made on first use."""

    __slots__ = ("bins", "n")

    def __init__(self) -> None:
        self.bins: Dict[int, int] = {}
        self.n = 0

    @staticmethod
    def bin_of(ns: int) -> int:
        if ns <= SMALLEST_NS:
            return 0
        return min(LARGEST_BIN, int(math.log2(ns / SMALLEST_NS) * PER_DOUBLING) + 1)

    @staticmethod
    def middle_ns(b: int) -> float:
        """The geometric middle of bin ``b``: what a percentile falling in it reads."""
        if b == 0:
            return SMALLEST_NS / 2
        return SMALLEST_NS * 2 ** ((b - 0.5) / PER_DOUBLING)

    def add(self, ns: int) -> None:
        b = self.bin_of(ns)
        self.bins[b] = self.bins.get(b, 0) + 1
        self.n += 1

    def merge(self, other: WaitHistogram) -> None:
        for b, count in other.bins.items():
            self.bins[b] = self.bins.get(b, 0) + count
        self.n += other.n

    def percentile_ns(self, q: float) -> Optional[float]:
        """Nearest-rank percentile (``q`` in 0–1), as the middle of its bin; None if empty."""
        if not self.n:
            return None
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for b in sorted(self.bins):
            seen += self.bins[b]
            if seen >= rank:
                return self.middle_ns(b)
        return self.middle_ns(max(self.bins))  # not reached: the counts add up to n


@dataclass(frozen=True)
class WaitFigures:
    """One thread's (or lane's) waits for the GIL over a window."""

    share: float = 0.0  # of the window's time spent waiting
    per_s: float = 0.0  # waits that ended, per second
    p50_ms: Optional[float] = None  # of their lengths
    p99_ms: Optional[float] = None


def recent_figures(
    waits: Deque[Tuple[int, int]], waited_ns: int, start_ns: int, end_ns: int
) -> WaitFigures:
    """From the waits that ended in [start_ns, end_ns) (the newest are kept) and the time
    ``waited_ns`` spent waiting in it (ongoing waits included)."""
    span = end_ns - start_ns
    if span <= 0:
        return WaitFigures()
    lengths: List[int] = []
    for i in range(len(waits) - 1, -1, -1):
        s, e = waits[i]
        if e < start_ns:
            break
        if e < end_ns:
            lengths.append(e - s)
    p50, p99 = percentile(lengths, 0.50), percentile(lengths, 0.99)
    return WaitFigures(
        share=min(1.0, waited_ns / span),
        per_s=len(lengths) / (span / 1e9),
        p50_ms=p50 / 1e6 if p50 is not None else None,
        p99_ms=p99 / 1e6 if p99 is not None else None,
    )


def whole_figures(
    hist: Optional[WaitHistogram], waited_ns: int, start_ns: int, end_ns: int
) -> WaitFigures:
    """Over a whole observation, from its counters."""
    span = max(end_ns - start_ns, 1)
    if hist is None:
        return WaitFigures(share=min(1.0, waited_ns / span))
    p50, p99 = hist.percentile_ns(0.50), hist.percentile_ns(0.99)
    return WaitFigures(
        share=min(1.0, waited_ns / span),
        per_s=hist.n / (span / 1e9),
        p50_ms=p50 / 1e6 if p50 is not None else None,
        p99_ms=p99 / 1e6 if p99 is not None else None,
    )
