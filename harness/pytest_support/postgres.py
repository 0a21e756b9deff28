"""``dalperf_postgres``: a blank embedded PostgreSQL for the user's own suite.

One server per test session, which under pytest-xdist means one per worker (each worker
is its own session), started only when a test first asks for the fixture.  It holds one
database, ``app``, created blank (nothing of dalperf's case study), with the user's schema
applied once: ``--dalperf-metadata module:attribute`` (``MetaData.create_all``) or
``--dalperf-alembic alembic.ini`` (``alembic upgrade head`` with ``sqlalchemy.url`` set to
it).  Right after that the schema is copied into a template database, so that
:meth:`PostgresServer.fresh_database` can clone a fresh copy per test
(``CREATE DATABASE ... TEMPLATE``, milliseconds) even while engines hold ``app`` open.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER, ServerStatus, running_server
from dalperf.errors import UsageError

DATABASE = "app"
TEMPLATE = "app_template"


@dataclass(frozen=True, kw_only=True)
class PostgresDatabase:
    """One database on the embedded server: its URLs (no password: the server trusts loopback)."""

    name: str
    url: str  # SQLAlchemy, psycopg 3: postgresql+psycopg://...
    libpq_url: str  # postgresql://... for psql, psycopg.connect, Alembic's env


@dataclass(kw_only=True)
class PostgresServer:
    """The session's server and its ``app`` database (``url`` etc. are ``app``'s)."""

    status: ServerStatus
    database: PostgresDatabase
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def libpq_url(self) -> str:
        return self.database.libpq_url

    def create_engine(self, **kwargs: Any) -> Any:
        """A SQLAlchemy Engine on ``app`` (the caller disposes of it)."""
        from sqlalchemy import create_engine

        return create_engine(self.url, **kwargs)

    @contextmanager
    def fresh_database(self) -> Iterator[PostgresDatabase]:
        """A new database cloned from the schema template, dropped on exit."""
        name = f"{DATABASE}_{next(self._counter)}"
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
            admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{OWNED_MARKER}'")
        try:
            yield _database(self.status, name)
        finally:
            with self._admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.status.url("postgres"), autocommit=True)


@contextmanager
def blank_server(*, metadata: str | None, alembic: Path | None) -> Iterator[PostgresServer]:
    """Start a throwaway server, create ``app`` with the schema; stop and delete it on exit."""
    with running_server(None) as status:
        with psycopg.connect(status.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
            admin.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{OWNED_MARKER}'")
        database = _database(status, DATABASE)
        if metadata is not None:
            _create_all(database, metadata)
        if alembic is not None:
            _upgrade(database, alembic)
        with psycopg.connect(status.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE "{DATABASE}"')
            admin.execute(f"COMMENT ON DATABASE \"{TEMPLATE}\" IS '{OWNED_MARKER}'")
        yield PostgresServer(status=status, database=database)


def load_metadata(spec: str) -> Any:
    """The object ``module:attr.attr`` names (a MetaData); UsageError naming the option."""
    module_name, _, attributes = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for attribute in attributes.split("."):
            target = getattr(target, attribute)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--dalperf-metadata {spec}: {exc}") from exc
    if not hasattr(target, "create_all"):
        raise UsageError(f"--dalperf-metadata {spec}: not a MetaData "
                         f"({type(target).__name__})")
    return target


def _database(status: ServerStatus, name: str) -> PostgresDatabase:
    libpq = status.url(name)
    return PostgresDatabase(name=name, url=urls.sqlalchemy_url(libpq), libpq_url=libpq)


def _create_all(database: PostgresDatabase, spec: str) -> None:
    from sqlalchemy import create_engine

    metadata = load_metadata(spec)
    engine = create_engine(database.url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _upgrade(database: PostgresDatabase, ini: Path) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ini))
    config.set_main_option("sqlalchemy.url", database.url)
    command.upgrade(config, "head")
