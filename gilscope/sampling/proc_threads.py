"""From /proc: whether a process still runs, and a thread's identity (when it started,
what the kernel calls it)."""

from __future__ import annotations

import os
import time
from typing import Dict, Optional, Tuple


def process_alive(pid: int) -> bool:
    """Neither gone nor a zombie (py-spy cannot attach to one, the probe cannot read it).
    Where /proc cannot tell, whether a signal could reach it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state not in ([b"Z"], [b"X"], [])


class ThreadNames:
    """(start, name) of threads as /proc tells them, for the thread registry.

    Before CPython 3.14 every thread of a Python process carries the process's own name
    (``python3.11``), which says nothing: such a thread is ``thread TID`` until py-spy
    names it. Its start time (clock ticks since boot) tells a reused tid from its old one.
    """

    def __init__(self) -> None:
        self._process_names: Dict[int, str] = {}

    def identify(self, pid: int, tid: int) -> Tuple[int, str]:
        stat = _stat(pid, tid)
        if stat is None:
            return 0, f"thread {tid}"  # gone already: it ran, and that is all we know
        comm, start = stat
        if tid == pid:
            self._process_names[pid] = comm
            return start, "MainThread"
        process = self._process_names.get(pid)
        if process is None:
            main = _stat(pid, pid)
            process = self._process_names[pid] = main[0] if main is not None else ""
        return start, f"thread {tid}" if not comm or comm == process else comm

    def forget(self, pid: int) -> None:
        self._process_names.pop(pid, None)


def _stat(pid: int, tid: int) -> Optional[Tuple[str, int]]:
    """(comm, start time) from /proc/PID/task/TID/stat."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    try:
        return head.partition("(")[2], int(fields[19])  # field 22: starttime
    except (IndexError, ValueError):
        return None


def ticks_to_monotonic_ns(ticks: int) -> int:
    """A /proc start time (clock ticks since boot, suspended time included: the origin of
    CLOCK_BOOTTIME) on ``time.monotonic_ns()``'s clock; rounded down, so up to a tick
    early, never late."""
    since_boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - time.monotonic_ns()
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK") - since_boot
