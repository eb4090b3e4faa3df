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

Section ``shares`` (issue 10): py-spy's whole-run share per thread against the probe's, before
(``gil_share_pyspy`` as the report computes it) and after (``pyspy_shares`` over the report's
span, from the same run's windows), for a two-thread countdown launched (``run``: it pauses
``--idle`` seconds before its threads start and after they end, as a program waiting on
something would, and exits within the observation), attached (``attach``: it counts all along)
and gilscope's own workers (``workers``), per interpreter in ``--pythons``; and, for a thread
per request, each way's sum of a process's shares (at most 1 is possible).

Run on demand: ``.venv/bin/python benchmarks/bench_pyspy_accuracy.py [--quick]
[--sections rate,shares] [--pythons PY,PY] [--variants run,attach,workers,per-request]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from _common import abba, footer, header, rotate, summarize, verdict

from gilscope.headless import report, run_headless
from gilscope.model.pyspy_shares import pyspy_shares
from gilscope.sampling.pyspy import PySpyWindow, find_pyspy, thread_started_ns
from gilscope.sampling.target import inspect_pid, wait_until_python
from gilscope.scenarios.external import ExternalTarget
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


# -- section "shares": whole-run shares, before and after (issue 10) --------------------

# Two threads count down in 200,000-step calls for ``seconds``; the process pauses ``idle``
# seconds before they start and after they end (launched), or counts on until killed (attached).
COUNTDOWN = textwrap.dedent(
    """
    import sys, threading, time
    def count(n):
        while n > 0:
            n -= 1
    def worker(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            count(200_000)
    seconds, idle = float(sys.argv[1]), float(sys.argv[2])
    time.sleep(idle)
    threads = [threading.Thread(target=worker, args=(seconds,), name=f"count-{i}") for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(idle)
    """
)

# A thread per request: up to 4 at once, each counting down ~1-2 ms, for ``seconds``.
PER_REQUEST = textwrap.dedent(
    """
    import sys, threading, time
    def handle(n, done):
        while n > 0:
            n -= 1
        done.release()
    slots = threading.Semaphore(4)
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        slots.acquire()
        threading.Thread(target=handle, args=(50_000, slots)).start()
    """
)


@dataclass(frozen=True)
class ShareRun:
    variant: str
    python: str
    threads: Tuple[Tuple[str, float, Optional[float], Optional[float]], ...]  # probe/before/after
    sums: Tuple[float, float, float]  # per process, the largest: probe, before, after
    source: str  # the report's GIL source: "probe", or "py-spy" where the probe gave up
    noise_pp: float  # sampling's own standard deviation for a share of 0.5 over the run

    def worst_pp(self, which: int) -> Optional[float]:
        """Largest |py-spy − probe| over threads that held the GIL; which: 2 before, 3 after."""
        diffs = [abs(t[which] - t[1]) * 100 for t in self.threads if t[which] is not None]
        return max(diffs) if diffs else None


class _Births:
    """Each thread's life as /proc tells it (start: its starttime; end: the last scan that
    saw it, plus one period), scanned every 20 ms while the session runs: what the report
    would hand pyspy_shares. A thread shorter than a scan may be missed: its life is unknown."""

    PERIOD_S = 0.02

    def __init__(self, session: Session) -> None:
        self._session = session
        self._seen: Dict[Tuple[int, int], List[int]] = {}  # (pid, tid) -> [start, last seen]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._last = 0  # when scanning stopped

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.PERIOD_S):
            now = time.monotonic_ns()
            for pid in {lane.key.pid for lane in self._session.every_lane()}:
                try:
                    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
                except OSError:
                    continue
                for tid in tids:
                    life = self._seen.get((pid, tid))
                    if life is not None:
                        life[1] = now
                        continue
                    started = thread_started_ns(pid, tid)
                    if started is not None:
                        self._seen[pid, tid] = [started, now]
        self._last = time.monotonic_ns()

    def lives(self) -> Dict[Tuple[int, int], Optional[Tuple[int, int]]]:
        period = int(self.PERIOD_S * 1e9)
        return {
            key: (first, last + period if last + period < self._last else 2**62)
            for key, (first, last) in self._seen.items()
        }


