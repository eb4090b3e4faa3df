"""Which interpreters the GIL vs free-threaded comparison runs: a GIL build, and a
free-threaded one (CPython 3.13t+, built with ``--disable-gil``) given or found."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterator, Optional

ASK_TIMEOUT_S = 15.0
NEWEST_MINOR = 20  # python3.13t … python3.20t are looked for on PATH
_ASK = "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))"
HOW_TO_GET_ONE = (
    "no free-threaded Python found on PATH or under pyenv: install one (pyenv install 3.13t, "
    "uv python install 3.13t, or python.org's installer's free-threaded option) and give "
    "--ft-python PATH"
)


@dataclass(frozen=True)
class Builds:
    """The two interpreters of the comparison (None: there is none here)."""

    gil: Optional[str]  # a build with a GIL (the workloads' --python, unless free-threaded)
    ft: Optional[str]  # a free-threaded build (--ft-python, or one found)


NO_GIL_BUILD = (
    "the workloads' Python is free-threaded: start gilscope with --python set to a build "
    "with a GIL to compare the two"
)


def with_free_threaded(builds: Builds) -> Builds:
    """``builds``, with a free-threaded interpreter looked for if it has none yet."""
    return builds if builds.ft is not None else Builds(builds.gil, find_free_threaded())


def is_free_threaded(python: str) -> bool:
    """Whether ``python`` is a free-threaded build (its GIL may still be enabled at run
    time: ``-X gil=1``, ``PYTHON_GIL=1``)."""
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-c", _ASK],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=ASK_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == "1"


def _candidates() -> Iterator[str]:
    """python3.Xt on PATH, newest first, then pyenv's free-threaded versions (3.13.1t…)."""
    for minor in range(NEWEST_MINOR, 12, -1):
        found = shutil.which(f"python3.{minor}t")
        if found:
            yield os.path.realpath(found)
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for version in sorted(glob.glob(os.path.join(root, "versions", "3.*t")), reverse=True):
        yield from sorted(glob.glob(os.path.join(version, "bin", "python3.*t")), reverse=True)


def find_free_threaded() -> Optional[str]:
    """A free-threaded interpreter on this machine, or None (say ``HOW_TO_GET_ONE``).

    The real binary, never a pyenv shim (which would run whatever pyenv selects)."""
    seen = set()
    for path in _candidates():
        if path in seen or "/shims/" in path:
            continue
        seen.add(path)
        if os.access(path, os.X_OK) and is_free_threaded(path):
            return path
    return None
