"""What the GIL probe has said: which processes it draws, their hand-offs as the
interpreters count them, and how it is doing."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Sequence, Tuple

from gilscope.model.journal import DRAWN, SWITCHES, Journal
from gilscope.model.lanes import LaneKey
from gilscope.model.metrics import agreement_pp
from gilscope.model.timeline import Timeline
from gilscope.sampling.gil_probe import GilChange, GilWait, ProbeStats, ProbeTarget

STATS_WINDOW_NS = 2_000_000_000  # the live hand-off rate covers the last 2 s
KEEP_SWITCHES = 512


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


class ProbeLedger:
    """Per observation: verdicts, switch counts, and the hand-offs folded into a timeline."""

    def __init__(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz  # 0: the probe is off
        self.drawn: set[int] = set()  # pids whose lanes the probe draws
        self.waits: set[int] = set()  # of those, pids whose threads' waits it follows
        self._noted: set[int] = set()  # pids whose failure was told
        # pid -> (t_ns, switches): the first count seen while running, and the latest
        self._first: Dict[int, Tuple[int, int]] = {}
        self._recent: Dict[int, Deque[Tuple[int, int]]] = {}
        self.journal: Optional[Journal] = None  # a recording's

    def verdicts(self, targets: Dict[int, ProbeTarget], fallback: str) -> List[str]:
        """Draw the processes the probe verified; a failure is told once (the others keep
        ``fallback``: the workers' report, or py-spy)."""
        problems = []
        before = set(self.drawn)
        for pid, t in targets.items():
            if t.state == "ready":
                self.drawn.add(pid)
                if t.waits:
                    self.waits.add(pid)
                elif t.waits_note and pid not in self._noted:
                    self._noted.add(pid)
                    problems.append(f"GIL probe: waits for the GIL not seen ({t.waits_note})")
            elif t.state in ("failed", "no-gil"):
                self.drawn.discard(pid)
                self.waits.discard(pid)
                if t.state == "failed" and pid not in self._noted:
                    self._noted.add(pid)
                    problems.append(f"GIL probe: {t.reason}; drawing from {fallback}")
        if self.journal is not None and self.drawn != before:
            self.journal.add((DRAWN, sorted(self.drawn)))
        return problems

    def count_switches(self, pid: int, t_ns: int, switches: int, first: bool) -> None:
        """The interpreter's own hand-off count at ``t_ns`` (``first``: the run's first)."""
        if self.journal is not None:
            self.journal.add((SWITCHES, pid, t_ns, switches, first))
        if first:
            self._first.setdefault(pid, (t_ns, switches))
        else:
            self._recent.setdefault(pid, deque(maxlen=KEEP_SWITCHES)).append((t_ns, switches))

    def apply(
        self,
        changes: Sequence[GilChange],
        since_ns: int,
        timeline: Timeline,
        runner: Callable[[int, int], Optional[LaneKey]],
    ) -> None:
        """Fold hand-offs from ``since_ns`` on into ``timeline`` (for drawn processes),
        and count switches. ``runner``: the runner of (pid, tid), made if new."""
        by_pid: Dict[int, List[GilChange]] = {}
        for c in changes:
            if c.t_ns >= since_ns:
                by_pid.setdefault(c.pid, []).append(c)
        for pid, items in by_pid.items():
            first, last = items[0], items[-1]
            if pid not in self._first:
                self.count_switches(pid, first.t_ns, first.switches, True)
            self.count_switches(pid, last.t_ns, last.switches, False)
            if pid in self.drawn:
                timeline.add_holders(
                    pid, [(c.t_ns, runner(pid, c.tid) if c.tid > 0 else None) for c in items]
                )

    def handoffs_of(self, pid: int) -> Optional[int]:
        """Hand-offs ``pid``'s interpreter counted itself since the run began."""
        first, recent = self._first.get(pid), self._recent.get(pid)
        return recent[-1][1] - first[1] if first is not None and recent else None

    def apply_waits(
        self,
        waits: Sequence[GilWait],
        since_ns: int,
        timeline: Timeline,
        runner: Callable[[int, int], Optional[LaneKey]],
    ) -> None:
        """Fold the threads' waits for the GIL from ``since_ns`` on into ``timeline``."""
        folded = []
        for w in waits:
            if w.pid in self.waits and w.end_ns > since_ns:
                key = runner(w.pid, w.tid)
                if key is not None:
                    folded.append((key, max(w.start_ns, since_ns), w.end_ns, w.ended))
        if folded:
            timeline.add_waits(folded)

    def handoffs(self) -> Optional[int]:
        """Hand-offs the interpreters counted themselves while the run ran."""
        if not self._first:
            return None
        return sum(self._recent[pid][-1][1] - first[1] for pid, first in self._first.items())

    def status(
        self,
        stats: Optional[ProbeStats],
        error: str,
        pids: Sequence[int],
        pairs: Sequence[Tuple[float, float]],
        now_ns: int,
    ) -> ProbeStatus:
        """``pairs``: (probe share, report share) per lane, for the live agreement."""
        if not self.rate_hz or stats is None:
            return ProbeStatus("off", "the GIL probe is off (--probe-rate 0)")
        targets = [stats.targets[pid] for pid in pids if pid in stats.targets]
        if error and not targets:
            return ProbeStatus("failed", error)
        if not targets:
            return ProbeStatus("starting")
        worst = next((t for t in targets if t.state in ("failed", "no-gil")), targets[0])
        note = worst.reason if worst.state in ("failed", "no-gil") else worst.source
        rates = [t.reads_per_s for t in targets if t.reads_per_s]
        handoffs = 0.0
        for pid in pids:
            recent = [x for x in self._recent.get(pid, ()) if now_ns - x[0] <= STATS_WINDOW_NS]
            if len(recent) >= 2 and recent[-1][0] > recent[0][0]:
                handoffs += (recent[-1][1] - recent[0][1]) / ((recent[-1][0] - recent[0][0]) / 1e9)
        interval = next((t.interval_us for t in targets if t.interval_us), 0)
        return ProbeStatus(
            state=worst.state,
            note=note,
            reads_per_s=sum(rates) / len(rates) if rates else None,
            cpu=stats.cpu,
            scheduling=stats.scheduling,
            agreement_pp=agreement_pp(pairs) if pairs else None,
            handoffs_per_s=handoffs if any(self._recent.get(p) for p in pids) else None,
            interval_ms=interval / 1000 if interval else None,
        )
