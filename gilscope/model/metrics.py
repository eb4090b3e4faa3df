"""Figures derived from runs and samples: the seeds' ratios, py-spy agreement."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence


@dataclass(frozen=True)
class LatencyFigures:
    """The convoy responder's response latency, as its client measured it, in ms."""

    alone_p50: Optional[float]
    alone_p99: Optional[float]
    alone_n: int
    busy_p50: Optional[float]  # while the countdown thread ran in the same process
    busy_p99: Optional[float]
    busy_n: int


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile of ``values`` (any order); None when empty."""
    return _ranked(sorted(values), q)


def _ranked(ordered: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile of values already in order."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, -(-len(ordered) * q // 1) - 1))
    return ordered[int(rank)]


def latency_figures(alone_ns: Sequence[int], busy_ns: Sequence[int]) -> LatencyFigures:
    def ms(x: Optional[float]) -> Optional[float]:
        return None if x is None else x / 1e6

    alone, busy = sorted(alone_ns), sorted(busy_ns)  # once each, for both percentiles
    return LatencyFigures(
        alone_p50=ms(_ranked(alone, 0.50)),
        alone_p99=ms(_ranked(alone, 0.99)),
        alone_n=len(alone),
        busy_p50=ms(_ranked(busy, 0.50)),
        busy_p99=ms(_ranked(busy, 0.99)),
        busy_n=len(busy),
    )


@dataclass(frozen=True)
class RunRecord:
    """One finished run of a scenario."""

    scenario: str
    count: int
    workers: int
    wall_s: float
    latency: Optional[LatencyFigures] = None  # convoy only
    other_cpu: Optional[float] = None  # cores other processes kept busy while it ran
    gil: bool = True  # False: a free-threaded build running without its GIL
    python_version: str = ""  # of the workers: '3.11.7', '3.13.1t'


COUNTDOWN_FAMILY = ("sequential", "threads", "processes")
SCALING = ("io", "native")  # compared with their own one-thread run


@dataclass(frozen=True)
class ResultRow:
    """One line of the results: a scenario's latest run and how it compares."""

    label: str  # "threads ×2"
    scenario: str
    wall_s: float
    vs: Optional[str]  # what the ratio is against: "sequential", "io ×1"
    ratio: Optional[float]  # wall / the baseline's wall; < 1 is faster
    latency: Optional[LatencyFigures] = None
    # cores other processes kept busy during this run or its baseline, if that makes the
    # comparison suspect (more than BUSY_CORES)
    busy: Optional[float] = None


def label(r: RunRecord, builds: bool = False) -> str:
    """'threads ×2'; a run without a GIL is 'threads ×2 (no GIL)', and where the results
    hold runs of both kinds of build (``builds``) the others are 'threads ×2 (GIL)'."""
    name = r.scenario if r.scenario in ("sequential", "convoy") else f"{r.scenario} ×{r.workers}"
    if not r.gil:
        return f"{name} (no GIL)"
    return f"{name} (GIL)" if builds else name


def mixes_builds(records: Sequence[RunRecord]) -> bool:
    """Runs with a GIL and runs without one (the GIL vs free-threaded comparison)."""
    return any(r.gil for r in records) and any(not r.gil for r in records)


def running_label(records: Sequence[RunRecord], scenario: str, workers: int, gil: bool) -> str:
    """The results' name for the run in progress, as it will be named once it is done."""
    run = RunRecord(scenario, 0, workers, 0.0, gil=gil)
    return label(run, mixes_builds([*records, run]))


def result_rows(records: Sequence[RunRecord]) -> List[ResultRow]:
    """Each label's latest run, in the order first seen, with its ratio to its baseline.

    Countdown runs compare with sequential, io and native runs with their own ×1 run, and
    only between runs of the same N: a ratio across different work would mean nothing. A
    run without a GIL compares with the same run with one (its GIL twin), where there is
    one: the GIL vs free-threaded comparison; else with the baseline of its own build.
    """
    builds = mixes_builds(records)
    latest: Dict[str, RunRecord] = {}
    for r in records:
        latest[label(r, builds)] = r
    rows = []
    for name, r in latest.items():
        base: Optional[RunRecord] = None
        twin = label(replace(r, gil=True), builds)
        if not r.gil and twin in latest:
            base = latest[twin]
        elif r.scenario in COUNTDOWN_FAMILY[1:]:
            base = latest.get(label(replace(r, scenario="sequential"), builds))
        elif r.scenario in SCALING and r.workers != 1:
            base = latest.get(label(replace(r, workers=1), builds))
        usable = base is not None and base.count == r.count and base.wall_s > 0
        rows.append(
            ResultRow(
                label=name,
                scenario=r.scenario,
                wall_s=r.wall_s,
                vs=label(base, builds) if usable and base is not None else None,
                ratio=r.wall_s / base.wall_s if usable and base is not None else None,
                latency=r.latency,
                busy=_busy(r, base if usable else None),
            )
        )
    return rows


BUSY_CORES = 0.3  # other processes using more than this: the machine was busy


def _busy(r: RunRecord, base: Optional[RunRecord]) -> Optional[float]:
    """The most other processes used during the run or its baseline, if it was a lot."""
    others = [x.other_cpu for x in (r, base) if x is not None and x.other_cpu is not None]
    worst = max(others, default=None)
    return worst if worst is not None and worst > BUSY_CORES else None


def agreement_pp(pairs: Iterable[tuple[float, float]]) -> Optional[float]:
    """Mean absolute difference between two share estimates, in percentage points."""
    diffs = [abs(a - b) * 100.0 for a, b in pairs]
    return sum(diffs) / len(diffs) if diffs else None
