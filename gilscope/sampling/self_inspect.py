"""Run by an interpreter of the target's exact build: where does this build keep its GIL?

gilscope runs this file with the target's own binary (``/proc/PID/exe -X gil=1 -I -S
self_inspect.py``: a free-threaded build has a GIL only when asked) so that no offset is ever
copied by hand: the interpreter looks at its own memory (through
``/proc/self/mem``, which answers a bad address with an error instead of a crash) while it
holds the GIL, lets other threads take it, and reports where the fields that changed live.
From 3.13 on the interpreter also publishes ``_Py_DebugOffsets``; those must agree.

Prints one JSON object: the layout, or ``{"error": "..."}``. Standard library only, and
Python 3.9 syntax: it runs under whatever interpreter the target uses, without gilscope.
"""

import ctypes
import json
import os
import struct
import sys
import sysconfig
import threading
import time
from typing import Any, Dict, List, Optional, Set, Tuple

Thread = Tuple[int, int, int]  # thread state address, pthread id, Linux tid
Layout = Dict[str, Any]

QWORD = struct.Struct("<Q")
DWORD = struct.Struct("<i")
GIL_HEAD = struct.Struct("<QQi")  # interval (µs), last_holder, locked: the GIL's first fields
SWITCHES_AT = 24  # after locked (an int) and its padding: unsigned long switch_number
MARK_US = 3141  # a switch interval nothing else uses, to find the GIL struct by its value
RUNTIME_SPAN = 1 << 20  # 3.12+ keep the main interpreter (and its GIL) inside _PyRuntime
INTERP_SPAN = 1 << 16
TSTATE_SPAN = 1 << 12
PTHREAD_SPAN = 1 << 12
DEBUG_COOKIE = b"xdebugpy"
# Where a thread waiting for the GIL sleeps: futex words of the GIL's own condition variables
# and mutexes, which follow its first fields inside the struct (found, not assumed: below).
WAIT_SPAN = 1 << 12  # a word further than this from the GIL struct is not the GIL's
WAIT_SWITCH_S = 0.0001  # a short switch interval: many hand-offs, so many waits to see
WAIT_LOOK_S = 2.0  # how long the counting threads are watched, at most (a busy machine)
WAIT_SEEN = 100  # waits to see; at least WAIT_SEEN_MIN
WAIT_SEEN_MIN = 20
WAIT_WORD_SHARE = 0.1  # a word seen asleep on less often (the GIL's mutex) is not counted

# _Py_DebugOffsets (3.13+) at the start of _PyRuntime: after the 8-byte cookie, uint64_t
# fields in the order the minor version's header declares them (3.13: pycore_runtime.h;
# 3.14+: pycore_debug_offsets.h), one section after another. Neither the struct's length nor
# its sections' is published (a section's ``size`` is the size of the CPython struct it
# describes), and each version inserts fields mid-section (3.14: interp.threads_main before
# the GIL's; 3.15: three frame fields before tstate.thread_id), so the struct's own
# ``version`` (PY_VERSION_HEX) picks the declaration. Only the sections the probe checks.
_RUNTIME = "runtime.size runtime.finalizing runtime.interpreters_head"
_INTERP_313 = (
    "interp.size interp.id interp.next interp.threads_head interp.gc interp.imports_modules "
    "interp.sysdict interp.builtins interp.ceval_gil interp.gil_runtime_state "
    "interp.gil_runtime_state_enabled interp.gil_runtime_state_locked "
    "interp.gil_runtime_state_holder"
)
_INTERP_314 = (
    "interp.size interp.id interp.next interp.threads_head interp.threads_main interp.gc "
    "interp.imports_modules interp.sysdict interp.builtins interp.ceval_gil "
    "interp.gil_runtime_state interp.gil_runtime_state_enabled "
    "interp.gil_runtime_state_locked interp.gil_runtime_state_holder "
    "interp.code_object_generation interp.tlbc_generation"
)
_TSTATE_313 = (
    "tstate.size tstate.prev tstate.next tstate.interp tstate.current_frame tstate.thread_id "
    "tstate.native_thread_id"
)
_TSTATE_315 = (
    "tstate.size tstate.prev tstate.next tstate.interp tstate.current_frame tstate.base_frame "
    "tstate.last_profiled_frame tstate.last_profiled_frame_seq tstate.thread_id "
    "tstate.native_thread_id"
)
DEBUG_FIELDS: Dict[Tuple[int, int], List[str]] = {
    (3, 13): f"version free_threaded {_RUNTIME} {_INTERP_313} {_TSTATE_313}".split(),
    (3, 14): f"version free_threaded {_RUNTIME} {_INTERP_314} {_TSTATE_313}".split(),
    (3, 15): f"version free_threaded {_RUNTIME} {_INTERP_314} {_TSTATE_315}".split(),
}


