"""Who is who: every thread of the observed processes, from its first sign to its end.

A thread is its process, its kernel tid and its start. A tid can come back for a new
thread (and a thread state, a pthread id, a name can be reused much sooner), so each thread
gets a ``LaneKey`` of its own, a serial that is never reused, and the sources' ids (the
probe's and /proc's tids, py-spy's tids or pthread ids) are looked up here. Nothing a
source says about one thread (its GIL time, name, stack) can then reach another.

Threads in the thousands (a thread per request, a pool that is recreated) cannot each have
a lane: once a name family (``job-17`` → ``job-*``) has seen ``FOLD_AFTER`` threads end,
or a process has ``OWN_LANES`` live lanes, new threads of that family share one lane. Each
keeps its own tally; ended ones beyond ``KEEP_ENDED`` per process are forgotten into their
family's roll-up. Memory is bounded whatever the churn.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

from gilscope.model.journal import FORGOTTEN, RECORD, REGISTRY, Op
from gilscope.model.lanes import FINE_BINS, FINE_NS, LaneKey, Tally
from gilscope.model.pthread_ids import PthreadIds, py_spy_name_fits
from gilscope.model.thread_record import ThreadRecord, family_of
from gilscope.model.timeline import Timeline

OWN_LANES = 32  # live lanes of their own per process; then families share lanes
OWN_EVER = 256  # lanes of their own made per process; then every new thread shares one
FOLD_AFTER = 8  # ended threads of one family before its new members share a lane
FAMILY_LANES = 16  # shared lanes per process; then one lane for all other threads
KEEP_ENDED = 1_000  # ended threads remembered one by one per process (the JSON's bound)
SERIAL_BASE = 1 << 32  # serials above any worker slot
OTHERS = "(other threads)"


@dataclass(frozen=True)
class SharedLane:
    key: LaneKey
    family: str


@dataclass(frozen=True)
class LaneInfo:
    """A lane as a view draws it: one thread's, or a family's shared by ``members``."""

    key: LaneKey
    name: str
    process_index: int
    tid: int  # Linux thread id (0 for a shared lane)
    ident: int  # pthread id: how py-spy names threads on CPython 3.9/3.10
    gil: bool = True  # False: a free-threaded process without a GIL; its lanes run in parallel
    members: int = 1  # threads drawn here (a shared lane: every one so far)
    shared: bool = False  # a family's lane, not one thread's

    @property
    def label(self) -> str:
        """``job-* ×37`` for a shared lane, the thread's name otherwise."""
        return f"{self.name} ×{self.members}" if self.shared else self.name


_RANK = {"kernel": 0, "py-spy": 1, "worker": 2}


