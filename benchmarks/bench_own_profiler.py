"""GIL stacks on CPython 3.15: py-spy against the interpreter's own profiler (Tachyon).

Where py-spy cannot read a target (a build or version it does not know) and the target's
interpreter ships ``profiling.sampling`` (3.15+), gilscope samples it with that instead, in
the same 1 s windows started every 0.5 s at half the rate (``gilscope/sampling/
own_profiler.py``). Both work on Debian's 3.15 here, so they are compared side by side on
one target: two threads counting down for ``--seconds``, with no sampler, with py-spy, and
with the own profiler (py-spy replaced by a stand-in that fails the way py-spy fails on a
build it cannot read), the three rotated across repetitions. Per variant it prints the
achieved rate (all overlapping windows together, as gilscope reports it), the share of
intervals in which a thread held the GIL (two countdown threads: it should be ~100 %), the
CPU of the sampler's processes (every window's process, reaped, over the steady state), and
the target's countdown rate against the run without a sampler.

Run on demand: ``.venv/bin/python benchmarks/bench_own_profiler.py [--quick] [--python
PATH] [--rate HZ]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from _common import footer, header, rotate, summarize

from gilscope.sampling.pyspy import PERIOD_S, WINDOW_S, PySpySampler, PySpyWindow, find_pyspy

PY315 = "/opt/sidpy/root/usr/bin/python3.15"
# Counts down in two threads until stdin closes; prints iterations per second.
TARGET = """
import sys, threading, time
done = [0, 0]
stop = threading.Event()
def work(i):
    while not stop.is_set():
        n = 100_000
        while n > 0:
            n -= 1
        done[i] += 100_000
threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
t0 = time.perf_counter()
for t in threads:
    t.start()
sys.stdin.read()
stop.set()
for t in threads:
    t.join()
print(sum(done) / (time.perf_counter() - t0))
"""
CANNOT_READ = (  # what py-spy 0.4.3 says of a build it cannot read (a free-threaded 3.13t)
    '#!/bin/sh\necho "Error: Failed to find a python interpreter in the .data section" >&2\n'
    "exit 1\n"
)
VARIANTS = ("none", "py-spy", "own profiler")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(python: str, variant: str, rate: int, seconds: float, fake: str) -> Dict[str, float]:
    target = subprocess.Popen(
        [python, "-c", TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    windows: List[PySpyWindow] = []
    lock = threading.Lock()

    def got(w: PySpyWindow) -> None:
        with lock:
            windows.append(w)

    sampler: Optional[PySpySampler] = None
    if variant != "none":
        sampler = PySpySampler(rate, executable=fake if variant == "own profiler" else None,
                               on_window=got)  # fmt: skip
        sampler.start()
        sampler.attach(target.pid)
    time.sleep(2.0)  # warm-up: the stand-in's failure, the fallback, the first windows
    with lock:
        skip = len(windows)
    cpu0, t0 = children_cpu(), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = children_cpu(), time.monotonic()
    if sampler is not None:
        sampler.stop()
    out, _ = target.communicate("", timeout=30)
    with lock:
        steady = [w for w in windows[skip:] if w.complete and w.timed]
    result = {"throughput": float(out.strip()), "cpu": (cpu1 - cpu0) / (t1 - t0)}
    if steady:
        result["rate"] = statistics.median(w.rate_hz * WINDOW_S / PERIOD_S for w in steady)
        result["held"] = statistics.median(sum(t.share for t in w.threads) for w in steady)
        result["source"] = 1.0 if sampler is not None and sampler.source(target.pid) else 0.0
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="2 repetitions of 4 s")
    p.add_argument("--python", default=PY315)
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    reps, seconds = (2, 4.0) if args.quick else (args.reps, args.seconds)
    header(f"py-spy vs the own profiler on {args.python}, {args.rate} Hz asked")
    if find_pyspy() is None:
        sys.exit("py-spy is not installed")
    results: Dict[str, List[Dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        fake = Path(tmp) / "py-spy"
        fake.write_text(CANNOT_READ)
        fake.chmod(0o755)
        for rep in range(reps):
            for variant in rotate(rep, list(VARIANTS)):
                results[variant].append(one(args.python, variant, args.rate, seconds, str(fake)))
    base = summarize([r["throughput"] for r in results["none"]]).median
    print(f"\n{reps} rotated repetitions of {seconds:g} s (after a 2 s warm-up)")
    print(f"{'sampler':<14} {'rate /s':>24} {'GIL held':>8} {'CPU cores':>24} {'target':>8}")
    for v in VARIANTS:
        rs = results[v]
        rate = summarize([r["rate"] for r in rs if "rate" in r])
        held = summarize([r["held"] for r in rs if "held" in r])
        cpu = summarize([r["cpu"] for r in rs])
        speed = summarize([r["throughput"] / base for r in rs]).median
        held_text = f"{held.median * 100:6.1f}%" if held.n else "     –"
        print(f"{v:<14} {rate.fmt('.0f'):>24} {held_text:>8} {cpu.fmt('.3f'):>24} {speed:7.3f}×")
    footer()


if __name__ == "__main__":
    main()
