"""Per thread: who it is, its GIL share (exact and py-spy's), CPU, where it is, hand-offs,
and how long it waited for the GIL."""

from __future__ import annotations

from typing import Optional, Tuple

from textual.widgets import DataTable

from gilscope.snapshot import ThreadRow
from gilscope.tui.fit import fit_label

COLUMNS = (
    ("thread", "thread"),
    ("tid", "tid"),
    ("pid", "pid"),
    ("gil", "GIL%"),
    ("wait", "wait%"),
    ("spy", "spy%"),
    ("cpu", "CPU%"),
    ("func", "function"),
    ("hand", "acq/s"),
    ("hold", "hold ms"),
    ("waitms", "wait p50/p99"),  # ms, like the hold
)


def _pct(x: Optional[float]) -> str:
    return "  –" if x is None else f"{x * 100:4.0f}"


# What the columns after the name take, padding included: the name gets the rest.
OTHER_COLUMNS = 66 + 21  # and the waits: wait% and p50/p99
NAME_MIN = 13


def _ms(x: Optional[float]) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def _waits(row: ThreadRow) -> str:
    if row.wait_p50_ms is None:
        return "–"
    return f"{_ms(row.wait_p50_ms)}/{_ms(row.wait_p99_ms)}"


def row_cells(row: ThreadRow, name: str = "") -> Tuple[str, ...]:
    gil = row.gil_share is not None  # no GIL (free-threaded): nothing to hold or wait for
    return (
        name or row.name,
        f"×{row.members}" if row.shared else str(row.tid),
        str(row.pid),
        _pct(row.gil_share) if gil else "noGIL",
        _pct(row.wait_share if gil else None),
        _pct(row.gil_share_pyspy),
        _pct(row.cpu),
        (row.function or "…")[:12],
        f"{row.handoffs_per_s:5.0f}" if gil else "–".rjust(5),
        f"{row.mean_hold_ms:7.1f}"[-7:] if gil else "–".rjust(7),
        _waits(row) if gil else "–",
    )


class ThreadTable(DataTable[str]):
    """Rows keyed by lane; cells updated in place so the table never flickers."""

    DEFAULT_CSS = """
    ThreadTable { height: auto; scrollbar-size-horizontal: 0; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=False, show_cursor=False)
        self._rows: Tuple[str, ...] = ()
        self._last: Tuple[ThreadRow, ...] = ()
        self._cells: dict[str, Tuple[str, ...]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def on_resize(self) -> None:
        self.show(self._last)  # the names' room changed with the width

    def show(self, rows: Tuple[ThreadRow, ...]) -> None:
        """Names cut, where the table is narrow, to the part that tells threads apart."""
        self._last = rows
        room = max(NAME_MIN, self.size.width - OTHER_COLUMNS) if self.size.width else 0
        siblings = [r.name for r in rows]
        names = [fit_label(r.name, room, siblings) if room else r.name for r in rows]
        keys = tuple(f"{r.key.pid}:{r.key.slot}" for r in rows)
        if keys != self._rows:
            self.clear()
            self._cells = {}
            for key, row, name in zip(keys, rows, names):
                cells = row_cells(row, name)
                self.add_row(*cells, key=key)
                self._cells[key] = cells
            self._rows = keys
            return
        for key, row, name in zip(keys, rows, names):
            cells = row_cells(row, name)
            old = self._cells.get(key, ())
            for (column, _), new, before in zip(COLUMNS, cells, old):
                if new != before:
                    self.update_cell(key, column, new, update_width=True)
            self._cells[key] = cells
