"""Stacks where py-spy cannot go: a CPython 3.15 target whose py-spy fails the way py-spy
fails on a build it cannot read is sampled by the target interpreter's own profiler
(``python3.15 -m profiling.sampling``), in the same windows, into the same figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from gilscope.headless import run_headless
from gilscope.scenarios.workload import Scenario, WorkloadSpec
from gilscope.session import Session
from tests.pythons import PYTHONS, missing_sidpy

pytestmark = pytest.mark.integration

PY315 = next((p for v, p in PYTHONS if v.startswith("3.15.")), None)
# What py-spy 0.4.3 prints for a free-threaded 3.13t, and exits 1: it cannot read the build.
CANNOT_READ = """#!/bin/sh
echo "Error: Failed to find a python interpreter in the .data section" >&2
exit 1
"""


@pytest.mark.skipif(PY315 is None, reason=missing_sidpy("3.15") or "no CPython 3.15 here")
def test_the_targets_own_profiler_gives_the_stacks_py_spy_cannot(tmp_path: Path) -> None:
    assert PY315 is not None
    pyspy = tmp_path / "py-spy"
    pyspy.write_text(CANNOT_READ)
    pyspy.chmod(0o755)
    # ~2 s of countdown on 3.15: a few complete 1 s windows inside the run
    session = Session(WorkloadSpec(Scenario.THREADS, 150_000_000, 2, PY315), pyspy=str(pyspy))
    try:
        doc = run_headless(session, 60.0)
        snap = session.snapshot()
    finally:
        session.close()
    assert doc["state"] == "done", doc["error"]
    assert doc["pyspy"]["source"] == "profiler" and doc["pyspy"]["problem"] is None
    assert not doc["problems"], doc["problems"]  # py-spy's failure is no fault here
    assert doc["pyspy"]["windows"] >= 2
    threads = [t for p in doc["processes"] for t in p["threads"]]
    # where each thread held the GIL, by its own profiler
    assert [t["function"] for t in threads] == ["countdown", "countdown"]
    assert {row.frames[0].split(" (")[0] for row in snap.stacks} == {"countdown"}
    # its samples over its intervals, as py-spy's: the shares of one baton
    spy = [t["gil_share_pyspy"] for t in threads]
    assert all(s is not None and s > 0 for s in spy)
    assert sum(spy) <= 1.0