def _observe_shares(
    session: Session, seconds: float, variant: str, python: str
) -> Optional[ShareRun]:
    """Run ``session`` headless; per thread the probe's share, the report's py-spy share
    and pyspy_shares over the report's span from the windows of this same run."""
    windows: List[PySpyWindow] = []
    sampler = session._pyspy  # the bench listens in on the windows the session gets
    forward = sampler._on_window

    def keep(w: PySpyWindow) -> None:
        windows.append(w)
        if forward is not None:
            forward(w)

    sampler._on_window = keep
    births = _Births(session)
    try:
        births.start()
        doc = run_headless(session, seconds)
        births.stop()
        if doc is None or (doc["source"] != "probe" and variant != "per-request"):
            print(f"{variant} {python}: no probe figures ({doc and doc['source']})", flush=True)
            return None
        start = session.snapshot().timeline.started_ns()
        end = start + int(doc["observed_s"] * 1e9)
        after = pyspy_shares(list(windows), births.lives(), (start, end))
    finally:
        births.stop()
        session.close()
    rows: List[Tuple[str, float, Optional[float], Optional[float]]] = []
    sums: Dict[int, List[float]] = {}
    for proc in doc["processes"]:
        for t in proc["threads"]:
            key = (proc["pid"], t["tid"])
            probe, before = float(t["gil_share"] or 0.0), t["gil_share_pyspy"]
            got = after[key].share if key in after else None
            acc = sums.setdefault(proc["pid"], [0.0, 0.0, 0.0])
            acc[0] += probe
            acc[1] += before or 0.0
            acc[2] += got or 0.0
            if probe > 0.01 or (before or 0.0) > 0.01:  # threads that held the GIL
                rows.append((t["name"], probe, before, got))
    biggest = max(sums.values(), key=lambda a: a[1]) if sums else [0.0, 0.0, 0.0]
    noise = sum(w.read_intervals for w in windows if w.start_ns < end and w.end_ns > start)
    return ShareRun(
        variant,
        _version(python),  # the interpreter asked for (the report's may fall back to ours)
        tuple(rows),
        (biggest[0], biggest[1], biggest[2]),
        doc["source"],
        100 * (0.25 / max(noise, 1)) ** 0.5,
    )


def _share_run(
    variant: str, python: str, seconds: float, idle: float, rate: int
) -> Optional[ShareRun]:
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "target.py")
        if variant == "workers":
            chunk, chunk_ns = calibrate_chunk()
            count = int(chunk * 1e9 / chunk_ns * (seconds - 2))
            spec = WorkloadSpec(Scenario.THREADS, count, 2, python=python)
            return _observe_shares(Session(spec, rate_hz=rate), seconds, variant, python)
        if variant == "per-request":
            with open(script, "w") as f:
                f.write(PER_REQUEST)
            target = ExternalTarget(argv=[python, script, str(seconds - 2)])
            session = Session(WorkloadSpec(), rate, target=target)
            return _observe_shares(session, seconds, variant, python)
        with open(script, "w") as f:
            f.write(COUNTDOWN)
        if variant == "run":
            target = ExternalTarget(argv=[python, script, str(seconds - 2 - 2 * idle), str(idle)])
            session = Session(WorkloadSpec(), rate, target=target)
            return _observe_shares(session, seconds, variant, python)
        proc = subprocess.Popen([python, script, str(seconds * 4), "0"])
        try:
            wait_until_python(proc.pid, 10.0)
            time.sleep(0.5)  # counting: attach to a process that is well under way
            target = ExternalTarget(pid=proc.pid, info=inspect_pid(proc.pid))
            session = Session(WorkloadSpec(), rate, target=target)
            return _observe_shares(session, seconds, variant, python)
        finally:
            proc.kill()
            proc.wait()


_VERSIONS: Dict[str, str] = {}


def _version(python: str) -> str:
    if python not in _VERSIONS:
        out = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=False,
        )
        _VERSIONS[python] = out.stdout.strip() or os.path.basename(python)
    return _VERSIONS[python]


def _pct(x: Optional[float]) -> str:
    return "  n/a" if x is None else f"{x * 100:5.2f}"


