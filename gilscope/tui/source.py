"""What the app needs from a session: the real Session, or a fixed stream in tests."""

from __future__ import annotations

from typing import List, Optional, Protocol

from gilscope.scenarios.workload import WorkloadSpec
from gilscope.snapshot import Snapshot


class SnapshotSource(Protocol):
    def snapshot(self) -> Snapshot: ...

    def restart(self, spec: Optional[WorkloadSpec] = None) -> None: ...

    def run_plan(self, specs: List[WorkloadSpec]) -> None: ...
