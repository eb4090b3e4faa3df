"""The process tree as the supervisor and the follower read it, and the header's count."""

from __future__ import annotations

from dataclasses import replace

from gilscope.sampling.supervisor import descendants
from gilscope.scenarios.workload import RunState
from gilscope.tui.widgets.status_bar import processes_text, status_text
from tests.tui.fixed_source import target_snapshot

# 1 init; 10 the supervisor; 11 the command; 12, 13 its workers; 14 a worker's child;
# 20 a daemon re-parented to the supervisor; 30 gilscope, with 31 below it; 99 a stranger.
PARENTS = {1: 0, 10: 30, 11: 10, 12: 11, 13: 11, 14: 13, 20: 10, 30: 1, 31: 30, 99: 1}


def test_descendants_parents_first_root_left_out() -> None:
    assert descendants(10, PARENTS) == [11, 20, 12, 13, 14]
    assert descendants(13, PARENTS) == [14]
    assert descendants(14, PARENTS) == []
    assert descendants(404, PARENTS) == []


def test_descendants_skip_a_subtree() -> None:
    # gilscope attached to its own ancestor: gilscope and what it started are left out.
    assert descendants(1, PARENTS, skip=(30,)) == [99]
    assert descendants(11, PARENTS, skip=(13,)) == [12]


def test_header_counts_processes() -> None:
    snap = replace(target_snapshot(), processes=5, processes_live=3, state=RunState.RUNNING)
    assert processes_text(snap) == "5 processes, 3 live"
    assert processes_text(replace(snap, state=RunState.DONE)) == "5 processes"
    assert processes_text(replace(snap, processes=1, processes_live=1)) == "1 process"
    assert "5 processes, 3 live" in status_text(snap, "2ms", False).plain
    # gilscope's own workloads: the scenario says how many processes there are
    workload = replace(snap, target="", target_kind="")
    assert "process" not in status_text(workload, "2ms", False).plain
