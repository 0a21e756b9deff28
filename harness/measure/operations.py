"""An operation, its variants and size knob, and running one variant once.

An *operation* (``area.operation``, e.g. ``renders.get_by_ids``) has two or more
*variants*: implementations that must return equal results for equal inputs; the first is
the reference for the equivalence check.  An async variant is called as
``await fn(db, params)`` with a :class:`~dalperf.measure.engines.Db`, a sync one as
``fn(sync_db, params)`` (in a worker thread, :mod:`dalperf.measure.calls`) with a
:class:`~dalperf.measure.engines.SyncDb`; params factories the same way as
``factory(db, rng, size)``.  :func:`invoke` runs a mutating operation's variant inside
:func:`~dalperf.measure.isolation.isolated`, so its writes are rolled back.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dalperf.errors import UsageError
from dalperf.measure.calls import ExitCalled, in_thread
from dalperf.measure.engines import Db, Engines, SyncDb
from dalperf.measure.isolation import isolated
from dalperf.project.budgets import Budget, default_budget

DEFAULT_SEED = 0

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_VARIANT_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_MIN_VARIANTS = 2

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


def identity(result: Any) -> Any:
    """The default normaliser: the result as it is."""
    return result


@dataclass(frozen=True, kw_only=True)
class Operation:
    """A registered operation; the first variant is the reference for equivalence."""

    name: str
    variants: tuple[Variant, ...]
    params: ParamsFactory
    size: Size | None = None
    normalise: Callable[[Any], Any] = identity
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


async def call(variant: Variant, db: Db | SyncDb, params: Any) -> Any:
    """Run one variant once with ``db`` (a sync variant runs in a worker thread)."""
    try:
        if variant.is_async:
            return await variant.fn(db, params)
        return await in_thread(variant.fn, db, params)
    except SystemExit as exc:
        raise ExitCalled(exc) from None


async def invoke(operation: Operation, variant: Variant, engines: Engines, params: Any) -> Any:
    """Run one variant once; inside :func:`isolated` (rolled back) if the operation mutates."""
    if operation.mutates:
        async with isolated(engines, sync=not variant.is_async) as db:
            return await call(variant, db, params)
    return await call(variant, engines.db if variant.is_async else engines.sync_db, params)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
