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
    "waited; [b]░[/b] means it was on a CPU without the GIL (native code); [b]▒[/b] means "
    "it was waiting for the baton while another runner held it (convoy). Only the runner "
    "holding the baton [b]●[/b] can run Python. In [b]threads[/b] the blocks alternate "
    "(every 5 ms by default) and, together, they keep one core busy; in [b]processes[/b] "
    "each process has its own GIL and baton, so every lane is solid and every core is busy."
)
BEYOND = (
    "[b]io[/b]: threads drop the GIL while they wait on a socket, so their waits overlap. "
    "[b]native[/b]: hashlib drops it while it hashes, so K threads use K cores. "
    "[b]convoy[/b]: once a countdown runs beside it, an I/O thread waits for the baton after "
    "every wake-up; the results show its latency p50/p99 alone → with the countdown. "
    "[b]No GIL[/b] (a free-threaded build, 3.13t+): there is no baton, so each lane is its "
    "thread's time on a CPU, and K threads count as fast as K processes."
)
FIGURES = (
    "The relay comes from the [b]GIL probe[/b]: a process of its own reads each process's "
    "GIL straight from its memory, as often as the GIL changes hands, and the interpreter's "
    "own count of hand-offs, so the relay, GIL% and acq/s are exact; it also reads which "
    "threads are asleep waiting for the GIL: wait% and the waits' p50/p99 in ms. For "
    "gilscope's own runs the workers' own report (a stamp about every ms) is the "
    "reference it is checked against (±pp in the relay's title). spy% and the GIL stacks "
    "come from [b]py-spy[/b]'s samples, and so does the relay of a process the probe "
    "cannot read; a CPython 3.15+ that py-spy cannot read is sampled by its own profiler."
)
KEYS = """\
[b]Keys[/b]
  p       pick a scenario (each with a one-line explanation)
  1 … 6   sequential · threads · processes · io · native · convoy
  m       compare all: sequential, threads, processes, native ×1, native ×K
  g       GIL vs free-threaded: K threads on each build, relays side by side
  r       restart the run
  s       set N and K (1–16); the run restarts with them
  [ ]     switch interval down / up, 0.1 ms … 1 s; the run restarts with it
  h  f    hide idle lanes · show one process at a time
  t       talk view: big lanes, the results beside them (--talk starts in it)
  space   pause the view (sampling goes on) · again: live
  + -     zoom in / out, 1 ms … 2 s per column
  q       quit        ? Esc q   close this help"""
HELP = f"[b]How to read gilscope[/b]\n\n{READING}\n\n{BEYOND}\n\n{FIGURES}\n\n{KEYS}"


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
