"""What the app writes about a Snapshot: the line under the header, the relay's title,
the results' name for the run in progress, its N and K, and its progress bar."""

from __future__ import annotations

from typing import Optional

from gilscope.model.metrics import label, mixes_builds, running_label
from gilscope.sampling.thread_cpu import FINE_CPU_HZ
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot
from gilscope.tui.widgets.results import Progress


def spec_label(snap: Snapshot) -> str:
    """The results' name for the run in progress: 'threads ×2', 'threads ×2 (no GIL)'."""
    spec = snap.spec
    # Until the workers say, what the run was asked for (gil-vs-ft: -X gil=0)
    gil = snap.gil if snap.gil is not None else spec.gil is not False
    return running_label(snap.results, str(spec.scenario), spec.workers, gil)


def explanation(snap: Snapshot) -> str:
    """The line under the header: what this scenario shows, and the guided step."""
    if snap.target:
        probe = snap.probe
        if snap.gil_source == "probe":
            if probe.state == "starting":
                return "GIL probe: finding where this interpreter keeps its GIL…"
            handoffs = "" if probe.handoffs_per_s is None else f"{probe.handoffs_per_s:.0f}"
            return (
                f"GIL read from the process's memory {_rate(probe.reads_per_s)} · "
                f"hand-offs {handoffs or '…'}/s (its own count) · offsets: {probe.note}"
            )
        if snap.gil_source == "cpu":
            return NO_GIL_NOTE
        why = probe.note if probe.state in ("failed", "no-gil") else "the probe is off"
        return f"GIL from py-spy samples, 0.5 s resolution ({why})"
    scenario = snap.spec.scenario
    said = scenario.explanation_without_gil if snap.gil is False else scenario.explanation
    text = f"{scenario}: {said}"
    step, steps = snap.plan
    if steps:
        text = f"compare {step}/{steps} · {text}"
    return text


TIMELINE_TITLE = "Relay race: who holds the GIL"
NO_GIL_NOTE = (
    f"no GIL (a free-threaded build): each lane is its thread's time on a CPU, read "
    f"{FINE_CPU_HZ} times a second"
)


def timeline_title(snap: Snapshot) -> str:
    """Where the relay comes from, from the first frame: the probe (and, for gilscope's
    own workers, how far it agrees with their report), the workers' report, or py-spy."""
    if snap.gil_source == "py-spy":
        return "Relay race · py-spy samples"
    if snap.gil_source == "cpu":
        return f"Relay race · no GIL: CPU per thread {FINE_CPU_HZ}/s"
    probe = snap.probe
    if snap.gil_source != "probe":
        if snap.target:
            return TIMELINE_TITLE
        waiting = probe.state == "starting" and snap.state is RunState.STARTING
        return "Relay race · GIL probe starting…" if waiting else "Relay race · workers' report"
    title = f"Relay race · GIL probe {_rate(probe.reads_per_s)}"
    if probe.agreement_pp is not None:
        title += f" ±{probe.agreement_pp:.1f}pp"
    return title


def _rate(reads_per_s: Optional[float]) -> str:
    """'5k/s' — how often the probe reads each process's GIL."""
    return "…" if reads_per_s is None else f"{reads_per_s / 1000:.1f}k/s"


def short_spec(snap: Snapshot) -> str:
    """N and K for the results title: 'N=50M K=2'."""
    n = snap.spec.count
    text = f"{n / 1e6:g}M" if n >= 1_000_000 and n % 100_000 == 0 else f"{n:,}"
    return f"N={text} K={snap.spec.workers}"


def progress(snap: Snapshot) -> Optional[Progress]:
    """The running row's bar: time since "go" against the time the workers' calibration
    expects; for a run it cannot expect (io, native), the same run's last time, if any."""
    if snap.state is not RunState.RUNNING or snap.run_s is None:
        return None
    expected = snap.expected_s
    if expected is None:
        running = spec_label(snap)
        same = [
            r for r in snap.results
            if label(r, mixes_builds(snap.results)) == running and r.count == snap.spec.count
        ]  # fmt: skip
        expected = same[-1].wall_s if same else None
    return Progress(snap.run_s, expected)
