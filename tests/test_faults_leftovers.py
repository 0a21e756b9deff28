"""What a ``kill -9`` of dalperf leaves behind is removed by the next run: the base
worktree of ``compare`` (registered in git, its folder in the temporary folder) and the
output folder of ``load``.  Folders whose owner still runs are left alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dalperf.loadtest import driver
from dalperf.measure import revision

pytestmark = pytest.mark.faults


def _killed_after(code: str) -> str:
    """Run ``code`` in a child that prints a path and is then killed with SIGKILL (no
    ``finally`` runs); the path it printed."""
    script = textwrap.dedent(code) + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == -9, proc.stderr
    return proc.stdout.strip()


def _worktrees(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(root), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")]


def test_the_next_compare_removes_a_killed_compares_worktree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root / "ops.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    left = Path(
        _killed_after(f"""
        import os, signal
        from pathlib import Path
        from dalperf.measure import revision
        root = Path({str(root)!r})
        with revision.checkout(root, revision.resolve(root, "HEAD")) as tree:
            print(tree, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    )
    assert left.is_dir() and str(left) in _worktrees(root)

    with revision.checkout(root, revision.resolve(root, "HEAD")) as tree:
        assert (tree / "ops.py").is_file()
        assert not left.parent.exists()
    assert _worktrees(root) == [str(root.resolve())]


def test_the_next_load_removes_a_killed_loads_folder() -> None:
    left = Path(
        _killed_after(f"""
        from dalperf.host import scratch
        print(scratch.owned_folder({driver.SCRATCH_PREFIX!r}), flush=True)
    """)
    )
    living = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "from dalperf.host import scratch\n"
                f"print(scratch.owned_folder({driver.SCRATCH_PREFIX!r}), flush=True)\ninput()\n"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    kept = Path()
    try:
        line = living.stdout.readline().strip()  # type: ignore[union-attr]
        kept = Path(line)
        # a child that failed prints nothing: never let an empty line become "." (the
        # working folder) for the rmtree below
        assert kept.is_absolute() and kept.name.startswith(driver.SCRATCH_PREFIX), line
        assert left.is_dir() and kept.is_dir()
        with driver._children() as children:
            assert children.folder.is_dir()
            assert not left.exists()
            assert kept.is_dir()
        assert not children.folder.exists()
    finally:
        living.communicate("\n", timeout=60)
        if kept.is_absolute() and kept.name.startswith(driver.SCRATCH_PREFIX):
            shutil.rmtree(kept, ignore_errors=True)


def test_the_next_throwaway_server_reaps_one_whose_owner_was_killed() -> None:
    import psutil

    from dalperf.db.embedded import EmbeddedServer, running_server

    line = _killed_after("""
        from dalperf.db.embedded import running_server
        with running_server(None) as status:
            print(status.data_dir, status.pid, flush=True)
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    data_dir, pid = Path(line.split()[0]), int(line.split()[1])
    try:
        assert psutil.pid_exists(pid) and EmbeddedServer(data_dir).status() is not None
        with running_server(None) as status:
            assert status.pid != pid
            assert EmbeddedServer(data_dir).status() is None
            assert not data_dir.parent.exists()
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_db_ls_finds_an_orphaned_server_and_stop_all_orphans_stops_it() -> None:
    from dalperf.db.embedded import EmbeddedServer

    line = _killed_after("""
        from dalperf.db.embedded import running_server
        with running_server(None) as status:
            print(status.data_dir, status.pid, flush=True)
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    data_dir, pid = Path(line.split()[0]), int(line.split()[1])
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "dalperf", "db", "ls"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        mine = [row for row in listed.stdout.splitlines() if row.startswith(f"{data_dir.parent}:")]
        assert len(mine) == 1 and f"running, pid {pid}," in mine[0], listed.stdout
        assert mine[0].endswith("gone: orphaned")
        stopped = subprocess.run(
            [sys.executable, "-m", "dalperf", "db", "stop", "--all-orphans"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert f"stopped the orphaned server of {data_dir.parent}" in stopped.stdout
        assert EmbeddedServer(data_dir).status() is None and not data_dir.parent.exists()
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)
