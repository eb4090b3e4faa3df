"""``gilscope attach PID`` and ``gilscope run -- cmd`` on real processes, headless, with
the real py-spy: threads get lanes as they start, a target that exits ends the observation
with its status, and bad targets exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List

import psutil
import pytest

from gilscope.scenarios.external import PYTHON_APPEARS_S
from tests.cli_run import ROOT, run_gilscope

pytestmark = pytest.mark.integration


# Starts with one thread, adds a spinning thread after ~0.7 s, exits after ~``life`` s.
TARGET = textwrap.dedent(
    """
    import sys, threading, time
    life = float(sys.argv[1])
    def spin(going):
        n = 0
        while going:  # no call in the loop: every sample of it is in spin
            n += 1
    print("target up", flush=True)
    going = [True]
    time.sleep(0.7)
    threading.Thread(target=spin, args=(going,), name="late-spinner", daemon=True).start()
    print("spinner started", flush=True)
    end = time.monotonic() + life
    while time.monotonic() < end:
        sum(range(1000))
    going.clear()
    print("bye", file=sys.stderr, flush=True)
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    """
)


def gilscope(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = run_gilscope(*args, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def threads_of(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [t for p in doc["processes"] for t in p["threads"]]


def wait_for_line(proc: subprocess.Popen[bytes], line: str, timeout_s: float = 30) -> None:
    """Read ``proc``'s stdout until ``line``: the target has got that far."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = proc.stdout.readline()
        if not got:
            raise AssertionError(f"target ended before printing {line!r}")
        if got.decode().strip() == line:
            return
    raise AssertionError(f"target did not print {line!r} within {timeout_s} s")


def wait_for_pyspy_on(observer: int, pid: int, timeout_s: float = 30) -> None:
    """Until gilscope (``observer``) runs a py-spy on ``pid``: it has attached."""
    parent = psutil.Process(observer)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            try:
                argv = child.cmdline()
            except psutil.Error:
                continue
            if argv and "py-spy" in argv[0] and str(pid) in argv and "record" in argv:
                return
        time.sleep(0.05)
    raise AssertionError(f"gilscope never ran py-spy on {pid}")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "target.py"
    path.write_text(TARGET)
    return path


