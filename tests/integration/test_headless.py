"""``gilscope --headless``: one JSON report of a real run, py-spy included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.cli_run import ROOT, run_gilscope

pytestmark = pytest.mark.integration


def headless(*args: str, timeout: float = 90) -> Dict[str, Any]:
    proc = run_gilscope("--headless", *args, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc: Dict[str, Any] = json.loads(proc.stdout)
    return doc


def fraction(x: Any) -> bool:
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0


def test_threads_report() -> None:
    doc = headless(
        "--scenario", "threads", "--threads", "2", "--count", "150000000", "--seconds", "15"
    )  # fmt: skip
    assert doc["scenario"] == "threads"
    assert doc["count"] == 150_000_000
    assert doc["workers"] == 2
    assert doc["state"] == "done"
    assert doc["error"] is None
    assert isinstance(doc["python"], str) and Path(doc["python"]).is_file()
    assert doc["python_version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert isinstance(doc["wall_s"], float) and 0.1 < doc["wall_s"] < 15
    assert isinstance(doc["cores"], list) and doc["cores"]
    assert all(fraction(c) for c in doc["cores"])
    assert doc["pyspy"]["available"] is True
    rate = doc["pyspy"]["rate_hz"]
    assert isinstance(rate, float) and 200 < rate < 2_000  # asked for 1000
    assert doc["pyspy"]["windows"] >= 1
    assert doc["problems"] == []

    (process,) = doc["processes"]
    assert isinstance(process["pid"], int) and process["pid"] > 0
    threads = process["threads"]
    assert [t["name"] for t in threads] == ["countdown-0", "countdown-1"]
    assert len({t["tid"] for t in threads}) == 2
    for t in threads:
        assert isinstance(t["tid"], int) and t["tid"] > 0
        assert fraction(t["gil_share"]) and t["gil_share"] >= 0.25, t
        assert t["gil_share_pyspy"] is None or fraction(t["gil_share_pyspy"])
        assert fraction(t["cpu"])
        assert t["handoffs_per_s"] > 0
        assert t["mean_hold_ms"] > 0
        assert t["function"] == "countdown"
    assert sum(t["gil_share"] for t in threads) <= 1.01
    # py-spy's shares come from complete 1 s windows inside the run (~3 s here).
    assert any(t["gil_share_pyspy"] is not None for t in threads)


def test_a_run_cut_short_has_no_wall_time() -> None:
    doc = headless("--scenario", "threads", "--count", "3000000000", "--seconds", "2")
    assert doc["wall_s"] is None
    assert doc["state"] == "running"
    # Observed from the first hand-off to the last within the 2 s (how soon the workers
    # start depends on the machine's load): some of it, never more.
    assert 0 < doc["observed_s"] <= 2.0
    (process,) = doc["processes"]
    assert all(t["gil_share"] >= 0.25 for t in process["threads"])


def test_processes_report() -> None:
    doc = headless("--scenario", "processes", "--count", "60000000", "--seconds", "15")
    assert doc["state"] == "done"
    assert isinstance(doc["wall_s"], float)
    assert len(doc["processes"]) == 2
    assert len({p["pid"] for p in doc["processes"]}) == 2
    for p in doc["processes"]:
        (t,) = p["threads"]
        # Each process has a GIL of its own, held ~100 % of its run on an idle machine; on a
        # busy one, silences over 50 ms (no core) do not count, and the runs end apart.
        assert t["gil_share"] > 0.25
        assert t["function"] == "countdown"


SHORT_RUN = ("--headless", "--scenario", "sequential", "--count", "1000000", "--seconds", "10")


def test_a_full_stdout_is_one_line_and_exit_1() -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "gilscope", *SHORT_RUN],
            stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "gilscope: error: could not write the report to stdout: No space left on device"
    ]


def test_a_reader_gone_before_the_report_is_one_line_and_exit_1() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gilscope", *SHORT_RUN],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone: writing the report meets a broken pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert err.splitlines() == [
        "gilscope: error: could not write the report to stdout: Broken pipe"
    ]
