"""SVG snapshots of the main screen on a fixed synthetic stream (pytest-textual-snapshot)."""

from __future__ import annotations

from typing import Any

import pytest

from gilscope.tui.make import make_app
from tests.tui.fixed_source import (
    FixedSource,
    attach_snapshot,
    convoy_snapshot,
    gil_vs_ft_snapshot,
    many_results_snapshot,
    no_gil_snapshot,
    served_snapshot,
    target_snapshot,
)

SIZES = [(80, 24), (100, 30), (120, 40), (200, 50), (250, 70)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_size(snap_compare: Any, size: tuple) -> None:
    """Seven results and a run in progress, a busy machine: every panel whole, at any size."""
    assert snap_compare(make_app(FixedSource(many_results_snapshot())), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_size_served(snap_compare: Any, size: tuple) -> None:
    """``run -- gunicorn …``: a long command, names that differ at their end, long log lines."""
    assert snap_compare(make_app(FixedSource(served_snapshot())), terminal_size=size)


@pytest.mark.parametrize("size", [(100, 30), (200, 50)], ids=["100x30", "200x50"])
def test_talk_view(snap_compare: Any, size: tuple) -> None:
    """What a projector shows: big lanes with their names and shares, results beside them."""
    assert snap_compare(
        make_app(FixedSource(many_results_snapshot()), talk=True), terminal_size=size
    )


def test_main_screen_zoomed_out(snap_compare: Any) -> None:
    assert snap_compare(
        make_app(FixedSource()), press=["-", "-", "-", "-", "-"], terminal_size=(100, 30)
    )


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource()), press=["question_mark"], terminal_size=(100, 30))


def test_too_small(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource()), terminal_size=(60, 16))


def test_no_color(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR: monochrome, and every lane state still has its own glyph."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(FixedSource()), terminal_size=(100, 30))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_convoy(snap_compare: Any, size: tuple) -> None:
    """The responder's waits for the baton (▒) and its latency, alone → with the CPU."""
    assert snap_compare(
        make_app(FixedSource(convoy_snapshot())), press=["plus"], terminal_size=size
    )


def test_run_target_with_output(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource(target_snapshot())), terminal_size=(100, 30))


def test_attach_read_by_the_probe(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource(attach_snapshot())), terminal_size=(100, 30))


def test_gil_vs_free_threaded(snap_compare: Any) -> None:
    """Key g done: the GIL build's relay above the free-threaded one's, from a common start,
    zoomed to show the longer whole; both wall times and their ratio."""
    snap = gil_vs_ft_snapshot()
    assert snap_compare(make_app(FixedSource(snap)), terminal_size=(120, 36))


def test_no_gil_process(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource(no_gil_snapshot())), terminal_size=(100, 30))


def test_scenario_picker(snap_compare: Any) -> None:
    assert snap_compare(make_app(FixedSource()), press=["p"], terminal_size=(100, 30))
