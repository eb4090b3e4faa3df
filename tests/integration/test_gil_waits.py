"""Who waits for the GIL, seen from outside by the probe, on real processes under every
CPython this machine has: against the workers' own report (io, convoy), and on an
unmodified program whose own counts are the truth."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from gilscope.headless import report
from gilscope.sampling.target import inspect_pid
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import WorkloadSpec
from gilscope.session import Session
from tests.cli_run import run_gilscope
from tests.pythons import IDS, PYTHONS

pytestmark = pytest.mark.integration


def threads_by_name(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    (process,) = doc["processes"]
    return {t["name"]: t for t in process["threads"]}


def count(doc: Dict[str, Any], rate: float) -> float:
    """A count back from its rate (the JSON rounds rates to 0.01/s, the span to 1 ms)."""
    return round(rate * doc["observed_s"], 1)


@pytest.mark.parametrize(("version", "python"), PYTHONS, ids=IDS)
def test_convoy_waits_agree_with_the_workers_report(version: str, python: str) -> None:
    proc = run_gilscope(
        "--scenario", "convoy", "--count", "20000000", "--python", python,
        "--headless", "--seconds", "60", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "probe", doc["probe"]
    unseen = doc["processes"][0]["reference_unseen"]
    threads = threads_by_name(doc)
    io, cpu = threads["io-responder"], threads["cpu-countdown"]
    # The report counts as waiting the time from a request's arrival (or a reply's send)
    # to taking the GIL, where another thread held it meanwhile: that includes the thread's
    # wake-up, the kernel's run queue (runq_share), which the report cannot tell apart; and
    # nothing where its stamps could not see (unseen). Measured, idle and beside two CPU
    # hogs: the report 0.3-1.4 pp above the probe on every version (the run queue, and the
    # send's µs before its wait).
    bound = 0.01 + unseen + io["runq_share"]
    assert abs(io["wait_share"] - io["wait_share_reference"]) < bound, io
    # A wait's median likewise, by the run queue's time per wait (beside two busy
    # processes the report's p50 was 0.94 ms above the probe's).
    runq_per_wait_ms = io["runq_share"] * doc["observed_s"] * 1e3 / max(io["waits_reference"], 1)
    p50_bound = 0.5 + runq_per_wait_ms
    assert abs(io["wait_p50_ms"] - io["wait_p50_ms_reference"]) < p50_bound, (runq_per_wait_ms, io)
    # Every wait, the responder's wait to take the GIL back after a reply's send too (the
    # countdown took it during the send): measured equal or one apart, idle and beside two
    # CPU hogs, on every version.
    waits, reported = count(doc, io["waits_per_s"]), io["waits_reference"]
    assert abs(waits - reported) <= max(3, 0.1 * reported), (waits, io)
    # Beside the countdown each reply waits about the switch interval.
    interval = doc["probe"]["interval_ms"]
    assert 0.6 * interval < io["wait_p50_ms"] < 1.5 * interval, (io, interval)
    # Every hand-off is counted, the responder's holds of ~10 µs too: the two threads take
    # turns, so the countdown takes the GIL about half as often as the switch count says
    # (a few hand-offs involve the main thread), and at least as often as the report saw.
    handoffs = count(doc, cpu["handoffs_per_s"])
    assert abs(handoffs - doc["probe"]["handoffs"] / 2) <= 5 + 0.02 * handoffs, (cpu, doc["probe"])
    assert handoffs >= 0.95 * cpu["handoffs_reference"] - 3, cpu


def test_io_waits_and_handoffs_agree_with_the_workers_report() -> None:
    version, python = PYTHONS[-1]
    proc = run_gilscope(
        "--scenario", "io", "--count", "1200", "--threads", "2", "--python", python,
        "--headless", "--seconds", "60", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "probe", doc["probe"]
    for t in threads_by_name(doc).values():
        # Holds of a few µs, a thousand a second: each counted, by the switch count or
        # by the thread's own sleeps (the old way saw 13 % of them). Not a take after a
        # recv whose reply was already there (it did not sleep: no trace), which a
        # machine short of CPU makes common: 12 % of them beside two CPU hogs. That
        # figure depends on the CPU the threads got: bench_probe.py section 7 measures
        # it (-0.9 / -3.7 % at a load of 4-7). Counted too often, never by much.
        handoffs = count(doc, t["handoffs_per_s"])
        assert 0.75 < handoffs / t["handoffs_reference"] < 1.12, (version, t)
        # Two threads rarely want the GIL at once, and then for the other's hold of a few
        # µs: the waiting thread sleeps on the GIL only that long and then is woken to
        # take it, which the report counts as waiting too (the run queue), the probe not.
        assert t["wait_share"] < 0.01 + t["runq_share"], t
        assert t["wait_share_reference"] - t["wait_share"] < 0.01 + t["runq_share"], t
        # (its few sightings of such waits, each dated to half a read period, make no
        # percentile: only many of them would)
        if count(doc, t["waits_per_s"]) >= 20 and t["wait_p50_ms_reference"] is not None:
            assert abs(t["wait_p50_ms"] - t["wait_p50_ms_reference"]) < 0.5, t


# An unmodified program: a thread that sleeps 2 ms, ALONE times, then starts a countdown
# thread and sleeps BUSY more times beside it. Each sleep lets the GIL go and takes it
# back: one acquisition each, a hold of a few µs; beside the countdown each take waits
# for the switch interval, if the countdown took the GIL while it slept: on a busy machine
# the kernel may not run the countdown in time, so the program counts the sleeps that met
# it (the countdown's ticks moved) and prints them when done: the truth to check against.
ALONE, BUSY = 150, 60
PROGRAM = textwrap.dedent(
    f"""
    import sys, threading, time
    stop = threading.Event()
    tids = {{}}
    ticks = met = 0
    def countdown():
        global ticks
        tids["countdown"] = threading.get_native_id()
        while not stop.is_set():
            n = 10_000
            while n > 0:
                n -= 1
                ticks += 1
    def poke():
        global met
        tids["poker"] = threading.get_native_id()
        for _ in range({ALONE}):
            time.sleep(0.002)
        threading.Thread(target=countdown, name="countdown").start()
        for _ in range({BUSY}):
            before = ticks
            time.sleep(0.002)
            met += ticks != before
        stop.set()
    print("ready", flush=True)
    sys.stdin.readline()
    poker = threading.Thread(target=poke, name="poker")
    poker.start()
    poker.join()
    print("done", time.monotonic_ns(), tids["poker"], tids["countdown"], met, flush=True)
    sys.stdin.readline()
    """
)


@pytest.mark.parametrize(("version", "python"), PYTHONS, ids=IDS)
def test_an_attached_program_shows_who_waits_and_every_hand_off(
    version: str, python: str, tmp_path: Path
) -> None:
    script = tmp_path / "poker.py"
    script.write_text(PROGRAM)
    target = subprocess.Popen(
        [python, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert target.stdin is not None and target.stdout is not None
    session = None
    try:
        assert target.stdout.readline().strip() == "ready"
        info = inspect_pid(target.pid)
        external = ExternalTarget(pid=target.pid, info=info, children=False)
        session = Session(WorkloadSpec(), target=external)
        session.start()
        deadline = time.monotonic() + 30
        while session.snapshot().probe.state != "ready":
            assert time.monotonic() < deadline, session.snapshot().probe
            time.sleep(0.02)
        target.stdin.write("go\n")
        target.stdin.flush()
        _, done, poker_tid, cpu_tid, met_s = target.stdout.readline().split()
        met = int(met_s)  # the poker's sleeps during which the countdown took the GIL
        done_ns = int(done)
        while session.snapshot().timeline.latest_ns < done_ns:  # its last hand-offs are in
            assert time.monotonic() < deadline + 30
            time.sleep(0.02)
        doc = report(session)
    finally:
        if session is not None:
            session.close()
        target.kill()
        target.wait()
    # Shown only if an assertion below fails: the whole report, not pytest's cut repr
    print(json.dumps({"met": met, "poker": poker_tid, "countdown": cpu_tid, "report": doc}))
    (process,) = doc["processes"]
    # One record per thread (named by py-spy only later on 3.9-3.13, so found by tid)
    tids = [t["tid"] for t in process["threads"]]
    assert len(tids) == len(set(tids)), process["threads"]
    threads = {t["tid"]: t for t in process["threads"]}
    poker, cpu = threads[int(poker_tid)], threads[int(cpu_tid)]
    # Every take of the GIL counted, though each hold lasts a few µs: alone (no switch:
    # from its sleeps), and beside the countdown (switches; the countdown takes it back
    # after each sleep that met it). Plus its start, and its wait for the countdown to say
    # it started, which takes the GIL again only if it had to sleep for it (one or two).
    # Within issue 12's 5 %: on a busy machine a late read can miss a sleep that ended
    # (measured: 206-213 beside two CPU hogs or a full suite run).
    truth = ALONE + BUSY + 1
    assert abs(count(doc, poker["handoffs_per_s"]) - truth) <= 0.05 * truth, poker
    assert abs(count(doc, cpu["handoffs_per_s"]) - (met + 1)) <= 5, (met, cpu)
    # It waited only beside the countdown, about the switch interval each time it met it.
    assert abs(count(doc, poker["waits_per_s"]) - met) <= 0.1 * met + 2, (met, poker)
    interval = doc["probe"]["interval_ms"]
    assert 0.6 * interval < poker["wait_p50_ms"] < 1.5 * interval, (poker, interval)
    # the countdown waits for the poker's few µs holds: next to nothing
    assert cpu["wait_share"] < 0.05, cpu
