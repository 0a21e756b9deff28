"""Ground truth: what a capture records against what the server itself counted.

pg_stat_statements counts every statement the server completed, per normalised text,
utility statements (BEGIN, COMMIT, SAVEPOINT ...) included.  Its ``calls`` deltas over a
capture must equal the capture's own counts: per fingerprint for the operation's queries,
per kind for transaction control, and in total once the engine's first connection
(SQLAlchemy's dialect initialisation) is part of the capture.  The server does not count a
statement that failed, and runs an ``executemany`` once per parameter set.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from dalperf.capture.fingerprint import fingerprint
from dalperf.capture.records import HiddenKind
from dalperf.capture.session import Capture
from dalperf.db.urls import parse, sqlalchemy_url

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
)
BY_ID = select(items.c.name).where(items.c.id == bindparam("id"))

# the first words of pg_stat_statements' text for transaction control (names become $1)
_CONTROL = [
    (re.compile(r"^\s*(BEGIN|START)\b", re.IGNORECASE), HiddenKind.BEGIN),
    (re.compile(r"^\s*COMMIT\b", re.IGNORECASE), HiddenKind.COMMIT),
    (re.compile(r"^\s*ROLLBACK\s+TO\b", re.IGNORECASE), HiddenKind.ROLLBACK_TO_SAVEPOINT),
    (re.compile(r"^\s*ROLLBACK\b", re.IGNORECASE), HiddenKind.ROLLBACK),
    (re.compile(r"^\s*SAVEPOINT\b", re.IGNORECASE), HiddenKind.SAVEPOINT),
    (re.compile(r"^\s*RELEASE\b", re.IGNORECASE), HiddenKind.RELEASE_SAVEPOINT),
    (re.compile(r"^\s*DEALLOCATE\b", re.IGNORECASE), HiddenKind.DEALLOCATE),
]
_SERVER_KIND = {HiddenKind.RESET: HiddenKind.ROLLBACK}  # the pool's reset is a ROLLBACK


@pytest.fixture
def tracked_db(fresh_db: str) -> str:
    """A test database with pg_stat_statements and ``items`` (ids 1..20); its libpq URL."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g")
    return fresh_db


@pytest.fixture
def engine(tracked_db: str) -> Iterator[Engine]:
    eng = create_engine(sqlalchemy_url(parse(tracked_db)))
    with eng.connect():
        pass  # the dialect initialisation, before any snapshot
    yield eng
    eng.dispose()


