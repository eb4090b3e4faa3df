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
HEADER_WORDS = 16
RING = 4096  # ~4 s of stamps at 1 kHz; the reader drains far more often than that
RING_MASK = RING - 1
SLOT_WORDS = HEADER_WORDS + RING
SLOT_BYTES = SLOT_WORDS * 8

STATE_EMPTY = 0
STATE_READY = 1
STATE_RUNNING = 2
STATE_DONE = 3


def version_string(hexversion: int) -> str:
    """sys.hexversion as '3.11.7'."""
    return f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}"


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

    def announce(self, tid: int, ident: int, chunk_ns: int, count: int) -> None:
        w = self._words
        w[PID] = os.getpid()
        w[TID] = tid
        w[IDENT] = ident
        w[CHUNK_NS] = chunk_ns
        w[COUNT] = count
        w[HEXVERSION] = sys.hexversion
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

    @property
    def python_version(self) -> str:
        return version_string(self.hexversion) if self.hexversion else ""


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
