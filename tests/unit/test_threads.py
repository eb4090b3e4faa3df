"""The thread registry: who is who when threads come and go, fed synthetic sightings."""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest

from gilscope.model import threads as threads_module
from gilscope.model.lanes import MS, LaneKey
from gilscope.model.thread_record import family_of
from gilscope.model.threads import (
    FAMILY_LANES,
    FOLD_AFTER,
    KEEP_ENDED,
    OTHERS,
    ThreadRegistry,
)
from gilscope.model.timeline import Timeline

PID = 4242
T0 = 10**12


def registry() -> ThreadRegistry:
    return ThreadRegistry(Timeline())


def names(pid: int, tid: int) -> Tuple[int, str]:
    return 1000 + tid, f"comm-{tid}"


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("ThreadPoolExecutor-0_3", "ThreadPoolExecutor-0_*"),
        ("Thread-12 (process_request_thread)", "Thread-* (process_request_thread)"),
        ("job-17", "job-*"),
        ("MainThread", "MainThread"),
    ],
)
def test_family_folds_the_last_number(name: str, family: str) -> None:
    assert family_of(name) == family


def test_a_reused_tid_is_a_new_thread() -> None:
    reg = registry()
    reg.follow(PID, [PID, 11], names)
    old = reg.find(PID, 11)
    reg.follow(PID, [PID], names)  # 11 ended
    reg.follow(PID, [PID, 11], lambda pid, tid: (5555, "comm-new"))  # a new thread, same tid
    new = reg.find(PID, 11)
    assert old is not None and new is not None and new != old
    old_record, new_record = reg.get(old), reg.get(new)
    assert old_record is not None and not old_record.alive
    assert new_record is not None and new_record.alive and new_record.name == "comm-new"


def test_hand_offs_reach_the_thread_that_has_the_tid_now() -> None:
    reg = registry()
    tl = reg.timeline
    reg.follow(PID, [PID, 11], names)
    first = reg.thread(PID, 11)
    tl.add_holders(PID, [(T0, first), (T0 + 5 * MS, None)])
    reg.follow(PID, [PID], names)
    reg.follow(PID, [PID, 11], lambda pid, tid: (9999, "again"))
    second = reg.thread(PID, 11)
    tl.add_holders(PID, [(T0 + 10 * MS, second), (T0 + 30 * MS, None)])
    assert tl.tally(first).held_ns == 5 * MS
    assert tl.tally(second).held_ns == 20 * MS


def test_names_by_source_rank() -> None:
    reg = registry()
    key = reg.thread(PID, 11, 1, "comm-11")
    reg.rename(key, "spinner", "py-spy")
    reg.rename(key, "comm-11", "kernel")  # the kernel's name never replaces py-spy's
    record = reg.get(key)
    assert record is not None and record.name == "spinner"
    reg.end(key)
    record = reg.get(key)
    assert record is not None and record.name == "spinner" and not record.alive
    assert reg.timeline.name(key) == "spinner"  # its lane is named too


def test_a_stale_pyspy_name_is_not_taken() -> None:
    """py-spy keeps names by pthread id within a window; glibc gives an ended thread's id
    to the next one: the next thread must not get the old one's name."""
    reg = registry()
    a = reg.thread(PID, 11, 1, "thread 11")
    reg.learn_idents(PID, [(11, 0x7F00)])
    reg.pyspy_thread(PID, 11, "job-0", True, since_ns=0)
    reg.end(a)
    b = reg.thread(PID, 12, 2, "thread 12")
    reg.learn_idents(PID, [(12, 0x7F00)])  # the same pthread id
    window_start = 0  # a window that began while a still ran
    reg.pyspy_thread(PID, 12, "job-0", True, since_ns=window_start)
    b_record = reg.get(b)
    assert b_record is not None and b_record.name == "thread 12"
    # A window that began after a ended knows b's id only as b's.
    later = reg.get(a).ended_ns + 1  # type: ignore[union-attr]
    reg.pyspy_thread(PID, 12, "job-1", True, since_ns=later)
    b_record = reg.get(b)
    assert b_record is not None and b_record.name == "job-1"


def churn(reg: ThreadRegistry, n: int, hold_ms: int = 2, name: str = "job-{}") -> List[LaneKey]:
    """``n`` threads one after another (each churn goes on where the last one stopped),
    each holding the GIL ``hold_ms`` then ending."""
    tl = reg.timeline
    keys = []
    for i in range(n):
        tid = 100 + len(reg._threads) + reg.forgotten(PID)  # never one still known
        t = max(tl.latest_ns, T0) + hold_ms * MS
        key = reg.thread(PID, tid, tid, name.format(i))
        tl.add_holders(PID, [(t, key), (t + hold_ms * MS, None)])
        reg.end(key)
        keys.append(key)
    return keys


def test_a_family_shares_one_lane_once_it_churns() -> None:
    reg = registry()
    keys = churn(reg, FOLD_AFTER + 5)
    lanes = {reg.get(k).lane for k in keys}  # type: ignore[union-attr]
    own = [k for k in keys if reg.get(k).lane == k]  # type: ignore[union-attr]
    assert len(own) == FOLD_AFTER  # the first ones had lanes of their own
    assert len(lanes) == FOLD_AFTER + 1  # the rest share one
    shared = [lane for lane in reg.lanes(ended=True) if lane.members > 1]
    assert [(s.name, s.members) for s in shared] == [("job-*", 5)]
    # Each thread's own figures stay exact, however it is drawn.
    for key in keys:
        assert reg.timeline.tally(key).held_ns == 2 * MS
        assert reg.timeline.tally(key).runs == 1


