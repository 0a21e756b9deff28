"""Engines on the corpus database, and its seed data (set up once, reset after writes).

The database comes from ``CORPUS_DATABASE_URL`` (a libpq URL), which the runner sets.
``engine`` is the app's module-level sync engine (psycopg 3), ``psycopg2_engine`` the same
through psycopg2; async scenarios open their own engine inside their event loop with
:func:`async_engine` (asyncpg or psycopg's async driver), since an asyncpg connection
belongs to the loop that opened it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import MetaData, Table, create_engine, insert, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

from corpus_app import models as m

DATABASE_URL = os.environ["CORPUS_DATABASE_URL"]
POSTS, AUTHORS, COMMENTS_PER_POST, EVENTS = 20, 5, 3, 2000
TAGS = ("python", "sql", "web", "async", "orm", "ops")

_seeders: list[Callable[[Session], None]] = []
_metadatas: list[MetaData] = [m.Base.metadata]


def url(driver: str) -> str:
    """The corpus database's SQLAlchemy URL for ``driver`` (psycopg, psycopg2, asyncpg,
    psycopg_async)."""
    return (
        make_url(DATABASE_URL)
        .set(drivername=f"postgresql+{driver}")
        .render_as_string(hide_password=False)
    )


engine: Engine = create_engine(url("psycopg"))
psycopg2_engine: Engine = create_engine(url("psycopg2"))


def async_engine(driver: str = "asyncpg") -> AsyncEngine:
    """A new AsyncEngine (``asyncpg`` or ``psycopg_async``); the caller disposes of it."""
    return create_async_engine(url(driver))


def seeder(fn: Callable[[Session], None]) -> Callable[[Session], None]:
    """Register a scenario's seed function for its own tables (run after the shared seed)."""
    _seeders.append(fn)
    return fn


def register_metadata(metadata: MetaData) -> None:
    """Tables of another declarative base (SQLModel, Flask-SQLAlchemy) to create and reset."""
    if metadata not in _metadatas:
        _metadatas.append(metadata)


def create_schema() -> None:
    """Every table of every registered metadata, created anew, then the seed data, a snapshot
    of it (``corpus_snapshot.<table>``) and a trigger on each table that notes it changed."""
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS corpus_snapshot CASCADE"))
    for metadata in reversed(_metadatas):
        metadata.drop_all(engine)
    for metadata in _metadatas:
        metadata.create_all(engine)
    seed()
    with engine.begin() as connection:
        connection.execute(text(_DIRTY_FUNCTION))
        for table in _tables():
            connection.execute(
                text(f'CREATE TABLE corpus_snapshot."{table.name}" AS SELECT * FROM "{table.name}"')
            )
            connection.execute(
                text(
                    f'CREATE TRIGGER corpus_dirty AFTER INSERT OR UPDATE OR DELETE ON "{table.name}" '
                    "FOR EACH STATEMENT EXECUTE FUNCTION corpus_snapshot.mark_dirty()"
                )
            )


_DIRTY_FUNCTION = """
CREATE SCHEMA corpus_snapshot;
CREATE UNLOGGED TABLE corpus_snapshot.dirty (name text PRIMARY KEY);
CREATE FUNCTION corpus_snapshot.mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO corpus_snapshot.dirty VALUES (TG_TABLE_NAME) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
"""


def _tables() -> list[Table]:
    return [table for metadata in _metadatas for table in metadata.sorted_tables]


def reset() -> list[str]:
    """The tables a scenario changed (and the tables that reference them) put back to the
    seed data from the snapshot, in one transaction; their names (none: nothing changed)."""
    tables = _tables()
    with engine.begin() as connection:
        dirty = set(connection.scalars(text("DELETE FROM corpus_snapshot.dirty RETURNING name")))
        grown = True
        while grown:  # every table with a foreign key into a table being reset is reset too
            more = {
                t.name
                for t in tables
                if t.name not in dirty
                and any(fk.column.table.name in dirty for fk in t.foreign_keys)
            }
            dirty |= more
            grown = bool(more)
        chosen = [t for t in tables if t.name in dirty]
        for table in reversed(chosen):
            connection.execute(table.delete())
        for table in chosen:
            connection.execute(
                text(f'INSERT INTO "{table.name}" SELECT * FROM corpus_snapshot."{table.name}"')
            )
        _restart_sequences(connection, chosen)
        connection.execute(text("DELETE FROM corpus_snapshot.dirty"))
    return [t.name for t in chosen]


