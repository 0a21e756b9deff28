"""Where the database comes from: one interface over the embedded server, a URL, and a container.

:func:`provide` yields a :class:`Target` and guarantees that whatever it started is
stopped again when the block ends, however it ends.  Order of preference (DESIGN.md):
an explicit URL, then the embedded server, then testcontainers when asked for.

Safety rule: dalperf writes only into a database it created (the embedded one, or a
container) or one the user explicitly marks disposable; :meth:`Target.ensure_writable`
enforces it before any migration or seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER, running_server
from dalperf.errors import (
    DatabaseUnreachable,
    ServerStartError,
    UnsafeTargetError,
    UsageError,
    require,
)
from dalperf.project.settings import resolve_one

CONNECT_TIMEOUT_S = 5


class Source(StrEnum):
    EMBEDDED = "embedded"
    URL = "url"
    TESTCONTAINERS = "testcontainers"


@dataclass(frozen=True, kw_only=True)
class Target:
    """A reachable PostgreSQL database and whether dalperf may write into it (the driver its
    URL named stays with :class:`~dalperf.db.urls.ParsedUrl`: a command settles its drivers
    before any server starts)."""

    url: URL
    source: Source
    writable: bool

    @property
    def sqlalchemy_url(self) -> str:
        return urls.sqlalchemy_url(self.url)

    @property
    def libpq_url(self) -> str:
        return urls.libpq_url(self.url)

    @property
    def display_url(self) -> str:
        return urls.masked(self.url)

    def ensure_writable(self) -> None:
        """Raise :class:`UnsafeTargetError` unless dalperf may write into this database."""
        if not self.writable:
            raise UnsafeTargetError(
                f"refusing to write into {self.display_url}: dalperf did not create it; "
                "pass --disposable if its contents may be replaced"
            )

    def server_version(self) -> str:
        with connect(self) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def data_dir(home: Path | None = None) -> Path:
    """Where dalperf keeps the embedded server's data: in ``home`` (``--home``; None: not
    given), else ``$DALPERF_HOME``, else ./.dalperf (the ``home`` setting,
    :mod:`dalperf.project.settings`)."""
    folder: Path = resolve_one("home", home, None)[0]
    return folder.expanduser().resolve() / "pgdata"


def require_source(source: str | None, database_url: urls.ParsedUrl | None) -> None:
    """Raise :class:`~dalperf.errors.MissingExtra` now when the chosen source needs an extra
    that is missing (the embedded server's, the container's), before a command does any
    other work."""
    chosen = resolve_source(source, database_url)
    if chosen is Source.EMBEDDED:
        from dalperf.db.embedded import postgres_bin_path

        postgres_bin_path()
    elif chosen is Source.TESTCONTAINERS:
        require("testcontainers", "testcontainers", feature="--db testcontainers")


def resolve_source(source: str | None, database_url: urls.ParsedUrl | None) -> Source:
    """The source to use: explicit ``--db``, else URL when one is given, else embedded."""
    if source is not None:
        try:
            chosen = Source(source)
        except ValueError as exc:
            choices = ", ".join(s.value for s in Source)
            raise UsageError(f"unknown --db {source!r}; choose one of {choices}") from exc
        if chosen is Source.URL and database_url is None:
            raise UsageError(
                "--db url needs --database-url (or the variable "
                "[tool.dalperf] database_url_env names, DALPERF_DATABASE_URL "
                "by default)"
            )
        return chosen
    return Source.EMBEDDED if database_url is None else Source.URL


@contextmanager
def provide(
    *,
    source: str | None = None,
    database_url: urls.ParsedUrl | None = None,
    home: Path | None = None,
    ephemeral: bool = False,
    disposable: bool = False,
    keep_running: bool = False,
) -> Iterator[Target]:
    """Yield a :class:`Target`; stop anything started for it when the block exits.

    ``database_url`` is the resolved setting (``--database-url`` or the variable the
    configuration names, :meth:`dalperf.project.config.Config.setting`), parsed where it
    entered; ``home`` is ``--home`` (None: not given), resolved by :func:`data_dir`.
    """
    chosen = resolve_source(source, database_url)
    if chosen is Source.URL:
        assert database_url is not None
        target = Target(url=database_url.url, source=chosen, writable=disposable)
        yield replace(target, writable=disposable or _is_owned(target))
    elif chosen is Source.EMBEDDED:
        with running_server(
            None if ephemeral else data_dir(home), keep_running=keep_running
        ) as status:
            yield Target(url=urls.parse(status.url()), source=chosen, writable=True)
    else:
        with _container() as url:
            yield Target(url=urls.parse(url), source=chosen, writable=True)


def connect(target: Target, *, autocommit: bool = True) -> psycopg.Connection:
    """A psycopg connection, with unreachable servers turned into :class:`DatabaseUnreachable`."""
    try:
        return psycopg.connect(
            target.libpq_url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {urls.endpoint(target.url)} "
            f"({target.display_url}): {urls.redact(reason)}"
        ) from exc


def _is_owned(target: Target) -> bool:
    """Whether the database carries the comment dalperf puts on databases it creates."""
    with connect(target) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return bool(row and row[0] == OWNED_MARKER)


@contextmanager
def _container() -> Iterator[str]:
    require("testcontainers", "testcontainers", feature="--db testcontainers")
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16", driver=None)
    try:
        container.start()
    except Exception as exc:  # docker's errors have no common base class
        raise ServerStartError(f"cannot start a PostgreSQL container: {exc}") from exc
    try:
        url = container.get_connection_url()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"COMMENT ON DATABASE {container.dbname} IS '{OWNED_MARKER}'")
        yield url
    finally:
        container.stop()
