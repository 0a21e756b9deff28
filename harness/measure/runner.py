"""The runner: measure every variant of every operation, interleaved, and keep every sample.

For each operation:

1. draw ``param_sets`` inputs from the seeded database (deterministic for the run's seed);
2. check equivalence: every variant once per input set, normalised results compared with
   the reference variant's; a mismatch or an exception is a :class:`~dalperf.results.Failure`,
   and a variant that raised is not measured further (the others are);
3. warm up, then ``iterations`` rounds in which every variant runs once, the order rotating
   each round (A B, B A, ...) so that machine drift and cache effects hit all variants alike,
   inputs cycling over the input sets;
4. with a size knob, fit query count against size (the complexity verdict).

What is counted: the statements the variant sends and the hidden round trips it causes
(:mod:`dalperf.capture.session`).  For a mutating operation the call runs inside
:func:`dalperf.measure.scenario.isolated`, whose outer transaction is opened before the capture
starts and rolled back after it ends, so the isolation's own BEGIN, SAVEPOINT and ROLLBACK
are never counted, while the variant's own transactions (now savepoints) are.
Wall time is the variant call alone, measured inside the capture.

Simulated network latency (``RunConfig.rtt_sweep_ms``): the whole measurement above is
repeated at each round-trip time, through one :class:`~dalperf.network.proxy.LatencyProxy`
started for the run, RTT 0 included, so that the figures of a sweep differ only by the
delay injected; the proxy's own cost at RTT 0 against a direct connection, and how late
its chunks left at each RTT, go into ``environment["proxy"]``.  Without a sweep the
runner connects directly and labels its figures RTT 0.

EXPLAIN (``RunConfig.explain``, on by default): after the timed rounds, the first measured
call of each variant is replayed by a :class:`~dalperf.plans.explain.Explainer` on a connection of
its own, rolled back, with each distinct statement shape explained once; the plans (with
the indexes each statement scanned) go into the measurement.  Once per operation x variant
x index state: in an RTT sweep only at the first RTT (plans do not depend on the network).

When the database goes away mid-run (a driver error, and a new connection fails too),
:func:`run` raises :class:`RunAborted`, which carries the results of every operation
measured before, so that they can still be written.
"""

from __future__ import annotations

import asyncio
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any

import numpy as np
import psycopg
import sqlalchemy
from sqlalchemy import exc as sa_exc

from dalperf.capture.session import Capture
from dalperf.db import drivers, urls
from dalperf.errors import DatabaseUnreachable, RunAborted
from dalperf.measure.config import RunConfig
from dalperf.measure.equivalence import mismatch_report
from dalperf.measure.scenario import (
    DEFAULT_POOL_SIZE,
    Engines,
    Operation,
    Variant,
    call,
    isolated,
    open_engines,
)
from dalperf.network.proxy import LatencyProxy, Upstream, measure_overhead
from dalperf.plans.explain import Explainer
from dalperf.results import Complexity, Failure, Measurement, Results
from dalperf.stats import Summary
from dalperf.version import installed_version

LINEAR_FIT_R2 = 0.98
NS_PER_MS = 1_000_000
PROBE_TIMEOUT_S = 5
# what the driver raises when the server may have gone; a probe connection tells
# (asyncpg raises OSError itself when it cannot connect)
_DRIVER_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, psycopg.OperationalError,
                  psycopg.InterfaceError, OSError)

Progress = Callable[[str, int], None]  # (what is running, units of work just finished)




@dataclass(frozen=True, kw_only=True)
class Call:
    """One measured call: its capture, wall time and the variant's result."""

    capture: Capture
    wall_ms: float
    result: Any


@dataclass(frozen=True, kw_only=True)
class OperationRun:
    measurements: tuple[Measurement, ...]
    failures: tuple[Failure, ...]


