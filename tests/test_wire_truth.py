"""Wire truth: dalperf's round trips against request/response turns counted at the socket.

Every case-study operation x variant runs on each async driver (psycopg 3, asyncpg), and the
sync workload (:mod:`tests.wire_workload`; the case study has no sync variant) on each sync
driver (psycopg 3, psycopg2), through the latency proxy in counting mode
(:class:`~dalperf.network.proxy.ProxyStats`), on warm connections.  For every call:

- the turns the proxy counted equal the capture's statements plus its hidden round trips
  (what dalperf says went over the wire, in total);
- when no two of the call's driver calls overlapped in time (no concurrent statements),
  ``network_round_trips`` equals the turns exactly;
- ``queries`` (an executemany once per parameter set) equals pg_stat_statements' ``calls``
  for the operation's own statements
  (transaction control, asyncpg's type introspection and the foreign-key checks the
  server runs inside an UPDATE left out), read after the
  transaction ended, since the server counts an extended-protocol statement late.

A mutating call runs inside the runner's isolation, entered before the proxy's counts are
reset and left after they are read, as :func:`dalperf.measure.runner.measure_call` does.
Run with ``pytest -s`` to see the table.  Cold engines are checked too: the first
connection's set-up and SQLAlchemy's initialisation, against start-up turns and sessions.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import psycopg
import pytest

from dalperf.capture.session import Capture
from dalperf.db import urls
from dalperf.db.embedded import ServerStatus
from dalperf.measure.engines import Engines, open_engines
from dalperf.measure.isolation import isolated
from dalperf.measure.loader import load_modules
from dalperf.measure.operations import Operation, Variant, call
from dalperf.measure.registry import REGISTRY
from dalperf.network.proxy import LatencyProxy, ProxyStats, Upstream
from dalperf.seed.loader import seed_database
from tests.conftest import SEEDED_SCALE, SEEDED_SEED, create_database, drop_database, target_for
from tests.wire_workload import WORKLOAD

# statements in pg_stat_statements that are not the operation's own queries: transaction
# control, asyncpg's type introspection (its jit switch normalised to set_config($1, ...)),
# and the foreign-key checks the server runs for an UPDATE (track = all).  Not filtered on
# ``toplevel``: a statement whose portal the server drops while running the next ROLLBACK
# is counted as nested, in an entry of its own (so calls are summed per text).
_NOT_QUERIES = re.compile(
    r"^\s*(BEGIN|START|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DEALLOCATE|SET|SHOW)\b"
    r"|typeinfo_tree|\bset_config\(|\bcurrent_setting\(|\bFROM ONLY \"",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Row:
    """One measured call: what dalperf counted, what the proxy and the server counted."""

    driver: str
    operation: str
    variant: str
    queries: int
    executions: int  # what the server runs: an executemany once per parameter set
    server_calls: Counter[str]
    network_round_trips: int
    captured: int  # statements + hidden round trips
    turns: int  # incl. set-up of connections opened during the call: start-up turns + TCP
    concurrent: bool
    hidden: str


@pytest.fixture(scope="module")
def truth_db(pg_server: ServerStatus) -> Iterator[str]:
    """A seeded database of its own (pg_stat_statements is read per database)."""
    name = f"wire_truth_{os.getpid()}"
    url = create_database(pg_server, name)
    seed_database(target_for(url), scale=SEEDED_SCALE, seed=SEEDED_SEED)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="module")
def counting_proxy(truth_db: str) -> Iterator[LatencyProxy]:
    with LatencyProxy(Upstream.of_url(urls.parse(truth_db)), count_turns=True) as proxy:
        yield proxy


def server_queries(url: str) -> Counter[str]:
    """pg_stat_statements' calls per query text of the database's own queries so far (this
    probe left out)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, sum(calls)::bigint FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%pg_stat_statements%' GROUP BY query"
        ).fetchall()
    return Counter({query: calls for query, calls in rows if not _NOT_QUERIES.search(query)})


def concurrent(capture: Capture) -> bool:
    """Whether any two of the call's driver calls overlapped in time."""
    spans = sorted(
        {(s.start_ns, s.end_ns) for s in capture.statements}
        | {(h.start_ns, h.end_ns) for h in capture.hidden}
    )
    latest_end = 0
    for start, end in spans:
        if start < latest_end:
            return True
        latest_end = max(latest_end, end)
    return False


