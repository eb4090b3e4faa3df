"""Every panel whole, at every size and whatever it holds; the header keeps the state."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from textual.widget import Widget

from gilscope.snapshot import Snapshot
from gilscope.tui.app import make_app
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
    app = make_app(FixedSource(case[1]))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        footer_row = height - 1
        for selector in BOXES:
            box = app.query_one(selector, Widget)
            region = box.region
            assert region.height >= 3, f"{selector} is {region.height} rows at {size}"
            assert region.right <= width, f"{selector} runs off the right edge at {size}"
            assert region.bottom <= footer_row, f"{selector} loses its bottom border at {size}"
        lines = screen_lines(app)
        # Every box's two corners at the bottom are on screen: its border is whole.
        for selector in BOXES:
            region = app.query_one(selector, Widget).region
            bottom = lines[region.bottom - 1]
            assert bottom[region.x] == "╰" and bottom[region.right - 1] == "╯", selector
        header = lines[0]
        assert "running" in header and "LIVE" in header, header


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_results_show_the_run_in_progress_and_say_what_is_left_out(
    size: Tuple[int, int],
) -> None:
    app = make_app(FixedSource(many_results_snapshot()))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        region = app.query_one("#results-box", Widget).region
        lines = screen_lines(app)[region.y + 1 : region.bottom - 1]
        inside = [line[region.x + 1 : region.right - 1] for line in lines]
        shown = [line for line in inside if line.strip()]
        assert any(line.startswith("threads ×4") and "1.4/~3.4 s" in line for line in shown)
        rows = len(shown) - any("earlier" in line for line in shown)
        if len(inside) >= 8:  # room for all seven results and the running row
            assert rows == 8 and not any("earlier" in line for line in shown)
        else:
            earlier = next(line for line in shown if "earlier" in line)
            assert earlier.strip() == f"+{8 - rows} earlier"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_lane_labels_tell_threads_apart(size: Tuple[int, int]) -> None:
    app = make_app(FixedSource(served_snapshot()))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        relay = app.query_one(RelayTimeline)
        region = relay.region
        text = "\n".join(line[region.x : region.right] for line in screen_lines(app))
        for name in POOL_NAMES[:4]:  # the part that tells them apart, at least
            assert name[-12:] in text, f"{name} at {size}"
        if size[0] >= 120:  # room for the whole names
            for name in POOL_NAMES:
                assert name in text, f"{name} at {size}"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_lanes_grow_into_the_room(size: Tuple[int, int]) -> None:
    """Two lanes take the relay's height (up to a limit), not one row each and a void."""
    app = make_app(FixedSource())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        relay = app.query_one(RelayTimeline)
        used = relay.virtual_size.height  # the process's title, two lanes, the axis
        assert relay.size.height - 2 <= used <= relay.size.height, (used, relay.size.height)


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
