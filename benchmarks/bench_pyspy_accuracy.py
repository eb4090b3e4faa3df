"""(c) py-spy's achieved sample rate, and its GIL share against the exact beacon timeline.

Runs a full ``Session`` (py-spy at ``--rate``) on the threads scenario with K=2 and K=4,
N sized so a run lasts ``--seconds`` (default 12 s), K=2 and K=4 interleaved (A B, B A, …).
Per run it prints what gilscope itself reports — ``snapshot().pyspy`` (latest 16 windows)
and ``overall_pyspy()`` (whole run): achieved rate and agreement in pp — plus, per thread,
the exact GIL share over the whole run (timeline totals, as ``gilscope.headless`` reports it)
against py-spy's share over the run's complete windows (``Session.pyspy_share``).

Independent check of the rate: with ``--gil`` py-spy keeps only samples in which some thread
held the GIL, and in this scenario some countdown thread holds it nearly all the time, so
``rate × Σ py-spy shares`` is the rate of samples py-spy actually counted (a lower bound of
the samples it took). gilscope's own rate figure is the planned interval count divided by
the window's measured length, so it does not see samples py-spy missed.

Run on demand: ``.venv/bin/python benchmarks/bench_pyspy_accuracy.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from _common import abba, footer, header, summarize, verdict

from gilscope.headless import report
from gilscope.sampling.pyspy import find_pyspy
from gilscope.scenarios.worker import calibrate_chunk
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec
from gilscope.session import Session

GOAL_RATE = 950.0
GOAL_PP = 2.0
TERMINAL = (RunState.DONE, RunState.FAILED, RunState.STOPPED)


@dataclass(frozen=True)
class Result:
    workers: int
    wall_s: float
    rate_recent: Optional[float]
    rate_overall: Optional[float]
    counted_rate: Optional[float]
    agreement_recent: Optional[float]
    agreement_overall: Optional[float]
    threads: Tuple[Tuple[str, float, Optional[float]], ...]  # name, exact, py-spy
    exact_sum: float
    cpu_sum: float  # the countdown threads' CPU time over the run, in cores
    windows: int
    problems: Tuple[str, ...]

    @property
    def max_thread_pp(self) -> Optional[float]:
        diffs = [abs(e - p) * 100 for _, e, p in self.threads if p is not None]
        return max(diffs) if diffs else None


def observe(spec: WorkloadSpec, rate_hz: int, timeout_s: float) -> Optional[Result]:
    """One observed run; the figures are read before the session closes."""
    session = Session(spec, rate_hz=rate_hz)
    try:
        session.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and session.state not in TERMINAL:
            time.sleep(0.05)
        time.sleep(1.5)  # as run_headless, but long enough for the last windows to land
        doc = report(session)
        if doc["state"] != RunState.DONE.value:
            print(f"K={spec.workers}: run {doc['state']}: {doc['error']}", flush=True)
            return None
        recent = session.snapshot().pyspy
        overall = session.overall_pyspy()
        threads = tuple(
            (t["name"], float(t["gil_share"]), t["gil_share_pyspy"])
            for proc in doc["processes"]
            for t in proc["threads"]
        )
        pyspy_sum = sum(p for _, _, p in threads if p is not None)
        return Result(
            workers=spec.workers,
            wall_s=float(doc["wall_s"]),
            rate_recent=recent.rate_hz,
            rate_overall=overall.rate_hz,
            counted_rate=rate_hz * pyspy_sum if pyspy_sum else None,
            agreement_recent=recent.agreement_pp,
            agreement_overall=overall.agreement_pp,
            threads=threads,
            exact_sum=sum(e for _, e, _ in threads),
            cpu_sum=sum(float(t["cpu"]) for proc in doc["processes"] for t in proc["threads"]),
            windows=overall.windows,
            problems=tuple(doc["problems"]),
        )
    finally:
        session.close()


def _f(x: Optional[float], spec: str) -> str:
    return "n/a" if x is None else f"{x:{spec}}"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 s runs, 2 repetitions")
    p.add_argument("--seconds", type=float, default=0.0, help="run length (default 12; quick 5)")
    p.add_argument("--reps", type=int, default=0, help="repetitions per K (default 3; quick 2)")
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples/s (default 1000)")
    args = p.parse_args(argv)
    seconds = args.seconds or (5.0 if args.quick else 12.0)
    reps = args.reps or (2 if args.quick else 3)

    # Size N from the workers' own calibration: iterations per ms of the (cold) loop.
    chunk, chunk_ns = calibrate_chunk()
    count = int(chunk * 1e9 / chunk_ns * seconds)

    header("bench_pyspy_accuracy: py-spy rate and GIL-share error vs the exact timeline")
    print(
        f"# threads scenario, K=2 and K=4 interleaved, N={count:,} (~{seconds:.0f} s), "
        f"reps={reps}, rate={args.rate}/s, py-spy={find_pyspy() or 'NOT FOUND'}"
    )
    results: Dict[int, List[Result]] = {2: [], 4: []}
    problems: List[str] = []
    for rep in range(reps):
        for k in abba(rep, (2, 4)):
            spec = WorkloadSpec(Scenario.THREADS, count, k)
            r = observe(spec, args.rate, timeout_s=seconds * 6 + 30)
            if r is None:
                continue
            results[k].append(r)
            problems += [x for x in r.problems if x not in problems]
            shares = "  ".join(
                f"{name} {e * 100:.2f}/{_f(None if q is None else q * 100, '.2f')}"
                for name, e, q in r.threads
            )
            print(
                f"rep {rep + 1} K={k} wall {r.wall_s:.2f} s, {r.windows} windows | "
                f"rate: recent {_f(r.rate_recent, '.1f')} overall {_f(r.rate_overall, '.1f')} "
                f"counted {_f(r.counted_rate, '.1f')} /s | agreement pp: recent "
                f"{_f(r.agreement_recent, '.2f')} overall {_f(r.agreement_overall, '.2f')} | "
                f"exact/py-spy % {shares} | Σexact {r.exact_sum * 100:.2f} % "
                f"Σcpu {r.cpu_sum * 100:.1f} %",
                flush=True,
            )

    print()
    for k, rs in results.items():
        if not rs:
            print(f"K={k}: no successful run")
            continue

        def pick(values: List[Optional[float]]) -> List[float]:
            return [v for v in values if v is not None]

        rate = summarize(pick([r.rate_overall for r in rs]))
        counted = summarize(pick([r.counted_rate for r in rs]))
        agree = summarize(pick([r.agreement_overall for r in rs]))
        worst = summarize(pick([r.max_thread_pp for r in rs]))
        covered = summarize([r.exact_sum * 100 for r in rs])
        cpu = summarize([r.cpu_sum * 100 for r in rs])
        print(f"K={k} ({len(rs)} runs)")
        print(
            f"  achieved rate, gilscope's figure (overall_pyspy) {rate.fmt('.1f', '/s')}"
            f"   goal ≥{GOAL_RATE:.0f}/s ({verdict(rate.median, GOAL_RATE, True)})"
        )
        print(
            f"  samples counted (rate × Σ py-spy share)          {counted.fmt('.1f', '/s')}"
            f"   goal ≥{GOAL_RATE:.0f}/s ({verdict(counted.median, GOAL_RATE, True)})"
        )
        print(
            f"  agreement_pp (overall_pyspy, same windows)       {agree.fmt('.2f', ' pp')}"
            f"   goal ≤{GOAL_PP:.0f} pp ({verdict(agree.median, GOAL_PP)})"
        )
        print(
            f"  worst thread |exact − py-spy|, whole run         {worst.fmt('.2f', ' pp')}"
            f"   goal ≤{GOAL_PP:.0f} pp ({verdict(worst.median, GOAL_PP)})"
        )
        print(
            f"  Σ exact share (run time the timeline gives to a holder) {covered.fmt('.2f', ' %')}"
        )
        print(f"  Σ thread CPU (how much of a core the countdown got)   {cpu.fmt('.1f', ' %')}")
    footer()
    if problems:
        print("problems reported by the sessions:")
        for x in problems:
            print(f"  - {x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
