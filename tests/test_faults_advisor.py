"""Faults during the index advisor: Ctrl-C, SIGTERM, a lost connection, and candidates it
could not build.

The advisor is held at a known point without sleeping: the test keeps a ``ROW EXCLUSIVE``
lock on ``renders`` (which the run's own reads and rolled-back writes do not mind), so the
advisor's ``CREATE INDEX`` on ``renders`` waits for it, visibly in ``pg_stat_activity``;
the fault is injected then.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dalperf.cli import main
from dalperf.db.embedded import OWNED_MARKER, ServerStatus
from dalperf.plans import index_audit
from dalperf.seed.loader import seed_database
from tests.conftest import create_database, drop_database, interruptible, target_for
from tests.test_index_audit import index_names_in

pytestmark = pytest.mark.faults

SCALE = 0.2
ONLY = ("--only", "render_chains.delete_chain", "--only", "gallery.list_public")
FAST = ("--iterations", "1", "--warmup", "0", "--param-sets", "1", "--no-complexity")
WAIT_S = 120


@pytest.fixture(scope="module")
def without_0006(pg_server: ServerStatus) -> Iterator[str]:
    """A database of this module's own, seeded, with migration 0006 (its indexes) down."""
    name = f"advisor_faults_{os.getpid()}"
    url = create_database(pg_server, name)
    seed_database(target_for(url), scale=SCALE, seed=0)
    try:
        with index_audit.indexes_removed(target_for(url), index_audit.performance_migration()):
            yield url
    finally:
        drop_database(pg_server, name)


def _dalperf(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DALPERF_DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "dalperf", *args],
        text=True,
        env={**env, "DALPERF_HOME": str(home), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=interruptible,
    )


def _advisor_waiting(url: str, proc: subprocess.Popen[str]) -> int:
    """The backend pid of the advisor's CREATE INDEX once it waits for the test's lock."""
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = "
                "'Lock' AND query LIKE 'CREATE INDEX%%'"
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the advisor never waited for the lock on renders")


def _locked(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url)
    conn.execute("LOCK TABLE renders IN ROW EXCLUSIVE MODE")
    return conn


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_advice_keeps_the_measurements(
    without_0006: str, tmp_path: Path, signum: int
) -> None:
    before = index_names_in(without_0006)
    out = tmp_path / "r.json"
    lock = _locked(without_0006)
    try:
        proc = _dalperf(
            "run",
            "--database-url",
            without_0006,
            *ONLY,
            *FAST,
            "--advise",
            "-o",
            str(out),
            home=tmp_path / "home",
        )
        try:
            _advisor_waiting(without_0006, proc)
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=WAIT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        lock.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    results = json.loads(out.read_text())
    assert results["partial"] == "interrupted during the index advice"
    assert {m["operation"] for m in results["operations"]} == {
        "render_chains.delete_chain",
        "gallery.list_public",
    }
    assert results["advice"] is None
    assert index_names_in(without_0006) == before


def test_a_lost_connection_during_the_advice_keeps_the_measurements(
    without_0006: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    lock = _locked(without_0006)
    try:
        proc = _dalperf(
            "run",
            "--database-url",
            without_0006,
            *ONLY,
            *FAST,
            "--advise",
            "-o",
            str(out),
            home=tmp_path / "home",
        )
        try:
            backend = _advisor_waiting(without_0006, proc)
            with psycopg.connect(without_0006, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
            _, err = proc.communicate(timeout=WAIT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        lock.close()
    assert proc.returncode == 3, err
    assert "went away during the index advice" in err and "Traceback" not in err
    results = json.loads(out.read_text())
    assert results["partial"].startswith("the database went away during the index advice")
    assert len(results["operations"]) > 0 and results["advice"] is None


def test_missing_index_gate_fails_when_candidates_were_not_tested(
    without_0006: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], dalperf_home: Path
) -> None:
    name = without_0006.rsplit("/", 1)[1]
    admin = without_0006.rsplit("/", 1)[0] + "/postgres"
    out = tmp_path / "r.json"
    with psycopg.connect(admin, autocommit=True) as conn:  # not dalperf's: explain only
        conn.execute(f'COMMENT ON DATABASE "{name}" IS NULL')
    try:
        code = main(
            [
                "run",
                "--database-url",
                without_0006,
                "--only",
                "gallery.list_public",
                *FAST,
                "--advise",
                "-o",
                str(out),
            ]
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
    assert code == 0, capsys.readouterr().err
    advice = json.loads(out.read_text())["advice"]
    candidates = [c for s in advice["statements"] for c in s["candidates"]]
    assert candidates and all(c["status"] == "not tested" for c in candidates)
    capsys.readouterr()

    assert main(["check", str(out), "--fail-on-missing-index"]) == 1
    err = capsys.readouterr().err
    assert f"{len(candidates)} of {len(candidates)} candidate index(es) not tested" in err
    assert main(["check", str(out), "--fail-on-missing-index", "--allow-untested"]) == 0
