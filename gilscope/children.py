"""Every child gilscope starts (workers and py-spy) is registered here and always reaped.

Orderly exits (q, Ctrl-C, SIGTERM, SIGHUP, a crash that unwinds) call ``reap_all``. For the
disorderly ones (SIGKILL, a crash in C) the children look after themselves: each worker sets
its own PR_SET_PDEATHSIG and checks its parent once a second, and py-spy exits by itself
when its target dies or its 1 s window ends. No ``preexec_fn``: forking a threaded process
to run Python before exec can deadlock, and it would rule out the fast posix_spawn path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Any, List, Sequence

_lock = threading.Lock()
_children: List[subprocess.Popen[Any]] = []


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a child; it is reaped by ``reap_all`` at exit if nobody reaped it before."""
    proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), close_fds=True, **kwargs)
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


def _signal(p: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except ProcessLookupError:
        pass
