"""Wall time per scenario and the seeds' comparison, filled in as runs finish."""

from __future__ import annotations

from typing import Optional, Tuple

from rich.text import Text
from textual.widgets import Static

from gilscope.model.metrics import RunRecord, compare

ORDER = ("sequential", "threads", "processes")


def results_text(records: Tuple[RunRecord, ...], running: Optional[str]) -> Text:
    cmp = compare(records)
    ratios = {"threads": cmp.threads_vs_sequential, "processes": cmp.processes_vs_sequential}
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, name in enumerate(ORDER):
        if i:
            text.append("\n")
        text.append(f"{name:<10} ", style="bold" if name == running else "")
        wall = cmp.wall_s.get(name)
        if wall is None:
            text.append("running…" if name == running else "  –", style="dim")
            continue
        text.append(f"{wall:6.2f} s")
        ratio = ratios.get(name)
        if ratio is not None:
            faster = ratio < 0.9
            text.append(f"  {ratio:4.2f}× seq", style="green bold" if faster else "red bold")
    return text


class ResultsPanel(Static):
    DEFAULT_CSS = """
    ResultsPanel { height: 3; }
    """

    _shown: str = ""

    def show(self, records: Tuple[RunRecord, ...], running: Optional[str]) -> None:
        text = results_text(records, running)
        if text.markup != self._shown:
            self._shown = text.markup
            self.update(text, layout=False)
