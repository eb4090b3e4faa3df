"""The scenarios as child processes gilscope owns.

Countdown family, the seeds' loop: sequential (one process counts N), threads (one process,
K threads counting N/K each), processes (K processes counting N/K each). Beyond it: io (K
threads share N loopback round-trips to a slow server), native (K threads hash N MiB) and
convoy (a countdown thread joins an I/O responder that a client keeps busy).

Every worker announces itself on the beacon board; when all are ready the parent says "go"
to all at once, so the wall time covers the work and not interpreter start-up.
"""

from __future__ import annotations

import enum
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence

from gilscope.children import reap, spawn
from gilscope.sampling.report import (
    MAX_SHARE,
    STATE_DONE,
    STATE_EMPTY,
    BeaconReader,
    WorkerInfo,
    create_board,
)

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
READY_TIMEOUT_S = 20.0
MAX_WORKERS = 64  # K: more threads or processes than this tells nothing new on any machine
IO_DELAY_US = 1000  # the io server answers each request 1 ms after it arrives


class Scenario(str, enum.Enum):
    SEQUENTIAL = "sequential"
    THREADS = "threads"
    PROCESSES = "processes"
    IO = "io"
    NATIVE = "native"
    CONVOY = "convoy"

    def __str__(self) -> str:
        return self.value

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self]

    @property
    def explanation_without_gil(self) -> str:
        """The same scenario on a free-threaded build running without its GIL."""
        return NO_GIL_EXPLANATIONS.get(self, EXPLANATIONS[self])

    @property
    def unit(self) -> str:
        """What N counts in this scenario."""
        return {Scenario.IO: "round-trips", Scenario.NATIVE: "MiB hashed"}.get(self, "iterations")

    @property
    def default_count(self) -> int:
        return DEFAULT_COUNTS.get(self, COUNTDOWN_N)

    @property
    def uses_workers(self) -> bool:
        """Whether K means anything here."""
        return self not in (Scenario.SEQUENTIAL, Scenario.CONVOY)


# One line each, short enough for 80 columns after "scenario: ".
EXPLANATIONS: Dict[Scenario, str] = {
    Scenario.SEQUENTIAL: "one thread counts down N: the baseline",
    Scenario.THREADS: "K threads share N: one GIL, so they take turns, no faster",
    Scenario.PROCESSES: "K processes share N: a GIL each, so K cores at once",
    Scenario.IO: "K threads share N round-trips: the GIL is free while they wait",
    Scenario.NATIVE: "K threads hash N MiB: hashlib drops the GIL, so K cores at once",
    Scenario.CONVOY: "a countdown joins an I/O thread after 1 s: replies wait for the baton",
}
# The countdown's default N: about 5 s in two threads on a recent CPython, long enough to
# watch the baton go back and forth before the results arrive (50,000,000, the seeds' N,
# was over in under a second, before a newcomer saw a live frame).
COUNTDOWN_N = 300_000_000
NO_GIL_EXPLANATIONS: Dict[Scenario, str] = {
    Scenario.THREADS: "K threads share N: no GIL here, so K cores at once, like processes",
    Scenario.CONVOY: "a countdown joins an I/O thread after 1 s: no GIL, so no baton to wait for",
}
DEFAULT_COUNTS: Dict[Scenario, int] = {Scenario.IO: 2000, Scenario.NATIVE: 2048}
# Presets for sys.setswitchinterval, in ms: at 100 ms and more an audience can follow each
# hand-off by eye. None: leave the interpreter's default (5 ms).
SWITCH_PRESETS_MS = (0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


@dataclass(frozen=True)
class WorkloadSpec:
    scenario: Scenario = Scenario.THREADS
    count: int = COUNTDOWN_N
    workers: int = 2  # K: threads or processes
    python: str = sys.executable
    switch_ms: Optional[float] = None  # sys.setswitchinterval in the workers; None: default
    # A free-threaded build only: run its workers with -X gil=0 (False) or gil=1 (True);
    # None leaves it to the build and the environment (PYTHON_GIL)
    gil: Optional[bool] = None

    @property
    def interpreter(self) -> List[str]:
        """How the workers' interpreter is started: the binary, and -X gil= if asked."""
        return [self.python] + ([] if self.gil is None else ["-X", f"gil={int(self.gil)}"])

    @property
    def slots(self) -> int:
        if self.scenario is Scenario.SEQUENTIAL:
            return 1
        if self.scenario is Scenario.CONVOY:
            return 3  # countdown, responder, and the client's latencies
        return self.workers

    def describe(self) -> str:
        k = f" ×{self.workers}" if self.scenario.uses_workers else ""
        unit = "" if self.scenario.unit == "iterations" else f" {self.scenario.unit}"
        return f"{self.scenario}{k} N={compact_count(self.count)}{unit}"


def guided_plan(base: WorkloadSpec, count: int, native_mib: int) -> List[WorkloadSpec]:
    """The comparison for a talk, in one go: sequential, threads ×K, processes ×K on the
    same N, then native ×1 and ×K on the same MiB (native's own baseline)."""
    return [
        replace(base, scenario=Scenario.SEQUENTIAL, count=count),
        replace(base, scenario=Scenario.THREADS, count=count),
        replace(base, scenario=Scenario.PROCESSES, count=count),
        replace(base, scenario=Scenario.NATIVE, count=native_mib, workers=1),
        replace(base, scenario=Scenario.NATIVE, count=native_mib),
    ]


def gil_vs_ft_plan(base: WorkloadSpec, gil_python: str, ft_python: str) -> List[WorkloadSpec]:
    """The demo of 2026: the same countdown in K threads on a GIL build, then on a
    free-threaded one without its GIL (whatever PYTHON_GIL says), one after the other."""
    threads = replace(base, scenario=Scenario.THREADS)
    return [
        replace(threads, python=gil_python, gil=None),
        replace(threads, python=ft_python, gil=False),
    ]


def compact_count(n: int) -> str:
    """50,000,000 as '50M'; numbers that do not round nicely keep their digits."""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1e6:g}M"
    return f"{n:,}"


