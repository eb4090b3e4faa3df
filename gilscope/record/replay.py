"""``gilscope replay FILE``: a recording played back into the same model, for the same app
and the same JSON report.

Each frame's ops are applied to a fresh timeline, thread registry and ledgers with the
methods that made them live, so a replayed observation answers exactly as the live one
did; what the model cannot tell (the run's state, the probe's status, the command's output)
comes from the frame's recorded state.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from typing import Any, Deque, Dict, List, Optional, Sequence, Set, Tuple

from gilscope.model import journal as J
from gilscope.model.lanes import LaneKey
from gilscope.model.metrics import LatencyFigures, RunRecord
from gilscope.model.probe_ledger import ProbeStatus
from gilscope.model.threads import LaneInfo
from gilscope.model.timeline import Timeline
from gilscope.observe.observation import Observation, Samplers
from gilscope.record.codec import decode
from gilscope.record.recording import read_recording
from gilscope.sampling.pyspy import PySpyWindow
from gilscope.sampling.target import LogLine
from gilscope.scenarios.workload import RunState, WorkloadSpec
from gilscope.snapshot import PySpyStatus, Snapshot

TIMELINE_OPS = {J.LANE, J.SHARED, J.RUNNER, J.RENAME, J.RELEASE, J.HOLD, J.WAIT, J.WAIT_ENDED,
                J.CPU, J.SAMPLED, J.LATEST, J.UNSEEN, J.BLIND}  # fmt: skip
STATE_KINDS: Dict[str, Any] = {
    "spec": WorkloadSpec,
    "state": RunState,
    "latency": Optional[LatencyFigures],
    "probe": ProbeStatus,
    "pyspy": PySpyStatus,
    "plan": Tuple[int, int],
    "log": List[LogLine],
    "results": List[RunRecord],
    "problems": List[str],
}
LOG_LINES = 2000


class ReplayObservation(Observation):
    """One recorded observation, rebuilt op by op."""

    def __init__(self, kind: str) -> None:
        super().__init__(Samplers(None, None, None))  # type: ignore[arg-type]
        self.kind = "" if kind == "workload" else kind
        self.own_report = Timeline()
        self.scalars: Dict[str, Any] = {}
        self.log: Deque[LogLine] = deque(maxlen=LOG_LINES)
        self._observation: Dict[str, Any] = {}

    def apply_ops(self, frame: Dict[str, Any]) -> None:
        """What happened up to the frame's time (the model)."""
        for op in frame["ops"]:
            code = op[0]
            if code in TIMELINE_OPS:
                (self.own_report if op[1] == "ref" else self.timeline).apply([op])
            elif code in (J.RECORD, J.FORGOTTEN, J.REGISTRY):
                self.threads.apply(op)
            elif code == J.WINDOW:
                window, seen, lanes, start, exact, compare, inside = op[1:]
                self.pyspy.apply_window(
                    window, seen, lanes, start, self.lives, exact, compare, inside
                )
            elif code == J.FORGET:
                self.pyspy.forget(op[1])
            elif code == J.CORES:
                self.cpu.add_cores(tuple(op[1]), op[2])
            elif code == J.OTHER:
                self.cpu.add_other(op[1], op[2], op[3])
            elif code == J.DRAWN:
                self.probe.drawn = set(op[1])
            elif code == J.SWITCHES:
                self.probe.count_switches(op[1], op[2], op[3], op[4])

    def apply_state(self, frame: Dict[str, Any]) -> None:
        """How things stood at the frame's time (what the model cannot tell)."""
        state = frame.get("s", {})
        for name, value in state.items():
            kind = STATE_KINDS.get(name)
            self.scalars[name] = decode(kind, value) if kind is not None else value
        self.log.extend(self.scalars.get("log", ()))
        self._observation = state.get("observation", self._observation)
        self.started_ns = self._observation.get("started_ns", self.started_ns)
        self.running_since = self._observation.get("running_since", 0)

    # -- answering as the live observation did ----------------------------------------
    @property
    def state(self) -> RunState:
        state: RunState = self.scalars.get("state", RunState.STARTING)
        return state

    @property
    def pids(self) -> List[int]:
        return []

    def observed_pids(self) -> List[int]:
        return list(self._observation.get("pids", ()))

    def sampled_pids(self) -> Set[int]:
        return set(self._observation.get("sampled", ()))

    def thread_cpu_stats(self) -> Tuple[float, float]:
        rate, cpu = self._observation.get("thread_cpu", (0.0, 0.0))
        return float(rate), float(cpu)

    def process_details(self, pid: int) -> Dict[str, Any]:
        details: Dict[str, Any] = dict(self._observation.get("details", [])).get(pid, {})
        return details

    def native_tids(self, pid: int) -> bool:
        return bool(dict(self._observation.get("native", [])).get(pid, True))

    def gil_source(self) -> str:
        return str(self.scalars.get("gil_source", "beacons"))

    def reference_timeline(self) -> Optional[Timeline]:
        return self.own_report

    def reference(self) -> Optional[Timeline]:
        return self.own_report if not self.kind and self.gil_source() == "probe" else None

    def probe_status(self, pairs: Sequence[Tuple[float, float]], now: int) -> ProbeStatus:
        status: ProbeStatus = self.scalars.get("probe", ProbeStatus("off"))
        return status

    def batons(self, lanes: Sequence[LaneInfo], now: int) -> Tuple[LaneKey, ...]:
        out = []
        for pid in dict.fromkeys(lane.key.pid for lane in lanes):
            holder = self.timeline.holding(pid, now)
            if holder is not None:
                out.append(holder)
        return tuple(out)

    def details(self) -> Dict[str, Any]:
        s = self.scalars
        return {
            "spec": s.get("spec", WorkloadSpec()),
            "error": s.get("error", ""),
            "wall_s": s.get("wall_s"),
            "latency": s.get("latency"),
            "python_version": s.get("python_version", ""),
            "target": s.get("target", ""),
            "target_kind": s.get("target_kind", ""),
            "log": tuple(self.log),
            "exit_code": s.get("exit_code"),
            "expected_s": s.get("expected_s"),
            "run_s": s.get("run_s"),
        }

    def runner(self, pid: int, tid: int) -> Optional[LaneKey]:
        return None

    def poll(self) -> None:
        pass

    def on_window(self, window: PySpyWindow) -> None:
        pass

    def stop(self) -> None:
        pass


