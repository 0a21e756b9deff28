"""``dalperf_postgres``: a blank PostgreSQL database with the user's schema, for their suite.

The server comes from one of three places (:class:`ServerChoice`), started or reached only
when a test first asks for the fixture:

- the embedded server (the default): a throwaway cluster per test session, which under
  pytest-xdist means one per worker;
- the team's own server, ``--dalperf-database-url`` / ``DALPERF_DATABASE_URL`` (a CI job's
  service container, say): dalperf creates databases of its own there, named
  ``dalperf_<random>``, and drops them at the end; it touches no other database;
- a PostgreSQL image run by testcontainers, ``--dalperf-server docker[:IMAGE]``, where a
  Docker engine is reachable.

On it, one database is created blank (nothing of dalperf's case study) and gets the user's
schema once: ``--dalperf-metadata module:attribute`` (``MetaData.create_all``) or
``--dalperf-alembic alembic.ini`` (``alembic upgrade head`` with ``sqlalchemy.url`` set to
it). Right after that the schema is copied into a template database, so that
:meth:`PostgresServer.fresh_database` clones a fresh copy per test (``CREATE DATABASE ...
TEMPLATE``, milliseconds) even while engines hold the first one open.

A schema step that fails for want of an extension (``CREATE EXTENSION "uuid-ossp"`` on the
embedded server, which ships PostgreSQL's contrib modules but not every one) is one line: the
extension, the extensions this server has, and the other ways to get a server.
"""

from __future__ import annotations

import importlib
import itertools
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from dalperf.db import urls
from dalperf.db.embedded import OWNED_MARKER
from dalperf.errors import EnvironmentProblem, UsageError
from dalperf.pytest_support.settings import DEFAULT_IMAGE, Settings

EMBEDDED_DATABASE = "app"
_MISSING_EXTENSION = re.compile(
    r'extension "(?P<name>[^"]+)" is not available'
    r'|could not open extension control file "[^"]*/(?P<file>[^"/]+)\.control"'
)


@dataclass(frozen=True, kw_only=True)
class ServerChoice:
    """Where ``dalperf_postgres`` gets its server: a URL, a Docker image, or (neither) the
    embedded server."""

    url: URL | None = None  # parsed once, here: every other step takes this value
    image: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> ServerChoice:
        """The choice the validated settings make; :class:`UsageError` for a URL that is not
        a PostgreSQL one."""
        if settings.server is not None:
            return cls(image=settings.server.partition(":")[2] or DEFAULT_IMAGE)
        if settings.database_url is None:
            return cls()
        return cls(url=urls.parse(settings.database_url))

    def describe(self) -> str:
        if self.url is not None:
            return f"the server of --dalperf-database-url ({_shown(self.url)})"
        if self.image is not None:
            return f"a {self.image} container"
        return "the embedded server"


@dataclass(frozen=True, kw_only=True)
class PostgresDatabase:
    """One database: its URLs (the embedded server's need no password: it trusts loopback)."""

    name: str
    url: str  # SQLAlchemy, psycopg 3: postgresql+psycopg://...
    libpq_url: str  # postgresql://... for psql, psycopg.connect, Alembic's env


@dataclass(kw_only=True)
class PostgresServer:
    """The session's server and its first database (``url`` etc. are that database's)."""

    admin_url: URL  # a maintenance database, for CREATE/DROP DATABASE
    database: PostgresDatabase
    template: str
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def libpq_url(self) -> str:
        return self.database.libpq_url

    def create_engine(self, **kwargs: Any) -> Any:
        """A SQLAlchemy Engine on the database (the caller disposes of it)."""
        from sqlalchemy import create_engine

        return create_engine(self.url, **kwargs)

    @contextmanager
    def fresh_database(self) -> Iterator[PostgresDatabase]:
        """A new database cloned from the schema template, dropped on exit."""
        name = f"{self.database.name}_{next(self._counter)}"
        _create(self.admin_url, name, template=self.template)
        try:
            yield _database(self.admin_url, name)
        finally:
            _drop(self.admin_url, name)


@contextmanager
def blank_server(
    choice: ServerChoice, *, metadata: str | None, alembic: Path | None
) -> Iterator[PostgresServer]:
    """Reach or start the chosen server, create a database with the schema and its template;
    drop what was created (and stop what was started) on exit."""
    with ExitStack() as stack:
        admin_url = stack.enter_context(_admin_url(choice))
        name = EMBEDDED_DATABASE if choice == ServerChoice() else f"dalperf_{secrets.token_hex(4)}"
        template = f"{name}_template"
        _create(admin_url, name)
        stack.callback(_drop, admin_url, name)
        database = _database(admin_url, name)
        try:
            if metadata is not None:
                _create_all(database, metadata)
            if alembic is not None:
                _upgrade(database, alembic)
        except Exception as exc:
            missing = _missing_extension(exc)
            if missing is None:
                raise
            raise EnvironmentProblem(_extension_advice(admin_url, missing, choice)) from exc
        _create(admin_url, template, template=name)
        stack.callback(_drop, admin_url, template)
        yield PostgresServer(admin_url=admin_url, database=database, template=template)


