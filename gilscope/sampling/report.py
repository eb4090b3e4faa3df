"""The workers' "I am running" marks, in a shared memory board, and their reader.

Each worker thread owns one slot of a file-backed ``mmap``: a small header and a ring of
``time.monotonic_ns()`` stamps. A worker stamps its ring about once a millisecond from inside
its countdown; only the GIL holder can run bytecode, so the stamps say exactly who held each
process's GIL when. The observer reads the rings at its own pace: no per-event messages.

This module is imported by the worker script too, so it must stay standard-library only and
run on every interpreter gilscope supports (3.9+).
"""

from __future__ import annotations

import mmap
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

# Slot layout, in signed 64-bit words.
SEQ = 0  # stamps written so far; the stamp for seq s lives at RING0 + (s % RING)
STATE = 1  # one of the STATE_* values below
PID = 2
TID = 3  # Linux thread id (what psutil and py-spy on 3.11+ report)
IDENT = 4  # pthread id (what py-spy on 3.9/3.10 reports)
START_NS = 5  # monotonic ns when the countdown began
END_NS = 6  # monotonic ns when it reached zero
CHUNK_NS = 7  # calibrated time of one chunk between stamps
COUNT = 8  # the N this worker counts down from
HEXVERSION = 9  # sys.hexversion of the worker's interpreter
# 1: the worker's process has a GIL; 2: it runs without one (free-threaded); 3: a
# free-threaded build running with its GIL enabled (-X gil=1, PYTHON_GIL=1)
GIL = 10
CHUNK_ITERS = 11  # units of N in one chunk (countdown: iterations), CHUNK_NS their time
HEADER_WORDS = 16
# The largest N one worker thread can announce (COUNT): header words are signed 64-bit.
MAX_SHARE = (1 << 63) - 1
RING = 4096  # ~4 s of stamps at 1 kHz; the reader drains far more often than that
RING_MASK = RING - 1
SLOT_WORDS = HEADER_WORDS + RING
SLOT_BYTES = SLOT_WORDS * 8

# A ring word is a time (monotonic ns) tagged in its top bits with what happened then. The
# countdown's stamp is tag 0, a bare time, so its hot path stays one store.
TAG_SHIFT = 60
TIME_MASK = (1 << TAG_SHIFT) - 1
TAG_STAMP = 0  # "I hold the GIL now" (countdown, once a chunk)
TAG_ACQUIRED = 1  # holds the GIL from this time (explicit events: io, native, convoy)
TAG_RELEASED = 2  # released it at this time (about to block or call into C)
TAG_WAITING = 3  # woke up wanting the GIL at this time (its request or reply arrived)
TAG_LATENCY_ALONE = 4  # not a time: one response latency in ns, CPU thread idle
TAG_LATENCY_BUSY = 5  # one response latency in ns while the CPU thread counted
ACQUIRED = TAG_ACQUIRED << TAG_SHIFT
RELEASED = TAG_RELEASED << TAG_SHIFT
WAITING = TAG_WAITING << TAG_SHIFT
LATENCY_ALONE = TAG_LATENCY_ALONE << TAG_SHIFT
LATENCY_BUSY = TAG_LATENCY_BUSY << TAG_SHIFT

STATE_EMPTY = 0
STATE_READY = 1
STATE_RUNNING = 2
STATE_DONE = 3


def version_string(hexversion: int) -> str:
    """sys.hexversion as '3.11.7'."""
    return f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}"


