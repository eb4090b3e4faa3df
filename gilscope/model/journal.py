"""What changed in an observation's model, op by op: what a recording keeps.

The timeline, the thread registry and the ledgers write here what they did (a hold, a wait,
CPU time, a thread's record, a py-spy window), already resolved to lanes and runners, and a
replay applies the ops to fresh model objects with the same methods. Recording the model's
changes rather than the samplers' raw readings means a replay needs no /proc, no probe and
no py-spy, and reaches exactly the state the live view had.

A runner's holds are coalesced: a run extended by heartbeats or stamps becomes one op per
hand-off. Adding [a, b) and [b, c) to bins is exactly adding [a, c), so nothing is lost.
Ops are plain tuples of str, int, float and lists: JSON as they are.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Tuple

Op = Tuple[Any, ...]

# Timeline ops (the second field names the timeline: "tl" drawn, "ref" the workers' report)
LANE = "L"  # (LANE, tl, pid, slot, name, process_index, chunk_ns)
SHARED = "S"  # (SHARED, tl, pid, slot, name, process_index)
RUNNER = "R"  # (RUNNER, tl, pid, slot, lane_pid, lane_slot)
RENAME = "N"  # (RENAME, tl, pid, slot, name)
RELEASE = "X"  # (RELEASE, tl, [[pid, slot]...] lanes, [[pid, slot]...] runners)
HOLD = "H"  # (HOLD, tl, pid, slot, start, end, new_run)
WAIT = "W"  # (WAIT, tl, pid, slot, start, end): drawn as waiting for the GIL
WAIT_ENDED = "E"  # (WAIT_ENDED, tl, pid, slot, start, end): a wait that ended, counted
CPU = "C"  # (CPU, tl, pid, slot, start, end, cpu_ns, runq_ns)
BLIND = "B"  # (BLIND, tl, pid, slot, blind_ns): what a worker's report could not see
FINE_CPU = "F"  # (FINE_CPU, tl, pid, slot, start, end, cpu_ns): no GIL, CPU at 100 Hz
SAMPLED = "P"  # (SAMPLED, tl, pid, slot, start, end, amount)
LATEST = "T"  # (LATEST, tl, latest_ns)
UNSEEN = "U"  # (UNSEEN, tl, pid, unseen_ns, gaps)
# Ledger ops (no timeline field)
CORES = "cores"  # (CORES, [per core], counting)
OTHER = "other"  # (OTHER, cores, seconds, counting)
LATENCY = "lat"  # (LATENCY, [words])
WINDOW = "spy"  # (WINDOW, window, [SeenThread], [lane], start_ns, {runner: exact}, [compare])
FORGET = "spy-"  # (FORGET, [runner])
DRAWN = "drawn"  # (DRAWN, [pid]): the processes the probe draws now
SWITCHES = "sw"  # (SWITCHES, pid, t_ns, switches, first): the interpreter's own count
# Thread registry ops
RECORD = "thread"  # (RECORD, ThreadRecord): made or changed
FORGOTTEN = "thread-"  # (FORGOTTEN, key)
REGISTRY = "threads"  # (REGISTRY, order, gil, ended pids, shared lanes, forgotten roll-ups)


class Journal:
    """Thread-safe; ``take`` hands over everything since the last call, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: List[Op] = []
        # per (timeline, pid, slot): the hold being coalesced, [start, end, new_run]
        self._pending: Dict[Tuple[str, int, int], List[Any]] = {}

    def add(self, op: Op) -> None:
        with self._lock:
            if op[0] == RELEASE:
                # what the released runners held goes first: after it, they are gone
                for tl, pid in sorted({(k[0], k[1]) for k in self._pending if k[0] == op[1]}):
                    self._flush_process(tl, pid)
            self._ops.append(op)

    def hold(self, tl: str, pid: int, slot: int, start: int, end: int, new_run: bool) -> None:
        key = (tl, pid, slot)
        with self._lock:
            pend = self._pending.get(key)
            if not new_run and pend is not None and pend[1] == start:
                pend[1] = end  # the same run, held on
                return
            if new_run:
                # A hand-off: whatever this process's runners held so far comes first, so
                # that a lane shared by several of them gets its runs in time order.
                self._flush_process(tl, pid)
            elif pend is not None:
                self._ops.append((HOLD, tl, pid, slot, *pend))
            self._pending[key] = [start, end, new_run]

    def _flush_process(self, tl: str, pid: int) -> None:
        mine = sorted(
            ((k, v) for k, v in self._pending.items() if k[0] == tl and k[1] == pid),
            key=lambda kv: kv[1][0],
        )
        for k, (start, end, new_run) in mine:
            self._ops.append((HOLD, tl, k[1], k[2], start, end, new_run))
            del self._pending[k]

    def take(self) -> List[Op]:
        """Every op so far (coalesced holds included, in time order per process)."""
        with self._lock:
            for tl, pid in sorted({(k[0], k[1]) for k in self._pending}):
                self._flush_process(tl, pid)
            ops, self._ops = self._ops, []
            return ops
