"""Run the real live view in a pseudo-terminal, as a user at a terminal does."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Dict, List, Optional, Tuple

from tests.cli_run import ROOT


def start_in_pty(
    *args: str,
    rows: int = 30,
    cols: int = 100,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[str] = None,
) -> Tuple[subprocess.Popen[bytes], int, List[bytes]]:
    """``python -m gilscope ARGS`` on a ``cols``×``rows`` pty: (process, the pty's master
    end, everything it wrote so far). ``env`` is added to ours, TERM=xterm-256color."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    # Not CI (Textual would not animate), nor COLUMNS/LINES: they override the terminal's
    # own size, and pytest-xdist's workers set them to 80×24.
    for name in ("CI", "COLUMNS", "LINES"):
        full_env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gilscope", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        cwd=cwd or ROOT,
        start_new_session=True,  # its own controlling terminal, like a real login
        close_fds=True,
    )
    os.close(slave)
    screen: List[bytes] = []

    def drain() -> None:  # keep the pty from filling up and blocking the app
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.append(data)

    threading.Thread(target=drain, daemon=True).start()
    return proc, master, screen


CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")  # cursor moves and colours


def wait_for_output(screen: List[bytes], text: bytes, timeout_s: float = 30.0) -> None:
    """Until ``text`` has appeared on the terminal (escape sequences aside)."""
    deadline = time.monotonic() + timeout_s
    while text not in CSI.sub(b"", b"".join(screen)):
        if time.monotonic() > deadline:
            tail = b"".join(screen)[-500:]
            raise AssertionError(f"{text!r} never appeared; the terminal's last bytes: {tail!r}")
        time.sleep(0.05)
