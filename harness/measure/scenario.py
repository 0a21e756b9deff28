"""The scenario API: how a module registers DAL operations for dalperf to measure.

An *operation* (``area.operation``, e.g. ``renders.get_by_ids``) has two or more
*variants*: implementations that must return equal results for equal inputs (the case
study's are ``naive``, ``summary`` and ``optimized``).  Besides its variants it declares

- a params factory that picks realistic inputs from the seeded database, deterministically
  for a given ``(seed, size)``;
- an optional size knob (chain length, number of ids, ...) for the complexity fit;
- a normaliser applied to every variant's result before the equivalence check;
- whether it writes (``mutates``), and default budgets per variant;
- optionally a one-line ``description`` and ``claims``: figures someone asserted for a
  variant (e.g. a hand-written audit's "before/after"), carried into the results JSON so a
  report can set them beside the measurements.

Calling convention.  An async variant is called as ``await fn(db, params)`` with a
:class:`Db`, a sync one as ``fn(sync_db, params)`` (in a worker thread) with a
:class:`SyncDb`; params factories the same way as ``factory(db, rng, size)``.  A
variant opens its own sessions from ``db.sessions``, one per unit of work, exactly as a
DAL opens them from a global pool.  For a read-only operation ``db.sessions`` is bound to
the engine, so variants that ``asyncio.gather`` several sessions run them on separate
pooled connections.  For a mutating operation :func:`isolated` binds ``db.sessions`` to
a single connection inside an outer transaction that is rolled back afterwards, with
``join_transaction_mode="create_savepoint"``: the variant's own ``sessions.begin()``
and ``commit()`` become SAVEPOINT / RELEASE, and nothing it writes survives.  Sharing one
connection, a mutating variant must not run statements concurrently.  A variant that tries
to end that outer transaction itself (``text("COMMIT")``, ``END``, ``ROLLBACK``, ``PREPARE
TRANSACTION``, or ``Connection.commit()``) is refused before anything reaches the server:
:class:`IsolationBreach` is raised into the variant, which the runner records as a failure.

Modules register operations with :func:`register` when imported; :func:`load_modules`
imports them by dotted name or from a ``.py`` file anywhere on disk.  This module knows
nothing of the case study in ``scenarios/``.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import importlib
import importlib.util
import inspect
import queue
import random
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from dalperf.db import drivers, urls
from dalperf.errors import (
    UsageError,
    describe,
    suggest,  # Budget: scenarios import it here
)
from dalperf.measure.config import DEFAULT_POOL_SIZE
from dalperf.project.budgets import Budget, default_budget

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

DEFAULT_MAX_OVERFLOW = 10  # SQLAlchemy's own default: connections beyond the pool, on demand
DEFAULT_SEED = 0

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_VARIANT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_MIN_VARIANTS = 2
# a cheap first look: only statements holding one of these words are parsed (pglast)
_ENDING_WORDS_RE = re.compile(r"\b(?:commit|end|rollback|abort|prepare)\b", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"%\([^)]*\)s|%s")  # psycopg's, which the parser does not know


class IsolationBreach(RuntimeError):
    """A mutating variant tried to end the outer transaction that keeps its writes undone."""


# --------------------------------------------------------------------------------------
# What a variant gets to reach the database
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Db:
    """Handed to async variants and params factories: where to open sessions."""

    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True, kw_only=True)
class SyncDb:
    """Handed to sync variants and params factories: where to open sessions."""

    sessions: sessionmaker[Session]


@dataclass(frozen=True, kw_only=True)
class Engines:
    """The async and sync engines of one database; the runner instruments these."""

    async_engine: AsyncEngine
    sync_engine: Engine

    @cached_property
    def db(self) -> Db:
        return Db(sessions=async_sessionmaker(self.async_engine, expire_on_commit=False))

    @cached_property
    def sync_db(self) -> SyncDb:
        return SyncDb(sessions=sessionmaker(self.sync_engine, expire_on_commit=False))


@asynccontextmanager
async def open_engines(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    statement_timeout_s: float | None = None,
    read_only: bool = False,
    driver: str | drivers.Driver | None = None,
) -> AsyncIterator[Engines]:
    """Engines (async and sync) for ``url`` through ``driver``'s pairing
    (:mod:`dalperf.db.drivers`; default psycopg 3 for both); disposed when the block exits.

    Nothing connects until first use.  ``pool_size`` must cover the widest
    ``asyncio.gather`` of any variant, or parallel queries queue for a connection;
    ``max_overflow`` more are opened on demand (0: ``pool_size`` is a hard cap).
    Every connection gets ``statement_timeout`` (the server cancels a statement that runs,
    or waits on a lock, longer) and, with ``read_only``, ``default_transaction_read_only``
    (the server refuses any write), as libpq ``options``.
    """
    pair = drivers.pairing(driver)
    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}

    def engine_kwargs(dialect_driver: str) -> dict[str, Any]:
        args = connect_args(
            url, dialect_driver, statement_timeout_s=statement_timeout_s, read_only=read_only
        )
        return {**kwargs, "connect_args": args} if args else kwargs

    engines = Engines(
        async_engine=create_async_engine(
            urls.sqlalchemy_url(url, pair.async_dialect), **engine_kwargs(pair.async_dialect)
        ),
        sync_engine=create_engine(
            urls.sqlalchemy_url(url, pair.sync_dialect), **engine_kwargs(pair.sync_dialect)
        ),
    )
    try:
        yield engines
    finally:
        await engines.async_engine.dispose()
        engines.sync_engine.dispose()


def session_options(
    url: str, *, statement_timeout_s: float | None = None, read_only: bool = False
) -> str:
    """libpq ``options`` for ``url``'s own (kept first) plus a statement timeout and
    read-only transactions; ``""`` when there is nothing to add."""
    parts = [str(urls.parse(url).query.get("options") or "")]
    if statement_timeout_s is not None:
        parts.append(f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}")
    if read_only:
        parts.append("-c default_transaction_read_only=on")
    return " ".join(p for p in parts if p)


def connect_args(
    url: str,
    dialect_driver: str,
    *,
    statement_timeout_s: float | None = None,
    read_only: bool = False,
) -> dict[str, Any]:
    """The driver's connect arguments for a statement timeout and read-only transactions:
    libpq ``options`` (:func:`session_options`) for psycopg and psycopg2, asyncpg's
    ``server_settings`` (it has no ``options``); empty when there is nothing to add."""
    if dialect_driver == drivers.ASYNCPG.async_dialect:
        settings: dict[str, str] = {}
        if statement_timeout_s is not None:
            settings["statement_timeout"] = str(max(1, round(statement_timeout_s * 1000)))
        if read_only:
            settings["default_transaction_read_only"] = "on"
        return {"server_settings": settings} if settings else {}
    options = session_options(url, statement_timeout_s=statement_timeout_s, read_only=read_only)
    return {"options": options} if options else {}


@asynccontextmanager
async def isolated(engines: Engines, *, sync: bool = False) -> AsyncIterator[Db | SyncDb]:
    """A :class:`Db` (or :class:`SyncDb` if ``sync``) whose writes are rolled back on exit.

    Its sessions share one connection inside an outer transaction, and their own
    transactions become savepoints, so a mutating variant can commit as usual.  The outer
    BEGIN is sent on entry (with a SAVEPOINT), not with the variant's first statement, so a
    runner that enters and leaves this block under ``dalperf.capture.session.suspended()`` counts
    none of the isolation's own traffic.  The variant cannot end the outer transaction
    (:func:`_guard`): it gets :class:`IsolationBreach` instead, and nothing is sent.
    """
    if sync:
        with engines.sync_engine.connect() as sync_connection:
            sync_outer = sync_connection.begin()
            closing = _guard(sync_connection)
            try:
                sync_connection.begin_nested()
                with (
                    _outer_kept(sync_connection),
                    _driver_commit_refused(sync_connection, is_async=False),
                ):
                    yield SyncDb(
                        sessions=sessionmaker(
                            bind=sync_connection,
                            expire_on_commit=False,
                            join_transaction_mode="create_savepoint",
                        )
                    )
            finally:
                closing.set()
                sync_outer.rollback()
        return
    async with engines.async_engine.connect() as connection:
        outer = await connection.begin()
        closing = _guard(connection.sync_connection)  # type: ignore[arg-type]
        try:
            await connection.begin_nested()
            sync_side: Connection = connection.sync_connection  # type: ignore[assignment]
            with _outer_kept(sync_side), _driver_commit_refused(sync_side, is_async=True):
                yield Db(
                    sessions=async_sessionmaker(
                        bind=connection,
                        expire_on_commit=False,
                        join_transaction_mode="create_savepoint",
                    )
                )
        finally:
            closing.set()
            await outer.rollback()


def _guard(connection: Connection) -> _Flag:
    """Refuse, on ``connection``, whatever would end the outer transaction: a statement
    that commits or rolls back (parsed, before it is sent) and ``Connection.commit()`` or
    ``.rollback()``; the returned flag, once set, lets dalperf's own final rollback through."""
    closing = _Flag()

    def before_cursor_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        ending = _ending_statement(statement)
        if ending is not None:
            raise IsolationBreach(
                f"the variant sent {ending}, which would end the transaction "
                "dalperf rolls its writes back in; commit through the "
                "session instead (dalperf turns that into a savepoint)"
            )

    def end(kind: str) -> Callable[[Any], None]:
        def refuse(_conn: Any) -> None:
            if not closing:
                raise IsolationBreach(
                    f"the variant called Connection.{kind}(), which would "
                    "end the transaction dalperf rolls its writes back in"
                )

        return refuse

    event.listen(connection, "before_cursor_execute", before_cursor_execute)
    event.listen(connection, "commit", end("commit"))
    event.listen(connection, "rollback", end("rollback"))
    return closing


