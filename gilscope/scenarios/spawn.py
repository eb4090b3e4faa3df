"""Spawning children that cannot outlive gilscope, and reaping them.

Every child (workers and py-spy) gets PR_SET_PDEATHSIG=SIGKILL, so the kernel kills it if
gilscope dies without cleaning up (SIGKILL, a crash in C). The death signal fires when the
*thread* that forked exits, so spawn only from threads that live as long as the session.
Everything spawned is also kept in a registry that ``reap_all`` empties on any orderly exit.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, List, Optional

_PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_children: List[subprocess.Popen[Any]] = []


def _resolve_prctl() -> Optional[Callable[[], None]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    # Resolved before any fork: the child only makes one foreign call, then execs.
    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_death_signal


_set_death_signal = _resolve_prctl()


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a child that dies with us; it is reaped by ``reap_all`` at exit."""
    proc: subprocess.Popen[Any] = subprocess.Popen(
        list(argv), preexec_fn=_set_death_signal, close_fds=True, **kwargs
    )
    with _lock:
        _children[:] = [c for c in _children if c.poll() is None]
        _children.append(proc)
    return proc


def reap(procs: Sequence[subprocess.Popen[Any]], grace_s: float = 0.5) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL whatever is left; always waits."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in live:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(p, signal.SIGKILL)
    for p in live:
        try:
            p.wait(1.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL'ed, should be instant
            pass
    for p in procs:
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def reap_all(grace_s: float = 0.5) -> None:
    """Stop every child gilscope started that is still alive."""
    with _lock:
        procs = list(_children)
        _children.clear()
    reap(procs, grace_s)


def live_children() -> List[int]:
    with _lock:
        return [p.pid for p in _children if p.poll() is None]


def _signal(p: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except ProcessLookupError:
        pass
