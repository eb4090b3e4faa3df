"""Command line: arguments → a Session, then the TUI or the headless report."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import List, NoReturn, Optional

from gilscope import __version__
from gilscope.sampling.report import version_string
from gilscope.scenarios.workload import MAX_WORKERS, Scenario, WorkloadSpec
from gilscope.session import Session
from gilscope.tui.limits import MIN_HEIGHT, MIN_WIDTH


class UsageError(Exception):
    """A bad flag value or target: one line for the user, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """Bad flags get one line, not argparse's usage block, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = OneLineParser(
        prog="gilscope",
        description="Watch the CPython GIL being passed between threads, live.",
    )
    p.add_argument(
        "--scenario",
        choices=[s.value for s in Scenario],
        default=Scenario.THREADS.value,
        help="which countdown to run first (default: threads)",
    )
    p.add_argument("--count", type=positive_int, default=50_000_000, help="N (default 50,000,000)")
    p.add_argument(
        "--threads",
        "--workers",
        dest="workers",
        type=positive_int,
        default=2,
        help="K threads or processes (default 2)",
    )
    p.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter for the workloads (default: the one running gilscope)",
    )
    p.add_argument(
        "--rate", type=positive_int, default=1000, help="py-spy samples per second (default 1000)"
    )
    p.add_argument("--headless", action="store_true", help="no UI: print one JSON report")
    p.add_argument(
        "--seconds", type=float, default=30.0, help="headless: observe at most this long"
    )
    p.add_argument("--fps", type=positive_int, default=10, help="UI frames per second (default 10)")
    p.add_argument("--version", action="version", version=f"gilscope {__version__}")
    args = p.parse_args(argv)
    if args.workers > MAX_WORKERS:
        p.error(f"--threads must be at most {MAX_WORKERS}")
    if args.rate > 5000:
        p.error("--rate must be at most 5000 (py-spy falls behind above that)")
    if args.fps > 60:
        p.error("--fps must be at most 60")
    if not args.seconds > 0:
        p.error("--seconds must be more than 0")
    return args


def check_python(path: str) -> str:
    """The workloads' interpreter: an executable CPython 3.9+, as the binary itself.

    A pyenv shim is a shell script that execs Python; py-spy would attach to the shell, so
    ask the interpreter where it really lives.
    """
    resolved = shutil.which(path) if os.sep not in path else path
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        raise UsageError(f"--python {path!r} is not an executable file")
    probe = "import platform, sys; print(platform.python_implementation(), sys.hexversion)"
    probe += "; print(sys.executable)"
    try:
        done = subprocess.run(
            [resolved, "-c", probe], capture_output=True, text=True, timeout=15, check=True
        )
        first, real = done.stdout.splitlines()[:2]
        impl, hexversion = first.split()[0], int(first.split()[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        raise UsageError(f"--python {path!r} is not a Python interpreter") from None
    if impl != "CPython" or hexversion < 0x03090000:
        raise UsageError(
            f"--python {path!r} is {impl} {version_string(hexversion)}; gilscope needs CPython 3.9+"
        )
    return real


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        python = check_python(args.python)
    except UsageError as e:
        print(f"gilscope: error: {e}", file=sys.stderr)
        return 2
    spec = WorkloadSpec(Scenario(args.scenario), args.count, args.workers, python)

    if args.headless:
        return _headless(Session(spec, rate_hz=args.rate), args.seconds)

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("gilscope: error: the live view needs a terminal; use --headless", file=sys.stderr)
        return 2
    size = shutil.get_terminal_size()
    if size.columns < MIN_WIDTH or size.lines < MIN_HEIGHT:
        print(
            f"gilscope: error: terminal is {size.columns}×{size.lines}; "
            f"the live view needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
            file=sys.stderr,
        )
        return 2

    from gilscope.tui.app import make_app

    session = Session(spec, rate_hz=args.rate)
    app = make_app(session, fps=args.fps, on_signal=session.close)
    try:
        session.start()
        app.run()
    finally:
        session.close()
    return app.return_code or 0


def _headless(session: Session, seconds: float) -> int:
    """The JSON report on stdout; on SIGTERM, SIGHUP or SIGINT, stop cleanly with 128+sig."""
    from gilscope.headless import run_headless

    stop = threading.Event()
    caught: List[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        doc = run_headless(session, seconds, stop)
    finally:
        session.close()
    if doc is None:
        return 128 + caught[0]
    print(json.dumps(doc, indent=2))
    return 0 if doc["state"] != "failed" else 1
