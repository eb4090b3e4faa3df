"""(b) What the in-worker report costs: gilscope's countdown vs the seeds' bare loop.

Every measurement runs in a fresh process of ``sys.executable`` (this file with ``--child``),
single-threaded, both loops inside a function so ``n`` is a local, exactly as in the seeds:

* ``bare``    — ``while n > 0: n -= 1``
* ``report``  — ``gilscope.scenarios.countdown.countdown(n, chunk, mark)`` with a real
  ``BeaconWriter`` mark on a temporary board (plus the orphan check, as in the worker) and
  ``chunk`` from ``calibrate_chunk()`` (~1 ms of counting between stamps)
* ``chunked`` — the same countdown with a no-op mark: splits the cost between the chunking
  and the stamp itself (diagnostic only)

Every child does the same set-up (calibration, board, writer) before its timed loops.

Part 1: one timed loop of N per fresh process, so the loop runs "cold" (unspecialized
bytecode on CPython 3.11, which specializes a function only after ~8 calls), as the seeds'
loop and gilscope's workers do; the variants are rotated through every position of every
repetition (A B C, B C A, …); figures: median of per-repetition ratios with [min–max], wall
and CPU time. Part 2: a few processes, each warming every variant up (specialized bytecode)
and then alternating them (rotated) for several rounds of N/4; per process the ratio of the
best (minimum) times, then the median over processes. Part 2 cancels most of the machine's
noise, part 1 the luck of one process's memory layout. CPU time is the steadier figure on a
shared machine (wall time also counts the time other tenants held the core).

Run on demand: ``.venv/bin/python benchmarks/bench_report_cost.py [--quick]``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from _common import footer, header, rotate, summarize, verdict

from gilscope.sampling.report import BeaconWriter, create_board
from gilscope.scenarios.worker import calibrate_chunk, countdown, die_with_parent

GOAL = 1.02
VARIANTS = ("bare", "report", "chunked")
WARM_CALLS = 16


def seeds_loop(n: int) -> None:
    """The seeds' countdown, verbatim."""
    while n > 0:
        n -= 1


def _setup(count: int) -> Tuple[int, Dict[str, Callable[[int], None]]]:
    """The same set-up for every variant: calibration, a real board, a real mark."""
    check_parent = die_with_parent(os.getppid())
    chunk, chunk_ns = calibrate_chunk()
    tmp = tempfile.mkdtemp(prefix="gilscope-bench-")
    atexit.register(shutil.rmtree, tmp, True)  # a linked file, like the Session's board
    board = os.path.join(tmp, "board")
    create_board(board, 1)
    writer = BeaconWriter(board, 0)
    writer.announce(0, 0, chunk_ns, count)
    writer.start()
    mark = writer.marker(check_parent)

    def noop() -> None:
        pass

    def report(n: int) -> None:
        countdown(n, chunk, mark)

    def chunked(n: int) -> None:
        countdown(n, chunk, noop)

    return chunk, {"bare": seeds_loop, "report": report, "chunked": chunked}


def _timed(run: Callable[[int], None], n: int) -> Tuple[float, float]:
    c0, t0 = time.process_time_ns(), time.perf_counter_ns()
    run(n)
    t1, c1 = time.perf_counter_ns(), time.process_time_ns()
    return (t1 - t0) / 1e9, (c1 - c0) / 1e9


def child(mode: str, count: int, rounds: int) -> Dict[str, Any]:
    """Runs in a fresh process: one timed loop of ``mode``, or all variants alternated."""
    chunk, runs = _setup(count)
    out: Dict[str, Any] = {"chunk": chunk}
    if mode in runs:
        out["wall_s"], out["cpu_s"] = _timed(runs[mode], count)
        return out
    # "alternate": every variant ``rounds`` times, rotated, in this one process. CPython 3.11
    # specializes a function's bytecode only after ~8 *calls* (not loop iterations), so warm
    # every variant first: part 2 compares specialized loops, part 1 cold ones (as the seeds
    # and gilscope's workers run, each calling its loop once).
    for _ in range(WARM_CALLS):
        for variant in VARIANTS:
            runs[variant](1_000)
    for r in range(rounds):
        for variant in rotate(r, VARIANTS):
            wall, cpu = _timed(runs[variant], count)
            out.setdefault(variant, {"wall_s": [], "cpu_s": []})
            out[variant]["wall_s"].append(wall)
            out[variant]["cpu_s"].append(cpu)
    return out


