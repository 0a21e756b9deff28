"""The runner: measure every variant of every operation, interleaved, and keep every sample.

For each operation:

1. draw ``param_sets`` inputs from the seeded database (deterministic for the run's seed);
2. check equivalence: every variant once per input set, normalised results compared with
   the reference variant's; a mismatch or an exception is a :class:`~dalperf.results.model.Failure`,
   and a variant that raised is not measured further (the others are);
3. warm up, then ``iterations`` rounds in which every variant runs once, the order rotating
   each round (A B, B A, ...) so that machine drift and cache effects hit all variants alike,
   inputs cycling over the input sets;
4. with a size knob, fit query count against size (the complexity verdict).

What is counted: the statements the variant sends and the hidden round trips it causes
(:mod:`dalperf.capture.session`).  For a mutating operation the call runs inside
:func:`dalperf.measure.isolation.isolated`, whose outer transaction is opened before the capture
starts and rolled back after it ends, so the isolation's own BEGIN, SAVEPOINT and ROLLBACK
are never counted, while the variant's own transactions (now savepoints) are.
Wall time is the variant call alone, measured inside the capture.

Simulated network latency (``RunConfig.rtt_sweep_ms``): the whole measurement above is
repeated at each round-trip time, through one :class:`~dalperf.network.proxy.LatencyProxy`
started for the run, RTT 0 included, so that the figures of a sweep differ only by the
delay injected; the proxy's own cost at RTT 0 against a direct connection, and how late
its chunks left at each RTT, go into ``environment["proxy"]``.  Without a sweep the
runner connects directly and labels its figures RTT 0.

EXPLAIN (``RunConfig.explain``, on by default): before the timed rounds, the first call
of each variant (its equivalence check with the first input set) is replayed by a
:class:`~dalperf.plans.explain.Explainer` on a connection of its own, rolled back, every statement under EXPLAIN (ANALYZE, BUFFERS), and each distinct
statement shape stored once; the plans (with the indexes each statement scanned, the plan
shape and the statement's work) go into the measurement, and their work added up is the
measurement's ``buffers`` and ``rows_read``.  Once per operation x variant
x index state: in an RTT sweep only at the first RTT (plans do not depend on the network).

Faults (README "Safety"): every call is bounded by ``RunConfig.call_timeout_s``
(:class:`CallTimeout`; the engines also carry it as ``statement_timeout``); a call that
raises, times out or leaks a pooled connection (:class:`LeakedConnection`) fails its
variant alone, and a params factory that raises fails its operation alone.  Ctrl-C (the
task cancelled by ``asyncio.run``) raises :class:`~dalperf.errors.RunInterrupted` with
what was measured.

When the database goes away mid-run (a driver error, and a new connection fails too),
:func:`run` raises :class:`RunAborted`, which carries the results of every operation
measured before, so that they can still be written.
"""

from __future__ import annotations

import asyncio
import os
import platform
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from time import perf_counter_ns
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from dalperf.capture.session import Capture
from dalperf.db import drivers, urls
from dalperf.db.targets import Target
from dalperf.errors import (
    DalperfError,
    DatabaseUnreachable,
    EnvironmentProblem,
    ProxyDied,
    RunAborted,
    RunInterrupted,
    describe,
    first_line,
)
from dalperf.measure.complexity import fit_complexity
from dalperf.measure.config import DEFAULT_POOL_SIZE, RunConfig
from dalperf.measure.engines import Engines, open_engines
from dalperf.measure.equivalence import mismatch_report
from dalperf.measure.isolation import isolated
from dalperf.measure.operations import Operation, Variant, call
from dalperf.network.proxy import LatencyProxy, Upstream, measure_overhead
from dalperf.plans.explain import Explainer
from dalperf.plans.shape import call_work
from dalperf.results.model import Complexity, Failure, Measurement, Results
from dalperf.results.stats import Summary
from dalperf.version import installed_version

NS_PER_MS = 1_000_000
PROBE_TIMEOUT_S = 5
PROXY_EXIT_GRACE_S = 2.0  # how long a killed proxy may take to be seen exited
# what the driver raises when the server may have gone; a probe connection tells
# (asyncpg raises OSError itself when it cannot connect)
_DRIVER_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OSError,
)

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


class CallTimeout(Exception):
    """A variant call (or a params factory) ran longer than ``RunConfig.call_timeout_s``."""


class LeakedConnection(Exception):
    """A variant call returned with connections still checked out of the pool."""


