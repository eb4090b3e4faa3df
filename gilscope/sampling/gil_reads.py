"""What two consecutive reads of one target say happened between them: hand-offs of its
GIL, waits for it, re-acquisitions. Pure logic, fed by the probe process (no I/O here).

A read gives the GIL's last holder (a thread, whether it still holds the GIL or not), whether
it is held, and the interpreter's switch count, which grows by one every time the GIL goes to
a thread other than its last holder; and each Python thread's state (``thread_states``).

* **Hand-offs.** If the count grew by ``d`` between two reads, ``d`` threads took the GIL in
  turn, the last of them the holder read now. When ``d > 1`` the ones between were not read:
  they are named from what the reads say (threads that were waiting and stopped, then still
  waiting, then running, then the most recently active, never one twice in a row) and placed
  at the middle of the gap with no length: a hold the reads did not see gets no time, one a
  read saw gets about a read period, so over many holds each thread's time is right on
  average, and every hand-off is counted.
* **Re-acquisitions.** A thread that takes the GIL back with nobody between is no switch. If
  the count did not move and the GIL was free at the first read, only its last holder can
  have held it since: each sleep of that thread that ended since (it woke from a call it
  had let the GIL go for, as the kernel's count of its sleeps and its state at both reads
  say) is one acquisition. One that let the GIL go for a call that did not sleep (a send)
  and took it straight back left no trace: the baton never left its hand. Nor, when the
  count did move, does one between two switches of the same gap (but the previous
  holder's, before the first switch).
* **Waits.** A thread read asleep on the GIL's condition variable waits from the middle of
  the gap before; its wait ends when it takes the GIL (a hand-off to it), or at the middle
  of the gap before a read that finds it blocked in anything else.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set, Tuple

from gilscope.sampling.thread_states import BLOCKED, RUNNING, WAITING

MAX_CHAIN = 4096  # hand-offs placed in one gap (the count can jump after a stall)

Change = Tuple[int, int, int]  # tid (0: nobody, -1: unknown), t_ns, switches
Wait = Tuple[int, int, int, bool]  # tid, start_ns, end_ns, ended (False: still waiting)


class GilReads:
    """One target's reads, folded into hand-offs (``changes``) and waits (``waits``), which
    the caller takes after each read."""

    def __init__(self, period_ns: int) -> None:
        self.period_ns = period_ns  # the read period now (it adapts); dates late reads
        self.t = 0  # time of the last read
        self.tid = -2  # holder last reported (0: nobody, -1: unknown, -2: nothing yet)
        self.last = 0  # the GIL's last holder at the last read, held or not
        self.locked = False
        self.switches = -1
        self.sleeps: Dict[int, int] = {}  # the holders' sleeps so far, at the last read
        # Threads read woken (running, not holding) after a sleep that ended: the GIL they
        # are about to take is counted at the next read (a switch to them, or not).
        self.pending: Set[int] = set()
        self._pending: Set[int] = set()
        self.states: Dict[int, int] = {}  # tid -> state at the last read
        self.waiting: Dict[int, int] = {}  # tid -> waiting since
        self.active: Dict[int, int] = {}  # tid -> last seen holding, waiting or running
        self.changes: List[Change] = []
        self.waits: List[Wait] = []
        self._taken: Dict[int, int] = {}  # this read: tid -> when it last took the GIL

    def read(
        self, t: int, locked: bool, last: int, switches: int, states: Dict[int, int],
        sleeps: Optional[Dict[int, int]] = None,
    ) -> None:  # fmt: skip
        """One read at ``t``: ``last`` is the tid of the GIL's last holder (-1: not a known
        thread), ``states`` each Python thread's state, ``sleeps`` the times the last holder
        and the one read before (``self.last``) went to sleep so far, as far as read."""
        sleeps = sleeps or {}
        self._taken = {}
        self._pending, self.pending = self.pending, set()
        if self.switches < 0:
            self._first(t, locked, last, switches, states)
        else:
            gap = max(t - self.t, 0)
            # On time: a change is dated at the middle of the gap. A late read was most
            # often late *because* of the hand-off (the new holder woke and took the core),
            # which then lies near the gap's start.
            at = self.t + min(gap // 2, self.period_ns)
            d = switches - self.switches
            if d > 0:
                at = self._handed(at, min(d, MAX_CHAIN), locked, last, switches, states, sleeps)
            else:
                at = self._kept(at, locked, last, switches, states, sleeps)
            self._waits(at, locked, last, states)
        for tid in self._taken:
            self.active[tid] = t
        self.t, self.locked, self.last, self.switches = t, locked, last, switches
        self.sleeps = sleeps
        self.states = dict(states)
        for tid, state in states.items():
            if state != BLOCKED:
                self.active[tid] = t
        for tid in [x for x in self.active if x not in states]:
            del self.active[tid]

    # -- hand-offs ----------------------------------------------------------------------
    def _first(
        self, t: int, locked: bool, last: int, switches: int, states: Dict[int, int]
    ) -> None:
        if locked:
            self._took(last, t, switches)
        else:
            self._emit(0, t, switches)
        for tid, state in states.items():
            if state == WAITING and not (locked and tid == last):
                self.waiting[tid] = t

    def _handed(
        self, at: int, d: int, locked: bool, last: int, switches: int, states: Dict[int, int],
        sleeps: Dict[int, int],
    ) -> int:  # fmt: skip
        """``d`` threads took the GIL in turn since the last read; ``last`` was the last."""
        takers = self.between(d - 1, last, states)
        # Before the first of them, the holder read before may have taken the GIL back
        # after a sleep: if it had let it go and slept in something else (not dropped it
        # on request, whose sleeps are for the GIL) and takes no turn in this chain.
        again = 0
        mine = [*takers, last].count(self.last)
        if not self.locked and self.states.get(self.last) == BLOCKED and not mine:
            again = self._ended(self.last, states, sleeps, False)
        if again > 0:
            for _ in range(min(again, MAX_CHAIN)):
                self._took(self.last, at, switches - d)
                self._emit(0, at + 1, switches - d)
                at += 2
        for i, tid in enumerate(takers):
            self._took(tid, at, switches - d + 1 + i)
            at += 1
        self._took(last, at, switches)
        if not locked:
            self._emit(0, at + 1, switches)  # it has let go again since
            at += 1
        return at + 1

    def _kept(
        self, at: int, locked: bool, last: int, switches: int, states: Dict[int, int],
        sleeps: Dict[int, int],
    ) -> int:  # fmt: skip
        """No switch: only the last holder can have held the GIL since the last read. Only
        if the GIL was free at the last read: the GIL, the threads and their sleeps are read
        a few µs apart, and a holder told to drop the GIL may have slept for it in between
        (read holding, yet one sleep more)."""
        ended = 0
        if last == self.last and not self.locked:
            ended = self._ended(last, states, sleeps, locked)
        if ended > 0:
            for _ in range(min(ended - locked, MAX_CHAIN)):
                self._took(last, at, switches)
                self._emit(0, at + 1, switches)
                at += 2
            if locked:
                self._took(last, at, switches)  # the last one holds it now
                at += 1
            return at
        holder = last if locked else 0
        if holder != self.tid:
            if holder:
                self._took(holder, at, switches)
            else:
                self._emit(0, at, switches)
            at += 1
        return at

    def _ended(self, tid: int, states: Dict[int, int], sleeps: Dict[int, int], holds: bool) -> int:
        """Sleeps of ``tid`` that ended since the last read (0: not known). A Python thread
        lets the GIL go around each call that may block and takes it back when the call
        returns: each is one acquisition. Not for a thread read asleep while it held the
        GIL (C code that blocks holding it), nor one whose count was not read. ``holds``:
        it holds the GIL now."""
        now, before = sleeps.get(tid, -1), self.sleeps.get(tid, -1)
        was, isnow = self.states.get(tid), states.get(tid)
        held_before = self.locked and tid == self.last
        if now < before or before < 0 or tid <= 0:
            return 0
        if (held_before and was == BLOCKED) or (holds and isnow == BLOCKED):
            return 0
        asleep = (WAITING, BLOCKED)
        ended = now - before + (was in asleep) - (isnow in asleep) + (tid in self._pending)
        if ended > 0 and isnow == WAITING:
            ended -= 1  # its last sleep ended in a wait for the GIL, not (yet) in taking it
        elif ended > 0 and isnow == RUNNING and not holds:
            ended -= 1  # woken, not holding it yet: counted when it has
            self.pending.add(tid)
        return ended

    def between(self, n: int, last: int, states: Dict[int, int]) -> List[int]:
        """The ``n`` threads that most likely took the GIL between the last holder read
        before and ``last``: consecutive takers always differ (the count moves only when
        the GIL goes to another thread)."""
        if n <= 0:
            return []
        pool = self._candidates(states)
        out: List[int] = []
        used: Set[int] = set()
        prev = self.last
        for i in range(n):
            banned = (prev, last) if i == n - 1 else (prev,)
            pick = next((c for c in pool if c not in used and c not in banned), None)
            if pick is None:
                pick = next((c for c in (self.last, last, *pool) if c not in banned), -1)
            out.append(pick)
            used.add(pick)
            prev = pick
        return out

    def _candidates(self, states: Dict[int, int]) -> List[int]:
        by_wait = sorted(self.waiting, key=lambda tid: self.waiting[tid])
        stopped = [tid for tid in by_wait if states.get(tid) != WAITING]
        still = [tid for tid in by_wait if states.get(tid) == WAITING]
        began = [tid for tid, s in states.items() if s == WAITING and tid not in self.waiting]
        running = [
            tid for tid, s in states.items() if s == RUNNING or self.states.get(tid) == RUNNING
        ]
        recent = sorted(self.active, key=lambda tid: -self.active[tid])
        return list(dict.fromkeys((*stopped, *still, *began, *running, *recent)))

    def _took(self, tid: int, at: int, switches: int) -> None:
        """``tid`` took the GIL at ``at``: a wait it was in ends there."""
        since = self.waiting.pop(tid, None)
        if since is not None:
            self.waits.append((tid, since, max(at, since), True))
        self._taken[tid] = at
        self._emit(tid, at, switches)

    def _emit(self, tid: int, at: int, switches: int) -> None:
        self.changes.append((tid, at, switches))
        self.tid = tid

    # -- waits --------------------------------------------------------------------------
    def _waits(self, at: int, locked: bool, last: int, states: Dict[int, int]) -> None:
        for tid, state in states.items():
            since = self.waiting.get(tid)
            holds = locked and tid == last
            if state == WAITING and not holds:
                if since is None:
                    # After taking the GIL between the reads, if it did; else from the middle.
                    taken = self._taken.get(tid)
                    self.waiting[tid] = taken + 1 if taken is not None else at
            elif since is not None and (state == BLOCKED or holds):
                # Blocked in something else: it took the GIL (unseen) and let go since.
                del self.waiting[tid]
                self.waits.append((tid, since, max(at, since), True))
            # RUNNING, not holding: woken (the GIL was let go for it) or between two timed
            # waits: still waiting.
        for tid in [x for x in self.waiting if x not in states]:
            self.waits.append((tid, self.waiting.pop(tid), at, True))  # it has ended

    def ongoing(self) -> Iterable[Wait]:
        """Waits still going on at the last read, for the live view."""
        return [(tid, since, max(self.t, since), False) for tid, since in self.waiting.items()]

    def forget(self, tids: Iterable[int]) -> None:
        """Threads that ended: no longer candidates (a wait of theirs ends at the next read,
        which no longer finds them)."""
        for tid in tids:
            self.active.pop(tid, None)

    def take(self) -> Tuple[List[Change], List[Wait]]:
        changes, waits = self.changes, self.waits
        self.changes, self.waits = [], []
        return changes, waits

    @property
    def holder(self) -> Optional[int]:
        """The holder last reported (None: nothing reported yet)."""
        return None if self.tid == -2 else self.tid