@contextmanager
def _driver_commit_refused(connection: Connection, *, is_async: bool) -> Iterator[None]:
    """The driver connection's own ``commit()`` raises :class:`IsolationBreach` meanwhile
    (an instance attribute that shadows psycopg's method, removed afterwards).

    psycopg 3 only: psycopg2's connection is a C type whose methods cannot be shadowed, and
    asyncpg's has no ``commit()`` (and no instance attributes)."""
    driver: Any = connection.connection.driver_connection
    message = (
        "the variant called the driver connection's commit(), which would end the "
        "transaction dalperf rolls its writes back in"
    )

    def refuse() -> None:
        raise IsolationBreach(message)

    async def refuse_async() -> None:
        raise IsolationBreach(message)

    try:
        driver.commit = refuse_async if is_async else refuse
    except AttributeError:  # psycopg2 or asyncpg: nothing to shadow
        yield
        return
    try:
        yield
    finally:
        del driver.commit


class _Flag:
    """A one-way switch, false until :meth:`set`."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def __bool__(self) -> bool:
        return self._set


def _ending_statement(statement: str) -> str | None:
    """``COMMIT``, ``ROLLBACK`` or ``PREPARE TRANSACTION`` if ``statement`` holds one."""
    if not _ENDING_WORDS_RE.search(statement):
        return None
    from pglast import ast, parse_sql
    from pglast.enums import TransactionStmtKind
    from pglast.parser import ParseError

    ending = {
        TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
        TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
        TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    }
    try:
        parsed = parse_sql(_PLACEHOLDER_RE.sub("$1", statement))
    except ParseError:
        return None  # the server will refuse it as well
    for raw in parsed:
        if isinstance(raw.stmt, ast.TransactionStmt) and raw.stmt.kind in ending:
            return ending[raw.stmt.kind]
    return None


@contextmanager
def _outer_kept(connection: Connection) -> Iterator[None]:
    """Raise :class:`IsolationBreach` (instead of whatever the variant raised) if the
    driver's connection left the outer transaction behind SQLAlchemy's back: the raw DBAPI
    connection's ``commit()``, which no SQLAlchemy event sees."""
    try:
        yield
    except Exception as exc:
        if _left_the_transaction(connection) or _savepoint_vanished(exc):
            raise IsolationBreach(_DRIVER_BREACH) from exc
        raise
    if _left_the_transaction(connection):
        raise IsolationBreach(_DRIVER_BREACH)