async def measure(
    driver: str,
    operation: Operation,
    variant: Variant,
    engines: Engines,
    params: object,
    proxy: LatencyProxy,
    url: str,
) -> Row:
    engine = engines.async_engine if variant.is_async else engines.sync_engine
    calls_before = await asyncio.to_thread(server_queries, url)
    async with AsyncExitStack() as stack:
        if operation.mutates:
            db = await stack.enter_async_context(isolated(engines, sync=not variant.is_async))
        else:
            db = engines.db if variant.is_async else engines.sync_db
        proxy.stats(reset=True)
        with Capture(engine) as capture:
            await call(variant, db, params)
        stats = proxy.stats()
    calls = await asyncio.to_thread(server_queries, url) - calls_before
    trips: Counter[str] = Counter()
    for h in capture.hidden:
        trips[h.kind.value] += h.round_trips
    return Row(
        driver=driver,
        operation=operation.name,
        variant=variant.name,
        queries=capture.queries,
        server_calls=calls,
        executions=sum(len(s.parameters) if s.executemany else 1 for s in capture.statements),
        network_round_trips=capture.network_round_trips,
        captured=capture.queries + sum(trips.values()),
        # the TCP handshake of a new connection is no turn: the proxy simulates it
        turns=stats.turns + stats.startup_turns + stats.connections,
        concurrent=concurrent(capture),
        hidden=" ".join(f"{k}:{v}" for k, v in sorted(trips.items())),
    )


async def measure_all(
    driver: str, operations: Sequence[Operation], url: str, proxy: LatencyProxy
) -> list[Row]:
    rows = []
    async with open_engines(proxy.url(urls.parse(url)), driver=driver) as engines:
        for operation in operations:
            params = await operation.draw_params(engines)
            for variant in operation.variants:
                for _ in range(2):  # warm: connections, prepared statements, type codecs
                    await measure(driver, operation, variant, engines, params, proxy, url)
                rows.append(await measure(driver, operation, variant, engines, params, proxy, url))
    return rows


def print_table(rows: Sequence[Row]) -> None:
    print()
    print(
        f"{'driver':<14} {'operation':<36} {'variant':<11} {'queries':>7} {'pss':>4} "
        f"{'net_rt':>6} {'total':>5} {'turns':>5} {'par':>3}  hidden"
    )
    for r in rows:
        print(
            f"{r.driver:<14} {r.operation:<36} {r.variant:<11} {r.queries:>7} "
            f"{r.server_calls.total():>4} {r.network_round_trips:>6} {r.captured:>5} {r.turns:>5} "
            f"{'yes' if r.concurrent else 'no':>3}  {r.hidden}"
        )
        if r.executions != r.server_calls.total():
            print(f"    the server counted: {dict(r.server_calls)}")


def check(rows: Sequence[Row]) -> None:
    for r in rows:
        assert r.captured == r.turns, r
        if not r.concurrent:
            assert r.network_round_trips == r.turns, r
        assert r.executions == r.server_calls.total(), r


def case_study() -> list[Operation]:
    load_modules(["dalperf.scenarios"])
    return [op for op in REGISTRY if op.module.startswith("dalperf.scenarios.")]


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_case_study_round_trips_are_the_turns_on_the_wire(
    driver: str, truth_db: str, counting_proxy: LatencyProxy
) -> None:
    operations = case_study()
    assert len(operations) == 9 and all(v.is_async for op in operations for v in op.variants)
    rows = asyncio.run(measure_all(driver, operations, truth_db, counting_proxy))
    print_table(rows)
    assert len(rows) == sum(len(op.variants) for op in operations)
    check(rows)
    assert any(r.concurrent for r in rows)  # the summary variants gather


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sync_workload_round_trips_are_the_turns_on_the_wire(
    driver: str, truth_db: str, counting_proxy: LatencyProxy
) -> None:
    operations = list(WORKLOAD)
    rows = asyncio.run(measure_all(driver, operations, truth_db, counting_proxy))
    print_table(rows)
    assert len(rows) == 7
    check(rows)
    by_variant = {r.variant: r for r in rows}
    # five parameter sets: pipelined in one round trip by psycopg, one each by psycopg2
    assert by_variant["executemany"].queries == 1
    assert by_variant["executemany"].network_round_trips == {"psycopg": 3, "psycopg2": 7}[driver]
    # one SELECT in autocommit: the statement alone, and on psycopg2 the SET of the reset
    # that takes the connection out of autocommit when it goes back to the pool
    assert by_variant["autocommit"].turns == {"psycopg": 1, "psycopg2": 2}[driver]
    assert ("isolation:1" in by_variant["autocommit"].hidden) is (driver == "psycopg2")