async def run_operation(operation: Operation, engines: Engines, config: RunConfig,
                        progress: Progress | None = None,
                        explainer: Explainer | None = None) -> OperationRun:
    """Measure every variant of ``operation``; never raises for a variant's own failure.

    With an ``explainer``, each variant's first measured call is explained afterwards.
    """
    tick = progress or (lambda _what, _n: None)
    inputs = [await operation.draw_params(engines, seed=config.seed + i)
              for i in range(config.param_sets)]
    failures: list[Failure] = []
    errors: dict[str, str] = {}
    mismatched: set[str] = set()
    returned: dict[str, int] = {}
    for params in inputs:
        results: dict[str, Any] = {}
        for variant in operation.variants:
            if variant.name in errors:
                continue
            try:
                outcome = (await measure_call(operation, variant, engines, params)).result
            except Exception as exc:  # a variant's bug must not stop the run
                reason = await _lost(engines, exc)
                if reason is not None:  # the database's absence, not the variant's bug
                    raise DatabaseUnreachable(reason) from exc
                errors[variant.name] = f"{type(exc).__name__}: {exc}"
                failures.append(Failure(operation=operation.name, variant=variant.name,
                                        kind="error", message=errors[variant.name]))
                continue
            finally:
                tick(operation.name, 1)
            returned.setdefault(variant.name, _count_rows(outcome))
            results[variant.name] = operation.normalise(outcome)
        report = mismatch_report(operation.name, results, params=params) if len(results) > 1 else None
        if report is not None:
            reference = next(iter(results))
            for name, value in results.items():
                if value != results[reference] and name not in mismatched:
                    mismatched.add(name)
                    failures.append(Failure(operation=operation.name, variant=name,
                                            kind="mismatch", message=report))
    live = [v for v in operation.variants if v.name not in errors]
    calls = await _timed_rounds(operation, live, engines, inputs, config, tick)
    complexity = await _complexity(operation, live, engines, config, tick)
    explained = {name: await asyncio.to_thread(explainer.explain, made[0].capture.statements)
                 for name, made in calls.items() if made} if explainer else {}
    reference = operation.variants[0].name
    measurements = []
    for variant in operation.variants:
        equivalent = None if variant.name == reference else variant.name not in mismatched
        measurements.append(_measurement(
            operation, variant, calls.get(variant.name, []), config,
            rows_returned=returned.get(variant.name, 0), equivalent=equivalent,
            error=errors.get(variant.name), complexity=complexity.get(variant.name),
            plans=explained.get(variant.name, ())))
    return OperationRun(measurements=tuple(measurements), failures=tuple(failures))


async def _timed_rounds(operation: Operation, variants: Sequence[Variant], engines: Engines,
                        inputs: Sequence[Any], config: RunConfig,
                        tick: Progress) -> dict[str, list[Call]]:
    calls: dict[str, list[Call]] = {v.name: [] for v in variants}
    if not variants:
        return calls
    for round_no in range(config.warmup + config.iterations):
        shift = round_no % len(variants)
        params = inputs[round_no % len(inputs)]
        for variant in (*variants[shift:], *variants[:shift]):
            measured = await measure_call(operation, variant, engines, params)
            if round_no >= config.warmup:
                calls[variant.name].append(measured)
            tick(operation.name, 1)
    return calls


async def measure_call(operation: Operation, variant: Variant, engines: Engines,
                       params: Any) -> Call:
    """One call of ``variant`` under a fresh capture (isolated when the operation mutates)."""
    engine = engines.async_engine if variant.is_async else engines.sync_engine
    async with AsyncExitStack() as stack:
        if operation.mutates:
            db = await stack.enter_async_context(isolated(engines, sync=not variant.is_async))
        else:
            db = engines.db if variant.is_async else engines.sync_db
        with Capture(engine) as capture:
            start = perf_counter_ns()
            result = await call(variant, db, params)
            wall_ms = (perf_counter_ns() - start) / NS_PER_MS
    return Call(capture=capture, wall_ms=wall_ms, result=result)


async def _complexity(operation: Operation, variants: Sequence[Variant], engines: Engines,
                      config: RunConfig, tick: Progress) -> dict[str, Complexity]:
    """Query count at each size of the operation's sweep, fitted with a straight line."""
    if not config.complexity or operation.size is None:
        return {}
    sizes = operation.size.sweep
    counts: dict[str, list[int]] = {v.name: [] for v in variants}
    for size in sizes:
        params = await operation.draw_params(engines, seed=config.seed, size=size)
        for variant in variants:
            await measure_call(operation, variant, engines, params)  # warm: pool, caches
            counts[variant.name].append((await measure_call(operation, variant, engines, params))
                                        .capture.queries)
            tick(operation.name, 2)
    return {name: fit_complexity(sizes, queries) for name, queries in counts.items()}


