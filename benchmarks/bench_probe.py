"""The GIL probe: its read rate and CPU, what it costs the target, how well it agrees.

0. Wake-up floor. A plain loop of ``time.sleep(1 / DEFAULT_RATE_HZ)`` with nothing else in
   it, run in a child process on an otherwise idle machine for ``--sample-s`` seconds:
   its CPU time (user + system, ``os.times``) per wake-up, and the cores that many wake-ups
   per second take. The probe wakes once per read round, so this is the least it can cost at
   its rate whatever it does when awake: on a VM each timer wake-up is dear. Printed beside
   it: one ``pread`` of 32 bytes of another process's ``/proc/PID/mem``, per read.
1. Rate and CPU. A ``GilProbe`` at the default rate (``--high-rates``: also 10,000 and
   20,000 reads/s) watches a real target: two threads counting down ``while n > 0: n -= 1``
   without end. After a second of warm-up it samples the probe's own figures every 0.5 s for
   ``--sample-s`` seconds: ``ProbeTarget.reads_per_s`` (reads of this process per second) and
   ``ProbeStats.cpu`` (cores the probe process used over its last half second). As a check,
   psutil's CPU time of the probe process over the same window is printed next to them.
   ``--rates`` measures those rates instead, ``--policies`` each under every policy named
   (``fifo,normal``: where gilscope's caps on ``--probe-rate`` and on SCHED_FIFO come from).
2. Slowdown, the old way and the new side by side. A countdown of ``--count`` in total (two
   threads in one process, half each) and the same work as two single-thread processes side
   by side (both cores busy: the worst case for the probe, which then has to take its CPU
   from the targets). Each layout runs unobserved (no probe process at all), observed the
   *old* way (``GilProbe(min_rate_hz=DEFAULT_RATE_HZ, waits=False)``: every process read
   6,000 times a second, the GIL only, as before issue 12) and the *new* way (``GilProbe()``,
   gilscope's default: each process read 5 times per hand-off it makes, 200–6,000 times a
   second, with its threads' states; one wake-up serves every process due). Scheduling as
   gilscope picks it (SCHED_FIFO as root). The target waits on stdin until the probe has
   verified it (or at once when unobserved), and times its countdown itself
   (``time.perf_counter`` around starting and joining the threads), so interpreter start-up
   and the probe's verification are outside the figure. For two processes the figure is the
   mean of the two processes' own times. The six variants are rotated through every position
   over ``--reps`` repetitions; printed are the medians with [min–max], the ratio of the
   medians and the median of the per-repetition ratios observed/unobserved, and the probe's
   read rate and CPU during the observed runs.
3. Agreement, per CPython version installed under ``/root/.pyenv/versions`` (3.9–3.13) and
   ``/opt/sidpy/root/usr/bin`` (Debian's 3.14 and 3.15; missing ones are skipped;
   ``--versions 3.14,3.15`` runs only those). Runs the real CLI, ``python -m gilscope
   --scenario threads --count N --python VERSION --headless``, ``--cli-reps`` times with the
   versions rotated, and compares the probe's figures with the workers' exact in-process
   report: per thread
   ``|gil_share − gil_share_reference|`` in percentage points, and the hand-off count
   ``|probe.handoffs − Σ handoffs_reference| / Σ handoffs_reference`` in %. Also printed: the
   share of time nobody held the GIL according to the probe, ``1 − Σ gil_share``. The
   reference splits each hand-off gap between the two threads (its shares sum to ~1) while
   the probe sees the GIL free during it, so the probe's shares sit systematically lower by
   about half that free time each. Printed to show it: the signed median difference, and
   the error left once the free time is added back to the probe's threads in equal parts.
4. GIL slices. A ``GilProbe`` watches a two-thread countdown of ``--slice-count`` in total
   at the default switch interval (5 ms) and keeps every ``GilChange``. A slice is a run of
   one tid: from its first record until the next record with a *different* tid (repeated
   records with the same tid are heartbeats, not hand-offs). Only tid > 0 counts, and not
   the main thread (tid == pid: it only starts and joins the workers); the first run (begun
   before the probe's first read) and the last (no end) are dropped. Printed: median, p10,
   p90 in ms and the count, and hand-offs/s from the interpreter's own switch counter over
   the workers' span, with the share of those hand-offs the probe saw as a tid change.

5. Holder vs the threads' own stamps. A target whose two threads count down and stamp
   ``time.monotonic_ns()`` every 2,000 iterations (30-50 µs) for 3 s, watched by a probe of
   each scheduling policy in turn (auto, short-slice, normal; ``--stamp-reps`` rotated runs).
   Where two consecutive stamps of one thread are ≤ 0.3 ms apart, that thread held the GIL:
   printed is the share of those moments where the probe's holder is that thread, and at
   each hand-off (old thread's last stamp, new one's first, ≤ 0.3 ms apart) how far the
   probe's dated change to the new thread is from their middle.

6. Agreement, the old way and the new side by side: gilscope's own workers in a
   ``Session`` (``--agree-count`` of the threads scenario, ``--agree-reps`` runs per way,
   ways rotated; the probe built the old or the new way as in 2), each probe's shares and
   hand-off count against the workers' exact report (as in 3), its reads/s and CPU.
7. Waits, per CPython version: the convoy scenario (``--convoy-count``) through the CLI,
   the responder's waits for the GIL as the probe saw them (wait share, p50, p99, count)
   against the workers' own report of them; the same at N = 1,000 (the countdown ends at
   once: the responder alone). And io ×2 (``--io-count`` round trips) on the targets'
   interpreter: hand-offs and waits per thread against the report.

The machine is shared and noisy: compare figures within one printout, not across runs.

Run on demand: ``.venv/bin/python benchmarks/bench_probe.py [--quick] [--high-rates]``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import psutil
from _common import footer, header, rotate, summarize

import gilscope.session as session_module
from gilscope.checks import check_python
from gilscope.headless import run_headless
from gilscope.sampling.gil_probe import GilChange, GilProbe
from gilscope.sampling.probe_process import DEFAULT_RATE_HZ
from gilscope.scenarios.workload import Scenario, WorkloadSpec
from gilscope.session import Session

HIGH_RATES = (10_000, 20_000)
VERSIONS = ("3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")
PYENV = "/root/.pyenv/versions"
SIDPY = "/opt/sidpy/root/usr/bin"  # Debian's builds, where installed: python3.14, python3.15
SIDPY_MINORS = ("3.14", "3.15")
READY_TIMEOUT_S = 20.0
RUN_TIMEOUT_S = 180.0
FOREVER = 10**15  # a countdown that outlives any measurement (the target is killed)

# The target: waits for a line on stdin, then runs THREADS countdowns of N each and prints
# its own wall time (start of the first thread to the join of the last).
TARGET = """\
import sys
import threading
import time


