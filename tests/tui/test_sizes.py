"""Every panel whole, at every size and whatever it holds; the header keeps the state."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from textual.widget import Widget

from gilscope.snapshot import Snapshot
from gilscope.tui.make import make_app
from gilscope.tui.widgets.relay_timeline import RelayTimeline
from tests.tui.fixed_source import (
    POOL_NAMES,
    FixedSource,
    many_results_snapshot,
    served_snapshot,
    synthetic_snapshot,
)

SIZES = [(80, 24), (100, 30), (120, 40), (200, 50), (250, 70)]
BOXES = ["#timeline-box", "#cores-box", "#threads-box", "#stacks-box", "#results-box"]


def screen_lines(app: object) -> List[str]:
    """What the terminal shows, line by line."""
    from textual.app import App

    assert isinstance(app, App)
    return [
        "".join(segment.text for segment in line)
        for line in app.screen._compositor.render_update(full=True).strips  # type: ignore[attr-defined]
    ]


CASES: List[Tuple[str, Snapshot]] = [
    ("two threads", synthetic_snapshot()),
    ("seven results", many_results_snapshot()),
    ("served", served_snapshot()),
]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_every_panel_fits_with_its_borders(size: Tuple[int, int], case: tuple) -> None:
    width, height = size
    name, snap = case
    app = make_app(FixedSource(snap))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        for selector in BOXES:
            region = app.query_one(selector, Widget).region
            assert region.height >= 3, f"{selector} is {region.height} rows at {size}"
            assert region.right <= width, f"{selector} runs off the right edge at {size}"
            assert region.bottom <= height - 1, f"{selector} loses its bottom border at {size}"
            # Both bottom corners on screen: the border is whole.
            bottom = lines[region.bottom - 1]
            assert bottom[region.x] == "╰" and bottom[region.right - 1] == "╯", selector
        header = lines[0]
        assert "running" in header and "LIVE" in header, header
        relay = app.query_one(RelayTimeline)
        relay_text = "\n".join(line[relay.region.x : relay.region.right] for line in lines)
        if name == "two threads":
            # Two lanes take the relay's height, not one row each and a void below.
            used = relay.virtual_size.height  # the process's title, two lanes, the axis
            assert relay.size.height - 2 <= used <= relay.size.height, (used, relay.size)
        elif name == "served":
            for thread in POOL_NAMES[:4]:  # the part that tells them apart, at least
                assert thread[-12:] in relay_text, f"{thread} at {size}"
            if width >= 120:  # room for the whole names
                assert all(thread in relay_text for thread in POOL_NAMES), size
        else:
            check_results(app, lines)


def check_results(app: object, lines: List[str]) -> None:
    """Seven results and the run in progress: the running row always, as a bar with its
    time against the expected one, and how many rows are left out where they do not fit."""
    from textual.app import App

    assert isinstance(app, App)
    region = app.query_one("#results-box", Widget).region
    inside = [
        line[region.x + 1 : region.right - 1] for line in lines[region.y + 1 : region.bottom - 1]
    ]
    shown = [line for line in inside if line.strip()]
    assert any(line.startswith("threads ×4") and "1.4/~3.4 s" in line for line in shown)
    rows = len(shown) - any("earlier" in line for line in shown)
    if len(inside) >= 8:  # room for all seven results and the running row
        assert rows == 8 and not any("earlier" in line for line in shown)
    else:
        earlier = next(line for line in shown if "earlier" in line)
        assert earlier.strip() == f"+{8 - rows} earlier"


async def test_the_header_elides_the_command_never_the_state() -> None:
    app = make_app(FixedSource(served_snapshot()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = screen_lines(app)[0]
        assert header.lstrip().startswith("gilscope  running")
        assert "LIVE" in header and "…" in header and header.rstrip().endswith("cores")
        await pilot.press("space")
        await pilot.pause()
        assert "PAUSED" in screen_lines(app)[0]


async def test_the_output_wraps_long_lines() -> None:
    app = make_app(FixedSource(served_snapshot()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        region = app.query_one("#results-box", Widget).region
        inside = [
            line[region.x + 1 : region.right - 1]
            for line in screen_lines(app)[region.y + 1 : region.bottom - 1]
        ]
        text = "".join(line.strip() for line in inside)
        assert "listening at http://0.0.0.0:8000" in text  # the end of a line past the width


async def test_talk_key_and_flag() -> None:
    app = make_app(FixedSource(many_results_snapshot()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        assert not app.query_one("#threads-box").display
        assert app.query_one("#talk-results-box").display
        relay = app.query_one(RelayTimeline)
        assert relay.talk and relay.region.height == 30 - 4  # all but the header, borders
        lines = screen_lines(app)
        assert any("GIL 50%" in line for line in lines)  # each lane says its share
        await pilot.press("t")
        await pilot.pause()
        assert app.query_one("#threads-box").display and not relay.talk
    talk = make_app(FixedSource(), talk=True)
    async with talk.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert talk.query_one(RelayTimeline).talk