def _restart_sequences(connection: Connection, tables: list[Table]) -> None:
    """Each serial ``id`` continues after the highest id present."""
    for table in tables:
        if "id" in table.c and table.c.id.primary_key and table.c.id.autoincrement:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f'coalesce((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'
                )
            )


def seed() -> None:
    """The shared rows (deterministic), then every registered scenario seeder."""
    with Session(engine) as session:
        session.execute(
            insert(m.Author),
            [
                {"id": i, "name": f"author{i}", "email": f"a{i}@example.org", "bio": f"bio {i}"}
                for i in range(1, AUTHORS + 1)
            ],
        )
        session.execute(
            insert(m.Post),
            [
                {
                    "id": i,
                    "title": f"post{i}",
                    "body": f"body {i}",
                    "views": i,
                    "author_id": (i - 1) % AUTHORS + 1,
                }
                for i in range(1, POSTS + 1)
            ],
        )
        session.execute(
            insert(m.Comment),
            [
                {"id": (p - 1) * COMMENTS_PER_POST + c, "post_id": p, "text": f"c{p}.{c}"}
                for p in range(1, POSTS + 1)
                for c in range(1, COMMENTS_PER_POST + 1)
            ],
        )
        session.execute(insert(m.Tag), [{"id": i, "name": n} for i, n in enumerate(TAGS, 1)])
        session.execute(
            insert(m.post_tags),
            [
                {"post_id": p, "tag_id": t}
                for p in range(1, POSTS + 1)
                for t in {(p - 1) % len(TAGS) + 1, p % len(TAGS) + 1}
            ],
        )
        categories = [{"id": 1, "name": "root", "parent_id": None}]
        for level_parent_start, count in ((1, 3), (2, 9), (5, 27)):
            first = len(categories) + 1
            for offset in range(count):
                categories.append(
                    {
                        "id": first + offset,
                        "name": f"cat{first + offset}",
                        "parent_id": level_parent_start + offset // 3,
                    }
                )
        session.execute(insert(m.Category), categories)
        session.execute(insert(m.Department), [{"id": i, "name": f"dept{i}"} for i in range(1, 4)])
        session.execute(
            insert(m.Manager),
            [
                {"id": i, "name": f"manager{i}", "department_id": i, "budget": 1000 * i}
                for i in range(1, 4)
            ],
        )
        session.execute(
            insert(m.Engineer),
            [
                {
                    "id": i,
                    "name": f"engineer{i}",
                    "department_id": (i - 4) % 3 + 1,
                    "language": ("python", "sql", "go")[i % 3],
                }
                for i in range(4, 13)
            ],
        )
        session.execute(
            insert(m.User),
            [{"id": i, "name": f"user{i}", "token": f"token{i}"} for i in range(1, 11)],
        )
        session.execute(
            insert(m.Profile),
            [{"id": i, "user_id": i, "city": f"city{i % 4}"} for i in range(1, 11)],
        )
        session.execute(insert(m.Board), [{"id": i, "name": f"board{i}"} for i in range(1, 5)])
        session.execute(
            insert(m.Card),
            [
                {"id": (b - 1) * 3 + c, "board_id": b, "title": f"card{b}.{c}"}
                for b in range(1, 5)
                for c in range(1, 4)
            ],
        )
        session.execute(
            insert(m.Customer), [{"id": i, "name": f"customer{i}"} for i in range(1, 6)]
        )
        session.execute(
            insert(m.Order),
            [
                {"id": i, "customer_id": (i - 1) % 5 + 1, "status": "new", "total": 10 * i}
                for i in range(1, 11)
            ],
        )
        session.execute(
            insert(m.OrderItem),
            [
                {"id": (o - 1) * 3 + k, "order_id": o, "sku": f"sku{k}", "quantity": k}
                for o in range(1, 11)
                for k in range(1, 4)
            ],
        )
        session.execute(insert(m.Job), [{"id": 1, "state": "queued"}])
        session.execute(
            text(
                "INSERT INTO events (id, kind, amount) SELECT g, (ARRAY['view','click','buy'])"
                "[1 + g % 3], g % 97 FROM generate_series(1, :n) AS g"
            ),
            {"n": EVENTS},
        )
        session.execute(insert(m.Counter), [{"key": f"k{i}", "hits": 0} for i in range(1, 6)])
        for fn in _seeders:
            fn(session)
        session.commit()
    with engine.begin() as connection:
        _restart_sequences(connection, _tables())
