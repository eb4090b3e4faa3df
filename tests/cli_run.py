"""Run the real command line the way a user does: ``python -m gilscope ARGS``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parents[1]


def run_gilscope(
    *args: str, timeout: float = 60, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """``python -m gilscope ARGS`` with neither stdin nor stdout a terminal; ``env`` is
    added to ours."""
    return subprocess.run(
        [sys.executable, "-m", "gilscope", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
