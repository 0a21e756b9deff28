"""Overhead of recording: a single-row primary-key SELECT with and without a capture.

Usage: python benchmarks/capture_overhead.py [--rounds 400] [--batch 50]

One embedded server, one engine, one connection held open inside one transaction, so
each SELECT is exactly one round trip either way.  Batches of ``--batch`` statements
alternate between plain (no listeners on the engine) and captured (a Capture active
around the batch: listeners attached before its first timed statement, removed after its
last), the order flipping every round, so drift in the machine's speed hits both sides
alike.  Every statement is timed on its own (wall clock); the medians of all per-statement
times are compared.  Target (issue 3): captured at most 5% slower than plain.  The client
CPU time per statement (median over batches) is printed too: on a busy machine it shows the
cost of recording with less noise than the wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, select
from sqlalchemy.engine import Connection

from dalperf.capture.session import Capture
from dalperf.db.embedded import running_server
from dalperf.db.urls import sqlalchemy_url

DATABASE = "capture_overhead"
ROWS = 1000
TARGET_RATIO = 1.05
NS_PER_US = 1000

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


def measure(conn: Connection, rounds: int, batch: int) -> tuple[Side, Side]:
    plain, captured = Side(), Side()
    engine = conn.engine
    Side().run_batch(conn, batch * 4, 0)  # warm-up: compiled cache, prepared statement, buffers
    for round_no in range(rounds):
        offset = round_no * batch
        for with_capture in ((False, True) if round_no % 2 == 0 else (True, False)):
            if with_capture:
                with Capture(engine) as cap:
                    captured.run_batch(conn, batch, offset)
                assert cap.queries == batch and cap.rows_fetched == batch
            else:
                plain.run_batch(conn, batch, offset)
    return plain, captured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    with running_server(None) as server:
        with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        engine = create_engine(sqlalchemy_url(server.url(DATABASE)))
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(items.insert(), [{"id": i, "name": f"item {i}"}
                                              for i in range(1, ROWS + 1)])
            with engine.connect() as conn:
                plain, captured = measure(conn, args.rounds, args.batch)
        finally:
            engine.dispose()
    plain_us = statistics.median(plain.wall) / NS_PER_US
    captured_us = statistics.median(captured.wall) / NS_PER_US
    ratio = captured_us / plain_us
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    plain_cpu = statistics.median(plain.cpu) / NS_PER_US
    captured_cpu = statistics.median(captured.cpu) / NS_PER_US
    print(f"statements per side: {len(plain.wall)} ({args.rounds} rounds x {args.batch}, "
          "interleaved)")
    print(f"median wall plain    : {plain_us:8.2f} us/statement")
    print(f"median wall captured : {captured_us:8.2f} us/statement")
    print(f"overhead (wall)      : {captured_us - plain_us:8.2f} us/statement, "
          f"ratio {ratio:.4f} (target <= {TARGET_RATIO}) {verdict}")
    print(f"client CPU           : {plain_cpu:8.2f} -> {captured_cpu:.2f} us/statement, "
          f"+{captured_cpu - plain_cpu:.2f} us, ratio {captured_cpu / plain_cpu:.4f}")


if __name__ == "__main__":
    main()
