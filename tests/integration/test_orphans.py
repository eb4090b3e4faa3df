"""Killing gilscope, however it is killed, leaves none of its children running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 4.0


def running(p: psutil.Process) -> bool:
    """Alive and not a zombie: a zombie has exited, only its exit status is left to collect
    (by its parent, or by init once the parent is gone)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_gilscope(tmp_path: Path) -> Tuple[subprocess.Popen[str], List[psutil.Process]]:
    """A headless run that would last long, once its workers, py-spy and the GIL probe
    are all up."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "--headless", "--scenario", "processes",
         "--count", "100000000000", "--seconds", "30"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    children: List[psutil.Process] = []
    while time.monotonic() < deadline:
        try:
            children = [c for c in parent.children(recursive=True) if running(c)]
            cmdlines = [" ".join(c.cmdline()) for c in children]
        except psutil.NoSuchProcess:
            continue
        workers = [c for c in cmdlines if "worker.py" in c]
        spies = [c for c in cmdlines if "py-spy" in c]
        probes = [c for c in cmdlines if "probe_process" in c]
        if len(workers) == 2 and spies and probes:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    else:
        proc.kill()
        proc.communicate()
        pytest.fail("gilscope's workers, py-spy and the probe did not all start")
    time.sleep(0.3)  # let it settle into collecting
    try:
        children = [c for c in parent.children(recursive=True) if running(c)]
    except psutil.NoSuchProcess:
        pass
    return proc, children


def assert_all_gone(children: List[psutil.Process]) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < GONE_WITHIN_S:
        if not any(running(c) for c in children):
            return time.monotonic() - t0
        time.sleep(0.05)
    left = [(c.pid, c.name()) for c in children if running(c)]
    for c in children:
        if running(c):
            c.kill()
    pytest.fail(f"still running {GONE_WITHIN_S} s later: {left}")


def leftovers(tmp_path: Path) -> List[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("gilscope-"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_stops_everything_and_reports_so_far(tmp_path: Path, sig: signal.Signals) -> None:
    proc, children = start_gilscope(tmp_path)
    workers = [c for c in children if "worker.py" in " ".join(c.cmdline())]
    assert len(workers) == 2
    # Counting, well past calibrating and warming up (which take < 0.1 s of CPU): by now
    # gilscope has seen both threads.
    deadline = time.monotonic() + 30
    while min(w.cpu_times().user for w in workers) < 0.5:
        assert time.monotonic() < deadline, "the workers never started counting"
        time.sleep(0.05)
    proc.send_signal(sig)
    assert_all_gone(children)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 128 + sig  # the shell convention for "killed by sig"
    assert "Traceback" not in err, err
    # The observation so far is not lost: the report, marked as interrupted.
    doc = json.loads(out)
    assert doc["state"] == "interrupted" and doc["wall_s"] is None
    assert [len(p["threads"]) for p in doc["processes"]] == [1, 1]
    assert leftovers(tmp_path) == []  # the board and py-spy's scratch files are removed


def test_sigkill_takes_the_children_along(tmp_path: Path) -> None:
    proc, children = start_gilscope(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    assert assert_all_gone(children) < GONE_WITHIN_S


SPIN_FOREVER = "import threading\nwhile True:\n    pass\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_run_target_dies_with_gilscope(tmp_path: Path, sig: signal.Signals) -> None:
    """``gilscope run`` owns its command: it goes when gilscope goes, even by SIGKILL."""
    script = tmp_path / "spin.py"
    script.write_text(SPIN_FOREVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "run", "--headless", "--seconds", "60", "--",
         sys.executable, str(script)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    target: List[psutil.Process] = []
    while time.monotonic() < deadline and not target:
        try:
            target = [
                c for c in parent.children(recursive=True)
                if running(c) and c.cmdline()[-1:] == [str(script)]
                and "-c" not in c.cmdline()  # exec'd: no longer the wrapper
            ]  # fmt: skip
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    assert target, "the script never started"
    time.sleep(1.0)  # py-spy attached, sampling
    proc.send_signal(sig)
    assert_all_gone(target)
    proc.communicate(timeout=10)
