"""One observed run: the workload, its samplers and the timeline. Shared by TUI and headless.

A collector thread drains the beacon board at 50 Hz, samples CPU at 10 Hz and freezes a
``Snapshot`` ten times a second; py-spy windows arrive from the py-spy sampler's own thread.
Readers call ``snapshot()`` whenever they like (the UI does at its frame rate) and query
``timeline`` for the lane cells of whatever zoom they show.
"""

from __future__ import annotations

import glob
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from gilscope.children import reap_all
from gilscope.model.metrics import LatencyFigures, RunRecord, agreement_pp, latency_figures
from gilscope.model.timeline import LaneKey, Timeline
from gilscope.sampling.cpu import CpuSampler, ThreadCpu
from gilscope.sampling.gil_probe import GilChange, GilProbe
from gilscope.sampling.probe_process import DEFAULT_RATE_HZ, rate_note
from gilscope.sampling.pyspy import (
    PERIOD_S,
    WINDOW_S,
    PySpyProblem,
    PySpySampler,
    PySpyWindow,
    ThreadGil,
)
from gilscope.sampling.report import TAG_LATENCY_BUSY, TAG_SHIFT, TIME_MASK
from gilscope.sampling.target import LogLine, TargetError
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import RunState, Workload, WorkloadSpec

COLLECT_HZ = 50
SNAPSHOT_EVERY = 5  # collector ticks per snapshot: 10 Hz
CPU_EVERY = 5  # collector ticks per CPU sample: 10 Hz
STATS_WINDOW_NS = 2_000_000_000  # the live table's figures cover the last 2 s
SPY_POOL = 3  # py-spy windows pooled for the table: 1 s windows every 0.5 s cover ~2 s too
CORE_HISTORY = 40
LATENCY_KEEP = 20_000  # per phase: minutes of convoy requests at 500/s
# Workers wait this long for the probe's verdict before "go", so it sees the run from its
# start; a verdict takes ~0.1 s (deriving the layout once per interpreter, verifying).
PROBE_WAIT_S = 3.0


@dataclass(frozen=True)
class LaneInfo:
    key: LaneKey
    name: str
    process_index: int
    tid: int  # Linux thread id
    ident: int  # pthread id: how py-spy names threads on CPython 3.9/3.10
    gil: bool = True  # False: a free-threaded process without a GIL; its lanes run in parallel


@dataclass(frozen=True)
class ThreadRow:
    key: LaneKey
    name: str
    tid: int
    pid: int
    gil_share: Optional[float]  # exact, from the beacons; None: the process has no GIL
    gil_share_pyspy: Optional[float]  # py-spy's latest window
    cpu: float
    function: str  # where py-spy last saw it holding the GIL
    handoffs_per_s: float
    mean_hold_ms: float
    gil_share_reference: Optional[float] = None  # the workers' own report, if the probe draws


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


@dataclass(frozen=True)
class ProbeStatus:
    """The direct GIL probe: whether it draws the timeline, and how well."""

    state: str  # "off", "starting", "ready" (drawing), "failed", "no-gil", "ended"
    note: str = ""  # why it does not draw, or how it found the GIL
    reads_per_s: Optional[float] = None  # per process
    cpu: Optional[float] = None  # cores the probe process uses
    agreement_pp: Optional[float] = None  # mean |probe share - report share|, workloads
    handoffs_per_s: Optional[float] = None  # the interpreters' own switch counters
    interval_ms: Optional[float] = None  # the target's switch interval, from its GIL
    scheduling: str = ""  # how the probe keeps its reads on time ("fifo", "short-slice"...)


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
    # off or failed); "py-spy": sampled windows (a target the probe cannot read)
    gil_source: str = "beacons"
    probe: ProbeStatus = ProbeStatus("off")
    plan: Tuple[int, int] = (0, 0)  # a guided comparison: (this run's step, steps); (0, 0): none