_DRIVER_BREACH = (
    "the variant ended the transaction dalperf rolls its writes back in through "
    "the driver's own connection; its writes may have been kept"
)


_INVALID_SAVEPOINT = "3B001"  # SQLSTATE invalid_savepoint_specification


def _savepoint_vanished(exc: BaseException | None) -> bool:
    """Whether the server no longer knew a savepoint of the isolation: its transaction ended.

    Told by SQLSTATE, which every driver's error carries (``sqlstate``: psycopg 3 and
    asyncpg; ``pgcode``: psycopg2)."""
    while exc is not None:
        if _INVALID_SAVEPOINT in (getattr(exc, "sqlstate", None), getattr(exc, "pgcode", None)):
            return True
        exc = exc.__cause__ or getattr(exc, "orig", None)
    return False


def _left_the_transaction(connection: Connection) -> bool:
    from dalperf.capture import wire

    driver: Any = connection.connection.driver_connection
    return not wire.model_for(connection.dialect).in_transaction(driver)


# --------------------------------------------------------------------------------------
# The records
# --------------------------------------------------------------------------------------

VariantFn = Callable[[Any, Any], Any]
ParamsFactory = Callable[[Any, random.Random, int | None], Any]


@dataclass(frozen=True, kw_only=True)
class Size:
    """An operation's size knob: what it counts, its default, and the sizes a fit sweeps."""

    name: str
    default: int
    sweep: tuple[int, ...]
    minimum: int = 1

    def __post_init__(self) -> None:
        if self.minimum < 0 or any(s < self.minimum for s in (self.default, *self.sweep)):
            raise UsageError(f"size {self.name!r}: default and sweep must be >= {self.minimum}")

    def check(self, value: int) -> int:
        if value < self.minimum:
            raise UsageError(f"size {self.name!r} must be at least {self.minimum}, not {value}")
        return value


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One implementation of an operation."""

    name: str
    fn: VariantFn

    @property
    def is_async(self) -> bool:
        return _is_async(self.fn)

    @property
    def description(self) -> str:
        """The first line of the function's docstring."""
        return (inspect.getdoc(self.fn) or "").partition("\n")[0]


