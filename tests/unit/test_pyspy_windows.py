"""How the py-spy sampler times a window from the lines py-spy prints (a real child process
prints them; no py-spy needed)."""

from __future__ import annotations

import selectors
import subprocess
import time
from pathlib import Path
from typing import List

import pytest

from gilscope.sampling.pyspy import WINDOW_S, PySpySampler, PySpyWindow, _Window

RAW = "thread (7): spinner;spin (/x/t.py:3) 120\n"
START = "py-spy> Sampling process 100 times a second for 1 seconds. Press Control-C to exit.\n"
WROTE = "py-spy> Wrote raw flamegraph data to 'w.raw'. Samples: 120 Errors: 0\n"


def finish(tmp_path: Path, script: str, text: str = RAW) -> PySpyWindow:
    """A child that prints ``script``'s lines the way py-spy would, read to its end."""
    got: List[PySpyWindow] = []
    sampler = PySpySampler(100, executable="/bin/true", on_window=got.append, workdir=str(tmp_path))
    raw = tmp_path / "w.raw"
    raw.write_text(text)
    proc = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    window = _Window(4242, proc, str(raw), intervals=100 * WINDOW_S)
    assert proc.stdout is not None
    sampler._selector.register(proc.stdout, selectors.EVENT_READ, window)
    sampler._windows[proc.pid] = window
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        for key, _ in sampler._selector.select(0.5):
            if key.data is window:
                sampler._read(window)
    sampler.stop()
    (result,) = got
    return result


def test_a_window_read_as_it_runs_is_timed(tmp_path: Path) -> None:
    w = finish(tmp_path, f"printf '{START}'; sleep 0.3; printf '{WROTE}'")
    assert w.timed and w.complete
    # Timed by when we read each line: 0.3 s apart as printed, less if the first read came
    # late (a busy machine), never the same instant.
    assert 0 < w.end_ns - w.start_ns < 5e9
    assert w.threads[0].samples == 120


def test_both_lines_in_one_read_give_no_rate(tmp_path: Path) -> None:
    """We were late for both lines (a busy machine): the window's length is unknown, so it
    must not claim a rate of intervals / 0 s (it once said 142,857,143,669 samples/s)."""
    w = finish(tmp_path, f"printf '{START}{WROTE}'")
    assert not w.timed and w.complete
    assert w.end_ns - w.start_ns == WINDOW_S * 1_000_000_000  # placed one window before its end
    assert w.intervals == 100 * WINDOW_S - 1  # py-spy does not record its last interval


def test_a_complete_window_counts_intervals_taken_less_unreadable(tmp_path: Path) -> None:
    """py-spy stops on its last interval without recording it (a saturated target showed
    499 samples of 500, never 500), and says in how many it could not read the holder:
    those say nothing about who held the GIL."""
    wrote = WROTE.replace("Samples: 120 Errors: 0", "Samples: 60 Errors: 9")
    w = finish(
        tmp_path, f"printf '{START}'; sleep 0.2; printf '{wrote}'", "thread (7): a;f (x.py:1) 60\n"
    )
    assert (w.intervals, w.errors, w.read_intervals) == (99, 9, 90)
    assert w.threads[0].share == pytest.approx(60 / 90)


def test_a_window_cut_short_counts_what_its_length_allows(tmp_path: Path) -> None:
    """py-spy does not say how many intervals it took before the target exited: as many as
    the window's measured length holds at its rate, but never fewer than it recorded nor
    more than a complete window (our clock on py-spy's lines is late by a varying amount)."""
    exited = "\npy-spy> Stopped sampling because process exited\n"
    few = "thread (7): a;f (x.py:1) 20\n"
    for recorded, text, sleep in ((20, few, 0.3), (120, RAW, 0.3), (20, few, 1.2)):
        wrote = WROTE.replace("Samples: 120", f"Samples: {recorded}")
        w = finish(tmp_path, f"printf '{START}'; sleep {sleep}; printf '{exited}{wrote}'", text)
        assert not w.complete
        measured = round((w.end_ns - w.start_ns) / 1e9 * 100)  # 100 samples/s
        assert w.intervals == max(min(measured, 99), recorded)
        assert w.threads[0].share <= 1.0
