"""One meter per CPU core, with a short history: one busy core, or two?"""

from __future__ import annotations

from typing import List, Optional, Tuple

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

SPARK = "▁▂▃▄▅▆▇█"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return text.ljust(width)


def sparkline(values: Tuple[float, ...], width: int) -> str:
    tail = values[-width:]
    return "".join(SPARK[max(0, min(7, round(v * 7)))] for v in tail).rjust(width)


class CoreMeters(Widget):
    """Two lines per core: the current load as a bar, and its recent history."""

    DEFAULT_CSS = """
    CoreMeters { width: 26; height: auto; }
    """

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._cores: Tuple[float, ...] = ()
        self._history: Tuple[Tuple[float, ...], ...] = ()
        self._workers = 0.0

    def show(
        self, cores: Tuple[float, ...], history: Tuple[Tuple[float, ...], ...], workers: float
    ) -> None:
        """``workers``: the countdown threads' CPU together, in cores."""
        if (cores, history, workers) == (self._cores, self._history, self._workers):
            return
        resize = len(cores) != len(self._cores)
        self._cores, self._history, self._workers = cores, history, workers
        self.refresh(layout=resize)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 2 * len(self._cores) + 2

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= 2 * len(self._cores):
            # "Two threads, one busy core": the sums say it even when the OS moves threads
            # between cores, and they set the workers apart from everything else running.
            if y == 2 * len(self._cores):
                text = f"all: {sum(self._cores):.1f} of {len(self._cores)} cores busy"
            else:
                text = f"workers: {self._workers:.1f} cores"
            return Strip([Segment(text, Style(bold=True))]).crop_extend(0, width, Style())
        core, second = divmod(y, 2)
        if core >= len(self._cores):
            return Strip.blank(width, Style())
        load = self._cores[core]
        color = "red" if load > 0.85 else "yellow" if load > 0.5 else "green"
        if not second:
            name = f"cpu{core}"
            bar_width = max(4, width - len(name) - 7)
            segments: List[Segment] = [
                Segment(f"{name} ", Style(bold=True)),
                Segment(bar(load, bar_width), Style(color=color)),
                Segment(f" {load * 100:3.0f}%", Style()),
            ]
            return Strip(segments).crop_extend(0, width, Style())
        history = self._history[core] if core < len(self._history) else ()
        spark = sparkline(history, max(1, width - 5))
        return Strip(
            [Segment("     ", Style()), Segment(spark, Style(color=color, dim=True))]
        ).crop_extend(0, width, None)
