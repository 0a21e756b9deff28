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
    owner = psutil.Process()
    (folder / OWNER_FILE).write_text(f"{owner.pid} {owner.create_time()}\n")
    return folder


def owned(prefix: str) -> list[tuple[Path, int, bool]]:
    """The temporary folders named ``prefix…`` that carry an owner file: each with its
    owner's pid and whether that owner is gone; folders without one (made by an older
    dalperf, or by something else) are not listed."""
    root = Path(tempfile.gettempdir())
    found = []
    for folder in sorted(root.glob(f"{prefix}*")):
        owner = _owner(folder) if folder.is_dir() else None
        if owner is not None:
            found.append((folder, owner[0], _gone(*owner)))
    return found


def abandoned(prefix: str) -> list[Path]:
    """The temporary folders named ``prefix…`` whose owner process is gone."""
    return [folder for folder, _, gone in owned(prefix) if gone]


def _owner(folder: Path) -> tuple[int, float] | None:
    try:
        pid_text, started_text = (folder / OWNER_FILE).read_text().split()
        return int(pid_text), float(started_text)
    except (OSError, ValueError):
        return None


def _gone(pid: int, started: float) -> bool:
    if pid == os.getpid():
        return False
    try:
        process = psutil.Process(pid)
        return process.status() == psutil.STATUS_ZOMBIE or process.create_time() != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
