"""gilscope's own memory stays bounded however many threads come and go."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import psutil
import pytest

pytestmark = pytest.mark.integration

SPAWNER = Path(__file__).resolve().parent.parent / "spawner_target.py"
MiB = 1 << 20


def test_rss_stays_flat_under_fast_thread_churn(tmp_path: Path) -> None:
    """400 short threads a second for 12 s: ~4,800 threads, the churn of three minutes of a
    busy thread-per-request server. Every lane ever seen used to keep ~1.2 MiB of rings:
    that was ~5.6 GiB here. Now ended threads are folded into their family's lane
    and forgotten past a bound."""
    target = subprocess.Popen(
        [sys.executable, str(SPAWNER), "400"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert target.stdout is not None and target.stdin is not None
    assert target.stdout.readline() == b"spawning\n"
    report = tmp_path / "report.json"  # a file: the report is larger than a pipe holds
    observer = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "attach", str(target.pid), "--headless",
         "--seconds", "12"],
        stdin=subprocess.DEVNULL, stdout=report.open("wb"), stderr=subprocess.PIPE,
    )  # fmt: skip
    rss: List[float] = []
    try:
        me = psutil.Process(observer.pid)
        while observer.poll() is None:
            try:
                rss.append(me.memory_info().rss / MiB)
            except psutil.Error:
                break
            time.sleep(1.0)
        _, err = observer.communicate(timeout=30)
    finally:
        observer.kill()
        observer.wait()
        target.stdin.close()
        spawned_line = target.stdout.readline().split()  # b"spawned N SECONDS"
        target.kill()
        target.wait()
    assert observer.returncode == 0, err
    assert len(rss) > 9, rss
    # After the first 4 s (imports, the first 1,600 threads) it must not keep growing: a
    # generous 40 MiB over the last 8 s, which thread by thread would have been ~3.7 GiB.
    settled = rss[4]
    assert max(rss[4:]) - settled < 40, [round(r) for r in rss]
    assert max(rss) < 250, [round(r) for r in rss]
    doc = json.loads(report.read_text())
    (process,) = doc["processes"]
    jobs = {f["family"]: f["threads"] for f in process["families"]}
    # they were seen: at least half of what the target started while observed, at the rate
    # it managed (on a busy machine it starts fewer than 400 a second)
    started, seconds = int(spawned_line[1]), float(spawned_line[2])
    expected = started / seconds * doc["observed_s"]
    seen = jobs.get("job-*", 0) + jobs.get("thread *", 0)
    assert seen > 0.5 * expected and seen > 200, (
        jobs, started, seconds, doc["observed_s"], process["probe"], doc["probe"], doc["problems"]
    )  # fmt: skip