def _identity(result: Any) -> Any:
    return result


@dataclass(frozen=True, kw_only=True)
class Operation:
    """A registered operation; the first variant is the reference for equivalence."""

    name: str
    variants: tuple[Variant, ...]
    params: ParamsFactory
    size: Size | None = None
    normalise: Callable[[Any], Any] = _identity
    mutates: bool = False
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    module: str = ""
    description: str = ""
    claims: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise UsageError(f"operation name {self.name!r} must look like 'area.operation'")
        names = [v.name for v in self.variants]
        if len(names) < _MIN_VARIANTS:
            raise UsageError(f"operation {self.name} needs at least {_MIN_VARIANTS} variants")
        if len(set(names)) != len(names):
            raise UsageError(f"operation {self.name} has two variants of the same name")
        for variant in self.variants:
            if not _VARIANT_RE.match(variant.name) or not callable(variant.fn):
                raise UsageError(
                    f"operation {self.name}: variant {variant.name!r} must be a "
                    "lower-case identifier naming a callable"
                )
        unknown = set(self.budgets) - set(names)
        if unknown:
            raise UsageError(
                f"operation {self.name}: budgets for unknown variants {sorted(unknown)}"
            )
        object.__setattr__(self, "budgets", MappingProxyType(dict(self.budgets)))
        unclaimed = set(self.claims) - set(names)
        if unclaimed:
            raise UsageError(
                f"operation {self.name}: claims for unknown variants {sorted(unclaimed)}"
            )
        object.__setattr__(
            self,
            "claims",
            MappingProxyType(
                {
                    variant: MappingProxyType(dict(figures))
                    for variant, figures in self.claims.items()
                }
            ),
        )

    @property
    def area(self) -> str:
        return self.name.partition(".")[0]

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        known = ", ".join(v.name for v in self.variants)
        raise UsageError(f"operation {self.name} has no variant {name!r} (it has {known})")

    def catalog_entry(self) -> dict[str, Any]:
        """What the results JSON records about the operation itself (its ``catalog`` entry)."""
        return {
            "description": self.description,
            "variants": {v.name: v.description for v in self.variants},
            "claims": {variant: dict(figures) for variant, figures in self.claims.items()},
            "size": None
            if self.size is None
            else {"name": self.size.name, "default": self.size.default},
            "mutates": self.mutates,
        }

    def budget(self, variant: str) -> Budget | None:
        """The variant's code-level budget (``optimized`` gets the checklist's when it
        declares none); ``None`` for a variant measured but not gated."""
        name = self.variant(variant).name
        return self.budgets.get(name) or default_budget(name)

    async def draw_params(
        self, engines: Engines, *, seed: int = DEFAULT_SEED, size: int | None = None
    ) -> Any:
        """Inputs picked from the seeded database; equal ``(seed, size)`` give equal inputs."""
        if self.size is None:
            if size is not None:
                raise UsageError(f"operation {self.name} has no size knob")
        else:
            size = self.size.check(self.size.default if size is None else size)
        rng = random.Random(f"{self.name}:{seed}:{size}")
        try:
            if _is_async(self.params):
                return await self.params(engines.db, rng, size)
            return await in_thread(self.params, engines.sync_db, rng, size)
        except SystemExit as exc:
            raise ExitCalled(exc) from None


