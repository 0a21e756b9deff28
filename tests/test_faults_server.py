"""The embedded server on a home folder with a space in its path, and after its postmaster
was killed and left a zombie (a parent that never reaps it, as a container's PID 1 that
reaps nothing): ``db start`` works in both, and stops cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from dalperf.db import embedded
from dalperf.db.embedded import EmbeddedServer

pytestmark = pytest.mark.faults

WAIT_S = 60


@pytest.fixture
def spaced_home() -> Iterator[Path]:
    """A home whose path holds spaces, outside pytest's folders (whose modes pytest resets
    while the server, another user as root, reads them)."""
    root = Path(tempfile.mkdtemp(prefix="dalperf server "))
    try:
        yield root / "My Projects" / "home"
    finally:
        EmbeddedServer(root / "My Projects" / "home" / "pgdata").stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def plain_home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="dalperf-zombie-"))
    try:
        yield root / "home"
    finally:
        EmbeddedServer(root / "home" / "pgdata").stop()
        shutil.rmtree(root, ignore_errors=True)


def _dalperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dalperf", *args],
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_home_with_spaces_in_its_path(spaced_home: Path) -> None:
    started = _dalperf("db", "start", "--home", str(spaced_home))
    assert started.returncode == 0, started.stdout + started.stderr
    url = _dalperf("db", "url", "--home", str(spaced_home))
    assert url.returncode == 0, url.stderr
    with psycopg.connect(url.stdout.strip(), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    stopped = _dalperf("db", "stop", "--home", str(spaced_home))
    assert stopped.returncode == 0, stopped.stderr
    assert EmbeddedServer(spaced_home / "pgdata").status() is None


def _working_in(folder: Path) -> list[psutil.Process]:
    """Live processes whose working folder is ``folder`` (a server's, its backends')."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and Path(process.cwd()) == folder:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_db_start_after_the_postmaster_died_a_zombie(plain_home: Path) -> None:
    data = plain_home / "pgdata"
    server = EmbeddedServer(data)
    server.start()
    server.stop()
    user = embedded._server_user()
    port = embedded.free_port()
    # a postmaster whose parent is this test, which does not reap it until the end
    postmaster = subprocess.Popen(
        [str(embedded.bin_path("postgres")), "-D", str(data), "-p", str(port), "-k", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        user=user,
        group=user,
        extra_groups=[] if user else None,
        env={**os.environ, "LC_ALL": "C"},
    )
    try:
        _wait(lambda: server.status() is not None, "the postmaster to be up")
        os.kill(postmaster.pid, signal.SIGKILL)
        _wait(
            lambda: psutil.Process(postmaster.pid).status() == psutil.STATUS_ZOMBIE,
            "the postmaster to be a zombie",
        )
        _wait(lambda: not _working_in(data), "its backends to exit")
        assert server.pid_file.exists()

        started = _dalperf("db", "start", "--home", str(plain_home))
        assert started.returncode == 0, started.stdout + started.stderr
        status = server.status()
        assert status is not None and status.pid != postmaster.pid
    finally:
        server.stop()
        if postmaster.poll() is None:
            postmaster.kill()
        postmaster.wait()
