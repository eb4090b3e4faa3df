"""py-spy, sampling every workload process in overlapping non-blocking windows.

``py-spy record`` writes its output only when it exits, so a live view needs windows. Each
window is ``record --nonblocking --gil --format raw --duration 1`` at half the asked rate,
and a new one starts every half second: two windows always overlap, so there is no gap while
the next one attaches, the combined rate is the asked rate, and results arrive twice a second.
A fixed duration also fixes the number of sampling intervals, which is what per-thread GIL
share and the achieved rate are measured against: with ``--gil`` py-spy only keeps samples in
which some thread held the GIL, so the intervals must be counted apart from the samples. py-spy
counts its duration in intervals, not seconds (rate × seconds of them, however late it runs),
and stops on the last one without recording it: a complete window has rate × seconds − 1. Its
last line, ``Samples: N Errors: M``, gives the GIL-holding samples and the intervals whose
non-blocking read failed (holder unknown: not counted as "nobody held it").

Never blocking mode: it pauses the target, slows it down and biases the shares.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Deque, Dict, Optional, Set, Tuple

from gilscope.children import reap, spawn
from gilscope.sampling.gil_stacks import Frame, ThreadGil, top_stacks
from gilscope.sampling.own_profiler import (
    parse_captured,
    parse_collapsed,
    profiler_argv,
    profiler_python,
)
from gilscope.sampling.proc_threads import process_alive

WINDOW_S = 1  # py-spy takes whole seconds only
PERIOD_S = 0.5
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")
_THREAD = re.compile(r"^thread \((?P<tid>[0-9a-fA-Fx]+)\)(?:: (?P<name>.*))?$")
# py-spy's last line: "Wrote raw flamegraph data to '…'. Samples: N Errors: M"
_TALLY = re.compile(rb"Samples: (?P<samples>\d+) Errors: (?P<errors>\d+)")


@dataclass(frozen=True)
class PySpyWindow:
    pid: int
    start_ns: int
    end_ns: int
    # Sampling intervals py-spy took: rate × seconds − 1 for a complete window; for one cut
    # short, estimated from its measured length (and at least the samples it recorded).
    intervals: int
    complete: bool  # False when the target exited before the window's end
    threads: Tuple[ThreadGil, ...]
    # False when py-spy's start and end lines reached us in one read (we were late for
    # both): the window's length is then unknown, and it says nothing about the rate.
    timed: bool = True
    errors: int = 0  # intervals whose read failed: who held the GIL then is unknown
    # When py-spy was started: it cannot have sampled earlier (start_ns is when we read
    # its first line, which a busy machine delays).
    launched_ns: int = 0

    @property
    def rate_hz(self) -> float:
        return self.intervals / max((self.end_ns - self.start_ns) / 1e9, 1e-9)

    @property
    def read_intervals(self) -> int:
        """Intervals in which py-spy saw who held the GIL, or that nobody did: what a
        thread's samples are a share of."""
        return max(self.intervals - self.errors, 1)


@dataclass(frozen=True)
class PySpyProblem:
    """Why py-spy could not sample a process, and what would fix it; one line each."""

    pid: int
    reason: str
    fix: str
    # py-spy does not know this interpreter's build or version (a free-threaded 3.13t, a
    # CPython newer than it): not a fault to fix, a limit (the stacks pane says so)
    unreadable: bool = False
    sampler: str = "py-spy"

    def __str__(self) -> str:
        return f"{self.sampler} cannot sample pid {self.pid}: {self.reason}. {self.fix}".strip()


