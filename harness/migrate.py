"""A plain-SQL migration runner with checksums.

Migrations are files ``NNNN_name.sql`` in a folder (the case study's are in
``migrations/``); a migration that can be rolled back has a ``NNNN_name.down.sql`` beside
it.  Applied versions are recorded in ``schema_migrations`` with the SHA-256 of the file;
a file edited after it was applied is refused with :class:`MigrationError` rather than
silently diverging from the database.  Each migration runs in its own transaction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from harness.database import Target, connect
from harness.errors import DatabaseUnreachable, MigrationError

_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x64616C70  # "dalp": the advisory lock that serialises migrators
_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text        PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, kw_only=True)
class Migration:
    """One numbered migration: its up file and, when reversible, its down file."""

    version: str
    name: str
    up: Path
    down: Path | None

    @property
    def filename(self) -> str:
        return self.up.name

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up.read_bytes()).hexdigest()


def default_folder() -> Path:
    """The case study's migrations, shipped as package data of the ``migrations`` package."""
    return Path(str(resources.files("migrations")))


def discover(folder: Path | None = None) -> list[Migration]:
    """All migrations in ``folder``, ordered by version."""
    folder = folder or default_folder()
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            continue  # down files and anything else
        down = path.with_name(path.name.removesuffix(".sql") + ".down.sql")
        found.append(Migration(version=match["version"], name=match["name"], up=path,
                               down=down if down.exists() else None))
    versions = [m.version for m in found]
    duplicated = {v for v in versions if versions.count(v) > 1}
    if duplicated:
        raise MigrationError(f"two migration files share version {min(duplicated)} in {folder}")
    return found


def latest_version(migrations: list[Migration]) -> str:
    """The newest version among ``migrations``; ``"0000"`` (an empty schema) when there are none."""
    return migrations[-1].version if migrations else "0000"


def applied_versions(conn: psycopg.Connection) -> dict[str, str]:
    """``{version: checksum}`` of the migrations recorded as applied."""
    conn.execute(_LEDGER_DDL)
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {version: checksum for version, checksum in rows}


def verify_checksums(migrations: list[Migration], applied: dict[str, str]) -> None:
    """Raise :class:`MigrationError` naming the first applied file whose contents changed."""
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.filename} was edited after it was applied "
                "(checksum differs); restore it or add a new migration"
            )


def migrate(target: Target, *, to: str | None = None, folder: Path | None = None) -> list[str]:
    """Bring the database to version ``to`` (default: the newest); return what was done.

    Moving down runs the down files of the newer applied versions, newest first; a
    version without a down file cannot be rolled back and raises :class:`MigrationError`.
    """
    target.ensure_writable()
    migrations = discover(folder)
    known = {m.version for m in migrations}
    goal = to if to is not None else latest_version(migrations)
    if to is not None and to != "0000" and to not in known:
        raise MigrationError(f"unknown migration version {to!r}; known: {', '.join(sorted(known))}")
    done: list[str] = []
    with connect(target) as conn:
        # one migrator at a time per database; released when the session ends
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        applied = applied_versions(conn)
        verify_checksums(migrations, applied)
        for migration in reversed(migrations):
            if migration.version in applied and migration.version > goal:
                if migration.down is None:
                    raise MigrationError(f"migration {migration.filename} has no down file")
                _run(conn, migration.down,
                     "DELETE FROM schema_migrations WHERE version = %s", (migration.version,))
                done.append(f"reverted {migration.filename}")
        for migration in migrations:
            if migration.version not in applied and migration.version <= goal:
                _run(conn, migration.up,
                     "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                     (migration.version, migration.name, migration.checksum))
                done.append(f"applied {migration.filename}")
    return done


def _run(
    conn: psycopg.Connection, path: Path, ledger_sql: str, ledger_args: tuple[str, ...],
) -> None:
    """Run one file and its ledger change in one transaction; a failure leaves neither."""
    try:
        with conn.transaction():
            conn.execute(path.read_text())  # type: ignore[arg-type]  # a file of several statements
            conn.execute(ledger_sql, ledger_args)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if conn.closed:
            raise DatabaseUnreachable(
                f"lost the connection while running {path.name}: {reason}") from exc
        raise MigrationError(f"migration {path.name} failed and was rolled back: {reason}") from exc
