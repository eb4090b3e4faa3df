"""A recording as a Chrome trace (Trace Event Format), which Perfetto UI and
chrome://tracing open: a track per thread with a complete event ``GIL`` per hold and
``wait`` per wait for the GIL, and per-core CPU as counters.

Holds are read from the recording's ops (a runner's coalesced holds are whole runs), so
every hold is exact; threads get their names from the recorded thread records.
"""

from __future__ import annotations

import json
from typing import IO, Any, Dict, List, Tuple

from gilscope.model import journal as J
from gilscope.model.thread_record import ThreadRecord
from gilscope.record.replay import Replay

US = 1000  # the format's times are in microseconds


def chrome_trace(replay: Replay) -> Dict[str, Any]:
    """The trace of the whole recording."""
    t0 = replay.start_ns
    events: List[Dict[str, Any]] = []
    names: Dict[Tuple[int, int], str] = {}  # (pid, runner slot) -> thread name
    tids: Dict[Tuple[int, int], int] = {}  # (pid, runner slot) -> the track's id
    processes: Dict[int, str] = {}
    open_runs: Dict[Tuple[int, int], List[int]] = {}  # runner -> [start, end] being built

    def track(pid: int, slot: int) -> int:
        return tids.setdefault((pid, slot), len(tids) + 1)

    def close(key: Tuple[int, int]) -> None:
        run = open_runs.pop(key, None)
        if run is not None and run[1] > run[0]:
            events.append(_complete("GIL", key[0], track(*key), run[0] - t0, run[1] - run[0]))

    for frame in replay.frames:
        for op in frame["ops"]:
            code = op[0]
            if code == J.HOLD and op[1] == "tl":
                _, _, pid, slot, start, end, new_run = op
                key = (pid, slot)
                if new_run:
                    close(key)
                    open_runs[key] = [start, end]
                elif key in open_runs:
                    open_runs[key][1] = end
                else:
                    open_runs[key] = [start, end]
            elif code == J.WAIT_ENDED and op[1] == "tl":
                _, _, pid, slot, start, end = op
                events.append(_complete("wait", pid, track(pid, slot), start - t0, end - start))
            elif code == J.RECORD:
                record: ThreadRecord = op[1]
                names[record.key.pid, record.key.slot] = record.name
            elif code == J.CORES:
                args = {f"core {i}": round(c * 100, 1) for i, c in enumerate(op[1])}
                events.append({"name": "CPU %", "ph": "C", "pid": 0, "tid": 0,
                               "ts": (int(frame["t"]) - t0) / US, "args": args})  # fmt: skip
        details = frame.get("s", {}).get("observation", {}).get("details", [])
        for pid, info in details:
            processes.setdefault(pid, f"{info.get('cmdline', '') or 'process'} ({pid})")
    for key in list(open_runs):
        close(key)
    meta: List[Dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 0, "tid": 0, "args": {"name": "CPU cores"}}
    ]
    for pid in sorted({p for p, _ in tids} | set(processes)):
        name = processes.get(pid, f"process {pid}")
        meta.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                     "args": {"name": name}})  # fmt: skip
    for (pid, slot), tid in tids.items():
        name = names.get((pid, slot), "thread")
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                     "args": {"name": name}})  # fmt: skip
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ms",
        "otherData": {"recording": replay.path, "host": replay.header.get("host", "")},
    }


def _complete(name: str, pid: int, tid: int, start_ns: int, dur_ns: int) -> Dict[str, Any]:
    return {"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": start_ns / US,
            "dur": dur_ns / US, "cat": "gil"}  # fmt: skip


def write_trace(trace: Dict[str, Any], out: IO[str]) -> None:
    json.dump(trace, out, separators=(",", ":"))
