"""Observing gilscope's own workload: workers that announce their threads on a beacon board
and stamp it while they hold the GIL (the reference the probe is checked against)."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Set

from gilscope.model.journal import Journal
from gilscope.model.lanes import LaneKey
from gilscope.model.latency_ledger import LatencyLedger
from gilscope.model.metrics import LatencyFigures, RunRecord
from gilscope.model.pyspy_ledger import SeenThread
from gilscope.model.timeline import Timeline
from gilscope.observe.observation import Observation, Samplers
from gilscope.sampling.pyspy import PySpyWindow
from gilscope.sampling.report import STATE_EMPTY
from gilscope.scenarios.workload import RunState, Workload, WorkloadSpec, expected_wall_s

# Workers wait this long for the probe's verdict and py-spy's first window before "go", so
# both see the run from its start; a verdict takes ~0.1 s (deriving the layout once per
# interpreter, verifying), py-spy's attach ~0.1-0.3 s. On a machine short of CPU the
# self-inspection of a free-threaded build under -X gil=1 took over 3 s: without the
# probe the run would be drawn from the workers' report alone.
OBSERVERS_WAIT_S = 10.0


def usable_cores() -> int:
    """Cores this process (and so its workers) may run on."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return len(getaffinity(0)) if getaffinity is not None else os.cpu_count() or 1


