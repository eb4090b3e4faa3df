"""Every Python process of an observed tree, from its start to its end.

``gilscope run`` and ``attach`` follow the Python descendants of their target as they start:
multiprocessing's workers (fork, spawn, forkserver), a ``ProcessPoolExecutor``, a prefork
server's workers, ``subprocess`` of another Python. A thread of its own lists the tree from
/proc every ``SCAN_S`` (this kernel has no ``/proc/PID/task/TID/children``, so it reads
every process's parent: ~0.5 ms for ~100 processes) and identifies each new process once:
a Python one is followed; anything else (a shell in between, ``sleep``) is skipped, but the
tree is walked through it, so its Python children are found.

Two moments of a new process would mislead: a fork that is about to exec still looks
exactly like its parent, and a process that execs becomes another program under the same
pid (a pyenv shim becomes Python; multiprocessing's spawn child becomes a fresh
interpreter). So a process that looks like its parent is identified only once it is
``FORK_SETTLES_S`` old (a fork that execs does so at once; multiprocessing's fork workers
and prefork servers never do), and a command line that changes means the process is
identified again.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from gilscope.sampling.supervisor import descendants, process_parents, read_stat
from gilscope.sampling.target import (
    NoProcessError,
    NotPythonError,
    TargetError,
    TargetInfo,
    inspect_pid,
    process_cmdline,
)

SCAN_S = 0.1
FORK_SETTLES_S = 0.05
FULL_CMDLINE_CHARS = 400  # for the JSON (TargetInfo.cmdline is short, for the header)
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class FollowedProcess:
    """A Python process of the tree, as it was when it was identified."""

    pid: int
    parent: int
    cmdline: str
    info: TargetInfo


@dataclass
class TreeChanges:
    # (True, p): p started (or exec'd Python); (False, p): p ended, or exec'd something
    # that is not Python. In the order they were seen: a pid can end and start again.
    events: List[Tuple[bool, FollowedProcess]] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)  # Python we may not or cannot follow


class ProcessFollower:
    """The Python processes of one tree; ``take`` says what changed since it was last
    called. ``root``: the command or the attached process, always followed; ``children``:
    its descendants too; ``below``: where the tree hangs (``run``: the supervisor, so that
    orphans re-parented to it are found; default ``root``)."""

    def __init__(
        self,
        root: int,
        children: bool = True,
        below: Optional[int] = None,
        root_info: Optional[TargetInfo] = None,
    ) -> None:
        self.root = root
        self.children = children
        self.below = below if below is not None else root
        # pid -> (its command line when identified, the process if it is followed)
        self._seen: Dict[int, Tuple[Tuple[str, ...], Optional[FollowedProcess]]] = {}
        self._lock = threading.Lock()
        self._changes = TreeChanges()
        self._found = 0  # Python processes followed so far
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if root_info is not None:
            self._follow(root, _parent(root), tuple(process_cmdline(root)), root_info)

    @property
    def found(self) -> int:
        return self._found

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gilscope-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def take(self) -> TreeChanges:
        with self._lock:
            changes, self._changes = self._changes, TreeChanges()
        return changes

    def _run(self) -> None:
        while not self._stop.wait(SCAN_S):
            try:
                self.scan()
            except OSError:
                pass  # /proc changed under us: the next scan sees it settled

    def scan(self) -> None:
        """One look at the tree: new Python processes, ended ones, exec'd ones."""
        parents = process_parents() if self.children else {}
        tree = [self.root]
        if self.children:
            # gilscope itself could be in the tree (attached to its own ancestor): never
            # follow it or what it started.
            below = descendants(self.below, parents, skip=(os.getpid(),))
            tree += [p for p in below if p != self.root]
        live = set()
        for pid in tree:
            stat = read_stat(pid)
            if stat is None or stat[0] in "ZX":
                continue  # ended: its command line is gone too
            live.add(pid)
            cmdline = tuple(process_cmdline(pid))
            seen = self._seen.get(pid)
            # An empty command line is a process on its way out (its memory is gone before
            # it is a zombie), not one that exec'd.
            if seen is not None and (seen[0] == cmdline or not cmdline):
                continue
            if seen is not None:
                self._end(pid)  # it exec'd: identified afresh below
            parent = parents.get(pid, stat[1])
            new_child = seen is None and pid != self.root
            if new_child and _fork_in_progress(pid, parent, cmdline, stat[2]):
                continue
            self._identify(pid, parent, cmdline)
        for pid in [p for p in self._seen if p not in live]:
            self._end(pid)

    def _identify(self, pid: int, parent: int, cmdline: Tuple[str, ...]) -> None:
        try:
            info = inspect_pid(pid)
        except NoProcessError:
            return  # ended meanwhile
        except NotPythonError:
            self._seen[pid] = (cmdline, None)
            return
        except TargetError as e:  # Python we cannot follow (too old, not ours to read)
            self._seen[pid] = (cmdline, None)
            with self._lock:
                self._changes.skipped.append(f"not following PID {pid}: {e}")
            return
        self._follow(pid, parent, cmdline, info)

    def _follow(self, pid: int, parent: int, cmdline: Tuple[str, ...], info: TargetInfo) -> None:
        text = " ".join(cmdline)
        if len(text) > FULL_CMDLINE_CHARS:
            text = text[: FULL_CMDLINE_CHARS - 1] + "…"
        process = FollowedProcess(pid, parent, text, info)
        self._seen[pid] = (cmdline, process)
        self._found += 1
        with self._lock:
            self._changes.events.append((True, process))

    def _end(self, pid: int) -> None:
        _, process = self._seen.pop(pid, ((), None))
        if process is not None:
            with self._lock:
                self._changes.events.append((False, process))


def _parent(pid: int) -> int:
    stat = read_stat(pid)
    return stat[1] if stat is not None else 0


def _fork_in_progress(pid: int, parent: int, cmdline: Tuple[str, ...], start: int) -> bool:
    """A young process that still looks exactly like its parent: it may exec any moment."""
    if not parent or tuple(process_cmdline(parent)) != cmdline:
        return False
    age_s = time.clock_gettime(time.CLOCK_BOOTTIME) - start / _TICKS
    return age_s < FORK_SETTLES_S


__all__ = ["FollowedProcess", "ProcessFollower", "TreeChanges"]
