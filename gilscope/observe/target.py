"""Observing a Python process gilscope did not write (``attach PID``, ``run -- cmd``): its
threads come from /proc as they start and end, its GIL from the probe (or, where the probe
cannot read it, from py-spy's windows)."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from gilscope.model.lanes import LaneKey
from gilscope.model.pyspy_ledger import SeenThread
from gilscope.observe.observation import Observation, Samplers
from gilscope.sampling.proc_threads import ThreadNames
from gilscope.sampling.pyspy import PERIOD_S, PySpyWindow
from gilscope.sampling.target import TargetError
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import RunState, WorkloadSpec


class TargetObservation(Observation):
    def __init__(self, samplers: Samplers, target: ExternalTarget) -> None:
        super().__init__(samplers)
        self.target = target
        self.kind = target.kind
        self.names = ThreadNames()

    @property
    def state(self) -> RunState:
        return self.target.state

    @property
    def pids(self) -> List[int]:
        return self.target.pids

    def observed_pids(self) -> List[int]:
        return [self.target.pid] if self.target.pid else []

    def start(self) -> None:
        target = self.target
        if target.state is RunState.STARTING:
            try:
                target.start()
            except TargetError as e:
                target.state, target.error = RunState.FAILED, str(e)
                self.problems.append(f"{target.describe()}: {e}")
        self.running_since = time.monotonic_ns()
        if target.state is RunState.RUNNING:
            info = target.info
            self.threads.set_gil(target.pid, info is None or info.gil_enabled is not False)
            self.samplers.pyspy.attach(target.pid)
            if self.samplers.probe is not None:
                self.samplers.probe.watch(target.pid)

    def stop(self) -> None:
        self.samplers.pyspy.detach_all()
        if self.samplers.probe is not None:
            self.samplers.probe.forget_all()
        self.target.stop()

    def runner(self, pid: int, tid: int) -> Optional[LaneKey]:
        """Any thread of the target, made if new (the probe may see it before /proc)."""
        key = self.threads.find(pid, tid)
        if key is not None:
            return key
        start, name = self.names.identify(pid, tid)
        return self.threads.thread(pid, tid, start, name)

    def details(self) -> Dict[str, Any]:
        t = self.target
        return {
            "spec": WorkloadSpec(),
            "error": t.error,
            "wall_s": t.wall_s,
            "python_version": t.info.python_version if t.info else "",
            "target": t.describe(),
            "target_kind": t.kind,
            "log": t.lines(),
            "exit_code": t.exit_code,
        }

    def native_tids(self) -> bool:
        """py-spy names threads by Linux tid on CPython 3.11+, by pthread id before."""
        info = self.target.info
        if info is None:
            return True
        parts = info.python_version.split(".")
        return len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= 11

    def gil_source(self) -> str:
        pids = self.observed_pids()
        if pids and all(p in self.probe.drawn for p in pids):
            return "probe"
        probe = self.samplers.probe
        t = probe.target(pids[0]) if probe is not None and pids else None
        if t is not None and t.state == "starting":
            return "probe"  # for the first ~0.1 s: nothing is drawn from py-spy yet either
        return "py-spy"

    # -- the collector ----------------------------------------------------------------
    def poll(self) -> None:
        before = self.target.state
        state = self.target.poll()
        if state is not before and before is RunState.RUNNING:
            self.samplers.pyspy.detach_all()
            for pid in self.observed_pids():
                self.threads.end_process(pid)
        self.apply_probe()
        if self.samplers.probe is not None:
            for pid in self.observed_pids():
                idents = self.samplers.probe.take_idents(pid)
                if idents:
                    self.threads.learn_idents(pid, idents.items())

    def follow(self, tids_by_pid: dict[int, List[int]]) -> None:
        """The target's live threads as /proc lists them (each CPU sample)."""
        for pid, tids in tids_by_pid.items():
            self.threads.follow(pid, tids, self.names.identify)

    def on_window(self, window: PySpyWindow) -> None:
        """py-spy names the threads and gives their stacks; for a process the probe cannot
        read its complete windows are the GIL signal too: each one's shares fill the newest
        half-second of the lanes (windows overlap by half)."""
        if window.pid not in self.observed_pids():
            return
        native = self.native_tids()
        seen = []
        for t in window.threads:
            if not t.tid:
                continue  # a thread py-spy caught before it had an id: nobody to give it to
            if native:
                self.runner(window.pid, t.tid)  # a thread new to us: named as /proc knows it
            since = window.launched_ns or window.start_ns
            key = self.threads.pyspy_thread(window.pid, t.tid, t.name, native, since)
            record = self.threads.get(key)
            seen.append(SeenThread(key, record.lane if record is not None else key, t))
        lanes = [lane.key for lane in self.threads.lanes() if lane.key.pid == window.pid]
        # A window cut short by the target's exit has an estimated interval count; for a
        # process without a probe it is still the best figure there is (and for a short
        # script, the only one).
        self.pyspy.add(window, seen, lanes, counts=window.complete and window.timed)
        if window.pid in self.probe.drawn:
            return  # the probe's exact lanes win
        start = max(window.start_ns, window.end_ns - int(PERIOD_S * 1e9))
        for s in seen:
            self.timeline.add_sampled(s.runner, start, window.end_ns,
                                      s.gil.samples / window.intervals)  # fmt: skip