def fit_complexity(sizes: Sequence[int], queries: Sequence[int]) -> Complexity:
    """``O(1)`` when the count does not change with size, ``O(n)`` when it grows on a line.

    Anything else (a count that shrinks, or grows but not linearly) is reported as
    ``irregular`` with the fitted slope, rather than forced into one of the two.
    """
    x = np.asarray(sizes, dtype=float)
    y = np.asarray(queries, dtype=float)
    slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    if np.ptp(y) == 0:
        verdict = "O(1)"
    else:
        residual = float(np.sum((y - (slope * x + intercept)) ** 2))
        total = float(np.sum((y - y.mean()) ** 2))
        verdict = "O(n)" if slope > 0 and 1 - residual / total >= LINEAR_FIT_R2 else "irregular"
    return Complexity(verdict=verdict, slope=round(slope, 4), intercept=round(intercept, 4),
                      sizes=tuple(int(s) for s in sizes), queries=tuple(int(q) for q in queries))


def _measurement(operation: Operation, variant: Variant, calls: Sequence[Call],
                 config: RunConfig, *, rows_returned: int, equivalent: bool | None,
                 error: str | None, complexity: Complexity | None,
                 plans: tuple[dict[str, Any], ...] = ()) -> Measurement:
    first = calls[0].capture.summary() if calls else {}
    budget = operation.budget(variant.name)
    return Measurement(
        operation=operation.name,
        variant=variant.name,
        indexes=config.indexes,
        rtt_ms=config.rtt_ms,
        size=operation.size.default if operation.size else None,
        queries=max((c.capture.queries for c in calls), default=0),
        round_trips=max((c.capture.round_trips for c in calls), default=0),
        network_round_trips=max((c.capture.network_round_trips for c in calls), default=0),
        rows_fetched=max((c.capture.rows_fetched for c in calls), default=0),
        rows_returned=rows_returned,
        queries_per_call=tuple(c.capture.queries for c in calls),
        round_trips_per_call=tuple(c.capture.round_trips for c in calls),
        network_round_trips_per_call=tuple(c.capture.network_round_trips for c in calls),
        db_ms=Summary.of([c.capture.db_ms for c in calls]),
        wall_ms=Summary.of([c.wall_ms for c in calls]),
        fingerprints=tuple(first.get("fingerprints", ())),
        n_plus_one=tuple(first.get("n_plus_one", ())),
        hidden_round_trips=tuple(first.get("hidden_round_trips", ())),
        equivalent=equivalent,
        error=error,
        complexity=complexity,
        budget=asdict(budget) if budget is not None else {},
        plans=plans,
    )


def _count_rows(result: Any) -> int:
    """Rows handed to the caller: a list's length, the lists of a grouping added up, 1 for one object."""
    if result is None:
        return 0
    if isinstance(result, list | tuple):
        return len(result)
    if isinstance(result, Mapping) and result and all(
            isinstance(v, list | tuple) for v in result.values()):
        return sum(len(v) for v in result.values())
    return 1


@dataclass(kw_only=True)
class _Gathered:
    """What a run has measured so far (kept when it is aborted)."""

    measurements: list[Measurement] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)


