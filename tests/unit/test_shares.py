"""N is split into per-thread shares that each worker announces in a 64-bit report slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from gilscope.sampling.report import MAX_SHARE, BeaconReader, BeaconWriter, create_board
from gilscope.scenarios.workload import Scenario, WorkloadSpec, largest_share, share_problem
from gilscope.tui.screens.settings import parse_settings


def test_the_slot_holds_max_share_and_not_one_more(tmp_path: Path) -> None:
    board = str(tmp_path / "board")
    create_board(board, 1)
    writer = BeaconWriter(board, 0)
    writer.announce(1, 1, 1_000_000, MAX_SHARE)
    assert BeaconReader(board, 1).info(0).count == MAX_SHARE
    with pytest.raises((OverflowError, ValueError)):  # what crashed the worker thread
        writer.announce(1, 1, 1_000_000, MAX_SHARE + 1)


@pytest.mark.parametrize(
    ("scenario", "workers", "fits"),
    [
        (Scenario.SEQUENTIAL, 2, MAX_SHARE),  # one thread counts all of N, whatever K
        (Scenario.THREADS, 2, 2 * MAX_SHARE),
        (Scenario.PROCESSES, 3, 3 * MAX_SHARE),
        (Scenario.IO, 4, 4 * MAX_SHARE),
        (Scenario.NATIVE, 1, MAX_SHARE),
        (Scenario.CONVOY, 5, 2 * MAX_SHARE),  # two threads, K does not count
    ],
)
def test_largest_n_that_fits(scenario: Scenario, workers: int, fits: int) -> None:
    assert largest_share(WorkloadSpec(scenario, fits, workers)) == MAX_SHARE
    assert share_problem(WorkloadSpec(scenario, fits, workers)) == ""
    # One more and the first thread, which takes the remainder, gets one too many.
    assert largest_share(WorkloadSpec(scenario, fits + 1, workers)) == MAX_SHARE + 1
    assert "at most 9,223,372,036,854,775,807" in share_problem(
        WorkloadSpec(scenario, fits + 1, workers)
    )


def test_the_settings_dialog_refuses_an_n_that_does_not_fit() -> None:
    assert parse_settings(str(2 * MAX_SHARE), "2", Scenario.THREADS)[:2] == (2 * MAX_SHARE, 2)
    count, workers, error = parse_settings(str(2 * MAX_SHARE), "2", Scenario.SEQUENTIAL)
    assert count is None and workers is None and error.startswith("N is too large")
