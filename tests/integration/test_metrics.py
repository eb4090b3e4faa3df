"""``gilscope attach PID --metrics HOST:PORT`` scraped by a real Prometheus server: the rate
of a thread's held seconds is its GIL share."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

pytestmark = pytest.mark.integration

# Two threads that share the GIL, named, until stdin closes.
TWO_BUSY = textwrap.dedent(
    """
    import sys, threading
    def busy():
        while True:
            n = 20_000
            while n > 0:
                n -= 1
    for i in range(2):
        threading.Thread(target=busy, name=f"busy-{i}", daemon=True).start()
    print("up", flush=True)
    sys.stdin.read()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        text: str = r.read().decode()
        return text


def wait_until(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
            if value:
                return value
        except OSError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[Dict[str, Any]]:
    """A two-thread target, and gilscope serving its counters."""
    script = tmp_path / "busy.py"
    script.write_text(TWO_BUSY)
    target = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)  # fmt: skip
    assert target.stdout is not None and target.stdout.readline() == b"up\n"
    port = free_port()
    gilscope = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "attach", str(target.pid), "--metrics",
         f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: "gilscope_gil_held_seconds_total" in get(url), 30, "metrics")
        yield {"url": url, "port": port, "pid": target.pid, "gilscope": gilscope}
    finally:
        gilscope.send_signal(signal.SIGTERM)
        try:
            _, err = gilscope.communicate(timeout=10)
        finally:
            gilscope.kill()
            target.kill()
            target.wait()
    # A shutdown that hung was ended by the exit guard, which names the hung thread here
    assert "shutdown did not finish" not in err.decode(), err.decode()


def test_the_exposition_names_threads_and_counts_hand_offs(observed: Dict[str, Any]) -> None:
    pid = observed["pid"]
    # named as the kernel knows them until py-spy's first window names them
    named = f'gilscope_gil_held_seconds_total{{pid="{pid}",thread="busy-0"'
    counted = f'gilscope_gil_handoffs_total{{pid="{pid}"}}'  # once the probe reads it
    text = wait_until(
        lambda: named in (t := get(observed["url"])) and counted in t and t, 60, "the counters"
    )
    assert f'gilscope_gil_held_seconds_total{{pid="{pid}",thread="busy-0"' in text
    assert f'gilscope_gil_handoffs_total{{pid="{pid}"}}' in text
    assert f'gilscope_probe_reads_total{{pid="{pid}"}}' in text
    observed["gilscope"].send_signal(signal.SIGTERM)
    assert observed["gilscope"].wait(10) == 128 + signal.SIGTERM


PROMETHEUS_CONFIG = """
global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
  - job_name: gilscope
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def test_prometheus_rate_of_held_seconds_is_the_gil_share(
    observed: Dict[str, Any], tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(port=observed["port"]))
    web = free_port()
    server = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        series = 'gilscope_gil_held_seconds_total{thread=~"busy-.*"}'

        def ask(query: str) -> List[Dict[str, Any]]:
            api = f"http://127.0.0.1:{web}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            result: List[Dict[str, Any]] = json.loads(get(api))["data"]["result"]
            return result

        # until both named series have six scrapes in the last 3 s: a rate over a window
        # the series covered only in part would be extrapolated from too little
        wait_until(
            lambda: len([r for r in ask(f"count_over_time({series}[3s]) >= 6")]) == 2,
            60, "six scrapes of both threads",
        )  # fmt: skip
        result = ask(f"rate({series}[3s])")
    finally:
        server.terminate()
        server.wait(10)
    rates = {r["metric"]["thread"]: float(r["value"][1]) for r in result}
    # Two busy threads: one of them holds the GIL at any instant, about half each.
    assert 0.85 < sum(rates.values()) <= 1.02, rates
    assert all(0.3 < r < 0.7 for r in rates.values()), rates
