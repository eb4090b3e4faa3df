"""Refusals before the live view starts, in real processes: one line, exit 2, and nothing
left behind, not even the scratch folder (/tmp/gilscope-PID-*)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

from gilscope.tui.limits import MIN_HEIGHT, MIN_WIDTH
from tests.cli_run import run_gilscope
from tests.pty_run import start_in_pty, wait_for_output

pytestmark = pytest.mark.integration


def refused_in_a_pty(tmp_path: Path, rows: int, cols: int, env: Dict[str, str]) -> bytes:
    """What gilscope wrote to a ``cols``×``rows`` terminal before it exited 2."""
    proc, master, screen = start_in_pty(rows=rows, cols=cols, env={"TMPDIR": str(tmp_path), **env})
    try:
        assert proc.wait(timeout=60) == 2
        wait_for_output(screen, b"gilscope: error: ")
        wait_for_output(screen, b"\n")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return b"".join(screen)


def test_a_terminal_too_small(tmp_path: Path) -> None:
    said = refused_in_a_pty(tmp_path, MIN_HEIGHT - 4, MIN_WIDTH - 20, {})
    line = f"gilscope: error: terminal is {MIN_WIDTH - 20}×{MIN_HEIGHT - 4}; the live view "
    assert said.decode().startswith(line)
    assert b"Traceback" not in said and b"\x1b[" not in said  # no view was drawn
    assert list(tmp_path.iterdir()) == []


def test_term_dumb_is_refused_not_drawn_in_true_colour(tmp_path: Path) -> None:
    said = refused_in_a_pty(tmp_path, 30, 100, {"TERM": "dumb"})
    assert said.decode().startswith(
        "gilscope: error: TERM=dumb: the live view needs a terminal that can move its cursor"
    )
    assert b"\x1b[" not in said  # not one escape sequence
    assert list(tmp_path.iterdir()) == []


def test_no_terminal_leaves_nothing(tmp_path: Path) -> None:
    proc = run_gilscope("--count", "1000", env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "gilscope: error: the live view needs a terminal; use --headless"
    ]
    assert list(tmp_path.iterdir()) == []


def test_attach_without_a_terminal_says_attach(tmp_path: Path) -> None:
    proc = run_gilscope("attach", str(os.getpid()), env={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "gilscope attach: error: the live view needs a terminal; use --headless"
    ]
    assert list(tmp_path.iterdir()) == []


def test_headless_leaves_nothing(tmp_path: Path) -> None:
    proc = run_gilscope(
        "--headless", "--scenario", "sequential", "--count", "1000000", "--seconds", "10",
        env={"TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_states_the_headless_default_of_30_s() -> None:
    proc = run_gilscope("--help")
    assert proc.returncode == 0
    assert "observe for at most S seconds, or until the run ends (default 30)" in " ".join(
        proc.stdout.split()
    )
