"""Bulk-load the generated case-study data with binary COPY, and remember what was loaded.

:func:`seed_database` refuses a database whose case-study tables hold rows (unless
``reset``), empties the tables, and COPYs every table in binary format.  Indexes of the
migrations after :data:`LOAD_VERSION` (0006, the performance indexes) are dropped during
the load and built once afterwards, which is much faster than maintaining them row by row;
``VACUUM (ANALYZE)`` then leaves fresh statistics and an all-visible map, so index-only
scans are index-only from the first query, not after autovacuum happens to pass.

As a superuser, foreign-key triggers are skipped (``session_replication_role = replica``)
and big tables are loaded in parts on :data:`COPY_CONNECTIONS` connections at once, so the
server uses more than one core; otherwise one connection loads the parts in dependency
order and PostgreSQL checks every foreign key.  The generator's rows satisfy them all (the
tests check it both ways).

``dalperf_seed`` records the scale, seed and row counts once everything is done, so that
:func:`current_seed` lets a later run reuse the data instead of loading it again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, Boolean, Integer, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

from dalperf.db.migrations import migrate
from dalperf.db.targets import Target, connect
from dalperf.errors import DatabaseUnreachable, PopulatedDatabaseError, UsageError
from dalperf.seed.schema import TABLES

if TYPE_CHECKING:
    import numpy as np

    from dalperf.seed.generate import Dataset

LOAD_VERSION = "0005"  # the schema the data is loaded into; later migrations add indexes
PART_ROWS = 100_000  # rows per COPY: big tables are shared out between connections in parts
COPY_CONNECTIONS = 2  # parallel COPY sessions when foreign-key triggers may be skipped
SEED_TABLE = "dalperf_seed"
GENERATE_STEP = "generate"
INDEX_STEP = "indexes"
ANALYZE_STEP = "analyze"

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)``.  Steps, in order: :data:`GENERATE_STEP`, each
table's name (done/total in rows; reported from several threads, never two at a time),
:data:`INDEX_STEP` (building later migrations' indexes) and :data:`ANALYZE_STEP` (VACUUM and
ANALYZE).  Steps other than tables are reported as 0 of 1 at the start, 1 of 1 at the end."""

_SEED_TABLE_DDL = sql.SQL("""
CREATE TABLE IF NOT EXISTS {} (
    scale       double precision NOT NULL,
    seed        bigint           NOT NULL,
    seeded_at   timestamptz      NOT NULL DEFAULT now(),
    row_counts  jsonb            NOT NULL
)""").format(sql.Identifier(SEED_TABLE))
_PG_EPOCH = "2000-01-01T00:00:00"  # timestamptz's binary zero, in microseconds
_JSONB_VERSION = "\x01"


@dataclass(frozen=True, kw_only=True)
class SeedReport:
    """What :func:`seed_database` loaded and how long the whole job took."""

    scale: float
    seed: int
    row_counts: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else float("inf")


def _local_data_folder(conn: psycopg.Connection[Any]) -> Path | None:
    """The server's data folder when it is on this machine and we may see it (the embedded
    server, a local one as superuser), else ``None``: a remote disk cannot be checked."""
    try:
        with conn.transaction():
            folder = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
    except psycopg.Error:
        return None
    return folder if folder.is_dir() else None


def seed_database(
    target: Target,
    *,
    scale: float,
    seed: int = 0,
    reset: bool = False,
    progress: ProgressCallback | None = None,
) -> SeedReport:
    """Load the case-study data for ``(scale, seed)`` into ``target``, at the newest migration.

    Raises :class:`PopulatedDatabaseError` (changing nothing) when a case-study table holds
    rows and ``reset`` is false; with ``reset`` the old rows are replaced.
    """
    from dalperf.seed.generate import check_disk, check_parameters, generate  # numpy

    check_parameters(scale=scale, seed=seed)
    target.ensure_writable()
    started = time.perf_counter()
    notify = progress or _ignore
    try:
        with connect(target) as conn:
            populated = _populated_tables(conn)
            data_folder = (
                _local_data_folder(conn)
                if target.url.host in (None, "", "127.0.0.1", "localhost", "::1")
                else None
            )
        if data_folder is not None:
            check_disk(scale, data_folder)
        if populated and not reset:
            raise PopulatedDatabaseError(
                f"{target.display_url} already holds data ({', '.join(populated)}); "
                "pass --reset to replace it"
            )
        notify(GENERATE_STEP, 0, 1)
        dataset = generate(scale=scale, seed=seed)
        notify(GENERATE_STEP, 1, 1)
        migrate(target, to=LOAD_VERSION)
        _load(target, dataset, notify)
        notify(INDEX_STEP, 0, 1)
        migrate(target)
        notify(INDEX_STEP, 1, 1)
        notify(ANALYZE_STEP, 0, 1)
        _vacuum_analyze(target, dataset)
        notify(ANALYZE_STEP, 1, 1)
        _record(target, dataset)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise UsageError(f"cannot seed {target.display_url}: {exc.diag.message_primary}") from exc
    except psycopg.OperationalError as exc:
        reason = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise DatabaseUnreachable(f"lost {target.display_url} while seeding: {reason}") from exc
    return SeedReport(
        scale=scale,
        seed=seed,
        row_counts=dataset.row_counts(),
        seconds=time.perf_counter() - started,
    )


