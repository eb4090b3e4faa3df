"""How to read the timeline, in a few sentences someone at the back of the room can follow."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# Prose is left unwrapped so it flows to whatever width the help box gets.
READING = (
    "Each lane is one thread, like a runner in a relay race. A block [b]█[/b] means the "
    "thread held its process's GIL in that slice of time; the track [dim]─[/dim] means it "
    "waited; [b]░[/b] means it was on a CPU without the GIL (native code). Only the runner "
    "holding the baton [b]●[/b] can run Python. In [b]threads[/b] the blocks alternate "
    "(every 5 ms by default) and, together, they keep one core busy; in [b]processes[/b] "
    "each process has its own GIL and baton, so every lane is solid and every core is busy."
)
FIGURES = (
    "GIL% in the table is exact: each worker stamps shared memory about every millisecond. "
    "spy% is py-spy's sampled estimate of the same thing, and the stacks show where the "
    "holder was running."
)
KEYS = """\
[b]Keys[/b]
  1 2 3   sequential · threads · processes
  r       restart the run
  s       set N (count) and K (threads or processes)
  space   pause the view (sampling goes on) · again: live
  + -     zoom in / out, 1 ms … 2 s per column
  q       quit        ? Esc q   close this help"""
HELP = f"[b]How to read gilscope[/b]\n\n{READING}\n\n{FIGURES}\n\n{KEYS}"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP)
