"""Command line: the modes. Arguments (``gilscope.arguments``) and the checks made before
anything starts (``gilscope.checks``) → a Session, then the TUI or the headless report;
``replay``/``export`` live in ``gilscope.record.cli``, ``serve`` in ``gilscope.serve``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import List, Optional, Tuple

from gilscope.arguments import (
    GIL_VS_FT,
    MIXED,
    UsageError,
    parse_args,
    parse_target_args,
    refuse,
)
from gilscope.checks import ask_python, check_share, find_ft_python, live_view_problem, served
from gilscope.exit_guard import ExitGuard
from gilscope.record.recorder import Recorder
from gilscope.record.recording import RecordingError
from gilscope.scenarios.builds import Builds
from gilscope.scenarios.workload import Scenario, WorkloadSpec, gil_vs_ft_plan, guided_plan
from gilscope.session import Session


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
        return refuse("gilscope", e)
    try:
        recorder = make_recorder(args.record, ["gilscope", *argv])
    except UsageError as e:
        return refuse("gilscope", e)
    session = Session(spec, rate_hz=args.rate, probe_rate_hz=args.probe_rate, recorder=recorder)
    return observe(session, args, plan, builds)


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
        return refuse(f"gilscope {mode}", e)
    problem = live_view_problem(args.headless or args.metrics is not None)
    try:
        if problem:
            raise UsageError(problem)
        recorder = make_recorder(args.record, ["gilscope", mode, *argv])
    except UsageError as e:
        return refuse(f"gilscope {mode}", e)
    session = Session(
        WorkloadSpec(), args.rate, target=target, probe_rate_hz=args.probe_rate, recorder=recorder
    )
    if args.metrics is not None:
        return serve_metrics(session, *args.metrics)
    return observe(session, args, None)


def _stop_on_signals() -> Tuple[threading.Event, List[int]]:
    """An event SIGTERM, SIGHUP and SIGINT set, and the signals caught (for the exit code
    128 + n): a run without a UI ends on them with what it saw so far."""
    stop = threading.Event()
    caught: List[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    return stop, caught


def serve_metrics(session: Session, host: str, port: int) -> int:
    """``--metrics``: observe without a UI, serving the counters, until a signal."""
    from gilscope.metrics import MetricsServer

    stop, caught = _stop_on_signals()
    guard = ExitGuard(stop, lambda: 128 + caught[0] if caught else 1, session.abandon)
    try:
        server = MetricsServer(session, host, port)
    except OSError as e:
        session.close()
        return refuse("gilscope", f"cannot serve on {host}:{port}: {e.strerror or e}")
    try:
        session.start()
        stop.wait()
    finally:
        server.stop()
        session.close()
        guard.done()
    return 128 + caught[0] if caught else 0


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
    from gilscope.headless import run_headless, write_report

    stop, caught = _stop_on_signals()
    guard = ExitGuard(stop, lambda: 128 + caught[0] if caught else 1, session.abandon)
    try:
        doc = run_headless(session, seconds, stop, plan)
    finally:
        session.close()
        guard.done()  # the report so far is written unguarded: a slow reader is no hang
    if not write_report(json.dumps(doc, indent=2) + "\n"):
        return 1
    if caught:
        return 128 + caught[0]
    return 0 if doc["state"] != "failed" else 1
