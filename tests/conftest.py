"""Shared fixtures: one real embedded PostgreSQL server per test session, fresh databases on it.

Every database test runs against a real server (never SQLite, never a mock).  The server
is a throwaway cluster in a temporary folder, stopped when the session ends.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.embedded import OWNED_MARKER, ServerStatus, running_server

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerStatus]:
    """A running embedded server for the whole test session."""
    with running_server(None) as status:
        yield status


def create_database(server: ServerStatus, name: str, *, owned: bool = True) -> str:
    """Create database ``name`` on ``server``; return its libpq URL."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        if owned:
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
    return server.url(name)


def drop_database(server: ServerStatus, name: str) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(pg_server: ServerStatus) -> Iterator[str]:
    """An empty database that dalperf owns (writable), dropped after the test; its URL."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    url = create_database(pg_server, name)
    try:
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture
def dalperf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DALPERF_HOME so CLI tests never touch the user's ./.dalperf."""
    home = tmp_path / "home"
    monkeypatch.setenv("DALPERF_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return home