class ExitCalled(Exception):
    """User code that dalperf calls (a variant, a params factory) raised ``SystemExit``:
    that call's failure like any other exception, never the end of the run."""

    def __init__(self, exc: SystemExit) -> None:
        super().__init__(f"sys.exit({exc.code!r}) called")


async def call(variant: Variant, db: Db | SyncDb, params: Any) -> Any:
    """Run one variant once with ``db`` (a sync variant runs in a worker thread)."""
    try:
        if variant.is_async:
            return await variant.fn(db, params)
        return await in_thread(variant.fn, db, params)
    except SystemExit as exc:
        raise ExitCalled(exc) from None


class _DaemonThreads:
    """Runs sync calls on reused daemon threads.

    Unlike :func:`asyncio.to_thread`, a call that is abandoned (it timed out, or the run
    was interrupted) can neither keep the process alive at exit nor block
    ``asyncio.run`` from returning: its thread is a daemon and is never reused.
    """

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[queue.SimpleQueue[Any]] = queue.SimpleQueue()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        try:
            inbox = self._idle.get_nowait()
        except queue.Empty:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._work, args=(inbox,), name="dalperf-sync-call", daemon=True
            ).start()
        inbox.put((contextvars.copy_context(), fn, args, loop, future))
        return await future

    def _work(self, inbox: queue.SimpleQueue[Any]) -> None:
        while True:
            context, fn, args, loop, future = inbox.get()
            try:
                outcome: tuple[Any, BaseException | None] = (context.run(fn, *args), None)
            except BaseException as exc:
                outcome = (None, exc)
            if future.cancelled():
                return  # abandoned: this thread is not reused
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop is closed: nobody waits any more
                return
            self._idle.put(inbox)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


in_thread = _DaemonThreads().run


async def invoke(operation: Operation, variant: Variant, engines: Engines, params: Any) -> Any:
    """Run one variant once; inside :func:`isolated` (rolled back) if the operation mutates."""
    if operation.mutates:
        async with isolated(engines, sync=not variant.is_async) as db:
            return await call(variant, db, params)
    return await call(variant, engines.db if variant.is_async else engines.sync_db, params)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