async def cold_call(driver: str, url: str, proxy: LatencyProxy) -> tuple[Capture, ProxyStats]:
    operation = REGISTRY.get("renders.get_with_context")
    async with open_engines(urls.parse(url)) as direct:
        params = await operation.draw_params(direct)
    async with open_engines(proxy.url(urls.parse(url)), driver=driver) as engines:
        proxy.stats(reset=True)
        with Capture(engines.async_engine) as capture:
            await call(operation.variant("naive"), engines.db, params)
        return capture, proxy.stats()


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_a_new_connection_costs_what_the_proxy_counts(
    driver: str, truth_db: str, counting_proxy: LatencyProxy
) -> None:
    """An engine's first call: TCP handshake (which the proxy simulates, one per
    connection), SSLRequest and start-up, SQLAlchemy's initialisation, the call's own turns."""
    case_study()
    capture, stats = asyncio.run(cold_call(driver, truth_db, counting_proxy))
    trips = Counter()
    for h in capture.hidden:
        trips[h.kind.value] += h.round_trips
    assert stats.connections == 1 and stats.startup_turns == 2
    assert trips["connect"] == stats.connections + stats.startup_turns
    assert capture.queries + sum(trips.values()) - trips["connect"] == stats.turns
    assert trips["initialize"] == {"psycopg": 9, "asyncpg": 10}[driver]
    assert capture.network_round_trips == stats.turns + trips["connect"]


async def pinged_calls(dialect: str, url: str, proxy: LatencyProxy) -> list[tuple[Capture, int]]:
    """Three checkouts with ``pool_pre_ping`` (one SELECT each), then two after the connection
    went through AUTOCOMMIT; each capture with the turns the proxy counted."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from dalperf.db.urls import sqlalchemy_url

    is_async = dialect in ("psycopg_async", "asyncpg")
    engine = (create_async_engine if is_async else create_engine)(
        sqlalchemy_url(proxy.url(urls.parse(url)), dialect), pool_pre_ping=True, pool_size=1
    )
    sync_engine = engine.sync_engine if is_async else engine

    def once(autocommit: bool) -> None:
        with sync_engine.connect() as conn:
            if autocommit:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT 1"))

    async def run(autocommit: bool = False) -> None:
        if is_async:
            async with engine.connect() as conn:  # type: ignore[union-attr]
                if autocommit:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("SELECT 1"))
        else:
            once(autocommit)

    seen = []
    await run()  # the connection
    for autocommit_before in (False, False, False, True, True):
        if autocommit_before:
            await run(autocommit=True)
        proxy.stats(reset=True)
        with Capture(engine) as capture:
            await run()
        seen.append((capture, proxy.stats().turns))
    if is_async:
        await engine.dispose()  # type: ignore[union-attr]
    else:
        sync_engine.dispose()
    return seen


@pytest.mark.parametrize(
    ("dialect", "pings"),
    [
        ("psycopg", [1, 1, 1, 1, 1]),
        ("psycopg_async", [1, 1, 1, 1, 1]),
        # psycopg2 leaves the ping's temporary autocommit with a SET once the connection holds
        # an explicit isolation level; asyncpg wraps the ping in BEGIN/ROLLBACK and prepares
        # its ";" the first time on a connection
        ("psycopg2", [1, 1, 1, 2, 2]),
        ("asyncpg", [4, 3, 3, 3, 3]),
    ],
)
def test_pool_pre_ping_costs_what_the_proxy_counts(
    dialect: str, pings: list[int], truth_db: str, counting_proxy: LatencyProxy
) -> None:
    seen = asyncio.run(pinged_calls(dialect, truth_db, counting_proxy))
    for (capture, turns), ping in zip(seen, pings, strict=True):
        trips = Counter()
        for h in capture.hidden:
            trips[h.kind.value] += h.round_trips
        assert capture.queries + sum(trips.values()) == turns == capture.network_round_trips
        assert trips["ping"] == ping, (dialect, dict(trips))
