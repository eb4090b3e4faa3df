"""A lane's bins read as the view's columns: how much of each column it held the GIL,
waited for it, and ran on a CPU without it. Called under the ``Timeline``'s lock."""

from __future__ import annotations

from typing import List

from gilscope.model.lanes import COARSE_NS, FINE_NS, Lane, LaneCells


def lane_cells(lane: Lane, end_ns: int, col_ns: int, n: int) -> LaneCells:
    """Per column of ``col_ns`` (the last ending at ``end_ns``): the fractions held,
    waiting, and on-CPU without the GIL."""
    fine = col_ns < COARSE_NS or col_ns % COARSE_NS
    ring = lane.held_fine if fine else lane.held_coarse
    held = [min(1.0, h / col_ns) for h in ring.columns(end_ns, col_ns, n)]
    waits = lane.wait_fine if fine else lane.wait_coarse
    waiting = [min(1.0, h / col_ns) for h in waits.columns(end_ns, col_ns, n)]
    without = _without_gil(lane, end_ns, col_ns, n)
    return LaneCells(tuple(held), tuple(without), tuple(waiting))


def cpu_share(lane: Lane, start_ns: int, end_ns: int) -> float:
    """A lane's CPU time over [start_ns, end_ns), as a fraction of it (100 ms bins)."""
    first, last = start_ns // COARSE_NS, -(-end_ns // COARSE_NS)
    span = (last - first) * COARSE_NS
    return min(1.0, lane.cpu.total(first, last) / span) if span > 0 else 0.0


def _without_gil(lane: Lane, end_ns: int, col_ns: int, n: int) -> List[float]:
    fine = col_ns % FINE_NS == 0 and (col_ns < COARSE_NS or col_ns % COARSE_NS)
    if fine and lane.cpu_fine.pages:
        # A thread without a GIL, read at 100 Hz: column by column.
        cpu_cols = lane.cpu_fine.columns(end_ns, col_ns, n)
        held_cols = lane.held_fine.columns(end_ns, col_ns, n)
        return [max(0.0, min(1.0, (c - h) / col_ns)) for c, h in zip(cpu_cols, held_cols)]
    # CPU time is known per 100 ms bin; compare it with GIL time at that resolution,
    # then give each column the value of the bin it falls in.
    width = max(col_ns, COARSE_NS)
    out: List[float] = []
    for i in range(n):
        col_end = end_ns - (n - i - 1) * col_ns
        bin_end = -(-col_end // width) * width
        b0, b1 = (bin_end - width) // COARSE_NS, bin_end // COARSE_NS
        cpu = lane.cpu.total(b0, b1)
        held = lane.held_coarse.total(b0, b1)
        out.append(max(0.0, min(1.0, (cpu - held) / width)))
    return out
