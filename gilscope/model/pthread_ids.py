"""Threads by pthread id: how py-spy names threads on CPython 3.9/3.10, and whether the
name it gives one of them is surely that thread's.

glibc gives an ended thread's pthread id to the next thread, so one id names a few
threads over time, and py-spy keeps the names it read by id for the rest of its window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Dict, List, Optional, Tuple

from gilscope.model.lanes import LaneKey
from gilscope.model.thread_record import ThreadRecord


class PthreadIds:
    """Per process, which threads had each pthread id: the latest, and the last few."""

    def __init__(self) -> None:
        self._latest: Dict[Tuple[int, int], LaneKey] = {}
        self._recent: Dict[Tuple[int, int], List[LaneKey]] = {}

    def note(self, pid: int, ident: int, key: LaneKey) -> None:
        self._latest[pid, ident] = key
        keys = self._recent.setdefault((pid, ident), [])
        keys.append(key)
        del keys[:-4]  # the last few threads with that id are all a window can mix up

    def latest(self, pid: int, ident: int) -> Optional[LaneKey]:
        return self._latest.get((pid, ident))

    def forget(self, key: LaneKey, ident: int) -> None:
        if self._latest.get((key.pid, ident)) == key:
            del self._latest[key.pid, ident]
        keys = self._recent.get((key.pid, ident))
        if keys is not None and key in keys:
            keys.remove(key)
            if not keys:
                del self._recent[key.pid, ident]

    def had_in_window(
        self, pid: int, ident: int, since_ns: int, threads: Mapping[LaneKey, ThreadRecord]
    ) -> List[ThreadRecord]:
        """The threads known to have had ``ident`` while a py-spy window that began at
        ``since_ns`` ran (alive then, or ended since)."""
        return [
            o for k in self._recent.get((pid, ident), ())
            if (o := threads.get(k)) is not None and (o.alive or o.ended_ns >= since_ns)
        ]  # fmt: skip


def py_spy_name_fits(
    record: ThreadRecord, name: str, threads: Iterable[ThreadRecord], since_ns: int
) -> bool:
    """Whether ``name``, which py-spy gave the thread of ``record`` in a window that began
    at ``since_ns``, is surely that thread's and not another's."""
    # CPython 3.14+ names the kernel's thread after the Python one (cut to 15 bytes): a
    # name py-spy gives that does not start with it is not this thread's.
    kernel = record.named_by == "kernel" and not record.name.startswith("thread ")
    if kernel and not name.startswith(record.name):
        return False
    # py-spy's name may be another's: the first thread with an id that a window met gets
    # its own name, a later one the same name. So: a thread that started before this one
    # and was alive while the window ran had its id, or either id is not known.
    key = record.key
    return not any(
        o.key.pid == key.pid
        and o.key != key
        and o.seen_ns < record.seen_ns
        and (o.alive or o.ended_ns >= since_ns)
        and (o.ident == record.ident or not o.ident or not record.ident)
        and o.tid != o.key.pid  # the main thread's id is never passed on while it runs
        for o in threads
    )
