"""The top line: what is running, for how long, and how the timeline is set."""

from __future__ import annotations

from typing import List, Optional

from rich.text import Text
from textual.widget import Widget

from gilscope.model.metrics import BUSY_CORES
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot
from gilscope.tui.fit import Part, fit_parts

ACTIVE = (RunState.STARTING, RunState.RUNNING)
STATE_STYLE = {
    RunState.STARTING: "yellow",
    RunState.RUNNING: "green bold",
    RunState.DONE: "cyan bold",
    RunState.FAILED: "red bold",
    RunState.STOPPED: "dim",
}


def status_text(snap: Snapshot, zoom: str, paused: bool, width: Optional[int] = None) -> Text:
    """The header, fitted to ``width`` cells: the run's state and LIVE/PAUSED always, then
    what fits; the command is elided before anything but the least telling parts go."""
    return fit_parts(status_parts(snap, zoom, paused), width)


# Shed rounds, first to go first: the pause hint, the zoom (the axis shows it too), then
# the command is elided and the busy note shortened, then the switch interval, the Python
# version, the process count, the command, the badge; the busy note (why the times are
# off) goes last. The run's state and LIVE/PAUSED never go.
HINT, ZOOM, ELIDE, SWITCH, PYTHON, PROCESSES, COMMAND, BADGE, BUSY = range(1, 10)
COMMAND_MIN = 22  # an elided command still shows its program and its last argument


def status_parts(snap: Snapshot, zoom: str, paused: bool) -> List[Part]:
    parts = [Part(Text(" gilscope ", style="reverse bold"), shed=BADGE)]
    state = Text(" ")
    state.append(snap.state.value, style=STATE_STYLE[snap.state])
    if snap.state is RunState.DONE and snap.wall_s is not None:
        state.append(f" in {snap.wall_s:.2f} s")
    elif snap.state is RunState.RUNNING:
        state.append(f" {snap.elapsed_s:4.1f} s")
    parts.append(Part(state))
    view = Text(" · ")
    if snap.replay:  # a recording played back: where, and how fast
        view.append(snap.replay, style="reverse cyan")
    else:
        view.append("PAUSED" if paused else "LIVE", style="reverse yellow" if paused else "green")
    parts.append(Part(view))
    if paused and not snap.replay:
        parts.append(Part(Text(" space: live", style="dim"), shed=HINT))
    what = Text(f" · {snap.target or snap.spec.describe()}", style="bold")
    parts.append(Part(what, shed=COMMAND, shrink=3 + COMMAND_MIN, shrink_round=ELIDE))
    if snap.target and snap.processes:
        parts.append(Part(Text(f" · {processes_text(snap)}"), shed=PROCESSES))
    if snap.other_cpu is not None and snap.other_cpu > BUSY_CORES and snap.state in ACTIVE:
        # Wall times (and the ratios between them) then say more about the neighbours.
        busy = Text(" · ")
        short = busy.copy()
        busy.append(f"busy: others use {snap.other_cpu:.1f} cores", style="red bold")
        short.append(f"busy {snap.other_cpu:.1f} cores", style="red bold")
        parts.append(Part(busy, shed=BUSY, shrink_round=ELIDE, alt=short))
    switch = snap.spec.switch_ms
    if snap.target:  # another process's switch interval: as its GIL says, if the probe reads it
        switch = snap.probe.interval_ms
    if switch is not None or not snap.target:
        text = Text(" · switch ")
        text.append(f"{switch:g}ms" if switch is not None else "5ms", style="bold")
        parts.append(Part(text, shed=SWITCH))
    if snap.python_version:
        text = Text(f" · py{snap.python_version} ")
        if snap.gil is False:
            text.append("no GIL", style="reverse magenta")
        elif snap.python_version.endswith("t"):
            # a free-threaded build with its GIL switched on (-X gil=1, PYTHON_GIL=1)
            text.append("GIL on", style="bold")
        else:
            text.append("GIL", style="bold")
        parts.append(Part(text, shed=PYTHON))
    parts.append(Part(Text(f" · {zoom}/col"), shed=ZOOM))
    return parts


def processes_text(snap: Snapshot) -> str:
    """'1 process', '5 processes', '5 processes, 3 live' (while the target runs)."""
    n = snap.processes
    text = f"{n} process" + ("" if n == 1 else "es")
    if snap.state is RunState.RUNNING and snap.processes_live < n:
        text += f", {snap.processes_live} live"
    return text


class StatusBar(Widget):
    """Fitted to its width at every render, so a narrower terminal sheds parts, in order."""

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._parts: List[Part] = []
        self._shown = ""

    def show(self, parts: List[Part]) -> None:
        key = "".join(p.text.markup for p in parts)
        if key != self._shown:
            self._shown = key
            self._parts = parts
            self.refresh()

    def render(self) -> Text:
        return fit_parts(self._parts, self.size.width or None)
