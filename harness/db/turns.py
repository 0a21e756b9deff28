"""Runs on one server take turns with its project databases.

``dalperf_project_template`` and ``dalperf_project`` are one pair per server: two runs at
once would fill one template with two scales' data, or drop the other's working copy
mid-measure.  :func:`taking_turns` holds an exclusive ``flock`` on a lock file named after
the server (its host and port) in the temporary folder, from before the data is prepared
until the measurements are done; a run that finds it held says what it waits for (the
holder's pid, which it writes into the file) and waits.  The lock goes with the process
that holds it, however it ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dalperf.db import urls
from dalperf.db.targets import Target

LOCK_PREFIX = "dalperf-project-"


def lock_file(target: Target) -> Path:
    """The lock file of ``target``'s server (one per host and port)."""
    where = urls.endpoint(target.url)
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{LOCK_PREFIX}{digest}.lock"


@contextmanager
def taking_turns(target: Target, *, say: Callable[[str], None]) -> Iterator[None]:
    """Hold ``target``'s server for the block; ``say`` one line first if it must wait."""
    path = lock_file(target)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            say(
                f"waiting for another dalperf run (pid {holder}) to finish with the project "
                f"databases on {urls.endpoint(target.url)}"
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
