"""A thread's /proc/PID/task/TID/syscall line, read as waiting for the GIL or not."""

from __future__ import annotations

import os
import threading
import time

from gilscope.sampling.thread_states import BLOCKED, RUNNING, WAITING, ThreadStates

GIL_COND = 0x7F2E08456200  # where the GIL's condition variable's futex words are


def states() -> ThreadStates:
    return ThreadStates(os.getpid(), 202, GIL_COND, GIL_COND + 8)


def test_lines_are_read_as_states() -> None:
    s = states()
    assert s._state(b"running\n") == RUNNING
    assert s._state(b"202 0x7f2e08456204 0x89 0x0 0x7f2e071d2b 0x0 0x0 0x7ffe 0x7f2e\n") == WAITING
    # a futex elsewhere (a lock, an Event) or another call (recvfrom, a sleep) is not the GIL
    assert s._state(b"202 0x7f2e08456208 0x89 0x0 0x0 0x0 0x0 0x7ffe 0x7f2e\n") == BLOCKED
    assert s._state(b"45 0x3 0x7f10cc6cf5f0 0x8 0x0 0x0 0x0 0x7f10 0x7f10\n") == BLOCKED
    assert s._state(b"-1 0x7ffe5f29d708 0x7f0f7ffeb2ad\n") == BLOCKED  # not in a call


def test_a_real_thread_is_read_and_its_sleeps_counted() -> None:
    go = threading.Event()
    tids = []

    def parked() -> None:
        tids.append(threading.get_native_id())
        go.wait()

    t = threading.Thread(target=parked)
    t.start()
    try:
        while not tids:
            pass
        s = states()
        s.track(tids)
        assert s.read()[tids[0]] in (RUNNING, BLOCKED)  # on its way into the wait, or in it
        assert s.sleeps(tids[0]) >= 0
        assert s.sleeps(12345678) == -1  # not a thread it reads
    finally:
        go.set()
        t.join()
    # ended: dropped (join returns before the kernel has quite let the thread go)
    deadline = time.monotonic() + 10
    while s.read() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.read() == {}
    s.close()
