"""``dalperf compare --base REF``: a tiny git repository whose scenario module changes between
two revisions, measured base against head on a real embedded PostgreSQL, and bad input."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dalperf.cli import main

MODULE = "perf/scenarios.py"
SCENARIO = """
import os

from sqlalchemy import text

from dalperf.measure.scenario import register

LABEL = "{label}"


def _log() -> None:
    with open(os.environ["DALPERF_TEST_ORDER"], "a") as handle:
        handle.write(LABEL)


async def naive(db, n):
    _log()
    async with db.sessions() as session:
        return (await session.execute(text("SELECT CAST(:n AS int)"), {{"n": n}})).scalar_one()


async def fast(db, n):
    async with db.sessions() as session:
        {extra}
        return (await session.execute(text("SELECT CAST(:n AS int)"), {{"n": n}})).scalar_one()


def params(db, rng, size):
    return rng.randint(1, 100)


register("{name}", variants={{"naive": naive, "fast": fast}}, params=params)
"""
_names = itertools.count()  # REGISTRY is the process's: each test registers its own name
SLOW = 'await session.execute(text("SELECT pg_sleep(0.02)"))'  # one more query, 20 ms


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three commits: ``bare`` (no scenario module), ``v1`` (the module) and the head, whose
    ``fast`` variant sends one more query that sleeps 20 ms.  The current folder."""
    root = tmp_path / "app"
    (root / "perf").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "README").write_text("demo\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bare")
    git(root, "tag", "bare")
    name = f"demo.lookup_{next(_names)}"
    (root / MODULE).write_text(SCENARIO.format(label="A", extra="pass", name=name))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "v1")
    git(root, "tag", "v1")
    (root / MODULE).write_text(SCENARIO.format(label="B", extra=SLOW, name=name))
    git(root, "commit", "-qam", "slower fast")
    monkeypatch.chdir(root)
    monkeypatch.setenv("DALPERF_TEST_ORDER", str(tmp_path / "order.txt"))
    return root


def compare(url: str, *args: str) -> int:
    return main(
        [
            "compare",
            "--database-url",
            url,
            "--scenarios",
            MODULE,
            "--iterations",
            "8",
            "--warmup",
            "1",
            "--param-sets",
            "1",
            *args,
        ]
    )


def test_the_head_regression_is_found_base_and_head_interleaved(
    repo: Path, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare(fresh_db, "--base", "v1", "--out", "out.json") == 1
    data = json.loads((repo / "out.json").read_text())
    assert data["kind"] == "dalperf-compare" and data["passed"] is False
    assert data["base"]["ref"] == "v1" and data["base"]["commit"] == git(repo, "rev-parse", "v1")
    assert data["head"] == {"commit": git(repo, "rev-parse", "HEAD"), "changes": []}
    pairs = {p["variant"]: p for p in data["pairs"]}
    fast = pairs["fast"]
    assert (fast["base"]["queries"], fast["head"]["queries"]) == (1, 2)
    assert len(fast["base"]["wall_ms"]["samples"]) == len(fast["head"]["wall_ms"]["samples"]) == 8
    assert fast["ratio"]["low"] > 2  # 20 ms more against well under 5 ms
    metrics = [r["metric"] for r in fast["regressions"]]
    assert "queries" in metrics and "median:10%" in metrics
    assert pairs["naive"]["base"]["queries"] == pairs["naive"]["head"]["queries"] == 1
    assert pairs["naive"]["mismatch"] is None and fast["mismatch"] is None
    # naive logs its revision on every call: the results check, then A B, B A, ... per round
    order = (repo.parent / "order.txt").read_text()
    assert order == "BA" + "".join("AB" if r % 2 == 0 else "BA" for r in range(9))
    out = capsys.readouterr().out
    assert "base v1" in out and "demo.lookup_" in out and "queries rose from 1 to 2" in out
    # the temporary checkout is gone, and so are the base modules
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not [
        name
        for name, m in sys.modules.items()
        if "dalperf-base-" in (getattr(m, "__file__", None) or "")
    ]


def test_the_same_code_has_no_count_regression_and_dirty_changes_need_allowing(
    repo: Path, fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "README").write_text("changed\n")
    assert compare(fresh_db, "--base", "HEAD", "--out", "same.json") == 2
    err = capsys.readouterr().err
    assert "uncommitted changes (1 file(s), e.g. README)" in err and "--allow-dirty" in err
    assert len(err.strip().splitlines()) == 1
    loose = ["--check", "median:100000%", "--check", "p95:100000%"]
    assert compare(fresh_db, "--base", "HEAD", "--allow-dirty", "--out", "same.json", *loose) == 0
    data = json.loads((repo / "same.json").read_text())
    assert data["passed"] is True and data["head"]["changes"] == ["README"]
    for pair in data["pairs"]:
        assert pair["base"]["queries"] == pair["head"]["queries"]
        assert pair["regressions"] == []


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("no-such-branch", "--base 'no-such-branch' names no revision of the repository"),
        ("bare", "revision bare has no scenario module perf/scenarios.py"),
    ],
)
def test_bad_base_is_one_line_and_exit_2(
    repo: Path, fresh_db: str, base: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare(fresh_db, "--base", base) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (repo / "reports").exists()  # nothing written
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_outside_a_git_repository(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_db: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text("")
    assert (
        main(["compare", "--database-url", fresh_db, "--base", "main", "--scenarios", "s.py"]) == 2
    )
    assert "is not inside a git repository" in capsys.readouterr().err
