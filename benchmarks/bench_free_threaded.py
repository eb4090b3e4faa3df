"""A free-threaded CPython (3.13t) against GIL builds, and what its 100 Hz lanes cost.

Section 1 — wall times. The countdown (sequential, threads ×K, processes ×K) on a GIL build
of the same minor (pyenv's 3.13.0 by default), on the free-threaded build without its GIL,
and threads ×K on the free-threaded build with its GIL switched on (``-X gil=1``) and on the
interpreter running gilscope (what ``gil-vs-ft`` pairs it with by default). Each run goes
through a full ``Session`` and ``run_headless``, as ``gilscope --headless`` would; the wall
time is the workers' own; configurations are rotated across repetitions.

Section 2 — the no-GIL lanes. A free-threaded target of K threads that note their own exact
CPU clock (``tests/cpu_truth_target.py``) runs under ``gilscope run``; per K it prints the
per-thread sampler's achieved reads per second and its CPU (its own thread's CPU clock, in
cores), and how far the lanes drawn at 10 ms a column are from the threads' own clocks
(mean |drawn - own| per column, and the totals).

Run on demand: ``.venv/bin/python benchmarks/bench_free_threaded.py [--quick]
[--ft PATH] [--gil PATH] [--reps N] [--sections 1,2]``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from _common import footer, header, rotate, summarize

from gilscope.checks import check_python
from gilscope.headless import run_headless
from gilscope.model.timeline import MS
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import Scenario, WorkloadSpec
from gilscope.session import Session

ROOT = Path(__file__).resolve().parents[1]
TRUTH_TARGET = ROOT / "tests" / "cpu_truth_target.py"
FT = "/opt/ft313/bin/python3.13t"
GIL313 = os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python")
COL = 10 * MS

# (label, which interpreter, scenario, -X gil=)
Config = Tuple[str, str, Scenario, Optional[bool]]


def configs(k: int) -> List[Config]:
    return [
        ("sequential", "gil", Scenario.SEQUENTIAL, None),
        (f"threads ×{k}", "gil", Scenario.THREADS, None),
        (f"processes ×{k}", "gil", Scenario.PROCESSES, None),
        ("sequential", "ft", Scenario.SEQUENTIAL, None),
        (f"threads ×{k}", "ft", Scenario.THREADS, None),
        (f"processes ×{k}", "ft", Scenario.PROCESSES, None),
        (f"threads ×{k} -X gil=1", "ft", Scenario.THREADS, True),
        (f"threads ×{k}", "own", Scenario.THREADS, None),
    ]


def wall_times(pythons: Dict[str, str], k: int, count: int, reps: int) -> None:
    walls: Dict[Config, List[float]] = {c: [] for c in configs(k)}
    sources: Dict[Config, str] = {}
    for rep in range(reps):
        for c in rotate(rep, configs(k)):
            _, which, scenario, gil = c
            spec = WorkloadSpec(scenario, count, k, pythons[which], gil=gil)
            session = Session(spec)
            try:
                doc = run_headless(session, 120.0)
            finally:
                session.close()
            assert doc["state"] == "done", doc
            walls[c].append(doc["wall_s"])
            sources[c] = f"{doc['python_version']} {'GIL' if doc['gil'] else 'no GIL'}"
    print(f"\n## 1. wall times, N={count:,}, K={k}, {reps} rotated repetitions")
    print(f"{'run':<22} {'interpreter':<18} wall s (median [min–max])      vs sequential")
    for which in ("gil", "ft", "own"):
        base = [c for c in walls if c[1] == which and c[2] is Scenario.SEQUENTIAL]
        base_s = summarize(walls[base[0]]).median if base else None
        for c in (c for c in walls if c[1] == which):
            s = summarize(walls[c])
            ratio = f"{s.median / base_s:5.2f}×" if base_s else ""
            print(f"{c[0]:<22} {sources[c]:<18} {s.fmt('.3f')}  {ratio}")
    gil_t = summarize(walls[configs(k)[1]]).median
    ft_t = summarize(walls[configs(k)[4]]).median
    ft_p = summarize(walls[configs(k)[5]]).median
    own_t = summarize(walls[configs(k)[7]]).median
    print(f"threads ×{k}: free-threaded / GIL build of the same minor = {ft_t / gil_t:.2f}×")
    print(f"threads ×{k}: free-threaded / gilscope's own interpreter = {ft_t / own_t:.2f}×")
    print(f"free-threaded: threads ×{k} / processes ×{k} = {ft_t / ft_p:.2f}×")


def own_cpu(marks: List[List[int]], first: int, n: int) -> List[float]:
    times = [m[0] for m in marks]

    def at(t: int) -> int:
        return marks[max(bisect.bisect_right(times, t) - 1, 0)][1]

    return [(at(first + (i + 1) * COL) - at(first + i * COL)) / COL for i in range(n)]


def lanes(ft: str, k: int, seconds: float, reps: int) -> None:
    print(f"\n## 2. no-GIL lanes: K={k} threads for {seconds:g} s, {reps} repetitions")
    rates, cpus, errors, totals = [], [], [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "truth.json"
            argv = [ft, str(TRUTH_TARGET), str(out), f"{seconds:g}", str(k)]
            session = Session(WorkloadSpec(), target=ExternalTarget(argv=argv))
            try:
                doc = run_headless(session, 60.0)
                with session.observed() as obs:
                    timeline = obs.timeline
                    snap = session.snapshot()
            finally:
                session.close()
            assert doc["state"] == "done" and doc["source"] == "cpu", doc
            rates.append(doc["thread_cpu"]["reads_per_s"])
            cpus.append(doc["thread_cpu"]["cpu"])
            truth = {int(t): m for t, m in json.loads(out.read_text()).items()}
        first_mark = min(m[0][0] for m in truth.values())
        # Each thread over its own life (not its last columns: what it ran after its last
        # reading is never read, its /proc entry goes with it).
        drawn_sum = real_sum = 0.0
        errs: List[float] = []
        for lane in snap.lanes:
            marks = truth.get(lane.tid)
            if not marks:
                continue
            start = max(marks[0][0], timeline.started_ns())
            first, last = (start // COL + 1) * COL, ((marks[-1][0] - 3 * COL) // COL) * COL
            n = (last - first) // COL
            if n <= 0:
                continue
            drawn = timeline.cells(lane.key, last, COL, n).without_gil
            real = own_cpu(marks, first, n)
            errs += [abs(d - r) for d, r in zip(drawn, real)]
            drawn_sum += sum(drawn)
            real_sum += sum(real)
        errors.append(sum(errs) / len(errs))
        totals.append(drawn_sum / real_sum)
        if totals[-1] < 0.9:  # say what happened: a lane that lost time is worth a look
            print(
                f"  drawn {drawn_sum:.1f} / own {real_sum:.1f} columns; lanes "
                f"{[(lane.tid, lane.label, lane.gil) for lane in snap.lanes]}, "
                f"sampler from {(timeline.started_ns() - first_mark) / 1e6:.0f} ms"
            )
    print(f"sampler reads per thread per second: {summarize(rates).fmt('.1f')}")
    print(f"sampler CPU (its thread), cores:     {summarize(cpus).fmt('.4f')}")
    print(f"mean |drawn - own clock| per 10 ms column: {summarize(errors).fmt('.3f')}")
    print(f"drawn CPU / own clocks over the run: {summarize(totals).fmt('.3f')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="1 repetition, N=20,000,000")
    p.add_argument("--ft", default=FT, help="a free-threaded interpreter")
    p.add_argument("--gil", default=GIL313, help="a GIL build of the same minor")
    p.add_argument("--count", type=int, default=50_000_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--sections", default="1,2", help="which sections to run (default 1,2)")
    args = p.parse_args()
    sections = {int(x) for x in args.sections.split(",")}
    reps = 1 if args.quick else args.reps
    count = 20_000_000 if args.quick else args.count
    pythons = {"gil": check_python(args.gil), "ft": check_python(args.ft), "own": sys.executable}
    header(f"free-threaded {pythons['ft']} vs GIL builds {pythons['gil']}, {sys.executable}")
    if 1 in sections:
        wall_times(pythons, 2, count, reps)
    for k in (2, 8) if 2 in sections else ():
        lanes(pythons["ft"], k, 1.0 if args.quick else 3.0, reps)
    footer()


if __name__ == "__main__":
    main()
