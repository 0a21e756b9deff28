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
connection, a mutating variant must not run statements concurrently.

Modules register operations with :func:`register` when imported; :func:`load_modules`
imports them by dotted name or from a ``.py`` file anywhere on disk.  This module knows
nothing of the case study in ``scenarios/``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import inspect
import random
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from dalperf.db import drivers, urls
from dalperf.errors import UsageError
from dalperf.gate.budgets import Budget, default_budget, suggest  # Budget: scenarios import it here
from dalperf.measure.config import DEFAULT_POOL_SIZE

DEFAULT_MAX_OVERFLOW = 10  # SQLAlchemy's own default: connections beyond the pool, on demand
DEFAULT_SEED = 0

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_VARIANT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_MIN_VARIANTS = 2


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
async def open_engines(url: str, *, pool_size: int = DEFAULT_POOL_SIZE,
                       max_overflow: int = DEFAULT_MAX_OVERFLOW,
                       driver: str | drivers.Driver | None = None) -> AsyncIterator[Engines]:
    """Engines (async and sync) for ``url`` through ``driver``'s pairing
    (:mod:`dalperf.db.drivers`; default psycopg 3 for both); disposed when the block exits.

    Nothing connects until first use.  ``pool_size`` must cover the widest
    ``asyncio.gather`` of any variant, or parallel queries queue for a connection;
    ``max_overflow`` more are opened on demand (0: ``pool_size`` is a hard cap).
    """
    pair = drivers.pairing(driver)
    engines = Engines(
        async_engine=create_async_engine(urls.sqlalchemy_url(url, pair.async_dialect),
                                         pool_size=pool_size, max_overflow=max_overflow),
        sync_engine=create_engine(urls.sqlalchemy_url(url, pair.sync_dialect),
                                  pool_size=pool_size, max_overflow=max_overflow),
    )
    try:
        yield engines
    finally:
        await engines.async_engine.dispose()
        engines.sync_engine.dispose()


@asynccontextmanager
async def isolated(engines: Engines, *, sync: bool = False) -> AsyncIterator[Db | SyncDb]:
    """A :class:`Db` (or :class:`SyncDb` if ``sync``) whose writes are rolled back on exit.

    Its sessions share one connection inside an outer transaction, and their own
    transactions become savepoints, so a mutating variant can commit as usual.  The outer
    BEGIN is sent on entry (with a SAVEPOINT), not with the variant's first statement, so a
    runner that enters and leaves this block under ``dalperf.capture.session.suspended()`` counts
    none of the isolation's own traffic.
    """
    if sync:
        with engines.sync_engine.connect() as sync_connection:
            sync_outer = sync_connection.begin()
            try:
                sync_connection.begin_nested()
                yield SyncDb(sessions=sessionmaker(bind=sync_connection, expire_on_commit=False,
                                                   join_transaction_mode="create_savepoint"))
            finally:
                sync_outer.rollback()
        return
    async with engines.async_engine.connect() as connection:
        outer = await connection.begin()
        try:
            await connection.begin_nested()
            yield Db(sessions=async_sessionmaker(bind=connection, expire_on_commit=False,
                                                 join_transaction_mode="create_savepoint"))
        finally:
            await outer.rollback()


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
                raise UsageError(f"operation {self.name}: variant {variant.name!r} must be a "
                                 "lower-case identifier naming a callable")
        unknown = set(self.budgets) - set(names)
        if unknown:
            raise UsageError(f"operation {self.name}: budgets for unknown variants {sorted(unknown)}")
        object.__setattr__(self, "budgets", MappingProxyType(dict(self.budgets)))
        unclaimed = set(self.claims) - set(names)
        if unclaimed:
            raise UsageError(f"operation {self.name}: claims for unknown variants {sorted(unclaimed)}")
        object.__setattr__(self, "claims", MappingProxyType(
            {variant: MappingProxyType(dict(figures)) for variant, figures in self.claims.items()}))

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
            "size": None if self.size is None else {"name": self.size.name,
                                                    "default": self.size.default},
            "mutates": self.mutates,
        }

    def budget(self, variant: str) -> Budget | None:
        """The variant's code-level budget (``optimized`` gets the checklist's when it
        declares none); ``None`` for a variant measured but not gated."""
        name = self.variant(variant).name
        return self.budgets.get(name) or default_budget(name)

    async def draw_params(self, engines: Engines, *, seed: int = DEFAULT_SEED,
                          size: int | None = None) -> Any:
        """Inputs picked from the seeded database; equal ``(seed, size)`` give equal inputs."""
        if self.size is None:
            if size is not None:
                raise UsageError(f"operation {self.name} has no size knob")
        else:
            size = self.size.check(self.size.default if size is None else size)
        rng = random.Random(f"{self.name}:{seed}:{size}")
        if _is_async(self.params):
            return await self.params(engines.db, rng, size)
        return await asyncio.to_thread(self.params, engines.sync_db, rng, size)


async def call(variant: Variant, db: Db | SyncDb, params: Any) -> Any:
    """Run one variant once with ``db`` (a sync variant runs in a worker thread)."""
    if variant.is_async:
        return await variant.fn(db, params)
    return await asyncio.to_thread(variant.fn, db, params)


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
            raise UsageError(f"operation {operation.name} is registered twice "
                             f"(by {existing.module or '?'} and {operation.module or '?'})")
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
    registry: Registry = REGISTRY,
) -> Operation:
    """Declare an operation and add it to ``registry``; the first variant is the reference.

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
    return registry.add(operation)


# --------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------


def load_modules(specs: Iterable[str]) -> list[ModuleType]:
    """Import each dotted module name or ``.py`` path; its operations register themselves."""
    return [load_module(spec) for spec in specs]


def load_module(spec: str) -> ModuleType:
    """Import ``spec`` (``package.module`` or a path to a ``.py`` file) once.

    Any failure, a syntax error in the file included, becomes a :class:`UsageError`
    whose message shows the original error.
    """
    is_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    try:
        return _import_path(Path(spec)) if is_path else importlib.import_module(spec)
    except UsageError:
        raise
    except Exception as exc:  # whatever the user's module raises while importing
        raise UsageError(f"cannot load scenarios from {spec!r}: {_describe(exc)}") from exc


def _import_path(path: Path) -> ModuleType:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"cannot load scenarios from {str(path)!r}: no such file")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"dalperf_scenarios_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot load scenarios from {str(path)!r}: not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f"{Path(exc.filename or '?').name}, line {exc.lineno}"
        return f"SyntaxError: {exc.msg} ({where})"
    return f"{type(exc).__name__}: {exc}"

