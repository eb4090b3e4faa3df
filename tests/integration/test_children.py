"""``run`` and ``attach`` follow a Python program's child processes (multiprocessing with
fork, spawn and forkserver, a process pool, a prefork parent), each read by the GIL probe;
and a ``run`` command's whole tree, daemons included, goes when gilscope goes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import psutil
import pytest

from gilscope.headless import report
from gilscope.model.lanes import LaneKey
from gilscope.observe.observation import Observation
from gilscope.sampling.descendants import ProcessFollower
from gilscope.scenarios.external import ExternalTarget
from gilscope.scenarios.workload import WorkloadSpec
from gilscope.session import Session
from tests.cli_run import ROOT, run_gilscope
from tests.pty_run import start_in_pty

pytestmark = pytest.mark.integration

GONE_WITHIN_S = 2.0  # the promise: nothing of a run's tree is left 2 s after gilscope ends

# Two workers burn CPU until gilscope ends the run (the probe's first verdict on a binary
# can take a second or two on a busy machine); each says its pid.
POOLS = {
    "pool-fork": "ctx = mp.get_context('fork'); pool = ctx.Pool(2)",
    "spawn": "ctx = mp.get_context('spawn'); pool = ctx.Pool(2)",
    "forkserver": "ctx = mp.get_context('forkserver'); pool = ctx.Pool(2)",
    "executor": "pool = cf.ProcessPoolExecutor(2)",
}
POOL_SCRIPT = """
import concurrent.futures as cf, multiprocessing as mp, os, time

def work(_):
    os.write(1, b"worker %d\\n" % os.getpid())  # one write: lines cannot interleave
    while True:
        sum(range(1000))

if __name__ == "__main__":
    {make}
    list(pool.map(work, range(2)))
"""
OBSERVE_S = "6"


def processes_of(doc: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    return {p["pid"]: p for p in doc["processes"]}


def gil_share(process: Dict[str, Any]) -> float:
    return sum(t["gil_share"] or 0.0 for t in process["threads"])


def said(doc: Dict[str, Any], word: str) -> List[int]:
    """The pids the script's lines ``word PID…`` gave."""
    return [int(x) for line in doc["log_tail"] if line.startswith(word + " ")
            for x in line.split()[1:]]  # fmt: skip


@pytest.mark.parametrize("kind", list(POOLS))
def test_run_follows_pool_workers(tmp_path: Path, kind: str) -> None:
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT.format(make=POOLS[kind]))
    session = Session(WorkloadSpec(), target=ExternalTarget(argv=[sys.executable, str(script)]))
    try:
        session.start()

        last: Dict[str, Any] = {}

        def drawn() -> bool:
            with session.observed() as obs:
                workers = said_by(obs, "worker")
                mains = [obs.threads.find(pid, pid) for pid in workers]
                probe = obs.samplers.probe
                states = [(p, (t.state, t.reason) if probe and (t := probe.target(p)) else None)
                          for p in workers]  # fmt: skip
                where = [where_held(obs, k) for k in mains]
                last.update(workers=workers, drawn=sorted(obs.probe.drawn), probe=states,
                            where=where)  # fmt: skip
                return (
                    len(workers) == 2
                    and set(workers) <= obs.probe.drawn
                    and where == ["work", "work"]
                )

        # until the probe draws both workers (its first verdict on a binary can take a
        # second or two on a busy machine) and py-spy's latest window has them in work
        # (not still starting up, as a loaded machine's forkserver workers may be for
        # seconds), then a second of exact runs
        try:
            wait(drawn, 60, "the probe to draw both workers")
        except AssertionError as e:
            raise AssertionError(f"{e}: {last}") from None
        time.sleep(1.0)
        doc = report(session)
    finally:
        session.close()
    assert doc["state"] == "running", doc["log_tail"]
    assert doc["source"] == "probe", doc["probe"]
    workers = said(doc, "worker")
    assert len(set(workers)) == 2, doc["log_tail"]
    processes = processes_of(doc)
    main = doc["processes"][0]  # the command first: processes in order of discovery
    assert main["cmdline"].endswith(str(script)) and main["python_version"], main
    for pid in workers:
        assert pid in processes, (pid, sorted(processes))
        worker = processes[pid]
        assert worker["source"] == "probe" and worker["alive"] is True, worker
        assert worker["parent"] in processes, worker  # the command, or forkserver's server
        if kind in ("spawn", "forkserver"):
            assert "multiprocessing" in worker["cmdline"], worker["cmdline"]
        # The probe drew it holding its own GIL, in exact runs.
        assert worker["probe"] == "ready" and gil_share(worker) > 0, worker
        main_thread = next(t for t in worker["threads"] if t["tid"] == pid)  # tid == pid
        assert main_thread["mean_hold_ms"] > 0 and main_thread["function"] == "work"


