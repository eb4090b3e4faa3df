"""The supervisor of a ``gilscope run`` command, so that nothing the command starts outlives
gilscope, however gilscope ends (q, a signal, SIGKILL).

gilscope starts it as ``python -I -S supervisor.py CONTROL_FD -- command args…``, in a
session of its own; it starts the command and stays:

* It is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a descendant whose parent exits (a
  double fork, a ``setsid`` daemon) is re-parented to it instead of to init, so the whole
  tree stays below it, where /proc shows it.
* ``CONTROL_FD`` is its end of a socket pair whose other end only gilscope holds. End of
  input means gilscope is gone: the kernel closes gilscope's end even after a SIGKILL.
  ``stop`` asks for the same. It tells gilscope ``pid N`` once the command has exec'd (or
  ``error WHY``), and ``exit STATUS`` when it ends (negative: killed by that signal).
* When the command ends, when asked to stop, when gilscope goes, or on SIGTERM/SIGHUP/SIGINT:
  SIGTERM to every descendant, SIGKILL after ``GRACE_S`` to what is left, again until it has
  no child left (then it has no descendant left: each one's parent chain leads here). Then
  it exits with the command's status (128+N for signal N).

Standard library only, nothing from gilscope, run isolated (-I -S) so that it starts in
~10 ms whatever the environment; gilscope imports its /proc helpers from here.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 0.5  # between SIGTERM and SIGKILL: a polite end, well inside gilscope's 2 s
POLL_MS = 20  # while waiting for the tree to go


# -- /proc (gilscope's process follower uses these too) ----------------------------------


def read_stat(pid: int) -> Optional[Tuple[str, int, int]]:
    """(state letter, parent pid, start time in clock ticks since boot) of ``pid``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw.rpartition(b")")[2].split()  # the name before it may hold anything
    try:
        return fields[0].decode(), int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def process_parents() -> Dict[int, int]:
    """pid -> parent pid of every process /proc lists (threads are not listed)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                parents[int(name)] = stat[1]
    return parents


def descendants(root: int, parents: Dict[int, int], skip: Sequence[int] = ()) -> List[int]:
    """Every process below ``root`` (not ``root``), parents before children; the subtrees
    of ``skip`` are left out."""
    children: Dict[int, List[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    out: List[int] = []
    todo = sorted(children.get(root, []))
    while todo:
        pid = todo.pop(0)
        if pid in skip or pid == root:
            continue
        out.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return out


# -- the supervisor ---------------------------------------------------------------------


class Supervisor:
    def __init__(self, control: int) -> None:
        self.control = control
        self.child = 0
        self.status: Optional[int] = None  # the command's, as subprocess reports it
        self.told_exit = False
        self.asked: List[int] = []  # signals received
        self.grace_s = GRACE_S
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.asked.append(signum))
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # wakes the poll

    def tell(self, line: str) -> None:
        try:
            os.write(self.control, line.encode() + b"\n")
        except OSError:
            pass  # gilscope is gone; the tree goes anyway

    def start(self, argv: Sequence[str]) -> bool:
        try:
            # posix_spawn returns once the command has exec'd (glibc's vfork path), so the
            # pid told is the command's own process, never a copy of this one. Signals
            # Python ignores (SIGPIPE, SIGXFSZ) are the command's default again.
            self.child = os.posix_spawnp(
                argv[0], list(argv), dict(os.environ),
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ), setsigmask=(),
            )  # fmt: skip
        except OSError as e:
            why = e.strerror or str(e)
            os.write(2, f"gilscope: cannot run {argv[0]}: {why}\n".encode())
            self.tell(f"error {why}")
            return False
        self.tell(f"pid {self.child}")
        return True

    def watch(self) -> None:
        """Until the command ends, gilscope goes or asks to stop, or a signal comes."""
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        while self.status is None and not self.asked:
            for fd, _ in poller.poll():
                if fd == self.wake_r:
                    os.read(self.wake_r, 4096)
                    continue
                try:
                    said = os.read(self.control, 4096)
                except OSError:
                    said = b""
                if not said:
                    return  # gilscope is gone
                if said.startswith(b"stop"):
                    self.grace_s = _seconds(said[len(b"stop") :], GRACE_S)
                    return
            self.reap()

    def reap(self) -> bool:
        """Collect every child that has ended; False once there is no child left."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.tell_exit()
                return False
            if pid == 0:
                return True
            if pid == self.child:
                self.status = os.waitstatus_to_exitcode(status)
                self.tell_exit()

    def tell_exit(self) -> None:
        if self.status is not None and not self.told_exit:
            self.told_exit = True
            self.tell(f"exit {self.status}")

    def end_tree(self) -> None:
        """SIGTERM, then SIGKILL after GRACE_S, until no descendant is left."""
        self.signal_tree(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while self.reap():
            if time.monotonic() >= deadline:
                self.signal_tree(signal.SIGKILL)  # again each round: new forks, new orphans
            self.nap()

    def signal_tree(self, sig: int) -> None:
        for pid in descendants(os.getpid(), process_parents()):
            try:
                os.kill(pid, sig)
            except OSError:
                pass  # gone, or not ours to signal (setuid)

    def nap(self) -> None:
        """A moment, cut short by SIGCHLD."""
        ready, _, _ = select.select([self.wake_r], [], [], POLL_MS / 1000)
        if ready:
            os.read(self.wake_r, 4096)

    def exit_code(self) -> int:
        if self.status is None:
            return 128 + (self.asked[0] if self.asked else signal.SIGTERM)
        return self.status if self.status >= 0 else 128 - self.status


def _seconds(text: bytes, default: float) -> float:
    try:
        return min(max(float(text.strip() or default), 0.0), 5.0)
    except ValueError:
        return default


def _subreaper() -> None:
    import ctypes  # only here: ~2 ms of start-up

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no orphans caught: the command's own process group is still ended


def main(argv: Sequence[str]) -> int:
    if len(argv) < 4 or argv[2] != "--" or not argv[1].isdigit():
        os.write(2, b"usage: supervisor.py CONTROL_FD -- command args...\n")
        return 2
    control = int(argv[1])
    os.set_inheritable(control, False)  # the command must not hold gilscope's lifeline
    _subreaper()
    supervisor = Supervisor(control)
    if not supervisor.start(argv[3:]):
        return 127
    supervisor.watch()
    supervisor.end_tree()
    return supervisor.exit_code()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
