"""Targets gilscope did not start itself: ``attach PID`` and ``run -- python script.py``.

Everything is read from ``/proc`` (Linux only). Reading ``/proc/PID/exe``, ``maps`` and
``environ`` needs the same permission as ptrace's read mode: the same user (and a dumpable
process) or CAP_SYS_PTRACE. ``cmdline`` and ``status`` are readable by anyone, so even when
we may not look inside a process we can still say whose it is and what it runs.

The version comes from running the target's own interpreter binary through
``/proc/PID/exe``: that is the exact build, even if the file on disk has since been replaced.
Whether the *running* interpreter has its GIL can differ from what a fresh one reports: a
free-threaded build honours ``-X gil`` and ``PYTHON_GIL`` at start-up, so those are read from
the target's own command line and environment. An extension module without free-threading
support can still switch the GIL on at import time: the GIL probe reads the process's own
flag when it first reads it, and its verdict wins (one enabled later is not followed).
"""

from __future__ import annotations

import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Sequence, Set, Tuple

from gilscope.children import reap, spawn
from gilscope.sampling.executables import PYTHON_NAME
from gilscope.sampling.pyspy import explain_failure

CompletedRun = subprocess.CompletedProcess[str]
MIN_HEXVERSION = 0x03090000
_LIBPYTHON = re.compile(r"/libpython(?P<major>\d+)\.(?P<minor>\d+)(?P<abi>[a-z]*)\.so")
_YAMA = "/proc/sys/kernel/yama/ptrace_scope"
_CAP_SYS_PTRACE = 19
# One py-spy dump's answer, however little time the retries had left: ~0.1 s idle, over
# 0.5 s beside busy processes (its answer, not the machine's load, is the verdict).
DUMP_ANSWER_S = 5.0
_PROBE = (
    # Runs on any Python from 2.7 up, so an old interpreter gets a clear "needs 3.9+".
    "import platform, sys, sysconfig; sys.stdout.write('%s %d %s\\n' % ("
    "platform.python_implementation(), sys.hexversion, "
    "sysconfig.get_config_var('Py_GIL_DISABLED')))"
)
CMDLINE_CHARS = 80
LOG_LINES = 2000
_LINE_BYTES = 16384  # a longer run without a newline is cut into lines of this size


class TargetError(Exception):
    """A target gilscope cannot watch; str() is one line for ``gilscope: error: …``."""


class NoProcessError(TargetError):
    """No such process, or it has already exited."""


class NotPythonError(TargetError):
    """No Python in the process (or not yet: a pyenv shim before its exec)."""


class EndedWithoutPythonError(NoProcessError):
    """The process ended, and it was never seen running a Python interpreter."""


class AccessError(TargetError):
    """We may not read the process's memory maps or trace it."""


@dataclass(frozen=True)
class TargetInfo:
    pid: int
    exe: str  # real path of /proc/PID/exe
    cmdline: str  # shortened to about CMDLINE_CHARS
    # "3.11.7"; "3.11" when Python is embedded in another program; "3.13.1t": free-threaded
    python_version: str
    # False: a free-threaded build running with its GIL off; True: the GIL is on; None:
    # unknown (a free-threaded build whose environment we could not read).
    gil_enabled: Optional[bool]


@dataclass(frozen=True)
class LogLine:
    t_ns: int  # time.monotonic_ns() when gilscope read it
    text: str


