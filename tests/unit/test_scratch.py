"""Scratch dirs of a gilscope that was SIGKILLed are swept by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gilscope.session import sweep_scratch


def test_sweep_removes_only_dead_gilscopes_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"gilscope-{gone.pid}-abc123"
    mine = tmp_path / f"gilscope-{os.getpid()}-def456"
    alive = tmp_path / "gilscope-1-ghi789"  # init: always alive
    other = tmp_path / "gilscope-notapid"
    for d in (dead, mine, alive, other):
        (d / "pyspy-x").mkdir(parents=True)
    sweep_scratch()
    assert not dead.exists()
    assert mine.exists() and alive.exists() and other.exists()
