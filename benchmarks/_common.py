"""Small helpers shared by the benchmarks: summaries of repetitions, and the run header.

The machine these run on is shared and noisy, so every benchmark interleaves its variants
(A B B A A B …) in one run and reports the median with the min and max of the repetitions.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import List, Sequence, Tuple, TypeVar

import psutil

T = TypeVar("T")


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    def fmt(self, spec: str = ".3f", unit: str = "") -> str:
        if self.n == 0:
            return "n/a"
        return f"{self.median:{spec}}{unit} [{self.low:{spec}}–{self.high:{spec}}] (n={self.n})"


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(statistics.median(values), min(values), max(values), len(values))


def abba(rep: int, pair: Tuple[T, T]) -> Tuple[T, T]:
    """The two variants of repetition ``rep`` in A B, B A, A B … order (cancels drift)."""
    return pair if rep % 2 == 0 else (pair[1], pair[0])


def rotate(rep: int, variants: Sequence[T]) -> List[T]:
    """Variants in an order that moves every variant through every position."""
    k = rep % len(variants)
    return list(variants[k:]) + list(variants[:k])


def verdict(value: float, goal: float, higher_is_better: bool = False) -> str:
    if value != value:  # NaN
        return "no figure"
    ok = value >= goal if higher_is_better else value <= goal
    return "meets goal" if ok else "MISSES goal"


_T0 = time.monotonic()


def _load() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def header(title: str) -> None:
    """What ran, where, when: enough to compare two printouts later."""
    print(f"# {title}")
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')} · Python {platform.python_version()} "
        f"({sys.executable}) · {psutil.cpu_count()} CPUs · {_load()}"
    )


def footer() -> None:
    """The machine's load at the end: a busy neighbour explains a lot of noise."""
    print(f"# done in {time.monotonic() - _T0:.0f} s · {_load()}")
