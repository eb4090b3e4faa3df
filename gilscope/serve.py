"""``gilscope serve``: the same live view in a browser (textual-serve), for a projector.

Each page that connects gets a gilscope of its own, started with the arguments given after
the server's own, and ended (with every child it started) when the page closes or the
server stops.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import signal
import socket
import sys
from typing import List, Optional

import psutil

from gilscope.arguments import OneLineParser, UsageError, parse_args, parse_target_args, refuse
from gilscope.checks import check_python

DEFAULT_PORT = 8000
PR_SET_PDEATHSIG = 1
FONT_SIZE = 24  # cells a projected page reads from the back of a room at (?fontsize=N)


def port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


def parse_serve_args(argv: List[str]) -> argparse.Namespace:
    p = OneLineParser(
        prog="gilscope serve",
        allow_abbrev=False,  # --p… may be the page's (--python, --probe-rate), not --port
        description="Serve the live view to browsers; arguments it does not know are "
        "gilscope's own, for every page (e.g. --talk, --scenario mixed, run -- python app.py).",
    )
    p.add_argument("--host", default="localhost", help="address to listen on (default localhost)")
    p.add_argument(
        "--port", type=port_arg, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    p.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the address browsers reach the server at, if not http://HOST:PORT (behind a "
        "proxy); with --host 0.0.0.0 it is this machine's own address",
    )
    args, rest = p.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    args.app_args = rest
    return args


def check_app_args(rest: List[str]) -> None:
    """What each page will run must start: check it once, here, with gilscope's own words."""
    own = rest[: rest.index("--")] if "--" in rest else rest  # not a run command's own
    if "--headless" in own:
        raise UsageError("--headless has no page to show; leave it out")
    if rest and rest[0] in ("attach", "run"):
        parse_target_args(rest[0], rest[1:])
        return
    args = parse_args(rest)
    check_python(args.python)


def public_url(host: str, port: int) -> Optional[str]:
    """The page's own links must name an address a browser can reach: for a server that
    listens on every address, this machine's (the one it would reach the world from)."""
    if host not in ("0.0.0.0", "::", ""):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: nothing is sent
            address = str(probe.getsockname()[0])
        except OSError:
            address = socket.gethostname()
    return f"http://{address}:{port}"


def check_port(host: str, port: int) -> None:
    """Fail with one line now rather than with the web server's traceback later."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def serve_main(argv: List[str]) -> int:
    args = parse_serve_args(argv)
    try:
        check_app_args(args.app_args)
        check_port(args.host, args.port)
    except UsageError as e:
        return refuse("gilscope serve", e)
    try:
        from textual_serve.server import Server
    except ImportError:
        return refuse("gilscope serve", "textual-serve is not installed; pip install textual-serve")

    class PageServer(Server):
        """Stops every page's gilscope when it stops: the web server alone would wait up
        to a minute for open pages to close before it let go of them."""

        def request_exit(self) -> None:
            end_pages()
            super().request_exit()

    # exec: each page's gilscope is the server's own child, not a shell's, so a signal
    # reaches it and its session ends every child it started.
    command = "exec " + shlex.join([sys.executable, "-m", "gilscope", *args.app_args])
    url = args.public_url or public_url(args.host, args.port)
    server = PageServer(command, host=args.host, port=args.port, title="gilscope", public_url=url)
    shown = (url or server.public_url).rstrip("/")
    print(f"gilscope: open {shown}/?fontsize={FONT_SIZE} (larger for a projector: ?fontsize=32)")
    # The terminal that ran the server is gone: stop as on Ctrl-C (GracefulExit unwinds).
    signal.signal(signal.SIGHUP, lambda *_: server.request_exit())
    server.serve()
    return 0


def end_pages() -> None:
    """SIGTERM to each page's gilscope (it then stops what it started, as on q)."""
    for child in psutil.Process().children():
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass


def end_with_server() -> None:
    """In a page's gilscope: when the server goes, even SIGKILLed, this one gets SIGTERM and
    ends as on q, with everything it started (its stdin closing alone does not end it)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # gone before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
