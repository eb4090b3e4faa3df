"""The results' ratios, latency percentiles and py-spy agreement."""

from __future__ import annotations

import pytest

from gilscope.model.metrics import (
    RunRecord,
    agreement_pp,
    latency_figures,
    percentile,
    result_rows,
    running_label,
)


def rec(scenario: str, wall_s: float, count: int = 100, workers: int = 2) -> RunRecord:
    return RunRecord(scenario, count, workers, wall_s)


def ratios(records: list[RunRecord]) -> dict[str, float | None]:
    return {row.label: row.ratio for row in result_rows(records)}


def test_gil_and_no_gil_runs_are_told_apart_and_compared() -> None:
    """The GIL vs free-threaded comparison: the same countdown on both builds."""
    gil, free = rec("threads", 0.90), RunRecord("threads", 100, 2, 0.45, gil=False)
    rows = result_rows([gil, free])
    assert [r.label for r in rows] == ["threads ×2 (GIL)", "threads ×2 (no GIL)"]
    assert rows[0].ratio is None
    assert rows[1].vs == "threads ×2 (GIL)" and rows[1].ratio == pytest.approx(0.5)
    # Alone, a GIL build's runs keep their plain names; a run without a GIL says so.
    assert [r.label for r in result_rows([gil])] == ["threads ×2"]
    assert [r.label for r in result_rows([free])] == ["threads ×2 (no GIL)"]
    # The run in progress is named as it will be once done.
    assert running_label([gil], "threads", 2, gil=False) == "threads ×2 (no GIL)"
    assert running_label([free], "threads", 2, gil=True) == "threads ×2 (GIL)"
    assert running_label([gil], "threads", 2, gil=True) == "threads ×2"


def test_without_a_gil_twin_a_run_compares_with_its_own_builds_baseline() -> None:
    seq = RunRecord("sequential", 100, 1, 1.0, gil=False)
    threads = RunRecord("threads", 100, 2, 0.5, gil=False)
    assert ratios([rec("sequential", 0.8), seq, threads])["threads ×2 (no GIL)"] == 0.5


def test_no_runs_no_rows() -> None:
    assert result_rows([]) == []


def test_countdown_ratios_to_sequential() -> None:
    rows = result_rows([rec("sequential", 2.0), rec("threads", 2.2), rec("processes", 1.0)])
    assert [r.label for r in rows] == ["sequential", "threads ×2", "processes ×2"]
    assert [r.wall_s for r in rows] == [2.0, 2.2, 1.0]
    assert rows[0].ratio is None
    assert rows[1].ratio == pytest.approx(1.1) and rows[1].vs == "sequential"
    assert rows[2].ratio == pytest.approx(0.5)


def test_ratios_need_a_baseline() -> None:
    assert ratios([rec("threads", 2.2), rec("processes", 1.0)]) == {
        "threads ×2": None,
        "processes ×2": None,
    }


def test_ratios_only_between_runs_of_the_same_n() -> None:
    got = ratios([rec("sequential", 2.0, count=100), rec("threads", 4.4, count=200)])
    assert got["threads ×2"] is None


def test_io_and_native_compare_with_their_own_one_thread_run() -> None:
    got = ratios(
        [
            rec("io", 2.0, workers=1),
            rec("io", 0.55, workers=4),
            rec("native", 1.2, workers=1),
            rec("native", 0.6, workers=2),
            rec("sequential", 1.0),
        ]
    )
    assert got["io ×1"] is None
    assert got["io ×4"] == pytest.approx(0.275)
    assert got["native ×2"] == pytest.approx(0.5)


def test_the_latest_run_of_a_label_wins() -> None:
    rows = result_rows([rec("sequential", 2.0), rec("threads", 2.2), rec("threads", 2.0)])
    assert [r.wall_s for r in rows] == [2.0, 2.0]
    assert rows[1].ratio == pytest.approx(1.0)


def test_zero_wall_sequential_gives_no_ratio() -> None:
    assert ratios([rec("sequential", 0.0), rec("threads", 1.0)])["threads ×2"] is None


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3, 1, 2], 0.5) == 2
    assert percentile(list(range(1, 101)), 0.99) == 99
    assert percentile([7], 0.99) == 7


def test_latency_figures_in_ms() -> None:
    f = latency_figures([100_000] * 99 + [9_000_000], [5_000_000, 6_000_000])
    assert f.alone_p50 == pytest.approx(0.1)
    assert f.alone_p99 == pytest.approx(0.1)
    assert f.alone_n == 100
    assert f.busy_p50 == pytest.approx(5.0)
    assert f.busy_n == 2
    empty = latency_figures([], [])
    assert empty.busy_p99 is None and empty.alone_n == 0


def test_agreement_is_mean_absolute_difference_in_points() -> None:
    assert agreement_pp([]) is None
    assert agreement_pp([(0.5, 0.52), (0.5, 0.46)]) == pytest.approx(3.0)
