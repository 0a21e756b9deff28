"""A plain-SQL migration runner with checksums.

Migrations are files ``NNNN_name.sql`` in a folder (the case study's are in
``migrations/``); a migration that can be rolled back has a ``NNNN_name.down.sql`` beside
it.  Applied versions are recorded in ``schema_migrations`` with the SHA-256 of the file;
a file edited after it was applied is refused with :class:`MigrationError` rather than
silently diverging from the database.  Each migration runs in its own transaction.

A migration whose statements are all ``CREATE INDEX`` (0006, the performance indexes) is
built on ``jobs`` connections at once, as ``pg_restore --jobs`` does: each index build
uses one CPU, so on two cores two sessions take less time (0006 at scale 10: 4.5 s on one
session, 3.5 s on two).  Each connection builds its share inside its own transaction, and
none commits before all have built theirs, so a failed build leaves nothing behind.  The
helpers commit just before the connection that records the version: only a crash between
those commits could leave some of the indexes without the record, and the next
``migrate`` would then stop at the first one with "already exists", naming the file.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pglast
import psycopg
from pglast import ast

from dalperf.db.targets import Target, connect
from dalperf.defaults import DEFAULT_JOBS
from dalperf.errors import DatabaseUnreachable, MigrationError, UsageError

_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x64616C70  # "dalp": the advisory lock that serialises migrators
_RECORD_SQL = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
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

    def index_builds(self) -> list[str] | None:
        """The up file's statements when every one is a plain ``CREATE INDEX``, else None."""
        try:
            statements = pglast.split(self.up.read_text())
            if statements and all(_is_plain_index_build(statement) for statement in statements):
                return list(statements)
        except pglast.parser.ParseError:
            pass  # not for pglast to judge: the file runs as a whole, as any other
        return None


def default_folder() -> Path:
    """The case study's migrations, shipped as package data of the ``migrations`` package."""
    return Path(str(resources.files("dalperf.migrations")))


def discover(folder: Path | None = None) -> list[Migration]:
    """All migrations in ``folder``, ordered by version."""
    folder = folder or default_folder()
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            continue  # down files and anything else
        down = path.with_name(path.name.removesuffix(".sql") + ".down.sql")
        found.append(
            Migration(
                version=match["version"],
                name=match["name"],
                up=path,
                down=down if down.exists() else None,
            )
        )
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
    return dict(rows)


def verify_checksums(migrations: list[Migration], applied: dict[str, str]) -> None:
    """Raise :class:`MigrationError` naming the first applied file whose contents changed."""
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.filename} was edited after it was applied "
                "(checksum differs); restore it or add a new migration"
            )


def migrate(
    target: Target, *, to: str | None = None, folder: Path | None = None, jobs: int = DEFAULT_JOBS
) -> list[str]:
    """Bring the database to version ``to`` (default: the newest); return what was done.

    Moving down runs the down files of the newer applied versions, newest first; a
    version without a down file cannot be rolled back and raises :class:`MigrationError`.
    An index-only migration is built on ``jobs`` connections (see the module's doc).
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
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
                _run(
                    conn,
                    migration.down,
                    "DELETE FROM schema_migrations WHERE version = %s",
                    (migration.version,),
                )
                done.append(f"reverted {migration.filename}")
        for migration in migrations:
            if migration.version not in applied and migration.version <= goal:
                record = (_RECORD_SQL, (migration.version, migration.name, migration.checksum))
                builds = migration.index_builds() if jobs > 1 else None
                if builds is None:
                    _run(conn, migration.up, *record)
                else:
                    _build_indexes(target, conn, migration.up, builds, jobs, *record)
                done.append(f"applied {migration.filename}")
    return done


def _is_plain_index_build(statement: str) -> bool:
    (raw,) = pglast.parse_sql(statement)
    return isinstance(raw.stmt, ast.IndexStmt) and not raw.stmt.concurrent


def _build_indexes(
    target: Target,
    conn: psycopg.Connection,
    path: Path,
    builds: list[str],
    jobs: int,
    ledger_sql: str,
    ledger_args: tuple[str, ...],
) -> None:
    """Run ``builds`` on ``conn`` and ``jobs - 1`` more connections, then record the version.

    Each connection takes the next statement when it is done with one, works in a
    transaction and commits only once all the statements ran; each build runs on one CPU
    (no parallel maintenance workers), as the connections already keep the cores busy.
    """
    waiting: queue.SimpleQueue[str] = queue.SimpleQueue()
    for statement in builds:
        waiting.put(statement)
    sessions = [conn]
    first_error: list[psycopg.Error] = []
    lock = threading.Lock()

    def work(session: psycopg.Connection) -> None:
        try:
            session.execute("SET LOCAL max_parallel_maintenance_workers = 0")
            while not first_error:
                try:
                    statement = waiting.get_nowait()
                except queue.Empty:
                    return
                session.execute(statement)
        except psycopg.Error as exc:
            with lock:
                if first_error:
                    return  # cancelled because another connection failed first
                first_error.append(exc)
            for other in sessions:  # stop the others' builds now, not when they end
                if other is not session:
                    other.cancel_safe()

    try:
        # the stack commits in reverse order: the helpers' transactions, then conn's
        with ExitStack() as stack:
            helpers = min(jobs, len(builds)) - 1
            sessions += [stack.enter_context(connect(target)) for _ in range(helpers)]
            for session in sessions:
                stack.enter_context(session.transaction())
            with ThreadPoolExecutor(len(sessions)) as pool:
                list(pool.map(work, sessions))
            try:
                if first_error:
                    raise first_error[0]
                conn.execute(ledger_sql, ledger_args)
            except psycopg.Error as exc:  # before the stack closes the helpers
                lost = any(session.closed for session in sessions)
                raise _failure(lost, path, exc) from exc
    except psycopg.Error as exc:  # a commit failed
        raise _failure(conn.closed, path, exc) from exc


def _run(
    conn: psycopg.Connection,
    path: Path,
    ledger_sql: str,
    ledger_args: tuple[str, ...],
) -> None:
    """Run one file and its ledger change in one transaction; a failure leaves neither."""
    try:
        with conn.transaction():
            conn.execute(path.read_text())
            conn.execute(ledger_sql, ledger_args)
    except psycopg.Error as exc:
        raise _failure(conn.closed, path, exc) from exc


def _failure(connection_lost: bool, path: Path, exc: psycopg.Error) -> Exception:
    """The project's error for a migration that failed (and was rolled back)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if connection_lost:
        return DatabaseUnreachable(f"lost the connection while running {path.name}: {reason}")
    return MigrationError(f"migration {path.name} failed and was rolled back: {reason}")
