"""GilscopeApp: pulls a frozen Snapshot at its own frame rate and passes it down."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from functools import partial
from typing import Callable, Dict, Optional, Tuple

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from gilscope.model.timeline import MS, ZOOM_LEVELS_NS
from gilscope.scenarios.builds import Builds
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot
from gilscope.tui.captions import (
    TIMELINE_TITLE,
    explanation,
    progress,
    short_spec,
    spec_label,
    timeline_title,
)
from gilscope.tui.layout import Plan
from gilscope.tui.limits import MIN_HEIGHT, MIN_WIDTH
from gilscope.tui.run_controls import RunControls, count_kind
from gilscope.tui.screens.help import HelpScreen
from gilscope.tui.screens.picker import GIL_VS_FT, MIXED, choices
from gilscope.tui.screens.settings import SettingsScreen
from gilscope.tui.source import SnapshotSource
from gilscope.tui.view import ACTIVE
from gilscope.tui.widgets.core_meters import CoreMeters
from gilscope.tui.widgets.relay_timeline import RelayTimeline, format_span
from gilscope.tui.widgets.results import ResultsPanel
from gilscope.tui.widgets.stacks import GilStacks
from gilscope.tui.widgets.status_bar import StatusBar, status_parts
from gilscope.tui.widgets.thread_table import ThreadTable


class GilscopeApp(RunControls):
    CSS_PATH = "gilscope.tcss"
    TITLE = "gilscope"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("p", "pick", "Pick"),
        *(
            Binding(key, f"scenario('{name}')", name, show=False)
            for name, key, _ in choices()
            if name not in (MIXED, GIL_VS_FT)
        ),
        Binding("m", "mixed", "Compare"),
        Binding("g", "gil_vs_ft", "GIL vs no GIL", show=False),
        Binding("r", "restart", "Restart"),
        Binding("space", "toggle_pause", "Pause", key_display="␣"),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom", key_display="+-"),
        Binding("minus,underscore", "zoom(1)", "Zoom out", show=False),
        # priority: acted on as it arrives, before the keys typed right after it, which
        # then reach the dialog (see on_event; there, s is typed like any key)
        Binding("s", "settings", "N/K", priority=True),
        Binding("right_square_bracket", "switch(1)", "Switch", key_display="[]"),
        Binding("left_square_bracket", "switch(-1)", "Switch down", show=False),
        Binding("h", "hide_idle", "Hide idle", show=False),
        Binding("f", "filter_process", "One process", show=False),
        Binding("t", "talk", "Talk"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        source: SnapshotSource,
        fps: int = 10,
        on_signal: Optional[Callable[[], None]] = None,
        talk: bool = False,
        builds: Optional[Builds] = None,
    ):
        """``on_signal``: if given, SIGTERM, SIGHUP and SIGINT call it, then quit.
        ``talk``: start in the talk view (big lanes, the results beside them). ``builds``:
        the interpreters key g compares (default: the workloads' own, and a free-threaded
        one looked for when g is pressed)."""
        super().__init__()
        self.source = source
        self.builds = builds
        self.fps = fps
        self.talk = talk
        self._plan: Optional[Plan] = None
        self._shape: Tuple[int, ...] = ()
        self._on_signal = on_signal
        self._problems_seen = 0
        self._last: Optional[Snapshot] = None
        self._slow_at = 0.0
        self._loop_ref: asyncio.AbstractEventLoop
        self._force = True  # redraw everything on the next frame (start, key presses)
        self._last_target = ""
        self._counts: Dict[str, int] = {}  # N per kind of work, kept across scenario switches

    def compose(self) -> ComposeResult:
        with Vertical(id="main"):
            yield StatusBar(id="status")
            yield Static(id="explain")
            with Horizontal(id="top"):
                with Vertical(id="timeline-box") as box:
                    box.border_title = TIMELINE_TITLE
                    yield RelayTimeline(id="timeline")
                with Vertical(id="side"):
                    # The talk view's results, beside the relay; hidden otherwise.
                    with Vertical(id="talk-results-box") as box:
                        box.border_title = "Results"
                        yield ResultsPanel(id="talk-results")
                    with Vertical(id="cores-box") as box:
                        box.border_title = "CPU cores"
                        yield CoreMeters(id="cores")
            with Vertical(id="threads-box") as box:
                box.border_title = "Threads"
                yield ThreadTable(id="threads")
            with Horizontal(id="bottom"):
                with Vertical(id="stacks-box") as box:
                    box.border_title = "GIL stacks"
                    yield GilStacks(id="stacks")
                with Vertical(id="results-box") as box:
                    box.border_title = "Results"
                    yield ResultsPanel(id="results")
            yield Footer(compact=True)
        yield Static(
            f"Terminal too small: gilscope needs {MIN_WIDTH}×{MIN_HEIGHT}. Enlarge it, or q.",
            id="too-small",
        )

    def on_mount(self) -> None:
        # Hold the widgets: queries would search whatever screen is on top (help, N/K).
        self._status = self.query_one(StatusBar)
        self._timeline = self.query_one(RelayTimeline)
        self._cores = self.query_one(CoreMeters)
        self._table = self.query_one(ThreadTable)
        self._stacks = self.query_one(GilStacks)
        self._results = self.query_one("#results", ResultsPanel)
        self._talk_results = self.query_one("#talk-results", ResultsPanel)
        self._explain = self.query_one("#explain", Static)
        self._timeline_box = self.query_one("#timeline-box", Vertical)
        self._boxes = {
            name: self.query_one(f"#{name}")
            for name in ("threads-box", "bottom", "results-box", "talk-results-box")
        }
        self._explained = ""
        self.screen.set_class(self.talk, "talk")
        self._timeline.talk = self.talk
        if self._on_signal is not None:
            # Plain handlers, not the event loop's: when the terminal is gone the loop can
            # be stuck writing a frame, and a loop-run handler would never get its turn.
            self._loop_ref = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, self._signalled)
        self.set_interval(1 / self.fps, self.pull)
        self.pull()

    def _signalled(self, sig: int, _frame: object) -> None:
        # Stop every child at once, from a thread of its own. After SIGHUP (an SSH session
        # dropped) the terminal is gone and Textual can block for ever drawing or handing it
        # back, so the process exits regardless 2 s later.
        stop = self._on_signal

        def shutdown() -> None:
            if stop is not None:
                stop()
            time.sleep(2.0)
            os._exit(128 + sig)

        threading.Thread(target=shutdown, name="gilscope-shutdown", daemon=True).start()
        # The shell's convention for "stopped by sig"; exit()'s first argument is the
        # app's result, not the process's exit code.
        self._loop_ref.call_soon_threadsafe(partial(self.exit, return_code=128 + sig))

    async def on_event(self, event: events.Event) -> None:
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and event.key != "ctrl+c"  # quitting never waits
            and isinstance(self.screen, SettingsScreen)
            and self.screen.take_key(event)  # in order, even keys sent at once
        ):
            return
        await super().on_event(event)

    def on_resize(self, event: events.Resize) -> None:
        # The event's size: self.size is still the old one while the event is handled.
        small = event.size.width < MIN_WIDTH or event.size.height < MIN_HEIGHT
        self.screen_stack[0].set_class(small, "too-small")  # the main screen, even under a modal
        self._shape = ()  # plan the panels again for the new size
        if self._last is not None:
            self._arrange(self._last, event.size.width, event.size.height)

    # -- data flows down --------------------------------------------------------------
    def pull(self) -> None:
        snap = self.source.snapshot()
        # A run that has ended, well or not (a ``run`` command's non-zero exit), stays on
        # screen as it ended.
        ended = snap.state in _ENDED and (self._last is None or self._last.state in _ACTIVE)
        self._last = snap
        self._counts.setdefault(count_kind(snap.spec.scenario), snap.spec.count)
        sampled = f"{snap.target} {snap.gil_source}" if snap.gil_source == "py-spy" else ""
        if sampled and self._last_target != sampled:
            # Sampled shares change every 0.5 s: finer columns would only repeat them.
            self._last_target = sampled
            self._timeline.zoom = ZOOM_LEVELS_NS.index(SAMPLED_ZOOM_NS)
        guided = snap.plan[0] < snap.plan[1]  # more steps to come: keep following them live
        if (
            ended
            and not guided
            and self._timeline.paused_end_ns is None
            and snap.timeline.latest_ns
        ):
            # A 50,000,000 countdown takes about a second: keep its end on screen instead of
            # letting it scroll away. Space goes back to live; zoom out to see all of it.
            self._timeline.pause_at_end(snap)
        # The timeline and meters move every frame; the table, stacks and results hold
        # 2 s figures and py-spy windows that land twice a second: redraw those at 2 Hz.
        now = time.monotonic()
        slow = now - self._slow_at >= 0.5
        if slow:
            self._slow_at = now
        timeline = self._timeline
        with self.batch_update():
            self._status.show(
                status_parts(snap, format_span(timeline.col_ns), timeline.paused_end_ns is not None)
            )
            timeline.show(snap, snap.timeline)
            self._cores.show(snap.cores, snap.core_history, sum(row.cpu for row in snap.threads))
            if slow or self._force:
                title = timeline_title(snap)
                if self._timeline_box.border_title != title:
                    self._timeline_box.border_title = title
                self._table.show(snap.threads)
                self._stacks.show(snap.stacks, snap.pyspy, bool(snap.target))
                # Twice a second, the run's bar too: a panel redrawn every frame makes the
                # screen redraw everything between it and the relay, at twice the CPU.
                panel = self._talk_results if self.talk else self._results
                if snap.target:
                    panel.show_target(snap)
                else:
                    running = spec_label(snap) if snap.state in _ACTIVE else None
                    panel.show(
                        snap.results, running, short_spec(snap), snap.latency, progress(snap)
                    )
            self._arrange(snap, self.size.width, self.size.height)
            self._force = False
            explained = explanation(snap)
            if explained != self._explained:
                self._explained = explained
                self._explain.update(explained)
        for problem in snap.problems[self._problems_seen :]:
            self.notify(problem, severity="error", timeout=10)
        self._problems_seen = len(snap.problems)

    # -- actions ----------------------------------------------------------------------
    def _spec(self) -> Tuple[Snapshot, RelayTimeline]:
        snap = self._last or self.source.snapshot()
        return snap, self._timeline

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


_ACTIVE = ACTIVE
_ENDED = (RunState.DONE, RunState.FAILED)
SAMPLED_ZOOM_NS = 100 * MS
