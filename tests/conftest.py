"""Shared fixtures: one real embedded PostgreSQL server per test session, fresh databases on it.

Every database test runs against a real server (never SQLite, never a mock).  The server
is a throwaway cluster in a temporary folder, stopped when the session ends.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy  # noqa: F401  (loaded before any in-process pytester run: see below)
import psycopg
import pytest

from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER, ServerStatus, running_server
from dalperf.db.targets import Source, Target
from dalperf.measure.engines import Engines, open_engines
from dalperf.seed.loader import seed_database

# An in-process ``pytester.runpytest()`` drops from ``sys.modules`` every module its run
# imported, and numpy refuses to load twice in one process: were a pytester run the first
# to seed a database, every later test that seeds one would fail to import it.  Loading it
# here, before any run, keeps it.

_counter = itertools.count()


def interruptible() -> None:
    """``preexec_fn`` for a command a test will Ctrl-C: SIGINT back to its default, as under
    a terminal.  A shell runs background jobs with SIGINT ignored, and a child inherits
    that (Python then installs no KeyboardInterrupt handler), so a suite started in the
    background would see every interrupt test fail."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


SEEDED_SCALE = 0.05  # ~50 users, 250 projects, 5,000 renders; loads in well under a second
SEEDED_SEED = 0


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


def target_for(url: str) -> Target:
    """A writable :class:`Target` for a database URL made by these fixtures."""
    return Target(url=urls.parse(url), source=Source.URL, writable=True)


@pytest.fixture(scope="session")
def seeded_db(pg_server: ServerStatus) -> Iterator[str]:
    """A database seeded at SEEDED_SCALE/SEEDED_SEED, all migrations applied; its URL.

    Shared by the whole session: read it, or change it only inside a transaction that is
    rolled back.
    """
    name = f"seeded_{os.getpid()}"
    url = create_database(pg_server, name)
    seed_database(target_for(url), scale=SEEDED_SCALE, seed=SEEDED_SEED)
    try:
        yield url
    finally:
        drop_database(pg_server, name)


def table_checksums(url: str) -> dict[str, str]:
    """md5 of every case-study table's rows, in primary-key order, computed by the server."""
    from psycopg import sql

    from dalperf.seed.schema import TABLES

    result = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for table in TABLES:
            key = sql.SQL(", ").join(sql.Identifier("t", c.name) for c in table.primary_key.columns)
            query = sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY {})) FROM {} AS t").format(
                key, sql.Identifier(table.name)
            )
            result[table.name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
    return result


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for a whole test module, so async engines outlive single tests."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="module")
def engines(loop: asyncio.Runner, seeded_db: str) -> Iterator[Engines]:
    """Async and sync engines on the seeded database, disposed after the module."""
    opened = open_engines(urls.parse(seeded_db))
    yield loop.run(opened.__aenter__())
    loop.run(opened.__aexit__(None, None, None))
