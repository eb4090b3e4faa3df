"""What self-inspection prints, understood (or refused) without a live target."""

from __future__ import annotations

import json
from typing import Dict, List, Set

import pytest

from gilscope.sampling import gil_layout
from gilscope.sampling.gil_layout import GIL_READ, GilMemory, GilOff, ProbeError, parse_layout

LAYOUT_311 = {
    "interp_ptr": 40,
    "gil": {"base": "runtime", "offset": 360},
    "tid": {"thread_id": 152, "native": 160},
    "threads_head": 16,
    "next": 8,
    "switches": 24,
    "free_threaded": False,
    "version": "3.11.7",
    "hexversion": 51054576,
    "library": {"path": "/usr/lib/libpython3.11.so.1.0", "dev": "fe:00", "inode": 26933},
    "runtime_offset": 5563712,
    "source": "self-inspection",
}


def test_a_layout_is_parsed() -> None:
    layout = parse_layout(json.dumps(LAYOUT_311))
    assert (layout.gil_offset, layout.native_tid, layout.pthread_tid) == (360, 160, None)
    assert (layout.library_dev, layout.library_inode) == ("fe:00", 26933)


def test_where_gil_waiters_sleep_is_part_of_the_layout() -> None:
    raw = dict(LAYOUT_311, waits={"syscall": 202, "start": 72, "end": 80})
    layout = parse_layout(json.dumps(raw))
    assert (layout.wait_syscall, layout.wait_start, layout.wait_end) == (202, 72, 80)
    # without them the probe still reads the GIL; it says why it cannot see waits
    failed = dict(LAYOUT_311, waits={"error": "no thread was seen waiting for the GIL"})
    layout = parse_layout(json.dumps(failed))
    assert layout.wait_syscall == -1 and "waiting" in layout.wait_error


def test_a_39_layout_goes_through_the_pthread_descriptor() -> None:
    raw = dict(LAYOUT_311, tid={"thread_id": 176, "pthread_tid": 720}, version="3.9.18")
    layout = parse_layout(json.dumps(raw))
    assert (layout.native_tid, layout.thread_id, layout.pthread_tid) == (None, 176, 720)


def test_a_free_threaded_build_with_its_gil_off_cannot_say() -> None:
    # What self_inspect.py prints under a 3.13t without -X gil=1 (derive_layout passes it):
    # it cannot hold a GIL to find it.
    with pytest.raises(GilOff):
        parse_layout('{"free_threaded": true, "gil_enabled": false}')


def test_a_free_threaded_layout_says_where_its_gil_is_enabled() -> None:
    # As 3.13.15t printed it under -X gil=1: the GIL struct starts with int enabled.
    raw = dict(LAYOUT_311, free_threaded=True, version="3.13.15",
               gil={"base": "runtime", "offset": 120536, "enabled_at": -8})  # fmt: skip
    layout = parse_layout(json.dumps(raw))
    assert layout.free_threaded and layout.enabled_at == -8
    assert not parse_layout(json.dumps(LAYOUT_311)).free_threaded


def test_a_free_threaded_layout_without_its_enabled_flag_is_refused() -> None:
    raw = dict(LAYOUT_311, free_threaded=True)
    with pytest.raises(ProbeError, match="enabled flag"):
        parse_layout(json.dumps(raw))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"error": "the interpreter\'s thread list was not found"}', "thread list"),
        ("Traceback (most recent call last):", "no layout"),
        ("", "no layout"),
    ],
)
def test_a_failed_inspection_is_one_line(text: str, says: str) -> None:
    with pytest.raises(ProbeError, match=says) as caught:
        parse_layout(text)
    assert "\n" not in str(caught.value)


def test_one_read_takes_the_fields_that_change_together() -> None:
    # interval, last_holder, locked (+ padding), switch_number: one pread of 32 bytes
    assert GIL_READ.size == 32


class ScriptedMemory(GilMemory):
    """A target whose GIL reads are given: thread state 0x10 is thread 7."""

    def __init__(self, holders: List[int]) -> None:
        self.pid, self.layout, self._fd = 1, parse_layout(json.dumps(LAYOUT_311)), -1
        self.holders = iter(holders)
        self.holder = 0
        self.switches = 0

    def wait_ready(self, timeout_s: float = 0.0) -> None:
        pass

    def tasks(self, refresh: bool = False) -> Set[int]:
        return {7}

    def _states_with_tids(self, tids: Set[int]) -> Dict[int, int]:
        return {0x10: 7}

    def read_gil(self) -> bytes:
        self.switches += 1
        self.holder = next(self.holders, self.holder)  # the last one holds on
        return GIL_READ.pack(5000, self.holder, 1, 0, self.switches)


def test_a_holder_read_between_a_takes_two_stores_is_not_a_wrong_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A take sets ``locked`` before ``last_holder``: a read in between names the one
    before, which may have ended since (a server's short threads). A verification of a
    thread-per-request server was once refused for one such read."""
    monkeypatch.setattr(gil_layout, "VERIFY_GAP_S", 0.0)
    reads = gil_layout.VERIFY_READS
    # a stranger for one read, then the next holder: not counted
    assert ScriptedMemory([0x10] * 20 + [0x99] + [0x10] * reads).verify() == {0x10: 7}
    # a wrong layout names a stranger that stays, at every read or at half of them
    with pytest.raises(ProbeError, match="not one of the interpreter's threads"):
        ScriptedMemory([0x99]).verify()
    with pytest.raises(ProbeError, match="not one of the interpreter's threads"):
        ScriptedMemory([0x10, 0x99, 0x99, 0x99, 0x99] * reads).verify()
