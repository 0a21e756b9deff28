"""Faults of the history store: concurrent adds from several processes on PostgreSQL, a new
store opened by two at once, an add killed mid-transaction (PostgreSQL and SQLite), and
SQLite readers while a writer holds its lock.

Every race is forced, not hoped for: the test holds a lock the writers need, waits until
PostgreSQL shows each of them blocked on it, and only then lets them go (or kills one).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from dalperf.cli import main
from dalperf.history import ingest
from dalperf.history.migrations import ADVISORY_LOCK
from dalperf.history.model import Commit
from dalperf.history.store import Store
from tests.history_files import audit_results, measurement, plugin_json, write

pytestmark = pytest.mark.faults
WAIT_S = 120


def add_process(url: str, path: Path, sha: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dalperf",
            "history",
            "add",
            str(path),
            "--history",
            url,
            "--commit",
            sha,
            "--branch",
            "main",
            "--time",
            "2026-04-01T00:00:00Z",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )


def blocked_backends(url: str, query_start: str) -> list[int]:
    """Pids of the backends of the database waiting on a lock in a statement that starts
    with ``query_start`` (a fresh connection each time: no cached statistics snapshot)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s AND pid <> pg_backend_pid()",
            (query_start + "%",),
        ).fetchall()
    return [row[0] for row in rows]


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def seeded_store(url: str, tmp_path: Path) -> None:
    """A store holding one result, so that the series and the tables exist."""
    with Store.open(url) as store:
        first = audit_results([measurement("a.b/fast")], started_at="first").to_dict()
        store.add(
            ingest.from_document(first, source="first.json"),
            Commit(
                sha="a" * 40, subject="first", time=datetime(2026, 1, 1, tzinfo=UTC), branch="main"
            ),
        )


def counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]  # type: ignore[index]
        points = conn.execute("SELECT count(*) FROM points").fetchone()[0]  # type: ignore[index]
    return results, points


def test_concurrent_adds_on_postgresql_all_land_and_nothing_is_duplicated(
    fresh_db: str, tmp_path: Path
) -> None:
    seeded_store(fresh_db, tmp_path)
    one = write(tmp_path / "one.json", audit_results([measurement("a.b/fast", queries=2)]))
    two = write(
        tmp_path / "two.json",
        audit_results([measurement("a.b/fast", queries=3), measurement("a.b/slow")]),
    )
    with psycopg.connect(fresh_db) as holder:
        holder.execute("LOCK TABLE results IN EXCLUSIVE MODE")  # reads pass, inserts wait
        processes = [
            add_process(fresh_db, one, "b" * 40),
            add_process(fresh_db, one, "b" * 40),
            add_process(fresh_db, two, "c" * 40),
        ]
        wait_for(
            lambda: len(blocked_backends(fresh_db, "INSERT INTO results")) == 3,
            "three adds blocked on the results table",
        )
        holder.rollback()
    outcomes = [p.communicate(timeout=WAIT_S) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outcomes
    said = [out for out, _ in outcomes[:2]]
    assert sum("added one.json" in out for out in said) == 1
    assert sum("one.json: already in" in out for out in said) == 1
    assert "added two.json" in outcomes[2][0]
    assert counts(fresh_db) == (3, 1 + 1 + 2)
    with Store.open(fresh_db) as store:
        assert sorted(r.commit.sha[0] for r in store.results()) == ["a", "b", "c"]


def test_two_processes_opening_a_new_postgresql_store_create_it_once(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK,))
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "dalperf", "history", "list", "--history", fresh_db],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        wait_for(
            lambda: len(blocked_backends(fresh_db, "SELECT pg_advisory_xact_lock")) == 2,
            "two stores waiting to migrate",
        )
        holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK,))
        holder.commit()
    outcomes = [p.communicate(timeout=WAIT_S) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outcomes
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_a_killed_add_leaves_the_postgresql_store_unchanged(fresh_db: str, tmp_path: Path) -> None:
    seeded_store(fresh_db, tmp_path)
    before = counts(fresh_db)
    path = write(tmp_path / "killed.json", audit_results([measurement("a.b/fast", queries=4)]))
    with psycopg.connect(fresh_db) as holder:
        holder.execute("LOCK TABLE points IN EXCLUSIVE MODE")
        process = add_process(fresh_db, path, "d" * 40)
        # the result row is inserted (in the add's transaction), its points wait
        wait_for(
            lambda: len(blocked_backends(fresh_db, "INSERT INTO points")) == 1,
            "the add blocked inserting its points",
        )
        backend = blocked_backends(fresh_db, "INSERT INTO points")[0]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT_S)
        holder.rollback()

    def backend_gone() -> bool:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            return (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)
                ).fetchone()[0]
                == 0
            )  # type: ignore[index]

    wait_for(backend_gone, "the killed add's backend to end")
    assert process.returncode == -signal.SIGKILL
    assert counts(fresh_db) == before
    retried = add_process(fresh_db, path, "d" * 40)
    out, err = retried.communicate(timeout=WAIT_S)
    assert retried.returncode == 0 and "added killed.json" in out, err
    assert counts(fresh_db) == (before[0] + 1, before[1] + 1)


def test_a_killed_add_leaves_the_sqlite_store_unchanged(tmp_path: Path) -> None:
    url = str(tmp_path / "history.sqlite")
    seeded_store(url, tmp_path)
    journal = tmp_path / "history.sqlite-journal"
    big = write(
        tmp_path / "suite.json",
        plugin_json({f"tests/test_big.py::test_{i}": i % 7 for i in range(300_000)}),
    )
    process = add_process(url, big, "e" * 40)
    wait_for(
        lambda: journal.exists() or process.poll() is not None,
        "the add's transaction to write its journal",
    )
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=WAIT_S)
    assert journal.exists()  # a hot journal: the transaction never committed
    with Store.open(url) as store:  # opening rolls the journal back
        assert [r.source for r in store.results()] == ["first.json"]
        assert len(store.points(branch=None)) == 1
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_sqlite_readers_do_not_wait_for_a_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(tmp_path / "history.sqlite")
    seeded_store(url, tmp_path)
    writer = sqlite3.connect(url, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a write transaction in progress
        writer.execute("DELETE FROM points")
        started = time.monotonic()
        assert main(["history", "list", "--history", url]) == 0
        assert main(["history", "show", "#1", "--history", url]) == 0
        assert time.monotonic() - started < 30  # not the 60 s busy timeout
        out = capsys.readouterr().out
        assert "1 result(s)" in out and "a.b/fast" in out  # the committed state
    finally:
        writer.execute("ROLLBACK")
        writer.close()