def server_calls(url: str) -> Counter[str]:
    """pg_stat_statements' calls per statement text in this database, this query left out."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, sum(calls)::bigint FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%pg_stat_statements%' GROUP BY query"
        ).fetchall()
    return Counter(dict(rows))


def split_by_shape(calls: Counter[str]) -> tuple[Counter[str], Counter[HiddenKind]]:
    """Server calls per fingerprint (queries) and per kind (transaction control)."""
    queries: Counter[str] = Counter()
    control: Counter[HiddenKind] = Counter()
    for query, count in calls.items():
        kind = next((k for pattern, k in _CONTROL if pattern.match(query)), None)
        if kind is None:
            queries[fingerprint(query)] += count
        else:
            control[kind] += count
    return +queries, +control


def captured_calls(cap: Capture) -> tuple[Counter[str], Counter[HiddenKind]]:
    """What the server should have counted, according to the capture."""
    queries: Counter[str] = Counter()
    for s in cap.statements:
        if s.error is None:
            queries[s.fingerprint] += len(s.parameters) if s.executemany else 1
    control: Counter[HiddenKind] = Counter()
    for h in cap.hidden:
        # the server counts no call for these: protocol-level work, or no statement at all
        if h.kind not in (
            HiddenKind.CONNECT,
            HiddenKind.INITIALIZE,
            HiddenKind.PING,
            HiddenKind.PREPARE,
        ):
            control[_SERVER_KIND.get(h.kind, h.kind)] += 1
    return queries, control


def test_counts_match_pg_stat_statements(tracked_db: str, engine: Engine) -> None:
    rename = update(items).where(items.c.id == bindparam("key")).values(name=bindparam("new"))
    before = server_calls(tracked_db)
    with Capture(engine) as cap:
        with engine.begin() as conn:
            for item_id in (1, 2, 3):
                conn.execute(BY_ID, {"id": item_id}).one()
            for names in (["item 1", "item 2"], ["item 3", "item 4", "item 5"]):
                conn.execute(select(items.c.id).where(items.c.name.in_(names))).all()
            conn.execute(items.insert(), [{"id": 100 + i, "name": f"new {i}"} for i in range(3)])
            conn.execute(rename, [{"key": i, "new": f"renamed {i}"} for i in (4, 5, 6, 7)])
            with conn.begin_nested():
                conn.execute(BY_ID, {"id": 8}).one()
            nested = conn.begin_nested()
            conn.execute(text("DELETE FROM items WHERE id = :id"), {"id": 9})
            nested.rollback()
            conn.execution_options(no_parameters=True).exec_driver_sql("SELECT count(*) FROM items")
        with engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text("SELECT 1 / (id - id) FROM items WHERE id = :id"), {"id": 1})
    delta = server_calls(tracked_db) - before

    server_queries, server_control = split_by_shape(delta)
    queries, control = captured_calls(cap)
    assert server_queries == queries
    assert server_control == control
    # 11 statements; the two batches ran 3 and 4 times on the server, the failed one not at all
    assert cap.queries == 11 and sum(queries.values()) == 15
    # ROLLBACK TO SAVEPOINT made psycopg drop the statements it had prepared for the batches
    assert control == {
        HiddenKind.BEGIN: 2,
        HiddenKind.SAVEPOINT: 2,
        HiddenKind.RELEASE_SAVEPOINT: 1,
        HiddenKind.ROLLBACK_TO_SAVEPOINT: 1,
        HiddenKind.DEALLOCATE: 1,
        HiddenKind.COMMIT: 1,
        HiddenKind.ROLLBACK: 1,
    }
    prepares = [h.round_trips for h in cap.hidden if h.kind is HiddenKind.PREPARE]
    assert prepares == [0, 0]  # pipelined with their batches


def test_first_connection_total_matches_pg_stat_statements(tracked_db: str) -> None:
    cold = create_engine(sqlalchemy_url(parse(tracked_db)))
    try:
        before = server_calls(tracked_db)
        with Capture(cold) as cap, cold.connect() as conn:
            conn.execute(BY_ID, {"id": 1}).one()
        delta = server_calls(tracked_db) - before
    finally:
        cold.dispose()
    [initialize] = [h for h in cap.hidden if h.kind is HiddenKind.INITIALIZE]
    queries, control = captured_calls(cap)
    assert sum(delta.values()) == (
        initialize.round_trips + sum(queries.values()) + sum(control.values())
    )
    assert cap.queries == 1


def test_async_counts_match_pg_stat_statements(tracked_db: str) -> None:
    async def operation() -> tuple[Capture, Counter[str]]:
        eng = create_async_engine(sqlalchemy_url(parse(tracked_db)))
        try:
            async with eng.connect():
                pass

            async def fetch(item_id: int) -> None:
                async with eng.begin() as conn:
                    await conn.execute(BY_ID, {"id": item_id})

            before = await asyncio.to_thread(server_calls, tracked_db)
            with Capture(eng) as cap:
                await asyncio.gather(*(fetch(i) for i in range(1, 6)))
            return cap, await asyncio.to_thread(server_calls, tracked_db) - before
        finally:
            await eng.dispose()

    cap, delta = asyncio.run(operation())
    server_queries, server_control = split_by_shape(delta)
    queries, control = captured_calls(cap)
    assert server_queries == queries and sum(queries.values()) == 5
    assert server_control == control == {HiddenKind.BEGIN: 5, HiddenKind.COMMIT: 5}
