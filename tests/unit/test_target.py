"""``run`` and ``attach`` targets, without starting anything: argv checks and messages."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from gilscope.sampling.target import (
    NoProcessError,
    ScriptRun,
    TargetError,
    check_argv,
    check_traceable,
    inspect_pid,
    interpreter_options,
)


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text, repr(text)
    return text


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "no command given"),
        (["gilscope-no-such-command-x"], "command not found: gilscope-no-such-command-x"),
        (["/nonexistent/python3"], "command not found: /nonexistent/python3"),
        ([sys.executable, "no_such_script.py"], "script not found: no_such_script.py"),
        ([sys.executable, "dir/missing.py", "arg"], "script not found: dir/missing.py"),
    ],
)
def test_bad_argv_is_one_line_and_starts_nothing(argv: List[str], says: str) -> None:
    with pytest.raises(TargetError) as info:
        ScriptRun(argv)  # raises before spawning: nothing to stop
    assert says in one_line(info.value)


def test_not_executable_file(tmp_path: Path) -> None:
    plain = tmp_path / "python3"
    plain.write_text("not a program\n")
    plain.chmod(0o644)
    with pytest.raises(TargetError) as info:
        check_argv([str(plain), "x.py"])
    assert one_line(info.value) == f"command is not an executable file: {plain}"


def test_command_resolved_through_path(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("")
    name = os.path.basename(sys.executable)
    expected = shutil.which(name)
    if expected is None:
        pytest.skip(f"{name} is not on PATH")
    assert check_argv([name, str(script), "a"]) == [expected, str(script), "a"]


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-c", "pass"],  # an option first: the script is not checked
        [sys.executable, "-m", "json.tool"],
        [sys.executable],
        ["true", "not-a-script.py"],  # not a python: its arguments are its own business
    ],
)
def test_argv_accepted(argv: List[str]) -> None:
    assert check_argv(argv)[1:] == argv[1:]


def test_existing_script_accepted(tmp_path: Path) -> None:
    script = tmp_path / "ok.py"
    script.write_text("print(1)\n")
    assert check_argv(["python3", str(script)])[1] == str(script)


def test_pyspy_missing_says_how_to_install() -> None:
    with pytest.raises(TargetError) as info:
        check_traceable(os.getpid(), None)
    assert "pip install py-spy" in one_line(info.value)


@pytest.mark.parametrize("pid", [0, -1])
def test_impossible_pid(pid: int) -> None:
    with pytest.raises(NoProcessError) as info:
        inspect_pid(pid)
    assert one_line(info.value) == f"no process with PID {pid}"


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["python3", "script.py"], (None, False)),
        (["python3", "-X", "gil=0", "script.py"], ("0", False)),
        (["python3", "-Xgil=1", "script.py"], ("1", False)),
        (["python3", "-E", "script.py"], (None, True)),
        (["python3", "-uI", "script.py"], (None, True)),
        (["python3", "-W", "ignore", "-X", "gil=0", "-c", "pass"], ("0", False)),
        (["python3", "script.py", "-X", "gil=1", "-E"], (None, False)),  # the script's own
        (["python3", "-c", "-X", "gil=1"], (None, False)),
        (["python3", "-m", "mod", "-E"], (None, False)),
        ([], (None, False)),
    ],
)
def test_interpreter_options(cmdline: List[str], expected: Tuple[Optional[str], bool]) -> None:
    assert interpreter_options(cmdline) == expected
