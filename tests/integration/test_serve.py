"""gilscope serve: the live view in a real browser (headless Chromium), as on a projector."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import psutil
import pytest

from tests.integration import browser
from tests.integration.browser import Browser, free_port, png_pixels, wait_for

pytestmark = pytest.mark.integration

WINDOW = (1280, 720)
# The relay's region of the talk view, as fractions of the page: the lanes, not the header
# above them nor the results and core meters beside them.
RELAY = (0.15, 0.12, 0.75, 0.80)


def lane_share(png: bytes) -> float:
    """How much of the relay's region is drawn in the first process's lane colour (green):
    blocks of the threads that held the GIL. Zero if the relay is not drawn at all."""
    width, height, rows = png_pixels(png)
    x0, y0, x1, y1 = (int(f * n) for f, n in zip(RELAY, (width, height, width, height)))
    green = seen = 0
    for row in rows[y0:y1:2]:
        for x in range(x0, x1, 2):
            r, g, b = row[3 * x], row[3 * x + 1], row[3 * x + 2]
            green += g > 150 and g > r + 40 and b < 100
            seen += 1
    return green / max(seen, 1)


def descendants(pid: int) -> List[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid


@pytest.fixture
def server() -> Iterator[Served]:
    port = free_port()
    # A countdown long enough to still run while the page is looked at.
    argv = [sys.executable, "-m", "gilscope", "serve", "--port", str(port), "--talk",
            "--count", "3000000000", "--probe-rate", "2000", "--rate", "200"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield Served(proc, port)
    left = descendants(proc.pid)  # a test that failed may leave a page's gilscope
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for child in left:
        if _alive(child):
            child.kill()


def test_the_relay_is_drawn_in_a_browser_and_nothing_outlives_the_server(
    server: Served, tmp_path: Path
) -> None:
    reason = browser.missing()
    if reason:
        pytest.skip(reason)
    page = Browser(*WINDOW)
    try:
        url = f"http://localhost:{server.port}/?fontsize=14"
        wait_for(lambda: _answers(url), 15.0, "the server to answer")
        page.open(url)
        shots: List[bytes] = []

        def drawn() -> bool:
            shots.append(page.screenshot())
            return lane_share(shots[-1]) > 0.2  # a relay full of hand-offs: ~0.4

        wait_for(drawn, 45.0, "the relay's lanes in the page")
        (tmp_path / "browser.png").write_bytes(shots[-1])
        started = descendants(server.pid)
        assert any("worker.py" in " ".join(_cmdline(p)) for p in started), "no workers ran"
        # Stopped while the page is still open, the server ends the page's gilscope, which
        # ends its workers, probe and py-spy: nothing is left.
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(15)
        wait_for(lambda: not any(_alive(p) for p in started), 5.0, "the page's processes")
        assert time.monotonic() - t0 < 10
    finally:
        page.close()


async def test_a_page_s_gilscope_ends_with_a_killed_server(
    server: Served,
) -> None:
    """SIGKILLed, the server cannot stop its pages: each page's gilscope ends itself (and so
    its workers). The page here is a bare websocket, as the browser's script opens it."""
    import aiohttp

    url = f"http://localhost:{server.port}"
    wait_for(lambda: _answers(url), 15.0, "the server to answer")
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/ws?width=100&height=30"):
        deadline = time.monotonic() + 30
        while not any("worker.py" in " ".join(_cmdline(p)) for p in descendants(server.pid)):
            assert time.monotonic() < deadline, "the page's gilscope started no workers"
            await asyncio.sleep(0.1)
        started = descendants(server.pid)
        server.proc.kill()
        server.proc.wait()
        try:
            deadline = time.monotonic() + 5
            while any(_alive(p) for p in started):
                left = [_cmdline(p) for p in started if _alive(p)]
                assert time.monotonic() < deadline, left
                await asyncio.sleep(0.1)
        finally:
            for p in started:
                if _alive(p):
                    p.kill()


def _cmdline(p: psutil.Process) -> List[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_serve_refuses_bad_arguments_with_one_line() -> None:
    for argv in (["--port", "0"], ["--headless"], ["--scenario", "nope"]):
        done = subprocess.run(
            [sys.executable, "-m", "gilscope", "serve", *argv],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, argv
        assert done.stderr.count("\n") == 1 and "error:" in done.stderr, done.stderr
