"""How the py-spy sampler times a window from the lines py-spy prints (a real child process
prints them; no py-spy needed)."""

from __future__ import annotations

import selectors
import subprocess
import time
from pathlib import Path
from typing import List

from gilscope.sampling.pyspy import WINDOW_S, PySpySampler, PySpyWindow, _Window

RAW = "thread (7): spinner;spin (/x/t.py:3) 120\n"
START = "py-spy> Sampling process 100 times a second for 1 seconds. Press Control-C to exit.\n"
WROTE = "py-spy> Wrote raw flamegraph data to 'w.raw'. Samples: 120 Errors: 0\n"


def finish(tmp_path: Path, script: str) -> PySpyWindow:
    """A child that prints ``script``'s lines the way py-spy would, read to its end."""
    got: List[PySpyWindow] = []
    sampler = PySpySampler(100, executable="/bin/true", on_window=got.append, workdir=str(tmp_path))
    raw = tmp_path / "w.raw"
    raw.write_text(RAW)
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
    assert 0.25e9 < w.end_ns - w.start_ns < 5e9
    assert w.threads[0].samples == 120


def test_both_lines_in_one_read_give_no_rate(tmp_path: Path) -> None:
    """We were late for both lines (a busy machine): the window's length is unknown, so it
    must not claim a rate of intervals / 0 s (it once said 142,857,143,669 samples/s)."""
    w = finish(tmp_path, f"printf '{START}{WROTE}'")
    assert not w.timed and w.complete
    assert w.end_ns - w.start_ns == WINDOW_S * 1_000_000_000  # placed one window before its end
    assert w.intervals == 100 * WINDOW_S - 1  # py-spy does not record its last interval
