"""Observing a Python program gilscope did not write (``attach PID``, ``run -- cmd``): its
processes (the target and its Python descendants) and their threads come from /proc as they
start and end, each process's GIL from the probe (or, where the probe cannot read it, from
py-spy's windows)."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Set, Tuple

from gilscope.model.lanes import LaneKey
from gilscope.model.pyspy_ledger import SeenThread
from gilscope.observe.observation import Observation, Samplers
from gilscope.sampling.gil_probe import ProbeTarget
from gilscope.sampling.proc_threads import ThreadNames, process_alive
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
        self._moot: Set[int] = set()  # ended before the probe could read them: no failure
        # py-spy's shares of a process the probe is still verifying: drawn only if it fails
        # (if it is ready, its exact lanes cover that time; sampled time has no runs, and a
        # run's figures would count it as time nobody held the GIL)
        self._held: Dict[int, List[Tuple[LaneKey, int, int, float]]] = {}

    @property
    def state(self) -> RunState:
        return self.target.state

    @property
    def pids(self) -> List[int]:
        return self.target.pids

    def observed_pids(self) -> List[int]:
        return self.target.observed_pids()

    def start(self) -> None:
        target = self.target
        if target.state is RunState.STARTING:
            try:
                target.start()
            except TargetError as e:
                target.state, target.error = RunState.FAILED, str(e)
                self.problems.append(f"{target.describe()}: {e}")
        self.running_since = time.monotonic_ns()
        self._adopt()

    def _adopt(self) -> None:
        """Processes of the target that started or ended: each one started is read by
        py-spy and the probe; each one ended keeps its threads, ended."""
        changes = self.target.changes()
        self.problems += changes.skipped
        probe = self.samplers.probe
        for started, process in changes.events:
            pid = process.pid
            if not started:
                self.threads.end_process(pid)
                self.samplers.pyspy.detach(pid)
                continue
            if self.target.state is not RunState.RUNNING:
                continue  # found as it ended: nothing to read any more
            # A free-threaded build whose environment could not be read (it may be
            # mid-exec) runs without its GIL unless told otherwise: take that, and let the
            # probe, which reads the process's own flag, say if it is on.
            self.threads.set_gil(pid, process.info.gil_enabled is True)
            self.samplers.pyspy.attach(pid)
            if probe is not None:
                if probe.target(pid) is not None:
                    probe.forget(pid)  # it exec'd another interpreter: a new layout
                    self.probe.drawn.discard(pid)
                probe.watch(pid)

    def stop(self) -> None:
        self.samplers.pyspy.detach_all()
        self.samplers.thread_cpu.forget_all()
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

    def process_details(self, pid: int) -> Dict[str, Any]:
        process = self.target.processes.get(pid)
        if process is None:
            return {}
        return {
            "cmdline": process.cmdline,
            "parent": process.parent,
            "python_version": process.info.python_version,
            "alive": self.target.alive(pid),
            "source": "py-spy"
            if pid in self.sampled_pids()
            else "probe"
            if pid in self.probe.drawn or self.threads.gil_of(pid)
            else "cpu",
            "probe": self._probe_verdict(pid),
        }

    def _probe_verdict(self, pid: int) -> Optional[str]:
        """What the probe last said of ``pid``: "ready", "ended", "failed: why"..."""
        probe = self.samplers.probe
        t = probe.target(pid) if probe is not None else None
        if t is None:
            return None
        return f"{t.state}: {t.reason}" if t.reason else t.state

    def native_tids(self, pid: int) -> bool:
        """py-spy names threads by Linux tid on CPython 3.11+, by pthread id before."""
        process = self.target.processes.get(pid)
        info = process.info if process is not None else self.target.info
        if info is None:
            return True
        parts = info.python_version.split(".")
        return len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= 11

    def gil_source(self) -> str:
        """The probe's once it draws any process (the others are py-spy's: see
        ``sampled_pids``)."""
        pids = self.observed_pids()
        if any(p in self.probe.drawn for p in pids):
            return "probe"
        if pids and not any(self.threads.gil_of(p) for p in pids):
            return "cpu"  # no GIL anywhere: the lanes are the threads' CPU time
        probe = self.samplers.probe
        if probe is not None and any(
            (t := probe.target(p)) is not None and t.state == "starting" for p in self.pids
        ):
            return "probe"  # for the first ~0.1 s: nothing is drawn from py-spy yet either
        return "py-spy"

    def sampled_pids(self) -> Set[int]:
        """Processes the probe does not draw (nor any without a GIL, drawn from their CPU
        time): py-spy's samples are all there is."""
        return {
            p for p in self.observed_pids()
            if p not in self.probe.drawn and self.threads.gil_of(p)
        }  # fmt: skip

    def no_gil_pids(self) -> Set[int]:
        return {p for p in self.pids if not self.threads.gil_of(p)}

    def probe_targets(self) -> Dict[int, ProbeTarget]:
        """A process that ended before the probe could read it did not make it fail."""
        targets = super().probe_targets()
        for pid, t in list(targets.items()):
            failed = t.state == "failed" and pid not in self.probe.drawn
            if failed and (pid in self._moot or not process_alive(pid)):
                self._moot.add(pid)
                del targets[pid]
        return targets

    # -- the collector ----------------------------------------------------------------
    def poll(self) -> None:
        before = self.target.state
        state = self.target.poll()
        self._adopt()
        if state is not before and before is RunState.RUNNING:
            self.samplers.pyspy.detach_all()
            for pid in self.observed_pids():
                self.threads.end_process(pid)
        self.apply_probe()
        self._release_held()
        for pid, t in self.probe_targets().items():
            # The probe read the process's own GIL flag: a free-threaded build may have its
            # GIL on (an extension that needs it) or off whatever its environment said.
            if t.state in ("ready", "no-gil") and self.threads.gil_of(pid) != (t.state == "ready"):
                self.threads.set_gil(pid, t.state == "ready")
        if self.samplers.probe is not None:
            for pid in self.pids:
                idents = self.samplers.probe.take_idents(pid)
                if idents:
                    self.threads.learn_idents(pid, idents.items())

    def follow(self, tids_by_pid: dict[int, List[int]]) -> None:
        """The target's live threads as /proc lists them (each CPU sample)."""
        for pid, tids in tids_by_pid.items():
            self.threads.follow(pid, tids, self.names.identify)

    def _probe_may_read(self, pid: int) -> bool:
        """The probe reads ``pid``, or still may (it is verifying it)."""
        probe = self.samplers.probe
        t = probe.target(pid) if probe is not None else None
        return t is not None and t.state in ("starting", "ready")

    def on_window(self, window: PySpyWindow) -> None:
        """py-spy names the threads and gives their stacks; for a process the probe cannot
        read its complete windows are the GIL signal too: each one's shares fill the newest
        half-second of the lanes (windows overlap by half)."""
        if window.pid not in self.observed_pids():
            return
        native = self.native_tids(window.pid)
        seen = []
        for t in window.threads:
            if not t.tid:
                continue  # a thread py-spy caught before it had an id: nobody to give it to
            if native:
                self.runner(window.pid, t.tid)  # a thread new to us: named as /proc knows it
            since = window.launched_ns or window.start_ns
            # A pthread id the probe has not matched with a tid yet: wait for it, rather
            # than make a second thread of one (py-spy alone knows it only if no probe will).
            make = not self._probe_may_read(window.pid)
            key = self.threads.pyspy_thread(window.pid, t.tid, t.name, native, since, make)
            if key is None:
                continue
            record = self.threads.get(key)
            seen.append(SeenThread(key, record.lane if record is not None else key, t))
        lanes = [lane.key for lane in self.threads.lanes() if lane.key.pid == window.pid]
        self.pyspy.add(window, seen, lanes, self.timeline.started_ns(), self.lives)
        if window.pid in self.probe.drawn or not self.threads.gil_of(window.pid):
            return  # the probe's exact lanes win; without a GIL there is no share to draw
        start = max(window.start_ns, window.end_ns - int(PERIOD_S * 1e9))
        shares = [(s.runner, start, window.end_ns, s.gil.samples / window.intervals) for s in seen]
        if self._verifying(window.pid):
            self._held.setdefault(window.pid, []).extend(shares)
            return
        for share in shares:
            self.timeline.add_sampled(*share)

    def _verifying(self, pid: int) -> bool:
        probe = self.samplers.probe
        target = probe.target(pid) if probe is not None else None
        return target is not None and target.state == "starting"

    def _release_held(self) -> None:
        """py-spy's shares held back while the probe verified a process: dropped if it
        draws the process now, drawn if it does not."""
        for pid in [p for p in self._held if not self._verifying(p)]:
            shares = self._held.pop(pid)
            if pid not in self.probe.drawn:
                for share in shares:
                    self.timeline.add_sampled(*share)