@dataclass(kw_only=True)
class _Ledger:
    """The failures of one operation's variants; a variant that failed is measured no further."""

    operation: Operation
    failures: list[Failure] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def fail(self, variant: str, exc: BaseException, *, message: str | None = None) -> None:
        timeout = _timeout_in(exc)
        if message is None and isinstance(timeout, psycopg.errors.QueryCanceled):
            message = (
                f"the server cancelled a statement that ran or waited longer than "
                f"statement_timeout (--call-timeout): {first_line(str(timeout)) or type(timeout).__name__}"
            )
        elif message is None and timeout is not None:  # not the cleanup error it caused
            message = f"{type(timeout).__name__}: {timeout}"
        kind = "timeout" if timeout is not None else "error"
        self.errors[variant] = urls.redact(message or describe(exc))
        self.failures.append(
            Failure(
                operation=self.operation.name,
                variant=variant,
                kind=kind,
                message=self.errors[variant],
            )
        )

    def live(self, variants: Sequence[Variant]) -> list[Variant]:
        return [v for v in variants if v.name not in self.errors]


async def run_operation(
    operation: Operation,
    engines: Engines,
    config: RunConfig,
    progress: Progress | None = None,
    explainer: Explainer | None = None,
) -> OperationRun:
    """Measure every variant of ``operation``; never raises for a variant's own failure.

    A variant that raises or times out, in any phase (equivalence, timed rounds,
    complexity), is recorded as a :class:`~dalperf.results.model.Failure` and measured no
    further; the others go on.  A params factory that fails fails every variant.
    With an ``explainer``, each variant's first call (the equivalence check's, with the
    first input set) is explained right after it, before the timed rounds: the rolled-back
    writes of those rounds would leave dead row versions for the replay to read through,
    and its figures would depend on ``--iterations``.
    """
    tick = progress or (lambda _what, _n: None)
    ledger = _Ledger(operation=operation)
    try:
        inputs = [
            await _bounded(operation.draw_params(engines, seed=config.seed + i), config)
            for i in range(config.param_sets)
        ]
    except Exception as exc:
        await _raise_if_lost(engines, exc)
        for variant in operation.variants:
            ledger.fail(variant.name, exc, message=_params_failed(exc))
        tick(operation.name, config.work_units(operation) // max(len(config.rtt_sweep_ms), 1))
        return OperationRun(
            measurements=tuple(
                _measurement(
                    operation,
                    v,
                    [],
                    config,
                    rows_returned=0,
                    equivalent=None,
                    error=ledger.errors[v.name],
                    complexity=None,
                )
                for v in operation.variants
            ),
            failures=tuple(ledger.failures),
        )
    mismatched: set[str] = set()
    returned: dict[str, int] = {}
    explained: dict[str, tuple[dict[str, Any], ...]] = {}
    for params in inputs:
        results: dict[str, Any] = {}
        for variant in ledger.live(operation.variants):
            made = await _attempt(operation, variant, engines, params, config, ledger)
            tick(operation.name, 1)
            if made is None:
                continue
            if explainer is not None and variant.name not in explained:
                explained[variant.name] = await asyncio.to_thread(
                    explainer.explain, made.capture.statements
                )
            returned.setdefault(variant.name, _count_rows(made.result))
            results[variant.name] = operation.normalise(made.result)
        report = (
            mismatch_report(operation.name, results, params=params) if len(results) > 1 else None
        )
        if report is not None:
            reference = next(iter(results))
            for name, value in results.items():
                if value != results[reference] and name not in mismatched:
                    mismatched.add(name)
                    ledger.failures.append(
                        Failure(
                            operation=operation.name, variant=name, kind="mismatch", message=report
                        )
                    )
    calls = await _timed_rounds(operation, engines, inputs, config, tick, ledger)
    complexity = await _complexity(operation, engines, config, tick, ledger)
    reference = operation.variants[0].name
    measurements = []
    for variant in operation.variants:
        equivalent = None if variant.name == reference else variant.name not in mismatched
        measurements.append(
            _measurement(
                operation,
                variant,
                calls.get(variant.name, []),
                config,
                rows_returned=returned.get(variant.name, 0),
                equivalent=equivalent,
                error=ledger.errors.get(variant.name),
                complexity=complexity.get(variant.name),
                plans=() if variant.name in ledger.errors else explained.get(variant.name, ()),
            )
        )
    return OperationRun(measurements=tuple(measurements), failures=tuple(ledger.failures))


def _params_failed(exc: BaseException) -> str:
    return f"the params factory raised {type(exc).__name__}: {exc}"


async def _attempt(
    operation: Operation,
    variant: Variant,
    engines: Engines,
    params: Any,
    config: RunConfig,
    ledger: _Ledger,
) -> Call | None:
    """One measured call, or ``None`` after recording why it failed.

    The database's absence is not the variant's failure: it raises
    :class:`~dalperf.errors.DatabaseUnreachable`.  A call that returns with more pooled
    connections checked out than before leaked them (the runner makes one call at a time,
    so nothing else holds one).  After a failure the pools are renewed, so that
    connections the variant leaked or left busy cannot starve the others.
    """
    try:
        checked_out = _checked_out(engines)
        made = await measure_call(
            operation, variant, engines, params, timeout_s=config.call_timeout_s
        )
        _raise_if_cancelled()
        leaked = _checked_out(engines) - checked_out
        if leaked > 0:
            raise LeakedConnection(
                f"the call left {leaked} pooled connection(s) checked out "
                "(a session or connection it never closed)"
            )
        return made
    except Exception as exc:
        await _raise_if_lost(engines, exc)
        ledger.fail(variant.name, exc)
        await engines.async_engine.dispose()
        engines.sync_engine.dispose()
        return None


def _raise_if_cancelled() -> None:
    """Honour a cancellation (Ctrl-C, SIGTERM) that a finished call swallowed: on Python
    3.11, ``asyncio.wait_for`` returns the result instead of raising when the call ends in
    the same turn of the loop as the cancel arrives, and the run would go on to exit 0;
    the request stays counted in :meth:`asyncio.Task.cancelling`."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _raise_if_lost(engines: Engines, exc: Exception) -> None:
    if isinstance(exc, DalperfError):
        raise exc
    reason = await lost_reason(engines, exc)
    if reason is not None:  # the database's absence, not the variant's bug
        raise DatabaseUnreachable(reason) from exc


async def _bounded(awaitable: Awaitable[Any], config: RunConfig) -> Any:
    """``awaitable``'s result; :class:`CallTimeout` after ``config.call_timeout_s``."""
    try:
        return await asyncio.wait_for(awaitable, config.call_timeout_s)
    except TimeoutError:
        raise CallTimeout(
            f"no answer within {config.call_timeout_s:g} s (--call-timeout)"
        ) from None


def _timeout_in(exc: BaseException) -> BaseException | None:
    """The client-side :class:`CallTimeout` or the server's statement_timeout cancel in
    ``exc`` or what caused it (SQLAlchemy's cleanup errors hide it in their context)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, CallTimeout | psycopg.errors.QueryCanceled):
            return current
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return None


async def _timed_rounds(
    operation: Operation,
    engines: Engines,
    inputs: Sequence[Any],
    config: RunConfig,
    tick: Progress,
    ledger: _Ledger,
) -> dict[str, list[Call]]:
    variants = ledger.live(operation.variants)
    calls: dict[str, list[Call]] = {v.name: [] for v in variants}
    for round_no in range(config.warmup + config.iterations):
        shift = round_no % len(variants) if variants else 0
        params = inputs[round_no % len(inputs)]
        for variant in (*variants[shift:], *variants[:shift]):
            if variant.name in ledger.errors:
                continue
            measured = await _attempt(operation, variant, engines, params, config, ledger)
            if measured is not None and round_no >= config.warmup:
                calls[variant.name].append(measured)
            tick(operation.name, 1)
    return calls


async def measure_call(
    operation: Operation,
    variant: Variant,
    engines: Engines,
    params: Any,
    *,
    timeout_s: float | None = None,
) -> Call:
    """One call of ``variant`` under a fresh capture (isolated when the operation mutates).

    With ``timeout_s``, a call still running after that long is abandoned and
    :class:`CallTimeout` raised (a sync variant's thread is left to finish on its own).
    """
    engine = engines.async_engine if variant.is_async else engines.sync_engine
    async with AsyncExitStack() as stack:
        if operation.mutates:
            db = await stack.enter_async_context(isolated(engines, sync=not variant.is_async))
        else:
            db = engines.db if variant.is_async else engines.sync_db
        with Capture(engine) as capture:
            start = perf_counter_ns()
            try:
                result = await asyncio.wait_for(call(variant, db, params), timeout_s)
            except TimeoutError:
                raise CallTimeout(
                    f"the call took longer than {timeout_s:g} s (--call-timeout)"
                ) from None
            wall_ms = (perf_counter_ns() - start) / NS_PER_MS
    return Call(capture=capture, wall_ms=wall_ms, result=result)


def _checked_out(engines: Engines) -> int:
    """Connections checked out of both engines' pools right now."""
    return sum(
        getattr(pool, "checkedout", lambda: 0)()
        for pool in (engines.async_engine.sync_engine.pool, engines.sync_engine.pool)
    )


async def _complexity(
    operation: Operation, engines: Engines, config: RunConfig, tick: Progress, ledger: _Ledger
) -> dict[str, Complexity]:
    """Query count at each size of the operation's sweep, fitted with a straight line."""
    if not config.complexity or operation.size is None:
        return {}
    sizes = operation.size.sweep
    counts: dict[str, list[int]] = {v.name: [] for v in ledger.live(operation.variants)}
    for size in sizes:
        try:
            params = await _bounded(
                operation.draw_params(engines, seed=config.seed, size=size), config
            )
        except Exception as exc:
            await _raise_if_lost(engines, exc)
            for variant in ledger.live(operation.variants):
                ledger.fail(variant.name, exc, message=_params_failed(exc))
            return {}
        for variant in ledger.live(operation.variants):
            warm = await _attempt(operation, variant, engines, params, config, ledger)
            made = warm and await _attempt(operation, variant, engines, params, config, ledger)
            if made:
                counts[variant.name].append(made.capture.queries)
            tick(operation.name, 2)
    return {
        name: fit_complexity(sizes, queries)
        for name, queries in counts.items()
        if name not in ledger.errors
    }


def _measurement(
    operation: Operation,
    variant: Variant,
    calls: Sequence[Call],
    config: RunConfig,
    *,
    rows_returned: int,
    equivalent: bool | None,
    error: str | None,
    complexity: Complexity | None,
    plans: tuple[dict[str, Any], ...] = (),
) -> Measurement:
    first = calls[0].capture.summary() if calls else {}
    budget = operation.budget(variant.name)
    buffers, rows_read = call_work(plans)
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
        findings=tuple(first.get("findings", ())),
        hidden_round_trips=tuple(first.get("hidden_round_trips", ())),
        equivalent=equivalent,
        error=error,
        complexity=complexity,
        budget=asdict(budget) if budget is not None else {},
        plans=plans,
        buffers=buffers,
        rows_read=rows_read,
    )


def _count_rows(result: Any) -> int:
    """Rows handed to the caller: a list's length, the lists of a grouping added up, 1 for one object."""
    if result is None:
        return 0
    if isinstance(result, list | tuple):
        return len(result)
    if (
        isinstance(result, Mapping)
        and result
        and all(isinstance(v, list | tuple) for v in result.values())
    ):
        return sum(len(v) for v in result.values())
    return 1


@dataclass(kw_only=True)
class _Gathered:
    """What a run has measured so far (kept when it is aborted)."""

    measurements: list[Measurement] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)


