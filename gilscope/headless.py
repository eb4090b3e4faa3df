"""``--headless``: the same session, no UI, one JSON document on stdout."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

from gilscope.model.metrics import LatencyFigures
from gilscope.scenarios.workload import RunState, WorkloadSpec
from gilscope.session import Session

TERMINAL = (RunState.DONE, RunState.FAILED, RunState.STOPPED)
INTERRUPTED = "interrupted"  # the report's state when a signal ended the observation


def run_headless(
    session: Session,
    seconds: float,
    stop: Optional[threading.Event] = None,
    plan: Optional[List[WorkloadSpec]] = None,
) -> Dict[str, Any]:
    """Observe for ``seconds`` or until the run ends, then report the whole observation.

    If ``stop`` is set (a signal), the report covers what was observed so far and its
    state is ``interrupted``: a long observation is not lost to a Ctrl-C.
    """
    stop = stop or threading.Event()
    # From before the start: launching a command counts against --seconds too.
    deadline = time.monotonic() + seconds
    session.start(plan)
    while time.monotonic() < deadline and (session.state not in TERMINAL or session.plan_remaining):
        if stop.wait(0.05):
            return interrupted(session)
    # Let the collector fold in the last stamps and py-spy's last windows land.
    if stop.wait(0.3):
        return interrupted(session)
    return report(session)


def interrupted(session: Session) -> Dict[str, Any]:
    doc = report(session)
    doc["state"] = INTERRUPTED
    return doc


def report(session: Session) -> Dict[str, Any]:
    snap = session.snapshot()
    timeline = snap.timeline  # the run these figures came from, even if a restart raced
    end = timeline.latest_ns or snap.now_ns
    start = timeline.started_ns() or end  # lanes that never ran do not count
    processes: Dict[int, List[Dict[str, Any]]] = {}
    by_key = {row.key: row for row in snap.threads}
    span = end - start
    sampled = snap.gil_source == "py-spy"
    reference = session.reference if snap.gil_source == "probe" and not snap.target else None
    ref_span = session.reference_span()
    for lane in session.every_lane():
        totals = timeline.totals(lane.key, start, end)
        row = by_key.get(lane.key)
        share = session.pyspy_share(lane.key) if sampled else totals.gil_share
        # Over the report's own span (its first to last stamp): the probe's lanes over the
        # same span, so both shares have one denominator.
        ref = reference.totals(lane.key, *ref_span) if reference is not None else None
        processes.setdefault(lane.key.pid, []).append(
            {
                "tid": lane.tid or lane.ident,
                "name": lane.name,
                # No GIL (free-threaded): no share at all, rather than a misleading 0.
                "gil_share": _round(share) if lane.gil else None,
                "gil_share_pyspy": _round(session.pyspy_share(lane.key)),
                # the workers' own report, which the probe is checked against
                "gil_share_reference": _round(ref.gil_share) if ref and lane.gil else None,
                "handoffs_reference": ref.runs if ref is not None else None,
                "cpu": round(session.cpu_share(lane.key, span), 4),
                # Samples have no runs: hand-offs and hold times need the beacons.
                "handoffs_per_s": None if sampled else round(totals.handoffs_per_s, 2),
                "mean_hold_ms": None if sampled else round(totals.mean_hold_ms, 3),
                "function": row.function if row else "",
            }
        )
    pyspy = session.overall_pyspy()
    probe = snap.probe
    doc = {
        # probe: read from each process's memory at kHz; beacons: the workers stamp who holds
        # the GIL (probe off or failed); py-spy: sampled windows
        "source": snap.gil_source,
        "scenario": snap.target_kind or str(snap.spec.scenario),
        "count": snap.spec.count,
        "workers": snap.spec.workers,
        "switch_ms": snap.spec.switch_ms,
        "python": snap.spec.python,
        "python_version": snap.python_version or session.python_version(),
        "gil": snap.gil,
        "state": snap.state.value,
        "error": snap.error or None,
        "wall_s": round(snap.wall_s, 4) if snap.wall_s is not None else None,
        "observed_s": round((end - start) / 1e9, 3) if end > start else 0.0,
        "cores": [round(c, 4) for c in session.mean_cores()],
        "pyspy": {
            "available": pyspy.available,
            "rate_hz": _round(pyspy.rate_hz, 1),
            "agreement_pp": _round(pyspy.agreement_pp, 2),
            "windows": pyspy.windows,
        },
        "probe": {
            "state": probe.state,
            "note": probe.note,
            "reads_per_s": _round(probe.reads_per_s, 0),
            "cpu": _round(probe.cpu, 3),
            "agreement_pp": _round(session.probe_agreement_pp(), 2),
            "handoffs": session.probe_handoffs(),
            "interval_ms": probe.interval_ms,
            "scheduling": probe.scheduling,
        },
        "processes": [{"pid": pid, "threads": threads} for pid, threads in processes.items()],
        "latency": _latency(snap.latency),
        "results": [
            {
                "scenario": r.scenario,
                "count": r.count,
                "workers": r.workers,
                "wall_s": round(r.wall_s, 4),
                "latency": _latency(r.latency),
            }
            for r in snap.results
        ],
        "problems": list(snap.problems),
    }
    if snap.target:
        doc.update(
            target=snap.target,
            count=None,
            workers=None,
            switch_ms=None,
            python=None,
            exit_code=snap.exit_code,
            log_tail=[line.text for line in snap.log[-20:]],
        )
    return doc


def _latency(lat: Optional[LatencyFigures]) -> Optional[Dict[str, Any]]:
    """Convoy: the responder's latency in ms, alone and with the countdown running."""
    if lat is None:
        return None
    return {
        "alone": {"p50_ms": _round(lat.alone_p50, 3), "p99_ms": _round(lat.alone_p99, 3),
                  "n": lat.alone_n},
        "with_cpu": {"p50_ms": _round(lat.busy_p50, 3), "p99_ms": _round(lat.busy_p99, 3),
                     "n": lat.busy_n},
    }  # fmt: skip


def _round(x: Any, digits: int = 4) -> Any:
    return None if x is None else round(float(x), digits)
