"""The CPython interpreters the tests run real processes under: every 3.9+ pyenv has."""

from __future__ import annotations

import glob
import os
import re
import sys
from typing import List, Tuple


def pythons() -> List[Tuple[str, str]]:
    """(version, path) of each pyenv CPython 3.9+, newest patch per minor version."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python"))):
        m = re.search(r"versions/(3\.(\d+)\.\d+)/", path)
        if m and int(m[2]) >= 9:
            found[m[2]] = (m[1], path)
    return [found[k] for k in sorted(found, key=int)]


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