async def run(
    target: Target,
    operations: Sequence[Operation],
    config: RunConfig,
    *,
    environment: dict[str, Any] | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    progress: Progress | None = None,
) -> Results:
    """Measure ``operations`` on ``target`` and return the results record.

    With ``config.rtt_sweep_ms``, once per RTT through the latency proxy (module
    docstring).  Raises :class:`RunAborted` when the database goes away mid-run.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    gathered = _Gathered()
    try:
        with (
            Explainer.open(target, config.explain, read_only=config.read_only)
            if config.explain
            else nullcontext()
        ) as explainer:
            if config.rtt_sweep_ms:
                await _sweep(
                    target.url, operations, config, pool_size, progress, gathered, explainer
                )
            else:
                await _measure_all(
                    target.url, operations, config, pool_size, progress, gathered, explainer
                )
    except (DatabaseUnreachable, ProxyDied) as exc:
        measured = _results(
            gathered,
            operations,
            config,
            started_at=started_at,
            pool_size=pool_size,
            environment=environment,
        )
        why = (
            str(exc)
            if isinstance(exc, ProxyDied)
            else f"the database at {urls.endpoint(target.url)} went away mid-run ({exc})"
        )
        raise RunAborted(
            f"{why}; kept the {len(measured.operations)} measurement(s) made before",
            results=replace(measured, partial=why),
        ) from exc
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task
        measured = _results(
            gathered,
            operations,
            config,
            started_at=started_at,
            pool_size=pool_size,
            environment=environment,
        )
        why = "interrupted"
        raise RunInterrupted(
            f"{why}; kept the {len(measured.operations)} measurement(s) made before",
            results=replace(measured, partial=why),
        ) from None
    return _results(
        gathered,
        operations,
        config,
        started_at=started_at,
        pool_size=pool_size,
        environment=environment,
    )


async def _sweep(
    url: URL,
    operations: Sequence[Operation],
    config: RunConfig,
    pool_size: int,
    progress: Progress | None,
    gathered: _Gathered,
    explainer: Explainer | None = None,
) -> None:
    """Every operation at each RTT of the sweep, through one latency proxy."""
    with LatencyProxy(Upstream.of_url(url), seed=config.seed) as proxy:
        proxied = proxy.url(url)
        overhead = await asyncio.to_thread(measure_overhead, url, proxied)
        lateness: dict[str, dict[str, float]] = {}
        gathered.environment["proxy"] = {
            "rtt_ms": list(config.rtt_sweep_ms),
            "jitter_ms": config.jitter_ms,
            "rtt_0_through_proxy": True,
            "overhead": overhead.as_dict(),
            "lateness_ms": lateness,
        }
        proxy.stats(reset=True)
        for rtt in config.rtt_sweep_ms:
            try:
                proxy.set_delay(rtt_ms=rtt, jitter_ms=config.jitter_ms)
                await _measure_all(
                    proxied,
                    operations,
                    replace(config, rtt_ms=rtt),
                    pool_size,
                    progress,
                    gathered,
                    explainer if rtt == config.rtt_sweep_ms[0] else None,
                )
                lateness[f"{rtt:g}"] = proxy.stats(reset=True).lateness_ms
            except EnvironmentProblem:
                proxy.check_alive(grace_s=PROXY_EXIT_GRACE_S)  # a dead proxy, not database
                raise


async def _measure_all(
    url: URL,
    operations: Sequence[Operation],
    config: RunConfig,
    pool_size: int,
    progress: Progress | None,
    gathered: _Gathered,
    explainer: Explainer | None = None,
) -> None:
    """Every operation once, on engines for ``url``; driver errors that mean the database
    has gone become :class:`~dalperf.errors.DatabaseUnreachable`.

    Read-only operations are measured first: the rolled-back writes of a mutating one leave
    dead row versions that later statements on the same tables read through (until a vacuum,
    whose timing is the server's), so measured first they see the data as it was, and their
    buffers are the same on every run on the same data.  Results keep the order given."""
    async with open_engines(
        url,
        pool_size=pool_size,
        statement_timeout_s=config.call_timeout_s,
        read_only=config.read_only,
        driver=config.driver,
    ) as engines:
        try:
            gathered.environment.setdefault("server_version", await server_version(engines))
            outcomes: dict[str, OperationRun] = {}
            try:
                for operation in sorted(operations, key=lambda op: op.mutates):
                    outcomes[operation.name] = await run_operation(
                        operation, engines, config, progress, explainer
                    )
            finally:  # in the order given, whatever was measured
                for outcome in (outcomes[op.name] for op in operations if op.name in outcomes):
                    gathered.measurements.extend(outcome.measurements)
                    gathered.failures.extend(outcome.failures)
        except _DRIVER_ERRORS as exc:
            reason = await lost_reason(engines, exc)
            if reason is None:
                raise
            raise DatabaseUnreachable(reason) from exc


async def lost_reason(engines: Engines, exc: BaseException) -> str | None:
    """Why the database is unreachable, if ``exc`` may mean that and a new connection fails."""
    if not isinstance(exc, _DRIVER_ERRORS):
        return None
    try:
        probe = await psycopg.AsyncConnection.connect(
            urls.libpq_url(engines.async_engine.url), connect_timeout=PROBE_TIMEOUT_S
        )
    except psycopg.Error as probe_exc:
        return urls.redact(first_line(str(probe_exc)) or type(probe_exc).__name__)
    await probe.close()
    return None


def _results(
    gathered: _Gathered,
    operations: Sequence[Operation],
    config: RunConfig,
    *,
    started_at: str,
    pool_size: int,
    environment: dict[str, Any] | None,
) -> Results:
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
    return Results(
        environment=env,
        operations=tuple(gathered.measurements),
        failures=tuple(gathered.failures),
        catalog={op.name: op.catalog_entry() for op in operations},
    )


async def server_version(engines: Engines) -> str:
    async with engines.async_engine.connect() as conn:
        return str((await conn.exec_driver_sql("SHOW server_version")).scalar_one())