class ThreadRegistry:
    """Thread identities and lanes of one observation (one timeline)."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._threads: Dict[LaneKey, ThreadRecord] = {}
        self._by_tid: Dict[Tuple[int, int], LaneKey] = {}  # the latest thread with that tid
        self._idents = PthreadIds()  # how py-spy names threads on 3.9/3.10
        self._ended: Dict[int, OrderedDict[LaneKey, None]] = {}  # per pid, oldest first
        self._ended_in: Dict[Tuple[int, str], int] = {}  # ended threads per family
        self._shared: Dict[Tuple[int, str], SharedLane] = {}
        self._forgotten: Dict[Tuple[int, str], Tally] = {}  # roll-ups of forgotten threads
        self._gil: Dict[int, bool] = {}
        self._order: Dict[int, int] = {}  # pid -> its process index, in order of discovery
        self._ended_pids: set[int] = set()
        self._live_own: Dict[int, int] = {}  # pid -> live threads with a lane of their own
        self._own_made: Dict[int, int] = {}  # pid -> lanes of their own made so far
        self._live: Dict[int, Dict[int, LaneKey]] = {}  # pid -> tid -> its live thread
        self._serial = SERIAL_BASE
        self._to_release: Deque[Tuple[int, LaneKey]] = deque()  # (ended_ns, own lane)
        self.forgotten_keys: List[LaneKey] = []  # forgotten since the owner last looked
        self.changed: set[LaneKey] = set()  # records made or changed since last taken
        self._told_state: object = None  # the small state a recording was last told

    # -- threads gilscope's workers announce ------------------------------------------
    def add_worker(
        self, key: LaneKey, name: str, process_index: int, tid: int, ident: int, chunk_ns: int,
        gil: bool = True,
    ) -> None:  # fmt: skip
        self.timeline.add_lane(key, name, process_index, chunk_ns)
        self._order.setdefault(key.pid, process_index)
        self._add(ThreadRecord(key, key, tid, ident, 0, name, "worker", process_index, gil))

    # -- threads found from outside ---------------------------------------------------
    def set_gil(self, pid: int, gil: bool) -> None:
        """Whether ``pid`` has a GIL (False: a free-threaded build without one); its
        threads already known are told too (the probe's verdict may come after them)."""
        if self._gil.get(pid, True) == gil and pid in self._gil:
            return
        self._gil[pid] = gil
        for key, record in list(self._threads.items()):
            if key.pid == pid and record.gil != gil:
                self._threads[key] = replace(record, gil=gil)

    def gil_of(self, pid: int) -> bool:
        return self._gil.get(pid, True)

    def thread(
        self, pid: int, tid: int, start: int = 0, comm: str = "", live: bool = False
    ) -> LaneKey:
        """The thread ``tid`` of ``pid`` that started at ``start`` (0: whichever is known
        last), made if it is new. ``live``: /proc lists it now, so an ended thread of that
        tid is another thread."""
        known = self._by_tid.get((pid, tid))
        if known is not None:
            record = self._threads.get(known)
            same = record is not None and (record.alive or not live)
            if (
                record is not None
                and same
                and (not start or not record.start or record.start == start)
            ):
                if start and not record.start:
                    self._put(replace(record, start=start))
                return known
        return self._new(pid, tid, 0, start, comm or f"tid {tid}", "kernel")

    def follow(
        self, pid: int, tids: Iterable[int], identify: Callable[[int, int], Tuple[int, str]]
    ) -> None:
        """``pid``'s live threads as /proc lists them now: the new ones are made (named and
        dated by ``identify(pid, tid)``, asked of new tids only), the missing have ended."""
        live = set(tids)
        known = self._live.setdefault(pid, {})
        for tid in live - set(known):
            start, name = identify(pid, tid)
            self.thread(pid, tid, start, name, live=True)
        for tid in set(known) - live:
            self.end(known[tid])

    def end_process(self, pid: int) -> None:
        self._ended_pids.add(pid)
        for key, record in list(self._threads.items()):
            if key.pid == pid and record.alive:
                self.end(key)

    def end(self, key: LaneKey) -> None:
        record = self._threads.get(key)
        if record is None or not record.alive:
            return
        now = time.monotonic_ns()
        self._put(replace(record, alive=False, ended_ns=now))
        live = self._live.get(key.pid, {})
        if live.get(record.tid) == key:
            del live[record.tid]
        if record.lane == key:
            self._live_own[key.pid] -= 1
            self._to_release.append((now, key))
        fam = (key.pid, record.family)
        self._ended_in[fam] = self._ended_in.get(fam, 0) + 1
        ended = self._ended.setdefault(key.pid, OrderedDict())
        ended[key] = None
        while len(ended) > KEEP_ENDED:
            self._forget(ended.popitem(last=False)[0])

    def learn_idents(self, pid: int, idents: Iterable[Tuple[int, int]]) -> None:
        """tid -> pthread id pairs the probe read (py-spy names 3.9/3.10 threads by it)."""
        for tid, ident in idents:
            key = self._by_tid.get((pid, tid))
            record = self._threads.get(key) if key is not None else None
            if key is not None and record is not None and ident not in (0, record.ident):
                self._put(replace(record, ident=ident))
                self._idents.note(pid, ident, key)

    def pyspy_thread(
        self, pid: int, thread_id: int, name: str, native_tids: bool, since_ns: int = 0,
        make: bool = True,
    ) -> Optional[LaneKey]:  # fmt: skip
        """The thread py-spy reported (by tid on 3.11+, by pthread id before) in a window
        that began at ``since_ns``, named by py-spy, unless the name may be another's.
        A pthread id no thread is known by yet makes a thread of its own only if ``make``
        (no probe will tell which tid it belongs to); else None."""
        if native_tids:
            key = self.thread(pid, thread_id)
        else:
            # Named by pthread id, which threads pass on: of those that had it while the
            # window ran, py-spy met (and named) the first.
            had = self._idents.had_in_window(pid, thread_id, since_ns, self._threads)
            first = min(had, key=lambda o: o.seen_ns).key if had else None
            if first is None and not make:
                return None
            key = first if first is not None else self._new(pid, 0, thread_id, 0, "", "py-spy")
            if len(had) > 1:
                # Its samples and name are of whichever py-spy met first, which its start
                # time does not tell exactly: the samples go to the first, the name to none.
                return key
        record = self._threads[key]
        if name and py_spy_name_fits(record, name, self._threads.values(), since_ns):
            self.rename(key, name, "py-spy")
        return key

    def rename(self, key: LaneKey, name: str, source: str) -> None:
        record = self._threads.get(key)
        if record is None or _RANK[source] < _RANK[record.named_by] or name == record.name:
            return
        self._put(replace(record, name=name, named_by=source))
        if record.lane == key:
            self.timeline.rename(key, name)

    def release_old(self, now_ns: int) -> None:
        """Ended threads' lanes lose their fine history once it has left the fine window
        (nobody can zoom in on it any more); their coarse bins and tallies stay."""
        released = []
        while self._to_release and self._to_release[0][0] < now_ns - FINE_NS * FINE_BINS:
            released.append(self._to_release.popleft()[1])
        if released:
            self.timeline.release(released, [])

    # -- a recording -------------------------------------------------------------------
    def take_changes(self) -> List[Op]:
        """What changed since the last call, as journal ops: the records made, changed or
        forgotten, and (when it changed) the small per-process state beside them."""
        ops: List[Op] = []
        for key in sorted(self.changed, key=lambda k: (k.pid, k.slot)):
            record = self._threads.get(key)
            ops.append((RECORD, record) if record is not None else (FORGOTTEN, key))
        self.changed.clear()
        state = (
            dict(self._order),
            dict(self._gil),
            sorted(self._ended_pids),
            [(pid, family, lane.key) for (pid, family), lane in self._shared.items()],
            [(pid, family, tally) for (pid, family), tally in self._forgotten.items()],
        )
        if state != self._told_state:
            self._told_state = copy.deepcopy(state)
            ops.append((REGISTRY, *state))
        return ops

    def apply(self, op: Op) -> None:
        """A recording's op, replayed (the lanes and runners are the timeline's ops)."""
        if op[0] == RECORD:
            self._threads[op[1].key] = op[1]
        elif op[0] == FORGOTTEN:
            self._threads.pop(op[1], None)
        elif op[0] == REGISTRY:
            order, gil, ended, shared, forgotten = op[1:]
            self._order, self._gil, self._ended_pids = dict(order), dict(gil), set(ended)
            self._shared = {(p, f): SharedLane(k, f) for p, f, k in shared}
            self._forgotten = {(p, f): t for p, f, t in forgotten}

    # -- reading ----------------------------------------------------------------------
    def find(self, pid: int, thread_id: int) -> Optional[LaneKey]:
        """The thread a source names by tid (or, py-spy on 3.9/3.10, by pthread id)."""
        return self._by_tid.get((pid, thread_id)) or self._idents.latest(pid, thread_id)

    def get(self, key: LaneKey) -> Optional[ThreadRecord]:
        return self._threads.get(key)

    def records(self) -> List[ThreadRecord]:
        """Every thread remembered, in the order they were first seen per process."""
        return sorted(self._threads.values(), key=lambda r: (r.process_index, r.key.slot))

    def lanes(self, ended: bool = False) -> List[LaneInfo]:
        """The lanes to draw: live threads' own lanes and the shared lanes of live
        processes; ``ended``: every lane of the observation, ended threads' too."""
        own = [
            LaneInfo(r.key, r.name, r.process_index, r.tid, r.ident, r.gil)
            for r in self.records()
            if r.lane == r.key and (r.alive or ended)
        ]
        shared = [
            LaneInfo(lane.key, lane.family, self._order.get(pid, 0), 0, 0,
                     self._gil.get(pid, True), self.timeline.tally(lane.key).members, True)
            for (pid, _), lane in self._shared.items()
            if ended or pid not in self._ended_pids
        ]  # fmt: skip
        return sorted(own + shared, key=lambda x: (x.process_index, x.key.slot))

    def families(self, pid: int) -> Dict[str, Tally]:
        """Per name family of ``pid``: every member's counters, forgotten ones included."""
        out: Dict[str, Tally] = {}
        for (p, family), tally in self._forgotten.items():
            if p == pid:
                out.setdefault(family, Tally()).add(tally)
        for record in self._threads.values():
            if record.key.pid == pid:
                out.setdefault(record.family, Tally()).add(self.timeline.tally(record.key))
        return out

    def forgotten(self, pid: int) -> int:
        return sum(t.members for (p, _), t in self._forgotten.items() if p == pid)

    # -- inside -----------------------------------------------------------------------
    def _new(self, pid: int, tid: int, ident: int, start: int, name: str, source: str) -> LaneKey:
        self._serial += 1
        key = LaneKey(pid, self._serial)
        lane = self._lane_for(pid, family_of(name))
        index = self._order.setdefault(pid, len(self._order))
        record = ThreadRecord(key, lane or key, tid, ident, start, name, source, index,
                              self._gil.get(pid, True), seen_ns=time.monotonic_ns())  # fmt: skip
        if lane is None:
            self.timeline.add_lane(key, name, index)
        else:
            self.timeline.add_runner(key, lane)
        self._add(record)
        return key

    def _add(self, record: ThreadRecord) -> None:
        key = record.key
        self._put(record)
        if record.lane == key:
            self._live_own[key.pid] = self._live_own.get(key.pid, 0) + 1
        if record.tid:
            self._by_tid[key.pid, record.tid] = key
            old = self._live.setdefault(key.pid, {}).get(record.tid)
            if old is not None and old != key:
                self.end(old)  # its tid now belongs to a new thread: the old one ended
            self._live[key.pid][record.tid] = key
        if record.ident:
            self._idents.note(key.pid, record.ident, key)

    def _put(self, record: ThreadRecord) -> None:
        self._threads[record.key] = record
        self.changed.add(record.key)  # for a recording: what to write at its next frame

    def _lane_for(self, pid: int, family: str) -> Optional[LaneKey]:
        """None: a lane of its own. Else the shared lane its family (or the rest) uses."""
        shared = self._shared.get((pid, family))
        if shared is not None:
            return shared.key
        live_own = self._live_own.get(pid, 0)
        churned = self._ended_in.get((pid, family), 0) >= FOLD_AFTER
        if not churned and live_own < OWN_LANES and self._own_made.get(pid, 0) < OWN_EVER:
            self._own_made[pid] = self._own_made.get(pid, 0) + 1
            return None
        if sum(1 for p, _ in self._shared if p == pid) >= FAMILY_LANES:
            family = OTHERS
            if (pid, family) in self._shared:
                return self._shared[pid, family].key
        self._serial += 1
        lane = SharedLane(LaneKey(pid, self._serial), family)
        self._shared[pid, family] = lane
        self.timeline.add_shared_lane(lane.key, family, self._order.get(pid, 0))
        return lane.key

    def _forget(self, key: LaneKey) -> None:
        """An ended thread beyond the bound: into its family's roll-up, out of memory."""
        record = self._threads.pop(key, None)
        if record is None:
            return
        self.changed.add(key)
        fam = (key.pid, record.family)
        self._forgotten.setdefault(fam, Tally()).add(self.timeline.tally(key))
        if self._by_tid.get((key.pid, record.tid)) == key:
            del self._by_tid[key.pid, record.tid]
        self._idents.forget(key, record.ident)
        own = [key] if record.lane == key else []
        self.timeline.release(own, [key])
        self.forgotten_keys.append(key)
