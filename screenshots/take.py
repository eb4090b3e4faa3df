"""Regenerate the README's screenshots from the real app, real workers and real py-spy.

    .venv/bin/python screenshots/take.py

Runs each scenario in a real Session inside Textual's headless driver and saves SVGs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from gilscope.scenarios.builds import HOW_TO_GET_ONE, Builds, find_free_threaded
from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec
from gilscope.session import Session
from gilscope.tui.app import make_app

HERE = Path(__file__).parent
SIZE = (120, 32)


async def mid_run(
    scenario: Scenario, count: int, name: str, zoom_presses: str = "", workers: int = 2
) -> None:
    session = Session(WorkloadSpec(scenario, count, workers, sys.executable))
    session.start()
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            for key in zoom_presses:
                await pilot.press({"+": "plus", "-": "minus"}[key])
            await asyncio.sleep(3.0)  # past py-spy's first windows, well before the end
            await pilot.pause()
            app.save_screenshot(str(HERE / f"{name}.svg"))
    finally:
        session.close()


async def results() -> None:
    """The guided comparison (key m) run to its end: every result filled in."""
    session = Session(WorkloadSpec(Scenario.SEQUENTIAL, 50_000_000, 2, sys.executable))
    session.start()
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("m")
            await asyncio.sleep(0.5)
            deadline = time.monotonic() + 120
            while (
                session.state is not RunState.DONE or session.plan_remaining
            ) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            await pilot.press("minus", "minus", "minus")  # 20 ms/col: the whole last run
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
            deadline = time.monotonic() + 120
            while (
                session.state is not RunState.DONE or session.plan_remaining
            ) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
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


async def main() -> None:
    if sys.argv[1:] == ["gil-vs-ft"]:  # that one alone
        await gil_vs_ft()
        return
    await mid_run(Scenario.THREADS, 400_000_000, "threads")
    await mid_run(Scenario.PROCESSES, 400_000_000, "processes", zoom_presses="--")
    await mid_run(Scenario.CONVOY, 400_000_000, "convoy", zoom_presses="+")
    await mid_run(Scenario.IO, 20_000, "io", workers=4)
    await mid_run(Scenario.NATIVE, 16_384, "native", zoom_presses="---")
    await results()
    await gil_vs_ft()
    await run_target()


if __name__ == "__main__":
    asyncio.run(main())
