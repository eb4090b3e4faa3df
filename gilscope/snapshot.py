"""What a view gets ten times a second: one frozen ``Snapshot`` of an observation.

Made by the session's collector thread, read by the TUI and the headless report; nothing in
it changes after it is made, except the live ``Timeline`` it carries for the lanes' cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from gilscope.model.metrics import LatencyFigures, RunRecord
from gilscope.model.probe_ledger import ProbeStatus
from gilscope.model.threads import LaneInfo
from gilscope.model.timeline import LaneKey, Timeline
from gilscope.sampling.target import LogLine
from gilscope.scenarios.workload import RunState, WorkloadSpec

__all__ = [
    "EarlierRelay",
    "LaneInfo",
    "ProbeStatus",
    "PySpyStatus",
    "Snapshot",
    "StackRow",
    "ThreadRow",
]


@dataclass(frozen=True)
class ThreadRow:
    """One row of the thread table: a lane (a thread, or a family sharing a lane)."""

    key: LaneKey
    name: str
    tid: int
    pid: int
    gil_share: Optional[float]  # exact, from the probe or the beacons; None: no GIL
    gil_share_pyspy: Optional[float]  # py-spy's complete windows
    cpu: float  # over the same window as gil_share
    function: str  # where py-spy last saw it holding the GIL
    handoffs_per_s: float
    mean_hold_ms: float
    gil_share_reference: Optional[float] = None  # the workers' own report, if the probe draws
    wait_share: Optional[float] = None  # waiting for the GIL; None: no GIL
    wait_p50_ms: Optional[float] = None  # lengths of the waits that ended; None: none did
    wait_p99_ms: Optional[float] = None
    members: int = 1  # threads drawn in this lane
    shared: bool = False  # a family's lane, not one thread's


@dataclass(frozen=True)
class StackRow:
    thread: str
    frames: Tuple[str, ...]  # innermost first
    share: Optional[float]  # from complete py-spy windows only; None before the first


@dataclass(frozen=True)
class PySpyStatus:
    available: bool
    rate_hz: Optional[float]  # achieved, all of a process's overlapping windows together
    agreement_pp: Optional[float]  # mean |py-spy share - exact share| over recent windows
    windows: int
    # what sampled the stacks: "py-spy", or "profiler" (the target interpreter's own,
    # where py-spy cannot read it: CPython 3.15+)
    source: str = "py-spy"
    problem: str = ""  # one line: why there are no stacks at all (py-spy cannot read it)


@dataclass(frozen=True)
class EarlierRelay:
    """A finished step of a comparison across interpreters (GIL vs free-threaded), kept to
    be drawn above the run after it, replayed in step with it from its own start."""

    title: str  # 'threads ×2 (GIL) · py3.11.7 · 0.90 s'
    lanes: Tuple[LaneInfo, ...]
    timeline: Timeline = field(compare=False, repr=False)
    start_ns: int  # its first hand-off (or first time on a CPU)
    end_ns: int  # its last


@dataclass(frozen=True)
class Snapshot:
    """Everything a view needs for one frame, frozen."""

    now_ns: int
    spec: WorkloadSpec
    state: RunState
    error: str
    elapsed_s: float
    wall_s: Optional[float]
    lanes: Tuple[LaneInfo, ...]
    batons: Tuple[LaneKey, ...]
    threads: Tuple[ThreadRow, ...]
    cores: Tuple[float, ...]
    core_history: Tuple[Tuple[float, ...], ...]  # per core, oldest first
    stacks: Tuple[StackRow, ...]
    pyspy: PySpyStatus
    results: Tuple[RunRecord, ...]
    # The live timeline these figures came from: views query it for whatever zoom they
    # show. Carried here so a view can never pair one run's snapshot with another's lanes.
    timeline: Timeline = field(default_factory=Timeline, compare=False, repr=False)
    problems: Tuple[str, ...] = field(default=())  # every problem so far, oldest first
    latency: Optional[LatencyFigures] = None  # convoy: the responder's latency so far
    python_version: str = ""  # of the workers' interpreter, once they announced themselves
    gil: Optional[bool] = None  # whether the workers run with a GIL; None: not known yet
    # attach / run: what is observed, its output, and where the GIL figures come from
    target: str = ""  # what is observed, for the header: "attach 4242 · python serve.py"
    target_kind: str = ""  # "attach" or "run"; "" for gilscope's own workloads
    log: Tuple[LogLine, ...] = ()
    exit_code: Optional[int] = None
    # "probe": read from the process's memory; "beacons": the workers' own report (probe
    # off or failed); "py-spy": sampled windows (a target the probe cannot read); "cpu": no
    # GIL at all (a free-threaded build): the lanes are each thread's time on a CPU
    gil_source: str = "beacons"
    probe: ProbeStatus = field(default_factory=lambda: ProbeStatus("off"))
    plan: Tuple[int, int] = (0, 0)  # a guided comparison: (this run's step, steps); (0, 0): none
    other_cpu: Optional[float] = None  # cores busy with processes gilscope does not observe
    replay: str = ""  # a recording played back: "REPLAY 0:12/1:30 ×2" (empty: live)
    processes: int = 0  # processes observed (ended ones included)
    processes_live: int = 0  # of those, the ones still running
    # gilscope's own runs: how long this one should take on idle cores (from the workers'
    # calibration; None: not a countdown, or not known yet), and how long it has run
    expected_s: Optional[float] = None
    run_s: Optional[float] = None  # since the workers' "go"; None before it
    earlier: Tuple[EarlierRelay, ...] = ()  # a comparison across interpreters: steps done