def inspect_pid(pid: int) -> TargetInfo:
    """What ``pid`` is, if it is a CPython 3.9+ we may look into; else TargetError."""
    status = _status(pid)
    if status is None:
        raise NoProcessError(f"no process with PID {pid}")
    tgid = int(status.get("Tgid", str(pid)))
    if tgid != pid:
        raise TargetError(f"PID {pid} is a thread of process {tgid}; attach to {tgid}")
    if status.get("State", "").startswith(("Z", "X")):
        raise NoProcessError(f"PID {pid} has already exited")
    uids = {int(u) for u in status.get("Uid", "").split()}
    if uids and uids != {os.geteuid()} and not _can_trace_anyone():
        raise AccessError(_access_message(pid, uids))
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except PermissionError:
        raise AccessError(_access_message(pid, uids)) from None
    except FileNotFoundError:
        if _status(pid) is None:
            raise NoProcessError(f"PID {pid} has already exited") from None
        # Kernel threads have no executable and an empty command line.
        name = status.get("Name", "?")
        raise NotPythonError(
            f"PID {pid} is a kernel thread ({name}), not a Python process"
        ) from None
    except OSError as e:
        raise NoProcessError(f"cannot read PID {pid}: {e.strerror or e}") from None
    exe = exe[: -len(" (deleted)")] if exe.endswith(" (deleted)") else exe
    cmdline = _cmdline(pid)
    name = os.path.basename(exe)
    if PYTHON_NAME.fullmatch(name):
        return _probe(pid, exe, cmdline, uids)
    embedded = _libpython(pid, uids)
    if embedded is not None:
        major, minor, abi = embedded
        version = f"{major}.{minor}"
        if (major, minor) < (3, 9):
            raise TargetError(
                f"PID {pid} ({exe}) embeds Python {version}; gilscope needs CPython 3.9+"
            )
        free = "t" in abi
        return TargetInfo(pid, exe, _short(cmdline), version + "t" * free, _gil_enabled(pid, free))
    if name.startswith("pypy"):
        raise TargetError(f"PID {pid} is PyPy ({exe}); gilscope needs CPython 3.9+")
    raise NotPythonError(f"PID {pid} is {exe}, not a Python process")


def check_not_gilscope(pid: int) -> None:
    """TargetError if ``pid`` is this gilscope, one of its threads, or started by it: its
    own samplers would observe themselves (and ``attach`` would watch its own UI)."""
    me = os.getpid()
    status = _status(pid) or {}
    tgid = int(status.get("Tgid", pid) or pid)
    if tgid == me:
        raise TargetError(f"PID {pid} is this gilscope itself: it does not observe itself")
    seen: Set[int] = set()
    parent = int(status.get("PPid", "0") or 0)
    while parent > 1 and parent not in seen:  # up the tree: a child's child is ours too
        if parent == me:
            raise TargetError(f"PID {pid} is a child of this gilscope: it does not observe itself")
        seen.add(parent)
        parent = int((_status(parent) or {}).get("PPid", "0") or 0)


