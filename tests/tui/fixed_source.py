"""A fixed, synthetic sample stream for the UI tests: nothing here depends on the clock."""

from __future__ import annotations

from dataclasses import replace
from typing import List, Optional

from gilscope.model.metrics import RunRecord
from gilscope.model.timeline import MS, LaneKey, Timeline
from gilscope.sampling.cpu import CpuSampler  # noqa: F401 - the real module must import
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec
from gilscope.snapshot import LaneInfo, ProbeStatus, PySpyStatus, Snapshot, StackRow, ThreadRow

NOW_NS = 1_000_000 * MS  # 1000 s after an arbitrary epoch
PID = 3141582  # seven digits, as on a long-running Linux host


def synthetic_timeline(seconds: float = 3.0, processes: int = 1, threads: int = 2) -> Timeline:
    """Threads of one process alternate every 5 ms, stamping every 1 ms; processes overlap."""
    timeline = Timeline()
    start = NOW_NS - int(seconds * 1e9)
    batches = []
    for p in range(processes):
        pid = PID + p
        for t in range(threads):
            key = LaneKey(pid, p * threads + t)
            timeline.add_lane(key, f"countdown-{p * threads + t}", p, MS)
            stamps: List[int] = []
            for slice_start in range(start + t * 5 * MS, NOW_NS, threads * 5 * MS):
                stamps.extend(slice_start + k * MS for k in range(1, 6))
            batches.append((key, [s for s in stamps if s <= NOW_NS]))
    timeline.add_stamps(batches)
    return timeline


def synthetic_snapshot(scenario: Scenario = Scenario.THREADS) -> Snapshot:
    lanes = tuple(
        LaneInfo(LaneKey(PID, i), f"countdown-{i}", 0, 3141590 + i, 140000000 + i) for i in range(2)
    )
    rows = tuple(
        ThreadRow(
            key=lane.key,
            name=lane.name,
            tid=lane.tid,
            pid=PID,
            gil_share=0.5,
            gil_share_pyspy=0.49,
            cpu=0.48,
            function="countdown",
            handoffs_per_s=100.0,
            mean_hold_ms=5.0,
            wait_share=0.49,
            wait_p50_ms=5.0,
            wait_p99_ms=5.3,
        )
        for lane in lanes
    )
    frames = ("countdown (worker.py:35)", "main.<locals>.run (worker.py:93)", "Thread.run")
    return Snapshot(
        now_ns=NOW_NS,
        spec=WorkloadSpec(scenario, 50_000_000, 2, "/usr/bin/python3"),
        state=RunState.RUNNING,
        error="",
        elapsed_s=1.5,
        wall_s=None,
        lanes=lanes,
        batons=(lanes[1].key,),
        threads=rows,
        cores=(0.97, 0.06),
        core_history=(tuple(0.9 + (i % 3) / 30 for i in range(40)), tuple(0.05 for _ in range(40))),
        stacks=tuple(StackRow(lane.name, frames, 0.49) for lane in lanes),
        pyspy=PySpyStatus(available=True, rate_hz=998.0, agreement_pp=0.6, windows=12),
        results=(
            RunRecord("sequential", 50_000_000, 2, 2.31),
            RunRecord("threads", 50_000_000, 2, 2.44),
        ),
        timeline=synthetic_timeline(),
        python_version="3.11.7",
        gil=True,
        gil_source="probe",
        probe=PROBE_READY,
        expected_s=3.4,
        run_s=1.4,
    )


PROBE_READY = ProbeStatus(
    state="ready",
    note="self-inspection",
    reads_per_s=5000.0,
    cpu=0.15,
    agreement_pp=0.4,
    handoffs_per_s=190.0,
    interval_ms=5.0,
)


class FixedSource:
    """Answers every pull with the same snapshot; records what the app asked for."""

    def __init__(self, snapshot: Optional[Snapshot] = None) -> None:
        self._snapshot = snapshot or synthetic_snapshot()
        self.restarts: List[Optional[WorkloadSpec]] = []
        self.plans: List[List[WorkloadSpec]] = []

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None:
        self.restarts.append(spec)
        if spec is not None:
            self._snapshot = replace(self._snapshot, spec=spec)

    def run_plan(self, specs: List[WorkloadSpec]) -> None:
        self.plans.append(list(specs))
        self._snapshot = replace(self._snapshot, spec=specs[0], plan=(1, len(specs)))