async def run(url: str, operations: Sequence[Operation], config: RunConfig, *,
              environment: dict[str, Any] | None = None, pool_size: int = DEFAULT_POOL_SIZE,
              progress: Progress | None = None) -> Results:
    """Measure ``operations`` on the database at ``url`` and return the results record.

    With ``config.rtt_sweep_ms``, once per RTT through the latency proxy (module
    docstring).  Raises :class:`RunAborted` when the database goes away mid-run.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    gathered = _Gathered()
    try:
        with (Explainer.open(url, config.explain) if config.explain
              else nullcontext()) as explainer:
            if config.rtt_sweep_ms:
                await _sweep(url, operations, config, pool_size, progress, gathered, explainer)
            else:
                await _measure_all(url, operations, config, pool_size, progress, gathered,
                                   explainer)
    except DatabaseUnreachable as exc:
        measured = _results(gathered, operations, config, started_at=started_at,
                            pool_size=pool_size, environment=environment)
        why = f"the database at {urls.endpoint(urls.parse(url))} went away mid-run ({exc})"
        raise RunAborted(f"{why}; kept the {len(measured.operations)} measurement(s) made "
                         "before", results=replace(measured, partial=why)) from exc
    return _results(gathered, operations, config, started_at=started_at, pool_size=pool_size,
                    environment=environment)


async def _sweep(url: str, operations: Sequence[Operation], config: RunConfig, pool_size: int,
                 progress: Progress | None, gathered: _Gathered,
                 explainer: Explainer | None = None) -> None:
    """Every operation at each RTT of the sweep, through one latency proxy."""
    with LatencyProxy(Upstream.of_url(url), seed=config.seed) as proxy:
        proxied = proxy.url(url)
        overhead = await asyncio.to_thread(measure_overhead, url, proxied)
        lateness: dict[str, dict[str, float]] = {}
        gathered.environment["proxy"] = {
            "rtt_ms": list(config.rtt_sweep_ms), "jitter_ms": config.jitter_ms,
            "rtt_0_through_proxy": True,
            "overhead": overhead.as_dict(), "lateness_ms": lateness}
        proxy.stats(reset=True)
        for rtt in config.rtt_sweep_ms:
            proxy.set_delay(rtt_ms=rtt, jitter_ms=config.jitter_ms)
            await _measure_all(proxied, operations, replace(config, rtt_ms=rtt), pool_size,
                               progress, gathered,
                               explainer if rtt == config.rtt_sweep_ms[0] else None)
            lateness[f"{rtt:g}"] = proxy.stats(reset=True).lateness_ms


async def _measure_all(url: str, operations: Sequence[Operation], config: RunConfig,
                       pool_size: int, progress: Progress | None, gathered: _Gathered,
                       explainer: Explainer | None = None) -> None:
    """Every operation once, on engines for ``url``; driver errors that mean the database
    has gone become :class:`~dalperf.errors.DatabaseUnreachable`."""
    async with open_engines(url, pool_size=pool_size, driver=config.driver) as engines:
        try:
            gathered.environment.setdefault("server_version", await _server_version(engines))
            for operation in operations:
                outcome = await run_operation(operation, engines, config, progress, explainer)
                gathered.measurements.extend(outcome.measurements)
                gathered.failures.extend(outcome.failures)
        except _DRIVER_ERRORS as exc:
            reason = await _lost(engines, exc)
            if reason is None:
                raise
            raise DatabaseUnreachable(reason) from exc


async def _lost(engines: Engines, exc: BaseException) -> str | None:
    """Why the database is unreachable, if ``exc`` may mean that and a new connection fails."""
    if not isinstance(exc, _DRIVER_ERRORS):
        return None
    try:
        probe = await psycopg.AsyncConnection.connect(urls.libpq_url(engines.async_engine.url),
                                                      connect_timeout=PROBE_TIMEOUT_S)
    except psycopg.Error as probe_exc:
        return (str(probe_exc).strip().splitlines() or [type(probe_exc).__name__])[0]
    await probe.close()
    return None


def _results(gathered: _Gathered, operations: Sequence[Operation], config: RunConfig, *,
             started_at: str, pool_size: int, environment: dict[str, Any] | None) -> Results:
    env = {
        "server_version": "unknown",  # replaced by the server's, once one answered
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "driver": drivers.pairing(config.driver).describe(),
        "dalperf": installed_version(),
        "started_at": started_at,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "iterations": config.iterations,
        "warmup": config.warmup,
        "param_sets": config.param_sets,
        "run_seed": config.seed,
        "pool_size": pool_size,
        **gathered.environment,
        **(environment or {}),
    }
    return Results(environment=env, operations=tuple(gathered.measurements),
                   failures=tuple(gathered.failures),
                   catalog={op.name: op.catalog_entry() for op in operations})


async def _server_version(engines: Engines) -> str:
    async with engines.async_engine.connect() as conn:
        return str((await conn.exec_driver_sql("SHOW server_version")).scalar_one())
