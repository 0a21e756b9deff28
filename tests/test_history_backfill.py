"""``dalperf history backfill``: a throwaway git repository of a tiny project, each commit
measured in a temporary worktree on a real PostgreSQL and added to a real SQLite store;
every K-th commit, a commit that cannot be measured, and an interrupted backfill resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dalperf.cli import main
from dalperf.history.store import Store
from tests.conftest import interruptible

MODULE = "perf/scenarios.py"
SCENARIO = """
from sqlalchemy import text

from dalperf.measure.scenario import register


async def naive(db, n):
    async with db.sessions() as session:
        return (await session.execute(text("SELECT CAST(:n AS int)"), {{"n": n}})).scalar_one()


async def fast(db, n):
    async with db.sessions() as session:
        {extra}
        return (await session.execute(text("SELECT CAST(:n AS int)"), {{"n": n}})).scalar_one()


def params(db, rng, size):
    return rng.randint(1, 100)


register("demo.lookup", variants={{"naive": naive, "fast": fast}}, params=params)
"""
EXTRA = 'await session.execute(text("SELECT 1"))'
RUN = ["--scenarios", MODULE, "--iterations", "3", "--warmup", "0", "--no-explain"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``bare`` (no scenario module), ``v1``, ``v2`` (``fast`` sends one more query) and
    ``v3`` (a README change) on ``main``: the current folder."""
    root = tmp_path / "app"
    (root / "perf").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("demo\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bare")
    git(root, "tag", "bare")
    for tag, extra in (("v1", "pass"), ("v2", EXTRA)):
        (root / MODULE).write_text(SCENARIO.format(extra=extra))
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"scenarios {tag}")
        git(root, "tag", tag)
    (root / "README").write_text("demo, documented\n")
    git(root, "commit", "-qam", "v3 docs")
    git(root, "tag", "v3")
    monkeypatch.chdir(root)
    return root


def backfill(store: Path, url: str, *args: str) -> int:
    return main(
        ["history", "backfill", "--history", str(store), "--database-url", url, *RUN, *args]
    )


def worktrees(repo: Path) -> int:
    return len(git(repo, "worktree", "list").splitlines())


def test_each_commit_is_measured_and_added_and_a_rerun_skips_them(
    repo: Path, tmp_path: Path, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "history.sqlite"
    assert backfill(store, fresh_db, "--from", "v1", "--to", "v3") == 0
    out = capsys.readouterr().out
    assert "backfilled 3 of 3 commit(s)" in out
    with Store.open(str(store)) as opened:
        points = opened.points()
    fast = [
        (p.commit.sha, p.commit.subject, p.queries)
        for p in points
        if p.key.name == "demo.lookup/fast"
    ]
    assert fast == [
        (git(repo, "rev-parse", "v1"), "scenarios v1", 1),
        (git(repo, "rev-parse", "v2"), "scenarios v2", 2),
        (git(repo, "rev-parse", "v3"), "v3 docs", 2),
    ]
    assert all(len(p.samples_ms) == 3 for p in points)
    assert worktrees(repo) == 1
    assert backfill(store, fresh_db, "--from", "v1", "--to", "v3") == 0
    out = capsys.readouterr().out
    assert "3 commit(s) already in the store, skipped" in out and "nothing to measure" in out
    # the history it built gates a head that regressed again
    assert (
        main(
            [
                "history",
                "check",
                str(_head_results(repo, tmp_path, fresh_db)),
                "--history",
                str(store),
                "--commit",
                "0" * 40,
            ]
        )
        == 1
    )
    assert "demo.lookup/fast: queries rose from 2 to 3" in capsys.readouterr().out


def _head_results(repo: Path, tmp_path: Path, url: str) -> Path:
    """Results of a working tree whose ``fast`` sends two more queries than ``v1``."""
    (repo / MODULE).write_text(SCENARIO.format(extra=f"{EXTRA}\n        {EXTRA}"))
    out = tmp_path / "head.json"
    done = subprocess.run(
        [sys.executable, "-m", "dalperf", "run", *RUN, "--out", str(out)],
        cwd=repo,
        env={**os.environ, "DALPERF_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_every_kth_commit_and_a_commit_that_cannot_be_measured(
    repo: Path, tmp_path: Path, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "history.sqlite"
    assert backfill(store, fresh_db, "--from", "bare", "--to", "v3", "--every", "2") == 2
    out, err = capsys.readouterr()
    bare = git(repo, "rev-parse", "bare")
    assert f"{bare[:10]}: not measured (exit 2)" in err and MODULE in err
    assert "1 commit(s) could not be measured" in err and "backfilled 2 of 3" in out
    with Store.open(str(store)) as opened:
        measured = [r.commit.sha for r in opened.results()]
    assert measured == [git(repo, "rev-parse", "v2"), git(repo, "rev-parse", "v3")]
    assert worktrees(repo) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "no-such-ref"), "--base 'no-such-ref' names no revision"),
        (("--from", "v3", "--to", "v1"), "--from v3 is not an ancestor of --to v1"),
    ],
)
def test_bad_refs_are_one_line_and_exit_2(
    repo: Path,
    tmp_path: Path,
    fresh_db: str,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    assert backfill(tmp_path / "h.sqlite", fresh_db, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_interrupted_backfill_resumes_where_it_stopped(
    repo: Path, tmp_path: Path, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "history.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dalperf",
            "history",
            "backfill",
            "--history",
            str(store),
            "--from",
            "v1",
            "--to",
            "v3",
            *RUN,
        ],
        cwd=repo,
        env={**os.environ, "DALPERF_DATABASE_URL": fresh_db},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 300
    while not _stored(store):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no commit was added"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert worktrees(repo) == 1  # the checkout being measured was removed
    done = _stored(store)
    assert 1 <= done < 3
    assert backfill(store, fresh_db, "--from", "v1", "--to", "v3") == 0
    out = capsys.readouterr().out
    assert f"{done} commit(s) already in the store, skipped" in out
    assert f"backfilled {3 - done} of {3 - done} commit(s)" in out
    assert _stored(store) == 3


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    with Store.open(str(store)) as opened:
        return len(opened.results())
