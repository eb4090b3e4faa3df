"""A ring of fixed-width time bins: bounded memory for any length of observation."""

from __future__ import annotations

from array import array
from typing import List


class BinRing:
    """Nanoseconds of some activity per ``bin_ns`` bin, for the newest ``size`` bins.

    Adding to a bin older than the ring holds is ignored; a query of such bins reads zero.
    """

    def __init__(self, bin_ns: int, size: int) -> None:
        self.bin_ns = bin_ns
        self.size = size
        self._vals = array("q", bytes(8 * size))
        self._head = -1  # absolute index of the newest bin written

    @property
    def span_ns(self) -> int:
        return self.bin_ns * self.size

    def _advance(self, j: int) -> None:
        if j <= self._head:
            return
        if self._head < 0:
            pass  # a new ring is already all zeros
        elif j - self._head >= self.size:
            self._vals[:] = array("q", bytes(8 * self.size))
        else:
            for b in range(self._head + 1, j + 1):
                self._vals[b % self.size] = 0
        self._head = j

    def add(self, start_ns: int, end_ns: int, amount: int = -1) -> None:
        """Spread ``amount`` (default: the interval's length) over the bins it covers."""
        if end_ns <= start_ns:
            return
        length = end_ns - start_ns
        if amount < 0:
            amount = length
        bw = self.bin_ns
        first, last = start_ns // bw, (end_ns - 1) // bw
        self._advance(last)
        oldest = self._head - self.size + 1
        if first == last:
            if first >= oldest:
                self._vals[first % self.size] += amount
            return
        for b in range(max(first, oldest), last + 1):
            lo = max(start_ns, b * bw)
            hi = min(end_ns, (b + 1) * bw)
            self._vals[b % self.size] += amount * (hi - lo) // length

    def total(self, first_bin: int, end_bin: int) -> int:
        """Sum of bins with absolute index in [first_bin, end_bin)."""
        first_bin = max(first_bin, self._head - self.size + 1, 0)
        end_bin = min(end_bin, self._head + 1)
        if end_bin <= first_bin:
            return 0
        a, b = first_bin % self.size, end_bin % self.size
        if a < b:
            return sum(self._vals[a:b])
        return sum(self._vals[a:]) + sum(self._vals[:b])

    def columns(self, end_ns: int, col_ns: int, n: int) -> List[int]:
        """Totals of ``n`` columns of ``col_ns`` (a multiple of ``bin_ns``) up to ``end_ns``."""
        per = col_ns // self.bin_ns
        end_bin = end_ns // self.bin_ns
        return [self.total(end_bin - (n - i) * per, end_bin - (n - i - 1) * per) for i in range(n)]