class RunState(str, enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"


TERMINAL = (RunState.DONE, RunState.FAILED, RunState.STOPPED)  # a run that is over


@dataclass(frozen=True)
class WorkerLane:
    """Which board slot belongs to which process, and what to call it."""

    slot: int
    process_index: int
    name: str
    timed: bool = True  # counts toward the wall time (convoy: only the countdown does)


@dataclass(frozen=True)
class _Launch:
    task: str
    slot: int
    threads: int
    count: int
    names: Sequence[str]
    timed: Sequence[bool]


def launches(spec: WorkloadSpec) -> List[_Launch]:
    """The worker processes of a run of ``spec``, and the share of N each one counts."""
    k = spec.workers
    if spec.scenario is Scenario.PROCESSES:
        counts = [spec.count // k] * k
        counts[0] += spec.count - sum(counts)
        return [
            _Launch("countdown", i, 0, c, [f"countdown-{i}"], [True]) for i, c in enumerate(counts)
        ]
    if spec.scenario is Scenario.SEQUENTIAL:
        return [_Launch("countdown", 0, 0, spec.count, ["countdown-0"], [True])]
    if spec.scenario is Scenario.CONVOY:
        names = ["cpu-countdown", "io-responder"]
        return [_Launch("convoy", 0, 2, spec.count, names, [True, False])]
    task = {Scenario.THREADS: "countdown"}.get(spec.scenario, str(spec.scenario))
    return [_Launch(task, 0, k, spec.count, [f"{task}-{i}" for i in range(k)], [True] * k)]


def largest_share(spec: WorkloadSpec) -> int:
    """The largest N one worker thread announces in its report slot: a process splits its
    share between its threads as worker.py does, the first thread taking the remainder.
    Above ``MAX_SHARE`` the slot cannot hold it."""
    shares = []
    for launch in launches(spec):
        threads = max(launch.threads, 1)
        shares.append(launch.count // threads + launch.count % threads)
    return max(shares)


def expected_wall_s(
    spec: WorkloadSpec, lanes: Sequence[WorkerLane], infos: Sequence[WorkerInfo], cores: int
) -> Optional[float]:
    """How long a run of ``spec`` should take on idle cores, from the workers' own
    calibration (``chunk_iters`` iterations of the bare loop took ``chunk_ns``): threads
    under one GIL take turns, so their work adds up; processes, and threads without a GIL,
    run side by side on up to ``cores`` cores. None: not a countdown, or not calibrated."""
    from gilscope.scenarios.worker import CONVOY_BASELINE_S

    serial: Dict[int, float] = {}  # per process with a GIL: its threads' work, one after another
    parallel: List[float] = []  # work that runs beside everything else
    for lane in lanes:
        if not lane.timed or lane.slot >= len(infos):
            continue
        info = infos[lane.slot]
        if info.chunk_iters <= 0 or info.chunk_ns <= 0:
            return None
        # The convoy's one countdown counts all of N (its slot announces a thread's share).
        count = spec.count if spec.scenario is Scenario.CONVOY else info.count
        work = count * info.chunk_ns / info.chunk_iters / 1e9
        if info.gil:
            serial[info.pid] = serial.get(info.pid, 0.0) + work
        else:
            parallel.append(work)
    units = [*serial.values(), *parallel]
    if not units:
        return None
    expected = max(max(units), sum(units) / max(cores, 1))
    if spec.scenario is Scenario.CONVOY:
        expected += CONVOY_BASELINE_S  # the responder runs alone first
    return expected


def share_problem(spec: WorkloadSpec) -> str:
    """Why ``spec``'s N cannot run ("" if it can): a thread's share that its slot cannot hold."""
    share = largest_share(spec)
    if share <= MAX_SHARE:
        return ""
    return (
        f"one thread would get {share:,} {spec.scenario.unit}, and the workers' report holds "
        f"at most {MAX_SHARE:,} per thread"
    )


class Workload:
    """One run of one scenario: its children, its beacon board, its wall time."""

    def __init__(self, spec: WorkloadSpec, board_path: str) -> None:
        self.spec = spec
        self.board_path = board_path
        self.state = RunState.STARTING
        self.error = ""
        self.wall_s: Optional[float] = None
        self.procs: List[subprocess.Popen[Any]] = []  # observed: py-spy and CPU follow these
        self.peers: List[subprocess.Popen[Any]] = []  # loopback server / client: not observed
        self.lanes: List[WorkerLane] = []
        self.latency_slot: Optional[int] = None  # convoy: the client's latencies
        self.reader: Optional[BeaconReader] = None
        self._started_at = 0.0

    def start(self) -> None:
        spec = self.spec
        create_board(self.board_path, spec.slots)
        self.reader = BeaconReader(self.board_path, spec.slots)
        parent = str(os.getpid())
        common = ["--parent", parent, "--board", self.board_path]
        if spec.switch_ms is not None:
            common += ["--switch-interval", f"{spec.switch_ms / 1000:g}"]
        listener: Optional[socket.socket] = None
        extra: List[str] = []
        try:
            if spec.scenario in (Scenario.IO, Scenario.CONVOY):
                # Bound here and inherited, so nobody has to report a port back.
                listener = socket.create_server(("127.0.0.1", 0), backlog=MAX_WORKERS)
                port = str(listener.getsockname()[1])
                fd = str(listener.fileno())
                if spec.scenario is Scenario.IO:
                    server = [*spec.interpreter, WORKER_SCRIPT, "--task", "server"]
                    server += ["--parent", parent]
                    server += ["--listen-fd", fd, "--delay-us", str(IO_DELAY_US)]
                    self.peers.append(self._spawn(server, pass_fds=(listener.fileno(),)))
                    extra = ["--port", port]
                else:
                    extra = ["--listen-fd", fd]
                    self.latency_slot = 2
            for index, launch in enumerate(launches(spec)):
                argv = [*spec.interpreter, WORKER_SCRIPT, "--task", launch.task, *common]
                argv += ["--slot", str(launch.slot), "--threads", str(launch.threads)]
                argv += ["--count", str(launch.count), *extra]
                fds = (listener.fileno(),) if launch.task == "convoy" and listener else ()
                self.procs.append(self._spawn(argv, stdin=subprocess.PIPE, pass_fds=fds))
                for i, (name, timed) in enumerate(zip(launch.names, launch.timed)):
                    self.lanes.append(WorkerLane(launch.slot + i, index, name, timed))
            if self.latency_slot is not None and listener is not None:
                client = [*spec.interpreter, WORKER_SCRIPT, "--task", "client", *common]
                client += ["--slot", str(self.latency_slot), "--port", port]
                self.peers.append(self._spawn(client, stdin=subprocess.PIPE))
        finally:
            if listener is not None:
                listener.close()  # the children hold it now
        self._started_at = time.monotonic()

    @staticmethod
    def _spawn(argv: List[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)

    def infos(self) -> List[WorkerInfo]:
        if self.reader is None:
            return []
        return [self.reader.info(i) for i in range(self.spec.slots)]

    def poll(self, may_go: bool = True) -> RunState:
        """Advance the run: say go when all are ready (and ``may_go``: the observers are
        ready too), note the end, notice failures."""
        if self.state in (RunState.DONE, RunState.FAILED, RunState.STOPPED):
            return self.state
        infos = self.infos()
        if self.state is RunState.STARTING:
            if all(i.state != STATE_EMPTY for i in infos):
                if may_go:
                    self._go()
            elif time.monotonic() - self._started_at > READY_TIMEOUT_S:
                self._fail(f"workers did not start within {READY_TIMEOUT_S:.0f} s")
                return self.state
        if infos and all(i.state == STATE_DONE for i in infos):
            timed = [infos[lane.slot] for lane in self.lanes if lane.timed]
            self.wall_s = (max(i.end_ns for i in timed) - min(i.start_ns for i in timed)) / 1e9
            self.state = RunState.DONE
            reap(self.procs, grace_s=2.0)  # they are exiting: collect them, no zombies
            reap(self.peers, grace_s=0.2)  # the io server would serve for ever
            return self.state
        for p in self.procs + self.peers:
            code = p.poll()
            # Exiting at all before "go" is a failure too (e.g. --python /bin/true).
            if code is not None and (code != 0 or self.state is RunState.STARTING):
                self._fail(f"worker pid {p.pid} exited with code {code}{self._stderr(p)}")
                break
        return self.state

    def _go(self) -> None:
        for p in self.procs + self.peers:
            if p.stdin is None:
                continue
            try:
                p.stdin.write(b"go\n")
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        self.state = RunState.RUNNING

    def _fail(self, message: str) -> None:
        self.error = message
        self.state = RunState.FAILED
        reap(self.procs + self.peers, grace_s=0.2)

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
        reap(self.procs + self.peers, grace_s=0.3)
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        try:
            os.unlink(self.board_path)
        except OSError:
            pass
