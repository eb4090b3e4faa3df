"""The app playing a recording: the same view, with a clock to pause, seek and speed up."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from gilscope.tui.app import GilscopeApp

SEEK_S = 10.0


class ReplayApp(GilscopeApp):
    """``source`` is a ``ReplaySource``: space pauses its clock, ←/→ jump, Home/End go to
    the ends, < > play slower or faster. What would start a run says it is a replay."""

    BINDINGS = [
        Binding("left", "seek(-1)", "Back", key_display="←→"),
        Binding("right", "seek(1)", "Forward", show=False),
        Binding("home", "seek_to('start')", "Start", key_display="Home/End"),
        Binding("end", "seek_to('end')", "End", show=False),
        Binding("greater_than_sign,full_stop", "speed(2)", "Faster", key_display="<>"),
        Binding("less_than_sign,comma", "speed(0.5)", "Slower", show=False),
    ]

    @property
    def replay(self) -> Any:
        return self.source

    def action_seek(self, direction: int) -> None:
        self.replay.seek(delta_s=direction * SEEK_S)
        self._timeline.paused_end_ns = None
        self.pull()

    def action_seek_to(self, where: str) -> None:
        self.replay.seek(to=where)
        self._timeline.paused_end_ns = None
        self.pull()

    def action_speed(self, factor: float) -> None:
        self.replay.faster(factor)
        self.pull()

    def action_toggle_pause(self) -> None:
        self.replay.toggle_pause()
        self.pull()

    def action_restart(self) -> None:
        self.action_seek_to("start")

    def _observing_target(self) -> bool:
        self.notify(
            "Replaying a recording: scenarios, N/K and the switch interval are for a live "
            "gilscope.",
            severity="warning",
        )
        return True
