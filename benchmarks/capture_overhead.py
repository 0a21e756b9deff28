"""Overhead of recording: a single-row primary-key SELECT with and without a capture, per driver.

Usage: python benchmarks/capture_overhead.py [--rounds 400] [--batch 50]
       [--driver psycopg|psycopg_async|psycopg2|asyncpg ...]   (default: all four)

One embedded server; per driver one engine and one connection held open inside one
transaction, so each SELECT is exactly one round trip either way (asyncpg's prepared
statement is cached by the warm-up).  Batches of ``--batch`` statements alternate between
plain (no listeners on the engine) and captured (a Capture active around the batch:
listeners attached before its first timed statement, removed after its last), the order
flipping every round, so drift in the machine's speed hits both sides alike.  Every
statement is timed on its own (wall clock); the medians of all per-statement times are
compared.  Target (issues 3 and 19): captured at most 5% slower than plain, per driver.
The client CPU time per statement (median over batches) is printed too: on a busy machine
it shows the cost of recording with less noise than the wall clock.  Exit status 1 when a
driver misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import psycopg
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dalperf.capture.session import Capture
from dalperf.db.embedded import running_server
from dalperf.db.urls import parse, sqlalchemy_url

DATABASE = "capture_overhead"
ROWS = 1000
TARGET_RATIO = 1.05
NS_PER_US = 1000
DRIVERS = ("psycopg", "psycopg_async", "psycopg2", "asyncpg")  # SQLAlchemy dialect drivers

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String))
BY_ID = select(items.c.name).where(items.c.id == bindparam("id"))


class Side:
    """The samples of one side: wall time per statement, client CPU time per statement per batch."""

    def __init__(self) -> None:
        self.wall: list[int] = []
        self.cpu: list[float] = []

    def run_batch(self, conn: Connection, size: int, offset: int) -> None:
        cpu_start = time.thread_time_ns()
        for i in range(size):
            t0 = time.perf_counter_ns()
            conn.execute(BY_ID, {"id": (offset + i) % ROWS + 1}).one()
            self.wall.append(time.perf_counter_ns() - t0)
        self.cpu.append((time.thread_time_ns() - cpu_start) / size)

    async def run_async_batch(self, conn: AsyncConnection, size: int, offset: int) -> None:
        cpu_start = time.thread_time_ns()
        for i in range(size):
            t0 = time.perf_counter_ns()
            (await conn.execute(BY_ID, {"id": (offset + i) % ROWS + 1})).one()
            self.wall.append(time.perf_counter_ns() - t0)
        self.cpu.append((time.thread_time_ns() - cpu_start) / size)


async def interleave(
    engine: object, rounds: int, batch: int, run: Callable[[Side, int, int], Awaitable[None]]
) -> tuple[Side, Side]:
    plain, captured = Side(), Side()
    await run(Side(), batch * 4, 0)  # warm-up: compiled cache, prepared statement, buffers
    for round_no in range(rounds):
        offset = round_no * batch
        for with_capture in (False, True) if round_no % 2 == 0 else (True, False):
            if with_capture:
                with Capture(engine) as cap:  # type: ignore[arg-type]
                    await run(captured, batch, offset)
                assert cap.queries == batch and cap.rows_fetched == batch
            else:
                await run(plain, batch, offset)
    return plain, captured


async def measure(url: str, driver: str, rounds: int, batch: int) -> tuple[Side, Side]:
    if driver in ("psycopg_async", "asyncpg"):
        engine = create_async_engine(sqlalchemy_url(parse(url), driver))
        try:
            async with engine.connect() as conn:
                return await interleave(
                    engine, rounds, batch, lambda side, n, at: side.run_async_batch(conn, n, at)
                )
        finally:
            await engine.dispose()
    sync_engine = create_engine(sqlalchemy_url(parse(url), driver))
    try:
        with sync_engine.connect() as sync_conn:

            async def run(side: Side, n: int, at: int) -> None:
                side.run_batch(sync_conn, n, at)

            return await interleave(sync_engine, rounds, batch, run)
    finally:
        sync_engine.dispose()


def report(driver: str, plain: Side, captured: Side) -> bool:
    plain_us = statistics.median(plain.wall) / NS_PER_US
    captured_us = statistics.median(captured.wall) / NS_PER_US
    ratio = captured_us / plain_us
    plain_cpu = statistics.median(plain.cpu) / NS_PER_US
    captured_cpu = statistics.median(captured.cpu) / NS_PER_US
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(
        f"{driver:<14} wall {plain_us:7.2f} -> {captured_us:7.2f} us/statement, "
        f"+{captured_us - plain_us:5.2f} us, ratio {ratio:.4f} {verdict}; client CPU "
        f"{plain_cpu:7.2f} -> {captured_cpu:7.2f} us, ratio {captured_cpu / plain_cpu:.4f}"
    )
    return ratio <= TARGET_RATIO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--driver", action="append", choices=DRIVERS)
    args = parser.parse_args()
    chosen = args.driver or list(DRIVERS)
    with running_server(None) as server:
        with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        url = server.url(DATABASE)
        setup = create_engine(sqlalchemy_url(parse(url)))
        try:
            metadata.create_all(setup)
            with setup.begin() as conn:
                conn.execute(
                    items.insert(), [{"id": i, "name": f"item {i}"} for i in range(1, ROWS + 1)]
                )
        finally:
            setup.dispose()
        print(
            f"statements per side and driver: {args.rounds * args.batch} "
            f"({args.rounds} rounds x {args.batch}, interleaved); target ratio <= {TARGET_RATIO}"
        )
        results = [
            report(driver, *asyncio.run(measure(url, driver, args.rounds, args.batch)))
            for driver in chosen
        ]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