class Registry:
    """Operations by name, in registration order."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def add(self, operation: Operation) -> Operation:
        existing = self._operations.get(operation.name)
        if existing is not None and existing is not operation:
            raise UsageError(
                f"operation {operation.name} is registered twice "
                f"(by {existing.module or '?'} and {operation.module or '?'})"
            )
        self._operations[operation.name] = operation
        return operation

    def get(self, name: str) -> Operation:
        try:
            return self._operations[name]
        except KeyError:
            raise UsageError(f"no operation {name!r}{suggest(name, self._names())}") from None

    def select(self, only: Iterable[str] | None = None) -> list[Operation]:
        """All operations, or those named in ``only`` (an ``area`` selects the whole area)."""
        if only is None:
            return list(self._operations.values())
        wanted = list(only)
        for name in wanted:
            if name not in self._operations and not any(o.area == name for o in self):
                self.get(name)  # raises with the list of known names
        return [o for o in self if o.name in wanted or o.area in wanted]

    def _names(self) -> list[str]:
        return [*self._operations, *dict.fromkeys(o.area for o in self)]

    def __iter__(self) -> Iterator[Operation]:
        return iter(list(self._operations.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._operations


REGISTRY = Registry()
_ACTIVE_REGISTRY: ContextVar[Registry] = ContextVar("dalperf_registry", default=REGISTRY)


@contextmanager
def registering_into(registry: Registry) -> Iterator[Registry]:
    """Within the block, :func:`register` without a ``registry`` adds to ``registry``: how
    ``dalperf compare`` keeps the base revision's operations apart from the head's."""
    token = _ACTIVE_REGISTRY.set(registry)
    try:
        yield registry
    finally:
        _ACTIVE_REGISTRY.reset(token)


def register(
    name: str,
    *,
    variants: Mapping[str, VariantFn],
    params: ParamsFactory,
    size: Size | None = None,
    normalise: Callable[[Any], Any] = _identity,
    mutates: bool = False,
    budgets: Mapping[str, Budget] | None = None,
    description: str = "",
    claims: Mapping[str, Mapping[str, Any]] | None = None,
    registry: Registry | None = None,
) -> Operation:
    """Declare an operation and add it to ``registry`` (default: :data:`REGISTRY`, or the
    one :func:`registering_into` names); the first variant is the reference.

    ``claims`` maps a variant to figures asserted elsewhere, e.g.
    ``{"naive": {"wall_ms": 800, "queries": "4-5"}}``; they are reported, never checked.
    """
    first = next(iter(variants.values()), None)
    operation = Operation(
        name=name,
        variants=tuple(Variant(name=n, fn=fn) for n, fn in variants.items()),
        params=params,
        size=size,
        normalise=normalise,
        mutates=mutates,
        budgets=budgets or {},
        module=getattr(first, "__module__", "") or "",
        description=description,
        claims=claims or {},
    )
    return (registry or _ACTIVE_REGISTRY.get()).add(operation)


# --------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------


def operations_of(
    modules: Iterable[ModuleType], registry: Registry = REGISTRY, only: Iterable[str] | None = None
) -> list[Operation]:
    """The operations of ``registry`` that ``modules`` (or their submodules) registered, those
    ``only`` names (operations or areas; an unknown name is a UsageError)."""
    names = [m.__name__ for m in modules]
    return [
        op
        for op in registry.select(only)
        if any(op.module == n or op.module.startswith(n + ".") for n in names)
    ]


def load_modules(specs: Iterable[str]) -> list[ModuleType]:
    """Import each dotted module name or ``.py`` path; its operations register themselves."""
    return [load_module(spec) for spec in specs]


def load_module(spec: str) -> ModuleType:
    """Import ``spec`` (``package.module``, a path to a ``.py`` file or to a package's
    folder) once.

    Any failure, a syntax error in the file included, becomes a :class:`UsageError`
    whose message shows the original error.
    """
    is_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    try:
        return _import_path(Path(spec)) if is_path else importlib.import_module(spec)
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:  # whatever the user's module raises, exit too
        raise UsageError(f"cannot load scenarios from {spec!r}: {describe(exc)}") from exc


def _import_path(path: Path) -> ModuleType:
    """The module at ``path`` (a ``.py`` file, or a folder with ``__init__.py``) under a name
    made from its absolute path, so that two copies of one file are two modules; a
    package's relative imports find its own folder's modules."""
    path = path.expanduser().resolve()
    package = path.is_dir() and (path / "__init__.py").is_file()
    if not (path.is_file() or package):
        raise UsageError(f"cannot load scenarios from {str(path)!r}: no such file")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"dalperf_scenarios_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = (
        importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        if package
        else importlib.util.spec_from_file_location(name, path)
    )
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot load scenarios from {str(path)!r}: not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    if str(path.parent) not in sys.path:  # the file's own helpers import beside it
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
