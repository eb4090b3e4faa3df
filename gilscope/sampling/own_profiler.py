"""The target interpreter's own sampling profiler (CPython 3.15+): GIL stacks where py-spy
cannot go.

CPython 3.15 ships one (``python -m profiling.sampling``; it calls itself Tachyon). It reads
a process of its *own* version only ("Can't attach from a Python 3.15 process to a Python
3.14 process"), so it is run with the target's own binary. gilscope runs it the way it runs
py-spy (``pyspy.py``): bounded windows, ``attach -a --mode gil -d 1 --collapsed``, started
every half second at half the rate, each written to a file read when it exits. ``--mode
gil`` keeps only samples in which a thread held the GIL; its last lines say how many
sampling intervals it had and over how long (``Captured 500 samples in 1.00 seconds``), so a
thread's share is its samples over those, as with py-spy's ``--gil``. The collapsed format is
one stack per line, outermost frame first: ``tid:4242;file.py:func:12;… count``.

Each window starts an interpreter (~0.07 s of CPU here): it costs more than py-spy's, see
benchmarks/README.md. Standard library only.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from typing import Dict, List, Optional, Tuple

from gilscope.sampling.executables import is_python_executable
from gilscope.sampling.gil_stacks import Frame, ThreadGil, top_stacks

PROFILER = "profiling.sampling"
CHECK_TIMEOUT_S = 10.0
_CAPTURED = re.compile(r"Captured (?P<n>\d+) samples in (?P<s>[0-9.]+) seconds")
_HAS_IT = "import profiling.sampling"
_checked: Dict[Tuple[int, int], Optional[str]] = {}  # (dev, inode) of a binary -> itself


def profiler_python(pid: int) -> Optional[str]:
    """The target's own interpreter binary, if it ships the sampling profiler (3.15+).

    Asked once per binary (an import in a fresh interpreter, ~0.07 s)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        st = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return None
    key = (st.st_dev, st.st_ino)
    if key in _checked:
        return _checked[key]
    found: Optional[str] = None
    if is_python_executable(exe):
        try:
            done = subprocess.run(
                [exe, "-I", "-S", "-c", _HAS_IT],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHECK_TIMEOUT_S,
            )
            found = exe if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            found = None
    _checked[key] = found
    return found


def profiler_argv(python: str, pid: int, rate_hz: int, seconds: int, path: str) -> List[str]:
    """One window: every thread's stack while it holds the GIL, collapsed, to ``path``."""
    return [
        python, "-I", "-S", "-m", PROFILER, "attach", "--all-threads", "--mode", "gil",
        "--sampling-rate", str(rate_hz), "--duration", str(seconds),
        "--collapsed", "--output", path, str(pid),
    ]  # fmt: skip


def parse_captured(line: str) -> Optional[Tuple[int, float]]:
    """(sampling intervals, seconds) from the profiler's ``Captured … samples in … seconds``."""
    m = _CAPTURED.search(line)
    return (int(m["n"]), float(m["s"])) if m else None


def parse_collapsed(text: str, intervals: int) -> Tuple[ThreadGil, ...]:
    """Per-thread GIL share and top stacks from ``--collapsed`` output: the same shapes as
    py-spy's (``pyspy.parse_raw``), so the ledgers take either. It names no threads: the
    registry names them from /proc (3.15 gives the kernel the Python name)."""
    counts: Dict[int, int] = {}
    stacks: Dict[int, Counter[Tuple[Frame, ...]]] = {}
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack.startswith("tid:") or not count_text.isdigit():
            continue
        head, *frame_texts = stack.split(";")
        tid_text = head[len("tid:") :]
        if not tid_text.isdigit():
            continue
        tid = int(tid_text)
        frames = tuple(f for f in (_frame(t) for t in frame_texts) if f is not None)
        counts[tid] = counts.get(tid, 0) + int(count_text)
        stacks.setdefault(tid, Counter())[frames] += int(count_text)
    out = []
    for tid, n in counts.items():
        top = top_stacks(stacks[tid], intervals)
        out.append(ThreadGil(tid, "", n, n / max(intervals, 1), top))
    return tuple(sorted(out, key=lambda t: -t.samples))


def _frame(text: str) -> Optional[Frame]:
    """``threading.py:Thread.run:1161`` (file, qualified name, line): the file may hold a
    colon, a qualified name never does."""
    rest, _, line = text.rpartition(":")
    file, _, function = rest.rpartition(":")
    if not file or not function or not line.isdigit():
        return None
    return Frame(function, file, int(line))