def wait_until_python(pid: int, timeout_s: float = 5.0) -> TargetInfo:
    """inspect_pid, retried while the process is not Python yet.

    A freshly started ``python`` may be a pyenv shim (bash) for a few milliseconds before
    it execs the interpreter; the PID stays the same across the exec.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return inspect_pid(pid)
        except NotPythonError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def check_traceable(pid: int, pyspy: Optional[str], timeout_s: float = 10.0) -> None:
    """Run ``py-spy dump`` once to prove py-spy can read ``pid``; else TargetError.

    Non-blocking, so the target is never paused. A failure that is neither a permission
    problem nor the target's exit is retried until ``timeout_s``: py-spy cannot read an
    interpreter that has only just exec'd ("Bad address") or not yet initialised.
    """
    if pyspy is None:
        raise TargetError("py-spy is not installed; pip install py-spy")
    deadline = time.monotonic() + timeout_s
    # No Rust backtrace: the error line must be the last one explain_failure sees.
    env = dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0")
    while True:
        left = deadline - time.monotonic()
        proc = spawn(
            [pyspy, "dump", "--nonblocking", "--pid", str(pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            _, err = proc.communicate(timeout=max(left, DUMP_ANSWER_S))
        except subprocess.TimeoutExpired:
            raise TargetError(
                f"py-spy dump --pid {pid} did not finish in {max(timeout_s, DUMP_ANSWER_S):g} s"
            ) from None
        finally:
            reap([proc], grace_s=0.2)
        if proc.returncode == 0:
            return
        stderr = err.decode(errors="replace")
        problem = explain_failure(pid, stderr)
        if problem.reason == "ptrace permission denied":
            raise AccessError(_pyspy_access_message(pid))
        if problem.reason == "the process is gone" or _status(pid) is None:
            raise NoProcessError(f"PID {pid} has exited")
        if time.monotonic() >= deadline:
            errors = [ln.strip() for ln in stderr.splitlines() if ln.startswith("Error:")]
            reason = errors[0][len("Error:") :].strip() if errors else problem.reason
            raise TargetError(f"py-spy cannot sample PID {pid}: {reason.rstrip('.')}")
        time.sleep(0.1)


def check_argv(argv: Sequence[str]) -> List[str]:
    """``argv`` with its command resolved through PATH; TargetError if it cannot run."""
    if not argv:
        raise TargetError("no command given; usage: gilscope run -- python script.py [args…]")
    command = argv[0]
    resolved = shutil.which(command)
    if resolved is None:
        if os.sep in command and os.path.exists(command):
            raise TargetError(f"command is not an executable file: {command}")
        raise TargetError(f"command not found: {command}")
    rest = list(argv[1:])
    # Only the plain "python script.py" form: after an option we would have to parse them.
    if PYTHON_NAME.fullmatch(os.path.basename(command)) and rest:
        script = rest[0]
        if not script.startswith("-") and not os.path.exists(script):
            raise TargetError(f"script not found: {script}")
    return [resolved, *rest]


SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
STARTS_WITHIN_S = 10.0  # the supervisor tells the command's pid within ~20 ms; a busy machine


class ScriptRun:
    """A command gilscope runs itself, its output kept in memory instead of on the screen.

    The command runs under ``supervisor.py``, which stays: it ends the command's whole tree
    (double forks and ``setsid`` daemons included) when the command ends, when ``stop`` is
    called, and when gilscope goes, even by SIGKILL (see there). stdout and stderr share
    one pipe (so their lines stay in order) read by a daemon thread. Supervisor and command
    get a session of their own: terminal signals (Ctrl-C in headless mode) are gilscope's
    to handle, and they cannot open /dev/tty to write over the UI.
    """

    def __init__(self, argv: Sequence[str], max_lines: int = LOG_LINES) -> None:
        """Returns once the command has exec'd; TargetError if it cannot run."""
        self.argv: Tuple[str, ...] = tuple(check_argv(argv))
        self._lock = threading.Lock()
        self._lines: Deque[LogLine] = deque(maxlen=max_lines)
        self._stopped = False
        self._pid = 0
        self._status: Optional[int] = None  # the command's exit status, once told
        self._error = ""  # why the supervisor could not start it
        self._said = b""  # a partial line from the supervisor
        self._heard = threading.Lock()  # the control socket is read by two threads
        self._open = True
        read_fd, write_fd = os.pipe()
        # Only gilscope holds its end: the supervisor reads end of input once gilscope is
        # gone, however it ended. (Not inheritable: no other child of gilscope gets it.)
        self._control, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            # Our own pipe, not stdout=PIPE: reap() would close proc.stdout while the
            # reader is blocked on it, and close() waits for that read to return.
            self._proc = spawn(
                [sys.executable, "-I", "-S", SUPERVISOR, str(theirs.fileno()), "--",
                 *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )  # fmt: skip
        except OSError as e:
            os.close(read_fd)
            self._control.close()
            raise TargetError(f"cannot run {self.argv[0]}: {e.strerror or e}") from None
        finally:
            os.close(write_fd)
            theirs.close()
        self._reader = threading.Thread(
            target=self._read, args=(read_fd,), name="gilscope-script-output", daemon=True
        )
        self._reader.start()
        self._wait_started()

    @property
    def pid(self) -> int:
        """The command's process (the supervisor's child)."""
        return self._pid

    @property
    def supervisor_pid(self) -> int:
        """The supervisor's: every process of the command's tree is below it."""
        return self._proc.pid

    def _wait_started(self) -> None:
        deadline = time.monotonic() + STARTS_WITHIN_S
        while not self._pid:
            left = deadline - time.monotonic()
            if left <= 0 or not self._hear(left):
                self.stop()
                raise TargetError(f"cannot run {self.argv[0]}: it did not start")
            if self._error:
                self.stop()
                raise TargetError(f"cannot run {self.argv[0]}: {self._error}")

    def _hear(self, timeout_s: float = 0.0) -> bool:
        """Read what the supervisor said (waiting up to ``timeout_s``); False at its end."""
        with self._heard:
            if not self._open:
                return False
            ready, _, _ = select.select([self._control], [], [], timeout_s)
            if not ready:
                return True
            try:
                chunk = self._control.recv(4096)
            except OSError:
                chunk = b""
            self._said += chunk
            *lines, self._said = self._said.split(b"\n")
        for line in lines:
            word, _, value = line.decode(errors="replace").partition(" ")
            if word == "pid" and value.isdigit():
                self._pid = int(value)
            elif word == "exit":
                self._status = int(value)
            elif word == "error":
                self._error = value or "failed"
        return bool(chunk)

    def lines(self) -> Tuple[LogLine, ...]:
        """The last ``max_lines`` lines of output, oldest first."""
        with self._lock:
            return tuple(self._lines)

    def poll(self) -> Optional[int]:
        """The command's exit code (negative: killed by that signal), or None while it
        runs. Known as soon as it ends; its tree may take up to the supervisor's grace
        to follow."""
        if self._status is None:
            self._hear()
        if self._status is not None:
            return self._status
        code = self._proc.poll()
        if code is not None:
            self._hear()  # what it said before it exited
        if self._status is not None:
            return self._status
        return code

    def stop(self, grace_s: float = 0.5) -> None:
        """End the command's tree: the supervisor SIGTERMs it and SIGKILLs what is left
        after ``grace_s``. Should the supervisor not end, it and its process group are
        SIGKILLed."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._control.sendall(f"stop {grace_s}\n".encode())
        except OSError:
            pass  # it has ended already
        try:
            self._proc.wait(grace_s + 1.0)
        except subprocess.TimeoutExpired:
            _killpg(self._proc.pid, signal.SIGKILL)  # a session leader's pgid is its pid
        reap([self._proc], grace_s=0.0)
        self.poll()
        with self._heard:
            self._open = False
            self._control.close()
        # A process that escaped the tree may still hold the pipe: do not wait for it.
        self._reader.join(1.0)

    def _read(self, fd: int) -> None:
        pending = b""
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                pending += chunk
                *done, pending = pending.split(b"\n")
                while len(pending) > _LINE_BYTES:
                    done.append(pending[:_LINE_BYTES])
                    pending = pending[_LINE_BYTES:]
                self._add(done)
            if pending:
                self._add([pending])
        except OSError:
            pass
        finally:
            os.close(fd)

    def _add(self, raw: List[bytes]) -> None:
        if not raw:
            return
        now = time.monotonic_ns()
        lines = [LogLine(now, r.decode(errors="replace").rstrip("\r")) for r in raw]
        with self._lock:
            self._lines.extend(lines)


# -- /proc --------------------------------------------------------------------------------


def _status(pid: int) -> Optional[Dict[str, str]]:
    """/proc/PID/status as a dict (readable for any process), None if there is none."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    fields = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, _, value in fields}


def process_exe(pid: int) -> str:
    """What ``pid`` runs now ("" if it is gone or we may not look)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _cmdline(pid: int) -> List[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]]


def process_cmdline(pid: int) -> List[str]:
    """``pid``'s arguments (readable for any process); [] once it has exited."""
    return _cmdline(pid)


def _short(args: Sequence[str], limit: int = CMDLINE_CHARS) -> str:
    text = " ".join(args)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _environ(pid: int) -> Optional[Dict[str, str]]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _libpython(pid: int, uids: Set[int]) -> Optional[Tuple[int, int, str]]:
    """(major, minor, abi flags) of a libpython mapped into ``pid``, if any."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                m = _LIBPYTHON.search(line)
                if m is not None:
                    return int(m["major"]), int(m["minor"]), m["abi"]
    except PermissionError:
        raise AccessError(_access_message(pid, uids)) from None
    except OSError:
        raise NoProcessError(f"PID {pid} has already exited") from None
    return None


def _can_trace_anyone() -> bool:
    """CAP_SYS_PTRACE in our effective set (root usually has it; containers may not)."""
    status = _status(os.getpid()) or {}
    try:
        return bool(int(status.get("CapEff", "0"), 16) >> _CAP_SYS_PTRACE & 1)
    except ValueError:
        return os.geteuid() == 0


def run_interpreter(pid: int, args: Sequence[str], timeout_s: float = 10.0) -> CompletedRun:
    """Run ``pid``'s own interpreter binary (``/proc/PID/exe``: the exact build, even if the
    file has since been replaced) with ``args``, as the process's owner.

    Raises NoProcessError if it has exited, TargetError if the binary cannot run.
    """
    uids = _uids(pid)
    owner = max(uids) if uids else 0
    user: Optional[int] = None
    group: Optional[int] = None
    if os.geteuid() == 0 and owner != 0:
        # Never run another user's binary as root: it could be anything they put there.
        user = owner
        group = int(((_status(pid) or {}).get("Gid", "") or str(owner)).split()[0])
    env = dict(os.environ)
    library_path = (_environ(pid) or {}).get("LD_LIBRARY_PATH")
    if library_path is not None:  # so it loads the same libpython as the target
        env["LD_LIBRARY_PATH"] = library_path
    exe = f"/proc/{pid}/exe"
    try:
        return subprocess.run(
            [_own_path(exe), *args],
            executable=exe,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd="/",
            env=env,
            user=user,
            group=group,
            extra_groups=None if user is None else [],
        )
    except FileNotFoundError:
        raise NoProcessError(f"PID {pid} has exited") from None
    except (OSError, subprocess.SubprocessError) as e:
        raise TargetError(f"cannot run PID {pid}'s interpreter: {e}") from None


def _own_path(exe: str) -> str:
    """What to call the binary at ``exe`` (``/proc/PID/exe``) in its argv[0]: its real path,
    if that is the same file here. CPython finds its standard library from argv[0]; should the
    target exit first, /proc/PID/exe would dangle, and a build installed away from its build
    prefix (Debian's under /opt/sidpy, built for /usr) would look there and not start."""
    try:
        path = os.readlink(exe)
        if os.path.samestat(os.stat(path), os.stat(exe)):
            return path
    except OSError:  # gone, deleted (" (deleted)"), or in another mount namespace
        pass
    return exe


def _uids(pid: int) -> Set[int]:
    status = _status(pid) or {}
    return {int(u) for u in status.get("Uid", "").split()}


# What an interpreter binary said of itself, by binary: the processes of one tree
# (multiprocessing's workers, a prefork server's) run the same one, and running it takes
# ~20 ms each time.
_REPORTS: Dict[Tuple[int, int, int, Optional[str]], Tuple[str, int, str]] = {}


def _binary_key(pid: int) -> Optional[Tuple[int, int, int, Optional[str]]]:
    """The file /proc/PID/exe is (device, inode, mtime), and the LD_LIBRARY_PATH it runs
    with (which may choose its libpython)."""
    try:
        st = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, (_environ(pid) or {}).get("LD_LIBRARY_PATH")


def _probe(pid: int, exe: str, cmdline: List[str], uids: Set[int]) -> TargetInfo:
    """Version and GIL build of the target, from its own binary run with a tiny -c."""
    # -E -s -S: nothing from the environment, user site or current directory is imported;
    # no -I, which Python 2 rejects before we can say why.
    key = _binary_key(pid)
    report = _REPORTS.get(key) if key is not None else None
    if report is None:
        done = run_interpreter(pid, ["-E", "-s", "-S", "-c", _PROBE])
        try:
            impl, hexversion_text, gil_disabled = done.stdout.split()[:3]
            report = impl, int(hexversion_text), gil_disabled
        except ValueError:
            said = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "")
            raise TargetError(
                f"PID {pid}'s interpreter {exe} would not report its version: "
                + (said.strip()[:120] or f"exit code {done.returncode}")
            ) from None
        if key is not None:
            _REPORTS[key] = report
    impl, hexversion, gil_disabled = report
    version = f"{hexversion >> 24}.{(hexversion >> 16) & 0xFF}.{(hexversion >> 8) & 0xFF}"
    if impl != "CPython" or hexversion < MIN_HEXVERSION:
        raise TargetError(f"PID {pid} runs {impl} {version} ({exe}); gilscope needs CPython 3.9+")
    gil = _gil_enabled(pid, gil_disabled == "1", cmdline)
    # '3.13.1t' for a free-threaded build, as its binary is named
    return TargetInfo(pid, exe, _short(cmdline), version + "t" * (gil_disabled == "1"), gil)


