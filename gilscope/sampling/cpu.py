"""Per-core and per-thread CPU utilization, from psutil."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import psutil

_HAS_PROC = os.path.exists("/proc/self/schedstat")


@dataclass(frozen=True)
class ThreadCpu:
    pid: int
    tid: int
    cpu: float  # fraction of one core since the previous sample, 0–1
    cpu_ns: int  # CPU time used since the previous sample
    runq_ns: int = 0  # time it was ready to run but waited for a CPU (the run queue)


@dataclass(frozen=True)
class CpuSample:
    start_ns: int
    end_ns: int
    cores: Tuple[float, ...]  # utilization per core, 0–1
    threads: Tuple[ThreadCpu, ...]
    tids: Dict[int, List[int]] = field(default_factory=dict)  # per pid: every live thread


class BusyMeter:
    """How much CPU processes *other* than a set of process trees use: the machine's busy
    time minus the trees' CPU time. Ratios of wall times mean little when it is high."""

    def __init__(self) -> None:
        self._last: Optional[Tuple[int, float, float]] = None  # (t_ns, machine s, trees s)

    def sample(self, roots: Iterable[int]) -> Optional[float]:
        """Cores the others kept busy since the previous call (None on the first)."""
        now = time.monotonic_ns()
        t = psutil.cpu_times()
        machine = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        trees = _trees_cpu_s(roots)
        last, self._last = self._last, (now, machine, trees)
        if last is None or now <= last[0]:
            return None
        return max(0.0, ((machine - last[1]) - (trees - last[2])) / ((now - last[0]) / 1e9))


def _trees_cpu_s(roots: Iterable[int]) -> float:
    """CPU seconds of the ``roots`` and their descendants, the reaped ones included (they
    are in their parents' children times), so the sum only grows while the trees live.
    Each process once: a followed worker is also below the process that started it."""
    procs: Dict[int, psutil.Process] = {}
    for pid in roots:
        if pid in procs:
            continue
        try:
            root = psutil.Process(pid)
            procs.update((p.pid, p) for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            continue
    total = 0.0
    for proc in procs.values():
        try:
            c = proc.cpu_times()
        except psutil.Error:
            continue
        total += c.user + c.system + c.children_user + c.children_system
    return total


class CpuSampler:
    """Call ``sample`` at a steady rate; each call covers the time since the previous one."""

    def __init__(self) -> None:
        psutil.cpu_percent(percpu=True)  # the first reading is meaningless: prime it
        self._last_ns = time.monotonic_ns()
        self._thread_times: Dict[Tuple[int, int], Tuple[float, float]] = {}
        self._pids: set[int] = set()  # the processes of the previous sample
        self._procs: Dict[int, psutil.Process] = {}

    def sample(self, pids: Iterable[int]) -> CpuSample:
        now = time.monotonic_ns()
        cores = tuple(p / 100.0 for p in psutil.cpu_percent(percpu=True))
        dt_s = max((now - self._last_ns) / 1e9, 1e-6)
        threads = []
        seen: Dict[Tuple[int, int], Tuple[float, float]] = {}
        tids: Dict[int, List[int]] = {}
        for pid in pids:
            listed = tids.setdefault(pid, [])
            for tid, total, queued in self._thread_times_of(pid):
                listed.append(tid)
                key = (pid, tid)
                seen[key] = (total, queued)
                before = self._thread_times.get(key)
                if before is None:
                    if pid not in self._pids:
                        continue  # a process just watched: its threads' CPU is from before
                    before = (0.0, 0.0)  # a thread born since the last sample: all is new
                used = max(0.0, total - before[0])
                runq = max(0.0, queued - before[1])
                threads.append(
                    ThreadCpu(pid, tid, min(1.0, used / dt_s), int(used * 1e9), int(runq * 1e9))
                )
        self._thread_times = seen
        self._pids = set(tids)
        sample = CpuSample(self._last_ns, now, cores, tuple(threads), tids)
        self._last_ns = now
        return sample

    def _thread_times_of(self, pid: int) -> Iterable[Tuple[int, float, float]]:
        """(tid, seconds on a CPU, seconds waiting for one) per thread. schedstat has ns
        resolution; psutil's thread times tick at 10 ms, too coarse for 100 ms samples."""
        task_dir = f"/proc/{pid}/task"
        try:
            tids = os.listdir(task_dir)
        except FileNotFoundError:
            return self._psutil_times(pid) if not _HAS_PROC else []
        except OSError:
            return []
        out = []
        for tid in tids:
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    fields = f.read().split()
                out.append((int(tid), int(fields[0]) / 1e9, int(fields[1]) / 1e9))
            except (OSError, ValueError, IndexError):
                continue
        return out

    def _psutil_times(self, pid: int) -> Iterable[Tuple[int, float, float]]:
        proc = self._process(pid)
        if proc is None:
            return []
        try:
            return [(t.id, t.user_time + t.system_time, 0.0) for t in proc.threads()]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return []

    def _process(self, pid: int) -> Optional[psutil.Process]:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
            except psutil.NoSuchProcess:
                return None
            self._procs[pid] = proc
        return proc