class Session:
    """Owns the current workload and every sampler; restart() swaps the workload."""

    def __init__(
        self,
        spec: WorkloadSpec,
        rate_hz: int = 1000,
        pyspy: Optional[str] = None,
        target: Optional[ExternalTarget] = None,
        probe_rate_hz: int = DEFAULT_RATE_HZ,
    ):
        """``target``: observe that attached or launched process instead of a workload.
        ``probe_rate_hz``: GIL probe reads per second per process; 0 turns it off."""
        self.spec = spec
        self._target = target
        self._seen: Dict[LaneKey, LaneInfo] = {}  # external: every thread seen, ended or not
        self.timeline = Timeline()
        # Workloads: the workers' own report, the reference the probe is checked against
        # (and what is drawn for a process the probe cannot read).
        self.reference = Timeline()
        self._probe = GilProbe(probe_rate_hz) if probe_rate_hz > 0 else None
        self._probe_drawn: set[int] = set()  # pids whose lanes the probe draws
        self._probe_noted: set[int] = set()  # pids whose probe failure was told
        # pid -> (t_ns, switches): the first switch count seen while running, and the
        # latest ones (newest last)
        self._switch_first: Dict[int, Tuple[int, int]] = {}
        self._switch_recent: Dict[int, Deque[Tuple[int, int]]] = {}
        self._lock = threading.RLock()
        sweep_scratch()
        self._dir = tempfile.mkdtemp(prefix=f"gilscope-{os.getpid()}-")
        self._runs = 0
        self._workload: Optional[Workload] = None
        self._lane_keys: Dict[int, LaneKey] = {}  # slot -> key
        self._no_gil_slots: set[int] = set()
        self._lanes: Tuple[LaneInfo, ...] = ()
        self._cpu = CpuSampler()
        self._cores: Tuple[float, ...] = ()
        self._core_history: Deque[Tuple[float, ...]] = deque(maxlen=CORE_HISTORY)
        self._core_sum: List[float] = []
        self._core_samples = 0
        self._thread_cpu: Dict[Tuple[int, int], float] = {}
        self._results: List[RunRecord] = []
        self._latency_alone: Deque[int] = deque(maxlen=LATENCY_KEEP)
        self._latency_busy: Deque[int] = deque(maxlen=LATENCY_KEEP)
        # Sorting up to 2 × 20,000 latencies is not free: only after new ones arrive.
        self._latency_figures: Optional[LatencyFigures] = None
        self._problems: List[str] = []
        if self._probe is not None and rate_note(probe_rate_hz):
            self._problems.append(rate_note(probe_rate_hz))
        self._stack_windows: Dict[int, PySpyWindow] = {}  # latest of any kind: stacks
        # Whole run, per lane: [py-spy samples, intervals, sum of exact shares, windows].
        self._pyspy_totals: Dict[LaneKey, List[float]] = {}
        self._cpu_totals: Dict[LaneKey, int] = {}  # CPU ns while the run ran
        # Per complete window and lane: (lane, py-spy samples, intervals, exact share).
        self._recent: Deque[Tuple[LaneKey, int, int, float]] = deque(maxlen=64)
        self._window_count = 0
        # Per lane, the last few complete windows' (samples, intervals): the table's py-spy%.
        self._spy_recent: Dict[LaneKey, Deque[Tuple[int, int]]] = {}
        self._rates: Deque[float] = deque(maxlen=16)
        self._rate_sum = 0.0  # whole run: the mean achieved rate, without keeping a list
        self._rate_n = 0
        self._pyspy = PySpySampler(
            rate_hz,
            executable=pyspy,
            on_window=self._on_window,
            on_problem=self._on_problem,
            workdir=self._dir,
        )
        if not self._pyspy.available:
            self._problems.append(
                "py-spy not found on PATH: GIL stacks are off. Fix: pip install py-spy"
            )
        self._plan: Deque[WorkloadSpec] = deque()  # runs still to come in a guided comparison
        self._plan_steps = 0
        self._snapshot: Optional[Snapshot] = None
        self._lost_reported = False
        self._running_since = 0  # when the workers were told "go"
        self._stop = threading.Event()
        self._collector = threading.Thread(target=self._collect, name="gilscope-collector")
        self._collector.daemon = True
        self._started_ns = 0
        self._closed = False

    # -- control ----------------------------------------------------------------------
    def start(self, plan: Optional[List[WorkloadSpec]] = None) -> None:
        """Start sampling and the first run (or a guided comparison: ``plan``)."""
        if self._pyspy.available:
            self._pyspy.start()
        if self._probe is not None:
            self._probe.start()
        if self._target is not None:
            self._start_target(self._target)
        elif plan:
            self.run_plan(plan)
        else:
            self.restart(self.spec)
        self._collector.start()

    def run_plan(self, specs: List[WorkloadSpec]) -> None:
        """Run ``specs`` one after another, each starting when the one before is done:
        the guided comparison, filling the results for all of them with one key."""
        with self._lock:
            self.restart(specs[0])
            self._plan.extend(specs[1:])
            self._plan_steps = len(specs)

    @property
    def plan_remaining(self) -> int:
        return len(self._plan)

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None:
        """Stop the current run (if any) and start ``spec`` (default: the same again).

        Observing an external target: ``run`` launches the command again; ``attach`` clears
        the view and goes on watching the same process.
        """
        with self._lock:
            target = self._target
            if target is not None:
                if target.kind == "run" and not self._closed:
                    self._pyspy.detach_all()
                    if self._probe is not None:
                        self._probe.forget_all()
                    target.stop()
                    target = ExternalTarget(argv=target.argv)
                self._start_target(target)
                return
            self._plan.clear()  # any run the user asks for ends a guided comparison
            self._plan_steps = 0
            self._start(spec)

    def _start(self, spec: Optional[WorkloadSpec]) -> None:
        with self._lock:
            if self._closed:
                return  # a key pressed while quitting must not start new children
            if spec is not None:
                self.spec = spec
            self._stop_workload()
            self._runs += 1
            workload = Workload(self.spec, os.path.join(self._dir, f"board-{self._runs}"))
            self._reset_run()
            self._started_ns = time.monotonic_ns()
            try:
                workload.start()
            except OSError as e:
                workload.stop()
                self._problems.append(f"could not start {self.spec.python}: {e.strerror or e}")
                workload.state = RunState.FAILED
                workload.error = str(e)
            self._workload = workload
            for pid in workload.pids:
                self._pyspy.attach(pid)
                if self._probe is not None:
                    self._probe.watch(pid)
        self._freeze()

    def _start_target(self, target: ExternalTarget) -> None:
        with self._lock:
            if self._closed:
                return
            self._target = target
            self._reset_run()
            self._seen.clear()
            if target.state is RunState.STARTING:
                try:
                    target.start()
                except TargetError as e:
                    target.state, target.error = RunState.FAILED, str(e)
                    self._problems.append(f"{target.describe()}: {e}")
            self._running_since = time.monotonic_ns()
            if target.state is RunState.RUNNING:
                self._pyspy.attach(target.pid)
                if self._probe is not None:
                    self._probe.watch(target.pid)
        self._freeze()

    def close(self) -> None:
        """Stop everything gilscope started. Safe to call more than once, from any thread
        (a signal's shutdown thread and the main thread's ``finally`` may race here)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._collector.is_alive() and threading.current_thread() is not self._collector:
            self._collector.join(1.0)
        with self._lock:
            self._stop_workload()
            if self._target is not None:
                self._target.stop()
        self._pyspy.stop()
        if self._probe is not None:
            self._probe.stop()
        reap_all(grace_s=0.3)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _reset_run(self) -> None:
        """Forget the previous run's figures: a new run starts with a fresh timeline."""
        self.timeline = Timeline()
        self.reference = Timeline()
        self._probe_drawn = set()
        self._switch_first.clear()
        self._switch_recent.clear()
        self._window_count = 0
        self._lost_reported = False
        self._stack_windows.clear()
        self._pyspy_totals.clear()
        self._cpu_totals.clear()
        self._recent.clear()
        self._spy_recent.clear()
        self._rates.clear()
        self._rate_sum, self._rate_n = 0.0, 0
        self._latency_alone.clear()
        self._latency_busy.clear()
        self._latency_figures = None
        self._lane_keys = {}
        self._no_gil_slots = set()
        self._lanes = ()
        self._core_sum = []
        self._core_samples = 0
        self._started_ns = time.monotonic_ns()

    def _stop_workload(self) -> None:
        if self._workload is not None:
            self._pyspy.detach_all()
            if self._probe is not None:
                self._probe.forget_all()
            self._workload.stop()

    # -- reading ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            snap = self._freeze()
        return snap

    @property
    def state(self) -> RunState:
        if self._target is not None:
            return self._target.state
        w = self._workload
        return w.state if w is not None else RunState.STOPPED

    # -- the collector thread ---------------------------------------------------------
    def _collect(self) -> None:
        tick = 0
        period = 1.0 / COLLECT_HZ
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self._drain()
                if tick % CPU_EVERY == 0:
                    self._sample_cpu()
                if tick % SNAPSHOT_EVERY == 0:
                    self._freeze()
            except Exception as e:  # keep collecting; say what went wrong once
                msg = f"collector error: {type(e).__name__}: {e}"
                if msg not in self._problems:
                    self._problems.append(msg)
            tick += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -1.0:
                next_t = time.monotonic()
            self._stop.wait(max(0.0, delay))

    def _drain(self) -> None:
        if self._target is not None:
            with self._lock:
                before = self._target.state
                if self._target.poll() is not before and before is RunState.RUNNING:
                    self._pyspy.detach_all()
                self._probe_verdicts(self._target.pids)
                self._apply_probe()
            return
        with self._lock:
            w = self._workload
            if w is None or w.reader is None:
                return
            before = w.state
            state = w.poll(may_go=self._probe_settled(w))
            if state is RunState.RUNNING and before is not RunState.RUNNING:
                self._running_since = time.monotonic_ns()
            if state is not RunState.STARTING:
                self._probe_verdicts(w.pids)
            self._learn_lanes(w)
            if w.reader is not None:
                upto = time.monotonic_ns()  # before reading: see Timeline.add_stamps
                batches = w.reader.drain()
                # Without a GIL, "who stamped last" is not who holds anything: such lanes
                # are drawn from CPU time alone.
                stamps = [
                    (self._lane_keys[b.slot], b.stamps)
                    for b in batches
                    if b.slot in self._lane_keys and b.slot not in self._no_gil_slots
                ]
                self.reference.add_stamps(stamps, upto=upto)
                drawn = self._probe_drawn
                self.timeline.add_stamps(
                    [(k, words) for k, words in stamps if k.pid not in drawn], upto=upto
                )
                self.timeline.add_waiting_marks((k, w_) for k, w_ in stamps if k.pid in drawn)
                self._apply_probe()
                for b in batches:
                    if b.slot == w.latency_slot:
                        for word in b.stamps:
                            busy = word >> TAG_SHIFT == TAG_LATENCY_BUSY
                            (self._latency_busy if busy else self._latency_alone).append(
                                word & TIME_MASK
                            )
                        self._latency_figures = None
                lost = sum(b.lost for b in batches)
                if lost and not self._lost_reported:
                    self._lost_reported = True
                    self._problems.append(
                        f"the collector fell behind: {lost} worker stamps were overwritten "
                        "before they were read; the timeline has a gap there"
                    )
            if state is RunState.DONE and before is not RunState.DONE and w.wall_s is not None:
                self._results.append(
                    RunRecord(
                        str(w.spec.scenario),
                        w.spec.count,
                        w.spec.workers,
                        w.wall_s,
                        self._latency() if w.latency_slot is not None else None,
                    )
                )
            if state is RunState.FAILED and before is not RunState.FAILED:
                self._plan.clear()
                if w.error:
                    self._problems.append(f"{w.spec.scenario} run failed: {w.error}")
        if state is RunState.DONE and before is not RunState.DONE and self._plan:
            self._start(self._plan.popleft())  # the next step of the guided comparison

    def _probe_settled(self, w: Workload) -> bool:
        """May the workers start? Once the probe knows whether it can read them."""
        if self._probe is None or not self._probe.running:
            return True
        if time.monotonic_ns() - self._started_ns > PROBE_WAIT_S * 1e9:
            return True
        return all(
            (t := self._probe.target(pid)) is None or t.state != "starting" for pid in w.pids
        )

    def _probe_verdicts(self, pids: Sequence[int]) -> None:
        """Which processes the probe draws: those it verified; the others keep their
        report (workloads) or py-spy (targets), and a failure is told once."""
        if self._probe is None:
            return
        for pid in pids:
            t = self._probe.target(pid)
            if t is None:
                continue
            if t.state == "ready":
                self._probe_drawn.add(pid)
            elif t.state in ("failed", "no-gil"):
                self._probe_drawn.discard(pid)
                if t.state == "failed" and pid not in self._probe_noted:
                    self._probe_noted.add(pid)
                    fallback = "py-spy's samples" if self._target else "the workers' own report"
                    self._problems.append(f"GIL probe: {t.reason}; drawing from {fallback}")

    def _apply_probe(self) -> None:
        """Fold the probe's hand-offs into the drawn timeline, and count switches."""
        if self._probe is None:
            return
        changes = self._probe.drain()
        if not changes:
            return
        since = self._running_since
        by_pid: Dict[int, List[GilChange]] = {}
        for c in changes:
            if c.t_ns >= since:
                by_pid.setdefault(c.pid, []).append(c)
        keys = {(lane.key.pid, lane.tid): lane.key for lane in self._lanes if lane.tid}
        for pid, items in by_pid.items():
            first, last = items[0], items[-1]
            self._switch_first.setdefault(pid, (first.t_ns, first.switches))
            recent = self._switch_recent.setdefault(pid, deque(maxlen=512))
            recent.append((last.t_ns, last.switches))
            if pid not in self._probe_drawn:
                continue
            if self._target is not None:
                for c in items:
                    if c.tid > 0 and (pid, c.tid) not in keys:
                        keys[pid, c.tid] = self._add_target_lane(pid, c.tid)
            self.timeline.add_holders(
                pid, [(c.t_ns, keys.get((pid, c.tid)) if c.tid > 0 else None) for c in items]
            )

    def _add_target_lane(self, pid: int, tid: int) -> LaneKey:
        """A thread the probe saw holding the GIL before /proc listed it."""
        lane = self._new_target_lane(pid, tid)
        self._lanes = tuple(sorted((*self._lanes, lane), key=_thread_order))
        self._seen[lane.key] = lane
        return lane.key

    def _new_target_lane(self, pid: int, tid: int) -> LaneInfo:
        """A lane for one of an external target's threads, named as the kernel knows it."""
        key = LaneKey(pid, tid)
        name = thread_name(pid, tid)
        self.timeline.add_lane(key, name, 0, 0)
        info = self._target.info if self._target is not None else None
        gil = info is None or info.gil_enabled is not False
        return LaneInfo(key, name, 0, tid, self._idents(pid).get(tid, 0), gil)

    def _with_idents(self, lanes: Iterable[LaneInfo]) -> List[LaneInfo]:
        """Lanes with their pthread ids filled in from the probe, so py-spy's 3.9/3.10
        threads (named by pthread id) land on the same lanes as /proc's tids."""
        out = []
        for lane in lanes:
            if lane.tid and not lane.ident:
                ident = self._idents(lane.key.pid).get(lane.tid, 0)
                if ident:
                    lane = replace(lane, ident=ident)
            out.append(lane)
        return out

    def _idents(self, pid: int) -> Dict[int, int]:
        """tid -> pthread id, as the probe read them (how py-spy names 3.9/3.10 threads)."""
        t = self._probe.target(pid) if self._probe is not None else None
        return dict(t.idents) if t is not None else {}

    def _learn_lanes(self, w: Workload) -> None:
        if len(self._lane_keys) == len(w.lanes):
            return
        infos = w.infos()
        lanes = list(self._lanes)
        for lane in w.lanes:
            info = infos[lane.slot]
            if lane.slot in self._lane_keys or not info.pid:
                continue
            key = LaneKey(info.pid, lane.slot)
            self._lane_keys[lane.slot] = key
            self.timeline.add_lane(key, lane.name, lane.process_index, info.chunk_ns)
            self.reference.add_lane(key, lane.name, lane.process_index, info.chunk_ns)
            lanes.append(
                LaneInfo(key, lane.name, lane.process_index, info.tid, info.ident, info.gil)
            )
            if not info.gil:
                self._no_gil_slots.add(lane.slot)
        self._lanes = tuple(sorted(lanes, key=lambda x: (x.process_index, x.key.slot)))

    def _follow_threads(self, threads: Sequence[ThreadCpu]) -> None:
        """An external target's lanes are its live threads: new ones get a lane, and a lane
        whose thread is gone leaves the view (its history stays in the timeline)."""
        target = self._target
        if target is None or not target.pids:
            return
        live = {(t.pid, t.tid) for t in threads}
        # py-spy's own lanes (3.9/3.10 threads it names by pthread id) have no tid to check
        lanes = [
            lane
            for lane in self._lanes
            if (lane.key.pid, lane.tid) in live or (lane.ident and not lane.tid)
        ]
        known = {(lane.key.pid, lane.tid) for lane in lanes}
        for pid, tid in sorted(live - known):
            lanes.append(self._new_target_lane(pid, tid))
        self._lanes = tuple(sorted(self._with_idents(lanes), key=_thread_order))
        self._seen.update((lane.key, lane) for lane in self._lanes)

    def _sample_cpu(self) -> None:
        with self._lock:
            w = self._workload
            pids = w.pids if w is not None else []
            running = w is not None and w.state is RunState.RUNNING
            if self._target is not None:
                pids = self._target.pids
                running = bool(pids)
            running_since = self._running_since
            by_tid = {(lane.key.pid, lane.tid): lane.key for lane in self._lanes}
            timeline = self.timeline
        sample = self._cpu.sample(pids)  # /proc reads, outside the lock
        cpu: Dict[Tuple[int, int], float] = {}
        with self._lock:
            if timeline is not self.timeline:
                return  # a restart came in between: this sample belongs to no run
            if self._target is not None:
                self._follow_threads(sample.threads)
                by_tid = {(lane.key.pid, lane.tid): lane.key for lane in self._lanes}
            self._cores = sample.cores
            self._core_history.append(sample.cores)
            if running:
                if len(self._core_sum) != len(sample.cores):
                    self._core_sum = [0.0] * len(sample.cores)
                self._core_sum = [a + b for a, b in zip(self._core_sum, sample.cores)]
                self._core_samples += 1
            for th in sample.threads:
                cpu[th.pid, th.tid] = th.cpu
                key = by_tid.get((th.pid, th.tid))
                # Before "go" workers calibrate and warm up: Python on a CPU, but no stamps
                # yet. Counting that CPU would paint it as "running without the GIL".
                if key is not None and running and sample.start_ns >= running_since:
                    timeline.add_cpu(key, sample.start_ns, sample.end_ns, th.cpu_ns)
                    self._cpu_totals[key] = self._cpu_totals.get(key, 0) + th.cpu_ns
            self._thread_cpu = cpu

    def _on_window(self, window: PySpyWindow) -> None:
        if self._target is not None:
            self._on_target_window(window)
            return
        with self._lock:
            lanes = [lane for lane in self._lanes if lane.key.pid == window.pid]
            if not lanes:
                return
            self._stack_windows[window.pid] = window
            self._window_count += 1
            if not window.complete:
                return  # its interval count is a guess: good for stacks, not for shares
            for lane in lanes:
                thread = _pyspy_thread(window, lane)
                self._spy_recent.setdefault(lane.key, deque(maxlen=SPY_POOL)).append(
                    (thread.samples if thread is not None else 0, window.intervals)
                )
            self._count_rate(window)
            running = self._workload is not None and self._workload.state is RunState.RUNNING
            started = min(self.timeline.first_ns(lane.key) for lane in lanes)
            if not running or not started or window.start_ns < started:
                return  # straddles the start or end: our window clock is only good to ~10 ms
            for lane in lanes:
                exact = self.timeline.held_between(lane.key, window.start_ns, window.end_ns)
                thread = _pyspy_thread(window, lane)
                samples = thread.samples if thread is not None else 0
                self._recent.append((lane.key, samples, window.intervals, exact))
                totals = self._pyspy_totals.setdefault(lane.key, [0, 0, 0.0, 0])
                totals[0] += samples
                totals[1] += window.intervals
                totals[2] += exact
                totals[3] += 1

    def _on_target_window(self, window: PySpyWindow) -> None:
        """py-spy is the GIL signal for a process without beacons: each complete window's
        shares fill the newest half-second of the lanes (windows overlap by half)."""
        with self._lock:
            if self._target is None or window.pid != self._target.pid:
                return
            self._stack_windows[window.pid] = window
            self._window_count += 1
            # py-spy names threads by Linux tid on CPython 3.11+, but by pthread id on
            # 3.9/3.10, which cannot be matched with /proc's tids from outside: those get
            # lanes of their own, without CPU. A 3.11+ tid not alive any more is a thread
            # that ended between two CPU samples: kept for the report, not drawn live.
            info = self._target.info
            native_tids = info is None or _minor(info.python_version) >= 11
            lanes = self._with_idents(self._lanes)
            for seen in window.threads:
                key = LaneKey(window.pid, seen.tid)
                if key in self._seen or any(seen.tid in (ln.tid, ln.ident) for ln in lanes):
                    continue
                name = seen.name or hex(seen.tid)
                tid, ident = (seen.tid, 0) if native_tids else (0, seen.tid)
                lane = LaneInfo(key, name, 0, tid, ident)
                self.timeline.add_lane(key, name, 0, 0)
                self._seen[key] = lane
                if not native_tids or os.path.exists(f"/proc/{window.pid}/task/{seen.tid}"):
                    lanes.append(lane)
            named = []
            for lane in lanes:
                match = _pyspy_thread(window, lane)
                if match is not None and match.name and match.name != lane.name:
                    lane = replace(lane, name=match.name)
                named.append(lane)
            self._lanes = tuple(named)
            self._seen.update((lane.key, lane) for lane in named)
            # A window cut short by the target's exit has an estimated interval count; for
            # a process without beacons it is still the best figure there is (and for a
            # short script, the only one).
            if window.complete:
                self._count_rate(window)
            start = max(window.start_ns, window.end_ns - int(PERIOD_S * 1e9))
            for lane in self._seen.values():
                thread = _pyspy_thread(window, lane)
                samples = thread.samples if thread is not None else 0
                self._spy_recent.setdefault(lane.key, deque(maxlen=SPY_POOL)).append(
                    (samples, window.intervals)
                )
                totals = self._pyspy_totals.setdefault(lane.key, [0, 0, 0.0, 0])
                totals[0] += samples
                totals[1] += window.intervals
                totals[3] += 1
                share = samples / window.intervals if window.intervals else 0.0
                if window.pid not in self._probe_drawn:  # the probe's exact lanes win
                    self.timeline.add_sampled(lane.key, start, window.end_ns, share)

    def _count_rate(self, window: PySpyWindow) -> None:
        """A complete window's achieved rate, for all of a process's overlapping windows."""
        rate = window.rate_hz * WINDOW_S / PERIOD_S
        self._rates.append(rate)
        self._rate_sum += rate
        self._rate_n += 1

    def _on_problem(self, problem: PySpyProblem) -> None:
        self._problems.append(str(problem))

    # -- freezing ---------------------------------------------------------------------
    def _freeze(self) -> Snapshot:
        with self._lock:
            now = time.monotonic_ns()
            w = self._workload
            spec = w.spec if w is not None else self.spec
            state = w.state if w is not None else RunState.STOPPED
            rows = []
            stacks = []
            batons = []
            # The last 2 s of the run; a younger run from its start; a finished run whole.
            run_start = self.timeline.started_ns() or now
            done = state is RunState.DONE and self.timeline.latest_ns > run_start
            if done:
                span = (run_start, self.timeline.latest_ns)
            else:
                span = (max(now - STATS_WINDOW_NS, run_start), now)
            figures = self.timeline.totals if done else self.timeline.stats
            source = self._gil_source()
            sampled = source == "py-spy"
            lanes = self._lanes
            if self._target is not None and self.state not in (
                RunState.STARTING,
                RunState.RUNNING,
            ):
                # The process has exited: show every thread it had, short-lived ones too.
                lanes = self.every_lane()
            for lane in lanes:
                st = figures(lane.key, *span)
                spy = self._spy_recent.get(lane.key)
                spy_share = sum(n for n, _ in spy) / sum(i for _, i in spy) if spy else None
                exact: Optional[float] = st.gil_share
                if sampled:  # neither beacons nor probe: py-spy's share is the best there is
                    exact = spy_share if spy_share is not None else 0.0
                reference: Optional[float] = None
                if self._target is None and lane.key.pid in self._probe_drawn:
                    ref = self.reference.totals if done else self.reference.stats
                    reference = ref(lane.key, *span).gil_share
                seen = _pyspy_thread(self._stack_windows.get(lane.key.pid), lane)
                function = ""
                if seen is not None and seen.stacks and seen.stacks[0].frames:
                    top = seen.stacks[0].frames
                    function = top[-1].function
                    # The thread's GIL share (from a complete window: a cut-short one's
                    # interval count is a guess), shown at its most sampled line.
                    stacks.append(
                        StackRow(lane.name, tuple(str(f) for f in reversed(top)), spy_share)
                    )
                rows.append(
                    ThreadRow(
                        key=lane.key,
                        name=lane.name,
                        tid=lane.tid,
                        pid=lane.key.pid,
                        gil_share=exact if lane.gil else None,
                        gil_share_pyspy=spy_share if lane.gil else None,
                        gil_share_reference=reference if lane.gil else None,
                        cpu=self._thread_cpu.get((lane.key.pid, lane.tid), 0.0),
                        function=function,
                        handoffs_per_s=st.handoffs_per_s,
                        mean_hold_ms=st.mean_hold_ms,
                    )
                )
            for pid in {lane.key.pid for lane in self._lanes} if not sampled else ():
                holder = self.timeline.holder(pid, now)
                if holder is not None:
                    batons.append(holder)
            history = tuple(zip(*self._core_history)) if self._core_history else ()
            target = self._target
            if target is not None:
                state, error, wall = target.state, target.error, target.wall_s
            else:
                error = w.error if w is not None else ""
                wall = w.wall_s if w is not None else None
            snap = Snapshot(
                now_ns=now,
                spec=spec,
                state=state,
                error=error,
                elapsed_s=(now - self._started_ns) / 1e9,
                wall_s=wall,
                lanes=lanes,
                batons=tuple(batons),
                threads=tuple(rows),
                cores=self._cores,
                core_history=history,
                stacks=tuple(stacks),
                pyspy=PySpyStatus(
                    available=self._pyspy.available,
                    # The median: a window whose start line we read late (a busy UI thread)
                    # looks short and fast; one such window should not move the figure.
                    rate_hz=statistics.median(self._rates) if self._rates else None,
                    agreement_pp=agreement_pp(_pool(self._recent)) if not sampled else None,
                    windows=self._window_count,
                ),
                results=tuple(self._results),
                timeline=self.timeline,
                latency=self._latency() if w is not None and w.latency_slot is not None else None,
                python_version=self._python_version(w)
                if target is None
                else (target.info.python_version if target.info else ""),
                gil=all(lane.gil for lane in self._lanes) if self._lanes else None,
                target=target.describe() if target is not None else "",
                target_kind=target.kind if target is not None else "",
                log=target.lines() if target is not None else (),
                exit_code=target.exit_code if target is not None else None,
                gil_source=source,
                probe=self._probe_status(rows, now),
                plan=(self._plan_steps - len(self._plan), self._plan_steps)
                if self._plan_steps
                else (0, 0),
                problems=tuple(self._problems),
            )
            self._snapshot = snap
            return snap

    def _observed_pids(self) -> List[int]:
        """The processes of this observation, ended ones included."""
        if self._target is not None:
            return [self._target.pid] if self._target.pid else []
        return self._workload.pids if self._workload is not None else []

    def _gil_source(self) -> str:
        pids = self._observed_pids()
        if pids and all(pid in self._probe_drawn for pid in pids):
            return "probe"
        if self._target is None:
            return "beacons"
        t = self._probe.target(pids[0]) if self._probe is not None and pids else None
        if t is not None and t.state == "starting":
            return "probe"  # for the first ~0.1 s: nothing is drawn from py-spy yet either
        return "py-spy"

    def _probe_status(self, rows: Sequence[ThreadRow], now: int) -> ProbeStatus:
        probe = self._probe
        if probe is None:
            return ProbeStatus("off", "the GIL probe is off (--probe-rate 0)")
        pids = self._observed_pids()
        stats = probe.stats()
        targets = [stats.targets[pid] for pid in pids if pid in stats.targets]
        if probe.error and not targets:
            return ProbeStatus("failed", probe.error)
        if not targets:
            return ProbeStatus("starting")
        worst = next((t for t in targets if t.state in ("failed", "no-gil")), targets[0])
        note = worst.reason if worst.state in ("failed", "no-gil") else worst.source
        rates = [t.reads_per_s for t in targets if t.reads_per_s]
        handoffs = 0.0
        for pid in pids:
            recent = [x for x in self._switch_recent.get(pid, ()) if now - x[0] <= STATS_WINDOW_NS]
            if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
                handoffs += (recent[-1][1] - recent[0][1]) / ((recent[-1][0] - recent[0][0]) / 1e9)
        pairs = [
            (r.gil_share, r.gil_share_reference)
            for r in rows
            if r.gil_share is not None and r.gil_share_reference is not None
        ]
        interval = next((t.interval_us for t in targets if t.interval_us), 0)
        return ProbeStatus(
            state=worst.state,
            note=note,
            reads_per_s=sum(rates) / len(rates) if rates else None,
            cpu=stats.cpu,
            scheduling=stats.scheduling,
            agreement_pp=agreement_pp(pairs) if pairs else None,
            handoffs_per_s=handoffs if any(self._switch_recent.get(p) for p in pids) else None,
            interval_ms=interval / 1000 if interval else None,
        )

    def reference_span(self) -> Tuple[int, int]:
        """The workers' report's first and last stamp: the run, as its threads saw it."""
        with self._lock:
            return self.reference.started_ns(), self.reference.latest_ns

    def probe_agreement_pp(self) -> Optional[float]:
        """Whole run: mean |probe share - report share| over the probe-drawn lanes."""
        with self._lock:
            if self._target is not None or not self._probe_drawn:
                return None
            start, end = self.reference_span()
            if end <= start:
                return None
            pairs = [
                (
                    self.timeline.totals(lane.key, start, end).gil_share,
                    self.reference.totals(lane.key, start, end).gil_share,
                )
                for lane in self._lanes
                if lane.key.pid in self._probe_drawn and lane.gil
            ]
            return agreement_pp(pairs)

    def probe_handoffs(self) -> Optional[int]:
        """Hand-offs the interpreters counted themselves while the run ran (all processes)."""
        with self._lock:
            if not self._switch_first:
                return None
            return sum(
                self._switch_recent[pid][-1][1] - first[1]
                for pid, first in self._switch_first.items()
            )

    def _latency(self) -> LatencyFigures:
        if self._latency_figures is None:
            self._latency_figures = latency_figures(self._latency_alone, self._latency_busy)
        return self._latency_figures

    # -- whole-run figures (headless) -------------------------------------------------
    def every_lane(self) -> Tuple[LaneInfo, ...]:
        """Every lane of the observation, including threads that have ended since."""
        with self._lock:
            if self._target is None:
                return self._lanes
            return tuple(sorted(self._seen.values(), key=_thread_order))

    def mean_cores(self) -> List[float]:
        """Utilization per core, averaged over the time the countdown ran."""
        with self._lock:
            n = max(self._core_samples, 1)
            return [s / n for s in self._core_sum] if self._core_sum else list(self._cores)

    def pyspy_share(self, key: LaneKey) -> Optional[float]:
        """py-spy's GIL share of a lane over every complete window of the run."""
        with self._lock:
            totals = self._pyspy_totals.get(key)
            return totals[0] / totals[1] if totals and totals[1] else None

    def cpu_share(self, key: LaneKey, span_ns: int) -> float:
        """A lane's CPU time while the run ran, as a fraction of ``span_ns``."""
        with self._lock:
            return min(1.0, self._cpu_totals.get(key, 0) / span_ns) if span_ns > 0 else 0.0

    def python_version(self) -> str:
        with self._lock:
            return self._python_version(self._workload)

    @staticmethod
    def _python_version(w: Optional[Workload]) -> str:
        infos = w.infos() if w is not None and w.reader is not None else []
        return infos[0].python_version if infos else ""

    def overall_pyspy(self) -> PySpyStatus:
        with self._lock:
            return replace(
                self.snapshot().pyspy,
                rate_hz=self._rate_sum / self._rate_n if self._rate_n else None,
                # Without beacons there is no exact share to agree with.
                agreement_pp=None
                if self._target is not None
                else agreement_pp(
                    (t[0] / t[1], t[2] / t[3]) for t in self._pyspy_totals.values() if t[1]
                ),
            )


