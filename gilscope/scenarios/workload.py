"""The three seed scenarios as child processes gilscope owns.

sequential: one process counts N.  threads: one process, K threads counting N/K each.
processes: K processes counting N/K each. Every worker announces itself on the beacon board;
when all are ready the parent says "go" to all at once, so the wall time covers the counting
and not interpreter start-up.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from gilscope.children import reap, spawn
from gilscope.sampling.report import (
    STATE_DONE,
    STATE_EMPTY,
    BeaconReader,
    WorkerInfo,
    create_board,
)

COUNTDOWN_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "countdown.py")
READY_TIMEOUT_S = 20.0
MAX_WORKERS = 64  # K: more threads or processes than this tells nothing new on any machine


class Scenario(str, enum.Enum):
    SEQUENTIAL = "sequential"
    THREADS = "threads"
    PROCESSES = "processes"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class WorkloadSpec:
    scenario: Scenario = Scenario.THREADS
    count: int = 50_000_000
    workers: int = 2  # K: threads or processes
    python: str = sys.executable

    @property
    def slots(self) -> int:
        return 1 if self.scenario is Scenario.SEQUENTIAL else self.workers

    def describe(self) -> str:
        k = "" if self.scenario is Scenario.SEQUENTIAL else f" ×{self.workers}"
        return f"{self.scenario}{k} · N={self.count:,}"


class RunState(str, enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerLane:
    """Which board slot belongs to which process, and what to call it."""

    slot: int
    process_index: int
    name: str


class Workload:
    """One run of one scenario: its children, its beacon board, its wall time."""

    def __init__(self, spec: WorkloadSpec, board_path: str) -> None:
        self.spec = spec
        self.board_path = board_path
        self.state = RunState.STARTING
        self.error = ""
        self.wall_s: Optional[float] = None
        self.procs: List[subprocess.Popen[Any]] = []
        self.lanes: List[WorkerLane] = []
        self.reader: Optional[BeaconReader] = None
        self._started_at = 0.0

    def start(self) -> None:
        spec = self.spec
        create_board(self.board_path, spec.slots)
        self.reader = BeaconReader(self.board_path, spec.slots)
        if spec.scenario is Scenario.PROCESSES:
            counts = [spec.count // spec.workers] * spec.workers
            counts[0] += spec.count - sum(counts)
            layout: List[Tuple[int, int, int]] = [(i, 0, c) for i, c in enumerate(counts)]
        elif spec.scenario is Scenario.THREADS:
            layout = [(0, spec.workers, spec.count)]
        else:
            layout = [(0, 0, spec.count)]
        for index, (slot, threads, count) in enumerate(layout):
            argv = [
                spec.python, COUNTDOWN_SCRIPT, "--board", self.board_path, "--slot", str(slot),
                "--threads", str(threads), "--count", str(count), "--parent", str(os.getpid()),
            ]  # fmt: skip
            self.procs.append(
                spawn(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            for i in range(max(threads, 1)):
                self.lanes.append(WorkerLane(slot + i, index, f"countdown-{slot + i}"))
        self._started_at = time.monotonic()

    def infos(self) -> List[WorkerInfo]:
        if self.reader is None:
            return []
        return [self.reader.info(i) for i in range(self.spec.slots)]

    def poll(self) -> RunState:
        """Advance the run: say go when all are ready, note the end, notice failures."""
        if self.state in (RunState.DONE, RunState.FAILED, RunState.STOPPED):
            return self.state
        infos = self.infos()
        if self.state is RunState.STARTING:
            if all(i.state != STATE_EMPTY for i in infos):
                self._go()
            elif time.monotonic() - self._started_at > READY_TIMEOUT_S:
                self._fail(f"workers did not start within {READY_TIMEOUT_S:.0f} s")
                return self.state
        if infos and all(i.state == STATE_DONE for i in infos):
            self.wall_s = (max(i.end_ns for i in infos) - min(i.start_ns for i in infos)) / 1e9
            self.state = RunState.DONE
            reap(self.procs, grace_s=2.0)  # they are exiting: collect them, no zombies
            return self.state
        for p in self.procs:
            code = p.poll()
            # Exiting at all before "go" is a failure too (e.g. --python /bin/true).
            if code is not None and (code != 0 or self.state is RunState.STARTING):
                self._fail(f"worker pid {p.pid} exited with code {code}{self._stderr(p)}")
                break
        return self.state

    def _go(self) -> None:
        for p in self.procs:
            try:
                assert p.stdin is not None
                p.stdin.write(b"go\n")
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        self.state = RunState.RUNNING

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = RunState.FAILED
        reap(self.procs, grace_s=0.2)

    @staticmethod
    def _stderr(p: subprocess.Popen[Any]) -> str:
        if p.stderr is None:
            return ""
        try:
            os.set_blocking(p.stderr.fileno(), False)
            text = (p.stderr.read() or b"").decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        last = text.splitlines()[-1] if text else ""
        return f": {last[:200]}" if last else ""

    @property
    def pids(self) -> List[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        if self.state in (RunState.STARTING, RunState.RUNNING):
            self.state = RunState.STOPPED
        reap(self.procs, grace_s=0.3)
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        try:
            os.unlink(self.board_path)
        except OSError:
            pass
