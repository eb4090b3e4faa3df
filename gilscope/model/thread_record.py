"""One thread as the registry knows it: who it is, where it is drawn, what named it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gilscope.model.lanes import LaneKey

_LAST_NUMBER = re.compile(r"\d+(?!.*\d)")


def family_of(name: str) -> str:
    """``ThreadPoolExecutor-0_3`` → ``ThreadPoolExecutor-0_*``: the last number folded."""
    return _LAST_NUMBER.sub("*", name, count=1)


@dataclass(frozen=True)
class ThreadRecord:
    """One thread as the registry knows it."""

    key: LaneKey  # its runner in the timeline
    lane: LaneKey  # where it is drawn: its own lane, or a shared one
    tid: int  # Linux thread id (0: not known, py-spy named it by pthread id)
    ident: int  # pthread id: how py-spy names 3.9/3.10 threads (0: not known)
    start: int  # kernel start time in clock ticks (0: not known)
    name: str
    named_by: str  # "worker", "kernel" or "py-spy": a better source's name is kept
    process_index: int
    gil: bool = True
    alive: bool = True
    seen_ns: int = 0  # when it was first seen
    ended_ns: int = 0  # when it was seen to have ended (0: alive)

    @property
    def family(self) -> str:
        return family_of(self.name)