class WorkloadObservation(Observation):
    kind = ""

    def __init__(self, samplers: Samplers, spec: WorkloadSpec, board_path: str) -> None:
        super().__init__(samplers)
        self.spec = spec
        self.workload = Workload(spec, board_path)
        # The workers' own report: the reference the probe is checked against (and what
        # is drawn for a process the probe cannot read).
        self.own_report = Timeline()
        self.latency = LatencyLedger()
        self.record: Optional[RunRecord] = None  # once the run is done
        self._slots: dict[int, LaneKey] = {}  # board slot -> its worker's runner
        self._no_gil: set[int] = set()  # slots of workers without a GIL
        self._lost_told = False
        self._expected_s: Optional[float] = None

    @property
    def state(self) -> RunState:
        return self.workload.state

    @property
    def pids(self) -> List[int]:
        return self.workload.pids

    def observed_pids(self) -> List[int]:
        return self.workload.pids

    def start(self) -> None:
        self.started_ns = time.monotonic_ns()
        try:
            self.workload.start()
        except OSError as e:
            self.workload.stop()
            self.problems.append(f"could not start {self.spec.python}: {e.strerror or e}")
            self.workload.state = RunState.FAILED
            self.workload.error = str(e)
        for pid in self.workload.pids:
            self.samplers.pyspy.attach(pid)
            if self.samplers.probe is not None:
                self.samplers.probe.watch(pid)

    def stop(self) -> None:
        self.samplers.pyspy.detach_all()
        self.samplers.thread_cpu.forget_all()
        if self.samplers.probe is not None:
            self.samplers.probe.forget_all()
        self.workload.stop()

    def runner(self, pid: int, tid: int) -> Optional[LaneKey]:
        key = self.threads.find(pid, tid)
        return key if key is not None and key.pid == pid else None

    def native_tids(self, pid: int) -> bool:
        version = self.python_version().split(".")
        return len(version) < 2 or not version[1].isdigit() or int(version[1]) >= 11

    def python_version(self) -> str:
        infos = self.workload.infos() if self.workload.reader is not None else []
        return infos[0].python_version if infos else ""

    def latency_figures(self) -> Optional[LatencyFigures]:
        return self.latency.figures() if self.workload.latency_slot is not None else None

    def reference_timeline(self) -> Optional[Timeline]:
        return self.own_report

    def record_into(self, journal: Journal) -> None:
        super().record_into(journal)
        self.latency.journal = journal

    def reference(self) -> Optional[Timeline]:
        return self.own_report if self.gil_source() == "probe" else None

    def details(self) -> Dict[str, Any]:
        w = self.workload
        run_s = w.wall_s  # once done; while running, the time since "go"
        if w.state is RunState.RUNNING and self.running_since:
            run_s = max(0, time.monotonic_ns() - self.running_since) / 1e9
        return {
            "spec": w.spec,
            "error": w.error,
            "wall_s": w.wall_s,
            "latency": self.latency_figures(),
            "python_version": self.python_version(),
            "expected_s": self._expected_s,
            "run_s": run_s,
        }

    def no_gil_pids(self) -> Set[int]:
        return {self._slots[slot].pid for slot in self._no_gil} & set(self.pids)

    def gil_source(self) -> str:
        pids = self.observed_pids()
        if pids and self._no_gil and set(pids) <= {self._slots[s].pid for s in self._no_gil}:
            return "cpu"  # no GIL: the lanes are the threads' CPU time
        return "probe" if pids and all(p in self.probe.drawn for p in pids) else "beacons"

    # -- the collector ----------------------------------------------------------------
    def poll(self) -> None:
        w = self.workload
        if w.reader is None:
            return
        before = w.state
        state = w.poll(may_go=self._observers_settled())
        if state is RunState.RUNNING and before is not RunState.RUNNING:
            self.running_since = time.monotonic_ns()
            # Every worker has announced its calibration by now.
            self._expected_s = expected_wall_s(w.spec, w.lanes, w.infos(), usable_cores())
        self._learn_lanes()
        if state is not RunState.STARTING:
            self.apply_probe()
        if w.reader is not None:
            self._drain()
        if state is RunState.DONE and before is not RunState.DONE and w.wall_s is not None:
            self.record = RunRecord(
                str(w.spec.scenario), w.spec.count, w.spec.workers, w.wall_s,
                self.latency_figures(), self.cpu.other_cpu(), gil=not self._no_gil,
                python_version=self.python_version(),
            )  # fmt: skip
        if state is RunState.FAILED and before is not RunState.FAILED and w.error:
            self.problems.append(f"{w.spec.scenario} run failed: {w.error}")

    def _drain(self) -> None:
        w = self.workload
        assert w.reader is not None
        upto = time.monotonic_ns()  # before reading: see Timeline.add_stamps
        batches = w.reader.drain()
        # Without a GIL, "who stamped last" is not who holds anything: such lanes are
        # drawn from CPU time alone.
        stamps = [
            (self._slots[b.slot], b.stamps)
            for b in batches
            if b.slot in self._slots and b.slot not in self._no_gil
        ]
        self.own_report.add_stamps(stamps, upto=upto)
        drawn = self.probe.drawn
        self.timeline.add_stamps([(k, s) for k, s in stamps if k.pid not in drawn], upto=upto)
        # Where the probe draws, it draws the waits too; unless it cannot see them.
        unseen = drawn - self.probe.waits
        self.timeline.add_waiting_marks((k, s) for k, s in stamps if k.pid in unseen)
        for b in batches:
            if b.slot == w.latency_slot:
                self.latency.add(b.stamps)
        lost = sum(b.lost for b in batches)
        if lost and not self._lost_told:
            self._lost_told = True
            self.problems.append(
                f"the collector fell behind: {lost} worker stamps were overwritten before "
                "they were read; the timeline has a gap there"
            )

    def _observers_settled(self) -> bool:
        """May the workers start? Once the probe knows whether it can read them and py-spy
        samples them (or cannot): a short run's stacks and spy% then cover all of it."""
        if time.monotonic_ns() - self.started_ns > OBSERVERS_WAIT_S * 1e9:
            return True
        if not all(self.samplers.pyspy.settled(p) for p in self.pids):
            return False
        probe = self.samplers.probe
        if probe is None or not probe.running:
            return True
        return all((t := probe.target(p)) is None or t.state != "starting" for p in self.pids)

    def _learn_lanes(self) -> None:
        w = self.workload
        if len(self._slots) == len(w.lanes):
            return
        infos = w.infos()
        for lane in w.lanes:
            info = infos[lane.slot]
            if lane.slot in self._slots or not info.pid or info.state == STATE_EMPTY:
                continue  # not announced yet (its state is written last: the rest is there)
            key = LaneKey(info.pid, lane.slot)
            self._slots[lane.slot] = key
            self.threads.add_worker(
                key, lane.name, lane.process_index, info.tid, info.ident, info.chunk_ns, info.gil
            )
            self.own_report.add_lane(key, lane.name, lane.process_index, info.chunk_ns)
            if not info.gil:
                self._no_gil.add(lane.slot)

    def on_window(self, window: PySpyWindow) -> None:
        keys = [k for k in self._slots.values() if k.pid == window.pid]
        if not keys:
            return
        seen = []
        for t in window.threads:
            key = self.threads.find(window.pid, t.tid)
            if key is not None:
                seen.append(SeenThread(key, key, t))
        started = min((self.timeline.first_ns(k) for k in keys), default=0)
        # Straddling the run's start or end (our window clock is only good to ~10 ms), or
        # placed by guess: good for stacks, not for shares.
        inside = (
            self.workload.state is RunState.RUNNING
            and bool(started)
            and window.start_ns >= started
            and window.timed
        )
        self.pyspy.add(
            window, seen, keys, started, self.lives,
            exact=lambda k: self.timeline.held_between(k, window.start_ns, window.end_ns),
            compare=keys if inside else (), inside=inside,
        )  # fmt: skip
