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
from typing import List, NoReturn, Optional, Tuple

from gilscope import __version__
from gilscope.record.recorder import Recorder
from gilscope.record.recording import RecordingError
from gilscope.sampling.probe_process import DEFAULT_RATE_HZ as DEFAULT_PROBE_HZ
from gilscope.sampling.probe_process import FIFO_MAX_RATE_HZ as FIFO_PROBE_HZ
from gilscope.sampling.probe_process import MAX_RATE_HZ as MAX_PROBE_HZ
from gilscope.sampling.report import version_string
from gilscope.scenarios.builds import HOW_TO_GET_ONE, Builds, find_free_threaded
from gilscope.scenarios.workload import (
    MAX_WORKERS,
    Scenario,
    WorkloadSpec,
    gil_vs_ft_plan,
    guided_plan,
    share_problem,
)
from gilscope.session import Session
from gilscope.tui.limits import MIN_HEIGHT, MIN_WIDTH

MIXED = "mixed"  # not a workload: the guided comparison, run after run
GIL_VS_FT = "gil-vs-ft"  # the countdown in K threads on a GIL build, then a free-threaded one


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


def switch_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0.01 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 0.01 and 10000 ms, got {text}")
    return value


def host_port(text: str) -> Tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:9464, got {text!r}")
    return host.strip("[]"), int(port)


def pid_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a process id, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a process id, got {text!r}")
    return value


def add_observation_flags(p: argparse.ArgumentParser) -> None:
    """Flags every mode shares: py-spy's rate, headless, how long, frames per second."""
    p.add_argument(
        "--rate", type=positive_int, default=1000, help="py-spy samples per second (default 1000)"
    )
    p.add_argument(
        "--probe-rate",
        type=int,
        default=DEFAULT_PROBE_HZ,
        help=f"GIL probe reads per second per process (default {DEFAULT_PROBE_HZ}, at most "
        f"{MAX_PROBE_HZ}; above {FIFO_PROBE_HZ} under the normal scheduling policy; 0: off, "
        "the timeline then comes from the workers' report or py-spy)",
    )
    p.add_argument("--headless", action="store_true", help="no UI: print one JSON report")
    p.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="headless: observe for at most S seconds, or until the run ends (default 30)",
    )
    p.add_argument("--fps", type=positive_int, default=10, help="UI frames per second (default 10)")
    p.add_argument(
        "--record",
        metavar="FILE",
        help="write everything observed to FILE as it goes (gilscope replay FILE plays it)",
    )
    p.add_argument(
        "--talk",
        action="store_true",
        help="start in the talk view: big lanes with the results beside them (key t toggles)",
    )


def check_observation_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.rate > 5000:
        p.error("--rate must be at most 5000 (py-spy falls behind above that)")
    if not 0 <= args.probe_rate <= MAX_PROBE_HZ:
        p.error(
            f"--probe-rate must be between 0 (off) and {MAX_PROBE_HZ} (above, the probe's "
            "CPU grows toward a whole core for little more resolution)"
        )
    if args.fps > 60:
        p.error("--fps must be at most 60")
    if not args.seconds > 0:
        p.error("--seconds must be more than 0")


