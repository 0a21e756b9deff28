"""Hidden round trips per driver: what each transaction costs on the wire beyond its statements.

Usage: python benchmarks/driver_round_trips.py

One embedded server, the latency proxy in counting mode (request/response turns at the
socket) in front of it, and for each driver (psycopg 3 sync and async, psycopg2, asyncpg)
one engine whose connection is opened first.  Each case runs under a Capture; the table
shows the statements, dalperf's hidden round trips by kind, their total and the turns the
proxy counted (which must be equal), for a statement the connection runs for the first
time ("cold") and again ("warm"):

- read: one parameterised SELECT in a transaction (BEGIN ... ROLLBACK on return);
- write: one UPDATE in a transaction that commits;
- autocommit read: one SELECT with ``isolation_level="AUTOCOMMIT"``.

README's driver table comes from this script's output.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dalperf.capture.session import Capture
from dalperf.db import urls
from dalperf.db.embedded import running_server
from dalperf.db.urls import sqlalchemy_url
from dalperf.network.proxy import LatencyProxy, Upstream

DATABASE = "driver_round_trips"
DRIVERS = ("psycopg", "psycopg_async", "psycopg2", "asyncpg")
READ = text("SELECT name FROM items WHERE id = :id")
WRITE = text("UPDATE items SET name = name WHERE id = :id")
CASES = ("read", "write", "autocommit read")


def sync_case(conn: Connection, case: str, n: int) -> None:
    if case == "read":
        conn.execute(READ, {"id": n}).all()
        conn.rollback()
    elif case == "write":
        conn.execute(WRITE, {"id": n})
        conn.commit()
    else:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(READ, {"id": n}).all()


async def async_case(conn: AsyncConnection, case: str, n: int) -> None:
    if case == "read":
        (await conn.execute(READ, {"id": n})).all()
        await conn.rollback()
    elif case == "write":
        await conn.execute(WRITE, {"id": n})
        await conn.commit()
    else:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        (await conn.execute(READ, {"id": n})).all()


def row(driver: str, case: str, warmth: str, capture: Capture, turns: int) -> str:
    trips: Counter[str] = Counter()
    for h in capture.hidden:
        trips[h.kind.value] += h.round_trips
    hidden = sum(trips.values())
    kinds = " ".join(f"{k}:{v}" for k, v in sorted(trips.items()))
    verdict = "ok" if capture.queries + hidden == turns else "MISMATCH"
    return (
        f"| {driver} | {case} | {warmth} | {capture.queries} | {hidden} ({kinds}) | "
        f"{capture.queries + hidden} | {turns} {verdict} |"
    )


async def measure(url: str, driver: str, proxy: LatencyProxy) -> list[str]:
    lines = []
    if driver in ("psycopg_async", "asyncpg"):
        engine = create_async_engine(
            sqlalchemy_url(urls.parse(url), driver), pool_size=1, max_overflow=0
        )
        for case in CASES:
            async with engine.connect() as warmup:
                await warmup.exec_driver_sql("SELECT 1")  # the connection exists
            for n, warmth in enumerate(("cold", "warm"), start=1):
                async with engine.connect() as conn:
                    proxy.stats(reset=True)
                    with Capture(engine) as capture:
                        await async_case(conn, case, n)
                    lines.append(row(driver, case, warmth, capture, proxy.stats().turns))
            await engine.dispose()  # the next case starts on a fresh connection
        return lines
    sync_engine = create_engine(
        sqlalchemy_url(urls.parse(url), driver), pool_size=1, max_overflow=0
    )
    for case in CASES:
        with sync_engine.connect() as warmup:
            warmup.exec_driver_sql("SELECT 1")
        for n, warmth in enumerate(("cold", "warm"), start=1):
            with sync_engine.connect() as conn:
                proxy.stats(reset=True)
                with Capture(sync_engine) as capture:
                    sync_case(conn, case, n)
                lines.append(row(driver, case, warmth, capture, proxy.stats().turns))
        sync_engine.dispose()
    return lines


def main() -> None:
    with running_server(None) as server:
        with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        url = server.url(DATABASE)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10) g")
        with LatencyProxy(Upstream.of_url(urls.parse(url)), count_turns=True) as proxy:
            print(
                "| driver | transaction | statement | queries | hidden round trips | "
                "dalperf total | proxy turns |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for driver in DRIVERS:
                for line in asyncio.run(
                    measure(urls.libpq_url(proxy.url(urls.parse(url))), driver, proxy)
                ):
                    print(line)


if __name__ == "__main__":
    main()