def _gil_enabled(pid: int, free_threaded: bool, cmdline: Sequence[str] = ()) -> Optional[bool]:
    if not free_threaded:
        return True
    x_gil, ignore_env = interpreter_options(cmdline)
    if x_gil is not None:
        return x_gil != "0"
    if ignore_env:
        return False
    env = _environ(pid)
    if env is None:
        return None
    return env.get("PYTHON_GIL", "0") != "0"


def interpreter_options(cmdline: Sequence[str]) -> Tuple[Optional[str], bool]:
    """(value of ``-X gil=``, whether -E/-I ignore the environment) from a Python cmdline.

    Only the options before the script, ``-c`` or ``-m`` are the interpreter's.
    """
    x_gil: Optional[str] = None
    ignore_env = False
    args = list(cmdline[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-", "--") or not arg.startswith("-") or arg.startswith("--"):
            break
        for j, ch in enumerate(arg[1:], start=1):
            if ch in "cm":
                return x_gil, ignore_env
            if ch in "EI":
                ignore_env = True
            if ch in "XW":
                value = arg[j + 1 :]
                if not value and i + 1 < len(args):
                    i += 1
                    value = args[i]
                if ch == "X" and value.startswith("gil="):
                    x_gil = value[len("gil=") :]
                break
        i += 1
    return x_gil, ignore_env


# -- messages -------------------------------------------------------------------------------


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _yama_scope() -> Optional[str]:
    """kernel.yama.ptrace_scope, or None where there is no Yama (nor the sysctl)."""
    try:
        with open(_YAMA) as f:
            return f.read().strip()
    except OSError:
        return None


def _join(options: List[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + ", or " + options[-1]


def _access_message(pid: int, uids: Set[int]) -> str:
    """Why we may not read /proc/PID/exe or maps, and the fix that would work here.

    Yama restricts ptrace attach only, not these reads, so its sysctl is no fix for them;
    it is offered where py-spy attaches (``_pyspy_access_message``).
    """
    owner = max(uids) if uids else None
    what = _short(_cmdline(pid), 40) or "?"
    head = f"permission denied reading PID {pid} ({what})"
    if owner is not None:
        head += f", which belongs to {_user(owner)}"
    if _can_trace_anyone():
        return (
            f"{head}: the kernel refuses even gilscope's CAP_SYS_PTRACE (the process is more "
            "privileged than gilscope, or a security module protects it)"
        )
    if owner is None or owner == 0 or uids == {os.geteuid()}:
        # Same user and still refused: the process is not dumpable (setuid, or prctl).
        return f"{head}: run gilscope with sudo"
    return f"{head}: run gilscope as the same user as the target ({_user(owner)}), or with sudo"


def _pyspy_access_message(pid: int) -> str:
    head = f"py-spy cannot sample PID {pid}: ptrace permission denied"
    scope = _yama_scope()
    if scope == "3":
        return f"{head}; {_YAMA} is 3, which forbids all ptrace until the next reboot"
    if _can_trace_anyone():
        return f"{head} even with CAP_SYS_PTRACE (a security module may protect the process)"
    fixes = [
        "run gilscope with sudo",
        "give py-spy CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep $(which py-spy))",
    ]
    if scope in ("1", "2"):
        fixes.append(
            "allow ptrace of your own processes (sudo sysctl kernel.yama.ptrace_scope=0; "
            f"{_YAMA} is {scope} now)"
        )
    return f"{head}; {_join(fixes)}"


def _killpg(pgid: int, sig: int) -> bool:
    """Signal a process group; False once it is empty."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True
