"""gilscope's side of the GIL probe: starts ``probe_process``, tells it what to watch and
collects what it reads.

A plain thread reads the probe's frames and keeps the hand-offs and waits in bounded buffers; the
session drains it at its own pace. Per target the probe says ``ready`` (its layout was
verified on the live process), ``failed`` (with why: the session falls back to py-spy and
says so), ``no-gil`` (a free-threaded build) or ``ended``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import IO, Any, Deque, Dict, List, NamedTuple, Optional

from gilscope.children import reap, spawn
from gilscope.sampling.probe_process import CHANGE, DEFAULT_RATE_HZ, FRAME, MIN_RATE_HZ, WAIT

KEEP_CHANGES = 400_000  # ~minutes of hand-offs if the session stalls; then the oldest go
KEEP_WAITS = 200_000


class GilChange(NamedTuple):
    """From ``t_ns`` on, ``tid`` holds ``pid``'s GIL (0: nobody; -1: not a known thread).

    ``switches`` is the interpreter's own count of hand-offs so far."""

    pid: int
    tid: int
    t_ns: int
    switches: int


class GilWait(NamedTuple):
    """Thread ``tid`` of ``pid`` waited for the GIL from ``start_ns`` to ``end_ns``; if not
    ``ended``, it was still waiting at ``end_ns`` (a later record goes on from there)."""

    pid: int
    tid: int
    start_ns: int
    end_ns: int
    ended: bool


@dataclass(frozen=True)
class ProbeTarget:
    """What the probe knows about one process."""

    pid: int
    state: str  # "starting", "ready", "failed", "no-gil", "ended"
    reason: str = ""  # why it failed
    version: str = ""
    source: str = ""  # how the layout was found
    interval_us: int = 0  # the target's switch interval, as its GIL says
    reads_per_s: float = 0.0
    reads: int = 0  # reads of its GIL so far
    waits: bool = False  # whether its threads' waits for the GIL are followed
    waits_note: str = ""  # if not: why


@dataclass(frozen=True)
class ProbeStats:
    cpu: float  # cores the probe process used, over its last half second
    targets: Dict[int, ProbeTarget]
    scheduling: str = ""  # "fifo", "short-slice" or "normal": how reads are kept on time


