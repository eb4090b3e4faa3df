"""Which programs are Python interpreters by name: the probe runs only those to inspect
a target's layout, never a program that embeds Python (it would run that program)."""

from __future__ import annotations

import os
import re

PYTHON_NAME = re.compile(r"python[0-9.]*[dmtu]*")  # python, python3, python3.13t, python3.9d


def is_python_executable(path: str) -> bool:
    """python, python3.11, python3.13t…: not a program that embeds Python."""
    return PYTHON_NAME.fullmatch(os.path.basename(path)) is not None