def _thread_order(lane: LaneInfo) -> int:
    """External lanes in the order their threads started (kernel tid, else pthread id)."""
    return lane.tid or lane.ident


def _minor(version: str) -> int:
    """'3.11.7' -> 11 (0 if unknown)."""
    parts = version.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def thread_name(pid: int, tid: int) -> str:
    """A thread's name as the kernel knows it (py-spy's Python name replaces it later)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip() or str(tid)
    except OSError:
        return str(tid)


def sweep_scratch() -> None:
    """Remove scratch dirs of gilscopes that are gone: one that was SIGKILLed could not."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "gilscope-*-*")):
        pid_text = os.path.basename(path).split("-")[1]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, or another user's: leave it


def _pool(records: Iterable[Tuple[LaneKey, int, int, float]]) -> List[Tuple[float, float]]:
    """Per lane, py-spy's pooled share and the exact mean share over the same windows.

    One 1 s window holds only ~500 samples per process; pooling a few windows before
    comparing keeps sampling noise out of the agreement figure.
    """
    sums: Dict[LaneKey, List[float]] = {}
    for key, samples, intervals, exact in records:
        acc = sums.setdefault(key, [0, 0, 0.0, 0])
        acc[0] += samples
        acc[1] += intervals
        acc[2] += exact
        acc[3] += 1
    return [(a[0] / a[1], a[2] / a[3]) for a in sums.values() if a[1]]


def _pyspy_thread(window: Optional[PySpyWindow], lane: LaneInfo) -> Optional[ThreadGil]:
    if window is None:
        return None
    for t in window.threads:
        if t.tid in (lane.tid, lane.ident):
            return t
    return None
