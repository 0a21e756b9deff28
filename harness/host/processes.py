"""Child processes that never outlive dalperf, even when dalperf is killed with SIGKILL.

``finally`` blocks stop the app server, locust and the latency proxy on a normal end, an
error, Ctrl-C or SIGTERM; nothing runs them after ``kill -9``.  So each child also asks
the kernel for a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``) in the
``preexec_fn`` of its :class:`subprocess.Popen`, and runs in its own session (process
group), so a terminal's Ctrl-C reaches dalperf alone, which then stops its children in
order.  The signal fires when the thread that started the child ends, so start children
from a thread that lives as long as they do (the main thread does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies; ``None``
    where the kernel has no parent-death signal (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec
