"""One observation session, shared by the TUI and headless: it owns the samplers and the
current ``Observation``, and assembles a frozen ``Snapshot`` ten times a second.

A collector thread polls the observation at 50 Hz (beacon stamps, probe hand-offs), samples
CPU at 10 Hz and freezes a snapshot at 10 Hz; py-spy windows arrive from the py-spy
sampler's own thread. Readers call ``snapshot()`` whenever they like (the UI does at its
frame rate) and query its ``timeline`` for the lanes' cells at whatever zoom they show.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Deque, List, Optional, Tuple

from gilscope.children import reap_all
from gilscope.model.metrics import RunRecord, label
from gilscope.observe.observation import Observation, Samplers
from gilscope.observe.target import TargetObservation
from gilscope.observe.workload import WorkloadObservation
from gilscope.record.recorder import Recorder
from gilscope.sampling.cpu import BusyMeter, CpuSampler
from gilscope.sampling.gil_probe import GilProbe
from gilscope.sampling.probe_process import DEFAULT_RATE_HZ, rate_note
from gilscope.sampling.pyspy import PROFILER, PYSPY, PySpyProblem, PySpySampler, PySpyWindow
from gilscope.sampling.thread_cpu import ThreadCpuSampler
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import TERMINAL, RunState, WorkloadSpec
from gilscope.snapshot import EarlierRelay, PySpyStatus, Snapshot

COLLECT_HZ = 50
SNAPSHOT_EVERY = 5  # collector ticks per snapshot: 10 Hz
CPU_EVERY = 5  # collector ticks per CPU sample: 10 Hz
BUSY_EVERY = 25  # collector ticks per reading of the rest of the machine: 2 Hz
# The most a report waits for py-spy's last windows after the end: it writes one ~20 ms
# after its target exits, later on a busy machine.
SETTLE_S = 5.0


class Session:
    """Owns the samplers and the current observation; ``restart`` starts a new one."""

    def __init__(
        self,
        spec: WorkloadSpec,
        rate_hz: int = 1000,
        pyspy: Optional[str] = None,
        target: Optional[ExternalTarget] = None,
        probe_rate_hz: int = DEFAULT_RATE_HZ,
        recorder: Optional[Recorder] = None,
    ):
        """``target``: observe that attached or launched process instead of a workload.
        ``recorder``: write everything observed to a recording as it goes.
        ``probe_rate_hz``: GIL probe reads per second per process; 0 turns it off."""
        self.spec = spec
        self._lock = threading.RLock()
        sweep_scratch()
        self._dir = tempfile.mkdtemp(prefix=f"gilscope-{os.getpid()}-")
        self._problems: List[str] = []
        sampler = PySpySampler(
            rate_hz, executable=pyspy, on_window=self._on_window, on_problem=self._on_problem,
            workdir=self._dir,
        )  # fmt: skip
        if not sampler.available:
            self._problems.append(
                "py-spy not found on PATH: GIL stacks are off. Fix: pip install py-spy"
            )
        probe = GilProbe(probe_rate_hz) if probe_rate_hz > 0 else None
        if probe is not None and rate_note(probe_rate_hz):
            self._problems.append(rate_note(probe_rate_hz))
        self._samplers = Samplers(sampler, probe, ThreadCpuSampler())
        self._cpu = CpuSampler()
        self._busy = BusyMeter()
        self._target = target
        self._runs = 0
        self.observation: Observation = self._new_observation(spec)
        self._results: List[RunRecord] = []
        self._plan: Deque[WorkloadSpec] = deque()  # runs still to come in a comparison
        self._plan_steps = 0
        self._earlier: List[EarlierRelay] = []  # a plan across interpreters: steps done
        self._side_by_side = False  # the plan runs on more than one interpreter
        self._snapshot: Optional[Snapshot] = None
        self._stop = threading.Event()
        self._passes = 0  # the collector's passes so far: see settle
        self._collector = threading.Thread(
            target=self._collect, name="gilscope-collector", daemon=True
        )
        self._closed = False
        self._recorder = recorder
        self._close_done = threading.Event()

    # -- control ----------------------------------------------------------------------
    def start(self, plan: Optional[List[WorkloadSpec]] = None) -> None:
        """Start sampling and the first run (or a guided comparison: ``plan``)."""
        # Without py-spy too: a target whose interpreter has its own profiler (3.15+)
        self._samplers.pyspy.start()
        if self._samplers.probe is not None:
            self._samplers.probe.start()
        if plan:
            self.run_plan(plan)
        else:
            self._begin(self.observation)
        self._collector.start()

    def run_plan(self, specs: List[WorkloadSpec]) -> None:
        """Run ``specs`` one after another, each starting when the one before is done:
        the guided comparison, filling the results for all of them with one key. Across
        interpreters (GIL vs free-threaded) each finished step's relay stays on screen."""
        with self._lock:
            self.restart(specs[0])
            self._plan.extend(specs[1:])
            self._plan_steps = len(specs)
            self._side_by_side = len({spec.python for spec in specs}) > 1

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None:
        """Stop the current run and start ``spec`` (default: the same again). Observing a
        target: ``run`` launches the command again; ``attach`` clears the view and goes on
        watching the same process."""
        with self._lock:
            if self._closed:
                return  # a key pressed while quitting must not start new children
            if self._target is None:
                self._plan.clear()  # any run the user asks for ends a guided comparison
                self._plan_steps = 0
                self._earlier.clear()
                self._side_by_side = False
            self._replace(spec)

    def _replace(self, spec: Optional[WorkloadSpec]) -> None:
        with self._lock:
            self.spec = spec or self.spec
            if self._target is None:
                self.observation.stop()
            elif self._target.kind == "run":
                self.observation.stop()
                old = self._target
                self._target = ExternalTarget(argv=old.argv, children=old.children)
            self._begin(self._new_observation(self.spec))

    def _new_observation(self, spec: WorkloadSpec) -> Observation:
        if self._target is not None:
            return TargetObservation(self._samplers, self._target)
        self._runs += 1
        board = os.path.join(self._dir, f"board-{self._runs}")
        return WorkloadObservation(self._samplers, spec, board)

    def _begin(self, observation: Observation) -> None:
        with self._lock:
            if self._recorder is not None and self._snapshot is not None:
                self._recorder.frame(self.observation, self._freeze())  # the last one's end
            self.observation = observation
            assert isinstance(observation, (WorkloadObservation, TargetObservation))
            if self._recorder is not None:
                self._recorder.begin(observation)
            observation.start()
        self._freeze()

    def close(self) -> None:
        """Stop everything gilscope started. Safe to call more than once, from any thread
        (a signal's shutdown thread and the main thread's ``finally`` may race here): a
        second caller waits for the first to finish, so neither returns (and lets the
        process exit) with children or the scratch folder still there."""
        with self._lock:
            if self._closed:
                first = False
            else:
                self._closed = first = True
        if not first:
            self._close_done.wait(5.0)
            return
        self._stop.set()
        if self._collector.is_alive() and threading.current_thread() is not self._collector:
            self._collector.join(1.0)
        with self._lock:
            self.observation.stop()
            self.finish_recording()
        self._samplers.pyspy.stop()
        self._samplers.thread_cpu.stop()
        if self._samplers.probe is not None:
            self._samplers.probe.stop()
        self.abandon()
        self._close_done.set()

    def abandon(self) -> None:
        """What must happen even if ``close`` hangs: every child killed, the scratch
        folder gone (see ``exit_guard``)."""
        reap_all(grace_s=0.3)
        shutil.rmtree(self._dir, ignore_errors=True)

    def settle(self, stop: threading.Event, timeout_s: float = SETTLE_S) -> bool:
        """Wait, at most ``timeout_s``, until what an observation's end left in flight has
        landed: the collector's passes up to its next CPU sample (the last stamps,
        hand-offs and CPU), and py-spy's windows of processes that have exited. False if
        ``stop`` was set."""
        passes = self._passes + CPU_EVERY + 1
        limit = time.monotonic() + timeout_s
        while time.monotonic() < limit and (
            self._passes < passes or self._samplers.pyspy.landing()
        ):
            if stop.wait(0.02):
                return False
        return True

    # -- reading ----------------------------------------------------------------------
    def snapshot(self, fresh: bool = False) -> Snapshot:
        """The latest frozen snapshot (10 Hz); ``fresh``: one frozen now (a report, which
        must not show a run as running because the collector was still reaping it)."""
        snap = self._snapshot
        return snap if snap is not None and not fresh else self._freeze()

    @property
    def state(self) -> RunState:
        return self.observation.state

    @property
    def ended(self) -> bool:
        """The run is over, and so is any guided plan it is a step of. One read under the
        lock: between a step's end and the next one's start (one collector pass), the
        state and the plan read apart said "over" while the last step was starting."""
        with self._lock:
            return self.observation.state in TERMINAL and not self._plan

    @property
    def problems(self) -> List[str]:
        return self._problems

    def finish_recording(self, until_ns: Optional[int] = None) -> Snapshot:
        """The observation's last snapshot, written as the recording's last frame if there
        is one (``until_ns``: where a headless report ends the observation, so that a
        replay reports the same span), and the file closed."""
        with self._lock:
            snap = self._freeze()
            recorder, self._recorder = self._recorder, None
            if recorder is not None:
                recorder.frame(self.observation, snap, until_ns)
                recorder.close()
            return snap

    @contextmanager
    def observed(self) -> Iterator[Observation]:
        """The current observation, held still (the collector waits) while you read it."""
        with self._lock:
            yield self.observation

    # -- the collector thread ---------------------------------------------------------
    def _collect(self) -> None:
        tick = 0
        period = 1.0 / COLLECT_HZ
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self._poll()
                if tick % CPU_EVERY == 0:
                    self._sample_cpu(busy=tick % BUSY_EVERY == 0)
                if tick % COLLECT_HZ == 0:
                    with self._lock:
                        self.observation.housekeeping(time.monotonic_ns())
                        if self._recorder is not None:
                            self._recorder.frame(self.observation, self._freeze())
                if tick % SNAPSHOT_EVERY == 0:
                    self._freeze()
            except Exception as e:  # keep collecting; say what went wrong once
                msg = f"collector error: {type(e).__name__}: {e}"
                if msg not in self._problems:
                    self._problems.append(msg)
            tick += 1
            self._passes += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -1.0:
                next_t = time.monotonic()
            self._stop.wait(max(0.0, delay))

    def _poll(self) -> None:
        with self._lock:
            obs = self.observation
            obs.poll()
            self._fine_cpu(obs)
            self._take_problems(obs)
            if obs.state is RunState.FAILED:
                self._plan.clear()
            if isinstance(obs, WorkloadObservation) and obs.record is not None:
                self._results.append(obs.record)
                obs.record = None
                if self._plan:
                    if self._side_by_side:
                        self._earlier.append(earlier_relay(obs, self._results[-1]))
                    self._replace(self._plan.popleft())  # the comparison's next step

    def _fine_cpu(self, obs: Observation) -> None:
        """Processes without a GIL get their threads' CPU read at 100 Hz: their lanes."""
        sampler = self._samplers.thread_cpu
        wanted = obs.no_gil_pids()
        watched = sampler.watched
        for pid in wanted - watched:
            sampler.watch(pid)
        for pid in watched - wanted:
            sampler.forget(pid)
        obs.add_fine_cpu(sampler.drain())

    def _take_problems(self, obs: Observation) -> None:
        if obs.problems:
            self._problems.extend(obs.problems)
            obs.problems.clear()

    def _sample_cpu(self, busy: bool) -> None:
        with self._lock:
            obs = self.observation
            pids = obs.pids
        sample = self._cpu.sample(pids)  # /proc reads, outside the lock
        other = self._busy.sample([os.getpid(), *pids]) if busy else None
        with self._lock:
            if obs is not self.observation:
                return  # a restart came in between: this sample belongs to no run
            if isinstance(obs, TargetObservation):
                obs.follow(sample.tids)
            counting = obs.state is RunState.RUNNING and sample.start_ns >= obs.running_since
            obs.cpu.add(sample, obs.timeline, obs.runner, counting)
            obs.cpu.add_other(other, BUSY_EVERY / COLLECT_HZ, counting)

    def _on_window(self, window: PySpyWindow) -> None:
        with self._lock:
            self.observation.on_window(window)

    def _on_problem(self, problem: PySpyProblem) -> None:
        self._problems.append(str(problem))

    # -- freezing ---------------------------------------------------------------------
    def _freeze(self) -> Snapshot:
        with self._lock:
            now = time.monotonic_ns()
            obs = self.observation
            snap = obs.freeze(now)
            figures = obs.pyspy.figures()
            source, problem = self._stacks_source(obs, snap.python_version)
            snap = replace(
                snap,
                pyspy=PySpyStatus(
                    available=self._samplers.pyspy.available,
                    rate_hz=figures.rate_hz,
                    agreement_pp=figures.agreement_pp if snap.gil_source != "py-spy" else None,
                    windows=figures.windows,
                    source=source,
                    problem=problem,
                ),
                results=tuple(self._results),
                problems=tuple(self._problems),
                plan=(self._plan_steps - len(self._plan), self._plan_steps)
                if self._plan_steps
                else (0, 0),
                earlier=tuple(self._earlier),
            )
            self._snapshot = snap
            return snap

    def _stacks_source(self, obs: Observation, python_version: str) -> Tuple[str, str]:
        """What samples the stacks ("py-spy", or "profiler": the interpreter's own, where
        py-spy cannot read it) and, if nothing can, why: one line for the stacks pane."""
        sampler = self._samplers.pyspy
        pids = obs.observed_pids()
        sources = {sampler.source(pid) for pid in pids}
        source = PROFILER if sources == {PROFILER} else PYSPY
        unreadable = [pid for pid in pids if sampler.unreadable(pid) and not sampler.source(pid)]
        what = f"Python {python_version}" if python_version else "this interpreter"
        if pids and len(unreadable) == len(pids):
            return source, f"py-spy cannot read {what}: no GIL stacks"
        if obs.gil_source() == "cpu":
            # py-spy may read a free-threaded process, but samples only a GIL's holder
            return source, f"{what} runs without a GIL: no GIL stacks to sample"
        return source, ""


def earlier_relay(obs: Observation, record: RunRecord) -> EarlierRelay:
    """A finished step of a comparison, as it will be drawn above the next one."""
    timeline = obs.timeline
    title = label(record, builds=True)
    if record.python_version:
        title += f" · py{record.python_version}"
    title += f" · {record.wall_s:.2f} s"
    return EarlierRelay(title, obs.lanes(), timeline, timeline.started_ns(), timeline.latest_ns)


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
