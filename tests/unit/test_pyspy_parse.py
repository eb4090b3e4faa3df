"""py-spy's raw output and error messages, parsed without running py-spy."""

from __future__ import annotations

import pytest

from gilscope.sampling.gil_stacks import Frame
from gilscope.sampling.pyspy import (
    PySpyProblem,
    PySpyWindow,
    explain_failure,
    parse_raw,
)

BOOT = (
    "Thread._bootstrap (/usr/lib/python3.11/threading.py:1002);"
    "Thread._bootstrap_inner (/usr/lib/python3.11/threading.py:1045);"
    "Thread.run (/usr/lib/python3.11/threading.py:982)"
)
# What ``py-spy record --gil --threads --format raw`` wrote for two countdown threads
# (CPython 3.11: Linux thread ids, thread names).
RAW = f"""\
thread (1993): countdown-0;{BOOT};countdown (/x/countdown.py:34) 193
thread (1994): countdown-1;{BOOT};countdown (/x/countdown.py:34) 166
thread (1993): countdown-0;{BOOT};countdown (/x/countdown.py:33) 92
thread (1994): countdown-1;{BOOT};countdown (/x/countdown.py:33) 91
thread (1993): countdown-0;{BOOT};countdown (/x/countdown.py:36);mark (/x/report.py:90) 2
thread (1993): countdown-0;{BOOT};countdown (/x/countdown.py:35) 1
"""


def test_shares_are_samples_over_intervals() -> None:
    threads = parse_raw(RAW, intervals=500)
    assert [(t.tid, t.name) for t in threads] == [(1993, "countdown-0"), (1994, "countdown-1")]
    first, second = threads
    assert first.samples == 193 + 92 + 2 + 1
    assert first.share == pytest.approx(288 / 500)
    assert second.samples == 166 + 91
    assert second.share == pytest.approx(257 / 500)


def test_frames_are_parsed_outermost_first() -> None:
    top = parse_raw(RAW, intervals=500)[0].stacks[0]
    assert top.frames[0] == Frame("Thread._bootstrap", "/usr/lib/python3.11/threading.py", 1002)
    assert top.frames[-1] == Frame("countdown", "/x/countdown.py", 34)
    assert len(top.frames) == 4
    assert str(top.frames[-1]) == "countdown (countdown.py:34)"


def test_top_stacks_most_sampled_first_at_most_three() -> None:
    stacks = parse_raw(RAW, intervals=500)[0].stacks
    assert len(stacks) == 3  # four distinct stacks, the rarest left out
    assert [s.share for s in stacks] == pytest.approx([193 / 500, 92 / 500, 2 / 500])
    assert [s.frames[-1].line for s in stacks] == [34, 33, 90]
    assert stacks[2].frames[-1].function == "mark"


def test_threads_sorted_by_samples() -> None:
    text = "thread (5): a;f (x.py:1) 3\nthread (6): b;f (x.py:1) 30\nthread (7): c;f (x.py:1) 10\n"
    assert [t.tid for t in parse_raw(text, 100)] == [6, 7, 5]


def test_hex_thread_ids_and_no_names() -> None:
    # CPython 3.9/3.10: py-spy names threads by their pthread id, in hex.
    text = (
        "thread (0x7F12AB): countdown-0;countdown (/x/countdown.py:34) 40\n"
        "thread (0x7F12AC);countdown (/x/countdown.py:34) 10\n"
    )
    a, b = parse_raw(text, intervals=100)
    assert (a.tid, a.name, a.share) == (0x7F12AB, "countdown-0", 0.4)
    assert (b.tid, b.name, b.share) == (0x7F12AC, "", 0.1)
    assert b.stacks[0].frames == (Frame("countdown", "/x/countdown.py", 34),)


def test_thread_names_with_spaces_and_odd_frames() -> None:
    text = (
        "thread (42): Thread-1 (worker);<module> (/x/run.py:7);<lambda> (/x/run.py:3) 5\n"
        "thread (42): Thread-1 (worker);not a frame;f (/x/run.py:9) 5\n"
    )
    (t,) = parse_raw(text, intervals=20)
    assert t.name == "Thread-1 (worker)"
    assert t.samples == 10
    assert t.share == 0.5
    frames = {s.frames for s in t.stacks}
    assert (Frame("<module>", "/x/run.py", 7), Frame("<lambda>", "/x/run.py", 3)) in frames
    assert (Frame("f", "/x/run.py", 9),) in frames  # the unparsable frame is dropped


