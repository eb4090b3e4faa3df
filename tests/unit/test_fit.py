"""Text that fits its room: lane labels, the header, wrapped output, the layout's rows."""

from __future__ import annotations

import pytest
from rich.text import Text

from gilscope.tui.fit import Part, elide_middle, fit_label, fit_parts, progress_bar, wrap_tail
from gilscope.tui.layout import CHROME_ROWS, TOP_MIN, plan
from gilscope.tui.widgets.status_bar import status_text
from tests.tui.fixed_source import served_snapshot, synthetic_snapshot

POOL = [f"ThreadPoolExecutor-0_{i}" for i in range(4)]


def test_a_label_that_fits_is_whole() -> None:
    assert fit_label("cpu-countdown", 13, ["io-responder"]) == "cpu-countdown"


def test_names_that_differ_at_the_end_keep_the_end() -> None:
    fitted = [fit_label(n, 13, POOL) for n in POOL]
    assert fitted == [f"…Executor-0_{i}" for i in range(4)]
    assert all(len(f) == 13 for f in fitted)


def test_names_that_differ_at_the_start_keep_the_start() -> None:
    names = [f"Thread-{i} (worker_function)" for i in (1, 2, 3)]
    assert [fit_label(n, 13, names) for n in names] == [f"Thread-{i} (wo…" for i in (1, 2, 3)]
    assert fit_label("waitress-main-thread", 13, [*POOL, "waitress-main-thread"]) == (
        "waitress-mai…"
    )


def test_names_that_differ_in_the_middle_show_the_difference() -> None:
    names = ["pool-worker-3-of-cluster-main", "pool-worker-4-of-cluster-main"]
    fitted = [fit_label(n, 12, names) for n in names]
    assert len(set(fitted)) == 2 and all(len(f) == 12 for f in fitted)
    assert "worker-3" in fitted[0] and "worker-4" in fitted[1]


def test_a_shared_lane_keeps_its_count() -> None:
    assert fit_label("ThreadPoolExecutor-0_* ×37", 13, ["MainThread"]) == "ThreadPo… ×37"


def test_elide_middle_keeps_both_ends() -> None:
    assert elide_middle("python -m gunicorn app:application", 15) == "python …ication"
    assert elide_middle("short", 10) == "short"


def test_fit_parts_sheds_in_rounds_and_brings_back_what_fits() -> None:
    parts = [
        Part(Text("STATE")),
        Part(Text(" ·aaaaaaaaaaaaaaaaaaaa"), shed=3, shrink=8, shrink_round=2),
        Part(Text(" ·zoom"), shed=1),
        Part(Text(" ·py"), shed=4),
    ]
    assert fit_parts(parts, None).plain == "STATE ·aaaaaaaaaaaaaaaaaaaa ·zoom ·py"
    assert fit_parts(parts, 200).plain == "STATE ·aaaaaaaaaaaaaaaaaaaa ·zoom ·py"
    fitted = fit_parts(parts, 20).plain
    assert fitted.startswith("STATE ·") and fitted.endswith(" ·py") and "…" in fitted
    assert len(fitted) == 20
    assert fit_parts(parts, 7).plain == "STATE"  # never shed, even when little else fits


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 250])
def test_the_header_keeps_state_and_view_at_any_width(width: int) -> None:
    for snap in (served_snapshot(), synthetic_snapshot()):
        for paused in (False, True):
            plain = status_text(snap, "2ms", paused, width).plain
            assert len(plain) <= width
            assert "running" in plain and ("PAUSED" if paused else "LIVE") in plain


def test_the_header_names_the_busy_machine_before_details() -> None:
    plain = status_text(served_snapshot(), "2ms", False, 80).plain
    assert "busy 1.3 cores" in plain and "py3.11.7" not in plain
    wide = status_text(served_snapshot(), "2ms", False, 300).plain
    assert "busy: others use 1.3 cores" in wide and "myproject.wsgi:application" in wide


def test_wrap_tail_keeps_the_newest_screen_lines() -> None:
    lines = ["x" * 50, "short", "y" * 25]
    wrapped = wrap_tail(lines, 20, 3)
    assert wrapped == ["short", "y" * 20, "  yyyyy"]
    assert all(len(line) <= 20 for line in wrap_tail(lines, 20, 10))
    assert "".join(line.strip() for line in wrap_tail(lines, 20, 10)) == "".join(lines)


def test_progress_bar_fills_in_eighths() -> None:
    assert progress_bar(0.0, 4) == "    "
    assert progress_bar(1.0, 4) == "████"
    assert progress_bar(0.5, 3) == "█▌ "
    assert progress_bar(2.0, 3) == "███"


@pytest.mark.parametrize("width", [80, 100, 120, 200, 250])
@pytest.mark.parametrize("height", [24, 30, 40, 50, 70])
@pytest.mark.parametrize(
    ("threads", "results", "relay"), [(2, 3, 4), (2, 8, 4), (6, 14, 8), (40, 20, 42)]
)
def test_the_plan_keeps_every_panel_whole(
    width: int, height: int, threads: int, results: int, relay: int
) -> None:
    for output in (False, True):
        p = plan(width, height, threads, 2, results, output, relay)
        top = height - CHROME_ROWS - p.threads_rows - p.bottom_rows
        assert top >= TOP_MIN
        assert p.threads_rows >= 4 and p.bottom_rows >= 5  # borders and content
        assert 44 <= p.results_width <= 64
        if height >= 40 and not output:
            # On a tall screen the relay is the largest thing on it.
            assert top >= max(p.threads_rows, p.bottom_rows)


def test_the_relay_gets_a_row_per_lane_before_the_thread_table_grows() -> None:
    p = plan(80, 24, 6, 0, 3, output=True, relay=7)
    assert 24 - CHROME_ROWS - p.threads_rows - p.bottom_rows >= 7 + 2


def test_results_get_the_rows_of_a_short_screen() -> None:
    p = plan(80, 24, 2, 2, 8)  # seven results and the run in progress
    assert (p.threads_rows, p.bottom_rows) == (2 + 1 + 2, 9)  # two threads; 7 of 8 lines
    assert plan(100, 30, 2, 2, 8).bottom_rows == 8 + 2  # all of them
