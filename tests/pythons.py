"""The CPython interpreters the tests run real processes under: every 3.9+ pyenv has, and
Debian's builds under /opt/sidpy (3.14, 3.15) where they are installed; apart from those, the
free-threaded builds (3.13t: /opt/ft313, built with --disable-gil, or a pyenv 3.13t)."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

# Debian's python3.X unpacked there, patched to use its own ld.so and libraries
SIDPY = "/opt/sidpy/root/usr/bin"
SIDPY_MINORS = ("3.14", "3.15")
_ASK = (
    "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3], "
    "bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"
)


def _pyenv() -> Dict[int, Tuple[str, str]]:
    """minor -> (version, path) of each pyenv CPython 3.9+, newest patch per minor."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python"))):
        m = re.search(r"versions/(3\.(\d+)\.\d+)/", path)
        if m and int(m[2]) >= 9:
            found[int(m[2])] = (m[1], path)
    return found


def version_of(path: str) -> Optional[str]:
    """The interpreter's own version, if it runs and has a GIL (the tests expect one)."""
    try:
        done = subprocess.run(
            [path, "-I", "-S", "-c", _ASK], capture_output=True, text=True, timeout=15
        )
        version, free_threaded = done.stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return version if done.returncode == 0 and free_threaded == "False" else None


def _sidpy() -> Dict[int, Tuple[str, str]]:
    """minor -> (version, path) of each /opt/sidpy interpreter that runs here."""
    found = {}
    for minor in SIDPY_MINORS:
        path = os.path.join(SIDPY, f"python{minor}")
        version = version_of(path) if os.access(path, os.X_OK) else None
        if version is not None:
            found[int(minor.split(".")[1])] = (version, path)
    return found


def pythons() -> List[Tuple[str, str]]:
    """(version, path) per minor version, oldest first; pyenv's where both have one."""
    found = {**_sidpy(), **_pyenv()}
    return [found[k] for k in sorted(found)]


def missing_sidpy(minor: str) -> Optional[str]:
    """Why /opt/sidpy's ``minor`` is not among PYTHONS, or None if it is."""
    path = os.path.join(SIDPY, f"python{minor}")
    if not os.path.exists(path):
        return f"{path} is not installed (Debian's python{minor} unpacked under /opt/sidpy)"
    return None


# A free-threaded CPython built from source with --disable-gil (its own prefix)
FT313 = "/opt/ft313/bin/python3.13t"
_ASK_FT = (
    "import sys, sysconfig; "
    "print('%d.%d.%d' % sys.version_info[:3], sysconfig.get_config_var('Py_GIL_DISABLED'))"
)


def free_threaded_pythons() -> List[Tuple[str, str]]:
    """(version + 't', path) of each free-threaded build that runs here: /opt/ft313's and
    pyenv's ``3.13t``-style versions."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        FT313,
        *sorted(glob.glob(os.path.join(root, "versions", "3.*t", "bin", "python"))),
    ]
    found = {}
    for path in candidates:
        if not os.access(path, os.X_OK):
            continue
        try:
            done = subprocess.run(
                [path, "-I", "-S", "-c", _ASK_FT], capture_output=True, text=True, timeout=15
            )
            version, disabled = done.stdout.split()
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        if done.returncode == 0 and disabled == "1":
            found.setdefault(version, path)
    return [(f"{v}t", p) for v, p in sorted(found.items())]


def missing_free_threaded() -> str:
    """Why no free-threaded test can run here (tests that need one skip with this)."""
    return (
        f"no free-threaded CPython here: {FT313} (configure --disable-gil --prefix=/opt/ft313) "
        "or a pyenv 3.13t is needed"
    )


def old_pythons() -> List[Tuple[str, str]]:
    """(version, path) of each pyenv CPython older than 3.9: ones gilscope must refuse."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for path in sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python"))):
        m = re.search(r"versions/((\d+)\.(\d+)\.\d+)/", path)
        if m and (int(m[2]), int(m[3])) < (3, 9):
            found.append((m[1], path))
    return found


PYTHONS = pythons() or [("{}.{}.{}".format(*sys.version_info[:3]), sys.executable)]
IDS = [v for v, _ in PYTHONS]
FT_PYTHONS = free_threaded_pythons()