def measure(mode: str, count: int, rounds: int = 0) -> Dict[str, Any]:
    argv = [sys.executable, os.path.abspath(__file__), "--child", mode]
    argv += ["--count", str(count), "--rounds", str(rounds)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600)
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ratio_line(label: str, ratios: List[float], with_goal: bool) -> str:
    s = summarize(ratios)
    goal = f"   goal ≤{GOAL:.2f}× ({verdict(s.median, GOAL)})" if with_goal else ""
    return f"  {label:<20} {s.fmt('.4f')}{goal}"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    p.add_argument("--count", type=int, default=0, help="N (default 20,000,000; quick 10,000,000)")
    p.add_argument("--reps", type=int, default=0, help="fresh-process reps (default 15; quick 5)")
    p.add_argument(
        "--procs", type=int, default=0, help="alternating processes (default 6; quick 2)"
    )
    p.add_argument("--rounds", type=int, default=10, help="rounds per alternating process")
    p.add_argument("--child", choices=(*VARIANTS, "alternate"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.count, args.rounds)))
        return 0
    count = args.count or (10_000_000 if args.quick else 20_000_000)
    reps = args.reps or (5 if args.quick else 15)
    procs = args.procs or (2 if args.quick else 6)
    segment = max(count // 4, 1_000_000)

    header("bench_report_cost: gilscope countdown (with beacon mark) vs the seeds' bare loop")
    print(
        f"# part 1: N={count:,}, {reps} reps, one fresh process per measurement, "
        f"variants rotated ({', '.join(VARIANTS)})"
    )
    print(
        f"# part 2: {procs} processes, each warming every variant up ({WARM_CALLS} calls) then "
        f"alternating them {args.rounds} times at N={segment:,}; per process: best (min) time"
    )
    measure("bare", 1_000_000)  # warm-up, discarded
    results: Dict[str, List[Dict[str, Any]]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        got: Dict[str, Dict[str, Any]] = {}
        for variant in rotate(rep, VARIANTS):
            got[variant] = measure(variant, count)
            results[variant].append(got[variant])
        bare = got["bare"]
        print(
            f"rep {rep + 1:2d}  "
            + "  ".join(f"{v} {got[v]['wall_s']:.4f} s" for v in VARIANTS)
            + f"  report/bare wall {got['report']['wall_s'] / bare['wall_s']:.4f}"
            + f" cpu {got['report']['cpu_s'] / bare['cpu_s']:.4f}",
            flush=True,
        )
    alt: List[Dict[str, Any]] = []
    for i in range(procs):
        doc = measure("alternate", segment, args.rounds)
        alt.append(doc)
        best = {v: min(doc[v]["cpu_s"]) for v in VARIANTS}
        print(
            f"proc {i + 1:2d}  best cpu s: "
            + "  ".join(f"{v} {best[v]:.4f}" for v in VARIANTS)
            + f"  report/bare {best['report'] / best['bare']:.4f}",
            flush=True,
        )

    print()
    print("part 1, fresh process per measurement (cold loops, as the workers run):")
    for variant in VARIANTS:
        walls = summarize([r["wall_s"] for r in results[variant]]).fmt(".4f")
        cpus = summarize([r["cpu_s"] for r in results[variant]]).fmt(".4f")
        print(f"  {variant:<8} wall s {walls}   cpu s {cpus}")
    chunks = summarize([r["chunk"] for r in results["report"]]).fmt(".0f")
    print(f"  chunk (iterations per stamp) {chunks}")
    for metric in ("wall_s", "cpu_s"):
        for variant in ("report", "chunked"):
            ratios = [
                r[metric] / b[metric]
                for r, b in zip(results[variant], results["bare"])
                if b[metric] > 0
            ]
            label = f"{variant}/bare {metric[:-2]}"
            print(_ratio_line(label, ratios, variant == "report"))
    print("part 2, warmed up, alternating within a process (best-time ratio, median of procs):")
    for metric in ("wall_s", "cpu_s"):
        for variant in ("report", "chunked"):
            ratios = [min(d[variant][metric]) / min(d["bare"][metric]) for d in alt]
            label = f"{variant}/bare {metric[:-2]}"
            print(_ratio_line(label, ratios, variant == "report"))
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
