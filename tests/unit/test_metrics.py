"""The seeds' comparison ratios and py-spy agreement."""

from __future__ import annotations

import pytest

from gilscope.model.metrics import RunRecord, agreement_pp, compare


def rec(scenario: str, wall_s: float, count: int = 100, workers: int = 2) -> RunRecord:
    return RunRecord(scenario, count, workers, wall_s)


def test_compare_nothing() -> None:
    c = compare([])
    assert c.wall_s == {}
    assert c.threads_vs_sequential is None
    assert c.processes_vs_sequential is None


def test_compare_ratios_to_sequential() -> None:
    c = compare([rec("sequential", 2.0), rec("threads", 2.2), rec("processes", 1.0)])
    assert c.wall_s == {"sequential": 2.0, "threads": 2.2, "processes": 1.0}
    assert c.threads_vs_sequential == pytest.approx(1.1)
    assert c.processes_vs_sequential == pytest.approx(0.5)


def test_compare_needs_a_sequential_run() -> None:
    c = compare([rec("threads", 2.2), rec("processes", 1.0)])
    assert c.wall_s == {"threads": 2.2, "processes": 1.0}
    assert c.threads_vs_sequential is None
    assert c.processes_vs_sequential is None


def test_compare_only_between_runs_of_the_same_n() -> None:
    c = compare(
        [rec("sequential", 2.0, count=100), rec("threads", 4.4, count=200), rec("processes", 1.0)]
    )
    assert c.threads_vs_sequential is None
    assert c.processes_vs_sequential == pytest.approx(0.5)


def test_compare_uses_the_latest_run_of_each_scenario() -> None:
    c = compare(
        [
            rec("sequential", 2.0, count=100),
            rec("threads", 2.4, count=100),
            rec("sequential", 4.0, count=200),  # a newer sequential run of another N
        ]
    )
    assert c.wall_s["sequential"] == 4.0
    assert c.threads_vs_sequential is None  # the threads run was of N=100
    c = compare([*_records(), rec("threads", 8.0, count=200)])
    assert c.threads_vs_sequential == pytest.approx(2.0)


def _records() -> list[RunRecord]:
    return [rec("threads", 2.4, count=100), rec("sequential", 4.0, count=200)]


def test_compare_ignores_a_zero_sequential_time() -> None:
    c = compare([rec("sequential", 0.0), rec("threads", 1.0)])
    assert c.threads_vs_sequential is None


def test_agreement_pp() -> None:
    assert agreement_pp([]) is None
    assert agreement_pp([(0.5, 0.5)]) == 0.0
    assert agreement_pp([(0.52, 0.50)]) == pytest.approx(2.0)
    assert agreement_pp([(0.52, 0.50), (0.40, 0.50)]) == pytest.approx((2.0 + 10.0) / 2)
    assert agreement_pp(iter([(0.0, 1.0)])) == pytest.approx(100.0)  # any iterable
