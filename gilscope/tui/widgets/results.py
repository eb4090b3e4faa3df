"""Wall time per scenario and how it compares, filled in as runs finish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from rich.text import Text
from textual.widget import Widget

from gilscope.model.metrics import LatencyFigures, ResultRow, RunRecord, result_rows
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot
from gilscope.tui.fit import progress_bar, wrap_tail

# Shown before anything has run: the seeds' three rows, so the table says what it is for.
PLACEHOLDERS = ("sequential", "threads", "processes")


def _ms(x: Optional[float]) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def latency_text(lat: LatencyFigures) -> str:
    """'p50/p99 ms 0.1/0.3→4.9/9.8': alone, then with the countdown running."""
    return (
        f"p50/p99 ms {_ms(lat.alone_p50)}/{_ms(lat.alone_p99)}→"
        f"{_ms(lat.busy_p50)}/{_ms(lat.busy_p99)}"
    )


@dataclass(frozen=True)
class Progress:
    """The run in progress: how long it has run, and how long it should (None: unknown)."""

    run_s: float
    expected_s: Optional[float]


def results_text(
    records: Tuple[RunRecord, ...],
    running: Optional[str],
    latency: Optional[LatencyFigures] = None,
    progress: Optional[Progress] = None,
    width: int = 44,
    rows: Optional[int] = None,
) -> Text:
    """Latest wall time per scenario; against its baseline as "N× faster/slower"; the run
    in progress as a bar, its time against the time expected. At most ``rows`` lines: the
    running one always, then the newest results, and how many more there are."""
    lines = results_lines(records, running, latency, progress, width)
    if rows is not None and len(lines) > rows:
        lines = _fewer(lines, running, max(rows, 1))
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        text.append_text(line)
    return text


def _fewer(lines: List[Text], running: Optional[str], rows: int) -> List[Text]:
    """``rows`` lines of ``lines``: the newest (last) ones and the running one, and a note
    of what is left out."""
    keep = rows - 1
    live = next(
        (i for i, line in enumerate(lines) if running and line.plain.startswith(running)), None
    )
    chosen = set(range(len(lines) - keep, len(lines))) if keep > 0 else set()
    if live is not None and live not in chosen and chosen:
        chosen.discard(min(chosen))
        chosen.add(live)
    out = [lines[i] for i in sorted(chosen)]
    out.insert(0, Text(f"+{len(lines) - len(out)} earlier", style="dim"))
    return out[:rows]


def results_lines(
    records: Tuple[RunRecord, ...],
    running: Optional[str],
    latency: Optional[LatencyFigures] = None,
    progress: Optional[Progress] = None,
    width: int = 44,
) -> List[Text]:
    rows: List[ResultRow] = result_rows(records)
    labels = [r.label for r in rows]
    # labels line up: "threads×2 3.13t" in a comparison across builds is longer than most
    label_w = max([12, *(len(x) for x in labels), len(running or "")])
    lines: List[Text] = []
    if not rows:
        for name in PLACEHOLDERS:
            if running is None or not running.startswith(name):
                lines.append(Text.assemble(f"{name:<12} ", ("  –", "dim")))
    for row in rows:
        if row.label == running:
            continue
        line = Text(f"{row.label:<{label_w}} ")
        if row.latency is not None:
            line.append(latency_text(row.latency))
        else:
            line.append(f"{row.wall_s:5.2f} s")
            _append_ratio(line, row.ratio)
        if row.busy is not None:
            # As much of the note as the panel has room for; with none, the time turns red:
            # other processes took cores from this run, so its time is suspect.
            notes = (f" busy: others {row.busy:.1f} cores", f" busy {row.busy:.1f}", " busy")
            note = next((n for n in notes if len(line) + len(n) <= width), "")
            if note:
                line.append(note, style="red")
            else:
                line.stylize("red", label_w + 1, label_w + 8)
        lines.append(line)
    if running is not None:
        line = Text(f"{running:<{label_w}} ", style="bold")
        if latency is not None and (latency.alone_n or latency.busy_n):
            line.append(latency_text(latency), style="yellow")
        elif progress is not None:
            line.append_text(progress_text(progress, width - len(line)))
        else:
            line.append("starting…", style="yellow")
        lines.insert(labels.index(running) if running in labels else len(lines), line)
    return lines


def progress_text(progress: Progress, width: int) -> Text:
    """'████▌    2.1/4.8 s': elapsed against expected; without an expectation, the time."""
    run_s, expected = progress.run_s, progress.expected_s
    if expected is None or expected <= 0:
        return Text(f"running {run_s:.1f} s", style="yellow")
    figures = f" {run_s:.1f}/~{expected:.1f} s"
    # The expectation is the bare loop on an idle core; observing it costs ~10-15 %, and a
    # GIL hand-off a little more. Far beyond that, something else is taking the cores.
    over = run_s > expected * 1.5
    bar_width = max(0, width - len(figures))
    text = Text(progress_bar(run_s / expected, bar_width) if bar_width >= 4 else "", style="green")
    text.append(figures, style="red" if over else "yellow")
    return text


def result_line_count(
    records: Tuple[RunRecord, ...], running: Optional[str], latency: Optional[LatencyFigures]
) -> int:
    """How many lines the results would take whole (the layout gives them room)."""
    return len(results_lines(records, running, latency, Progress(0.0, None)))


def _append_ratio(line: Text, ratio: Optional[float]) -> None:
    if ratio is None:
        return
    if ratio < 0.95:
        line.append(f" {1 / ratio:4.2f}× faster", style="green bold")
    elif ratio > 1.05:
        line.append(f" {ratio:4.2f}× slower", style="red bold")
    else:
        line.append(f" {ratio:4.2f}× same", style="yellow bold")


def target_text(snap: Snapshot, lines: int, width: Optional[int] = None) -> Text:
    """attach / run: how the process is doing, then the newest lines of its output,
    wrapped at ``width`` (a server's log line is often longer than the pane is wide)."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if snap.exit_code is not None:
        style = "green bold" if snap.exit_code == 0 else "red bold"
        wall = f" after {snap.wall_s:.2f} s" if snap.wall_s is not None else ""
        text.append(f"exit status {snap.exit_code}{wall}", style=style)
    elif snap.state is RunState.DONE:
        text.append("the process has exited", style="cyan bold")
    elif snap.state is RunState.FAILED:
        text.append(snap.error or "failed", style="red bold")
    else:
        text.append(f"{snap.state.value} {snap.elapsed_s:.0f} s", style="green")
    room = max(lines - 1, 0)
    logged = [line.text.expandtabs(4) for line in snap.log[-room:]] if room else []
    if width is not None:
        logged = wrap_tail(logged, width, room)
    for line in logged:
        text.append("\n")
        text.append(line, style="dim")
    if not snap.log and snap.target_kind == "run":
        text.append("\n(no output yet)", style="dim")
    return text


class ResultsPanel(Widget):
    """The results (or, for attach / run, the process's output), fitted to the panel's
    size at every render: the layout decides the size, the panel what fits in it."""

    DEFAULT_CSS = """
    ResultsPanel { height: 1fr; }
    """

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._key: object = None
        self._records: Tuple[RunRecord, ...] = ()
        self._running_label: Optional[str] = None
        self._latency: Optional[LatencyFigures] = None
        self._progress: Optional[Progress] = None
        self._target: Optional[Snapshot] = None

    def show(
        self,
        records: Tuple[RunRecord, ...],
        running: Optional[str],
        spec: str,
        latency: Optional[LatencyFigures] = None,
        progress: Optional[Progress] = None,
    ) -> None:
        key = (records, running, latency, progress)
        if key != self._key:
            self._key = key
            self._records, self._running_label, self._latency = records, running, latency
            self._progress, self._target = progress, None
            self.refresh()
        self._title(f"Results · {spec}")

    def show_target(self, snap: Snapshot) -> None:
        key = (snap.log[-1:], len(snap.log), snap.state, snap.exit_code, int(snap.elapsed_s))
        if key != self._key:
            self._key = key
            self._target = snap
            self.refresh()
        self._title("Output" if snap.target_kind == "run" else "Process")

    def render(self) -> Text:
        width, height = self.size.width or 44, self.size.height or 3
        if self._target is not None:
            return target_text(self._target, height, width)
        return results_text(
            self._records, self._running_label, self._latency, self._progress, width, height
        )

    def _title(self, title: str) -> None:
        if isinstance(self.parent, Widget) and self.parent.border_title != title:
            self.parent.border_title = title
