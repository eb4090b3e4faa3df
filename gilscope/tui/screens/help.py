"""How to read the timeline, in a few sentences someone at the back of the room can follow."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]How to read gilscope[/b]

Each lane is one thread, like a runner in a relay race. A tall block [b]█[/b] means the
thread held its process's GIL in that slice of time; the track [dim]─[/dim] means it waited;
[b]░[/b] means it was on a CPU without the GIL (native code). Only the runner holding the
baton [b]●[/b] can run Python, so in [b]threads[/b] the blocks alternate (every 5 ms by
default) and one core is busy; in [b]processes[/b] each process has its own GIL and baton,
so every lane is solid and every core is busy.

[b]Keys[/b]
  1 2 3   run sequential · threads · processes      r   restart the run
  s       set N and K                                space  pause / resume
  + -     zoom in / out (1 ms … 2 s per column)      q   quit
  ?       this help                                  Esc close

The table's GIL% is exact (each worker stamps shared memory every ~1 ms); py-spy% is
py-spy's sampled estimate, and the stacks show where the GIL holder was running.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
