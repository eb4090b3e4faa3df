"""How the main screen shares its rows and columns: whatever the terminal's size and
whatever the panels hold, every panel keeps its borders and the relay gets the rest."""

from __future__ import annotations

from dataclasses import dataclass

CHROME_ROWS = 3  # the header, the line under it, the key bar
TOP_MIN = 7  # the relay and the core meters: two lanes, their process, the axis, borders
BORDERS = 2


@dataclass(frozen=True)
class Plan:
    threads_rows: int  # the threads box, borders included
    bottom_rows: int  # the stacks and results boxes, borders included
    results_width: int  # the results box, borders included
    output: bool = False  # the results box is a process's output: it takes half the row


def plan(
    width: int,
    height: int,
    threads: int,
    stacks: int,
    results: int,
    output: bool = False,
    relay: int = 0,
) -> Plan:
    """Rows for the threads table (``threads`` rows) and the bottom panels (``stacks``
    lines beside ``results`` lines); the relay's row gets the rest, at least ``TOP_MIN``.

    First the relay gets a row per lane (``relay``: its lines at one row a lane), then the
    results (they are what a run is for), then the thread table (it scrolls). On a tall
    screen neither panel takes more than a third, so the relay's lanes grow instead."""
    avail = max(height - CHROME_ROWS, TOP_MIN)
    third = max(avail // 3, 5)
    if output:
        results = max(results, 10)  # a process's output: as much as there is room for
    bottom_want = BORDERS + max(stacks, results, 1)
    threads_want = BORDERS + 1 + max(threads, 1)
    threads_least = min(threads_want, BORDERS + 3)  # the header and two rows
    bottom_least = min(bottom_want, BORDERS + 3)
    top = max(TOP_MIN, min(BORDERS + relay, avail - threads_least - bottom_least))
    bottom = max(min(bottom_want, max(third, 11), avail - top - threads_least), 0)
    threads_rows = max(min(threads_want, third, avail - top - bottom), 0)
    results_width = max(44, min(64, width * 2 // 5))
    return Plan(threads_rows, bottom, results_width, output)