def test_run_reports_threads_output_and_exit_status(script: Path) -> None:
    proc = gilscope("run", "--headless", "--seconds", "20", "--", sys.executable, str(script),
                    "2.5", "3")  # fmt: skip
    assert proc.returncode == 1  # the script failed (status 3): so does the report
    doc = json.loads(proc.stdout)
    # the GIL probe read the script's GIL from its memory; py-spy gave the stacks
    assert doc["source"] == "probe" and doc["scenario"] == "run", doc["probe"]
    assert doc["state"] == "failed" and doc["exit_code"] == 3
    assert doc["log_tail"] == ["target up", "spinner started", "bye"]
    assert doc["python_version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert 2.5 < doc["wall_s"] < 10
    names = {t["name"] for t in threads_of(doc)}
    assert "late-spinner" in names, names
    spinner = next(t for t in threads_of(doc) if t["name"] == "late-spinner")
    assert spinner["gil_share"] is not None and spinner["gil_share"] > 0.1, spinner
    assert spinner["function"] == "spin"


def test_attach_follows_a_live_process_and_leaves_it_running(script: Path) -> None:
    target = subprocess.Popen(
        [sys.executable, str(script), "60"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        # From here on both threads are busy, so one of them always holds the GIL.
        wait_for_line(target, "spinner started")
        proc = gilscope("attach", str(target.pid), "--headless", "--seconds", "3")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["source"] == "probe" and doc["scenario"] == "attach", doc["probe"]
        assert doc["probe"]["state"] == "ready" and doc["probe"]["handoffs"] > 0
        assert doc["state"] == "running"
        assert doc["target"].startswith(f"attach {target.pid}")
        (process,) = doc["processes"]
        assert process["pid"] == target.pid
        names = [t["name"] for t in process["threads"]]
        assert "late-spinner" in names, names
        shares = [t["gil_share"] for t in process["threads"]]
        assert all(s is not None and 0.0 <= s <= 1.0 for s in shares)
        assert 0.8 < sum(shares) <= 1.05, shares  # two busy threads: someone always holds it
        spinner = next(t for t in process["threads"] if t["name"] == "late-spinner")
        assert spinner["handoffs_per_s"] > 0 and spinner["mean_hold_ms"] > 0  # exact runs
        assert target.poll() is None  # attach never stops the user's process
    finally:
        target.kill()
        target.wait()


def test_attach_to_a_target_that_exits(script: Path) -> None:
    target = subprocess.Popen(
        [sys.executable, str(script), "60"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_line(target, "target up")
        observer = subprocess.Popen(
            [sys.executable, "-m", "gilscope", "attach", str(target.pid), "--headless",
             "--seconds", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for_pyspy_on(observer.pid, target.pid)  # it is observing
            target.terminate()
            t0 = time.monotonic()
            out, err = observer.communicate(timeout=30)
            assert time.monotonic() - t0 < 15  # ended with the target, not at --seconds
        finally:
            observer.kill()
            observer.wait()
        assert observer.returncode == 0, err
        doc = json.loads(out)
        assert doc["state"] == "done"
    finally:
        target.kill()
        target.wait()


def test_bad_targets_exit_2_with_one_line(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        cases = {
            ("attach", "4194304"): "no process with PID 4194304",
            ("attach", str(sleeper.pid)): "not a Python process",
            ("attach", "nope"): "expected a process id",
            ("run", "--", sys.executable, str(tmp_path / "missing.py")): "script not found",
            ("run", "--", "no-such-command-xyz"): "command not found",
            ("run",): "give the command after --",
        }
        for args, message in cases.items():
            proc = gilscope(*args, "--headless") if args[0] == "attach" else gilscope(*args)
            assert proc.returncode == 2, (args, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and message in lines[0], (args, proc.stderr)
            assert proc.stdout == ""
    finally:
        sleeper.kill()
        sleeper.wait()


def test_run_gives_up_on_a_command_that_is_not_python_within_seconds() -> None:
    t0 = time.monotonic()
    proc = gilscope("run", "--headless", "--seconds", "2", "--", "sleep", "30")
    took = time.monotonic() - t0
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["state"] == "failed"
    (problem,) = doc["problems"]
    assert problem.startswith("run · sleep 30: did not run Python within 2 s (PID ")
    assert took < PYTHON_APPEARS_S  # --seconds, not the 10 s a launcher may take in the UI
    pid = int(problem.split("(PID ")[1].split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_run_of_a_command_that_ends_without_python_says_so() -> None:
    proc = gilscope("run", "--headless", "--seconds", "20", "--", "true")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["state"] == "failed" and doc["exit_code"] == 0
    assert doc["problems"] == ["run · true: ended (exit status 0) without running Python"]


def test_run_of_a_python_that_ends_at_once_is_still_a_result() -> None:
    proc = gilscope("run", "--headless", "--seconds", "20", "--", sys.executable, "-c", "print(1)")
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)
    assert doc["state"] == "done" and doc["exit_code"] == 0 and doc["problems"] == []
    assert doc["log_tail"] == ["1"]


def test_attach_refuses_gilscope_itself_and_its_children(tmp_path: Path) -> None:
    # A shell that execs gilscope becomes it: $$ is then gilscope's own PID, and what the
    # shell started before ($!) is gilscope's child.
    gilscope_cmd = f"exec {sys.executable} -m gilscope attach"
    pid_file = tmp_path / "child.pid"
    # (its output elsewhere: it must not hold the pipes we read gilscope's answer from)
    child = f"{sys.executable} -c 'import time; time.sleep(60)' >/dev/null 2>&1 & "
    child += f"echo $! > {pid_file}; "
    cases = {
        f"{gilscope_cmd} $$ --headless": "is this gilscope itself",
        f"{child}{gilscope_cmd} $! --headless": "is a child of this gilscope",
    }
    try:
        for script, says in cases.items():
            proc = subprocess.run(
                ["sh", "-c", script], stdin=subprocess.DEVNULL, capture_output=True,
                text=True, cwd=ROOT, timeout=60,
            )  # fmt: skip
            assert proc.returncode == 2, proc.stderr
            (line,) = proc.stderr.splitlines()
            assert line.startswith("gilscope attach: error: PID ") and says in line, line
            assert proc.stdout == ""
    finally:
        if pid_file.exists():
            psutil.Process(int(pid_file.read_text())).kill()
