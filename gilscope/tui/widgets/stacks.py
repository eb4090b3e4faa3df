"""The GIL-holding stacks py-spy (or, where py-spy cannot go, the target interpreter's own
profiler) saw, and how far it agrees with the exact timeline."""

from __future__ import annotations

from typing import Optional, Tuple

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from gilscope.sampling.pyspy import PROFILER
from gilscope.snapshot import PySpyStatus, StackRow


def pyspy_title(status: PySpyStatus, sampled: bool = False, width: int = 0) -> str:
    """The agreement must stay visible: in a narrow panel (``width``) the title says less
    around it.

    ``sampled``: py-spy is the only GIL signal (attach / run), so there is no agreement."""
    sampler = "own profiler" if status.source == PROFILER else "py-spy"
    if status.problem:
        return "GIL stacks"
    if not status.available and status.source != PROFILER:
        return "Stacks · py-spy not found"
    rate = "…" if status.rate_hz is None else f"{status.rate_hz:.0f}/s"
    if sampled:
        return f"GIL stacks · {sampler} {rate}"
    agree = "…" if status.agreement_pp is None else f"±{status.agreement_pp:.1f}pp"
    title = f"Stacks · {sampler} {rate} · {agree} vs exact"
    if width and len(title) + 4 > width:  # the border's corners and title padding
        title = f"{sampler} {rate} · {agree} vs exact"
    return title


def stacks_text(stacks: Tuple[StackRow, ...], status: PySpyStatus) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if not stacks and status.problem:
        text.append(status.problem, style="yellow")  # py-spy cannot read this interpreter
        return text
    if not stacks and not status.available and status.source != PROFILER:
        text.append("py-spy is not installed: pip install py-spy", style="yellow")
        return text
    if not stacks:
        sampler = "its own profiler" if status.source == PROFILER else "py-spy"
        text.append(f"waiting for {sampler}'s first window…", style="dim")
        return text
    for i, row in enumerate(stacks):
        if i:
            text.append("\n")
        share = "  –" if row.share is None else f"{row.share * 100:3.0f}"
        text.append(f"{share}% ", style="bold")
        text.append(f"{row.thread} ", style="cyan")
        if row.frames:
            text.append(row.frames[0], style="bold")
            callers = " ← ".join(f.split(" (")[0] for f in row.frames[1:4])
            if callers:
                text.append(f" ← {callers}", style="dim")
    return text


class GilStacks(Static):
    """Where each thread was when it held the GIL, refreshed with every py-spy window."""

    DEFAULT_CSS = """
    GilStacks { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _shown: str = ""
    _status: Optional[Tuple[PySpyStatus, bool]] = None

    def on_resize(self) -> None:
        if self._status is not None:
            self._title(*self._status)

    def show(
        self, stacks: Tuple[StackRow, ...], status: PySpyStatus, sampled: bool = False
    ) -> None:
        text = stacks_text(stacks, status)
        if text.markup != self._shown:
            # A new line count changes the panel's height; otherwise no relayout is needed.
            layout = text.markup.count("\n") != self._shown.count("\n")
            self._shown = text.markup
            self.update(text, layout=layout)
        self._status = (status, sampled)
        self._title(status, sampled)

    def _title(self, status: PySpyStatus, sampled: bool) -> None:
        """The panel's title, as long as its width allows (it changes with the terminal)."""
        if not isinstance(self.parent, Widget):
            return
        title = pyspy_title(status, sampled, self.parent.size.width)
        if self.parent.border_title != title:
            self.parent.border_title = title