def find_pyspy() -> Optional[str]:
    """py-spy beside this interpreter (an unactivated venv), else on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("py-spy")


def parse_raw(text: str, intervals: int) -> Tuple[ThreadGil, ...]:
    """Per-thread GIL share and top stacks from ``--format raw --threads`` output."""
    counts: Dict[Tuple[int, str], int] = {}
    stacks: Dict[Tuple[int, str], Counter[Tuple[Frame, ...]]] = {}
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        head, *frame_texts = stack.split(";")
        m = _THREAD.match(head)
        if m is None:
            continue
        key = (int(m["tid"], 0), m["name"] or "")
        frames = tuple(f for f in (_parse_frame(t) for t in frame_texts) if f is not None)
        counts[key] = counts.get(key, 0) + int(count_text)
        stacks.setdefault(key, Counter())[frames] += int(count_text)
    out = []
    for (tid, name), n in counts.items():
        top = top_stacks(stacks[tid, name], intervals)
        out.append(ThreadGil(tid, name, n, n / max(intervals, 1), top))
    return tuple(sorted(out, key=lambda t: -t.samples))


def _parse_frame(text: str) -> Optional[Frame]:
    m = _FRAME.match(text)
    if m is None:
        return None
    return Frame(m["func"], m["file"], int(m["line"]))


def explain_failure(pid: int, stderr: str) -> PySpyProblem:
    """Turn py-spy's exit message into one line of reason and one of fix."""
    text = stderr.lower()
    if "permission denied" in text or "operation not permitted" in text or "os error 1)" in text:
        return PySpyProblem(
            pid,
            "ptrace permission denied",
            "Run gilscope as root, give py-spy CAP_SYS_PTRACE "
            "(sudo setcap cap_sys_ptrace+ep $(which py-spy)), or allow ptrace of your own "
            "processes (sudo sysctl kernel.yama.ptrace_scope=0).",
        )
    if any(said in text for said in _UNREADABLE):
        return PySpyProblem(
            pid,
            "it cannot read this interpreter's build or version",
            "Stacks need a py-spy that knows it (pip install -U py-spy).",
            unreadable=True,
        )
    if "failed to find python version" in text:
        return PySpyProblem(
            pid, "it is not a CPython process", "Point --python at a CPython interpreter binary."
        )
    if "no such process" in text or "executable name" in text:
        return PySpyProblem(pid, "the process is gone", "Restart the run (r).")
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "no output")
    return PySpyProblem(pid, last[:160], "Check that py-spy runs: py-spy dump --pid PID.")


# What py-spy 0.4 says of a CPython it cannot read: a free-threaded build (no interpreter
# where it looks), a version it does not know.
_UNREADABLE = (
    "failed to find a python interpreter in the .data section",
    "unsupported version of python",
    "cannot detect gil holding in version",
    "for py_debugoffsets",
)
PYSPY, PROFILER = "py-spy", "profiler"  # what samples a process: see PySpySampler.source


class _Window:
    def __init__(self, pid: int, proc: Any, path: str, intervals: int, source: str = PYSPY) -> None:
        self.pid = pid
        self.source = source
        self.proc = proc
        self.launched_ns = time.monotonic_ns()
        self.path = path
        self.intervals = intervals
        self.start_ns = 0
        self.end_ns = 0
        self.start_read = 0  # which read of py-spy's output saw the start line
        self.end_read = 0
        self.reads = 0
        self.target_exited = False
        self.buffer = b""
        self.tally: Optional[Tuple[int, int]] = None  # py-spy's (Samples, Errors)


