"""The capture layer against a real PostgreSQL: attribution, depth, N+1, hidden round trips."""

from __future__ import annotations

import asyncio
import json
import linecache
import threading
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dalperf.capture import instrument, sinks
from dalperf.capture.recorder import Hook
from dalperf.capture.records import HiddenKind
from dalperf.capture.session import Capture, bind_context, captured, suspended
from dalperf.db.urls import parse, sqlalchemy_url
from dalperf.errors import UsageError

T = TypeVar("T")

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
)
BY_ID = select(items.c.name).where(items.c.id == bindparam("id"))
BY_ID_SQL = "SELECT items.name FROM items WHERE items.id = $1::INTEGER"
SLEEP = text("SELECT pg_sleep(0.05), :tag")
ITEMS = 20


@pytest.fixture
def db_url(fresh_db: str) -> str:
    """A test database holding ``items`` (ids 1..20); its SQLAlchemy URL."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute(f"INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {ITEMS}) g")
    return sqlalchemy_url(parse(fresh_db))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine whose first connection (SQLAlchemy's dialect set-up) happened already."""
    eng = create_engine(db_url)
    with eng.connect():
        pass
    yield eng
    eng.dispose()


def run_async(db_url: str, body: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``body`` with a warmed-up AsyncEngine in a fresh event loop; dispose of it after."""

    async def main() -> T:
        eng = create_async_engine(db_url)
        try:
            async with eng.connect():
                pass
            return await body(eng)
        finally:
            await eng.dispose()

    return asyncio.run(main())


def fetch_name(eng: Engine, item_id: int) -> str:
    with eng.connect() as conn:
        return conn.execute(BY_ID, {"id": item_id}).scalar_one()


def ids_of(cap: Capture) -> list[int]:
    return sorted(s.parameters["id"] for s in cap.statements)


def hidden_kinds(cap: Capture) -> Counter[HiddenKind]:
    return Counter(h.kind for h in cap.hidden)


# what is recorded


def test_records_statements_with_their_facts(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn:
        assert conn.execute(BY_ID, {"id": 3}).scalar_one() == "item 3"
        rows = conn.execute(select(items.c.id).where(items.c.id <= 5)).all()
        conn.execute(update(items).where(items.c.id <= 2).values(name="x"))
        returned = conn.execute(
            update(items).where(items.c.id <= 4).values(name="y").returning(items.c.id)
        ).all()
    assert len(rows) == 5 and len(returned) == 4
    first, second, third, fourth = cap.statements
    assert first.sql == "SELECT items.name \nFROM items \nWHERE items.id = %(id)s::INTEGER"
    assert first.parameters == {"id": 3}
    assert (first.rows, second.rows, third.rows, fourth.rows) == (1, 5, 0, 4)
    assert not any(s.executemany or s.error for s in cap.statements)
    assert len({s.connection for s in cap.statements}) == 1
    assert all(s.start_ns < s.end_ns for s in cap.statements)
    assert first.end_ns <= second.start_ns
    assert cap.queries == 4 and cap.rows_fetched == 10
    assert cap.db_ms == pytest.approx(sum(s.duration_ms for s in cap.statements))


def test_failed_statement_is_recorded_with_its_error(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text("SELECT 1 / (id - id) FROM items WHERE id = :id"), {"id": 1})
    [failed] = cap.statements
    assert failed.error is not None and failed.error.startswith("DivisionByZero: division by zero")
    assert failed.rows == 0
    assert cap.summary()["errors"] == 1
    # the aborted transaction is still rolled back on the wire when the connection closes
    assert hidden_kinds(cap) == {HiddenKind.BEGIN: 1, HiddenKind.ROLLBACK: 1}


def test_executemany_is_one_query_and_its_begin_is_pipelined(engine: Engine) -> None:
    rename = update(items).where(items.c.id == bindparam("key")).values(name=bindparam("new"))
    with Capture(engine) as cap, engine.begin() as conn:
        conn.execute(
            rename, [{"key": 1, "new": "a"}, {"key": 2, "new": "b"}, {"key": 3, "new": "c"}]
        )
    [batch] = cap.statements
    assert batch.executemany and len(batch.parameters) == 3
    [begin] = [h for h in cap.hidden if h.kind is HiddenKind.BEGIN]
    assert begin.round_trips == 0
    assert cap.network_round_trips == 2  # the pipelined batch, then COMMIT


# depth


def test_depth_of_sequential_and_gathered_statements(db_url: str) -> None:
    async def body(eng: AsyncEngine) -> tuple[Capture, Capture]:
        async def one(tag: int) -> None:
            async with eng.connect() as conn:
                await conn.execute(SLEEP, {"tag": tag})

        await asyncio.gather(*(one(i) for i in range(4)))  # four pooled connections
        with Capture(eng) as sequential:
            async with eng.connect() as conn:
                for i in range(4):
                    await conn.execute(SLEEP, {"tag": i})
        with Capture(eng) as gathered:
            await asyncio.gather(*(one(i) for i in range(4)))
        return sequential, gathered

    sequential, gathered = run_async(db_url, body)
    assert sequential.queries == gathered.queries == 4
    assert sequential.round_trips == 4
    assert gathered.round_trips == 1
    assert len({s.connection for s in gathered.statements}) == 4
    # BEGIN, 4 statements, ROLLBACK when the connection is returned
    assert sequential.network_round_trips == 6
    assert 3 <= gathered.network_round_trips < sequential.network_round_trips


# attribution across fan-out, and isolation between operations


def test_gather_attributes_every_task_to_the_operation(db_url: str) -> None:
    async def body(eng: AsyncEngine) -> Capture:
        async def fetch(item_id: int) -> None:
            async with eng.connect() as conn:
                await conn.execute(BY_ID, {"id": item_id})

        with Capture(eng) as cap:
            await asyncio.gather(*(fetch(i) for i in (1, 2, 3)))
        await fetch(4)  # after the capture
        return cap

    assert ids_of(run_async(db_url, body)) == [1, 2, 3]


def test_to_thread_attributes_the_worker_threads_to_the_operation(engine: Engine) -> None:
    async def operation() -> Capture:
        with Capture(engine) as cap:
            await asyncio.gather(*(asyncio.to_thread(fetch_name, engine, i) for i in (1, 2, 3)))
        return cap

    assert ids_of(asyncio.run(operation())) == [1, 2, 3]


def test_thread_pool_needs_the_context_passed_along(engine: Engine) -> None:
    with Capture(engine) as cap, ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(bind_context(fetch_name), [engine] * 3, [1, 2, 3])) == [
            "item 1",
            "item 2",
            "item 3",
        ]
        pool.submit(fetch_name, engine, 4).result()  # context not passed: not attributed
    assert ids_of(cap) == [1, 2, 3]


def test_concurrent_tasks_do_not_see_each_others_statements(db_url: str) -> None:
    async def body(eng: AsyncEngine) -> tuple[Capture, Capture]:
        started = asyncio.Barrier(2)

        async def operation(first_id: int) -> Capture:
            async with eng.connect() as conn:
                with Capture(eng) as cap:
                    await started.wait()
                    for item_id in range(first_id, first_id + 3):
                        await conn.execute(
                            text("SELECT pg_sleep(0.01), name FROM items WHERE id = :id"),
                            {"id": item_id},
                        )
                return cap

        return tuple(await asyncio.gather(operation(1), operation(11)))  # type: ignore[return-value]

    first, second = run_async(db_url, body)
    assert ids_of(first) == [1, 2, 3]
    assert ids_of(second) == [11, 12, 13]
    assert first.statements[0].start_ns < second.statements[-1].end_ns  # they did overlap
    assert second.statements[0].start_ns < first.statements[-1].end_ns


def test_concurrent_threads_do_not_see_each_others_statements(engine: Engine) -> None:
    started = threading.Barrier(2)
    results: dict[int, Capture] = {}

    def operation(first_id: int) -> None:
        with Capture(engine) as cap:
            started.wait()
            for item_id in range(first_id, first_id + 3):
                fetch_name(engine, item_id)
        results[first_id] = cap

    threads = [threading.Thread(target=operation, args=(n,)) for n in (1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids_of(results[1]) == [1, 2, 3]
    assert ids_of(results[11]) == [11, 12, 13]


def test_nested_captures_on_one_engine_both_see_the_inner_statements(engine: Engine) -> None:
    with Capture(engine) as outer, engine.connect() as conn:
        conn.execute(BY_ID, {"id": 1})
        with Capture(engine) as inner:
            conn.execute(BY_ID, {"id": 2})
        conn.execute(BY_ID, {"id": 3})
    assert ids_of(outer) == [1, 2, 3]
    assert ids_of(inner) == [2]


def test_nested_capture_on_another_engine_sees_only_its_engine(engine: Engine, db_url: str) -> None:
    other = create_engine(db_url)
    try:
        with Capture(engine) as outer, Capture(other) as inner:
            fetch_name(engine, 1)
            fetch_name(other, 2)
        assert ids_of(outer) == [1]
        assert ids_of(inner) == [2]
    finally:
        other.dispose()


def test_suspended_statements_are_not_counted(engine: Engine) -> None:
    with engine.connect() as conn, Capture(engine) as cap:
        with suspended():  # a runner's isolation: outer transaction and savepoint
            outer = conn.begin()
            savepoint = conn.begin_nested()
        conn.execute(BY_ID, {"id": 1}).one()
        with suspended():
            savepoint.rollback()
            outer.rollback()
    assert ids_of(cap) == [1]
    assert cap.hidden == ()
    assert cap.network_round_trips == 1


def test_capture_started_inside_an_open_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(BY_ID, {"id": 1})
        with Capture(engine) as cap:
            conn.execute(BY_ID, {"id": 2})
    assert ids_of(cap) == [2]
    assert cap.hidden == ()  # the BEGIN went out before the capture, the ROLLBACK after it


def test_engine_with_execution_options_is_captured(engine: Engine) -> None:
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with Capture(autocommit) as cap:
        fetch_name(autocommit, 5)
    assert ids_of(cap) == [5]
    assert cap.hidden == ()  # autocommit: no BEGIN, nothing to roll back


# N+1


def test_n_plus_one_is_reported_with_its_call_site(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn:
        ids = conn.execute(select(items.c.id).where(items.c.id <= 5)).scalars().all()
        for item_id in ids:
            conn.execute(BY_ID, {"id": item_id}).one()  # the N+1 line
    [group] = cap.n_plus_one()
    assert group.count == 5 and group.sql == BY_ID_SQL
    assert group.fingerprint == cap.statements[1].fingerprint
    assert_points_at(group.call_site, "# the N+1 line")
    assert cap.summary()["n_plus_one"] == [
        {
            "fingerprint": group.fingerprint,
            "sql": BY_ID_SQL,
            "count": 5,
            "call_site": group.call_site,
        }
    ]


def test_async_n_plus_one_call_site_is_the_application_coroutine(db_url: str) -> None:
    async def body(eng: AsyncEngine) -> Capture:
        with Capture(eng) as cap:
            async with eng.connect() as conn:
                for item_id in (1, 2, 3):
                    await conn.execute(BY_ID, {"id": item_id})  # the async N+1 line
        return cap

    [group] = run_async(db_url, body).n_plus_one()
    assert group.count == 3
    assert_points_at(group.call_site, "# the async N+1 line")


def test_repeating_the_same_parameters_is_not_an_n_plus_one(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn:
        for _ in range(3):
            conn.execute(BY_ID, {"id": 1})
    assert cap.queries == 3
    assert cap.n_plus_one() == []
    assert [(t.sql, t.count) for t in cap.fingerprints()] == [(BY_ID_SQL, 3)]


def assert_points_at(call_site: str | None, marker: str) -> None:
    assert call_site is not None
    location = call_site.split(" in ", 1)[0]
    path, line = location.rsplit(":", 1)
    assert path == __file__
    assert marker in linecache.getline(path, int(line))


# hidden round trips


def test_transaction_control_is_hidden_and_counted(engine: Engine) -> None:
    with Capture(engine) as cap, engine.begin() as conn:
        conn.execute(BY_ID, {"id": 1}).one()
        with conn.begin_nested():
            conn.execute(BY_ID, {"id": 2}).one()
        nested = conn.begin_nested()
        conn.execute(BY_ID, {"id": 3}).one()
        nested.rollback()
    assert cap.queries == 3 and cap.round_trips == 3
    assert hidden_kinds(cap) == {
        HiddenKind.BEGIN: 1,
        HiddenKind.SAVEPOINT: 2,
        HiddenKind.RELEASE_SAVEPOINT: 1,
        HiddenKind.ROLLBACK_TO_SAVEPOINT: 1,
        HiddenKind.COMMIT: 1,
    }
    assert cap.network_round_trips == 9
    assert cap.summary()["hidden_round_trips"] == [
        {"kind": "begin", "count": 1, "round_trips": 1},
        {"kind": "commit", "count": 1, "round_trips": 1},
        {"kind": "release_savepoint", "count": 1, "round_trips": 1},
        {"kind": "rollback_to_savepoint", "count": 1, "round_trips": 1},
        {"kind": "savepoint", "count": 2, "round_trips": 1 * 2},
    ]


def test_psycopg_prepared_statements_cost_round_trips(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn:
        for item_id in range(1, 7):  # psycopg prepares a query run 5 times, on its 6th run
            conn.execute(BY_ID, {"id": item_id})
        conn.rollback()  # ... and deallocates everything after a rollback
    assert [(h.kind, h.round_trips) for h in cap.hidden] == [
        (HiddenKind.BEGIN, 1),
        (HiddenKind.PREPARE, 1),
        (HiddenKind.ROLLBACK, 1),
        (HiddenKind.DEALLOCATE, 1),
    ]
    prepare = cap.hidden[1]
    assert (prepare.start_ns, prepare.end_ns) == (
        cap.statements[5].start_ns,
        cap.statements[5].end_ns,
    )
    assert cap.round_trips == 6 and cap.network_round_trips == 10


def test_rollback_when_a_connection_closes_with_its_transaction_open(engine: Engine) -> None:
    with Capture(engine) as cap:
        fetch_name(engine, 1)
    assert hidden_kinds(cap) == {HiddenKind.BEGIN: 1, HiddenKind.ROLLBACK: 1}
    assert cap.round_trips == 1 and cap.network_round_trips == 3


def test_pool_reset_on_return_is_counted(engine: Engine) -> None:
    with Capture(engine) as cap:
        raw = engine.raw_connection()
        cursor = raw.cursor()
        cursor.execute("SELECT 1")  # straight to the driver: opens a transaction
        cursor.close()
        raw.close()  # the pool rolls it back
    assert cap.queries == 0
    assert hidden_kinds(cap) == {HiddenKind.RESET: 1}


def test_pre_ping_is_counted(db_url: str) -> None:
    pinging = create_engine(db_url, pool_pre_ping=True)
    try:
        fetch_name(pinging, 1)  # opens the pooled connection: no ping on a fresh one
        with Capture(pinging) as cap:
            fetch_name(pinging, 2)
        assert hidden_kinds(cap) == {
            HiddenKind.PING: 1,
            HiddenKind.BEGIN: 1,
            HiddenKind.ROLLBACK: 1,
        }
        assert cap.network_round_trips == 4
    finally:
        pinging.dispose()


def test_connection_set_up_is_counted(db_url: str) -> None:
    cold = create_engine(db_url)
    try:
        with Capture(cold) as cap, cold.connect() as first, cold.connect() as second:
            first.execute(BY_ID, {"id": 1})
            second.execute(BY_ID, {"id": 2})
        assert ids_of(cap) == [1, 2]  # the dialect initialisation's queries are not the operation's
        # TCP handshake, SSLRequest refused, start-up with trust authentication
        assert [h.round_trips for h in cap.hidden if h.kind is HiddenKind.CONNECT] == [3, 3]
        assert [h.round_trips for h in cap.hidden if h.kind is HiddenKind.INITIALIZE] == [9]
        assert hidden_kinds(cap)[HiddenKind.ROLLBACK] == 2
    finally:
        cold.dispose()


# the listeners' lifetime


def assert_detached(eng: Engine, attached: tuple[Hook, ...]) -> None:
    assert attached
    for hook in attached:
        assert not event.contains(hook.target, hook.name, hook.fn)
    assert instrument.listeners(eng) == ()
    assert not {"do_commit", "do_rollback", "do_ping"} & vars(eng.dialect).keys()


def test_listeners_are_detached_after_the_block(engine: Engine) -> None:
    with Capture(engine):
        attached = instrument.listeners(engine)
        assert all(event.contains(hook.target, hook.name, hook.fn) for hook in attached)
        assert "do_commit" in vars(engine.dialect)
    assert_detached(engine, attached)


def test_listeners_are_detached_after_an_exception(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"), Capture(engine):
        attached = instrument.listeners(engine)
        fetch_name(engine, 1)
        raise RuntimeError("boom")
    assert_detached(engine, attached)


def test_async_engine_listeners_go_on_its_sync_engine(db_url: str) -> None:
    async def body(eng: AsyncEngine) -> tuple[Hook, ...]:
        with Capture(eng) as cap:
            attached = instrument.listeners(eng.sync_engine)
            async with eng.connect() as conn:
                await conn.execute(BY_ID, {"id": 1})
        assert cap.queries == 1
        assert_detached(eng.sync_engine, attached)
        return attached

    assert run_async(db_url, body)


# process-wide: Capture(None)


def test_capture_none_sees_every_engine_and_thread_then_takes_its_hooks_off(
    engine: Engine, db_url: str
) -> None:
    other = create_engine(db_url)
    try:
        with Capture(None) as cap, Capture(engine) as own:
            hub = instrument._everywhere
            assert hub is not None and instrument.listeners(engine) != ()
            attached = hub.hooks
            fetch_name(engine, 1)
            thread = threading.Thread(target=fetch_name, args=(other, 2))
            thread.start()
            thread.join()
        assert cap.queries == 2 and own.queries == 1  # the thread is seen by the process-wide one
        assert HiddenKind.CONNECT in hidden_kinds(cap)  # the new engine's connection, measured
        assert not any(event.contains(hook.target, hook.name, hook.fn) for hook in attached)
        assert instrument._everywhere is None and sinks.PROCESS.every == ()
        with Capture(engine) as again:  # per-engine hooks work as before afterwards
            fetch_name(engine, 3)
        assert again.queries == 1
    finally:
        other.dispose()


def test_capture_none_measures_each_driver_with_its_own_wire_model(fresh_db: str) -> None:
    """psycopg2 sends an executemany one parameter set at a time (hidden EXECUTEMANY round
    trips), psycopg 3 pipelines it; asyncpg's engine is wired too.  A dialect wired with
    another driver's model would fail on its connection or count the batch wrong."""
    sync_engines = [
        create_engine(sqlalchemy_url(parse(fresh_db), d)) for d in ("psycopg2", "psycopg")
    ]
    async_engine = create_async_engine(sqlalchemy_url(parse(fresh_db), "asyncpg"))
    with sync_engines[0].begin() as connection:
        connection.execute(text("CREATE TABLE many (n int)"))
        connection.execute(text("INSERT INTO many VALUES (1), (2), (3)"))

    async def select_through_asyncpg() -> None:
        async with async_engine.connect() as connection:
            await connection.execute(text("SELECT count(*) FROM many"))

    update = text("UPDATE many SET n = :n WHERE n = :n")
    try:
        with Capture(None) as cap:
            for engine in sync_engines:
                with engine.begin() as connection:
                    connection.execute(update, [{"n": 1}, {"n": 2}, {"n": 3}])
            asyncio.run(select_through_asyncpg())
        assert cap.queries == 3 and not cap.unsupported
        assert [h.round_trips for h in cap.hidden if h.kind is HiddenKind.EXECUTEMANY] == [2]
        assert hidden_kinds(cap)[HiddenKind.COMMIT] == 2
        for dialect in (*(e.dialect for e in sync_engines), async_engine.sync_engine.dialect):
            assert not {"do_commit", "do_rollback", "do_ping"} & set(vars(dialect))
    finally:
        for engine in sync_engines:
            engine.dispose()
        asyncio.run(async_engine.dispose())


# bad input and API details


@pytest.mark.parametrize("thing", ["postgresql://user:s3cret@localhost/db", 42])
def test_capture_rejects_what_is_not_an_engine(thing: object) -> None:
    with pytest.raises(TypeError, match=f"got builtins.{type(thing).__qualname__}") as info:
        Capture(thing)  # type: ignore[arg-type]
    assert "s3cret" not in str(info.value)


def test_capture_rejects_a_connection(engine: Engine) -> None:
    with (
        engine.connect() as conn,
        pytest.raises(TypeError, match=r"got sqlalchemy\.engine\.base\.Connection"),
    ):
        Capture(conn)  # type: ignore[arg-type]


def test_capture_rejects_another_driver() -> None:
    # never connected: the engine is refused for its dialect before any I/O
    with pytest.raises(UsageError, match="unsupported database driver sqlite\\+pysqlite"):
        Capture(create_engine("sqlite://"))


def test_a_capture_records_once(engine: Engine) -> None:
    cap = Capture(engine)
    with cap:
        pass
    with pytest.raises(UsageError, match="records once"), cap:
        pass


def test_decorator_hands_over_each_calls_capture(engine: Engine, db_url: str) -> None:
    seen: list[Capture] = []

    @captured(engine, on_capture=seen.append)
    def load(item_id: int) -> str:
        return fetch_name(engine, item_id)

    @captured(engine, on_capture=seen.append)
    def load_and_fail() -> None:
        fetch_name(engine, 1)
        raise ValueError("after one query")

    assert load(3) == "item 3" and load(4) == "item 4"
    with pytest.raises(ValueError):
        load_and_fail()
    assert [ids_of(cap) for cap in seen] == [[3], [4], [1]]

    async def body(eng: AsyncEngine) -> list[Capture]:
        async_seen: list[Capture] = []

        @captured(eng, on_capture=async_seen.append)
        async def load_async(item_id: int) -> str:
            async with eng.connect() as conn:
                return (await conn.execute(BY_ID, {"id": item_id})).scalar_one()

        assert await load_async(7) == "item 7"
        return async_seen

    assert [ids_of(cap) for cap in run_async(db_url, body)] == [[7]]


def test_summary_is_plain_json_with_stable_keys_and_redacted_parameters(engine: Engine) -> None:
    with Capture(engine) as cap, engine.connect() as conn:
        conn.execute(BY_ID, {"id": 1})
        conn.execute(BY_ID, {"id": 2})
        conn.execute(select(items.c.id).where(items.c.name.in_(["item 1", "item 2"])))
    summary = cap.summary(statements=True)
    assert list(summary) == [
        "queries",
        "round_trips",
        "network_round_trips",
        "rows_fetched",
        "db_ms",
        "errors",
        "fingerprints",
        "n_plus_one",
        "findings",
        "hidden_round_trips",
        "statements",
    ]
    assert json.loads(json.dumps(summary)) == summary
    assert (summary["queries"], summary["round_trips"], summary["rows_fetched"]) == (3, 3, 4)
    assert summary["network_round_trips"] == 5
    assert [(f["sql"], f["count"]) for f in summary["fingerprints"]] == [
        (BY_ID_SQL, 2),
        ("SELECT items.id FROM items WHERE items.name IN ($1::VARCHAR, $2::VARCHAR)", 1),
    ]
    assert [s["parameters"] for s in summary["statements"]] == [
        {"id": "<int>"},
        {"id": "<int>"},
        {"name_1_1": "<str>", "name_1_2": "<str>"},
    ]
    assert {s["connection"] for s in summary["statements"]} == {1}
    revealed = cap.summary(statements=True, redact_parameters=False)["statements"]
    assert [s["parameters"] for s in revealed][:2] == [{"id": 1}, {"id": 2}]
    assert "statements" not in cap.summary()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql+pg8000://u@h/db", "postgresql+pg8000"),
        ("mysql+pymysql://u@h/db", "mysql+pymysql"),
    ],
)
def test_capture_names_the_supported_drivers_for_an_unsupported_one(url: str, named: str) -> None:
    """pg8000 and PyMySQL are not installed here: SQLAlchemy is handed a module that only
    names a parameter style as the DBAPI, so that it builds the dialect; nothing connects."""
    dbapi = types.ModuleType("no_dbapi")
    dbapi.paramstyle = "format"  # type: ignore[attr-defined]
    engine = create_engine(url, module=dbapi)
    with pytest.raises(UsageError) as caught:
        Capture(engine)
    message = str(caught.value)
    assert f"unsupported database driver {named}" in message
    assert "psycopg (3), psycopg2 and asyncpg" in message and "\n" not in message


@pytest.mark.parametrize("dialect", ["psycopg2", "asyncpg", "psycopg_async"])
def test_capture_accepts_every_supported_driver(fresh_db: str, dialect: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    url = sqlalchemy_url(parse(fresh_db), dialect)
    engine = create_engine(url) if dialect == "psycopg2" else create_async_engine(url)
    with Capture(engine) as cap:
        pass
    assert cap.queries == 0
