"""Drive the app by its keys, as a person at a terminal would."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, List, Tuple

import pytest
from textual import events
from textual.pilot import Pilot

from gilscope.model.timeline import MS, ZOOM_LEVELS_NS
from gilscope.scenarios import builds as builds_module
from gilscope.scenarios.builds import HOW_TO_GET_ONE, Builds
from gilscope.scenarios.workload import RunState, Scenario
from gilscope.tui.app import GilscopeApp
from gilscope.tui.make import make_app
from gilscope.tui.screens.help import HELP, HelpScreen
from gilscope.tui.screens.settings import SettingsScreen, parse_settings
from gilscope.tui.widgets.relay_timeline import RelayTimeline
from tests.tui.fixed_source import NOW_NS, FixedSource, synthetic_snapshot, target_snapshot


async def test_zoom_keys_walk_the_levels() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        timeline = app.query_one(RelayTimeline)
        assert timeline.col_ns == 2 * MS
        await pilot.press("plus")
        assert timeline.col_ns == 1 * MS
        await pilot.press("plus")  # already the finest: stays
        assert timeline.col_ns == 1 * MS
        for _ in range(20):
            await pilot.press("minus")
        assert timeline.col_ns == ZOOM_LEVELS_NS[-1] >= 1000 * MS


async def test_pause_freezes_and_resume_goes_live() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        timeline = app.query_one(RelayTimeline)
        await pilot.press("space")
        assert timeline.paused_end_ns == timeline.end_ns(NOW_NS)
        await pilot.press("minus")  # zooming while paused keeps the frozen end
        assert timeline.paused_end_ns is not None
        await pilot.press("space")
        assert timeline.paused_end_ns is None


@pytest.mark.parametrize(
    ("key", "scenario"),
    [("1", Scenario.SEQUENTIAL), ("2", Scenario.THREADS), ("3", Scenario.PROCESSES)],
)
async def test_scenario_keys_restart_with_that_scenario(key: str, scenario: Scenario) -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(key)
        assert source.restarts[-1] is not None
        assert source.restarts[-1].scenario is scenario


async def test_restart_key() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        assert source.restarts == [None]


async def test_help_opens_and_closes() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_help_says_where_the_relay_comes_from_and_what_restarts_the_run() -> None:
    assert "GIL probe" in HELP and "from its memory" in HELP  # the relay's source
    assert "workers' own report" in HELP and "reference" in HELP  # what it is checked against
    assert "py-spy" in HELP and "GIL stacks" in HELP and "spy%" in HELP
    keys = {line.split()[0]: line for line in HELP.splitlines() if line.startswith("  ")}
    assert keys["["].endswith("the run restarts with it")
    assert keys["s"].endswith("the run restarts with them")


async def test_settings_sets_n_and_k() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("ctrl+a", *("ctrl+k",), *"20000000", "tab")
        await pilot.press("ctrl+a", "ctrl+k", "4", "enter")
        await pilot.pause()
        spec = source.restarts[-1]
        assert spec is not None and (spec.count, spec.workers) == (20_000_000, 4)


async def test_settings_rejects_bad_values_and_stays_open() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "ctrl+a", "ctrl+k", *"abc", "enter")
        assert isinstance(app.screen, SettingsScreen)
        assert source.restarts == []
        await pilot.press("escape")
        assert not isinstance(app.screen, SettingsScreen)


def send_at_once(app: GilscopeApp, *keys: str) -> None:
    """Keys that arrive in one read (a fast typist, a paste, a script), as the terminal
    driver posts them: all at once, none waiting for the one before to be handled."""
    chars = {"tab": "\t", "enter": "\r", "escape": "\x1b", "backspace": "\x7f"}
    for key in keys:
        app.post_message(events.Key(key, chars.get(key, key if len(key) == 1 else None)))


async def settle(pilot: Pilot[int], done: Callable[[], bool]) -> None:
    for _ in range(100):  # a slow, shared machine: wait for it, up to 5 s
        if done():
            return
        await pilot.pause(0.05)
    raise AssertionError("the keys were never all handled")


@pytest.mark.parametrize(
    ("keys", "n_k"),
    [
        (["s", *"1000", "tab", "3", "enter"], (1000, 3)),  # typed over the selected values
        (["s", "ctrl+a", "ctrl+k", *"12", "backspace", "3", "tab", "5", "enter"], (13, 5)),
        (["s", "tab", "4", "shift+tab", *"77", "enter"], (77, 4)),
    ],
)
async def test_settings_keeps_keys_sent_at_once(keys: List[str], n_k: Tuple[int, int]) -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        send_at_once(app, *keys)
        await settle(pilot, lambda: bool(source.restarts))
        spec = source.restarts[-1]
        assert spec is not None and (spec.count, spec.workers) == n_k
        assert not isinstance(app.screen, SettingsScreen)


async def test_keys_after_the_settings_close_go_to_the_main_screen() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        send_at_once(app, "s", "9", "escape", "r")  # cancelled; then r restarts the run
        await settle(pilot, lambda: bool(source.restarts))
        assert source.restarts == [None]
        assert not isinstance(app.screen, SettingsScreen)


def test_parse_settings() -> None:
    assert parse_settings("50_000_000", "2") == (50_000_000, 2, "")
    assert parse_settings("1,000", "1")[:2] == (1000, 1)
    assert parse_settings("0", "2")[0] is None
    assert parse_settings("10", "65")[0] is None
    assert parse_settings("ten", "2")[2]


async def test_quit_key_exits() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_timeline_shows_alternation_at_fine_zoom() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        timeline = app.query_one(RelayTimeline)
        lines = [timeline.render_line(y).text for y in range(timeline.virtual_size.height)]
        label0 = next(i for i, line in enumerate(lines) if line[2:13] == "countdown-0")
        label1 = next(i for i, line in enumerate(lines) if line[2:13] == "countdown-1")
        lane_rows = label1 - label0
        assert lane_rows >= 1
        # The label sits on a lane's bottom row; its top row is full only where it held the
        # GIL for the whole column. At 2 ms/col both lanes show blocks and track...
        top0, top1 = lines[label0 - lane_rows + 1][15:], lines[label1 - lane_rows + 1][15:]
        assert "█" in top0 and "█" in top1
        assert "─" in lines[label0] and "─" in lines[label1]
        # ...and never in the same column: one baton per process.
        assert not any(a == b == "█" for a, b in zip(top0, top1))
        assert "●" in lines[label1][:2]  # the snapshot hands the baton to countdown-1
        assert "●" not in lines[label0][:2]


async def test_problems_become_notifications_not_tracebacks() -> None:
    problem = (
        "py-spy cannot sample pid 4242: ptrace permission denied. Run gilscope as root, "
        "give py-spy CAP_SYS_PTRACE (...), or allow ptrace of your own processes (...)."
    )
    source = FixedSource(replace(synthetic_snapshot(), problems=(problem,)))
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(30):  # the first frame posts it; allow for a slow, shared machine
            if list(app._notifications):
                break
            await pilot.pause(0.1)
        notes = list(app._notifications)
        assert [n.message for n in notes] == [problem]
        assert notes[0].severity == "error"
        await pilot.pause(0.3)  # later frames do not repeat it
        assert len(list(app._notifications)) == 1


def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert make_app(FixedSource()).no_color


async def test_a_finished_run_stays_on_screen_until_space() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        timeline = app.query_one(RelayTimeline)
        await pilot.pause()
        assert timeline.paused_end_ns is None  # running: live
        done = replace(source.snapshot(), state=RunState.DONE, wall_s=1.2)
        source._snapshot = done
        await pilot.pause(0.3)
        assert timeline.paused_end_ns == timeline.end_ns(done.timeline.latest_ns)
        await pilot.press("space")
        assert timeline.paused_end_ns is None  # back to live, and it stays live
        await pilot.pause(0.3)
        assert timeline.paused_end_ns is None


@pytest.mark.parametrize(
    ("key", "scenario", "count"),
    [("4", Scenario.IO, 2000), ("5", Scenario.NATIVE, 2048), ("6", Scenario.CONVOY, 50_000_000)],
)
async def test_new_scenario_keys_bring_their_own_n(
    key: str, scenario: Scenario, count: int
) -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(key)
        spec = source.restarts[-1]
        assert spec is not None and spec.scenario is scenario and spec.count == count


async def test_n_is_remembered_per_kind_of_work() -> None:
    source = FixedSource(synthetic_snapshot(Scenario.THREADS))
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")  # io: its own default N
        await pilot.press("1")  # back to the countdown family: the threads run's N
        spec = source.restarts[-1]
        assert spec is not None and spec.count == 50_000_000


async def test_picker_runs_the_chosen_scenario() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("p")
        await pilot.press("down", "down", "enter")  # threads → processes → io
        spec = source.restarts[-1]
        assert spec is not None and spec.scenario is Scenario.IO


async def test_compare_key_runs_the_guided_plan() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        (plan,) = source.plans
        assert [(s.scenario.value, s.workers) for s in plan] == [
            ("sequential", 2), ("threads", 2), ("processes", 2), ("native", 1), ("native", 2)
        ]  # fmt: skip
        await pilot.pause()
        assert "compare 1/5" in str(app.query_one("#explain").render())


async def test_gil_vs_ft_key_runs_the_countdown_on_both_builds() -> None:
    source = FixedSource()
    app = make_app(source, builds=Builds(gil="/usr/bin/python3.12", ft="/opt/ft/python3.13t"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        (plan,) = source.plans
        assert [(s.scenario, s.workers, s.python, s.gil) for s in plan] == [
            (Scenario.THREADS, 2, "/usr/bin/python3.12", None),
            (Scenario.THREADS, 2, "/opt/ft/python3.13t", False),  # without its GIL, always
        ]
        assert plan[0].count == plan[1].count == 50_000_000


async def test_gil_vs_ft_without_a_free_threaded_build_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(builds_module, "find_free_threaded", lambda: None)
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        await pilot.pause()
        assert source.plans == []
        (note,) = list(app._notifications)
        assert note.message == HOW_TO_GET_ONE and "\n" not in note.message


async def test_switch_interval_keys_step_through_presets() -> None:
    source = FixedSource()
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("right_square_bracket")  # from Python's 5 ms
        assert source.restarts[-1] is not None and source.restarts[-1].switch_ms == 10.0
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert source.restarts[-1] is not None and source.restarts[-1].switch_ms == 1.0


async def test_lane_filters() -> None:
    app = make_app(FixedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        timeline = app.query_one(RelayTimeline)
        await pilot.press("h")
        assert timeline.hide_idle is True
        await pilot.press("f")
        assert timeline.process_filter == 0
        await pilot.press("f")  # one process only: back to all
        assert timeline.process_filter is None


async def test_scenario_keys_do_nothing_while_observing_another_process() -> None:
    source = FixedSource(target_snapshot())
    app = make_app(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "m", "right_square_bracket")
        assert source.restarts == [] and source.plans == []
        assert app.query_one(RelayTimeline).col_ns == 100 * MS  # sampled: coarse columns
