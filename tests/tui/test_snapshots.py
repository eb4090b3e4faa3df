"""SVG snapshots of the main screen on a fixed synthetic stream (pytest-textual-snapshot)."""

from __future__ import annotations

from typing import Any

import pytest

from gilscope.tui.app import make_app
from tests.tui.fixed_source import FixedSource


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare: Any, size: tuple) -> None:
    assert snap_compare(make_app(FixedSource()), terminal_size=size)


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