def parse_target_args(mode: str, argv: List[str]) -> argparse.Namespace:
    """``attach PID [flags]`` or ``run [flags] -- command args…``."""
    p = OneLineParser(
        prog=f"gilscope {mode}",
        description="Observe a running Python process."
        if mode == "attach"
        else "Launch a command under observation; its output goes to a log pane.",
    )
    if mode == "attach":
        p.add_argument("pid", type=pid_arg, help="the process to observe (left running)")
        rest: List[str] = []
    else:
        cut = argv.index("--") if "--" in argv else len(argv)
        argv, rest = argv[:cut], argv[cut + 1 :]
    add_observation_flags(p)
    p.add_argument(
        "--no-children",
        dest="children",
        action="store_false",
        help="observe only the "
        + ("process itself" if mode == "attach" else "command's own process")
        + ", not the Python processes it starts",
    )
    p.add_argument(
        "--metrics",
        type=host_port,
        metavar="HOST:PORT",
        help="no UI: serve Prometheus/OpenMetrics counters on HOST:PORT until stopped",
    )
    args = p.parse_args(argv)
    check_observation_flags(p, args)
    if mode == "run" and not rest:
        p.error("give the command after --, e.g. gilscope run -- python script.py")
    args.command = rest
    return args


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = OneLineParser(
        prog="gilscope",
        description="Watch the CPython GIL being passed between threads, live.",
    )
    p.add_argument(
        "--scenario",
        choices=[*(s.value for s in Scenario), MIXED, GIL_VS_FT],
        default=Scenario.THREADS.value,
        help="what to run first (default: threads); mixed: the whole comparison, one run after "
        "another; gil-vs-ft: K threads on --python, then on a free-threaded build without its "
        "GIL (--ft-python)",
    )
    p.add_argument(
        "--count",
        type=positive_int,
        default=None,
        help="N: countdown iterations (default 300,000,000), io round-trips (2,000), "
        "native MiB (2,048)",
    )
    p.add_argument(
        "--switch-interval",
        dest="switch_ms",
        type=switch_ms,
        default=None,
        metavar="MS",
        help="sys.setswitchinterval in the workloads, in ms (default: Python's 5)",
    )
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
        "--ft-python",
        default=None,
        metavar="PATH",
        help="a free-threaded interpreter (3.13t+) for gil-vs-ft and its key g (default: "
        "python3.13t, python3.14t… on PATH or under pyenv)",
    )
    add_observation_flags(p)
    p.add_argument("--version", action="version", version=f"gilscope {__version__}")
    p.epilog = (
        "Other modes: gilscope attach PID [--headless --seconds S]; "
        "gilscope run [--headless --seconds S] -- python script.py args…; "
        "gilscope serve [--host H] [--port P] [gilscope args…] (the live view in a browser)"
    )
    args = p.parse_args(argv)
    if args.workers > MAX_WORKERS:
        p.error(f"--threads must be at most {MAX_WORKERS}")
    check_observation_flags(p, args)
    return args


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


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if served():
        from gilscope.serve import end_with_server

        end_with_server()
    if argv and argv[0] in ("attach", "run"):
        return target_main(argv[0], argv[1:])
    if argv and argv[0] in ("replay", "export"):
        from gilscope.record.cli import record_main

        return record_main(argv[0], argv[1:])
    if argv and argv[0] == "serve":
        from gilscope.serve import serve_main

        return serve_main(argv[1:])
    args = parse_args(argv)
    mixed = args.scenario == MIXED
    versus = args.scenario == GIL_VS_FT
    scenario = Scenario(args.scenario) if not (mixed or versus) else Scenario.SEQUENTIAL
    scenario = Scenario.THREADS if versus else scenario
    count = args.count or scenario.default_count
    try:
        python, python_ft = ask_python(args.python)
        builds = Builds(gil=None if python_ft else python, ft=find_ft_python(args, versus))
        spec = WorkloadSpec(scenario, count, args.workers, python, args.switch_ms)
        plan = guided_plan(spec, count, Scenario.NATIVE.default_count) if mixed else None
        if versus:
            if builds.gil is None:
                raise UsageError(
                    f"--scenario gil-vs-ft: --python {args.python!r} is free-threaded; give "
                    "--python a build with a GIL (default: the one running gilscope)"
                )
            assert builds.ft is not None
            plan = gil_vs_ft_plan(spec, builds.gil, builds.ft)
        for step in plan or [spec]:
            check_share(step)
        problem = live_view_problem(args.headless)
        if problem:
            raise UsageError(problem)
    except UsageError as e:
        print(f"gilscope: error: {e}", file=sys.stderr)
        return 2
    try:
        recorder = make_recorder(args.record, ["gilscope", *argv])
    except UsageError as e:
        print(f"gilscope: error: {e}", file=sys.stderr)
        return 2
    session = Session(spec, rate_hz=args.rate, probe_rate_hz=args.probe_rate, recorder=recorder)
    return observe(session, args, plan, builds)


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


def make_recorder(path: Optional[str], argv: List[str]) -> Optional[Recorder]:
    """``--record FILE``'s recorder (UsageError: one line, if FILE cannot be written)."""
    if path is None:
        return None
    try:
        return Recorder(path, argv)
    except RecordingError as e:
        raise UsageError(f"--record: {e}") from None


