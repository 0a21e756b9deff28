"""The runner: measure every variant of every operation, interleaved, and keep every sample.

For each operation:

1. draw ``param_sets`` inputs from the seeded database (deterministic for the run's seed);
2. check equivalence: every variant once per input set, normalised results compared with
   the reference variant's; a mismatch or an exception is a :class:`~harness.results.Failure`,
   and a variant that raised is not measured further (the others are);
3. warm up, then ``iterations`` rounds in which every variant runs once, the order rotating
   each round (A B, B A, ...) so that machine drift and cache effects hit all variants alike,
   inputs cycling over the input sets;
4. with a size knob, fit query count against size (the complexity verdict).

What is counted: the statements the variant sends and the hidden round trips it causes
(:mod:`harness.capture`).  For a mutating operation the call runs inside
:func:`harness.scenario.isolated`, whose outer transaction is opened before the capture
starts and rolled back after it ends, so the isolation's own BEGIN, SAVEPOINT and ROLLBACK
are never counted, while the variant's own transactions (now savepoints) are.
Wall time is the variant call alone, measured inside the capture.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from time import perf_counter_ns
from typing import Any

import numpy as np
import psycopg
import sqlalchemy

from harness.capture import Capture
from harness.equivalence import mismatch_report
from harness.results import Complexity, Failure, Measurement, Results
from harness.scenario import (
    DEFAULT_POOL_SIZE,
    Engines,
    Operation,
    Variant,
    call,
    isolated,
    open_engines,
)
from harness.stats import Summary

DEFAULT_ITERATIONS = 30
DEFAULT_WARMUP = 3
DEFAULT_PARAM_SETS = 3
LINEAR_FIT_R2 = 0.98
NS_PER_MS = 1_000_000

Progress = Callable[[str, int], None]  # (what is running, units of work just finished)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How much to measure; defaults are the named constants above."""

    iterations: int = DEFAULT_ITERATIONS
    warmup: int = DEFAULT_WARMUP
    param_sets: int = DEFAULT_PARAM_SETS
    seed: int = 0
    complexity: bool = True
    indexes: bool = True
    rtt_ms: float = 0.0

    def work_units(self, operation: Operation) -> int:
        """Calls the runner will make for ``operation``: the progress bar's total."""
        per_variant = self.param_sets + self.warmup + self.iterations
        if self.complexity and operation.size is not None:
            per_variant += 2 * len(operation.size.sweep)
        return per_variant * len(operation.variants)


@dataclass(frozen=True, kw_only=True)
class _Call:
    """One measured call."""

    capture: Capture
    wall_ms: float
    result: Any


@dataclass(frozen=True, kw_only=True)
class OperationRun:
    measurements: tuple[Measurement, ...]
    failures: tuple[Failure, ...]


async def run_operation(operation: Operation, engines: Engines, config: RunConfig,
                        progress: Progress | None = None) -> OperationRun:
    """Measure every variant of ``operation``; never raises for a variant's own failure."""
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
                outcome = (await _measure(operation, variant, engines, params)).result
            except Exception as exc:  # a variant's bug must not stop the run
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
    reference = operation.variants[0].name
    measurements = []
    for variant in operation.variants:
        equivalent = None if variant.name == reference else variant.name not in mismatched
        measurements.append(_measurement(
            operation, variant, calls.get(variant.name, []), config,
            rows_returned=returned.get(variant.name, 0), equivalent=equivalent,
            error=errors.get(variant.name), complexity=complexity.get(variant.name)))
    return OperationRun(measurements=tuple(measurements), failures=tuple(failures))


async def _timed_rounds(operation: Operation, variants: Sequence[Variant], engines: Engines,
                        inputs: Sequence[Any], config: RunConfig,
                        tick: Progress) -> dict[str, list[_Call]]:
    calls: dict[str, list[_Call]] = {v.name: [] for v in variants}
    if not variants:
        return calls
    for round_no in range(config.warmup + config.iterations):
        shift = round_no % len(variants)
        params = inputs[round_no % len(inputs)]
        for variant in (*variants[shift:], *variants[:shift]):
            measured = await _measure(operation, variant, engines, params)
            if round_no >= config.warmup:
                calls[variant.name].append(measured)
            tick(operation.name, 1)
    return calls


async def _measure(operation: Operation, variant: Variant, engines: Engines, params: Any) -> _Call:
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
    return _Call(capture=capture, wall_ms=wall_ms, result=result)


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
            await _measure(operation, variant, engines, params)  # warm: pool, caches
            counts[variant.name].append((await _measure(operation, variant, engines, params))
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


def _measurement(operation: Operation, variant: Variant, calls: Sequence[_Call],
                 config: RunConfig, *, rows_returned: int, equivalent: bool | None,
                 error: str | None, complexity: Complexity | None) -> Measurement:
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
        db_ms=Summary.of([c.capture.db_ms for c in calls]),
        wall_ms=Summary.of([c.wall_ms for c in calls]),
        fingerprints=tuple(first.get("fingerprints", ())),
        n_plus_one=tuple(first.get("n_plus_one", ())),
        hidden_round_trips=tuple(first.get("hidden_round_trips", ())),
        equivalent=equivalent,
        error=error,
        complexity=complexity,
        budget=asdict(budget) if budget is not None else {},
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


async def run(url: str, operations: Sequence[Operation], config: RunConfig, *,
              environment: dict[str, Any] | None = None, pool_size: int = DEFAULT_POOL_SIZE,
              progress: Progress | None = None) -> Results:
    """Measure ``operations`` on the database at ``url`` and return the results record."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    measurements: list[Measurement] = []
    failures: list[Failure] = []
    async with open_engines(url, pool_size=pool_size) as engines:
        server_version = await _server_version(engines)
        for operation in operations:
            outcome = await run_operation(operation, engines, config, progress)
            measurements.extend(outcome.measurements)
            failures.extend(outcome.failures)
    env = {
        "server_version": server_version,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "dalperf": _dalperf_version(),
        "started_at": started_at,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "iterations": config.iterations,
        "warmup": config.warmup,
        "param_sets": config.param_sets,
        "run_seed": config.seed,
        "pool_size": pool_size,
        **(environment or {}),
    }
    return Results(environment=env, operations=tuple(measurements), failures=tuple(failures),
                   catalog={op.name: op.catalog_entry() for op in operations})


async def _server_version(engines: Engines) -> str:
    async with engines.async_engine.connect() as conn:
        return str((await conn.exec_driver_sql("SHOW server_version")).scalar_one())


def _dalperf_version() -> str:
    try:
        return metadata.version("dalperf")
    except metadata.PackageNotFoundError:
        return "unknown"