def gil_enabled() -> bool:
    """Whether this process runs with a GIL: a free-threaded build (3.13t+) may run
    without one, and PYTHON_GIL=0 or -X gil=0 turns it off there."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def free_threaded() -> bool:
    """A free-threaded build (3.13t+), whether or not its GIL is enabled."""
    import sysconfig  # only here: the worker's start-up stays lean

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def create_board(path: str, slots: int) -> None:
    """Create the zero-filled board file that workers and the reader map."""
    with open(path, "wb") as f:
        f.truncate(slots * SLOT_BYTES)


class BeaconWriter:
    """The worker side of one slot."""

    def __init__(self, path: str, slot: int) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - lives as long as the worker
        self._map = mmap.mmap(self._file.fileno(), 0)
        words = memoryview(self._map).cast("q")
        self._words = words[slot * SLOT_WORDS : (slot + 1) * SLOT_WORDS]

    def announce(
        self, tid: int, ident: int, chunk_ns: int, count: int, chunk_iters: int = 0
    ) -> None:
        """Ready: who this thread is, and its calibration (``chunk_iters`` units of N take
        ``chunk_ns``), from which the observer expects the run's length."""
        w = self._words
        w[PID] = os.getpid()
        w[TID] = tid
        w[IDENT] = ident
        w[CHUNK_NS] = chunk_ns
        w[CHUNK_ITERS] = chunk_iters
        w[COUNT] = count
        w[HEXVERSION] = sys.hexversion
        w[GIL] = (3 if gil_enabled() else 2) if free_threaded() else 1
        w[STATE] = STATE_READY

    def start(self) -> None:
        self._words[START_NS] = time.monotonic_ns()
        self._words[STATE] = STATE_RUNNING

    def finish(self) -> None:
        self._words[END_NS] = time.monotonic_ns()
        self._words[STATE] = STATE_DONE

    def marker(self, on_every_1024: Optional[Callable[[], None]] = None) -> Callable[[], None]:
        """The one cheap step the countdown takes between chunks.

        A closure over locals keeps it to a handful of bytecodes (~0.2 µs), once per ~1 ms.
        ``on_every_1024`` runs about once a second (the orphan check).
        """
        w = self._words
        clock = time.monotonic_ns
        seq = 0

        def mark() -> None:
            nonlocal seq
            w[HEADER_WORDS + (seq & RING_MASK)] = clock()
            seq += 1
            w[SEQ] = seq  # published after the stamp, so the reader never sees a hole
            if on_every_1024 is not None and not seq & 1023:
                on_every_1024()

        return mark

    def emitter(self) -> Callable[[int], None]:
        """Append one tagged word (``RELEASED | time``...) to the ring; one thread per slot."""
        w = self._words
        seq = 0

        def emit(word: int) -> None:
            nonlocal seq
            w[HEADER_WORDS + (seq & RING_MASK)] = word
            seq += 1
            w[SEQ] = seq

        return emit


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker slot says about itself."""

    slot: int
    pid: int
    tid: int
    ident: int
    state: int
    start_ns: int
    end_ns: int
    chunk_ns: int
    count: int
    hexversion: int
    gil: bool = True  # False: a free-threaded process running without the GIL
    chunk_iters: int = 0  # units of N per calibrated chunk; 0: not calibrated (io, native)
    free_threaded: bool = False  # a free-threaded build (its GIL may still be enabled)

    @property
    def python_version(self) -> str:
        """'3.13.1', or '3.13.1t' for a free-threaded build (as its binary is named)."""
        if not self.hexversion:
            return ""
        return version_string(self.hexversion) + ("t" if self.free_threaded else "")


@dataclass(frozen=True)
class BeaconBatch:
    """Stamps a slot wrote since the previous read, oldest first."""

    slot: int
    stamps: Tuple[int, ...]
    lost: int  # stamps overwritten before they were read (reader fell > RING behind)


class BeaconReader:
    """The observer side: reads every slot's header and drains new stamps."""

    def __init__(self, path: str, slots: int) -> None:
        self.slots = slots
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._words: Optional[memoryview] = memoryview(self._map).cast("q")
        self._read_seq: List[int] = [0] * slots

    def info(self, slot: int) -> WorkerInfo:
        w = self._require()
        base = slot * SLOT_WORDS
        return WorkerInfo(
            slot=slot,
            pid=w[base + PID],
            tid=w[base + TID],
            ident=w[base + IDENT],
            state=w[base + STATE],
            start_ns=w[base + START_NS],
            end_ns=w[base + END_NS],
            chunk_ns=w[base + CHUNK_NS],
            count=w[base + COUNT],
            hexversion=w[base + HEXVERSION],
            gil=w[base + GIL] != 2,
            chunk_iters=w[base + CHUNK_ITERS],
            free_threaded=w[base + GIL] in (2, 3),
        )

    def drain(self) -> List[BeaconBatch]:
        w = self._require()
        batches: List[BeaconBatch] = []
        for slot in range(self.slots):
            base = slot * SLOT_WORDS
            seq = w[base + SEQ]
            old = self._read_seq[slot]
            if seq == old:
                continue
            first = max(old, seq - RING)
            ring0 = base + HEADER_WORDS
            stamps = tuple(w[ring0 + (s & RING_MASK)] for s in range(first, seq))
            self._read_seq[slot] = seq
            batches.append(BeaconBatch(slot=slot, stamps=stamps, lost=first - old))
        return batches

    def _require(self) -> memoryview:
        if self._words is None:
            raise ValueError("beacon reader is closed")
        return self._words

    def close(self) -> None:
        if self._words is not None:
            self._words.release()
            self._words = None
            self._map.close()
            self._file.close()