def convoy_snapshot() -> Snapshot:
    """A countdown thread and an I/O responder: each request waits ~4 ms for the baton."""
    from gilscope.model.metrics import LatencyFigures
    from gilscope.sampling.report import ACQUIRED, RELEASED, WAITING

    timeline = Timeline()
    cpu, io = LaneKey(PID, 0), LaneKey(PID, 1)
    timeline.add_lane(cpu, "cpu-countdown", 0, MS)
    timeline.add_lane(io, "io-responder", 0, MS)
    start = NOW_NS - 3_000 * MS
    stamps: List[int] = []
    events: List[int] = []
    for period in range(start, NOW_NS - 10 * MS, 10 * MS):  # a request every 10 ms
        stamps.extend(period + k * MS for k in range(1, 6))
        events += [WAITING | (period + 1 * MS), ACQUIRED | (period + 5 * MS + MS // 2),
                   RELEASED | (period + 6 * MS)]  # fmt: skip
        stamps.extend(period + k * MS for k in range(7, 10))
    timeline.add_stamps([(cpu, stamps), (io, events)])
    base = synthetic_snapshot(Scenario.CONVOY)
    lanes = (
        LaneInfo(cpu, "cpu-countdown", 0, 3141590, 140000000),
        LaneInfo(io, "io-responder", 0, 3141591, 140000001),
    )
    rows = (
        replace(base.threads[0], key=cpu, name="cpu-countdown", gil_share=0.9, cpu=0.93,
                wait_share=0.0, wait_p50_ms=None, wait_p99_ms=None),
        replace(base.threads[1], key=io, name="io-responder", gil_share=0.05, cpu=0.04,
                function="responder", handoffs_per_s=100.0, mean_hold_ms=0.5,
                wait_share=0.45, wait_p50_ms=4.5, wait_p99_ms=9.6),
    )  # fmt: skip
    latency = LatencyFigures(0.12, 0.31, 498, 4.9, 9.8, 201)
    return replace(
        base,
        lanes=lanes,
        threads=rows,
        batons=(cpu,),
        timeline=timeline,
        latency=latency,
        stacks=(),
        results=(RunRecord("sequential", 50_000_000, 2, 2.31),),
    )


def target_snapshot() -> Snapshot:
    """``gilscope run -- ./serve``: a program that embeds Python, which the probe will not
    run, so the shares are py-spy's samples; its output, its exit status."""
    from gilscope.sampling.target import LogLine

    timeline = Timeline()
    keys = [LaneKey(PID, PID + i) for i in range(3)]
    names = ["MainThread", "worker-1", "worker-2"]
    for key, name in zip(keys, names):
        timeline.add_lane(key, name, 0, 0)
    for w in range(6):  # six half-second windows
        end = NOW_NS - (5 - w) * 500 * MS
        for key, share in zip(keys, (0.02, 0.49, 0.47)):
            timeline.add_sampled(key, end - 500 * MS, end, share)
    base = synthetic_snapshot()
    lanes = tuple(LaneInfo(k, n, 0, k.slot, 0) for k, n in zip(keys, names))
    rows = tuple(
        replace(base.threads[0], key=k, name=n, tid=k.slot, gil_share=s, gil_share_pyspy=s,
                function=f, handoffs_per_s=0.0, mean_hold_ms=0.0)
        for k, n, s, f in zip(keys, names, (0.02, 0.49, 0.47), ("join", "crunch", "crunch"))
    )  # fmt: skip
    log = tuple(LogLine(NOW_NS, f"processed batch {i}") for i in range(1, 8))
    return replace(
        base,
        lanes=lanes,
        threads=rows,
        batons=(),
        stacks=(StackRow("worker-1", ("crunch (serve.py:12)", "Thread.run"), 0.49),),
        timeline=timeline,
        target="run · ./serve --batches 7",
        target_kind="run",
        log=log,
        exit_code=0,
        state=RunState.DONE,
        wall_s=3.02,
        gil_source="py-spy",
        probe=ProbeStatus("failed", "Python is embedded in serve, not a python binary"),
    )


def attach_snapshot() -> Snapshot:
    """``gilscope attach PID``: the probe reads the process's GIL, exact hand-offs."""
    base = synthetic_snapshot()
    return replace(
        base,
        target=f"attach {PID} · python crunch.py",
        target_kind="attach",
        probe=replace(PROBE_READY, agreement_pp=None),
    )


def no_gil_snapshot() -> Snapshot:
    """A free-threaded interpreter running the threads scenario: no GIL, lanes from each
    thread's CPU time at 100 Hz (the second thread off its CPU for 20 ms now and then)."""
    base = synthetic_snapshot()
    timeline = Timeline()
    for i, lane in enumerate(base.lanes):
        timeline.add_lane(lane.key, lane.name, 0, MS)
        for b in range(30):
            t = NOW_NS - 3_000 * MS + b * 100 * MS
            timeline.add_cpu(lane.key, t, t + 100 * MS, 98 * MS)
        for b in range(300):
            t = NOW_NS - 3_000 * MS + b * 10 * MS
            off = i == 1 and b % 10 in (3, 4)
            timeline.add_cpu_fine(lane.key, t, t + 10 * MS, 0 if off else 10 * MS)
    return replace(
        base,
        lanes=tuple(replace(lane, gil=False) for lane in base.lanes),
        threads=tuple(
            replace(
                r,
                gil_share=None,
                gil_share_pyspy=None,
                cpu=0.98,
                handoffs_per_s=0.0,
                mean_hold_ms=0.0,
                function="",  # py-spy cannot read this build
            )
            for r in base.threads
        ),
        batons=(),
        timeline=timeline,
        cores=(0.99, 0.98),
        python_version="3.13.1t",
        gil=False,
        gil_source="cpu",
        probe=ProbeStatus("no-gil", "a free-threaded build running without its GIL"),
        stacks=(),
        pyspy=PySpyStatus(
            True, None, None, 0, problem="py-spy cannot read Python 3.13.1t: no GIL stacks"
        ),
    )


def gil_vs_ft_snapshot() -> Snapshot:
    """The GIL vs free-threaded comparison, done: threads ×2 took 1 s on the GIL build
    (kept above, its lanes taking turns) and 0.5 s without a GIL (both lanes at once)."""
    from gilscope.snapshot import EarlierRelay

    earlier_timeline = synthetic_timeline(seconds=1.0)
    gil_lanes = synthetic_snapshot().lanes
    base = no_gil_snapshot()
    timeline = Timeline()
    for lane in base.lanes:
        timeline.add_lane(lane.key, lane.name, 0, MS)
        for b in range(50):
            t = NOW_NS - 500 * MS + b * 10 * MS
            timeline.add_cpu_fine(lane.key, t, t + 10 * MS, 10 * MS)
    step = EarlierRelay(
        "threads ×2 (GIL) · py3.11.7 · 1.00 s",
        gil_lanes,
        earlier_timeline,
        earlier_timeline.started_ns(),
        earlier_timeline.latest_ns,
    )
    return replace(
        base,
        state=RunState.DONE,
        wall_s=0.5,
        timeline=timeline,
        earlier=(step,),
        plan=(2, 2),
        results=(
            RunRecord("threads", 50_000_000, 2, 1.0, python_version="3.11.7"),
            RunRecord("threads", 50_000_000, 2, 0.5, gil=False, python_version="3.13.1t"),
        ),
    )


POOL_NAMES = [f"ThreadPoolExecutor-0_{i}" for i in range(4)] + ["waitress-main-thread"]


def pool_timeline(names: List[str]) -> Timeline:
    """Threads of one process with long names taking 5 ms turns, read by the probe."""
    timeline = Timeline()
    keys = [LaneKey(PID, 100 + i) for i in range(len(names))]
    for key, name in zip(keys, names):
        timeline.add_lane(key, name, 0, 0)
    start = NOW_NS - 3_000 * MS
    changes = [(t, keys[(t - start) // (5 * MS) % len(keys)]) for t in range(start, NOW_NS, 5 * MS)]
    timeline.add_holders(PID, changes)
    return timeline


def served_snapshot() -> Snapshot:
    """``gilscope run -- gunicorn …``: a long command, long thread names that differ only
    at their end, log lines longer than any pane, a busy machine."""
    from gilscope.sampling.target import LogLine

    base = target_snapshot()
    timeline = pool_timeline(POOL_NAMES)
    lanes = tuple(
        LaneInfo(LaneKey(PID, 100 + i), name, 0, 3141700 + i, 0)
        for i, name in enumerate(POOL_NAMES)
    )
    rows = tuple(
        replace(base.threads[1], key=lane.key, name=lane.name, tid=lane.tid, gil_share=0.2,
                gil_share_pyspy=0.2, function="handle")
        for lane in lanes
    )  # fmt: skip
    log = tuple(
        LogLine(NOW_NS, f"[2026-12-01 10:00:0{i} +0000] [{4300 + i}] [INFO] Booting worker "
                f"with pid: {4300 + i} (gthread, 8 threads) listening at http://0.0.0.0:8000")
        for i in range(8)
    )  # fmt: skip
    return replace(
        base,
        lanes=lanes,
        threads=rows,
        batons=(lanes[1].key,),
        timeline=timeline,
        stacks=(),
        target="run · python -m gunicorn --workers 4 --threads 8 --bind 0.0.0.0:8000 "
        "myproject.wsgi:application",
        log=log,
        exit_code=None,
        state=RunState.RUNNING,
        wall_s=None,
        gil_source="probe",
        probe=PROBE_READY,
        processes=5,
        processes_live=5,
        other_cpu=1.3,
    )


def many_results_snapshot() -> Snapshot:
    """Seven finished runs and one in progress, on a busy machine: more rows than a short
    terminal's results panel holds."""
    records = (
        RunRecord("sequential", 50_000_000, 2, 2.31),
        RunRecord("threads", 50_000_000, 2, 2.44),
        RunRecord("processes", 50_000_000, 2, 1.21),
        RunRecord("native", 2048, 1, 1.32),
        RunRecord("native", 2048, 2, 0.74),
        RunRecord("io", 2000, 1, 2.50),
        RunRecord("io", 2000, 4, 0.69, other_cpu=1.2),
    )
    base = synthetic_snapshot()
    return replace(
        base,
        spec=replace(base.spec, workers=4),
        results=records,
        other_cpu=1.3,
    )
