"""``--headless``: the same session, no UI, one JSON document on stdout."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from gilscope.model.lanes import LaneStats
from gilscope.model.metrics import (
    LatencyFigures,
    RunRecord,
    agreement_pp,
    label,
    mixes_builds,
    result_rows,
)
from gilscope.model.thread_record import ThreadRecord
from gilscope.model.timeline import Timeline
from gilscope.observe.observation import Observation
from gilscope.scenarios.workload import WorkloadSpec
from gilscope.session import Session
from gilscope.snapshot import Snapshot

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
    deadline_ns = time.monotonic_ns() + int(seconds * 1e9)
    session.start(plan)
    while time.monotonic_ns() < deadline_ns and not session.ended:
        if stop.wait(0.05):
            return interrupted(session)
    # Let the collector fold in the last stamps and py-spy's last windows land (a short
    # run's only stacks may be in them); what happened after the deadline is not part of
    # the observation.
    if not session.settle(stop):
        return interrupted(session)
    with session.observed() as obs:
        # the snapshot a recording ends with, so that its replay reports the same
        return report_of(session.finish_recording(deadline_ns), obs, deadline_ns)


def interrupted(session: Session) -> Dict[str, Any]:
    with session.observed() as obs:
        doc = report_of(session.finish_recording(), obs, None)
    doc["state"] = INTERRUPTED
    return doc


def report(session: Session, until_ns: Optional[int] = None) -> Dict[str, Any]:
    """The whole observation, up to ``until_ns`` (monotonic) if given."""
    with session.observed() as obs:
        return report_of(session.snapshot(fresh=True), obs, until_ns)


def report_of(snap: Snapshot, obs: Observation, until_ns: Optional[int]) -> Dict[str, Any]:
    """The report of ``obs`` (live, or a replay's) with ``snap``'s state."""
    timeline = obs.timeline
    end = timeline.latest_ns or snap.now_ns
    if until_ns is not None:
        end = min(end, until_ns)
    start = min(timeline.started_ns() or end, end)  # lanes that never ran do not count
    sampled_pids = obs.sampled_pids()
    reference = obs.reference()
    ref_span = (reference.started_ns(), reference.latest_ns) if reference else (0, 0)
    processes = []
    spy = obs.pyspy_shares(start, end)
    for pid in obs.observed_pids():
        sampled = pid in sampled_pids
        threads = [
            _thread(obs, record, start, end, sampled, reference, ref_span, spy.get(record.key))
            for record in obs.threads.records()
            if record.key.pid == pid
        ]
        families = [
            {"family": name, "threads": tally.members,
             **_figures(tally.stats(start, end), tally.cpu_ns, end - start, sampled)}
            for name, tally in obs.threads.families(pid).items()
            if tally.members > 1
        ]  # fmt: skip
        entry: Dict[str, Any] = {
            "pid": pid, **obs.process_details(pid), "threads": threads, "families": families,
        }  # fmt: skip
        if obs.threads.forgotten(pid):
            entry["threads_not_listed"] = obs.threads.forgotten(pid)  # beyond the bound
        entry.update(_unseen(reference, pid, ref_span))
        processes.append(entry)
    pyspy = obs.pyspy.figures()
    probe = snap.probe
    builds = mixes_builds(snap.results)
    results = [_result(r, builds) for r in snap.results]
    # each label's latest run against its baseline (a run without a GIL: its GIL twin)
    ratios = [
        {"label": row.label, "vs": row.vs, "ratio": round(row.ratio, 4)}
        for row in result_rows(snap.results)
        if row.ratio is not None
    ]
    doc = {
        # probe: read from each process's memory at kHz; beacons: the workers stamp who holds
        # the GIL (probe off or failed); py-spy: sampled windows; cpu: no GIL, the lanes are
        # the threads' CPU time
        "source": snap.gil_source,
        "scenario": snap.target_kind or str(snap.spec.scenario),
        "count": snap.spec.count,
        "workers": snap.spec.workers,
        "switch_ms": snap.spec.switch_ms,
        "python": snap.spec.python,
        "python_version": snap.python_version,
        "gil": snap.gil,
        "state": snap.state.value,
        "error": snap.error or None,
        "wall_s": round(snap.wall_s, 4) if snap.wall_s is not None else None,
        "observed_s": round((end - start) / 1e9, 3) if end > start else 0.0,
        "cores": [round(c, 4) for c in obs.cpu.mean_cores()],
        "other_cpu": _round(obs.cpu.other_cpu(), 3),
        "pyspy": {
            "available": snap.pyspy.available,
            "rate_hz": _round(pyspy.overall_rate_hz, 1),
            # Without beacons or a probe there is no exact share to agree with.
            "agreement_pp": None
            if snap.gil_source == "py-spy"
            else _round(pyspy.overall_agreement_pp, 2),
            "windows": pyspy.windows,
            # "profiler": the target interpreter's own, where py-spy cannot read it (3.15+)
            "source": snap.pyspy.source,
            "problem": snap.pyspy.problem or None,  # why there are no stacks at all
        },
        "probe": {
            "state": probe.state,
            "note": probe.note,
            "reads_per_s": _round(probe.reads_per_s, 0),
            "cpu": _round(probe.cpu, 3),
            "agreement_pp": _round(_probe_agreement(obs, reference, ref_span), 2),
            "handoffs": obs.probe.handoffs(),
            "interval_ms": probe.interval_ms,
            "scheduling": probe.scheduling,
        },
        "processes": processes,
        "thread_cpu": _thread_cpu(obs),
        "latency": _latency(snap.latency),
        "results": results,
        "ratios": ratios,
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


def _thread(
    obs: Observation, record: ThreadRecord, start: int, end: int, sampled: bool,
    reference: Optional[Timeline], ref_span: Tuple[int, int], spy: Optional[float],
) -> Dict[str, Any]:  # fmt: skip
    """One thread's figures over the whole observation."""
    key = record.key
    totals = obs.timeline.totals(key, start, end)
    # Over the report's own span (its first to last stamp): the probe's lanes over the
    # same span, so both shares have one denominator.
    ref = reference.totals(key, *ref_span) if reference is not None else None
    held = obs.pyspy.stack(key)
    top = held.stacks[0].frames if held is not None and held.stacks else ()
    tally = obs.timeline.tally(key)
    figures = _figures(totals, tally.cpu_ns, end - start, sampled)
    # Ready to run but waiting for a CPU (the kernel's run queue): the workers' report
    # counts its wake-up after a reply as waiting too, and cannot tell the two apart.
    figures["runq_share"] = (
        round(min(1.0, tally.runq_ns / (end - start)), 4) if end > start else 0.0
    )
    if sampled:
        figures["gil_share"] = _round(spy)
    doc = {
        "tid": record.tid or record.ident,
        "name": record.name,
        "alive": record.alive,
        **figures,
        "gil_share_pyspy": _round(spy),
        # the workers' own report, which the probe is checked against
        "gil_share_reference": _round(ref.gil_share) if ref and record.gil else None,
        "handoffs_reference": ref.runs if ref is not None else None,
        "function": top[-1].function if top else "",
    }
    if ref is not None and reference is not None:
        span = max(ref_span[1] - ref_span[0], 1)
        doc.update(
            mean_hold_ms_reference=round(ref.mean_hold_ms, 3),
            reference_blind=round(reference.blind(key) / span, 4),
            wait_share_reference=round(ref.waits.share, 4),
            wait_p50_ms_reference=_round(ref.waits.p50_ms, 3),
            wait_p99_ms_reference=_round(ref.waits.p99_ms, 3),
            waits_reference=round(ref.waits.per_s * (ref_span[1] - ref_span[0]) / 1e9),
        )
    if not record.gil:
        doc.update(gil_share=None, gil_share_pyspy=None, wait_share=None)
    return doc


def _figures(st: LaneStats, cpu_ns: int, span: int, sampled: bool) -> Dict[str, Any]:
    # Samples have no runs and no waits: hand-offs, hold times and waits need the probe
    # or the beacons.
    w = st.waits
    return {
        "gil_share": round(st.gil_share, 4),
        "cpu": round(min(1.0, cpu_ns / span), 4) if span > 0 else 0.0,
        "handoffs_per_s": None if sampled else round(st.handoffs_per_s, 2),
        "mean_hold_ms": None if sampled else round(st.mean_hold_ms, 3),
        "wait_share": None if sampled else round(w.share, 4),
        "wait_p50_ms": None if sampled else _round(w.p50_ms, 3),
        "wait_p99_ms": None if sampled else _round(w.p99_ms, 3),
        "waits_per_s": None if sampled else round(w.per_s, 2),
    }


def _probe_agreement(
    obs: Observation, reference: Optional[Timeline], span: Tuple[int, int]
) -> Optional[float]:
    """Whole run: mean |probe share - report share| over the probe-drawn lanes."""
    if reference is None or span[1] <= span[0]:
        return None
    pairs = [
        (obs.timeline.totals(r.key, *span).gil_share, reference.totals(r.key, *span).gil_share)
        for r in obs.threads.records()
        if r.key.pid in obs.probe.drawn and r.gil
    ]
    return agreement_pp(pairs)


def _thread_cpu(obs: Observation) -> Optional[Dict[str, Any]]:
    """Processes without a GIL: how often their threads' CPU time was read, at what cost."""
    rate, cpu = obs.thread_cpu_stats()
    if not rate:
        return None
    return {"reads_per_s": round(rate, 1), "cpu": round(cpu, 4)}


def _result(r: RunRecord, builds: bool) -> Dict[str, Any]:
    return {
        "label": label(r, builds),  # as the results table names it
        "scenario": r.scenario,
        "count": r.count,
        "workers": r.workers,
        "wall_s": round(r.wall_s, 4),
        "gil": r.gil,
        "python_version": r.python_version,
        "latency": _latency(r.latency),
        # cores other processes kept busy meanwhile: a high figure makes the ratio suspect
        "other_cpu": _round(r.other_cpu, 3),
    }


def _unseen(reference: Optional[Timeline], pid: int, span: Tuple[int, int]) -> Dict[str, Any]:
    """How much of the run the workers' report could not see (stamps too far apart: its
    threads were off a CPU), which bounds how well it can check the probe."""
    if reference is None or span[1] <= span[0]:
        return {}
    ns, gaps = reference.unseen(pid)
    return {"reference_unseen": round(ns / (span[1] - span[0]), 4), "reference_unseen_gaps": gaps}


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


def write_report(text: str) -> bool:
    """``text`` to stdout; if stdout cannot take it (a full disk, /dev/full, a reader that
    went away), one line on stderr and False."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
        return True
    except OSError as e:
        # What did not get out must not be retried at exit, which would print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        try:
            print(
                f"gilscope: error: could not write the report to stdout: {e.strerror or e}",
                file=sys.stderr,
            )
        except OSError:
            pass  # stderr is gone too: the exit code says it
        return False