class PySpySampler:
    """Keeps overlapping py-spy windows running on every attached pid, in one thread.

    Where py-spy cannot sample a process (not installed; a build or version it does not
    know) and its interpreter ships its own sampling profiler (CPython 3.15+), that one
    samples it instead, in the same windows (``own_profiler.py``)."""

    def __init__(
        self,
        rate_hz: int = 1000,
        executable: Optional[str] = None,
        on_window: Optional[Callable[[PySpyWindow], None]] = None,
        on_problem: Optional[Callable[[PySpyProblem], None]] = None,
        history: int = 64,
        workdir: Optional[str] = None,
    ) -> None:
        """``workdir``: where py-spy writes its windows (a new temp dir by default)."""
        self.rate_hz = rate_hz
        self.executable = executable or find_pyspy()
        self.windows: Deque[PySpyWindow] = deque(maxlen=history)
        self._on_window = on_window
        self._on_problem = on_problem
        self._lock = threading.Lock()
        self._targets: Dict[int, float] = {}  # pid -> next launch (monotonic s)
        self._failures: Dict[int, int] = {}
        self._reported: Set[int] = set()
        self._sampling: Set[int] = set()  # pids a window has begun to sample
        self._windows: Dict[int, _Window] = {}  # py-spy pid -> its window, while it runs
        # pid -> PROFILER (its interpreter's own profiler), or "" (nothing can sample it)
        self._sources: Dict[int, str] = {}
        self._profilers: Dict[int, str] = {}  # pid -> its interpreter, running the profiler
        self._unreadable: Dict[int, PySpyProblem] = {}  # py-spy could not read it
        self._tmp = tempfile.mkdtemp(prefix="pyspy-", dir=workdir)
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="gilscope-pyspy", daemon=True)
        self._seq = 0

    @property
    def available(self) -> bool:
        return self.executable is not None

    def start(self) -> None:
        self._thread.start()

    def source(self, pid: int) -> str:
        """What samples ``pid``: "py-spy", "profiler" (its interpreter's own), or "" (nothing:
        see ``unreadable``)."""
        with self._lock:
            return self._sources.get(pid, PYSPY if self.executable else "")

    def unreadable(self, pid: int) -> Optional[PySpyProblem]:
        """Why py-spy could not read ``pid``'s interpreter, if that was the reason."""
        with self._lock:
            return self._unreadable.get(pid)

    def settled(self, pid: int) -> bool:
        """Whether ``pid`` is being sampled, or will not be (nothing can sample it, or its
        sampler failed): gilscope's workers wait for it before "go", so that the stacks
        and spy% cover a short run from its start."""
        with self._lock:
            return (
                pid in self._sampling
                or pid in self._unreadable
                or self._failures.get(pid, 0) > 0
                or self._sources.get(pid) == ""
                or (not self.executable and pid not in self._sources)
            )

    def landing(self) -> bool:
        """Whether a window of a process that has exited is still to land. py-spy writes
        a window's samples when it sees its target go; on a busy machine that takes a
        while, and a short run's only stacks may be in it."""
        with self._lock:
            pids = {w.pid for w in self._windows.values()}
        return any(not process_alive(pid) for pid in pids)

    def attach(self, pid: int) -> None:
        with self._lock:
            self._targets.setdefault(pid, 0.0)
        os.write(self._wake_w, b"x")

    def detach(self, pid: int) -> None:
        with self._lock:
            self._targets.pop(pid, None)
            self._sampling.discard(pid)

    def detach_all(self) -> None:
        with self._lock:
            self._targets.clear()
            self._sampling.clear()

    def stop(self) -> None:
        """Stop sampling, kill any py-spy still running, release every fd and temp file."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(2.0)
        reap([w.proc for w in self._windows.values()], grace_s=0.2)
        self._windows.clear()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- the sampler thread -----------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                with self._lock:
                    due = [pid for pid, t in self._targets.items() if t <= now]
                    next_at = min(self._targets.values(), default=now + 1.0)
                for pid in due:
                    self._launch(pid, now)
                timeout = max(0.0, min(next_at, now + 1.0) - time.monotonic())
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        os.read(self._wake_r, 4096)
                    else:
                        self._read(key.data)
        finally:
            reap([w.proc for w in self._windows.values()], grace_s=0.2)

    def _launch(self, pid: int, now: float) -> None:
        with self._lock:
            if pid not in self._targets:
                return  # detached since it fell due
            # Keep the cadence; when behind (or just attached), the next one is a period on.
            due = self._targets[pid] + PERIOD_S
            self._targets[pid] = due if due > now else now + PERIOD_S
        source = self._sources.get(pid, PYSPY if self.executable else None)
        if source is None:  # no py-spy: its own profiler, if its interpreter has one
            source = self._fall_back(pid)
        if not source:
            return
        per_window_rate = max(1, round(self.rate_hz * PERIOD_S / WINDOW_S))
        self._seq += 1
        path = os.path.join(self._tmp, f"{pid}-{self._seq}.raw")
        if source == PROFILER:
            argv = profiler_argv(self._profilers[pid], pid, per_window_rate, WINDOW_S, path)
        else:
            assert self.executable is not None
            argv = [
                self.executable, "record", "--nonblocking", "--gil", "--threads",
                "--format", "raw", "--rate", str(per_window_rate),
                "--duration", str(WINDOW_S), "--pid", str(pid), "--output", path,
            ]  # fmt: skip
        try:
            proc = spawn(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # A backtrace would bury py-spy's one-line reason that explain_failure reads.
                env=dict(os.environ, RUST_BACKTRACE="0"),
            )
        except OSError as e:
            self._problem(PySpyProblem(pid, f"{source} would not start ({e})", "Reinstall it."))
            return
        window = _Window(pid, proc, path, per_window_rate * WINDOW_S, source)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self._selector.register(proc.stdout, selectors.EVENT_READ, window)
        with self._lock:  # read by landing() from other threads
            self._windows[proc.pid] = window
        if source == PROFILER:  # says nothing until its window ends: started is all we know
            with self._lock:
                self._sampling.add(pid)

    def _read(self, window: _Window) -> None:
        stdout: IO[bytes] = window.proc.stdout
        try:
            chunk = os.read(stdout.fileno(), 65536)
        except BlockingIOError:
            return
        now = time.monotonic_ns()
        if chunk:
            window.reads += 1
            window.buffer += chunk
            *lines, window.buffer = window.buffer.split(b"\n")
            for line in lines:
                captured = parse_captured(line.decode(errors="replace"))
                if window.source == PROFILER and captured is not None:
                    # Its one line, at the end: how many intervals, over how long (its own
                    # clock, so the window is timed even though we read it at once).
                    window.intervals, seconds = captured
                    window.end_ns, window.end_read = now, window.reads
                    window.start_ns = now - int(seconds * 1e9)
                    window.target_exited = seconds < 0.9 * WINDOW_S
                elif b"Sampling process" in line:
                    window.start_ns, window.start_read = now, window.reads
                    with self._lock:
                        if window.pid in self._targets:
                            self._sampling.add(window.pid)
                elif b"process exited" in line:
                    window.target_exited = True
                elif b"Wrote" in line:
                    window.end_ns, window.end_read = now, window.reads
                    m = _TALLY.search(line)
                    if m is not None:
                        window.tally = (int(m["samples"]), int(m["errors"]))
            return
        self._selector.unregister(stdout)
        try:
            self._finish(window, now)
        finally:
            with self._lock:  # landed: _finish has handed it on
                del self._windows[window.proc.pid]

    @staticmethod
    def _pyspy_intervals(window: _Window, text: str, length_ns: int) -> Tuple[int, int]:
        """py-spy's (intervals, errors) in ``window``, ``length_ns`` long."""
        if window.tally is not None:
            held, errors = window.tally
        else:  # py-spy's last line did not reach us: count its samples ourselves
            held, errors = sum(t.samples for t in parse_raw(text, 1)), 0
        if window.target_exited:
            # py-spy does not say how many intervals it took before the target went:
            # estimate from the window's measured length, but never below what it recorded
            # nor above what a complete window takes (our clock can be late for its lines).
            estimate = round(length_ns / 1e9 * window.intervals / WINDOW_S)
            intervals = max(min(estimate, window.intervals - 1), held + errors)
        else:
            intervals = window.intervals - 1  # py-spy never records its last interval
        return max(intervals, 1), errors

    def _finish(self, window: _Window, now: int) -> None:
        proc = window.proc
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            reap([proc], grace_s=0.1)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        reap([proc], grace_s=0.0)
        try:
            text = Path(window.path).read_text(errors="replace")
            os.unlink(window.path)
        except OSError:
            text = None
        with self._lock:
            wanted = window.pid in self._targets
        if text is None or not window.start_ns:
            failed = proc.returncode not in (0, None)
            if failed and window.source == PYSPY and explain_failure(0, stderr).unreadable:
                # Not a race with the target's exit (that reads "no such process"): its
                # interpreter is one py-spy cannot read, and the next window would not either.
                self._cannot_read(window, stderr)
            elif wanted and not process_alive(window.pid):
                self.detach(window.pid)  # the target has exited: stop launching py-spy at it
            elif wanted and failed:
                self._failed(window, stderr)
            return
        self._failures.pop(window.pid, None)
        end = window.end_ns or now
        start = window.start_ns
        # Both lines in one read: we only know when the window ended. A complete window
        # lasted WINDOW_S; one cut short by the target's exit at most that (counted as
        # whole: its shares then read low rather than absurdly high).
        timed = window.start_read != (window.end_read or window.reads)
        if not timed:
            start = end - int(WINDOW_S * 1e9)
        if window.source == PROFILER:
            # its own profiler counted its intervals exactly, and reads never fail it
            intervals, errors = max(window.intervals, 1), 0
        else:
            intervals, errors = self._pyspy_intervals(window, text, end - start)
        result = PySpyWindow(
            pid=window.pid,
            start_ns=start,
            end_ns=end,
            intervals=intervals,
            complete=not window.target_exited,
            threads=(parse_collapsed if window.source == PROFILER else parse_raw)(
                text, max(intervals - errors, 1)
            ),
            timed=timed,
            launched_ns=window.launched_ns,
            errors=errors,
        )
        self.windows.append(result)
        if self._on_window is not None:
            self._on_window(result)

    def _failed(self, window: _Window, stderr: str) -> None:
        pid = window.pid
        n = self._failures.get(pid, 0) + 1
        self._failures[pid] = n
        if n < 2:  # one failure can be a race with the target's exit; two is a problem
            return
        self._failures.pop(pid, None)
        if window.source == PROFILER:
            last = [ln.strip() for ln in stderr.splitlines() if ln.strip()][-1:] or ["no output"]
            self.detach(pid)
            self._problem(PySpyProblem(pid, last[0][:160], "", sampler="its own profiler"))
            return
        self.detach(pid)
        self._problem(explain_failure(pid, stderr))

    def _cannot_read(self, window: _Window, stderr: str) -> None:
        """py-spy does not know this interpreter (a free-threaded build, a newer version):
        a limit, not a fault (the stacks pane says so), unless its own profiler can go."""
        pid = window.pid
        with self._lock:
            if pid in self._unreadable:
                return  # an overlapping window said so already
            self._unreadable[pid] = explain_failure(pid, stderr)
            wanted = pid in self._targets
        self._failures.pop(pid, None)
        if not (wanted and self._fall_back(pid)):
            self.detach(pid)

    def _fall_back(self, pid: int) -> str:
        """PROFILER if ``pid``'s interpreter ships its own sampling profiler, else ""."""
        python = profiler_python(pid)
        with self._lock:
            if python is not None:
                self._profilers[pid] = python
            self._sources[pid] = PROFILER if python is not None else ""
            return self._sources[pid]

    def _problem(self, problem: PySpyProblem) -> None:
        if problem.pid in self._reported:
            return
        self._reported.add(problem.pid)
        if self._on_problem is not None:
            self._on_problem(problem)


def thread_started_ns(pid: int, tid: int) -> Optional[int]:
    """When a thread started, on ``time.monotonic_ns()``'s clock, from /proc (in clock ticks,
    rounded down: up to 10 ms early); None if it is gone. The start of a thread's life for
    ``gilscope.model.pyspy_shares``: unlike when it was first seen, it is never late."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        ticks = int(fields[19])  # field 22, starttime; the split starts at field 3
    except (OSError, IndexError, ValueError):
        return None
    # starttime counts from boot, suspended time included: CLOCK_BOOTTIME's origin
    since_boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - time.monotonic_ns()
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK") - since_boot
