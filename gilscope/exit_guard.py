"""A deadline on gilscope's shutdown once a signal has asked for it.

SIGTERM, SIGHUP and SIGINT must end gilscope and everything it started. Its shutdown
joins threads and reaps children, each with a timeout; should one step still hang (once,
in the stress check, ``attach --metrics`` outlived SIGTERM by 10 s), the guard ends the
process anyway: it says so on stderr with every thread's stack (what hung, for a bug
report), runs the cleanup (children, scratch folder) and exits with the signal's code.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from typing import Callable

EXIT_DEADLINE_S = 5.0  # a shutdown takes ~0.5 s; the stress check waits 10 s for it


class ExitGuard:
    """Armed when ``stop`` is set; disarmed by ``done()``."""

    def __init__(
        self,
        stop: threading.Event,
        code: Callable[[], int],
        cleanup: Callable[[], None],
        deadline_s: float = EXIT_DEADLINE_S,
    ) -> None:
        self._stop = stop
        self._done = threading.Event()
        self._code = code
        self._cleanup = cleanup
        self.deadline_s = deadline_s
        # A plain daemon thread, started now: a signal handler must not start threads.
        threading.Thread(target=self._watch, name="gilscope-exit-guard", daemon=True).start()

    def done(self) -> None:
        """The shutdown finished: nothing to force."""
        self._done.set()

    def _watch(self) -> None:
        self._stop.wait()
        if self._done.wait(self.deadline_s):
            return
        print(
            f"gilscope: shutdown did not finish within {self.deadline_s:g} s; "
            "ending anyway. Its threads were:",
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        try:
            self._cleanup()
        finally:
            os._exit(self._code())
