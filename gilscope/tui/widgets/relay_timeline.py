"""The relay-race timeline: one lane per thread, the GIL as the baton passed between them."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gilscope.model.timeline import MS, ZOOM_LEVELS_NS, LaneCells, Timeline
from gilscope.snapshot import LaneInfo, Snapshot
from gilscope.tui.fit import fit_label

GUTTER = 15  # baton + lane name, at the narrowest
LABEL_MIN = GUTTER - 2  # a lane name gets at least this much (``cpu-countdown``)
BLOCKS = " ▁▂▃▄▅▆▇█"
TRACK = "─"  # waiting or idle: the runner is on the track without the baton
NATIVE = "░"  # on a CPU without the GIL (native code)
WAITING = "▒"  # awake, waiting for the baton (its reply arrived, the GIL is busy)
BATON = "●"
FULL = BLOCKS[-1]
PROCESS_COLORS = ("green", "cyan", "magenta", "yellow", "blue", "red")
EARLIER_COLORS = ("blue", "yellow")  # a comparison's earlier steps, apart from this run's
DEFAULT_ZOOM = ZOOM_LEVELS_NS.index(2 * MS)


def format_span(ns: int) -> str:
    """A duration for the axis: 800ms, 1.6s, 2m."""
    if ns < 1_000 * MS:
        return f"{ns // MS}ms"
    s = ns / 1e9
    return f"{s:.1f}s".replace(".0s", "s") if s < 120 else f"{s / 60:.0f}m"


def gutter_width(labels: Sequence[str], width: int, talk: bool = False) -> int:
    """Room for the baton and the longest name, within a share of the relay's width: a
    quarter (a third in the talk view, whose names must read from the back of a room)."""
    cap = max(LABEL_MIN, min(40, width // (3 if talk else 4)))
    longest = max((len(label) for label in labels), default=0)
    pad = 4 if talk else 0  # the talk view's name tab has a cell of margin each side
    return 2 + min(max(longest + pad, LABEL_MIN), cap) + 1


def held_glyph(fraction: float) -> str:
    """Taller block, larger share of the column held; any share at all shows."""
    if fraction <= 0.02:
        return ""
    return BLOCKS[max(1, min(8, round(fraction * 8)))]


class RelayTimeline(ScrollView, can_focus=True):
    """Lanes grouped by process; newest time at the right edge, scrolling live. Focusable,
    so that with more lanes than rows the arrow keys scroll them (no mouse over SSH).

    Rows are built once per frame into cached strips; ``render_line`` only hands them out.
    """

    DEFAULT_CSS = """
    RelayTimeline { height: auto; min-height: 5; }
    """

    zoom: reactive[int] = reactive(DEFAULT_ZOOM)
    paused_end_ns: reactive[Optional[int]] = reactive(None)
    hide_idle: reactive[bool] = reactive(False)  # hide lanes that neither held nor ran lately
    process_filter: reactive[Optional[int]] = reactive(None)  # show only the n-th process
    talk: reactive[bool] = reactive(False)  # the talk view: tall lanes, large name tabs

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._strips: List[Strip] = []
        self._wanted = 0  # lines at one row per lane
        self._rebuild_due = False
        self._gutter = GUTTER  # the last frame's: how many columns the names took
        self._fit: Optional[Tuple[int, int]] = None  # a pause_fitted waiting for a width
        self._snapshot: Optional[Snapshot] = None
        self._timeline: Optional[Timeline] = None

    def lines_wanted(self) -> int:
        """Lines the relay takes at one row per lane (the layout gives it those first)."""
        return self._wanted

    @property
    def col_ns(self) -> int:
        return ZOOM_LEVELS_NS[self.zoom]

    def show(self, snapshot: Snapshot, timeline: Timeline) -> None:
        self._snapshot = snapshot
        self._timeline = timeline
        self._rebuild()

    def watch_zoom(self) -> None:
        self._rebuild()

    def watch_paused_end_ns(self) -> None:
        self._rebuild()

    def watch_hide_idle(self) -> None:
        self._rebuild()

    def watch_process_filter(self) -> None:
        self._rebuild()

    def watch_talk(self) -> None:
        self._rebuild()

    def on_resize(self) -> None:
        if self._fit is not None and self.paused_end_ns is None:
            self.pause_fitted(*self._fit)
        self._rebuild()

    def pause_at_end(self, snap: Snapshot) -> None:
        """Keep a run that has ended on screen. After a comparison across interpreters, the
        longest of its steps whole, from their common start (see ``_rebuild``)."""
        latest = snap.timeline.latest_ns
        if not snap.earlier:
            self.paused_end_ns = self.end_ns(latest)
            return
        start = snap.timeline.started_ns() or latest
        longest = max([latest - start, *(e.end_ns - e.start_ns for e in snap.earlier)])
        self.pause_fitted(start, longest)

    def pause_fitted(self, start_ns: int, span_ns: int) -> None:
        """Pause on [start_ns, start_ns + span_ns), at the closest zoom that shows it whole
        (once the widget knows its width: it may not be laid out yet)."""
        self._fit = (start_ns, span_ns)
        width = self.scrollable_content_region.width or self.size.width
        if width <= self._gutter:
            return
        cols = width - self._gutter
        fits = [i for i, z in enumerate(ZOOM_LEVELS_NS) if z * cols >= span_ns]
        self.zoom = fits[0] if fits else len(ZOOM_LEVELS_NS) - 1
        self.paused_end_ns = self.end_ns(start_ns + span_ns)
        self._fit = None

    def end_ns(self, now_ns: int) -> int:
        if self.paused_end_ns is not None:
            return self.paused_end_ns
        # Columns are fixed time buckets, so a column's content never shifts between frames.
        return (now_ns // self.col_ns + 1) * self.col_ns

    def _rebuild(self) -> None:
        self._rebuild_due = False
        snap, timeline = self._snapshot, self._timeline
        width = self.scrollable_content_region.width or self.size.width
        if snap is None or timeline is None or width <= GUTTER + 4:
            return
        col_ns = self.col_ns
        end = self.end_ns(snap.now_ns)
        rows: List[Strip] = []
        dim = Style(dim=True)
        batons = set(snap.batons)
        pids: List[int] = []
        for lane in snap.lanes:
            if lane.key.pid not in pids:
                pids.append(lane.key.pid)
        order = list(pids)  # colours follow the process, whatever is filtered out
        shown = list(snap.lanes)
        notes = []
        if self.process_filter is not None and self.process_filter < len(pids):
            pid = pids[self.process_filter]
            pids = [pid]
            shown = [lane for lane in shown if lane.key.pid == pid]
            notes.append(f"only process {pid} (f: next)")
        if self.hide_idle:
            busy = {
                row.key
                for row in snap.threads
                if row.cpu >= 0.01 or (row.gil_share is not None and row.gil_share >= 0.01)
            }
            visible = [lane for lane in shown if lane.key in busy]
            notes.append(f"{len(shown) - len(visible)} idle lanes hidden (h: show)")
            shown = visible
        if notes:
            rows.append(Strip([Segment(" " + " · ".join(notes), dim)]))
        if not snap.lanes:
            rows.append(Strip([Segment(f" {snap.state.value}: waiting for the workers…", dim)]))
        earlier = [lane for step in snap.earlier for lane in step.lanes]
        labels = [lane.label for lane in shown] + [f"  {lane.label}" for lane in earlier]
        gutter = gutter_width(labels, width, self.talk)
        self._gutter = gutter
        cols = width - gutter
        if cols < 4:
            return
        # Taller lanes when there is room (a projector at the back of a room); the talk
        # view leaves a blank row between lanes so each reads as one block.
        gap = 1 if self.talk and len(shown) > 1 else 0
        titles = len(pids) + len(snap.earlier)
        lanes_n = len(shown) + len(earlier)
        spare = max(self.size.height, 1) - titles - 1 - len(rows) - gap * (len(shown) - 1)
        lane_rows = max(1, min(LANE_ROWS_MAX, spare // max(lanes_n, 1)))
        self._wanted = titles + 1 + len(rows) + lanes_n + gap * (len(shown) - 1)
        shares = {row.key: row.gil_share for row in snap.threads}
        first = True
        # A comparison across interpreters: each step done, replayed in step with this run
        # (its start at this run's start), so the two relays race side by side.
        now_start = timeline.started_ns() or snap.now_ns
        for i, step in enumerate(snap.earlier):
            color = EARLIER_COLORS[i % len(EARLIER_COLORS)]
            rows.append(Strip([Segment(f"▌{step.title}"[:width], Style(color=color, bold=True))]))
            at = end - now_start + step.start_ns
            for lane in step.lanes:
                cells = step.timeline.cells(lane.key, at, col_ns, cols)
                name = fit_label(f"  {lane.label}", gutter - 1, labels)
                gutters = _plain_gutter(name, Style(color=color), gutter, lane_rows)
                rows += _lane_rows(lane, cells, gutters, color, lane_rows)
        for pid in pids:
            color = PROCESS_COLORS[order.index(pid) % len(PROCESS_COLORS)]
            lanes = [lane for lane in shown if lane.key.pid == pid]
            if not lanes:
                continue
            holder = next((lane.label for lane in lanes if lane.key in batons), None)
            title = f"process {pid}" + (f" · baton: {holder}" if holder else " · no holder")
            if not all(lane.gil for lane in lanes):
                title = f"process {pid} · no GIL: its threads run in parallel"
            rows.append(Strip([Segment(f"▌{title}"[:width], Style(color=color, bold=True))]))
            for lane in lanes:
                if gap and not first:
                    rows.append(Strip([Segment(" " * width)]))
                first = False
                has_baton = lane.key in batons
                name = fit_label(lane.label, gutter - (5 if self.talk else 3), labels)
                cells = timeline.cells(lane.key, end, col_ns, cols)
                if self.talk:
                    gutters = _name_tab(name, shares.get(lane.key), lane, has_baton, color,
                                        gutter, lane_rows)  # fmt: skip
                else:
                    label = f"{BATON if has_baton else ' '} {name}"
                    style = Style(color="yellow", bold=True) if has_baton else Style(color=color)
                    gutters = _plain_gutter(label, style, gutter, lane_rows)
                rows += _lane_rows(lane, cells, gutters, color, lane_rows)
        rows.append(self._axis(cols, col_ns, width, gutter))
        self._strips = rows
        size = Size(width, len(rows))
        if self.virtual_size != size:
            self.virtual_size = size
        self.refresh()

    def _axis(self, cols: int, col_ns: int, width: int, gutter: int) -> Strip:
        """The zoom in the gutter, a tick every 16 columns with its age, 'now' at the edge."""
        chars = [" "] * width
        label = f"{format_span(col_ns)}/col"[: gutter - 1]
        chars[: len(label)] = label
        step = 16
        for age in range(step, cols, step):
            pos = gutter + cols - age
            text = f"┊-{format_span(age * col_ns)}"
            if pos + len(text) <= width - 5:
                chars[pos : pos + len(text)] = text
        chars[width - 4 :] = "now┊"
        return Strip([Segment("".join(chars), Style(dim=True))])

    def render_line(self, y: int) -> Strip:
        scroll_y = int(self.scroll_offset.y)
        index = y + scroll_y
        width = self.scrollable_content_region.width
        if self._strips and width != self.virtual_size.width and not self._rebuild_due:
            # The scrollbar came or went (the size did not change, so no resize said so):
            # build the rows again for the width there is now.
            self._rebuild_due = True
            self.call_later(self._rebuild)
        if 0 <= index < len(self._strips):
            return self._strips[index].crop_extend(0, width, Style())
        return Strip.blank(width, Style())


LANE_ROWS_MAX = 32  # a 250×70 screen: two lanes of 26 rows, not 16 rows and a void


def _lane_rows(
    lane: LaneInfo, cells: LaneCells, gutters: List[List[Segment]], color: str, rows: int
) -> List[Strip]:
    """A lane's ``rows`` text rows, top first, each after its gutter (``gutters``)."""
    if not lane.gil:
        # No GIL to hold: draw the thread's CPU time, so parallel threads show as parallel
        # solid lanes.
        cells = LaneCells(cells.without_gil, (0.0,) * len(cells.held))
    return [
        Strip([*left, *_lane_segments(cells, color, level, rows)])
        for level, left in zip(range(rows - 1, -1, -1), gutters)
    ]


