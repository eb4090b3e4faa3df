"""The py-spy sampler on real targets: a countdown, a non-Python process, no process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List

import psutil
import pytest

from gilscope.sampling.pyspy import (
    PERIOD_S,
    WINDOW_S,
    PySpyProblem,
    PySpySampler,
    PySpyWindow,
    find_pyspy,
)
from gilscope.scenarios.workload import RunState, Scenario, Workload, WorkloadSpec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_pyspy() is None, reason="py-spy is not installed"),
]


class Collected:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: List[PySpyWindow] = []
        self.problems: List[PySpyProblem] = []

    def window(self, w: PySpyWindow) -> None:
        with self.lock:
            self.windows.append(w)

    def problem(self, p: PySpyProblem) -> None:
        with self.lock:
            self.problems.append(p)

    def sampler(self, rate_hz: int = 1000) -> PySpySampler:
        return PySpySampler(rate_hz, on_window=self.window, on_problem=self.problem)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_windows_from_a_countdown(tmp_path: Path) -> None:
    w = Workload(WorkloadSpec(Scenario.THREADS, count=10**11, workers=2), str(tmp_path / "b"))
    got = Collected()
    sampler = got.sampler()
    try:
        w.start()
        assert wait_for(lambda: w.poll() is RunState.RUNNING, 30), w.error
        (pid,) = w.pids
        tids = {i.tid for i in w.infos()}
        sampler.start()
        sampler.attach(pid)

        def enough() -> bool:
            with got.lock:
                return sum(1 for x in got.windows if x.complete and x.threads) >= 3

        assert wait_for(enough, 30), (got.windows, got.problems)
    finally:
        sampler.stop()
        w.stop()
    assert got.problems == []
    complete = [x for x in got.windows if x.complete and x.threads]
    for window in complete:
        assert window.pid == pid
        assert window.end_ns > window.start_ns
        # One window samples at half the asked rate; two always overlap.
        rate = window.rate_hz * WINDOW_S / PERIOD_S
        assert 300 < rate < 2_000, rate
        assert {t.tid for t in window.threads} <= tids
        # over the intervals py-spy took and could read: at most one holder in each
        assert 0.3 < sum(t.share for t in window.threads) <= 1.0
        for thread in window.threads:
            assert thread.name.startswith("countdown-")
            assert thread.stacks
            innermost = thread.stacks[0].frames[-1]
            assert innermost.function == "countdown"
            assert innermost.file.endswith("worker.py")
    seen = {t.tid for x in complete for t in x.threads}
    assert seen == tids  # both threads hold the GIL in turn
    assert list(sampler.windows) == got.windows[-len(sampler.windows) :]


def test_settled_once_py_spy_samples_or_cannot(tmp_path: Path) -> None:
    """gilscope's workers wait for this before "go": py-spy has begun to sample the
    process, or it never will (not Python, gone)."""
    python = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.DEVNULL
    )
    other = subprocess.Popen(["sleep", "60"])
    sampler = Collected().sampler()
    try:
        assert not sampler.settled(python.pid)  # nothing attached yet
        sampler.start()
        sampler.attach(python.pid)
        sampler.attach(other.pid)
        assert wait_for(lambda: sampler.settled(python.pid), 30)
        assert wait_for(lambda: sampler.settled(other.pid), 30)
        sampler.detach(python.pid)
        assert not sampler.settled(python.pid)  # a new run waits for its own window
    finally:
        sampler.stop()
        for p in (python, other):
            p.kill()
            p.wait()


def test_a_window_of_an_exited_target_is_landing_until_it_lands() -> None:
    """A report waits for this: py-spy writes a window when it sees its target exit, and
    a short run's only stacks may be in it. A stopped py-spy stands for a slow one (a busy
    machine made a 0.6 s run's report lose its stacks after a fixed 0.3 s)."""
    target = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
    got = Collected()
    sampler = got.sampler()
    stopped: List[psutil.Process] = []
    try:
        sampler.start()
        sampler.attach(target.pid)
        assert wait_for(lambda: sampler.settled(target.pid), 30)
        assert not sampler.landing()  # its target runs: nothing of an exit to wait for
        sampler.detach(target.pid)  # no new windows: the ones running are the ones stopped
        stopped = [p for p in psutil.Process().children() if p.name() == "py-spy"]
        assert stopped
        for p in stopped:
            p.suspend()
        target.kill()
        target.wait()
        time.sleep(0.5)
        assert sampler.landing()
        for p in stopped:
            p.resume()
        assert wait_for(lambda: not sampler.landing(), 30)
        with got.lock:
            landed = [w for w in got.windows if w.pid == target.pid]
        assert landed and landed[-1].threads and not landed[-1].complete, landed
    finally:
        for p in stopped:
            try:
                p.resume()
            except psutil.Error:
                pass
        sampler.stop()
        target.kill()
        target.wait()


def test_a_non_python_process_is_a_problem() -> None:
    target = subprocess.Popen(["sleep", "30"])
    got = Collected()
    sampler = got.sampler()
    try:
        sampler.start()
        sampler.attach(target.pid)
        assert wait_for(lambda: bool(got.problems), 20)
    finally:
        sampler.stop()
        target.kill()
        target.wait()
    (problem,) = got.problems
    assert problem.pid == target.pid
    assert problem.reason == "it is not a CPython process"
    assert "--python" in problem.fix
    assert got.windows == []


def test_a_nonexistent_pid_is_harmless() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    got = Collected()
    sampler = got.sampler()
    try:
        sampler.start()
        sampler.attach(gone.pid)
        time.sleep(2.5)
        assert sampler._thread.is_alive()
        # The target does not exist: no window, no problem to show, and no endless retries.
        assert got.windows == []
        assert got.problems == []
        assert sampler._seq <= 3
    finally:
        t0 = time.monotonic()
        sampler.stop()
        assert time.monotonic() - t0 < 5


def test_without_py_spy_nothing_starts() -> None:
    got = Collected()
    sampler = PySpySampler(1000, executable=None, on_window=got.window, on_problem=got.problem)
    sampler.executable = None  # as if find_pyspy() had found nothing
    assert not sampler.available
    sampler.start()
    sampler.attach(1)
    time.sleep(0.3)
    sampler.stop()
    assert got.windows == [] and got.problems == []