def check_reachable(choice: ServerChoice) -> None:
    """At session start: the URL's server answers and its role may ``CREATE DATABASE``;
    :class:`UsageError` in one line (password masked) otherwise. Nothing else is checked."""
    if choice.url is None:
        return
    masked = _shown(choice.url)
    try:
        with psycopg.connect(
            urls.libpq_url(choice.url), autocommit=True, connect_timeout=10
        ) as conn:
            row = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--dalperf-database-url {masked}: cannot connect: {urls.redact(reason)}"
        ) from exc
    if not (row and row[0]):
        raise UsageError(
            f"--dalperf-database-url {masked}: the role may not CREATE DATABASE, "
            "which dalperf_postgres needs (it creates databases of its own, "
            "dalperf_<random>, and drops them); ALTER ROLE ... CREATEDB, or use "
            "another role"
        )


@contextmanager
def _admin_url(choice: ServerChoice) -> Iterator[URL]:
    if choice.url is not None:
        yield choice.url
    elif choice.image is not None:
        with _container(choice.image) as url:
            yield urls.parse(url)
    else:
        from dalperf.db.embedded import running_server

        with running_server(None) as status:
            yield urls.parse(status.url("postgres"))


@contextmanager
def _container(image: str) -> Iterator[str]:
    try:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before the community namespace
            from testcontainers.postgres import PostgresContainer
    except ImportError as exc:
        raise EnvironmentProblem(
            "--dalperf-server docker needs testcontainers: pip install 'dalperf[testcontainers]'"
        ) from exc
    try:
        container = PostgresContainer(image, driver=None)
        container.start()
    except Exception as exc:  # docker's errors have no common base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EnvironmentProblem(
            f"--dalperf-server docker:{image}: cannot start the "
            f"container (is a Docker engine reachable?): {first}"
        ) from exc
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


def _create(admin_url: URL, name: str, *, template: str | None = None) -> None:
    from psycopg import sql

    with psycopg.connect(urls.libpq_url(admin_url), autocommit=True) as admin:
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
        admin.execute(create)
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(OWNED_MARKER)
            )
        )


def _drop(admin_url: URL, name: str) -> None:
    from psycopg import sql

    with psycopg.connect(urls.libpq_url(admin_url), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


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
        raise UsageError(f"--dalperf-metadata {spec}: not a MetaData ({type(target).__name__})")
    return target


def _shown(url: URL) -> str:
    """``url`` as the user wrote it, libpq's form, password masked."""
    return urls.masked(urls.libpq_url(url))


def _database(admin_url: URL, name: str) -> PostgresDatabase:
    url = admin_url.set(database=name)
    return PostgresDatabase(name=name, url=urls.sqlalchemy_url(url), libpq_url=urls.libpq_url(url))


def _missing_extension(exc: BaseException) -> str | None:
    """The extension a failed schema step wanted and the server lacks, if that is the cause."""
    seen: BaseException | None = exc
    while seen is not None:
        match = _MISSING_EXTENSION.search(str(seen))
        if match:
            return match.group("name") or match.group("file")
        seen = seen.__cause__ or seen.__context__
    return None


def _extension_advice(admin_url: URL, extension: str, choice: ServerChoice) -> str:
    with psycopg.connect(urls.libpq_url(admin_url), autocommit=True) as admin:
        names = [
            row[0]
            for row in admin.execute("SELECT name FROM pg_available_extensions ORDER BY name")
        ]
    others = [
        way
        for kind, way in (
            (
                "url",
                "--dalperf-database-url URL (a server of your own, e.g. the CI job's service "
                "container)",
            ),
            ("docker", "--dalperf-server docker[:IMAGE] (a PostgreSQL image, Docker needed)"),
            ("embedded", "no option (the embedded server)"),
        )
        if kind != ("url" if choice.url else "docker" if choice.image else "embedded")
    ]
    builtin = (
        " (gen_random_uuid() is built into PostgreSQL 13 and later)"
        if extension in ("uuid-ossp", "pgcrypto")
        else ""
    )
    return (
        f"the schema needs the extension {extension!r}, which {choice.describe()} does "
        f"not have{builtin}; it has: {', '.join(names)}. Other servers: "
        f"{'; '.join(others)}"
    )


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
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    command.upgrade(config, "head")
