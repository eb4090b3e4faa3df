"""Where a target process keeps its GIL, found without a table of offsets.

An interpreter of the target's exact build (its own ``/proc/PID/exe``) runs
``self_inspect.py`` and reports where its GIL struct, thread list and thread ids live (on
3.13+ checked against ``_Py_DebugOffsets``). ``GilMemory`` turns that layout into addresses in the
target (same file, same offset from its load address) and *verifies them on the live target*
before anything is drawn: the GIL's holder must be one of the thread states on the
interpreter's own list, each of those must map to one of the process's Linux threads, and the
switch count may only grow. Anything else is a ``ProbeError`` and gilscope uses py-spy.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from gilscope.sampling.executables import is_python_executable
from gilscope.sampling.target import TargetError, run_interpreter

SELF_INSPECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "self_inspect.py")
# ~0.2 s on an idle machine; a free-threaded build under -X gil=1, starved of CPU beside
# other busy processes, took over 10 s: given up, the target would never be probed.
INSPECT_TIMEOUT_S = 30.0
GIL_READ = struct.Struct("<QQiiQ")  # interval µs, last_holder, locked, padding, switch_number
QWORD = struct.Struct("<Q")
DWORD = struct.Struct("<i")
MAX_THREADS = 10_000  # a thread list longer than this is not a thread list
MAX_INTERVAL_US = 100_000_000  # sys.setswitchinterval of 100 s: anything above is not a GIL
VERIFY_READS = 60
VERIFY_GAP_S = 0.001
STRANGER_SHARE = 0.1  # of verifying reads with the GIL held: more, and the layout is wrong
STRANGER_REREADS = 3  # a stranger holder must last this many more reads to count
NOT_READY_WAIT_S = 5.0  # a process just started may not have created its interpreter yet


class ProbeError(Exception):
    """The probe cannot read this process's GIL; str() is one line saying why."""


class NoGil(ProbeError):
    """A free-threaded build running without its GIL: there is no GIL to read."""


class GilOff(Exception):
    """Self-inspection ran on a free-threaded build with its GIL off: it can find the GIL
    only by holding it (``-X gil=1``)."""


@dataclass(frozen=True)
class GilLayout:
    version: str
    library_dev: str  # the file holding _PyRuntime, as /proc/PID/maps names it
    library_inode: int
    library_path: str
    runtime_offset: int  # _PyRuntime's distance from the file's load address
    interp_ptr: int  # in _PyRuntime: pointer to the main interpreter
    gil_base: str  # "runtime" or "interp": what gil_offset is counted from
    gil_offset: int
    switches: int  # offset of switch_number in the GIL struct
    threads_head: int  # in the interpreter
    next: int  # in a thread state
    native_tid: Optional[int]  # in a thread state (3.11+)
    thread_id: int  # in a thread state: the pthread id (how py-spy names 3.9/3.10 threads)
    pthread_tid: Optional[int]  # 3.9/3.10: the tid inside glibc's thread descriptor
    source: str  # how the offsets were found, for the note in the UI
    # A thread waiting to take the GIL sleeps in this system call (futex) on a word in
    # [wait_start, wait_end) of the GIL struct: its condition variable, as self-inspection saw.
    wait_syscall: int = -1  # -1: waits are not seen (why: wait_error)
    wait_start: int = 0
    wait_end: int = 0
    wait_error: str = ""
    # A free-threaded build (3.13t+): where its GIL's ``int enabled`` is, counted from the
    # GIL read (it precedes the interval); 0 there means no GIL. None: a GIL build.
    enabled_at: Optional[int] = None

    @property
    def free_threaded(self) -> bool:
        return self.enabled_at is not None


def parse_layout(text: str) -> GilLayout:
    """The JSON line ``self_inspect.py`` prints."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ProbeError(f"self-inspection printed no layout ({text[:80]!r})") from e
    if raw.get("free_threaded") and raw.get("gil_enabled") is False:
        raise GilOff()
    if "error" in raw:
        raise ProbeError(f"self-inspection failed: {raw['error']}")
    tid = raw["tid"]
    waits = raw.get("waits", {})
    enabled_at = raw["gil"].get("enabled_at")
    if raw.get("free_threaded") and enabled_at is None:
        raise ProbeError("a free-threaded build, and self-inspection did not say where its GIL's "
                         "enabled flag is")  # fmt: skip
    return GilLayout(
        version=raw["version"],
        library_dev=raw["library"]["dev"],
        library_inode=int(raw["library"]["inode"]),
        library_path=raw["library"]["path"],
        runtime_offset=int(raw["runtime_offset"]),
        interp_ptr=int(raw["interp_ptr"]),
        gil_base=raw["gil"]["base"],
        gil_offset=int(raw["gil"]["offset"]),
        switches=int(raw["switches"]),
        threads_head=int(raw["threads_head"]),
        next=int(raw["next"]),
        native_tid=tid.get("native"),
        thread_id=int(tid["thread_id"]),
        pthread_tid=tid.get("pthread_tid"),
        source=raw["source"],
        wait_syscall=int(waits.get("syscall", -1)),
        wait_start=int(waits.get("start", 0)),
        wait_end=int(waits.get("end", 0)),
        wait_error=str(waits.get("error", "")) if "syscall" not in waits else "",
        enabled_at=None if enabled_at is None else int(enabled_at),
    )


def derive_layout(pid: int) -> GilLayout:
    """Run the target's own interpreter binary on ``self_inspect.py``."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except FileNotFoundError as e:
        raise ProbeError(f"process {pid} has exited") from e
    except PermissionError as e:
        raise ProbeError(f"may not read process {pid}'s executable (ptrace denied)") from e
    if not is_python_executable(exe.removesuffix(" (deleted)")):
        # Running a program that embeds Python with our arguments could do anything.
        raise ProbeError(f"Python is embedded in {os.path.basename(exe)}, not a python binary")
    # -X gil=1: a free-threaded build finds its GIL struct only by holding it, and it is
    # the same struct whether the target enabled its GIL or not (whether it did is read
    # from the target: GilMemory.verify). A GIL build accepts and ignores the option.
    try:
        return parse_layout(_self_inspect(pid, ["-X", "gil=1"]))
    except GilOff:
        raise ProbeError("self-inspection ran without the GIL, though asked for it") from None