def test_families_past_the_bound_go_to_one_lane() -> None:
    reg = registry()
    for f in range(FAMILY_LANES + 3):
        churn(reg, FOLD_AFTER + 1, name=f"family{f}-x{{}}")
    shared = {lane.name for lane in reg.lanes(ended=True) if lane.tid == 0}
    assert len(shared) == FAMILY_LANES + 1
    assert OTHERS in shared


def test_forgotten_threads_stay_in_their_familys_roll_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads_module, "KEEP_ENDED", 50)
    reg = registry()
    churn(reg, 200)
    listed = [r for r in reg.records() if r.key.pid == PID]
    assert len(listed) == 50
    assert reg.forgotten(PID) == 150
    (family,) = reg.families(PID).values()
    assert family.members == 200 and family.held_ns == 200 * 2 * MS and family.runs == 200
    # Over the whole run the shares sum to at most 1: the GIL is held by one at a time.
    span = (reg.timeline.started_ns(), reg.timeline.latest_ns)
    listed_share = sum(reg.timeline.totals(r.key, *span).gil_share for r in listed)
    assert listed_share + 150 * 2 * MS / (span[1] - span[0]) <= 1.0 + 1e-9


def test_memory_stays_bounded_under_churn() -> None:
    """Tens of thousands of short threads: ended ones are forgotten past the bound, their
    lanes' fine history is released, and what is left does not grow with the count."""
    reg = registry()
    churn(reg, 20_000)  # 80 s of them: more than the fine window
    pages_then = reg.timeline.memory_pages()
    churn(reg, 20_000)
    assert len(reg.records()) <= KEEP_ENDED
    assert len(reg.timeline._runners) <= KEEP_ENDED
    assert reg.timeline.memory_pages() <= pages_then + 8
    reg.release_old(T0 + 10**15)  # much later: every ended lane leaves the fine window
    lanes = reg.timeline._lanes.values()
    assert all(lane.held_fine.pages == 0 for lane in lanes if lane.released)


def test_live_lanes_and_every_lane() -> None:
    reg = registry()
    reg.follow(PID, [PID, 11, 12], names)
    reg.follow(PID, [PID, 12], names)
    live = [lane.tid for lane in reg.lanes()]
    every = [lane.tid for lane in reg.lanes(ended=True)]
    assert live == [PID, 12]
    assert every == [PID, 11, 12]


def test_workers_are_found_by_tid_and_pthread_id() -> None:
    reg = registry()
    key = LaneKey(PID, 0)
    reg.add_worker(key, "countdown-0", 0, tid=77, ident=0x7F01, chunk_ns=MS)
    assert reg.find(PID, 77) == key
    assert reg.find(PID, 0x7F01) == key
    assert reg.find(PID, 78) is None


def tallies(reg: ThreadRegistry) -> Dict[str, int]:
    return {r.name: reg.timeline.tally(r.key).held_ns for r in reg.records()}


def test_threads_with_names_of_their_own_still_share_lanes_in_the_end() -> None:
    """Names without a number to fold (``worker-abc``) are families of one: past the
    bound of lanes made, new ones share the catch-all lane, so lanes stay bounded."""
    reg = registry()
    for i in range(threads_module.OWN_EVER + 50):
        key = reg.thread(PID, 100 + i, 1, f"worker-{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}")
        reg.end(key)
    own = [k for k in reg.timeline._lanes if reg.get(k) is not None and reg.get(k).lane == k]  # type: ignore[union-attr]
    assert len(own) <= threads_module.OWN_EVER
    assert len(reg.timeline._lanes) <= threads_module.OWN_EVER + FAMILY_LANES + 1


def test_a_window_names_the_first_thread_with_a_pthread_id_it_met() -> None:
    """py-spy names a later thread with the same pthread id after the earlier one: within
    one window the earlier thread's name is its own, the later one's is not."""
    reg = registry()
    a = reg.thread(PID, 11, 1, "thread 11")
    reg.learn_idents(PID, [(11, 0x7F00)])
    reg.end(a)
    b = reg.thread(PID, 12, 2, "thread 12")
    reg.learn_idents(PID, [(12, 0x7F00)])
    since = 0  # the window began while a ran, and met both
    reg.pyspy_thread(PID, 11, "job-0", True, since_ns=since)
    reg.pyspy_thread(PID, 12, "job-0", True, since_ns=since)
    assert [reg.get(a).name, reg.get(b).name] == ["job-0", "thread 12"]  # type: ignore[union-attr]


def test_a_name_for_a_thread_whose_pthread_id_is_unknown_waits_while_threads_end() -> None:
    reg = registry()
    a = reg.thread(PID, 11, 1, "thread 11")
    reg.end(a)
    b = reg.thread(PID, 12, 2, "thread 12")  # its pthread id not read yet
    reg.pyspy_thread(PID, 12, "job-0", True, since_ns=0)
    assert reg.get(b).name == "thread 12"  # type: ignore[union-attr]
    reg.pyspy_thread(PID, 12, "job-1", True, since_ns=reg.get(a).ended_ns + 1)  # type: ignore[union-attr]
    assert reg.get(b).name == "job-1"  # type: ignore[union-attr]
