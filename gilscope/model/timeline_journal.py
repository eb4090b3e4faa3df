"""A timeline's side of a recording: its changes into a journal, a runner's ops back out.

The timeline's own structural ops (lanes, runners, names, releases) are replayed by
``Timeline.apply`` with the same methods that made them; what a runner did (holds, waits,
CPU) is replayed here onto the runner, so a replay reaches exactly the live state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gilscope.model import journal as J
from gilscope.model.lanes import LaneKey, Runner
from gilscope.model.relay import ProcessRelay


class TimelineTracer:
    """One timeline's ops (and its runners'), into a journal, tagged with its name ``tl``
    ("tl": the drawn timeline, "ref": the workers' own report)."""

    def __init__(self, journal: J.Journal, tl: str) -> None:
        self.journal = journal
        self.tl = tl

    def add(self, op: str, *args: Any) -> None:
        self.journal.add((op, self.tl, *args))

    def hold(self, key: LaneKey, start: int, end: int, new_run: bool) -> None:
        self.journal.hold(self.tl, key.pid, key.slot, start, end, new_run)

    def event(self, op: str, key: LaneKey, *args: Any) -> None:
        self.journal.add((op, self.tl, key.pid, key.slot, *args))

    def state(
        self, latest_ns: int, relays: Mapping[int, ProcessRelay], runners: Mapping[LaneKey, Runner]
    ) -> None:
        """What a frame ends with: state no single op carries (the latest time, and per
        process how much its stamps could not see; per runner what its report could not)."""
        self.add(J.LATEST, latest_ns)
        for pid, relay in relays.items():
            if relay.unseen_gaps:
                self.add(J.UNSEEN, pid, relay.unseen_ns, relay.unseen_gaps)
        for key, runner in runners.items():
            if runner.blind_ns:
                self.add(J.BLIND, key.pid, key.slot, runner.blind_ns)


def replay_runner_op(runner: Runner, kind: str, args: Sequence[Any]) -> int:
    """A runner's recorded op, done again. Returns the time the op shows the timeline
    reached (0: none)."""
    if kind == J.HOLD:
        (runner.begin_run if args[2] else runner.extend_run)(args[0], args[1])
        return int(args[1])
    if kind == J.WAIT:
        runner.draw_waiting(args[0], args[1])
    elif kind == J.WAIT_ENDED:
        runner.count_wait(args[0], args[1])
    elif kind == J.CPU:
        runner.add_cpu(args[0], args[1], args[2], args[3] if len(args) > 3 else 0)
    elif kind == J.BLIND:
        runner.blind_ns = args[0]
    elif kind == J.SAMPLED:
        runner.add_sampled(args[0], args[1], args[2])
    elif kind == J.FINE_CPU:
        runner.add_cpu_fine(args[0], args[1], args[2])
        if args[2] > 0:
            return int(args[1])
    return 0
