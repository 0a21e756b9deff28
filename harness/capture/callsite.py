"""The application's call site of a statement: the first stack frame outside the machinery.

"The machinery" is dalperf itself (not its case study, ``dalperf.scenarios``), SQLAlchemy, the driver, and the plumbing that runs
coroutines and threads.  On an AsyncEngine, SQLAlchemy runs its synchronous core in a
greenlet whose stack ends at the greenlet's start, so the walk continues in the parent
greenlet, where the awaiting application coroutine is suspended.
"""

from __future__ import annotations

import sys
from types import FrameType

import greenlet

_MACHINERY = frozenset({
    "dalperf", "sqlalchemy", "psycopg", "psycopg_binary", "psycopg2", "asyncpg", "greenlet",
    "asyncio", "concurrent", "threading", "contextlib", "selectors",
})


# the case study's DAL is installed inside dalperf, but it is application code
_CASE_STUDY = "dalperf.scenarios"


def call_site() -> str | None:
    """``path:line in function`` of the innermost application frame, or None if there is none."""
    frame: FrameType | None = sys._getframe(1)
    current: greenlet.greenlet | None = greenlet.getcurrent()
    while True:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.partition(".")[0] not in _MACHINERY or module.startswith(_CASE_STUDY):
                code = frame.f_code
                return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
            frame = frame.f_back
        current = current.parent if current is not None else None
        if current is None:
            return None
        frame = current.gr_frame