def target_main(mode: str, argv: List[str]) -> int:
    """``gilscope attach PID`` / ``gilscope run -- cmd``: bad targets exit 2 with one line."""
    from gilscope.sampling.pyspy import find_pyspy
    from gilscope.sampling.target import (
        TargetError,
        check_argv,
        check_not_gilscope,
        check_traceable,
        inspect_pid,
    )
    from gilscope.scenarios.external import PYTHON_APPEARS_S, ExternalTarget

    args = parse_target_args(mode, argv)
    try:
        if mode == "attach":
            check_not_gilscope(args.pid)
            info = inspect_pid(args.pid)
            check_traceable(args.pid, find_pyspy())
            target = ExternalTarget(pid=args.pid, info=info, children=args.children)
        else:
            check_argv(args.command)
            if find_pyspy() is None:
                raise TargetError("py-spy is not installed; pip install py-spy")
            # Headless: waiting for the command to become Python counts against --seconds.
            wait = min(PYTHON_APPEARS_S, args.seconds) if args.headless else PYTHON_APPEARS_S
            target = ExternalTarget(argv=args.command, python_wait_s=wait, children=args.children)
    except TargetError as e:
        print(f"gilscope {mode}: error: {e}", file=sys.stderr)
        return 2
    problem = live_view_problem(args.headless or args.metrics is not None)
    try:
        if problem:
            raise UsageError(problem)
        recorder = make_recorder(args.record, ["gilscope", mode, *argv])
    except UsageError as e:
        print(f"gilscope {mode}: error: {e}", file=sys.stderr)
        return 2
    session = Session(
        WorkloadSpec(), args.rate, target=target, probe_rate_hz=args.probe_rate, recorder=recorder
    )
    if args.metrics is not None:
        return serve_metrics(session, *args.metrics)
    return observe(session, args, None)


def serve_metrics(session: Session, host: str, port: int) -> int:
    """``--metrics``: observe without a UI, serving the counters, until a signal."""
    from gilscope.metrics import MetricsServer

    stop = threading.Event()
    caught: List[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        server = MetricsServer(session, host, port)
    except OSError as e:
        session.close()
        print(f"gilscope: error: cannot serve on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 2
    try:
        session.start()
        stop.wait()
    finally:
        server.stop()
        session.close()
    return 128 + caught[0] if caught else 0


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


def observe(
    session: Session,
    args: argparse.Namespace,
    plan: Optional[List[WorkloadSpec]],
    builds: Optional[Builds] = None,
) -> int:
    """Run ``session`` headless or in the live view, and always close it. ``builds``: the
    interpreters key g compares (the GIL vs free-threaded comparison)."""
    if args.headless:
        return _headless(session, args.seconds, plan)
    try:
        from gilscope.tui.make import make_app

        app = make_app(
            session, fps=args.fps, on_signal=session.close, talk=args.talk, builds=builds
        )
        session.start(plan)
        app.run()
    finally:
        session.close()
    return app.return_code or 0


def _headless(session: Session, seconds: float, plan: Optional[List[WorkloadSpec]]) -> int:
    """The JSON report on stdout. On SIGTERM, SIGHUP or SIGINT: the report so far, state
    ``interrupted``, and exit code 128 + the signal's number."""
    from gilscope.headless import run_headless

    stop = threading.Event()
    caught: List[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        doc = run_headless(session, seconds, stop, plan)
    finally:
        session.close()
    if not write_report(json.dumps(doc, indent=2) + "\n"):
        return 1
    if caught:
        return 128 + caught[0]
    return 0 if doc["state"] != "failed" else 1


def write_report(text: str) -> bool:
    """``text`` to stdout; if stdout cannot take it (a full disk, /dev/full, a reader that
    went away), one line on stderr and False."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
        return True
    except OSError as e:
        # What did not get out must not be retried at exit, which would print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        try:
            print(
                f"gilscope: error: could not write the report to stdout: {e.strerror or e}",
                file=sys.stderr,
            )
        except OSError:
            pass  # stderr is gone too: the exit code says it
        return False
