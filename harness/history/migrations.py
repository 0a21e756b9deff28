"""The history store's own versioned migrations: create a store, upgrade an older one,
refuse a newer one.

Each migration is a function of a connection, numbered from 1 in :data:`MIGRATIONS`; the
``schema_version`` table records every one applied and the dalperf version that applied it.
:func:`upgrade` runs the missing ones in one transaction (on PostgreSQL under an advisory
lock, so that two CI jobs opening a new store at once do not both create it) and refuses a
store whose newest version is one this dalperf does not know: it was written by a newer
dalperf, whose records this one could misread.  Migration 1 creates the tables as
:mod:`dalperf.history.tables` declares them; a later change to the tables comes with a
migration of its own that alters them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, inspect, select, text

from dalperf.errors import UsageError
from dalperf.history import tables
from dalperf.version import installed_version

# pg_advisory_xact_lock key: "dalperf-history" folded into a bigint
ADVISORY_LOCK = 0x64616C7065726668


def _create_tables(conn: Connection) -> None:
    tables.metadata.create_all(
        conn, tables=[t for t in tables.TABLES if t is not tables.schema_version]
    )


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_tables}
LATEST = max(MIGRATIONS)


def current(conn: Connection) -> int | None:
    """The store's version, None when it has no ``schema_version`` table (yet)."""
    if not inspect(conn).has_table(tables.schema_version.name):
        return None
    return conn.execute(select(func.max(tables.schema_version.c.version))).scalar() or 0


def upgrade(conn: Connection, *, where: str) -> int:
    """Bring the store behind ``conn`` (named ``where`` in messages) to :data:`LATEST`;
    the version it was at. The caller commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    names = set(inspect(conn).get_table_names())
    if tables.schema_version.name not in names:
        strangers = sorted(names & {t.name for t in tables.TABLES})
        if strangers:
            raise UsageError(
                f"{where} is not a dalperf history store: it has table(s) "
                f"{', '.join(strangers)} but no schema_version"
            )
        tables.schema_version.create(conn)
        current = 0
    else:
        current = conn.execute(select(func.max(tables.schema_version.c.version))).scalar() or 0
    if current > LATEST:
        writer = conn.execute(
            select(tables.schema_version.c.dalperf).where(
                tables.schema_version.c.version == current
            )
        ).scalar()
        raise UsageError(
            f"history store {where} is at schema version {current} (written by "
            f"dalperf {writer}); this dalperf ({installed_version()}) reads "
            f"versions up to {LATEST}: upgrade dalperf"
        )
    for version in range(current + 1, LATEST + 1):
        MIGRATIONS[version](conn)
        conn.execute(
            tables.schema_version.insert().values(
                version=version, dalperf=installed_version(), applied_at=datetime.now(UTC)
            )
        )
    return current
