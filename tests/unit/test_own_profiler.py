"""CPython 3.15's own sampling profiler (Tachyon): its collapsed output and last lines,
parsed into py-spy's shapes without running it; py-spy's "cannot read this build"."""

from __future__ import annotations

from gilscope.sampling.gil_stacks import Frame
from gilscope.sampling.own_profiler import parse_captured, parse_collapsed, profiler_argv
from gilscope.sampling.pyspy import explain_failure

BOOT = (
    "threading.py:Thread._bootstrap:1181;threading.py:Thread._bootstrap_inner:1219;"
    "threading.py:Thread.run:1161"
)
# What ``python3.15 -m profiling.sampling attach -a --mode gil --collapsed`` wrote for two
# countdown threads over 500 intervals (2026-12-01, Debian's 3.15.2).
COLLAPSED = f"""\
tid:30380;{BOOT};spin.py:work:7;spin.py:count:4 132
tid:30381;{BOOT};spin.py:work:7;spin.py:count:3 128
tid:30381;{BOOT};spin.py:work:7;spin.py:count:4 128
tid:30380;{BOOT};spin.py:work:7;spin.py:count:3 111
"""
# And what it printed on stdout.
STDOUT = """\
Captured 500 samples in 1.00 seconds
Sample rate: 499.47 samples/sec
Error rate: 0.00
Collapsed stack output written to /tmp/o.collapsed
"""


def test_collapsed_stacks_become_threads_shares_and_top_stacks() -> None:
    threads = parse_collapsed(COLLAPSED, 500)
    assert [(t.tid, t.samples) for t in threads] == [(30381, 256), (30380, 243)]
    first = threads[0]
    assert first.share == 256 / 500 and first.name == ""  # names come from /proc
    top = first.stacks[0]
    assert top.frames[0] == Frame("Thread._bootstrap", "threading.py", 1181)  # outermost
    assert top.frames[-1] == Frame("count", "spin.py", 3)  # where it held the GIL
    assert top.share == 128 / 500
    assert sum(t.share for t in threads) <= 1.0


def test_odd_lines_are_skipped() -> None:
    text = "tid:x;a.py:f:1 3\nnot a stack 4\ntid:7;a.py:f:1 two\ntid:7;c:\\\\w.py:f:2 5\n"
    (only,) = parse_collapsed(text, 10)
    assert only.tid == 7 and only.samples == 5
    assert only.stacks[0].frames == (Frame("f", "c:\\\\w.py", 2),)  # a colon in the file


def test_a_sample_without_a_python_frame_counts_but_is_no_stack() -> None:
    (only,) = parse_collapsed(f"tid:7 30\ntid:7;{BOOT} 2\n", 100)
    assert only.samples == 32
    assert [s.frames[-1].function for s in only.stacks] == ["Thread.run"]


def test_the_captured_line_gives_intervals_and_seconds() -> None:
    assert parse_captured(STDOUT.splitlines()[0]) == (500, 1.0)
    assert parse_captured("Captured 352 samples in 0.70 seconds") == (352, 0.7)  # cut short
    assert parse_captured("Sample rate: 499.47 samples/sec") is None


def test_a_window_runs_the_targets_own_binary_in_gil_mode() -> None:
    argv = profiler_argv("/usr/bin/python3.15", 4242, 500, 1, "/tmp/w.collapsed")
    assert argv[:5] == ["/usr/bin/python3.15", "-I", "-S", "-m", "profiling.sampling"]
    assert argv[-1] == "4242"
    for flag in ("--all-threads", "--collapsed"):
        assert flag in argv
    assert argv[argv.index("--mode") + 1] == "gil"
    assert argv[argv.index("--sampling-rate") + 1] == "500"


def test_a_build_py_spy_cannot_read_is_a_limit_not_a_fault() -> None:
    # py-spy 0.4.3 on a free-threaded 3.13t
    ft = explain_failure(7, "Error: Failed to find a python interpreter in the .data section\n")
    assert ft.unreadable and "cannot read" in ft.reason
    newer = explain_failure(7, "Error: Unsupported version of Python: 3.16.0\n")
    assert newer.unreadable
    denied = explain_failure(7, "Error: Permission denied (os error 13)\n")
    assert not denied.unreadable
