"""The convoy responder's latencies, as its client measured them: alone, and while the
countdown thread ran beside it."""

from __future__ import annotations

from collections import deque
from typing import Deque, Iterable, Optional

from gilscope.model.journal import LATENCY, Journal
from gilscope.model.metrics import LatencyFigures, latency_figures
from gilscope.sampling.report import TAG_LATENCY_BUSY, TAG_SHIFT, TIME_MASK

LATENCY_KEEP = 20_000  # per phase: minutes of convoy requests at 500/s


class LatencyLedger:
    def __init__(self) -> None:
        self._alone: Deque[int] = deque(maxlen=LATENCY_KEEP)
        self._busy: Deque[int] = deque(maxlen=LATENCY_KEEP)
        # Sorting up to 2 × 20,000 latencies is not free: only after new ones arrive.
        self._figures: Optional[LatencyFigures] = None
        self.journal: Optional[Journal] = None  # a recording's

    def add(self, words: Iterable[int]) -> None:
        """The client's board words: a latency in ns, tagged with its phase."""
        words = list(words)
        if self.journal is not None:
            self.journal.add((LATENCY, words))
        for word in words:
            busy = word >> TAG_SHIFT == TAG_LATENCY_BUSY
            (self._busy if busy else self._alone).append(word & TIME_MASK)
            self._figures = None

    def figures(self) -> LatencyFigures:
        if self._figures is None:
            self._figures = latency_figures(self._alone, self._busy)
        return self._figures
