"""What the viewer changes about the run itself: the scenario, the guided comparisons
(mixed, GIL vs no GIL), N and K, the switch interval, a restart. The app builds on it;
attach/run and a replay refuse these (``_observing_target``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional, Tuple

from gilscope.scenarios.builds import HOW_TO_GET_ONE, NO_GIL_BUILD, Builds, with_free_threaded
from gilscope.scenarios.workload import (
    SWITCH_PRESETS_MS,
    Scenario,
    WorkloadSpec,
    gil_vs_ft_plan,
    guided_plan,
)
from gilscope.tui.screens.picker import GIL_VS_FT, MIXED, ScenarioPicker
from gilscope.tui.screens.settings import SettingsScreen
from gilscope.tui.source import SnapshotSource
from gilscope.tui.view import ViewControls

DEFAULT_SWITCH_MS = 5.0  # CPython's own default, sys.getswitchinterval() == 0.005


def count_kind(scenario: Scenario) -> str:
    """Scenarios whose N means the same work share one remembered N."""
    return scenario.value if scenario in (Scenario.IO, Scenario.NATIVE) else "countdown"


class RunControls(ViewControls):
    """Set by the app: the source that runs the work, the builds key g compares, and N per
    kind of work, kept across scenario switches."""

    source: SnapshotSource
    builds: Optional[Builds]
    _counts: Dict[str, int]

    def _observing_target(self) -> bool:
        """attach / run: gilscope's own scenarios are not what is on screen."""
        snap = self._last
        if snap is not None and snap.target:
            self.notify(
                "Observing another process: scenarios, N/K and the switch interval are for "
                "gilscope's own workloads (start gilscope without attach/run).",
                severity="warning",
            )
            return True
        return False

    def _run(self, spec: WorkloadSpec) -> None:
        if self._observing_target():
            return
        self._timeline.paused_end_ns = None
        self.source.restart(spec)
        self._force = True
        self.pull()

    def action_scenario(self, name: str) -> None:
        snap, _ = self._spec()
        scenario = Scenario(name)
        count = self._counts.get(count_kind(scenario), scenario.default_count)
        self._run(replace(snap.spec, scenario=scenario, count=count))

    def action_pick(self) -> None:
        snap, _ = self._spec()
        if self._observing_target():
            return

        def chosen(name: Optional[str]) -> None:
            if name == MIXED:
                self.action_mixed()
            elif name == GIL_VS_FT:
                self.action_gil_vs_ft()
            elif name is not None:
                self.action_scenario(name)

        self.push_screen(ScenarioPicker(str(snap.spec.scenario)), chosen)

    def action_mixed(self) -> None:
        """The guided comparison: one key, every result filled in, for a talk."""
        snap, timeline = self._spec()
        if self._observing_target():
            return
        specs = guided_plan(
            snap.spec,
            self._counts.get("countdown", Scenario.THREADS.default_count),
            self._counts.get("native", Scenario.NATIVE.default_count),
        )
        timeline.paused_end_ns = None
        self.source.run_plan(specs)
        self._force = True
        self.pull()

    def action_gil_vs_ft(self) -> None:
        """The demo of 2026: K threads on a GIL build, then on a free-threaded one without
        its GIL; both relays side by side, both wall times in the results."""
        snap, timeline = self._spec()
        if self._observing_target():
            return
        self.builds = builds = with_free_threaded(self.builds or Builds(snap.spec.python, None))
        if builds.ft is None or builds.gil is None:
            self.notify(HOW_TO_GET_ONE if builds.ft is None else NO_GIL_BUILD, severity="warning")
            return
        count = self._counts.get("countdown", Scenario.THREADS.default_count)
        specs = gil_vs_ft_plan(replace(snap.spec, count=count), builds.gil, builds.ft)
        timeline.paused_end_ns = None
        self.source.run_plan(specs)
        self._force = True
        self.pull()

    def action_switch(self, step: int) -> None:
        """Next or previous sys.setswitchinterval preset; the run restarts with it."""
        snap, _ = self._spec()
        current = snap.spec.switch_ms if snap.spec.switch_ms is not None else DEFAULT_SWITCH_MS
        index = min(
            range(len(SWITCH_PRESETS_MS)), key=lambda i: abs(SWITCH_PRESETS_MS[i] - current)
        )
        index = max(0, min(len(SWITCH_PRESETS_MS) - 1, index + step))
        self._run(replace(snap.spec, switch_ms=SWITCH_PRESETS_MS[index]))

    def action_restart(self) -> None:
        self._timeline.paused_end_ns = None
        self.source.restart()
        self._force = True
        self.pull()

    def action_settings(self) -> None:
        snap = self._last or self.source.snapshot()
        if self._observing_target():
            return

        def apply(result: Optional[Tuple[int, int]]) -> None:
            if result is not None:
                count, workers = result
                self._counts[count_kind(snap.spec.scenario)] = count
                self._run(replace(snap.spec, count=count, workers=workers))

        self.push_screen(
            SettingsScreen(snap.spec.count, snap.spec.workers, snap.spec.scenario), apply
        )
