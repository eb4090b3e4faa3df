"""``gilscope replay FILE`` and ``gilscope export FILE --chrome-trace OUT.json``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, List

from gilscope.arguments import OneLineParser, positive_int, refuse
from gilscope.record.recording import RecordingError

if TYPE_CHECKING:
    from gilscope.record.replay import Replay


def parse(mode: str, argv: List[str]) -> argparse.Namespace:
    p = OneLineParser(
        prog=f"gilscope {mode}",
        description="Play a recording back in the live view, or print its report."
        if mode == "replay"
        else "Write a recording as a Chrome trace (Perfetto UI, chrome://tracing).",
    )
    p.add_argument("file", help="a recording made with --record")
    if mode == "replay":
        p.add_argument("--headless", action="store_true", help="print the run's JSON report")
        p.add_argument(
            "--speed", type=float, default=1.0, help="how much faster than recorded (default 1)"
        )
        p.add_argument("--fps", type=positive_int, default=10, help="UI frames per second")
    else:
        p.add_argument("--chrome-trace", metavar="OUT", required=True, help="where to write it")
    args = p.parse_args(argv)
    if mode == "replay" and not 0.25 <= args.speed <= 64:
        p.error("--speed must be between 0.25 and 64")
    return args


def record_main(mode: str, argv: List[str]) -> int:
    from gilscope.record.replay import Replay

    args = parse(mode, argv)
    try:
        replay = Replay(args.file)
    except RecordingError as e:
        return refuse(f"gilscope {mode}", e)
    if mode == "export":
        return export(replay, args.chrome_trace)
    if args.headless:
        return replay_headless(replay)
    return replay_live(replay, args)


def export(replay: Replay, out: str) -> int:
    from gilscope.record.export import chrome_trace, write_trace

    try:
        with open(out, "w") as f:
            write_trace(chrome_trace(replay), f)
    except OSError as e:
        return refuse("gilscope export", f"cannot write {out}: {e.strerror or e}")
    return 0


def replay_headless(replay: Replay) -> int:
    from gilscope.headless import report_of, write_report

    snap = replay.snapshot(replay.end_ns)
    doc = report_of(snap, replay.observation, replay.until_ns)
    if not write_report(json.dumps(doc, indent=2) + "\n"):
        return 1
    return 0 if doc["state"] != "failed" else 1


def replay_live(replay: Replay, args: argparse.Namespace) -> int:
    from gilscope.checks import live_view_problem
    from gilscope.record.replay import ReplaySource
    from gilscope.tui.make import make_app

    problem = live_view_problem(False)
    if problem:
        return refuse("gilscope replay", problem)
    app = make_app(ReplaySource(replay, args.speed), fps=args.fps)
    app.run()
    return app.return_code or 0
