"""Pick a scenario, each with the one line that says what it shows."""

from __future__ import annotations

from typing import Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from gilscope.scenarios.workload import Scenario

MIXED = "mixed"
MIXED_EXPLANATION = "sequential, threads, processes, native ×1 and ×K, one key"
GIL_VS_FT = "gil-vs-ft"
GIL_VS_FT_EXPLANATION = "K threads on a GIL build, then on a free-threaded one: side by side"
KEYS = {s: str(i + 1) for i, s in enumerate(Scenario)}  # 1 … 6, as bound in the app


def choices() -> list[tuple[str, str, str]]:
    """(id, key, one-line explanation) for every scenario and the guided comparison."""
    rows = [(s.value, KEYS[s], s.explanation) for s in Scenario]
    rows.append((MIXED, "m", MIXED_EXPLANATION))
    rows.append((GIL_VS_FT, "g", GIL_VS_FT_EXPLANATION))
    return rows


class ScenarioPicker(ModalScreen[Optional[str]]):
    BINDINGS = [Binding("escape,p,q", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ScenarioPicker { align: center middle; }
    ScenarioPicker > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    ScenarioPicker OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Pick a scenario[/b]  ↑↓ Enter · Esc to cancel")
            yield OptionList(
                *(
                    Option(f"[b]{key} {name:<10}[/b] {text}", id=name)
                    for name, key, text in choices()
                )
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [name for name, _, _ in choices()]
        options.highlighted = ids.index(self._current) if self._current in ids else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
