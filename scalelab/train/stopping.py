"""Stopping a training loop cleanly: SIGTERM/SIGINT, or :func:`request_stop` from another thread of
the process, set a flag the loop checks after each step; it then checkpoints and stops.

:mod:`scalelab.train.trainer` installs the flag around its loop and re-exports these names.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Optional


class _StopFlag:
    """SIGTERM/SIGINT set a flag the loop checks after each step (then checkpoints and stops).

    Another thread of the process stops the loop the same way with :func:`request_stop`."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def stop_flag_installed() -> bool:
    """Whether a training loop of this process has its checkpoint-and-stop handler installed."""
    return isinstance(getattr(signal.getsignal(signal.SIGTERM), "__self__", None), _StopFlag)


def request_stop() -> bool:
    """Make the training loop of this process checkpoint and stop, as SIGTERM does (the ladder's
    worker calls it when its claim on the run is lost). False, and nothing done, when no loop has
    its handler installed (not inside the loop yet): call it again later."""
    if not stop_flag_installed():
        return False
    os.kill(os.getpid(), signal.SIGTERM)
    return True
