"""A Python program gilscope observes but did not write: ``attach PID`` or ``run -- cmd``.

Unlike a workload it has no beacon board: its processes are found in /proc (the target and,
unless ``children`` is off, every Python process below it as it starts), their threads too.
An attached process belongs to the user: gilscope never signals it or its children. A
``run`` command is gilscope's: its supervisor ends its whole tree with it.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from gilscope.sampling.descendants import FollowedProcess, ProcessFollower, TreeChanges
from gilscope.sampling.executables import is_python_executable
from gilscope.sampling.proc_threads import process_alive
from gilscope.sampling.target import (
    LogLine,
    ScriptRun,
    TargetError,
    TargetInfo,
    inspect_pid,
    process_exe,
)
from gilscope.scenarios.workload import RunState

PYTHON_APPEARS_S = 10.0  # a launcher (pyenv shim, env, a shell) may take a moment to start Python


class ExternalTarget:
    """One attached or launched program; ``poll`` follows it until it exits."""

    def __init__(
        self,
        *,
        pid: Optional[int] = None,
        argv: Optional[Sequence[str]] = None,
        info: Optional[TargetInfo] = None,
        children: bool = True,
        python_wait_s: float = PYTHON_APPEARS_S,
    ) -> None:
        """``children``: follow the target's Python descendants too. ``python_wait_s``:
        how long a launched command may take to become Python (headless: no longer than
        ``--seconds``)."""
        if (pid is None) == (argv is None):
            raise ValueError("give a pid to attach to or an argv to run, not both")
        self.kind = "attach" if pid is not None else "run"
        self.argv: Tuple[str, ...] = tuple(argv or ())
        self.info = info
        self.children = children
        self.python_wait_s = python_wait_s
        self.state = RunState.STARTING
        self.error = ""
        self.exit_code: Optional[int] = None
        self.wall_s: Optional[float] = None
        self._pid = pid or 0
        self._script: Optional[ScriptRun] = None
        self._follower: Optional[ProcessFollower] = None
        self._started = 0.0
        # Every Python process followed, in order of discovery, and which still run.
        self.processes: Dict[int, FollowedProcess] = {}
        self._alive: Dict[int, None] = {}

    @property
    def pid(self) -> int:
        """The attached process, or the command's (below its supervisor)."""
        return self._pid

    @property
    def pids(self) -> List[int]:
        return list(self._alive) if self.state is RunState.RUNNING else []

    def observed_pids(self) -> List[int]:
        return list(self.processes)

    def alive(self, pid: int) -> bool:
        return pid in self._alive

    def describe(self) -> str:
        if self.kind == "attach":
            what = self.info.cmdline if self.info is not None else ""
            return f"attach {self._pid}" + (f" · {what}" if what else "")
        return "run · " + " ".join(os.path.basename(a) if i == 0 else a for i, a in
                                   enumerate(self.argv))[:80]  # fmt: skip

    def start(self) -> None:
        """Launch the command (``run``) and wait until a process of it is Python."""
        self._started = time.monotonic()
        if self.kind == "run":
            self._script = ScriptRun(self.argv)  # raises TargetError for a bad command
            self._pid = self._script.pid
            follower = ProcessFollower(self._pid, self.children, self._script.supervisor_pid)
            self._follower = follower
            deadline = self._started + self.python_wait_s
            # A Python that ended at once is gone before we look: its own name says it ran.
            ran_python = is_python_executable(self.argv[0])
            while not follower.found and self._script.poll() is None:
                ran_python = ran_python or is_python_executable(process_exe(self._pid))
                follower.scan()
                if follower.found:
                    break
                if time.monotonic() >= deadline:
                    reason = _not_python(self._pid)
                    self._fail(f"did not run Python within {self.python_wait_s:g} s ({reason})")
                    raise TargetError(self.error)
                time.sleep(0.01)
            if not follower.found and not ran_python:
                self.exit_code = self._script.poll()
                self._fail(f"ended (exit status {self.exit_code}) without running Python")
                raise TargetError(self.error)
            # It may have run Python and exited before we could look: still a result.
        else:
            self._follower = ProcessFollower(self._pid, self.children, root_info=self.info)
        self._follower.start()
        self.state = RunState.RUNNING
        self.poll()

    def changes(self) -> TreeChanges:
        """What started and ended since the last call (the observation adopts them)."""
        if self._follower is None:
            return TreeChanges()
        changes = self._follower.take()
        for started, process in changes.events:
            if not started:
                self._alive.pop(process.pid, None)
                continue
            self.processes[process.pid] = process
            if self.state in (RunState.STARTING, RunState.RUNNING):
                self._alive[process.pid] = None
            if self.info is None or (process.pid == self._pid and self.info.pid != self._pid):
                self.info = process.info  # the header's: the command's own, if it is Python
        return changes

    def poll(self) -> RunState:
        if self.state is not RunState.RUNNING:
            return self.state
        if self._script is not None:
            code = self._script.poll()
            if code is not None:
                self._end(code)
        elif not process_alive(self._pid):
            self._end(None)
        return self.state

    def _end(self, code: Optional[int]) -> None:
        self.exit_code = code
        self.wall_s = time.monotonic() - self._started
        self.state = RunState.DONE if code in (0, None) else RunState.FAILED
        if code not in (0, None):
            self.error = f"exited with status {code}"
        self._stop_following()

    def _stop_following(self) -> None:
        if self._follower is not None:
            self._follower.stop()
        self._alive.clear()

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = RunState.FAILED
        self._stop_following()
        if self._script is not None:
            self._script.stop()

    def lines(self) -> Tuple[LogLine, ...]:
        return self._script.lines() if self._script is not None else ()

    def stop(self) -> None:
        if self.state in (RunState.STARTING, RunState.RUNNING):
            self.state = RunState.STOPPED
        self._stop_following()
        if self._script is not None:
            self._script.stop()  # our child; an attached process is the user's: left alone


def _not_python(pid: int) -> str:
    """Why no Python appeared: the command's own reason where it has one ("PID 42 is
    /usr/bin/sleep, not a Python process")."""
    try:
        inspect_pid(pid)
    except TargetError as e:
        return str(e)
    return f"PID {pid} started no Python process"


__all__ = ["ExternalTarget", "TargetError", "inspect_pid"]
