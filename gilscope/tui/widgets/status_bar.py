"""The top line: what is running, for how long, and how the timeline is set."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gilscope.model.metrics import BUSY_CORES
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot

ACTIVE = (RunState.STARTING, RunState.RUNNING)
STATE_STYLE = {
    RunState.STARTING: "yellow",
    RunState.RUNNING: "green bold",
    RunState.DONE: "cyan bold",
    RunState.FAILED: "red bold",
    RunState.STOPPED: "dim",
}


def status_text(snap: Snapshot, zoom: str, paused: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" gilscope ", style="reverse bold")
    text.append(f" {snap.target or snap.spec.describe()} ", style="bold")
    text.append(f"{snap.state.value}", style=STATE_STYLE[snap.state])
    if snap.state is RunState.DONE and snap.wall_s is not None:
        text.append(f" in {snap.wall_s:.2f} s")
    elif snap.state is RunState.RUNNING:
        text.append(f" {snap.elapsed_s:4.1f} s")
    if snap.target and snap.processes:
        text.append(f" · {processes_text(snap)}")
    if snap.other_cpu is not None and snap.other_cpu > BUSY_CORES and snap.state in ACTIVE:
        # Wall times (and the ratios between them) then say more about the neighbours.
        text.append(f" · busy: others use {snap.other_cpu:.1f} cores", style="red bold")
    switch = snap.spec.switch_ms
    if snap.target:  # another process's switch interval: as its GIL says, if the probe reads it
        switch = snap.probe.interval_ms
    if switch is not None or not snap.target:
        text.append(" · switch ")
        text.append(f"{switch:g}ms" if switch is not None else "5ms", style="bold")
    if snap.python_version:
        text.append(f" · py{snap.python_version} ")
        if snap.gil is False:
            text.append("no GIL", style="reverse magenta")
        elif snap.python_version.endswith("t"):
            # a free-threaded build with its GIL switched on (-X gil=1, PYTHON_GIL=1)
            text.append("GIL on", style="bold")
        else:
            text.append("GIL", style="bold")
    text.append(f" · {zoom}/col · ")
    text.append("PAUSED" if paused else "LIVE", style="reverse yellow" if paused else "green")
    if paused:
        text.append(" space: live", style="dim")
    return text


def processes_text(snap: Snapshot) -> str:
    """'1 process', '5 processes', '5 processes, 3 live' (while the target runs)."""
    n = snap.processes
    text = f"{n} process" + ("" if n == 1 else "es")
    if snap.state is RunState.RUNNING and snap.processes_live < n:
        text += f", {snap.processes_live} live"
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    _shown: str = ""

    def show(self, text: Text) -> None:
        if text.markup != self._shown:
            self._shown = text.markup
            self.update(text, layout=False)
