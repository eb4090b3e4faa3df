"""A Python process gilscope observes but did not write: ``attach PID`` or ``run -- cmd``.

Unlike a workload it has no beacon board, so its lanes are its live threads (from /proc)
and its GIL figures come from py-spy. An attached process belongs to the user: gilscope
never signals it. A ``run`` target is gilscope's child and is stopped with gilscope.
"""

from __future__ import annotations

import os
import time
from typing import List, Optional, Sequence, Tuple

from gilscope.sampling.pyspy import process_alive
from gilscope.sampling.target import (
    LogLine,
    ScriptRun,
    TargetError,
    TargetInfo,
    inspect_pid,
    wait_until_python,
)
from gilscope.scenarios.workload import RunState

PYTHON_APPEARS_S = 10.0  # a launcher (pyenv shim, env) may take a moment to exec Python


class ExternalTarget:
    """One attached or launched process; ``poll`` follows it until it exits."""

    def __init__(
        self,
        *,
        pid: Optional[int] = None,
        argv: Optional[Sequence[str]] = None,
        info: Optional[TargetInfo] = None,
    ) -> None:
        if (pid is None) == (argv is None):
            raise ValueError("give a pid to attach to or an argv to run, not both")
        self.kind = "attach" if pid is not None else "run"
        self.argv: Tuple[str, ...] = tuple(argv or ())
        self.info = info
        self.state = RunState.STARTING
        self.error = ""
        self.exit_code: Optional[int] = None
        self.wall_s: Optional[float] = None
        self._pid = pid or 0
        self._script: Optional[ScriptRun] = None
        self._started = 0.0

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def pids(self) -> List[int]:
        return [self._pid] if self._pid and self.state is RunState.RUNNING else []

    def describe(self) -> str:
        if self.kind == "attach":
            what = self.info.cmdline if self.info is not None else ""
            return f"attach {self._pid}" + (f" · {what}" if what else "")
        return "run · " + " ".join(os.path.basename(a) if i == 0 else a for i, a in
                                   enumerate(self.argv))[:80]  # fmt: skip

    def start(self) -> None:
        """Launch the script (``run``) and wait until its process is Python."""
        self._started = time.monotonic()
        if self.kind == "run":
            self._script = ScriptRun(self.argv)  # raises TargetError for a bad command
            self._pid = self._script.pid
            try:
                self.info = wait_until_python(self._pid, PYTHON_APPEARS_S)
            except TargetError as e:
                if self._script.poll() is None:
                    self._fail(str(e))
                    return
                # It ran and exited before we could look: still a result, with its output.
        self.state = RunState.RUNNING
        self.poll()

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

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = RunState.FAILED
        if self._script is not None:
            self._script.stop()

    def lines(self) -> Tuple[LogLine, ...]:
        return self._script.lines() if self._script is not None else ()

    def stop(self) -> None:
        if self.state in (RunState.STARTING, RunState.RUNNING):
            self.state = RunState.STOPPED
        if self._script is not None:
            self._script.stop()  # our child; an attached process is the user's: left alone


__all__ = ["ExternalTarget", "TargetError", "inspect_pid"]
