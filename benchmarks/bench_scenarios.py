"""Wall time of every scenario and K, and the convoy's latency, as gilscope observes them.

Each configuration runs through a full gilscope ``Session`` (beacons, psutil, py-spy) and
``run_headless``, as ``gilscope --headless`` would; the wall time is the workers' own (first
start to last end). Configurations are rotated through every position across repetitions,
so slow drift on this shared machine spreads over all of them; figures are medians with
[min–max]. Ratios are against each family's baseline measured in the same run: sequential
for the countdown, the same scenario with K=1 for io and native.

Run on demand: ``.venv/bin/python benchmarks/bench_scenarios.py [--reps 3] [--python PATH]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Tuple

from _common import footer, header, rotate, summarize

from gilscope.checks import check_python
from gilscope.headless import run_headless
from gilscope.scenarios.workload import Scenario, WorkloadSpec
from gilscope.session import Session

Config = Tuple[Scenario, int, Optional[float]]  # scenario, K, switch interval (ms)

CONFIGS: List[Config] = [
    (Scenario.SEQUENTIAL, 1, None),
    (Scenario.THREADS, 2, None),
    (Scenario.THREADS, 4, None),
    (Scenario.PROCESSES, 2, None),
    (Scenario.PROCESSES, 4, None),
    (Scenario.IO, 1, None),
    (Scenario.IO, 2, None),
    (Scenario.IO, 4, None),
    (Scenario.IO, 8, None),
    (Scenario.NATIVE, 1, None),
    (Scenario.NATIVE, 2, None),
    (Scenario.NATIVE, 4, None),
    (Scenario.CONVOY, 1, None),
    (Scenario.CONVOY, 1, 1.0),
    (Scenario.CONVOY, 1, 50.0),
]


def name(c: Config) -> str:
    scenario, k, switch = c
    label = str(scenario) if not scenario.uses_workers else f"{scenario} ×{k}"
    return label + (f" switch {switch:g}ms" if switch is not None else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args()
    python = check_python(args.python)
    header(f"scenario wall times and convoy latency · workers on {python}")
    walls: Dict[Config, List[float]] = {c: [] for c in CONFIGS}
    lat: Dict[Config, List[Tuple[float, float, float, float]]] = {c: [] for c in CONFIGS}
    for rep in range(args.reps):
        for c in rotate(rep, CONFIGS):
            scenario, k, switch = c
            spec = WorkloadSpec(scenario, scenario.default_count, k, python, switch)
            session = Session(spec)
            try:
                doc = run_headless(session, 120.0)
            finally:
                session.close()
            assert doc is not None and doc["state"] == "done", doc
            walls[c].append(doc["wall_s"])
            if doc["latency"]:
                a, b = doc["latency"]["alone"], doc["latency"]["with_cpu"]
                lat[c].append((a["p50_ms"], a["p99_ms"], b["p50_ms"], b["p99_ms"]))
    base = {
        "countdown": summarize(walls[CONFIGS[0]]).median,
        "io": summarize(walls[(Scenario.IO, 1, None)]).median,
        "native": summarize(walls[(Scenario.NATIVE, 1, None)]).median,
    }
    print(f"\n{'configuration':<26} {'N':>12}  wall s (median [min–max])      vs baseline")
    for c in CONFIGS:
        scenario = c[0]
        s = summarize(walls[c])
        family = scenario.value if scenario.value in base else "countdown"
        ratio = s.median / base[family]
        note = "" if scenario is Scenario.CONVOY else f"{ratio:5.2f}×"
        n = f"{scenario.default_count:,}"
        print(f"{name(c):<26} {n:>12}  {s.fmt('.3f')}  {note}")
    print("\nconvoy: io-responder latency in ms, p50/p99, alone → with the countdown running")
    for c in CONFIGS:
        if lat[c]:
            cols = list(zip(*lat[c]))
            med = [summarize(col).median for col in cols]
            print(f"{name(c):<26} {med[0]:.2f}/{med[1]:.2f} → {med[2]:.2f}/{med[3]:.2f}")
    footer()


if __name__ == "__main__":
    main()
