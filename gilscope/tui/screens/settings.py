"""Set N (the work: iterations, round-trips, MiB) and K (threads or processes) in the app."""

from __future__ import annotations

from collections import deque
from typing import Deque, Optional, Tuple

from textual import events
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


# The dialog's editing keys and the Input action each runs (Input's own bindings).
_EDITS = {
    "backspace": "delete_left",
    "delete": "delete_right",
    "left": "cursor_left",
    "right": "cursor_right",
    "home": "home",
    "ctrl+a": "home",
    "end": "end",
    "ctrl+e": "end",
    "ctrl+u": "delete_left_all",
    "ctrl+k": "delete_right_all",
}


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
        # Keys kept until the input to type into has settled: focus taken and its value
        # selected to be typed over (right after the dialog opens, and after tab).
        self._early: Deque[events.Key] = deque()
        self._settled = False
        self._dismissed = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"N: {self._scenario.unit}")
            yield Input(f"{self._count:_}", id="count")
            yield Label("K: threads / processes")
            yield Input(str(self._workers), id="workers")
            yield Label("Enter to run · Esc to cancel", id="error")

    def on_mount(self) -> None:
        # At once: Input.focus() would do it later, after a tab typed meanwhile.
        self.set_focus(self.query_one("#count", Input))

    # -- keys ---------------------------------------------------------------------------
    # Textual resolves a key's binding (tab, enter, backspace) only once the key has come
    # back up from the input, by which time the keys typed after it have reached the input
    # already: keys sent at once ("s", N, tab, K, enter) would be reordered, and those typed
    # before the inputs exist lost. So the app hands every key typed while the dialog is
    # open to ``take_key``, and the dialog applies them here, one by one, in order.
    def take_key(self, key: events.Key) -> bool:
        """Apply ``key`` (or keep it until the input to type into has focus); False if it
        is no key for this dialog, and Textual should handle it."""
        if self._early or not self._settled:
            self._early.append(key)
            return True
        field = self.focused
        return isinstance(field, Input) and self._apply(key, field)

    def on_descendant_focus(self) -> None:
        self._resume()  # its Focus has been handled: the value is selected

    def _resume(self) -> None:
        """Apply the keys kept while no input was ready for them, up to the next tab; once
        the dialog has closed, or at a key that is no edit, the app gets the rest."""
        self._settled = True
        while self._settled and self._early and not self._dismissed:
            key = self._early.popleft()
            field = self.focused
            if not isinstance(field, Input) or not self._apply(key, field):
                self._early.appendleft(key)
                break
        if self._settled or self._dismissed:
            for rest in self._early:
                self.app.post_message(events.Key(rest.key, rest.character))
            self._early.clear()

    def _apply(self, key: events.Key, field: Input) -> bool:
        """``key``, as the input or the dialog would take it; False if it is no edit."""
        if key.is_printable and key.character:
            if field.selection.is_empty:
                field.insert_text_at_cursor(key.character)
            else:  # typing over the value selected on focus
                field.replace(key.character, *field.selection)
        elif key.key in _EDITS:
            getattr(field, f"action_{_EDITS[key.key]}")()
        elif key.key in ("tab", "shift+tab"):
            self._settled = False  # until the next input has focus and its value selected
            (self.focus_next if key.key == "tab" else self.focus_previous)()
        elif key.key == "enter":
            self.on_input_submitted()
        elif key.key == "escape":
            self.action_cancel()
        else:
            return False
        return True

    def on_input_submitted(self) -> bool:
        """Run with the N and K typed, if they are good; True if the dialog closed."""
        count, workers, error = parse_settings(
            self.query_one("#count", Input).value,
            self.query_one("#workers", Input).value,
            self._scenario,
        )
        if count is None or workers is None:
            self.query_one("#error", Label).update(error)
            return False
        self._dismissed = True
        self.dismiss((count, workers))
        return True

    def action_cancel(self) -> None:
        self._dismissed = True
        self.dismiss(None)