def test_junk_lines_are_skipped() -> None:
    text = (
        "\n"
        "py-spy> Sampling process 500 times a second for 1 seconds. Press Control-C to exit.\n"
        "process 12: python x.py;f (x.py:1) 3\n"  # not a thread line
        "thread (7): a;f (x.py:1) many\n"  # no count
        "thread (7): a;f (x.py:1) 4\n"
    )
    (t,) = parse_raw(text, intervals=8)
    assert (t.tid, t.samples, t.share) == (7, 4, 0.5)


def test_empty_output_and_zero_intervals() -> None:
    assert parse_raw("", intervals=500) == ()
    (t,) = parse_raw("thread (7): a;f (x.py:1) 4\n", intervals=0)
    assert t.share == 4.0  # no division by zero; intervals are clamped to 1


def test_same_tid_different_names_are_different_threads() -> None:
    text = "thread (7): a;f (x.py:1) 4\nthread (7): b;f (x.py:1) 2\n"
    assert sorted((t.name, t.samples) for t in parse_raw(text, 10)) == [("a", 4), ("b", 2)]


def test_window_rate() -> None:
    w = PySpyWindow(
        pid=1, start_ns=0, end_ns=1_000_000_000, intervals=500, complete=True, threads=()
    )
    assert w.rate_hz == pytest.approx(500)
    assert PySpyWindow(1, 5, 5, 10, True, ()).rate_hz > 0  # zero duration does not divide by 0


# -- failures ----------------------------------------------------------------------------


def assert_one_line(problem: PySpyProblem) -> None:
    assert problem.reason and "\n" not in problem.reason
    assert problem.fix and "\n" not in problem.fix
    assert "\n" not in str(problem)
    assert str(problem).startswith(f"py-spy cannot sample pid {problem.pid}: ")


def test_explain_permission_denied() -> None:
    stderr = (
        "Permission Denied: Try running again with elevated permissions by going "
        "'sudo env \"PATH=$PATH\" !!'\n"
    )
    p = explain_failure(123, stderr)
    assert p.pid == 123
    assert "permission" in p.reason
    assert "CAP_SYS_PTRACE" in p.fix and "ptrace_scope" in p.fix
    assert_one_line(p)


@pytest.mark.parametrize(
    "stderr",
    ["Error: Operation not permitted (os error 1)\n", "Error: EPERM (os error 1)\n"],
)
def test_explain_operation_not_permitted(stderr: str) -> None:
    assert "permission" in explain_failure(1, stderr).reason


def test_explain_not_python() -> None:
    stderr = (
        "Error: Failed to find python version from target process\n\n"
        "Stack backtrace:\n   0: anyhow::error::<impl anyhow::Error>::msg\n"
    )
    p = explain_failure(77, stderr)
    assert p.reason == "it is not a CPython process"
    assert "--python" in p.fix
    assert_one_line(p)


def test_explain_process_gone() -> None:
    stderr = (
        "Error: Failed to get process executable name. Check that the process is running.\n\n"
        "Caused by:\n    0: No such file or directory (os error 2)\n"
    )
    p = explain_failure(5, stderr)
    assert p.reason == "the process is gone"
    assert_one_line(p)


def test_explain_unknown_uses_the_last_line() -> None:
    p = explain_failure(9, "something odd\n\nError: the last word " + "x" * 300 + "\n\n")
    assert p.reason.startswith("Error: the last word")
    assert len(p.reason) <= 160
    assert "py-spy dump --pid" in p.fix
    assert_one_line(p)
    assert explain_failure(9, "").reason == "no output"


def test_a_sample_without_a_python_frame_counts_but_is_no_stack() -> None:
    """The holder in the interpreter's start-up or shutdown: a run's short last window
    that had only such samples once left its process with no function."""
    text = f"thread (1993): countdown-0 40\nthread (1993): countdown-0;{BOOT} 3\n"
    (thread,) = parse_raw(text, intervals=100)
    assert thread.samples == 43 and thread.share == pytest.approx(0.43)
    assert [s.frames[-1].function for s in thread.stacks] == ["Thread.run"]
    (shutdown,) = parse_raw("thread (1993): MainThread 40\n", intervals=100)
    assert shutdown.samples == 40 and shutdown.stacks == ()
