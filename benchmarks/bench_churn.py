"""Threads that come and go, attached, under every CPython here: how close each thread's GIL
share is to its own stamps, and how many got their own name.

    .venv/bin/python benchmarks/bench_churn.py [--phases 3] [--seconds 1.2]

The target (tests/churn_target.py) runs phases of two new threads that stamp every 30-50 µs;
each thread's share from those stamps is the truth (tests/integration/test_churn.py's
``held_by_stamps``). Prints, per CPython, the median and largest |probe - stamps| in pp of
the run, and the threads named right.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import footer, header

from gilscope.sampling.target import inspect_pid
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import WorkloadSpec
from gilscope.session import Session
from tests.integration.test_churn import CHURN, held_by_stamps
from tests.pythons import PYTHONS


def one(python: str, phases: int, seconds: float) -> str:
    out = os.path.join(tempfile.mkdtemp(prefix="churn-"), "stamps.json")
    target = subprocess.Popen(
        [python, str(CHURN), out, str(phases), str(seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert target.stdin is not None and target.stdout is not None
    attached = ExternalTarget(pid=target.pid, info=inspect_pid(target.pid))
    session = Session(WorkloadSpec(), target=attached)
    try:
        session.start()
        while session.snapshot().probe.state not in ("ready", "failed"):
            time.sleep(0.02)
        target.stdin.write(b"go\n")
        target.stdin.flush()
        target.stdout.readline()
        windows = session.snapshot().pyspy.windows
        while session.snapshot().pyspy.windows < windows + 3:
            time.sleep(0.05)
        with session.observed() as obs:
            got = {r.tid: (r.name, obs.timeline.tally(r.key).held_ns)
                   for r in obs.threads.records()}  # fmt: skip
    finally:
        session.close()
        target.stdin.close()
        target.kill()
        target.wait()
    with open(out) as f:
        truth = json.load(f)
    held, _, span = held_by_stamps(truth)
    errors = sorted(abs(got[int(k)][1] - held[int(k)]) / span * 100 for k in truth)
    named = sum(got[int(k)][0] == v["name"] for k, v in truth.items())
    return (
        f"share error per thread median {errors[len(errors) // 2]:.2f} pp, "
        f"max {errors[-1]:.2f} pp; names right {named}/{len(truth)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.2)
    args = parser.parse_args()
    header("bench_churn: threads that come and go, their own GIL time and names")
    for version, python in PYTHONS:
        print(f"{version:>8}: {one(python, args.phases, args.seconds)}", flush=True)
    footer()


if __name__ == "__main__":
    main()
