"""What the viewer controls without touching the run: how the panels share the screen,
the talk view, pausing, zoom, and which lanes show. The app builds on it."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from textual.app import App
from textual.widget import Widget

from gilscope.model.timeline import ZOOM_LEVELS_NS
from gilscope.scenarios.workload import RunState
from gilscope.snapshot import Snapshot
from gilscope.tui.captions import spec_label
from gilscope.tui.layout import Plan, plan
from gilscope.tui.widgets.relay_timeline import RelayTimeline
from gilscope.tui.widgets.results import result_line_count

ACTIVE = (RunState.STARTING, RunState.RUNNING)


class ViewControls(App[int]):
    """Set by the app on mount: the relay, the boxes the plan sizes, the last snapshot."""

    talk: bool
    _timeline: RelayTimeline
    _boxes: Dict[str, Widget]
    _last: Optional[Snapshot]
    _plan: Optional[Plan]
    _shape: Tuple[object, ...]
    _force: bool

    def pull(self) -> None:
        raise NotImplementedError

    def _spec(self) -> Tuple[Snapshot, RelayTimeline]:
        raise NotImplementedError

    def _arrange(self, snap: Snapshot, width: int, height: int) -> None:
        """Give the panels their rows for what they hold now (only when that changes)."""
        running = spec_label(snap) if snap.state in ACTIVE else None
        results = 0 if snap.target else result_line_count(snap.results, running, snap.latency)
        relay = self._timeline.lines_wanted()
        shape = (width, height, len(snap.threads), len(snap.stacks), results, relay, self.talk)
        if shape == self._shape or not width or not height:
            return
        self._shape = shape
        new = plan(width, height, len(snap.threads), len(snap.stacks), results,
                   bool(snap.target), relay)  # fmt: skip
        talk_rows = 2 + max(results, 6 if snap.target else 1)
        boxes = self._boxes
        boxes["talk-results-box"].styles.height = min(talk_rows, max(height // 2, 5))
        if new == self._plan:
            return
        self._plan = new
        boxes["threads-box"].styles.height = new.threads_rows
        boxes["bottom"].styles.height = new.bottom_rows
        boxes["results-box"].styles.width = "1fr" if new.output else new.results_width

    def action_talk(self) -> None:
        """The talk view and back: big lanes and the results beside them, nothing else."""
        self.talk = not self.talk
        self.screen_stack[0].set_class(self.talk, "talk")
        self._timeline.talk = self.talk
        self._force = True
        self._shape = ()
        self.pull()

    def action_hide_idle(self) -> None:
        self._timeline.hide_idle = not self._timeline.hide_idle
        self.pull()

    def action_filter_process(self) -> None:
        """All processes → the first only → the second only … → all again."""
        snap, timeline = self._spec()
        pids = len({lane.key.pid for lane in snap.lanes})
        current = timeline.process_filter
        nxt = 0 if current is None else current + 1
        timeline.process_filter = nxt if nxt < pids else None
        self.pull()

    def action_toggle_pause(self) -> None:
        snap, timeline = self._spec()
        if timeline.paused_end_ns is None:
            timeline.paused_end_ns = timeline.end_ns(snap.now_ns)
        else:
            timeline.paused_end_ns = None
        self.pull()

    def action_zoom(self, step: int) -> None:
        timeline = self._timeline
        timeline.zoom = max(0, min(len(ZOOM_LEVELS_NS) - 1, timeline.zoom + step))
        self.pull()
