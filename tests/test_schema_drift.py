"""``seed/schema.py`` must describe exactly what migrations 0001-0005 build.

A real database is migrated to 0005 and compared with :data:`dalperf.seed.schema.metadata` by
alembic's autogenerate comparison (tables, columns, types, nullability, foreign keys,
unique constraints, indexes, server defaults), plus primary keys, which alembic does not
compare.  CHECK constraints are compared by neither.  Migration 0006's indexes are
deliberately absent from the metadata, hence the comparison stops at 0005.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    PrimaryKeyConstraint,
    Text,
    create_engine,
    inspect,
)

from dalperf.db.migrations import migrate
from dalperf.db.targets import Target, provide
from dalperf.db.urls import parse_with_driver
from dalperf.seed.schema import metadata

LEDGER = "schema_migrations"
PrimaryKeyDrift = tuple[str, str, list[str], list[str]]  # (kind, table, live, declared)


@pytest.fixture
def schema_0005(fresh_db: str) -> Iterator[Target]:
    with provide(database_url=parse_with_driver(fresh_db)) as target:
        migrate(target, to="0005")
        yield target


def _not_ledger(name: str | None, type_: str, _parent_names: Mapping[str, str | None]) -> bool:
    return not (type_ == "table" and name == LEDGER)


def _primary_key_drift(conn: Connection, expected: MetaData) -> list[PrimaryKeyDrift]:
    inspector = inspect(conn)
    found: list[PrimaryKeyDrift] = []
    for table in expected.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # alembic reports the missing table
        live = inspector.get_pk_constraint(table.name)["constrained_columns"]
        declared = [column.name for column in table.primary_key.columns]
        if live != declared:
            found.append(("modify_primary_key", table.name, live, declared))
    return found


def drift(target: Target, expected: MetaData) -> list[Any]:
    """The differences between the live database and ``expected``; empty when they agree."""
    engine = create_engine(target.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": _not_ledger,
                },
            )
            return [*compare_metadata(context, expected), *_primary_key_drift(conn, expected)]
    finally:
        engine.dispose()


def test_seed_schema_matches_migrations(schema_0005: Target) -> None:
    assert drift(schema_0005, metadata) == []


def test_drift_check_detects_a_difference(schema_0005: Target) -> None:
    changed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["projects"].append_column(Column("color", Text))
    changed.tables["users"].c.avatar_url.nullable = False
    credits = changed.tables["user_credits"]
    credits.c.updated_at.primary_key = True
    credits.append_constraint(PrimaryKeyConstraint("user_id", "updated_at"))

    diffs = drift(schema_0005, changed)

    assert ("add_column", None, "projects", changed.tables["projects"].c.color) in diffs
    assert any(
        d[0][0] == "modify_nullable" and d[0][2:4] == ("users", "avatar_url")
        for d in diffs
        if isinstance(d, list)
    )
    assert ("modify_primary_key", "user_credits", ["user_id"], ["user_id", "updated_at"]) in diffs