class GilProbe:
    """One probe process for the whole session; targets come and go with ``watch``."""

    def __init__(
        self,
        rate_hz: int = DEFAULT_RATE_HZ,
        scheduling: str = "auto",
        min_rate_hz: int = MIN_RATE_HZ,
        waits: bool = True,
    ) -> None:
        self.rate_hz = rate_hz  # the most reads/s per process (fewer while the GIL is calm)
        self.scheduling = scheduling  # "auto" (the best allowed), or one policy to compare
        # Each process is read between min_rate_hz and rate_hz times a second, as often as
        # its GIL changes hands; waits=False reads the GIL only (min_rate_hz = rate_hz and
        # no waits: the probe before it followed waits, for benchmarks).
        self.min_rate_hz = min_rate_hz
        self.waits = waits
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._lock = threading.Lock()
        self._changes: Deque[GilChange] = deque(maxlen=KEEP_CHANGES)
        self._waits: Deque[GilWait] = deque(maxlen=KEEP_WAITS)
        self._targets: Dict[int, ProbeTarget] = {}
        self._idents: Dict[int, Dict[int, int]] = {}  # pid -> tid -> pthread id, not taken yet
        self._reads: Dict[int, tuple[int, int]] = {}  # pid -> (t_ns, reads) at the last stats
        self._cpu_mark: Optional[tuple[int, float]] = None
        self._cpu = 0.0
        self._scheduling = ""
        self._reader: Optional[threading.Thread] = None
        self.error = ""

    def start(self) -> None:
        try:
            self._proc = spawn(
                [
                    sys.executable,
                    "-m",
                    "gilscope.sampling.probe_process",
                    "--rate",
                    str(self.rate_hz),
                    "--scheduling",
                    self.scheduling,
                    "--min-rate",
                    str(self.min_rate_hz),
                    *([] if self.waits else ["--no-waits"]),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError as e:
            self.error = f"the GIL probe did not start: {e.strerror or e}"
            return
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="gilscope-probe", daemon=True
        )
        self._reader.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def watch(self, pid: int) -> None:
        with self._lock:
            self._targets[pid] = ProbeTarget(pid, "starting")
        self._send(f"watch {pid}")

    def forget(self, pid: int) -> None:
        with self._lock:
            self._targets.pop(pid, None)
            self._reads.pop(pid, None)
            self._idents.pop(pid, None)
        self._send(f"forget {pid}")

    def forget_all(self) -> None:
        with self._lock:
            pids = list(self._targets)
        for pid in pids:
            self.forget(pid)
        with self._lock:
            self._changes.clear()
            self._waits.clear()

    def take_idents(self, pid: int) -> Dict[int, int]:
        """tid -> pthread id of ``pid``'s threads the probe met since the last call (py-spy
        names 3.9/3.10 threads by the latter)."""
        with self._lock:
            return self._idents.pop(pid, {})

    def drain(self) -> List[GilChange]:
        with self._lock:
            out = list(self._changes)
            self._changes.clear()
        return out

    def drain_waits(self) -> List[GilWait]:
        with self._lock:
            out = list(self._waits)
            self._waits.clear()
        return out

    def target(self, pid: int) -> Optional[ProbeTarget]:
        with self._lock:
            return self._targets.get(pid)

    def stats(self) -> ProbeStats:
        with self._lock:
            return ProbeStats(self._cpu, dict(self._targets), self._scheduling)

    def stop(self) -> None:
        if self._proc is not None:
            reap([self._proc], grace_s=0.3)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(1.0)

    # -- the reader thread ------------------------------------------------------------
    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.error = self.error or "the GIL probe has stopped"

    def _read(self, stream: IO[bytes]) -> None:
        try:
            while True:
                head = _read_exactly(stream, FRAME.size)
                if head is None:
                    break
                kind, size = FRAME.unpack(head)
                payload = _read_exactly(stream, size)
                if payload is None:
                    break
                if kind == b"C":
                    changes = [GilChange._make(c) for c in CHANGE.iter_unpack(payload)]
                    with self._lock:
                        self._changes.extend(c for c in changes if c.pid in self._targets)
                elif kind == b"W":
                    waits = [
                        GilWait(pid, tid, start, end, bool(ended))
                        for pid, tid, start, end, ended in WAIT.iter_unpack(payload)
                    ]
                    with self._lock:
                        self._waits.extend(w for w in waits if w.pid in self._targets)
                else:
                    self._message(json.loads(payload))
        except (OSError, ValueError):
            pass
        with self._lock:
            if any(t.state in ("starting", "ready") for t in self._targets.values()):
                self.error = self.error or "the GIL probe has stopped"

    def _message(self, msg: Dict[str, Any]) -> None:
        kind = msg.get("kind")
        with self._lock:
            if kind == "stats":
                self._stats(msg)
                return
            pid = int(msg.get("pid", 0))
            known = self._targets.get(pid)
            if known is None:
                return  # forgotten meanwhile
            if kind == "ready":
                self._targets[pid] = replace(
                    known, state="ready", version=msg["version"], source=msg["source"],
                    waits=bool(msg.get("waits")), waits_note=str(msg.get("waits_note", "")),
                )  # fmt: skip
            elif kind in ("failed", "no-gil", "ended"):
                self._targets[pid] = replace(known, state=kind, reason=msg.get("reason", ""))
            elif kind == "threads":
                idents = self._idents.setdefault(pid, {})
                idents.update((int(tid), int(ident)) for tid, ident in msg["idents"].items())
            elif kind == "interval":
                self._targets[pid] = replace(known, interval_us=int(msg["us"]))

    def _stats(self, msg: Dict[str, Any]) -> None:
        now, cpu_s = int(msg["t_ns"]), float(msg["cpu_s"])
        if self._cpu_mark is not None and now > self._cpu_mark[0]:
            self._cpu = (cpu_s - self._cpu_mark[1]) / ((now - self._cpu_mark[0]) / 1e9)
        self._cpu_mark = (now, cpu_s)
        self._scheduling = str(msg.get("scheduling", ""))
        for text, reads in msg["reads"].items():
            pid = int(text)
            last = self._reads.get(pid)
            self._reads[pid] = (now, int(reads))
            target = self._targets.get(pid)
            if last is not None and target is not None and now > last[0]:
                rate = (int(reads) - last[1]) / ((now - last[0]) / 1e9)
                self._targets[pid] = replace(target, reads_per_s=rate, reads=int(reads))


def _read_exactly(stream: IO[bytes], size: int) -> Optional[bytes]:
    data = b""
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            return None
        data += more
    return data
