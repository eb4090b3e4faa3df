"""The countdown worker: the seeds' ``while n > 0: n -= 1``, run in a child process.

Started by path with whatever interpreter the user chose, so it uses the standard library
and gilscope's beacon board only. One process runs one or more countdown threads; each
thread stamps its board slot every ``chunk`` iterations (about once a millisecond).

Protocol with the parent: announce READY in the slot, wait for a line on stdin ("go"), count,
mark DONE, exit. The worker dies with its parent: PR_SET_PDEATHSIG where Linux offers it, and
a parent-pid check about once a second from inside the loop as well.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import time
from typing import Callable, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from gilscope.sampling.report import BeaconWriter

PR_SET_PDEATHSIG = 1


def countdown(n: int, chunk: int, mark: Callable[[], None]) -> None:
    """The seeds' loop, ``while k > 0: k -= 1``, run in chunks with one stamp after each."""
    while n > 0:
        k = chunk if n > chunk else n
        n -= k
        while k > 0:
            k -= 1
        mark()


def warm_up(chunk: int) -> None:
    """Run the loop a few times first: CPython 3.11+ specialises a function's bytecode only
    after several calls, and every scenario should count with the same, warm loop."""
    for _ in range(16):
        countdown(2 * chunk, chunk, lambda: None)


def calibrate_chunk(target_ns: int = 1_000_000) -> tuple[int, int]:
    """Iterations of the bare loop that take about ``target_ns``; fastest of a few tries."""
    best = None
    trial = 100_000
    for _ in range(5):
        n = trial
        t0 = time.perf_counter_ns()
        while n > 0:
            n -= 1
        dt = time.perf_counter_ns() - t0
        best = dt if best is None else min(best, dt)
    assert best is not None
    chunk = max(1_000, trial * target_ns // max(best, 1))
    return chunk, chunk * best // trial


def die_with_parent(parent: int) -> Callable[[], None]:
    """Arrange to die when ``parent`` does; returns the periodic check for the loop."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def check() -> None:
        if os.getppid() != parent:
            os._exit(3)

    check()  # the parent may have gone before prctl took effect
    return check


def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--board", required=True)
    p.add_argument("--slot", type=int, required=True, help="first board slot of this process")
    p.add_argument("--threads", type=int, default=0, help="0: count in the main thread")
    p.add_argument("--count", type=int, required=True, help="total N for this process")
    p.add_argument("--parent", type=int, required=True)
    args = p.parse_args(argv)

    check_parent = die_with_parent(args.parent)
    chunk, chunk_ns = calibrate_chunk()
    warm_up(chunk // 20)
    workers = max(args.threads, 1)
    counts = [args.count // workers] * workers
    counts[0] += args.count - sum(counts)
    writers = [BeaconWriter(args.board, args.slot + i) for i in range(workers)]
    go = threading.Event()

    def run(i: int) -> None:
        w = writers[i]
        w.announce(threading.get_native_id(), threading.get_ident(), chunk_ns, counts[i])
        go.wait()
        mark = w.marker(check_parent)
        w.start()
        countdown(counts[i], chunk, mark)
        w.finish()

    if args.threads == 0:
        writers[0].announce(threading.get_native_id(), threading.get_ident(), chunk_ns, counts[0])
        if sys.stdin.readline().strip() != "go":
            return 2
        mark = writers[0].marker(check_parent)
        writers[0].start()
        countdown(counts[0], chunk, mark)
        writers[0].finish()
        return 0

    threads = [
        # daemon: a worker waiting for "go" must not keep a refused process alive
        threading.Thread(target=run, args=(i,), name=f"countdown-{i}", daemon=True)
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    if sys.stdin.readline().strip() != "go":
        return 2
    go.set()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
