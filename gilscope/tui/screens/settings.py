"""Set N (the work: iterations, round-trips, MiB) and K (threads or processes) in the app."""

from __future__ import annotations

from typing import Optional, Tuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from gilscope.scenarios.workload import Scenario, WorkloadSpec, share_problem

UI_MAX_WORKERS = 16  # from the app; the command line allows more


def parse_settings(
    count_text: str, workers_text: str, scenario: Scenario = Scenario.THREADS
) -> Tuple[Optional[int], Optional[int], str]:
    """(N, K, error). N and K are positive whole numbers; `_` and `,` separators allowed;
    each thread's share of N must fit the workers' report."""
    try:
        count = int(count_text.replace("_", "").replace(",", "").strip())
        workers = int(workers_text.strip())
    except ValueError:
        return None, None, "N and K must be whole numbers"
    if count < 1 or not 1 <= workers <= UI_MAX_WORKERS:
        return None, None, f"N must be ≥ 1 and K between 1 and {UI_MAX_WORKERS}"
    too_large = share_problem(WorkloadSpec(scenario, count, workers))
    if too_large:
        return None, None, f"N is too large: {too_large}"
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

    def __init__(self, count: int, workers: int, scenario: Scenario = Scenario.THREADS) -> None:
        super().__init__()
        self._count = count
        self._workers = workers
        self._scenario = scenario

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"N: {self._scenario.unit}")
            yield Input(f"{self._count:_}", id="count")
            yield Label("K: threads / processes")
            yield Input(str(self._workers), id="workers")
            yield Label("Enter to run · Esc to cancel", id="error")

    def on_input_submitted(self) -> None:
        count, workers, error = parse_settings(
            self.query_one("#count", Input).value,
            self.query_one("#workers", Input).value,
            self._scenario,
        )
        if count is None or workers is None:
            self.query_one("#error", Label).update(error)
            return
        self.dismiss((count, workers))

    def action_cancel(self) -> None:
        self.dismiss(None)