def shares_section(
    pythons: List[str],
    reps: int,
    seconds: float,
    idle: float,
    rate: int,
    variants: Tuple[str, ...] = ("run", "attach", "workers", "per-request"),
) -> None:
    print()
    print(
        f"## shares: whole-run py-spy share vs the probe, before → after (issue 10); "
        f"{seconds:.0f} s observations, run idles {idle} s before and after, reps={reps}"
    )
    compared = tuple(v for v in variants if v != "per-request")
    runs: List[ShareRun] = []
    for rep in range(reps):
        for python in pythons:
            for variant in rotate(rep, compared):
                r = _share_run(variant, python, seconds, idle, rate)
                if r is None:
                    continue
                runs.append(r)
                shares = "  ".join(
                    f"{name} {_pct(p)}/{_pct(b)}→{_pct(a)}" for name, p, b, a in r.threads
                )
                print(
                    f"rep {rep + 1} {variant:7} {r.python:7} probe/before→after % {shares} | "
                    f"worst pp {_f(r.worst_pp(2), '.2f')}→{_f(r.worst_pp(3), '.2f')} "
                    f"(sampling sd {r.noise_pp:.2f}) | Σ probe {r.sums[0]:.4f} "
                    f"before {r.sums[1]:.4f} after {r.sums[2]:.4f}",
                    flush=True,
                )
    print()
    for python in sorted({r.python for r in runs}):
        for variant in compared:
            rs = [r for r in runs if r.variant == variant and r.python == python]
            if not rs:
                continue
            before = summarize([x for x in (r.worst_pp(2) for r in rs) if x is not None])
            after = summarize([x for x in (r.worst_pp(3) for r in rs) if x is not None])
            noise = summarize([r.noise_pp for r in rs])
            print(
                f"{variant:7} {rs[0].python:7} worst thread |py-spy − probe|: "
                f"before {before.fmt('.2f', ' pp')}  after {after.fmt('.2f', ' pp')}"
                f"   goal ≤1 pp ({verdict(after.median, 1.0)}); sampling sd {noise.median:.2f} pp"
            )
    for python in pythons if "per-request" in variants else ():
        r = _share_run("per-request", python, seconds, idle, rate)
        if r is not None:
            p, b, a = r.sums
            probe = f"{p:.4f}" if r.source == "probe" else f"n/a ({r.source})"
            print(
                f"per-request {r.python:7} Σ shares of the process: probe {probe}  "
                f"before {b:.4f}  after {a:.4f}   goal ≤ 1 ({verdict(a, 1.0)})",
                flush=True,
            )


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 s runs, 2 repetitions")
    p.add_argument("--seconds", type=float, default=0.0, help="run length (default 12; quick 5)")
    p.add_argument("--reps", type=int, default=0, help="repetitions per K (default 3; quick 2)")
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples/s (default 1000)")
    p.add_argument("--sections", default="rate,shares", help="comma-separated: rate, shares")
    p.add_argument(
        "--pythons", default=sys.executable, help="shares: comma-separated interpreter paths"
    )
    p.add_argument("--idle", type=float, default=0.5, help="shares: the run target's pauses (s)")
    p.add_argument(
        "--variants",
        default="run,attach,workers,per-request",
        help="shares: comma-separated subset of run, attach, workers, per-request",
    )
    args = p.parse_args(argv)
    seconds = args.seconds or (5.0 if args.quick else 12.0)
    reps = args.reps or (2 if args.quick else 3)
    sections = {x.strip() for x in args.sections.split(",")}
    if "rate" not in sections:
        header("bench_pyspy_accuracy: py-spy's whole-run GIL shares vs the probe")
        pythons = [x for x in args.pythons.split(",") if x]
        variants = tuple(v for v in args.variants.split(",") if v)
        shares_section(pythons, reps, 5.0 if args.quick else 8.0, args.idle, args.rate, variants)
        footer()
        return 0

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
    if "shares" in sections:
        pythons = [x for x in args.pythons.split(",") if x]
        variants = tuple(v for v in args.variants.split(",") if v)
        shares_section(pythons, reps, 5.0 if args.quick else 8.0, args.idle, args.rate, variants)
    footer()
    if problems:
        print("problems reported by the sessions:")
        for x in problems:
            print(f"  - {x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
