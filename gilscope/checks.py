"""What is checked before a Session exists, so that a refusal (a UsageError: one line,
exit code 2) leaves nothing behind: the workloads' interpreters, how N splits into shares,
and whether the live view can run in this terminal."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from typing import Optional, Tuple

from gilscope.arguments import UsageError
from gilscope.sampling.report import version_string
from gilscope.scenarios.builds import HOW_TO_GET_ONE, find_free_threaded
from gilscope.scenarios.workload import WorkloadSpec, share_problem
from gilscope.tui.limits import MIN_HEIGHT, MIN_WIDTH

PYTHON_ANSWER_S = 15.0  # a cold interpreter on a loaded machine answers in well under that
# Runs on any Python from 2.7 up (no print function there), so an old one is named.
_ASK_PYTHON = (
    "import platform, sys, sysconfig; sys.stdout.write('%s %d %s\\n%s\\n' % ("
    "platform.python_implementation(), sys.hexversion, "
    "sysconfig.get_config_var('Py_GIL_DISABLED') or 0, sys.executable))"
)


def check_python(path: str, timeout_s: float = PYTHON_ANSWER_S) -> str:
    """The workloads' interpreter: an executable CPython 3.9+, as the binary itself."""
    return ask_python(path, timeout_s)[0]


def ask_python(
    path: str, timeout_s: float = PYTHON_ANSWER_S, flag: str = "--python"
) -> Tuple[str, bool]:
    """(the binary itself, whether it is a free-threaded build) of an executable CPython 3.9+.

    A pyenv shim is a shell script that execs Python; py-spy would attach to the shell, so
    ask the interpreter where it really lives. A program that does not answer within
    ``timeout_s`` is killed with everything it started.
    """
    resolved = shutil.which(path) if os.sep not in path else path
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        raise UsageError(f"{flag} {path!r} is not an executable file")
    try:
        # A session of its own: on a timeout its whole process group goes, children too.
        proc = subprocess.Popen(
            [resolved, "-c", _ASK_PYTHON],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
    except OSError:
        raise UsageError(f"{flag} {path!r} is not a Python interpreter") from None
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        # Not waited for yet, so its pid (the group's id) cannot have been reused.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # all gone; what holds the pipe left the group
        proc.wait()  # not communicate(): a child that left the group may hold the pipe
        if proc.stdout is not None:
            proc.stdout.close()
        raise UsageError(f"{flag} {path!r} did not answer within {timeout_s:g} s") from None
    try:
        if proc.returncode != 0:
            raise ValueError(proc.returncode)
        first, real = out.splitlines()[:2]
        impl, hexversion_text, gil_disabled = first.split()[:3]
        hexversion = int(hexversion_text)
    except (ValueError, IndexError):
        raise UsageError(f"{flag} {path!r} is not a Python interpreter") from None
    if impl != "CPython" or hexversion < 0x03090000:
        raise UsageError(
            f"{flag} {path!r} is {impl} {version_string(hexversion)}; gilscope needs CPython 3.9+"
        )
    return real, gil_disabled == "1"


def check_share(spec: WorkloadSpec) -> None:
    """N must split into shares that fit the workers' report slots."""
    problem = share_problem(spec)
    if problem:
        raise UsageError(f"--count {spec.count}: {problem}")


def find_ft_python(args: argparse.Namespace, needed: bool) -> Optional[str]:
    """``--ft-python`` (which must be a free-threaded build), else one found on PATH or
    under pyenv; UsageError if ``needed`` and there is none."""
    if args.ft_python is not None:
        real, free_threaded = ask_python(args.ft_python, flag="--ft-python")
        if not free_threaded:
            raise UsageError(
                f"--ft-python {args.ft_python!r} has a GIL: give a free-threaded build "
                "(python3.13t, configured with --disable-gil)"
            )
        return real
    found = find_free_threaded() if needed else None
    if needed and found is None:
        raise UsageError(f"--scenario gil-vs-ft: {HOW_TO_GET_ONE}")
    return found


def served() -> bool:
    """Running in a browser under ``gilscope serve``: textual-serve's driver talks to the
    page through pipes, and the page's size is not known until it says so."""
    return "web_driver" in os.environ.get("TEXTUAL_DRIVER", "")


def live_view_problem(headless: bool) -> str:
    """Why the live view cannot run here ("" if it can, or if headless). Checked before
    the Session exists, so a refusal leaves nothing behind (not even its scratch folder)."""
    if headless or served():
        return ""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return "the live view needs a terminal; use --headless"
    if os.environ.get("TERM") == "dumb":
        # No cursor movement, so no full-screen view, in colour or not.
        return (
            "TERM=dumb: the live view needs a terminal that can move its cursor; "
            "set TERM (e.g. TERM=xterm-256color) or use --headless"
        )
    size = shutil.get_terminal_size()
    if size.columns < MIN_WIDTH or size.lines < MIN_HEIGHT:
        return (
            f"terminal is {size.columns}×{size.lines}; "
            f"the live view needs at least {MIN_WIDTH}×{MIN_HEIGHT}"
        )
    return ""
