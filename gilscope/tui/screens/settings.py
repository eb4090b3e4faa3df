"""Set N (the work: iterations, round-trips, MiB) and K (threads or processes) in the app."""

from __future__ import annotations

from typing import Optional, Tuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

UI_MAX_WORKERS = 16  # from the app; the command line allows more


def parse_settings(count_text: str, workers_text: str) -> Tuple[Optional[int], Optional[int], str]:
    """(N, K, error). N and K are positive whole numbers; `_` and `,` separators allowed."""
    try:
        count = int(count_text.replace("_", "").replace(",", "").strip())
        workers = int(workers_text.strip())
    except ValueError:
        return None, None, "N and K must be whole numbers"
    if count < 1 or not 1 <= workers <= UI_MAX_WORKERS:
        return None, None, f"N must be ≥ 1 and K between 1 and {UI_MAX_WORKERS}"
    return count, workers, ""


class SettingsScreen(ModalScreen[Optional[Tuple[int, int]]]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > Vertical {
        width: 50; height: auto; border: round $accent; padding: 0 1; background: $surface;
    }
    SettingsScreen Input { margin-bottom: 1; }
    SettingsScreen #error { color: $error; height: auto; }
    """

    def __init__(self, count: int, workers: int, unit: str = "iterations") -> None:
        super().__init__()
        self._count = count
        self._workers = workers
        self._unit = unit

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"N: {self._unit}")
            yield Input(f"{self._count:_}", id="count")
            yield Label("K: threads / processes")
            yield Input(str(self._workers), id="workers")
            yield Label("Enter to run · Esc to cancel", id="error")

    def on_input_submitted(self) -> None:
        count, workers, error = parse_settings(
            self.query_one("#count", Input).value, self.query_one("#workers", Input).value
        )
        if count is None or workers is None:
            self.query_one("#error", Label).update(error)
            return
        self.dismiss((count, workers))

    def action_cancel(self) -> None:
        self.dismiss(None)
