"""Wall time per scenario and how it compares, filled in as runs finish."""

from __future__ import annotations

from typing import List, Optional, Tuple

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from gilscope.model.metrics import LatencyFigures, ResultRow, RunRecord, result_rows
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot

# Shown before anything has run: the seeds' three rows, so the table says what it is for.
PLACEHOLDERS = ("sequential", "threads", "processes")


def _ms(x: Optional[float]) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def latency_text(lat: LatencyFigures) -> str:
    """'p50/p99 ms 0.1/0.3→4.9/9.8': alone, then with the countdown running."""
    return (
        f"p50/p99 ms {_ms(lat.alone_p50)}/{_ms(lat.alone_p99)}→"
        f"{_ms(lat.busy_p50)}/{_ms(lat.busy_p99)}"
    )


def results_text(
    records: Tuple[RunRecord, ...],
    running: Optional[str],
    latency: Optional[LatencyFigures] = None,
) -> Text:
    """Latest wall time per scenario; against its baseline as "N× faster/slower".

    ``running``: the label of the run in progress; ``latency``: its live convoy figures.
    """
    rows: List[ResultRow] = result_rows(records)
    labels = [r.label for r in rows]
    width = max([12, *(len(x) for x in labels), len(running or "")])
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    lines: List[Text] = []
    if not rows:
        for name in PLACEHOLDERS:
            if running is None or not running.startswith(name):
                lines.append(Text.assemble(f"{name:<12} ", ("  –", "dim")))
    for row in rows:
        if row.label == running:
            continue
        line = Text(f"{row.label:<{width}} ")
        if row.latency is not None:
            line.append(latency_text(row.latency))
        else:
            line.append(f"{row.wall_s:5.2f} s")
            _append_ratio(line, row.ratio)
        if row.busy is not None:
            line.append(f" busy: others {row.busy:.1f} cores", style="red")
        lines.append(line)
    if running is not None:
        line = Text(f"{running:<{width}} ", style="bold")
        if latency is not None and (latency.alone_n or latency.busy_n):
            line.append(latency_text(latency), style="yellow")
        else:
            line.append("running…", style="yellow")
        lines.insert(labels.index(running) if running in labels else len(lines), line)
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        text.append_text(line)
    return text


def _append_ratio(line: Text, ratio: Optional[float]) -> None:
    if ratio is None:
        return
    if ratio < 0.95:
        line.append(f" {1 / ratio:4.2f}× faster", style="green bold")
    elif ratio > 1.05:
        line.append(f" {ratio:4.2f}× slower", style="red bold")
    else:
        line.append(f" {ratio:4.2f}× same", style="yellow bold")


def target_text(snap: Snapshot, lines: int) -> Text:
    """attach / run: how the process is doing, then the newest lines of its output."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if snap.exit_code is not None:
        style = "green bold" if snap.exit_code == 0 else "red bold"
        wall = f" after {snap.wall_s:.2f} s" if snap.wall_s is not None else ""
        text.append(f"exit status {snap.exit_code}{wall}", style=style)
    elif snap.state is RunState.DONE:
        text.append("the process has exited", style="cyan bold")
    elif snap.state is RunState.FAILED:
        text.append(snap.error or "failed", style="red bold")
    else:
        text.append(f"{snap.state.value} {snap.elapsed_s:.0f} s", style="green")
    for line in snap.log[-max(lines - 1, 0) :] if lines > 1 else ():
        text.append("\n")
        text.append(line.text.expandtabs(4), style="dim")
    if not snap.log and snap.target_kind == "run":
        text.append("\n(no output yet)", style="dim")
    return text


class ResultsPanel(Static):
    DEFAULT_CSS = """
    ResultsPanel { height: auto; min-height: 3; }
    """

    _shown: str = ""

    def show(
        self,
        records: Tuple[RunRecord, ...],
        running: Optional[str],
        spec: str,
        latency: Optional[LatencyFigures] = None,
    ) -> None:
        text = results_text(records, running, latency)
        if text.markup != self._shown:
            self._shown = text.markup
            self.update(text)
        self._title(f"Results · {spec}")

    def show_target(self, snap: Snapshot, lines: int = 6) -> None:
        text = target_text(snap, lines)
        if text.markup != self._shown:
            self._shown = text.markup
            self.update(text)
        self._title("Output" if snap.target_kind == "run" else "Process")

    def _title(self, title: str) -> None:
        if isinstance(self.parent, Widget) and self.parent.border_title != title:
            self.parent.border_title = title
