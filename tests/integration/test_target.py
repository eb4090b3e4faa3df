"""``attach`` and ``run`` targets on real processes: Python, not Python, gone, forbidden."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, List

import psutil
import pytest

from gilscope.sampling.pyspy import find_pyspy
from gilscope.sampling.target import (
    LogLine,
    NoProcessError,
    NotPythonError,
    ScriptRun,
    TargetError,
    check_traceable,
    inspect_pid,
    wait_until_python,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PY39 = "/root/.pyenv/versions/3.9.18/bin/python"
PY38 = "/root/.pyenv/versions/3.8.18/bin/python"
NOBODY = 65534
SLEEPER = "import sys, time; print('ready', flush=True); time.sleep(30)"

Start = Callable[..., "subprocess.Popen[Any]"]


@pytest.fixture
def start() -> Iterator[Start]:
    """Popen that kills and waits for every child at the end of the test."""
    procs: List[subprocess.Popen[Any]] = []

    def run(argv: List[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        proc: subprocess.Popen[Any] = subprocess.Popen(argv, **kwargs)
        procs.append(proc)
        return proc

    yield run
    for p in procs:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def python_child(start: Start, python: str, **kwargs: Any) -> subprocess.Popen[Any]:
    """A Python child that has finished starting up (it said so)."""
    proc = start([python, "-c", SLEEPER], **kwargs)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    return proc


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text, repr(text)
    return text


def test_inspect_this_python(start: Start) -> None:
    proc = python_child(start, sys.executable)
    info = inspect_pid(proc.pid)
    assert info.pid == proc.pid
    assert info.exe == os.path.realpath(sys.executable)
    assert info.python_version == platform.python_version()
    assert info.gil_enabled is True
    assert info.cmdline.startswith(sys.executable)
    assert len(info.cmdline) <= 80


@pytest.mark.skipif(not os.path.exists(PY39), reason=f"{PY39} is not installed")
def test_inspect_python_39(start: Start) -> None:
    info = inspect_pid(python_child(start, PY39).pid)
    assert info.python_version == "3.9.18"
    assert info.gil_enabled is True
    assert os.path.basename(info.exe) == "python3.9"


@pytest.mark.skipif(not os.path.exists(PY38), reason=f"{PY38} is not installed")
def test_python_38_is_too_old(start: Start) -> None:
    proc = python_child(start, PY38)
    with pytest.raises(TargetError) as info:
        inspect_pid(proc.pid)
    assert "3.8.18" in one_line(info.value)
    assert "needs CPython 3.9+" in str(info.value)


def test_no_such_pid() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    pid = next(p for p in range(pid_max - 1, 1, -1) if not os.path.exists(f"/proc/{p}"))
    with pytest.raises(NoProcessError) as info:
        inspect_pid(pid)
    assert one_line(info.value) == f"no process with PID {pid}"


def test_not_python(start: Start) -> None:
    proc = start(["sleep", "30"])
    with pytest.raises(NotPythonError) as info:
        inspect_pid(proc.pid)
    text = one_line(info.value)
    assert text == f"PID {proc.pid} is {os.path.realpath(shutil.which('sleep') or '')}, " + (
        "not a Python process"
    )


def test_exited_child_is_gone(start: Start) -> None:
    proc = start(["true"])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(NoProcessError, match="has already exited"):
        inspect_pid(proc.pid)  # a zombie: exited, waiting for us to reap it


def nobody_python() -> str:
    """An interpreter user nobody may run (the venv's lives under /root, often 0700)."""
    for python in (str(ROOT / ".venv" / "bin" / "python"), "/usr/bin/python3"):
        try:
            done = subprocess.run(
                [python, "-c", "import sys; assert sys.version_info >= (3, 9)"],
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
                cwd="/",
                capture_output=True,
                timeout=30,
            )
        except OSError:
            continue
        if done.returncode == 0:
            return python
    pytest.skip("no Python 3.9+ that user nobody may run")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to user nobody")
def test_permission_denied_says_how_to_fix(start: Start) -> None:
    proc = python_child(start, sys.executable)  # a root process
    code = (
        "import sys; from gilscope.sampling.target import inspect_pid, AccessError\n"
        "try:\n    inspect_pid(int(sys.argv[1]))\n"
        "except AccessError as e:\n    print(e)\n    sys.exit(7)\n"
    )
    done = subprocess.run(
        [nobody_python(), "-c", code, str(proc.pid)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 7, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message
    assert message.startswith(f"permission denied reading PID {proc.pid} (")
    assert "belongs to root" in message
    assert "sudo" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as nobody")
def test_other_users_python_is_probed_as_that_user(start: Start) -> None:
    python = nobody_python()
    proc = python_child(start, python, user=NOBODY, group=NOBODY, extra_groups=[], cwd="/")
    info = inspect_pid(proc.pid)
    assert info.exe == os.path.realpath(python)
    assert info.gil_enabled is True


@pytest.mark.skipif(find_pyspy() is None, reason="py-spy is not installed")
def test_check_traceable(start: Start) -> None:
    proc = python_child(start, sys.executable)
    check_traceable(proc.pid, find_pyspy())
    assert proc.poll() is None  # dumped without harm


@pytest.mark.skipif(find_pyspy() is None, reason="py-spy is not installed")
def test_check_traceable_not_python(start: Start) -> None:
    proc = start(["sleep", "30"])
    with pytest.raises(TargetError) as info:
        check_traceable(proc.pid, find_pyspy(), timeout_s=0.5)
    assert one_line(info.value).startswith(f"py-spy cannot sample PID {proc.pid}: ")


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_script_output_in_order_and_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "talk.py"
    script.write_text(
        "import sys\n"
        "for i in range(5):\n"
        "    print(f'out {i}')\n"
        "    print(f'err {i}', file=sys.stderr)\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.exit(3)\n"
    )
    run = ScriptRun([sys.executable, str(script)])
    try:
        wait_for(lambda: run.poll() is not None and len(run.lines()) == 11)
        assert run.poll() == 3
        texts = [line.text for line in run.lines()]
        expected = [f"{s} {i}" for i in range(5) for s in ("out", "err")]
        assert texts == [*expected, "no newline at the end"]
        stamps = [line.t_ns for line in run.lines()]
        assert stamps == sorted(stamps)
        assert all(isinstance(line, LogLine) for line in run.lines())
    finally:
        run.stop()


def test_script_keeps_only_the_last_lines(tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text("for i in range(5000):\n    print(i)\n")
    run = ScriptRun([sys.executable, str(script)], max_lines=2000)
    try:
        wait_for(lambda: run.poll() is not None and run.lines()[-1:] != () and
                 run.lines()[-1].text == "4999")  # fmt: skip
        lines = run.lines()
        assert len(lines) == 2000
        assert lines[0].text == "3000"
    finally:
        run.stop()


def test_stop_ends_the_script_and_what_it_started(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # only SIGKILL will do
        "child = subprocess.Popen(['sleep', '30'])\n"
        "print('child', child.pid)\n"
        "time.sleep(30)\n"
    )
    run = ScriptRun([sys.executable, str(script)])
    try:
        wait_for(lambda: any(line.text.startswith("child ") for line in run.lines()))
        grandchild = int(run.lines()[-1].text.split()[1])
        assert running(run.pid) and running(grandchild)
        assert inspect_pid(run.pid).python_version == platform.python_version()
    finally:
        run.stop(grace_s=0.3)
    assert run.poll() == -9
    assert not psutil.pid_exists(run.pid) or not running(run.pid)
    wait_for(lambda: not running(grandchild), timeout_s=2.0)
    run.stop()  # twice is fine


def test_shim_becomes_python(tmp_path: Path) -> None:
    """``python3`` may be a pyenv shim: bash at first, Python once it has exec'd."""
    shim = shutil.which("python3")
    if shim is None:
        pytest.skip("no python3 on PATH")
    script = tmp_path / "wait.py"
    script.write_text("import time\ntime.sleep(30)\n")
    run = ScriptRun(["python3", str(script)])
    try:
        # the PID is the command's from the start: the supervisor tells it once spawned
        info = wait_until_python(run.pid, timeout_s=10.0)
        assert info.pid == run.pid
        assert os.path.basename(info.exe).startswith("python")
        assert info.python_version.startswith("3.")
    finally:
        run.stop()


def test_wait_until_python_gives_up(start: Start) -> None:
    proc = start(["sleep", "30"])
    t0 = time.monotonic()
    with pytest.raises(NotPythonError):
        wait_until_python(proc.pid, timeout_s=0.3)
    assert time.monotonic() - t0 < 2.0


def test_wait_until_python_stops_when_the_process_exits(start: Start) -> None:
    proc = start(["true"])
    proc.wait()
    with pytest.raises(NoProcessError):
        wait_until_python(proc.pid, timeout_s=5.0)


def test_script_that_cannot_exec_is_one_line(tmp_path: Path) -> None:
    """An executable file that is no program (no #! line): the supervisor says why."""
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fnot an ELF\n")
    junk.chmod(0o755)
    with pytest.raises(TargetError) as info:
        ScriptRun([str(junk)])
    assert one_line(info.value) == f"cannot run {junk}: Exec format error"


def test_script_killed_by_a_signal(tmp_path: Path) -> None:
    """The command's own status, as subprocess reports it: negative for a signal."""
    script = tmp_path / "die.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    run = ScriptRun([sys.executable, str(script)])
    try:
        wait_for(lambda: run.poll() is not None)
        assert run.poll() == -signal.SIGTERM
    finally:
        run.stop()


def test_stop_ends_daemons_that_left_the_group(tmp_path: Path) -> None:
    """A double-forked daemon in a session of its own is re-parented to the supervisor
    (a subreaper) and ended with the rest; the command is told first (SIGTERM)."""
    script = tmp_path / "daemonize.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        print('daemon', os.getpid(), flush=True)\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('told', flush=True), sys.exit(0)))\n"
        "time.sleep(60)\n"
    )
    run = ScriptRun([sys.executable, str(script)])
    try:
        wait_for(lambda: any(line.text.startswith("daemon ") for line in run.lines()))
        daemon = int(next(x.text for x in run.lines() if x.text.startswith("daemon ")).split()[1])
        wait_for(lambda: psutil.Process(daemon).ppid() == run.supervisor_pid)
        assert os.getsid(daemon) != os.getsid(run.pid)
    finally:
        run.stop()
    assert run.poll() == 0 and "told" in [line.text for line in run.lines()]
    assert not running(daemon)
