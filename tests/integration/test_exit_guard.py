"""After a signal, gilscope ends within its deadline even if a shutdown step hangs: the
guard, in a real process whose shutdown never finishes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from gilscope.exit_guard import ExitGuard
    stop = threading.Event()
    guard = ExitGuard(stop, lambda: 143, lambda: print("cleaned up", flush=True), 0.5)
    stop.set()  # as SIGTERM's handler does
    if sys.argv[1] == "hang":
        threading.Event().wait()  # a shutdown step that never returns
    guard.done()
    time.sleep(1.0)  # past the deadline: a finished shutdown is not cut short
    print("exited on its own", flush=True)
    """
)


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=30
    )


def test_a_hung_shutdown_is_ended_with_the_signals_code_and_its_stacks() -> None:
    proc = run("hang")  # would time out without the guard
    assert proc.returncode == 143, proc
    assert proc.stdout == "cleaned up\n"
    first, *rest = proc.stderr.splitlines()
    assert first == (
        "gilscope: shutdown did not finish within 0.5 s; ending anyway. Its threads were:"
    )
    assert any("in <module>" in line for line in rest), proc.stderr  # where it hung


def test_a_finished_shutdown_is_left_alone() -> None:
    proc = run("done")
    assert proc.returncode == 0, proc
    assert proc.stdout == "exited on its own\n"
    assert proc.stderr == ""