def current_seed(target: Target) -> tuple[float, int] | None:
    """``(scale, seed)`` of the data in ``target``; ``None`` when not (or no longer) seeded.

    The data counts as seeded only while every table still holds the recorded number of rows.
    """
    with connect(target) as conn:
        if not _exists(conn, SEED_TABLE):
            return None
        row = conn.execute(
            sql.SQL("SELECT scale, seed, row_counts FROM {}").format(sql.Identifier(SEED_TABLE))
        ).fetchone()
        if row is None:
            return None
        scale, seed, recorded = row
        if any(not _exists(conn, name) for name in recorded):
            return None
        actual = {name: _count(conn, name) for name in recorded}
    return (float(scale), int(seed)) if actual == recorded else None


def _load(target: Target, dataset: Dataset, progress: ProgressCallback) -> None:
    """Empty every table and forget the old seed record, then COPY ``dataset`` in parts."""
    with connect(target) as conn:
        superuser = conn.info.parameter_status("is_superuser") == "on"
        with conn.transaction():
            conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(_table_list()))
            conn.execute(_SEED_TABLE_DDL)
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SEED_TABLE)))
    parts: queue.SimpleQueue[tuple[Table, int, int]] = queue.SimpleQueue()
    totals = dataset.row_counts()
    for table in TABLES:  # dependency order, which a single connection keeps
        progress(table.name, 0, totals[table.name])
        for start in range(0, totals[table.name], PART_ROWS):
            parts.put((table, start, min(start + PART_ROWS, totals[table.name])))
    loaded = dict.fromkeys(totals, 0)
    lock = threading.Lock()
    stop = threading.Event()

    def copy_parts() -> None:
        with connect(target) as conn:
            if superuser:
                conn.execute("SET session_replication_role = replica")
            while not stop.is_set():
                try:
                    table, start, end = parts.get_nowait()
                except queue.Empty:
                    return
                columns = dataset.tables[table.name]
                _copy_part(
                    conn, table, {name: values[start:end] for name, values in columns.items()}
                )
                with lock:
                    loaded[table.name] += end - start
                    progress(table.name, loaded[table.name], totals[table.name])

    connections = COPY_CONNECTIONS if superuser else 1
    with ThreadPoolExecutor(connections) as pool:
        futures = [pool.submit(copy_parts) for _ in range(connections)]
        try:
            for future in futures:
                future.result()
        finally:
            stop.set()  # after a failure, the other connections stop at their next part
    with connect(target) as conn:
        for table in TABLES:
            if "id" in table.c and table.c.id.identity is not None:
                conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({name}, 'id'), coalesce(max(id), 0) + 1, "
                        "false) FROM {table}"
                    ).format(name=sql.Literal(table.name), table=sql.Identifier(table.name))
                )


def _copy_part(conn: psycopg.Connection, table: Table, columns: dict[str, np.ndarray]) -> None:
    """COPY some rows of ``table`` (committed on their own: the connection autocommits)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
    )
    values = [_python_values(columns[column.name], column.type) for column in table.columns]
    cursor = conn.cursor()
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.set_types([_copy_type(column.type) for column in table.columns])
        for row in zip(*values, strict=True):
            copy.write_row(row)


def _vacuum_analyze(target: Target, dataset: Dataset) -> None:
    """``VACUUM (ANALYZE)`` every table, biggest first, on :data:`COPY_CONNECTIONS` connections."""
    counts = dataset.row_counts()
    biggest_first = sorted(TABLES, key=lambda table: counts[table.name], reverse=True)

    def vacuum(table: Table) -> None:
        with connect(target) as conn:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table.name)))

    with ThreadPoolExecutor(COPY_CONNECTIONS) as pool:
        list(pool.map(vacuum, biggest_first))


def _record(target: Target, dataset: Dataset) -> None:
    with connect(target) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} (scale, seed, row_counts) VALUES (%s, %s, %s)").format(
                sql.Identifier(SEED_TABLE)
            ),
            (dataset.scale, dataset.seed, Jsonb(dataset.row_counts())),
        )


def _table_list() -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(table.name) for table in TABLES)


def _copy_type(column_type: object) -> str:
    """The type whose binary form psycopg writes for a column (see :func:`_python_values`)."""
    if isinstance(column_type, TIMESTAMP):
        return "int8"
    if isinstance(column_type, JSONB):
        return "text"
    if isinstance(column_type, BigInteger):
        return "int8"
    if isinstance(column_type, Integer):
        return "int4"
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, Text):
        return "text"
    raise TypeError(f"no COPY type for {column_type!r}")


def _python_values(values: np.ndarray, column_type: object) -> list[object]:
    """Column values as Python objects for ``write_row``; masked or ``None`` entries are NULL.

    Binary COPY sends each value in the column type's binary form, so two types are written
    through a cheaper stand-in with the same bytes: timestamptz as an int8 of microseconds
    since 2000-01-01 UTC, and jsonb as text made of a version character (1) and the JSON.
    """
    if isinstance(column_type, TIMESTAMP):
        import numpy as np

        return (values - np.datetime64(_PG_EPOCH, "us")).astype(np.int64).tolist()
    if isinstance(column_type, JSONB):
        texts = values.tolist()
        encoded = {text: None if text is None else _JSONB_VERSION + text for text in set(texts)}
        return [encoded[text] for text in texts]
    return values.tolist()


def _populated_tables(conn: psycopg.Connection) -> list[str]:
    """Names of the case-study tables that exist and hold at least one row."""
    return [
        table.name
        for table in TABLES
        if _exists(conn, table.name)
        and conn.execute(
            sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table.name))
        ).fetchone()[0]  # type: ignore[index]
    ]


def _exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def _count(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()
    return int(row[0]) if row else 0


def _ignore(_step: str, _done: int, _total: int) -> None:
    """The progress callback used when the caller gives none."""
