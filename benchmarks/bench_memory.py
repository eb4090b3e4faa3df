"""gilscope's own memory while it watches threads come and go, and a thousand live ones.

    .venv/bin/python benchmarks/bench_memory.py [--minutes 10] [--quick]

1. ``attach`` to a process that starts RATE short threads a second (each counts ~1 ms and
   ends: a thread-per-request server's shape) for MINUTES, gilscope's RSS every 30 s.
   Goal: under 250 MiB for an hour at 25 threads/s.
2. ``attach`` to a process with 1,000 live threads, each waking every 100 ms to count a
   little, for a minute. Goal: under 400 MiB.

RSS does not depend on how busy the machine is the way times do; it is printed as measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import List

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import footer, header

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPAWNER = os.path.join(ROOT, "tests", "spawner_target.py")
MiB = 1 << 20


def watch(rate: float, live: int, seconds: float, every_s: float) -> List[float]:
    """gilscope's RSS (MiB) every ``every_s`` while attached for ``seconds``."""
    target = subprocess.Popen(
        [sys.executable, SPAWNER, str(rate), str(live)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert target.stdout is not None and target.stdin is not None
    target.stdout.readline()
    observer = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "attach", str(target.pid), "--headless",
         "--seconds", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    rss: List[float] = []
    try:
        me = psutil.Process(observer.pid)
        next_t = time.monotonic()
        while observer.poll() is None:
            try:
                rss.append(me.memory_info().rss / MiB)
            except psutil.Error:
                break
            next_t += every_s
            time.sleep(max(0.0, next_t - time.monotonic()))
    finally:
        observer.wait()
        target.stdin.close()
        target.kill()
        target.wait()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=25.0, help="new threads a second")
    parser.add_argument("--quick", action="store_true", help="one minute, then 30 s")
    args = parser.parse_args()
    minutes = 1.0 if args.quick else args.minutes
    header("bench_memory: gilscope's RSS under thread churn and with 1,000 live threads")
    rss = watch(args.rate, 0, minutes * 60, 30.0 if not args.quick else 10.0)
    threads = int(args.rate * minutes * 60)
    print(f"\n1. attached {minutes:g} min to {args.rate:g} new threads/s ({threads:,} threads):")
    print("   RSS MiB: " + " ".join(f"{r:.0f}" for r in rss))
    print(f"   start {rss[0]:.0f} MiB, end {rss[-1]:.0f} MiB, max {max(rss):.0f} MiB (goal < 250)")
    live = watch(0.0, 1000, 30.0 if args.quick else 60.0, 5.0)
    print("\n2. attached to 1,000 live threads:")
    print("   RSS MiB: " + " ".join(f"{r:.0f}" for r in live))
    print(f"   max {max(live):.0f} MiB (goal < 400)")
    footer()


if __name__ == "__main__":
    main()
