"""Bad flags and a missing terminal: one ``gilscope: error:`` line, no traceback."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import List

import psutil
import pytest

from gilscope.arguments import UsageError, parse_args, positive_int
from gilscope.checks import PYTHON_ANSWER_S, check_python
from tests.cli_run import run_gilscope
from tests.pythons import FT_PYTHONS, missing_free_threaded, old_pythons


def error_lines(stderr: str) -> List[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("gilscope: error:")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--count", "0"], "--count"),
        (["--count", "abc"], "--count"),
        (["--count", "-5"], "--count"),
        (["--count", str(2**64)], "--count"),  # 2 threads of 2**63: one more than a slot holds
        (["--scenario", "sequential", "--count", str(2**63)], "--count"),
        (["--scenario", "mixed", "--count", str(2**63)], "--count"),  # its sequential step
        (["--threads", "0"], "--threads"),
        (["--threads", "65"], "--threads"),
        (["--scenario", "nope"], "--scenario"),
        (["--python", "/nonexistent"], "--python"),
        (["--python", "{not_executable}"], "--python"),
        (["--python", "true"], "--python"),  # runs, but is not Python
        (["--rate", "0"], "--rate"),
        (["--rate", "100000"], "--rate"),
        (["--probe-rate", "20001"], "--probe-rate"),  # past the rate where its CPU is bounded
        (["--probe-rate", "-1"], "--probe-rate"),
        (["--seconds", "0"], "--seconds"),
        (["--fps", "0"], "--fps"),
        (["--scenario", "gil-vs-ft", "--ft-python", "/nonexistent"], "--ft-python"),
        (["--ft-python", sys.executable], "has a GIL"),  # not a free-threaded build
    ],
)
def test_bad_flag_values(args: List[str], says: str, tmp_path: Path) -> None:
    text_file = tmp_path / "python"
    text_file.write_text("not a program\n")
    text_file.chmod(0o644)
    args = [a.format(not_executable=text_file) for a in args]
    proc = run_gilscope("--headless", *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.strip() == lines[0]  # one line, no usage block
    assert says in lines[0]
    assert proc.stdout == ""


def test_gil_vs_ft_without_a_free_threaded_build_says_how_to_get_one(tmp_path: Path) -> None:
    # nothing on PATH, an empty pyenv
    proc = run_gilscope(
        "--headless",
        "--scenario",
        "gil-vs-ft",
        env={"PATH": "/nonexistent", "PYENV_ROOT": str(tmp_path)},
    )
    assert proc.returncode == 2
    (line,) = error_lines(proc.stderr)
    assert proc.stderr.strip() == line
    assert "no free-threaded Python found" in line and "--ft-python PATH" in line


@pytest.mark.skipif(not FT_PYTHONS, reason=missing_free_threaded())
def test_gil_vs_ft_needs_a_gil_build_for_python() -> None:
    ft = FT_PYTHONS[0][1]
    proc = run_gilscope("--headless", "--scenario", "gil-vs-ft", "--python", ft, "--ft-python", ft)
    assert proc.returncode == 2
    (line,) = error_lines(proc.stderr)
    assert "is free-threaded; give --python a build with a GIL" in line


def test_without_a_terminal_the_live_view_refuses() -> None:
    proc = run_gilscope("--count", "1000")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert error_lines(proc.stderr) == [
        "gilscope: error: the live view needs a terminal; use --headless"
    ]
    assert proc.stdout == ""


@pytest.mark.parametrize(("version", "python"), old_pythons(), ids=[v for v, _ in old_pythons()])
def test_an_old_python_is_named(version: str, python: str) -> None:
    proc = run_gilscope("--headless", "--python", python)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gilscope: error: --python '{python}' is CPython {version}; gilscope needs CPython 3.9+"
    ]


def test_a_python_that_hangs_is_given_up_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    hangs = tmp_path / "python"
    hangs.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    hangs.chmod(0o755)
    # In-process, with a short wait: the command line's 15 s (PYTHON_ANSWER_S) is only a
    # longer wait for the same code; its one-line error is the UsageError's text.
    with pytest.raises(UsageError) as raised:
        check_python(str(hangs), timeout_s=1.0)
    assert str(raised.value) == f"--python '{hangs}' did not answer within 1 s"
    assert PYTHON_ANSWER_S >= 10  # a cold interpreter on a loaded machine is not given up
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not gone(child):
        assert time.monotonic() < deadline, f"the program's child {child} was left running"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_version() -> None:
    proc = run_gilscope("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("gilscope ")


# -- the same checks in-process ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("50000000", 50_000_000), ("50_000_000", 50_000_000), ("1,000", 1_000)],
)
def test_positive_int_accepts(text: str, value: int) -> None:
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "1.5", "1e6"])
def test_positive_int_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)


def test_defaults() -> None:
    args = parse_args([])
    assert args.scenario == "threads"
    assert args.count is None  # the scenario's own default: 50,000,000 for threads
    assert args.workers == 2
    assert args.rate == 1000
    assert args.headless is False
    assert args.seconds == 30.0
    assert args.python == sys.executable
    assert parse_args(["--workers", "3"]).workers == 3  # --workers is --threads
    assert parse_args(["--probe-rate", "20000"]).probe_rate == 20_000  # the cap itself


def test_check_python() -> None:
    real = check_python(sys.executable)
    assert os.path.isfile(real) and os.access(real, os.X_OK)
    assert os.path.samefile(real, sys.executable)  # the interpreter's own idea of itself
    with pytest.raises(UsageError, match="not an executable file"):
        check_python("/nonexistent/python")
    with pytest.raises(UsageError, match="not an executable file"):
        check_python("no-such-interpreter-on-path-xyz")
    with pytest.raises(UsageError, match="not an executable file"):
        check_python(os.path.dirname(sys.executable))  # a directory


def test_check_python_rejects_other_programs() -> None:
    true = shutil.which("true")
    if true is None:
        pytest.skip("no `true` on PATH")
    with pytest.raises(UsageError, match="not a Python interpreter"):
        check_python(true)


def test_scenarios_and_switch_interval_parse() -> None:
    args = parse_args(["--scenario", "convoy", "--switch-interval", "0.1"])
    assert args.scenario == "convoy" and args.switch_ms == 0.1
    assert args.count is None  # each scenario brings its own default N
    assert parse_args(["--scenario", "mixed"]).scenario == "mixed"


@pytest.mark.parametrize("value", ["0", "abc", "20000"])
def test_bad_switch_interval_is_one_line(value: str) -> None:
    proc = run_gilscope("--switch-interval", value)
    assert proc.returncode == 2
    assert len(error_lines(proc.stderr)) == 1 and "--switch-interval" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_target_modes_parse() -> None:
    from gilscope.arguments import parse_target_args

    a = parse_target_args("attach", ["123", "--headless", "--seconds", "5"])
    assert a.pid == 123 and a.headless and a.seconds == 5.0
    r = parse_target_args("run", ["--headless", "--", "python", "x.py", "--flag"])
    assert r.command == ["python", "x.py", "--flag"] and r.headless
    r2 = parse_target_args("run", ["--", "python", "x.py", "--headless"])
    assert r2.command[-1] == "--headless" and not r2.headless  # after -- it is the script's
    # children are followed unless told not to; after -- the flag is the script's
    assert a.children and r.children
    assert not parse_target_args("attach", ["123", "--no-children"]).children
    assert not parse_target_args("run", ["--no-children", "--", "python", "x.py"]).children
    assert parse_target_args("run", ["--", "python", "x.py", "--no-children"]).children


def test_talk_flag_in_every_mode() -> None:
    from gilscope.arguments import parse_target_args

    assert parse_args(["--talk"]).talk and not parse_args([]).talk
    assert parse_target_args("run", ["--talk", "--", "python", "x.py"]).talk
    assert parse_target_args("attach", ["1", "--talk"]).talk


def test_serve_splits_its_own_arguments_from_the_pages() -> None:
    from gilscope.serve import check_app_args, parse_serve_args

    args = parse_serve_args(["--port", "9000", "--talk", "--scenario", "mixed"])
    assert (args.host, args.port, args.app_args) == (
        "localhost",
        9000,
        ["--talk", "--scenario", "mixed"],
    )
    args = parse_serve_args(["--probe-rate", "100", "--python", "/usr/bin/python3"])
    assert args.port == 8000 and args.app_args == [
        "--probe-rate",
        "100",
        "--python",
        "/usr/bin/python3",
    ]
    args = parse_serve_args(["--host", "0.0.0.0", "run", "--", "python", "app.py", "--headless"])
    assert args.app_args == ["run", "--", "python", "app.py", "--headless"]
    check_app_args(args.app_args)  # the command's own --headless is its business
    with pytest.raises(UsageError, match="--headless"):
        check_app_args(["--headless"])


def test_a_page_of_serve_needs_no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from gilscope.checks import live_view_problem

    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.web_driver:WebDriver")
    assert live_view_problem(False) == ""  # stdin and stdout are the server's pipes


def test_serve_refuses_a_port_in_use() -> None:
    import socket

    from gilscope.serve import check_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="cannot listen"):
            check_port("127.0.0.1", taken.getsockname()[1])