def where_held(obs: Observation, key: Optional[LaneKey]) -> str:
    """The function py-spy last saw the thread hold the GIL in most ("": not yet)."""
    held = obs.pyspy.stack(key) if key is not None else None
    return held.stacks[0].frames[-1].function if held is not None and held.stacks else ""


def said_by(obs: Observation, word: str) -> List[int]:
    """The pids a live target's lines ``word PID`` gave so far."""
    lines = obs.details().get("log", ())
    return [int(x) for line in lines if line.text.startswith(word + " ")
            for x in line.text.split()[1:]]  # fmt: skip


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# A parent that forks N workers (gunicorn's way); they work 3 s and end, it stays.
PREFORK = """
import os, sys, time
workers = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            sum(range(1000))
        os._exit(0)
    workers.append(pid)
print("workers", *workers, flush=True)
for pid in workers:
    os.waitpid(pid, 0)
print("all ended", flush=True)
time.sleep(300)
"""


def test_run_follows_a_prefork_parent_and_python_behind_a_shell(tmp_path: Path) -> None:
    """Workers that end keep their data; a Python started through a shell (walked
    through, not followed) that stays in between is found."""
    prefork = tmp_path / "prefork.py"
    prefork.write_text(PREFORK)
    outer = tmp_path / "outer.py"
    outer.write_text(
        "import subprocess, sys\n"
        f"subprocess.run(['sh', '-c', '{sys.executable} {prefork}; true'], check=True)\n"
    )
    proc = run_gilscope("run", "--headless", "--seconds", OBSERVE_S, "--", sys.executable,
                        str(outer))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "all ended" in doc["log_tail"], doc["log_tail"]
    workers = said(doc, "workers")
    processes = processes_of(doc)
    server = next(p for p in processes.values() if p["cmdline"].endswith(str(prefork)))
    shell = server["parent"]
    assert shell not in processes  # sh: walked through, not followed
    assert server["alive"] is True
    for pid in workers:
        worker = processes[pid]
        assert worker["parent"] == server["pid"] and worker["alive"] is False, worker
        assert worker["source"] == "probe" and worker["probe"] == "ended", worker
        assert gil_share(worker) > 0, worker
        assert next(t for t in worker["threads"] if t["tid"] == pid)["mean_hold_ms"] > 0
        assert all(t["alive"] is False for t in worker["threads"])
    assert len(processes) == 2 + len(workers)  # outer.py, prefork.py and its workers


FAMILY = """
import os, sys, time
def spin():
    while True:
        sum(range(1000))
workers = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        spin()
    workers.append(pid)
print("workers", *workers, flush=True)
spin()
"""


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float = 30) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"ended before printing {prefix!r}")
        if line.startswith(prefix):
            return line
    raise AssertionError(f"did not print {prefix!r} within {timeout_s} s")


def test_attach_follows_children_unless_told_not_to(tmp_path: Path) -> None:
    script = tmp_path / "family.py"
    script.write_text(FAMILY)
    target = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        workers = [int(p) for p in wait_for_line(target, "workers ").split()[1:]]
        proc = run_gilscope("attach", str(target.pid), "--headless", "--seconds", "3")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        processes = processes_of(doc)
        assert list(processes) == [target.pid, *workers]  # in order of discovery
        assert doc["source"] == "probe", doc["probe"]
        for pid in workers:
            worker = processes[pid]
            assert worker["alive"] is True and worker["parent"] == target.pid, worker
            assert worker["source"] == "probe" and worker["probe"] == "ready", worker
            assert gil_share(worker) > 0, worker

        proc = run_gilscope("attach", str(target.pid), "--no-children", "--headless",
                            "--seconds", "1")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert list(processes_of(json.loads(proc.stdout))) == [target.pid]
        # attach never signals the user's processes, children included
        assert target.poll() is None
        assert all(running(psutil.Process(pid)) for pid in workers)
    finally:
        os.killpg(target.pid, signal.SIGKILL)
        target.wait()


def test_follower_sees_through_an_exec(tmp_path: Path) -> None:
    """A process that is a shell at first and execs Python (a pyenv shim, ``sh -c 'exec
    python …'``) is followed once it is Python."""
    script = tmp_path / "sleepy.py"
    script.write_text("import time\ntime.sleep(30)\n")
    shell = subprocess.Popen(
        ["sh", "-c", f"read line; exec {sys.executable} {script}"], stdin=subprocess.PIPE
    )
    try:
        follower = ProcessFollower(shell.pid)
        follower.scan()
        assert follower.found == 0  # sh: not Python
        assert shell.stdin is not None
        shell.stdin.write(b"go\n")
        shell.stdin.close()
        deadline = time.monotonic() + 10
        while not follower.found and time.monotonic() < deadline:
            time.sleep(0.02)
            follower.scan()
        (started, process), *more = follower.take().events
        assert started and not more and process.pid == shell.pid
        assert process.cmdline.endswith(str(script))
    finally:
        shell.kill()
        shell.wait()


