"""What a sampler saw a thread do while it held the GIL: its stacks and share of a window.

The shapes py-spy's windows (``pyspy.py``) and the target interpreter's own profiler
(``own_profiler.py``) are both parsed into, so the ledgers take either.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.function} ({os.path.basename(self.file)}:{self.line})"


@dataclass(frozen=True)
class HeldStack:
    """A stack that held the GIL, with its share of the window's sampling intervals."""

    frames: Tuple[Frame, ...]  # outermost first; frames[-1] is where the holder was
    share: float


@dataclass(frozen=True)
class ThreadGil:
    """One thread's GIL holding as a sampler (py-spy, the interpreter's own) saw it in a window."""

    tid: int  # Linux tid on CPython 3.11+, pthread id on 3.9/3.10
    name: str
    samples: int
    share: float
    stacks: Tuple[HeldStack, ...]  # most sampled first, at most three


TOP_STACKS = 3  # the most sampled stacks kept per thread and window


def top_stacks(counts: Counter[Tuple[Frame, ...]], intervals: int) -> Tuple[HeldStack, ...]:
    """The most sampled stacks, most first. A sample without a Python frame (the holder
    in the interpreter's own start-up or shutdown) counts in the share, but says nothing
    of where: the short last window of a run that had only those once left its process
    with no function at all."""
    ranked = [(frames, n) for frames, n in counts.most_common() if frames][:TOP_STACKS]
    return tuple(HeldStack(frames, n / max(intervals, 1)) for frames, n in ranked)