class Failed(Exception):
    pass


_mem = os.open("/proc/self/mem", os.O_RDONLY)


def read(addr: int, size: int) -> bytes:
    try:
        return os.pread(_mem, size, addr)  # short at the end of a mapping
    except OSError:
        return b""


def peek(addr: int, size: int) -> bytes:
    """Bytes read with the GIL held: os.pread releases it, so through /proc/self/mem
    the GIL would always read as free. Checked with pread first, so a bad address
    is an error instead of a crash."""
    if len(read(addr, size)) != size:
        raise Failed(f"cannot read address 0x{addr:x}")
    return ctypes.string_at(addr, size)


def qword(addr: int) -> int:
    raw = read(addr, 8)
    if len(raw) != 8:
        raise Failed(f"cannot read address 0x{addr:x}")
    value: int = QWORD.unpack(raw)[0]
    return value


def find_all(region: bytes, needle: bytes, align: int) -> List[int]:
    out = []
    i = region.find(needle)
    while i >= 0:
        if i % align == 0:
            out.append(i)
        i = region.find(needle, i + 1)
    return out


def qword_offsets(base: int, span: int, value: int) -> Set[int]:
    return set(find_all(read(base, span), QWORD.pack(value), 8))


def load_base(addr: int) -> Tuple[int, Dict[str, Any]]:
    """(load address, file) of the shared object or executable holding ``addr``."""

    class DlInfo(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    info = DlInfo()
    dladdr = ctypes.CDLL(None).dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
    if not dladdr(addr, ctypes.byref(info)) or not info.dli_fbase:
        raise Failed("dladdr does not know _PyRuntime")
    base = info.dli_fbase
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            start = int(fields[0].split("-")[0], 16)
            if start == base and len(fields) >= 6:
                return base, {"path": fields[5], "dev": fields[3], "inode": int(fields[4])}
    raise Failed("no file is mapped at _PyRuntime's load address")


def inspect() -> Layout:
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    if free_threaded and not getattr(sys, "_is_gil_enabled", lambda: True)():
        # A free-threaded build keeps a GIL struct, used once the GIL is enabled (-X gil=1,
        # PYTHON_GIL=1): it can only be found by holding it, so ask to be run with it on.
        return {"free_threaded": True, "gil_enabled": False}
    api = ctypes.pythonapi
    api.PyThreadState_Get.restype = ctypes.c_void_p
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    runtime = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    interp = api.PyInterpreterState_Get()
    base, lib = load_base(runtime)

    # Three threads the interpreter knows: this one and two parked in Event.wait (which
    # releases the GIL). Thread states are prepended, so the list reads t2, t1, main.
    me = (api.PyThreadState_Get(), threading.get_ident(), threading.get_native_id())
    seen = []
    go = threading.Event()

    def parked() -> None:
        seen.append((api.PyThreadState_Get(), threading.get_ident(), threading.get_native_id()))
        go.wait()

    parkers = []
    for n in (1, 2):
        t = threading.Thread(target=parked)
        t.start()
        while len(seen) < n:
            pass
        parkers.append(t)
    t1, t2 = seen
    threads = [t2, t1, me]
    try:
        layout = {
            "interp_ptr": interp_pointer(runtime, interp),
            "gil": gil_location(runtime, interp, me[0]),
            "tid": tid_location(threads),
        }
        layout.update(thread_list(interp, threads))
        layout["switches"] = SWITCHES_AT
        check_switches(runtime, interp, layout)
        try:
            layout["waits"] = wait_words(gil_address(runtime, interp, layout))
        except (Failed, OSError) as e:
            # The GIL is still readable: the probe draws who holds it, not who waits.
            layout["waits"] = {"error": str(e)}
    finally:
        go.set()
        for t in parkers:
            t.join()
    source = "self-inspection"
    if sys.version_info >= (3, 13):
        source = check_debug_offsets(runtime, interp, layout, free_threaded)
    layout.update(
        free_threaded=free_threaded,
        version="{}.{}.{}".format(*sys.version_info[:3]),
        hexversion=sys.hexversion,
        library=lib,
        runtime_offset=runtime - base,
        source=source,
    )
    return layout


def interp_pointer(runtime: int, interp: int) -> int:
    """Offset in _PyRuntime of a pointer to the main interpreter (``interpreters.head``)."""
    found = sorted(qword_offsets(runtime, INTERP_SPAN, interp))
    if not found:
        raise Failed("no pointer to the interpreter in _PyRuntime")
    return found[0]


def gil_location(runtime: int, interp: int, tstate: int) -> Dict[str, Any]:
    """Where the GIL struct is: the marker interval, this thread as holder, locked."""
    before = sys.getswitchinterval()
    mark = MARK_US / 1e6
    sys.setswitchinterval(mark)
    try:
        # As CPython stores it: (unsigned long)(1e6 * seconds), which may round down.
        needle = GIL_HEAD.pack(int(1e6 * mark), tstate, 1)
        bases = (("runtime", runtime, RUNTIME_SPAN), ("interp", interp, INTERP_SPAN))
        for name, start, span in bases:
            hits = [
                at
                for at in find_all(read(start, span), needle[:16], 8)
                if peek(start + at, GIL_HEAD.size) == needle
            ]
            if len(hits) == 1:
                return {"base": name, "offset": hits[0]}
    finally:
        sys.setswitchinterval(before)
    raise Failed("the GIL's state was not found in _PyRuntime or the interpreter")


def tid_location(threads: List[Thread]) -> Dict[str, int]:
    """How a thread state leads to the Linux tid: a field of its own (3.11+), or the
    pthread id and, inside glibc's thread descriptor it points to, the tid. The pthread
    id is reported on every version: it is how py-spy names threads on 3.9/3.10."""
    ident_at = None
    for tstate, ident, _ in threads:
        found = qword_offsets(tstate, TSTATE_SPAN, ident)
        ident_at = found if ident_at is None else ident_at & found
    if not ident_at:
        raise Failed("no thread id in the thread state")
    common = None
    for tstate, _, native in threads:
        found = qword_offsets(tstate, TSTATE_SPAN, native)
        common = found if common is None else common & found
    if common:
        return {"thread_id": min(ident_at), "native": min(common)}
    tid_at = None
    for _, ident, native in threads:
        found = set(find_all(read(ident, PTHREAD_SPAN), DWORD.pack(native), 4))
        tid_at = found if tid_at is None else tid_at & found
    if not tid_at:
        raise Failed("no Linux tid in the pthread descriptor")
    return {"thread_id": min(ident_at), "pthread_tid": min(tid_at)}


def thread_list(interp: int, threads: List[Thread]) -> Dict[str, int]:
    """The interpreter's list of thread states: its head, and each state's next."""
    states = [t[0] for t in threads]
    heads = sorted(qword_offsets(interp, INTERP_SPAN, states[0]))
    nexts = sorted(qword_offsets(states[0], TSTATE_SPAN, states[1]))
    for head in heads:
        for nxt in nexts:
            walked: List[int] = []
            at = qword(interp + head)
            while at and len(walked) <= len(states):
                walked.append(at)
                at = qword(at + nxt)
            if walked == states:
                return {"threads_head": head, "next": nxt}
    raise Failed("the interpreter's thread list was not found")


def gil_address(runtime: int, interp: int, layout: Layout) -> int:
    base = runtime if layout["gil"]["base"] == "runtime" else interp
    return base + int(layout["gil"]["offset"])


def check_switches(runtime: int, interp: int, layout: Layout) -> None:
    """Another thread must show up as the holder, and the switch count must move."""
    gil = gil_address(runtime, interp, layout)
    before = qword(gil + SWITCHES_AT)
    inside = []

    def runner() -> None:
        me = ctypes.pythonapi.PyThreadState_Get()
        raw = peek(gil, GIL_HEAD.size)
        inside.append((me, GIL_HEAD.unpack(raw)))

    t = threading.Thread(target=runner)
    t.start()
    t.join()
    after = qword(gil + SWITCHES_AT)
    me, (_, holder, locked) = inside[0]
    if holder != me or locked != 1:
        raise Failed("another thread did not show up as the GIL's holder")
    if after < before + 2:
        raise Failed(f"the GIL's switch count did not move ({before} -> {after})")


_held_pread = ctypes.PyDLL(None).pread  # PyDLL: called with the GIL held, never released
_held_pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
_held_pread.restype = ctypes.c_ssize_t


def blocked_in(fd: int) -> Optional[Tuple[int, int]]:
    """(syscall number, first argument) of a thread asleep in a system call, from its
    ``/proc/self/task/TID/syscall``; None while it runs. Read with the GIL held, so that
    the threads that want it are asleep waiting (os.pread would let one of them run)."""
    buf = ctypes.create_string_buffer(256)
    n = _held_pread(fd, buf, 256, 0)
    fields = buf.raw[: max(n, 0)].split()
    if len(fields) < 2 or not fields[0].isdigit():
        return None  # "running"
    return int(fields[0]), int(fields[1], 16)


def wait_words(gil: int) -> Dict[str, int]:
    """Where a thread waiting to take the GIL sleeps: futex words relative to the GIL struct.

    Two threads that do nothing but count can block on nothing but the GIL; with a short
    switch interval they are asked to hand it over thousands of times a second. This thread
    reads their ``/proc/self/task/TID/syscall`` while it holds the GIL itself (so both want
    it): each is asleep in the GIL's condition variable, on one of its futex words (glibc
    alternates two; now and then one is caught on the GIL's mutex instead, a word too rare
    to count). The span of the words seen, rounded out to whole 8-byte words so that an
    unlucky sample of one word still covers its neighbour, is what the probe counts as
    waiting for the GIL in the target, and the system call they sleep in (futex, whatever its
    number on this architecture) the one to look for. (A holder asked to drop the GIL also
    sleeps, on the
    GIL's "switch" condition variable, until the next thread has taken it: microseconds,
    which a reader in another process sees only now and then, so a span including them
    would differ from run to run. That short sleep is not counted as waiting.)
    """
    before = sys.getswitchinterval()
    stop = threading.Event()
    tids: List[int] = []

    def count() -> None:
        tids.append(threading.get_native_id())
        while not stop.is_set():
            n = 1000
            while n > 0:
                n -= 1

    counters = [threading.Thread(target=count) for _ in range(2)]
    offsets: Dict[Tuple[int, int], int] = {}  # (syscall, offset) -> sightings
    seen = 0
    sys.setswitchinterval(WAIT_SWITCH_S)
    fds: List[int] = []
    try:
        for t in counters:
            t.start()
        while len(tids) < 2:
            pass
        fds = [os.open(f"/proc/self/task/{tid}/syscall", os.O_RDONLY) for tid in tids]
        deadline = time.monotonic() + WAIT_LOOK_S
        while seen < WAIT_SEEN and time.monotonic() < deadline:
            for fd in fds:
                blocked = blocked_in(fd)
                if blocked is None:
                    continue
                nr, addr = blocked
                if not 0 <= addr - gil < WAIT_SPAN:
                    raise Failed(f"a counting thread slept in syscall {nr} at 0x{addr:x}")
                offsets[nr, addr - gil] = offsets.get((nr, addr - gil), 0) + 1
                seen += 1
    finally:
        stop.set()
        sys.setswitchinterval(before)
        for t in counters:
            t.join()
        for fd in fds:
            os.close(fd)
    if seen < WAIT_SEEN_MIN:
        raise Failed(f"threads were seen waiting for the GIL only {seen} times")
    words = [key for key, n in offsets.items() if n >= WAIT_WORD_SHARE * seen]
    if len({nr for nr, _ in words}) != 1:
        raise Failed(f"GIL waiters slept in different system calls: {sorted(words)}")
    futex = words[0][0]
    start = min(at for _, at in words) // 8 * 8
    end = (max(at for _, at in words) // 8 + 1) * 8
    if start < SWITCHES_AT + 8:
        raise Failed("a GIL waiter slept on the GIL's own first fields")
    return {"syscall": futex, "start": start, "end": end}


def debug_offsets(runtime: int, hexversion: int = sys.hexversion) -> Optional[Dict[str, int]]:
    """``_Py_DebugOffsets`` at ``runtime`` by field name, or None for a version whose
    declaration is not known here. It must be this interpreter's (``hexversion``)."""
    head = read(runtime, 16)
    if len(head) != 16 or head[:8] != DEBUG_COOKIE:
        raise Failed("_Py_DebugOffsets missing")
    version = QWORD.unpack_from(head, 8)[0]
    if version != hexversion:
        raise Failed(f"_Py_DebugOffsets is of version 0x{version:x}, not 0x{hexversion:x}")
    names = DEBUG_FIELDS.get((version >> 24, (version >> 16) & 0xFF))
    if names is None:
        return None
    raw = read(runtime + 8, 8 * len(names))
    if len(raw) != 8 * len(names):
        raise Failed("_Py_DebugOffsets cannot be read")
    values = struct.unpack(f"<{len(names)}Q", raw)
    offsets = dict(zip(names, values))
    for name, value in offsets.items():
        # a field read from the wrong place would most likely not fit in its struct
        section, _, field = name.partition(".")
        if field not in ("", "size") and value >= offsets[section + ".size"]:
            raise Failed(f"_Py_DebugOffsets: {name} = {value} is past its struct's size")
    return offsets


def check_debug_offsets(
    runtime: int, interp: int, layout: Layout, free_threaded: bool = False
) -> str:
    """Self-inspection must agree with what the interpreter publishes about itself.

    Where the GIL lives: ``interp->ceval.gil`` points at the GIL in use; the main interpreter
    has its own (3.12+), ``interp->_gil``, and the main interpreter is itself a part of
    ``_PyRuntime`` (``_main_interpreter``), so its GIL is at a fixed offset from
    ``_PyRuntime``: where self-inspection must have found it. A free-threaded build's GIL
    struct starts with ``int enabled`` (0: no GIL), so there the fields self-inspection
    found (interval, holder, locked) start 8 bytes in; ``layout["gil"]["enabled_at"]``
    says where ``enabled`` is, counted from the interval. Returns how the layout was found,
    for the note in the UI.
    """
    off = debug_offsets(runtime)
    if off is None:
        # A later CPython: its declaration is not known here, so it is not read by guessing.
        if free_threaded:
            raise Failed("a free-threaded build whose _Py_DebugOffsets are not known here")
        return "self-inspection ({}.{}'s _Py_DebugOffsets not known)".format(*sys.version_info)
    if bool(off["free_threaded"]) != free_threaded:
        said = "free-threaded" if off["free_threaded"] else "not free-threaded"
        raise Failed(f"_Py_DebugOffsets says {said}, sysconfig says otherwise")
    if qword(runtime + off["runtime.interpreters_head"]) != interp:
        raise Failed("_Py_DebugOffsets' interpreters.head is not this interpreter")
    own_gil = interp + off["interp.gil_runtime_state"]
    if qword(interp + off["interp.ceval_gil"]) != own_gil:
        raise Failed("the main interpreter's ceval.gil is not its own _gil")
    if not runtime <= own_gil < runtime + off["runtime.size"]:
        raise Failed("_Py_DebugOffsets: the main interpreter's GIL is not in _PyRuntime")
    found = (runtime if layout["gil"]["base"] == "runtime" else interp) + layout["gil"]["offset"]
    # the interval (where self-inspection matched it), then last_holder, then locked
    holder_at = off["interp.gil_runtime_state_holder"] - off["interp.gil_runtime_state"]
    locked_at = off["interp.gil_runtime_state_locked"] - off["interp.gil_runtime_state"]
    interval_at = 8 if free_threaded else 0  # after the free-threaded build's enabled
    if found != own_gil + interval_at:
        raise Failed("_Py_DebugOffsets and self-inspection disagree on the GIL")
    if (holder_at, locked_at) != (interval_at + 8, interval_at + 16):
        raise Failed("_Py_DebugOffsets: unexpected GIL field order")
    if free_threaded:
        # an offset within the GIL struct (3.13's declaration: offsetof(..., enabled))
        enabled_at = off["interp.gil_runtime_state_enabled"]
        if enabled_at + 4 > interval_at:
            raise Failed("_Py_DebugOffsets: the GIL's enabled is not before its interval")
        layout["gil"]["enabled_at"] = enabled_at - interval_at
    published = {
        "interp_ptr": off["runtime.interpreters_head"],
        "threads_head": off["interp.threads_head"],
        "next": off["tstate.next"],
        "tid": {"thread_id": off["tstate.thread_id"], "native": off["tstate.native_thread_id"]},
    }
    for name, value in published.items():
        if layout[name] != value:
            raise Failed(f"_Py_DebugOffsets and self-inspection disagree on {name}")
    return "_Py_DebugOffsets, checked by self-inspection"


def main() -> None:
    try:
        out = inspect()
    except Failed as e:
        out = {"error": str(e)}
    except Exception as e:  # an unexpected build: say what, never a traceback
        out = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