def _plain_gutter(label: str, style: Style, gutter: int, rows: int) -> List[List[Segment]]:
    """A lane's gutter, top row first: its label on the bottom row."""
    blank = [Segment(" " * gutter, style)]
    return [blank] * (rows - 1) + [[Segment(label[:gutter].ljust(gutter), style)]]


def _name_tab(
    name: str,
    share: Optional[float],
    lane: LaneInfo,
    has_baton: bool,
    color: str,
    gutter: int,
    rows: int,
) -> List[List[Segment]]:
    """The talk view's gutter for one lane, top row first: the name on a tab of the
    process's colour, its GIL share under it, the baton beside the name while it runs."""
    tab = Style(color=color, reverse=True, bold=True)
    plain = Style(color=color, bold=True)
    baton = Style(color="yellow", bold=True)
    lines: Dict[int, List[Segment]] = {}
    middle = max(0, (rows - 2) // 2) if rows >= 2 else 0
    mark = Segment(BATON if has_baton else " ", baton)
    lines[middle] = [mark, Segment(f" {name} ".ljust(gutter - 2), tab), Segment(" ")]
    if rows >= 2:
        figure = "no GIL" if not lane.gil else "GIL  –" if share is None else f"GIL {share:.0%}"
        lines[middle + 1] = [Segment("  "), Segment(f" {figure}".ljust(gutter - 2), plain)]
    return [lines.get(r, [Segment(" " * gutter)]) for r in range(rows)]


def _lane_segments(cells: LaneCells, color: str, level: int = 0, rows: int = 1) -> List[Segment]:
    """One text row of a lane (``level`` 0 is the bottom of ``rows``), run-length encoded
    so that a lane is a handful of segments, not one per column."""
    held_style = Style(color=color)
    if level:
        # Above the track only blocks and blanks: one segment, built without a call per
        # cell (a 250×70 relay has thousands of these cells, ten times a second).
        text = "".join(
            " " if x <= 0.02 else FULL if x >= 1.0 else BLOCKS[max(1, min(8, round(x * 8)))]
            for x in (h * rows - level for h in cells.held)
        )
        return [Segment(text, held_style)]
    native_style = Style(color="bright_yellow")
    wait_style = Style(color="red")
    track_style = Style(color="grey37")
    out: List[Segment] = []
    run_text: List[str] = []
    run_style: Optional[Style] = None
    waiting = cells.waiting or (0.0,) * len(cells.held)
    for h, w, wait in zip(cells.held, cells.without_gil, waiting):
        glyph = held_glyph(max(0.0, min(1.0, h * rows - level)))
        if glyph:
            style = held_style
        elif level:
            glyph, style = " ", track_style
        elif wait >= 0.25:
            # A quarter of the column or more: the convoy's ~5 ms waits, not the tens of
            # microseconds any thread takes to be scheduled after its reply arrives.
            glyph, style = WAITING, wait_style
        elif w >= 0.25:
            glyph, style = NATIVE, native_style
        else:
            glyph, style = TRACK, track_style
        if style is not run_style and run_text:
            out.append(Segment("".join(run_text), run_style))
            run_text = []
        run_style = style
        run_text.append(glyph)
    if run_text:
        out.append(Segment("".join(run_text), run_style))
    return out