def countdown(n):
    while n > 0:
        n -= 1


def main():
    threads, n = int(sys.argv[1]), int(sys.argv[2])
    print("waiting", flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    workers = [
        threading.Thread(target=countdown, args=(n,), name=f"countdown-{i}")
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"wall {time.perf_counter() - t0:.6f}", flush=True)


main()
"""


class Target:
    """One countdown process of the target script, held at its start line until ``go``."""

    def __init__(self, python: str, script: str, threads: int, n: int) -> None:
        self.proc = subprocess.Popen(
            [python, script, str(threads), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the interpreter is up
        if line.strip() != "waiting":
            raise RuntimeError(f"target {self.proc.pid} did not start: {line!r}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def done(self) -> bool:
        return self.proc.poll() is not None

    def wall_s(self) -> float:
        """The target's own time for its countdown (it must have exited)."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        for line in out.splitlines():
            if line.startswith("wall "):
                return float(line.split()[1])
        raise RuntimeError(f"target {self.pid} exited {self.proc.returncode}: {out!r}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


WAYS = ("old", "new")


def make_probe(way: str, scheduling: str = "auto") -> GilProbe:
    """The old way: every process read DEFAULT_RATE_HZ times a second, the GIL only. The
    new: gilscope's default (as often as the GIL changes hands, with waits)."""
    if way == "old":
        return GilProbe(DEFAULT_RATE_HZ, scheduling, min_rate_hz=DEFAULT_RATE_HZ, waits=False)
    return GilProbe(DEFAULT_RATE_HZ, scheduling)


def start_probe(rate_hz: int, scheduling: str = "auto", way: str = "") -> GilProbe:
    probe = make_probe(way, scheduling) if way else GilProbe(rate_hz, scheduling)
    probe.start()
    if probe.error:
        raise RuntimeError(probe.error)
    return probe


def wait_ready(probe: GilProbe, pids: Sequence[int]) -> None:
    """Until the probe has verified every target; a failure or a timeout raises."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        states = [probe.target(pid) for pid in pids]
        if all(t is not None and t.state == "ready" for t in states):
            return
        for t in states:
            if t is not None and t.state not in ("starting", "ready"):
                raise RuntimeError(f"probe on {t.pid}: {t.state} {t.reason}".strip())
        if probe.error:
            raise RuntimeError(probe.error)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the probe did not verify {list(pids)} in {READY_TIMEOUT_S} s")
        time.sleep(0.01)


def probe_process() -> Optional[psutil.Process]:
    """The probe process this benchmark started (at most one runs at a time)."""
    for child in psutil.Process().children():
        try:
            if "gilscope.sampling.probe_process" in child.cmdline():
                return child
        except psutil.Error:
            continue
    return None


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def percentile_10_90(values: Sequence[float]) -> Tuple[float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v
    q = statistics.quantiles(values, n=10, method="inclusive")
    return q[0], q[8]


# -- 1. rate and CPU --------------------------------------------------------------------------
def measure_rate(
    python: str, script: str, rate_hz: int, sample_s: float, scheduling: str = "auto"
) -> Tuple[List[float], List[float], float, str]:
    """reads/s samples, ProbeStats.cpu samples, psutil's CPU of the probe over the window,
    and the scheduling policy the probe got."""
    probe: Optional[GilProbe] = None
    target: Optional[Target] = None
    try:
        probe = start_probe(rate_hz, scheduling)
        target = Target(python, script, 2, FOREVER)
        probe.watch(target.pid)
        wait_ready(probe, [target.pid])
        target.go()
        time.sleep(1.0)  # warm-up: the first stats of the target cover its verification
        proc = probe_process()
        t0, c0 = time.monotonic(), cpu_s(proc) if proc is not None else 0.0
        reads: List[float] = []
        cpu: List[float] = []
        while time.monotonic() - t0 < sample_s:
            time.sleep(0.5)
            probe.drain()
            known = probe.target(target.pid)
            if known is None or known.state != "ready":
                raise RuntimeError(f"probe on {target.pid}: {known}")
            reads.append(known.reads_per_s)
            cpu.append(probe.stats().cpu)
        whole = (cpu_s(proc) - c0) / (time.monotonic() - t0) if proc is not None else float("nan")
        return reads, cpu, whole, probe.stats().scheduling
    finally:
        if probe is not None:
            probe.stop()
        if target is not None:
            target.kill()


def section_rate(
    python: str, script: str, rates: Sequence[int], sample_s: float, policies: Sequence[str]
) -> None:
    print(
        f"\n## 1. probe read rate and CPU · target: 2-thread countdown on {python} · "
        f"1 s warm-up, then {sample_s:g} s sampled every 0.5 s"
    )
    print(
        f"{'rate asked':>10} {'policy':<12} {'reads/s per process, median [min–max]':<40} "
        f"{'probe CPU (ProbeStats), cores':<36} psutil cores over the window"
    )
    for rate in rates:
        for policy in policies:
            try:
                reads, cpu, whole, got = measure_rate(python, script, rate, sample_s, policy)
            except RuntimeError as e:
                print(f"{rate:>10} {policy:<12} FAILED: {e}", flush=True)
                continue
            print(
                f"{rate:>10} {got:<12} {summarize(reads).fmt('.0f'):<40} "
                f"{summarize(cpu).fmt('.3f'):<36} {whole:.3f}",
                flush=True,
            )


# -- 2. slowdown --------------------------------------------------------------------------------
# layout ("threads" or "processes"), and how it is observed ("": unobserved, no probe; "old",
# "new": the probe the old way or the new, see make_probe)
Variant = Tuple[str, str]
OBSERVED = ("", *WAYS)
VARIANTS: List[Variant] = [(layout, w) for layout in ("threads", "processes") for w in OBSERVED]


class Countdown(NamedTuple):
    wall_s: float  # the target's own time; two processes: the mean of theirs
    reads: List[float]  # observed: ProbeTarget.reads_per_s, every 0.5 s from 1 s after go
    cpu: List[float]  # observed: ProbeStats.cpu, at the same moments
    cores: Optional[float]  # observed: psutil's CPU of the probe from go to the first exit


def run_countdown(python: str, script: str, layout: str, total: int, way: str) -> Countdown:
    """One countdown, unobserved (``way`` "": no probe at all) or observed."""
    half = total // 2
    probe: Optional[GilProbe] = None
    proc: Optional[psutil.Process] = None
    targets: List[Target] = []
    reads: List[float] = []
    cpu: List[float] = []
    cores: Optional[float] = None
    try:
        if layout == "threads":
            targets.append(Target(python, script, 2, half))
        else:
            targets += [Target(python, script, 1, half), Target(python, script, 1, half)]
        pids = [t.pid for t in targets]
        if way:
            probe = start_probe(DEFAULT_RATE_HZ, "auto", way)
            for pid in pids:
                probe.watch(pid)
            wait_ready(probe, pids)
            proc = probe_process()
        c0 = cpu_s(proc) if proc is not None else 0.0
        for t in targets:
            t.go()
        started = time.monotonic()
        deadline = started + RUN_TIMEOUT_S
        # The probe's figures cover its last half second, and need two of its stats
        # messages (~1 s after it started): sampled from 1 s after go, every 0.5 s.
        next_sample = started + 1.0
        while not all(t.done() for t in targets):
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"the countdown took over {RUN_TIMEOUT_S:.0f} s")
            if any(t.done() for t in targets):
                if proc is not None and cores is None:
                    cores = (cpu_s(proc) - c0) / (now - started)
            elif probe is not None and now >= next_sample:
                next_sample += 0.5
                stats = probe.stats()
                cpu.append(stats.cpu)
                reads += [stats.targets[pid].reads_per_s for pid in pids]
            if probe is not None:
                probe.drain()
            time.sleep(0.02)
        if proc is not None and cores is None:
            cores = (cpu_s(proc) - c0) / (time.monotonic() - started)
        walls = [t.wall_s() for t in targets]
        return Countdown(statistics.mean(walls), reads, cpu, cores)
    finally:
        if probe is not None:
            probe.stop()
        for t in targets:
            t.kill()


def section_slowdown(python: str, script: str, total: int, reps: int) -> None:
    print(
        f"\n## 2. target slowdown · countdown N={total:,} in total on {python} · probe the "
        f"old way ({DEFAULT_RATE_HZ}/s per process, GIL only) and the new (as often as the "
        f"GIL changes hands, with waits), scheduling auto · {reps} reps, variants rotated"
    )
    print("#   threads: one process, 2 threads × N/2 · processes: 2 processes × 1 thread × N/2")
    walls: Dict[Variant, List[float]] = {v: [] for v in VARIANTS}
    reads: Dict[Variant, List[float]] = {v: [] for v in VARIANTS}
    cpu: Dict[Variant, List[float]] = {v: [] for v in VARIANTS}
    cores: Dict[Variant, List[float]] = {v: [] for v in VARIANTS}
    ratios: Dict[Variant, List[float]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        got: Dict[Variant, float] = {}
        for v in rotate(rep, VARIANTS):
            layout, way = v
            try:
                run = run_countdown(python, script, layout, total, way)
            except RuntimeError as e:
                print(f"rep {rep + 1} {layout} {way or 'unobserved'}: FAILED {e}", flush=True)
                continue
            got[v] = run.wall_s
            walls[v].append(run.wall_s)
            reads[v] += run.reads
            cpu[v] += run.cpu
            if run.cores is not None:
                cores[v].append(run.cores)
        line = f"rep {rep + 1}"
        for v in VARIANTS:
            un, ob = got.get((v[0], "")), got.get(v)
            if v[1] and un is not None and ob is not None:
                ratios[v].append(ob / un)
                line += f"  {v[0]}/{v[1]}: {ob / un:.3f}×"
        print(line, flush=True)
    print(
        f"\n{'layout':<10} {'probe':<11} {'wall s, median [min–max]':<32} {'of medians':<11} "
        f"per-rep ratio observed/unobserved"
    )
    for v in VARIANTS:
        bare, seen = summarize(walls[(v[0], "")]), summarize(walls[v])
        of_medians = seen.median / bare.median if bare.n and seen.n else float("nan")
        ratio = f"{of_medians:<11.3f} {summarize(ratios[v]).fmt()}" if v[1] else ""
        print(f"{v[0]:<10} {v[1] or 'none':<11} {seen.fmt():<32} {ratio}")
    print("probe while observing (samples every 0.5 s from 1 s after go; psutil: per run)")
    for v in VARIANTS:
        if v[1]:
            print(
                f"  {v[0]:<10} {v[1]:<7} reads/s per process {summarize(reads[v]).fmt('.0f')} · "
                f"ProbeStats.cpu {summarize(cpu[v]).fmt('.3f')} · "
                f"psutil {summarize(cores[v]).fmt('.3f')} cores"
            )


# -- 3. agreement per version ----------------------------------------------------------------
def run_cli(python: str, count: int) -> Dict[str, Any]:
    argv = [sys.executable, "-m", "gilscope", "--scenario", "threads", "--count", str(count)]
    argv += ["--python", python, "--headless", "--seconds", "60"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"gilscope exited {done.returncode}: {done.stderr.strip()[-300:]}")
    doc: Dict[str, Any] = json.loads(done.stdout)
    return doc


class VersionFigures:
    def __init__(self) -> None:
        self.share_err_pp: List[float] = []  # per thread and run
        self.bias_pp: List[float] = []  # per thread and run, probe − reference (signed)
        self.split_err_pp: List[float] = []  # the same with the free time split evenly
        self.handoff_err_pct: List[float] = []  # per run
        self.free_pct: List[float] = []  # per run: 1 − Σ probe shares
        self.ref_sum: List[float] = []  # per run: Σ reference shares
        self.reads: List[float] = []
        self.cpu: List[float] = []
        self.wall: List[float] = []
        self.failures: List[str] = []

    def add(self, doc: Dict[str, Any]) -> str:
        """Fold in one report; returns a one-line summary of it."""
        if doc.get("state") != "done" or doc.get("source") != "probe":
            note = (
                f"state {doc.get('state')}, source {doc.get('source')}, "
                f"probe {doc['probe'].get('state')} {doc['probe'].get('note') or ''}".strip()
            )
            self.failures.append(note)
            return f"NOT COMPARED ({note})"
        threads = [
            t
            for proc in doc["processes"]
            for t in proc["threads"]
            if t["gil_share"] is not None and t["gil_share_reference"] is not None
        ]
        errs = [abs(t["gil_share"] - t["gil_share_reference"]) * 100 for t in threads]
        self.share_err_pp += errs
        self.bias_pp += [(t["gil_share"] - t["gil_share_reference"]) * 100 for t in threads]
        ref_handoffs = sum(t["handoffs_reference"] or 0 for t in threads)
        probe_handoffs = doc["probe"]["handoffs"]
        handoff_err = float("nan")
        if ref_handoffs and probe_handoffs is not None:
            handoff_err = abs(probe_handoffs - ref_handoffs) / ref_handoffs * 100
            self.handoff_err_pct.append(handoff_err)
        free = (1 - sum(t["gil_share"] for t in threads)) * 100
        ref_sum = sum(t["gil_share_reference"] for t in threads)
        self.split_err_pp += [
            abs(t["gil_share"] * 100 + free / len(threads) - t["gil_share_reference"] * 100)
            for t in threads
        ]
        self.free_pct.append(free)
        self.ref_sum.append(ref_sum)
        if doc["probe"]["reads_per_s"] is not None:
            self.reads.append(doc["probe"]["reads_per_s"])
        if doc["probe"]["cpu"] is not None:
            self.cpu.append(doc["probe"]["cpu"])
        if doc["wall_s"] is not None:
            self.wall.append(doc["wall_s"])
        return (
            f"wall {doc['wall_s']:.2f} s · share err {max(errs, default=float('nan')):.2f} pp "
            f"max · hand-offs probe {probe_handoffs} vs reference {ref_handoffs} "
            f"({handoff_err:.2f} %) · GIL free {free:.2f} % · Σ reference {ref_sum:.4f}"
        )


def full_version(python: str) -> Optional[str]:
    """``3.14.10``: what the interpreter says it is (None if it does not run)."""
    ask = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        done = subprocess.run([python, "-I", "-S", "-c", ask], capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def interpreters(minors: Optional[Sequence[str]]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """(version, path) of each interpreter section 3 compares, and the ones not here.

    pyenv's 3.9-3.13 and /opt/sidpy's 3.14 and 3.15; ``minors`` (``--versions``) keeps only
    those, e.g. ``3.14,3.15``."""
    present: List[Tuple[str, str]] = []
    missing: List[str] = []
    candidates = [(v, f"{PYENV}/{v}/bin/python") for v in VERSIONS]
    candidates += [(m, f"{SIDPY}/python{m}") for m in SIDPY_MINORS]
    for label, python in candidates:
        if minors is not None and ".".join(label.split(".")[:2]) not in minors:
            continue
        version = full_version(python) if os.access(python, os.X_OK) else None
        if version is None:
            missing.append(label)
        else:
            present.append((version, python))
    known = {".".join(label.split(".")[:2]) for label, _ in candidates}
    missing += [m for m in minors or () if m not in known]
    return present, missing


def section_versions(count: int, reps: int, minors: Optional[Sequence[str]]) -> None:
    present, missing = interpreters(minors)
    print(
        f"\n## 3. probe vs the workers' exact report, per CPython · gilscope --scenario threads "
        f"--count {count:,} --headless · {reps} reps, versions rotated"
        + (f" · missing, skipped: {', '.join(missing)}" if missing else "")
    )
    figures: Dict[str, VersionFigures] = {v: VersionFigures() for v, _ in present}
    for rep in range(reps):
        for version, python in rotate(rep, present):
            try:
                note = figures[version].add(run_cli(python, count))
            except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                figures[version].failures.append(str(e))
                note = f"FAILED: {e}"
            print(f"rep {rep + 1} {version:<8} {note}", flush=True)
    print(
        f"\n{'version':<8} {'runs':>4}  {'share err pp med/max':<21} "
        f"{'bias pp (probe−ref)':<20} {'err pp, free split':<19} "
        f"{'hand-off err % med/max':<23} "
        f"{'GIL free % (probe)':<19} {'Σ ref shares':<13} {'reads/s':>8} {'CPU':>6} {'wall s':>7}"
    )
    for version, _ in present:
        f = figures[version]
        share, hand = summarize(f.share_err_pp), summarize(f.handoff_err_pct)
        split = summarize(f.split_err_pp)
        print(
            f"{version:<8} {len(f.wall):>4}  {f'{share.median:.2f} / {share.high:.2f}':<21} "
            f"{summarize(f.bias_pp).median:<+20.2f} "
            f"{f'{split.median:.2f} / {split.high:.2f}':<19} "
            f"{f'{hand.median:.2f} / {hand.high:.2f}':<23} "
            f"{summarize(f.free_pct).median:<19.2f} {summarize(f.ref_sum).median:<13.4f} "
            f"{summarize(f.reads).median:>8.0f} {summarize(f.cpu).median:>6.3f} "
            f"{summarize(f.wall).median:>7.2f}"
        )
        for failure in f.failures:
            print(f"    {version}: {failure}")
    print(
        "#   share err: |gil_share − gil_share_reference| over every thread and run; bias: its "
        "signed median.\n#   GIL free: 1 − Σ probe shares (hand-off gaps the reference splits "
        "between the threads);\n#   err pp, free split: the share error (median / max) once that "
        "free time is added evenly to the probe's threads."
    )


# -- 4. GIL slices ----------------------------------------------------------------------------
def collect_changes(python: str, script: str, total: int) -> Tuple[int, List[GilChange], int]:
    """The target's pid, every change the probe sent for it, and its switch interval (µs)."""
    probe: Optional[GilProbe] = None
    target: Optional[Target] = None
    changes: List[GilChange] = []
    try:
        probe = start_probe(DEFAULT_RATE_HZ)
        target = Target(python, script, 2, total // 2)
        probe.watch(target.pid)
        wait_ready(probe, [target.pid])
        target.go()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not target.done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the countdown took over {RUN_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
            changes += probe.drain()
        target.wall_s()
        end = time.monotonic() + 2.0  # the probe notices the exit and flushes its last reads
        while time.monotonic() < end:
            known = probe.target(target.pid)
            if known is None or known.state != "ready":
                break
            time.sleep(0.02)
        time.sleep(0.05)
        changes += probe.drain()
        known = probe.target(target.pid)
        interval = known.interval_us if known is not None else 0
        pid = target.pid
        return pid, [c for c in changes if c.pid == pid], interval
    finally:
        if probe is not None:
            probe.stop()
        if target is not None:
            target.kill()


def runs_of(changes: Sequence[GilChange]) -> List[Tuple[int, int, int, int]]:
    """(tid, start, end, index of its ending record): consecutive same-tid records merged."""
    out: List[Tuple[int, int, int, int]] = []
    tid: Optional[int] = None
    start = 0
    for i, c in enumerate(changes):
        if c.tid != tid:
            if tid is not None:
                out.append((tid, start, c.t_ns, i))
            tid, start = c.tid, c.t_ns
    return out  # the last run has no end


def section_slices(python: str, script: str, total: int) -> None:
    print(
        f"\n## 4. GIL slices seen by the probe · 2-thread countdown N={total:,} in total on "
        f"{python} · probe at {DEFAULT_RATE_HZ}/s"
    )
    try:
        pid, changes, interval_us = collect_changes(python, script, total)
    except RuntimeError as e:
        print(f"FAILED: {e}")
        return
    changes = sorted(changes, key=lambda c: c.t_ns)
    runs = runs_of(changes)[1:]  # the first began before the probe's first read
    workers = [r for r in runs if r[0] > 0 and r[0] != pid]
    main_runs = sum(1 for r in runs if r[0] == pid)
    idle = [r for r in runs if r[0] == 0]
    if len(workers) < 2:
        print(f"too few slices: {len(workers)} from {len(changes)} records")
        return
    slices = [(end - start) / 1e6 for _, start, end, _ in workers]
    p10, p90 = percentile_10_90(slices)
    print(
        f"records {len(changes)} · switch interval (probe) {interval_us / 1000:g} ms · "
        f"worker slices n={len(slices)}"
    )
    print(
        f"slice ms: median {statistics.median(slices):.3f} · p10 {p10:.3f} · p90 {p90:.3f} · "
        f"mean {statistics.mean(slices):.3f} · min {min(slices):.3f} · max {max(slices):.3f}"
    )
    # The workers' span: from the first worker slice's start to the last one's end.
    first_t, last_t = workers[0][1], workers[-1][2]
    span = [c for c in changes if first_t <= c.t_ns <= last_t]
    switches = span[-1].switches - span[0].switches
    seconds = (span[-1].t_ns - span[0].t_ns) / 1e9
    seen = sum(1 for a, b in zip(span, span[1:]) if a.tid != b.tid and a.tid > 0 and b.tid > 0)
    seen_via_free = sum(
        1
        for a, b, c in zip(span, span[1:], span[2:])
        if b.tid == 0 and a.tid > 0 and c.tid > 0 and a.tid != c.tid
    )
    print(
        f"hand-offs/s (switch counter): {switches / seconds:.1f} ({switches} over {seconds:.2f} s)"
        f" · the probe saw {seen + seen_via_free} of them as a change of holder "
        f"({(seen + seen_via_free) / switches:.1%}; {seen_via_free} through a free read)"
        if switches and seconds > 0
        else "hand-offs/s: no switches counted"
    )
    free_ms = [(end - start) / 1e6 for _, start, end, _ in idle]
    if free_ms:
        print(
            f"GIL-free runs seen: n={len(free_ms)}, median {statistics.median(free_ms):.3f} ms · "
            f"main-thread runs left out: {main_runs}"
        )
    else:
        print(f"no GIL-free run seen · main-thread runs left out: {main_runs}")


# -- 0: the wake-up floor -------------------------------------------------------------------
WAKE_LOOP = """
import os, sys, time
period, seconds = 1 / float(sys.argv[1]), float(sys.argv[2])
t0 = os.times(); n = 0; end = time.monotonic() + seconds
while time.monotonic() < end:
    time.sleep(period); n += 1
t1 = os.times()
print((t1.user + t1.system - t0.user - t0.system) / n, n / seconds)
"""

PREAD_LOOP = """
import os, sys, time
pid, n = int(sys.argv[1]), 200_000
fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
with open(f"/proc/{pid}/maps") as f:
    addr = int(f.readline().split("-")[0], 16)
t0 = os.times()
for _ in range(n):
    os.pread(fd, 32, addr)
t1 = os.times()
print((t1.user + t1.system - t0.user - t0.system) / n)
"""


def section_wake_floor(python: str, seconds: float) -> None:
    print(f"\n## 0. wake-up floor: a bare time.sleep(1/{DEFAULT_RATE_HZ}) loop, no reads")
    out = subprocess.run(
        [python, "-c", WAKE_LOOP, str(DEFAULT_RATE_HZ), str(seconds)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    per_wake, wakes = float(out[0]), float(out[1])
    cores = per_wake * wakes
    print(
        f"{per_wake * 1e6:.1f} µs CPU per wake-up · {wakes:,.0f} wake-ups/s · "
        f"{cores:.3f} core = {cores / (os.cpu_count() or 1):.1%} of this machine's "
        f"{os.cpu_count()} cores"
    )
    sleeper = subprocess.Popen([python, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        out = subprocess.run(
            [python, "-c", PREAD_LOOP, str(sleeper.pid)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
    finally:
        sleeper.kill()
        sleeper.wait()
    print(f"{float(out[0]) * 1e6:.2f} µs CPU per 32-byte pread of /proc/PID/mem", flush=True)


# -- 5. the holder against the threads' own fine stamps, per scheduling policy ---------------
# the same target as the probe's integration test: its threads stamp every 30-50 µs
FINE_STAMPS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fine_stamps_target.py"
)
STAMP_POLICIES = ("auto", "short-slice", "normal")


def stamped_run(python: str, tmp: str, policy: str) -> Tuple[float, float, float, float, str]:
    """(agree %, hand-off dating error median and p90 in µs, reads/s, policy in use)."""
    out = os.path.join(tmp, "stamps.json")
    probe = start_probe(DEFAULT_RATE_HZ, policy)
    target = subprocess.Popen([python, FINE_STAMPS, out, "3"], stdin=subprocess.PIPE)
    changes: List[GilChange] = []
    rates: List[float] = []
    try:
        probe.watch(target.pid)
        wait_ready(probe, [target.pid])
        assert target.stdin is not None
        target.stdin.write(b"go\n")
        target.stdin.close()
        while target.poll() is None:
            changes += probe.drain()
            info = probe.target(target.pid)
            if info is not None and info.reads_per_s:
                rates.append(info.reads_per_s)
            time.sleep(0.05)
        time.sleep(0.1)
        changes += probe.drain()
        in_use = probe.stats().scheduling
    finally:
        target.kill()
        target.wait()
        probe.stop()
    with open(out) as f:
        stamps = sorted((t, int(tid)) for tid, ts in json.load(f).items() for t in ts)
    mine = [c for c in changes if c.pid == target.pid]
    times = [c.t_ns for c in mine]
    agree = certain = 0
    errors: List[float] = []
    for (t1, tid1), (t2, tid2) in zip(stamps, stamps[1:]):
        if t2 - t1 > 300_000:
            continue  # descheduled: not certain
        if tid1 == tid2:
            certain += 1
            i = bisect.bisect_right(times, (t1 + t2) // 2) - 1
            agree += i >= 0 and mine[i].tid == tid1
        else:  # a hand-off within ~0.3 ms: the probe's change to tid2 nearest to it
            near = [c.t_ns for c in mine[max(0, bisect.bisect_left(times, t1) - 2) :][:8]
                    if c.tid == tid2]  # fmt: skip
            if near:
                truth = (t1 + t2) // 2
                errors.append(min(near, key=lambda t: abs(t - truth)) - truth)
    abs_err = sorted(abs(e) / 1e3 for e in errors) or [float("nan")]
    p90 = abs_err[int(0.9 * (len(abs_err) - 1))]
    rate = statistics.median(rates) if rates else float("nan")
    return 100 * agree / max(1, certain), statistics.median(abs_err), p90, rate, in_use


def section_stamps(python: str, reps: int) -> None:
    print(
        f"\n## 5. holder vs the threads' own stamps (every ~2,000 iterations) on {python} · "
        f"probe at {DEFAULT_RATE_HZ}/s · {reps} reps, policies rotated"
    )
    print("#   agree: share of certain moments (two stamps of one thread ≤ 0.3 ms apart, none")
    print("#   of the other between) where the probe names that thread · dating error: the")
    print("#   probe's hand-off time − the middle of old thread's last / new one's first stamp")
    got: Dict[str, List[Tuple[float, float, float, float, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="gilscope-bench-stamps-") as tmp:
        for rep in range(reps):
            for policy in rotate(rep, list(STAMP_POLICIES)):
                try:
                    r = stamped_run(python, tmp, policy)
                except (RuntimeError, OSError, ValueError) as e:
                    print(f"rep {rep + 1} {policy}: FAILED {e}", flush=True)
                    continue
                got.setdefault(policy, []).append(r)
                print(
                    f"rep {rep + 1} {policy:<11} ({r[4]}): agree {r[0]:.2f} % · dating error "
                    f"median {r[1]:.0f} µs, p90 {r[2]:.0f} µs · {r[3]:,.0f} reads/s",
                    flush=True,
                )
    print(f"\n{'policy':<12} {'agree %':<24} {'dating |error| median µs':<28} p90 µs")
    for policy in STAMP_POLICIES:
        rs = got.get(policy, [])
        print(
            f"{policy:<12} {summarize([r[0] for r in rs]).fmt('.2f'):<24} "
            f"{summarize([r[1] for r in rs]).fmt('.0f'):<28} "
            f"{summarize([r[2] for r in rs]).fmt('.0f')}"
        )


# -- 6. agreement, old way and new --------------------------------------------------------------
def run_session(spec: WorkloadSpec, way: str) -> Dict[str, Any]:
    """gilscope's own workers, observed headless by a probe made the ``way`` asked."""
    original = session_module.__dict__["GilProbe"]
    setattr(session_module, "GilProbe", lambda rate_hz: make_probe(way))  # noqa: B010
    try:
        session = Session(spec)
        try:
            return run_headless(session, RUN_TIMEOUT_S)
        finally:
            session.close()
    finally:
        setattr(session_module, "GilProbe", original)  # noqa: B010


def convoy_line(doc: Dict[str, Any]) -> str:
    """The countdown's and the responder's hand-offs and mean holds against the report."""
    threads = {t["name"]: t for p in doc["processes"] for t in p["threads"]}
    out = []
    for name in ("cpu-countdown", "io-responder"):
        t = threads[name]
        n = round(t["handoffs_per_s"] * doc["observed_s"])
        out.append(
            f"{name} hand-offs {n}/{t['handoffs_reference']} "
            f"({(n / max(t['handoffs_reference'], 1) - 1) * 100:+.1f} %), mean hold "
            f"{t['mean_hold_ms']:.3f}/{t['mean_hold_ms_reference']:.3f} ms"
        )
    return " · ".join(out) + f" · reads/s {doc['probe']['reads_per_s']} cpu {doc['probe']['cpu']}"


def section_agreement(python: str, count: int, convoy_count: int, reps: int) -> None:
    print(
        f"\n## 6. agreement, the old way and the new · threads ×2 N={count:,} and convoy "
        f"N={convoy_count:,} on {python} · {reps} runs per way, ways rotated · probe / report"
    )
    figures = {way: VersionFigures() for way in WAYS}
    for rep in range(reps):
        for way in rotate(rep, list(WAYS)):
            spec = WorkloadSpec(Scenario.THREADS, count, 2, python)
            print(f"rep {rep + 1} {way:<4} threads: {figures[way].add(run_session(spec, way))}")
            spec = WorkloadSpec(Scenario.CONVOY, convoy_count, 2, python)
            print(f"rep {rep + 1} {way:<4} convoy: {convoy_line(run_session(spec, way))}")
            sys.stdout.flush()
    print(
        f"\n{'way':<5} {'share err pp, median [min–max]':<34} {'hand-off err %':<30} "
        f"{'reads/s per process':<30} probe CPU cores"
    )
    for way in WAYS:
        f = figures[way]
        print(
            f"{way:<5} {summarize(f.share_err_pp).fmt('.2f'):<34} "
            f"{summarize(f.handoff_err_pct).fmt('.2f'):<30} "
            f"{summarize(f.reads).fmt('.0f'):<30} {summarize(f.cpu).fmt('.3f')}"
        )


# -- 7. waits per version ----------------------------------------------------------------------
def run_cli_doc(python: str, *args: str) -> Dict[str, Any]:
    argv = [sys.executable, "-m", "gilscope", *args, "--python", python]
    argv += ["--headless", "--seconds", "60"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"gilscope exited {done.returncode}: {done.stderr.strip()[-300:]}")
    doc: Dict[str, Any] = json.loads(done.stdout)
    return doc


def wait_line(doc: Dict[str, Any], name: str) -> str:
    t = next(t for p in doc["processes"] for t in p["threads"] if t["name"] == name)
    waits = round(t["waits_per_s"] * doc["observed_s"])

    def ms(x: Optional[float]) -> str:
        return "–" if x is None else f"{x:.2f}"

    return (
        f"{name}: wait share {t['wait_share']:.4f}/{t['wait_share_reference']:.4f} "
        f"({(t['wait_share'] - t['wait_share_reference']) * 100:+.2f} pp) · p50 "
        f"{ms(t['wait_p50_ms'])}/{ms(t['wait_p50_ms_reference'])} ms · p99 "
        f"{ms(t['wait_p99_ms'])}/{ms(t['wait_p99_ms_reference'])} ms · waits "
        f"{waits}/{t['waits_reference']} · run queue {t['runq_share']:.4f}"
    )


def section_waits(count: int, io_count: int, python: str, minors: Optional[Sequence[str]]) -> None:
    found, skipped = interpreters(minors)
    print(
        f"\n## 7. waits for the GIL · convoy N={count:,} (and N=1,000: the responder alone) "
        f"per CPython · io ×2 of {io_count:,} round trips on {python} · probe / report"
    )
    for note in skipped:
        print(f"# skipped: {note}")
    for version, path in found:
        for n in (count, 1_000):
            try:
                doc = run_cli_doc(path, "--scenario", "convoy", "--count", str(n))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"{version} convoy N={n:,}: FAILED {e}", flush=True)
                continue
            lat = doc["latency"] or {}
            print(
                f"{version:<8} N={n:<11,} {wait_line(doc, 'io-responder')} · latency p50 "
                f"{lat.get('alone', {}).get('p50_ms')} → {lat.get('with_cpu', {}).get('p50_ms')}"
                f" ms · {convoy_line(doc) if n > 1_000 else ''}",
                flush=True,
            )
    try:
        doc = run_cli_doc(python, "--scenario", "io", "--count", str(io_count), "--threads", "2")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"io: FAILED {e}")
        return
    for t in (t for p in doc["processes"] for t in p["threads"]):
        n = round(t["handoffs_per_s"] * doc["observed_s"])
        err = (n / max(t["handoffs_reference"], 1) - 1) * 100
        print(
            f"io ×2 {t['name']}: hand-offs {n}/{t['handoffs_reference']} ({err:+.1f} %) · "
            f"{wait_line(doc, t['name'])}"
        )


# -- main -------------------------------------------------------------------------------------
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer reps (2 and 1), shorter runs")
    p.add_argument("--python", default=sys.executable, help="targets' interpreter (1, 2, 4)")
    p.add_argument("--high-rates", action="store_true", help="1: also 10,000 and 20,000/s")
    p.add_argument("--rates", default="", help="1: these rates instead (comma-separated)")
    p.add_argument(
        "--policies", default="auto", help="1: scheduling policies, e.g. fifo,normal (auto)"
    )
    p.add_argument("--sample-s", type=float, default=0.0, help="0, 1: seconds (default 3)")
    p.add_argument("--count", type=int, default=100_000_000, help="2: total N (default 100M)")
    p.add_argument("--reps", type=int, default=0, help="2: repetitions (default 5)")
    p.add_argument("--cli-count", type=int, default=200_000_000, help="3: N (default 200M)")
    p.add_argument("--cli-reps", type=int, default=0, help="3: runs per version (default 3)")
    p.add_argument(
        "--versions", default="", help="3: only these minor versions, e.g. 3.14,3.15 (all found)"
    )
    p.add_argument("--slice-count", type=int, default=200_000_000, help="4: total N (200M)")
    p.add_argument("--stamp-reps", type=int, default=0, help="5: runs per policy (default 3)")
    p.add_argument("--agree-count", type=int, default=100_000_000, help="6: threads N (100M)")
    p.add_argument("--agree-reps", type=int, default=0, help="6: runs per way (default 3)")
    p.add_argument("--convoy-count", type=int, default=50_000_000, help="6, 7: convoy N (50M)")
    p.add_argument("--io-count", type=int, default=2_000, help="7: io round trips (2,000)")
    p.add_argument("--sections", default="0,1,2,3,4,5,6,7", help="comma-separated subset of 0–7")
    args = p.parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    reps = args.reps or (2 if args.quick else 5)
    cli_reps = args.cli_reps or (1 if args.quick else 3)
    sample_s = args.sample_s or (2.0 if args.quick else 3.0)
    python = check_python(args.python)
    rates = [DEFAULT_RATE_HZ] + (list(HIGH_RATES) if args.high_rates else [])
    if args.rates:
        rates = [int(r) for r in args.rates.split(",")]
    policies = [x.strip() for x in args.policies.split(",") if x.strip()]

    header("bench_probe: the GIL probe's rate, CPU, cost to the target and agreement")
    with tempfile.TemporaryDirectory(prefix="gilscope-bench-probe-") as tmp:
        script = os.path.join(tmp, "countdown_target.py")
        with open(script, "w") as f:
            f.write(TARGET)
        if "0" in sections:
            section_wake_floor(python, sample_s)
        if "1" in sections:
            section_rate(python, script, rates, sample_s, policies)
        if "2" in sections:
            section_slowdown(python, script, args.count, reps)
        if "3" in sections:
            minors = [v.strip() for v in args.versions.split(",") if v.strip()] or None
            section_versions(args.cli_count, cli_reps, minors)
        if "4" in sections:
            section_slices(python, script, args.slice_count)
        if "5" in sections:
            section_stamps(python, args.stamp_reps or (1 if args.quick else 3))
        if "6" in sections:
            agree_reps = args.agree_reps or (1 if args.quick else 3)
            section_agreement(python, args.agree_count, args.convoy_count, agree_reps)
        if "7" in sections:
            minors = [v.strip() for v in args.versions.split(",") if v.strip()] or None
            section_waits(args.convoy_count, args.io_count, python, minors)
    print()
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
