"""What each Python thread of a target is doing at one instant, read from /proc without
stopping it: asleep waiting for the GIL, running (or ready to), or blocked in anything else.

``/proc/PID/task/TID/syscall`` names the system call a sleeping thread is in and its first
argument; a thread asleep in futex on a word of the GIL's condition variable (where
self-inspection saw waiters sleep, see ``self_inspect.wait_words``) is waiting for the GIL.
The kernel answers "running" at once for a thread that is not asleep, so a read never waits
for the target. ``/proc/PID/task/TID/status`` counts the times the thread went to sleep
(``voluntary_ctxt_switches``; being preempted is not one). The files stay open and are
re-read with pread.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List

WAITING = 1  # asleep on the GIL's condition variable
RUNNING = 2  # on a CPU or ready to run: the kernel shows no system call it sleeps in
BLOCKED = 3  # asleep in anything else (I/O, a lock, a sleep) or gone
# Threads read per read of the GIL; more than this are read in turn (the others keep the
# state they were last read in). A read costs ~1 µs.
POLL_PER_READ = 32
MAX_TRACKED = 512  # two descriptors each; a target with more threads has the rest unread
SLEEPS = b"\nvoluntary_ctxt_switches:\t"


class ThreadStates:
    """One target's Python threads: their state at each read, and their wake-ups."""

    def __init__(self, pid: int, futex_syscall: int, wait_lo: int, wait_hi: int) -> None:
        self.pid = pid
        self._futex = str(futex_syscall).encode()
        self._lo, self._hi = wait_lo, wait_hi  # the condition variable's words, absolute
        self._fds: Dict[int, int] = {}  # tid -> its syscall file
        self._status_fds: Dict[int, int] = {}  # tid -> its status file
        self.states: Dict[int, int] = {}
        self._order: List[int] = []
        self._turn = 0

    def track(self, tids: Iterable[int]) -> None:
        """The Python threads to read now: new ones are opened, ended ones closed."""
        wanted = set(tids)
        for tid in [t for t in self._fds if t not in wanted]:
            self._drop(tid)
        for tid in wanted:
            if tid not in self._fds and len(self._fds) < MAX_TRACKED:
                self._open(tid)
        self._order = list(self._fds)

    def add(self, tid: int) -> None:
        """A thread met between two listings (a new holder): read it from now on."""
        if tid > 0 and tid not in self._fds and len(self._fds) < MAX_TRACKED and self._open(tid):
            self._order.append(tid)

    def _open(self, tid: int) -> bool:
        try:
            self._fds[tid] = os.open(f"/proc/{self.pid}/task/{tid}/syscall", os.O_RDONLY)
        except OSError:
            return False
        self.states[tid] = BLOCKED
        return True

    def _drop(self, tid: int) -> None:
        for fds in (self._fds, self._status_fds):
            fd = fds.pop(tid, None)
            if fd is not None:
                os.close(fd)
        self.states.pop(tid, None)

    def read(self) -> Dict[int, int]:
        """Each thread's state now (beyond ``POLL_PER_READ`` threads, in turns)."""
        order = self._order
        if len(order) <= POLL_PER_READ:
            chosen = order
        else:
            start = self._turn % len(order)
            chosen = (order + order)[start : start + POLL_PER_READ]
            self._turn = start + POLL_PER_READ
        gone = []
        for tid in chosen:
            try:
                raw = os.pread(self._fds[tid], 64, 0)
            except (OSError, KeyError):
                gone.append(tid)
                continue
            self.states[tid] = self._state(raw)
        for tid in gone:
            self._drop(tid)
        if gone:
            self._order = list(self._fds)
        return self.states

    def _state(self, raw: bytes) -> int:
        if raw[:1] == b"r":  # "running"
            return RUNNING
        fields = raw.split(b" ", 2)
        if fields[0] != self._futex or len(fields) < 2:
            return BLOCKED
        try:
            addr = int(fields[1], 16)
        except ValueError:
            return BLOCKED
        return WAITING if self._lo <= addr < self._hi else BLOCKED

    def sleeps(self, tid: int) -> int:
        """Times ``tid`` went to sleep so far (-1: not known). ~2.5 µs: read only when the
        GIL is free (see ``GilReads``)."""
        fd = self._status_fds.get(tid)
        if fd is None:
            if tid not in self._fds:
                return -1
            try:
                fd = os.open(f"/proc/{self.pid}/task/{tid}/status", os.O_RDONLY)
            except OSError:
                return -1
            self._status_fds[tid] = fd
        try:
            raw = os.pread(fd, 4096, 0)
            at = raw.rindex(SLEEPS) + len(SLEEPS)
            return int(raw[at : raw.index(b"\n", at)])
        except (OSError, ValueError):
            return -1

    def close(self) -> None:
        for tid in list(self._fds):
            self._drop(tid)
