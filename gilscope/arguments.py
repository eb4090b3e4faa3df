"""The command line's words: the flags of every mode, their value types and their checks.

Everything that reads arguments (``gilscope``, ``attach``/``run``, ``replay``/``export``,
``serve``) builds on this module, so imports flow one way. Bad input is one line and exit
code 2, never argparse's usage block or a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional, Tuple

from gilscope import __version__
from gilscope.sampling.probe_process import DEFAULT_RATE_HZ as DEFAULT_PROBE_HZ
from gilscope.sampling.probe_process import FIFO_MAX_RATE_HZ as FIFO_PROBE_HZ
from gilscope.sampling.probe_process import MAX_RATE_HZ as MAX_PROBE_HZ
from gilscope.scenarios.workload import MAX_WORKERS, Scenario

MIXED = "mixed"  # not a workload: the guided comparison, run after run
GIL_VS_FT = "gil-vs-ft"  # the countdown in K threads on a GIL build, then a free-threaded one


class UsageError(Exception):
    """A bad flag value or target: one line for the user, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """Bad flags get one line, not argparse's usage block, and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def refuse(prog: str, problem: object) -> int:
    """Bad input that got past the flags: one line, ``PROG: error: problem``, on stderr;
    the exit code for it, 2."""
    print(f"{prog}: error: {problem}", file=sys.stderr)
    return 2


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
