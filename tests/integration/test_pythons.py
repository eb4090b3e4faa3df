"""``--python``: every scenario under every CPython 3.9+ this machine has (pyenv's, and
Debian's 3.14 and 3.15 under /opt/sidpy) and under the free-threaded 3.13t, and the header's
version and GIL state come from the workers themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gilscope.checks import check_python
from gilscope.headless import run_headless
from gilscope.scenarios.workload import Scenario, WorkloadSpec
from gilscope.session import Session
from tests.pythons import FT_PYTHONS, PYTHONS, SIDPY_MINORS, missing_free_threaded, missing_sidpy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


# Small N: this checks that each scenario works under each version, not its figures.
SIZES = {
    Scenario.THREADS: 5_000_000,
    Scenario.PROCESSES: 5_000_000,
    Scenario.IO: 200,
    Scenario.NATIVE: 128,
    Scenario.CONVOY: 5_000_000,
}


@pytest.mark.parametrize(("version", "python"), PYTHONS, ids=[v for v, _ in PYTHONS])
def test_every_scenario_runs_under(version: str, python: str) -> None:
    real = check_python(python)
    for scenario, count in SIZES.items():
        session = Session(WorkloadSpec(scenario, count, 2, real))
        try:
            doc = run_headless(session, 60.0)
        finally:
            session.close()
        assert doc is not None
        assert doc["state"] == "done", (version, scenario, doc["error"], doc["problems"])
        assert doc["source"] == "probe", (version, scenario, doc["probe"])  # the exact relay
        assert doc["python_version"] == version
        assert doc["gil"] is True
        lanes = [t for p in doc["processes"] for t in p["threads"]]
        assert lanes and all(t["gil_share"] is not None for t in lanes)


@pytest.mark.skipif(not FT_PYTHONS, reason=missing_free_threaded())
@pytest.mark.parametrize(("version", "python"), FT_PYTHONS, ids=[v for v, _ in FT_PYTHONS])
def test_every_scenario_runs_without_a_gil_under(version: str, python: str) -> None:
    real = check_python(python)
    for scenario, count in {Scenario.SEQUENTIAL: 5_000_000, **SIZES}.items():
        session = Session(WorkloadSpec(scenario, count, 2, real))
        try:
            doc = run_headless(session, 60.0)
        finally:
            session.close()
        assert doc["state"] == "done", (version, scenario, doc["error"], doc["problems"])
        # no GIL to read: every lane is its thread's time on a CPU
        assert (doc["source"], doc["gil"], doc["python_version"]) == ("cpu", False, version)
        lanes = [t for p in doc["processes"] for t in p["threads"]]
        assert lanes and all(t["gil_share"] is None for t in lanes)
        assert [r["label"].endswith("(no GIL)") for r in doc["results"]] == [True]


def test_at_least_two_versions_here() -> None:
    if len(PYTHONS) < 2:
        pytest.skip("only one CPython on this machine")
    assert len({v.rsplit(".", 1)[0] for v, _ in PYTHONS}) >= 2


@pytest.mark.parametrize("minor", SIDPY_MINORS)
def test_debians_build_is_among_them_where_installed(minor: str) -> None:
    why = missing_sidpy(minor)
    if why is not None:
        pytest.skip(why)
    assert minor in {v.rsplit(".", 1)[0] for v, _ in PYTHONS}


def test_cli_python_flag_shows_the_workers_version() -> None:
    version, python = PYTHONS[0]
    proc = subprocess.run(
        [sys.executable, "-m", "gilscope", "--headless", "--python", python,
         "--scenario", "sequential", "--count", "1000000"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f'"python_version": "{version}"' in proc.stdout
