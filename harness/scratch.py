"""Temporary folders that say which process made them, so that a later run can remove
those a killed run left behind.

``finally`` blocks remove dalperf's temporary folders (the base revision's worktree of
``compare``, the output folder of ``load``); nothing runs them after ``kill -9``.  So each
folder holds :data:`OWNER_FILE`: the pid and start time of the process that made it, and
:func:`abandoned` lists the folders of a prefix whose owner is gone (a pid reused by
another process does not count as the owner: its start time differs).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil

OWNER_FILE = ".dalperf-owner"


def owned_folder(prefix: str) -> Path:
    """A new temporary folder named ``prefix…``, marked as this process's."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    me = psutil.Process()
    (folder / OWNER_FILE).write_text(f"{me.pid} {me.create_time()}\n")
    return folder


def abandoned(prefix: str) -> list[Path]:
    """The temporary folders named ``prefix…`` whose owner process is gone; folders
    without an owner file (made by an older dalperf, or by something else) are left."""
    root = Path(tempfile.gettempdir())
    return [folder for folder in sorted(root.glob(f"{prefix}*"))
            if folder.is_dir() and _owner_gone(folder)]


def _owner_gone(folder: Path) -> bool:
    try:
        pid_text, started_text = (folder / OWNER_FILE).read_text().split()
        pid, started = int(pid_text), float(started_text)
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        process = psutil.Process(pid)
        return process.status() == psutil.STATUS_ZOMBIE or process.create_time() != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