# The run's tree: a setsid grandchild, a double-forked daemon (re-parented to the
# supervisor once its parent exits), a pool of workers and a non-Python child.
DAEMONS = """
import multiprocessing as mp, os, subprocess, sys, time
LIVE = "import time\\nwhile True: time.sleep(1)\\n"
subprocess.Popen([sys.executable, "-c", LIVE + "# setsid-grandchild"], start_new_session=True)
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", LIVE + "# daemon"])
    os._exit(0)
os.waitpid(pid, 0)
subprocess.Popen(["sleep", "300"])
pool = mp.get_context("fork").Pool(2)
print("all started", flush=True)
time.sleep(300)
"""


def running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_tree(
    observer: int, ready: Callable[[List[psutil.Process]], bool]
) -> List[psutil.Process]:
    parent = psutil.Process(observer)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            tree = [c for c in parent.children(recursive=True) if running(c)]
            if ready(tree):
                return tree
        except psutil.Error:
            pass
        time.sleep(0.05)
    raise AssertionError("the run's tree never came up")


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def seconds_until_gone(tree: List[psutil.Process]) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        if not any(running(p) for p in tree):
            return time.monotonic() - t0
        time.sleep(0.005)
    left = [(p.pid, cmdline(p)[:60]) for p in tree if running(p)]
    for p in tree:
        if running(p):
            p.kill()
    raise AssertionError(f"still running 10 s later: {left}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_nothing_of_a_run_outlives_gilscope(tmp_path: Path, sig: signal.Signals) -> None:
    script = tmp_path / "daemons.py"
    script.write_text(DAEMONS)
    gilscope = subprocess.Popen(
        [sys.executable, "-m", "gilscope", "run", "--headless", "--seconds", "120", "--",
         sys.executable, str(script)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip
    try:

        def ready(tree: List[psutil.Process]) -> bool:
            lines = [cmdline(p) for p in tree]
            workers = [p for p in tree if cmdline(p).endswith(str(script)) and
                       p.ppid() != gilscope.pid]  # fmt: skip
            return (
                any("# setsid-grandchild" in c for c in lines)
                and any("# daemon" in c for c in lines)
                and any(c == "sleep 300" for c in lines)
                and len(workers) == 3  # the command and its two pool workers
            )

        tree = wait_for_tree(gilscope.pid, ready)
        supervisor = next(
            p for p in tree if p.ppid() == gilscope.pid and "supervisor" in cmdline(p)
        )
        daemon = next(p for p in tree if "# daemon" in cmdline(p))
        assert daemon.ppid() == supervisor.pid  # an orphan, caught by the subreaper
        gilscope.send_signal(sig)
        seconds = seconds_until_gone(tree)
        print(f"{sig.name}: the last process of the run's tree was gone after {seconds:.3f} s")
        assert seconds < GONE_WITHIN_S
        gilscope.communicate(timeout=10)
        assert gilscope.returncode == (-sig if sig == signal.SIGKILL else 128 + sig)
    finally:
        if gilscope.poll() is None:
            gilscope.kill()
            gilscope.communicate()


def test_a_run_ending_takes_its_leftovers_along(tmp_path: Path) -> None:
    """The command exits and leaves a setsid daemon behind: it goes too."""
    script = tmp_path / "leaves.py"
    script.write_text(
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " start_new_session=True)\n"
        "print('left', p.pid, flush=True)\n"
    )
    proc = run_gilscope("run", "--headless", "--seconds", "60", "--", sys.executable, str(script))
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 0
    left = int(next(x for x in doc["log_tail"] if x.startswith("left ")).split()[1])
    assert not psutil.pid_exists(left) or not running(psutil.Process(left))


def test_quitting_the_live_view_of_a_run_leaves_nothing(tmp_path: Path) -> None:
    """``q`` in the live view: the header counted the run's processes, and the whole tree
    is gone within 2 s."""
    script = tmp_path / "daemons.py"
    script.write_text(DAEMONS)
    # A short command line and a wide terminal: the header gives up the command, then the
    # process count, to the busy note a loaded machine brings (tests/tui/test_sizes.py).
    app, master, screen = start_in_pty(
        "run", "--", sys.executable, script.name, rows=30, cols=200, cwd=str(tmp_path)
    )
    try:
        tree = wait_for_tree(
            app.pid,
            lambda t: (
                any("# daemon" in cmdline(p) for p in t)
                and sum(cmdline(p).endswith(script.name) for p in t) == 4
            ),
        )
        deadline = time.monotonic() + 30
        # The command, its pool workers, the setsid grandchild and the daemon.
        counted = re.compile(rb"\b5 processes\b")
        while not counted.search(b"".join(screen)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counted.search(b"".join(screen)), "the header never counted the processes"
        os.write(master, b"q")
        seconds = seconds_until_gone(tree)
        print(f"q: the last process of the run's tree was gone after {seconds:.3f} s")
        assert seconds < GONE_WITHIN_S
        app.wait(timeout=10)
        assert b"Traceback" not in b"".join(screen)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        os.close(master)
