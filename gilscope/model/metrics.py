"""Figures derived from runs and samples: the seeds' ratios, py-spy agreement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence


@dataclass(frozen=True)
class RunRecord:
    """One finished run of a scenario."""

    scenario: str
    count: int
    workers: int
    wall_s: float


@dataclass(frozen=True)
class Comparison:
    """The seeds' comparison: each scenario's latest wall time, and ratios to sequential."""

    wall_s: Dict[str, float]
    threads_vs_sequential: Optional[float]
    processes_vs_sequential: Optional[float]


def compare(records: Sequence[RunRecord]) -> Comparison:
    """Latest wall time per scenario; ratios only between runs of the same N."""
    latest: Dict[str, RunRecord] = {}
    for r in records:
        latest[r.scenario] = r
    seq = latest.get("sequential")

    def ratio(name: str) -> Optional[float]:
        other = latest.get(name)
        if seq is None or other is None or other.count != seq.count or seq.wall_s <= 0:
            return None
        return other.wall_s / seq.wall_s

    return Comparison(
        wall_s={k: v.wall_s for k, v in latest.items()},
        threads_vs_sequential=ratio("threads"),
        processes_vs_sequential=ratio("processes"),
    )


def agreement_pp(pairs: Iterable[tuple[float, float]]) -> Optional[float]:
    """Mean absolute difference between two share estimates, in percentage points."""
    diffs = [abs(a - b) * 100.0 for a, b in pairs]
    return sum(diffs) / len(diffs) if diffs else None
