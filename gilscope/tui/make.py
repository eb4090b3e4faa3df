"""``make_app``: the one way to build the app, shared by the CLI and the tests."""

from __future__ import annotations

from typing import Callable, Optional

from gilscope.scenarios.builds import Builds
from gilscope.tui.app import GilscopeApp
from gilscope.tui.replay_app import ReplayApp
from gilscope.tui.source import SnapshotSource


def make_app(
    source: SnapshotSource,
    fps: int = 10,
    on_signal: Optional[Callable[[], None]] = None,
    talk: bool = False,
    builds: Optional[Builds] = None,
) -> GilscopeApp:
    """The live app on a session (or a test's fixed source); a replay's source gets the app
    with the replay's keys. ``on_signal``: called on SIGTERM, SIGHUP and SIGINT before the
    app quits; ``talk``: start in the talk view; ``builds``: the interpreters key g
    compares (see ``GilscopeApp``)."""
    if getattr(source, "replay_controls", False):
        return ReplayApp(source, fps=fps, on_signal=on_signal, talk=talk)
    return GilscopeApp(source, fps=fps, on_signal=on_signal, talk=talk, builds=builds)
