"""A window of fixed-width time bins: bounded memory for any length of observation, and
none at all for time in which nothing happened."""

from __future__ import annotations

from array import array
from typing import Dict, List

PAGE_BINS = 512  # bins are kept in pages of this many, made on first write


class BinRing:
    """Nanoseconds of some activity per ``bin_ns`` bin, for the newest ``size`` bins.

    Adding to a bin older than the window is ignored; a query of such bins reads zero.
    Bins live in pages allocated when something is first added to them and dropped once
    they leave the window, so a thread that held the GIL for 50 ms costs one page, not a
    minute of empty bins: with thousands of short threads, that is the difference between
    megabytes and gigabytes.
    """

    def __init__(self, bin_ns: int, size: int) -> None:
        self.bin_ns = bin_ns
        self.size = size
        self._pages: Dict[int, array[int]] = {}
        self._head = -1  # absolute index of the newest bin written

    @property
    def span_ns(self) -> int:
        return self.bin_ns * self.size

    @property
    def pages(self) -> int:
        """Pages held now (what this ring costs: 4 KiB each)."""
        return len(self._pages)

    def clear(self) -> None:
        """Forget every bin (an ended thread's history, once nobody can see it)."""
        self._pages.clear()

    def _advance(self, j: int) -> None:
        if j <= self._head:
            return
        old_page = self._head // PAGE_BINS
        self._head = j
        if j // PAGE_BINS != old_page:
            oldest_page = (j - self.size + 1) // PAGE_BINS
            for p in [p for p in self._pages if p < oldest_page]:
                del self._pages[p]

    def _page(self, b: int) -> array[int]:
        page = self._pages.get(b // PAGE_BINS)
        if page is None:
            page = self._pages[b // PAGE_BINS] = array("q", bytes(8 * PAGE_BINS))
        return page

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
                self._page(first)[first % PAGE_BINS] += amount
            return
        for b in range(max(first, oldest), last + 1):
            lo = max(start_ns, b * bw)
            hi = min(end_ns, (b + 1) * bw)
            self._page(b)[b % PAGE_BINS] += amount * (hi - lo) // length

    def total(self, first_bin: int, end_bin: int) -> int:
        """Sum of bins with absolute index in [first_bin, end_bin)."""
        first_bin = max(first_bin, self._head - self.size + 1, 0)
        end_bin = min(end_bin, self._head + 1)
        out = 0
        b = first_bin
        while b < end_bin:
            p = b // PAGE_BINS
            stop = min(end_bin, (p + 1) * PAGE_BINS)
            page = self._pages.get(p)
            if page is not None:
                out += sum(page[b % PAGE_BINS : stop - p * PAGE_BINS])
            b = stop
        return out

    def columns(self, end_ns: int, col_ns: int, n: int) -> List[int]:
        """Totals of ``n`` columns of ``col_ns`` (a multiple of ``bin_ns``) up to ``end_ns``."""
        per = col_ns // self.bin_ns
        end_bin = end_ns // self.bin_ns
        return [self.total(end_bin - (n - i) * per, end_bin - (n - i - 1) * per) for i in range(n)]
