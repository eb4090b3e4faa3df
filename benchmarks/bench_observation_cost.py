"""(a) What full observation costs the countdown: observed / unobserved wall time per scenario.

Unobserved: the same worker processes (``Workload``), polled until done, no sampler at all.
Observed: a full gilscope ``Session`` (beacon reader, psutil, py-spy at ``--rate``) through
``run_headless``. Both take the wall time from the workers' own beacons (first start to last
end), so interpreter start-up and calibration are outside it. Repetitions are interleaved
(A B, B A, A B …) and every figure is a median with [min–max]. Also printed: what observing
costs in CPU — the extra CPU time (this process plus every reaped child: workers, py-spy) of
the observed run over the unobserved one, divided by the observed wall time, in cores (it
includes py-spy's windows during worker start-up, so it slightly overstates).

Run on demand: ``.venv/bin/python benchmarks/bench_observation_cost.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from _common import Summary, abba, footer, header, summarize, verdict

from gilscope.headless import run_headless
from gilscope.sampling.pyspy import find_pyspy
from gilscope.scenarios.workload import RunState, Scenario, Workload, WorkloadSpec
from gilscope.session import Session

GOALS: Dict[Scenario, Optional[float]] = {
    Scenario.SEQUENTIAL: None,
    Scenario.THREADS: 1.05,
    Scenario.PROCESSES: 1.15,
}
POLL_HZ = 50  # the same pace as the Session's collector
TIMEOUT_S = 300.0


def cpu_seconds() -> float:
    """CPU used so far by this process and every child it has reaped (workers, py-spy)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_unobserved(spec: WorkloadSpec) -> Tuple[Optional[float], str]:
    """Wall seconds of one run with nothing watching but a 50 Hz poll of the board header."""
    tmp = tempfile.mkdtemp(prefix="gilscope-bench-")
    workload = Workload(spec, os.path.join(tmp, "board"))
    try:
        workload.start()
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            state = workload.poll()
            if state in (RunState.DONE, RunState.FAILED):
                break
            if time.monotonic() > deadline:
                return None, f"timed out after {TIMEOUT_S:.0f} s"
            time.sleep(1.0 / POLL_HZ)
        return (workload.wall_s if state is RunState.DONE else None), workload.error
    finally:
        workload.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run_observed(spec: WorkloadSpec, rate_hz: int) -> Tuple[Optional[float], Dict[str, Any]]:
    """Wall seconds of one run under a full Session, and its headless report."""
    session = Session(spec, rate_hz=rate_hz)
    try:
        doc = run_headless(session, TIMEOUT_S)
    finally:
        session.close()
    wall = doc["wall_s"] if doc["state"] == RunState.DONE.value else None
    return wall, doc


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 repetitions instead of 5")
    p.add_argument("--count", type=int, default=50_000_000, help="N (default 50,000,000)")
    p.add_argument("--workers", type=int, default=2, help="K threads/processes (default 2)")
    p.add_argument("--reps", type=int, default=0, help="repetitions per variant (default 5)")
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples/s (default 1000)")
    p.add_argument(
        "--scenarios",
        default="sequential,threads,processes",
        help="comma-separated subset (default: all three)",
    )
    args = p.parse_args(argv)
    reps = args.reps or (2 if args.quick else 5)
    scenarios = [Scenario(s.strip()) for s in args.scenarios.split(",") if s.strip()]

    header("bench_observation_cost: countdown wall time, observed / unobserved")
    pyspy = find_pyspy()
    print(
        f"# N={args.count:,} K={args.workers} reps={reps} py-spy={pyspy or 'NOT FOUND'} "
        f"rate={args.rate}/s order: unobserved/observed alternating A B, B A, …"
    )
    if pyspy is None:
        print("# WARNING: py-spy missing, 'observed' runs without it", file=sys.stderr)

    # Warm-up (discarded): page in the interpreter, py-spy and the board files once.
    warm = WorkloadSpec(Scenario.SEQUENTIAL, max(args.count // 10, 1_000_000), 1)
    run_unobserved(warm)
    run_observed(warm, args.rate)

    walls: Dict[Tuple[Scenario, str], List[float]] = {}
    ratios: Dict[Scenario, List[float]] = {s: [] for s in scenarios}
    rates: Dict[Scenario, List[float]] = {s: [] for s in scenarios}
    extra_cpu: Dict[Scenario, List[float]] = {s: [] for s in scenarios}
    problems: List[str] = []
    for rep in range(reps):
        for scenario in scenarios:
            spec = WorkloadSpec(scenario, args.count, args.workers)
            got: Dict[str, float] = {}
            cpu: Dict[str, float] = {}
            notes = ""
            for variant in abba(rep, ("unobserved", "observed")):
                cpu0 = cpu_seconds()
                if variant == "unobserved":
                    wall, error = run_unobserved(spec)
                else:
                    wall, doc = run_observed(spec, args.rate)
                    error = doc.get("error") or ""
                    rate = doc["pyspy"]["rate_hz"]
                    if rate is not None:
                        rates[scenario].append(rate)
                    notes = f"py-spy {rate}/s, {doc['pyspy']['windows']} windows"
                    for problem in doc["problems"]:
                        if problem not in problems:
                            problems.append(problem)
                if wall is None:
                    print(f"rep {rep + 1} {scenario} {variant}: FAILED {error}", flush=True)
                    continue
                cpu[variant] = cpu_seconds() - cpu0
                got[variant] = wall
                walls.setdefault((scenario, variant), []).append(wall)
            line = f"rep {rep + 1} {scenario!s:<10}"
            for variant in ("unobserved", "observed"):
                if variant in got:
                    line += f"  {variant} {got[variant]:7.3f} s"
            if len(got) == 2:
                ratio = got["observed"] / got["unobserved"]
                ratios[scenario].append(ratio)
                line += f"  ratio {ratio:.3f}"
                extra = (cpu["observed"] - cpu["unobserved"]) / got["observed"]
                extra_cpu[scenario].append(extra)
                notes += f", observer ≈{extra:.2f} cores"
            print(f"{line}  ({notes})", flush=True)

    print()
    print(
        f"{'scenario':<11} {'unobserved s, median [min–max]':<34} "
        f"{'observed s, median [min–max]':<34} {'of medians':<11} {'of minima':<10} "
        f"{'per-pair ratio, median [min–max]':<34} goal (on the per-pair median)"
    )
    noisy: List[str] = []
    for scenario in scenarios:
        un: Summary = summarize(walls.get((scenario, "unobserved"), []))
        ob: Summary = summarize(walls.get((scenario, "observed"), []))
        pair = summarize(ratios[scenario])
        of_medians = ob.median / un.median if un.n and ob.n else float("nan")
        of_minima = ob.low / un.low if un.n and ob.n else float("nan")
        goal = GOALS[scenario]
        goal_text = (
            f"≤{goal:.2f}× ({verdict(pair.median, goal)})" if goal is not None else "— (none set)"
        )
        print(
            f"{scenario!s:<11} {un.fmt():<34} {ob.fmt():<34} {of_medians:<11.3f} "
            f"{of_minima:<10.3f} {pair.fmt():<34} {goal_text}"
        )
        spread = un.high / un.low - 1 if un.n > 1 else 0.0
        if goal is not None and spread > goal - 1:
            noisy.append(
                f"{scenario}: unobserved runs alone spread {spread:.0%} (max/min), more than "
                f"the goal's {goal - 1:.0%} margin"
            )
    if noisy:
        print("NOISY — the verdicts above are not reliable; rerun on a quieter machine:")
        for line in noisy:
            print(f"  {line}")
    print()
    for scenario in scenarios:
        rate = summarize(rates[scenario]).fmt(".1f", "/s")
        print(f"py-spy achieved rate (Session's figure), {scenario}: {rate}")
    for scenario in scenarios:
        cores = summarize(extra_cpu[scenario]).fmt(".2f", " cores")
        print(f"observer CPU (extra CPU of the observed run / its wall time), {scenario}: {cores}")
    if problems:
        print("problems reported by the observed sessions:")
        for problem in problems:
            print(f"  - {problem}")
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
