"""Regenerate the README's screenshots from the real app, real workers and real py-spy.

    .venv/bin/python screenshots/take.py

Runs each scenario in a real Session inside Textual's headless driver and saves SVGs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from gilscope.scenarios.workload import RunState, Scenario, WorkloadSpec
from gilscope.session import Session
from gilscope.tui.app import make_app

HERE = Path(__file__).parent
SIZE = (120, 32)


async def mid_run(scenario: Scenario, count: int, name: str, zoom_presses: str = "") -> None:
    session = Session(WorkloadSpec(scenario, count, 2, sys.executable))
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
    session = Session(WorkloadSpec(Scenario.SEQUENTIAL, 50_000_000, 2, sys.executable))
    session.start()
    app = make_app(session)
    try:
        async with app.run_test(size=SIZE) as pilot:
            for key in ("1", "2", "3"):
                await pilot.press(key)
                await asyncio.sleep(0.5)
                deadline = time.monotonic() + 60
                while session.state is not RunState.DONE and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            await pilot.press("minus", "minus", "minus")  # 20 ms/col: the whole last run
            await pilot.pause()
            app.save_screenshot(str(HERE / "results.svg"))
    finally:
        session.close()


async def main() -> None:
    await mid_run(Scenario.THREADS, 400_000_000, "threads")
    await mid_run(Scenario.PROCESSES, 400_000_000, "processes", zoom_presses="--")
    await results()


if __name__ == "__main__":
    asyncio.run(main())