class Replay:
    """A whole recording, played at any position: ``at(t)`` brings the model to recorded
    time ``t`` (back to the start and forward again when ``t`` lies before where it is)."""

    def __init__(self, path: str) -> None:
        self.header, frames = read_recording(path)
        self.frames: List[Dict[str, Any]] = list(frames)
        self.path = path
        if not self.frames:
            from gilscope.record.recording import RecordingError

            raise RecordingError(f"{path} holds no frame: it was cut short at its start")
        self.start_ns = int(self.frames[0]["t"])
        self.end_ns = int(self.frames[-1]["t"])
        self.until_ns: Optional[int] = next(
            (int(f["u"]) for f in reversed(self.frames) if "u" in f), None
        )
        self._rewind()

    def _rewind(self) -> None:
        self.observation: ReplayObservation = ReplayObservation("workload")
        self._current = 0  # the observation number of the frames applied
        # A frame holds what happened since the one before: to show time t, the model
        # needs the frames up to the first at or after t; the state, those up to t.
        self._next_ops = 0
        self._next_state = 0
        self.results: List[RunRecord] = []
        self.problems: List[str] = []
        self.plan: Tuple[int, int] = (0, 0)
        self.pyspy = PySpyStatus(False, None, None, 0)

    def at(self, t_ns: int) -> ReplayObservation:
        frames = self.frames
        if self._next_state and t_ns < int(frames[self._next_state - 1]["t"]):
            self._rewind()
        while self._next_ops < len(frames) and (
            self._next_ops == 0 or int(frames[self._next_ops - 1]["t"]) < t_ns
        ):
            frame = frames[self._next_ops]
            if int(frame.get("o", 0)) != self._current:
                self._current = int(frame.get("o", 0))
                self.observation = ReplayObservation(str(frame.get("kind", "workload")))
            self.observation.apply_ops(frame)
            self._next_ops += 1
        while self._next_state < self._next_ops and (
            self._next_state == 0 or int(frames[self._next_state]["t"]) <= t_ns
        ):
            self._apply_state(frames[self._next_state])
            self._next_state += 1
        return self.observation

    def _apply_state(self, frame: Dict[str, Any]) -> None:
        state = frame.get("s", {})
        # The session's own, whichever observation the frame is of (a run's result comes
        # with its last frame, when the next run may have begun already).
        self.results += decode(List[RunRecord], state.get("results", []))
        self.problems += decode(List[str], state.get("problems", []))
        if "plan" in state:
            self.plan = decode(Tuple[int, int], state["plan"])
        if "pyspy" in state:
            self.pyspy = decode(PySpyStatus, state["pyspy"])
        if int(frame.get("o", 0)) == self._current:  # else a later observation has begun
            self.observation.apply_state(frame)

    def snapshot(self, t_ns: int) -> Snapshot:
        """The view at recorded time ``t_ns``, as the live session froze it then."""
        obs = self.at(t_ns)
        snap = obs.freeze(t_ns)
        return replace(
            snap,
            elapsed_s=float(obs.scalars.get("elapsed_s", snap.elapsed_s)),
            cores=obs.cpu.cores,
            pyspy=self.pyspy,
            results=tuple(self.results),
            problems=tuple(self.problems),
            plan=self.plan,
            other_cpu=obs.scalars.get("other_cpu"),
            processes=int(obs.scalars.get("processes", snap.processes)),
            processes_live=int(obs.scalars.get("processes_live", 0)),
        )


