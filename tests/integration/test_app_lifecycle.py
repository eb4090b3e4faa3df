"""The real TUI in a pseudo-terminal: every way of leaving it leaves no child behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import psutil
import pytest

from tests.pty_run import start_in_pty, wait_for_output

pytestmark = pytest.mark.integration


def _start_app(
    *args: str, env: Optional[Dict[str, str]] = None
) -> Tuple[subprocess.Popen[bytes], int, List[bytes]]:
    return start_in_pty("--count", "2000000000", *args, env=env)


def _wait_for_children(proc: subprocess.Popen[bytes], want: int = 2) -> List[psutil.Process]:
    """The workers and at least one py-spy, once they exist."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = parent.children(recursive=True)
        names = " ".join(k.name() for k in kids if k.is_running())
        if len(kids) >= want and "py-spy" in names:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"gilscope never started its children: {parent.children()}")


def _gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _assert_all_gone(kids: List[psutil.Process], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not all(_gone(k) for k in kids):
        time.sleep(0.05)
    alive = [k for k in kids if not _gone(k)]
    assert not alive, f"left behind: {alive}"


# How to leave, and the exit code that says how it ended: the keys quit (0); a signal
# stops it (128 + its number, the shell's convention).
QUITS: List[Tuple[str, Callable[[subprocess.Popen[bytes], int], None], int]] = [
    ("q", lambda proc, master: os.write(master, b"q"), 0),
    ("ctrl+c", lambda proc, master: os.write(master, b"\x03"), 0),
    ("SIGTERM", lambda proc, master: proc.send_signal(signal.SIGTERM), 128 + signal.SIGTERM),
    ("SIGHUP", lambda proc, master: proc.send_signal(signal.SIGHUP), 128 + signal.SIGHUP),
    ("SIGINT", lambda proc, master: proc.send_signal(signal.SIGINT), 128 + signal.SIGINT),
]


@pytest.mark.parametrize(("how", "quit_app", "code"), QUITS, ids=[q[0] for q in QUITS])
def test_quitting_stops_every_child(
    how: str, quit_app: Callable[[subprocess.Popen[bytes], int], None], code: int, tmp_path: Path
) -> None:
    proc, master, screen = _start_app("--scenario", "threads", env={"TMPDIR": str(tmp_path)})
    try:
        kids = _wait_for_children(proc)
        deadline = time.monotonic() + 30
        while b"Relay race" not in b"".join(screen) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the UI has drawn
        assert b"Relay race" in b"".join(screen)
        t0 = time.monotonic()
        quit_app(proc, master)
        assert proc.wait(timeout=10) == code
        _assert_all_gone(kids, within_s=max(0.5, 2.0 - (time.monotonic() - t0)) + 1.0)
        assert list(tmp_path.iterdir()) == []  # its scratch folder went with it
        assert b"Traceback" not in b"".join(screen)
        # The terminal is handed back: the alternate screen is left.
        assert b"\x1b[?1049l" in b"".join(screen)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_ssh_drop_terminal_gone_then_sighup() -> None:
    """An SSH session dropping: the terminal disappears, then SIGHUP arrives. Restoring a
    terminal that is gone must not keep gilscope (or anything it started) alive."""
    proc, master, _ = _start_app("--scenario", "threads")
    kids = _wait_for_children(proc)
    time.sleep(0.5)
    os.close(master)  # the far end of the terminal is gone: writes now fail
    time.sleep(4)  # frames keep coming; Textual's writer thread meets the dead terminal
    t0 = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    _assert_all_gone(kids, within_s=2.0 + 1.0)
    try:
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 5


def test_sigkill_of_gilscope_still_kills_its_children() -> None:
    proc, master, _ = _start_app("--scenario", "processes")
    try:
        kids = _wait_for_children(proc, want=3)
        proc.kill()
        proc.wait(timeout=5)
        # No cleanup code ran: the children notice by themselves (PR_SET_PDEATHSIG).
        _assert_all_gone(kids, within_s=3.0)
    finally:
        os.close(master)


def test_keys_sent_at_once_reach_the_settings_dialog() -> None:
    """s, N, tab, K and enter in one write, as a script or a paste sends them."""
    proc, master, screen = _start_app("--scenario", "threads")
    try:
        wait_for_output(screen, b"Relay race")
        os.write(master, b"s13\t5\r")
        wait_for_output(screen, b"N=13 K=5")  # the results' title: the run restarted so
        assert b"whole numbers" not in b"".join(screen)
        os.write(master, b"q")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
