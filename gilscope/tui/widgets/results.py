"""Wall time per scenario and the seeds' comparison, filled in as runs finish."""

from __future__ import annotations

from typing import Optional, Tuple

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from gilscope.model.metrics import RunRecord, compare

ORDER = ("sequential", "threads", "processes")


def results_text(records: Tuple[RunRecord, ...], running: Optional[str]) -> Text:
    """Latest wall time per scenario; against sequential as "N× faster/slower"."""
    cmp = compare(records)
    ratios = {"threads": cmp.threads_vs_sequential, "processes": cmp.processes_vs_sequential}
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, name in enumerate(ORDER):
        if i:
            text.append("\n")
        text.append(f"{name:<10} ", style="bold" if name == running else "")
        wall = cmp.wall_s.get(name)
        if name == running:
            text.append("running…", style="yellow")
            continue
        if wall is None:
            text.append("  –", style="dim")
            continue
        text.append(f"{wall:5.2f} s")
        ratio = ratios.get(name)
        if ratio is not None:
            if ratio < 0.95:
                text.append(f" {1 / ratio:4.2f}× faster", style="green bold")
            elif ratio > 1.05:
                text.append(f" {ratio:4.2f}× slower", style="red bold")
            else:
                text.append(f" {ratio:4.2f}× same", style="yellow bold")
    return text


class ResultsPanel(Static):
    DEFAULT_CSS = """
    ResultsPanel { height: 3; }
    """

    _shown: str = ""

    def show(self, records: Tuple[RunRecord, ...], running: Optional[str], spec: str) -> None:
        text = results_text(records, running)
        if text.markup != self._shown:
            self._shown = text.markup
            self.update(text, layout=False)
        title = f"Results · {spec}"
        if isinstance(self.parent, Widget) and self.parent.border_title != title:
            self.parent.border_title = title
