"""Fault injection on dalperf's input and output: a full file system, a folder given as a
file, the latency proxy killed mid-run, Ctrl-C, and ``kill -9`` of dalperf itself.

Each test runs the real command line in its own process and asserts the exit code, the
one-line message, what was (or was not) written, and that no process is left behind.  The
full file system is a real 64 KiB tmpfs, filled up, when the tests run as root; otherwise
the command runs under ``RLIMIT_FSIZE`` (any write past a few bytes fails with EFBIG).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import interruptible
from tests.test_check import make_measurement, make_results

pytestmark = pytest.mark.faults

TMPFS_SIZE = "64k"
FSIZE_LIMIT = 16  # bytes a process under RLIMIT_FSIZE may write to one file
OLD = "the old file, which a failed write must leave as it was\n"


@dataclass(frozen=True, kw_only=True)
class FullFolder:
    """A folder where no new byte fits, and how to run a command so that it sees it so."""

    path: Path
    preexec: Callable[[], None] | None  # None: a real full file system


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[FullFolder]:
    """A tiny tmpfs, filled, as root (with an old file in it); else RLIMIT_FSIZE."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0:
        (folder / "old.out").write_text(OLD)
        yield FullFolder(path=folder, preexec=_limit_file_size)
        return
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(folder)], check=True
    )
    try:
        (folder / "old.out").write_text(OLD)
        with open(folder / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        with pytest.raises(OSError):
            (folder / "probe").write_text("x" * 100)
        (folder / "probe").unlink(missing_ok=True)
        yield FullFolder(path=folder, preexec=None)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def dalperf(
    *args: str, cwd: Path, preexec: Callable[[], None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "dalperf", *args],
        check=False,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=timeout,
        preexec_fn=preexec,
        env={**os.environ, "COLUMNS": "200"},
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's only stderr line, which must be an error (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def assert_untouched(folder: Path, *, old: Path) -> None:
    """The old file is intact and no temporary file was left behind."""
    assert old.read_text() == OLD
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    """A small results file that fails no budget."""
    path = tmp_path / "results.json"
    make_results(make_measurement(variant="naive"), make_measurement()).save(path)
    return path


def test_report_on_a_full_file_system_exits_3_and_keeps_the_old_file(
    full_folder: FullFolder, results_file: Path, tmp_path: Path
) -> None:
    target = full_folder.path / "old.out"
    result = dalperf(
        "report",
        str(results_file),
        "--html",
        str(target),
        cwd=tmp_path,
        preexec=full_folder.preexec,
    )
    assert result.returncode == 3, result.stderr
    line = one_error_line(result)
    assert f"cannot write report {target}" in line
    assert ("No space left on device" if full_folder.preexec is None else "too large") in line
    assert_untouched(full_folder.path, old=target)


def test_check_junit_on_a_full_file_system_exits_3(
    full_folder: FullFolder, results_file: Path, tmp_path: Path
) -> None:
    target = full_folder.path / "old.out"
    result = dalperf(
        "check",
        str(results_file),
        "--junit",
        str(target),
        cwd=tmp_path,
        preexec=full_folder.preexec,
    )
    assert result.returncode == 3, result.stderr
    assert f"cannot write JUnit file {target}" in one_error_line(result)
    assert_untouched(full_folder.path, old=target)


def test_run_out_on_a_full_file_system_exits_3(
    full_folder: FullFolder, seeded_db: str, tmp_path: Path, dalperf_home: Path
) -> None:
    target = full_folder.path / "old.out"
    result = dalperf(
        "run",
        "--only",
        "billing.get_user_credits_with_reset",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--param-sets",
        "1",
        "--no-explain",
        "--no-complexity",
        "--database-url",
        seeded_db,
        "--out",
        str(target),
        cwd=tmp_path,
        preexec=full_folder.preexec,
    )
    assert result.returncode == 3, result.stderr
    assert f"cannot write results file {target}" in one_error_line(result)
    assert_untouched(full_folder.path, old=target)


@pytest.mark.parametrize("command", ["report", "check"])
def test_a_folder_given_as_the_output_file_exits_2(
    command: str, results_file: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    option = "--html" if command == "report" else "--junit"
    result = dalperf(command, str(results_file), option, str(folder), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{folder} is a folder" in one_error_line(result)
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------------------
# Processes: the latency proxy killed, Ctrl-C, kill -9 of dalperf itself
# --------------------------------------------------------------------------------------

CHILD_MARKS = {
    "proxy": "dalperf.network.proxy_child",
    "uvicorn": "-m uvicorn",
    "locust": "-m locust",
}

SLOW_MODULE = """
import asyncio
from sqlalchemy import text
from dalperf.measure.scenario import register

async def pick(db, rng, size):
    return {}

async def slow(db, p):
    async with db.sessions() as s:
        value = (await s.execute(text("SELECT 1"))).scalar_one()
    await asyncio.sleep(0.05)
    return value

register("faults.slow", variants={"naive": slow, "optimized": slow}, params=pick)
"""


def children_of(pid: int) -> dict[int, str]:
    """The proxy, uvicorn and locust processes under ``pid``: pid -> which."""
    found = {}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                command = " ".join(child.cmdline())
                for kind, mark in CHILD_MARKS.items():
                    if mark in command:
                        found[child.pid] = kind
    except psutil.NoSuchProcess:
        pass
    return found


def wait_for_children(
    process: subprocess.Popen[str], kinds: set[str], *, timeout_s: float = 120
) -> dict[int, str]:
    """Poll until ``process`` has a child of each of ``kinds``; fail if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = children_of(process.pid)
        if kinds <= set(found.values()):
            return found
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no {kinds} under dalperf after {timeout_s:g} s: {found}")


def gone(pid: int, *, within_s: float = 15) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for init counts) within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dalperf", *args],
        cwd=cwd,
        text=True,
        preexec_fn=interruptible,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def slow_module(tmp_path: Path) -> Path:
    path = tmp_path / "slow_ops.py"
    path.write_text(SLOW_MODULE)
    return path


def test_a_killed_latency_proxy_is_reported_as_the_proxy_not_the_database(
    seeded_db: str, slow_module: Path, tmp_path: Path, dalperf_home: Path
) -> None:
    out = tmp_path / "results.json"
    process = spawn(
        "run",
        "--scenarios",
        str(slow_module),
        "--rtt-ms",
        "0,1",
        "--iterations",
        "400",
        "--warmup",
        "0",
        "--no-explain",
        "--database-url",
        seeded_db,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    try:
        proxy = next(
            pid for pid, kind in wait_for_children(process, {"proxy"}).items() if kind == "proxy"
        )
        time.sleep(3)  # measuring through it
        os.kill(proxy, signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: the latency proxy") and "died mid-run" in last, stderr
    assert "killed by signal 9" in last
    assert "went away" not in stderr
    if out.exists():  # what was measured before the proxy died is kept, marked partial
        assert "latency proxy" in json.loads(out.read_text())["partial"]


@pytest.mark.parametrize("rtt", ["1e308", "10001", "-1", "nan"])
def test_an_unbounded_rtt_exits_2(rtt: str, tmp_path: Path, dalperf_home: Path) -> None:
    for command in (["run", "--rtt-ms", f"0,{rtt}"], ["load", f"--rtt-ms={rtt}"]):
        result = dalperf(*command, "--ephemeral", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "from 0 to 10,000" in one_error_line(result)


def test_ctrl_c_prints_interrupted_and_exits_130(
    seeded_db: str, slow_module: Path, tmp_path: Path, dalperf_home: Path
) -> None:
    process = spawn(
        "run",
        "--scenarios",
        str(slow_module),
        "--rtt-ms",
        "0",
        "--iterations",
        "400",
        "--no-explain",
        "--database-url",
        seeded_db,
        "--out",
        str(tmp_path / "results.json"),
        cwd=tmp_path,
    )
    try:
        children = wait_for_children(process, {"proxy"})
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert all(gone(pid) for pid in children)


def test_kill_9_of_dalperf_load_leaves_no_child_behind(
    seeded_db: str, tmp_path: Path, dalperf_home: Path
) -> None:
    process = spawn(
        "load",
        "--database-url",
        seeded_db,
        "--rtt-ms",
        "1",
        "--users",
        "2",
        "--workers",
        "1",
        "--run-time",
        "120s",
        "--out",
        str(tmp_path / "load.json"),
        cwd=tmp_path,
    )
    try:
        children = wait_for_children(process, {"proxy", "uvicorn", "locust"})
        time.sleep(1)
        children = children_of(process.pid)  # the locust worker and master both
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert sorted(set(children.values())) == ["locust", "proxy", "uvicorn"]
    assert list(children.values()).count("locust") == 2
    left = {pid: kind for pid, kind in children.items() if not gone(pid)}
    assert left == {}


# --------------------------------------------------------------------------------------
# Sizes that cannot fit
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["seed", "audit"])
def test_a_scale_whose_rows_cannot_fit_in_memory_exits_2(
    command: str, tmp_path: Path, dalperf_home: Path
) -> None:
    result = dalperf(command, "--scale", "1e9", "--ephemeral", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert "scale 1e+09 means some 143,212,000,000,000 rows" in line and "available" in line
    assert not dalperf_home.exists()


def test_a_scale_whose_database_cannot_fit_on_the_disk_is_refused(tmp_path: Path) -> None:
    from dalperf.errors import UsageError
    from dalperf.seed.generate import check_disk

    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    try:
        check_disk(0.001, folder)  # some 100 kB: fits in 1 MB (or in any real disk)
        with pytest.raises(UsageError, match=r"scale 1e\+06 needs about .* of disk"):
            check_disk(1e6, folder)  # 115 TB
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)
