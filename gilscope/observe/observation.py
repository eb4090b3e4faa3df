"""One observed run, whatever is observed: its timeline, its threads and one ledger per
source. ``WorkloadObservation`` (gilscope's own workers) and ``TargetObservation`` (attach,
run) fill them their own way; the frozen figures a view needs are assembled here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from gilscope.model.cpu_ledger import CpuLedger
from gilscope.model.journal import Journal, Op
from gilscope.model.lanes import LaneKey
from gilscope.model.probe_ledger import ProbeLedger, ProbeStatus
from gilscope.model.pyspy_ledger import PySpyLedger
from gilscope.model.pyspy_shares import Span, ThreadKey
from gilscope.model.threads import LaneInfo, ThreadRegistry
from gilscope.model.timeline import Timeline
from gilscope.sampling.gil_probe import GilProbe, ProbeTarget
from gilscope.sampling.proc_threads import ticks_to_monotonic_ns
from gilscope.sampling.pyspy import PySpySampler, PySpyWindow
from gilscope.sampling.thread_cpu import CpuSlice, ThreadCpuSampler
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import PySpyStatus, Snapshot, StackRow, ThreadRow

STATS_WINDOW_NS = 2_000_000_000  # the live table's figures cover the last 2 s
END_OF_TIME = 2**62  # a thread still alive ends after any observation


@dataclass
class Samplers:
    """The session's samplers, which outlive any one observation."""

    pyspy: PySpySampler
    probe: Optional[GilProbe]
    thread_cpu: ThreadCpuSampler  # per-thread CPU at 100 Hz, for processes without a GIL