class ReplaySource:
    """The app's snapshot source for a replay: a clock over the recording that plays at
    ``speed``, pauses, and seeks (``SnapshotSource``, plus the replay's own controls)."""

    replay_controls = True

    def __init__(self, replay: Replay, speed: float = 1.0) -> None:
        self.replay = replay
        self.speed = speed
        self.paused = False
        self._position = replay.start_ns
        self._wall = time.monotonic_ns()

    @property
    def position_ns(self) -> int:
        if not self.paused:
            now = time.monotonic_ns()
            self._position += int((now - self._wall) * self.speed)
            self._wall = now
        self._position = min(max(self._position, self.replay.start_ns), self.replay.end_ns)
        return self._position

    def snapshot(self) -> Snapshot:
        position = self.position_ns
        snap = self.replay.snapshot(position)
        state = "PAUSED" if self.paused else f"×{self.speed:g}"
        at, total = position - self.replay.start_ns, self.replay.end_ns - self.replay.start_ns
        return replace(snap, replay=f"REPLAY {_clock(at)}/{_clock(total)} {state}")

    def toggle_pause(self) -> None:
        _ = self.position_ns  # the clock stands where it is now
        self.paused = not self.paused
        self._wall = time.monotonic_ns()

    def seek(self, delta_s: Optional[float] = None, to: Optional[str] = None) -> None:
        """``delta_s`` from here, or ``to`` "start" / "end"."""
        position = self.position_ns
        if to == "start":
            position = self.replay.start_ns
        elif to == "end":
            position = self.replay.end_ns
        elif delta_s is not None:
            position += int(delta_s * 1e9)
        self._position = min(max(position, self.replay.start_ns), self.replay.end_ns)
        self._wall = time.monotonic_ns()

    def faster(self, factor: float) -> None:
        _ = self.position_ns
        self.speed = min(64.0, max(0.25, self.speed * factor))

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None:
        self.seek(to="start")

    def run_plan(self, specs: List[WorkloadSpec]) -> None:
        pass


def _clock(ns: int) -> str:
    s = max(ns, 0) // 1_000_000_000
    return f"{s // 60}:{s % 60:02d}"
