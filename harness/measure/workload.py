"""The advisor's side of a run: the calls it studies and the price of an index on writes.

:func:`advise_operations` captures one call of every variant of the run's operations (the
runner's own :func:`~dalperf.measure.runner.measure_call`, mutating ones inside
:func:`~dalperf.measure.isolation.isolated`, rolled back) with the run's first input set,
hands the statements to :func:`dalperf.plans.advisor.advise`, and gives it a pricer.

The price of an index on writes (:func:`price_writes`): every mutating operation whose
statements write to the index's table is called ``write_repeats`` times with the index and
as many without, alternately, after one warm-up call each way.  Both run through the
runner's ``measure_call`` in the same rolled-back isolation; for the calls "with", the
index is built (or, for an existing index, dropped) first, on the same connection and in
the same transaction, which the isolation's rollback then ends: the index exists for that
call alone and nothing stays behind.  To make that possible the engines of these calls
share one connection (``StaticPool``) and the pool does not roll back on check-in; the
transaction is never committed.  Each row: the median database time per call (the
capture's ``db_ms``) with the setup and without, in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from statistics import median
from typing import Any

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from dalperf.db import urls
from dalperf.db.targets import Target
from dalperf.errors import describe
from dalperf.measure.engines import Engines, open_engines
from dalperf.measure.operations import Operation, Variant
from dalperf.measure.runner import measure_call
from dalperf.plans.advisor import (
    DEFAULT_CONFIG,
    AdvisorConfig,
    CapturedCall,
    advise,
    tables_written,
)


def advise_operations(
    target: Target,
    operations: Sequence[Operation],
    config: AdvisorConfig = DEFAULT_CONFIG,
    *,
    seed: int = 0,
    used: set[str] | None = None,
) -> dict[str, Any]:
    """The advice for ``operations`` on ``target`` (writes priced when it may be written)."""
    calls, params = asyncio.run(capture_calls(target.url, operations, seed=seed))
    writers = [(op, params[op.name]) for op in operations if op.mutates and op.name in params]
    written = {call.operation: tables_written(call.statements) for call in calls}

    def price(setup: str, table: str) -> list[dict[str, Any]]:
        affected = [(op, p) for op, p in writers if table in written.get(op.name, set())]
        return asyncio.run(price_writes(target.url, affected, setup, config))

    return advise(calls, target, config, price=price, used=used)


async def capture_calls(
    url: URL, operations: Sequence[Operation], *, seed: int = 0
) -> tuple[list[CapturedCall], dict[str, Any]]:
    """One captured call per variant (first input set of ``seed``), and each operation's
    inputs; a variant that raises is left out (the run reports it)."""
    calls: list[CapturedCall] = []
    params: dict[str, Any] = {}
    async with open_engines(url) as engines:
        for operation in operations:
            try:
                params[operation.name] = await operation.draw_params(engines, seed=seed)
            except Exception:  # the run reports a params factory that fails
                continue
            for variant in operation.variants:
                try:
                    made = await measure_call(operation, variant, engines, params[operation.name])
                except Exception:  # a variant's own failure: the run reports it
                    continue
                calls.append(
                    CapturedCall(
                        operation=operation.name,
                        variant=variant.name,
                        statements=made.capture.statements,
                    )
                )
    return calls, params


async def price_writes(
    url: URL, writers: Sequence[tuple[Operation, Any]], setup: str, config: AdvisorConfig
) -> list[dict[str, Any]]:
    """What ``setup`` (a CREATE or DROP INDEX) changes in each writer's database time."""
    rows = []
    for operation, params in writers:
        for variant in operation.variants:
            rows.append(await _price_variant(url, operation, variant, params, setup, config))
    return rows


async def _price_variant(
    url: URL, operation: Operation, variant: Variant, params: Any, setup: str, config: AdvisorConfig
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "operation": operation.name,
        "variant": variant.name,
        "calls": config.write_repeats,
        "with_setup_ms": None,
        "without_setup_ms": None,
        "error": None,
    }
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        async with _one_connection(url) as engines:
            for round_no in range(config.write_repeats + 1):
                for with_setup in (False, True):
                    if with_setup:
                        await _prepare(engines, variant, setup, config)
                    made = await measure_call(operation, variant, engines, params)
                    if round_no:  # the first round warms up
                        times[with_setup].append(made.capture.db_ms)
    except (psycopg.Error, _SetupFailed) as exc:
        row["error"] = describe(exc) if isinstance(exc, psycopg.Error) else str(exc)
        return row
    row["with_setup_ms"] = round(median(times[True]), 3)
    row["without_setup_ms"] = round(median(times[False]), 3)
    return row


class _SetupFailed(Exception):
    """The index could not be built or dropped for a priced call (lock, timeout, ...)."""


@asynccontextmanager
async def _one_connection(url: URL) -> AsyncIterator[Engines]:
    """Engines on one connection each that keep a transaction open across check-ins."""
    address = urls.sqlalchemy_url(url)
    engines = Engines(
        async_engine=create_async_engine(address, poolclass=StaticPool, pool_reset_on_return=None),
        sync_engine=create_engine(address, poolclass=StaticPool, pool_reset_on_return=None),
    )
    try:
        yield engines
    finally:
        await engines.async_engine.dispose()
        engines.sync_engine.dispose()


async def _prepare(engines: Engines, variant: Variant, setup: str, config: AdvisorConfig) -> None:
    """Open the transaction of the next call of ``variant`` with ``setup`` done in it."""
    statements = (
        f"SET LOCAL lock_timeout = '{int(config.lock_timeout_ms)}ms'",
        f"SET LOCAL statement_timeout = '{int(config.statement_timeout_ms)}ms'",
        setup,
    )
    try:
        if variant.is_async:
            raw = await engines.async_engine.raw_connection()
            try:
                for text in statements:
                    await raw.driver_connection.execute(text)  # type: ignore[union-attr]
            except psycopg.Error:
                await raw.driver_connection.rollback()  # type: ignore[union-attr]
                raise
            finally:
                raw.close()
        else:
            raw = await asyncio.to_thread(engines.sync_engine.raw_connection)
            try:
                for text in statements:
                    raw.driver_connection.execute(text)  # type: ignore[union-attr]
            except psycopg.Error:
                raw.driver_connection.rollback()  # type: ignore[union-attr]
                raise
            finally:
                raw.close()
    except psycopg.Error as exc:
        raise _SetupFailed(f"{setup}: {describe(exc)}") from exc