def _self_inspect(pid: int, options: List[str]) -> str:
    """The layout line the target's own binary prints about itself."""
    try:
        done = run_interpreter(pid, [*options, "-I", "-S", SELF_INSPECT], INSPECT_TIMEOUT_S)
    except TargetError as e:
        raise ProbeError(str(e)) from e
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise ProbeError(f"self-inspection failed: {said[0][:120]}")
    return lines[-1]


class GilMemory:
    """One target's GIL, read through ``/proc/PID/mem`` without stopping it."""

    def __init__(self, pid: int, layout: GilLayout) -> None:
        self.pid = pid
        self.layout = layout
        try:
            self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        except FileNotFoundError as e:
            raise ProbeError(f"process {pid} has exited") from e
        except PermissionError as e:
            raise ProbeError(f"may not read process {pid}'s memory (ptrace denied)") from e
        self.runtime = 0  # known once the loader has mapped the library: see wait_ready
        self.gil = 0  # known once the interpreter exists: see wait_ready
        self._tids: Set[int] = set()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- reading ----------------------------------------------------------------------
    def read_gil(self) -> bytes:
        """The GIL struct's first 32 bytes: one pread, so its fields are read together."""
        return os.pread(self._fd, GIL_READ.size, self.gil)

    def qword(self, addr: int) -> int:
        raw = os.pread(self._fd, 8, addr)
        if len(raw) != 8:
            raise ProbeError(f"cannot read 0x{addr:x} in process {self.pid}")
        value: int = QWORD.unpack(raw)[0]
        return value

    def tid_of(self, tstate: int) -> int:
        """The Linux tid of the thread a thread state belongs to."""
        lay = self.layout
        if lay.native_tid is not None:
            return self.qword(tstate + lay.native_tid) & 0x7FFFFFFF
        assert lay.pthread_tid is not None
        pthread = self.ident_of(tstate)
        raw = os.pread(self._fd, 4, pthread + lay.pthread_tid)
        if len(raw) != 4:
            raise ProbeError(f"cannot read a thread descriptor in process {self.pid}")
        tid: int = DWORD.unpack(raw)[0]
        return tid

    def ident_of(self, tstate: int) -> int:
        """The thread's pthread id (``threading.get_ident()`` inside the target)."""
        return self.qword(tstate + self.layout.thread_id)

    def thread_states(self) -> List[int]:
        """The interpreter's thread states, newest first."""
        interp = self.qword(self.runtime + self.layout.interp_ptr)
        out: List[int] = []
        at = self.qword(interp + self.layout.threads_head) if interp else 0
        while at:
            out.append(at)
            if len(out) > MAX_THREADS:
                raise ProbeError("the thread list does not end")
            at = self.qword(at + self.layout.next)
        return out

    def tasks(self, refresh: bool = False) -> Set[int]:
        """The process's Linux thread ids (cached; ``refresh`` lists them again)."""
        if refresh or not self._tids:
            try:
                self._tids = {int(t) for t in os.listdir(f"/proc/{self.pid}/task")}
            except OSError:
                self._tids = set()
        return self._tids

    # -- trusting ---------------------------------------------------------------------
    def wait_ready(self, timeout_s: float = NOT_READY_WAIT_S) -> None:
        """Wait for the interpreter and its GIL to exist (a process just launched)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.runtime:
                # Right after exec the dynamic loader may not have mapped libpython yet.
                loaded = self._load_base()
                if loaded is not None:
                    self.runtime = loaded + self.layout.runtime_offset
            interp = self.qword(self.runtime + self.layout.interp_ptr) if self.runtime else 0
            if interp:
                base = self.runtime if self.layout.gil_base == "runtime" else interp
                self.gil = base + self.layout.gil_offset
                _, _, locked, _, _ = GIL_READ.unpack(self.read_gil())
                if locked in (0, 1) and self._a_thread_is_ours():
                    return
            if time.monotonic() > deadline:
                if not self.runtime:
                    raise ProbeError(f"process {self.pid} does not use {self.layout.library_path}")
                if interp:
                    states = len(self.thread_states())
                    raise ProbeError(
                        f"none of the interpreter's {states} thread states maps to a thread"
                    )
                raise ProbeError("the interpreter did not start (its GIL does not exist)")
            time.sleep(0.01)

    def _a_thread_is_ours(self) -> bool:
        """Whether a listed thread state belongs to one of the process's threads. A child
        forked but not yet run (seconds, beside busy processes) still has its parent's
        memory: its thread state names the parent's thread until its first steps after
        the fork (3.11+'s ``PyOS_AfterFork_Child``) rewrite it."""
        listed = self.thread_states()
        tids = self.tasks(refresh=True)
        return any(self.tid_of(tstate) in tids for tstate in listed)

    def gil_enabled(self) -> bool:
        """A GIL build always has its GIL; a free-threaded one has it if it was enabled
        (``-X gil=1``, ``PYTHON_GIL=1``, or an extension module that needs it)."""
        at = self.layout.enabled_at
        if at is None:
            return True
        raw = os.pread(self._fd, 4, self.gil + at)
        if len(raw) != 4:
            raise ProbeError(f"cannot read the GIL's enabled flag in process {self.pid}")
        enabled: int = DWORD.unpack(raw)[0]
        return enabled != 0

    def verify(self) -> Dict[int, int]:
        """Read the GIL a few dozen times; every holder must be a thread of the target.

        Returns the thread states seen on the interpreter's list and their tids. NoGil for
        a free-threaded build running without its GIL.
        """
        self.wait_ready()
        if not self.gil_enabled():
            raise NoGil("a free-threaded build running without its GIL: no GIL to read")
        tids = self.tasks(refresh=True)
        states: Dict[int, int] = {}
        last_switches = -1
        held = strangers = 0
        for _ in range(VERIFY_READS):
            interval, holder, locked, _, switches = GIL_READ.unpack(self.read_gil())
            if not 0 < interval <= MAX_INTERVAL_US:
                raise ProbeError(f"read a switch interval of {interval} µs: not a GIL")
            if locked not in (0, 1):
                raise ProbeError(f"read locked = {locked}: not a GIL")
            if switches < last_switches:
                raise ProbeError("the switch count went backwards: not a GIL")
            last_switches = switches
            if locked:
                held += 1
                if holder not in states:
                    states.update(self._states_with_tids(tids))
                if holder not in states and self._stays_a_stranger(holder, tids, states):
                    strangers += 1
            time.sleep(VERIFY_GAP_S)
        if strangers > held * STRANGER_SHARE:
            raise ProbeError("the GIL's holder is not one of the interpreter's threads")
        if not states:
            states = self._states_with_tids(tids)
        return states

    def _stays_a_stranger(self, holder: int, tids: Set[int], states: Dict[int, int]) -> bool:
        """Whether a holder that is none of the interpreter's threads still holds the GIL
        a moment later. A read may fall where CPython's own order leaves the GIL locked by
        a thread state no longer listed: an ending thread unlinks its state before it
        releases the GIL, and a take sets ``locked`` before ``last_holder`` (a server's
        short threads do both 400 times a second). A wrong layout's holder stays a
        stranger."""
        for _ in range(STRANGER_REREADS):
            time.sleep(VERIFY_GAP_S)
            _, now, locked, _, _ = GIL_READ.unpack(self.read_gil())
            if not locked or now != holder:
                return False
            states.update(self._states_with_tids(tids))
            if holder in states:
                return False
        return True

    def _states_with_tids(self, tids: Set[int]) -> Dict[int, int]:
        """Thread states of live threads. Others are fine on the list (one created for a
        thread not started yet has tid 0, one of a thread just ended a dead tid) but can
        never hold the GIL; if *no* state maps to a live thread, the layout is wrong."""
        states = {}
        listed = self.thread_states()
        for tstate in listed:
            tid = self.tid_of(tstate)
            if tid in tids or (tid > 0 and tid in self.tasks(refresh=True)):
                states[tstate] = tid
        if not states:
            raise ProbeError(
                f"none of the interpreter's {len(listed)} thread states maps to a thread"
            )
        return states

    def _load_base(self) -> Optional[int]:
        """Where the library is loaded in the target, or None while it is not (yet)."""
        want = (self.layout.library_dev, str(self.layout.library_inode))
        try:
            with open(f"/proc/{self.pid}/maps") as f:
                for line in f:
                    fields = line.split()
                    if (
                        len(fields) >= 6
                        and (fields[3], fields[4]) == want
                        and not int(fields[2], 16)
                    ):
                        return int(fields[0].split("-")[0], 16)
        except FileNotFoundError as e:
            raise ProbeError(f"process {self.pid} has exited") from e
        except PermissionError as e:
            raise ProbeError(f"may not read process {self.pid}'s memory maps") from e
        return None


def layout_key(pid: int) -> Tuple[int, int]:
    """Processes running the same binary share a layout: (device, inode) of their exe."""
    st = os.stat(f"/proc/{pid}/exe")
    return st.st_dev, st.st_ino
