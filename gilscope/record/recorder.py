"""The session's side of ``--record FILE``: a frame a second of the current observation."""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from dataclasses import fields
from typing import Any, Dict, List, Optional, Sequence

from gilscope import __version__
from gilscope.model.journal import Journal
from gilscope.observe.observation import Observation
from gilscope.record.recording import RecordingWriter
from gilscope.sampling.target import LogLine
from gilscope.snapshot import Snapshot

# The snapshot's fields a replay cannot work out from the model: kept in every frame
# (the lists only what is new since the frame before).
SCALARS = ("spec", "state", "error", "elapsed_s", "wall_s", "latency", "python_version", "gil",
           "target", "target_kind", "exit_code", "gil_source", "probe", "plan", "other_cpu",
           "processes", "processes_live", "pyspy", "expected_s", "run_s")  # fmt: skip
NEW_ONLY = ("log", "results", "problems")


class Recorder:
    """Writes what the session observes, as it goes: each frame is on disk when written."""

    def __init__(self, path: str, argv: Sequence[str]) -> None:
        self._writer = RecordingWriter(
            path,
            {
                "gilscope": __version__,
                "host": socket.gethostname(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "argv": list(argv),
                "pid": os.getpid(),
                "wall_start": time.time(),
                "monotonic_start": time.monotonic_ns(),
                "cores": os.cpu_count(),
            },
        )
        self._journal: Optional[Journal] = None
        self._observation = 0
        self._begun = False
        self._last_line: Optional[LogLine] = None
        self._session_told: Dict[str, int] = {"results": 0, "problems": 0}

    @property
    def path(self) -> str:
        return self._writer.path

    @property
    def bytes(self) -> int:
        return self._writer.bytes

    def begin(self, observation: Observation) -> None:
        """A new observation (a run, a restart): its model is written from empty."""
        self._journal = Journal()
        observation.record_into(self._journal)
        self._observation += 1
        self._begun = False
        self._last_line = None

    def frame(
        self, observation: Observation, snap: Snapshot, until_ns: Optional[int] = None
    ) -> None:
        """A frame of everything since the last; ``until_ns``: where a report ended."""
        if self._journal is None:
            return
        ops = observation.take_ops(self._journal)
        state: Dict[str, Any] = {name: getattr(snap, name) for name in SCALARS}
        state["log"] = self._new_lines(snap.log)
        for name in ("results", "problems"):
            items: List[Any] = list(getattr(snap, name))
            state[name] = items[self._session_told[name] :]
            self._session_told[name] = len(items)
        state["observation"] = observation.recorded_state()
        frame: Dict[str, Any] = {"t": snap.now_ns, "o": self._observation, "ops": ops, "s": state}
        if not self._begun:
            frame["kind"] = observation.kind or "workload"
            self._begun = True
        if until_ns is not None:
            frame["u"] = until_ns
        self._writer.frame(frame)

    def _new_lines(self, log: Sequence[LogLine]) -> List[LogLine]:
        """The output lines since the last frame (the log keeps only the newest lines, so
        they are found after the last one written, not by count)."""
        last = self._last_line
        start = 0
        if last is not None:
            start = next((i + 1 for i in range(len(log) - 1, -1, -1) if log[i] is last), 0)
        self._last_line = log[-1] if log else last
        return list(log[start:])

    def close(self) -> None:
        self._writer.close()


SNAPSHOT_FIELDS = {f.name for f in fields(Snapshot)}
assert set(SCALARS) | set(NEW_ONLY) <= SNAPSHOT_FIELDS