class Observation:
    """Subclasses say what is observed; the session feeds every sample through here."""

    kind = ""  # "" for gilscope's own workloads, "attach" or "run"

    def __init__(self, samplers: Samplers) -> None:
        """``samplers``: the session's (a replay's have none running)."""
        self.samplers = samplers
        self.timeline = Timeline()
        self.threads = ThreadRegistry(self.timeline)
        self.pyspy = PySpyLedger()
        self.cpu = CpuLedger()
        self.probe = ProbeLedger(samplers.probe.rate_hz if samplers.probe else 0)
        self.started_ns = time.monotonic_ns()
        self.running_since = 0  # when the observed threads began (workers: "go")
        self.problems: List[str] = []  # new ones, for the session to collect

    # -- what subclasses say ----------------------------------------------------------
    @property
    def state(self) -> RunState:
        raise NotImplementedError

    @property
    def pids(self) -> List[int]:
        """The processes observed now (py-spy and CPU follow these)."""
        raise NotImplementedError

    def observed_pids(self) -> List[int]:
        """Every process of this observation, ended ones included."""
        raise NotImplementedError

    def runner(self, pid: int, tid: int) -> Optional[LaneKey]:
        """The runner of a thread a sampler saw (a probe holder, a CPU sample)."""
        raise NotImplementedError

    def poll(self) -> None:
        """Advance (50 Hz): new stamps, hand-offs, the subject's state."""
        raise NotImplementedError

    def on_window(self, window: PySpyWindow) -> None:
        raise NotImplementedError

    def gil_source(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def details(self) -> Dict[str, Any]:
        """The snapshot's fields only this kind of observation knows (spec, wall time,
        target, log...)."""
        raise NotImplementedError

    def reference(self) -> Optional[Timeline]:
        """The workers' own report, where the probe draws and it can check it."""
        return None

    def no_gil_pids(self) -> Set[int]:
        """Live processes without a GIL: their lanes are drawn from per-thread CPU time."""
        return set()

    def sampled_pids(self) -> Set[int]:
        """Processes whose GIL figures are py-spy's samples (neither probe nor beacons)."""
        return set(self.observed_pids()) if self.gil_source() == "py-spy" else set()

    def process_details(self, pid: int) -> Dict[str, Any]:
        """What the JSON says of a process besides its threads (command line, alive...)."""
        return {}

    def probe_targets(self) -> Dict[int, ProbeTarget]:
        """What the probe says of each process observed (whose verdicts count)."""
        probe = self.samplers.probe
        if probe is None:
            return {}
        return {pid: t for pid in self.observed_pids() if (t := probe.target(pid)) is not None}

    # -- shared -----------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED, RunState.STOPPED)

    def apply_probe(self) -> None:
        probe = self.samplers.probe
        if probe is None:
            return
        targets = self.probe_targets()
        fallback = "py-spy's samples" if self.kind else "the workers' own report"
        self.problems += self.probe.verdicts(targets, fallback)
        changes = probe.drain()
        if changes:
            self.probe.apply(changes, self.running_since, self.timeline, self.runner)
        waits = probe.drain_waits()
        if waits:
            self.probe.apply_waits(waits, self.running_since, self.timeline, self.runner)

    def native_tids(self, pid: int) -> bool:
        """py-spy names threads by Linux tid on CPython 3.11+, by pthread id before."""
        return True

    def lives(self) -> Dict[ThreadKey, Optional[Span]]:
        """Each thread's life as py-spy names it, for its whole-run shares: from its
        kernel start time (never late) to when it was seen gone; None where unknown."""
        native = {pid: self.native_tids(pid) for pid in self.observed_pids()}
        out: Dict[ThreadKey, Optional[Span]] = {}
        for r in self.threads.records():
            key = (r.key.pid, r.tid if native.get(r.key.pid, True) else r.ident)
            if not key[1]:
                continue
            start = ticks_to_monotonic_ns(r.start) if r.start else None
            out[key] = (start, r.ended_ns or END_OF_TIME) if start is not None else None
        return out

    def pyspy_shares(self, start: int, end: int) -> Dict[LaneKey, Optional[float]]:
        """Per runner, py-spy's share of the GIL over [start, end)."""
        return self.pyspy.shares((start, end), self.lives())

    # -- a recording --------------------------------------------------------------------
    def record_into(self, journal: Journal) -> None:
        """From now on every change of the model goes into ``journal`` too."""
        self.timeline.record_into(journal, "tl")
        reference = self.reference_timeline()
        if reference is not None:
            reference.record_into(journal, "ref")
        for ledger in (self.cpu, self.pyspy, self.probe):
            ledger.journal = journal

    def reference_timeline(self) -> Optional[Timeline]:
        """The workers' own report, if this kind of observation has one."""
        return None

    def take_ops(self, journal: Journal) -> List[Op]:
        """What changed since the last frame, and the state a frame ends with."""
        self.timeline.trace_state()
        reference = self.reference_timeline()
        if reference is not None:
            reference.trace_state()
        return journal.take() + self.threads.take_changes()

    def recorded_state(self) -> Dict[str, Any]:
        """What a replay needs beside the model to answer as this observation does."""
        pids = self.observed_pids()
        return {
            "pids": pids,
            "sampled": sorted(self.sampled_pids()),
            "details": [[pid, self.process_details(pid)] for pid in pids],
            "native": [[pid, self.native_tids(pid)] for pid in pids],
            "started_ns": self.started_ns,
            "running_since": self.running_since,
            "thread_cpu": list(self.thread_cpu_stats()),
        }

    def thread_cpu_stats(self) -> Tuple[float, float]:
        """The no-GIL lanes' sampler: (reads per second, cores it took); zeros if unused."""
        return self.samplers.thread_cpu.stats()

    def add_fine_cpu(self, slices: Sequence[CpuSlice]) -> None:
        """Per-thread CPU at 100 Hz (processes without a GIL), once the run is running:
        before "go" the workers calibrate, which is no part of the run."""
        since = self.running_since
        if not since:
            return
        for s in slices:
            if s.start_ns >= since and (key := self.runner(s.pid, s.tid)) is not None:
                self.timeline.add_cpu_fine(key, s.start_ns, s.end_ns, s.cpu_ns)

    def housekeeping(self, now: int) -> None:
        """Once a second: ended threads' memory goes once nobody can look at it."""
        self.threads.release_old(now)
        if self.threads.forgotten_keys:
            self.pyspy.forget(self.threads.forgotten_keys)
            self.threads.forgotten_keys.clear()

    def lanes(self) -> Tuple[LaneInfo, ...]:
        """What is drawn: live lanes; once the subject has ended, every lane it had."""
        return tuple(self.threads.lanes(ended=self.ended))

    def span(self, now: int) -> Tuple[int, int, bool]:
        """The table's window: the last 2 s of a run (a younger run from its start), or a
        finished run whole. (start, end, whole)."""
        start = self.timeline.started_ns() or now
        latest = self.timeline.latest_ns
        if self.ended and latest > start:
            return start, latest, True
        return max(now - STATS_WINDOW_NS, start), now, False

    def rows(
        self, lanes: Sequence[LaneInfo], now: int, sampled_pids: Set[int],
        reference: Optional[Timeline] = None,
    ) -> Tuple[List[ThreadRow], List[StackRow]]:  # fmt: skip
        """The thread table and the stacks pane, one row per drawn lane; ``sampled_pids``:
        processes with neither beacons nor probe, where py-spy's share is the best there is."""
        start, end, whole = self.span(now)
        members: Dict[LaneKey, List[LaneKey]] = {}
        for record in self.threads.records():
            members.setdefault(record.lane, []).append(record.key)
        rows, stacks = [], []
        whole_spy = self.pyspy_shares(start, end) if whole else {}
        for lane in lanes:
            runners = members.get(lane.key, [lane.key])
            figures = self.timeline.totals if whole else self.timeline.stats
            st = figures(lane.key, start, end)
            if whole:  # the whole run: every member's windows
                shares = [whole_spy.get(r) for r in runners]
                known = [s for s in shares if s is not None]
                spy = sum(known) if known else None
            else:
                spy = self.pyspy.lane_share(lane.key)
            exact: Optional[float] = st.gil_share
            if lane.key.pid in sampled_pids:
                exact = spy if spy is not None else 0.0
            ref = None
            if reference is not None:
                ref_figures = reference.totals if whole else reference.stats
                ref = ref_figures(lane.key, start, end).gil_share
            held = next((s for r in reversed(runners) if (s := self.pyspy.stack(r))), None)
            function = ""
            if held is not None and held.stacks and held.stacks[0].frames:
                top = held.stacks[0].frames
                function = top[-1].function
                frames = tuple(str(f) for f in reversed(top))
                stacks.append(StackRow(lane.label, frames, spy))
            rows.append(
                ThreadRow(
                    key=lane.key,
                    name=lane.label,
                    tid=lane.tid,
                    pid=lane.key.pid,
                    gil_share=exact if lane.gil else None,
                    gil_share_pyspy=spy if lane.gil else None,
                    gil_share_reference=ref if lane.gil else None,
                    cpu=self.timeline.cpu_share(lane.key, start, end),
                    function=function,
                    handoffs_per_s=st.handoffs_per_s,
                    mean_hold_ms=st.mean_hold_ms,
                    wait_share=st.waits.share if lane.gil else None,
                    wait_p50_ms=st.waits.p50_ms,
                    wait_p99_ms=st.waits.p99_ms,
                    members=lane.members,
                    shared=lane.shared,
                )
            )
        return rows, stacks

    def freeze(self, now: int) -> Snapshot:
        """Everything a view needs for one frame (the session adds what it keeps)."""
        lanes = self.lanes()
        source = self.gil_source()
        sampled = self.sampled_pids()
        rows, stacks = self.rows(lanes, now, sampled, self.reference())
        pairs = [
            (r.gil_share, r.gil_share_reference)
            for r in rows
            if r.gil_share is not None and r.gil_share_reference is not None
        ]
        return Snapshot(
            now_ns=now,
            state=self.state,
            elapsed_s=(now - self.started_ns) / 1e9,
            lanes=lanes,
            batons=self.batons([lane for lane in lanes if lane.key.pid not in sampled], now),
            threads=tuple(rows),
            cores=self.cpu.cores,
            core_history=self.cpu.history(),
            stacks=tuple(stacks),
            pyspy=PySpyStatus(False, None, None, 0),  # the session's
            results=(),
            timeline=self.timeline,
            gil=all(lane.gil for lane in lanes) if lanes else None,
            gil_source=source,
            probe=self.probe_status(pairs, now),
            other_cpu=self.cpu.other_now,
            processes=len(self.observed_pids()),
            processes_live=len(self.pids),
            **self.details(),
        )

    def probe_status(self, pairs: Sequence[Tuple[float, float]], now: int) -> ProbeStatus:
        """How the probe is doing; ``pairs``: (probe share, report share) per lane."""
        probe = self.samplers.probe
        return self.probe.status(
            probe.stats() if probe is not None else None,
            probe.error if probe is not None else "",
            list(self.probe_targets()) or self.observed_pids(),
            pairs,
            now,
        )

    def batons(self, lanes: Sequence[LaneInfo], now: int) -> Tuple[LaneKey, ...]:
        out = []
        for pid in dict.fromkeys(lane.key.pid for lane in lanes):
            holder = self.timeline.holder(pid, now)
            if holder is not None:
                out.append(holder)
        return tuple(out)
